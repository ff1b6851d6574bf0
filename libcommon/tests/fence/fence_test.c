/* Unit tests for libcommon/runtime/fence.c: the FenceAgentAPI runtime. */
#include <config.h>

#include <errno.h>
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <vcha/clock.h>
#include <vcha/fence.h>
#include <vcha/log.h>

#include "../test-util.h"
#include "../test-xml.h"

/* ------------------------------------------------------------ the agent */

/*
 * What the run callback does.  Set by a test before the worker starts; the
 * worker inherits it.  The worker cannot change the test's memory, so it
 * appends what it was asked to a file (record_path) instead.
 */
static struct {
    enum vcha_fence_rc rc;
    long long sleep_ms;
    bool crash;
    const char *print;  /* to stdout */
    const char *reason; /* given with vcha_fence_fail */
    int grandchild_fd;  /* >= 0: start a grandchild, write its pid here */
    bool signal_parent; /* SIGUSR1 to the test while it waits */
    const char *log;    /* an info message */
    bool acts;          /* record "acted" after the sleep: a power command */
    bool unkillable;    /* out of reach of the agent's kill and alarm */
} script;

static int validate_calls; /* the validate hook runs in the test process */
static char *tmpdir;
static char *record_path;

static const char *const modes[] = {"fast", "slow", NULL};

static const struct vcha_fence_opt agent_opts[] = {
    {{.name = "user", .shortdesc = "User to log in as"},
     'l',
     "[name]",
     "login"},
    {{.name = "user_file", .shortdesc = "File with more users"},
     0,
     "[filename]",
     NULL},
    {{.name = "mode",
      .type = VCHA_PT_SELECT,
      .dflt = "fast",
      .options = modes,
      .shortdesc = "How to power off"},
     'm',
     "[mode]",
     NULL},
    {{.name = "dry_run",
      .type = VCHA_PT_BOOLEAN,
      .dflt = "0",
      .shortdesc = "Only pretend"},
     'y',
     NULL,
     NULL},
    {{.name = "retries",
      .type = VCHA_PT_INTEGER,
      .dflt = "3",
      .min = 0,
      .max = 10,
      .shortdesc = "Attempts - at most 10"},
     0,
     "[count]",
     NULL},
};

#define N_AGENT_OPTS (sizeof(agent_opts) / sizeof(agent_opts[0]))

static int
agent_validate(struct vcha_fence *f)
{
    const char *user = vcha_fence_str(f, "user");

    validate_calls++;
    if (user != NULL && strcmp(user, "root") == 0) {
        vcha_fence_fail(f, "user root is not allowed");
        return -EINVAL;
    }
    return 0;
}

/* Append one line saying what the worker was asked. */
static void
record(struct vcha_fence *f)
{
    FILE *out = fopen(record_path, "ae");
    const char *plug = vcha_fence_str(f, "plug");
    const char *user = vcha_fence_str(f, "user");

    if (out == NULL) {
        return;
    }
    fprintf(out,
            "%s plug=%s user=%s mode=%s dry_run=%lld retries=%lld "
            "own_group=%d left=%lld pid=%d\n",
            vcha_fence_action_name(f->action), plug ? plug : "-",
            user ? user : "-", vcha_fence_str(f, "mode"),
            vcha_fence_num(f, "dry_run"), vcha_fence_num(f, "retries"),
            getpgid(0) == getpid(), f->deadline_ms - vcha_now_ms(),
            (int) getpid());
    fclose(out);
}

/* Append "acted": what a real agent's late power command would be. */
static void
record_acted(void)
{
    FILE *out = fopen(record_path, "ae");

    if (out != NULL) {
        fputs("acted\n", out);
        fclose(out);
    }
}

/*
 * Stand in for a worker stuck where no signal reaches it (uninterruptible
 * sleep) for @p ms: ignore the alarm and stay out of the process group the
 * agent kills (again and again: the agent's own setpgid() after fork() may
 * come after ours).
 */
static void
sleep_unkillable(long long ms)
{
    long long end = vcha_now_ms() + ms;

    signal(SIGALRM, SIG_IGN);
    while (vcha_now_ms() < end) {
        setpgid(0, getpgid(getppid()));
        vcha_sleep_ms(10);
    }
}

static void
start_grandchild(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        for (;;) {
            pause();
        }
    }
    (void) !write(script.grandchild_fd, &pid, sizeof(pid));
}

static void
crash(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none); /* no core file in the build tree */
    raise(SIGABRT);
}

static enum vcha_fence_rc
agent_run(struct vcha_fence *f)
{
    record(f);
    if (script.grandchild_fd >= 0) {
        start_grandchild();
    }
    if (script.signal_parent) {
        vcha_sleep_ms(100); /* let the test reach poll() */
        kill(getppid(), SIGUSR1);
    }
    if (script.unkillable) {
        sleep_unkillable(script.sleep_ms);
    } else {
        vcha_sleep_ms(script.sleep_ms);
    }
    if (script.acts) {
        record_acted();
    }
    if (script.crash) {
        crash();
    }
    if (script.print != NULL) {
        fputs(script.print, stdout);
    }
    if (script.log != NULL) {
        vcha_info("%s", script.log);
    }
    if (script.reason != NULL) {
        vcha_fence_fail(f, "%s", script.reason);
    }
    /*
     * The worker _exit()s with libqb's log filters still allocated, which
     * valgrind (it follows fork) would count as lost in the worker.
     */
    vcha_log_fini();
    return script.rc;
}

static const struct vcha_fence_agent agent = {
    .name = "fence_test",
    .shortdesc = "Test fence agent - for the unit tests",
    .longdesc = "Powers nothing: it records what it was asked (see "
                "C:\\fence\\log).",
    .vendor_url = "https://example.org/fence-test",
    .opts = agent_opts,
    .n_opts = N_AGENT_OPTS,
    .validate = agent_validate,
    .run = agent_run,
};

/* All the option names, common ones first, as in the table. */
static const char *const all_names[] = {
    "action",         "plug",      "delay",      "power_timeout", "power_wait",
    "missing_as_off", "verbose",   "debug_file", "version",       "help",
    "user",           "user_file", "mode",       "dry_run",       "retries",
};

#define N_ALL (sizeof(all_names) / sizeof(all_names[0]))

/* ------------------------------------------------------------ helpers */

static const char *const env_vars[] = {
    "HA_LOGFILE", "HA_LOGFACILITY", "HA_LOGTAG", "HA_debug", "POSIXLY_CORRECT",
};

static int
group_setup(void **state)
{
    (void) state;
    tmpdir = test_tmpdir_new();
    record_path = tmpdir ? test_path(tmpdir, "record") : NULL;
    return record_path != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void) state;
    free(record_path);
    test_tmpdir_remove(tmpdir);
    xmlCleanupParser();
    return 0;
}

static int
reset(void **state)
{
    (void) state;
    memset(&script, 0, sizeof(script));
    script.grandchild_fd = -1;
    validate_calls = 0;
    unlink(record_path);
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
        unsetenv(env_vars[i]);
    }
    return 0;
}

/* What the workers recorded so far ("" when none ran); free(). */
static char *
recorded(void)
{
    char *text = test_slurp(record_path);

    return text != NULL ? text : strdup("");
}

static void
assert_recorded(const char *expect_prefix)
{
    char *text = recorded();

    if (strncmp(text, expect_prefix, strlen(expect_prefix)) != 0) {
        fail_msg("the worker recorded '%s', not '%s...'", text, expect_prefix);
    }
    free(text);
}

static void
assert_not_run(void)
{
    char *text = recorded();

    if (*text != '\0') {
        fail_msg("the worker ran: %s", text);
    }
    free(text);
}

static void
assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        fail_msg("'%s' not found in:\n%s", needle, text);
    }
}

static void
assert_starts_with(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0) {
        fail_msg("'%s' does not start with '%s'", text, prefix);
    }
}

/* @p v must lie in [lo, hi]; cmocka's range check is unsigned. */
static void
assert_between(long long v, long long lo, long long hi)
{
    if (v < lo || v > hi) {
        fail_msg("%lld is not within [%lld, %lld]", v, lo, hi);
    }
}

/* Index of option @p name in f->opts. */
static size_t
index_of(const struct vcha_fence *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->opts[i]->p.name, name) == 0) {
            return i;
        }
    }
    fail_msg("no option %s", name);
    return 0;
}

/* The text given for @p name (NULL: not given). */
static const char *
given(const struct vcha_fence *f, const char *name)
{
    return f->values[index_of(f, name)];
}

static void
assert_given(const struct vcha_fence *f, const char *name, const char *expect)
{
    const char *v = given(f, name);

    if (v == NULL || strcmp(v, expect) != 0) {
        fail_msg("%s is '%s', not '%s'", name, v ? v : "(not given)", expect);
    }
}

/* A new invocation with @p text read as stdin. */
static void
from_stdin(struct vcha_fence *f, const char *text)
{
    assert_int_equal(vcha_fence_init(f, &agent), 0);
    assert_int_equal(vcha_fence_parse_stdin(f, text), 0);
}

/* Parse @p text, validate, and expect @p reason (NULL: success). */
static void
assert_validate(const char *text, const char *reason)
{
    struct vcha_fence f;
    int rc;

    from_stdin(&f, text);
    rc = vcha_fence_validate(&f);
    if (reason == NULL && rc != 0) {
        fail_msg("validate failed: %s", f.reason);
    }
    if (reason != NULL) {
        assert_int_equal(rc, -EINVAL);
        assert_starts_with(f.reason, reason);
    }
    vcha_fence_clear(&f);
}

/* Parse a NULL-terminated argument list (argv[0] is added). */
static int
parse_argv(struct vcha_fence *f, const char *first, ...)
{
    char *argv[32] = {"fence_test"};
    int argc = 1;
    va_list ap;

    assert_int_equal(vcha_fence_init(f, &agent), 0);
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return vcha_fence_parse_args(f, argc, argv);
}

/* ------------------------------------------------------------ init */

