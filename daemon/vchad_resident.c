/*
 * vchad - resident jobs: one process from the job's addition to its
 * removal (see vchad_job.h).  The registry watches it: its reports through
 * a fifo, its exit (reaped when it is our child, seen in /proc when it was
 * adopted), its liveness timeout; a lost process is killed with its session
 * and started again after a backoff.  The run directory records each
 * resident (ID.job: id, type, pid, start time, parameters) beside its fifo
 * (ID.fifo), so that the next daemon adopts a process that outlived this
 * one.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/log.h>

#include "vchad_jobs_private.h"

/* How often /proc is asked whether an adopted process still lives. */
#define ADOPTED_POLL_MS 200
/* Bounds of backoff_ms and backoff_max_ms. */
#define BACKOFF_MIN_MS 10
#define BACKOFF_LIMIT_MS (3600LL * 1000)
/* Largest record read back. */
#define MAX_RECORD (256 * 1024)
/* Prefix of a parameter in a record. */
#define PARAM_PREFIX "param."

/* ------------------------------------------------------------ parameters */

static int
backoff_param(const struct vcha_kv *params, const char *key, long long dflt,
              long long min, long long *ms, char *why, size_t len)
{
    int rc = vcha_kv_get_ll(params, key, ms);

    if (rc == -ENOENT) {
        *ms = dflt < min ? min : dflt;
        return 0;
    }
    if (rc < 0 || *ms < min || *ms > BACKOFF_LIMIT_MS) {
        if (why != NULL) {
            snprintf(why, len,
                     "%s must be a number of milliseconds in [%lld, %lld]", key,
                     min, BACKOFF_LIMIT_MS);
        }
        return -EINVAL;
    }
    return 0;
}

int
vchad_resident_params(const struct vcha_kv *params, struct vchad_job *job,
                      char *why, size_t len)
{
    long long base, max;
    int rc = backoff_param(params, "backoff_ms", VCHAD_DEFAULT_BACKOFF_MS,
                           BACKOFF_MIN_MS, &base, why, len);

    if (rc == 0) {
        rc = backoff_param(params, "backoff_max_ms",
                           VCHAD_DEFAULT_BACKOFF_MAX_MS, base, &max, why, len);
    }
    if (rc == 0 && job != NULL) {
        job->backoff_ms = base;
        job->backoff_max_ms = max;
    }
    return rc;
}

/* ------------------------------------------------------------ the record */

/*
 * "<run_dir>/<id><suffix>": the id with what a file name cannot hold (and
 * a leading dot) written %XX.
 */
static int
job_path(const struct vchad_jobs *jobs, const char *id, const char *suffix,
         char *buf, size_t len)
{
    size_t n = (size_t) snprintf(buf, len, "%s/", jobs->run_dir);

    for (const char *c = id; *c != '\0' && n + 4 < len; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
                     (*c == '.' && c != id);

        n += (size_t) snprintf(buf + n, len - n, plain ? "%c" : "%%%02X",
                               plain ? *c : (unsigned char) *c);
    }
    if (n + strlen(suffix) + 1 > len) {
        return -ENAMETOOLONG;
    }
    strcat(buf, suffix);
    return 0;
}

/* Write the record of @p job's process. */
static int
record_write(const struct vchad_jobs *jobs, const struct vchad_job *job)
{
    struct vcha_kv *kv = vcha_kv_new();
    const struct vcha_kv *p = job->params;
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0;
    int rc = kv ? 0 : -ENOMEM;

    rc = rc ? rc : vcha_kv_set(kv, "id", job->id);
    rc = rc ? rc : vcha_kv_set(kv, "type", job->type->name);
    rc = rc ? rc : vcha_kv_setf(kv, "pid", "%d", (int) job->pid);
    rc = rc ? rc : vcha_kv_setf(kv, "starttime", "%lld", job->starttime);
    if (job->replacing) { /* new parameters: the process is not to be kept */
        rc = rc ? rc : vcha_kv_set(kv, "replace", "1");
    }
    for (size_t i = 0; rc == 0 && i < vcha_kv_count(p); i++) {
        char key[256];

        snprintf(key, sizeof(key), PARAM_PREFIX "%s", vcha_kv_key(p, i));
        rc = vcha_kv_set(kv, key, vcha_kv_value(p, i));
    }
    rc = rc ? rc : vcha_kv_encode(kv, &buf, &len);
    rc = rc ? rc : job_path(jobs, job->id, ".job", path, sizeof(path));
    rc = rc ? rc : vcha_file_write_atomic(path, buf, len, 0600);
    if (rc < 0) {
        vcha_warn("job %s: cannot record its process: %s", job->id,
                  strerror(-rc));
    }
    free(buf);
    vcha_kv_free(kv);
    return rc;
}

