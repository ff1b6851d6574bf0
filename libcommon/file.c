/* vcha - atomic, durable file replacement and state files. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/file.h>

#define DEFAULT_STATE_DIR "/run/resource-agents"

static int
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int
vcha_file_sync_parent(const char *path)
{
    char copy[PATH_MAX];
    int fd, rc = 0;

    if (snprintf(copy, sizeof(copy), "%s", path) >= (int) sizeof(copy)) {
        return -ENAMETOOLONG;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (fsync(fd) < 0) {
        rc = -errno;
    }
    close(fd);
    return rc;
}

int
vcha_file_write_atomic(const char *path, const void *data, size_t len,
                       mode_t mode)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int) sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    rc = write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0) {
        rc = -errno;
    }
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
    }
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return vcha_file_sync_parent(path);
}

int
vcha_file_read(const char *path, char **data, size_t *len, size_t max)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, rc = 0;

    *data = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto done;
    }
    if ((size_t) st.st_size > max) {
        rc = -EFBIG;
        goto done;
    }
    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    while (got < (size_t) st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break; /* a file that shrank while we read it */
        }
        got += (size_t) n;
    }
    if (rc == 0) {
        buf[got] = '\0';
        *data = buf;
        buf = NULL;
        if (len != NULL) {
            *len = got;
        }
    }

done:
    free(buf);
    close(fd);
    return rc;
}

const char *
vcha_state_dir(void)
{
    const char *d = getenv("HA_RSCTMP");

    return (d != NULL && *d == '/') ? d : DEFAULT_STATE_DIR;
}

int
vcha_state_path(char *buf, size_t buflen, const char *agent,
                const char *instance, const char *suffix)
{
    int n = snprintf(buf, buflen, "%s/vcha-%s-%s%s", vcha_state_dir(), agent,
                     instance ? instance : "default", suffix ? suffix : "");
    size_t base = strlen(vcha_state_dir()) + 1;

    if (n < 0 || (size_t) n >= buflen) {
        return -ENAMETOOLONG;
    }
    for (char *p = buf + base; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '_';
        }
    }
    return 0;
}

int
vcha_state_dir_ensure(void)
{
    const char *dir = vcha_state_dir();
    struct stat st;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    if (stat(dir, &st) < 0) {
        return -errno;
    }
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR; /* EEXIST: maybe a file */
}
