/*
 * vcha - OCF 1.1 meta-data and usage text, both generated from an agent's
 * parameter and action tables.
 */
#ifndef VCHA_METADATA_H
#define VCHA_METADATA_H

#include <stddef.h>
#include <stdio.h>

#include <vcha/agent.h>

/**
 * Build the meta-data XML of @p def: OCF 1.1 shape, with a DOCTYPE naming
 * ra-api-1.dtd so that xmllint --valid (and ocf-tester) can check it.
 * Returns 0 and a new buffer in @p xml (free()), -ENOENT when libxml2
 * cannot be loaded, or another negative errno.
 */
int vcha_metadata_xml(const struct vcha_agent_def *def, char **xml,
                      size_t *len);

/** Print the usage text of @p def (actions, then parameters) to @p out. */
void vcha_usage_print(const struct vcha_agent_def *def, FILE *out);

#endif
