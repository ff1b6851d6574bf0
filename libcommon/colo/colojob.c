/* vcha - the colo job's contract. */
#include <config.h>

#include <errno.h>
#include <stdio.h>

#include <vcha/colojob.h>

static const char *const policies[] = {"colo", "periodic", "threshold",
                                       "hybrid", NULL};

static const struct vcha_param_def params[VCHA_COLOJ_N_PARAMS] = {
    [VCHA_COLOJ_QMP] = {.name = "qmp",
                        .type = VCHA_PT_STRING,
                        .required = true,
                        .check = vcha_check_abspath},
    [VCHA_COLOJ_LOG] = {.name = "log",
                        .type = VCHA_PT_STRING,
                        .required = true,
                        .check = vcha_check_abspath},
    [VCHA_COLOJ_POLICY] = {.name = "policy",
                           .type = VCHA_PT_SELECT,
                           .dflt = "colo",
                           .options = policies},
    [VCHA_COLOJ_PERIOD] = {.name = "period_ms",
                           .type = VCHA_PT_INTEGER,
                           .dflt = "250",
                           .min = 20,
                           .max = 60000},
    [VCHA_COLOJ_COLO_DELAY] = {.name = "colo_delay_ms",
                               .type = VCHA_PT_INTEGER,
                               .dflt = "10000",
                               .min = 100,
                               .max = 3600000},
    [VCHA_COLOJ_WINDOW] = {.name = "window_ms",
                           .type = VCHA_PT_INTEGER,
                           .dflt = "3000",
                           .min = 500,
                           .max = 600000},
    [VCHA_COLOJ_QMP_TIMEOUT] = {.name = "qmp_timeout",
                                .type = VCHA_PT_DURATION,
                                .dflt = "2s",
                                .min = 100,
                                .max = 60000},
    [VCHA_COLOJ_ATTR_INTERVAL] = {.name = "attr_interval",
                                  .type = VCHA_PT_DURATION,
                                  .dflt = "30s",
                                  .min = 1000,
                                  .max = 3600000},
};

/* What the controller itself refuses, said with the job's names. */
static int
contract_check(const struct vcha_params *p, char *why, size_t whylen)
{
    struct vcha_coloctl_params c;
    const char *bad;

    vcha_colo_job_controller(p, &c);
    bad = vcha_coloctl_params_check(&c);
    if (bad != NULL) {
        snprintf(why, whylen, "%s is out of range for the controller", bad);
        return -EINVAL;
    }
    if (c.period_ms >= c.colo_delay_ms) {
        snprintf(why, whylen, "period_ms must be below colo_delay_ms");
        return -EINVAL;
    }
    return 0;
}

const struct vcha_job_def vcha_colo_job = {
    .type = "colo",
    .params = params,
    .n_params = VCHA_COLOJ_N_PARAMS,
    .check = contract_check,
};

void
vcha_colo_job_controller(const struct vcha_params *p,
                         struct vcha_coloctl_params *out)
{
    int policy = vcha_colo_policy_parse(vcha_param_str(p, VCHA_COLOJ_POLICY));

    vcha_coloctl_params_default(out, policy < 0
                                         ? VCHA_COLO_POLICY_HYBRID
                                         : (enum vcha_colo_policy) policy);
    out->period_ms = vcha_param_num(p, VCHA_COLOJ_PERIOD);
    out->colo_delay_ms = vcha_param_num(p, VCHA_COLOJ_COLO_DELAY);
    out->window_ms = vcha_param_num(p, VCHA_COLOJ_WINDOW);
    /* the hybrid's set point is periodic mode's own rate (coloctl.h) */
    out->setpoint = 1000.0 / (double) out->period_ms;
}
