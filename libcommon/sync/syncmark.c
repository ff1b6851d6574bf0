/* vcha - the batch marker of a sync destination. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/kv.h>
#include <vcha/syncmark.h>

/* a marker is a few hundred bytes; anything much larger is not one */
#define MARKER_MAX 4096
/* how often a waiting begin or wait looks again */
#define WAIT_POLL_MS 20
#define DPKG_STATUS "var/lib/dpkg/status"
/* a dpkg status file is a few MiB: one far larger is not hashed */
#define MAX_STATUS (256LL * 1024 * 1024)

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* DEST + @p suffix into @p buf; DEST absolute, not "/", no trailing '/'. */
static int
dest_path(const char *dest, const char *suffix, char *buf, size_t len)
{
    size_t n;

    if (dest == NULL || dest[0] != '/') {
        return -EINVAL;
    }
    n = strlen(dest);
    while (n > 1 && dest[n - 1] == '/') {
        n--;
    }
    if (n == 1) {
        return -EINVAL; /* "/": the marker would be a name in the tree */
    }
    if (snprintf(buf, len, "%.*s%s", (int) n, dest, suffix) >= (int) len) {
        return -ENAMETOOLONG;
    }
    return 0;
}

int
vcha_syncmark_path(const char *dest, char *buf, size_t len)
{
    return dest_path(dest, VCHA_SYNCMARK_SUFFIX, buf, len);
}

static void
mark_clear(struct vcha_syncmark *m)
{
    memset(m, 0, sizeof(*m));
    m->status = -1;
    m->lock_fd = -1;
}

/* ------------------------------------------------------------ the text */

