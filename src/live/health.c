/* health.c — the ingest health sampler and its arithmetic (health.h). */
#include "live/health.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "live/metrics.h"
#include "media/hub/hub.h"

/* The retention job runs this often (and once shortly after start). */
#define RETENTION_PERIOD_MS (10u * 60 * 1000)
#define RETENTION_FIRST_MS (15u * 1000)
/* Raw samples older than this are folded into one row per minute. */
#define DOWNSAMPLE_AFTER_S (24 * 3600)

typedef struct tracker {
  health_t *h;
  live_stream_t *ls;
  char id[37];
  uv_timer_t timer;
  hub_stats_t last;   /* hub counters at the previous sample */
  uint64_t last_ms;   /* monotonic ms of the previous sample */
  double kbps, fps;   /* latest measurement, for /metrics */
  struct tracker *next;
} tracker_t;

struct health {
  uv_loop_t *loop;
  store_t *store;
  health_opts_t opts;
  uv_timer_t retention;
  tracker_t *trackers;
  unsigned open_handles; /* initialised and not yet closed */
  int freeing;
};

/* ---------- arithmetic ---------- */

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int health_parse_time(const char *s, int64_t *out) {
  if (!s || !*s) return ERR_INVALID;
  size_t len = strlen(s);
  size_t nd = strspn(s, "0123456789");
  if (nd == len) { /* unix seconds */
    if (len > 12) return ERR_INVALID;
    *out = strtoll(s, NULL, 10);
    return 0;
  }
  int Y, M, D, h = 0, m = 0, sec = 0;
  if (len < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
      digits(s + 8, 2, &D))
    return ERR_INVALID;
  const char *p = s + 10;
  if (*p) {
    if ((*p != ' ' && *p != 'T') || strlen(p) < 9 || digits(p + 1, 2, &h) || p[3] != ':' ||
        digits(p + 4, 2, &m) || p[6] != ':' || digits(p + 7, 2, &sec))
      return ERR_INVALID;
    p += 9;
    if (*p == 'Z') p++;
    if (*p) return ERR_INVALID;
  }
  if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return ERR_INVALID;
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                  .tm_hour = h, .tm_min = m, .tm_sec = sec};
  time_t t = timegm(&tm);
  /* timegm normalises 2026-02-31 into March: refuse dates that moved. */
  struct tm back;
  if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != D || back.tm_mon != M - 1)
    return ERR_INVALID;
  *out = (int64_t)t;
  return 0;
}

static const char *const bucket_names[] = {"none", "auto", "1m", "5m", "1h", "1d", "1w", "1M"};

int health_bucket_parse(const char *s, health_bucket_t *out) {
  for (int i = 0; s && i < (int)(sizeof(bucket_names) / sizeof(bucket_names[0])); i++) {
    if (strcmp(s, bucket_names[i]) == 0) {
      *out = (health_bucket_t)i;
      return 0;
    }
  }
  return ERR_INVALID;
}

const char *health_bucket_name(health_bucket_t b) {
  return (unsigned)b < sizeof(bucket_names) / sizeof(bucket_names[0]) ? bucket_names[b] : "none";
}

int64_t health_bucket_seconds(health_bucket_t b) {
  switch (b) {
    case HEALTH_BUCKET_1M: return 60;
    case HEALTH_BUCKET_5M: return 300;
    case HEALTH_BUCKET_1H: return 3600;
    case HEALTH_BUCKET_1D: return 86400;
    case HEALTH_BUCKET_1W: return 7 * 86400;
    case HEALTH_BUCKET_MON: return 30 * 86400;
    default: return 0;
  }
}

health_bucket_t health_bucket_auto(int64_t span) {
  static const health_bucket_t order[] = {HEALTH_BUCKET_1M, HEALTH_BUCKET_5M, HEALTH_BUCKET_1H,
                                          HEALTH_BUCKET_1D, HEALTH_BUCKET_1W};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
    if (span <= HEALTH_AUTO_POINTS * health_bucket_seconds(order[i])) return order[i];
  return HEALTH_BUCKET_MON;
}

