/*
 * Unit tests for libcommon/jobs/client.c: key=value lists and their encoding,
 * the request/response exchange against fake servers (in a child process) that
 * answer, fail, stall or hang up half way, and vcha_vchad_ensure() starting
 * the real daemon, also from several callers at once.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
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
#include <time.h>
#include <unistd.h>

/* cmocka.h needs stdarg.h, stddef.h, setjmp.h and stdint.h first */
#include <cmocka.h>

#include <vcha/ckptjob.h>
#include <vcha/clock.h>
#include <vcha/job.h>
#include <vcha/vchad.h>

#include "../test-util.h"

/* ------------------------------------------------------------ the list */

static void
test_kv_set_get_in_order(void **state)
{
    struct vcha_kv *kv = vcha_kv_new();

    (void) state;
    assert_non_null(kv);
    assert_int_equal(vcha_kv_count(kv), 0);
    assert_int_equal(vcha_kv_set(kv, "cmd", "ping"), 0);
    assert_int_equal(vcha_kv_set(kv, "id", "web"), 0);
    assert_int_equal(vcha_kv_setf(kv, "n", "%d-%s", 42, "x"), 0);
    assert_int_equal(vcha_kv_set(kv, "id", "db"), 0); /* replaced in place */
    assert_int_equal(vcha_kv_count(kv), 3);
    assert_string_equal(vcha_kv_key(kv, 0), "cmd");
    assert_string_equal(vcha_kv_key(kv, 1), "id");
    assert_string_equal(vcha_kv_value(kv, 1), "db");
    assert_string_equal(vcha_kv_key(kv, 2), "n");
    assert_string_equal(vcha_kv_value(kv, 2), "42-x");
    assert_null(vcha_kv_key(kv, 3));
    assert_null(vcha_kv_value(kv, 3));
    assert_string_equal(vcha_kv_get(kv, "cmd"), "ping");
    assert_null(vcha_kv_get(kv, "missing"));
    assert_int_equal(vcha_kv_set(kv, "empty", ""), 0);
    assert_string_equal(vcha_kv_get(kv, "empty"), "");
    vcha_kv_free(kv);
}

static void
test_kv_null_safe(void **state)
{
    long long v = 0;

    (void) state;
    vcha_kv_free(NULL);
    assert_null(vcha_kv_get(NULL, "a"));
    assert_int_equal(vcha_kv_count(NULL), 0);
    assert_null(vcha_kv_key(NULL, 0));
    assert_null(vcha_kv_value(NULL, 0));
    assert_int_equal(vcha_kv_get_ll(NULL, "a", &v), -ENOENT);
    assert_int_equal(vcha_kv_set(NULL, "a", "b"), -EINVAL);
    assert_int_equal(vcha_kv_setf(NULL, "a", "%s", "b"), -EINVAL);
}

static void
test_kv_keys_checked(void **state)
{
    struct vcha_kv *kv = vcha_kv_new();

    (void) state;
    assert_true(vcha_kv_key_valid("a"));
    assert_true(vcha_kv_key_valid("job.0.fig.size_mb"));
    assert_true(vcha_kv_key_valid("vcha-web:0-age"));
    assert_false(vcha_kv_key_valid(NULL));
    assert_false(vcha_kv_key_valid(""));
    assert_false(vcha_kv_key_valid("a=b"));
    assert_false(vcha_kv_key_valid("a b"));
    assert_false(vcha_kv_key_valid("a\nb"));
    assert_false(vcha_kv_key_valid("caf\xc3\xa9"));
    assert_int_equal(vcha_kv_set(kv, "a=b", "x"), -EINVAL);
    assert_int_equal(vcha_kv_set(kv, "", "x"), -EINVAL);
    assert_int_equal(vcha_kv_set(kv, "a", NULL), -EINVAL);
    assert_int_equal(vcha_kv_setf(kv, "a b", "%d", 1), -EINVAL);
    assert_int_equal(vcha_kv_count(kv), 0);
    vcha_kv_free(kv);
}

