/*
 * statetest: a promotable clone's agent for the cluster lab, made of
 * nothing but the runtime's clone support.  Like ocf:pacemaker:Stateful it
 * keeps its role in a file and sets promotion scores (5 unpromoted, 10
 * promoted); besides, it records what Pacemaker asked of it, in DIR:
 *
 *   role           Unpromoted or Promoted; absent: stopped
 *   calls          a line per action: time, node, action, interval, role
 *                  asked for (as Pacemaker names it), OCF exit code
 *   notify         a line per notification: type, operation and every
 *                  list, words joined by commas ("-": empty)
 *   notify-env     the OCF_RESKEY_CRM_meta_* variables of each
 *                  notification, as Pacemaker set them
 *   clone          the clone meta attributes as the last start read them
 *   fail-promoted  if it exists, the next promoted monitor reports a
 *                  failure (OCF_FAILED_PROMOTED) and removes it
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/log.h>

#define SCORE_UNPROMOTED 5
#define SCORE_PROMOTED 10

enum { P_DIR };

static const struct vcha_param_def params[] = {
    [P_DIR] = {.name = "dir",
               .type = VCHA_PT_STRING,
               .dflt = "/run/statetest",
               .check = vcha_check_abspath,
               .shortdesc = "State directory",
               .longdesc = "Where the role and the records are kept."},
};

/* DIR/NAME in @p buf. */
static const char *
path(struct vcha_agent *a, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", vcha_agent_str(a, P_DIR), name);
    return buf;
}

static const char *
node_name(struct vcha_agent *a)
{
    return a->clone.on_node ? a->clone.on_node : "-";
}

/* Append a line to DIR/NAME. */
static void
record(struct vcha_agent *a, const char *name, const char *line)
{
    char p[512];
    FILE *f;

    mkdir(vcha_agent_str(a, P_DIR), 0755);
    f = fopen(path(a, name, p, sizeof(p)), "a");
    if (f == NULL) {
        vcha_warn("cannot record in %s: %s", p, strerror(errno));
        return;
    }
    fprintf(f, "%s\n", line);
    fclose(f);
}

/* Record this call and its outcome; return @p r. */
static enum vcha_result
done(struct vcha_agent *a, enum vcha_result r)
{
    const char *interval = getenv("OCF_RESKEY_CRM_meta_interval");
    const char *role = getenv("OCF_RESKEY_CRM_meta_role"); /* as set */
    long long now = vcha_realtime_ms();
    char line[256];

    snprintf(line, sizeof(line), "%lld.%03lld %s %s interval=%s role=%s rc=%d",
             now / 1000, now % 1000, node_name(a), a->action->name,
             interval ? interval : "0", role && *role ? role : "-",
             vcha_result_to_ocf(r));
    record(a, "calls", line);
    return r;
}

/* The role in DIR/role: NONE when stopped, -EIO when unreadable. */
static int
role_read(struct vcha_agent *a, enum vcha_role *role)
{
    char p[512], *text = NULL;
    int rc = vcha_file_read(path(a, "role", p, sizeof(p)), &text, NULL, 64);

    *role = VCHA_ROLE_NONE;
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc == 0) {
        text[strcspn(text, "\n")] = '\0';
        rc = vcha_role_parse(text, role) == 0 ? 0 : -EIO;
    }
    free(text);
    return rc;
}

static enum vcha_result
role_write(struct vcha_agent *a, enum vcha_role role, int score)
{
    char p[512], text[32];
    int rc;

    mkdir(vcha_agent_str(a, P_DIR), 0755);
    snprintf(text, sizeof(text), "%s\n", vcha_role_name(role));
    rc = vcha_file_write_atomic(path(a, "role", p, sizeof(p)), text,
                                strlen(text), 0644);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s: %s", p,
                               strerror(-rc));
    }
    rc = vcha_agent_promotion(a, score);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot set the promotion score: %s",
                               strerror(-rc));
    }
    return VCHA_OK;
}

static void
record_clone(struct vcha_agent *a)
{
    const struct vcha_clone *c = &a->clone;
    char p[512], text[256];

    snprintf(text, sizeof(text),
             "instance=%d clone_max=%d clone_node_max=%d promoted_max=%d "
             "promoted_node_max=%d notify=%d globally_unique=%d\n",
             c->instance, c->clone_max, c->clone_node_max, c->promoted_max,
             c->promoted_node_max, c->notify, c->globally_unique);
    vcha_file_write_atomic(path(a, "clone", p, sizeof(p)), text, strlen(text),
                           0644);
}

static enum vcha_result
do_start(struct vcha_agent *a)
{
    record_clone(a);
    return done(a, role_write(a, VCHA_ROLE_UNPROMOTED, SCORE_UNPROMOTED));
}

static enum vcha_result
do_stop(struct vcha_agent *a)
{
    char p[512];
    int rc = vcha_agent_promotion(a, VCHA_PROMOTION_NONE);

    if (rc < 0 && rc != -ENODATA) {
        return done(a, vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                       "cannot remove the promotion score: %s",
                                       strerror(-rc)));
    }
    if (unlink(path(a, "role", p, sizeof(p))) < 0 && errno != ENOENT) {
        return done(a,
                    vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot remove %s: %s",
                                    p, strerror(errno)));
    }
    return done(a, VCHA_OK);
}

