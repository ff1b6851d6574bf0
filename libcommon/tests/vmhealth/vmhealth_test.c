/*
 * Unit tests for libcommon/virt/vmhealth.c (the classifier, fed synthetic
 * sample sequences) and libcommon/virt/vmwatchjob.c (the job's contract,
 * and readings from libvirt's test:///default driver).
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

#include <vcha/jobdef.h>
#include <vcha/kv.h>
#include <vcha/virt.h>
#include <vcha/vmhealth.h>
#include <vcha/vmwatchjob.h>

#define SEC 1000LL
#define NS_PER_MS 1000000ULL

/* A synthetic guest: each step advances its counters at given rates. */
struct guest {
    struct vcha_vmhealth *h;
    struct vcha_vmhealth_sample s;
    struct vcha_vmhealth_result r;
};

static void
guest_init(struct guest *g, unsigned vcpus)
{
    memset(g, 0, sizeof(*g));
    g->h = vcha_vmhealth_new(NULL);
    assert_non_null(g->h);
    g->s = (struct vcha_vmhealth_sample){.t_ms = 100000,
                                         .state = VIR_DOMAIN_RUNNING,
                                         .reason = 1,
                                         .vcpus = vcpus,
                                         .io_known = true};
}

/*
 * One sample @p ms after the last, the guest having used @p cpu_pct of one
 * CPU and moved @p io bytes of block and of network I/O meanwhile.
 */
static enum vcha_vmhealth_verdict
guest_step(struct guest *g, long long ms, double cpu_pct, unsigned io)
{
    g->s.t_ms += ms;
    g->s.cpu_ns += (unsigned long long) (cpu_pct / 100.0 * (double) ms *
                                         (double) NS_PER_MS);
    g->s.blk_bytes += io;
    g->s.blk_reqs += io > 0;
    g->s.net_bytes += io;
    assert_int_equal(vcha_vmhealth_feed(g->h, &g->s, &g->r), 0);
    return g->r.verdict;
}

/* @p n steps of a second; the verdict of the last. */
static enum vcha_vmhealth_verdict
guest_run(struct guest *g, int n, double cpu_pct, unsigned io)
{
    enum vcha_vmhealth_verdict v = VCHA_VMH_UNKNOWN;

    for (int i = 0; i < n; i++) {
        v = guest_step(g, SEC, cpu_pct, io);
    }
    return v;
}

static void
test_first_sample_unknown(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    assert_int_equal(guest_run(&g, 1, 2, 100), VCHA_VMH_UNKNOWN);
    assert_int_equal(g.r.samples, 1);
    assert_int_equal(guest_run(&g, 1, 2, 100), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.samples, 2);
    vcha_vmhealth_free(g.h);
}

static void
test_idle_guest_normal(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 2);
    /* an idle guest ticks at 1-2 % of a CPU, with no I/O for minutes */
    for (int i = 0; i < 300; i++) {
        assert_int_not_equal(guest_run(&g, 1, i % 2 ? 1.0 : 2.0, 0),
                             VCHA_VMH_HUNG);
    }
    assert_int_equal(g.r.verdict, VCHA_VMH_NORMAL);
    assert_true(g.r.cpu_pct > 0.9 && g.r.cpu_pct < 2.1);
    assert_true(g.r.since_ms >= 298 * SEC);
    vcha_vmhealth_free(g.h);
}

static void
test_busy_with_io_normal(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    assert_int_equal(guest_run(&g, 120, 100, 4096), VCHA_VMH_NORMAL);
    assert_true(g.r.cpu_pct > 99.9 && g.r.cpu_pct < 100.1);
    assert_true(g.r.block_bps > 4095 && g.r.block_bps < 4097);
    assert_true(g.r.net_bps > 4095 && g.r.net_bps < 4097);
    vcha_vmhealth_free(g.h);
}

static void
test_spinning_after_spin_after(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 2);
    guest_run(&g, 10, 200, 4096);
    /* both vCPUs busy, I/O stops: 29 s is not yet, 30 s is */
    assert_int_equal(guest_run(&g, 29, 200, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 200, 0), VCHA_VMH_SPINNING);
    assert_int_equal(g.r.since_ms, 0);
    assert_int_equal(guest_run(&g, 5, 200, 0), VCHA_VMH_SPINNING);
    assert_int_equal(g.r.since_ms, 5 * SEC);
    /* one write and it is a guest at work again */
    assert_int_equal(guest_run(&g, 1, 200, 512), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

static void
test_spinning_needs_all_vcpus(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 2);
    /* one of two vCPUs busy without I/O: 50 %, below 90 % of them */
    assert_int_equal(guest_run(&g, 60, 100, 0), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

static void
test_spinning_broken_run(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 1, 100, 0);
    /* a single I/O in the middle starts the count again */
    assert_int_equal(guest_run(&g, 20, 100, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 100, 1), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 29, 100, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 100, 0), VCHA_VMH_SPINNING);
    vcha_vmhealth_free(g.h);
}

