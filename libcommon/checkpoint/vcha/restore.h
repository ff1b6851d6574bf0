/*
 * vcha - a generation's files put back on a node, each byte checked
 * against the generation's MANIFEST as it is read.
 *
 * The MANIFEST (see genstore.h) is the authority: its end line proves it
 * whole, and it lists the SHA-256 of every regular file.  A restore
 * therefore need not verify a generation before using it: it reads each
 * file it needs once, hashing it on the way, and puts nothing in place
 * whose checksum differs.  What the node holds already is kept when it is
 * proven to have the listed checksum: either hashed here (one read, of
 * the node's own copy), or, without reading it, when the node's lineage
 * shows that the file has not changed since it equalled a generation
 * whose MANIFEST lists the same checksum for it (see
 * struct vcha_restore_lineage).
 */
#ifndef VCHA_RESTORE_H
#define VCHA_RESTORE_H

#include <stdbool.h>

#include <vcha/genstore.h>

/** What a node's tree is known to descend from. */
struct vcha_restore_lineage {
    /**
     * The MANIFEST of the generation the tree equalled, every file with
     * the checksum listed there, at @c since_ms; NULL when unknown.
     */
    const struct vcha_gen_manifest *prev;
    /**
     * CLOCK_REALTIME ms of this node.  A file whose inode changed after
     * it (less VCHA_ROOTFS_CLOCK_MARGIN_MS) has a newer ctime: a write, a
     * rename over it, a chmod all set it, and no program can set it back
     * (a step of the node's clock backwards by more than the margin is
     * not covered, as for the links of vcha_rootfs_stage()).
     */
    long long since_ms;
};

/** What vcha_restore_tree() did. */
struct vcha_restore_stats {
    unsigned long long files;  /**< regular files of the generation */
    unsigned long long proven; /**< kept unread: the lineage proves them */
    unsigned long long hashed; /**< kept after hashing the node's copy */
    unsigned long long hashed_bytes; /**< bytes of the node's read */
    unsigned long long fetched;      /**< read from the generation */
    unsigned long long fetched_bytes;
    unsigned long long linked;  /**< extra names of a file, linked again */
    unsigned long long removed; /**< entries the generation does not hold */
};

/**
 * Make the tree @p dst (created when missing) equal to the directory
 * @p sub (e.g. "rootfs") of generation @p m, as rsync -aH --numeric-ids
 * --delete would: types, modes, numeric owners, mtimes, link targets,
 * device numbers, the files that share an inode in the generation sharing
 * one here, and nothing the generation does not hold.  @p m must have
 * been read with VCHA_GEN_SIZES_ONLY (its tree checked, its lstat()s
 * kept); extended attributes and ACLs are not copied, as rsync -a does
 * not.
 *
 * A regular file of @p dst is kept when it is proven to hold the listed
 * checksum (see vcha/restore.h and @p lin, may be NULL); every other one
 * is copied from the generation into a temporary name beside it, hashed
 * while it is copied, and renamed into place only when its checksum is
 * the listed one.  Files are read and hashed by @p threads threads (0:
 * one per CPU, 8 at most).
 *
 * On failure @p dst may be part way: some files replaced, none of them
 * with content the MANIFEST does not list; each changed inode has a new
 * ctime, so that a lineage older than the failure still holds, and the
 * next restore finishes the work.
 *
 * Returns 0; -EBADMSG when the generation is corrupt (a checksum or a
 * size differs from its MANIFEST), with @p why naming the file; -ETIME at
 * @p deadline (CLOCK_MONOTONIC ms); -ECANCELED when the process was told
 * to stop (vcha_exec_cancel()); another negative errno with @p why set.
 */
int vcha_restore_tree(const struct vcha_gen_manifest *m, const char *sub,
                      const char *dst, const struct vcha_restore_lineage *lin,
                      unsigned threads, long long deadline,
                      struct vcha_restore_stats *stats, char *why,
                      size_t whylen);

/**
 * Put the regular files of the directory @p sub (e.g. "images") of
 * generation @p m (read with VCHA_GEN_SIZES_ONLY) into the directory
 * @p to, for a program that reads them next (CRIU): NAME.zst decompressed
 * as NAME by zstd while they are hashed, the others hard-linked (@p hard)
 * and hashed, or copied and hashed.  Every file's checksum is compared
 * with the MANIFEST before the call returns, so that nothing reads an
 * unverified image; the generation itself is never written.
 *
 * Returns 0; -EBADMSG when a file of the generation is corrupt (@p why
 * names it); -ETIME, -ECANCELED or another negative errno, with @p why set.
 */
int vcha_restore_files(const struct vcha_gen_manifest *m, const char *sub,
                       const char *to, bool hard, unsigned threads,
                       long long deadline, char *why, size_t whylen);

#endif
