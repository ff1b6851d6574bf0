/* vcha - LXC containers checkpointed with CRIU: configuration and life. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/log.h>
#include <vcha/param.h>
#include <vcha/restore.h>
#include <vcha/rootfs.h>

#include <lxc/lxccontainer.h>

#include "ctlxc.h"

#define MAX_CONFIG (1024 * 1024)

void
vcha_ct_free(struct vcha_ct *ct)
{
    if (ct == NULL) {
        return;
    }
    free(ct->name);
    free(ct->lxcpath);
    free(ct->config);
    free(ct->rootfs);
    vcha_kv_free(ct->settings);
    free(ct);
}

/* How long reading a configuration may take (vcha_ct_open() has no
 * deadline of its callers; liblxc waits for the container's disk lock). */
#define OPEN_MS 10000

/* The items vcha_ct_open() keeps, besides lxc.net.N.type. */
static const char *const open_items[] = {
    "lxc.rootfs.path",
    "lxc.start.auto",
    "lxc.tty.max",
    "lxc.pty.max",
    "lxc.console.path",
    "lxc.apparmor.profile",
    "lxc.apparmor.allow_nesting",
    "lxc.net.0.ipv4.address",
};

/* In liblxc's child: "KEY=VALUE\n" for each item that has a value. */
static int
items_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    char value[1024], key[48];
    size_t used = 0;

    (void) arg;
    for (size_t i = 0; used < outlen; i++) {
        const char *k = key;

        if (i < sizeof(open_items) / sizeof(open_items[0])) {
            k = open_items[i];
        } else {
            snprintf(key, sizeof(key), "lxc.net.%zu.type",
                     i - sizeof(open_items) / sizeof(open_items[0]));
        }
        value[0] = '\0';
        if (c->get_config_item(c, k, value, sizeof(value)) < 0 && k == key) {
            break; /* no more networks */
        }
        /* a list (lxc.net.0.ipv4.address) ends each entry with a newline:
         * one entry is kept, several are not */
        if (value[0] != '\0' && value[strlen(value) - 1] == '\n') {
            value[strlen(value) - 1] = '\0';
        }
        if (value[0] != '\0' && strchr(value, '\n') == NULL) {
            used += (size_t) snprintf(out + used, outlen - used, "%s=%s\n", k,
                                      value);
        }
    }
    return used < outlen ? 0 : -E2BIG;
}

static int
items_parse(char *text, struct vcha_kv **settings)
{
    char *save = NULL;
    int rc = 0;

    *settings = vcha_kv_new();
    if (*settings == NULL) {
        return -ENOMEM;
    }
    for (char *l = strtok_r(text, "\n", &save); rc == 0 && l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');

        if (eq != NULL) {
            *eq = '\0';
            rc = vcha_kv_set(*settings, l, eq + 1);
        }
    }
    return rc;
}

/*
 * The directory of lxc.rootfs.path, from liblxc, which follows includes
 * and takes the last setting, but drops the storage type ("dir:",
 * "overlay:", "btrfs:"...).  Only a directory is supported (the root
 * filesystem is copied file by file), so: an absolute path that is a
 * directory, or, not there yet, one without overlay's "lower:upper".
 */
static int
rootfs_check(const char *path, char **rootfs, char *why, size_t whylen)
{
    struct stat st;

    if (path == NULL || path[0] != '/' ||
        (stat(path, &st) == 0 ? !S_ISDIR(st.st_mode)
                              : strchr(path, ':') != NULL)) {
        snprintf(why, whylen,
                 "lxc.rootfs.path is not set to a directory "
                 "(dir:/path)");
        return -EINVAL;
    }
    *rootfs = strdup(path);
    return *rootfs != NULL ? 0 : -ENOMEM;
}

/* The configuration as liblxc reads it, into @p ct. */
static int
settings_read(struct vcha_ct *ct, char *why, size_t whylen)
{
    char out[VCHA_CTLXC_OUT];
    int rc = vcha_ctlxc_call(ct->name, ct->lxcpath, VCHA_CTLXC_AS_IS, false,
                             items_fn, NULL, vcha_now_ms() + OPEN_MS, out);

    if (rc < 0) {
        snprintf(why, whylen, "liblxc cannot read %s: %s", ct->config,
                 out[0] ? out : strerror(-rc));
        return rc == -ENOENT ? rc : -EINVAL;
    }
    rc = items_parse(out, &ct->settings);
    if (rc == 0) {
        rc = rootfs_check(vcha_kv_get(ct->settings, "lxc.rootfs.path"),
                          &ct->rootfs, why, whylen);
    }
    return rc;
}

int
vcha_ct_open(const char *name, const char *lxcpath, struct vcha_ct **out,
             char *why, size_t whylen)
{
    struct vcha_ct *ct = calloc(1, sizeof(*ct));
    char *text = NULL;
    size_t len = 0;
    int rc = -ENOMEM;

    *out = NULL;
    if (ct == NULL || (ct->name = strdup(name)) == NULL ||
        (ct->lxcpath = strdup(lxcpath)) == NULL ||
        asprintf(&ct->config, "%s/%s/config", lxcpath, name) < 0) {
        goto done;
    }
    /* the file itself, for its digest: generations record it */
    rc = vcha_file_read(ct->config, &text, &len, MAX_CONFIG);
    if (rc < 0) {
        snprintf(why, whylen, "%s: %s", ct->config, strerror(-rc));
        goto done;
    }
    if (vcha_sha256_hex(text, len, ct->digest) < 0) {
        ct->digest[0] = '\0';
    }
    rc = settings_read(ct, why, whylen);
done:
    free(text);
    if (rc < 0) {
        vcha_ct_free(ct);
    } else {
        *out = ct;
    }
    return rc;
}

/* A network LXC's checkpoint refuses ("un-dumpable"), or NULL. */
static const char *
net_undumpable(const struct vcha_ct *ct, char *key, size_t keylen)
{
    static const char *const ok[] = {"veth", "macvlan", "empty", "none"};

    for (unsigned i = 0;; i++) {
        const char *type;
        bool fine = false;

        snprintf(key, keylen, "lxc.net.%u.type", i);
        type = vcha_kv_get(ct->settings, key);
        if (type == NULL) {
            return NULL;
        }
        for (size_t j = 0; j < sizeof(ok) / sizeof(ok[0]); j++) {
            fine = fine || strcmp(type, ok[j]) == 0;
        }
        if (!fine) {
            return type;
        }
    }
}

int
vcha_ct_criu_check(const struct vcha_ct *ct, char *why, size_t whylen)
{
    const char *v = vcha_kv_get(ct->settings, "lxc.start.auto");
    char key[48];

    if (v != NULL && strcmp(v, "0") != 0) {
        snprintf(why, whylen,
                 "lxc.start.auto = %s in %s: LXC would start %s at boot "
                 "behind the cluster's back; set lxc.start.auto = 0",
                 v, ct->config, ct->name);
        return -EINVAL;
    }
    v = net_undumpable(ct, key, sizeof(key));
    if (v != NULL) {
        snprintf(why, whylen,
                 "%s = %s in %s: LXC cannot checkpoint such a network; "
                 "use veth, macvlan, empty or none",
                 key, v, ct->config);
        return -EINVAL;
    }
    return 0;
}

/*
 * @p fn on @p ct in liblxc's child (see ctlxc.h); on failure @p why says
 * "@p what NAME: reason", or only the reason when @p what is NULL.
 */
static int
ct_call(const struct vcha_ct *ct, enum vcha_ctlxc_mode mode, bool cancellable,
        vcha_ctlxc_fn fn, void *arg, long long deadline, const char *what,
        char *why, size_t whylen)
{
    char out[VCHA_CTLXC_OUT];
    int rc = vcha_ctlxc_call(ct->name, ct->lxcpath, mode, cancellable, fn, arg,
                             deadline, out);

    if (rc < 0 && what != NULL) {
        snprintf(why, whylen, "%s %s: %s", what, ct->name,
                 out[0] ? out : strerror(-rc));
    } else if (rc < 0) {
        snprintf(why, whylen, "%s", out[0] ? out : strerror(-rc));
    }
    return rc;
}

/* In liblxc's child: "1 PID" or "0 0". */
static int
running_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    bool on = c->is_running(c);

    (void) arg;
    snprintf(out, outlen, "%d %d", on, on ? (int) c->init_pid(c) : 0);
    return 0;
}

int
vcha_ct_running(const struct vcha_ct *ct, long long deadline, pid_t *pid)
{
    char out[VCHA_CTLXC_OUT];
    int on = 0, init = 0;
    int rc = vcha_ctlxc_call(ct->name, ct->lxcpath, VCHA_CTLXC_AS_IS, false,
                             running_fn, NULL, deadline, out);

    if (rc == 0 && sscanf(out, "%d %d", &on, &init) != 2) {
        rc = -EBADMSG;
    }
    if (rc == 0 && pid != NULL) {
        *pid = (pid_t) init;
    }
    /* RUNNING, FROZEN, or on their way there: anything but STOPPED */
    return rc < 0 ? rc : on != 0;
}