static void
test_kv_get_ll(void **state)
{
    struct vcha_kv *kv = vcha_kv_new();
    long long v = 7;

    (void) state;
    vcha_kv_set(kv, "n", "-42");
    vcha_kv_set(kv, "big", "9223372036854775807");
    vcha_kv_set(kv, "over", "9223372036854775808");
    vcha_kv_set(kv, "junk", "12x");
    vcha_kv_set(kv, "empty", "");
    assert_int_equal(vcha_kv_get_ll(kv, "n", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(vcha_kv_get_ll(kv, "big", &v), 0);
    assert_true(v == LLONG_MAX);
    v = 7;
    assert_int_equal(vcha_kv_get_ll(kv, "over", &v), -EINVAL);
    assert_int_equal(vcha_kv_get_ll(kv, "junk", &v), -EINVAL);
    assert_int_equal(vcha_kv_get_ll(kv, "empty", &v), -EINVAL);
    assert_int_equal(vcha_kv_get_ll(kv, "none", &v), -ENOENT);
    assert_int_equal(v, 7); /* untouched on failure */
    vcha_kv_free(kv);
}

static void
test_kv_dup_and_equal(void **state)
{
    static const char *const skip[] = {"cmd", NULL};
    struct vcha_kv *a = vcha_kv_new(), *b = NULL, *empty = vcha_kv_new();

    (void) state;
    vcha_kv_set(a, "cmd", "job-add");
    vcha_kv_set(a, "x", "1");
    vcha_kv_set(a, "y", "two");
    b = vcha_kv_dup(a);
    assert_non_null(b);
    assert_int_equal(vcha_kv_count(b), 3);
    assert_true(vcha_kv_equal(a, b, NULL));
    vcha_kv_set(b, "cmd", "other");
    assert_false(vcha_kv_equal(a, b, NULL));
    assert_true(vcha_kv_equal(a, b, skip));
    vcha_kv_set(b, "z", "3"); /* one more key is a difference */
    assert_false(vcha_kv_equal(a, b, skip));
    assert_false(vcha_kv_equal(b, a, skip));
    assert_true(vcha_kv_equal(empty, NULL, NULL));
    vcha_kv_free(b);
    b = vcha_kv_dup(NULL);
    assert_non_null(b);
    assert_int_equal(vcha_kv_count(b), 0);
    vcha_kv_free(b);
    vcha_kv_free(a);
    vcha_kv_free(empty);
}

static void
test_kv_join(void **state)
{
    struct vcha_kv *kv = vcha_kv_new();
    char buf[64], small[8];

    (void) state;
    assert_string_equal(vcha_kv_join(kv, buf, sizeof(buf)), "");
    vcha_kv_set(kv, "freeze_ms", "120");
    vcha_kv_set(kv, "to", "node4");
    assert_string_equal(vcha_kv_join(kv, buf, sizeof(buf)),
                        " freeze_ms=120 to=node4");
    /* cut where it no longer fits, still a string */
    assert_string_equal(vcha_kv_join(kv, small, sizeof(small)), " freeze");
    vcha_kv_free(kv);
}

/* ------------------------------------------------------------ encoding */

static void
test_escape_what_must_be(void **state)
{
    char *e = vcha_kv_escape("a=b%c\nd\x01\x7f caf\xc3\xa9\t");

    (void) state;
    assert_non_null(e);
    assert_string_equal(e, "a%3Db%25c%0Ad%01%7F caf\xc3\xa9%09");
    free(e);
    e = vcha_kv_escape("");
    assert_string_equal(e, "");
    free(e);
}

static void
test_escape_round_trip_every_byte(void **state)
{
    char all[256], *e = NULL, *d = NULL;

    (void) state;
    for (int i = 1; i < 256; i++) {
        all[i - 1] = (char) i;
    }
    all[255] = '\0';
    e = vcha_kv_escape(all);
    assert_non_null(e);
    assert_null(strchr(e, '\n'));
    assert_null(strchr(e, '='));
    assert_int_equal(vcha_kv_unescape(e, strlen(e), &d), 0);
    assert_string_equal(d, all);
    free(d);
    free(e);
}

static void
test_unescape_rejects_malformed(void **state)
{
    static const char *const bad[] = {"%",    "%4",  "a%zz", "%00",  "a\nb",
                                      "\x01", "%g0", "x%0",  "\x7f", "ok%0Z"};
    char *d = (char *) 1;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vcha_kv_unescape(bad[i], strlen(bad[i]), &d),
                         -EBADMSG);
        assert_null(d);
    }
    /* lower-case hex and a raw '=' are accepted */
    assert_int_equal(vcha_kv_unescape("%3d=%0a", 7, &d), 0);
    assert_string_equal(d, "==\n");
    free(d);
    /* only len bytes count */
    assert_int_equal(vcha_kv_unescape("abc%41", 3, &d), 0);
    assert_string_equal(d, "abc");
    free(d);
}

static void
test_encode_parse_round_trip(void **state)
{
    struct vcha_kv *kv = vcha_kv_new(), *back = vcha_kv_new();
    char *buf = NULL;
    size_t len = 0, used = 0;

    (void) state;
    vcha_kv_set(kv, "cmd", "job-add");
    vcha_kv_set(kv, "path", "/srv/a b/c=d%e");
    vcha_kv_set(kv, "multi", "line one\nline two\n\n");
    vcha_kv_set(kv, "empty", "");
    assert_int_equal(vcha_kv_encode(kv, &buf, &len), 0);
    assert_int_equal(strlen(buf), len);
    assert_string_equal(buf, "cmd=job-add\npath=/srv/a b/c%3Dd%25e\n"
                             "multi=line one%0Aline two%0A%0A\nempty=\n\n");
    assert_int_equal(vcha_kv_parse(back, buf, len, &used), 0);
    assert_int_equal(used, len);
    assert_true(vcha_kv_equal(kv, back, NULL));
    assert_string_equal(vcha_kv_key(back, 0), "cmd"); /* order kept */
    free(buf);
    vcha_kv_free(back);
    vcha_kv_free(kv);
}

