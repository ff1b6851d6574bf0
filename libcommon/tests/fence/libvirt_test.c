/*
 * Unit tests for stonith/fence_vcha_libvirt.c, the agent's own code built
 * in here, against libvirt's test:///default driver: a real libvirt whose
 * state every connection of this process shares, so that a test can see
 * what the agent did.  Only the lookups are wrapped (-Wl,--wrap), to make
 * one fail with an error other than "no such domain", as a dropped
 * connection or a denied access would.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* the agent's main() is not the test's */
int fence_vcha_libvirt_main(int argc, char **argv);
#define main fence_vcha_libvirt_main
#include "../../../stonith/fence_vcha_libvirt.c"
#undef main

#include "../test-util.h"

/* The running domain test:///default starts with. */
#define TEST_NAME "test"
#define TEST_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

/* No domain has this UUID. */
#define NO_UUID "6695eb01-f6a4-8304-79aa-000000000000"

static virConnectPtr conn; /* the test's own view of the driver */

/* Which lookups fail. */
static struct {
    bool by_uuid;
    bool by_name;
} drop;

virDomainPtr __real_virDomainLookupByUUIDString(virConnectPtr c,
                                                const char *uuid);
virDomainPtr __wrap_virDomainLookupByUUIDString(virConnectPtr c,
                                                const char *uuid);
virDomainPtr __real_virDomainLookupByName(virConnectPtr c, const char *name);
virDomainPtr __wrap_virDomainLookupByName(virConnectPtr c, const char *name);

/*
 * A lookup that fails, but not with "no such domain": libvirt itself
 * reports the error (it has no public way to raise one), here that the
 * connection is not valid (VIR_ERR_INVALID_CONN).
 */
virDomainPtr
__wrap_virDomainLookupByUUIDString(virConnectPtr c, const char *uuid)
{
    return __real_virDomainLookupByUUIDString(drop.by_uuid ? NULL : c, uuid);
}

virDomainPtr
__wrap_virDomainLookupByName(virConnectPtr c, const char *name)
{
    return __real_virDomainLookupByName(drop.by_name ? NULL : c, name);
}

static void
quiet(void *data, virErrorPtr err)
{
    (void) data;
    (void) err;
}

static int
group_setup(void **state)
{
    (void) state;
    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen("test:///default");
    return conn != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void) state;
    virConnectClose(conn);
    return 0;
}

static int
test_reset(void **state)
{
    (void) state;
    memset(&drop, 0, sizeof(drop));
    return 0;
}

/* The state (VIR_DOMAIN_*) of domain @p name, as the test sees it. */
static int
state_of(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    int state = -1, reason = 0;

    if (dom == NULL) {
        fail_msg("no domain %s: %s", name, virGetLastErrorMessage());
    }
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        state = -1;
    }
    virDomainFree(dom);
    return state;
}

/* Bring domain @p name to @p running (the test driver keeps it so). */
static void
set_running(const char *name, bool running)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);

    assert_non_null(dom);
    if (running && state_of(name) != VIR_DOMAIN_RUNNING) {
        assert_int_equal(virDomainCreate(dom), 0);
    }
    if (!running && state_of(name) != VIR_DOMAIN_SHUTOFF) {
        assert_int_equal(virDomainDestroy(dom), 0);
    }
    virDomainFree(dom);
}

/*
 * Run the agent's action in this process on test:///default with the
 * key=value @p lines; its stdout is dropped.  f->reason tells why it failed.
 */
static enum vcha_fence_rc
run(struct vcha_fence *f, const char *lines)
{
    struct test_capture out;
    enum vcha_fence_rc rc;
    char *text;

    assert_int_equal(vcha_fence_init(f, &agent), 0);
    assert_int_equal(vcha_fence_parse_stdin(f, "uri=test:///default\n"), 0);
    assert_int_equal(vcha_fence_parse_stdin(f, lines), 0);
    if (vcha_fence_validate(f) != 0) {
        fail_msg("validate: %s", f->reason);
    }
    f->deadline_ms = vcha_now_ms() + 10000;
    assert_int_equal(test_capture_start(&out, 1), 0);
    rc = libvirt_run(f);
    text = test_capture_stop(&out);
    free(text);
    return rc;
}

