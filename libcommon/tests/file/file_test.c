/* Unit tests for runtime/file.c: atomic writes, reads, state files. */
#include <config.h>

#include <limits.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/file.h>

#include "../test-util.h"

/* ------------------------------------------------------------ fixture */

struct fixture {
    char *dir;  /* scratch directory */
    char *path; /* dir/state, the file under test */
    char *old_rsctmp;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *rsctmp = getenv("HA_RSCTMP");

    if (f == NULL) {
        return -1;
    }
    f->dir = test_tmpdir_new();
    f->path = f->dir ? test_path(f->dir, "state") : NULL;
    f->old_rsctmp = rsctmp ? strdup(rsctmp) : NULL;
    *state = f;
    return f->path != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    if (f->old_rsctmp != NULL) {
        setenv("HA_RSCTMP", f->old_rsctmp, 1);
    } else {
        unsetenv("HA_RSCTMP");
    }
    free(f->old_rsctmp);
    free(f->path);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void
assert_file_is(const char *path, const char *expect)
{
    char *text = test_slurp(path);

    if (text == NULL) {
        fail_msg("cannot read %s", path);
    }
    assert_string_equal(text, expect);
    free(text);
}

static mode_t
file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ------------------------------------------------------------ privileges */

/*
 * Root writes into read-only directories anyway: to see the failure, drop
 * CAP_DAC_OVERRIDE from the effective set for a moment (and restore it).
 */
struct caps {
    struct __user_cap_header_struct hdr;
    struct __user_cap_data_struct data[2];
    bool dropped;
};

static bool
dac_override_drop(struct caps *saved)
{
    struct caps now;

    saved->dropped = false;
    if (geteuid() != 0) {
        return true;
    }
    saved->hdr = (struct __user_cap_header_struct){
        .version = _LINUX_CAPABILITY_VERSION_3};
    if (syscall(SYS_capget, &saved->hdr, saved->data) < 0) {
        return false;
    }
    now = *saved;
    now.data[0].effective &= ~(1U << CAP_DAC_OVERRIDE);
    if (syscall(SYS_capset, &now.hdr, now.data) < 0) {
        return false;
    }
    saved->dropped = true;
    return true;
}

static void
dac_override_restore(struct caps *saved)
{
    if (saved->dropped) {
        syscall(SYS_capset, &saved->hdr, saved->data);
    }
}

/* ------------------------------------------------------------ write */

static void
test_write_atomic_creates_file_with_content_and_mode(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(vcha_file_write_atomic(f->path, "hello\n", 6, 0640), 0);
    assert_file_is(f->path, "hello\n");
    assert_int_equal(file_mode(f->path), 0640);
}

static void
test_write_atomic_mode_ignores_umask(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(077);

    assert_int_equal(vcha_file_write_atomic(f->path, "x", 1, 0644), 0);
    umask(old);
    assert_int_equal(file_mode(f->path), 0644);
}

static void
test_write_atomic_replaces_old_content(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(test_write_file(f->path, "a much longer old content\n"),
                     0);
    assert_int_equal(vcha_file_write_atomic(f->path, "new", 3, 0600), 0);
    assert_file_is(f->path, "new");
    assert_int_equal(file_mode(f->path), 0600);
}

static void
test_write_atomic_replaces_the_inode(void **state)
{
    struct fixture *f = *state;
    struct stat before, after;

    /* a reader holding the old file keeps seeing the old version */
    assert_int_equal(test_write_file(f->path, "old"), 0);
    assert_int_equal(stat(f->path, &before), 0);
    assert_int_equal(vcha_file_write_atomic(f->path, "new", 3, 0600), 0);
    assert_int_equal(stat(f->path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
}

static void
test_write_atomic_leaves_no_temporary_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(vcha_file_write_atomic(f->path, "1", 1, 0600), 0);
    assert_int_equal(vcha_file_write_atomic(f->path, "2", 1, 0600), 0);
    assert_int_equal(test_dir_entries(f->dir), 1);
}

static void
test_write_atomic_empty_and_binary_data(void **state)
{
    struct fixture *f = *state;
    const char bin[] = {'a', '\0', 'b', '\n', (char) 0xff};
    char *data = NULL;
    size_t len = 99;

    assert_int_equal(vcha_file_write_atomic(f->path, "", 0, 0600), 0);
    assert_int_equal(vcha_file_read(f->path, &data, &len, 100), 0);
    assert_int_equal(len, 0);
    free(data);
    assert_int_equal(vcha_file_write_atomic(f->path, bin, sizeof(bin), 0600),
                     0);
    assert_int_equal(vcha_file_read(f->path, &data, &len, 100), 0);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(data, bin, sizeof(bin));
    free(data);
}

static void
test_write_atomic_missing_directory(void **state)
{
    struct fixture *f = *state;
    char *path = test_path(f->dir, "missing/state");

    assert_int_equal(vcha_file_write_atomic(path, "x", 1, 0600), -ENOENT);
    assert_int_equal(test_dir_entries(f->dir), 0);
    free(path);
}

static void
test_write_atomic_read_only_directory(void **state)
{
    struct fixture *f = *state;
    struct caps caps;
    int rc;

    assert_int_equal(test_write_file(f->path, "old"), 0);
    chmod(f->dir, 0555);
    if (!dac_override_drop(&caps)) {
        chmod(f->dir, 0755);
        skip();
    }
    rc = vcha_file_write_atomic(f->path, "new", 3, 0600);
    dac_override_restore(&caps);
    chmod(f->dir, 0755);
    assert_int_equal(rc, -EACCES);
    assert_file_is(f->path, "old");
    assert_int_equal(test_dir_entries(f->dir), 1);
}

static void
test_write_atomic_write_failure_keeps_old_file(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, small = {.rlim_cur = 4};
    char big[64];
    int rc;

    memset(big, 'n', sizeof(big));
    assert_int_equal(test_write_file(f->path, "old"), 0);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    /* nothing may print while the limit holds: keep this window short */
    setrlimit(RLIMIT_FSIZE, &small);
    rc = vcha_file_write_atomic(f->path, big, sizeof(big), 0600);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, -EFBIG);
    assert_file_is(f->path, "old");
    assert_int_equal(test_dir_entries(f->dir), 1);
}

static void
test_write_atomic_rename_failure_removes_temporary(void **state)
{
    struct fixture *f = *state;

    /* the target is a directory: rename() fails after the write */
    assert_int_equal(mkdir(f->path, 0755), 0);
    assert_int_equal(vcha_file_write_atomic(f->path, "x", 1, 0600), -EISDIR);
    assert_int_equal(test_dir_entries(f->dir), 1);
    assert_int_equal(test_dir_entries(f->path), 0);
}

static void
test_write_atomic_path_too_long(void **state)
{
    char *path = malloc(PATH_MAX + 10);

    (void) state;
    assert_non_null(path);
    memset(path, 'p', PATH_MAX + 9);
    path[0] = '/';
    path[PATH_MAX + 9] = '\0';
    assert_int_equal(vcha_file_write_atomic(path, "x", 1, 0600), -ENAMETOOLONG);
    free(path);
}

/* ------------------------------------------------------------ sync */

static void
test_sync_parent_of_existing_and_missing(void **state)
{
    struct fixture *f = *state;
    char *missing = test_path(f->dir, "no/such/file");

    assert_int_equal(vcha_file_sync_parent(f->path), 0);
    assert_int_equal(vcha_file_sync_parent(missing), -ENOENT);
    free(missing);
}

/* ------------------------------------------------------------ read */

static void
test_read_returns_content_and_length(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(test_write_file(f->path, "line 1\nline 2\n"), 0);
    assert_int_equal(vcha_file_read(f->path, &data, &len, 1024), 0);
    assert_string_equal(data, "line 1\nline 2\n");
    assert_int_equal(len, 14);
    free(data);
}

static void
test_read_length_is_optional(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;

    assert_int_equal(test_write_file(f->path, "abc"), 0);
    assert_int_equal(vcha_file_read(f->path, &data, NULL, 1024), 0);
    assert_string_equal(data, "abc");
    free(data);
}

static void
test_read_empty_file(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;
    size_t len = 99;

    assert_int_equal(test_write_file(f->path, ""), 0);
    assert_int_equal(vcha_file_read(f->path, &data, &len, 0), 0);
    assert_non_null(data);
    assert_string_equal(data, "");
    assert_int_equal(len, 0);
    free(data);
}

static void
test_read_missing_file(void **state)
{
    struct fixture *f = *state;
    char *data = (char *) 1;

    assert_int_equal(vcha_file_read(f->path, &data, NULL, 1024), -ENOENT);
    assert_null(data);
}

static void
test_read_size_limit(void **state)
{
    struct fixture *f = *state;
    char *data = (char *) 1;

    assert_int_equal(test_write_file(f->path, "12345"), 0);
    assert_int_equal(vcha_file_read(f->path, &data, NULL, 4), -EFBIG);
    assert_null(data);
    assert_int_equal(vcha_file_read(f->path, &data, NULL, 5), 0);
    assert_string_equal(data, "12345");
    free(data);
}

static void
test_read_directory_fails(void **state)
{
    struct fixture *f = *state;
    char *data = (char *) 1;

    assert_int_equal(vcha_file_read(f->dir, &data, NULL, 1 << 20), -EISDIR);
    assert_null(data);
}

/* ------------------------------------------------------------ state dir */

static void
test_state_dir_from_ha_rsctmp(void **state)
{
    (void) state;
    setenv("HA_RSCTMP", "/var/run/heartbeat/rsctmp", 1);
    assert_string_equal(vcha_state_dir(), "/var/run/heartbeat/rsctmp");
}

static void
test_state_dir_default(void **state)
{
    (void) state;
    unsetenv("HA_RSCTMP");
    assert_string_equal(vcha_state_dir(), "/run/resource-agents");
    setenv("HA_RSCTMP", "", 1);
    assert_string_equal(vcha_state_dir(), "/run/resource-agents");
}

static void
test_state_dir_ignores_relative_path(void **state)
{
    (void) state;
    setenv("HA_RSCTMP", "tmp/rsc", 1);
    assert_string_equal(vcha_state_dir(), "/run/resource-agents");
}

static void
test_state_path_layout(void **state)
{
    char buf[256];

    (void) state;
    setenv("HA_RSCTMP", "/state", 1);
    assert_int_equal(
        vcha_state_path(buf, sizeof(buf), "dnsswitch", "res1", ".json"), 0);
    assert_string_equal(buf, "/state/vcha-dnsswitch-res1.json");
}

static void
test_state_path_defaults(void **state)
{
    char buf[256];

    (void) state;
    setenv("HA_RSCTMP", "/state", 1);
    assert_int_equal(vcha_state_path(buf, sizeof(buf), "a", NULL, NULL), 0);
    assert_string_equal(buf, "/state/vcha-a-default");
}

static void
test_state_path_slash_in_instance(void **state)
{
    char buf[256];

    (void) state;
    setenv("HA_RSCTMP", "/run/ha/tmp", 1);
    assert_int_equal(
        vcha_state_path(buf, sizeof(buf), "agent", "../../etc/passwd", ".lock"),
        0);
    assert_string_equal(buf, "/run/ha/tmp/vcha-agent-.._.._etc_passwd.lock");
}

static void
test_state_path_too_long(void **state)
{
    char buf[32];
    const char *expect = "/s/vcha-agent-inst.x"; /* 20 bytes */

    (void) state;
    setenv("HA_RSCTMP", "/s", 1);
    assert_int_equal(vcha_state_path(buf, 21, "agent", "inst", ".x"), 0);
    assert_string_equal(buf, expect);
    assert_int_equal(vcha_state_path(buf, 20, "agent", "inst", ".x"),
                     -ENAMETOOLONG);
    assert_int_equal(vcha_state_path(buf, 0, "agent", "inst", ".x"),
                     -ENAMETOOLONG);
}

static void
test_state_dir_ensure_creates_directory(void **state)
{
    struct fixture *f = *state;
    char *dir = test_path(f->dir, "rsctmp");
    mode_t old = umask(022);

    setenv("HA_RSCTMP", dir, 1);
    assert_int_equal(vcha_state_dir_ensure(), 0);
    umask(old);
    assert_int_equal(file_mode(dir), 0755);
    assert_int_equal(vcha_state_dir_ensure(), 0); /* exists: fine */
    free(dir);
}

static void
test_state_dir_ensure_missing_parent(void **state)
{
    struct fixture *f = *state;
    char *dir = test_path(f->dir, "no/rsctmp");

    setenv("HA_RSCTMP", dir, 1);
    assert_int_equal(vcha_state_dir_ensure(), -ENOENT);
    free(dir);
}

static void
test_state_dir_ensure_on_a_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(test_write_file(f->path, "not a directory"), 0);
    setenv("HA_RSCTMP", f->path, 1);
    assert_int_equal(vcha_state_dir_ensure(), -ENOTDIR);
}