static void
test_init_has_common_then_agent_options(void **state)
{
    struct vcha_fence f;

    (void) state;
    memset(&f, 0xa5, sizeof(f)); /* init must not rely on a zeroed struct */
    assert_int_equal(vcha_fence_init(&f, &agent), 0);
    assert_ptr_equal(f.agent, &agent);
    assert_int_equal(f.n, N_ALL);
    for (size_t i = 0; i < N_ALL; i++) {
        assert_string_equal(f.opts[i]->p.name, all_names[i]);
        assert_null(f.values[i]);
    }
    assert_ptr_equal(f.opts[N_ALL - N_AGENT_OPTS], &agent_opts[0]);
    assert_null(f.params);
    assert_string_equal(f.reason, "");
    vcha_fence_clear(&f);
}

/* An agent with @p n generated options; free with big_agent_free(). */
static struct vcha_fence_agent *
big_agent_new(size_t n)
{
    struct vcha_fence_agent *a = calloc(1, sizeof(*a));
    struct vcha_fence_opt *opts = calloc(n, sizeof(*opts));
    static const char letters[] = "ABCEFGHIJKLMNOPQRSTU"; /* no D, V */

    assert_non_null(a);
    assert_non_null(opts);
    for (size_t i = 0; i < n; i++) {
        char *name = NULL;

        assert_true(asprintf(&name, "generated_%02zu", i) > 0);
        opts[i].p.name = name;
        opts[i].p.shortdesc = "Generated";
        opts[i].short_opt = i < 20 ? letters[i] : 0;
        opts[i].arg = i % 2 ? "[value]" : NULL;
    }
    *a = agent;
    a->opts = opts;
    a->n_opts = n;
    return a;
}

static void
big_agent_free(struct vcha_fence_agent *a)
{
    for (size_t i = 0; i < a->n_opts; i++) {
        free((char *) a->opts[i].p.name);
    }
    free((void *) a->opts);
    free(a);
}

static void
test_init_too_many_options_is_e2big(void **state)
{
    size_t room = VCHA_FENCE_MAX_OPTS - (N_ALL - N_AGENT_OPTS);
    struct vcha_fence_agent *fits = big_agent_new(room);
    struct vcha_fence_agent *over = big_agent_new(room + 1);
    struct vcha_fence f;

    (void) state;
    assert_int_equal(vcha_fence_init(&f, fits), 0);
    assert_int_equal(f.n, VCHA_FENCE_MAX_OPTS);
    vcha_fence_clear(&f);
    assert_int_equal(vcha_fence_init(&f, over), -E2BIG);
    vcha_fence_clear(&f); /* safe after a failed init */
    big_agent_free(fits);
    big_agent_free(over);
}

static void
test_most_options_parse_and_print(void **state)
{
    size_t room = VCHA_FENCE_MAX_OPTS - (N_ALL - N_AGENT_OPTS);
    struct vcha_fence_agent *big = big_agent_new(room);
    char *argv[] = {"fence_big",        "-A", "-B",   "x",
                    "--generated-37=y", "-o", "list", NULL};
    struct vcha_fence f;
    char *xml = NULL;
    FILE *null = fopen("/dev/null", "we");

    (void) state;
    assert_int_equal(vcha_fence_init(&f, big), 0);
    assert_int_equal(vcha_fence_parse_args(&f, 7, argv), 0);
    assert_given(&f, "generated_00", "1");
    assert_given(&f, "generated_01", "x");
    assert_given(&f, "generated_37", "y");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(vcha_fence_metadata(&f, &xml), 0);
    assert_contains(xml, "<parameter name=\"generated_37\"");
    vcha_fence_usage(&f, null);
    vcha_fence_manpage(&f, null);
    fclose(null);
    free(xml);
    vcha_fence_clear(&f);
    big_agent_free(big);
}

/* ------------------------------------------------------------ stdin */

static void
test_stdin_simple_lines(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "action=off\nplug=node1\nuser=bob\n");
    assert_given(&f, "action", "off");
    assert_given(&f, "plug", "node1");
    assert_given(&f, "user", "bob");
    assert_null(given(&f, "delay"));
    vcha_fence_clear(&f);
}

static void
test_stdin_skips_comments_and_blank_lines(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "# plug=commented\n\n\n   \t\n  # plug=indented\n"
                   "plug=node1\n#action=on\n");
    assert_given(&f, "plug", "node1");
    assert_null(given(&f, "action"));
    vcha_fence_clear(&f);
}

static void
test_stdin_trims_leading_blanks_and_trailing_space(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "   plug=node1 \r\n\taction=off\t\r\nuser=a b  \n");
    assert_given(&f, "plug", "node1");
    assert_given(&f, "action", "off");
    assert_given(&f, "user", "a b"); /* inner blanks stay */
    vcha_fence_clear(&f);
}

static void
test_stdin_last_line_without_newline(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "action=on\r\nplug=node9");
    assert_given(&f, "action", "on");
    assert_given(&f, "plug", "node9");
    vcha_fence_clear(&f);
}

static void
test_stdin_last_value_wins(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=a\naction=on\nplug=b\nplug=c\n");
    assert_given(&f, "plug", "c");
    assert_given(&f, "action", "on");
    vcha_fence_clear(&f);
}

static void
test_stdin_ignores_unknown_keys(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "nodename=node1\npcmk_host_list=a b\nplug=x\nACTION=on\n");
    assert_given(&f, "plug", "x");
    assert_null(given(&f, "action")); /* keys are case-sensitive */
    for (size_t i = 0; i < f.n; i++) {
        if (f.values[i] != NULL) {
            assert_string_equal(f.opts[i]->p.name, "plug");
        }
    }
    vcha_fence_clear(&f);
}

static void
test_stdin_obsolete_names_count_as_new_ones(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "port=node2\noption=status\nlogin=bob\n");
    assert_given(&f, "plug", "node2");
    assert_given(&f, "action", "status");
    assert_given(&f, "user", "bob");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(f.action, VCHA_FENCE_STATUS);
    assert_string_equal(vcha_fence_str(&f, "plug"), "node2");
    vcha_fence_clear(&f);
}

static void
test_stdin_old_and_new_name_last_wins(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=a\nport=b\naction=on\noption=off\n");
    assert_given(&f, "plug", "b");
    assert_given(&f, "action", "off");
    vcha_fence_clear(&f);
    from_stdin(&f, "port=b\nplug=a\n");
    assert_given(&f, "plug", "a");
    vcha_fence_clear(&f);
}

static void
test_stdin_line_without_equals_is_ignored(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug\nverbose\nthis is no option\naction=on\n");
    assert_null(given(&f, "plug"));
    assert_null(given(&f, "verbose"));
    assert_given(&f, "action", "on");
    vcha_fence_clear(&f);
}

static void
test_stdin_value_may_contain_equals(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "user=a=b=c\nplug==x\n");
    assert_given(&f, "user", "a=b=c");
    assert_given(&f, "plug", "=x");
    vcha_fence_clear(&f);
}

static void
test_stdin_line_starting_with_equals_is_ignored(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "=off\n  =\n=\n");
    for (size_t i = 0; i < f.n; i++) {
        assert_null(f.values[i]);
    }
    vcha_fence_clear(&f);
}

static void
test_stdin_empty_value_means_default(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=n1\ndelay=\nmode=  \n");
    assert_given(&f, "delay", "");
    assert_given(&f, "mode", "");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_true(vcha_fence_num(&f, "delay") == 0);
    assert_string_equal(vcha_fence_str(&f, "mode"), "fast");
    vcha_fence_clear(&f);
}

static void
test_stdin_empty_plug_is_missing(void **state)
{
    (void) state;
    assert_validate("plug=\n",
                    "parameter 'plug' (or 'port') is required for reboot");
}

static void
test_stdin_key_prefix_is_not_another_key(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "user_file=/etc/users\nuse=x\nusers=y\nuser_=z\n");
    assert_given(&f, "user_file", "/etc/users");
    assert_null(given(&f, "user"));
    vcha_fence_clear(&f);
    from_stdin(&f, "user=bob\nplu=x\npower=1\n");
    assert_given(&f, "user", "bob");
    assert_null(given(&f, "user_file"));
    assert_null(given(&f, "plug"));
    assert_null(given(&f, "power_timeout"));
    assert_null(given(&f, "power_wait"));
    vcha_fence_clear(&f);
}

static void
test_stdin_blank_before_equals_is_another_key(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug =x\n");
    assert_null(given(&f, "plug"));
    vcha_fence_clear(&f);
}

static void
test_stdin_empty_text(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "");
    for (size_t i = 0; i < f.n; i++) {
        assert_null(f.values[i]);
    }
    vcha_fence_clear(&f);
    from_stdin(&f, "\n\n\r\n");
    vcha_fence_clear(&f);
}

static void
test_stdin_huge_input(void **state)
{
    size_t len = 4 * 1024 * 1024;
    char *text = malloc(len + 64);
    struct vcha_fence f;

    (void) state;
    assert_non_null(text);
    for (size_t i = 0; i < len; i += 64) {
        memcpy(text + i, "# ", 2);
        memset(text + i + 2, 'c', 61);
        text[i + 63] = '\n';
    }
    strcpy(text + len, "plug=node1\n");
    from_stdin(&f, text);
    assert_given(&f, "plug", "node1");
    vcha_fence_clear(&f);
    free(text);
}

static void
test_stdin_huge_value_is_refused_by_validate(void **state)
{
    size_t len = 1024 * 1024;
    char *text = malloc(len + 16);
    struct vcha_fence f;

    (void) state;
    assert_non_null(text);
    strcpy(text, "plug=");
    memset(text + 5, 'p', len);
    strcpy(text + 5 + len, "\n");
    from_stdin(&f, text);
    assert_int_equal(strlen(given(&f, "plug")), len);
    assert_int_equal(vcha_fence_validate(&f), -EINVAL);
    assert_string_equal(f.reason, "parameter 'plug' is longer than 4096 bytes");
    vcha_fence_clear(&f);
    free(text);
}

static void
test_stdin_non_utf8_is_refused_by_validate(void **state)
{
    (void) state;
    assert_validate("plug=n1\nuser=b\xff\xfe\n",
                    "parameter 'user' is not valid UTF-8 (byte 1)");
    assert_validate("plug=n\xc3\x28\n",
                    "parameter 'plug' is not valid UTF-8 (byte 1)");
    assert_validate("plug=n1\nuser=a\x01z\n",
                    "parameter 'user' contains a control character (byte 1)");
    /* valid UTF-8 is fine */
    assert_validate("plug=n\xc3\xa9ud\n", NULL);
}