static bool
is_hex64(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* @p key as a number >= @p min into *@p v, or -EBADMSG. */
static int
get_num(const struct vcha_kv *kv, const char *key, long long min, long long *v)
{
    if (vcha_kv_get_ll(kv, key, v) < 0 || *v < min) {
        return -EBADMSG;
    }
    return 0;
}

/* The fields of @p kv into @p m; a message for the first bad one. */
static int
mark_from_kv(const struct vcha_kv *kv, struct vcha_syncmark *m,
             const char **bad)
{
    const char *state = vcha_kv_get(kv, "state");
    const char *pk = vcha_kv_get(kv, "packages");
    const char *owner = vcha_kv_get(kv, "owner");
    long long status;

    *bad = "state is neither complete nor incomplete";
    if (state == NULL ||
        (strcmp(state, "complete") != 0 && strcmp(state, "incomplete"))) {
        return -EBADMSG;
    }
    m->complete = strcmp(state, "complete") == 0;
    *bad = "a count or a time is missing or not a number";
    if (get_num(kv, "batch", 1, &m->batch) < 0 ||
        get_num(kv, "completed", 0, &m->completed) < 0 ||
        get_num(kv, "started_ms", 0, &m->started_ms) < 0 ||
        get_num(kv, "finished_ms", 0, &m->finished_ms) < 0 ||
        get_num(kv, "status", -1, &status) < 0 || status > 255) {
        return -EBADMSG;
    }
    m->status = (int) status;
    *bad = "completed does not fit batch and state";
    if (m->completed > m->batch || (m->complete && m->completed != m->batch)) {
        return -EBADMSG;
    }
    *bad = "packages is not a sha256";
    if (pk == NULL || (*pk != '\0' && !is_hex64(pk))) {
        return -EBADMSG;
    }
    snprintf(m->packages, sizeof(m->packages), "%s", pk);
    *bad = "owner is missing or too long";
    if (owner == NULL || strlen(owner) >= sizeof(m->owner)) {
        return -EBADMSG;
    }
    snprintf(m->owner, sizeof(m->owner), "%s", owner);
    return 0;
}

/* Parse the marker text @p buf of @p path into @p m. */
static int
mark_parse(const char *path, const char *buf, size_t len,
           struct vcha_syncmark *m, char *why, size_t whylen)
{
    struct vcha_kv *kv = vcha_kv_new();
    const char *bad = "not a key=value block";
    size_t used = 0;
    int rc;

    if (kv == NULL) {
        return -ENOMEM;
    }
    rc = vcha_kv_parse(kv, buf, len, &used);
    if (rc == -EAGAIN) {
        bad = "it ends before its last line";
        rc = -EBADMSG;
    } else if (rc == 0 && used != len) {
        bad = "text follows its block";
        rc = -EBADMSG;
    } else if (rc == 0) {
        rc = mark_from_kv(kv, m, &bad);
    }
    if (rc == -EBADMSG) {
        set_why(why, whylen, "%s is damaged: %s", path, bad);
    }
    vcha_kv_free(kv);
    return rc;
}

static int
mark_encode(const struct vcha_syncmark *m, char **buf, size_t *len)
{
    struct vcha_kv *kv = vcha_kv_new();
    int rc = kv == NULL ? -ENOMEM : 0;

    if (rc == 0) {
        rc = vcha_kv_set(kv, "state", m->complete ? "complete" : "incomplete");
    }
    if (rc == 0) {
        rc = vcha_kv_setf(kv, "batch", "%lld", m->batch);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(kv, "completed", "%lld", m->completed);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(kv, "started_ms", "%lld", m->started_ms);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(kv, "finished_ms", "%lld", m->finished_ms);
    }
    if (rc == 0) {
        rc = vcha_kv_setf(kv, "status", "%d", m->status);
    }
    if (rc == 0) {
        rc = vcha_kv_set(kv, "packages", m->packages);
    }
    if (rc == 0) {
        rc = vcha_kv_set(kv, "owner", m->owner);
    }
    if (rc == 0) {
        rc = vcha_kv_encode(kv, buf, len);
    }
    vcha_kv_free(kv);
    return rc;
}

/* Read the marker at @p path into @p m (its lock fields untouched). */
static int
mark_load(const char *path, struct vcha_syncmark *m, char *why, size_t whylen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = vcha_file_read(path, &text, &len, MARKER_MAX);

    if (rc == -EFBIG) {
        set_why(why, whylen, "%s is damaged: larger than %d bytes", path,
                MARKER_MAX);
        return -EBADMSG;
    }
    if (rc < 0) {
        set_why(why, whylen, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    rc = mark_parse(path, text, len, m, why, whylen);
    free(text);
    return rc;
}

static int
mark_store(const char *path, const struct vcha_syncmark *m)
{
    char *text = NULL;
    size_t len = 0;
    int rc = mark_encode(m, &text, &len);

    if (rc == 0) {
        rc = vcha_file_write_atomic(path, text, len, 0644);
    }
    free(text);
    return rc;
}

/* ------------------------------------------------------------ the lock */

/* Whether some process holds the lock of @p dest now. */
static bool
lock_held(const char *dest)
{
    char path[PATH_MAX];
    bool held = false;
    int fd;

    if (dest_path(dest, VCHA_SYNCMARK_LOCK_SUFFIX, path, sizeof(path)) < 0) {
        return false;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return false; /* never locked */
    }
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        held = errno == EWOULDBLOCK;
    }
    close(fd);
    return held;
}

/* Open and lock the lock of @p dest within @p wait_ms: the fd, or -errno. */
static int
lock_take(const char *dest, long long wait_ms)
{
    char path[PATH_MAX];
    long long deadline = vcha_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    int rc = dest_path(dest, VCHA_SYNCMARK_LOCK_SUFFIX, path, sizeof(path));

    return rc < 0 ? rc : vcha_file_lock(path, deadline);
}

/* -EROFS when DEST's active marker exists (or cannot be looked at). */
static int
active_check(const char *dest)
{
    char path[PATH_MAX];
    struct stat st;
    int rc = dest_path(dest, VCHA_SYNCMARK_ACTIVE_SUFFIX, path, sizeof(path));

    if (rc < 0) {
        return rc;
    }
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        return 0;
    }
    return -EROFS;
}

void
vcha_syncmark_release(struct vcha_syncmark *m)
{
    if (m != NULL && m->locked) {
        close(m->lock_fd);
        m->locked = false;
        m->lock_fd = -1;
    }
}

/* ------------------------------------------------------------ packages */

/*
 * Find DEST/var/lib/dpkg/status as the container sees it, without opening
 * it (O_PATH): whoever pushes the tree may put a device or a FIFO there.
 */
static int
find_in_root(int root)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root, DPKG_STATUS, &how, sizeof(how));
    char rel[] = DPKG_STATUS;
    int dfd = root;

    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
        return fd >= 0 ? (int) fd : -errno;
    }
    /* no openat2 (an old kernel, seccomp, valgrind): follow no link */
    for (char *name = rel, *slash; name != NULL; name = slash) {
        int next, err, flags = O_PATH | O_CLOEXEC | O_NOFOLLOW;

        slash = strchr(name, '/');
        if (slash != NULL) {
            *slash++ = '\0';
            flags |= O_DIRECTORY;
        }
        next = openat(dfd, name, flags);
        err = errno;
        if (dfd != root) {
            close(dfd);
        }
        if (next < 0) {
            return -err;
        }
        dfd = next;
    }
    return dfd;
}

