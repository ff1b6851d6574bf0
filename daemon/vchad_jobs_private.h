/*
 * vchad - the registry's insides, shared by its files and by no one else:
 *   vchad_jobs.c     the registry: ids, add/remove/health, waiters,
 *                    scheduling, the tick
 *   vchad_worker.c   the processes of a run: fork, session, output,
 *                    kill, reap
 *   vchad_publish.c  node attributes, set by attrd_updater children
 *   vchad_resident.c resident jobs: liveness, restarts with backoff, the
 *                    record in the run directory, adoption
 *   vchad_job.c      what a job type calls (vchad_job.h)
 */
#ifndef VCHAD_JOBS_PRIVATE_H
#define VCHAD_JOBS_PRIVATE_H

#include <stdbool.h>
#include <sys/types.h>

#include "vchad_jobs.h"

#define MAX_ID_LEN 128
#define MAX_INTERVAL_MS VCHA_JOB_MAX_INTERVAL_MS
#define MAX_TIMEOUT_MS VCHA_JOB_MAX_TIMEOUT_MS
/* Most attribute-publishing children alive at once. */
#define MAX_HELPERS 64
/* After a worker could not even be forked, try again after: */
#define FORK_RETRY_MS 1000
/* How long vchad_jobs_free() waits for killed children. */
#define REAP_WAIT_MS 5000
/* Between two kills of what a finished worker left alive. */
#define LINGER_POLL_MS 100
/* A run's programs get its timeout minus this (at most a fifth of it). */
#define CLEANUP_MS 5000

/* A child that publishes node attributes. */
struct helper {
    pid_t pid;
    unsigned long long owner; /* serial of the job it publishes for */
    long long kill_at;
};

/* How a run ended. */
struct outcome {
    bool ok;
    int exit_code; /* exit status, or -1 */
    int signal;    /* terminating signal, or 0 */
    int status;    /* for a waiting job-run: 0, -ETIME or -EIO */
    char error[512];
};

struct vchad_job {
    char *id;
    const struct vchad_job_type *type;
    struct vcha_kv *params;
    unsigned long long serial;
    long long interval_ms, timeout_ms;

    /* the run under way */
    pid_t sid;  /* its session (the worker's pid): 0 when no run is on */
    pid_t pid;  /* its worker until reaped, or 0 */
    int status; /* the worker's wait status, once reaped */
    int out_fd;
    char *out;
    size_t out_len;
    bool out_truncated;
    long long started, deadline, kill_at, reaped_at;
    bool timed_out, killed, linger_warned;
    unsigned long long started_runs, wanted_run;

    /* scheduling */
    long long next_due;
    bool removing;
    long long remove_by;

    /* health */
    unsigned long long runs, failures, consecutive;
    long long last_success, last_end, last_duration;
    int last_exit, last_signal;
    char *last_error;
    struct vcha_kv *figures;
    struct vcha_kv *published; /* names of the attributes set so far */
    long long published_at;    /* when they were last handed on; 0: never */

    struct vchad_waiter *waiters;

    /* a resident job (type->kind == VCHAD_JOB_RESIDENT): pid, sid, out_fd
     * (its fifo, held open for reading and writing), started, kill_at and
     * killed serve as for a run; started_runs counts its starts */
    bool adopted;          /* its process is not our child */
    long long starttime;   /* of its process, from /proc/PID/stat */
    long long last_report; /* CLOCK_MONOTONIC ms: last report, or start */
    long long backoff_ms, backoff_max_ms;
    long long backoff; /* the delay before the next restart */
    unsigned long long restarts, reports;
    bool lost, replacing; /* being killed: no report; new parameters */
    char lost_why[256];
    char *report_error;      /* the "error" line of the report under way */
    struct vcha_kv *pending; /* its other figures, until its end */
    /* adopted: what its fifo holds may start within a line or a report, so
     * all up to the first empty line (a report's end) is skipped; 1 while
     * within a line, 2 at the start of one */
    unsigned char resync;
};

struct vchad_jobs {
    const struct vchad_job_type *const *types;
    struct vchad_job **v; /* sorted by id */
    size_t n, cap;
    struct helper helpers[MAX_HELPERS];
    size_t n_helpers;
    unsigned long long next_serial;
    void (*child_setup)(void *ctx);
    void *child_ctx;
    char *run_dir; /* where resident jobs are recorded, or NULL */
};

