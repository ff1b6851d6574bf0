/*
 * vchad - what a job type is made of: the one header a job type includes.
 *
 * A job type is a table of callbacks (struct vchad_job_type) in a file of
 * its own under daemon/jobs/, listed in vchad_job_types[]; the daemon's
 * registry (vchad_jobs.h) calls them.  A job is an id, a type and
 * parameters (key=value).  A type is of one of two kinds:
 *
 * Periodic (checkpoint): every interval the registry forks a worker, a
 * process leading a session of its own, which calls the type's run() and
 * exits; the registry reaps it, keeps the figures run() wrote as the job's
 * health and publishes the node attributes publish() derives from them.
 *
 * Resident (filesync, colo): run() is called once, in a process leading a
 * session of its own, when the job is added, and runs until the job is
 * removed.  It writes figures as it goes and ends each report with
 * vchad_report(), at least once every timeout_ms (the job's liveness
 * timeout, default 60 s); the daemon keeps the figures, publishes after
 * each report, and answers job-run with the next report (a line longer
 * than 64 KiB is dropped whole; a daemon adopting a resident drops what
 * its fifo holds up to the end of the first report, which may have begun
 * before).  A resident that
 * exits, or stops reporting for timeout_ms, is lost: SIGTERM, SIGKILL to
 * its whole session VCHAD_KILL_GRACE_MS later, and a new process after a
 * backoff of backoff_ms (default 1 s) doubling at each loss up to
 * backoff_max_ms (default 60 s), back to backoff_ms once a process has
 * lived backoff_max_ms.  Removing the job stops its process the same way.
 *
 * A resident outlives the daemon: it is not killed when the daemon dies or
 * stops, and the next daemon adopts it.  Its figures go to a fifo in the
 * daemon's run directory (SOCKET.jobs/ID.fifo), and SOCKET.jobs/ID.job
 * records its pid, its start time (/proc/PID/stat, against pid reuse),
 * its type and its parameters (the directory must belong to the daemon's
 * user and be writable by no one else, the fifo must be a fifo, and a
 * record a daemon died writing is removed).  A starting daemon reads these
 * records: a
 * process that is still there with the same start time is adopted (its
 * liveness is then its reports and /proc, as the daemon cannot reap it);
 * otherwise the job is started afresh, once what is left of the recorded
 * process's session has been killed.  New parameters rewrite the
 * record at once, marked so that a daemon finding it kills the recorded
 * process with its session and starts a new one with them (the daemon
 * that took the parameters may die before it has replaced the process).
 * So run() must not end when its
 * writes fail: while no daemon reads the fifo, vchad_figure() and
 * vchad_report() return -EPIPE (SIGPIPE is ignored); it goes on and the
 * next daemon reads what it writes then.
 */
#ifndef VCHAD_JOB_H
#define VCHAD_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/kv.h>

/** Between SIGTERM and SIGKILL of a worker's session. */
#define VCHAD_KILL_GRACE_MS 2000

struct vchad_job;

/** How the daemon runs a job of a type. */
enum vchad_job_kind {
    VCHAD_JOB_PERIODIC = 0, /**< run() once per interval, in a worker */
    VCHAD_JOB_RESIDENT,     /**< run() once, until the job is removed */
};

/**
 * A kind of job, e.g. "checkpoint".  The daemon runs the types listed in
 * vchad_job_types[]; the table's order does not matter, names are unique.
 */
struct vchad_job_type {
    const char *name;
    /** Periodic (the default) or resident. */
    enum vchad_job_kind kind;
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
     *
     * A resident's run() is called once per process, in a session of its
     * own, with the signals at their defaults but SIGPIPE, ignored: SIGTERM
     * ends it unless it handles it, and it is not told when the daemon
     * dies.  It runs until it is stopped, writing figures to @p out_fd
     * and ending each report with vchad_report(), at least once every
     * timeout_ms.  Its return ends the process, which counts as lost.
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
    /**
     * The least time between two publishes of @p job, in ms (NULL or 0:
     * after every run).  For figures that change with every report: each
     * value written into the CIB is a transient attribute change, which
     * aborts the transition under way and runs the scheduler again.
     */
    long long (*publish_every_ms)(const struct vchad_job *job);
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

/**
 * In a run: when the registry started it (CLOCK_MONOTONIC ms).  In a
 * resident: when the registry started its process (for an adopted one,
 * when it was adopted).
 */
long long vchad_job_started(const struct vchad_job *job);

/**
 * In a run: its deadline (CLOCK_MONOTONIC ms, see vcha_now_ms()), a fifth
 * of the timeout (at most 5 s) before the daemon's SIGTERM, so that a
 * program that overruns is killed at this deadline and the run still has
 * time to clean up after it.  In a resident: LLONG_MAX, as a resident
 * has no run deadline (vcha_exec_until() with it waits for the program as
 * long as it takes; give a program a deadline of its own).
 */
long long vchad_job_deadline(const struct vchad_job *job);

/**
 * In a run: write figure @p key (a valid vcha_kv key) with a
 * printf-formatted value as one line to @p fd.  Returns 0 or -errno.
 */
int vchad_figure(int fd, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** A figure published as the node attribute vcha-ID-SUFFIX. */
struct vchad_attr_map {
    const char *figure, *suffix;
};

/**
 * For a type's publish(): set in @p attrs the attribute of each of the
 * @p n entries of @p map whose figure @p figures holds.  0 or -ENOMEM.
 */
int vchad_publish_figures(const struct vchad_job *job,
                          const struct vcha_kv *figures,
                          const struct vchad_attr_map *map, size_t n,
                          struct vcha_kv *attrs);

/**
 * In a resident: end a report (an empty line) on @p fd.  The figures
 * written since the last report (kept aside until then) update the job's
 * figures (a figure keeps
 * its value until written again), an "error" figure makes the report a
 * failing one, the node attributes are published, and the daemon counts
 * the report as a sign of life.  Returns 0 or -errno (-EPIPE while no
 * daemon reads).
 */
int vchad_report(int fd);

#endif
