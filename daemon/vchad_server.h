/*
 * vchad - the server: one unix socket, one poll loop.  Signals arrive
 * through a signalfd, each connection has its own buffers and deadline, and
 * nothing a client or a job does can block the loop: a client that sends
 * slowly or never reads is dropped at its deadline, and jobs run in worker
 * processes (see vchad_jobs.h).
 */
#ifndef VCHAD_SERVER_H
#define VCHAD_SERVER_H

#include "vchad_jobs.h"

/** Most connections served at once; more wait in the listen backlog. */
#define VCHAD_MAX_CONNS 256
/** Largest request accepted, in bytes. */
#define VCHAD_MAX_REQUEST (64 * 1024)
/** How long a client may take to send its request or read the answer. */
#define VCHAD_CONN_TIMEOUT_MS 10000

struct vchad_server;

/**
 * Take the lock file "@p path.lock" (created next to the socket, mode
 * 0600), replace a stale socket at @p path, listen there (mode 0600;
 * its directory is created, mode 0755, if missing), and receive SIGCHLD,
 * SIGTERM, SIGINT and SIGHUP through a signalfd (SIGPIPE is ignored).
 *
 * Returns 0 and the server in @p out; -EALREADY when another vchad holds
 * the lock; -EADDRINUSE when something else answers on @p path; another
 * negative errno.  The server uses @p jobs but does not own it.
 */
int vchad_server_new(const char *path, struct vchad_jobs *jobs,
                     struct vchad_server **out);

/**
 * Write the calling process's pid into the lock file, for whoever wants to
 * know which process is the daemon (call it after daemonizing).
 */
int vchad_server_record_pid(struct vchad_server *srv);

/**
 * Serve until SIGTERM or SIGINT, then drop every connection and kill the
 * workers' process groups.  Returns 0, or a negative errno when the loop
 * itself fails.
 */
int vchad_server_run(struct vchad_server *srv);

/**
 * Close every connection, remove the socket (the lock file stays: removing
 * it would let two daemons lock two different files), restore the signal
 * mask and free.  NULL is fine.
 */
void vchad_server_free(struct vchad_server *srv);

#endif
