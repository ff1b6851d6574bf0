/* vcha - the FenceAgentAPI runtime: options, meta-data, worker, exit codes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/fence.h>
#include <vcha/log.h>
#include <vcha/proc.h>
#include <vcha/worker.h>
#include <vcha/xml.h>

/* Longest stdin accepted: far more than any real set of parameters. */
#define STDIN_MAX (64 * 1024)

static const char *const action_names[VCHA_FENCE_N_ACTIONS] = {
    [VCHA_FENCE_OFF] = "off",
    [VCHA_FENCE_ON] = "on",
    [VCHA_FENCE_REBOOT] = "reboot",
    [VCHA_FENCE_STATUS] = "status",
    [VCHA_FENCE_LIST] = "list",
    [VCHA_FENCE_LIST_STATUS] = "list-status",
    [VCHA_FENCE_MONITOR] = "monitor",
    [VCHA_FENCE_METADATA] = "metadata",
    [VCHA_FENCE_MANPAGE] = "manpage",
    [VCHA_FENCE_VALIDATE_ALL] = "validate-all",
};

static const char *const action_help[VCHA_FENCE_N_ACTIONS] = {
    [VCHA_FENCE_OFF] = "Power the plug off and wait until it is off.",
    [VCHA_FENCE_ON] = "Power the plug on and wait until it is on.",
    [VCHA_FENCE_REBOOT] = "Power the plug off, then on; succeeds when the "
                          "off part is confirmed.",
    [VCHA_FENCE_STATUS] = "Exit 0 if the plug is on, 2 if it is off.",
    [VCHA_FENCE_LIST] = "List the plugs: one \"plug,alias\" line each.",
    [VCHA_FENCE_LIST_STATUS] = "List the plugs with their state: "
                               "\"plug,alias,on|off\".",
    [VCHA_FENCE_MONITOR] = "Check that the fence device answers.",
    [VCHA_FENCE_METADATA] = "Print the meta-data XML.",
    [VCHA_FENCE_MANPAGE] = "Print this manual page.",
    [VCHA_FENCE_VALIDATE_ALL] = "Check the parameters and exit.",
};

static int
check_action(const char *value, char *why, size_t whylen)
{
    for (size_t i = 0; i < VCHA_FENCE_N_ACTIONS; i++) {
        if (strcasecmp(value, action_names[i]) == 0) {
            return 0;
        }
    }
    snprintf(why, whylen,
             "is not a fence action (off, on, reboot, status, "
             "list, list-status, monitor, metadata, manpage, "
             "validate-all)");
    return -EINVAL;
}

/* Options every vcha fence agent has. */
static const struct vcha_fence_opt common_opts[] = {
    {{.name = "action",
      .dflt = "reboot",
      .required = true,
      .check = check_action,
      .shortdesc = "Action to carry out"},
     'o',
     "[action]",
     "option"},
    {{.name = "plug",
      .required = true,
      .shortdesc = "The plug to act on: the machine the device powers"},
     'n',
     "[id]",
     "port"},
    {{.name = "delay",
      .type = VCHA_PT_DURATION,
      .dflt = "0",
      .max = 3600000,
      .shortdesc = "Seconds to wait before powering off (staggers two "
                   "nodes that fence each other)"},
     0,
     "[seconds]",
     NULL},
    {{.name = "power_timeout",
      .type = VCHA_PT_DURATION,
      .dflt = "20",
      .min = 1,
      .max = 3600000,
      .shortdesc = "Seconds within which a power change must be "
                   "confirmed"},
     0,
     "[seconds]",
     NULL},
    {{.name = "power_wait",
      .type = VCHA_PT_DURATION,
      .dflt = "0",
      .max = 3600000,
      .shortdesc = "Seconds to wait after a power command before "
                   "reading the state"},
     0,
     "[seconds]",
     NULL},
    {{.name = "missing_as_off",
      .type = VCHA_PT_BOOLEAN,
      .dflt = "0",
      .shortdesc = "Count a plug the device does not know as off"},
     0,
     NULL,
     NULL},
    {{.name = "verbose",
      .type = VCHA_PT_BOOLEAN,
      .dflt = "0",
      .shortdesc = "Log debug messages"},
     'v',
     NULL,
     NULL},
    {{.name = "debug_file", .shortdesc = "Append the log to this file"},
     'D',
     "[debugfile]",
     NULL},
    {{.name = "version",
      .type = VCHA_PT_BOOLEAN,
      .dflt = "0",
      .shortdesc = "Print the version and exit"},
     'V',
     NULL,
     NULL},
    {{.name = "help",
      .type = VCHA_PT_BOOLEAN,
      .dflt = "0",
      .shortdesc = "Print the options and exit"},
     'h',
     NULL,
     NULL},
};

