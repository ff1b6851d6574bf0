/* vcha - the OCF action dispatcher. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/log.h>
#include <vcha/metadata.h>

long long
vcha_deadline_from_timeout(long long timeout_ms)
{
    long long margin = timeout_ms / 10;

    if (margin < 500) {
        margin = 500;
    } else if (margin > 5000) {
        margin = 5000;
    }
    if (timeout_ms - margin < timeout_ms / 2) {
        margin = timeout_ms / 2; /* short timeouts: keep half of it */
    }
    return vcha_now_ms() + timeout_ms - margin;
}

long long
vcha_agent_remaining_ms(const struct vcha_agent *a)
{
    long long left = a->deadline_ms - vcha_now_ms();

    return left > 0 ? left : 1;
}

void
vcha_agent_node_name(const struct vcha_agent *a, char *buf, size_t len)
{
    static const char *const argv[] = {"crm_node", "-n", NULL};
    struct vcha_exec_result res = {0};
    long long left = vcha_agent_remaining_ms(a);
    struct utsname un;

    if (a->clone.on_node != NULL && a->clone.on_node[0] != '\0') {
        snprintf(buf, len, "%s", a->clone.on_node);
        return;
    }
    /* within the operation's time: 5 s at most, half of what is left */
    left = left / 2 < 5000 ? left / 2 : 5000;
    if (left > 0 && vcha_exec(argv, NULL, 0, left, &res) == 0 &&
        vcha_exec_ok(&res) && res.out[0] != '\0') {
        res.out[strcspn(res.out, "\n")] = '\0';
        snprintf(buf, len, "%s", res.out);
        vcha_exec_result_clear(&res);
        return;
    }
    vcha_exec_result_clear(&res);
    snprintf(buf, len, "%s", uname(&un) == 0 ? un.nodename : "");
}

const char *
vcha_agent_str(const struct vcha_agent *a, size_t i)
{
    return vcha_param_str(a->params, i);
}

long long
vcha_agent_num(const struct vcha_agent *a, size_t i)
{
    return vcha_param_num(a->params, i);
}

enum vcha_result
vcha_agent_fail(struct vcha_agent *a, enum vcha_result r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
    return r;
}

/* Make sure fds 0-2 are open so that pipes never land on them. */
static void
stdio_ensure(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);

            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    }
}

static long long
env_number(const char *name, long long dflt)
{
    const char *v = getenv(name);
    long long n;

    if (v == NULL || *v == '\0') {
        return dflt;
    }
    if (vcha_integer_parse(v, &n) < 0 || n < 0) {
        vcha_warn("ignoring %s='%s': not a non-negative number", name, v);
        return dflt;
    }
    return n;
}

/* The rows the runtime adds after an agent's own, and answers itself. */
static const struct vcha_action_def runtime_actions[] = {
    {"validate-all", NULL, 10, 0, -1, NULL},
    {"meta-data", NULL, 5, 0, -1, NULL},
};

#define N_RUNTIME_ACTIONS (sizeof(runtime_actions) / sizeof(runtime_actions[0]))

