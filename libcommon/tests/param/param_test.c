/* Unit tests for runtime/param.c: parsing, defaults and validation. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vcha/param.h>

#define WHY_LEN 512
#define MIB (1024 * 1024)

/* ------------------------------------------------------------ fixtures */

static int check_calls;

/* A custom check: the value must start with 'x'. */
static int
check_starts_with_x(const char *value, char *why, size_t whylen)
{
    check_calls++;
    if (value[0] != 'x') {
        snprintf(why, whylen, "does not start with 'x'");
        return -EINVAL;
    }
    return 0;
}

static const char *const modes[] = {"fast", "slow", "off", NULL};

enum {
    P_ADDR,
    P_PORT,
    P_MODE,
    P_ENABLED,
    P_INTERVAL,
    P_NAME,
    P_NAME_X,
    N_PARAMS
};

static const struct vcha_param_def defs[N_PARAMS] = {
    [P_ADDR] = {.name = "addr", .type = VCHA_PT_STRING, .required = true},
    [P_PORT] = {.name = "port",
                .type = VCHA_PT_INTEGER,
                .dflt = "53",
                .min = 1,
                .max = 65535},
    [P_MODE] = {.name = "mode",
                .type = VCHA_PT_SELECT,
                .dflt = "fast",
                .options = modes},
    [P_ENABLED] = {.name = "enabled", .type = VCHA_PT_BOOLEAN, .dflt = "true"},
    [P_INTERVAL] = {.name = "interval",
                    .type = VCHA_PT_DURATION,
                    .dflt = "30s",
                    .min = 1000,
                    .max = 3600000},
    [P_NAME] = {.name = "name",
                .type = VCHA_PT_STRING,
                .check = check_starts_with_x},
    [P_NAME_X] = {.name = "name_x", .type = VCHA_PT_STRING},
};

static const struct vcha_param_def int_def = {
    .name = "n", .type = VCHA_PT_INTEGER, .min = -5, .max = 10};
static const struct vcha_param_def unbounded_int_def = {
    .name = "n", .type = VCHA_PT_INTEGER};
static const struct vcha_param_def string_def = {.name = "s",
                                                 .type = VCHA_PT_STRING};
static const struct vcha_param_def checked_int_def = {
    .name = "c", .type = VCHA_PT_INTEGER, .check = check_starts_with_x};

/* Parse the test table from @p env; asserts the return code. */
static struct vcha_params *
parse_ok(char **env)
{
    struct vcha_params *p = NULL;
    char why[WHY_LEN] = "";

    assert_int_equal(
        vcha_params_parse(defs, N_PARAMS, env, &p, why, sizeof(why)), 0);
    assert_non_null(p);
    return p;
}

/* Parse expecting failure; returns the reason in @p why. */
static void
parse_fails(char **env, char *why, size_t whylen)
{
    struct vcha_params *p = (struct vcha_params *) 1; /* must be reset */

    why[0] = '\0';
    assert_int_equal(vcha_params_parse(defs, N_PARAMS, env, &p, why, whylen),
                     -EINVAL);
    assert_null(p);
    assert_true(strlen(why) > 0);
}

static void
assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("'%s' does not contain '%s'", haystack, needle);
    }
}

/* A reason must be printable text: ASCII without control characters. */
static void
assert_printable(const char *text)
{
    for (const unsigned char *s = (const unsigned char *) text; *s; s++) {
        if (*s < 0x20 || *s >= 0x7f) {
            fail_msg("byte 0x%02x in '%s'", *s, text);
        }
    }
}

/* "OCF_RESKEY_<name>=" followed by @p n copies of @p c (free()). */
static char *
env_filled(const char *name, char c, size_t n)
{
    size_t plen = strlen("OCF_RESKEY_=") + strlen(name);
    char *s = malloc(plen + n + 1);

    assert_non_null(s);
    snprintf(s, plen + 1, "OCF_RESKEY_%s=", name);
    memset(s + plen, c, n);
    s[plen + n] = '\0';
    return s;
}

static void
assert_value_rejected(const struct vcha_param_def *def, const char *value,
                      const char *reason_part)
{
    char why[WHY_LEN] = "";
    long long num = 0;

    assert_int_equal(vcha_param_value_check(def, value, &num, why, sizeof(why)),
                     -EINVAL);
    assert_contains(why, reason_part);
}

