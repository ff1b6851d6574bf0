/* vcha - a generation's files put back, checked as they are read. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/restore.h>
#include <vcha/rootfs.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* O_NONBLOCK: should a fifo stand where a file was, do not hang on it */
#define FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
#define CHUNK ((size_t) 256 << 10)
#define MAX_THREADS 8u
#define SHA_LEN 32

/* What becomes of a regular file (see plan_file()). */
enum act {
    ACT_NONE,
    ACT_KEEP,  /* the node's copy holds the listed checksum */
    ACT_HASH,  /* hash the node's copy: kept if equal, else fetched */
    ACT_FETCH, /* copy from the generation, hashed on the way */
    ACT_CHECK, /* hash the generation's file (it is used where it is) */
    ACT_LINK,  /* another name of a leader's inode */
};

/* What the node's tree holds at the path of an entry of the generation. */
struct have {
    struct stat st;
    bool present; /* with the entry's type */
};

/* (dev, ino) -> a number, open addressing. */
struct islot {
    dev_t dev;
    ino_t ino;
    size_t val;
    bool used;
};

struct itab {
    struct islot *v;
    size_t cap; /* a power of two */
};

struct restore {
    const struct vcha_gen_manifest *m;
    const struct vcha_restore_lineage *lin;
    const char *sub;
    size_t sublen;
    int gfd, dfd; /* the generation's sub-directory, the node's tree */
    long long deadline;
    struct have *have;   /* per entry of m */
    size_t *leader;      /* per 'f' entry: the first entry of its inode */
    size_t *names;       /* per leader: entries of its inode */
    size_t *same;        /* per leader: other names sharing its node inode */
    unsigned char *act;  /* per entry: enum act */
    size_t *jobs, njobs; /* entries for the threads */
    atomic_size_t next;
    atomic_int rc; /* the first failure */
    pthread_mutex_t lock;
    char *why;
    size_t whylen;
    char path[PATH_MAX]; /* of the node walk, as in the MANIFEST */
    atomic_ullong proven, hashed, hashed_bytes, fetched, fetched_bytes;
    unsigned long long linked, removed, files;
};

/* ------------------------------------------------------------ small bits */

static int __attribute__((format(printf, 3, 4)))
fail(struct restore *r, int rc, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->lock);
    if (atomic_load(&r->rc) == 0) {
        atomic_store(&r->rc, rc);
        va_start(ap, fmt);
        vsnprintf(r->why, r->whylen, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* -ECANCELED, -ETIME, another thread's failure, or 0: go on. */
static int
must_stop(struct restore *r)
{
    int rc = atomic_load(&r->rc);

    if (rc == 0 && vcha_exec_cancelled()) {
        rc = fail(r, -ECANCELED, "stopped while restoring %s", r->sub);
    } else if (rc == 0 && vcha_now_ms() >= r->deadline) {
        rc = fail(r, -ETIME, "out of time while restoring %s", r->sub);
    }
    return rc;
}

static bool
in_sub(const struct restore *r, const char *path)
{
    return strncmp(path, r->sub, r->sublen) == 0 &&
           (path[r->sublen] == '\0' || path[r->sublen] == '/');
}

/* The path of entry @p i relative to the sub-directory ("." for itself). */
static const char *
rel(const struct restore *r, size_t i)
{
    const char *p = r->m->entries[i].path;

    return p[r->sublen] == '\0' ? "." : p + r->sublen + 1;
}

static char
type_of(mode_t mode)
{
    static const struct {
        mode_t fmt;
        char letter;
    } types[] = {{S_IFREG, 'f'}, {S_IFDIR, 'd'}, {S_IFLNK, 'l'}, {S_IFCHR, 'c'},
                 {S_IFBLK, 'b'}, {S_IFIFO, 'p'}, {S_IFSOCK, 's'}};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if ((mode & S_IFMT) == types[i].fmt) {
            return types[i].letter;
        }
    }
    return '?';
}

static long long
ctime_ms(const struct stat *st)
{
    return (long long) st->st_ctim.tv_sec * 1000 +
           st->st_ctim.tv_nsec / 1000000;
}

static unsigned
threads_of(unsigned threads)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (threads == 0) {
        threads = cpus > 0 ? (unsigned) cpus : 1;
    }
    return threads > MAX_THREADS ? MAX_THREADS : threads;
}