static void
test_stdin_non_utf8_key_is_unknown(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "pl\xffug=x\n\xff\xfe=\xff\nplug=ok\n");
    assert_given(&f, "plug", "ok");
    assert_int_equal(vcha_fence_validate(&f), 0);
    vcha_fence_clear(&f);
}

/* ------------------------------------------------------------ getopt */

static void
test_args_short_forms(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, "-o", "off", "-n", "node1", "-l", "bob",
                                "-m", "slow", "-y", "-v", "-D", "/tmp/log",
                                NULL),
                     0);
    assert_given(&f, "action", "off");
    assert_given(&f, "plug", "node1");
    assert_given(&f, "user", "bob");
    assert_given(&f, "mode", "slow");
    assert_given(&f, "dry_run", "1");
    assert_given(&f, "verbose", "1");
    assert_given(&f, "debug_file", "/tmp/log");
    assert_null(given(&f, "delay"));
    vcha_fence_clear(&f);
}

static void
test_args_short_joined_and_grouped(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, "-ooff", "-nnode1", "-yvlbob", NULL), 0);
    assert_given(&f, "action", "off");
    assert_given(&f, "plug", "node1");
    assert_given(&f, "dry_run", "1");
    assert_given(&f, "verbose", "1");
    assert_given(&f, "user", "bob");
    vcha_fence_clear(&f);
}

static void
test_args_long_forms(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, "--action=off", "--plug", "node1",
                                "--user=bob", "--mode", "slow", "--dry-run",
                                "--power-timeout=30s", "--power-wait", "2",
                                "--missing-as-off", "--user-file=/etc/u",
                                "--retries", "5", "--delay=1", NULL),
                     0);
    assert_given(&f, "action", "off");
    assert_given(&f, "plug", "node1");
    assert_given(&f, "user", "bob");
    assert_given(&f, "mode", "slow");
    assert_given(&f, "dry_run", "1");
    assert_given(&f, "power_timeout", "30s");
    assert_given(&f, "power_wait", "2");
    assert_given(&f, "missing_as_off", "1");
    assert_given(&f, "user_file", "/etc/u");
    assert_given(&f, "retries", "5");
    assert_given(&f, "delay", "1");
    vcha_fence_clear(&f);
}

static void
test_args_last_value_wins(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, "-n", "a", "--plug=b", "-n", "c", NULL), 0);
    assert_given(&f, "plug", "c");
    vcha_fence_clear(&f);
}

static void
test_args_empty_argument(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, "--plug=", "-o", "", NULL), 0);
    assert_given(&f, "plug", "");
    assert_given(&f, "action", "");
    assert_int_equal(vcha_fence_validate(&f), -EINVAL); /* reboot, no plug */
    assert_string_equal(f.reason,
                        "parameter 'plug' (or 'port') is required for reboot");
    vcha_fence_clear(&f);
}

static void
assert_args_fail(const char *reason, const char *first, ...)
{
    char *argv[16] = {"fence_test"};
    int argc = 1;
    struct vcha_fence f;
    va_list ap;

    assert_int_equal(vcha_fence_init(&f, &agent), 0);
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    argv[argc] = NULL;
    assert_int_equal(vcha_fence_parse_args(&f, argc, argv), -EINVAL);
    assert_string_equal(f.reason, reason);
    vcha_fence_clear(&f);
}

static void
test_args_unknown_option(void **state)
{
    (void) state;
    assert_args_fail("unknown option: -x", "-x", NULL);
    assert_args_fail("unknown option: --bogus", "-o", "off", "--bogus", NULL);
    assert_args_fail("unknown option: --bogus=1", "--bogus=1", NULL);
    /* an obsolete name is a stdin key, not an option */
    assert_args_fail("unknown option: --port", "--port", "n1", NULL);
    /* a flag takes no argument */
    assert_args_fail("unknown option: --verbose=1", "--verbose=1", NULL);
}

static void
test_args_unknown_option_in_a_group_names_it(void **state)
{
    (void) state;
    assert_args_fail("unknown option: -x", "-vx", NULL);
    assert_args_fail("unknown option: -x", "-xv", NULL);
}

static void
test_args_ambiguous_abbreviation(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_args_fail("unknown option: --power=1", "--power=1", NULL);
    /* an unambiguous abbreviation is getopt_long's usual courtesy */
    assert_int_equal(parse_argv(&f, "--act=on", NULL), 0);
    assert_given(&f, "action", "on");
    vcha_fence_clear(&f);
}

static void
test_args_missing_argument(void **state)
{
    (void) state;
    assert_args_fail("missing argument of option: -o", "-o", NULL);
    assert_args_fail("missing argument of option: --plug", "-o", "off",
                     "--plug", NULL);
    assert_args_fail("missing argument of option: -l", "-yl", NULL);
}

static void
test_args_stray_positional_argument(void **state)
{
    (void) state;
    assert_args_fail("unexpected argument: node1", "-o", "off", "node1", NULL);
    assert_args_fail("unexpected argument: node1", "node1", "-o", "off", NULL);
    assert_args_fail("unexpected argument: off", "--", "off", NULL);
}

static void
test_args_parse_again_after_an_error(void **state)
{
    struct vcha_fence f;

    (void) state;
    /* getopt stops inside "-xV"; nothing of it may leak into the next run */
    assert_args_fail("unknown option: -x", "-xV", NULL);
    assert_int_equal(parse_argv(&f, "-o", "off", NULL), 0);
    assert_null(given(&f, "version"));
    assert_given(&f, "action", "off");
    vcha_fence_clear(&f);
}

static void
test_args_only_program_name(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_int_equal(parse_argv(&f, NULL), 0);
    for (size_t i = 0; i < f.n; i++) {
        assert_null(f.values[i]);
    }
    vcha_fence_clear(&f);
}

/* The same settings through stdin and through getopt. */
static void
test_stdin_and_args_give_the_same_values(void **state)
{
    struct vcha_fence in, args;

    (void) state;
    from_stdin(&in, "action=off\nport=node1\nlogin=bob\nmode=slow\n"
                    "dry_run=1\nretries=5\ndelay=2\npower_timeout=30s\n"
                    "power_wait=500ms\nmissing_as_off=1\nverbose=1\n"
                    "debug_file=/tmp/x\nuser_file=/etc/u\n");
    assert_int_equal(parse_argv(&args, "-o", "off", "-n", "node1", "-l", "bob",
                                "-m", "slow", "-y", "--retries=5", "--delay",
                                "2", "--power-timeout=30s",
                                "--power-wait=500ms", "--missing-as-off", "-v",
                                "-D", "/tmp/x", "--user-file", "/etc/u", NULL),
                     0);
    assert_int_equal(vcha_fence_validate(&in), 0);
    assert_int_equal(vcha_fence_validate(&args), 0);
    assert_int_equal(in.action, args.action);
    for (size_t i = 0; i < N_ALL; i++) {
        const char *a = vcha_fence_str(&in, all_names[i]);
        const char *b = vcha_fence_str(&args, all_names[i]);

        if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
            fail_msg("%s: '%s' from stdin, '%s' from getopt", all_names[i],
                     a ? a : "(null)", b ? b : "(null)");
        }
        assert_true(vcha_fence_num(&in, all_names[i]) ==
                    vcha_fence_num(&args, all_names[i]));
    }
    vcha_fence_clear(&in);
    vcha_fence_clear(&args);
}

/* ------------------------------------------------------------ validate */

static void
test_validate_fills_defaults(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=n1\n");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(f.action, VCHA_FENCE_REBOOT);
    assert_string_equal(vcha_fence_str(&f, "action"), "reboot");
    assert_true(vcha_fence_num(&f, "delay") == 0);
    assert_true(vcha_fence_num(&f, "power_timeout") == 20000);
    assert_true(vcha_fence_num(&f, "power_wait") == 0);
    assert_true(vcha_fence_num(&f, "missing_as_off") == 0);
    assert_true(vcha_fence_num(&f, "verbose") == 0);
    assert_null(vcha_fence_str(&f, "debug_file"));
    assert_null(vcha_fence_str(&f, "user"));
    assert_string_equal(vcha_fence_str(&f, "mode"), "fast");
    assert_true(vcha_fence_num(&f, "retries") == 3);
    assert_true(vcha_fence_num(&f, "dry_run") == 0);
    assert_int_equal(validate_calls, 1);
    vcha_fence_clear(&f);
}

static void
test_validate_type_errors_name_the_parameter(void **state)
{
    (void) state;
    assert_validate("plug=n1\ndelay=soon\n",
                    "parameter 'delay' value 'soon' is not a duration");
    assert_validate("plug=n1\ndelay=2h\n",
                    "parameter 'delay' value '2h' must be between 0ms and "
                    "3600000ms");
    assert_validate("plug=n1\npower_timeout=0\n",
                    "parameter 'power_timeout' value '0' must be between");
    assert_validate("plug=n1\nretries=11\n",
                    "parameter 'retries' value '11' must be between 0 and 10");
    assert_validate("plug=n1\nretries=three\n",
                    "parameter 'retries' value 'three' is not a whole number");
    assert_validate("plug=n1\ndry_run=maybe\n",
                    "parameter 'dry_run' value 'maybe' is not a boolean");
    assert_validate("plug=n1\nverbose=2\n",
                    "parameter 'verbose' value '2' is not a boolean");
    assert_validate("plug=n1\nmode=medium\n",
                    "parameter 'mode' value 'medium' is not one of the "
                    "allowed values");
    assert_int_equal(validate_calls, 0); /* the hook comes last */
}

static void
test_validate_unknown_action(void **state)
{
    (void) state;
    assert_validate("plug=n1\naction=explode\n",
                    "parameter 'action' value 'explode' is not a fence "
                    "action (off, on, reboot, status, list, list-status, "
                    "monitor, metadata, manpage, validate-all)");
    assert_validate("action=\xff\n", "parameter 'action' is not valid UTF-8");
}

