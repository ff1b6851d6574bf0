/* Unit tests for libcommon/runtime/exec.c: running real programs. */
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/agent.h> /* vcha_now_ms */
#include <vcha/clock.h>
#include <vcha/exec.h>

#include "../test-util.h"

/*
 * pipe2() wrapped (-Wl,--wrap=pipe2): a test can have vcha_exec_cancel()
 * come at the instant vcha_exec() starts.
 */
int __wrap_pipe2(int fds[2], int flags);
int __real_pipe2(int fds[2], int flags);

static bool cancel_in_pipe2;

int
__wrap_pipe2(int fds[2], int flags)
{
    if (cancel_in_pipe2) {
        cancel_in_pipe2 = false;
        vcha_exec_cancel();
    }
    return __real_pipe2(fds, flags);
}

/*
 * close_range() wrapped (-Wl,--wrap=close_range): a test can have it fail
 * as on a kernel before Linux 5.9 or under a seccomp filter, in the
 * processes vcha_exec() forks as well.
 */
int __wrap_close_range(unsigned int low, unsigned int high, int flags);
int __real_close_range(unsigned int low, unsigned int high, int flags);

static bool close_range_enosys;

int
__wrap_close_range(unsigned int low, unsigned int high, int flags)
{
    if (close_range_enosys) {
        errno = ENOSYS;
        return -1;
    }
    return __real_close_range(low, high, flags);
}

/*
 * execvp() wrapped (-Wl,--wrap=execvp): a test can have the program hang
 * before its exec, as one on a hung file system does.
 */
int __wrap_execvp(const char *file, char *const argv[]);
int __real_execvp(const char *file, char *const argv[]);

static bool execvp_hangs;

int
__wrap_execvp(const char *file, char *const argv[])
{
    if (execvp_hangs) {
        pause();
    }
    return __real_execvp(file, argv);
}

/*
 * getppid() wrapped (-Wl,--wrap=getppid): a test can have the program see
 * itself orphaned (init its parent) as if its keeper died right after the
 * fork, the keeper itself unaffected.
 */
pid_t __wrap_getppid(void);
pid_t __real_getppid(void);

static pid_t orphan_grandchildren_of;

pid_t
__wrap_getppid(void)
{
    pid_t ppid = __real_getppid();

    if (orphan_grandchildren_of != 0 && getpid() != orphan_grandchildren_of &&
        ppid != orphan_grandchildren_of) {
        return 1;
    }
    return ppid;
}

#define MIB (1024 * 1024)
#define TIMEOUT_MS 20000 /* for programs that should end by themselves */

/* ------------------------------------------------------------ helpers */

/* Run @p argv with no input; asserts that it could be started. */
static void
run(const char *const argv[], struct vcha_exec_result *res)
{
    assert_int_equal(vcha_exec(argv, NULL, 0, TIMEOUT_MS, res), 0);
    assert_non_null(res->out);
    assert_non_null(res->err);
}

/* Run "sh -c @p script". */
static void
run_sh(const char *script, struct vcha_exec_result *res)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};

    run(argv, res);
}

/* A buffer of @p len bytes with a pattern that shows misplaced bytes. */
static char *
pattern_new(size_t len)
{
    char *buf = malloc(len);

    assert_non_null(buf);
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char) ('a' + (i * 7 + i / 4096) % 26);
    }
    return buf;
}

/* A line equal to @p line occurs in @p text. */
static bool
has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t) (nl - p) : strlen(p);

        if (n == len && strncmp(p, line, len) == 0) {
            return true;
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

/* ------------------------------------------------------------ exit codes */

/* The pid a program wrote into @p path, waiting up to 10 s for it. */
static pid_t
pid_from(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        char *text = test_slurp(path);
        pid_t pid = text != NULL ? (pid_t) atoi(text) : 0;

        free(text);
        if (pid > 1) {
            return pid;
        }
        vcha_sleep_ms(10);
    }
    fail_msg("no pid in %s", path);
    return 0;
}

/* Whether @p pid dies within 10 s. */
static bool
dies(pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        if (test_process_dead(pid)) {
            return true;
        }
        vcha_sleep_ms(10);
    }
    return false;
}

static void
test_exec_true_succeeds(void **state)
{
    const char *argv[] = {"/bin/true", NULL};
    struct vcha_exec_result res;

    (void) state;
    run(argv, &res);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.signal, 0);
    assert_false(res.timed_out);
    assert_false(res.truncated);
    assert_true(vcha_exec_ok(&res));
    assert_string_equal(res.out, "");
    assert_int_equal(res.out_len, 0);
    assert_string_equal(res.err, "");
    assert_int_equal(res.err_len, 0);
    vcha_exec_result_clear(&res);
}

static void
test_exec_false_fails(void **state)
{
    const char *argv[] = {"/bin/false", NULL};
    struct vcha_exec_result res;

    (void) state;
    run(argv, &res);
    assert_int_equal(res.exit_code, 1);
    assert_int_equal(res.signal, 0);
    assert_false(vcha_exec_ok(&res));
    vcha_exec_result_clear(&res);
}

