#include "live/live.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "live/lifecycle.h"

/* How long an ended playlist stays servable after the stream stopped, so
 * players see #EXT-X-ENDLIST before the memory is given back. */
#define ENDED_KEEP_MS (60u * 1000)

struct live_stream {
  live_t *lv;
  char id[37];
  hub_t *hub;           /* == rend[0].hub (the source) */
  hls_packager_t *hls;  /* == rend[0].hls */
  live_rendition_t rend[LIVE_MAX_RENDITIONS];
  struct rend_ctx {
    live_stream_t *ls;
    int index;
  } rend_ctx[LIVE_MAX_RENDITIONS]; /* segment callback context per rendition */
  int nrend;
  live_publisher_t pub;
  int has_pub;
  int status; /* last status we set or saw */
  uv_timer_t timer;
  int timer_is_drop; /* the timer frees the media (ended) rather than stops */
  uint64_t connected_at; /* wall ms of the current publisher's arrival */
  uint64_t hls_floor;    /* segment and init numbers below this were used by
                          * earlier packagers of this stream */
  uint64_t hls_floor_saved; /* what the database holds (store_stream_hls_floor) */
  int hls_floor_loaded;
  int low_latency; /* output_format ll-hls when this broadcast's packagers were made */
  unsigned broadcast; /* how many broadcasts' renditions were freed */
  live_stream_t *next;
};

#define MAX_OBSERVERS 8

struct live {
  uv_loop_t *loop;
  store_t *store;
  live_opts_t opts;
  live_stream_t *streams;
  live_observer_t observers[MAX_OBSERVERS];
  void *observer_ud[MAX_OBSERVERS];
  int nobservers;
};

int live_observe(live_t *lv, const live_observer_t *ob, void *ud) {
  if (lv->nobservers == MAX_OBSERVERS) return ERR_NOMEM;
  lv->observers[lv->nobservers] = *ob;
  lv->observer_ud[lv->nobservers++] = ud;
  return 0;
}

/* Calls one observer callback (by member) on every observer that has it. */
#define NOTIFY(lv, member, ls)                                                  \
  do {                                                                          \
    for (int i_ = 0; i_ < (lv)->nobservers; i_++)                               \
      if ((lv)->observers[i_].member) (lv)->observers[i_].member((lv)->observer_ud[i_], ls); \
  } while (0)

live_t *live_new(uv_loop_t *loop, store_t *store, const live_opts_t *opts) {
  live_t *lv = calloc(1, sizeof(*lv));
  if (!lv) return NULL;
  lv->loop = loop;
  lv->store = store;
  lv->opts = *opts;
  if (!lv->opts.hls_target_ms) lv->opts.hls_target_ms = 2000;
  if (!lv->opts.hls_window) lv->opts.hls_window = 6;
  /* LL-HLS parts: a third of a segment by default, plus 3 ms for the
   * millisecond rounding of frame times (336 ms at 1 s: three parts of 10
   * frames at 30 fps, 333 or 334 ms each), not shorter than 200 ms, never
   * longer than a segment. */
  if (!lv->opts.hls_part_ms) lv->opts.hls_part_ms = lv->opts.hls_target_ms / 3 + 3;
  if (lv->opts.hls_part_ms < 200) lv->opts.hls_part_ms = 200;
  if (lv->opts.hls_part_ms > lv->opts.hls_target_ms) lv->opts.hls_part_ms = lv->opts.hls_target_ms;
  return lv;
}

static live_stream_t *find(live_t *lv, const char *id) {
  for (live_stream_t *ls = lv->streams; ls; ls = ls->next)
    if (strcmp(ls->id, id) == 0) return ls;
  return NULL;
}

/* The database keeps the numbering floor this far ahead of the numbers the
 * packagers have used, so it is written about once per 48 segments and a
 * crash loses nothing: a later broadcast starts above it even if the clock
 * went back (hls_opts_t.first_seq). */
#define HLS_FLOOR_AHEAD 64

static void save_hls_floor(live_stream_t *ls, uint64_t end) {
  if (end <= ls->hls_floor_saved) return;
  int rc = store_stream_raise_hls_floor(ls->lv->store, ls->id, end);
  if (rc == 0)
    ls->hls_floor_saved = end;
  else
    log_warn("hls_floor_save_failed id=%s err=%s", ls->id, err_str(rc));
}