static void
test_validate_action_ignores_case(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "action=OFF\nplug=n1\n");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(f.action, VCHA_FENCE_OFF);
    vcha_fence_clear(&f);
}

static void
test_validate_plug_required_only_for_plug_actions(void **state)
{
    (void) state;
    for (int a = 0; a < VCHA_FENCE_N_ACTIONS; a++) {
        const char *name = vcha_fence_action_name(a);
        bool needs = a == VCHA_FENCE_OFF || a == VCHA_FENCE_ON ||
                     a == VCHA_FENCE_REBOOT || a == VCHA_FENCE_STATUS;
        struct vcha_fence f;
        char text[64];
        int rc;

        snprintf(text, sizeof(text), "action=%s\n", name);
        from_stdin(&f, text);
        rc = vcha_fence_validate(&f);
        if (needs) {
            char expect[128];

            snprintf(expect, sizeof(expect),
                     "parameter 'plug' (or 'port') is required for %s", name);
            assert_int_equal(rc, -EINVAL);
            assert_string_equal(f.reason, expect);
        } else {
            if (rc != 0) {
                fail_msg("%s without a plug: %s", name, f.reason);
            }
            assert_int_equal(f.action, a);
        }
        vcha_fence_clear(&f);
    }
}

static void
test_validate_runs_the_agent_hook(void **state)
{
    struct vcha_fence f;

    (void) state;
    assert_validate("plug=n1\nuser=root\n", "user root is not allowed");
    assert_int_equal(validate_calls, 1);
    from_stdin(&f, "plug=n1\nuser=bob\n");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(validate_calls, 2);
    vcha_fence_clear(&f);
}

static void
test_validate_hook_not_called_when_plug_missing(void **state)
{
    (void) state;
    assert_validate("action=off\nuser=root\n",
                    "parameter 'plug' (or 'port') is required for off");
    assert_int_equal(validate_calls, 0);
}

static void
test_validate_without_hook(void **state)
{
    struct vcha_fence_agent bare = agent;
    struct vcha_fence f;

    (void) state;
    bare.validate = NULL;
    assert_int_equal(vcha_fence_init(&f, &bare), 0);
    assert_int_equal(vcha_fence_parse_stdin(&f, "plug=n1\nuser=root\n"), 0);
    assert_int_equal(vcha_fence_validate(&f), 0);
    vcha_fence_clear(&f);
}

static void
test_validate_again_after_changes(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=n1\ndelay=soon\n");
    assert_int_equal(vcha_fence_validate(&f), -EINVAL);
    assert_null(f.params);
    assert_int_equal(vcha_fence_parse_stdin(&f, "delay=5\naction=off\n"), 0);
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_int_equal(vcha_fence_validate(&f), 0); /* no leak when repeated */
    assert_true(vcha_fence_num(&f, "delay") == 5000);
    assert_int_equal(f.action, VCHA_FENCE_OFF);
    vcha_fence_clear(&f);
}

/* ------------------------------------------------------------ str, num */

static void
test_str_and_num(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=n1\ndelay=1min\ndry_run=yes\nmode=slow\n"
                   "retries=7\npower_wait=250ms\n");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_string_equal(vcha_fence_str(&f, "delay"), "1min");
    assert_true(vcha_fence_num(&f, "delay") == 60000);
    assert_true(vcha_fence_num(&f, "power_wait") == 250);
    assert_true(vcha_fence_num(&f, "dry_run") == 1);
    assert_string_equal(vcha_fence_str(&f, "dry_run"), "yes");
    assert_true(vcha_fence_num(&f, "mode") == 1); /* index of "slow" */
    assert_true(vcha_fence_num(&f, "retries") == 7);
    assert_true(vcha_fence_num(&f, "plug") == 0); /* a string */
    vcha_fence_clear(&f);
}

static void
test_str_and_num_of_unknown_names(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "port=n1\nlogin=bob\n");
    assert_int_equal(vcha_fence_validate(&f), 0);
    assert_null(vcha_fence_str(&f, "nosuch"));
    assert_true(vcha_fence_num(&f, "nosuch") == 0);
    /* values are read by their current names only */
    assert_null(vcha_fence_str(&f, "port"));
    assert_null(vcha_fence_str(&f, "login"));
    assert_string_equal(vcha_fence_str(&f, "user"), "bob");
    vcha_fence_clear(&f);
}

static void
test_str_and_num_before_validate(void **state)
{
    struct vcha_fence f;

    (void) state;
    from_stdin(&f, "plug=n1\ndelay=5\n");
    assert_null(vcha_fence_str(&f, "plug"));
    assert_true(vcha_fence_num(&f, "delay") == 0);
    vcha_fence_clear(&f);
    assert_null(vcha_fence_str(&f, "plug")); /* and after clear */
}

/* ------------------------------------------------------------ fail */

static void
test_fail_sets_reason_and_returns_failed(void **state)
{
    struct vcha_fence f = {0};

    (void) state;
    assert_int_equal(
        vcha_fence_fail(&f, "no domain %s at %s", "vm1", "test:///default"),
        VCHA_FENCE_FAILED);
    assert_string_equal(f.reason, "no domain vm1 at test:///default");
    assert_int_equal(vcha_fence_fail(&f, "gone"), VCHA_FENCE_FAILED);
    assert_string_equal(f.reason, "gone");
}

static void
test_fail_truncates_long_reason(void **state)
{
    struct vcha_fence f = {0};
    char *text = malloc(5000);

    (void) state;
    assert_non_null(text);
    memset(text, 'r', 4999);
    text[4999] = '\0';
    vcha_fence_fail(&f, "%s", text);
    assert_int_equal(strlen(f.reason), sizeof(f.reason) - 1);
    free(text);
}

/* ------------------------------------------------------------ action names */

static void
test_action_names(void **state)
{
    static const char *const names[VCHA_FENCE_N_ACTIONS] = {
        "off",         "on",      "reboot",   "status",  "list",
        "list-status", "monitor", "metadata", "manpage", "validate-all",
    };

    (void) state;
    for (int a = 0; a < VCHA_FENCE_N_ACTIONS; a++) {
        assert_string_equal(vcha_fence_action_name(a), names[a]);
    }
}

static void
test_action_name_out_of_range(void **state)
{
    (void) state;
    assert_string_equal(vcha_fence_action_name(VCHA_FENCE_N_ACTIONS),
                        "unknown");
    assert_string_equal(vcha_fence_action_name(VCHA_FENCE_N_ACTIONS + 1000),
                        "unknown");
    assert_string_equal(vcha_fence_action_name((enum vcha_fence_action) - 1),
                        "unknown");
}

/* ------------------------------------------------------------ usage */

static char *
usage_text(void)
{
    struct vcha_fence f;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    assert_int_equal(vcha_fence_init(&f, &agent), 0);
    vcha_fence_usage(&f, out);
    fclose(out);
    vcha_fence_clear(&f);
    assert_non_null(text);
    return text;
}

static void
test_usage_header(void **state)
{
    char *text = usage_text();

    (void) state;
    assert_starts_with(text, "Usage:\n\tfence_test [options]\n"
                             "\tfence_test < key=value lines\nOptions:\n");
    free(text);
}

static void
test_usage_lines(void **state)
{
    char *text = usage_text();

    (void) state;
    assert_contains(text, "\n   -o, --action=[action]               "
                          "Action to carry out (default reboot)\n");
    assert_contains(text, "\n   --power-timeout=[seconds]           "
                          "Seconds within which");
    assert_contains(text, "\n   -y, --dry-run                       "
                          "Only pretend\n");
    assert_contains(text, "\n   -m, --mode=[mode]                   "
                          "How to power off (default fast)\n");
    /* a flag's default is not worth a mention */
    assert_contains(text, "\n   -v, --verbose                       "
                          "Log debug messages\n");
    free(text);
}

static void
test_usage_lists_every_option_in_order(void **state)
{
    char *text = usage_text();
    const char *at = text;

    (void) state;
    for (size_t i = 0; i < N_ALL; i++) {
        char lname[64];

        snprintf(lname, sizeof(lname), "--%s", all_names[i]);
        for (char *p = lname; *p != '\0'; p++) {
            *p = *p == '_' ? '-' : *p;
        }
        at = strstr(at, lname);
        if (at == NULL) {
            fail_msg("%s missing or out of order in:\n%s", lname, text);
        }
    }
    free(text);
}

/* ------------------------------------------------------------ meta-data */

struct meta {
    char *xml;
    xmlDocPtr doc;
};

static int
meta_setup(void **state)
{
    struct meta *m = calloc(1, sizeof(*m));
    struct vcha_fence f;

    if (m == NULL || vcha_fence_init(&f, &agent) != 0 ||
        vcha_fence_metadata(&f, &m->xml) != 0) {
        free(m);
        return -1;
    }
    vcha_fence_clear(&f);
    m->doc = xmlReadMemory(m->xml, (int) strlen(m->xml), "metadata.xml", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR);
    *state = m;
    return m->doc != NULL ? 0 : -1;
}

static int
meta_teardown(void **state)
{
    struct meta *m = *state;

    xmlFreeDoc(m->doc);
    free(m->xml);
    free(m);
    return 0;
}

static void
test_metadata_root(void **state)
{
    struct meta *m = *state;

    assert_starts_with(m->xml, "<?xml version=\"1.0\"?>\n<resource-agent ");
    assert_xpath_count(m->doc, "/resource-agent", 1);
    assert_xpath_str(m->doc, "/resource-agent/@name", "fence_test");
    assert_xpath_str(m->doc, "/resource-agent/@shortdesc",
                     "Test fence agent - for the unit tests");
    assert_xpath_str(m->doc, "/resource-agent/longdesc",
                     "Powers nothing: it records what it was asked (see "
                     "C:\\fence\\log).");
    assert_xpath_str(m->doc, "/resource-agent/vendor-url",
                     "https://example.org/fence-test");
    assert_xpath_str(m->doc, "name(/resource-agent/*[1])", "longdesc");
    assert_xpath_str(m->doc, "name(/resource-agent/*[2])", "vendor-url");
    assert_xpath_str(m->doc, "name(/resource-agent/*[3])", "parameters");
    assert_xpath_str(m->doc, "name(/resource-agent/*[4])", "actions");
    assert_xpath_count(m->doc, "/resource-agent/*", 4);
}

