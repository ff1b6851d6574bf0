/*
 * ctload - a stateful workload for the criuct tests, run as a container's
 * init.  Every tick it advances a counter held in memory and appends it as
 * one line to a log file; it answers TCP connections on a port with its
 * in-memory state: "count=N hits=H pid=P\n", where hits counts the
 * connections it has answered (state that exists in memory only).
 *
 *   ctload [-l LOG] [-p PORT] [-t TICK_MS] [-m MIB] [-d FILE] [-M FILE]
 *
 * -d rewrites FILE in place, before each line of the log: 4096 bytes, the
 * counter in its first 16, the size never changing (as a database does).
 * In a checkpoint of one instant FILE holds the log's last line, or the one
 * after it; an older value means FILE was copied from an earlier instant.
 * -D does the same and sets FILE's mtime back to what it was after each
 * write (as some programs do): size and mtime never tell it changed.
 *
 * -M writes the counter the same way into FILE (4096 bytes) through a
 * shared, writable mapping only: no write(2), so no file-change event ever
 * says FILE changed, and its mtime moves only when the kernel says so.
 *
 * -m keeps MIB MiB of memory dirty (one byte of each page rewritten every
 * tick), to give a checkpoint something to dump: filled with pseudo-random
 * bytes first, so that it compresses no better than real data would.  After a
 * restore from a checkpoint taken at count N the log must read 1..N and go on
 * with N+1: a gap or a repeat means memory and files came from different
 * instants.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

/* Pseudo-random bytes (xorshift64): incompressible, and quick to make. */
static void
fill_random(unsigned char *mem, size_t len)
{
    unsigned long long x = 0x9e3779b97f4a7c15ULL;

    for (size_t i = 0; i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(mem + i, &x, 8);
    }
}

/* As an init script would: the loopback up (LXC leaves it down). */
static void
loopback_up(void)
{
    struct ifreq r = {.ifr_name = "lo"};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &r) == 0) {
        r.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &r) < 0) {
            perror("ctload: lo");
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

static int
listen_on(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short) port),
                            .sin_addr.s_addr = htonl(INADDR_ANY)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
        perror("ctload: listen");
        exit(1);
    }
    return fd;
}

static void
answer(int lfd, unsigned long long count, unsigned long long *hits)
{
    char line[128];
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int n;

    if (c < 0) {
        return;
    }
    (*hits)++;
    n = snprintf(line, sizeof(line), "count=%llu hits=%llu pid=%d\n", count,
                 *hits, (int) getpid());
    if (write(c, line, (size_t) n) < 0) {
        /* the client went away; nothing to do */
    }
    close(c);
}

int
main(int argc, char **argv)
{
    const char *log = "/var/log/counter", *db = NULL, *mapped = NULL;
    char *map = NULL;
    bool keep_mtime = false;
    struct stat db_st;
    int port = 7000, tick = 5, opt, lfd, log_fd, db_fd = -1;
    unsigned long long count = 0, hits = 0;
    size_t dirty = 0;
    unsigned char *mem = NULL;
    char line[32];

    while ((opt = getopt(argc, argv, "l:p:t:m:d:D:M:")) != -1) {
        switch (opt) {
        case 'M':
            mapped = optarg;
            break;
        case 'D':
            keep_mtime = true;
            /* fall through */
        case 'd':
            db = optarg;
            break;
        case 'l':
            log = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 't':
            tick = atoi(optarg);
            break;
        case 'm':
            dirty = (size_t) atol(optarg) << 20;
            break;
        default:
            fprintf(stderr, "usage: ctload [-l LOG] [-p PORT] [-t TICK_MS] "
                            "[-m MIB] [-d|-D FILE] [-M FILE]\n");
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (dirty > 0 && (mem = malloc(dirty)) == NULL) {
        perror("ctload: malloc");
        return 1;
    }
    fill_random(mem, dirty);
    log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        perror(log);
        return 1;
    }
    if (db != NULL &&
        ((db_fd = open(db, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
         ftruncate(db_fd, 4096) < 0 || fstat(db_fd, &db_st) < 0)) {
        perror(db);
        return 1;
    }
    if (mapped != NULL) {
        int fd = open(mapped, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0 || ftruncate(fd, 4096) < 0 ||
            (map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                        0)) == MAP_FAILED) {
            perror(mapped);
            return 1;
        }
        close(fd);
    }
    loopback_up();
    lfd = listen_on(port);
    while (!stop) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int n;

        count++;
        n = snprintf(line, sizeof(line), "%015llu\n", count);
        if (db_fd >= 0 && pwrite(db_fd, line, 16, 0) != 16) {
            perror(db);
            return 1;
        }
        if (map != NULL) {
            memcpy(map, line, 16);
        }
        if (keep_mtime &&
            futimens(db_fd, (struct timespec[2]){db_st.st_atim,
                                                 db_st.st_mtim}) < 0) {
            perror(db);
            return 1;
        }
        n = snprintf(line, sizeof(line), "%llu\n", count);
        if (write(log_fd, line, (size_t) n) != n) {
            perror(log);
            return 1;
        }
        for (size_t i = 0; i < dirty; i += 4096) {
            mem[i] = (unsigned char) (count + i);
        }
        if (poll(&p, 1, tick) > 0) {
            answer(lfd, count, &hits);
        }
    }
    free(mem);
    return 0;
}