/* ------------------------------------------------------------ reboot */

static void
test_cycle_resets_a_running_domain(void **state)
{
    struct vcha_fence f;

    (void) state;
    set_running(TEST_NAME, true);
    assert_int_equal(
        run(&f, "action=reboot\nplug=" TEST_NAME "\nmethod=cycle\n"),
        VCHA_FENCE_SUCCESS);
    assert_int_equal(state_of(TEST_NAME), VIR_DOMAIN_RUNNING);
    vcha_fence_clear(&f);
}

static void
test_cycle_starts_a_domain_that_is_off(void **state)
{
    struct vcha_fence f;
    enum vcha_fence_rc rc;

    (void) state;
    set_running(TEST_NAME, false);
    rc = run(&f, "action=reboot\nplug=" TEST_NAME "\nmethod=cycle\n");
    if (rc != VCHA_FENCE_SUCCESS) {
        fail_msg("reboot of an off domain failed: %s", f.reason);
    }
    assert_int_equal(state_of(TEST_NAME), VIR_DOMAIN_RUNNING);
    vcha_fence_clear(&f);
}

static void
test_onoff_starts_a_domain_that_is_off(void **state)
{
    struct vcha_fence f;

    (void) state;
    set_running(TEST_NAME, false);
    assert_int_equal(run(&f, "action=reboot\nplug=" TEST_NAME "\n"),
                     VCHA_FENCE_SUCCESS);
    assert_int_equal(state_of(TEST_NAME), VIR_DOMAIN_RUNNING);
    vcha_fence_clear(&f);
}

/* ------------------------------------------------------------ lookup */

static void
test_uuid_lookup_error_is_not_missing(void **state)
{
    static const char *const actions[] = {"off", "reboot", "status"};
    struct vcha_fence f;
    enum vcha_fence_rc rc;

    (void) state;
    set_running(TEST_NAME, true);
    drop.by_uuid = true;
    for (size_t i = 0; i < 3; i++) {
        char lines[256];

        snprintf(lines, sizeof(lines),
                 "action=%s\nplug=" TEST_UUID "\nmissing_as_off=1\n",
                 actions[i]);
        rc = run(&f, lines);
        if (rc != VCHA_FENCE_FAILED) {
            fail_msg("%s: exit %d for a domain that may run", actions[i],
                     (int) rc);
        }
        assert_non_null(strstr(f.reason, "invalid connection pointer"));
        vcha_fence_clear(&f);
    }
    assert_int_equal(state_of(TEST_NAME), VIR_DOMAIN_RUNNING);
}

static void
test_name_lookup_error_is_not_missing(void **state)
{
    struct vcha_fence f;

    (void) state;
    drop.by_name = true;
    assert_int_equal(
        run(&f, "action=off\nplug=" TEST_NAME "\nmissing_as_off=1\n"),
        VCHA_FENCE_FAILED);
    assert_non_null(strstr(f.reason, "invalid connection pointer"));
    vcha_fence_clear(&f);
}

static void
test_unknown_uuid_is_missing(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(
        run(&f, "action=status\nplug=" NO_UUID "\nmissing_as_off=1\n"),
        VCHA_FENCE_IS_OFF);
    vcha_fence_clear(&f);
    assert_int_equal(
        run(&f, "action=off\nplug=" NO_UUID "\nmissing_as_off=1\n"),
        VCHA_FENCE_SUCCESS);
    vcha_fence_clear(&f);
    assert_int_equal(run(&f, "action=off\nplug=" NO_UUID "\n"),
                     VCHA_FENCE_FAILED);
    assert_non_null(strstr(f.reason, "no domain " NO_UUID));
    vcha_fence_clear(&f);
}

