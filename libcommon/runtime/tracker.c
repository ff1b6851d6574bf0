/*
 * vcha - the change tracker: fanotify with a filesystem mark, or inotify
 * with one watch per directory.  libc only.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <vcha/file.h>
#include <vcha/tracker.h>

/* One read() of events; a call reads at most READ_MAX of them. */
#define BUF_SIZE (64 * 1024)
#define READ_MAX (256 * BUF_SIZE)

#define FAN_EVENTS                                                             \
    (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY |    \
     FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_ONDIR)
/*
 * IN_CLOSE_WRITE as well as IN_MODIFY (and FAN_ likewise): a file written
 * through a shared mapping gets no modify event, only the close.
 * IN_EXCL_UNLINK: a file already deleted was reported by its deletion.
 */
#define IN_EVENTS                                                              \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY |         \
     IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

static uint64_t
hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    return h;
}

/* ------------------------------------------------------------ path set */

/*
 * A hash table for uniqueness and an array for order, sorted only when
 * the order is asked for: adding is O(1), and a batch of n paths costs
 * one O(n log n) sort, not n insertions into a sorted array.
 */
struct vcha_pathset {
    char **paths; /* each once; in order when @sorted */
    size_t n, cap;
    char **slots;  /* open addressing on the same strings; NULL: empty */
    size_t nslots; /* 0 or a power of two, at least 2 n */
    bool sorted;
};

struct vcha_pathset *
vcha_pathset_new(void)
{
    struct vcha_pathset *set = calloc(1, sizeof(*set));

    if (set != NULL) {
        set->sorted = true;
    }
    return set;
}

void
vcha_pathset_clear(struct vcha_pathset *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        free(set->paths[i]);
    }
    free(set->paths);
    free(set->slots);
    *set = (struct vcha_pathset){.sorted = true};
}

void
vcha_pathset_free(struct vcha_pathset *set)
{
    vcha_pathset_clear(set);
    free(set);
}

/* The slot holding @p path, or the empty slot where it would go. */
static char **
pathset_slot(char **slots, size_t nslots, const char *path)
{
    size_t i = hash_bytes(path, strlen(path)) & (nslots - 1);

    while (slots[i] != NULL && strcmp(slots[i], path) != 0) {
        i = (i + 1) & (nslots - 1);
    }
    return &slots[i];
}

static int
pathset_grow(struct vcha_pathset *set)
{
    size_t nslots = set->nslots ? set->nslots * 2 : 64;
    char **slots;
    char **paths;

    if (set->n + 1 > set->cap) {
        paths = realloc(set->paths, nslots / 2 * sizeof(*paths));
        if (paths == NULL) {
            return -ENOMEM;
        }
        set->paths = paths;
        set->cap = nslots / 2;
    }
    slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < set->n; i++) {
        *pathset_slot(slots, nslots, set->paths[i]) = set->paths[i];
    }
    free(set->slots);
    set->slots = slots;
    set->nslots = nslots;
    return 0;
}

int
vcha_pathset_add(struct vcha_pathset *set, const char *path)
{
    char **slot;
    int rc;

    if (path == NULL) {
        return -EINVAL;
    }
    if ((set->n + 1) * 2 > set->nslots) {
        rc = pathset_grow(set);
        if (rc < 0) {
            return rc;
        }
    }
    slot = pathset_slot(set->slots, set->nslots, path);
    if (*slot != NULL) {
        return 0;
    }
    *slot = strdup(path);
    if (*slot == NULL) {
        return -ENOMEM;
    }
    /* paths added in order (a merge of a sorted set) keep it sorted */
    if (set->n > 0 && strcmp(set->paths[set->n - 1], path) > 0) {
        set->sorted = false;
    }
    set->paths[set->n++] = *slot;
    return 0;
}