void
vchad_resident_forget(const struct vchad_jobs *jobs,
                      const struct vchad_job *job)
{
    char path[PATH_MAX];

    if (jobs->run_dir == NULL) {
        return;
    }
    if (job_path(jobs, job->id, ".job", path, sizeof(path)) == 0) {
        unlink(path);
    }
    if (job_path(jobs, job->id, ".fifo", path, sizeof(path)) == 0) {
        unlink(path);
    }
}

/* Open fifo @p path with @p flags: a fifo, not what a link points to. */
static int
fifo_open_path(const char *path, int flags)
{
    struct stat st;
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        vcha_err("%s is not a fifo", path);
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* Open the job's fifo for reading (and writing: no end of file ever). */
static int
fifo_open(const struct vchad_jobs *jobs, struct vchad_job *job)
{
    char path[PATH_MAX];
    int rc = job_path(jobs, job->id, ".fifo", path, sizeof(path));

    if (rc < 0 || job->out_fd >= 0) {
        return rc;
    }
    if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
        return -errno;
    }
    rc = fifo_open_path(path, O_RDWR | O_NONBLOCK);
    job->out_fd = rc < 0 ? -1 : rc;
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------ the process */

/* In the resident's process: run() until it returns or is stopped. */
static void
resident_main(struct vchad_jobs *jobs, struct vchad_job *job, int fd)
{
    int rc;

    vchad_child_reset(jobs);
    signal(SIGPIPE, SIG_IGN); /* no daemon reading: EPIPE, not death */
    rc = job->type->run(job, fd);
    if (rc < 0) {
        rc = -rc;
    }
    _exit(rc > 255 ? 255 : rc);
}

static int
resident_start(struct vchad_jobs *jobs, struct vchad_job *job)
{
    char path[PATH_MAX];
    int rc = fifo_open(jobs, job), wfd;
    pid_t pid;

    rc = rc ? rc : job_path(jobs, job->id, ".fifo", path, sizeof(path));
    if (rc < 0) {
        return rc;
    }
    wfd = fifo_open_path(path, O_WRONLY); /* we read it: no wait */
    if (wfd < 0) {
        return wfd;
    }
    /* before the fork: the process sees them */
    job->started = job->last_report = vcha_now_ms();
    job->deadline = LLONG_MAX;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        resident_main(jobs, job, wfd);
    }
    rc = pid < 0 ? -errno : 0;
    close(wfd);
    if (rc < 0) {
        return rc;
    }
    job->pid = job->sid = pid;
    job->adopted = job->lost = job->killed = job->replacing = false;
    job->kill_at = 0;
    job->restarts += job->started_runs > 0;
    job->started_runs++;
    if (!vchad_proc_stat(pid, NULL, NULL, &job->starttime)) {
        job->starttime = -1;
    }
    record_write(jobs, job);
    vcha_info("job %s: process %d started", job->id, (int) pid);
    return 0;
}

/* Whether @p pid is alive and still the process that started at @p start. */
static bool
proc_same(pid_t pid, long long start)
{
    char state;
    long long t;

    return vchad_proc_stat(pid, &state, NULL, &t) && t == start &&
           state != 'Z' && state != 'X';
}

