/* vchad - the job registry: scheduling, worker processes, health. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/log.h>

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

    struct vchad_waiter *waiters;
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
};

/* ------------------------------------------------------------ accessors */

const char *
vchad_job_id(const struct vchad_job *job)
{
    return job->id;
}

const struct vchad_job_type *
vchad_job_type(const struct vchad_job *job)
{
    return job->type;
}

const struct vcha_kv *
vchad_job_params(const struct vchad_job *job)
{
    return job->params;
}

const char *
vchad_job_param(const struct vchad_job *job, const char *key)
{
    return vcha_kv_get(job->params, key);
}

long long
vchad_job_started(const struct vchad_job *job)
{
    return job->started;
}

long long
vchad_job_deadline(const struct vchad_job *job)
{
    long long margin = job->timeout_ms / 5;

    return job->deadline - (margin < CLEANUP_MS ? margin : CLEANUP_MS);
}

const char *
vchad_job_state_name(enum vchad_job_state state)
{
    switch (state) {
    case VCHAD_JOB_OK:
        return "ok";
    case VCHAD_JOB_FAILING:
        return "failing";
    default:
        return "starting";
    }
}

static enum vchad_job_state
job_state(const struct vchad_job *job)
{
    if (job->runs == 0) {
        return VCHAD_JOB_STARTING;
    }
    return job->consecutive > 0 ? VCHAD_JOB_FAILING : VCHAD_JOB_OK;
}

int
vchad_figure(int fd, const char *key, const char *fmt, ...)
{
    char *value = NULL, *escaped = NULL, *line = NULL;
    va_list ap;
    int rc = 0, n;

    if (!vcha_kv_key_valid(key)) {
        return -EINVAL;
    }
    va_start(ap, fmt);
    n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0 || (escaped = vcha_kv_escape(value)) == NULL ||
        (n = asprintf(&line, "%s=%s\n", key, escaped)) < 0) {
        rc = -ENOMEM;
        line = NULL;
        goto done;
    }
    for (size_t off = 0; off < (size_t) n;) {
        ssize_t w = write(fd, line + off, (size_t) n - off);

        if (w < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        off += w > 0 ? (size_t) w : 0;
    }

done:
    free(line);
    free(escaped);
    free(value);
    return rc;
}

/* ------------------------------------------------------------ registry */

struct vchad_jobs *
vchad_jobs_new(const struct vchad_job_type *const *types)
{
    struct vchad_jobs *jobs = calloc(1, sizeof(*jobs));

    if (jobs != NULL) {
        jobs->types = types;
        jobs->next_serial = 1;
    }
    return jobs;
}

void
vchad_jobs_set_child_setup(struct vchad_jobs *jobs, void (*fn)(void *),
                           void *ctx)
{
    jobs->child_setup = fn;
    jobs->child_ctx = ctx;
}

const struct vchad_job_type *
vchad_jobs_type(const struct vchad_jobs *jobs, const char *name)
{
    for (size_t i = 0; name != NULL && jobs->types[i] != NULL; i++) {
        if (strcmp(jobs->types[i]->name, name) == 0) {
            return jobs->types[i];
        }
    }
    return NULL;
}

size_t
vchad_jobs_count(const struct vchad_jobs *jobs)
{
    return jobs->n;
}