int
vcha_pathset_merge(struct vcha_pathset *into, const struct vcha_pathset *from)
{
    int rc;

    if (into == from) {
        return 0;
    }
    for (size_t i = 0; i < vcha_pathset_count(from); i++) {
        rc = vcha_pathset_add(into, vcha_pathset_get(from, i));
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int
vcha_pathset_add_gone(struct vcha_pathset *set, int root, const char *path)
{
    char top[PATH_MAX];

    if (strlen(path) >= sizeof(top)) {
        return -ENAMETOOLONG;
    }
    strcpy(top, path);
    for (char *s = strchr(top, '/'); s != NULL; s = strchr(s + 1, '/')) {
        int fd;

        *s = '\0';
        fd = vcha_file_open_beneath(root, top, true);
        if (fd < 0) {
            /* gone, or no longer a directory: rsync sends what is there */
            return fd == -ENOENT || fd == -ENOTDIR ? vcha_pathset_add(set, top)
                   : fd == -ELOOP || fd == -EXDEV  ? -ELOOP
                                                   : fd;
        }
        close(fd);
        *s = '/';
    }
    return vcha_pathset_add(set, path);
}

size_t
vcha_pathset_count(const struct vcha_pathset *set)
{
    return set->n;
}

static int
cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Sort @p set if a path was added out of order since.  The set's contents
 * do not change, only the order it keeps them in: const to its users.
 */
static void
pathset_sort(const struct vcha_pathset *set)
{
    struct vcha_pathset *s = (struct vcha_pathset *) set;

    if (!s->sorted) {
        qsort(s->paths, s->n, sizeof(*s->paths), cmp_path);
        s->sorted = true;
    }
}

const char *
vcha_pathset_get(const struct vcha_pathset *set, size_t i)
{
    if (i >= set->n) {
        return NULL;
    }
    pathset_sort(set);
    return set->paths[i];
}

static int
write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

int
vcha_pathset_write0(const struct vcha_pathset *set, int fd)
{
    char *buf = malloc(BUF_SIZE);
    const char *path;
    size_t used = 0, len;
    int rc = 0;

    if (buf == NULL) {
        return -ENOMEM;
    }
    pathset_sort(set);
    for (size_t i = 0; i < set->n && rc == 0; i++) {
        /* rsync skips an empty name: the root is "." to it */
        path = set->paths[i][0] != '\0' ? set->paths[i] : ".";
        len = strlen(path) + 1;
        if (used + len > BUF_SIZE) {
            rc = write_all(fd, buf, used);
            used = 0;
        }
        if (len > BUF_SIZE) {
            rc = rc ? rc : write_all(fd, path, len);
        } else {
            memcpy(buf + used, path, len);
            used += len;
        }
    }
    if (rc == 0) {
        rc = write_all(fd, buf, used);
    }
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ tracker */

/*
 * A directory handle and what it resolved to during this read.  Resolving
 * (open_by_handle_at, fstat, readlink) costs some 9-14 us an event; with
 * the cache, a burst of 10,000 events in one to a hundred directories
 * costs 1.2-1.7 us an event, and one spread over 10,000 directories no
 * more than without (tmpfs, Linux 6.18).  Kept for one read only, and
 * emptied on a directory's rename or removal: never a stale path.
 */
struct fan_ent {
    struct file_handle *fh; /* NULL: an empty slot */
    char *rel;              /* NULL: not under the root, or gone */
};

/* A power of two; cleared when half full, so that a probe always ends. */
#define FAN_CACHE_SLOTS 1024

/* A watched directory: the root (@parent 0, @name "") or an entry of one. */
struct ino_dir {
    int wd; /* 0: an empty slot (inotify numbers watches from 1) */
    int parent;
    ino_t ino;    /* to tell it from another directory at its path */
    unsigned gen; /* the crawl that last saw it */
    char *name;
};

/* A directory renamed away from @parent/@name: where to, once seen. */
struct ino_move {
    uint32_t cookie;
    int parent, to_parent; /* @to_parent 0: no IN_MOVED_TO yet */
    char *name, *to_name;
};

/* A directory to watch whose parent's path was out of date. */
struct ino_retry {
    int parent;
    char *name;
};

#define INO_MOVES_MAX 256
#define INO_RETRIES_MAX 256
/* The deepest a crawl goes: one open directory per level. */
#define INO_DEPTH_MAX 1024

struct vcha_tracker {
    bool fanotify;
    bool unbounded; /* FAN_UNLIMITED_QUEUE */
    int fd;         /* the fanotify or inotify descriptor */
    int root_fd;    /* O_RDONLY: open_by_handle_at() refuses O_PATH (EBADF) */
    dev_t dev;
    char root[PATH_MAX]; /* as /proc prints it */
    bool lost;           /* events lost since the last read */
    char *buf;           /* BUF_SIZE, for read() */
    char *path;          /* a path being built */
    size_t pathcap;
    char dir[PATH_MAX]; /* fanotify: a directory being resolved */
    char *failed;       /* inotify: the directory a crawl failed at */
    struct fan_ent *cache;
    size_t ncache;
    struct ino_dir *dirs; /* by wd, open addressing */
    size_t ndirs, nslots;
    int root_wd;
    unsigned gen;    /* of the crawl going on */
    bool rebuilding; /* it re-reads directories already watched */
    struct ino_move moves[INO_MOVES_MAX];
    size_t nmoves;
    struct ino_retry retries[INO_RETRIES_MAX];
    size_t nretries;
};

static int
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* @p path relative to the root ("" for the root), or NULL if not under it. */
static const char *
root_relative(const struct vcha_tracker *t, const char *path)
{
    size_t len = strlen(t->root);

    if (strcmp(t->root, "/") == 0) {
        return path[0] == '/' ? path + 1 : NULL;
    }
    if (strncmp(path, t->root, len) != 0) {
        return NULL;
    }
    if (path[len] == '\0') {
        return path + len;
    }
    return path[len] == '/' ? path + len + 1 : NULL;
}

/* The path of open descriptor @p fd into @p buf, as /proc prints it. */
static int
fd_path(int fd, char *buf, size_t len)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, len);
    if (n < 0) {
        return -errno;
    }
    if ((size_t) n >= len) {
        return -ENAMETOOLONG;
    }
    buf[n] = '\0';
    return 0;
}

static int
path_reserve(struct vcha_tracker *t, size_t need)
{
    char *p;

    if (need > t->pathcap) {
        p = realloc(t->path, need);
        if (p == NULL) {
            return -ENOMEM;
        }
        t->path = p;
        t->pathcap = need;
    }
    return 0;
}

/* @p dir "/" @p name in t->path, or either alone when the other is "". */
static const char *
path_join(struct vcha_tracker *t, const char *dir, const char *name)
{
    size_t dlen = strlen(dir), nlen = strlen(name);
    char *p;

    if (path_reserve(t, dlen + nlen + 2) < 0) {
        return NULL;
    }
    memcpy(t->path, dir, dlen);
    p = t->path + dlen;
    if (dlen > 0 && nlen > 0) {
        *p++ = '/';
    }
    memcpy(p, name, nlen + 1);
    return t->path;
}

static int
root_open(struct vcha_tracker *t, const char *root, char *why, size_t whylen)
{
    struct stat st;
    int rc;

    if (root == NULL || root[0] != '/') {
        return fail(why, whylen, -EINVAL, "root %s is not an absolute path",
                    root ? root : "(null)");
    }
    t->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->root_fd < 0 || fstat(t->root_fd, &st) < 0) {
        rc = -errno;
        return fail(why, whylen, rc, "root %s: %s", root, strerror(-rc));
    }
    t->dev = st.st_dev;
    rc = fd_path(t->root_fd, t->root, sizeof(t->root));
    if (rc < 0) {
        return fail(why, whylen, rc, "root %s: its path in /proc: %s", root,
                    strerror(-rc));
    }
    return 0;
}

