/*
 * Unit tests for libcommon/sync/excludes.c: the package-aware exclusion
 * list, on synthetic dpkg databases and trees in a scratch directory, and
 * its filter applied by the real rsync.
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

#include <vcha/excludes.h>
#include <vcha/exec.h>

#include "../test-util.h"

struct fixture {
    char *dir;  /* scratch: root/, filter, dst/ */
    char *root; /* the tree with its dpkg database */
    struct vcha_excludes_spec spec;
    struct vcha_excludes *ex;
    char why[512];
};

/* ------------------------------------------------------------ helpers */

/* mkdir -p ROOT@p path (a path ending in '/': the directory itself). */
static void
mkdirs(const struct fixture *f, const char *path)
{
    char *full = test_path(f->root, path + 1);

    assert_non_null(full);
    for (char *p = full + strlen(f->root) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(full, 0755);
            *p = '/';
        }
    }
    free(full);
}

/* Create ROOT@p path: a directory when it ends in '/', else a file. */
static void
touch(const struct fixture *f, const char *path)
{
    char *full = test_path(f->root, path + 1);

    mkdirs(f, path);
    if (path[strlen(path) - 1] != '/') {
        assert_int_equal(test_write_file(full, path), 0);
    }
    free(full);
}

/* Append @p text to ROOT/var/lib/dpkg/@p name. */
static void
db_append(const struct fixture *f, const char *name, const char *text)
{
    char *rel = NULL, *full;
    FILE *out;

    assert_true(asprintf(&rel, "var/lib/dpkg/%s", name) > 0);
    full = test_path(f->root, rel);
    out = fopen(full, "ae");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
    free(full);
    free(rel);
}

/* Add @p path and its parent directories to list @p list, as dpkg does. */
static void
list_add(const struct fixture *f, const char *list, const char *path)
{
    char buf[4096];
    size_t n = strlen(path);

    for (size_t i = 1; i < n; i++) {
        if (path[i] == '/' && i + 1 < n) {
            snprintf(buf, sizeof(buf), "%.*s\n", (int) i, path);
            db_append(f, list, buf);
        }
    }
    snprintf(buf, sizeof(buf), "%.*s\n", (int) (path[n - 1] == '/' ? n - 1 : n),
             path);
    db_append(f, list, buf);
}

/*
 * Package @p name (Status ... @p state) listing the NULL-terminated
 * paths that follow; with @p create they are made on disk too.
 */
static void
package(const struct fixture *f, const char *name, const char *state,
        bool create, ...)
{
    char *para = NULL, *list = NULL;
    const char *path;
    va_list ap;

    assert_true(asprintf(&para,
                         "Package: %s\nStatus: install ok %s\n"
                         "Architecture: amd64\nDescription: %s\n the %s\n\n",
                         name, state, name, name) > 0);
    db_append(f, "status", para);
    assert_true(asprintf(&list, "info/%s.list", name) > 0);
    db_append(f, list, "/.\n");
    va_start(ap, create);
    while ((path = va_arg(ap, const char *)) != NULL) {
        list_add(f, list, path);
        if (create) {
            touch(f, path);
        }
    }
    va_end(ap);
    free(list);
    free(para);
}

#define NEEDED(f, name, ...)                                                   \
    package(f, name, "installed", true, __VA_ARGS__, (const char *) NULL)
#define UNNEEDED NEEDED /* a name matched by the fixture's glob "kern*" */

static void
build_ok(struct fixture *f)
{
    vcha_excludes_free(f->ex);
    f->ex = NULL;
    assert_int_equal(
        vcha_excludes_build(&f->spec, &f->ex, f->why, sizeof(f->why)), 0);
    assert_non_null(f->ex);
}

/* Index of @p line in the filter, or -1. */
static long
line_at(const struct vcha_excludes *ex, const char *line)
{
    for (size_t i = 0; i < ex->n_lines; i++) {
        if (strcmp(ex->lines[i], line) == 0) {
            return (long) i;
        }
    }
    return -1;
}

static bool
has(const struct vcha_excludes *ex, const char *line)
{
    return line_at(ex, line) >= 0;
}

