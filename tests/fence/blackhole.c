/*
 * A server that accepts connections and never answers: a stand-in for a
 * hung libvirt daemon or a dead host whose TCP stack still accepts.
 *   blackhole tcp        listen on 127.0.0.1, print the port
 *   blackhole unix PATH  listen on a unix socket
 * It exits by itself after 120 s.
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LIFETIME_S 120
#define MAX_CONN 64

static int
listen_tcp(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
        listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *) &a, &len)) {
        return -1;
    }
    printf("%u\n", ntohs(a.sin_port));
    return fd;
}

static int
listen_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
        listen(fd, 16) < 0) {
        return -1;
    }
    printf("%s\n", path);
    return fd;
}

int
main(int argc, char **argv)
{
    int held[MAX_CONN], n = 0;
    int fd = (argc == 2 && strcmp(argv[1], "tcp") == 0) ? listen_tcp()
             : (argc == 3 && strcmp(argv[1], "unix") == 0)
                 ? listen_unix(argv[2])
                 : -1;
    time_t end = time(NULL) + LIFETIME_S;

    if (fd < 0) {
        fprintf(stderr, "usage: blackhole tcp | blackhole unix PATH\n");
        return 1;
    }
    fflush(stdout);
    while (time(NULL) < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, 1000) == 1 && n < MAX_CONN) {
            held[n] = accept(fd, NULL, NULL);
            n += held[n] >= 0;
        }
    }
    return 0;
}