/* Index of job @p id, or where it would go (with *found false). */
static size_t
job_index(const struct vchad_jobs *jobs, const char *id, bool *found)
{
    size_t lo = 0, hi = jobs->n;

    *found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(jobs->v[mid]->id, id);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static struct vchad_job *
job_find(const struct vchad_jobs *jobs, const char *id)
{
    bool found;
    size_t i = id ? job_index(jobs, id, &found) : 0;

    return (id != NULL && found) ? jobs->v[i] : NULL;
}

static void
job_free(struct vchad_job *job)
{
    if (job == NULL) {
        return;
    }
    if (job->out_fd >= 0) {
        close(job->out_fd);
    }
    free(job->id);
    vcha_kv_free(job->params);
    free(job->out);
    free(job->last_error);
    vcha_kv_free(job->figures);
    vcha_kv_free(job->published);
    free(job);
}

static bool
id_valid(const char *id)
{
    size_t len = id ? strlen(id) : 0;

    if (len == 0 || len > MAX_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) id[i] <= ' ' || (unsigned char) id[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* A duration parameter in ms within [min, max], or its default. */
static int
param_ms(const struct vcha_kv *params, const char *key, long long dflt,
         long long min, long long max, long long *ms, char *why, size_t len)
{
    int rc = vcha_kv_get_ll(params, key, ms);

    if (rc == -ENOENT) {
        *ms = dflt;
        return 0;
    }
    if (rc < 0 || *ms < min || *ms > max) {
        snprintf(why, len,
                 "%s must be a number of milliseconds in [%lld, %lld]", key,
                 min, max);
        return -EINVAL;
    }
    return 0;
}

/* Check the parameters of a job of type @p t: ours, then the type's. */
static int
params_check(const struct vchad_job_type *t, const struct vcha_kv *params,
             long long *interval, long long *timeout, long long *first,
             char *why, size_t len)
{
    int rc = param_ms(params, "interval_ms", VCHAD_DEFAULT_INTERVAL_MS, 0,
                      MAX_INTERVAL_MS, interval, why, len);

    if (rc == 0) {
        rc = param_ms(params, "timeout_ms", VCHAD_DEFAULT_TIMEOUT_MS, 1,
                      MAX_TIMEOUT_MS, timeout, why, len);
    }
    if (rc == 0) {
        rc = param_ms(params, "first_run_ms", 0, 0, MAX_INTERVAL_MS, first, why,
                      len);
    }
    if (rc == 0 && t->validate != NULL) {
        why[0] = '\0';
        rc = t->validate(params, why, len);
        if (rc < 0 && why[0] == '\0') {
            snprintf(why, len, "invalid parameters for type %s", t->name);
        }
    }
    return rc < 0 ? rc : 0;
}

/* When a job whose last run started at job->started runs next. */
static void
job_schedule(struct vchad_job *job, long long now)
{
    if (job->interval_ms == 0) {
        job->next_due = LLONG_MAX;
    } else if (job->started_runs == 0) {
        job->next_due = now;
    } else {
        job->next_due = job->started + job->interval_ms;
        if (job->next_due < now) {
            job->next_due = now; /* it overran: next one right away */
        }
    }
}

static int
job_insert(struct vchad_jobs *jobs, struct vchad_job *job)
{
    bool found;
    size_t i = job_index(jobs, job->id, &found);

    if (jobs->n == jobs->cap) {
        size_t cap = jobs->cap ? jobs->cap * 2 : 8;
        struct vchad_job **nv = realloc(jobs->v, cap * sizeof(*nv));

        if (nv == NULL) {
            return -ENOMEM;
        }
        jobs->v = nv;
        jobs->cap = cap;
    }
    memmove(&jobs->v[i + 1], &jobs->v[i], (jobs->n - i) * sizeof(*jobs->v));
    jobs->v[i] = job;
    jobs->n++;
    return 0;
}

static struct vchad_job *
job_new(struct vchad_jobs *jobs, const struct vchad_job_type *t, const char *id,
        const struct vcha_kv *params)
{
    struct vchad_job *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        return NULL;
    }
    job->out_fd = -1;
    job->type = t;
    job->serial = jobs->next_serial++;
    job->id = strdup(id);
    job->params = vcha_kv_dup(params);
    job->figures = vcha_kv_new();
    job->published = vcha_kv_new();
    if (job->id == NULL || job->params == NULL || job->figures == NULL ||
        job->published == NULL) {
        job_free(job);
        return NULL;
    }
    return job;
}

/* Replace the parameters of an existing job. */
static int
job_update(struct vchad_job *job, const struct vcha_kv *params,
           long long interval, long long timeout)
{
    struct vcha_kv *copy = vcha_kv_dup(params);

    if (copy == NULL) {
        return -ENOMEM;
    }
    vcha_kv_free(job->params);
    job->params = copy;
    job->interval_ms = interval;
    job->timeout_ms = timeout;
    if (job->sid == 0) {
        job_schedule(job, vcha_now_ms());
    }
    return 0;
}

int
vchad_jobs_add(struct vchad_jobs *jobs, const char *type, const char *id,
               const struct vcha_kv *params, enum vchad_add_result *what,
               char *why, size_t whylen)
{
    const struct vchad_job_type *t = vchad_jobs_type(jobs, type);
    struct vchad_job *job;
    long long interval, timeout, first;
    int rc;

    if (!id_valid(id)) {
        snprintf(why, whylen, "invalid job id");
        return -EINVAL;
    }
    if (t == NULL) {
        snprintf(why, whylen, "unknown job type '%s'", type ? type : "");
        return -EINVAL;
    }
    rc = params_check(t, params, &interval, &timeout, &first, why, whylen);
    if (rc < 0) {
        return rc;
    }
    job = job_find(jobs, id);
    if (job != NULL) {
        if (job->type != t) {
            snprintf(why, whylen, "job %s exists with type %s", id,
                     job->type->name);
            return -EEXIST;
        }
        if (job->removing) {
            snprintf(why, whylen, "job %s is being removed", id);
            return -EBUSY;
        }
        if (vcha_kv_equal(job->params, params, NULL)) {
            *what = VCHAD_UNCHANGED;
            return 0;
        }
        rc = job_update(job, params, interval, timeout);
        if (rc == 0) {
            vcha_notice("job %s: parameters updated", id);
            *what = VCHAD_UPDATED;
        }
        return rc;
    }
    job = job_new(jobs, t, id, params);
    if (job == NULL || job_insert(jobs, job) < 0) {
        job_free(job);
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    job->interval_ms = interval;
    job->timeout_ms = timeout;
    job_schedule(job, vcha_now_ms());
    if (first > 0 && interval > 0) {
        job->next_due = vcha_now_ms() + first; /* e.g. it was just restored */
    }
    vcha_notice("job %s (%s) added: every %lld ms, timeout %lld ms", id,
                t->name, interval, timeout);
    *what = VCHAD_ADDED;
    return 0;
}

/* ------------------------------------------------------------ health */

/* Set "<prefix><key>" in @p out. */
static int kv_setp(struct vcha_kv *out, const char *prefix, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
kv_setp(struct vcha_kv *out, const char *prefix, const char *key,
        const char *fmt, ...)
{
    char name[256], *value = NULL;
    va_list ap;
    int rc, n;

    snprintf(name, sizeof(name), "%s%s", prefix ? prefix : "", key);
    va_start(ap, fmt);
    n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -ENOMEM;
    }
    rc = vcha_kv_set(out, name, value);
    free(value);
    return rc;
}

static int
job_health(const struct vchad_job *job, struct vcha_kv *out, const char *p)
{
    int rc = 0;

    rc |= kv_setp(out, p, "id", "%s", job->id);
    rc |= kv_setp(out, p, "type", "%s", job->type->name);
    rc |= kv_setp(out, p, "state", "%s", vchad_job_state_name(job_state(job)));
    rc |= kv_setp(out, p, "running", "%d", job->sid != 0);
    rc |= kv_setp(out, p, "runs", "%llu", job->runs);
    rc |= kv_setp(out, p, "failures", "%llu", job->failures);
    rc |= kv_setp(out, p, "consecutive_failures", "%llu", job->consecutive);
    rc |= kv_setp(out, p, "last_error", "%s",
                  job->last_error ? job->last_error : "");
    rc |= kv_setp(out, p, "last_success", "%lld", job->last_success);
    rc |= kv_setp(out, p, "last_end", "%lld", job->last_end);
    rc |= kv_setp(out, p, "last_duration_ms", "%lld", job->last_duration);
    rc |= kv_setp(out, p, "last_exit", "%d", job->last_exit);
    rc |= kv_setp(out, p, "last_signal", "%d", job->last_signal);
    rc |= kv_setp(out, p, "interval_ms", "%lld", job->interval_ms);
    rc |= kv_setp(out, p, "timeout_ms", "%lld", job->timeout_ms);
    for (size_t i = 0; i < vcha_kv_count(job->figures); i++) {
        char key[256];

        snprintf(key, sizeof(key), "fig.%s", vcha_kv_key(job->figures, i));
        rc |= kv_setp(out, p, key, "%s", vcha_kv_value(job->figures, i));
    }
    return rc < 0 ? -ENOMEM : 0;
}

int
vchad_jobs_health(const struct vchad_jobs *jobs, const char *id,
                  struct vcha_kv *out, const char *prefix)
{
    const struct vchad_job *job = job_find(jobs, id);

    return job ? job_health(job, out, prefix) : -ENOENT;
}

int
vchad_jobs_state(const struct vchad_jobs *jobs, const char *id,
                 enum vchad_job_state *state)
{
    const struct vchad_job *job = job_find(jobs, id);

    if (job == NULL) {
        return -ENOENT;
    }
    *state = job_state(job);
    return 0;
}

int
vchad_jobs_status(const struct vchad_jobs *jobs, struct vcha_kv *out)
{
    int rc = vcha_kv_setf(out, "jobs", "%zu", jobs->n);

    for (size_t i = 0; rc == 0 && i < jobs->n; i++) {
        char prefix[32];

        snprintf(prefix, sizeof(prefix), "job.%zu.", i);
        rc = job_health(jobs->v[i], out, prefix);
    }
    return rc;
}

/* ------------------------------------------------------------ waiters */

static void
waiter_link(struct vchad_job *job, struct vchad_waiter *w)
{
    w->job = job;
    w->next = job->waiters;
    job->waiters = w;
}

void
vchad_waiter_cancel(struct vchad_waiter *w)
{
    if (w == NULL || w->job == NULL) {
        return;
    }
    for (struct vchad_waiter **pp = &w->job->waiters; *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->job = NULL;
    w->next = NULL;
}

/* Call the waiters for which @p pick is true, each once. */
static void
waiters_notify(struct vchad_job *job,
               bool (*pick)(struct vchad_waiter *w, unsigned long long run),
               unsigned long long run, int status, const char *error,
               const struct vcha_kv *health)
{
    struct vchad_waiter **pp = &job->waiters;

    while (*pp != NULL) {
        struct vchad_waiter *w = *pp;

        if (!pick(w, run)) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->job = NULL;
        w->next = NULL;
        w->done(w, status, error, health);
    }
}

static bool
pick_run_done(struct vchad_waiter *w, unsigned long long run)
{
    return !w->remove && w->run <= run;
}

static bool
pick_run(struct vchad_waiter *w, unsigned long long run)
{
    return !w->remove;
}

static bool
pick_any(struct vchad_waiter *w, unsigned long long run)
{
    return true;
}

int
vchad_jobs_run(struct vchad_jobs *jobs, const char *id, struct vchad_waiter *w)
{
    struct vchad_job *job = job_find(jobs, id);

    if (job == NULL) {
        return -ENOENT;
    }
    if (job->removing) {
        return -EBUSY;
    }
    w->remove = false;
    w->run = job->started_runs + 1;
    if (job->wanted_run < w->run) {
        job->wanted_run = w->run;
    }
    waiter_link(job, w);
    return 0;
}

/* ------------------------------------------------------------ children */

/*
 * Reset what a forked child inherits from the daemon.  The child leads a
 * session of its own: every program it starts, in whatever process group,
 * stays in that session, which session_signal() reaches.
 */
static void
child_reset(struct vchad_jobs *jobs)
{
    sigset_t none;
    int fd;

    setsid();
    vcha_log_forked();
    if (jobs->child_setup != NULL) {
        jobs->child_setup(jobs->child_ctx);
    }
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->out_fd >= 0) {
            close(jobs->v[i]->out_fd);
        }
    }
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
}

/* From "/proc/N/stat": the state letter and the session of process N. */
static bool
stat_read(const char *pid, char *state, pid_t *sid)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd, ppid, pgrp, session;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name may hold anything */
    if (p == NULL ||
        sscanf(p + 1, " %c %d %d %d", state, &ppid, &pgrp, &session) != 4) {
        return false;
    }
    *sid = (pid_t) session;
    return true;
}

/*
 * Whether process @p pid, whose main thread is a zombie, has other threads
 * still running (it lives on until they end).
 */
static bool
threads_left(const char *pid)
{
    char path[300];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%s/task", pid);
    d = opendir(path);
    while (d != NULL && n < 2 && (e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    if (d != NULL) {
        closedir(d);
    }
    return n > 1;
}

/*
 * Send @p sig to every live process of session @p sid: a worker or helper
 * and whatever it started, in any process group (lxc-checkpoint's CRIU,
 * rsync's receiver).  A session's id is not given to another process while
 * any process of the session lives, so no stranger is hit.  Returns how
 * many were alive (zombies do not count).
 */
static size_t
session_signal(pid_t sid, int sig)
{
    DIR *proc = opendir("/proc");
    struct dirent *d;
    size_t n = 0;

    if (proc == NULL) {
        /* no /proc: the worker's group at least */
        return kill(-sid, sig) == 0 || kill(sid, sig) == 0;
    }
    while ((d = readdir(proc)) != NULL) {
        char state;
        pid_t s;

        if (d->d_name[0] < '1' || d->d_name[0] > '9' ||
            !stat_read(d->d_name, &state, &s) || s != sid ||
            ((state == 'Z' || state == 'X') && !threads_left(d->d_name))) {
            continue;
        }
        kill((pid_t) atoi(d->d_name), sig);
        n++;
    }
    closedir(proc);
    return n;
}

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
            session_signal(jobs->helpers[i].pid, SIGKILL);
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
        child_reset(jobs);
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
static void
job_publish(struct vchad_jobs *jobs, struct vchad_job *job, bool ok)
{
    struct vcha_kv *attrs = NULL;

    if (job->type->publish == NULL) {
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
    }
    vcha_kv_free(attrs);
}

/* The job goes: delete what it published (job->published has "" values). */
static void
job_unpublish(struct vchad_jobs *jobs, struct vchad_job *job)
{
    if (vcha_kv_count(job->published) == 0) {
        return;
    }
    helpers_kill(jobs, job->serial); /* a late set must not follow */
    helper_spawn(jobs, job->serial, job->published);
}

/*
 * SIGTERM in a worker (its timeout, its job's removal, the daemon's end or
 * death): kill the program under way and start no other, so that the run
 * fails at once and undoes what it must (a frozen container is thawed).
 * The daemon's SIGKILL follows VCHAD_KILL_GRACE_MS later; should the
 * daemon be dead, SIGALRM (whose default ends the process) does it.
 */
static void
worker_stop(int sig)
{
    (void) sig;
    vcha_exec_cancel();
    alarm((VCHAD_KILL_GRACE_MS + 999) / 1000);
}

/* In the worker: one run, then exit with its errno. */
static void
worker_main(struct vchad_jobs *jobs, struct vchad_job *job, int fd,
            pid_t parent)
{
    struct sigaction sa = {.sa_handler = worker_stop, .sa_flags = SA_RESTART};
    int rc;

    child_reset(jobs);
    sigaction(SIGTERM, &sa, NULL);
    /* a worker does not outlive the daemon that waits for it */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
        _exit(EINTR);
    }
    rc = job->type->run(job, fd);
    if (rc < 0) {
        rc = -rc;
    }
    _exit(rc > 255 ? 255 : rc);
}

/* ------------------------------------------------------------ runs */

static void job_remove_now(struct vchad_jobs *jobs, struct vchad_job *job);

/* Keep the outcome of the run that just ended in the job's health. */
static void
health_update(struct vchad_job *job, const struct outcome *o,
              struct vcha_kv *figures, long long now)
{
    bool was_failing = job->consecutive > 0;

    job->runs++;
    job->last_end = vcha_realtime_ms();
    job->last_duration = now - job->started;
    job->last_exit = o->exit_code;
    job->last_signal = o->signal;
    vcha_kv_free(job->figures);
    job->figures = figures;
    if (o->ok) {
        job->consecutive = 0;
        job->last_success = job->last_end;
        if (was_failing) {
            vcha_notice("job %s: run %llu succeeded again", job->id,
                        job->started_runs);
        }
        vcha_debug("job %s: run %llu succeeded in %lld ms", job->id,
                   job->started_runs, job->last_duration);
        return;
    }
    job->failures++;
    job->consecutive++;
    free(job->last_error);
    job->last_error = strdup(o->error);
    vcha_warn("job %s: run %llu failed (%llu in a row): %s", job->id,
              job->started_runs, job->consecutive, o->error);
}

/* Record how a run ended, tell its waiters, schedule the next. */
static void
run_record(struct vchad_jobs *jobs, struct vchad_job *job,
           const struct outcome *o, struct vcha_kv *figures)
{
    long long now = vcha_now_ms();
    struct vcha_kv *health = NULL;

    health_update(job, o, figures, now);
    job_publish(jobs, job, o->ok);
    job_schedule(job, now);
    health = vcha_kv_new();
    if (health != NULL) {
        job_health(job, health, NULL);
    }
    waiters_notify(job, pick_run_done, job->started_runs, o->status,
                   o->ok ? NULL : o->error, health);
    vcha_kv_free(health);
    if (job->removing) {
        job_remove_now(jobs, job);
    }
}

static int
run_start(struct vchad_jobs *jobs, struct vchad_job *job)
{
    int p[2];
    pid_t pid, parent = getpid();

    if (pipe2(p, O_CLOEXEC) < 0) {
        return -errno;
    }
    /* before the fork: the worker sees its deadline */
    job->started = vcha_now_ms();
    job->deadline = job->started + job->timeout_ms;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        int e = errno;

        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        close(p[0]);
        worker_main(jobs, job, p[1], parent);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    job->pid = pid;
    job->sid = pid; /* the worker's session, once it has made it */
    job->out_fd = p[0];
    job->out_len = 0;
    job->out_truncated = false;
    job->kill_at = 0;
    job->timed_out = job->killed = false;
    job->started_runs++;
    vcha_debug("job %s: run %llu started (worker %d)", job->id,
               job->started_runs, (int) pid);
    return 0;
}

/* A worker could not be started: that run failed at once. */
static void
run_start_failed(struct vchad_jobs *jobs, struct vchad_job *job, int rc)
{
    struct outcome o = {.exit_code = -1, .status = -EIO};

    job->started_runs++;
    job->started = vcha_now_ms();
    snprintf(o.error, sizeof(o.error), "cannot start a worker: %s",
             strerror(-rc));
    run_record(jobs, job, &o, vcha_kv_new());
    if (job_find(jobs, job->id) == job && job->next_due < LLONG_MAX) {
        job->next_due = vcha_now_ms() + FORK_RETRY_MS;
    }
}

/* Read what the worker wrote so far.  Returns false at end of file. */
static bool
out_read(struct vchad_job *job)
{
    char chunk[4096];

    for (;;) {
        ssize_t n = read(job->out_fd, chunk, sizeof(chunk));
        size_t keep;

        if (n < 0) {
            return errno == EINTR || errno == EAGAIN;
        }
        if (n == 0) {
            return false;
        }
        keep = (size_t) n;
        if (job->out_len + keep > VCHAD_MAX_FIGURES) {
            keep = VCHAD_MAX_FIGURES - job->out_len;
            job->out_truncated = true;
        }
        if (keep > 0) {
            char *nb = realloc(job->out, job->out_len + keep + 1);

            if (nb == NULL) {
                job->out_truncated = true;
                continue;
            }
            job->out = nb;
            memcpy(job->out + job->out_len, chunk, keep);
            job->out_len += keep;
        }
    }
}

/* The figures of a run; its "error" line goes to @p o. */
static struct vcha_kv *
out_parse(struct vchad_job *job, struct outcome *o)
{
    struct vcha_kv *figures = vcha_kv_new();
    size_t off = 0;

    while (figures != NULL && off < job->out_len) {
        const char *line = job->out + off;
        const char *nl = memchr(line, '\n', job->out_len - off);
        size_t len;
        char *error = NULL;

        if (nl == NULL) {
            break; /* a line cut short */
        }
        len = (size_t) (nl - line);
        off += len + 1;
        if (len >= 6 && strncmp(line, "error=", 6) == 0) {
            if (vcha_kv_unescape(line + 6, len - 6, &error) == 0) {
                snprintf(o->error, sizeof(o->error), "%s", error);
            }
            free(error);
        } else if (vcha_kv_parse_line(figures, line, len) < 0) {
            vcha_debug("job %s: ignoring figure line '%.*s'", job->id,
                       (int) (len > 80 ? 80 : len), line);
        }
    }
    if (job->out_truncated) {
        vcha_warn("job %s: figures beyond %d bytes dropped", job->id,
                  VCHAD_MAX_FIGURES);
    }
    return figures;
}

/* How the worker's wait status turns into an outcome. */
static void
outcome_classify(const struct vchad_job *job, int status, struct outcome *o)
{
    char given[sizeof(o->error)];

    snprintf(given, sizeof(given), "%s", o->error);
    o->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    o->ok = o->exit_code == 0 && !job->timed_out && !job->killed;
    o->status = o->ok ? 0 : job->timed_out ? -ETIME : -EIO;
    if (job->timed_out) {
        snprintf(o->error, sizeof(o->error), "timed out after %lld ms",
                 job->timeout_ms);
    } else if (job->killed) {
        snprintf(o->error, sizeof(o->error), "killed: the job was removed");
    } else if (o->signal != 0) {
        snprintf(o->error, sizeof(o->error), "worker killed by signal %d (%s)",
                 o->signal, strsignal(o->signal));
    } else if (o->exit_code != 0 && given[0] == '\0') {
        snprintf(o->error, sizeof(o->error), "exit status %d (%s)",
                 o->exit_code, strerror(o->exit_code));
    } else if (o->ok) {
        o->error[0] = '\0';
    }
}

/* The run is over: its worker exited (job->status), its session is empty. */
static void
run_end(struct vchad_jobs *jobs, struct vchad_job *job)
{
    struct outcome o = {0};
    struct vcha_kv *figures;
    int status = job->status;

    job->pid = 0;
    job->sid = 0;
    if (job->out_fd >= 0) {
        out_read(job);
        close(job->out_fd);
        job->out_fd = -1;
    }
    figures = out_parse(job, &o);
    outcome_classify(job, status, &o);
    free(job->out);
    job->out = NULL;
    job->out_len = 0;
    run_record(jobs, job, &o, figures ? figures : vcha_kv_new());
}

/* ------------------------------------------------------------ removal */

static void
job_remove_now(struct vchad_jobs *jobs, struct vchad_job *job)
{
    bool found;
    size_t i = job_index(jobs, job->id, &found);

    waiters_notify(job, pick_run, 0, -ECANCELED, "the job was removed", NULL);
    waiters_notify(job, pick_any, 0, 0, NULL, NULL);
    job_unpublish(jobs, job);
    if (found && jobs->v[i] == job) {
        memmove(&jobs->v[i], &jobs->v[i + 1],
                (jobs->n - i - 1) * sizeof(*jobs->v));
        jobs->n--;
    }
    vcha_notice("job %s removed", job->id);
    job_free(job);
}

int
vchad_jobs_remove(struct vchad_jobs *jobs, const char *id, long long grace_ms,
                  struct vchad_waiter *w)
{
    struct vchad_job *job = job_find(jobs, id);
    long long by = vcha_now_ms() + (grace_ms > 0 ? grace_ms : 0);

    if (job == NULL) {
        return 0;
    }
    if (job->sid == 0) {
        job_remove_now(jobs, job);
        return 0;
    }
    if (!job->removing || by < job->remove_by) {
        job->remove_by = by;
    }
    job->removing = true;
    if (w != NULL) {
        w->remove = true;
        waiter_link(job, w);
    }
    vcha_info("job %s: removing once run %llu ends", id, job->started_runs);
    return -EINPROGRESS;
}

/* ------------------------------------------------------------ the loop */

static long long
min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

/* SIGKILL for a run: its worker, and everything of its session. */
static void
run_kill(struct vchad_job *job)
{
    if (job->pid != 0) {
        kill(job->pid, SIGKILL); /* it may not have made its session yet */
    }
    session_signal(job->sid, SIGKILL);
}

/*
 * Timeouts, grace periods and kill escalation of a run under way: SIGTERM
 * to the worker, which stops its program and cleans up, then SIGKILL to
 * all of the run.
 */
static long long
run_police(struct vchad_job *job, long long now)
{
    if (!job->timed_out && !job->killed && now >= job->deadline) {
        vcha_warn("job %s: run %llu exceeded its timeout of %lld ms; "
                  "killing it",
                  job->id, job->started_runs, job->timeout_ms);
        job->timed_out = true;
    } else if (job->removing && !job->timed_out && !job->killed &&
               now >= job->remove_by) {
        vcha_warn("job %s: run %llu still going after the grace period; "
                  "killing it",
                  job->id, job->started_runs);
        job->killed = true;
    } else if (job->kill_at != 0 && now >= job->kill_at) {
        run_kill(job);
        job->kill_at = LLONG_MAX;
    }
    if ((job->timed_out || job->killed) && job->kill_at == 0) {
        kill(job->pid, SIGTERM);
        job->kill_at = now + VCHAD_KILL_GRACE_MS;
    }
    if (job->kill_at != 0) {
        return job->kill_at;
    }
    return job->removing ? min_ll(job->deadline, job->remove_by)
                         : job->deadline;
}

/*
 * The worker has exited but programs of its session live on (killed, not
 * dead yet: a task blocked in the kernel dies only when the kernel lets
 * go).  The run is not over until they are gone: the next run, or a stop
 * that takes the store after a job-remove, must not run beside them.
 */
static long long
run_linger(struct vchad_jobs *jobs, struct vchad_job *job, long long now)
{
    if (session_signal(job->sid, SIGKILL) == 0) {
        run_end(jobs, job);
        return now;
    }
    if (!job->linger_warned && now - job->reaped_at > VCHAD_KILL_GRACE_MS) {
        vcha_warn("job %s: programs of run %llu still alive after its "
                  "worker ended (blocked in the kernel?); waiting for them",
                  job->id, job->started_runs);
        job->linger_warned = true;
    }
    return now + LINGER_POLL_MS;
}

static long long
job_tick(struct vchad_jobs *jobs, struct vchad_job *job, long long now)
{
    int rc;

    if (job->sid != 0 && job->pid == 0) {
        return run_linger(jobs, job, now);
    }
    if (job->pid != 0) {
        return run_police(job, now);
    }
    if (job->removing ||
        (job->started_runs >= job->wanted_run && now < job->next_due)) {
        return job->removing ? LLONG_MAX : job->next_due;
    }
    rc = run_start(jobs, job);
    if (rc < 0) {
        run_start_failed(jobs, job, rc);
        return now + FORK_RETRY_MS;
    }
    return job->deadline;
}

long long
vchad_jobs_tick(struct vchad_jobs *jobs)
{
    long long now = vcha_now_ms(), next = LLONG_MAX;

    for (size_t i = 0; i < jobs->n; i++) {
        struct vchad_job *job = jobs->v[i];

        next = min_ll(next, job_tick(jobs, job, now));
        if (i < jobs->n && jobs->v[i] != job) {
            i--; /* it was removed: the next one moved here */
        }
    }
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        if (now >= jobs->helpers[i].kill_at) {
            kill(-jobs->helpers[i].pid, SIGKILL);
            jobs->helpers[i].kill_at = LLONG_MAX;
        }
        next = min_ll(next, jobs->helpers[i].kill_at);
    }
    return next;
}

size_t
vchad_jobs_npoll(const struct vchad_jobs *jobs)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n; i++) {
        n += jobs->v[i]->out_fd >= 0;
    }
    return n;
}

