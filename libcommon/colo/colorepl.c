/*
 * vcha - replication of a COLO pair started from a running primary
 * (vcha/colorepl.h).
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <vcha/clock.h>
#include <vcha/colorepl.h>

/* What was added, to be taken away in reverse on a failure. */
enum added {
    A_NBD0 = 1 << 0,
    A_MIRROR = 1 << 1,
    A_STOPPED = 1 << 2,
    A_REPLICATION = 1 << 3, /* the drive replication0 */
    A_CHILD = 1 << 4,       /* replication0 as the quorum's child 1 */
};

/* The network objects in the order they are added (taken away in
 * reverse), chardevs first. */
static const char *const chardevs[] = {"mirror0",   "compsec0", "comppri0",
                                       "comppri0c", "compout0", "compout0c"};
static const char *const objects[] = {"m0", "redire0", "redire1", "iothread1",
                                      "comp0"};

struct run {
    struct vcha_qmp *q;
    long long deadline;
    char *why;
    size_t len;
};

static json_object *
str(const char *s)
{
    return json_object_new_string(s);
}

/* An object of key/value pairs of strings: kv("a", "1", "b", "2", NULL). */
static json_object *
kv(const char *key, ...)
{
    json_object *o = json_object_new_object();
    va_list ap;

    va_start(ap, key);
    for (const char *k = key; k != NULL; k = va_arg(ap, const char *)) {
        json_object_object_add(o, k, str(va_arg(ap, const char *)));
    }
    va_end(ap);
    return o;
}

static int
run(struct run *r, const char *command, json_object *args, json_object **ret)
{
    char *err = NULL;
    int rc = vcha_qmp_exec(r->q, command, args, r->deadline, ret, &err);

    if (rc < 0 && r->why[0] == '\0') {
        snprintf(r->why, r->len, "QMP %s: %s", command,
                 rc == -EREMOTEIO && err != NULL ? err : strerror(-rc));
    }
    free(err);
    return rc;
}

/* run() with @p ms for the command, never past r->deadline. */
static int
run_within(struct run *r, long long ms, const char *command, json_object *args)
{
    struct run step = *r;
    long long t = vcha_now_ms() + ms;

    step.deadline = t < r->deadline ? t : r->deadline;
    return run(&step, command, args, NULL);
}

static int
hmp(struct run *r, const char *line)
{
    char *out = NULL;
    int rc = vcha_qmp_hmp(r->q, line, r->deadline, &out);

    if (rc == 0 && out != NULL && out[strspn(out, " \r\n")] != '\0') {
        rc = -EREMOTEIO; /* the human monitor's way to fail */
    }
    if (rc < 0 && r->why[0] == '\0') {
        snprintf(r->why, r->len, "HMP %.60s...: %s", line,
                 rc == -EREMOTEIO && out != NULL ? out : strerror(-rc));
        r->why[strcspn(r->why, "\r\n")] = '\0';
    }
    free(out);
    return rc;
}

/* "host" for an inet address QEMU parses: IPv6 as it is. */
static json_object *
inet(const char *host, unsigned port)
{
    char p[16];

    snprintf(p, sizeof(p), "%u", port);
    return kv("host", host, "port", p, NULL);
}

/* The migration's status ("" when QMP cannot say), with QEMU's error
 * after a ": " when it gives one. */
static void
migration_status(struct run *r, char *buf, size_t len)
{
    json_object *ret = NULL, *v = NULL;

    buf[0] = '\0';
    if (run(r, "query-migrate", NULL, &ret) == 0 &&
        json_object_object_get_ex(ret, "status", &v)) {
        snprintf(buf, len, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(ret, "error-desc", &v)) {
            size_t n = strlen(buf);

            snprintf(buf + n, len - n, ": %s", json_object_get_string(v));
        }
    }
    json_object_put(ret);
}

/* Whether migration status @p status (perhaps with ": error") is @p w. */
static bool
status_is(const char *status, const char *w)
{
    size_t n = strcspn(status, ":");

    return strlen(w) == n && strncmp(status, w, n) == 0;
}

