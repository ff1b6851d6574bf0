/* vchad - the protocol's commands. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vcha/log.h>

#include "vchad_request.h"

/* Keys of job-add that are not the job's parameters. */
static const char *const not_params[] = {"cmd", "type", "id", NULL};

int
vchad_response_fill(struct vcha_kv *resp, int status, const char *error,
                    const struct vcha_kv *extra)
{
    int rc = vcha_kv_setf(resp, "status", "%d", status);

    if (rc == 0 && status != 0) {
        rc = vcha_kv_set(resp, "error", error ? error : strerror(-status));
    }
    for (size_t i = 0; rc == 0 && i < vcha_kv_count(extra); i++) {
        rc = vcha_kv_set(resp, vcha_kv_key(extra, i), vcha_kv_value(extra, i));
    }
    return rc;
}

/* Answer with an error whose message is printf-formatted. */
static int fail(struct vcha_kv *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct vcha_kv *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vchad_response_fill(resp, status, msg, NULL);
}

/* The id of a request about one job, or NULL after answering -EINVAL. */
static const char *
need_id(const struct vcha_kv *req, struct vcha_kv *resp)
{
    const char *id = vcha_kv_get(req, "id");

    if (id == NULL || *id == '\0') {
        fail(resp, -EINVAL, "%s needs an id", vcha_kv_get(req, "cmd"));
        return NULL;
    }
    return id;
}

static int
cmd_ping(struct vchad_jobs *jobs, struct vcha_kv *resp)
{
    int rc = vchad_response_fill(resp, 0, NULL, NULL);

    if (rc == 0) {
        rc = vcha_kv_setf(resp, "pid", "%d", (int) getpid());
    }
    if (rc == 0) {
        rc = vcha_kv_set(resp, "version", PACKAGE_VERSION);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(resp, "jobs", "%zu", vchad_jobs_count(jobs));
    }
    return rc;
}

static int
cmd_status(struct vchad_jobs *jobs, struct vcha_kv *resp)
{
    int rc = cmd_ping(jobs, resp);

    return rc == 0 ? vchad_jobs_status(jobs, resp) : rc;
}

/* The job's parameters: every key of the request but not_params. */
static struct vcha_kv *
job_params(const struct vcha_kv *req)
{
    struct vcha_kv *params = vcha_kv_new();

    for (size_t i = 0; params != NULL && i < vcha_kv_count(req); i++) {
        const char *key = vcha_kv_key(req, i);
        bool skip = false;

        for (size_t k = 0; not_params[k] != NULL; k++) {
            skip = skip || strcmp(key, not_params[k]) == 0;
        }
        if (!skip && vcha_kv_set(params, key, vcha_kv_value(req, i)) < 0) {
            vcha_kv_free(params);
            params = NULL;
        }
    }
    return params;
}

static int
cmd_job_add(struct vchad_jobs *jobs, const struct vcha_kv *req,
            struct vcha_kv *resp)
{
    static const char *const results[] = {
        [VCHAD_ADDED] = "added",
        [VCHAD_UPDATED] = "updated",
        [VCHAD_UNCHANGED] = "unchanged",
    };
    const char *id = need_id(req, resp);
    struct vcha_kv *params = NULL;
    enum vchad_add_result what = VCHAD_UNCHANGED;
    char why[512] = "";
    int rc;

    if (id == NULL) {
        return 0;
    }
    params = job_params(req);
    if (params == NULL) {
        return -ENOMEM;
    }
    rc = vchad_jobs_add(jobs, vcha_kv_get(req, "type"), id, params, &what, why,
                        sizeof(why));
    vcha_kv_free(params);
    if (rc < 0) {
        vcha_warn("job-add %s refused: %s", id, why);
        return vchad_response_fill(resp, rc, why, NULL);
    }
    rc = vchad_response_fill(resp, 0, NULL, NULL);
    return rc == 0 ? vcha_kv_set(resp, "result", results[what]) : rc;
}

static int
cmd_job_remove(struct vchad_jobs *jobs, const struct vcha_kv *req,
               struct vcha_kv *resp, struct vchad_waiter *w)
{
    const char *id = need_id(req, resp);
    long long grace = VCHAD_REMOVE_GRACE_MS;
    int rc;

    if (id == NULL) {
        return 0;
    }
    rc = vcha_kv_get_ll(req, "grace_ms", &grace);
    if (rc == -EINVAL || grace < 0) {
        return fail(resp, -EINVAL, "grace_ms must be milliseconds");
    }
    rc = vchad_jobs_remove(jobs, id, grace, w);
    return rc == -EINPROGRESS ? rc : vchad_response_fill(resp, 0, NULL, NULL);
}

static int
cmd_job_health(struct vchad_jobs *jobs, const struct vcha_kv *req,
               struct vcha_kv *resp)
{
    const char *id = need_id(req, resp);
    struct vcha_kv *health = NULL;
    int rc;

    if (id == NULL) {
        return 0;
    }
    health = vcha_kv_new();
    if (health == NULL) {
        return -ENOMEM;
    }
    rc = vchad_jobs_health(jobs, id, health, NULL);
    if (rc == -ENOENT) {
        rc = fail(resp, rc, "no job %s", id);
    } else if (rc == 0) {
        rc = vchad_response_fill(resp, 0, NULL, health);
    }
    vcha_kv_free(health);
    return rc;
}

static int
cmd_job_run(struct vchad_jobs *jobs, const struct vcha_kv *req,
            struct vcha_kv *resp, struct vchad_waiter *w)
{
    const char *id = need_id(req, resp);
    int rc;

    if (id == NULL) {
        return 0;
    }
    rc = vchad_jobs_run(jobs, id, w);
    if (rc == -ENOENT) {
        return fail(resp, rc, "no job %s", id);
    }
    if (rc == -EBUSY) {
        return fail(resp, rc, "job %s is being removed", id);
    }
    return rc == 0 ? -EINPROGRESS : rc;
}

int
vchad_request_handle(struct vchad_jobs *jobs, const struct vcha_kv *req,
                     struct vcha_kv *resp, struct vchad_waiter *w)
{
    const char *cmd = vcha_kv_get(req, "cmd");

    if (cmd == NULL) {
        return fail(resp, -EINVAL, "the request has no cmd");
    }
    vcha_debug("request: %s%s%s", cmd, vcha_kv_get(req, "id") ? " " : "",
               vcha_kv_get(req, "id") ? vcha_kv_get(req, "id") : "");
    if (strcmp(cmd, "ping") == 0) {
        return cmd_ping(jobs, resp);
    }
    if (strcmp(cmd, "status") == 0) {
        return cmd_status(jobs, resp);
    }
    if (strcmp(cmd, "job-add") == 0) {
        return cmd_job_add(jobs, req, resp);
    }
    if (strcmp(cmd, "job-remove") == 0) {
        return cmd_job_remove(jobs, req, resp, w);
    }
    if (strcmp(cmd, "job-health") == 0) {
        return cmd_job_health(jobs, req, resp);
    }
    if (strcmp(cmd, "job-run") == 0) {
        return cmd_job_run(jobs, req, resp, w);
    }
    return fail(resp, -EOPNOTSUPP, "unknown command '%.64s'", cmd);
}
