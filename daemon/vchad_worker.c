/*
 * vchad - the processes of a run: the worker forked for it in a session of
 * its own, its output, its kill at a timeout or a removal, its reaping, and
 * the end of a run once every process of its session is gone.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/log.h>
#include <vcha/proc.h>

#include "vchad_jobs_private.h"

/* ------------------------------------------------------------ children */

/*
 * Reset what a forked child inherits from the daemon.  The child leads a
 * session of its own: every program it starts, in whatever process group,
 * stays in that session, which vchad_session_signal() reaches.
 */
void
vchad_child_reset(struct vchad_jobs *jobs)
{
    sigset_t none;
    int fd;

    setsid();
    vcha_log_forked();
    if (jobs->child_setup != NULL) {
        jobs->child_setup(jobs->child_ctx);
    }
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->out_fd >= 0) {
            close(jobs->v[i]->out_fd);
        }
    }
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
}

/*
 * From "/proc/N/stat": the state letter, the session and the start time
 * (clock ticks after boot) of process N.
 */
static bool
stat_read(const char *pid, char *state, pid_t *sid, long long *start)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd, ppid, pgrp, session;
    long long t;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name may hold anything */
    if (p == NULL ||
        sscanf(p + 1, " %c %d %d %d", state, &ppid, &pgrp, &session) != 4) {
        return false;
    }
    *sid = (pid_t) session;
    /* fields 7 to 21, then starttime */
    p += 2;
    for (int field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
    }
    *start = p != NULL && sscanf(p, " %lld", &t) == 1 ? t : -1;
    return true;
}

bool
vchad_proc_stat(pid_t pid, char *state, pid_t *sid, long long *start)
{
    char name[32], st;
    pid_t s;
    long long t;

    snprintf(name, sizeof(name), "%d", (int) pid);
    if (pid <= 0 || !stat_read(name, &st, &s, &t)) {
        return false;
    }
    if (state != NULL) {
        *state = st;
    }
    if (sid != NULL) {
        *sid = s;
    }
    if (start != NULL) {
        *start = t;
    }
    return true;
}

/*
 * Whether process @p pid, whose main thread is a zombie, has other threads
 * still running (it lives on until they end).
 */
