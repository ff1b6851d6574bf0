/* vcha - a container's root filesystem into a generation and back. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/log.h>
#include <vcha/rootfs.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* The longest the catch-up reads events, the container frozen: beyond it
 * they count as lost, and the whole tree is copied. */
#define READ_LIMIT_MS 5000
/* A file is copied in pieces of this size, each followed by a look at the
 * deadline and at whether the process was told to stop. */
#define COPY_CHUNK ((off_t) 64 << 20)

/* A file of src that has other names in it: its first copy in dst. */
struct linked {
    dev_t dev;
    ino_t ino;
    char *path; /* relative to dst */
};

/* The walk of src that copies again what rsync linked but changed. */
struct recopy {
    int src, dst, base;  /* the three trees */
    long long since_ms;  /* ctime at or after this: changed */
    long long deadline;  /* CLOCK_MONOTONIC ms */
    bool live;           /* src changes meanwhile: a vanished entry is fine */
    unsigned tmp_seq;    /* for names of temporary files */
    char path[PATH_MAX]; /* of the entry, relative to the trees */
    size_t len;
    struct linked *links;
    size_t n_links, cap_links;
    struct vcha_rootfs_stats *stats;
    char *why;
    size_t whylen;
};

static long long
ctime_ms(const struct stat *st)
{
    return (long long) st->st_ctim.tv_sec * 1000 +
           st->st_ctim.tv_nsec / 1000000;
}

static int
recopy_fail(struct recopy *r, const char *what, int rc)
{
    snprintf(r->why, r->whylen, "%s %s: %s", what, r->path, strerror(-rc));
    return rc;
}

/* -ECANCELED when told to stop, -ETIME past the deadline, else 0. */
static int
recopy_must_stop(const struct recopy *r)
{
    return vcha_exec_cancelled()          ? -ECANCELED
           : vcha_now_ms() >= r->deadline ? -ETIME
                                          : 0;
}

/* The copy made of the inode @p st of src, if it has other names. */
static const struct linked *
linked_find(const struct recopy *r, const struct stat *st)
{
    for (size_t i = 0; i < r->n_links; i++) {
        if (r->links[i].dev == st->st_dev && r->links[i].ino == st->st_ino) {
            return &r->links[i];
        }
    }
    return NULL;
}

static int
linked_add(struct recopy *r, const struct stat *st)
{
    if (r->n_links == r->cap_links) {
        size_t cap = r->cap_links ? 2 * r->cap_links : 16;
        struct linked *v = realloc(r->links, cap * sizeof(*v));

        if (v == NULL) {
            return -ENOMEM;
        }
        r->links = v;
        r->cap_links = cap;
    }
    r->links[r->n_links].path = strdup(r->path);
    if (r->links[r->n_links].path == NULL) {
        return -ENOMEM;
    }
    r->links[r->n_links].dev = st->st_dev;
    r->links[r->n_links++].ino = st->st_ino;
    return 0;
}

/* Copy @p size bytes in pieces, stopping when it must. */
static int
copy_chunked(const struct recopy *r, int in, int out, off_t size)
{
    int rc = 0;

    for (off_t done = 0; rc == 0 && done < size; done += COPY_CHUNK) {
        off_t n = size - done < COPY_CHUNK ? size - done : COPY_CHUNK;

        rc = recopy_must_stop(r);
        if (rc == 0) {
            rc = vcha_file_copy_fd(in, out, n);
        }
    }
    return rc;
}

/*
 * A new file in dst's directory @p ddfd, under a temporary name of its
 * own (set in @p tmp), with src's content, owner, mode and times.
 */