/* Whether @p pid is that process and leads a session (as a resident does). */
static bool
proc_leads(pid_t pid, long long start)
{
    pid_t sid = 0;

    return proc_same(pid, start) && vchad_proc_stat(pid, NULL, &sid, NULL) &&
           sid == pid;
}

/* Why the job's process went, into @p o. */
static void
loss_classify(const struct vchad_job *job, struct outcome *o)
{
    int st = job->status;

    o->exit_code = -1;
    o->status = -EIO;
    if (job->lost) {
        snprintf(o->error, sizeof(o->error), "%s", job->lost_why);
    } else if (job->adopted) {
        snprintf(o->error, sizeof(o->error), "its process %d ended",
                 (int) job->sid);
    } else if (WIFSIGNALED(st)) {
        o->signal = WTERMSIG(st);
        snprintf(o->error, sizeof(o->error),
                 "its process was killed by signal %d (%s)", o->signal,
                 strsignal(o->signal));
    } else {
        o->exit_code = WEXITSTATUS(st);
        snprintf(o->error, sizeof(o->error),
                 "its process exited with status %d", o->exit_code);
    }
}

/* The delay before the restart after a loss: doubling, bounded, reset
 * once a process has reported for backoff_max_ms. */
static long long
backoff_next(struct vchad_job *job)
{
    bool healthy = job->last_report - job->started >= job->backoff_max_ms;

    if (job->backoff == 0 || healthy) {
        job->backoff = job->backoff_ms;
    } else {
        job->backoff = vchad_min_ll(job->backoff * 2, job->backoff_max_ms);
    }
    return job->backoff;
}

void
vchad_resident_ended(struct vchad_jobs *jobs, struct vchad_job *job)
{
    struct outcome o = {0};
    long long now = vcha_now_ms();

    vchad_resident_read(jobs, job); /* what it wrote last */
    job->pid = job->sid = 0;
    job->out_len = 0;
    job->out_truncated = false;
    job->resync = 0;
    free(job->report_error);
    job->report_error = NULL;
    vcha_kv_free(job->pending); /* a report it did not finish */
    job->pending = NULL;
    if (job->removing) {
        vchad_job_remove_now(jobs, job);
        return;
    }
    if (job->replacing) {
        job->next_due = now; /* new parameters: no loss, no wait */
        return;
    }
    loss_classify(job, &o);
    job->next_due = now + backoff_next(job);
    vcha_warn("job %s: its process is lost (%s); starting another in %lld ms",
              job->id, o.error, job->backoff);
    job->adopted = job->lost = false;
    job->kill_at = 0;
    vchad_run_record(jobs, job, &o,
                     job->figures ? vcha_kv_dup(job->figures) : vcha_kv_new());
}

/* Liveness and stops of the running process; when next to look. */
static long long
resident_police(struct vchad_job *job, long long now)
{
    long long next;

    if (job->kill_at == 0) {
        if (!job->removing && !job->replacing &&
            now - job->last_report >= job->timeout_ms) {
            job->lost = true;
            snprintf(job->lost_why, sizeof(job->lost_why),
                     "no report for %lld ms", now - job->last_report);
            vcha_warn("job %s: process %d: %s; stopping it", job->id,
                      (int) job->pid, job->lost_why);
        }
        if (job->removing || job->replacing || job->lost) {
            kill(job->pid, SIGTERM);
            job->kill_at = now + VCHAD_KILL_GRACE_MS;
        }
    } else if (now >= job->kill_at && job->kill_at != LLONG_MAX) {
        vchad_run_kill(job);
        job->kill_at = LLONG_MAX;
    }
    next =
        job->kill_at != 0 ? job->kill_at : job->last_report + job->timeout_ms;
    return job->adopted ? vchad_min_ll(next, now + ADOPTED_POLL_MS) : next;
}

