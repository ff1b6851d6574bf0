/*
 * vcha - out-of-band health of a libvirt domain (seed 001: agentless
 * monitoring): a classifier fed one sample of the domain's counters as
 * libvirt reports them from outside the guest, at a steady pace (about one
 * a second), that tells a guest that works from one that is hung, spins,
 * panicked or was paused.  Pure computation: no I/O, no clock, no
 * libvirt call; the caller reads the counters (vcha/vmwatchjob.h).
 *
 * The rules, judged over the intervals between samples:
 *   panicked  state crashed, or paused / shut off with reason "crashed"
 *             (libvirt's VIR_DOMAIN_CRASHED_*, VIR_DOMAIN_PAUSED_CRASHED,
 *             VIR_DOMAIN_SHUTOFF_CRASHED);
 *   paused    paused for any reason but a migration, a snapshot, a save
 *             or its start-up, which are normal;
 *   hung      running, and every interval for hung_after used less than
 *             hung_cpu_pct of one CPU: the hypervisor process is stopped,
 *             or the guest is stuck with its interrupts off;
 *   spinning  running, and every interval for spin_after its vCPUs
 *             wanted at least spin_cpu_pct of all of them with no block
 *             and no network I/O at all: a guest looping on nothing
 *             (judged only when the I/O counters are known).  What they
 *             wanted is the CPU time used plus, when known, the time the
 *             vCPUs waited for a host CPU: on a host whose CPUs are all
 *             taken a spinning guest gets only its share of them (a
 *             quarter measured under TCG on 2 busy cores) but is ready to
 *             run all the time;
 *   normal    running otherwise;
 *   unknown   too few samples yet, or not running (shut off, shutting
 *             down, suspended to memory).
 * A counter that goes backwards (the domain was restarted) starts the
 * history afresh, as does any sample in which it was not running.
 */
#ifndef VCHA_VMHEALTH_H
#define VCHA_VMHEALTH_H

#include <stdbool.h>

/** What the classifier says of a domain. */
enum vcha_vmhealth_verdict {
    VCHA_VMH_UNKNOWN = 0,
    VCHA_VMH_NORMAL,
    VCHA_VMH_HUNG,
    VCHA_VMH_SPINNING,
    VCHA_VMH_PANICKED,
    VCHA_VMH_PAUSED,
};

/** The classifier's thresholds. */
struct vcha_vmhealth_limits {
    double hung_cpu_pct;     /**< of one CPU, below it: no progress (0.5) */
    long long hung_after_ms; /**< for this long: hung (5000) */
    double spin_cpu_pct;     /**< of all vCPUs, at or above: busy (90) */
    long long spin_after_ms; /**< busy without I/O this long (30000) */
};

/** One reading of the domain's counters. */
/**
 * What the hypervisor's monitor said over the last intervals.  A guest
 * whose CPU time stalls while its QEMU still answers is idle, not hung (a
 * tickless guest under KVM can use less than hung_cpu_pct); one whose
 * QEMU does not answer either (stopped, deadlocked) is hung.  A driver
 * with no monitor (LXC) has only the CPU time to go by.
 */
enum vcha_vmhealth_monitor {
    VCHA_VMH_MON_NONE = 0, /**< no monitor readings: the CPU time alone */
    VCHA_VMH_MON_ANSWERS,  /**< it answered: a stall alone is idleness */
    VCHA_VMH_MON_SILENT,   /**< it did not answer: a stall is a hang */
};

struct vcha_vmhealth_sample {
    long long t_ms;            /**< when (any monotonic clock, ms) */
    int state;                 /**< VIR_DOMAIN_RUNNING ... */
    int reason;                /**< VIR_DOMAIN_PAUSED_MIGRATION ... */
    unsigned long long cpu_ns; /**< cumulative CPU time */
    unsigned vcpus;            /**< 0 is taken as 1 */
    /** cumulative time the vCPUs were ready to run and waited for a host
     * CPU (libvirt's vcpu.N.delay, summed), when delay_known */
    unsigned long long vcpu_delay_ns;
    bool delay_known;             /**< vcpu_delay_ns was read */
    unsigned long long blk_bytes; /**< cumulative, read + written */
    unsigned long long blk_reqs;  /**< cumulative, read + write requests */
    unsigned long long net_bytes; /**< cumulative, received + sent */
    /** false: the block and net counters are not known (a driver with no
     * such statistics, or a monitor that did not answer): spinning is
     * then not judged, and they are not compared */
    bool io_known;
    /** whether the hypervisor's monitor answered (QEMU's); see below */
    enum vcha_vmhealth_monitor monitor;
};

/** The verdict and the figures it was drawn from. */
struct vcha_vmhealth_result {
    enum vcha_vmhealth_verdict verdict;
    long long since_ms; /**< how long the verdict has held */
    double cpu_pct;     /**< last interval, 100 = one CPU busy */
    /** last interval, the vCPUs' wait for a host CPU, 100 = one CPU (0
     * unless both samples had delay_known) */
    double delay_pct;
    double block_bps;           /**< last interval, bytes per second */
    double block_iops;          /**< last interval, requests per second */
    double net_bps;             /**< last interval, bytes per second */
    unsigned long long samples; /**< in the history (since a reset) */
};

struct vcha_vmhealth;

/** Fill @p l with the defaults above. */
void vcha_vmhealth_limits_default(struct vcha_vmhealth_limits *l);

/**
 * A new classifier with thresholds @p l (NULL: the defaults), or NULL when
 * out of memory.  Free with vcha_vmhealth_free().
 */
struct vcha_vmhealth *vcha_vmhealth_new(const struct vcha_vmhealth_limits *l);

/** Free @p h; NULL is fine. */
void vcha_vmhealth_free(struct vcha_vmhealth *h);

/**
 * Feed sample @p s and get the verdict in @p out.  A sample not later
 * than the one before is refused (-EINVAL, nothing changes); every other
 * returns 0.
 */
int vcha_vmhealth_feed(struct vcha_vmhealth *h,
                       const struct vcha_vmhealth_sample *s,
                       struct vcha_vmhealth_result *out);

/** "normal", "hung", ... ("unknown" for a value out of range). */
const char *vcha_vmhealth_verdict_name(enum vcha_vmhealth_verdict v);

/** True for the verdicts that say the guest does not work. */
bool vcha_vmhealth_verdict_failed(enum vcha_vmhealth_verdict v);

#endif
