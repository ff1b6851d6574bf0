/*
 * vcha - what Pacemaker's scheduler would do were a resource's utilization
 * raised: a copy of the CIB changed and handed to crm_simulate, the
 * cluster itself untouched.  An agent that measures what its resource uses
 * asks before it raises the figure, so that a measured spike never makes
 * the scheduler stop a service that fits on no node.
 */
#ifndef VCHA_WHATIF_H
#define VCHA_WHATIF_H

#include <stddef.h>

/**
 * Whether raising utilization attribute @p name of resource @p rsc to
 * @p value would stop a resource, or move one whose agent is @p agent
 * (CLASS:PROVIDER:TYPE; NULL: none) by a stop and a start (a member of a
 * container set cannot be moved so: only a live migration takes its
 * newest tree along; other resources, a fencing device say, may move as
 * the scheduler places them): the CIB (@p cib_file, or the cluster's own, cibadmin
 * --query, when NULL) is copied into a private directory under $TMPDIR
 * (/tmp; one left there over an hour by a call that was killed is
 * removed), crm_simulate runs its transition once as it is and once with
 * the value set there (crm_resource --utilization on the copy), and the
 * resources the second stops or moves that the first does not are the
 * answer (a migration is neither).  Returns 0 (none), 1 (their
 * names, separated by spaces, in @p stopped, as many as fit), or a
 * negative errno
 * (-ETIME: not done within @p timeout_ms; -EIO: a tool failed).
 */
int vcha_whatif_utilization(const char *cib_file, const char *rsc,
                            const char *agent, const char *name,
                            const char *value, long long timeout_ms,
                            char *stopped, size_t len);

#endif
