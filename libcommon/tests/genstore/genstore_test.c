/*
 * Unit tests for libcommon/checkpoint/genstore.c: the checkpoint generation
 * store, on real files in a scratch directory.
 *
 * The test is linked with -Wl,--wrap=EVP_DigestUpdate so that it can count
 * the bytes the store reads to checksum files: a file hard-linked from the
 * previous generation must not be read again.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <openssl/evp.h>

#include <vcha/genstore.h>
#include <vcha/log.h>

#include "../test-util.h"

int __wrap_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *data, size_t len);
int __real_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *data, size_t len);

static size_t hashed_bytes;

int
__wrap_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *data, size_t len)
{
    hashed_bytes += len;
    return __real_EVP_DigestUpdate(ctx, data, len);
}

#define BIG_SIZE (1024 * 1024 + 17)

/* ------------------------------------------------------------ fixture */

struct fixture {
    char *dir; /* the store */
    struct vcha_genstore *store;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    f->dir = test_tmpdir_new();
    *state = f;
    if (f->dir == NULL || vcha_genstore_open(f->dir, &f->store) != 0) {
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vcha_genstore_free(f->store);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ helpers */

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A new string from a format; fails the test when out of memory. */
static char *
pathf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

static void
write_bytes(const char *dir, const char *name, const void *data, size_t len,
            mode_t mode)
{
    char *path = pathf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
    free(path);
}

static void
write_text(const char *dir, const char *name, const char *text)
{
    write_bytes(dir, name, text, strlen(text), 0644);
}

static void
make_dir(const char *dir, const char *name)
{
    char *path = pathf("%s/%s", dir, name);

    assert_int_equal(mkdir(path, 0755), 0);
    free(path);
}

/* The tree a checkpoint writes; @p tag makes generations differ. */
static void
tree_fill(const char *root, const char *tag)
{
    char *pages = pathf("pages of %s\n", tag);
    char *link;

    make_dir(root, "images");
    write_text(root, "images/pages-1.img", pages);
    write_text(root, "images/core-1.img", "core\n");
    make_dir(root, "rootfs");
    make_dir(root, "rootfs/etc");
    write_text(root, "rootfs/etc/hostname", "web\n");
    make_dir(root, "rootfs/empty");
    make_dir(root, "rootfs/usr");
    make_dir(root, "rootfs/usr/bin");
    write_bytes(root, "rootfs/usr/bin/sh", "#!", 2, 0755);
    link = pathf("%s/rootfs/bin", root);
    assert_int_equal(symlink("usr/bin", link), 0);
    free(link);
    free(pages);
}

/* Stage, fill with tree_fill(@p tag), commit; the generation's path. */
static char *
commit_tree(struct fixture *f, const char *tag, unsigned keep)
{
    char *stage = NULL, *gen = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, tag);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, keep, &gen), 0);
    free(stage);
    return gen;
}

static bool
exists(const char *dir, const char *name)
{
    char *path = pathf("%s/%s", dir, name);
    struct stat st;
    bool ok = lstat(path, &st) == 0;

    free(path);
    return ok;
}

static void
assert_latest_is(const char *dir, const char *expect)
{
    char *path = NULL;

    assert_int_equal(vcha_genstore_latest(dir, 0, &path, NULL), 0);
    assert_string_equal(path, expect);
    free(path);
}

static void
assert_why(const char *gen, unsigned flags, const char *expect)
{
    char *why = NULL;

    assert_int_equal(vcha_genstore_verify(gen, flags, &why), -EBADMSG);
    assert_non_null(why);
    if (strstr(why, expect) == NULL) {
        fail_msg("why: \"%s\", expected \"%s\"", why, expect);
    }
    free(why);
}

static char *
manifest_of(const char *gen)
{
    char *path = pathf("%s/MANIFEST", gen);
    char *text = test_slurp(path);

    assert_non_null(text);
    free(path);
    return text;
}

/*
 * Replace the first @p old in the MANIFEST of @p gen by @p new and seal it
 * again with a correct end line: a well-formed manifest that lies.
 */
static void
manifest_edit(const char *gen, const char *old, const char *new)
{
    char *text = manifest_of(gen), *end = strstr(text, "\nend ");
    char *hit, *edited, hex[65], *path = pathf("%s/MANIFEST", gen);
    unsigned char h[32];

    assert_non_null(end);
    end[1] = '\0';
    hit = strstr(text, old);
    assert_non_null(hit);
    *hit = '\0';
    edited = pathf("%s%s%s", text, new, hit + strlen(old));
    assert_true(
        EVP_Digest(edited, strlen(edited), h, NULL, EVP_sha256(), NULL));
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    free(text);
    text = pathf("%send %s\n", edited, hex);
    assert_int_equal(test_write_file(path, text), 0);
    free(text);
    free(edited);
    free(path);
}

/*
 * Commit two generations, damage the newest with @p damage, and check that
 * verify names the damage, that latest skips gen 2 with a log line saying
 * why, and returns gen 1.
 */
static void
check_damage(struct fixture *f, void (*damage)(const char *gen),
             const char *why)
{
    char *gen1 = commit_tree(f, "one", 3);
    char *gen2 = commit_tree(f, "two", 3);
    char *expect = pathf("skipping gen-0000000002: %s", why);
    struct test_capture cap;
    char *log;

    damage(gen2);
    assert_why(gen2, 0, why);
    assert_int_equal(test_capture_start(&cap, 2), 0);
    assert_latest_is(f->dir, gen1);
    log = test_capture_stop(&cap);
    assert_non_null(log);
    if (strstr(log, expect) == NULL) {
        fail_msg("log: \"%s\", expected \"%s\"", log, expect);
    }
    assert_int_equal(vcha_genstore_verify(gen1, 0, NULL), 0);
    free(log);
    free(expect);
    free(gen2);
    free(gen1);
}

/* ------------------------------------------------------------ open */

static void
test_open_missing_directory(void **state)
{
    struct fixture *f = *state;
    char *missing = pathf("%s/none", f->dir);
    struct vcha_genstore *s = (struct vcha_genstore *) 1;

    assert_int_equal(vcha_genstore_open(missing, &s), -ENOENT);
    assert_null(s);
    free(missing);
}

static void
test_open_not_a_directory(void **state)
{
    struct fixture *f = *state;
    char *file = pathf("%s/file", f->dir);
    struct vcha_genstore *s = NULL;

    assert_int_equal(test_write_file(file, "x"), 0);
    assert_int_equal(vcha_genstore_open(file, &s), -ENOTDIR);
    assert_null(s);
    free(file);
}

static void
test_open_second_writer_is_busy(void **state)
{
    struct fixture *f = *state;
    struct vcha_genstore *s = NULL;

    assert_true(exists(f->dir, ".lock"));
    assert_int_equal(vcha_genstore_open(f->dir, &s), -EBUSY);
    assert_null(s);
    vcha_genstore_free(f->store);
    f->store = NULL;
    assert_int_equal(vcha_genstore_open(f->dir, &f->store), 0);
    vcha_genstore_free(NULL);
}