/* Open the regular file that @p pathfd (O_PATH) is for reading. */
static int
reopen_regular(int pathfd)
{
    char proc[64];
    struct stat st;
    int fd;

    if (fstat(pathfd, &st) < 0) {
        return -errno;
    }
    if (!S_ISREG(st.st_mode)) {
        return -ENOENT; /* a link (without openat2), a FIFO, a device */
    }
    if (st.st_size > MAX_STATUS) {
        return -EFBIG;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
    fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    return fd < 0 ? -errno : fd;
}

static int
sha256_fd(int fd, char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[65536], h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    int rc = -ENOMEM;
    ssize_t n;

    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        goto done;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = -errno;
            goto done;
        }
        if (!EVP_DigestUpdate(ctx, buf, (size_t) n)) {
            rc = -EIO;
            goto done;
        }
    }
    rc = EVP_DigestFinal_ex(ctx, h, &hlen) && hlen == 32 ? 0 : -EIO;
    for (unsigned int i = 0; rc == 0 && i < hlen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
vcha_syncmark_packages(const char *dest, char hex[65])
{
    int root, pathfd, fd, rc;

    hex[0] = '\0';
    root = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return -errno;
    }
    pathfd = find_in_root(root);
    close(root);
    fd = pathfd < 0 ? pathfd : reopen_regular(pathfd);
    if (pathfd >= 0) {
        close(pathfd);
    }
    if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV) {
        return 0; /* no status file (or none reachable): no packages */
    }
    if (fd < 0) {
        return fd;
    }
    rc = sha256_fd(fd, hex);
    if (rc < 0) {
        hex[0] = '\0';
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ batches */

int
vcha_syncmark_read(const char *dest, struct vcha_syncmark *m, char *why,
                   size_t whylen)
{
    char path[PATH_MAX];
    int rc = vcha_syncmark_path(dest, path, sizeof(path));

    mark_clear(m);
    if (rc < 0) {
        set_why(why, whylen, "bad destination %s: %s", dest ? dest : "(null)",
                rc == -EINVAL ? "not an absolute path other than /"
                              : strerror(-rc));
        return rc;
    }
    rc = mark_load(path, m, why, whylen);
    if (rc == 0) {
        m->running = lock_held(dest);
    }
    return rc;
}

int
vcha_syncmark_begin_as(const char *dest, const char *owner,
                       long long lock_wait_ms, struct vcha_syncmark *m)
{
    char path[PATH_MAX];
    struct vcha_syncmark old;
    int fd, rc = vcha_syncmark_path(dest, path, sizeof(path));

    mark_clear(m);
    if (rc == 0 && owner != NULL &&
        (strlen(owner) >= sizeof(m->owner) || strpbrk(owner, "\n\r"))) {
        rc = -EINVAL;
    }
    if (rc < 0) {
        return rc;
    }
    fd = lock_take(dest, lock_wait_ms);
    if (fd < 0) {
        return fd;
    }
    /* looked at under the lock: a batch that begins after the marker was
     * written is refused; one under way when it appears is the activating
     * side's to let end or to end */
    rc = active_check(dest);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    mark_clear(&old);
    rc = mark_load(path, &old, NULL, 0);
    if (rc == -ENOENT || rc == -EBADMSG) {
        mark_clear(&old); /* start afresh: incomplete is safe anyway */
        rc = 0;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *m = old;
    m->complete = false;
    m->batch = old.batch + 1;
    m->started_ms = vcha_realtime_ms();
    if (owner != NULL) {
        snprintf(m->owner, sizeof(m->owner), "%s", owner);
    } else {
        snprintf(m->owner, sizeof(m->owner), "pid %ld", (long) getpid());
    }
    rc = mark_store(path, m);
    if (rc < 0) {
        close(fd);
        mark_clear(m);
        return rc;
    }
    m->running = m->locked = true;
    m->lock_fd = fd;
    return 0;
}

int
vcha_syncmark_begin(const char *dest, struct vcha_syncmark *m)
{
    return vcha_syncmark_begin_as(dest, NULL, VCHA_SYNCMARK_LOCK_WAIT_MS, m);
}

int
vcha_syncmark_end(const char *dest, struct vcha_syncmark *m, int status)
{
    char path[PATH_MAX];
    struct vcha_syncmark now;
    int rc = vcha_syncmark_path(dest, path, sizeof(path)), wrc;

    mark_clear(&now);
    if (rc == 0 && (m->batch < 1 || status < -1 || status > 255)) {
        rc = -EINVAL;
    }
    if (rc == 0) {
        rc = mark_load(path, &now, NULL, 0);
    }
    if (rc == 0 && now.batch != m->batch) {
        rc = -ESTALE; /* another batch began: not ours to end */
    }
    if (rc < 0) {
        goto done;
    }
    /* the packages of a complete batch, or it is not vouched for */
    if (status == 0) {
        char hex[65];

        rc = vcha_syncmark_packages(dest, hex);
        if (rc == 0) {
            memcpy(now.packages, hex, sizeof(hex));
        }
    }
    now.complete = status == 0 && rc == 0;
    now.completed = now.complete ? now.batch : now.completed;
    now.finished_ms = vcha_realtime_ms();
    now.status = status;
    wrc = mark_store(path, &now);
    rc = rc < 0 ? rc : wrc;
done:
    vcha_syncmark_release(m);
    if (rc == 0) {
        *m = now;
    }
    return rc;
}

int
vcha_syncmark_wait(const char *dest, long long timeout_ms,
                   struct vcha_syncmark *m)
{
    long long deadline = vcha_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    for (;;) {
        int rc = vcha_syncmark_read(dest, m, NULL, 0);

        if (rc < 0) {
            return rc;
        }
        if (m->complete) {
            return 0;
        }
        if (!m->running || vcha_now_ms() >= deadline) {
            return -EINPROGRESS;
        }
        vcha_sleep_ms(WAIT_POLL_MS);
    }
}

/* ------------------------------------------------------ active marker */

int
vcha_active_marker_path(const char *dest, char *buf, size_t len)
{
    return dest_path(dest, VCHA_SYNCMARK_ACTIVE_SUFFIX, buf, len);
}

int
vcha_active_marker_read(const char *dest, struct vcha_active_marker *m)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"instance", offsetof(struct vcha_active_marker, instance)},
        {"node", offsetof(struct vcha_active_marker, node)},
        {"migrated_to", offsetof(struct vcha_active_marker, migrated_to)},
        {"migrated_from",
         offsetof(struct vcha_active_marker, migrated_from)},
        {"restoring_from",
         offsetof(struct vcha_active_marker, restoring_from)},
        {"checkpoint", offsetof(struct vcha_active_marker, checkpoint)},
    };
    struct vcha_kv *kv = vcha_kv_new();
    char path[PATH_MAX], *data = NULL;
    size_t size = 0, used = 0;
    int rc = kv == NULL ? -ENOMEM
                        : dest_path(dest, VCHA_SYNCMARK_ACTIVE_SUFFIX, path,
                                    sizeof(path));

    memset(m, 0, sizeof(*m));
    rc = rc ? rc : vcha_file_read(path, &data, &size, 4096);
    rc = rc ? rc : vcha_kv_parse(kv, data, size, &used);
    if (rc == -EAGAIN) {
        /* the whole file, its lines without the empty one after; a last
         * line cut short may have lost what it said */
        rc = size > 0 && data[size - 1] != '\n' ? -EBADMSG : 0;
    }
    if (rc == 0 && vcha_kv_get(kv, "instance") == NULL) {
        rc = -EBADMSG;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = vcha_kv_get(kv, keys[i].key);

        snprintf((char *) m + keys[i].off, sizeof(m->instance), "%s",
                 v != NULL ? v : "");
    }
    free(data);
    vcha_kv_free(kv);
    return rc;
}

