/*
 * vcha - files that are either the old version or the new one, never half
 * of each, and per-resource state files under HA_RSCTMP.
 */
#ifndef VCHA_FILE_H
#define VCHA_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/**
 * Replace @p path with @p len bytes of @p data atomically and durably:
 * write a temporary file in the same directory, fsync it, rename it over
 * @p path, fsync the directory.  On any failure @p path is untouched and
 * the temporary file is removed.  Returns 0 or a negative errno.
 */
int vcha_file_write_atomic(const char *path, const void *data, size_t len,
                           mode_t mode);

/**
 * Read all of @p path (at most @p max bytes) into a new NUL-terminated
 * buffer.  Returns 0, -EFBIG if the file is larger than @p max, or another
 * negative errno.  Free *data with free().
 */
int vcha_file_read(const char *path, char **data, size_t *len, size_t max);

/**
 * Open @p path (made, mode 0600, when missing; a symbolic link is not
 * followed) and take an exclusive flock(2) on it, trying again until
 * @p deadline_ms (vcha_now_ms()'s clock; one already past: a single try).
 * Returns the descriptor (closing it releases the lock), -EBUSY when
 * another holds the lock at the deadline, or another negative errno.
 */
int vcha_file_lock(const char *path, long long deadline_ms);

/** fsync the directory holding @p path.  Returns 0 or a negative errno. */
int vcha_file_sync_parent(const char *path);

/** The state directory: $HA_RSCTMP, or /run/resource-agents. */
const char *vcha_state_dir(void);

/**
 * Build "<state dir>/vcha-<agent>-<instance><suffix>" into @p buf.  A '/'
 * in @p instance becomes '_'.  Returns 0, or -ENAMETOOLONG.
 */
int vcha_state_path(char *buf, size_t buflen, const char *agent,
                    const char *instance, const char *suffix);

/** Create the state directory (mode 0755) if needed. 0 or -errno. */
int vcha_state_dir_ensure(void);

/**
 * Create directory @p path with @p mode and its missing parents (mode
 * 0755), as mkdir -p; one that exists is fine.  0 or -errno (-ENOTDIR
 * when @p path or a parent is not a directory).
 */
int vcha_file_mkdirs(const char *path, mode_t mode);

/**
 * Remove @p name (relative to the directory @p dfd, or AT_FDCWD) and,
 * for a directory, everything below it, never following a symbolic link;
 * read-only directories are made writable first.  A missing @p name is
 * fine.  Returns 0 or the first negative errno, having removed what it
 * could.
 */
int vcha_file_remove_tree_at(int dfd, const char *name);

/**
 * The names in the directory open as @p dfd, without "." and "..", sorted
 * by strcmp(): a NULL-terminated array in *@p names (free it with
 * vcha_file_names_free()) of *@p n names.  With @p regular_only, only the
 * regular files (symbolic links not followed).  @p dfd is read from its
 * start and stays open.  Returns 0 or a negative errno.
 */
int vcha_file_names_at(int dfd, bool regular_only, char ***names, size_t *n);

/** Free a NULL-terminated array of strings (NULL is fine). */
void vcha_file_names_free(char **names);

/**
 * Copy @p size bytes from @p in to @p out, from where each is: in the
 * kernel (copy_file_range) where it can, read and write across file
 * systems.  Returns 0, -EIO when @p in ends early, or a negative errno.
 */
int vcha_file_copy_fd(int in, int out, off_t size);

/** vcha_file_remove_tree_at(AT_FDCWD, @p path). */
int vcha_file_remove_tree(const char *path);

/**
 * Open @p path beneath the directory @p root as an O_PATH descriptor,
 * following no symbolic link anywhere on the way (a directory when @p dir):
 * the descriptor, or -ENOENT, -ENOTDIR, -ELOOP (a link on the way), -EXDEV
 * (a ".." out of it) or another negative errno.
 */
int vcha_file_open_beneath(int root, const char *path, bool dir);

#endif