static void
test_metadata_parameters_sorted_by_name(void **state)
{
    struct meta *m = *state;
    static const char *const sorted[] = {
        "action",    "debug_file",     "delay",      "dry_run", "help",
        "login",     "missing_as_off", "mode",       "option",  "plug",
        "port",      "power_timeout",  "power_wait", "retries", "user",
        "user_file", "verbose",        "version",
    };
    size_t n = sizeof(sorted) / sizeof(sorted[0]);

    assert_xpath_count(m->doc, "/resource-agent/parameters/parameter", (int) n);
    for (size_t i = 0; i < n; i++) {
        char expr[96];

        snprintf(expr, sizeof(expr),
                 "/resource-agent/parameters/parameter[%zu]/@name", i + 1);
        assert_xpath_str(m->doc, expr, sorted[i]);
    }
}

static void
test_metadata_obsolete_names(void **state)
{
    struct meta *m = *state;

    assert_xpath_str(m->doc, PARAM("port") "/@deprecated", "1");
    assert_xpath_str(m->doc, PARAM("option") "/@deprecated", "1");
    assert_xpath_str(m->doc, PARAM("login") "/@deprecated", "1");
    assert_xpath_count(m->doc, "//parameter[@deprecated]", 3);
    assert_xpath_str(m->doc, PARAM("plug") "/@obsoletes", "port");
    assert_xpath_str(m->doc, PARAM("action") "/@obsoletes", "option");
    assert_xpath_str(m->doc, PARAM("user") "/@obsoletes", "login");
    assert_xpath_count(m->doc, "//parameter[@obsoletes]", 3);
    assert_xpath_count(m->doc, "//parameter[@obsoletes and @deprecated]", 0);
    /* the old name is described like the new one */
    assert_xpath_str(m->doc, PARAM("port") "/getopt/@mixed", "-n, --plug=[id]");
    assert_xpath_str(m->doc, PARAM("port") "/shortdesc",
                     "The plug to act on: the machine the device powers");
}

static void
test_metadata_required_and_unique(void **state)
{
    struct meta *m = *state;

    assert_xpath_str(m->doc, PARAM("action") "/@required", "1");
    assert_xpath_str(m->doc, PARAM("plug") "/@required", "1");
    assert_xpath_str(m->doc, PARAM("port") "/@required", "1");
    assert_xpath_count(m->doc, "//parameter[@required='1']", 4);
    assert_xpath_count(m->doc, "//parameter[@unique='0']", 18);
}

static void
test_metadata_getopt_mixed(void **state)
{
    struct meta *m = *state;

    assert_xpath_str(m->doc, PARAM("action") "/getopt/@mixed",
                     "-o, --action=[action]");
    assert_xpath_str(m->doc, PARAM("delay") "/getopt/@mixed",
                     "--delay=[seconds]");
    assert_xpath_str(m->doc, PARAM("power_timeout") "/getopt/@mixed",
                     "--power-timeout=[seconds]");
    assert_xpath_str(m->doc, PARAM("verbose") "/getopt/@mixed",
                     "-v, --verbose");
    assert_xpath_str(m->doc, PARAM("missing_as_off") "/getopt/@mixed",
                     "--missing-as-off");
    assert_xpath_str(m->doc, PARAM("debug_file") "/getopt/@mixed",
                     "-D, --debug-file=[debugfile]");
    assert_xpath_str(m->doc, PARAM("user") "/getopt/@mixed",
                     "-l, --user=[name]");
    assert_xpath_str(m->doc, PARAM("dry_run") "/getopt/@mixed",
                     "-y, --dry-run");
}

static void
test_metadata_content_types(void **state)
{
    struct meta *m = *state;

    assert_xpath_str(m->doc, PARAM("action") "/content/@type", "string");
    assert_xpath_str(m->doc, PARAM("plug") "/content/@type", "string");
    assert_xpath_str(m->doc, PARAM("delay") "/content/@type", "second");
    assert_xpath_str(m->doc, PARAM("power_timeout") "/content/@type", "second");
    assert_xpath_str(m->doc, PARAM("power_wait") "/content/@type", "second");
    assert_xpath_str(m->doc, PARAM("verbose") "/content/@type", "boolean");
    assert_xpath_str(m->doc, PARAM("dry_run") "/content/@type", "boolean");
    assert_xpath_str(m->doc, PARAM("retries") "/content/@type", "integer");
    assert_xpath_str(m->doc, PARAM("mode") "/content/@type", "select");
    assert_xpath_count(m->doc, PARAM("mode") "/content/option", 2);
    assert_xpath_str(m->doc, PARAM("mode") "/content/option[1]/@value", "fast");
    assert_xpath_str(m->doc, PARAM("mode") "/content/option[2]/@value", "slow");
    assert_xpath_count(m->doc, "//content/option", 2);
}

static void
test_metadata_defaults_and_descriptions(void **state)
{
    struct meta *m = *state;

    assert_xpath_str(m->doc, PARAM("action") "/content/@default", "reboot");
    assert_xpath_str(m->doc, PARAM("power_timeout") "/content/@default", "20");
    assert_xpath_str(m->doc, PARAM("retries") "/content/@default", "3");
    assert_xpath_count(m->doc, PARAM("plug") "/content/@default", 0);
    assert_xpath_count(m->doc, PARAM("user") "/content/@default", 0);
    assert_xpath_str(m->doc, PARAM("retries") "/shortdesc",
                     "Attempts - at most 10");
    assert_xpath_count(m->doc, "//parameter/shortdesc[@lang='en']", 18);
    /* fence-agents order: getopt, content, shortdesc */
    assert_xpath_str(m->doc, "name(" PARAM("plug") "/*[1])", "getopt");
    assert_xpath_str(m->doc, "name(" PARAM("plug") "/*[2])", "content");
    assert_xpath_str(m->doc, "name(" PARAM("plug") "/*[3])", "shortdesc");
}

static void
test_metadata_actions(void **state)
{
    struct meta *m = *state;

    assert_xpath_count(m->doc, ACTION, VCHA_FENCE_N_ACTIONS);
    for (int a = 0; a < VCHA_FENCE_N_ACTIONS; a++) {
        char expr[64];

        snprintf(expr, sizeof(expr), ACTION "[%d]/@name", a + 1);
        assert_xpath_str(m->doc, expr, vcha_fence_action_name(a));
    }
    assert_xpath_str(m->doc, ACTION "[@name='on']/@automatic", "0");
    assert_xpath_count(m->doc, ACTION "/@automatic", 1);
}

static void
test_metadata_of_agent_without_options(void **state)
{
    struct vcha_fence_agent bare = {
        .name = "fence_bare", .shortdesc = "Bare", .run = agent_run};
    struct vcha_fence f;
    char *xml = NULL;

    (void) state;
    assert_int_equal(vcha_fence_init(&f, &bare), 0);
    assert_int_equal(vcha_fence_metadata(&f, &xml), 0);
    assert_contains(xml, "<resource-agent name=\"fence_bare\" "
                         "shortdesc=\"Bare\">");
    assert_contains(xml, "<parameter name=\"plug\"");
    free(xml);
    vcha_fence_clear(&f);
}

/* ------------------------------------------------------------ man page */

static char *
manpage_text(void)
{
    struct vcha_fence f;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    assert_int_equal(vcha_fence_init(&f, &agent), 0);
    vcha_fence_manpage(&f, out);
    fclose(out);
    vcha_fence_clear(&f);
    assert_non_null(text);
    return text;
}

static void
test_manpage_sections_in_order(void **state)
{
    static const char *const sections[] = {
        ".SH NAME\n",     ".SH SYNOPSIS\n", ".SH DESCRIPTION\n",
        ".SH OPTIONS\n",  ".SH ACTIONS\n",  ".SH EXIT STATUS\n",
        ".SH SEE ALSO\n",
    };
    char *text = manpage_text();
    const char *at = text;

    (void) state;
    assert_starts_with(text, ".TH \"FENCE_TEST\" 8 \"\" \"" PACKAGE_NAME
                             " " PACKAGE_VERSION "\" \"Fence agents\"\n");
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        at = strstr(at, sections[i]);
        if (at == NULL) {
            fail_msg("%s missing or out of order", sections[i]);
        }
    }
    assert_contains(text, ".SH NAME\nfence_test \\- Test fence agent \\- for "
                          "the unit tests\n");
    free(text);
}

static void
test_manpage_every_option(void **state)
{
    char *text = manpage_text();

    (void) state;
    for (size_t i = 0; i < N_ALL; i++) {
        char line[128];

        snprintf(line, sizeof(line), "On standard input: \\fB%s\\fR",
                 all_names[i]);
        assert_contains(text, line);
    }
    assert_contains(text, ".TP\n\\fB\\-o, \\-\\-action=[action]\\fR\n"
                          "Action to carry out (default: reboot).  On "
                          "standard input: \\fBaction\\fR (or \\fBoption\\fR)"
                          ".\n");
    assert_contains(text, ".TP\n\\fB\\-\\-power\\-timeout=[seconds]\\fR\n");
    assert_contains(text, ".TP\n\\fB\\-y, \\-\\-dry\\-run\\fR\nOnly pretend."
                          "  On standard input: \\fBdry_run\\fR.\n");
    assert_contains(text, "(or \\fBport\\fR)");
    assert_contains(text, "(or \\fBlogin\\fR)");
    free(text);
}

static void
test_manpage_every_action(void **state)
{
    char *text = manpage_text();

    (void) state;
    assert_contains(text, ".TP\n\\fBoff\\fR\nPower the plug off");
    assert_contains(text, ".TP\n\\fBlist\\-status\\fR\n");
    assert_contains(text, ".TP\n\\fBvalidate\\-all\\fR\n");
    free(text);
}

static void
test_manpage_escapes_roff(void **state)
{
    char *text = manpage_text();

    (void) state;
    assert_contains(text, "Attempts \\- at most 10 (default: 3)");
    assert_contains(text, "(see C:\\efence\\elog).\n");
    /* every '-' is a minus sign */
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '-' && (p == text || p[-1] != '\\')) {
            fail_msg("unescaped '-' at: %.40s", p - (p - text > 20 ? 20 : 0));
        }
    }
    free(text);
}