long long
vchad_resident_tick(struct vchad_jobs *jobs, struct vchad_job *job,
                    long long now)
{
    int rc;

    if (job->adopted && job->pid != 0 && !proc_same(job->pid, job->starttime)) {
        job->pid = 0; /* not our child: no status to reap */
    }
    if (job->sid != 0 && job->pid == 0) {
        if (vchad_session_signal(job->sid, SIGKILL) > 0) {
            return now + LINGER_POLL_MS; /* what it left is dying */
        }
        vchad_resident_ended(jobs, job);
        return now;
    }
    if (job->pid != 0) {
        return resident_police(job, now);
    }
    if (now < job->next_due) {
        return job->next_due;
    }
    rc = resident_start(jobs, job);
    if (rc < 0) {
        vcha_err("job %s: cannot start its process: %s", job->id,
                 strerror(-rc));
        job->next_due = now + FORK_RETRY_MS;
        return job->next_due;
    }
    return job->last_report + job->timeout_ms;
}

void
vchad_resident_replace(struct vchad_jobs *jobs, struct vchad_job *job)
{
    if (job->sid != 0) {
        job->replacing = true;
    } else {
        job->next_due = vcha_now_ms();
    }
    /* should the daemon die before the process is replaced, the next one
     * replaces it, with these parameters */
    record_write(jobs, job);
}

/* ------------------------------------------------------------ reports */

/* An empty line: the figures so far make a report. */
static void
resident_report(struct vchad_jobs *jobs, struct vchad_job *job)
{
    struct outcome o = {.ok = job->report_error == NULL};

    if (!o.ok) {
        o.status = -EIO;
        snprintf(o.error, sizeof(o.error), "%s", job->report_error);
        free(job->report_error);
        job->report_error = NULL;
    }
    for (size_t i = 0; i < vcha_kv_count(job->pending); i++) {
        vcha_kv_set(job->figures, vcha_kv_key(job->pending, i),
                    vcha_kv_value(job->pending, i));
    }
    vcha_kv_free(job->pending);
    job->pending = NULL;
    job->last_report = vcha_now_ms();
    job->reports++;
    vchad_run_record(jobs, job, &o,
                     job->figures ? vcha_kv_dup(job->figures) : vcha_kv_new());
}

/* One line (no newline) of the resident's output. */
static void
resident_line(struct vchad_jobs *jobs, struct vchad_job *job, const char *line,
              size_t len)
{
    char *error = NULL;

    if (len == 0) {
        resident_report(jobs, job);
    } else if (len >= 6 && strncmp(line, "error=", 6) == 0) {
        if (vcha_kv_unescape(line + 6, len - 6, &error) == 0) {
            free(job->report_error);
            job->report_error = error;
        } else {
            free(error);
        }
    } else if ((job->pending == NULL &&
                (job->pending = vcha_kv_new()) == NULL) ||
               vcha_kv_parse_line(job->pending, line, len) < 0) {
        vcha_debug("job %s: ignoring figure line '%.*s'", job->id,
                   (int) (len > 80 ? 80 : len), line);
    }
}

/* Keep @p len bytes of a line still to be ended.  False: no memory. */
static bool
out_append(struct vchad_job *job, const char *p, size_t len)
{
    char *nb = realloc(job->out, job->out_len + len + 1);

    if (nb == NULL) {
        return false;
    }
    job->out = nb;
    memcpy(job->out + job->out_len, p, len);
    job->out_len += len;
    return true;
}

/*
 * @p n bytes the resident wrote: each line is taken as soon as it ends;
 * job->out holds the start of the line to come.  A line beyond
 * VCHAD_MAX_FIGURES is dropped whole, up to its newline however late that
 * comes (job->out_truncated until then).
 */
static void
resident_feed(struct vchad_jobs *jobs, struct vchad_job *job, const char *p,
              size_t n)
{
    for (; n > 0 && job->resync != 0; p++, n--) {
        if (*p == '\n') {
            job->resync = job->resync == 2 ? 0 : 2; /* 0: an empty line */
        } else {
            job->resync = 1;
        }
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t) (nl - p) + 1 : n;

        if (job->out_truncated) {
            job->out_truncated = nl == NULL; /* the rest of a dropped line */
        } else if (nl != NULL && job->out_len == 0) {
            resident_line(jobs, job, p, take - 1); /* whole in this chunk */
        } else if (job->out_len + take > VCHAD_MAX_FIGURES ||
                   !out_append(job, p, take)) {
            vcha_warn("job %s: a figure line beyond %d bytes dropped", job->id,
                      VCHAD_MAX_FIGURES);
            job->out_len = 0;
            job->out_truncated = nl == NULL;
        } else if (nl != NULL) {
            resident_line(jobs, job, job->out, job->out_len - 1);
            job->out_len = 0;
        }
        p += take;
        n -= take;
    }
}