static void
assert_value_accepted(const struct vcha_param_def *def, const char *value,
                      long long expect)
{
    char why[WHY_LEN] = "";
    long long num = -12345;

    assert_int_equal(vcha_param_value_check(def, value, &num, why, sizeof(why)),
                     0);
    assert_true(num == expect);
}

/* ------------------------------------------------------------ integers */

static void
assert_integer(const char *text, long long expect)
{
    long long v = -1;

    assert_int_equal(vcha_integer_parse(text, &v), 0);
    assert_true(v == expect);
}

static void
test_integer_parse_accepts_whole_numbers(void **state)
{
    (void) state;
    assert_integer("0", 0);
    assert_integer("42", 42);
    assert_integer("-17", -17);
    assert_integer("+5", 5);
    assert_integer("007", 7);
    assert_integer("9223372036854775807", LLONG_MAX);
    assert_integer("-9223372036854775808", LLONG_MIN);
}

static void
test_integer_parse_rejects_malformed_text(void **state)
{
    static const char *const bad[] = {
        "",      " 1", "1 ", "1.5", "0x10", "abc",
        "12abc", "-",  "+",  "1e3", "\xff", "1\n",
    };
    long long v = 99;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vcha_integer_parse(bad[i], &v), -EINVAL);
    }
    assert_int_equal(vcha_integer_parse(NULL, &v), -EINVAL);
    assert_true(v == 99);
}

static void
test_integer_parse_reports_overflow(void **state)
{
    long long v = 99;

    (void) state;
    assert_int_equal(vcha_integer_parse("99999999999999999999", &v), -ERANGE);
    assert_int_equal(vcha_integer_parse("9223372036854775808", &v), -ERANGE);
    assert_int_equal(vcha_integer_parse("-9223372036854775809", &v), -ERANGE);
    assert_true(v == 99);
}

/* ------------------------------------------------------------ durations */

static void
assert_duration(const char *text, long long expect_ms)
{
    long long ms = -1;

    assert_int_equal(vcha_duration_parse(text, &ms), 0);
    assert_true(ms == expect_ms);
}

static void
test_duration_parse_plain_number_is_seconds(void **state)
{
    (void) state;
    assert_duration("30", 30000);
    assert_duration("0", 0);
}

static void
test_duration_parse_units(void **state)
{
    (void) state;
    assert_duration("30s", 30000);
    assert_duration("10sec", 10000);
    assert_duration("500ms", 500);
    assert_duration("10msec", 10);
    assert_duration("2min", 120000);
    assert_duration("3m", 180000);
    assert_duration("1h", 3600000);
    assert_duration("2hr", 7200000);
}

static void
test_duration_parse_microseconds_round_up(void **state)
{
    (void) state;
    assert_duration("5us", 1);
    assert_duration("1000us", 1);
    assert_duration("1001usec", 2);
    assert_duration("0us", 0);
}

static void
test_duration_parse_rejects_malformed_text(void **state)
{
    static const char *const bad[] = {
        "-1",     "10years", "",   "s",   "ms",   "abc",
        "30 s x", "1d",      "+5", "5 5", "\xff", "30s\xff",
    };
    long long ms = 99;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (vcha_duration_parse(bad[i], &ms) != -EINVAL) {
            fail_msg("'%s' was not rejected", bad[i]);
        }
    }
    assert_int_equal(vcha_duration_parse(NULL, &ms), -EINVAL);
    assert_true(ms == 99);
}

static void
test_duration_parse_reports_overflow(void **state)
{
    long long ms = 99;

    (void) state;
    assert_int_equal(vcha_duration_parse("99999999999999999999", &ms), -ERANGE);
    /* the number fits, the conversion to ms does not */
    assert_int_equal(vcha_duration_parse("9223372036854775h", &ms), -ERANGE);
    assert_int_equal(vcha_duration_parse("9999999999999999s", &ms), -ERANGE);
    assert_true(ms == 99);
}

/* ------------------------------------------------------------ booleans */

static void
test_boolean_parse_true_words(void **state)
{
    static const char *const yes[] = {"1",  "yes", "y",    "true",
                                      "on", "YES", "True", "ON"};

    (void) state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;

        assert_int_equal(vcha_boolean_parse(yes[i], &b), 0);
        assert_true(b);
    }
}