/* The block job @p id: 1 ready, 0 running, -ENOENT gone, -errno. */
static int
job_state(struct run *r, const char *id)
{
    json_object *ret = NULL;
    int rc = run(r, "query-block-jobs", NULL, &ret), state = -ENOENT;

    for (size_t i = 0; rc == 0 && i < json_object_array_length(ret); i++) {
        json_object *job = json_object_array_get_idx(ret, i), *v = NULL;

        if (json_object_object_get_ex(job, "device", &v) &&
            strcmp(json_object_get_string(v), id) == 0) {
            state = json_object_object_get_ex(job, "ready", &v) &&
                    json_object_get_boolean(v);
        }
    }
    json_object_put(ret);
    return rc < 0 ? rc : state;
}

/* Until block job @p id is in @p want (1 ready, -ENOENT gone). */
static int
job_wait(struct run *r, const char *id, int want)
{
    for (;;) {
        int s = job_state(r, id);

        if (s == want) {
            return 0;
        }
        if (s == -ENOENT || (s < 0 && s != -ENOENT)) {
            if (r->why[0] == '\0') {
                snprintf(r->why, r->len, "block job %s %s", id,
                         s == -ENOENT ? "ended before it was ready"
                                      : strerror(-s));
            }
            return s == -ENOENT ? -EIO : s;
        }
        if (vcha_now_ms() >= r->deadline) {
            snprintf(r->why, r->len, "block job %s: not %s in time", id,
                     want == 1 ? "ready" : "ended");
            return -ETIME;
        }
        vcha_sleep_ms(100);
    }
}

/* Take away what @p added says was added (a failure's undoing, or a
 * primary failover's), each step tried. */
static void
undo(struct run *r, unsigned added, size_t n_chardevs, size_t n_objects)
{
    char why[8] = "";
    struct run quiet = {r->q, r->deadline, why, sizeof(why)};

    for (size_t i = n_objects; i-- > 0;) {
        run(&quiet, "object-del", kv("id", objects[i], NULL), NULL);
    }
    for (size_t i = n_chardevs; i-- > 0;) {
        run(&quiet, "chardev-remove", kv("id", chardevs[i], NULL), NULL);
    }
    if (added & A_CHILD) {
        run(&quiet, "x-blockdev-change",
            kv("parent", "colo-disk0", "child", "children.1", NULL), NULL);
    }
    if (added & A_REPLICATION) {
        hmp(&quiet, "drive_del replication0");
    }
    if (added & A_MIRROR) {
        json_object *a = kv("device", "resync", NULL);

        json_object_object_add(a, "force", json_object_new_boolean(1));
        run(&quiet, "block-job-cancel", a, NULL);
        job_wait(&quiet, "resync", -ENOENT);
    }
    if (added & A_NBD0) {
        run(&quiet, "blockdev-del", kv("node-name", "nbd0", NULL), NULL);
    }
    if (added & A_STOPPED) {
        run(&quiet, "cont", NULL, NULL);
    }
}

