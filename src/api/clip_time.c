/* clip_time.c — clip request timestamps (clip_time.h). Moved unchanged
 * from api/clips.c. */
#include "api/clip_time.h"

#include <ctype.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"

const char *clip_time_format(int64_t ms, char *out, size_t outlen) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char date[24];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, outlen, "%s.%03dZ", date, (int)(ms - (int64_t)t * 1000));
  return out;
}

int clip_time_parse(const char *s, int64_t *ms) {
  int y, mo, d, h, mi, sec, n = 0;
  char sep;
  /* Digits where the form has them: sscanf alone takes "-1" or " 1". */
  static const char form[] = "dddd-dd-dd?dd:dd:dd";
  for (int i = 0; i < 19; i++)
    if (!s[i] || (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : form[i] != '?' && s[i] != form[i]))
      return ERR_INVALID;
  if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &sec, &n) != 7 ||
      n != 19 || (sep != 'T' && sep != 't' && sep != ' ') || mo < 1 || mo > 12 || d < 1 ||
      d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
    return ERR_INVALID;
  const char *p = s + n;
  int64_t frac = 0;
  if (*p == '.') {
    int digits = 0;
    for (p++; isdigit((unsigned char)*p); p++, digits++)
      if (digits < 3) frac = frac * 10 + (*p - '0');
    if (!digits) return ERR_INVALID;
    for (; digits < 3; digits++) frac *= 10;
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, k = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
      return ERR_INVALID;
    offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    p += 6;
  } else if (sep != ' ') {
    return ERR_INVALID; /* RFC 3339 needs a zone; seed 003's form is UTC */
  }
  if (*p) return ERR_INVALID;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                  .tm_min = mi, .tm_sec = sec > 59 ? 59 : sec};
  time_t t = timegm(&tm);
  struct tm back;
  /* timegm() rolls 2026-02-31 over to March: refuse days a month lacks. */
  if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1)
    return ERR_INVALID;
  *ms = ((int64_t)t - offset_s) * 1000 + frac;
  return 0;
}