static void
test_spinning_needs_io_counters(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    g.s.io_known = false;
    assert_int_equal(guest_run(&g, 60, 100, 0), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

/*
 * @p n steps of a second in which the vCPUs also waited @p delay_pct of one
 * CPU for a host CPU (libvirt's vcpu.N.delay); the verdict of the last.
 */
static enum vcha_vmhealth_verdict
guest_run_waiting(struct guest *g, int n, double cpu_pct, double delay_pct,
                  unsigned io)
{
    enum vcha_vmhealth_verdict v = VCHA_VMH_UNKNOWN;

    g->s.delay_known = true;
    for (int i = 0; i < n; i++) {
        g->s.vcpu_delay_ns +=
            (unsigned long long) (delay_pct / 100.0 * (double) SEC *
                                  (double) NS_PER_MS);
        v = guest_step(g, SEC, cpu_pct, io);
    }
    return v;
}

/* measured: a spinning TCG guest on 2 host cores all taken used a quarter
 * of a CPU and waited for one the rest of the time */
static void
test_spinning_on_a_busy_host(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run_waiting(&g, 5, 10, 2, 4096);
    assert_int_equal(guest_run_waiting(&g, 29, 25, 75, 0), VCHA_VMH_NORMAL);
    assert_true(g.r.delay_pct > 74.9 && g.r.delay_pct < 75.1);
    assert_true(g.r.cpu_pct > 24.9 && g.r.cpu_pct < 25.1);
    assert_int_equal(guest_run_waiting(&g, 1, 25, 75, 0), VCHA_VMH_SPINNING);
    /* one write and it works again */
    assert_int_equal(guest_run_waiting(&g, 1, 25, 75, 512), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

/* the same guest without the wait known: only the CPU time it got */
static void
test_spinning_without_delay_known(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 5, 10, 4096);
    assert_int_equal(guest_run(&g, 60, 25, 0), VCHA_VMH_NORMAL);
    assert_true(g.r.delay_pct == 0.0);
    /* known in one sample only: no rate from it */
    assert_int_equal(guest_run_waiting(&g, 1, 25, 75, 0), VCHA_VMH_NORMAL);
    assert_true(g.r.delay_pct == 0.0);
    vcha_vmhealth_free(g.h);
}

/* busy guests contending for the host's CPUs, each doing its I/O, and an
 * idle guest kept waiting a little: neither spins nor hangs */
static void
test_waiting_guests_normal(void **state)
{
    struct guest busy;
    struct guest idle;

    (void) state;
    guest_init(&busy, 1);
    guest_init(&idle, 2);
    assert_int_equal(guest_run_waiting(&busy, 120, 40, 60, 4096),
                     VCHA_VMH_NORMAL);
    assert_int_equal(guest_run_waiting(&idle, 120, 2, 5, 0), VCHA_VMH_NORMAL);
    /* 2 % used and 90 % waited: 92 % of one CPU, about half of the 2
     * vCPUs, not 90 % of them */
    assert_int_equal(guest_run_waiting(&idle, 60, 2, 90, 0), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(busy.h);
    vcha_vmhealth_free(idle.h);
}

/* the vCPUs' wait going backwards is another run of the domain */
static void
test_delay_backwards_resets(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run_waiting(&g, 5, 10, 20, 100);
    g.s.vcpu_delay_ns = 0;
    assert_int_equal(guest_run_waiting(&g, 1, 10, 0, 100), VCHA_VMH_UNKNOWN);
    assert_int_equal(g.r.samples, 1);
    vcha_vmhealth_free(g.h);
}

static void
test_hung_after_hung_after(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 5, 30, 100);
    /* SIGSTOP: not one ns more; 4.9 s is not yet, 5 s is */
    assert_int_equal(guest_run(&g, 4, 0, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_step(&g, 900, 0, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_step(&g, 100, 0, 0), VCHA_VMH_HUNG);
    assert_true(g.r.cpu_pct < 0.001);
    assert_int_equal(guest_run(&g, 3, 0, 0), VCHA_VMH_HUNG);
    assert_int_equal(g.r.since_ms, 3 * SEC);
    /* SIGCONT */
    assert_int_equal(guest_run(&g, 1, 30, 100), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.since_ms, 0);
    vcha_vmhealth_free(g.h);
}

/* QEMU's monitor: an idle guest's stall is not a hang while it answers */
static void
test_stall_with_monitor_answering_is_idle(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    g.s.monitor = VCHA_VMH_MON_ANSWERS;
    guest_run(&g, 3, 30, 100);
    /* a tickless guest under KVM: below hung_cpu_pct, for a minute */
    assert_int_equal(guest_run(&g, 60, 0.1, 0), VCHA_VMH_NORMAL);
    /* QEMU stops answering too (SIGSTOP): now the stall counts */
    g.s.monitor = VCHA_VMH_MON_SILENT;
    assert_int_equal(guest_run(&g, 4, 0, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 0, 0), VCHA_VMH_HUNG);
    /* it answers again, still stalled: idle */
    g.s.monitor = VCHA_VMH_MON_ANSWERS;
    assert_int_equal(guest_run(&g, 1, 0, 0), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

/* Unknown I/O counters (zeros) are neither a restart nor a rate */
static void
test_unknown_io_is_not_a_restart(void **state)
{
    struct guest g;
    struct vcha_vmhealth_sample known;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 3, 30, 4096);
    known = g.s;
    g.s.blk_bytes = g.s.blk_reqs = g.s.net_bytes = 0;
    g.s.io_known = false;
    assert_int_equal(guest_run(&g, 1, 30, 0), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.samples, 4); /* the history goes on */
    assert_true(g.r.block_bps == 0.0);
    g.s.blk_bytes = known.blk_bytes + 4096;
    g.s.blk_reqs = known.blk_reqs + 1;
    g.s.net_bytes = known.net_bytes + 4096;
    g.s.io_known = true;
    assert_int_equal(guest_run(&g, 1, 30, 0), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.samples, 5);
    assert_true(g.r.block_bps == 0.0); /* no rate across the gap */
    vcha_vmhealth_free(g.h);
}

static void
test_hung_below_threshold(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 2, 5, 0);
    /* 0.4 % is below 0.5 %: no progress worth the name */
    assert_int_equal(guest_run(&g, 5, 0.4, 0), VCHA_VMH_HUNG);
    vcha_vmhealth_free(g.h);
}

static void
test_hung_limits(void **state)
{
    struct vcha_vmhealth_limits l;
    struct guest g;

    (void) state;
    vcha_vmhealth_limits_default(&l);
    assert_true(l.hung_cpu_pct == 0.5 && l.spin_cpu_pct == 90);
    assert_int_equal(l.hung_after_ms, 5000);
    assert_int_equal(l.spin_after_ms, 30000);
    l.hung_after_ms = 2000;
    l.hung_cpu_pct = 3;
    guest_init(&g, 1);
    vcha_vmhealth_free(g.h);
    g.h = vcha_vmhealth_new(&l);
    guest_run(&g, 1, 2, 0);
    assert_int_equal(guest_run(&g, 1, 2, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 2, 0), VCHA_VMH_HUNG);
    vcha_vmhealth_free(g.h);
}

/* A state change: one sample in state @p st, reason @p why. */
static enum vcha_vmhealth_verdict
guest_state(struct guest *g, int st, int why, int n)
{
    g->s.state = st;
    g->s.reason = why;
    return guest_run(g, n, 0, 0);
}

static void
test_paused_for_migration_normal(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 3, 20, 10);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION, 20),
        VCHA_VMH_NORMAL);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_SNAPSHOT, 1),
        VCHA_VMH_NORMAL);
    /* the time paused is no stall once it runs again */
    g.s.state = VIR_DOMAIN_RUNNING;
    assert_int_equal(guest_run(&g, 1, 0, 0), VCHA_VMH_NORMAL);
    vcha_vmhealth_free(g.h);
}

