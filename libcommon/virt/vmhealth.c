/* vcha - out-of-band health of a libvirt domain: the classifier. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>

#include <vcha/vmhealth.h>

/* No run under way (any time may be a sample's, 0 too). */
#define NONE LLONG_MIN

struct vcha_vmhealth {
    struct vcha_vmhealth_limits lim;
    struct vcha_vmhealth_sample prev; /* valid when samples > 0 */
    unsigned long long samples;
    /* start of the current unbroken run of stalled / busy-silent
     * intervals (the first interval's start), NONE: no such run */
    long long stalled_from, spinning_from;
    enum vcha_vmhealth_verdict verdict;
    long long verdict_from;
};

void
vcha_vmhealth_limits_default(struct vcha_vmhealth_limits *l)
{
    *l = (struct vcha_vmhealth_limits){
        .hung_cpu_pct = 0.5,
        .hung_after_ms = 5000,
        .spin_cpu_pct = 90,
        .spin_after_ms = 30000,
    };
}

struct vcha_vmhealth *
vcha_vmhealth_new(const struct vcha_vmhealth_limits *l)
{
    struct vcha_vmhealth *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return NULL;
    }
    if (l != NULL) {
        h->lim = *l;
    } else {
        vcha_vmhealth_limits_default(&h->lim);
    }
    return h;
}

void
vcha_vmhealth_free(struct vcha_vmhealth *h)
{
    free(h);
}

const char *
vcha_vmhealth_verdict_name(enum vcha_vmhealth_verdict v)
{
    static const char *const names[] = {
        [VCHA_VMH_UNKNOWN] = "unknown",   [VCHA_VMH_NORMAL] = "normal",
        [VCHA_VMH_HUNG] = "hung",         [VCHA_VMH_SPINNING] = "spinning",
        [VCHA_VMH_PANICKED] = "panicked", [VCHA_VMH_PAUSED] = "paused",
    };

    if ((unsigned) v >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }
    return names[v];
}

bool
vcha_vmhealth_verdict_failed(enum vcha_vmhealth_verdict v)
{
    return v == VCHA_VMH_HUNG || v == VCHA_VMH_SPINNING ||
           v == VCHA_VMH_PANICKED || v == VCHA_VMH_PAUSED;
}

/* The verdict the state alone gives; NORMAL: it runs, judge its figures. */
static enum vcha_vmhealth_verdict
state_verdict(int state, int reason)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return VCHA_VMH_NORMAL;
    case VIR_DOMAIN_CRASHED:
        return VCHA_VMH_PANICKED;
    case VIR_DOMAIN_SHUTOFF:
        return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? VCHA_VMH_PANICKED
                                                    : VCHA_VMH_UNKNOWN;
    case VIR_DOMAIN_PAUSED:
        switch (reason) {
        case VIR_DOMAIN_PAUSED_CRASHED:
            return VCHA_VMH_PANICKED;
        /* the cluster's or the admin's own doing, and brief */
        case VIR_DOMAIN_PAUSED_MIGRATION:
        case VIR_DOMAIN_PAUSED_POSTCOPY:
        case VIR_DOMAIN_PAUSED_SNAPSHOT:
        case VIR_DOMAIN_PAUSED_FROM_SNAPSHOT:
        case VIR_DOMAIN_PAUSED_SAVE:
        case VIR_DOMAIN_PAUSED_STARTING_UP:
            return VCHA_VMH_NORMAL;
        default:
            return VCHA_VMH_PAUSED;
        }
    default: /* shutting down, suspended to memory, no state */
        return VCHA_VMH_UNKNOWN;
    }
}

static bool
running(const struct vcha_vmhealth_sample *s)
{
    return s->state == VIR_DOMAIN_RUNNING || s->state == VIR_DOMAIN_BLOCKED;
}

/* Both samples hold the I/O counters. */
static bool
io_both(const struct vcha_vmhealth_sample *p,
        const struct vcha_vmhealth_sample *s)
{
    return p->io_known && s->io_known;
}

/* Both samples hold the vCPUs' wait for a host CPU. */
static bool
delay_both(const struct vcha_vmhealth_sample *p,
           const struct vcha_vmhealth_sample *s)
{
    return p->delay_known && s->delay_known;
}

/* A counter went backwards: another run of the domain.  Counters that
 * either sample lacks (zeros) are not compared. */
static bool
restarted(const struct vcha_vmhealth_sample *p,
          const struct vcha_vmhealth_sample *s)
{
    return s->cpu_ns < p->cpu_ns ||
           (io_both(p, s) &&
            (s->blk_bytes < p->blk_bytes || s->blk_reqs < p->blk_reqs ||
             s->net_bytes < p->net_bytes)) ||
           (delay_both(p, s) && s->vcpu_delay_ns < p->vcpu_delay_ns);
}

