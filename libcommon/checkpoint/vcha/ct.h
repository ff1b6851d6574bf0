/*
 * vcha - an LXC container that is checkpointed with CRIU into a generation
 * store and restored from one.
 *
 * A checkpoint takes memory and files at the same instant: the container is
 * frozen, CRIU dumps its processes (leaving them running, still frozen),
 * its root filesystem is copied into the same stage (unchanged files as
 * hard links to the previous generation), and only then is it thawed.  The
 * stage is committed by the store (see genstore.h) after the thaw, so the
 * container is frozen for the dump and the copy only.
 *
 * LXC is driven through liblxc, each call in a child process killed at its
 * deadline (ctlxc.c); other programs run from an argv array with a
 * deadline (see exec.h).
 *
 * The container is booted, dumped and restored with the settings CRIU
 * needs applied to liblxc's in-memory copy of its configuration, never to
 * the file: lxc.tty.max = 0, lxc.pty.max = 0, lxc.console.path = none,
 * and, on a kernel without AppArmor, no lxc.apparmor.* item.  A container
 * made by lxc-create -t download runs as it is.
 */
#ifndef VCHA_CT_H
#define VCHA_CT_H

#include <stdbool.h>
#include <sys/types.h>

#include <vcha/genstore.h>
#include <vcha/kv.h>

/** Sub-directories of a generation. */
#define VCHA_CT_IMAGES "images"
#define VCHA_CT_ROOTFS "rootfs"

/** One container, as its LXC configuration describes it. */
struct vcha_ct {
    char *name;
    char *lxcpath;
    char *config;    /**< "<lxcpath>/<name>/config" */
    char *rootfs;    /**< the directory lxc.rootfs.path names */
    char digest[65]; /**< SHA-256 of the configuration file, hex */
    /** items as liblxc reads them (includes followed, the last setting
     * winning): lxc.rootfs.path, lxc.start.auto, lxc.tty.max, lxc.pty.max,
     * lxc.console.path, lxc.apparmor.profile, lxc.apparmor.allow_nesting,
     * lxc.net.0.ipv4.address ("A/PREFIX", present only when the first
     * network has exactly one), lxc.net.N.type; an item that has no value
     * is absent */
    struct vcha_kv *settings;
};

/** Compression of the CRIU images in a generation. */
enum vcha_ct_compress {
    VCHA_CT_COMPRESS_NONE,
    VCHA_CT_COMPRESS_ZSTD,
};

/**
 * Read the configuration of container @p name under @p lxcpath, through
 * liblxc (at most 10 s: liblxc waits for the container's disk lock).
 * Returns 0, -ENOENT when "<lxcpath>/<name>/config" does not exist,
 * -EINVAL when liblxc cannot read it or it names no root filesystem
 * directory (with @p why set), or -errno.
 */
int vcha_ct_open(const char *name, const char *lxcpath, struct vcha_ct **out,
                 char *why, size_t whylen);

/** Free @p ct; NULL is fine. */
void vcha_ct_free(struct vcha_ct *ct);

/**
 * Whether the container's configuration has a setting that its boot with
 * the settings CRIU needs cannot override (see above): lxc.start.auto on
 * (LXC would start it at boot, outside the cluster), or a network LXC's
 * checkpoint refuses (lxc.net.N.type other than veth, macvlan, empty,
 * none).  0, or -EINVAL with @p why naming the setting and its fix.
 */
int vcha_ct_criu_check(const struct vcha_ct *ct, char *why, size_t whylen);

/**
 * Whether the container runs: 1 (and its init's PID in @p pid, may be
 * NULL), 0 when it is stopped, or a negative errno when liblxc could not
 * tell before @p deadline (CLOCK_MONOTONIC ms): -ENOENT for a container
 * without configuration, -ETIME when its monitor did not answer.
 */
int vcha_ct_running(const struct vcha_ct *ct, long long deadline, pid_t *pid);

/**
 * Boot the container from its own filesystem, daemonized, with the
 * settings CRIU needs (liblxc's start on the in-memory configuration),
 * and wait until it runs.  0 or -errno with @p why set.
 */
int vcha_ct_boot(const struct vcha_ct *ct, long long deadline, char *why,
                 size_t whylen);

/**
 * Stop the container at once, every process killed (liblxc's stop), and
 * wait until it is stopped.  A stopped container is fine.  0 or -errno
 * (-EBUSY: still running at @p deadline).
 */
int vcha_ct_kill(const struct vcha_ct *ct, long long deadline, char *why,
                 size_t whylen);

