/*
 * vcha - one vocabulary for the outcome of an action.
 *
 * Library functions return 0 or a negative errno.  Actions return an
 * enum vcha_result; only the program's edge turns it into an OCF exit code
 * (vcha_result_to_ocf) or a fence-agent exit code.
 */
#ifndef VCHA_RESULT_H
#define VCHA_RESULT_H

/** The outcome of an agent action, independent of the calling standard. */
enum vcha_result {
    VCHA_OK = 0,            /**< done, or running */
    VCHA_ERR_GENERIC,       /**< failed; worth retrying here */
    VCHA_ERR_ARGS,          /**< wrong for this node (local file, perms) */
    VCHA_ERR_UNIMPLEMENTED, /**< the action does not exist */
    VCHA_ERR_PERM,          /**< not allowed */
    VCHA_ERR_INSTALLED,     /**< something needed is not installed here */
    VCHA_ERR_CONFIGURED,    /**< the configuration is wrong everywhere */
    VCHA_NOT_RUNNING,       /**< cleanly stopped */
    VCHA_RUNNING_PROMOTED,  /**< running in the promoted role */
    VCHA_FAILED_PROMOTED,   /**< failed in the promoted role */
    VCHA_DEGRADED,          /**< running, but not fully healthy */
    VCHA_DEGRADED_PROMOTED, /**< promoted, but not fully healthy */
};

/** OCF exit code of @p r (OCF 1.1, section "Return codes"). */
int vcha_result_to_ocf(enum vcha_result r);

/** Short symbolic name of @p r, e.g. "OCF_ERR_CONFIGURED". */
const char *vcha_result_name(enum vcha_result r);

/**
 * What @p r means for an instance in the promoted role: success becomes
 * VCHA_RUNNING_PROMOTED, degraded VCHA_DEGRADED_PROMOTED, a soft failure
 * VCHA_FAILED_PROMOTED; "not running" and hard errors stay as they are.
 * For a monitor that has found its instance promoted.
 */
enum vcha_result vcha_result_promoted(enum vcha_result r);

/** True when @p r means "do not retry on this node" (hard error). */
int vcha_result_is_hard(enum vcha_result r);

#endif
