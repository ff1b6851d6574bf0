/*
 * vchad - the filesync job: a resident that keeps a standby copy of a tree
 * in step with it (vcha/syncjob.h, seed 000).
 *
 * It tracks changes under the source (vcha/tracker.h) before anything
 * else, then pushes the whole tree once; after that, every batch of
 * changed paths, delay after the batch's first change.  A push runs in a
 * child process while this one goes on reading changes and reporting, so
 * a long full push neither misses events nor starves the daemon of
 * reports.  The whole tree is pushed again (a full push) after lost events,
 * after a failed push (the receiver was away: what it missed is unknown),
 * every verify_interval (what events could not see), and with rsync's
 * --delete-excluded when the exclusion list changed (a package became
 * unneeded: its files already on the standby go), the always-excluded and
 * the admin's paths protected from that deletion.
 *
 * The exclusion list is built from the source's dpkg database
 * (vcha/excludes.h) at the start and again whenever a push carries a change
 * to that database, before the push, so a package's files are judged by
 * the list that knows the package.
 *
 * No --delay-updates: it would double the renames of a push, and the
 * staging directories an interrupted push leaves are protected from
 * deletion for good; without it a killed push leaves at most temporary
 * files (never under a live name), which the full push that follows any
 * failure deletes.
 *
 * Files under $VCHA_RUN_DIR/filesync/ID/: filter (the list as text),
 * filter0 and cleanup0 (as rsync reads them), list (the paths of a push),
 * ssh (the master connection's socket).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/excludes.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/jobdef.h>
#include <vcha/param.h>
#include <vcha/syncjob.h>
#include <vcha/syncmark.h>
#include <vcha/tracker.h>

#include "../vchad_job.h"

/* How often the job reports when nothing happens. */
#define REPORT_MS 2000
/* A failed push is retried after this, doubling up to RETRY_MAX_MS. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
/* How long the ssh master connection may take to come up. */
#define MASTER_WAIT_MS 10000
/* The largest filter file read. */
#define FILTER_MAX (64 << 20)
/* A receiver busy with the push before (its hooks still running) is asked
 * again this soon, which is no failure. */
#define BUSY_RETRY_MS 50

/* One push under way, in a child process. */
struct push_child {
    pid_t pid;
    int fd;          /* its result: struct push_result */
    bool full;       /* the whole tree */
    bool cleanup;    /* with --delete-excluded */
    long long since; /* oldest change it carries (monotonic ms), 0: none */
    bool lost;       /* events were lost while it ran: its tree may be
                        stale already, a full push is still owed */
};

/* What a push child sends back. */
struct push_result {
    int rc;
    struct vcha_sync_stats st;
    char why[512];
};

struct filesync {
    const struct vchad_job *job;
    struct vcha_params *p;
    struct vcha_sync_target target;
    struct vcha_tracker *tracker;
    struct vcha_pathset *pending;  /* changed, not yet pushed */
    struct vcha_pathset *inflight; /* in the push under way */
    struct push_child push;
    char dir[PATH_MAX];      /* the job's working directory */
    char filter[PATH_MAX];   /* the exclusion list in use, as text */
    char filter0[PATH_MAX];  /* it, for rsync (see vcha_sync_filter_save()) */
    char cleanup0[PATH_MAX]; /* it with the protected paths, for rsync */
    char owed[PATH_MAX];     /* there while a cleanup push is owed */
    char list[PATH_MAX];
    char control[PATH_MAX]; /* ssh master socket, "" without */
    pid_t master;
    char packages[65];
    bool need_full, need_cleanup;
    long long pending_since; /* monotonic ms of the oldest pending change */
    long long batch_at;      /* when to push the pending changes */
    long long retry_at, retry_ms, verify_at;
    /* figures */
    long long pushes, full_pushes, files, bytes, deleted, failures;
    long long last_full_wall_ms, last_push_ms, overflows;
    char error[1024];
};

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
    (void) sig;
    stopping = 1;
}

/* In a push child: stop the rsync under way (async-signal-safe). */
static void
on_term_cancel(int sig)
{
    (void) sig;
    vcha_exec_cancel();
}

static int
validate(const struct vcha_kv *p, char *why, size_t whylen)
{
    struct vcha_params *params = NULL;
    int rc = vcha_job_params_parse(&vcha_sync_job, p, &params, why, whylen);

    vcha_params_free(params);
    return rc;
}