static int
copy_into(struct recopy *r, const struct stat *st, int ddfd, char *tmp,
          size_t tmplen)
{
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    int in = openat(r->src, r->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int out = -1, rc = 0;

    if (in < 0) {
        return -errno;
    }
    do { /* a name the container may not use itself */
        snprintf(tmp, tmplen, ".vcha-recopy-%d-%u", (int) getpid(),
                 r->tmp_seq++);
        out = openat(ddfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    } while (out < 0 && errno == EEXIST);
    if (out < 0) {
        rc = -errno;
    } else {
        rc = copy_chunked(r, in, out, st->st_size);
    }
    if (rc == -EIO && r->live) { /* shortened meanwhile: the watch saw it */
        struct stat now;

        rc = fstat(in, &now) == 0 && now.st_size < st->st_size ? -ENOENT : rc;
    }
    /* the owner first: chown() clears the set-id bits */
    if (rc == 0 &&
        (fchown(out, st->st_uid, st->st_gid) < 0 ||
         fchmod(out, st->st_mode & 07777) < 0 || futimens(out, times) < 0)) {
        rc = -errno;
    }
    if (out >= 0 && close(out) < 0 && rc == 0) {
        rc = -errno;
    }
    close(in);
    if (rc < 0 && out >= 0) {
        unlinkat(ddfd, tmp, 0);
    }
    return rc;
}

/* A hard link to @p target (relative to dst) in @p ddfd, named in @p tmp. */
static int
link_into(struct recopy *r, const char *target, int ddfd, char *tmp,
          size_t tmplen)
{
    int rc;

    do {
        snprintf(tmp, tmplen, ".vcha-recopy-%d-%u", (int) getpid(),
                 r->tmp_seq++);
        rc = linkat(r->dst, target, ddfd, tmp, 0) < 0 ? -errno : 0;
    } while (rc == -EEXIST);
    return rc;
}

/* Give dst's directory @p dir (relative) src's times again. */
static void
dir_times_keep(const struct recopy *r, const char *dir)
{
    struct stat st;

    if (fstatat(r->src, dir, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        struct timespec t[2] = {st.st_atim, st.st_mtim};

        utimensat(r->dst, dir, t, AT_SYMLINK_NOFOLLOW);
    }
}

/*
 * The file at r->path of dst came from the base, hard-linked by rsync, but
 * src's changed since the base: replace it with src's content (or with a
 * link to the copy already made of another name of it), keeping the
 * directory's times.
 */
static int
recopy_file(struct recopy *r, const struct stat *st)
{
    const struct linked *l = linked_find(r, st);
    const char *slash = strrchr(r->path, '/');
    const char *name = slash ? slash + 1 : r->path;
    char dir[PATH_MAX] = ".", tmp[64];
    int ddfd = r->dst, rc;

    if (slash != NULL) {
        snprintf(dir, sizeof(dir), "%.*s", (int) (slash - r->path), r->path);
        ddfd = openat(r->dst, dir, DIR_FLAGS);
        if (ddfd < 0) {
            return r->live && errno == ENOENT
                       ? 0
                       : recopy_fail(r, "opening the directory of", -errno);
        }
    }
    rc = l != NULL ? link_into(r, l->path, ddfd, tmp, sizeof(tmp))
                   : copy_into(r, st, ddfd, tmp, sizeof(tmp));
    if (rc == -ENOENT && r->live) { /* gone since: the watch saw it */
        if (ddfd != r->dst) {
            close(ddfd);
        }
        return 0;
    }
    if (rc == 0 && renameat(ddfd, tmp, ddfd, name) < 0) {
        rc = -errno;
        unlinkat(ddfd, tmp, 0);
    }
    if (rc == 0 && l == NULL && st->st_nlink > 1) {
        rc = linked_add(r, st);
    }
    if (rc == 0) {
        dir_times_keep(r, dir);
        r->stats->recopied++;
        r->stats->recopied_bytes += (unsigned long long) st->st_size;
    }
    if (ddfd != r->dst) {
        close(ddfd);
    }
    if (rc == -ECANCELED || rc == -ETIME) {
        snprintf(r->why, r->whylen, "%s while copying %s",
                 rc == -ETIME ? "out of time" : "stopped", r->path);
        return rc;
    }
    return rc < 0 ? recopy_fail(r, "copying", rc) : 0;
}

/* Whether dst's file at r->path is the base's very inode (rsync linked it). */
static bool
linked_from_base(const struct recopy *r)
{
    struct stat d, b;

    return r->base >= 0 &&
           fstatat(r->dst, r->path, &d, AT_SYMLINK_NOFOLLOW) == 0 &&
           fstatat(r->base, r->path, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           d.st_dev == b.st_dev && d.st_ino == b.st_ino;
}

static int recopy_dir(struct recopy *r, int dfd);

static int
recopy_entry(struct recopy *r, int dfd, const char *name)
{
    struct stat st;
    int fd, rc = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return r->live && errno == ENOENT ? 0
                                          : recopy_fail(r, "reading", -errno);
    }
    /* a file with other names: rsync -H may have linked this one to the
     * base's file at another of them, so every name of it is copied */
    if (S_ISREG(st.st_mode) && ctime_ms(&st) >= r->since_ms &&
        (st.st_nlink > 1 || linked_from_base(r))) {
        return recopy_file(r, &st);
    }
    if (!S_ISDIR(st.st_mode)) {
        return 0;
    }
    fd = openat(dfd, name, DIR_FLAGS);
    if (fd < 0) {
        return r->live && (errno == ENOENT || errno == ENOTDIR)
                   ? 0
                   : recopy_fail(r, "opening", -errno);
    }
    rc = recopy_dir(r, fd); /* closes fd */
    return rc;
}

/* Every entry of the directory @p dfd of src (r->path); closes @p dfd. */
static int
recopy_dir(struct recopy *r, int dfd)
{
    DIR *d = fdopendir(dfd);
    size_t base = r->len;
    struct dirent *e;
    int rc = 0;

    if (d == NULL) {
        close(dfd);
        return recopy_fail(r, "listing", -errno);
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        int n;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if ((rc = recopy_must_stop(r)) < 0) {
            snprintf(r->why, r->whylen, "%s while copying %s",
                     rc == -ETIME ? "out of time" : "stopped", r->path);
            break;
        }
        n = snprintf(r->path + base, sizeof(r->path) - base, "%s%s",
                     base > 0 ? "/" : "", e->d_name);
        if (n < 0 || (size_t) n >= sizeof(r->path) - base) {
            rc = recopy_fail(r, "a path too long:", -ENAMETOOLONG);
            break;
        }
        r->len = base + (size_t) n;
        rc = recopy_entry(r, dirfd(d), e->d_name);
        r->len = base;
        r->path[base] = '\0';
    }
    closedir(d);
    return rc;
}

/* After rsync: copy again every file it linked from the base but changed. */
static int
recopy_changed(const char *src, const char *base, long long since_ms,
               const char *dst, long long deadline, bool live,
               struct vcha_rootfs_stats *stats, char *why, size_t whylen)
{
    struct recopy r = {.live = live,
                       .src = open(src, DIR_FLAGS),
                       .dst = open(dst, DIR_FLAGS),
                       .base = open(base, DIR_FLAGS),
                       .since_ms = since_ms - VCHA_ROOTFS_CLOCK_MARGIN_MS,
                       .deadline = deadline,
                       .stats = stats,
                       .why = why,
                       .whylen = whylen};
    int rc;

    if (r.src < 0 || r.dst < 0 || r.base < 0) {
        rc = recopy_fail(&r, "opening the trees of", -errno);
    } else {
        rc = recopy_dir(&r, dup(r.src));
    }
    for (size_t i = 0; i < r.n_links; i++) {
        free(r.links[i].path);
    }
    free(r.links);
    for (int *fd = &r.src; fd <= &r.base; fd++) {
        if (*fd >= 0) {
            close(*fd);
        }
    }
    return rc;
}

/* rsync exit code 24: some files vanished before they could be sent */
#define RSYNC_VANISHED 24

/* vcha_rootfs_stage(); @p live: the tree changes meanwhile. */
static int
stage_run(const char *src, const char *base, long long since_ms,
          const char *dst, long long deadline, bool live,
          struct vcha_rootfs_stats *stats, char *why, size_t whylen)
{
    /* --modify-window=-1: mtimes compared to the nanosecond */
    const char *argv[] = {"rsync",
                          "-aH",
                          "--numeric-ids",
                          "--delete",
                          "--modify-window=-1",
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    char *from = NULL, *link = NULL;
    size_t n = 5;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (asprintf(&from, "%s/", src) < 0 ||
        (base != NULL && asprintf(&link, "--link-dest=%s", base) < 0)) {
        free(from);
        return -ENOMEM;
    }
    if (link != NULL) {
        argv[n++] = link;
    }
    argv[n++] = from;
    argv[n++] = dst;
    rc = vcha_exec_until_codes(
        argv, deadline, live ? 1u | 1u << RSYNC_VANISHED : 1u, why, whylen);
    if (rc == 0 && base != NULL) {
        rc = recopy_changed(src, base, since_ms, dst, deadline, live, stats,
                            why, whylen);
    }
    free(from);
    free(link);
    return rc;
}

int
vcha_rootfs_stage(const char *src, const char *base, long long since_ms,
                  const char *dst, long long deadline,
                  struct vcha_rootfs_stats *stats, char *why, size_t whylen)
{
    return stage_run(src, base, since_ms, dst, deadline, false, stats, why,
                     whylen);
}

int
vcha_rootfs_restore(const char *from, const char *dst, long long deadline,
                    char *why, size_t whylen)
{
    const char *argv[] = {"rsync",    "-aH",        "--numeric-ids",
                          "--delete", "--checksum", NULL,
                          dst,        NULL};
    char *src = NULL;
    int rc;

    if (asprintf(&src, "%s/", from) < 0) {
        return -ENOMEM;
    }
    argv[5] = src;
    if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(why, whylen, "%s: %s", dst, strerror(errno));
    } else {
        rc = vcha_exec_until(argv, deadline, why, whylen);
    }
    free(src);
    return rc;
}

/* ------------------------------------------------------------ the watch */

struct vcha_rootfs_watch {
    char *src;
    int src_fd;
    struct vcha_tracker *t;
    struct vcha_pathset *changed; /* since the watch began */
    unsigned long long events;
    int lost;                /* the first failed read: -EOVERFLOW or -errno */
    int stop[2];             /* tells the reader to end */
    pthread_t reader;        /* reads from the pre-copy to the catch-up */
    bool reading;            /* the reader runs */
    long long read_deadline; /* a read past it counts as events lost */
    pthread_mutex_t mu;      /* the reader's and the caller's reads */
};

static void reader_stop(struct vcha_rootfs_watch *w);
typedef int (*tree_fn)(int dfd, const char *name, const struct stat *st);
static int tree_each(int dfd, tree_fn fn);
static int linked_file(int dfd, const char *name, const struct stat *st);

int
vcha_rootfs_watch_open(const char *src, struct vcha_rootfs_watch **out,
                       char *why, size_t whylen)
{
    struct vcha_rootfs_watch *w = calloc(1, sizeof(*w));
    int rc = w != NULL ? 0 : -ENOMEM;

    *out = NULL;
    if (rc == 0) {
        pthread_mutex_init(&w->mu, NULL);
        w->read_deadline = LLONG_MAX;
        w->src_fd = -1;
        w->src = strdup(src);
        w->changed = vcha_pathset_new();
        rc = w->src == NULL || w->changed == NULL ? -ENOMEM : 0;
    }
    if (rc == 0) {
        w->src_fd = open(src, DIR_FLAGS);
        rc = w->src_fd < 0 ? -errno : 0;
    }
    if (rc == 0) {
        /* a copy into the same file system makes an event per entry,
         * which the reader drops, late under load: no queue limit then */
        rc = vcha_tracker_open_flags(
            src, VCHA_TRACKER_AUTO, VCHA_TRACKER_UNBOUNDED, &w->t, why, whylen);
    } else if (rc != -ENOMEM) {
        snprintf(why, whylen, "%s: %s", src, strerror(-rc));
    }
    if (rc == -ENOMEM) {
        snprintf(why, whylen, "out of memory");
    }
    if (rc < 0) {
        vcha_rootfs_watch_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

const char *
vcha_rootfs_watch_mechanism(const struct vcha_rootfs_watch *w)
{
    return vcha_tracker_mechanism(w->t);
}

void
vcha_rootfs_watch_close(struct vcha_rootfs_watch *w)
{
    if (w == NULL) {
        return;
    }
    reader_stop(w);
    vcha_tracker_close(w->t);
    vcha_pathset_free(w->changed);
    if (w->src_fd >= 0) {
        close(w->src_fd);
    }
    pthread_mutex_destroy(&w->mu);
    free(w->src);
    free(w);
}

/* Read every event waiting; a loss is kept until the catch-up. */
static void
watch_read(struct vcha_rootfs_watch *w)
{
    int n;

    pthread_mutex_lock(&w->mu);
    do {
        n = vcha_tracker_read(w->t, w->changed);
        if (n < 0 && w->lost == 0) {
            w->lost = n;
        }
        w->events += n > 0 ? (unsigned long long) n : 0;
        /* a flood of events (the whole file system's) is not read while
         * the container stays frozen: it counts as events lost */
        if ((n > 0 || n == -EOVERFLOW) &&
            (vcha_now_ms() >= w->read_deadline || vcha_exec_cancelled())) {
            w->lost = w->lost < 0 ? w->lost : -ETIME;
            break;
        }
    } while (n > 0 || n == -EOVERFLOW);
    pthread_mutex_unlock(&w->mu);
}

/* The pre-copy's reader: every event as it comes, until told to stop. */
static void *
watch_reader(void *arg)
{
    struct vcha_rootfs_watch *w = arg;
    struct pollfd p[2] = {{.fd = vcha_tracker_fd(w->t), .events = POLLIN},
                          {.fd = w->stop[0], .events = POLLIN}};

    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        if (p[1].revents != 0) {
            break;
        }
        if (p[0].revents != 0) {
            watch_read(w);
        }
    }
    return NULL;
}

/* Stop the reader, if it runs; what it has not read stays queued. */
static void
reader_stop(struct vcha_rootfs_watch *w)
{
    if (!w->reading) {
        return;
    }
    if (write(w->stop[1], "", 1) < 0) {
        vcha_warn("%s: cannot stop the reader of its changes", w->src);
    }
    pthread_join(w->reader, NULL);
    close(w->stop[0]);
    close(w->stop[1]);
    w->reading = false;
}

int
vcha_rootfs_precopy(struct vcha_rootfs_watch *w, const char *base,
                    long long since_ms, const char *dst, long long deadline,
                    struct vcha_rootfs_stats *stats, char *why, size_t whylen)
{
    int rc;

    /* the reader reads on until the catch-up (the dump makes events too);
     * without it the queue may grow, and the catch-up reads it all */
    if (!w->reading && pipe2(w->stop, O_CLOEXEC) == 0) {
        w->reading = pthread_create(&w->reader, NULL, watch_reader, w) == 0;
        if (!w->reading) {
            close(w->stop[0]);
            close(w->stop[1]);
        }
    }
    rc = stage_run(w->src, base, since_ms, dst, deadline, true, stats, why,
                   whylen);
    /* the tree changed under rsync in a way it could not copy (a file
     * shortened, a directory made a link...): the caller copies it whole
     * while frozen */
    return rc == -EIO ? -EAGAIN : rc;
}

/*
 * @p path (relative to @p root) when it is reached without a symbolic link
 * in its directories: the descriptor of its directory, or -ENOENT when a
 * directory of it is gone, or -ELOOP.
 */
static int
parent_open(int root, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    long fd;

    *name = slash ? slash + 1 : path;
    if (slash == NULL) {
        fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? -errno : (int) fd;
    }
    if ((size_t) (slash - path) >= sizeof(dir)) {
        return -ENAMETOOLONG;
    }
    snprintf(dir, sizeof(dir), "%.*s", (int) (slash - path), path);
    fd = vcha_file_open_beneath(root, dir, true);
    return fd == -ENOTDIR ? -ENOENT : fd == -EXDEV ? -ELOOP : (int) fd;
}

/*
 * Whether @p path of the tree can be copied on its own: 0 (it may be gone),
 * 1 when a directory of it is gone, -ELOOP when a directory of it is a
 * symbolic link now, -EMLINK when it is a file with other names.
 */
static int
path_check(int root, const char *path)
{
    const char *name;
    struct stat st;
    int dfd = parent_open(root, path, &name), rc = 0;

    if (dfd == -ENOENT) {
        return 1;
    }
    if (dfd < 0) {
        return dfd;
    }
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = errno == ENOENT ? 0 : -errno;
    } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        rc = -EMLINK;
    } else if (S_ISDIR(st.st_mode)) { /* copied whole */
        int fd = openat(dfd, name, DIR_FLAGS);

        rc = fd < 0 ? (errno == ENOENT ? 0 : -errno)
                    : tree_each(fd, linked_file);
    }
    close(dfd);
    return rc;
}

/* The root directory's mode, owner and times, which rsync does not send. */
static int
root_attrs(int src, const char *dst)
{
    struct stat st;
    struct timespec t[2];
    int fd = open(dst, DIR_FLAGS), rc = 0;

    if (fd < 0 || fstat(src, &st) < 0) {
        rc = -errno;
    } else {
        t[0] = st.st_atim;
        t[1] = st.st_mtim;
        if (fchown(fd, st.st_uid, st.st_gid) < 0 ||
            fchmod(fd, st.st_mode & 07777) < 0 || futimens(fd, t) < 0) {
            rc = -errno;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/*
 * Call @p fn for every entry below the directory @p dfd (closed here),
 * entering each directory after its call; an entry gone meanwhile is
 * skipped.
 */
static int
tree_each(int dfd, tree_fn fn)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = 0;

    if (d == NULL) {
        close(dfd);
        return -errno;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        int fd;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            continue;
        }
        rc = fn(dirfd(d), e->d_name, &st);
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            fd = openat(dirfd(d), e->d_name, DIR_FLAGS);
            rc = fd < 0 ? (errno == ENOENT ? 0 : -errno) : tree_each(fd, fn);
        }
    }
    closedir(d);
    return rc;
}

/* A regular file with other names: copied alone, it would be parted. */
static int
linked_file(int dfd, const char *name, const struct stat *st)
{
    (void) dfd;
    (void) name;
    return S_ISREG(st->st_mode) && st->st_nlink > 1 ? -EMLINK : 0;
}

/*
 * An entry of the copy other than a directory or a regular file that has
 * other names goes: the pre-copy hard-linked it from the base generation
 * (rsync --link-dest links symbolic links, fifos and devices too), and
 * rsync would change its owner, mode or times in place, in the base.
 * rsync makes it anew.  Regular files are always written anew (-I, a new
 * inode renamed over).
 */
static int
shared_special(int dfd, const char *name, const struct stat *st)
{
    if (S_ISDIR(st->st_mode) || S_ISREG(st->st_mode) || st->st_nlink < 2) {
        return 0;
    }
    return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* shared_special() for the entry @p path of the copy @p dst and below. */
static int
unshare_path(int dst, const char *path)
{
    const char *name;
    struct stat st;
    int dfd = parent_open(dst, path, &name), rc = 0;

    if (dfd < 0) {
        return dfd == -ENOENT || dfd == -ELOOP ? 0 : dfd; /* rsync's to mend */
    }
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = errno == ENOENT ? 0 : -errno;
    } else if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, DIR_FLAGS);

        rc = fd < 0 ? -errno : tree_each(fd, shared_special);
    } else {
        rc = shared_special(dfd, name, &st);
    }
    close(dfd);
    return rc;
}

