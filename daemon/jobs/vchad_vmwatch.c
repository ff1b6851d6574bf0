/*
 * vchad - the vmwatch job: a resident that watches a libvirt domain from
 * outside the guest (seed 000/001: agentless failure detection) and says
 * whether it works, is hung, spins, panicked or was paused
 * (vcha/vmhealth.h, vcha/vmwatchjob.h).
 *
 * A reader thread takes a reading of the domain's counters every
 * interval_ms with libvirt's bulk statistics, reconnecting when the
 * connection broke; the main thread feeds each new reading to the
 * classifier and reports every interval (at least once a second) whatever
 * the reader does.  So a libvirtd that hangs never stops the reports: a
 * reading that takes longer than stats_timeout turns the report into an
 * "error" one (verdict unknown) until libvirt answers again.
 *
 * Figures: verdict, since_ms (how long it has held), since (when it began,
 * seconds since the epoch), cpu_pct (100 = one CPU), block_bps,
 * block_iops, net_bps, vcpus, state and reason (VIR_DOMAIN_*), samples,
 * source (bulk, or info: the driver's bulk statistics lack the CPU time,
 * e.g. LXC), and error while readings fail.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <vcha/clock.h>
#include <vcha/jobdef.h>
#include <vcha/param.h>
#include <vcha/virt.h>
#include <vcha/vmhealth.h>
#include <vcha/vmwatchjob.h>

#include "../vchad_job.h"

/* Reports come at least this often. */
#define REPORT_MS 1000

/* What the reader thread hands over, under the lock. */
struct reading {
    struct vcha_vmhealth_sample s;
    enum vcha_vmhealth_source source;
    bool fresh;        /* not yet fed */
    long long started; /* the reading under way began, 0: none */
    char error[512];   /* the last reading failed: why */
};

struct vmh {
    const struct vchad_job *job;
    struct vcha_params *p;
    long long interval;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled when the readers are to stop */
    bool stopping;       /* under the lock */
    struct reading r;
    /* the io reader's: the counters of QEMU's monitor, and when taken */
    struct vcha_vmhealth_sample io;
    long long io_at; /* 0: none yet */
    /* the main thread's */
    struct vcha_vmhealth *h;
    struct vcha_vmhealth_result res;
    struct vcha_vmhealth_sample last;
    enum vcha_vmhealth_source source;
    enum vcha_vmhealth_verdict shown; /* as last reported */
    long long shown_wall_ms;          /* when it began, wall clock */
    long long shown_mono_ms;          /* the same, CLOCK_MONOTONIC */
};

static int
validate(const struct vcha_kv *p, char *why, size_t whylen)
{
    struct vcha_params *params = NULL;
    int rc = vcha_job_params_parse(&vcha_vmwatch_job, p, &params, why, whylen);

    vcha_params_free(params);
    return rc;
}

static const char *
param(const struct vmh *v, enum vcha_vmh_job_param i)
{
    return vcha_param_str(v->p, i);
}

/* ------------------------------------------------------ the reader */

/* A reader's pause of @p ms: false when the readers are to stop. */
static bool
reader_pause(struct vmh *v, long long ms)
{
    struct timespec until;
    bool go_on;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t) (ms / 1000);
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&v->lock);
    while (!v->stopping &&
           pthread_cond_timedwait(&v->wake, &v->lock, &until) == 0) {
    }
    go_on = !v->stopping;
    pthread_mutex_unlock(&v->lock);
    return go_on;
}

/* The reader's connection and domain; either may be NULL (to open). */
struct session {
    virConnectPtr conn;
    virDomainPtr dom;
};

static void
session_close(struct session *ss)
{
    if (ss->dom != NULL) {
        virDomainFree(ss->dom);
        ss->dom = NULL;
    }
    vcha_virt_close(ss->conn);
    ss->conn = NULL;
}

/* Connect and find the domain, as far as not done yet. */
static int
session_open(struct vmh *v, struct session *ss, char *why, size_t whylen)
{
    char msg[512] = "";
    int rc = 0;

    if (ss->conn == NULL) {
        rc = vcha_virt_open(param(v, VCHA_VMH_URI), NULL, NULL, NULL, &ss->conn,
                            why, whylen);
    }
    if (rc == 0 && ss->dom == NULL) {
        rc = vcha_virt_domain_lookup(ss->conn, param(v, VCHA_VMH_DOMAIN),
                                     &ss->dom, msg, sizeof(msg));
        if (rc < 0) {
            snprintf(why, whylen, "domain %s: %s", param(v, VCHA_VMH_DOMAIN),
                     msg);
        }
    }
    return rc;
}

/* After a reading: drop the session when it broke, the domain when it
 * went away (looked up again: it may come back). */
static void
session_mend(struct session *ss, int rc)
{
    if (rc == -ENOENT && ss->dom != NULL) {
        virDomainFree(ss->dom);
        ss->dom = NULL;
    } else if (rc < 0 && ss->conn != NULL && virConnectIsAlive(ss->conn) != 1) {
        session_close(ss);
    }
}

