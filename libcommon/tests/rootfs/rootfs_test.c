/*
 * Unit tests for libcommon/checkpoint/rootfs.c: a container's root filesystem
 * copied into a generation and restored from one, with the real rsync, on trees
 * in a scratch directory.  The rewrites that rsync's quick check cannot
 * see (same size, same mtime) are made with utimensat(), which sets the
 * mtime back exactly: the same as a rewrite within one tick of the clock.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/rootfs.h>

#include "../test-util.h"

struct fixture {
    char *dir;
    char *src, *gen1, *gen2; /* the container's tree, two copies */
    char why[512];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    f->src = test_path(f->dir, "src");
    f->gen1 = test_path(f->dir, "gen1");
    f->gen2 = test_path(f->dir, "gen2");
    assert_int_equal(mkdir(f->src, 0755), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    free(f->src);
    free(f->gen1);
    free(f->gen2);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static long long
soon(void)
{
    return vcha_now_ms() + 30000;
}

/* Write @p text to @p name of @p dir with mtime @p sec (exactly). */
static void
put(const char *dir, const char *name, const char *text, time_t sec)
{
    char *path = test_path(dir, name);
    struct timespec t[2] = {{sec, 0}, {sec, 0}};

    assert_int_equal(test_write_file(path, text), 0);
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    free(path);
}

/* Rewrite @p name of @p dir in place with @p text, its mtime kept. */
static void
rewrite_in_place(const char *dir, const char *name, const char *text)
{
    char *path = test_path(dir, name);
    struct stat st;
    int fd;

    assert_int_equal(stat(path, &st), 0);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t) strlen(text));
    assert_int_equal(futimens(fd, (struct timespec[2]){st.st_atim, st.st_mtim}),
                     0);
    close(fd);
    free(path);
}

static char *
content(const char *dir, const char *name)
{
    char *path = test_path(dir, name), *text = test_slurp(path);

    assert_non_null(text);
    free(path);
    return text;
}

static ino_t
inode(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    free(path);
    return st.st_ino;
}

static void
assert_content(const char *dir, const char *name, const char *want)
{
    char *got = content(dir, name);

    assert_string_equal(got, want);
    free(got);
}

/*
 * The container's files, then the base taken from them (gen1) more than
 * the clock margin later, as a checkpoint would: returns when it was
 * taken (CLOCK_REALTIME ms).
 */
static long long
base_taken(struct fixture *f)
{
    struct vcha_rootfs_stats st;
    long long at;

    put(f->src, "db", "AAAA", 1700000000);
    put(f->src, "lib.so", "a library", 1600000000);
    vcha_sleep_ms(VCHA_ROOTFS_CLOCK_MARGIN_MS + 100);
    at = vcha_realtime_ms();
    assert_int_equal(vcha_rootfs_stage(f->src, NULL, 0, f->gen1, soon(), &st,
                                       f->why, sizeof(f->why)),
                     0);
    assert_int_equal(st.recopied, 0);
    return at;
}

/* Stage src into gen2 on the base gen1 taken at @p at; 0 expected. */
static void
stage_on_base(struct fixture *f, long long at, struct vcha_rootfs_stats *st)
{
    assert_int_equal(vcha_rootfs_stage(f->src, f->gen1, at, f->gen2, soon(), st,
                                       f->why, sizeof(f->why)),
                     0);
}

/* A fixed-size file rewritten in place within the same tick (a database). */
static void
test_stage_copies_a_file_rewritten_in_place(void **state)
{
    struct fixture *f = *state;
    long long at = base_taken(f);
    struct vcha_rootfs_stats st;

    rewrite_in_place(f->src, "db", "BBBB");
    stage_on_base(f, at, &st);
    assert_content(f->gen2, "db", "BBBB");
    assert_content(f->gen1, "db", "AAAA"); /* the base is untouched */
    assert_int_not_equal(inode(f->gen2, "db"), inode(f->gen1, "db"));
    /* what did not change is still linked, not copied */
    assert_int_equal(inode(f->gen2, "lib.so"), inode(f->gen1, "lib.so"));
    assert_int_equal(st.recopied, 1);
    assert_int_equal(st.recopied_bytes, 4);
}

/* A file renamed over another of the same size and mtime. */
static void
test_stage_copies_a_file_renamed_over_another(void **state)
{
    struct fixture *f = *state;
    long long at;
    struct vcha_rootfs_stats st;
    char *from, *to;

    put(f->src, "db.new", "BBBB", 1700000000); /* same size and mtime */
    at = base_taken(f);
    from = test_path(f->src, "db.new");
    to = test_path(f->src, "db");
    assert_int_equal(rename(from, to), 0);
    stage_on_base(f, at, &st);
    assert_content(f->gen2, "db", "BBBB");
    assert_content(f->gen1, "db", "AAAA");
    free(to);
    free(from);
}

