/*
 * Unit tests for libcommon/checkpoint/restore.c (and the MANIFEST reader of
 * genstore.c): generations committed by the real store from trees in a
 * scratch directory, restored into plain directories, and compared with
 * the generation by rsync itself (-aHc --numeric-ids, dry run, itemised:
 * any difference of content, type, mode, owner, mtime, link target,
 * device or hard link is a line of output).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/genstore.h>
#include <vcha/restore.h>
#include <vcha/rootfs.h>

#include "../test-util.h"

struct fixture {
    char *dir, *store, *dst, *images;
    char why[1024];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    f->store = test_path(f->dir, "store");
    f->dst = test_path(f->dir, "rootfs");
    f->images = test_path(f->dir, "images");
    assert_int_equal(mkdir(f->store, 0755), 0);
    assert_int_equal(mkdir(f->images, 0700), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    free(f->store);
    free(f->dst);
    free(f->images);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static long long
soon(void)
{
    return vcha_now_ms() + 30000;
}

/* @p text into @p dir/@p name with mode @p mode and mtime @p sec. */
static void
put(const char *dir, const char *name, const char *text, mode_t mode,
    time_t sec)
{
    char *path = test_path(dir, name);
    struct timespec t[2] = {{sec, 0}, {sec, 0}};

    assert_int_equal(test_write_file(path, text), 0);
    assert_int_equal(chmod(path, mode), 0);
    assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
    free(path);
}

static void
mkdir_in(const char *dir, const char *name, mode_t mode)
{
    char *path = test_path(dir, name);

    assert_int_equal(mkdir(path, mode), 0);
    assert_int_equal(chmod(path, mode), 0);
    free(path);
}

/* A tree with every kind of entry the store records. */
static void
tree_fill(const char *root)
{
    char *p;

    mkdir_in(root, "etc", 0755);
    mkdir_in(root, "usr", 0755);
    mkdir_in(root, "usr/bin", 0755);
    mkdir_in(root, "ro", 0555);
    put(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644, 1000000);
    put(root, "etc/shadow", "root:*:1::::::\n", 0640, 1000001);
    put(root, "usr/bin/tool", "#!/bin/sh\necho tool\n", 04755, 1000002);
    put(root, "usr/bin/empty", "", 0600, 1000003);
    put(root, "big", "", 0644, 1000004);
    p = test_path(root, "big");
    assert_int_equal(truncate(p, 3 << 20), 0); /* several chunks */
    free(p);
    p = test_path(root, "etc/shadow");
    assert_int_equal(lchown(p, 1234, 5678), 0);
    free(p);
    p = test_path(root, "usr/bin/tool");
    assert_int_equal(lchown(p, 0, 50), 0);
    assert_int_equal(chmod(p, 04755), 0); /* chown cleared it */
    free(p);
    /* hard links: two names of one file, and a symbolic link */
    p = test_path(root, "usr/bin/tool");
    {
        char *q = test_path(root, "usr/bin/tool-alias");

        assert_int_equal(link(p, q), 0);
        free(q);
    }
    free(p);
    p = test_path(root, "etc/localtime");
    assert_int_equal(symlink("/usr/share/zoneinfo/UTC", p), 0);
    assert_int_equal(lchown(p, 7, 8), 0);
    free(p);
    p = test_path(root, "fifo");
    assert_int_equal(mkfifo(p, 0620), 0);
    free(p);
    p = test_path(root, "null");
    assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
    free(p);
    p = test_path(root, "ro/file");
    put(root, "ro/file", "read only\n", 0444, 1000005);
    free(p);
    p = test_path(root, "ro");
    assert_int_equal(chmod(p, 0555), 0);
    free(p);
}

/* The same tree, but passwd of the same size with another content. */
static void
tree_fill_other(const char *root)
{
    tree_fill(root);
    put(root, "etc/passwd", "ROOT:x:0:0::/root:/bin/sh\n", 0644, 1000000);
}

