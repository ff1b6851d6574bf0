/*
 * vchad - the job registry, as the daemon's loop and its commands use it:
 * it schedules jobs (see vchad_job.h for what a job type is), runs each
 * run in a forked worker process bounded by a timeout, collects the run's
 * figures, keeps each job's health and publishes its node attributes.
 *
 * Every interval a job is run once: the registry forks a worker that leads
 * a session of its own, the worker calls the type's run() and exits, the
 * registry reaps it and records the outcome.  A worker that overruns the
 * job's timeout gets SIGTERM (it kills the program under way and cleans
 * up), then its whole session gets SIGKILL: no program it started outlives
 * the run, and the run ends only when every one of them is gone.  A job
 * has at most one run at a time; a run that overruns the interval is
 * followed by the next one right away, never by a pile-up.  Different jobs
 * run concurrently.
 *
 * A resident job (see vchad_job.h) has one process from its addition to
 * its removal, watched and restarted with backoff, and outlives the
 * daemon: vchad_jobs_detach() leaves it running, and the next daemon's
 * vchad_jobs_adopt() takes it on again.
 *
 * The registry never blocks: the caller's poll loop gives it the workers'
 * pipes (vchad_jobs_pollfds), the exits of children (vchad_jobs_reap) and
 * the passing of time (vchad_jobs_tick).
 */
#ifndef VCHAD_JOBS_H
#define VCHAD_JOBS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <vcha/vchad.h>

#include "vchad_job.h"

/** Run interval when a job does not give interval_ms. */
#define VCHAD_DEFAULT_INTERVAL_MS 30000
/** Run timeout when a job does not give timeout_ms. */
#define VCHAD_DEFAULT_TIMEOUT_MS 60000
/** A resident's first restart delay, when the job does not give backoff_ms */
#define VCHAD_DEFAULT_BACKOFF_MS 1000
/** Its longest, when it does not give backoff_max_ms. */
#define VCHAD_DEFAULT_BACKOFF_MAX_MS 60000
/** Most bytes of figures kept from one run; the rest is dropped. */
#define VCHAD_MAX_FIGURES (64 * 1024)
/** How long attrd_updater may take for one attribute. */
#define VCHAD_PUBLISH_TIMEOUT_MS 5000

struct vchad_jobs;

/** What a job's health says. */
enum vchad_job_state {
    VCHAD_JOB_STARTING, /**< no run has ended yet */
    VCHAD_JOB_OK,       /**< the last run succeeded */
    VCHAD_JOB_FAILING,  /**< the last run failed */
};

/** A request that waits for a job: job-run, or job-remove of a busy job. */
struct vchad_waiter {
    /**
     * Called once, when what the request waits for has happened: @p status
     * is 0 or a negative errno with @p error saying why; @p health is the
     * job's health (NULL when the job is gone).
     */
    void (*done)(struct vchad_waiter *w, int status, const char *error,
                 const struct vcha_kv *health);
    /* the registry's */
    struct vchad_job *job;
    struct vchad_waiter *next;
    bool remove;
    unsigned long long run;
};

/** Name of @p state: "starting", "ok" or "failing". */
const char *vchad_job_state_name(enum vchad_job_state state);

/**
 * A new registry for the NULL-terminated @p types, or NULL (ENOMEM).
 * Free it with vchad_jobs_free().
 */
struct vchad_jobs *vchad_jobs_new(const struct vchad_job_type *const *types);

/**
 * Kill every worker and helper process group, reap them and free the
 * registry.  Waiters are dropped without being called.  NULL is fine.
 */
void vchad_jobs_free(struct vchad_jobs *jobs);

/**
 * Call @p fn(@p ctx) in every child the registry forks, first thing: the
 * daemon closes there what its children must not hold (its sockets, its
 * lock).
 */
void vchad_jobs_set_child_setup(struct vchad_jobs *jobs, void (*fn)(void *),
                                void *ctx);

/**
 * Keep the records and fifos of resident jobs in @p dir (created, mode
 * 0700, if missing): SOCKET.jobs next to the daemon's socket.  Without a
 * run directory, resident jobs are refused.  0 or -errno.
 */
int vchad_jobs_set_run_dir(struct vchad_jobs *jobs, const char *dir);

/**
 * Take on the resident jobs recorded in the run directory by an earlier
 * daemon: a process still alive (same pid and start time) is adopted, a job
 * whose process is gone is started again, a record of an unknown type or
 * with parameters now refused is dropped (its process killed).  Call it
 * once, holding the daemon's lock, before the loop.  Returns the number of
 * jobs taken on, or -errno when the directory cannot be read.
 */
int vchad_jobs_adopt(struct vchad_jobs *jobs);

/**
 * Let go of the resident jobs whose processes run: they keep running and
 * stay recorded for the next daemon, and the registry forgets them.  A
 * resident being removed is not let go (its record went when its removal
 * began): vchad_jobs_stop() ends it.  Before vchad_jobs_stop() when the
 * daemon stops.
 */
void vchad_jobs_detach(struct vchad_jobs *jobs);

/** The type named @p name, or NULL. */
const struct vchad_job_type *vchad_jobs_type(const struct vchad_jobs *jobs,
                                             const char *name);

