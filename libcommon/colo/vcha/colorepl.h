/*
 * vcha - replication of a COLO pair started from a running primary: the
 * primary's half of COLO added to a standalone primary (vcha/coloqemu.h's
 * primary shape) by QMP, towards a secondary waiting in coloqemu's
 * secondary shape (made ready by QMP too, below); and taken away again
 * when the secondary is lost.
 *
 * Replication, in this order (QEMU 11.1 holds; earlier ones deadlock in
 * COLO):
 *   1. the disk: the peer's parent0 (NBD, base_port) added as node nbd0
 *      and the guest's disk mirrored into it while the guest runs; once
 *      the mirror is ready the guest pauses, the mirror ends without a
 *      pivot, nbd0 goes, and a replication node in primary mode on the
 *      same export becomes child 1 of the quorum colo-disk0 (from then
 *      on every write goes to both); the guest stays paused until COLO
 *      runs (a guest that runs while its memory is copied, early in its
 *      boot, left QEMU 11.1.2's secondary with memory that panicked its
 *      kernel at every checkpoint);
 *   2. the network: chardevs to the peer's filters (base_port + 2, + 3)
 *      and colo-compare's own pipes (unix sockets in a directory of the
 *      caller's), a filter-mirror, two filter-redirectors, an iothread
 *      and colo-compare;
 *   3. the memory: the COLO capabilities, the checkpoint delay, and the
 *      migration to the peer (base_port + 1), until QEMU reports COLO.
 * A failure on the way undoes what was added, in reverse (a quarter of the
 * time given, 5 s at most, is kept for that), and leaves the guest
 * running alone.
 */
#ifndef VCHA_COLOREPL_H
#define VCHA_COLOREPL_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/qmp.h>

/**
 * Make the secondary of @p q (coloqemu's secondary shape) ready for its
 * primary: the COLO capabilities set, its disk's parent0 exported
 * writable over NBD on @p addr, port @p base_port, and, when @p incoming,
 * the migration awaited on @p addr, port @p base_port + 1.  Each QMP
 * command is given @p ms, never past @p deadline (CLOCK_MONOTONIC ms).
 * 0, or -errno with the failing command in @p why; what was done before
 * it stays.
 */
int vcha_colo_secondary_ready(struct vcha_qmp *q, const char *addr,
                              unsigned base_port, bool incoming, long long ms,
                              long long deadline, char *why, size_t len);

/** Where the secondary waits, and how the primary's own pipes are named. */
struct vcha_colorepl {
    const char *peer;     /**< the secondary's address (IPv4 or IPv6) */
    unsigned base_port;   /**< its NBD port; + 1 .. + 3 as above */
    const char *sock_dir; /**< where colo-compare's pipes go (< 80) */
    long long delay_ms;   /**< x-checkpoint-delay to start with */
};

/** Phases of vcha_colo_replicate(), timed in @p ms (may be NULL). */
enum vcha_colorepl_phase {
    VCHA_COLOREPL_MIRROR,  /**< the disk copied, the guest running */
    VCHA_COLOREPL_PAUSE,   /**< paused: from the disk's hand-over to COLO */
    VCHA_COLOREPL_NET,     /**< the network filters added */
    VCHA_COLOREPL_MIGRATE, /**< the migration, until COLO */
    VCHA_COLOREPL_N_PHASES
};

/**
 * Start replication on the primary of @p q towards @p r, by @p deadline
 * (CLOCK_MONOTONIC ms).  0 once QEMU reports COLO, else -errno with what
 * failed in @p why, all that was added taken away again.  -EALREADY when
 * QEMU already replicates (or migrates).
 */
int vcha_colo_replicate(struct vcha_qmp *q, const struct vcha_colorepl *r,
                        long long deadline, long long ms[], char *why,
                        size_t len);

/**
 * The primary goes on alone after its secondary was lost (QEMU's
 * "primary failover"): the replication child removed from the disk, the
 * COLO filters and chardevs removed, and COLO left
 * (x-colo-lost-heartbeat).  Every step is tried; 0, or the first -errno
 * with @p why.  Nothing to do (no replication) is 0.
 */
int vcha_colo_unreplicate(struct vcha_qmp *q, long long deadline, char *why,
                          size_t len);

#endif