/* Two names of one file, rewritten: still one file in the copy. */
static void
test_stage_keeps_hard_links_of_a_file_copied_again(void **state)
{
    struct fixture *f = *state;
    char *a = test_path(f->src, "db"), *b = test_path(f->src, "db.link");
    struct vcha_rootfs_stats st;
    long long at;

    put(f->src, "db", "AAAA", 1700000000);
    assert_int_equal(link(a, b), 0);
    at = base_taken(f);
    rewrite_in_place(f->src, "db", "BBBB");
    stage_on_base(f, at, &st);
    assert_content(f->gen2, "db", "BBBB");
    assert_content(f->gen2, "db.link", "BBBB");
    assert_int_equal(inode(f->gen2, "db"), inode(f->gen2, "db.link"));
    assert_int_not_equal(inode(f->gen2, "db"), inode(f->gen1, "db"));
    assert_int_equal(st.recopied, 2);
    free(b);
    free(a);
}

/*
 * A name the base does not have, hard-linked in the source to a file the
 * base has: rsync -H links it to the base's inode of the other name.
 */
static void
test_stage_copies_every_name_of_a_changed_file(void **state)
{
    struct fixture *f = *state;
    long long at = base_taken(f);
    char *a = test_path(f->src, "db"), *b = test_path(f->src, "db.new-name");
    struct vcha_rootfs_stats st;

    assert_int_equal(link(a, b), 0);
    rewrite_in_place(f->src, "db", "BBBB");
    stage_on_base(f, at, &st);
    assert_content(f->gen2, "db", "BBBB");
    assert_content(f->gen2, "db.new-name", "BBBB");
    assert_int_equal(inode(f->gen2, "db"), inode(f->gen2, "db.new-name"));
    assert_content(f->gen1, "db", "AAAA");
    free(b);
    free(a);
}

/* A file copied again leaves its directory's times as the source's. */
static void
test_stage_copy_keeps_the_directory_times(void **state)
{
    struct fixture *f = *state;
    char *sub = test_path(f->src, "etc"), *dst = test_path(f->gen2, "etc");
    struct timespec t[2] = {{1600000000, 0}, {1600000000, 0}};
    struct vcha_rootfs_stats st;
    struct stat a, b;
    long long at;

    assert_int_equal(mkdir(sub, 0755), 0);
    put(sub, "conf", "AAAA", 1700000000);
    assert_int_equal(utimensat(AT_FDCWD, sub, t, 0), 0);
    at = base_taken(f);
    rewrite_in_place(sub, "conf", "BBBB");
    stage_on_base(f, at, &st);
    assert_int_equal(st.recopied, 1);
    assert_content(dst, "conf", "BBBB");
    assert_int_equal(stat(sub, &a), 0);
    assert_int_equal(stat(dst, &b), 0);
    assert_int_equal(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
    assert_int_equal(b.st_mtim.tv_sec, 1600000000);
    free(dst);
    free(sub);
}

/* Files of the container named like the copy's temporary files are kept. */
static void
test_stage_copy_never_takes_the_container_s_names(void **state)
{
    struct fixture *f = *state;
    char name[64];
    struct vcha_rootfs_stats st;
    long long at;

    put(f->src, ".vcha-recopy.tmp", "mine", 1700000000);
    for (unsigned i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), ".vcha-recopy-%d-%u", (int) getpid(), i);
        put(f->src, name, "mine", 1700000000);
    }
    at = base_taken(f);
    rewrite_in_place(f->src, "db", "BBBB");
    stage_on_base(f, at, &st);
    assert_content(f->gen2, "db", "BBBB");
    for (unsigned i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), ".vcha-recopy-%d-%u", (int) getpid(), i);
        assert_content(f->gen2, name, "mine");
    }
    assert_content(f->gen2, ".vcha-recopy.tmp", "mine");
    assert_int_equal(test_dir_entries(f->gen2), 6);
}

/*
 * After a restore the tree equals the generation from the end of the
 * restore on: the files the restore rewrote are not copied again.
 */
static void
test_stage_after_a_restore_links_what_the_restore_wrote(void **state)
{
    struct fixture *f = *state;
    struct vcha_rootfs_stats st;
    long long at;

    base_taken(f);
    put(f->src, "db", "CCCC", 1700000000); /* a node's stale copy */
    assert_int_equal(
        vcha_rootfs_restore(f->gen1, f->src, soon(), f->why, sizeof(f->why)),
        0);
    vcha_sleep_ms(VCHA_ROOTFS_CLOCK_MARGIN_MS + 50);
    at = vcha_realtime_ms(); /* equal to gen1 since */
    stage_on_base(f, at, &st);
    assert_int_equal(st.recopied, 0);
    assert_int_equal(inode(f->gen2, "db"), inode(f->gen1, "db"));
    assert_content(f->gen2, "db", "AAAA");
}