static void
test_encode_empty_list(void **state)
{
    struct vcha_kv *kv = vcha_kv_new(), *back = vcha_kv_new();
    char *buf = NULL;
    size_t len = 0, used = 0;

    (void) state;
    assert_int_equal(vcha_kv_encode(kv, &buf, &len), 0);
    assert_string_equal(buf, "\n");
    assert_int_equal(vcha_kv_parse(back, buf, len, &used), 0);
    assert_int_equal(used, 1);
    assert_int_equal(vcha_kv_count(back), 0);
    free(buf);
    vcha_kv_free(back);
    vcha_kv_free(kv);
}

static void
test_parse_incomplete_then_complete(void **state)
{
    const char *text = "status=0\nid=web\n\nnext=1\n";
    struct vcha_kv *kv = NULL;
    size_t used = 0, len = strlen(text);

    (void) state;
    /* every prefix that ends before the empty line asks for more */
    for (size_t cut = 0; cut < 17; cut++) {
        kv = vcha_kv_new();
        assert_int_equal(vcha_kv_parse(kv, text, cut, &used), -EAGAIN);
        vcha_kv_free(kv);
    }
    kv = vcha_kv_new();
    assert_int_equal(vcha_kv_parse(kv, text, len, &used), 0);
    assert_int_equal(used, 17); /* the first block only */
    assert_int_equal(vcha_kv_count(kv), 2);
    assert_null(vcha_kv_get(kv, "next"));
    vcha_kv_free(kv);
}

static void
test_parse_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "noequals\n\n", "=v\n\n",      "bad key=v\n\n",
        "a=%zz\n\n",    "ok=1\nx\n\n", "a=\x01\n\n",
    };
    size_t used = 0;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vcha_kv *kv = vcha_kv_new();

        assert_int_equal(vcha_kv_parse(kv, bad[i], strlen(bad[i]), &used),
                         -EBADMSG);
        vcha_kv_free(kv);
    }
}

static void
test_parse_line(void **state)
{
    struct vcha_kv *kv = vcha_kv_new();
    char key[300];

    (void) state;
    assert_int_equal(vcha_kv_parse_line(kv, "a=1", 3), 0);
    assert_int_equal(vcha_kv_parse_line(kv, "b=x%3Dy", 7), 0);
    assert_int_equal(vcha_kv_parse_line(kv, "a=2", 3), 0); /* last wins */
    assert_int_equal(vcha_kv_parse_line(kv, "c=", 2), 0);
    assert_int_equal(vcha_kv_parse_line(kv, "d=1=2", 5), 0);
    assert_int_equal(vcha_kv_parse_line(kv, "e", 1), -EBADMSG);
    assert_int_equal(vcha_kv_parse_line(kv, "", 0), -EBADMSG);
    memset(key, 'k', sizeof(key));
    key[sizeof(key) - 2] = '=';
    key[sizeof(key) - 1] = 'v';
    assert_int_equal(vcha_kv_parse_line(kv, key, sizeof(key)), -EBADMSG);
    assert_int_equal(vcha_kv_count(kv), 4);
    assert_string_equal(vcha_kv_get(kv, "a"), "2");
    assert_string_equal(vcha_kv_get(kv, "b"), "x=y");
    assert_string_equal(vcha_kv_get(kv, "c"), "");
    assert_string_equal(vcha_kv_get(kv, "d"), "1=2");
    vcha_kv_free(kv);
}

/* ------------------------------------------------------------ requests */

static void
test_socket_default_and_env(void **state)
{
    (void) state;
    unsetenv("VCHA_SOCKET");
    assert_string_equal(vcha_vchad_socket(), VCHA_VCHAD_SOCKET);
    assert_string_equal(vcha_vchad_socket(), "/run/vcha/vchad.sock");
    setenv("VCHA_SOCKET", "", 1);
    assert_string_equal(vcha_vchad_socket(), VCHA_VCHAD_SOCKET);
    setenv("VCHA_SOCKET", "/tmp/x.sock", 1);
    assert_string_equal(vcha_vchad_socket(), "/tmp/x.sock");
    unsetenv("VCHA_SOCKET");
}

static void
test_request_new(void **state)
{
    struct vcha_kv *req = vcha_vchad_request_new("job-health");

    (void) state;
    assert_non_null(req);
    assert_int_equal(vcha_kv_count(req), 1);
    assert_string_equal(vcha_kv_key(req, 0), "cmd");
    assert_string_equal(vcha_kv_value(req, 0), "job-health");
    vcha_kv_free(req);
}

/* A fake server: a listening socket, and a child that serves one client. */
struct fake {
    char *dir;
    char *sock;
    int listen_fd;
    pid_t pid;
};

/* What the fake server's child does with its one client. */
typedef void (*fake_fn)(int fd, const char *arg);

/* Read the request up to its empty line (or 64 KiB). */
static void
fake_read_request(int fd)
{
    char buf[65536];
    size_t len = 0;

    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);

        if (n <= 0) {
            return;
        }
        len += (size_t) n;
        if (memmem(buf, len, "\n\n", 2) != NULL) {
            return;
        }
    }
}

