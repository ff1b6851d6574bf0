/*
 * Unit tests for the daemon: the job registry (daemon/vchad_jobs.c and the
 * files beside it, resident jobs included) driven
 * by a small loop of its own, the protocol's commands
 * (daemon/vchad_request.c), and the server (daemon/vchad_server.c) run in
 * a child process and asked through the client of libcommon.  The jobs are
 * of the types in tests/test_types.c.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs stdarg.h, stddef.h, setjmp.h and stdint.h first */
#include <cmocka.h>

#include <vcha/ckptjob.h>
#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/vchad.h>

#include "../../libcommon/tests/test-util.h"
#include "../vchad_jobs.h"
#include "../vchad_request.h"
#include "../vchad_server.h"

#define WAIT_MS 15000 /* for what should happen long before */

/* ------------------------------------------------------------ helpers */

/* A waiter that records how it was called. */
struct rec {
    struct vchad_waiter w;
    int calls;
    int status;
    char error[256];
    struct vcha_kv *health;
};

static void
rec_done(struct vchad_waiter *w, int status, const char *error,
         const struct vcha_kv *health)
{
    struct rec *r = (struct rec *) w;

    r->calls++;
    r->status = status;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
    vcha_kv_free(r->health);
    r->health = health ? vcha_kv_dup(health) : NULL;
}

static void
rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    r->w.done = rec_done;
}

static void
rec_clear(struct rec *r)
{
    vchad_waiter_cancel(&r->w);
    vcha_kv_free(r->health);
    r->health = NULL;
}

/* One round of a daemon's loop, sleeping at most @p ms. */
static void
loop_once(struct vchad_jobs *jobs, long long ms)
{
    struct pollfd fds[64];
    long long next = vchad_jobs_tick(jobs), wait = next - vcha_now_ms();
    size_t n = vchad_jobs_pollfds(jobs, fds, 64);

    if (wait > ms) {
        wait = ms;
    }
    poll(fds, n, wait > 0 ? (int) wait : 0);
    vchad_jobs_read(jobs, fds, n);
    vchad_jobs_reap(jobs);
}

/* Run the loop until @p r has been called (or WAIT_MS passed). */
static void
loop_until_called(struct vchad_jobs *jobs, const struct rec *r)
{
    long long until = vcha_now_ms() + WAIT_MS;

    while (r->calls == 0 && vcha_now_ms() < until) {
        loop_once(jobs, 10);
    }
    assert_int_equal(r->calls, 1);
}

/* Run the loop for @p ms. */
static void
loop_for(struct vchad_jobs *jobs, long long ms)
{
    long long until = vcha_now_ms() + ms;

    while (vcha_now_ms() < until) {
        loop_once(jobs, 5);
    }
}

/* Parameters from "k=v" strings, NULL-terminated. */
static struct vcha_kv *
params_of(const char *first, ...)
{
    struct vcha_kv *kv = vcha_kv_new();
    va_list ap;

    va_start(ap, first);
    for (const char *p = first; p != NULL; p = va_arg(ap, const char *)) {
        assert_int_equal(vcha_kv_parse_line(kv, p, strlen(p)), 0);
    }
    va_end(ap);
    return kv;
}

/* Add job @p id of type "test" with @p params (freed). */
static void
add(struct vchad_jobs *jobs, const char *id, struct vcha_kv *params)
{
    enum vchad_add_result what;
    char why[256] = "";

    assert_int_equal(
        vchad_jobs_add(jobs, "test", id, params, &what, why, sizeof(why)), 0);
    vcha_kv_free(params);
}

/* Run job @p id once and wait for that run; @p r gets the outcome. */
static void
run_once(struct vchad_jobs *jobs, const char *id, struct rec *r)
{
    rec_init(r);
    assert_int_equal(vchad_jobs_run(jobs, id, &r->w), 0);
    loop_until_called(jobs, r);
}

static long long
health_ll(const struct vchad_jobs *jobs, const char *id, const char *key)
{
    struct vcha_kv *h = vcha_kv_new();
    long long v = -1;

    assert_int_equal(vchad_jobs_health(jobs, id, h, NULL), 0);
    assert_int_equal(vcha_kv_get_ll(h, key, &v), 0);
    vcha_kv_free(h);
    return v;
}

static char *
health_str(const struct vchad_jobs *jobs, const char *id, const char *key)
{
    struct vcha_kv *h = vcha_kv_new();
    char *v = NULL;

    assert_int_equal(vchad_jobs_health(jobs, id, h, NULL), 0);
    assert_non_null(vcha_kv_get(h, key));
    v = strdup(vcha_kv_get(h, key));
    vcha_kv_free(h);
    return v;
}

static int
jobs_setup(void **state)
{
    struct vchad_jobs *jobs = vchad_jobs_new(vchad_job_types);

    *state = jobs;
    return jobs ? 0 : -1;
}

/* A freezer cgroup a test froze: thawed and removed however it ended. */
static char frozen_cg[64];

static int
jobs_teardown(void **state)
{
    if (frozen_cg[0] != '\0') {
        char path[96];

        snprintf(path, sizeof(path), "%s/freezer.state", frozen_cg);
        test_write_file(path, "THAWED\n");
    }
    vchad_jobs_free(*state);
    if (frozen_cg[0] != '\0') {
        rmdir(frozen_cg);
        frozen_cg[0] = '\0';
    }
    return 0;
}

/* ------------------------------------------------------------ adding */

static void
test_types_and_accessors(void **state)
{
    struct vchad_jobs *jobs = *state;

    assert_non_null(vchad_jobs_type(jobs, "test"));
    assert_non_null(vchad_jobs_type(jobs, "other"));
    assert_null(vchad_jobs_type(jobs, "nope"));
    assert_null(vchad_jobs_type(jobs, NULL));
    assert_string_equal(vchad_job_state_name(VCHAD_JOB_STARTING), "starting");
    assert_string_equal(vchad_job_state_name(VCHAD_JOB_OK), "ok");
    assert_string_equal(vchad_job_state_name(VCHAD_JOB_FAILING), "failing");
}

static void
test_add_refuses_bad_jobs(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *p = vcha_kv_new();
    enum vchad_add_result what;
    char why[256], longid[200];

    assert_int_equal(
        vchad_jobs_add(jobs, "nope", "a", p, &what, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "unknown job type 'nope'");
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "", p, &what, why, sizeof(why)), -EINVAL);
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "a b", p, &what, why, sizeof(why)),
        -EINVAL);
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(
        vchad_jobs_add(jobs, "test", longid, p, &what, why, sizeof(why)),
        -EINVAL);
    assert_string_equal(why, "invalid job id");
    vcha_kv_set(p, "bad", "1");
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "a", p, &what, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "bad is not allowed"); /* the type's reason */
    vcha_kv_free(p);
    p = params_of("interval_ms=soon", NULL);
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "a", p, &what, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "interval_ms"));
    vcha_kv_free(p);
    p = params_of("timeout_ms=0", NULL);
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "a", p, &what, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "timeout_ms"));
    vcha_kv_free(p);
    assert_int_equal(vchad_jobs_count(jobs), 0);
}

/* The longest checkpoint interval criuct takes, with the timeout it derives. */
static void
test_add_accepts_what_criuct_derives(void **state)
{
    struct vchad_jobs *jobs = *state;
    enum vchad_add_result what;
    char why[256] = "", t[64];
    struct vcha_kv *p;

    snprintf(t, sizeof(t), "timeout_ms=%lld",
             vcha_ckpt_job_timeout_ms(86400000));
    p = params_of("interval_ms=86400000", t, NULL);
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "ct", p, &what, why, sizeof(why)), 0);
    vcha_kv_free(p);
}

static void
test_add_is_idempotent_and_updates(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *p = params_of("interval_ms=0", "echo=one", NULL);
    enum vchad_add_result what;
    char why[256];

    assert_int_equal(
        vchad_jobs_add(jobs, "test", "web:0", p, &what, why, sizeof(why)), 0);
    assert_int_equal(what, VCHAD_ADDED);
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "web:0", p, &what, why, sizeof(why)), 0);
    assert_int_equal(what, VCHAD_UNCHANGED);
    vcha_kv_set(p, "echo", "two");
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "web:0", p, &what, why, sizeof(why)), 0);
    assert_int_equal(what, VCHAD_UPDATED);
    assert_int_equal(
        vchad_jobs_add(jobs, "other", "web:0", p, &what, why, sizeof(why)),
        -EEXIST);
    assert_string_equal(why, "job web:0 exists with type test");
    assert_int_equal(vchad_jobs_count(jobs), 1);
    vcha_kv_free(p);
}

static void
test_health_of_a_new_job(void **state)
{
    struct vchad_jobs *jobs = *state;
    enum vchad_job_state st = VCHAD_JOB_FAILING;
    struct vcha_kv *h = vcha_kv_new();
    char *s;

    add(jobs, "web", params_of("interval_ms=0", "timeout_ms=5000", NULL));
    assert_int_equal(vchad_jobs_state(jobs, "web", &st), 0);
    assert_int_equal(st, VCHAD_JOB_STARTING);
    assert_int_equal(vchad_jobs_state(jobs, "nope", &st), -ENOENT);
    assert_int_equal(vchad_jobs_health(jobs, "nope", h, NULL), -ENOENT);
    assert_int_equal(vchad_jobs_health(jobs, "web", h, "x."), 0);
    assert_string_equal(vcha_kv_get(h, "x.id"), "web");
    assert_string_equal(vcha_kv_get(h, "x.type"), "test");
    assert_string_equal(vcha_kv_get(h, "x.state"), "starting");
    assert_string_equal(vcha_kv_get(h, "x.runs"), "0");
    assert_string_equal(vcha_kv_get(h, "x.last_success"), "0");
    assert_string_equal(vcha_kv_get(h, "x.interval_ms"), "0");
    assert_string_equal(vcha_kv_get(h, "x.timeout_ms"), "5000");
    vcha_kv_free(h);
    s = health_str(jobs, "web", "running");
    assert_string_equal(s, "0"); /* interval 0: only on demand */
    free(s);
}

