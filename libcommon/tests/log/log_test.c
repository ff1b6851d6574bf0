/* Unit tests for runtime/log.c: libqb set up from the HA_* environment. */
#include <config.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <vcha/log.h>

#include "../test-util.h"

/* ------------------------------------------------------------ fixture */

struct fixture {
    char *dir;
    char *logfile;
    struct test_capture err;
    bool capturing;
};

static const char *const env_vars[] = {"HA_LOGFILE", "HA_LOGFACILITY",
                                       "HA_LOGTAG", "HA_debug"};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
        unsetenv(env_vars[i]);
    }
    f->dir = test_tmpdir_new();
    f->logfile = f->dir ? test_path(f->dir, "ha.log") : NULL;
    *state = f;
    return f->logfile != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vcha_log_fini(); /* harmless if the test already did it */
    if (f->capturing) {
        free(test_capture_stop(&f->err));
    }
    free(f->logfile);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* Log to the fixture's file only. */
static void
use_logfile(struct fixture *f)
{
    setenv("HA_LOGFILE", f->logfile, 1);
    setenv("HA_LOGFACILITY", "none", 1);
}

/* The log file's contents after vcha_log_fini() (free()). */
static char *
logged(struct fixture *f)
{
    char *text;

    vcha_log_fini();
    text = test_slurp(f->logfile);
    assert_non_null(text);
    return text;
}

static void
capture_stderr(struct fixture *f)
{
    assert_int_equal(test_capture_start(&f->err, 2), 0);
    f->capturing = true;
}

/* What went to stderr since capture_stderr() (free()). */
static char *
stderr_text(struct fixture *f)
{
    char *text;

    vcha_log_fini();
    text = test_capture_stop(&f->err);
    f->capturing = false;
    assert_non_null(text);
    return text;
}

static void
assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        fail_msg("'%s' not found in:\n%s", needle, text);
    }
}

static void
assert_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL) {
        fail_msg("'%s' unexpectedly found in:\n%s", needle, text);
    }
}

/* ------------------------------------------------------------ file */

static void
test_log_file_gets_messages_with_tag(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_notice("hello %d", 42);
    text = logged(f);
    assert_contains(text, "testagent(res1)");
    assert_contains(text, "hello 42");
    free(text);
}

static void
test_log_child_lines_carry_its_pid(void **state)
{
    struct fixture *f = *state;
    char *text, want[64];
    pid_t pid;
    int status = 0;

    use_logfile(f);
    vcha_log_init("testagent", NULL);
    vcha_notice("parent");
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vcha_log_forked();
        vcha_notice("child");
        vcha_log_fini();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
    text = logged(f);
    snprintf(want, sizeof(want), "testagent[%d]: notice: parent",
             (int) getpid());
    assert_contains(text, want);
    snprintf(want, sizeof(want), "testagent[%d]: notice: child", (int) pid);
    assert_contains(text, want);
    free(text);
}

static void
test_log_file_one_line_per_message(void **state)
{
    struct fixture *f = *state;
    char *text;
    const char *second;

    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_err("first message");
    vcha_warn("second message");
    text = logged(f);
    second = strstr(text, "second message");
    assert_non_null(second);
    assert_non_null(strstr(text, "first message"));
    assert_true(strstr(text, "first message") < second);
    assert_int_equal(second[strlen("second message")], '\n');
    free(text);
}

static void
test_log_file_is_appended(void **state)
{
    struct fixture *f = *state;
    char *text;

    assert_int_equal(test_write_file(f->logfile, "older line\n"), 0);
    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_info("newer line");
    text = logged(f);
    assert_true(strncmp(text, "older line\n", 11) == 0);
    assert_contains(text, "newer line");
    free(text);
}

static void
test_log_tag_without_instance_is_the_name(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    vcha_log_init("testagent", NULL);
    vcha_notice("no instance");
    text = logged(f);
    assert_contains(text, "testagent[");
    assert_lacks(text, "testagent(");
    free(text);
}

static void
test_log_tag_with_empty_instance_is_the_name(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    vcha_log_init("testagent", "");
    vcha_notice("empty instance");
    text = logged(f);
    assert_contains(text, "testagent[");
    assert_lacks(text, "testagent()");
    free(text);
}

static void
test_log_tag_from_ha_logtag(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    setenv("HA_LOGTAG", "my-tag", 1);
    vcha_log_init("testagent", "res1");
    vcha_notice("tagged");
    text = logged(f);
    assert_contains(text, "my-tag[");
    assert_lacks(text, "testagent(res1)");
    free(text);
}

/* ------------------------------------------------------------ debug */

static void
test_log_debug_hidden_by_default(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_debug("debug detail");
    vcha_info("info line");
    text = logged(f);
    assert_lacks(text, "debug detail");
    assert_contains(text, "info line");
    free(text);
}

static void
assert_debug_shown(struct fixture *f, const char *ha_debug, bool shown)
{
    char *text;

    unlink(f->logfile);
    use_logfile(f);
    setenv("HA_debug", ha_debug, 1);
    vcha_log_init("testagent", "res1");
    vcha_debug("debug detail");
    vcha_info("info line");
    text = logged(f);
    assert_contains(text, "info line");
    if (shown) {
        assert_contains(text, "debug detail");
    } else {
        assert_lacks(text, "debug detail");
    }
    free(text);
}

