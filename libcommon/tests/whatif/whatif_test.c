/*
 * Unit tests for libcommon/runtime/whatif.c, with Pacemaker's own
 * crm_simulate and crm_resource on a CIB file: two nodes of 100 MiB each,
 * big (60) and small (30) running on n1, placement-strategy=utilization.
 * Raised a little, big still fits with small moved to n2: counted while
 * small moves by a stop and a start, not once it migrates; raised past
 * any node, big would be stopped; what stops whatever the change (small
 * told to stop) is not counted; a copy left by a killed call is swept.
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
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/attr.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/whatif.h>

#include "../test-util.h"

/* The agent of the resources below: moved by a stop and a start, counted. */
#define AGENT "ocf:vcha:whatif-test"

#define STATE(n, id)                                                           \
    "<node_state id=\"" n "\" uname=\"" id "\" in_ccm=\"true\" "                \
    "crmd=\"online\" join=\"member\" expected=\"member\"/>"
#define RSC(id, mem)                                                           \
    "<primitive id=\"" id "\" class=\"ocf\" provider=\"vcha\" "               \
    "type=\"whatif-test\"><utilization id=\"" id "-u\"><nvpair id=\"" id            \
    "-m\" name=\"memory\" value=\"" mem "\"/></utilization></primitive>"
#define NODE(id, n)                                                            \
    "<node id=\"" n "\" uname=\"" id "\"><utilization id=\"" id               \
    "-u\"><nvpair id=\"" id "-m\" name=\"memory\" value=\"100\"/>"            \
    "</utilization></node>"

static const char cib[] =
    "<cib crm_feature_set=\"3.16.1\" validate-with=\"pacemaker-3.9\" "
    "epoch=\"1\" num_updates=\"0\" admin_epoch=\"0\" have-quorum=\"1\">"
    "<configuration>"
    "<crm_config><cluster_property_set id=\"o\">"
    "<nvpair id=\"o-1\" name=\"stonith-enabled\" value=\"false\"/>"
    "<nvpair id=\"o-2\" name=\"placement-strategy\" value=\"utilization\"/>"
    "</cluster_property_set></crm_config><nodes>" NODE("n1", "1")
        NODE("n2", "2") "</nodes><resources>" RSC("big", "60")
            RSC("small", "30") "</resources><constraints>"
    "<rsc_location id=\"l1\" rsc=\"big\" node=\"n1\" score=\"100\"/>"
    "<rsc_location id=\"l2\" rsc=\"small\" node=\"n1\" score=\"50\"/>"
    "</constraints></configuration><status>" STATE("1", "n1") STATE("2", "n2")
    "</status></cib>";

struct fixture {
    char *dir;
    char *state; /* the CIB with both running on n1 */
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *base = NULL;
    struct vcha_exec_result res;

    assert_non_null(f);
    f->dir = test_tmpdir_new();
    base = test_path(f->dir, "base.xml");
    f->state = test_path(f->dir, "state.xml");
    assert_int_equal(vcha_file_write_atomic(base, cib, strlen(cib), 0600), 0);
    /* its first transition run: both started, on n1 */
    {
        const char *argv[] = {"crm_simulate", "--xml-file", base,
                              "--simulate", "--save-output", f->state, NULL};

        assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
        assert_true(vcha_exec_ok(&res));
        vcha_exec_result_clear(&res);
    }
    free(base);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    test_tmpdir_remove(f->dir);
    free(f->state);
    free(f);
    return 0;
}

/* Set meta attribute @p name of @p rsc to @p value in the CIB file. */
static void
meta_set(const struct fixture *f, const char *rsc, const char *name,
         const char *value)
{
    struct vcha_exec_result res;
    char env[4200];
    const char *argv[] = {"env",   env,  "crm_resource",      "--resource",
                          rsc,     "--meta", "--set-parameter", name,
                          "--parameter-value", value, NULL};

    snprintf(env, sizeof(env), "CIB_file=%s", f->state);
    assert_int_equal(vcha_exec(argv, NULL, 0, 30000, &res), 0);
    assert_true(vcha_exec_ok(&res));
    vcha_exec_result_clear(&res);
}

/* Big fits with small moved to n2: by a stop and a start, counted when
 * small is of the agent named; by a migration, not. */