/* 1: the disk. */
static int
add_disk(struct run *r, const struct vcha_colorepl *c, unsigned *added,
         long long ms[])
{
    long long t0 = vcha_now_ms();
    json_object *a =
        kv("driver", "nbd", "node-name", "nbd0", "export", "parent0", NULL);
    char line[512];
    int rc;

    json_object_object_add(a, "server", inet(c->peer, c->base_port));
    json_object_object_add(json_object_object_get(a, "server"), "type",
                           str("inet"));
    rc = run(r, "blockdev-add", a, NULL);
    if (rc < 0) {
        return rc;
    }
    *added |= A_NBD0;
    rc = run(r, "blockdev-mirror",
             kv("job-id", "resync", "device", "colo-disk0", "target", "nbd0",
                "sync", "full", NULL),
             NULL);
    if (rc < 0) {
        return rc;
    }
    *added |= A_MIRROR;
    rc = job_wait(r, "resync", 1);
    if (rc < 0) {
        return rc;
    }
    ms[VCHA_COLOREPL_MIRROR] = vcha_now_ms() - t0;
    t0 = vcha_now_ms();
    rc = run(r, "stop", NULL, NULL);
    if (rc < 0) {
        return rc;
    }
    *added |= A_STOPPED;
    /* a ready mirror cancelled completes without a pivot: the guest's
     * disk stays its own, the peer's is a copy */
    rc = run(r, "block-job-cancel", kv("device", "resync", NULL), NULL);
    rc = rc < 0 ? rc : job_wait(r, "resync", -ENOENT);
    if (rc < 0) {
        return rc;
    }
    *added &= ~(unsigned) A_MIRROR;
    rc = run(r, "blockdev-del", kv("node-name", "nbd0", NULL), NULL);
    if (rc < 0) {
        return rc;
    }
    *added &= ~(unsigned) A_NBD0;
    snprintf(line, sizeof(line),
             strchr(c->peer, ':') != NULL
                 ? "drive_add -n buddy driver=replication,mode=primary,"
                   "file.driver=nbd,file.host=[%s],file.port=%u,"
                   "file.export=parent0,node-name=replication0"
                 : "drive_add -n buddy driver=replication,mode=primary,"
                   "file.driver=nbd,file.host=%s,file.port=%u,"
                   "file.export=parent0,node-name=replication0",
             c->peer, c->base_port);
    rc = hmp(r, line);
    if (rc < 0) {
        return rc;
    }
    *added |= A_REPLICATION;
    rc = run(r, "x-blockdev-change",
             kv("parent", "colo-disk0", "node", "replication0", NULL), NULL);
    if (rc < 0) {
        return rc;
    }
    *added |= A_CHILD;
    /* the guest stays paused until COLO runs (see vcha_colo_replicate) */
    ms[VCHA_COLOREPL_PAUSE] = t0;
    return 0;
}

/* The guest runs again once COLO runs: COLO starts it itself, as soon
 * as QEMU has finalized the migration ("cont" is refused until then). */
static int
resume(struct run *r)
{
    for (long long tried = 0;; tried++) {
        json_object *ret = NULL, *v = NULL;
        int rc = run(r, "query-status", NULL, &ret);
        bool running = rc == 0 &&
                       json_object_object_get_ex(ret, "running", &v) &&
                       json_object_get_boolean(v);

        json_object_put(ret);
        if (rc < 0 || running) {
            return rc;
        }
        if (tried >= 10) { /* a second on: COLO did not, we do */
            char why[8] = "";
            struct run quiet = {r->q, r->deadline, why, sizeof(why)};

            if (run(&quiet, "cont", NULL, NULL) == 0) {
                return 0;
            }
        }
        if (vcha_now_ms() >= r->deadline) {
            snprintf(r->why, r->len, "the guest does not run again in COLO");
            return -ETIME;
        }
        vcha_sleep_ms(100);
    }
}

/* A socket address in QEMU's legacy form: @p data under its @p type. */
static json_object *
legacy_addr(const char *type, json_object *data)
{
    json_object *a = kv("type", type, NULL);

    json_object_object_add(a, "data", data);
    return a;
}

static json_object *
socket_backend(json_object *addr, const char *type, bool server)
{
    json_object *data = json_object_new_object(), *b = json_object_new_object();

    json_object_object_add(data, "addr", legacy_addr(type, addr));
    json_object_object_add(data, "server", json_object_new_boolean(server));
    if (server) {
        json_object_object_add(data, "wait", json_object_new_boolean(0));
    } else if (strcmp(type, "inet") == 0) {
        json_object_object_add(data, "nodelay", json_object_new_boolean(1));
    }
    json_object_object_add(b, "type", str("socket"));
    json_object_object_add(b, "data", data);
    return b;
}