/* Owner, mode and times of a file copied again are the source's. */
static void
test_stage_copy_keeps_the_metadata(void **state)
{
    struct fixture *f = *state;
    long long at = base_taken(f);
    struct vcha_rootfs_stats st;
    char *src = test_path(f->src, "db"), *dst = test_path(f->gen2, "db");
    struct stat a, b;

    rewrite_in_place(f->src, "db", "BBBB");
    assert_int_equal(chmod(src, 04750), 0);
    assert_int_equal(chown(src, 1234, 5678), 0);
    assert_int_equal(chmod(src, 04750), 0); /* chown cleared set-uid */
    stage_on_base(f, at, &st);
    assert_int_equal(stat(src, &a), 0);
    assert_int_equal(stat(dst, &b), 0);
    assert_int_equal(b.st_mode, a.st_mode);
    assert_int_equal(b.st_uid, 1234);
    assert_int_equal(b.st_gid, 5678);
    assert_int_equal(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
    assert_int_equal(b.st_mtim.tv_nsec, a.st_mtim.tv_nsec);
    free(dst);
    free(src);
}

/* Without a base every file is copied; nothing of another tree is linked. */
static void
test_stage_without_a_base_copies_everything(void **state)
{
    struct fixture *f = *state;
    struct vcha_rootfs_stats st;

    base_taken(f);
    assert_int_equal(vcha_rootfs_stage(f->src, NULL, 0, f->gen2, soon(), &st,
                                       f->why, sizeof(f->why)),
                     0);
    assert_int_not_equal(inode(f->gen2, "lib.so"), inode(f->gen1, "lib.so"));
    assert_content(f->gen2, "db", "AAAA");
}

/*
 * A restore onto a node whose copy holds a stale file of the same size
 * and mtime as the generation's: the generation's content wins, and what
 * the generation does not hold goes.
 */
static void
test_restore_replaces_a_stale_file_of_the_same_size_and_mtime(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mkdir(f->gen1, 0755), 0);
    put(f->gen1, "db", "BBBB", 1700000000);
    put(f->src, "db", "AAAA", 1700000000);
    put(f->src, "left-over", "x", 1700000000);
    assert_int_equal(
        vcha_rootfs_restore(f->gen1, f->src, soon(), f->why, sizeof(f->why)),
        0);
    assert_content(f->src, "db", "BBBB");
    assert_int_equal(test_dir_entries(f->src), 1);
}

static void
test_restore_creates_the_tree(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mkdir(f->gen1, 0755), 0);
    put(f->gen1, "db", "BBBB", 1700000000);
    assert_int_equal(
        vcha_rootfs_restore(f->gen1, f->gen2, soon(), f->why, sizeof(f->why)),
        0);
    assert_content(f->gen2, "db", "BBBB");
}

static void
test_errors_say_why(void **state)
{
    struct fixture *f = *state;
    struct vcha_rootfs_stats st;
    char *missing = test_path(f->dir, "missing");

    assert_true(vcha_rootfs_stage(missing, NULL, 0, f->gen2, soon(), &st,
                                  f->why, sizeof(f->why)) < 0);
    assert_non_null(strstr(f->why, "rsync"));
    assert_true(vcha_rootfs_restore(missing, f->gen2, soon(), f->why,
                                    sizeof(f->why)) < 0);
    assert_non_null(strstr(f->why, "rsync"));
    free(missing);
}

/* ------------------------------------------------------------ the watch */

/*
 * The watch's tests run on a tmpfs of their own (fanotify: its filesystem
 * mark sees no other writer of the machine) and on an overlayfs, where
 * fanotify cannot decode handles and the watch takes inotify; the writers
 * run in a cgroup v1 freezer of their own, frozen as a container is.
 */
struct wfix {
    char *dir, *fs, *src, *dst, *scratch, *cg;
    pid_t writer;
    char why[512];
};

static char *
wpath(const char *dir, const char *name)
{
    return test_path(dir, name);
}

static void
wfix_tree(struct wfix *f)
{
    char name[64];

    f->src = wpath(f->fs, "src");
    f->dst = wpath(f->fs, "dst");
    f->scratch = wpath(f->fs, "scratch");
    assert_int_equal(mkdir(f->src, 0755), 0);
    assert_int_equal(mkdir(f->scratch, 0700), 0);
    for (int d = 0; d < 20; d++) {
        snprintf(name, sizeof(name), "d%02d", d);
        char *dp = wpath(f->src, name);

        assert_int_equal(mkdir(dp, 0755), 0);
        for (int i = 0; i < 50; i++) {
            snprintf(name, sizeof(name), "f%02d", i);
            put(dp, name, "unchanged content\n", 1000000000);
        }
        free(dp);
    }
}