/** What vchad_jobs_add() did. */
enum vchad_add_result {
    VCHAD_ADDED,     /**< a new job */
    VCHAD_UPDATED,   /**< the job was there; its parameters changed */
    VCHAD_UNCHANGED, /**< the job was there with the same parameters */
};

/**
 * Add job @p id of type @p type with @p params (copied), or update the
 * parameters of the job with that id.  A new job runs at once, or
 * first_run_ms after being added when that parameter says so (a
 * container just restored from its newest checkpoint needs no other at
 * once).  Returns 0
 * and what was done in @p what, or -EINVAL (bad id, unknown type or bad
 * parameters), -EEXIST (the id has another type), -EBUSY (the job is
 * being removed), -ENOMEM; @p why says why.
 */
int vchad_jobs_add(struct vchad_jobs *jobs, const char *type, const char *id,
                   const struct vcha_kv *params, enum vchad_add_result *what,
                   char *why, size_t whylen);

/**
 * Remove job @p id.  Returns 0 when it is gone (or never was), or
 * -EINPROGRESS when a run is under way: the job goes once the run ends,
 * killed if it is still running @p grace_ms from now, and @p w is called
 * then (status 0).  A waiting job-run gets -ECANCELED.  A resident's
 * record is deleted at once: the job does not come back, even if the
 * daemon stops before its process does.
 */
int vchad_jobs_remove(struct vchad_jobs *jobs, const char *id,
                      long long grace_ms, struct vchad_waiter *w);

/**
 * Run job @p id once now (after the run under way, if any) and call @p w
 * when that run has ended: status 0 for a success, -ETIME for a run killed
 * at its timeout, -EIO for another failure, -ECANCELED when the job was
 * removed first.  Returns 0 (waiting), -ENOENT (no such job) or -EBUSY
 * (the job is being removed).
 */
int vchad_jobs_run(struct vchad_jobs *jobs, const char *id,
                   struct vchad_waiter *w);

/** Stop waiting: @p w will not be called.  Fine when it is not waiting. */
void vchad_waiter_cancel(struct vchad_waiter *w);

/**
 * Put the health of job @p id into @p out, each key prefixed by @p prefix
 * (may be NULL): id, type, state, running, runs, failures,
 * consecutive_failures, last_error, last_success (CLOCK_REALTIME ms, 0:
 * never), last_end (same), last_duration_ms, last_exit, interval_ms,
 * timeout_ms, and the last run's figures as fig.NAME.  A resident job
 * adds kind (resident), pid (0 while it waits to restart), adopted,
 * restarts, reports and backoff_ms (the delay before the next restart);
 * for it runs counts its reports and its losses, and last_duration_ms is
 * how long its process had run.  0 or -ENOENT.
 */
int vchad_jobs_health(const struct vchad_jobs *jobs, const char *id,
                      struct vcha_kv *out, const char *prefix);

/** State of job @p id: 0 or -ENOENT. */
int vchad_jobs_state(const struct vchad_jobs *jobs, const char *id,
                     enum vchad_job_state *state);

/**
 * Put every job's health into @p out: "jobs=N", then the keys of
 * vchad_jobs_health() prefixed "job.I." for I in 0..N-1, in order of id.
 */
int vchad_jobs_status(const struct vchad_jobs *jobs, struct vcha_kv *out);

/** Number of jobs. */
size_t vchad_jobs_count(const struct vchad_jobs *jobs);

/**
 * Start the runs that are due, enforce timeouts and grace periods.
 * Returns when it next needs to be called (CLOCK_MONOTONIC ms, see
 * vcha_now_ms()), or LLONG_MAX.
 */
long long vchad_jobs_tick(struct vchad_jobs *jobs);

/** Number of pollfds vchad_jobs_pollfds() may fill at most. */
size_t vchad_jobs_npoll(const struct vchad_jobs *jobs);

/** Fill @p fds with the workers' pipes (at most @p max); returns how many. */
size_t vchad_jobs_pollfds(const struct vchad_jobs *jobs, struct pollfd *fds,
                          size_t max);

/** Read the pipes @p fds (as filled by vchad_jobs_pollfds) say are ready. */
void vchad_jobs_read(struct vchad_jobs *jobs, const struct pollfd *fds,
                     size_t n);

/**
 * Reap every child that has exited (waitpid(-1, WNOHANG)): a worker's exit
 * ends its run.  Returns the number reaped.
 */
int vchad_jobs_reap(struct vchad_jobs *jobs);

/** Number of child processes (workers and helpers) still alive. */
size_t vchad_jobs_children(const struct vchad_jobs *jobs);

/**
 * Kill (SIGKILL) every process of every run and helper: the worker and
 * the programs it started, in whatever process group.
 */
void vchad_jobs_kill_all(struct vchad_jobs *jobs);

/**
 * Stop every run: SIGTERM to each worker, which kills the program under
 * way and undoes what it must (a frozen container is thawed), up to
 * VCHAD_KILL_GRACE_MS for them to exit, then SIGKILL to everything left
 * of the runs and helpers, reaped or waited for (a few seconds at most).
 * The jobs being removed are then removed, their waiters told (status 0).
 */
void vchad_jobs_stop(struct vchad_jobs *jobs);

#endif
