/* log: one printf-checked sink; stderr in the foreground, syslog after
 * daemonizing. Callers redact secrets before logging. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "util/log.h"

static struct {
	enum log_level level;
	int use_syslog;
	char ident[32];
	pthread_mutex_t lock;
} logger = {LL_INFO, 0, "dspacefs", PTHREAD_MUTEX_INITIALIZER};

static const char *const level_names[] = {"error", "warning", "info", "debug",
					  "trace"};

/* Chooses the sink and the most verbose level that is printed. */
void log_init(const char *ident, int use_syslog, enum log_level level)
{
	pthread_mutex_lock(&logger.lock);
	if (ident)
		snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
	if (logger.use_syslog && !use_syslog)
		closelog();
	if (use_syslog && !logger.use_syslog)
		openlog(logger.ident, LOG_PID, LOG_DAEMON);
	logger.use_syslog = use_syslog;
	logger.level = level;
	pthread_mutex_unlock(&logger.lock);
}

/* The current verbosity, so callers can skip expensive formatting. */
enum log_level log_get_level(void)
{
	return logger.level;
}

/* Maps our levels onto syslog priorities. */
static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LL_ERROR:
		return LOG_ERR;
	case LL_WARN:
		return LOG_WARNING;
	case LL_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

/* Writes one message if its level is enabled. */
void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (level > logger.level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One record per line: a message never spans records. */
	line[strcspn(line, "\n")] = '\0';

	if (logger.use_syslog) {
		syslog(syslog_priority(level), "%s", line);
		return;
	}
	pthread_mutex_lock(&logger.lock);
	fprintf(stderr, "%s: %s: %s\n", logger.ident,
		level_names[level < 0 || level > LL_TRACE ? LL_ERROR : level],
		line);
	pthread_mutex_unlock(&logger.lock);
}