/* Commit a generation whose rootfs is made by @p fill; its path. */
static char *
gen_make(struct fixture *f, void (*fill)(const char *root))
{
    struct vcha_genstore *s = NULL;
    char *stage = NULL, *gen = NULL, *root, *img;

    assert_int_equal(vcha_genstore_open(f->store, &s), 0);
    assert_int_equal(vcha_genstore_stage(s, &stage), 0);
    root = test_path(stage, "rootfs");
    img = test_path(stage, "images");
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(img, 0700), 0);
    fill(root);
    put(img, "pages-1.img", "the pages of the process\n", 0600, 1000010);
    put(img, "core-1.img", "the core of the process\n", 0600, 1000011);
    assert_int_equal(vcha_genstore_commit(s, NULL, 100, &gen), 0);
    vcha_genstore_free(s);
    free(stage);
    free(root);
    free(img);
    return gen;
}

static struct vcha_gen_manifest *
manifest(const char *gen)
{
    struct vcha_gen_manifest *m = NULL;
    char *why = NULL;

    assert_int_equal(vcha_gen_manifest_read(gen, VCHA_GEN_SIZES_ONLY, &m, &why),
                     0);
    assert_null(why);
    return m;
}

/* What rsync finds different between the generation's rootfs and @p dst. */
static char *
differences(const char *gen, const char *dst)
{
    char *from = test_path(gen, "rootfs/");
    const char *argv[] = {
        "rsync", "-naHc", "--numeric-ids", "--delete", "-i", from, dst, NULL};
    struct vcha_exec_result res = {0};
    char *out;

    assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
    assert_true(vcha_exec_ok(&res));
    out = strdup(res.out);
    vcha_exec_result_clear(&res);
    free(from);
    return out;
}

static void
assert_equal_trees(const char *gen, const char *dst)
{
    char *diff = differences(gen, dst);

    assert_string_equal(diff, "");
    free(diff);
}

static void
assert_trees_differ(const char *gen, const char *dst)
{
    char *diff = differences(gen, dst);

    assert_string_not_equal(diff, "");
    free(diff);
}

static int
restore(struct fixture *f, const struct vcha_gen_manifest *m,
        const struct vcha_restore_lineage *lin, struct vcha_restore_stats *st)
{
    return vcha_restore_tree(m, "rootfs", f->dst, lin, 2, soon(), st, f->why,
                             sizeof(f->why));
}

/* Flip one byte of @p name of @p dir, its size and mtime kept. */
static void
corrupt(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    struct stat st;
    char c;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(pread(fd, &c, 1, 0), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, 0), 1);
    assert_int_equal(futimens(fd, (struct timespec[2]){st.st_atim, st.st_mtim}),
                     0);
    close(fd);
    free(path);
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

/* Whether @p dir holds a temporary file of the restore, at any depth. */
static bool
has_temporary(const char *dir)
{
    const char *argv[] = {"find", dir, "-name", ".vcha-restore-*", NULL};
    struct vcha_exec_result res = {0};
    bool found;

    assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
    found = res.out[0] != '\0';
    vcha_exec_result_clear(&res);
    return found;
}

/* ------------------------------------------------------------ manifest */

