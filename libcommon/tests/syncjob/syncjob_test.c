/*
 * Unit tests for libcommon/sync/syncjob.c: the filesync job's contract,
 * targets, secrets, the rsync argv, and real pushes into a local
 * directory with the real rsync.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/jobdef.h>
#include <vcha/kv.h>
#include <vcha/syncjob.h>

#include "../test-util.h"

struct fixture {
    char *dir, *src, *dst, *filter, *list;
    struct vcha_sync_target target;
    struct vcha_sync_push push;
    struct vcha_sync_stats st;
    char why[512];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    f->src = test_path(f->dir, "src");
    f->dst = test_path(f->dir, "dst");
    f->filter = test_path(f->dir, "filter");
    f->list = test_path(f->dir, "list");
    assert_int_equal(mkdir(f->src, 0755), 0);
    assert_int_equal(mkdir(f->dst, 0755), 0);
    assert_int_equal(vcha_sync_target_parse(f->dst, &f->target, f->why,
                                            sizeof(f->why)),
                     0);
    f->push = (struct vcha_sync_push){.source = f->src,
                                      .target = &f->target,
                                      .timeout_ms = 30000};
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    test_tmpdir_remove(f->dir);
    free(f->src);
    free(f->dst);
    free(f->filter);
    free(f->list);
    free(f);
    return 0;
}

/* Write @p text to SRC/@p name (directories made as needed). */
static void
put(const struct fixture *f, const char *name, const char *text)
{
    char *path = test_path(f->src, name);

    for (char *p = path + strlen(f->src) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
}

/* Write filter rules @p text (one a line) as pushes read them: each rule
 * ended by a NUL byte (rsync's --from0 applies to merged files too). */
static void
filter_write(const struct fixture *f, const char *text)
{
    FILE *out = fopen(f->filter, "w");

    assert_non_null(out);
    for (const char *c = text; *c != '\0'; c++) {
        fputc(*c == '\n' ? '\0' : *c, out);
    }
    assert_int_equal(fclose(out), 0);
}

/* Whether DST/@p name exists. */
static bool
arrived(const struct fixture *f, const char *name)
{
    char *path = test_path(f->dst, name);
    struct stat st;
    bool there = lstat(path, &st) == 0;

    free(path);
    return there;
}

/* Write the NUL-separated list of @p names. */
static void
list_write(const struct fixture *f, const char *const *names)
{
    FILE *out = fopen(f->list, "w");

    assert_non_null(out);
    for (size_t i = 0; names[i] != NULL; i++) {
        fwrite(names[i], 1, strlen(names[i]) + 1, out);
    }
    assert_int_equal(fclose(out), 0);
}

/* ------------------------------------------------------------ targets */

static void
test_target_forms(void **state)
{
    struct fixture *f = *state;
    struct vcha_sync_target t;

    assert_int_equal(vcha_sync_target_parse("/srv/ct1", &t, f->why, 512), 0);
    assert_int_equal(t.kind, VCHA_SYNC_LOCAL);
    assert_string_equal(t.path, "/srv/ct1");
    assert_int_equal(
        vcha_sync_target_parse("ssh://vcha@standby-1:2222", &t, f->why, 512),
        0);
    assert_int_equal(t.kind, VCHA_SYNC_SSH);
    assert_string_equal(t.user, "vcha");
    assert_string_equal(t.host, "standby-1");
    assert_int_equal(t.port, 2222);
    assert_int_equal(vcha_sync_target_parse("ssh://[fd00::2]", &t, f->why,
                                            512),
                     0);
    assert_string_equal(t.host, "fd00::2");
    assert_int_equal(t.port, 0);
    assert_int_equal(vcha_sync_target_parse("rsync://198.18.0.2:873/ct1/",
                                            &t, f->why, 512),
                     0);
    assert_int_equal(t.kind, VCHA_SYNC_DAEMON);
    assert_string_equal(t.host, "198.18.0.2");
    assert_int_equal(t.port, 873);
    assert_string_equal(t.path, "ct1");
}

static void
test_target_refused(void **state)
{
    struct fixture *f = *state;
    struct vcha_sync_target t;
    static const char *const bad[] = {
        "",
        "relative/dir",
        "ssh://",
        "ssh://host:0",
        "ssh://host:70000",
        "ssh://host:22x",
        "ssh://-oProxyCommand=x",
        "ssh://us er@host",
        "ssh://host;reboot",
        "ssh://[fd00::2",
        "rsync://host",
        "rsync://host/",
        "rsync://host/mod/sub",
        "rsync://host/-mod",
        "http://host/x",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->why[0] = '\0';
        assert_int_equal(vcha_sync_target_parse(bad[i], &t, f->why, 512),
                         -EINVAL);
        assert_non_null(strstr(f->why, "rsync://"));
    }
}

/* ----------------------------------------------------------- contract */

/* Parse job-add parameters given as "k=v" strings. */
static int
contract_parse(struct fixture *f, const char *const *pairs)
{
    struct vcha_kv *kv = vcha_kv_new();
    struct vcha_params *p = NULL;
    int rc;

    for (size_t i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        char key[64];

        snprintf(key, sizeof(key), "%.*s", (int) (eq - pairs[i]), pairs[i]);
        assert_int_equal(vcha_kv_set(kv, key, eq + 1), 0);
    }
    f->why[0] = '\0';
    rc = vcha_job_params_parse(&vcha_sync_job, kv, &p, f->why, 512);
    vcha_params_free(p);
    vcha_kv_free(kv);
    return rc;
}

static void
test_contract(void **state)
{
    struct fixture *f = *state;
    const char *local[] = {"source=/srv/vm", "target=/srv/ct", NULL};
    const char *ssh_no_key[] = {"source=/srv/vm", "target=ssh://h", NULL};
    const char *ssh[] = {"source=/srv/vm", "target=ssh://h",
                         "identity=/k", "known_hosts=/kh", NULL};
    const char *daemon_no_pw[] = {"source=/srv/vm", "target=rsync://h/m",
                                  NULL};
    const char *blank_key[] = {"source=/srv/vm", "target=ssh://h",
                               "identity=/my key", "known_hosts=/kh", NULL};
    const char *rel[] = {"source=srv/vm", "target=/srv/ct", NULL};
    const char *delay[] = {"source=/srv/vm", "target=/srv/ct",
                           "delay=2min", NULL};
    const char *mech[] = {"source=/srv/vm", "target=/srv/ct",
                          "mechanism=poll", NULL};

    assert_int_equal(contract_parse(f, local), 0);
    assert_int_equal(contract_parse(f, ssh), 0);
    assert_int_equal(contract_parse(f, ssh_no_key), -EINVAL);
    assert_non_null(strstr(f->why, "identity"));
    assert_int_equal(contract_parse(f, daemon_no_pw), -EINVAL);
    assert_non_null(strstr(f->why, "password_file"));
    assert_int_equal(contract_parse(f, blank_key), -EINVAL);
    assert_non_null(strstr(f->why, "identity"));
    assert_int_equal(contract_parse(f, rel), -EINVAL);
    assert_non_null(strstr(f->why, "source"));
    assert_int_equal(contract_parse(f, delay), -EINVAL);
    assert_non_null(strstr(f->why, "delay"));
    assert_int_equal(contract_parse(f, mech), -EINVAL);
    assert_non_null(strstr(f->why, "mechanism"));
}

/* ------------------------------------------------------------ secrets */

static void
test_secret_check(void **state)
{
    struct fixture *f = *state;
    char *key = test_path(f->dir, "key");

    assert_int_equal(test_write_file(key, "secret\n"), 0);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(vcha_sync_secret_check(key, f->why, 512), 0);
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(vcha_sync_secret_check(key, f->why, 512), 0);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(vcha_sync_secret_check(key, f->why, 512), -EPERM);
    assert_non_null(strstr(f->why, "0644"));
    assert_non_null(strstr(f->why, key));
    assert_int_equal(chmod(key, 0640), 0);
    assert_int_equal(vcha_sync_secret_check(key, f->why, 512), -EPERM);
    if (geteuid() == 0) {
        assert_int_equal(chmod(key, 0600), 0);
        assert_int_equal(chown(key, 4242, 0), 0);
        assert_int_equal(vcha_sync_secret_check(key, f->why, 512), -EPERM);
        assert_non_null(strstr(f->why, "4242"));
    }
    assert_int_equal(vcha_sync_secret_check(f->dir, f->why, 512), -EINVAL);
    unlink(key);
    assert_int_equal(vcha_sync_secret_check(key, f->why, 512), -ENOENT);
    free(key);
}

/* --------------------------------------------------------------- argv */

/* Whether @p argv holds @p arg. */
static bool
has_arg(const char *const *argv, const char *arg)
{
    for (size_t i = 0; argv[i] != NULL; i++) {
        if (strcmp(argv[i], arg) == 0) {
            return true;
        }
    }
    return false;
}

static void
test_argv(void **state)
{
    struct fixture *f = *state;
    struct vcha_sync_target t;
    const char *argv[32];
    char buf[4096];
    struct vcha_sync_push p = {.source = "/srv/vm", .target = &t,
                               .identity = "/k", .known_hosts = "/kh",
                               .control_path = "/run/c", .list = "/l",
                               .filter = "/f"};
    int n;

    assert_int_equal(vcha_sync_target_parse("ssh://vcha@sb:2222", &t, f->why,
                                            512),
                     0);
    n = vcha_sync_push_argv(&p, argv, 32, buf, sizeof(buf));
    assert_true(n > 0);
    assert_null(argv[n]);
    assert_string_equal(argv[0], "rsync");
    assert_true(has_arg(argv, "--numeric-ids"));
    assert_true(has_arg(argv, "-aHAX"));
    assert_true(has_arg(argv, "--files-from=/l"));
    assert_true(has_arg(argv, "--delete-missing-args"));
    assert_true(has_arg(argv, "--from0"));
    assert_true(has_arg(argv, "--modify-window=-1"));
    assert_true(has_arg(argv, "--filter=merge /f"));
    assert_false(has_arg(argv, "--delete-excluded"));
    assert_string_equal(argv[n - 2], "/srv/vm/");
    assert_string_equal(argv[n - 1], "vcha@sb:.");
    assert_non_null(strstr(argv[n - 3], "-p 2222"));
    assert_non_null(strstr(argv[n - 3], "ControlPath=/run/c"));
    assert_non_null(strstr(argv[n - 3], "StrictHostKeyChecking=yes"));
    assert_non_null(strstr(argv[n - 3], "ConnectTimeout=10"));

    assert_int_equal(vcha_sync_target_parse("rsync://sb/ct1", &t, f->why,
                                            512),
                     0);
    p.list = NULL;
    p.delete_excluded = true;
    p.password_file = "/pw";
    n = vcha_sync_push_argv(&p, argv, 32, buf, sizeof(buf));
    assert_true(n > 0);
    assert_false(has_arg(argv, "--delete-missing-args"));
    assert_true(has_arg(argv, "--delete-excluded"));
    assert_true(has_arg(argv, "--password-file=/pw"));
    assert_true(has_arg(argv, "--contimeout=10"));
    assert_string_equal(argv[n - 1], "rsync://sb/ct1/");
    /* too small: refused, never cut */
    assert_int_equal(vcha_sync_push_argv(&p, argv, 4, buf, sizeof(buf)),
                     -ENOSPC);
    assert_int_equal(vcha_sync_push_argv(&p, argv, 32, buf, 16), -ENOSPC);
}

/* The exclusion list's text, whichever way it is made. */
static void
test_filter_text(void **state)
{
    struct fixture *f = *state;
    const char *const exclude[] = {"/srv/scratch", NULL};
    const char *const include[] = {"/opt/keep", NULL};
    struct vcha_excludes_spec spec = {
        .root = f->src, .exclude = exclude, .include = include};
    char *text = NULL;
    size_t len = 0;

    /* no dpkg database: the includes, the always-list, the excludes */
    assert_int_equal(vcha_sync_filter_text(&spec, NULL, &text, &len, f->why,
                                           512),
                     0);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "+ /opt/keep\n"));
    assert_non_null(strstr(text, "- /srv/scratch\n"));
    assert_non_null(strstr(text, "- /proc/*\n"));
    assert_true(strstr(text, "+ /opt/keep") < strstr(text, "- /proc/*"));
    free(text);

    /* a filter file: its content as it is */
    assert_int_equal(test_write_file(f->filter, "- /only\n"), 0);
    assert_int_equal(vcha_sync_filter_text(&spec, f->filter, &text, &len,
                                           f->why, 512),
                     0);
    assert_string_equal(text, "- /only\n");
    free(text);
    assert_int_equal(unlink(f->filter), 0);
    assert_int_equal(vcha_sync_filter_text(&spec, f->filter, &text, &len,
                                           f->why, 512),
                     -ENOENT);
    assert_null(text);
    assert_non_null(strstr(f->why, f->filter));

    /* a database that lists no package: an error, not an empty list */
    put(f, "var/lib/dpkg/status", "\n");
    f->why[0] = '\0';
    assert_int_equal(vcha_sync_filter_text(&spec, NULL, &text, &len, f->why,
                                           512),
                     -EBADMSG);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_true(f->why[0] != '\0');
}

