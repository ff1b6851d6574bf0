/* vcha - clone meta attributes and notifications from the environment. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vcha/clone.h>
#include <vcha/param.h>

#define META "OCF_RESKEY_CRM_meta_"

static const struct {
    enum vcha_role role;
    const char *name;
} role_names[] = {
    {VCHA_ROLE_STOPPED, "Stopped"},
    {VCHA_ROLE_STARTED, "Started"},
    {VCHA_ROLE_UNPROMOTED, "Unpromoted"},
    {VCHA_ROLE_PROMOTED, "Promoted"},
    /* the names before Pacemaker 2.1, still set by some tools */
    {VCHA_ROLE_UNPROMOTED, "Slave"},
    {VCHA_ROLE_PROMOTED, "Master"},
};

#define N_ROLE_NAMES (sizeof(role_names) / sizeof(role_names[0]))

int
vcha_role_parse(const char *text, enum vcha_role *role)
{
    *role = VCHA_ROLE_NONE;
    for (size_t i = 0; text != NULL && i < N_ROLE_NAMES; i++) {
        if (strcasecmp(text, role_names[i].name) == 0) {
            *role = role_names[i].role;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
vcha_role_name(enum vcha_role role)
{
    for (size_t i = 0; i < N_ROLE_NAMES; i++) {
        if (role_names[i].role == role) {
            return role_names[i].name;
        }
    }
    return "";
}

/* ------------------------------------------------------------ clone */

/* The value of meta attribute @p name, or of @p legacy (may be NULL). */
static const char *
meta_get(const char *name, const char *legacy)
{
    char var[128];
    const char *v;

    snprintf(var, sizeof(var), META "%s", name);
    v = getenv(var);
    if ((v == NULL || *v == '\0') && legacy != NULL) {
        snprintf(var, sizeof(var), META "%s", legacy);
        v = getenv(var);
    }
    return (v == NULL || *v == '\0') ? NULL : v;
}

/* Remember the first malformed value in @p why; return -EINVAL. */
static int
malformed(const char *name, const char *value, char *why, size_t whylen, int rc)
{
    if (rc == 0) {
        snprintf(why, whylen, "malformed " META "%s='%s'", name, value);
    }
    return -EINVAL;
}

/* *out = meta attribute @p name (else @p legacy) as a number >= 0. */
static int
meta_number(const char *name, const char *legacy, int *out, char *why,
            size_t whylen, int rc)
{
    const char *v = meta_get(name, legacy);
    long long n;

    *out = -1;
    if (v == NULL) {
        return rc;
    }
    if (vcha_integer_parse(v, &n) < 0 || n < 0 || n > INT_MAX) {
        return malformed(name, v, why, whylen, rc);
    }
    *out = (int) n;
    return rc;
}

static int
meta_bool(const char *name, bool *out, char *why, size_t whylen, int rc)
{
    const char *v = meta_get(name, NULL);

    *out = false;
    if (v != NULL && vcha_boolean_parse(v, out) < 0) {
        return malformed(name, v, why, whylen, rc);
    }
    return rc;
}

int
vcha_clone_parse(struct vcha_clone *c, char *why, size_t whylen)
{
    const char *role = meta_get("role", NULL);
    int rc = 0;

    if (whylen > 0) {
        why[0] = '\0';
    }
    rc = meta_number("clone", NULL, &c->instance, why, whylen, rc);
    rc = meta_number("clone_max", NULL, &c->clone_max, why, whylen, rc);
    rc = meta_number("clone_node_max", NULL, &c->clone_node_max, why, whylen,
                     rc);
    rc = meta_number("promoted_max", "master_max", &c->promoted_max, why,
                     whylen, rc);
    rc = meta_number("promoted_node_max", "master_node_max",
                     &c->promoted_node_max, why, whylen, rc);
    rc = meta_bool("notify", &c->notify, why, whylen, rc);
    rc = meta_bool("globally_unique", &c->globally_unique, why, whylen, rc);
    if (role != NULL && vcha_role_parse(role, &c->role) < 0) {
        rc = malformed("role", role, why, whylen, rc);
    } else if (role == NULL) {
        c->role = VCHA_ROLE_NONE;
    }
    c->on_node = meta_get("on_node", NULL);
    return rc;
}

bool
vcha_clone_is_clone(const struct vcha_clone *c)
{
    return c->instance >= 0 || c->clone_max >= 0;
}

bool
vcha_clone_is_promotable(const struct vcha_clone *c)
{
    return vcha_clone_is_clone(c) && c->promoted_max >= 0;
}

/* ------------------------------------------------------------ notify */

/* Each list's name, and the name Pacemaker used before 2.1. */
static const struct {
    const char *name;
    const char *legacy;
} list_names[VCHA_NOTIFY_N_LISTS] = {
    [VCHA_NOTIFY_START] = {"start", NULL},
    [VCHA_NOTIFY_STOP] = {"stop", NULL},
    [VCHA_NOTIFY_PROMOTE] = {"promote", NULL},
    [VCHA_NOTIFY_DEMOTE] = {"demote", NULL},
    [VCHA_NOTIFY_ACTIVE] = {"active", NULL},
    [VCHA_NOTIFY_INACTIVE] = {"inactive", NULL},
    [VCHA_NOTIFY_PROMOTED] = {"promoted", "master"},
    [VCHA_NOTIFY_UNPROMOTED] = {"unpromoted", "slave"},
    [VCHA_NOTIFY_ALL] = {"all", NULL},
    [VCHA_NOTIFY_AVAILABLE] = {"available", NULL},
};

const char *
vcha_notify_list_name(enum vcha_notify_list l)
{
    return (unsigned) l < VCHA_NOTIFY_N_LISTS ? list_names[l].name : "";
}

const char *
vcha_notify_type_name(enum vcha_notify_type t)
{
    return t == VCHA_NOTIFY_PRE ? "pre" : "post";
}

/* Split @p text at white space into @p w (an empty list for NULL). */
static int
words_split(const char *text, struct vcha_words *w)
{
    char *buf = strdup(text ? text : "");
    size_t cap = 1, n = 0;
    char *save = NULL;

    if (buf == NULL) {
        return -ENOMEM;
    }
    for (const char *p = buf; *p != '\0'; p++) {
        cap += (*p == ' ' || *p == '\t' || *p == '\n');
    }
    w->v = calloc(cap + 1, sizeof(char *));
    if (w->v == NULL) {
        free(buf);
        return -ENOMEM;
    }
    for (char *t = strtok_r(buf, " \t\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\n", &save)) {
        w->v[n++] = t;
    }
    w->n = n;
    w->text = buf;
    return 0;
}

static void
words_free(struct vcha_words *w)
{
    free(w->text);
    free(w->v);
    *w = (struct vcha_words){0};
}

/* List @p l's _resource and _uname variables, new name first. */
static int
notify_set_read(struct vcha_notify_set *s, enum vcha_notify_list l)
{
    const char *kinds[] = {"resource", "uname"};
    struct vcha_words *words[] = {&s->resources, &s->unames};

    for (size_t k = 0; k < 2; k++) {
        char name[64], legacy[64];
        int rc;

        snprintf(name, sizeof(name), "notify_%s_%s", list_names[l].name,
                 kinds[k]);
        snprintf(legacy, sizeof(legacy), "notify_%s_%s",
                 list_names[l].legacy ? list_names[l].legacy
                                      : list_names[l].name,
                 kinds[k]);
        rc = words_split(meta_get(name, legacy), words[k]);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static int
notify_kind(struct vcha_notify *n, char *why, size_t whylen)
{
    const char *type = meta_get("notify_type", "notify_key_type");
    const char *op = meta_get("notify_operation", "notify_key_operation");

    if (type != NULL && strcmp(type, "pre") == 0) {
        n->type = VCHA_NOTIFY_PRE;
    } else if (type != NULL && strcmp(type, "post") == 0) {
        n->type = VCHA_NOTIFY_POST;
    } else {
        snprintf(why, whylen, "notification type %s%s%s is not pre or post",
                 type ? "'" : "", type ? type : "(none)", type ? "'" : "");
        return -EINVAL;
    }
    for (int l = VCHA_NOTIFY_START; l <= VCHA_NOTIFY_DEMOTE; l++) {
        if (op != NULL && strcmp(op, list_names[l].name) == 0) {
            n->operation = (enum vcha_notify_list) l;
            return 0;
        }
    }
    snprintf(why, whylen, "notification operation %s%s%s is unknown",
             op ? "'" : "", op ? op : "(none)", op ? "'" : "");
    return -EINVAL;
}

int
vcha_notify_parse(struct vcha_notify **out, char *why, size_t whylen)
{
    struct vcha_notify *n = calloc(1, sizeof(*n));
    int rc;

    *out = NULL;
    if (n == NULL) {
        return -ENOMEM;
    }
    rc = notify_kind(n, why, whylen);
    for (int l = 0; rc == 0 && l < VCHA_NOTIFY_N_LISTS; l++) {
        rc = notify_set_read(&n->lists[l], (enum vcha_notify_list) l);
    }
    if (rc < 0) {
        vcha_notify_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

void
vcha_notify_free(struct vcha_notify *n)
{
    if (n == NULL) {
        return;
    }
    for (int l = 0; l < VCHA_NOTIFY_N_LISTS; l++) {
        words_free(&n->lists[l].resources);
        words_free(&n->lists[l].unames);
    }
    free(n);
}

bool
vcha_notify_has_uname(const struct vcha_notify *n, enum vcha_notify_list l,
                      const char *uname)
{
    const struct vcha_words *w;

    if (n == NULL || uname == NULL || (unsigned) l >= VCHA_NOTIFY_N_LISTS) {
        return false;
    }
    w = &n->lists[l].unames;
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->v[i], uname) == 0) {
            return true;
        }
    }
    return false;
}
