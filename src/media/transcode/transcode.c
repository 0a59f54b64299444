/* transcode.c — live observer, hub consumer and loop side of the ladder
 * (transcode.h). */
#include "media/transcode/transcode.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "live/metrics.h"
#include "media/hls/hls.h"
#include "media/hls/multivariant.h"
#include "media/transcode/ladder.h"
#include "media/transcode/session.h"

#define METER_SEGMENTS 8   /* segments the bandwidth meter looks back over */
#define AUDIO_PENDING 512  /* audio frames a rung may hold back (~11 s at 44.1 kHz) */

typedef struct {
  uint64_t bits[METER_SEGMENTS];
  double secs[METER_SEGMENTS];
  unsigned n, next;
  /* What the rendition's hub config said at its last segment: the hub
   * forgets its config while the encoder is away (idle), and the
   * multivariant playlist still lists the rendition then. */
  int width, height;
  double fps;
  char codecs[64];
} meter_t;

/* Loop-side state of one rung. */
typedef struct {
  live_rendition_t *rend;
  int configured;          /* a config was published into the rung hub */
  int64_t video_dts;       /* of the last video frame published */
  media_frame_t *audio[AUDIO_PENDING]; /* held back, oldest at audio_head */
  unsigned audio_head, audio_n;
  uint64_t dropped_seen;   /* session counter already reported */
} rung_state_t;

typedef struct tstream {
  transcode_t *tc;
  char id[37];
  live_stream_t *ls;
  hub_t *hub;
  hub_consumer_t *sub;     /* on the source hub while publishing */
  json_t *params;
  media_config_t src_cfg;  /* of the running session */
  tc_session_t *session;
  int draining;            /* the publisher left; the session finishes its work */
  int nrungs;
  ladder_rung_t rungs[LADDER_MAX];
  rung_state_t st[LADDER_MAX];
  uint64_t dropped_total[LIVE_MAX_RENDITIONS]; /* by rendition index, whole entry life */
  meter_t meters[LIVE_MAX_RENDITIONS];      /* by rendition index, of one broadcast */
  unsigned meters_broadcast;                /* which (live_stream_broadcast) */
  uv_async_t async;        /* workers → loop */
  struct tstream *next;
} tstream_t;

struct transcode {
  uv_loop_t *loop;
  live_t *live;
  store_t *store;
  transcode_opts_t opts;
  char preset[32];
  tstream_t *streams;
  int collector;
};

/* ---------- rungs on the loop side ---------- */

static int rendition_index(live_stream_t *ls, const live_rendition_t *r) {
  for (int i = 0; i < live_rendition_count(ls); i++)
    if (live_rendition_get(ls, i) == r) return i;
  return -1;
}

static void audio_release(rung_state_t *rs, int64_t upto, int all) {
  while (rs->audio_n) {
    media_frame_t *a = rs->audio[rs->audio_head];
    if (!all && a->dts > upto) break;
    if (rs->configured) hub_publish_frame(rs->rend->hub, a);
    media_frame_unref(a);
    rs->audio_head = (rs->audio_head + 1) % AUDIO_PENDING;
    rs->audio_n--;
  }
}

static void audio_drop_all(rung_state_t *rs) {
  while (rs->audio_n) {
    media_frame_unref(rs->audio[rs->audio_head]);
    rs->audio_head = (rs->audio_head + 1) % AUDIO_PENDING;
    rs->audio_n--;
  }
  rs->audio_head = 0;
}

/* The source's audio goes to every rung once that rung's video has reached
 * it (the encoders lag the source by a few frames). */
static void audio_offer(tstream_t *ts, media_frame_t *f) {
  for (int i = 0; i < ts->nrungs; i++) {
    rung_state_t *rs = &ts->st[i];
    if (rs->audio_n == AUDIO_PENDING) {
      /* the rung's video stalled: audio must not */
      media_frame_t *a = rs->audio[rs->audio_head];
      if (rs->configured) hub_publish_frame(rs->rend->hub, a);
      media_frame_unref(a);
      rs->audio_head = (rs->audio_head + 1) % AUDIO_PENDING;
      rs->audio_n--;
    }
    rs->audio[(rs->audio_head + rs->audio_n) % AUDIO_PENDING] = media_frame_ref(f);
    rs->audio_n++;
  }
}