size_t
vchad_jobs_pollfds(const struct vchad_jobs *jobs, struct pollfd *fds,
                   size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n && n < max; i++) {
        if (jobs->v[i]->out_fd >= 0) {
            fds[n++] =
                (struct pollfd){.fd = jobs->v[i]->out_fd, .events = POLLIN};
        }
    }
    return n;
}

void
vchad_jobs_read(struct vchad_jobs *jobs, const struct pollfd *fds, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (fds[k].revents == 0) {
            continue;
        }
        for (size_t i = 0; i < jobs->n; i++) {
            struct vchad_job *job = jobs->v[i];

            if (job->out_fd == fds[k].fd && !out_read(job)) {
                close(job->out_fd); /* the run ends when the worker does */
                job->out_fd = -1;
            }
        }
    }
}

static struct vchad_job *
job_by_pid(const struct vchad_jobs *jobs, pid_t pid)
{
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->pid == pid) {
            return jobs->v[i];
        }
    }
    return NULL;
}

/* The next exited child, not yet reaped: its pid, or 0. */
static pid_t
child_exited(void)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
        return 0;
    }
    return info.si_pid;
}

int
vchad_jobs_reap(struct vchad_jobs *jobs)
{
    int status, n = 0, h;
    pid_t pid;

    while ((pid = child_exited()) > 0) {
        struct vchad_job *job = job_by_pid(jobs, pid);

        h = helper_find(jobs, pid);
        if (waitpid(pid, &status, 0) != pid) {
            break;
        }
        n++;
        if (job != NULL) {
            job->pid = 0;
            job->status = status;
            job->reaped_at = vcha_now_ms();
            job->linger_warned = false;
            if (session_signal(job->sid, SIGKILL) == 0) {
                run_end(jobs, job);
            } else {
                vcha_notice("job %s: killing what run %llu left running",
                            job->id, job->started_runs);
            }
        } else if (h >= 0) {
            session_signal(pid, SIGKILL); /* what the helper left */
            jobs->helpers[h] = jobs->helpers[--jobs->n_helpers];
        }
    }
    return n;
}

