/*
 * vchad - the job registry: ids, job-add, job-remove, health, waiters,
 * scheduling, and the tick that starts runs and enforces their timeouts.
 * The processes of a run are vchad_worker.c's; node attributes are
 * vchad_publish.c's.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/clock.h>
#include <vcha/log.h>

#include "vchad_jobs_private.h"

static enum vchad_job_state
job_state(const struct vchad_job *job)
{
    if (job->runs == 0) {
        return VCHAD_JOB_STARTING;
    }
    return job->consecutive > 0 ? VCHAD_JOB_FAILING : VCHAD_JOB_OK;
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

struct vchad_job *
vchad_job_find(const struct vchad_jobs *jobs, const char *id)
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
    free(job->report_error);
    vcha_kv_free(job->pending);
    vcha_kv_free(job->figures);
    vcha_kv_free(job->published);
    free(job);
}

bool
vchad_job_resident(const struct vchad_job *job)
{
    return job->type->kind == VCHAD_JOB_RESIDENT;
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

int
vchad_params_check(const struct vchad_job_type *t, const struct vcha_kv *params,
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
    if (rc == 0 && t->kind == VCHAD_JOB_RESIDENT) {
        rc = vchad_resident_params(params, NULL, why, len);
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
    if (vchad_job_resident(job)) {
        return; /* restarts are vchad_resident.c's */
    }
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
job_update(struct vchad_jobs *jobs, struct vchad_job *job,
           const struct vcha_kv *params, long long interval, long long timeout)
{
    struct vcha_kv *copy = vcha_kv_dup(params);

    if (copy == NULL) {
        return -ENOMEM;
    }
    vcha_kv_free(job->params);
    job->params = copy;
    job->interval_ms = interval;
    job->timeout_ms = timeout;
    if (vchad_job_resident(job)) {
        vchad_resident_params(params, job, NULL, 0);
        vchad_resident_replace(jobs, job);
    } else if (job->sid == 0) {
        job_schedule(job, vcha_now_ms());
    }
    return 0;
}

/* A new job: when it starts, its first run or its process. */
static void
job_begin(struct vchad_job *job, long long interval, long long timeout,
          long long first)
{
    job->interval_ms = interval;
    job->timeout_ms = timeout;
    if (vchad_job_resident(job)) {
        vchad_resident_params(job->params, job, NULL, 0);
        job->next_due = vcha_now_ms();
        vcha_notice("job %s (%s) added: resident, liveness timeout %lld ms",
                    job->id, job->type->name, timeout);
        return;
    }
    job_schedule(job, vcha_now_ms());
    if (first > 0 && interval > 0) {
        job->next_due = vcha_now_ms() + first; /* e.g. it was just restored */
    }
    vcha_notice("job %s (%s) added: every %lld ms, timeout %lld ms", job->id,
                job->type->name, interval, timeout);
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
    if (t->kind == VCHAD_JOB_RESIDENT && jobs->run_dir == NULL) {
        snprintf(why, whylen, "no run directory for resident jobs");
        return -ENOTSUP;
    }
    rc =
        vchad_params_check(t, params, &interval, &timeout, &first, why, whylen);
    if (rc < 0) {
        return rc;
    }
    job = vchad_job_find(jobs, id);
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
        rc = job_update(jobs, job, params, interval, timeout);
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
    job_begin(job, interval, timeout, first);
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
    if (vchad_job_resident(job)) {
        rc |= kv_setp(out, p, "kind", "resident");
        rc |= kv_setp(out, p, "pid", "%d", (int) job->pid);
        rc |= kv_setp(out, p, "adopted", "%d", job->adopted);
        rc |= kv_setp(out, p, "restarts", "%llu", job->restarts);
        rc |= kv_setp(out, p, "reports", "%llu", job->reports);
        rc |= kv_setp(out, p, "backoff_ms", "%lld", job->backoff);
    }
    return rc < 0 ? -ENOMEM : 0;
}

int
vchad_jobs_health(const struct vchad_jobs *jobs, const char *id,
                  struct vcha_kv *out, const char *prefix)
{
    const struct vchad_job *job = vchad_job_find(jobs, id);

    return job ? job_health(job, out, prefix) : -ENOENT;
}

int
vchad_jobs_state(const struct vchad_jobs *jobs, const char *id,
                 enum vchad_job_state *state)
{
    const struct vchad_job *job = vchad_job_find(jobs, id);

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
    struct vchad_job *job = vchad_job_find(jobs, id);

