/* vcha - the package-aware exclusion list of a file sync (seed 000). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/excludes.h>
#include <vcha/file.h>

#define DPKG_DIR "/var/lib/dpkg"
/* the largest dpkg file read whole (a status file is a few MiB) */
#define MAX_DB_FILE (512UL * 1024 * 1024)

enum owner {
    OWN_UNNEEDED = 1 << 0,
    OWN_NEEDED = 1 << 1,
};

/* One path of a file list, with who owns it. */
struct pathent {
    char *path;
    unsigned char own;     /* enum owner */
    signed char collapses; /* -1 not known yet, 0 no, 1 yes */
};

/* dpkg-divert: @from of packages other than @by is installed as @to. */
struct diversion {
    char *from;
    char *to;
    char *by; /* the diverting package, or ":" for a local diversion */
};

/* A top-level symbolic link to a directory: /lib -> /usr/lib. */
struct alias {
    char *name; /* "lib" */
    char *to;   /* "/usr/lib" */
};

/* A filter rule before it is written out. */
enum rule_kind {
    RULE_FILE,    /* a path as it is: the entry itself */
    RULE_DIR,     /* a directory and everything below it */
    RULE_PATTERN, /* rsync wildcards, written as given */
};

struct rule {
    char *path;
    enum rule_kind kind;
};

/* A growable array of @size-byte elements. */
struct vec {
    void *v;
    size_t n, cap, size;
};

struct builder {
    const struct vcha_excludes_spec *spec;
    char root[PATH_MAX]; /* without the trailing '/': "" for "/" */
    char *why;
    size_t whylen;
    struct vec packages;   /* char *, installed, sorted */
    struct vec diversions; /* struct diversion, sorted by from */
    struct vec aliases;    /* struct alias */
    struct vec paths;      /* struct pathent, sorted by path_cmp */
    struct vec excludes;   /* struct rule */
    struct vec lines;      /* char *, the output */
    size_t n_unneeded, n_paths, n_excluded;
};

static const char *const default_unneeded[] = {
    "linux-image-*",
    "linux-headers-*",
    "linux-modules-*",
    "linux-kbuild-*",
    "firmware-*",
    "intel-microcode",
    "amd64-microcode",
    "grub*",
    "shim*",
    "efibootmgr",
    "initramfs-tools*",
    "dracut*",
    "klibc-utils",
    "libklibc",
    "pacemaker*",
    "corosync*",
    "crmsh",
    "pcs",
    "sbd",
    "fence-agents*",
    "resource-agents*",
    "vcha",
    "vcha-*",
    NULL,
};

static const char *const always[] = {
    "/proc/*",
    "/sys/*",
    "/dev/*",
    "/run/*",
    "/tmp/*",
    "/boot/***",
    "/lost+found/***",
    "/vmlinuz*",
    "/initrd.img*",
    "/etc/network/interfaces*",
    "/etc/systemd/network/***",
    "/etc/netplan/***",
    "/etc/hostname",
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/etc/ssh/ssh_host_*",
    "/etc/fstab",
    NULL,
};

const char *const *
vcha_excludes_default_unneeded(void)
{
    return default_unneeded;
}

const char *const *
vcha_excludes_always(void)
{
    return always;
}

/* ------------------------------------------------------------ helpers */

static void *
vec_push(struct vec *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void *nv = realloc(a->v, cap * a->size);

        if (nv == NULL) {
            return NULL;
        }
        a->v = nv;
        a->cap = cap;
    }
    return memset((char *) a->v + a->n++ * a->size, 0, a->size);
}

/* qsort() and bsearch() over @p a; neither may see an empty array's NULL */
static void
vec_sort(struct vec *a, int (*cmp)(const void *, const void *))
{
    if (a->n > 0) {
        qsort(a->v, a->n, a->size, cmp);
    }
}

static void *
vec_find(const struct vec *a, const void *key,
         int (*cmp)(const void *, const void *))
{
    return a->n > 0 ? bsearch(key, a->v, a->n, a->size, cmp) : NULL;
}

