/* vcha - a container's root filesystem into a generation and back. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/rootfs.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
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
            return recopy_fail(r, "opening the directory of", -errno);
        }
    }
    rc = l != NULL ? link_into(r, l->path, ddfd, tmp, sizeof(tmp))
                   : copy_into(r, st, ddfd, tmp, sizeof(tmp));
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
        return recopy_fail(r, "reading", -errno);
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
        return recopy_fail(r, "opening", -errno);
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
               const char *dst, long long deadline,
               struct vcha_rootfs_stats *stats, char *why, size_t whylen)
{
    struct recopy r = {.src = open(src, DIR_FLAGS),
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

int
vcha_rootfs_stage(const char *src, const char *base, long long since_ms,
                  const char *dst, long long deadline,
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
    rc = vcha_exec_until(argv, deadline, why, whylen);
    if (rc == 0 && base != NULL) {
        rc = recopy_changed(src, base, since_ms, dst, deadline, stats, why,
                            whylen);
    }
    free(from);
    free(link);
    return rc;
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
