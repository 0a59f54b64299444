/* names.c — see names.h. */
#include "media/hls/names.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The value of the digits in [p, p + n), 1 when all are digits. */
static int digits(const char *p, size_t n, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)p[i])) return 0;
    v = v * 10 + (uint64_t)(p[i] - '0');
  }
  *out = v;
  return 1;
}

int hls_name_numbered(const char *file, const char *prefix, const char *suffix, uint64_t *n) {
  size_t pl = strlen(prefix), sl = strlen(suffix), fl = strlen(file);
  if (fl <= pl + sl || fl - pl - sl > HLS_NAME_DIGITS_MAX || strncmp(file, prefix, pl) != 0 ||
      strcmp(file + fl - sl, suffix) != 0)
    return 0;
  return digits(file + pl, fl - pl - sl, n);
}

int hls_name_part(const char *file, uint64_t *seq, unsigned *idx) {
  const char *dot = strchr(file, '.');
  uint64_t s, i;
  if (!dot || dot == file || dot - file > HLS_NAME_DIGITS_MAX ||
      !digits(file, (size_t)(dot - file), &s) || !hls_name_numbered(dot + 1, "", ".m4s", &i) ||
      i > HLS_PART_INDEX_MAX)
    return 0;
  *seq = s;
  *idx = (unsigned)i;
  return 1;
}

int hls_directive_number(const char *v, uint64_t max, uint64_t *out) {
  if (!isdigit((unsigned char)v[0])) return 0; /* strtoull would take " -1" */
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || errno || n > max) return 0;
  *out = n;
  return 1;
}