/* 2: the network. */
static int
add_net(struct run *r, const struct vcha_colorepl *c, size_t *n_chardevs,
        size_t *n_objects)
{
    char pri[128], out[128];
    json_object *backends[6];
    int rc = 0;

    if (snprintf(pri, sizeof(pri), "%s/comppri.sock", c->sock_dir) >= 108 ||
        snprintf(out, sizeof(out), "%s/compout.sock", c->sock_dir) >= 108) {
        snprintf(r->why, r->len, "%s: too long for a unix socket", c->sock_dir);
        return -ENAMETOOLONG;
    }
    backends[0] = socket_backend(inet(c->peer, c->base_port + 2), "inet", 0);
    backends[1] = socket_backend(inet(c->peer, c->base_port + 3), "inet", 0);
    backends[2] = socket_backend(kv("path", pri, NULL), "unix", 1);
    backends[3] = socket_backend(kv("path", pri, NULL), "unix", 0);
    backends[4] = socket_backend(kv("path", out, NULL), "unix", 1);
    backends[5] = socket_backend(kv("path", out, NULL), "unix", 0);
    for (size_t i = 0; i < 6; i++) {
        json_object *a = kv("id", chardevs[i], NULL);

        json_object_object_add(a, "backend", backends[i]);
        if (rc < 0) {
            json_object_put(a);
            continue;
        }
        rc = run(r, "chardev-add", a, NULL);
        if (rc == 0) {
            *n_chardevs = i + 1;
        }
    }
    if (rc < 0) {
        return rc;
    }
    json_object *objs[5] = {
        kv("qom-type", "filter-mirror", "id", "m0", "netdev", "hn0", "queue",
           "tx", "outdev", "mirror0", NULL),
        kv("qom-type", "filter-redirector", "id", "redire0", "netdev", "hn0",
           "queue", "rx", "indev", "compout0", NULL),
        kv("qom-type", "filter-redirector", "id", "redire1", "netdev", "hn0",
           "queue", "rx", "outdev", "comppri0", NULL),
        kv("qom-type", "iothread", "id", "iothread1", NULL),
        kv("qom-type", "colo-compare", "id", "comp0", "primary_in", "comppri0c",
           "secondary_in", "compsec0", "outdev", "compout0c", "iothread",
           "iothread1", NULL),
    };

    for (size_t i = 0; i < 5; i++) {
        if (rc < 0) {
            json_object_put(objs[i]);
            continue;
        }
        rc = run(r, "object-add", objs[i], NULL);
        if (rc == 0) {
            *n_objects = i + 1;
        }
    }
    return rc;
}

static json_object *
capability(const char *name)
{
    json_object *o = kv("capability", name, NULL);

    json_object_object_add(o, "state", json_object_new_boolean(1));
    return o;
}

/* migrate-set-capabilities' arguments for COLO, on either side. */
static json_object *
colo_capabilities(void)
{
    json_object *caps = json_object_new_array(), *a = json_object_new_object();

    json_object_array_add(caps, capability("return-path"));
    json_object_array_add(caps, capability("x-colo"));
    json_object_object_add(a, "capabilities", caps);
    return a;
}

/* The migration's URI towards @p host, IPv6 in brackets. */
static void
tcp_uri(const char *host, unsigned port, char *buf, size_t len)
{
    snprintf(buf, len, strchr(host, ':') != NULL ? "tcp:[%s]:%u" : "tcp:%s:%u",
             host, port);
}

/* 3: the memory. */
static int
migrate(struct run *r, const struct vcha_colorepl *c)
{
    json_object *a;
    char uri[96], status[512];
    int rc;

    rc = run(r, "migrate-set-capabilities", colo_capabilities(), NULL);
    if (rc < 0) {
        return rc;
    }
    a = json_object_new_object();
    json_object_object_add(a, "x-checkpoint-delay",
                           json_object_new_int64(c->delay_ms));
    rc = run(r, "migrate-set-parameters", a, NULL);
    if (rc < 0) {
        return rc;
    }
    tcp_uri(c->peer, c->base_port + 1, uri, sizeof(uri));
    rc = run(r, "migrate", kv("uri", uri, NULL), NULL);
    while (rc == 0) {
        migration_status(r, status, sizeof(status));
        if (status_is(status, "colo")) {
            return 0;
        }
        if (status_is(status, "failed") || status_is(status, "cancelled")) {
            snprintf(r->why, r->len, "the migration to %s %s", uri, status);
            return -EIO;
        }
        if (vcha_now_ms() >= r->deadline) {
            snprintf(r->why, r->len,
                     "the migration to %s: %s, not COLO, "
                     "in time",
                     uri, status[0] ? status : "no status");
            run(r, "migrate_cancel", NULL, NULL);
            return -ETIME;
        }
        vcha_sleep_ms(100);
    }
    return rc;
}

