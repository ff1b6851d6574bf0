/*
 * Unit tests for libcommon/checkpoint/rootfs.c: a container's root filesystem copied
 * into a generation and restored from one, with the real rsync, on trees
 * in a scratch directory.  The rewrites that rsync's quick check cannot
 * see (same size, same mtime) are made with utimensat(), which sets the
 * mtime back exactly: the same as a rewrite within one tick of the clock.
 */
#include <config.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
