/*
 * vcha - transient node attributes and promotion scores, through Pacemaker's
 * own command-line tools (stable across Pacemaker 2.1 and 3.0).
 */
#ifndef VCHA_ATTR_H
#define VCHA_ATTR_H

/**
 * Read transient attribute @p name of @p node (NULL: this node).
 * Returns 0 and a new string in @p value (free()), -ENODATA when the
 * attribute has no value, -ENOTCONN when the cluster is not reachable,
 * -ENOENT when attrd_updater is missing, -ETIME on timeout, -EIO on another
 * failure.
 */
int vcha_attr_get(const char *name, const char *node, char **value,
                  long long timeout_ms);

/**
 * Read node attribute @p name of @p node (NULL: this node): its transient
 * value if it has one, else its permanent value (crm_attribute -l forever).
 * Returns like vcha_attr_get().
 */
int vcha_node_attr_get(const char *name, const char *node, char **value,
                       long long timeout_ms);

/**
 * Set transient attribute @p name of this node to @p value.
 * Returns 0, or a negative errno as vcha_attr_get() does.
 */
int vcha_attr_set(const char *name, const char *value, long long timeout_ms);

/** Remove transient attribute @p name of this node. 0 or -errno. */
int vcha_attr_delete(const char *name, long long timeout_ms);

/**
 * Set the promotion score of resource $OCF_RESOURCE_INSTANCE on this node
 * (crm_attribute --promotion).  0 or -errno.
 */
int vcha_promotion_set(int score, long long timeout_ms);

/** Remove this node's promotion score for the resource. 0 or -errno. */
int vcha_promotion_delete(long long timeout_ms);

/**
 * Set utilization attribute @p name of resource $OCF_RESOURCE_INSTANCE to
 * @p value (crm_resource --utilization).  Writing the value it has already
 * leaves the CIB as it is.  Returns 0, -EINVAL without
 * OCF_RESOURCE_INSTANCE, or -errno as vcha_attr_get() does.
 */
int vcha_utilization_set(const char *name, const char *value,
                         long long timeout_ms);

/**
 * Set utilization attribute @p name of resource @p rsc to @p value in the
 * CIB file @p cib_file (crm_resource with CIB_file set), or in the
 * cluster's CIB when it is NULL.  Returns 0, -EINVAL without @p rsc,
 * -ENODATA when the CIB has no such resource, or -errno as
 * vcha_attr_get() does.
 */
int vcha_utilization_set_in(const char *cib_file, const char *rsc,
                            const char *name, const char *value,
                            long long timeout_ms);

/**
 * Read utilization attribute @p name of resource $OCF_RESOURCE_INSTANCE
 * (crm_resource --utilization --get-parameter): 0 and a new string in
 * @p value (free()), -ENODATA when the resource has none, -EINVAL without
 * OCF_RESOURCE_INSTANCE, or -errno as vcha_attr_get() does.
 */
int vcha_utilization_get(const char *name, char **value, long long timeout_ms);

/**
 * Extract the value="..." field of an attrd_updater -Q output line.
 * Returns 0 and a new string, or -ENODATA when there is none.
 */
int vcha_attr_parse_query(const char *output, char **value);

/**
 * Cluster-wide properties of vcha's own kept in the CIB's crm_config
 * section, in the cluster_property_set @p set (not Pacemaker's
 * cib-bootstrap-options): records that must outlive every node, such as
 * where a service's newest data is.  Pacemaker ignores them.
 * vcha_cluster_prop_get(): 0 and a new string, -ENODATA when the property
 * is not set (or empty), or -errno as vcha_attr_get() does.
 */
int vcha_cluster_prop_get(const char *set, const char *name, char **value,
                          long long timeout_ms);

/** Set the property @p name of @p set to @p value.  0 or -errno. */
int vcha_cluster_prop_set(const char *set, const char *name,
                          const char *value, long long timeout_ms);

/**
 * Remove the property @p name of @p set.  0 (also when it was not set:
 * crm_attribute -D of a missing property succeeds) or -errno.
 */
int vcha_cluster_prop_delete(const char *set, const char *name,
                             long long timeout_ms);

#endif