static void
test_raise_that_fits(void **state)
{
    struct fixture *f = *state;
    char stopped[256] = "junk";

    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory",
                                             "90", 30000, stopped,
                                             sizeof(stopped)),
                     1);
    assert_string_equal(stopped, "small");
    /* another agent's resource may move as the scheduler places it */
    assert_int_equal(vcha_whatif_utilization(f->state, "big",
                                             "ocf:pacemaker:Dummy", "memory",
                                             "90", 30000, stopped,
                                             sizeof(stopped)),
                     0);
    assert_int_equal(vcha_whatif_utilization(f->state, "big", NULL, "memory",
                                             "90", 30000, stopped,
                                             sizeof(stopped)),
                     0);
    assert_int_equal(vcha_whatif_utilization(f->state, "big", "no-agent",
                                             "memory", "90", 30000, stopped,
                                             sizeof(stopped)),
                     -EINVAL);
    meta_set(f, "small", "allow-migrate", "true");
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory",
                                             "90", 30000, stopped,
                                             sizeof(stopped)),
                     0);
    assert_string_equal(stopped, "");
    /* a raise that moves nothing */
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory",
                                             "70", 30000, stopped,
                                             sizeof(stopped)),
                     0);
}

/* A private copy left over an hour by a killed call is removed; a newer
 * one, another's at work, is not. */
static void
test_left_copies_swept(void **state)
{
    struct fixture *f = *state;
    char *old = test_path(f->dir, "vcha-whatif-old");
    char *young = test_path(f->dir, "vcha-whatif-young");
    char *inside = test_path(old, "cib.xml");
    struct timespec then[2] = {{.tv_sec = time(NULL) - 7200},
                               {.tv_sec = time(NULL) - 7200}};
    char stopped[256];
    struct stat st;

    assert_int_equal(mkdir(old, 0700), 0);
    assert_int_equal(mkdir(young, 0700), 0);
    assert_int_equal(test_write_file(inside, "<cib/>"), 0);
    assert_int_equal(utimensat(AT_FDCWD, old, then, 0), 0);
    setenv("TMPDIR", f->dir, 1);
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory", "70",
                                             30000, stopped, sizeof(stopped)),
                     0);
    unsetenv("TMPDIR");
    assert_int_equal(stat(old, &st), -1);
    assert_int_equal(stat(young, &st), 0);
    free(old);
    free(young);
    free(inside);
}

static void
test_raise_that_fits_nowhere(void **state)
{
    struct fixture *f = *state;
    char stopped[256] = "";

    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory", "150",
                                             30000, stopped, sizeof(stopped)),
                     1);
    assert_string_equal(stopped, "big");
    /* the copy was changed, never the file */
    {
        char *text = NULL;

        assert_int_equal(
            vcha_file_read(f->state, &text, NULL, 1 << 20), 0);
        assert_non_null(strstr(text, "id=\"big-m\" name=\"memory\" value=\"60\""));
        free(text);
    }
}

/* What stops anyway (small, told to stop) is not the change's doing. */
static void
test_stops_without_the_change_are_not_counted(void **state)
{
    struct fixture *f = *state;
    char stopped[256] = "junk";

    meta_set(f, "small", "target-role", "Stopped");
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory", "90",
                                             30000, stopped, sizeof(stopped)),
                     0);
    assert_string_equal(stopped, "");
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory", "150",
                                             30000, stopped, sizeof(stopped)),
                     1);
    assert_string_equal(stopped, "big");
}

static void
test_errors(void **state)
{
    struct fixture *f = *state;
    char stopped[256] = "", *missing = test_path(f->dir, "nosuch.xml");

    assert_int_equal(vcha_whatif_utilization(missing, "big", AGENT, "memory", "90",
                                             30000, stopped, sizeof(stopped)),
                     -ENOENT);
    /* a resource the CIB does not have: crm_resource says so */
    assert_int_equal(vcha_whatif_utilization(f->state, "nosuch", AGENT, "memory",
                                             "90", 30000, stopped,
                                             sizeof(stopped)),
                     -ENODATA);
    assert_int_equal(vcha_whatif_utilization(f->state, "big", AGENT, "memory", "90",
                                             0, stopped, sizeof(stopped)),
                     -ETIME);
    free(missing);
}

/* The setter the what-if uses, on a CIB file: that file changed only. */
static void
test_utilization_set_in_a_file(void **state)
{
    struct fixture *f = *state;
    char *text = NULL;

    assert_int_equal(
        vcha_utilization_set_in(f->state, "big", "memory", "70", 30000), 0);
    assert_int_equal(vcha_file_read(f->state, &text, NULL, 1 << 20), 0);
    assert_non_null(strstr(text, "name=\"memory\" value=\"70\""));
    free(text);
    assert_int_equal(
        vcha_utilization_set_in(f->state, "nosuch", "memory", "70", 30000),
        -ENODATA);
    assert_int_equal(
        vcha_utilization_set_in(f->state, NULL, "memory", "70", 30000),
        -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raise_that_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raise_that_fits_nowhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_stops_without_the_change_are_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_left_copies_swept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_utilization_set_in_a_file, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
