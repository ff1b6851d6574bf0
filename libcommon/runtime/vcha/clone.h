/*
 * vcha - what Pacemaker tells a clone instance: its clone's meta attributes,
 * the role a recurring monitor checks, and the lists a notify action gets.
 *
 * Pacemaker passes all of it as OCF_RESKEY_CRM_meta_* variables.  Since
 * 2.1 it sets the promoted/unpromoted names and, for agents written before,
 * the deprecated master/slave ones too; both are read here, the new name
 * first.
 */
#ifndef VCHA_CLONE_H
#define VCHA_CLONE_H

#include <stdbool.h>
#include <stddef.h>

/** A role of a resource instance. */
enum vcha_role {
    VCHA_ROLE_NONE = 0,   /**< not given */
    VCHA_ROLE_STOPPED,    /**< "Stopped" */
    VCHA_ROLE_STARTED,    /**< "Started" */
    VCHA_ROLE_UNPROMOTED, /**< "Unpromoted" (formerly "Slave") */
    VCHA_ROLE_PROMOTED,   /**< "Promoted" (formerly "Master") */
};

/**
 * Parse a role name (case-insensitive): Stopped, Started, Unpromoted,
 * Promoted, and the deprecated Slave and Master.  Returns 0, or -EINVAL
 * (and VCHA_ROLE_NONE in @p role) for anything else.
 */
int vcha_role_parse(const char *text, enum vcha_role *role);

/** Name of @p role as Pacemaker 2.1 and later spell it ("" for none). */
const char *vcha_role_name(enum vcha_role role);

/** A clone instance's view of its clone; -1 in a number: not given. */
struct vcha_clone {
    int instance;          /**< CRM_meta_clone: this instance's number */
    int clone_max;         /**< CRM_meta_clone_max */
    int clone_node_max;    /**< CRM_meta_clone_node_max */
    int promoted_max;      /**< CRM_meta_promoted_max (master_max) */
    int promoted_node_max; /**< ..._promoted_node_max (master_node_max) */
    bool notify;           /**< CRM_meta_notify */
    bool globally_unique;  /**< CRM_meta_globally_unique */
    /** CRM_meta_role: the role a recurring monitor is for */
    enum vcha_role role;
    /** CRM_meta_on_node: this node's name; points into the environment */
    const char *on_node;
};

/** Whether @p c describes a clone instance. */
bool vcha_clone_is_clone(const struct vcha_clone *c);

/** Whether @p c describes an instance of a promotable clone. */
bool vcha_clone_is_promotable(const struct vcha_clone *c);

/**
 * Read the clone meta attributes of this invocation from the environment
 * into @p c.  Everything well formed is read even when something is not.
 * Returns 0, or -EINVAL when a value was malformed (it is then left as
 * not given, and @p why names it).
 */
int vcha_clone_parse(struct vcha_clone *c, char *why, size_t whylen);

/** When a notification comes: before or after the operation. */
enum vcha_notify_type {
    VCHA_NOTIFY_PRE,
    VCHA_NOTIFY_POST,
};

/**
 * The lists of a notification.  The first four are also the operation a
 * notification is about: n->lists[n->operation] holds the instances it
 * acts on.
 */
enum vcha_notify_list {
    VCHA_NOTIFY_START,      /**< instances to be started */
    VCHA_NOTIFY_STOP,       /**< instances to be stopped */
    VCHA_NOTIFY_PROMOTE,    /**< instances to be promoted */
    VCHA_NOTIFY_DEMOTE,     /**< instances to be demoted */
    VCHA_NOTIFY_ACTIVE,     /**< instances that are active */
    VCHA_NOTIFY_INACTIVE,   /**< instances that are not (no unames) */
    VCHA_NOTIFY_PROMOTED,   /**< instances in the promoted role */
    VCHA_NOTIFY_UNPROMOTED, /**< instances in the unpromoted role */
    VCHA_NOTIFY_ALL,        /**< every node of the cluster (unames only) */
    VCHA_NOTIFY_AVAILABLE,  /**< nodes the clone may run on (unames only) */
    VCHA_NOTIFY_N_LISTS
};

/** Words of a space-separated list. */
struct vcha_words {
    size_t n;
    char **v;   /**< n words, then NULL */
    char *text; /**< where the words are kept */
};

/**
 * One list: instance names (resource) and their node names (uname); where
 * both are given, the i-th instance is on the i-th node.
 */
struct vcha_notify_set {
    struct vcha_words resources;
    struct vcha_words unames;
};

/** A notification, as the notify action gets it. */
struct vcha_notify {
    enum vcha_notify_type type;
    /** start, stop, promote or demote: the first four lists */
    enum vcha_notify_list operation;
    struct vcha_notify_set lists[VCHA_NOTIFY_N_LISTS];
};

/**
 * Read the notification of this invocation from the environment:
 * CRM_meta_notify_type, _operation and the _resource and _uname lists.
 * Returns 0 and a new notification in @p n (vcha_notify_free()), -EINVAL
 * when the type or the operation is missing or unknown (@p why says
 * which), or -ENOMEM.
 */
int vcha_notify_parse(struct vcha_notify **n, char *why, size_t whylen);

/** Free @p n; NULL is fine. */
void vcha_notify_free(struct vcha_notify *n);

/** Name of list @p l as in the variables' names, e.g. "unpromoted". */
const char *vcha_notify_list_name(enum vcha_notify_list l);

/** "pre" or "post". */
const char *vcha_notify_type_name(enum vcha_notify_type t);

/** Whether node @p uname is in list @p l of @p n. */
bool vcha_notify_has_uname(const struct vcha_notify *n, enum vcha_notify_list l,
                           const char *uname);

#endif