static void
fake_write(int fd, const char *text)
{
    (void) !write(fd, text, strlen(text));
}

static void
fake_start(struct fake *f, fake_fn fn, const char *arg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    f->dir = test_tmpdir_new();
    assert_non_null(f->dir);
    f->sock = test_path(f->dir, "fake.sock");
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->listen_fd >= 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)),
                     0);
    assert_int_equal(listen(f->listen_fd, 8), 0);
    fflush(stdout); /* the child must not print the tests' output again */
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        int fd = accept(f->listen_fd, NULL, NULL);

        if (fd >= 0 && fn != NULL) {
            fn(fd, arg);
        }
        vcha_sleep_ms(50); /* let the client read before the close */
        _exit(0);
    }
}

static void
fake_stop(struct fake *f)
{
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    close(f->listen_fd);
    free(f->sock);
    test_tmpdir_remove(f->dir);
}

/* Call @p req (or a ping) on a fake server; returns the rc. */
static int
fake_call(fake_fn fn, const char *arg, long long timeout_ms,
          struct vcha_kv **resp)
{
    struct vcha_kv *req = vcha_vchad_request_new("job-health");
    struct fake f;
    int rc;

    vcha_kv_set(req, "id", "web");
    fake_start(&f, fn, arg);
    rc = vcha_vchad_call(f.sock, req, resp, vcha_now_ms() + timeout_ms);
    fake_stop(&f);
    vcha_kv_free(req);
    return rc;
}

/* Answer @p arg after checking the request. */
static void
serve_answer(int fd, const char *arg)
{
    char buf[4096];
    size_t len = 0;
    ssize_t n;

    while (len < sizeof(buf) - 1 &&
           (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t) n;
        buf[len] = '\0';
        if (strstr(buf, "\n\n") != NULL) {
            break;
        }
    }
    buf[len] = '\0';
    if (strcmp(buf, "cmd=job-health\nid=web\n\n") != 0 &&
        strcmp(buf, "cmd=ping\n\n") != 0) {
        fake_write(fd, "status=-22\nerror=unexpected request\n\n");
        return;
    }
    fake_write(fd, arg);
}

static void
test_call_answer(void **state)
{
    struct vcha_kv *resp = NULL;

    (void) state;
    assert_int_equal(fake_call(serve_answer,
                               "status=0\nstate=ok\nfig=a%3Db\n\n", 5000,
                               &resp),
                     0);
    assert_non_null(resp);
    assert_string_equal(vcha_kv_get(resp, "state"), "ok");
    assert_string_equal(vcha_kv_get(resp, "fig"), "a=b");
    vcha_kv_free(resp);
}

static void
test_call_error_status(void **state)
{
    struct vcha_kv *resp = NULL;

    (void) state;
    assert_int_equal(
        fake_call(serve_answer, "status=-2\nerror=no job web\n\n", 5000, &resp),
        -ENOENT);
    assert_non_null(resp); /* the daemon answered: its error is there */
    assert_string_equal(vcha_kv_get(resp, "error"), "no job web");
    vcha_kv_free(resp);
}

static void
test_call_bad_status(void **state)
{
    static const char *const answers[] = {"state=ok\n\n", "status=1\n\n",
                                          "status=x\n\n",
                                          "status=0\nbad line\n\n"};
    struct vcha_kv *resp = (struct vcha_kv *) 1;

    (void) state;
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        assert_int_equal(fake_call(serve_answer, answers[i], 5000, &resp),
                         -EBADMSG);
        assert_null(resp);
    }
}

/* Send the answer a few bytes at a time. */
static void
serve_trickle(int fd, const char *arg)
{
    fake_read_request(fd);
    for (const char *p = arg; *p != '\0'; p += 3) {
        (void) !write(fd, p, strlen(p) < 3 ? strlen(p) : 3);
        vcha_sleep_ms(5);
    }
}

static void
test_call_answer_in_pieces(void **state)
{
    struct vcha_kv *resp = NULL;

    (void) state;
    assert_int_equal(fake_call(serve_trickle,
                               "status=0\nid=web\nlast_error=a%0Ab\n\n", 5000,
                               &resp),
                     0);
    assert_string_equal(vcha_kv_get(resp, "last_error"), "a\nb");
    vcha_kv_free(resp);
}

/* Read the request, then say nothing (or @p arg) and stay. */
static void
serve_stall(int fd, const char *arg)
{
    fake_read_request(fd);
    if (arg != NULL) {
        fake_write(fd, arg);
    }
    vcha_sleep_ms(10000);
}

static void
test_call_times_out_at_deadline(void **state)
{
    struct vcha_kv *resp = (struct vcha_kv *) 1;
    long long t0 = vcha_now_ms(), took;

    (void) state;
    assert_int_equal(fake_call(serve_stall, NULL, 300, &resp), -ETIME);
    took = vcha_now_ms() - t0;
    assert_null(resp);
    assert_true(took >= 300);
    assert_true(took < 3000);
}

