/*
 * vcha unit tests - small helpers shared by the test programs: scratch
 * directories, whole-file reads and writes, capturing a standard stream.
 *
 * Everything is static inline so that a test program that does not use a
 * helper gets no unused-function warning.
 */
#ifndef VCHA_TEST_UTIL_H
#define VCHA_TEST_UTIL_H

#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new empty directory under $TMPDIR (or /tmp); free() the name. */
static inline char *
test_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = NULL;

    if (base == NULL || *base != '/') {
        base = "/tmp";
    }
    if (asprintf(&dir, "%s/vcha-test.XXXXXX", base) < 0) {
        return NULL;
    }
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

static inline int
test_remove_entry(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    if (flag == FTW_DP) {
        chmod(path, 0700); /* a test may have made it read-only */
    }
    remove(path);
    return 0;
}

/* Remove @p dir and everything below it, then free the name. */
static inline void
test_tmpdir_remove(char *dir)
{
    if (dir != NULL) {
        nftw(dir, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
    }
}

/* "@p dir/@p name" in a new string (free()). */
static inline char *
test_path(const char *dir, const char *name)
{
    char *path = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        return NULL;
    }
    return path;
}

/* Contents of @p path as a new NUL-terminated string, or NULL. */
static inline char *
test_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    int c;

    if (f == NULL) {
        return NULL;
    }
    mem = open_memstream(&buf, &len);
    if (mem != NULL) {
        while ((c = fgetc(f)) != EOF) {
            fputc(c, mem);
        }
        fclose(mem);
    }
    fclose(f);
    return buf;
}

/* Create or replace @p path with @p text.  0 or -1. */
static inline int
test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    int rc = 0;

    if (f == NULL) {
        return -1;
    }
    if (fputs(text, f) < 0) {
        rc = -1;
    }
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

/* Number of entries in @p dir, without "." and "..", or -1. */
static inline int
test_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/*
 * Redirecting a standard stream (1 or 2) into a file, so that a test can
 * read what the code under test printed.
 */
struct test_capture {
    int fd;        /* the stream's descriptor: 1 or 2 */
    int saved;     /* a copy of the original descriptor */
    char path[64]; /* the temporary file */
};

static inline int
test_capture_start(struct test_capture *c, int fd)
{
    int tmp;

    c->fd = fd;
    snprintf(c->path, sizeof(c->path), "/tmp/vcha-capture.XXXXXX");
    tmp = mkstemp(c->path);
    if (tmp < 0) {
        return -1;
    }
    fflush(fd == 1 ? stdout : stderr);
    c->saved = dup(fd);
    dup2(tmp, fd);
    close(tmp);
    return 0;
}

/* Restore the stream; returns what was written (free()), or NULL. */
static inline char *
test_capture_stop(struct test_capture *c)
{
    char *text;

    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    text = test_slurp(c->path);
    unlink(c->path);
    return text;
}

/* @p pid has exited (gone, or a zombie nobody reaped yet). */
static inline bool
test_process_dead(pid_t pid)
{
    char path[64];
    char *stat;
    const char *p;
    bool dead;

    if (kill(pid, 0) < 0 && errno == ESRCH) {
        return true;
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    stat = test_slurp(path);
    if (stat == NULL) {
        return true;
    }
    /* "pid (comm) S ...": the state follows the last ')' */
    p = strrchr(stat, ')');
    dead = p != NULL && (p[2] == 'Z' || p[2] == 'X');
    free(stat);
    return dead;
}

#endif
