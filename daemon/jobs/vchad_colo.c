/*
 * vchad - the colo job: a resident that runs the checkpoint controller of
 * the local QEMU of a COLO pair (seed 003; vcha/coloctl.h, vcha/colojob.h).
 *
 * It holds a QMP connection of its own to QEMU (one of QEMU's -qmp
 * sockets: a QMP socket serves one client), reads each checkpoint from
 * QEMU's log as it is written (the trace event colo_vm_state_change,
 * which it enables at each connection; vcha/colotrace.h), feeds the
 * controller, and sets x-checkpoint-delay to the mode the controller asks
 * for.  Every second it steps the controller's outer layer, asks QEMU its
 * COLO role and run state, and reports.  One thread: every QMP command has
 * a deadline (qmp_timeout), so a QEMU that hangs delays a report by that
 * at most and turns it into an error report; the connection is then
 * dropped and opened again at the next report.
 *
 * The delay is set while QEMU is no secondary: on a primary in COLO it
 * takes effect at once (QEMU checkpoints when it changes), on a QEMU not
 * yet replicating it is the delay COLO begins with.  When QEMU becomes a
 * primary the controller begins afresh.
 *
 * Figures: role (primary, secondary, none: query-colo-status), status
 * (query-status), policy, mode (what the controller asks for), delay_ms
 * (QEMU's x-checkpoint-delay as last read or set, 0 before either; one
 * set by anyone else is set back at the next report), q (the hybrid's
 * state), rho, cps, downtime_pct, checkpoints, switches, last_checkpoint
 * (when the last one ended, seconds since the epoch, 0 before any),
 * refused (checkpoints the controller refused: out of order), and error
 * while QEMU or its log cannot be read.
 *
 * Checkpoints, last_checkpoint, refused and the role are those of the
 * QEMU behind the QMP socket: a connection to another process than the
 * one before (its PID and start time, the socket's peer) is a new QEMU,
 * and they start again from none, with a new controller and the log read
 * on from its end as it is then (a new QEMU logs no checkpoint before
 * the job turns the trace event on; what an older one logged is no
 * checkpoint of this one).  A connection lost and found again to the
 * same QEMU keeps them.  A read error on the log keeps the line read in
 * part and the checkpoint begun: reading goes on from where it was.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/coloctl.h>
#include <vcha/colojob.h>
#include <vcha/colotrace.h>
#include <vcha/file.h>
#include <vcha/jobdef.h>
#include <vcha/param.h>
#include <vcha/proc.h>
#include <vcha/qmp.h>

#include "../vchad_job.h"

/* Reports, and the controller's ticks, this often. */
#define REPORT_MS 1000

/* The log is read this often between reports. */
#define LOG_POLL_MS 100

/* The longest log line kept; a longer one is dropped whole. */
#define LINE_MAX_LEN 4096

struct colo {
    const struct vchad_job *job;
    struct vcha_params *p;
    struct vcha_coloctl_params cp;
    struct vcha_coloctl *ctl;
    long long qmp_timeout;
    struct vcha_qmp *qmp;
    /* the QEMU behind the socket: its PID and start time (0: unknown) */
    bool connected; /* ever */
    pid_t qemu_pid;
    unsigned long long qemu_start;
    /* QEMU's log, read from where it was at the first open */
    int log_fd;
    dev_t log_dev;
    ino_t log_ino;
    off_t log_off;
    bool log_at_end; /* the next file opened is read from its end */
    char line[LINE_MAX_LEN];
    size_t used;
    bool skipping; /* in a line too long to keep, or begun unread */
    struct vcha_colo_tracer tracer;
    long long fed;          /* the last checkpoint's end fed, monotonic ms */
    long long last_wall_ms; /* the same, wall clock */
    unsigned long long refused;
    /* what QEMU said and was told */
    char role[16];
    char status[32];
    long long delay_set;   /* -1: not set by this process */
    long long delay_tried; /* the last one asked for, set or not */
    bool traced;           /* the trace event is on in this QEMU */
    char qmp_error[256], log_error[256], trace_error[256], role_error[256];
};

static int
validate(const struct vcha_kv *p, char *why, size_t whylen)
{
    struct vcha_params *params = NULL;
    int rc = vcha_job_params_parse(&vcha_colo_job, p, &params, why, whylen);

    vcha_params_free(params);
    return rc;
}

static const char *
param(const struct colo *c, enum vcha_colo_job_param i)
{
    return vcha_param_str(c->p, i);
}

static int qemu_check(struct colo *c);

/* ------------------------------------------------------------- QMP */

