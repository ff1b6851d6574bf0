/* vcha - the client side of the vchad socket. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/log.h>
#include <vcha/text.h>
#include <vcha/vchad.h>

#ifndef VCHA_VCHAD_PATH
#define VCHA_VCHAD_PATH "/usr/sbin/vchad"
#endif

/* A daemon that was started but does not answer is started again after: */
#define ENSURE_RESTART_MS 1000
/* How often ensure() asks whether the daemon answers yet. */
#define ENSURE_POLL_MS 20
/* A connection refused for a full backlog is tried again after: */
#define CONNECT_RETRY_MS 10

/* ------------------------------------------------------------ the socket */

const char *
vcha_vchad_socket(void)
{
    const char *sock = getenv("VCHA_SOCKET");

    return (sock != NULL && *sock != '\0') ? sock : VCHA_VCHAD_SOCKET;
}

struct vcha_kv *
vcha_vchad_request_new(const char *cmd)
{
    struct vcha_kv *req = vcha_kv_new();

    if (req != NULL && vcha_kv_set(req, "cmd", cmd) < 0) {
        vcha_kv_free(req);
        req = NULL;
    }
    return req;
}

/* Milliseconds left until @p deadline for poll(), at least 0. */
static int
ms_left(long long deadline)
{
    long long left = deadline - vcha_now_ms();

    if (left <= 0) {
        return 0;
    }
    return left > INT_MAX ? INT_MAX : (int) left;
}

/* Wait until @p fd is ready for @p events.  0, -ETIME or -errno. */
static int
wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int left = ms_left(deadline);
        int n = left > 0 ? poll(&p, 1, left) : 0;

        if (n > 0) {
            return 0;
        }
        if (n == 0) {
            return -ETIME;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

/* One connection attempt: 0 (connected), -EAGAIN (backlog full), -errno. */
static int
connect_once(const struct sockaddr_un *sa, int *fdp, long long deadline)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = 0, err = 0;
    socklen_t errlen = sizeof(err);

    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0) {
        rc = -errno;
    }
    if (rc == -EINPROGRESS) {
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == 0) {
            rc = -err;
        }
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return 0;
}

static int
sock_connect(const char *path, long long deadline, int *fdp)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int rc;

    if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    for (;;) {
        rc = connect_once(&sa, fdp, deadline);
        if (rc == -ENOENT || rc == -ECONNREFUSED) {
            return -ECONNREFUSED;
        }
        if (rc != -EAGAIN && rc != -EINTR) {
            return rc;
        }
        if (ms_left(deadline) == 0) {
            return -ETIME;
        }
        vcha_sleep_ms(ms_left(deadline) < CONNECT_RETRY_MS ? ms_left(deadline)
                                                           : CONNECT_RETRY_MS);
    }
}

static int
send_all(int fd, const char *buf, size_t len, long long deadline)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        int rc;

        if (n >= 0) {
            off += (size_t) n;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return -errno;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

struct recv_buf {
    char *data;
    size_t len, cap;
};

/* Read once into @p b.  1 at end of stream, 0, or -errno. */
static int
recv_some(int fd, struct recv_buf *b)
{
    ssize_t n;

    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        char *nd;

        if (cap > VCHA_VCHAD_MAX_MSG) {
            cap = VCHA_VCHAD_MAX_MSG;
        }
        if (b->len >= cap) {
            return -EMSGSIZE;
        }
        nd = realloc(b->data, cap);
        if (nd == NULL) {
            return -ENOMEM;
        }
        b->data = nd;
        b->cap = cap;
    }
    n = recv(fd, b->data + b->len, b->cap - b->len, 0);
    if (n < 0) {
        return (errno == EINTR || errno == EAGAIN) ? 0 : -errno;
    }
    b->len += (size_t) n;
    return n == 0 ? 1 : 0;
}

/* A whole block is in @p b: it starts with, or holds, an empty line. */
static bool
block_complete(const struct recv_buf *b, size_t *scanned)
{
    size_t from = *scanned > 0 ? *scanned - 1 : 0;
    bool found = b->len > 0 && b->data[0] == '\n';

    if (!found && b->len > from) {
        found = memmem(b->data + from, b->len - from, "\n\n", 2) != NULL;
    }
    *scanned = b->len;
    return found;
}