static const char *
param(const struct filesync *fs, enum vcha_sync_job_param i)
{
    return vcha_param_str(fs->p, i);
}

/* ----------------------------------------------------- the exclusions */

/* Split @p text on blanks and commas into a NULL-terminated array. */
static char **
words_split(const char *text)
{
    size_t n = 0, cap = 8;
    char **w = calloc(cap, sizeof(*w));
    const char *s = text != NULL ? text : "";

    while (w != NULL && *s != '\0') {
        size_t len = strcspn(s, " \t\n,");

        if (len > 0) {
            if (n + 2 > cap) {
                char **more = realloc(w, 2 * cap * sizeof(*w));

                if (more == NULL) {
                    break;
                }
                w = more;
                cap *= 2;
            }
            w[n] = strndup(s, len);
            w[++n] = NULL;
        }
        s += len + (s[len] != '\0');
    }
    return w;
}

static void
words_free(char **w)
{
    for (size_t i = 0; w != NULL && w[i] != NULL; i++) {
        free(w[i]);
    }
    free(w);
}

/* The protected paths of a cleanup push: never deleted on the standby. */
static void
protect_write(FILE *f, char **exclude)
{
    const char *const *always = vcha_excludes_always();

    for (size_t i = 0; always[i] != NULL; i++) {
        fprintf(f, "P %s\n", always[i]);
    }
    for (size_t i = 0; exclude != NULL && exclude[i] != NULL; i++) {
        fprintf(f, "P %s\n", exclude[i]);
    }
}

/* The list's text: the filter parameter's file, the database's, or the
 * plain one. */
static int
filter_text(struct filesync *fs, char **text, size_t *len, char *why,
            size_t whylen)
{
    char **w[4] = {words_split(param(fs, VCHA_SYNC_UNNEEDED)),
                   words_split(param(fs, VCHA_SYNC_NEEDED)),
                   words_split(param(fs, VCHA_SYNC_EXCLUDE)),
                   words_split(param(fs, VCHA_SYNC_INCLUDE))};
    struct vcha_excludes_spec spec = {
        .root = param(fs, VCHA_SYNC_SOURCE),
        .unneeded = (const char *const *) w[0],
        .needed = (const char *const *) w[1],
        .exclude = (const char *const *) w[2],
        .include = (const char *const *) w[3],
        .no_defaults = vcha_param_num(fs->p, VCHA_SYNC_NO_DEFAULTS) != 0,
    };
    int rc = (!w[0] || !w[1] || !w[2] || !w[3]) ? -ENOMEM : 0;

    if (rc == 0) {
        rc = vcha_sync_filter_text(&spec, param(fs, VCHA_SYNC_FILTER), text,
                                   len, why, whylen);
    }
    for (size_t i = 0; i < 4; i++) {
        words_free(w[i]);
    }
    return rc;
}

/* The cleanup variant: the list with the protected paths first. */
static int
cleanup_write(struct filesync *fs, const char *text, size_t len)
{
    char **exclude = words_split(param(fs, VCHA_SYNC_EXCLUDE));
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    int rc = f != NULL && exclude != NULL ? 0 : -ENOMEM;

    if (rc == 0) {
        protect_write(f, exclude);
        fwrite(text, 1, len, f);
        rc = ferror(f) ? -EIO : 0;
    }
    if (f != NULL && fclose(f) != 0 && rc == 0) {
        rc = -EIO;
    }
    if (rc == 0) {
        rc = vcha_sync_filter_save(fs->cleanup0, buf, blen);
    }
    free(buf);
    words_free(exclude);
    return rc;
}

/*
 * (Re)build the exclusion list: ID/filter (for people), ID/filter0 and
 * ID/cleanup0 (for rsync).  A list other than the one the last push went
 * by, this process's or an earlier one's (ID/ outlives a process), asks
 * for a cleanup push; so does the first list of all, since nothing says
 * what an earlier sync into the standby excluded.
 */