/* The fixture of the test under way: a failed test's is freed after it. */
static struct wfix *current;

/* A fixture on a fresh tmpfs (@p overlay: an overlayfs over two dirs). */
static struct wfix *
wfix_new(bool overlay)
{
    struct wfix *f = calloc(1, sizeof(*f));
    char cg[128];

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    f->fs = wpath(f->dir, "fs");
    assert_int_equal(mkdir(f->fs, 0755), 0);
    assert_int_equal(mount("vcha-test", f->fs, "tmpfs", 0, "size=256m"), 0);
    if (overlay) {
        char *lo = wpath(f->fs, "lower"), *up = wpath(f->fs, "upper"),
             *wk = wpath(f->fs, "work"), *mnt = wpath(f->fs, "ovl"), opts[1024];

        assert_int_equal(mkdir(lo, 0755) | mkdir(up, 0755) | mkdir(wk, 0755) |
                             mkdir(mnt, 0755),
                         0);
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lo,
                 up, wk);
        assert_int_equal(mount("vcha-ovl", mnt, "overlay", 0, opts), 0);
        free(f->fs);
        f->fs = mnt;
        free(lo);
        free(up);
        free(wk);
    }
    wfix_tree(f);
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/freezer/vcha-test-%d",
             (int) getpid());
    f->cg = strdup(cg);
    assert_true(mkdir(f->cg, 0755) == 0 || errno == EEXIST);
    current = f;
    return f;
}

static void
freezer(const struct wfix *f, const char *state)
{
    char *path = wpath(f->cg, "freezer.state"), *now;

    assert_int_equal(test_write_file(path, state), 0);
    for (int i = 0; i < 5000; i++) {
        now = test_slurp(path);
        assert_non_null(now);
        bool done = strncmp(now, state, strlen(state)) == 0;

        free(now);
        if (done) {
            break;
        }
        usleep(1000);
    }
    free(path);
}

static void
writer_stop(struct wfix *f)
{
    if (f->writer > 0) {
        freezer(f, "THAWED");
        kill(f->writer, SIGKILL);
        waitpid(f->writer, NULL, 0);
        f->writer = 0;
    }
}

static void
wfix_free(struct wfix *f)
{
    current = NULL;
    writer_stop(f);
    rmdir(f->cg);
    umount2(f->fs, MNT_DETACH);
    if (strstr(f->fs, "/ovl") != NULL) {
        char *top = wpath(f->dir, "fs");

        umount2(top, MNT_DETACH);
        free(top);
    }
    test_tmpdir_remove(f->dir);
    free(f->fs);
    free(f->src);
    free(f->dst);
    free(f->scratch);
    free(f->cg);
    free(f);
}

/* Rewrite @p fd's first bytes with @p n, its mtime always the same. */
static void
stamp(int fd, unsigned n)
{
    char buf[16];
    struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};

    snprintf(buf, sizeof(buf), "%010u\n", n);
    if (pwrite(fd, buf, 11, 0) != 11 || futimens(fd, t) < 0) {
        _exit(3);
    }
}

/*
 * The writer, in the freezer: as fast as it can, the counter rewritten in
 * place (same size, same mtime: rsync's quick check sees nothing), a log
 * line per count, directories made and removed, a file renamed over
 * another; with @p mapped, a counter written only through a shared map.
 */
