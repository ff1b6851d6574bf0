/* Unit tests for libcommon/runtime/agent.c: the OCF action dispatcher. */
#include <config.h>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/agent.h>

#include "../test-util.h"

/* ------------------------------------------------------------ the agent */

/* What the handlers saw; reset before each test. */
static struct {
    int start, stop, monitor, validate0, validate10;
    bool probe;
    int check_level;
    long long timeout_ms, remaining_ms;
    const char *instance;
    char addr[64];
    long long port, wait_ms;
    enum vcha_result monitor_result;   /* what monitor returns */
    enum vcha_result validate0_result; /* what validate(a, 0) returns */
    enum vcha_result validate10_result;
    int notify, promote;
    struct vcha_clone clone;
    enum vcha_notify_type notify_type;
    enum vcha_notify_list notify_operation;
    bool notify_names_node2; /* node2 in the operation's uname list */
} seen;

enum { P_ADDR, P_PORT, P_WAIT };

static const struct vcha_param_def params[] = {
    [P_ADDR] = {.name = "addr",
                .type = VCHA_PT_STRING,
                .required = true,
                .shortdesc = "Address"},
    [P_PORT] = {.name = "port",
                .type = VCHA_PT_INTEGER,
                .dflt = "53",
                .min = 1,
                .max = 65535,
                .shortdesc = "Port"},
    [P_WAIT] = {.name = "wait",
                .type = VCHA_PT_DURATION,
                .dflt = "5s",
                .shortdesc = "Wait"},
};

static void
record_invocation(struct vcha_agent *a)
{
    const char *addr = vcha_agent_str(a, P_ADDR);

    seen.probe = a->probe;
    seen.check_level = a->check_level;
    seen.timeout_ms = a->timeout_ms;
    seen.remaining_ms = vcha_agent_remaining_ms(a);
    seen.instance = a->instance;
    snprintf(seen.addr, sizeof(seen.addr), "%s", addr ? addr : "(null)");
    seen.port = vcha_agent_num(a, P_PORT);
    seen.wait_ms = vcha_agent_num(a, P_WAIT);
}

static enum vcha_result
do_start(struct vcha_agent *a)
{
    seen.start++;
    record_invocation(a);
    return VCHA_OK;
}

static enum vcha_result
do_stop(struct vcha_agent *a)
{
    seen.stop++;
    record_invocation(a);
    return VCHA_OK;
}

static enum vcha_result
do_monitor(struct vcha_agent *a)
{
    seen.monitor++;
    record_invocation(a);
    return seen.monitor_result;
}

static enum vcha_result
do_fail(struct vcha_agent *a)
{
    return vcha_agent_fail(a, VCHA_ERR_GENERIC, "disk %s is %d%% full", "sda",
                           100);
}

static enum vcha_result
validate(struct vcha_agent *a, int level)
{
    if (level == 0) {
        seen.validate0++;
        if (seen.validate0_result != VCHA_OK) {
            return vcha_agent_fail(a, seen.validate0_result,
                                   "addr conflicts with port");
        }
        return VCHA_OK;
    }
    seen.validate10++;
    if (seen.validate10_result != VCHA_OK) {
        return vcha_agent_fail(a, seen.validate10_result, "tool missing");
    }
    return VCHA_OK;
}

static const struct vcha_action_def actions[] = {
    {.name = "start", .fn = do_start, .timeout_s = 30, .depth = -1},
    {.name = "stop", .fn = do_stop, .timeout_s = 20, .depth = -1},
    {.name = "monitor",
     .fn = do_monitor,
     .timeout_s = 20,
     .interval_s = 10,
     .depth = 0},
    {.name = "fail", .fn = do_fail, .timeout_s = 20, .depth = -1},
    {.name = "reload", .timeout_s = 20, .depth = -1}, /* no handler */
    {NULL},
};

static const struct vcha_agent_def agent = {
    .name = "testagent",
    .version = "1.0",
    .shortdesc = "A test agent",
    .longdesc = "An agent for the dispatcher tests.",
    .params = params,
    .n_params = sizeof(params) / sizeof(params[0]),
    .actions = actions,
    .validate = validate,
};

/* A promotable clone's agent: a monitor per role, promote, notify. */
static enum vcha_result
do_promote(struct vcha_agent *a)
{
    seen.promote++;
    record_invocation(a);
    seen.clone = a->clone;
    return VCHA_OK;
}