/* Change the role of a running instance. */
static enum vcha_result
change_role(struct vcha_agent *a, enum vcha_role to, int score)
{
    enum vcha_role role;

    if (role_read(a, &role) < 0) {
        return done(a, vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                       "the role file is unreadable"));
    }
    if (role == VCHA_ROLE_NONE) {
        return done(a, vcha_agent_fail(a, VCHA_NOT_RUNNING, "not running"));
    }
    return done(a, role_write(a, to, score));
}

static enum vcha_result
do_promote(struct vcha_agent *a)
{
    return change_role(a, VCHA_ROLE_PROMOTED, SCORE_PROMOTED);
}

static enum vcha_result
do_demote(struct vcha_agent *a)
{
    return change_role(a, VCHA_ROLE_UNPROMOTED, SCORE_UNPROMOTED);
}

/* The promoted instance's health: failed once when told to. */
static enum vcha_result
promoted_health(struct vcha_agent *a)
{
    char p[512];

    if (unlink(path(a, "fail-promoted", p, sizeof(p))) == 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "told to fail (%s)", p);
    }
    return VCHA_OK;
}

static enum vcha_result
do_monitor(struct vcha_agent *a)
{
    enum vcha_role role;
    enum vcha_result r;

    if (role_read(a, &role) < 0) {
        return done(a, vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                       "the role file is unreadable"));
    }
    if (role == VCHA_ROLE_NONE) {
        return done(a, VCHA_NOT_RUNNING);
    }
    /* a probe finds an instance left running: its score comes back too */
    if (a->probe) {
        vcha_agent_promotion(a, role == VCHA_ROLE_PROMOTED ? SCORE_PROMOTED
                                                           : SCORE_UNPROMOTED);
    }
    if (role != VCHA_ROLE_PROMOTED) {
        return done(a, VCHA_OK);
    }
    r = a->probe ? VCHA_OK : promoted_health(a);
    return done(a, vcha_result_promoted(r));
}

/* "a,b,c", or "-" for an empty list, in @p buf. */
static void
words_join(const struct vcha_words *w, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < w->n && used < len; i++) {
        used += (size_t) snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                  w->v[i]);
    }
    if (w->n == 0) {
        snprintf(buf, len, "-");
    }
}

static void
record_notify_env(struct vcha_agent *a, const char *head)
{
    extern char **environ;
    char p[512];
    FILE *f = fopen(path(a, "notify-env", p, sizeof(p)), "a");

    if (f == NULL) {
        return;
    }
    fprintf(f, "%s\n", head);
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "OCF_RESKEY_CRM_meta_", 20) == 0) {
            fprintf(f, "  %s\n", *e);
        }
    }
    fclose(f);
}

static enum vcha_result
do_notify(struct vcha_agent *a)
{
    const struct vcha_notify *n = a->notify;
    long long now = vcha_realtime_ms();
    char line[4096], words[512];
    size_t used;

    used = (size_t) snprintf(line, sizeof(line), "%lld.%03lld %s type=%s op=%s",
                             now / 1000, now % 1000, node_name(a),
                             vcha_notify_type_name(n->type),
                             vcha_notify_list_name(n->operation));
    for (int l = 0; l < VCHA_NOTIFY_N_LISTS && used < sizeof(line); l++) {
        const struct vcha_notify_set *s = &n->lists[l];
        const char *name = vcha_notify_list_name((enum vcha_notify_list) l);

        words_join(&s->resources, words, sizeof(words));
        used += (size_t) snprintf(line + used, sizeof(line) - used,
                                  " %s_resource=%s", name, words);
        words_join(&s->unames, words, sizeof(words));
        if (used < sizeof(line)) {
            used += (size_t) snprintf(line + used, sizeof(line) - used,
                                      " %s_uname=%s", name, words);
        }
    }
    record(a, "notify", line);
    record_notify_env(a, line);
    return done(a, VCHA_OK);
}

static const struct vcha_action_def actions[] = {
    {.name = "start", .fn = do_start, .timeout_s = 20, .depth = -1},
    {.name = "stop", .fn = do_stop, .timeout_s = 20, .depth = -1},
    {.name = "monitor",
     .fn = do_monitor,
     .timeout_s = 20,
     .interval_s = 5,
     .depth = 0,
     .role = "Promoted"},
    {.name = "monitor",
     .fn = do_monitor,
     .timeout_s = 20,
     .interval_s = 7,
     .depth = 0,
     .role = "Unpromoted"},
    {.name = "promote", .fn = do_promote, .timeout_s = 10, .depth = -1},
    {.name = "demote", .fn = do_demote, .timeout_s = 10, .depth = -1},
    {.name = "notify", .fn = do_notify, .timeout_s = 5, .depth = -1},
    {NULL},
};

static const struct vcha_agent_def statetest = {
    .name = "statetest",
    .version = "1.0",
    .shortdesc = "A promotable clone that records what it is asked",
    .longdesc = "Keeps its role in a file, sets promotion scores, and "
                "records every action and notification it gets; for the "
                "cluster lab's promotable clone scenario.",
    .params = params,
    .n_params = sizeof(params) / sizeof(params[0]),
    .actions = actions,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&statetest, argc, argv);
}
