/*
 * Unit tests for libcommon/colo/colojob.c: the colo job's parameters as
 * vchad and the agent both parse them, and the controller they give.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/colojob.h>
#include <vcha/kv.h>

/* Parse "KEY=VALUE" pairs, NULL-terminated; the params in *out. */
static int
parse(struct vcha_kv *kv, struct vcha_params **out, char *why, size_t len,
      const char *const *pairs)
{
    for (size_t i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        char key[64];

        assert_non_null(eq);
        snprintf(key, sizeof(key), "%.*s", (int) (eq - pairs[i]), pairs[i]);
        assert_int_equal(vcha_kv_set(kv, key, eq + 1), 0);
    }
    return vcha_job_params_parse(&vcha_colo_job, kv, out, why, len);
}

static void
test_defaults(void **state)
{
    static const char *const pairs[] = {"qmp=/run/q.sock", "log=/run/q.log",
                                        NULL};
    struct vcha_kv *kv = vcha_kv_new();
    struct vcha_params *p = NULL;
    struct vcha_coloctl_params c;
    char why[256] = "";

    (void) state;
    assert_int_equal(parse(kv, &p, why, sizeof(why), pairs), 0);
    vcha_colo_job_controller(p, &c);
    assert_int_equal(c.policy, VCHA_COLO_POLICY_COLO);
    assert_int_equal(c.period_ms, 250);
    assert_float_equal(c.setpoint, 4, 1e-9);
    assert_int_equal(c.colo_delay_ms, 10000);
    assert_int_equal(c.window_ms, 3000);
    assert_int_equal(vcha_param_num(p, VCHA_COLOJ_QMP_TIMEOUT), 2000);
    assert_int_equal(vcha_param_num(p, VCHA_COLOJ_ATTR_INTERVAL), 30000);
    vcha_params_free(p);
    vcha_kv_free(kv);
}

static void
test_settings_reach_the_controller(void **state)
{
    static const char *const pairs[] = {"qmp=/run/q.sock",
                                        "log=/run/q.log",
                                        "policy=threshold",
                                        "period_ms=200",
                                        "colo_delay_ms=5000",
                                        "window_ms=8000",
                                        NULL};
    struct vcha_kv *kv = vcha_kv_new();
    struct vcha_params *p = NULL;
    struct vcha_coloctl_params c;
    char why[256] = "";

    (void) state;
    assert_int_equal(parse(kv, &p, why, sizeof(why), pairs), 0);
    vcha_colo_job_controller(p, &c);
    assert_int_equal(c.policy, VCHA_COLO_POLICY_THRESHOLD);
    assert_int_equal(c.period_ms, 200);
    assert_int_equal(c.colo_delay_ms, 5000);
    assert_int_equal(c.window_ms, 8000);
    assert_float_equal(c.setpoint, 5, 1e-9); /* periodic mode's rate */
    assert_int_equal(c.b_bar, 25); /* the rest: the defaults */
    vcha_params_free(p);
    vcha_kv_free(kv);
}

/* Each bad parameter refused, named. */
static void
test_bad_parameters(void **state)
{
    static const struct {
        const char *pairs[4];
        const char *named;
    } bad[] = {
        {{"log=/run/q.log", NULL}, "qmp"},
        {{"qmp=run/q.sock", "log=/run/q.log", NULL}, "qmp"},
        {{"qmp=/run/q.sock", NULL}, "log"},
        {{"qmp=/q", "log=/l", "policy=sometimes", NULL}, "policy"},
        {{"qmp=/q", "log=/l", "period_ms=5", NULL}, "period_ms"},
        {{"qmp=/q", "log=/l", "colo_delay_ms=x", NULL}, "colo_delay_ms"},
        {{"qmp=/q", "log=/l", "attr_interval=100ms", NULL}, "attr_interval"},
        {{"qmp=/q", "log=/l", "colo_delay_ms=200", NULL}, "colo_delay_ms"},
        {{"qmp=/q", "log=/l", "qmp_timeout=10ms", NULL}, "qmp_timeout"},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct vcha_kv *kv = vcha_kv_new();
        struct vcha_params *p = NULL;
        char why[256] = "";

        assert_int_equal(parse(kv, &p, why, sizeof(why), bad[i].pairs),
                         -EINVAL);
        assert_non_null(strstr(why, bad[i].named));
        assert_null(p);
        vcha_kv_free(kv);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_settings_reach_the_controller),
        cmocka_unit_test(test_bad_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