static enum vcha_result
do_role_monitor(struct vcha_agent *a)
{
    seen.monitor++;
    record_invocation(a);
    seen.clone = a->clone;
    return a->clone.role == VCHA_ROLE_PROMOTED
               ? vcha_result_promoted(seen.monitor_result)
               : seen.monitor_result;
}

static enum vcha_result
do_notify(struct vcha_agent *a)
{
    seen.notify++;
    record_invocation(a);
    seen.notify_type = a->notify->type;
    seen.notify_operation = a->notify->operation;
    seen.notify_names_node2 =
        vcha_notify_has_uname(a->notify, a->notify->operation, "node2");
    return VCHA_OK;
}

static const struct vcha_action_def promotable_actions[] = {
    {.name = "start", .fn = do_start, .timeout_s = 30, .depth = -1},
    {.name = "stop", .fn = do_stop, .timeout_s = 20, .depth = -1},
    {.name = "monitor",
     .fn = do_role_monitor,
     .timeout_s = 15,
     .interval_s = 5,
     .depth = 0,
     .role = "Promoted"},
    {.name = "monitor",
     .fn = do_role_monitor,
     .timeout_s = 25,
     .interval_s = 7,
     .depth = 0,
     .role = "Unpromoted"},
    {.name = "promote", .fn = do_promote, .timeout_s = 12, .depth = -1},
    {.name = "demote", .fn = do_stop, .timeout_s = 12, .depth = -1},
    {.name = "notify", .fn = do_notify, .timeout_s = 6, .depth = -1},
    {NULL},
};

static const struct vcha_agent_def promotable_agent = {
    .name = "clonedagent",
    .version = "1.0",
    .shortdesc = "A promotable test agent",
    .longdesc = "An agent for the dispatcher's clone tests.",
    .params = params,
    .n_params = sizeof(params) / sizeof(params[0]),
    .actions = promotable_actions,
};

/* The agent that run() runs. */
static const struct vcha_agent_def *running = &agent;

/* ------------------------------------------------------------ helpers */

static const char *const env_vars[] = {
    "OCF_RESKEY_addr",
    "OCF_RESKEY_port",
    "OCF_RESKEY_wait",
    "OCF_RESOURCE_INSTANCE",
    "OCF_RESKEY_CRM_meta_interval",
    "OCF_RESKEY_CRM_meta_timeout",
    "OCF_CHECK_LEVEL",
    "OCF_RESKEY_CRM_meta_role",
    "OCF_RESKEY_CRM_meta_clone",
    "OCF_RESKEY_CRM_meta_clone_max",
    "OCF_RESKEY_CRM_meta_promoted_max",
    "OCF_RESKEY_CRM_meta_notify",
    "OCF_RESKEY_CRM_meta_notify_type",
    "OCF_RESKEY_CRM_meta_notify_operation",
    "OCF_RESKEY_CRM_meta_notify_promote_uname",
    "HA_LOGFILE",
    "HA_LOGFACILITY",
    "HA_LOGTAG",
    "HA_debug",
};

static int
reset(void **state)
{
    (void) state;
    memset(&seen, 0, sizeof(seen));
    running = &agent;
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
        unsetenv(env_vars[i]);
    }
    return 0;
}

/* A valid configuration. */
static void
configure(void)
{
    setenv("OCF_RESKEY_addr", "192.0.2.7", 1);
    setenv("OCF_RESOURCE_INSTANCE", "res1", 1);
}

/* What one run of the agent printed. */
struct output {
    char *out;
    char *err;
};

static void
output_free(struct output *o)
{
    free(o->out);
    free(o->err);
}

/* Run the agent with @p action (NULL: none), capturing stdout and stderr. */
static int
run(const char *action, struct output *o)
{
    char *argv[] = {"testagent", (char *) action, NULL};
    struct test_capture out, err;
    int code;

    assert_int_equal(test_capture_start(&out, 1), 0);
    assert_int_equal(test_capture_start(&err, 2), 0);
    code = vcha_agent_main(running, action ? 2 : 1, argv);
    o->err = test_capture_stop(&err);
    o->out = test_capture_stop(&out);
    assert_non_null(o->out);
    assert_non_null(o->err);
    return code;
}

/* Run, discard the output, return the exit code. */
static int
run_quiet(const char *action)
{
    struct output o;
    int code = run(action, &o);

    output_free(&o);
    return code;
}

