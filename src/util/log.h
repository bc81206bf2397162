/* log: the one sink for messages. Foreground → stderr, daemon → syslog or
 * a file (log_daemon_sink); -o log_file → that file.
 * Never logs secrets: callers must redact (see http.c's trace hook). */
#ifndef DSPACEFS_LOG_H
#define DSPACEFS_LOG_H

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG, LL_TRACE };

/* Safe to call more than once (e.g. switching to syslog after daemonizing). */
void log_init(const char *ident, int use_syslog, enum log_level level);
enum log_level log_get_level(void);
/* Parses error|warn|info|debug|trace; -1 if unknown. */
int log_parse_level(const char *name);
/* Sends every later message to the file path (appended, created 0600), in
 * the foreground too. 0 or -errno. */
int log_open_file(const char *path);

/* Where a daemon logs: -o log_file; else syslog (the journal) when /dev/log
 * exists; else a fallback file in the cache directory (never nowhere). */
enum log_sink { LOG_SINK_FILE, LOG_SINK_SYSLOG, LOG_SINK_FALLBACK };
enum log_sink log_daemon_sink(const char *log_file, int have_devlog);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LL_TRACE, __VA_ARGS__)

#endif