static void
test_boolean_parse_false_words(void **state)
{
    static const char *const no[] = {"0",   "no", "n",     "false",
                                     "off", "NO", "False", "Off"};

    (void) state;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        bool b = true;

        assert_int_equal(vcha_boolean_parse(no[i], &b), 0);
        assert_false(b);
    }
}

static void
test_boolean_parse_rejects_other_text(void **state)
{
    static const char *const bad[] = {"",     "2",   "yess", "maybe",
                                      " yes", "no ", "tru",  "\xff"};
    bool b = true;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vcha_boolean_parse(bad[i], &b), -EINVAL);
    }
    assert_int_equal(vcha_boolean_parse(NULL, &b), -EINVAL);
    assert_true(b);
}

/* ------------------------------------------------------------ value check */

static void
test_value_check_accepts_utf8_text(void **state)
{
    (void) state;
    assert_value_accepted(&string_def, "plain text", 0);
    assert_value_accepted(&string_def,
                          "Gr\xc3\xbc\xc3\x9f"
                          "e",
                          0);
    assert_value_accepted(&string_def, "\xe2\x82\xac 5", 0);   /* euro */
    assert_value_accepted(&string_def, "\xf0\x9f\x98\x80", 0); /* emoji */
    assert_value_accepted(&string_def, "\xf4\x8f\xbf\xbf", 0); /* max */
}

static void
test_value_check_accepts_empty_string(void **state)
{
    (void) state;
    assert_value_accepted(&string_def, "", 0);
}

static void
test_value_check_rejects_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xff",
        "abc\x80",
        "\xc3",
        "\xc3(",
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\xf8\x88\x80\x80\x80",
    };

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_value_rejected(&string_def, bad[i], "UTF-8");
    }
}

static void
test_value_check_rejects_overlong_utf8(void **state)
{
    (void) state;
    assert_value_rejected(&string_def, "\xc0\xaf", "UTF-8"); /* '/' */
    assert_value_rejected(&string_def, "\xc1\xbf", "UTF-8");
    assert_value_rejected(&string_def, "\xe0\x80\xaf", "UTF-8");
    assert_value_rejected(&string_def, "\xf0\x80\x80\xaf", "UTF-8");
    assert_value_rejected(&string_def,
                          "a\xc0\x80"
                          "b",
                          "UTF-8"); /* NUL */
}

static void
test_value_check_rejects_surrogates_and_beyond_unicode(void **state)
{
    (void) state;
    assert_value_rejected(&string_def, "\xed\xa0\x80", "UTF-8");
    assert_value_rejected(&string_def, "\xed\xbf\xbf", "UTF-8");
    assert_value_rejected(&string_def, "\xf4\x90\x80\x80", "UTF-8");
}

static void
test_value_check_rejects_control_characters(void **state)
{
    static const char *const bad[] = {"a\nb",  "\t", "\x1b[31m",
                                      "x\x7f", "\r", "end\x01"};

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_value_rejected(&string_def, bad[i], "control character");
    }
}

static void
test_value_check_rejects_huge_value(void **state)
{
    char *huge = malloc(MIB + 1);

    (void) state;
    assert_non_null(huge);
    memset(huge, 'a', MIB);
    huge[MIB] = '\0';
    assert_value_rejected(&string_def, huge, "longer than");
    free(huge);
}

static void
test_value_check_accepts_a_long_ordinary_value(void **state)
{
    char value[1001];

    (void) state;
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_value_accepted(&string_def, value, 0);
}

static void
test_value_check_integer_bounds_are_inclusive(void **state)
{
    (void) state;
    assert_value_accepted(&int_def, "-5", -5);
    assert_value_accepted(&int_def, "10", 10);
    assert_value_accepted(&int_def, "0", 0);
    assert_value_rejected(&int_def, "-6", "between -5 and 10");
    assert_value_rejected(&int_def, "11", "between -5 and 10");
}

static void
test_value_check_integer_without_bounds(void **state)
{
    (void) state;
    assert_value_accepted(&unbounded_int_def, "-9223372036854775808",
                          LLONG_MIN);
    assert_value_accepted(&unbounded_int_def, "9223372036854775807", LLONG_MAX);
}