static void
writer_run(const struct wfix *f, bool mapped)
{
    char path[4096], *procs = wpath(f->cg, "cgroup.procs"), mine[32];
    int cfd, lfd, mfd;
    unsigned *map = NULL;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(mine, sizeof(mine), "%d", (int) getpid());
    if (test_write_file(procs, mine) < 0 || chdir(f->src) < 0) {
        _exit(2);
    }
    cfd = open("counter", O_RDWR | O_CREAT, 0644);
    lfd = open("log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    mfd = open("mapped", O_RDWR | O_CREAT, 0644);
    if (cfd < 0 || lfd < 0 || mfd < 0 || ftruncate(mfd, 4096) < 0) {
        _exit(2);
    }
    if (mapped) {
        map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        if (map == MAP_FAILED) {
            _exit(2);
        }
    }
    close(mfd);
    for (unsigned n = 1;; n++) {
        if (mapped) {
            map[0] = n;
            map[1] = ~n;
            continue;
        }
        stamp(cfd, n);
        dprintf(lfd, "%u\n", n);
        if (n % 16 == 0) {
            snprintf(path, sizeof(path), "new%u", n / 16 % 8);
            mkdir(path, 0755);
            snprintf(path, sizeof(path), "new%u/f%u", n / 16 % 8, n);
            test_write_file(path, path);
            snprintf(path, sizeof(path), "d%02u/f%02u", n / 16 % 20, n % 50);
            test_write_file("tmp", path);
            rename("tmp", path);
        }
        if (n % 128 == 0) {
            /* remove the files, then the directory */
            snprintf(path, sizeof(path), "new%u", (n / 128 + 4) % 8);
            DIR *d = opendir(path);
            struct dirent *e;

            while (d != NULL && (e = readdir(d)) != NULL) {
                if (e->d_name[0] != '.') {
                    char p2[4096 + 512];

                    snprintf(p2, sizeof(p2), "%s/%s", path, e->d_name);
                    unlink(p2);
                }
            }
            if (d != NULL) {
                closedir(d);
            }
            rmdir(path);
        }
        /* a busy writer, not a flood: unpaced, it queued events faster
         * than a loaded machine read them, and the kernel's inotify queue
         * (16,384 events) overflowed, which the watch rightly reports as
         * changes lost */
        usleep(100);
    }
}

static void
writer_start(struct wfix *f, bool mapped)
{
    char *log = wpath(f->src, "log");
    struct stat st;

    f->writer = fork();
    assert_true(f->writer >= 0);
    if (f->writer == 0) {
        writer_run(f, mapped);
        _exit(0);
    }
    /* under way once its files are there */
    for (int i = 0; i < 5000 && stat(log, &st) < 0; i++) {
        usleep(1000);
    }
    free(log);
}

/* Whether trees @p a and @p b hold the same entries, bytes and modes. */
static bool
trees_equal(const char *a, const char *b, char *diff, size_t len)
{
    DIR *d = opendir(a);
    struct dirent *e;
    bool same = d != NULL;
    size_t na = 0, nb = 0;

    while (same && (e = readdir(d)) != NULL) {
        char *pa, *pb;
        struct stat sa, sb;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        na++;
        pa = wpath(a, e->d_name);
        pb = wpath(b, e->d_name);
        if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0 ||
            (sa.st_mode != sb.st_mode) ||
            (S_ISREG(sa.st_mode) && sa.st_size != sb.st_size)) {
            snprintf(diff, len, "%s: missing or of another kind", pb);
            same = false;
        } else if (S_ISDIR(sa.st_mode)) {
            same = trees_equal(pa, pb, diff, len);
        } else if (S_ISREG(sa.st_mode)) {
            char *ta = test_slurp(pa), *tb = test_slurp(pb);

            same = ta != NULL && tb != NULL &&
                   memcmp(ta, tb, (size_t) sa.st_size) == 0;
            if (!same) {
                snprintf(diff, len, "%s: other content", pb);
            }
            free(ta);
            free(tb);
        }
        free(pa);
        free(pb);
    }
    if (d != NULL) {
        closedir(d);
    }
    if (same) { /* nothing more in b */
        d = opendir(b);
        while (d != NULL && (e = readdir(d)) != NULL) {
            nb += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        }
        if (d != NULL) {
            closedir(d);
        }
        if (nb != na) {
            snprintf(diff, len, "%s: %zu entries, not %zu", b, nb, na);
            same = false;
        }
    }
    return same;
}

/*
 * One checkpoint's copy: watch, copy while the writer runs, freeze, catch
 * up (with the shared maps when @p maps), compare while frozen, thaw.
 * Returns the catch-up's result; *@p equal says whether the copy holds
 * the tree of the instant of the freeze.
 */
static int
checkpoint_copy(struct wfix *f, bool maps, bool *equal, char *diff, size_t dlen)
{
    struct vcha_rootfs_watch *w = NULL;
    struct vcha_rootfs_stats st;
    struct vcha_rootfs_catchup_stats cs;
    struct vcha_pathset *also = vcha_pathset_new();
    int rc;

    assert_int_equal(vcha_file_remove_tree(f->dst), 0);
    assert_int_equal(vcha_rootfs_watch_open(f->src, &w, f->why, sizeof(f->why)),
                     0);
    rc = vcha_rootfs_precopy(w, NULL, 0, f->dst, soon(), &st, f->why,
                             sizeof(f->why));
    if (rc != 0) {
        print_message("# precopy: %s\n", f->why);
    }
    assert_int_equal(rc, 0);
    usleep(20000); /* the writer goes on after the copy */
    freezer(f, "FROZEN");
    if (maps) {
        assert_int_equal(vcha_rootfs_shared_writable(f->cg, f->src, also), 0);
    }
    rc = vcha_rootfs_catch_up(w, f->dst, also, f->scratch, soon(), &cs, f->why,
                              sizeof(f->why));
    *equal = rc == 0 && trees_equal(f->src, f->dst, diff, dlen);
    freezer(f, "THAWED");
    vcha_rootfs_watch_close(w);
    vcha_pathset_free(also);
    return rc;
}

/* Count of the writer's log, the last line of @p dir's log. */
static unsigned long
logged(const char *dir)
{
    char *text = content(dir, "log"), *last;
    unsigned long n;

    text[strlen(text) - 1] = '\0';
    last = strrchr(text, '\n');
    n = strtoul(last ? last + 1 : text, NULL, 10);
    free(text);
    return n;
}