static void
test_paused_by_hand(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 3, 20, 10);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, 4),
        VCHA_VMH_PAUSED);
    assert_int_equal(g.r.since_ms, 3 * SEC);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR, 1),
        VCHA_VMH_PAUSED);
    assert_true(vcha_vmhealth_verdict_failed(VCHA_VMH_PAUSED));
    vcha_vmhealth_free(g.h);
}

static void
test_panicked(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 3, 20, 10);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_CRASHED, 1),
        VCHA_VMH_PANICKED);
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, 2),
        VCHA_VMH_PANICKED);
    assert_int_equal(g.r.since_ms, 2 * SEC); /* panicked all along */
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED, 1),
        VCHA_VMH_PANICKED);
    /* shut off as asked is no panic, only not running */
    assert_int_equal(
        guest_state(&g, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN, 1),
        VCHA_VMH_UNKNOWN);
    assert_false(vcha_vmhealth_verdict_failed(VCHA_VMH_UNKNOWN));
    vcha_vmhealth_free(g.h);
}

static void
test_restart_resets(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 10, 50, 100);
    assert_int_equal(guest_run(&g, 3, 0, 0), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.samples, 13);
    /* restarted: its counters begin again from nothing */
    g.s.cpu_ns = 0;
    g.s.blk_bytes = g.s.blk_reqs = g.s.net_bytes = 0;
    assert_int_equal(guest_run(&g, 1, 0, 0), VCHA_VMH_UNKNOWN);
    assert_int_equal(g.r.samples, 1);
    /* the 3 s stalled before the restart do not count: 4 s is not 5 */
    assert_int_equal(guest_run(&g, 4, 0, 0), VCHA_VMH_NORMAL);
    assert_int_equal(guest_run(&g, 1, 0, 0), VCHA_VMH_HUNG);
    vcha_vmhealth_free(g.h);
}

