/*
 * vcha - an agent's side of its vchad job: register it (starting vchad),
 * ask for its health, remove it.  Every agent with a job calls these with
 * its job type's contract (vcha/jobdef.h) and the resource's instance name
 * as the job's id.
 */
#ifndef VCHA_JOB_H
#define VCHA_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/jobdef.h>
#include <vcha/kv.h>

/** When a job runs: the registry's keys of job-add. */
struct vcha_job_timing {
    long long interval_ms;  /**< between runs (0: once) */
    long long timeout_ms;   /**< of one run */
    long long first_run_ms; /**< the first run after this long (0: now) */
};

/**
 * Register (or update) job @p id of type @p def with the vchad on @p sock,
 * starting vchad when nobody answers, all before @p deadline.  @p params
 * are checked against the contract here first, as vchad will.  Returns 0,
 * or a negative errno with @p why saying what failed: a parameter (as
 * vcha_job_params_parse()), vchad's own answer, or how vchad could not be
 * reached or started.
 */
int vcha_job_add(const char *sock, const struct vcha_job_def *def,
                 const char *id, const struct vcha_kv *params,
                 const struct vcha_job_timing *timing, long long deadline,
                 char *why, size_t whylen);

/**
 * Remove job @p id, waiting until @p deadline for a run under way to end.
 * Returns 0 once nothing of the job runs: vchad confirmed it, or no vchad
 * answers on @p sock, or it has no such job; else the negative errno of
 * the call (-ETIME: a run still goes on, e.g. blocked on a hung store).
 */
int vcha_job_remove(const char *sock, const char *id, long long deadline);

/**
 * The health of job @p id (last_success, last_error, runs, ... as vchad's
 * job-health answers) in a new list *health (vcha_kv_free()).  Returns 0,
 * -ECONNREFUSED when no vchad answers on @p sock, -ENOENT when it has no
 * such job, or another negative errno (then *health is NULL).
 */
int vcha_job_health(const char *sock, const char *id, struct vcha_kv **health,
                    long long deadline);

/**
 * Make sure job @p id runs, as a monitor must: ask for its health and,
 * when no vchad answers on @p sock or it has no such job (vchad died, or
 * restarted without it), register it again from @p def, @p params and
 * @p timing (starting vchad), then ask again.  A dead vchad thus never
 * fails a resource whose workload is healthy.  Returns 0 with the health
 * in *health (vcha_kv_free()) and *readded telling whether the job had to
 * be registered again, or a negative errno with @p why saying why the job
 * could not be re-established (*health NULL).
 */
int vcha_job_keep(const char *sock, const struct vcha_job_def *def,
                  const char *id, const struct vcha_kv *params,
                  const struct vcha_job_timing *timing, long long deadline,
                  struct vcha_kv **health, bool *readded, char *why,
                  size_t whylen);

#endif