/** What a running container uses, as its own cgroup counts it. */
struct vcha_ct_usage {
    /** bytes: its memory but the file cache it has not used lately
     * (memory.current less inactive_file; cgroup v1: usage_in_bytes less
     * total_inactive_file), what it would need elsewhere */
    unsigned long long memory;
    /** CPU time its processes used since it began, microseconds */
    unsigned long long cpu_usec;
};

/**
 * Measure the running container (see struct vcha_ct_usage) in the cgroup
 * of its init, v1 or v2.  0; -ESRCH when it does not run; -ENOTSUP when
 * its cgroup cannot be told; another negative errno (-ETIME: liblxc did
 * not answer before @p deadline).
 */
int vcha_ct_usage(const struct vcha_ct *ct, long long deadline,
                  struct vcha_ct_usage *u);

/** Options of one checkpoint. */
struct vcha_ct_ckpt {
    const char *store;              /**< the generation store */
    unsigned keep;                  /**< generations kept */
    enum vcha_ct_compress compress; /**< of the images */
    bool final;                     /**< leave it frozen: it is stopped next */
    long long deadline;             /**< CLOCK_MONOTONIC ms */
};

/**
 * What compress=auto chooses for the next checkpoint into @p store: zstd
 * when the store's generations show that compressed images reached it
 * faster per byte than raw ones, raw otherwise.  While one way has never
 * been timed, and once every 16 generations, the other way is chosen, to
 * time it (again).  Reads the store's MANIFEST headers only.
 */
enum vcha_ct_compress vcha_ct_compress_auto(const char *store);

/**
 * Take one checkpoint of the running container into a new generation of
 * the store: freeze, dump, copy the root filesystem, thaw (unless
 * @p o->final), commit.  Figures of the checkpoint (freeze_ms, dump_ms,
 * copy_ms, ship_ms, commit_ms, total_ms, image_bytes, dumped_into,
 * generation, ...) are set in @p figures.  CRIU dumps into local scratch
 * ($VCHA_RUN_DIR, or /run/vcha), whence the images are compressed or
 * copied into the stage after the thaw, or, when scratch has no room for
 * them, straight into the stage, uncompressed; either way they are
 * fsynced before the commit.  On any failure the stage is removed, the
 * container thawed, and the store's previous generations are untouched.
 *
 * Returns 0 or a negative errno with @p why set.
 */
int vcha_ct_checkpoint(const struct vcha_ct *ct, const struct vcha_ct_ckpt *o,
                       struct vcha_kv *figures, char *why, size_t whylen);

/**
 * Restore the stopped container from generation @p gen (its header
 * @p info, from vcha_genstore_latest(), may be NULL): its root filesystem
 * is made equal to the generation's, then CRIU restores its processes
 * (liblxc's migrate, MIGRATE_RESTORE, with the settings CRIU needs).
 * CRIU reads uncompressed images through hard links in a directory of
 * this node's beside the generations (".restore-NODE"); compressed ones
 * are decompressed into local scratch when it has room for them, and
 * into that directory otherwise.  Figures (copy_ms, restore_ms) are set in
 * @p figures (may be NULL).  Returns 0 or a negative errno with @p why
 * set; the container is stopped after a failure, and the directory kept
 * with CRIU's log.
 */
int vcha_ct_restore(const struct vcha_ct *ct, const char *gen,
                    const struct vcha_gen_info *info, long long deadline,
                    struct vcha_kv *figures, char *why, size_t whylen);

/**
 * vcha_ct_restore(), but the container is left frozen, as it was dumped
 * (a migration's target records it as its own before it thaws it with
 * vcha_ct_thaw()).
 */
int vcha_ct_restore_frozen(const struct vcha_ct *ct, const char *gen,
                           const struct vcha_gen_info *info,
                           long long deadline, struct vcha_kv *figures,
                           char *why, size_t whylen);

/**
 * Thaw the running container (its freezer, v1 or v2): a frozen one runs
 * on, a running one is left as it is.  0, or -errno with @p why set
 * (-ESRCH or -ENOENT: it does not run).
 */
int vcha_ct_thaw(const struct vcha_ct *ct, long long deadline, char *why,
                 size_t whylen);

/**
 * Run @p argv inside the running container (liblxc's attach_run_wait,
 * environment cleared, as lxc-attach --clear-env) and return its exit
 * code (0: success; 128 + N: killed by signal N), or a negative errno when
 * it could not run or did not end before @p deadline.
 */
int vcha_ct_attach(const struct vcha_ct *ct, const char *const argv[],
                   long long deadline, char *why, size_t whylen);

#endif
