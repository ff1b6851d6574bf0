/*
 * Unit tests for libcommon/virt against libvirt's test driver: a real
 * libvirt without a daemon.  test:///default is shared by every connection
 * of this process; a test:///PATH connection reads its own node from an XML
 * file, here one that asks for a user name and password and holds a crashed
 * domain.  Only the UUID lookup is wrapped (-Wl,--wrap), to make it fail
 * with an error other than "no such domain", as a dropped connection or a
 * denied access would.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/virt.h>

#include "../test-util.h"

/* The running domain test:///default starts with. */
#define TEST_NAME "test"
#define TEST_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

/* No domain has this UUID. */
#define NO_UUID "6695eb01-f6a4-8304-79aa-000000000000"

#define USER "admin"
#define PASSWORD "s3cret"

/* A node that asks for USER and PASSWORD and has a crashed domain. */
static const char node_xml[] =
    "<node>\n"
    "  <auth><user password='" PASSWORD "'>" USER "</user></auth>\n"
    "  <domain type='test'"
    " xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\n"
    "    <name>crashed</name>\n"
    "    <memory>65536</memory>\n"
    "    <os><type>hvm</type></os>\n"
    "    <test:runstate>6</test:runstate>\n"
    "  </domain>\n"
    "</node>\n";

static struct {
    virConnectPtr conn; /* test:///default */
    char *dir;
    char *node_uri; /* test:///DIR/node.xml */
} g;

/* Whether the UUID lookup fails. */
static bool drop_uuid;

virDomainPtr __real_virDomainLookupByUUIDString(virConnectPtr c,
                                                const char *uuid);
virDomainPtr __wrap_virDomainLookupByUUIDString(virConnectPtr c,
                                                const char *uuid);

/*
 * A lookup that fails, but not with "no such domain": libvirt itself
 * reports the error (it has no public way to raise one), here that the
 * connection is not valid (VIR_ERR_INVALID_CONN).
 */
virDomainPtr
__wrap_virDomainLookupByUUIDString(virConnectPtr c, const char *uuid)
{
    return __real_virDomainLookupByUUIDString(drop_uuid ? NULL : c, uuid);
}

static int
group_setup(void **state)
{
    char why[512] = "";
    char *path = NULL;

    (void) state;
    if (vcha_virt_open("test:///default", NULL, NULL, NULL, &g.conn, why,
                       sizeof(why)) < 0) {
        fprintf(stderr, "# %s\n", why);
        return -1;
    }
    g.dir = test_tmpdir_new();
    if (g.dir == NULL) {
        return -1;
    }
    path = test_path(g.dir, "node.xml");
    if (path == NULL || test_write_file(path, node_xml) != 0 ||
        asprintf(&g.node_uri, "test://%s", path) < 0) {
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    vcha_virt_close(g.conn);
    test_tmpdir_remove(g.dir);
    free(g.node_uri);
    return 0;
}

static int
test_reset(void **state)
{
    (void) state;
    drop_uuid = false;
    return 0;
}

/* The name of @p dom as a new string. */
static char *
name_of(virDomainPtr dom)
{
    const char *name = virDomainGetName(dom);

    assert_non_null(name);
    return strdup(name);
}

/* Bring domain @p name to @p running (the test driver keeps it so). */
static void
set_running(const char *name, bool running)
{
    virDomainPtr dom = virDomainLookupByName(g.conn, name);
    int state = -1, reason = 0;

    assert_non_null(dom);
    assert_int_equal(virDomainGetState(dom, &state, &reason, 0), 0);
    if (running && state != VIR_DOMAIN_RUNNING) {
        assert_int_equal(virDomainCreate(dom), 0);
    }
    if (!running && state != VIR_DOMAIN_SHUTOFF) {
        assert_int_equal(virDomainDestroy(dom), 0);
    }
    virDomainFree(dom);
}

/* ------------------------------------------------------------ the URI */

static void
test_uri_encodes_the_identity_file(void **state)
{
    char *uri;

    (void) state;
    uri = vcha_virt_uri("qemu+ssh://hv1/system", "/k dir/a&b;c#d%e+f");
    assert_string_equal(uri, "qemu+ssh://hv1/system"
                             "?keyfile=/k%20dir/a%26b%3Bc%23d%25e%2Bf");
    free(uri);
    uri = vcha_virt_uri("qemu+ssh://hv1/system?no_tty=1", "/k&command=/x");
    assert_string_equal(uri, "qemu+ssh://hv1/system?no_tty=1"
                             "&keyfile=/k%26command%3D/x");
    free(uri);
}

static void
test_uri_identity_file_only_for_ssh(void **state)
{
    char *uri;

    (void) state;
    uri = vcha_virt_uri("qemu+tls://hv1/system", "/k");
    assert_string_equal(uri, "qemu+tls://hv1/system");
    free(uri);
    uri = vcha_virt_uri("qemu+libssh2://hv1/system", "/k");
    assert_string_equal(uri, "qemu+libssh2://hv1/system?keyfile=/k");
    free(uri);
    uri = vcha_virt_uri("qemu+ssh://hv1/system", NULL);
    assert_string_equal(uri, "qemu+ssh://hv1/system");
    free(uri);
    uri = vcha_virt_uri("ssh-without-scheme", "/k");
    assert_string_equal(uri, "ssh-without-scheme");
    free(uri);
}

/* ------------------------------------------------------------ open */

static void
test_open_and_close(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    /* the identity file is for ssh only: it does not reach this URI */
    assert_int_equal(vcha_virt_open("test:///default", "/no/such/key", NULL,
                                    NULL, &conn, why, sizeof(why)),
                     0);
    assert_non_null(conn);
    assert_int_equal(virConnectIsAlive(conn), 1);
    vcha_virt_close(conn);
    vcha_virt_close(NULL);
}

static void
test_open_failure_says_why(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_open("nosuchdriver:///x", NULL, NULL, NULL,
                                    &conn, why, sizeof(why)),
                     -EIO);
    assert_null(conn);
    assert_non_null(strstr(why, "cannot connect to nosuchdriver:///x: "));
    assert_true(strlen(why) > strlen("cannot connect to nosuchdriver:///x: "));
    assert_int_not_equal(vcha_virt_last_error_code(), VIR_ERR_OK);
}