/* ------------------------------------------- where the newest tree is */

void
vcha_active_record_name(const char *member, char *buf, size_t len)
{
    snprintf(buf, len, VCHA_ACTIVE_RECORD_PREFIX "%s", member);
}

int
vcha_active_record_get(const char *member, long long timeout_ms, char *node,
                       size_t len, bool *native)
{
    const size_t plen = strlen(VCHA_ACTIVE_RECORD_NATIVE);
    char name[300], *value = NULL;
    const char *named;
    int rc;

    vcha_active_record_name(member, name, sizeof(name));
    rc =
        vcha_cluster_prop_get(VCHA_ACTIVE_RECORD_SET, name, &value, timeout_ms);
    *native = false;
    node[0] = '\0';
    if (rc < 0) {
        return rc;
    }
    named = value;
    if (strncmp(value, VCHA_ACTIVE_RECORD_NATIVE, plen) == 0) {
        *native = true;
        named += plen;
    }
    snprintf(node, len, "%s", named);
    free(value);
    return node[0] != '\0' ? 0 : -ENODATA;
}

int
vcha_active_record_set(const char *member, const char *node, bool native,
                       long long timeout_ms)
{
    char name[300], value[300];

    vcha_active_record_name(member, name, sizeof(name));
    snprintf(value, sizeof(value), "%s%s",
             native ? VCHA_ACTIVE_RECORD_NATIVE : "", node);
    return vcha_cluster_prop_set(VCHA_ACTIVE_RECORD_SET, name, value,
                                 timeout_ms);
}
