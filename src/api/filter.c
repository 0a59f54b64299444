/* filter.c — seed 003 list filters; the rules are in filter.h. */
#include "api/filter.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

typedef enum { FILTER_EQ, FILTER_NULL, FILTER_NOTNULL } filter_kind_t;

typedef struct {
  filter_kind_t kind;
  char *path;                        /* decoded key, dots replaced by NULs */
  const char *seg[FILTER_MAX_DEPTH]; /* into path */
  size_t nseg;
  char *value; /* decoded; NULL unless FILTER_EQ */
  size_t value_len;
  /* The value's readings, worked out once at parse time. */
  int has_int;     /* integer literal that fits in long long */
  long long ival;
  int has_num;     /* finite number literal */
  double num;
  int boolv;       /* 1 "true"/"1", 0 "false"/"0", -1 neither */
} filter_cond_t;

struct filter {
  size_t n;
  filter_cond_t c[FILTER_MAX_CONDITIONS];
};

/* --- parsing --- */

static int filter_hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes in[0..len) into out (room for len + 1), NUL-terminated.
 * %00 is refused: a NUL would silently cut keys and values short. */
static int filter_decode(const char *in, size_t len, char *out, size_t *outlen) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '+') {
      out[o++] = ' ';
    } else if (c == '%') {
      if (i + 2 >= len) return ERR_INVALID;
      int hi = filter_hex((unsigned char)in[i + 1]), lo = filter_hex((unsigned char)in[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return ERR_INVALID;
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  *outlen = o;
  return 0;
}

static void filter_set_err(char *err, size_t errlen, const char *s, size_t slen) {
  if (!err || errlen == 0) return;
  if (slen >= errlen) slen = errlen - 1;
  memcpy(err, s, slen);
  err[slen] = '\0';
}

static int filter_is_reserved(const char *key, const char *const *reserved) {
  for (; reserved && *reserved; reserved++)
    if (strcmp(key, *reserved) == 0) return 1;
  return 0;
}

/* Accepts only -?digits[.digits][(e|E)[+-]digits]: strtod alone would also
 * take " 1", "0x1f", "inf" and "nan", which nobody means in a filter. */
static int filter_is_number(const char *s, int *is_integer) {
  const char *p = s;
  *is_integer = 1;
  if (*p == '-') p++;
  if (*p < '0' || *p > '9') return 0;
  while (*p >= '0' && *p <= '9') p++;
  if (*p == '.') {
    *is_integer = 0;
    p++;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'e' || *p == 'E') {
    *is_integer = 0;
    p++;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
  }
  return *p == '\0';
}

static void filter_read_value(filter_cond_t *c) {
  const char *v = c->value;
  int is_integer;
  c->boolv = -1;
  if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) c->boolv = 1;
  if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) c->boolv = 0;
  if (!filter_is_number(v, &is_integer)) return;
  if (is_integer) {
    errno = 0;
    long long ll = strtoll(v, NULL, 10);
    if (errno == 0) {
      c->has_int = 1;
      c->ival = ll;
    }
  }
  double d = strtod(v, NULL);
  if (isfinite(d)) {
    c->has_num = 1;
    c->num = d;
  }
}

/* Splits c->path on dots in place. 0 or ERR_INVALID (empty segment, too deep). */
static int filter_split_path(filter_cond_t *c) {
  char *p = c->path;
  c->nseg = 0;
  for (;;) {
    char *dot = strchr(p, '.');
    if (dot) *dot = '\0';
    if (*p == '\0' || c->nseg == FILTER_MAX_DEPTH) return ERR_INVALID;
    c->seg[c->nseg++] = p;
    if (!dot) return 0;
    p = dot + 1;
  }
}

static void filter_cond_clear(filter_cond_t *c) {
  free(c->path);
  free(c->value);
  memset(c, 0, sizeof(*c));
}

/* Parses one parameter [s, s+len). Returns 0 (maybe skipped), or an error
 * with err_field set. */
static int filter_parse_param(filter_t *f, const char *s, size_t len, const char *const *reserved,
                              char *err, size_t errlen) {
  const char *eq = memchr(s, '=', len);
  size_t klen = eq ? (size_t)(eq - s) : len;
  const char *raw_val = eq ? eq + 1 : s + len;
  size_t vlen = eq ? len - klen - 1 : 0;

  char *key = malloc(klen + 1);
  if (!key) return ERR_NOMEM;
  size_t dklen;
  if (filter_decode(s, klen, key, &dklen)) {
    filter_set_err(err, errlen, s, klen);
    free(key);
    return ERR_INVALID;
  }
  /* The path is parsed destructively below, so report from this copy. */
  filter_set_err(err, errlen, key, dklen);
  if (dklen == 0) {
    free(key);
    return ERR_INVALID;
  }
  if (filter_is_reserved(key, reserved)) {
    free(key);
    return 0;
  }
  if (dklen > FILTER_MAX_KEY_LEN || f->n == FILTER_MAX_CONDITIONS) {
    free(key);
    return ERR_INVALID;
  }

  filter_cond_t *c = &f->c[f->n];
  c->path = key;
  if (filter_split_path(c)) {
    filter_cond_clear(c);
    return ERR_INVALID;
  }
  c->value = malloc(vlen + 1);
  if (!c->value) {
    filter_cond_clear(c);
    return ERR_NOMEM;
  }
  if (filter_decode(raw_val, vlen, c->value, &c->value_len) ||
      c->value_len > FILTER_MAX_VALUE_LEN) {
    filter_cond_clear(c);
    return ERR_INVALID;
  }
  if (strcmp(c->value, "null") == 0) {
    c->kind = FILTER_NULL;
  } else if (strcmp(c->value, "notnull") == 0) {
    c->kind = FILTER_NOTNULL;
  } else {
    c->kind = FILTER_EQ;
    filter_read_value(c);
  }
  f->n++;
  if (err && errlen) err[0] = '\0';
  return 0;
}

