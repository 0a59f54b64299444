/* libFuzzer target: the clips API's timestamps (api/clip_time.h), which
 * POST /v1/clips reads from the request body (start_time / end_time).
 * The input is the string (cut at its first NUL).
 *
 * Asserts: whatever parses is 19+ bytes of the date form and printable;
 * printing it and parsing that again gives the same millisecond (round
 * trip) wherever the printed year is one the parser takes (1970..9999);
 * a result only moves by the zone offset (at most a day) from the epoch
 * range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/clip_time.h"
#include "core/err.h"

#define YEAR_10000_MS 253402300800000LL
#define DAY_MS 86400000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t ms = 0;
  int rc = clip_time_parse(s, &ms);
  if (rc == 0) {
    if (strlen(s) < 19) abort();
    if (ms < -DAY_MS || ms >= YEAR_10000_MS + DAY_MS) abort();
    char out[40], out2[40];
    clip_time_format(ms, out, sizeof(out));
    if (strlen(out) >= sizeof(out) - 1) abort();
    if (ms >= 0 && ms < YEAR_10000_MS) {
      int64_t again = -1;
      if (clip_time_parse(out, &again) != 0 || again != ms) abort();
      clip_time_format(again, out2, sizeof(out2));
      if (strcmp(out, out2) != 0) abort();
    }
  } else if (rc != ERR_INVALID) {
    abort();
  }
  free(s);
  return 0;
}
