/*
 * vcha - the vmwatch job's contract and its readings: what an agent
 * registers with vchad to watch a libvirt domain from outside
 * (vcha/jobdef.h), and one reading of the domain's counters for the
 * classifier (vcha/vmhealth.h).
 */
#ifndef VCHA_VMWATCHJOB_H
#define VCHA_VMWATCHJOB_H

#include <stddef.h>

#include <libvirt/libvirt.h>

#include <vcha/jobdef.h>
#include <vcha/vmhealth.h>

/** The job type's parameters, in the order of its table. */
enum vcha_vmh_job_param {
    VCHA_VMH_URI,           /**< uri: the hypervisor (qemu:///system) */
    VCHA_VMH_DOMAIN,        /**< domain: name or UUID */
    VCHA_VMH_HUNG_CPU_PCT,  /**< hung_cpu_pct: of one CPU (0.5) */
    VCHA_VMH_HUNG_AFTER,    /**< hung_after: duration (5s) */
    VCHA_VMH_SPIN_CPU_PCT,  /**< spin_cpu_pct: of all vCPUs (90) */
    VCHA_VMH_SPIN_AFTER,    /**< spin_after: duration (30s) */
    VCHA_VMH_INTERVAL,      /**< interval_ms: between samples (1000) */
    VCHA_VMH_STATS_TIMEOUT, /**< stats_timeout: a reading at most (5s) */
    VCHA_VMH_N_PARAMS
};

/** The "vmwatch" job type. */
extern const struct vcha_job_def vcha_vmwatch_job;

/** The classifier's thresholds from parsed job parameters @p p. */
void vcha_vmwatch_job_limits(const struct vcha_params *p,
                             struct vcha_vmhealth_limits *l);

/** How a reading was taken. */
enum vcha_vmhealth_source {
    /** state and interface counters from virDomainListGetStats (QEMU) */
    VCHA_VMH_BULK = 1,
    /** the driver's bulk statistics have no counters or are missing
     * (test, LXC): the state from them or virDomainGetState, the I/O
     * unknown */
    VCHA_VMH_INFO,
};

/**
 * Read the counters of @p dom that libvirt reads without QEMU's monitor
 * into @p s (its t_ms is left to the caller): state and interfaces from
 * libvirt's bulk statistics (virDomainGetState where a driver has none:
 * LXC), the CPU time and vCPUs from virDomainGetInfo (libvirt asks QEMU's
 * monitor for its bulk "cpu-total" group).  The vCPUs and the block
 * counters need the monitor: see vcha_vmhealth_read_io().  @p source says
 * which was used (may be NULL).  A stopped or hung QEMU never answers its
 * monitor, and its CPU time alone shows it hung: this reading does not
 * wait for it.  Blocks as long as libvirt does: call it where a hang can
 * be outwaited.  Returns 0, -ENOENT when the domain is gone, or -EIO with
 * libvirt's message in @p why.
 */
int vcha_vmhealth_read(virDomainPtr dom, struct vcha_vmhealth_sample *s,
                       enum vcha_vmhealth_source *source, char *why,
                       size_t whylen);

/**
 * The counters of @p dom that libvirt asks QEMU's monitor for, into
 * @p s: vcpus, vcpu_delay_ns and delay_known (libvirt's vcpu.N.delay),
 * blk_bytes, blk_reqs and io_known (whether the block counters are
 * there); nothing else of @p s is touched.  Waits for QEMU
 * as long as libvirt does: a stopped QEMU holds it until it runs again, so
 * call it apart from vcha_vmhealth_read().  Returns 0, -ENOTSUP (no bulk
 * statistics: LXC), -ENOENT, or -EIO with libvirt's message in @p why.
 */
int vcha_vmhealth_read_io(virDomainPtr dom, struct vcha_vmhealth_sample *s,
                          char *why, size_t whylen);

#endif