static int
filter_build(struct filesync *fs)
{
    char *text = NULL, *old = NULL;
    size_t len = 0, old_len = 0;
    char why[512] = "";
    int rc = filter_text(fs, &text, &len, why, sizeof(why));

    if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "exclusion list: %s",
                 why[0] != '\0' ? why : strerror(-rc));
        goto done;
    }
    if (vcha_file_read(fs->filter, &old, &old_len, FILTER_MAX) == 0 &&
        old_len == len && memcmp(old, text, len) == 0) {
        goto done; /* ID/filter is written last: the others are this list */
    }
    rc = vcha_sync_filter_save(fs->filter0, text, len);
    if (rc == 0) {
        rc = cleanup_write(fs, text, len);
    }
    if (rc == 0) {
        /* owed before the list becomes the known one, until it is done */
        fs->need_cleanup = true;
        rc = vcha_file_write_atomic(fs->owed, "", 0, 0600);
    }
    if (rc == 0) {
        rc = vcha_file_write_atomic(fs->filter, text, len, 0600);
    }
    if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "%.900s: %s", fs->dir,
                 strerror(-rc));
    }
done:
    free(text);
    free(old);
    return rc;
}

/* Whether a change under the dpkg database is among @p set. */
static bool
packages_touched(const struct vcha_pathset *set)
{
    for (size_t i = 0; i < vcha_pathset_count(set); i++) {
        if (strncmp(vcha_pathset_get(set, i), "var/lib/dpkg", 12) == 0) {
            return true;
        }
    }
    return false;
}

/* -------------------------------------------------- the ssh connection */

/* Start the master connection every push of an ssh target rides on. */
static void
master_start(struct filesync *fs)
{
    char port[16] = "", dest[400], kh[PATH_MAX + 32], cp[PATH_MAX + 16];
    const struct vcha_sync_target *t = &fs->target;
    long long until = vcha_now_ms() + MASTER_WAIT_MS;
    struct stat st;
    pid_t pid;

    snprintf(port, sizeof(port), "%u", t->port != 0 ? t->port : 22);
    snprintf(dest, sizeof(dest), "%s%s%s", t->user, t->user[0] ? "@" : "",
             t->host);
    snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s",
             param(fs, VCHA_SYNC_KNOWN_HOSTS));
    snprintf(cp, sizeof(cp), "ControlPath=%s", fs->control);
    const char *argv[] = {"ssh",
                          "-M",
                          "-N",
                          "-i",
                          param(fs, VCHA_SYNC_IDENTITY),
                          "-p",
                          port,
                          "-o",
                          "IdentitiesOnly=yes",
                          "-o",
                          "BatchMode=yes",
                          "-o",
                          "StrictHostKeyChecking=yes",
                          "-o",
                          kh,
                          "-o",
                          cp,
                          "-o",
                          "ControlPersist=no",
                          "-o",
                          "ServerAliveInterval=5",
                          "-o",
                          "ServerAliveCountMax=3",
                          dest,
                          NULL};

    unlink(fs->control);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, 0);
        dup2(null, 1);
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        execvp("ssh", (char *const *) argv);
        _exit(127);
    }
    fs->master = pid > 0 ? pid : 0;
    /* pushes fall back to a connection of their own until it is up */
    while (fs->master > 0 && vcha_now_ms() < until &&
           stat(fs->control, &st) < 0 &&
           waitpid(fs->master, NULL, WNOHANG) == 0) {
        vcha_sleep_ms(20);
    }
}

/* Keep the master connection up: reap a dead one, start another. */
static void
master_keep(struct filesync *fs)
{
    if (fs->control[0] == '\0') {
        return;
    }
    if (fs->master > 0 && waitpid(fs->master, NULL, WNOHANG) == 0) {
        return;
    }
    fs->master = 0;
    master_start(fs);
}

static void
master_stop(struct filesync *fs)
{
    if (fs->master > 0) {
        kill(fs->master, SIGTERM);
        waitpid(fs->master, NULL, 0);
        fs->master = 0;
    }
    if (fs->control[0] != '\0') {
        unlink(fs->control);
    }
}

/* ---------------------------------------------------------- the pushes */

