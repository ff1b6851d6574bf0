/*
 * Unit tests for libcommon/runtime/attr.c, and for the record of a
 * member's tree (libcommon/sync/syncmark.c), which goes through it.  The
 * Pacemaker tools are not run: the test is linked with
 * -Wl,--wrap=vcha_exec, so every call lands in __wrap_vcha_exec below,
 * which checks the command line and plays back a canned outcome.
 */
#include <config.h>

#include <errno.h>
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

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/exec.h>
#include <vcha/syncmark.h>

int __wrap_vcha_exec(const char *const argv[], const char *input,
                     size_t input_len, long long timeout_ms,
                     struct vcha_exec_result *res);

/* ------------------------------------------------------------ the fake */

/* How a faked program run ends. */
struct canned {
    int rc; /* vcha_exec's return: 0 or -errno */
    int exit_code;
    int signal;
    bool timed_out;
    const char *out;
};

static const struct canned exit_ok = {0};
static const struct canned exit_1 = {.exit_code = 1};
static const struct canned exit_nosuch = {.exit_code = 105};
static const struct canned exit_disconnect = {.exit_code = 102};
static const struct canned exit_config = {.exit_code = 78};
static const struct canned killed = {.exit_code = -1, .signal = SIGKILL};
static const struct canned timed_out = {
    .exit_code = -1, .signal = SIGTERM, .timed_out = true};
static const struct canned not_installed = {.rc = -ENOENT};
static const struct canned no_permission = {.rc = -EACCES};

/* argv joined by spaces; arguments with a space are quoted. */
static void
join_argv(const char *const argv[], char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; argv[i] != NULL; i++) {
        const char *quote = strchr(argv[i], ' ') ? "'" : "";

        used += (size_t) snprintf(buf + used, len - used, "%s%s%s%s",
                                  i ? " " : "", quote, argv[i], quote);
        assert_true(used < len);
    }
}

int
__wrap_vcha_exec(const char *const argv[], const char *input, size_t input_len,
                 long long timeout_ms, struct vcha_exec_result *res)
{
    char cmdline[512];
    const struct canned *c;

    join_argv(argv, cmdline, sizeof(cmdline));
    check_expected_ptr(cmdline);
    check_expected(timeout_ms);
    assert_null(input);
    assert_int_equal(input_len, 0);
    c = mock_ptr_type(const struct canned *);
    memset(res, 0, sizeof(*res));
    if (c->rc < 0) {
        return c->rc;
    }
    res->exit_code = c->exit_code;
    res->signal = c->signal;
    res->timed_out = c->timed_out;
    res->out = strdup(c->out ? c->out : "");
    res->err = strdup("");
    assert_non_null(res->out);
    assert_non_null(res->err);
    res->out_len = strlen(res->out);
    return 0;
}

/* The next run must be @p cmdline with a timeout in [lo, hi]. */
static void
expect_run_within(const char *cmdline, long long lo, long long hi,
                  const struct canned *c)
{
    expect_string(__wrap_vcha_exec, cmdline, cmdline);
    expect_in_range(__wrap_vcha_exec, timeout_ms, lo, hi);
    will_return(__wrap_vcha_exec, c);
}

static void
expect_run(const char *cmdline, long long timeout_ms, const struct canned *c)
{
    expect_run_within(cmdline, timeout_ms, timeout_ms, c);
}

static const struct canned *
output(struct canned *c, const char *out)
{
    *c = (struct canned){.out = out};
    return c;
}

/* ------------------------------------------------------------ query parse */

static void
assert_parsed(const char *line, const char *expect)
{
    char *value = NULL;

    assert_int_equal(vcha_attr_parse_query(line, &value), 0);
    assert_string_equal(value, expect);
    free(value);
}

static void
assert_not_parsed(const char *line)
{
    char *value = (char *) 1;

    assert_int_equal(vcha_attr_parse_query(line, &value), -ENODATA);
    assert_null(value);
}

