/*
 * vcha - the change tracker: which paths under a root changed since the
 * last look, for a sync that sends only those (vchad's filesync job) and
 * for a checkpoint that copies only those while a container is frozen.
 *
 * Two mechanisms, chosen by vcha_tracker_open():
 *
 *  - fanotify with a filesystem mark and FAN_REPORT_DFID_NAME: one mark
 *    covers every directory of the root's file system, so setting up costs
 *    the same for ten directories or a million, and no directory is ever
 *    missed between its creation and its watch.  Needs CAP_SYS_ADMIN (and
 *    CAP_DAC_READ_SEARCH, to decode handles) and a file system whose
 *    handles can be decoded (ext4, xfs, btrfs, tmpfs; overlayfs only with
 *    nfs_export=on).  Events outside the root (the mark covers the whole
 *    file system) are dropped.
 *  - inotify, the fallback: one watch per directory, added by a crawl at
 *    open and for each directory created or moved in later; bound by
 *    /proc/sys/fs/inotify/max_user_watches (open fails with -ENOSPC, naming
 *    the limit, rather than track part of the tree).
 *
 * A change is reported as the path of the entry that changed, relative to
 * the root, without a leading slash ("etc/hosts"; "" is the root itself):
 * created, deleted, written, attributes changed, or either name of a
 * rename.  A directory created or moved in is reported as itself, and its
 * contents may not be reported one by one: a consumer sends a reported
 * directory recursively.  A path reported may no longer exist (deleted or
 * renamed since): a consumer deletes it on the other side.
 *
 * Both mechanisms see a change through the directory it was made in: a
 * file written through a hard link outside the root is not seen.  Writes
 * through a shared mapping make no event; closing a descriptor opened for
 * writing after them does.
 *
 * A path is resolved when the event is read: with fanotify, every
 * directory is named where it is at the read; with inotify, an event read
 * before the rename of a directory above it names the old place (the
 * rename itself reports both names).  Changes in a directory removed by
 * the time of the read may be reported only as the removal of the
 * topmost directory removed.
 *
 * Events can be lost (the kernel's queue overflowed, or a directory's
 * watch could not be added): vcha_tracker_read() then says so with
 * -EOVERFLOW, once, and the consumer must treat the whole tree as changed.
 * inotify then crawls the tree again before that read returns, so that
 * the consumer's full sync sees whatever changed meanwhile; while a watch
 * still cannot be added, every read says -EOVERFLOW.
 */
#ifndef VCHA_TRACKER_H
#define VCHA_TRACKER_H

#include <stdbool.h>
#include <stddef.h>

/**
 * A set of relative paths, each once, in dictionary order (byte order, as
 * strcmp()).  Adding is O(1); the order is made when first asked for.
 */
struct vcha_pathset;

/** A new empty set, or NULL (ENOMEM). */
struct vcha_pathset *vcha_pathset_new(void);
void vcha_pathset_free(struct vcha_pathset *set);
/**
 * Add @p path (copied); adding one already there is a no-op.  0, -ENOMEM,
 * or -EINVAL for NULL.
 */
int vcha_pathset_add(struct vcha_pathset *set, const char *path);
/** Add every path of @p from to @p into.  0 or -ENOMEM. */
int vcha_pathset_merge(struct vcha_pathset *into,
                       const struct vcha_pathset *from);
/**
 * Add @p path (relative to the directory @p root) as rsync must be given
 * it: itself while its directories are there; where one of them is gone
 * (or is no directory now), the topmost such directory instead.  rsync
 * deletes a missing argument on the receiver, a directory with all it
 * holds, but takes a missing directory above an argument for a file that
 * vanished (exit 24).  0, -ELOOP (a symbolic link or a ".." on the way),
 * -ENAMETOOLONG, -ENOMEM or another negative errno.
 */
int vcha_pathset_add_gone(struct vcha_pathset *set, int root,
                          const char *path);
size_t vcha_pathset_count(const struct vcha_pathset *set);
/** The @p i th path in dictionary order, or NULL if @p i >= count. */
const char *vcha_pathset_get(const struct vcha_pathset *set, size_t i);
void vcha_pathset_clear(struct vcha_pathset *set);
/**
 * Write the paths to @p fd, each followed by a NUL byte (rsync
 * --files-from=FILE --from0), in dictionary order; the root ("") is
 * written as ".", which rsync takes for the root where it would skip an
 * empty name.  0 or -errno.
 */
int vcha_pathset_write0(const struct vcha_pathset *set, int fd);

/** Which mechanism to use. */
enum vcha_tracker_mode {
    /** fanotify if the file system allows, else inotify */
    VCHA_TRACKER_AUTO = 0,
    VCHA_TRACKER_FANOTIFY,
    VCHA_TRACKER_INOTIFY,
};

struct vcha_tracker;

/**
 * Start tracking changes under @p root (an absolute path to a directory).
 * Returns 0 with *@p out set, or a negative errno with @p why saying what
 * failed: -ENOTDIR/-ENOENT for the root, -EOPNOTSUPP when fanotify was
 * asked for and the file system cannot give it, -ENOSPC when inotify runs
 * out of watches, -EPERM without the privilege.
 */
int vcha_tracker_open(const char *root, enum vcha_tracker_mode mode,
                      struct vcha_tracker **out, char *why, size_t whylen);

/**
 * Flag of vcha_tracker_open_flags(): with fanotify, the kernel's queue of
 * events has no bound (FAN_UNLIMITED_QUEUE; its events take the kernel's
 * memory until read), so that a consumer that reads late loses nothing;
 * inotify's queue stays bounded by /proc/sys/fs/inotify/max_queued_events.
 */
#define VCHA_TRACKER_UNBOUNDED 0x1u

/** vcha_tracker_open() with @p flags (0 or VCHA_TRACKER_UNBOUNDED). */
int vcha_tracker_open_flags(const char *root, enum vcha_tracker_mode mode,
                            unsigned flags, struct vcha_tracker **out,
                            char *why, size_t whylen);

/** The descriptor to poll() for POLLIN: events are waiting. */
int vcha_tracker_fd(const struct vcha_tracker *t);

/** "fanotify" or "inotify". */
const char *vcha_tracker_mechanism(const struct vcha_tracker *t);

/** Kernel watches held (inotify: one per directory; fanotify: 1). */
size_t vcha_tracker_watches(const struct vcha_tracker *t);

/**
 * Read the events waiting, without blocking, and add the paths they name
 * to @p changed.  Returns the number of events read (0: none waiting;
 * events outside the root count, with nothing added), -EOVERFLOW when
 * events were lost since the last call (what could be read is still
 * added; the caller treats the whole tree as changed), or another
 * negative errno.  At most some 16 MiB of events are read in one call:
 * poll again for the rest.
 */
int vcha_tracker_read(struct vcha_tracker *t, struct vcha_pathset *changed);

void vcha_tracker_close(struct vcha_tracker *t);

#endif