static int
push_string(struct vec *a, char *s)
{
    char **slot = s ? vec_push(a) : NULL;

    if (slot == NULL) {
        free(s);
        return -ENOMEM;
    }
    *slot = s;
    return 0;
}

static int
fail(struct builder *b, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->why, b->whylen, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * Dictionary order of paths with '/' before every other character: a
 * directory's tree directly follows it ("/a", "/a/b", "/a.d").
 */
static int
path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char) *a, cb = (unsigned char) *b;

        if (ca != cb) {
            if (ca == '\0' || cb == '\0') {
                return ca == '\0' ? -1 : 1;
            }
            if (ca == '/' || cb == '/') {
                return ca == '/' ? -1 : 1;
            }
            return ca < cb ? -1 : 1;
        }
        if (ca == '\0') {
            return 0;
        }
    }
}

/* @p path is @p dir or below it. */
static bool
path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool
has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int
cmp_string(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
cmp_pathent(const void *a, const void *b)
{
    return path_cmp(((const struct pathent *) a)->path,
                    ((const struct pathent *) b)->path);
}

static int
cmp_rule(const void *a, const void *b)
{
    return path_cmp(((const struct rule *) a)->path,
                    ((const struct rule *) b)->path);
}

static int
cmp_diversion(const void *a, const void *b)
{
    return strcmp(((const struct diversion *) a)->from,
                  ((const struct diversion *) b)->from);
}

/* ROOT@p path into @p buf; false when it does not fit. */
static bool
root_path(const struct builder *b, const char *path, char *buf, size_t len)
{
    size_t r = strlen(b->root), n = strlen(path);

    if (r + n >= len) {
        return false;
    }
    memcpy(buf, b->root, r);
    memcpy(buf + r, path, n + 1);
    return true;
}

/* Read ROOT/var/lib/dpkg/@p name whole into *@p data. */
static int
read_db_file(struct builder *b, const char *name, char **data, bool optional)
{
    char path[PATH_MAX];
    int rc;

    if (!root_path(b, name, path, sizeof(path))) {
        return fail(b, -ENAMETOOLONG, "path too long: %s%s", b->root, name);
    }
    rc = vcha_file_read(path, data, NULL, MAX_DB_FILE);
    if (rc == -ENOENT && optional) {
        return 0;
    }
    if (rc < 0) {
        return fail(b, rc, "cannot read %s: %s", path, strerror(-rc));
    }
    return 0;
}

/* Next line of *@p p (NUL-terminated in place), or NULL at the end. */
static char *
next_line(char **p)
{
    char *line = *p, *nl;

    if (line == NULL || *line == '\0') {
        return NULL;
    }
    nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    return line;
}

/* ------------------------------------------------------------ database */

/* Keep package @p name of status @p status unless it is not installed. */
static int
package_commit(struct builder *b, const char *name, const char *status)
{
    const char *state = status ? strrchr(status, ' ') : NULL;

    if (name == NULL || state == NULL ||
        strcmp(state + 1, "not-installed") == 0) {
        return 0;
    }
    return push_string(&b->packages, strdup(name));
}

/* The installed packages of the status file, sorted and unique. */
static int
read_status(struct builder *b)
{
    char *data = NULL, *p, *line, *name = NULL, *status = NULL;
    int rc = read_db_file(b, DPKG_DIR "/status", &data, false);
    size_t kept = 0;

    for (p = data; rc == 0 && (line = next_line(&p)) != NULL;) {
        if (strncmp(line, "Package:", 8) == 0) {
            name = line + 8 + strspn(line + 8, " \t");
        } else if (strncmp(line, "Status:", 7) == 0) {
            status = line + 7;
        } else if (*line == '\0') {
            rc = package_commit(b, name, status);
            name = status = NULL;
        }
    }
    if (rc == 0) {
        rc = package_commit(b, name, status);
    }
    free(data);
    if (rc == 0 && b->packages.n == 0) {
        return fail(b, -EBADMSG, "no installed package in %s%s", b->root,
                    DPKG_DIR "/status");
    }
    vec_sort(&b->packages, cmp_string);
    for (size_t i = 0; i < b->packages.n; i++) {
        char **v = b->packages.v;

        if (kept > 0 && strcmp(v[kept - 1], v[i]) == 0) {
            free(v[i]);
        } else {
            v[kept++] = v[i];
        }
    }
    b->packages.n = kept;
    return rc;
}

/* The diversions file: triples of lines from, to, diverting package. */
static int
read_diversions(struct builder *b)
{
    char *data = NULL, *p;
    char *l[3];
    int rc = read_db_file(b, DPKG_DIR "/diversions", &data, true);

    for (p = data; rc == 0 && (l[0] = next_line(&p)) != NULL;) {
        struct diversion *d;

        l[1] = next_line(&p);
        l[2] = next_line(&p);
        if (l[2] == NULL) {
            rc = fail(b, -EBADMSG, "%s%s: truncated", b->root,
                      DPKG_DIR "/diversions");
            break;
        }
        d = vec_push(&b->diversions);
        if (d == NULL || (d->from = strdup(l[0])) == NULL ||
            (d->to = strdup(l[1])) == NULL || (d->by = strdup(l[2])) == NULL) {
            rc = -ENOMEM;
        }
    }
    free(data);
    vec_sort(&b->diversions, cmp_diversion);
    return rc;
}

/* The target of the top-level link @p name, if a directory under ROOT. */
static char *
alias_target(const struct builder *b, const char *name)
{
    char link[PATH_MAX], target[PATH_MAX], real[PATH_MAX], *to = NULL;
    struct stat st;
    ssize_t n;

    if (!root_path(b, "/", link, sizeof(link)) ||
        strlen(link) + strlen(name) >= sizeof(link)) {
        return NULL;
    }
    strcat(link, name);
    n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) {
        return NULL;
    }
    target[n] = '\0';
    while (target[n - 1] == '/' && n > 1) {
        target[--n] = '\0';
    }
    if (strstr(target, "..") != NULL || strstr(target, "//") != NULL ||
        asprintf(&to, "%s%s", *target == '/' ? "" : "/", target) < 0) {
        return NULL;
    }
    if (!root_path(b, to, real, sizeof(real)) || lstat(real, &st) < 0 ||
        !S_ISDIR(st.st_mode)) {
        free(to);
        return NULL;
    }
    return to;
}