static void
test_manpage_control_lines_are_macros(void **state)
{
    static const char *const macros[] = {".TH ", ".SH ", ".TP\n", ".PP\n",
                                         ".br\n"};
    char *text = manpage_text();

    (void) state;
    for (const char *p = text; p != NULL && *p != '\0';) {
        bool known = *p != '.' && *p != '\'';

        for (size_t i = 0; !known && i < 5; i++) {
            known = strncmp(p, macros[i], strlen(macros[i])) == 0;
        }
        if (!known) {
            fail_msg("text line taken for a request: %.40s", p);
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    free(text);
}

/* ------------------------------------------------------------ worker */

/* A validated invocation for @p text. */
static void
ready(struct vcha_fence *f, const char *text)
{
    from_stdin(f, text);
    if (vcha_fence_validate(f) != 0) {
        fail_msg("validate: %s", f->reason);
    }
}

static enum vcha_fence_rc
run_quietly(struct vcha_fence *f, long long budget_ms, char **out)
{
    struct test_capture cap;
    enum vcha_fence_rc rc;
    char *text;

    assert_int_equal(test_capture_start(&cap, 1), 0);
    rc = vcha_fence_run_bounded(f, budget_ms);
    text = test_capture_stop(&cap);
    if (out != NULL) {
        *out = text;
    } else {
        free(text);
    }
    return rc;
}

static void
test_run_returns_the_exit_code(void **state)
{
    static const enum vcha_fence_rc codes[] = {
        VCHA_FENCE_SUCCESS, VCHA_FENCE_FAILED, VCHA_FENCE_IS_OFF};
    struct vcha_fence f;

    (void) state;
    ready(&f, "action=status\nplug=node1\nuser=bob\n");
    for (size_t i = 0; i < 3; i++) {
        script.rc = codes[i];
        assert_int_equal(run_quietly(&f, 5000, NULL), codes[i]);
    }
    assert_recorded("status plug=node1 user=bob mode=fast dry_run=0 "
                    "retries=3 own_group=1");
    vcha_fence_clear(&f);
}

static void
test_run_worker_sees_its_deadline(void **state)
{
    struct vcha_fence f;
    long long before = vcha_now_ms(), left = -1;
    char *text;
    const char *at;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    assert_int_equal(run_quietly(&f, 5000, NULL), 0);
    assert_between(f.deadline_ms, before + 5000, vcha_now_ms() + 5000);
    text = recorded();
    at = strstr(text, "left=");
    assert_non_null(at);
    left = atoll(at + 5);
    assert_between(left, 3000, 5000);
    free(text);
    vcha_fence_clear(&f);
}

static void
test_run_reason_comes_back(void **state)
{
    struct vcha_fence f;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    script.rc = VCHA_FENCE_FAILED;
    script.reason = "plug node1 is stuck";
    assert_int_equal(run_quietly(&f, 5000, NULL), VCHA_FENCE_FAILED);
    assert_string_equal(f.reason, "plug node1 is stuck");
    vcha_fence_clear(&f);
}

static void
test_run_long_reason_comes_back_truncated(void **state)
{
    struct vcha_fence f;
    char *text = malloc(3000);

    (void) state;
    assert_non_null(text);
    memset(text, 'w', 2999);
    text[2999] = '\0';
    ready(&f, "action=off\nplug=node1\n");
    script.rc = VCHA_FENCE_FAILED;
    script.reason = text;
    assert_int_equal(run_quietly(&f, 5000, NULL), VCHA_FENCE_FAILED);
    assert_int_equal(strlen(f.reason), sizeof(f.reason) - 1);
    assert_true(f.reason[0] == 'w');
    vcha_fence_clear(&f);
    free(text);
}

static void
test_run_no_stale_reason(void **state)
{
    struct vcha_fence f;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    vcha_fence_fail(&f, "an earlier failure");
    assert_int_equal(run_quietly(&f, 5000, NULL), 0);
    assert_string_equal(f.reason, "");
    vcha_fence_fail(&f, "an earlier failure");
    script.rc = VCHA_FENCE_FAILED;
    assert_int_equal(run_quietly(&f, 5000, NULL), VCHA_FENCE_FAILED);
    assert_string_equal(f.reason, "");
    vcha_fence_clear(&f);
}

static void
test_run_worker_prints_to_stdout(void **state)
{
    struct vcha_fence f;
    char *out = NULL;

    (void) state;
    ready(&f, "action=list\n");
    script.print = "node1,one\nnode2,two\n";
    assert_int_equal(run_quietly(&f, 5000, &out), 0);
    assert_string_equal(out, "node1,one\nnode2,two\n");
    free(out);
    vcha_fence_clear(&f);
}

static bool
dies_within(pid_t pid, long long ms)
{
    long long end = vcha_now_ms() + ms;

    while (!test_process_dead(pid)) {
        if (vcha_now_ms() > end) {
            return false;
        }
        vcha_sleep_ms(10);
    }
    return true;
}

static void
test_run_overrun_kills_the_process_group(void **state)
{
    struct vcha_fence f;
    int fds[2];
    pid_t grandchild = 0;
    long long start;

    (void) state;
    assert_int_equal(pipe(fds), 0);
    ready(&f, "action=off\nplug=node1\n");
    script.sleep_ms = 20000;
    script.grandchild_fd = fds[1];
    start = vcha_now_ms();
    assert_int_equal(run_quietly(&f, 300, NULL), VCHA_FENCE_FAILED);
    assert_between(vcha_now_ms() - start, 300, 3000);
    assert_string_equal(f.reason, "no answer within 300 ms (power_timeout)");
    close(fds[1]);
    assert_int_equal(read(fds[0], &grandchild, sizeof(grandchild)),
                     sizeof(grandchild));
    close(fds[0]);
    assert_true(grandchild > 0);
    if (!dies_within(grandchild, 3000)) {
        kill(grandchild, SIGKILL);
        fail_msg("the worker's child %d survived", (int) grandchild);
    }
    vcha_fence_clear(&f);
}

static void
test_run_crash_is_a_failure(void **state)
{
    struct vcha_fence f;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    script.crash = true;
    script.reason = "never written";
    assert_int_equal(run_quietly(&f, 5000, NULL), VCHA_FENCE_FAILED);
    assert_string_equal(f.reason, "the worker died (signal 6)");
    vcha_fence_clear(&f);
}

static void
on_usr1(int sig)
{
    (void) sig;
}

static void
test_run_signal_does_not_extend_the_budget(void **state)
{
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    struct vcha_fence f;
    long long start;

    (void) state;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old); /* no SA_RESTART: poll() fails, EINTR */
    ready(&f, "action=off\nplug=node1\n");
    script.signal_parent = true;
    script.sleep_ms = 3000;
    start = vcha_now_ms();
    assert_int_equal(run_quietly(&f, 600, NULL), VCHA_FENCE_FAILED);
    assert_between(vcha_now_ms() - start, 600, 2500);
    assert_string_equal(f.reason, "no answer within 600 ms (power_timeout)");
    sigaction(SIGUSR1, &old, NULL);
    vcha_fence_clear(&f);
}

/* The pid the worker recorded once it started, or 0 after @p ms. */
static pid_t
worker_pid_wait(long long ms)
{
    long long end = vcha_now_ms() + ms;
    pid_t pid = 0;

    for (;;) {
        char *text = recorded();
        const char *at = strstr(text, " pid=");

        if (at != NULL && strchr(at, '\n') != NULL) {
            pid = (pid_t) atoi(at + 5);
        }
        free(text);
        if (pid > 0 || vcha_now_ms() > end) {
            return pid;
        }
        vcha_sleep_ms(10);
    }
}

static void
assert_not_acted(void)
{
    char *text = recorded();

    if (strstr(text, "acted\n") != NULL) {
        fail_msg("the worker acted after all:\n%s", text);
    }
    free(text);
}

/*
 * Run the worker from a child of the test that stands in for the agent, so
 * that the test can kill or stop the agent as a fencer might.
 */
static pid_t
agent_start(struct vcha_fence *f, long long budget_ms)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        _exit((int) vcha_fence_run_bounded(f, budget_ms));
    }
    assert_true(pid > 0);
    return pid;
}

static void
agent_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void
test_run_worker_dies_with_the_agent(void **state)
{
    struct vcha_fence f;
    pid_t stand_in, worker;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    script.sleep_ms = 20000;
    script.acts = true;
    stand_in = agent_start(&f, 60000);
    worker = worker_pid_wait(10000);
    agent_kill(stand_in); /* the fencer's timeout was shorter than ours */
    assert_true(worker > 0);
    if (!dies_within(worker, 5000)) {
        kill(worker, SIGKILL);
        fail_msg("the worker %d outlived the agent", (int) worker);
    }
    assert_not_acted();
    vcha_fence_clear(&f);
}

static void
test_run_worker_ends_at_its_own_deadline(void **state)
{
    struct vcha_fence f;
    pid_t stand_in, worker;
    bool died;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    script.sleep_ms = 20000;
    script.acts = true;
    stand_in = agent_start(&f, 1500);
    worker = worker_pid_wait(10000);
    kill(stand_in, SIGSTOP); /* an agent that cannot kill its worker */
    died = worker > 0 && dies_within(worker, 10000);
    agent_kill(stand_in);
    assert_true(worker > 0);
    if (!died) {
        kill(worker, SIGKILL);
        fail_msg("the worker %d outlived its deadline", (int) worker);
    }
    assert_not_acted();
    vcha_fence_clear(&f);
}