/* Any line starting with @p prefix. */
static bool
has_prefix(const struct vcha_excludes *ex, const char *prefix)
{
    for (size_t i = 0; i < ex->n_lines; i++) {
        if (strncmp(ex->lines[i], prefix, strlen(prefix)) == 0) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ fixture */

static const char *const kern_glob[] = {"kern*", NULL};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    f->root = test_path(f->dir, "root");
    assert_int_equal(mkdir(f->root, 0755), 0);
    touch(f, "/var/lib/dpkg/info/");
    /* the base system every tree has */
    NEEDED(f, "base-files", "/etc/passwd", "/usr/lib/libc.so", "/usr/bin/sh",
           "/usr/share/doc/base-files/copyright", "/var/lib/");
    f->spec.root = f->root;
    f->spec.unneeded = kern_glob;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vcha_excludes_free(f->ex);
    free(f->root);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ the walk */

static void
test_package_tree_collapses(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-image", "/usr/lib/modules/1.0/kernel/fs/ext4.ko",
             "/usr/lib/modules/1.0/kernel/net/tcp.ko",
             "/usr/lib/modules/1.0/modules.builtin", "/boot/vmlinuz-1.0");
    build_ok(f);
    assert_true(has(f->ex, "- /usr/lib/modules/***"));
    assert_false(has_prefix(f->ex, "- /usr/lib/modules/1.0"));
    assert_false(has(f->ex, "- /usr/lib/***"));
    assert_false(has(f->ex, "- /usr/***"));
    /* /usr, /usr/lib, modules, 1.0, kernel, fs, net, 3 files, /boot, 1 */
    assert_int_equal(f->ex->n_paths, 12);
    assert_int_equal(f->ex->n_unneeded, 1);
    assert_int_equal(f->ex->n_packages, 2);
    assert_true(f->ex->elapsed_ms >= 0);
}

static void
test_shared_directory_not_collapsed(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-hooks", "/usr/share/hooks/kernel-hook",
             "/usr/share/hooks/kdir/a", "/usr/share/hooks/kdir/b");
    NEEDED(f, "udev", "/usr/share/hooks/udev-hook");
    build_ok(f);
    assert_false(has(f->ex, "- /usr/share/hooks/***"));
    assert_true(has(f->ex, "- /usr/share/hooks/kernel-hook"));
    assert_true(has(f->ex, "- /usr/share/hooks/kdir/***"));
    assert_false(has(f->ex, "- /usr/share/hooks/kdir/a"));
    assert_false(has_prefix(f->ex, "- /usr/share/hooks/udev"));
}

static void
test_unowned_file_keeps_directory(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-tool", "/var/lib/ktool/state/seed", "/opt/ktool/bin");
    /* data a service wrote, two levels down */
    touch(f, "/var/lib/ktool/state/written-by-service");
    build_ok(f);
    assert_false(has(f->ex, "- /var/lib/ktool/***"));
    assert_false(has(f->ex, "- /var/lib/ktool/state/***"));
    assert_true(has(f->ex, "- /var/lib/ktool/state/seed"));
    assert_false(has_prefix(f->ex, "- /var/lib/ktool/state/written"));
    assert_true(has(f->ex, "- /opt/***"));
}

static void
test_diverted_file(void **state)
{
    struct fixture *f = *state;

    /* an unneeded package diverts a needed one's file ... */
    NEEDED(f, "coreutils", "/usr/bin/tool", "/usr/bin/ls");
    UNNEEDED(f, "kernel-wrap", "/usr/bin/tool");
    touch(f, "/usr/bin/tool.real");
    /* ... and a needed package diverts an unneeded one's */
    UNNEEDED(f, "kernel-util", "/usr/sbin/kutil");
    NEEDED(f, "util-linux", "/usr/sbin/kutil");
    touch(f, "/usr/sbin/kutil.kernel");
    db_append(f, "diversions",
              "/usr/bin/tool\n/usr/bin/tool.real\nkernel-wrap\n"
              "/usr/sbin/kutil\n/usr/sbin/kutil.kernel\nutil-linux\n");
    build_ok(f);
    /* the file at the path is the diverter's, the other one moved */
    assert_true(has(f->ex, "- /usr/bin/tool"));
    assert_false(has(f->ex, "- /usr/bin/tool.real"));
    assert_false(has(f->ex, "- /usr/sbin/kutil"));
    assert_true(has(f->ex, "- /usr/sbin/kutil.kernel"));
}