/* Whole seconds left until @p deadline, at least 1. */
static int
seconds_left(long long deadline)
{
    long long s = (deadline - vcha_now_ms()) / 1000;

    return s >= 1 ? (int) s : 1;
}

/* In liblxc's child: start daemonized, wait until it runs. */
static int
boot_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    const long long *deadline = arg;

    if (!c->want_daemonize(c, true) || !c->start(c, 0, NULL)) {
        return -EIO; /* liblxc's last line says why */
    }
    if (!c->wait(c, "RUNNING", seconds_left(*deadline))) {
        snprintf(out, outlen, "%s started but does not run", c->name);
        return -ETIME;
    }
    return 0;
}

int
vcha_ct_boot(const struct vcha_ct *ct, long long deadline, char *why,
             size_t whylen)
{
    return ct_call(ct, VCHA_CTLXC_CRIU, true, boot_fn, &deadline, deadline,
                   "liblxc could not start", why, whylen);
}

/* In liblxc's child: kill every process of it, wait until it stopped. */
static int
kill_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    const long long *deadline = arg;

    if (!c->is_running(c)) {
        return 0;
    }
    c->stop(c);
    if (!c->wait(c, "STOPPED", seconds_left(*deadline))) {
        snprintf(out, outlen, "still running after liblxc's stop");
        return -EBUSY;
    }
    return 0;
}

int
vcha_ct_kill(const struct vcha_ct *ct, long long deadline, char *why,
             size_t whylen)
{
    return ct_call(ct, VCHA_CTLXC_AS_IS, false, kill_fn, &deadline, deadline,
                   NULL, why, whylen);
}

/* In liblxc's child: run the argv in @p arg inside, its exit code. */
static int
attach_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    const char *const *argv = arg;
    lxc_attach_options_t o = LXC_ATTACH_OPTIONS_DEFAULT;
    int status;

    if (!c->is_running(c)) {
        snprintf(out, outlen, "%s does not run", c->name);
        return -ESRCH;
    }
    o.env_policy = LXC_ATTACH_CLEAR_ENV;
    status = c->attach_run_wait(c, &o, argv[0], argv);
    if (status < 0) {
        snprintf(out, outlen, "cannot run %s inside %s", argv[0], c->name);
        return -EIO;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
vcha_ct_attach(const struct vcha_ct *ct, const char *const argv[],
               long long deadline, char *why, size_t whylen)
{
    int rc = ct_call(ct, VCHA_CTLXC_AS_IS, true, attach_fn, (void *) argv,
                     deadline, NULL, why, whylen);

    if (rc == -ETIME) {
        snprintf(why, whylen, "%s did not finish in time", argv[0]);
    }
    return rc;
}

/* ------------------------------------------------------------ checkpoint */

/*
 * A local scratch directory for one container's images on their way to or
 * from the store: CRIU dumps into memory-backed /run much faster than into
 * a network store, which keeps the freeze short.
 */
static const char *
run_dir(void)
{
    const char *run = getenv("VCHA_RUN_DIR");

    return run != NULL && run[0] != '\0' ? run : "/run/vcha";
}

static int
scratch_make(const struct vcha_ct *ct, const char *what, char **path)
{
    const char *run = run_dir();
    char *base = NULL;
    int rc = 0;

    if (asprintf(&base, "%s/ct", run) < 0 ||
        asprintf(path, "%s/%s-%s", base, ct->name, what) < 0) {
        free(base);
        return -ENOMEM;
    }
    if ((mkdir(run, 0700) < 0 && errno != EEXIST) ||
        (mkdir(base, 0700) < 0 && errno != EEXIST)) {
        rc = -errno;
    } else {
        rc = vcha_file_remove_tree(*path);
        if (rc == 0 && mkdir(*path, 0700) < 0) {
            rc = -errno;
        }
    }
    free(base);
    if (rc < 0) {
        free(*path);
        *path = NULL;
    }
    return rc;
}

/*
 * Whether CRIU should lock the network with nftables: one set of rules
 * added and one table deleted, where the iptables way runs
 * iptables-restore twice (about 60 ms more per checkpoint here).  Only
 * when this CRIU can, and the nft command is there to remove the lock a
 * CRIU killed half-way leaves (see netlock_clear()).
 */
static bool
criu_nftables_lock(long long deadline)
{
    const char *argv[] = {"criu", "check", "--feature", "network_lock_nftables",
                          NULL};
    char why[256];

    return vcha_exec_find("nft") == 0 &&
           vcha_exec_until(argv, deadline, why, sizeof(why)) == 0;
}

/*
 * CRIU options LXC does not pass itself, through CRIU's configuration
 * file: keep established TCP connections; lock the network with nftables
 * where CRIU can (a restore takes the dump's way from its images); on
 * restore, mntns-compat-mode (LXC's bind mounts of the node's directories
 * fail without it).
 */
static int
criu_config(const char *dir, bool restore, long long deadline)
{
    const char *text = restore ? "tcp-established\nmntns-compat-mode\n"
                       : criu_nftables_lock(deadline)
                           ? "tcp-established\nnetwork-lock nftables\n"
                           : "tcp-established\n";
    char *path = NULL;
    int rc;

    if (asprintf(&path, "%s.criu.conf", dir) < 0) {
        return -ENOMEM;
    }
    rc = vcha_file_write_atomic(path, text, strlen(text), 0600);
    if (rc == 0 && setenv("CRIU_CONFIG_FILE", path, 1) < 0) {
        rc = -errno;
    }
    free(path);
    return rc;
}

/*
 * The container's freezer: cgroup v1's freezer.state, or cgroup v2's
 * cgroup.freeze, of the container's own cgroup (its payload), which
 * freezes every process of the container, in whatever cgroup below it a
 * process has put itself.  It is driven directly, not with lxc-freeze:
 * after a restore, LXC no longer knows the container is frozen (CRIU
 * restores it in the state it was dumped in), and lxc-unfreeze then does
 * nothing.
 */
struct freezer {
    char *control; /* file to write */
    char *state;   /* file to read */
    bool v2;
};

static void
freezer_clear(struct freezer *fz)
{
    free(fz->control);
    free(fz->state);
    memset(fz, 0, sizeof(*fz));
}

/* Where the unified (v2) hierarchy is mounted: alone, or beside v1's. */
static const char *
cgroup2_mount(void)
{
    return access("/sys/fs/cgroup/cgroup.controllers", F_OK) < 0 &&
                   access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) ==
                       0
               ? "/sys/fs/cgroup/unified"
               : "/sys/fs/cgroup";
}

/*
 * In a /proc/PID/cgroup text (cut up in place): the path in the cgroup v1
 * hierarchy that holds @p controller (*v1), and in the unified one (*v2).
 */
