/*
 * Unit tests for libcommon/colo/coloctl.c: the checkpoint controller of a
 * COLO pair, fed synthetic checkpoint sequences.  tests/colo/colosim
 * replays recorded ones.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/coloctl.h>

#define T0 1000000LL

/* A pair that checkpoints every @p every ms for @p pause ms. */
struct pair {
    struct vcha_coloctl *c;
    long long t; /* the last checkpoint's end */
};

static void
pair_init(struct pair *pr, const struct vcha_coloctl_params *p)
{
    pr->c = vcha_coloctl_new(p, T0);
    assert_non_null(pr->c);
    pr->t = T0;
}

/* @p n checkpoints, each after a run of @p run ms, pausing @p pause ms;
 * the mode after the last. */
static enum vcha_colo_mode
pair_run(struct pair *pr, int n, long long run, long long pause)
{
    int mode = -1;

    for (int i = 0; i < n; i++) {
        long long stop = pr->t + run;

        mode = vcha_coloctl_checkpoint(pr->c, stop, stop + pause);
        assert_true(mode >= 0);
        pr->t = stop + pause;
    }
    return (enum vcha_colo_mode) mode;
}

static struct vcha_coloctl_figures
figures(const struct pair *pr)
{
    struct vcha_coloctl_figures f;

    vcha_coloctl_figures(pr->c, pr->t, &f);
    return f;
}

/* Spend the budget of q1: periodic checkpoints until the probe (q2)
 * begins, which must be after exactly ceil(b) of them. */
static void
spend_budget(struct pair *pr)
{
    struct vcha_coloctl_figures f = figures(pr);
    int n = 0;

    assert_int_equal(f.q, VCHA_COLO_Q1);
    while (figures(pr).q == VCHA_COLO_Q1 && n < 1000) {
        pair_run(pr, 1, 250, 50);
        n++;
    }
    assert_int_equal(n, (int) (f.b + 0.999999));
    assert_int_equal(figures(pr).q, VCHA_COLO_Q2);
    assert_int_equal(vcha_coloctl_mode(pr->c), VCHA_COLO_MODE_COLO);
}

static void
test_defaults_are_the_seeds(void **state)
{
    struct vcha_coloctl_params p;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    assert_int_equal(p.policy, VCHA_COLO_POLICY_HYBRID);
    assert_int_equal(p.period_ms, 250);
    assert_int_equal(p.min_interval_ms, 400);
    assert_int_equal(p.stay_checkpoints, 100);
    assert_int_equal(p.b_bar, 25);
    assert_true(p.k == 0.01 && p.ti_s == 3);
    assert_true(p.sigma0 == 1 && p.d == 0.01 && p.sigma_min == 0.1);
    /* ours */
    assert_int_equal(p.window_ms, 3000);
    assert_true(p.setpoint == 4);
    assert_int_equal(p.judge_after, 3);
    assert_true(p.sigma_up == 2 && p.sigma_max == 4);
    assert_null(vcha_coloctl_params_check(&p));
}

/* Each setting out of range is named, and refused by new(). */
static void
test_params_check_names_the_setting(void **state)
{
    struct vcha_coloctl_params p, bad;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
#define CHECK(field, value, name)                                              \
    do {                                                                       \
        bad = p;                                                               \
        bad.field = value;                                                     \
        assert_string_equal(vcha_coloctl_params_check(&bad), name);            \
        assert_null(vcha_coloctl_new(&bad, T0));                               \
    } while (0)
    CHECK(policy, (enum vcha_colo_policy) 9, "policy");
    CHECK(period_ms, 0, "period_ms");
    CHECK(colo_delay_ms, -1, "colo_delay_ms");
    CHECK(window_ms, 0, "window_ms");
    CHECK(min_interval_ms, 0, "min_interval_ms");
    CHECK(stay_checkpoints, 0, "stay_checkpoints");
    CHECK(b_bar, 0, "b_bar");
    CHECK(d, -0.1, "d");
    CHECK(sigma_min, 9, "sigma_min");
    CHECK(sigma0, 0.05, "sigma0");
    CHECK(sigma_up, 0.5, "sigma_up");
    CHECK(k, -1, "k");
    CHECK(ti_s, 0, "ti_s");
    CHECK(setpoint, 0, "setpoint");
    CHECK(rho_bar_min, 2, "rho_bar_min");
    CHECK(rho_bar0, 0.01, "rho_bar0");
#undef CHECK
}