static void
test_local_diversion_belongs_to_nobody(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-conf", "/etc/kconf/main.conf", "/etc/kconf/b.conf");
    touch(f, "/etc/kconf/main.conf.dist");
    db_append(f, "diversions",
              "/etc/kconf/main.conf\n/etc/kconf/main.conf.dist\n:\n");
    build_ok(f);
    /* the administrator's own file keeps the directory */
    assert_false(has(f->ex, "- /etc/kconf/***"));
    assert_false(has(f->ex, "- /etc/kconf/main.conf"));
    assert_true(has(f->ex, "- /etc/kconf/main.conf.dist"));
    assert_true(has(f->ex, "- /etc/kconf/b.conf"));
}

static void
test_path_of_both_kinds_stays(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-tools", "/usr/libexec/ktools/shared",
             "/usr/libexec/ktools/own");
    NEEDED(f, "perf", "/usr/libexec/ktools/shared");
    build_ok(f);
    assert_false(has(f->ex, "- /usr/libexec/ktools/***"));
    assert_false(has(f->ex, "- /usr/libexec/ktools/shared"));
    assert_true(has(f->ex, "- /usr/libexec/ktools/own"));
}

static void
test_missing_paths_skipped(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-doc", "/usr/share/kdoc/there");
    /* listed, never on disk: a file, a directory, one below a file */
    package(f, "kernel-gone", "installed", false, "/usr/share/kdoc/gone",
            "/srv/kgone/file", "/usr/share/kdoc/there/below", NULL);
    build_ok(f);
    assert_true(has(f->ex, "- /usr/share/kdoc/***"));
    assert_false(has_prefix(f->ex, "- /srv"));
    assert_false(has_prefix(f->ex, "- /usr/share/kdoc/gone"));
}

static void
test_merged_usr_alias(void **state)
{
    struct fixture *f = *state;
    char *lib = test_path(f->root, "lib");

    assert_int_equal(symlink("usr/lib", lib), 0);
    free(lib);
    /* the list says /lib, the disk holds /usr/lib */
    package(f, "kernel-modules", "installed", false,
            "/lib/modules/2.0/kernel/a.ko", NULL);
    touch(f, "/usr/lib/modules/2.0/kernel/a.ko");
    build_ok(f);
    assert_true(has(f->ex, "- /usr/lib/modules/***"));
    assert_false(has_prefix(f->ex, "- /lib"));
    /* /lib itself is seen as /usr/lib, which base-files shares */
    assert_false(has(f->ex, "- /usr/lib/***"));
}

static void
test_symlink_is_an_entry(void **state)
{
    struct fixture *f = *state;
    char *link = test_path(f->root, "usr/share/doc/kernel-meta");

    NEEDED(f, "kernel-meta", "/usr/share/doc/kernel-meta");
    unlink(link);
    assert_int_equal(symlink("base-files", link), 0);
    free(link);
    build_ok(f);
    assert_true(has(f->ex, "- /usr/share/doc/kernel-meta"));
    assert_false(has(f->ex, "- /usr/share/doc/kernel-meta/***"));
    assert_false(has_prefix(f->ex, "- /usr/share/doc/base-files"));
}

static void
test_wildcards_escaped(void **state)
{
    struct fixture *f = *state;

    UNNEEDED(f, "kernel-odd", "/usr/share/kodd/a[1]*?.txt", "/etc/k\\x");
    NEEDED(f, "other", "/usr/share/kodd/keep");
    build_ok(f);
    assert_true(has(f->ex, "- /usr/share/kodd/a\\[1]\\*\\?.txt"));
    /* no wildcard in the rule: a backslash is itself */
    assert_true(has(f->ex, "- /etc/k\\x"));
}