/* The top-level symbolic links to directories of ROOT (merged /usr). */
static int
read_aliases(struct builder *b)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (!root_path(b, "/", dir, sizeof(dir)) || (d = opendir(dir)) == NULL) {
        return fail(b, -errno, "cannot read %s: %s", dir, strerror(errno));
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *to = e->d_type == DT_LNK || e->d_type == DT_UNKNOWN
                       ? alias_target(b, e->d_name)
                       : NULL;
        struct alias *a = to ? vec_push(&b->aliases) : NULL;

        if (to != NULL &&
            (a == NULL || (a->name = strdup(e->d_name)) == NULL)) {
            rc = -ENOMEM;
        }
        if (a != NULL) {
            a->to = to;
        } else {
            free(to);
        }
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------ ownership */

static bool
glob_any(const char *const *globs, const char *name)
{
    for (size_t i = 0; globs != NULL && globs[i] != NULL; i++) {
        if (fnmatch(globs[i], name, 0) == 0) {
            return true;
        }
    }
    return false;
}

static bool
package_unneeded(const struct builder *b, const char *name)
{
    const struct vcha_excludes_spec *s = b->spec;

    return (glob_any(s->unneeded, name) ||
            (!s->no_defaults && glob_any(default_unneeded, name))) &&
           !glob_any(s->needed, name);
}

/* @p path of package @p pkg as it lies on disk: diverted, de-aliased. */
static char *
path_resolve(const struct builder *b, const char *pkg, const char *path)
{
    struct diversion key = {.from = (char *) path};
    const struct diversion *d = vec_find(&b->diversions, &key, cmp_diversion);
    const char *rest;
    size_t first;
    char *out = NULL;

    if (d != NULL && strcmp(d->by, pkg) != 0) {
        path = d->to;
    }
    first = strcspn(path + 1, "/");
    rest = path + 1 + first;
    for (size_t i = 0; i < b->aliases.n; i++) {
        const struct alias *a = (const struct alias *) b->aliases.v + i;

        if (strlen(a->name) == first &&
            strncmp(a->name, path + 1, first) == 0) {
            return asprintf(&out, "%s%s", a->to, rest) < 0 ? NULL : out;
        }
    }
    return strdup(path);
}

/* Add the paths of one file list, owned as @p own. */
static int
add_list(struct builder *b, const char *pkg, char *data, unsigned char own)
{
    char *p = data, *line;

    while ((line = next_line(&p)) != NULL) {
        size_t n = strlen(line);
        struct pathent *e;

        while (n > 1 && line[n - 1] == '/') {
            line[--n] = '\0';
        }
        if (*line != '/' || line[1] == '\0' || strcmp(line, "/.") == 0) {
            continue;
        }
        e = vec_push(&b->paths);
        if (e == NULL || (e->path = path_resolve(b, pkg, line)) == NULL) {
            return -ENOMEM;
        }
        e->own = own;
        e->collapses = -1;
    }
    return 0;
}

/* Read info/@p file, the list of package @p pkg, if it is installed. */
static int
read_list(struct builder *b, const char *file, const char *pkg)
{
    char name[PATH_MAX];
    char *data = NULL;
    bool unneeded;
    int rc;

    if (vec_find(&b->packages, &pkg, cmp_string) == NULL) {
        return 0; /* a list left behind by a purged package */
    }
    snprintf(name, sizeof(name), DPKG_DIR "/info/%s", file);
    rc = read_db_file(b, name, &data, false);
    unneeded = package_unneeded(b, pkg);
    if (rc == 0) {
        rc = add_list(b, pkg, data, unneeded ? OWN_UNNEEDED : OWN_NEEDED);
    }
    free(data);
    return rc;
}

/* Every PACKAGE[:ARCH].list of the info directory. */
static int
read_lists(struct builder *b)
{
    char dir[PATH_MAX];
    char **names = NULL;
    size_t n = 0;
    int fd, rc = 0;

    root_path(b, DPKG_DIR "/info", dir, sizeof(dir));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = fd < 0 ? -errno : vcha_file_names_at(fd, true, &names, &n);
    if (fd >= 0) {
        close(fd);
    }
    if (rc < 0) {
        return fail(b, rc, "cannot read %s: %s", dir, strerror(-rc));
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strlen(names[i]);
        char pkg[NAME_MAX + 1];

        if (len <= 5 || strcmp(names[i] + len - 5, ".list") != 0) {
            continue;
        }
        snprintf(pkg, sizeof(pkg), "%.*s", (int) (len - 5), names[i]);
        pkg[strcspn(pkg, ":")] = '\0';
        rc = read_list(b, names[i], pkg);
    }
    vcha_file_names_free(names);
    return rc;
}

/* Sort the paths and merge each path's owners into one entry. */
static void
paths_merge(struct builder *b)
{
    struct pathent *v = b->paths.v;
    size_t kept = 0;

    vec_sort(&b->paths, cmp_pathent);
    for (size_t i = 0; i < b->paths.n; i++) {
        if (kept > 0 && strcmp(v[kept - 1].path, v[i].path) == 0) {
            v[kept - 1].own |= v[i].own;
            free(v[i].path);
        } else {
            v[kept++] = v[i];
        }
    }
    b->paths.n = kept;
}

/* ------------------------------------------------------------ the walk */

static struct pathent *
path_find(const struct builder *b, const char *path)
{
    struct pathent key = {.path = (char *) path};

    return vec_find(&b->paths, &key, cmp_pathent);
}

/* lstat() ROOT@p path: 0, 1 when it is not there, or a negative errno. */
static int
root_lstat(struct builder *b, const char *path, struct stat *st)
{
    char full[PATH_MAX];

    if (!root_path(b, path, full, sizeof(full))) {
        return fail(b, -ENAMETOOLONG, "path too long: %s%s", b->root, path);
    }
    if (lstat(full, st) == 0) {
        return 0;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        return 1;
    }
    return fail(b, -errno, "cannot stat %s: %s", full, strerror(errno));
}

static bool dir_collapses(struct builder *b, struct pathent *e);

/* Whether the entry @p name of directory @p dir may go with it. */
static bool
child_collapses(struct builder *b, const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct pathent *c;
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
        (int) sizeof(path)) {
        return false;
    }
    c = path_find(b, path);
    if (c == NULL || c->own != OWN_UNNEEDED || root_lstat(b, path, &st)) {
        return false; /* no package's, a needed one's, or gone */
    }
    return !S_ISDIR(st.st_mode) || dir_collapses(b, c);
}