/* Filter text saved with NUL-ended rules, mode 0600. */
static void
test_filter_save(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char got[16];
    FILE *in;
    size_t n;

    assert_int_equal(vcha_sync_filter_save(f->filter, "- /a\n- /b", 9), 0);
    in = fopen(f->filter, "r");
    assert_non_null(in);
    n = fread(got, 1, sizeof(got), in);
    fclose(in);
    assert_int_equal(n, 10);
    assert_memory_equal(got, "- /a\0- /b\0", 10);
    assert_int_equal(stat(f->filter, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* a push reads it */
    put(f, "a", "a\n");
    put(f, "c", "c\n");
    f->push.filter = f->filter;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_false(arrived(f, "a"));
    assert_true(arrived(f, "c"));
}

/* Write @p text to @p dir/@p name, its directory made. */
static void
put_at(const char *dir, const char *name, const char *text)
{
    char *path = test_path(dir, name), *slash = strrchr(path, '/');

    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
}

/* @p dir/@p name holds @p text (NULL: it does not exist). */
static void
assert_holds(const char *dir, const char *name, const char *text)
{
    char *path = test_path(dir, name), *got;

    if (text == NULL) {
        assert_int_equal(access(path, F_OK), -1);
    } else {
        got = test_slurp(path);
        assert_non_null(got);
        assert_string_equal(got, text);
        free(got);
    }
    free(path);
}

/*
 * A pull (a failback): the standby's copy comes back over the source,
 * deleting what the standby no longer has, and leaving what the filter
 * excludes on the source as it is.
 */
static void
test_pull(void **state)
{
    struct fixture *f = *state;
    const char *argv[32];
    char buf[4096];
    int n;

    put(f, "data/a", "stale\n");
    put(f, "data/gone", "deleted on the standby\n");
    put(f, "boot/vmlinuz", "the primary's own kernel\n");
    put(f, "etc/hostname", "primary\n");
    put_at(f->dst, "data/a", "newer\n");
    put_at(f->dst, "data/b", "written on the standby\n");
    put_at(f->dst, "etc/hostname", "member\n");
    filter_write(f, "- /boot/***\n- /etc/hostname\n");
    f->push.filter = f->filter;
    f->push.pull = true;

    n = vcha_sync_push_argv(&f->push, argv, 32, buf, sizeof(buf));
    assert_true(n > 2);
    assert_int_equal(strncmp(argv[n - 1], f->src, strlen(f->src)), 0);
    assert_int_equal(strncmp(argv[n - 2], f->dst, strlen(f->dst)), 0);

    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_holds(f->src, "data/a", "newer\n");
    assert_holds(f->src, "data/b", "written on the standby\n");
    assert_holds(f->src, "data/gone", NULL);
    /* excluded: the source's own, kept */
    assert_holds(f->src, "boot/vmlinuz", "the primary's own kernel\n");
    assert_holds(f->src, "etc/hostname", "primary\n");
    assert_int_equal(f->st.files, 2);
    assert_int_equal(f->st.deleted, 1);
    assert_true(f->st.bytes > 0);
    /* and the standby's copy is untouched */
    assert_holds(f->dst, "etc/hostname", "member\n");
}

/* -------------------------------------------------------------- pushes */

static void
test_push_full_and_list(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"etc/new", "etc/gone", "boot/vmlinuz-2", "d",
                           NULL};

    put(f, "etc/passwd", "root:x:0:0\n");
    put(f, "etc/gone", "old\n");
    put(f, "boot/vmlinuz", "kernel\n");
    filter_write(f, "- /boot/***\n");
    f->push.filter = f->filter;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_true(arrived(f, "etc/passwd"));
    assert_true(arrived(f, "etc/gone"));
    assert_false(arrived(f, "boot"));
    assert_int_equal(f->st.exit_code, 0);
    assert_int_equal(f->st.files, 2);
    assert_true(f->st.bytes > 0);

    /* a list: a new file, a deleted one, an excluded one, a new tree */
    put(f, "etc/new", "new\n");
    put(f, "etc/unlisted", "not sent\n");
    put(f, "boot/vmlinuz-2", "kernel 2\n");
    put(f, "d/e/f", "deep\n");
    {
        char *gone = test_path(f->src, "etc/gone");

        assert_int_equal(unlink(gone), 0);
        free(gone);
    }
    list_write(f, names);
    f->push.list = f->list;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_true(arrived(f, "etc/new"));
    assert_false(arrived(f, "etc/gone"));
    assert_false(arrived(f, "etc/unlisted"));
    assert_false(arrived(f, "boot"));
    assert_true(arrived(f, "d/e/f"));
    assert_int_equal(f->st.files, 2);
    assert_int_equal(f->st.deleted, 1);
}

static void
test_push_delete_excluded(void **state)
{
    struct fixture *f = *state;

    put(f, "usr/lib/firmware/x.bin", "fw\n");
    put(f, "etc/hostname", "vm\n");
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_true(arrived(f, "usr/lib/firmware/x.bin"));
    /* the container's own name, which the always-list protects */
    {
        char *own = test_path(f->dst, "etc/hostname");

        assert_int_equal(test_write_file(own, "ct\n"), 0);
        free(own);
    }
    filter_write(f, "P /etc/hostname\n"
                    "- /etc/hostname\n"
                    "- /usr/lib/firmware/***\n");
    f->push.filter = f->filter;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_true(arrived(f, "usr/lib/firmware/x.bin")); /* not yet */
    f->push.delete_excluded = true;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), 0);
    assert_false(arrived(f, "usr/lib/firmware"));
    {
        char *own = test_path(f->dst, "etc/hostname");
        char *text = test_slurp(own);

        assert_string_equal(text, "ct\n");
        free(text);
        free(own);
    }
}

