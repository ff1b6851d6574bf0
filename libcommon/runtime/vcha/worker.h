/*
 * vcha - work that must end by a deadline, run in a worker process.
 *
 * A library call that can block without a timeout of its own (libvirt's
 * RPC to a hung libvirtd, a liblxc call waiting on a lock) cannot be
 * bounded inside the process that makes it.  The worker makes it instead:
 * a child leading a process group of its own, killed with its children at
 * the deadline, dead too when the caller dies (PR_SET_PDEATHSIG) and at
 * the deadline by its own alarm even when nobody can kill it.  What it
 * sends back is its exit code and a line of text (the reason of a
 * failure); the caller never waits past the deadline for either.
 */
#ifndef VCHA_WORKER_H
#define VCHA_WORKER_H

#include <stddef.h>

/**
 * The work: runs in the worker, returns its exit code (0..255) and may
 * write a NUL-terminated reason of at most @p len bytes into @p reason.
 */
typedef int (*vcha_worker_fn)(void *arg, char *reason, size_t len);

/**
 * Run @p fn(@p arg, ...) in a worker process until @p deadline
 * (CLOCK_MONOTONIC ms, see vcha_now_ms()).  stdout and stderr are
 * flushed before the fork; the worker may print.
 *
 * Returns 0 with the worker's exit code in *@p code and its reason in
 * @p reason (both from the worker); -ETIMEDOUT when it did not answer by
 * the deadline (it was killed, with its process group); -ECHILD when it
 * died of a signal (its number in *@p code); -ESRCH when it could not
 * be reaped even after SIGKILL (blocked in the kernel); or -errno when
 * it could not be started.  On every error @p reason says what happened.
 */
int vcha_worker_run(vcha_worker_fn fn, void *arg, long long deadline, int *code,
                    char *reason, size_t len);

#endif
