/*
 * Unit tests for libcommon/checkpoint/ct.c: reading a container's LXC
 * configuration, and what the checkpoint and restore do when something is
 * wrong, with the real liblxc on containers that exist only as
 * configuration.  A container that boots (made the way lxc-create -t
 * download makes it) is tests/criuct/download-ct.sh's.  That a checkpoint and a
 * restore work is proven in the cluster lab, where CRIU runs
 * (tests/lab/scenarios/05-criuct.sh).
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/genstore.h>

#include <vcha/ckptjob.h>

#include "../test-util.h"

struct fixture {
    char *dir;   /* lxcpath */
    char *store; /* a generation store */
    char why[512];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *ct = NULL;

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    ct = test_path(f->dir, "c1");
    assert_int_equal(mkdir(ct, 0755), 0);
    free(ct);
    f->store = test_path(f->dir, "store");
    assert_int_equal(mkdir(f->store, 0755), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    free(f->store);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void
config_write(struct fixture *f, const char *text)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/c1/config", f->dir) > 0);
    assert_int_equal(test_write_file(path, text), 0);
    free(path);
}

/* A container "c1" whose root filesystem is <dir>/c1/rootfs. */
static struct vcha_ct *
ct_make(struct fixture *f)
{
    struct vcha_ct *ct = NULL;
    char *text = NULL;

    assert_true(asprintf(&text,
                         "lxc.uts.name = c1\n"
                         "lxc.rootfs.path = dir:%s/c1/rootfs\n"
                         "lxc.init.cmd = /bin/true\n",
                         f->dir) > 0);
    config_write(f, text);
    free(text);
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    return ct;
}

static long long
soon(void)
{
    return vcha_now_ms() + 20000;
}

static void
test_open_reads_rootfs_and_digest(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    char *expect = NULL;

    assert_true(asprintf(&expect, "%s/c1/rootfs", f->dir) > 0);
    assert_string_equal(ct->rootfs, expect);
    assert_string_equal(ct->name, "c1");
    assert_string_equal(ct->lxcpath, f->dir);
    assert_int_equal(strlen(ct->digest), 64);
    assert_int_equal(strspn(ct->digest, "0123456789abcdef"), 64);
    free(expect);
    vcha_ct_free(ct);
}

static void
test_open_digest_follows_the_configuration(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *a = ct_make(f), *b = NULL, *c = NULL;

    assert_int_equal(vcha_ct_open("c1", f->dir, &b, f->why, sizeof(f->why)), 0);
    assert_string_equal(a->digest, b->digest);
    config_write(f, "lxc.rootfs.path = /srv/other\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &c, f->why, sizeof(f->why)), 0);
    assert_string_not_equal(a->digest, c->digest);
    assert_string_equal(c->rootfs, "/srv/other"); /* no dir: prefix */
    vcha_ct_free(a);
    vcha_ct_free(b);
    vcha_ct_free(c);
}

static void
test_open_last_setting_wins(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = NULL;

    config_write(f, "lxc.rootfs.path = dir:/a\n"
                    "# lxc.rootfs.path = /commented\n"
                    "  lxc.rootfs.path=dir:/b  \n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_string_equal(ct->rootfs, "/b");
    vcha_ct_free(ct);
}

static void
test_open_missing_configuration(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = (struct vcha_ct *) 1;

    assert_int_equal(vcha_ct_open("nope", f->dir, &ct, f->why, sizeof(f->why)),
                     -ENOENT);
    assert_null(ct);
    assert_non_null(strstr(f->why, "nope/config"));
}

static void
test_open_needs_a_directory_rootfs(void **state)
{
    static const char *const bad[] = {
        "lxc.uts.name = c1\n",               /* none */
        "lxc.rootfs.path = rootfs\n",        /* relative */
        "lxc.rootfs.path = overlay:/a:/b\n", /* not a directory */
        "lxc.rootfs.path = \n",              /* empty */
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vcha_ct *ct = NULL;

        config_write(f, bad[i]);
        f->why[0] = '\0';
        assert_int_equal(
            vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)), -EINVAL);
        assert_null(ct);
        assert_non_null(strstr(f->why, "lxc.rootfs.path"));
    }
    vcha_ct_free(NULL);
}

