/* vchad - the checkpoint job type (see vchad_checkpoint.c). */
#ifndef VCHAD_CHECKPOINT_H
#define VCHAD_CHECKPOINT_H

#include "vchad_jobs.h"

/** Periodic CRIU checkpoints of an LXC container into its store. */
extern const struct vchad_job_type vchad_checkpoint_job;

#endif
