/*
 * vchad - the commands of the protocol (see vcha/vchad.h): one request in,
 * one response out, or a response that comes later for job-run and for
 * job-remove of a job whose run is under way.
 */
#ifndef VCHAD_REQUEST_H
#define VCHAD_REQUEST_H

#include <vcha/vchad.h>

#include "vchad_jobs.h"

/** How long job-remove lets a run finish unless grace_ms says otherwise. */
#define VCHAD_REMOVE_GRACE_MS 10000

/**
 * Answer @p req.  Returns 0 with the whole response in @p resp (also an
 * error response), -EINPROGRESS when the answer comes later, through
 * @p w->done (which the caller has set), or -ENOMEM when no response could
 * be built (@p resp may then hold part of one).
 *
 * Commands and their keys:
 *  - ping: pid, version, jobs
 *  - status: pid, version, then vchad_jobs_status()
 *  - job-add type=T id=ID [interval_ms=N] [timeout_ms=N] [KEY=VALUE...]:
 *    result=added|updated|unchanged
 *  - job-remove id=ID [grace_ms=N]
 *  - job-health id=ID: vchad_jobs_health()
 *  - job-run id=ID: answers when a run started after the request has ended,
 *    with the job's health
 */
int vchad_request_handle(struct vchad_jobs *jobs, const struct vcha_kv *req,
                         struct vcha_kv *resp, struct vchad_waiter *w);

/**
 * Fill the empty @p resp: "status", "error" when @p status is not 0 (from
 * @p error, or strerror), then the pairs of @p extra (may be NULL).
 * Returns 0 or -ENOMEM.
 */
int vchad_response_fill(struct vcha_kv *resp, int status, const char *error,
                        const struct vcha_kv *extra);

#endif