static void
test_uuid_in_any_case_and_without_dashes(void **state)
{
    struct vcha_fence f;

    (void) state;
    set_running(TEST_NAME, true);
    assert_int_equal(run(&f, "action=status\n"
                             "plug=6695EB01-F6A4-8304-79AA-97F2502E193F\n"),
                     VCHA_FENCE_SUCCESS);
    vcha_fence_clear(&f);
    assert_int_equal(run(&f, "action=status\n"
                             "plug=6695eb01f6a4830479aa97f2502e193f\n"),
                     VCHA_FENCE_SUCCESS);
    vcha_fence_clear(&f);
}

/* A domain may be named like a UUID: "no such UUID" goes on to the name. */
static void
test_domain_named_like_a_uuid(void **state)
{
    static const char xml[] =
        "<domain type='test'><name>" NO_UUID "</name>"
        "<memory>65536</memory><os><type>hvm</type></os></domain>";
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    struct vcha_fence f;

    (void) state;
    assert_non_null(dom);
    assert_int_equal(run(&f, "action=status\nplug=" NO_UUID "\n"),
                     VCHA_FENCE_IS_OFF);
    vcha_fence_clear(&f);
    assert_int_equal(run(&f, "action=on\nplug=" NO_UUID "\n"),
                     VCHA_FENCE_SUCCESS);
    vcha_fence_clear(&f);
    assert_int_equal(state_of(NO_UUID), VIR_DOMAIN_RUNNING);
    virDomainDestroy(dom);
    virDomainUndefine(dom);
    virDomainFree(dom);
}

/* ------------------------------------------------------------ the URI */

/* The URI the agent connects to for @p lines; free(). */
static char *
uri_for(const char *lines)
{
    struct vcha_fence f;
    char *uri;

    assert_int_equal(vcha_fence_init(&f, &agent), 0);
    assert_int_equal(vcha_fence_parse_stdin(&f, lines), 0);
    if (vcha_fence_validate(&f) != 0) {
        fail_msg("validate: %s", f.reason);
    }
    uri = vcha_virt_uri(vcha_fence_str(&f, "uri"),
                        vcha_fence_str(&f, "identity_file"));
    vcha_fence_clear(&f);
    assert_non_null(uri);
    return uri;
}

static void
test_identity_file_is_encoded(void **state)
{
    char *uri;

    (void) state;
    uri = uri_for("action=monitor\nuri=qemu+ssh://hv1/system\n"
                  "identity_file=/k dir/a&b;c#d%e+f\n");
    assert_string_equal(uri, "qemu+ssh://hv1/system"
                             "?keyfile=/k%20dir/a%26b%3Bc%23d%25e%2Bf");
    free(uri);
    uri = uri_for("action=monitor\nuri=qemu+ssh://hv1/system?no_tty=1\n"
                  "identity_file=/k&command=/x\n");
    assert_string_equal(uri, "qemu+ssh://hv1/system?no_tty=1"
                             "&keyfile=/k%26command%3D/x");
    free(uri);
}

static void
test_identity_file_only_for_ssh(void **state)
{
    char *uri;

    (void) state;
    uri = uri_for("action=monitor\nuri=qemu+tls://hv1/system\n"
                  "identity_file=/k\n");
    assert_string_equal(uri, "qemu+tls://hv1/system");
    free(uri);
    uri = uri_for("action=monitor\nuri=qemu+libssh2://hv1/system\n"
                  "identity_file=/k\n");
    assert_string_equal(uri, "qemu+libssh2://hv1/system?keyfile=/k");
    free(uri);
}

#define T(test) cmocka_unit_test_setup(test, test_reset)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cycle_resets_a_running_domain),
        T(test_cycle_starts_a_domain_that_is_off),
        T(test_onoff_starts_a_domain_that_is_off),
        T(test_uuid_lookup_error_is_not_missing),
        T(test_name_lookup_error_is_not_missing),
        T(test_unknown_uuid_is_missing),
        T(test_uuid_in_any_case_and_without_dashes),
        T(test_domain_named_like_a_uuid),
        T(test_identity_file_is_encoded),
        T(test_identity_file_only_for_ssh),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
