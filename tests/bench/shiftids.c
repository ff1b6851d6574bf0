/*
 * shiftids - the chown fallback of a standby tree's id shift, for
 * tests/bench/shift: each file's uid and gid raised by DELTA, as an
 * unprivileged container (lxc.idmap u/g 0 DELTA 65536) needs them when its
 * root cannot be an idmapped mount.  A correct shift does more than lchown:
 *   - the kernel clears the setuid and setgid bits of a non-directory on
 *     every chown, root's too: they are set again;
 *   - it removes file capabilities (security.capability) as well: they are
 *     written again as version 3, their root id shifted (a version 2
 *     capability would count for the host's root only);
 *   - POSIX ACL entries name users and groups: theirs are shifted.
 *
 *   shiftids [-d DELTA] [-s PATH] -0        the paths on stdin, each ended
 *                                           by a NUL (a sync's changes)
 *   shiftids [-d DELTA] [-s PATH] -r TREE   every file of TREE (one file
 *                                           system), TREE included
 *
 * Prints one line: "files=N ms=T us_per_file=U suid=S caps=C acls=A
 * errors=E" and, with -s, "sync_ms=Y": T is the time of the shift alone
 * (reading the list excluded; the walk of TREE included), Y that of the
 * syncfs(2) of PATH's file system that makes it durable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define XATTR_CAPS "security.capability"
#define XATTR_ACL_ACCESS "system.posix_acl_access"
#define XATTR_ACL_DEFAULT "system.posix_acl_default"
#define CAPS_V2 0x02000000u
#define CAPS_V3 0x03000000u
#define CAPS_VERSION_MASK 0xff000000u
#define CAPS_V2_SIZE 20
#define CAPS_V3_SIZE 24
#define ACL_TAG_USER 0x02
#define ACL_TAG_GROUP 0x08
#define ACL_HEADER 4
#define ACL_ENTRY 8
#define ACL_MAX 4096

struct counts {
    unsigned long files;
    unsigned long suid;
    unsigned long caps;
    unsigned long acls;
    unsigned long errors;
};

static uint32_t delta = 100000;
static struct counts counts;
static double shift_ms; /* the time of the shift (the walk included) */

static uint32_t
le32(const unsigned char *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8 & 0xff;
    p[2] = v >> 16 & 0xff;
    p[3] = v >> 24;
}

/* The file's capabilities as version 3 with the shifted root id, in
 * caps[CAPS_V3_SIZE]; 0 when it has none, 1 when it has, -errno. */
static int
caps_read(const char *path, unsigned char *caps)
{
    ssize_t n = lgetxattr(path, XATTR_CAPS, caps, CAPS_V3_SIZE);
    uint32_t version;

    if (n < 0) {
        return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
    }
    if (n < CAPS_V2_SIZE) {
        return -EINVAL;
    }
    version = le32(caps) & CAPS_VERSION_MASK;
    if (version == CAPS_V2) {
        put_le32(caps, (le32(caps) & ~CAPS_VERSION_MASK) | CAPS_V3);
        put_le32(caps + CAPS_V2_SIZE, delta);
    } else if (version == CAPS_V3 && n == CAPS_V3_SIZE) {
        put_le32(caps + CAPS_V2_SIZE, le32(caps + CAPS_V2_SIZE) + delta);
    } else {
        return -EINVAL;
    }
    return 1;
}

/* Shift the user and group entries of one of the file's ACLs; 0 when it
 * has none of them, 1 when they were shifted, -errno. */
static int
acl_shift(const char *path, const char *name)
{
    unsigned char acl[ACL_MAX];
    ssize_t n = lgetxattr(path, name, acl, sizeof(acl));
    int named = 0;

    if (n < 0) {
        return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
    }
    for (ssize_t at = ACL_HEADER; at + ACL_ENTRY <= n; at += ACL_ENTRY) {
        unsigned tag = acl[at] | acl[at + 1] << 8;

        if (tag == ACL_TAG_USER || tag == ACL_TAG_GROUP) {
            put_le32(acl + at + 4, le32(acl + at + 4) + delta);
            named = 1;
        }
    }
    if (named && lsetxattr(path, name, acl, n, XATTR_REPLACE) < 0) {
        return -errno;
    }
    return named;
}

static int
acls_shift(const char *path, const struct stat *st)
{
    int rc = acl_shift(path, XATTR_ACL_ACCESS);
    int rc2 = 0;

    if (rc >= 0 && S_ISDIR(st->st_mode)) {
        rc2 = acl_shift(path, XATTR_ACL_DEFAULT);
    }
    return rc < 0 ? rc : rc2 < 0 ? rc2 : rc || rc2;
}

