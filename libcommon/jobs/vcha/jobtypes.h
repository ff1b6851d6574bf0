/*
 * vcha - the job types vchad runs for the agents, as both sides see them.
 */
#ifndef VCHA_JOBTYPES_H
#define VCHA_JOBTYPES_H

/**
 * The timeout of one periodic checkpoint of a container checkpointed
 * every @p interval_ms: two intervals, at least two minutes, and never
 * beyond what vchad accepts (VCHA_JOB_MAX_TIMEOUT_MS).
 */
long long vcha_checkpoint_job_timeout_ms(long long interval_ms);

#endif
