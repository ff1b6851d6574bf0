/* vcha - the checkpoint controller of a COLO pair (seed 003). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/coloctl.h>

/* The checkpoints remembered for the window: more than a window holds at
 * any rate a checkpoint's own pause allows (a pause takes tens of ms). */
#define RING 4096

/* The fewest checkpoints of one mode that a ratio or a mean interval is
 * judged on. */
#define MIN_JUDGED 3

/* A downtime ratio for a window with no uptime at all. */
#define RHO_ALL_DOWN 1e6

struct ckpt {
    long long stop, resume;
};

struct vcha_coloctl {
    struct vcha_coloctl_params p;
    long long start;      /* when it began */
    long long last;       /* the latest time fed */
    struct ckpt ring[RING];
    unsigned head, count; /* ring[head] is the oldest */
    unsigned long long checkpoints, switches;
    long long paused;     /* in all, ms */
    enum vcha_colo_mode mode;
    long long mode_since; /* when the mode last changed */
    /* threshold */
    long left;            /* periodic checkpoints still to make */
    /* hybrid */
    enum vcha_colo_q q;
    double b, sigma, rho_bar;
    bool judged;          /* q3 has judged this probe once */
    bool ticked;          /* a tick was made: last_tick, cps_old hold */
    long long last_tick;
    double cps_old, sp_old;
};

void
vcha_coloctl_params_default(struct vcha_coloctl_params *p,
                            enum vcha_colo_policy policy)
{
    *p = (struct vcha_coloctl_params){
        .policy = policy,
        .period_ms = 250,
        .colo_delay_ms = 10000,
        .window_ms = 3000,
        .min_interval_ms = 400,
        .stay_checkpoints = 100,
        .b_bar = 25,
        .judge_after = 3,
        .sigma0 = 1,
        .d = 0.01,
        .sigma_min = 0.1,
        .sigma_up = 2,
        .sigma_max = 4,
        .k = 0.01,
        .ti_s = 3,
        .setpoint = 4,
        .rho_bar0 = 0.25,
        .rho_bar_min = 0.05,
        .rho_bar_max = 1,
    };
}

const char *
vcha_coloctl_params_check(const struct vcha_coloctl_params *p)
{
    if ((unsigned) p->policy > VCHA_COLO_POLICY_HYBRID) {
        return "policy";
    }
    if (p->period_ms < 1) {
        return "period_ms";
    }
    if (p->colo_delay_ms < 1) {
        return "colo_delay_ms";
    }
    if (p->window_ms < 1) {
        return "window_ms";
    }
    if (p->min_interval_ms < 1) {
        return "min_interval_ms";
    }
    if (p->stay_checkpoints < 1) {
        return "stay_checkpoints";
    }
    if (p->b_bar < 1) {
        return "b_bar";
    }
    if (p->judge_after < 1) {
        return "judge_after";
    }
    if (!(p->d >= 0)) {
        return "d";
    }
    if (!(p->sigma_min >= 0 && p->sigma_min <= p->sigma_max)) {
        return "sigma_min";
    }
    if (!(p->sigma0 >= p->sigma_min && p->sigma0 <= p->sigma_max)) {
        return "sigma0";
    }
    if (!(p->sigma_up >= 1)) {
        return "sigma_up";
    }
    if (!(p->k >= 0)) {
        return "k";
    }
    if (!(p->ti_s > 0)) {
        return "ti_s";
    }
    if (!(p->setpoint > 0)) {
        return "setpoint";
    }
    if (!(p->rho_bar_min >= 0 && p->rho_bar_min <= p->rho_bar_max)) {
        return "rho_bar_min";
    }
    if (!(p->rho_bar0 >= p->rho_bar_min && p->rho_bar0 <= p->rho_bar_max)) {
        return "rho_bar0";
    }
    return NULL;
}

static void
set_mode(struct vcha_coloctl *c, enum vcha_colo_mode m, long long now)
{
    if (c->mode != m) {
        c->mode = m;
        c->mode_since = now;
        c->switches++;
    }
}

struct vcha_coloctl *
vcha_coloctl_new(const struct vcha_coloctl_params *p, long long now_ms)
{
    struct vcha_coloctl *c;

    if (vcha_coloctl_params_check(p) != NULL) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->p = *p;
    c->start = c->last = c->mode_since = now_ms;
    c->mode = p->policy == VCHA_COLO_POLICY_PERIODIC ? VCHA_COLO_MODE_PERIODIC
                                                     : VCHA_COLO_MODE_COLO;
    c->q = VCHA_COLO_Q3;
    c->judged = true; /* the first colo is no probe: no backoff from it */
    c->sigma = p->sigma0;
    c->rho_bar = p->rho_bar0;
    return c;
}

void
vcha_coloctl_free(struct vcha_coloctl *c)
{
    free(c);
}

static const struct ckpt *
ring_at(const struct vcha_coloctl *c, unsigned i)
{
    return &c->ring[(c->head + i) % RING];
}

static void
ring_push(struct vcha_coloctl *c, long long stop, long long resume)
{
    if (c->count == RING) {
        c->head = (c->head + 1) % RING;
        c->count--;
    }
    c->ring[(c->head + c->count) % RING] = (struct ckpt){stop, resume};
    c->count++;
}