/*
 * Whether the directory of @p e may be excluded whole: everything really
 * in it belongs to unneeded packages only, all the way down.
 */
static bool
dir_collapses(struct builder *b, struct pathent *e)
{
    char full[PATH_MAX];
    struct dirent *de;
    bool all = true;
    DIR *d;

    if (e->collapses >= 0) {
        return e->collapses;
    }
    if (!root_path(b, e->path, full, sizeof(full)) ||
        (d = opendir(full)) == NULL) {
        e->collapses = 0;
        return false;
    }
    while (all && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            all = child_collapses(b, e->path, de->d_name);
        }
    }
    closedir(d);
    e->collapses = all;
    return all;
}

static int
add_rule(struct vec *rules, const char *path, size_t len, enum rule_kind kind)
{
    struct rule *r = vec_push(rules);

    if (r == NULL || (r->path = strndup(path, len)) == NULL) {
        return -ENOMEM;
    }
    r->kind = kind;
    return 0;
}

/*
 * Seed 000's walk: every path of the unneeded packages in order; one of
 * theirs alone and on disk is excluded, a directory with all below it when
 * it collapses, and what lies below an excluded directory is skipped.
 */
static int
walk(struct builder *b)
{
    const char *cover = NULL;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < b->paths.n; i++) {
        struct pathent *e = (struct pathent *) b->paths.v + i;
        struct stat st;

        if (!(e->own & OWN_UNNEEDED)) {
            continue;
        }
        b->n_paths++;
        if ((cover != NULL && path_under(e->path, cover)) ||
            e->own != OWN_UNNEEDED) {
            continue;
        }
        rc = root_lstat(b, e->path, &st);
        if (rc != 0) {
            rc = rc > 0 ? 0 : rc; /* listed but not there: skipped */
        } else if (!S_ISDIR(st.st_mode)) {
            rc = add_rule(&b->excludes, e->path, strlen(e->path), RULE_FILE);
        } else if (dir_collapses(b, e)) {
            rc = add_rule(&b->excludes, e->path, strlen(e->path), RULE_DIR);
            cover = e->path;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ rules */

/* Length of @p pattern without trailing '/' (but the first). */
static size_t
trimmed_len(const char *pattern)
{
    size_t n = strlen(pattern);

    while (n > 1 && pattern[n - 1] == '/') {
        n--;
    }
    return n;
}

/*
 * A rule for @p pattern as an administrator writes it: a path ending in
 * "/" "***" is a directory and all below it, one with wildcards is passed
 * on as it is, a plain path is a file, or a directory with all below it
 * when it is one under ROOT.
 */
static int
add_pattern(struct builder *b, const char *pattern)
{
    size_t n = trimmed_len(pattern);
    struct stat st;
    char *body;
    int rc;

    if (n >= 4 && strncmp(pattern + n - 4, "/***", 4) == 0) {
        bool wild = strcspn(pattern, "*?[") < n - 4;

        return add_rule(&b->excludes, pattern, wild ? n : n - 4,
                        wild ? RULE_PATTERN : RULE_DIR);
    }
    if (has_wildcard(pattern)) {
        return add_rule(&b->excludes, pattern, n, RULE_PATTERN);
    }
    body = strndup(pattern, n);
    rc = body == NULL ? -ENOMEM : root_lstat(b, body, &st);
    free(body);
    if (rc < 0) {
        return rc;
    }
    return add_rule(&b->excludes, pattern, n,
                    rc == 0 && S_ISDIR(st.st_mode) ? RULE_DIR : RULE_FILE);
}

static int
add_patterns(struct builder *b, const char *const *patterns)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && patterns && patterns[i]; i++) {
        rc = add_pattern(b, patterns[i]);
    }
    return rc;
}

