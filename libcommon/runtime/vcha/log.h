/*
 * vcha - logging through libqb, configured the way Pacemaker configures the
 * environment of its resource agents.
 */
#ifndef VCHA_LOG_H
#define VCHA_LOG_H

#include <qb/qblog.h>
#include <syslog.h>

/**
 * Set up logging for program @p name (e.g. "dnsswitch") acting on resource
 * @p instance (may be NULL).  Honours HA_LOGFACILITY (syslog facility, or
 * "none"), HA_LOGFILE (append to a file), HA_debug (1: debug messages) and
 * HA_LOGTAG.  With neither a facility nor a file, or on a terminal, messages
 * go to stderr.
 */
void vcha_log_init(const char *name, const char *instance);

/**
 * Send only messages of @p priority or more urgent to stderr (when stderr
 * is a log target at all).  Fence agents use it: Pacemaker's fencer logs
 * everything an agent writes to stderr as a warning.
 */
void vcha_log_stderr_priority(int priority);

/**
 * In a child after fork(): its log lines carry its own pid, not its
 * parent's.
 */
void vcha_log_forked(void);

/** Flush and close the log targets. */
void vcha_log_fini(void);

#define vcha_crit(fmt, ...) qb_log(LOG_CRIT, fmt, ##__VA_ARGS__)
#define vcha_err(fmt, ...) qb_log(LOG_ERR, fmt, ##__VA_ARGS__)
#define vcha_warn(fmt, ...) qb_log(LOG_WARNING, fmt, ##__VA_ARGS__)
#define vcha_notice(fmt, ...) qb_log(LOG_NOTICE, fmt, ##__VA_ARGS__)
#define vcha_info(fmt, ...) qb_log(LOG_INFO, fmt, ##__VA_ARGS__)
#define vcha_debug(fmt, ...) qb_log(LOG_DEBUG, fmt, ##__VA_ARGS__)

#endif
