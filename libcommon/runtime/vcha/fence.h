/*
 * vcha - a fence agent after FenceAgentAPI: options from key=value lines on
 * stdin (when there are no arguments) or from getopt long options, both
 * driven by one option table that also gives the usage text, the meta-data
 * and the man page; the power work runs in a worker process that is killed
 * when it overruns, so that nothing can hang a fencing operation.
 */
#ifndef VCHA_FENCE_H
#define VCHA_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <vcha/param.h>

/** FenceAgentAPI actions. */
enum vcha_fence_action {
    VCHA_FENCE_OFF,
    VCHA_FENCE_ON,
    VCHA_FENCE_REBOOT,
    VCHA_FENCE_STATUS,
    VCHA_FENCE_LIST,
    VCHA_FENCE_LIST_STATUS,
    VCHA_FENCE_MONITOR,
    VCHA_FENCE_METADATA,
    VCHA_FENCE_MANPAGE,
    VCHA_FENCE_VALIDATE_ALL,
    VCHA_FENCE_N_ACTIONS
};

/** FenceAgentAPI exit codes. */
enum vcha_fence_rc {
    VCHA_FENCE_SUCCESS = 0, /**< done; for status: the plug is on */
    VCHA_FENCE_FAILED = 1,  /**< failed, unreachable or not confirmed */
    VCHA_FENCE_IS_OFF = 2,  /**< status: the plug is off */
};

/** One option: a parameter plus how it is spelled on the command line. */
struct vcha_fence_opt {
    struct vcha_param_def p; /**< name (stdin key), type, default, ... */
    int short_opt;           /**< getopt letter, or 0 */
    const char *arg;         /**< e.g. "[uri]"; NULL: a flag */
    const char *obsoletes;   /**< an older name, still accepted */
};

struct vcha_fence;

/** A fence agent. */
struct vcha_fence_agent {
    const char *name; /**< "fence_vcha_libvirt" */
    const char *shortdesc;
    const char *longdesc;
    const char *vendor_url;
    const struct vcha_fence_opt *opts; /**< the agent's own options */
    size_t n_opts;
    /** Checks across options; returns 0 or -EINVAL with f->reason. */
    int (*validate)(struct vcha_fence *f);
    /**
     * Carry out f->action (a power, status, list or monitor action) and
     * return its exit code.  Runs in a worker process that is killed at
     * f->deadline_ms; it may print (list output) to stdout.
     */
    enum vcha_fence_rc (*run)(struct vcha_fence *f);
};

/** The most options an agent can have, the common ones included. */
#define VCHA_FENCE_MAX_OPTS 48

/** One invocation. */
struct vcha_fence {
    const struct vcha_fence_agent *agent;
    enum vcha_fence_action action;
    const struct vcha_fence_opt *opts[VCHA_FENCE_MAX_OPTS];
    char *values[VCHA_FENCE_MAX_OPTS]; /**< as given, or NULL */
    size_t n;
    struct vcha_param_def defs[VCHA_FENCE_MAX_OPTS]; /**< as parsed */
    struct vcha_params *params;                      /**< parsed values */
    long long deadline_ms; /**< of the worker (vcha_now_ms) */
    char reason[1024];     /**< why it failed */
};

/** Run the agent; returns the process exit code. */
int vcha_fence_main(const struct vcha_fence_agent *agent, int argc,
                    char **argv);

/** Text of option @p name, or NULL. */
const char *vcha_fence_str(const struct vcha_fence *f, const char *name);
/** Number (integer, 0/1, duration in ms) of option @p name, or 0. */
long long vcha_fence_num(const struct vcha_fence *f, const char *name);

/** Record why the action failed; returns VCHA_FENCE_FAILED. */
enum vcha_fence_rc vcha_fence_fail(struct vcha_fence *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Name of @p action ("off", "list-status", ...). */
const char *vcha_fence_action_name(enum vcha_fence_action action);

/**
 * Set up @p f for @p agent: the common options plus the agent's own.
 * Returns 0, or -E2BIG when there are too many.
 */
int vcha_fence_init(struct vcha_fence *f, const struct vcha_fence_agent *agent);

/** Free what @p f holds. */
void vcha_fence_clear(struct vcha_fence *f);

/**
 * Read key=value lines (FenceAgentAPI) from @p text into @p f: '#' lines
 * and unknown keys are ignored, leading blanks and trailing white space
 * are dropped, the last value of a key wins, and an obsolete name counts as
 * its successor.  Returns 0 or -ENOMEM.
 */
int vcha_fence_parse_stdin(struct vcha_fence *f, const char *text);

/**
 * Read getopt long options from @p argv into @p f.  Returns 0, or -EINVAL
 * with f->reason on an unknown option or a missing argument.
 */
int vcha_fence_parse_args(struct vcha_fence *f, int argc, char **argv);

/**
 * Check the values: types, defaults, the action, the agent's checks.
 * Returns 0 or -EINVAL with f->reason.
 */
int vcha_fence_validate(struct vcha_fence *f);

/** Print the usage text, the meta-data XML or the man page of @p f. */
void vcha_fence_usage(const struct vcha_fence *f, FILE *out);
int vcha_fence_metadata(const struct vcha_fence *f, char **xml);
void vcha_fence_manpage(const struct vcha_fence *f, FILE *out);

/**
 * Run agent->run in a worker process for at most @p budget_ms; kill its
 * process group when it overruns.  The worker dies with the caller (a
 * fencer that kills the agent kills the worker too) and at its deadline by
 * itself; a killed worker that cannot be reaped within a second is given
 * up on.  Returns its exit code, or VCHA_FENCE_FAILED (with f->reason) when
 * it could not start, overran, crashed or could not be reaped.
 */
enum vcha_fence_rc vcha_fence_run_bounded(struct vcha_fence *f,
                                          long long budget_ms);

#endif
