/*
 * Unit tests for libcommon/colo/colorepl.c against real QEMUs (the
 * machine's qemu-system-x86_64, with coloqemu's two command lines and no
 * guest to boot): replication with a secondary waiting (COLO reached and
 * left again, or on QEMU before 11 a migration that breaks, undone), one
 * refused at the migration and undone, one with no peer at all; the
 * secondary's set-up (vcha_colo_secondary_ready) in each and, failing,
 * on its own.  The guest running with a peer on another node is lab
 * scenario 22.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <json-c/json.h>

#include <vcha/clock.h>
#include <vcha/coloqemu.h>
#include <vcha/colorepl.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/qmp.h>

#include "../test-util.h"

struct pair {
    char *dir;
    unsigned base;
    struct vcha_qmp *p, *s; /* the primary's and the secondary's QMP */
};

static long long
in_ms(long long ms)
{
    return vcha_now_ms() + ms;
}

/* Start QEMU @p name in @p shape and connect to its QMP socket. */
static struct vcha_qmp *
qemu_start(struct pair *t, const char *name, enum vcha_coloqemu_shape shape)
{
    char pidfile[256], log[256], serial[256], sock[256], disk[256];
    const char *qmp[1] = {sock};
    struct vcha_qmp *q = NULL;
    char **argv = NULL, why[512] = "";
    int rc;

    snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", t->dir, name);
    snprintf(log, sizeof(log), "%s/%s.log", t->dir, name);
    snprintf(serial, sizeof(serial), "%s/%s.serial", t->dir, name);
    snprintf(sock, sizeof(sock), "%s/%s.qmp", t->dir, name);
    snprintf(disk, sizeof(disk), "%s/%s.raw", t->dir, name);
    assert_int_equal(test_write_file(disk, ""), 0);
    assert_int_equal(truncate(disk, 1 << 20), 0);
    if (shape == VCHA_COLOQEMU_SECONDARY) {
        for (int i = 0; i < 2; i++) {
            char path[256];
            const char *img[] = {"qemu-img", "create", "-q", "-f",
                                 "qcow2",    path,     "1M", NULL};

            snprintf(path, sizeof(path), "%s/%s.qcow2", t->dir,
                     i == 0 ? "active" : "hidden");
            assert_int_equal(
                vcha_exec_until(img, in_ms(20000), why, sizeof(why)), 0);
        }
    }
    struct vcha_coloqemu c = {
        .shape = shape,
        .qemu = "/usr/bin/qemu-system-x86_64",
        .name = name,
        .memory_mib = 64,
        .cpus = 1,
        .pidfile = pidfile,
        .log = log,
        .serial = serial,
        .qmp = qmp,
        .n_qmp = 1,
        .guest_addr = "10.0.2.15",
        .disk = disk,
        .format = VCHA_COLOQEMU_RAW,
        .active_hidden_dir = t->dir,
        .repl_addr = "127.0.0.1",
        .base_port = t->base,
    };

    if (vcha_coloqemu_check(&c) != NULL) {
        fail_msg("coloqemu: %s", vcha_coloqemu_check(&c));
    }
    assert_int_equal(vcha_coloqemu_argv(&c, &argv, NULL), 0);
    rc = vcha_exec_until((const char *const *) argv, in_ms(30000), why,
                         sizeof(why));
    vcha_coloqemu_argv_free(argv);
    if (rc < 0) {
        fail_msg("QEMU %s did not start: %s", name, why);
    }
    assert_int_equal(vcha_qmp_open(sock, in_ms(10000), &q), 0);
    return q;
}

static json_object *
parse(const char *text)
{
    return json_tokener_parse(text);
}

