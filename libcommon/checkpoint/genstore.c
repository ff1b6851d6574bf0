/* vcha - the checkpoint generation store (format: vcha/genstore.h). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/log.h>
#include <vcha/text.h>

#define MANIFEST "MANIFEST"
#define MANIFEST_MAX ((size_t) 256 << 20)
#define LOCK_NAME ".lock"
#define GEN_PREFIX "gen-"
#define STAGE_PREFIX ".stage-"
#define TRASH_PREFIX ".trash-"
#define NAME_LEN 40
#define HASH_LEN 32
#define HASH_HEX (2 * HASH_LEN + 1)
#define READ_CHUNK ((size_t) 256 << 10)
#define FORMAT_LINE "vcha-generation 1"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* O_NONBLOCK: should a fifo have replaced a file, do not hang on it */
#define FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)

/*
 * What this handle has read to the end of its checksums during one
 * checkpoint (from vcha_genstore_base() to the end of the commit): inodes
 * whose content was hashed, or found equal to the verified base's.  A
 * generation's files are never written after its commit and most are hard
 * links shared with the next ones, so the checks of one checkpoint (its
 * base, then what the prune keeps) read each inode once.  It is forgotten
 * after each commit: a damaged byte is read again by the next one.
 */
struct vcache_entry {
    dev_t dev;
    ino_t ino;
    uint64_t size;
    long long mtime_s;
    long mtime_ns;
    unsigned char sha[HASH_LEN];
    bool used;
};

struct vcache {
    struct vcache_entry *v;
    size_t cap, n; /* cap: a power of two, or 0 */
};

struct manifest;

struct vcha_genstore {
    char *dir;
    int dir_fd;
    int lock_fd;
    uint64_t stage; /* number of our stage; 0: none */
    uint64_t base;  /* the verified generation commits reuse; 0: none */
    struct manifest *base_m; /* its MANIFEST */
    struct vcache cache;
    struct vcache known; /* checksums the writer of the stage gave */
    int stage_fd;        /* the stage, opened when it was made: its
                            syncfs() reports every writeback error since */
};

/* ------------------------------------------------------------ small bits */

/* Set *why (if wanted and not yet set) and return -EBADMSG. */
static int __attribute__((format(printf, 2, 3)))
why_set(char **why, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && *why == NULL) {
        va_start(ap, fmt);
        if (vasprintf(why, fmt, ap) < 0) {
            *why = NULL;
        }
        va_end(ap);
    }
    return -EBADMSG;
}

/* Set *why to "<what>: <strerror>" and return @p rc. */
static int
why_errno(char **why, const char *what, int rc)
{
    why_set(why, "%s: %s", what, strerror(-rc));
    return rc;
}

static void
name_make(char *buf, const char *prefix, uint64_t num)
{
    snprintf(buf, NAME_LEN, "%s%010" PRIu64, prefix, num);
}

static bool
parse_u64(const char *s, uint64_t *v)
{
    uint64_t n = 0;

    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10) {
            return false;
        }
        n = n * 10 + (uint64_t) (*s - '0');
    }
    *v = n;
    return true;
}

/* "<prefix><digits>" gives the number; anything else false. */
static bool
name_number(const char *name, const char *prefix, uint64_t *num)
{
    size_t plen = strlen(prefix);

    return strncmp(name, prefix, plen) == 0 && parse_u64(name + plen, num);
}

static void
hex_encode(const unsigned char *h, char out[HASH_HEX])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < HASH_LEN; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 0xf];
    }
    out[2 * HASH_LEN] = '\0';
}

static bool
hex_decode(const char *s, unsigned char h[HASH_LEN])
{
    if (strlen(s) != 2 * HASH_LEN) {
        return false;
    }
    for (size_t i = 0; i < HASH_LEN; i++) {
        int hi = vcha_hex_digit(s[2 * i]), lo = vcha_hex_digit(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        h[i] = (unsigned char) (hi << 4 | lo);
    }
    return true;
}

/* Percent-decode the MANIFEST token @p s in place; false if malformed or empty.
 */
static bool
token_decode(char *s)
{
    return vcha_pct_decode(s) == 0 && s[0] != '\0';
}

/* The store's checksum of bytes in memory (see genstore.h). */
int
vcha_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[HASH_LEN];

    if (!EVP_Digest(data, len, h, NULL, EVP_sha256(), NULL)) {
        return -ENOMEM;
    }
    hex_encode(h, hex);
    return 0;
}

int
vcha_sha256_copy(int in, int out, void *buf, size_t cap, int (*stop)(void *),
                 void *arg, unsigned char sha[32], uint64_t *len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc =
        ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : -ENOMEM;

    *len = 0;
    while (rc == 0 && (stop == NULL || (rc = stop(arg)) == 0)) {
        ssize_t n = read(in, buf, cap);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if (!EVP_DigestUpdate(ctx, buf, (size_t) n)) {
            rc = -ENOMEM;
        }
        for (ssize_t done = 0, w; rc == 0 && out >= 0 && done < n; done += w) {
            w = write(out, (char *) buf + done, (size_t) (n - done));
            rc = w < 0 && errno != EINTR ? -errno : 0;
            w = w < 0 ? 0 : w;
        }
        *len += (uint64_t) n;
    }
    if (rc == 0 && !EVP_DigestFinal_ex(ctx, sha, NULL)) {
        rc = -ENOMEM;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* SHA-256 of what @p fd holds from where it is; *len: bytes read. */
static int
sha256_fd(int fd, unsigned char *buf, unsigned char h[HASH_LEN], uint64_t *len)
{
    return vcha_sha256_copy(fd, -1, buf, READ_CHUNK, NULL, NULL, h, len);
}

/* ------------------------------------------------------------ inode cache */

static size_t
vcache_home(const struct vcache *c, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t) ino * 0x9e3779b97f4a7c15ULL) ^ (uint64_t) dev;

    return (size_t) (h ^ (h >> 29)) & (c->cap - 1);
}

/* The slot of (dev, ino), or the empty one where it would go. */
static struct vcache_entry *
vcache_slot(const struct vcache *c, dev_t dev, ino_t ino)
{
    size_t i = vcache_home(c, dev, ino);

    while (c->v[i].used && (c->v[i].dev != dev || c->v[i].ino != ino)) {
        i = (i + 1) & (c->cap - 1);
    }
    return &c->v[i];
}

/* The checksum known for the file @p st describes, or NULL. */
static const unsigned char *
vcache_get(const struct vcache *c, const struct stat *st)
{
    const struct vcache_entry *e;

    if (c == NULL || c->cap == 0) {
        return NULL;
    }
    e = vcache_slot(c, st->st_dev, st->st_ino);
    if (!e->used || e->size != (uint64_t) st->st_size ||
        e->mtime_s != (long long) st->st_mtim.tv_sec ||
        e->mtime_ns != st->st_mtim.tv_nsec) {
        return NULL;
    }
    return e->sha;
}

static int
vcache_grow(struct vcache *c)
{
    struct vcache old = *c;

    c->cap = old.cap ? old.cap * 2 : 1024;
    c->n = 0;
    c->v = calloc(c->cap, sizeof(*c->v));
    if (c->v == NULL) {
        *c = old;
        return -ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++) {
        if (old.v[i].used) {
            *vcache_slot(c, old.v[i].dev, old.v[i].ino) = old.v[i];
            c->n++;
        }
    }
    free(old.v);
    return 0;
}

