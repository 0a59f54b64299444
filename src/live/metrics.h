/* metrics.h — the process's Prometheus registry: HTTP requests by route,
 * bytes served, active HLS viewers, and collectors other modules add (the
 * health sampler adds ingest bitrate and frame rate per live stream).
 * api/metrics.c serves it as GET /metrics in the text exposition format
 * 0.0.4.
 *
 * Like a Prometheus client's default registry it is process-wide state:
 * counters belong to the process, not to one object. Loop thread only.
 * metrics_reset() gives every byte back (shutdown, tests).
 */
#ifndef ONAIR_METRICS_H
#define ONAIR_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A growable text buffer the exposition is written into. On allocation
 * failure `failed` is set and further writes are ignored. */
typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} metrics_text_t;

void metrics_text_printf(metrics_text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a label value: \ " and newline escaped. */
void metrics_text_label(metrics_text_t *t, const char *s);
void metrics_text_free(metrics_text_t *t);

/* One answered HTTP request. route is the matched pattern ("" when no route
 * matched); status 0 means the response was deferred; seconds is the time
 * spent in the handler; bytes is the body size. */
void metrics_http_observe(const char *method, const char *route, int status, size_t bytes,
                          double seconds);

/* Viewers. A hit is a playlist or segment request for a stream; a viewer
 * (client IP + User-Agent) is active for METRICS_VIEWER_ACTIVE_MS after its
 * last hit. At most METRICS_VIEWERS_MAX distinct viewers are remembered per
 * stream; beyond that, new viewers still count in total (not in current). */
#define METRICS_VIEWER_ACTIVE_MS 30000u
#define METRICS_VIEWERS_MAX 65536u
void metrics_viewer_hit(const char *stream_id, const char *ip, const char *user_agent);
/* *current: active viewers now; *total: distinct viewers since the stream's
 * entry was created (or since the process started). 0/0 when unknown. */
void metrics_viewers(const char *stream_id, unsigned *current, uint64_t *total);
/* The stream's entry is gone (stopped for good or deleted): drop its viewers. */
void metrics_viewers_forget(const char *stream_id);

/* Collectors append whole metric families (# HELP, # TYPE, samples). Up to
 * 8; remove with the same fn and ud. 0 or ERR_NOMEM. */
typedef void (*metrics_collector_fn)(void *ud, metrics_text_t *out);
int metrics_add_collector(metrics_collector_fn fn, void *ud);
void metrics_remove_collector(metrics_collector_fn fn, void *ud);

/* Appends the registry's families: HTTP, bytes, viewers, then collectors. */
void metrics_render(metrics_text_t *out);
/* Forgets every counter, viewer and collector, freeing their memory. */
void metrics_reset(void);

#endif