/* The directory of @p path (relative to @p dfd) and its last name. */
static int
parent_open(int dfd, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];

    *name = slash ? slash + 1 : path;
    if (slash == NULL) {
        return dfd;
    }
    snprintf(dir, sizeof(dir), "%.*s", (int) (slash - path), path);
    return openat(dfd, dir, DIR_FLAGS);
}

static void
parent_close(int dfd, int pfd)
{
    if (pfd >= 0 && pfd != dfd) {
        close(pfd);
    }
}

/* A temporary name for entry @p i: the container cannot be using it. */
static void
tmp_name(char *buf, size_t len, size_t i)
{
    snprintf(buf, len, ".vcha-restore-%d-%zu", (int) getpid(), i);
}

/* ------------------------------------------------------------ inode table */

static int
itab_init(struct itab *t, size_t n)
{
    t->cap = 16;
    while (t->cap < 2 * n) {
        t->cap *= 2;
    }
    t->v = calloc(t->cap, sizeof(*t->v));
    return t->v == NULL ? -ENOMEM : 0;
}

/* The slot of (dev, ino), made when missing (the table never fills). */
static struct islot *
itab_slot(struct itab *t, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t) ino * 0x9e3779b97f4a7c15ULL) ^ (uint64_t) dev;
    size_t k = (size_t) (h ^ (h >> 29)) & (t->cap - 1);

    while (t->v[k].used && (t->v[k].dev != dev || t->v[k].ino != ino)) {
        k = (k + 1) & (t->cap - 1);
    }
    if (!t->v[k].used) {
        t->v[k] = (struct islot){.dev = dev, .ino = ino, .used = true};
    }
    return &t->v[k];
}

/* ------------------------------------------------------------ hashing */

/* must_stop() as vcha_sha256_copy() asks it */
static int
stop_asked(void *r)
{
    return must_stop(r);
}

/*
 * Read @p in to its end, hashing every byte, and write it to @p out too
 * (when >= 0).  *@p len: bytes read.  Stops when it must (see must_stop()).
 */
static int
pump(struct restore *r, int in, int out, unsigned char *buf,
     unsigned char h[SHA_LEN], uint64_t *len)
{
    return vcha_sha256_copy(in, out, buf, CHUNK, stop_asked, r, h, len);
}

static bool
listed(const struct vcha_gen_entry *e, const unsigned char h[SHA_LEN],
       uint64_t len)
{
    return len == e->size && memcmp(h, e->sha256, SHA_LEN) == 0;
}

/* ------------------------------------------------------------ metadata */

/*
 * Give the node's entry @p i the generation's owner, mode and mtime, where
 * they differ from @p cur (NULL: set them all).  The owner first: chown()
 * clears the set-id bits.
 */
static int
meta_set(struct restore *r, size_t i, const struct stat *cur)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    const struct stat *g = &e->st;
    const char *p = rel(r, i);
    struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, g->st_mtim};
    bool owner = !cur || cur->st_uid != g->st_uid || cur->st_gid != g->st_gid;
    int rc = 0;

    if (owner &&
        fchownat(r->dfd, p, g->st_uid, g->st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = -errno;
    }
    if (rc == 0 && e->type != 'l' &&
        (owner || (cur->st_mode & 07777) != (g->st_mode & 07777)) &&
        fchmodat(r->dfd, p, g->st_mode & 07777, 0) < 0) {
        rc = -errno;
    }
    if (rc == 0 &&
        (!cur || cur->st_mtim.tv_sec != g->st_mtim.tv_sec ||
         cur->st_mtim.tv_nsec != g->st_mtim.tv_nsec) &&
        utimensat(r->dfd, p, t, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = -errno;
    }
    return rc < 0 ? fail(r, rc, "%s/%s: %s", r->sub, p, strerror(-rc)) : 0;
}

static int
meta_fd(int fd, const struct stat *g)
{
    struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, g->st_mtim};

    if (fchown(fd, g->st_uid, g->st_gid) < 0 ||
        fchmod(fd, g->st_mode & 07777) < 0 || futimens(fd, t) < 0) {
        return -errno;
    }
    return 0;
}