static void
qmp_drop(struct colo *c, const char *what, int rc, const char *err)
{
    snprintf(c->qmp_error, sizeof(c->qmp_error), "QMP %s at %s: %s", what,
             param(c, VCHA_COLOJ_QMP), err != NULL ? err : strerror(-rc));
    vcha_qmp_close(c->qmp);
    c->qmp = NULL;
    c->status[0] = '\0'; /* the role is kept: see qmp_poll() */
}

/* Run @p command (@p args taken over) within the QMP timeout; its answer
 * in *ret when @p ret is not NULL.  A failure drops the connection but
 * for an error answer, which leaves it usable. */
static int
qmp_run(struct colo *c, const char *command, json_object *args,
        json_object **ret)
{
    char *err = NULL;
    int rc = vcha_qmp_exec(c->qmp, command, args,
                           vcha_now_ms() + c->qmp_timeout, ret, &err);

    if (rc == -EREMOTEIO) {
        snprintf(c->qmp_error, sizeof(c->qmp_error), "QMP %s: %s", command,
                 err != NULL ? err : "error");
    } else if (rc < 0) {
        qmp_drop(c, command, rc, NULL);
    }
    free(err);
    return rc;
}

/* Connect, as far as not connected, and turn the checkpoint's trace
 * event on until QEMU takes it (QEMU forgets it when it restarts; without
 * it no checkpoint is seen: an error in every report until then). */
static int
qmp_connect(struct colo *c)
{
    json_object *args;
    int rc;

    if (c->qmp == NULL) {
        rc = vcha_qmp_open(param(c, VCHA_COLOJ_QMP),
                           vcha_now_ms() + c->qmp_timeout, &c->qmp);
        if (rc < 0) {
            c->qmp = NULL;
            qmp_drop(c, "connect", rc, NULL);
            return rc;
        }
        rc = qemu_check(c);
        if (rc < 0) {
            qmp_drop(c, "connect", rc, NULL);
            return rc;
        }
        c->delay_set = c->delay_tried = -1; /* a new QEMU knows nothing */
        c->traced = false;
    }
    if (c->traced) {
        return 0;
    }
    args = json_object_new_object();
    json_object_object_add(args, "name",
                           json_object_new_string(VCHA_COLO_TRACE_EVENT));
    json_object_object_add(args, "enable", json_object_new_boolean(1));
    rc = qmp_run(c, "trace-event-set-state", args, NULL);
    c->traced = rc == 0;
    snprintf(c->trace_error, sizeof(c->trace_error), "%s",
             rc == -EREMOTEIO ? c->qmp_error : "");
    return rc == -EREMOTEIO ? 0 : rc;
}