/* ------------------------------------------------------------ fanotify */

static void
fan_cache_clear(struct vcha_tracker *t)
{
    for (size_t i = 0; i < FAN_CACHE_SLOTS && t->ncache > 0; i++) {
        if (t->cache[i].fh != NULL) {
            free(t->cache[i].fh);
            free(t->cache[i].rel);
            t->cache[i] = (struct fan_ent){0};
            t->ncache--;
        }
    }
}

static size_t
fh_size(const struct file_handle *fh)
{
    return sizeof(*fh) + fh->handle_bytes;
}

/* The cache slot of @p fh, or the empty slot where it would go. */
static struct fan_ent *
fan_cache_slot(struct vcha_tracker *t, const struct file_handle *fh)
{
    size_t size = fh_size(fh);
    size_t i = hash_bytes(fh, size) & (FAN_CACHE_SLOTS - 1);

    while (t->cache[i].fh != NULL) {
        if (fh_size(t->cache[i].fh) == size &&
            memcmp(t->cache[i].fh, fh, size) == 0) {
            break;
        }
        i = (i + 1) & (FAN_CACHE_SLOTS - 1);
    }
    return &t->cache[i];
}

/* Remember that @p fh is @p rel; a failure only costs a lookup later. */
static void
fan_cache_put(struct vcha_tracker *t, const struct file_handle *fh,
              const char *rel)
{
    struct fan_ent *e;

    if (t->ncache >= FAN_CACHE_SLOTS / 2) {
        fan_cache_clear(t);
    }
    e = fan_cache_slot(t, fh);
    e->fh = malloc(fh_size(fh));
    e->rel = rel ? strdup(rel) : NULL;
    if (e->fh == NULL || (rel != NULL && e->rel == NULL)) {
        free(e->fh);
        free(e->rel);
        *e = (struct fan_ent){0};
        return;
    }
    memcpy(e->fh, fh, fh_size(fh));
    t->ncache++;
}

/*
 * The directory of handle @p fh relative to the root in *@p rel, NULL when
 * it is not under the root or no longer exists.  0, or a negative errno
 * when where it is cannot be told.
 *
 * A directory that no longer exists (its handle does not decode: ESTALE,
 * or it decodes to a removed inode) loses nothing when dropped: it was
 * removed from its parent, which reported that as FAN_DELETE of its name
 * (or, if the parent is gone too, the parent's parent reported it, up to a
 * directory that still exists), and a consumer deletes that path, with
 * everything that was below it, on the other side.  A directory renamed
 * still decodes, to its new place.
 */
static int
fan_resolve(struct vcha_tracker *t, struct file_handle *fh, const char **rel)
{
    struct fan_ent *e = fan_cache_slot(t, fh);
    struct stat st;
    int dfd, rc = 0;

    *rel = NULL;
    if (e->fh != NULL) {
        *rel = e->rel;
        return 0;
    }
    dfd = open_by_handle_at(t->root_fd, fh, O_PATH | O_CLOEXEC);
    if (dfd < 0) {
        return errno == ESTALE || errno == ENOENT ? 0 : -errno;
    }
    if (fstat(dfd, &st) < 0) {
        rc = -errno;
    } else if (st.st_nlink > 0) {
        rc = fd_path(dfd, t->dir, sizeof(t->dir));
        *rel = rc == 0 ? root_relative(t, t->dir) : NULL;
    }
    close(dfd);
    if (rc == 0) {
        fan_cache_put(t, fh, *rel);
    }
    return rc;
}

/* The first directory record of event @p m, with the name in *@p name. */
static struct file_handle *
fan_event_dir(const struct fanotify_event_metadata *m, char *raw,
              const char **name)
{
    char *p = raw + m->metadata_len, *end = raw + m->event_len;
    struct fanotify_event_info_fid *fid;
    struct file_handle *fh;

    while (p + sizeof(*fid) + sizeof(*fh) <= end) {
        fid = (struct fanotify_event_info_fid *) p;
        fh = (struct file_handle *) fid->handle;
        if (fid->hdr.len > end - p ||
            fid->hdr.len < sizeof(*fid) + sizeof(*fh) + fh->handle_bytes) {
            break;
        }
        if (fid->hdr.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
            *name = (const char *) fh->f_handle + fh->handle_bytes;
            return fh;
        }
        if (fid->hdr.info_type == FAN_EVENT_INFO_TYPE_DFID) {
            *name = "";
            return fh;
        }
        p += fid->hdr.len;
    }
    return NULL;
}

static int
fan_event(struct vcha_tracker *t, const struct fanotify_event_metadata *m,
          char *raw, struct vcha_pathset *changed)
{
    const char *name = NULL, *dir = NULL, *path;
    struct file_handle *fh;
    int rc = 0;

    if (m->fd >= 0) {
        close(m->fd); /* not with FAN_REPORT_DFID_NAME, but never leak */
    }
    if (m->mask & FAN_Q_OVERFLOW) {
        t->lost = true;
        return 0;
    }
    fh = fan_event_dir(m, raw, &name);
    if (fh != NULL && fan_resolve(t, fh, &dir) < 0) {
        t->lost = true; /* it happened somewhere: we cannot tell where */
    }
    if (dir != NULL) {
        /* "." is the directory itself: an attribute of it changed */
        path = path_join(t, dir, strcmp(name, ".") == 0 ? "" : name);
        rc = path ? vcha_pathset_add(changed, path) : -ENOMEM;
    }
    /* the paths below a directory renamed or removed have changed */
    if ((m->mask & FAN_ONDIR) &&
        (m->mask & (FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE))) {
        fan_cache_clear(t);
    }
    return rc;
}