static void
test_open_answers_username_and_password(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_open(g.node_uri, NULL, USER, PASSWORD, &conn,
                                    why, sizeof(why)),
                     0);
    assert_non_null(conn);
    vcha_virt_close(conn);
}

static void
test_open_wrong_password_fails(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_open(g.node_uri, NULL, USER, "wrong", &conn, why,
                                    sizeof(why)),
                     -EIO);
    assert_null(conn);
    assert_non_null(strstr(why, "authentication failed"));
    assert_int_equal(vcha_virt_last_error_code(), VIR_ERR_AUTH_FAILED);
}

/* A question without an answer fails at once: nothing ever prompts. */
static void
test_open_never_prompts(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_open(g.node_uri, NULL, NULL, PASSWORD, &conn,
                                    why, sizeof(why)),
                     -EIO);
    assert_null(conn);
    assert_non_null(strstr(why, g.node_uri));
    assert_int_equal(
        vcha_virt_open(g.node_uri, NULL, USER, NULL, &conn, why, sizeof(why)),
        -EIO);
    assert_null(conn);
}

/* ------------------------------------------------------------ errors */

static void
test_last_error_is_copied(void **state)
{
    virDomainPtr dom = virDomainLookupByName(g.conn, "no-such-domain");
    char buf[512], small[8];

    (void) state;
    assert_null(dom);
    assert_int_equal(vcha_virt_last_error_code(), VIR_ERR_NO_DOMAIN);
    assert_ptr_equal(vcha_virt_last_error(buf, sizeof(buf)), buf);
    assert_non_null(strstr(buf, "Domain not found"));
    /* cut to the buffer, still a string */
    vcha_virt_last_error(small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, buf, sizeof(small) - 1);
    /* the copy outlives libvirt's own */
    virResetLastError();
    assert_int_equal(vcha_virt_last_error_code(), VIR_ERR_OK);
    assert_non_null(strstr(buf, "Domain not found"));
}

/* ------------------------------------------------------------ lookup */

static void
test_is_uuid(void **state)
{
    (void) state;
    assert_true(vcha_virt_is_uuid(TEST_UUID));
    assert_true(vcha_virt_is_uuid("6695EB01-F6A4-8304-79AA-97F2502E193F"));
    assert_true(vcha_virt_is_uuid("6695eb01f6a4830479aa97f2502e193f"));
    assert_true(vcha_virt_is_uuid("6695eb01-f6a4830479aa97f2502e-193f"));
    assert_false(vcha_virt_is_uuid(TEST_NAME));
    assert_false(vcha_virt_is_uuid(""));
    assert_false(vcha_virt_is_uuid("6695eb01-f6a4-8304-79aa-97f2502e193"));
    assert_false(vcha_virt_is_uuid("6695eb01-f6a4-8304-79aa-97f2502e193f0"));
    assert_false(vcha_virt_is_uuid("6695eb01-f6a4-8304-79aa-97f2502e193g"));
    assert_false(vcha_virt_is_uuid("6695eb01-f6a4-8304-79aa-97f2502e193f "));
}

