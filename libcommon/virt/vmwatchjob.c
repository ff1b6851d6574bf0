/* vcha - the vmwatch job's contract and its readings. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/virt.h>
#include <vcha/vmwatchjob.h>

/* A percentage: a decimal number in [0, 100]. */
static int
pct_check(const char *value, char *why, size_t whylen)
{
    char *end = NULL;
    double v = strtod(value, &end);

    if (end == value || *end != '\0' || !(v >= 0 && v <= 100)) {
        snprintf(why, whylen, "must be a percentage from 0 to 100");
        return -EINVAL;
    }
    return 0;
}

static const struct vcha_param_def params[VCHA_VMH_N_PARAMS] = {
    [VCHA_VMH_URI] = {.name = "uri",
                      .type = VCHA_PT_STRING,
                      .dflt = "qemu:///system"},
    [VCHA_VMH_DOMAIN] = {.name = "domain",
                         .type = VCHA_PT_STRING,
                         .required = true},
    [VCHA_VMH_HUNG_CPU_PCT] = {.name = "hung_cpu_pct",
                               .type = VCHA_PT_STRING,
                               .dflt = "0.5",
                               .check = pct_check},
    [VCHA_VMH_HUNG_AFTER] = {.name = "hung_after",
                             .type = VCHA_PT_DURATION,
                             .dflt = "5s",
                             .min = 1000,
                             .max = 3600000},
    [VCHA_VMH_SPIN_CPU_PCT] = {.name = "spin_cpu_pct",
                               .type = VCHA_PT_STRING,
                               .dflt = "90",
                               .check = pct_check},
    [VCHA_VMH_SPIN_AFTER] = {.name = "spin_after",
                             .type = VCHA_PT_DURATION,
                             .dflt = "30s",
                             .min = 1000,
                             .max = 3600000},
    [VCHA_VMH_INTERVAL] = {.name = "interval_ms",
                           .type = VCHA_PT_INTEGER,
                           .dflt = "1000",
                           .min = 100,
                           .max = 60000},
    [VCHA_VMH_STATS_TIMEOUT] = {.name = "stats_timeout",
                                .type = VCHA_PT_DURATION,
                                .dflt = "5s",
                                .min = 100,
                                .max = 600000},
};

/* The thresholds must leave the rules apart and each judgeable. */
static int
contract_check(const struct vcha_params *p, char *why, size_t whylen)
{
    struct vcha_vmhealth_limits l;

    vcha_vmwatch_job_limits(p, &l);
    if (l.hung_cpu_pct >= l.spin_cpu_pct) {
        snprintf(why, whylen, "hung_cpu_pct must be below spin_cpu_pct");
        return -EINVAL;
    }
    if (vcha_param_num(p, VCHA_VMH_INTERVAL) > l.hung_after_ms) {
        snprintf(why, whylen, "interval_ms must not exceed hung_after");
        return -EINVAL;
    }
    return 0;
}

const struct vcha_job_def vcha_vmwatch_job = {
    .type = "vmwatch",
    .params = params,
    .n_params = VCHA_VMH_N_PARAMS,
    .check = contract_check,
};

void
vcha_vmwatch_job_limits(const struct vcha_params *p,
                        struct vcha_vmhealth_limits *l)
{
    *l = (struct vcha_vmhealth_limits){
        .hung_cpu_pct = strtod(vcha_param_str(p, VCHA_VMH_HUNG_CPU_PCT), NULL),
        .hung_after_ms = vcha_param_num(p, VCHA_VMH_HUNG_AFTER),
        .spin_cpu_pct = strtod(vcha_param_str(p, VCHA_VMH_SPIN_CPU_PCT), NULL),
        .spin_after_ms = vcha_param_num(p, VCHA_VMH_SPIN_AFTER),
    };
}

/* --------------------------------------------------------- the readings */