/* ------------------------------------------------------------ stage */

static void
test_stage_names_and_numbers(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *expect = pathf("%s/.stage-0000000001", f->dir);
    char *again = (char *) 1;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    assert_string_equal(stage, expect);
    assert_int_equal(test_dir_entries(stage), 0);
    assert_int_equal(vcha_genstore_stage(f->store, &again), -EALREADY);
    assert_null(again);
    free(stage);
    free(expect);
}

static void
test_stage_follows_highest_number(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *expect = pathf("%s/.stage-0000000043", f->dir);

    make_dir(f->dir, "gen-0000000007");
    make_dir(f->dir, "gen-42");
    make_dir(f->dir, "gen-notanumber");
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    assert_string_equal(stage, expect);
    free(stage);
    free(expect);
}

static void
test_commit_bad_arguments_keep_the_stage(void **state)
{
    struct fixture *f = *state;
    const struct vcha_gen_figure empty[] = {{"freeze_ms", ""}};
    const struct vcha_gen_meta meta = {.figures = empty, .n_figures = 1};
    const struct vcha_gen_meta none = {.n_figures = 1};
    char *stage = NULL, *gen = (char *) 1;

    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen), -EINVAL);
    assert_null(gen);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 0, NULL), -EINVAL);
    assert_int_equal(vcha_genstore_commit(f->store, &meta, 2, NULL), -EINVAL);
    assert_int_equal(vcha_genstore_commit(f->store, &none, 2, NULL), -EINVAL);
    assert_true(exists(f->dir, ".stage-0000000001"));
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 1, NULL), 0);
    assert_true(exists(f->dir, "gen-0000000001"));
    free(stage);
}

/* ------------------------------------------------------------ round trip */

static void
test_commit_then_latest_round_trip(void **state)
{
    struct fixture *f = *state;
    const struct vcha_gen_figure figures[] = {
        {"freeze_ms", "12"}, {"dump_ms", "340"}, {"image bytes", "5 MB"}};
    const struct vcha_gen_meta meta = {"web", "sha256:0a1b", figures, 3};
    char *stage = NULL, *gen = NULL, *path = NULL;
    char *expect = pathf("%s/gen-0000000001", f->dir);
    struct vcha_gen_info *info = NULL;
    long long before = (long long) time(NULL) * 1000;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "one");
    assert_int_equal(vcha_genstore_commit(f->store, &meta, 2, &gen), 0);
    assert_string_equal(gen, expect);
    assert_false(exists(f->dir, ".stage-0000000001"));
    assert_int_equal(vcha_genstore_latest(f->dir, 0, &path, &info), 0);
    assert_string_equal(path, expect);
    assert_string_equal(info->path, expect);
    assert_int_equal(info->number, 1);
    assert_true(info->created_ms >= before);
    assert_true(info->created_ms <= (long long) time(NULL) * 1000 + 1000);
    assert_string_equal(info->container, "web");
    assert_string_equal(info->config_digest, "sha256:0a1b");
    assert_int_equal(info->n_figures, 3);
    assert_string_equal(vcha_gen_info_figure(info, "dump_ms"), "340");
    assert_string_equal(vcha_gen_info_figure(info, "image bytes"), "5 MB");
    assert_null(vcha_gen_info_figure(info, "restore_ms"));
    assert_null(vcha_gen_info_figure(NULL, "dump_ms"));
    assert_int_equal(info->files, 4);
    assert_int_equal(info->bytes, strlen("pages of one\n") + 5 + 4 + 2);
    vcha_gen_info_free(info);
    vcha_gen_info_free(NULL);
    free(path);
    free(gen);
    free(stage);
    free(expect);
}

static void
test_manifest_records_everything(void **state)
{
    struct fixture *f = *state;
    const struct vcha_gen_figure figures[] = {{"freeze_ms", "12"}};
    const struct vcha_gen_meta meta = {"my web", NULL, figures, 1};
    char *stage = NULL, *gen = NULL, *text, *last;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "one");
    assert_int_equal(vcha_genstore_commit(f->store, &meta, 2, &gen), 0);
    text = manifest_of(gen);
    assert_true(strncmp(text, "vcha-generation 1\ncreated ", 26) == 0);
    assert_non_null(strstr(text, "\ncontainer my%20web\n"));
    assert_null(strstr(text, "config-digest"));
    assert_non_null(strstr(text, "\nfigure freeze_ms 12\n"));
    assert_non_null(strstr(text, "\nfiles 4\nbytes 24\n"));
    assert_non_null(strstr(text, "\nd 0755 images\n"));
    assert_non_null(strstr(text, "\nd 0755 rootfs/empty\n"));
    assert_non_null(strstr(text, "\nl usr/bin rootfs/bin\n"));
    assert_non_null(strstr(text, "\nf 0755 2 "));
    assert_non_null(strstr(text, " rootfs/usr/bin/sh\n"));
    /* sha256("web\n") */
    assert_non_null(strstr(text, "\nf 0644 4 "));
    assert_non_null(strstr(text, " 4ded89b3f9f03689b7032b92a091e742e1205e2a"
                                 "54277e52b32498d9fcdf3642 rootfs/etc/host"));
    assert_null(strstr(text, " MANIFEST\n"));
    last = strstr(text, "\nend ");
    assert_non_null(last);
    assert_int_equal(strlen(last), 1 + 4 + 64 + 1);
    free(text);
    free(gen);
    free(stage);
}

static void
test_caller_manifest_is_replaced(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *gen = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "one");
    write_text(stage, "MANIFEST", "not ours\n");
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen), 0);
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    free(gen);
    free(stage);
}

static void
test_empty_generation(void **state)
{
    struct fixture *f = *state;
    struct vcha_gen_info *info = NULL;
    char *stage = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, NULL), 0);
    assert_int_equal(vcha_genstore_latest(f->dir, 0, NULL, &info), 0);
    assert_int_equal(info->files, 0);
    assert_int_equal(info->bytes, 0);
    assert_null(info->container);
    assert_int_equal(info->n_figures, 0);
    vcha_gen_info_free(info);
    free(stage);
}

/* ------------------------------------------------------------ keep */