/* The string member @p key of @p obj into @p out ("" when none). */
static void
member(json_object *obj, const char *key, char *out, size_t len)
{
    json_object *v = NULL;

    out[0] = '\0';
    if (obj != NULL && json_object_object_get_ex(obj, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        snprintf(out, len, "%s", json_object_get_string(v));
    }
}

/* QEMU's COLO role and run state.  A QEMU seen to become a primary gets
 * a new controller; one whose connection was lost and found again keeps
 * its own (a command that outlived the QMP timeout is no new primary). */
static void
qmp_poll(struct colo *c, long long now)
{
    json_object *ret = NULL;
    char role[sizeof(c->role)];
    int rc;

    if (qmp_connect(c) < 0) {
        return;
    }
    rc = qmp_run(c, "query-colo-status", NULL, &ret);
    /* without its role the job applies nothing: an error until known */
    snprintf(c->role_error, sizeof(c->role_error), "%s",
             rc == -EREMOTEIO ? c->qmp_error : "");
    if (rc == 0) {
        member(ret, "mode", role, sizeof(role));
        if (strcmp(role, "primary") == 0 && c->role[0] != '\0' &&
            strcmp(c->role, "primary") != 0) {
            struct vcha_coloctl *fresh = vcha_coloctl_new(&c->cp, now);

            if (fresh != NULL) {
                vcha_coloctl_free(c->ctl);
                c->ctl = fresh;
                c->fed = now;
            }
        }
        snprintf(c->role, sizeof(c->role), "%s", role);
    }
    json_object_put(ret);
    ret = NULL;
    if (c->qmp != NULL && qmp_run(c, "query-status", NULL, &ret) == 0) {
        member(ret, "status", c->status, sizeof(c->status));
        c->qmp_error[0] = '\0';
    }
    json_object_put(ret);
    ret = NULL;
    /* the delay as QEMU has it: one set by anyone else is set back */
    if (c->qmp != NULL &&
        qmp_run(c, "query-migrate-parameters", NULL, &ret) == 0) {
        json_object *v = NULL;

        if (json_object_object_get_ex(ret, "x-checkpoint-delay", &v) &&
            json_object_is_type(v, json_type_int)) {
            c->delay_set = json_object_get_int64(v);
        }
    }
    json_object_put(ret);
}

/* Set x-checkpoint-delay to the controller's mode on a QEMU that is no
 * secondary: at once when the mode changed, again at each report (@p
 * retry) while QEMU refuses it. */
static void
delay_apply(struct colo *c, bool retry)
{
    long long want = vcha_coloctl_delay_ms(c->ctl);
    json_object *args;

    if (c->qmp == NULL || c->role[0] == '\0' ||
        strcmp(c->role, "secondary") == 0 || want == c->delay_set ||
        (want == c->delay_tried && !retry)) {
        return;
    }
    c->delay_tried = want;
    args = json_object_new_object();
    json_object_object_add(args, "x-checkpoint-delay",
                           json_object_new_int64(want));
    if (qmp_run(c, "migrate-set-parameters", args, NULL) == 0) {
        c->delay_set = want;
    }
}

/* Read what QEMU sent unasked: nothing here needs it, but it must not
 * pile up. */
static void
events_drain(struct colo *c)
{
    struct vcha_qmp_event ev = {0};

    while (c->qmp != NULL && vcha_qmp_event_next(c->qmp, 0, &ev) == 0) {
        vcha_qmp_event_clear(&ev);
    }
}

/* ------------------------------------------------------------- the log */

/* Close the log; the line read in part and the checkpoint begun are
 * kept: the same file opened again is read on from where it was. */
static void
log_close(struct colo *c)
{
    if (c->log_fd >= 0) {
        close(c->log_fd);
    }
    c->log_fd = -1;
}

/* Read the open log on from @p size, its end: a line it ends inside is
 * skipped to its end, its start unread (so is the first line when the
 * byte before cannot be read: no part of a line is taken for one). */
static void
log_seek_end(struct colo *c, off_t size)
{
    char last = '\n';

    c->log_off = size;
    c->used = 0;
    c->skipping =
        size > 0 && (pread(c->log_fd, &last, 1, size - 1) != 1 || last != '\n');
    c->log_at_end = false;
}

/* One line of the log: a checkpoint that ends goes to the controller,
 * its times moved from the wall clock to the monotonic one. */
static void
log_line(struct colo *c, const char *line)
{
    long long stop_us, resume_us;

    if (vcha_colo_trace_feed(&c->tracer, line, &stop_us, &resume_us) != 1) {
        return;
    }
    long long now = vcha_now_ms();
    long long shift = now - vcha_realtime_ms();
    long long stop = stop_us / 1000 + shift, resume = resume_us / 1000 + shift;

    /* a checkpoint cannot end after now: if it seems to, the wall clock
     * was set back since QEMU logged it; its pause is kept, its end moved
     * to now, lest every checkpoint after it look out of order */
    long long ahead = resume > now ? resume - now : 0;

    stop -= ahead;
    resume -= ahead;

    if (vcha_coloctl_checkpoint(c->ctl, stop, resume) < 0) {
        c->refused++;
        return;
    }
    c->fed = resume;
    c->last_wall_ms = resume_us / 1000 - ahead;
}

/* An error @p err opening or reading the log: reported, the log closed. */
static int
log_fail(struct colo *c, int err)
{
    snprintf(c->log_error, sizeof(c->log_error), "log %s: %s",
             param(c, VCHA_COLOJ_LOG), strerror(err));
    log_close(c);
    return -err;
}

/* Open the log as far as not open, or again when QEMU made it anew (a
 * new file is read from its start, the first one, and the one a new QEMU
 * finds, from its end). */
static int
log_open(struct colo *c)
{
    const char *path = param(c, VCHA_COLOJ_LOG);
    struct stat st;

    if (stat(path, &st) < 0) { /* the open one read on meanwhile */
        int err = errno;

        snprintf(c->log_error, sizeof(c->log_error), "log %s: %s", path,
                 strerror(err));
        return -err;
    }
    if (c->log_fd >= 0 && st.st_dev == c->log_dev && st.st_ino == c->log_ino &&
        st.st_size >= c->log_off) {
        return 0;
    }
    log_close(c);
    c->log_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->log_fd < 0 || fstat(c->log_fd, &st) < 0) {
        return log_fail(c, errno);
    }
    if (c->log_at_end) {
        log_seek_end(c, st.st_size);
    } else if (st.st_dev != c->log_dev || st.st_ino != c->log_ino ||
               st.st_size < c->log_off) {
        /* a new file (or one cut short) from its start, no line of the
         * old one's kept; the same file after an error from where it
         * was, with its line read in part */
        c->log_off = 0;
        c->used = 0;
        c->skipping = false;
    }
    c->log_dev = st.st_dev;
    c->log_ino = st.st_ino;
    return 0;
}