/* The unsigned value of typed parameter @p name, 0 when absent. */
static unsigned long long
tp_ull(const virTypedParameterPtr tp, int n, const char *name)
{
    unsigned long long v = 0;
    unsigned int u = 0;
    int i = 0;

    if (virTypedParamsGetULLong(tp, n, name, &v) == 1) {
        return v;
    }
    if (virTypedParamsGetUInt(tp, n, name, &u) == 1) {
        return u;
    }
    if (virTypedParamsGetInt(tp, n, name, &i) == 1 && i > 0) {
        return (unsigned long long) i;
    }
    return 0;
}

/* The sum over "PREFIX.N.FIELD" for N below PREFIX.count. */
static unsigned long long
tp_sum(const virTypedParameterPtr tp, int n, const char *prefix,
       const char *field)
{
    char key[VIR_TYPED_PARAM_FIELD_LENGTH];
    unsigned long long sum = 0, count;

    snprintf(key, sizeof(key), "%s.count", prefix);
    count = tp_ull(tp, n, key);
    for (unsigned long long i = 0; i < count && i < 1024; i++) {
        snprintf(key, sizeof(key), "%s.%llu.%s", prefix, i, field);
        sum += tp_ull(tp, n, key);
    }
    return sum;
}

/* Whether typed parameter @p name is there. */
static bool
tp_has(const virTypedParameterPtr tp, int n, const char *name)
{
    return virTypedParamsGet(tp, n, name) != NULL;
}

/* The sum of "vcpu.N.delay" over the vCPUs into @p s, when there. */
static void
vcpu_delay_read(const virTypedParameterPtr tp, int n,
                struct vcha_vmhealth_sample *s)
{
    char key[VIR_TYPED_PARAM_FIELD_LENGTH];
    unsigned long long max = tp_ull(tp, n, "vcpu.maximum");

    s->vcpu_delay_ns = 0;
    s->delay_known = tp_has(tp, n, "vcpu.0.delay");
    for (unsigned long long i = 0; s->delay_known && i < max && i < 1024; i++) {
        snprintf(key, sizeof(key), "vcpu.%llu.delay", i);
        s->vcpu_delay_ns += tp_ull(tp, n, key);
    }
}

/* The counters of one bulk statistics record. */
static void
record_read(const virDomainStatsRecord *r, struct vcha_vmhealth_sample *s)
{
    virTypedParameterPtr tp = r->params;
    int n = r->nparams;

    s->state = (int) tp_ull(tp, n, "state.state");
    s->reason = (int) tp_ull(tp, n, "state.reason");
    s->cpu_ns = tp_ull(tp, n, "cpu.time");
    s->vcpus = (unsigned) tp_ull(tp, n, "vcpu.current");
    vcpu_delay_read(tp, n, s);
    s->blk_bytes =
        tp_sum(tp, n, "block", "rd.bytes") + tp_sum(tp, n, "block", "wr.bytes");
    s->blk_reqs =
        tp_sum(tp, n, "block", "rd.reqs") + tp_sum(tp, n, "block", "wr.reqs");
    s->net_bytes =
        tp_sum(tp, n, "net", "rx.bytes") + tp_sum(tp, n, "net", "tx.bytes");
    /* a driver that counts I/O says so, with a count of 0 if need be */
    s->io_known = tp_has(tp, n, "block.count") || tp_has(tp, n, "net.count");
}

/* One domain's bulk statistics @p stats into @p s: 0, -ENOTSUP (the
 * driver has none), -ENOENT, -EIO; *@p cpu: they held the CPU time. */
static int
stats_get(virDomainPtr dom, unsigned stats, unsigned flags,
          struct vcha_vmhealth_sample *s, bool *cpu)
{
    virDomainPtr doms[] = {dom, NULL};
    virDomainStatsRecordPtr *recs = NULL;
    int n = virDomainListGetStats(doms, stats, &recs, flags);
    int rc = 0;

