/* GET /v1/live-streams/{id}/health (seed 003: ingest health samples, raw or
 * in time buckets, with a summary) and GET /v1/live-streams/{id}/statistics
 * (seed 000's live statistic: fps/bitrate in and out, data transferred,
 * viewers). Samples come from live/health.h through store/health.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/err.h"
#include "core/util.h"
#include "live/health.h"
#include "live/lifecycle.h"
#include "live/metrics.h"
#include "store/health.h"

#define HEALTH_DEFAULT_LIMIT 1000
#define HEALTH_MAX_LIMIT 10000
#define HEALTH_DEFAULT_SPAN 3600

static double round2(double v) { return round(v * 100.0) / 100.0; }

/* Seed 003 serialises framerate as a string: "30", "29.97". */
static json_t *rate_string(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.2f", round2(v));
  char *dot = strchr(buf, '.');
  if (dot) {
    char *end = buf + strlen(buf) - 1;
    while (end > dot && *end == '0') *end-- = '\0';
    if (end == dot) *end = '\0';
  }
  return json_string(buf);
}

static json_t *resolution(int w, int h) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%dx%d", w > 0 ? w : 0, h > 0 ? h : 0);
  return json_string(buf);
}

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

static json_t *time_json(int64_t ts) {
  char buf[32];
  return json_string(util_format_time(ts, buf, sizeof(buf)));
}

/* Why the server ended the stream's last publish (live_publish_fail), or
 * null: {"message", "timestamp"}. Kept until a publish goes live again. */
static json_t *last_error_json(store_t *store, const char *stream_id) {
  char message[256];
  int64_t ts;
  if (store_stream_ingest_error(store, stream_id, message, sizeof(message), &ts) != 0)
    return json_null();
  return json_pack("{s:s, s:o}", "message", message, "timestamp", time_json(ts));
}

/* One raw sample, with the field names of seed 003's example (+ onair's
 * client_type, encoder_software, dropped_frames). */
static json_t *sample_json(const store_health_sample_t *s) {
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(s->stream_id));
  json_object_set_new(o, "timestamp", time_json(s->ts));
  json_object_set_new(o, "video_bitrate", json_integer(s->video_bitrate));
  json_object_set_new(o, "audio_bitrate", json_integer(s->audio_bitrate));
  json_object_set_new(o, "video_data_rate", json_integer(s->video_data_rate));
  json_object_set_new(o, "audio_data_rate", json_integer(s->audio_data_rate));
  json_object_set_new(o, "framerate", rate_string(s->framerate));
  json_object_set_new(o, "input_frame_rate", json_real(round2(s->input_frame_rate)));
  json_object_set_new(o, "time_connected", json_integer(s->time_connected));
  json_object_set_new(o, "resolution", resolution(s->width, s->height));
  json_object_set_new(o, "encoder", json_string(health_client_label(s->client_type)));
  json_object_set_new(o, "video_codec", str_or_null(s->video_codec));
  json_object_set_new(o, "audio_codec", str_or_null(s->audio_codec));
  json_object_set_new(o, "audio_channels", json_integer(s->audio_channels));
  json_object_set_new(o, "audio_sample_rate", json_integer(s->audio_sample_rate));
  json_object_set_new(o, "audio_sample_size", json_integer(s->audio_sample_size));
  json_object_set_new(o, "client_type", str_or_null(s->client_type));
  json_object_set_new(o, "encoder_software", str_or_null(s->encoder));
  json_object_set_new(o, "dropped_frames", json_integer(s->dropped_frames));
  return o;
}

/* ---------- aggregation ---------- */

typedef struct {
  int64_t start;
  int64_t samples; /* raw samples (downsampled rows count what they stand for) */
  double weight;
  double vb, ab, vd, ad, fr, ifr; /* weighted sums */
  double vb_min, vb_max, ab_min, ab_max, fr_min, fr_max;
  int64_t tc_max, dropped;
  store_health_sample_t last; /* newest row: resolution, codecs, client */
} bucket_t;

typedef struct {
  health_bucket_t bucket; /* NONE: raw mode, no buckets built */
  bucket_t *buckets;
  size_t nbuckets, cap;
  double *vb, *ab, *fr; /* every row's value, for the summary */
  size_t n, vcap;
  int64_t total_samples;
  store_health_sample_t newest;
  int failed;
} walk_t;