static void
test_exec_reports_exit_code(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("exit 3", &res);
    assert_int_equal(res.exit_code, 3);
    vcha_exec_result_clear(&res);
    /* 127 from the program itself is not an exec failure */
    run_sh("exit 127", &res);
    assert_int_equal(res.exit_code, 127);
    vcha_exec_result_clear(&res);
    run_sh("exit 255", &res);
    assert_int_equal(res.exit_code, 255);
    vcha_exec_result_clear(&res);
}

static void
test_exec_looks_up_program_in_path(void **state)
{
    const char *argv[] = {"sh", "-c", "exit 4", NULL};
    struct vcha_exec_result res;

    (void) state;
    run(argv, &res);
    assert_int_equal(res.exit_code, 4);
    vcha_exec_result_clear(&res);
}

static void
test_exec_killed_by_signal(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("kill -KILL $$", &res);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.signal, SIGKILL);
    assert_false(res.timed_out);
    assert_false(vcha_exec_ok(&res));
    vcha_exec_result_clear(&res);
}

/* ------------------------------------------------------------ failures */

static void
test_exec_missing_program_is_enoent(void **state)
{
    const char *by_path[] = {"/nonexistent/vcha-prog", NULL};
    const char *by_name[] = {"vcha-no-such-program", NULL};
    struct vcha_exec_result res;

    (void) state;
    assert_int_equal(vcha_exec(by_path, NULL, 0, TIMEOUT_MS, &res), -ENOENT);
    assert_null(res.out);
    assert_int_equal(vcha_exec(by_name, NULL, 0, TIMEOUT_MS, &res), -ENOENT);
    vcha_exec_result_clear(&res);
}

static void
test_exec_not_executable_is_eacces(void **state)
{
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "script");
    const char *argv[] = {path, NULL};
    struct vcha_exec_result res;

    (void) state;
    assert_int_equal(test_write_file(path, "#!/bin/sh\nexit 0\n"), 0);
    chmod(path, 0644);
    assert_int_equal(vcha_exec(argv, NULL, 0, TIMEOUT_MS, &res), -EACCES);
    vcha_exec_result_clear(&res);
    free(path);
    test_tmpdir_remove(dir);
}

static void
test_exec_rejects_empty_argv(void **state)
{
    const char *empty[] = {NULL};
    struct vcha_exec_result res;

    (void) state;
    assert_int_equal(vcha_exec(NULL, NULL, 0, TIMEOUT_MS, &res), -EINVAL);
    assert_int_equal(vcha_exec(empty, NULL, 0, TIMEOUT_MS, &res), -EINVAL);
}

/* ------------------------------------------------------------ output */

static void
test_exec_captures_stdout_and_stderr_apart(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("printf 'to out'; printf 'to err' >&2", &res);
    assert_string_equal(res.out, "to out");
    assert_int_equal(res.out_len, 6);
    assert_string_equal(res.err, "to err");
    assert_int_equal(res.err_len, 6);
    vcha_exec_result_clear(&res);
}

static void
test_exec_keeps_nul_bytes_in_output(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("printf 'a\\000b'", &res);
    assert_int_equal(res.out_len, 3);
    assert_memory_equal(res.out, "a\0b", 4); /* and the final NUL */
    vcha_exec_result_clear(&res);
}

static void
test_exec_passes_argv_without_a_shell(void **state)
{
    const char *argv[] = {"printf", "%s|", "a b", "$HOME", "*", "';x'", NULL};
    struct vcha_exec_result res;

    (void) state;
    run(argv, &res);
    assert_string_equal(res.out, "a b|$HOME|*|';x'|");
    vcha_exec_result_clear(&res);
}

static void
test_exec_output_beyond_limit_is_truncated(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2", &res);
    assert_int_equal(res.exit_code, 0);
    assert_true(res.truncated);
    assert_int_equal(res.out_len, VCHA_EXEC_MAX_OUTPUT);
    assert_int_equal(res.err_len, VCHA_EXEC_MAX_OUTPUT);
    assert_int_equal(res.out[res.out_len], '\0');
    vcha_exec_result_clear(&res);
}

static void
test_exec_output_at_limit_is_not_truncated(void **state)
{
    char script[64];
    struct vcha_exec_result res;

    (void) state;
    snprintf(script, sizeof(script), "head -c %d /dev/zero",
             VCHA_EXEC_MAX_OUTPUT);
    run_sh(script, &res);
    assert_false(res.truncated);
    assert_int_equal(res.out_len, VCHA_EXEC_MAX_OUTPUT);
    vcha_exec_result_clear(&res);
}

/* ------------------------------------------------------------ input */

static void
test_exec_feeds_stdin(void **state)
{
    const char *argv[] = {"cat", NULL};
    const char input[] = "hello\nworld\n";
    struct vcha_exec_result res;

    (void) state;
    assert_int_equal(vcha_exec(argv, input, strlen(input), TIMEOUT_MS, &res),
                     0);
    assert_string_equal(res.out, input);
    vcha_exec_result_clear(&res);
}