/* liblxc reads it: includes followed, the last setting winning. */
static void
test_open_follows_includes(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = NULL;
    char *inc = test_path(f->dir, "common.conf"), *text = NULL;

    assert_int_equal(test_write_file(inc,
                                     "lxc.tty.max = 4\n"
                                     "lxc.rootfs.path = dir:/from/include\n"
                                     "lxc.apparmor.profile = generated\n"),
                     0);
    assert_true(asprintf(&text, "lxc.include = %s\nlxc.pty.max = 1024\n", inc) >
                0);
    config_write(f, text);
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_string_equal(ct->rootfs, "/from/include");
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.tty.max"), "4");
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.pty.max"), "1024");
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.apparmor.profile"),
                        "generated");
    assert_null(vcha_kv_get(ct->settings, "lxc.net.0.type"));
    vcha_ct_free(ct);
    free(text);
    free(inc);
}

/* A configuration liblxc cannot read is -EINVAL, with liblxc's reason. */
static void
test_open_unreadable_configuration(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = (struct vcha_ct *) 1;

    config_write(f, "lxc.rootfs.path = dir:/a\nlxc.no.such.key = 1\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     -EINVAL);
    assert_null(ct);
    assert_non_null(strstr(f->why, "liblxc cannot read"));
    assert_non_null(strstr(f->why, "c1/config"));
}

/* Refused: what a boot with CRIU's settings in memory cannot override. */
static void
test_criu_check_names_the_setting(void **state)
{
    static const struct {
        const char *line, *named;
    } cases[] = {
        {"lxc.start.auto = 1\n", "lxc.start.auto = 1"},
        {"lxc.net.0.type = empty\nlxc.net.1.type = phys\n"
         "lxc.net.1.link = eth9\n",
         "lxc.net.1.type = phys"},
        {"lxc.net.0.type = vlan\nlxc.net.0.link = eth0\n"
         "lxc.net.0.vlan.id = 7\n",
         "lxc.net.0.type = vlan"},
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vcha_ct *ct = NULL;
        char *text = NULL;

        assert_true(
            asprintf(&text, "lxc.rootfs.path = dir:/r\n%s", cases[i].line) > 0);
        config_write(f, text);
        assert_int_equal(
            vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)), 0);
        f->why[0] = '\0';
        assert_int_equal(vcha_ct_criu_check(ct, f->why, sizeof(f->why)),
                         -EINVAL);
        assert_non_null(strstr(f->why, cases[i].named));
        assert_non_null(strstr(f->why, "; ")); /* and its fix */
        vcha_ct_free(ct);
        free(text);
    }
}

/* What lxc-create -t download writes passes: vcha overrides the rest. */
static void
test_criu_check_accepts_a_download_config(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = NULL;

    config_write(f, "lxc.include = /usr/share/lxc/config/common.conf\n"
                    "lxc.arch = linux64\n"
                    "lxc.apparmor.profile = generated\n"
                    "lxc.apparmor.allow_nesting = 1\n"
                    "lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n"
                    "lxc.uts.name = c1\n"
                    "lxc.net.0.type = veth\n"
                    "lxc.net.0.link = lxcbr0\n"
                    "lxc.net.0.flags = up\n"
                    "lxc.start.auto = 0\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_int_equal(vcha_ct_criu_check(ct, f->why, sizeof(f->why)), 0);
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.net.0.type"), "veth");
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.tty.max"), "4");
    vcha_ct_free(ct);
}

/* The first network's address, one only: what vcservice waits on. */
static void
test_open_reads_the_first_address(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = NULL;

    config_write(f, "lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n"
                    "lxc.net.0.type = veth\n"
                    "lxc.net.0.link = br0\n"
                    "lxc.net.0.ipv4.address = 198.18.0.5/24\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_string_equal(vcha_kv_get(ct->settings, "lxc.net.0.ipv4.address"),
                        "198.18.0.5/24");
    vcha_ct_free(ct);
    /* two addresses: neither is taken for the member's own */
    config_write(f, "lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n"
                    "lxc.net.0.type = veth\n"
                    "lxc.net.0.link = br0\n"
                    "lxc.net.0.ipv4.address = 198.18.0.5/24\n"
                    "lxc.net.0.ipv4.address = 198.18.0.6/24\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_null(vcha_kv_get(ct->settings, "lxc.net.0.ipv4.address"));
    vcha_ct_free(ct);
    /* none */
    config_write(f, "lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n"
                    "lxc.net.0.type = empty\n");
    assert_int_equal(vcha_ct_open("c1", f->dir, &ct, f->why, sizeof(f->why)),
                     0);
    assert_null(vcha_kv_get(ct->settings, "lxc.net.0.ipv4.address"));
    vcha_ct_free(ct);
}

static void
test_running_stopped_container(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    pid_t pid = 42;

    assert_int_equal(vcha_ct_running(ct, soon(), &pid), 0);
    assert_int_equal(pid, 0);
    vcha_ct_free(ct);
}

/* A stopped container uses nothing to measure: -ESRCH, zeroed. */
static void
test_usage_of_a_stopped_container(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    struct vcha_ct_usage u = {.memory = 1, .cpu_usec = 1};

    assert_int_equal(vcha_ct_usage(ct, soon(), &u), -ESRCH);
    assert_true(u.memory == 0 && u.cpu_usec == 0);
    free(ct->name);
    ct->name = strdup("nope"); /* liblxc: not defined: an error */
    assert_true(vcha_ct_usage(ct, soon(), &u) < 0);
    vcha_ct_free(ct);
}

/* A stopped container has nothing to thaw: -ESRCH, with the reason. */
static void
test_thaw_of_a_stopped_container(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);

    assert_int_equal(vcha_ct_thaw(ct, soon(), f->why, sizeof(f->why)), -ESRCH);
    assert_non_null(strstr(f->why, "c1"));
    vcha_ct_free(ct);
}

static void
test_running_unknown_container_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);

    free(ct->name);
    ct->name = strdup("nope"); /* liblxc: not defined */
    assert_true(vcha_ct_running(ct, soon(), NULL) < 0);
    vcha_ct_free(ct);
}