    if (n < 0) {
        int code = vcha_virt_last_error_code();

        rc = code == VIR_ERR_NO_SUPPORT  ? -ENOTSUP
             : code == VIR_ERR_NO_DOMAIN ? -ENOENT
                                         : -EIO;
    } else if (n == 0) {
        rc = -ENOENT;
    } else {
        record_read(recs[0], s);
        *cpu = tp_has(recs[0]->params, recs[0]->nparams, "cpu.time");
    }
    if (recs != NULL) {
        virDomainStatsRecordListFree(recs);
    }
    return rc;
}

/*
 * The bulk statistics libvirt reads without QEMU's monitor: state and
 * interfaces.  Not the CPU time: libvirt (9.0) asks QEMU's monitor for the
 * "cpu-total" group (its halt-poll figures), and a stopped QEMU would hold
 * the call (measured: `virsh domstats --state --cpu-total` of a
 * SIGSTOPped QEMU hangs); virDomainGetInfo reads it from /proc.  NOWAIT:
 * nothing that needs the domain's job.  0, -ENOTSUP (the driver has none),
 * -ENOENT, -EIO; *@p counters: they held interface counters (the test
 * driver's hold the state only).
 */
static int
bulk_read(virDomainPtr dom, struct vcha_vmhealth_sample *s, bool *counters)
{
    bool cpu = false;
    int rc = stats_get(dom, VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_INTERFACE,
                       VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT, s, &cpu);

    *counters = rc == 0 && s->io_known; /* "net.count" was there */
    s->io_known = false; /* the block counters come from the monitor */
    return rc;
}

int
vcha_vmhealth_read_io(virDomainPtr dom, struct vcha_vmhealth_sample *s,
                      char *why, size_t whylen)
{
    struct vcha_vmhealth_sample mon = {0};
    bool cpu = false;
    /* waits for the monitor: the caller's thread is there for that */
    int rc = stats_get(dom,
                       VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_BLOCK |
                           VIR_DOMAIN_STATS_BALLOON,
                       0, &mon, &cpu);

    if (rc < 0) {
        char msg[512];

        snprintf(why, whylen, "%s", vcha_virt_last_error(msg, sizeof(msg)));
        return rc;
    }
    s->vcpus = mon.vcpus;
    s->vcpu_delay_ns = mon.vcpu_delay_ns;
    s->delay_known = mon.delay_known;
    s->blk_bytes = mon.blk_bytes;
    s->blk_reqs = mon.blk_reqs;
    s->io_known = mon.io_known;
    return 0;
}

/*
 * The CPU time and vCPUs (and the state, when @p state) from
 * virDomainGetInfo, for a driver whose bulk statistics lack them.
 */
static int
info_read(virDomainPtr dom, struct vcha_vmhealth_sample *s, bool state)
{
    virDomainInfo info;
    int st = 0, reason = 0;

    if ((state && virDomainGetState(dom, &st, &reason, 0) < 0) ||
        virDomainGetInfo(dom, &info) < 0) {
        return vcha_virt_last_error_code() == VIR_ERR_NO_DOMAIN ? -ENOENT
                                                                : -EIO;
    }
    if (state) {
        s->state = st;
        s->reason = reason;
    }
    s->cpu_ns = info.cpuTime;
    s->vcpus = info.nrVirtCpu;
    return 0;
}

int
vcha_vmhealth_read(virDomainPtr dom, struct vcha_vmhealth_sample *s,
                   enum vcha_vmhealth_source *source, char *why, size_t whylen)
{
    long long t = s->t_ms;
    bool cpu = false;
    int rc;

    *s = (struct vcha_vmhealth_sample){.t_ms = t};
    rc = bulk_read(dom, s, &cpu);
    if (rc == -ENOTSUP || rc == 0) {
        rc = info_read(dom, s, rc == -ENOTSUP);
    }
    if (source != NULL) {
        *source = cpu ? VCHA_VMH_BULK : VCHA_VMH_INFO;
    }
    if (rc < 0) {
        char msg[512];

        snprintf(why, whylen, "%s", vcha_virt_last_error(msg, sizeof(msg)));
    }
    return rc;
}
