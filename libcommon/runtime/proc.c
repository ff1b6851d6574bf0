/* vcha - child processes tied to their parent, reaped within a deadline;
 * a hypervisor's process found in /proc, and ended. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/proc.h>

/* How often a reap looks again for a child that has not ended. */
#define REAP_POLL_MS 5

int
vcha_proc_tie(pid_t parent, int sig)
{
    if (prctl(PR_SET_PDEATHSIG, sig) < 0) {
        return -errno;
    }
    return getppid() == parent ? 0 : -ESRCH;
}

int
vcha_proc_reap(pid_t pid, int *status, long long deadline)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
        if (vcha_now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        poll(NULL, 0, REAP_POLL_MS);
    }
}

/*
 * The name in QEMU's -name argument @p arg ("guest=NAME,debug-threads=on"
 * or "NAME,..."), its ",," unescaped, equals @p name.
 */
static bool
qemu_name_is(const char *arg, const char *name)
{
    if (strncmp(arg, "guest=", 6) == 0) {
        arg += 6;
    }
    for (; *arg != '\0' && !(arg[0] == ',' && arg[1] != ','); arg++, name++) {
        if (arg[0] == ',') {
            arg++; /* ",," is one comma */
        }
        if (*arg != *name) {
            return false;
        }
    }
    return *name == '\0';
}

/*
 * Whether the NUL-separated argv @p args runs domain @p name: a QEMU's
 * "-name guest=NAME,..." (by whatever name its program goes: a kvm
 * symlink, a wrapper), the older "-name NAME" of a program called qemu-*,
 * or libvirt_lxc's "--name NAME".
 */