/* ------------------------------------------------------------ runs */

static void
test_run_success_with_figures(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r;
    struct timespec rt;
    long long now_rt;

    add(jobs, "web", params_of("interval_ms=0", "echo=a=b%25c%0Ad", NULL));
    run_once(jobs, "web", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "");
    assert_non_null(r.health);
    assert_string_equal(vcha_kv_get(r.health, "state"), "ok");
    assert_string_equal(vcha_kv_get(r.health, "fig.echo"), "a=b%c\nd");
    assert_non_null(vcha_kv_get(r.health, "fig.pid"));
    assert_int_not_equal(atoi(vcha_kv_get(r.health, "fig.pid")), getpid());
    assert_int_equal(health_ll(jobs, "web", "runs"), 1);
    assert_int_equal(health_ll(jobs, "web", "failures"), 0);
    clock_gettime(CLOCK_REALTIME, &rt);
    now_rt = (long long) rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    assert_true(health_ll(jobs, "web", "last_success") <= now_rt);
    assert_true(health_ll(jobs, "web", "last_success") > now_rt - 60000);
    rec_clear(&r);
}

static void
test_run_failure_with_error(void **state)
{
    struct vchad_jobs *jobs = *state;
    enum vchad_job_state st;
    struct rec r;
    char *s;

    add(jobs, "db",
        params_of("interval_ms=0", "exit=5", "error=disk on fire", NULL));
    run_once(jobs, "db", &r);
    assert_int_equal(r.status, -EIO);
    assert_string_equal(r.error, "disk on fire");
    assert_int_equal(vchad_jobs_state(jobs, "db", &st), 0);
    assert_int_equal(st, VCHAD_JOB_FAILING);
    assert_int_equal(health_ll(jobs, "db", "last_exit"), 5);
    assert_int_equal(health_ll(jobs, "db", "consecutive_failures"), 1);
    assert_int_equal(health_ll(jobs, "db", "last_success"), 0);
    s = health_str(jobs, "db", "last_error");
    assert_string_equal(s, "disk on fire");
    free(s);
    rec_clear(&r);
    run_once(jobs, "db", &r);
    assert_int_equal(health_ll(jobs, "db", "consecutive_failures"), 2);
    assert_int_equal(health_ll(jobs, "db", "failures"), 2);
    rec_clear(&r);
}

static void
test_run_failure_without_error(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r;

    add(jobs, "db", params_of("interval_ms=0", "exit=5", NULL));
    run_once(jobs, "db", &r);
    assert_int_equal(r.status, -EIO);
    assert_string_equal(r.error, "exit status 5 (Input/output error)");
    rec_clear(&r);
}

