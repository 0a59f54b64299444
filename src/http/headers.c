/* headers.c — request header values the media routes read (headers.h).
 * Moved unchanged from api/vod_files.c and api/hls_routes.c. */
#include "http/headers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_range_parse(const char *range, size_t len, size_t *from, size_t *to) {
  if (!range || strncmp(range, "bytes=", 6) != 0 || strchr(range, ',') || len == 0) return 0;
  const char *r = range + 6;
  char *end;
  if (*r == '-') { /* suffix: the last N bytes */
    unsigned long long n = strtoull(r + 1, &end, 10);
    if (end == r + 1 || *end != '\0' || n == 0) return 0;
    *from = n >= len ? 0 : len - (size_t)n;
    *to = len - 1;
    return 1;
  }
  if (!isdigit((unsigned char)*r)) return 0;
  unsigned long long a = strtoull(r, &end, 10), b = len - 1;
  if (*end != '-') return 0;
  if (end[1] != '\0') {
    if (!isdigit((unsigned char)end[1])) return 0;
    b = strtoull(end + 1, &end, 10);
    if (*end != '\0' || b < a) return 0;
  }
  if (a >= len) return -2;
  *from = (size_t)a;
  *to = b >= len ? len - 1 : (size_t)b;
  return 1;
}

int http_etag_matches(const char *inm, const char *etag) {
  return inm && (strstr(inm, etag) || strcmp(inm, "*") == 0);
}

int http_referer_host(const char *ref, char *host, size_t hostlen) {
  if (hostlen) host[0] = '\0';
  if (!ref) return 0;
  const char *h = strstr(ref, "://");
  if (!h) return 0;
  h += 3;
  size_t n = strcspn(h, ":/?#");
  if (n == 0 || n >= hostlen) return 0;
  memcpy(host, h, n);
  host[n] = '\0';
  return 1;
}

int http_domain_matches(const char *pattern, const char *host) {
  char pat[256];
  snprintf(pat, sizeof(pat), "%.*s", (int)strcspn(pattern, ":"), pattern);
  if (strncmp(pat, "*.", 2) == 0) {
    size_t pl = strlen(pat + 1), hl = strlen(host); /* ".example.com" */
    return hl > pl && strcasecmp(host + hl - pl, pat + 1) == 0;
  }
  return strcasecmp(pat, host) == 0;
}

/* The q-value of one Accept-Encoding element's parameters (p: after the
 * coding, up to end): 1000 without one, else 0..1000 (thousandths);
 * anything unparsable is 0, so a malformed weight never enables a coding. */
static int accept_weight(const char *p, const char *end) {
  while (p < end) {
    while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
    const char *eq = p + 1; /* "q=", or the lenient "q = " */
    while (eq < end && (*eq == ' ' || *eq == '\t')) eq++;
    if (p < end && (*p == 'q' || *p == 'Q') && eq < end && *eq == '=') {
      for (p = eq + 1; p < end && (*p == ' ' || *p == '\t');) p++;
      if (p >= end || (*p != '0' && *p != '1')) return 0;
      int whole = *p++ - '0', frac = 0, digits = 0;
      if (p < end && *p == '.')
        for (p++; p < end && digits < 3 && isdigit((unsigned char)*p); p++, digits++)
          frac = frac * 10 + (*p - '0');
      while (digits++ < 3) frac *= 10;
      while (p < end && (*p == ' ' || *p == '\t')) p++;
      if (p != end && *p != ';') return 0;
      int q = whole * 1000 + frac;
      return q > 1000 ? 0 : q;
    }
    while (p < end && *p != ';') p++; /* another parameter: not ours */
  }
  return 1000;
}

int http_accepts_gzip(const char *ae) {
  int gzip = -1, star = -1; /* q-values of what is named; -1: not named */
  for (const char *p = ae; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *end = p + strcspn(p, ","), *tok_end = p + strcspn(p, ";, \t");
    if (tok_end > end) tok_end = end;
    size_t n = (size_t)(tok_end - p);
    int q = accept_weight(tok_end, end);
    if ((n == 4 && strncasecmp(p, "gzip", 4) == 0) || (n == 6 && strncasecmp(p, "x-gzip", 6) == 0))
      gzip = q > gzip ? q : gzip;
    else if (n == 1 && *p == '*')
      star = q > star ? q : star;
    p = end;
  }
  return gzip >= 0 ? gzip > 0 : star > 0;
}
