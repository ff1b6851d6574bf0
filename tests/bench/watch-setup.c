/*
 * vcha bench driver for tests/bench/watch: builds a tree of directories,
 * opens the change tracker on it and holds it while the script measures,
 * and times single writes until the tracker names them.
 *
 *   watch-setup build DIR N          make N directories below DIR
 *   watch-setup hold MODE DIR        open, print "ready MECHANISM WATCHES
 *                                    SECONDS RSS_KB RSS_DELTA_KB", wait for
 *                                    a line on stdin, close
 *   watch-setup latency MODE DIR N   N writes to DIR/vcha-latency: print
 *                                    "P50_US P95_US MAX_US"
 *
 * MODE is fanotify or inotify.  Built by the script against libvchasync.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vcha/tracker.h>

/* Children per directory: a tree of N directories is a few levels deep. */
#define FANOUT 100

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* VmRSS of this process in KiB. */
static long
rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "re");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/* DIR/ path of directory @p k (1-based; the parent of k is (k-1)/FANOUT). */
static void
dir_path(const char *dir, long k, char *buf, size_t len)
{
    char rel[256] = "", tmp[256];

    for (; k > 0; k = (k - 1) / FANOUT) {
        snprintf(tmp, sizeof(tmp), "/d%02ld%s", (k - 1) % FANOUT, rel);
        memcpy(rel, tmp, sizeof(rel));
    }
    snprintf(buf, len, "%s%s", dir, rel);
}

static int
build(const char *dir, long n)
{
    char path[4096];
    double t0 = now();

    for (long k = 1; k <= n; k++) {
        dir_path(dir, k, path, sizeof(path));
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "mkdir %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    printf("built %ld %.1f\n", n, now() - t0);
    return 0;
}

static enum vcha_tracker_mode
mode_of(const char *name)
{
    return strcmp(name, "fanotify") == 0 ? VCHA_TRACKER_FANOTIFY
                                         : VCHA_TRACKER_INOTIFY;
}

static int
hold(const char *mode, const char *dir)
{
    struct vcha_tracker *t = NULL;
    char why[512], line[16];
    long rss0 = rss_kb();
    double t0 = now(), secs;
    int rc = vcha_tracker_open(dir, mode_of(mode), &t, why, sizeof(why));

    secs = now() - t0;
    if (rc < 0) {
        fprintf(stderr, "open %s: %s\n", dir, why);
        return 1;
    }
    printf("ready %s %zu %.6f %ld %ld\n", vcha_tracker_mechanism(t),
           vcha_tracker_watches(t), secs, rss_kb(), rss_kb() - rss0);
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) {
        line[0] = '\0';
    }
    vcha_tracker_close(t);
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

/* Microseconds from a write of @p fd until @p t names "vcha-latency". */
static double
one_write(struct vcha_tracker *t, struct vcha_pathset *set, int fd)
{
    struct pollfd p = {.fd = vcha_tracker_fd(t), .events = POLLIN};
    double t0 = now(), t1;
    size_t i;

    if (pwrite(fd, "x", 1, 0) != 1) {
        return -1;
    }
    for (;;) {
        if (poll(&p, 1, 5000) != 1) {
            return -1;
        }
        vcha_pathset_clear(set);
        if (vcha_tracker_read(t, set) < 0) {
            return -1;
        }
        for (i = 0; i < vcha_pathset_count(set); i++) {
            if (strcmp(vcha_pathset_get(set, i), "vcha-latency") == 0) {
                t1 = now();
                return (t1 - t0) * 1e6;
            }
        }
    }
}

static int
latency(const char *mode, const char *dir, int n)
{
    struct vcha_tracker *t = NULL;
    struct vcha_pathset *set = vcha_pathset_new();
    double *us = calloc((size_t) n, sizeof(*us));
    char why[512], file[4096];
    int fd, rc = 1;

    snprintf(file, sizeof(file), "%s/vcha-latency", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || set == NULL || us == NULL ||
        vcha_tracker_open(dir, mode_of(mode), &t, why, sizeof(why)) < 0) {
        fprintf(stderr, "latency: %s\n", fd < 0 ? strerror(errno) : why);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        us[i] = one_write(t, set, fd);
        if (us[i] < 0) {
            fprintf(stderr, "latency: write %d not seen\n", i);
            goto done;
        }
        usleep(2000); /* apart, so that the kernel merges no events */
    }
    qsort(us, (size_t) n, sizeof(*us), cmp_double);
    printf("%.0f %.0f %.0f\n", us[n / 2], us[n * 95 / 100], us[n - 1]);
    rc = 0;
done:
    if (fd >= 0) {
        close(fd);
        unlink(file);
    }
    vcha_tracker_close(t);
    vcha_pathset_free(set);
    free(us);
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "build") == 0) {
        return build(argv[2], atol(argv[3]));
    }
    if (argc == 4 && strcmp(argv[1], "hold") == 0) {
        return hold(argv[2], argv[3]);
    }
    if (argc == 5 && strcmp(argv[1], "latency") == 0 && atoi(argv[4]) > 0) {
        return latency(argv[2], argv[3], atoi(argv[4]));
    }
    fprintf(stderr, "usage: watch-setup build DIR N | hold MODE DIR | "
                    "latency MODE DIR N\n");
    return 2;
}