static void
test_static_policies_never_switch(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_COLO);
    pair_init(&pr, &p);
    assert_int_equal(vcha_coloctl_delay_ms(pr.c), 10000);
    /* back to back: a ratio far above any threshold */
    assert_int_equal(pair_run(&pr, 500, 10, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(figures(&pr).switches, 0);
    vcha_coloctl_free(pr.c);

    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_PERIODIC);
    pair_init(&pr, &p);
    assert_int_equal(vcha_coloctl_mode(pr.c), VCHA_COLO_MODE_PERIODIC);
    assert_int_equal(vcha_coloctl_delay_ms(pr.c), 250);
    assert_int_equal(pair_run(&pr, 500, 5000, 10), VCHA_COLO_MODE_PERIODIC);
    assert_int_equal(figures(&pr).switches, 0);
    vcha_coloctl_free(pr.c);
}

/* The baseline: a mean interval under 400 ms over three checkpoints means
 * periodic mode for 100 checkpoints, then colo again. */
static void
test_threshold_cycle(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_THRESHOLD);
    pair_init(&pr, &p);
    /* 450 ms apart: never */
    assert_int_equal(pair_run(&pr, 50, 400, 50), VCHA_COLO_MODE_COLO);
    /* 350 ms apart: the window's mean falls under 400 only after some */
    int n = 0;

    while (vcha_coloctl_mode(pr.c) == VCHA_COLO_MODE_COLO && n < 100) {
        pair_run(&pr, 1, 300, 50);
        n++;
    }
    assert_int_equal(vcha_coloctl_mode(pr.c), VCHA_COLO_MODE_PERIODIC);
    assert_true(n > 3);
    assert_int_equal(vcha_coloctl_delay_ms(pr.c), 250);
    assert_int_equal(pair_run(&pr, 99, 250, 50), VCHA_COLO_MODE_PERIODIC);
    assert_int_equal(pair_run(&pr, 1, 250, 50), VCHA_COLO_MODE_COLO);
    /* the colo mode is judged on its own checkpoints: the periodic ones
     * in the window do not send it straight back */
    assert_int_equal(pair_run(&pr, 2, 2000, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(figures(&pr).switches, 2);
    vcha_coloctl_free(pr.c);
}

/* q3 -> q1 on a high ratio, the budget b_bar * (sigma + rho_bar) spent one
 * checkpoint at a time, then a b_bar-long probe (q2) and judgement (q3).
 * A ratio is judged on three checkpoints at least. */
static void
test_hybrid_automaton(void **state)
{
    struct vcha_coloctl_params p;
    struct vcha_coloctl_figures f;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    p.sigma_up = 1; /* the seed's equations exactly */
    p.judge_after = p.b_bar;
    pair_init(&pr, &p);
    f = figures(&pr);
    assert_int_equal(f.q, VCHA_COLO_Q3);
    assert_true(f.sigma == 1 && f.b == 0);
    /* rho = 50 / 50 = 1 > 0.25, but one or two checkpoints are no ratio */
    assert_int_equal(pair_run(&pr, 2, 50, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(pair_run(&pr, 1, 50, 50), VCHA_COLO_MODE_PERIODIC);
    f = figures(&pr);
    assert_int_equal(f.q, VCHA_COLO_Q1);
    assert_float_equal(f.sigma, 0.97, 1e-9);
    assert_float_equal(f.b, 25 * (0.97 + 0.25), 1e-9); /* 30.5 */
    assert_int_equal(f.switches, 1);
    spend_budget(&pr); /* 31 */
    /* the probe is not judged, however bad, for b_bar checkpoints */
    assert_int_equal(pair_run(&pr, 25, 50, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q3);
    assert_int_equal(pair_run(&pr, 1, 50, 50), VCHA_COLO_MODE_PERIODIC);
    assert_int_equal(figures(&pr).switches, 3);
    vcha_coloctl_free(pr.c);
}

/* Pauses as long as the window: judged on the last three all the same. */
static void
test_hybrid_long_pauses(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    pair_init(&pr, &p);
    assert_int_equal(pair_run(&pr, 2, 50, 3000), VCHA_COLO_MODE_COLO);
    assert_int_equal(pair_run(&pr, 1, 50, 3000), VCHA_COLO_MODE_PERIODIC);
    vcha_coloctl_free(pr.c);
}

/* In q3 with a ratio under rho_bar: colo stays, sigma falls to sigma_min. */
static void
test_hybrid_stays_in_colo(void **state)
{
    struct vcha_coloctl_params p;
    struct vcha_coloctl_figures f;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    pair_init(&pr, &p);
    /* rho = 50 / 950 = 0.053 */
    assert_int_equal(pair_run(&pr, 200, 950, 50), VCHA_COLO_MODE_COLO);
    f = figures(&pr);
    assert_int_equal(f.q, VCHA_COLO_Q3);
    assert_float_equal(f.sigma, 0.1, 1e-9);
    assert_float_equal(f.rho, 50.0 / 950.0, 0.01);
    assert_int_equal(f.switches, 0);
    vcha_coloctl_free(pr.c);
}

/* sigma_up: a probe that fails at its first judgement multiplies sigma
 * (up to sigma_max), so the next budget is longer; the colo mode the
 * controller begins in is no probe, and a probe that held once and
 * failed later raises nothing. */
static void
test_hybrid_failed_probe_raises_sigma(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    p.judge_after = p.b_bar;
    p.sigma_up = 2;
    p.sigma_max = 3;
    pair_init(&pr, &p);
    pair_run(&pr, 3, 50, 50);
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q1);
    assert_float_equal(figures(&pr).sigma, 0.97, 1e-9); /* not raised */
    spend_budget(&pr);
    pair_run(&pr, 25, 50, 50); /* the probe */
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q3);
    pair_run(&pr, 1, 50, 50); /* fails at its first judgement */
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q1);
    assert_float_equal(figures(&pr).sigma, 2 * 0.96, 1e-9);
    assert_float_equal(figures(&pr).b, 25 * (1.92 + 0.25), 1e-9);
    spend_budget(&pr);
    pair_run(&pr, 26, 50, 50);
    assert_float_equal(figures(&pr).sigma, 3, 1e-9); /* capped */

    /* a probe judged good, then bad: no raise */
    spend_budget(&pr);
    assert_int_equal(pair_run(&pr, 25, 2000, 10), VCHA_COLO_MODE_COLO);
    assert_int_equal(pair_run(&pr, 2, 2000, 10), VCHA_COLO_MODE_COLO);
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q3);
    double sigma = figures(&pr).sigma;
    int n = 0;

    while (vcha_coloctl_mode(pr.c) == VCHA_COLO_MODE_COLO && n < 100) {
        pair_run(&pr, 1, 10, 50);
        n++;
    }
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q1);
    assert_true(n > 3);
    assert_float_equal(figures(&pr).sigma, sigma - n * 0.01, 1e-9);
    vcha_coloctl_free(pr.c);
}

