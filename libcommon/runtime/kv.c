/* vcha - ordered key=value lists and their text blocks. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/kv.h>
#include <vcha/text.h>

struct kv_pair {
    char *key;
    char *value;
};

struct vcha_kv {
    struct kv_pair *pairs;
    size_t n, cap;
};

/* ------------------------------------------------------------ the list */

struct vcha_kv *
vcha_kv_new(void)
{
    return calloc(1, sizeof(struct vcha_kv));
}

void
vcha_kv_free(struct vcha_kv *kv)
{
    if (kv == NULL) {
        return;
    }
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->pairs[i].key);
        free(kv->pairs[i].value);
    }
    free(kv->pairs);
    free(kv);
}

struct vcha_kv *
vcha_kv_dup(const struct vcha_kv *kv)
{
    struct vcha_kv *copy = vcha_kv_new();

    for (size_t i = 0; copy != NULL && kv != NULL && i < kv->n; i++) {
        if (vcha_kv_set(copy, kv->pairs[i].key, kv->pairs[i].value) < 0) {
            vcha_kv_free(copy);
            copy = NULL;
        }
    }
    return copy;
}

bool
vcha_kv_key_valid(const char *key)
{
    if (key == NULL || *key == '\0') {
        return false;
    }
    return key[strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
                           "xyz0123456789_.:-")] == '\0';
}

static struct kv_pair *
kv_find(const struct vcha_kv *kv, const char *key)
{
    for (size_t i = 0; kv != NULL && i < kv->n; i++) {
        if (strcmp(kv->pairs[i].key, key) == 0) {
            return &kv->pairs[i];
        }
    }
    return NULL;
}

/* Store @p value (taken over) under @p key. */
static int
kv_set_owned(struct vcha_kv *kv, const char *key, char *value)
{
    struct kv_pair *p = kv_find(kv, key);

    if (p != NULL) {
        free(p->value);
        p->value = value;
        return 0;
    }
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 8;
        struct kv_pair *np = realloc(kv->pairs, cap * sizeof(*np));

        if (np == NULL) {
            free(value);
            return -ENOMEM;
        }
        kv->pairs = np;
        kv->cap = cap;
    }
    kv->pairs[kv->n].key = strdup(key);
    if (kv->pairs[kv->n].key == NULL) {
        free(value);
        return -ENOMEM;
    }
    kv->pairs[kv->n++].value = value;
    return 0;
}

int
vcha_kv_set(struct vcha_kv *kv, const char *key, const char *value)
{
    char *copy;

    if (kv == NULL || !vcha_kv_key_valid(key) || value == NULL) {
        return -EINVAL;
    }
    copy = strdup(value);
    return copy ? kv_set_owned(kv, key, copy) : -ENOMEM;
}

int
vcha_kv_setf(struct vcha_kv *kv, const char *key, const char *fmt, ...)
{
    char *value = NULL;
    va_list ap;
    int n;

    if (kv == NULL || !vcha_kv_key_valid(key) || fmt == NULL) {
        return -EINVAL;
    }
    va_start(ap, fmt);
    n = vasprintf(&value, fmt, ap);
    va_end(ap);
    return n < 0 ? -ENOMEM : kv_set_owned(kv, key, value);
}

const char *
vcha_kv_get(const struct vcha_kv *kv, const char *key)
{
    const struct kv_pair *p = key ? kv_find(kv, key) : NULL;

    return p ? p->value : NULL;
}

int
vcha_kv_get_ll(const struct vcha_kv *kv, const char *key, long long *value)
{
    const char *text = vcha_kv_get(kv, key);
    char *end = NULL;
    long long v;

    if (text == NULL) {
        return -ENOENT;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0) {
        return -EINVAL;
    }
    *value = v;
    return 0;
}

size_t
vcha_kv_count(const struct vcha_kv *kv)
{
    return kv ? kv->n : 0;
}

const char *
vcha_kv_key(const struct vcha_kv *kv, size_t i)
{
    return (kv != NULL && i < kv->n) ? kv->pairs[i].key : NULL;
}