/* What QEMU has added to the open log since the last read. */
static void
log_drain(struct colo *c)
{
    char buf[8192];
    ssize_t n;

    while ((n = pread(c->log_fd, buf, sizeof(buf), c->log_off)) > 0) {
        c->log_off += n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                c->line[c->used] = '\0';
                if (!c->skipping) {
                    log_line(c, c->line);
                }
                c->used = 0;
                c->skipping = false;
            } else if (c->used + 1 < sizeof(c->line)) {
                c->line[c->used++] = buf[i];
            } else {
                c->skipping = true; /* longer than any trace line */
            }
        }
    }
    if (n < 0) { /* the line read in part kept, for the same file */
        log_fail(c, errno);
    }
}

/* What QEMU has added to its log since the last read: the open file read
 * to its end first, so that what QEMU wrote to it before it was moved
 * away (a new QEMU, a rotation) is not lost, then the log as it is now. */
static void
log_read(struct colo *c)
{
    if (c->log_fd >= 0) {
        log_drain(c);
    }
    if (log_open(c) < 0) {
        return;
    }
    c->log_error[0] = '\0';
    log_drain(c);
}

/* A new QEMU: the log read on from its end as it is now (a log made
 * later from its start: all of it the new QEMU's). */
static void
log_restart(struct colo *c)
{
    log_close(c);
    c->log_at_end = true;
    if (log_open(c) == -ENOENT) {
        c->log_at_end = false;
    }
}

/* ------------------------------------------------------------- the QEMU */

/* The PID of the process that listens at the other end of @p q (QEMU),
 * and its start time (clock ticks after boot) in *start; 0 when either
 * cannot be told. */