static void
test_manifest_read_lists_entries_and_checks_the_tree(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill), *extra = NULL, *why = NULL;
    struct vcha_gen_manifest *m = manifest(gen);
    const struct vcha_gen_entry *e = vcha_gen_manifest_find(m, "etc/passwd");

    assert_null(e); /* paths are relative to the generation */
    e = vcha_gen_manifest_find(m, "rootfs/etc/shadow");
    assert_non_null(e);
    assert_int_equal(e->type, 'f');
    assert_int_equal(e->mode, 0640);
    assert_int_equal(e->size, strlen("root:*:1::::::\n"));
    assert_int_equal(e->st.st_uid, 1234); /* the tree's lstat is kept */
    e = vcha_gen_manifest_find(m, "rootfs/etc/localtime");
    assert_string_equal(e->target, "/usr/share/zoneinfo/UTC");
    e = vcha_gen_manifest_find(m, "rootfs/null");
    assert_int_equal(e->major, 1);
    assert_int_equal(e->minor, 3);
    assert_string_equal(m->info.path, gen);
    assert_true(m->info.number > 0);
    for (size_t i = 1; i < m->n; i++) {
        assert_true(strcmp(m->entries[i - 1].path, m->entries[i].path) < 0);
    }
    vcha_gen_manifest_free(m);
    /* without the tree: no lstat */
    assert_int_equal(vcha_gen_manifest_read(gen, 0, &m, NULL), 0);
    assert_int_equal(vcha_gen_manifest_find(m, "rootfs/etc/shadow")->st.st_uid,
                     0);
    vcha_gen_manifest_free(m);
    /* an unlisted file: the tree check refuses it, the reader alone not */
    extra = test_path(gen, "rootfs/extra");
    assert_int_equal(test_write_file(extra, "x"), 0);
    assert_int_equal(vcha_gen_manifest_read(gen, VCHA_GEN_SIZES_ONLY, &m, &why),
                     -EBADMSG);
    assert_null(m);
    assert_non_null(strstr(why, "rootfs/extra"));
    free(why);
    assert_int_equal(vcha_gen_manifest_read(gen, 0, &m, NULL), 0);
    vcha_gen_manifest_free(m);
    assert_int_equal(vcha_gen_manifest_read(gen, 0x80, &m, NULL), -EINVAL);
    free(extra);
    free(gen);
}

static void
test_manifest_read_refuses_an_edited_manifest(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill), *path = test_path(gen, "MANIFEST");
    struct vcha_gen_manifest *m = NULL;
    char *why = NULL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "d 0755 rootfs/x\n", 16), 16);
    close(fd);
    assert_int_equal(vcha_gen_manifest_read(gen, 0, &m, &why), -EBADMSG);
    assert_non_null(strstr(why, "MANIFEST"));
    free(why);
    free(path);
    free(gen);
}

/* ------------------------------------------------------------ the tree */

static void
test_restore_into_an_empty_directory(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill);
    struct vcha_gen_manifest *m = manifest(gen);
    struct vcha_restore_stats st;

    assert_int_equal(restore(f, m, NULL, &st), 0);
    assert_equal_trees(gen, f->dst);
    assert_int_equal(inode(f->dst, "usr/bin/tool"),
                     inode(f->dst, "usr/bin/tool-alias"));
    /* tool and its alias: one file fetched, one link */
    assert_int_equal(st.files, 7);
    assert_int_equal(st.fetched, 6);
    assert_int_equal(st.linked, 1);
    assert_int_equal(
        st.fetched_bytes,
        m->info.bytes - vcha_gen_manifest_find(m, "rootfs/usr/bin/tool")->size -
            strlen("the pages of the process\n") -
            strlen("the core of the process\n"));
    assert_int_equal(st.hashed + st.proven, 0);
    assert_false(has_temporary(f->dst));
    vcha_gen_manifest_free(m);
    free(gen);
}

/* What the node held: stale, extra, of another type, modified. */
static void
node_mess(const char *dst)
{
    char *p;

    put(dst, "etc/passwd", "an older, longer passwd file\n", 0600, 5);
    put(dst, "etc/extra", "not in the generation\n", 0644, 5);
    mkdir_in(dst, "gone", 0755);
    put(dst, "gone/deep", "a whole tree to remove\n", 0644, 5);
    p = test_path(dst, "etc/shadow");
    assert_int_equal(lchown(p, 0, 0), 0); /* owner lost */
    free(p);
    p = test_path(dst, "etc/localtime");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink("/elsewhere", p), 0);
    free(p);
    p = test_path(dst, "fifo"); /* a directory where a fifo is */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    put(dst, "fifo/inside", "x", 0644, 5);
    p = test_path(dst, "usr/bin/empty"); /* a file where a file is */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink("tool", p), 0);
    free(p);
}

static void
test_restore_over_stale_extra_and_modified_files(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill);
    struct vcha_gen_manifest *m = manifest(gen);
    struct vcha_restore_stats st;

    assert_int_equal(restore(f, m, NULL, &st), 0);
    node_mess(f->dst);
    assert_trees_differ(gen, f->dst);
    assert_int_equal(restore(f, m, NULL, &st), 0);
    assert_equal_trees(gen, f->dst);
    assert_int_equal(st.removed, 4); /* extra, gone, fifo/, empty -> */
    /* passwd (other size) and empty (gone) are fetched, the rest hashed */
    assert_int_equal(st.fetched, 2);
    assert_int_equal(st.hashed, 4);
    assert_int_equal(st.proven, 0);
    vcha_gen_manifest_free(m);
    free(gen);
}