static void
test_installed_packages_only(void **state)
{
    struct fixture *f = *state;

    package(f, "kernel-purged", "not-installed", true, "/opt/kpurged/a", NULL);
    /* a list without a package in the status file */
    touch(f, "/opt/kstale/a");
    db_append(f, "info/kernel-stale.list", "/opt\n/opt/kstale\n");
    /* a multi-arch list, PACKAGE:ARCH.list; and removed, config kept */
    db_append(f, "status",
              "Package: kernel-lib\nStatus: install ok "
              "installed\nMulti-Arch: same\n\n"
              "Package: kernel-cfg\nStatus: deinstall ok "
              "config-files\n");
    db_append(f, "info/kernel-lib:amd64.list",
              "/.\n/usr\n/usr/lib\n"
              "/usr/lib/klib.so\n");
    touch(f, "/usr/lib/klib.so");
    db_append(f, "info/kernel-cfg.list", "/etc\n/etc/kcfg.conf\n");
    touch(f, "/etc/kcfg.conf");
    build_ok(f);
    assert_false(has_prefix(f->ex, "- /opt"));
    assert_true(has(f->ex, "- /usr/lib/klib.so"));
    assert_true(has(f->ex, "- /etc/kcfg.conf"));
    assert_int_equal(f->ex->n_packages, 3);
    assert_int_equal(f->ex->n_unneeded, 2);
}

/* ------------------------------------------------------------ the rules */

static void
test_always_excluded(void **state)
{
    struct fixture *f = *state;
    const char *const *always = vcha_excludes_always();
    char line[256];
    size_t n = 0;

    build_ok(f);
    for (; always[n] != NULL; n++) {
        snprintf(line, sizeof(line), "- %s", always[n]);
        assert_true(has(f->ex, line));
    }
    assert_true(n >= 15);
    assert_true(has(f->ex, "- /proc/*"));
    assert_true(has(f->ex, "- /boot/***"));
    assert_true(has(f->ex, "- /etc/ssh/ssh_host_*"));
    assert_true(has(f->ex, "- /etc/machine-id"));
    assert_false(has(f->ex, "- /etc/hosts"));
    assert_int_equal(f->ex->n_excluded, n);
    assert_int_equal(f->ex->n_lines, n);
}

static void
test_default_globs(void **state)
{
    struct fixture *f = *state;
    const char *const *globs = vcha_excludes_default_unneeded();
    static const char *const keep_grub[] = {"grub*", NULL};
    bool image = false, pacemaker = false, libqb = false;

    for (size_t i = 0; globs[i] != NULL; i++) {
        image |= strcmp(globs[i], "linux-image-*") == 0;
        pacemaker |= strcmp(globs[i], "pacemaker*") == 0;
        libqb |= strncmp(globs[i], "libqb", 5) == 0;
    }
    assert_true(image && pacemaker && !libqb);
    NEEDED(f, "linux-image-6.1.0-amd64", "/usr/lib/modules/6.1.0/k.ko");
    NEEDED(f, "grub-common", "/usr/lib/grub/grub.mod");
    f->spec.unneeded = NULL;
    build_ok(f);
    assert_true(has(f->ex, "- /usr/lib/modules/***"));
    assert_true(has(f->ex, "- /usr/lib/grub/***"));
    /* a needed glob drops a default */
    f->spec.needed = keep_grub;
    build_ok(f);
    assert_true(has(f->ex, "- /usr/lib/modules/***"));
    assert_false(has(f->ex, "- /usr/lib/grub/***"));
    /* or none of them */
    f->spec.no_defaults = true;
    build_ok(f);
    assert_int_equal(f->ex->n_unneeded, 0);
    assert_false(has_prefix(f->ex, "- /usr"));
}

static void
test_extra_excludes(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {"/srv/cache", "/var/log/*.gz",
                                        "/srv/data/***", "/etc/k.conf", NULL};

    UNNEEDED(f, "kernel-cache", "/srv/cache/k/a");
    touch(f, "/srv/cache/other");
    f->spec.exclude = extra;
    build_ok(f);
    assert_true(has(f->ex, "- /srv/cache/***"));
    assert_false(has_prefix(f->ex, "- /srv/cache/k"));
    assert_true(has(f->ex, "- /var/log/*.gz"));
    assert_true(has(f->ex, "- /srv/data/***"));
    assert_true(has(f->ex, "- /etc/k.conf"));
}

