/*
 * vchad tests - job types that exist only in the tests: "test" does what
 * its parameters say (sleep, fail, crash, hang, leave a child behind, write
 * figures, publish an attribute), "other" just succeeds.
 *
 * Parameters of "test" (all optional):
 *   sleep_ms=N   sleep N ms first
 *   exit=E       then fail with errno E
 *   error=TEXT   with this error figure
 *   crash=SIG    then raise signal SIG
 *   hang=1       then ignore SIGTERM and sleep for ever
 *   child=1      first fork a child (same group) that sleeps for ever;
 *                its pid is figure child_pid (and in pidfile=PATH)
 *   child=2      the same, the child in a process group of its own (as
 *                a program vcha_exec() starts)
 *   prog=PATH    run PATH (vcha_exec_until, until the job's deadline);
 *                figure prog_rc; when that says the worker was told to
 *                stop, write "cleaned up" to onstop=PATH
 * Every run writes figure start_ms (when the registry started it,
 * CLOCK_MONOTONIC) first and end_ms (now) when it returns.
 *   echo=TEXT    figure echo=TEXT
 *   big=N        N figure lines big.I=...
 *   attr=NAME    publish node attribute NAME = the echo figure ("" when the
 *                run failed)
 *   bad=...      refused by validate
 *
 * "resident" is a resident job: from its start it reports every report_ms
 * (default 100) the figures pid, start_ms (when the process began,
 * CLOCK_MONOTONIC) and seq (1, 2, ...).  Parameters (all optional):
 *   report_ms=N     between reports
 *   exit_after=N    exit with status 3 after N reports (0: at once)
 *   hang_after=N    after N reports, report no more (and sleep)
 *   ignore_term=1   ignore SIGTERM
 *   child=1         first fork a child that sleeps for ever, in the same
 *                   session; its pid is figure child_pid
 *   startlog=PATH   append "START_MS PID" to PATH when the process begins
 *   pidfile=PATH    write the pid to PATH
 *   fail=TEXT       every report has this error figure
 *   echo=TEXT       every report has figure echo=TEXT
 *   long_line=1     the first report is preceded by a line of 64 KiB
 *                   ("note=" and x), written alone, then 50 ms later by
 *                   100 x, then 50 ms later "evil=1" ending the line;
 *                   the second by the same 64 KiB and "\nsame=1\n\n" (a
 *                   figure and the report's end) in the same write
 * Every report also has the figures job_started and job_deadline, what
 * vchad_job_started() and vchad_job_deadline() say in the process.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>

#include "../vchad_job.h"

static long long
param_ll(const struct vchad_job *job, const char *key)
{
    long long v = 0;

    vcha_kv_get_ll(vchad_job_params(job), key, &v);
    return v;
}

static int
test_validate(const struct vcha_kv *params, char *why, size_t whylen)
{
    long long v;

    if (vcha_kv_get(params, "bad") != NULL) {
        snprintf(why, whylen, "bad is not allowed");
        return -EINVAL;
    }
    if (vcha_kv_get_ll(params, "sleep_ms", &v) == -EINVAL) {
        snprintf(why, whylen, "sleep_ms must be a number");
        return -EINVAL;
    }
    return 0;
}

static void
leave_child(const struct vchad_job *job, int out_fd, bool own_group)
{
    const char *pidfile = vchad_job_param(job, "pidfile");
    pid_t pid = fork();
    char text[32];

    if (pid == 0) {
        if (own_group) {
            setpgid(0, 0);
        }
        for (;;) {
            pause();
        }
    }
    vchad_figure(out_fd, "child_pid", "%d", (int) pid);
    snprintf(text, sizeof(text), "%d\n", (int) pid);
    if (pidfile != NULL) {
        vcha_file_write_atomic(pidfile, text, strlen(text), 0644);
    }
}

static void
run_prog(const struct vchad_job *job, int out_fd)
{
    const char *argv[] = {vchad_job_param(job, "prog"), NULL};
    const char *onstop = vchad_job_param(job, "onstop");
    char why[256];
    int rc = vcha_exec_until(argv, vchad_job_deadline(job), why, sizeof(why));

    vchad_figure(out_fd, "prog_rc", "%d", rc);
    if (rc == -ECANCELED && onstop != NULL) {
        vcha_file_write_atomic(onstop, "cleaned up\n", 11, 0644);
    }
}

static int
test_run(const struct vchad_job *job, int out_fd)
{
    const char *echo = vchad_job_param(job, "echo");
    const char *error = vchad_job_param(job, "error");

    vchad_figure(out_fd, "start_ms", "%lld", vchad_job_started(job));
    vchad_figure(out_fd, "pid", "%d", (int) getpid());
    if (param_ll(job, "child")) {
        leave_child(job, out_fd, param_ll(job, "child") == 2);
    }
    if (vchad_job_param(job, "prog") != NULL) {
        run_prog(job, out_fd);
    }
    if (echo != NULL) {
        vchad_figure(out_fd, "echo", "%s", echo);
    }
    for (long long i = 0; i < param_ll(job, "big"); i++) {
        vchad_figure(out_fd, "big", "%lld %0100d", i, 0);
    }
    vcha_sleep_ms(param_ll(job, "sleep_ms"));
    if (param_ll(job, "crash")) {
        raise((int) param_ll(job, "crash"));
    }
    if (param_ll(job, "hang")) {
        signal(SIGTERM, SIG_IGN);
        for (;;) {
            pause();
        }
    }
    if (error != NULL) {
        vchad_figure(out_fd, "error", "%s", error);
    }
    vchad_figure(out_fd, "end_ms", "%lld", vcha_now_ms());
    return -(int) param_ll(job, "exit");
}

static int
test_publish(const struct vchad_job *job, const struct vcha_kv *figures,
             bool ok, struct vcha_kv *attrs)
{
    const char *name = vchad_job_param(job, "attr");
    const char *echo = vcha_kv_get(figures, "echo");

    if (name == NULL) {
        return 0;
    }
    return vcha_kv_set(attrs, name, ok && echo ? echo : "");
}

static int
other_run(const struct vchad_job *job, int out_fd)
{
    return 0;
}

static void
log_start(const struct vchad_job *job, long long start)
{
    const char *path = vchad_job_param(job, "startlog");
    char line[64];
    int fd, n;

    if (path == NULL) {
        return;
    }
    n = snprintf(line, sizeof(line), "%lld %d\n", start, (int) getpid());
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t) n) != n) {
            n = -1;
        }
        close(fd);
    }
}

static void
write_all(int fd, const char *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);

        if (w < 0) {
            return;
        }
        off += (size_t) w;
    }
}

/* 64 KiB ("note=" and x), then @p then, in one write. */
static void
write_long_line(int fd, const char *then)
{
    size_t n = 64 * 1024 - 5, len = 5 + n + strlen(then);
    char *buf = malloc(len + 1);

    if (buf != NULL) {
        memcpy(buf, "note=", 5);
        memset(buf + 5, 'x', n);
        strcpy(buf + 5 + n, then);
        write_all(fd, buf, len);
        free(buf);
    }
}

