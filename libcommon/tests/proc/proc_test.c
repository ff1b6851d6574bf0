/* Unit tests for runtime/proc.c: children tied to a parent, bounded reap. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/clock.h>
#include <vcha/proc.h>

#include "../test-util.h"

/* A child tied to this process: 0 from the tie, and it runs on. */
static void
test_tie_to_a_live_parent(void **state)
{
    pid_t me = getpid(), kid;
    int status = 0;

    (void) state;
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        _exit(vcha_proc_tie(me, SIGKILL) == 0 ? 0 : 1);
    }
    assert_int_equal(vcha_proc_reap(kid, &status, vcha_now_ms() + 5000), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A parent that died between the fork and the tie: -ESRCH.  The middle
 * process forks the grandchild and exits; the grandchild ties itself to
 * the middle's pid once that is gone, and reports through a pipe.
 */
static void
test_tie_to_a_parent_gone_before(void **state)
{
    int p[2], rc = 1;
    pid_t middle;

    (void) state;
    assert_int_equal(pipe(p), 0);
    middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        pid_t self = getpid(), kid = fork();

        if (kid == 0) {
            while (getppid() == self) {
                usleep(1000); /* until the middle is gone */
            }
            rc = vcha_proc_tie(self, SIGKILL);
            (void) !write(p[1], &rc, sizeof(rc));
            _exit(0);
        }
        _exit(0);
    }
    close(p[1]);
    assert_int_equal(vcha_proc_reap(middle, NULL, vcha_now_ms() + 5000), 0);
    assert_int_equal(read(p[0], &rc, sizeof(rc)), (ssize_t) sizeof(rc));
    assert_int_equal(rc, -ESRCH);
    close(p[0]);
}

/* The parent's death delivers the signal: the tied grandchild dies. */
static void
test_tie_kills_with_the_parent(void **state)
{
    int ready[2], report[2];
    pid_t middle, grandchild = 0;
    long long until = vcha_now_ms() + 5000;
    char c;

    (void) state;
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(report), 0);
    middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        pid_t self = getpid();

        if (fork() == 0) {
            pid_t me = getpid();

            if (vcha_proc_tie(self, SIGKILL) == 0) {
                (void) !write(report[1], &me, sizeof(me));
                (void) !write(ready[1], "x", 1);
                pause();
            }
            _exit(1);
        }
        (void) !read(ready[0], &c, 1); /* the grandchild is tied: die */
        _exit(0);
    }
    close(report[1]);
    assert_int_equal(read(report[0], &grandchild, sizeof(grandchild)),
                     (ssize_t) sizeof(grandchild));
    assert_int_equal(vcha_proc_reap(middle, NULL, vcha_now_ms() + 5000), 0);
    while (!test_process_dead(grandchild) && vcha_now_ms() < until) {
        usleep(1000);
    }
    assert_true(test_process_dead(grandchild));
    close(report[0]);
    close(ready[0]);
    close(ready[1]);
}

static void
test_reap_gives_the_status(void **state)
{
    pid_t kid;
    int status = 0;

    (void) state;
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        _exit(7);
    }
    assert_int_equal(vcha_proc_reap(kid, &status, vcha_now_ms() + 5000), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
}

/* A child that does not end is given up at the deadline, not later. */
static void
test_reap_gives_up_at_the_deadline(void **state)
{
    long long t0 = vcha_now_ms();
    pid_t kid;

    (void) state;
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(vcha_proc_reap(kid, NULL, t0 + 100), -ETIMEDOUT);
    assert_true(vcha_now_ms() >= t0 + 100);
    assert_false(test_process_dead(kid));
    kill(kid, SIGKILL);
    assert_int_equal(vcha_proc_reap(kid, NULL, vcha_now_ms() + 5000), 0);
}

static void
test_reap_of_no_child(void **state)
{
    (void) state;
    assert_int_equal(vcha_proc_reap(1, NULL, vcha_now_ms() + 1000), -ECHILD);
}

/*
 * A process of this test binary whose argv is @p argv (argv[0] as a
 * hypervisor's): it waits to be killed (see main()).
 */
static const char *self; /* this test's program, from main()'s argv[0] */

static pid_t
pose_as(char *const argv[])
{
    pid_t pid = fork();

    if (pid == 0) {
        setenv("PROC_TEST_POSE", "1", 1);
        /* not /proc/self/exe: under valgrind, that is valgrind's tool */
        execv(self, argv);
        _exit(127);
    }
    usleep(100000); /* until it has exec'd: its cmdline is the new one */
    return pid;
}