/* Moves the workers' drop counters into the rung hubs (health data). */
static void sync_drops(tstream_t *ts) {
  if (!ts->session) return;
  for (int i = 0; i < ts->nrungs; i++) {
    rung_state_t *rs = &ts->st[i];
    uint64_t dropped;
    unsigned queued;
    tc_session_stats(ts->session, i, &dropped, &queued);
    int idx = rendition_index(ts->ls, rs->rend);
    for (; rs->dropped_seen < dropped; rs->dropped_seen++) {
      hub_count_dropped(rs->rend->hub);
      if (idx >= 0) ts->dropped_total[idx]++;
    }
  }
}

static void session_stop(tstream_t *ts, int complete);

static void on_async(uv_async_t *h) {
  tstream_t *ts = h->data;
  if (!ts->session) return;
  /* Asked before taking: what the workers made before they finished is in
   * this take. */
  int finished = ts->draining && tc_session_finished(ts->session);
  tc_output_t *o = tc_session_take(ts->session), *next;
  for (; o; o = next) {
    next = o->next;
    rung_state_t *rs = &ts->st[o->rung];
    if (o->config) {
      hub_publish_config(rs->rend->hub, o->config);
      rs->configured = 1;
      log_info("transcode_rung_ready stream=%s rendition=%s %dx%d kbps=%u fps=%.3g", ts->id,
               rs->rend->name, o->config->width, o->config->height, rs->rend->bitrate_kbps,
               o->config->framerate);
    } else if (o->frame && rs->configured) {
      audio_release(rs, o->frame->dts, 0);
      hub_publish_frame(rs->rend->hub, o->frame);
      rs->video_dts = o->frame->dts;
    }
    tc_output_free(o);
  }
  sync_drops(ts);
  if (finished) session_stop(ts, 1);
}

static void wake(void *ud) { uv_async_send(&((tstream_t *)ud)->async); }

/* Ends the session: complete once it finished after the publisher left and
 * all its output was taken (the held-back audio then follows the rungs'
 * last frames), else at once, dropping what is in flight. */
static void session_stop(tstream_t *ts, int complete) {
  if (!ts->session) return;
  sync_drops(ts);
  tc_session_stop(ts->session); /* joins the workers, frees the session */
  ts->session = NULL;
  ts->draining = 0;
  for (int i = 0; i < ts->nrungs; i++) {
    rung_state_t *rs = &ts->st[i];
    if (complete) audio_release(rs, 0, 1);
    audio_drop_all(rs);
    if (rs->configured) hub_unpublish(rs->rend->hub);
    rs->configured = 0;
    rs->dropped_seen = 0;
  }
  media_config_clear(&ts->src_cfg);
  log_info("transcode_stopped stream=%s drained=%s", ts->id, complete ? "yes" : "no");
}

static int bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int config_equal(const media_config_t *a, const media_config_t *b) {
  return a->video_codec == b->video_codec && a->width == b->width && a->height == b->height &&
         a->audio_codec == b->audio_codec && a->sample_rate == b->sample_rate &&
         a->channels == b->channels &&
         bytes_equal(a->video_extradata, a->video_extradata_len, b->video_extradata,
                     b->video_extradata_len) &&
         bytes_equal(a->audio_extradata, a->audio_extradata_len, b->audio_extradata,
                     b->audio_extradata_len);
}

static void session_start(tstream_t *ts, const media_config_t *cfg) {
  transcode_t *tc = ts->tc;
  ladder_rung_t rungs[LADDER_MAX];
  int n = ladder_plan(ts->params, cfg->width, cfg->height, tc->opts.max_auto_rungs, rungs);
  if (n == 0) {
    log_info("transcode_no_rungs stream=%s source=%dx%d", ts->id, cfg->width, cfg->height);
    return;
  }
  int ok = 0;
  for (int i = 0; i < n; i++) {
    live_rendition_t *r = live_rendition_add(ts->ls, rungs[i].name, rungs[i].width,
                                             rungs[i].height, rungs[i].kbps, rungs[i].fps);
    if (!r) {
      log_warn("transcode_rung_skipped stream=%s rendition=%s reason=no_room", ts->id,
               rungs[i].name);
      continue;
    }
    ts->rungs[ok] = rungs[i];
    memset(&ts->st[ok], 0, sizeof(ts->st[ok]));
    ts->st[ok].rend = r;
    ok++;
  }
  ts->nrungs = ok;
  if (!ok || media_config_copy(&ts->src_cfg, cfg)) return;
  tc_session_opts_t so = {.label = ts->id,
                          .preset = tc->preset,
                          .threads = tc->opts.threads,
                          .queue_frames = tc->opts.queue_frames,
                          /* the decoder's backlog scales with the rungs' */
                          .input_frames = tc->opts.queue_frames > 30 ? 5 * tc->opts.queue_frames
                                                                     : 0};
  ts->session = tc_session_start(cfg, ts->rungs, ok, &so, wake, ts);
  if (!ts->session) {
    media_config_clear(&ts->src_cfg);
    ts->nrungs = 0; /* none of them is coming */
    return;
  }
  char list[160] = "";
  size_t o = 0;
  for (int i = 0; i < ok && o < sizeof(list); i++)
    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? "," : "", ts->rungs[i].name);
  log_info("transcode_started stream=%s source=%dx%d rungs=%s preset=%s", ts->id, cfg->width,
           cfg->height, list, tc->preset);
}