static void
test_push_fails(void **state)
{
    struct fixture *f = *state;
    struct vcha_sync_target t;

    assert_int_equal(vcha_sync_target_parse("/nonexistent/a/b", &t, f->why,
                                            512),
                     0);
    f->push.target = &t;
    put(f, "x", "x\n");
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), -EIO);
    assert_non_null(strstr(f->why, "rsync"));
    assert_true(f->st.exit_code > 0);

    /* a daemon that is not there */
    assert_int_equal(vcha_sync_target_parse("rsync://127.0.0.1:9/m", &t,
                                            f->why, 512),
                     0);
    f->push.password_file = f->filter;
    assert_int_equal(test_write_file(f->filter, "pw\n"), 0);
    assert_int_equal(chmod(f->filter, 0600), 0);
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), -EIO);
    assert_non_null(strstr(f->why, "rsync"));

    /* ssh to a port nobody listens on: ssh's words, not rsync's echo */
    assert_int_equal(vcha_sync_target_parse("ssh://127.0.0.1:9", &t, f->why,
                                            512),
                     0);
    f->push.identity = f->filter;
    f->push.known_hosts = "/dev/null";
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512), -EIO);
    assert_non_null(strstr(f->why, "Connection refused"));
}

static void
test_push_timeout(void **state)
{
    struct fixture *f = *state;
    char *big = test_path(f->src, "big");
    FILE *out = fopen(big, "w");

    assert_non_null(out);
    /* 64 MiB, pushed with a timeout too short for it */
    assert_int_equal(ftruncate(fileno(out), 64 << 20), 0);
    assert_int_equal(fclose(out), 0);
    f->push.timeout_ms = 1;
    assert_int_equal(vcha_sync_push_run(&f->push, &f->st, f->why, 512),
                     -ETIME);
    assert_non_null(strstr(f->why, "timed out"));
    assert_false(arrived(f, "big"));
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_target_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_full_and_list, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_push_delete_excluded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_push_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_timeout, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