static void
vcache_clear(struct vcache *c)
{
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Remember the content checksum of the file @p st describes. */
static void
vcache_put(struct vcache *c, const struct stat *st,
           const unsigned char sha[HASH_LEN])
{
    struct vcache_entry *e;

    if (c == NULL || ((c->n + 1) * 2 > c->cap && vcache_grow(c) < 0)) {
        return; /* a cache: without it, files are read again */
    }
    e = vcache_slot(c, st->st_dev, st->st_ino);
    c->n += !e->used;
    *e = (struct vcache_entry){
        .dev = st->st_dev,
        .ino = st->st_ino,
        .size = (uint64_t) st->st_size,
        .mtime_s = (long long) st->st_mtim.tv_sec,
        .mtime_ns = st->st_mtim.tv_nsec,
        .used = true,
    };
    memcpy(e->sha, sha, HASH_LEN);
}

/* ------------------------------------------------------------ directories */

struct names {
    char **v;
    size_t n;
};

static void
names_free(struct names *names)
{
    vcha_file_names_free(names->v);
    names->v = NULL;
    names->n = 0;
}

/* The names in directory @p dfd, without "." and "..", sorted. */
static int
names_read(int dfd, struct names *names)
{
    return vcha_file_names_at(dfd, false, &names->v, &names->n);
}

static int
u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}

/* The numbers N of the entries "gen-N" in @p dfd, ascending. */
static int
gen_numbers(int dfd, uint64_t **nums, size_t *count)
{
    struct names names;
    int rc = names_read(dfd, &names);

    *nums = NULL;
    *count = 0;
    if (rc < 0) {
        return rc;
    }
    *nums = calloc(names.n + 1, sizeof(**nums));
    if (*nums == NULL) {
        names_free(&names);
        return -ENOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        if (name_number(names.v[i], GEN_PREFIX, &(*nums)[*count])) {
            (*count)++;
        }
    }
    names_free(&names);
    qsort(*nums, *count, sizeof(**nums), u64_cmp);
    return 0;
}

/* ------------------------------------------------------------ tree walk */

/*
 * A depth-first walk of a generation or a stage, in name order, that never
 * follows a symbolic link.  visit() sees every entry (the top MANIFEST
 * excepted) before a directory's contents.
 */
struct walk {
    char path[PATH_MAX]; /* of the current entry, relative to the top */
    size_t len;          /* strlen(path) */
    char *why;           /* what failed */
    int (*visit)(struct walk *w, int dfd, const char *name,
                 const struct stat *st);
};

static int
walk_fail(struct walk *w, int rc)
{
    return why_errno(&w->why, w->len > 0 ? w->path : ".", rc);
}

static int
walk_push(struct walk *w, const char *name)
{
    int n = snprintf(w->path + w->len, sizeof(w->path) - w->len, "%s%s",
                     w->len > 0 ? "/" : "", name);

    if (n < 0 || (size_t) n >= sizeof(w->path) - w->len) {
        w->path[w->len] = '\0';
        return walk_fail(w, -ENAMETOOLONG);
    }
    w->len += (size_t) n;
    return 0;
}

static int walk_dir(struct walk *w, int dfd);

static int
walk_node(struct walk *w, int dfd, const char *name)
{
    struct stat st;
    int fd, rc = walk_push(w, name);

    if (rc < 0) {
        return rc;
    }
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return walk_fail(w, -errno);
    }
    rc = w->visit(w, dfd, name, &st);
    if (rc < 0 || !S_ISDIR(st.st_mode)) {
        return rc;
    }
    fd = openat(dfd, name, DIR_FLAGS);
    if (fd < 0) {
        return walk_fail(w, -errno);
    }
    rc = walk_dir(w, fd);
    close(fd);
    return rc;
}

static int
walk_dir(struct walk *w, int dfd)
{
    struct names names;
    size_t base = w->len;
    int rc = names_read(dfd, &names);

    if (rc < 0) {
        return walk_fail(w, rc);
    }
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        if (base == 0 && strcmp(names.v[i], MANIFEST) == 0) {
            continue;
        }
        rc = walk_node(w, dfd, names.v[i]);
        w->len = base;
        w->path[base] = '\0';
    }
    names_free(&names);
    return rc;
}

static char
type_letter(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return 'f';
    case S_IFDIR:
        return 'd';
    case S_IFLNK:
        return 'l';
    case S_IFCHR:
        return 'c';
    case S_IFBLK:
        return 'b';
    case S_IFIFO:
        return 'p';
    case S_IFSOCK:
        return 's';
    default:
        return '?';
    }
}

static const char *
type_name(char letter)
{
    switch (letter) {
    case 'f':
        return "regular file";
    case 'd':
        return "directory";
    case 'l':
        return "symbolic link";
    case 'c':
        return "character device";
    case 'b':
        return "block device";
    case 'p':
        return "fifo";
    case 's':
        return "socket";
    default:
        return "unknown file type";
    }
}

/* ------------------------------------------------------------ manifest */

struct entry {
    char *path; /* decoded, in the manifest's text */
    char type;  /* f d l c b p s */
    unsigned mode;
    uint64_t size;
    long long mtime_s;
    long mtime_ns;
    unsigned char sha[HASH_LEN];
    char *target; /* of a symbolic link */
    unsigned maj, min;
    bool seen;
};

struct manifest {
    char *text; /* the file, cut into fields and decoded in place */
    struct entry *e;
    size_t n;
    struct vcha_gen_info info; /* the header */
    bool has_created, has_files, has_bytes;
};

static void
info_clear(struct vcha_gen_info *info)
{
    free(info->path);
    free(info->container);
    free(info->config_digest);
    free(info->base);
    for (size_t i = 0; i < info->n_figures; i++) {
        free((char *) info->figures[i].key);
        free((char *) info->figures[i].value);
    }
    free(info->figures);
    memset(info, 0, sizeof(*info));
}

static void
manifest_clear(struct manifest *m)
{
    free(m->text);
    free(m->e);
    info_clear(&m->info);
    memset(m, 0, sizeof(*m));
}

/*
 * Split @p line at single spaces into at most @p max fields; returns the
 * count, or max + 1 if there are more.
 */
static size_t
fields_split(char *line, char **f, size_t max)
{
    size_t n = 0;

    for (char *p = line;;) {
        char *sp = strchr(p, ' ');

        if (n == max) {
            return max + 1;
        }
        f[n++] = p;
        if (sp == NULL) {
            return n;
        }
        *sp = '\0';
        p = sp + 1;
    }
}

static bool
parse_mode(const char *s, unsigned *mode)
{
    unsigned m = 0;

    if (*s == '\0' || strlen(s) > 5) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '7') {
            return false;
        }
        m = m * 8 + (unsigned) (*s - '0');
    }
    *mode = m;
    return m <= 07777;
}

/* "<seconds>.<9 digits>", the seconds maybe negative */
static bool
parse_mtime(char *s, struct entry *e)
{
    char *dot = strchr(s, '.');
    bool neg = *s == '-';
    uint64_t sec, ns;

    if (dot == NULL || strlen(dot + 1) != 9) {
        return false;
    }
    *dot = '\0';
    if (!parse_u64(s + neg, &sec) || sec > LLONG_MAX ||
        !parse_u64(dot + 1, &ns)) {
        return false;
    }
    e->mtime_s = neg ? -(long long) sec : (long long) sec;
    e->mtime_ns = (long) ns;
    return true;
}

static bool
parse_rdev(char *s, struct entry *e)
{
    char *colon = strchr(s, ':');
    uint64_t maj, min;

    if (colon == NULL) {
        return false;
    }
    *colon = '\0';
    if (!parse_u64(s, &maj) || !parse_u64(colon + 1, &min) || maj > UINT_MAX ||
        min > UINT_MAX) {
        return false;
    }
    e->maj = (unsigned) maj;
    e->min = (unsigned) min;
    return true;
}