/* Order: by path, and of one path a directory first. */
static int
cmp_rule_kind(const void *a, const void *b)
{
    int c = cmp_rule(a, b);

    return c != 0 ? c
                  : (int) ((const struct rule *) a)->kind -
                        (int) ((const struct rule *) b)->kind;
}

/* @p path, or one of its parent directories when @p parents, matches. */
static bool
pattern_matches(const char *pattern, const char *path, bool parents)
{
    char copy[PATH_MAX];
    char *slash;

    if (fnmatch(pattern, path, FNM_PATHNAME) == 0) {
        return true;
    }
    if (!parents ||
        snprintf(copy, sizeof(copy), "%s", path) >= (int) sizeof(copy)) {
        return false;
    }
    while ((slash = strrchr(copy, '/')) != NULL && slash != copy) {
        *slash = '\0';
        if (fnmatch(pattern, copy, FNM_PATHNAME) == 0) {
            return true;
        }
    }
    return false;
}

/* An include beats the exclusion of @p path: it is at or below one. */
static bool
included(const struct builder *b, const char *path)
{
    const char *const *inc = b->spec->include;

    for (size_t i = 0; inc != NULL && inc[i] != NULL; i++) {
        char *body = strndup(inc[i], trimmed_len(inc[i]));
        size_t n = body ? strlen(body) : 0;
        bool hit;

        if (n >= 4 && strcmp(body + n - 4, "/***") == 0) {
            body[n > 4 ? n - 4 : 1] = '\0';
        }
        hit = body != NULL &&
              (has_wildcard(body) ? pattern_matches(body, path, true)
                                  : path_under(path, body));
        free(body);
        if (hit) {
            return true;
        }
    }
    return false;
}