static void
test_a_rewrite_with_the_same_size_and_mtime_is_repaired(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill);
    struct vcha_gen_manifest *m = manifest(gen);
    struct vcha_restore_lineage lin = {.prev = m};
    struct vcha_restore_stats st;

    assert_int_equal(restore(f, m, NULL, &st), 0);
    vcha_sleep_ms(2 * VCHA_ROOTFS_CLOCK_MARGIN_MS);
    lin.since_ms = vcha_realtime_ms();
    vcha_sleep_ms(2 * VCHA_ROOTFS_CLOCK_MARGIN_MS);
    corrupt(f->dst, "etc/passwd"); /* same size, same mtime */
    assert_trees_differ(gen, f->dst);
    /* the lineage: passwd's ctime is newer than it, so it is read */
    assert_int_equal(restore(f, m, &lin, &st), 0);
    assert_equal_trees(gen, f->dst);
    assert_int_equal(st.proven, 5);
    assert_int_equal(st.hashed, 0);
    assert_int_equal(st.fetched, 1);
    /* without a lineage: every file is hashed, passwd fetched */
    corrupt(f->dst, "etc/passwd");
    assert_int_equal(restore(f, m, NULL, &st), 0);
    assert_equal_trees(gen, f->dst);
    assert_int_equal(st.hashed, 5);
    assert_int_equal(st.fetched, 1);
    assert_int_equal(st.hashed_bytes, m->info.bytes -
                                          strlen("#!/bin/sh\necho tool\n") -
                                          strlen("the pages of the process\n") -
                                          strlen("the core of the process\n"));
    vcha_gen_manifest_free(m);
    free(gen);
}

static void
test_the_lineage_proves_files_without_reading_them(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill), *root = test_path(gen, "rootfs");
    struct vcha_gen_manifest *m = manifest(gen), *o = NULL;
    struct vcha_restore_lineage lin = {.prev = m};
    char *other = NULL;
    struct vcha_restore_stats st;

    assert_int_equal(restore(f, m, NULL, &st), 0);
    vcha_sleep_ms(2 * VCHA_ROOTFS_CLOCK_MARGIN_MS);
    lin.since_ms = vcha_realtime_ms();
    /* the store's copy goes bad; the node's is proven good: kept, and
     * neither is read */
    corrupt(root, "etc/passwd");
    assert_int_equal(restore(f, m, &lin, &st), 0);
    assert_int_equal(st.proven, 6);
    assert_int_equal(st.hashed_bytes + st.fetched_bytes, 0);
    /* a lineage too recent proves nothing: every file is hashed */
    lin.since_ms = 0;
    assert_int_equal(restore(f, m, &lin, &st), 0);
    assert_int_equal(st.proven, 0);
    assert_int_equal(st.hashed, 6);
    /* a lineage whose MANIFEST lists another checksum proves nothing */
    other = gen_make(f, tree_fill_other);
    o = manifest(other);
    lin = (struct vcha_restore_lineage){.prev = o,
                                        .since_ms = vcha_realtime_ms()};
    assert_int_equal(restore(f, m, &lin, &st), 0);
    assert_int_equal(st.proven, 5);
    assert_int_equal(st.hashed, 1);
    vcha_gen_manifest_free(o);
    vcha_gen_manifest_free(m);
    free(other);
    free(root);
    free(gen);
}

