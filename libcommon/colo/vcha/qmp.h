/*
 * vcha - a client of QEMU's machine protocol (QMP) on a unix socket: one
 * connection, commands with a deadline each, the events QEMU sends
 * unasked kept in order until read, and out-of-band commands (QEMU's
 * "exec-oob": yank) that QEMU answers even while an in-band command
 * hangs.  Deadlines are absolute, on vcha_now_ms()'s clock; no call waits
 * past its deadline.
 *
 * Returns: 0, or -ETIME (the deadline passed), -ECONNRESET (QEMU closed
 * the connection), -EPROTO (it sent something that is not QMP), -EREMOTEIO
 * (it answered with an error: its class and description in *err), -EPIPE
 * (an earlier command went out only in part, its deadline or an error
 * came first: the connection is of no more use, close it), or another
 * -errno from the system.
 */
#ifndef VCHA_QMP_H
#define VCHA_QMP_H

#include <stdbool.h>

#include <json-c/json.h>

struct vcha_qmp;

/** An event QEMU sent: its name, data (NULL when none) and timestamp. */
struct vcha_qmp_event {
    char *name;             /**< "STOP", "RESUME", ... */
    json_object *data;      /**< owned; NULL when the event has none */
    long long timestamp_us; /**< QEMU's, on the host's real-time clock */
};

/**
 * Connect to the QMP socket at @p path, read QEMU's greeting and leave
 * negotiation mode (with out-of-band execution when QEMU offers it), by
 * @p deadline_ms.  On success *out holds the connection.
 */
int vcha_qmp_open(const char *path, long long deadline_ms,
                  struct vcha_qmp **out);

/** Close and free @p q; NULL is fine. */
void vcha_qmp_close(struct vcha_qmp *q);

/** The socket's descriptor: readable when QEMU has sent something. */
int vcha_qmp_fd(const struct vcha_qmp *q);

/** Whether QEMU offered out-of-band execution and it was enabled. */
bool vcha_qmp_has_oob(const struct vcha_qmp *q);

/**
 * Run @p command with @p args (an object or NULL; taken over, freed here
 * in every case) and wait for its answer by @p deadline_ms.  The answer's
 * "return" goes to *ret when @p ret is not NULL (the caller frees it with
 * json_object_put()); an error answer gives -EREMOTEIO and, when @p err is
 * not NULL, "Class: description" in *err (the caller frees it).  Events
 * that come meanwhile are kept for vcha_qmp_event_next().  An answer that
 * comes after its deadline is dropped when it arrives.
 */
int vcha_qmp_exec(struct vcha_qmp *q, const char *command, json_object *args,
                  long long deadline_ms, json_object **ret, char **err);

/**
 * As vcha_qmp_exec(), out of band: QEMU runs it at once, even while an
 * in-band command of this connection hangs.  -ENOTSUP when out-of-band
 * execution was not enabled.
 */
int vcha_qmp_exec_oob(struct vcha_qmp *q, const char *command,
                      json_object *args, long long deadline_ms,
                      json_object **ret, char **err);

/**
 * Run a human monitor command line @p line (drive_add, ...) and give its
 * output in *out (may be NULL; the caller frees it).  An output that is
 * not empty is how the human monitor reports most errors: the caller
 * judges it.
 */
int vcha_qmp_hmp(struct vcha_qmp *q, const char *line, long long deadline_ms,
                 char **out);

/**
 * The next event, waiting for one until @p deadline_ms (-ETIME when none
 * came; a deadline already past only takes what has arrived).  The caller
 * frees it with vcha_qmp_event_clear().
 */
int vcha_qmp_event_next(struct vcha_qmp *q, long long deadline_ms,
                        struct vcha_qmp_event *ev);

/** Free what @p ev holds; it may be cleared twice. */
void vcha_qmp_event_clear(struct vcha_qmp_event *ev);

#endif