static bool
entry_parse(struct entry *e, char **f, size_t n)
{
    char t = f[0][0];
    size_t want = t == 'f' ? 6 : (t == 'c' || t == 'b') ? 4 : 3;

    if (strchr("fdlcbps", t) == NULL || n != want) {
        return false;
    }
    e->type = t;
    e->path = f[n - 1];
    if (!token_decode(e->path)) {
        return false;
    }
    if (t == 'l') {
        e->target = f[1];
        return token_decode(e->target);
    }
    if (!parse_mode(f[1], &e->mode)) {
        return false;
    }
    if (t == 'f') {
        return parse_u64(f[2], &e->size) && parse_mtime(f[3], e) &&
               hex_decode(f[4], e->sha);
    }
    return (t == 'c' || t == 'b') ? parse_rdev(f[2], e) : true;
}

static int
info_strdup(char **dst, char *encoded)
{
    if (!token_decode(encoded)) {
        return -EBADMSG;
    }
    free(*dst);
    *dst = strdup(encoded);
    return *dst == NULL ? -ENOMEM : 0;
}

static int
info_figure_add(struct vcha_gen_info *info, char *key, char *value)
{
    struct vcha_gen_figure *v;
    char *k = NULL, *val = NULL;

    if (!token_decode(key) || !token_decode(value)) {
        return -EBADMSG;
    }
    v = realloc(info->figures, (info->n_figures + 1) * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    info->figures = v;
    k = strdup(key);
    val = strdup(value);
    if (k == NULL || val == NULL) {
        free(k);
        free(val);
        return -ENOMEM;
    }
    v[info->n_figures].key = k;
    v[info->n_figures].value = val;
    info->n_figures++;
    return 0;
}

/* A header line into @p m->info; unknown keywords are ignored. */
static int
header_parse(struct manifest *m, char **f, size_t n)
{
    uint64_t v;
    bool ok = true;

    if (strcmp(f[0], "figure") == 0) {
        return n == 3 ? info_figure_add(&m->info, f[1], f[2]) : -EBADMSG;
    }
    if (n != 2) {
        return 0;
    }
    if (strcmp(f[0], "container") == 0) {
        return info_strdup(&m->info.container, f[1]);
    }
    if (strcmp(f[0], "config-digest") == 0) {
        return info_strdup(&m->info.config_digest, f[1]);
    }
    if (strcmp(f[0], "base") == 0) {
        return info_strdup(&m->info.base, f[1]);
    }
    if (strcmp(f[0], "created") == 0) {
        ok = m->has_created = parse_u64(f[1], &v) && v <= LLONG_MAX;
        m->info.created_ms = ok ? (long long) v : 0;
    } else if (strcmp(f[0], "files") == 0) {
        ok = m->has_files = parse_u64(f[1], &m->info.files);
    } else if (strcmp(f[0], "bytes") == 0) {
        ok = m->has_bytes = parse_u64(f[1], &m->info.bytes);
    }
    return ok ? 0 : -EBADMSG;
}

/* One line after the first; entry lines have a one-letter keyword. */
static int
manifest_line(struct manifest *m, char *line)
{
    char *f[7];
    size_t n = fields_split(line, f, 6);

    if (n > 6) {
        return -EBADMSG;
    }
    for (size_t i = 0; i < n; i++) {
        if (*f[i] == '\0') {
            return -EBADMSG;
        }
    }
    if (f[0][1] != '\0') {
        return header_parse(m, f, n);
    }
    if (!entry_parse(&m->e[m->n], f, n)) {
        return -EBADMSG;
    }
    m->n++;
    return 0;
}

/* The text is complete: its last line is "end <sha256 of the rest>". */
static int
manifest_seal_check(char *text, size_t len, size_t *body_len, char **why)
{
    char *last, hex[HASH_HEX];
    int rc;

    if (len == 0 || text[len - 1] != '\n') {
        return why_set(why, MANIFEST ": incomplete (no end line)");
    }
    text[len - 1] = '\0';
    last = memrchr(text, '\n', len - 1);
    last = last == NULL ? text : last + 1;
    if (strncmp(last, "end ", 4) != 0) {
        return why_set(why, MANIFEST ": incomplete (no end line)");
    }
    *body_len = (size_t) (last - text);
    rc = vcha_sha256_hex(text, *body_len, hex);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(last + 4, hex) != 0) {
        return why_set(why, MANIFEST ": checksum mismatch");
    }
    return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *) a)->path,
                  ((const struct entry *) b)->path);
}

static int
manifest_check(struct manifest *m, char **why)
{
    uint64_t files = 0, bytes = 0;

    if (!m->has_created || !m->has_files || !m->has_bytes) {
        return why_set(why, MANIFEST ": header incomplete");
    }
    qsort(m->e, m->n, sizeof(*m->e), entry_cmp);
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0 && strcmp(m->e[i - 1].path, m->e[i].path) == 0) {
            return why_set(why, MANIFEST ": %s listed twice", m->e[i].path);
        }
        if (m->e[i].type == 'f') {
            files++;
            bytes += m->e[i].size;
        }
    }
    if (files != m->info.files || bytes != m->info.bytes) {
        return why_set(why, MANIFEST ": totals do not match the entries");
    }
    return 0;
}

/* Parse the sealed text of @p m; entries end up sorted by path. */
static int
manifest_parse(struct manifest *m, size_t body_len, char **why)
{
    size_t lines = 0, no = 1;
    char *line = m->text, *next;
    int rc = 0;

    for (size_t i = 0; i < body_len; i++) {
        lines += m->text[i] == '\n';
    }
    m->e = calloc(lines + 1, sizeof(*m->e));
    if (m->e == NULL) {
        return -ENOMEM;
    }
    if (memchr(m->text, '\0', body_len) != NULL) {
        return why_set(why, MANIFEST ": holds a NUL byte");
    }
    m->text[body_len] = '\0'; /* the body: lines that each end in \n */
    next = strchr(line, '\n');
    if (next == NULL || (*next = '\0', strcmp(line, FORMAT_LINE) != 0)) {
        return why_set(why, MANIFEST ": not a version 1 manifest");
    }
    for (line = next + 1; rc == 0 && *line != '\0'; line = next + 1) {
        next = strchr(line, '\n');
        *next = '\0';
        no++;
        rc = manifest_line(m, line);
    }
    if (rc == -EBADMSG) {
        return why_set(why, MANIFEST ": line %zu is malformed", no);
    }
    return rc < 0 ? rc : manifest_check(m, why);
}

/* Read, check and parse the MANIFEST of the generation at @p gen. */
static int
manifest_load(const char *gen, struct manifest *m, char **why)
{
    char *path = NULL;
    size_t len = 0, body_len = 0;
    int rc;

    memset(m, 0, sizeof(*m));
    if (asprintf(&path, "%s/" MANIFEST, gen) < 0) {
        return -ENOMEM;
    }
    rc = vcha_file_read(path, &m->text, &len, MANIFEST_MAX);
    free(path);
    if (rc == -ENOENT) {
        return why_set(why, MANIFEST ": missing");
    }
    if (rc < 0) {
        return why_errno(why, MANIFEST, rc == -EFBIG ? -EBADMSG : rc);
    }
    rc = manifest_seal_check(m->text, len, &body_len, why);
    if (rc == 0) {
        rc = manifest_parse(m, body_len, why);
    }
    if (rc < 0) {
        manifest_clear(m);
    }
    return rc;
}

static struct entry *
manifest_find(const struct manifest *m, const char *path)
{
    struct entry key = {.path = (char *) path};

    return bsearch(&key, m->e, m->n, sizeof(*m->e), entry_cmp);
}

/* ------------------------------------------------------------ verify */

struct check {
    struct walk w;
    struct manifest *m;
    struct stat *stats; /* each entry's, when wanted (else NULL) */
};

static int
check_link(struct check *c, int dfd, const char *name, const struct entry *e)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

    if (n < 0) {
        return walk_fail(&c->w, -errno);
    }
    target[n] = '\0';
    if (strcmp(target, e->target) != 0) {
        return why_set(&c->w.why, "%s: symbolic link target differs",
                       c->w.path);
    }
    return 0;
}

