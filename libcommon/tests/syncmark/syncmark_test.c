/*
 * Unit tests for libcommon/sync/syncmark.c: the batch marker of a sync
 * destination, in a scratch directory; the lock between processes with
 * fork(); the packages digest against sha256sum(1).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/syncmark.h>

#include "../test-util.h"

struct fixture {
    char *dir;    /* scratch */
    char *dest;   /* dir/rootfs: the destination */
    char *marker; /* dir/rootfs.vcha-sync */
    char why[PATH_MAX + 128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    f->dest = test_path(f->dir, "rootfs");
    f->marker = test_path(f->dir, "rootfs.vcha-sync");
    assert_int_equal(mkdir(f->dest, 0755), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    test_tmpdir_remove(f->dir);
    free(f->dest);
    free(f->marker);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ helpers */

/* Write DEST/var/lib/dpkg/status with @p text (NULL: remove it). */
static void
status_file(const struct fixture *f, const char *text)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/var/lib/dpkg/status", f->dest) > 0);
    if (text == NULL) {
        unlink(p);
    } else {
        char *d = NULL;

        assert_true(asprintf(&d, "mkdir -p %s/var/lib/dpkg", f->dest) > 0);
        assert_int_equal(system(d), 0);
        free(d);
        assert_int_equal(test_write_file(p, text), 0);
    }
    free(p);
}

/* The sha256 of DEST/var/lib/dpkg/status by sha256sum(1). */
static void
sha256sum(const struct fixture *f, char hex[65])
{
    char *p = NULL;
    struct vcha_exec_result res = {0};

    assert_true(asprintf(&p, "%s/var/lib/dpkg/status", f->dest) > 0);
    const char *argv[] = {"sha256sum", p, NULL};
    assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
    assert_true(vcha_exec_ok(&res));
    assert_true(res.out_len > 64);
    memcpy(hex, res.out, 64);
    hex[64] = '\0';
    vcha_exec_result_clear(&res);
    free(p);
}

/* Run @p fn(f) in a child; its exit status. */
static int
in_child(struct fixture *f, int (*fn)(struct fixture *))
{
    int ws;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(fn(f));
    }
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

/* ------------------------------------------------------------ tests */

static void
test_path_and_never(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m;
    char buf[PATH_MAX], *slash = NULL;

    assert_int_equal(vcha_syncmark_path(f->dest, buf, sizeof(buf)), 0);
    assert_string_equal(buf, f->marker);
    assert_true(asprintf(&slash, "%s//", f->dest) > 0);
    assert_int_equal(vcha_syncmark_path(slash, buf, sizeof(buf)), 0);
    assert_string_equal(buf, f->marker);
    free(slash);
    assert_int_equal(vcha_syncmark_path("/", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(vcha_syncmark_path("rel/x", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(vcha_syncmark_path(f->dest, buf, 8), -ENAMETOOLONG);

    assert_int_equal(vcha_syncmark_read(f->dest, &m, f->why, sizeof(f->why)),
                     -ENOENT);
    assert_int_equal(vcha_syncmark_wait(f->dest, 1000, &m), -ENOENT);
    assert_int_equal(vcha_syncmark_read("//", &m, f->why, sizeof(f->why)),
                     -EINVAL);
    assert_non_null(strstr(f->why, "//"));
}

static void
test_begin_end(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m, r;
    long long before = vcha_realtime_ms();
    char owner[64];

    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_true(m.locked);
    assert_true(m.lock_fd > 2);
    assert_false(m.complete);
    assert_int_equal(m.batch, 1);
    assert_int_equal(m.completed, 0);
    assert_int_equal(m.status, -1);
    assert_true(m.started_ms >= before);
    snprintf(owner, sizeof(owner), "pid %d", (int) getpid());
    assert_string_equal(m.owner, owner);

    /* on disk before any file of the batch can land */
    assert_int_equal(vcha_syncmark_read(f->dest, &r, f->why, sizeof(f->why)),
                     0);
    assert_false(r.complete);
    assert_true(r.running);
    assert_false(r.locked);
    assert_int_equal(r.batch, 1);
    assert_int_equal(r.started_ms, m.started_ms);

    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    assert_false(m.locked);
    assert_true(m.complete);
    assert_int_equal(m.completed, 1);
    assert_int_equal(m.status, 0);
    assert_true(m.finished_ms >= m.started_ms);
    assert_string_equal(m.packages, ""); /* no dpkg database */

    assert_int_equal(vcha_syncmark_read(f->dest, &r, f->why, sizeof(f->why)),
                     0);
    assert_true(r.complete);
    assert_false(r.running);
    assert_int_equal(r.batch, 1);
    assert_int_equal(r.completed, 1);
    assert_int_equal(r.finished_ms, m.finished_ms);

    /* the count goes up, batch by batch */
    for (long long i = 2; i <= 4; i++) {
        assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
        assert_int_equal(m.batch, i);
        assert_int_equal(m.completed, i - 1);
        assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
        assert_int_equal(m.completed, i);
    }
}

static void
test_failed_stays_incomplete(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m, r;
    char first[65], hex[65];

    status_file(f, "Package: one\nStatus: install ok installed\n\n");
    sha256sum(f, first);
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    assert_string_equal(m.packages, first);

    /* a push that failed half-way through changed the status file */
    status_file(f, "Package: two\nStatus: install ok installed\n\n");
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 23), 0);
    assert_int_equal(vcha_syncmark_read(f->dest, &r, f->why, sizeof(f->why)),
                     0);
    assert_false(r.complete);
    assert_int_equal(r.status, 23);
    assert_int_equal(r.batch, 2);
    assert_int_equal(r.completed, 1);
    assert_string_equal(r.packages, first); /* as of batch 1 */
    assert_int_equal(vcha_syncmark_wait(f->dest, 5000, &r), -EINPROGRESS);

    /* killed by a signal: 128 + signal, still incomplete */
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 128 + SIGKILL), 0);
    assert_false(m.complete);
    assert_int_equal(m.status, 128 + SIGKILL);

    /* the next push completes it, with the digest of now */
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    sha256sum(f, hex);
    assert_true(m.complete);
    assert_int_equal(m.completed, 4);
    assert_string_equal(m.packages, hex);
    assert_string_not_equal(hex, first);

    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 256), -EINVAL);
    assert_false(m.locked); /* released all the same */
}