#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

const char *
vcha_fence_action_name(enum vcha_fence_action action)
{
    return (unsigned) action < VCHA_FENCE_N_ACTIONS ? action_names[action]
                                                    : "unknown";
}

int
vcha_fence_init(struct vcha_fence *f, const struct vcha_fence_agent *agent)
{
    memset(f, 0, sizeof(*f));
    f->agent = agent;
    if (N_COMMON + agent->n_opts > VCHA_FENCE_MAX_OPTS) {
        return -E2BIG;
    }
    for (size_t i = 0; i < N_COMMON; i++) {
        f->opts[f->n++] = &common_opts[i];
    }
    for (size_t i = 0; i < agent->n_opts; i++) {
        f->opts[f->n++] = &agent->opts[i];
    }
    return 0;
}

void
vcha_fence_clear(struct vcha_fence *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->values[i]);
        f->values[i] = NULL;
    }
    vcha_params_free(f->params);
    f->params = NULL;
}

enum vcha_fence_rc
vcha_fence_fail(struct vcha_fence *f, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
    va_end(ap);
    return VCHA_FENCE_FAILED;
}

/* Index of the option called @p name (or by its obsolete name), or -1. */
static int
opt_index(const struct vcha_fence *f, const char *name, size_t len)
{
    for (size_t i = 0; i < f->n; i++) {
        const char *names[2] = {f->opts[i]->p.name, f->opts[i]->obsoletes};

        for (size_t k = 0; k < 2; k++) {
            if (names[k] != NULL && strlen(names[k]) == len &&
                strncmp(names[k], name, len) == 0) {
                return (int) i;
            }
        }
    }
    return -1;
}

static int
opt_set(struct vcha_fence *f, int i, const char *value, size_t len)
{
    char *copy = strndup(value, len);

    if (copy == NULL) {
        return -ENOMEM;
    }
    free(f->values[i]);
    f->values[i] = copy;
    return 0;
}

/* One "key=value" line; blank, comment and unknown lines are ignored. */
static int
parse_line(struct vcha_fence *f, const char *line, size_t len)
{
    const char *eq;
    int i;

    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && strchr(" \t\r", line[len - 1]) != NULL) {
        len--;
    }
    eq = memchr(line, '=', len);
    if (len == 0 || line[0] == '#' || eq == NULL) {
        return 0;
    }
    i = opt_index(f, line, (size_t) (eq - line));
    if (i < 0) {
        vcha_debug("ignoring unknown parameter %.*s", (int) (eq - line), line);
        return 0;
    }
    return opt_set(f, i, eq + 1, len - (size_t) (eq - line) - 1);
}

int
vcha_fence_parse_stdin(struct vcha_fence *f, const char *text)
{
    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        int rc = parse_line(f, text, len);

        if (rc < 0) {
            return rc;
        }
        text += len;
        if (*text == '\n') {
            text++;
        }
    }
    return 0;
}

/* "power_timeout" -> "power-timeout" */
static void
long_name(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s", name);
    for (char *p = buf; *p != '\0'; p++) {
        if (*p == '_') {
            *p = '-';
        }
    }
}