/* ---------- source hub consumer ---------- */

static void src_on_config(void *ud, const media_config_t *cfg) {
  tstream_t *ts = ud;
  if (ts->session && config_equal(&ts->src_cfg, cfg)) return;
  session_stop(ts, 0);
  /* A new source: the last one's rungs leave the ladder (the multivariant
   * playlist, rendition reports) unless the new plan has them. While the
   * publisher is away they stay: players keep going until the end. */
  ts->nrungs = 0;
  if (cfg->video_codec != CODEC_H264 && cfg->video_codec != CODEC_HEVC) {
    log_info("transcode_skipped stream=%s reason=%s", ts->id,
             cfg->video_codec == CODEC_NONE ? "no_video" : "codec");
    return;
  }
  if (cfg->width <= 0 || cfg->height <= 0) {
    log_warn("transcode_skipped stream=%s reason=unknown_size", ts->id);
    return;
  }
  session_start(ts, cfg);
}

static void src_on_frame(void *ud, media_frame_t *f) {
  tstream_t *ts = ud;
  if (!ts->session) return;
  if (f->kind == MEDIA_VIDEO) {
    if (f->codec == ts->src_cfg.video_codec) tc_session_push(ts->session, f);
    sync_drops(ts);
  } else if (f->codec == ts->src_cfg.audio_codec) {
    audio_offer(ts, f);
  }
}

/* The publisher left: the rungs still get every frame it sent (their
 * encoders lag the source by a few frames, more under load), and their
 * hubs end when the session has finished (on_async). */
static void session_finish(tstream_t *ts) {
  if (!ts->session || ts->draining) return;
  tc_session_finish(ts->session);
  ts->draining = 1;
  uv_async_send(&ts->async); /* in case the workers have already finished */
}

static void src_on_unpublish(void *ud) { session_finish(ud); }

static const hub_consumer_ops_t src_ops = {src_on_config, src_on_frame, src_on_unpublish};

/* ---------- live observer ---------- */

static tstream_t *stream_find(transcode_t *tc, const char *id) {
  for (tstream_t *ts = tc->streams; ts; ts = ts->next)
    if (strcmp(ts->id, id) == 0) return ts;
  return NULL;
}

static void on_async_closed(uv_handle_t *h) { free(h->data); }

/* Leaves the source hub; the session finishes its work (drain) or stops
 * at once. */
static void stream_detach(tstream_t *ts, int drain) {
  if (drain)
    session_finish(ts);
  else
    session_stop(ts, 0);
  if (ts->sub) hub_unsubscribe(ts->hub, ts->sub);
  ts->sub = NULL;
  ts->hub = NULL;
  json_decref(ts->params);
  ts->params = NULL;
}

static void on_publish_begin(void *ud, live_stream_t *ls) {
  transcode_t *tc = ud;
  store_stream_t s;
  if (store_stream_get_any(tc->store, live_stream_id(ls), &s) != 0) return;
  json_error_t jerr;
  json_t *params = s.params_json ? json_loads(s.params_json, 0, &jerr) : NULL;
  store_stream_clear(&s);
  if (!params) params = json_object();
  if (!params || ladder_mode(params) == LADDER_PASSTHROUGH) {
    json_decref(params);
    return;
  }
  tstream_t *ts = stream_find(tc, live_stream_id(ls));
  if (ts) {
    stream_detach(ts, 0); /* a session of the last publish may still be finishing */
  } else {
    if (!(ts = calloc(1, sizeof(*ts)))) {
      json_decref(params);
      return;
    }
    ts->tc = tc;
    snprintf(ts->id, sizeof(ts->id), "%s", live_stream_id(ls));
    uv_async_init(tc->loop, &ts->async, on_async);
    ts->async.data = ts;
    ts->next = tc->streams;
    tc->streams = ts;
  }
  ts->ls = ls;
  ts->params = params;
  ts->hub = live_stream_hub(ls);
  /* may call src_on_config at once when the hub already knows the config */
  ts->sub = ts->hub ? hub_subscribe(ts->hub, &src_ops, ts) : NULL;
}