static void walk_free(walk_t *w) {
  free(w->buckets);
  free(w->vb);
  free(w->ab);
  free(w->fr);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap * 2 : 256;
  while (c < need) c *= 2;
  void *np = realloc(*p, c * size);
  if (!np) return ERR_NOMEM;
  *p = np;
  *cap = c;
  return 0;
}

static int walk_row(void *ud, const store_health_sample_t *s) {
  walk_t *w = ud;
  if (w->n == w->vcap) { /* the three arrays share one capacity */
    size_t c = w->vcap ? w->vcap * 2 : 256;
    double **arrs[] = {&w->vb, &w->ab, &w->fr};
    for (int i = 0; i < 3; i++) {
      double *a = realloc(*arrs[i], c * sizeof(double));
      if (!a) return ERR_NOMEM;
      *arrs[i] = a;
    }
    w->vcap = c;
  }
  w->vb[w->n] = (double)s->video_bitrate;
  w->ab[w->n] = (double)s->audio_bitrate;
  w->fr[w->n] = s->framerate;
  w->n++;
  int64_t weight = s->samples > 0 ? s->samples : 1;
  w->total_samples += weight;
  w->newest = *s;
  if (w->bucket == HEALTH_BUCKET_NONE) return 0;

  int64_t start = health_bucket_start(w->bucket, s->ts);
  bucket_t *b = w->nbuckets ? &w->buckets[w->nbuckets - 1] : NULL;
  if (!b || b->start != start) {
    if (grow((void **)&w->buckets, &w->cap, w->nbuckets + 1, sizeof(bucket_t))) return ERR_NOMEM;
    b = &w->buckets[w->nbuckets++];
    memset(b, 0, sizeof(*b));
    b->start = start;
    b->vb_min = b->vb_max = (double)s->video_bitrate;
    b->ab_min = b->ab_max = (double)s->audio_bitrate;
    b->fr_min = b->fr_max = s->framerate;
  }
  double wt = (double)weight;
  b->samples += weight;
  b->weight += wt;
  b->vb += wt * (double)s->video_bitrate;
  b->ab += wt * (double)s->audio_bitrate;
  b->vd += wt * (double)s->video_data_rate;
  b->ad += wt * (double)s->audio_data_rate;
  b->fr += wt * s->framerate;
  b->ifr += wt * s->input_frame_rate;
  b->vb_min = fmin(b->vb_min, (double)s->video_bitrate);
  b->vb_max = fmax(b->vb_max, (double)s->video_bitrate);
  b->ab_min = fmin(b->ab_min, (double)s->audio_bitrate);
  b->ab_max = fmax(b->ab_max, (double)s->audio_bitrate);
  b->fr_min = fmin(b->fr_min, s->framerate);
  b->fr_max = fmax(b->fr_max, s->framerate);
  if (s->time_connected > b->tc_max) b->tc_max = s->time_connected;
  b->dropped += s->dropped_frames;
  b->last = *s;
  return 0;
}

static json_t *bucket_json(const bucket_t *b) {
  double w = b->weight > 0 ? b->weight : 1;
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(b->last.stream_id));
  json_object_set_new(o, "timestamp", time_json(b->start));
  json_object_set_new(o, "sample_count", json_integer(b->samples));
  json_object_set_new(o, "video_bitrate_avg", json_integer(llround(b->vb / w)));
  json_object_set_new(o, "video_bitrate_min", json_integer(llround(b->vb_min)));
  json_object_set_new(o, "video_bitrate_max", json_integer(llround(b->vb_max)));
  json_object_set_new(o, "audio_bitrate_avg", json_integer(llround(b->ab / w)));
  json_object_set_new(o, "audio_bitrate_min", json_integer(llround(b->ab_min)));
  json_object_set_new(o, "audio_bitrate_max", json_integer(llround(b->ab_max)));
  json_object_set_new(o, "framerate_avg", json_real(round2(b->fr / w)));
  json_object_set_new(o, "framerate_min", json_real(round2(b->fr_min)));
  json_object_set_new(o, "framerate_max", json_real(round2(b->fr_max)));
  json_object_set_new(o, "input_frame_rate_avg", json_real(round2(b->ifr / w)));
  json_object_set_new(o, "video_data_rate_avg", json_integer(llround(b->vd / w)));
  json_object_set_new(o, "audio_data_rate_avg", json_integer(llround(b->ad / w)));
  json_object_set_new(o, "time_connected_max", json_integer(b->tc_max));
  json_object_set_new(o, "resolution", resolution(b->last.width, b->last.height));
  json_object_set_new(o, "video_codec", str_or_null(b->last.video_codec));
  json_object_set_new(o, "audio_codec", str_or_null(b->last.audio_codec));
  json_object_set_new(o, "encoder", json_string(health_client_label(b->last.client_type)));
  json_object_set_new(o, "client_type", str_or_null(b->last.client_type));
  json_object_set_new(o, "dropped_frames", json_integer(b->dropped));
  return o;
}