static void
test_exec_without_input_gives_eof(void **state)
{
    const char *argv[] = {"cat", NULL};
    struct vcha_exec_result res;

    (void) state;
    /* cat would hang if stdin were left open */
    assert_int_equal(vcha_exec(argv, NULL, 0, 5000, &res), 0);
    assert_false(res.timed_out);
    assert_int_equal(res.out_len, 0);
    vcha_exec_result_clear(&res);
}

static void
test_exec_large_input_and_output_do_not_deadlock(void **state)
{
    const char *argv[] = {"cat", NULL};
    size_t len = 6 * MIB;
    char *input = pattern_new(len);
    struct vcha_exec_result res;
    long long t0 = vcha_now_ms();

    (void) state;
    assert_int_equal(vcha_exec(argv, input, len, TIMEOUT_MS, &res), 0);
    assert_true(vcha_now_ms() - t0 < TIMEOUT_MS / 2);
    assert_false(res.timed_out);
    assert_int_equal(res.exit_code, 0);
    assert_true(res.truncated);
    assert_int_equal(res.out_len, VCHA_EXEC_MAX_OUTPUT);
    assert_memory_equal(res.out, input, VCHA_EXEC_MAX_OUTPUT);
    vcha_exec_result_clear(&res);
    free(input);
}

static void
test_exec_large_input_is_delivered_whole(void **state)
{
    const char *argv[] = {"wc", "-c", NULL};
    size_t len = 3 * MIB + 17;
    char *input = pattern_new(len);
    struct vcha_exec_result res;
    char expect[32];

    (void) state;
    assert_int_equal(vcha_exec(argv, input, len, TIMEOUT_MS, &res), 0);
    snprintf(expect, sizeof(expect), "%zu\n", len);
    assert_string_equal(res.out, expect);
    vcha_exec_result_clear(&res);
    free(input);
}

static void
test_exec_program_ignoring_input(void **state)
{
    const char *argv[] = {"/bin/true", NULL};
    size_t len = 4 * MIB;
    char *input = pattern_new(len);
    struct vcha_exec_result res;

    (void) state;
    /* the write fails with EPIPE; that must not kill the test */
    assert_int_equal(vcha_exec(argv, input, len, TIMEOUT_MS, &res), 0);
    assert_true(vcha_exec_ok(&res));
    vcha_exec_result_clear(&res);
    free(input);
}

/* ------------------------------------------------------------ timeouts */

static void
test_exec_timeout_kills_program_quickly(void **state)
{
    const char *argv[] = {"sleep", "10", NULL};
    struct vcha_exec_result res;
    long long t0 = vcha_now_ms(), elapsed;

    (void) state;
    assert_int_equal(vcha_exec(argv, NULL, 0, 300, &res), 0);
    elapsed = vcha_now_ms() - t0;
    assert_true(elapsed >= 300);
    assert_true(elapsed < 2000);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    assert_int_equal(res.exit_code, -1);
    assert_false(vcha_exec_ok(&res));
    vcha_exec_result_clear(&res);
}

static void
test_exec_timeout_kills_whole_process_group(void **state)
{
    char *dir = test_tmpdir_new();
    char *pidfile = test_path(dir, "pid");
    char *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res;
    char *text;
    long long t0 = vcha_now_ms();

    (void) state;
    assert_true(
        asprintf(&script, "sleep 30 & echo $! > '%s'; sleep 30", pidfile) > 0);
    argv[2] = script;
    assert_int_equal(vcha_exec(argv, NULL, 0, 300, &res), 0);
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_true(res.timed_out);
    text = test_slurp(pidfile);
    assert_non_null(text);
    pid_t bg = (pid_t) atoi(text);
    assert_true(bg > 1);
    assert_true(dies(bg)); /* SIGTERM sent: it dies, in its own time */
    free(text);
    free(script);
    free(pidfile);
    vcha_exec_result_clear(&res);
    test_tmpdir_remove(dir);
}

static void
test_exec_timeout_escalates_to_sigkill(void **state)
{
    struct vcha_exec_result res;
    const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30", NULL};
    long long t0 = vcha_now_ms();

    (void) state;
    assert_int_equal(vcha_exec(argv, NULL, 0, 300, &res), 0);
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGKILL);
    vcha_exec_result_clear(&res);
}

static void
test_exec_timeout_while_input_is_pending(void **state)
{
    const char *argv[] = {"sleep", "10", NULL};
    size_t len = 4 * MIB;
    char *input = pattern_new(len);
    struct vcha_exec_result res;
    long long t0 = vcha_now_ms();

    (void) state;
    assert_int_equal(vcha_exec(argv, input, len, 300, &res), 0);
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_true(res.timed_out);
    vcha_exec_result_clear(&res);
    free(input);
}

/* ------------------------------------------------------------ isolation */