static void
test_recovery_resets_consecutive_failures(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r;
    enum vchad_job_state st;

    add(jobs, "db", params_of("interval_ms=0", "exit=5", NULL));
    run_once(jobs, "db", &r);
    rec_clear(&r);
    add(jobs, "db", params_of("interval_ms=0", NULL)); /* a reload */
    run_once(jobs, "db", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(vchad_jobs_state(jobs, "db", &st), 0);
    assert_int_equal(st, VCHAD_JOB_OK);
    assert_int_equal(health_ll(jobs, "db", "consecutive_failures"), 0);
    assert_int_equal(health_ll(jobs, "db", "failures"), 1);
    rec_clear(&r);
}

static void
test_run_crash(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r;

    add(jobs, "c", params_of("interval_ms=0", "crash=11", NULL));
    run_once(jobs, "c", &r);
    assert_int_equal(r.status, -EIO);
    assert_non_null(strstr(r.error, "killed by signal 11"));
    assert_int_equal(health_ll(jobs, "c", "last_signal"), 11);
    rec_clear(&r);
}

static void
test_run_timeout_kills_the_group(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long t0 = vcha_now_ms();
    pid_t worker, child;
    struct rec r;

    add(jobs, "h",
        params_of("interval_ms=0", "timeout_ms=300", "sleep_ms=100000",
                  "child=1", NULL));
    run_once(jobs, "h", &r);
    assert_int_equal(r.status, -ETIME);
    assert_string_equal(r.error, "timed out after 300 ms");
    assert_true(vcha_now_ms() - t0 >= 300);
    assert_true(vcha_now_ms() - t0 < 5000);
    /* the worker and the child it left in its group are gone */
    worker = (pid_t) atoi(vcha_kv_get(r.health, "fig.pid"));
    child = (pid_t) atoi(vcha_kv_get(r.health, "fig.child_pid"));
    assert_true(worker > 0 && child > 0);
    assert_true(test_process_dead(worker));
    for (int i = 0; i < 500 && !test_process_dead(child); i++) {
        vcha_sleep_ms(10);
    }
    assert_true(test_process_dead(child));
    rec_clear(&r);
}

static void
test_run_leftover_child_killed_after_success(void **state)
{
    struct vchad_jobs *jobs = *state;
    pid_t child;
    struct rec r;

    add(jobs, "l", params_of("interval_ms=0", "child=1", NULL));
    run_once(jobs, "l", &r);
    assert_int_equal(r.status, 0);
    child = (pid_t) atoi(vcha_kv_get(r.health, "fig.child_pid"));
    for (int i = 0; i < 500 && !test_process_dead(child); i++) {
        vcha_sleep_ms(10);
    }
    assert_true(test_process_dead(child));
    rec_clear(&r);
}

static void
test_run_ignoring_sigterm_gets_sigkill(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long t0 = vcha_now_ms();
    struct rec r;

    add(jobs, "stubborn",
        params_of("interval_ms=0", "timeout_ms=100", "hang=1", NULL));
    run_once(jobs, "stubborn", &r);
    assert_int_equal(r.status, -ETIME);
    assert_int_equal(health_ll(jobs, "stubborn", "last_signal"), SIGKILL);
    assert_true(vcha_now_ms() - t0 >= 100 + VCHAD_KILL_GRACE_MS);
    rec_clear(&r);
}

static void
test_figures_are_bounded(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r;

    /* about 120 bytes a line: 2000 lines are well over the limit; the
     * lines all set the same figure, so one survives */
    add(jobs, "big", params_of("interval_ms=0", "big=2000", "echo=x", NULL));
    run_once(jobs, "big", &r);
    assert_int_equal(r.status, 0); /* the worker was never blocked */
    assert_non_null(vcha_kv_get(r.health, "fig.big"));
    assert_string_equal(vcha_kv_get(r.health, "fig.echo"), "x");
    rec_clear(&r);
}

static void
test_figure_key_checked(void **state)
{
    int p[2];
    char buf[64] = "";

    assert_int_equal(pipe(p), 0);
    assert_int_equal(vchad_figure(p[1], "bad key", "%d", 1), -EINVAL);
    assert_int_equal(vchad_figure(p[1], "ok", "%s", "a\nb"), 0);
    close(p[1]);
    assert_int_equal(read(p[0], buf, sizeof(buf) - 1), 9);
    assert_string_equal(buf, "ok=a%0Ab\n");
    close(p[0]);
}

/* ------------------------------------------------------------ schedule */

/* The start and end (fig.start_ms, fig.end_ms) of @p n runs of @p id. */
static void
runs_collect(struct vchad_jobs *jobs, const char *id, size_t n,
             long long *start, long long *end)
{
    long long until = vcha_now_ms() + WAIT_MS, seen = 0;
    size_t k = 0;

    while (k < n && vcha_now_ms() < until) {
        long long runs;

        loop_once(jobs, 5);
        assert_true(vchad_jobs_children(jobs) <= 1); /* never two at once */
        runs = health_ll(jobs, id, "runs");
        if (runs > seen) {
            assert_int_equal(runs, seen + 1); /* each run seen */
            seen = runs;
            start[k] = health_ll(jobs, id, "fig.start_ms");
            end[k++] = health_ll(jobs, id, "fig.end_ms");
        }
    }
    assert_int_equal(k, n);
}

static void
test_interval_schedules_runs(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long start[4], end[4];

    add(jobs, "tick", params_of("interval_ms=100", NULL));
    runs_collect(jobs, "tick", 4, start, end);
    for (size_t k = 1; k < 4; k++) {
        /* started one interval after the one before, not sooner */
        assert_true(start[k] - start[k - 1] >= 100);
    }
}

static void
test_overrun_does_not_pile_up(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long start[3], end[3];

    /* each run takes 200 ms, the interval is 20 ms: back to back */
    add(jobs, "slow", params_of("interval_ms=20", "sleep_ms=200", NULL));
    runs_collect(jobs, "slow", 3, start, end);
    for (size_t k = 1; k < 3; k++) {
        assert_true(start[k] >= end[k - 1]); /* after the last one ended */
    }
}

static void
test_jobs_run_concurrently(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec a, b;
    long long a0, a1, b0, b1;

    add(jobs, "a", params_of("interval_ms=0", "sleep_ms=400", NULL));
    add(jobs, "b", params_of("interval_ms=0", "sleep_ms=400", NULL));
    rec_init(&a);
    rec_init(&b);
    assert_int_equal(vchad_jobs_run(jobs, "a", &a.w), 0);
    assert_int_equal(vchad_jobs_run(jobs, "b", &b.w), 0);
    loop_until_called(jobs, &a);
    loop_until_called(jobs, &b);
    a0 = atoll(vcha_kv_get(a.health, "fig.start_ms"));
    a1 = atoll(vcha_kv_get(a.health, "fig.end_ms"));
    b0 = atoll(vcha_kv_get(b.health, "fig.start_ms"));
    b1 = atoll(vcha_kv_get(b.health, "fig.end_ms"));
    assert_true(a0 < b1 && b0 < a1); /* the two runs overlapped */
    rec_clear(&a);
    rec_clear(&b);
}

static void
test_run_request_waits_for_a_fresh_run(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r1, r2;

    add(jobs, "w", params_of("interval_ms=0", "sleep_ms=200", NULL));
    rec_init(&r1);
    rec_init(&r2);
    assert_int_equal(vchad_jobs_run(jobs, "w", &r1.w), 0);
    loop_for(jobs, 50); /* run 1 is under way */
    assert_int_equal(health_ll(jobs, "w", "running"), 1);
    assert_int_equal(vchad_jobs_run(jobs, "w", &r2.w), 0);
    loop_until_called(jobs, &r1);
    assert_int_equal(r2.calls, 0); /* run 1 began before it asked */
    assert_string_equal(vcha_kv_get(r1.health, "runs"), "1");
    loop_until_called(jobs, &r2);
    assert_string_equal(vcha_kv_get(r2.health, "runs"), "2");
    assert_int_equal(vchad_jobs_run(jobs, "nope", &r1.w), -ENOENT);
    rec_clear(&r1);
    rec_clear(&r2);
}

static void
test_cancelled_waiter_is_not_called(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec r, other;

    add(jobs, "w", params_of("interval_ms=0", NULL));
    rec_init(&r);
    assert_int_equal(vchad_jobs_run(jobs, "w", &r.w), 0);
    vchad_waiter_cancel(&r.w);
    vchad_waiter_cancel(&r.w); /* twice is fine */
    run_once(jobs, "w", &other);
    assert_int_equal(r.calls, 0);
    rec_clear(&other);
    rec_clear(&r);
}

/* ------------------------------------------------------------ removal */

static void
test_remove_idle_and_unknown(void **state)
{
    struct vchad_jobs *jobs = *state;

    add(jobs, "x", params_of("interval_ms=0", NULL));
    assert_int_equal(vchad_jobs_remove(jobs, "x", 1000, NULL), 0);
    assert_int_equal(vchad_jobs_count(jobs), 0);
    assert_int_equal(vchad_jobs_remove(jobs, "x", 1000, NULL), 0);
}

static void
test_remove_waits_for_the_run(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec rm, run;
    enum vchad_add_result what;
    struct vcha_kv *p = vcha_kv_new();
    char why[128];

    add(jobs, "x", params_of("interval_ms=0", "sleep_ms=300", NULL));
    rec_init(&rm);
    rec_init(&run);
    assert_int_equal(vchad_jobs_run(jobs, "x", &run.w), 0);
    loop_for(jobs, 50);
    assert_int_equal(vchad_jobs_remove(jobs, "x", 5000, &rm.w), -EINPROGRESS);
    /* while it goes, it cannot be added again or run */
    assert_int_equal(
        vchad_jobs_add(jobs, "test", "x", p, &what, why, sizeof(why)), -EBUSY);
    assert_int_equal(vchad_jobs_run(jobs, "x", &rm.w), -EBUSY);
    loop_until_called(jobs, &rm);
    assert_int_equal(rm.status, 0);
    assert_int_equal(run.calls, 1);
    assert_int_equal(run.status, 0); /* the run it waited for did finish */
    assert_int_equal(vchad_jobs_count(jobs), 0);
    vcha_kv_free(p);
    rec_clear(&rm);
    rec_clear(&run);
}

static void
test_remove_kills_after_grace(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long t0;
    struct rec rm, run1, run2;

    add(jobs, "x", params_of("interval_ms=0", "sleep_ms=100000", NULL));
    rec_init(&rm);
    rec_init(&run1);
    rec_init(&run2);
    assert_int_equal(vchad_jobs_run(jobs, "x", &run1.w), 0);
    loop_for(jobs, 50);
    assert_int_equal(vchad_jobs_run(jobs, "x", &run2.w), 0);
    t0 = vcha_now_ms();
    assert_int_equal(vchad_jobs_remove(jobs, "x", 200, &rm.w), -EINPROGRESS);
    loop_until_called(jobs, &rm);
    assert_true(vcha_now_ms() - t0 >= 200);
    assert_true(vcha_now_ms() - t0 < 3000);
    assert_int_equal(run1.status, -EIO);
    assert_string_equal(run1.error, "killed: the job was removed");
    assert_int_equal(run2.status, -ECANCELED); /* its run never came */
    assert_int_equal(vchad_jobs_children(jobs), 0);
    rec_clear(&rm);
    rec_clear(&run1);
    rec_clear(&run2);
}

static void
test_free_kills_running_workers(void **state)
{
    struct vchad_jobs *jobs = vchad_jobs_new(vchad_job_types);
    char *running;

    (void) state;
    add(jobs, "x", params_of("sleep_ms=100000", NULL));
    loop_for(jobs, 50);
    assert_int_equal(vchad_jobs_children(jobs), 1);
    running = health_str(jobs, "x", "running");
    assert_string_equal(running, "1");
    free(running);
    vchad_jobs_kill_all(jobs);
    loop_for(jobs, 100);
    assert_int_equal(vchad_jobs_children(jobs), 0);
    assert_int_equal(health_ll(jobs, "x", "last_signal"), SIGKILL);
    add(jobs, "y", params_of("sleep_ms=100000", NULL));
    loop_for(jobs, 50);
    assert_int_equal(vchad_jobs_children(jobs), 1);
    vchad_jobs_free(jobs); /* kills and reaps it */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

/* ------------------------------------------------------------ programs */

/*
 * A script in @p dir that writes its pid to @p pidfile, starts a second
 * process in its group, and sleeps: a program a run starts, leading a
 * process group of its own (vcha_exec()).
 */
static char *
sleeper_new(const char *dir, const char *pidfile)
{
    char *path = test_path(dir, "sleeper"), *text = NULL;

    assert_true(asprintf(&text,
                         "#!/bin/sh\necho $$ > '%s'\nsleep 1000 &\n"
                         "exec sleep 1000\n",
                         pidfile) > 0);
    assert_int_equal(test_write_file(path, text), 0);
    assert_int_equal(chmod(path, 0755), 0);
    free(text);
    return path;
}

/* The pid in @p path, running the loop until it is there. */
static pid_t
pid_in(struct vchad_jobs *jobs, const char *path)
{
    long long until = vcha_now_ms() + WAIT_MS;

    while (vcha_now_ms() < until) {
        char *text = test_slurp(path);
        pid_t pid = text ? (pid_t) atoi(text) : 0;

        free(text);
        if (pid > 1) {
            return pid;
        }
        loop_once(jobs, 10);
    }
    fail_msg("no pid in %s", path);
    return 0;
}

/* A child the worker put into a process group of its own dies with the run. */
static void
test_timeout_kills_what_the_worker_started(void **state)
{
    struct vchad_jobs *jobs = *state;
    pid_t child;
    struct rec r;

    add(jobs, "h",
        params_of("interval_ms=0", "timeout_ms=300", "sleep_ms=100000",
                  "child=2", NULL));
    run_once(jobs, "h", &r);
    assert_int_equal(r.status, -ETIME);
    child = (pid_t) atoi(vcha_kv_get(r.health, "fig.child_pid"));
    assert_true(child > 0);
    assert_true(test_process_dead(child)); /* the run ended after it */
    rec_clear(&r);
}

static void
test_remove_kills_what_the_worker_started(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char *param = NULL;
    struct rec rm, run;
    pid_t child;

    assert_true(asprintf(&param, "pidfile=%s", pidfile) > 0);
    add(jobs, "x",
        params_of("interval_ms=0", "sleep_ms=100000", "child=2", param, NULL));
    rec_init(&rm);
    rec_init(&run);
    assert_int_equal(vchad_jobs_run(jobs, "x", &run.w), 0);
    child = pid_in(jobs, pidfile);
    assert_int_equal(vchad_jobs_remove(jobs, "x", 200, &rm.w), -EINPROGRESS);
    loop_until_called(jobs, &rm);
    assert_int_equal(run.calls, 1);
    assert_true(test_process_dead(child));
    rec_clear(&rm);
    rec_clear(&run);
    free(param);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/* A job whose run starts a slow program (sleeper_new()): its files. */
struct slow {
    char *dir, *pidfile, *sleeper, *onstop;
    char *prog, *stop; /* the job's parameters prog= and onstop= */
};

static void
slow_init(struct slow *s)
{
    s->dir = test_tmpdir_new();
    s->pidfile = test_path(s->dir, "pid");
    s->sleeper = sleeper_new(s->dir, s->pidfile);
    s->onstop = test_path(s->dir, "stop");
    assert_true(asprintf(&s->prog, "prog=%s", s->sleeper) > 0);
    assert_true(asprintf(&s->stop, "onstop=%s", s->onstop) > 0);
}

/* The worker was told to stop, and cleaned up after its program. */
static void
slow_assert_cleaned_up(const struct slow *s)
{
    char *text = test_slurp(s->onstop);

    assert_non_null(text);
    assert_string_equal(text, "cleaned up\n");
    free(text);
}

static void
slow_clear(struct slow *s)
{
    free(s->stop);
    free(s->prog);
    free(s->onstop);
    free(s->sleeper);
    free(s->pidfile);
    test_tmpdir_remove(s->dir);
}

/*
 * A job removed with a grace period: its worker is told to stop (SIGTERM),
 * kills its program and cleans up after it, and exits before the SIGKILL.
 */
static void
test_removed_worker_stops_its_program_and_cleans_up(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct rec rm, run;
    struct slow s;
    pid_t prog;

    slow_init(&s);
    add(jobs, "p", params_of("interval_ms=0", s.prog, s.stop, NULL));
    rec_init(&rm);
    rec_init(&run);
    assert_int_equal(vchad_jobs_run(jobs, "p", &run.w), 0);
    prog = pid_in(jobs, s.pidfile);
    assert_int_equal(vchad_jobs_remove(jobs, "p", 100, &rm.w), -EINPROGRESS);
    loop_until_called(jobs, &rm);
    assert_int_equal(run.calls, 1);
    assert_string_equal(run.error, "killed: the job was removed");
    assert_true(test_process_dead(prog));
    slow_assert_cleaned_up(&s);
    /* it exited by itself: no SIGKILL was needed */
    assert_string_equal(vcha_kv_get(run.health, "last_signal"), "0");
    assert_string_equal(vcha_kv_get(run.health, "fig.prog_rc"), "-125");
    rec_clear(&rm);
    rec_clear(&run);
    slow_clear(&s);
}

/* The registry's end (the daemon's) lets a worker clean up, then kills. */
static void
test_free_lets_workers_clean_up(void **state)
{
    struct vchad_jobs *jobs = vchad_jobs_new(vchad_job_types);
    struct slow s;
    pid_t prog;

    (void) state;
    slow_init(&s);
    add(jobs, "p", params_of(s.prog, s.stop, NULL));
    prog = pid_in(jobs, s.pidfile);
    vchad_jobs_free(jobs);
    assert_true(test_process_dead(prog));
    slow_assert_cleaned_up(&s);
    slow_clear(&s);
}

/* Write @p text into @p file of the cgroup v1 freezer cgroup @p cg. */
static void
cg_write(const char *cg, const char *file, const char *text)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", cg, file) > 0);
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
}

/*
 * A run is over only when every program it started is gone: one that
 * cannot die yet (frozen by the cgroup v1 freezer, where SIGKILL waits for
 * the thaw, like a task blocked on a hung file system) holds the run, and
 * so a job-remove, until it dies.
 */
static void
test_run_ends_when_its_programs_are_gone(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char cg[] = "/sys/fs/cgroup/freezer/vchad-test-XXXXXX", pid[32];
    char *param = NULL, *running;
    struct rec run, rm;
    pid_t child;

    assert_non_null(mkdtemp(cg));
    snprintf(frozen_cg, sizeof(frozen_cg), "%s", cg);
    assert_true(asprintf(&param, "pidfile=%s", pidfile) > 0);
    add(jobs, "f",
        params_of("interval_ms=0", "sleep_ms=300", "child=2", param, NULL));
    rec_init(&run);
    rec_init(&rm);
    assert_int_equal(vchad_jobs_run(jobs, "f", &run.w), 0);
    child = pid_in(jobs, pidfile);
    snprintf(pid, sizeof(pid), "%d\n", (int) child);
    cg_write(cg, "cgroup.procs", pid);
    cg_write(cg, "freezer.state", "FROZEN\n");
    loop_for(jobs, 1000); /* the worker has long ended */
    assert_int_equal(run.calls, 0);
    running = health_str(jobs, "f", "running");
    assert_string_equal(running, "1");
    assert_int_equal(vchad_jobs_remove(jobs, "f", 0, &rm.w), -EINPROGRESS);
    loop_for(jobs, 300);
    assert_int_equal(rm.calls, 0);
    assert_false(test_process_dead(child));
    cg_write(cg, "freezer.state", "THAWED\n");
    loop_until_called(jobs, &rm);
    assert_int_equal(run.calls, 1);
    assert_true(test_process_dead(child));
    assert_int_equal(rmdir(cg), 0);
    frozen_cg[0] = '\0';
    free(running);
    rec_clear(&run);
    rec_clear(&rm);
    free(param);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/* ------------------------------------------------------------ status */

static void
test_status_lists_jobs_by_id(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *st = vcha_kv_new();

    add(jobs, "zeta", params_of("interval_ms=0", NULL));
    add(jobs, "alpha", params_of("interval_ms=0", NULL));
    add(jobs, "mid", params_of("interval_ms=0", NULL));
    assert_int_equal(vchad_jobs_status(jobs, st), 0);
    assert_string_equal(vcha_kv_get(st, "jobs"), "3");
    assert_string_equal(vcha_kv_get(st, "job.0.id"), "alpha");
    assert_string_equal(vcha_kv_get(st, "job.1.id"), "mid");
    assert_string_equal(vcha_kv_get(st, "job.2.id"), "zeta");
    assert_string_equal(vcha_kv_get(st, "job.2.state"), "starting");
    vcha_kv_free(st);
}

/* ------------------------------------------------------------ publish */

struct attr_env {
    struct vchad_jobs *jobs;
    char *dir;
    char *log;
    char *path;
};

/* A fake attrd_updater first in PATH that logs its arguments. */
static int
attr_setup(void **state)
{
    struct attr_env *e = calloc(1, sizeof(*e));
    char *tool, *script;

    e->jobs = vchad_jobs_new(vchad_job_types);
    e->dir = test_tmpdir_new();
    e->log = test_path(e->dir, "attrd.log");
    tool = test_path(e->dir, "attrd_updater");
    if (asprintf(&script, "#!/bin/sh\necho \"$*\" >> %s\n", e->log) < 0) {
        return -1;
    }
    test_write_file(tool, script);
    chmod(tool, 0755);
    e->path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    free(script);
    if (asprintf(&script, "%s:%s", e->dir,
                 e->path ? e->path : "/usr/bin:/bin") < 0) {
        return -1;
    }
    setenv("PATH", script, 1);
    free(script);
    free(tool);
    *state = e;
    return 0;
}

static int
attr_teardown(void **state)
{
    struct attr_env *e = *state;

    vchad_jobs_free(e->jobs);
    if (e->path != NULL) {
        setenv("PATH", e->path, 1);
    }
    free(e->path);
    free(e->log);
    test_tmpdir_remove(e->dir);
    free(e);
    return 0;
}

/* Wait until the helpers are done and return the fake tool's log. */
static char *
attr_log(struct attr_env *e)
{
    long long until = vcha_now_ms() + WAIT_MS;
    char *text;

    while (vchad_jobs_children(e->jobs) > 0 && vcha_now_ms() < until) {
        loop_once(e->jobs, 10);
    }
    text = test_slurp(e->log);
    return text ? text : strdup("");
}

static void
test_publish_and_unpublish_attributes(void **state)
{
    struct attr_env *e = *state;
    struct rec r;
    char *log;

    add(e->jobs, "web",
        params_of("interval_ms=0", "echo=42", "attr=vcha-web-age", NULL));
    run_once(e->jobs, "web", &r);
    rec_clear(&r);
    log = attr_log(e);
    assert_string_equal(log, "-n vcha-web-age -U 42\n");
    free(log);
    assert_int_equal(vchad_jobs_remove(e->jobs, "web", 1000, NULL), 0);
    log = attr_log(e);
    assert_string_equal(log, "-n vcha-web-age -U 42\n-n vcha-web-age -D\n");
    free(log);
}

static void
test_publish_failed_run_deletes(void **state)
{
    struct attr_env *e = *state;
    struct rec r;
    char *log;

    add(e->jobs, "db",
        params_of("interval_ms=0", "exit=5", "attr=vcha-db-x", NULL));
    run_once(e->jobs, "db", &r);
    rec_clear(&r);
    log = attr_log(e);
    assert_string_equal(log, "-n vcha-db-x -D\n");
    free(log);
}

/* ------------------------------------------------------------ requests */

static struct vcha_kv *
request(const char *cmd, ...)
{
    struct vcha_kv *req = vcha_vchad_request_new(cmd);
    va_list ap;

    va_start(ap, cmd);
    for (const char *p = va_arg(ap, const char *); p != NULL;
         p = va_arg(ap, const char *)) {
        assert_int_equal(vcha_kv_parse_line(req, p, strlen(p)), 0);
    }
    va_end(ap);
    return req;
}

/* Handle @p req (freed); the response must come at once. */
static struct vcha_kv *
handle_now(struct vchad_jobs *jobs, struct vcha_kv *req)
{
    struct vcha_kv *resp = vcha_kv_new();
    struct rec r;

    rec_init(&r);
    assert_int_equal(vchad_request_handle(jobs, req, resp, &r.w), 0);
    vcha_kv_free(req);
    return resp;
}

static void
test_request_ping_and_status(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *resp;
    char pid[16];

    snprintf(pid, sizeof(pid), "%d", (int) getpid());
    resp = handle_now(jobs, request("ping", NULL));
    assert_string_equal(vcha_kv_key(resp, 0), "status");
    assert_string_equal(vcha_kv_get(resp, "status"), "0");
    assert_string_equal(vcha_kv_get(resp, "pid"), pid);
    assert_string_equal(vcha_kv_get(resp, "version"), PACKAGE_VERSION);
    assert_string_equal(vcha_kv_get(resp, "jobs"), "0");
    vcha_kv_free(resp);
    add(jobs, "web", params_of("interval_ms=0", NULL));
    resp = handle_now(jobs, request("status", NULL));
    assert_string_equal(vcha_kv_get(resp, "jobs"), "1");
    assert_string_equal(vcha_kv_get(resp, "job.0.id"), "web");
    vcha_kv_free(resp);
}

static void
test_request_errors(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *resp, *req = vcha_kv_new();

    vcha_kv_set(req, "id", "x");
    resp = handle_now(jobs, req);
    assert_string_equal(vcha_kv_get(resp, "status"), "-22");
    assert_string_equal(vcha_kv_get(resp, "error"), "the request has no cmd");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("frobnicate", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "-95");
    assert_string_equal(vcha_kv_get(resp, "error"),
                        "unknown command 'frobnicate'");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-health", NULL));
    assert_string_equal(vcha_kv_get(resp, "error"), "job-health needs an id");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-health", "id=web", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "-2");
    assert_string_equal(vcha_kv_get(resp, "error"), "no job web");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-run", "id=web", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "-2");
    vcha_kv_free(resp);
    resp =
        handle_now(jobs, request("job-remove", "id=web", "grace_ms=x", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "-22");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-add", "id=web", "type=nope", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "-22");
    assert_string_equal(vcha_kv_get(resp, "error"), "unknown job type 'nope'");
    vcha_kv_free(resp);
}

static void
test_request_job_life(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *resp, *req;
    struct rec r;

    resp = handle_now(jobs, request("job-add", "type=test", "id=web",
                                    "interval_ms=0", "echo=hi", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "0");
    assert_string_equal(vcha_kv_get(resp, "result"), "added");
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-add", "type=test", "id=web",
                                    "interval_ms=0", "echo=hi", NULL));
    assert_string_equal(vcha_kv_get(resp, "result"), "unchanged");
    vcha_kv_free(resp);
    req = request("job-run", "id=web", NULL);
    resp = vcha_kv_new();
    rec_init(&r);
    assert_int_equal(vchad_request_handle(jobs, req, resp, &r.w), -EINPROGRESS);
    loop_until_called(jobs, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(vcha_kv_get(r.health, "fig.echo"), "hi");
    rec_clear(&r);
    vcha_kv_free(resp);
    vcha_kv_free(req);
    resp = handle_now(jobs, request("job-health", "id=web", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "0");
    assert_string_equal(vcha_kv_get(resp, "state"), "ok");
    assert_null(vcha_kv_get(resp, "error"));
    vcha_kv_free(resp);
    resp = handle_now(jobs, request("job-remove", "id=web", NULL));
    assert_string_equal(vcha_kv_get(resp, "status"), "0");
    vcha_kv_free(resp);
    assert_int_equal(vchad_jobs_count(jobs), 0);
}

static void
test_response_fill(void **state)
{
    struct vcha_kv *resp = vcha_kv_new(), *extra = vcha_kv_new();

    (void) state;
    vcha_kv_set(extra, "a", "1");
    assert_int_equal(vchad_response_fill(resp, -ENOENT, NULL, extra), 0);
    assert_string_equal(vcha_kv_key(resp, 0), "status");
    assert_string_equal(vcha_kv_value(resp, 0), "-2");
    assert_string_equal(vcha_kv_key(resp, 1), "error");
    assert_string_equal(vcha_kv_value(resp, 1), "No such file or directory");
    assert_string_equal(vcha_kv_get(resp, "a"), "1");
    vcha_kv_free(resp);
    vcha_kv_free(extra);
}

/* ------------------------------------------------------------ server */

struct srv_env {
    char *dir;
    char *sock;
    pid_t pid;
};

/* Serve @p sock in a child until SIGTERM. */
static pid_t
server_spawn(const char *sock)
{
    int ready[2];
    pid_t pid;
    char c = 0;

    assert_int_equal(pipe(ready), 0);
    fflush(stdout); /* the child must not print the tests' output again */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct vchad_jobs *jobs = vchad_jobs_new(vchad_job_types);
        struct vchad_server *srv = NULL;
        int rc = vchad_server_new(sock, jobs, &srv);

        c = rc == 0 ? 'y' : 'n';
        (void) !write(ready[1], &c, 1);
        if (rc == 0) {
            rc = vchad_server_run(srv);
        }
        vchad_server_free(srv);
        vchad_jobs_free(jobs);
        _exit(rc == 0 ? 0 : 1);
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(c, 'y');
    return pid;
}

static int
srv_setup(void **state)
{
    struct srv_env *e = calloc(1, sizeof(*e));

    e->dir = test_tmpdir_new();
    e->sock = test_path(e->dir, "run/vchad.sock"); /* run/ is created */
    e->pid = server_spawn(e->sock);
    *state = e;
    return 0;
}

static int
srv_teardown(void **state)
{
    struct srv_env *e = *state;

    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        waitpid(e->pid, NULL, 0);
    }
    free(e->sock);
    test_tmpdir_remove(e->dir);
    free(e);
    return 0;
}

static int
call(const struct srv_env *e, struct vcha_kv *req, struct vcha_kv **resp)
{
    int rc = vcha_vchad_call(e->sock, req, resp, vcha_now_ms() + WAIT_MS);

    vcha_kv_free(req);
    return rc;
}

static void
test_server_socket_is_private(void **state)
{
    struct srv_env *e = *state;
    struct stat st;

    assert_int_equal(stat(e->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + WAIT_MS), 0);
}

static void
test_server_job_life(void **state)
{
    struct srv_env *e = *state;
    struct vcha_kv *resp = NULL;

    assert_int_equal(call(e,
                          request("job-add", "type=test", "id=web",
                                  "interval_ms=0", "echo=served", NULL),
                          &resp),
                     0);
    vcha_kv_free(resp);
    assert_int_equal(call(e, request("job-run", "id=web", NULL), &resp), 0);
    assert_string_equal(vcha_kv_get(resp, "fig.echo"), "served");
    vcha_kv_free(resp);
    assert_int_equal(call(e, request("job-health", "id=web", NULL), &resp), 0);
    assert_string_equal(vcha_kv_get(resp, "state"), "ok");
    vcha_kv_free(resp);
    assert_int_equal(call(e, request("status", NULL), &resp), 0);
    assert_string_equal(vcha_kv_get(resp, "job.0.id"), "web");
    vcha_kv_free(resp);
    assert_int_equal(call(e, request("job-remove", "id=web", NULL), &resp), 0);
    vcha_kv_free(resp);
    assert_int_equal(call(e, request("job-health", "id=web", NULL), &resp),
                     -ENOENT);
    assert_string_equal(vcha_kv_get(resp, "error"), "no job web");
    vcha_kv_free(resp);
}

/* A connected raw client socket. */
static int
raw_connect(const char *sock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    return fd;
}

/* Everything the server sends on @p fd until it closes. */
static char *
raw_read_all(int fd)
{
    char *buf = calloc(1, 65536);
    size_t len = 0;
    ssize_t n;

    while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0) {
        len += (size_t) n;
    }
    return buf;
}

static void
test_server_slow_clients_block_nobody(void **state)
{
    struct srv_env *e = *state;
    int idle = raw_connect(e->sock), half = raw_connect(e->sock);
    struct vcha_kv *resp = NULL;
    long long t0 = vcha_now_ms();

    /* one says nothing, one stops half way through its request */
    (void) !write(half, "cmd=pi", 6);
    /* a job that hangs in its run does not block the loop either */
    assert_int_equal(call(e,
                          request("job-add", "type=test", "id=hang",
                                  "sleep_ms=100000", NULL),
                          &resp),
                     0);
    vcha_kv_free(resp);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + 1000), 0);
    }
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_int_equal(call(e, request("job-health", "id=hang", NULL), &resp), 0);
    assert_string_equal(vcha_kv_get(resp, "running"), "1");
    vcha_kv_free(resp);
    /* the half-sent request can still be finished */
    (void) !write(half, "ng\n\n", 4);
    {
        char *answer = raw_read_all(half);

        assert_non_null(strstr(answer, "status=0\n"));
        free(answer);
    }
    close(idle);
    close(half);
}