static void
test_keep_prunes_the_oldest(void **state)
{
    struct fixture *f = *state;
    struct vcha_gen_info *gens = NULL;
    size_t n = 0;

    for (int i = 0; i < 5; i++) {
        free(commit_tree(f, "gen", 2));
    }
    /* the retired generation waits, renamed, for the sweep */
    assert_true(exists(f->dir, ".trash-0000000003"));
    assert_false(exists(f->dir, "gen-0000000003"));
    vcha_genstore_sweep(f->store);
    assert_false(exists(f->dir, ".trash-0000000003"));
    assert_int_equal(vcha_genstore_list(f->dir, &gens, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(gens[0].number, 5);
    assert_int_equal(gens[1].number, 4);
    vcha_gen_list_free(gens, n);
    /* .lock and the two generations: no stage, no trash */
    assert_int_equal(test_dir_entries(f->dir), 3);
    assert_true(exists(f->dir, "gen-0000000004"));
    assert_true(exists(f->dir, "gen-0000000005"));
}

/* The MANIFEST line of @p path in generation @p gen, or NULL. */
static char *
manifest_line_of(const char *gen, const char *path)
{
    char *m = pathf("%s/MANIFEST", gen), *text = test_slurp(m), *line, *save;
    char *found = NULL;

    assert_non_null(text);
    for (line = strtok_r(text, "\n", &save); line != NULL && found == NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t ll = strlen(line), pl = strlen(path);

        if (ll > pl && strcmp(line + ll - pl, path) == 0 &&
            line[ll - pl - 1] == ' ') {
            found = strdup(line);
        }
    }
    free(text);
    free(m);
    return found;
}

static void
test_known_checksums_are_not_read_again(void **state)
{
    struct fixture *f = *state;
    unsigned char given[32];
    char *stage = NULL, *gen = NULL, *path, *line, *why = NULL;
    struct stat st;

    memset(given, 0xab, sizeof(given));
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    write_text(stage, "kept", "what the writer hashed");
    write_text(stage, "changed", "first");
    path = pathf("%s/kept", stage);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(vcha_genstore_known(f->store, &st, given), 0);
    free(path);
    /* a checksum given, then the file written again: it is read */
    path = pathf("%s/changed", stage);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(vcha_genstore_known(f->store, &st, given), 0);
    usleep(10000);
    write_text(stage, "changed", "second, longer");
    free(path);
    /* only regular files */
    path = pathf("%s", stage);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(vcha_genstore_known(f->store, &st, given), -EINVAL);
    free(path);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen), 0);
    /* recorded as given, unread: a lie given is a generation that does not
     * verify, which proves it was not read */
    line = manifest_line_of(gen, "kept");
    assert_non_null(line);
    assert_non_null(strstr(line, "abababababababababab"));
    free(line);
    line = manifest_line_of(gen, "changed");
    assert_non_null(line);
    assert_null(strstr(line, "abababababababababab"));
    free(line);
    assert_int_equal(vcha_genstore_verify(gen, 0, &why), -EBADMSG);
    assert_non_null(strstr(why, "kept"));
    free(why);
    /* without a stage */
    assert_int_equal(vcha_genstore_known(f->store, &st, given), -EINVAL);
    free(gen);
    free(stage);
}

static void
test_keep_one_and_leftover_trash(void **state)
{
    struct fixture *f = *state;

    free(commit_tree(f, "one", 3));
    make_dir(f->dir, ".trash-0000000000");
    write_text(f->dir, ".trash-0000000000/left", "x");
    free(commit_tree(f, "two", 1));
    /* the next stage removed what no sweep did */
    assert_false(exists(f->dir, ".trash-0000000000"));
    assert_false(exists(f->dir, "gen-0000000001"));
    vcha_genstore_sweep(f->store);
    assert_int_equal(test_dir_entries(f->dir), 2);
}

static void
test_prune_removes_read_only_directories(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *ro;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "proc");
    write_text(stage, "proc/stat", "x");
    ro = pathf("%s/proc", stage);
    assert_int_equal(chmod(ro, 0555), 0);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 1, NULL), 0);
    free(commit_tree(f, "two", 1));
    assert_false(exists(f->dir, "gen-0000000001"));
    vcha_genstore_sweep(f->store);
    assert_int_equal(test_dir_entries(f->dir), 2);
    free(ro);
    free(stage);
}

/* ------------------------------------------------------------ failures */

static void
test_abort_keeps_the_previous_generation(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 2), *stage = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "two");
    assert_latest_is(f->dir, gen1);
    vcha_genstore_abort(f->store);
    assert_false(exists(f->dir, ".stage-0000000002"));
    vcha_genstore_abort(f->store); /* no stage: nothing */
    vcha_genstore_abort(NULL);
    assert_latest_is(f->dir, gen1);
    free(stage);
    free(gen1);
}

static void
test_crashed_writer_stage_is_removed(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 2), *stage = NULL, *gen3 = NULL;
    char *expect = pathf("%s/.stage-0000000003", f->dir);

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "two");
    free(stage);
    vcha_genstore_free(f->store); /* the writer dies */
    assert_int_equal(vcha_genstore_open(f->dir, &f->store), 0);
    assert_true(exists(f->dir, ".stage-0000000002"));
    assert_latest_is(f->dir, gen1);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    assert_string_equal(stage, expect);
    assert_false(exists(f->dir, ".stage-0000000002"));
    assert_latest_is(f->dir, gen1);
    tree_fill(stage, "three");
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen3), 0);
    assert_latest_is(f->dir, gen3);
    free(gen3);
    free(expect);
    free(stage);
    free(gen1);
}

static void
test_previous_generation_deleted_only_after_commit(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 1), *stage = NULL, *gen2 = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    tree_fill(stage, "two");
    assert_int_equal(vcha_genstore_verify(gen1, 0, NULL), 0);
    assert_latest_is(f->dir, gen1);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 1, &gen2), 0);
    assert_false(exists(f->dir, "gen-0000000001"));
    assert_latest_is(f->dir, gen2);
    free(gen2);
    free(stage);
    free(gen1);
}

static void
test_failed_commit_removes_the_stage(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 2), *stage = NULL, *gen = NULL;
    char name[256];
    int fd, sub;

    /* a path longer than PATH_MAX inside the stage */
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    memset(name, 'd', 250);
    name[250] = '\0';
    fd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; fd >= 0 && i < 18; i++) {
        assert_int_equal(mkdirat(fd, name, 0755), 0);
        sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = sub;
    }
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 1, &gen),
                     -ENAMETOOLONG);
    assert_null(gen);
    assert_false(exists(f->dir, ".stage-0000000002"));
    assert_false(exists(f->dir, "gen-0000000002"));
    assert_latest_is(f->dir, gen1);
    free(stage);
    free(gen1);
}

/* ------------------------------------------------------------ damage */

static void
flip_a_byte(const char *gen)
{
    char *path = pathf("%s/images/pages-1.img", gen);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    char c;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, 3), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, 3), 1);
    close(fd);
    free(path);
}

static void
test_damage_flipped_byte(void **state)
{
    check_damage(*state, flip_a_byte, "images/pages-1.img: checksum mismatch");
}