static void
test_call_partial_answer_then_stall(void **state)
{
    struct vcha_kv *resp = (struct vcha_kv *) 1;

    (void) state;
    assert_int_equal(fake_call(serve_stall, "status=0\nstate=o", 300, &resp),
                     -ETIME);
    assert_null(resp);
}

/* Read the request, send part of an answer, hang up. */
static void
serve_partial(int fd, const char *arg)
{
    fake_read_request(fd);
    fake_write(fd, arg);
    close(fd);
}

static void
test_call_partial_answer_then_close(void **state)
{
    struct vcha_kv *resp = (struct vcha_kv *) 1;

    (void) state;
    assert_int_equal(
        fake_call(serve_partial, "status=0\nstate=ok\n", 5000, &resp),
        -EBADMSG);
    assert_null(resp);
    assert_int_equal(fake_call(serve_partial, "", 5000, &resp), -EBADMSG);
    assert_null(resp);
}

/* Answer with more than a response may hold. */
static void
serve_flood(int fd, const char *arg)
{
    char line[4096];

    fake_read_request(fd);
    memset(line, 'x', sizeof(line));
    fake_write(fd, "status=0\n");
    for (int i = 0; i < 400; i++) {
        if (write(fd, line, sizeof(line)) < 0) {
            break;
        }
    }
}

static void
test_call_answer_too_large(void **state)
{
    struct vcha_kv *resp = (struct vcha_kv *) 1;

    (void) state;
    assert_int_equal(fake_call(serve_flood, NULL, 5000, &resp), -EMSGSIZE);
    assert_null(resp);
}

