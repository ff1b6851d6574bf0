/*
 * vcha - the checkpoints of a COLO primary, read from QEMU's log.  Stock
 * QEMU reports no event for a periodic checkpoint (STOP and RESUME come
 * only for the one a parameter change forces), but its trace event
 * colo_vm_state_change marks every one: "Change 'run' => 'stop'" when
 * the guest stops for it and "'stop' => 'run'" when it runs again.  With
 * the event enabled (QMP trace-event-set-state) and QEMU started with
 * "-D FILE -msg timestamp=on", each line of FILE begins with the host's
 * real-time clock: "2026-12-05T01:55:58.137440Z " (QEMU 11; seen), or
 * "PID@SECONDS.MICROSECONDS:" (older QEMU's log backend).
 */
#ifndef VCHA_COLOTRACE_H
#define VCHA_COLOTRACE_H

#include <stdbool.h>

/** The trace event that marks a checkpoint. */
#define VCHA_COLO_TRACE_EVENT "colo_vm_state_change"

/** A reader's state between lines. */
struct vcha_colo_tracer {
    bool stopped;      /**< the guest stopped for a checkpoint */
    long long stop_us; /**< when */
};

/**
 * Read one line of QEMU's log (with or without its newline).  Returns 1
 * when it ends a checkpoint, whose stop and resume times (real-time
 * microseconds) go to *stop_us and *resume_us; 0 for any other line (a
 * stop, another event or message, a resume with no stop seen); -EINVAL
 * for a colo_vm_state_change line without a timestamp, which QEMU writes
 * without -msg timestamp=on.
 */
int vcha_colo_trace_feed(struct vcha_colo_tracer *t, const char *line,
                         long long *stop_us, long long *resume_us);

#endif