static void
test_damage_flipped_byte_sizes_only(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 3), *gen2 = commit_tree(f, "two", 3);
    char *path = NULL;

    flip_a_byte(gen2);
    assert_int_equal(vcha_genstore_verify(gen2, VCHA_GEN_SIZES_ONLY, NULL), 0);
    assert_int_equal(
        vcha_genstore_latest(f->dir, VCHA_GEN_SIZES_ONLY, &path, NULL), 0);
    assert_string_equal(path, gen2);
    free(path);
    free(gen2);
    free(gen1);
}

static void
truncate_manifest(const char *gen)
{
    char *path = pathf("%s/MANIFEST", gen);
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    free(path);
}

static void
test_damage_truncated_manifest(void **state)
{
    check_damage(*state, truncate_manifest, "MANIFEST: incomplete");
}

static void
drop_end_line(const char *gen)
{
    char *text = manifest_of(gen), *path = pathf("%s/MANIFEST", gen);

    strstr(text, "\nend ")[1] = '\0';
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
    free(text);
}

static void
test_damage_no_end_line(void **state)
{
    check_damage(*state, drop_end_line, "MANIFEST: incomplete (no end line)");
}

static void
edit_manifest_unsealed(const char *gen)
{
    char *text = manifest_of(gen), *path = pathf("%s/MANIFEST", gen);

    strstr(text, "\nd 0755 rootfs/empty")[3] = '7';
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
    free(text);
}

static void
test_damage_edited_manifest(void **state)
{
    check_damage(*state, edit_manifest_unsealed, "MANIFEST: checksum mismatch");
}

static void
delete_manifest(const char *gen)
{
    char *path = pathf("%s/MANIFEST", gen);

    assert_int_equal(unlink(path), 0);
    free(path);
}

static void
test_damage_no_manifest(void **state)
{
    check_damage(*state, delete_manifest, "MANIFEST: missing");
}

static void
delete_a_file(const char *gen)
{
    char *path = pathf("%s/rootfs/etc/hostname", gen);

    assert_int_equal(unlink(path), 0);
    free(path);
}

static void
test_damage_missing_file(void **state)
{
    check_damage(*state, delete_a_file, "rootfs/etc/hostname: missing");
}

static void
add_a_file(const char *gen)
{
    write_text(gen, "rootfs/etc/extra", "");
}

static void
test_damage_unlisted_file(void **state)
{
    check_damage(*state, add_a_file,
                 "rootfs/etc/extra: not listed in MANIFEST");
}

static void
append_to_a_file(const char *gen)
{
    write_text(gen, "rootfs/etc/hostname", "web2\n");
}

static void
test_damage_size(void **state)
{
    check_damage(*state, append_to_a_file,
                 "rootfs/etc/hostname: size 5, MANIFEST says 4");
}

static void
chmod_a_file(const char *gen)
{
    char *path = pathf("%s/rootfs/usr/bin/sh", gen);

    assert_int_equal(chmod(path, 0700), 0);
    free(path);
}

static void
test_damage_mode(void **state)
{
    check_damage(*state, chmod_a_file,
                 "rootfs/usr/bin/sh: mode 0700, MANIFEST says 0755");
}

static void
retarget_a_link(const char *gen)
{
    char *path = pathf("%s/rootfs/bin", gen);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/usr/bin", path), 0);
    free(path);
}

static void
test_damage_link_target(void **state)
{
    check_damage(*state, retarget_a_link,
                 "rootfs/bin: symbolic link target differs");
}

static void
file_becomes_directory(const char *gen)
{
    char *path = pathf("%s/images/core-1.img", gen);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0644), 0);
    free(path);
}

static void
test_damage_type(void **state)
{
    check_damage(*state, file_becomes_directory,
                 "images/core-1.img: a directory, MANIFEST lists a regular "
                 "file");
}

static void
test_damage_everywhere_means_none(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 3), *gen2 = commit_tree(f, "two", 3);
    char *path = (char *) 1;
    struct vcha_gen_info *info = (struct vcha_gen_info *) 1;
    struct test_capture cap;

    flip_a_byte(gen1);
    delete_a_file(gen2);
    assert_int_equal(test_capture_start(&cap, 2), 0);
    assert_int_equal(vcha_genstore_latest(f->dir, 0, &path, &info), -ENOENT);
    free(test_capture_stop(&cap));
    assert_null(path);
    assert_null(info);
    free(gen2);
    free(gen1);
}

/* ------------------------------------------------------------ manifests */

static void
test_manifest_unknown_header_is_ignored(void **state)
{
    struct fixture *f = *state;
    char *gen = commit_tree(f, "one", 2);

    manifest_edit(gen, "\nfiles ", "\nfuture-field 1 2 3\nfiles ");
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    free(gen);
}

static void
test_manifest_lies_are_caught(void **state)
{
    struct fixture *f = *state;
    char *gen = commit_tree(f, "one", 2);

    manifest_edit(gen, "\nfiles 4\n", "\nfiles 5\n");
    assert_why(gen, 0, "MANIFEST: totals do not match the entries");
    manifest_edit(gen, "\nfiles 5\n", "\nfiles 4\n");
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    manifest_edit(gen, "\nd 0755 images\n", "\nd 0755 images\nd 0755 images\n");
    assert_why(gen, 0, "MANIFEST: images listed twice");
    manifest_edit(gen, "\nd 0755 images\nd 0755 images\n",
                  "\nd 0755 images\nx\n");
    assert_why(gen, 0, "is malformed");
    manifest_edit(gen, "\nx\n", "\nd 0755 ima%2Fges%\n");
    assert_why(gen, 0, "is malformed");
    manifest_edit(gen, "\nd 0755 ima%2Fges%\n", "\nd 0755 a%00b\n");
    assert_why(gen, 0, "is malformed");
    manifest_edit(gen, "\nd 0755 a%00b\n", "\nd  images\n");
    assert_why(gen, 0, "is malformed");
    manifest_edit(gen, "\nd  images\n", "\nd 0755 extra\n");
    assert_why(gen, 0, "extra: missing");
    manifest_edit(gen, "vcha-generation 1", "vcha-generation 2");
    assert_why(gen, 0, "MANIFEST: not a version 1 manifest");
    free(gen);
}

/* ------------------------------------------------------------ hard links */

static void
big_file(const char *dir, const char *name, char fill)
{
    char *data = malloc(BIG_SIZE);

    assert_non_null(data);
    memset(data, fill, BIG_SIZE);
    write_bytes(dir, name, data, BIG_SIZE, 0644);
    free(data);
}

static void
link_from(const char *from, const char *to, const char *name)
{
    char *a = pathf("%s/%s", from, name), *b = pathf("%s/%s", to, name);

    assert_int_equal(link(a, b), 0);
    free(b);
    free(a);
}