/* The text of the ocf-exit-reason line in @p err, or NULL (free()). */
static char *
exit_reason(const char *err)
{
    static const char prefix[] = "ocf-exit-reason:";
    const char *at = err;
    size_t len;

    while ((at = strstr(at, prefix)) != NULL) {
        if (at == err || at[-1] == '\n') {
            at += strlen(prefix);
            len = strcspn(at, "\n");
            return strndup(at, len);
        }
        at++;
    }
    return NULL;
}

static void
assert_exit_reason(const struct output *o, const char *expect)
{
    char *reason = exit_reason(o->err);

    if (reason == NULL) {
        fail_msg("no ocf-exit-reason line in:\n%s", o->err);
    }
    assert_string_equal(reason, expect);
    free(reason);
}

static void
assert_no_exit_reason(const struct output *o)
{
    char *reason = exit_reason(o->err);

    if (reason != NULL) {
        fail_msg("unexpected exit reason '%s'", reason);
    }
}

static void
assert_no_handler_called(void)
{
    assert_int_equal(seen.start, 0);
    assert_int_equal(seen.stop, 0);
    assert_int_equal(seen.monitor, 0);
}

/* ------------------------------------------------------------ dispatch */

static void
test_unknown_action_returns_3_and_calls_nothing(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run("bogus", &o), 3);
    assert_no_handler_called();
    assert_int_equal(seen.validate0, 0);
    assert_exit_reason(&o, "action 'bogus' is not supported");
    output_free(&o);
}

static void
test_no_action_returns_2_with_usage_on_stderr(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run(NULL, &o), 2);
    assert_no_handler_called();
    assert_non_null(strstr(o.err, "usage: testagent {start|stop|monitor"));
    assert_string_equal(o.out, "");
    output_free(&o);
}

static void
test_usage_actions_print_usage_and_return_0(void **state)
{
    static const char *const words[] = {"usage", "help", "--help"};

    (void) state;
    for (size_t i = 0; i < 3; i++) {
        struct output o;

        assert_int_equal(run(words[i], &o), 0);
        assert_non_null(strstr(o.out, "usage: testagent {"));
        output_free(&o);
    }
    assert_no_handler_called();
}

static void
test_start_runs_its_handler(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run("start", &o), 0);
    assert_int_equal(seen.start, 1);
    assert_int_equal(seen.stop + seen.monitor, 0);
    assert_int_equal(seen.validate0, 1);
    assert_int_equal(seen.validate10, 0);
    assert_no_exit_reason(&o);
    output_free(&o);
}

static void
test_handler_sees_parsed_parameters(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_port", "5353", 1);
    assert_int_equal(run_quiet("start"), 0);
    assert_string_equal(seen.addr, "192.0.2.7");
    assert_true(seen.port == 5353);
    assert_true(seen.wait_ms == 5000); /* the default */
}

static void
test_handler_sees_instance_and_check_level(void **state)
{
    (void) state;
    configure();
    setenv("OCF_CHECK_LEVEL", "20", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_string_equal(seen.instance, "res1");
    assert_int_equal(seen.check_level, 20);
}

static void
test_bad_check_level_is_ignored(void **state)
{
    (void) state;
    configure();
    setenv("OCF_CHECK_LEVEL", "deep", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_int_equal(seen.check_level, 0);
}

static void
test_handler_result_becomes_ocf_code(void **state)
{
    (void) state;
    configure();
    seen.monitor_result = VCHA_RUNNING_PROMOTED;
    assert_int_equal(run_quiet("monitor"), 8);
    seen.monitor_result = VCHA_DEGRADED;
    assert_int_equal(run_quiet("monitor"), 190);
    seen.monitor_result = VCHA_NOT_RUNNING;
    assert_int_equal(run_quiet("monitor"), 7);
}

static void
test_handler_failure_prints_exit_reason(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run("fail", &o), 1);
    assert_exit_reason(&o, "disk sda is 100% full");
    output_free(&o);
}

static void
test_action_without_handler_returns_3(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run("reload", &o), 3);
    assert_exit_reason(&o, "action 'reload' has no handler");
    output_free(&o);
}

static void
test_closed_stdin_is_reopened(void **state)
{
    int saved = dup(0);

    (void) state;
    assert_true(saved >= 0);
    close(0);
    assert_int_equal(run_quiet("meta-data"), 0);
    assert_true(fcntl(0, F_GETFD) >= 0);
    dup2(saved, 0);
    close(saved);
}

/* ------------------------------------------------------------ meta-data */