static void
test_a_corrupt_file_is_never_put_in_place(void **state)
{
    struct fixture *f = *state;
    char *old = gen_make(f, tree_fill), *gen = gen_make(f, tree_fill);
    char *root = test_path(gen, "rootfs"), *text;
    struct vcha_gen_manifest *m = manifest(gen), *o = manifest(old);
    struct vcha_restore_stats st;

    corrupt(root, "etc/shadow");
    /* into an empty directory */
    assert_int_equal(restore(f, m, NULL, &st), -EBADMSG);
    assert_non_null(strstr(f->why, "rootfs/etc/shadow: checksum mismatch"));
    text = test_path(f->dst, "etc/shadow");
    assert_int_equal(access(text, F_OK), -1);
    free(text);
    assert_false(has_temporary(f->dst));
    /* over an older copy: it stays as it was */
    assert_int_equal(restore(f, o, NULL, &st), 0);
    put(f->dst, "etc/shadow", "an old shadow file\n", 0640, 5);
    assert_int_equal(restore(f, m, NULL, &st), -EBADMSG);
    {
        char *p = test_path(f->dst, "etc/shadow");

        text = test_slurp(p);
        assert_string_equal(text, "an old shadow file\n");
        free(text);
        free(p);
    }
    assert_false(has_temporary(f->dst));
    /* the next restore, from the older good generation, repairs it */
    assert_int_equal(restore(f, o, NULL, &st), 0);
    assert_equal_trees(old, f->dst);
    vcha_gen_manifest_free(m);
    vcha_gen_manifest_free(o);
    free(root);
    free(gen);
    free(old);
}

/* Hard links as the generation has them: made, and broken. */
static void
links_other(const char *root)
{
    char *a = test_path(root, "a"), *b = test_path(root, "b");
    char *c = test_path(root, "c"), *d = test_path(root, "d");

    put(root, "a", "same\n", 0644, 100);
    assert_int_equal(link(a, b), 0);
    put(root, "c", "same\n", 0644, 100);
    put(root, "d", "same\n", 0644, 100);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void
test_hard_links_follow_the_generation(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, links_other), *p, *q;
    struct vcha_gen_manifest *m = manifest(gen);
    struct vcha_restore_stats st;

    /* the node: a and b separate, c and d one file */
    assert_int_equal(mkdir(f->dst, 0755), 0);
    put(f->dst, "a", "same\n", 0644, 100);
    put(f->dst, "b", "same\n", 0644, 100);
    put(f->dst, "c", "same\n", 0644, 100);
    p = test_path(f->dst, "c");
    q = test_path(f->dst, "d");
    assert_int_equal(link(p, q), 0);
    free(p);
    free(q);
    assert_int_equal(restore(f, m, NULL, &st), 0);
    assert_equal_trees(gen, f->dst);
    assert_int_equal(inode(f->dst, "a"), inode(f->dst, "b"));
    assert_true(inode(f->dst, "c") != inode(f->dst, "d"));
    /* now equal: nothing fetched, nothing linked again */
    assert_int_equal(restore(f, m, NULL, &st), 0);
    assert_int_equal(st.fetched + st.linked, 0);
    assert_int_equal(st.hashed, 3);
    vcha_gen_manifest_free(m);
    free(gen);
}

static void
test_restore_stops_at_the_deadline(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_make(f, tree_fill);
    struct vcha_gen_manifest *m = manifest(gen);

    assert_int_equal(vcha_restore_tree(m, "rootfs", f->dst, NULL, 1,
                                       vcha_now_ms() - 1, NULL, f->why,
                                       sizeof(f->why)),
                     -ETIME);
    assert_non_null(strstr(f->why, "out of time"));
    assert_int_equal(vcha_restore_tree(m, "nothing", f->dst, NULL, 1, soon(),
                                       NULL, f->why, sizeof(f->why)),
                     -ENOENT);
    vcha_gen_manifest_free(m);
    free(gen);
}

/* ------------------------------------------------------------ images */

/* @p rc is 0, or the test fails saying why (@p why: what the call said). */
static void
assert_ok_why(int rc, const char *why)
{
    if (rc != 0) {
        fail_msg("%d (%s): %s", rc, strerror(-rc), why);
    }
}

