/*
 * Unit tests for libcommon/colo/qmp.c: against a scripted peer (a child
 * process on a unix socket that checks each line it is sent and answers
 * as QEMU would, or does not), and against a real QEMU (the machine's
 * qemu-system-x86_64, with no machine: it starts at once).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/clock.h>
#include <vcha/qmp.h>

#include "test-util.h"

#define GREETING                                                               \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 1, "        \
    "\"major\": 11}}, \"capabilities\": [%s]}}\r\n"

/* A step of the peer: send a line, expect one (its text must contain
 * the given one), sleep, or hang up. */
struct step {
    char what; /* 's' send, 'e' expect, 'z' sleep ms, 'x' close */
    const char *text;
};

struct peer {
    char *dir, *path;
    pid_t pid;
};

/* Read one line from @p fd into @p buf. */
static bool
read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        if (read(fd, buf + n, 1) != 1) {
            return false;
        }
        if (buf[n++] == '\n') {
            break;
        }
    }
    buf[n] = '\0';
    return true;
}

/* The peer's life: accept one client, play the script; exit 0 when every
 * line it expected came, 3 + the step's index when one did not. */
static void
peer_play(int lfd, const struct step *script)
{
    int fd = accept(lfd, NULL, NULL);
    char line[4096];

    if (fd < 0) {
        _exit(2);
    }
    for (int i = 0; script[i].what != '\0'; i++) {
        const struct step *s = &script[i];

        if (s->what == 's') {
            if (write(fd, s->text, strlen(s->text)) < 0) {
                _exit(3 + i);
            }
        } else if (s->what == 'e') {
            if (!read_line(fd, line, sizeof(line)) ||
                strstr(line, s->text) == NULL) {
                fprintf(stderr, "peer: step %d: wanted %s, got %s\n", i,
                        s->text, line);
                _exit(3 + i);
            }
        } else if (s->what == 'z') {
            usleep((useconds_t) atoi(s->text) * 1000);
        } else if (s->what == 'x') {
            close(fd);
            _exit(0);
        }
    }
    /* keep the connection until the client is done */
    while (read(fd, line, sizeof(line)) > 0) {
    }
    _exit(0);
}

static void
peer_start(struct peer *p, const struct step *script)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int lfd;

    p->dir = test_tmpdir_new();
    assert_non_null(p->dir);
    p->path = test_path(p->dir, "qmp.sock");
    strcpy(a.sun_path, p->path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        peer_play(lfd, script);
    }
    close(lfd);
}

