/*
 * vcha - the batch marker of a sync destination: whether the last push
 * into a standby's copy of a tree completed.
 *
 * A push (one rsync run into the destination directory DEST) is a batch.
 * Its receiver marks the batch begun before any file of it can land and
 * marks it ended with rsync's exit status afterwards, so that whoever
 * activates the copy (a container set's agent) can tell a tree whose last
 * batch completed from one that a push left half-applied.
 *
 * The marker is the file DEST.vcha-sync beside DEST (outside the tree, so
 * a container rooted at DEST never sees it), a vcha_kv block (vcha/kv.h)
 * always replaced atomically and durably (vcha_file_write_atomic()):
 *
 *     state=incomplete|complete
 *     batch=N          pushes begun, counted here
 *     completed=M      the last batch that completed (0: none)
 *     started_ms=T     when batch N began, CLOCK_REALTIME ms
 *     finished_ms=T    when the last finished push ended (0: none yet)
 *     status=S         that push's rsync exit status (-1: none yet, or
 *                      the rsync daemon's "did not exit properly")
 *     packages=HEX     sha256 of DEST/var/lib/dpkg/status as of batch M
 *                      (empty: no such file)
 *     owner=TEXT       who runs or ran batch N ("pid 1234",
 *                      "rsyncd 5678")
 *
 * The state is complete only when batch N ended with status 0 (then
 * completed == batch); a batch that failed, or whose receiver died, stays
 * incomplete.
 *
 * Pushes into one DEST never interleave: a batch holds an exclusive
 * flock(2) on DEST.vcha-sync.lock from begin to end (the file is created
 * once and never removed, so that every process locks the same inode).
 * The lock belongs to the open file description: a child that inherits
 * the descriptor (the rsync that does the transfer) keeps the lock held
 * while it runs, even if the process that began the batch dies first.
 */
#ifndef VCHA_SYNCMARK_H
#define VCHA_SYNCMARK_H

#include <stdbool.h>
#include <stddef.h>

/** What a destination's marker is named after: DEST + this. */
#define VCHA_SYNCMARK_SUFFIX ".vcha-sync"
/** The lock of a destination: DEST + this. */
#define VCHA_SYNCMARK_LOCK_SUFFIX ".vcha-sync.lock"
/**
 * The active marker of a destination: DEST + this.  While it exists the
 * tree belongs to the service activated on it (ocf:vcha:vcservice): the
 * receiver refuses every push into DEST, and the container set's agent
 * (ocf:vcha:ctset) neither boots, restarts, stops nor reconfigures its
 * container by itself.
 */
#define VCHA_SYNCMARK_ACTIVE_SUFFIX ".vcha-active"
/**
 * The activation lock of a destination: DEST + this, a file created once
 * and never removed (as the batch lock), locked with flock(2).
 *
 * Whoever acts on the container rooted at DEST takes it exclusively
 * around every check-then-act, and reads the active marker again while it
 * holds it:
 * - the activating side (vcservice) takes it (waiting, bounded), writes
 *   the active marker durably (from then on no batch can begin:
 *   vcha_syncmark_begin() looks at the marker under the batch lock), lets
 *   a batch under way end within a grace or ends it by signalling the
 *   receiver its owner names, judges the batch the tree was left at,
 *   activates the container, and releases the activation lock;
 * - the container set's agent takes it without waiting around each boot,
 *   restart, stop of a member and rewrite of its configuration, and acts
 *   only when the marker is still absent; when another process holds it,
 *   it leaves the member alone until its next round.
 * The activating side never waits for the batch lock while it holds this
 * one, and the receiver never takes this one: the two cannot deadlock.
 */
#define VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX ".vcha-active.lock"
/**
 * The cluster's record of where a member's newest tree is: the cluster
 * property VCHA_ACTIVE_RECORD_PREFIX + MEMBER in the crm_config property
 * set VCHA_ACTIVE_RECORD_SET.  Its value is a node's name while the member
 * is active there (its container serves), or VCHA_ACTIVE_RECORD_NATIVE and
 * the primary's node name once a failback pulled the tree back there.  The
 * activating side writes it before the active marker (under the activation
 * lock); the primary's failback rewrites it once it has pulled the tree
 * back.  An active marker on a node the record does not name as active is
 * stale: the tree behind it is no longer the newest, and the marker is
 * removed.  No record at all proves nothing (a CIB replaced from an older
 * copy loses it): a marker is then kept, and the record written again.
 * The record outlives every node, which the marker's transient attribute
 * does not.
 */
