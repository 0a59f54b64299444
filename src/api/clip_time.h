/* clip_time.h — the absolute times of the clips API: parsed from request
 * bodies (start_time / end_time, client input) and written in responses. */
#ifndef ONAIR_API_CLIP_TIME_H
#define ONAIR_API_CLIP_TIME_H

#include <stddef.h>
#include <stdint.h>

/* RFC 3339 ("…T…", fraction optional (first 3 digits kept), Z or ±HH:MM)
 * or "YYYY-MM-DD HH:MM:SS" (UTC); years 1970..9999, days the month has, a
 * leap second read as :59. s is NUL-terminated. 0 and *ms (milliseconds
 * since the epoch; a zone offset may make it negative), or ERR_INVALID. */
int clip_time_parse(const char *s, int64_t *ms);

/* "2026-11-26T07:10:43.250Z" (UTC, milliseconds) into out (>= 32 bytes);
 * returns out. */
const char *clip_time_format(int64_t ms, char *out, size_t outlen);

#endif