/*
 * The monitor's counters into @p s when the io reader took them within
 * the last two intervals; otherwise the I/O is unknown (QEMU does not
 * answer its monitor: stopped, or hung) and the vCPUs the last known.
 */
static void
io_merge(struct vmh *v, struct vcha_vmhealth_sample *s,
         enum vcha_vmhealth_source source)
{
    pthread_mutex_lock(&v->lock);
    if (v->io_at != 0 && s->t_ms - v->io_at <= 2 * v->interval + 500) {
        s->blk_bytes = v->io.blk_bytes;
        s->blk_reqs = v->io.blk_reqs;
        s->io_known = v->io.io_known;
        s->vcpu_delay_ns = v->io.vcpu_delay_ns;
        s->delay_known = v->io.delay_known;
        s->monitor = VCHA_VMH_MON_ANSWERS;
    } else {
        /* QEMU's statistics (source bulk) without a fresh answer of its
         * monitor: it does not answer; other drivers have no monitor */
        s->monitor =
            source == VCHA_VMH_BULK ? VCHA_VMH_MON_SILENT : VCHA_VMH_MON_NONE;
    }
    if (s->vcpus == 0) {
        s->vcpus = v->io.vcpus;
    }
    pthread_mutex_unlock(&v->lock);
}

/* One reading, on the session (re)opened as needed. */
static int
reading_take(struct vmh *v, struct session *ss, struct reading *out)
{
    char why[512] = "";
    int rc = session_open(v, ss, why, sizeof(why));

    if (rc == 0) {
        rc = vcha_vmhealth_read(ss->dom, &out->s, &out->source, why,
                                sizeof(why));
        out->s.t_ms = vcha_now_ms();
    }
    if (rc == 0) {
        io_merge(v, &out->s, out->source);
    }
    session_mend(ss, rc);
    snprintf(out->error, sizeof(out->error), "%s",
             rc < 0 ? (why[0] ? why : strerror(-rc)) : "");
    return rc;
}

/*
 * The io reader: the counters QEMU's monitor gives (block, vCPUs), on a
 * connection of its own, as often as the reader's.  A QEMU that is
 * stopped holds this thread until it runs again, never the reader.
 */
static void *
io_reader_main(void *arg)
{
    struct vmh *v = arg;
    struct session ss = {0};

    for (;;) {
        struct vcha_vmhealth_sample io = {0};
        char why[512] = "";
        int rc = session_open(v, &ss, why, sizeof(why));

        if (rc == 0) {
            rc = vcha_vmhealth_read_io(ss.dom, &io, why, sizeof(why));
        }
        if (rc == 0) {
            pthread_mutex_lock(&v->lock);
            v->io = io;
            v->io_at = vcha_now_ms();
            pthread_mutex_unlock(&v->lock);
        } else if (rc == -ENOTSUP) {
            break; /* no bulk statistics (LXC): nothing to wait for */
        }
        session_mend(&ss, rc);
        if (!reader_pause(v, v->interval)) {
            break;
        }
    }
    session_close(&ss);
    return NULL;
}

static void *
reader_main(void *arg)
{
    struct vmh *v = arg;
    struct session ss = {0};
    long long next = vcha_now_ms();

    for (;;) {
        struct reading r = {0};
        int rc;

        pthread_mutex_lock(&v->lock);
        v->r.started = vcha_now_ms();
        pthread_mutex_unlock(&v->lock);
        rc = reading_take(v, &ss, &r);
        pthread_mutex_lock(&v->lock);
        if (rc == 0) {
            v->r.s = r.s;
            v->r.source = r.source;
            v->r.fresh = true;
        }
        snprintf(v->r.error, sizeof(v->r.error), "%s", r.error);
        v->r.started = 0;
        pthread_mutex_unlock(&v->lock);
        /* keep the pace; after a long hang, take the next one at once */
        next += v->interval;
        if (next < vcha_now_ms()) {
            next = vcha_now_ms();
        }
        if (!reader_pause(v, next - vcha_now_ms())) {
            break;
        }
    }
    session_close(&ss);
    return NULL;
}

/* ------------------------------------------------------ the reports */

/* Feed the reading the reader left, if any; what is wrong, in @p error. */
static void
reading_use(struct vmh *v, long long now, char *error, size_t len)
{
    struct reading r;
    long long timeout = vcha_param_num(v->p, VCHA_VMH_STATS_TIMEOUT);

    pthread_mutex_lock(&v->lock);
    r = v->r;
    v->r.fresh = false;
    pthread_mutex_unlock(&v->lock);
    error[0] = '\0';
    if (r.fresh && vcha_vmhealth_feed(v->h, &r.s, &v->res) == 0) {
        v->last = r.s;
        v->source = r.source;
    }
    if (r.started != 0 && now - r.started > timeout) {
        snprintf(
            error, len, "libvirt at %s gave no statistics of %s for %lld ms",
            param(v, VCHA_VMH_URI), param(v, VCHA_VMH_DOMAIN), now - r.started);
    } else if (r.error[0] != '\0') {
        snprintf(error, len, "%s", r.error);
    }
}

