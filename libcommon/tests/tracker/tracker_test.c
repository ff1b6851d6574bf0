/*
 * Unit tests for libcommon/runtime/tracker.c: the change tracker, with both
 * mechanisms on a tmpfs mounted in a private mount namespace (fanotify
 * needs a file system of its own to be quiet), inotify also on a plain
 * directory of this machine's root file system, and the path set.
 *
 * The file system work needs root (mounts, fanotify); run as another user
 * those tests say SKIP, the others run.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/tracker.h>

#include "../test-util.h"

/* Where a test's tree lives, and what watches it. */
struct param {
    enum vcha_tracker_mode mode;
    bool tmpfs; /* on the private tmpfs (needs root), else under $TMPDIR */
};

static const struct param fan_tmpfs = {VCHA_TRACKER_FANOTIFY, true};
static const struct param ino_tmpfs = {VCHA_TRACKER_INOTIFY, true};
static const struct param ino_plain = {VCHA_TRACKER_INOTIFY, false};

/* The private tmpfs, mounted once for all tests. */
static struct {
    char *dir; /* scratch; the tmpfs is its "fs" */
    char *fs;
    bool mounted;
} group;

struct fixture {
    const struct param *param;
    char *base; /* root/ (tracked) and out/ (the same file system) */
    char *root;
    struct vcha_tracker *t;
    struct vcha_pathset *set;
    char why[512];
    char paths[4][4096]; /* at()'s results, used in turn */
    unsigned next;
};

/* ------------------------------------------------------------ helpers */

/* BASE/@p rel, valid for the next three calls. */
static const char *
at(struct fixture *f, const char *rel)
{
    char *p = f->paths[f->next++ % 4];

    snprintf(p, sizeof(f->paths[0]), "%s/%s", f->base, rel);
    return p;
}

static void
put(struct fixture *f, const char *rel, const char *text)
{
    assert_int_equal(test_write_file(at(f, rel), text), 0);
}

static void
mkd(struct fixture *f, const char *rel)
{
    assert_int_equal(mkdir(at(f, rel), 0755), 0);
}

static void
mv(struct fixture *f, const char *from, const char *to)
{
    const char *a = at(f, from), *b = at(f, to);

    assert_int_equal(rename(a, b), 0);
}

