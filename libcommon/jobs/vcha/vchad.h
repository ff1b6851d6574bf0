/*
 * vcha - the client side of vchad, the node daemon: the unix-socket
 * request/response exchange with a deadline, and starting the daemon when
 * nobody answers.
 *
 * The protocol is text, one request per connection.  A request and its
 * response are each a block of "key=value" lines ended by an empty line
 * (vcha/kv.h).  The first line of a request is "cmd=<name>"; the first line
 * of a response is "status=0" or "status=<-errno>", the latter with
 * "error=<human message>".
 */
#ifndef VCHA_VCHAD_H
#define VCHA_VCHAD_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/jobdef.h>
#include <vcha/kv.h>

/** Where vchad listens unless told otherwise. */
#define VCHA_VCHAD_SOCKET "/run/vcha/vchad.sock"

/** Largest request or response, in bytes, including the empty line. */
#define VCHA_VCHAD_MAX_MSG (1024 * 1024)

/** The socket to use: $VCHA_SOCKET if set and not empty, else the default. */
const char *vcha_vchad_socket(void);

/** A new request for command @p cmd (its first line), or NULL (ENOMEM). */
struct vcha_kv *vcha_vchad_request_new(const char *cmd);

/**
 * Send @p req to the daemon listening on @p sock and read its response, all
 * before @p deadline (CLOCK_MONOTONIC ms, see vcha_now_ms()); it never
 * blocks past the deadline.
 *
 * Returns the daemon's status (0, or the negative errno it answered with,
 * e.g. -ENOENT for an unknown job), or on the way there: -ECONNREFUSED when
 * no daemon listens (no socket file, or a stale one), -ETIME when the
 * deadline passed, -EBADMSG for a malformed, truncated or status-less
 * response, -EMSGSIZE for one too large, -ENAMETOOLONG for a socket path
 * that does not fit, or another negative errno.
 *
 * Whenever the daemon answered (also with an error status), *resp is a new
 * list holding the whole response ("error" says why a request failed); free
 * it with vcha_kv_free().  Otherwise *resp is NULL.
 */
int vcha_vchad_call(const char *sock, const struct vcha_kv *req,
                    struct vcha_kv **resp, long long deadline);

/** Send "ping": 0 when the daemon answers, else as vcha_vchad_call(). */
int vcha_vchad_ping(const char *sock, long long deadline);

/**
 * Make sure a daemon answers on @p sock before @p deadline: if "ping" gets
 * no answer, start the daemon (the program named by $VCHA_VCHAD, else the
 * installed vchad) with "-s @p sock" and wait for it to answer.  The daemon
 * puts itself in the background; if several callers start it at once, one
 * daemon wins and the others exit quietly.
 *
 * Returns 0 once "ping" answers, -ENOENT when the daemon program is
 * missing, -ETIME when it does not answer in time, or another negative
 * errno (the daemon refused to start: see its log).
 */
int vcha_vchad_ensure(const char *sock, long long deadline);

#endif