static json_t *stats_json(double *v, size_t n, int integral) {
  health_stats_t st;
  health_stats(v, n, &st);
  double vals[] = {st.avg, st.median, st.min, st.max, st.p10, st.p90};
  const char *names[] = {"avg", "median", "min", "max", "p10", "p90"};
  json_t *o = json_object();
  for (size_t i = 0; i < 6; i++)
    json_object_set_new(o, names[i],
                        integral ? json_integer(llround(vals[i])) : json_real(round2(vals[i])));
  return o;
}

static json_t *summary_json(walk_t *w) {
  if (w->n == 0) return json_null();
  json_t *o = json_object();
  json_object_set_new(o, "sample_count", json_integer(w->total_samples));
  json_object_set_new(o, "video_bitrate", stats_json(w->vb, w->n, 1));
  json_object_set_new(o, "audio_bitrate", stats_json(w->ab, w->n, 1));
  json_object_set_new(o, "framerate", stats_json(w->fr, w->n, 0));
  json_object_set_new(o, "resolution", resolution(w->newest.width, w->newest.height));
  return o;
}

static int collect_raw(void *ud, const store_health_sample_t *s) {
  json_t *arr = ud;
  return json_array_append_new(arr, sample_json(s)) ? ERR_NOMEM : 0;
}

/* ---------- handlers ---------- */

/* Like http_response_json, with rates printed as 30.88 rather than
 * 30.879999999999999 (10 significant digits). Takes no reference. */
static void respond(http_response_t *res, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
  if (!text) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_status(res, 200);
  http_response_header(res, "Content-Type", "application/json");
  http_response_body_owned(res, text, strlen(text));
}

