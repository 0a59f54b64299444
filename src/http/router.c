/* router.c — (method, pattern) → handler.
 *
 * Matching rules, beyond router.h:
 * - Paths are matched segment by segment on the raw (still encoded) path.
 *   A path with an empty segment ("//", a trailing '/' other than "/" itself)
 *   or a "." / ".." segment matches nothing (404).
 * - A {param} value is percent-decoded; it must be non-empty, shorter than
 *   ROUTER_PARAM_MAX, and not contain '/' or NUL nor be "." or "..".
 * - When several routes match, a literal segment beats a parameter at the
 *   first position where they differ; ties go to the route added first.
 * - HEAD is answered by GET routes. OPTIONS on a path that has routes (and
 *   no OPTIONS or "*" route for it) is a CORS preflight: 204 with Allow and
 *   Access-Control-* headers. Every other answer carries
 *   "Access-Control-Allow-Origin: *" so that the preflight is useful, and
 *   Access-Control-Expose-Headers so that page scripts can read them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "http/http_internal.h"
#include "http/router.h"

#define ROUTER_MAX_SEGS 32
#define METHOD_MAX 16

typedef struct {
  char *text;    /* literal text, or the parameter name */
  size_t len;
  int is_param;
} seg_t;

typedef struct {
  char method[METHOD_MAX];
  char *pattern;
  seg_t *segs;
  int nsegs;
  int nparams;
  uint32_t rank; /* bit (31 - i) set when segment i is literal */
  router_fn fn;
  void *ud;
} route_t;

struct router {
  route_t *routes;
  size_t n, cap;
  router_observer_fn observer; /* observer (metrics) */
  void *observer_ud;
};

/* Request headers a page may send: the API's, plus what players send for
 * playback (hls.js/Shaka ask for byte ranges and revalidate with ETags). */
static const char cors_allow_headers[] = "Authorization, Content-Type, Range, If-None-Match";

router_t *router_new(void) { return calloc(1, sizeof(router_t)); }

static void route_clear(route_t *rt) {
  for (int i = 0; i < rt->nsegs; i++) free(rt->segs[i].text);
  free(rt->segs);
  free(rt->pattern);
}

void router_free(router_t *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) route_clear(&r->routes[i]);
  free(r->routes);
  free(r);
}

static int method_ok(const char *m) {
  size_t n = strlen(m);
  if (n == 0 || n >= METHOD_MAX) return 0;
  if (strcmp(m, "*") == 0) return 1;
  for (size_t i = 0; i < n; i++)
    if (m[i] < 'A' || m[i] > 'Z') return 0;
  return 1;
}

static int literal_char_ok(unsigned char c) {
  return c > ' ' && c < 127 && c != '{' && c != '}' && c != '?' && c != '#' && c != '%';
}

int router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud) {
  if (!r || !method || !pattern || !fn || !method_ok(method) || pattern[0] != '/')
    return ERR_INVALID;
  route_t rt;
  memset(&rt, 0, sizeof(rt));
  snprintf(rt.method, sizeof(rt.method), "%s", method);
  rt.fn = fn;
  rt.ud = ud;
  rt.pattern = strdup(pattern);
  if (!rt.pattern) return ERR_NOMEM;
  const char *p = pattern + 1;
  int rc = ERR_INVALID;
  if (*p) { /* "/" has no segments */
    for (;;) {
      const char *end = strchr(p, '/');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      if (len == 0 || rt.nsegs == ROUTER_MAX_SEGS) goto fail;
      seg_t s = {0};
      if (p[0] == '{') {
        if (len < 3 || p[len - 1] != '}' || rt.nparams == ROUTER_MAX_PARAMS) goto fail;
        for (size_t i = 1; i + 1 < len; i++) {
          char ch = p[i];
          if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || ch == '_'))
            goto fail;
        }
        s.is_param = 1;
        s.text = strndup(p + 1, len - 2);
        s.len = len - 2;
        rt.nparams++;
      } else {
        for (size_t i = 0; i < len; i++)
          if (!literal_char_ok((unsigned char)p[i])) goto fail;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) goto fail;
        s.text = strndup(p, len);
        s.len = len;
        rt.rank |= (uint32_t)1 << (31 - rt.nsegs);
      }
      if (!s.text) {
        rc = ERR_NOMEM;
        goto fail;
      }
      seg_t *ns = realloc(rt.segs, (size_t)(rt.nsegs + 1) * sizeof(*ns));
      if (!ns) {
        free(s.text);
        rc = ERR_NOMEM;
        goto fail;
      }
      rt.segs = ns;
      rt.segs[rt.nsegs++] = s;
      if (!end) break;
      p = end + 1;
    }
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    route_t *nr = realloc(r->routes, cap * sizeof(*nr));
    if (!nr) {
      rc = ERR_NOMEM;
      goto fail;
    }
    r->routes = nr;
    r->cap = cap;
  }
  r->routes[r->n++] = rt;
  return 0;
fail:
  route_clear(&rt);
  return rc;
}

const char *router_param(const router_params_t *p, const char *name) {
  if (!p || !name) return NULL;
  for (int i = 0; i < p->count; i++)
    if (p->names[i] && strcmp(p->names[i], name) == 0) return p->values[i];
  return NULL;
}

void router_foreach(const router_t *r, void (*fn)(void *arg, const char *method, const char *pattern),
                    void *arg) {
  for (size_t i = 0; r && i < r->n; i++) fn(arg, r->routes[i].method, r->routes[i].pattern);
}

typedef struct {
  const char *p;
  size_t len;
} pseg_t;