/* The entry the walk found is the one the manifest lists. */
static int
check_visit(struct walk *w, int dfd, const char *name, const struct stat *st)
{
    struct check *c = (struct check *) w;
    struct entry *e = manifest_find(c->m, w->path);
    char t = type_letter(st->st_mode);
    unsigned mode = st->st_mode & 07777;

    if (e == NULL) {
        return why_set(&w->why, "%s: not listed in " MANIFEST, w->path);
    }
    e->seen = true;
    if (c->stats != NULL) {
        c->stats[e - c->m->e] = *st;
    }
    if (e->type != t) {
        return why_set(&w->why, "%s: a %s, " MANIFEST " lists a %s", w->path,
                       type_name(t), type_name(e->type));
    }
    if (t == 'l') {
        return check_link(c, dfd, name, e);
    }
    if (mode != e->mode) {
        return why_set(&w->why, "%s: mode %04o, " MANIFEST " says %04o",
                       w->path, mode, e->mode);
    }
    if (t == 'f' && (uint64_t) st->st_size != e->size) {
        return why_set(&w->why, "%s: size %jd, " MANIFEST " says %" PRIu64,
                       w->path, (intmax_t) st->st_size, e->size);
    }
    if ((t == 'c' || t == 'b') &&
        (major(st->st_rdev) != e->maj || minor(st->st_rdev) != e->min)) {
        return why_set(&w->why, "%s: device %u:%u, " MANIFEST " says %u:%u",
                       w->path, major(st->st_rdev), minor(st->st_rdev), e->maj,
                       e->min);
    }
    return 0;
}

/* The content of @p e: what @p cache knows of the inode, or read. */
static int
check_content(int gfd, const struct entry *e, unsigned char *buf,
              struct vcache *cache, char **why)
{
    unsigned char h[HASH_LEN];
    const unsigned char *known;
    uint64_t len = 0;
    struct stat st;
    int fd = openat(gfd, e->path, FILE_FLAGS), rc = 0;

    if (fd < 0) {
        return why_errno(why, e->path, -errno);
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if ((known = vcache_get(cache, &st)) != NULL) {
        memcpy(h, known, HASH_LEN);
        len = (uint64_t) st.st_size;
    } else {
        rc = sha256_fd(fd, buf, h, &len);
        if (rc == 0 && len == (uint64_t) st.st_size) {
            vcache_put(cache, &st, h);
        }
    }
    close(fd);
    if (rc < 0) {
        return why_errno(why, e->path, rc);
    }
    if (len != e->size || memcmp(h, e->sha, HASH_LEN) != 0) {
        return why_set(why, "%s: checksum mismatch", e->path);
    }
    return 0;
}

/* Every entry present as listed, nothing else (@p c->stats: filled). */
static int
tree_check(int gfd, struct check *c)
{
    int rc = walk_dir(&c->w, gfd);

    for (size_t i = 0; rc == 0 && i < c->m->n; i++) {
        if (!c->m->e[i].seen) {
            rc = why_set(&c->w.why, "%s: missing", c->m->e[i].path);
        }
    }
    return rc;
}

/* The tree first (cheap), then the content of every regular file. */
static int
gen_check(int gfd, struct manifest *m, unsigned flags, struct vcache *cache,
          char **why)
{
    struct check c = {.w.visit = check_visit, .m = m};
    unsigned char *buf = NULL;
    int rc = tree_check(gfd, &c);

    if (rc == 0 && !(flags & VCHA_GEN_SIZES_ONLY)) {
        buf = malloc(READ_CHUNK);
        rc = buf == NULL ? -ENOMEM : 0;
    }
    for (size_t i = 0; buf != NULL && rc == 0 && i < m->n; i++) {
        if (m->e[i].type == 'f') {
            rc = check_content(gfd, &m->e[i], buf, cache, &c.w.why);
        }
    }
    free(buf);
    if (rc < 0 && why != NULL) {
        *why = c.w.why;
        c.w.why = NULL;
    }
    free(c.w.why);
    return rc;
}

/*
 * Verify the generation at @p path; on success @p m holds its manifest.
 * @p cache (may be NULL) has the checksums of inodes read already.
 */
static int
gen_verify(const char *path, unsigned flags, struct vcache *cache,
           struct manifest *m, char **why)
{
    int gfd = open(path, DIR_FLAGS & ~O_NOFOLLOW), rc;

    memset(m, 0, sizeof(*m));
    if (gfd < 0) {
        return why_errno(why, ".", -errno);
    }
    rc = manifest_load(path, m, why);
    if (rc == 0) {
        rc = gen_check(gfd, m, flags, cache, why);
    }
    close(gfd);
    if (rc < 0) {
        manifest_clear(m);
    }
    return rc;
}

int
vcha_genstore_verify(const char *gen_path, unsigned flags, char **why)
{
    struct manifest m;
    int rc;

    if (why != NULL) {
        *why = NULL;
    }
    if (flags & ~VCHA_GEN_SIZES_ONLY) {
        return -EINVAL;
    }
    rc = gen_verify(gen_path, flags, NULL, &m, why);
    manifest_clear(&m);
    return rc;
}

/* ------------------------------------------------------------ reader */

/* The parsed @p m as the public @p out; @p m gives up its text and header. */
static int
manifest_give(struct manifest *m, const struct stat *stats,
              struct vcha_gen_manifest *out)
{
    out->entries = calloc(m->n + 1, sizeof(*out->entries));
    if (out->entries == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct entry *e = &m->e[i];
        struct vcha_gen_entry *o = &out->entries[i];

        *o = (struct vcha_gen_entry){.path = e->path,
                                     .type = e->type,
                                     .mode = e->mode,
                                     .size = e->size,
                                     .mtime_s = e->mtime_s,
                                     .mtime_ns = e->mtime_ns,
                                     .target = e->target,
                                     .major = e->maj,
                                     .minor = e->min};
        memcpy(o->sha256, e->sha, HASH_LEN);
        if (stats != NULL) {
            o->st = stats[i];
        }
    }
    out->n = m->n;
    out->text = m->text;
    m->text = NULL;
    out->info = m->info;
    memset(&m->info, 0, sizeof(m->info));
    return 0;
}

/* Check the tree of @p gen_path against @p m, each entry's lstat kept. */
static int
manifest_tree(const char *gen_path, struct manifest *m, struct stat **stats,
              char **why)
{
    struct check c = {.w.visit = check_visit, .m = m};
    int gfd = open(gen_path, DIR_FLAGS & ~O_NOFOLLOW), rc;

    c.stats = calloc(m->n + 1, sizeof(*c.stats));
    rc = c.stats == NULL ? -ENOMEM : gfd < 0 ? why_errno(why, ".", -errno) : 0;
    if (rc == 0) {
        rc = tree_check(gfd, &c);
    }
    if (rc < 0 && why != NULL && *why == NULL) {
        *why = c.w.why;
        c.w.why = NULL;
    }
    free(c.w.why);
    if (gfd >= 0) {
        close(gfd);
    }
    *stats = c.stats;
    return rc;
}

int
vcha_gen_manifest_read(const char *gen_path, unsigned flags,
                       struct vcha_gen_manifest **out, char **why)
{
    const char *base = strrchr(gen_path, '/');
    struct manifest m;
    struct stat *stats = NULL;
    int rc;