static int
fan_events(struct vcha_tracker *t, size_t len, struct vcha_pathset *changed,
           int *count)
{
    struct fanotify_event_metadata m;
    size_t off = 0;
    int rc = 0;

    /* events are 4-byte aligned in the buffer, the metadata's mask needs
     * 8: each is read through a copy */
    while (len - off >= sizeof(m)) {
        memcpy(&m, t->buf + off, sizeof(m));
        if (m.event_len < sizeof(m) || m.event_len > len - off ||
            m.metadata_len < sizeof(m) || m.metadata_len > m.event_len) {
            break;
        }
        if (m.vers != FANOTIFY_METADATA_VERSION) {
            return -EPROTO;
        }
        (*count)++;
        rc = rc ? rc : fan_event(t, &m, (char *) t->buf + off, changed);
        off += m.event_len;
    }
    return rc;
}

/* Before a read: directories may have moved since, the root too. */
static void
fan_begin(struct vcha_tracker *t)
{
    char root[PATH_MAX];

    fan_cache_clear(t);
    if (fd_path(t->root_fd, root, sizeof(root)) == 0) {
        memcpy(t->root, root, sizeof(root));
    }
}

/* A fanotify error of the file system, as the header promises it. */
static int
fan_fs_error(int err)
{
    switch (err) {
    case EOPNOTSUPP:
    case EXDEV:
    case ENODEV:
    case EINVAL:
    case ENOSYS:
        return -EOPNOTSUPP;
    case EACCES:
        return -EPERM;
    default:
        return -err;
    }
}

static int
fan_check_handles(struct vcha_tracker *t, char *why, size_t whylen)
{
    struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
    int mount_id, fd = -1, rc = ENOMEM;

    if (fh != NULL) {
        fh->handle_bytes = MAX_HANDLE_SZ;
        if (name_to_handle_at(t->root_fd, "", fh, &mount_id, AT_EMPTY_PATH) <
                0 ||
            (fd = open_by_handle_at(t->root_fd, fh, O_PATH | O_CLOEXEC)) < 0) {
            rc = errno;
        }
    }
    free(fh);
    if (fd < 0) {
        return fail(why, whylen, fan_fs_error(rc),
                    "fanotify: %s: file handles do not decode: %s", t->root,
                    strerror(rc));
    }
    close(fd);
    return 0;
}

static int
fan_open(struct vcha_tracker *t, char *why, size_t whylen)
{
    int rc;

    t->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME |
                              FAN_NONBLOCK | FAN_CLOEXEC |
                              (t->unbounded ? FAN_UNLIMITED_QUEUE : 0),
                          O_RDONLY | O_LARGEFILE);
    if (t->fd < 0) {
        rc = errno;
        return fail(why, whylen, fan_fs_error(rc), "fanotify_init: %s%s",
                    strerror(rc), rc == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
    }
    if (fanotify_mark(t->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_EVENTS,
                      t->root_fd, NULL) < 0) {
        rc = errno;
        return fail(why, whylen, fan_fs_error(rc),
                    "fanotify: a filesystem mark on %s: %s", t->root,
                    strerror(rc));
    }
    rc = fan_check_handles(t, why, whylen);
    if (rc == 0) {
        t->cache = calloc(FAN_CACHE_SLOTS, sizeof(*t->cache));
        rc = t->cache ? 0 : -ENOMEM;
    }
    t->fanotify = rc == 0;
    return rc;
}

/* ------------------------------------------------------------ inotify */

static size_t
ino_home(const struct vcha_tracker *t, int wd)
{
    return ((uint32_t) wd * 2654435761U) & (t->nslots - 1);
}

/* The slot of @p wd, or the empty slot where it would go. */
static struct ino_dir *
ino_slot(const struct vcha_tracker *t, int wd)
{
    size_t i = ino_home(t, wd);

    while (t->dirs[i].wd != 0 && t->dirs[i].wd != wd) {
        i = (i + 1) & (t->nslots - 1);
    }
    return &t->dirs[i];
}

static struct ino_dir *
ino_find(const struct vcha_tracker *t, int wd)
{
    struct ino_dir *d;

    if (wd <= 0 || t->nslots == 0) {
        return NULL;
    }
    d = ino_slot(t, wd);
    return d->wd == wd ? d : NULL;
}

static int
ino_grow(struct vcha_tracker *t)
{
    struct ino_dir *old = t->dirs;
    size_t nold = t->nslots, nslots = nold ? nold * 2 : 256;

    t->dirs = calloc(nslots, sizeof(*t->dirs));
    if (t->dirs == NULL) {
        t->dirs = old;
        return -ENOMEM;
    }
    t->nslots = nslots;
    for (size_t i = 0; i < nold; i++) {
        if (old[i].wd != 0) {
            *ino_slot(t, old[i].wd) = old[i];
        }
    }
    free(old);
    return 0;
}

static int
ino_insert(struct vcha_tracker *t, int wd, int parent, ino_t ino,
           const char *name)
{
    struct ino_dir *d;
    int rc;

    if ((t->ndirs + 1) * 2 > t->nslots) {
        rc = ino_grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    d = ino_slot(t, wd);
    *d = (struct ino_dir){.wd = wd, .parent = parent, .ino = ino};
    d->name = strdup(name);
    if (d->name == NULL) {
        d->wd = 0;
        return -ENOMEM;
    }
    t->ndirs++;
    return 0;
}

/* Forget @p wd: linear probing's deletion, shifting later entries back. */
static void
ino_forget(struct vcha_tracker *t, int wd)
{
    struct ino_dir *d = ino_find(t, wd);
    size_t i, j, k, mask = t->nslots - 1;

    if (d == NULL) {
        return;
    }
    free(d->name);
    i = (size_t) (d - t->dirs);
    for (j = (i + 1) & mask; t->dirs[j].wd != 0; j = (j + 1) & mask) {
        k = ino_home(t, t->dirs[j].wd);
        /* an entry stays if its home lies cyclically in (i, j] */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
            continue;
        }
        t->dirs[i] = t->dirs[j];
        i = j;
    }
    t->dirs[i] = (struct ino_dir){0};
    t->ndirs--;
}

