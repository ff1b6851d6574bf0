/*
 * vchad - what a job type is made of: the one header a job type includes.
 *
 * A job type is a table of callbacks (struct vchad_job_type) in a file of
 * its own under daemon/jobs/, listed in vchad_job_types[]; the daemon's
 * registry (vchad_jobs.h) calls them.  A job is an id, a type and
 * parameters (key=value).  Every interval the registry forks a worker,
 * a process leading a session of its own, which calls the type's run()
 * and exits; the registry reaps it, keeps the figures run() wrote as the
 * job's health and publishes the node attributes publish() derives from
 * them.
 */
#ifndef VCHAD_JOB_H
#define VCHAD_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/kv.h>

/** Between SIGTERM and SIGKILL of a worker's session. */
#define VCHAD_KILL_GRACE_MS 2000

struct vchad_job;

/**
 * A kind of job, e.g. "checkpoint".  The daemon runs the types listed in
 * vchad_job_types[]; the table's order does not matter, names are unique.
 */
struct vchad_job_type {
    const char *name;
    /**
     * Check the parameters of a job of this type: every key of the
     * job-add request except cmd, type and id (interval_ms and timeout_ms,
     * which the registry checks, included).  Runs in the daemon, so it
     * must be quick and must neither block nor run programs.  Return 0, or
     * a negative errno with why written into @p why (no trailing period).
     * NULL: any parameters are fine.
     */
    int (*validate)(const struct vcha_kv *params, char *why, size_t whylen);
    /**
     * Do one run.  Called in the worker, a forked process leading its own
     * session, with the signals at their defaults but SIGTERM, which
     * calls vcha_exec_cancel(): the program under way is killed, and
     * vcha_exec_until() starts no other, so the run fails at once and
     * can undo what it must.  It may block, run programs (argv, never a
     * shell) and take its time: the daemon sends SIGTERM at the job's
     * timeout and kills the whole session VCHAD_KILL_GRACE_MS later.  Write the
     * run's figures with vchad_figure() to @p out_fd (an "error" figure says
     * why a run failed).  Return 0 on success or a negative errno; the worker
     * exits with the errno as its status.
     */
    int (*run)(const struct vchad_job *job, int out_fd);
    /**
     * Node attributes to publish after a run: set attribute name -> value
     * in @p attrs, from the run's @p figures (@p ok: the run succeeded).
     * An empty value deletes the attribute.  Runs in the daemon: quick, no
     * I/O.  A child process then sets them with attrd_updater, so a hung
     * cluster never stalls the daemon.  Every attribute published is
     * deleted when the job is removed.  NULL: none.
     */
    int (*publish)(const struct vchad_job *job, const struct vcha_kv *figures,
                   bool ok, struct vcha_kv *attrs);
};

/** The types this daemon runs, NULL-terminated. */
extern const struct vchad_job_type *const vchad_job_types[];

/** The job's id. */
const char *vchad_job_id(const struct vchad_job *job);

/** The job's type. */
const struct vchad_job_type *vchad_job_type(const struct vchad_job *job);

/** The job's parameters (see vchad_job_type.validate). */
const struct vcha_kv *vchad_job_params(const struct vchad_job *job);

/** The value of parameter @p key, or NULL. */
const char *vchad_job_param(const struct vchad_job *job, const char *key);

/** In a run: when the registry started it (CLOCK_MONOTONIC ms). */
long long vchad_job_started(const struct vchad_job *job);

/**
 * In a run: its deadline (CLOCK_MONOTONIC ms, see vcha_now_ms()), a fifth
 * of the timeout (at most 5 s) before the daemon's SIGTERM, so that a
 * program that overruns is killed at this deadline and the run still has
 * time to clean up after it.
 */
long long vchad_job_deadline(const struct vchad_job *job);

/**
 * In a run: write figure @p key (a valid vcha_kv key) with a
 * printf-formatted value as one line to @p fd.  Returns 0 or -errno.
 */
int vchad_figure(int fd, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