/* Our defaults: a probe judged from its third checkpoint on (a bad one
 * ends in q2), each failed probe doubling sigma up to 4; a probe that
 * holds at its first judgement in q3 sets sigma back to sigma0. */
static void
test_hybrid_early_judgement_and_backoff(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    pair_init(&pr, &p);
    assert_int_equal(pair_run(&pr, 3, 50, 50), VCHA_COLO_MODE_PERIODIC);
    assert_float_equal(figures(&pr).sigma, 0.97, 1e-9);
    spend_budget(&pr);
    /* a bad probe: colo for two checkpoints, ended at the third */
    assert_int_equal(pair_run(&pr, 2, 50, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(pair_run(&pr, 1, 50, 50), VCHA_COLO_MODE_PERIODIC);
    assert_float_equal(figures(&pr).sigma, 1.94, 1e-9);
    spend_budget(&pr); /* 25 * (1.94 + 0.25) */
    pair_run(&pr, 3, 50, 50);
    assert_float_equal(figures(&pr).sigma, 3.88, 1e-9);
    spend_budget(&pr);
    pair_run(&pr, 3, 50, 50);
    assert_float_equal(figures(&pr).sigma, 4, 1e-9); /* capped */
    /* a good probe: through q2 to q3, where its first judgement holds */
    spend_budget(&pr); /* 25 * (4 + 0.25) */
    assert_int_equal(pair_run(&pr, 25, 9950, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(figures(&pr).q, VCHA_COLO_Q3);
    pair_run(&pr, 1, 9950, 50);
    assert_float_equal(figures(&pr).sigma, 1, 1e-9);
    assert_int_equal(vcha_coloctl_mode(pr.c), VCHA_COLO_MODE_COLO);
    vcha_coloctl_free(pr.c);
}

/* Algorithm 1: with a steady rate the proportional part is 0 and rho_bar
 * moves by K * Ts / Ti * (sp - cps) a tick, within its bounds. */
static void
test_hybrid_pi(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;
    long long now;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    p.setpoint = 1.5; /* the seed's */
    pair_init(&pr, &p);
    /* 4 a second for 10 s (rho 10 / 240: stays in q3) */
    pair_run(&pr, 40, 240, 10);
    now = pr.t;
    assert_true(vcha_coloctl_tick(pr.c, now) >= 0); /* the first: a base */
    assert_float_equal(figures(&pr).rho_bar, 0.25, 1e-12);
    pair_run(&pr, 4, 240, 10);
    assert_true(vcha_coloctl_tick(pr.c, pr.t) >= 0);
    assert_float_equal(figures(&pr).rho_bar,
                       0.25 + 0.01 * 1.0 / 3 * (1.5 - 4.0), 1e-6);
    /* a rising rate pulls it down at once (the proportional part) */
    double before = figures(&pr).rho_bar;

    pair_run(&pr, 20, 40, 10);
    assert_true(vcha_coloctl_tick(pr.c, pr.t) >= 0);
    assert_true(figures(&pr).rho_bar < before - 0.01 * 1.0 / 3 * 2.5);
    /* long silence: cps 0, it rises and saturates at rho_bar_max */
    for (int i = 0; i < 2000; i++) {
        pr.t += 1000;
        vcha_coloctl_tick(pr.c, pr.t);
    }
    assert_float_equal(figures(&pr).rho_bar, 1, 1e-12);
    /* busy for long: it falls to rho_bar_min */
    p.policy = VCHA_COLO_POLICY_HYBRID;
    vcha_coloctl_free(pr.c);
    pair_init(&pr, &p);
    for (int i = 0; i < 3000; i++) {
        pair_run(&pr, 10, 90, 10); /* 10 a second */
        vcha_coloctl_tick(pr.c, pr.t);
    }
    assert_float_equal(figures(&pr).rho_bar, 0.05, 1e-12);
    vcha_coloctl_free(pr.c);
}

/* Ticks step the hybrid's outer layer only: they never spend a budget
 * (the threshold's periodic checkpoints, the hybrid's q1) nor change a
 * mode. */
static void
test_ticks_only_steer_the_hybrid(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_THRESHOLD);
    pair_init(&pr, &p);
    while (vcha_coloctl_mode(pr.c) == VCHA_COLO_MODE_COLO) {
        pair_run(&pr, 1, 100, 50);
    }
    for (int i = 0; i < 500; i++) {
        pr.t += 1000;
        assert_int_equal(vcha_coloctl_tick(pr.c, pr.t),
                         VCHA_COLO_MODE_PERIODIC);
    }
    assert_int_equal(pair_run(&pr, 99, 250, 50), VCHA_COLO_MODE_PERIODIC);
    assert_int_equal(pair_run(&pr, 1, 250, 50), VCHA_COLO_MODE_COLO);
    vcha_coloctl_free(pr.c);

    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    pair_init(&pr, &p);
    pair_run(&pr, 3, 50, 50);
    double b = figures(&pr).b;

    for (int i = 0; i < 500; i++) {
        pr.t += 1000;
        assert_int_equal(vcha_coloctl_tick(pr.c, pr.t),
                         VCHA_COLO_MODE_PERIODIC);
    }
    assert_float_equal(figures(&pr).b, b, 1e-9);
    assert_true(figures(&pr).rho_bar > 0.25); /* a quiet second raises it */
    vcha_coloctl_free(pr.c);
}

/* The threshold judges a mean interval on three checkpoints at least:
 * the one a switch forces and the next are not enough. */
static void
test_threshold_judges_three(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_THRESHOLD);
    pair_init(&pr, &p);
    assert_int_equal(pair_run(&pr, 2, 10, 50), VCHA_COLO_MODE_COLO);
    assert_int_equal(pair_run(&pr, 1, 10, 50), VCHA_COLO_MODE_PERIODIC);
    vcha_coloctl_free(pr.c);
}

static void
test_figures(void **state)
{
    struct vcha_coloctl_params p;
    struct vcha_coloctl_figures f;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_COLO);
    pair_init(&pr, &p);
    vcha_coloctl_figures(pr.c, T0, &f);
    assert_int_equal(f.last_checkpoint_ms, -1);
    assert_true(f.downtime_pct == 0 && f.cps == 0 && f.rho == 0);
    /* 20 s of one checkpoint a second, 100 ms each */
    pair_run(&pr, 20, 900, 100);
    f = figures(&pr);
    assert_int_equal(f.checkpoints, 20);
    assert_int_equal(f.last_checkpoint_ms, T0 + 20000);
    assert_float_equal(f.downtime_pct, 10, 1e-9);
    assert_float_equal(f.cps, 1.0, 0.11); /* 10 or 11 in the window */
    assert_float_equal(f.rho, 100.0 / 900.0, 0.012);
    /* all paused: the ratio is huge, not a division by zero */
    pair_run(&pr, 200, 0, 100);
    assert_true(figures(&pr).rho > 1000);
    /* the remembered checkpoints are bounded; figures still hold */
    pair_run(&pr, 5000, 1, 1);
    f = figures(&pr);
    assert_int_equal(f.checkpoints, 5220);
    assert_float_equal(f.rho, 1.0, 0.001);
    assert_float_equal(f.cps, 500, 1);
    vcha_coloctl_free(pr.c);
}

static void
test_time_must_advance(void **state)
{
    struct vcha_coloctl_params p;
    struct pair pr;

    (void) state;
    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_HYBRID);
    pair_init(&pr, &p);
    pair_run(&pr, 1, 100, 50);
    assert_int_equal(vcha_coloctl_checkpoint(pr.c, pr.t - 1, pr.t + 10),
                     -EINVAL);
    assert_int_equal(vcha_coloctl_checkpoint(pr.c, pr.t + 10, pr.t + 5),
                     -EINVAL);
    assert_int_equal(vcha_coloctl_tick(pr.c, pr.t - 1), -EINVAL);
    assert_int_equal(figures(&pr).checkpoints, 1);
    /* a checkpoint that began before a tick is reported after it: kept */
    assert_true(vcha_coloctl_tick(pr.c, pr.t + 100) >= 0);
    assert_true(vcha_coloctl_tick(pr.c, pr.t + 100) >= 0);
    assert_true(vcha_coloctl_checkpoint(pr.c, pr.t + 50, pr.t + 120) >= 0);
    assert_int_equal(figures(&pr).checkpoints, 2);
    assert_int_equal(vcha_coloctl_tick(pr.c, pr.t + 99), -EINVAL);
    vcha_coloctl_free(NULL);
    vcha_coloctl_free(pr.c);
}

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(vcha_colo_mode_name(VCHA_COLO_MODE_COLO), "colo");
    assert_string_equal(vcha_colo_mode_name(VCHA_COLO_MODE_PERIODIC),
                        "periodic");
    assert_string_equal(vcha_colo_mode_name((enum vcha_colo_mode) 7),
                        "unknown");
    for (int i = VCHA_COLO_POLICY_COLO; i <= VCHA_COLO_POLICY_HYBRID; i++) {
        const char *n = vcha_colo_policy_name((enum vcha_colo_policy) i);

        assert_int_equal(vcha_colo_policy_parse(n), i);
    }
    assert_string_equal(vcha_colo_policy_name(VCHA_COLO_POLICY_THRESHOLD),
                        "threshold");
    assert_string_equal(vcha_colo_policy_name((enum vcha_colo_policy) 9),
                        "unknown");
    assert_int_equal(vcha_colo_policy_parse("Hybrid"), -EINVAL);
    assert_int_equal(vcha_colo_policy_parse(NULL), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_seeds),
        cmocka_unit_test(test_params_check_names_the_setting),
        cmocka_unit_test(test_static_policies_never_switch),
        cmocka_unit_test(test_threshold_cycle),
        cmocka_unit_test(test_threshold_judges_three),
        cmocka_unit_test(test_hybrid_automaton),
        cmocka_unit_test(test_hybrid_long_pauses),
        cmocka_unit_test(test_hybrid_stays_in_colo),
        cmocka_unit_test(test_hybrid_failed_probe_raises_sigma),
        cmocka_unit_test(test_hybrid_early_judgement_and_backoff),
        cmocka_unit_test(test_hybrid_pi),
        cmocka_unit_test(test_ticks_only_steer_the_hybrid),
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_time_must_advance),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
