/* vcha - a client of QEMU's machine protocol (QMP). */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/qmp.h>

/* One message is one line; QEMU's largest answers (query-qmp-schema) are
 * a few hundred KiB. */
#define MAX_LINE (16 * 1024 * 1024)
/* Events kept unread; beyond it the oldest are dropped. */
#define MAX_EVENTS 4096

struct event_node {
    struct vcha_qmp_event ev;
    struct event_node *next;
};

struct vcha_qmp {
    int fd;
    char *buf;
    size_t len, cap;
    unsigned long long next_id;
    bool oob;
    /* A command went out only in part: QEMU's parser holds half a line
     * that the next command would complete into garbage. */
    bool broken;
    struct event_node *head, *tail;
    unsigned events;
};

/* ------------------------------------------------------------- the wire */

/* Wait until @p fd is ready for @p what, by @p deadline. */
static int
wait_fd(int fd, short what, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = what};
        long long left = deadline - vcha_now_ms();
        int n = poll(&p, 1, left > 0 ? (int) (left > 60000 ? 60000 : left) : 0);

        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n == 0 && left <= 0) {
            return -ETIME;
        }
    }
}

/* Send @p n bytes; when only some of them went, the connection is marked
 * broken. */
static int
send_all(struct vcha_qmp *q, const char *s, size_t n, long long deadline)
{
    const size_t whole = n;
    int rc = 0;

    while (n > 0 && rc == 0) {
        ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);

        if (w > 0) {
            s += w;
            n -= (size_t) w;
        } else if (w < 0 && errno == EPIPE) {
            rc = -ECONNRESET;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            rc = -errno;
        } else {
            rc = wait_fd(q->fd, POLLOUT, deadline);
        }
    }
    if (rc != 0 && n < whole) {
        q->broken = true;
    }
    return rc;
}

/* Read what the socket has into the buffer; -ETIME when nothing came by
 * @p deadline. */
static int
fill(struct vcha_qmp *q, long long deadline)
{
    if (q->cap - q->len < 4096) {
        size_t cap = q->cap ? q->cap * 2 : 65536;
        char *b;

        if (cap > MAX_LINE + 65536) {
            return -EPROTO;
        }
        b = realloc(q->buf, cap);
        if (b == NULL) {
            return -ENOMEM;
        }
        q->buf = b;
        q->cap = cap;
    }
    for (;;) {
        ssize_t r = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);

        if (r > 0) {
            q->len += (size_t) r;
            return 0;
        }
        if (r == 0) {
            return -ECONNRESET;
        }
        if (errno != EAGAIN && errno != EINTR) {
            return errno == ECONNRESET ? -ECONNRESET : -errno;
        }
        int rc = wait_fd(q->fd, POLLIN, deadline);

        if (rc != 0) {
            return rc;
        }
    }
}

/* The next message, an object, by @p deadline. */
static int
read_message(struct vcha_qmp *q, long long deadline, json_object **msg)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

        if (nl != NULL) {
            size_t n = (size_t) (nl - q->buf) + 1;
            enum json_tokener_error jerr;

            *nl = '\0';
            *msg = json_tokener_parse_verbose(q->buf, &jerr);
            memmove(q->buf, q->buf + n, q->len - n);
            q->len -= n;
            if (*msg == NULL || !json_object_is_type(*msg, json_type_object)) {
                json_object_put(*msg);
                *msg = NULL;
                return -EPROTO;
            }
            return 0;
        }
        if (q->len > MAX_LINE) {
            return -EPROTO;
        }
        int rc = fill(q, deadline);

        if (rc != 0) {
            return rc;
        }
    }
}

/* --------------------------------------------------------------- events */

static json_object *
member(json_object *o, const char *key)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void
event_keep(struct vcha_qmp *q, json_object *msg)
{
    struct event_node *e = calloc(1, sizeof(*e));
    json_object *ts = member(msg, "timestamp");
    json_object *data = member(msg, "data");

    if (e == NULL || (e->ev.name = strdup(json_object_get_string(
                          member(msg, "event")))) == NULL) {
        free(e);
        return;
    }
    e->ev.data = data != NULL ? json_object_get(data) : NULL;
    e->ev.timestamp_us =
        json_object_get_int64(member(ts, "seconds")) * 1000000LL +
        json_object_get_int64(member(ts, "microseconds"));
    if (q->tail != NULL) {
        q->tail->next = e;
    } else {
        q->head = e;
    }
    q->tail = e;
    if (++q->events > MAX_EVENTS) {
        struct event_node *old = q->head;

        q->head = old->next;
        vcha_qmp_event_clear(&old->ev);
        free(old);
        q->events--;
    }
}