static void
test_value_check_integer_malformed_and_overflow(void **state)
{
    (void) state;
    assert_value_rejected(&unbounded_int_def, "", "whole number");
    assert_value_rejected(&unbounded_int_def, "12abc", "whole number");
    assert_value_rejected(&unbounded_int_def, "99999999999999999999", "64-bit");
}

static void
test_value_check_boolean_gives_zero_or_one(void **state)
{
    const struct vcha_param_def *b = &defs[P_ENABLED];

    (void) state;
    assert_value_accepted(b, "yes", 1);
    assert_value_accepted(b, "off", 0);
    assert_value_rejected(b, "maybe", "not a boolean");
}

static void
test_value_check_select_gives_option_index(void **state)
{
    const struct vcha_param_def *m = &defs[P_MODE];

    (void) state;
    assert_value_accepted(m, "fast", 0);
    assert_value_accepted(m, "slow", 1);
    assert_value_accepted(m, "off", 2);
}

static void
test_value_check_select_rejects_other_values(void **state)
{
    const struct vcha_param_def *m = &defs[P_MODE];

    (void) state;
    assert_value_rejected(m, "SLOW", "allowed values");
    assert_value_rejected(m, "", "allowed values");
    assert_value_rejected(m, "fast ", "allowed values");
    assert_value_rejected(m, "medium", "allowed values");
}

static void
test_value_check_duration_in_ms_within_bounds(void **state)
{
    const struct vcha_param_def *d = &defs[P_INTERVAL];

    (void) state;
    assert_value_accepted(d, "1s", 1000);
    assert_value_accepted(d, "1h", 3600000);
    assert_value_accepted(d, "2min", 120000);
    assert_value_rejected(d, "500ms", "between 1000ms and 3600000ms");
    assert_value_rejected(d, "2h", "between 1000ms and 3600000ms");
    assert_value_rejected(d, "-1", "not a duration");
    assert_value_rejected(d, "10years", "not a duration");
    assert_value_rejected(d, "99999999999999999999", "too long");
}

static void
test_value_check_num_may_be_null(void **state)
{
    char why[WHY_LEN];

    (void) state;
    assert_int_equal(
        vcha_param_value_check(&int_def, "3", NULL, why, sizeof(why)), 0);
    assert_int_equal(
        vcha_param_value_check(&int_def, "30", NULL, why, sizeof(why)),
        -EINVAL);
}

static void
test_value_check_runs_custom_check(void **state)
{
    const struct vcha_param_def *n = &defs[P_NAME];

    (void) state;
    check_calls = 0;
    assert_value_accepted(n, "xylophone", 0);
    assert_value_rejected(n, "abc", "does not start with 'x'");
    assert_int_equal(check_calls, 2);
}

static void
test_value_check_custom_check_only_after_type_check(void **state)
{
    (void) state;
    check_calls = 0;
    assert_value_rejected(&checked_int_def, "x1", "whole number");
    assert_value_rejected(&string_def, "x\n", "control character");
    assert_int_equal(check_calls, 0);
    assert_value_rejected(&checked_int_def, "12", "does not start with 'x'");
    assert_int_equal(check_calls, 1);
}

/* ------------------------------------------------------------ params */

static void
test_params_parse_reads_given_values(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=192.0.2.1", "OCF_RESKEY_port=5353",
                   "OCF_RESKEY_mode=slow",      "OCF_RESKEY_enabled=no",
                   "OCF_RESKEY_interval=2min",  "OCF_RESKEY_name=xray",
                   "OCF_RESKEY_name_x=other",   NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_string_equal(vcha_param_str(p, P_ADDR), "192.0.2.1");
    assert_true(vcha_param_num(p, P_PORT) == 5353);
    assert_true(vcha_param_num(p, P_MODE) == 1);
    assert_true(vcha_param_num(p, P_ENABLED) == 0);
    assert_true(vcha_param_num(p, P_INTERVAL) == 120000);
    assert_string_equal(vcha_param_str(p, P_NAME), "xray");
    assert_string_equal(vcha_param_str(p, P_NAME_X), "other");
    for (size_t i = 0; i < N_PARAMS; i++) {
        assert_true(vcha_param_is_set(p, i));
        assert_true(p->v[i].present);
    }
    /* the text points into the environment, it is not a copy */
    assert_ptr_equal(vcha_param_str(p, P_ADDR),
                     env[0] + strlen("OCF_RESKEY_addr="));
    vcha_params_free(p);
}