/* ------------------------------------------------------------ jobs */

/*
 * Copy entry @p i from the generation into a temporary name beside its
 * place, hashing it, and rename it into place only when it has the
 * listed checksum.
 */
static int
job_fetch(struct restore *r, size_t i, unsigned char *buf)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    const char *p = rel(r, i), *name;
    int pfd = parent_open(r->dfd, p, &name), in = -1, out = -1, rc = 0;
    unsigned char h[SHA_LEN];
    uint64_t len = 0;
    char tmp[64];

    tmp_name(tmp, sizeof(tmp), i);
    if (pfd < 0 || (in = openat(r->gfd, p, FILE_FLAGS)) < 0) {
        rc = -errno;
    } else {
        unlinkat(pfd, tmp, 0); /* a dead restore's, with our pid */
        out = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        rc = out < 0 ? -errno : pump(r, in, out, buf, h, &len);
    }
    if (rc == 0 && !listed(e, h, len)) {
        rc = fail(r, -EBADMSG, "%s: checksum mismatch", e->path);
    }
    if (rc == 0) {
        rc = meta_fd(out, &e->st);
    }
    if (out >= 0 && close(out) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && renameat(pfd, tmp, pfd, name) < 0) {
        rc = -errno;
    }
    if (rc < 0 && out >= 0) {
        unlinkat(pfd, tmp, 0);
    }
    if (in >= 0) {
        close(in);
    }
    parent_close(r->dfd, pfd);
    if (rc == 0) {
        atomic_fetch_add(&r->fetched, 1);
        atomic_fetch_add(&r->fetched_bytes, len);
    }
    return rc < 0 ? fail(r, rc, "%s: %s", e->path, strerror(-rc)) : 0;
}

/* Whether the node's copy of entry @p i has the listed checksum. */
static bool
job_hash(struct restore *r, size_t i, unsigned char *buf)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    int fd = openat(r->dfd, rel(r, i), FILE_FLAGS);
    unsigned char h[SHA_LEN];
    uint64_t len = 0;
    struct stat st;
    bool same = false;

    if (fd < 0) {
        return false;
    }
    if (fstat(fd, &st) == 0 && st.st_ino == r->have[i].st.st_ino &&
        st.st_dev == r->have[i].st.st_dev &&
        pump(r, fd, -1, buf, h, &len) == 0) {
        same = listed(e, h, len);
        atomic_fetch_add(&r->hashed_bytes, len);
    }
    close(fd);
    return same;
}

/* The generation's own file of entry @p i has the listed checksum. */
static int
job_check(struct restore *r, size_t i, unsigned char *buf)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    int fd = openat(r->gfd, rel(r, i), FILE_FLAGS), rc;
    unsigned char h[SHA_LEN];
    uint64_t len = 0;

    rc = fd < 0 ? -errno : pump(r, fd, -1, buf, h, &len);
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0 && !listed(e, h, len)) {
        return fail(r, -EBADMSG, "%s: checksum mismatch", e->path);
    }
    atomic_fetch_add(&r->fetched_bytes, len);
    return rc < 0 ? fail(r, rc, "%s: %s", e->path, strerror(-rc)) : 0;
}

static int
job_run(struct restore *r, size_t i, unsigned char *buf)
{
    if (r->act[i] == ACT_CHECK) {
        return job_check(r, i, buf);
    }
    if (r->act[i] == ACT_HASH && job_hash(r, i, buf)) {
        r->act[i] = ACT_KEEP;
        atomic_fetch_add(&r->hashed, 1);
        return meta_set(r, i, &r->have[i].st);
    }
    if (atomic_load(&r->rc) != 0) {
        return atomic_load(&r->rc);
    }
    r->act[i] = ACT_FETCH;
    return job_fetch(r, i, buf);
}

