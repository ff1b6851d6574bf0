/* vchad - the job types this daemon runs. */
#include <config.h>

#include <stddef.h>

#include "vchad_checkpoint.h"
#include "vchad_jobs.h"

const struct vchad_job_type *const vchad_job_types[] = {
    &vchad_checkpoint_job,
    NULL,
};