/*
 * Whether rule @p r adds nothing: its path is below a directory excluded
 * whole (@p cover), matched by a wildcard rule (or, with no include that
 * could open a parent again, a parent is), or included.
 */
static bool
rule_redundant(const struct builder *b, const struct rule *r, const char *cover)
{
    const struct rule *v = b->excludes.v;
    bool parents = b->spec->include == NULL || b->spec->include[0] == NULL;

    if (cover != NULL && path_under(r->path, cover)) {
        return true;
    }
    if (r->kind == RULE_PATTERN) {
        return false;
    }
    for (size_t i = 0; i < b->excludes.n; i++) {
        if (v[i].kind == RULE_PATTERN &&
            pattern_matches(v[i].path, r->path, parents)) {
            return true;
        }
    }
    return included(b, r->path);
}

/* Sort the exclusions and drop those that add nothing. */
static void
rules_compact(struct builder *b)
{
    struct rule *v = b->excludes.v;
    const char *cover = NULL;
    size_t kept = 0;

    vec_sort(&b->excludes, cmp_rule_kind);
    for (size_t i = 0; i < b->excludes.n; i++) {
        if (rule_redundant(b, &v[i], cover)) {
            v[i].kind = RULE_FILE; /* dropped below */
            v[i].path[0] = '\0';
            continue;
        }
        if (v[i].kind == RULE_DIR) {
            cover = v[i].path;
        }
    }
    for (size_t i = 0; i < b->excludes.n; i++) {
        if (v[i].path[0] == '\0') {
            free(v[i].path);
        } else {
            v[kept++] = v[i];
        }
    }
    b->excludes.n = kept;
}

/* ------------------------------------------------------------ output */

/*
 * "@p sign @p path@p suffix": a literal path is escaped when the pattern
 * would hold wildcards, which is when rsync reads backslashes as escapes.
 */
