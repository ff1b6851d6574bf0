/* vcha - atomic, durable file replacement and state files. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vcha/clock.h>
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
    size_t got = 0, cap;
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
    /* read to the end: /proc and /sys files have no size */
    cap = (size_t) st.st_size + 1 > 4096 ? (size_t) st.st_size + 1 : 4096;
    for (;;) {
        ssize_t n;

        if (got + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);

            if (nb == NULL) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        } else if (buf == NULL && (buf = malloc(cap)) == NULL) {
            rc = -ENOMEM;
            break;
        }
        n = read(fd, buf + got, cap - got - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        got += (size_t) n;
        if (got > max) {
            rc = -EFBIG;
            break;
        }
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

int
vcha_file_mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    struct stat st;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf)) {
        return -ENAMETOOLONG;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST) {
        return -errno;
    }
    if (stat(buf, &st) < 0) {
        return -errno;
    }
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int
names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Whether entry @p e of directory @p dfd is a regular file (not followed). */
static bool
entry_regular(int dfd, const struct dirent *e)
{
    struct stat st;

    if (e->d_type != DT_UNKNOWN) {
        return e->d_type == DT_REG;
    }
    return fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode);
}

static int
names_add(char ***names, size_t *n, size_t *cap, const char *name)
{
    if (*n + 1 >= *cap) {
        size_t ncap = *cap ? 2 * *cap : 32;
        char **v = realloc(*names, ncap * sizeof(*v));

        if (v == NULL) {
            return -ENOMEM;
        }
        *names = v;
        *cap = ncap;
    }
    if (((*names)[*n] = strdup(name)) == NULL) {
        return -ENOMEM;
    }
    (*names)[++*n] = NULL;
    return 0;
}

int
vcha_file_names_at(int dfd, bool regular_only, char ***names, size_t *n)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;

    *names = NULL;
    *n = 0;
    if (dir == NULL) {
        rc = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    rewinddir(dir); /* the duplicate shares the offset of an earlier read */
    for (errno = 0; rc == 0 && (e = readdir(dir)) != NULL; errno = 0) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            (!regular_only || entry_regular(dfd, e))) {
            rc = names_add(names, n, &cap, e->d_name);
        }
    }
    if (rc == 0 && errno != 0) {
        rc = -errno;
    }
    closedir(dir);
    if (rc == 0 && *names == NULL &&
        (*names = calloc(1, sizeof(char *))) == NULL) {
        rc = -ENOMEM;
    }
    if (rc < 0) {
        vcha_file_names_free(*names);
        *names = NULL;
        *n = 0;
        return rc;
    }
    qsort(*names, *n, sizeof(**names), names_cmp);
    return 0;
}

void
vcha_file_names_free(char **names)
{
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        free(names[i]);
    }
    free(names);
}

/*
 * All names are read before any is removed: unlinking while reading a
 * directory may skip entries on NFS.
 */
int
vcha_file_remove_tree_at(int dfd, const char *name)
{
    char **names = NULL;
    struct stat st;
    size_t n = 0;
    int fd, rc;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    (void) fchmod(fd, 0700); /* a container's rootfs has read-only dirs */
    rc = vcha_file_names_at(fd, false, &names, &n);
    for (size_t i = 0; i < n; i++) {
        int r = vcha_file_remove_tree_at(fd, names[i]);

        rc = rc < 0 ? rc : r; /* the first error; go on regardless */
    }
    vcha_file_names_free(names);
    close(fd);
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0) {
        rc = -errno;
    }
    return rc;
}

int
vcha_file_remove_tree(const char *path)
{
    return vcha_file_remove_tree_at(AT_FDCWD, path);
}

/* Plain read and write, for where copy_file_range() cannot go. */
static int
fd_copy_rw(int in, int out, off_t left)
{
    char buf[1 << 16];

    while (left > 0) {
        size_t want = left < (off_t) sizeof(buf) ? (size_t) left : sizeof(buf);
        ssize_t n = read(in, buf, want), w = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        while (w < n) {
            ssize_t k = write(out, buf + w, (size_t) (n - w));

            if (k < 0 && errno != EINTR) {
                return -errno;
            }
            w += k > 0 ? k : 0;
        }
        left -= n;
    }
    return 0;
}

int
vcha_file_copy_fd(int in, int out, off_t size)
{
    for (off_t left = size; left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t) left, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP ||
                      errno == ENOSYS || errno == EINVAL)) {
            return fd_copy_rw(in, out, left); /* across file systems */
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        left -= n;
    }
    return 0;
}

/* openat2() where the kernel has it (Linux 5.6), one component at a time
   where it does not (nor valgrind) */
int
vcha_file_open_beneath(int root, const char *path, bool dir)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW |
                                    (dir ? O_DIRECTORY : 0),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS};
    char copy[PATH_MAX], *save = NULL, *c, *next;
    long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
    int cur;

    if (fd >= 0 || errno != ENOSYS) {
        return fd >= 0 ? (int) fd : -errno;
    }
    if (strlen(path) >= sizeof(copy)) {
        return -ENAMETOOLONG;
    }
    strcpy(copy, path);
    cur = fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (cur < 0) {
        return -errno;
    }
    for (c = strtok_r(copy, "/", &save); cur >= 0 && c != NULL; c = next) {
        struct stat st;
        int nfd;

        next = strtok_r(NULL, "/", &save);
        if (strcmp(c, ".") == 0) {
            continue;
        }
        if (strcmp(c, "..") == 0 ||
            fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            nfd = strcmp(c, "..") == 0 ? -EXDEV : -errno;
        } else if (S_ISLNK(st.st_mode) && next != NULL) {
            nfd = -ELOOP; /* the last one is opened itself, as openat2 does */
        } else if ((next != NULL || dir) && !S_ISDIR(st.st_mode)) {
            nfd = -ENOTDIR;
        } else {
            nfd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            nfd = nfd < 0 ? -errno : nfd;
        }
        close(cur);
        cur = nfd;
    }
    return cur;
}

/* How often vcha_file_lock() tries again. */
#define FILE_LOCK_POLL_MS 20

int
vcha_file_lock(const char *path, long long deadline_ms)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc;

    if (fd < 0) {
        return -errno;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        if (rc != -EBUSY || vcha_now_ms() >= deadline_ms) {
            close(fd);
            return rc;
        }
        vcha_sleep_ms(FILE_LOCK_POLL_MS);
    }
    return fd;
}