static void
test_time_must_advance(void **state)
{
    struct guest g;

    (void) state;
    guest_init(&g, 1);
    guest_run(&g, 2, 10, 0);
    assert_int_equal(vcha_vmhealth_feed(g.h, &g.s, &g.r), -EINVAL);
    assert_int_equal(guest_run(&g, 1, 10, 0), VCHA_VMH_NORMAL);
    assert_int_equal(g.r.samples, 3);
    vcha_vmhealth_free(g.h);
}

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(vcha_vmhealth_verdict_name(VCHA_VMH_HUNG), "hung");
    assert_string_equal(vcha_vmhealth_verdict_name(VCHA_VMH_SPINNING),
                        "spinning");
    assert_string_equal(vcha_vmhealth_verdict_name(VCHA_VMH_PANICKED),
                        "panicked");
    assert_string_equal(vcha_vmhealth_verdict_name(VCHA_VMH_NORMAL), "normal");
    assert_string_equal(vcha_vmhealth_verdict_name(99), "unknown");
    assert_true(vcha_vmhealth_verdict_failed(VCHA_VMH_HUNG));
    assert_true(vcha_vmhealth_verdict_failed(VCHA_VMH_SPINNING));
    assert_false(vcha_vmhealth_verdict_failed(VCHA_VMH_NORMAL));
}

/* ------------------------------------------------------------ contract */

static int
contract_parse(const char *const *kv, struct vcha_params **p, char *why)
{
    struct vcha_kv *params = vcha_kv_new();
    int rc;

    for (size_t i = 0; kv[i] != NULL; i += 2) {
        vcha_kv_set(params, kv[i], kv[i + 1]);
    }
    rc = vcha_job_params_parse(&vcha_vmwatch_job, params, p, why, 512);
    if (rc == 0) {
        struct vcha_vmhealth_limits l;

        vcha_vmwatch_job_limits(*p, &l);
        assert_true(l.hung_cpu_pct > 0);
    }
    vcha_params_free(*p);
    *p = NULL;
    vcha_kv_free(params);
    return rc;
}

static void
test_contract(void **state)
{
    static const char *const ok[] = {
        "domain", "web", "hung_cpu_pct", "1.5", "spin_after", "1min", NULL};
    static const char *const no_domain[] = {"uri", "test:///default", NULL};
    static const char *const bad_pct[] = {"domain", "web", "spin_cpu_pct",
                                          "120", NULL};
    static const char *const crossed[] = {
        "domain", "web", "hung_cpu_pct", "50", "spin_cpu_pct", "40", NULL};
    static const char *const slow[] = {"domain", "web", "interval_ms", "9000",
                                       NULL};
    struct vcha_params *p = NULL;
    char why[512];

    (void) state;
    assert_int_equal(contract_parse(ok, &p, why), 0);
    assert_int_equal(contract_parse(no_domain, &p, why), -EINVAL);
    assert_non_null(strstr(why, "domain"));
    assert_int_equal(contract_parse(bad_pct, &p, why), -EINVAL);
    assert_non_null(strstr(why, "spin_cpu_pct"));
    assert_int_equal(contract_parse(crossed, &p, why), -EINVAL);
    assert_non_null(strstr(why, "below"));
    assert_int_equal(contract_parse(slow, &p, why), -EINVAL);
    assert_non_null(strstr(why, "hung_after"));
    assert_string_equal(vcha_vmwatch_job.type, "vmwatch");
}