/*
 * The path of @p name in watched directory @p wd (@p name NULL or "": the
 * directory itself), relative to the root, in t->path; NULL when @p wd is
 * not known (any more) or out of memory.
 */
static const char *
ino_path(struct vcha_tracker *t, int wd, const char *name)
{
    size_t len = name ? strlen(name) : 0, pieces = len > 0, steps = 0, n;
    const struct ino_dir *d;

    for (d = ino_find(t, wd); d != NULL && d->wd != t->root_wd;
         d = ino_find(t, d->parent)) {
        len += strlen(d->name);
        pieces++;
        if (++steps > t->ndirs) {
            return NULL; /* a loop: cannot happen, but never spin */
        }
    }
    len += pieces > 0 ? pieces - 1 : 0;
    if (d == NULL || path_reserve(t, len + 1) < 0) {
        return NULL;
    }
    t->path[len] = '\0';
    if (name != NULL && *name != '\0') {
        len -= strlen(name);
        memcpy(t->path + len, name, strlen(name));
    }
    for (d = ino_find(t, wd); d->wd != t->root_wd; d = ino_find(t, d->parent)) {
        if (t->path[len] != '\0') {
            t->path[--len] = '/';
        }
        n = strlen(d->name);
        len -= n;
        memcpy(t->path + len, d->name, n);
    }
    return t->path;
}

/* Open @p rel ("" for the root) below the root, following no link. */
static int
open_beneath(const struct vcha_tracker *t, const char *rel)
{
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    long fd;

    if (*rel == '\0') {
        rel = ".";
    }
    fd = syscall(SYS_openat2, t->root_fd, rel, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        /* before Linux 5.6: only the last component is not followed */
        fd = openat(t->root_fd, rel, (int) how.flags);
    }
    return fd < 0 ? -errno : (int) fd;
}

/*
 * Open watched directory @p wd by its path, checking that the path leads
 * to it: -ESTALE when its path is out of date (a directory above it was
 * renamed and the event not read yet), -ENOENT when it is not known.
 */
static int
ino_open_dir(struct vcha_tracker *t, int wd)
{
    const struct ino_dir *d = ino_find(t, wd);
    const char *rel = d ? ino_path(t, wd, NULL) : NULL;
    struct stat st;
    int fd;

    if (rel == NULL) {
        return -ENOENT;
    }
    fd = open_beneath(t, rel);
    if (fd < 0) {
        return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV
                   ? -ESTALE
                   : fd;
    }
    if (fstat(fd, &st) < 0 || st.st_ino != d->ino || st.st_dev != t->dev) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

/* One level of a crawl: a directory being read. */
struct crawl_level {
    DIR *dir;
    int wd;
};

/*
 * Watched already as @p d: read it again only in a rebuild, once, taking
 * where the crawl found it as its place.
 */
static int
ino_seen(struct vcha_tracker *t, struct ino_dir *d, int parent,
         const char *name, ino_t ino)
{
    char *copy;

    if (!t->rebuilding || d->gen == t->gen) {
        return 0;
    }
    copy = strdup(name);
    if (copy == NULL) {
        return -ENOMEM;
    }
    free(d->name);
    *d = (struct ino_dir){d->wd, parent, ino, t->gen, copy};
    return 1;
}

/*
 * Watch directory @p name of @p dirfd (watched as @p parent; 0 and "."
 * for the root).  1 when it is to be read, with its descriptor in *@p fd
 * and its watch in *@p wd; 0 when watched already, not a directory, gone
 * or on another file system; or a negative errno.
 */
static int
ino_watch(struct vcha_tracker *t, int dirfd, int parent, const char *name,
          int *fd, int *wd)
{
    const char *as = parent ? name : "";
    char proc[64];
    struct stat st;
    int rc = 0;

    *fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0) {
        rc = errno;
        return rc == ENOENT || rc == ENOTDIR || rc == ELOOP ? 0 : -rc;
    }
    if (fstat(*fd, &st) < 0) {
        rc = -errno;
        goto done;
    }
    if (st.st_dev != t->dev) {
        goto done; /* the sync does not cross into other file systems */
    }
    /* this directory, whatever its name is by now */
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", *fd);
    *wd = inotify_add_watch(t->fd, proc, IN_EVENTS);
    if (*wd < 0) {
        rc = -errno;
        goto done;
    }
    /* known already: seen earlier, or a bind mount of a directory above */
    if (ino_find(t, *wd) != NULL) {
        rc = ino_seen(t, ino_find(t, *wd), parent, as, st.st_ino);
    } else if ((rc = ino_insert(t, *wd, parent, st.st_ino, as)) == 0) {
        ino_find(t, *wd)->gen = t->gen;
        rc = 1;
    } else {
        inotify_rm_watch(t->fd, *wd);
    }
done:
    if (rc != 1) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

static int
crawl_push(struct crawl_level *levels, size_t *depth, int fd, int wd)
{
    if (*depth == INO_DEPTH_MAX) {
        close(fd);
        return -ELOOP;
    }
    levels[*depth].dir = fdopendir(fd);
    if (levels[*depth].dir == NULL) {
        close(fd);
        return -errno;
    }
    levels[(*depth)++].wd = wd;
    return 0;
}

/* The path of a directory that could not be watched, for the why. */
static void
crawl_failed(struct vcha_tracker *t, int parent, const char *name)
{
    const char *rel = parent ? ino_path(t, parent, name) : "";

    free(t->failed);
    if (asprintf(&t->failed, "%s%s%s", t->root,
                 rel && *rel && strcmp(t->root, "/") ? "/" : "",
                 rel ? rel : "") < 0) {
        t->failed = NULL;
    }
}

/*
 * Watch directory @p name of @p at and every directory below it not
 * watched yet; in a rebuild, every one.  Directories are opened through
 * their parents' descriptors, never by path, so that a rename meanwhile
 * cannot mislead the crawl.  0 or a negative errno (-ELOOP: deeper than
 * INO_DEPTH_MAX), with the directory that failed in t->failed.
 */
static int
ino_crawl(struct vcha_tracker *t, int at, int parent, const char *name)
{
    struct crawl_level *levels = calloc(INO_DEPTH_MAX, sizeof(*levels));
    struct crawl_level *top;
    struct dirent *e;
    size_t depth = 0;
    int fd, wd = 0, rc;

    rc = levels ? ino_watch(t, at, parent, name, &fd, &wd) : -ENOMEM;
    if (rc == 1 && parent == 0) {
        t->root_wd = wd;
    }
    rc = rc == 1 ? crawl_push(levels, &depth, fd, wd) : rc;
    while (rc >= 0 && depth > 0) {
        top = &levels[depth - 1];
        e = readdir(top->dir);
        if (e == NULL) {
            closedir(levels[--depth].dir);
        } else if ((e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) &&
                   strcmp(e->d_name, ".") != 0 &&
                   strcmp(e->d_name, "..") != 0) {
            rc = ino_watch(t, dirfd(top->dir), top->wd, e->d_name, &fd, &wd);
            rc = rc == 1 ? crawl_push(levels, &depth, fd, wd) : rc;
            parent = top->wd;
            name = e->d_name;
        }
    }
    if (rc < 0) {
        crawl_failed(t, parent, name);
    }
    while (depth > 0) {
        closedir(levels[--depth].dir);
    }
    free(levels);
    return rc < 0 ? rc : 0;
}

/* The why of a crawl that failed with @p rc at t->failed. */
static int
ino_fail(struct vcha_tracker *t, int rc, char *why, size_t whylen)
{
    const char *dir = t->failed ? t->failed : t->root;
    char limit[32] = "?";
    ssize_t n = -1;
    int fd;

    if (rc != -ENOSPC) {
        return fail(why, whylen, rc, "inotify: watching %s: %s", dir,
                    rc == -ELOOP ? "too many levels of directories"
                                 : strerror(-rc));
    }
    fd = open("/proc/sys/fs/inotify/max_user_watches", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, limit, sizeof(limit) - 1);
        close(fd);
    }
    limit[n > 0 ? strcspn(limit, "\n") : 1] = '\0';
    return fail(why, whylen, rc,
                "inotify: out of watches at %s after %zu directories: raise "
                "/proc/sys/fs/inotify/max_user_watches (now %s)",
                dir, t->ndirs, limit);
}