#define VCHA_ACTIVE_RECORD_SET "vcha-records"
#define VCHA_ACTIVE_RECORD_PREFIX "vcha-active-"
#define VCHA_ACTIVE_RECORD_NATIVE "native:"
/** How long vcha_syncmark_begin() waits for another push to end. */
#define VCHA_SYNCMARK_LOCK_WAIT_MS 30000LL

/** A destination's marker, as read or as written. */
struct vcha_syncmark {
    bool complete;         /**< state=complete */
    long long batch;       /**< pushes begun */
    long long completed;   /**< the last batch that completed, 0: none */
    long long started_ms;  /**< when batch began (CLOCK_REALTIME ms) */
    long long finished_ms; /**< when the last finished push ended, 0: none */
    int status;            /**< its rsync exit status, -1: none */
    char packages[65];     /**< sha256 hex of the dpkg status file as of
                                batch completed; "" when it had none */
    char owner[64];        /**< who runs or ran batch */
    bool running;          /**< (read, wait) a receiver holds the lock */
    bool locked;           /**< this process holds the lock: begin to end */
    int lock_fd;           /**< the lock's descriptor while locked */
};

/**
 * The marker's path for @p dest into @p buf.  @p dest must be an absolute
 * path other than "/" (trailing slashes are ignored).  Returns 0, -EINVAL
 * for another @p dest, or -ENAMETOOLONG.
 */
int vcha_syncmark_path(const char *dest, char *buf, size_t len);

/**
 * Read the marker of @p dest into *@p m (with running set when a receiver
 * holds the lock now).  Returns 0; -ENOENT when @p dest was never synced
 * (no marker); -EBADMSG when the marker is damaged, with @p why naming
 * the file and what is wrong; -EINVAL for a bad @p dest; or another
 * negative errno (with @p why set).  @p why may be NULL.
 */
int vcha_syncmark_read(const char *dest, struct vcha_syncmark *m, char *why,
                       size_t whylen);

/**
 * Begin a batch into @p dest: take the lock (waiting for another push to
 * end for up to VCHA_SYNCMARK_LOCK_WAIT_MS), then write the marker with
 * state incomplete and batch one more, and flush it to disk before
 * returning, so that no file of the batch can land before the marker
 * says the tree is being changed.  The owner is "pid <this pid>".  A
 * damaged marker is started afresh (batch 1): incomplete is the safe
 * state whatever was there.  On success *@p m is the marker written and
 * holds the lock (m->locked, m->lock_fd, close-on-exec) until
 * vcha_syncmark_end() or vcha_syncmark_release().  Once the lock is held,
 * the active marker (DEST.vcha-active) is looked at: while it exists no
 * batch may begin, and -EROFS is returned with the marker untouched.  (The
 * marker may still appear while a batch runs: the activating side then
 * lets that batch end or ends it before it activates anything.)
 * Returns 0, -EBUSY when the lock stayed held, -EROFS when DEST is active,
 * -EINVAL for a bad @p dest, or another negative errno; on failure
 * nothing is held and nothing is written.
 */
int vcha_syncmark_begin(const char *dest, struct vcha_syncmark *m);

/**
 * vcha_syncmark_begin() with an owner (NULL: "pid <this pid>"; at most 63
 * bytes, no control characters) and a bound on the wait for the lock in
 * milliseconds (0: try once).
 */
int vcha_syncmark_begin_as(const char *dest, const char *owner,
                           long long lock_wait_ms, struct vcha_syncmark *m);