static void on_publish_end(void *ud, live_stream_t *ls) {
  tstream_t *ts = stream_find(ud, live_stream_id(ls));
  if (ts) stream_detach(ts, 1);
}

static void on_forget(void *ud, live_stream_t *ls) {
  transcode_t *tc = ud;
  tstream_t *ts = stream_find(tc, live_stream_id(ls));
  if (!ts) return;
  stream_detach(ts, 0); /* the rung hubs go next (live.c media_free) */
  for (tstream_t **pp = &tc->streams; *pp; pp = &(*pp)->next) {
    if (*pp == ts) {
      *pp = ts->next;
      break;
    }
  }
  uv_close((uv_handle_t *)&ts->async, on_async_closed);
}

/* The broadcast ends (a stop: the rung playlists end now, nothing is left
 * to finish for) or its rung hubs are going (a stopped stream publishes
 * again while the last session was still finishing): the session lets go
 * of them first. */
static void on_media_end(void *ud, live_stream_t *ls) {
  tstream_t *ts = stream_find(ud, live_stream_id(ls));
  if (ts) session_stop(ts, 0); /* the ladder (ts->rungs) stays listed while the playlists end */
}

/* The bandwidth meters of the stream's current broadcast: a new one starts
 * empty, not averaged with the last one's bits. */
static meter_t *meters_of(tstream_t *ts, live_stream_t *ls) {
  unsigned b = live_stream_broadcast(ls);
  if (ts->meters_broadcast != b) {
    memset(ts->meters, 0, sizeof(ts->meters));
    ts->meters_broadcast = b;
  }
  return ts->meters;
}

static void on_segment(void *ud, live_stream_t *ls, int index, uint64_t seq, double duration_s) {
  tstream_t *ts = stream_find(ud, live_stream_id(ls));
  live_rendition_t *r = live_rendition_get(ls, index);
  if (!ts || !r || index >= LIVE_MAX_RENDITIONS || duration_s <= 0) return;
  hls_buf_t *b = hls_segment_get(r->hls, HLS_TS, seq);
  if (!b) return;
  meter_t *m = &meters_of(ts, ls)[index];
  m->bits[m->next] = (uint64_t)b->len * 8;
  m->secs[m->next] = duration_s;
  m->next = (m->next + 1) % METER_SEGMENTS;
  if (m->n < METER_SEGMENTS) m->n++;
  hls_buf_unref(b);
  const media_config_t *cfg = hub_config(r->hub);
  if (cfg) {
    m->width = cfg->video_codec != CODEC_NONE ? cfg->width : 0;
    m->height = cfg->video_codec != CODEC_NONE ? cfg->height : 0;
    hls_codecs_string(cfg, m->codecs, sizeof(m->codecs));
    m->fps = cfg->framerate; /* 0 when unknown: the source's is then measured */
  }
}

int transcode_rendition_info(transcode_t *tc, live_stream_t *ls, int index,
                             transcode_rendition_info_t *out) {
  memset(out, 0, sizeof(*out));
  tstream_t *ts = tc ? stream_find(tc, live_stream_id(ls)) : NULL;
  live_rendition_t *r = live_rendition_get(ls, index);
  if (!ts || !r || index >= LIVE_MAX_RENDITIONS) return ERR_NOT_FOUND;
  out->in_ladder = index == 0;
  for (int i = 0; i < ts->nrungs; i++)
    if (ts->st[i].rend == r) out->in_ladder = 1;
  const meter_t *m = &meters_of(ts, ls)[index];
  uint64_t bits = 0;
  double secs = 0, peak = 0;
  for (unsigned i = 0; i < m->n; i++) {
    bits += m->bits[i];
    secs += m->secs[i];
    /* very short segments (a reconnect's last) say little about the peak */
    if (m->secs[i] >= 0.5 && m->bits[i] / m->secs[i] > peak) peak = m->bits[i] / m->secs[i];
  }
  if (secs > 0) {
    out->average_bps = (unsigned)(bits / secs);
    out->peak_bps = peak > out->average_bps ? (unsigned)peak : out->average_bps;
  }
  out->width = m->width;
  out->height = m->height;
  snprintf(out->codecs, sizeof(out->codecs), "%s", m->codecs);
  const media_config_t *cfg = hub_config(r->hub);
  out->fps = r->framerate;
  if (out->fps <= 0 && cfg && cfg->framerate > 0) out->fps = cfg->framerate;
  if (out->fps <= 0) out->fps = m->fps; /* idle: as at the last segment */
  if (out->fps <= 0 && index == 0) { /* no fps in the source's metadata: measured */
    hub_stats_t hs;
    hub_get_stats(r->hub, &hs);
    if (hs.pub_video_frames > 1 && hs.pub_last_dts > hs.pub_first_dts)
      out->fps = (double)(hs.pub_video_frames - 1) * 1000.0 /
                 (double)(hs.pub_last_dts - hs.pub_first_dts);
  }
  return m->n ? 0 : ERR_NOT_FOUND;
}

