#include "media/rtmp/amf0.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* ---------------------------------------------------------------- buffer */

void amf0_buf_init(amf0_buf_t *b) { memset(b, 0, sizeof(*b)); }

void amf0_buf_free(amf0_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

void amf0_buf_reset(amf0_buf_t *b) {
  b->len = 0;
  b->err = 0;
}

int amf0_buf_reserve(amf0_buf_t *b, size_t extra) {
  if (b->err) return b->err;
  if (extra > SIZE_MAX - b->len) return b->err = ERR_NOMEM;
  size_t need = b->len + extra;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return b->err = ERR_NOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int amf0_buf_append(amf0_buf_t *b, const void *data, size_t len) {
  int rc = amf0_buf_reserve(b, len);
  if (rc) return rc;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

static int buf_u8(amf0_buf_t *b, uint8_t v) { return amf0_buf_append(b, &v, 1); }

static int buf_be(amf0_buf_t *b, uint64_t v, int n) {
  uint8_t tmp[8];
  for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  return amf0_buf_append(b, tmp, (size_t)n);
}

/* -------------------------------------------------------------- decoding */

typedef struct {
  const uint8_t *p;
  size_t len;
  size_t pos;
  int values; /* values decoded so far in this call */
} dec_t;

static int dec_need(const dec_t *d, size_t n) {
  return d->len - d->pos >= n ? 0 : ERR_PROTOCOL;
}

static uint32_t rd_be(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static double rd_double(const uint8_t *p) {
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits = (bits << 8) | p[i];
  double v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

/* Length of a valid UTF-8 sequence at s (strict: no overlongs, surrogates
 * or code points past U+10FFFF, as jansson requires), or 0 if invalid. */
static size_t utf8_seq_len(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

/* Returns s itself when it is valid UTF-8, else a malloc'd copy with each
 * invalid byte replaced by '?' (*owned set). Property names also get NUL
 * replaced: jansson looks names up as C strings, so a name with a NUL could
 * never be found (or compared). NULL on allocation failure. */
static const char *utf8_clean(const uint8_t *s, size_t n, int is_name, char **owned) {
  *owned = NULL;
  size_t i = 0;
  while (i < n) {
    size_t l = (is_name && s[i] == 0) ? 0 : utf8_seq_len(s + i, n - i);
    if (!l) break;
    i += l;
  }
  if (i == n) return (const char *)s;
  char *c = malloc(n ? n : 1);
  if (!c) return NULL;
  memcpy(c, s, i);
  while (i < n) {
    size_t l = (is_name && s[i] == 0) ? 0 : utf8_seq_len(s + i, n - i);
    if (!l) {
      c[i++] = '?';
    } else {
      memcpy(c + i, s + i, l);
      i += l;
    }
  }
  *owned = c;
  return c;
}

static json_t *make_string(const uint8_t *s, size_t n) {
  char *owned;
  const char *c = utf8_clean(s, n, 0, &owned);
  if (!c) return NULL;
  json_t *v = json_stringn_nocheck(c, n);
  free(owned);
  return v;
}

/* Reads a string body of a 16- or 32-bit length prefix; returns a pointer
 * into the buffer. */
static int dec_str(dec_t *d, int wide, const uint8_t **s, size_t *n) {
  int w = wide ? 4 : 2;
  if (dec_need(d, (size_t)w)) return ERR_PROTOCOL;
  uint32_t l = rd_be(d->p + d->pos, w);
  d->pos += (size_t)w;
  if (l > AMF0_MAX_STRING || dec_need(d, l)) return ERR_PROTOCOL;
  *s = d->p + d->pos;
  *n = l;
  d->pos += l;
  return 0;
}

static int dec_value(dec_t *d, int depth, json_t **out);

/* Name/value pairs up to the empty name + object-end marker. */
static int dec_props(dec_t *d, int depth, json_t *obj) {
  for (;;) {
    const uint8_t *k;
    size_t kn;
    int rc = dec_str(d, 0, &k, &kn);
    if (rc) return rc;
    if (kn == 0) {
      if (dec_need(d, 1) || d->p[d->pos] != AMF0_OBJECT_END) return ERR_PROTOCOL;
      d->pos++;
      return 0;
    }
    json_t *v;
    rc = dec_value(d, depth + 1, &v);
    if (rc) return rc;
    char *owned;
    const char *key = utf8_clean(k, kn, 1, &owned);
    if (!key) {
      json_decref(v);
      return ERR_NOMEM;
    }
    rc = json_object_setn_new_nocheck(obj, key, kn, v);
    free(owned);
    if (rc) return ERR_NOMEM;
  }
}

static int dec_value(dec_t *d, int depth, json_t **out) {
  if (depth > AMF0_MAX_DEPTH) return ERR_PROTOCOL;
  if (++d->values > AMF0_MAX_VALUES) return ERR_PROTOCOL;
  if (dec_need(d, 1)) return ERR_PROTOCOL;
  uint8_t marker = d->p[d->pos++];
  json_t *v = NULL;
  int rc = 0;
  const uint8_t *s;
  size_t n;

  switch (marker) {
  case AMF0_NUMBER:
  case AMF0_DATE: {
    if (dec_need(d, marker == AMF0_DATE ? 10 : 8)) return ERR_PROTOCOL;
    double x = rd_double(d->p + d->pos);
    d->pos += marker == AMF0_DATE ? 10 : 8; /* date: + 16-bit time zone, ignored */
    if (!isfinite(x)) v = json_null();
    else if (x > -9007199254740992.0 && x < 9007199254740992.0 && x == (double)(int64_t)x)
      v = json_integer((json_int_t)x);
    else v = json_real(x);
    break;
  }
  case AMF0_BOOLEAN:
    if (dec_need(d, 1)) return ERR_PROTOCOL;
    v = json_boolean(d->p[d->pos++] != 0);
    break;
  case AMF0_STRING:
  case AMF0_LONG_STRING:
  case AMF0_XML_DOCUMENT:
    if ((rc = dec_str(d, marker != AMF0_STRING, &s, &n))) return rc;
    v = make_string(s, n);
    break;
  case AMF0_NULL:
  case AMF0_UNDEFINED:
  case AMF0_UNSUPPORTED:
    v = json_null();
    break;
  case AMF0_TYPED_OBJECT: /* class name, then properties like an object */
    if ((rc = dec_str(d, 0, &s, &n))) return rc;
    /* fallthrough */
  case AMF0_OBJECT:
  case AMF0_ECMA_ARRAY:
    /* The ECMA array count is only a hint (encoders get it wrong); the
     * end marker is what terminates it, as in FFmpeg and nginx-rtmp. */
    if (marker == AMF0_ECMA_ARRAY) {
      if (dec_need(d, 4)) return ERR_PROTOCOL;
      d->pos += 4;
    }
    if (!(v = json_object())) return ERR_NOMEM;
    if ((rc = dec_props(d, depth, v))) {
      json_decref(v);
      return rc;
    }
    break;
  case AMF0_STRICT_ARRAY: {
    if (dec_need(d, 4)) return ERR_PROTOCOL;
    uint32_t count = rd_be(d->p + d->pos, 4);
    d->pos += 4;
    /* Every element takes at least one byte and one value slot. */
    if (count > d->len - d->pos || count > AMF0_MAX_VALUES) return ERR_PROTOCOL;
    if (!(v = json_array())) return ERR_NOMEM;
    for (uint32_t i = 0; i < count; i++) {
      json_t *e;
      if ((rc = dec_value(d, depth + 1, &e)) || (rc = json_array_append_new(v, e) ? ERR_NOMEM : 0)) {
        json_decref(v);
        return rc;
      }
    }
    break;
  }
  default: /* object end out of place, reference, movieclip, recordset, AMF3 */
    return ERR_PROTOCOL;
  }
  if (!v) return ERR_NOMEM;
  *out = v;
  return 0;
}

int amf0_decode_value(const uint8_t *data, size_t len, size_t *pos, json_t **out) {
  if (!data && len) return ERR_INVALID;
  if (*pos > len) return ERR_PROTOCOL;
  dec_t d = {data, len, *pos, 0};
  int rc = dec_value(&d, 0, out);
  if (rc) return rc;
  *pos = d.pos;
  return 0;
}

int amf0_decode_all(const uint8_t *data, size_t len, json_t **out) {
  if (!data && len) return ERR_INVALID;
  json_t *arr = json_array();
  if (!arr) return ERR_NOMEM;
  dec_t d = {data, len, 0, 0};
  while (d.pos < d.len) {
    json_t *v;
    int rc = dec_value(&d, 0, &v);
    if (!rc && json_array_append_new(arr, v)) rc = ERR_NOMEM;
    if (rc) {
      json_decref(arr);
      return rc;
    }
  }
  *out = arr;
  return 0;
}

/* -------------------------------------------------------------- encoding */

int amf0_write_stringn(amf0_buf_t *b, const char *s, size_t len) {
  if (len > 0xFFFFFFFFu) return b->err ? b->err : (b->err = ERR_INVALID);
  if (len > 0xFFFF) {
    buf_u8(b, AMF0_LONG_STRING);
    buf_be(b, len, 4);
  } else {
    buf_u8(b, AMF0_STRING);
    buf_be(b, len, 2);
  }
  return amf0_buf_append(b, s, len);
}

int amf0_write_string(amf0_buf_t *b, const char *s) {
  return amf0_write_stringn(b, s ? s : "", s ? strlen(s) : 0);
}

int amf0_write_number(amf0_buf_t *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof(bits));
  buf_u8(b, AMF0_NUMBER);
  return buf_be(b, bits, 8);
}

int amf0_write_bool(amf0_buf_t *b, int v) {
  buf_u8(b, AMF0_BOOLEAN);
  return buf_u8(b, v ? 1 : 0);
}

int amf0_write_null(amf0_buf_t *b) { return buf_u8(b, AMF0_NULL); }

int amf0_write_object_start(amf0_buf_t *b) { return buf_u8(b, AMF0_OBJECT); }

static int write_name(amf0_buf_t *b, const char *name, size_t n) {
  if (n > 0xFFFF) return b->err ? b->err : (b->err = ERR_INVALID);
  buf_be(b, n, 2);
  return amf0_buf_append(b, name, n);
}

int amf0_write_property(amf0_buf_t *b, const char *name) {
  return write_name(b, name, strlen(name));
}

int amf0_write_object_end(amf0_buf_t *b) {
  static const uint8_t end[3] = {0, 0, AMF0_OBJECT_END};
  return amf0_buf_append(b, end, sizeof(end));
}

int amf0_write_prop_string(amf0_buf_t *b, const char *name, const char *v) {
  amf0_write_property(b, name);
  return amf0_write_string(b, v);
}

int amf0_write_prop_number(amf0_buf_t *b, const char *name, double v) {
  amf0_write_property(b, name);
  return amf0_write_number(b, v);
}

int amf0_write_prop_bool(amf0_buf_t *b, const char *name, int v) {
  amf0_write_property(b, name);
  return amf0_write_bool(b, v);
}

static int write_json(amf0_buf_t *b, const json_t *v, int depth) {
  if (depth > AMF0_MAX_DEPTH) return b->err ? b->err : (b->err = ERR_INVALID);
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    size_t kn;
    json_t *e;
    amf0_write_object_start(b);
    json_object_keylen_foreach((json_t *)v, k, kn, e) {
      write_name(b, k, kn);
      write_json(b, e, depth + 1);
    }
    return amf0_write_object_end(b);
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *e;
    buf_u8(b, AMF0_STRICT_ARRAY);
    buf_be(b, json_array_size(v), 4);
    json_array_foreach(v, i, e) write_json(b, e, depth + 1);
    return b->err;
  }
  case JSON_STRING:
    return amf0_write_stringn(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return amf0_write_number(b, (double)json_integer_value(v));
  case JSON_REAL:
    return amf0_write_number(b, json_real_value(v));
  case JSON_TRUE:
    return amf0_write_bool(b, 1);
  case JSON_FALSE:
    return amf0_write_bool(b, 0);
  case JSON_NULL:
  default:
    return amf0_write_null(b);
  }
}

int amf0_write_json(amf0_buf_t *b, const json_t *v) {
  if (!v) return b->err ? b->err : (b->err = ERR_INVALID);
  return write_json(b, v, 0);
}

/* ------------------------------------------------------ command builders */

int amf0_build_connect_result(amf0_buf_t *b, double txn, double object_encoding) {
  amf0_write_string(b, "_result");
  amf0_write_number(b, txn);
  amf0_write_object_start(b);
  /* The values Flash-era servers answer; some clients parse fmsVer. */
  amf0_write_prop_string(b, "fmsVer", "FMS/3,0,1,123");
  amf0_write_prop_number(b, "capabilities", 31);
  amf0_write_prop_number(b, "mode", 1);
  amf0_write_object_end(b);
  amf0_write_object_start(b);
  amf0_write_prop_string(b, "level", "status");
  amf0_write_prop_string(b, "code", "NetConnection.Connect.Success");
  amf0_write_prop_string(b, "description", "Connection succeeded.");
  amf0_write_prop_number(b, "objectEncoding", object_encoding);
  return amf0_write_object_end(b);
}

int amf0_build_result_number(amf0_buf_t *b, double txn, double value) {
  amf0_write_string(b, "_result");
  amf0_write_number(b, txn);
  amf0_write_null(b);
  return amf0_write_number(b, value);
}

int amf0_build_result_empty(amf0_buf_t *b, const char *name, double txn) {
  amf0_write_string(b, name);
  amf0_write_number(b, txn);
  amf0_write_null(b);
  return buf_u8(b, AMF0_UNDEFINED);
}

static int write_status_object(amf0_buf_t *b, const char *level, const char *code,
                               const char *description) {
  amf0_write_object_start(b);
  amf0_write_prop_string(b, "level", level);
  amf0_write_prop_string(b, "code", code);
  amf0_write_prop_string(b, "description", description);
  return amf0_write_object_end(b);
}

int amf0_build_error(amf0_buf_t *b, double txn, const char *code, const char *description) {
  amf0_write_string(b, "_error");
  amf0_write_number(b, txn);
  amf0_write_null(b);
  return write_status_object(b, "error", code, description);
}

int amf0_build_on_status(amf0_buf_t *b, const char *level, const char *code,
                         const char *description) {
  amf0_write_string(b, "onStatus");
  amf0_write_number(b, 0);
  amf0_write_null(b);
  return write_status_object(b, level, code, description);
}

int amf0_build_on_bw_done(amf0_buf_t *b) {
  amf0_write_string(b, "onBWDone");
  amf0_write_number(b, 0);
  return amf0_write_null(b);
}