/**
 * End the batch *@p m (from vcha_syncmark_begin() or _read()) with rsync's
 * exit @p status: state complete, completed = batch and packages the
 * digest of DEST/var/lib/dpkg/status now when @p status is 0; otherwise
 * the state stays incomplete, with @p status recorded.  finished_ms and
 * status are set either way.  The marker on disk must still be batch
 * m->batch: -ESTALE (nothing written) when another batch began since.
 * Releases the lock *@p m holds, if any, whatever the outcome.  Returns
 * 0, -ESTALE, -EINVAL, or a negative errno.
 */
int vcha_syncmark_end(const char *dest, struct vcha_syncmark *m, int status);

/**
 * Close this process's descriptor of the lock *@p m holds, if any,
 * without writing the marker: the lock is free once no other process
 * (a child that inherited it) holds it either.
 */
void vcha_syncmark_release(struct vcha_syncmark *m);

/**
 * Wait up to @p timeout_ms for the marker of @p dest to say complete,
 * polling; *@p m is the marker last read.  Returns 0 when complete,
 * -EINPROGRESS when still incomplete at the deadline, or at once when no
 * receiver holds the lock (nothing is pushing: the batch was left
 * incomplete and will not complete by waiting), -ENOENT when never
 * synced, or another negative errno (-EBADMSG: damaged).
 */
int vcha_syncmark_wait(const char *dest, long long timeout_ms,
                       struct vcha_syncmark *m);

/**
 * The sha256 (lowercase hex) of DEST/var/lib/dpkg/status, the file
 * resolved as the container rooted at @p dest sees it (symbolic links
 * cannot lead out of @p dest; where openat2(2) is missing, no link is
 * followed at all), into @p hex: "" when there is no such regular file (a
 * device or a FIFO there is neither opened nor read).  Returns 0, -EFBIG
 * for a file over 256 MiB (no status file is), or a negative errno.
 */
int vcha_syncmark_packages(const char *dest, char hex[65]);

/**
 * What an active marker says (DEST + VCHA_SYNCMARK_ACTIVE_SUFFIX, a list
 * of key=value lines written by ocf:vcha:vcservice).
 */
struct vcha_active_marker {
    char instance[256];    /**< instance= the resource that activated it */
    char node[256];        /**< node= where it was activated, "" if unsaid */
    char migrated_to[256]; /**< migrated_to= the standby VM its container
                                migrated to, with its memory and tree; ""
                                while it serves from this tree */
    char migrated_from[256]; /**< migrated_from= the standby VM it was
                                  restored from here: the tree is the
                                  migration's, whatever the sync marker
                                  says; "" for a tree activated as synced */
    char restoring_from[256]; /**< restoring_from= the standby VM it is
                                   being restored from here: until the
                                   record names this node, the tree may be
                                   half the migration's, and is neither
                                   sent back nor started */
    char checkpoint[256]; /**< checkpoint= beside migrated_to: the id
                               (frozen_at) of the checkpoint the migration
                               took; "" if unsaid */
};

/**
 * Read the active marker of @p dest into *@p m: 0; -ENOENT without one;
 * -EBADMSG for a file that names no instance, is no key=value list or
 * whose last line was cut short (no newline); another negative errno when
 * it cannot be read.
 */
int vcha_active_marker_read(const char *dest, struct vcha_active_marker *m);

/**
 * The active marker's path for @p dest (DEST + VCHA_SYNCMARK_ACTIVE_SUFFIX)
 * into @p buf, as vcha_syncmark_path() makes the sync marker's.
 */
int vcha_active_marker_path(const char *dest, char *buf, size_t len);

/** The record's property name for @p member, into @p buf. */
void vcha_active_record_name(const char *member, char *buf, size_t len);

/**
 * Read the record of member @p member (see VCHA_ACTIVE_RECORD_SET) within
 * @p timeout_ms: 0 with the node it names into @p node, and *@p native
 * true when that is the primary the member failed back to (false: the
 * member is active there); -ENODATA without a record (an empty one
 * included); or another negative errno.
 */
int vcha_active_record_get(const char *member, long long timeout_ms, char *node,
                           size_t len, bool *native);

/**
 * Write the record of member @p member within @p timeout_ms: active on
 * @p node, or failed back to it when @p native.  0 or a negative errno.
 */
int vcha_active_record_set(const char *member, const char *node, bool native,
                           long long timeout_ms);

#endif
