/* vcha - LXC containers checkpointed with CRIU: configuration and life. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/log.h>
#include <vcha/param.h>

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
    free(ct);
}

/* Trim blanks at both ends of @p s in place. */
static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

/*
 * The directory lxc.rootfs.path names ("dir:" prefix or none; the last
 * setting wins, as in LXC).  Other storage types are not supported: the
 * root filesystem is copied file by file.
 */
static int
rootfs_find(char *text, char **rootfs, char *why, size_t whylen)
{
    char *save = NULL, *found = NULL;

    for (char *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');

        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        if (strcmp(trim(l), "lxc.rootfs.path") == 0) {
            found = trim(eq + 1);
        }
    }
    if (found != NULL && strncmp(found, "dir:", 4) == 0) {
        found += 4;
    }
    if (found == NULL || found[0] != '/') {
        snprintf(why, whylen, "lxc.rootfs.path is not set to a directory");
        return -EINVAL;
    }
    *rootfs = strdup(found);
    return *rootfs != NULL ? 0 : -ENOMEM;
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
    rc = vcha_file_read(ct->config, &text, &len, MAX_CONFIG);
    if (rc < 0) {
        snprintf(why, whylen, "%s: %s", ct->config, strerror(-rc));
        goto done;
    }
    if (vcha_sha256_hex(text, len, ct->digest) < 0) {
        ct->digest[0] = '\0';
    }
    rc = rootfs_find(text, &ct->rootfs, why, whylen);
done:
    free(text);
    if (rc < 0) {
        vcha_ct_free(ct);
    } else {
        *out = ct;
    }
    return rc;
}

/* "State:   RUNNING\nPID:   1234\n" (lxc-info -s -p): 1 running, 0 not */
static int
info_parse(const char *out, pid_t *pid)
{
    const char *state = strstr(out, "State:");
    const char *p = strstr(out, "PID:");

    if (state == NULL) {
        return -EBADMSG;
    }
    state += strspn(state + 6, " \t") + 6;
    if (pid != NULL) {
        *pid = p != NULL ? (pid_t) atol(p + 4) : 0;
    }
    /* RUNNING, FROZEN, or on their way: STARTING, FREEZING, THAWED */
    return strncmp(state, "STOPPED", 7) != 0;
}

int
vcha_ct_running(const struct vcha_ct *ct, long long deadline, pid_t *pid)
{
    const char *argv[] = {"lxc-info",  "-n", ct->name, "-P",
                          ct->lxcpath, "-s", "-p",     NULL};
    struct vcha_exec_result res = {0};
    long long left = deadline - vcha_now_ms();
    int rc;

    rc = vcha_exec(argv, NULL, 0, left > 0 ? left : 1, &res);
    if (rc == 0 && res.timed_out) {
        rc = -ETIME;
    } else if (rc == 0 && !vcha_exec_ok(&res)) {
        rc = -EIO;
    } else if (rc == 0) {
        rc = info_parse(res.out, pid);
    }
    vcha_exec_result_clear(&res);
    return rc;
}

int
vcha_ct_boot(const struct vcha_ct *ct, long long deadline, char *why,
             size_t whylen)
{
    const char *argv[] = {"lxc-start", "-n", ct->name, "-P",
                          ct->lxcpath, "-d", NULL};
    const char *wait[] = {"lxc-wait", "-n",      ct->name, "-P", ct->lxcpath,
                          "-s",       "RUNNING", "-t",     "30", NULL};
    int rc = vcha_exec_until(argv, deadline, why, whylen);

    return rc < 0 ? rc : vcha_exec_until(wait, deadline, why, whylen);
}

int
vcha_ct_kill(const struct vcha_ct *ct, long long deadline, char *why,
             size_t whylen)
{
    const char *argv[] = {"lxc-stop",  "-n",     ct->name, "-P",
                          ct->lxcpath, "--kill", NULL};
    int rc = vcha_ct_running(ct, deadline, NULL);

    if (rc == 0) {
        return 0;
    }
    vcha_exec_until(argv, deadline, why, whylen);
    rc = vcha_ct_running(ct, deadline, NULL);
    if (rc > 0) {
        if (why[0] == '\0') {
            snprintf(why, whylen, "still running after lxc-stop --kill");
        }
        return -EBUSY;
    }
    return rc;
}