static inline long long
vchad_min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------ vchad_jobs.c */

/** Job @p id, or NULL. */
struct vchad_job *vchad_job_find(const struct vchad_jobs *jobs, const char *id);

/**
 * Record how a run ended (@p figures is taken), tell its waiters, publish,
 * schedule the next run, and remove the job if it is being removed.
 */
void vchad_run_record(struct vchad_jobs *jobs, struct vchad_job *job,
                      const struct outcome *o, struct vcha_kv *figures);

/** Whether @p job is resident. */
bool vchad_job_resident(const struct vchad_job *job);

/** Take @p job out of the registry and free it: no kill, no unpublish. */
void vchad_job_drop(struct vchad_jobs *jobs, struct vchad_job *job);

/** Remove @p job now: waiters told, attributes deleted, freed. */
void vchad_job_remove_now(struct vchad_jobs *jobs, struct vchad_job *job);

/** Check the parameters of a job of type @p t; see vchad_jobs_add(). */
int vchad_params_check(const struct vchad_job_type *t,
                       const struct vcha_kv *params, long long *interval,
                       long long *timeout, long long *first, char *why,
                       size_t len);

/* ---------------------------------------------------- vchad_worker.c */

/**
 * In a forked child, first thing: a session of its own, the daemon's
 * descriptors closed, the signals at their defaults, stdin on /dev/null.
 */
void vchad_child_reset(struct vchad_jobs *jobs);

/**
 * Send @p sig to every live process of session @p sid.  Returns how many
 * were alive (zombies do not count).
 */
size_t vchad_session_signal(pid_t sid, int sig);

/**
 * From /proc/@p pid/stat: its state letter, session and start time (clock
 * ticks after boot); any may be NULL.  False when there is no such process.
 */
bool vchad_proc_stat(pid_t pid, char *state, pid_t *sid, long long *start);

/** Read what the job's process wrote so far.  False at end of file. */
bool vchad_out_read(struct vchad_job *job);

/** SIGKILL to the job's process and everything of its session. */
void vchad_run_kill(struct vchad_job *job);

/** Fork the worker of the job's next run.  0 or -errno. */
int vchad_run_start(struct vchad_jobs *jobs, struct vchad_job *job);

/** Timeouts, grace periods and kills of a run under way; next deadline. */
long long vchad_run_police(struct vchad_job *job, long long now);

/** A run whose worker has exited, while its session lives on. */
long long vchad_run_linger(struct vchad_jobs *jobs, struct vchad_job *job,
                           long long now);

/* -------------------------------------------------- vchad_resident.c */

/** Check backoff_ms and backoff_max_ms; set them in @p job if not NULL. */
int vchad_resident_params(const struct vcha_kv *params, struct vchad_job *job,
                          char *why, size_t len);

/** Liveness, stops and restarts of a resident job; its next deadline. */
long long vchad_resident_tick(struct vchad_jobs *jobs, struct vchad_job *job,
                              long long now);

/** The resident's process and its session are gone (job->status). */
void vchad_resident_ended(struct vchad_jobs *jobs, struct vchad_job *job);

/**
 * Read what the resident has written from its fifo, taking each line as
 * it ends: figures, reports.
 */
void vchad_resident_read(struct vchad_jobs *jobs, struct vchad_job *job);

/** The job goes for good: delete its record and its fifo. */
void vchad_resident_forget(const struct vchad_jobs *jobs,
                           const struct vchad_job *job);

/**
 * New parameters: stop the process, start it again at once; the record
 * says so at once, for the next daemon should this one die first.
 */
void vchad_resident_replace(struct vchad_jobs *jobs, struct vchad_job *job);

/* --------------------------------------------------- vchad_publish.c */

/** After a run: hand the attributes the type derives to a helper. */
void vchad_job_publish(struct vchad_jobs *jobs, struct vchad_job *job, bool ok);

/** The job goes: delete every attribute it published. */
void vchad_job_unpublish(struct vchad_jobs *jobs, struct vchad_job *job);

/** Kill the helpers past their time; when next to look. */
long long vchad_helpers_tick(struct vchad_jobs *jobs, long long now);

/**
 * Whether @p pid (just reaped) was a helper; if so, what it left is
 * killed and it is forgotten.
 */
bool vchad_helper_reaped(struct vchad_jobs *jobs, pid_t pid);

#endif
