/* libFuzzer target: the request header values the media routes interpret
 * (http/headers.h): Range, If-None-Match, the Referer's host against
 * allowed_referer_domains patterns, and Accept-Encoding.
 *
 * Input: bytes 0-7 give the body length (little-endian; small lengths
 * are made common), the rest is split at '\n' into a Range value, an
 * If-None-Match value, a Referer, a domain pattern and an Accept-Encoding
 * value.
 *
 * Asserts: a satisfiable range lies inside the body and reads back the
 * same when printed as "bytes=from-to"; nothing is written when the whole
 * body is sent; 416 only when the first byte is past the end; an
 * If-None-Match matches exactly when it holds the tag or is "*"; a
 * Referer host is non-empty, fits, holds none of ":/?#" and is what
 * follows the first "://"; a host always matches itself as a pattern,
 * and a wildcard pattern never matches its own base domain; an
 * Accept-Encoding that names neither gzip nor "*" never takes gzip, and
 * one that refuses gzip explicitly at its end ("…, gzip;q=0") neither. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/headers.h"

#define SENTINEL ((size_t)0x5a5a5a5a5a5a5a5aull)

static void range(const char *r, size_t len) {
  size_t from = SENTINEL, to = SENTINEL;
  int rc = http_range_parse(r, len, &from, &to);
  if (rc == 1) {
    if (len == 0 || from > to || to >= len) abort();
    char again[64];
    snprintf(again, sizeof(again), "bytes=%zu-%zu", from, to);
    size_t f2, t2;
    if (http_range_parse(again, len, &f2, &t2) != 1 || f2 != from || t2 != to) abort();
  } else if (rc == 0 || rc == -2) {
    if (from != SENTINEL || to != SENTINEL) abort();
    if (rc == -2) {
      /* only "bytes=<digits>-…" with a first byte at or past the end */
      if (strncmp(r, "bytes=", 6) != 0 || r[6] < '0' || r[6] > '9') abort();
      if (strtoull(r + 6, NULL, 10) < len) abort();
    }
  } else {
    abort();
  }
}

static void referer(const char *ref, const char *pattern) {
  char host[256];
  memset(host, 'x', sizeof(host));
  size_t hostlen = 1 + (strlen(ref) % sizeof(host));
  int ok = http_referer_host(ref, host, hostlen);
  if (!memchr(host, '\0', hostlen)) abort();
  size_t n = strlen(host);
  if (ok) {
    const char *h = strstr(ref, "://");
    if (!h || n == 0 || n >= hostlen || strpbrk(host, ":/?#") || strncmp(h + 3, host, n) != 0)
      abort();
    if (!http_domain_matches(host, host)) abort();
    char wild[260];
    snprintf(wild, sizeof(wild), "*.%s", host);
    if (http_domain_matches(wild, host)) abort();
  } else if (n != 0) {
    abort();
  }
  (void)http_domain_matches(pattern, host);
  if (!strchr(pattern, ':') && strlen(pattern) < 200 && !http_domain_matches(pattern, pattern))
    if (strncmp(pattern, "*.", 2) != 0) abort();
}

static void accept_encoding(const char *ae) {
  int gz = http_accepts_gzip(ae);
  if (gz != 0 && gz != 1) abort();
  if (gz && !strcasestr(ae, "gzip") && !strchr(ae, '*')) abort();
  size_t n = strlen(ae);
  if (n > 4096) return;
  char refused[4200];
  snprintf(refused, sizeof(refused), "%s,gzip;q=0", ae);
  /* a later "gzip;q=0" cannot lower an earlier positive gzip (the highest
   * weight named wins), but with no other gzip it refuses */
  if (!strcasestr(ae, "gzip") && http_accepts_gzip(refused)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  uint64_t len = 0;
  for (int i = 7; i >= 0; i--) len = len << 8 | data[i];
  if (data[7] & 0x80) len &= 0xffff; /* mostly small bodies */
  data += 8;
  size -= 8;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char *parts[5] = {"", "", "", "", ""};
  char *cur = s;
  for (int i = 0; i < 5 && cur; i++) {
    parts[i] = cur;
    char *nl = strchr(cur, '\n');
    if (nl) *nl = '\0';
    cur = nl ? nl + 1 : NULL;
  }
  range(parts[0], (size_t)len);
  range(parts[0], 0);

  const char *etag = "\"0123456789abcdef\"";
  int m = http_etag_matches(parts[1], etag);
  if (m != (strstr(parts[1], etag) != NULL || strcmp(parts[1], "*") == 0)) abort();
  if (http_etag_matches(NULL, etag)) abort();

  referer(parts[2], parts[3]);
  accept_encoding(parts[4]);
  free(s);
  return 0;
}
