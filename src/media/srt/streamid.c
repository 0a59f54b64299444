#include "media/srt/streamid.h"

#include <string.h>

#include "core/err.h"

static int key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

static int set_key(srt_streamid_t *out, const char *p, size_t n) {
  if (n == 0 || n > SRT_STREAM_KEY_MAX) return ERR_INVALID;
  for (size_t i = 0; i < n; i++)
    if (!key_char(p[i])) return ERR_INVALID;
  memcpy(out->key, p, n);
  out->key[n] = '\0';
  return 0;
}

static int eq(const char *p, size_t n, const char *lit) {
  return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* "#!::k=v,k=v": every pair is checked; the first error wins. */
static int parse_access(const char *p, size_t len, srt_streamid_t *out) {
  int have_r = 0, have_m = 0, have_t = 0, forbidden = 0;
  size_t i = 0;
  while (i <= len) {
    size_t end = i;
    while (end < len && p[end] != ',') end++;
    const char *item = p + i;
    size_t n = end - i;
    const char *eqp = memchr(item, '=', n);
    if (!eqp || eqp == item) return ERR_INVALID;
    size_t klen = (size_t)(eqp - item);
    const char *v = eqp + 1;
    size_t vlen = n - klen - 1;
    if (vlen == 0) return ERR_INVALID;
    if (eq(item, klen, "r")) {
      if (have_r++ || set_key(out, v, vlen)) return ERR_INVALID;
    } else if (eq(item, klen, "m")) {
      if (have_m++) return ERR_INVALID;
      if (!eq(v, vlen, "publish")) forbidden = 1;
    } else if (eq(item, klen, "t")) {
      if (have_t++) return ERR_INVALID;
      if (!eq(v, vlen, "stream")) forbidden = 1;
    }
    /* u (user), h (host), s (session) and keys of other applications are
     * allowed by the access-control convention and mean nothing here. */
    i = end + 1;
  }
  if (!have_r) return ERR_INVALID;
  return forbidden ? ERR_FORBIDDEN : 0;
}

int srt_streamid_parse(const char *s, size_t len, srt_streamid_t *out) {
  memset(out, 0, sizeof(*out));
  if (!s || len == 0 || len > SRT_STREAMID_MAX) return ERR_INVALID;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return ERR_INVALID;
  if (len >= 4 && memcmp(s, "#!::", 4) == 0) {
    out->access_form = 1;
    int rc = parse_access(s + 4, len - 4, out);
    if (rc) out->key[0] = '\0';
    return rc;
  }
  if (s[0] == '#') return ERR_INVALID; /* "#!:{...}" nested form and other '#' syntaxes */
  return set_key(out, s, len);
}
