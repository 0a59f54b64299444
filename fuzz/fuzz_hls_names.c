/* libFuzzer target: the live HLS names and directive values that come from
 * requests (media/hls/names.h). Checks the contract, not only the absence
 * of crashes: whatever parses is made of what the grammar allows, and the
 * numbers read back as the digits that were given. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/hls/names.h"

/* The digits of s without leading zeros ("0" for zero). */
static const char *canon(const char *s, size_t n, char *out, size_t outlen) {
  while (n > 1 && *s == '0') s++, n--;
  snprintf(out, outlen, "%.*s", (int)n, s);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0'; /* names arrive NUL-terminated; an inner NUL ends them */
  size_t len = strlen(s);
  char a[32], b[32];
  uint64_t n, seq;
  unsigned idx;

  if (hls_name_numbered(s, "init-", ".mp4", &n)) {
    if (len < 10 || len > 9 + HLS_NAME_DIGITS_MAX) abort();
    snprintf(a, sizeof(a), "%" PRIu64, n);
    if (strcmp(a, canon(s + 5, len - 9, b, sizeof(b))) != 0) abort();
  }
  if (hls_name_numbered(s, "", ".ts", &n)) {
    snprintf(a, sizeof(a), "%" PRIu64, n);
    if (strcmp(a, canon(s, len - 3, b, sizeof(b))) != 0) abort();
  }
  if (hls_name_part(s, &seq, &idx)) {
    if (idx > HLS_PART_INDEX_MAX || len < 7 || strcmp(s + len - 4, ".m4s") != 0) abort();
    const char *dot = strchr(s, '.');
    snprintf(a, sizeof(a), "%" PRIu64, seq);
    if (strcmp(a, canon(s, (size_t)(dot - s), b, sizeof(b))) != 0) abort();
    snprintf(a, sizeof(a), "%u", idx);
    if (strcmp(a, canon(dot + 1, (size_t)(s + len - 4 - (dot + 1)), b, sizeof(b))) != 0) abort();
  }
  if (hls_directive_number(s, HLS_PART_INDEX_MAX, &n)) {
    if (n > HLS_PART_INDEX_MAX) abort();
    for (size_t i = 0; i < len; i++)
      if (s[i] < '0' || s[i] > '9') abort();
  }
  if (hls_directive_number(s, UINT64_MAX - 1, &n) && n == UINT64_MAX) abort();
  free(s);
  return 0;
}