/* The member @p key of command @p cmd's answer on @p q, as text. */
static char *
answer(struct vcha_qmp *q, const char *cmd, const char *args, const char *key)
{
    json_object *ret = NULL, *v = NULL;
    char *text;

    assert_int_equal(vcha_qmp_exec(q, cmd, args ? parse(args) : NULL,
                                   in_ms(10000), &ret, NULL),
                     0);
    if (key == NULL) {
        text =
            strdup(json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
    } else {
        text = strdup(json_object_object_get_ex(ret, key, &v)
                          ? json_object_get_string(v)
                          : "");
    }
    json_object_put(ret);
    assert_non_null(text);
    return text;
}

static void
assert_answer(struct vcha_qmp *q, const char *cmd, const char *args,
              const char *key, const char *want)
{
    char *got = answer(q, cmd, args, key);

    assert_string_equal(got, want);
    free(got);
}

/* Nothing of replication is left on the primary. */
static void
assert_alone(struct pair *t)
{
    char *nodes = answer(t->p, "query-named-block-nodes", NULL, NULL);
    char *objs = answer(t->p, "qom-list", "{\"path\":\"/objects\"}", NULL);
    char *jobs = answer(t->p, "query-block-jobs", NULL, NULL);

    assert_null(strstr(nodes, "replication0"));
    assert_null(strstr(nodes, "nbd0"));
    assert_null(strstr(objs, "\"comp0\""));
    assert_null(strstr(objs, "\"m0\""));
    assert_null(strstr(objs, "\"redire0\""));
    assert_string_equal(jobs, "[]");
    free(nodes);
    free(objs);
    free(jobs);
    assert_answer(t->p, "query-status", NULL, "status", "running");
}

static int
setup(void **state)
{
    struct pair *t = calloc(1, sizeof(*t));

    if (t == NULL || (t->dir = test_tmpdir_new()) == NULL) {
        free(t);
        return -1;
    }
    t->base = 30000 + (unsigned) (getpid() % 5000) * 4;
    *state = t;
    return 0;
}

static void
kill_by_pidfile(const char *dir, const char *name)
{
    char path[256], *text = NULL;

    snprintf(path, sizeof(path), "%s/%s.pid", dir, name);
    if (vcha_file_read(path, &text, NULL, 64) == 0 && atoi(text) > 0) {
        kill(atoi(text), SIGKILL);
    }
    free(text);
}

static int
teardown(void **state)
{
    struct pair *t = *state;

    vcha_qmp_close(t->p);
    vcha_qmp_close(t->s);
    kill_by_pidfile(t->dir, "vcha-repl-p");
    kill_by_pidfile(t->dir, "vcha-repl-s");
    vcha_sleep_ms(200);
    test_tmpdir_remove(t->dir);
    free(t);
    return 0;
}

static struct vcha_colorepl
towards(struct pair *t)
{
    return (struct vcha_colorepl){.peer = "127.0.0.1",
                                  .base_port = t->base,
                                  .sock_dir = t->dir,
                                  .delay_ms = 60000};
}

/* The secondary started and made ready as the agent does it (the
 * migration awaited when @p incoming), then the primary. */
static void
pair_start(struct pair *t, bool incoming)
{
    char why[512];

    t->s = qemu_start(t, "vcha-repl-s", VCHA_COLOQEMU_SECONDARY);
    if (vcha_colo_secondary_ready(t->s, "127.0.0.1", t->base, incoming, 10000,
                                  in_ms(40000), why, sizeof(why)) < 0) {
        fail_msg("the secondary's set-up: %s", why);
    }
    t->p = qemu_start(t, "vcha-repl-p", VCHA_COLOQEMU_PRIMARY);
}

/* QEMU's major version, from the primary. */
static int
qemu_major(struct pair *t)
{
    json_object *ret = NULL, *v = NULL;
    int major = 0;

    assert_int_equal(
        vcha_qmp_exec(t->p, "query-version", NULL, in_ms(10000), &ret, NULL),
        0);
    if (json_object_object_get_ex(ret, "qemu", &v) &&
        json_object_object_get_ex(v, "major", &v)) {
        major = json_object_get_int(v);
    }
    json_object_put(ret);
    return major;
}

/*
 * With a secondary awaiting the migration: QEMU 11 and later reach COLO,
 * and unreplicate leaves it again; earlier ones (Debian 12's 7.2) break
 * the migration itself (an invalid message on the return path), after the
 * disk and the filters were added: all of it is taken away again.
 */
static void
test_replicate_with_a_waiting_secondary(void **state)
{
    struct pair *t = *state;
    struct vcha_colorepl r = towards(t);
    long long ms[VCHA_COLOREPL_N_PHASES];
    char why[512];
    int rc;

    pair_start(t, true);
    rc = vcha_colo_replicate(t->p, &r, in_ms(60000), ms, why, sizeof(why));
    if (qemu_major(t) < 11) {
        assert_true(rc < 0);
        assert_non_null(strstr(why, "migration"));
        assert_true(ms[VCHA_COLOREPL_MIRROR] >= 0); /* the disk was added */
        assert_true(ms[VCHA_COLOREPL_NET] >= 0);    /* and the filters */
        assert_alone(t);
        assert_answer(t->p, "query-colo-status", NULL, "mode", "none");
        return;
    }
    if (rc < 0) {
        fail_msg("replication failed: %s", why);
    }
    for (int i = 0; i < VCHA_COLOREPL_N_PHASES; i++) {
        assert_true(ms[i] >= 0);
    }
    assert_answer(t->p, "query-colo-status", NULL, "mode", "primary");
    assert_answer(t->p, "query-migrate", NULL, "status", "colo");
    assert_answer(t->s, "query-colo-status", NULL, "mode", "secondary");
    /* once more: it replicates already */
    assert_int_equal(
        vcha_colo_replicate(t->p, &r, in_ms(10000), NULL, why, sizeof(why)),
        -EALREADY);
    assert_non_null(strstr(why, "colo"));
    assert_int_equal(
        vcha_colo_unreplicate(t->p, in_ms(30000), why, sizeof(why)), 0);
    assert_answer(t->p, "query-colo-status", NULL, "mode", "none");
    assert_alone(t);
}

static void
test_replicate_refused_at_the_migration_is_undone(void **state)
{
    struct pair *t = *state;
    struct vcha_colorepl r = towards(t);
    char why[512];

    pair_start(t, false); /* NBD and filters, no migration awaited */
    assert_true(vcha_colo_replicate(t->p, &r, in_ms(60000), NULL, why,
                                    sizeof(why)) < 0);
    assert_non_null(strstr(why, "migration"));
    assert_alone(t);
    assert_answer(t->p, "query-colo-status", NULL, "mode", "none");
    /* not in COLO: nothing to take away */
    assert_int_equal(
        vcha_colo_unreplicate(t->p, in_ms(10000), why, sizeof(why)), 0);
    assert_alone(t);
}

static void
test_replicate_with_no_peer_fails_at_once(void **state)
{
    struct pair *t = *state;
    struct vcha_colorepl r = towards(t);
    char why[512];

    t->p = qemu_start(t, "vcha-repl-p", VCHA_COLOQEMU_PRIMARY);
    assert_true(vcha_colo_replicate(t->p, &r, in_ms(30000), NULL, why,
                                    sizeof(why)) < 0);
    assert_non_null(strstr(why, "blockdev-add"));
    assert_alone(t);
}

/* A set-up that fails names the QMP command: the NBD server runs
 * already. */
static void
test_secondary_ready_twice_fails_at_the_nbd_server(void **state)
{
    struct pair *t = *state;
    char why[512];

    t->s = qemu_start(t, "vcha-repl-s", VCHA_COLOQEMU_SECONDARY);
    assert_int_equal(vcha_colo_secondary_ready(t->s, "127.0.0.1", t->base,
                                               false, 10000, in_ms(40000), why,
                                               sizeof(why)),
                     0);
    assert_int_equal(vcha_colo_secondary_ready(t->s, "127.0.0.1", t->base,
                                               false, 10000, in_ms(40000), why,
                                               sizeof(why)),
                     -EREMOTEIO);
    assert_non_null(strstr(why, "QMP nbd-server-start: "));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replicate_with_a_waiting_secondary,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_replicate_refused_at_the_migration_is_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_replicate_with_no_peer_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_secondary_ready_twice_fails_at_the_nbd_server, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