static char *
render(const char *sign, const char *path, size_t len, bool literal,
       const char *suffix)
{
    char *out = NULL, *o;
    bool escape =
        literal && (strpbrk(suffix, "*") != NULL || strcspn(path, "*?[") < len);

    if ((out = malloc(strlen(sign) + 2 * len + strlen(suffix) + 1)) == NULL) {
        return NULL;
    }
    o = stpcpy(out, sign);
    for (size_t i = 0; i < len; i++) {
        if (escape && strchr("*?[\\", path[i]) != NULL) {
            *o++ = '\\';
        }
        *o++ = path[i];
    }
    strcpy(o, suffix);
    return out;
}

/* The lines of one include: its parent directories, then itself. */
static int
include_lines(struct vec *lines, const char *pattern)
{
    size_t n = trimmed_len(pattern);
    bool literal;
    int rc = 0;

    if (n >= 4 && strncmp(pattern + n - 4, "/***", 4) == 0) {
        n = n > 4 ? n - 4 : 1;
    }
    literal = strcspn(pattern, "*?[") >= n;
    for (size_t i = 1; rc == 0 && i < n; i++) {
        if (pattern[i] == '/') {
            rc = push_string(lines, render("+ ", pattern, i, literal, "/"));
        }
    }
    if (rc == 0) {
        rc = push_string(lines, render("+ ", pattern, n, literal, ""));
    }
    if (rc == 0 && !(n == 1 && *pattern == '/')) {
        rc = push_string(lines, render("+ ", pattern, n, literal, "/***"));
    }
    return rc;
}

static int
cmp_line(const void *a, const void *b)
{
    return path_cmp(*(char *const *) a, *(char *const *) b);
}

/* The includes, sorted, each line once. */
static int
lines_includes(struct builder *b)
{
    const char *const *inc = b->spec->include;
    char **v;
    size_t kept = 0;
    int rc = 0;

    for (size_t i = 0; rc == 0 && inc != NULL && inc[i] != NULL; i++) {
        rc = include_lines(&b->lines, inc[i]);
    }
    v = b->lines.v;
    vec_sort(&b->lines, cmp_line);
    for (size_t i = 0; i < b->lines.n; i++) {
        if (kept > 0 && strcmp(v[kept - 1], v[i]) == 0) {
            free(v[i]);
        } else {
            v[kept++] = v[i];
        }
    }
    b->lines.n = kept;
    return rc;
}

static int
lines_excludes(struct builder *b)
{
    const struct rule *v = b->excludes.v;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < b->excludes.n; i++) {
        size_t n = strlen(v[i].path);

        rc = push_string(&b->lines,
                         v[i].kind == RULE_PATTERN
                             ? render("- ", v[i].path, n, false, "")
                             : render("- ", v[i].path, n, true,
                                      v[i].kind == RULE_DIR ? "/***" : ""));
        b->n_excluded++;
    }
    return rc;
}

/* ------------------------------------------------------------ the whole */

static bool
all_absolute(const char *const *paths)
{
    for (size_t i = 0; paths != NULL && paths[i] != NULL; i++) {
        if (paths[i][0] != '/') {
            return false;
        }
    }
    return true;
}

static int
builder_init(struct builder *b)
{
    const struct vcha_excludes_spec *s = b->spec;
    size_t n;

    b->packages.size = b->lines.size = sizeof(char *);
    b->diversions.size = sizeof(struct diversion);
    b->aliases.size = sizeof(struct alias);
    b->paths.size = sizeof(struct pathent);
    b->excludes.size = sizeof(struct rule);
    if (s == NULL || s->root == NULL || s->root[0] != '/') {
        return fail(b, -EINVAL, "the root must be an absolute path");
    }
    if (!all_absolute(s->exclude) || !all_absolute(s->include)) {
        return fail(b, -EINVAL, "excludes and includes must be absolute");
    }
    n = trimmed_len(s->root);
    if (n >= sizeof(b->root)) {
        return fail(b, -ENAMETOOLONG, "root too long: %s", s->root);
    }
    snprintf(b->root, sizeof(b->root), "%.*s",
             (int) (s->root[n - 1] == '/' ? 0 : n), s->root);
    return 0;
}