void
vchad_resident_read(struct vchad_jobs *jobs, struct vchad_job *job)
{
    char chunk[4096];
    ssize_t n;

    while ((n = read(job->out_fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno != EINTR) {
            return; /* EAGAIN: all of it for now (a fifo has no end) */
        }
        if (n > 0) {
            resident_feed(jobs, job, chunk, (size_t) n);
        }
    }
}

/* ------------------------------------------------------------ adoption */

/*
 * Whether run directory @p dir is ours alone: a directory (not a link)
 * owned by our user, which no one else may write to (its records name the
 * processes whose sessions we kill).
 */
static int
run_dir_check(const char *dir)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;

    if (rc == 0 && fstat(fd, &st) < 0) {
        rc = -errno;
    }
    if (rc == 0 && (st.st_uid != geteuid() || (st.st_mode & 022) != 0)) {
        vcha_err("refusing the run directory %s: it must belong to uid %u "
                 "and be writable by no one else",
                 dir, (unsigned) geteuid());
        rc = -EPERM;
    } else if (rc < 0) {
        vcha_err("run directory %s: %s", dir, strerror(-rc));
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

int
vchad_jobs_set_run_dir(struct vchad_jobs *jobs, const char *dir)
{
    char *copy = NULL;
    int rc = 0;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    rc = run_dir_check(dir);
    if (rc == 0 && (copy = strdup(dir)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        free(jobs->run_dir);
        jobs->run_dir = copy;
    }
    return rc;
}

/* The parameters of a record: its keys PARAM_PREFIX*, without it. */
static struct vcha_kv *
record_params(const struct vcha_kv *rec)
{
    struct vcha_kv *params = vcha_kv_new();
    size_t plen = strlen(PARAM_PREFIX);

    for (size_t i = 0; params != NULL && i < vcha_kv_count(rec); i++) {
        const char *key = vcha_kv_key(rec, i);

        if (strncmp(key, PARAM_PREFIX, plen) == 0 &&
            vcha_kv_set(params, key + plen, vcha_kv_value(rec, i)) < 0) {
            vcha_kv_free(params);
            params = NULL;
        }
    }
    return params;
}

/* SIGKILL to session @p sid; wait, a bounded while, until it is empty. */
static void
session_end(pid_t sid)
{
    long long until = vcha_now_ms() + REAP_WAIT_MS;

    while (vchad_session_signal(sid, SIGKILL) > 0 && vcha_now_ms() < until) {
        vcha_sleep_ms(10);
    }
}

/*
 * The recorded process @p pid is gone: kill what is left of its session (a
 * program it started, say a second rsync on the same target otherwise),
 * unless its pid now names another process, which the session cannot have
 * had (a session's id is not given to a new process while the session
 * lives).
 */
static void
session_leftovers_end(pid_t pid, long long start)
{
    long long t;

    if (pid > 0 && (!vchad_proc_stat(pid, NULL, NULL, &t) || t == start)) {
        session_end(pid);
    }
}

/*
 * Take on the process of a job just added again from its record, unless
 * the record says it is to be replaced (its parameters changed).
 */
static void
adopt_process(struct vchad_jobs *jobs, struct vchad_job *job, pid_t pid,
              long long start, bool replace)
{
    int rc;

    if (pid <= 0 || !proc_same(pid, start)) {
        vcha_notice("job %s: its process %d is gone; starting another", job->id,
                    (int) pid);
        session_leftovers_end(pid, start);
        return;
    }
    if (replace) {
        vcha_notice("job %s: replacing its process %d (new parameters)",
                    job->id, (int) pid);
        session_end(pid);
        return;
    }
    rc = fifo_open(jobs, job);
    if (rc < 0) {
        vcha_err("job %s: cannot open its fifo (%s); replacing process %d",
                 job->id, strerror(-rc), (int) pid);
        vchad_session_signal(pid, SIGKILL);
        return;
    }
    job->pid = job->sid = pid;
    job->starttime = start;
    job->adopted = true;
    job->resync = 1; /* the fifo may start within a line */
    job->started = job->last_report = vcha_now_ms();
    job->started_runs = 1;
    vcha_notice("job %s: adopted its process %d", job->id, (int) pid);
}

/* Take on the job recorded in @p name; true when it is a job again. */
static bool
adopt_record(struct vchad_jobs *jobs, const char *name)
{
    struct vcha_kv *rec = vcha_kv_new(), *params = NULL;
    char path[PATH_MAX], why[256] = "bad record", *buf = NULL;
    long long pid = 0, start = -1, replace = 0;
    enum vchad_add_result what;
    size_t len = 0, used;
    int rc = -EBADMSG;

    snprintf(path, sizeof(path), "%s/%s", jobs->run_dir, name);
    if (rec != NULL && vcha_file_read(path, &buf, &len, MAX_RECORD) == 0 &&
        vcha_kv_parse(rec, buf, len, &used) == 0 &&
        (params = record_params(rec)) != NULL) {
        vcha_kv_get_ll(rec, "pid", &pid);
        vcha_kv_get_ll(rec, "starttime", &start);
        vcha_kv_get_ll(rec, "replace", &replace);
        rc = vchad_jobs_add(jobs, vcha_kv_get(rec, "type"),
                            vcha_kv_get(rec, "id"), params, &what, why,
                            sizeof(why));
    }
    if (rc == 0 && what == VCHAD_ADDED) {
        adopt_process(jobs, vchad_job_find(jobs, vcha_kv_get(rec, "id")),
                      (pid_t) pid, start, replace != 0);
    } else if (rc < 0) {
        vcha_warn("dropping the record %s: %s", path, why);
        if (pid > 0 && proc_leads((pid_t) pid, start)) {
            vchad_session_signal((pid_t) pid, SIGKILL);
        }
        unlink(path);
    }
    free(buf);
    vcha_kv_free(params);
    vcha_kv_free(rec);
    return rc == 0;
}

/* A record a daemon was writing when it died (ID.job.XXXXXX): removed. */
static void
record_tmp_remove(const struct vchad_jobs *jobs, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", jobs->run_dir, name);
    vcha_info("removing %s, left by a daemon that died writing it", path);
    unlink(path);
}

int
vchad_jobs_adopt(struct vchad_jobs *jobs)
{
    char **names = NULL;
    size_t n = 0;
    int dfd, rc, taken = 0;

    if (jobs->run_dir == NULL) {
        return 0;
    }
    dfd = open(jobs->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return -errno;
    }
    rc = vcha_file_names_at(dfd, true, &names, &n);
    close(dfd);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);

        if (len > 4 && strcmp(names[i] + len - 4, ".job") == 0) {
            taken += adopt_record(jobs, names[i]);
        } else if (len > 11 && strncmp(names[i] + len - 11, ".job.", 5) == 0) {
            record_tmp_remove(jobs, names[i]);
        }
    }
    vcha_file_names_free(names);
    return taken;
}

void
vchad_jobs_detach(struct vchad_jobs *jobs)
{
    for (size_t i = 0; i < jobs->n; i++) {
        struct vchad_job *job = jobs->v[i];

        if (!vchad_job_resident(job) || job->removing) {
            continue;
        }
        if (job->pid != 0) {
            vcha_notice("job %s: leaving its process %d to the next daemon",
                        job->id, (int) job->pid);
        } else if (job->sid != 0) {
            session_end(job->sid); /* what a gone process left */
        }
        vchad_job_drop(jobs, job);
        i--;
    }
}