static void
test_meta_data_prints_xml_and_returns_0(void **state)
{
    struct output o;

    (void) state;
    configure();
    assert_int_equal(run("meta-data", &o), 0);
    assert_true(strncmp(o.out, "<?xml", 5) == 0);
    assert_non_null(strstr(o.out, "<resource-agent name=\"testagent\""));
    assert_no_handler_called();
    assert_int_equal(seen.validate0 + seen.validate10, 0);
    output_free(&o);
}

/* Run @p def with meta-data in a child: how it ended (a wait status). */
static int
run_in_child(const struct vcha_agent_def *def)
{
    char *argv[] = {"testagent", "meta-data", NULL};
    int status = 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        signal(SIGABRT, SIG_DFL);
        _exit(vcha_agent_main(def, 2, argv));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* A table that lists the runtime's rows, or too many, is the agent's bug. */
static void
test_bad_action_tables_abort(void **state)
{
    static const struct vcha_action_def own_meta[] = {
        {.name = "start", .fn = do_start, .timeout_s = 30, .depth = -1},
        {.name = "meta-data", .timeout_s = 5, .depth = -1},
        {NULL},
    };
    static struct vcha_action_def many[33];
    struct vcha_agent_def def = agent;
    int status;

    (void) state;
    def.actions = own_meta;
    status = run_in_child(&def);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    for (size_t i = 0; i < 32; i++) {
        many[i] = (struct vcha_action_def){
            .name = "start", .fn = do_start, .timeout_s = 30, .depth = -1};
    }
    def.actions = many;
    status = run_in_child(&def);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    /* 30 of its own and the runtime's two: as many as fit */
    many[30] = (struct vcha_action_def){NULL};
    status = run_in_child(&def);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The agent lists its own actions; the runtime adds its two after them. */
static void
test_meta_data_adds_the_runtime_actions_last(void **state)
{
    struct output o;
    const char *reload, *validate, *metadata;

    (void) state;
    configure();
    assert_int_equal(run("meta-data", &o), 0);
    reload = strstr(o.out, "<action name=\"reload\"");
    validate = strstr(o.out, "<action name=\"validate-all\" timeout=\"10s\"/>");
    metadata = strstr(o.out, "<action name=\"meta-data\" timeout=\"5s\"/>");
    assert_non_null(reload);
    assert_non_null(validate);
    assert_non_null(metadata);
    assert_true(reload < validate && validate < metadata);
    assert_null(strstr(metadata + 1, "<action name=\"meta-data\""));
    output_free(&o);
}

static void
test_meta_data_works_with_broken_environment(void **state)
{
    struct output o;

    (void) state;
    /* no addr (required), junk everywhere else */
    setenv("OCF_RESKEY_port", "not-a-port", 1);
    setenv("OCF_RESKEY_CRM_meta_timeout", "soon", 1);
    setenv("OCF_CHECK_LEVEL", "\xff", 1);
    assert_int_equal(run("meta-data", &o), 0);
    assert_non_null(strstr(o.out, "</resource-agent>"));
    assert_no_exit_reason(&o);
    output_free(&o);
}

/* ------------------------------------------------------------ validate-all */

static void
test_validate_all_level_0_skips_level_10(void **state)
{
    (void) state;
    configure();
    assert_int_equal(run_quiet("validate-all"), 0);
    assert_int_equal(seen.validate0, 1);
    assert_int_equal(seen.validate10, 0);
    assert_no_handler_called();
}

static void
test_validate_all_level_10_runs_both_levels(void **state)
{
    (void) state;
    configure();
    setenv("OCF_CHECK_LEVEL", "10", 1);
    assert_int_equal(run_quiet("validate-all"), 0);
    assert_int_equal(seen.validate0, 1);
    assert_int_equal(seen.validate10, 1);
}

static void
test_validate_all_level_10_failure_is_reported(void **state)
{
    struct output o;

    (void) state;
    configure();
    setenv("OCF_CHECK_LEVEL", "10", 1);
    seen.validate10_result = VCHA_ERR_INSTALLED;
    assert_int_equal(run("validate-all", &o), 5);
    assert_exit_reason(&o, "tool missing");
    output_free(&o);
}

static void
test_validate_all_level_0_failure_skips_level_10(void **state)
{
    (void) state;
    configure();
    setenv("OCF_CHECK_LEVEL", "10", 1);
    seen.validate0_result = VCHA_ERR_CONFIGURED;
    assert_int_equal(run_quiet("validate-all"), 6);
    assert_int_equal(seen.validate10, 0);
}

static void
test_validate_all_missing_parameter_returns_6(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run("validate-all", &o), 6);
    assert_exit_reason(&o, "required parameter 'addr' is not set");
    assert_int_equal(seen.validate0, 0); /* parameters come first */
    output_free(&o);
}

/* ------------------------------------------------------------ bad config */

static void
test_missing_required_parameter_returns_6_naming_it(void **state)
{
    struct output o;

    (void) state;
    setenv("OCF_RESOURCE_INSTANCE", "res1", 1);
    assert_int_equal(run("start", &o), 6);
    assert_exit_reason(&o, "required parameter 'addr' is not set");
    assert_no_handler_called();
    output_free(&o);
}

static void
test_bad_parameter_value_returns_6_naming_it(void **state)
{
    struct output o;

    (void) state;
    configure();
    setenv("OCF_RESKEY_port", "99999", 1);
    assert_int_equal(run("start", &o), 6);
    assert_exit_reason(&o, "parameter 'port' value '99999' must be between 1 "
                           "and 65535");
    assert_no_handler_called();
    output_free(&o);
}

static void
test_level_0_validate_failure_stops_the_action(void **state)
{
    struct output o;

    (void) state;
    configure();
    seen.validate0_result = VCHA_ERR_CONFIGURED;
    assert_int_equal(run("start", &o), 6);
    assert_exit_reason(&o, "addr conflicts with port");
    assert_no_handler_called();
    output_free(&o);
}

/* A probe: interval 0, or none at all (as Pacemaker passes a probe). */
static void
test_probe_with_bad_configuration_is_not_running(void **state)
{
    static const char *const intervals[] = {"0", NULL};

    (void) state;
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        struct output o;

        if (intervals[i] != NULL) {
            setenv("OCF_RESKEY_CRM_meta_interval", intervals[i], 1);
        } else {
            unsetenv("OCF_RESKEY_CRM_meta_interval");
        }
        assert_int_equal(run("monitor", &o), 7);
        assert_no_handler_called();
        assert_no_exit_reason(&o);
        output_free(&o);
    }
}

