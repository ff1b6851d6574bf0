/* vcha - fork/exec with an argv array, stdin data, captured output, a deadline.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/proc.h>

/*
 * How long output is still read once the program has exited.  A program
 * that starts a daemon (lxc-start -d) leaves it holding the pipes; its
 * output is not the program's, and waiting for their end would last as
 * long as the daemon.
 */
#define DRAIN_MS 200
#define KILL_GRACE_MS 200
/*
 * How long a program killed with SIGKILL may take to die.  One blocked in
 * the kernel (uninterruptible sleep on a hung file system) dies only once
 * the kernel lets go; the caller's deadline must not wait for that.
 */
#define REAP_LIMIT_MS 2000
/* The same once the process was told to stop: it has cleanup to do. */
#define REAP_CANCEL_MS 100
/* How long a keeper killed at the give-up may take to be reaped. */
#define KEEPER_LET_GO_MS 100
/* Programs one process may run at once (vcha_exec() nests only in tests). */
#define MAX_RUNNING 8

/*
 * The process groups of the programs this process runs now, and whether
 * it was told to stop: both are read by vcha_exec_cancel(), which a
 * signal handler may call.
 */
static volatile pid_t running[MAX_RUNNING];
static volatile sig_atomic_t cancels; /* calls of vcha_exec_cancel() */

static void
running_set(pid_t old, pid_t pid)
{
    for (size_t i = 0; i < MAX_RUNNING; i++) {
        if (running[i] == old) {
            running[i] = pid;
            return;
        }
    }
}

void
vcha_exec_cancel(void)
{
    int saved = errno;

    cancels = cancels + 1;
    for (size_t i = 0; i < MAX_RUNNING; i++) {
        pid_t pid = running[i];

        if (pid > 0) {
            kill(-pid, SIGKILL);
        }
    }
    errno = saved;
}

bool
vcha_exec_cancelled(void)
{
    return cancels != 0;
}

struct capture {
    int fd;
    char *buf;
    size_t len, cap;
    bool *truncated;
};

static void
close_pipe(int p[2])
{
    for (int i = 0; i < 2; i++) {
        if (p[i] >= 0) {
            close(p[i]);
            p[i] = -1;
        }
    }
}

/* dup2 that also works when fd already is target (clears close-on-exec). */
static int
move_fd(int fd, int target)
{
    if (fd == target) {
        return fcntl(fd, F_SETFD, 0);
    }
    return dup2(fd, target) < 0 ? -1 : 0;
}

/*
 * Close the descriptors @p low to @p high: close_range() where the kernel
 * has it (Linux 5.9) and no seccomp filter refuses it, else one by one.
 * One left open could hold a pipe whose end the caller waits for.
 */
static void
close_fds(unsigned low, unsigned high)
{
    long max = sysconf(_SC_OPEN_MAX);

    if (low > high || close_range(low, high, 0) == 0) {
        return;
    }
    if (max < 65536) {
        max = 65536;
    }
    for (unsigned fd = low; fd <= high && fd < (unsigned long) max; fd++) {
        close((int) fd);
    }
}

/*
 * What the start pipe carries: the keeper's word, with the program's pid,
 * or the errno of a failed fork (the keeper's) or exec (the program's).
 */
struct start_msg {
    pid_t prog;
    int err;
};

static void
start_send(int fd, pid_t prog, int err)
{
    struct start_msg m = {.prog = prog, .err = err};

    (void) !write(fd, &m, sizeof(m));
}

/*
 * In the program's process: lead a process group of its own, wire up
 * stdio and exec; errno on the start pipe.  @p parent is the keeper's pid
 * as the keeper knew it: had it died since the fork, getppid() would say
 * init's pid here, and the parent-death signal would never come.
 */