static void
track(struct fixture *f)
{
    int rc = vcha_tracker_open(f->root, f->param->mode, &f->t, f->why,
                               sizeof(f->why));

    if (rc != 0) {
        print_error("open: %s\n", f->why);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(vcha_tracker_mechanism(f->t),
                        f->param->mode == VCHA_TRACKER_FANOTIFY ? "fanotify"
                                                                : "inotify");
}

/* Read the changes waiting into f->set (emptied first): the count. */
static int
changes(struct fixture *f)
{
    vcha_pathset_clear(f->set);
    return vcha_tracker_read(f->t, f->set);
}

static void
print_set(const struct vcha_pathset *set)
{
    print_message("# changed (%zu):", vcha_pathset_count(set));
    for (size_t i = 0; i < vcha_pathset_count(set); i++) {
        print_message(" \"%s\"", vcha_pathset_get(set, i));
    }
    print_message("\n");
}

static bool
has(const struct vcha_pathset *set, const char *path)
{
    for (size_t i = 0; i < vcha_pathset_count(set); i++) {
        if (strcmp(vcha_pathset_get(set, i), path) == 0) {
            return true;
        }
    }
    return false;
}

/* The changes waiting are exactly the paths given (NULL-terminated). */
static void
assert_changes(struct fixture *f, ...)
{
    const char *want[32];
    size_t n = 0;
    bool same;
    va_list ap;
    int rc = changes(f);

    va_start(ap, f);
    while ((want[n] = va_arg(ap, const char *)) != NULL) {
        n++;
    }
    va_end(ap);
    same = rc >= (int) n && vcha_pathset_count(f->set) == n;
    for (size_t i = 0; same && i < n; i++) {
        same = has(f->set, want[i]);
    }
    if (!same) {
        print_message("# read: %d\n", rc);
        print_set(f->set);
    }
    assert_true(same);
}

/* The changes waiting include @p path. */
static void
assert_changed(struct fixture *f, const char *path)
{
    if (!has(f->set, path)) {
        print_message("# not changed: \"%s\"\n", path);
        print_set(f->set);
    }
    assert_true(has(f->set, path));
}

static int
count_fds(void)
{
    return test_dir_entries("/proc/self/fd");
}

/* ------------------------------------------------------------ fixtures */

static int
group_setup(void **state)
{
    (void) state;
    group.dir = test_tmpdir_new();
    if (group.dir == NULL) {
        return -1;
    }
    if (geteuid() != 0) {
        return 0;
    }
    /* a mount namespace of our own: the mounts go when we do */
    if (unshare(CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
        print_error("private mount namespace: %s\n", strerror(errno));
        return -1;
    }
    group.fs = test_path(group.dir, "fs");
    if (group.fs == NULL || mkdir(group.fs, 0755) < 0 ||
        mount("vcha-test", group.fs, "tmpfs", 0, "size=256m") < 0) {
        print_error("tmpfs: %s\n", strerror(errno));
        return -1;
    }
    group.mounted = true;
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    if (group.mounted) {
        umount2(group.fs, MNT_DETACH);
    }
    free(group.fs);
    test_tmpdir_remove(group.dir);
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *under = NULL;

    assert_non_null(f);
    f->param = *state ? *state : &ino_plain;
    *state = f;
    if (f->param->tmpfs && !group.mounted) {
        return 0; /* the test says SKIP */
    }
    under = f->param->tmpfs ? group.fs : group.dir;
    assert_true(asprintf(&f->base, "%s/t.XXXXXX", under) > 0);
    assert_non_null(mkdtemp(f->base));
    f->root = test_path(f->base, "root");
    assert_int_equal(mkdir(f->root, 0755), 0);
    mkd(f, "out");
    f->set = vcha_pathset_new();
    assert_non_null(f->set);
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vcha_tracker_close(f->t);
    vcha_pathset_free(f->set);
    free(f->root);
    test_tmpdir_remove(f->base);
    free(f);
    return 0;
}

/* Skip a test that needs root when not root. */
#define NEEDS_ROOT(f)                                                          \
    do {                                                                       \
        if ((f)->base == NULL) {                                               \
            print_message("# needs root: mounts and fanotify\n");              \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------------ tracker */

static void
test_create_write_delete(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    track(f);
    assert_int_equal(changes(f), 0); /* nothing yet */
    put(f, "root/a", "a");
    assert_changes(f, "a", NULL);
    assert_int_equal(changes(f), 0); /* read once */
    put(f, "root/a", "again");
    assert_changes(f, "a", NULL);
    assert_int_equal(unlink(at(f, "root/a")), 0);
    assert_changes(f, "a", NULL);
}

static void
test_write_held_open(void **state)
{
    struct fixture *f = *state;
    int fd;

    NEEDS_ROOT(f);
    put(f, "root/log", "");
    track(f);
    fd = open(at(f, "root/log"), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(changes(f), 0); /* opening is no change */
    assert_int_equal(write(fd, "x", 1), 1);
    assert_changes(f, "log", NULL);
    assert_int_equal(write(fd, "y", 1), 1);
    assert_changes(f, "log", NULL);
    close(fd);
    assert_changes(f, "log", NULL); /* the close of a write */
}

static void
test_chmod(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    put(f, "root/d/f", "f");
    track(f);
    assert_int_equal(chmod(at(f, "root/d/f"), 0600), 0);
    assert_changes(f, "d/f", NULL);
    assert_int_equal(chmod(at(f, "root/d"), 0700), 0);
    assert_changes(f, "d", NULL);
    assert_int_equal(chmod(f->root, 0700), 0);
    assert_changes(f, "", NULL);
}

static void
test_delete_directory(void **state)
{
    struct fixture *f = *state;
    int fd;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    mkd(f, "root/d/e");
    put(f, "root/d/e/f", "f");
    track(f);
    assert_int_equal(unlink(at(f, "root/d/e/f")), 0);
    assert_changes(f, "d/e/f", NULL);
    /* removed while open: the directory lives on, with no name */
    fd = open(at(f, "root/d/e"), O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    put(f, "root/d/e/g", "g");
    assert_int_equal(unlink(at(f, "root/d/e/g")), 0);
    assert_int_equal(rmdir(at(f, "root/d/e")), 0);
    assert_int_equal(rmdir(at(f, "root/d")), 0);
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        assert_changes(f, "d", "d/e", "d/e/g", NULL);
    } else {
        /* what was in directories gone by the read: d says it */
        assert_changes(f, "d", NULL);
    }
    /* their watches go with their last reference */
    close(fd);
    assert_true(changes(f) >= 0);
    assert_int_equal(vcha_pathset_count(f->set), 0);
    assert_int_equal(vcha_tracker_watches(f->t), 1);
}

static void
test_rename_files(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/d1");
    mkd(f, "root/d2");
    put(f, "root/d1/a", "a");
    track(f);
    mv(f, "root/d1/a", "root/d1/b");
    assert_changes(f, "d1/a", "d1/b", NULL);
    mv(f, "root/d1/b", "root/d2/c");
    assert_changes(f, "d1/b", "d2/c", NULL);
}

static void
test_mkdir_then_files(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    track(f);
    mkd(f, "root/d");
    assert_changes(f, "d", NULL);
    put(f, "root/d/f", "f");
    mkd(f, "root/d/e");
    put(f, "root/d/e/g", "g"); /* inotify: before e is watched */
    assert_true(changes(f) > 0);
    assert_changed(f, "d/f");
    assert_changed(f, "d/e"); /* and a consumer sends it whole */
    /* the new directories are watched from now on */
    put(f, "root/d/e/g", "g2");
    assert_changes(f, "d/e/g", NULL);
    /* made and filled before any read: the directory at least */
    assert_int_equal(mkdir(at(f, "root/n"), 0755), 0);
    assert_int_equal(mkdir(at(f, "root/n/m"), 0755), 0);
    put(f, "root/n/m/x", "x");
    assert_true(changes(f) > 0);
    assert_changed(f, "n");
    put(f, "root/n/m/x", "x2");
    assert_changes(f, "n/m/x", NULL);
}

static void
test_rename_directory_then_write(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    put(f, "root/d/f", "f");
    mkd(f, "root/a");
    mkd(f, "root/a/b");
    mkd(f, "root/a/b/c");
    track(f);
    /* renamed and written before a read: only the new name inside */
    mv(f, "root/d", "root/e");
    put(f, "root/e/f", "f2");
    assert_changes(f, "d", "e", "e/f", NULL);
    /* renamed, read, then written */
    mv(f, "root/e", "root/g");
    assert_changes(f, "e", "g", NULL);
    put(f, "root/g/f", "f3");
    assert_changes(f, "g/f", NULL);
    /* a parent renamed: the paths below follow */
    mv(f, "root/a", "root/z");
    assert_changes(f, "a", "z", NULL);
    put(f, "root/z/b/c/x", "x");
    assert_changes(f, "z/b/c/x", NULL);
    /* into another directory, then a write deep inside */
    mv(f, "root/z/b", "root/g/b");
    put(f, "root/g/b/c/x", "x2");
    assert_changes(f, "z/b", "g/b", "g/b/c/x", NULL);
    /* written before and after a rename, one read for all */
    put(f, "root/g/b/c/x", "x3");
    mv(f, "root/g/b", "root/z/b");
    put(f, "root/z/b/c/x", "x4");
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        /* a write before the rename: under the name it had then */
        assert_changes(f, "g/b/c/x", "g/b", "z/b", "z/b/c/x", NULL);
    } else {
        /* every directory is where it is at the read */
        assert_changes(f, "g/b", "z/b", "z/b/c/x", NULL);
    }
}

static void
test_mkdir_in_renamed_parent(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/tmp");
    track(f);
    /* made in a directory renamed before the read: watched all the same */
    mkd(f, "root/tmp/sub");
    mv(f, "root/tmp", "root/final");
    assert_true(changes(f) > 0);
    assert_changed(f, "final");
    put(f, "root/final/sub/f", "f");
    assert_changes(f, "final/sub/f", NULL);
}

static void
test_directory_moved_in(void **state)
{
    struct fixture *f = *state;
    size_t watches;

    NEEDS_ROOT(f);
    mkd(f, "out/m");
    mkd(f, "out/m/sub");
    put(f, "out/m/sub/f", "f");
    track(f);
    watches = vcha_tracker_watches(f->t);
    mv(f, "out/m", "root/m");
    assert_changes(f, "m", NULL); /* itself, not its contents */
    put(f, "root/m/sub/f", "f2");
    assert_changes(f, "m/sub/f", NULL);
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        assert_int_equal(vcha_tracker_watches(f->t), watches + 2);
    }
}

static void
test_directory_moved_out(void **state)
{
    struct fixture *f = *state;
    size_t watches;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    mkd(f, "root/d/e");
    track(f);
    watches = vcha_tracker_watches(f->t);
    mv(f, "root/d", "out/d");
    assert_changes(f, "d", NULL);
    put(f, "out/d/e/f", "f");
    assert_changes(f, NULL);
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        assert_int_equal(vcha_tracker_watches(f->t), watches - 2);
    }
}

static void
test_outside_not_reported(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    track(f);
    put(f, "out/x", "x");
    mkd(f, "out/y");
    put(f, "out/y/z", "z");
    mv(f, "out/x", "out/y/x");
    assert_true(changes(f) >= 0);
    assert_int_equal(vcha_pathset_count(f->set), 0);
    /* and from outside in: the new name only */
    mv(f, "out/y/x", "root/x");
    assert_changes(f, "x", NULL);
}

static void
test_symlink(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "out/target");
    assert_int_equal(symlink(at(f, "out/target"), at(f, "root/link")), 0);
    track(f);
    /* the crawl does not follow it; nor are changes there reported */
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        assert_int_equal(vcha_tracker_watches(f->t), 1);
    }
    put(f, "out/target/f", "f");
    assert_changes(f, NULL);
    assert_int_equal(symlink("target", at(f, "root/new")), 0);
    assert_changes(f, "new", NULL);
    assert_int_equal(unlink(at(f, "root/link")), 0);
    assert_changes(f, "link", NULL);
    /* a directory made, then a link in its place before the read */
    mkd(f, "root/x");
    assert_int_equal(rmdir(at(f, "root/x")), 0);
    assert_int_equal(symlink(at(f, "out/target"), at(f, "root/x")), 0);
    assert_changes(f, "x", NULL);
    put(f, "out/target/f", "f2");
    assert_changes(f, NULL);
}