/* Lookup of @p what finds TEST_NAME. */
static void
assert_finds_test(const char *what)
{
    virDomainPtr dom = NULL;
    char why[512] = "";
    char *name;

    if (vcha_virt_domain_lookup(g.conn, what, &dom, why, sizeof(why)) != 0) {
        fail_msg("%s: %s", what, why);
    }
    name = name_of(dom);
    assert_string_equal(name, TEST_NAME);
    free(name);
    virDomainFree(dom);
}

static void
test_lookup_by_uuid_and_by_name(void **state)
{
    (void) state;
    assert_finds_test(TEST_UUID);
    assert_finds_test("6695EB01-F6A4-8304-79AA-97F2502E193F");
    assert_finds_test("6695eb01f6a4830479aa97f2502e193f");
    assert_finds_test(TEST_NAME);
}

static void
test_lookup_missing_is_enoent(void **state)
{
    virDomainPtr dom = NULL;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_domain_lookup(g.conn, "no-such-domain", &dom,
                                             why, sizeof(why)),
                     -ENOENT);
    assert_null(dom);
    assert_non_null(strstr(why, "Domain not found"));
    assert_int_equal(vcha_virt_domain_lookup(g.conn, NO_UUID, &dom, NULL, 0),
                     -ENOENT);
    assert_null(dom);
    assert_int_equal(vcha_virt_last_error_code(), VIR_ERR_NO_DOMAIN);
}

/* Define a shut-off domain named @p name. */
static virDomainPtr
define(const char *name)
{
    char xml[512];
    virDomainPtr dom;

    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>%s</name><memory>65536</memory>"
             "<os><type>hvm</type></os></domain>",
             name);
    dom = virDomainDefineXML(g.conn, xml);
    assert_non_null(dom);
    return dom;
}

/* A domain may be named like a UUID: "no such UUID" goes on to the name. */
static void
test_lookup_name_like_a_uuid(void **state)
{
    virDomainPtr defined = define(NO_UUID), dom = NULL;
    char why[512] = "";
    char *name;

    (void) state;
    if (vcha_virt_domain_lookup(g.conn, NO_UUID, &dom, why, sizeof(why)) != 0) {
        fail_msg("%s", why);
    }
    name = name_of(dom);
    assert_string_equal(name, NO_UUID);
    free(name);
    virDomainFree(dom);
    virDomainUndefine(defined);
    virDomainFree(defined);
}

/* Any other error of the UUID lookup is the answer: no name lookup. */
static void
test_lookup_uuid_error_stops(void **state)
{
    virDomainPtr defined = define(NO_UUID), dom = NULL;
    char why[512] = "";

    (void) state;
    drop_uuid = true;
    assert_int_equal(
        vcha_virt_domain_lookup(g.conn, NO_UUID, &dom, why, sizeof(why)), -EIO);
    assert_null(dom);
    assert_non_null(strstr(why, "invalid connection pointer"));
    assert_int_equal(vcha_virt_last_error_code(), VIR_ERR_INVALID_CONN);
    /* a name is still looked up by name */
    assert_finds_test(TEST_NAME);
    virDomainUndefine(defined);
    virDomainFree(defined);
}

/* ------------------------------------------------------------ state */

/* vcha_virt_domain_state() and _is_off() of domain @p name at @p conn. */
static void
assert_state(virConnectPtr conn, const char *name, int state, int off)
{
    virDomainPtr dom = NULL;
    char why[512] = "";

    assert_int_equal(
        vcha_virt_domain_lookup(conn, name, &dom, why, sizeof(why)), 0);
    assert_int_equal(vcha_virt_domain_state(dom, why, sizeof(why)), state);
    assert_int_equal(vcha_virt_domain_is_off(dom, why, sizeof(why)), off);
    virDomainFree(dom);
}