static void
test_server_malformed_and_huge_requests(void **state)
{
    struct srv_env *e = *state;
    int fd = raw_connect(e->sock);
    char *answer, *big;

    (void) !write(fd, "no equals sign\n\n", 16);
    answer = raw_read_all(fd);
    assert_string_equal(answer, "status=-74\nerror=malformed request\n\n");
    free(answer);
    close(fd);
    fd = raw_connect(e->sock);
    big = malloc(VCHAD_MAX_REQUEST);
    memcpy(big, "cmd=ping\nx=", 11);
    memset(big + 11, 'x', VCHAD_MAX_REQUEST - 11);
    (void) !write(fd, big, VCHAD_MAX_REQUEST);
    answer = raw_read_all(fd);
    assert_string_equal(answer, "status=-90\nerror=request too large\n\n");
    free(answer);
    free(big);
    close(fd);
    /* one request per connection: what follows the first is ignored */
    fd = raw_connect(e->sock);
    (void) !write(fd, "cmd=ping\n\ncmd=status\n\n", 22);
    answer = raw_read_all(fd);
    assert_non_null(strstr(answer, "status=0\npid="));
    assert_true(strstr(answer, "\n\n") == answer + strlen(answer) - 2);
    free(answer);
    close(fd);
}

static void
test_server_client_gone_while_waiting(void **state)
{
    struct srv_env *e = *state;
    struct vcha_kv *resp = NULL, *req;
    int rc;

    assert_int_equal(call(e,
                          request("job-add", "type=test", "id=slow",
                                  "interval_ms=0", "sleep_ms=300", NULL),
                          &resp),
                     0);
    vcha_kv_free(resp);
    /* this client gives up before the run ends */
    req = request("job-run", "id=slow", NULL);
    rc = vcha_vchad_call(e->sock, req, &resp, vcha_now_ms() + 100);
    vcha_kv_free(req);
    assert_int_equal(rc, -ETIME);
    /* the daemon is fine, and the run goes on to its end */
    assert_int_equal(call(e, request("job-run", "id=slow", NULL), &resp), 0);
    assert_string_equal(vcha_kv_get(resp, "state"), "ok");
    vcha_kv_free(resp);
}