/*
 * The paths to copy (the root left out: its attributes are copied apart),
 * each checked (see path_check()); a listed directory is checked for files
 * with other names; the copy's entries that rsync would change in place
 * are removed first (see shared_special()).
 */
static int
catch_up_list(struct vcha_rootfs_watch *w, const struct vcha_pathset *also,
              const char *dst, struct vcha_pathset **out, char *why,
              size_t whylen)
{
    struct vcha_pathset *all = vcha_pathset_new(), *list = vcha_pathset_new();
    int dfd = open(dst, DIR_FLAGS);
    int rc = !all || !list ? -ENOMEM : dfd < 0 ? -errno : 0;

    if (rc == 0) {
        rc = vcha_pathset_merge(all, w->changed);
    }
    if (rc == 0 && also != NULL) {
        rc = vcha_pathset_merge(all, also);
    }
    for (size_t i = 0; rc == 0 && i < vcha_pathset_count(all); i++) {
        const char *p = vcha_pathset_get(all, i);

        if (*p == '\0') {
            continue;
        }
        rc = path_check(w->src_fd, p);
        if (rc == 1) {
            rc = vcha_pathset_add_gone(list, w->src_fd, p);
        } else if (rc == 0) {
            rc = vcha_pathset_add(list, p);
        }
        if (rc == -EMLINK || rc == -ELOOP) {
            snprintf(why, whylen, "%s %s", p,
                     rc == -EMLINK ? "holds a changed file with other names"
                                   : "runs through a symbolic link now");
        } else if (rc < 0) {
            snprintf(why, whylen, "%s: %s", p, strerror(-rc));
        }
    }
    for (size_t i = 0; rc == 0 && i < vcha_pathset_count(list); i++) {
        rc = unshare_path(dfd, vcha_pathset_get(list, i));
        if (rc < 0) {
            snprintf(why, whylen, "%s in the copy: %s",
                     vcha_pathset_get(list, i), strerror(-rc));
        }
    }
    vcha_pathset_free(all);
    if (dfd >= 0) {
        close(dfd);
    }
    if (rc < 0) {
        vcha_pathset_free(list);
        list = NULL;
    }
    *out = list;
    return rc;
}

