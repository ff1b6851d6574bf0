/* vchad - the socket, the connections, the signals and the poll loop. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/log.h>

#include "vchad_request.h"
#include "vchad_server.h"

/* The longest poll() when nothing is due (the loop re-checks then). */
#define IDLE_POLL_MS 60000

enum conn_state {
    CONN_READ,  /* reading the request */
    CONN_WAIT,  /* the answer waits for a job */
    CONN_WRITE, /* sending the answer */
    CONN_CLOSED,
};

struct conn {
    int fd;
    enum conn_state state;
    char *in;
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    long long deadline; /* for CONN_READ and CONN_WRITE */
    struct vchad_waiter waiter;
};

struct vchad_server {
    char *path, *lock_path;
    int listen_fd, signal_fd, lock_fd;
    sigset_t old_mask;
    struct vchad_jobs *jobs;
    struct conn *conns[VCHAD_MAX_CONNS];
    size_t n_conns;
    bool stopping;
    struct pollfd *fds;
    size_t fds_cap;
};

/* ------------------------------------------------------------ setup */

static int
lock_take(struct vchad_server *srv)
{
    srv->lock_fd =
        open(srv->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (srv->lock_fd < 0) {
        return -errno;
    }
    if (flock(srv->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        return errno == EWOULDBLOCK ? -EALREADY : -errno;
    }
    return 0;
}

int
vchad_server_record_pid(struct vchad_server *srv)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());

    if (ftruncate(srv->lock_fd, 0) < 0 ||
        pwrite(srv->lock_fd, buf, (size_t) len, 0) != len) {
        return -errno;
    }
    return 0;
}

/* Create the socket's directory if it is missing (one level). */
static int
dir_ensure(const char *path)
{
    char *copy = strdup(path);
    int rc = 0;

    if (copy == NULL) {
        return -ENOMEM;
    }
    if (mkdir(dirname(copy), 0755) < 0 && errno != EEXIST) {
        rc = -errno;
    }
    free(copy);
    return rc;
}

/* Something answers on @p sa. */
static bool
socket_alive(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool alive =
        fd >= 0 && connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return alive;
}

static int
socket_listen(struct vchad_server *srv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old_umask;
    int rc = 0;

    if (strlen(srv->path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, srv->path);
    if (socket_alive(&sa)) {
        return -EADDRINUSE;
    }
    if (unlink(srv->path) == 0) {
        vcha_info("replaced the stale socket %s", srv->path);
    }
    srv->listen_fd =
        socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (srv->listen_fd < 0) {
        return -errno;
    }
    old_umask = umask(0077);
    if (bind(srv->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        rc = -errno;
    }
    umask(old_umask);
    if (rc == 0 &&
        (chmod(srv->path, 0600) < 0 || listen(srv->listen_fd, SOMAXCONN) < 0)) {
        rc = -errno;
    }
    return rc;
}

static int
signals_take(struct vchad_server *srv)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, &srv->old_mask) < 0) {
        return -errno;
    }
    signal(SIGPIPE, SIG_IGN);
    srv->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (srv->signal_fd < 0) {
        int e = errno;

        sigprocmask(SIG_SETMASK, &srv->old_mask, NULL);
        return -e;
    }
    return 0;
}

/* In a forked child: it must not keep the daemon's descriptors. */
static void
child_setup(void *ctx)
{
    struct vchad_server *srv = ctx;

    close(srv->listen_fd);
    close(srv->signal_fd);
    close(srv->lock_fd); /* else a hung worker would keep the lock */
    for (size_t i = 0; i < srv->n_conns; i++) {
        close(srv->conns[i]->fd);
    }
}

int
vchad_server_new(const char *path, struct vchad_jobs *jobs,
                 struct vchad_server **out)
{
    struct vchad_server *srv = calloc(1, sizeof(*srv));
    int rc;

    *out = NULL;
    if (srv == NULL) {
        return -ENOMEM;
    }
    srv->listen_fd = srv->signal_fd = srv->lock_fd = -1;
    srv->jobs = jobs;
    srv->path = strdup(path);
    if (srv->path == NULL || asprintf(&srv->lock_path, "%s.lock", path) < 0) {
        srv->lock_path = NULL;
        rc = -ENOMEM;
        goto done;
    }
    rc = dir_ensure(path);
    if (rc == 0) {
        rc = lock_take(srv);
    }
    if (rc == 0) {
        rc = socket_listen(srv);
    }
    if (rc == 0) {
        rc = signals_take(srv);
    }

done:
    if (rc < 0) {
        vchad_server_free(srv);
        return rc;
    }
    vchad_jobs_set_child_setup(jobs, child_setup, srv);
    *out = srv;
    return 0;
}

