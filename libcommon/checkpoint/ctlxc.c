/*
 * vcha - liblxc, called in a child process.
 *
 * liblxc is a library in name: lxc_container_new() takes a file lock (the
 * container's disk lock, held for minutes by an lxc-create or lxc-copy),
 * state and init_pid() wait on the container's monitor over a socket that
 * has no timeout, start() and migrate() fork and stay behind as the
 * container's monitor, and its errors go to stderr, where an agent's
 * exit reason goes.  None of that may reach an agent past its deadline or
 * vchad's workers at all.  So every call is made in a child leading a
 * process group of its own (in the caller's session, which vchad kills
 * whole at the end of a run), with stdin and stdout on /dev/null, and
 * stderr and liblxc's log (unless the configuration names one) in a
 * memory file, whose lines are the reason when a call fails; the caller
 * reads a fixed-size result from a pipe, never waiting for its end (a
 * monitor the call started inherits it), and kills the child's group at
 * the deadline.  A fork costs far less than the lxc-info, lxc-start or
 * lxc-checkpoint it replaces (see README.md, "liblxc in a child").
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "ctlxc.h"
#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>

/* What the child sends back: always the whole record. */
struct result {
    int rc;
    char out[VCHA_CTLXC_OUT];
};

bool
vcha_ctlxc_apparmor_enabled(void)
{
    char *text = NULL;
    size_t len = 0;
    bool on = vcha_file_read("/sys/module/apparmor/parameters/enabled", &text,
                             &len, 64) == 0 &&
              text[0] == 'Y';

    free(text);
    return on;
}

/*
 * What CRIU cannot checkpoint in our kernels (see MACHINE-NOTES and
 * README.md, "containers made with lxc-create"): ttys and a devpts of the
 * container's own, a console on a host pty.  These change the devices the
 * container sees, not what runs in it.
 */
static const char *const criu_settings[][2] = {
    {"lxc.tty.max", "0"},
    {"lxc.pty.max", "0"},
    {"lxc.console.path", "none"},
};

/*
 * On a kernel without AppArmor the profile confines nothing, yet LXC asks
 * CRIU's restore to apply it (--lsm-profile), which fails.  Where AppArmor
 * is enforced they stay: dropping them would unconfine the container.
 */
static const char *const apparmor_settings[] = {
    "lxc.apparmor.profile", "lxc.apparmor.allow_nesting",
    "lxc.apparmor.allow_incomplete", "lxc.apparmor.raw"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int
criu_apply(struct lxc_container *c, char *out)
{
    for (size_t i = 0; i < N_OF(criu_settings); i++) {
        if (!c->set_config_item(c, criu_settings[i][0], criu_settings[i][1])) {
            snprintf(out, VCHA_CTLXC_OUT, "liblxc would not set %s = %s",
                     criu_settings[i][0], criu_settings[i][1]);
            return -EINVAL;
        }
    }
    for (size_t i = 0;
         !vcha_ctlxc_apparmor_enabled() && i < N_OF(apparmor_settings); i++) {
        if (!c->clear_config_item(c, apparmor_settings[i])) {
            snprintf(out, VCHA_CTLXC_OUT, "liblxc would not clear %s",
                     apparmor_settings[i]);
            return -EINVAL;
        }
    }
    return 0;
}

/* The message of log line @p line: "lxc NAME DATE LEVEL WHAT - AT - TEXT" */
static const char *
log_message(const char *line)
{
    const char *m = strstr(line, " - ");

    if (m != NULL && strstr(m + 3, " - ") != NULL) {
        return strstr(m + 3, " - ") + 3;
    }
    return line;
}

/*
 * What liblxc logged into memory file @p fd: the first line (the cause,
 * mostly) and, when there are more, the last (what failed in the end).
 */
static void
log_reason(int fd, char *out)
{
    char buf[VCHA_CTLXC_OUT];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    char *last;

    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    last = strrchr(buf, '\n');
    if (last != NULL) {
        *last++ = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(out, VCHA_CTLXC_OUT, "%s (... %s)", log_message(buf),
                 log_message(last));
    } else {
        snprintf(out, VCHA_CTLXC_OUT, "%s", log_message(buf));
    }
}

static void
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t) n;
    }
}

/*
 * liblxc's errors go to its log, not to stderr: into memory file @p fd
 * too, unless the configuration names a log file of its own.
 */