size_t
vchad_jobs_children(const struct vchad_jobs *jobs)
{
    size_t n = jobs->n_helpers;

    for (size_t i = 0; i < jobs->n; i++) {
        n += jobs->v[i]->pid != 0;
    }
    return n;
}

void
vchad_jobs_kill_all(struct vchad_jobs *jobs)
{
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->sid != 0) {
            run_kill(jobs->v[i]);
        }
    }
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        session_signal(jobs->helpers[i].pid, SIGKILL);
    }
}

/* Reap the workers and helpers that have exited, not waiting. */
static void
children_reap(struct vchad_jobs *jobs)
{
    int status;

    for (size_t i = 0; i < jobs->n; i++) {
        pid_t pid = jobs->v[i]->pid;

        if (pid != 0 && waitpid(pid, &status, WNOHANG) != 0) {
            jobs->v[i]->pid = 0;
        }
    }
    for (size_t i = 0; i < jobs->n_helpers;) {
        if (waitpid(jobs->helpers[i].pid, &status, WNOHANG) != 0) {
            jobs->helpers[i] = jobs->helpers[--jobs->n_helpers];
        } else {
            i++;
        }
    }
}

/* Whether any run's session or helper still has a live process. */
static bool
sessions_alive(const struct vchad_jobs *jobs)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n; i++) {
        n += jobs->v[i]->sid != 0 ? session_signal(jobs->v[i]->sid, 0) : 0;
    }
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        n += session_signal(jobs->helpers[i].pid, 0);
    }
    return n > 0;
}