int
vcha_fence_parse_args(struct vcha_fence *f, int argc, char **argv)
{
    struct option longopts[VCHA_FENCE_MAX_OPTS + 1];
    char names[VCHA_FENCE_MAX_OPTS][64], shorts[3 * VCHA_FENCE_MAX_OPTS + 2];
    size_t ns = 0;
    int c, idx = 0;

    shorts[ns++] = ':'; /* report a missing argument as ':' */
    for (size_t i = 0; i < f->n; i++) {
        const struct vcha_fence_opt *o = f->opts[i];

        long_name(o->p.name, names[i], sizeof(names[i]));
        longopts[i] =
            (struct option){names[i], o->arg ? required_argument : no_argument,
                            NULL, 1000 + (int) i};
        if (o->short_opt != 0) {
            shorts[ns++] = (char) o->short_opt;
            if (o->arg != NULL) {
                shorts[ns++] = ':';
            }
        }
    }
    shorts[ns] = '\0';
    longopts[f->n] = (struct option){NULL, 0, NULL, 0};
    optind = 0; /* GNU: forget a scan a previous call left inside "-xV" */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, longopts, &idx)) != -1) {
        int i = c >= 1000 ? c - 1000 : -1;

        for (size_t k = 0; i < 0 && k < f->n; k++) {
            i = f->opts[k]->short_opt == c ? (int) k : -1;
        }
        if (c == '?' || c == ':' || i < 0) {
            char letter[3] = {'-', (char) optopt, '\0'};

            /* in "-xv" optind has not moved on: name the letter itself */
            snprintf(f->reason, sizeof(f->reason), "%s option: %s",
                     c == ':' ? "missing argument of" : "unknown",
                     optopt > 0 && optopt < 1000 ? letter : argv[optind - 1]);
            return -EINVAL;
        }
        const char *v = f->opts[i]->arg ? optarg : "1";
        if (opt_set(f, i, v, strlen(v)) < 0) {
            return -ENOMEM;
        }
    }
    if (optind < argc) {
        snprintf(f->reason, sizeof(f->reason), "unexpected argument: %s",
                 argv[optind]);
        return -EINVAL;
    }
    return 0;
}

static const char *
value_lookup(void *ctx, const char *name)
{
    const struct vcha_fence *f = ctx;
    int i = opt_index(f, name, strlen(name));

    return i >= 0 ? f->values[i] : NULL;
}

static enum vcha_fence_action
action_of(const char *name)
{
    for (size_t i = 0; i < VCHA_FENCE_N_ACTIONS; i++) {
        if (strcasecmp(name, action_names[i]) == 0) {
            return (enum vcha_fence_action) i;
        }
    }
    return VCHA_FENCE_N_ACTIONS;
}

/* Actions that act on one plug. */
static bool
needs_plug(enum vcha_fence_action a)
{
    return a == VCHA_FENCE_OFF || a == VCHA_FENCE_ON ||
           a == VCHA_FENCE_REBOOT || a == VCHA_FENCE_STATUS;
}

int
vcha_fence_validate(struct vcha_fence *f)
{
    int rc;

    for (size_t i = 0; i < f->n; i++) {
        f->defs[i] = f->opts[i]->p;
        f->defs[i].required = false; /* plug: only for some actions */
    }
    vcha_params_free(f->params);
    rc = vcha_params_parse_with(f->defs, f->n, value_lookup, f, &f->params,
                                f->reason, sizeof(f->reason));
    if (rc < 0) {
        return rc;
    }
    f->action = action_of(vcha_fence_str(f, "action"));
    if (needs_plug(f->action) && vcha_fence_str(f, "plug") == NULL) {
        snprintf(f->reason, sizeof(f->reason),
                 "parameter 'plug' (or 'port') is required for %s",
                 vcha_fence_action_name(f->action));
        return -EINVAL;
    }
    return f->agent->validate != NULL ? f->agent->validate(f) : 0;
}

static int
param_index(const struct vcha_fence *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->opts[i]->p.name, name) == 0) {
            return (int) i;
        }
    }
    return -1;
}