/* gen 1: rootfs/lib.so (big) and rootfs/log; returns its path */
static char *
commit_big(struct fixture *f)
{
    char *stage = NULL, *gen = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    big_file(stage, "rootfs/lib.so", 'a');
    write_text(stage, "rootfs/log", "1\n");
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen), 0);
    assert_int_equal(hashed_bytes, BIG_SIZE + 2);
    free(stage);
    return gen;
}

/* vcha_genstore_base() must find @p gen: the base of the next commit */
static void
base_is(struct fixture *f, const char *gen)
{
    char *path = NULL, *bad = NULL;

    assert_int_equal(vcha_genstore_base(f->store, &path, NULL, &bad), 0);
    assert_string_equal(path, gen);
    assert_null(bad);
    free(path);
}

static void
test_hard_links_reuse_checksums(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_big(f), *stage = NULL, *gen2 = NULL;

    base_is(f, gen1);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    link_from(gen1, stage, "rootfs/lib.so");
    write_text(stage, "rootfs/log", "1\n2\n");
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    assert_int_equal(hashed_bytes, 4); /* rootfs/log only */
    assert_int_equal(vcha_genstore_verify(gen1, 0, NULL), 0);
    assert_int_equal(vcha_genstore_verify(gen2, 0, NULL), 0);
    assert_latest_is(f->dir, gen2);
    free(gen2);
    free(stage);
    free(gen1);
}

static void
test_copies_are_hashed_again(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_big(f), *stage = NULL, *gen2 = NULL;

    /* same path, size and content, but another inode */
    base_is(f, gen1);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    big_file(stage, "rootfs/lib.so", 'a');
    hashed_bytes = 0;
    /* the prune's check of gen 1 reads nothing: the base was read */
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    assert_int_equal(hashed_bytes, BIG_SIZE);
    assert_int_equal(vcha_genstore_verify(gen2, 0, NULL), 0);
    free(gen2);
    free(stage);
    free(gen1);
}

/* Overwrite the start of @p path in place, then set its mtime to @p sec. */
static void
write_in_place(const char *path, time_t sec)
{
    struct timespec times[2] = {{sec, 0}, {sec, 0}};
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "bb", 2), 2);
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
}

static void
test_linked_file_written_in_place_is_hashed_again(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_big(f), *stage = NULL, *gen2 = NULL, *path;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    link_from(gen1, stage, "rootfs/lib.so");
    path = pathf("%s/rootfs/lib.so", stage);
    write_in_place(path, 1000000000); /* mtime changes: not reused */
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    assert_int_equal(hashed_bytes, BIG_SIZE);
    assert_int_equal(vcha_genstore_verify(gen2, 0, NULL), 0);
    /* gen 1 shares the inode that was written: it is damaged too */
    assert_why(gen1, 0, "rootfs/lib.so: checksum mismatch");
    free(path);
    free(gen2);
    free(stage);
    free(gen1);
}

static void
test_write_hiding_its_mtime_is_caught_by_verify(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_big(f), *stage = NULL, *gen2 = NULL, *path;
    struct stat st;

    base_is(f, gen1);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    link_from(gen1, stage, "rootfs/lib.so");
    path = pathf("%s/rootfs/lib.so", stage);
    assert_int_equal(stat(path, &st), 0);
    write_in_place(path, 0);
    /* put the old mtime back, exactly */
    assert_int_equal(utimensat(AT_FDCWD, path,
                               (struct timespec[2]){st.st_atim, st.st_mtim}, 0),
                     0);
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    assert_int_equal(hashed_bytes, 0); /* reused, as designed */
    assert_why(gen2, 0, "rootfs/lib.so: checksum mismatch");
    assert_why(gen1, 0, "rootfs/lib.so: checksum mismatch");
    free(path);
    free(gen2);
    free(stage);
    free(gen1);
}

/* Without a base, a file hard-linked from a generation is read again. */
static void
test_no_base_no_reuse(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_big(f), *stage = NULL, *gen2 = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    link_from(gen1, stage, "rootfs/lib.so");
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    assert_true(hashed_bytes >= BIG_SIZE);
    free(gen2);
    free(stage);
    free(gen1);
}

/* Flip one byte of @p gen's @p name, keeping its mtime. */
static void
damage_keep_mtime(const char *gen, const char *name)
{
    char *path = pathf("%s/%s", gen, name);
    struct stat st;
    int fd;

    assert_int_equal(stat(path, &st), 0);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "#", 1, 7), 1);
    assert_int_equal(futimens(fd, (struct timespec[2]){st.st_atim, st.st_mtim}),
                     0);
    close(fd);
    free(path);
}

/*
 * What a checkpoint does with the store: the base, then the container's
 * files staged as rsync --link-dest=<base> would (a file whose size and
 * mtime the base has too is hard-linked, any other copied), then the
 * commit.  @p src holds rootfs/lib.so and rootfs/log.
 */
static char *
checkpoint_like_ct(struct fixture *f, const char *src, unsigned keep,
                   char **bad)
{
    static const char *const files[] = {"rootfs/lib.so", "rootfs/log"};
    char *base = NULL, *stage = NULL, *gen = NULL;
    int rc = vcha_genstore_base(f->store, &base, NULL, bad);

    assert_true(rc == 0 || rc == -ENOENT);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    for (size_t i = 0; i < 2; i++) {
        char *from = pathf("%s/%s", src, files[i]);
        char *old = base ? pathf("%s/%s", base, files[i]) : NULL;
        char *to = pathf("%s/%s", stage, files[i]);
        struct stat a, b;

        assert_int_equal(stat(from, &a), 0);
        if (old != NULL && stat(old, &b) == 0 && a.st_size == b.st_size &&
            a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
            a.st_mtim.tv_nsec == b.st_mtim.tv_nsec) {
            assert_int_equal(link(old, to), 0);
        } else {
            char *text = test_slurp(from);

            assert_non_null(text);
            assert_int_equal(test_write_file(to, text), 0);
            assert_int_equal(
                utimensat(AT_FDCWD, to,
                          (struct timespec[2]){a.st_atim, a.st_mtim}, 0),
                0);
            free(text);
        }
        free(to);
        free(old);
        free(from);
    }
    assert_int_equal(vcha_genstore_commit(f->store, NULL, keep, &gen), 0);
    free(stage);
    free(base);
    return gen;
}

static void
src_write(const char *src, const char *name, const char *text, time_t mtime)
{
    char *path = pathf("%s/%s", src, name);
    struct timespec t[2] = {{mtime, 0}, {mtime, 0}};

    assert_int_equal(test_write_file(path, text), 0);
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    free(path);
}

/*
 * One damaged byte in a generation's file that the container no longer
 * changes, its mtime kept: later checkpoints must not hard-link it (the
 * damage would spread to all of them), the prune must not delete the good
 * generations while the damaged one is among the newest, and failover
 * must find the container's files.
 */
