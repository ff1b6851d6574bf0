/*
 * vcha - a container's root filesystem into a checkpoint generation and
 * back: the copy taken while the container is frozen, and the restore that
 * makes a node's root filesystem equal to a generation's.
 *
 * Both run rsync (argv, never a shell) within a deadline.  Neither trusts
 * rsync's quick check (size and mtime) alone: a file rewritten in place
 * within one tick of the clock keeps both, and so does one renamed over
 * another written in the same tick.
 */
#ifndef VCHA_ROOTFS_H
#define VCHA_ROOTFS_H

#include <stdbool.h>

/**
 * How far the file system's clock (ctime, taken from the kernel's coarse
 * clock, one tick behind at most: 10 ms at HZ=100) may lag behind
 * CLOCK_REALTIME read by a process, in ms, with room for NTP's slewing.  A
 * step of the clock backwards by more is not covered.
 */
#define VCHA_ROOTFS_CLOCK_MARGIN_MS 100

/** What vcha_rootfs_stage() did beyond rsync. */
struct vcha_rootfs_stats {
    unsigned long long recopied;       /**< linked files copied again */
    unsigned long long recopied_bytes; /**< their size */
};

/**
 * Copy the tree @p src into the new directory @p dst as it is now (the
 * container frozen: nothing writes into @p src), hard-linking each file
 * that the base's copy @p base holds unchanged (rsync --link-dest), or
 * copying everything when @p base is NULL.
 *
 * A file counts as unchanged only when rsync finds its size and mtime
 * equal to the base's, and its inode has not changed since @p since_ms
 * (CLOCK_REALTIME ms of this node, less VCHA_ROOTFS_CLOCK_MARGIN_MS): its
 * ctime is older.  A write, a rename over it or a utimensat() that sets
 * its mtime back all change the ctime, which no program can set back; each
 * file rsync linked but whose ctime is newer is copied again (every name
 * of a file with several), its directory's times kept.
 *
 * The caller must know that @p src equalled @p base at @p since_ms, on
 * this node's clock: that @p base was taken from this very tree then, or
 * this tree restored from it by then.
 *
 * Returns 0, -ECANCELED when the process was told to stop (see
 * vcha_exec_cancel()), -ETIME at the deadline, or another negative errno,
 * with @p why set.
 */
int vcha_rootfs_stage(const char *src, const char *base, long long since_ms,
                      const char *dst, long long deadline,
                      struct vcha_rootfs_stats *stats, char *why,
                      size_t whylen);

/**
 * Make the tree @p dst (created when missing) equal to @p from: every
 * file whose content differs is replaced, compared by checksum whatever
 * its size and mtime (rsync --checksum), and what @p from does not hold is
 * deleted.  Returns 0 or a negative errno with @p why set.
 */
int vcha_rootfs_restore(const char *from, const char *dst, long long deadline,
                        char *why, size_t whylen);

#endif