static void
unpose(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void
test_domain_process(void **state)
{
    char *qemu[] = {"/usr/bin/qemu-system-x86_64", "-name",
                    "guest=vcha-t,,1,debug-threads=on", "-S", NULL};
    char *lxc[] = {"/usr/lib/libvirt/libvirt_lxc",
                   "--name",
                   "vcha-t2",
                   "--console",
                   "25",
                   NULL};
    char *other[] = {"/usr/bin/find", "-name", "vcha-t3", NULL};
    char *kvm[] = {"/usr/bin/kvm", "-name", "guest=vcha-t3", NULL};
    pid_t p;

    (void) state;
    assert_int_equal(vcha_proc_hypervisor("vcha-t,1"), 0);
    p = pose_as(qemu);
    assert_int_equal(vcha_proc_hypervisor("vcha-t,1"), p);
    assert_int_equal(vcha_proc_hypervisor("vcha-t"), 0);
    assert_int_equal(vcha_proc_hypervisor("vcha-t,1,"), 0);
    unpose(p);
    assert_int_equal(vcha_proc_hypervisor("vcha-t,1"), 0);
    p = pose_as(lxc);
    assert_int_equal(vcha_proc_hypervisor("vcha-t2"), p);
    assert_int_equal(vcha_proc_hypervisor("vcha-t"), 0);
    unpose(p);
    /* "-name NAME" of another program is not a QEMU's */
    p = pose_as(other);
    assert_int_equal(vcha_proc_hypervisor("vcha-t3"), 0);
    unpose(p);
    /* "-name guest=NAME" is, whatever the program is called */
    p = pose_as(kvm);
    assert_int_equal(vcha_proc_hypervisor("vcha-t3"), p);
    unpose(p);
}

static void *
sleeper(void *arg)
{
    (void) arg;
    for (;;) {
        pause();
    }
    return NULL;
}

/* A QEMU whose main thread has exited reads no argv: nothing is proved. */
static void
test_domain_process_hidden(void **state)
{
    bool runs;
    int hidden;
    pid_t p;

    (void) state;
    assert_int_equal(vcha_proc_hypervisor("vcha-t5"), 0);
    p = fork();
    if (p == 0) {
        pthread_t t;

        prctl(PR_SET_NAME, "qemu-system-x86");
        if (pthread_create(&t, NULL, sleeper, NULL) != 0) {
            _exit(1);
        }
        pthread_exit(NULL); /* the main thread ends, the process lives */
    }
    usleep(200000);
    hidden = vcha_proc_hypervisor("vcha-t5");
    /* its leader a zombie, another thread alive: it has not ended */
    runs = vcha_proc_runs("vcha-t5", p);
    unpose(p); /* before any assertion, or it outlives a failed one */
    assert_int_equal(hidden, -EBUSY);
    assert_true(runs);
    assert_int_equal(vcha_proc_hypervisor("vcha-t5"), 0);
}

/* A process's start time and age: a child started later is younger,
 * and ages as time passes; no process, no age. */
static void
test_start_and_age(void **state)
{
    unsigned long long mine, its;
    long long a0, a1;
    pid_t p;

    (void) state;
    p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(vcha_proc_start(getpid(), &mine), 0);
    assert_int_equal(vcha_proc_start(p, &its), 0);
    assert_true(its >= mine);
    a0 = vcha_proc_age_ms(p);
    usleep(300000);
    a1 = vcha_proc_age_ms(p);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    assert_true(a0 >= 0 && a0 < 60000);
    assert_true(a1 >= a0 + 200); /* ticks of 10 ms: 300 ms less slack */
    assert_true(a1 - a0 < 2000); /* and in ms, not a larger unit */
    assert_true(vcha_proc_age_ms(getpid()) >= a0);
    assert_true(vcha_proc_age_ms(p) < 0); /* reaped: gone */
    assert_true(vcha_proc_start(p, &its) < 0);
}

/* Ended by SIGTERM, or by SIGKILL when it ignores SIGTERM; a PID that is
 * no process of that name left alone. */
static void
test_end_hypervisor(void **state)
{
    char *qemu[] = {"/usr/bin/qemu-system-x86_64", "-name", "guest=vcha-t6",
                    NULL};
    long long t0;
    int status;
    pid_t p;

    (void) state;
    p = pose_as(qemu);
    assert_true(vcha_proc_runs("vcha-t6", p));
    assert_false(vcha_proc_runs("vcha-t7", p));
    assert_int_equal(vcha_proc_end_hypervisor("vcha-t7", p, 100,
                                              vcha_now_ms() + 2000),
                     0);
    assert_int_equal(kill(p, 0), 0); /* not vcha-t7's: alive */
    assert_int_equal(vcha_proc_end_hypervisor("vcha-t6", p, 5000,
                                              vcha_now_ms() + 10000),
                     0);
    assert_false(vcha_proc_runs("vcha-t6", p));        /* a zombie has ended */
    assert_int_equal(waitpid(p, &status, WNOHANG), p); /* ended, not waited */
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);

    setenv("PROC_TEST_DEAF", "1", 1);
    p = pose_as(qemu);
    unsetenv("PROC_TEST_DEAF");
    t0 = vcha_now_ms();
    assert_int_equal(vcha_proc_end_hypervisor("vcha-t6", p, 300,
                                              vcha_now_ms() + 10000),
                     0);
    assert_true(vcha_now_ms() - t0 >= 300); /* SIGTERM given its time */
    assert_int_equal(waitpid(p, &status, WNOHANG), p);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* a process gone, its PID free: nothing to end */
    assert_int_equal(vcha_proc_end_hypervisor("vcha-t6", p, 100,
                                              vcha_now_ms() + 1000),
                     0);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tie_to_a_live_parent),
        cmocka_unit_test(test_tie_to_a_parent_gone_before),
        cmocka_unit_test(test_tie_kills_with_the_parent),
        cmocka_unit_test(test_reap_gives_the_status),
        cmocka_unit_test(test_reap_gives_up_at_the_deadline),
        cmocka_unit_test(test_reap_of_no_child),
        cmocka_unit_test(test_domain_process),
        cmocka_unit_test(test_domain_process_hidden),
        cmocka_unit_test(test_start_and_age),
        cmocka_unit_test(test_end_hypervisor),
    };

    (void) argc;
    self = argv[0];
    if (getenv("PROC_TEST_POSE") != NULL) {
        if (getenv("PROC_TEST_DEAF") != NULL) {
            signal(SIGTERM, SIG_IGN);
        }
        pause(); /* posing as a hypervisor: see pose_as() */
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