static void
test_server_second_instance_refused(void **state)
{
    struct srv_env *e = *state;
    struct vchad_jobs *jobs = vchad_jobs_new(vchad_job_types);
    struct vchad_server *srv = (struct vchad_server *) 1;

    assert_int_equal(vchad_server_new(e->sock, jobs, &srv), -EALREADY);
    assert_null(srv);
    vchad_jobs_free(jobs);
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + WAIT_MS), 0);
}

/* A child of @p parent (from /proc), or 0. */
static pid_t
child_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;

    while (d != NULL && found == 0 && (de = readdir(d)) != NULL) {
        char path[300], *stat, *p;

        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        stat = test_slurp(path);
        p = stat ? strrchr(stat, ')') : NULL;
        /* "pid (comm) S ppid ..." */
        if (p != NULL && atoi(p + 4) == (int) parent) {
            found = (pid_t) atoi(de->d_name);
        }
        free(stat);
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

static void
test_server_sigterm_cleans_up(void **state)
{
    struct srv_env *e = *state;
    struct vcha_kv *resp = NULL;
    char *lock = NULL;
    pid_t worker = 0;
    int status = -1;

    assert_int_equal(call(e,
                          request("job-add", "type=test", "id=hang",
                                  "sleep_ms=100000", NULL),
                          &resp),
                     0);
    vcha_kv_free(resp);
    for (int i = 0; i < 500 && worker == 0; i++) {
        vcha_sleep_ms(10);
        worker = child_of(e->pid);
    }
    assert_true(worker > 0);
    kill(e->pid, SIGTERM);
    assert_int_equal(waitpid(e->pid, &status, 0), e->pid);
    e->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(test_process_dead(worker));
    assert_int_equal(access(e->sock, F_OK), -1); /* the socket is gone */
    assert_int_equal(asprintf(&lock, "%s.lock", e->sock) > 0, 1);
    assert_int_equal(access(lock, F_OK), 0); /* the lock file stays */
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    free(lock);
}

static void
test_server_replaces_stale_socket(void **state)
{
    struct srv_env *e = *state;
    int status = -1;

    /* a daemon killed outright leaves its socket file */
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &status, 0);
    assert_int_equal(access(e->sock, F_OK), 0);
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    e->pid = server_spawn(e->sock);
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + WAIT_MS), 0);
}

