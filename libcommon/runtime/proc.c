/* vcha - child processes tied to their parent, reaped within a deadline. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
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
