/* vcha - parameter table: parse, default, validate. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vcha/param.h>

/* Longest value accepted for any parameter. */
#define PARAM_MAX_LEN 4096

extern char **environ;

int
vcha_check_abspath(const char *value, char *why, size_t whylen)
{
    if (value[0] != '/') {
        snprintf(why, whylen, "is not an absolute path");
        return -EINVAL;
    }
    return 0;
}

int
vcha_check_command(const char *value, char *why, size_t whylen)
{
    size_t words = 0;

    for (const char *p = value; *p != '\0'; p++) {
        bool blank = *p == ' ' || *p == '\t';
        bool after_blank = p == value || p[-1] == ' ' || p[-1] == '\t';

        if (!blank && after_blank) {
            words++;
        }
    }
    if (words == 0 || words > VCHA_COMMAND_MAX_WORDS) {
        snprintf(why, whylen, "must be a program and at most %d arguments",
                 VCHA_COMMAND_MAX_WORDS - 1);
        return -EINVAL;
    }
    return 0;
}

int
vcha_check_attribute_name(const char *value, char *why, size_t whylen)
{
    if (strpbrk(value, " \t=\"'") != NULL) {
        snprintf(why, whylen, "is not a usable node attribute name");
        return -EINVAL;
    }
    return 0;
}

const char *
vcha_param_type_name(enum vcha_param_type t)
{
    switch (t) {
    case VCHA_PT_INTEGER:
        return "integer";
    case VCHA_PT_BOOLEAN:
        return "boolean";
    case VCHA_PT_SELECT:
        return "select";
    case VCHA_PT_DURATION:
        return "duration";
    case VCHA_PT_STRING:
    default:
        return "string";
    }
}

int
vcha_integer_parse(const char *text, long long *value)
{
    char *end = NULL;
    long long v;

    if (text == NULL || *text == '\0' || isspace((unsigned char) *text)) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (end == text || *end != '\0') {
        return -EINVAL;
    }
    *value = v;
    return 0;
}

int
vcha_boolean_parse(const char *text, bool *value)
{
    static const char *const yes[] = {"1", "yes", "y", "true", "on", NULL};
    static const char *const no[] = {"0", "no", "n", "false", "off", NULL};

    if (text == NULL) {
        return -EINVAL;
    }
    for (size_t i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *value = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *value = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Milliseconds per unit, or 0 for an unknown unit; us counts as 1/1000. */
static long long
duration_unit_ms(const char *unit, bool *micro)
{
    static const struct {
        const char *name;
        long long ms;
    } units[] = {
        {"", 1000},     {"s", 1000},    {"sec", 1000},
        {"ms", 1},      {"msec", 1},    {"m", 60000},
        {"min", 60000}, {"h", 3600000}, {"hr", 3600000},
    };

    *micro = strcasecmp(unit, "us") == 0 || strcasecmp(unit, "usec") == 0;
    if (*micro) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].name) == 0) {
            return units[i].ms;
        }
    }
    return 0;
}

int
vcha_duration_parse(const char *text, long long *ms)
{
    unsigned long long n = 0;
    const char *p = text;
    long long mult;
    bool micro = false;

    if (text == NULL) {
        return -EINVAL;
    }
    while (isspace((unsigned char) *p)) {
        p++;
    }
    if (!isdigit((unsigned char) *p)) {
        return -EINVAL; /* empty, negative or not a number */
    }
    for (; isdigit((unsigned char) *p); p++) {
        if (n > (unsigned long long) (LLONG_MAX - 9) / 10) {
            return -ERANGE;
        }
        n = n * 10 + (unsigned) (*p - '0');
    }
    while (isspace((unsigned char) *p)) {
        p++;
    }
    char unit[8] = "";
    size_t len = strlen(p);
    while (len > 0 && isspace((unsigned char) p[len - 1])) {
        len--;
    }
    if (len >= sizeof(unit)) {
        return -EINVAL;
    }
    memcpy(unit, p, len);
    unit[len] = '\0';
    mult = duration_unit_ms(unit, &micro);
    if (mult == 0) {
        return -EINVAL;
    }
    if (micro) {
        *ms = (long long) ((n + 999) / 1000);
        return 0;
    }
    if (n > (unsigned long long) (LLONG_MAX / mult)) {
        return -ERANGE;
    }
    *ms = (long long) n * mult;
    return 0;
}