static int
resident_run(const struct vchad_job *job, int out_fd)
{
    long long start = vcha_now_ms(), every = param_ll(job, "report_ms");
    const char *pidfile = vchad_job_param(job, "pidfile");
    const char *fail = vchad_job_param(job, "fail");
    char text[32];

    log_start(job, start);
    if (param_ll(job, "ignore_term")) {
        signal(SIGTERM, SIG_IGN);
    }
    if (param_ll(job, "child")) {
        leave_child(job, out_fd, false);
    }
    if (pidfile != NULL) { /* after the child's, which it replaces */
        snprintf(text, sizeof(text), "%d\n", (int) getpid());
        vcha_file_write_atomic(pidfile, text, strlen(text), 0644);
    }
    for (long long seq = 1;; seq++) {
        if (vchad_job_param(job, "exit_after") != NULL &&
            seq > param_ll(job, "exit_after")) {
            return -3;
        }
        if (vchad_job_param(job, "hang_after") != NULL &&
            seq > param_ll(job, "hang_after")) {
            for (;;) {
                pause();
            }
        }
        if (seq == 1 && param_ll(job, "long_line") > 0) {
            char more[100];

            memset(more, 'x', sizeof(more));
            write_long_line(out_fd, "");
            vcha_sleep_ms(50);
            write_all(out_fd, more, sizeof(more));
            vcha_sleep_ms(50);
            write_all(out_fd, "evil=1\n", 7);
        }
        if (seq == 2 && param_ll(job, "long_line") > 0) {
            write_long_line(out_fd, "\nsame=1\n\n");
        }
        vchad_figure(out_fd, "pid", "%d", (int) getpid());
        vchad_figure(out_fd, "start_ms", "%lld", start);
        vchad_figure(out_fd, "seq", "%lld", seq);
        vchad_figure(out_fd, "job_started", "%lld", vchad_job_started(job));
        vchad_figure(out_fd, "job_deadline", "%lld", vchad_job_deadline(job));
        if (vchad_job_param(job, "echo") != NULL) {
            vchad_figure(out_fd, "echo", "%s", vchad_job_param(job, "echo"));
        }
        if (fail != NULL) {
            vchad_figure(out_fd, "error", "%s", fail);
        }
        vchad_report(out_fd);
        vcha_sleep_ms(every > 0 ? every : 100);
    }
}

static const struct vchad_job_type resident_type = {
    .name = "resident",
    .kind = VCHAD_JOB_RESIDENT,
    .run = resident_run,
    .publish = test_publish,
};

static const struct vchad_job_type test_type = {
    .name = "test",
    .validate = test_validate,
    .run = test_run,
    .publish = test_publish,
};

static const struct vchad_job_type other_type = {
    .name = "other",
    .run = other_run,
};

const struct vchad_job_type *const vchad_job_types[] = {
    &test_type,
    &other_type,
    &resident_type,
    NULL,
};
