/*
 * vcha - the contract of a vchad job type: the one table of the parameters
 * an agent sends with job-add and vchad checks before it takes the job,
 * and the limits of the registry's own keys (interval_ms, timeout_ms,
 * first_run_ms).  Both sides parse with the same table, so they cannot
 * disagree on what a valid job is.
 */
#ifndef VCHA_JOBDEF_H
#define VCHA_JOBDEF_H

#include <stddef.h>

#include <vcha/kv.h>
#include <vcha/param.h>

/** Longest interval_ms (and first_run_ms) vchad accepts. */
#define VCHA_JOB_MAX_INTERVAL_MS (7LL * 24 * 3600 * 1000)
/** Longest timeout_ms vchad accepts. */
#define VCHA_JOB_MAX_TIMEOUT_MS (24LL * 3600 * 1000)

/** A job type as both sides see it. */
struct vcha_job_def {
    const char *type; /**< e.g. "checkpoint" */
    /** Its parameters, named as the keys of job-add. */
    const struct vcha_param_def *params;
    size_t n_params;
    /**
     * Checks across parameters, after each passed its own: 0, or a
     * negative errno with why written into @p why.  NULL: none.
     */
    int (*check)(const struct vcha_params *p, char *why, size_t whylen);
};

/**
 * Parse the parameters in @p kv with @p def's table, then its check.
 * Keys the table does not name are left alone: the registry's own, and
 * those of an agent newer than the vchad that runs.  Returns 0 and the
 * values in *out (vcha_params_free(); its strings point into @p kv, which
 * must outlive them), -EINVAL with @p why naming the parameter, or
 * -ENOMEM.
 */
int vcha_job_params_parse(const struct vcha_job_def *def,
                          const struct vcha_kv *kv, struct vcha_params **out,
                          char *why, size_t whylen);

#endif