int
vcha_qmp_event_next(struct vcha_qmp *q, long long deadline_ms,
                    struct vcha_qmp_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (q->broken) {
        return -EPIPE;
    }
    while (q->head == NULL) {
        json_object *msg = NULL;
        int rc = read_message(q, deadline_ms, &msg);

        if (rc != 0) {
            return rc;
        }
        if (member(msg, "event") != NULL) {
            event_keep(q, msg);
        }
        /* anything else is a late answer to a command given up on */
        json_object_put(msg);
    }
    struct event_node *e = q->head;

    q->head = e->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->events--;
    *ev = e->ev;
    free(e);
    return 0;
}

void
vcha_qmp_event_clear(struct vcha_qmp_event *ev)
{
    free(ev->name);
    json_object_put(ev->data);
    memset(ev, 0, sizeof(*ev));
}

/* ------------------------------------------------------------- commands */

/* "Class: description" of an error answer. */
static char *
error_text(json_object *error)
{
    const char *cls = json_object_get_string(member(error, "class"));
    const char *desc = json_object_get_string(member(error, "desc"));
    char *s = NULL;

    if (asprintf(&s, "%s: %s", cls ? cls : "Error", desc ? desc : "") < 0) {
        return NULL;
    }
    return s;
}

/* Wait for the answer whose id is @p id. */
static int
wait_answer(struct vcha_qmp *q, const char *id, long long deadline,
            json_object **ret, char **err)
{
    for (;;) {
        json_object *msg = NULL;
        int rc = read_message(q, deadline, &msg);

        if (rc != 0) {
            return rc;
        }
        if (member(msg, "event") != NULL) {
            event_keep(q, msg);
            json_object_put(msg);
            continue;
        }
        const char *got = json_object_get_string(member(msg, "id"));

        if (got == NULL || strcmp(got, id) != 0) {
            json_object_put(msg); /* late, for a command given up on */
            continue;
        }
        json_object *error = member(msg, "error");

        if (error != NULL) {
            if (err != NULL) {
                *err = error_text(error);
            }
            json_object_put(msg);
            return -EREMOTEIO;
        }
        if (ret != NULL) {
            *ret = json_object_get(member(msg, "return"));
        }
        json_object_put(msg);
        return 0;
    }
}

static int
exec_as(struct vcha_qmp *q, const char *how, const char *command,
        json_object *args, long long deadline, json_object **ret, char **err)
{
    json_object *cmd = json_object_new_object();
    char id[32];
    int rc;

    if (ret != NULL) {
        *ret = NULL;
    }
    if (err != NULL) {
        *err = NULL;
    }
    if (q->broken) {
        json_object_put(cmd);
        json_object_put(args);
        return -EPIPE;
    }
    if (cmd == NULL) {
        json_object_put(args);
        return -ENOMEM;
    }
    snprintf(id, sizeof(id), "vcha-%llu", ++q->next_id);
    json_object_object_add(cmd, how, json_object_new_string(command));
    if (args != NULL) {
        json_object_object_add(cmd, "arguments", args);
    }
    json_object_object_add(cmd, "id", json_object_new_string(id));

    const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
    char *line = NULL;

    if (asprintf(&line, "%s\n", text) < 0) {
        rc = -ENOMEM;
    } else {
        rc = send_all(q, line, strlen(line), deadline);
    }
    free(line);
    json_object_put(cmd);
    if (rc == 0) {
        rc = wait_answer(q, id, deadline, ret, err);
    }
    return rc;
}

int
vcha_qmp_exec(struct vcha_qmp *q, const char *command, json_object *args,
              long long deadline_ms, json_object **ret, char **err)
{
    return exec_as(q, "execute", command, args, deadline_ms, ret, err);
}

int
vcha_qmp_exec_oob(struct vcha_qmp *q, const char *command,
                  json_object *args, long long deadline_ms,
                  json_object **ret, char **err)
{
    if (!q->oob) {
        json_object_put(args);
        return -ENOTSUP;
    }
    return exec_as(q, "exec-oob", command, args, deadline_ms, ret, err);
}