static void
test_run_worker_that_cannot_be_reaped_is_given_up(void **state)
{
    struct vcha_fence f;
    enum vcha_fence_rc rc;
    long long start, took;
    char *expect = NULL;
    pid_t worker;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    script.sleep_ms = 20000;
    script.unkillable = true;
    start = vcha_now_ms();
    rc = run_quietly(&f, 1000, NULL);
    took = vcha_now_ms() - start;
    worker = worker_pid_wait(1000);
    if (worker > 0 && !test_process_dead(worker)) {
        kill(worker, SIGKILL);
    }
    if (worker > 0) {
        waitpid(worker, NULL, 0);
    }
    assert_int_equal(rc, VCHA_FENCE_FAILED);
    assert_between(took, 1000, 15000); /* not the worker's 20 s */
    assert_true(asprintf(&expect,
                         "no answer within 1000 ms (power_timeout); the "
                         "worker (pid %d) did not end after SIGKILL",
                         (int) worker) > 0);
    assert_string_equal(f.reason, expect);
    free(expect);
    vcha_fence_clear(&f);
}

static void
test_run_ignored_sigchld_keeps_the_exit_status(void **state)
{
    static const enum vcha_fence_rc codes[] = {VCHA_FENCE_FAILED,
                                               VCHA_FENCE_IS_OFF};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old, after;
    struct vcha_fence f;
    enum vcha_fence_rc rc[2];

    (void) state;
    ready(&f, "action=status\nplug=node1\n");
    sigaction(SIGCHLD, &ign, &old); /* as an agent may inherit it on exec */
    for (size_t i = 0; i < 2; i++) {
        script.rc = codes[i];
        rc[i] = run_quietly(&f, 5000, NULL);
    }
    sigaction(SIGCHLD, &old, &after);
    assert_true(after.sa_handler == SIG_IGN); /* the caller's, given back */
    assert_int_equal(rc[0], VCHA_FENCE_FAILED);
    assert_int_equal(rc[1], VCHA_FENCE_IS_OFF);
    vcha_fence_clear(&f);
}

/* Descriptors open in this process. */
static int
open_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

/*
 * In a child of the test: make fork() fail for real (RLIMIT_NPROC, which
 * does not hold root back: become nobody first), run, and report on @p fd
 * the exit code, the descriptors left open and the reason.
 */
static void
fork_fails_child(struct vcha_fence *f, int fd)
{
    struct rlimit none = {0, 0};
    enum vcha_fence_rc rc;
    int before;

    if ((getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0)) ||
        setrlimit(RLIMIT_NPROC, &none) < 0) {
        dprintf(fd, "cannot limit processes: %s", strerror(errno));
        _exit(1);
    }
    before = open_fds();
    rc = vcha_fence_run_bounded(f, 5000);
    dprintf(fd, "rc=%d leaked=%d reason=%s", (int) rc, open_fds() - before,
            f->reason);
    _exit(0);
}

static void
test_run_fork_failure_leaks_no_descriptor(void **state)
{
    struct vcha_fence f;
    char buf[2048] = "";
    size_t got = 0;
    ssize_t n;
    int fds[2];
    pid_t pid;

    (void) state;
    ready(&f, "action=off\nplug=node1\n");
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        fork_fails_child(&f, fds[1]);
    }
    close(fds[1]);
    while (got < sizeof(buf) - 1 &&
           (n = read(fds[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t) n;
    }
    close(fds[0]);
    waitpid(pid, NULL, 0);
    assert_string_equal(buf, "rc=1 leaked=0 reason=cannot start a worker: "
                             "Resource temporarily unavailable");
    assert_not_run();
    vcha_fence_clear(&f);
}

/* ------------------------------------------------------------ main */

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

/* Make fd 0 read @p text (NULL: /dev/null); returns the saved fd 0. */
static int
stdin_from(const char *text)
{
    char *path = test_path(tmpdir, "stdin");
    int saved = dup(0), fd;

    assert_non_null(path);
    if (text != NULL) {
        assert_int_equal(test_write_file(path, text), 0);
    }
    fd = open(text != NULL ? path : "/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    dup2(fd, 0);
    close(fd);
    unlink(path);
    free(path);
    return saved;
}

static int
main_with(const struct vcha_fence_agent *a, struct output *o, const char *input,
          char **argv, int argc)
{
    struct test_capture out, err;
    int saved = stdin_from(input), code;

    assert_int_equal(test_capture_start(&out, 1), 0);
    assert_int_equal(test_capture_start(&err, 2), 0);
    code = vcha_fence_main(a, argc, argv);
    o->err = test_capture_stop(&err);
    o->out = test_capture_stop(&out);
    dup2(saved, 0);
    close(saved);
    assert_non_null(o->out);
    assert_non_null(o->err);
    return code;
}

/*
 * Run the agent with @p input on stdin and a NULL-terminated list of
 * arguments; capture what it prints.
 */
static int
run_main(struct output *o, const char *input, ...)
{
    char *argv[32] = {"fence_test"};
    int argc = 1;
    va_list ap;

    va_start(ap, input);
    for (const char *a = va_arg(ap, const char *); a != NULL;
         a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    return main_with(&agent, o, input, argv, argc);
}

static void
test_main_help(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "--help", NULL), 0);
    assert_starts_with(o.out, "Usage:\n\tfence_test [options]\n");
    assert_contains(o.out, "-o, --action=[action]");
    output_free(&o);
    assert_int_equal(run_main(&o, NULL, "-h", "-o", "off", NULL), 0);
    assert_starts_with(o.out, "Usage:\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "help=1\n", NULL), 0);
    assert_starts_with(o.out, "Usage:\n");
    output_free(&o);
    assert_not_run();
}

static void
test_main_help_false_is_not_help(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, "action=list\nhelp=0\nversion=no\n", NULL),
                     0);
    assert_null(strstr(o.out, "Usage:"));
    assert_recorded("list ");
    output_free(&o);
}

static void
test_main_version(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "--version", NULL), 0);
    assert_string_equal(o.out, "fence_test " PACKAGE_VERSION "\n");
    output_free(&o);
    assert_int_equal(run_main(&o, NULL, "-V", NULL), 0);
    assert_string_equal(o.out, "fence_test " PACKAGE_VERSION "\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "version=1\n", NULL), 0);
    assert_string_equal(o.out, "fence_test " PACKAGE_VERSION "\n");
    output_free(&o);
    assert_not_run();
}

static void
test_main_metadata(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "-o", "metadata", NULL), 0);
    assert_starts_with(o.out, "<?xml version=\"1.0\"?>\n<resource-agent "
                              "name=\"fence_test\"");
    assert_contains(o.out, "</resource-agent>\n");
    assert_string_equal(o.err, "");
    output_free(&o);
    /* from stdin, with nonsense that metadata does not care about */
    assert_int_equal(
        run_main(&o, "action=metadata\ndelay=soon\nuser=root\n", NULL), 0);
    assert_starts_with(o.out, "<?xml");
    output_free(&o);
    assert_not_run();
    assert_int_equal(validate_calls, 0);
}

static void
test_main_manpage(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "--action=manpage", NULL), 0);
    assert_starts_with(o.out, ".TH \"FENCE_TEST\" 8");
    assert_contains(o.out, ".SH EXIT STATUS\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "action=manpage\n", NULL), 0);
    assert_starts_with(o.out, ".TH ");
    output_free(&o);
    assert_not_run();
}

static void
test_main_validate_all(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "-o", "validate-all", NULL), 0);
    assert_int_equal(validate_calls, 1);
    output_free(&o);
    assert_int_equal(run_main(&o, "action=validate-all\nport=n1\n", NULL), 0);
    assert_int_equal(validate_calls, 2);
    output_free(&o);
    assert_not_run();
}

static void
test_main_validate_all_bad_value(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(
        run_main(&o, NULL, "-o", "validate-all", "--delay=soon", NULL), 1);
    assert_starts_with(o.err, "fence_test: parameter 'delay' value 'soon' is "
                              "not a duration");
    assert_contains(o.err, "\nTry 'fence_test --help'.\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "action=validate-all\nuser=root\n", NULL), 1);
    assert_string_equal(o.err, "fence_test: user root is not allowed\n");
    output_free(&o);
    assert_not_run();
}

static void
test_main_power_action_from_args(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "-o", "off", "-n", "node1", "-l", "bob",
                              "-m", "slow", "-y", "--retries=4", "-v", NULL),
                     0);
    assert_recorded("off plug=node1 user=bob mode=slow dry_run=1 retries=4 "
                    "own_group=1");
    assert_contains(o.err, "off: success"); /* verbose: info too */
    output_free(&o);
}

static void
test_main_power_action_from_stdin(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o,
                              "# from the fencer\naction=on\r\n"
                              "port=node1\nlogin=bob\nnodename=x\n",
                              NULL),
                     0);
    assert_recorded("on plug=node1 user=bob mode=fast dry_run=0 retries=3 "
                    "own_group=1");
    assert_string_equal(o.err, ""); /* the fencer logs stderr as warnings */
    output_free(&o);
}

static void
test_main_status_exit_codes(void **state)
{
    struct output o;

    (void) state;
    script.rc = VCHA_FENCE_IS_OFF;
    assert_int_equal(run_main(&o, "action=status\nplug=n1\nverbose=1\n", NULL),
                     2);
    assert_contains(o.err, "status: off");
    output_free(&o);
    script.rc = VCHA_FENCE_SUCCESS;
    assert_int_equal(run_main(&o, "action=status\nplug=n1\n", NULL), 0);
    output_free(&o);
}

static void
test_main_failure_logs_the_reason(void **state)
{
    struct output o;

    (void) state;
    script.rc = VCHA_FENCE_FAILED;
    script.reason = "cannot reach the device";
    assert_int_equal(run_main(&o, NULL, "-o", "reboot", "-n", "n1", NULL), 1);
    assert_contains(o.err, "reboot failed: cannot reach the device");
    output_free(&o);
    script.reason = NULL;
    assert_int_equal(run_main(&o, NULL, "-o", "reboot", "-n", "n1", NULL), 1);
    assert_contains(o.err, "reboot failed: no reason given");
    output_free(&o);
}

static void
test_main_list_prints(void **state)
{
    struct output o;

    (void) state;
    script.print = "node1,one\nnode2,two\n";
    assert_int_equal(run_main(&o, "action=list\n", NULL), 0);
    assert_string_equal(o.out, "node1,one\nnode2,two\n");
    output_free(&o);
}

/* How long one run of the agent takes, in ms. */
static long long
timed_run(const char *input)
{
    struct output o;
    long long start = vcha_now_ms();
    int code = run_main(&o, input, NULL);

    if (code != 0) {
        fail_msg("exit %d: %s", code, o.err);
    }
    output_free(&o);
    return vcha_now_ms() - start;
}