static void
test_include_beats_exclude(void **state)
{
    struct fixture *f = *state;
    static const char *const inc[] = {"/boot/grub/grub.cfg", "/etc/hostname",
                                      "/usr/lib/kmod", NULL};
    long first_exclusion;

    UNNEEDED(f, "kernel-kmod", "/usr/lib/kmod/a", "/usr/lib/kother/b");
    f->spec.include = inc;
    build_ok(f);
    first_exclusion = line_at(f->ex, "- /boot/***");
    assert_true(first_exclusion > 0);
    for (long i = 0; i < first_exclusion; i++) {
        assert_int_equal(f->ex->lines[i][0], '+');
    }
    assert_true(has(f->ex, "+ /boot/"));
    assert_true(has(f->ex, "+ /boot/grub/"));
    assert_true(has(f->ex, "+ /boot/grub/grub.cfg"));
    assert_true(has(f->ex, "+ /etc/hostname"));
    assert_false(has(f->ex, "- /etc/hostname"));
    assert_true(has(f->ex, "+ /usr/lib/kmod/***"));
    assert_false(has(f->ex, "- /usr/lib/kmod/***"));
    assert_true(has(f->ex, "- /usr/lib/kother/***"));
}

static void
test_order_is_deterministic(void **state)
{
    struct fixture *f = *state;
    struct vcha_excludes *first;

    UNNEEDED(f, "kernel-a", "/usr/share/ka/x", "/usr/share/ka.d/y",
             "/usr/share/ka-b/z", "/etc/ka");
    build_ok(f);
    first = f->ex;
    f->ex = NULL;
    build_ok(f);
    assert_int_equal(first->n_lines, f->ex->n_lines);
    for (size_t i = 0; i < first->n_lines; i++) {
        assert_string_equal(first->lines[i], f->ex->lines[i]);
    }
    /* a directory's tree follows it: /usr/share/ka before ka-b, ka.d */
    assert_true(line_at(f->ex, "- /usr/share/ka/***") <
                line_at(f->ex, "- /usr/share/ka-b/***"));
    assert_true(line_at(f->ex, "- /usr/share/ka-b/***") <
                line_at(f->ex, "- /usr/share/ka.d/***"));
    vcha_excludes_free(first);
}

/* ------------------------------------------------------------ errors */

static void
expect_error(struct fixture *f, int rc, const char *in_why)
{
    struct vcha_excludes *ex = (struct vcha_excludes *) f;

    assert_int_equal(vcha_excludes_build(&f->spec, &ex, f->why, sizeof(f->why)),
                     rc);
    assert_null(ex);
    assert_non_null(strstr(f->why, in_why));
}

static void
test_bad_input(void **state)
{
    struct fixture *f = *state;
    static const char *const relative[] = {"etc/x", NULL};
    char *status = test_path(f->root, "var/lib/dpkg/status");
    char *info = test_path(f->root, "var/lib/dpkg/info");

    char *diversions = test_path(f->root, "var/lib/dpkg/diversions");
    char *gone = test_path(f->root, "var/lib/dpkg/info.gone");

    f->spec.exclude = relative;
    expect_error(f, -EINVAL, "absolute");
    f->spec.exclude = NULL;
    f->spec.root = "relative/root";
    expect_error(f, -EINVAL, "root");
    f->spec.root = f->root;
    /* the status file: missing, unreadable, without a package */
    assert_int_equal(unlink(status), 0);
    expect_error(f, -ENOENT, "cannot read ");
    assert_non_null(strstr(f->why, status));
    assert_int_equal(mkdir(status, 0755), 0);
    expect_error(f, -EISDIR, status);
    assert_int_equal(rmdir(status), 0);
    test_write_file(status, "Package: gone\nStatus: purge ok not-installed\n");
    expect_error(f, -EBADMSG, "no installed package");
    test_write_file(status, "Package: a\nStatus: install ok installed\n");
    /* diversions cut short; no info directory */
    test_write_file(diversions, "/a\n/b\n");
    expect_error(f, -EBADMSG, "diversions: truncated");
    assert_int_equal(unlink(diversions), 0);
    assert_int_equal(rename(info, gone), 0);
    expect_error(f, -ENOENT, info);
    /* no room for the reason: the error all the same */
    assert_int_equal(vcha_excludes_build(&f->spec, &f->ex, NULL, 0), -ENOENT);
    vcha_excludes_free(NULL);
    free(gone);
    free(diversions);
    free(status);
    free(info);
}

/* ------------------------------------------------------------ output */