static void
log_to(struct lxc_container *c, int fd)
{
    char path[64], have[8] = "";

    if (c->get_config_item(c, "lxc.log.file", have, sizeof(have)) > 0) {
        return;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    c->set_config_item(c, "lxc.log.file", path);
}

/*
 * Close every descriptor from 3 on but @p keep.  What liblxc forks and
 * does not exec, a restored container's monitor say, lives on with the
 * descriptors it inherits: a lock its caller holds (the member's
 * activation lock) would be held for as long as the container runs.
 */
static void
close_others(int keep)
{
    if (keep > 3 && syscall(SYS_close_range, 3U, (unsigned) keep - 1, 0U) < 0) {
        for (int fd = 3; fd < keep; fd++) {
            close(fd);
        }
    }
    if (syscall(SYS_close_range, (unsigned) keep + 1, ~0U, 0U) < 0) {
        long max = sysconf(_SC_OPEN_MAX);

        for (long fd = keep + 1; fd < (max > 0 ? max : 1024); fd++) {
            close((int) fd);
        }
    }
}

/* In the child: the std streams, then the call; never returns. */
static void
child_run(const char *name, const char *lxcpath, enum vcha_ctlxc_mode mode,
          vcha_ctlxc_fn fn, void *arg, pid_t parent, int to)
{
    static struct result r;
    struct lxc_container *c = NULL;
    int null, err;

    close_others(to);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    err = memfd_create("liblxc-stderr", MFD_CLOEXEC);
    setpgid(0, 0);
    /* a caller killed (an agent past its timeout) leaves no call behind */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) {
        _exit(1);
    }
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
    }
    if (err >= 0) {
        dup2(err, STDERR_FILENO);
    }
    c = lxc_container_new(name, lxcpath);
    if (c != NULL && err >= 0) {
        log_to(c, err);
    }
    if (c == NULL) {
        r.rc = -EINVAL; /* it would not parse */
    } else if (!c->is_defined(c)) {
        r.rc = -ENOENT;
    } else if (mode == VCHA_CTLXC_CRIU) {
        r.rc = criu_apply(c, r.out);
    }
    if (r.rc == 0) {
        r.rc = fn(c, arg, r.out, sizeof(r.out));
    }
    if (r.rc < 0 && r.out[0] == '\0' && err >= 0) {
        log_reason(err, r.out);
    }
    lxc_container_put(c);
    write_all(to, &r, sizeof(r));
    _exit(0);
}

/* Kill the child's group and reap the child, waiting 2 s at most. */
static void
child_end(pid_t pid, bool kill_it)
{
    long long until = vcha_now_ms() + 2000;

    if (kill_it) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    while (waitpid(pid, NULL, kill_it ? WNOHANG : 0) == 0 &&
           vcha_now_ms() < until) {
        usleep(5000);
    }
}

/* Read the child's record from @p fd until @p deadline. */
static int
result_read(int fd, long long deadline, bool cancellable, struct result *r)
{
    size_t got = 0;

    while (got < sizeof(*r)) {
        long long left = deadline - vcha_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (cancellable && vcha_exec_cancelled()) {
            return -ECANCELED;
        }
        if (left <= 0) {
            return -ETIME;
        }
        if (poll(&p, 1, left < 50 ? (int) left : 50) <= 0) {
            continue;
        }
        n = read(fd, (char *) r + got, sizeof(*r) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -EPIPE; /* the child died */
        }
        got += (size_t) n;
    }
    return 0;
}

int
vcha_ctlxc_call(const char *name, const char *lxcpath,
                enum vcha_ctlxc_mode mode, bool cancellable, vcha_ctlxc_fn fn,
                void *arg, long long deadline, char *out)
{
    struct result *r = calloc(1, sizeof(*r));
    int p[2], rc;
    pid_t pid, parent;

    out[0] = '\0';
    if (r == NULL) {
        return -ENOMEM;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = -errno;
        goto done;
    }
    parent = getpid();
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        child_run(name, lxcpath, mode, fn, arg, parent, p[1]);
    }
    if (pid > 0) {
        setpgid(pid, pid); /* either may run first */
    }
    close(p[1]);
    rc = pid < 0 ? -errno : result_read(p[0], deadline, cancellable, r);
    close(p[0]);
    if (pid > 0) {
        child_end(pid, rc < 0);
    }
    if (rc == -EPIPE) {
        snprintf(out, VCHA_CTLXC_OUT, "liblxc's process for %s died", name);
    } else if (rc < 0) {
        snprintf(out, VCHA_CTLXC_OUT, "liblxc did not answer for %s %s", name,
                 rc == -ETIME ? "in time" : "before the stop");
    } else {
        rc = r->rc;
        memcpy(out, r->out, VCHA_CTLXC_OUT);
        out[VCHA_CTLXC_OUT - 1] = '\0';
    }
done:
    free(r);
    return rc;
}