/* Run one push in a child; its result comes back on push.fd. */
static int
push_start(struct filesync *fs, bool full, bool cleanup)
{
    struct vcha_sync_push push = {
        .source = param(fs, VCHA_SYNC_SOURCE),
        .target = &fs->target,
        .filter = cleanup ? fs->cleanup0 : fs->filter0,
        .list = full ? NULL : fs->list,
        .identity = param(fs, VCHA_SYNC_IDENTITY),
        .known_hosts = param(fs, VCHA_SYNC_KNOWN_HOSTS),
        .control_path = fs->control[0] != '\0' ? fs->control : NULL,
        .password_file = param(fs, VCHA_SYNC_PASSWORD_FILE),
        .delete_excluded = cleanup,
        .timeout_ms = vcha_param_num(fs->p, VCHA_SYNC_PUSH_TIMEOUT),
    };
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        int rc = -errno;

        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        struct push_result r = {0};

        /* a stop kills rsync at once, and the child reports and ends */
        signal(SIGTERM, on_term_cancel);
        close(fds[0]);
        r.rc = vcha_sync_push_run(&push, &r.st, r.why, sizeof(r.why));
        _exit(write(fds[1], &r, sizeof(r)) == (ssize_t) sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    fs->push.pid = pid; /* push.since was set by the caller */
    fs->push.lost = false;
    fs->push.fd = fds[0];
    fs->push.full = full;
    fs->push.cleanup = cleanup;
    return 0;
}

/*
 * The pending paths as rsync must be given them: where a path's directory
 * is gone too, that directory (vcha_pathset_add_gone); a path with a link
 * on the way as it is (rsync may find it vanished: see push_done).
 */
static int
pending_settle(struct filesync *fs)
{
    struct vcha_pathset *settled = vcha_pathset_new();
    int src = open(param(fs, VCHA_SYNC_SOURCE),
                   O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = settled == NULL ? -ENOMEM : src < 0 ? -errno : 0;

    for (size_t i = 0; rc == 0 && i < vcha_pathset_count(fs->pending); i++) {
        const char *path = vcha_pathset_get(fs->pending, i);

        rc = vcha_pathset_add_gone(settled, src, path);
        if (rc == -ELOOP) {
            rc = vcha_pathset_add(settled, path);
        }
    }
    if (src >= 0) {
        close(src);
    }
    if (rc < 0) {
        vcha_pathset_free(settled);
        return rc;
    }
    vcha_pathset_free(fs->pending);
    fs->pending = settled;
    return 0;
}

/* Write the pending paths to the list and make them the push's. */
static int
batch_take(struct filesync *fs)
{
    int rc = pending_settle(fs);
    int fd = rc < 0 ? -1
                    : open(fs->list, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0600);

    if (rc == 0) {
        rc = fd < 0 ? -errno : vcha_pathset_write0(fs->pending, fd);
    }

    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0) {
        vcha_pathset_clear(fs->inflight);
        rc = vcha_pathset_merge(fs->inflight, fs->pending);
    }
    if (rc == 0) {
        vcha_pathset_clear(fs->pending);
    }
    return rc;
}

/* Check the secrets the transport needs (they may change while we run). */
static int
secrets_check(struct filesync *fs)
{
    char why[512];
    int rc = 0;

    if (fs->target.kind == VCHA_SYNC_SSH) {
        rc = vcha_sync_secret_check(param(fs, VCHA_SYNC_IDENTITY), why,
                                    sizeof(why));
    } else if (fs->target.kind == VCHA_SYNC_DAEMON) {
        rc = vcha_sync_secret_check(param(fs, VCHA_SYNC_PASSWORD_FILE), why,
                                    sizeof(why));
    }
    if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "%s", why);
    }
    return rc;
}

/* After a failure: the next try after a delay that doubles each time. */
static void
push_backoff(struct filesync *fs, long long now)
{
    fs->retry_at = now + fs->retry_ms;
    fs->retry_ms =
        fs->retry_ms * 2 < RETRY_MAX_MS ? fs->retry_ms * 2 : RETRY_MAX_MS;
}

/* Start the push that is due, if one is. */
static void
push_maybe(struct filesync *fs, long long now)
{
    bool full = fs->need_full || fs->need_cleanup;
    int rc = 0;

    if (fs->push.pid > 0 || now < fs->retry_at) {
        return;
    }
    if (!full && (vcha_pathset_count(fs->pending) == 0 || now < fs->batch_at)) {
        return;
    }
    if (packages_touched(fs->pending) || full) {
        filter_build(fs);
        vcha_syncmark_packages(param(fs, VCHA_SYNC_SOURCE), fs->packages);
        full = fs->need_full || fs->need_cleanup;
    }
    if (secrets_check(fs) < 0) { /* refused, every push, until mended */
        fs->failures++;
        fs->need_full = true;
        push_backoff(fs, now);
        return;
    }
    master_keep(fs);
    fs->push.since = fs->pending_since;
    if (full) {
        /* everything pending so far is in the tree it sends */
        vcha_pathset_clear(fs->pending);
        vcha_pathset_clear(fs->inflight);
    } else {
        rc = batch_take(fs);
    }
    fs->pending_since = 0;
    if (rc == 0) {
        rc = push_start(fs, full, fs->need_cleanup);
    }
    if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "cannot start a push: %s",
                 strerror(-rc));
        fs->need_full = true;
        fs->retry_at = now + RETRY_MIN_MS;
        fs->pending_since = fs->push.since;
    }
}