int
vcha_ct_attach(const struct vcha_ct *ct, const char *const argv[],
               long long deadline, char *why, size_t whylen)
{
    const char *head[] = {"lxc-attach", "-n",          ct->name, "-P",
                          ct->lxcpath,  "--clear-env", "--"};
    size_t nh = sizeof(head) / sizeof(head[0]), n = 0;
    struct vcha_exec_result res = {0};
    long long left = deadline - vcha_now_ms();
    const char **full;
    int rc;

    while (argv[n] != NULL) {
        n++;
    }
    full = calloc(nh + n + 1, sizeof(*full));
    if (full == NULL) {
        return -ENOMEM;
    }
    memcpy(full, head, sizeof(head));
    memcpy(full + nh, argv, n * sizeof(*argv));
    rc = vcha_exec(full, NULL, 0, left > 0 ? left : 1, &res);
    if (rc < 0) {
        snprintf(why, whylen, "cannot run lxc-attach: %s", strerror(-rc));
    } else if (res.timed_out) {
        snprintf(why, whylen, "%s did not finish in time", argv[0]);
        rc = -ETIME;
    } else {
        rc = res.exit_code < 0 ? 128 + res.signal : res.exit_code;
    }
    vcha_exec_result_clear(&res);
    free(full);
    return rc;
}

/* ------------------------------------------------------------ checkpoint */

/*
 * A local scratch directory for one container's images on their way to or
 * from the store: CRIU dumps into memory-backed /run much faster than into
 * a network store, which keeps the freeze short.
 */
static int
scratch_make(const struct vcha_ct *ct, const char *what, char **path)
{
    const char *run = getenv("VCHA_RUN_DIR");
    char *base = NULL;
    int rc = 0;

    if (run == NULL || run[0] == '\0') {
        run = "/run/vcha";
    }
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
 * Whether this CRIU can lock the network with nftables: one set of rules
 * added and one table deleted, where the iptables way runs
 * iptables-restore twice (about 60 ms more per checkpoint here).
 */
static bool
criu_nftables_lock(long long deadline)
{
    const char *argv[] = {"criu", "check", "--feature", "network_lock_nftables",
                          NULL};
    char why[256];

    return vcha_exec_until(argv, deadline, why, sizeof(why)) == 0;
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
 * The container's freezer, found from its init's cgroup: cgroup v1's
 * freezer.state, or cgroup v2's cgroup.freeze.  It is driven directly, not
 * with lxc-freeze: after a restore, LXC no longer knows the container is
 * frozen (CRIU restores it in the state it was dumped in), and lxc-unfreeze
 * then does nothing.
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

/*
 * The cgroup of @p pid that holds @p controller: its directory under
 * /sys/fs/cgroup (a new string), and whether it is cgroup v2's (when no v1
 * hierarchy has the controller).  -ENOTSUP when there is none.
 */
static int
cgroup_dir(pid_t pid, const char *controller, char **dir, bool *v2)
{
    char path[64], *text = NULL, *save = NULL, *in_v1 = NULL, *in_v2 = NULL;
    size_t len = 0;
    int rc;

    *dir = NULL;
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
    rc = vcha_file_read(path, &text, &len, 65536);
    for (char *l = rc == 0 ? strtok_r(text, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *ctl = strchr(l, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;

        if (cg == NULL) {
            continue;
        }
        *cg++ = '\0';
        if (strncmp(l, "0:", 2) == 0 && ctl[1] == '\0') {
            in_v2 = cg;
        } else if (strstr(ctl, controller) != NULL) {
            in_v1 = cg;
        }
    }
    *v2 = in_v1 == NULL;
    if (rc == 0 && (in_v1 != NULL || in_v2 != NULL)) {
        if ((in_v1 != NULL &&
             asprintf(dir, "/sys/fs/cgroup/%s%s", controller, in_v1) < 0) ||
            (in_v1 == NULL && asprintf(dir, "/sys/fs/cgroup%s", in_v2) < 0)) {
            *dir = NULL;
            rc = -ENOMEM;
        }
    } else if (rc == 0) {
        rc = -ENOTSUP;
    }
    free(text);
    return rc;
}

static int
freezer_find(pid_t pid, struct freezer *fz)
{
    char *dir = NULL;
    int rc = cgroup_dir(pid, "freezer", &dir, &fz->v2);

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
        cgroup_dir(pid, "memory", &dir, &v2) < 0) {
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

/* Freeze (or thaw) the container and wait until it is. */
static int
freeze(const struct vcha_ct *ct, bool frozen, long long deadline, char *why,
       size_t whylen)
{
    struct freezer fz = {0};
    pid_t pid = 0;
    int rc = vcha_ct_running(ct, deadline, &pid);

    if (rc == 0 || (rc > 0 && pid <= 0)) {
        rc = -ESRCH;
    }
    if (rc > 0) {
        rc = freezer_find(pid, &fz);
    }
    if (rc >= 0) {
        rc = freezer_write(&fz, frozen);
    }
    while (rc >= 0 && frozen && (rc = freezer_frozen(&fz)) == 0) {
        if (vcha_now_ms() > deadline) {
            rc = -ETIME;
            break;
        }
        usleep(2000);
    }
    if (rc < 0) {
        snprintf(why, whylen, "cannot %s %s: %s", frozen ? "freeze" : "thaw",
                 ct->name, fz.control ? fz.control : strerror(-rc));
        if (fz.control != NULL) {
            size_t l = strlen(why);

            snprintf(why + l, whylen - l, ": %s", strerror(-rc));
        }
    }
    freezer_clear(&fz);
    return rc < 0 ? rc : 0;
}

/* Dump the frozen container into @p dir; it stays frozen. */
static int
dump(const struct vcha_ct *ct, const char *dir, long long deadline, char *why,
     size_t whylen)
{
    const char *argv[] = {"lxc-checkpoint", "-n", ct->name, "-P",
                          ct->lxcpath,      "-D", dir,      NULL};

    return vcha_exec_until(argv, deadline, why, whylen);
}

/* Copy the root filesystem into @p dst, hard-linking what @p prev has. */
static int
rootfs_copy(const char *src, const char *prev, const char *dst,
            long long deadline, char *why, size_t whylen)
{
    char *from = NULL, *link = NULL;
    const char *argv[] = {
        "rsync", "-aH", "--numeric-ids", "--delete", NULL, NULL, NULL, NULL};
    size_t n = 4;
    int rc;

    if (asprintf(&from, "%s/", src) < 0 ||
        (prev != NULL && asprintf(&link, "--link-dest=%s", prev) < 0)) {
        free(from);
        return -ENOMEM;
    }
    if (link != NULL) {
        argv[n++] = link;
    }
    argv[n++] = from;
    argv[n++] = dst;
    rc = vcha_exec_until(argv, deadline, why, whylen);
    free(from);
    free(link);
    return rc;
}

/* Plain read and write, for where copy_file_range() cannot go. */
static int
fd_copy_rw(int in, int out)
{
    char buf[1 << 16];

    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf)), w = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : 0;
        }
        while (w < n) {
            ssize_t k = write(out, buf + w, (size_t) (n - w));

            if (k < 0 && errno != EINTR) {
                return -errno;
            }
            w += k > 0 ? k : 0;
        }
    }
}

/* Copy @p size bytes from @p in to @p out: in the kernel when it can. */
static int
fd_copy(int in, int out, off_t size)
{
    for (off_t left = size; left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t) left, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP ||
                      errno == ENOSYS || errno == EINVAL)) {
            return fd_copy_rw(in, out); /* across file systems */
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        left -= n;
    }
    return 0;
}