static void
test_parse_query_takes_the_value_field(void **state)
{
    (void) state;
    assert_parsed("name=\"a\" host=\"n1\" value=\"42\"\n", "42");
    assert_parsed("name=\"a\" host=\"n1\" value=\"with spaces\"",
                  "with spaces");
    assert_parsed("value=\"x\"", "x");
}

static void
test_parse_query_takes_the_first_line(void **state)
{
    (void) state;
    assert_parsed("name=\"a\" host=\"n1\" value=\"one\"\n"
                  "name=\"a\" host=\"n2\" value=\"two\"\n",
                  "one");
}

static void
test_parse_query_rejects_malformed_lines(void **state)
{
    (void) state;
    assert_not_parsed("");
    assert_not_parsed("name=\"a\" host=\"n1\"\n");
    assert_not_parsed("name=\"a\" host=\"n1\" value=\"\"\n");
    assert_not_parsed("name=\"a\" host=\"n1\" value=\"unterminated\n");
    assert_not_parsed("name=\"a\" value=42\n");
    assert_not_parsed("garbage");
    assert_not_parsed(NULL);
}

/* ------------------------------------------------------------ get */

static void
test_attr_get_queries_this_node(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    expect_run("attrd_updater -Q -n vip-ok", 5000,
               output(&c, "name=\"vip-ok\" host=\"node1\" value=\"1\"\n"));
    assert_int_equal(vcha_attr_get("vip-ok", NULL, &value, 5000), 0);
    assert_string_equal(value, "1");
    free(value);
}

static void
test_attr_get_queries_another_node(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    expect_run("attrd_updater -Q -n vip-ok -N node2", 1234,
               output(&c, "name=\"vip-ok\" host=\"node2\" value=\"yes\"\n"));
    assert_int_equal(vcha_attr_get("vip-ok", "node2", &value, 1234), 0);
    assert_string_equal(value, "yes");
    free(value);
}

static void
assert_get_fails(const struct canned *c, int expect)
{
    char *value = (char *) 1;

    expect_run("attrd_updater -Q -n vip-ok", 5000, c);
    assert_int_equal(vcha_attr_get("vip-ok", NULL, &value, 5000), expect);
    assert_null(value);
}

static void
test_attr_get_unknown_attribute_is_enodata(void **state)
{
    (void) state;
    assert_get_fails(&exit_nosuch, -ENODATA);
    assert_get_fails(&exit_config, -ENODATA); /* Pacemaker 2.1, 3.0 */
}

static void
test_attr_get_no_cluster_is_enotconn(void **state)
{
    (void) state;
    assert_get_fails(&exit_disconnect, -ENOTCONN);
}

static void
test_attr_get_other_failure_is_eio(void **state)
{
    (void) state;
    assert_get_fails(&exit_1, -EIO);
}

static void
test_attr_get_empty_value_is_enodata(void **state)
{
    struct canned c;

    (void) state;
    assert_get_fails(output(&c, "name=\"vip-ok\" host=\"n\" value=\"\"\n"),
                     -ENODATA);
    assert_get_fails(output(&c, ""), -ENODATA);
}

static void
test_attr_get_timeout_is_etime(void **state)
{
    (void) state;
    assert_get_fails(&timed_out, -ETIME);
}

static void
test_attr_get_missing_tool_is_enoent(void **state)
{
    (void) state;
    assert_get_fails(&not_installed, -ENOENT);
}

static void
test_attr_get_passes_exec_errors_on(void **state)
{
    (void) state;
    assert_get_fails(&no_permission, -EACCES);
}

/* ------------------------------------------------------------ node attr */

static void
test_node_attr_get_prefers_transient_value(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    expect_run("attrd_updater -Q -n site", 5000,
               output(&c, "name=\"site\" host=\"n1\" value=\"east\"\n"));
    assert_int_equal(vcha_node_attr_get("site", NULL, &value, 5000), 0);
    assert_string_equal(value, "east");
    free(value);
}