static int
ino_open(struct vcha_tracker *t, char *why, size_t whylen)
{
    int rc;

    t->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->fd < 0) {
        rc = -errno;
        return fail(why, whylen, rc, "inotify_init1: %s%s", strerror(-rc),
                    rc == -EMFILE ? " (see /proc/sys/fs/inotify/"
                                    "max_user_instances)"
                                  : "");
    }
    rc = ino_crawl(t, t->root_fd, 0, ".");
    return rc < 0 ? ino_fail(t, rc, why, whylen) : 0;
}

static void
ino_forget_pending(struct vcha_tracker *t)
{
    for (size_t i = 0; i < t->nmoves; i++) {
        free(t->moves[i].name);
        free(t->moves[i].to_name);
    }
    for (size_t i = 0; i < t->nretries; i++) {
        free(t->retries[i].name);
    }
    t->nmoves = 0;
    t->nretries = 0;
}

/*
 * After events were lost, what is watched and under which names may be
 * wrong: crawl the whole tree again, watching what is not and renaming
 * what moved, then stop watching what the crawl did not find.  Before the
 * read returns -EOVERFLOW, so that the consumer's full sync starts after
 * it and sees any change made meanwhile.
 */
static int
ino_rebuild(struct vcha_tracker *t)
{
    size_t i = 0;
    int rc;

    ino_forget_pending(t);
    t->gen++;
    t->rebuilding = true;
    rc = ino_crawl(t, t->root_fd, 0, ".");
    t->rebuilding = false;
    if (rc == 0 && ino_find(t, t->root_wd) == NULL) {
        rc = -ENOENT; /* the root is gone */
    }
    while (rc == 0 && i < t->nslots) {
        if (t->dirs[i].wd != 0 && t->dirs[i].gen != t->gen) {
            inotify_rm_watch(t->fd, t->dirs[i].wd);
            ino_forget(t, t->dirs[i].wd); /* may shift another here */
        } else {
            i++;
        }
    }
    return rc;
}

static void
ino_retry_add(struct vcha_tracker *t, int parent, const char *name)
{
    char *copy = strdup(name);

    if (copy == NULL || t->nretries == INO_RETRIES_MAX) {
        free(copy);
        t->lost = true;
        return;
    }
    t->retries[t->nretries++] = (struct ino_retry){parent, copy};
}

/*
 * Watch new directory @p name of watched directory @p parent, and what is
 * below it.  When the parent's path is out of date (a directory above it
 * was renamed, and that event is still to come), try again once it is.
 */