/* The peer's verdict: 0 when it saw every line it expected. */
static int
peer_end(struct peer *p)
{
    int status = 0;
    pid_t got = 0;

    /* it ends when the client has closed; a peer still there after 5 s
     * is killed, and its verdict says so */
    for (int i = 0; i < 500 && got == 0; i++) {
        got = waitpid(p->pid, &status, WNOHANG);
        if (got == 0) {
            vcha_sleep_ms(10);
        }
    }
    if (got == 0) {
        kill(p->pid, SIGKILL);
        got = waitpid(p->pid, &status, 0);
    }
    assert_int_equal(got, p->pid);
    free(p->path);
    test_tmpdir_remove(p->dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char greeting_plain[256], greeting_oob[256];

static int
setup_greetings(void **state)
{
    (void) state;
    snprintf(greeting_plain, sizeof(greeting_plain), GREETING, "");
    snprintf(greeting_oob, sizeof(greeting_oob), GREETING, "\"oob\"");
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static long long
in_ms(long long ms)
{
    return vcha_now_ms() + ms;
}

/* Negotiation without oob; an answer matched by its id; an event that
 * came before it kept, with its data and timestamp. */
static void
test_exec_and_events(void **state)
{
    const struct step script[] = {
        {'s', greeting_plain},
        {'e', "{\"execute\":\"qmp_capabilities\",\"id\":\"vcha-1\"}"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {'e', "\"execute\":\"query-status\""},
        {'s', "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": "
              "250}, \"event\": \"STOP\"}\r\n"
              "{\"return\": {\"status\": \"paused\", \"running\": false}, "
              "\"id\": \"vcha-2\"}\r\n"},
        {'z', "200"},
        {'s', "{\"timestamp\": {\"seconds\": 1700000001, \"microseconds\": "
              "5}, \"event\": \"RESUME\", \"data\": {\"x\": 1}}\r\n"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;
    struct vcha_qmp_event ev;
    json_object *ret = NULL;

    (void) state;
    peer_start(&p, script);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_false(vcha_qmp_has_oob(q));
    assert_true(vcha_qmp_fd(q) >= 0);
    assert_int_equal(vcha_qmp_exec(q, "query-status", NULL, in_ms(5000), &ret,
                                   NULL),
                     0);
    assert_string_equal(
        json_object_get_string(json_object_object_get(ret, "status")),
        "paused");
    json_object_put(ret);
    /* the STOP came first and was kept */
    assert_int_equal(vcha_qmp_event_next(q, in_ms(0), &ev), 0);
    assert_string_equal(ev.name, "STOP");
    assert_null(ev.data);
    assert_int_equal(ev.timestamp_us, 1700000000LL * 1000000 + 250);
    vcha_qmp_event_clear(&ev);
    vcha_qmp_event_clear(&ev);
    /* none more yet; a past deadline does not wait */
    long long t0 = vcha_now_ms();

    assert_int_equal(vcha_qmp_event_next(q, t0 - 1, &ev), -ETIME);
    assert_true(vcha_now_ms() - t0 < 100);
    /* the RESUME comes 200 ms later */
    assert_int_equal(vcha_qmp_event_next(q, in_ms(5000), &ev), 0);
    assert_string_equal(ev.name, "RESUME");
    assert_int_equal(
        json_object_get_int(json_object_object_get(ev.data, "x")), 1);
    vcha_qmp_event_clear(&ev);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);
}

/* An error answer; the human monitor. */
static void
test_error_and_hmp(void **state)
{
    const struct step script[] = {
        {'s', greeting_plain},
        {'e', "qmp_capabilities"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {'e', "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:x:1\"},"
              "\"id\":\"vcha-2\"}"},
        {'s', "{\"id\": \"vcha-2\", \"error\": {\"class\": \"GenericError\", "
              "\"desc\": \"no peer\"}}\r\n"},
        {'e', "\"arguments\":{\"command-line\":\"drive_add -n buddy x\"}"},
        {'s', "{\"return\": \"Invalid parameter\\r\\n\", \"id\": "
              "\"vcha-3\"}\r\n"},
        {'e', "human-monitor-command"},
        {'s', "{\"return\": \"\", \"id\": \"vcha-4\"}\r\n"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;
    json_object *args = json_object_new_object();
    json_object *ret = (json_object *) 1;
    char *err = NULL, *out = NULL;

    (void) state;
    peer_start(&p, script);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    json_object_object_add(args, "uri", json_object_new_string("tcp:x:1"));
    assert_int_equal(vcha_qmp_exec(q, "migrate", args, in_ms(5000), &ret, &err),
                     -EREMOTEIO);
    assert_null(ret);
    assert_string_equal(err, "GenericError: no peer");
    free(err);
    assert_int_equal(vcha_qmp_hmp(q, "drive_add -n buddy x", in_ms(5000), &out),
                     0);
    assert_string_equal(out, "Invalid parameter\r\n");
    free(out);
    assert_int_equal(vcha_qmp_hmp(q, "info status", in_ms(5000), NULL), 0);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);
}

/* An in-band command that hangs: -ETIME at its deadline; then yank out of
 * band answers at once; the hung command's late answer is dropped and
 * the next command gets its own. */
static void
test_deadline_and_oob(void **state)
{
    const struct step script[] = {
        {'s', greeting_oob},
        {'e', "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":"
              "[\"oob\"]},\"id\":\"vcha-1\"}"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {'e', "x-colo-lost-heartbeat"},
        {'e', "{\"exec-oob\":\"yank\""},
        {'s', "{\"return\": {}, \"id\": \"vcha-3\"}\r\n"},
        {'s', "{\"return\": {}, \"id\": \"vcha-2\"}\r\n"},
        {'e', "query-status"},
        {'s', "{\"return\": {\"status\": \"colo\"}, \"id\": \"vcha-4\"}\r\n"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;
    json_object *ret = NULL;
    long long t0;

    (void) state;
    peer_start(&p, script);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_true(vcha_qmp_has_oob(q));
    t0 = vcha_now_ms();
    assert_int_equal(vcha_qmp_exec(q, "x-colo-lost-heartbeat", NULL,
                                   in_ms(300), NULL, NULL),
                     -ETIME);
    assert_in_range(vcha_now_ms() - t0, 290, 2000);
    assert_int_equal(vcha_qmp_exec_oob(q, "yank", NULL, in_ms(5000), NULL,
                                       NULL),
                     0);
    assert_int_equal(vcha_qmp_exec(q, "query-status", NULL, in_ms(5000), &ret,
                                   NULL),
                     0);
    assert_string_equal(
        json_object_get_string(json_object_object_get(ret, "status")), "colo");
    json_object_put(ret);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);
}

/* Out of band with a QEMU that did not offer it: refused here. */
static void
test_oob_not_offered(void **state)
{
    const struct step script[] = {
        {'s', greeting_plain},
        {'e', "qmp_capabilities"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;

    (void) state;
    peer_start(&p, script);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_int_equal(vcha_qmp_exec_oob(q, "yank", json_object_new_object(),
                                       in_ms(1000), NULL, NULL),
                     -ENOTSUP);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);
}

/* QEMU gone mid-command; a peer that speaks something else; none there. */
static void
test_failures(void **state)
{
    const struct step hangup[] = {
        {'s', greeting_plain},
        {'e', "qmp_capabilities"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {'e', "quit"},
        {'x', NULL},
        {0, NULL},
    };
    const struct step garbage[] = {
        {'s', "SSH-2.0-OpenSSH\r\n"},
        {0, NULL},
    };
    const struct step not_qmp[] = {
        {'s', "{\"hello\": 1}\r\n"},
        {0, NULL},
    };
    const struct step silent[] = {
        {'z', "1000"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;
    struct vcha_qmp_event ev;
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "none.sock");
    char longpath[200];

    (void) state;
    peer_start(&p, hangup);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_int_equal(vcha_qmp_exec(q, "quit", NULL, in_ms(5000), NULL, NULL),
                     -ECONNRESET);
    assert_int_equal(vcha_qmp_event_next(q, in_ms(1000), &ev), -ECONNRESET);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);

    peer_start(&p, garbage);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), -EPROTO);
    assert_null(q);
    peer_end(&p);
    peer_start(&p, not_qmp);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), -EPROTO);
    peer_end(&p);
    peer_start(&p, silent);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(300), &q), -ETIME);
    peer_end(&p);

    assert_int_equal(vcha_qmp_open(path, in_ms(1000), &q), -ENOENT);
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(vcha_qmp_open(longpath, in_ms(1000), &q), -ENAMETOOLONG);
    vcha_qmp_close(NULL);
    free(path);
    test_tmpdir_remove(dir);
}

/* A listening socket at @p path whose backlog is full, as QEMU's is when
 * it has not accepted yet: the connections that fill it, unaccepted, go
 * to fill[] (*nfill of them). */
static int
listen_full(const char *path, int fill[], int size, int *nfill)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool full = false;

    assert_true(lfd >= 0);
    strcpy(a.sun_path, path);
    assert_int_equal(bind(lfd, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    *nfill = 0;
    while (!full && *nfill < size) {
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

        assert_true(c >= 0);
        if (connect(c, (struct sockaddr *) &a, sizeof(a)) == 0) {
            fill[(*nfill)++] = c;
        } else {
            assert_int_equal(errno, EAGAIN);
            close(c);
            full = true;
        }
    }
    assert_true(full);
    return lfd;
}

/* QEMU's backlog full: connect() says EAGAIN, which on a unix socket is
 * no connection under way.  Nobody accepts: -ETIME at the deadline.
 * Accepted later: the open gets in then. */
static void
test_backlog_full(void **state)
{
    const struct step script[] = {
        {'s', greeting_plain},
        {'e', "qmp_capabilities"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = (struct vcha_qmp *) 1;
    int fill[16], nfill, lfd;
    long long t0;

    (void) state;
    p.dir = test_tmpdir_new();
    assert_non_null(p.dir);
    p.path = test_path(p.dir, "qmp.sock");
    lfd = listen_full(p.path, fill, 16, &nfill);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_qmp_open(p.path, in_ms(300), &q), -ETIME);
    assert_null(q);
    assert_in_range(vcha_now_ms() - t0, 290, 2000);

    /* the peer accepts the pending ones 300 ms on, then the open's */
    p.pid = fork();
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        vcha_sleep_ms(300);
        for (int i = 0; i < nfill; i++) {
            int c = accept(lfd, NULL, NULL);

            if (c < 0) {
                _exit(2);
            }
            close(c);
        }
        peer_play(lfd, script);
    }
    close(lfd);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_in_range(vcha_now_ms() - t0, 250, 4000);
    vcha_qmp_close(q);
    for (int i = 0; i < nfill; i++) {
        close(fill[i]);
    }
    assert_int_equal(peer_end(&p), 0);
}

/* A command cut off by its deadline, QEMU not reading: half of it is on
 * the stream, so every later call fails at once rather than send after
 * it. */
static void
test_partial_send(void **state)
{
    const struct step script[] = {
        {'s', greeting_plain},
        {'e', "qmp_capabilities"},
        {'s', "{\"return\": {}, \"id\": \"vcha-1\"}\r\n"},
        {'z', "1000"},
        {0, NULL},
    };
    struct peer p;
    struct vcha_qmp *q = NULL;
    struct vcha_qmp_event ev;
    json_object *args = json_object_new_object();
    json_object *ret = (json_object *) 1;
    char *blob = malloc(1024 * 1024);
    int small = 4096;
    long long t0;

    (void) state;
    assert_non_null(blob);
    memset(blob, 'x', 1024 * 1024 - 1);
    blob[1024 * 1024 - 1] = '\0';
    json_object_object_add(args, "blob", json_object_new_string(blob));
    free(blob);
    peer_start(&p, script);
    assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), 0);
    assert_int_equal(setsockopt(vcha_qmp_fd(q), SOL_SOCKET, SO_SNDBUF, &small,
                                sizeof(small)),
                     0);
    assert_int_equal(vcha_qmp_exec(q, "x-big", args, in_ms(200), NULL, NULL),
                     -ETIME);
    t0 = vcha_now_ms();
    assert_int_equal(
        vcha_qmp_exec(q, "query-status", NULL, in_ms(1000), &ret, NULL),
        -EPIPE);
    assert_null(ret);
    assert_int_equal(vcha_qmp_hmp(q, "info status", in_ms(1000), NULL), -EPIPE);
    assert_int_equal(vcha_qmp_event_next(q, in_ms(1000), &ev), -EPIPE);
    assert_null(ev.name);
    assert_true(vcha_now_ms() - t0 < 100);
    vcha_qmp_close(q);
    assert_int_equal(peer_end(&p), 0);
}

/* A greeting whose capabilities are not a list, or whose "QMP" is not an
 * object: not QMP. */
static void
test_greeting_malformed(void **state)
{
    static const char *const greetings[] = {
        "{\"QMP\": {\"version\": {}, \"capabilities\": \"oob\"}}\r\n",
        "{\"QMP\": {\"version\": {}, \"capabilities\": {\"oob\": 1}}}\r\n",
        "{\"QMP\": {\"version\": {}, \"capabilities\": 1}}\r\n",
        "{\"QMP\": [\"oob\"]}\r\n",
        "{\"QMP\": null}\r\n",
    };

    (void) state;
    for (size_t i = 0; i < sizeof(greetings) / sizeof(greetings[0]); i++) {
        const struct step script[] = {
            {'s', greetings[i]},
            {0, NULL},
        };
        struct peer p;
        struct vcha_qmp *q = (struct vcha_qmp *) 1;

        peer_start(&p, script);
        assert_int_equal(vcha_qmp_open(p.path, in_ms(5000), &q), -EPROTO);
        assert_null(q);
        assert_int_equal(peer_end(&p), 0);
    }
}

/* A real QEMU a test started, and what it holds: the teardown kills and
 * reaps QEMU and frees the rest whatever the test did, so that a failed
 * assertion does not leave QEMU running. */
struct qemu {
    char *dir, *path, *qmparg;
    pid_t pid; /* 0 when none runs or it was reaped */
    struct vcha_qmp *q;
};

static int
qemu_setup(void **state)
{
    struct qemu *qm = calloc(1, sizeof(*qm));

    *state = qm;
    return qm != NULL ? 0 : -1;
}

static int
qemu_teardown(void **state)
{
    struct qemu *qm = *state;

    if (qm == NULL) {
        return 0;
    }
    vcha_qmp_close(qm->q);
    if (qm->pid > 0) {
        kill(qm->pid, SIGKILL);
        while (waitpid(qm->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    free(qm->qmparg);
    free(qm->path);
    test_tmpdir_remove(qm->dir);
    free(qm);
    *state = NULL;
    return 0;
}

/* Start QEMU with no machine, stopped, and connect to it in qm->q. */
static void
qemu_start(struct qemu *qm)
{
    int rc = -1;

    qm->dir = test_tmpdir_new();
    assert_non_null(qm->dir);
    qm->path = test_path(qm->dir, "qmp.sock");
    assert_true(asprintf(&qm->qmparg, "unix:%s,server=on,wait=off", qm->path) >
                0);
    qm->pid = fork();
    assert_true(qm->pid >= 0);
    if (qm->pid == 0) {
        execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "none",
               "-nodefaults", "-display", "none", "-S", "-qmp", qm->qmparg,
               (char *) NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = vcha_qmp_open(qm->path, in_ms(5000), &qm->q);
        if (rc != 0) {
            vcha_sleep_ms(50);
        }
    }
    assert_int_equal(rc, 0);
}

/* A real QEMU: negotiation with oob, commands, an error, events with
 * QEMU's own timestamps, the human monitor, yank out of band. */
static void
test_real_qemu(void **state)
{
    struct qemu *qm = *state;
    struct vcha_qmp *q;
    struct vcha_qmp_event ev;
    json_object *ret = NULL;
    char *err = NULL, *out = NULL;
    int rc = -1;

    qemu_start(qm);
    q = qm->q;
    assert_true(vcha_qmp_has_oob(q));
    assert_int_equal(vcha_qmp_exec(q, "query-status", NULL, in_ms(5000), &ret,
                                   NULL),
                     0);
    assert_string_equal(
        json_object_get_string(json_object_object_get(ret, "status")),
        "prelaunch");
    json_object_put(ret);
    assert_int_equal(vcha_qmp_exec(q, "no-such-command", NULL, in_ms(5000),
                                   NULL, &err),
                     -EREMOTEIO);
    assert_non_null(strstr(err, "CommandNotFound"));
    free(err);
    long long before = vcha_realtime_ms();

    assert_int_equal(vcha_qmp_exec(q, "cont", NULL, in_ms(5000), NULL, NULL),
                     0);
    assert_int_equal(vcha_qmp_event_next(q, in_ms(5000), &ev), 0);
    assert_string_equal(ev.name, "RESUME");
    assert_in_range(ev.timestamp_us / 1000, before - 1000, before + 5000);
    vcha_qmp_event_clear(&ev);
    assert_int_equal(vcha_qmp_exec(q, "stop", NULL, in_ms(5000), NULL, NULL),
                     0);
    assert_int_equal(vcha_qmp_event_next(q, in_ms(5000), &ev), 0);
    assert_string_equal(ev.name, "STOP");
    vcha_qmp_event_clear(&ev);
    assert_int_equal(vcha_qmp_hmp(q, "info status", in_ms(5000), &out), 0);
    assert_non_null(strstr(out, "paused"));
    free(out);
    json_object *args = json_object_new_object();

    json_object_object_add(args, "instances", json_object_new_array());
    assert_int_equal(vcha_qmp_exec_oob(q, "yank", args, in_ms(5000), NULL,
                                       NULL),
                     0);
    assert_int_equal(vcha_qmp_exec(q, "quit", NULL, in_ms(5000), NULL, NULL),
                     0);
    vcha_qmp_close(q);
    qm->q = NULL;
    assert_int_equal(waitpid(qm->pid, &rc, 0), qm->pid);
    qm->pid = 0;
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

/* Where qemu_fails() reports the pid of the QEMU it started. */
static int qemu_pid_fd = -1;

static void
qemu_fails(void **state)
{
    struct qemu *qm = *state;

    qemu_start(qm);
    assert_int_equal(write(qemu_pid_fd, &qm->pid, sizeof(qm->pid)),
                     sizeof(qm->pid));
    fail_msg("fails on purpose with QEMU running");
}

/* A test that fails with QEMU running, in a child process of its own:
 * QEMU must be gone, reaped, when the child is.  This process adopts the
 * child's orphans meanwhile, so that a QEMU left behind is found here and
 * stopped. */
static void
test_real_qemu_teardown(void **state)
{
    const struct CMUnitTest fails[] = {
        cmocka_unit_test_setup_teardown(qemu_fails, qemu_setup, qemu_teardown),
    };
    int fds[2], status, why = 0;
    pid_t child, qemu = 0, left = -1;
    ssize_t n;

    (void) state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);

        /* its report would mix into this one's */
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(fds[0]);
        qemu_pid_fd = fds[1];
        _exit(cmocka_run_group_tests_name("qemu_fails", fails, NULL, NULL));
    }
    close(fds[1]);
    n = read(fds[0], &qemu, sizeof(qemu));
    close(fds[0]);
    assert_int_equal(waitpid(child, &status, 0), child);
    /* a QEMU still running is this process's child now */
    if (n == sizeof(qemu)) {
        left = waitpid(qemu, &status, WNOHANG);
        why = errno;
    }
    if (left == 0) {
        kill(qemu, SIGKILL);
        waitpid(qemu, &status, 0);
    }
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    assert_int_equal(n, sizeof(qemu));
    assert_int_equal(left, -1);
    assert_int_equal(why, ECHILD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_and_events),
        cmocka_unit_test(test_error_and_hmp),
        cmocka_unit_test(test_deadline_and_oob),
        cmocka_unit_test(test_oob_not_offered),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_backlog_full),
        cmocka_unit_test(test_partial_send),
        cmocka_unit_test(test_greeting_malformed),
        cmocka_unit_test_setup_teardown(test_real_qemu, qemu_setup,
                                        qemu_teardown),
        cmocka_unit_test(test_real_qemu_teardown),
    };

    return cmocka_run_group_tests(tests, setup_greetings, NULL);
}