static pid_t
qemu_identify(const struct vcha_qmp *q, unsigned long long *start)
{
    struct ucred cred = {0};
    socklen_t len = sizeof(cred);

    *start = 0;
    if (getsockopt(vcha_qmp_fd(q), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        cred.pid <= 0 || vcha_proc_start(cred.pid, start) < 0) {
        *start = 0;
        return 0;
    }
    return cred.pid;
}

/* A new QEMU: none of its checkpoints seen, its role unknown, a new
 * controller, its log read from the end as it is now.  -ENOMEM leaves
 * everything as it was. */
static int
qemu_new(struct colo *c)
{
    long long now = vcha_now_ms();
    struct vcha_coloctl *fresh = vcha_coloctl_new(&c->cp, now);

    if (fresh == NULL) {
        return -ENOMEM;
    }
    vcha_coloctl_free(c->ctl);
    c->ctl = fresh;
    c->fed = now;
    c->last_wall_ms = 0;
    c->refused = 0;
    c->role[0] = '\0';
    c->tracer = (struct vcha_colo_tracer){0};
    log_restart(c);
    return 0;
}

/* The QEMU a new connection reaches: another process than the one
 * before, or one that cannot be told from it, is a new QEMU.  Called
 * before the trace event is turned on in it.  -ENOMEM: the connection
 * is to be dropped, lest the older QEMU's figures stand for this one. */
static int
qemu_check(struct colo *c)
{
    unsigned long long start;
    pid_t pid = qemu_identify(c->qmp, &start);

    if (c->connected &&
        (pid == 0 || pid != c->qemu_pid || start != c->qemu_start)) {
        int rc = qemu_new(c);

        if (rc < 0) {
            return rc;
        }
    }
    c->connected = true;
    c->qemu_pid = pid;
    c->qemu_start = start;
    return 0;
}

/* ------------------------------------------------------------- reports */

static void
report(struct colo *c, int out_fd, long long now, const char *error)
{
    struct vcha_coloctl_figures f = {0};

    if (c->ctl != NULL) {
        vcha_coloctl_figures(c->ctl, now > c->fed ? now : c->fed, &f);
    }
    vchad_figure(out_fd, "role", "%s",
                 c->qmp != NULL && c->role[0] ? c->role : "unknown");
    vchad_figure(out_fd, "status", "%s", c->status[0] ? c->status : "unknown");
    vchad_figure(out_fd, "policy", "%s", param(c, VCHA_COLOJ_POLICY));
    vchad_figure(out_fd, "mode", "%s", vcha_colo_mode_name(f.mode));
    vchad_figure(out_fd, "delay_ms", "%lld",
                 c->delay_set > 0 ? c->delay_set : 0);
    vchad_figure(out_fd, "q", "%d", (int) f.q);
    vchad_figure(out_fd, "rho", "%.4f", f.rho);
    vchad_figure(out_fd, "cps", "%.3f", f.cps);
    vchad_figure(out_fd, "downtime_pct", "%.3f", f.downtime_pct);
    vchad_figure(out_fd, "checkpoints", "%llu", f.checkpoints);
    vchad_figure(out_fd, "switches", "%llu", f.switches);
    vchad_figure(out_fd, "last_checkpoint", "%lld", c->last_wall_ms / 1000);
    vchad_figure(out_fd, "refused", "%llu", c->refused);
    if (error != NULL && error[0] != '\0') {
        vchad_figure(out_fd, "error", "%s", error);
    }
    vchad_report(out_fd);
}

static int
setup(struct colo *c, char *why, size_t whylen)
{
    int rc = vcha_job_params_parse(&vcha_colo_job, vchad_job_params(c->job),
                                   &c->p, why, whylen);

    if (rc < 0) {
        return rc;
    }
    vcha_colo_job_controller(c->p, &c->cp);
    c->qmp_timeout = vcha_param_num(c->p, VCHA_COLOJ_QMP_TIMEOUT);
    c->fed = vcha_now_ms();
    c->ctl = vcha_coloctl_new(&c->cp, c->fed);
    if (c->ctl == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int
run(const struct vchad_job *job, int out_fd)
{
    struct colo c = {.job = job,
                     .log_fd = -1,
                     .log_at_end = true,
                     .delay_set = -1,
                     .delay_tried = -1};
    char why[512] = "";
    long long next;
    int rc = setup(&c, why, sizeof(why));

    if (rc < 0) { /* say why, then end: the daemon starts another later */
        report(&c, out_fd, vcha_now_ms(), why);
        vcha_coloctl_free(c.ctl);
        vcha_params_free(c.p);
        return rc;
    }
    next = vcha_now_ms();
    for (;;) { /* until SIGTERM, which ends the process */
        long long now = vcha_now_ms();

        log_read(&c);
        events_drain(&c);
        if (now >= next) {
            char error[sizeof(c.qmp_error) + sizeof(c.log_error) +
                       sizeof(c.trace_error) + sizeof(c.role_error) + 12];

            /* a tick never before the last checkpoint fed */
            vcha_coloctl_tick(c.ctl, now > c.fed ? now : c.fed);
            qmp_poll(&c, now);
            delay_apply(&c, true);
            snprintf(error, sizeof(error), "%s%s%s%s%s", c.qmp_error,
                     c.qmp_error[0] && c.log_error[0] ? "; " : "", c.log_error,
                     c.trace_error[0] && (c.qmp_error[0] || c.log_error[0])
                         ? "; "
                         : "",
                     c.trace_error);
            if (c.role_error[0] != '\0' && c.qmp != NULL) {
                size_t len = strlen(error);

                snprintf(error + len, sizeof(error) - len, "%s%s",
                         len > 0 ? "; " : "", c.role_error);
            }
            report(&c, out_fd, now, error);
            next += REPORT_MS;
            if (next < vcha_now_ms()) {
                next = vcha_now_ms() + REPORT_MS;
            }
        } else {
            delay_apply(&c, false);
        }
        vcha_sleep_ms(LOG_POLL_MS);
    }
    return 0;
}

static int
publish(const struct vchad_job *job, const struct vcha_kv *figures, bool ok,
        struct vcha_kv *attrs)
{
    static const struct vchad_attr_map map[] = {
        {"role", "colo-role"},
        {"mode", "colo-mode"},
        {"downtime_pct", "colo-downtime"},
        {"cps", "colo-cps"},
        {"last_checkpoint", "colo-last-checkpoint"},
    };

    (void) ok;
    return vchad_publish_figures(job, figures, map,
                                 sizeof(map) / sizeof(map[0]), attrs);
}

/* Its figures change with every report: published every attr_interval. */
static long long
publish_every_ms(const struct vchad_job *job)
{
    struct vcha_params *params = NULL;
    char why[256];
    long long ms = 0;

    if (vcha_job_params_parse(&vcha_colo_job, vchad_job_params(job), &params,
                              why, sizeof(why)) == 0) {
        ms = vcha_param_num(params, VCHA_COLOJ_ATTR_INTERVAL);
    }
    vcha_params_free(params);
    return ms;
}

const struct vchad_job_type vchad_colo_job = {
    .name = "colo",
    .kind = VCHAD_JOB_RESIDENT,
    .validate = validate,
    .run = run,
    .publish = publish,
    .publish_every_ms = publish_every_ms,
};
