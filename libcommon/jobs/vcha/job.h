/*
 * vcha - the contract between an agent and its vchad job.
 */
#ifndef VCHA_JOB_H
#define VCHA_JOB_H

/**
 * The limits of a job's interval_ms and timeout_ms, which vchad enforces
 * and agents derive their jobs' parameters within: one contract.
 */
#define VCHA_JOB_MAX_INTERVAL_MS (7LL * 24 * 3600 * 1000)
#define VCHA_JOB_MAX_TIMEOUT_MS (24LL * 3600 * 1000)

#endif