static void
test_log_ha_debug_1_shows_debug(void **state)
{
    assert_debug_shown(*state, "1", true);
    assert_debug_shown(*state, "yes", true);
    assert_debug_shown(*state, "true", true);
}

static void
test_log_ha_debug_0_hides_debug(void **state)
{
    assert_debug_shown(*state, "0", false);
    assert_debug_shown(*state, "no", false);
    assert_debug_shown(*state, "false", false);
    assert_debug_shown(*state, "", false);
}

/* ------------------------------------------------------------ targets */

static void
test_log_stderr_without_file_or_syslog(void **state)
{
    struct fixture *f = *state;
    char *text;

    setenv("HA_LOGFACILITY", "none", 1);
    capture_stderr(f);
    vcha_log_init("testagent", "res1");
    vcha_warn("to stderr");
    text = stderr_text(f);
    assert_contains(text, "testagent(res1)");
    assert_contains(text, "to stderr");
    free(text);
}

static void
test_log_stderr_priority_drops_less_urgent(void **state)
{
    struct fixture *f = *state;
    char *text;

    setenv("HA_LOGFACILITY", "none", 1);
    setenv("HA_debug", "1", 1);
    capture_stderr(f);
    vcha_log_init("testagent", NULL);
    vcha_log_stderr_priority(LOG_WARNING);
    vcha_info("an info line");
    vcha_debug("a debug line");
    vcha_warn("a warning line");
    vcha_err("an error line");
    text = stderr_text(f);
    assert_null(strstr(text, "an info line"));
    assert_null(strstr(text, "a debug line"));
    assert_contains(text, "a warning line");
    assert_contains(text, "an error line");
    free(text);
}

static void
test_log_file_keeps_stderr_quiet(void **state)
{
    struct fixture *f = *state;
    char *text;

    use_logfile(f);
    capture_stderr(f); /* a file, not a terminal */
    vcha_log_init("testagent", "res1");
    vcha_warn("only in the file");
    text = stderr_text(f);
    assert_string_equal(text, "");
    free(text);
}

static void
test_log_syslog_keeps_stderr_quiet(void **state)
{
    struct fixture *f = *state;
    char *text;

    setenv("HA_LOGFACILITY", "daemon", 1);
    capture_stderr(f);
    vcha_log_init("testagent", "res1");
    vcha_info("vcha unit test: a line for syslog");
    text = stderr_text(f);
    assert_string_equal(text, "");
    free(text);
}

static void
test_log_unopenable_file_falls_back_to_stderr(void **state)
{
    struct fixture *f = *state;
    char *text;

    setenv("HA_LOGFILE", "/nonexistent/dir/ha.log", 1);
    setenv("HA_LOGFACILITY", "none", 1);
    capture_stderr(f);
    vcha_log_init("testagent", "res1");
    vcha_err("nowhere else to go");
    text = stderr_text(f);
    assert_contains(text, "nowhere else to go");
    free(text);
}

/* ------------------------------------------------------------ fini */

static void
test_log_fini_stops_writing_the_file(void **state)
{
    struct fixture *f = *state;
    char *before, *after;

    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_info("while open");
    before = logged(f);
    vcha_info("after fini");
    after = test_slurp(f->logfile);
    assert_non_null(after);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void
test_log_can_be_set_up_again(void **state)
{
    struct fixture *f = *state;
    char *second = test_path(f->dir, "second.log");
    char *text;

    use_logfile(f);
    vcha_log_init("testagent", "res1");
    vcha_info("round one");
    vcha_log_fini();
    setenv("HA_LOGFILE", second, 1);
    vcha_log_init("testagent", "res2");
    vcha_info("round two");
    vcha_log_fini();
    text = test_slurp(second);
    assert_non_null(text);
    assert_contains(text, "testagent(res2)");
    assert_contains(text, "round two");
    assert_lacks(text, "round one");
    free(text);
    text = test_slurp(f->logfile);
    assert_lacks(text, "round two");
    free(text);
    free(second);
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_log_file_gets_messages_with_tag),
        T(test_log_child_lines_carry_its_pid),
        T(test_log_file_one_line_per_message),
        T(test_log_file_is_appended),
        T(test_log_tag_without_instance_is_the_name),
        T(test_log_tag_with_empty_instance_is_the_name),
        T(test_log_tag_from_ha_logtag),
        T(test_log_debug_hidden_by_default),
        T(test_log_ha_debug_1_shows_debug),
        T(test_log_ha_debug_0_hides_debug),
        T(test_log_stderr_without_file_or_syslog),
        T(test_log_stderr_priority_drops_less_urgent),
        T(test_log_file_keeps_stderr_quiet),
        T(test_log_syslog_keeps_stderr_quiet),
        T(test_log_unopenable_file_falls_back_to_stderr),
        T(test_log_fini_stops_writing_the_file),
        T(test_log_can_be_set_up_again),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