/* ---------- metrics ---------- */

static void collect(void *ud, metrics_text_t *t) {
  transcode_t *tc = ud;
  metrics_text_printf(t,
                      "# HELP onair_transcode_dropped_frames_total Frames a transcoded rendition "
                      "dropped because its encoder or the decoder fell behind, by stream and "
                      "rendition.\n"
                      "# TYPE onair_transcode_dropped_frames_total counter\n");
  for (tstream_t *ts = tc->streams; ts; ts = ts->next) {
    if (!ts->ls) continue;
    for (int i = 1; i < live_rendition_count(ts->ls) && i < LIVE_MAX_RENDITIONS; i++) {
      metrics_text_printf(t, "onair_transcode_dropped_frames_total{stream=\"%s\",rendition=\"",
                          ts->id);
      metrics_text_label(t, live_rendition_get(ts->ls, i)->name);
      metrics_text_printf(t, "\"} %llu\n", (unsigned long long)ts->dropped_total[i]);
    }
  }
  metrics_text_printf(t,
                      "# HELP onair_transcode_queue_frames Decoded frames waiting for a "
                      "rendition's encoder, by stream and rendition.\n"
                      "# TYPE onair_transcode_queue_frames gauge\n");
  for (tstream_t *ts = tc->streams; ts; ts = ts->next) {
    for (int i = 0; ts->session && i < ts->nrungs; i++) {
      uint64_t dropped;
      unsigned queued;
      tc_session_stats(ts->session, i, &dropped, &queued);
      metrics_text_printf(t, "onair_transcode_queue_frames{stream=\"%s\",rendition=\"", ts->id);
      metrics_text_label(t, ts->st[i].rend->name);
      metrics_text_printf(t, "\"} %u\n", queued);
    }
  }
}

/* ---------- public ---------- */

transcode_t *transcode_new(uv_loop_t *loop, live_t *live, store_t *store,
                           const transcode_opts_t *opts) {
  transcode_t *tc = calloc(1, sizeof(*tc));
  if (!tc) return NULL;
  tc->loop = loop;
  tc->live = live;
  tc->store = store;
  if (opts)
    tc->opts = *opts;
  else
    tc->opts.max_auto_rungs = 3;
  snprintf(tc->preset, sizeof(tc->preset), "%s",
           tc->opts.preset && *tc->opts.preset ? tc->opts.preset : "veryfast");
  tc->opts.preset = tc->preset;
  live_observer_t ob = {.on_publish_begin = on_publish_begin,
                        .on_publish_end = on_publish_end,
                        .on_forget = on_forget,
                        .on_media_end = on_media_end,
                        .on_segment = on_segment};
  if (metrics_add_collector(collect, tc)) {
    free(tc);
    return NULL;
  }
  if (live_observe(live, &ob, tc)) {
    metrics_remove_collector(collect, tc);
    free(tc);
    return NULL;
  }
  tc->collector = 1;
  return tc;
}

void transcode_free(transcode_t *tc) {
  if (!tc) return;
  if (tc->collector) metrics_remove_collector(collect, tc);
  /* live_free() forgot every stream; whatever is left never published */
  while (tc->streams) {
    tstream_t *ts = tc->streams;
    tc->streams = ts->next;
    stream_detach(ts, 0);
    uv_close((uv_handle_t *)&ts->async, on_async_closed);
  }
  free(tc);
}
