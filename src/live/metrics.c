/* metrics.c — the process-wide Prometheus registry (metrics.h). */
#include "live/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

/* ---------- text ---------- */

static int text_reserve(metrics_text_t *t, size_t extra) {
  if (t->failed) return -1;
  if (t->len + extra + 1 <= t->cap) return 0;
  size_t cap = t->cap ? t->cap : 4096;
  while (cap < t->len + extra + 1) cap *= 2;
  char *d = realloc(t->data, cap);
  if (!d) {
    t->failed = 1;
    return -1;
  }
  t->data = d;
  t->cap = cap;
  return 0;
}

void metrics_text_printf(metrics_text_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || text_reserve(t, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void metrics_text_label(metrics_text_t *t, const char *s) {
  for (; s && *s; s++) {
    if (text_reserve(t, 2)) return;
    if (*s == '\\' || *s == '"') t->data[t->len++] = '\\', t->data[t->len++] = *s;
    else if (*s == '\n') t->data[t->len++] = '\\', t->data[t->len++] = 'n';
    else t->data[t->len++] = *s;
    t->data[t->len] = '\0';
  }
}

void metrics_text_free(metrics_text_t *t) {
  free(t->data);
  memset(t, 0, sizeof(*t));
}

/* ---------- HTTP requests ---------- */

static const double http_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5};
#define N_BUCKETS (sizeof(http_buckets) / sizeof(http_buckets[0]))

typedef struct {
  int status;
  uint64_t count;
} status_count_t;

typedef struct {
  char method[8];
  char *route;
  status_count_t *statuses;
  size_t nstatuses;
  uint64_t buckets[N_BUCKETS]; /* non-cumulative; summed when rendered */
  uint64_t count;
  double sum;
} route_stat_t;

/* Viewers of one stream: an open-addressing set of viewer hashes with the
 * time of their last hit. */
typedef struct {
  uint64_t key; /* 0 = empty slot */
  uint64_t last_ms;
} viewer_t;

typedef struct stream_viewers {
  char stream_id[37];
  viewer_t *slots;
  size_t cap, n;     /* cap is a power of two; n <= cap / 2 */
  uint64_t overflow; /* distinct viewers beyond METRICS_VIEWERS_MAX (not tracked) */
  struct stream_viewers *next;
} stream_viewers_t;

typedef struct {
  metrics_collector_fn fn;
  void *ud;
} collector_t;

#define MAX_COLLECTORS 8

static struct {
  route_stat_t *routes;
  size_t nroutes;
  uint64_t bytes_sent;
  stream_viewers_t *viewers;
  collector_t collectors[MAX_COLLECTORS];
  int ncollectors;
} reg;

/* Methods outside this list (possible on "*" routes and on 404s) share one
 * label value, so a client cannot grow the registry. */
static const char *method_label(const char *m) {
  static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (size_t i = 0; m && i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(m, known[i]) == 0) return known[i];
  return "OTHER";
}

static route_stat_t *route_get(const char *method, const char *route) {
  for (size_t i = 0; i < reg.nroutes; i++)
    if (strcmp(reg.routes[i].method, method) == 0 && strcmp(reg.routes[i].route, route) == 0)
      return &reg.routes[i];
  route_stat_t *r = realloc(reg.routes, (reg.nroutes + 1) * sizeof(*r));
  if (!r) return NULL;
  reg.routes = r;
  r = &reg.routes[reg.nroutes];
  memset(r, 0, sizeof(*r));
  snprintf(r->method, sizeof(r->method), "%s", method);
  if (!(r->route = strdup(route))) return NULL;
  reg.nroutes++;
  return r;
}

void metrics_http_observe(const char *method, const char *route, int status, size_t bytes,
                          double seconds) {
  /* Unmatched paths are client-chosen: they share one series. */
  route_stat_t *r = route_get(method_label(method), route && *route ? route : "unmatched");
  reg.bytes_sent += bytes;
  if (!r) return;
  status_count_t *sc = NULL;
  for (size_t i = 0; i < r->nstatuses; i++)
    if (r->statuses[i].status == status) sc = &r->statuses[i];
  if (!sc) {
    status_count_t *ns = realloc(r->statuses, (r->nstatuses + 1) * sizeof(*ns));
    if (!ns) return;
    r->statuses = ns;
    sc = &ns[r->nstatuses++];
    sc->status = status;
    sc->count = 0;
  }
  sc->count++;
  if (seconds < 0) seconds = 0;
  for (size_t i = 0; i < N_BUCKETS; i++)
    if (seconds <= http_buckets[i]) {
      r->buckets[i]++;
      break;
    }
  r->count++;
  r->sum += seconds;
}

/* ---------- viewers ---------- */

static uint64_t viewer_key(const char *ip, const char *ua) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = ip ? ip : ""; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull; /* separator: "a"+"bc" differs from "ab"+"c" */
  for (const char *p = ua ? ua : ""; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h ? h : 1;
}

static stream_viewers_t *viewers_find(const char *stream_id) {
  for (stream_viewers_t *v = reg.viewers; v; v = v->next)
    if (strcmp(v->stream_id, stream_id) == 0) return v;
  return NULL;
}

/* Inserts or refreshes key; 0 or ERR_NOMEM. The table never shrinks. */
static viewer_t *slot_for(viewer_t *slots, size_t cap, uint64_t key) {
  size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (cap - 1);
  while (slots[i].key && slots[i].key != key) i = (i + 1) & (cap - 1);
  return &slots[i];
}

static int viewers_grow(stream_viewers_t *v) {
  size_t cap = v->cap ? v->cap * 2 : 64;
  viewer_t *ns = calloc(cap, sizeof(*ns));
  if (!ns) return ERR_NOMEM;
  for (size_t i = 0; i < v->cap; i++)
    if (v->slots[i].key) *slot_for(ns, cap, v->slots[i].key) = v->slots[i];
  free(v->slots);
  v->slots = ns;
  v->cap = cap;
  return 0;
}

void metrics_viewer_hit(const char *stream_id, const char *ip, const char *user_agent) {
  if (!stream_id || strlen(stream_id) >= 37) return;
  stream_viewers_t *v = viewers_find(stream_id);
  if (!v) {
    if (!(v = calloc(1, sizeof(*v)))) return;
    snprintf(v->stream_id, sizeof(v->stream_id), "%s", stream_id);
    v->next = reg.viewers;
    reg.viewers = v;
  }
  uint64_t key = viewer_key(ip, user_agent), now = util_mono_ms();
  viewer_t *s = v->cap ? slot_for(v->slots, v->cap, key) : NULL;
  if (s && s->key) {
    s->last_ms = now;
    return;
  }
  if (v->n >= METRICS_VIEWERS_MAX) {
    v->overflow++;
    return;
  }
  if ((v->n + 1) * 2 > v->cap && viewers_grow(v)) return;
  s = slot_for(v->slots, v->cap, key);
  s->key = key;
  s->last_ms = now;
  v->n++;
}

static unsigned viewers_active(const stream_viewers_t *v, uint64_t now) {
  unsigned n = 0;
  for (size_t i = 0; i < v->cap; i++)
    if (v->slots[i].key && now - v->slots[i].last_ms <= METRICS_VIEWER_ACTIVE_MS) n++;
  return n;
}

void metrics_viewers(const char *stream_id, unsigned *current, uint64_t *total) {
  const stream_viewers_t *v = stream_id ? viewers_find(stream_id) : NULL;
  *current = v ? viewers_active(v, util_mono_ms()) : 0;
  *total = v ? v->n + v->overflow : 0;
}

void metrics_viewers_forget(const char *stream_id) {
  for (stream_viewers_t **pp = &reg.viewers; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->stream_id, stream_id) == 0) {
      stream_viewers_t *v = *pp;
      *pp = v->next;
      free(v->slots);
      free(v);
      return;
    }
  }
}

