/* vcha - the checkpoints of a COLO primary, read from QEMU's log. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <vcha/colotrace.h>

/* The microseconds of ".ffffff" at @p s: exactly six digits. */
static int
micros(const char *s, long long *usec)
{
    *usec = 0;
    for (int i = 1; i <= 6; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        *usec = *usec * 10 + (s[i] - '0');
    }
    return 0;
}

/* The line's timestamp, in real-time microseconds: an ISO 8601 UTC time
 * and a space (QEMU 11 leaves out ".ffffff" when it is all zeros: a
 * checkpoint at a whole second), or "PID@SECONDS.MICROSECONDS:" (older
 * QEMU). */
static int
timestamp(const char *line, long long *us)
{
    struct tm tm = {0};
    long long sec, usec = 0;
    int pid, end = 0;

    if (sscanf(line, "%d@%lld.%lld:%n", &pid, &sec, &usec, &end) == 3 &&
        end > 0 && usec >= 0 && usec < 1000000) {
        *us = sec * 1000000LL + usec;
        return 0;
    }
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &end) != 6 ||
        end == 0) {
        return -EINVAL;
    }
    const char *rest = line + end;

    if (*rest == '.') {
        if (micros(rest, &usec) != 0) {
            return -EINVAL;
        }
        rest += 7;
    }
    if (rest[0] != 'Z' || rest[1] != ' ') {
        return -EINVAL;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    sec = (long long) timegm(&tm);
    if (sec == -1) {
        return -EINVAL;
    }
    *us = sec * 1000000LL + usec;
    return 0;
}

int
vcha_colo_trace_feed(struct vcha_colo_tracer *t, const char *line,
                     long long *stop_us, long long *resume_us)
{
    const char *ev = strstr(line, VCHA_COLO_TRACE_EVENT " ");
    long long us;
    bool stop, run;

    if (ev == NULL || (ev != line && ev[-1] != ':' && ev[-1] != ' ')) {
        return 0;
    }
    stop = strstr(ev, "'run' => 'stop'") != NULL;
    run = strstr(ev, "'stop' => 'run'") != NULL;
    if (!stop && !run) {
        return 0;
    }
    if (timestamp(line, &us) != 0) {
        return -EINVAL;
    }
    if (stop) {
        t->stopped = true;
        t->stop_us = us;
        return 0;
    }
    if (!t->stopped || us < t->stop_us) {
        t->stopped = false;
        return 0;
    }
    t->stopped = false;
    *stop_us = t->stop_us;
    *resume_us = us;
    return 1;
}