/* ------------------------------------------- readings from test:///default */

static void
test_read_test_driver(void **state)
{
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL;
    struct vcha_vmhealth_sample s = {.t_ms = 42};
    enum vcha_vmhealth_source src = 0;
    char why[512] = "";

    (void) state;
    assert_int_equal(vcha_virt_open("test:///default", NULL, NULL, NULL, &conn,
                                    why, sizeof(why)),
                     0);
    assert_int_equal(
        vcha_virt_domain_lookup(conn, "test", &dom, why, sizeof(why)), 0);
    assert_int_equal(vcha_vmhealth_read(dom, &s, &src, why, sizeof(why)), 0);
    assert_int_equal(s.t_ms, 42);
    /* the test driver's bulk statistics hold the state only; its CPU
     * time (virDomainGetInfo) is the wall clock, its vCPUs 2 */
    assert_int_equal(src, VCHA_VMH_INFO);
    assert_int_equal(s.state, VIR_DOMAIN_RUNNING);
    assert_int_equal(s.vcpus, 2);
    assert_true(s.cpu_ns > 0);
    assert_false(s.io_known);
    /* what needs the monitor: the test driver has no block counters */
    s.io_known = true;
    s.delay_known = true;
    s.vcpu_delay_ns = 9;
    s.cpu_ns = 7;
    assert_int_equal(vcha_vmhealth_read_io(dom, &s, why, sizeof(why)), 0);
    assert_false(s.io_known);
    /* nor the vCPUs' wait for a host CPU (QEMU's vcpu.N.delay) */
    assert_false(s.delay_known);
    assert_int_equal(s.vcpu_delay_ns, 0);
    assert_int_equal(s.cpu_ns, 7); /* nothing else touched */
    virDomainSuspend(dom);
    assert_int_equal(vcha_vmhealth_read(dom, &s, &src, why, sizeof(why)), 0);
    assert_int_equal(s.state, VIR_DOMAIN_PAUSED);
    assert_int_equal(s.reason, VIR_DOMAIN_PAUSED_USER);
    virDomainDestroy(dom);
    assert_int_equal(vcha_vmhealth_read(dom, &s, &src, why, sizeof(why)), 0);
    assert_int_equal(s.state, VIR_DOMAIN_SHUTOFF);
    virDomainUndefine(dom);
    assert_int_equal(vcha_vmhealth_read(dom, &s, &src, why, sizeof(why)),
                     -ENOENT);
    why[0] = '\0';
    assert_int_equal(vcha_vmhealth_read_io(dom, &s, why, sizeof(why)), -ENOENT);
    assert_true(why[0] != '\0');
    assert_true(why[0] != '\0');
    virDomainFree(dom);
    vcha_virt_close(conn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_sample_unknown),
        cmocka_unit_test(test_idle_guest_normal),
        cmocka_unit_test(test_busy_with_io_normal),
        cmocka_unit_test(test_spinning_after_spin_after),
        cmocka_unit_test(test_spinning_needs_all_vcpus),
        cmocka_unit_test(test_spinning_broken_run),
        cmocka_unit_test(test_spinning_needs_io_counters),
        cmocka_unit_test(test_spinning_on_a_busy_host),
        cmocka_unit_test(test_spinning_without_delay_known),
        cmocka_unit_test(test_waiting_guests_normal),
        cmocka_unit_test(test_delay_backwards_resets),
        cmocka_unit_test(test_hung_after_hung_after),
        cmocka_unit_test(test_hung_below_threshold),
        cmocka_unit_test(test_stall_with_monitor_answering_is_idle),
        cmocka_unit_test(test_unknown_io_is_not_a_restart),
        cmocka_unit_test(test_hung_limits),
        cmocka_unit_test(test_paused_for_migration_normal),
        cmocka_unit_test(test_paused_by_hand),
        cmocka_unit_test(test_panicked),
        cmocka_unit_test(test_restart_resets),
        cmocka_unit_test(test_time_must_advance),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_read_test_driver),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