/* rsync every path of @p list (a file of them under @p scratch) to @p dst. */
static int
catch_up_copy(const struct vcha_rootfs_watch *w,
              const struct vcha_pathset *list, const char *dst,
              const char *scratch, long long deadline, char *why, size_t whylen)
{
    /* -I: listed files are sent whatever their size and mtime say */
    const char *argv[] = {"rsync",
                          "-aHI",
                          "--numeric-ids",
                          "--delete",
                          "--modify-window=-1",
                          "-r",
                          "--from0",
                          "--delete-missing-args",
                          NULL, /* --files-from= */
                          NULL,
                          dst,
                          NULL};
    char *file = NULL, *opt = NULL, *from = NULL;
    int fd = -1, rc = 0;

    if (asprintf(&file, "%s/catch-up.XXXXXX", scratch) < 0) {
        return -ENOMEM;
    }
    fd = mkostemp(file, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, whylen, "%s: %s", file, strerror(errno));
        free(file);
        return rc;
    }
    rc = vcha_pathset_write0(list, fd);
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && (asprintf(&opt, "--files-from=%s", file) < 0 ||
                    asprintf(&from, "%s/", w->src) < 0)) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        argv[8] = opt;
        argv[9] = from;
        rc = vcha_exec_until(argv, deadline, why, whylen);
    } else {
        snprintf(why, whylen, "%s: %s", file, strerror(-rc));
    }
    unlink(file);
    free(from);
    free(opt);
    free(file);
    return rc;
}