static void
test_damage_does_not_spread(void **state)
{
    struct fixture *f = *state;
    char *src = test_tmpdir_new(), *gen[6] = {NULL}, *bad = NULL,
         *latest = NULL;
    char *text, *path;

    assert_non_null(src);
    make_dir(src, "rootfs");
    src_write(src, "rootfs/lib.so", "version one of the library\n", 1000);
    src_write(src, "rootfs/log", "1\n", 1000);
    gen[1] = checkpoint_like_ct(f, src, 2, NULL);
    src_write(src, "rootfs/lib.so", "version two of the library\n", 2000);
    gen[2] = checkpoint_like_ct(f, src, 2, NULL);
    damage_keep_mtime(gen[2], "rootfs/lib.so");

    gen[3] = checkpoint_like_ct(f, src, 2, &bad);
    assert_non_null(bad);
    assert_non_null(strstr(bad, "gen-0000000002: rootfs/lib.so: checksum "
                                "mismatch"));
    /* gen 2 does not count: gen 1 stays beside gen 3 */
    assert_true(exists(f->dir, "gen-0000000001"));
    assert_int_equal(vcha_genstore_verify(gen[3], 0, NULL), 0);
    for (int i = 4; i <= 5; i++) {
        free(bad);
        bad = NULL;
        gen[i] = checkpoint_like_ct(f, src, 2, &bad);
        assert_null(bad);
        assert_int_equal(vcha_genstore_verify(gen[i], 0, NULL), 0);
    }
    assert_false(exists(f->dir, "gen-0000000002"));
    assert_int_equal(vcha_genstore_latest(f->dir, 0, &latest, NULL), 0);
    assert_string_equal(latest, gen[5]);
    path = pathf("%s/rootfs/lib.so", latest);
    text = test_slurp(path);
    assert_string_equal(text, "version two of the library\n");
    free(text);
    free(path);
    free(latest);
    free(bad);
    for (int i = 1; i <= 5; i++) {
        free(gen[i]);
    }
    test_tmpdir_remove(src);
}

/* The prune keeps @p keep generations that verify, not @p keep in all. */
static void
test_prune_counts_only_good_generations(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 2);
    char *gen2 = commit_tree(f, "two", 2), *gen3;

    damage_keep_mtime(gen2, "images/pages-1.img");
    gen3 = commit_tree(f, "three", 2);
    assert_true(exists(f->dir, "gen-0000000001"));
    assert_true(exists(f->dir, "gen-0000000002"));
    /* gen 4 and gen 3 are good: gen 2 and gen 1 go */
    free(commit_tree(f, "four", 2));
    assert_false(exists(f->dir, "gen-0000000001"));
    assert_false(exists(f->dir, "gen-0000000002"));
    assert_true(exists(f->dir, "gen-0000000003"));
    free(gen3);
    free(gen2);
    free(gen1);
}

/* Stage one big image filled with @p fill and commit, after base(). */
static char *
commit_with_base(struct fixture *f, char fill, unsigned keep)
{
    char *stage = NULL, *gen = NULL;
    int rc = vcha_genstore_base(f->store, NULL, NULL, NULL);

    assert_true(rc == 0 || rc == -ENOENT);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "images");
    big_file(stage, "images/pages.img", fill);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, keep, &gen), 0);
    free(stage);
    return gen;
}

/*
 * A generation records its base; the prune reads again no content of a
 * generation a newer one names as its base (read when that one was made),
 * only its tree.
 */
static void
test_prune_trusts_the_content_of_a_named_base(void **state)
{
    struct fixture *f = *state;
    char *g1 = commit_with_base(f, 'a', 3), *g2 = commit_with_base(f, 'b', 3);
    char *g3 = commit_with_base(f, 'c', 3), *text = manifest_of(g2), *g4;

    assert_non_null(strstr(text, "\nbase gen-0000000001\n"));
    free(text);
    assert_int_equal(vcha_genstore_base(f->store, NULL, NULL, NULL), 0);
    assert_int_equal(vcha_genstore_stage(f->store, &text), 0);
    make_dir(text, "images");
    big_file(text, "images/pages.img", 'd');
    hashed_bytes = 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &g4), 0);
    /* the new image only: gen 3 was read by base(), gen 2's tree checked */
    assert_int_equal(hashed_bytes, BIG_SIZE);
    assert_false(exists(f->dir, "gen-0000000001"));
    assert_true(exists(f->dir, "gen-0000000002"));
    /* a named base whose tree is broken does not count: gen 2 stays */
    free(text);
    text = pathf("%s/images/pages.img", g3);
    assert_int_equal(truncate(text, 10), 0);
    free(commit_with_base(f, 'e', 3));
    assert_true(exists(f->dir, "gen-0000000002"));
    free(text);
    free(g4);
    free(g3);
    free(g2);
    free(g1);
}

/*
 * gen 1; gen 2 (base gen 1) with its own file c; gen 3 (base gen 2) with c
 * hard-linked from gen 2; then c rewritten with other bytes of the same
 * size, which damages gen 2 and gen 3 alike.  The base chosen next is
 * gen 1; the path of c in gen 2 is returned.
 */
static char *
damage_a_shared_file(struct fixture *f)
{
    char *stage = NULL, *gen2 = NULL, *gen3 = NULL, *bad = NULL, *base = NULL;
    char *c;

    free(commit_with_base(f, 'a', 3));
    assert_int_equal(vcha_genstore_base(f->store, NULL, NULL, NULL), 0);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    write_text(stage, "c", "0123456789\n");
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen2), 0);
    free(stage);
    assert_int_equal(vcha_genstore_base(f->store, NULL, NULL, NULL), 0);
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    link_from(gen2, stage, "c");
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 3, &gen3), 0);
    c = pathf("%s/c", gen2);
    assert_int_equal(test_write_file(c, "9876543210\n"), 0);
    assert_why(gen2, 0, "c: checksum mismatch");
    assert_why(gen3, 0, "c: checksum mismatch");
    assert_int_equal(vcha_genstore_verify(gen2, VCHA_GEN_SIZES_ONLY, NULL), 0);
    assert_int_equal(vcha_genstore_base(f->store, &base, NULL, &bad), 0);
    assert_non_null(strstr(base, "/gen-0000000001"));
    assert_non_null(strstr(bad, "gen-0000000003: c: checksum mismatch"));
    free(base);
    free(bad);
    free(stage);
    free(gen3);
    free(gen2);
    return c;
}

/* Commit a stage holding one small file, with the base chosen already. */
static void
commit_small(struct fixture *f, unsigned keep)
{
    char *stage = NULL;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    write_text(stage, "d", "new\n");
    assert_int_equal(vcha_genstore_commit(f->store, NULL, keep, NULL), 0);
    free(stage);
}

/*
 * Only a generation that counts as good vouches for the content of the
 * base it names: damaged gen 3 does not make damaged gen 2 count with its
 * tree checked only, and the base of the commit, gen 1, stays.
 */
