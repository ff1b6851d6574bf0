/*
 * Unit tests for libcommon/colo/qmp.c: against a scripted peer (a child
 * process on a unix socket that checks each line it is sent and answers
 * as QEMU would, or does not), and against a real QEMU (the machine's
 * qemu-system-x86_64, with no machine: it starts at once).
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A real QEMU: negotiation with oob, commands, an error, events with
 * QEMU's own timestamps, the human monitor, yank out of band. */
static void
test_real_qemu(void **state)
{
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "qmp.sock");
    char *qmparg = NULL;
    struct vcha_qmp *q = NULL;
    struct vcha_qmp_event ev;
    json_object *ret = NULL;
    char *err = NULL, *out = NULL;
    pid_t pid;
    int rc = -1;

    (void) state;
    assert_true(asprintf(&qmparg, "unix:%s,server=on,wait=off", path) > 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "none",
               "-nodefaults", "-display", "none", "-S", "-qmp", qmparg,
               (char *) NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = vcha_qmp_open(path, in_ms(5000), &q);
        if (rc != 0) {
            vcha_sleep_ms(50);
        }
    }
    assert_int_equal(rc, 0);
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
    assert_int_equal(waitpid(pid, &rc, 0), pid);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    free(qmparg);
    free(path);
    test_tmpdir_remove(dir);
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
        cmocka_unit_test(test_real_qemu),
    };

    return cmocka_run_group_tests(tests, setup_greetings, NULL);
}