/* Answer at once, without reading the request (as for a refused peer). */
static void
serve_refuse(int fd, const char *arg)
{
    fake_write(fd, "status=-1\nerror=permission denied\n\n");
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

static void
test_call_answer_before_request_read(void **state)
{
    struct vcha_kv *req = vcha_vchad_request_new("job-add");
    struct vcha_kv *resp = NULL;
    char *big = malloc(512 * 1024);
    struct fake f;

    (void) state;
    memset(big, 'v', 512 * 1024 - 1);
    big[512 * 1024 - 1] = '\0';
    vcha_kv_set(req, "big", big); /* more than the socket buffers hold */
    fake_start(&f, serve_refuse, NULL);
    assert_int_equal(vcha_vchad_call(f.sock, req, &resp, vcha_now_ms() + 5000),
                     -EPERM);
    assert_string_equal(vcha_kv_get(resp, "error"), "permission denied");
    fake_stop(&f);
    vcha_kv_free(resp);
    vcha_kv_free(req);
    free(big);
}

static void
test_call_nobody_listening(void **state)
{
    struct vcha_kv *req = vcha_vchad_request_new("ping");
    struct vcha_kv *resp = (struct vcha_kv *) 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *dir = test_tmpdir_new(), *sock = test_path(dir, "gone.sock");
    char longpath[200];
    int fd;

    (void) state;
    /* no socket file */
    assert_int_equal(vcha_vchad_call(sock, req, &resp, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    assert_null(resp);
    /* a stale socket file: bound once, nobody listens */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    close(fd);
    assert_int_equal(vcha_vchad_ping(sock, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    /* a path that does not fit in sockaddr_un */
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(vcha_vchad_ping(longpath, vcha_now_ms() + 1000),
                     -ENAMETOOLONG);
    free(sock);
    test_tmpdir_remove(dir);
    vcha_kv_free(req);
}

static void
test_ping_answer(void **state)
{
    struct fake f;

    (void) state;
    fake_start(&f, serve_answer, "status=0\npid=1\n\n");
    assert_int_equal(vcha_vchad_ping(f.sock, vcha_now_ms() + 5000), 0);
    fake_stop(&f);
}

/* ------------------------------------------------------------ ensure */

/* The daemon to start: $VCHAD_BIN, or daemon/vchad of this build tree. */
static char *
vchad_path(void)
{
    const char *env = getenv("VCHAD_BIN");
    char self[PATH_MAX], *path = NULL;
    ssize_t n;

    if (env != NULL && *env != '\0') {
        return strdup(env);
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        return NULL;
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0'; /* .../libcommon/tests/vchad */
    if (asprintf(&path, "%s/../../../daemon/vchad", self) < 0) {
        return NULL;
    }
    return path;
}

struct ensure_env {
    char *dir;
    char *sock;
    char *log;
};

static int
ensure_setup(void **state)
{
    struct ensure_env *e = calloc(1, sizeof(*e));
    char *prog = vchad_path();

    if (e == NULL || prog == NULL || access(prog, X_OK) != 0) {
        fprintf(stderr, "# the daemon %s is not built\n",
                prog ? prog : "(unknown)");
        free(prog);
        free(e);
        return -1;
    }
    e->dir = test_tmpdir_new();
    e->sock = test_path(e->dir, "vchad.sock");
    e->log = test_path(e->dir, "vchad.log");
    setenv("VCHA_VCHAD", prog, 1);
    setenv("HA_LOGFACILITY", "none", 1);
    setenv("HA_LOGFILE", e->log, 1);
    free(prog);
    *state = e;
    return 0;
}

/* The pid the daemon on @p sock gives, or -1. */
static pid_t
daemon_pid(const char *sock)
{
    struct vcha_kv *req = vcha_vchad_request_new("ping"), *resp = NULL;
    long long pid = -1;

    if (vcha_vchad_call(sock, req, &resp, vcha_now_ms() + 5000) == 0) {
        vcha_kv_get_ll(resp, "pid", &pid);
    }
    vcha_kv_free(resp);
    vcha_kv_free(req);
    return (pid_t) pid;
}

/* Number of live processes whose command line mentions @p sock. */
static int
processes_on(const char *sock)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[300], *cmd;
        size_t len = 0;
        FILE *f;

        if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
            test_process_dead((pid_t) atoi(de->d_name))) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        f = fopen(path, "re");
        if (f == NULL) {
            continue;
        }
        cmd = calloc(1, 4096);
        len = fread(cmd, 1, 4095, f);
        fclose(f);
        for (size_t i = 0; i + 1 < len; i++) {
            cmd[i] = cmd[i] ? cmd[i] : ' ';
        }
        n += strstr(cmd, sock) != NULL;
        free(cmd);
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void
daemon_stop(pid_t pid)
{
    long long until = vcha_now_ms() + 10000;

    if (pid <= 0) {
        return;
    }
    kill(pid, SIGTERM);
    while (!test_process_dead(pid) && vcha_now_ms() < until) {
        vcha_sleep_ms(10);
    }
}

static int
ensure_teardown(void **state)
{
    struct ensure_env *e = *state;

    daemon_stop(daemon_pid(e->sock));
    unsetenv("VCHA_VCHAD");
    unsetenv("HA_LOGFACILITY");
    unsetenv("HA_LOGFILE");
    free(e->sock);
    free(e->log);
    test_tmpdir_remove(e->dir);
    free(e);
    return 0;
}

static void
test_ensure_starts_the_daemon_once(void **state)
{
    struct ensure_env *e = *state;
    char *lock = NULL, *pidtext = NULL;
    pid_t pid;

    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 10000), 0);
    pid = daemon_pid(e->sock);
    assert_true(pid > 0);
    assert_true(pid != getpid());
    /* it runs: a second ensure finds it and starts nothing */
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 10000), 0);
    assert_int_equal(daemon_pid(e->sock), pid);
    assert_int_equal(processes_on(e->sock), 1);
    /* the lock file next to the socket names the daemon */
    assert_int_equal(asprintf(&lock, "%s.lock", e->sock) > 0, 1);
    pidtext = test_slurp(lock);
    assert_non_null(pidtext);
    assert_int_equal(atoi(pidtext), pid);
    free(pidtext);
    free(lock);
}

static void
test_ensure_race_leaves_one_daemon(void **state)
{
    struct ensure_env *e = *state;
    enum { STARTERS = 4 };
    pid_t kids[STARTERS];
    int go[2];
    char c = 'x';

    assert_int_equal(pipe(go), 0);
    fflush(stdout);
    for (int i = 0; i < STARTERS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(go[1]);
            (void) !read(go[0], &c, 1); /* all start at once */
            _exit(vcha_vchad_ensure(e->sock, vcha_now_ms() + 15000) == 0 ? 0
                                                                         : 1);
        }
    }
    close(go[0]);
    close(go[1]); /* end of file: go */
    for (int i = 0; i < STARTERS; i++) {
        int status = -1;

        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_true(daemon_pid(e->sock) > 0);
    assert_int_equal(processes_on(e->sock), 1);
}

static void
test_ensure_replaces_a_dead_daemon(void **state)
{
    struct ensure_env *e = *state;
    pid_t first, second;

    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 10000), 0);
    first = daemon_pid(e->sock);
    kill(first, SIGKILL); /* leaves its socket file behind */
    while (!test_process_dead(first)) {
        vcha_sleep_ms(5);
    }
    assert_int_equal(access(e->sock, F_OK), 0);
    assert_int_equal(vcha_vchad_ping(e->sock, vcha_now_ms() + 1000),
                     -ECONNREFUSED);
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 10000), 0);
    second = daemon_pid(e->sock);
    assert_true(second > 0);
    assert_true(second != first);
}

static void
test_ensure_missing_program(void **state)
{
    struct ensure_env *e = *state;
    char *missing = test_path(e->dir, "no-such-vchad");

    setenv("VCHA_VCHAD", missing, 1);
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 2000), -ENOENT);
    free(missing);
}

static void
test_ensure_program_fails(void **state)
{
    struct ensure_env *e = *state;

    setenv("VCHA_VCHAD", "/bin/false", 1);
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 2000), -EIO);
}

static void
test_ensure_program_never_answers(void **state)
{
    struct ensure_env *e = *state;
    long long t0 = vcha_now_ms();

    setenv("VCHA_VCHAD", "/bin/true", 1); /* "starts" but never listens */
    assert_int_equal(vcha_vchad_ensure(e->sock, vcha_now_ms() + 500), -ETIME);
    assert_true(vcha_now_ms() - t0 >= 500);
    assert_true(vcha_now_ms() - t0 < 3000);
}