static void
test_damaged(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m;
    static const char *const bad[] = {
        "state=complete\nbatch=1\n", /* cut short: no empty line */
        "state=maybe\nbatch=1\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\nowner=x\n\n",
        "state=complete\nbatch=1\ncompleted=2\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\nowner=x\n\n",
        "state=complete\nbatch=2\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\nowner=x\n\n",
        "state=complete\nbatch=1\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=abc\nowner=x\n\n",
        "state=complete\nbatch=x\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\nowner=x\n\n",
        "state=complete\nbatch=1\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\n\n", /* no owner */
        "state=complete\nbatch=1\ncompleted=1\nstarted_ms=1\nfinished_ms=1\n"
        "status=0\npackages=\nowner=x\n\ntrailing\n",
        "\x01\x02binary",
        "",
    };
    const char *good = "state=incomplete\nbatch=7\ncompleted=5\n"
                       "started_ms=10\nfinished_ms=9\nstatus=12\n"
                       "packages=\nowner=rsyncd 42\n\n";

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(test_write_file(f->marker, bad[i]), 0);
        f->why[0] = '\0';
        assert_int_equal(
            vcha_syncmark_read(f->dest, &m, f->why, sizeof(f->why)), -EBADMSG);
        assert_non_null(strstr(f->why, f->marker));
        assert_non_null(strstr(f->why, "damaged"));
        assert_int_equal(vcha_syncmark_wait(f->dest, 100, &m), -EBADMSG);
    }
    /* a valid marker written by hand reads back */
    assert_int_equal(test_write_file(f->marker, good), 0);
    assert_int_equal(vcha_syncmark_read(f->dest, &m, f->why, sizeof(f->why)),
                     0);
    assert_int_equal(m.batch, 7);
    assert_int_equal(m.completed, 5);
    assert_int_equal(m.status, 12);
    assert_string_equal(m.owner, "rsyncd 42");

    /* begin starts a damaged marker afresh, as incomplete */
    assert_int_equal(test_write_file(f->marker, bad[0]), 0);
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(m.batch, 1);
    assert_int_equal(m.completed, 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    assert_true(m.complete);
}