static void
test_node_attr_get_falls_back_to_permanent_value(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    expect_run("attrd_updater -Q -n site", 5000, &exit_nosuch);
    expect_run_within("crm_attribute -G -q -l forever -n site", 1, 5000,
                      output(&c, "west\n"));
    assert_int_equal(vcha_node_attr_get("site", NULL, &value, 5000), 0);
    assert_string_equal(value, "west");
    free(value);
}

static void
test_node_attr_get_other_node(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    expect_run("attrd_updater -Q -n site -N node2", 5000, &exit_nosuch);
    expect_run_within("crm_attribute -G -q -l forever -n site -N node2", 1,
                      5000, output(&c, "north\n"));
    assert_int_equal(vcha_node_attr_get("site", "node2", &value, 5000), 0);
    assert_string_equal(value, "north");
    free(value);
}

static void
test_node_attr_get_neither_value(void **state)
{
    struct canned c;
    char *value = (char *) 1;

    (void) state;
    expect_run("attrd_updater -Q -n site", 5000, &exit_nosuch);
    expect_run_within("crm_attribute -G -q -l forever -n site", 1, 5000,
                      &exit_nosuch);
    assert_int_equal(vcha_node_attr_get("site", NULL, &value, 5000), -ENODATA);
    assert_null(value);
    value = (char *) 1;
    expect_run("attrd_updater -Q -n site", 5000, &exit_nosuch);
    expect_run_within("crm_attribute -G -q -l forever -n site", 1, 5000,
                      output(&c, "\n"));
    assert_int_equal(vcha_node_attr_get("site", NULL, &value, 5000), -ENODATA);
    assert_null(value);
}

static void
test_node_attr_get_no_fallback_on_timeout(void **state)
{
    char *value = (char *) 1;

    (void) state;
    /* a second call would find no expectation and fail the test */
    expect_run("attrd_updater -Q -n site", 5000, &timed_out);
    assert_int_equal(vcha_node_attr_get("site", NULL, &value, 5000), -ETIME);
    assert_null(value);
}

/* ------------------------------------------------------------ set, delete */

static void
test_attr_set_argv(void **state)
{
    (void) state;
    expect_run("attrd_updater -n vip-ok -U 1", 3000, &exit_ok);
    assert_int_equal(vcha_attr_set("vip-ok", "1", 3000), 0);
    expect_run("attrd_updater -n vip-ok -U 'a b'", 3000, &exit_ok);
    assert_int_equal(vcha_attr_set("vip-ok", "a b", 3000), 0);
}

static void
test_attr_set_failures(void **state)
{
    (void) state;
    expect_run("attrd_updater -n x -U 1", 3000, &exit_1);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -EIO);
    expect_run("attrd_updater -n x -U 1", 3000, &exit_config);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -EIO);
    expect_run("attrd_updater -n x -U 1", 3000, &exit_disconnect);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -ENOTCONN);
    expect_run("attrd_updater -n x -U 1", 3000, &killed);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -EIO);
    expect_run("attrd_updater -n x -U 1", 3000, &timed_out);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -ETIME);
    expect_run("attrd_updater -n x -U 1", 3000, &not_installed);
    assert_int_equal(vcha_attr_set("x", "1", 3000), -ENOENT);
}

static void
test_attr_delete_argv(void **state)
{
    (void) state;
    expect_run("attrd_updater -n vip-ok -D", 2000, &exit_ok);
    assert_int_equal(vcha_attr_delete("vip-ok", 2000), 0);
    expect_run("attrd_updater -n vip-ok -D", 2000, &exit_1);
    assert_int_equal(vcha_attr_delete("vip-ok", 2000), -EIO);
    expect_run("attrd_updater -n vip-ok -D", 2000, &timed_out);
    assert_int_equal(vcha_attr_delete("vip-ok", 2000), -ETIME);
}

/* ------------------------------------------------------ cluster property */