static void
report(struct vmh *v, int out_fd, const char *error)
{
    enum vcha_vmhealth_verdict verdict =
        error[0] != '\0' ? VCHA_VMH_UNKNOWN : v->res.verdict;
    long long wall = vcha_realtime_ms(), mono = vcha_now_ms();

    if (verdict != v->shown || v->shown_wall_ms == 0) {
        long long held = verdict == v->res.verdict ? v->res.since_ms : 0;

        v->shown = verdict;
        v->shown_wall_ms = wall - held;
        v->shown_mono_ms = mono - held;
    }
    vchad_figure(out_fd, "verdict", "%s", vcha_vmhealth_verdict_name(verdict));
    /* how long: on the monotonic clock, which no clock step moves */
    vchad_figure(out_fd, "since_ms", "%lld", mono - v->shown_mono_ms);
    vchad_figure(out_fd, "since", "%lld", v->shown_wall_ms / 1000);
    vchad_figure(out_fd, "cpu_pct", "%.2f", v->res.cpu_pct);
    vchad_figure(out_fd, "block_bps", "%.0f", v->res.block_bps);
    vchad_figure(out_fd, "block_iops", "%.0f", v->res.block_iops);
    vchad_figure(out_fd, "net_bps", "%.0f", v->res.net_bps);
    vchad_figure(out_fd, "vcpus", "%u", v->last.vcpus);
    vchad_figure(out_fd, "state", "%d", v->last.state);
    vchad_figure(out_fd, "reason", "%d", v->last.reason);
    vchad_figure(out_fd, "samples", "%llu", v->res.samples);
    vchad_figure(out_fd, "source", "%s",
                 v->source == VCHA_VMH_BULK   ? "bulk"
                 : v->source == VCHA_VMH_INFO ? "info"
                                              : "none");
    if (error[0] != '\0') {
        vchad_figure(out_fd, "error", "%s", error);
    }
    vchad_report(out_fd);
}

/*
 * Start the reader and the io reader.  When the second cannot start, the
 * first is stopped and joined before anything it uses is freed.
 */
static int
readers_start(struct vmh *v, char *why, size_t whylen)
{
    void *(*const mains[2])(void *) = {reader_main, io_reader_main};
    pthread_t t[2];
    int rc = 0, n = 0;

    for (; n < 2 && rc == 0; n++) {
        rc = pthread_create(&t[n], NULL, mains[n], v);
    }
    if (rc != 0) {
        snprintf(why, whylen, "cannot start the readers: %s", strerror(rc));
        pthread_mutex_lock(&v->lock);
        v->stopping = true;
        pthread_cond_broadcast(&v->wake);
        pthread_mutex_unlock(&v->lock);
        for (int i = 0; i < n - 1; i++) {
            pthread_join(t[i], NULL);
        }
        return -rc;
    }
    for (int i = 0; i < 2; i++) {
        pthread_detach(t[i]); /* they end with the process */
    }
    return 0;
}

/* The parameters, the classifier, the reader threads. */
static int
setup(struct vmh *v, char *why, size_t whylen)
{
    struct vcha_vmhealth_limits l;
    pthread_condattr_t ca;
    int rc = vcha_job_params_parse(&vcha_vmwatch_job, vchad_job_params(v->job),
                                   &v->p, why, whylen);

    if (rc < 0) {
        return rc;
    }
    v->interval = vcha_param_num(v->p, VCHA_VMH_INTERVAL);
    vcha_vmwatch_job_limits(v->p, &l);
    v->h = vcha_vmhealth_new(&l);
    if (v->h == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    /* the pauses are measured on the monotonic clock, as the pace is */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&v->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start the readers: %s", strerror(rc));
        return -rc;
    }
    return readers_start(v, why, whylen);
}

static int
run(const struct vchad_job *job, int out_fd)
{
    struct vmh v = {.job = job, .lock = PTHREAD_MUTEX_INITIALIZER};
    char why[512] = "";
    long long period, next;
    int rc = setup(&v, why, sizeof(why));

    if (rc < 0) { /* say why, then end: the daemon starts another later */
        report(&v, out_fd, why);
        vcha_params_free(v.p);
        vcha_vmhealth_free(v.h);
        return rc;
    }
    period = v.interval < REPORT_MS ? v.interval : REPORT_MS;
    next = vcha_now_ms() + period;
    for (;;) { /* until SIGTERM, which ends the process, reader and all */
        char error[640];

        vcha_sleep_ms(next - vcha_now_ms());
        next += period;
        reading_use(&v, vcha_now_ms(), error, sizeof(error));
        report(&v, out_fd, error);
    }
    return 0;
}

static int
publish(const struct vchad_job *job, const struct vcha_kv *figures, bool ok,
        struct vcha_kv *attrs)
{
    static const struct vchad_attr_map map[] = {
        {"verdict", "health"},
        {"since", "health-since"},
    };

    (void) ok;
    return vchad_publish_figures(job, figures, map,
                                 sizeof(map) / sizeof(map[0]), attrs);
}

const struct vchad_job_type vchad_vmwatch_job = {
    .name = "vmwatch",
    .kind = VCHAD_JOB_RESIDENT,
    .validate = validate,
    .run = run,
    .publish = publish,
};