const char *
vcha_fence_str(const struct vcha_fence *f, const char *name)
{
    int i = param_index(f, name);

    return i >= 0 ? vcha_param_str(f->params, (size_t) i) : NULL;
}

long long
vcha_fence_num(const struct vcha_fence *f, const char *name)
{
    int i = param_index(f, name);

    return i >= 0 ? vcha_param_num(f->params, (size_t) i) : 0;
}

/* ------------------------------------------------------------ texts */

/* "-o, --action=[action]" */
static void
getopt_mixed(const struct vcha_fence_opt *o, char *buf, size_t len)
{
    char lname[64];
    int n = 0;

    long_name(o->p.name, lname, sizeof(lname));
    if (o->short_opt != 0) {
        n = snprintf(buf, len, "-%c, ", o->short_opt);
    }
    snprintf(buf + n, len - (size_t) n, "--%s%s%s", lname, o->arg ? "=" : "",
             o->arg ? o->arg : "");
}

void
vcha_fence_usage(const struct vcha_fence *f, FILE *out)
{
    char mixed[128];

    fprintf(out,
            "Usage:\n\t%s [options]\n\t%s < key=value lines\n"
            "Options:\n",
            f->agent->name, f->agent->name);
    for (size_t i = 0; i < f->n; i++) {
        const struct vcha_fence_opt *o = f->opts[i];

        getopt_mixed(o, mixed, sizeof(mixed));
        fprintf(out, "   %-35s %s", mixed, o->p.shortdesc);
        if (o->p.dflt != NULL && o->arg != NULL) {
            fprintf(out, " (default %s)", o->p.dflt);
        }
        fprintf(out, "\n");
    }
}

/* Options and their obsolete names, sorted by name, as fence-agents do. */
struct meta_entry {
    const struct vcha_fence_opt *o;
    const char *name;
    bool deprecated;
};

static int
meta_cmp(const void *a, const void *b)
{
    return strcmp(((const struct meta_entry *) a)->name,
                  ((const struct meta_entry *) b)->name);
}

static size_t
meta_entries(const struct vcha_fence *f, struct meta_entry *e)
{
    size_t n = 0;

    for (size_t i = 0; i < f->n; i++) {
        e[n++] = (struct meta_entry){f->opts[i], f->opts[i]->p.name, false};
        if (f->opts[i]->obsoletes != NULL) {
            e[n++] =
                (struct meta_entry){f->opts[i], f->opts[i]->obsoletes, true};
        }
    }
    qsort(e, n, sizeof(*e), meta_cmp);
    return n;
}

/* fence-agents' content type: durations are in seconds. */
static const char *
fence_content_type(const struct vcha_fence_opt *o)
{
    return o->p.type == VCHA_PT_DURATION ? "second"
                                         : vcha_param_type_name(o->p.type);
}

static void
meta_parameter(xmlNodePtr params, const struct meta_entry *e)
{
    xmlNodePtr n = vcha_xml.NewChild(params, NULL, BAD_CAST "parameter", NULL);
    const struct vcha_fence_opt *o = e->o;
    xmlNodePtr c;
    char mixed[128];

    vcha_xml_prop(n, "name", e->name);
    vcha_xml_prop(n, "unique", "0");
    vcha_xml_prop(n, "required", o->p.required ? "1" : "0");
    vcha_xml_prop(n, "deprecated", e->deprecated ? "1" : NULL);
    vcha_xml_prop(n, "obsoletes", e->deprecated ? NULL : o->obsoletes);
    getopt_mixed(o, mixed, sizeof(mixed));
    c = vcha_xml.NewChild(n, NULL, BAD_CAST "getopt", NULL);
    vcha_xml_prop(c, "mixed", mixed);
    c = vcha_xml.NewChild(n, NULL, BAD_CAST "content", NULL);
    vcha_xml_prop(c, "type", fence_content_type(o));
    vcha_xml_prop(c, "default", o->p.dflt);
    for (size_t i = 0;
         o->p.type == VCHA_PT_SELECT && o->p.options && o->p.options[i]; i++) {
        xmlNodePtr opt = vcha_xml.NewChild(c, NULL, BAD_CAST "option", NULL);

        vcha_xml_prop(opt, "value", o->p.options[i]);
    }
    c = vcha_xml.NewTextChild(n, NULL, BAD_CAST "shortdesc",
                              BAD_CAST o->p.shortdesc);
    vcha_xml_prop(c, "lang", "en");
}