static void
test_cluster_prop_get(void **state)
{
    struct canned c;
    char *value = (char *) 1;

    (void) state;
    expect_run("crm_attribute -t crm_config -s vcha-records -n vcha-active-ct1 "
               "-G -q",
               3000, output(&c, "standby1\n"));
    assert_int_equal(vcha_cluster_prop_get("vcha-records", "vcha-active-ct1",
                                           &value, 3000),
                     0);
    assert_string_equal(value, "standby1");
    free(value);
    value = (char *) 1;
    expect_run("crm_attribute -t crm_config -s s -n p -G -q", 3000,
               &exit_nosuch);
    assert_int_equal(vcha_cluster_prop_get("s", "p", &value, 3000), -ENODATA);
    assert_null(value);
    expect_run("crm_attribute -t crm_config -s s -n p -G -q", 3000,
               output(&c, "\n"));
    assert_int_equal(vcha_cluster_prop_get("s", "p", &value, 3000), -ENODATA);
    assert_null(value);
    expect_run("crm_attribute -t crm_config -s s -n p -G -q", 3000,
               &exit_disconnect);
    assert_int_equal(vcha_cluster_prop_get("s", "p", &value, 3000),
                     -ENOTCONN);
    expect_run("crm_attribute -t crm_config -s s -n p -G -q", 3000,
               &timed_out);
    assert_int_equal(vcha_cluster_prop_get("s", "p", &value, 3000), -ETIME);
    assert_null(value);
}

static void
test_cluster_prop_set_and_delete(void **state)
{
    (void) state;
    expect_run("crm_attribute -t crm_config -s s -n p -v node2", 2000,
               &exit_ok);
    assert_int_equal(vcha_cluster_prop_set("s", "p", "node2", 2000), 0);
    expect_run("crm_attribute -t crm_config -s s -n p -v node2", 2000,
               &exit_1);
    assert_int_equal(vcha_cluster_prop_set("s", "p", "node2", 2000), -EIO);
    expect_run("crm_attribute -t crm_config -s s -n p -D", 2000, &exit_ok);
    assert_int_equal(vcha_cluster_prop_delete("s", "p", 2000), 0);
    expect_run("crm_attribute -t crm_config -s s -n p -D", 2000,
               &exit_disconnect);
    assert_int_equal(vcha_cluster_prop_delete("s", "p", 2000), -ENOTCONN);
}

/* ---------------------------------------- the record of a member's tree */

/* Read web's record, crm_attribute playing @p c back: its return. */
static int
record_read(const struct canned *c, char *node, size_t len, bool *native)
{
    expect_run("crm_attribute -t crm_config -s vcha-records -n vcha-active-web "
               "-G -q",
               3000, c);
    return vcha_active_record_get("web", 3000, node, len, native);
}

static void
test_active_record_get(void **state)
{
    struct canned c;
    char node[64] = "untouched";
    bool native = true;

    (void) state;
    vcha_active_record_name("web", node, sizeof(node));
    assert_string_equal(node, "vcha-active-web");
    assert_int_equal(
        record_read(output(&c, "node3\n"), node, sizeof(node), &native), 0);
    assert_string_equal(node, "node3");
    assert_false(native);
    assert_int_equal(record_read(output(&c, "native:node1\n"), node,
                                 sizeof(node), &native),
                     0);
    assert_string_equal(node, "node1");
    assert_true(native);
    /* none, an empty one, one that names no node: no record */
    assert_int_equal(record_read(&exit_nosuch, node, sizeof(node), &native),
                     -ENODATA);
    assert_string_equal(node, "");
    assert_false(native);
    assert_int_equal(record_read(output(&c, "\n"), node, sizeof(node), &native),
                     -ENODATA);
    assert_int_equal(
        record_read(output(&c, "native:\n"), node, sizeof(node), &native),
        -ENODATA);
    assert_int_equal(
        record_read(&exit_disconnect, node, sizeof(node), &native), -ENOTCONN);
}

static void
test_active_record_set(void **state)
{
    (void) state;
    expect_run("crm_attribute -t crm_config -s vcha-records -n vcha-active-web "
               "-v node3",
               2000, &exit_ok);
    assert_int_equal(vcha_active_record_set("web", "node3", false, 2000), 0);
    expect_run("crm_attribute -t crm_config -s vcha-records -n vcha-active-web "
               "-v native:node1",
               2000, &exit_ok);
    assert_int_equal(vcha_active_record_set("web", "node1", true, 2000), 0);
    expect_run("crm_attribute -t crm_config -s vcha-records -n vcha-active-web "
               "-v node3",
               2000, &exit_1);
    assert_int_equal(vcha_active_record_set("web", "node3", false, 2000), -EIO);
}