int
vcha_rootfs_catch_up(struct vcha_rootfs_watch *w, const char *dst,
                     const struct vcha_pathset *also, const char *scratch,
                     long long deadline,
                     struct vcha_rootfs_catchup_stats *stats, char *why,
                     size_t whylen)
{
    struct vcha_pathset *list = NULL;
    int rc;

    memset(stats, 0, sizeof(*stats));
    reader_stop(w);
    w->read_deadline = vcha_now_ms() + READ_LIMIT_MS < deadline
                           ? vcha_now_ms() + READ_LIMIT_MS
                           : deadline;
    watch_read(w);
    stats->events = w->events;
    if (w->lost < 0) {
        snprintf(why, whylen, "changes were lost: %s",
                 w->lost == -EOVERFLOW ? "the kernel's queue overflowed"
                 : w->lost == -ETIME   ? "too many to read while frozen"
                                       : strerror(-w->lost));
        return -EOVERFLOW; /* whatever was lost, the whole tree is copied */
    }
    rc = catch_up_list(w, also, dst, &list, why, whylen);
    if (rc == 0 && vcha_pathset_count(list) > 0) {
        stats->paths = vcha_pathset_count(list);
        rc = catch_up_copy(w, list, dst, scratch, deadline, why, whylen);
        rc = rc == -EIO ? -EAGAIN : rc; /* rsync failed: copy it whole */
    }
    if (rc == 0) { /* an entry made or removed at the top changed its times */
        rc = root_attrs(w->src_fd, dst);
        if (rc < 0) {
            snprintf(why, whylen, "%s: %s", dst, strerror(-rc));
        }
    }
    vcha_pathset_free(list);
    return rc;
}