/* ------------------------------------------------------------ jobs */

/* A checkpoint job's parameters, with keep as given. */
static struct vcha_kv *
ckpt_params(const struct ensure_env *e, const char *keep)
{
    struct vcha_kv *kv = vcha_kv_new();

    vcha_kv_set(kv, "container", "web1");
    vcha_kv_set(kv, "lxcpath", "/var/lib/lxc");
    vcha_kv_set(kv, "store", e->dir);
    vcha_kv_set(kv, "keep", keep);
    vcha_kv_set(kv, "compress", "auto");
    return kv;
}

/* No run within the test: the first is an hour away. */
static const struct vcha_job_timing later = {
    .interval_ms = 3600000, .timeout_ms = 7200000, .first_run_ms = 3600000};

static void
test_job_add_health_remove(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "3"), *health = NULL;
    char why[512] = "";
    long long interval = 0;

    /* add starts vchad */
    assert_int_equal(vcha_job_add(e->sock, &vcha_ckpt_job, "rsc1", params,
                                  &later, vcha_now_ms() + 10000, why,
                                  sizeof(why)),
                     0);
    assert_true(daemon_pid(e->sock) > 0);
    assert_int_equal(
        vcha_job_health(e->sock, "rsc1", &health, vcha_now_ms() + 5000), 0);
    assert_int_equal(vcha_kv_get_ll(health, "interval_ms", &interval), 0);
    assert_int_equal(interval, 3600000);
    vcha_kv_free(health);
    assert_int_equal(
        vcha_job_health(e->sock, "other", &health, vcha_now_ms() + 5000),
        -ENOENT);
    assert_null(health);
    assert_int_equal(vcha_job_remove(e->sock, "rsc1", vcha_now_ms() + 5000), 0);
    assert_int_equal(
        vcha_job_health(e->sock, "rsc1", &health, vcha_now_ms() + 5000),
        -ENOENT);
    /* gone, or never there: nothing of it runs */
    assert_int_equal(vcha_job_remove(e->sock, "rsc1", vcha_now_ms() + 5000), 0);
    daemon_stop(daemon_pid(e->sock));
    assert_int_equal(vcha_job_remove(e->sock, "rsc1", vcha_now_ms() + 5000), 0);
    assert_int_equal(
        vcha_job_health(e->sock, "rsc1", &health, vcha_now_ms() + 5000),
        -ECONNREFUSED);
    vcha_kv_free(params);
}

/* A parameter against the contract is refused here, before any vchad. */
static void
test_job_add_checks_the_contract_first(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "1");
    char why[512] = "";

    assert_int_equal(vcha_job_add(e->sock, &vcha_ckpt_job, "rsc1", params,
                                  &later, vcha_now_ms() + 10000, why,
                                  sizeof(why)),
                     -EINVAL);
    assert_non_null(strstr(why, "'keep'"));
    assert_int_equal(processes_on(e->sock), 0);
    vcha_kv_free(params);
}

/* What vchad refuses comes back with its reason. */
static void
test_job_add_says_why_vchad_refused(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "3");
    struct vcha_job_timing too_long = later;
    char why[512] = "";

    too_long.interval_ms = VCHA_JOB_MAX_INTERVAL_MS + 1;
    assert_int_equal(vcha_job_add(e->sock, &vcha_ckpt_job, "rsc1", params,
                                  &too_long, vcha_now_ms() + 10000, why,
                                  sizeof(why)),
                     -EINVAL);
    assert_non_null(strstr(why, "interval_ms"));
    assert_non_null(strstr(why, "refused"));
    vcha_kv_free(params);
}