static void
test_state_running_paused_shut_off(void **state)
{
    virDomainPtr dom = virDomainLookupByName(g.conn, TEST_NAME);

    (void) state;
    assert_non_null(dom);
    set_running(TEST_NAME, true);
    assert_state(g.conn, TEST_NAME, VIR_DOMAIN_RUNNING, 0);
    assert_int_equal(virDomainSuspend(dom), 0);
    assert_state(g.conn, TEST_NAME, VIR_DOMAIN_PAUSED, 0);
    set_running(TEST_NAME, false);
    assert_state(g.conn, TEST_NAME, VIR_DOMAIN_SHUTOFF, 1);
    set_running(TEST_NAME, true);
    virDomainFree(dom);
}

static void
test_state_crashed_is_off(void **state)
{
    virConnectPtr conn = NULL;
    char why[512] = "";

    (void) state;
    if (vcha_virt_open(g.node_uri, NULL, USER, PASSWORD, &conn, why,
                       sizeof(why)) != 0) {
        fail_msg("%s", why);
    }
    assert_state(conn, "crashed", VIR_DOMAIN_CRASHED, 1);
    vcha_virt_close(conn);
}

/* A transient domain that was destroyed is gone: it reads as shut off. */
static void
test_state_vanished_transient_is_off(void **state)
{
    static const char xml[] =
        "<domain type='test'><name>transient</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>";
    virDomainPtr dom = virDomainCreateXML(g.conn, xml, 0);
    char why[512] = "";

    (void) state;
    assert_non_null(dom);
    assert_int_equal(vcha_virt_domain_state(dom, why, sizeof(why)),
                     VIR_DOMAIN_RUNNING);
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_null(virDomainLookupByName(g.conn, "transient"));
    assert_int_equal(vcha_virt_domain_state(dom, why, sizeof(why)),
                     VIR_DOMAIN_SHUTOFF);
    assert_int_equal(vcha_virt_domain_is_off(dom, why, sizeof(why)), 1);
    virDomainFree(dom);
}

static void
test_state_error_says_why(void **state)
{
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_domain_state(NULL, why, sizeof(why)), -EIO);
    assert_non_null(strstr(why, "invalid domain pointer"));
    why[0] = '\0';
    assert_int_equal(vcha_virt_domain_is_off(NULL, why, sizeof(why)), -EIO);
    assert_non_null(strstr(why, "invalid domain pointer"));
    assert_int_equal(vcha_virt_domain_is_off(NULL, NULL, 0), -EIO);
}

/* ------------------------------------------------------------ no libvirt */

static void
test_xml_name(void **state)
{
    static const char good[] = "<domain type='kvm'>\n  <uuid>x</uuid>\n"
                               "  <name>web&amp;db</name>\n</domain>\n";
    static const char none[] = "<domain type='kvm'><memory>1</memory>"
                               "</domain>";
    static const char other[] = "<network><name>n</name></network>";
    static const char nested[] = "<domain><devices><name>d</name></devices>"
                                 "</domain>";
    char name[16], why[128];

    (void) state;
    assert_int_equal(vcha_virt_xml_name(good, strlen(good), name, sizeof(name),
                                        why, sizeof(why)),
                     0);
    assert_string_equal(name, "web&db");
    assert_int_equal(vcha_virt_xml_name(none, strlen(none), name, sizeof(name),
                                        why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "the domain has no <name>");
    assert_int_equal(vcha_virt_xml_name(nested, strlen(nested), name,
                                        sizeof(name), why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(vcha_virt_xml_name(other, strlen(other), name,
                                        sizeof(name), why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "not a libvirt domain document");
    assert_int_equal(
        vcha_virt_xml_name("<domain", 7, name, sizeof(name), why, sizeof(why)),
        -EINVAL);
    assert_int_equal(
        vcha_virt_xml_name(good, strlen(good), name, 4, why, sizeof(why)),
        -ENAMETOOLONG);
}

#define T(test) cmocka_unit_test_setup(test, test_reset)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_uri_encodes_the_identity_file),
        T(test_uri_identity_file_only_for_ssh),
        T(test_open_and_close),
        T(test_open_failure_says_why),
        T(test_open_answers_username_and_password),
        T(test_open_wrong_password_fails),
        T(test_open_never_prompts),
        T(test_last_error_is_copied),
        T(test_is_uuid),
        T(test_lookup_by_uuid_and_by_name),
        T(test_lookup_missing_is_enoent),
        T(test_lookup_name_like_a_uuid),
        T(test_lookup_uuid_error_stops),
        T(test_state_running_paused_shut_off),
        T(test_state_crashed_is_off),
        T(test_state_vanished_transient_is_off),
        T(test_state_error_says_why),
        T(test_xml_name),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