static void
ino_watch_new(struct vcha_tracker *t, int parent, const char *name)
{
    int fd = ino_open_dir(t, parent), rc;

    if (fd == -ESTALE) {
        ino_retry_add(t, parent, name);
        return;
    }
    rc = fd < 0 ? fd : ino_crawl(t, fd, parent, name);
    if (fd >= 0) {
        close(fd);
    }
    /* -ENOENT: @p parent is gone, and what was in it with it */
    if (rc < 0 && rc != -ENOENT) {
        t->lost = true;
    }
}

/* Try the directories whose parents' paths were out of date again. */
static void
ino_retry(struct vcha_tracker *t)
{
    struct ino_retry r;
    size_t n = t->nretries;

    /* ino_watch_new() may add a retry again: take them off first */
    for (size_t i = 0; i < n; i++) {
        r = t->retries[0];
        memmove(t->retries, t->retries + 1,
                --t->nretries * sizeof(*t->retries));
        ino_watch_new(t, r.parent, r.name);
        free(r.name);
    }
}

/* Stop watching @p wd and every watched directory below it. */
static void
ino_drop_tree(struct vcha_tracker *t, int wd)
{
    const struct ino_dir *d;
    int *below = NULL, *p;
    size_t n = 0, steps;

    for (size_t i = 0; i < t->nslots; i++) {
        d = &t->dirs[i];
        for (steps = 0; d != NULL && d->wd != wd && steps <= t->ndirs;
             steps++) {
            d = ino_find(t, d->parent);
        }
        if (d == NULL || d->wd != wd || t->dirs[i].wd == 0) {
            continue;
        }
        p = realloc(below, (n + 1) * sizeof(*below));
        if (p == NULL) {
            t->lost = true;
            break;
        }
        below = p;
        below[n++] = t->dirs[i].wd;
    }
    for (size_t i = 0; i < n; i++) {
        inotify_rm_watch(t->fd, below[i]);
        ino_forget(t, below[i]);
    }
    free(below);
}

static void
ino_move_forget(struct vcha_tracker *t, size_t i)
{
    free(t->moves[i].name);
    free(t->moves[i].to_name);
    t->nmoves--;
    memmove(t->moves + i, t->moves + i + 1,
            (t->nmoves - i) * sizeof(*t->moves));
}

/* IN_MOVED_FROM of a directory: wait for where it goes. */
static void
ino_moved_from(struct vcha_tracker *t, const struct inotify_event *e)
{
    struct ino_move *m;

    if (t->nmoves == INO_MOVES_MAX) {
        ino_move_forget(t, 0); /* its IN_MOVE_SELF will say it is lost */
    }
    m = &t->moves[t->nmoves];
    *m = (struct ino_move){.cookie = e->cookie, .parent = e->wd};
    m->name = strdup(e->name);
    if (m->name == NULL) {
        t->lost = true;
        return;
    }
    t->nmoves++;
}

/*
 * IN_MOVED_TO of a directory: note where a directory renamed in the tree
 * went (its IN_MOVE_SELF comes next), and watch it unless it already is:
 * it may come from outside the root, or from a directory not watched yet.
 */
static void
ino_moved_to(struct vcha_tracker *t, const struct inotify_event *e)
{
    for (size_t i = 0; i < t->nmoves; i++) {
        if (t->moves[i].cookie == e->cookie && t->moves[i].to_parent == 0) {
            t->moves[i].to_name = strdup(e->name);
            t->moves[i].to_parent = t->moves[i].to_name ? e->wd : 0;
            t->lost |= t->moves[i].to_name == NULL;
            break;
        }
    }
    ino_watch_new(t, e->wd, e->name);
}

/*
 * IN_MOVE_SELF of watched directory @p d: it was renamed, its
 * IN_MOVED_FROM and, if it stayed in the tree, its IN_MOVED_TO were read
 * before.  Moved out of the tree: stop watching it.
 */
static void
ino_move_self(struct vcha_tracker *t, struct ino_dir *d)
{
    struct ino_move *m = NULL;
    size_t i;

    /* the newest: a rename holds its directories' locks from its
       IN_MOVED_FROM to its IN_MOVE_SELF, so no other rename of this name
       came between them */
    for (i = t->nmoves; i > 0 && m == NULL; i--) {
        if (t->moves[i - 1].parent == d->parent &&
            strcmp(t->moves[i - 1].name, d->name) == 0) {
            m = &t->moves[i - 1];
        }
    }
    if (m == NULL) {
        t->lost = true; /* renamed, we cannot tell where to */
        return;
    }
    if (m->to_parent != 0 && ino_find(t, m->to_parent) != NULL) {
        free(d->name);
        d->name = m->to_name;
        d->parent = m->to_parent;
        m->to_name = NULL;
    } else {
        ino_drop_tree(t, d->wd);
    }
    ino_move_forget(t, (size_t) (m - t->moves));
    ino_retry(t);
}

/* What an event changes in the watches. */
static void
ino_event_dirs(struct vcha_tracker *t, const struct inotify_event *e)
{
    struct ino_dir *d = ino_find(t, e->wd);

    if (e->mask & IN_IGNORED) {
        t->lost |= e->wd == t->root_wd; /* the root is gone */
        ino_forget(t, e->wd);
    } else if ((e->mask & IN_MOVE_SELF) && d != NULL && e->wd != t->root_wd) {
        ino_move_self(t, d);
    } else if (e->len == 0 || !(e->mask & IN_ISDIR) || d == NULL) {
        return;
    } else if (e->mask & IN_CREATE) {
        ino_watch_new(t, e->wd, e->name);
    } else if (e->mask & IN_MOVED_FROM) {
        ino_moved_from(t, e);
    } else if (e->mask & IN_MOVED_TO) {
        ino_moved_to(t, e);
    }
}

#define IN_CHANGES                                                             \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY |         \
     IN_ATTRIB | IN_CLOSE_WRITE)