/* ------------------------------------------------- shared writable maps */

/* Undo the escape of /proc/PID/maps: a newline in a name is "\012". */
static void
maps_unescape(char *s)
{
    char *out = s;

    for (; *s != '\0'; s++) {
        if (strncmp(s, "\\012", 4) == 0) {
            *out++ = '\n';
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Add @p rel when it is a regular file beneath @p root, no link on the way. */
static int
regular_add(int root, const char *rel, struct vcha_pathset *paths)
{
    struct stat st;
    long fd;
    int rc = 0;

    if (*rel == '\0') {
        return 0;
    }
    fd = vcha_file_open_beneath(root, rel, false);
    if (fd < 0) {
        return 0;
    }
    if (fstat((int) fd, &st) == 0 && S_ISREG(st.st_mode)) {
        rc = vcha_pathset_add(paths, rel);
    }
    close((int) fd);
    return rc;
}

/*
 * The files process @p pid maps shared and writable.  A process of a
 * container names them as it sees them, from its own root; one that
 * shares the host's root names them with @p root_path in front: both are
 * tried.
 */
static int
maps_add(const char *pid, int root, const char *root_path,
         struct vcha_pathset *paths)
{
    char file[64], *text = NULL, *line, *save = NULL;
    size_t len = 0, rl = strlen(root_path);
    int rc;

    snprintf(file, sizeof(file), "/proc/%s/maps", pid);
    rc = vcha_file_read(file, &text, &len, 64 << 20);
    if (rc < 0) {
        return rc == -ENOENT || rc == -ESRCH ? 0 : rc; /* gone meanwhile */
    }
    for (line = strtok_r(text, "\n", &save); rc == 0 && line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char perms[8] = "", *path = strchr(line, '/');

        /* shared, whatever it allows now: mprotect() may have taken the
         * write away after writes */
        if (sscanf(line, "%*s %7s", perms) != 1 || perms[3] != 's' ||
            path == NULL) {
            continue;
        }
        len = strlen(path);
        if (len > 10 && strcmp(path + len - 10, " (deleted)") == 0) {
            continue;
        }
        maps_unescape(path);
        if (strncmp(path, root_path, rl) == 0 && path[rl] == '/') {
            rc = regular_add(root, path + rl + 1, paths);
        }
        if (rc == 0) {
            rc = regular_add(root, path + 1, paths);
        }
    }
    free(text);
    return rc;
}

/*
 * The files process @p pid holds open for writing: written through a
 * mapping, such a file makes no event until it is closed.
 */
static int
fds_add(const char *pid, int root, const char *root_path,
        struct vcha_pathset *paths)
{
    char dir[64], link[320], info[320], target[PATH_MAX], *text = NULL;
    size_t rl = strlen(root_path), len = 0;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
    d = opendir(dir);
    if (d == NULL) {
        return 0; /* gone meanwhile */
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        unsigned flags = 0;
        ssize_t n;
        char *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(info, sizeof(info), "/proc/%s/fdinfo/%s", pid, e->d_name);
        if (vcha_file_read(info, &text, &len, 65536) < 0) {
            continue;
        }
        f = strstr(text, "flags:");
        if (f != NULL) {
            flags = (unsigned) strtoul(f + 6, NULL, 8);
        }
        free(text);
        text = NULL;
        if ((flags & O_ACCMODE) == O_RDONLY) {
            continue;
        }
        snprintf(link, sizeof(link), "/proc/%s/fd/%s", pid, e->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0 || target[0] != '/') {
            continue; /* a pipe, a socket, anonymous */
        }
        target[n] = '\0';
        if (strncmp(target, root_path, rl) == 0 && target[rl] == '/') {
            rc = regular_add(root, target + rl + 1, paths);
        }
        if (rc == 0) {
            rc = regular_add(root, target + 1, paths);
        }
    }
    closedir(d);
    return rc;
}

/* Every process of the cgroup directory @p dir and below. */
static int
cgroup_maps(const char *dir, int root, const char *root_path,
            struct vcha_pathset *paths)
{
    DIR *d = opendir(dir);
    char *procs = NULL, *path = NULL, *line, *save = NULL;
    struct dirent *e;
    size_t len = 0;
    int rc = 0;

    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
    }
    if (asprintf(&path, "%s/cgroup.procs", dir) < 0) {
        path = NULL;
        rc = -ENOMEM;
    } else if (vcha_file_read(path, &procs, &len, 16 << 20) < 0) {
        procs = NULL;
    }
    for (line = procs ? strtok_r(procs, "\n", &save) : NULL;
         rc == 0 && line != NULL; line = strtok_r(NULL, "\n", &save)) {
        rc = maps_add(line, root, root_path, paths);
        if (rc == 0) {
            rc = fds_add(line, root, root_path, paths);
        }
    }
    free(procs);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 &&
            strcmp(e->d_name, "..") != 0) {
            free(path);
            if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
                path = NULL;
                rc = -ENOMEM;
            } else {
                rc = cgroup_maps(path, root, root_path, paths);
            }
        }
    }
    free(path);
    closedir(d);
    return rc;
}

int
vcha_rootfs_shared_writable(const char *cgroup, const char *root,
                            struct vcha_pathset *paths)
{
    int rfd = open(root, DIR_FLAGS), rc;

    if (rfd < 0) {
        return -errno;
    }
    rc = cgroup_maps(cgroup, rfd, root, paths);
    close(rfd);
    return rc;
}