static void *
worker(void *arg)
{
    struct restore *r = arg;
    unsigned char *buf = malloc(CHUNK);
    size_t k;

    if (buf == NULL) {
        fail(r, -ENOMEM, "out of memory");
        return NULL;
    }
    while (atomic_load(&r->rc) == 0 &&
           (k = atomic_fetch_add(&r->next, 1)) < r->njobs) {
        job_run(r, r->jobs[k], buf);
    }
    free(buf);
    return NULL;
}

/*
 * Run the jobs on @p threads threads, this one included; @p side (may be
 * NULL) runs first on this one, beside the others.  Returns the first
 * failure of a job, or else @p side's.
 */
static int
pool_run(struct restore *r, unsigned threads, int (*side)(void *), void *arg)
{
    pthread_t t[MAX_THREADS];
    unsigned n = threads_of(threads), started = 0;
    int side_rc = 0, rc;

    for (unsigned k = 1; k < n && k < r->njobs; k++) {
        if (pthread_create(&t[started], NULL, worker, r) == 0) {
            started++;
        }
    }
    if (side != NULL) {
        side_rc = side(arg);
    }
    worker(r);
    for (unsigned k = 0; k < started; k++) {
        pthread_join(t[k], NULL);
    }
    rc = atomic_load(&r->rc);
    return rc < 0 ? rc : side_rc;
}

/* ------------------------------------------------------------ set-up */

static int
restore_init(struct restore *r, const struct vcha_gen_manifest *m,
             const char *sub, long long deadline, char *why, size_t whylen)
{
    char *from = NULL;

    *r = (struct restore){.m = m,
                          .sub = sub,
                          .sublen = strlen(sub),
                          .gfd = -1,
                          .dfd = -1,
                          .deadline = deadline,
                          .why = why,
                          .whylen = whylen};
    pthread_mutex_init(&r->lock, NULL);
    why[0] = '\0';
    r->have = calloc(m->n + 1, sizeof(*r->have));
    r->leader = calloc(m->n + 1, sizeof(*r->leader));
    r->names = calloc(m->n + 1, sizeof(*r->names));
    r->same = calloc(m->n + 1, sizeof(*r->same));
    r->act = calloc(m->n + 1, 1);
    r->jobs = calloc(m->n + 1, sizeof(*r->jobs));
    if (!r->have || !r->leader || !r->names || !r->same || !r->act ||
        !r->jobs || asprintf(&from, "%s/%s", m->info.path, sub) < 0) {
        return fail(r, -ENOMEM, "out of memory");
    }
    r->gfd = open(from, DIR_FLAGS);
    free(from);
    if (r->gfd < 0) {
        return fail(r, -errno, "%s/%s: %s", m->info.path, sub, strerror(errno));
    }
    return 0;
}

static void
restore_clear(struct restore *r)
{
    free(r->have);
    free(r->leader);
    free(r->names);
    free(r->same);
    free(r->act);
    free(r->jobs);
    if (r->gfd >= 0) {
        close(r->gfd);
    }
    if (r->dfd >= 0) {
        close(r->dfd);
    }
    pthread_mutex_destroy(&r->lock);
}

/* ------------------------------------------------------------ the tree */

static int node_dir(struct restore *r, int fd, size_t len);

/*
 * One entry of the node's directory @p fd, at r->path: removed when the
 * generation does not hold it with the same type, else noted.
 */
