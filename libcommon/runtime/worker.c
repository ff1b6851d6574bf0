/* vcha - work that must end by a deadline, run in a worker process. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/proc.h>
#include <vcha/worker.h>

/*
 * How long a killed worker may take to be reaped: a SIGKILLed process is
 * normally gone within milliseconds.
 */
#define REAP_MS 1000

/*
 * Tie the worker's life to the caller's.  The caller may itself be killed
 * at a timeout shorter than ours (the fencer's, the cluster's); a worker
 * left behind could still act after the cluster moved on.  PDEATHSIG
 * covers a caller killed from now on, vcha_proc_tie() one killed before;
 * the alarm ends the worker at the deadline even when nobody kills it.
 */
static int
tie(pid_t parent, long long deadline, char *reason, size_t len)
{
    long long left = deadline - vcha_now_ms();
    struct itimerval at = {
        .it_value = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000}};
    sigset_t sigs;

    if (vcha_proc_tie(parent, SIGKILL) < 0) {
        snprintf(reason, len, "the caller is gone");
        return -ESRCH;
    }
    if (left <= 0) {
        snprintf(reason, len, "no time left");
        return -ETIMEDOUT;
    }
    signal(SIGALRM, SIG_DFL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &sigs, NULL);
    return setitimer(ITIMER_REAL, &at, NULL) < 0 ? -errno : 0;
}

/* In the worker: run the work, send the reason back, exit with its code. */
static void __attribute__((noreturn))
worker(vcha_worker_fn fn, void *arg, long long deadline, int fd, pid_t parent,
       char *reason, size_t len)
{
    int code = 1;

    setpgid(0, 0); /* an overrun kills the worker's children too */
    reason[0] = '\0';
    if (tie(parent, deadline, reason, len) == 0) {
        code = fn(arg, reason, len);
    }
    fflush(stdout);
    fflush(stderr);
    if (reason[0] != '\0') {
        (void) !write(fd, reason, strnlen(reason, len));
    }
    _exit(code & 0xff);
}

/* Read the reason until the worker closes the pipe or time is up. */
static bool
collect(int fd, long long deadline, char *buf, size_t len)
{
    size_t got = 0;

    for (;;) {
        long long left = deadline - vcha_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int ready = left > 0 ? poll(&p, 1, (int) left) : 0;

        if (ready < 0 && errno == EINTR) {
            continue; /* a blocking read() would outlive the deadline */
        }
        if (ready == 0) {
            return false;
        }
        n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || (got += (size_t) n) == len - 1) {
            buf[got] = '\0';
            return true;
        }
    }
}

/* After the pipe closed or the deadline passed: how the worker ended. */
static int
result(pid_t pid, bool answered, long long deadline, int *code, char *reason,
       size_t len)
{
    long long limit = (answered ? deadline : vcha_now_ms()) + REAP_MS;
    int status = 0, rc;

    if (!answered) {
        kill(-pid, SIGKILL);
    }
    rc = vcha_proc_reap(pid, &status, limit);
    if (rc == 0) {
        /* whatever it left in its group (a child a library started, one
         * that outlived its own alarm) must not act after it */
        kill(-pid, SIGKILL);
    }
    if (rc < 0) {
        kill(-pid, SIGKILL); /* still there: at least it must not act */
        if (rc != -ETIMEDOUT) {
            snprintf(reason, len, "cannot collect the worker's exit status: %s",
                     strerror(-rc));
            return rc;
        }
        snprintf(reason, len, "the worker (pid %d) did not %s", (int) pid,
                 answered ? "exit" : "end after SIGKILL");
        return -ESRCH;
    }
    /* SIGALRM: the worker's own deadline came first */
    if (!answered || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)) {
        snprintf(reason, len, "no answer in time");
        return -ETIMEDOUT;
    }
    if (!WIFEXITED(status)) {
        *code = WTERMSIG(status);
        snprintf(reason, len, "the worker died (signal %d)", *code);
        return -ECHILD;
    }
    *code = WEXITSTATUS(status);
    return 0;
}

int
vcha_worker_run(vcha_worker_fn fn, void *arg, long long deadline, int *code,
                char *reason, size_t len)
{
    /* an ignored SIGCHLD (inherited across exec) loses the exit status */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    int pipefd[2] = {-1, -1}, rc;
    pid_t parent = getpid(), pid = -1;

    *code = 1;
    reason[0] = '\0';
    sigaction(SIGCHLD, &dfl, &old);
    fflush(stdout);
    fflush(stderr);
    if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        rc = -errno;
        snprintf(reason, len, "cannot start a worker: %s", strerror(-rc));
        goto done;
    }
    if (pid == 0) {
        close(pipefd[0]);
        worker(fn, arg, deadline, pipefd[1], parent, reason, len);
    }
    setpgid(pid, pid);
    close(pipefd[1]);
    pipefd[1] = -1;
    rc = result(pid, collect(pipefd[0], deadline, reason, len), deadline, code,
                reason, len);

done:
    for (int i = 0; i < 2; i++) {
        if (pipefd[i] >= 0) {
            close(pipefd[i]);
        }
    }
    sigaction(SIGCHLD, &old, NULL);
    return rc;
}