static bool
argv_runs(const char *args, size_t len, const char *name)
{
    const char *end = args + len, *prog = strrchr(args, '/');
    bool qemu, lxc;

    prog = prog != NULL ? prog + 1 : args;
    qemu = strncmp(prog, "qemu", 4) == 0;
    lxc = strcmp(prog, "libvirt_lxc") == 0;
    for (const char *p = args; p < end; p += strlen(p) + 1) {
        const char *next = p + strlen(p) + 1;

        if (next >= end) {
            break;
        }
        if (strcmp(p, "-name") == 0 &&
            (strncmp(next, "guest=", 6) == 0 || qemu) &&
            qemu_name_is(next, name)) {
            return true;
        }
        if (lxc && (strcmp(p, "--name") == 0 || strcmp(p, "-n") == 0) &&
            strcmp(next, name) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Whether process @p pid, whose cmdline reads empty, may be a hypervisor
 * all the same: its main thread has exited while others live on (a QEMU
 * whose threads are stuck in the kernel on a hung disk), named qemu* or
 * libvirt_lxc.  Kernel threads (one thread, no cmdline) are not.
 */
static bool
hidden_hypervisor(const char *pid)
{
    char path[sizeof("/proc//status") + 256], *status = NULL;
    size_t len = 0;
    bool hidden = false;

    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    if (vcha_file_read(path, &status, &len, 1 << 16) == 0 && len > 0) {
        const char *threads = strstr(status, "\nThreads:");
        const char *nm = strncmp(status, "Name:", 5) == 0 ? status + 5 : "";

        nm += strspn(nm, " \t");
        hidden = threads != NULL && atoi(threads + 9) > 1 &&
                 (strncmp(nm, "qemu", 4) == 0 ||
                  strncmp(nm, "libvirt_lxc", 11) == 0);
    }
    free(status);
    return hidden;
}

int
vcha_proc_hypervisor(const char *name)
{
    DIR *proc = opendir("/proc");
    struct dirent *d;
    int found = 0;

    if (proc == NULL) {
        return -errno;
    }
    for (errno = 0; found == 0 && (d = readdir(proc)) != NULL; errno = 0) {
        char path[sizeof("/proc//cmdline") + sizeof(d->d_name)], *args = NULL;
        size_t len = 0;
        int rc;

        if (d->d_name[0] < '1' || d->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/cmdline", d->d_name);
        rc = vcha_file_read(path, &args, &len, 1 << 20);
        if (rc == 0 && len > 0) {
            args[len - 1] = '\0';
            found = argv_runs(args, len, name) ? atoi(d->d_name) : 0;
        } else if (rc == 0 && hidden_hypervisor(d->d_name)) {
            found = -EBUSY; /* whose it is cannot be told */
        } else if (rc < 0 && rc != -ENOENT && rc != -ESRCH) {
            found = rc; /* an argv too long to read: it may be one */
        }
        free(args);
    }
    if (found == 0 && errno != 0) {
        found = -errno;
    }
    closedir(proc);
    return found;
}

/* Wait until @p until for the process of pidfd @p fd to end: 0 or -ETIME
 * (-errno when it cannot be waited for). */
static int
pidfd_wait(int fd, long long until)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long long left;

    while ((left = until - vcha_now_ms()) > 0) {
        int n = poll(&p, 1, (int) (left < 1000 ? left : 1000));

        if (n > 0) {
            return 0; /* readable: the whole process has ended */
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
    return -ETIME;
}

/* Whether the task of /proc stat file @p path is gone or a zombie. */
static bool
task_ended(const char *path)
{
    char *stat = NULL;
    bool ended = true;

    if (vcha_file_read(path, &stat, NULL, 4096) == 0) {
        const char *p = strrchr(stat, ')');

        ended = p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
    }
    free(stat);
    return ended;
}

/* Whether process @p pid has ended: gone, or every thread of it a zombie
 * (a main thread that exited while others live on leaves a zombie
 * leader of a process that still runs). */
static bool
pid_ended(int pid)
{
    char path[96];
    DIR *tasks;
    struct dirent *d;
    bool ended = true;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!task_ended(path)) {
        return false;
    }
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    if ((tasks = opendir(path)) == NULL) {
        return true; /* gone */
    }
    while (ended && (d = readdir(tasks)) != NULL) {
        if (d->d_name[0] != '.') {
            snprintf(path, sizeof(path), "/proc/%d/task/%.20s/stat", pid,
                     d->d_name);
            ended = task_ended(path);
        }
    }
    closedir(tasks);
    return ended;
}

/* Whether process @p pid is @p name's hypervisor: its argv says so, or
 * it is a hypervisor whose argv reads empty (its main thread has exited
 * while others live on: a QEMU stuck ending). */
static bool
pid_is(const char *name, int pid)
{
    char path[64], *args = NULL;
    size_t len = 0;
    bool is = false;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if (vcha_file_read(path, &args, &len, 1 << 20) == 0) {
        if (len > 0) {
            args[len - 1] = '\0';
            is = argv_runs(args, len, name);
        } else {
            snprintf(path, sizeof(path), "%d", pid);
            is = hidden_hypervisor(path);
        }
    }
    free(args);
    return is;
}

bool
vcha_proc_runs(const char *name, int pid)
{
    return pid > 0 && !pid_ended(pid) && pid_is(name, pid);
}

int
vcha_proc_start(int pid, unsigned long long *start)
{
    char path[64], *stat = NULL;
    const char *p;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = vcha_file_read(path, &stat, NULL, 4096);
    /* the 22nd field, counted after the name's closing parenthesis */
    if (rc == 0 && ((p = strrchr(stat, ')')) == NULL ||
                    sscanf(p + 1,
                           " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
                           "%*u %*d %*d %*d %*d %*d %*d %llu",
                           start) != 1)) {
        rc = -EBADMSG;
    }
    free(stat);
    return rc;
}

long long
vcha_proc_age_ms(int pid)
{
    unsigned long long start;
    long hz = sysconf(_SC_CLK_TCK);
    char *text = NULL;
    double up = 0;
    long long age;
    int rc = vcha_proc_start(pid, &start);

    rc = rc == 0 ? vcha_file_read("/proc/uptime", &text, NULL, 256) : rc;
    if (rc == 0 && (sscanf(text, "%lf", &up) != 1 || hz <= 0)) {
        rc = -EBADMSG;
    }
    free(text);
    if (rc < 0) {
        return rc;
    }
    age = (long long) (up * 1000) - (long long) (start * 1000 / hz);
    return age > 0 ? age : 0;
}

/* Without pidfds (an old kernel, valgrind): signals by PID, checked to
 * be @p name's process just before each, and /proc polled. */
static int
end_by_pid(const char *name, int pid, long long term, long long deadline)
{
    bool termed = false, killed = false;

    for (;;) {
        if (!vcha_proc_runs(name, pid)) {
            return 0;
        }
        if (vcha_now_ms() >= deadline) {
            return -ETIME;
        }
        if (!termed) {
            kill(pid, SIGTERM);
            termed = true;
        } else if (!killed && vcha_now_ms() >= term) {
            kill(pid, SIGKILL);
            killed = true;
        }
        vcha_sleep_ms(20);
    }
}

int
vcha_proc_end_hypervisor(const char *name, int pid, long long term_ms,
                         long long deadline)
{
    int fd = (int) syscall(SYS_pidfd_open, pid, 0);
    long long term = vcha_now_ms() + term_ms;
    int rc;

    if (fd < 0 && errno == ENOSYS) {
        return end_by_pid(name, pid, term < deadline ? term : deadline,
                          deadline);
    }
    if (fd < 0) {
        return errno == ESRCH ? 0 : -errno;
    }
    /* the PID may have been reused since /proc was read: checked once the
     * pidfd holds it */
    if (!pid_is(name, pid)) {
        close(fd);
        return 0;
    }
    if (syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) < 0 ||
        pidfd_wait(fd, term < deadline ? term : deadline) < 0) {
        syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        rc = pidfd_wait(fd, deadline);
        close(fd);
        return rc;
    }
    close(fd);
    return 0;
}