/* floor(a / b) for b > 0, also for negative a. */
static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); }

int64_t health_bucket_start(health_bucket_t b, int64_t ts) {
  if (b == HEALTH_BUCKET_MON) {
    time_t t = (time_t)ts;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return ts;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm);
  }
  int64_t size = health_bucket_seconds(b);
  if (size <= 0) return ts;
  /* 1970-01-01 was a Thursday: weeks are counted from Monday 1970-01-05. */
  int64_t origin = b == HEALTH_BUCKET_1W ? 4 * 86400 : 0;
  return floor_div(ts - origin, size) * size + origin;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p) {
  double pos = p * (double)(n - 1);
  size_t lo = (size_t)pos;
  if (lo + 1 >= n) return sorted[n - 1];
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - (double)lo);
}

int health_stats(double *v, size_t n, health_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (n == 0) return ERR_NOT_FOUND;
  qsort(v, n, sizeof(*v), cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  out->avg = sum / (double)n;
  out->min = v[0];
  out->max = v[n - 1];
  out->median = percentile(v, n, 0.5);
  out->p10 = percentile(v, n, 0.1);
  out->p90 = percentile(v, n, 0.9);
  return 0;
}

const char *health_client_label(const char *c) {
  if (!c || !*c) return "Unknown Client";
  if (strcmp(c, "rtmp") == 0) return "RTMP Client";
  if (strcmp(c, "rtmps") == 0) return "RTMPS Client";
  if (strcmp(c, "srt") == 0) return "SRT Client";
  if (strcmp(c, "webrtc") == 0 || strcmp(c, "whip") == 0) return "WebRTC Client";
  return "Other Client";
}

/* ---------- sampler ---------- */

static const char *codec_name(media_codec_t c) {
  switch (c) {
    case CODEC_H264: return "h264";
    case CODEC_HEVC: return "hevc";
    case CODEC_AAC: return "aac";
    default: return "";
  }
}

static void maybe_free(health_t *h) {
  if (h->freeing && h->open_handles == 0) free(h);
}

static void on_handle_closed(uv_handle_t *handle) {
  health_t *h = handle->data;
  if (handle != (uv_handle_t *)&h->retention) {
    /* A tracker's timer: its data was switched to the health_t before the
     * close; the tracker is the timer's container. */
    tracker_t *tr = (tracker_t *)((char *)handle - offsetof(tracker_t, timer));
    free(tr);
  }
  h->open_handles--;
  maybe_free(h);
}

/* transcode: frames the ladder's rungs dropped are the stream's dropped
 * frames too (rung hubs live as long as the broadcast: the sum only grows
 * until a new broadcast starts it over). */
static void add_rung_drops(live_stream_t *ls, hub_stats_t *st) {
  for (int i = 1; i < live_rendition_count(ls); i++) {
    hub_stats_t rs;
    hub_get_stats(live_rendition_get(ls, i)->hub, &rs);
    st->dropped_frames += rs.dropped_frames;
  }
}

static void on_sample(uv_timer_t *t) {
  tracker_t *tr = t->data;
  health_t *h = tr->h;
  hub_t *hub = live_stream_hub(tr->ls);
  if (!hub || !live_stream_publishing(tr->ls)) return;
  hub_stats_t now;
  hub_get_stats(hub, &now);
  add_rung_drops(tr->ls, &now); /* transcode */
  uint64_t ms = util_mono_ms();
  uint64_t elapsed = ms - tr->last_ms;
  if (now.video_bytes < tr->last.video_bytes || now.audio_bytes < tr->last.audio_bytes ||
      now.video_frames < tr->last.video_frames || now.dropped_frames < tr->last.dropped_frames) {
    tr->last = now; /* a new hub: start over */
    tr->last_ms = ms;
    return;
  }
  if (elapsed == 0) return;
  /* Rates are measured over the media time the interval carried when it is
   * plausible (within 2x of the wall clock): network bursts then do not show
   * up as frame-rate jitter. Otherwise (a timestamp jump, a stall) over the
   * wall-clock interval. */
  double secs = (double)elapsed / 1000.0;
  int64_t media_ms = now.last_dts - tr->last.last_dts;
  if (tr->last.video_frames + tr->last.audio_frames > 0 && media_ms > 0 &&
      (uint64_t)media_ms * 2 >= elapsed && (uint64_t)media_ms <= elapsed * 2)
    secs = (double)media_ms / 1000.0;
  store_health_sample_t s;
  memset(&s, 0, sizeof(s));
  snprintf(s.stream_id, sizeof(s.stream_id), "%s", tr->id);
  s.ts = util_now();
  s.video_bitrate = llround((double)(now.video_bytes - tr->last.video_bytes) * 8.0 / secs);
  s.audio_bitrate = llround((double)(now.audio_bytes - tr->last.audio_bytes) * 8.0 / secs);
  /* No target bitrate is configurable yet: seed 003 says the data rates
   * then equal the measured bitrates. */
  s.video_data_rate = s.video_bitrate;
  s.audio_data_rate = s.audio_bitrate;
  s.framerate = (double)(now.video_frames - tr->last.video_frames) / secs;
  const media_config_t *cfg = hub_config(hub);
  s.input_frame_rate = cfg && cfg->framerate > 0 ? cfg->framerate : s.framerate;
  uint64_t since = live_stream_connected_at(tr->ls);
  uint64_t wall_ms = (uint64_t)util_now() * 1000;
  s.time_connected = since && wall_ms > since ? (int64_t)((wall_ms - since) / 1000) : 0;
  if (cfg) {
    if (cfg->video_codec != CODEC_NONE) {
      s.width = cfg->width;
      s.height = cfg->height;
    }
    snprintf(s.video_codec, sizeof(s.video_codec), "%s", codec_name(cfg->video_codec));
    snprintf(s.audio_codec, sizeof(s.audio_codec), "%s", codec_name(cfg->audio_codec));
    if (cfg->audio_codec != CODEC_NONE) {
      s.audio_channels = cfg->channels;
      s.audio_sample_rate = cfg->sample_rate;
      s.audio_sample_size = 16; /* AAC decodes to 16-bit samples (FLV soundSize) */
    }
  }
  const char *enc = hub_source_encoder(hub), *client = hub_source_client(hub);
  snprintf(s.encoder, sizeof(s.encoder), "%s", enc ? enc : "");
  snprintf(s.client_type, sizeof(s.client_type), "%s", client ? client : "");
  s.dropped_frames = (int64_t)(now.dropped_frames - tr->last.dropped_frames);
  s.samples = 1;
  tr->kbps = (double)(s.video_bitrate + s.audio_bitrate) / 1000.0;
  tr->fps = s.framerate;
  tr->last = now;
  tr->last_ms = ms;
  int rc = store_health_insert(h->store, &s);
  if (rc) log_warn("health_sample_failed id=%s err=%s", tr->id, err_str(rc));
}

static tracker_t *tracker_find(health_t *h, const char *id) {
  for (tracker_t *tr = h->trackers; tr; tr = tr->next)
    if (strcmp(tr->id, id) == 0) return tr;
  return NULL;
}

static void tracker_close(health_t *h, tracker_t *tr) {
  for (tracker_t **pp = &h->trackers; *pp; pp = &(*pp)->next) {
    if (*pp == tr) {
      *pp = tr->next;
      break;
    }
  }
  uv_timer_stop(&tr->timer);
  tr->timer.data = h;
  uv_close((uv_handle_t *)&tr->timer, on_handle_closed);
}

static void on_publish_begin(void *ud, live_stream_t *ls) {
  health_t *h = ud;
  const char *id = live_stream_id(ls);
  tracker_t *tr = tracker_find(h, id);
  if (tr) tracker_close(h, tr); /* cannot happen (end comes first); be safe */
  hub_t *hub = live_stream_hub(ls);
  if (!hub || !(tr = calloc(1, sizeof(*tr)))) return;
  tr->h = h;
  tr->ls = ls;
  snprintf(tr->id, sizeof(tr->id), "%s", id);
  hub_get_stats(hub, &tr->last);
  add_rung_drops(ls, &tr->last); /* transcode */
  tr->last_ms = util_mono_ms();
  uv_timer_init(h->loop, &tr->timer);
  h->open_handles++;
  tr->timer.data = tr;
  uv_timer_start(&tr->timer, on_sample, h->opts.interval_ms, h->opts.interval_ms);
  tr->next = h->trackers;
  h->trackers = tr;
}

static void on_publish_end(void *ud, live_stream_t *ls) {
  health_t *h = ud;
  tracker_t *tr = tracker_find(h, live_stream_id(ls));
  if (tr) tracker_close(h, tr);
}

static void on_forget(void *ud, live_stream_t *ls) {
  on_publish_end(ud, ls);
  metrics_viewers_forget(live_stream_id(ls));
}

static void collect(void *ud, metrics_text_t *t) {
  health_t *h = ud;
  metrics_text_printf(t,
                      "# HELP onair_ingest_bitrate_kbps Ingest bitrate (video + audio) over the "
                      "last health interval, by publishing stream.\n"
                      "# TYPE onair_ingest_bitrate_kbps gauge\n");
  for (tracker_t *tr = h->trackers; tr; tr = tr->next)
    metrics_text_printf(t, "onair_ingest_bitrate_kbps{stream=\"%s\"} %.3f\n", tr->id, tr->kbps);
  metrics_text_printf(t,
                      "# HELP onair_ingest_fps Ingest video frame rate over the last health "
                      "interval, by publishing stream.\n"
                      "# TYPE onair_ingest_fps gauge\n");
  for (tracker_t *tr = h->trackers; tr; tr = tr->next)
    metrics_text_printf(t, "onair_ingest_fps{stream=\"%s\"} %.3f\n", tr->id, tr->fps);
}

int health_retention_run(store_t *store, int64_t now, unsigned retention_days) {
  int purged = 0, folded = 0;
  int rc = store_health_purge(store, now - (int64_t)retention_days * 86400, &purged);
  if (!rc) rc = store_health_downsample(store, now - DOWNSAMPLE_AFTER_S, &folded);
  if (rc)
    log_warn("health_retention_failed err=%s", err_str(rc));
  else if (purged || folded)
    log_info("health_retention purged=%d minute_rows=%d", purged, folded);
  return rc;
}

static void on_retention(uv_timer_t *t) {
  health_t *h = t->data;
  health_retention_run(h->store, util_now(), h->opts.retention_days);
}

health_t *health_new(uv_loop_t *loop, store_t *store, live_t *live, const health_opts_t *opts) {
  health_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->loop = loop;
  h->store = store;
  h->opts = *opts;
  if (!h->opts.interval_ms) h->opts.interval_ms = 5000;
  if (!h->opts.retention_days) h->opts.retention_days = 30;
  live_observer_t ob = {.on_publish_begin = on_publish_begin,
                        .on_publish_end = on_publish_end,
                        .on_forget = on_forget};
  /* The collector first: it can be undone, the observer cannot. */
  if (metrics_add_collector(collect, h)) {
    free(h);
    return NULL;
  }
  if (live_observe(live, &ob, h)) {
    metrics_remove_collector(collect, h);
    free(h);
    return NULL;
  }
  uv_timer_init(loop, &h->retention);
  h->open_handles++;
  h->retention.data = h;
  uv_timer_start(&h->retention, on_retention, RETENTION_FIRST_MS, RETENTION_PERIOD_MS);
  return h;
}

void health_free(health_t *h) {
  if (!h || h->freeing) return;
  h->freeing = 1;
  metrics_remove_collector(collect, h);
  while (h->trackers) tracker_close(h, h->trackers);
  uv_timer_stop(&h->retention);
  uv_close((uv_handle_t *)&h->retention, on_handle_closed);
}
