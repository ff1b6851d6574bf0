/* Unit tests for net/port.c: a TCP port probe, on loopback only. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/clock.h>
#include <vcha/port.h>

/* A socket bound to an ephemeral port of @p family's loopback. */
static int
bound(int family, unsigned *port)
{
    struct sockaddr_storage sa = {0};
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *) &sa;

        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;

        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        len = sizeof(*in6);
    }
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *) &sa)->sin_port
                                    : ((struct sockaddr_in6 *) &sa)->sin6_port);
    return fd;
}

static void
test_open_port(void **state)
{
    unsigned port;
    int fd4 = bound(AF_INET, &port), fd6;
    char why[256] = "";

    (void) state;
    assert_int_equal(listen(fd4, 8), 0);
    assert_int_equal(
        vcha_port_probe("127.0.0.1", port, vcha_now_ms() + 5000, why, 256), 0);
    close(fd4);
    fd6 = bound(AF_INET6, &port);
    assert_int_equal(listen(fd6, 8), 0);
    assert_int_equal(
        vcha_port_probe("::1", port, vcha_now_ms() + 5000, why, 256), 0);
    close(fd6);
}

/* A port bound but not listening: refused, and said so. */
static void
test_closed_port_is_refused(void **state)
{
    unsigned port;
    int fd = bound(AF_INET, &port);
    char why[256] = "";

    (void) state;
    assert_int_equal(
        vcha_port_probe("127.0.0.1", port, vcha_now_ms() + 5000, why, 256),
        -ECONNREFUSED);
    assert_non_null(strstr(why, "127.0.0.1"));
    assert_non_null(strstr(why, "refused"));
    close(fd);
}

/*
 * A listener whose accept queue is full drops further connection
 * requests: the probe gives up at its deadline, not later.
 */
static void
test_no_answer_ends_at_the_deadline(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    unsigned port;
    int fd = bound(AF_INET, &port), fill[4];
    char why[256] = "";
    long long t0;

    (void) state;
    assert_int_equal(listen(fd, 0), 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void) connect(fill[i], (struct sockaddr *) &sa, sizeof(sa));
    }
    usleep(100000);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_port_probe("127.0.0.1", port, t0 + 300, why, 256),
                     -ETIME);
    assert_true(vcha_now_ms() - t0 >= 300);
    assert_true(vcha_now_ms() - t0 < 2000);
    assert_non_null(strstr(why, "no answer in time"));
    for (int i = 0; i < 4; i++) {
        close(fill[i]);
    }
    close(fd);
}

static void
test_bad_address_or_port(void **state)
{
    char why[256] = "";

    (void) state;
    assert_int_equal(
        vcha_port_probe("db.example", 80, vcha_now_ms() + 1000, why, 256),
        -EINVAL);
    assert_non_null(strstr(why, "db.example"));
    assert_int_equal(
        vcha_port_probe("127.0.0.1", 0, vcha_now_ms() + 1000, why, 256),
        -EINVAL);
    assert_int_equal(
        vcha_port_probe("127.0.0.1", 65536, vcha_now_ms() + 1000, why, 256),
        -EINVAL);
    assert_non_null(strstr(why, "65536"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_port),
        cmocka_unit_test(test_closed_port_is_refused),
        cmocka_unit_test(test_no_answer_ends_at_the_deadline),
        cmocka_unit_test(test_bad_address_or_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