static void
writes_up_to_the_freeze(bool overlay)
{
    struct wfix *f = wfix_new(overlay);
    struct vcha_rootfs_watch *w = NULL;
    unsigned long before = 0;
    char diff[512] = "";
    bool equal;

    /* fanotify where handles decode (tmpfs), inotify on an overlayfs */
    assert_int_equal(vcha_rootfs_watch_open(f->src, &w, f->why, sizeof(f->why)),
                     0);
    assert_string_equal(vcha_rootfs_watch_mechanism(w),
                        overlay ? "inotify" : "fanotify");
    vcha_rootfs_watch_close(w);

    writer_start(f, false);
    for (int i = 0; i < 10; i++) {
        int rc = checkpoint_copy(f, true, &equal, diff, sizeof(diff));

        if (rc != 0) {
            fail_msg("copy %d: %s: %s", i, strerror(-rc), f->why);
        }
        if (!equal) {
            fail_msg("copy %d differs from the frozen tree: %s", i, diff);
        }
        /* the copy caught the writer in mid-flight, a new count each time */
        unsigned long n = logged(f->dst);
        char *counter = content(f->dst, "counter");

        assert_true(n > before);
        /* the freeze may come between the two writes of a count */
        assert_in_range(strtoul(counter, NULL, 10), n, n + 1);
        before = n;
        free(counter);
    }
    wfix_free(f);
}

static void
test_watch_catches_writes_up_to_the_freeze(void **state)
{
    (void) state;
    writes_up_to_the_freeze(false);
}

static void
test_watch_catches_writes_up_to_the_freeze_with_inotify(void **state)
{
    (void) state;
    writes_up_to_the_freeze(true);
}

static void
test_watch_copies_files_written_through_a_shared_map(void **state)
{
    struct wfix *f = wfix_new(false);
    char diff[512] = "";
    bool equal;

    (void) state;
    writer_start(f, true);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(checkpoint_copy(f, true, &equal, diff, sizeof(diff)),
                         0);
        if (!equal) {
            fail_msg("copy %d differs from the frozen tree: %s", i, diff);
        }
    }
    /* the check above has teeth: without the maps the write is missed */
    assert_int_equal(checkpoint_copy(f, false, &equal, diff, sizeof(diff)), 0);
    assert_false(equal);
    assert_non_null(strstr(diff, "mapped"));
    wfix_free(f);
}

/* inotify's queue is bounded (fanotify's is not: see the watch) */
static void
test_watch_says_when_changes_were_lost(void **state)
{
    struct wfix *f = wfix_new(true);
    struct vcha_rootfs_watch *w = NULL;
    struct vcha_rootfs_stats st;
    struct vcha_rootfs_catchup_stats cs;
    char name[64], *many = wpath(f->src, "d00");
    struct stat before, after;

    (void) state;
    assert_int_equal(vcha_rootfs_watch_open(f->src, &w, f->why, sizeof(f->why)),
                     0);
    /* more changes than the kernel queues (16384), before the copy's
     * reader reads any, in a directory watched already (inotify watches a
     * new one when it reads its creation) */
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "%d", i);
        char *p = wpath(many, name);

        assert_int_equal(test_write_file(p, ""), 0);
        free(p);
    }
    assert_int_equal(vcha_rootfs_precopy(w, NULL, 0, f->dst, soon(), &st,
                                         f->why, sizeof(f->why)),
                     0);
    rewrite_in_place(f->src, "d01/f01", "after the copy");
    assert_int_equal(stat(f->dst, &before), 0);
    assert_int_equal(vcha_rootfs_catch_up(w, f->dst, NULL, f->scratch, soon(),
                                          &cs, f->why, sizeof(f->why)),
                     -EOVERFLOW);
    assert_non_null(strstr(f->why, "lost"));
    assert_int_equal(stat(f->dst, &after), 0);
    assert_int_equal(after.st_nlink, before.st_nlink); /* untouched */
    {
        char *text = content(f->dst, "d01/f01"); /* not caught up */

        assert_string_equal(text, "unchanged content\n");
        free(text);
    }
    vcha_rootfs_watch_close(w);
    free(many);
    wfix_free(f);
}

