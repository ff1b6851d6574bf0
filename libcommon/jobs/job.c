/* vcha - an agent's side of its vchad job. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vcha/job.h>
#include <vcha/vchad.h>

/* A request for @p cmd about job @p id, or NULL (ENOMEM). */
static struct vcha_kv *
job_request(const char *cmd, const char *id)
{
    struct vcha_kv *req = vcha_vchad_request_new(cmd);

    if (req != NULL && vcha_kv_set(req, "id", id) < 0) {
        vcha_kv_free(req);
        req = NULL;
    }
    return req;
}

/* The job-add request: type, id, timing, then the parameters. */
static struct vcha_kv *
add_request(const struct vcha_job_def *def, const char *id,
            const struct vcha_kv *params, const struct vcha_job_timing *t)
{
    struct vcha_kv *req = job_request("job-add", id);
    int rc = req == NULL ? -ENOMEM : vcha_kv_set(req, "type", def->type);

    if (rc == 0) {
        rc = vcha_kv_setf(req, "interval_ms", "%lld", t->interval_ms);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(req, "timeout_ms", "%lld", t->timeout_ms);
    }
    if (rc == 0 && t->first_run_ms > 0) {
        rc = vcha_kv_setf(req, "first_run_ms", "%lld", t->first_run_ms);
    }
    for (size_t i = 0; rc == 0 && i < vcha_kv_count(params); i++) {
        rc = vcha_kv_set(req, vcha_kv_key(params, i), vcha_kv_value(params, i));
    }
    if (rc < 0) {
        vcha_kv_free(req);
        req = NULL;
    }
    return req;
}

int
vcha_job_add(const char *sock, const struct vcha_job_def *def, const char *id,
             const struct vcha_kv *params, const struct vcha_job_timing *timing,
             long long deadline, char *why, size_t whylen)
{
    struct vcha_params *checked = NULL;
    struct vcha_kv *req = NULL, *resp = NULL;
    int rc = vcha_job_params_parse(def, params, &checked, why, whylen);

    vcha_params_free(checked);
    if (rc < 0) {
        return rc;
    }
    req = add_request(def, id, params, timing);
    if (req == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    rc = vcha_vchad_ensure(sock, deadline);
    if (rc < 0) {
        snprintf(why, whylen, "cannot start vchad on %s: %s", sock,
                 rc == -ETIME ? "no answer in time" : strerror(-rc));
    } else {
        rc = vcha_vchad_call(sock, req, &resp, deadline);
        if (rc < 0) {
            const char *e = vcha_kv_get(resp, "error");

            snprintf(why, whylen, "vchad (%s) refused the %s job: %s", sock,
                     def->type, e != NULL ? e : strerror(-rc));
        }
    }
    vcha_kv_free(req);
    vcha_kv_free(resp);
    return rc;
}

int
vcha_job_remove(const char *sock, const char *id, long long deadline)
{
    struct vcha_kv *req = job_request("job-remove", id);
    struct vcha_kv *resp = NULL;
    int rc =
        req == NULL ? -ENOMEM : vcha_vchad_call(sock, req, &resp, deadline);

    vcha_kv_free(req);
    vcha_kv_free(resp);
    return rc == -ECONNREFUSED || rc == -ENOENT ? 0 : rc;
}

int
vcha_job_health(const char *sock, const char *id, struct vcha_kv **health,
                long long deadline)
{
    struct vcha_kv *req = job_request("job-health", id);
    int rc = -ENOMEM;

    *health = NULL;
    if (req != NULL) {
        rc = vcha_vchad_call(sock, req, health, deadline);
    }
    vcha_kv_free(req);
    if (rc < 0) {
        vcha_kv_free(*health);
        *health = NULL;
    }
    return rc;
}

int
vcha_job_keep(const char *sock, const struct vcha_job_def *def, const char *id,
              const struct vcha_kv *params,
              const struct vcha_job_timing *timing, long long deadline,
              struct vcha_kv **health, bool *readded, char *why, size_t whylen)
{
    int rc = vcha_job_health(sock, id, health, deadline);

    *readded = false;
    if (rc != -ECONNREFUSED && rc != -ENOENT) {
        if (rc < 0) {
            snprintf(why, whylen, "cannot ask vchad (%s) about job %s: %s",
                     sock, id, strerror(-rc));
        }
        return rc;
    }
    rc = vcha_job_add(sock, def, id, params, timing, deadline, why, whylen);
    if (rc < 0) {
        return rc;
    }
    *readded = true;
    rc = vcha_job_health(sock, id, health, deadline);
    if (rc < 0) {
        snprintf(why, whylen, "job %s registered again, then lost: %s", id,
                 strerror(-rc));
    }
    return rc;
}