/* ------------------------------------------------------------ resident */

/* A registry with a run directory, as the daemon has: a scratch one. */
static char *run_dir;

static int
res_setup(void **state)
{
    run_dir = test_tmpdir_new();
    *state = vchad_jobs_new(vchad_job_types);
    return *state && vchad_jobs_set_run_dir(*state, run_dir) == 0 ? 0 : -1;
}

static int
res_teardown(void **state)
{
    vchad_jobs_free(*state);
    test_tmpdir_remove(run_dir);
    run_dir = NULL;
    return 0;
}

/* Add resident job @p id with @p params (freed). */
static void
add_resident(struct vchad_jobs *jobs, const char *id, struct vcha_kv *params)
{
    enum vchad_add_result what;
    char why[256] = "";

    assert_int_equal(
        vchad_jobs_add(jobs, "resident", id, params, &what, why, sizeof(why)),
        0);
    assert_int_equal(what, VCHAD_ADDED);
    vcha_kv_free(params);
}

/* Run the loop until health key @p key of @p id is at least @p min. */
static long long
loop_until_health(struct vchad_jobs *jobs, const char *id, const char *key,
                  long long min)
{
    long long until = vcha_now_ms() + WAIT_MS, v = -1;
    struct vcha_kv *h = NULL;

    do {
        loop_once(jobs, 5);
        vcha_kv_free(h);
        h = vcha_kv_new();
        assert_int_equal(vchad_jobs_health(jobs, id, h, NULL), 0);
    } while ((vcha_kv_get_ll(h, key, &v) < 0 || v < min) &&
             vcha_now_ms() < until);
    vcha_kv_free(h);
    assert_true(v >= min);
    return v;
}

/* Run the loop until file @p path has @p n lines; their first numbers. */
static void
loop_until_lines(struct vchad_jobs *jobs, const char *path, size_t n,
                 long long *first)
{
    long long until = vcha_now_ms() + WAIT_MS;
    size_t got = 0;

    while (got < n && vcha_now_ms() < until) {
        char *text = test_slurp(path);

        got = 0;
        for (char *p = text; p != NULL && *p != '\0' && got < n; got++) {
            first[got] = strtoll(p, &p, 10);
            p = strchr(p, '\n');
            p = p ? p + 1 : NULL;
        }
        free(text);
        loop_once(jobs, 5);
    }
    assert_int_equal(got, n);
}

static void
test_resident_needs_a_run_dir(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *p = params_of("report_ms=50", NULL);
    enum vchad_add_result what;
    char why[256] = "";

    assert_int_equal(
        vchad_jobs_add(jobs, "resident", "r", p, &what, why, sizeof(why)),
        -ENOTSUP);
    assert_string_equal(why, "no run directory for resident jobs");
    vcha_kv_free(p);
}

