/*
 * vchad - the vcha node daemon.  Agents register jobs with it (periodic
 * checkpoints, file sync, ...) at start, drop them at stop and ask for
 * their health at monitor, over a unix socket; see vchad(8).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/log.h>
#include <vcha/vchad.h>

#include "vchad_jobs.h"
#include "vchad_server.h"

struct options {
    const char *sock;
    bool foreground;
    bool debug;
};

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: vchad [-f] [-d] [-s SOCKET]\n"
            "The vcha node daemon: runs the jobs that agents register.\n\n"
            "  -s SOCKET  listen on SOCKET (default: $VCHA_SOCKET, or %s)\n"
            "  -f         stay in the foreground\n"
            "  -d         log debug messages\n"
            "  -h         show this help\n",
            VCHA_VCHAD_SOCKET);
}

/* 0, 1 to exit 0 at once (help), or -EINVAL. */
static int
options_parse(int argc, char **argv, struct options *o)
{
    int c;

    o->sock = vcha_vchad_socket();
    while ((c = getopt(argc, argv, "s:fdh")) != -1) {
        switch (c) {
        case 's':
            o->sock = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'd':
            o->debug = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc || *o->sock != '/') {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

/* Logging as agents do; a daemon with nowhere else to log uses syslog. */
static void
log_setup(const struct options *o)
{
    const char *fac = getenv("HA_LOGFACILITY");
    const char *file = getenv("HA_LOGFILE");

    if (o->debug) {
        setenv("HA_debug", "1", 1);
    }
    if (!o->foreground && (fac == NULL || *fac == '\0') &&
        (file == NULL || *file == '\0')) {
        setenv("HA_LOGFACILITY", "daemon", 1);
    }
    vcha_log_init("vchad", NULL);
}

/*
 * Go to the background: stdio on /dev/null, a new session, no controlling
 * terminal ever (the second fork), umask 022, working directory /.  The
 * caller's process exits 0 once the daemon exists; the socket already
 * listens, so the caller can talk to it at once.
 */
static int
daemonize(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC), status = 0;
    pid_t pid;

    if (fd < 0) {
        return -errno;
    }
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
        dup2(fd, STDERR_FILENO) < 0) {
        close(fd);
        return -errno;
    }
    close(fd);
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid > 0) {
        waitpid(pid, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
    setsid();
    pid = fork();
    if (pid < 0) {
        _exit(1);
    }
    if (pid > 0) {
        _exit(0);
    }
    umask(022);
    return chdir("/") < 0 ? -errno : 0;
}

/*
 * Resident jobs are recorded in SOCKET.jobs; take on those an earlier
 * daemon left running.  Without that directory, resident jobs are refused.
 */
static void
residents_adopt(const struct options *o, struct vchad_jobs *jobs)
{
    char *dir = NULL;
    int rc = asprintf(&dir, "%s.jobs", o->sock) < 0 ? -ENOMEM : 0;

    rc = rc ? rc : vchad_jobs_set_run_dir(jobs, dir);
    rc = rc ? rc : vchad_jobs_adopt(jobs);
    if (rc < 0) {
        vcha_err("cannot take on resident jobs in %s: %s", dir ? dir : "",
                 strerror(-rc));
    } else if (rc > 0) {
        vcha_notice("took on %d resident jobs from %s", rc, dir);
    }
    free(dir);
}

/* Set up, go to the background and serve.  Returns the exit code. */
static int
vchad_start(const struct options *o, struct vchad_jobs *jobs)
{
    struct vchad_server *srv = NULL;
    int rc = vchad_server_new(o->sock, jobs, &srv);

    if (rc == -EALREADY) {
        vcha_debug("another vchad holds %s.lock; leaving it be", o->sock);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "vchad: cannot listen on %s: %s\n", o->sock,
                strerror(-rc));
        vcha_err("cannot listen on %s: %s", o->sock, strerror(-rc));
        return 1;
    }
    if (!o->foreground) {
        rc = daemonize();
        vcha_log_fini(); /* libqb logs the pid it was set up in */
        vcha_log_init("vchad", NULL);
    }
    if (rc < 0) {
        vcha_err("cannot go to the background: %s", strerror(-rc));
        vchad_server_free(srv);
        return 1;
    }
    /* what a killed worker's program leaves behind comes back to be reaped */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    vchad_server_record_pid(srv);
    vcha_notice("vchad %s started (pid %d)", PACKAGE_VERSION, (int) getpid());
    residents_adopt(o, jobs);
    rc = vchad_server_run(srv);
    vchad_server_free(srv); /* removes the socket */
    vcha_notice("vchad stopped");
    return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct vchad_jobs *jobs = NULL;
    int rc = options_parse(argc, argv, &o);

    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    log_setup(&o);
    jobs = vchad_jobs_new(vchad_job_types);
    if (jobs == NULL) {
        fprintf(stderr, "vchad: out of memory\n");
        return 1;
    }
    rc = vchad_start(&o, jobs);
    vchad_jobs_free(jobs); /* reaps the killed workers */
    vcha_log_fini();
    return rc;
}
