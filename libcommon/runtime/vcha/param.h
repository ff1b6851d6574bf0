/*
 * vcha - the parameter table.
 *
 * An agent declares each parameter once, in a table of struct vcha_param_def.
 * The same table parses OCF_RESKEY_* into typed values, fills defaults,
 * validates, prints usage and emits the meta-data XML (see metadata.h).
 */
#ifndef VCHA_PARAM_H
#define VCHA_PARAM_H

#include <stdbool.h>
#include <stddef.h>

/** The types a parameter can have. */
enum vcha_param_type {
    VCHA_PT_STRING,
    VCHA_PT_INTEGER,  /**< decimal, within [min, max] */
    VCHA_PT_BOOLEAN,  /**< yes/no, true/false, on/off, 1/0, y/n */
    VCHA_PT_SELECT,   /**< one of options[] */
    VCHA_PT_DURATION, /**< "30", "30s", "500ms", "2min", "1h": kept in ms */
};

/**
 * Extra check of one value, after its type has been checked.
 * Return 0 if acceptable; otherwise write why (no parameter name, no
 * trailing period) into @p why and return a negative errno.
 */
typedef int (*vcha_param_check_fn)(const char *value, char *why, size_t whylen);

/** One parameter of an agent. */
struct vcha_param_def {
    const char *name;
    enum vcha_param_type type;
    const char *dflt; /**< default, or NULL */
    bool required;
    bool unique;                /**< OCF "unique" */
    const char *unique_group;   /**< OCF 1.1 unique-group, or NULL */
    bool reloadable;            /**< may change with reload-agent */
    long long min, max;         /**< integer bounds; durations in ms */
    const char *const *options; /**< NULL-terminated, for VCHA_PT_SELECT */
    const char *shortdesc;
    const char *longdesc;
    vcha_param_check_fn check; /**< optional */
};

/** A parsed value. */
struct vcha_param_value {
    const char *str; /**< the text (points into the environment or dflt) */
    long long num;   /**< integer, boolean (0/1), duration in ms */
    bool set;        /**< given by the user (not a default) */
    bool present;    /**< given or defaulted */
};

/** A parsed parameter set. */
struct vcha_params {
    const struct vcha_param_def *defs;
    size_t n;
    struct vcha_param_value *v;
};

/**
 * Parse @p n parameters described by @p defs from the OCF_RESKEY_* variables
 * of @p envp (NULL: the process environment).
 *
 * On success returns 0 and stores a new set in @p out (free with
 * vcha_params_free).  On a bad value or a missing required parameter returns
 * -EINVAL and writes a reason naming the parameter into @p why.
 */
int vcha_params_parse(const struct vcha_param_def *defs, size_t n, char **envp,
                      struct vcha_params **out, char *why, size_t whylen);

/** Where vcha_params_parse_with() finds the text of parameter @p name. */
typedef const char *(*vcha_param_lookup_fn)(void *ctx, const char *name);

/**
 * Like vcha_params_parse(), with the values found by @p lookup (NULL or ""
 * when a parameter is not given) instead of in the environment.
 */
int vcha_params_parse_with(const struct vcha_param_def *defs, size_t n,
                           vcha_param_lookup_fn lookup, void *ctx,
                           struct vcha_params **out, char *why, size_t whylen);

/** Free @p p; NULL is fine. */
void vcha_params_free(struct vcha_params *p);

/** Text of parameter @p i, or NULL when neither given nor defaulted. */
const char *vcha_param_str(const struct vcha_params *p, size_t i);
/** Integer, boolean (0/1) or duration (ms) of parameter @p i, or 0. */
long long vcha_param_num(const struct vcha_params *p, size_t i);
/** True when the user gave parameter @p i (not a default). */
bool vcha_param_is_set(const struct vcha_params *p, size_t i);

/**
 * Check one value against its definition (type, bounds, options, check).
 * Returns 0 and stores the number in @p num (may be NULL), or -EINVAL with a
 * reason (without the parameter name) in @p why.
 */
int vcha_param_value_check(const struct vcha_param_def *def, const char *value,
                           long long *num, char *why, size_t whylen);

/**
 * Parse a duration the way Pacemaker accepts it: a non-negative decimal
 * number with an optional unit (ms, msec, us, usec, s, sec, m, min, h, hr;
 * none means seconds).  Returns 0 and the value in milliseconds (rounded
 * up from us), -EINVAL on a malformed text, -ERANGE on overflow.
 */
int vcha_duration_parse(const char *text, long long *ms);

/**
 * Parse a whole decimal integer (optional sign, no trailing text).
 * Returns 0, -EINVAL (malformed or empty) or -ERANGE (overflow).
 */
int vcha_integer_parse(const char *text, long long *value);

/** Parse a boolean; returns 0 and 0/1 in @p value, or -EINVAL. */
int vcha_boolean_parse(const char *text, bool *value);

/** A vcha_param_check_fn: the value must be an absolute path. */
int vcha_check_abspath(const char *value, char *why, size_t whylen);

/** The most words (a program and its arguments) of a command parameter. */
#define VCHA_COMMAND_MAX_WORDS 32

/**
 * A vcha_param_check_fn: a command given as words separated by blanks
 * (spaces or tabs; no shell): a program and at most
 * VCHA_COMMAND_MAX_WORDS - 1 arguments.
 */
int vcha_check_command(const char *value, char *why, size_t whylen);

/**
 * A vcha_param_check_fn: a node attribute name Pacemaker's tools take as
 * one word (no blank, '=' or quote).
 */
int vcha_check_attribute_name(const char *value, char *why, size_t whylen);

/** Name of a parameter type as shown to users ("integer", ...). */
const char *vcha_param_type_name(enum vcha_param_type t);

#endif