static void
test_prune_keeps_the_base_beside_damaged_generations(void **state)
{
    struct fixture *f = *state;
    char *c = damage_a_shared_file(f), *log;
    struct test_capture cap;

    assert_int_equal(test_capture_start(&cap, 2), 0);
    commit_small(f, 2); /* gen 4, base gen 1 */
    log = test_capture_stop(&cap);
    assert_non_null(log);
    if (strstr(log, "gen-0000000002 does not verify (c: checksum "
                    "mismatch)") == NULL) {
        fail_msg("log: \"%s\", expected gen 2 not to count", log);
    }
    free(log);
    assert_true(exists(f->dir, "gen-0000000001"));
    assert_true(exists(f->dir, "gen-0000000004"));
    /* the next checkpoint has gen 4 and gen 5: the rest goes */
    assert_int_equal(vcha_genstore_base(f->store, NULL, NULL, NULL), 0);
    commit_small(f, 2);
    assert_false(exists(f->dir, "gen-0000000001"));
    assert_false(exists(f->dir, "gen-0000000002"));
    assert_false(exists(f->dir, "gen-0000000003"));
    assert_true(exists(f->dir, "gen-0000000004"));
    free(c);
}

/*
 * A generation newer than the base did not verify when the base was
 * chosen; should it verify by the commit (repaired, or a read that failed
 * once), the base and what is newer stay all the same.
 */
static void
test_prune_never_deletes_the_base(void **state)
{
    struct fixture *f = *state;
    char *c = damage_a_shared_file(f);

    assert_int_equal(test_write_file(c, "0123456789\n"), 0);
    commit_small(f, 2); /* gen 4, base gen 1; gen 3 verifies again */
    assert_true(exists(f->dir, "gen-0000000001"));
    assert_true(exists(f->dir, "gen-0000000002"));
    assert_true(exists(f->dir, "gen-0000000003"));
    free(c);
}

/* The base is the newest generation that verifies; a newer bad one is named. */
static void
test_base_skips_and_names_a_bad_newest(void **state)
{
    struct fixture *f = *state;
    char *gen1 = commit_tree(f, "one", 3), *gen2 = commit_tree(f, "two", 3);
    char *path = NULL, *bad = NULL;
    struct vcha_gen_info *info = NULL;

    base_is(f, gen2);
    damage_keep_mtime(gen2, "images/pages-1.img");
    assert_why(gen2, 0, "images/pages-1.img: checksum mismatch");
    assert_int_equal(vcha_genstore_base(f->store, &path, &info, &bad), 0);
    assert_string_equal(path, gen1);
    assert_int_equal(info->number, 1);
    assert_string_equal(
        bad, "gen-0000000002: images/pages-1.img: checksum mismatch");
    free(path);
    free(bad);
    vcha_gen_info_free(info);
    damage_keep_mtime(gen1, "images/pages-1.img");
    assert_int_equal(vcha_genstore_base(f->store, &path, NULL, &bad), -ENOENT);
    assert_null(path);
    assert_non_null(bad);
    free(bad);
    free(gen2);
    free(gen1);
}

/* ------------------------------------------------------------ odd files */

static void
test_odd_names(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *gen = NULL, *text, *link;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "dir with space");
    write_text(stage, "dir with space/new\nline", "1");
    write_text(stage, "100%", "2");
    write_text(stage, "tab\there", "");
    write_text(stage, "bytes-\xff\x01", "3");
    link = pathf("%s/%%41 link", stage);
    assert_int_equal(symlink("target with space/%", link), 0);
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen), 0);
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    text = manifest_of(gen);
    assert_non_null(strstr(text, " dir%20with%20space/new%0Aline\n"));
    assert_non_null(strstr(text, " 100%25\n"));
    assert_non_null(strstr(text, " tab%09here\n"));
    assert_non_null(strstr(text, " bytes-%FF%01\n"));
    assert_non_null(strstr(text, "\nl target%20with%20space/%25 %2541%20link"
                                 "\n"));
    free(text);
    free(link);
    free(gen);
    free(stage);
}

static bool
make_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;
    bool ok;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return false;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    ok = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void
test_special_files(void **state)
{
    struct fixture *f = *state;
    char *stage = NULL, *gen = NULL, *text, *fifo, *sock, *dev;
    bool have_sock, have_dev;

    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    make_dir(stage, "rootfs");
    make_dir(stage, "rootfs/dev");
    make_dir(stage, "rootfs/a");
    make_dir(stage, "rootfs/a/b");
    fifo = pathf("%s/rootfs/dev/initctl", stage);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(chmod(fifo, 0600), 0);
    sock = pathf("%s/rootfs/s", stage);
    have_sock = make_socket(sock);
    dev = pathf("%s/rootfs/dev/null", stage);
    have_dev = mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0;
    have_dev = have_dev && chmod(dev, 0666) == 0;
    assert_int_equal(vcha_genstore_commit(f->store, NULL, 2, &gen), 0);
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    text = manifest_of(gen);
    assert_non_null(strstr(text, "\np 0600 rootfs/dev/initctl\n"));
    assert_non_null(strstr(text, "\nd 0755 rootfs/a/b\n"));
    if (have_sock) {
        assert_non_null(strstr(text, "\ns "));
    }
    if (have_dev) {
        assert_non_null(strstr(text, "\nc 0666 1:3 rootfs/dev/null\n"));
    }
    free(text);
    free(fifo);
    /* in the generation, a fifo with another mode */
    fifo = pathf("%s/rootfs/dev/initctl", gen);
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(chmod(fifo, 0644), 0);
    assert_why(gen, 0, "rootfs/dev/initctl: mode 0644, MANIFEST says 0600");
    free(fifo);
    free(sock);
    free(dev);
    free(gen);
    free(stage);
}

/* ------------------------------------------------------------ readers */

static void
test_latest_arguments(void **state)
{
    struct fixture *f = *state;
    char *missing = pathf("%s/none", f->dir), *why = (char *) 1;
    char *path = (char *) 1;

    assert_int_equal(vcha_genstore_latest(f->dir, 0, &path, NULL), -ENOENT);
    assert_null(path);
    assert_int_equal(vcha_genstore_latest(missing, 0, NULL, NULL), -ENOENT);
    assert_int_equal(vcha_genstore_latest(f->dir, 0x80, NULL, NULL), -EINVAL);
    assert_int_equal(vcha_genstore_verify(f->dir, 0x80, &why), -EINVAL);
    assert_null(why);
    assert_int_equal(vcha_genstore_verify(missing, 0, &why), -ENOENT);
    assert_non_null(why);
    free(why);
    free(commit_tree(f, "one", 2));
    assert_int_equal(vcha_genstore_latest(f->dir, 0, NULL, NULL), 0);
    free(missing);
}