static int
node_entry(struct restore *r, int fd, const char *name, size_t len)
{
    const struct vcha_gen_entry *e = vcha_gen_manifest_find(r->m, r->path);
    struct stat st;
    int sub, rc = 0;

    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT
                   ? 0
                   : fail(r, -errno, "%s: %s", r->path, strerror(errno));
    }
    if (e == NULL || e->type != type_of(st.st_mode)) {
        r->removed++;
        rc = vcha_file_remove_tree_at(fd, name);
        return rc < 0 ? fail(r, rc, "removing %s: %s", r->path, strerror(-rc))
                      : 0;
    }
    r->have[e - r->m->entries] = (struct have){.st = st, .present = true};
    if (!S_ISDIR(st.st_mode)) {
        return 0;
    }
    sub = openat(fd, name, DIR_FLAGS);
    if (sub < 0) {
        return fail(r, -errno, "%s: %s", r->path, strerror(errno));
    }
    rc = node_dir(r, sub, len);
    close(sub);
    return rc;
}

/* The node's directory @p fd, whose path (as in the MANIFEST) is r->path. */
static int
node_dir(struct restore *r, int fd, size_t len)
{
    char **names = NULL;
    size_t n = 0;
    int rc = vcha_file_names_at(fd, false, &names, &n);

    if (rc < 0) {
        fail(r, rc, "listing %s: %s", r->path, strerror(-rc));
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int k = snprintf(r->path + len, sizeof(r->path) - len, "/%s", names[i]);

        if ((rc = must_stop(r)) < 0) {
            break;
        }
        if (k < 0 || (size_t) k >= sizeof(r->path) - len) {
            rc = fail(r, -ENAMETOOLONG, "%s: a path too long", r->path);
        } else {
            rc = node_entry(r, fd, names[i], len + (size_t) k);
        }
        r->path[len] = '\0';
    }
    vcha_file_names_free(names);
    return rc;
}

/* Walk the node's tree: remove what the generation does not hold. */
static int
node_walk(struct restore *r, const char *dst)
{
    const struct vcha_gen_entry *top = vcha_gen_manifest_find(r->m, r->sub);
    struct stat st;

    if (top == NULL || top->type != 'd') {
        return fail(r, -EBADMSG, "%s: not a directory of the generation",
                    r->sub);
    }
    if (mkdir(dst, 0700) < 0 && errno != EEXIST) {
        return fail(r, -errno, "%s: %s", dst, strerror(errno));
    }
    r->dfd = open(dst, DIR_FLAGS);
    if (r->dfd < 0 || fstat(r->dfd, &st) < 0) {
        return fail(r, -errno, "%s: %s", dst, strerror(errno));
    }
    r->have[top - r->m->entries] = (struct have){.st = st, .present = true};
    snprintf(r->path, sizeof(r->path), "%s", r->sub);
    return node_dir(r, r->dfd, r->sublen);
}

/*
 * The files that share an inode in the generation: the first of each
 * (in path order) leads, the others are linked to it.  For each leader,
 * how many names its inode has in the generation (names) and how many of
 * them share the leader's inode on the node too (same).
 */
static int
groups(struct restore *r, struct itab *nodes)
{
    struct itab gen;
    int rc = itab_init(&gen, r->m->n);

    if (rc == 0) {
        rc = itab_init(nodes, r->m->n);
    }
    for (size_t i = 0; rc == 0 && i < r->m->n; i++) {
        const struct stat *g = &r->m->entries[i].st;
        struct islot *s;

        if (r->m->entries[i].type != 'f' || !in_sub(r, r->m->entries[i].path)) {
            continue;
        }
        s = itab_slot(&gen, g->st_dev, g->st_ino);
        if (s->val == 0) {
            s->val = i + 1;
        }
        r->leader[i] = s->val - 1;
        r->names[r->leader[i]]++;
        r->files++;
        if (r->have[i].present) {
            itab_slot(nodes, r->have[i].st.st_dev, r->have[i].st.st_ino)->val++;
        }
    }
    for (size_t i = 0; rc == 0 && i < r->m->n; i++) {
        size_t l = r->leader[i];

        if (l != i && r->m->entries[i].type == 'f' && r->have[i].present &&
            r->have[l].present &&
            r->have[i].st.st_ino == r->have[l].st.st_ino &&
            r->have[i].st.st_dev == r->have[l].st.st_dev) {
            r->same[l]++;
        }
    }
    free(gen.v);
    return rc < 0 ? fail(r, rc, "out of memory") : 0;
}

