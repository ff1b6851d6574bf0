/*
 * vchad - the job types this daemon runs, one file each in this folder,
 * each a struct vchad_job_type (see ../vchad_job.h).
 */
#include <config.h>

#include <stddef.h>

#include "../vchad_job.h"

/* jobs/vchad_checkpoint.c: periodic CRIU checkpoints of an LXC container */
extern const struct vchad_job_type vchad_checkpoint_job;

const struct vchad_job_type *const vchad_job_types[] = {
    &vchad_checkpoint_job,
    NULL,
};
