/* log.h — structured, one-line, key=value logs on stderr.
 *
 *   log_info("stream_created id=%s project=%s", id, project);
 *
 * The message is printf-formatted; the prefix "ts=… level=… " is added.
 * Never pass a secret: use log_redact() for keys and tokens.
 */
#ifndef ONAIR_LOG_H
#define ONAIR_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_set_level(log_level_t level);
/* 1 when a line at this level would be written (to skip costly formatting). */
int log_enabled(log_level_t level);
/* Parses "debug" | "info" | "warn" | "error"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* Writes the first 4 characters of secret followed by "…" into out
 * (at least 12 bytes), so logs can correlate without revealing. */
const char *log_redact(const char *secret, char *out, size_t outlen);

#endif
