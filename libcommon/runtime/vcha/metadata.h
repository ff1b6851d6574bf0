/*
 * vcha - OCF 1.1 meta-data and usage text, both generated from an agent's
 * parameter and action tables.
 */
#ifndef VCHA_METADATA_H
#define VCHA_METADATA_H

#include <stddef.h>
#include <stdio.h>

#include <vcha/param.h>
#include <vcha/result.h>

struct vcha_agent; /* vcha/agent.h: one invocation */

/** An action handler. */
typedef enum vcha_result (*vcha_action_fn)(struct vcha_agent *a);

/** One action, as advertised in the meta-data. */
struct vcha_action_def {
    const char *name;    /**< "start", "monitor", ... */
    vcha_action_fn fn;   /**< NULL for meta-data and validate-all */
    unsigned timeout_s;  /**< advertised default timeout */
    unsigned interval_s; /**< advertised interval (monitor), or 0 */
    int depth;           /**< OCF_CHECK_LEVEL (monitor), -1: none */
    const char *role;    /**< "Promoted"/"Unpromoted", or NULL */
};

/** What the meta-data and the usage text describe. */
struct vcha_metadata {
    const char *name;    /**< e.g. "dnsswitch" */
    const char *version; /**< agent version */
    const char *shortdesc;
    const char *longdesc;
    const struct vcha_param_def *params;
    size_t n_params;
    const struct vcha_action_def *actions;
    size_t n_actions;
};

/**
 * Build the meta-data XML of @p md: OCF 1.1 shape, with a DOCTYPE naming
 * ra-api-1.dtd so that xmllint --valid (and ocf-tester) can check it.
 * Returns 0 and a new buffer in @p xml (free()), -ENOENT when libxml2
 * cannot be loaded, or another negative errno.
 */
int vcha_metadata_xml(const struct vcha_metadata *md, char **xml, size_t *len);

/** Print the usage text of @p md (actions, then parameters) to @p out. */
void vcha_usage_print(const struct vcha_metadata *md, FILE *out);

#endif
