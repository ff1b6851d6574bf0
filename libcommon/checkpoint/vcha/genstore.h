/*
 * vcha - the checkpoint generation store: a directory of immutable
 * generations, each written into a staging directory, flushed, and
 * committed by one rename, so that a failure at any instant leaves the
 * previous generation whole.
 *
 * Layout of a store directory:
 *
 *     .lock              flock()ed by the one writer
 *     gen-0000000041/    committed generations, never modified again
 *     gen-0000000042/
 *     .stage-0000000043/ the generation being written (or a dead one)
 *     .trash-0000000040/ a generation being deleted (vcha_genstore_sweep())
 *
 * A generation is whatever tree the caller writes (CRIU images in images/,
 * the container's filesystem in rootfs/, ...) plus a file MANIFEST at its
 * top, written by the store.  MANIFEST is text, one record a line, fields
 * separated by one space:
 *
 *     vcha-generation 1                  format version; the first line
 *     created <ms>                       CLOCK_REALTIME, milliseconds
 *     container <name>                   (optional)
 *     config-digest <digest>             (optional)
 *     base <gen-N>                       (optional) the generation whose
 *                                        checksums this one reused, every
 *                                        byte verified when it was made
 *     figure <key> <value>               caller figures, any number
 *     files <n>                          number of regular files
 *     bytes <n>                          sum of their sizes
 *     f <mode> <size> <mtime> <sha256> <path>    regular file
 *     d <mode> <path>                    directory
 *     l <target> <path>                  symbolic link
 *     c <mode> <major>:<minor> <path>    character device
 *     b <mode> <major>:<minor> <path>    block device
 *     p <mode> <path>                    fifo
 *     s <mode> <path>                    socket
 *     end <sha256>                       the last line
 *
 * <mode> is the permission bits in octal, <mtime> is "<seconds>.<9 digit
 * nanoseconds>", <sha256> is lowercase hex.  Paths are relative to the
 * generation; paths, link targets, names and figures are percent-encoded:
 * every byte below 0x21, above 0x7e, and '%' itself is written as %XX, so
 * spaces, newlines and any other byte are safe.  The end line carries the
 * SHA-256 of every byte before it, so a torn or edited MANIFEST is
 * detected.  Readers ignore lines whose keyword is longer than one letter
 * and unknown to them, so that later versions can add header fields.
 */
#ifndef VCHA_GENSTORE_H
#define VCHA_GENSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/** A writer's handle on a store directory. */
struct vcha_genstore;

/** Flag for vcha_genstore_latest() and vcha_genstore_verify(). */
#define VCHA_GEN_SIZES_ONLY 0x1u /**< check the tree, skip the checksums */

/** A caller figure recorded in a generation's MANIFEST. */
struct vcha_gen_figure {
    const char *key;   /**< e.g. "freeze_ms"; not empty */
    const char *value; /**< e.g. "12"; not empty */
};

/** What the caller records in the header of a generation's MANIFEST. */
struct vcha_gen_meta {
    const char *container;                 /**< or NULL */
    const char *config_digest;             /**< or NULL */
    const struct vcha_gen_figure *figures; /**< n_figures of them */
    size_t n_figures;
};

/** A committed generation, as its MANIFEST describes it. */
struct vcha_gen_info {
    uint64_t number;                 /**< N of gen-N */
    char *path;                      /**< "<store dir>/gen-N" */
    long long created_ms;            /**< CLOCK_REALTIME ms; 0 if unknown */
    char *container;                 /**< or NULL */
    char *config_digest;             /**< or NULL */
    char *base;                      /**< "gen-N" (see the format), or NULL */
    struct vcha_gen_figure *figures; /**< owned by the info */
    size_t n_figures;
    uint64_t bytes; /**< total size of the regular files */
    uint64_t files; /**< number of regular files */
};

/**
 * Open the store directory @p dir for writing, taking an exclusive flock()
 * on "<dir>/.lock" for as long as the handle lives (not inherited across
 * exec).  On NFS, Linux turns flock() into a lock the server arbitrates.
 *
 * Returns 0, -ENOENT if @p dir does not exist, -ENOTDIR if it is not a
 * directory, -EBUSY if another writer holds the lock, or a negative errno.
 */
int vcha_genstore_open(const char *dir, struct vcha_genstore **out);

/**
 * Release the lock and free @p store (NULL is fine).  A stage that was
 * neither committed nor aborted is left as it is, as after a crash: the
 * next vcha_genstore_stage() removes it.
 */
void vcha_genstore_free(struct vcha_genstore *store);

/**
 * Create a new, empty staging directory "<dir>/.stage-N" where N is one
 * more than the highest number of any generation, stage or trash in the
 * store, after removing the stages that dead writers left behind.  The
 * caller fills it, then calls vcha_genstore_commit() or
 * vcha_genstore_abort().
 *
 * @param stage_path  set to the stage's path; free() it
 * @return 0, -EALREADY if this handle already has a stage, or -errno
 */