static void
test_params_parse_fills_defaults_as_present_not_set(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_ptr_equal(vcha_param_str(p, P_PORT), defs[P_PORT].dflt);
    assert_true(vcha_param_num(p, P_PORT) == 53);
    assert_true(vcha_param_num(p, P_MODE) == 0);
    assert_true(vcha_param_num(p, P_ENABLED) == 1);
    assert_true(vcha_param_num(p, P_INTERVAL) == 30000);
    for (size_t i = P_PORT; i <= P_INTERVAL; i++) {
        assert_true(p->v[i].present);
        assert_false(p->v[i].set);
        assert_false(vcha_param_is_set(p, i));
    }
    vcha_params_free(p);
}

static void
test_params_parse_absent_optional_is_not_present(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_null(vcha_param_str(p, P_NAME_X));
    assert_true(vcha_param_num(p, P_NAME_X) == 0);
    assert_false(vcha_param_is_set(p, P_NAME_X));
    assert_false(p->v[P_NAME_X].present);
    vcha_params_free(p);
}

static void
test_params_parse_empty_value_falls_back_to_default(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_port=", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_string_equal(vcha_param_str(p, P_PORT), "53");
    assert_false(vcha_param_is_set(p, P_PORT));
    vcha_params_free(p);
}

static void
test_params_parse_missing_required_names_it(void **state)
{
    char *env[] = {"OCF_RESKEY_port=53", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
    assert_contains(why, "required");
}

static void
test_params_parse_empty_required_names_it(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
}

static void
test_params_parse_bad_value_names_parameter_and_value(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_port=fifty", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_string_equal(why,
                        "parameter 'port' value 'fifty' is not a whole number");
}