static xmlDocPtr
metadata_doc(const struct vcha_fence *f)
{
    struct meta_entry entries[2 * VCHA_FENCE_MAX_OPTS];
    size_t n = meta_entries(f, entries);
    xmlDocPtr doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    xmlNodePtr root, params, actions;

    if (doc == NULL) {
        return NULL;
    }
    root = vcha_xml.NewNode(NULL, BAD_CAST "resource-agent");
    vcha_xml.DocSetRootElement(doc, root);
    vcha_xml_prop(root, "name", f->agent->name);
    vcha_xml_prop(root, "shortdesc", f->agent->shortdesc);
    vcha_xml.NewTextChild(root, NULL, BAD_CAST "longdesc",
                          BAD_CAST f->agent->longdesc);
    vcha_xml.NewTextChild(root, NULL, BAD_CAST "vendor-url",
                          BAD_CAST f->agent->vendor_url);
    params = vcha_xml.NewChild(root, NULL, BAD_CAST "parameters", NULL);
    for (size_t i = 0; i < n; i++) {
        meta_parameter(params, &entries[i]);
    }
    actions = vcha_xml.NewChild(root, NULL, BAD_CAST "actions", NULL);
    for (size_t i = 0; i < VCHA_FENCE_N_ACTIONS; i++) {
        xmlNodePtr a =
            vcha_xml.NewChild(actions, NULL, BAD_CAST "action", NULL);

        vcha_xml_prop(a, "name", action_names[i]);
        vcha_xml_prop(a, "automatic", i == VCHA_FENCE_ON ? "0" : NULL);
    }
    return doc;
}

/* vcha_xml_build()'s callback. */
static xmlDocPtr
metadata_build(const void *f)
{
    return metadata_doc(f);
}

int
vcha_fence_metadata(const struct vcha_fence *f, char **xml)
{
    return vcha_xml_build(metadata_build, f, xml, NULL);
}

/* Text for roff: a backslash doubled, '-' escaped. */
static void
roff(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\') {
            fputs("\\e", out);
        } else if (*p == '-') {
            fputs("\\-", out);
        } else {
            fputc(*p, out);
        }
    }
}

static void
manpage_options(const struct vcha_fence *f, FILE *out)
{
    char mixed[128];

    fputs(".SH OPTIONS\n", out);
    for (size_t i = 0; i < f->n; i++) {
        const struct vcha_fence_opt *o = f->opts[i];

        getopt_mixed(o, mixed, sizeof(mixed));
        fputs(".TP\n\\fB", out);
        roff(out, mixed);
        fputs("\\fR\n", out);
        roff(out, o->p.shortdesc);
        if (o->p.dflt != NULL && o->arg != NULL) {
            fputs(" (default: ", out);
            roff(out, o->p.dflt);
            fputs(")", out);
        }
        fprintf(out, ".  On standard input: \\fB%s\\fR", o->p.name);
        if (o->obsoletes != NULL) {
            fprintf(out, " (or \\fB%s\\fR)", o->obsoletes);
        }
        fputs(".\n", out);
    }
}