    if (job == NULL) {
        return -ENOENT;
    }
    if (job->removing) {
        return -EBUSY;
    }
    w->remove = false;
    if (vchad_job_resident(job)) {
        w->run = job->runs + 1; /* its next report, or its loss */
    } else {
        w->run = job->started_runs + 1;
        if (job->wanted_run < w->run) {
            job->wanted_run = w->run;
        }
    }
    waiter_link(job, w);
    return 0;
}
/* ------------------------------------------------------------ runs */

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
void
vchad_run_record(struct vchad_jobs *jobs, struct vchad_job *job,
                 const struct outcome *o, struct vcha_kv *figures)
{
    long long now = vcha_now_ms();
    struct vcha_kv *health = NULL;

    health_update(job, o, figures, now);
    vchad_job_publish(jobs, job, o->ok);
    job_schedule(job, now);
    health = vcha_kv_new();
    if (health != NULL) {
        job_health(job, health, NULL);
    }
    waiters_notify(job, pick_run_done,
                   vchad_job_resident(job) ? job->runs : job->started_runs,
                   o->status, o->ok ? NULL : o->error, health);
    vcha_kv_free(health);
    if (job->removing && !vchad_job_resident(job)) {
        vchad_job_remove_now(jobs, job);
    }
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
    vchad_run_record(jobs, job, &o, vcha_kv_new());
    if (vchad_job_find(jobs, job->id) == job && job->next_due < LLONG_MAX) {
        job->next_due = vcha_now_ms() + FORK_RETRY_MS;
    }
}

/* ------------------------------------------------------------ removal */

/* Take @p job out of the array of jobs. */
static void
job_unlink(struct vchad_jobs *jobs, struct vchad_job *job)
{
    bool found;
    size_t i = job_index(jobs, job->id, &found);

    if (found && jobs->v[i] == job) {
        memmove(&jobs->v[i], &jobs->v[i + 1],
                (jobs->n - i - 1) * sizeof(*jobs->v));
        jobs->n--;
    }
}

/* Forget the waiters of @p job without calling them. */
static void
waiters_drop(struct vchad_job *job)
{
    for (struct vchad_waiter *w = job->waiters; w != NULL;) {
        struct vchad_waiter *next = w->next;

        w->job = NULL;
        w->next = NULL;
        w = next;
    }
    job->waiters = NULL;
}

void
vchad_job_drop(struct vchad_jobs *jobs, struct vchad_job *job)
{
    job_unlink(jobs, job);
    waiters_drop(job);
    job_free(job);
}

void
vchad_job_remove_now(struct vchad_jobs *jobs, struct vchad_job *job)
{
    waiters_notify(job, pick_run, 0, -ECANCELED, "the job was removed", NULL);
    waiters_notify(job, pick_any, 0, 0, NULL, NULL);
    vchad_job_unpublish(jobs, job);
    if (vchad_job_resident(job)) {
        vchad_resident_forget(jobs, job);
    }
    job_unlink(jobs, job);
    vcha_notice("job %s removed", job->id);
    job_free(job);
}

int
vchad_jobs_remove(struct vchad_jobs *jobs, const char *id, long long grace_ms,
                  struct vchad_waiter *w)
{
    struct vchad_job *job = vchad_job_find(jobs, id);
    long long by = vcha_now_ms() + (grace_ms > 0 ? grace_ms : 0);

    if (job == NULL) {
        return 0;
    }
    if (job->sid == 0) {
        vchad_job_remove_now(jobs, job);
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
    if (vchad_job_resident(job)) {
        /* gone for good from now on, even if the daemon stops before its
         * process does: the next daemon must not bring it back */
        vchad_resident_forget(jobs, job);
        vcha_info("job %s: stopping its process %d", id, (int) job->sid);
    } else {
        vcha_info("job %s: removing once run %llu ends", id, job->started_runs);
    }
    return -EINPROGRESS;
}

/* ------------------------------------------------------------ the loop */

static long long
job_tick(struct vchad_jobs *jobs, struct vchad_job *job, long long now)
{
    int rc;

    if (vchad_job_resident(job)) {
        return vchad_resident_tick(jobs, job, now);
    }
    if (job->sid != 0 && job->pid == 0) {
        return vchad_run_linger(jobs, job, now);
    }
    if (job->pid != 0) {
        return vchad_run_police(job, now);
    }
    if (job->removing ||
        (job->started_runs >= job->wanted_run && now < job->next_due)) {
        return job->removing ? LLONG_MAX : job->next_due;
    }
    rc = vchad_run_start(jobs, job);
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

        next = vchad_min_ll(next, job_tick(jobs, job, now));
        if (i < jobs->n && jobs->v[i] != job) {
            i--; /* it was removed: the next one moved here */
        }
    }
    return vchad_min_ll(next, vchad_helpers_tick(jobs, now));
}

void
vchad_jobs_free(struct vchad_jobs *jobs)
{
    if (jobs == NULL) {
        return;
    }
    vchad_jobs_stop(jobs);
    for (size_t i = 0; i < jobs->n; i++) {
        waiters_drop(jobs->v[i]);
        job_free(jobs->v[i]);
    }
    free(jobs->v);
    free(jobs->run_dir);
    free(jobs);
}