static void
test_print_and_save(void **state)
{
    struct fixture *f = *state;
    char *path = test_path(f->dir, "filter");
    char *bad = test_path(f->dir, "no/such/dir/filter");
    char *printed = NULL, *saved;
    size_t len = 0;
    FILE *mem = open_memstream(&printed, &len);

    UNNEEDED(f, "kernel-x", "/usr/lib/kx/a");
    build_ok(f);
    assert_int_equal(vcha_excludes_print(f->ex, mem), 0);
    fclose(mem);
    assert_int_equal(vcha_excludes_save(f->ex, path), 0);
    saved = test_slurp(path);
    assert_non_null(saved);
    assert_string_equal(saved, printed);
    assert_non_null(strstr(saved, "- /usr/lib/kx/***\n"));
    /* a file that cannot be written: an error, and nothing left */
    assert_true(vcha_excludes_save(f->ex, bad) < 0);
    assert_int_equal(access(bad, F_OK), -1);
    free(saved);
    free(printed);
    free(bad);
    free(path);
}

static bool
exists(const char *dir, const char *path)
{
    char *full = test_path(dir, path);
    bool there = access(full, F_OK) == 0;

    free(full);
    return there;
}

/* The filter as rsync --filter='merge FILE' reads it, on a real copy. */
static void
test_rsync_applies_filter(void **state)
{
    struct fixture *f = *state;
    static const char *const inc[] = {"/boot/grub/grub.cfg", NULL};
    char *filter = test_path(f->dir, "filter");
    char *src = NULL, *dst = test_path(f->dir, "dst"), *merge = NULL;
    struct vcha_exec_result res = {0};

    if (vcha_exec_find("rsync") < 0) {
        skip();
    }
    UNNEEDED(f, "kernel-img", "/usr/lib/modules/3.0/kernel/a.ko",
             "/usr/share/hooks/kernel", "/var/lib/kstate/seed");
    NEEDED(f, "udev", "/usr/share/hooks/udev");
    touch(f, "/var/lib/kstate/written");
    touch(f, "/boot/grub/grub.cfg");
    touch(f, "/boot/vmlinuz-3.0");
    touch(f, "/proc/cpuinfo");
    touch(f, "/etc/hostname");
    touch(f, "/etc/ssh/ssh_host_rsa_key");
    touch(f, "/etc/ssh/sshd_config");
    f->spec.include = inc;
    build_ok(f);
    assert_int_equal(vcha_excludes_save(f->ex, filter), 0);
    assert_true(asprintf(&src, "%s/", f->root) > 0);
    assert_true(asprintf(&merge, "--filter=merge %s", filter) > 0);
    {
        const char *argv[] = {"rsync", "-a", merge, src, dst, NULL};

        assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
        assert_true(vcha_exec_ok(&res));
    }
    /* excluded: did not arrive */
    assert_false(exists(dst, "usr/lib/modules"));
    assert_false(exists(dst, "usr/share/hooks/kernel"));
    assert_false(exists(dst, "var/lib/kstate/seed"));
    assert_false(exists(dst, "boot/vmlinuz-3.0"));
    assert_false(exists(dst, "proc/cpuinfo"));
    assert_false(exists(dst, "etc/hostname"));
    assert_false(exists(dst, "etc/ssh/ssh_host_rsa_key"));
    /* everything else did */
    assert_true(exists(dst, "usr/lib/libc.so"));
    assert_true(exists(dst, "usr/share/hooks/udev"));
    assert_true(exists(dst, "var/lib/kstate/written"));
    assert_true(exists(dst, "boot/grub/grub.cfg"));
    assert_true(exists(dst, "proc"));
    assert_true(exists(dst, "etc/passwd"));
    assert_true(exists(dst, "etc/ssh/sshd_config"));
    assert_true(exists(dst, "var/lib/dpkg/status"));
    vcha_exec_result_clear(&res);
    free(merge);
    free(src);
    free(dst);
    free(filter);
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_package_tree_collapses),
        T(test_shared_directory_not_collapsed),
        T(test_unowned_file_keeps_directory),
        T(test_diverted_file),
        T(test_local_diversion_belongs_to_nobody),
        T(test_path_of_both_kinds_stays),
        T(test_missing_paths_skipped),
        T(test_merged_usr_alias),
        T(test_symlink_is_an_entry),
        T(test_wildcards_escaped),
        T(test_installed_packages_only),
        T(test_always_excluded),
        T(test_default_globs),
        T(test_extra_excludes),
        T(test_include_beats_exclude),
        T(test_order_is_deterministic),
        T(test_bad_input),
        T(test_print_and_save),
        T(test_rsync_applies_filter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