/*
 * A monitor that never answers: liblxc waits for it without a timeout
 * (its command socket, "@LXCPATH/NAME/command"); vcha_ct_running() gives
 * up at its deadline.
 */
static void
test_running_bounded_by_the_deadline(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s/c1/command",
                     f->dir);
    long long t0;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa,
                          (socklen_t) (offsetof(struct sockaddr_un, sun_path) +
                                       1 + (size_t) n)),
                     0);
    assert_int_equal(listen(fd, 8), 0);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_ct_running(ct, t0 + 500, NULL), -ETIME);
    assert_true(vcha_now_ms() - t0 < 2500);
    close(fd);
    /* the monitor gone, it answers again */
    assert_int_equal(vcha_ct_running(ct, soon(), NULL), 0);
    vcha_ct_free(ct);
}

static void
test_kill_stopped_container_is_fine(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);

    assert_int_equal(vcha_ct_kill(ct, soon(), f->why, sizeof(f->why)), 0);
    vcha_ct_free(ct);
}

static void
test_boot_without_rootfs_fails_with_reason(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);

    assert_true(vcha_ct_boot(ct, soon(), f->why, sizeof(f->why)) < 0);
    assert_non_null(strstr(f->why, "could not start c1: "));
    assert_int_equal(vcha_ct_running(ct, soon(), NULL), 0);
    vcha_ct_free(ct);
}

static void
test_attach_to_stopped_container_fails(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    const char *argv[] = {"/bin/true", NULL};

    assert_int_not_equal(
        vcha_ct_attach(ct, argv, soon(), f->why, sizeof(f->why)), 0);
    vcha_ct_free(ct);
}

/* A generation with an image and a root filesystem of one file. */
static const char *const small_gen[] = {VCHA_CT_IMAGES "/",
                                        "",
                                        VCHA_CT_IMAGES "/pages-1.img",
                                        "pages",
                                        VCHA_CT_ROOTFS "/",
                                        "",
                                        VCHA_CT_ROOTFS "/marker",
                                        "from the generation\n",
                                        NULL};

/*
 * A committed generation, made with the store itself, holding @p files
 * (NULL-terminated "PATH", "CONTENT" pairs; a PATH ending in "/" is a
 * directory), or just a file "state".
 */