/* Copy regular file @p src to new file @p dst (never following links). */
static int
file_copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = 0;
    struct stat st;

    if (in < 0 || fstat(in, &st) < 0) {
        rc = -errno;
        goto done;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0) {
        rc = -errno;
        goto done;
    }
    rc = fd_copy(in, out, st.st_size);
done:
    if (in >= 0) {
        close(in);
    }
    if (out >= 0 && close(out) < 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
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

/*
 * Each of @p paths into directory @p to, under its own name: hard-linked
 * (@p hard) where the file system can, copied otherwise.
 */
static int
files_put(char *const *paths, size_t n, const char *to, bool hard)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *dst = NULL;

        if (asprintf(&dst, "%s/%s", to, strrchr(paths[i], '/') + 1) < 0) {
            return -ENOMEM;
        }
        if (!hard || link(paths[i], dst) < 0) {
            rc = !hard || errno == EXDEV || errno == EPERM ||
                         errno == EOPNOTSUPP || errno == EMLINK
                     ? file_copy(paths[i], dst)
                     : -errno;
        }
        free(dst);
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

/*
 * Put the images CRIU dumped into @p from into the store's directory
 * @p to, durably: copied as they are, compressed with zstd (NAME.zst), or,
 * when CRIU dumped them there already (@p from equals @p to), only
 * flushed.  @p bytes gets their size before compression.
 */
static int
images_ship(const char *from, const char *to, enum vcha_ct_compress how,
            long long deadline, unsigned long long *bytes, char *why,
            size_t whylen)
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
        rc = files_put(paths, n, to, false);
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
    char *dump_dir;    /* where CRIU writes: the stage's images, or scratch */
    char *prev_rootfs; /* the newest generation's, or NULL */
    unsigned long long prev_images; /* its image bytes, or 0 */
    bool direct; /* into the stage: uncompressed, whatever o->compress */
    bool frozen;
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
 * From the store's newest generation: its rootfs, for rsync --link-dest,
 * and the size of its images, which the next ones will be close to.
 */
static int
newest_read(struct ckpt *c)
{
    struct vcha_gen_info *gens = NULL;
    size_t n = 0;
    int rc = 0;

    if (vcha_genstore_list(c->o->store, &gens, &n) == 0 && n > 0) {
        long long b = figure_ll(&gens[0], "image_bytes");

        c->prev_images = b > 0 ? (unsigned long long) b : 0;
        if (asprintf(&c->prev_rootfs, "%s/" VCHA_CT_ROOTFS, gens[0].path) < 0) {
            c->prev_rootfs = NULL;
            rc = -ENOMEM;
        }
    }
    vcha_gen_list_free(gens, n);
    return rc;
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

/* freeze, dump, copy the files, thaw: memory and files of one instant */
static int
ckpt_capture(struct ckpt *c)
{
    char *rootfs = NULL;
    long long t0 = vcha_now_ms(), t;
    int rc;

    vcha_kv_setf(c->fig, "frozen_at", "%lld", vcha_realtime_ms());
    rc = freeze(c->ct, true, c->o->deadline, c->why, c->whylen);
    c->frozen = rc == 0;
    t = vcha_now_ms();
    if (rc == 0) {
        rc = dump(c->ct, c->dump_dir, c->o->deadline, c->why, c->whylen);
        fig_ms(c, "dump_ms", t);
    }
    t = vcha_now_ms();
    if (rc == 0 && asprintf(&rootfs, "%s/" VCHA_CT_ROOTFS, c->stage) < 0) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = rootfs_copy(c->ct->rootfs, c->prev_rootfs, rootfs, c->o->deadline,
                         c->why, c->whylen);
        fig_ms(c, "copy_ms", t);
    }
    if (c->frozen && !c->o->final) {
        char w[256] = "";

        if (freeze(c->ct, false, c->o->deadline, w, sizeof(w)) == 0) {
            c->frozen = false;
        } else if (rc == 0) {
            snprintf(c->why, c->whylen, "%s", w);
            rc = -EIO;
        }
    }
    fig_ms(c, "freeze_ms", t0);
    free(rootfs);
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
    rc = images_ship(c->dump_dir, images, compress, c->o->deadline, &bytes,
                     c->why, c->whylen);
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
    if (gen != NULL) {
        const char *base = strrchr(gen, '/');

        vcha_kv_set(c->fig, "generation", base != NULL ? base + 1 : gen);
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
    rc = newest_read(&c);
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
        rc = ckpt_capture(&c);
    }
    if (rc == 0) {
        rc = ckpt_commit(&c);
    }
    if (c.frozen && !o->final) {
        char w[256];

        freeze(ct, false, vcha_now_ms() + 10000, w, sizeof(w));
    }
    if (rc < 0) {
        vcha_genstore_abort(c.store);
    }
    fig_ms(&c, "total_ms", t0);
    if (c.scratch != NULL) {
        vcha_file_remove_tree(c.scratch);
    }
    free(c.scratch);
    free(c.dump_dir);
    free(c.prev_rootfs);
    free(c.stage);
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

/* The images of a generation: the uncompressed ones and the .zst ones. */
struct images {
    char **raw, **zst; /* paths, NULL-terminated */
    size_t nr, nz;
};

static void
images_free(struct images *im)
{
    vcha_file_names_free(im->raw);
    vcha_file_names_free(im->zst);
}

static int
images_list(const char *gen, struct images *im)
{
    char *from = NULL, **names = NULL;
    size_t n = 0;
    int rc;

    memset(im, 0, sizeof(*im));
    if (asprintf(&from, "%s/" VCHA_CT_IMAGES, gen) < 0) {
        return -ENOMEM;
    }
    rc = dir_files(from, &names, &n);
    if (rc == 0 && ((im->raw = calloc(n + 1, sizeof(char *))) == NULL ||
                    (im->zst = calloc(n + 1, sizeof(char *))) == NULL)) {
        rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strlen(names[i]);
        bool z = len > 4 && strcmp(names[i] + len - 4, ".zst") == 0;
        char **slot = z ? &im->zst[im->nz++] : &im->raw[im->nr++];

        if (asprintf(slot, "%s/%s", from, names[i]) < 0) {
            *slot = NULL;
            rc = -ENOMEM;
        }
    }
    vcha_file_names_free(names);
    free(from);
    return rc;
}

/*
 * The images @p im in @p to, uncompressed, for CRIU: the uncompressed ones
 * hard-linked (@p hard) or copied.
 */
static int
images_fetch(const struct images *im, const char *to, bool hard,
             long long deadline, char *why, size_t whylen)
{
    int rc = files_put(im->raw, im->nr, to, hard);

    if (rc == 0 && im->nz > 0) {
        const char *head[] = {"zstd", "-d", "-q", "--output-dir-flat", to};
        const char **argv = calloc(im->nz + 6, sizeof(*argv));

        rc = argv == NULL ? -ENOMEM : 0;
        if (argv != NULL) {
            memcpy(argv, head, sizeof(head));
            memcpy(argv + 5, im->zst, im->nz * sizeof(*im->zst));
            rc = vcha_exec_until(argv, deadline, why, whylen);
        }
        free(argv);
    }
    return rc;
}

/* Make the container's root filesystem equal to the generation's. */
static int
rootfs_restore(const struct vcha_ct *ct, const char *gen, long long deadline,
               char *why, size_t whylen)
{
    char *from = NULL;
    const char *argv[] = {"rsync",    "-aH", "--numeric-ids", "--delete", NULL,
                          ct->rootfs, NULL};
    int rc;

    if (asprintf(&from, "%s/" VCHA_CT_ROOTFS "/", gen) < 0) {
        return -ENOMEM;
    }
    argv[4] = from;
    if (mkdir(ct->rootfs, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(why, whylen, "%s: %s", ct->rootfs, strerror(errno));
    } else {
        rc = vcha_exec_until(argv, deadline, why, whylen);
    }
    free(from);
    return rc;
}

/*
 * After CRIU's restore the container is in the state it was dumped in:
 * frozen (checkpoints freeze it before the dump).  Thaw it.
 */
static int
restored_resume(const struct vcha_ct *ct, long long deadline, char *why,
                size_t whylen)
{
    pid_t pid = 0;
    int rc = vcha_ct_running(ct, deadline, &pid);

    if (rc <= 0 || pid <= 0) {
        snprintf(why, whylen, "not running after the restore");
        return -ESRCH;
    }
    return freeze(ct, false, deadline, why, whylen);
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

int
vcha_ct_restore(const struct vcha_ct *ct, const char *gen,
                const struct vcha_gen_info *info, long long deadline,
                struct vcha_kv *figures, char *why, size_t whylen)
{
    const char *argv[] = {"lxc-checkpoint", "-r", "-n", ct->name, "-P",
                          ct->lxcpath,      "-D", NULL, NULL};
    char *scratch = NULL, *dir = NULL;
    struct images im;
    long long t = vcha_now_ms();
    bool criu_ran = false;
    int rc;

    why[0] = '\0';
    rc = images_list(gen, &im);
    if (rc < 0) {
        snprintf(why, whylen, "reading the images of %s: %s", gen,
                 strerror(-rc));
        images_free(&im);
        return rc;
    }
    rc = scratch_make(ct, "restore", &scratch);
    if (rc == 0) {
        rc = restore_dir_make(gen, info, im.nz > 0, scratch, &dir);
    }
    if (rc < 0) {
        snprintf(why, whylen, "a directory for the images: %s", strerror(-rc));
        images_free(&im);
        free(scratch);
        free(dir);
        return rc;
    }
    rc = images_fetch(&im, dir, strcmp(dir, scratch) != 0, deadline, why,
                      whylen);
    images_free(&im);
    if (rc < 0 && why[0] == '\0') {
        snprintf(why, whylen, "reading the images of %s: %s", gen,
                 strerror(-rc));
    }
    if (rc == 0) {
        rc = rootfs_restore(ct, gen, deadline, why, whylen);
    }
    if (figures != NULL) {
        vcha_kv_setf(figures, "copy_ms", "%lld", vcha_now_ms() - t);
    }
    t = vcha_now_ms();
    if (rc == 0 && (rc = criu_config(scratch, true, deadline)) < 0) {
        snprintf(why, whylen, "CRIU configuration: %s", strerror(-rc));
    }
    if (rc == 0) {
        argv[7] = dir;
        criu_ran = true;
        rc = vcha_exec_until(argv, deadline, why, whylen);
    }
    if (rc == 0) {
        rc = restored_resume(ct, deadline, why, whylen);
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