/* The push ended with @p r: count it, and retry what failed. */
static void
push_done(struct filesync *fs, const struct push_result *r, long long now)
{
    bool ok = r->rc == 0 || r->rc == -EAGAIN; /* vanished: see below */

    if (r->rc == -EBUSY) { /* the receiver was still busy: again, soon */
        vcha_pathset_merge(fs->pending, fs->inflight);
        vcha_pathset_clear(fs->inflight);
        if (fs->push.since != 0 &&
            (fs->pending_since == 0 || fs->push.since < fs->pending_since)) {
            fs->pending_since = fs->push.since;
        }
        fs->retry_at = now + BUSY_RETRY_MS;
        return;
    }

    fs->pushes++;
    fs->files += r->st.files;
    fs->bytes += r->st.bytes;
    fs->deleted += r->st.deleted;
    fs->last_push_ms = r->st.elapsed_ms;
    if (ok) {
        fs->error[0] = '\0';
        fs->retry_ms = RETRY_MIN_MS;
        if (r->rc == -EAGAIN && !fs->push.full) {
            /*
             * A file vanished while it was sent: the standby marked the
             * batch incomplete.  The change that removed it may have been
             * in this very batch, and no event is left to bring another
             * push: the same paths go again, the next batch.
             */
            long long since = fs->push.since != 0 ? fs->push.since : now;

            vcha_pathset_merge(fs->pending, fs->inflight);
            if (fs->pending_since == 0) {
                fs->batch_at = now + vcha_param_num(fs->p, VCHA_SYNC_DELAY);
            }
            if (fs->pending_since == 0 || since < fs->pending_since) {
                fs->pending_since = since; /* the lag counts from the oldest */
            }
        }
        vcha_pathset_clear(fs->inflight);
        if (fs->push.full) {
            fs->need_full = fs->push.lost;
            fs->full_pushes++;
            fs->last_full_wall_ms = vcha_realtime_ms();
            fs->verify_at = now + vcha_param_num(fs->p, VCHA_SYNC_VERIFY);
        }
        if (fs->push.cleanup) {
            fs->need_cleanup = false;
            unlink(fs->owed);
        }
        return;
    }
    /* the standby may have missed anything while it failed: all again */
    fs->failures++;
    snprintf(fs->error, sizeof(fs->error), "%s", r->why);
    vcha_pathset_merge(fs->pending, fs->inflight);
    vcha_pathset_clear(fs->inflight);
    fs->need_full = true;
    if (fs->push.since != 0 &&
        (fs->pending_since == 0 || fs->push.since < fs->pending_since)) {
        fs->pending_since = fs->push.since;
    }
    push_backoff(fs, now);
}

/* Collect the ended push child. */
static void
push_reap(struct filesync *fs, long long now)
{
    struct push_result r = {.rc = -EIO};
    ssize_t n = read(fs->push.fd, &r, sizeof(r));

    if (n != (ssize_t) sizeof(r)) {
        r.rc = -EIO;
        snprintf(r.why, sizeof(r.why), "the push process died");
    }
    close(fs->push.fd);
    waitpid(fs->push.pid, NULL, 0);
    push_done(fs, &r, now);
    fs->push = (struct push_child){.pid = 0, .fd = -1};
}

/* -------------------------------------------------------- the changes */

static void
changes_read(struct filesync *fs, long long now)
{
    size_t before = vcha_pathset_count(fs->pending);
    int rc = vcha_tracker_read(fs->tracker, fs->pending);

    if (rc == -EOVERFLOW) {
        fs->overflows++;
    } else if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "reading changes: %s",
                 strerror(-rc));
    }
    if (rc < 0) {
        /* a full push under way may have walked past what was lost */
        fs->need_full = true;
        fs->push.lost = fs->push.pid > 0;
    }
    if (vcha_pathset_count(fs->pending) > before || rc == -EOVERFLOW) {
        if (fs->pending_since == 0) {
            fs->pending_since = now;
            fs->batch_at = now + vcha_param_num(fs->p, VCHA_SYNC_DELAY);
        }
    }
}