static void
test_recurring_monitor_with_bad_configuration_returns_6(void **state)
{
    (void) state;
    setenv("OCF_RESKEY_CRM_meta_interval", "10000", 1);
    assert_int_equal(run_quiet("monitor"), 6);
    assert_no_handler_called();
}

static void
test_stop_with_bad_configuration_succeeds(void **state)
{
    struct output o;

    (void) state;
    setenv("OCF_RESKEY_port", "0", 1); /* and no addr */
    assert_int_equal(run("stop", &o), 0);
    assert_no_handler_called();
    assert_no_exit_reason(&o);
    output_free(&o);
}

static void
test_stop_with_failing_level_0_validate_succeeds(void **state)
{
    (void) state;
    configure();
    seen.validate0_result = VCHA_ERR_CONFIGURED;
    assert_int_equal(run_quiet("stop"), 0);
    assert_int_equal(seen.stop, 0);
}

/* ------------------------------------------------------------ probes */

static void
test_monitor_with_interval_0_is_a_probe(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_CRM_meta_interval", "0", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_int_equal(seen.monitor, 1);
    assert_true(seen.probe);
}

static void
test_recurring_monitor_is_not_a_probe(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_CRM_meta_interval", "10000", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_false(seen.probe);
}

/* Pacemaker passes a probe no interval at all, only its timeout. */
static void
test_monitor_without_interval_is_a_probe(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_CRM_meta_timeout", "20000", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_int_equal(seen.monitor, 1);
    assert_true(seen.probe);
}

static void
test_other_action_with_interval_0_is_not_a_probe(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_CRM_meta_interval", "0", 1);
    assert_int_equal(run_quiet("start"), 0);
    assert_false(seen.probe);
}

/* ------------------------------------------------------------ timeouts */

/* @p v must lie in [lo, hi]; cmocka's range check is unsigned. */
static void
assert_between(long long v, long long lo, long long hi)
{
    if (v < lo || v > hi) {
        fail_msg("%lld is not within [%lld, %lld]", v, lo, hi);
    }
}

static void
test_timeout_comes_from_crm_meta_timeout(void **state)
{
    (void) state;
    configure();
    setenv("OCF_RESKEY_CRM_meta_timeout", "20000", 1);
    assert_int_equal(run_quiet("start"), 0);
    assert_true(seen.timeout_ms == 20000);
    /* 10% margin: 18 s, minus the little time spent getting there */
    assert_between(seen.remaining_ms, 17000, 18000);
}