static bool
threads_left(const char *pid)
{
    char path[300];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%s/task", pid);
    d = opendir(path);
    while (d != NULL && n < 2 && (e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    if (d != NULL) {
        closedir(d);
    }
    return n > 1;
}

/*
 * Send @p sig to every live process of session @p sid: a worker or helper
 * and whatever it started, in any process group (lxc-checkpoint's CRIU,
 * rsync's receiver).  A session's id is not given to another process while
 * any process of the session lives, so no stranger is hit.  Returns how
 * many were alive (zombies do not count).
 */
size_t
vchad_session_signal(pid_t sid, int sig)
{
    DIR *proc = opendir("/proc");
    struct dirent *d;
    size_t n = 0;

    if (proc == NULL) {
        /* no /proc: the worker's group at least */
        return kill(-sid, sig) == 0 || kill(sid, sig) == 0;
    }
    while ((d = readdir(proc)) != NULL) {
        char state;
        pid_t s;
        long long start;

        if (d->d_name[0] < '1' || d->d_name[0] > '9' ||
            !stat_read(d->d_name, &state, &s, &start) || s != sid ||
            ((state == 'Z' || state == 'X') && !threads_left(d->d_name))) {
            continue;
        }
        kill((pid_t) atoi(d->d_name), sig);
        n++;
    }
    closedir(proc);
    return n;
}

/*
 * SIGTERM in a worker (its timeout, its job's removal, the daemon's end or
 * death): kill the program under way and start no other, so that the run
 * fails at once and undoes what it must (a frozen container is thawed).
 * The daemon's SIGKILL follows VCHAD_KILL_GRACE_MS later; should the
 * daemon be dead, SIGALRM (whose default ends the process) does it.
 */
static void
worker_stop(int sig)
{
    (void) sig;
    vcha_exec_cancel();
    alarm((VCHAD_KILL_GRACE_MS + 999) / 1000);
}

/* In the worker: one run, then exit with its errno. */
static void
worker_main(struct vchad_jobs *jobs, struct vchad_job *job, int fd,
            pid_t parent)
{
    struct sigaction sa = {.sa_handler = worker_stop, .sa_flags = SA_RESTART};
    int rc;

    vchad_child_reset(jobs);
    sigaction(SIGTERM, &sa, NULL);
    /* a worker does not outlive the daemon that waits for it */
    if (vcha_proc_tie(parent, SIGTERM) < 0) {
        _exit(EINTR);
    }
    rc = job->type->run(job, fd);
    if (rc < 0) {
        rc = -rc;
    }
    _exit(rc > 255 ? 255 : rc);
}

int
vchad_run_start(struct vchad_jobs *jobs, struct vchad_job *job)
{
    int p[2];
    pid_t pid, parent = getpid();

    if (pipe2(p, O_CLOEXEC) < 0) {
        return -errno;
    }
    /* before the fork: the worker sees its deadline */
    job->started = vcha_now_ms();
    job->deadline = job->started + job->timeout_ms;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        int e = errno;

        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        close(p[0]);
        worker_main(jobs, job, p[1], parent);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    job->pid = pid;
    job->sid = pid; /* the worker's session, once it has made it */
    job->out_fd = p[0];
    job->out_len = 0;
    job->out_truncated = false;
    job->kill_at = 0;
    job->timed_out = job->killed = false;
    job->started_runs++;
    vcha_debug("job %s: run %llu started (worker %d)", job->id,
               job->started_runs, (int) pid);
    return 0;
}

bool
vchad_out_read(struct vchad_job *job)
{
    char chunk[4096];

    for (;;) {
        ssize_t n = read(job->out_fd, chunk, sizeof(chunk));
        size_t keep;

        if (n < 0) {
            return errno == EINTR || errno == EAGAIN;
        }
        if (n == 0) {
            return false;
        }
        keep = (size_t) n;
        if (job->out_len + keep > VCHAD_MAX_FIGURES) {
            keep = VCHAD_MAX_FIGURES - job->out_len;
            job->out_truncated = true;
        }
        if (keep > 0) {
            char *nb = realloc(job->out, job->out_len + keep + 1);

            if (nb == NULL) {
                job->out_truncated = true;
                continue;
            }
            job->out = nb;
            memcpy(job->out + job->out_len, chunk, keep);
            job->out_len += keep;
        }
    }
}

/* The figures of a run; its "error" line goes to @p o. */
static struct vcha_kv *
out_parse(struct vchad_job *job, struct outcome *o)
{
    struct vcha_kv *figures = vcha_kv_new();
    size_t off = 0;

    while (figures != NULL && off < job->out_len) {
        const char *line = job->out + off;
        const char *nl = memchr(line, '\n', job->out_len - off);
        size_t len;
        char *error = NULL;

        if (nl == NULL) {
            break; /* a line cut short */
        }
        len = (size_t) (nl - line);
        off += len + 1;
        if (len >= 6 && strncmp(line, "error=", 6) == 0) {
            if (vcha_kv_unescape(line + 6, len - 6, &error) == 0) {
                snprintf(o->error, sizeof(o->error), "%s", error);
            }
            free(error);
        } else if (vcha_kv_parse_line(figures, line, len) < 0) {
            vcha_debug("job %s: ignoring figure line '%.*s'", job->id,
                       (int) (len > 80 ? 80 : len), line);
        }
    }
    if (job->out_truncated) {
        vcha_warn("job %s: figures beyond %d bytes dropped", job->id,
                  VCHAD_MAX_FIGURES);
    }
    return figures;
}

/* How the worker's wait status turns into an outcome. */
static void
outcome_classify(const struct vchad_job *job, int status, struct outcome *o)
{
    char given[sizeof(o->error)];

    snprintf(given, sizeof(given), "%s", o->error);
    o->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    o->ok = o->exit_code == 0 && !job->timed_out && !job->killed;
    o->status = o->ok ? 0 : job->timed_out ? -ETIME : -EIO;
    if (job->timed_out) {
        snprintf(o->error, sizeof(o->error), "timed out after %lld ms",
                 job->timeout_ms);
    } else if (job->killed) {
        snprintf(o->error, sizeof(o->error), "killed: the job was removed");
    } else if (o->signal != 0) {
        snprintf(o->error, sizeof(o->error), "worker killed by signal %d (%s)",
                 o->signal, strsignal(o->signal));
    } else if (o->exit_code != 0 && given[0] == '\0') {
        snprintf(o->error, sizeof(o->error), "exit status %d (%s)",
                 o->exit_code, strerror(o->exit_code));
    } else if (o->ok) {
        o->error[0] = '\0';
    }
}

/* The run is over: its worker exited (job->status), its session is empty. */
static void
run_end(struct vchad_jobs *jobs, struct vchad_job *job)
{
    struct outcome o = {0};
    struct vcha_kv *figures;
    int status = job->status;

    job->pid = 0;
    job->sid = 0;
    if (job->out_fd >= 0) {
        vchad_out_read(job);
        close(job->out_fd);
        job->out_fd = -1;
    }
    figures = out_parse(job, &o);
    outcome_classify(job, status, &o);
    free(job->out);
    job->out = NULL;
    job->out_len = 0;
    vchad_run_record(jobs, job, &o, figures ? figures : vcha_kv_new());
}

void
vchad_run_kill(struct vchad_job *job)
{
    if (job->pid != 0) {
        kill(job->pid, SIGKILL); /* it may not have made its session yet */
    }
    vchad_session_signal(job->sid, SIGKILL);
}

/*
 * Timeouts, grace periods and kill escalation of a run under way: SIGTERM
 * to the worker, which stops its program and cleans up, then SIGKILL to
 * all of the run.
 */
long long
vchad_run_police(struct vchad_job *job, long long now)
{
    if (!job->timed_out && !job->killed && now >= job->deadline) {
        vcha_warn("job %s: run %llu exceeded its timeout of %lld ms; "
                  "killing it",
                  job->id, job->started_runs, job->timeout_ms);
        job->timed_out = true;
    } else if (job->removing && !job->timed_out && !job->killed &&
               now >= job->remove_by) {
        vcha_warn("job %s: run %llu still going after the grace period; "
                  "killing it",
                  job->id, job->started_runs);
        job->killed = true;
    } else if (job->kill_at != 0 && now >= job->kill_at) {
        vchad_run_kill(job);
        job->kill_at = LLONG_MAX;
    }
    if ((job->timed_out || job->killed) && job->kill_at == 0) {
        kill(job->pid, SIGTERM);
        job->kill_at = now + VCHAD_KILL_GRACE_MS;
    }
    if (job->kill_at != 0) {
        return job->kill_at;
    }
    return job->removing ? vchad_min_ll(job->deadline, job->remove_by)
                         : job->deadline;
}

/*
 * The worker has exited but programs of its session live on (killed, not
 * dead yet: a task blocked in the kernel dies only when the kernel lets
 * go).  The run is not over until they are gone: the next run, or a stop
 * that takes the store after a job-remove, must not run beside them.
 */
long long
vchad_run_linger(struct vchad_jobs *jobs, struct vchad_job *job, long long now)
{
    if (vchad_session_signal(job->sid, SIGKILL) == 0) {
        run_end(jobs, job);
        return now;
    }
    if (!job->linger_warned && now - job->reaped_at > VCHAD_KILL_GRACE_MS) {
        vcha_warn("job %s: programs of run %llu still alive after its "
                  "worker ended (blocked in the kernel?); waiting for them",
                  job->id, job->started_runs);
        job->linger_warned = true;
    }
    return now + LINGER_POLL_MS;
}
size_t
vchad_jobs_npoll(const struct vchad_jobs *jobs)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n; i++) {
        n += jobs->v[i]->out_fd >= 0;
    }
    return n;
}

