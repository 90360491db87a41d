/* log.h: one-line diagnostics to stderr for operators.
 *
 * Messages go to the operator's terminal or journal, never to a client:
 * client-facing errors are rendered by api/ from fixed texts, so internal
 * paths and library errors stay on this side. */
#ifndef ECSHOT_UTIL_LOG_H
#define ECSHOT_UTIL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