int
vcha_qmp_hmp(struct vcha_qmp *q, const char *line, long long deadline_ms,
             char **out)
{
    json_object *args = json_object_new_object();
    json_object *ret = NULL;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (args == NULL) {
        return -ENOMEM;
    }
    json_object_object_add(args, "command-line", json_object_new_string(line));
    rc = vcha_qmp_exec(q, "human-monitor-command", args, deadline_ms, &ret,
                       NULL);
    if (rc == 0 && out != NULL) {
        const char *s = json_object_get_string(ret);

        *out = strdup(s != NULL ? s : "");
        rc = *out == NULL ? -ENOMEM : 0;
    }
    json_object_put(ret);
    return rc;
}

/* ----------------------------------------------------------- connection */

/* Wait for a connect() in progress on @p fd to end: its result. */
static int
connect_wait(int fd, long long deadline)
{
    int rc = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (rc != 0) {
        return rc;
    }
    /* POLLOUT says the attempt ended, not that it succeeded */
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        return -errno;
    }
    return -soerr;
}

static int
connect_unix(const char *path, long long deadline)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd, rc;

    if (strlen(path) >= sizeof(a.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(a.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    for (;;) {
        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0) {
            return fd;
        }
        if (errno != EAGAIN) {
            break;
        }
        /* On a unix socket EAGAIN is QEMU's backlog full, nothing in
         * progress: the socket is not connected and polling it would say
         * writable at once.  Only another connect() can get in, once QEMU
         * has accepted the ones before. */
        long long left = deadline - vcha_now_ms();

        if (left <= 0) {
            close(fd);
            return -ETIME;
        }
        vcha_sleep_ms(left < 10 ? left : 10);
    }
    rc = errno == EINPROGRESS ? connect_wait(fd, deadline) : -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* Read the greeting and leave negotiation mode. */
static int
negotiate(struct vcha_qmp *q, long long deadline)
{
    json_object *greeting = NULL, *qmp, *caps;
    int rc = read_message(q, deadline, &greeting);

    if (rc != 0) {
        return rc;
    }
    qmp = member(greeting, "QMP");
    caps = member(qmp, "capabilities");
    /* json-c's array calls abort on anything but an array */
    if (!json_object_is_type(qmp, json_type_object) ||
        (caps != NULL && !json_object_is_type(caps, json_type_array))) {
        json_object_put(greeting);
        return -EPROTO;
    }
    for (size_t i = 0; caps != NULL && i < json_object_array_length(caps);
         i++) {
        const char *c =
            json_object_get_string(json_object_array_get_idx(caps, i));

        q->oob = q->oob || (c != NULL && strcmp(c, "oob") == 0);
    }
    json_object_put(greeting);

    json_object *args = NULL;

    if (q->oob) {
        json_object *enable = json_object_new_array();

        args = json_object_new_object();
        json_object_array_add(enable, json_object_new_string("oob"));
        json_object_object_add(args, "enable", enable);
    }
    return vcha_qmp_exec(q, "qmp_capabilities", args, deadline, NULL, NULL);
}

int
vcha_qmp_open(const char *path, long long deadline_ms, struct vcha_qmp **out)
{
    struct vcha_qmp *q = calloc(1, sizeof(*q));
    int rc;

    *out = NULL;
    if (q == NULL) {
        return -ENOMEM;
    }
    q->fd = connect_unix(path, deadline_ms);
    if (q->fd < 0) {
        rc = q->fd;
        free(q);
        return rc;
    }
    rc = negotiate(q, deadline_ms);
    if (rc != 0) {
        vcha_qmp_close(q);
        return rc;
    }
    *out = q;
    return 0;
}

void
vcha_qmp_close(struct vcha_qmp *q)
{
    if (q == NULL) {
        return;
    }
    while (q->head != NULL) {
        struct event_node *e = q->head;

        q->head = e->next;
        vcha_qmp_event_clear(&e->ev);
        free(e);
    }
    close(q->fd);
    free(q->buf);
    free(q);
}

int
vcha_qmp_fd(const struct vcha_qmp *q)
{
    return q->fd;
}

bool
vcha_qmp_has_oob(const struct vcha_qmp *q)
{
    return q->oob;
}
