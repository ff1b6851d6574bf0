/* vchad - what a job type calls (see vchad_job.h). */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vchad_jobs_private.h"

/* ------------------------------------------------------------ accessors */

const char *
vchad_job_id(const struct vchad_job *job)
{
    return job->id;
}

const struct vchad_job_type *
vchad_job_type(const struct vchad_job *job)
{
    return job->type;
}

const struct vcha_kv *
vchad_job_params(const struct vchad_job *job)
{
    return job->params;
}

const char *
vchad_job_param(const struct vchad_job *job, const char *key)
{
    return vcha_kv_get(job->params, key);
}

long long
vchad_job_started(const struct vchad_job *job)
{
    return job->started;
}

long long
vchad_job_deadline(const struct vchad_job *job)
{
    long long margin = job->timeout_ms / 5;

    if (vchad_job_resident(job)) {
        return LLONG_MAX; /* no run to end: no deadline */
    }
    return job->deadline - (margin < CLEANUP_MS ? margin : CLEANUP_MS);
}

const char *
vchad_job_state_name(enum vchad_job_state state)
{
    switch (state) {
    case VCHAD_JOB_OK:
        return "ok";
    case VCHAD_JOB_FAILING:
        return "failing";
    default:
        return "starting";
    }
}

int
vchad_figure(int fd, const char *key, const char *fmt, ...)
{
    char *value = NULL, *escaped = NULL, *line = NULL;
    va_list ap;
    int rc = 0, n;

    if (!vcha_kv_key_valid(key)) {
        return -EINVAL;
    }
    va_start(ap, fmt);
    n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0 || (escaped = vcha_kv_escape(value)) == NULL ||
        (n = asprintf(&line, "%s=%s\n", key, escaped)) < 0) {
        rc = -ENOMEM;
        line = NULL;
        goto done;
    }
    for (size_t off = 0; off < (size_t) n;) {
        ssize_t w = write(fd, line + off, (size_t) n - off);

        if (w < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        off += w > 0 ? (size_t) w : 0;
    }

done:
    free(line);
    free(escaped);
    free(value);
    return rc;
}

int
vchad_report(int fd)
{
    while (write(fd, "\n", 1) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

int
vchad_publish_figures(const struct vchad_job *job,
                      const struct vcha_kv *figures,
                      const struct vchad_attr_map *map, size_t n,
                      struct vcha_kv *attrs)
{
    char name[256];
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *v = vcha_kv_get(figures, map[i].figure);

        if (v != NULL) {
            snprintf(name, sizeof(name), "vcha-%s-%s", vchad_job_id(job),
                     map[i].suffix);
            rc = vcha_kv_set(attrs, name, v);
        }
    }
    return rc;
}