static int
child_begin_now(struct fixture *f)
{
    struct vcha_syncmark m;

    return -vcha_syncmark_begin_as(f->dest, NULL, 0, &m);
}

static void
test_lock_exclusion(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark a, b;
    long long t0;
    pid_t holder;
    int ws, rc;

    assert_int_equal(vcha_syncmark_begin_as(f->dest, "first", 0, &a), 0);

    /* a second begin, here or in another process, waits its bound */
    t0 = vcha_now_ms();
    assert_int_equal(vcha_syncmark_begin_as(f->dest, "second", 400, &b),
                     -EBUSY);
    assert_true(vcha_now_ms() - t0 >= 400);
    assert_true(vcha_now_ms() - t0 < 5000);
    assert_false(b.locked);
    assert_int_equal(in_child(f, child_begin_now), EBUSY);
    /* and wrote nothing */
    assert_int_equal(vcha_syncmark_read(f->dest, &b, f->why, sizeof(f->why)),
                     0);
    assert_string_equal(b.owner, "first");
    assert_int_equal(b.batch, 1);

    /* a child that inherited the lock (rsync) holds it past our release */
    holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        pause();
        _exit(0);
    }
    vcha_syncmark_release(&a);
    assert_false(a.locked);
    assert_int_equal(vcha_syncmark_begin_as(f->dest, NULL, 100, &b), -EBUSY);
    assert_int_equal(vcha_syncmark_wait(f->dest, 300, &b), -EINPROGRESS);
    assert_true(b.running);
    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, &ws, 0), holder);

    /* free again: the next batch begins at once */
    rc = vcha_syncmark_begin_as(f->dest, NULL, 0, &b);
    assert_int_equal(rc, 0);
    assert_int_equal(b.batch, 2);
    /* ending the older batch now is refused: it is not the marker's */
    a.batch = 1;
    assert_int_equal(vcha_syncmark_end(f->dest, &a, 0), -ESTALE);
    assert_int_equal(vcha_syncmark_read(f->dest, &a, f->why, sizeof(f->why)),
                     0);
    assert_false(a.complete);
    assert_int_equal(a.batch, 2);
    assert_int_equal(vcha_syncmark_end(f->dest, &b, 0), 0);
    assert_int_equal(vcha_syncmark_begin_as(f->dest, "a\nb", 0, &b), -EINVAL);
}

static void
test_packages(void **state)
{
    struct fixture *f = *state;
    char hex[65], want[65], first[65], *link = NULL, *out = NULL;
    struct vcha_syncmark m;

    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    assert_string_equal(hex, "");

    status_file(f, "Package: a\nStatus: install ok installed\n\n");
    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    sha256sum(f, want);
    assert_string_equal(hex, want);
    memcpy(first, hex, sizeof(first));
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    assert_string_equal(m.packages, want);

    /* the package list changes: so does the digest */
    status_file(f, "Package: a\nStatus: install ok installed\n\n"
                   "Package: b\nStatus: install ok installed\n\n");
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    sha256sum(f, want);
    assert_string_equal(m.packages, want);
    assert_string_not_equal(m.packages, first);

    /* a link out of the tree is not followed out of it */
    assert_true(asprintf(&out, "%s/outside", f->dir) > 0);
    assert_int_equal(test_write_file(out, "Package: host\n\n"), 0);
    status_file(f, NULL);
    assert_true(asprintf(&link, "%s/var/lib/dpkg/status", f->dest) > 0);
    assert_int_equal(symlink(out, link), 0);
    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    assert_string_equal(hex, "");
    unlink(link);
    /* nor is a FIFO waited on, nor a device read (/dev/zero never ends) */
    assert_int_equal(mkfifo(link, 0600), 0);
    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    assert_string_equal(hex, "");
    unlink(link);
    assert_int_equal(mknod(link, S_IFCHR | 0600, makedev(1, 5)), 0);
    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    assert_string_equal(hex, "");
    unlink(link);
    /* an absolute link inside the tree leads to the tree's own file (or,
       without openat2, is not followed): never to the host's */
    free(out);
    assert_true(asprintf(&out, "%s/var/lib/dpkg/status.real", f->dest) > 0);
    assert_int_equal(test_write_file(out, "Package: inside\n\n"), 0);
    assert_int_equal(symlink("/var/lib/dpkg/status.real", link), 0);
    assert_int_equal(vcha_syncmark_packages(f->dest, hex), 0);
    unlink(link);
    assert_int_equal(rename(out, link), 0);
    sha256sum(f, want);
    assert_true(strcmp(hex, want) == 0 || hex[0] == '\0');
    assert_int_equal(vcha_syncmark_packages("/nonexistent-vcha", hex), -ENOENT);
    free(link);
    free(out);
}