void
vcha_fence_manpage(const struct vcha_fence *f, FILE *out)
{
    const char *name = f->agent->name;

    fputs(".TH \"", out);
    for (const char *p = name; *p != '\0'; p++) {
        fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, out);
    }
    fprintf(out, "\" 8 \"\" \"%s %s\" \"Fence agents\"\n.SH NAME\n%s \\- ",
            PACKAGE_NAME, PACKAGE_VERSION, name);
    roff(out, f->agent->shortdesc);
    fprintf(out,
            "\n.SH SYNOPSIS\n\\fB%s\\fR [\\fIOPTIONS\\fR]\n.br\n"
            "\\fB%s\\fR < \\fIkey=value lines\\fR\n.SH DESCRIPTION\n",
            name, name);
    roff(out, f->agent->longdesc);
    fputs("\n.PP\nWith no arguments the agent reads one key=value per line "
          "from standard input (as Pacemaker's fencer calls it); lines "
          "starting with # and unknown keys are ignored, and the last value "
          "of a key wins.\n",
          out);
    manpage_options(f, out);
    fputs(".SH ACTIONS\n", out);
    for (size_t i = 0; i < VCHA_FENCE_N_ACTIONS; i++) {
        fputs(".TP\n\\fB", out);
        roff(out, action_names[i]);
        fputs("\\fR\n", out);
        roff(out, action_help[i]);
        fputc('\n', out);
    }
    fputs(".SH EXIT STATUS\n.TP\n0\nSuccess; for status: the plug is on.\n"
          ".TP\n1\nFailure: the device could not be reached or the new state "
          "could not be confirmed.\n.TP\n2\nFor status: the plug is off.\n"
          ".SH SEE ALSO\n\\fBstonith_admin\\fR(8), \\fBpcs\\fR(8)\n",
          out);
}

/* ------------------------------------------------------------ running */

/* In the worker: the action; its reason goes back in f->reason. */
static int
worker_action(void *arg, char *reason, size_t len)
{
    struct vcha_fence *f = arg;

    (void) reason;
    (void) len;
    return (int) f->agent->run(f);
}

enum vcha_fence_rc
vcha_fence_run_bounded(struct vcha_fence *f, long long budget_ms)
{
    int code = VCHA_FENCE_FAILED;
    char why[sizeof(f->reason)];
    int rc;

    f->deadline_ms = vcha_now_ms() + budget_ms;
    f->reason[0] = '\0'; /* else the worker would send an old one back */
    /* the worker sends back its f->reason: the buffer it was given */
    rc = vcha_worker_run(worker_action, f, f->deadline_ms, &code, f->reason,
                         sizeof(f->reason));
    snprintf(why, sizeof(why), "%s", f->reason);
    if (rc == -ETIMEDOUT) {
        return vcha_fence_fail(f, "no answer within %lld ms (power_timeout)",
                               budget_ms);
    }
    if (rc == -ESRCH && strstr(why, "after SIGKILL") != NULL) {
        return vcha_fence_fail(
            f, "no answer within %lld ms (power_timeout); %s", budget_ms, why);
    }
    if (rc < 0) {
        return vcha_fence_fail(f, "%s", why);
    }
    return (enum vcha_fence_rc) code;
}

/* ------------------------------------------------------------ main */

static int
read_stdin(struct vcha_fence *f)
{
    char *buf = malloc(STDIN_MAX + 1);
    size_t got = 0;
    ssize_t n;
    int rc;

    if (buf == NULL) {
        return -ENOMEM;
    }
    while (got < STDIN_MAX &&
           ((n = read(STDIN_FILENO, buf + got, STDIN_MAX - got)) > 0 ||
            (n < 0 && errno == EINTR))) {
        got += n > 0 ? (size_t) n : 0;
    }
    buf[got] = '\0';
    rc = vcha_fence_parse_stdin(f, buf);
    free(buf);
    return rc;
}

static void
log_setup(const struct vcha_fence *f)
{
    const char *file = vcha_fence_str(f, "debug_file");

    if (vcha_fence_num(f, "verbose")) {
        setenv("HA_debug", "1", 1);
    }
    if (file != NULL) {
        setenv("HA_LOGFILE", file, 1);
    }
    /* never syslog: a stalled syslog must not block a fencing operation */
    unsetenv("HA_LOGFACILITY");
    vcha_log_init(f->agent->name, vcha_fence_str(f, "plug"));
    if (!vcha_fence_num(f, "verbose")) {
        vcha_log_stderr_priority(LOG_WARNING);
    }
}