static void
test_exec_child_does_not_inherit_fds(void **state)
{
    const char *argv[] = {"ls", "/proc/self/fd", NULL};
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "leak");
    struct vcha_exec_result res;
    int fd = open(path, O_WRONLY | O_CREAT, 0600); /* no O_CLOEXEC */

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 57), 57); /* and one far from the others */
    run(argv, &res);
    assert_true(has_line(res.out, "0"));
    assert_true(has_line(res.out, "1"));
    assert_true(has_line(res.out, "2"));
    assert_false(has_line(res.out, "57"));
    /* only ls's own directory descriptor besides 0-2 */
    assert_int_equal(strlen(res.out), strlen("0\n1\n2\n3\n"));
    vcha_exec_result_clear(&res);
    close(57);
    close(fd);
    free(path);
    test_tmpdir_remove(dir);
}

/*
 * Without close_range() the descriptors are closed one by one: the
 * program inherits none, and its start is known at once (not when it
 * ends), so that its deadline holds.
 */
static void
test_exec_without_close_range(void **state)
{
    const char *ls[] = {"ls", "/proc/self/fd", NULL};
    const char *sleep[] = {"sleep", "5", NULL};
    struct vcha_exec_result res;
    long long t0;
    int fd = dup(2), rc; /* not close-on-exec */

    (void) state;
    assert_true(fd >= 0);
    close_range_enosys = true;
    rc = vcha_exec(ls, NULL, 0, TIMEOUT_MS, &res);
    close_range_enosys = false;
    assert_int_equal(rc, 0);
    assert_string_equal(res.out, "0\n1\n2\n3\n"); /* 3: ls's directory */
    vcha_exec_result_clear(&res);
    t0 = vcha_now_ms();
    close_range_enosys = true;
    rc = vcha_exec(sleep, NULL, 0, 300, &res);
    close_range_enosys = false;
    assert_int_equal(rc, 0);
    assert_true(res.timed_out);
    assert_true(vcha_now_ms() - t0 < 3000);
    vcha_exec_result_clear(&res);
    close(fd);
}

/* A program that hangs before its exec is killed at its deadline. */
static void
test_exec_deadline_holds_before_the_exec(void **state)
{
    const char *argv[] = {"/bin/true", NULL};
    struct vcha_exec_result res;
    long long t0 = vcha_now_ms();
    int rc;

    (void) state;
    execvp_hangs = true;
    rc = vcha_exec(argv, NULL, 0, 300, &res);
    execvp_hangs = false;
    assert_int_equal(rc, 0);
    assert_true(vcha_now_ms() - t0 < 3000);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    vcha_exec_result_clear(&res);
}

/*
 * A program whose keeper died before it asked for its parent-death signal
 * is not run: it would outlive the caller.
 */
static void
test_exec_program_orphaned_at_its_start_is_not_run(void **state)
{
    const char *argv[] = {"/bin/true", NULL};
    struct vcha_exec_result res;
    int rc;

    (void) state;
    orphan_grandchildren_of = getpid();
    rc = vcha_exec(argv, NULL, 0, TIMEOUT_MS, &res);
    orphan_grandchildren_of = 0;
    assert_int_equal(rc, -ESRCH);
    vcha_exec_result_clear(&res);
}

/*
 * A process group of its own, led by the program; its parent (the keeper)
 * leads another, so that what the program's group is sent spares it.
 */
static void
test_exec_child_has_own_process_group(void **state)
{
    struct vcha_exec_result res;
    int pid = 0, ppid = 0, pgrp = 0, keeper_pgrp = 0;

    (void) state;
    run_sh("echo $$ $(cut -d' ' -f4,5 /proc/$$/stat) "
           "$(cut -d' ' -f5 /proc/$PPID/stat)",
           &res);
    assert_int_equal(
        sscanf(res.out, "%d %d %d %d", &pid, &ppid, &pgrp, &keeper_pgrp), 4);
    assert_int_equal(pgrp, pid);
    assert_int_not_equal(pgrp, getpgrp());
    assert_int_not_equal(ppid, getpid());
    assert_int_equal(keeper_pgrp, ppid);
    vcha_exec_result_clear(&res);
}

/* The hex mask after "@p field:\t" in /proc/<pid>/status text. */
static unsigned long long
status_mask(const char *status, const char *field)
{
    const char *at = strstr(status, field);

    assert_non_null(at);
    return strtoull(at + strlen(field) + 2, NULL, 16);
}

static void
test_exec_child_gets_default_signals(void **state)
{
    const char *argv[] = {"cat", "/proc/self/status", NULL};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
    sigset_t block, old_mask;
    struct vcha_exec_result res;
    /* 32 and up are glibc's own (cancellation, setxid): leave them alone */
    const unsigned long long standard = (1ULL << 31) - 1;

    (void) state;
    sigaction(SIGINT, &ign, &old_int);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    run(argv, &res);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGINT, &old_int, NULL);
    /* nothing ignored (SIGPIPE is, in the caller) or blocked */
    assert_true((status_mask(res.out, "SigIgn") & standard) == 0);
    assert_true((status_mask(res.out, "SigBlk") & standard) == 0);
    vcha_exec_result_clear(&res);
}

/* ------------------------------------------------------------ results */

