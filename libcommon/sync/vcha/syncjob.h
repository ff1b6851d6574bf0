/*
 * vcha - the filesync job's contract and its pushes: what an agent
 * registers with vchad to keep a standby copy of a tree in step
 * (vcha/jobdef.h), where the copy goes, and one rsync push to it.
 *
 * A push runs stock rsync with an argv (never a shell):
 *   rsync -aHAX --numeric-ids --delete --delete-delay --stats --from0
 *         --filter='merge FILTER' [--delete-excluded] [-r
 *         --files-from=LIST --delete-missing-args] [TRANSPORT OPTIONS]
 *         SOURCE/ DESTINATION
 * --from0 applies to the filter file as well: its rules end with NUL
 * bytes, not newlines.
 * A full push (no list) sends the whole tree and deletes on the standby
 * what the source no longer has (excluded paths are left alone); an
 * incremental one sends the listed paths only, a listed directory with
 * everything below it, a listed path the source no longer has deleted.
 * A file is written under a temporary name in its directory and renamed
 * into place, so the standby never sees a partial file under a live name;
 * deletions come at the push's end (--delete-delay), so a renamed file's
 * new name is there before its old one goes.
 */
#ifndef VCHA_SYNCJOB_H
#define VCHA_SYNCJOB_H

#include <stdbool.h>
#include <stddef.h>

#include <vcha/excludes.h>
#include <vcha/jobdef.h>

/** The job type's parameters, in the order of its table. */
enum vcha_sync_job_param {
    VCHA_SYNC_SOURCE,        /**< source: the tree, absolute */
    VCHA_SYNC_TARGET,        /**< target: see struct vcha_sync_target */
    VCHA_SYNC_IDENTITY,      /**< identity: ssh private key (0600) */
    VCHA_SYNC_KNOWN_HOSTS,   /**< known_hosts: the receiver's host key */
    VCHA_SYNC_PASSWORD_FILE, /**< password_file: rsync daemon secret (0600) */
    VCHA_SYNC_FILTER,        /**< filter: a ready rsync filter file */
    VCHA_SYNC_UNNEEDED,      /**< unneeded: more package globs */
    VCHA_SYNC_NEEDED,        /**< needed: package globs kept anyway */
    VCHA_SYNC_EXCLUDE,       /**< exclude: more paths */
    VCHA_SYNC_INCLUDE,       /**< include: paths synced anyway */
    VCHA_SYNC_NO_DEFAULTS,   /**< no_defaults: none of the default globs */
    VCHA_SYNC_DELAY,         /**< delay: batching after a first change */
    VCHA_SYNC_VERIFY,        /**< verify_interval: full pass, 0 never */
    VCHA_SYNC_MECHANISM,     /**< mechanism: auto, fanotify, inotify */
    VCHA_SYNC_PUSH_TIMEOUT,  /**< push_timeout: one rsync at most */
    VCHA_SYNC_N_PARAMS
};

/** The "filesync" job type. */
extern const struct vcha_job_def vcha_sync_job;

/** The values mechanism takes, NULL-terminated. */
extern const char *const vcha_sync_mechanism_options[];

/** Where a standby copy goes. */
enum vcha_sync_kind {
    VCHA_SYNC_LOCAL = 0, /**< an absolute directory on this node */
    VCHA_SYNC_SSH,       /**< ssh://[USER@]HOST[:PORT]: rsync over ssh */
    VCHA_SYNC_DAEMON,    /**< rsync://[USER@]HOST[:PORT]/MODULE */
};

/** A parsed target. */
struct vcha_sync_target {
    enum vcha_sync_kind kind;
    char user[64];   /**< "" for the default */
    char host[256];  /**< name or address ([v6] without brackets) */
    unsigned port;   /**< 0 for the default */
    char path[4096]; /**< LOCAL: the directory; DAEMON: the module */
};