static void
test_other_file_system(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/mnt");
    mkd(f, "root/d");
    assert_int_equal(mount("vcha-inner", at(f, "root/mnt"), "tmpfs", 0, NULL),
                     0);
    mkd(f, "root/mnt/sub");
    track(f);
    if (f->param->mode == VCHA_TRACKER_INOTIFY) {
        assert_int_equal(vcha_tracker_watches(f->t), 2); /* root, d */
    }
    put(f, "root/mnt/f", "f");
    put(f, "root/mnt/sub/g", "g");
    put(f, "root/d/f", "f");
    assert_changes(f, "d/f", NULL);
    assert_int_equal(umount2(at(f, "root/mnt"), MNT_DETACH), 0);
}

static void
test_bind_mount_loop(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    mkd(f, "root/loop");
    assert_int_equal(mount(f->root, at(f, "root/loop"), "none", MS_BIND, NULL),
                     0);
    track(f); /* ends: the root is not watched twice */
    assert_int_equal(vcha_tracker_watches(f->t), 2); /* root (loop), d */
    put(f, "root/d/f", "f");
    assert_changes(f, "d/f", NULL);
    assert_int_equal(umount2(at(f, "root/loop"), MNT_DETACH), 0);
}

/* Make @p n files in @p dir without reading the events. */
static void
flood(struct fixture *f, const char *dir, int n)
{
    char path[4096];
    int fd;

    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s/file%05d", f->base, dir, i);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void
test_overflow(void **state)
{
    struct fixture *f = *state;
    int rc;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    track(f);
    /* more than the kernel's queue holds (16384 events by default) */
    flood(f, "root/d", 20000);
    rc = changes(f);
    assert_int_equal(rc, -EOVERFLOW);
    assert_true(vcha_pathset_count(f->set) > 1000); /* what could be read */
    assert_true(has(f->set, "d/file00000"));
    assert_int_equal(changes(f), 0); /* said once */
    /* and tracked as before */
    put(f, "root/after", "a");
    put(f, "root/d/file19999", "b");
    assert_changes(f, "after", "d/file19999", NULL);
    mkd(f, "root/d/e");
    assert_changes(f, "d/e", NULL);
    put(f, "root/d/e/f", "f");
    assert_changes(f, "d/e/f", NULL);
}

/* fanotify, unbounded: the same flood is all read, no event lost */
static void
test_unbounded_queue_loses_nothing(void **state)
{
    struct fixture *f = *state;
    char name[32];
    int rc, total = 0;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    assert_int_equal(vcha_tracker_open_flags(f->root, f->param->mode,
                                             VCHA_TRACKER_UNBOUNDED, &f->t,
                                             f->why, sizeof(f->why)),
                     0);
    flood(f, "root/d", 20000);
    vcha_pathset_clear(f->set);
    while ((rc = vcha_tracker_read(f->t, f->set)) > 0) {
        total += rc;
    }
    assert_int_equal(rc, 0); /* never -EOVERFLOW */
    assert_true(total >= 20000);
    for (int i = 0; i < 20000; i += 997) {
        snprintf(name, sizeof(name), "d/file%05d", i);
        assert_true(has(f->set, name));
    }
    assert_true(has(f->set, "d/file19999"));
}

static void
test_overflow_rebuilds_watches(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/d");
    mkd(f, "root/d/e");
    track(f);
    /* lost among the flood: a new directory and a rename */
    mkd(f, "root/d/e/new");
    flood(f, "root/d", 20000);
    mv(f, "root/d/e", "root/d/moved");
    mkd(f, "root/late");
    mkd(f, "root/late/sub");
    assert_int_equal(changes(f), -EOVERFLOW);
    assert_int_equal(vcha_tracker_watches(f->t), 6);
    put(f, "root/d/moved/new/f", "f");
    put(f, "root/late/sub/g", "g");
    assert_changes(f, "d/moved/new/f", "late/sub/g", NULL);
}

static void
test_fd_polls(void **state)
{
    struct fixture *f = *state;
    struct pollfd p = {.events = POLLIN};

    NEEDS_ROOT(f);
    track(f);
    p.fd = vcha_tracker_fd(f->t);
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    put(f, "root/a", "a");
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_true(p.revents & POLLIN);
    assert_changes(f, "a", NULL);
    assert_int_equal(poll(&p, 1, 0), 0);
}

static void
test_watches(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/a");
    mkd(f, "root/a/b");
    mkd(f, "root/c");
    put(f, "root/a/f", "f");
    track(f);
    assert_int_equal(vcha_tracker_watches(f->t),
                     f->param->mode == VCHA_TRACKER_FANOTIFY ? 1 : 4);
}

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct vcha_tracker *t = (void *) 1;
    int fds = count_fds();

    NEEDS_ROOT(f);
    put(f, "root/file", "");
    assert_int_equal(vcha_tracker_open("relative", f->param->mode, &t, f->why,
                                       sizeof(f->why)),
                     -EINVAL);
    assert_null(t);
    assert_int_equal(vcha_tracker_open(at(f, "root/none"), f->param->mode, &t,
                                       f->why, sizeof(f->why)),
                     -ENOENT);
    assert_non_null(strstr(f->why, "root/none"));
    assert_int_equal(
        vcha_tracker_open(at(f, "root/file"), f->param->mode, &t, NULL, 0),
        -ENOTDIR);
    assert_int_equal(
        vcha_tracker_open(f->root, (enum vcha_tracker_mode) 42, &t, NULL, 0),
        -EINVAL);
    assert_int_equal(count_fds(), fds);
    vcha_tracker_close(NULL);
}