int filter_parse(const char *query, const char *const *reserved, filter_t **out, char *err_field,
                 size_t err_field_len) {
  if (err_field && err_field_len) err_field[0] = '\0';
  if (!out) return ERR_INVALID;
  *out = NULL;
  filter_t *f = calloc(1, sizeof(*f));
  if (!f) return ERR_NOMEM;
  const char *p = query ? query : "";
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > 0) {
      int rc = filter_parse_param(f, p, len, reserved, err_field, err_field_len);
      if (rc) {
        filter_free(f);
        return rc;
      }
    }
    p += len;
    if (*p == '&') p++;
  }
  if (err_field && err_field_len) err_field[0] = '\0';
  *out = f;
  return 0;
}

/* --- matching --- */

static int filter_scalar_eq(const json_t *v, const filter_cond_t *c) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    return json_string_length(v) == c->value_len &&
           memcmp(json_string_value(v), c->value, c->value_len) == 0;
  case JSON_TRUE:
    return c->boolv == 1;
  case JSON_FALSE:
    return c->boolv == 0;
  case JSON_INTEGER: {
    json_int_t i = json_integer_value(v);
    if (c->has_int) return (long long)i == c->ival;
    if (c->has_num) return (double)i == c->num;
    return c->boolv >= 0 && (long long)i == c->boolv;
  }
  case JSON_REAL: {
    double d = json_real_value(v);
    if (c->has_num) return d == c->num;
    return c->boolv >= 0 && d == (double)c->boolv;
  }
  default: /* null, object, array */
    return 0;
  }
}

static int filter_leaf_eq(const json_t *v, const filter_cond_t *c) {
  if (json_is_array(v)) {
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
      if (filter_scalar_eq(e, c)) return 1;
    }
    return 0;
  }
  return filter_scalar_eq(v, c);
}

/* Whether some value reached by the path from segment i on "hits": equals
 * the value for FILTER_EQ, is non-null for FILTER_NULL / FILTER_NOTNULL.
 * Recursion depth is bounded by 2 * FILTER_MAX_DEPTH. */
static int filter_hit(const json_t *node, const filter_cond_t *c, size_t i) {
  if (i == c->nseg) {
    if (c->kind == FILTER_EQ) return filter_leaf_eq(node, c);
    return !json_is_null(node);
  }
  if (json_is_object(node)) {
    const json_t *child = json_object_get(node, c->seg[i]);
    return child ? filter_hit(child, c, i + 1) : 0;
  }
  if (json_is_array(node)) {
    size_t k;
    const json_t *e;
    json_array_foreach(node, k, e) {
      if (json_is_object(e) && filter_hit(e, c, i)) return 1;
    }
  }
  return 0; /* a scalar has no properties: missing */
}

int filter_match(const filter_t *f, json_t *obj) {
  if (!f) return 1;
  for (size_t k = 0; k < f->n; k++) {
    const filter_cond_t *c = &f->c[k];
    int hit = obj ? filter_hit(obj, c, 0) : 0;
    if (c->kind == FILTER_NULL ? hit : !hit) return 0;
  }
  return 1;
}

/* --- known keys --- */

/* 1 if the key c names known's path, a step on the way to it, or (known
 * ending in ".*") anything below it. */
static int filter_key_on_path(const filter_cond_t *c, const char *known) {
  const char *k = known;
  for (size_t i = 0; i < c->nseg; i++) {
    if (strcmp(k, "*") == 0) return 1;
    size_t len = strcspn(k, ".");
    if (strlen(c->seg[i]) != len || memcmp(c->seg[i], k, len) != 0) return 0;
    if (k[len] == '\0') return i + 1 == c->nseg; /* known ends: the key must too */
    k += len + 1;
  }
  return 1; /* the key stops on the way */
}

/* The key of c with its dots back, truncated to outlen. */
static void filter_key_text(const filter_cond_t *c, char *out, size_t outlen) {
  if (!out || outlen == 0) return;
  out[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; i < c->nseg && used + 1 < outlen; i++)
    used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? "." : "", c->seg[i]);
}

int filter_find_unknown_key(const filter_t *f, const char *const *known, char *out,
                            size_t outlen) {
  for (size_t k = 0; f && k < f->n; k++) {
    const char *const *p = known;
    while (p && *p && !filter_key_on_path(&f->c[k], *p)) p++;
    if (!p || !*p) {
      filter_key_text(&f->c[k], out, outlen);
      return 1;
    }
  }
  return 0;
}

size_t filter_count(const filter_t *f) { return f ? f->n : 0; }

void filter_free(filter_t *f) {
  if (!f) return;
  for (size_t k = 0; k < f->n; k++) filter_cond_clear(&f->c[k]);
  free(f);
}
