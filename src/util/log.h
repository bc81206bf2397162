/* log: the one sink for messages. Foreground → stderr, daemon → syslog.
 * Never logs secrets: callers must redact (see http.c's trace hook). */
#ifndef DSPACEFS_LOG_H
#define DSPACEFS_LOG_H

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG, LL_TRACE };

/* Safe to call more than once (e.g. switching to syslog after daemonizing). */
void log_init(const char *ident, int use_syslog, enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LL_TRACE, __VA_ARGS__)

#endif