/* ---------- collectors ---------- */

int metrics_add_collector(metrics_collector_fn fn, void *ud) {
  if (reg.ncollectors == MAX_COLLECTORS) return ERR_NOMEM;
  reg.collectors[reg.ncollectors].fn = fn;
  reg.collectors[reg.ncollectors++].ud = ud;
  return 0;
}

void metrics_remove_collector(metrics_collector_fn fn, void *ud) {
  for (int i = 0; i < reg.ncollectors; i++) {
    if (reg.collectors[i].fn == fn && reg.collectors[i].ud == ud) {
      memmove(&reg.collectors[i], &reg.collectors[i + 1],
              (size_t)(reg.ncollectors - i - 1) * sizeof(reg.collectors[0]));
      reg.ncollectors--;
      return;
    }
  }
}

/* ---------- exposition ---------- */

static void route_labels(metrics_text_t *t, const route_stat_t *r) {
  metrics_text_printf(t, "method=\"%s\",route=\"", r->method);
  metrics_text_label(t, r->route);
  metrics_text_printf(t, "\"");
}

void metrics_render(metrics_text_t *t) {
  metrics_text_printf(t,
                      "# HELP onair_http_requests_total HTTP requests answered, by route pattern "
                      "and status (0: deferred).\n"
                      "# TYPE onair_http_requests_total counter\n");
  for (size_t i = 0; i < reg.nroutes; i++) {
    const route_stat_t *r = &reg.routes[i];
    for (size_t j = 0; j < r->nstatuses; j++) {
      metrics_text_printf(t, "onair_http_requests_total{");
      route_labels(t, r);
      metrics_text_printf(t, ",status=\"%d\"} %llu\n", r->statuses[j].status,
                          (unsigned long long)r->statuses[j].count);
    }
  }
  metrics_text_printf(t,
                      "# HELP onair_http_request_duration_seconds Time spent in the request "
                      "handler, by route pattern.\n"
                      "# TYPE onair_http_request_duration_seconds histogram\n");
  for (size_t i = 0; i < reg.nroutes; i++) {
    const route_stat_t *r = &reg.routes[i];
    uint64_t cum = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
      cum += r->buckets[b];
      metrics_text_printf(t, "onair_http_request_duration_seconds_bucket{");
      route_labels(t, r);
      metrics_text_printf(t, ",le=\"%g\"} %llu\n", http_buckets[b], (unsigned long long)cum);
    }
    metrics_text_printf(t, "onair_http_request_duration_seconds_bucket{");
    route_labels(t, r);
    metrics_text_printf(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)r->count);
    metrics_text_printf(t, "onair_http_request_duration_seconds_sum{");
    route_labels(t, r);
    metrics_text_printf(t, "} %.6f\n", r->sum);
    metrics_text_printf(t, "onair_http_request_duration_seconds_count{");
    route_labels(t, r);
    metrics_text_printf(t, "} %llu\n", (unsigned long long)r->count);
  }
  metrics_text_printf(t,
                      "# HELP onair_http_bytes_sent_total Response body bytes handed to HTTP "
                      "clients (API and HLS playback).\n"
                      "# TYPE onair_http_bytes_sent_total counter\n"
                      "onair_http_bytes_sent_total %llu\n",
                      (unsigned long long)reg.bytes_sent);
  uint64_t now = util_mono_ms();
  metrics_text_printf(t,
                      "# HELP onair_hls_viewers Active HLS viewers (distinct IP + User-Agent "
                      "with a playlist or segment request in the last %u s), by stream.\n"
                      "# TYPE onair_hls_viewers gauge\n",
                      METRICS_VIEWER_ACTIVE_MS / 1000);
  for (const stream_viewers_t *v = reg.viewers; v; v = v->next) {
    metrics_text_printf(t, "onair_hls_viewers{stream=\"");
    metrics_text_label(t, v->stream_id);
    metrics_text_printf(t, "\"} %u\n", viewers_active(v, now));
  }
  metrics_text_printf(t,
                      "# HELP onair_hls_viewers_seen Distinct HLS viewers seen, by stream.\n"
                      "# TYPE onair_hls_viewers_seen gauge\n");
  for (const stream_viewers_t *v = reg.viewers; v; v = v->next) {
    metrics_text_printf(t, "onair_hls_viewers_seen{stream=\"");
    metrics_text_label(t, v->stream_id);
    metrics_text_printf(t, "\"} %llu\n", (unsigned long long)(v->n + v->overflow));
  }
  for (int i = 0; i < reg.ncollectors; i++) reg.collectors[i].fn(reg.collectors[i].ud, t);
}

void metrics_reset(void) {
  for (size_t i = 0; i < reg.nroutes; i++) {
    free(reg.routes[i].route);
    free(reg.routes[i].statuses);
  }
  free(reg.routes);
  while (reg.viewers) {
    stream_viewers_t *v = reg.viewers;
    reg.viewers = v->next;
    free(v->slots);
    free(v);
  }
  memset(&reg, 0, sizeof(reg));
}
