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
