/*
 * vcha - run a program safely: an argv array (never a shell), optional data
 * on stdin, stdout and stderr captured, a deadline after which the program's
 * whole process group is killed.
 */
#ifndef VCHA_EXEC_H
#define VCHA_EXEC_H

#include <stdbool.h>
#include <stddef.h>

/** Most bytes kept of each of stdout and stderr; the rest is dropped. */
#define VCHA_EXEC_MAX_OUTPUT (1024 * 1024)

/** What a finished program did. */
struct vcha_exec_result {
    int exit_code;  /**< exit status, or -1 if killed by a signal */
    int signal;     /**< terminating signal, or 0 */
    bool timed_out; /**< the deadline passed before the program ended,
                         and the group was killed */
    bool cancelled; /**< killed by vcha_exec_cancel() */
    bool unreaped;  /**< still alive shortly after SIGKILL: left behind */
    char *out;      /**< stdout, NUL-terminated (never NULL after run) */
    size_t out_len;
    char *err; /**< stderr, NUL-terminated (never NULL after run) */
    size_t err_len;
    bool truncated; /**< output beyond VCHA_EXEC_MAX_OUTPUT was dropped */
};

/**
 * Run @p argv (argv[0] is looked up in PATH unless it contains '/').
 *
 * @p input (may be NULL) of @p input_len bytes is written to the program's
 * stdin, which is then closed.  The program leads a new process group,
 * with every other file descriptor closed; its parent is a small keeper
 * process outside that group, which kills the whole group (the program
 * and whatever it started there) should the calling process die first.
 * If it has not finished within @p timeout_ms, its group gets SIGTERM,
 * then SIGKILL 200 ms later; a program that has not died 2 s after that
 * (blocked in the kernel, or frozen) is not waited for: @p res says
 * unreaped, its keeper is killed, and the call returns.  Output is read
 * for up to 200 ms after the program ends (a daemon it started may hold
 * the pipes), never past the deadline: a program that ended in time is
 * not timed out, and its group is not signalled, when the deadline cuts
 * that short.
 *
 * Returns 0 when the program ran (look at @p res for how it ended),
 * -ENOENT / -EACCES / ... when it could not be executed, -ETIME never
 * (a timeout is reported in @p res).  Free @p res with
 * vcha_exec_result_clear().
 */
int vcha_exec(const char *const argv[], const char *input, size_t input_len,
              long long timeout_ms, struct vcha_exec_result *res);

/** Free the buffers of @p res and zero it; safe on a zeroed result. */
void vcha_exec_result_clear(struct vcha_exec_result *res);

/** True when @p res is a normal exit with code 0. */
bool vcha_exec_ok(const struct vcha_exec_result *res);

/**
 * Find @p prog in PATH (or check it if it contains '/'): 0 if it is an
 * executable file, else -ENOENT.
 */
int vcha_exec_find(const char *prog);

/**
 * Run @p argv without input and succeed only if it exits 0 before
 * @p deadline (CLOCK_MONOTONIC ms, see vcha_now_ms()).  Returns 0, or
 * -ETIME (no time left, or killed at the deadline), -ECANCELED (the
 * process was told to stop: see vcha_exec_cancel(); nothing is started
 * after that), -EIO (it failed; @p why holds the last line of its stderr)
 * or the errno of a failed exec, with @p why set.
 */
int vcha_exec_until(const char *const argv[], long long deadline, char *why,
                    size_t whylen);

/**
 * vcha_exec_until(), where an exit code below 32 whose bit is set in
 * @p ok_codes also counts as success (vcha_exec_until() is 1u: 0 only).
 */
int vcha_exec_until_codes(const char *const argv[], long long deadline,
                          unsigned ok_codes, char *why, size_t whylen);

/**
 * Tell this process to stop what it runs: the process group of every
 * program vcha_exec() runs now is killed with SIGKILL, the program's
 * result says cancelled, and vcha_exec_until() starts no program from
 * now on (vcha_exec() still does: cleanup that must run).  Safe to call
 * from a signal handler.
 */
void vcha_exec_cancel(void);

/** Whether vcha_exec_cancel() was called in this process. */
bool vcha_exec_cancelled(void);

#endif
