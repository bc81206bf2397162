/* log: one printf-checked sink; stderr in the foreground, syslog or a file
 * after daemonizing, or a file named by -o log_file. Callers redact secrets
 * before logging. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static struct {
	enum log_level level;
	int use_syslog;
	char ident[32];
	pthread_mutex_t lock;
	FILE *file; /* log_open_file: wins over stderr and syslog */
} logger = {LL_INFO, 0, "dspacefs", PTHREAD_MUTEX_INITIALIZER, NULL};

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

/* Parses a level name (error, warn or warning, info, debug, trace); -1 if
 * unknown. */
int log_parse_level(const char *name)
{
	static const char *const names[] = {"error", "warn", "info", "debug",
					    "trace"};
	int i;

	if (name && strcmp(name, "warning") == 0)
		return LL_WARN;
	for (i = 0; name && i <= LL_TRACE; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* Where a daemon logs: the file it was told, else syslog when /dev/log
 * exists, else the fallback file (see log.h). */
enum log_sink log_daemon_sink(const char *log_file, int have_devlog)
{
	if (log_file && *log_file)
		return LOG_SINK_FILE;
	return have_devlog ? LOG_SINK_SYSLOG : LOG_SINK_FALLBACK;
}

/* Appends every later message to path (created 0600). 0 or -errno. */
int log_open_file(const char *path)
{
	int fd = open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;

	if (!f) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return -e;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&logger.lock);
	if (logger.file)
		fclose(logger.file);
	logger.file = f;
	pthread_mutex_unlock(&logger.lock);
	return 0;
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

/* One line of the log file: local time, pid, level, message (lock held). */
static void log_file_line(enum log_level level, const char *line)
{
	char stamp[32] = "";
	struct tm tm;
	time_t now = time(NULL);

	if (localtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(logger.file, "%s %s[%d]: %s: %s\n", stamp, logger.ident,
		(int)getpid(), level_names[level], line);
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

	if (logger.use_syslog && !logger.file) {
		syslog(syslog_priority(level), "%s", line);
		return;
	}
	pthread_mutex_lock(&logger.lock);
	if (logger.file) {
		log_file_line(level, line);
		pthread_mutex_unlock(&logger.lock);
		return;
	}
	fprintf(stderr, "%s: %s: %s\n", logger.ident,
		level_names[level < 0 || level > LL_TRACE ? LL_ERROR : level],
		line);
	pthread_mutex_unlock(&logger.lock);
}