/* Length of the UTF-8 sequence at s (1..4), or 0 if it is not valid. */
static size_t
utf8_seq_len(const unsigned char *s)
{
    size_t len;
    uint32_t cp;

    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
        return 0; /* overlong, out of range or a surrogate */
    }
    return len;
}

/* Any value: bounded length, valid UTF-8, no control characters. */
static int
check_text(const char *value, char *why, size_t whylen)
{
    const unsigned char *s = (const unsigned char *) value;
    size_t total = 0;

    while (*s != '\0') {
        size_t n = utf8_seq_len(s);

        if (n == 0) {
            snprintf(why, whylen, "is not valid UTF-8 (byte %zu)", total);
            return -EINVAL;
        }
        if (n == 1 && (*s < 0x20 || *s == 0x7f)) {
            snprintf(why, whylen, "contains a control character (byte %zu)",
                     total);
            return -EINVAL;
        }
        s += n;
        total += n;
        if (total > PARAM_MAX_LEN) {
            snprintf(why, whylen, "is longer than %d bytes", PARAM_MAX_LEN);
            return -EINVAL;
        }
    }
    return 0;
}

static int
check_bounds(const struct vcha_param_def *def, long long v, char *why,
             size_t whylen)
{
    if (def->min == 0 && def->max == 0) {
        return 0; /* unbounded */
    }
    if (v < def->min || v > def->max) {
        if (def->type == VCHA_PT_DURATION) {
            snprintf(why, whylen, "must be between %lldms and %lldms", def->min,
                     def->max);
        } else {
            snprintf(why, whylen, "must be between %lld and %lld", def->min,
                     def->max);
        }
        return -ERANGE;
    }
    return 0;
}

static int
check_typed(const struct vcha_param_def *def, const char *value, long long *num,
            char *why, size_t whylen)
{
    bool b = false;
    int rc;

    switch (def->type) {
    case VCHA_PT_INTEGER:
        rc = vcha_integer_parse(value, num);
        if (rc == -ERANGE) {
            snprintf(why, whylen, "does not fit in a 64-bit integer");
            return rc;
        } else if (rc < 0) {
            snprintf(why, whylen, "is not a whole number");
            return rc;
        }
        return check_bounds(def, *num, why, whylen);
    case VCHA_PT_DURATION:
        rc = vcha_duration_parse(value, num);
        if (rc == -ERANGE) {
            snprintf(why, whylen, "is too long a duration");
            return rc;
        } else if (rc < 0) {
            snprintf(why, whylen,
                     "is not a duration (examples: 30, 30s, 500ms, 2min, 1h)");
            return rc;
        }
        return check_bounds(def, *num, why, whylen);
    case VCHA_PT_BOOLEAN:
        if (vcha_boolean_parse(value, &b) < 0) {
            snprintf(why, whylen, "is not a boolean (use true or false)");
            return -EINVAL;
        }
        *num = b;
        return 0;
    case VCHA_PT_SELECT:
        for (size_t i = 0; def->options && def->options[i]; i++) {
            if (strcmp(value, def->options[i]) == 0) {
                *num = (long long) i;
                return 0;
            }
        }
        snprintf(why, whylen, "is not one of the allowed values");
        return -EINVAL;
    case VCHA_PT_STRING:
    default:
        *num = 0;
        return 0;
    }
}