static void
cgroup_lines(char *text, const char *controller, char **v1, char **v2)
{
    char *save = NULL;

    *v1 = *v2 = NULL;
    for (char *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *ctl = strchr(l, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;

        if (cg == NULL) {
            continue;
        }
        *cg++ = '\0';
        if (strncmp(l, "0:", 2) == 0 && ctl[1] == '\0') {
            *v2 = cg;
        } else if (strstr(ctl + 1, controller) != NULL) {
            *v1 = cg;
        }
    }
}

/* Whether @p pid is in the cgroup namespace this process is in. */
static bool
cgroup_ns_ours(pid_t pid)
{
    char path[64];
    struct stat a, b;

    snprintf(path, sizeof(path), "/proc/%d/ns/cgroup", (int) pid);
    return stat(path, &a) < 0 || stat("/proc/self/ns/cgroup", &b) < 0 ||
           (a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/* In a child: enter @p pid's cgroup namespace, write its cgroup file out. */
static void
cgroup_ns_child(pid_t pid, int out)
{
    char path[64], *text = NULL;
    size_t len = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/ns/cgroup", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWCGROUP) < 0) {
        _exit(1);
    }
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
    if (vcha_file_read(path, &text, &len, 65536) < 0 ||
        write(out, text, len) != (ssize_t) len) {
        _exit(1);
    }
    _exit(0);
}

/*
 * /proc/PID/cgroup as @p pid's own cgroup namespace shows it (paths from
 * the namespace's root), read by a child that enters the namespace.
 */
static int
cgroup_text_in_ns(pid_t pid, char **text)
{
    char buf[65536];
    size_t len = 0;
    int p[2], status = 0;
    pid_t child;

    if (pipe2(p, O_CLOEXEC) < 0) {
        return -errno;
    }
    child = fork();
    if (child == 0) {
        close(p[0]);
        cgroup_ns_child(pid, p[1]);
    }
    close(p[1]);
    while (child > 0 && len < sizeof(buf) - 1) {
        ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
    }
    close(p[0]);
    if (child < 0 || waitpid(child, &status, 0) != child ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return -ENOTSUP;
    }
    buf[len] = '\0';
    *text = strdup(buf);
    return *text != NULL ? 0 : -ENOMEM;
}

/*
 * The container's own cgroup, from the path @p host of its init's cgroup:
 * the root of init's cgroup namespace (@p in_ns: the same path as that
 * namespace shows it), whatever cgroup below it init or any process of
 * the container has moved into.  Without a namespace of its own
 * (@p in_ns NULL): the nearest ancestor LXC named lxc.payload.  A new
 * string, or NULL.
 */
static char *
payload_path(const char *host, const char *in_ns)
{
    size_t hl = strlen(host), nl = in_ns ? strlen(in_ns) : 0;
    const char *p;

    if (in_ns != NULL && strcmp(in_ns, "/") == 0) {
        return strdup(host);
    }
    if (in_ns != NULL && nl < hl && strcmp(host + hl - nl, in_ns) == 0 &&
        in_ns[0] == '/') {
        return strndup(host, hl - nl);
    }
    p = strstr(host, "/lxc.payload");
    if (in_ns == NULL && p != NULL) {
        const char *end = strchr(p + 1, '/');

        return strndup(host, end ? (size_t) (end - host) : hl);
    }
    return NULL;
}

/*
 * The directory of the container's own cgroup (see payload_path()) in the
 * hierarchy that holds @p controller: cgroup v1's, or the unified one
 * (*@p v2) when no v1 hierarchy has it.  -ENOTSUP when it cannot be told.
 */
static int
payload_dir(pid_t pid, const char *controller, char **dir, bool *v2)
{
    char path[64], *host = NULL, *ns = NULL, *h1, *h2, *n1 = NULL, *n2 = NULL;
    char *root = NULL;
    size_t len = 0;
    int rc;

    *dir = NULL;
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
    rc = vcha_file_read(path, &host, &len, 65536);
    if (rc == 0 && !cgroup_ns_ours(pid)) {
        rc = cgroup_text_in_ns(pid, &ns);
    }
    if (rc == 0) {
        cgroup_lines(host, controller, &h1, &h2);
        if (ns != NULL) {
            cgroup_lines(ns, controller, &n1, &n2);
        }
        *v2 = h1 == NULL;
        root = h1 != NULL   ? payload_path(h1, ns ? n1 : NULL)
               : h2 != NULL ? payload_path(h2, ns ? n2 : NULL)
                            : NULL;
        /* never the whole node's */
        rc = root == NULL || strcmp(root, "/") == 0 ? -ENOTSUP : 0;
    }
    if (rc == 0 &&
        asprintf(dir, "%s%s%s", *v2 ? cgroup2_mount() : "/sys/fs/cgroup/",
                 *v2 ? "" : controller, root) < 0) {
        *dir = NULL;
        rc = -ENOMEM;
    }
    free(root);
    free(ns);
    free(host);
    return rc;
}

static int
freezer_find(pid_t pid, struct freezer *fz)
{
    char *dir = NULL;
    int rc = payload_dir(pid, "freezer", &dir, &fz->v2);

    if (rc == 0 && (asprintf(&fz->control, "%s/%s", dir,
                             fz->v2 ? "cgroup.freeze" : "freezer.state") < 0 ||
                    asprintf(&fz->state, "%s/%s", dir,
                             fz->v2 ? "cgroup.events" : "freezer.state") < 0)) {
        rc = -ENOMEM;
    }
    free(dir);
    return rc;
}

/* The memory the container's cgroup uses, in bytes, or 0 if unknown. */
static unsigned long long
memory_used(const struct vcha_ct *ct, long long deadline)
{
    unsigned long long bytes = 0;
    char *dir = NULL, *path = NULL, *text = NULL;
    pid_t pid = 0;
    size_t len = 0;
    bool v2 = false;

    if (vcha_ct_running(ct, deadline, &pid) <= 0 || pid <= 0 ||
        payload_dir(pid, "memory", &dir, &v2) < 0) {
        return 0;
    }
    if (asprintf(&path, "%s/%s", dir,
                 v2 ? "memory.current" : "memory.usage_in_bytes") < 0) {
        path = NULL;
    } else if (vcha_file_read(path, &text, &len, 64) == 0) {
        bytes = strtoull(text, NULL, 10);
    }
    free(text);
    free(path);
    free(dir);
    return bytes;
}

/*
 * The value of @p key in the "KEY VALUE" lines of the file @p dir/@p name
 * (memory.stat, cpu.stat): 0, or -ENOENT when it has no such line, or
 * -errno.
 */
static int
stat_value(const char *dir, const char *name, const char *key,
           unsigned long long *value)
{
    char *path = NULL, *text = NULL, *save = NULL;
    size_t len = 0, kl = strlen(key);
    int rc = asprintf(&path, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;

    rc = rc ? rc : vcha_file_read(path, &text, &len, 1 << 16);
    if (rc == 0) {
        rc = -ENOENT;
        for (char *l = strtok_r(text, "\n", &save); l != NULL;
             l = strtok_r(NULL, "\n", &save)) {
            if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
                *value = strtoull(l + kl + 1, NULL, 10);
                rc = 0;
                break;
            }
        }
    }
    free(text);
    free(path);
    return rc;
}

/* The first number in the file @p dir/@p name: 0 or -errno. */
static int
file_number(const char *dir, const char *name, unsigned long long *value)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    int rc = asprintf(&path, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;

    rc = rc ? rc : vcha_file_read(path, &text, &len, 64);
    if (rc == 0) {
        *value = strtoull(text, NULL, 10);
    }
    free(text);
    free(path);
    return rc;
}

int
vcha_ct_usage(const struct vcha_ct *ct, long long deadline,
              struct vcha_ct_usage *u)
{
    unsigned long long all = 0, inactive = 0, ns = 0;
    char *dir = NULL;
    pid_t pid = 0;
    bool v2 = false;
    int rc = vcha_ct_running(ct, deadline, &pid);

    memset(u, 0, sizeof(*u));
    if (rc <= 0 || pid <= 0) {
        return rc < 0 ? rc : -ESRCH;
    }
    rc = payload_dir(pid, "memory", &dir, &v2);
    rc = rc ? rc
            : file_number(dir, v2 ? "memory.current" : "memory.usage_in_bytes",
                          &all);
    if (rc == 0 && stat_value(dir, "memory.stat",
                              v2 ? "inactive_file" : "total_inactive_file",
                              &inactive) < 0) {
        inactive = 0;
    }
    u->memory = all > inactive ? all - inactive : 0;
    free(dir);
    dir = NULL;
    rc = rc ? rc : payload_dir(pid, v2 ? "cpu" : "cpuacct", &dir, &v2);
    if (rc == 0 && v2) {
        rc = stat_value(dir, "cpu.stat", "usage_usec", &u->cpu_usec);
    } else if (rc == 0) {
        rc = file_number(dir, "cpuacct.usage", &ns);
        u->cpu_usec = ns / 1000;
    }
    free(dir);
    return rc;
}

static int
freezer_write(const struct freezer *fz, bool frozen)
{
    const char *v =
        fz->v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");
    FILE *f = fopen(fz->control, "we");
    int rc = 0;

    if (f == NULL) {
        return -errno;
    }
    if (fputs(v, f) < 0) {
        rc = -EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* 1 when the whole cgroup is frozen, 0 when not (yet), or -errno. */
static int
freezer_frozen(const struct freezer *fz)
{
    char *text = NULL;
    size_t len = 0;
    int rc = vcha_file_read(fz->state, &text, &len, 65536);

    if (rc == 0) {
        rc = fz->v2 ? strstr(text, "frozen 1") != NULL
                    : strncmp(text, "FROZEN", 6) == 0;
    }
    free(text);
    return rc;
}

/* The running container's init (*@p pid) and its freezer (@p fz). */
static int
freezer_of(const struct vcha_ct *ct, long long deadline, pid_t *pid,
           struct freezer *fz, char *why, size_t whylen)
{
    int rc = vcha_ct_running(ct, deadline, pid);

    if (rc == 0 || (rc > 0 && *pid <= 0)) {
        rc = -ESRCH;
    }
    if (rc > 0) {
        rc = freezer_find(*pid, fz);
    }
    if (rc < 0) {
        snprintf(why, whylen, "cannot find the cgroup of %s: %s", ct->name,
                 rc == -ENOTSUP ? "not a container of its own" : strerror(-rc));
    }
    return rc < 0 ? rc : 0;
}

/*
 * Freeze (or thaw) the container through @p fz and, to freeze, wait until
 * the whole cgroup is (or the deadline, or a stop).  *@p written tells
 * whether the freezer was written: a freeze that was never confirmed
 * (a task in uninterruptible sleep) must be undone all the same.
 */
static int
freezer_set(const struct vcha_ct *ct, const struct freezer *fz, bool frozen,
            long long deadline, bool *written, char *why, size_t whylen)
{
    int rc = freezer_write(fz, frozen);

    *written = rc == 0;
    while (rc >= 0 && frozen && (rc = freezer_frozen(fz)) == 0) {
        if (vcha_now_ms() > deadline || vcha_exec_cancelled()) {
            rc = vcha_now_ms() > deadline ? -ETIME : -ECANCELED;
            break;
        }
        usleep(2000);
    }
    if (rc < 0) {
        snprintf(why, whylen, "cannot %s %s: %s: %s",
                 frozen ? "freeze" : "thaw", ct->name, fz->control,
                 strerror(-rc));
    }
    return rc < 0 ? rc : 0;
}

/* Thaw the container, found afresh. */
static int
thaw(const struct vcha_ct *ct, long long deadline, char *why, size_t whylen)
{
    struct freezer fz = {0};
    bool written;
    pid_t pid = 0;
    int rc = freezer_of(ct, deadline, &pid, &fz, why, whylen);

    if (rc == 0) {
        rc = freezer_set(ct, &fz, false, deadline, &written, why, whylen);
    }
    freezer_clear(&fz);
    return rc;
}

/* In liblxc's child: CRIU dumps the container into @p arg, leaving it
 * running (frozen, by vcha). */
static int
dump_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    struct migrate_opts o = {.directory = arg, .stop = false};

    (void) out;
    (void) outlen;
    return c->migrate(c, MIGRATE_DUMP, &o, sizeof(o)) == 0 ? 0 : -EIO;
}

/*
 * Dump the frozen container into @p dir; it stays frozen.  liblxc's
 * migrate, the call lxc-checkpoint makes (its processes left running,
 * CRIU_CONFIG_FILE passed on to CRIU), on the container loaded with the
 * settings CRIU needs, those it was booted with: LXC tells CRIU about the
 * console from the configuration, and lxc-checkpoint, reading the file,
 * would name a console the container does not have.
 */
static int
dump(const struct vcha_ct *ct, const char *dir, long long deadline, char *why,
     size_t whylen)
{
    return ct_call(ct, VCHA_CTLXC_CRIU, true, dump_fn, (void *) dir, deadline,
                   "CRIU's dump failed for", why, whylen);
}

/* Run @p argv (cleanup: even once told to stop) for at most @p ms. */
static int
run_cleanup(const char *const argv[], const char *input, long long ms,
            struct vcha_exec_result *res)
{
    int rc = vcha_exec(argv, input, input ? strlen(input) : 0, ms, res);

    return rc < 0 ? rc : vcha_exec_ok(res) ? 0 : -EIO;
}

/*
 * CRIU locks the container's network while it dumps (nftables table "inet
 * CRIU-<id>", or the iptables chain CRIU) and unlocks it when it ends.  A
 * CRIU killed half-way (a timeout, a stop) leaves the lock: every packet
 * of the container is dropped.  Remove what it left in the network
 * namespace of the container's init @p pid.
 */
static void
netlock_clear(const struct vcha_ct *ct, pid_t pid)
{
    static const char unlock[] = "*filter\n:CRIU - [0:0]\n-D INPUT -j CRIU\n"
                                 "-D OUTPUT -j CRIU\n-X CRIU\nCOMMIT\n";
    char target[16], *save = NULL;
    const char *list[] = {"nsenter", "-t",   target,   "-n",
                          "nft",     "list", "tables", NULL};
    const char *del[] = {"nsenter", "-t",    target, "-n", "nft",
                         "delete",  "table", "inet", NULL, NULL};
    const char *ipt[] = {"nsenter", "-t", target,      "-n",
                         NULL,      "-w", "--noflush", NULL};
    const char *chain[] = {"nsenter", "-t", target, "-n", NULL,
                           "-w",      "-S", "CRIU", NULL};
    const char *tools[][2] = {{"iptables", "iptables-restore"},
                              {"ip6tables", "ip6tables-restore"}};
    struct vcha_exec_result res = {0};

    snprintf(target, sizeof(target), "%d", (int) pid);
    if (run_cleanup(list, NULL, 5000, &res) == 0) {
        for (char *l = strtok_r(res.out, "\n", &save); l != NULL;
             l = strtok_r(NULL, "\n", &save)) {
            struct vcha_exec_result r2 = {0};

            if (strncmp(l, "table inet CRIU-", 16) != 0) {
                continue;
            }
            del[8] = l + 11;
            vcha_notice("%s: removing %s, CRIU's network lock", ct->name, l);
            run_cleanup(del, NULL, 5000, &r2);
            vcha_exec_result_clear(&r2);
        }
    }
    vcha_exec_result_clear(&res);
    for (size_t i = 0; i < 2; i++) {
        chain[4] = tools[i][0];
        ipt[4] = tools[i][1];
        if (run_cleanup(chain, NULL, 5000, &res) == 0) {
            vcha_notice("%s: removing CRIU's %s network lock", ct->name,
                        tools[i][0]);
            vcha_exec_result_clear(&res);
            run_cleanup(ipt, unlock, 5000, &res);
        }
        vcha_exec_result_clear(&res);
    }
}

/* The regular files of directory @p dir, sorted; NULL-terminated. */
static int
dir_files(const char *dir, char ***names, size_t *count)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : vcha_file_names_at(fd, true, names, count);

    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* Compress each of @p paths into "<to>/<name>.zst": one zstd process. */
static int
files_zstd(char *const *paths, size_t n, const char *to, long long deadline,
           char *why, size_t whylen)
{
    const char *head[] = {"zstd", "-q", "-1", "-T0", "--output-dir-flat", to};
    size_t nh = sizeof(head) / sizeof(head[0]);
    const char **argv = calloc(nh + n + 1, sizeof(*argv));
    int rc;

    if (argv == NULL) {
        return -ENOMEM;
    }
    memcpy(argv, head, sizeof(head));
    memcpy(argv + nh, paths, n * sizeof(*paths));
    rc = vcha_exec_until(argv, deadline, why, whylen);
    free(argv);
    return rc;
}

/* fsync each regular file of @p dir: only then are they in the store */
static int
files_sync(const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd < 0 ? -errno : vcha_file_names_at(dfd, true, &names, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        int fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0) {
            rc = -errno;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    if (dfd >= 0) {
        close(dfd);
    }
    vcha_file_names_free(names);
    return rc;
}

/* The images are copied in chunks of this size. */
#define COPY_CHUNK (1 << 20)

/*
 * Copy each file of @p paths into the directory @p to, each hashed as it
 * is written and its checksum given to the commit (vcha_genstore_known()):
 * the commit does not read the images again.
 */
static int
files_put_hashed(char *const *paths, size_t n, const char *to,
                 struct vcha_genstore *store)
{
    char *buf = malloc(COPY_CHUNK);
    int rc = buf != NULL ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char sha[32];
        char *dst = NULL;
        int in = -1, out = -1;
        uint64_t len = 0;
        struct stat st;

        if (asprintf(&dst, "%s/%s", to, strrchr(paths[i], '/') + 1) < 0) {
            rc = -ENOMEM;
            break;
        }
        in = open(paths[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0) {
            rc = -errno;
        } else {
            out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                       st.st_mode & 0777);
            rc = out < 0 ? -errno
                         : vcha_sha256_copy(in, out, buf, COPY_CHUNK, NULL,
                                            NULL, sha, &len);
        }
        if (rc == 0 && fstat(out, &st) < 0) {
            rc = -errno;
        }
        if (rc == 0) {
            rc = vcha_genstore_known(store, &st, sha);
        }
        if (out >= 0 && close(out) < 0 && rc == 0) {
            rc = -errno;
        }
        if (in >= 0) {
            close(in);
        }
        free(dst);
    }
    free(buf);
    return rc;
}

/*
 * Put the images CRIU dumped into @p from into the store's directory
 * @p to, durably: copied as they are, compressed with zstd (NAME.zst), or,
 * when CRIU dumped them there already (@p from equals @p to), only
 * flushed.  @p bytes gets their size before compression.
 */
static int
images_ship(const char *from, const char *to, enum vcha_ct_compress how,
            struct vcha_genstore *store, long long deadline,
            unsigned long long *bytes, char *why, size_t whylen)
{
    char **names = NULL, **paths = NULL;
    size_t n = 0;
    int rc = dir_files(from, &names, &n);
    bool in_place = strcmp(from, to) == 0;

    *bytes = 0;
    if (rc == 0 && (paths = calloc(n + 1, sizeof(*paths))) == NULL) {
        rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stat st;

        if (asprintf(&paths[i], "%s/%s", from, names[i]) < 0) {
            paths[i] = NULL;
            rc = -ENOMEM;
        } else if (stat(paths[i], &st) == 0) {
            *bytes += (unsigned long long) st.st_size;
        }
    }
    if (rc == 0 && !in_place && mkdir(to, 0700) < 0) {
        rc = -errno;
    }
    if (rc == 0 && !in_place && how == VCHA_CT_COMPRESS_ZSTD) {
        rc = files_zstd(paths, n, to, deadline, why, whylen);
    } else if (rc == 0 && !in_place) {
        rc = files_put_hashed(paths, n, to, store);
    }
    if (rc == 0) {
        rc = files_sync(to);
    }
    if (rc < 0 && why[0] == '\0') {
        snprintf(why, whylen, "shipping the images to %s: %s", to,
                 strerror(-rc));
    }
    vcha_file_names_free(paths);
    vcha_file_names_free(names);
    return rc;
}

/* A figure of generation @p g as a number, or -1. */
static long long
figure_ll(const struct vcha_gen_info *g, const char *key)
{
    const char *v = vcha_gen_info_figure(g, key);
    long long n = -1;

    return v != NULL && vcha_integer_parse(v, &n) == 0 ? n : -1;
}

/* One checkpoint's state, shared by its steps. */
struct ckpt {
    const struct vcha_ct *ct;
    const struct vcha_ct_ckpt *o;
    struct vcha_kv *fig;
    struct vcha_genstore *store;
    char *stage, *scratch;
    char *dump_dir; /* where CRIU writes: the stage's images, or scratch */
    char
        *prev_rootfs; /* the base's, when this node's rootfs descends from it */
    long long prev_since; /* since when this node's rootfs equals the base */
    unsigned long long prev_images; /* its image bytes, or 0 */
    bool direct; /* into the stage: uncompressed, whatever o->compress */
    long long frozen_at; /* CLOCK_REALTIME ms, just before the freeze */
    /* the changes made to the root filesystem since its copy before the
     * freeze; NULL: it is copied whole while the container is frozen */
    struct vcha_rootfs_watch *watch;
    bool precopy_failed;       /* that copy is not one to catch up */
    struct vcha_pathset *maps; /* files written with no event (see
                                  vcha_rootfs_shared_writable()) */
    char *precopy_aside;       /* that copy, moved aside for a whole one */
    struct freezer fz;
    pid_t init;  /* the container's init */
    bool frozen; /* the freezer was written: undo it, confirmed or not */
    char *why;
    size_t whylen;
};

static void
fig_ms(struct ckpt *c, const char *key, long long since)
{
    vcha_kv_setf(c->fig, key, "%lld", vcha_now_ms() - since);
}

/*
 * Whether the file system of @p dir has room for @p need bytes, with a
 * quarter more and 16 MiB to spare (images vary from one checkpoint to the
 * next).  When it cannot tell, it says yes.
 */
static bool
room_for(const char *dir, unsigned long long need)
{
    struct statvfs sv;

    if (statvfs(dir, &sv) < 0) {
        return true;
    }
    return (unsigned long long) sv.f_bavail * sv.f_frsize >=
           need + need / 4 + (16ULL << 20);
}

/*
 * The file that says which generation this node's copy of the container's
 * root filesystem descends from, and since when (this node's clock):
 * "<store>\n<gen-N>\n<dev>:<ino>\n<ms>\n" (<dev>:<ino>: the root
 * filesystem's directory).  A checkpoint that commits gen-N writes it with
 * the time it froze the container, a restore from gen-N with the time the
 * root filesystem was equal to it.  Kept under $VCHA_RUN_DIR, which a
 * reboot empties; without it (or when it names another generation) the
 * next checkpoint links nothing.
 */
static int
lineage_text(const struct vcha_ct *ct, const char *store, const char *gen,
             char **text)
{
    const char *name = strrchr(gen, '/');
    struct stat st;

    if (stat(ct->rootfs, &st) < 0) {
        return -errno;
    }
    if (asprintf(text, "%s\n%s\n%ju:%ju\n", store, name ? name + 1 : gen,
                 (uintmax_t) st.st_dev, (uintmax_t) st.st_ino) < 0) {
        *text = NULL;
        return -ENOMEM;
    }
    return 0;
}

static char *
lineage_path(const struct vcha_ct *ct)
{
    char *path = NULL;

    return asprintf(&path, "%s/ct/%s.base", run_dir(), ct->name) < 0 ? NULL
                                                                     : path;
}

/* Record (@p gen not NULL, equal since @p since_ms) or forget the lineage. */
static void
lineage_set(const struct vcha_ct *ct, const char *store, const char *gen,
            long long since_ms)
{
    char *path = lineage_path(ct), *text = NULL, *full = NULL;
    int rc = path == NULL ? -ENOMEM : 0;

    if (rc == 0 && gen == NULL) {
        rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    } else if (rc == 0 && (rc = lineage_text(ct, store, gen, &text)) == 0) {
        rc = asprintf(&full, "%s%lld\n", text, since_ms) < 0 ? -ENOMEM : 0;
        if (rc == 0) {
            rc = vcha_file_write_atomic(path, full, strlen(full), 0600);
        }
    }
    if (rc < 0) {
        vcha_warn("%s: %s: %s; the next checkpoint copies every file", ct->name,
                  path ? path : "lineage", strerror(-rc));
        if (path != NULL) {
            unlink(path);
        }
    }
    free(full);
    free(text);
    free(path);
}

/*
 * Whether this node's root filesystem descends from @p gen of @p store:
 * since when it has (*@p since_ms), or 0.
 */
static long long
lineage_since(const struct vcha_ct *ct, const char *store, const char *gen)
{
    char *path = lineage_path(ct), *want = NULL, *have = NULL;
    long long since = 0;
    size_t len = 0, wl;

    if (path != NULL && lineage_text(ct, store, gen, &want) == 0 &&
        vcha_file_read(path, &have, &len, 8192) == 0 &&
        strncmp(want, have, (wl = strlen(want))) == 0) {
        have[strcspn(have + wl, "\n") + wl] = '\0';
        if (vcha_integer_parse(have + wl, &since) < 0) {
            since = 0;
        }
    }
    free(have);
    free(want);
    free(path);
    return since > 0 ? since : 0;
}

/*
 * The base of this checkpoint: the newest generation that verifies, every
 * byte read (before the freeze), so that no damaged file is hard-linked
 * into the new one.  Its root filesystem is the link source only when this
 * node's copy descends from it; its image size is the next one's guess.
 */
static int
base_read(struct ckpt *c)
{
    struct vcha_gen_info *info = NULL;
    char *gen = NULL, *bad = NULL;
    int rc = vcha_genstore_base(c->store, &gen, &info, &bad);
    long long b;

    if (bad != NULL) {
        vcha_kv_set(c->fig, "bad_generation", bad);
    }
    if (rc == 0) {
        b = figure_ll(info, "image_bytes");
        c->prev_images = b > 0 ? (unsigned long long) b : 0;
        c->prev_since = lineage_since(c->ct, c->o->store, gen);
        vcha_kv_set(c->fig, "base", strrchr(gen, '/') + 1);
    }
    if (rc == 0 && c->prev_since > 0 &&
        asprintf(&c->prev_rootfs, "%s/" VCHA_CT_ROOTFS, gen) < 0) {
        c->prev_rootfs = NULL;
        rc = -ENOMEM;
    } else if (rc == 0 && c->prev_rootfs == NULL) {
        vcha_notice("%s: this node's root filesystem does not descend from "
                    "%s: every file is copied",
                    c->ct->name, gen);
    }
    vcha_gen_info_free(info);
    free(bad);
    free(gen);
    return rc == -ENOENT ? 0 : rc;
}

/*
 * Where CRIU writes the images.  Into local scratch (memory-backed /run)
 * when it has room for them: the freeze is shortest there (measured with
 * 256 MiB: 300 ms into tmpfs, 450 to 650 ms into the page cache of an ext4
 * store; on NFS, close() would wait for the server too), and the images
 * are compressed or copied into the store after the thaw.  Otherwise
 * straight into the stage, uncompressed: a longer freeze, but a checkpoint.
 * Jobs checkpointing at the same time each judge the room alone.
 */
static int
dump_dir_make(struct ckpt *c)
{
    /* before the first generation: as large as the container's memory */
    unsigned long long need = c->prev_images > 0
                                  ? c->prev_images
                                  : memory_used(c->ct, c->o->deadline);

    c->direct = !room_for(c->scratch, need);
    vcha_kv_set(c->fig, "dumped_into", c->direct ? "store" : "scratch");
    if (!c->direct) {
        c->dump_dir = strdup(c->scratch);
        return c->dump_dir != NULL ? 0 : -ENOMEM;
    }
    vcha_notice("%s has no room for about %llu MB of images: CRIU dumps %s "
                "straight into the store, uncompressed",
                c->scratch, need >> 20, c->ct->name);
    if (asprintf(&c->dump_dir, "%s/" VCHA_CT_IMAGES, c->stage) < 0) {
        c->dump_dir = NULL;
        return -ENOMEM;
    }
    return mkdir(c->dump_dir, 0700) < 0 ? -errno : 0;
}

/* "<stage>/rootfs", or NULL. */
static char *
stage_rootfs(const struct ckpt *c)
{
    char *rootfs = NULL;

    return asprintf(&rootfs, "%s/" VCHA_CT_ROOTFS, c->stage) < 0 ? NULL
                                                                 : rootfs;
}

/* Why this checkpoint copies the whole tree while the container is frozen. */
static void
ckpt_full(struct ckpt *c, const char *reason)
{
    vcha_kv_set(c->fig, "rootfs_copy", "full");
    vcha_kv_set(c->fig, "rootfs_full_reason", reason);
    vcha_notice("%s: its root filesystem is copied whole while it is frozen: "
                "%s",
                c->ct->name, reason);
}

/*
 * Add to c->maps the files the container writes with no event (it maps
 * them shared, or holds them open for writing), its processes found in
 * its cgroup.  0, or 1 with @p w saying why they cannot be listed.
 */
static int
ckpt_maps(struct ckpt *c, char *w, size_t wlen)
{
    char *cgroup = strdup(c->fz.state), *slash;
    int rc = cgroup != NULL ? 0 : -ENOMEM;

    if (rc == 0 && c->maps == NULL) {
        c->maps = vcha_pathset_new();
        rc = c->maps != NULL ? 0 : -ENOMEM;
    }
    if (rc == 0 && (slash = strrchr(cgroup, '/')) != NULL) {
        *slash = '\0';
        rc = vcha_rootfs_shared_writable(cgroup, c->ct->rootfs, c->maps);
        if (rc < 0 && rc != -ENOMEM) {
            snprintf(w, wlen, "cannot list the files it maps: %s",
                     strerror(-rc));
            rc = 1;
        }
    }
    free(cgroup);
    return rc;
}

/*
 * Before the freeze: watch the root filesystem, then copy it into the
 * stage while the container runs (unchanged files hard-linked from the
 * base, see vcha_rootfs_stage()).  While frozen, only what changed since
 * is copied again (ckpt_rootfs()).  Without a watch, nothing is copied
 * now: the whole tree is, frozen, as before.
 */
static int
ckpt_precopy(struct ckpt *c)
{
    struct vcha_rootfs_stats st;
    char w[512] = "", *rootfs = NULL;
    long long t;
    int rc = vcha_rootfs_watch_open(c->ct->rootfs, &c->watch, w, sizeof(w));

    if (rc < 0) {
        ckpt_full(c, w);
        return 0;
    }
    vcha_kv_set(c->fig, "tracker", vcha_rootfs_watch_mechanism(c->watch));
    /* what it maps now may be written and unmapped before the freeze */
    rc = freezer_of(c->ct, c->o->deadline, &c->init, &c->fz, c->why, c->whylen);
    if (rc == 0) {
        rc = ckpt_maps(c, w, sizeof(w));
    }
    if (rc == 1) {
        c->precopy_failed = true;
        ckpt_full(c, w);
        return 0;
    }
    rootfs = stage_rootfs(c);
    if (rc < 0 || rootfs == NULL) {
        free(rootfs);
        return rc < 0 ? rc : -ENOMEM;
    }
    t = vcha_now_ms();
    rc = vcha_rootfs_precopy(c->watch, c->prev_rootfs, c->prev_since, rootfs,
                             c->o->deadline, &st, w, sizeof(w));
    fig_ms(c, "precopy_ms", t);
    vcha_kv_setf(c->fig, "recopied", "%llu", st.recopied);
    if (rc == -EAGAIN) { /* the tree changed under it in a way rsync minds */
        c->precopy_failed = true;
        ckpt_full(c, w);
        rc = 0;
    } else if (rc < 0) {
        snprintf(c->why, c->whylen, "%s", w);
    }
    free(rootfs);
    return rc;
}

/*
 * While frozen, the tracked way: copy again what changed since the watch
 * began and every file the container writes with no event (ckpt_maps()).
 * 1 when the whole tree must be copied instead (the watch lost changes,
 * or cannot tell them apart, or rsync could not copy them), 0, or -errno.
 */
static int
ckpt_catch_up(struct ckpt *c, const char *rootfs)
{
    struct vcha_rootfs_catchup_stats st = {0};
    char w[512] = "";
    int rc = ckpt_maps(c, w, sizeof(w));

    if (rc == 0) {
        vcha_kv_setf(c->fig, "shared_maps", "%zu", vcha_pathset_count(c->maps));
        rc = vcha_rootfs_catch_up(c->watch, rootfs, c->maps, c->scratch,
                                  c->o->deadline, &st, w, sizeof(w));
        vcha_kv_setf(c->fig, "tracked_events", "%llu", st.events);
        vcha_kv_setf(c->fig, "changed_paths", "%llu", st.paths);
        if (rc == -EOVERFLOW || rc == -EMLINK || rc == -ELOOP ||
            rc == -EAGAIN) {
            rc = 1;
        } else if (rc < 0) {
            snprintf(c->why, c->whylen, "%s", w);
        }
    }
    if (rc == 1) {
        ckpt_full(c, w);
    } else if (rc == 0) {
        vcha_kv_set(c->fig, "rootfs_copy", "tracked");
    }
    return rc;
}

/*
 * While frozen: copy the root filesystem into the stage.  Tracked, only
 * what changed since the copy made before the freeze; otherwise the whole
 * tree, the files the base holds unchanged hard-linked (see
 * vcha_rootfs_stage()), the copy made before moved aside first.
 */
static int
ckpt_rootfs(struct ckpt *c)
{
    struct vcha_rootfs_stats st = {0};
    char *rootfs = stage_rootfs(c);
    long long t = vcha_now_ms();
    int rc = rootfs != NULL ? 0 : -ENOMEM;

    if (rc == 0 && c->watch != NULL && !c->precopy_failed) {
        rc = ckpt_catch_up(c, rootfs);
    } else if (rc == 0) {
        rc = 1;
    }
    if (rc == 1 && access(rootfs, F_OK) == 0) { /* a copy made before */
        if (asprintf(&c->precopy_aside, "%s.precopy", rootfs) < 0) {
            c->precopy_aside = NULL;
            rc = -ENOMEM;
        } else if (rename(rootfs, c->precopy_aside) < 0) {
            rc = -errno;
            snprintf(c->why, c->whylen, "%s: %s", rootfs, strerror(errno));
        }
    }
    if (rc == 1) {
        rc = vcha_rootfs_stage(c->ct->rootfs, c->prev_rootfs, c->prev_since,
                               rootfs, c->o->deadline, &st, c->why, c->whylen);
    }
    fig_ms(c, "copy_ms", t);
    if (c->watch == NULL || c->precopy_aside != NULL) { /* copied whole */
        vcha_kv_setf(c->fig, "recopied", "%llu", st.recopied);
    }
    free(rootfs);
    return rc;
}

/* Thaw now, unless it is the last checkpoint (and it succeeded). */
static int
ckpt_thaw(struct ckpt *c, int rc)
{
    char w[256] = "";
    bool written;

    if (!c->frozen || (c->o->final && rc == 0)) {
        return rc;
    }
    if (freezer_set(c->ct, &c->fz, false, vcha_now_ms() + 10000, &written, w,
                    sizeof(w)) == 0) {
        c->frozen = false;
    } else if (rc == 0) {
        snprintf(c->why, c->whylen, "%s", w);
        rc = -EIO;
    } else {
        vcha_err("%s", w);
    }
    return rc;
}

/*
 * freeze, dump, copy the files, thaw: memory and files of one instant.
 * Whatever fails, the container is thawed first (a run that was told to
 * stop has little time left), then the network lock of a CRIU killed
 * half-way is removed.
 */
static int
ckpt_capture(struct ckpt *c)
{
    long long t0 = vcha_now_ms(), t;
    bool dumped = false;
    int rc;

    c->frozen_at = vcha_realtime_ms();
    vcha_kv_setf(c->fig, "frozen_at", "%lld", c->frozen_at);
    rc = c->fz.state != NULL ? 0 /* found before the copy */
                             : freezer_of(c->ct, c->o->deadline, &c->init,
                                          &c->fz, c->why, c->whylen);
    if (rc == 0) {
        rc = freezer_set(c->ct, &c->fz, true, c->o->deadline, &c->frozen,
                         c->why, c->whylen);
    }
    t = vcha_now_ms();
    if (rc == 0 && !vcha_exec_cancelled()) {
        dumped = true;
        rc = dump(c->ct, c->dump_dir, c->o->deadline, c->why, c->whylen);
        fig_ms(c, "dump_ms", t);
    }
    if (rc == 0) {
        rc = ckpt_rootfs(c);
    }
    rc = ckpt_thaw(c, rc);
    fig_ms(c, "freeze_ms", t0);
    if (rc < 0 && dumped) {
        netlock_clear(c->ct, c->init); /* a CRIU killed half-way */
    }
    if (rc == 0 && c->precopy_aside != NULL) {
        rc = vcha_file_remove_tree(c->precopy_aside);
        if (rc < 0) {
            snprintf(c->why, c->whylen, "%s: %s", c->precopy_aside,
                     strerror(-rc));
        }
    }
    return rc;
}

static int
ckpt_commit(struct ckpt *c)
{
    unsigned long long bytes = 0;
    char *images = NULL, *gen = NULL;
    enum vcha_ct_compress compress =
        c->direct ? VCHA_CT_COMPRESS_NONE : c->o->compress;
    const char *how = compress == VCHA_CT_COMPRESS_ZSTD ? "zstd" : "raw";
    struct vcha_gen_figure *f = NULL;
    struct vcha_gen_meta meta = {.container = c->ct->name,
                                 .config_digest = c->ct->digest};
    long long t = vcha_now_ms();
    int rc = -ENOMEM;

    if (asprintf(&images, "%s/" VCHA_CT_IMAGES, c->stage) < 0) {
        return -ENOMEM;
    }
    rc = images_ship(c->dump_dir, images, compress, c->store, c->o->deadline,
                     &bytes, c->why, c->whylen);
    fig_ms(c, "ship_ms", t);
    vcha_kv_set(c->fig, "images", how);
    vcha_kv_setf(c->fig, "image_bytes", "%llu", bytes);
    vcha_kv_setf(c->fig, "image_mb", "%.1f", bytes / 1048576.0);
    f = calloc(vcha_kv_count(c->fig), sizeof(*f));
    if (rc == 0 && f == NULL) {
        rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < vcha_kv_count(c->fig); i++) {
        f[i].key = vcha_kv_key(c->fig, i);
        f[i].value = vcha_kv_value(c->fig, i);
    }
    meta.figures = f;
    meta.n_figures = vcha_kv_count(c->fig);
    t = vcha_now_ms();
    if (rc == 0) {
        rc = vcha_genstore_commit(c->store, &meta, c->o->keep, &gen);
        if (rc < 0) {
            snprintf(c->why, c->whylen, "committing the generation: %s",
                     strerror(-rc));
        }
    }
    fig_ms(c, "commit_ms", t);
    if (rc == 0) { /* the retired generation's files, apart */
        t = vcha_now_ms();
        vcha_genstore_sweep(c->store);
        fig_ms(c, "sweep_ms", t);
    }
    if (gen != NULL) {
        const char *base = strrchr(gen, '/');

        vcha_kv_set(c->fig, "generation", base != NULL ? base + 1 : gen);
        if (rc == 0) {
            lineage_set(c->ct, c->o->store, gen, c->frozen_at);
        }
    }
    free(f);
    free(gen);
    free(images);
    return rc;
}

int
vcha_ct_checkpoint(const struct vcha_ct *ct, const struct vcha_ct_ckpt *o,
                   struct vcha_kv *figures, char *why, size_t whylen)
{
    struct ckpt c = {
        .ct = ct, .o = o, .fig = figures, .why = why, .whylen = whylen};
    long long t0 = vcha_now_ms();
    int rc;

    why[0] = '\0';
    rc = vcha_genstore_open(o->store, &c.store);
    if (rc < 0) {
        snprintf(why, whylen, "store %s: %s", o->store,
                 rc == -EBUSY ? "another checkpoint is being written"
                              : strerror(-rc));
        return rc;
    }
    rc = base_read(&c);
    if (rc == 0) {
        rc = vcha_genstore_stage(c.store, &c.stage);
    }
    if (rc == 0) {
        rc = scratch_make(ct, "dump", &c.scratch);
    }
    if (rc == 0) {
        rc = dump_dir_make(&c);
    }
    if (rc == 0) {
        rc = criu_config(c.scratch, false, o->deadline);
    }
    if (rc < 0 && why[0] == '\0') {
        snprintf(why, whylen, "preparing the checkpoint: %s", strerror(-rc));
    }
    if (rc == 0) {
        rc = ckpt_precopy(&c);
    }
    if (rc == 0) {
        rc = ckpt_capture(&c);
    }
    if (rc == 0) {
        rc = ckpt_commit(&c);
    }
    /* a failed last checkpoint leaves the container running: a stop
     * kills it next, a failed migration keeps it here */
    rc = ckpt_thaw(&c, rc);
    if (rc < 0) {
        vcha_genstore_abort(c.store);
    }
    fig_ms(&c, "total_ms", t0);
    if (c.scratch != NULL) {
        vcha_file_remove_tree(c.scratch);
    }
    vcha_rootfs_watch_close(c.watch);
    vcha_pathset_free(c.maps);
    free(c.precopy_aside);
    free(c.scratch);
    free(c.dump_dir);
    free(c.prev_rootfs);
    free(c.stage);
    freezer_clear(&c.fz);
    vcha_genstore_free(c.store);
    return rc;
}

/* compress=auto times both ways once every this many generations. */
#define AUTO_TRIAL_EVERY 16

/*
 * Compress when the images were shipped to the store
 * faster per byte with zstd than without, judged from the newest
 * generation shipped each way; every AUTO_TRIAL_EVERY generations, and
 * while one way has never been timed, ship the other way to time it.
 */
enum vcha_ct_compress
vcha_ct_compress_auto(const char *store)
{
    struct vcha_gen_info *gens = NULL;
    double per_byte[2] = {-1, -1};
    size_t n = 0;
    enum vcha_ct_compress c = VCHA_CT_COMPRESS_NONE;
    uint64_t next = 1;

    if (vcha_genstore_list(store, &gens, &n) < 0 || n == 0) {
        return VCHA_CT_COMPRESS_NONE;
    }
    next = gens[0].number + 1;
    for (size_t i = 0; i < n; i++) {
        const char *how = vcha_gen_info_figure(&gens[i], "images");
        long long ms = figure_ll(&gens[i], "ship_ms");
        long long bytes = figure_ll(&gens[i], "image_bytes");
        int k = how != NULL && strcmp(how, "zstd") == 0;

        if (per_byte[k] < 0 && ms >= 0 && bytes > 0) {
            per_byte[k] = (double) (ms + 1) / (double) bytes;
        }
    }
    vcha_gen_list_free(gens, n);
    if (per_byte[0] < 0 || per_byte[1] < 0) {
        c = per_byte[0] < 0 ? VCHA_CT_COMPRESS_NONE : VCHA_CT_COMPRESS_ZSTD;
    } else if (next % AUTO_TRIAL_EVERY == 0) {
        c = per_byte[1] < per_byte[0] ? VCHA_CT_COMPRESS_NONE
                                      : VCHA_CT_COMPRESS_ZSTD;
    } else {
        c = per_byte[1] < per_byte[0] ? VCHA_CT_COMPRESS_ZSTD
                                      : VCHA_CT_COMPRESS_NONE;
    }
    return c;
}

/* ------------------------------------------------------------ restore */

/*
 * The generation this node's root filesystem descends from (its name in
 * *@p name; free() it) and since when (see lineage_text()), or 0.
 */
static long long
lineage_read(const struct vcha_ct *ct, const char *store, char **name)
{
    char *path = lineage_path(ct), *text = NULL, *g, *end;
    long long since = 0;
    size_t len = 0;

    *name = NULL;
    if (path != NULL && vcha_file_read(path, &text, &len, 8192) == 0 &&
        (g = strchr(text, '\n')) != NULL && (end = strchr(++g, '\n')) != NULL &&
        (*name = strndup(g, (size_t) (end - g))) != NULL) {
        since = lineage_since(ct, store, *name);
    }
    free(text);
    free(path);
    return since;
}

/*
 * The MANIFEST of the generation @p name of @p store that this node's
 * root filesystem descends from: @p m itself, or read (NULL when it is
 * gone or unreadable: then nothing is proven by the lineage).
 */
static const struct vcha_gen_manifest *
lineage_manifest(const char *store, const char *name,
                 const struct vcha_gen_manifest *m,
                 struct vcha_gen_manifest **own)
{
    char *path = NULL;

    *own = NULL;
    if (strcmp(name, strrchr(m->info.path, '/') + 1) == 0) {
        return m;
    }
    if (asprintf(&path, "%s/%s", store, name) < 0) {
        return NULL;
    }
    if (vcha_gen_manifest_read(path, 0, own, NULL) < 0) {
        vcha_notice("%s: unreadable; this node's files are compared by "
                    "checksum",
                    path);
    }
    free(path);
    return *own;
}

static void
restore_figures(struct vcha_kv *fig, const struct vcha_restore_stats *s)
{
    if (fig != NULL) {
        vcha_kv_setf(fig, "files_proven", "%llu", s->proven);
        vcha_kv_setf(fig, "files_hashed", "%llu", s->hashed);
        vcha_kv_setf(fig, "files_fetched", "%llu", s->fetched);
        vcha_kv_setf(fig, "bytes_fetched", "%llu", s->fetched_bytes);
        vcha_kv_setf(fig, "bytes_hashed", "%llu", s->hashed_bytes);
        vcha_kv_setf(fig, "files_removed", "%llu", s->removed);
    }
}

/*
 * Make the container's root filesystem equal to generation @p m's, each
 * file checked against its MANIFEST (see vcha_restore_tree()); what this
 * node's lineage proves is not read.  Once equal, the root filesystem
 * descends from @p m.  A failure leaves the lineage as it was: every
 * inode the restore changed has a newer ctime than it records, so it
 * still proves what it proved (see lineage_text()).
 */
static int
rootfs_restore(const struct vcha_ct *ct, const struct vcha_gen_manifest *m,
               long long deadline, struct vcha_kv *fig, char *why,
               size_t whylen)
{
    const char *gen = m->info.path;
    char *store = strndup(gen, (size_t) (strrchr(gen, '/') - gen));
    char *name = NULL;
    struct vcha_gen_manifest *own = NULL;
    struct vcha_restore_lineage lin = {0};
    struct vcha_restore_stats st = {0};
    int rc;

    if (store == NULL) {
        return -ENOMEM;
    }
    lin.since_ms = lineage_read(ct, store, &name);
    if (lin.since_ms > 0) {
        lin.prev = lineage_manifest(store, name, m, &own);
    }
    rc = vcha_restore_tree(m, VCHA_CT_ROOTFS, ct->rootfs, &lin, 0, deadline,
                           &st, why, whylen);
    restore_figures(fig, &st);
    if (rc == 0) {
        lineage_set(ct, store, gen, vcha_realtime_ms());
    }
    vcha_gen_manifest_free(own);
    free(name);
    free(store);
    return rc;
}

/*
 * After CRIU's restore the container is in the state it was dumped in:
 * frozen (checkpoints freeze it before the dump).  Thaw it, unless it is
 * to stay @p frozen.
 */
static int
restored_resume(const struct vcha_ct *ct, long long deadline, bool frozen,
                char *why, size_t whylen)
{
    pid_t pid = 0;
    int rc = vcha_ct_running(ct, deadline, &pid);

    if (rc <= 0 || pid <= 0) {
        snprintf(why, whylen, "not running after the restore");
        return -ESRCH;
    }
    return frozen ? 0 : thaw(ct, deadline, why, whylen);
}

/* In liblxc's child: CRIU restores the container from @p arg. */
static int
restore_fn(struct lxc_container *c, void *arg, char *out, size_t outlen)
{
    struct migrate_opts o = {.directory = arg};

    (void) out;
    (void) outlen;
    return c->migrate(c, MIGRATE_RESTORE, &o, sizeof(o)) == 0 ? 0 : -EIO;
}

/*
 * CRIU restores the container from the images in @p dir, through liblxc,
 * which makes its cgroups, network and monitor around it (what
 * lxc-checkpoint -r does, with the same call), on the container loaded
 * with the settings CRIU needs: those it was booted and dumped with, so
 * that what the images expect (no console, no ttys, no AppArmor profile
 * where the kernel has none) is what LXC prepares.  CRIU reads its
 * configuration file from CRIU_CONFIG_FILE (criu_config()), which liblxc
 * passes on.
 */
static int
criu_restore(const struct vcha_ct *ct, const char *dir, long long deadline,
             char *why, size_t whylen)
{
    return ct_call(ct, VCHA_CTLXC_CRIU, true, restore_fn, (void *) dir,
                   deadline, "CRIU's restore failed for", why, whylen);
}

/*
 * Where CRIU reads the images of generation @p gen from, made empty:
 * local scratch (@p scratch) when the images are compressed and it has
 * room for them, since decompressing them onto a network file system
 * would be slow; otherwise a directory of this node's beside the
 * generations, ".restore-NODE", where the uncompressed images are hard
 * links (nothing copied, nothing held in memory) and the others are
 * decompressed.  CRIU adds its log there; the generation itself is never
 * written.
 */
static int
restore_dir_make(const char *gen, const struct vcha_gen_info *info,
                 bool compressed, const char *scratch, char **dir)
{
    long long need = info != NULL ? figure_ll(info, "image_bytes") : -1;
    const char *slash = strrchr(gen, '/');
    struct utsname un;
    int rc;

    *dir = NULL;
    if (compressed &&
        room_for(scratch, need > 0 ? (unsigned long long) need : 0)) {
        *dir = strdup(scratch);
        return *dir != NULL ? 0 : -ENOMEM;
    }
    if (slash == NULL || uname(&un) < 0) {
        return -EINVAL;
    }
    if (asprintf(dir, "%.*s/.restore-%s", (int) (slash - gen), gen,
                 un.nodename) < 0) {
        *dir = NULL;
        return -ENOMEM;
    }
    rc = vcha_file_remove_tree(*dir);
    if (rc == 0 && mkdir(*dir, 0700) < 0) {
        rc = -errno;
    }
    return rc;
}

/* Whether the generation holds compressed images. */
static bool
images_compressed(const struct vcha_gen_manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *p = m->entries[i].path;
        size_t len = strlen(p);

        if (strncmp(p, VCHA_CT_IMAGES "/", sizeof(VCHA_CT_IMAGES)) == 0 &&
            len > 4 && strcmp(p + len - 4, ".zst") == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The generation's MANIFEST, its tree checked (nothing read yet: the
 * images and the files are checked as they are read).
 */
static int
restore_manifest(const char *gen, struct vcha_gen_manifest **m, char *why,
                 size_t whylen)
{
    char *bad = NULL;
    int rc = vcha_gen_manifest_read(gen, VCHA_GEN_SIZES_ONLY, m, &bad);

    if (rc < 0) {
        snprintf(why, whylen, "%s: %s", gen, bad ? bad : strerror(-rc));
    }
    free(bad);
    return rc;
}

/* vcha_ct_restore(), and thawed unless @p frozen. */
static int
restore_gen(const struct vcha_ct *ct, const char *gen,
            const struct vcha_gen_info *info, long long deadline, bool frozen,
            struct vcha_kv *figures, char *why, size_t whylen)
{
    char *scratch = NULL, *dir = NULL;
    struct vcha_gen_manifest *m = NULL;
    long long t = vcha_now_ms();
    bool criu_ran = false;
    int rc;

    why[0] = '\0';
    rc = restore_manifest(gen, &m, why, whylen);
    if (rc < 0) {
        return rc;
    }
    rc = scratch_make(ct, "restore", &scratch);
    if (rc == 0) {
        rc = restore_dir_make(gen, info, images_compressed(m), scratch, &dir);
    }
    if (rc < 0) {
        snprintf(why, whylen, "a directory for the images: %s", strerror(-rc));
        vcha_gen_manifest_free(m);
        free(scratch);
        free(dir);
        return rc;
    }
    rc = vcha_restore_files(m, VCHA_CT_IMAGES, dir, strcmp(dir, scratch) != 0,
                            0, deadline, why, whylen);
    if (rc < 0 && rc != -EBADMSG) {
        size_t len = strlen(why);

        snprintf(why + len, whylen - len, " (the images of %s)", gen);
    }
    if (rc == 0) {
        rc = rootfs_restore(ct, m, deadline, figures, why, whylen);
    }
    vcha_gen_manifest_free(m);
    if (figures != NULL) {
        vcha_kv_setf(figures, "copy_ms", "%lld", vcha_now_ms() - t);
    }
    t = vcha_now_ms();
    if (rc == 0 && (rc = criu_config(scratch, true, deadline)) < 0) {
        snprintf(why, whylen, "CRIU configuration: %s", strerror(-rc));
    }
    if (rc == 0) {
        vcha_info("%s: files of %s in place; CRIU restores", ct->name, gen);
        criu_ran = true;
        rc = criu_restore(ct, dir, deadline, why, whylen);
    }
    if (rc == 0) {
        vcha_info("%s: CRIU restored it%s", ct->name,
                  frozen ? ", frozen" : "; thawing");
        rc = restored_resume(ct, deadline, frozen, why, whylen);
    }
    if (figures != NULL) {
        vcha_kv_setf(figures, "restore_ms", "%lld", vcha_now_ms() - t);
    }
    if (rc < 0) {
        size_t len = strlen(why);
        char w[256] = "";

        if (criu_ran) { /* keep CRIU's log for whoever looks into it */
            snprintf(why + len, whylen - len, " (CRIU's log: %s/restore.log)",
                     dir);
        }
        vcha_ct_kill(ct, deadline, w, sizeof(w));
    }
    if (rc == 0 || !criu_ran) {
        vcha_file_remove_tree(dir);
    }
    if (strcmp(dir, scratch) != 0) {
        vcha_file_remove_tree(scratch);
    }
    free(dir);
    free(scratch);
    return rc;
}

int
vcha_ct_restore(const struct vcha_ct *ct, const char *gen,
                const struct vcha_gen_info *info, long long deadline,
                struct vcha_kv *figures, char *why, size_t whylen)
{
    return restore_gen(ct, gen, info, deadline, false, figures, why, whylen);
}

int
vcha_ct_restore_frozen(const struct vcha_ct *ct, const char *gen,
                       const struct vcha_gen_info *info, long long deadline,
                       struct vcha_kv *figures, char *why, size_t whylen)
{
    return restore_gen(ct, gen, info, deadline, true, figures, why, whylen);
}

int
vcha_ct_thaw(const struct vcha_ct *ct, long long deadline, char *why,
             size_t whylen)
{
    why[0] = '\0';
    return thaw(ct, deadline, why, whylen);
}