/* Whether the node's lineage proves leader @p i to hold its checksum. */
static bool
proven(const struct restore *r, size_t i)
{
    const struct vcha_gen_entry *e = &r->m->entries[i], *p;

    if (r->lin == NULL || r->lin->prev == NULL || r->lin->since_ms <= 0) {
        return false;
    }
    p = vcha_gen_manifest_find(r->lin->prev, e->path);
    return p != NULL && p->type == 'f' && p->size == e->size &&
           memcmp(p->sha256, e->sha256, SHA_LEN) == 0 &&
           ctime_ms(&r->have[i].st) <
               r->lin->since_ms - VCHA_ROOTFS_CLOCK_MARGIN_MS;
}

/*
 * What becomes of regular file @p i.  The node's copy can be kept only
 * when its inode has exactly the names the generation's has, no other
 * (none outside the tree either: its mode or owner could not be set
 * without changing that other name).
 */
static void
plan_file(struct restore *r, struct itab *nodes, size_t i)
{
    const struct have *h = &r->have[i];
    size_t k = r->names[i];

    if (r->leader[i] != i) {
        r->act[i] = ACT_LINK;
        return;
    }
    if (!h->present || (uint64_t) h->st.st_size != r->m->entries[i].size ||
        r->same[i] + 1 != k || (size_t) h->st.st_nlink != k ||
        itab_slot(nodes, h->st.st_dev, h->st.st_ino)->val != k) {
        r->act[i] = ACT_FETCH;
    } else {
        r->act[i] = proven(r, i) ? ACT_KEEP : ACT_HASH;
    }
    if (r->act[i] == ACT_KEEP) {
        atomic_fetch_add(&r->proven, 1);
        meta_set(r, i, &h->st);
    } else {
        r->jobs[r->njobs++] = i;
    }
}

/* Entry @p i made (from @p target, or as a node) under a temporary name. */
static int
special_make(struct restore *r, size_t i, int pfd, const char *tmp)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    mode_t type = e->st.st_mode & S_IFMT;

    unlinkat(pfd, tmp, 0);
    if (e->type == 'l') {
        return symlinkat(e->target, pfd, tmp) < 0 ? -errno : 0;
    }
    return mknodat(pfd, tmp, type | 0600, makedev(e->major, e->minor)) < 0
               ? -errno
               : 0;
}

/* Whether the node's symbolic link or device node @p i is the listed one. */
static bool
special_same(struct restore *r, size_t i)
{
    const struct vcha_gen_entry *e = &r->m->entries[i];
    char target[PATH_MAX];
    ssize_t n;

    if (!r->have[i].present) {
        return false;
    }
    if (e->type == 'c' || e->type == 'b') {
        return major(r->have[i].st.st_rdev) == e->major &&
               minor(r->have[i].st.st_rdev) == e->minor;
    }
    if (e->type != 'l') {
        return true;
    }
    n = readlinkat(r->dfd, rel(r, i), target, sizeof(target) - 1);
    return n >= 0 && (target[n] = '\0', strcmp(target, e->target) == 0);
}

/* A symbolic link, device node, fifo or socket @p i. */
static int
special_put(struct restore *r, size_t i)
{
    const char *name;
    char tmp[64];
    int pfd, rc;

    if (special_same(r, i)) {
        return meta_set(r, i, &r->have[i].st);
    }
    pfd = parent_open(r->dfd, rel(r, i), &name);
    tmp_name(tmp, sizeof(tmp), i);
    rc = pfd < 0 ? -errno : special_make(r, i, pfd, tmp);
    if (rc == 0 && renameat(pfd, tmp, pfd, name) < 0) {
        rc = -errno;
        unlinkat(pfd, tmp, 0);
    }
    parent_close(r->dfd, pfd);
    if (rc < 0) {
        return fail(r, rc, "%s: %s", r->m->entries[i].path, strerror(-rc));
    }
    return meta_set(r, i, NULL);
}

