/*
 * vchad - the job types this daemon runs, one file each in this folder,
 * each a struct vchad_job_type (see ../vchad_job.h).
 */
#include <config.h>

#include <stddef.h>

#include "../vchad_job.h"

/* jobs/vchad_checkpoint.c: periodic CRIU checkpoints of an LXC container */
extern const struct vchad_job_type vchad_checkpoint_job;
/* jobs/vchad_colo.c: the checkpoint controller of a COLO pair's QEMU */
extern const struct vchad_job_type vchad_colo_job;
/* jobs/vchad_filesync.c: a standby copy of a tree kept in step */
extern const struct vchad_job_type vchad_filesync_job;
/* jobs/vchad_vmwatch.c: out-of-band health of a libvirt domain */
extern const struct vchad_job_type vchad_vmwatch_job;

const struct vchad_job_type *const vchad_job_types[] = {
    &vchad_checkpoint_job,
    &vchad_colo_job,
    &vchad_filesync_job,
    &vchad_vmwatch_job,
    NULL,
};