int
vcha_colo_secondary_ready(struct vcha_qmp *q, const char *addr,
                          unsigned base_port, bool incoming, long long ms,
                          long long deadline, char *why, size_t len)
{
    struct run r = {q, deadline, why, len};
    json_object *a;
    char uri[96];
    int rc;

    why[0] = '\0';
    rc = run_within(&r, ms, "migrate-set-capabilities", colo_capabilities());
    if (rc < 0) {
        return rc;
    }
    a = json_object_new_object();
    json_object_object_add(a, "addr",
                           legacy_addr("inet", inet(addr, base_port)));
    rc = run_within(&r, ms, "nbd-server-start", a);
    if (rc < 0) {
        return rc;
    }
    /* the primary's writes come to the disk's parent0 */
    a = kv("device", "parent0", NULL);
    json_object_object_add(a, "writable", json_object_new_boolean(1));
    rc = run_within(&r, ms, "nbd-server-add", a);
    if (rc < 0 || !incoming) {
        return rc;
    }
    tcp_uri(addr, base_port + 1, uri, sizeof(uri));
    return run_within(&r, ms, "migrate-incoming", kv("uri", uri, NULL));
}

int
vcha_colo_replicate(struct vcha_qmp *q, const struct vcha_colorepl *c,
                    long long deadline, long long ms[], char *why, size_t len)
{
    struct run r = {q, deadline, why, len};
    long long spare[VCHA_COLOREPL_N_PHASES], t0;
    size_t n_chardevs = 0, n_objects = 0;
    unsigned added = 0;
    char status[512];
    int rc;

    ms = ms != NULL ? ms : spare;
    for (size_t i = 0; i < VCHA_COLOREPL_N_PHASES; i++) {
        ms[i] = -1;
    }
    why[0] = '\0';
    migration_status(&r, status, sizeof(status));
    if (status[0] != '\0' && !status_is(status, "none") &&
        !status_is(status, "completed") && !status_is(status, "failed") &&
        !status_is(status, "cancelled")) {
        snprintf(why, len, "QEMU migrates already (%s)", status);
        return -EALREADY;
    }
    why[0] = '\0';
    /* a quarter of the time (5 s at most) is kept to undo a failure */
    r.deadline -= (deadline - vcha_now_ms()) / 4 < 5000
                      ? (deadline - vcha_now_ms()) / 4
                      : 5000;
    rc = add_disk(&r, c, &added, ms);
    t0 = vcha_now_ms();
    rc = rc < 0 ? rc : add_net(&r, c, &n_chardevs, &n_objects);
    ms[VCHA_COLOREPL_NET] = rc < 0 ? -1 : vcha_now_ms() - t0;
    t0 = vcha_now_ms();
    rc = rc < 0 ? rc : migrate(&r, c);
    ms[VCHA_COLOREPL_MIGRATE] = rc < 0 ? -1 : vcha_now_ms() - t0;
    rc = rc < 0 ? rc : resume(&r);
    if (rc == 0) {
        ms[VCHA_COLOREPL_PAUSE] = vcha_now_ms() - ms[VCHA_COLOREPL_PAUSE];
    } else {
        ms[VCHA_COLOREPL_PAUSE] = -1;
        r.deadline = deadline; /* the time kept back for this */
        undo(&r, added, n_chardevs, n_objects);
    }
    return rc;
}

int
vcha_colo_unreplicate(struct vcha_qmp *q, long long deadline, char *why,
                      size_t len)
{
    struct run r = {q, deadline, why, len};
    json_object *ret = NULL, *v = NULL;
    bool primary = false;
    int rc;

    why[0] = '\0';
    rc = run(&r, "query-colo-status", NULL, &ret);
    if (rc == 0 && json_object_object_get_ex(ret, "mode", &v)) {
        primary = strcmp(json_object_get_string(v), "primary") == 0;
    }
    json_object_put(ret);
    if (rc < 0 || !primary) {
        return rc; /* not in COLO: nothing to take away */
    }
    /* QEMU's primary failover: the disk first, then the filters, then
     * COLO left (its checkpoints stop waiting for the peer), then the
     * chardevs */
    undo(&r, A_CHILD | A_REPLICATION, 0, 0);
    undo(&r, 0, 0, sizeof(objects) / sizeof(objects[0]));
    rc = run(&r, "x-colo-lost-heartbeat", NULL, NULL);
    undo(&r, 0, sizeof(chardevs) / sizeof(chardevs[0]), 0);
    return rc;
}