int
vcha_param_value_check(const struct vcha_param_def *def, const char *value,
                       long long *num, char *why, size_t whylen)
{
    long long scratch = 0;
    int rc;

    if (num == NULL) {
        num = &scratch;
    }
    rc = check_text(value, why, whylen);
    if (rc == 0) {
        rc = check_typed(def, value, num, why, whylen);
    }
    if (rc == 0 && def->check != NULL) {
        rc = def->check(value, why, whylen);
    }
    return rc < 0 ? -EINVAL : 0; /* as documented, also for -ERANGE */
}

/* Value of OCF_RESKEY_<name> in envp, or NULL. */
static const char *
env_lookup(char **envp, const char *name)
{
    static const char prefix[] = "OCF_RESKEY_";
    size_t nlen = strlen(name);

    for (char **e = envp; e && *e; e++) {
        const char *s = *e;

        if (strncmp(s, prefix, sizeof(prefix) - 1) != 0) {
            continue;
        }
        s += sizeof(prefix) - 1;
        if (strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
            return s + nlen + 1;
        }
    }
    return NULL;
}

/* Print "parameter 'x' ..." with the value, shortened if it is long. */
static void
format_reason(char *why, size_t whylen, const char *name, const char *value,
              const char *what)
{
    if (check_text(value, NULL, 0) == 0 && strlen(value) <= 64) {
        snprintf(why, whylen, "parameter '%s' value '%s' %s", name, value,
                 what);
    } else {
        snprintf(why, whylen, "parameter '%s' %s", name, what);
    }
}

static int
parse_one(const struct vcha_param_def *def, const char *raw,
          struct vcha_param_value *v, char *why, size_t whylen)
{
    char what[256] = "";
    int rc;

    if (raw != NULL && *raw != '\0') {
        v->str = raw;
        v->set = true;
    } else if (def->dflt != NULL) {
        v->str = def->dflt;
    } else if (def->required) {
        snprintf(why, whylen, "required parameter '%s' is not set", def->name);
        return -EINVAL;
    } else {
        return 0;
    }
    v->present = true;
    rc = vcha_param_value_check(def, v->str, &v->num, what, sizeof(what));
    if (rc < 0) {
        format_reason(why, whylen, def->name, v->str, what);
    }
    return rc;
}

int
vcha_params_parse_with(const struct vcha_param_def *defs, size_t n,
                       vcha_param_lookup_fn lookup, void *ctx,
                       struct vcha_params **out, char *why, size_t whylen)
{
    struct vcha_params *p = NULL;
    int rc = 0;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->v = calloc(n ? n : 1, sizeof(*p->v));
    if (p->v == NULL) {
        free(p);
        return -ENOMEM;
    }
    p->defs = defs;
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        rc = parse_one(&defs[i], lookup(ctx, defs[i].name), &p->v[i], why,
                       whylen);
        if (rc < 0) {
            vcha_params_free(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

static const char *
env_lookup_cb(void *ctx, const char *name)
{
    return env_lookup(ctx, name);
}

int
vcha_params_parse(const struct vcha_param_def *defs, size_t n, char **envp,
                  struct vcha_params **out, char *why, size_t whylen)
{
    return vcha_params_parse_with(defs, n, env_lookup_cb,
                                  envp != NULL ? envp : environ, out, why,
                                  whylen);
}

void
vcha_params_free(struct vcha_params *p)
{
    if (p != NULL) {
        free(p->v);
        free(p);
    }
}

const char *
vcha_param_str(const struct vcha_params *p, size_t i)
{
    return (p != NULL && i < p->n && p->v[i].present) ? p->v[i].str : NULL;
}

long long
vcha_param_num(const struct vcha_params *p, size_t i)
{
    return (p != NULL && i < p->n && p->v[i].present) ? p->v[i].num : 0;
}

bool
vcha_param_is_set(const struct vcha_params *p, size_t i)
{
    return p != NULL && i < p->n && p->v[i].set;
}
