#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static log_level_t log_min_level = LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t level) { log_min_level = level; }

int log_enabled(log_level_t level) { return level >= log_min_level; }

int log_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  return -1;
}

void log_write(log_level_t level, const char *fmt, ...) {
  if (level < log_min_level) return;
  char line[2048];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof(line) - 2) len = sizeof(line) - 2;
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}

const char *log_redact(const char *secret, char *out, size_t outlen) {
  if (!secret || !*secret) {
    snprintf(out, outlen, "-");
  } else {
    snprintf(out, outlen, "%.4s…", secret);
  }
  return out;
}