/* The last interval's rates into @p out (I/O and the vCPUs' wait: when
 * both samples have them). */
static void
rates(const struct vcha_vmhealth_sample *p,
      const struct vcha_vmhealth_sample *s, struct vcha_vmhealth_result *out)
{
    double dt = (double) (s->t_ms - p->t_ms) / 1000.0;

    out->cpu_pct = (double) (s->cpu_ns - p->cpu_ns) / 1e7 / dt;
    if (io_both(p, s)) {
        out->block_bps = (double) (s->blk_bytes - p->blk_bytes) / dt;
        out->block_iops = (double) (s->blk_reqs - p->blk_reqs) / dt;
        out->net_bps = (double) (s->net_bytes - p->net_bytes) / dt;
    }
    if (delay_both(p, s)) {
        out->delay_pct =
            (double) (s->vcpu_delay_ns - p->vcpu_delay_ns) / 1e7 / dt;
    }
}

/*
 * Extend or break the runs of stalled and of busy-silent intervals with
 * the last one, then judge them.
 */
static enum vcha_vmhealth_verdict
judge_running(struct vcha_vmhealth *h, const struct vcha_vmhealth_sample *s,
              const struct vcha_vmhealth_result *r)
{
    unsigned vcpus = s->vcpus > 0 ? s->vcpus : 1;
    /* a stall while the monitor answers is an idle guest */
    bool stalled =
        r->cpu_pct < h->lim.hung_cpu_pct && s->monitor != VCHA_VMH_MON_ANSWERS;
    bool silent = s->blk_bytes == h->prev.blk_bytes &&
                  s->blk_reqs == h->prev.blk_reqs &&
                  s->net_bytes == h->prev.net_bytes;
    /* what the vCPUs wanted: used, or ready to run and kept waiting by
     * a host whose CPUs are all taken */
    bool busy = s->io_known && h->prev.io_known &&
                r->cpu_pct + r->delay_pct >= h->lim.spin_cpu_pct * vcpus;

    if (!stalled) {
        h->stalled_from = NONE;
    } else if (h->stalled_from == NONE) {
        h->stalled_from = h->prev.t_ms;
    }
    if (!(busy && silent)) {
        h->spinning_from = NONE;
    } else if (h->spinning_from == NONE) {
        h->spinning_from = h->prev.t_ms;
    }
    if (h->stalled_from != NONE &&
        s->t_ms - h->stalled_from >= h->lim.hung_after_ms) {
        return VCHA_VMH_HUNG;
    }
    if (h->spinning_from != NONE &&
        s->t_ms - h->spinning_from >= h->lim.spin_after_ms) {
        return VCHA_VMH_SPINNING;
    }
    return VCHA_VMH_NORMAL;
}

/* The verdict of @p s, the rates of its interval in @p out. */
static enum vcha_vmhealth_verdict
judge(struct vcha_vmhealth *h, const struct vcha_vmhealth_sample *s,
      struct vcha_vmhealth_result *out)
{
    enum vcha_vmhealth_verdict v = state_verdict(s->state, s->reason);

    if (h->samples > 0 && restarted(&h->prev, s)) {
        h->samples = 0;
    }
    if (h->samples == 0 || !running(&h->prev) || !running(s)) {
        /* no interval of a running domain to judge yet: one that just
         * started is unknown, one that just resumed runs as far as known */
        h->stalled_from = NONE;
        h->spinning_from = NONE;
        if (v == VCHA_VMH_NORMAL && running(s) && h->samples == 0) {
            v = VCHA_VMH_UNKNOWN;
        }
        return v;
    }
    rates(&h->prev, s, out);
    return judge_running(h, s, out);
}

int
vcha_vmhealth_feed(struct vcha_vmhealth *h,
                   const struct vcha_vmhealth_sample *s,
                   struct vcha_vmhealth_result *out)
{
    enum vcha_vmhealth_verdict v;

    if (h->samples > 0 && s->t_ms <= h->prev.t_ms) {
        return -EINVAL;
    }
    *out = (struct vcha_vmhealth_result){0};
    v = judge(h, s, out);
    if (h->samples == 0 || v != h->verdict) {
        h->verdict = v;
        h->verdict_from = s->t_ms;
    }
    h->prev = *s;
    h->samples++;
    out->verdict = v;
    out->since_ms = s->t_ms - h->verdict_from;
    out->samples = h->samples;
    return 0;
}
