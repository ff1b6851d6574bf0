/* vcha - a TCP port probe within a deadline. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/dns.h>
#include <vcha/port.h>

/* The socket address of @p ip port @p port; its length. */
static socklen_t
sockaddr_of(const struct vcha_ip *ip, unsigned port,
            struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (ip->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *) sa;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t) port);
        memcpy(&in->sin_addr, ip->bytes, 4);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) sa;

    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t) port);
    memcpy(&in6->sin6_addr, ip->bytes, 16);
    return sizeof(*in6);
}

/* Wait for the connect under way on @p fd: 0 or a negative errno. */
static int
connect_wait(int fd, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        long long left = deadline - vcha_now_ms();
        int err = 0;
        socklen_t len = sizeof(err);
        int n;

        if (left <= 0) {
            return -ETIME;
        }
        n = poll(&p, 1, left > 1000 ? 1000 : (int) left);
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n <= 0) {
            continue;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            return -errno;
        }
        return -err;
    }
}

int
vcha_port_probe(const char *address, unsigned port, long long deadline,
                char *why, size_t whylen)
{
    struct sockaddr_storage sa;
    struct vcha_ip ip;
    socklen_t len;
    int fd, rc;

    if (vcha_ip_parse(address, &ip) < 0) {
        snprintf(why, whylen, "'%s' is not an IPv4 or IPv6 address", address);
        return -EINVAL;
    }
    if (port == 0 || port > 65535) {
        snprintf(why, whylen, "%u is not a TCP port", port);
        return -EINVAL;
    }
    len = sockaddr_of(&ip, port, &sa);
    fd = socket(ip.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, whylen, "cannot make a socket: %s", strerror(-rc));
        return rc;
    }
    rc = connect(fd, (struct sockaddr *) &sa, len) == 0 ? 0 : -errno;
    if (rc == -EINPROGRESS) {
        rc = connect_wait(fd, deadline);
    }
    close(fd);
    if (rc < 0) {
        snprintf(why, whylen, "%s port %u: %s", address, port,
                 rc == -ETIME ? "no answer in time" : strerror(-rc));
    }
    return rc;
}