static void
test_watch_refuses_a_changed_file_with_other_names(void **state)
{
    struct wfix *f = wfix_new(false);
    struct vcha_rootfs_watch *w = NULL;
    struct vcha_rootfs_stats st;
    struct vcha_rootfs_catchup_stats cs;
    char *a = wpath(f->src, "d00/f00"), *b = wpath(f->src, "d01/other-name");

    (void) state;
    assert_int_equal(link(a, b), 0);
    assert_int_equal(vcha_rootfs_watch_open(f->src, &w, f->why, sizeof(f->why)),
                     0);
    assert_int_equal(vcha_rootfs_precopy(w, NULL, 0, f->dst, soon(), &st,
                                         f->why, sizeof(f->why)),
                     0);
    rewrite_in_place(f->src, "d00/f00", "CHANGED");
    assert_int_equal(vcha_rootfs_catch_up(w, f->dst, NULL, f->scratch, soon(),
                                          &cs, f->why, sizeof(f->why)),
                     -EMLINK);
    assert_non_null(strstr(f->why, "d00/f00"));
    vcha_rootfs_watch_close(w);
    free(a);
    free(b);
    wfix_free(f);
}

/* A watch, and the copy made before the freeze (linked from @p base). */
static struct vcha_rootfs_watch *
watched_copy(struct wfix *f, const char *base)
{
    struct vcha_rootfs_watch *w = NULL;
    struct vcha_rootfs_stats st;

    assert_int_equal(vcha_rootfs_watch_open(f->src, &w, f->why, sizeof(f->why)),
                     0);
    assert_int_equal(vcha_rootfs_precopy(w, base, base ? vcha_realtime_ms() : 0,
                                         f->dst, soon(), &st, f->why,
                                         sizeof(f->why)),
                     0);
    return w;
}

static int
catch_up(struct wfix *f, struct vcha_rootfs_watch *w,
         const struct vcha_pathset *also)
{
    struct vcha_rootfs_catchup_stats cs;

    return vcha_rootfs_catch_up(w, f->dst, also, f->scratch, soon(), &cs,
                                f->why, sizeof(f->why));
}

/*
 * rsync --link-dest links symbolic links, fifos and devices from the base
 * too: the catch-up must make them anew, never change the base's.
 */