static void media_free(live_stream_t *ls) {
  /* Whatever still feeds the rungs (the transcoder, finishing its frames
   * after the publisher left) lets go first. */
  NOTIFY(ls->lv, on_media_end, ls);
  /* Rungs before the source: a rung's packager takes the source's clock. */
  for (int i = ls->nrend - 1; i >= 0; i--) {
    if (ls->rend[i].hls) {
      uint64_t used = hls_numbers_end(ls->rend[i].hls);
      if (used > ls->hls_floor) ls->hls_floor = used;
      hls_packager_free(ls->rend[i].hls);
    }
    if (ls->rend[i].hub) hub_free(ls->rend[i].hub);
  }
  save_hls_floor(ls, ls->hls_floor);
  memset(ls->rend, 0, sizeof(ls->rend));
  ls->nrend = 0;
  ls->broadcast++;
  ls->hls = NULL;
  ls->hub = NULL;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

/* Unlinks and frees an entry (its timer is closed first; memory goes in the
 * close callback, per libuv's rule). */
static void entry_free(live_stream_t *ls) {
  live_t *lv = ls->lv;
  NOTIFY(lv, on_forget, ls);
  for (live_stream_t **pp = &lv->streams; *pp; pp = &(*pp)->next) {
    if (*pp == ls) {
      *pp = ls->next;
      break;
    }
  }
  media_free(ls);
  uv_timer_stop(&ls->timer);
  uv_close((uv_handle_t *)&ls->timer, on_timer_closed);
}

static live_stream_t *entry_get(live_t *lv, const char *id) {
  live_stream_t *ls = find(lv, id);
  if (ls) return ls;
  ls = calloc(1, sizeof(*ls));
  if (!ls) return NULL;
  ls->lv = lv;
  snprintf(ls->id, sizeof(ls->id), "%s", id);
  ls->status = -1;
  uv_timer_init(lv->loop, &ls->timer);
  ls->timer.data = ls;
  ls->next = lv->streams;
  lv->streams = ls;
  return ls;
}

/* Loads the stream and moves it to `to` when allowed; 0 or ERR_*. */
static int transition(live_stream_t *ls, int to) {
  store_stream_t s;
  int rc = store_stream_get_any(ls->lv->store, ls->id, &s);
  if (rc) return rc;
  rc = s.status == to ? 0 : lifecycle_transition(ls->lv->store, &s, to);
  if (rc == 0) ls->status = to;
  else
    log_debug("stream_transition_skipped id=%s from=%s to=%s", ls->id,
              lifecycle_status_name(s.status), lifecycle_status_name(to));
  store_stream_clear(&s);
  return rc;
}

static void on_timeout(uv_timer_t *t);

static void arm_timeout(live_stream_t *ls, const store_stream_t *s) {
  json_error_t jerr;
  json_t *params = s->params_json ? json_loads(s->params_json, 0, &jerr) : NULL;
  json_int_t secs = json_integer_value(json_object_get(params, "stream_timeout"));
  json_decref(params);
  if (secs <= 0) secs = 120;
  ls->timer_is_drop = 0;
  uv_timer_start(&ls->timer, on_timeout, (uint64_t)secs * 1000, 0);
}

static void end_media(live_stream_t *ls) {
  NOTIFY(ls->lv, on_media_end, ls);
  if (ls->hub) hub_unpublish(ls->hub);
  for (int i = 1; i < ls->nrend; i++) hls_packager_end(ls->rend[i].hls);
  if (ls->hls) {
    hls_packager_end(ls->hls);
    ls->timer_is_drop = 1;
    uv_timer_start(&ls->timer, on_timeout, ENDED_KEEP_MS, 0);
  }
}

static void on_timeout(uv_timer_t *t) {
  live_stream_t *ls = t->data;
  if (ls->timer_is_drop) {
    log_debug("stream_media_dropped id=%s", ls->id);
    entry_free(ls);
    return;
  }
  if (ls->has_pub) return;
  log_info("stream_timeout id=%s", ls->id);
  if (transition(ls, STREAM_STOPPED) == 0) end_media(ls);
  if (!ls->hls) entry_free(ls);
}

/* A publish went live: an earlier one's failure no longer applies. */
static void clear_ingest_error(live_stream_t *ls) {
  int rc = store_stream_set_ingest_error(ls->lv->store, ls->id, NULL, 0);
  if (rc && rc != ERR_NOT_FOUND)
    log_warn("ingest_error_clear_failed id=%s err=%s", ls->id, err_str(rc));
}

static void on_segment(void *ud, uint64_t seq, double duration_s) {
  struct rend_ctx *rc = ud;
  live_stream_t *ls = rc->ls;
  live_t *lv = ls->lv;
  /* seed 003: launching until the output can be played, then live. */
  if (rc->index == 0 && ls->has_pub && ls->status == STREAM_LAUNCHING &&
      transition(ls, STREAM_LIVE) == 0)
    clear_ingest_error(ls);
  uint64_t used = hls_numbers_end(ls->rend[rc->index].hls);
  if (used + HLS_FLOOR_AHEAD / 4 > ls->hls_floor_saved) save_hls_floor(ls, used + HLS_FLOOR_AHEAD);
  for (int i = 0; i < lv->nobservers; i++)
    if (lv->observers[i].on_segment)
      lv->observers[i].on_segment(lv->observer_ud[i], ls, rc->index, seq, duration_s);
}

live_rendition_t *live_rendition_add(live_stream_t *ls, const char *name, int width, int height,
                                     unsigned bitrate_kbps, double framerate) {
  live_rendition_t *r = live_rendition_find(ls, name);
  if (!r) {
    if (ls->nrend == LIVE_MAX_RENDITIONS || strlen(name) >= sizeof(r->name)) return NULL;
    int i = ls->nrend;
    r = &ls->rend[i];
    uint64_t now_ms = (uint64_t)util_now_ms();
    if (!ls->hls_floor_loaded) { /* the first broadcast since this process started */
      uint64_t stored = 0;
      if (store_stream_hls_floor(ls->lv->store, ls->id, &stored) == 0) {
        ls->hls_floor_loaded = 1;
        ls->hls_floor_saved = stored;
        if (stored > ls->hls_floor) ls->hls_floor = stored;
      }
    }
    hls_opts_t ho = {.target_ms = ls->lv->opts.hls_target_ms,
                     .window = ls->lv->opts.hls_window,
                     .fmp4_on_demand = ls->lv->opts.hls_fmp4_on_demand,
                     /* Segment URLs are cached as immutable, so a broadcast
                      * must not reuse an earlier one's numbers (after a stop
                      * or a restart): it counts from its start time in ms,
                      * which no earlier broadcast of this stream reached
                      * (it would need a segment per ms), and at least from
                      * where the earlier ones ended, kept in this process
                      * and in the database (in case the clock was set back). */
                     .first_seq = now_ms > ls->hls_floor ? now_ms : ls->hls_floor,
                     .part_ms = ls->low_latency ? ls->lv->opts.hls_part_ms : 0,
                     /* rungs date their segments by the source's clock (freed last) */
                     .clock = i > 0 ? ls->rend[0].hls : NULL};
    ls->rend_ctx[i] = (struct rend_ctx){.ls = ls, .index = i};
    r->hub = hub_new(ls->id);
    r->hls = r->hub ? hls_packager_new(r->hub, &ho, on_segment, &ls->rend_ctx[i]) : NULL;
    if (!r->hls) {
      if (r->hub) hub_free(r->hub);
      memset(r, 0, sizeof(*r));
      return NULL;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    ls->nrend++;
    if (i == 0) {
      ls->hub = r->hub;
      ls->hls = r->hls;
    }
  }
  r->width = width;
  r->height = height;
  r->bitrate_kbps = bitrate_kbps;
  r->framerate = framerate;
  return r;
}

int live_rendition_count(const live_stream_t *ls) { return ls->nrend; }

live_rendition_t *live_rendition_get(live_stream_t *ls, int index) {
  return index >= 0 && index < ls->nrend ? &ls->rend[index] : NULL;
}

live_rendition_t *live_rendition_find(live_stream_t *ls, const char *name) {
  for (int i = 0; i < ls->nrend; i++)
    if (strcmp(ls->rend[i].name, name) == 0) return &ls->rend[i];
  return NULL;
}

static void kick(live_stream_t *ls, const char *reason);
static void went_idle(live_t *lv, live_stream_t *ls);

/* An encoder whose connection stalled (network drop, frozen process) keeps
 * its slot until the ingest notices (30 s without data for RTMP), and its
 * own reconnect would be refused all that time. One silent for
 * LIVE_PUBLISHER_STALE_MS gives way to the new publish, exactly as if it
 * had disconnected first (idle, then launching: the playlist continues
 * after a discontinuity). One that is sending is never disturbed.
 * 1 when the stream has no publisher now. */
static int replace_stale_publisher(live_t *lv, live_stream_t *ls) {
  uint64_t silent = ls->pub.silent_ms ? ls->pub.silent_ms(ls->pub.ud) : 0;
  if (silent < LIVE_PUBLISHER_STALE_MS) return 0;
  log_info("publisher_replaced id=%s stale_ms=%llu", ls->id, (unsigned long long)silent);
  kick(ls, LIVE_REASON_REPLACED);
  went_idle(lv, ls);
  return 1;
}

int live_publish_begin(live_t *lv, const char *stream_key, const char *protocol,
                       const live_publisher_t *pub, live_stream_t **out) {
  store_stream_t s;
  int rc = store_stream_get_by_key(lv->store, stream_key, &s);
  if (rc) return rc;
  if (s.status == STREAM_DISABLED) {
    store_stream_clear(&s);
    return ERR_FORBIDDEN;
  }
  live_stream_t *ls = find(lv, s.id);
  if (ls && ls->has_pub && s.status != STREAM_STOPPING && replace_stale_publisher(lv, ls)) {
    store_stream_clear(&s); /* its status changed (idle): read it again */
    if ((rc = store_stream_get_by_key(lv->store, stream_key, &s))) return rc;
  }
  if ((ls && ls->has_pub) || s.status == STREAM_STOPPING) {
    store_stream_clear(&s);
    return ERR_CONFLICT;
  }
  if (!ls && !(ls = entry_get(lv, s.id))) {
    store_stream_clear(&s);
    return ERR_NOMEM;
  }
  uv_timer_stop(&ls->timer);
  /* A stopped stream starts a new broadcast: a fresh playlist. Within the
   * reconnect window (idle) the playlist continues. */
  if (s.status != STREAM_IDLE && s.status != STREAM_LAUNCHING && s.status != STREAM_LIVE)
    media_free(ls);
  json_error_t jerr;
  json_t *params = s.params_json ? json_loads(s.params_json, 0, &jerr) : NULL;
  if (!ls->hub) { /* a new broadcast: its form is fixed until it ends */
    const char *of = json_string_value(json_object_get(params, "output_format"));
    ls->low_latency = of && strcmp(of, "ll-hls") == 0;
    if (!live_rendition_add(ls, "source", 0, 0, 0, 0)) {
      entry_free(ls);
      store_stream_clear(&s);
      json_decref(params);
      return ERR_NOMEM;
    }
  }
  if (s.status != STREAM_LAUNCHING && (rc = lifecycle_transition(lv->store, &s, STREAM_LAUNCHING))) {
    store_stream_clear(&s);
    json_decref(params);
    return rc;
  }
  ls->status = STREAM_LAUNCHING;
  /* seed 003: input_format follows the protocol actually used. */
  const char *cur = json_string_value(json_object_get(params, "input_format"));
  if (params && (!cur || strcmp(cur, protocol) != 0)) {
    json_object_set_new(params, "input_format", json_string(protocol));
    char *text = json_dumps(params, JSON_COMPACT);
    if (text) {
      free(s.params_json);
      s.params_json = text;
      store_stream_update(lv->store, &s);
    }
  }
  json_decref(params);
  ls->pub = *pub;
  ls->has_pub = 1;
  ls->connected_at = (uint64_t)util_now() * 1000;
  log_info("publish_begin id=%s protocol=%s", s.id, protocol);
  NOTIFY(lv, on_publish_begin, ls);
  store_stream_clear(&s);
  *out = ls;
  return 0;
}

/* The publisher is gone (left or kicked): launching/live → idle, and the
 * reconnect window (stream_timeout) starts. */
static void went_idle(live_t *lv, live_stream_t *ls) {
  if (ls->hub) hub_unpublish(ls->hub);
  store_stream_t s;
  if (store_stream_get_any(lv->store, ls->id, &s) != 0) return;
  if ((s.status == STREAM_LAUNCHING || s.status == STREAM_LIVE) &&
      lifecycle_transition(lv->store, &s, STREAM_IDLE) == 0) {
    ls->status = STREAM_IDLE;
    arm_timeout(ls, &s);
  }
  store_stream_clear(&s);
}

void live_publish_end(live_t *lv, live_stream_t *ls) {
  if (!ls->has_pub) return;
  ls->has_pub = 0;
  ls->connected_at = 0;
  memset(&ls->pub, 0, sizeof(ls->pub));
  log_info("publish_end id=%s", ls->id);
  NOTIFY(lv, on_publish_end, ls);
  went_idle(lv, ls);
}

void live_publish_fail(live_t *lv, live_stream_t *ls, const char *message) {
  log_warn("publish_failed id=%s reason=\"%s\"", ls->id, message);
  int rc = store_stream_set_ingest_error(lv->store, ls->id, message, util_now());
  if (rc) log_warn("ingest_error_save_failed id=%s err=%s", ls->id, err_str(rc));
}

hub_t *live_stream_hub(live_stream_t *ls) { return ls->hub; }
live_stream_t *live_find(live_t *lv, const char *stream_id) { return find(lv, stream_id); }
int live_stream_publishing(const live_stream_t *ls) { return ls->has_pub; }
uint64_t live_stream_connected_at(const live_stream_t *ls) { return ls->connected_at; }
unsigned live_stream_broadcast(const live_stream_t *ls) { return ls->broadcast; }
const char *live_stream_id(const live_stream_t *ls) { return ls->id; }

static void kick(live_stream_t *ls, const char *reason) {
  if (!ls->has_pub) return;
  live_publisher_t pub = ls->pub;
  ls->has_pub = 0;
  ls->connected_at = 0;
  memset(&ls->pub, 0, sizeof(ls->pub));
  log_info("publisher_kicked id=%s reason=%s", ls->id, reason);
  if (pub.kick) pub.kick(pub.ud, reason);
  NOTIFY(ls->lv, on_publish_end, ls);
}

int live_start(live_t *lv, store_stream_t *s) {
  static const int path[] = {STREAM_STARTING, STREAM_WAITING};
  if (!lifecycle_can_transition(s->status, path[0])) return ERR_CONFLICT;
  for (int i = 0; i < 2; i++) {
    int rc = lifecycle_transition(lv->store, s, path[i]);
    if (rc) return rc;
  }
  live_stream_t *ls = entry_get(lv, s->id);
  if (ls) {
    ls->status = STREAM_WAITING;
    arm_timeout(ls, s);
  }
  return 0;
}

int live_stop(live_t *lv, store_stream_t *s) {
  if (!lifecycle_can_transition(s->status, STREAM_STOPPING)) return ERR_CONFLICT;
  int rc = lifecycle_transition(lv->store, s, STREAM_STOPPING);
  live_stream_t *ls = find(lv, s->id);
  if (ls) {
    kick(ls, "stopped");
    uv_timer_stop(&ls->timer);
  }
  if (!rc) rc = lifecycle_transition(lv->store, s, STREAM_STOPPED);
  if (ls) {
    ls->status = s->status;
    end_media(ls);
    if (!ls->hls) entry_free(ls);
  }
  return rc;
}

int live_disable(live_t *lv, store_stream_t *s) {
  if (!lifecycle_can_transition(s->status, STREAM_DISABLED)) return ERR_CONFLICT;
  live_stream_t *ls = find(lv, s->id);
  if (ls) {
    kick(ls, "disabled");
    uv_timer_stop(&ls->timer);
  }
  int rc = lifecycle_transition(lv->store, s, STREAM_DISABLED);
  if (ls) {
    ls->status = s->status;
    end_media(ls);
    if (!ls->hls) entry_free(ls);
  }
  return rc;
}

int live_enable(live_t *lv, store_stream_t *s) {
  (void)lv;
  if (s->status != STREAM_DISABLED) return ERR_CONFLICT;
  return lifecycle_transition(lv->store, s, STREAM_CREATED);
}

void live_kick(live_t *lv, const char *stream_id, const char *reason) {
  live_stream_t *ls = find(lv, stream_id);
  if (!ls || !ls->has_pub) return;
  kick(ls, reason);
  went_idle(lv, ls);
}

void live_forget(live_t *lv, const char *stream_id, const char *reason) {
  live_stream_t *ls = find(lv, stream_id);
  if (!ls) return;
  kick(ls, reason);
  entry_free(ls);
}

hls_packager_t *live_packager(live_t *lv, const char *stream_id) {
  live_stream_t *ls = find(lv, stream_id);
  return ls ? ls->hls : NULL;
}

static int recover_one(void *ud, const store_stream_t *cs) {
  live_t *lv = ud;
  if (!lifecycle_is_running(cs->status)) return 0;
  store_stream_t s = *cs; /* shallow: lifecycle_transition only touches status fields */
  int to = cs->status == STREAM_STARTING || cs->status == STREAM_WAITING ? STREAM_WAITING
           : cs->status == STREAM_STOPPING                               ? STREAM_STOPPED
                                                                         : STREAM_IDLE;
  if (cs->status == STREAM_LIVE || cs->status == STREAM_LAUNCHING)
    lifecycle_transition(lv->store, &s, STREAM_IDLE);
  else if (cs->status != to)
    lifecycle_transition(lv->store, &s, to);
  if (s.status == STREAM_WAITING || s.status == STREAM_IDLE) {
    live_stream_t *ls = entry_get(lv, s.id);
    if (ls) {
      ls->status = s.status;
      arm_timeout(ls, &s);
    }
  }
  return 0;
}

int live_recover(live_t *lv) { return store_stream_list_all(lv->store, recover_one, lv); }

void live_free(live_t *lv) {
  if (!lv) return;
  while (lv->streams) {
    live_stream_t *ls = lv->streams;
    kick(ls, "shutdown");
    entry_free(ls);
  }
  free(lv);
}