    *out = NULL;
    if (why != NULL) {
        *why = NULL;
    }
    if (flags & ~VCHA_GEN_SIZES_ONLY) {
        return -EINVAL;
    }
    rc = manifest_load(gen_path, &m, why);
    if (rc == 0 && (flags & VCHA_GEN_SIZES_ONLY)) {
        rc = manifest_tree(gen_path, &m, &stats, why);
    }
    if (rc == 0 && (*out = calloc(1, sizeof(**out))) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = manifest_give(&m, stats, *out);
    }
    if (rc == 0) {
        name_number(base ? base + 1 : gen_path, GEN_PREFIX,
                    &(*out)->info.number);
        (*out)->info.path = strdup(gen_path);
        rc = (*out)->info.path == NULL ? -ENOMEM : 0;
    }
    if (rc < 0) {
        vcha_gen_manifest_free(*out);
        *out = NULL;
    }
    free(stats);
    manifest_clear(&m);
    return rc;
}

static int
gen_entry_cmp(const void *key, const void *e)
{
    return strcmp(key, ((const struct vcha_gen_entry *) e)->path);
}

const struct vcha_gen_entry *
vcha_gen_manifest_find(const struct vcha_gen_manifest *m, const char *path)
{
    return bsearch(path, m->entries, m->n, sizeof(*m->entries), gen_entry_cmp);
}

void
vcha_gen_manifest_free(struct vcha_gen_manifest *m)
{
    if (m != NULL) {
        info_clear(&m->info);
        free(m->entries);
        free(m->text);
        free(m);
    }
}

/* ------------------------------------------------------------ readers */

static char *
path_join(const char *dir, const char *name)
{
    char *path = NULL;

    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* Move the header of @p m into *out, with number and path. */
static int
info_take(struct manifest *m, uint64_t num, char *path,
          struct vcha_gen_info **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL) {
        free(path);
        return -ENOMEM;
    }
    **out = m->info;
    memset(&m->info, 0, sizeof(m->info));
    (*out)->number = num;
    (*out)->path = path;
    return 0;
}

/*
 * The newest generation of @p dir that verifies: its number in @p num and
 * its manifest in @p m.  Each newer one is skipped with a warning; the
 * newest of those is described in @p bad ("gen-N: why"), when not NULL.
 * Returns 0, -ENOENT when none verifies, or -errno.
 */
static int
newest_good(const char *dir, unsigned flags, struct vcache *cache,
            uint64_t *num, struct manifest *m, char **bad)
{
    uint64_t *nums = NULL;
    size_t n = 0;
    int dfd = open(dir, DIR_FLAGS & ~O_NOFOLLOW), rc;

    if (dfd < 0) {
        return -errno;
    }
    rc = gen_numbers(dfd, &nums, &n);
    close(dfd);
    for (size_t i = n; rc == 0 && i-- > 0;) {
        char name[NAME_LEN], *why = NULL, *path;
        int r;

        name_make(name, GEN_PREFIX, nums[i]);
        path = path_join(dir, name);
        r = path == NULL ? -ENOMEM : gen_verify(path, flags, cache, m, &why);
        if (r == 0) {
            *num = nums[i];
            rc = 1;
        } else if (r == -ENOMEM) {
            rc = r;
        } else {
            vcha_warn("checkpoint store %s: skipping %s: %s", dir, name,
                      why ? why : strerror(-r));
            if (bad != NULL && *bad == NULL &&
                asprintf(bad, "%s: %s", name, why ? why : strerror(-r)) < 0) {
                *bad = NULL;
            }
        }
        free(why);
        free(path);
    }
    free(nums);
    return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

/* What the caller of latest() or base() asked for of gen-@p num. */
static int
found_give(const char *dir, uint64_t num, struct manifest *m, char **gen_path,
           struct vcha_gen_info **info)
{
    char name[NAME_LEN], *path;
    int rc = 0;

    name_make(name, GEN_PREFIX, num);
    path = path_join(dir, name);
    if (path == NULL) {
        return -ENOMEM;
    }
    if (gen_path != NULL && (*gen_path = strdup(path)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0 && info != NULL) {
        rc = info_take(m, num, path, info);
        path = NULL;
    }
    if (rc < 0 && gen_path != NULL) {
        free(*gen_path);
        *gen_path = NULL;
    }
    free(path);
    return rc;
}

int
vcha_genstore_latest(const char *dir, unsigned flags, char **gen_path,
                     struct vcha_gen_info **info)
{
    struct manifest m = {0};
    uint64_t num = 0;
    int rc;

    if (gen_path != NULL) {
        *gen_path = NULL;
    }
    if (info != NULL) {
        *info = NULL;
    }
    if (flags & ~VCHA_GEN_SIZES_ONLY) {
        return -EINVAL;
    }
    rc = newest_good(dir, flags, NULL, &num, &m, NULL);
    if (rc == 0) {
        rc = found_give(dir, num, &m, gen_path, info);
    }
    manifest_clear(&m);
    return rc;
}

/* The header of a MANIFEST, up to its first entry; nothing verified. */
static void
header_read(int dfd, const char *name, struct vcha_gen_info *info)
{
    struct manifest m = {0};
    char path[NAME_LEN + sizeof(MANIFEST)], *line = NULL, *f[4];
    size_t cap = 0;
    ssize_t len;
    int fd;
    FILE *in;

    snprintf(path, sizeof(path), "%s/" MANIFEST, name);
    fd = openat(dfd, path, FILE_FLAGS);
    in = fd < 0 ? NULL : fdopen(fd, "r");
    if (in == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    len = getline(&line, &cap, in);
    if (len > 0 && strcmp(line, FORMAT_LINE "\n") == 0) {
        while ((len = getline(&line, &cap, in)) > 1 && line[1] != ' ') {
            line[len - 1] = '\0';
            header_parse(&m, f, fields_split(line, f, 3));
        }
    }
    free(line);
    fclose(in);
    *info = m.info;
}

int
vcha_genstore_list(const char *dir, struct vcha_gen_info **gens, size_t *count)
{
    uint64_t *nums = NULL;
    size_t n = 0;
    int dfd, rc;

    *gens = NULL;
    *count = 0;
    dfd = open(dir, DIR_FLAGS & ~O_NOFOLLOW);
    if (dfd < 0) {
        return -errno;
    }
    rc = gen_numbers(dfd, &nums, &n);
    if (rc == 0 && n > 0) {
        *gens = calloc(n, sizeof(**gens));
        rc = *gens == NULL ? -ENOMEM : 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct vcha_gen_info *g = &(*gens)[i];
        char name[NAME_LEN];

        name_make(name, GEN_PREFIX, nums[n - 1 - i]);
        header_read(dfd, name, g);
        g->number = nums[n - 1 - i];
        g->path = path_join(dir, name);
        rc = g->path == NULL ? -ENOMEM : 0;
        *count = i + 1;
    }
    close(dfd);
    free(nums);
    if (rc < 0) {
        vcha_gen_list_free(*gens, *count);
        *gens = NULL;
        *count = 0;
    }
    return rc;
}

void
vcha_gen_list_free(struct vcha_gen_info *gens, size_t count)
{
    for (size_t i = 0; gens != NULL && i < count; i++) {
        info_clear(&gens[i]);
    }
    free(gens);
}

void
vcha_gen_info_free(struct vcha_gen_info *info)
{
    if (info != NULL) {
        info_clear(info);
        free(info);
    }
}

const char *
vcha_gen_info_figure(const struct vcha_gen_info *info, const char *key)
{
    for (size_t i = 0; info != NULL && i < info->n_figures; i++) {
        if (strcmp(info->figures[i].key, key) == 0) {
            return info->figures[i].value;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ writer */

static void
base_forget(struct vcha_genstore *store)
{
    if (store->base_m != NULL) {
        manifest_clear(store->base_m);
        free(store->base_m);
    }
    store->base_m = NULL;
    store->base = 0;
}

int
vcha_genstore_base(struct vcha_genstore *store, char **gen_path,
                   struct vcha_gen_info **info, char **bad)
{
    struct manifest *m = calloc(1, sizeof(*m));
    uint64_t num = 0;
    int rc;

    if (gen_path != NULL) {
        *gen_path = NULL;
    }
    if (info != NULL) {
        *info = NULL;
    }
    if (bad != NULL) {
        *bad = NULL;
    }
    base_forget(store);
    vcache_clear(&store->cache);
    vcache_clear(&store->known);
    if (m == NULL) {
        return -ENOMEM;
    }
    rc = newest_good(store->dir, 0, &store->cache, &num, m, bad);
    if (rc == 0) {
        /* found_give() takes the header: keep a copy of the entries only */
        store->base = num;
        store->base_m = m;
        rc = found_give(store->dir, num, m, gen_path, info);
        m = NULL;
    }
    if (m != NULL) {
        manifest_clear(m);
        free(m);
    }
    if (rc < 0 && rc != -ENOENT) {
        base_forget(store);
    }
    return rc;
}

int
vcha_genstore_open(const char *dir, struct vcha_genstore **out)
{
    struct vcha_genstore *s = calloc(1, sizeof(*s));
    int rc = 0;

    *out = NULL;
    if (s == NULL) {
        return -ENOMEM;
    }
    s->lock_fd = -1;
    s->stage_fd = -1;
    s->dir = strdup(dir);
    s->dir_fd = open(dir, DIR_FLAGS & ~O_NOFOLLOW);
    if (s->dir == NULL || s->dir_fd < 0) {
        rc = s->dir == NULL ? -ENOMEM : -errno;
        goto done;
    }
    s->lock_fd = openat(s->dir_fd, LOCK_NAME,
                        O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        rc = -errno;
        goto done;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        goto done;
    }
    *out = s;
    s = NULL;

done:
    vcha_genstore_free(s);
    return rc;
}

void
vcha_genstore_free(struct vcha_genstore *store)
{
    if (store == NULL) {
        return;
    }
    if (store->lock_fd >= 0) {
        close(store->lock_fd); /* releases the flock */
    }
    if (store->dir_fd >= 0) {
        close(store->dir_fd);
    }
    if (store->stage_fd >= 0) {
        close(store->stage_fd);
    }
    base_forget(store);
    vcache_clear(&store->cache);
    vcache_clear(&store->known);
    free(store->dir);
    free(store);
}

/*
 * The next number: one more than any gen-, .stage- or .trash- entry.  The
 * stages are dead (we hold the lock): remove them.
 */
static int
stage_number(struct vcha_genstore *s, uint64_t *next)
{
    struct names names;
    uint64_t top = 0, num;
    int rc = names_read(s->dir_fd, &names);

    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const char *name = names.v[i];

        if (name_number(name, STAGE_PREFIX, &num)) {
            vcha_notice("checkpoint store %s: removing %s, left by a writer "
                        "that did not finish",
                        s->dir, name);
            rc = vcha_file_remove_tree_at(s->dir_fd, name);
        } else if (name_number(name, TRASH_PREFIX, &num)) {
            rc = vcha_file_remove_tree_at(s->dir_fd, name); /* not swept */
        } else if (!name_number(name, GEN_PREFIX, &num)) {
            continue;
        }
        top = num > top ? num : top;
    }
    names_free(&names);
    *next = top + 1;
    return rc;
}

int
vcha_genstore_stage(struct vcha_genstore *store, char **stage_path)
{
    char name[NAME_LEN];
    uint64_t num = 0;
    int rc;

    *stage_path = NULL;
    if (store->stage != 0) {
        return -EALREADY;
    }
    rc = stage_number(store, &num);
    if (rc < 0) {
        return rc;
    }
    name_make(name, STAGE_PREFIX, num);
    if (mkdirat(store->dir_fd, name, 0755) < 0) {
        return -errno;
    }
    vcache_clear(&store->known);
    store->stage_fd = openat(store->dir_fd, name, DIR_FLAGS);
    if (store->stage_fd < 0) {
        rc = -errno;
        vcha_file_remove_tree_at(store->dir_fd, name);
        return rc;
    }
    *stage_path = path_join(store->dir, name);
    if (*stage_path == NULL) {
        close(store->stage_fd);
        store->stage_fd = -1;
        vcha_file_remove_tree_at(store->dir_fd, name);
        return -ENOMEM;
    }
    store->stage = num;
    return 0;
}

int
vcha_genstore_known(struct vcha_genstore *store, const struct stat *st,
                    const unsigned char sha[32])
{
    if (store->stage == 0 || !S_ISREG(st->st_mode)) {
        return -EINVAL;
    }
    vcache_put(&store->known, st, sha);
    return 0;
}

static void
stage_fd_close(struct vcha_genstore *store)
{
    if (store->stage_fd >= 0) {
        close(store->stage_fd);
        store->stage_fd = -1;
    }
}

void
vcha_genstore_abort(struct vcha_genstore *store)
{
    char name[NAME_LEN];
    int rc;

    if (store == NULL || store->stage == 0) {
        return;
    }
    name_make(name, STAGE_PREFIX, store->stage);
    store->stage = 0;
    stage_fd_close(store);
    vcache_clear(&store->known);
    rc = vcha_file_remove_tree_at(store->dir_fd, name);
    if (rc < 0) {
        vcha_warn("checkpoint store %s: cannot remove %s: %s", store->dir, name,
                  strerror(-rc));
    }
}

/* ------------------------------------------------------------ commit */

struct seal {
    struct walk w;
    FILE *body;                  /* the entry lines */
    const struct manifest *prev; /* of the base, or NULL */
    int prev_fd;                 /* the base */
    char base[NAME_LEN];         /* its name, or "" */
    struct vcache *cache;        /* the store's */
    const struct vcache *known;  /* given by the stage's writer */
    unsigned char *buf;          /* for reading files */
    uint64_t files, bytes;       /* totals */
    uint64_t hashed;             /* bytes read to checksum */
};

/*
 * The checksum the base recorded for this path, if the staged file is the
 * very inode the base has there (a hard link, as rsync --link-dest makes)
 * with the size and mtime recorded then.
 *
 * Safe because the base is a generation this handle verified, every byte
 * read (vcha_genstore_base()), and a committed generation is immutable:
 * nobody writes into its files, and rsync never writes into a linked file,
 * it replaces it with a new inode.  Both names are checked to be the same
 * inode now, so a recycled inode number cannot match, and a write into
 * the shared inode since would have changed its mtime.  Only the base is
 * trusted so: a generation that was never verified could pass a damaged
 * byte on to every generation after it.
 */
static bool
seal_reuse(const struct seal *s, const struct stat *st, unsigned char *sha)
{
    const struct entry *e;
    struct stat pst;

    if (s->prev == NULL) {
        return false;
    }
    e = manifest_find(s->prev, s->w.path);
    if (e == NULL || e->type != 'f' || e->size != (uint64_t) st->st_size ||
        e->mtime_s != (long long) st->st_mtim.tv_sec ||
        e->mtime_ns != st->st_mtim.tv_nsec) {
        return false;
    }
    if (fstatat(s->prev_fd, s->w.path, &pst, AT_SYMLINK_NOFOLLOW) < 0 ||
        pst.st_dev != st->st_dev || pst.st_ino != st->st_ino) {
        return false;
    }
    memcpy(sha, e->sha, HASH_LEN);
    return true;
}

/* Checksum a new file; *st becomes what was read. */
static int
seal_hash(struct seal *s, int dfd, const char *name, struct stat *st,
          unsigned char *sha)
{
    uint64_t len = 0;
    int fd = openat(dfd, name, FILE_FLAGS), rc = 0;

    if (fd < 0) {
        return walk_fail(&s->w, -errno);
    }
    if (fstat(fd, st) < 0) {
        rc = -errno;
    } else if (!S_ISREG(st->st_mode)) {
        rc = -EAGAIN; /* replaced since the walk saw it */
    }
    if (rc == 0) {
        rc = sha256_fd(fd, s->buf, sha, &len);
        s->hashed += len;
    }
    if (rc == 0 && len != (uint64_t) st->st_size) {
        rc = -EAGAIN; /* the caller still writes into its stage */
    }
    if (rc == 0) {
        vcache_put(s->cache, st, sha);
    }
    close(fd);
    if (rc == -EAGAIN) {
        why_set(&s->w.why, "%s: changed while being committed", s->w.path);
        return rc;
    }
    return rc < 0 ? walk_fail(&s->w, rc) : 0;
}

static int
seal_file(struct seal *s, int dfd, const char *name, const struct stat *st)
{
    unsigned char sha[HASH_LEN];
    char hex[HASH_HEX];
    struct stat now = *st;

    const unsigned char *known = vcache_get(s->known, st);

    if (known != NULL) { /* hashed by its writer as it wrote it */
        memcpy(sha, known, HASH_LEN);
    } else if (seal_reuse(s, st, sha)) {
        vcache_put(s->cache, st, sha);
    } else {
        int rc = seal_hash(s, dfd, name, &now, sha);

        if (rc < 0) {
            return rc;
        }
    }
    hex_encode(sha, hex);
    s->files++;
    s->bytes += (uint64_t) now.st_size;
    fprintf(s->body, "f %04o %jd %lld.%09ld %s ",
            (unsigned) (now.st_mode & 07777), (intmax_t) now.st_size,
            (long long) now.st_mtim.tv_sec, (long) now.st_mtim.tv_nsec, hex);
    return 0;
}

static int
seal_link(struct seal *s, int dfd, const char *name)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

    if (n < 0) {
        return walk_fail(&s->w, -errno);
    }
    target[n] = '\0';
    fputs("l ", s->body);
    vcha_pct_write(s->body, target, VCHA_PCT_SPACE);
    fputc(' ', s->body);
    return 0;
}

/* One manifest line per entry; regular files checksummed. */
static int
seal_visit(struct walk *w, int dfd, const char *name, const struct stat *st)
{
    struct seal *s = (struct seal *) w;
    char t = type_letter(st->st_mode);
    unsigned mode = st->st_mode & 07777;
    int rc = 0;

    if (t == 'f') {
        rc = seal_file(s, dfd, name, st);
    } else if (t == 'l') {
        rc = seal_link(s, dfd, name);
    } else if (t == 'c' || t == 'b') {
        fprintf(s->body, "%c %04o %u:%u ", t, mode, major(st->st_rdev),
                minor(st->st_rdev));
    } else if (t != '?') {
        fprintf(s->body, "%c %04o ", t, mode);
    } else {
        rc = walk_fail(w, -EINVAL);
    }
    if (rc == 0) {
        vcha_pct_write(s->body, w->path, VCHA_PCT_SPACE);
        fputc('\n', s->body);
    }
    return rc;
}

static void
put_field(FILE *out, const char *keyword, const char *value)
{
    if (value != NULL && *value != '\0') {
        fprintf(out, "%s ", keyword);
        vcha_pct_write(out, value, VCHA_PCT_SPACE);
        fputc('\n', out);
    }
}

/* The whole MANIFEST: header, @p body, end line. */
static int
manifest_text(const struct seal *s, const struct vcha_gen_meta *meta,
              const char *body, size_t body_len, char **text, size_t *len)
{
    FILE *out = open_memstream(text, len);
    char hex[HASH_HEX];
    int rc = 0;

    if (out == NULL) {
        return -ENOMEM;
    }
    fprintf(out, FORMAT_LINE "\ncreated %lld\n", vcha_realtime_ms());
    put_field(out, "container", meta ? meta->container : NULL);
    put_field(out, "config-digest", meta ? meta->config_digest : NULL);
    put_field(out, "base", s->base[0] != '\0' ? s->base : NULL);
    for (size_t i = 0; meta != NULL && i < meta->n_figures; i++) {
        fputs("figure ", out);
        vcha_pct_write(out, meta->figures[i].key, VCHA_PCT_SPACE);
        fputc(' ', out);
        vcha_pct_write(out, meta->figures[i].value, VCHA_PCT_SPACE);
        fputc('\n', out);
    }
    fprintf(out, "files %" PRIu64 "\nbytes %" PRIu64 "\n", s->files, s->bytes);
    fwrite(body, 1, body_len, out);
    if (fflush(out) != 0 || ferror(out)) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = vcha_sha256_hex(*text, *len, hex);
    }
    if (rc == 0) {
        fprintf(out, "end %s\n", hex);
    }
    if (fclose(out) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    return rc;
}

/* The base of this commit, whose checksums hard links may reuse. */
static void
seal_prev(struct vcha_genstore *store, struct seal *s)
{
    char name[NAME_LEN];

    s->prev_fd = -1;
    if (store->base != 0 && store->base_m != NULL) {
        name_make(name, GEN_PREFIX, store->base);
        s->prev_fd = openat(store->dir_fd, name, DIR_FLAGS);
    }
    if (s->prev_fd >= 0) {
        s->prev = store->base_m;
        snprintf(s->base, sizeof(s->base), "%s", name);
    }
}

static int
seal_manifest(struct vcha_genstore *store, struct seal *s,
              const struct vcha_gen_meta *meta, const char *body,
              size_t body_len)
{
    char name[NAME_LEN], *path = NULL, *text = NULL;
    size_t len = 0;
    int rc;

    name_make(name, STAGE_PREFIX, store->stage);
    if (asprintf(&path, "%s/%s/" MANIFEST, store->dir, name) < 0) {
        return -ENOMEM;
    }
    rc = manifest_text(s, meta, body, body_len, &text, &len);
    if (rc == 0) {
        rc = vcha_file_write_atomic(path, text, len, 0644);
    }
    if (rc < 0) {
        why_errno(&s->w.why, MANIFEST, rc);
    }
    free(text);
    free(path);
    return rc;
}

/*
 * List and checksum every entry of the stage, make them durable (one
 * syncfs()), then write its MANIFEST (which fsyncs the top directory).
 */
static int
stage_seal(struct vcha_genstore *store, const struct vcha_gen_meta *meta,
           struct seal *s)
{
    char name[NAME_LEN], *body = NULL;
    size_t body_len = 0;
    int sfd = -1, rc = 0;

    name_make(name, STAGE_PREFIX, store->stage);
    s->buf = malloc(READ_CHUNK);
    s->body = open_memstream(&body, &body_len);
    if (s->buf == NULL || s->body == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    sfd = openat(store->dir_fd, name, DIR_FLAGS);
    if (sfd < 0 || (unlinkat(sfd, MANIFEST, 0) < 0 && errno != ENOENT)) {
        rc = walk_fail(&s->w, -errno);
        goto done;
    }
    seal_prev(store, s);
    rc = walk_dir(&s->w, sfd);
    /* every file and directory of the stage durable at once: what is
     * dirty is flushed, the files linked from the base (already durable)
     * cost nothing, where an fsync() of each entry costs one call per
     * entry whatever it holds */
    if (rc == 0 && syncfs(store->stage_fd) < 0) {
        rc = walk_fail(&s->w, -errno);
    }
    if (fclose(s->body) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    s->body = NULL;
    if (rc == 0) {
        rc = seal_manifest(store, s, meta, body, body_len);
    }

done:
    if (s->body != NULL) {
        fclose(s->body);
    }
    if (s->prev_fd >= 0) {
        close(s->prev_fd);
    }
    if (sfd >= 0) {
        close(sfd);
    }
    free(s->buf);
    free(body);
    return rc;
}

/*
 * Whether the header of a generation newer than nums[@p at], one that
 * vouches for the base it names (see prune_good()), names it as its base.
 */
static bool
named_as_base(struct vcha_genstore *store, const uint64_t *nums,
              const bool *vouches, size_t n, size_t at)
{
    char want[NAME_LEN];
    bool named = false;

    name_make(want, GEN_PREFIX, nums[at]);
    for (size_t i = at + 1; i < n && !named; i++) {
        struct vcha_gen_info info = {0};
        char name[NAME_LEN];

        if (!vouches[i]) {
            continue;
        }
        name_make(name, GEN_PREFIX, nums[i]);
        header_read(store->dir_fd, name, &info);
        named = info.base != NULL && strcmp(info.base, want) == 0;
        info_clear(&info);
    }
    return named;
}

/*
 * 1 when nums[@p at] counts among those kept, 0 when it does not, or
 * -errno; @p vouches[at] set when it vouches for the content of the base
 * it names.  The generation just committed and the base count without a
 * check (the first was hashed as it was sealed, the second read this
 * checkpoint); one a newer generation that vouches names as its base
 * needs its tree to verify (its content was read then); any other, its
 * content too.  Those that count by their tree only vouch for nothing: a
 * damaged file they share with their base would go unseen twice.
 */
static int
prune_good(struct vcha_genstore *store, const uint64_t *nums, bool *vouches,
           size_t n, size_t at, uint64_t committed)
{
    char name[NAME_LEN], *path, *why = NULL;
    struct manifest m;
    unsigned flags;
    int rc;

    vouches[at] = false;
    if (nums[at] == committed || nums[at] == store->base) {
        vouches[at] = true;
        return 1;
    }
    flags =
        named_as_base(store, nums, vouches, n, at) ? VCHA_GEN_SIZES_ONLY : 0;
    name_make(name, GEN_PREFIX, nums[at]);
    path = path_join(store->dir, name);
    if (path == NULL) {
        return -ENOMEM;
    }
    rc = gen_verify(path, flags, &store->cache, &m, &why);
    manifest_clear(&m);
    if (rc < 0 && rc != -ENOMEM) {
        vcha_warn("checkpoint store %s: %s does not verify (%s): it does "
                  "not count among the generations kept",
                  store->dir, name, why ? why : strerror(-rc));
        rc = 0;
    } else if (rc == 0) {
        vouches[at] = flags == 0;
        rc = 1;
    }
    free(why);
    free(path);
    return rc;
}

/* Rename gen-N to .trash-N for the first @p n numbers of @p nums. */
static int
trash_oldest(struct vcha_genstore *store, const uint64_t *nums, size_t n)
{
    char gen[NAME_LEN], trash[NAME_LEN];

    for (size_t i = 0; i < n; i++) {
        name_make(gen, GEN_PREFIX, nums[i]);
        name_make(trash, TRASH_PREFIX, nums[i]);
        if (renameat(store->dir_fd, gen, store->dir_fd, trash) < 0) {
            return -errno;
        }
    }
    return n > 0 && fsync(store->dir_fd) < 0 ? -errno : 0;
}

/*
 * Delete the generations older than the @p keep newest that verify: a
 * damaged generation never counts, so failover always finds @p keep good
 * ones while they exist (and older good ones stay until then).  Neither
 * the base nor a generation newer than it goes: those newer ones did not
 * verify when the base was chosen.  Each is renamed to .trash-N, the
 * renames made durable, and only then are their contents removed, so that
 * a crash cannot leave a half-deleted gen-N.  Then every .trash-N goes.
 */
static void
prune(struct vcha_genstore *store, unsigned keep, uint64_t committed)
{
    uint64_t *nums = NULL;
    size_t n = 0, cut = 0;
    unsigned good = 0;
    bool *vouches = NULL;
    int rc = gen_numbers(store->dir_fd, &nums, &n);

    if (rc == 0 && (vouches = calloc(n + 1, sizeof(*vouches))) == NULL) {
        rc = -ENOMEM;
    }
    for (size_t i = n; rc == 0 && good < keep && i-- > 0;) {
        rc = prune_good(store, nums, vouches, n, i, committed);
        good += rc > 0;
        cut = i;
        rc = rc < 0 ? rc : 0;
    }
    while (store->base != 0 && cut > 0 && nums[cut - 1] >= store->base) {
        cut--;
    }
    if (rc == 0 && good == keep) {
        rc = trash_oldest(store, nums, cut);
    }
    free(vouches);
    free(nums);
    if (rc < 0) {
        vcha_warn("checkpoint store %s: cannot delete old generations: %s",
                  store->dir, strerror(-rc));
    }
}

void
vcha_genstore_sweep(struct vcha_genstore *store)
{
    struct names names = {0};
    uint64_t num;
    int rc = names_read(store->dir_fd, &names);

    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        if (name_number(names.v[i], TRASH_PREFIX, &num)) {
            rc = vcha_file_remove_tree_at(store->dir_fd, names.v[i]);
        }
    }
    names_free(&names);
    if (rc < 0) {
        vcha_warn("checkpoint store %s: cannot delete old generations: %s",
                  store->dir, strerror(-rc));
    }
}

static bool
meta_valid(const struct vcha_gen_meta *meta)
{
    if (meta == NULL) {
        return true;
    }
    if (meta->n_figures > 0 && meta->figures == NULL) {
        return false;
    }
    for (size_t i = 0; i < meta->n_figures; i++) {
        const struct vcha_gen_figure *f = &meta->figures[i];

        if (f->key == NULL || *f->key == '\0' || f->value == NULL ||
            *f->value == '\0') {
            return false;
        }
    }
    return true;
}

/* Rename the sealed stage to gen-N and make that durable. */
static int
stage_rename(struct vcha_genstore *store, char **gen_path)
{
    char stage[NAME_LEN], gen[NAME_LEN];

    name_make(stage, STAGE_PREFIX, store->stage);
    name_make(gen, GEN_PREFIX, store->stage);
    if (renameat(store->dir_fd, stage, store->dir_fd, gen) < 0) {
        return -errno;
    }
    store->stage = 0;
    stage_fd_close(store);
    if (gen_path != NULL) {
        *gen_path = path_join(store->dir, gen);
    }
    if (fsync(store->dir_fd) < 0) {
        return -errno;
    }
    return gen_path != NULL && *gen_path == NULL ? -ENOMEM : 0;
}

int
vcha_genstore_commit(struct vcha_genstore *store,
                     const struct vcha_gen_meta *meta, unsigned keep,
                     char **gen_path)
{
    struct seal s = {
        .w.visit = seal_visit, .cache = &store->cache, .known = &store->known};
    long long t0 = vcha_now_ms();
    uint64_t num = store->stage;
    int rc;

    if (gen_path != NULL) {
        *gen_path = NULL;
    }
    if (store->stage == 0 || keep == 0 || !meta_valid(meta)) {
        return -EINVAL;
    }
    rc = stage_seal(store, meta, &s);
    if (rc == 0) {
        rc = stage_rename(store, gen_path);
    }
    if (store->stage != 0) {
        vcha_err("checkpoint store %s: cannot commit: %s", store->dir,
                 s.w.why ? s.w.why : strerror(-rc));
        vcha_genstore_abort(store);
    } else if (rc < 0 && gen_path != NULL) {
        free(*gen_path);
        *gen_path = NULL;
    } else if (rc == 0) {
        vcha_debug("checkpoint store %s: committed %" PRIu64 " files, "
                   "%" PRIu64 " bytes (%" PRIu64 " read) in %lld ms",
                   store->dir, s.files, s.bytes, s.hashed, vcha_now_ms() - t0);
        prune(store, keep, num);
    }
    vcache_clear(&store->cache); /* what it knows is of this checkpoint */
    vcache_clear(&store->known);
    free(s.w.why);
    return rc;
}