static void
test_resident_streams_figures_while_running(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long pid, seq;
    char *kind;

    add_resident(jobs, "r", params_of("report_ms=50", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    pid = health_ll(jobs, "r", "pid");
    assert_true(pid > 0);
    assert_int_equal(health_ll(jobs, "r", "fig.pid"), pid);
    assert_int_equal(health_ll(jobs, "r", "running"), 1);
    kind = health_str(jobs, "r", "state");
    assert_string_equal(kind, "ok");
    free(kind);
    /* reports keep coming from the same process, which runs on */
    seq = loop_until_health(jobs, "r", "fig.seq", 4);
    assert_int_equal(health_ll(jobs, "r", "fig.pid"), pid);
    assert_int_equal(health_ll(jobs, "r", "pid"), pid);
    assert_true(health_ll(jobs, "r", "reports") >= seq);
    assert_int_equal(health_ll(jobs, "r", "restarts"), 0);
    assert_false(test_process_dead((pid_t) pid));
}

static void
test_resident_run_waits_for_a_report(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long seq;
    struct rec r;

    add_resident(jobs, "r", params_of("report_ms=50", "fail=disk gone", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    seq = health_ll(jobs, "r", "fig.seq");
    run_once(jobs, "r", &r);
    assert_int_equal(r.status, -EIO);
    assert_string_equal(r.error, "disk gone");
    assert_true(health_ll(jobs, "r", "fig.seq") > seq);
    rec_clear(&r);
}

static void
test_resident_exit_restarts_with_growing_backoff(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *log = test_path(run_dir, "starts"), *param = NULL, *err;
    long long t[5];

    assert_true(asprintf(&param, "startlog=%s", log) > 0);
    add_resident(jobs, "r",
                 params_of("exit_after=0", "backoff_ms=100",
                           "backoff_max_ms=400", param, NULL));
    loop_until_lines(jobs, log, 5, t);
    /* 100, 200, 400, then 400: each at least its delay, late by little
     * (by at most 350 ms on a busy machine: the last one stays below 800,
     * so the cap is still seen) */
    assert_in_range(t[1] - t[0], 100, 100 + 350);
    assert_in_range(t[2] - t[1], 200, 200 + 350);
    assert_in_range(t[3] - t[2], 400, 400 + 350);
    assert_in_range(t[4] - t[3], 400, 400 + 350);
    assert_true(health_ll(jobs, "r", "restarts") >= 4);
    err = health_str(jobs, "r", "last_error");
    assert_string_equal(err, "its process exited with status 3");
    free(err);
    err = health_str(jobs, "r", "state");
    assert_string_equal(err, "failing");
    free(err);
    free(param);
    free(log);
}

static void
test_resident_backoff_resets_after_health(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *log = test_path(run_dir, "starts"), *param = NULL;
    long long t[4];

    /* each process reports for about 300 ms (longer than backoff_max_ms)
     * and exits: every restart waits backoff_ms again, not 200, 400 */
    assert_true(asprintf(&param, "startlog=%s", log) > 0);
    add_resident(jobs, "r",
                 params_of("report_ms=30", "exit_after=10", "backoff_ms=100",
                           "backoff_max_ms=250", param, NULL));
    loop_until_lines(jobs, log, 4, t);
    for (int i = 1; i < 4; i++) {
        assert_in_range(t[i] - t[i - 1], 300 + 100, 300 + 100 + 150);
    }
    assert_int_equal(health_ll(jobs, "r", "backoff_ms"), 100);
    free(param);
    free(log);
}

static void
test_resident_silent_is_lost_and_restarted(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long pid, child, start, start2;
    char *err;

    /* two reports, then silence; it ignores SIGTERM and has a child */
    add_resident(jobs, "r",
                 params_of("report_ms=20", "hang_after=2", "ignore_term=1",
                           "child=1", "timeout_ms=300", "backoff_ms=100",
                           NULL));
    loop_until_health(jobs, "r", "fig.seq", 2);
    pid = health_ll(jobs, "r", "pid");
    child = health_ll(jobs, "r", "fig.child_pid");
    start = health_ll(jobs, "r", "fig.start_ms");
    loop_until_health(jobs, "r", "restarts", 1);
    loop_until_health(jobs, "r", "pid", 1);
    assert_int_not_equal(health_ll(jobs, "r", "pid"), pid);
    assert_true(test_process_dead((pid_t) pid));
    assert_true(test_process_dead((pid_t) child));
    err = health_str(jobs, "r", "last_error");
    assert_true(strncmp(err, "no report for ", 14) == 0);
    free(err);
    /* the new one: after 2 reports, the liveness timeout, the grace
     * before SIGKILL and the backoff (its first report is the third:
     * the figures of the lost one stay until then) */
    loop_until_health(jobs, "r", "reports", 3);
    start2 = health_ll(jobs, "r", "fig.start_ms");
    assert_in_range(start2 - start, 20 + 300 + VCHAD_KILL_GRACE_MS + 100,
                    40 + 300 + VCHAD_KILL_GRACE_MS + 100 + 500);
}

static void
test_resident_remove_stops_its_session(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *record = test_path(run_dir, "r.job");
    long long pid, child, t0;
    struct rec rm;

    add_resident(jobs, "r", params_of("report_ms=20", "child=1", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    pid = health_ll(jobs, "r", "pid");
    child = health_ll(jobs, "r", "fig.child_pid");
    assert_int_equal(access(record, F_OK), 0);
    rec_init(&rm);
    t0 = vcha_now_ms();
    assert_int_equal(vchad_jobs_remove(jobs, "r", 10000, &rm.w), -EINPROGRESS);
    loop_until_called(jobs, &rm);
    assert_true(vcha_now_ms() - t0 < VCHAD_KILL_GRACE_MS); /* SIGTERM did */
    assert_int_equal(rm.status, 0);
    assert_true(test_process_dead((pid_t) pid));
    assert_true(test_process_dead((pid_t) child));
    assert_int_equal(vchad_jobs_count(jobs), 0);
    assert_int_equal(access(record, F_OK), -1);
    rec_clear(&rm);
    free(record);
}

static void
test_resident_adopted_by_the_next_registry(void **state)
{
    struct vchad_jobs *jobs = *state, *next;
    long long pid, child;
    struct rec rm;

    add_resident(jobs, "r/1", params_of("report_ms=20", "child=1", NULL));
    loop_until_health(jobs, "r/1", "fig.seq", 1);
    pid = health_ll(jobs, "r/1", "pid");
    child = health_ll(jobs, "r/1", "fig.child_pid");
    /* the daemon stops: its resident runs on */
    vchad_jobs_detach(jobs);
    assert_int_equal(vchad_jobs_count(jobs), 0);
    vchad_jobs_free(jobs);
    *state = NULL;
    vcha_sleep_ms(100);
    assert_false(test_process_dead((pid_t) pid));
    /* the next one takes it on: same process, reports again */
    next = vchad_jobs_new(vchad_job_types);
    *state = next;
    assert_int_equal(vchad_jobs_set_run_dir(next, run_dir), 0);
    assert_int_equal(vchad_jobs_adopt(next), 1);
    assert_int_equal(health_ll(next, "r/1", "pid"), pid);
    assert_int_equal(health_ll(next, "r/1", "adopted"), 1);
    /* its first report counted is whole, though its fifo held reports
     * written while no daemon read */
    loop_until_health(next, "r/1", "reports", 1);
    assert_int_equal(health_ll(next, "r/1", "fig.pid"), pid);
    loop_until_health(next, "r/1", "reports", 2);
    assert_int_equal(health_ll(next, "r/1", "fig.pid"), pid);
    assert_int_equal(health_ll(next, "r/1", "pid"), pid);
    assert_int_equal(health_ll(next, "r/1", "restarts"), 0);
    /* and its removal stops it, its child too */
    rec_init(&rm);
    assert_int_equal(vchad_jobs_remove(next, "r/1", 0, &rm.w), -EINPROGRESS);
    loop_until_called(next, &rm);
    assert_true(test_process_dead((pid_t) pid));
    assert_true(test_process_dead((pid_t) child));
    assert_int_equal(test_dir_entries(run_dir), 0);
    rec_clear(&rm);
}

/* The start time of process @p pid (/proc/PID/stat, field 22). */
static long long
proc_starttime(pid_t pid)
{
    char path[64], *stat, *p;
    long long t = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    stat = test_slurp(path);
    assert_non_null(stat);
    p = strrchr(stat, ')');
    for (int field = 2; p != NULL && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    assert_non_null(p);
    t = strtoll(p + 1, NULL, 10);
    free(stat);
    return t;
}

/* Record resident @p id as process @p pid started at @p start. */
static void
record_fake(const char *id, pid_t pid, long long start)
{
    char *name = NULL, *record, *text = NULL;

    assert_true(asprintf(&name, "%s.job", id) > 0);
    record = test_path(run_dir, name);
    assert_true(asprintf(&text,
                         "id=%s\ntype=resident\npid=%d\nstarttime=%lld\n"
                         "param.report_ms=20\n\n",
                         id, (int) pid, start) > 0);
    assert_int_equal(test_write_file(record, text), 0);
    free(text);
    free(record);
    free(name);
}

static void
test_resident_adopt_checks_the_start_time(void **state)
{
    struct vchad_jobs *jobs = *state;
    pid_t other = fork();

    if (other == 0) {
        alarm(30); /* should the test fail */
        setsid();  /* a session leader, as a resident is */
        for (;;) {
            pause();
        }
    }
    /* records naming a live process that is not the job's (reused pid):
     * its start time a tick off, or that of another live process */
    record_fake("r", other, proc_starttime(other) + 1);
    record_fake("s", other, proc_starttime(getpid()));
    assert_int_not_equal(proc_starttime(getpid()), proc_starttime(other));
    assert_int_equal(vchad_jobs_adopt(jobs), 2);
    assert_int_equal(health_ll(jobs, "r", "adopted"), 0);
    assert_int_equal(health_ll(jobs, "s", "adopted"), 0);
    loop_until_health(jobs, "r", "fig.seq", 1);
    loop_until_health(jobs, "s", "fig.seq", 1);
    assert_int_not_equal(health_ll(jobs, "r", "pid"), other);
    assert_int_not_equal(health_ll(jobs, "s", "pid"), other);
    assert_false(test_process_dead(other)); /* left alone */
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
}

static void
test_resident_removed_during_a_stop_stays_removed(void **state)
{
    struct vchad_jobs *jobs = *state, *next;
    char *record = test_path(run_dir, "r.job");
    long long pid;
    struct rec rm;

    add_resident(jobs, "r", params_of("report_ms=20", "ignore_term=1", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    pid = health_ll(jobs, "r", "pid");
    rec_init(&rm);
    assert_int_equal(vchad_jobs_remove(jobs, "r", 10000, &rm.w), -EINPROGRESS);
    loop_for(jobs, 100); /* its SIGTERM is ignored: the removal goes on */
    /* the daemon stops while it does */
    vchad_jobs_detach(jobs);
    vchad_jobs_stop(jobs);
    assert_true(test_process_dead((pid_t) pid));
    assert_int_equal(access(record, F_OK), -1);
    assert_int_equal(rm.calls, 1);
    assert_int_equal(rm.status, 0);
    assert_int_equal(vchad_jobs_count(jobs), 0);
    /* the next daemon does not bring it back */
    next = vchad_jobs_new(vchad_job_types);
    assert_int_equal(vchad_jobs_set_run_dir(next, run_dir), 0);
    assert_int_equal(vchad_jobs_adopt(next), 0);
    assert_int_equal(vchad_jobs_count(next), 0);
    vchad_jobs_free(next);
    rec_clear(&rm);
    free(record);
}

static void
test_resident_update_survives_the_daemon(void **state)
{
    struct vchad_jobs *jobs = *state, *next;
    struct vcha_kv *p = params_of("report_ms=20", "echo=new", NULL);
    enum vchad_add_result what;
    char why[256] = "", *echo;
    long long pid;

    add_resident(jobs, "r", params_of("report_ms=20", "echo=old", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    pid = health_ll(jobs, "r", "pid");
    assert_int_equal(
        vchad_jobs_add(jobs, "resident", "r", p, &what, why, sizeof(why)), 0);
    assert_int_equal(what, VCHAD_UPDATED);
    vcha_kv_free(p);
    /* the daemon dies before it has replaced the process */
    vchad_jobs_detach(jobs);
    vchad_jobs_free(jobs);
    *state = NULL;
    /* the next one starts a process with the new parameters */
    next = vchad_jobs_new(vchad_job_types);
    *state = next;
    assert_int_equal(vchad_jobs_set_run_dir(next, run_dir), 0);
    assert_int_equal(vchad_jobs_adopt(next), 1);
    assert_int_equal(health_ll(next, "r", "adopted"), 0);
    assert_true(test_process_dead((pid_t) pid));
    loop_until_health(next, "r", "fig.seq", 1);
    assert_int_not_equal(health_ll(next, "r", "pid"), pid);
    echo = health_str(next, "r", "fig.echo");
    assert_string_equal(echo, "new");
    free(echo);
}

static void
test_resident_adopt_kills_what_a_gone_process_left(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *record = test_path(run_dir, "r.job"), *text = NULL;
    pid_t leader, child = 0;
    int p[2];

    /* the recorded process is gone, its child lives on in its session */
    assert_int_equal(pipe(p), 0);
    leader = fork();
    if (leader == 0) {
        setsid();
        child = fork();
        if (child == 0) {
            alarm(30); /* should the test fail */
            for (;;) {
                pause();
            }
        }
        _exit(write(p[1], &child, sizeof(child)) == sizeof(child) ? 0 : 1);
    }
    assert_int_equal(read(p[0], &child, sizeof(child)), sizeof(child));
    close(p[0]);
    close(p[1]);
    assert_int_equal(waitpid(leader, NULL, 0), leader);
    assert_false(test_process_dead(child));
    assert_true(asprintf(&text,
                         "id=r\ntype=resident\npid=%d\nstarttime=12345\n"
                         "param.report_ms=20\n\n",
                         (int) leader) > 0);
    assert_int_equal(test_write_file(record, text), 0);
    assert_int_equal(vchad_jobs_adopt(jobs), 1);
    /* killed before another process is started */
    assert_true(test_process_dead(child));
    loop_until_health(jobs, "r", "fig.seq", 1);
    assert_int_equal(health_ll(jobs, "r", "adopted"), 0);
    kill(child, SIGKILL);
    free(text);
    free(record);
}

static void
test_resident_sees_its_start_and_no_deadline(void **state)
{
    struct vchad_jobs *jobs = *state;
    long long t0 = vcha_now_ms(), started;
    char *deadline, max[32];

    add_resident(jobs, "r", params_of("report_ms=20", NULL));
    loop_until_health(jobs, "r", "fig.seq", 1);
    /* started by the registry, before the process began */
    started = health_ll(jobs, "r", "fig.job_started");
    assert_in_range(started, t0, health_ll(jobs, "r", "fig.start_ms"));
    /* a resident has no run deadline: programs it runs until one are not
     * killed at once */
    deadline = health_str(jobs, "r", "fig.job_deadline");
    snprintf(max, sizeof(max), "%lld", LLONG_MAX);
    assert_string_equal(deadline, max);
    free(deadline);
}

static void
test_resident_long_lines_are_skipped_whole(void **state)
{
    struct vchad_jobs *jobs = *state;
    struct vcha_kv *h = vcha_kv_new();

    /* lines beyond the bound: none of them counts, what follows does */
    add_resident(jobs, "r", params_of("report_ms=20", "long_line=1", NULL));
    loop_until_health(jobs, "r", "fig.seq", 3);
    assert_int_equal(vchad_jobs_health(jobs, "r", h, NULL), 0);
    assert_null(vcha_kv_get(h, "fig.evil"));
    assert_null(vcha_kv_get(h, "fig.note"));
    assert_non_null(vcha_kv_get(h, "fig.same"));
    assert_int_equal(health_ll(jobs, "r", "fig.same"), 1);
    assert_int_equal(health_ll(jobs, "r", "restarts"), 0);
    vcha_kv_free(h);
}

static void
test_resident_run_dir_must_be_private(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *open_dir = test_path(run_dir, "open"),
         *link = test_path(run_dir, "l");

    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    assert_int_equal(vchad_jobs_set_run_dir(jobs, open_dir), -EPERM);
    assert_int_equal(chmod(open_dir, 0755), 0);
    assert_int_equal(vchad_jobs_set_run_dir(jobs, open_dir), 0);
    assert_int_equal(symlink(open_dir, link), 0);
    assert_int_not_equal(vchad_jobs_set_run_dir(jobs, link), 0);
    unlink(link);
    rmdir(open_dir);
    free(link);
    free(open_dir);
}

static void
test_resident_fifo_must_be_a_fifo(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *fifo = test_path(run_dir, "r.fifo");

    assert_int_equal(test_write_file(fifo, "not a fifo\n"), 0);
    add_resident(jobs, "r", params_of("report_ms=20", NULL));
    loop_for(jobs, 300);
    assert_int_equal(health_ll(jobs, "r", "pid"), 0);
    assert_int_equal(health_ll(jobs, "r", "reports"), 0);
    free(fifo);
}

static void
test_resident_adopt_removes_stale_temporary_records(void **state)
{
    struct vchad_jobs *jobs = *state;
    char *tmp = test_path(run_dir, "r.job.Ab12Cd");

    assert_int_equal(test_write_file(tmp, "id=r\n"), 0);
    assert_int_equal(vchad_jobs_adopt(jobs), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(test_dir_entries(run_dir), 0);
    free(tmp);
}

#define JOBS_TEST(f)                                                           \
    cmocka_unit_test_setup_teardown(f, jobs_setup, jobs_teardown)
#define ATTR_TEST(f)                                                           \
    cmocka_unit_test_setup_teardown(f, attr_setup, attr_teardown)
#define SRV_TEST(f) cmocka_unit_test_setup_teardown(f, srv_setup, srv_teardown)
#define RES_TEST(f) cmocka_unit_test_setup_teardown(f, res_setup, res_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        JOBS_TEST(test_types_and_accessors),
        JOBS_TEST(test_add_refuses_bad_jobs),
        JOBS_TEST(test_add_accepts_what_criuct_derives),
        JOBS_TEST(test_add_is_idempotent_and_updates),
        JOBS_TEST(test_health_of_a_new_job),
        JOBS_TEST(test_run_success_with_figures),
        JOBS_TEST(test_run_failure_with_error),
        JOBS_TEST(test_run_failure_without_error),
        JOBS_TEST(test_recovery_resets_consecutive_failures),
        JOBS_TEST(test_run_crash),
        JOBS_TEST(test_run_timeout_kills_the_group),
        JOBS_TEST(test_run_leftover_child_killed_after_success),
        JOBS_TEST(test_run_ignoring_sigterm_gets_sigkill),
        JOBS_TEST(test_figures_are_bounded),
        cmocka_unit_test(test_figure_key_checked),
        JOBS_TEST(test_interval_schedules_runs),
        JOBS_TEST(test_overrun_does_not_pile_up),
        JOBS_TEST(test_jobs_run_concurrently),
        JOBS_TEST(test_run_request_waits_for_a_fresh_run),
        JOBS_TEST(test_cancelled_waiter_is_not_called),
        JOBS_TEST(test_remove_idle_and_unknown),
        JOBS_TEST(test_remove_waits_for_the_run),
        JOBS_TEST(test_remove_kills_after_grace),
        cmocka_unit_test(test_free_kills_running_workers),
        JOBS_TEST(test_timeout_kills_what_the_worker_started),
        JOBS_TEST(test_remove_kills_what_the_worker_started),
        JOBS_TEST(test_removed_worker_stops_its_program_and_cleans_up),
        cmocka_unit_test(test_free_lets_workers_clean_up),
        JOBS_TEST(test_run_ends_when_its_programs_are_gone),
        JOBS_TEST(test_status_lists_jobs_by_id),
        ATTR_TEST(test_publish_and_unpublish_attributes),
        ATTR_TEST(test_publish_failed_run_deletes),
        JOBS_TEST(test_request_ping_and_status),
        JOBS_TEST(test_request_errors),
        JOBS_TEST(test_request_job_life),
        cmocka_unit_test(test_response_fill),
        SRV_TEST(test_server_socket_is_private),
        SRV_TEST(test_server_job_life),
        SRV_TEST(test_server_slow_clients_block_nobody),
        SRV_TEST(test_server_malformed_and_huge_requests),
        SRV_TEST(test_server_client_gone_while_waiting),
        SRV_TEST(test_server_second_instance_refused),
        SRV_TEST(test_server_sigterm_cleans_up),
        SRV_TEST(test_server_replaces_stale_socket),
        JOBS_TEST(test_resident_needs_a_run_dir),
        RES_TEST(test_resident_streams_figures_while_running),
        RES_TEST(test_resident_run_waits_for_a_report),
        RES_TEST(test_resident_exit_restarts_with_growing_backoff),
        RES_TEST(test_resident_backoff_resets_after_health),
        RES_TEST(test_resident_silent_is_lost_and_restarted),
        RES_TEST(test_resident_remove_stops_its_session),
        RES_TEST(test_resident_adopted_by_the_next_registry),
        RES_TEST(test_resident_adopt_checks_the_start_time),
        RES_TEST(test_resident_removed_during_a_stop_stays_removed),
        RES_TEST(test_resident_update_survives_the_daemon),
        RES_TEST(test_resident_adopt_kills_what_a_gone_process_left),
        RES_TEST(test_resident_sees_its_start_and_no_deadline),
        RES_TEST(test_resident_long_lines_are_skipped_whole),
        RES_TEST(test_resident_run_dir_must_be_private),
        RES_TEST(test_resident_fifo_must_be_a_fifo),
        RES_TEST(test_resident_adopt_removes_stale_temporary_records),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