/* A monitor's keep: a lost job (vchad killed, or without it) comes back. */
static void
test_job_keep_registers_a_lost_job_again(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "3"), *health = NULL;
    char why[512] = "";
    bool readded = true;
    long long interval = 0;
    pid_t first, second;

    assert_int_equal(vcha_job_add(e->sock, &vcha_ckpt_job, "rsc1", params,
                                  &later, vcha_now_ms() + 10000, why,
                                  sizeof(why)),
                     0);
    first = daemon_pid(e->sock);
    /* there: nothing to do */
    assert_int_equal(vcha_job_keep(e->sock, &vcha_ckpt_job, "rsc1", params,
                                   &later, vcha_now_ms() + 10000, &health,
                                   &readded, why, sizeof(why)),
                     0);
    assert_false(readded);
    assert_non_null(health);
    vcha_kv_free(health);
    /* vchad killed: started again, the job registered again */
    kill(first, SIGKILL);
    while (!test_process_dead(first)) {
        vcha_sleep_ms(10);
    }
    assert_int_equal(vcha_job_keep(e->sock, &vcha_ckpt_job, "rsc1", params,
                                   &later, vcha_now_ms() + 10000, &health,
                                   &readded, why, sizeof(why)),
                     0);
    assert_true(readded);
    second = daemon_pid(e->sock);
    assert_true(second > 0 && second != first);
    assert_non_null(health);
    vcha_kv_free(health);
    /* registered again as the resource says: its timing and parameters */
    assert_int_equal(
        vcha_job_health(e->sock, "rsc1", &health, vcha_now_ms() + 5000), 0);
    assert_int_equal(vcha_kv_get_ll(health, "interval_ms", &interval), 0);
    assert_int_equal(interval, later.interval_ms);
    assert_int_equal(vcha_kv_get_ll(health, "timeout_ms", &interval), 0);
    assert_int_equal(interval, later.timeout_ms);
    vcha_kv_free(health);
    /* vchad without the job: registered again */
    assert_int_equal(vcha_job_remove(e->sock, "rsc1", vcha_now_ms() + 5000), 0);
    assert_int_equal(vcha_job_keep(e->sock, &vcha_ckpt_job, "rsc1", params,
                                   &later, vcha_now_ms() + 10000, &health,
                                   &readded, why, sizeof(why)),
                     0);
    assert_true(readded);
    assert_int_equal(daemon_pid(e->sock), second);
    vcha_kv_free(health);
    assert_int_equal(
        vcha_job_health(e->sock, "rsc1", &health, vcha_now_ms() + 5000), 0);
    vcha_kv_free(health);
    vcha_kv_free(params);
}

/* A vchad that does not answer is not a lost job: -ETIME, no re-add. */
static void
test_job_keep_leaves_a_hung_vchad_alone(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "3"), *health = NULL;
    char why[512] = "";
    bool readded = true;
    struct fake f;

    fake_start(&f, serve_stall, NULL);
    assert_int_equal(vcha_job_keep(f.sock, &vcha_ckpt_job, "rsc1", params,
                                   &later, vcha_now_ms() + 300, &health,
                                   &readded, why, sizeof(why)),
                     -ETIME);
    assert_false(readded);
    assert_null(health);
    assert_non_null(strstr(why, "rsc1"));
    /* and no daemon was started beside the one that hangs */
    assert_int_equal(processes_on(f.sock), 0);
    fake_stop(&f);
    vcha_kv_free(params);
}

/* A job that cannot be re-established says why. */
static void
test_job_keep_fails_when_it_cannot_register(void **state)
{
    struct ensure_env *e = *state;
    struct vcha_kv *params = ckpt_params(e, "1"), *health = NULL;
    char why[512] = "";
    bool readded = true;

    assert_int_equal(vcha_job_keep(e->sock, &vcha_ckpt_job, "rsc1", params,
                                   &later, vcha_now_ms() + 10000, &health,
                                   &readded, why, sizeof(why)),
                     -EINVAL);
    assert_false(readded);
    assert_null(health);
    assert_non_null(strstr(why, "'keep'"));
    vcha_kv_free(params);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_set_get_in_order),
        cmocka_unit_test(test_kv_null_safe),
        cmocka_unit_test(test_kv_keys_checked),
        cmocka_unit_test(test_kv_get_ll),
        cmocka_unit_test(test_kv_dup_and_equal),
        cmocka_unit_test(test_kv_join),
        cmocka_unit_test(test_escape_what_must_be),
        cmocka_unit_test(test_escape_round_trip_every_byte),
        cmocka_unit_test(test_unescape_rejects_malformed),
        cmocka_unit_test(test_encode_parse_round_trip),
        cmocka_unit_test(test_encode_empty_list),
        cmocka_unit_test(test_parse_incomplete_then_complete),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_socket_default_and_env),
        cmocka_unit_test(test_request_new),
        cmocka_unit_test(test_call_answer),
        cmocka_unit_test(test_call_error_status),
        cmocka_unit_test(test_call_bad_status),
        cmocka_unit_test(test_call_answer_in_pieces),
        cmocka_unit_test(test_call_times_out_at_deadline),
        cmocka_unit_test(test_call_partial_answer_then_stall),
        cmocka_unit_test(test_call_partial_answer_then_close),
        cmocka_unit_test(test_call_answer_too_large),
        cmocka_unit_test(test_call_answer_before_request_read),
        cmocka_unit_test(test_call_nobody_listening),
        cmocka_unit_test(test_ping_answer),
        cmocka_unit_test_setup_teardown(test_ensure_starts_the_daemon_once,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_race_leaves_one_daemon,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_replaces_a_dead_daemon,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_missing_program,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_program_fails, ensure_setup,
                                        ensure_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_program_never_answers,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_job_add_health_remove,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_job_add_checks_the_contract_first,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(test_job_add_says_why_vchad_refused,
                                        ensure_setup, ensure_teardown),
        cmocka_unit_test_setup_teardown(
            test_job_keep_registers_a_lost_job_again, ensure_setup,
            ensure_teardown),
        cmocka_unit_test_setup_teardown(
            test_job_keep_fails_when_it_cannot_register, ensure_setup,
            ensure_teardown),
        cmocka_unit_test_setup_teardown(test_job_keep_leaves_a_hung_vchad_alone,
                                        ensure_setup, ensure_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
