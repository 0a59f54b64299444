/* request.c — query strings, percent-decoding and the byte buffer the
 * server reuses per connection. Pure functions: no sockets here. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http_internal.h"

int http__buf_reserve(http_buf_t *b, size_t extra) {
  if (extra > (size_t)-1 / 2 - b->len) return ERR_NOMEM;
  size_t need = b->len + extra;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return ERR_NOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int http__buf_append(http_buf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  int rc = http__buf_reserve(b, n);
  if (rc) return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void http__buf_free(http_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long http__pct_decode(const char *in, size_t n, char *out, size_t cap, int plus_space) {
  size_t o = 0;
  if (cap == 0) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '%') {
      if (n - i < 3) return -1; /* fewer than two characters follow */
      int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = (unsigned char)(hi << 4 | lo);
      /* An escaped NUL would silently truncate the C string later. */
      if (c == 0) return -1;
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    } else if (c == 0) {
      return -1;
    }
    if (o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (long)o;
}

int http_url_decode(char *s) {
  /* Decoding never grows the string, so in place is safe. */
  size_t n = strlen(s);
  long r = http__pct_decode(s, n, s, n + 1, 0);
  return r < 0 ? ERR_INVALID : 0;
}

int http_query_next(const char **cursor, char *key, size_t keylen, char *val, size_t vallen) {
  const char *p = *cursor;
  if (!p) return 0;
  /* Empty parameters ("a=1&&b=2", a trailing '&') are skipped. */
  while (*p == '&') p++;
  if (*p == '\0') {
    *cursor = p;
    return 0;
  }
  const char *end = strchr(p, '&');
  if (!end) end = p + strlen(p);
  const char *eq = memchr(p, '=', (size_t)(end - p));
  const char *kend = eq ? eq : end;
  *cursor = end; /* even on error, so a caller may go on */
  if (http__pct_decode(p, (size_t)(kend - p), key, keylen, 1) < 0) return ERR_INVALID;
  if (eq) {
    if (http__pct_decode(eq + 1, (size_t)(end - eq - 1), val, vallen, 1) < 0) return ERR_INVALID;
  } else {
    if (vallen == 0) return ERR_INVALID;
    val[0] = '\0';
  }
  return 1;
}
