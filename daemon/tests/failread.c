/*
 * A disk's read error on demand, preloaded (LD_PRELOAD) into the vchad of
 * tests/colojob.sh: while the file named by $VCHA_TEST_FAILREAD exists,
 * every pread() of the file whose path it holds fails with EIO.  Built
 * without config.h, which would rename pread() to pread64().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t pread(int fd, void *buf, size_t n, off_t off);
ssize_t pread64(int fd, void *buf, size_t n, off64_t off);

/* Whether reads of @p fd are to fail now. */
static bool
failing(int fd)
{
    const char *trigger = getenv("VCHA_TEST_FAILREAD");
    char want[4096], path[4096], link[64];
    ssize_t n, m;
    int t;

    if (trigger == NULL || (t = open(trigger, O_RDONLY | O_CLOEXEC)) < 0) {
        return false;
    }
    n = read(t, want, sizeof(want) - 1);
    close(t);
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    m = readlink(link, path, sizeof(path) - 1);
    if (n <= 0 || m <= 0) {
        return false;
    }
    want[strcspn(want, "\n")] = '\0';
    path[m] = '\0';
    return strcmp(want, path) == 0;
}

static ssize_t
pread_as(const char *name, int fd, void *buf, size_t n, off64_t off)
{
    ssize_t (*real)(int, void *, size_t, off64_t);
    int err = errno;

    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    errno = err;
    *(void **) &real = dlsym(RTLD_NEXT, name);
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t
pread(int fd, void *buf, size_t n, off_t off)
{
    return pread_as("pread", fd, buf, n, off);
}

ssize_t
pread64(int fd, void *buf, size_t n, off64_t off)
{
    return pread_as("pread64", fd, buf, n, off);
}