static int
child_end_later(struct fixture *f)
{
    struct vcha_syncmark m;

    /* the parent's reads probe the lock (shared, an instant): wait */
    if (vcha_syncmark_begin_as(f->dest, "child", 5000, &m) < 0) {
        return 1;
    }
    if (write(STDOUT_FILENO, "", 0) < 0) {
        return 1;
    }
    vcha_sleep_ms(300);
    return vcha_syncmark_end(f->dest, &m, 0) < 0 ? 2 : 0;
}

static void
test_wait(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m, w;
    long long t0;
    pid_t pid;
    int ws;

    /* held and incomplete: waits out the bound */
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_syncmark_wait(f->dest, 500, &w), -EINPROGRESS);
    assert_true(vcha_now_ms() - t0 >= 500);
    assert_true(w.running);

    /* nobody holds it: the batch will not complete, no waiting */
    vcha_syncmark_release(&m);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_syncmark_wait(f->dest, 10000, &w), -EINPROGRESS);
    assert_true(vcha_now_ms() - t0 < 5000);
    assert_false(w.running);

    /* completes while we wait */
    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    assert_int_equal(vcha_syncmark_wait(f->dest, 0, &w), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_end_later(f));
    }
    /* until the child's batch began, the last one was complete (a child
     * that died first fails the test, never hangs it) */
    do {
        assert_int_equal(
            vcha_syncmark_read(f->dest, &w, f->why, sizeof(f->why)), 0);
    } while (w.batch < 3 && !test_process_dead(pid));
    assert_int_equal(w.batch, 3);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_syncmark_wait(f->dest, 10000, &w), 0);
    assert_true(w.complete);
    assert_int_equal(w.batch, 3);
    assert_true(vcha_now_ms() - t0 < 5000);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

/* Batches, one after another, as fast as they go. */
static int
child_batches(struct fixture *f)
{
    for (int i = 0; i < 200; i++) {
        struct vcha_syncmark m;

        if (vcha_syncmark_begin(f->dest, &m) < 0 ||
            vcha_syncmark_end(f->dest, &m, i % 3) < 0) {
            return 1;
        }
    }
    return 0;
}

static void
test_atomic(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m;
    int reads = 0, ws;
    pid_t pid;

    assert_int_equal(vcha_syncmark_begin(f->dest, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_batches(f));
    }
    /* a reader never sees a part of a marker */
    while (!test_process_dead(pid)) {
        int rc = vcha_syncmark_read(f->dest, &m, f->why, sizeof(f->why));

        if (rc != 0) {
            fail_msg("read %d: %s", rc, f->why);
        }
        reads++;
    }
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_true(reads > 0);
    assert_int_equal(vcha_syncmark_read(f->dest, &m, f->why, sizeof(f->why)),
                     0);
    assert_int_equal(m.batch, 201);
    /* and no temporary file is left: rootfs, its marker and its lock */
    assert_int_equal(test_dir_entries(f->dir), 3);
}

