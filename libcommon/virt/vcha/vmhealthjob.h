/*
 * vcha - the vmhealth job's contract and its readings: what an agent
 * registers with vchad to watch a libvirt domain from outside
 * (vcha/jobdef.h), and one reading of the domain's counters for the
 * classifier (vcha/vmhealth.h).
 */
#ifndef VCHA_VMHEALTHJOB_H
#define VCHA_VMHEALTHJOB_H

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

/** The "vmhealth" job type. */
extern const struct vcha_job_def vcha_vmhealth_job;

/** The classifier's thresholds from parsed job parameters @p p. */
void vcha_vmhealth_job_limits(const struct vcha_params *p,
                              struct vcha_vmhealth_limits *l);

/** How a reading was taken. */
enum vcha_vmhealth_source {
    VCHA_VMH_BULK = 1, /**< virDomainListGetStats */
    /** the CPU time from virDomainGetInfo: the driver's bulk statistics
     * lack it or are missing (LXC, test); I/O counters only when the
     * bulk statistics had them */
    VCHA_VMH_INFO,
};

/**
 * Read the counters of @p dom into @p s (its t_ms is left to
 * the caller) with libvirt's bulk statistics (state, CPU time, vCPUs,
 * block, interfaces, balloon); what a driver's lack (LXC has none, the
 * test driver's hold the state only) is read with virDomainGetState and
 * virDomainGetInfo, and I/O counters it lacks are unknown (io_known).  @p
 * source says which was used (may be NULL).  Blocks as long as libvirt does:
 * call it where a hang can be outwaited.  Returns 0, -ENOENT when the domain is
 * gone, or -EIO with libvirt's message in
 * @p why.
 */
int vcha_vmhealth_read(virDomainPtr dom, struct vcha_vmhealth_sample *s,
                       enum vcha_vmhealth_source *source, char *why,
                       size_t whylen);

#endif