static void
test_exec_ok_only_for_clean_exit_0(void **state)
{
    struct vcha_exec_result r = {0};

    (void) state;
    assert_true(vcha_exec_ok(&r));
    r.exit_code = 2;
    assert_false(vcha_exec_ok(&r));
    r = (struct vcha_exec_result){.exit_code = -1, .signal = SIGTERM};
    assert_false(vcha_exec_ok(&r));
    r = (struct vcha_exec_result){.timed_out = true};
    assert_false(vcha_exec_ok(&r));
}

static void
test_exec_result_clear_frees_and_zeroes(void **state)
{
    struct vcha_exec_result res;

    (void) state;
    run_sh("echo out; echo err >&2; exit 9", &res);
    vcha_exec_result_clear(&res);
    assert_null(res.out);
    assert_null(res.err);
    assert_int_equal(res.out_len, 0);
    assert_int_equal(res.exit_code, 0);
    vcha_exec_result_clear(&res); /* twice is fine */
    vcha_exec_result_clear(NULL);
}

/* ------------------------------------------------------------ find */

static void
test_exec_find_programs_in_path(void **state)
{
    (void) state;
    assert_int_equal(vcha_exec_find("sh"), 0);
    assert_int_equal(vcha_exec_find("cat"), 0);
    assert_int_equal(vcha_exec_find("vcha-no-such-program"), -ENOENT);
    assert_int_equal(vcha_exec_find(""), -ENOENT);
    assert_int_equal(vcha_exec_find(NULL), -ENOENT);
}

static void
cancel_on_alarm(int sig)
{
    (void) sig;
    vcha_exec_cancel();
}

/*
 * In a child (the cancel is for the whole process): a signal handler that
 * calls vcha_exec_cancel() kills the program under way, and nothing is
 * started after it but what vcha_exec() runs for cleanup.
 */
static int
cancel_child(const char *pidfile)
{
    char *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    const char *t[] = {"true", NULL};
    struct vcha_exec_result res;
    char why[256];
    int rc;

    if (asprintf(&script, "echo $$ > '%s'; exec sleep 30", pidfile) < 0) {
        return 10;
    }
    argv[2] = script;
    signal(SIGALRM, cancel_on_alarm);
    alarm(1);
    rc = vcha_exec_until(argv, vcha_now_ms() + 30000, why, sizeof(why));
    free(script);
    if (rc != -ECANCELED || strstr(why, "killed: stopping") == NULL) {
        return 11;
    }
    if (!vcha_exec_cancelled() || vcha_exec_until(t, vcha_now_ms() + 5000, why,
                                                  sizeof(why)) != -ECANCELED) {
        return 12;
    }
    if (vcha_exec(t, NULL, 0, 5000, &res) != 0 || !vcha_exec_ok(&res)) {
        return 13;
    }
    vcha_exec_result_clear(&res);
    return 0;
}

/*
 * Run @p fn(@p arg) in a child (a cancel is for the whole process) and
 * check that it exits 0.  @p dir and @p pidfile are freed in the child.
 */