static bool
runtime_action(const char *name)
{
    for (size_t i = 0; i < N_RUNTIME_ACTIONS; i++) {
        if (strcmp(runtime_actions[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Most actions an agent may have, the runtime's rows included. */
#define MAX_ACTIONS 32

/*
 * What the meta-data and usage describe: @p def, with its actions and the
 * runtime's copied into @p rows (MAX_ACTIONS of them).
 */
static void
agent_metadata(const struct vcha_agent_def *def, struct vcha_metadata *md,
               struct vcha_action_def *rows)
{
    size_t n = 0;

    for (; def->actions != NULL && def->actions[n].name != NULL; n++) {
        /* a table this long, or one that lists the runtime's own rows, is
         * a bug in the agent */
        if (n + N_RUNTIME_ACTIONS >= MAX_ACTIONS ||
            runtime_action(def->actions[n].name)) {
            abort();
        }
        rows[n] = def->actions[n];
    }
    for (size_t i = 0; i < N_RUNTIME_ACTIONS; i++) {
        rows[n++] = runtime_actions[i];
    }
    *md = (struct vcha_metadata){
        .name = def->name,
        .version = def->version,
        .shortdesc = def->shortdesc,
        .longdesc = def->longdesc,
        .params = def->params,
        .n_params = def->n_params,
        .actions = rows,
        .n_actions = n,
    };
}

int
vcha_agent_promotion(struct vcha_agent *a, int score)
{
    long long timeout_ms = vcha_agent_remaining_ms(a);
    int rc = score == VCHA_PROMOTION_NONE
                 ? vcha_promotion_delete(timeout_ms)
                 : vcha_promotion_set(score, timeout_ms);

    if (rc < 0) {
        vcha_warn("cannot %s the promotion score: %s",
                  score == VCHA_PROMOTION_NONE ? "remove" : "set",
                  strerror(-rc));
    } else if (score == VCHA_PROMOTION_NONE) {
        vcha_debug("promotion score removed");
    } else {
        vcha_debug("promotion score %d", score);
    }
    return rc;
}

/*
 * The row of action @p name: of those with that name, the one for @p role
 * (a monitor per role), else the first.
 */
static const struct vcha_action_def *
action_find(const struct vcha_metadata *md, const char *name,
            enum vcha_role role)
{
    const struct vcha_action_def *first = NULL;

    for (size_t i = 0; i < md->n_actions; i++) {
        const struct vcha_action_def *row = &md->actions[i];
        enum vcha_role r = VCHA_ROLE_NONE;

        if (strcmp(row->name, name) != 0) {
            continue;
        }
        if (role != VCHA_ROLE_NONE && vcha_role_parse(row->role, &r) == 0 &&
            r == role) {
            return row;
        }
        first = first ? first : row;
    }
    return first;
}

static int
print_metadata(const struct vcha_metadata *md)
{
    char *xml = NULL;

    int rc = vcha_metadata_xml(md, &xml, NULL);

    if (rc < 0) {
        fprintf(stderr, "ocf-exit-reason:cannot build meta-data: %s\n",
                rc == -ENOENT ? "libxml2 cannot be loaded" : strerror(-rc));
        return vcha_result_to_ocf(VCHA_ERR_GENERIC);
    }
    fputs(xml, stdout);
    free(xml);
    return fflush(stdout) == 0 ? 0 : vcha_result_to_ocf(VCHA_ERR_GENERIC);
}

/*
 * A monitor with no interval, or interval 0, is a probe: Pacemaker passes
 * none to a probe, and resource-agents' ocf_is_probe reads none as 0.
 */
static bool
is_probe(const char *action)
{
    return strcmp(action, "monitor") == 0 &&
           env_number("OCF_RESKEY_CRM_meta_interval", 0) == 0;
}

/* Clone meta attributes: a malformed one is Pacemaker's, not the admin's. */
static void
setup_clone(struct vcha_agent *a)
{
    char why[256];

    if (vcha_clone_parse(&a->clone, why, sizeof(why)) < 0) {
        vcha_warn("ignoring %s", why);
    }
}

static void
setup_invocation(struct vcha_agent *a, const char *action)
{
    a->instance = getenv("OCF_RESOURCE_INSTANCE");
    a->probe = is_probe(action);
    a->check_level = (int) env_number("OCF_CHECK_LEVEL", 0);
    a->timeout_ms = env_number("OCF_RESKEY_CRM_meta_timeout",
                               (long long) a->action->timeout_s * 1000);
    a->deadline_ms = vcha_deadline_from_timeout(a->timeout_ms);
}

/* Parameters and the level-0 checks. */
static enum vcha_result
load_params(struct vcha_agent *a)
{
    int rc = vcha_params_parse(a->def->params, a->def->n_params, NULL,
                               &a->params, a->reason, sizeof(a->reason));

    if (rc == -ENOMEM) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    } else if (rc < 0) {
        return VCHA_ERR_CONFIGURED;
    }
    return a->def->validate ? a->def->validate(a, 0) : VCHA_OK;
}

/* The environment's OCF_RESKEY_<name>, unless its definition refuses it. */
static const char *
lenient_lookup(void *ctx, const char *name)
{
    const struct vcha_agent_def *def = ctx;
    char var[256], why[256];
    const char *v;

    snprintf(var, sizeof(var), "OCF_RESKEY_%s", name);
    v = getenv(var);
    for (size_t i = 0; v != NULL && *v != '\0' && i < def->n_params; i++) {
        const struct vcha_param_def *d = &def->params[i];

        if (strcmp(d->name, name) == 0 &&
            vcha_param_value_check(d, v, NULL, why, sizeof(why)) < 0) {
            return NULL; /* as if not given: its default */
        }
    }
    return v;
}

/*
 * The parameters with each bad value replaced by its default, for an
 * agent that acts although they cannot be used; a->params stays NULL
 * when even they cannot be parsed (a required one missing).
 */
static void
load_params_lenient(struct vcha_agent *a)
{
    char why[256];

    if (a->params == NULL) {
        vcha_params_parse_with(a->def->params, a->def->n_params, lenient_lookup,
                               (void *) a->def, &a->params, why, sizeof(why));
    }
}

/*
 * A resource whose configuration is unusable cannot be running here: a
 * probe says so, and a stop succeeds rather than getting the node fenced.
 * An agent for which that is not so answers itself (config_error).
 */
static enum vcha_result
config_error_outcome(struct vcha_agent *a, enum vcha_result r)
{
    bool stop = strcmp(a->action->name, "stop") == 0;

    if ((a->probe || stop) && a->def->config_error != NULL) {
        load_params_lenient(a);
        return a->def->config_error(a, r);
    }
    if (a->probe || stop) {
        vcha_warn("%s: %s; the resource cannot be active here", a->action->name,
                  a->reason);
        a->reason[0] = '\0';
        return a->probe ? VCHA_NOT_RUNNING : VCHA_OK;
    }
    return r;
}

static enum vcha_result
run_action(struct vcha_agent *a)
{
    enum vcha_result r = load_params(a);

    if (r != VCHA_OK) {
        return config_error_outcome(a, r);
    }
    if (strcmp(a->action->name, "validate-all") == 0) {
        if (a->check_level >= 10 && a->def->validate != NULL) {
            r = a->def->validate(a, 10);
        }
        return r;
    }
    if (a->action->fn == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_UNIMPLEMENTED,
                               "action '%s' has no handler", a->action->name);
    }
    if (strcmp(a->action->name, "notify") == 0) {
        const char *type = getenv("OCF_RESKEY_CRM_meta_notify_type");
        int rc;

        /* a notify with no notification at all (ocf-tester sends one):
         * nothing to act on, and a notify must not fail */
        if ((type == NULL || *type == '\0') &&
            getenv("OCF_RESKEY_CRM_meta_notify_key_type") == NULL) {
            vcha_warn("notify without a notification: nothing done");
            return VCHA_OK;
        }
        rc = vcha_notify_parse(&a->notify, a->reason, sizeof(a->reason));

        if (rc == -ENOMEM) {
            return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
        } else if (rc < 0) {
            return VCHA_ERR_GENERIC;
        }
    }
    return a->action->fn(a);
}

static int
finish(struct vcha_agent *a, enum vcha_result r)
{
    int code = vcha_result_to_ocf(r);

    if (a->reason[0] != '\0') {
        if (r != VCHA_OK && r != VCHA_NOT_RUNNING) {
            vcha_err("%s failed (%s): %s", a->action->name, vcha_result_name(r),
                     a->reason);
        } else {
            vcha_info("%s: %s", a->action->name, a->reason);
        }
        fprintf(stderr, "ocf-exit-reason:%s\n", a->reason);
    }
    vcha_debug("%s returned %s (%d)", a->action->name, vcha_result_name(r),
               code);
    return code;
}

int
vcha_agent_main(const struct vcha_agent_def *def, int argc, char **argv)
{
    struct vcha_agent a = {.def = def};
    struct vcha_action_def rows[MAX_ACTIONS];
    struct vcha_metadata md;
    const char *action = argc > 1 ? argv[1] : NULL;
    int code;

    stdio_ensure();
    agent_metadata(def, &md, rows);
    if (action == NULL) {
        vcha_usage_print(&md, stderr);
        return vcha_result_to_ocf(VCHA_ERR_ARGS);
    }
    if (strcmp(action, "meta-data") == 0) {
        return print_metadata(&md);
    }
    if (strcmp(action, "usage") == 0 || strcmp(action, "help") == 0 ||
        strcmp(action, "--help") == 0) {
        vcha_usage_print(&md, stdout);
        return 0;
    }
    vcha_log_init(def->name, getenv("OCF_RESOURCE_INSTANCE"));
    setup_clone(&a);
    a.action = action_find(&md, action, a.clone.role);
    if (a.action == NULL) {
        fprintf(stderr, "ocf-exit-reason:action '%s' is not supported\n",
                action);
        vcha_log_fini();
        return vcha_result_to_ocf(VCHA_ERR_UNIMPLEMENTED);
    }
    setup_invocation(&a, action);
    code = finish(&a, run_action(&a));
    vcha_notify_free(a.notify);
    vcha_params_free(a.params);
    vcha_log_fini();
    return code;
}