static void
child_exec(const char *const argv[], int in[2], int out[2], int err[2],
           int start[2], pid_t parent)
{
    sigset_t none;

    setpgid(0, 0);
    if (vcha_proc_tie(parent, SIGKILL) < 0) {
        errno = ESRCH;
        goto fail;
    }
    for (int s = 1; s < NSIG; s++) {
        signal(s, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (move_fd(in[0], STDIN_FILENO) < 0 ||
        move_fd(out[1], STDOUT_FILENO) < 0 ||
        move_fd(err[1], STDERR_FILENO) < 0) {
        goto fail;
    }
    close_fds(3, (unsigned) start[1] - 1);
    close_fds((unsigned) start[1] + 1, ~0U);
    execvp(argv[0], (char *const *) argv);
fail:
    start_send(start[1], 0, errno);
    _exit(127);
}

/*
 * The keeper's signal when the process that runs the program dies: a
 * real-time one, which no program sends its process group by habit (and
 * not SIGRTMAX, which valgrind keeps for itself).
 */
#define KEEPER_SIG (SIGRTMIN + 3)

/* The keeper's program, once forked. */
static volatile pid_t keeper_prog;

static void
keeper_orphaned(int sig)
{
    pid_t prog = keeper_prog;

    (void) sig;
    if (prog > 0) {
        kill(-prog, SIGKILL);
        kill(prog, SIGKILL); /* should it not lead its group yet */
    }
    _exit(128 + SIGKILL);
}

/* Die the way @p status says the program did. */
static void
keeper_exit_as(int status)
{
    struct rlimit none = {0, 0};
    sigset_t all;

    if (WIFEXITED(status)) {
        _exit(WEXITSTATUS(status));
    }
    setrlimit(RLIMIT_CORE, &none); /* the program's core is the program's */
    signal(WTERMSIG(status), SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    kill(getpid(), WTERMSIG(status));
    _exit(128 + WTERMSIG(status));
}

/*
 * The keeper: the program's parent, in a process group of its own apart
 * from the program's.  Should the process that runs the program die
 * (killed at an operation's timeout, say), the keeper kills the program's
 * group: the program and whatever it started there (lxc-checkpoint's
 * CRIU, rsync's receiver), which a parent-death signal on the program
 * alone would leave running.  Otherwise it waits for the program and ends
 * as it did; the signals vcha_exec() sends the program's group do not
 * reach it, so that while it lives, the program is not yet reaped.
 */
static void
keeper_main(const char *const argv[], int in[2], int out[2], int err[2],
            int start[2], pid_t parent)
{
    struct sigaction sa = {.sa_handler = keeper_orphaned};
    int status = 0;
    pid_t prog, self = getpid();
    sigset_t none;

    setpgid(0, 0);
    for (int s = 1; s < NSIG; s++) {
        signal(s, SIG_DFL);
    }
    sigaction(KEEPER_SIG, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (vcha_proc_tie(parent, KEEPER_SIG) < 0) {
        _exit(127);
    }
    prog = fork();
    if (prog == 0) {
        child_exec(argv, in, out, err, start, self); /* not getppid() */
    }
    if (prog < 0) {
        start_send(start[1], 0, errno);
        _exit(127);
    }
    keeper_prog = prog;
    setpgid(prog, prog); /* also here: no race with kill(-prog) */
    start_send(start[1], prog, 0);
    close_fds(3, ~0U); /* the pipes are the program's */
    while (waitpid(prog, &status, 0) < 0 && errno == EINTR) {
    }
    keeper_exit_as(status);
}

static int
capture_read(struct capture *c)
{
    char chunk[8192];
    ssize_t n = read(c->fd, chunk, sizeof(chunk));

    if (n < 0) {
        return (errno == EINTR || errno == EAGAIN) ? 0 : -errno;
    }
    if (n == 0) {
        return 1; /* EOF */
    }
    size_t keep = (size_t) n;
    if (c->len + keep > VCHA_EXEC_MAX_OUTPUT) {
        keep = VCHA_EXEC_MAX_OUTPUT - c->len;
        *c->truncated = true;
    }
    if (c->len + keep + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + keep + 1) {
            cap *= 2;
        }
        char *nb = realloc(c->buf, cap);
        if (nb == NULL) {
            return -ENOMEM;
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, chunk, keep);
    c->len += keep;
    c->buf[c->len] = '\0';
    return 0;
}

static void
kill_group(pid_t pid, long long *kill_at, int *stage)
{
    if (*stage == 0) {
        kill(-pid, SIGTERM);
        *stage = 1;
        *kill_at = vcha_now_ms() + KILL_GRACE_MS;
    } else if (*stage == 1) {
        kill(-pid, SIGKILL);
        *stage = 2;
    }
}

struct io_state {
    int keeper_fd; /* a pidfd of the keeper until it is reaped, or -1 */
    int in_fd;
    const char *input;
    size_t input_len, input_off;
    struct capture cap[2];
};

/* One poll round.  Returns 1 while there is still I/O to do. */
static int
io_round(struct io_state *io, int timeout)
{
    struct pollfd fds[4];
    int nfds = 0, idx_in = -1, idx_cap[2] = {-1, -1};

    /* the keeper's end wakes the round up: no sleep after the program */
    if (io->keeper_fd >= 0) {
        fds[nfds++] = (struct pollfd){.fd = io->keeper_fd, .events = POLLIN};
    }
    if (io->in_fd >= 0) {
        idx_in = nfds;
        fds[nfds++] = (struct pollfd){.fd = io->in_fd, .events = POLLOUT};
    }
    for (int i = 0; i < 2; i++) {
        if (io->cap[i].fd >= 0) {
            idx_cap[i] = nfds;
            fds[nfds++] =
                (struct pollfd){.fd = io->cap[i].fd, .events = POLLIN};
        }
    }
    if (nfds == 0) {
        poll(NULL, 0, timeout); /* the program still runs: no busy loop */
        return 0;
    }
    if (poll(fds, (nfds_t) nfds, timeout) <= 0) {
        return 1;
    }
    if (idx_in < 0 && idx_cap[0] < 0 && idx_cap[1] < 0) {
        return 0; /* only the keeper: nothing left to read or write */
    }
    if (idx_in >= 0 && fds[idx_in].revents) {
        ssize_t n = write(io->in_fd, io->input + io->input_off,
                          io->input_len - io->input_off);
        if (n > 0) {
            io->input_off += (size_t) n;
        }
        if ((n < 0 && errno != EINTR && errno != EAGAIN) ||
            io->input_off >= io->input_len) {
            close(io->in_fd);
            io->in_fd = -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (idx_cap[i] >= 0 && fds[idx_cap[i]].revents &&
            capture_read(&io->cap[i]) != 0) {
            close(io->cap[i].fd);
            io->cap[i].fd = -1;
        }
    }
    return 1;
}

static void
record_status(int status, struct vcha_exec_result *res)
{
    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->exit_code = -1;
        res->signal = WTERMSIG(status);
    }
}

/* The processes of a run: the keeper and the program it forked. */
struct procs {
    pid_t keeper;
    pid_t prog; /* also its process group */
};

/*
 * Let go of a keeper whose program could not be reaped in time: kill it
 * (the program, killed already, then goes to init) and reap it if it dies
 * at once; one that cannot die either stays a child of this process.
 */
static void
keeper_let_go(pid_t keeper)
{
    kill(keeper, SIGKILL);
    vcha_proc_reap(keeper, NULL, vcha_now_ms() + KEEPER_LET_GO_MS);
}

/*
 * Feed stdin, collect output and reap, all within the deadline; a program
 * still there REAP_LIMIT_MS after its SIGKILL is left behind (see
 * res->unreaped).  The keeper ends only once the program was reaped.
 */
static void
supervise(const struct procs *p, struct io_state *io, long long deadline,
          int gen, struct vcha_exec_result *res)
{
    long long kill_at = deadline, drain_until = LLONG_MAX, give_up = 0;
    int stage = 0, status = 0;
    bool reaped = false;

    for (;;) {
        long long now = vcha_now_ms();

        /* cancelled since it started (its kill may have come too early) */
        if (cancels != gen && stage < 2) {
            res->cancelled = true;
            stage = 1; /* straight to SIGKILL */
            kill_at = now;
        }
        if (!reaped && waitpid(p->keeper, &status, WNOHANG) == p->keeper) {
            reaped = true;
            record_status(status, res);
            drain_until = now + DRAIN_MS;
            if (io->keeper_fd >= 0) { /* readable from now on: not polled */
                close(io->keeper_fd);
                io->keeper_fd = -1;
            }
        }
        if (reaped && io->in_fd < 0 && io->cap[0].fd < 0 && io->cap[1].fd < 0) {
            break; /* ended, and its output read to the end */
        }
        if (reaped && stage == 0 && now >= kill_at) {
            break; /* it ended in time: the deadline ends only the drain */
        }
        if (now >= kill_at && stage < 2) {
            res->timed_out = res->timed_out || (stage == 0 && !res->cancelled);
            kill_group(p->prog, &kill_at, &stage);
            give_up = stage != 2       ? 0
                      : res->cancelled ? now + REAP_CANCEL_MS
                                       : now + REAP_LIMIT_MS;
            continue;
        }
        if (stage == 2 && (reaped || now >= give_up)) {
            break; /* killed: stop waiting for stray holders of the pipes */
        }
        long long wait = stage == 2 ? 50 : kill_at - now;
        if (io_round(io, (int) (wait > 50 ? 50 : wait)) == 0 && reaped) {
            break;
        }
        if (reaped && vcha_now_ms() >= drain_until) {
            break; /* a daemon it started holds the pipes: not its output */
        }
    }
    if (!reaped) {
        keeper_let_go(p->keeper);
        res->unreaped = true;
        res->exit_code = -1;
        res->signal = SIGKILL;
    }
}

/*
 * Read the start pipe @p fd: the program's pid into @p p, then wait until
 * the program was executed (the pipe reaches its end) or could not be (its
 * errno arrives), for no longer than @p deadline or a cancel: a program
 * that hangs before its exec is killed by supervise() as at its deadline.
 * The errno of a failed start, ESRCH when the keeper said nothing, or 0.
 */
static int
start_wait(int fd, long long deadline, int gen, struct procs *p)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct start_msg m;
    ssize_t n;

    for (;;) {
        long long left = deadline - vcha_now_ms();

        /* the keeper's word comes at once: wait for it whatever the time */
        if (p->prog > 0 && (left <= 0 || cancels != gen)) {
            return 0;
        }
        if (poll(&pfd, 1, p->prog <= 0 || left > 50 ? 50 : (int) left) <= 0) {
            continue;
        }
        n = read(fd, &m, sizeof(m));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n != (ssize_t) sizeof(m)) {
            return p->prog > 0 ? 0 : ESRCH; /* the end, or the keeper died */
        }
        if (m.err != 0) {
            return m.err;
        }
        p->prog = m.prog;
    }
}

static int
spawn(const char *const argv[], int in[2], int out[2], int err[2],
      long long deadline, int gen, struct procs *p)
{
    int start[2] = {-1, -1}, child_errno;
    pid_t parent = getpid();

    *p = (struct procs){.keeper = -1, .prog = -1};
    if (pipe2(start, O_CLOEXEC) < 0) {
        return -errno;
    }
    p->keeper = fork();
    if (p->keeper < 0) {
        int e = errno;
        close_pipe(start);
        return -e;
    }
    if (p->keeper == 0) {
        keeper_main(argv, in, out, err, start, parent);
    }
    setpgid(p->keeper, p->keeper); /* also here: never in the caller's */
    close(start[1]);
    child_errno = start_wait(start[0], deadline, gen, p);
    close(start[0]);
    if (child_errno != 0) {
        waitpid(p->keeper, NULL, 0); /* it is exiting: _exit(127) */
        return -child_errno;
    }
    running_set(0, p->prog);
    return 0;
}

/*
 * vcha_exec(), killed should vcha_exec_cancel() be called while it runs:
 * when the count of cancels differs from @p gen.
 */
static int
exec_run(const char *const argv[], const char *input, size_t input_len,
         long long timeout_ms, int gen, struct vcha_exec_result *res)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    struct io_state io = {.keeper_fd = -1, .in_fd = -1};
    long long deadline = vcha_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct procs p;
    int rc;

    memset(res, 0, sizeof(*res));
    if (argv == NULL || argv[0] == NULL) {
        return -EINVAL;
    }
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(err, O_CLOEXEC) < 0) {
        rc = -errno;
        goto done;
    }
    /* EPIPE from a program that does not read stdin must not kill us */
    signal(SIGPIPE, SIG_IGN);
    rc = spawn(argv, in, out, err, deadline, gen, &p);
    if (rc < 0) {
        goto done;
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in[0] = out[1] = err[1] = -1;
    io.input = input;
    io.input_len = input ? input_len : 0;
    if (io.input_len > 0) {
        io.in_fd = in[1];
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    } else {
        close(in[1]);
    }
    in[1] = -1;
    io.cap[0] = (struct capture){.fd = out[0], .truncated = &res->truncated};
    io.cap[1] = (struct capture){.fd = err[0], .truncated = &res->truncated};
    out[0] = err[0] = -1;
    io.keeper_fd = (int) syscall(SYS_pidfd_open, p.keeper, 0); /* or -1 */
    supervise(&p, &io, deadline, gen, res);
    if (io.keeper_fd >= 0) {
        close(io.keeper_fd);
    }
    running_set(p.prog, 0);
    if (io.in_fd >= 0) {
        close(io.in_fd);
    }
    for (int i = 0; i < 2; i++) {
        if (io.cap[i].fd >= 0) {
            close(io.cap[i].fd);
        }
    }
    res->out = io.cap[0].buf ? io.cap[0].buf : strdup("");
    res->out_len = io.cap[0].len;
    res->err = io.cap[1].buf ? io.cap[1].buf : strdup("");
    res->err_len = io.cap[1].len;
    if (res->out == NULL || res->err == NULL) {
        vcha_exec_result_clear(res);
        rc = -ENOMEM;
    }

done:
    close_pipe(in);
    close_pipe(out);
    close_pipe(err);
    return rc;
}

int
vcha_exec(const char *const argv[], const char *input, size_t input_len,
          long long timeout_ms, struct vcha_exec_result *res)
{
    return exec_run(argv, input, input_len, timeout_ms, cancels, res);
}

void
vcha_exec_result_clear(struct vcha_exec_result *res)
{
    if (res != NULL) {
        free(res->out);
        free(res->err);
        memset(res, 0, sizeof(*res));
    }
}

bool
vcha_exec_ok(const struct vcha_exec_result *res)
{
    return res->exit_code == 0 && res->signal == 0 && !res->timed_out;
}

/* A regular file we may execute (access() alone accepts directories). */
static bool
is_executable_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

int
vcha_exec_find(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    if (prog == NULL || *prog == '\0') {
        return -ENOENT;
    }
    if (strchr(prog, '/') != NULL) {
        return is_executable_file(prog) ? 0 : -ENOENT;
    }
    if (path == NULL || *path == '\0') {
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    }
    for (const char *p = path; *p != '\0';) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t) (colon - p) : strlen(p);

        if (len > 0 && len + strlen(prog) + 2 <= sizeof(buf)) {
            snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, p, prog);
            if (is_executable_file(buf)) {
                return 0;
            }
        }
        p += len;
        if (*p == ':') {
            p++;
        }
    }
    return -ENOENT;
}