/* The checkpoints that began at @p from or later, and their pauses. */
static unsigned
since(const struct vcha_coloctl *c, long long from, long long *paused,
      long long *first_stop, long long *last_stop)
{
    unsigned n = 0;

    *paused = 0;
    for (unsigned i = c->count; i-- > 0;) {
        const struct ckpt *k = ring_at(c, i);

        if (k->stop < from) {
            break;
        }
        if (n == 0) {
            *last_stop = k->stop;
        }
        *first_stop = k->stop;
        *paused += k->resume - k->stop;
        n++;
    }
    return n;
}

static long long
later(long long a, long long b)
{
    return a > b ? a : b;
}

/* The start of a window that begins at @p from, or later when the ring
 * forgot checkpoints in it (only at absurd rates). */
static long long
window_from(const struct vcha_coloctl *c, long long from)
{
    if (c->count == RING) {
        return later(from, ring_at(c, 0)->stop);
    }
    return from;
}

/* The downtime ratio over the window, counted since the mode changed;
 * judged on three checkpoints of the mode at least, so that neither the
 * checkpoint a switch forces nor one early after the start is judged
 * alone (one pause over a short run reads as a ratio near 1): when fewer
 * began in the window, it reaches back to the third last of the mode
 * (pauses as long as the window would otherwise never be judged), and
 * it is 0 while the mode has had fewer than three. */
static double
rho_at(const struct vcha_coloctl *c, long long now)
{
    long long from = window_from(c, later(now - c->p.window_ms,
                                            c->mode_since));
    long long paused, first = 0, last = 0;
    unsigned n = since(c, from, &paused, &first, &last);

    if (n < MIN_JUDGED && c->count >= MIN_JUDGED) {
        long long third = ring_at(c, c->count - MIN_JUDGED)->stop;

        if (third >= c->mode_since) {
            from = third;
            n = since(c, from, &paused, &first, &last);
        }
    }
    long long span = now - from;

    if (n < MIN_JUDGED || span <= 0) {
        return 0;
    }
    if (paused >= span) {
        return RHO_ALL_DOWN;
    }
    return (double) paused / (double) (span - paused);
}

/* Checkpoints per second over the window (or since it began). */
static double
cps_at(const struct vcha_coloctl *c, long long now)
{
    long long from = window_from(c, later(now - c->p.window_ms, c->start));
    long long paused, first = 0, last = 0;
    unsigned n = since(c, from, &paused, &first, &last);

    return now > from ? n * 1000.0 / (double) (now - from) : 0;
}

/* Threshold: the mean interval between the checkpoints of the current
 * mode in the window is below the limit (judged on MIN_JUDGED at least,
 * as rho_at()). */
static bool
too_frequent(const struct vcha_coloctl *c, long long now)
{
    long long from = later(now - c->p.window_ms, c->mode_since);
    long long paused, first = 0, last = 0;
    unsigned n = since(c, from, &paused, &first, &last);

    return n >= MIN_JUDGED && (last - first) / (long long) (n - 1) <
                         c->p.min_interval_ms;
}

static void
step_threshold(struct vcha_coloctl *c, long long now)
{
    if (c->mode == VCHA_COLO_MODE_PERIODIC) {
        if (--c->left <= 0) {
            set_mode(c, VCHA_COLO_MODE_COLO, now);
        }
    } else if (too_frequent(c, now)) {
        c->left = c->p.stay_checkpoints;
        set_mode(c, VCHA_COLO_MODE_PERIODIC, now);
    }
}

/* A probe failed: periodic mode again, with a budget that grows with
 * sigma (sigma_up > 1: each failed probe makes the next one later). */
static void
probe_failed(struct vcha_coloctl *c, long long now, bool raise)
{
    const struct vcha_coloctl_params *p = &c->p;

    if (raise) {
        c->sigma *= p->sigma_up;
        if (c->sigma > p->sigma_max) {
            c->sigma = p->sigma_max;
        }
    }
    c->q = VCHA_COLO_Q1;
    c->b = (double) p->b_bar * (c->sigma + c->rho_bar);
    set_mode(c, VCHA_COLO_MODE_PERIODIC, now);
}

/* The inner layer: one step of the automaton at a checkpoint. */
static void
step_hybrid(struct vcha_coloctl *c, long long now)
{
    const struct vcha_coloctl_params *p = &c->p;

    switch (c->q) {
    case VCHA_COLO_Q1:
        c->b -= 1;
        if (c->b <= 0) {
            c->q = VCHA_COLO_Q2;
            c->b = 0;
            set_mode(c, VCHA_COLO_MODE_COLO, now);
        }
        break;
    case VCHA_COLO_Q2:
        c->b += 1;
        if (c->b >= (double) p->judge_after && c->b < (double) p->b_bar &&
            rho_at(c, now) > c->rho_bar) {
            probe_failed(c, now, true);
        } else if (c->b >= (double) p->b_bar) {
            c->q = VCHA_COLO_Q3;
            c->judged = false;
        }
        break;
    case VCHA_COLO_Q3:
        c->sigma = c->sigma - p->d;
        if (c->sigma < p->sigma_min) {
            c->sigma = p->sigma_min;
        }
        if (rho_at(c, now) > c->rho_bar) {
            probe_failed(c, now, !c->judged);
        } else if (!c->judged && c->sigma > p->sigma0) {
            c->sigma = p->sigma0; /* a probe that holds ends the backoff */
        }
        c->judged = true;
        break;
    }
}