static void
test_mkdirs_makes_parents_and_keeps_what_exists(void **state)
{
    struct fixture *f = *state;
    char *leaf = test_path(f->dir, "a/b/c");
    char *mid = test_path(f->dir, "a/b");
    struct stat st;

    assert_int_equal(vcha_file_mkdirs(leaf, 0700), 0);
    assert_int_equal(stat(leaf, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(mid, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(vcha_file_mkdirs(leaf, 0700), 0); /* again: fine */
    assert_int_equal(test_write_file(f->path, "a file"), 0);
    assert_int_equal(vcha_file_mkdirs(f->path, 0755), -ENOTDIR);
    free(leaf);
    leaf = test_path(f->dir, "state/below");
    assert_int_equal(vcha_file_mkdirs(leaf, 0755), -ENOTDIR);
    free(leaf);
    free(mid);
}

/* /proc files report size 0: they are read to their end all the same */
static void
test_read_proc_file(void **state)
{
    char *data = NULL;
    size_t len = 0;

    (void) state;
    assert_int_equal(vcha_file_read("/proc/self/status", &data, &len, 65536),
                     0);
    assert_true(len > 0);
    assert_non_null(strstr(data, "Name:"));
    free(data);
    assert_int_equal(vcha_file_read("/proc/self/status", &data, &len, 10),
                     -EFBIG);
    assert_null(data);
}

/* ------------------------------------------------------------ names */

static void
test_names_sorted_with_regular_filter(void **state)
{
    struct fixture *f = *state;
    char *top = test_path(f->dir, "list"), *sub = test_path(top, "m-dir");
    char *b = test_path(top, "b"), *a = test_path(top, "a.img");
    char *link = test_path(top, "c-link");
    char **names = NULL;
    size_t n = 99;
    int dfd;

    assert_int_equal(mkdir(top, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(test_write_file(b, "b"), 0);
    assert_int_equal(test_write_file(a, "a"), 0);
    assert_int_equal(symlink(a, link), 0);
    dfd = open(top, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    assert_int_equal(vcha_file_names_at(dfd, false, &names, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "a.img");
    assert_string_equal(names[1], "b");
    assert_string_equal(names[2], "c-link");
    assert_string_equal(names[3], "m-dir");
    assert_null(names[4]);
    vcha_file_names_free(names);
    /* again on the same descriptor: read from the start; links and
     * directories left out */
    assert_int_equal(vcha_file_names_at(dfd, true, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a.img");
    assert_string_equal(names[1], "b");
    assert_null(names[2]);
    vcha_file_names_free(names);
    assert_true(fcntl(dfd, F_GETFD) >= 0); /* still open */
    close(dfd);
    free(top);
    free(sub);
    free(b);
    free(a);
    free(link);
}

static void
test_names_of_empty_and_bad_directories(void **state)
{
    struct fixture *f = *state;
    char *top = test_path(f->dir, "empty");
    char **names = NULL;
    size_t n = 99;
    int dfd;

    assert_int_equal(mkdir(top, 0755), 0);
    dfd = open(top, O_RDONLY | O_DIRECTORY);
    assert_int_equal(vcha_file_names_at(dfd, false, &names, &n), 0);
    assert_int_equal(n, 0);
    assert_non_null(names);
    assert_null(names[0]);
    vcha_file_names_free(names);
    close(dfd);
    assert_int_equal(vcha_file_names_at(-1, false, &names, &n), -EBADF);
    assert_null(names);
    assert_int_equal(n, 0);
    vcha_file_names_free(NULL);
    free(top);
}

/* ------------------------------------------------------------ remove_tree */

static void
test_remove_tree_removes_everything(void **state)
{
    struct fixture *f = *state;
    char *top = test_path(f->dir, "tree"), *sub = test_path(top, "ro");
    char *file = test_path(sub, "f"), *link = test_path(top, "l");
    char *outside = test_path(f->dir, "outside");

    assert_int_equal(mkdir(top, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(test_write_file(file, "x"), 0);
    assert_int_equal(test_write_file(outside, "keep"), 0);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(chmod(sub, 0555), 0); /* read-only, as in a rootfs */
    assert_int_equal(vcha_file_remove_tree(top), 0);
    assert_int_equal(access(top, F_OK), -1);
    /* the link is removed, never followed */
    assert_int_equal(access(outside, F_OK), 0);
    free(top);
    free(sub);
    free(file);
    free(link);
    free(outside);
}

static void
test_remove_tree_missing_and_plain_file(void **state)
{
    struct fixture *f = *state;
    char *file = test_path(f->dir, "plain");
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);

    assert_int_equal(vcha_file_remove_tree("/nonexistent/tree"), 0);
    assert_int_equal(test_write_file(file, "x"), 0);
    assert_true(dfd >= 0);
    assert_int_equal(vcha_file_remove_tree_at(dfd, "plain"), 0);
    assert_int_equal(access(file, F_OK), -1);
    close(dfd);
    free(file);
}

/* A copy within a file system and to a pipe (no copy_file_range there). */
static void
test_copy_fd_whole_and_short(void **state)
{
    struct fixture *f = *state;
    char *src = test_path(f->dir, "src"), *dst = test_path(f->dir, "dst");
    char buf[64] = "", *text;
    int in, out, p[2];

    assert_int_equal(test_write_file(src, "0123456789"), 0);
    in = open(src, O_RDONLY);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(in >= 0 && out >= 0);
    assert_int_equal(vcha_file_copy_fd(in, out, 10), 0);
    close(out);
    close(in);
    text = test_slurp(dst);
    assert_string_equal(text, "0123456789");
    free(text);
    in = open(src, O_RDONLY);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(vcha_file_copy_fd(in, p[1], 4), 0);
    close(p[1]);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 4);
    assert_string_equal(buf, "0123");
    close(p[0]);
    /* a source shorter than said: an error, not a short copy */
    out = open(dst, O_WRONLY | O_TRUNC);
    assert_int_equal(vcha_file_copy_fd(in, out, 20), -EIO);
    close(out);
    close(in);
    free(dst);
    free(src);
}

static void
test_open_beneath(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char *p;
    int root, fd;

    p = test_path(f->dir, "d");
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = test_path(f->dir, "d/f");
    assert_int_equal(test_write_file(p, "x"), 0);
    free(p);
    p = test_path(f->dir, "l");
    assert_int_equal(symlink("d", p), 0);
    free(p);
    root = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    fd = vcha_file_open_beneath(root, "d", true);
    assert_true(fd >= 0);
    close(fd);
    fd = vcha_file_open_beneath(root, "d/f", false);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(vcha_file_open_beneath(root, "d/f", true), -ENOTDIR);
    assert_int_equal(vcha_file_open_beneath(root, "d/none", false), -ENOENT);
    assert_int_equal(vcha_file_open_beneath(root, "l/f", false), -ELOOP);
    assert_int_equal(vcha_file_open_beneath(root, "l", true), -ENOTDIR);
    fd = vcha_file_open_beneath(root, "l", false); /* the link itself */
    assert_true(fd >= 0);
    assert_int_equal(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
    assert_true(S_ISLNK(st.st_mode));
    close(fd);
    assert_int_equal(vcha_file_open_beneath(root, "../x", false), -EXDEV);
    close(root);
}

/* ------------------------------------------------------------ lock */

static void
test_lock_excludes_until_closed(void **state)
{
    struct fixture *f = *state;
    long long t0;
    int fd, fd2;
    char *link = test_path(f->dir, "link"), *lost = test_path(f->dir, "no/x");

    fd = vcha_file_lock(f->path, 0);
    assert_true(fd >= 0);
    assert_int_equal(file_mode(f->path), 0600);
    /* another open file description: excluded, tried until the deadline */
    t0 = vcha_now_ms();
    assert_int_equal(vcha_file_lock(f->path, t0 + 150), -EBUSY);
    assert_true(vcha_now_ms() - t0 >= 150);
    assert_int_equal(vcha_file_lock(f->path, 0), -EBUSY);
    close(fd);
    fd2 = vcha_file_lock(f->path, 0);
    assert_true(fd2 >= 0);
    close(fd2);
    assert_int_equal(symlink(f->path, link), 0);
    assert_int_equal(vcha_file_lock(link, 0), -ELOOP);
    assert_int_equal(vcha_file_lock(lost, 0), -ENOENT);
    free(link);
    free(lost);
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_names_sorted_with_regular_filter),
        T(test_names_of_empty_and_bad_directories),
        T(test_write_atomic_creates_file_with_content_and_mode),
        T(test_write_atomic_mode_ignores_umask),
        T(test_write_atomic_replaces_old_content),
        T(test_write_atomic_replaces_the_inode),
        T(test_write_atomic_leaves_no_temporary_file),
        T(test_write_atomic_empty_and_binary_data),
        T(test_write_atomic_missing_directory),
        T(test_write_atomic_read_only_directory),
        T(test_write_atomic_write_failure_keeps_old_file),
        T(test_write_atomic_rename_failure_removes_temporary),
        T(test_write_atomic_path_too_long),
        T(test_sync_parent_of_existing_and_missing),
        T(test_read_returns_content_and_length),
        T(test_read_length_is_optional),
        T(test_read_empty_file),
        T(test_read_missing_file),
        T(test_read_size_limit),
        T(test_read_directory_fails),
        T(test_state_dir_from_ha_rsctmp),
        T(test_state_dir_default),
        T(test_state_dir_ignores_relative_path),
        T(test_state_path_layout),
        T(test_state_path_defaults),
        T(test_state_path_slash_in_instance),
        T(test_state_path_too_long),
        T(test_state_dir_ensure_creates_directory),
        T(test_state_dir_ensure_missing_parent),
        T(test_state_dir_ensure_on_a_file),
        T(test_mkdirs_makes_parents_and_keeps_what_exists),
        T(test_read_proc_file),
        T(test_copy_fd_whole_and_short),
        T(test_remove_tree_removes_everything),
        T(test_remove_tree_missing_and_plain_file),
        T(test_open_beneath),
        T(test_lock_excludes_until_closed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