static void health_get(void *ud, http_request_t *req, http_response_t *res,
                       const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;

  int64_t now = util_now(), from = 0, to = 0;
  int have_from = 0, have_to = 0, all = 0;
  long limit = HEALTH_DEFAULT_LIMIT;
  health_bucket_t bucket = HEALTH_BUCKET_NONE;
  const char *cur = req->query;
  char key[64], val[256];
  int q;
  while ((q = http_query_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
    if (strcmp(key, "time_from") == 0 || strcmp(key, "time_to") == 0) {
      int is_from = key[5] == 'f';
      if (health_parse_time(val, is_from ? &from : &to)) {
        api_error(res, ERR_INVALID, "expected a UTC time as YYYY-MM-DD HH:MM:SS", key);
        goto out;
      }
      if (is_from) have_from = 1;
      else have_to = 1;
    } else if (strcmp(key, "time_bucket") == 0) {
      if (health_bucket_parse(val, &bucket)) {
        api_error(res, ERR_INVALID, "time_bucket must be one of auto, 1m, 5m, 1h, 1d, 1w, 1M, none",
                  "time_bucket");
        goto out;
      }
    } else if (strcmp(key, "limit") == 0) {
      char *end;
      limit = strtol(val, &end, 10);
      if (!*val || *end || limit < 1 || limit > HEALTH_MAX_LIMIT) {
        api_error(res, ERR_INVALID, "limit must be an integer from 1 to 10000", "limit");
        goto out;
      }
    } else if (strcmp(key, "all") == 0) {
      if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
        all = 1;
      else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
        all = 0;
      else {
        api_error(res, ERR_INVALID, "all must be true or false", "all");
        goto out;
      }
    }
  }
  if (q < 0) {
    api_error(res, ERR_INVALID, "malformed query string", NULL);
    goto out;
  }
  if (all) {
    from = INT64_MIN;
    to = INT64_MAX;
  } else {
    if (!have_to) to = have_from && from > now ? from + HEALTH_DEFAULT_SPAN : now;
    if (!have_from) from = to - HEALTH_DEFAULT_SPAN;
    if (from > to) {
      api_error(res, ERR_INVALID, "time_from is after time_to", "time_from");
      goto out;
    }
  }
  health_bucket_t resolved = bucket;
  if (bucket == HEALTH_BUCKET_AUTO) {
    int64_t first, last;
    int64_t span = all ? (store_health_span(ctx->store, s.id, &first, &last) == 0 ? last - first : 0)
                       : to - from;
    resolved = health_bucket_auto(span);
  }

  walk_t w = {.bucket = resolved};
  int rc = store_health_list(ctx->store, s.id, from, to, 0, 0, walk_row, &w);
  json_t *metrics = json_array();
  if (!rc && resolved == HEALTH_BUCKET_NONE) {
    rc = store_health_list(ctx->store, s.id, from, to, 1, (size_t)limit, collect_raw, metrics);
  } else if (!rc) {
    /* Newest buckets first, as raw samples are. */
    for (size_t i = w.nbuckets; i > 0 && json_array_size(metrics) < (size_t)limit; i--)
      json_array_append_new(metrics, bucket_json(&w.buckets[i - 1]));
  }
  if (rc) {
    json_decref(metrics);
    walk_free(&w);
    api_error(res, rc, NULL, NULL);
    goto out;
  }
  int aggregated = resolved != HEALTH_BUCKET_NONE;
  json_t *body = json_object();
  json_object_set_new(body, "metrics", metrics);
  json_object_set_new(body, "count", json_integer((json_int_t)json_array_size(metrics)));
  json_object_set_new(body, "aggregated", json_boolean(aggregated));
  json_object_set_new(body, "time_bucket",
                      aggregated ? json_string(health_bucket_name(resolved)) : json_null());
  json_object_set_new(body, "interval",
                      aggregated ? json_integer(health_bucket_seconds(resolved)) : json_null());
  json_object_set_new(body, "summary", summary_json(&w));
  json_object_set_new(body, "time_from", all ? json_null() : time_json(from));
  json_object_set_new(body, "time_to", all ? json_null() : time_json(to));
  json_object_set_new(body, "limit", json_integer(limit));
  json_object_set_new(body, "last_error", last_error_json(ctx->store, s.id));
  walk_free(&w);
  respond(res, body);
  json_decref(body);
out:
  store_stream_clear(&s);
}

static void statistics_get(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  live_stream_t *ls = ctx->live ? live_find(ctx->live, s.id) : NULL;
  hub_t *hub = ls ? live_stream_hub(ls) : NULL;
  double fps = 0, kbps = 0, mb = 0;
  store_health_sample_t last;
  int have = 0;
  if (ls && live_stream_publishing(ls) && store_health_latest(ctx->store, s.id, &last) == 0) {
    /* Only a sample of the current session counts: at most a few
     * intervals old. */
    int64_t max_age = 3 * (int64_t)(ctx->cfg->health_interval_ms / 1000) + 2;
    have = last.ts >= util_now() - max_age;
  }
  if (have) {
    fps = last.framerate;
    kbps = (double)(last.video_bitrate + last.audio_bitrate) / 1000.0;
  }
  if (hub) {
    hub_stats_t hs;
    hub_get_stats(hub, &hs);
    mb = (double)hs.bytes / 1e6;
  }
  unsigned current;
  uint64_t total;
  metrics_viewers(s.id, &current, &total);
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(s.id));
  json_object_set_new(o, "status", json_string(lifecycle_status_name(s.status)));
  json_object_set_new(o, "fps_in", json_real(round2(fps)));
  /* Passthrough: viewers get the ingest rendition (until transcoding). */
  json_object_set_new(o, "fps_out", json_real(round2(fps)));
  json_object_set_new(o, "bitrate_in", json_real(round2(kbps)));
  json_object_set_new(o, "bitrate_out", json_real(round2(kbps)));
  json_object_set_new(o, "data_transferred", json_real(round2(mb)));
  json_object_set_new(o, "current_viewers", json_integer(current));
  json_object_set_new(o, "total_viewers", json_integer((json_int_t)total));
  json_object_set_new(o, "updated_at", have ? time_json(last.ts) : json_null());
  json_t *body = json_pack("{s:o}", "statistics", o);
  respond(res, body);
  json_decref(body);
  store_stream_clear(&s);
}

int api_health_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "GET", "/v1/live-streams/{id}/health", health_get, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/live-streams/{id}/statistics", statistics_get, ctx);
  return rc;
}