static void
test_auto(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    assert_int_equal(vcha_tracker_open(f->root, VCHA_TRACKER_AUTO, &f->t,
                                       f->why, sizeof(f->why)),
                     0);
    assert_string_equal(vcha_tracker_mechanism(f->t), "fanotify");
    put(f, "root/a", "a");
    assert_changes(f, "a", NULL);
}

/* An overlay of BASE/@p name's lower, upper and work, with @p options. */
static const char *
overlay(struct fixture *f, const char *name, const char *options)
{
    char dirs[4][64], opts[4096];

    for (int i = 0; i < 4; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s.%s", name,
                 (const char *[]){"lower", "upper", "work", "mnt"}[i]);
        mkd(f, dirs[i]);
    }
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s%s",
             at(f, dirs[0]), at(f, dirs[1]), at(f, dirs[2]), options);
    assert_int_equal(mount("vcha-overlay", at(f, dirs[3]), "overlay", 0, opts),
                     0);
    return at(f, dirs[3]);
}

static void
test_overlayfs(void **state)
{
    struct fixture *f = *state;
    char plain[4096], exported[4096];
    int fds;

    NEEDS_ROOT(f);
    snprintf(plain, sizeof(plain), "%s", overlay(f, "ov", ""));
    snprintf(exported, sizeof(exported), "%s",
             overlay(f, "nfs", ",index=on,nfs_export=on"));
    fds = count_fds();
    assert_int_equal(vcha_tracker_open(plain, VCHA_TRACKER_FANOTIFY, &f->t,
                                       f->why, sizeof(f->why)),
                     -EOPNOTSUPP);
    assert_non_null(strstr(f->why, "fanotify"));
    assert_int_equal(count_fds(), fds);
    /* AUTO falls back to inotify, which works there */
    assert_int_equal(vcha_tracker_open(plain, VCHA_TRACKER_AUTO, &f->t, f->why,
                                       sizeof(f->why)),
                     0);
    assert_string_equal(vcha_tracker_mechanism(f->t), "inotify");
    put(f, "ov.mnt/a", "a");
    assert_changes(f, "a", NULL);
    vcha_tracker_close(f->t);
    /* with nfs_export, fanotify */
    assert_int_equal(vcha_tracker_open(exported, VCHA_TRACKER_AUTO, &f->t,
                                       f->why, sizeof(f->why)),
                     0);
    assert_string_equal(vcha_tracker_mechanism(f->t), "fanotify");
    put(f, "nfs.mnt/b", "b");
    assert_changes(f, "b", NULL);
    vcha_tracker_close(f->t);
    f->t = NULL;
    assert_int_equal(umount2(plain, MNT_DETACH), 0);
    assert_int_equal(umount2(exported, MNT_DETACH), 0);
}