static int
ino_event(struct vcha_tracker *t, const struct inotify_event *e,
          struct vcha_pathset *changed)
{
    const char *path;
    int rc = 0;

    if (e->mask & IN_Q_OVERFLOW) {
        t->lost = true;
        return 0;
    }
    /* a directory's own event (no name) is reported by its parent too,
       except an attribute of the root, which has none */
    if ((e->mask & IN_CHANGES) && (e->len > 0 || e->wd == t->root_wd)) {
        path = ino_path(t, e->wd, e->len > 0 ? e->name : NULL);
        if (path != NULL) {
            rc = vcha_pathset_add(changed, path);
        }
    }
    ino_event_dirs(t, e);
    return rc;
}

static int
ino_events(struct vcha_tracker *t, size_t len, struct vcha_pathset *changed,
           int *count)
{
    const struct inotify_event *e;
    int rc = 0;

    for (size_t off = 0; off + sizeof(*e) <= len; off += sizeof(*e) + e->len) {
        e = (const struct inotify_event *) (t->buf + off);
        (*count)++;
        rc = rc ? rc : ino_event(t, e, changed);
    }
    return rc;
}

/* ------------------------------------------------------------ the API */

/* Everything @p t holds but itself, its root and its buffer. */
static void
tracker_release(struct vcha_tracker *t)
{
    if (t->fd >= 0) {
        close(t->fd);
    }
    if (t->cache != NULL) {
        fan_cache_clear(t);
        free(t->cache);
    }
    for (size_t i = 0; i < t->nslots; i++) {
        free(t->dirs[i].name);
    }
    ino_forget_pending(t);
    free(t->dirs);
    free(t->path);
    free(t->failed);
}

void
vcha_tracker_close(struct vcha_tracker *t)
{
    if (t == NULL) {
        return;
    }
    tracker_release(t);
    if (t->root_fd >= 0) {
        close(t->root_fd);
    }
    free(t->buf);
    free(t);
}

/* Forget the mechanism tried, keeping the root, to try another. */
static void
tracker_reset(struct vcha_tracker *t)
{
    struct vcha_tracker fresh = {
        .fd = -1, .root_fd = t->root_fd, .dev = t->dev, .buf = t->buf};

    memcpy(fresh.root, t->root, sizeof(fresh.root));
    tracker_release(t);
    *t = fresh;
}

static int
tracker_start(struct vcha_tracker *t, enum vcha_tracker_mode mode, char *why,
              size_t whylen)
{
    int rc;

    switch (mode) {
    case VCHA_TRACKER_FANOTIFY:
        return fan_open(t, why, whylen);
    case VCHA_TRACKER_INOTIFY:
        return ino_open(t, why, whylen);
    case VCHA_TRACKER_AUTO:
        /* whatever fanotify lacks (privilege, file handles, a kernel new
           enough), inotify may do; vcha_tracker_mechanism() tells */
        rc = fan_open(t, why, whylen);
        if (rc < 0) {
            tracker_reset(t);
            rc = ino_open(t, why, whylen);
        }
        return rc;
    }
    return fail(why, whylen, -EINVAL, "unknown tracker mode %d", (int) mode);
}

int
vcha_tracker_open(const char *root, enum vcha_tracker_mode mode,
                  struct vcha_tracker **out, char *why, size_t whylen)
{
    return vcha_tracker_open_flags(root, mode, 0, out, why, whylen);
}

int
vcha_tracker_open_flags(const char *root, enum vcha_tracker_mode mode,
                        unsigned flags, struct vcha_tracker **out, char *why,
                        size_t whylen)
{
    struct vcha_tracker *t = calloc(1, sizeof(*t));
    int rc;

    *out = NULL;
    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    if (t == NULL || (t->buf = malloc(BUF_SIZE)) == NULL) {
        free(t);
        return fail(why, whylen, -ENOMEM, "out of memory");
    }
    t->fd = -1;
    t->root_fd = -1;
    t->unbounded = (flags & VCHA_TRACKER_UNBOUNDED) != 0;
    rc = root_open(t, root, why, whylen);
    if (rc == 0) {
        rc = tracker_start(t, mode, why, whylen);
    }
    if (rc < 0) {
        vcha_tracker_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

int
vcha_tracker_fd(const struct vcha_tracker *t)
{
    return t->fd;
}

const char *
vcha_tracker_mechanism(const struct vcha_tracker *t)
{
    return t->fanotify ? "fanotify" : "inotify";
}

size_t
vcha_tracker_watches(const struct vcha_tracker *t)
{
    return t->fanotify ? 1 : t->ndirs;
}

int
vcha_tracker_read(struct vcha_tracker *t, struct vcha_pathset *changed)
{
    size_t total = 0;
    int count = 0, rc = 0;
    bool lost;
    ssize_t n;

    if (t->fanotify) {
        fan_begin(t);
    }
    /* bounded, so that a writer faster than us cannot keep us here */
    while (rc == 0 && total < READ_MAX) {
        n = read(t->fd, t->buf, BUF_SIZE);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 && errno != EAGAIN ? -errno : 0;
            break;
        }
        total += (size_t) n;
        rc = t->fanotify ? fan_events(t, (size_t) n, changed, &count)
                         : ino_events(t, (size_t) n, changed, &count);
    }
    if (rc < 0) {
        t->lost = true; /* what was read and not added: say so next time */
    }
    if (!t->fanotify) {
        ino_retry(t);
    }
    lost = t->lost;
    /* fanotify keeps no state that a loss could spoil */
    t->lost = lost && !t->fanotify && ino_rebuild(t) < 0;
    if (rc < 0) {
        t->lost = lost;
        return rc;
    }
    return lost ? -EOVERFLOW : count;
}