static void
test_params_parse_integer_out_of_bounds(void **state)
{
    char *low[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_port=0", NULL};
    char *high[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_port=65536", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(low, why, sizeof(why));
    assert_contains(why, "'port'");
    assert_contains(why, "between 1 and 65535");
    parse_fails(high, why, sizeof(why));
    assert_contains(why, "between 1 and 65535");
}

static void
test_params_parse_overflowing_integer(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_port=99999999999999999999",
                   NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'port'");
    assert_contains(why, "64-bit");
}

static void
test_params_parse_unknown_select_option(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_mode=medium", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'mode'");
    assert_contains(why, "'medium'");
}

static void
test_params_parse_duration_bounds_and_syntax(void **state)
{
    char *small[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_interval=5us", NULL};
    char *neg[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_interval=-1", NULL};
    char *huge[] = {"OCF_RESKEY_addr=a",
                    "OCF_RESKEY_interval=99999999999999999999", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(small, why, sizeof(why));
    assert_contains(why, "'interval'");
    assert_contains(why, "between 1000ms and 3600000ms");
    parse_fails(neg, why, sizeof(why));
    assert_contains(why, "not a duration");
    parse_fails(huge, why, sizeof(why));
    assert_contains(why, "too long");
}

static void
test_params_parse_custom_check_reason_in_error(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_name=yankee", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_string_equal(
        why, "parameter 'name' value 'yankee' does not start with 'x'");
}

static void
test_params_parse_checks_defaults_too(void **state)
{
    static const struct vcha_param_def bad_default[] = {
        {.name = "n", .type = VCHA_PT_INTEGER, .dflt = "ten"},
    };
    struct vcha_params *p = NULL;
    char *env[] = {NULL};
    char why[WHY_LEN] = "";

    (void) state;
    assert_int_equal(
        vcha_params_parse(bad_default, 1, env, &p, why, sizeof(why)), -EINVAL);
    assert_null(p);
    assert_contains(why, "'n'");
}

static void
test_params_parse_reports_first_bad_parameter(void **state)
{
    char *env[] = {"OCF_RESKEY_name=bad", "OCF_RESKEY_port=bad",
                   "OCF_RESKEY_addr=a", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'port'"); /* port comes first in the table */
}

static void
test_params_parse_prefix_names_are_distinct(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_name_x=long",
                   "OCF_RESKEY_name=xshort", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_string_equal(vcha_param_str(p, P_NAME), "xshort");
    assert_string_equal(vcha_param_str(p, P_NAME_X), "long");
    vcha_params_free(p);
}

static void
test_params_parse_longer_name_does_not_set_prefix(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", "OCF_RESKEY_name_x=long", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_null(vcha_param_str(p, P_NAME));
    assert_false(vcha_param_is_set(p, P_NAME));
    vcha_params_free(p);
}

static void
test_params_parse_ignores_other_variables(void **state)
{
    char *env[] = {"addr=a",
                   "XOCF_RESKEY_addr=a",
                   "OCF_RESKEYaddr=a",
                   "OCF_RESKEY_ADDR=a",
                   "OCF_RESKEY_addr",
                   "OCF_RESKEY_add=a",
                   NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
}

static void
test_params_parse_huge_value_gives_short_reason(void **state)
{
    char *big = env_filled("addr", 'a', MIB);
    char *env[] = {big, NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
    assert_contains(why, "longer than");
    assert_true(strlen(why) < 200);
    free(big);
}

static void
test_params_parse_does_not_echo_invalid_utf8(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=caf\xc3(\xff", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
    assert_contains(why, "UTF-8");
    assert_printable(why);
}

static void
test_params_parse_does_not_echo_control_characters(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a\nocf-exit-reason:fake", NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'addr'");
    assert_contains(why, "control character");
    assert_printable(why);
}

static void
test_params_parse_long_bad_value_not_echoed(void **state)
{
    char *big = env_filled("port", '7', 300);
    char *env[] = {"OCF_RESKEY_addr=a", big, NULL};
    char why[WHY_LEN];

    (void) state;
    parse_fails(env, why, sizeof(why));
    assert_contains(why, "'port'");
    assert_null(strstr(why, "7777777777"));
    free(big);
}

static void
test_params_parse_uses_process_environment(void **state)
{
    struct vcha_params *p = NULL;
    char why[WHY_LEN];

    (void) state;
    setenv("OCF_RESKEY_addr", "from-environ", 1);
    setenv("OCF_RESKEY_port", "8053", 1);
    assert_int_equal(
        vcha_params_parse(defs, N_PARAMS, NULL, &p, why, sizeof(why)), 0);
    unsetenv("OCF_RESKEY_addr");
    unsetenv("OCF_RESKEY_port");
    assert_string_equal(vcha_param_str(p, P_ADDR), "from-environ");
    assert_true(vcha_param_num(p, P_PORT) == 8053);
    vcha_params_free(p);
}

static void
test_params_parse_empty_table(void **state)
{
    struct vcha_params *p = NULL;
    char *env[] = {"OCF_RESKEY_addr=a", NULL};
    char why[WHY_LEN];

    (void) state;
    assert_int_equal(vcha_params_parse(defs, 0, env, &p, why, sizeof(why)), 0);
    assert_non_null(p);
    assert_null(vcha_param_str(p, 0));
    vcha_params_free(p);
}

/* ------------------------------------------------------------ lookup */

/* Values as a fence agent holds them: names and texts side by side. */
struct lookup_table {
    const char *const *names;
    const char *const *values;
    int calls;
};

static const char *
table_lookup(void *ctx, const char *name)
{
    struct lookup_table *t = ctx;

    t->calls++;
    for (size_t i = 0; t->names[i] != NULL; i++) {
        if (strcmp(t->names[i], name) == 0) {
            return t->values[i];
        }
    }
    return NULL;
}

static void
test_params_parse_with_reads_through_lookup(void **state)
{
    static const char *const names[] = {"addr", "port", "interval", "name_x",
                                        NULL};
    static const char *const values[] = {"192.0.2.9", "8053", "90s", "", NULL};
    struct lookup_table t = {names, values, 0};
    struct vcha_params *p = NULL;
    char why[WHY_LEN] = "";

    (void) state;
    assert_int_equal(vcha_params_parse_with(defs, N_PARAMS, table_lookup, &t,
                                            &p, why, sizeof(why)),
                     0);
    assert_int_equal(t.calls, N_PARAMS); /* once per parameter */
    assert_ptr_equal(vcha_param_str(p, P_ADDR), values[0]); /* no copy */
    assert_true(vcha_param_num(p, P_PORT) == 8053);
    assert_true(vcha_param_num(p, P_INTERVAL) == 90000);
    assert_string_equal(vcha_param_str(p, P_MODE), "fast"); /* NULL: default */
    assert_false(vcha_param_is_set(p, P_MODE));
    assert_false(p->v[P_NAME_X].present); /* "": not given, no default */
    vcha_params_free(p);
}

static void
test_params_parse_with_reports_bad_values(void **state)
{
    static const char *const names[] = {"addr", "port", NULL};
    static const char *const values[] = {"a", "0", NULL};
    static const char *const none[] = {NULL};
    struct lookup_table t = {names, values, 0};
    struct vcha_params *p = (struct vcha_params *) 1; /* must be reset */
    char why[WHY_LEN] = "";

    (void) state;
    assert_int_equal(vcha_params_parse_with(defs, N_PARAMS, table_lookup, &t,
                                            &p, why, sizeof(why)),
                     -EINVAL);
    assert_null(p);
    assert_string_equal(why, "parameter 'port' value '0' must be between 1 "
                             "and 65535");
    t.names = none;
    assert_int_equal(vcha_params_parse_with(defs, N_PARAMS, table_lookup, &t,
                                            &p, why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "required parameter 'addr' is not set");
}

static void
test_param_accessors_tolerate_null_and_bad_index(void **state)
{
    char *env[] = {"OCF_RESKEY_addr=a", NULL};
    struct vcha_params *p = parse_ok(env);

    (void) state;
    assert_null(vcha_param_str(NULL, 0));
    assert_true(vcha_param_num(NULL, 0) == 0);
    assert_false(vcha_param_is_set(NULL, 0));
    assert_null(vcha_param_str(p, N_PARAMS));
    assert_true(vcha_param_num(p, N_PARAMS) == 0);
    assert_false(vcha_param_is_set(p, N_PARAMS));
    vcha_params_free(p);
    vcha_params_free(NULL);
}

static void
test_check_abspath(void **state)
{
    char why[128] = "";

    (void) state;
    assert_int_equal(vcha_check_abspath("/etc/key", why, sizeof(why)), 0);
    assert_int_equal(vcha_check_abspath("/", why, sizeof(why)), 0);
    assert_int_equal(vcha_check_abspath("etc/key", why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "is not an absolute path");
    assert_int_equal(vcha_check_abspath("", why, sizeof(why)), -EINVAL);
    assert_int_equal(vcha_check_abspath("./key", why, sizeof(why)), -EINVAL);
}

static void
test_check_command(void **state)
{
    char why[128] = "", max[200] = "p", over[200] = "p";

    (void) state;
    for (int i = 1; i < VCHA_COMMAND_MAX_WORDS; i++) {
        strcat(max, " a");
    }
    strcpy(over, max);
    strcat(over, " a");
    assert_int_equal(vcha_check_command("/bin/true", why, sizeof(why)), 0);
    assert_int_equal(vcha_check_command("  /bin/x  -a\tb ", why, sizeof(why)),
                     0);
    assert_int_equal(vcha_check_command(max, why, sizeof(why)), 0);
    assert_int_equal(vcha_check_command(over, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must be a program and at most 31 arguments");
    assert_int_equal(vcha_check_command("", why, sizeof(why)), -EINVAL);
    assert_int_equal(vcha_check_command(" \t ", why, sizeof(why)), -EINVAL);
}

static void
test_check_attribute_name(void **state)
{
    char why[128] = "";

    (void) state;
    assert_int_equal(vcha_check_attribute_name("web-address", why,
                                               sizeof(why)),
                     0);
    assert_int_equal(vcha_check_attribute_name("node1", why, sizeof(why)), 0);
    assert_int_equal(vcha_check_attribute_name("a b", why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "is not a usable node attribute name");
    assert_int_equal(vcha_check_attribute_name("a=b", why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(vcha_check_attribute_name("a\"b", why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(vcha_check_attribute_name("a'b", why, sizeof(why)),
                     -EINVAL);
}

static void
test_param_type_names(void **state)
{
    (void) state;
    assert_string_equal(vcha_param_type_name(VCHA_PT_STRING), "string");
    assert_string_equal(vcha_param_type_name(VCHA_PT_INTEGER), "integer");
    assert_string_equal(vcha_param_type_name(VCHA_PT_BOOLEAN), "boolean");
    assert_string_equal(vcha_param_type_name(VCHA_PT_SELECT), "select");
    assert_string_equal(vcha_param_type_name(VCHA_PT_DURATION), "duration");
    assert_string_equal(vcha_param_type_name((enum vcha_param_type) 99),
                        "string");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_parse_accepts_whole_numbers),
        cmocka_unit_test(test_integer_parse_rejects_malformed_text),
        cmocka_unit_test(test_integer_parse_reports_overflow),
        cmocka_unit_test(test_duration_parse_plain_number_is_seconds),
        cmocka_unit_test(test_duration_parse_units),
        cmocka_unit_test(test_duration_parse_microseconds_round_up),
        cmocka_unit_test(test_duration_parse_rejects_malformed_text),
        cmocka_unit_test(test_duration_parse_reports_overflow),
        cmocka_unit_test(test_boolean_parse_true_words),
        cmocka_unit_test(test_boolean_parse_false_words),
        cmocka_unit_test(test_boolean_parse_rejects_other_text),
        cmocka_unit_test(test_value_check_accepts_utf8_text),
        cmocka_unit_test(test_value_check_accepts_empty_string),
        cmocka_unit_test(test_value_check_rejects_invalid_utf8),
        cmocka_unit_test(test_value_check_rejects_overlong_utf8),
        cmocka_unit_test(
            test_value_check_rejects_surrogates_and_beyond_unicode),
        cmocka_unit_test(test_value_check_rejects_control_characters),
        cmocka_unit_test(test_value_check_rejects_huge_value),
        cmocka_unit_test(test_value_check_accepts_a_long_ordinary_value),
        cmocka_unit_test(test_value_check_integer_bounds_are_inclusive),
        cmocka_unit_test(test_value_check_integer_without_bounds),
        cmocka_unit_test(test_value_check_integer_malformed_and_overflow),
        cmocka_unit_test(test_value_check_boolean_gives_zero_or_one),
        cmocka_unit_test(test_value_check_select_gives_option_index),
        cmocka_unit_test(test_value_check_select_rejects_other_values),
        cmocka_unit_test(test_value_check_duration_in_ms_within_bounds),
        cmocka_unit_test(test_value_check_num_may_be_null),
        cmocka_unit_test(test_value_check_runs_custom_check),
        cmocka_unit_test(test_value_check_custom_check_only_after_type_check),
        cmocka_unit_test(test_params_parse_reads_given_values),
        cmocka_unit_test(test_params_parse_fills_defaults_as_present_not_set),
        cmocka_unit_test(test_params_parse_absent_optional_is_not_present),
        cmocka_unit_test(test_params_parse_empty_value_falls_back_to_default),
        cmocka_unit_test(test_params_parse_missing_required_names_it),
        cmocka_unit_test(test_params_parse_empty_required_names_it),
        cmocka_unit_test(test_params_parse_bad_value_names_parameter_and_value),
        cmocka_unit_test(test_params_parse_integer_out_of_bounds),
        cmocka_unit_test(test_params_parse_overflowing_integer),
        cmocka_unit_test(test_params_parse_unknown_select_option),
        cmocka_unit_test(test_params_parse_duration_bounds_and_syntax),
        cmocka_unit_test(test_params_parse_custom_check_reason_in_error),
        cmocka_unit_test(test_params_parse_checks_defaults_too),
        cmocka_unit_test(test_params_parse_reports_first_bad_parameter),
        cmocka_unit_test(test_params_parse_prefix_names_are_distinct),
        cmocka_unit_test(test_params_parse_longer_name_does_not_set_prefix),
        cmocka_unit_test(test_params_parse_ignores_other_variables),
        cmocka_unit_test(test_params_parse_huge_value_gives_short_reason),
        cmocka_unit_test(test_params_parse_does_not_echo_invalid_utf8),
        cmocka_unit_test(test_params_parse_does_not_echo_control_characters),
        cmocka_unit_test(test_params_parse_long_bad_value_not_echoed),
        cmocka_unit_test(test_params_parse_uses_process_environment),
        cmocka_unit_test(test_params_parse_empty_table),
        cmocka_unit_test(test_params_parse_with_reads_through_lookup),
        cmocka_unit_test(test_params_parse_with_reports_bad_values),
        cmocka_unit_test(test_param_accessors_tolerate_null_and_bad_index),
        cmocka_unit_test(test_check_abspath),
        cmocka_unit_test(test_check_command),
        cmocka_unit_test(test_check_attribute_name),
        cmocka_unit_test(test_param_type_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