int vcha_genstore_stage(struct vcha_genstore *store, char **stage_path);

/**
 * Choose the base of the next commit: the newest committed generation that
 * verifies, every checksum read (see vcha_genstore_verify()).  The handle
 * remembers it, and its commits reuse the checksums of the base's files
 * that are hard-linked into the stage, and of no other generation's: a
 * generation that was never verified could pass a damaged byte on to every
 * generation after it.  Each newer generation that does not verify is
 * skipped with a warning.  The handle also remembers which inodes it has
 * read, so that the checks of one checkpoint read each shared file once.
 *
 * @param gen_path  if not NULL, set to the base's path; free() it
 * @param info      if not NULL, set to its header; vcha_gen_info_free()
 * @param bad       if not NULL, set to "gen-N: why" for the newest
 *                  generation that does not verify, when one newer than
 *                  the base does not (else NULL); free() it
 * @return 0; -ENOENT when no generation verifies (the next commit then
 *         reads every file), or another negative errno
 */
int vcha_genstore_base(struct vcha_genstore *store, char **gen_path,
                       struct vcha_gen_info **info, char **bad);

/**
 * Commit the stage as generation "<dir>/gen-N" (N zero-padded to 10
 * digits), then delete the generations older than the @p keep newest that
 * verify.
 *
 * Every regular file, directory, symbolic link, device node, fifo and
 * socket of the stage is listed in a new MANIFEST with its type and mode,
 * and each regular file with its size and SHA-256.  A file that is a hard
 * link to the same path of the base (see vcha_genstore_base()), with the
 * size and mtime the base recorded, keeps its recorded checksum instead of
 * being read again (see rsync --link-dest); without a base every file is
 * read.  Every file and directory is fsynced, the stage renamed to its
 * final name and the store fsynced: only then does the generation exist.
 *
 * The new generation counts as good, and so does the base; each older one
 * counts only when it verifies: its tree (sizes, types, modes), and its
 * content, every checksum read, unless a newer generation names it as its
 * base (its content was verified then; inodes this handle has read are not
 * read again) and that newer one is the new generation, the base, or one
 * whose content verified.  A damaged generation never makes a good one
 * go, and neither the base nor a generation newer than it is deleted.  Old
 * generations are renamed to ".trash-N", so that no directory named gen-N
 * is ever half deleted; their contents are removed by
 * vcha_genstore_sweep(), or by the next vcha_genstore_stage().  Failures
 * while deleting are logged, not returned.
 *
 * Every entry is made durable by one syncfs() of the store's file system
 * (what is dirty is written: the files hard-linked from the base cost
 * nothing), then the MANIFEST is written, and then the stage renamed.
 *
 * @param meta      recorded in the MANIFEST header; may be NULL
 * @param keep      generations to keep, this one included; at least 1
 * @param gen_path  if not NULL, set to the generation's path; free() it
 * @return 0; -EINVAL for no stage, @p keep 0 or an empty figure key or
 *         value (the stage is kept); another negative errno if writing
 *         failed, in which case the stage is removed
 */
int vcha_genstore_commit(struct vcha_genstore *store,
                         const struct vcha_gen_meta *meta, unsigned keep,
                         char **gen_path);

/**
 * Remove the contents of the generations vcha_genstore_commit() retired
 * (".trash-N"), best effort, failures logged: a cost that grows with their
 * file count, apart from the commit's.
 */
void vcha_genstore_sweep(struct vcha_genstore *store);

/**
 * Give the commit the SHA-256 @p sha of a regular file of the stage that
 * the caller wrote and hashed as it wrote it (@p st: its fstat() once
 * written), so that the commit records it instead of reading the file
 * again.  The commit takes it only for that inode with that size and
 * mtime.  0, or -EINVAL without a stage or for another kind of file.
 */
int vcha_genstore_known(struct vcha_genstore *store, const struct stat *st,
                        const unsigned char sha[32]);

/** Remove the current stage, best effort (no stage: nothing to do). */
void vcha_genstore_abort(struct vcha_genstore *store);

/**
 * Find the newest committed generation of the store @p dir that verifies
 * (see vcha_genstore_verify()).  Each newer generation that does not is
 * skipped with a warning that names it and says why.  Needs no lock.
 *
 * @param flags     0 or VCHA_GEN_SIZES_ONLY
 * @param gen_path  if not NULL, set to its path; free() it
 * @param info      if not NULL, set to its description; free it with
 *                  vcha_gen_info_free()
 * @return 0, -ENOENT if no generation verifies, -EINVAL for unknown flags,
 *         or another negative errno (-ENOMEM, or @p dir unreadable)
 */