/* ------------------------------------------------------------ connections */

static void
conn_close(struct conn *c)
{
    vchad_waiter_cancel(&c->waiter);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->state = CONN_CLOSED;
}

static void
conn_free(struct conn *c)
{
    if (c != NULL) {
        conn_close(c);
        free(c->in);
        free(c->out);
        free(c);
    }
}

/* Queue @p resp for sending. */
static void
conn_respond(struct conn *c, const struct vcha_kv *resp)
{
    free(c->out);
    c->out = NULL;
    c->out_off = 0;
    if (vcha_kv_encode(resp, &c->out, &c->out_len) < 0) {
        conn_close(c);
        return;
    }
    c->state = CONN_WRITE;
    c->deadline = vcha_now_ms() + VCHAD_CONN_TIMEOUT_MS;
}

/* Answer with just a status and an error. */
static void
conn_fail(struct conn *c, int status, const char *error)
{
    struct vcha_kv *resp = vcha_kv_new();

    if (resp == NULL || vchad_response_fill(resp, status, error, NULL) < 0) {
        conn_close(c);
    } else {
        conn_respond(c, resp);
    }
    vcha_kv_free(resp);
}

/* A job this connection waited for is done (see struct vchad_waiter). */
static void
conn_waited(struct vchad_waiter *w, int status, const char *error,
            const struct vcha_kv *health)
{
    struct conn *c =
        (struct conn *) ((char *) w - offsetof(struct conn, waiter));
    struct vcha_kv *resp = vcha_kv_new();

    if (resp == NULL || vchad_response_fill(resp, status, error, health) < 0) {
        conn_close(c);
    } else {
        conn_respond(c, resp);
    }
    vcha_kv_free(resp);
}

static void
conn_dispatch(struct vchad_server *srv, struct conn *c,
              const struct vcha_kv *req)
{
    struct vcha_kv *resp = vcha_kv_new();
    int rc =
        resp ? vchad_request_handle(srv->jobs, req, resp, &c->waiter) : -ENOMEM;

    if (rc == -EINPROGRESS) {
        c->state = CONN_WAIT;
    } else if (rc < 0) {
        conn_fail(c, rc, NULL);
    } else {
        conn_respond(c, resp);
    }
    vcha_kv_free(resp);
}

/* A whole request is in: parse it and answer (or start waiting). */
static void
conn_request(struct vchad_server *srv, struct conn *c)
{
    struct vcha_kv *req = vcha_kv_new();
    size_t used = 0;
    int rc = req ? vcha_kv_parse(req, c->in, c->in_len, &used) : -ENOMEM;

    if (rc == -EAGAIN) {
        vcha_kv_free(req);
        return; /* not all of it yet */
    }
    if (rc < 0) {
        conn_fail(c, rc, rc == -EBADMSG ? "malformed request" : NULL);
    } else {
        conn_dispatch(srv, c, req);
    }
    vcha_kv_free(req);
}

static void
conn_read(struct vchad_server *srv, struct conn *c)
{
    ssize_t n;

    if (c->in == NULL) {
        c->in = malloc(VCHAD_MAX_REQUEST);
        if (c->in == NULL) {
            conn_close(c);
            return;
        }
    }
    n = recv(c->fd, c->in + c->in_len, VCHAD_MAX_REQUEST - c->in_len, 0);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN) {
            conn_close(c);
        }
        return;
    }
    if (n == 0) {
        conn_close(c); /* gone before asking anything */
        return;
    }
    c->in_len += (size_t) n;
    conn_request(srv, c);
    if (c->state == CONN_READ && c->in_len == VCHAD_MAX_REQUEST) {
        conn_fail(c, -EMSGSIZE, "request too large");
    }
}

static void
conn_write(struct conn *c)
{
    ssize_t n =
        send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN) {
            conn_close(c);
        }
        return;
    }
    c->out_off += (size_t) n;
    if (c->out_off == c->out_len) {
        conn_close(c); /* one request per connection */
    }
}