static void
strings_free(struct vec *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(((char **) a->v)[i]);
    }
    free(a->v);
}

static void
builder_free(struct builder *b)
{
    struct diversion *d = b->diversions.v;
    struct alias *a = b->aliases.v;
    struct pathent *p = b->paths.v;
    struct rule *r = b->excludes.v;

    for (size_t i = 0; i < b->diversions.n; i++) {
        free(d[i].from);
        free(d[i].to);
        free(d[i].by);
    }
    for (size_t i = 0; i < b->aliases.n; i++) {
        free(a[i].name);
        free(a[i].to);
    }
    for (size_t i = 0; i < b->paths.n; i++) {
        free(p[i].path);
    }
    for (size_t i = 0; i < b->excludes.n; i++) {
        free(r[i].path);
    }
    free(d);
    free(a);
    free(p);
    free(r);
    strings_free(&b->packages);
    strings_free(&b->lines);
}

/* Read the database and make the list. */
static int
build(struct builder *b)
{
    int rc = builder_init(b);

    if (rc == 0) {
        rc = read_status(b);
    }
    if (rc == 0) {
        rc = read_diversions(b);
    }
    if (rc == 0) {
        rc = read_aliases(b);
    }
    if (rc == 0) {
        rc = read_lists(b);
    }
    if (rc == 0) {
        paths_merge(b);
        rc = walk(b);
    }
    if (rc == 0) {
        rc = add_patterns(b, always);
    }
    if (rc == 0) {
        rc = add_patterns(b, b->spec->exclude);
    }
    if (rc == 0) {
        rules_compact(b);
        rc = lines_includes(b);
    }
    return rc == 0 ? lines_excludes(b) : rc;
}

int
vcha_excludes_build(const struct vcha_excludes_spec *spec,
                    struct vcha_excludes **out, char *why, size_t whylen)
{
    char scratch[1];
    struct builder b = {.spec = spec,
                        .why = why ? why : scratch,
                        .whylen = why ? whylen : sizeof(scratch)};
    long long t0 = vcha_now_ms();
    struct vcha_excludes *ex = NULL;
    int rc;

    *out = NULL;
    if (b.whylen > 0) {
        b.why[0] = '\0';
    }
    rc = build(&b);
    if (rc == 0 && (ex = calloc(1, sizeof(*ex))) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        for (size_t i = 0; i < b.packages.n; i++) {
            b.n_unneeded += package_unneeded(&b, ((char **) b.packages.v)[i]);
        }
        *ex = (struct vcha_excludes){
            .lines = b.lines.v,
            .n_lines = b.lines.n,
            .n_excluded = b.n_excluded,
            .n_packages = b.packages.n,
            .n_unneeded = b.n_unneeded,
            .n_paths = b.n_paths,
            .elapsed_ms = vcha_now_ms() - t0,
        };
        b.lines = (struct vec){0};
        *out = ex;
    } else if (b.whylen > 1 && b.why[0] == '\0') {
        snprintf(b.why, b.whylen, "%s", strerror(-rc));
    }
    builder_free(&b);
    return rc;
}

int
vcha_excludes_print(const struct vcha_excludes *ex, FILE *out)
{
    for (size_t i = 0; i < ex->n_lines; i++) {
        if (fprintf(out, "%s\n", ex->lines[i]) < 0) {
            return -EIO;
        }
    }
    return fflush(out) == 0 ? 0 : -EIO;
}

int
vcha_excludes_save(const struct vcha_excludes *ex, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    int rc = mem == NULL ? -ENOMEM : vcha_excludes_print(ex, mem);

    if (mem != NULL && fclose(mem) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = vcha_file_write_atomic(path, buf, len, 0644);
    }
    free(buf);
    return rc;
}

void
vcha_excludes_free(struct vcha_excludes *ex)
{
    if (ex == NULL) {
        return;
    }
    for (size_t i = 0; i < ex->n_lines; i++) {
        free(ex->lines[i]);
    }
    free(ex->lines);
    free(ex);
}
