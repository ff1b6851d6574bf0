/* vcha - libqb logging set up from the HA_* environment. */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <vcha/log.h>

#define FILE_FORMAT "%T %H %N[%P]: %p: %b"

static int log_file_target = -1;

static bool
env_true(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' && strcmp(v, "0") != 0 &&
           strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0;
}

static void
target_enable(int32_t target, int priority, const char *format)
{
    qb_log_filter_ctl(target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
                      priority);
    qb_log_format_set(target, format);
    qb_log_ctl(target, QB_LOG_CONF_ENABLED, QB_TRUE);
}

static bool
syslog_enable(int priority)
{
    const char *fac = getenv("HA_LOGFACILITY");
    int32_t facility;

    if (fac == NULL || *fac == '\0' || strcmp(fac, "none") == 0) {
        return false;
    }
    facility = qb_log_facility2int(fac);
    if (facility < 0) {
        facility = LOG_DAEMON;
    }
    qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_FACILITY, facility);
    target_enable(QB_LOG_SYSLOG, priority, "%b");
    return true;
}

static bool
file_enable(int priority)
{
    const char *file = getenv("HA_LOGFILE");

    if (file == NULL || *file == '\0') {
        return false;
    }
    log_file_target = qb_log_file_open(file);
    if (log_file_target < 0) {
        return false;
    }
    target_enable(log_file_target, priority, FILE_FORMAT);
    return true;
}

void
vcha_log_init(const char *name, const char *instance)
{
    static char ident[256];
    int priority = env_true("HA_debug") ? LOG_DEBUG : LOG_INFO;
    const char *tag = getenv("HA_LOGTAG");
    bool syslog_on, file_on;

    if (tag != NULL && *tag != '\0') {
        snprintf(ident, sizeof(ident), "%s", tag);
    } else if (instance != NULL && *instance != '\0') {
        snprintf(ident, sizeof(ident), "%s(%s)", name, instance);
    } else {
        snprintf(ident, sizeof(ident), "%s", name);
    }
    qb_log_init(ident, LOG_DAEMON, priority);
    qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
    qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_FALSE);

    syslog_on = syslog_enable(priority);
    file_on = file_enable(priority);
    if (isatty(STDERR_FILENO) || (!syslog_on && !file_on)) {
        target_enable(QB_LOG_STDERR, priority, "%N: %p: %b");
    }
}

void
vcha_log_stderr_priority(int priority)
{
    qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_CLEAR_ALL,
                      QB_LOG_FILTER_FILE, "*", LOG_TRACE);
    qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
                      priority);
}

void
vcha_log_forked(void)
{
    /* libqb takes %P from the pid it saw when the format was set */
    if (log_file_target >= 0) {
        qb_log_format_set(log_file_target, FILE_FORMAT);
    }
}

void
vcha_log_fini(void)
{
    qb_log_fini();
    log_file_target = -1;
}