int
vcha_coloctl_checkpoint(struct vcha_coloctl *c, long long stop_ms,
                        long long resume_ms)
{
    if (stop_ms < c->last || resume_ms < stop_ms) {
        return -EINVAL;
    }
    ring_push(c, stop_ms, resume_ms);
    c->checkpoints++;
    c->paused += resume_ms - stop_ms;
    c->last = resume_ms;
    if (c->p.policy == VCHA_COLO_POLICY_THRESHOLD) {
        step_threshold(c, resume_ms);
    } else if (c->p.policy == VCHA_COLO_POLICY_HYBRID) {
        step_hybrid(c, resume_ms);
    }
    return (int) c->mode;
}

/* The outer layer: Algorithm 1's saturated PI on the checkpoint rate. */
static void
step_pi(struct vcha_coloctl *c, long long now)
{
    const struct vcha_coloctl_params *p = &c->p;
    double cps = cps_at(c, now);
    double ts = (double) (now - c->last_tick) / 1000.0;

    if (!c->ticked) {
        c->ticked = true;
        c->last_tick = now;
        c->cps_old = cps;
        c->sp_old = p->setpoint;
        return;
    }
    if (ts <= 0) {
        return;
    }
    double dp = p->k * ((p->setpoint - c->sp_old) - (cps - c->cps_old));
    double di = p->k * ts / p->ti_s * (p->setpoint - cps);

    c->rho_bar += dp + di;
    if (c->rho_bar > p->rho_bar_max) {
        c->rho_bar = p->rho_bar_max;
    }
    if (c->rho_bar < p->rho_bar_min) {
        c->rho_bar = p->rho_bar_min;
    }
    c->cps_old = cps;
    c->sp_old = p->setpoint;
    c->last_tick = now;
}

int
vcha_coloctl_tick(struct vcha_coloctl *c, long long now_ms)
{
    /* a tick leaves c->last alone: a checkpoint reported after it may
     * have begun before it */
    if (now_ms < c->last || (c->ticked && now_ms < c->last_tick)) {
        return -EINVAL;
    }
    if (c->p.policy == VCHA_COLO_POLICY_HYBRID) {
        step_pi(c, now_ms);
    }
    return (int) c->mode;
}

enum vcha_colo_mode
vcha_coloctl_mode(const struct vcha_coloctl *c)
{
    return c->mode;
}

long long
vcha_coloctl_delay_ms(const struct vcha_coloctl *c)
{
    return c->mode == VCHA_COLO_MODE_PERIODIC ? c->p.period_ms
                                              : c->p.colo_delay_ms;
}

void
vcha_coloctl_figures(const struct vcha_coloctl *c, long long now_ms,
                     struct vcha_coloctl_figures *out)
{
    bool hybrid = c->p.policy == VCHA_COLO_POLICY_HYBRID;
    long long elapsed = now_ms - c->start;
    long long last = -1;

    if (c->count > 0) {
        last = ring_at(c, c->count - 1)->resume;
    }
    *out = (struct vcha_coloctl_figures){
        .mode = c->mode,
        .q = hybrid ? c->q : 0,
        .b = hybrid ? c->b : 0,
        .sigma = hybrid ? c->sigma : 0,
        .rho_bar = hybrid ? c->rho_bar : 0,
        .rho = rho_at(c, now_ms),
        .cps = cps_at(c, now_ms),
        .downtime_pct = elapsed > 0 ? 100.0 * (double) c->paused /
                                          (double) elapsed
                                    : 0,
        .checkpoints = c->checkpoints,
        .switches = c->switches,
        .last_checkpoint_ms = last,
    };
}

const char *
vcha_colo_mode_name(enum vcha_colo_mode m)
{
    switch (m) {
    case VCHA_COLO_MODE_COLO:
        return "colo";
    case VCHA_COLO_MODE_PERIODIC:
        return "periodic";
    }
    return "unknown";
}

static const char *const policy_names[] = {
    [VCHA_COLO_POLICY_COLO] = "colo",
    [VCHA_COLO_POLICY_PERIODIC] = "periodic",
    [VCHA_COLO_POLICY_THRESHOLD] = "threshold",
    [VCHA_COLO_POLICY_HYBRID] = "hybrid",
};

const char *
vcha_colo_policy_name(enum vcha_colo_policy p)
{
    if ((unsigned) p >= sizeof(policy_names) / sizeof(policy_names[0])) {
        return "unknown";
    }
    return policy_names[p];
}

int
vcha_colo_policy_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]);
         i++) {
        if (name != NULL && strcmp(name, policy_names[i]) == 0) {
            return (int) i;
        }
    }
    return -EINVAL;
}