static void
test_list_without_verifying(void **state)
{
    struct fixture *f = *state;
    const struct vcha_gen_figure figures[] = {{"dump_ms", "7"}};
    const struct vcha_gen_meta meta = {"web", "abc", figures, 1};
    struct vcha_gen_info *gens = (struct vcha_gen_info *) 1;
    char *missing = pathf("%s/none", f->dir), *stage = NULL, *gen2 = NULL;
    char *expect = pathf("%s/gen-0000000003", f->dir);
    size_t n = 99;

    assert_int_equal(vcha_genstore_list(f->dir, &gens, &n), 0);
    assert_null(gens);
    assert_int_equal(n, 0);
    assert_int_equal(vcha_genstore_list(missing, &gens, &n), -ENOENT);
    free(commit_tree(f, "one", 5));
    assert_int_equal(vcha_genstore_stage(f->store, &stage), 0);
    write_text(stage, "pages", "12345");
    assert_int_equal(vcha_genstore_commit(f->store, &meta, 5, &gen2), 0);
    write_text(gen2, "pages", "54321"); /* damaged: listed all the same */
    make_dir(f->dir, "gen-0000000003"); /* no MANIFEST */
    assert_int_equal(vcha_genstore_list(f->dir, &gens, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(gens[0].number, 3);
    assert_string_equal(gens[0].path, expect);
    assert_int_equal(gens[0].created_ms, 0);
    assert_int_equal(gens[0].bytes, 0);
    assert_null(gens[0].container);
    assert_int_equal(gens[1].number, 2);
    assert_string_equal(gens[1].path, gen2);
    assert_true(gens[1].created_ms > 0);
    assert_string_equal(gens[1].container, "web");
    assert_string_equal(gens[1].config_digest, "abc");
    assert_string_equal(vcha_gen_info_figure(&gens[1], "dump_ms"), "7");
    assert_int_equal(gens[1].files, 1);
    assert_int_equal(gens[1].bytes, 5);
    assert_int_equal(gens[2].number, 1);
    assert_int_equal(gens[2].files, 4);
    assert_int_equal(gens[2].bytes, 24);
    vcha_gen_list_free(gens, n);
    vcha_gen_list_free(NULL, 0);
    free(expect);
    free(gen2);
    free(stage);
    free(missing);
}

static int
group_setup(void **state)
{
    (void) state;
    unsetenv("HA_LOGFACILITY");
    unsetenv("HA_LOGFILE");
    vcha_log_init("genstore_test", NULL);
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    vcha_log_fini();
    return 0;
}

/* The FIPS 180-2 test vector for "abc". */
static void
test_sha256_hex_known_vector(void **state)
{
    char hex[65];

    (void) state;
    assert_int_equal(vcha_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
}

/* Stops a copy before its second chunk. */
static int
stop_second(void *arg)
{
    int *calls = arg;

    return ++*calls > 1 ? -ECANCELED : 0;
}

/* A copy in small chunks: the same bytes out, the hash of the whole. */
static void
test_sha256_copy(void **state)
{
    static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char sha[32], buf[7];
    char hex[65], want[65], got[sizeof(text)] = "";
    uint64_t len = 0;
    int p_in[2], p_out[2], calls = 0;

    (void) state;
    assert_int_equal(pipe(p_in), 0);
    assert_int_equal(pipe(p_out), 0);
    assert_int_equal(write(p_in[1], text, sizeof(text) - 1),
                     (ssize_t) sizeof(text) - 1);
    close(p_in[1]);
    assert_int_equal(vcha_sha256_copy(p_in[0], p_out[1], buf, sizeof(buf), NULL,
                                      NULL, sha, &len),
                     0);
    close(p_out[1]);
    assert_int_equal(len, sizeof(text) - 1);
    assert_int_equal(read(p_out[0], got, sizeof(got)),
                     (ssize_t) sizeof(text) - 1);
    assert_string_equal(got, text);
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    assert_int_equal(vcha_sha256_hex(text, sizeof(text) - 1, want), 0);
    assert_string_equal(hex, want);
    close(p_in[0]);
    close(p_out[0]);
    /* asked to stop: the copy ends with that code, one chunk read */
    assert_int_equal(pipe(p_in), 0);
    assert_int_equal(write(p_in[1], text, sizeof(text) - 1),
                     (ssize_t) sizeof(text) - 1);
    close(p_in[1]);
    assert_int_equal(vcha_sha256_copy(p_in[0], -1, buf, sizeof(buf),
                                      stop_second, &calls, sha, &len),
                     -ECANCELED);
    assert_int_equal(len, sizeof(buf));
    close(p_in[0]);
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_hex_known_vector),
        cmocka_unit_test(test_sha256_copy),
        T(test_open_missing_directory),
        T(test_open_not_a_directory),
        T(test_open_second_writer_is_busy),
        T(test_stage_names_and_numbers),
        T(test_stage_follows_highest_number),
        T(test_commit_bad_arguments_keep_the_stage),
        T(test_commit_then_latest_round_trip),
        T(test_manifest_records_everything),
        T(test_caller_manifest_is_replaced),
        T(test_empty_generation),
        T(test_keep_prunes_the_oldest),
        T(test_known_checksums_are_not_read_again),
        T(test_keep_one_and_leftover_trash),
        T(test_prune_removes_read_only_directories),
        T(test_abort_keeps_the_previous_generation),
        T(test_crashed_writer_stage_is_removed),
        T(test_previous_generation_deleted_only_after_commit),
        T(test_failed_commit_removes_the_stage),
        T(test_damage_flipped_byte),
        T(test_damage_flipped_byte_sizes_only),
        T(test_damage_truncated_manifest),
        T(test_damage_no_end_line),
        T(test_damage_edited_manifest),
        T(test_damage_no_manifest),
        T(test_damage_missing_file),
        T(test_damage_unlisted_file),
        T(test_damage_size),
        T(test_damage_mode),
        T(test_damage_link_target),
        T(test_damage_type),
        T(test_damage_everywhere_means_none),
        T(test_manifest_unknown_header_is_ignored),
        T(test_manifest_lies_are_caught),
        T(test_hard_links_reuse_checksums),
        T(test_copies_are_hashed_again),
        T(test_linked_file_written_in_place_is_hashed_again),
        T(test_write_hiding_its_mtime_is_caught_by_verify),
        T(test_no_base_no_reuse),
        T(test_damage_does_not_spread),
        T(test_prune_counts_only_good_generations),
        T(test_base_skips_and_names_a_bad_newest),
        T(test_prune_trusts_the_content_of_a_named_base),
        T(test_prune_keeps_the_base_beside_damaged_generations),
        T(test_prune_never_deletes_the_base),
        T(test_odd_names),
        T(test_special_files),
        T(test_latest_arguments),
        T(test_list_without_verifying),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