/* Write @p text to /proc file @p path: 0 or -1. */
static int
proc_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    ssize_t n = fd >= 0 ? write(fd, text, strlen(text)) : -1;

    if (fd >= 0) {
        close(fd);
    }
    return n == (ssize_t) strlen(text) ? 0 : -1;
}

/*
 * In a child, in a user namespace of its own with its own inotify limit
 * of @p watches (a limit that binds that namespace only, not the
 * machine's): 0, or the line of the step that failed.
 */
static int
in_limited_namespace(struct fixture *f, const char *watches,
                     int (*run)(struct fixture *))
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWUSER) < 0 ||
            proc_write("/proc/self/setgroups", "deny") < 0 ||
            proc_write("/proc/self/uid_map", "0 0 1") < 0 ||
            proc_write("/proc/self/gid_map", "0 0 1") < 0 ||
            proc_write("/proc/sys/user/max_inotify_watches", watches) < 0) {
            _exit(1);
        }
        _exit(run(f));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            return __LINE__ % 256 ? __LINE__ % 256 : 255;                      \
        }                                                                      \
    } while (0)

/* Three watches: a tree of four directories cannot be watched. */
static int
run_enospc(struct fixture *f)
{
    struct vcha_tracker *t = NULL;
    int fds = count_fds();

    CHECK(vcha_tracker_open(f->root, VCHA_TRACKER_INOTIFY, &t, f->why,
                            sizeof(f->why)) == -ENOSPC);
    CHECK(t == NULL);
    CHECK(strstr(f->why, "/proc/sys/fs/inotify/max_user_watches") != NULL);
    CHECK(count_fds() == fds);
    return 0;
}