static char *
generation_with(struct fixture *f, const char *const *files)
{
    static const char *const state[] = {"state", "good\n", NULL};
    struct vcha_genstore *s = NULL;
    char *stage = NULL, *gen = NULL;

    assert_int_equal(vcha_genstore_open(f->store, &s), 0);
    assert_int_equal(vcha_genstore_stage(s, &stage), 0);
    for (const char *const *e = files ? files : state; *e != NULL; e += 2) {
        char *p = test_path(stage, e[0]);

        if (e[0][strlen(e[0]) - 1] == '/') {
            assert_int_equal(mkdir(p, 0755), 0);
        } else {
            assert_int_equal(test_write_file(p, e[1]), 0);
        }
        free(p);
    }
    assert_int_equal(vcha_genstore_commit(s, NULL, 2, &gen), 0);
    vcha_genstore_free(s);
    free(stage);
    return gen;
}

/* A committed generation holding one file. */
static char *
generation_make(struct fixture *f)
{
    return generation_with(f, NULL);
}

static void
test_checkpoint_failure_keeps_the_store(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    struct vcha_kv *fig = vcha_kv_new();
    struct vcha_ct_ckpt o = {.store = f->store, .keep = 2, .deadline = soon()};
    char *gen = generation_make(f), *latest = NULL;

    /* not running: the freeze fails half way into the checkpoint */
    setenv("VCHA_RUN_DIR", f->dir, 1);
    assert_true(vcha_ct_checkpoint(ct, &o, fig, f->why, sizeof(f->why)) < 0);
    assert_true(f->why[0] != '\0');
    assert_int_equal(vcha_genstore_latest(f->store, 0, &latest, NULL), 0);
    assert_string_equal(latest, gen);
    /* the store holds .lock and the one generation: no stage left */
    assert_int_equal(test_dir_entries(f->store), 2);
    assert_non_null(vcha_kv_get(fig, "total_ms"));
    free(latest);
    free(gen);
    vcha_kv_free(fig);
    vcha_ct_free(ct);
}

static void
test_checkpoint_store_missing_or_busy(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    struct vcha_kv *fig = vcha_kv_new();
    struct vcha_ct_ckpt o = {
        .store = "/nonexistent/store", .keep = 2, .deadline = soon()};
    struct vcha_genstore *writer = NULL;

    assert_int_equal(vcha_ct_checkpoint(ct, &o, fig, f->why, sizeof(f->why)),
                     -ENOENT);
    assert_non_null(strstr(f->why, "/nonexistent/store"));
    o.store = f->store;
    assert_int_equal(vcha_genstore_open(f->store, &writer), 0);
    assert_int_equal(vcha_ct_checkpoint(ct, &o, fig, f->why, sizeof(f->why)),
                     -EBUSY);
    assert_non_null(strstr(f->why, "another checkpoint"));
    vcha_genstore_free(writer);
    vcha_kv_free(fig);
    vcha_ct_free(ct);
}