int vcha_genstore_latest(const char *dir, unsigned flags, char **gen_path,
                         struct vcha_gen_info **info);

/**
 * Check the generation at @p gen_path: its MANIFEST is complete and
 * unmodified, every entry it lists is present with the listed type, mode,
 * size, link target or device number, nothing unlisted is present, and
 * (unless @p flags has VCHA_GEN_SIZES_ONLY) the content of every regular
 * file has its listed SHA-256.
 *
 * @param why  if not NULL, on failure set to what is wrong, e.g.
 *             "images/pages-1.img: checksum mismatch"; free() it
 * @return 0; -EBADMSG if the generation is incomplete or corrupt; -EINVAL
 *         for unknown flags; another negative errno if it cannot be read
 */
int vcha_genstore_verify(const char *gen_path, unsigned flags, char **why);

/**
 * List the committed generations of the store @p dir, newest first,
 * reading only the header of each MANIFEST and verifying nothing: for
 * status displays.  Fields a generation's MANIFEST does not provide are
 * 0 or NULL.
 *
 * @param gens   set to an array of @p count descriptions (NULL when there
 *               are none); free it with vcha_gen_list_free()
 * @return 0 or a negative errno
 */
int vcha_genstore_list(const char *dir, struct vcha_gen_info **gens,
                       size_t *count);

/** One entry of a MANIFEST (see the format above). */
struct vcha_gen_entry {
    const char *path;         /**< relative to the generation, decoded */
    char type;                /**< f d l c b p s */
    unsigned mode;            /**< permission bits (none for 'l') */
    uint64_t size;            /**< 'f' */
    long long mtime_s;        /**< 'f' */
    long mtime_ns;            /**< 'f' */
    unsigned char sha256[32]; /**< 'f' */
    const char *target;       /**< 'l' */
    unsigned major, minor;    /**< 'c', 'b' */
    struct stat st; /**< lstat() of the entry in the generation, when its
                         tree was read (else zero) */
};

/** The MANIFEST of one generation, read with vcha_gen_manifest_read(). */
struct vcha_gen_manifest {
    struct vcha_gen_info info;      /**< the header, with path and number */
    struct vcha_gen_entry *entries; /**< sorted by path (strcmp) */
    size_t n;
    char *text; /**< what the strings point into */
};

/**
 * Read the MANIFEST of the generation at @p gen_path: its end line checked
 * (a torn or edited one is refused), its lines parsed, no path listed
 * twice, its totals equal to its entries.  With VCHA_GEN_SIZES_ONLY, the
 * tree is checked as vcha_genstore_verify() does with that flag (types,
 * modes, sizes, link targets, devices, nothing missing, nothing unlisted),
 * and each entry's lstat() kept in its @c st.  No file content is read:
 * that is for whoever reads the files next (see vcha/restore.h).
 *
 * @param why  if not NULL, on failure set to what is wrong; free() it
 * @return 0; -EBADMSG if the manifest or the tree is wrong; -EINVAL for
 *         unknown flags; another negative errno if it cannot be read
 */
int vcha_gen_manifest_read(const char *gen_path, unsigned flags,
                           struct vcha_gen_manifest **out, char **why);

/** The entry of @p m for @p path, or NULL. */
const struct vcha_gen_entry *
vcha_gen_manifest_find(const struct vcha_gen_manifest *m, const char *path);

/** Free @p m (NULL is fine). */
void vcha_gen_manifest_free(struct vcha_gen_manifest *m);

/** Free an array from vcha_genstore_list() (NULL is fine). */
void vcha_gen_list_free(struct vcha_gen_info *gens, size_t count);

/** Free a description from vcha_genstore_latest() (NULL is fine). */
void vcha_gen_info_free(struct vcha_gen_info *info);

/**
 * The SHA-256 of @p len bytes at @p data as 64 lowercase hex digits and a
 * NUL: the checksum the store writes in its manifests.  0 or -ENOMEM.
 */
int vcha_sha256_hex(const void *data, size_t len, char hex[65]);

/**
 * Read @p in to its end in chunks of @p cap bytes of @p buf, taking the
 * store's checksum of what it read into @p sha, and write each chunk to
 * @p out too when @p out >= 0: a file is hashed as it is copied, read
 * once.  @p stop, when not NULL, is asked before each chunk; a non-zero
 * return ends the copy with that code.  *@p len: bytes read.
 * Returns 0, -errno of a read or write, -ENOMEM, or what @p stop said.
 */
int vcha_sha256_copy(int in, int out, void *buf, size_t cap,
                     int (*stop)(void *), void *arg, unsigned char sha[32],
                     uint64_t *len);

/** The value of figure @p key of @p info, or NULL. */
const char *vcha_gen_info_figure(const struct vcha_gen_info *info,
                                 const char *key);

#endif