/* The figures of a report. */
static void
report(const struct filesync *fs, int out_fd, long long now)
{
    long long since = fs->pending_since;

    if (fs->push.pid > 0 && fs->push.since != 0 &&
        (since == 0 || fs->push.since < since)) {
        since = fs->push.since;
    }
    vchad_figure(out_fd, "lag_ms", "%lld", since != 0 ? now - since : 0);
    vchad_figure(out_fd, "pending", "%zu", vcha_pathset_count(fs->pending));
    vchad_figure(out_fd, "in_sync", "%d",
                 since == 0 && !fs->need_full && !fs->need_cleanup &&
                     fs->push.pid == 0 && fs->full_pushes > 0);
    vchad_figure(out_fd, "last_full_sync", "%lld",
                 fs->last_full_wall_ms / 1000);
    vchad_figure(out_fd, "pushes", "%lld", fs->pushes);
    vchad_figure(out_fd, "full_pushes", "%lld", fs->full_pushes);
    vchad_figure(out_fd, "files_sent", "%lld", fs->files);
    vchad_figure(out_fd, "bytes_sent", "%lld", fs->bytes);
    vchad_figure(out_fd, "deleted", "%lld", fs->deleted);
    vchad_figure(out_fd, "failures", "%lld", fs->failures);
    vchad_figure(out_fd, "overflows", "%lld", fs->overflows);
    vchad_figure(out_fd, "last_push_ms", "%lld", fs->last_push_ms);
    vchad_figure(out_fd, "packages", "%s", fs->packages);
    if (fs->tracker != NULL) {
        vchad_figure(out_fd, "mechanism", "%s",
                     vcha_tracker_mechanism(fs->tracker));
        vchad_figure(out_fd, "watches", "%zu",
                     vcha_tracker_watches(fs->tracker));
    }
    if (fs->error[0] != '\0') {
        vchad_figure(out_fd, "error", "%s", fs->error);
    }
    vchad_report(out_fd);
}

/* ------------------------------------------------------------ the run */