static void
test_main_delay_only_before_off_and_reboot(void **state)
{
    (void) state;
    assert_between(timed_run("action=off\nplug=n1\ndelay=400ms\n"), 400, 10000);
    assert_between(timed_run("action=reboot\nplug=n1\ndelay=400ms\n"), 400,
                   10000);
    assert_between(timed_run("action=on\nplug=n1\ndelay=3s\n"), 0, 2500);
    assert_between(timed_run("action=status\nplug=n1\ndelay=3s\n"), 0, 2500);
    assert_between(timed_run("action=monitor\ndelay=3s\n"), 0, 2500);
}

static void
test_main_budget_is_power_timeout_plus_wait(void **state)
{
    struct output o;

    (void) state;
    script.sleep_ms = 5000;
    assert_int_equal(run_main(&o,
                              "action=off\nplug=n1\npower_timeout=300ms\n"
                              "power_wait=200ms\n",
                              NULL),
                     1);
    assert_contains(o.err, "off failed: no answer within 500 ms");
    output_free(&o);
    /* reboot is off plus on: twice the budget */
    assert_int_equal(run_main(&o,
                              "action=reboot\nplug=n1\n"
                              "power_timeout=300ms\n",
                              NULL),
                     1);
    assert_contains(o.err, "reboot failed: no answer within 600 ms");
    output_free(&o);
}

static void
test_main_bad_input_exits_1(void **state)
{
    struct output o;

    (void) state;
    assert_int_equal(run_main(&o, NULL, "-x", NULL), 1);
    assert_string_equal(o.err, "fence_test: unknown option: -x\n"
                               "Try 'fence_test --help'.\n");
    output_free(&o);
    assert_int_equal(run_main(&o, NULL, "-o", "off", NULL), 1);
    assert_string_equal(o.err, "fence_test: parameter 'plug' (or 'port') is "
                               "required for off\nTry 'fence_test --help'.\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "action=off\n", NULL), 1);
    assert_string_equal(o.err, "fence_test: parameter 'plug' (or 'port') is "
                               "required for off\n");
    output_free(&o);
    assert_int_equal(run_main(&o, "action=dance\n", NULL), 1);
    output_free(&o);
    assert_int_equal(run_main(&o, NULL, "-o", "off", "-n", "n1", "stray", NULL),
                     1);
    assert_starts_with(o.err, "fence_test: unexpected argument: stray\n");
    output_free(&o);
    assert_not_run();
}

static void
test_main_empty_stdin(void **state)
{
    struct output o;

    (void) state;
    /* reboot by default, and no plug */
    assert_int_equal(run_main(&o, NULL, NULL), 1);
    assert_string_equal(o.err, "fence_test: parameter 'plug' (or 'port') is "
                               "required for reboot\n");
    output_free(&o);
}

static void
test_main_closed_stdin(void **state)
{
    char *argv[] = {"fence_test", NULL};
    struct test_capture err;
    int saved = dup(0), code;
    char *text;

    (void) state;
    close(0); /* read() fails: no parameters at all */
    assert_int_equal(test_capture_start(&err, 2), 0);
    code = vcha_fence_main(&agent, 1, argv);
    text = test_capture_stop(&err);
    dup2(saved, 0);
    close(saved);
    assert_int_equal(code, 1);
    assert_string_equal(text, "fence_test: parameter 'plug' (or 'port') is "
                              "required for reboot\n");
    free(text);
}

static void
test_main_stdin_beyond_64k_is_ignored(void **state)
{
    size_t len = 128 * 1024;
    char *text = malloc(len + 64);
    struct output o;

    (void) state;
    assert_non_null(text);
    strcpy(text, "action=list\n");
    for (size_t i = strlen(text); i < len; i++) {
        text[i] = (i % 64) == 63 ? '\n' : '#';
    }
    strcpy(text + len, "action=off\n");
    assert_int_equal(run_main(&o, text, NULL), 0);
    assert_recorded("list ");
    output_free(&o);
    free(text);
}

static void
test_main_verbose_and_debug_file(void **state)
{
    char *log = test_path(tmpdir, "debug.log");
    struct output o;
    char *text;

    (void) state;
    setenv("HA_LOGFACILITY", "daemon", 1);
    script.log = "the worker was here";
    assert_int_equal(run_main(&o, NULL, "-o", "list", "-v", "-D", log, NULL),
                     0);
    assert_string_equal(getenv("HA_debug"), "1");
    assert_null(getenv("HA_LOGFACILITY")); /* never syslog */
    text = test_slurp(log);
    assert_non_null(text);
    assert_contains(text, "the worker was here"); /* flushed before _exit */
    assert_contains(text, "list: success");
    free(text);
    unlink(log);
    free(log);
    output_free(&o);
}

static void
test_main_too_many_options(void **state)
{
    size_t room = VCHA_FENCE_MAX_OPTS - (N_ALL - N_AGENT_OPTS);
    struct vcha_fence_agent *over = big_agent_new(room + 1);
    char *argv[] = {"fence_big", "-o", "metadata", NULL};
    struct output o;

    (void) state;
    assert_int_equal(main_with(over, &o, NULL, argv, 3), 1);
    assert_string_equal(o.out, "");
    output_free(&o);
    big_agent_free(over);
}

#define T(test) cmocka_unit_test_setup(test, reset)
#define META(test)                                                             \
    cmocka_unit_test_setup_teardown(test, meta_setup, meta_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_init_has_common_then_agent_options),
        T(test_init_too_many_options_is_e2big),
        T(test_most_options_parse_and_print),
        T(test_stdin_simple_lines),
        T(test_stdin_skips_comments_and_blank_lines),
        T(test_stdin_trims_leading_blanks_and_trailing_space),
        T(test_stdin_last_line_without_newline),
        T(test_stdin_last_value_wins),
        T(test_stdin_ignores_unknown_keys),
        T(test_stdin_obsolete_names_count_as_new_ones),
        T(test_stdin_old_and_new_name_last_wins),
        T(test_stdin_line_without_equals_is_ignored),
        T(test_stdin_value_may_contain_equals),
        T(test_stdin_line_starting_with_equals_is_ignored),
        T(test_stdin_empty_value_means_default),
        T(test_stdin_empty_plug_is_missing),
        T(test_stdin_key_prefix_is_not_another_key),
        T(test_stdin_blank_before_equals_is_another_key),
        T(test_stdin_empty_text),
        T(test_stdin_huge_input),
        T(test_stdin_huge_value_is_refused_by_validate),
        T(test_stdin_non_utf8_is_refused_by_validate),
        T(test_stdin_non_utf8_key_is_unknown),
        T(test_args_short_forms),
        T(test_args_short_joined_and_grouped),
        T(test_args_long_forms),
        T(test_args_last_value_wins),
        T(test_args_empty_argument),
        T(test_args_unknown_option),
        T(test_args_unknown_option_in_a_group_names_it),
        T(test_args_ambiguous_abbreviation),
        T(test_args_missing_argument),
        T(test_args_stray_positional_argument),
        T(test_args_parse_again_after_an_error),
        T(test_args_only_program_name),
        T(test_stdin_and_args_give_the_same_values),
        T(test_validate_fills_defaults),
        T(test_validate_type_errors_name_the_parameter),
        T(test_validate_unknown_action),
        T(test_validate_action_ignores_case),
        T(test_validate_plug_required_only_for_plug_actions),
        T(test_validate_runs_the_agent_hook),
        T(test_validate_hook_not_called_when_plug_missing),
        T(test_validate_without_hook),
        T(test_validate_again_after_changes),
        T(test_str_and_num),
        T(test_str_and_num_of_unknown_names),
        T(test_str_and_num_before_validate),
        T(test_fail_sets_reason_and_returns_failed),
        T(test_fail_truncates_long_reason),
        T(test_action_names),
        T(test_action_name_out_of_range),
        T(test_usage_header),
        T(test_usage_lines),
        T(test_usage_lists_every_option_in_order),
        META(test_metadata_root),
        META(test_metadata_parameters_sorted_by_name),
        META(test_metadata_obsolete_names),
        META(test_metadata_required_and_unique),
        META(test_metadata_getopt_mixed),
        META(test_metadata_content_types),
        META(test_metadata_defaults_and_descriptions),
        META(test_metadata_actions),
        T(test_metadata_of_agent_without_options),
        T(test_manpage_sections_in_order),
        T(test_manpage_every_option),
        T(test_manpage_every_action),
        T(test_manpage_escapes_roff),
        T(test_manpage_control_lines_are_macros),
        T(test_run_returns_the_exit_code),
        T(test_run_worker_sees_its_deadline),
        T(test_run_reason_comes_back),
        T(test_run_long_reason_comes_back_truncated),
        T(test_run_no_stale_reason),
        T(test_run_worker_prints_to_stdout),
        T(test_run_overrun_kills_the_process_group),
        T(test_run_crash_is_a_failure),
        T(test_run_signal_does_not_extend_the_budget),
        T(test_run_worker_dies_with_the_agent),
        T(test_run_worker_ends_at_its_own_deadline),
        T(test_run_worker_that_cannot_be_reaped_is_given_up),
        T(test_run_ignored_sigchld_keeps_the_exit_status),
        T(test_run_fork_failure_leaks_no_descriptor),
        T(test_main_help),
        T(test_main_help_false_is_not_help),
        T(test_main_version),
        T(test_main_metadata),
        T(test_main_manpage),
        T(test_main_validate_all),
        T(test_main_validate_all_bad_value),
        T(test_main_power_action_from_args),
        T(test_main_power_action_from_stdin),
        T(test_main_status_exit_codes),
        T(test_main_failure_logs_the_reason),
        T(test_main_list_prints),
        T(test_main_delay_only_before_off_and_reboot),
        T(test_main_budget_is_power_timeout_plus_wait),
        T(test_main_bad_input_exits_1),
        T(test_main_empty_stdin),
        T(test_main_closed_stdin),
        T(test_main_stdin_beyond_64k_is_ignored),
        T(test_main_verbose_and_debug_file),
        T(test_main_too_many_options),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