/* ------------------------------------------------------------ promotion */

static void
test_promotion_set_argv(void **state)
{
    (void) state;
    expect_run("crm_attribute --promotion -v 100", 4000, &exit_ok);
    assert_int_equal(vcha_promotion_set(100, 4000), 0);
    expect_run("crm_attribute --promotion -v -1000", 4000, &exit_ok);
    assert_int_equal(vcha_promotion_set(-1000, 4000), 0);
    expect_run("crm_attribute --promotion -v -2147483648", 4000, &exit_ok);
    assert_int_equal(vcha_promotion_set(INT_MIN, 4000), 0);
}

static void
test_promotion_set_failures(void **state)
{
    (void) state;
    expect_run("crm_attribute --promotion -v 5", 4000, &exit_1);
    assert_int_equal(vcha_promotion_set(5, 4000), -EIO);
    expect_run("crm_attribute --promotion -v 5", 4000, &timed_out);
    assert_int_equal(vcha_promotion_set(5, 4000), -ETIME);
    expect_run("crm_attribute --promotion -v 5", 4000, &not_installed);
    assert_int_equal(vcha_promotion_set(5, 4000), -ENOENT);
}

static void
test_promotion_delete_argv(void **state)
{
    (void) state;
    expect_run("crm_attribute --promotion -D", 4000, &exit_ok);
    assert_int_equal(vcha_promotion_delete(4000), 0);
    expect_run("crm_attribute --promotion -D", 4000, &killed);
    assert_int_equal(vcha_promotion_delete(4000), -EIO);
    expect_run("crm_attribute --promotion -D", 4000, &timed_out);
    assert_int_equal(vcha_promotion_delete(4000), -ETIME);
}

#define UTIL_SET                                                               \
    "crm_resource --resource vm1 --utilization --set-parameter cpu "           \
    "--parameter-value 4"

static void
test_utilization_set(void **state)
{
    (void) state;
    setenv("OCF_RESOURCE_INSTANCE", "vm1", 1);
    expect_run(UTIL_SET, 4000, &exit_ok);
    assert_int_equal(vcha_utilization_set("cpu", "4", 4000), 0);
    expect_run(UTIL_SET, 4000, &exit_disconnect);
    assert_int_equal(vcha_utilization_set("cpu", "4", 4000), -ENOTCONN);
    expect_run(UTIL_SET, 4000, &timed_out);
    assert_int_equal(vcha_utilization_set("cpu", "4", 4000), -ETIME);
    unsetenv("OCF_RESOURCE_INSTANCE");
    assert_int_equal(vcha_utilization_set("cpu", "4", 4000), -EINVAL);
}

#define UTIL_GET                                                               \
    "crm_resource --resource web --utilization --get-parameter memory "        \
    "--quiet"

static void
test_utilization_get(void **state)
{
    struct canned c;
    char *value = NULL;

    (void) state;
    setenv("OCF_RESOURCE_INSTANCE", "web", 1);
    expect_run(UTIL_GET, 4000, output(&c, "512\n"));
    assert_int_equal(vcha_utilization_get("memory", &value, 4000), 0);
    assert_string_equal(value, "512");
    free(value);
    /* none: crm_resource says so on stderr only, and exits 0 */
    expect_run(UTIL_GET, 4000, output(&c, ""));
    assert_int_equal(vcha_utilization_get("memory", &value, 4000), -ENODATA);
    assert_null(value);
    expect_run(UTIL_GET, 4000, &exit_disconnect);
    assert_int_equal(vcha_utilization_get("memory", &value, 4000), -ENOTCONN);
    unsetenv("OCF_RESOURCE_INSTANCE");
    assert_int_equal(vcha_utilization_get("memory", &value, 4000), -EINVAL);
}