static void
in_child(int (*fn)(const char *), const char *arg, char *dir, char *pidfile)
{
    int status = 0;
    pid_t child;

    fflush(NULL);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int rc = fn(arg);

        free(pidfile); /* the child's copies, for valgrind */
        free(dir);
        _exit(rc);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_exec_cancel_kills_and_stops(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile;

    (void) state;
    pidfile = dir != NULL ? test_path(dir, "pid") : NULL;
    assert_non_null(pidfile);
    in_child(cancel_child, pidfile, dir, pidfile);
    assert_true(dies(pid_from(pidfile)));
    free(pidfile);
    test_tmpdir_remove(dir);
}

/*
 * In a child: a cancel that comes after vcha_exec_until() looked and
 * before its program started kills the program all the same.
 */
static int
cancel_early_child(const char *unused)
{
    const char *argv[] = {"sleep", "30", NULL};
    long long t0 = vcha_now_ms();
    char why[256];
    int rc;

    (void) unused;
    cancel_in_pipe2 = true;
    rc = vcha_exec_until(argv, vcha_now_ms() + 30000, why, sizeof(why));
    if (rc != -ECANCELED) {
        return 1;
    }
    return vcha_now_ms() - t0 < 20000 ? 0 : 2; /* not the whole sleep */
}

static void
test_exec_cancel_as_it_starts(void **state)
{
    (void) state;
    in_child(cancel_early_child, NULL, NULL, NULL);
}

/* A program does not outlive the process that runs it (SIGKILLed here). */
static void
test_exec_program_dies_with_its_caller(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res;
    pid_t child, prog;

    (void) state;
    assert_true(asprintf(&script, "echo $$ > '%s'; exec sleep 30", pidfile) >
                0);
    argv[2] = script;
    fflush(NULL);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(vcha_exec(argv, NULL, 0, 30000, &res) == 0 ? 0 : 1);
    }
    prog = pid_from(pidfile);
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_true(dies(prog));
    free(script);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/*
 * What the program starts dies with the caller too (SIGKILLed here): a
 * child of it, as CRIU is lxc-checkpoint's.
 */
static void
test_exec_program_s_children_die_with_the_caller(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char *kidfile = test_path(dir, "kid"), *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res;
    pid_t child, prog, kid;

    (void) state;
    assert_true(asprintf(&script,
                         "sleep 30 & echo $! > '%s'; echo $$ > '%s'; wait",
                         kidfile, pidfile) > 0);
    argv[2] = script;
    fflush(NULL);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(vcha_exec(argv, NULL, 0, 30000, &res) == 0 ? 0 : 1);
    }
    prog = pid_from(pidfile);
    kid = pid_from(kidfile);
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_true(dies(prog));
    assert_true(dies(kid));
    free(script);
    free(kidfile);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/*
 * A program that cannot die (frozen by the cgroup v1 freezer, where
 * SIGKILL waits for the thaw, as for a task blocked on a hung file system)
 * is left behind shortly after its SIGKILL: the caller keeps its deadline.
 */
/*
 * Removes the cgroup @p cg once it is empty: the keeper was reaped, but
 * the program and its sleep, killed when thawed, leave it a moment later.
 */
static int
cgroup_remove(const char *cg)
{
    long long deadline = vcha_now_ms() + 5000;

    while (rmdir(cg) < 0) {
        if (errno != EBUSY || vcha_now_ms() > deadline) {
            return -errno;
        }
        usleep(10000);
    }
    return 0;
}

static void
test_exec_does_not_wait_for_the_unkillable(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char cg[] = "/sys/fs/cgroup/freezer/vcha-exec-test-XXXXXX", *script = NULL;
    char *thaw = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res;
    long long t0;
    pid_t prog;

    (void) state;
    assert_non_null(mkdtemp(cg));
    /* the program and its parent, the keeper, both frozen */
    assert_true(asprintf(&script,
                         "echo $PPID > %s/cgroup.procs && "
                         "echo $$ > %s/cgroup.procs && echo $PPID > '%s' && "
                         "echo FROZEN > %s/freezer.state; sleep 30",
                         cg, cg, pidfile, cg) > 0);
    argv[2] = script;
    t0 = vcha_now_ms();
    assert_int_equal(vcha_exec(argv, NULL, 0, 500, &res), 0);
    /* 0.5 s, SIGTERM, 0.2 s, SIGKILL, 2 s: a hang would be 30 s or more */
    assert_true(vcha_now_ms() - t0 < 20000);
    assert_true(res.timed_out);
    assert_true(res.unreaped);
    assert_int_equal(res.signal, SIGKILL);
    prog = pid_from(pidfile);
    assert_false(test_process_dead(prog));
    assert_true(asprintf(&thaw, "%s/freezer.state", cg) > 0);
    assert_int_equal(test_write_file(thaw, "THAWED\n"), 0);
    assert_int_equal(waitpid(prog, NULL, 0), prog);
    assert_int_equal(cgroup_remove(cg), 0);
    vcha_exec_result_clear(&res);
    free(thaw);
    free(script);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/*
 * The same with the program alone frozen: its keeper, which can die, does
 * not make it look reaped.
 */
static void
test_exec_reports_the_program_left_behind(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char cg[] = "/sys/fs/cgroup/freezer/vcha-exec-test-XXXXXX", *script = NULL;
    char *thaw = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res;
    long long t0;
    pid_t prog;

    (void) state;
    assert_non_null(mkdtemp(cg));
    assert_true(asprintf(&script,
                         "echo $$ > %s/cgroup.procs && echo $$ > '%s' && "
                         "echo FROZEN > %s/freezer.state; sleep 30",
                         cg, pidfile, cg) > 0);
    argv[2] = script;
    t0 = vcha_now_ms();
    assert_int_equal(vcha_exec(argv, NULL, 0, 500, &res), 0);
    assert_true(vcha_now_ms() - t0 < 20000);
    assert_true(res.timed_out);
    assert_true(res.unreaped);
    assert_int_equal(res.signal, SIGKILL);
    prog = pid_from(pidfile);
    assert_false(test_process_dead(prog));
    assert_true(asprintf(&thaw, "%s/freezer.state", cg) > 0);
    assert_int_equal(test_write_file(thaw, "THAWED\n"), 0);
    assert_true(dies(prog));
    assert_int_equal(cgroup_remove(cg), 0);
    vcha_exec_result_clear(&res);
    free(thaw);
    free(script);
    free(pidfile);
    test_tmpdir_remove(dir);
}

static void
test_exec_find_checks_paths_directly(void **state)
{
    (void) state;
    assert_int_equal(vcha_exec_find("/bin/sh"), 0);
    assert_int_equal(vcha_exec_find("/nonexistent/sh"), -ENOENT);
    assert_int_equal(vcha_exec_find("/etc/passwd"), -ENOENT); /* no x */
    assert_int_equal(vcha_exec_find("/tmp"), -ENOENT);        /* a directory */
}

/* A PATH of one scratch directory holding "tool" with @p mode. */
struct path_dir {
    char *dir;
    char *old_path;
};

static void
path_dir_setup(struct path_dir *p, mode_t mode)
{
    char *tool;
    const char *old = getenv("PATH");

    p->dir = test_tmpdir_new();
    assert_non_null(p->dir);
    p->old_path = old ? strdup(old) : NULL;
    tool = test_path(p->dir, "tool");
    assert_int_equal(test_write_file(tool, "#!/bin/sh\n"), 0);
    chmod(tool, mode);
    free(tool);
    tool = test_path(p->dir, "subdir");
    mkdir(tool, 0755);
    free(tool);
    setenv("PATH", p->dir, 1);
}

static void
path_dir_teardown(struct path_dir *p)
{
    if (p->old_path != NULL) {
        setenv("PATH", p->old_path, 1);
    } else {
        unsetenv("PATH");
    }
    free(p->old_path);
    test_tmpdir_remove(p->dir);
}

static void
test_exec_find_uses_path_variable(void **state)
{
    struct path_dir p;

    (void) state;
    path_dir_setup(&p, 0755);
    assert_int_equal(vcha_exec_find("tool"), 0);
    assert_int_equal(vcha_exec_find("subdir"), -ENOENT);
    assert_int_equal(vcha_exec_find("sh"), -ENOENT); /* not in PATH */
    path_dir_teardown(&p);
}

static void
test_exec_find_skips_non_executable(void **state)
{
    struct path_dir p;

    (void) state;
    path_dir_setup(&p, 0644);
    assert_int_equal(vcha_exec_find("tool"), -ENOENT);
    path_dir_teardown(&p);
}

static void
test_exec_find_default_path_without_path(void **state)
{
    struct path_dir p;

    (void) state;
    path_dir_setup(&p, 0755);
    unsetenv("PATH");
    assert_int_equal(vcha_exec_find("sh"), 0);
    path_dir_teardown(&p);
}

/* A program that leaves a daemon holding its stdout (lxc-start -d does) is
 * done when it exits, not when the daemon closes the pipe. */
static void
test_exec_does_not_wait_for_a_daemon_holding_the_pipes(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "sleep 3 & echo started", NULL};
    struct vcha_exec_result res;
    long long t0 = vcha_now_ms();

    (void) state;
    assert_int_equal(vcha_exec(argv, NULL, 0, 10000, &res), 0);
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_true(vcha_exec_ok(&res));
    assert_false(res.timed_out);
    assert_string_equal(res.out, "started\n");
    vcha_exec_result_clear(&res);
}

/*
 * A program that exits in time, its daemon holding stdout past the
 * deadline: the deadline ends the wait for output, but the program did
 * not time out, and nothing of its group is killed.
 */
static void
test_exec_deadline_while_draining_is_no_timeout(void **state)
{
    char *dir = test_tmpdir_new(), *pidfile = test_path(dir, "pid");
    char *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    struct vcha_exec_result res = {0};
    pid_t daemon;

    (void) state;
    /*
     * It exits 150 ms before its deadline, inside the 200 ms of drain.
     * Once more if it was slower than that: under valgrind, the fork of
     * the keeper alone can take longer, and the program then ends past
     * its deadline (timed out, whether or not its kill came first).
     */
    assert_true(asprintf(&script,
                         "sleep 30 & echo $! > '%s'; echo started; "
                         "sleep 0.85",
                         pidfile) > 0);
    argv[2] = script;
    for (int i = 0; i < 5; i++) {
        vcha_exec_result_clear(&res);
        unlink(pidfile);
        assert_int_equal(vcha_exec(argv, NULL, 0, 1000, &res), 0);
        daemon = pid_from(pidfile);
        if (res.signal == 0 && !res.timed_out) {
            break;
        }
        kill(daemon, SIGKILL);
    }
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    assert_true(vcha_exec_ok(&res));
    assert_string_equal(res.out, "started\n");
    assert_false(test_process_dead(daemon));
    assert_int_equal(kill(daemon, SIGKILL), 0);
    assert_true(dies(daemon));
    vcha_exec_result_clear(&res);
    free(script);
    free(pidfile);
    test_tmpdir_remove(dir);
}

/* ------------------------------------------------------------ exec_until */

static void
test_exec_until_success(void **state)
{
    const char *argv[] = {"/bin/true", NULL};
    char why[256] = "untouched";

    (void) state;
    assert_int_equal(
        vcha_exec_until(argv, vcha_now_ms() + 5000, why, sizeof(why)), 0);
    assert_string_equal(why, "untouched");
}

static void
test_exec_until_failure_says_why(void **state)
{
    const char *argv[] = {"/bin/sh", "-c",
                          "echo first >&2; echo the real reason >&2; exit 3",
                          NULL};
    char why[256] = "";

    (void) state;
    assert_int_equal(
        vcha_exec_until(argv, vcha_now_ms() + 5000, why, sizeof(why)), -EIO);
    assert_string_equal(why, "/bin/sh failed (exit 3): the real reason");
}

static void
test_exec_until_codes_takes_the_codes_it_is_given(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "exit 24", NULL};
    const char *killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    char why[256] = "";

    (void) state;
    assert_int_equal(vcha_exec_until_codes(argv, vcha_now_ms() + 5000,
                                           1u | 1u << 24, why, sizeof(why)),
                     0);
    assert_int_equal(vcha_exec_until_codes(argv, vcha_now_ms() + 5000,
                                           1u | 1u << 23, why, sizeof(why)),
                     -EIO);
    assert_non_null(strstr(why, "exit 24"));
    /* a signal is never a code it was given, whatever the mask */
    assert_int_equal(vcha_exec_until_codes(killed, vcha_now_ms() + 5000, ~0u,
                                           why, sizeof(why)),
                     -EIO);
}