static void
test_timeout_defaults_to_advertised_timeout(void **state)
{
    (void) state;
    configure();
    assert_int_equal(run_quiet("start"), 0);
    assert_true(seen.timeout_ms == 30000);
    assert_between(seen.remaining_ms, 26000, 27000);
}

static void
test_bad_timeout_falls_back_to_advertised_timeout(void **state)
{
    static const char *const bad[] = {"soon", "-5", "12abc"};

    (void) state;
    configure();
    for (size_t i = 0; i < 3; i++) {
        setenv("OCF_RESKEY_CRM_meta_timeout", bad[i], 1);
        assert_int_equal(run_quiet("stop"), 0);
        assert_true(seen.timeout_ms == 20000);
    }
}

static void
assert_deadline(long long timeout_ms, long long expect_offset)
{
    long long before = vcha_now_ms();
    long long deadline = vcha_deadline_from_timeout(timeout_ms);
    long long after = vcha_now_ms();

    assert_between(deadline, before + expect_offset, after + expect_offset);
}

static void
test_deadline_keeps_a_tenth_as_margin(void **state)
{
    (void) state;
    assert_deadline(20000, 18000);
    assert_deadline(40000, 36000);
}

static void
test_deadline_margin_is_at_least_half_a_second(void **state)
{
    (void) state;
    assert_deadline(3000, 2500);
}

static void
test_deadline_margin_is_at_most_five_seconds(void **state)
{
    (void) state;
    assert_deadline(100000, 95000);
    assert_deadline(600000, 595000);
}

static void
test_deadline_short_timeouts_keep_half(void **state)
{
    (void) state;
    assert_deadline(600, 300);
    assert_deadline(0, 0);
}

static void
test_remaining_ms_never_below_1(void **state)
{
    struct vcha_agent a = {.deadline_ms = vcha_now_ms() - 5000};

    (void) state;
    assert_true(vcha_agent_remaining_ms(&a) == 1);
    a.deadline_ms = vcha_now_ms();
    assert_true(vcha_agent_remaining_ms(&a) == 1);
}

static void
test_remaining_ms_counts_down(void **state)
{
    struct vcha_agent a = {.deadline_ms = vcha_now_ms() + 10000};

    (void) state;
    assert_between(vcha_agent_remaining_ms(&a), 9900, 10000);
}

/* ------------------------------------------------------------ node name */

static void
test_node_name(void **state)
{
    struct vcha_agent a = {.deadline_ms = vcha_now_ms() + 10000};
    char buf[256], *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    struct utsname un;

    (void) state;
    a.clone.on_node = "node7";
    vcha_agent_node_name(&a, buf, sizeof(buf));
    assert_string_equal(buf, "node7");
    /* no Pacemaker's name, no crm_node: the kernel's */
    a.clone.on_node = NULL;
    setenv("PATH", "/nonexistent", 1);
    vcha_agent_node_name(&a, buf, sizeof(buf));
    assert_int_equal(uname(&un), 0);
    assert_string_equal(buf, un.nodename);
    if (path != NULL) {
        setenv("PATH", path, 1);
    }
    free(path);
}

/* ------------------------------------------------------------ fail */

static void
test_agent_fail_sets_reason_and_returns_code(void **state)
{
    struct vcha_agent a = {0};

    (void) state;
    assert_int_equal(
        vcha_agent_fail(&a, VCHA_ERR_PERM, "cannot write %s", "/etc/x"),
        VCHA_ERR_PERM);
    assert_string_equal(a.reason, "cannot write /etc/x");
    assert_int_equal(vcha_agent_fail(&a, VCHA_NOT_RUNNING, "gone"),
                     VCHA_NOT_RUNNING);
    assert_string_equal(a.reason, "gone");
}

static void
test_agent_fail_truncates_long_reason(void **state)
{
    struct vcha_agent a = {0};
    char *longtext = malloc(5000);

    (void) state;
    assert_non_null(longtext);
    memset(longtext, 'r', 4999);
    longtext[4999] = '\0';
    vcha_agent_fail(&a, VCHA_ERR_GENERIC, "%s", longtext);
    assert_int_equal(strlen(a.reason), sizeof(a.reason) - 1);
    free(longtext);
}

static void
test_agent_accessors_without_parameters(void **state)
{
    struct vcha_agent a = {0};

    (void) state;
    assert_null(vcha_agent_str(&a, 0));
    assert_true(vcha_agent_num(&a, 0) == 0);
}