/* Phases of the action, for its time budget: reboot is off plus on. */
static long long
budget_ms(const struct vcha_fence *f)
{
    long long phase =
        vcha_fence_num(f, "power_timeout") + vcha_fence_num(f, "power_wait");

    return f->action == VCHA_FENCE_REBOOT ? 2 * phase : phase;
}

static int
print_text_action(struct vcha_fence *f)
{
    char *xml = NULL;

    if (f->action == VCHA_FENCE_MANPAGE) {
        vcha_fence_manpage(f, stdout);
        return 0;
    }
    if (vcha_fence_metadata(f, &xml) < 0) {
        fprintf(stderr, "%s: cannot build meta-data (libxml2)\n",
                f->agent->name);
        return VCHA_FENCE_FAILED;
    }
    fputs(xml, stdout);
    free(xml);
    return 0;
}

static int
dispatch(struct vcha_fence *f)
{
    long long delay = vcha_fence_num(f, "delay");
    enum vcha_fence_rc rc;

    if (f->action == VCHA_FENCE_METADATA || f->action == VCHA_FENCE_MANPAGE) {
        return print_text_action(f);
    }
    if (f->action == VCHA_FENCE_VALIDATE_ALL) {
        return 0;
    }
    if (delay > 0 &&
        (f->action == VCHA_FENCE_OFF || f->action == VCHA_FENCE_REBOOT)) {
        vcha_info("delay: waiting %lld ms before %s", delay,
                  vcha_fence_action_name(f->action));
        vcha_sleep_ms(delay);
    }
    rc = vcha_fence_run_bounded(f, budget_ms(f));
    if (rc == VCHA_FENCE_FAILED) {
        vcha_err("%s failed: %s", vcha_fence_action_name(f->action),
                 f->reason[0] ? f->reason : "no reason given");
    } else {
        vcha_info("%s: %s", vcha_fence_action_name(f->action),
                  rc == VCHA_FENCE_IS_OFF ? "off" : "success");
    }
    return (int) rc;
}

/* A flag that is set: "1" from getopt, or a true boolean on stdin. */
static bool
flag_on(const char *value)
{
    bool on = false;

    return value != NULL && vcha_boolean_parse(value, &on) == 0 && on;
}

/* Options that are answered before anything is validated. */
static bool
early_exit(struct vcha_fence *f, int *code)
{
    int help = opt_index(f, "help", 4), version = opt_index(f, "version", 7);
    const char *action = f->values[opt_index(f, "action", 6)];
    enum vcha_fence_action a = action ? action_of(action) : VCHA_FENCE_REBOOT;

    if (flag_on(f->values[help])) {
        vcha_fence_usage(f, stdout);
        *code = 0;
    } else if (flag_on(f->values[version])) {
        printf("%s %s\n", f->agent->name, PACKAGE_VERSION);
        *code = 0;
    } else if (a == VCHA_FENCE_METADATA || a == VCHA_FENCE_MANPAGE) {
        f->action = a;
        *code = print_text_action(f);
    } else {
        return false;
    }
    return true;
}

int
vcha_fence_main(const struct vcha_fence_agent *agent, int argc, char **argv)
{
    struct vcha_fence f;
    int code = VCHA_FENCE_FAILED, rc;

    if (vcha_fence_init(&f, agent) < 0) {
        return VCHA_FENCE_FAILED;
    }
    rc = argc > 1 ? vcha_fence_parse_args(&f, argc, argv) : read_stdin(&f);
    if (rc == 0 && early_exit(&f, &code)) {
        goto done;
    }
    if (rc == 0) {
        rc = vcha_fence_validate(&f);
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", agent->name,
                f.reason[0] ? f.reason : strerror(-rc));
        if (argc > 1) {
            fprintf(stderr, "Try '%s --help'.\n", agent->name);
        }
        goto done;
    }
    log_setup(&f);
    code = dispatch(&f);
    vcha_log_fini();

done:
    vcha_fence_clear(&f);
    return code;
}
