/*
 * vcha - the checkpoint job's contract: what ocf:vcha:criuct registers with
 * vchad and vchad's checkpoint job runs (vcha/jobdef.h), and the choices
 * both sides make the same way.
 */
#ifndef VCHA_CKPTJOB_H
#define VCHA_CKPTJOB_H

#include <stddef.h>

#include <vcha/ct.h>
#include <vcha/jobdef.h>

/** keep's bounds: one newer than a corrupt newest generation, at least. */
#define VCHA_CKPT_KEEP_MIN 2
#define VCHA_CKPT_KEEP_MAX 1000

/** The job type's parameters, in the order of its table. */
enum vcha_ckpt_job_param {
    VCHA_CKPT_CONTAINER, /**< container: the LXC name */
    VCHA_CKPT_LXCPATH,   /**< lxcpath: absolute */
    VCHA_CKPT_STORE,     /**< store: the generation store, absolute */
    VCHA_CKPT_KEEP,      /**< keep: good generations kept, 2 to 1000 */
    VCHA_CKPT_COMPRESS,  /**< compress: auto, zstd or none */
    VCHA_CKPT_N_PARAMS
};

/** The "checkpoint" job type. */
extern const struct vcha_job_def vcha_ckpt_job;

/** The values compress takes, NULL-terminated. */
extern const char *const vcha_ckpt_compress_options[];

/**
 * The check of a container name: not empty, no '/', no leading '.', at
 * most 64 characters (a vcha_param_check_fn).
 */
int vcha_ct_name_check(const char *value, char *why, size_t whylen);

/**
 * The timeout of one periodic checkpoint of a container checkpointed
 * every @p interval_ms: two intervals, at least two minutes, and never
 * beyond what vchad accepts (VCHA_JOB_MAX_TIMEOUT_MS).
 */
long long vcha_ckpt_job_timeout_ms(long long interval_ms);

/**
 * How the images of the next checkpoint into @p store are shipped for the
 * compress setting @p setting: zstd and none as they say; auto (and
 * anything else) as vcha_ct_compress_auto() measures it, the faster way to
 * this store.  The periodic checkpoints and the last one of a stop or a
 * migration choose alike: the time to ship the images is what a migration
 * waits for.
 */
enum vcha_ct_compress vcha_ckpt_compress(const char *setting,
                                         const char *store);

#endif
