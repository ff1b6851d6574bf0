/*
 * vcha - the colo job's contract: what the COLO agent registers with
 * vchad so that a resident job holds the QMP connection of the local QEMU
 * of a COLO pair, reads its checkpoints from QEMU's log
 * (vcha/colotrace.h), runs the checkpoint controller (vcha/coloctl.h) and
 * applies the mode it asks for (vcha/jobdef.h).
 */
#ifndef VCHA_COLOJOB_H
#define VCHA_COLOJOB_H

#include <vcha/coloctl.h>
#include <vcha/jobdef.h>

/** The job type's parameters, in the order of its table. */
enum vcha_colo_job_param {
    VCHA_COLOJ_QMP,           /**< qmp: QEMU's QMP socket, the job's own */
    VCHA_COLOJ_LOG,           /**< log: QEMU's -D log file */
    VCHA_COLOJ_POLICY,        /**< policy: colo, periodic, threshold, hybrid */
    VCHA_COLOJ_PERIOD,        /**< period_ms: periodic mode's (250) */
    VCHA_COLOJ_COLO_DELAY,    /**< colo_delay_ms: colo mode's timer (10000) */
    VCHA_COLOJ_WINDOW,        /**< window_ms: the controller's window (3000) */
    VCHA_COLOJ_QMP_TIMEOUT,   /**< qmp_timeout: a QMP command at most (2s) */
    VCHA_COLOJ_ATTR_INTERVAL, /**< attr_interval: node attributes (30s) */
    VCHA_COLOJ_N_PARAMS
};

/** The "colo" job type. */
extern const struct vcha_job_def vcha_colo_job;

/**
 * The controller's settings from parsed job parameters @p p: the
 * defaults of the policy named, with the job's period, delay and window,
 * and the hybrid's set point periodic mode's rate (1000 / period_ms).
 * The policy defaults to colo: on stock QEMU a difference checkpoints at
 * once in either mode, so periodic mode is colo with a shorter timer and
 * the threshold and hybrid policies pay only with a passive periodic mode
 * (README, "COLO VM pairs").
 */
void vcha_colo_job_controller(const struct vcha_params *p,
                              struct vcha_coloctl_params *out);

#endif