size_t
vchad_jobs_pollfds(const struct vchad_jobs *jobs, struct pollfd *fds,
                   size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n && n < max; i++) {
        if (jobs->v[i]->out_fd >= 0) {
            fds[n++] =
                (struct pollfd){.fd = jobs->v[i]->out_fd, .events = POLLIN};
        }
    }
    return n;
}

void
vchad_jobs_read(struct vchad_jobs *jobs, const struct pollfd *fds, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (fds[k].revents == 0) {
            continue;
        }
        for (size_t i = 0; i < jobs->n; i++) {
            struct vchad_job *job = jobs->v[i];

            if (job->out_fd != fds[k].fd) {
                continue;
            }
            if (vchad_job_resident(job)) {
                vchad_resident_read(jobs, job); /* its fifo: no end */
            } else if (!vchad_out_read(job)) {
                close(job->out_fd); /* the run ends when the worker does */
                job->out_fd = -1;
            }
            break;
        }
    }
}

/* The job's process has been reaped and its session is empty. */
static void
run_over(struct vchad_jobs *jobs, struct vchad_job *job)
{
    if (vchad_job_resident(job)) {
        vchad_resident_ended(jobs, job);
    } else {
        run_end(jobs, job);
    }
}

static struct vchad_job *
job_by_pid(const struct vchad_jobs *jobs, pid_t pid)
{
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->pid == pid) {
            return jobs->v[i];
        }
    }
    return NULL;
}

