/*
 * vcha - an OCF resource agent: its description, its actions, and the
 * dispatcher that runs one action per invocation.
 *
 * An agent program is a parameter table, an action table, a struct
 * vcha_agent_def and a main() that calls vcha_agent_main().  The dispatcher
 * answers meta-data, usage and validate-all itself, parses and validates the
 * parameters, derives the deadline from the operation timeout, runs the
 * action and turns its result into an OCF exit code, printing an
 * "ocf-exit-reason:" line on stderr when it failed.
 *
 * Clone instances get their clone's meta attributes in a->clone; a notify
 * action gets its notification in a->notify.  An agent may list an action
 * more than once with different roles (monitor of each role, with its own
 * interval): the row of the role Pacemaker names is the one used.
 */
#ifndef VCHA_AGENT_H
#define VCHA_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <vcha/clock.h>
#include <vcha/clone.h>
#include <vcha/metadata.h>
#include <vcha/param.h>
#include <vcha/result.h>

/** Everything that describes an agent. */
struct vcha_agent_def {
    const char *name;    /**< e.g. "dnsswitch" */
    const char *version; /**< agent version */
    const char *shortdesc;
    const char *longdesc;
    const struct vcha_param_def *params;
    size_t n_params;
    /**
     * The agent's own actions, ended by a row with a NULL name; the
     * runtime adds validate-all and meta-data (and answers them).
     */
    const struct vcha_action_def *actions;
    /**
     * Checks across parameters and against this node.  @p level is 0
     * (parameters only; must not touch the system or run any program) or
     * 10 (also files, programs and permissions here).  NULL: none.
     */
    enum vcha_result (*validate)(struct vcha_agent *a, int level);
    /**
     * How a probe or a stop answers when the parameters cannot be used
     * (a bad value, or the level-0 validate refused them; a->reason says
     * why, naming the parameter), returning what the action answers.
     * NULL: the resource cannot be active here, so a probe says not
     * running and a stop succeeds.  An agent whose resource may run
     * whatever the parameters say now (a VM defined or started with
     * earlier ones) answers itself; a->params then holds the parameters
     * with each bad value replaced by its default (NULL when even that
     * cannot be parsed).
     */
    enum vcha_result (*config_error)(struct vcha_agent *a, enum vcha_result r);
};

/** One invocation. */
struct vcha_agent {
    const struct vcha_agent_def *def;
    const struct vcha_action_def *action;
    struct vcha_params *params;
    const char *instance;       /**< OCF_RESOURCE_INSTANCE */
    bool probe;                 /**< monitor with interval 0 or none */
    int check_level;            /**< OCF_CHECK_LEVEL */
    long long timeout_ms;       /**< the operation's timeout */
    long long deadline_ms;      /**< CLOCK_MONOTONIC ms to be done by */
    struct vcha_clone clone;    /**< clone meta attributes, role of a monitor */
    struct vcha_notify *notify; /**< the notification (notify), or NULL */
    char reason[1024];          /**< exit reason of a failure */
};

/**
 * Run the action named by argv[1] and return the process exit code.
 */
int vcha_agent_main(const struct vcha_agent_def *def, int argc, char **argv);

/**
 * Record why the action fails (printed as the exit reason and logged) and
 * return @p r, so that handlers can `return vcha_agent_fail(a, ...);`.
 */
enum vcha_result vcha_agent_fail(struct vcha_agent *a, enum vcha_result r,
                                 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Milliseconds left until the deadline (never below 1). */
long long vcha_agent_remaining_ms(const struct vcha_agent *a);

/**
 * This node's name into @p buf: Pacemaker's (CRM_meta_on_node), else
 * crm_node -n's (within half of the time left, 5 s at most), else the
 * kernel's.
 */
void vcha_agent_node_name(const struct vcha_agent *a, char *buf, size_t len);

/** Text of parameter @p i of this invocation, or NULL. */
const char *vcha_agent_str(const struct vcha_agent *a, size_t i);
/** Number of parameter @p i (integer, 0/1, duration in ms). */
long long vcha_agent_num(const struct vcha_agent *a, size_t i);

/** For vcha_agent_promotion(): no promotion score at all. */
#define VCHA_PROMOTION_NONE INT_MIN

/**
 * Set this node's promotion score for the resource to @p score, or remove
 * it (VCHA_PROMOTION_NONE), before the operation's deadline.  A node
 * without a score is not promoted.  Returns 0 or -errno as
 * vcha_promotion_set() does.
 */
int vcha_agent_promotion(struct vcha_agent *a, int score);

/**
 * Deadline for an operation lasting @p timeout_ms: a margin is kept back so
 * the agent can still report before Pacemaker kills it.
 */
long long vcha_deadline_from_timeout(long long timeout_ms);

#endif