/* Splits a path into segments; -1 when it cannot match any route. */
static int split_path(const char *path, pseg_t *segs) {
  if (!path || path[0] != '/') return -1;
  if (path[1] == '\0') return 0;
  int n = 0;
  const char *p = path + 1;
  for (;;) {
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0) return -1; /* "//" or a trailing slash */
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return -1;
    if (n == ROUTER_MAX_SEGS) return -1;
    segs[n].p = p;
    segs[n].len = len;
    n++;
    if (!end) return n;
    p = end + 1;
  }
}

static int route_match_path(const route_t *rt, const pseg_t *segs, int nsegs,
                            router_params_t *out) {
  if (rt->nsegs != nsegs) return 0;
  out->count = 0;
  for (int i = 0; i < nsegs; i++) {
    const seg_t *s = &rt->segs[i];
    if (!s->is_param) {
      if (s->len != segs[i].len || memcmp(s->text, segs[i].p, s->len) != 0) return 0;
      continue;
    }
    char *v = out->values[out->count];
    long n = http__pct_decode(segs[i].p, segs[i].len, v, ROUTER_PARAM_MAX, 0);
    if (n <= 0 || memchr(v, '/', (size_t)n)) return 0;
    if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) return 0;
    out->names[out->count++] = s->text;
  }
  return 1;
}

static int method_matches(const char *route_m, const char *req_m) {
  if (strcmp(route_m, "*") == 0 || strcmp(route_m, req_m) == 0) return 1;
  return strcmp(req_m, "HEAD") == 0 && strcmp(route_m, "GET") == 0;
}

/* Appends m to the comma-separated list unless it is already there. */
static void allow_add(char *list, size_t cap, const char *m) {
  size_t ml = strlen(m);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == ml && memcmp(p, m, ml) == 0) return;
    if (!e) break;
    p = e + 2;
  }
  size_t len = strlen(list);
  if (len + ml + 3 > cap) return;
  snprintf(list + len, cap - len, "%s%s", len ? ", " : "", m);
}

/* Copies s for an error message: at most max bytes, printable ASCII only. */
static void sanitize(const char *s, char *out, size_t max) {
  size_t i = 0;
  for (; s && s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
  }
  out[i] = '\0';
  if (s && s[i]) snprintf(out + i, 4, "...");
}

static int dispatch(router_t *r, http_request_t *req, http_response_t *res,
                    const char **matched) {
  const char *method = req->method ? req->method : "";
  pseg_t segs[ROUTER_MAX_SEGS];
  int nsegs = split_path(req->path, segs);
  router_params_t tmp, best_params;
  const route_t *best = NULL;
  char allow[160] = "";
  int path_matched = 0;

  for (size_t i = 0; nsegs >= 0 && r && i < r->n; i++) {
    const route_t *rt = &r->routes[i];
    if (!route_match_path(rt, segs, nsegs, &tmp)) continue;
    path_matched = 1;
    if (strcmp(rt->method, "*") != 0) {
      allow_add(allow, sizeof(allow), rt->method);
      if (strcmp(rt->method, "GET") == 0) allow_add(allow, sizeof(allow), "HEAD");
    }
    if (!method_matches(rt->method, method)) continue;
    if (!best || rt->rank > best->rank) {
      best = rt;
      memcpy(&best_params, &tmp, sizeof(tmp));
    }
  }

  if (best) {
    *matched = best->pattern; /* observer (metrics) */
    http_response_cors(res);
    best->fn(best->ud, req, res, &best_params);
    return 1;
  }

  if (path_matched && strcmp(method, "OPTIONS") == 0) {
    allow_add(allow, sizeof(allow), "OPTIONS");
    http_response_status(res, 204);
    http_response_header(res, "Allow", allow);
    http_response_header(res, "Access-Control-Allow-Origin", "*");
    http_response_header(res, "Access-Control-Allow-Methods", allow);
    http_response_header(res, "Access-Control-Allow-Headers", cors_allow_headers);
    http_response_header(res, "Access-Control-Max-Age", "86400");
    return 0;
  }

  char m[24], p[208], msg[256];
  sanitize(method, m, 16);
  sanitize(req->path, p, 200);
  http_response_cors(res);
  if (path_matched) {
    allow_add(allow, sizeof(allow), "OPTIONS");
    snprintf(msg, sizeof(msg), "method %s not allowed for %s", m, p);
    http_response_header(res, "Allow", allow);
    http_response_error(res, 405, "method_not_allowed", msg, NULL);
  } else {
    snprintf(msg, sizeof(msg), "no route for %s %s", m, p);
    http_response_error(res, 404, "not_found", msg, NULL);
  }
  return 0;
}

/* ---- observer (metrics): times the dispatch and reports the result ---- */

void router_set_observer(router_t *r, router_observer_fn fn, void *ud) {
  r->observer = fn;
  r->observer_ud = ud;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int router_dispatch(router_t *r, http_request_t *req, http_response_t *res) {
  if (!r || !r->observer) {
    const char *ignored = NULL;
    return dispatch(r, req, res, &ignored);
  }
  const char *pattern = "";
  uint64_t t0 = mono_ns();
  int rc = dispatch(r, req, res, &pattern);
  router_event_t ev = {.method = req->method ? req->method : "",
                       .pattern = pattern,
                       .status = res->deferred && !res->finished ? 0 : res->status,
                       .seconds = (double)(mono_ns() - t0) / 1e9};
  if (ev.status != 0 && !(req->method && strcmp(req->method, "HEAD") == 0))
    http__response_body(res, &ev.bytes);
  r->observer(r->observer_ud, &ev);
  return rc;
}