/*
 * In path order (a directory before what it holds): the directories made,
 * the other entries put, the regular files planned.
 */
static int
plan(struct restore *r, struct itab *nodes)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->m->n; i++) {
        const struct vcha_gen_entry *e = &r->m->entries[i];

        if (!in_sub(r, e->path) || (rc = must_stop(r)) < 0) {
            continue;
        }
        if (e->type == 'f') {
            plan_file(r, nodes, i);
        } else if (e->type == 'd' && !r->have[i].present &&
                   mkdirat(r->dfd, rel(r, i), 0700) < 0) {
            rc = fail(r, -errno, "%s: %s", e->path, strerror(errno));
        } else if (e->type != 'd') {
            rc = special_put(r, i);
        }
        rc = rc < 0 ? rc : atomic_load(&r->rc);
    }
    return rc;
}

/* Every other name of a file fetched: a link to its leader. */
static int
links_put(struct restore *r)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->m->n; i++) {
        const char *name;
        char tmp[64];
        int pfd;

        if (r->act[i] != ACT_LINK || r->act[r->leader[i]] == ACT_KEEP) {
            continue;
        }
        pfd = parent_open(r->dfd, rel(r, i), &name);
        tmp_name(tmp, sizeof(tmp), i);
        if (pfd >= 0) {
            unlinkat(pfd, tmp, 0);
        }
        rc = pfd < 0 || linkat(r->dfd, rel(r, r->leader[i]), pfd, tmp, 0) < 0
                 ? -errno
                 : 0;
        if (rc == 0 && renameat(pfd, tmp, pfd, name) < 0) {
            rc = -errno;
            unlinkat(pfd, tmp, 0);
        }
        parent_close(r->dfd, pfd);
        if (rc < 0) {
            rc = fail(r, rc, "%s: %s", r->m->entries[i].path, strerror(-rc));
        }
        r->linked++;
    }
    return rc;
}

/* The directories' owners, modes and times, each after what it holds. */
static int
dirs_finish(struct restore *r)
{
    int rc = 0;

    for (size_t i = r->m->n; rc == 0 && i-- > 0;) {
        struct stat st;

        if (r->m->entries[i].type != 'd' || !in_sub(r, r->m->entries[i].path)) {
            continue;
        }
        if (fstatat(r->dfd, rel(r, i), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = fail(r, -errno, "%s: %s", r->m->entries[i].path,
                      strerror(errno));
        } else {
            rc = meta_set(r, i, &st);
        }
    }
    return rc;
}

static void
stats_give(const struct restore *r, struct vcha_restore_stats *s)
{
    *s = (struct vcha_restore_stats){
        .files = r->files,
        .proven = atomic_load(&r->proven),
        .hashed = atomic_load(&r->hashed),
        .hashed_bytes = atomic_load(&r->hashed_bytes),
        .fetched = atomic_load(&r->fetched),
        .fetched_bytes = atomic_load(&r->fetched_bytes),
        .linked = r->linked,
        .removed = r->removed,
    };
}

int
vcha_restore_tree(const struct vcha_gen_manifest *m, const char *sub,
                  const char *dst, const struct vcha_restore_lineage *lin,
                  unsigned threads, long long deadline,
                  struct vcha_restore_stats *stats, char *why, size_t whylen)
{
    struct restore r;
    struct itab nodes = {0};
    int rc = restore_init(&r, m, sub, deadline, why, whylen);

    r.lin = lin;
    if (rc == 0) {
        rc = node_walk(&r, dst);
    }
    if (rc == 0) {
        rc = groups(&r, &nodes);
    }
    if (rc == 0) {
        rc = plan(&r, &nodes);
    }
    if (rc == 0) {
        rc = pool_run(&r, threads, NULL, NULL);
    }
    if (rc == 0) {
        rc = links_put(&r);
    }
    if (rc == 0) {
        rc = dirs_finish(&r);
    }
    if (stats != NULL) {
        stats_give(&r, stats);
    }
    free(nodes.v);
    restore_clear(&r);
    return rc;
}

/* ------------------------------------------------------------ flat files */

/* zstd decompressing NAME.zst files, while the threads hash them. */
struct unzst {
    struct restore *r;
    const char **argv;
    int rc;
    char why[512];
};

static int
unzst_run(void *arg)
{
    struct unzst *u = arg;

    u->rc = vcha_exec_until(u->argv, u->r->deadline, u->why, sizeof(u->why));
    return u->rc;
}

/* Where the checker of a file used in place finds it: a link, or a copy. */
static int
file_plan(struct restore *r, size_t i, bool hard, const char **argv, size_t *nz)
{
    const char *name = rel(r, i);
    size_t len = strlen(name);

    if (strchr(name, '/') != NULL) {
        return fail(r, -EBADMSG, "%s: not a file of %s", r->m->entries[i].path,
                    r->sub);
    }
    r->jobs[r->njobs++] = i;
    r->act[i] = ACT_FETCH;
    if (len > 4 && strcmp(name + len - 4, ".zst") == 0) {
        argv[(*nz)++] = r->m->entries[i].path;
        r->act[i] = ACT_CHECK;
    } else if (hard && linkat(r->gfd, name, r->dfd, name, 0) == 0) {
        r->act[i] = ACT_CHECK;
    } else if (hard && errno != EXDEV && errno != EPERM &&
               errno != EOPNOTSUPP && errno != EMLINK) {
        return fail(r, -errno, "linking %s: %s", r->m->entries[i].path,
                    strerror(errno));
    }
    return 0;
}

/* zstd's arguments: relative to the generation, which it runs in. */
static int
files_plan(struct restore *r, bool hard, const char **argv, size_t *nz)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->m->n; i++) {
        const char *p = r->m->entries[i].path;

        if (r->m->entries[i].type == 'f' && in_sub(r, p) &&
            p[r->sublen] == '/') {
            rc = file_plan(r, i, hard, argv, nz);
        }
    }
    return rc;
}