static void
test_exec_until_deadline(void **state)
{
    const char *argv[] = {"/bin/sleep", "10", NULL};
    long long t0 = vcha_now_ms();
    char why[256] = "";

    (void) state;
    assert_int_equal(vcha_exec_until(argv, t0 + 300, why, sizeof(why)), -ETIME);
    assert_true(vcha_now_ms() - t0 < 5000);
    assert_non_null(strstr(why, "did not finish in time"));
    assert_int_equal(vcha_exec_until(argv, t0 - 1, why, sizeof(why)), -ETIME);
    assert_non_null(strstr(why, "no time left"));
}

static void
test_exec_until_missing_program(void **state)
{
    const char *argv[] = {"/nonexistent/prog", NULL};
    char why[256] = "";

    (void) state;
    assert_int_equal(
        vcha_exec_until(argv, vcha_now_ms() + 5000, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "/nonexistent/prog"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_true_succeeds),
        cmocka_unit_test(test_exec_false_fails),
        cmocka_unit_test(test_exec_reports_exit_code),
        cmocka_unit_test(test_exec_looks_up_program_in_path),
        cmocka_unit_test(test_exec_killed_by_signal),
        cmocka_unit_test(test_exec_missing_program_is_enoent),
        cmocka_unit_test(test_exec_not_executable_is_eacces),
        cmocka_unit_test(test_exec_rejects_empty_argv),
        cmocka_unit_test(test_exec_captures_stdout_and_stderr_apart),
        cmocka_unit_test(test_exec_keeps_nul_bytes_in_output),
        cmocka_unit_test(test_exec_passes_argv_without_a_shell),
        cmocka_unit_test(test_exec_output_beyond_limit_is_truncated),
        cmocka_unit_test(test_exec_output_at_limit_is_not_truncated),
        cmocka_unit_test(test_exec_feeds_stdin),
        cmocka_unit_test(test_exec_without_input_gives_eof),
        cmocka_unit_test(test_exec_large_input_and_output_do_not_deadlock),
        cmocka_unit_test(test_exec_large_input_is_delivered_whole),
        cmocka_unit_test(test_exec_program_ignoring_input),
        cmocka_unit_test(test_exec_timeout_kills_program_quickly),
        cmocka_unit_test(test_exec_timeout_kills_whole_process_group),
        cmocka_unit_test(test_exec_timeout_escalates_to_sigkill),
        cmocka_unit_test(test_exec_timeout_while_input_is_pending),
        cmocka_unit_test(test_exec_child_does_not_inherit_fds),
        cmocka_unit_test(test_exec_without_close_range),
        cmocka_unit_test(test_exec_deadline_holds_before_the_exec),
        cmocka_unit_test(test_exec_program_orphaned_at_its_start_is_not_run),
        cmocka_unit_test(test_exec_child_has_own_process_group),
        cmocka_unit_test(test_exec_child_gets_default_signals),
        cmocka_unit_test(test_exec_ok_only_for_clean_exit_0),
        cmocka_unit_test(test_exec_result_clear_frees_and_zeroes),
        cmocka_unit_test(test_exec_find_programs_in_path),
        cmocka_unit_test(test_exec_find_checks_paths_directly),
        cmocka_unit_test(test_exec_cancel_kills_and_stops),
        cmocka_unit_test(test_exec_cancel_as_it_starts),
        cmocka_unit_test(test_exec_program_dies_with_its_caller),
        cmocka_unit_test(test_exec_program_s_children_die_with_the_caller),
        cmocka_unit_test(test_exec_does_not_wait_for_the_unkillable),
        cmocka_unit_test(test_exec_reports_the_program_left_behind),
        cmocka_unit_test(test_exec_find_uses_path_variable),
        cmocka_unit_test(test_exec_find_skips_non_executable),
        cmocka_unit_test(test_exec_find_default_path_without_path),
        cmocka_unit_test(
            test_exec_does_not_wait_for_a_daemon_holding_the_pipes),
        cmocka_unit_test(test_exec_deadline_while_draining_is_no_timeout),
        cmocka_unit_test(test_exec_until_success),
        cmocka_unit_test(test_exec_until_failure_says_why),
        cmocka_unit_test(test_exec_until_codes_takes_the_codes_it_is_given),
        cmocka_unit_test(test_exec_until_deadline),
        cmocka_unit_test(test_exec_until_missing_program),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
