/*
 * Unit tests for libcommon/runtime/worker.c: work run in a worker process
 * until a deadline, its exit code and reason brought back, and a worker
 * that overruns killed with its children.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/worker.h>

#include "../test-util.h"

static int
say_and_exit(void *arg, char *reason, size_t len)
{
    snprintf(reason, len, "said %s", (const char *) arg);
    return 42;
}

static void
test_code_and_reason_come_back(void **state)
{
    char reason[64];
    int code = -1;

    (void) state;
    assert_int_equal(vcha_worker_run(say_and_exit, "hello",
                                     vcha_now_ms() + 5000, &code, reason,
                                     sizeof(reason)),
                     0);
    assert_int_equal(code, 42);
    assert_string_equal(reason, "said hello");
}

/* A write in the worker never reaches the caller's memory. */
static int
write_arg(void *arg, char *reason, size_t len)
{
    (void) reason;
    (void) len;
    *(int *) arg = 7;
    return 0;
}

static void
test_the_worker_is_another_process(void **state)
{
    char reason[64];
    int code = -1, seen = 1;

    (void) state;
    assert_int_equal(vcha_worker_run(write_arg, &seen, vcha_now_ms() + 5000,
                                     &code, reason, sizeof(reason)),
                     0);
    assert_int_equal(code, 0);
    assert_int_equal(seen, 1);
    assert_string_equal(reason, "");
}

/* Forks a child that writes its pid into the pipe of @p arg, then hangs. */
static int
hang_with_a_child(void *arg, char *reason, size_t len)
{
    int *fds = arg;
    pid_t child = fork();

    (void) reason;
    (void) len;
    if (child == 0) {
        pid_t me = getpid();

        (void) !write(fds[1], &me, sizeof(me));
        for (;;) {
            pause();
        }
    }
    pid_t me = getpid();

    (void) !write(fds[1], &me, sizeof(me));
    for (;;) {
        pause(); /* its own alarm is at the deadline too */
    }
    return 0;
}

static void
test_an_overrun_is_killed_with_its_children(void **state)
{
    char reason[128];
    int code = -1, fds[2];
    long long t0 = vcha_now_ms();
    pid_t pids[2];

    (void) state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(vcha_worker_run(hang_with_a_child, fds, t0 + 300, &code,
                                     reason, sizeof(reason)),
                     -ETIMEDOUT);
    assert_true(vcha_now_ms() - t0 < 300 + 1500);
    assert_string_equal(reason, "no answer in time");
    assert_int_equal(read(fds[0], pids, sizeof(pids)), (ssize_t) sizeof(pids));
    for (int i = 0; i < 2; i++) {
        /* the grandchild, reparented, may take a moment to be reaped */
        for (int k = 0; k < 100 && !test_process_dead(pids[i]); k++) {
            usleep(10000);
        }
        assert_true(test_process_dead(pids[i]));
    }
    close(fds[0]);
    close(fds[1]);
}

static int
die_of_abort(void *arg, char *reason, size_t len)
{
    (void) arg;
    (void) reason;
    (void) len;
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void
test_a_worker_that_dies_says_of_what(void **state)
{
    char reason[64];
    int code = -1;

    (void) state;
    assert_int_equal(vcha_worker_run(die_of_abort, NULL, vcha_now_ms() + 5000,
                                     &code, reason, sizeof(reason)),
                     -ECHILD);
    assert_int_equal(code, SIGABRT);
    assert_string_equal(reason, "the worker died (signal 6)");
}

static void
test_no_time_left_is_a_timeout_at_once(void **state)
{
    char reason[64];
    int code = -1;
    long long t0 = vcha_now_ms();

    (void) state;
    assert_int_equal(vcha_worker_run(say_and_exit, "late", t0 - 1, &code,
                                     reason, sizeof(reason)),
                     -ETIMEDOUT);
    assert_true(vcha_now_ms() - t0 < 1500);
    assert_int_not_equal(code, 42);
    assert_string_equal(reason, "no answer in time");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_and_reason_come_back),
        cmocka_unit_test(test_the_worker_is_another_process),
        cmocka_unit_test(test_an_overrun_is_killed_with_its_children),
        cmocka_unit_test(test_a_worker_that_dies_says_of_what),
        cmocka_unit_test(test_no_time_left_is_a_timeout_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