/* Three watches: root and a, then x fits and y does not. */
static int
run_add_fails(struct fixture *f)
{
    struct vcha_tracker *t = NULL;
    int rc;

    CHECK(vcha_tracker_open(f->root, VCHA_TRACKER_INOTIFY, &t, NULL, 0) == 0);
    CHECK(vcha_tracker_watches(t) == 2);
    CHECK(mkdir(at(f, "root/x"), 0755) == 0);
    CHECK(vcha_tracker_read(t, f->set) == 1);
    CHECK(mkdir(at(f, "root/y"), 0755) == 0);
    CHECK(vcha_tracker_read(t, f->set) == -EOVERFLOW);
    /* said again while the tree cannot be watched whole */
    CHECK(vcha_tracker_read(t, f->set) == -EOVERFLOW);
    CHECK(rmdir(at(f, "root/y")) == 0);
    /* watched whole again: said a last time */
    rc = vcha_tracker_read(t, f->set);
    CHECK(rc == -EOVERFLOW);
    CHECK(vcha_tracker_read(t, f->set) == 0);
    vcha_tracker_close(t);
    return 0;
}

static void
test_inotify_out_of_watches(void **state)
{
    struct fixture *f = *state;

    NEEDS_ROOT(f);
    mkd(f, "root/a");
    mkd(f, "root/b");
    mkd(f, "root/c");
    assert_int_equal(in_limited_namespace(f, "3", run_enospc), 0);
    assert_int_equal(rmdir(at(f, "root/b")), 0);
    assert_int_equal(rmdir(at(f, "root/c")), 0);
    assert_int_equal(in_limited_namespace(f, "3", run_add_fails), 0);
}

/* ------------------------------------------------------------ path set */

static struct vcha_pathset *
set_of(const char *first, ...)
{
    struct vcha_pathset *set = vcha_pathset_new();
    va_list ap;

    assert_non_null(set);
    va_start(ap, first);
    for (const char *p = first; p != NULL; p = va_arg(ap, const char *)) {
        assert_int_equal(vcha_pathset_add(set, p), 0);
    }
    va_end(ap);
    return set;
}