static void
test_watch_never_changes_the_base_s_links_fifos_or_devices(void **state)
{
    struct wfix *f = wfix_new(false);
    char *base = wpath(f->fs, "base"), *p = NULL, diff[512] = "";
    struct vcha_rootfs_stats st;
    struct vcha_rootfs_watch *w;
    struct stat ls, fs;

    (void) state;
    p = wpath(f->src, "link");
    assert_int_equal(symlink("d00/f00", p), 0);
    free(p);
    p = wpath(f->src, "fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    free(p);
    /* the base: a copy of the tree, its times the tree's */
    assert_int_equal(vcha_rootfs_stage(f->src, NULL, 0, base, soon(), &st,
                                       f->why, sizeof(f->why)),
                     0);
    w = watched_copy(f, base);
    p = wpath(f->dst, "link");
    assert_int_equal(lstat(p, &ls), 0);
    assert_true(ls.st_nlink > 1); /* linked from the base indeed */
    free(p);
    p = wpath(f->src, "link");
    assert_int_equal(lchown(p, 4321, 4321), 0);
    free(p);
    p = wpath(f->src, "fifo");
    assert_int_equal(chmod(p, 0600), 0);
    free(p);
    assert_int_equal(catch_up(f, w, NULL), 0);
    p = wpath(base, "link");
    assert_int_equal(lstat(p, &ls), 0);
    assert_int_equal(ls.st_uid, 0);
    free(p);
    p = wpath(base, "fifo");
    assert_int_equal(lstat(p, &fs), 0);
    assert_int_equal(fs.st_mode & 07777, 0644);
    free(p);
    p = wpath(f->dst, "link");
    assert_int_equal(lstat(p, &ls), 0);
    assert_int_equal(ls.st_uid, 4321);
    free(p);
    assert_true(trees_equal(f->src, f->dst, diff, sizeof(diff)));
    vcha_rootfs_watch_close(w);
    free(base);
    wfix_free(f);
}

/* A directory made a file, and a top-level entry: the root's times too. */
static void
test_watch_copies_a_directory_made_a_file_and_the_root_s_times(void **state)
{
    struct wfix *f = wfix_new(false);
    struct vcha_rootfs_watch *w = watched_copy(f, NULL);
    char *dir = wpath(f->src, "d05"), *p = wpath(f->src, "d05/f01"), diff[512];
    struct stat a, b;

    (void) state;
    rewrite_in_place(f->src, "d05/f01", "CHANGED");
    for (int i = 0; i < 50; i++) {
        char name[16], *q;

        snprintf(name, sizeof(name), "f%02d", i);
        q = wpath(dir, name);
        unlink(q);
        free(q);
    }
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(test_write_file(dir, "now a file"), 0);
    put(f->src, "top", "new at the top", 1000000000);
    usleep(20000);
    assert_int_equal(catch_up(f, w, NULL), 0);
    assert_true(trees_equal(f->src, f->dst, diff, sizeof(diff)));
    assert_int_equal(stat(f->src, &a), 0);
    assert_int_equal(stat(f->dst, &b), 0);
    assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    vcha_rootfs_watch_close(w);
    free(dir);
    free(p);
    wfix_free(f);
}

/* A directory moved whole with a file linked from outside it: all of it. */
static void
test_watch_refuses_a_moved_directory_holding_a_linked_file(void **state)
{
    struct wfix *f = wfix_new(false);
    char *a = wpath(f->src, "d02/f00"), *b = wpath(f->src, "d03/other");
    char *from = wpath(f->src, "d02"), *to = wpath(f->src, "moved");
    struct vcha_rootfs_watch *w;

    (void) state;
    assert_int_equal(link(a, b), 0);
    w = watched_copy(f, NULL);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(catch_up(f, w, NULL), -EMLINK);
    assert_non_null(strstr(f->why, "other names"));
    vcha_rootfs_watch_close(w);
    free(a);
    free(b);
    free(from);
    free(to);
    wfix_free(f);
}

/*
 * A file written through a mapping that is gone by the freeze, its
 * descriptor still open: no event, no mapping; the open descriptor lists
 * it.
 */
static void
test_watch_copies_a_file_written_through_a_mapping_gone_by_the_freeze(
    void **state)
{
    struct wfix *f = wfix_new(false);
    char *path = wpath(f->src, "d01/f01"),
         *procs = wpath(f->cg, "cgroup.procs");
    struct vcha_pathset *also = vcha_pathset_new();
    struct vcha_rootfs_watch *w;
    int go[2], done[2];
    char diff[512] = "", c;
    pid_t pid;

    (void) state;
    assert_int_equal(pipe(go) | pipe(done), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char mine[32], *m;
        int fd = open(path, O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(mine, sizeof(mine), "%d", (int) getpid());
        if (fd < 0 || test_write_file(procs, mine) < 0 ||
            write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1) {
            _exit(2);
        }
        m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            _exit(2);
        }
        memcpy(m, "MAPPED", 6);
        munmap(m, 4096);
        if (write(done[1], "w", 1) != 1) {
            _exit(2);
        }
        pause(); /* the descriptor stays open */
        _exit(0);
    }
    f->writer = pid;
    assert_int_equal(read(done[0], &c, 1), 1);
    w = watched_copy(f, NULL);
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(read(done[0], &c, 1), 1);
    freezer(f, "FROZEN");
    assert_int_equal(vcha_rootfs_shared_writable(f->cg, f->src, also), 0);
    assert_int_equal(vcha_pathset_count(also), 1);
    assert_string_equal(vcha_pathset_get(also, 0), "d01/f01");
    assert_int_equal(catch_up(f, w, also), 0);
    assert_true(trees_equal(f->src, f->dst, diff, sizeof(diff)));
    freezer(f, "THAWED");
    vcha_rootfs_watch_close(w);
    vcha_pathset_free(also);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
    free(path);
    free(procs);
    wfix_free(f);
}

/*
 * After each watch test: what a failed one left (its writer thawed and
 * killed, its cgroup and mounts removed).
 */
static int
wfix_teardown(void **state)
{
    (void) state;
    if (current != NULL) {
        wfix_free(current);
    }
    return 0;
}

/* The tests share a mount namespace of their own (the watch's mounts). */
static int
watch_group_setup(void **state)
{
    (void) state;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
        print_error("private mount namespace: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_stage_copies_a_file_rewritten_in_place),
        T(test_stage_copies_a_file_renamed_over_another),
        T(test_stage_keeps_hard_links_of_a_file_copied_again),
        T(test_stage_copy_keeps_the_metadata),
        T(test_stage_copies_every_name_of_a_changed_file),
        T(test_stage_copy_keeps_the_directory_times),
        T(test_stage_copy_never_takes_the_container_s_names),
        T(test_stage_after_a_restore_links_what_the_restore_wrote),
        T(test_stage_without_a_base_copies_everything),
        T(test_restore_replaces_a_stale_file_of_the_same_size_and_mtime),
        T(test_restore_creates_the_tree),
        T(test_errors_say_why),
        cmocka_unit_test_teardown(test_watch_catches_writes_up_to_the_freeze,
                                  wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_catches_writes_up_to_the_freeze_with_inotify,
            wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_copies_files_written_through_a_shared_map,
            wfix_teardown),
        cmocka_unit_test_teardown(test_watch_says_when_changes_were_lost,
                                  wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_refuses_a_changed_file_with_other_names, wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_never_changes_the_base_s_links_fifos_or_devices,
            wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_copies_a_directory_made_a_file_and_the_root_s_times,
            wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_refuses_a_moved_directory_holding_a_linked_file,
            wfix_teardown),
        cmocka_unit_test_teardown(
            test_watch_copies_a_file_written_through_a_mapping_gone_by_the_freeze,
            wfix_teardown),
    };

    return cmocka_run_group_tests(tests, watch_group_setup, NULL);
}
