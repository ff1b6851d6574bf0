/*
 * vchad - publishing: the node attributes a job type derives from a run's
 * figures, set (and, when the job goes, deleted) by a child process that
 * runs attrd_updater, so that a hung cluster never stalls the daemon.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/log.h>

#include "vchad_jobs_private.h"

static int
helper_find(const struct vchad_jobs *jobs, pid_t pid)
{
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        if (jobs->helpers[i].pid == pid) {
            return (int) i;
        }
    }
    return -1;
}

static bool
helper_busy(const struct vchad_jobs *jobs, unsigned long long owner)
{
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        if (jobs->helpers[i].owner == owner) {
            return true;
        }
    }
    return false;
}

static void
helpers_kill(struct vchad_jobs *jobs, unsigned long long owner)
{
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        if (jobs->helpers[i].owner == owner) {
            vchad_session_signal(jobs->helpers[i].pid, SIGKILL);
        }
    }
}

/* In the helper: set (or, for an empty value, delete) each attribute. */
static void
helper_main(const struct vcha_kv *attrs)
{
    int failed = 0;

    for (size_t i = 0; i < vcha_kv_count(attrs); i++) {
        const char *name = vcha_kv_key(attrs, i);
        const char *value = vcha_kv_value(attrs, i);
        int rc = value[0] == '\0'
                     ? vcha_attr_delete(name, VCHAD_PUBLISH_TIMEOUT_MS)
                     : vcha_attr_set(name, value, VCHAD_PUBLISH_TIMEOUT_MS);

        if (rc < 0) {
            vcha_warn("cannot %s node attribute %s: %s",
                      value[0] ? "set" : "delete", name, strerror(-rc));
            failed = 1;
        }
    }
    _exit(failed);
}

static void
helper_spawn(struct vchad_jobs *jobs, unsigned long long owner,
             const struct vcha_kv *attrs)
{
    pid_t pid;

    if (jobs->n_helpers == MAX_HELPERS) {
        vcha_warn("too many attribute updates under way; skipping one");
        return;
    }
    pid = fork();
    if (pid < 0) {
        vcha_warn("cannot fork to publish node attributes: %s",
                  strerror(errno));
        return;
    }
    if (pid == 0) {
        vchad_child_reset(jobs);
        helper_main(attrs);
    }
    jobs->helpers[jobs->n_helpers++] = (struct helper){
        .pid = pid,
        .owner = owner,
        .kill_at = vcha_now_ms() + (long long) (vcha_kv_count(attrs) + 1) *
                                       VCHAD_PUBLISH_TIMEOUT_MS,
    };
}

/* After a run: hand the attributes the type derives to a helper. */
void
vchad_job_publish(struct vchad_jobs *jobs, struct vchad_job *job, bool ok)
{
    struct vcha_kv *attrs = NULL;

    if (job->type->publish == NULL) {
        return;
    }
    if (job->type->publish_every_ms != NULL && job->published_at > 0 &&
        vcha_now_ms() - job->published_at < job->type->publish_every_ms(job)) {
        return;
    }
    if (helper_busy(jobs, job->serial)) {
        vcha_debug("job %s: last attribute update still under way; "
                   "skipping this one",
                   job->id);
        return;
    }
    attrs = vcha_kv_new();
    if (attrs != NULL &&
        job->type->publish(job, job->figures, ok, attrs) == 0 &&
        vcha_kv_count(attrs) > 0) {
        for (size_t i = 0; i < vcha_kv_count(attrs); i++) {
            vcha_kv_set(job->published, vcha_kv_key(attrs, i), "");
        }
        helper_spawn(jobs, job->serial, attrs);
        job->published_at = vcha_now_ms();
    }
    vcha_kv_free(attrs);
}

/* The job goes: delete what it published (job->published has "" values). */
void
vchad_job_unpublish(struct vchad_jobs *jobs, struct vchad_job *job)
{
    if (vcha_kv_count(job->published) == 0) {
        return;
    }
    helpers_kill(jobs, job->serial); /* a late set must not follow */
    helper_spawn(jobs, job->serial, job->published);
}

long long
vchad_helpers_tick(struct vchad_jobs *jobs, long long now)
{
    long long next = LLONG_MAX;

    for (size_t i = 0; i < jobs->n_helpers; i++) {
        if (now >= jobs->helpers[i].kill_at) {
            kill(-jobs->helpers[i].pid, SIGKILL);
            jobs->helpers[i].kill_at = LLONG_MAX;
        }
        next = vchad_min_ll(next, jobs->helpers[i].kill_at);
    }
    return next;
}

bool
vchad_helper_reaped(struct vchad_jobs *jobs, pid_t pid)
{
    int h = helper_find(jobs, pid);

    if (h < 0) {
        return false;
    }
    vchad_session_signal(pid, SIGKILL); /* what the helper left */
    jobs->helpers[h] = jobs->helpers[--jobs->n_helpers];
    return true;
}