/* An invocation with @p left_ms until its deadline. */
static struct vcha_agent
invocation(long long left_ms)
{
    return (struct vcha_agent){.deadline_ms = vcha_now_ms() + left_ms};
}

static void
test_agent_promotion_sets_within_the_deadline(void **state)
{
    struct vcha_agent a = invocation(3000);

    (void) state;
    expect_run_within("crm_attribute --promotion -v 10", 2900, 3000, &exit_ok);
    assert_int_equal(vcha_agent_promotion(&a, 10), 0);
    expect_run_within("crm_attribute --promotion -v -5", 2900, 3000, &exit_ok);
    assert_int_equal(vcha_agent_promotion(&a, -5), 0);
}

static void
test_agent_promotion_none_removes_the_score(void **state)
{
    struct vcha_agent a = invocation(8000);

    (void) state;
    expect_run_within("crm_attribute --promotion -D", 7900, 8000, &exit_ok);
    assert_int_equal(vcha_agent_promotion(&a, VCHA_PROMOTION_NONE), 0);
}

static void
test_agent_promotion_failures(void **state)
{
    struct vcha_agent a = invocation(2000);
    struct vcha_agent late = invocation(-100);

    (void) state;
    expect_run_within("crm_attribute --promotion -v 5", 1900, 2000,
                      &exit_disconnect);
    assert_int_equal(vcha_agent_promotion(&a, 5), -ENOTCONN);
    expect_run_within("crm_attribute --promotion -D", 1900, 2000,
                      &not_installed);
    assert_int_equal(vcha_agent_promotion(&a, VCHA_PROMOTION_NONE), -ENOENT);
    /* past the deadline: still tried, with the least time there is */
    expect_run("crm_attribute --promotion -v 5", 1, &timed_out);
    assert_int_equal(vcha_agent_promotion(&late, 5), -ETIME);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_query_takes_the_value_field),
        cmocka_unit_test(test_parse_query_takes_the_first_line),
        cmocka_unit_test(test_parse_query_rejects_malformed_lines),
        cmocka_unit_test(test_attr_get_queries_this_node),
        cmocka_unit_test(test_attr_get_queries_another_node),
        cmocka_unit_test(test_attr_get_unknown_attribute_is_enodata),
        cmocka_unit_test(test_attr_get_no_cluster_is_enotconn),
        cmocka_unit_test(test_attr_get_other_failure_is_eio),
        cmocka_unit_test(test_attr_get_empty_value_is_enodata),
        cmocka_unit_test(test_attr_get_timeout_is_etime),
        cmocka_unit_test(test_attr_get_missing_tool_is_enoent),
        cmocka_unit_test(test_attr_get_passes_exec_errors_on),
        cmocka_unit_test(test_node_attr_get_prefers_transient_value),
        cmocka_unit_test(test_node_attr_get_falls_back_to_permanent_value),
        cmocka_unit_test(test_node_attr_get_other_node),
        cmocka_unit_test(test_node_attr_get_neither_value),
        cmocka_unit_test(test_node_attr_get_no_fallback_on_timeout),
        cmocka_unit_test(test_attr_set_argv),
        cmocka_unit_test(test_attr_set_failures),
        cmocka_unit_test(test_attr_delete_argv),
        cmocka_unit_test(test_promotion_set_argv),
        cmocka_unit_test(test_promotion_set_failures),
        cmocka_unit_test(test_promotion_delete_argv),
        cmocka_unit_test(test_agent_promotion_sets_within_the_deadline),
        cmocka_unit_test(test_agent_promotion_none_removes_the_score),
        cmocka_unit_test(test_agent_promotion_failures),
        cmocka_unit_test(test_utilization_set),
        cmocka_unit_test(test_utilization_get),
        cmocka_unit_test(test_cluster_prop_get),
        cmocka_unit_test(test_active_record_get),
        cmocka_unit_test(test_active_record_set),
        cmocka_unit_test(test_cluster_prop_set_and_delete),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