const char *
vcha_kv_value(const struct vcha_kv *kv, size_t i)
{
    return (kv != NULL && i < kv->n) ? kv->pairs[i].value : NULL;
}

static bool
key_skipped(const char *key, const char *const *skip)
{
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++) {
        if (strcmp(key, skip[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Every pair of @p a that is not skipped is in @p b with the same value. */
static bool
kv_included(const struct vcha_kv *a, const struct vcha_kv *b,
            const char *const *skip)
{
    for (size_t i = 0; i < vcha_kv_count(a); i++) {
        const char *other;

        if (key_skipped(a->pairs[i].key, skip)) {
            continue;
        }
        other = vcha_kv_get(b, a->pairs[i].key);
        if (other == NULL || strcmp(other, a->pairs[i].value) != 0) {
            return false;
        }
    }
    return true;
}

bool
vcha_kv_equal(const struct vcha_kv *a, const struct vcha_kv *b,
              const char *const *skip)
{
    return kv_included(a, b, skip) && kv_included(b, a, skip);
}

char *
vcha_kv_join(const struct vcha_kv *kv, char *buf, size_t len)
{
    size_t used = 0;
    int n;

    if (len > 0) {
        buf[0] = '\0';
    }
    for (size_t i = 0; i < vcha_kv_count(kv) && used < len; i++) {
        n = snprintf(buf + used, len - used, " %s=%s", vcha_kv_key(kv, i),
                     vcha_kv_value(kv, i));
        used += n > 0 ? (size_t) n : 0;
    }
    return buf;
}

/* ------------------------------------------------------------ encoding */

char *
vcha_kv_escape(const char *value)
{
    return vcha_pct_encode(value, VCHA_PCT_EQUALS);
}

int
vcha_kv_unescape(const char *text, size_t len, char **value)
{
    char *out = NULL;

    *value = NULL;
    if (strnlen(text, len) != len) {
        return -EBADMSG; /* a NUL byte */
    }
    out = strndup(text, len);
    if (out == NULL) {
        return -ENOMEM;
    }
    if (vcha_pct_decode(out) < 0) {
        free(out);
        return -EBADMSG;
    }
    *value = out;
    return 0;
}

int
vcha_kv_encode(const struct vcha_kv *kv, char **buf, size_t *len)
{
    FILE *mem;
    int rc = 0;

    *buf = NULL;
    *len = 0;
    mem = open_memstream(buf, len);
    if (mem == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < vcha_kv_count(kv) && rc == 0; i++) {
        char *value = vcha_kv_escape(kv->pairs[i].value);

        if (value == NULL ||
            fprintf(mem, "%s=%s\n", kv->pairs[i].key, value) < 0) {
            rc = -ENOMEM;
        }
        free(value);
    }
    if (fputc('\n', mem) == EOF) {
        rc = -ENOMEM;
    }
    if (fclose(mem) != 0) {
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
        *len = 0;
    }
    return rc;
}

int
vcha_kv_parse_line(struct vcha_kv *kv, const char *line, size_t len)
{
    const char *eq = memchr(line, '=', len);
    char key[256], *value = NULL;
    size_t klen;
    int rc;

    if (eq == NULL) {
        return -EBADMSG;
    }
    klen = (size_t) (eq - line);
    if (klen == 0 || klen >= sizeof(key)) {
        return -EBADMSG;
    }
    memcpy(key, line, klen);
    key[klen] = '\0';
    if (!vcha_kv_key_valid(key)) {
        return -EBADMSG;
    }
    rc = vcha_kv_unescape(eq + 1, len - klen - 1, &value);
    return rc < 0 ? rc : kv_set_owned(kv, key, value);
}

int
vcha_kv_parse(struct vcha_kv *kv, const char *buf, size_t len, size_t *used)
{
    size_t off = 0;

    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n;
        int rc;

        if (nl == NULL) {
            break;
        }
        n = (size_t) (nl - (buf + off));
        if (n == 0) {
            *used = off + 1;
            return 0;
        }
        rc = vcha_kv_parse_line(kv, buf + off, n);
        if (rc < 0) {
            return rc;
        }
        off += n + 1;
    }
    return -EAGAIN;
}