void
vchad_jobs_stop(struct vchad_jobs *jobs)
{
    long long until = vcha_now_ms() + VCHAD_KILL_GRACE_MS;
    bool any = false;

    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->pid != 0) {
            kill(jobs->v[i]->pid, SIGTERM); /* it cleans up, then exits */
            any = true;
        }
    }
    while (any && vchad_jobs_children(jobs) > jobs->n_helpers &&
           vcha_now_ms() < until) {
        vcha_sleep_ms(10);
        children_reap(jobs);
    }
    until = vcha_now_ms() + REAP_WAIT_MS;
    do {
        vchad_jobs_kill_all(jobs);
        children_reap(jobs);
        if (vchad_jobs_children(jobs) == 0 && !sessions_alive(jobs)) {
            break;
        }
        vcha_sleep_ms(10);
    } while (vcha_now_ms() < until);
    for (size_t i = 0; i < jobs->n; i++) {
        jobs->v[i]->sid = 0;
    }
}

void
vchad_jobs_free(struct vchad_jobs *jobs)
{
    if (jobs == NULL) {
        return;
    }
    vchad_jobs_stop(jobs);
    for (size_t i = 0; i < jobs->n; i++) {
        for (struct vchad_waiter *w = jobs->v[i]->waiters; w != NULL;) {
            struct vchad_waiter *next = w->next;

            w->job = NULL;
            w->next = NULL;
            w = next;
        }
        job_free(jobs->v[i]);
    }
    free(jobs->v);
    free(jobs);
}
