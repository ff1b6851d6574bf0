/*
 * vcha - child processes: tied to the life of their parent, and reaped
 * within a deadline.  The program runner (vcha/exec.h), the fence
 * plugins' power worker and vchad's workers share these; and a
 * hypervisor's process found by its guest's name, which the VM and COLO
 * agents share.
 */
#ifndef VCHA_PROC_H
#define VCHA_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/**
 * In a child just forked: receive @p sig when the parent dies
 * (PR_SET_PDEATHSIG), and check that the parent is still @p parent, its
 * pid as taken before the fork: a parent that died in between would never
 * send the signal (getppid() then names init or a subreaper).  Returns 0,
 * -ESRCH when the parent is gone (the child should exit), or -errno.
 */
int vcha_proc_tie(pid_t parent, int sig);

/**
 * Reap child @p pid by @p deadline (CLOCK_MONOTONIC ms, see vcha_now_ms())
 * without blocking past it: a process in uninterruptible sleep does not die
 * of SIGKILL at once.  Returns 0 with its wait status in *status (may be
 * NULL), -ETIMEDOUT when it has not ended by then, or -errno (ECHILD: not
 * a child, or SIGCHLD is ignored and the status is lost).
 */
int vcha_proc_reap(pid_t pid, int *status, long long deadline);

/**
 * Whether a hypervisor process of domain (or guest) @p name runs on this
 * node, seen in /proc without libvirt: a QEMU whose -name is
 * guest=@p name (or @p name), or a libvirt_lxc whose --name is @p name.  Its PID, 0 when
 * none runs, or -errno when that cannot be told: /proc unreadable, an
 * argv too long to read (-EFBIG), or a QEMU or libvirt_lxc whose main
 * thread has exited while other threads live on (-EBUSY: its argv reads
 * empty).  What proves a domain is off, or lets it be killed, when
 * libvirtd cannot answer.
 */
int vcha_proc_hypervisor(const char *name);

/**
 * Whether process @p pid still is @p name's hypervisor (as
 * vcha_proc_hypervisor() found it): not ended, not a zombie, its argv
 * naming @p name, or read empty while it lives on (a QEMU whose main
 * thread has exited).  What to wait on while a hypervisor ends.
 */
bool vcha_proc_runs(const char *name, int pid);

/**
 * The start time of process @p pid, in clock ticks after boot (the 22nd
 * field of /proc/PID/stat), in *start: with the PID, what tells one
 * process from a later one that got the same PID.  0, or -errno.
 */
int vcha_proc_start(int pid, unsigned long long *start);

/**
 * How long process @p pid has run, in ms, or -errno.
 */
long long vcha_proc_age_ms(int pid);

/**
 * End hypervisor process @p pid of @p name as libvirt's destroy does:
 * SIGTERM, then SIGKILL after @p term_ms, through a pidfd checked to hold
 * the process vcha_proc_hypervisor() finds for @p name (a PID reused
 * since is left alone), and wait until the whole process has ended (not
 * its main thread alone, which a QEMU stuck on a hung disk may outlive),
 * by @p deadline.  Returns 0 once it has ended (or when no such process
 * runs), -ETIME when it lives on after SIGKILL, or -errno.
 */
int vcha_proc_end_hypervisor(const char *name, int pid, long long term_ms,
                             long long deadline);

#endif