/* The job's working directory and its files; the tracker; the list. */
static int
setup(struct filesync *fs)
{
    const char *run = getenv("VCHA_RUN_DIR");
    const char *mech = vcha_param_str(fs->p, VCHA_SYNC_MECHANISM);
    enum vcha_tracker_mode mode =
        strcmp(mech, "fanotify") == 0  ? VCHA_TRACKER_FANOTIFY
        : strcmp(mech, "inotify") == 0 ? VCHA_TRACKER_INOTIFY
                                       : VCHA_TRACKER_AUTO;
    char why[512] = "";
    int rc;

    snprintf(fs->dir, sizeof(fs->dir), "%s/filesync",
             run != NULL && run[0] != '\0' ? run : "/run/vcha");
    mkdir(fs->dir, 0700);
    snprintf(fs->dir + strlen(fs->dir), sizeof(fs->dir) - strlen(fs->dir),
             "/%s", vchad_job_id(fs->job));
    if (mkdir(fs->dir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(fs->error, sizeof(fs->error), "%s: %s", fs->dir,
                 strerror(errno));
        return rc;
    }
    snprintf(fs->list, sizeof(fs->list), "%s/list", fs->dir);
    snprintf(fs->filter, sizeof(fs->filter), "%s/filter", fs->dir);
    snprintf(fs->filter0, sizeof(fs->filter0), "%s/filter0", fs->dir);
    snprintf(fs->cleanup0, sizeof(fs->cleanup0), "%s/cleanup0", fs->dir);
    snprintf(fs->owed, sizeof(fs->owed), "%s/cleanup-owed", fs->dir);
    if (fs->target.kind == VCHA_SYNC_SSH) {
        snprintf(fs->control, sizeof(fs->control), "%s/ssh", fs->dir);
    }
    /* changes are tracked before the first full push reads the tree */
    rc = vcha_tracker_open(param(fs, VCHA_SYNC_SOURCE), mode, &fs->tracker, why,
                           sizeof(why));
    if (rc < 0) {
        snprintf(fs->error, sizeof(fs->error), "tracking changes: %s", why);
        return rc;
    }
    rc = filter_build(fs);
    fs->need_cleanup = fs->need_cleanup || access(fs->owed, F_OK) == 0;
    return rc;
}

/* How long to sleep in poll(): until the next thing due. */
static int
poll_timeout(const struct filesync *fs, long long now, long long report_at)
{
    long long next = report_at;

    if (fs->push.pid == 0) {
        if (fs->need_full || fs->need_cleanup) {
            next = fs->retry_at < next ? fs->retry_at : next;
        } else if (vcha_pathset_count(fs->pending) > 0) {
            long long at =
                fs->batch_at > fs->retry_at ? fs->batch_at : fs->retry_at;
            next = at < next ? at : next;
        }
    }
    return next <= now ? 0 : (int) (next - now);
}

/* One turn of the loop: wait for changes or the push, do what is due. */
static void
turn(struct filesync *fs, long long *report_at, int out_fd)
{
    struct pollfd pfd[2] = {
        {.fd = vcha_tracker_fd(fs->tracker), .events = POLLIN},
        {.fd = fs->push.pid > 0 ? fs->push.fd : -1, .events = POLLIN},
    };
    long long now = vcha_now_ms();

    if (poll(pfd, 2, poll_timeout(fs, now, *report_at)) < 0 && errno != EINTR) {
        vcha_sleep_ms(100);
    }
    now = vcha_now_ms();
    if (pfd[0].revents != 0) {
        bool was_idle = fs->pending_since == 0;

        changes_read(fs, now);
        if (was_idle && fs->pending_since != 0) {
            *report_at = now; /* out of step: say so at once */
        }
    }
    if (pfd[1].revents != 0) {
        push_reap(fs, now);
        *report_at = now; /* report what the push did at once */
    }
    if (fs->push.pid == 0 && !fs->need_full &&
        vcha_param_num(fs->p, VCHA_SYNC_VERIFY) > 0 && now >= fs->verify_at) {
        fs->need_full = true;
    }
    push_maybe(fs, now);
    if (now >= *report_at) {
        report(fs, out_fd, now);
        *report_at = now + REPORT_MS;
    }
}

static void
filesync_free(struct filesync *fs)
{
    if (fs->push.pid > 0) {
        kill(fs->push.pid, SIGTERM);
        waitpid(fs->push.pid, NULL, 0);
        close(fs->push.fd);
    }
    master_stop(fs);
    vcha_tracker_close(fs->tracker);
    vcha_pathset_free(fs->pending);
    vcha_pathset_free(fs->inflight);
    vcha_params_free(fs->p);
}

static int
run(const struct vchad_job *job, int out_fd)
{
    struct filesync fs = {.job = job,
                          .push = {.fd = -1},
                          .need_full = true,
                          .retry_ms = RETRY_MIN_MS};
    char why[512] = "";
    long long report_at = 0;
    int rc = vcha_job_params_parse(&vcha_sync_job, vchad_job_params(job), &fs.p,
                                   why, sizeof(why));

    signal(SIGTERM, on_term);
    signal(SIGCHLD, SIG_DFL);
    fs.pending = vcha_pathset_new();
    fs.inflight = vcha_pathset_new();
    if (rc == 0 && (fs.pending == NULL || fs.inflight == NULL)) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        vcha_sync_target_parse(param(&fs, VCHA_SYNC_TARGET), &fs.target, why,
                               sizeof(why));
        rc = setup(&fs);
    } else {
        snprintf(fs.error, sizeof(fs.error), "%s", why);
    }
    while (rc == 0 && !stopping) {
        turn(&fs, &report_at, out_fd);
    }
    if (rc < 0) { /* say why, then end: the daemon starts another later */
        report(&fs, out_fd, vcha_now_ms());
    }
    filesync_free(&fs);
    return rc < 0 ? rc : 0;
}

static int
publish(const struct vchad_job *job, const struct vcha_kv *figures, bool ok,
        struct vcha_kv *attrs)
{
    static const struct vchad_attr_map map[] = {
        {"lag_ms", "sync-lag-ms"},     {"last_full_sync", "sync-last-full"},
        {"failures", "sync-failures"}, {"files_sent", "sync-files"},
        {"bytes_sent", "sync-bytes"},  {"packages", "sync-packages"},
    };

    (void) ok;
    return vchad_publish_figures(job, figures, map,
                                 sizeof(map) / sizeof(map[0]), attrs);
}

const struct vchad_job_type vchad_filesync_job = {
    .name = "filesync",
    .kind = VCHAD_JOB_RESIDENT,
    .validate = validate,
    .run = run,
    .publish = publish,
};
