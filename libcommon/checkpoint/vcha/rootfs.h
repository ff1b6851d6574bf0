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

#include <vcha/tracker.h>

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

/**
 * A watch on a root filesystem: the copy taken while the container runs
 * (vcha_rootfs_precopy()), then the catch-up taken while it is frozen
 * (vcha_rootfs_catch_up()), which copies only what changed since the watch
 * began.  The container is stopped for what changed, not for the size of
 * its tree.
 *
 * A change is seen through the change tracker (vcha/tracker.h): the kernel
 * queues its event in the writer's own system call, and a frozen process
 * is never inside one, so once the container is frozen every change it
 * made is waiting to be read.  A write through a shared, writable mapping
 * makes no event: the caller lists the files mapped so (see
 * vcha_rootfs_shared_writable()) and they are copied at every catch-up.
 */
struct vcha_rootfs_watch;

/** What a catch-up did. */
struct vcha_rootfs_catchup_stats {
    unsigned long long paths;  /**< paths copied again (or deleted) */
    unsigned long long events; /**< events read since the watch began */
};

/**
 * Start watching the tree @p src (the change tracker's mechanism chosen as
 * VCHA_TRACKER_AUTO).  0, or a negative errno with @p why set (the caller
 * then copies the whole tree while the container is frozen).
 */
int vcha_rootfs_watch_open(const char *src, struct vcha_rootfs_watch **out,
                           char *why, size_t whylen);

/** "fanotify" or "inotify". */
const char *vcha_rootfs_watch_mechanism(const struct vcha_rootfs_watch *w);

/** Stop watching and free @p w (NULL is fine). */
void vcha_rootfs_watch_close(struct vcha_rootfs_watch *w);

/**
 * vcha_rootfs_stage() while the container runs, the events of the watch
 * read all along by a thread of its own, so that the kernel's queue does
 * not overflow with the copy's own writes (a tree copied into the same
 * file system makes an event for every entry, which is dropped).
 */
int vcha_rootfs_precopy(struct vcha_rootfs_watch *w, const char *base,
                        long long since_ms, const char *dst, long long deadline,
                        struct vcha_rootfs_stats *stats, char *why,
                        size_t whylen);

/**
 * With the writers of the watched tree stopped: make @p dst, a copy that
 * vcha_rootfs_precopy() made under this watch, equal to the tree again.
 * Every path the watch saw change since it began, and every path of
 * @p also (may be NULL), is copied again whatever its size and mtime, or
 * deleted from @p dst when it is gone; a directory is copied whole.  The
 * file listing them is written under @p scratch.
 *
 * Returns 0; -EOVERFLOW when the watch lost events, -EMLINK when a
 * changed file has other names (copying one name would part them), -ELOOP
 * when a changed path runs through a symbolic link: in these three cases
 * @p dst is unchanged and the caller copies the whole tree instead.
 * Otherwise -ETIME, -ECANCELED or another negative errno; @p why is set
 * on every failure.
 */
int vcha_rootfs_catch_up(struct vcha_rootfs_watch *w, const char *dst,
                         const struct vcha_pathset *also, const char *scratch,
                         long long deadline,
                         struct vcha_rootfs_catchup_stats *stats, char *why,
                         size_t whylen);

/**
 * Add to @p paths (relative to the root filesystem @p root, as the
 * watch's paths) every regular file under @p root that a process of the
 * cgroup directory @p cgroup, or of any cgroup below it, maps shared
 * (whatever the mapping allows now: mprotect() may have taken writing
 * away after writes) or holds open for writing: writes through a mapping
 * make no event, and closing the file makes one only when it is closed.
 * Called when the watch begins and again at the freeze, it covers a
 * mapping written and then unmapped meanwhile: its file was mapped then,
 * or is open still, or its closing made an event.  The paths are those
 * the processes see (their root being @p root); one that is not a regular
 * file under @p root, reached without a symbolic link, is left out.  0 or
 * a negative errno.
 */
int vcha_rootfs_shared_writable(const char *cgroup, const char *root,
                                struct vcha_pathset *paths);

#endif