/* Read a whole response block into a new list. */
static int
recv_response(int fd, struct vcha_kv **resp, long long deadline)
{
    struct recv_buf b = {0};
    struct vcha_kv *kv = NULL;
    size_t scanned = 0, used = 0;
    int rc = 0;

    for (;;) {
        rc = wait_fd(fd, POLLIN, deadline);
        if (rc == 0) {
            rc = recv_some(fd, &b);
        }
        if (rc < 0 || block_complete(&b, &scanned)) {
            break;
        }
        if (rc == 1) {
            rc = -EBADMSG; /* the daemon hung up half way */
            break;
        }
    }
    if (rc >= 0) {
        kv = vcha_kv_new();
        rc = kv ? vcha_kv_parse(kv, b.data, b.len, &used) : -ENOMEM;
    }
    free(b.data);
    if (rc < 0) {
        vcha_kv_free(kv);
        return rc;
    }
    *resp = kv;
    return 0;
}

/* The status line of a response: 0 or a negative errno. */
static int
response_status(const struct vcha_kv *resp)
{
    long long status;

    if (vcha_kv_get_ll(resp, "status", &status) < 0 || status > 0 ||
        status < -4095) {
        return -EBADMSG;
    }
    return (int) status;
}

int
vcha_vchad_call(const char *sock, const struct vcha_kv *req,
                struct vcha_kv **resp, long long deadline)
{
    char *buf = NULL;
    size_t len = 0;
    int fd = -1, rc, sent;

    *resp = NULL;
    rc = vcha_kv_encode(req, &buf, &len);
    if (rc == 0) {
        rc = sock_connect(sock, deadline, &fd);
    }
    if (rc < 0) {
        goto done;
    }
    /* a daemon that refuses a request may answer before reading it all */
    sent = send_all(fd, buf, len, deadline);
    rc = recv_response(fd, resp, deadline);
    if (rc == 0) {
        rc = response_status(*resp);
    } else if (sent < 0) {
        rc = sent;
    }
    if (rc == -EBADMSG) {
        vcha_kv_free(*resp);
        *resp = NULL;
    }

done:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return rc;
}

int
vcha_vchad_ping(const char *sock, long long deadline)
{
    struct vcha_kv *req = vcha_vchad_request_new("ping");
    struct vcha_kv *resp = NULL;
    int rc = req ? vcha_vchad_call(sock, req, &resp, deadline) : -ENOMEM;

    vcha_kv_free(resp);
    vcha_kv_free(req);
    return rc;
}

/* ------------------------------------------------------------ ensure */

/* Run the daemon program; it returns once the daemon is in the background. */
static int
daemon_start(const char *sock, long long deadline)
{
    const char *prog = getenv("VCHA_VCHAD");
    const char *argv[] = {NULL, "-s", sock, NULL};
    struct vcha_exec_result res;
    int rc;

    argv[0] = (prog != NULL && *prog != '\0') ? prog : VCHA_VCHAD_PATH;
    if (vcha_exec_find(argv[0]) < 0) {
        vcha_err("cannot start the node daemon: %s not found", argv[0]);
        return -ENOENT;
    }
    vcha_info("starting the node daemon: %s -s %s", argv[0], sock);
    rc = vcha_exec(argv, NULL, 0, deadline - vcha_now_ms(), &res);
    if (rc < 0) {
        vcha_err("cannot run %s: %s", argv[0], strerror(-rc));
        return rc;
    }
    if (res.timed_out) {
        rc = -ETIME;
    } else if (!vcha_exec_ok(&res)) {
        res.err[strcspn(res.err, "\n")] = '\0';
        vcha_err("%s -s %s failed (exit %d): %s", argv[0], sock, res.exit_code,
                 res.err);
        rc = -EIO;
    }
    vcha_exec_result_clear(&res);
    return rc;
}

int
vcha_vchad_ensure(const char *sock, long long deadline)
{
    long long next_start = 0;

    for (;;) {
        int rc = vcha_vchad_ping(sock, deadline);
        long long now = vcha_now_ms();

        if (rc != -ECONNREFUSED) {
            return rc;
        }
        if (now >= deadline) {
            return -ETIME;
        }
        if (now >= next_start) {
            rc = daemon_start(sock, deadline);
            if (rc < 0) {
                return rc;
            }
            next_start = vcha_now_ms() + ENSURE_RESTART_MS;
            continue; /* it answers as soon as it is in the background */
        }
        vcha_sleep_ms(ms_left(deadline) < ENSURE_POLL_MS ? ms_left(deadline)
                                                         : ENSURE_POLL_MS);
    }
}