/* an active destination: no batch begins, the marker stays as it was */
static void
test_active_refused(void **state)
{
    struct fixture *f = *state;
    struct vcha_syncmark m, again;
    char active[PATH_MAX + 32];

    assert_int_equal(vcha_syncmark_begin_as(f->dest, "one", 0, &m), 0);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
    snprintf(active, sizeof(active), "%s%s", f->dest,
             VCHA_SYNCMARK_ACTIVE_SUFFIX);
    assert_int_equal(test_write_file(active, "instance=svc\n"), 0);
    assert_int_equal(vcha_syncmark_begin_as(f->dest, "two", 0, &m), -EROFS);
    assert_false(m.locked);
    assert_int_equal(
        vcha_syncmark_read(f->dest, &again, f->why, sizeof(f->why)), 0);
    assert_true(again.complete);
    assert_int_equal(again.batch, 1);
    assert_string_equal(again.owner, "one");
    assert_false(again.running); /* the lock was let go */
    assert_int_equal(unlink(active), 0);
    assert_int_equal(vcha_syncmark_begin_as(f->dest, "two", 0, &m), 0);
    assert_int_equal(m.batch, 2);
    assert_int_equal(vcha_syncmark_end(f->dest, &m, 0), 0);
}

/* the active marker as written, migrated or not, and what is none */
static void
test_active_marker(void **state)
{
    struct fixture *f = *state;
    struct vcha_active_marker m;
    char active[PATH_MAX + 32];

    snprintf(active, sizeof(active), "%s%s", f->dest,
             VCHA_SYNCMARK_ACTIVE_SUFFIX);
    {
        char path[PATH_MAX + 32], slashed[PATH_MAX + 8];

        snprintf(slashed, sizeof(slashed), "%s//", f->dest);
        assert_int_equal(
            vcha_active_marker_path(slashed, path, sizeof(path)), 0);
        assert_string_equal(path, active);
        assert_int_equal(vcha_active_marker_path("/", path, sizeof(path)),
                         -EINVAL);
        assert_int_equal(vcha_active_marker_path(f->dest, path, 4),
                         -ENAMETOOLONG);
    }
    assert_int_equal(vcha_active_marker_read(f->dest, &m), -ENOENT);
    assert_int_equal(test_write_file(active, "instance=svc\nnode=sb1\n"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), 0);
    assert_string_equal(m.instance, "svc");
    assert_string_equal(m.node, "sb1");
    assert_string_equal(m.migrated_to, "");
    assert_int_equal(
        test_write_file(active, "instance=svc\nnode=sb1\nmigrated_to=sb2\n\n"),
        0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), 0);
    assert_string_equal(m.migrated_to, "sb2");
    assert_string_equal(m.migrated_from, "");
    assert_int_equal(
        test_write_file(active, "instance=svc\nmigrated_from=sb1\n\n"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), 0);
    assert_string_equal(m.migrated_to, "");
    assert_string_equal(m.migrated_from, "sb1");
    assert_string_equal(m.restoring_from, "");
    assert_int_equal(
        test_write_file(active, "instance=svc\nrestoring_from=sb1\n\n"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), 0);
    assert_string_equal(m.restoring_from, "sb1");
    assert_string_equal(m.migrated_from, "");
    assert_int_equal(
        test_write_file(active,
                        "instance=svc\nmigrated_to=sb2\ncheckpoint=17\n\n"),
        0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), 0);
    assert_string_equal(m.checkpoint, "17");
    /* a last line cut short may have lost what it said */
    assert_int_equal(
        test_write_file(active, "instance=svc\nnode=sb1\nmigrated_to=s"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), -EBADMSG);
    assert_int_equal(test_write_file(active, "node=sb1\n"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), -EBADMSG);
    assert_string_equal(m.instance, "");
    assert_int_equal(test_write_file(active, "garbage without a newline"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), -EBADMSG);
    assert_int_equal(test_write_file(active, "no key\n\n"), 0);
    assert_int_equal(vcha_active_marker_read(f->dest, &m), -EBADMSG);
    assert_int_equal(vcha_active_marker_read("relative", &m), -EINVAL);
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_path_and_never),
        T(test_begin_end),
        T(test_failed_stays_incomplete),
        T(test_damaged),
        T(test_lock_exclusion),
        T(test_packages),
        T(test_wait),
        T(test_atomic),
        T(test_active_refused),
        T(test_active_marker),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