static void
assert_set(const struct vcha_pathset *set, const char *const *want)
{
    size_t n = 0;

    while (want[n] != NULL) {
        n++;
    }
    if (vcha_pathset_count(set) != n) {
        print_set(set);
    }
    assert_int_equal(vcha_pathset_count(set), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(vcha_pathset_get(set, i), want[i]);
    }
    assert_null(vcha_pathset_get(set, n));
}

static void
test_pathset_order_and_dedupe(void **state)
{
    struct vcha_pathset *set =
        set_of("b", "a/b", "a", "", "a", "b", "a-b", "B", NULL);

    (void) state;
    assert_set(set, (const char *[]){"", "B", "a", "a-b", "a/b", "b", NULL});
    assert_int_equal(vcha_pathset_add(set, "a/b"), 0);
    assert_int_equal(vcha_pathset_add(set, "0"), 0);
    assert_set(set,
               (const char *[]){"", "0", "B", "a", "a-b", "a/b", "b", NULL});
    vcha_pathset_clear(set);
    assert_int_equal(vcha_pathset_count(set), 0);
    assert_null(vcha_pathset_get(set, 0));
    assert_int_equal(vcha_pathset_add(set, "again"), 0);
    assert_set(set, (const char *[]){"again", NULL});
    vcha_pathset_free(set);
    vcha_pathset_free(NULL);
}

static void
test_pathset_merge(void **state)
{
    struct vcha_pathset *a = set_of("x", "m", NULL);
    struct vcha_pathset *b = set_of("m", "c", "z/y", NULL);
    struct vcha_pathset *empty = vcha_pathset_new();

    (void) state;
    assert_int_equal(vcha_pathset_merge(a, b), 0);
    assert_set(a, (const char *[]){"c", "m", "x", "z/y", NULL});
    assert_set(b, (const char *[]){"c", "m", "z/y", NULL});
    assert_int_equal(vcha_pathset_merge(a, a), 0);
    assert_int_equal(vcha_pathset_merge(a, empty), 0);
    assert_int_equal(vcha_pathset_count(a), 4);
    assert_int_equal(vcha_pathset_merge(empty, a), 0);
    assert_set(empty, (const char *[]){"c", "m", "x", "z/y", NULL});
    vcha_pathset_free(a);
    vcha_pathset_free(b);
    vcha_pathset_free(empty);
}

/* A path whose directories are gone goes as the topmost one gone. */
static void
test_pathset_add_gone(void **state)
{
    char *dir = test_tmpdir_new(), *sub;
    struct vcha_pathset *set = vcha_pathset_new();
    int root;

    (void) state;
    assert_non_null(dir);
    sub = test_path(dir, "etc");
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);
    sub = test_path(dir, "file");
    assert_int_equal(test_write_file(sub, "x"), 0);
    free(sub);
    sub = test_path(dir, "link");
    assert_int_equal(symlink("etc", sub), 0);
    free(sub);
    root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    /* there, or gone with its directory there: itself */
    assert_int_equal(vcha_pathset_add_gone(set, root, "etc"), 0);
    assert_int_equal(vcha_pathset_add_gone(set, root, "etc/gone"), 0);
    /* its directories gone: the topmost of them */
    assert_int_equal(vcha_pathset_add_gone(set, root, "etc/web.d/a/b"), 0);
    assert_int_equal(vcha_pathset_add_gone(set, root, "etc/web.d/c"), 0);
    assert_int_equal(vcha_pathset_add_gone(set, root, "var/lib/x"), 0);
    /* a file where a directory was: that file */
    assert_int_equal(vcha_pathset_add_gone(set, root, "file/old/y"), 0);
    /* a link where a directory was: that link (rsync sends it as a link) */
    assert_int_equal(vcha_pathset_add_gone(set, root, "link/x/y"), 0);
    assert_set(set, (const char *[]){"etc", "etc/gone", "etc/web.d", "file",
                                     "link", "var", NULL});
    /* out of the root: refused */
    assert_int_equal(vcha_pathset_add_gone(set, root, "../x/y"), -ELOOP);
    assert_int_equal(vcha_pathset_count(set), 6);
    close(root);
    vcha_pathset_free(set);
    test_tmpdir_remove(dir);
}