/* A generation whose images/ also holds a zstd-compressed one. */
static char *
gen_with_zst(struct fixture *f)
{
    char *src = test_path(f->dir, "mm.img"), *out = NULL;
    struct vcha_genstore *s = NULL;
    char *stage = NULL, *img, *gen2 = NULL, *ln = NULL;
    const char *argv[] = {"zstd", "-q", "-1", src, "-o", NULL, NULL};

    put(f->dir, "mm.img", "memory map memory map memory map\n", 0600, 7);
    assert_int_equal(vcha_genstore_open(f->store, &s), 0);
    assert_int_equal(vcha_genstore_stage(s, &stage), 0);
    img = test_path(stage, "images");
    assert_int_equal(mkdir(img, 0700), 0);
    ln = test_path(stage, "rootfs");
    assert_int_equal(mkdir(ln, 0755), 0);
    put(img, "pages-1.img", "the pages of the process\n", 0600, 9);
    out = test_path(img, "mm-1.img.zst");
    argv[5] = out;
    assert_ok_why(vcha_exec_until(argv, soon(), f->why, sizeof(f->why)), f->why);
    assert_int_equal(vcha_genstore_commit(s, NULL, 100, &gen2), 0);
    vcha_genstore_free(s);
    free(ln);
    free(out);
    free(img);
    free(stage);
    free(src);
    return gen2;
}

static void
test_images_are_checked_as_they_are_linked_or_unpacked(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_with_zst(f), *img = test_path(gen, "images"), *text, *p;
    struct vcha_gen_manifest *m = manifest(gen);

    assert_ok_why(vcha_restore_files(m, "images", f->images, true, 2, soon(),
                                     f->why, sizeof(f->why)),
                  f->why);
    assert_int_equal(inode(f->images, "pages-1.img"),
                     inode(img, "pages-1.img"));
    p = test_path(f->images, "mm-1.img");
    text = test_slurp(p);
    assert_string_equal(text, "memory map memory map memory map\n");
    free(text);
    free(p);
    test_tmpdir_remove(f->images);
    f->images = test_path(f->dir, "copies");
    assert_int_equal(mkdir(f->images, 0700), 0);
    /* copied, not linked */
    assert_int_equal(vcha_restore_files(m, "images", f->images, false, 1,
                                        soon(), f->why, sizeof(f->why)),
                     0);
    assert_true(inode(f->images, "pages-1.img") != inode(img, "pages-1.img"));
    p = test_path(f->images, "pages-1.img");
    text = test_slurp(p);
    assert_string_equal(text, "the pages of the process\n");
    free(text);
    free(p);
    vcha_gen_manifest_free(m);
    free(img);
    free(gen);
}

static void
test_a_corrupt_image_fails_the_restore(void **state)
{
    struct fixture *f = *state;
    char *gen = gen_with_zst(f), *img = test_path(gen, "images");
    struct vcha_gen_manifest *m = manifest(gen);
    char *dir2 = test_path(f->dir, "again");

    corrupt(img, "pages-1.img");
    assert_int_equal(vcha_restore_files(m, "images", f->images, true, 2, soon(),
                                        f->why, sizeof(f->why)),
                     -EBADMSG);
    assert_non_null(strstr(f->why, "images/pages-1.img: checksum mismatch"));
    corrupt(img, "pages-1.img"); /* flipped back */
    /* a corrupt compressed image: the checksum says so, not zstd */
    corrupt(img, "mm-1.img.zst");
    assert_int_equal(mkdir(dir2, 0700), 0);
    assert_int_equal(vcha_restore_files(m, "images", dir2, true, 2, soon(),
                                        f->why, sizeof(f->why)),
                     -EBADMSG);
    assert_non_null(strstr(f->why, "images/mm-1.img.zst: checksum mismatch"));
    vcha_gen_manifest_free(m);
    free(dir2);
    free(img);
    free(gen);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_manifest_read_lists_entries_and_checks_the_tree, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_manifest_read_refuses_an_edited_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_into_an_empty_directory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_over_stale_extra_and_modified_files, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_rewrite_with_the_same_size_and_mtime_is_repaired, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_the_lineage_proves_files_without_reading_them, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_corrupt_file_is_never_put_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_links_follow_the_generation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_stops_at_the_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_images_are_checked_as_they_are_linked_or_unpacked, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_corrupt_image_fails_the_restore,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