/* The next exited child, not yet reaped: its pid, or 0. */
static pid_t
child_exited(void)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
        return 0;
    }
    return info.si_pid;
}

int
vchad_jobs_reap(struct vchad_jobs *jobs)
{
    int status, n = 0;
    pid_t pid;

    while ((pid = child_exited()) > 0) {
        struct vchad_job *job = job_by_pid(jobs, pid);

        if (waitpid(pid, &status, 0) != pid) {
            break;
        }
        n++;
        if (job != NULL) {
            job->pid = 0;
            job->status = status;
            job->reaped_at = vcha_now_ms();
            job->linger_warned = false;
            if (vchad_session_signal(job->sid, SIGKILL) == 0) {
                run_over(jobs, job);
            } else {
                vcha_notice("job %s: killing what run %llu left running",
                            job->id, job->started_runs);
            }
        } else {
            vchad_helper_reaped(jobs, pid);
        }
    }
    return n;
}

size_t
vchad_jobs_children(const struct vchad_jobs *jobs)
{
    size_t n = jobs->n_helpers;

    for (size_t i = 0; i < jobs->n; i++) {
        n += jobs->v[i]->pid != 0;
    }
    return n;
}

void
vchad_jobs_kill_all(struct vchad_jobs *jobs)
{
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->sid != 0) {
            vchad_run_kill(jobs->v[i]);
        }
    }
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        vchad_session_signal(jobs->helpers[i].pid, SIGKILL);
    }
}

/* Reap the workers and helpers that have exited, not waiting. */
static void
children_reap(struct vchad_jobs *jobs)
{
    int status;

    for (size_t i = 0; i < jobs->n; i++) {
        pid_t pid = jobs->v[i]->pid;

        if (pid != 0 && waitpid(pid, &status, WNOHANG) != 0) {
            jobs->v[i]->pid = 0;
        }
    }
    for (size_t i = 0; i < jobs->n_helpers;) {
        if (waitpid(jobs->helpers[i].pid, &status, WNOHANG) != 0) {
            jobs->helpers[i] = jobs->helpers[--jobs->n_helpers];
        } else {
            i++;
        }
    }
}

/* Whether any run's session or helper still has a live process. */
static bool
sessions_alive(const struct vchad_jobs *jobs)
{
    size_t n = 0;

    for (size_t i = 0; i < jobs->n; i++) {
        n +=
            jobs->v[i]->sid != 0 ? vchad_session_signal(jobs->v[i]->sid, 0) : 0;
    }
    for (size_t i = 0; i < jobs->n_helpers; i++) {
        n += vchad_session_signal(jobs->helpers[i].pid, 0);
    }
    return n > 0;
}

void
vchad_jobs_stop(struct vchad_jobs *jobs)
{
    long long until = vcha_now_ms() + VCHAD_KILL_GRACE_MS;
    bool any = false;

    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->pid != 0) {
            kill(jobs->v[i]->pid, SIGTERM); /* it cleans up, then exits */
            any = true;
        }
    }
    while (any && vchad_jobs_children(jobs) > jobs->n_helpers &&
           vcha_now_ms() < until) {
        vcha_sleep_ms(10);
        children_reap(jobs);
    }
    until = vcha_now_ms() + REAP_WAIT_MS;
    do {
        vchad_jobs_kill_all(jobs);
        children_reap(jobs);
        if (vchad_jobs_children(jobs) == 0 && !sessions_alive(jobs)) {
            break;
        }
        vcha_sleep_ms(10);
    } while (vcha_now_ms() < until);
    for (size_t i = 0; i < jobs->n; i++) {
        jobs->v[i]->sid = 0;
    }
    /* a removal under way is over: its processes are gone */
    for (size_t i = 0; i < jobs->n; i++) {
        if (jobs->v[i]->removing) {
            vchad_job_remove_now(jobs, jobs->v[i]);
            i--;
        }
    }
}