int
vcha_exec_until(const char *const argv[], long long deadline, char *why,
                size_t whylen)
{
    return vcha_exec_until_codes(argv, deadline, 1u, why, whylen);
}

int
vcha_exec_until_codes(const char *const argv[], long long deadline,
                      unsigned ok_codes, char *why, size_t whylen)
{
    struct vcha_exec_result res = {0};
    long long left = deadline - vcha_now_ms();
    int rc;

    if (cancels != 0) {
        snprintf(why, whylen, "%s not run: stopping", argv[0]);
        return -ECANCELED;
    }
    if (left <= 0) {
        snprintf(why, whylen, "no time left for %s", argv[0]);
        return -ETIME;
    }
    /* gen 0: a cancel from now on kills it, however early it comes */
    rc = exec_run(argv, NULL, 0, left, 0, &res);
    if (rc < 0) {
        snprintf(why, whylen, "cannot run %s: %s", argv[0], strerror(-rc));
    } else if (res.cancelled) {
        snprintf(why, whylen, "%s killed: stopping", argv[0]);
        rc = -ECANCELED;
    } else if (res.timed_out) {
        snprintf(why, whylen, "%s did not finish in time", argv[0]);
        rc = -ETIME;
    } else if (res.signal != 0 || res.exit_code < 0 || res.exit_code > 31 ||
               (ok_codes & (1u << res.exit_code)) == 0) {
        char *nl;

        /* the last line of its stderr usually says why */
        while (res.err_len > 0 && res.err[res.err_len - 1] == '\n') {
            res.err[--res.err_len] = '\0';
        }
        nl = strrchr(res.err, '\n');
        snprintf(why, whylen, "%s failed (exit %d): %s", argv[0], res.exit_code,
                 nl != NULL ? nl + 1 : res.err);
        rc = -EIO;
    }
    vcha_exec_result_clear(&res);
    return rc;
}