/* ------------------------------------------------------------ clones */

/* An instance of a promotable clone, as Pacemaker runs it. */
static void
configure_promotable(void)
{
    configure();
    running = &promotable_agent;
    setenv("OCF_RESOURCE_INSTANCE", "st:1", 1);
    setenv("OCF_RESKEY_CRM_meta_clone", "1", 1);
    setenv("OCF_RESKEY_CRM_meta_clone_max", "2", 1);
    setenv("OCF_RESKEY_CRM_meta_promoted_max", "1", 1);
    setenv("OCF_RESKEY_CRM_meta_notify", "true", 1);
}

static void
test_handler_sees_clone_meta_attributes(void **state)
{
    (void) state;
    configure_promotable();
    assert_int_equal(run_quiet("promote"), 0);
    assert_int_equal(seen.promote, 1);
    assert_int_equal(seen.clone.instance, 1);
    assert_int_equal(seen.clone.clone_max, 2);
    assert_int_equal(seen.clone.promoted_max, 1);
    assert_true(seen.clone.notify);
    assert_true(vcha_clone_is_promotable(&seen.clone));
    assert_true(seen.timeout_ms == 12000);
}

static void
test_malformed_clone_meta_is_ignored(void **state)
{
    (void) state;
    configure_promotable();
    setenv("OCF_RESKEY_CRM_meta_clone_max", "many", 1);
    assert_int_equal(run_quiet("promote"), 0);
    assert_int_equal(seen.clone.clone_max, -1);
    assert_int_equal(seen.clone.instance, 1);
}

/* Each role's monitor row: its own default timeout. */
static void
test_monitor_row_of_the_role(void **state)
{
    (void) state;
    configure_promotable();
    setenv("OCF_RESKEY_CRM_meta_interval", "5000", 1);
    setenv("OCF_RESKEY_CRM_meta_role", "Promoted", 1);
    assert_int_equal(run_quiet("monitor"), 8);
    assert_true(seen.timeout_ms == 15000);
    assert_int_equal(seen.clone.role, VCHA_ROLE_PROMOTED);

    setenv("OCF_RESKEY_CRM_meta_interval", "7000", 1);
    setenv("OCF_RESKEY_CRM_meta_role", "Slave", 1);
    assert_int_equal(run_quiet("monitor"), 0);
    assert_true(seen.timeout_ms == 25000);
    assert_int_equal(seen.clone.role, VCHA_ROLE_UNPROMOTED);

    /* a probe names no role: the first row */
    unsetenv("OCF_RESKEY_CRM_meta_interval");
    unsetenv("OCF_RESKEY_CRM_meta_role");
    assert_int_equal(run_quiet("monitor"), 0);
    assert_true(seen.timeout_ms == 15000);
    assert_true(seen.probe);
}

static void
test_failed_promoted_monitor_returns_9(void **state)
{
    struct output o;

    (void) state;
    configure_promotable();
    setenv("OCF_RESKEY_CRM_meta_interval", "5000", 1);
    setenv("OCF_RESKEY_CRM_meta_role", "Promoted", 1);
    seen.monitor_result = VCHA_ERR_GENERIC;
    assert_int_equal(run("monitor", &o), 9);
    output_free(&o);
}

static void
test_notify_handler_gets_the_notification(void **state)
{
    (void) state;
    configure_promotable();
    setenv("OCF_RESKEY_CRM_meta_notify_type", "post", 1);
    setenv("OCF_RESKEY_CRM_meta_notify_operation", "promote", 1);
    setenv("OCF_RESKEY_CRM_meta_notify_promote_uname", "node2 ", 1);
    assert_int_equal(run_quiet("notify"), 0);
    assert_int_equal(seen.notify, 1);
    assert_int_equal(seen.notify_type, VCHA_NOTIFY_POST);
    assert_int_equal(seen.notify_operation, VCHA_NOTIFY_PROMOTE);
    assert_true(seen.notify_names_node2);
    assert_true(seen.timeout_ms == 6000);
}

static void
test_malformed_notification_fails_with_reason(void **state)
{
    struct output o;

    (void) state;
    configure_promotable();
    setenv("OCF_RESKEY_CRM_meta_notify_type", "later", 1);
    setenv("OCF_RESKEY_CRM_meta_notify_operation", "promote", 1);
    assert_int_equal(run("notify", &o), 1);
    assert_int_equal(seen.notify, 0);
    assert_exit_reason(&o, "notification type 'later' is not pre or post");
    output_free(&o);
}