/* Only root and the daemon's own user may talk to it. */
static bool
peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return false;
    }
    if (cred.uid == 0 || cred.uid == geteuid()) {
        return true;
    }
    vcha_warn("refused a client with uid %u (pid %d)", (unsigned) cred.uid,
              (int) cred.pid);
    return false;
}

/* Accept one client.  Returns false when there is none waiting. */
static bool
conn_accept(struct vchad_server *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct conn *c;

    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            vcha_warn("accept: %s", strerror(errno));
        }
        return false;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return false;
    }
    c->fd = fd;
    c->state = CONN_READ;
    c->deadline = vcha_now_ms() + VCHAD_CONN_TIMEOUT_MS;
    c->waiter.done = conn_waited;
    srv->conns[srv->n_conns++] = c;
    if (!peer_allowed(fd)) {
        conn_fail(c, -EPERM, "permission denied");
    }
    return true;
}

/* Free the closed connections and those past their deadline. */
static void
conns_sweep(struct vchad_server *srv, long long now)
{
    size_t kept = 0;

    for (size_t i = 0; i < srv->n_conns; i++) {
        struct conn *c = srv->conns[i];

        if (c->state != CONN_WAIT && c->state != CONN_CLOSED &&
            now >= c->deadline) {
            vcha_debug("dropping a client that took too long");
            conn_close(c);
        }
        if (c->state == CONN_CLOSED) {
            conn_free(c);
        } else {
            srv->conns[kept++] = c;
        }
    }
    srv->n_conns = kept;
}

/* ------------------------------------------------------------ the loop */

static void
jobs_summary(struct vchad_server *srv)
{
    struct vcha_kv *st = vcha_kv_new();
    long long n = 0;

    if (st == NULL || vchad_jobs_status(srv->jobs, st) < 0) {
        vcha_kv_free(st);
        return;
    }
    vcha_kv_get_ll(st, "jobs", &n);
    vcha_notice("%lld jobs, %zu clients", n, srv->n_conns);
    for (long long i = 0; i < n; i++) {
        char k_id[48], k_state[48], k_runs[48];

        snprintf(k_id, sizeof(k_id), "job.%lld.id", i);
        snprintf(k_state, sizeof(k_state), "job.%lld.state", i);
        snprintf(k_runs, sizeof(k_runs), "job.%lld.runs", i);
        vcha_notice("job %s: %s after %s runs", vcha_kv_get(st, k_id),
                    vcha_kv_get(st, k_state), vcha_kv_get(st, k_runs));
    }
    vcha_kv_free(st);
}

static void
signals_read(struct vchad_server *srv)
{
    struct signalfd_siginfo si;

    while (read(srv->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            vcha_notice("stopping on signal %u", si.ssi_signo);
            srv->stopping = true;
            break;
        case SIGHUP:
            jobs_summary(srv);
            break;
        default:
            break; /* SIGCHLD: every round reaps */
        }
    }
}

static int
fds_reserve(struct vchad_server *srv, size_t n)
{
    if (n > srv->fds_cap) {
        struct pollfd *nf = realloc(srv->fds, n * sizeof(*nf));

        if (nf == NULL) {
            return -ENOMEM;
        }
        srv->fds = nf;
        srv->fds_cap = n;
    }
    return 0;
}

static short
conn_events(const struct conn *c)
{
    switch (c->state) {
    case CONN_READ:
        return POLLIN;
    case CONN_WRITE:
        return POLLOUT;
    default:
        return 0; /* waiting: only hang-ups matter */
    }
}

/* Fill srv->fds: signals, listener, connections, workers' pipes. */
static int
fds_fill(struct vchad_server *srv, size_t *n_jobs)
{
    size_t n = 2 + srv->n_conns + vchad_jobs_npoll(srv->jobs);
    int rc = fds_reserve(srv, n);

    if (rc < 0) {
        return rc;
    }
    srv->fds[0] = (struct pollfd){.fd = srv->signal_fd, .events = POLLIN};
    srv->fds[1] = (struct pollfd){
        .fd = srv->n_conns < VCHAD_MAX_CONNS ? srv->listen_fd : -1,
        .events = POLLIN};
    for (size_t i = 0; i < srv->n_conns; i++) {
        srv->fds[2 + i] = (struct pollfd){.fd = srv->conns[i]->fd,
                                          .events = conn_events(srv->conns[i])};
    }
    *n_jobs = vchad_jobs_pollfds(srv->jobs, srv->fds + 2 + srv->n_conns,
                                 n - 2 - srv->n_conns);
    return (int) (2 + srv->n_conns + *n_jobs);
}