/* What write0 writes of @p set, in a new buffer of *@p len bytes. */
static char *
written0(const struct vcha_pathset *set, size_t *len)
{
    char path[] = "/tmp/vcha-write0.XXXXXX";
    int fd = mkstemp(path);
    struct stat st;
    char *buf;

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(vcha_pathset_write0(set, fd), 0);
    assert_int_equal(fstat(fd, &st), 0);
    *len = (size_t) st.st_size;
    buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, *len, 0), (ssize_t) *len);
    close(fd);
    return buf;
}

static void
test_pathset_write0(void **state)
{
    struct vcha_pathset *set = set_of("b", "a/b c", "", "a\nnl", NULL);
    static const char want[] = ".\0a\nnl\0a/b c\0b";
    char *buf;
    size_t len;
    int fds[2];

    (void) state;
    buf = written0(set, &len);
    assert_int_equal(len, sizeof(want)); /* the last NUL included */
    assert_memory_equal(buf, want, sizeof(want));
    free(buf);
    vcha_pathset_clear(set);
    buf = written0(set, &len);
    assert_int_equal(len, 0);
    free(buf);
    /* an error is returned */
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(vcha_pathset_add(set, "x"), 0);
    assert_int_equal(vcha_pathset_write0(set, fds[1]), -EPIPE);
    close(fds[1]);
    assert_int_equal(vcha_pathset_write0(set, -1), -EBADF);
    vcha_pathset_free(set);
}

static double
seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
test_pathset_100k(void **state)
{
    struct vcha_pathset *set = vcha_pathset_new(), *copy = vcha_pathset_new();
    const size_t n = 100000;
    char path[64];
    double t0, t1;
    size_t len;
    char *buf;

    (void) state;
    assert_non_null(set);
    t0 = seconds();
    /* in no order (i * 7919 mod n visits each i once), each twice */
    for (size_t k = 0; k < 2 * n; k++) {
        snprintf(path, sizeof(path), "usr/share/d%zu/f%zu", (k * 7919) % n % 97,
                 (k * 7919) % n);
        assert_int_equal(vcha_pathset_add(set, path), 0);
    }
    assert_int_equal(vcha_pathset_count(set), n);
    assert_non_null(vcha_pathset_get(set, 0)); /* sorts */
    t1 = seconds();
    /* a figure, not a check: timing is for benchmarks (tests/bench/watch) */
    print_message("# 200,000 adds of 100,000 paths and a sort: %.3f s\n",
                  t1 - t0);
    for (size_t i = 1; i < n; i++) {
        assert_true(
            strcmp(vcha_pathset_get(set, i - 1), vcha_pathset_get(set, i)) < 0);
    }
    assert_int_equal(vcha_pathset_merge(copy, set), 0);
    assert_int_equal(vcha_pathset_count(copy), n);
    buf = written0(copy, &len);
    assert_string_equal(buf, vcha_pathset_get(set, 0));
    assert_int_equal(buf[len - 1], '\0');
    free(buf);
    vcha_pathset_free(set);
    vcha_pathset_free(copy);
}

#define T(name, param)                                                         \
    cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,            \
                                             (void *) &(param))
#define ALL3(name) T(name, fan_tmpfs), T(name, ino_tmpfs), T(name, ino_plain)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        ALL3(test_create_write_delete),
        ALL3(test_write_held_open),
        ALL3(test_chmod),
        ALL3(test_delete_directory),
        ALL3(test_rename_files),
        ALL3(test_mkdir_then_files),
        ALL3(test_rename_directory_then_write),
        ALL3(test_mkdir_in_renamed_parent),
        ALL3(test_directory_moved_in),
        ALL3(test_directory_moved_out),
        ALL3(test_outside_not_reported),
        ALL3(test_symlink),
        ALL3(test_fd_polls),
        ALL3(test_watches),
        T(test_other_file_system, fan_tmpfs),
        T(test_other_file_system, ino_tmpfs),
        T(test_bind_mount_loop, ino_tmpfs),
        T(test_overflow, fan_tmpfs),
        T(test_overflow, ino_tmpfs),
        T(test_unbounded_queue_loses_nothing, fan_tmpfs),
        T(test_overflow_rebuilds_watches, ino_tmpfs),
        T(test_open_errors, fan_tmpfs),
        T(test_open_errors, ino_plain),
        T(test_auto, fan_tmpfs),
        T(test_overlayfs, ino_tmpfs),
        T(test_inotify_out_of_watches, ino_tmpfs),
        cmocka_unit_test(test_pathset_order_and_dedupe),
        cmocka_unit_test(test_pathset_merge),
        cmocka_unit_test(test_pathset_add_gone),
        cmocka_unit_test(test_pathset_write0),
        cmocka_unit_test(test_pathset_100k),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