/**
 * Parse @p text into @p t: an absolute directory, ssh://[USER@]HOST[:PORT]
 * (the receiver's forced command names the directory) or
 * rsync://[USER@]HOST[:PORT]/MODULE.  Returns 0 or -EINVAL with @p why.
 * A host, user or module holding anything but letters, digits and
 * "._-:" (and "[]" around an IPv6 address) is refused: they end up in an
 * rsync or ssh argument.
 */
int vcha_sync_target_parse(const char *text, struct vcha_sync_target *t,
                           char *why, size_t whylen);

/**
 * Check a secret file the job hands to ssh or rsync: a regular file owned
 * by this process's user and readable by no one else (mode 0600 or
 * 0400), as both tools demand.  Returns 0, or a negative errno with
 * @p why naming the file and what is wrong.
 */
int vcha_sync_secret_check(const char *path, char *why, size_t whylen);

/** How one push is made. */
struct vcha_sync_push {
    const char *source; /**< the tree, absolute */
    const struct vcha_sync_target *target;
    const char *filter;   /**< filter file (merge syntax), or NULL */
    const char *list;     /**< files-from list (NUL-separated), or NULL: full */
    const char *identity; /**< SSH */
    const char *known_hosts;   /**< SSH */
    const char *control_path;  /**< SSH: a master connection's socket,
                                    or NULL */
    const char *password_file; /**< DAEMON */
    bool checksum;             /**< compare contents, not size and mtime */
    /** delete on the standby what the filter excludes, but for what its
        "P" (protect) rules keep: the push after the list changed */
    bool delete_excluded;
    long long timeout_ms; /**< the push at most */
    /** the other way: the target's copy into source (a failback), with
        the same filter, so that what a push leaves out a pull leaves
        alone */
    bool pull;
};

/** What a push did. */
struct vcha_sync_stats {
    long long files;   /**< regular files transferred */
    long long deleted; /**< files deleted on the standby */
    long long bytes;   /**< bytes sent */
    long long elapsed_ms;
    int exit_code; /**< rsync's, -1 when it could not run */
};

/**
 * The argv of @p push's rsync into @p argv (at most @p max entries with
 * the terminating NULL), pointing into @p push and @p buf (@p buflen
 * bytes).  Returns the number of arguments or -ENOSPC.
 */
int vcha_sync_push_argv(const struct vcha_sync_push *push, const char **argv,
                        size_t max, char *buf, size_t buflen);

/**
 * Run one push.  Returns 0 (the standby has every listed path, or the
 * whole tree), or a negative errno with @p why holding rsync's last
 * error line: -ETIME past the timeout, -EIO for rsync's failures, -EAGAIN
 * for a source file that changed or vanished while it was sent (exit 24:
 * the next push sends it again), -EBUSY for an rsync daemon that still
 * serves the push before (max connections: ask again).  @p st is filled either way.
 */
int vcha_sync_push_run(const struct vcha_sync_push *push,
                       struct vcha_sync_stats *st, char *why, size_t whylen);

/**
 * The exclusion list of a sync of @p spec's root, as filter text (a rule
 * a line), into a new *@p text of *@p len bytes (free() it):
 * @p filter_file's content when it is not NULL, else the list
 * vcha_excludes_build() makes of the root's dpkg database, else (a root
 * without one) the includes, the always-excluded paths and the excludes.
 * A push and a pull of the same tree build it alike.  Returns 0, or a
 * negative errno with @p why.
 */
int vcha_sync_filter_text(const struct vcha_excludes_spec *spec,
                          const char *filter_file, char **text, size_t *len,
                          char *why, size_t whylen);

/**
 * Write filter text (rules one a line) to @p path, atomically and with
 * mode 0600, each rule ended by a NUL byte instead of a newline: rsync
 * reads a merged filter file with --from0 too.  0 or a negative errno.
 */
int vcha_sync_filter_save(const char *path, const char *text, size_t len);

#endif