int
vcha_restore_files(const struct vcha_gen_manifest *m, const char *sub,
                   const char *to, bool hard, unsigned threads,
                   long long deadline, char *why, size_t whylen)
{
    const char *head[] = {"zstd", "-d", "-q", "--output-dir-flat", to};
    const size_t nh = sizeof(head) / sizeof(head[0]);
    struct restore r;
    struct unzst u = {.r = &r};
    char **paths = NULL;
    size_t nz = 0;
    int rc = restore_init(&r, m, sub, deadline, why, whylen);

    u.argv = calloc(m->n + nh + 1, sizeof(*u.argv));
    if (rc == 0 && u.argv == NULL) {
        rc = fail(&r, -ENOMEM, "out of memory");
    }
    if (rc == 0 && (r.dfd = open(to, DIR_FLAGS)) < 0) {
        rc = fail(&r, -errno, "%s: %s", to, strerror(errno));
    }
    if (rc == 0) {
        memcpy(u.argv, head, sizeof(head));
        rc = files_plan(&r, hard, u.argv + nh, &nz);
    }
    /* zstd reads the generation's files by their full paths */
    paths = rc == 0 ? calloc(nz + 1, sizeof(*paths)) : NULL;
    for (size_t k = 0; paths != NULL && k < nz; k++) {
        if (asprintf(&paths[k], "%s/%s", m->info.path, u.argv[nh + k]) < 0) {
            paths[k] = NULL;
            rc = fail(&r, -ENOMEM, "out of memory");
            break;
        }
        u.argv[nh + k] = paths[k];
    }
    if (rc == 0 && nz > 0 && paths == NULL) {
        rc = fail(&r, -ENOMEM, "out of memory");
    }
    if (rc == 0) {
        rc = pool_run(&r, threads, nz > 0 ? unzst_run : NULL, &u);
    }
    if (rc < 0 && rc == u.rc && atomic_load(&r.rc) == 0) {
        snprintf(why, whylen, "%s", u.why);
    }
    vcha_file_names_free(paths);
    free(u.argv);
    restore_clear(&r);
    return rc;
}