/* How long poll() may sleep: until the next job event or deadline. */
static int
poll_timeout(const struct vchad_server *srv, long long next)
{
    long long now = vcha_now_ms(), wait;

    for (size_t i = 0; i < srv->n_conns; i++) {
        const struct conn *c = srv->conns[i];

        if (c->state != CONN_WAIT && c->deadline < next) {
            next = c->deadline;
        }
    }
    wait = next - now;
    if (wait < 0) {
        return 0;
    }
    return wait > IDLE_POLL_MS ? IDLE_POLL_MS : (int) wait;
}

static void
conns_serve(struct vchad_server *srv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct conn *c = srv->conns[i];
        short rev = srv->fds[2 + i].revents;

        if (rev == 0 || c->state == CONN_CLOSED) {
            continue;
        }
        if (c->state == CONN_READ && (rev & (POLLIN | POLLHUP | POLLERR))) {
            conn_read(srv, c);
        } else if (c->state == CONN_WRITE && (rev & (POLLOUT | POLLERR))) {
            conn_write(c);
        } else if (rev & (POLLHUP | POLLERR)) {
            conn_close(c); /* the client gave up waiting */
        }
    }
}

/* One round of the loop. */
static int
serve_once(struct vchad_server *srv)
{
    long long next = vchad_jobs_tick(srv->jobs);
    size_t n_conns = srv->n_conns, n_jobs = 0;
    int nfds = fds_fill(srv, &n_jobs);

    if (nfds < 0) {
        return nfds;
    }
    if (poll(srv->fds, (nfds_t) nfds, poll_timeout(srv, next)) < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    if (srv->fds[0].revents) {
        signals_read(srv);
    }
    vchad_jobs_read(srv->jobs, srv->fds + 2 + n_conns, n_jobs);
    vchad_jobs_reap(srv->jobs);
    conns_serve(srv, n_conns);
    if (srv->fds[1].revents & POLLIN) {
        while (srv->n_conns < VCHAD_MAX_CONNS && conn_accept(srv)) {
        }
    }
    conns_sweep(srv, vcha_now_ms());
    return 0;
}

/*
 * The daemon stops: the clients still waiting (a removal the stop
 * completed has answered its own) are told so, the answers are sent as far
 * as the sockets take them at once, and every connection is closed.
 */
static void
conns_finish(struct vchad_server *srv)
{
    for (size_t i = 0; i < srv->n_conns; i++) {
        struct conn *c = srv->conns[i];

        if (c->state == CONN_WAIT) {
            vchad_waiter_cancel(&c->waiter);
            conn_fail(c, -ESHUTDOWN, "vchad is stopping");
        }
        if (c->state == CONN_WRITE) {
            conn_write(c);
        }
        conn_close(c);
    }
    conns_sweep(srv, vcha_now_ms());
}

int
vchad_server_run(struct vchad_server *srv)
{
    int rc = 0;

    vcha_notice("listening on %s", srv->path);
    while (!srv->stopping && rc == 0) {
        rc = serve_once(srv);
    }
    if (rc < 0) {
        vcha_crit("the main loop failed: %s", strerror(-rc));
    }
    vchad_jobs_detach(srv->jobs); /* residents run on, for the next daemon */
    vchad_jobs_stop(srv->jobs);   /* the workers clean up, then go */
    conns_finish(srv);
    return rc;
}

void
vchad_server_free(struct vchad_server *srv)
{
    if (srv == NULL) {
        return;
    }
    for (size_t i = 0; i < srv->n_conns; i++) {
        conn_free(srv->conns[i]);
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        unlink(srv->path);
    }
    if (srv->signal_fd >= 0) {
        close(srv->signal_fd);
        sigprocmask(SIG_SETMASK, &srv->old_mask, NULL);
    }
    if (srv->lock_fd >= 0) {
        close(srv->lock_fd);
    }
    free(srv->fds);
    free(srv->path);
    free(srv->lock_path);
    free(srv);
}