/* Shift one file whose lstat is ST; 0 or -errno. */
static int
shift_one(const char *path, const struct stat *st)
{
    unsigned char caps[CAPS_V3_SIZE];
    int has_caps = 0;
    int rc;

    counts.files++;
    if (S_ISREG(st->st_mode)) {
        has_caps = caps_read(path, caps);
        if (has_caps < 0) {
            return has_caps;
        }
    }
    if (lchown(path, st->st_uid + delta, st->st_gid + delta) < 0) {
        return -errno;
    }
    if (!S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode) &&
        (st->st_mode & (S_ISUID | S_ISGID))) {
        if (chmod(path, st->st_mode & 07777) < 0) {
            return -errno;
        }
        counts.suid++;
    }
    if (has_caps) {
        if (lsetxattr(path, XATTR_CAPS, caps, sizeof(caps), 0) < 0) {
            return -errno;
        }
        counts.caps++;
    }
    if (S_ISLNK(st->st_mode)) {
        return 0;
    }
    rc = acls_shift(path, st);
    if (rc > 0) {
        counts.acls++;
    }
    return rc < 0 ? rc : 0;
}

static void
shift_path(const char *path)
{
    struct stat st;
    int rc = lstat(path, &st) < 0 ? -errno : shift_one(path, &st);

    if (rc < 0) {
        counts.errors++;
        fprintf(stderr, "shiftids: %s: %s\n", path, strerror(-rc));
    }
}

static int
walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    int rc;

    (void) ftw;
    if (type == FTW_NS) {
        counts.errors++;
        return 0;
    }
    rc = shift_one(path, st);
    if (rc < 0) {
        counts.errors++;
        fprintf(stderr, "shiftids: %s: %s\n", path, strerror(-rc));
    }
    return 0;
}

/* The NUL-terminated paths on stdin, in one buffer; its size in *len. */
static char *
read_list(size_t *len)
{
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    size_t n;

    *len = 0;
    while (buf && (n = fread(buf + *len, 1, cap - *len, stdin)) > 0) {
        *len += n;
        if (*len == cap) {
            char *more = realloc(buf, cap *= 2);

            if (!more) {
                free(buf);
                return NULL;
            }
            buf = more;
        }
    }
    return buf;
}

static double
ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* syncfs(2) of PATH's file system; milliseconds, or -1 on failure. */
static double
sync_ms(const char *path)
{
    struct timespec t0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    double ms = -1;

    if (fd < 0) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (syncfs(fd) == 0) {
        ms = ms_since(&t0);
    }
    close(fd);
    return ms;
}

static int
shift_list(void)
{
    struct timespec t0;
    size_t len = 0;
    char *list = read_list(&len);

    if (!list) {
        return -ENOMEM;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at < len; at += strlen(list + at) + 1) {
        if (list[at]) {
            shift_path(list + at);
        }
    }
    shift_ms = ms_since(&t0);
    free(list);
    return 0;
}

static int
shift_tree(const char *tree)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (nftw(tree, walk_one, 64, FTW_PHYS | FTW_MOUNT) < 0) {
        return -errno;
    }
    shift_ms = ms_since(&t0);
    return 0;
}

static void
usage(void)
{
    fputs("usage: shiftids [-d DELTA] [-s PATH] -0 | -r TREE\n", stderr);
}

int
main(int argc, char **argv)
{
    const char *tree = NULL;
    const char *sync_path = NULL;
    int from_stdin = 0;
    int opt;
    int rc;

    while ((opt = getopt(argc, argv, "d:s:0r:")) != -1) {
        switch (opt) {
        case 'd':
            delta = strtoul(optarg, NULL, 10);
            break;
        case 's':
            sync_path = optarg;
            break;
        case '0':
            from_stdin = 1;
            break;
        case 'r':
            tree = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (from_stdin == !!tree) {
        usage();
        return 2;
    }
    rc = tree ? shift_tree(tree) : shift_list();
    if (rc < 0) {
        fprintf(stderr, "shiftids: %s\n", strerror(-rc));
        return 1;
    }
    printf("files=%lu ms=%.3f us_per_file=%.2f suid=%lu caps=%lu acls=%lu "
           "errors=%lu",
           counts.files, shift_ms,
           counts.files ? shift_ms * 1e3 / counts.files : 0.0, counts.suid,
           counts.caps, counts.acls, counts.errors);
    if (sync_path) {
        printf(" sync_ms=%.1f", sync_ms(sync_path));
    }
    printf("\n");
    return counts.errors ? 1 : 0;
}
