/*
 * vcha - an ordered list of key=value pairs, and its text form: a block of
 * "key=value" lines ended by an empty line.  Keys are made of
 * [A-Za-z0-9_.:-]; values are percent-encoded ('%', '=', newline and other
 * control characters become %XX).  vchad's requests and responses, and
 * the records the container code keeps, are such blocks.
 */
#ifndef VCHA_KV_H
#define VCHA_KV_H

#include <stdbool.h>
#include <stddef.h>

/** An ordered list of key=value pairs; each key occurs at most once. */
struct vcha_kv;

/** A new empty list, or NULL when out of memory. */
struct vcha_kv *vcha_kv_new(void);

/** Free @p kv; NULL is fine. */
void vcha_kv_free(struct vcha_kv *kv);

/** A deep copy of @p kv, or NULL when out of memory. */
struct vcha_kv *vcha_kv_dup(const struct vcha_kv *kv);

/** True when @p key is a valid key: non-empty, only [A-Za-z0-9_.:-]. */
bool vcha_kv_key_valid(const char *key);

/**
 * Set @p key to @p value: replace the value in place if the key is there,
 * else append the pair.  Returns 0, -EINVAL for a bad key or a NULL value,
 * or -ENOMEM.
 */
int vcha_kv_set(struct vcha_kv *kv, const char *key, const char *value);

/** vcha_kv_set() with a printf-formatted value. */
int vcha_kv_setf(struct vcha_kv *kv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** The value of @p key, or NULL when it is not set (or @p kv is NULL). */
const char *vcha_kv_get(const struct vcha_kv *kv, const char *key);

/**
 * The value of @p key as a decimal integer.  Returns 0, -ENOENT when the key
 * is not set, or -EINVAL when the value is not an integer.
 */
int vcha_kv_get_ll(const struct vcha_kv *kv, const char *key, long long *value);

/** Number of pairs in @p kv (0 for NULL). */
size_t vcha_kv_count(const struct vcha_kv *kv);

/** Key of pair @p i (in order of first setting), or NULL past the end. */
const char *vcha_kv_key(const struct vcha_kv *kv, size_t i);

/** Value of pair @p i, or NULL past the end. */
const char *vcha_kv_value(const struct vcha_kv *kv, size_t i);

/**
 * True when @p a and @p b hold the same pairs, in any order, ignoring the
 * keys listed in the NULL-terminated @p skip (may be NULL).
 */
bool vcha_kv_equal(const struct vcha_kv *a, const struct vcha_kv *b,
                   const char *const *skip);

/**
 * The pairs as " KEY=VALUE" each, in order, into @p buf (for a log line);
 * what does not fit is cut.  Returns @p buf.
 */
char *vcha_kv_join(const struct vcha_kv *kv, char *buf, size_t len);

/** @p value percent-encoded as a new string (free()), or NULL (ENOMEM). */
char *vcha_kv_escape(const char *value);

/**
 * Decode @p len bytes of percent-encoded text into a new string (free()).
 * Returns 0, -EBADMSG for a malformed escape, an escaped NUL or a raw
 * control character, or -ENOMEM.
 */
int vcha_kv_unescape(const char *text, size_t len, char **value);

/**
 * Encode @p kv as a block: one "key=value" line per pair, then an empty
 * line.  Returns 0 and a new NUL-terminated buffer in @p buf (free()) with
 * its length in @p len, or -ENOMEM.
 */
int vcha_kv_encode(const struct vcha_kv *kv, char **buf, size_t *len);

/**
 * Add one "key=value" line (@p len bytes, no newline) to @p kv; a key that
 * is already there gets the new value.  Returns 0, -EBADMSG when the line
 * is malformed, or -ENOMEM.
 */
int vcha_kv_parse_line(struct vcha_kv *kv, const char *line, size_t len);

/**
 * Parse the first block of @p buf (@p len bytes) into @p kv.
 *
 * Returns 0 when a whole block, up to and including its empty line, was
 * read (its size in *used), -EAGAIN when @p buf ends before the empty line
 * (read more and call again), -EBADMSG for a malformed line or -ENOMEM.
 * On an error @p kv may hold the lines before the bad one.
 */
int vcha_kv_parse(struct vcha_kv *kv, const char *buf, size_t len,
                  size_t *used);

#endif