/* A notify with no notification (as ocf-tester sends): success, and the
 * agent's notify is not called. */
static void
test_notify_without_notification_succeeds(void **state)
{
    struct output o;

    (void) state;
    configure_promotable();
    assert_int_equal(run("notify", &o), 0);
    assert_int_equal(seen.notify, 0);
    output_free(&o);
}

/* Meta-data lists both monitors with their roles; usage names it once. */
static void
test_meta_data_and_usage_of_role_rows(void **state)
{
    struct output o;
    const char *at;

    (void) state;
    configure_promotable();
    assert_int_equal(run("meta-data", &o), 0);
    at = strstr(o.out, "<action name=\"monitor\" timeout=\"15s\" "
                       "interval=\"5s\" depth=\"0\" role=\"Promoted\"/>");
    assert_non_null(at);
    assert_non_null(strstr(at, "<action name=\"monitor\" timeout=\"25s\" "
                               "interval=\"7s\" depth=\"0\" "
                               "role=\"Unpromoted\"/>"));
    assert_non_null(strstr(o.out, "<action name=\"notify\" timeout=\"6s\"/>"));
    output_free(&o);
    assert_int_equal(run("usage", &o), 0);
    assert_non_null(strstr(o.out, "{start|stop|monitor|promote|demote|notify|"
                                  "validate-all|meta-data|usage}"));
    output_free(&o);
}

#define T(test) cmocka_unit_test_setup(test, reset)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_unknown_action_returns_3_and_calls_nothing),
        T(test_no_action_returns_2_with_usage_on_stderr),
        T(test_usage_actions_print_usage_and_return_0),
        T(test_meta_data_adds_the_runtime_actions_last),
        T(test_bad_action_tables_abort),
        T(test_start_runs_its_handler),
        T(test_handler_sees_parsed_parameters),
        T(test_handler_sees_instance_and_check_level),
        T(test_bad_check_level_is_ignored),
        T(test_handler_result_becomes_ocf_code),
        T(test_handler_failure_prints_exit_reason),
        T(test_action_without_handler_returns_3),
        T(test_closed_stdin_is_reopened),
        T(test_meta_data_prints_xml_and_returns_0),
        T(test_meta_data_works_with_broken_environment),
        T(test_validate_all_level_0_skips_level_10),
        T(test_validate_all_level_10_runs_both_levels),
        T(test_validate_all_level_10_failure_is_reported),
        T(test_validate_all_level_0_failure_skips_level_10),
        T(test_validate_all_missing_parameter_returns_6),
        T(test_missing_required_parameter_returns_6_naming_it),
        T(test_bad_parameter_value_returns_6_naming_it),
        T(test_level_0_validate_failure_stops_the_action),
        T(test_probe_with_bad_configuration_is_not_running),
        T(test_recurring_monitor_with_bad_configuration_returns_6),
        T(test_stop_with_bad_configuration_succeeds),
        T(test_stop_with_failing_level_0_validate_succeeds),
        T(test_monitor_with_interval_0_is_a_probe),
        T(test_recurring_monitor_is_not_a_probe),
        T(test_monitor_without_interval_is_a_probe),
        T(test_other_action_with_interval_0_is_not_a_probe),
        T(test_timeout_comes_from_crm_meta_timeout),
        T(test_timeout_defaults_to_advertised_timeout),
        T(test_bad_timeout_falls_back_to_advertised_timeout),
        T(test_deadline_keeps_a_tenth_as_margin),
        T(test_deadline_margin_is_at_least_half_a_second),
        T(test_deadline_margin_is_at_most_five_seconds),
        T(test_deadline_short_timeouts_keep_half),
        T(test_remaining_ms_never_below_1),
        T(test_node_name),
        T(test_remaining_ms_counts_down),
        T(test_agent_fail_sets_reason_and_returns_code),
        T(test_agent_fail_truncates_long_reason),
        T(test_agent_accessors_without_parameters),
        T(test_handler_sees_clone_meta_attributes),
        T(test_malformed_clone_meta_is_ignored),
        T(test_monitor_row_of_the_role),
        T(test_failed_promoted_monitor_returns_9),
        T(test_notify_handler_gets_the_notification),
        T(test_malformed_notification_fails_with_reason),
        T(test_notify_without_notification_succeeds),
        T(test_meta_data_and_usage_of_role_rows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