static void
test_restore_links_the_images_and_writes_no_generation(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    char *gen = generation_with(f, small_gen), *kept = NULL, *marker = NULL;
    char *img = test_path(gen, VCHA_CT_IMAGES "/pages-1.img"), *text = NULL;
    struct utsname un;
    struct stat a, b;

    setenv("VCHA_RUN_DIR", f->dir, 1);
    assert_int_equal(uname(&un), 0);
    /* CRIU cannot restore this container: the restore fails in
     * liblxc's migrate, after the images and files were put in place */
    assert_true(vcha_ct_restore(ct, gen, NULL, soon(), NULL, f->why,
                                sizeof(f->why)) < 0);
    assert_true(asprintf(&kept, "%s/.restore-%s", f->store, un.nodename) > 0);
    assert_non_null(strstr(f->why, kept)); /* where CRIU's log is */
    free(kept);
    assert_true(asprintf(&kept, "%s/.restore-%s/pages-1.img", f->store,
                         un.nodename) > 0);
    /* the image is a hard link, not a copy */
    assert_int_equal(stat(kept, &a), 0);
    assert_int_equal(stat(img, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_int_equal(a.st_dev, b.st_dev);
    /* the root filesystem is the generation's */
    marker = test_path(f->dir, "c1/rootfs/marker");
    text = test_slurp(marker);
    assert_non_null(text);
    assert_string_equal(text, "from the generation\n");
    /* and the generation is untouched */
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    free(text);
    free(marker);
    free(kept);
    free(img);
    free(gen);
    vcha_ct_free(ct);
}

static void
test_restore_from_an_incomplete_generation_fails(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    char *gen = generation_make(f); /* no images/, no rootfs/ */

    setenv("VCHA_RUN_DIR", f->dir, 1);
    assert_true(vcha_ct_restore(ct, gen, NULL, soon(), NULL, f->why,
                                sizeof(f->why)) < 0);
    assert_non_null(strstr(f->why, gen));
    assert_int_equal(vcha_ct_running(ct, soon(), NULL), 0);
    /* left frozen or not, the same checks come first */
    f->why[0] = '\0';
    assert_true(vcha_ct_restore_frozen(ct, gen, NULL, soon(), NULL, f->why,
                                       sizeof(f->why)) < 0);
    assert_non_null(strstr(f->why, gen));
    assert_int_equal(vcha_ct_running(ct, soon(), NULL), 0);
    /* the generation is read, never written */
    assert_int_equal(vcha_genstore_verify(gen, 0, NULL), 0);
    free(gen);
    vcha_ct_free(ct);
}

/* Flip the first byte of @p path, its size kept. */
static void
flip(const char *path)
{
    char *text = test_slurp(path);

    assert_non_null(text);
    text[0] ^= 0x20;
    assert_int_equal(test_write_file(path, text), 0);
    free(text);
}

static void
test_restore_reads_again_only_what_the_node_lacks(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    struct vcha_kv *fig = vcha_kv_new();
    char *gen = generation_with(f, small_gen);

    setenv("VCHA_RUN_DIR", f->dir, 1);
    /* CRIU fails each time, after the files were put in place */
    assert_true(vcha_ct_restore(ct, gen, NULL, soon(), fig, f->why,
                                sizeof(f->why)) < 0);
    assert_string_equal(vcha_kv_get(fig, "files_fetched"), "1");
    assert_true(vcha_ct_restore(ct, gen, NULL, soon(), fig, f->why,
                                sizeof(f->why)) < 0);
    assert_string_equal(vcha_kv_get(fig, "files_fetched"), "0");
    assert_string_equal(vcha_kv_get(fig, "bytes_fetched"), "0");
    assert_int_equal(atoi(vcha_kv_get(fig, "files_proven")) +
                         atoi(vcha_kv_get(fig, "files_hashed")),
                     1);
    free(gen);
    vcha_kv_free(fig);
    vcha_ct_free(ct);
}

static void
test_restore_from_a_corrupt_generation_puts_nothing_of_it_in_place(void **state)
{
    struct fixture *f = *state;
    struct vcha_ct *ct = ct_make(f);
    char *gen = generation_with(f, small_gen);
    char *file = test_path(gen, VCHA_CT_ROOTFS "/marker");
    char *marker = test_path(f->dir, "c1/rootfs/marker");
    char *img = test_path(gen, VCHA_CT_IMAGES "/pages-1.img");

    setenv("VCHA_RUN_DIR", f->dir, 1);
    flip(file);
    assert_int_equal(
        vcha_ct_restore(ct, gen, NULL, soon(), NULL, f->why, sizeof(f->why)),
        -EBADMSG);
    assert_non_null(strstr(f->why, "rootfs/marker: checksum mismatch"));
    assert_int_equal(access(marker, F_OK), -1);
    flip(file);
    flip(img); /* an image: found before the files are touched */
    assert_int_equal(
        vcha_ct_restore(ct, gen, NULL, soon(), NULL, f->why, sizeof(f->why)),
        -EBADMSG);
    assert_non_null(strstr(f->why, "images/pages-1.img: checksum mismatch"));
    assert_int_equal(access(marker, F_OK), -1);
    free(img);
    free(marker);
    free(file);
    free(gen);
    vcha_ct_free(ct);
}

/* A generation whose images were shipped @p how in @p ms for @p bytes. */
static void
shipped(struct fixture *f, const char *how, const char *ms, const char *bytes)
{
    struct vcha_gen_figure fig[] = {
        {"images", how}, {"ship_ms", ms}, {"image_bytes", bytes}};
    struct vcha_gen_meta meta = {.figures = fig, .n_figures = 3};
    struct vcha_genstore *s = NULL;
    char *stage = NULL;

    assert_int_equal(vcha_genstore_open(f->store, &s), 0);
    assert_int_equal(vcha_genstore_stage(s, &stage), 0);
    assert_int_equal(vcha_genstore_commit(s, &meta, 100, NULL), 0);
    vcha_genstore_free(s);
    free(stage);
}

static void
test_compress_auto_times_both_then_takes_the_faster(void **state)
{
    struct fixture *f = *state;

    /* nothing timed yet: raw first, then zstd to time it */
    assert_int_equal(vcha_ct_compress_auto(f->store), VCHA_CT_COMPRESS_NONE);
    shipped(f, "raw", "100", "1000000");
    assert_int_equal(vcha_ct_compress_auto(f->store), VCHA_CT_COMPRESS_ZSTD);
    /* zstd took longer for as much: raw from now on */
    shipped(f, "zstd", "300", "1000000");
    assert_int_equal(vcha_ct_compress_auto(f->store), VCHA_CT_COMPRESS_NONE);
    /* the newest timing of each way counts: zstd got faster */
    shipped(f, "zstd", "20", "1000000");
    assert_int_equal(vcha_ct_compress_auto(f->store), VCHA_CT_COMPRESS_ZSTD);
    /* a store it cannot read: raw */
    assert_int_equal(vcha_ct_compress_auto("/nonexistent"),
                     VCHA_CT_COMPRESS_NONE);
}

static void
test_compress_auto_tries_the_other_way_now_and_then(void **state)
{
    struct fixture *f = *state;
    int zstd = 0;

    shipped(f, "raw", "100", "1000000");
    shipped(f, "zstd", "300", "1000000");
    /* generations 3..32: raw is faster, yet zstd is timed again once
     * every 16 generations (before 16 and before 32) */
    for (int g = 3; g <= 32; g++) {
        enum vcha_ct_compress c = vcha_ct_compress_auto(f->store);

        zstd += c == VCHA_CT_COMPRESS_ZSTD;
        shipped(f, c == VCHA_CT_COMPRESS_ZSTD ? "zstd" : "raw",
                c == VCHA_CT_COMPRESS_ZSTD ? "300" : "100", "1000000");
    }
    assert_int_equal(zstd, 2);
}

/* One contract: what a checkpoint job's timeout is, vchad accepts. */
static void
test_checkpoint_timeout_within_the_job_limit(void **state)
{
    static const long long intervals[] = {1000,     60000,    60001,   3600000,
                                          43200000, 46800000, 86400000};

    (void) state;
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        long long t = vcha_ckpt_job_timeout_ms(intervals[i]);

        assert_true(t >= 120000);
        assert_true(t <= VCHA_JOB_MAX_TIMEOUT_MS);
        assert_true(t >= intervals[i] || t == VCHA_JOB_MAX_TIMEOUT_MS);
    }
    assert_int_equal(vcha_ckpt_job_timeout_ms(3600000), 7200000);
    assert_int_equal(vcha_ckpt_job_timeout_ms(46800000),
                     VCHA_JOB_MAX_TIMEOUT_MS); /* 13 h: 26 h is too long */
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_timeout_within_the_job_limit),
        T(test_open_reads_rootfs_and_digest),
        T(test_open_digest_follows_the_configuration),
        T(test_open_last_setting_wins),
        T(test_open_missing_configuration),
        T(test_open_needs_a_directory_rootfs),
        T(test_open_follows_includes),
        T(test_open_unreadable_configuration),
        T(test_criu_check_names_the_setting),
        T(test_criu_check_accepts_a_download_config),
        T(test_open_reads_the_first_address),
        T(test_running_stopped_container),
        T(test_usage_of_a_stopped_container),
        T(test_thaw_of_a_stopped_container),
        T(test_running_unknown_container_is_an_error),
        T(test_running_bounded_by_the_deadline),
        T(test_kill_stopped_container_is_fine),
        T(test_boot_without_rootfs_fails_with_reason),
        T(test_attach_to_stopped_container_fails),
        T(test_checkpoint_failure_keeps_the_store),
        T(test_checkpoint_store_missing_or_busy),
        T(test_restore_from_an_incomplete_generation_fails),
        T(test_restore_links_the_images_and_writes_no_generation),
        T(test_restore_reads_again_only_what_the_node_lacks),
        T(test_restore_from_a_corrupt_generation_puts_nothing_of_it_in_place),
        T(test_compress_auto_times_both_then_takes_the_faster),
        T(test_compress_auto_tries_the_other_way_now_and_then),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
