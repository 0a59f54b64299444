/* Simulcast: one pusher (rtmp_client + hub consumer) per target of every
 * live stream; state machine, bounded queue with drop-to-keyframe, and
 * reconnects with backoff driven by one ticking timer. */
#include "media/simulcast/simulcast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"
#include "live/stream_view.h"
#include "media/hub/hub.h"
#include "media/rtmp/client.h"

#define TICK_MS 250
/* A session that stayed live this long resets the backoff. */
#define STABLE_MS 10000

typedef enum { T_IDLE = 0, T_CONNECTING, T_LIVE, T_ERROR } tstate_t;
static const char *const state_names[] = {"idle", "connecting", "live", "error"};

typedef struct sstream sstream_t;
typedef struct target target_t;

struct target {
  sstream_t *st;
  target_t *next;
  char id[37];
  char *url, *key;
  char host[256]; /* for logs: never the key */
  tstate_t state;
  char reason[256];
  char last_error[256]; /* reason of the last error announced */
  int64_t since;
  int running;    /* the stream is live: keep this target pushing */
  rtmp_client_t *client;
  hub_consumer_t *consumer;
  int subscribing; /* inside hub_subscribe (no handle yet) */
  int want_unsub;
  uint64_t retry_at; /* loop ms of the next attempt (error state) */
  unsigned backoff_ms;
  uint64_t live_at;
  int config_sent, has_video, waiting_key, dropping;
  uint64_t dropped, dropped_episode, sent;
};

struct sstream {
  simulcast_t *sc;
  sstream_t *next;
  char id[37];
  char project_id[37];
  live_stream_t *ls; /* while publishing */
  hub_t *hub;
  target_t *targets;
};

struct simulcast {
  uv_loop_t *loop;
  live_t *live;
  store_t *store;
  simulcast_opts_t opts;
  uv_timer_t tick;
  int tick_open;
  SSL_CTX *tls;
  sstream_t *streams;
  int stopped;
};

/* ---------- state ---------- */

static json_t *status_json(const target_t *t) {
  char ts[32];
  return json_pack("{s:s, s:o, s:s, s:I}", "name", state_names[t->state], "reason",
                   t->reason[0] ? json_string(t->reason) : json_null(), "since",
                   util_format_time(t->since, ts, sizeof(ts)), "dropped_frames",
                   (json_int_t)t->dropped);
}

static void set_state(target_t *t, tstate_t s, const char *reason) {
  if (!reason) reason = "";
  if (t->state == s && strcmp(t->reason, reason) == 0) return;
  /* A retry that fails the same way again is not news: a dead target would
   * otherwise announce connecting + error on every backoff step. */
  int quiet = (s == T_CONNECTING && t->state == T_ERROR) ||
              (s == T_ERROR && t->state == T_CONNECTING && strcmp(reason, t->last_error) == 0);
  if (s == T_ERROR) snprintf(t->last_error, sizeof(t->last_error), "%s", reason);
  if (s == T_LIVE || s == T_IDLE) t->last_error[0] = '\0';
  t->state = s;
  snprintf(t->reason, sizeof(t->reason), "%s", reason);
  t->since = util_now();
  sstream_t *st = t->st;
  if (quiet)
    log_debug("simulcast_state stream=%s target=%s host=%s state=%s reason=\"%s\" retry=1",
              st->id, t->id, t->host, state_names[s], t->reason);
  else if (s == T_ERROR)
    log_warn("simulcast_state stream=%s target=%s host=%s state=%s reason=\"%s\"", st->id, t->id,
             t->host, state_names[s], t->reason);
  else
    log_info("simulcast_state stream=%s target=%s host=%s state=%s", st->id, t->id, t->host,
             state_names[s]);
  if (st->sc->stopped || quiet) return;
  char type[64];
  snprintf(type, sizeof(type), "simulcast_target.%s", state_names[s]);
  json_t *data = json_pack("{s:s, s:s, s:s, s:o}", "id", t->id, "stream_id", st->id, "url",
                           t->url, "status", status_json(t));
  events_emit(type, st->project_id[0] ? st->project_id : NULL, st->id, data);
}

/* ---------- pushing ---------- */

static void unsubscribe(target_t *t) {
  if (t->subscribing) t->want_unsub = 1;
  if (t->consumer && t->st->hub) hub_unsubscribe(t->st->hub, t->consumer);
  t->consumer = NULL;
}

static void disconnect(target_t *t) {
  unsubscribe(t);
  if (t->client) rtmp_client_close(t->client);
  t->client = NULL;
  t->config_sent = 0;
  if (t->dropping)
    log_info("simulcast_drops stream=%s target=%s dropped=%llu", t->st->id, t->id,
             (unsigned long long)t->dropped_episode);
  t->dropping = 0;
}

/* The connection is gone (or never came): error, and a retry later. */
static void fail(target_t *t, const char *reason) {
  simulcast_t *sc = t->st->sc;
  disconnect(t);
  if (!t->running) {
    set_state(t, T_IDLE, NULL);
    return;
  }
  uint64_t now = uv_now(sc->loop);
  if (t->live_at && now - t->live_at >= STABLE_MS) t->backoff_ms = sc->opts.backoff_min_ms;
  t->live_at = 0;
  t->retry_at = now + t->backoff_ms;
  t->backoff_ms = t->backoff_ms * 2 > sc->opts.backoff_max_ms ? sc->opts.backoff_max_ms
                                                               : t->backoff_ms * 2;
  set_state(t, T_ERROR, reason);
}

static void send_failed(target_t *t, int rc) {
  char why[96];
  snprintf(why, sizeof(why), "send failed: %s", err_str(rc));
  fail(t, why);
}

static void on_hub_config(void *ud, const media_config_t *cfg) {
  target_t *t = ud;
  if (!t->client) return;
  t->has_video = cfg->video_codec != CODEC_NONE;
  int rc = rtmp_client_send_config(t->client, cfg);
  if (rc) {
    send_failed(t, rc);
    return;
  }
  t->config_sent = 1;
  t->waiting_key = t->has_video; /* frames after a new config start at a keyframe */
}

static void on_hub_frame(void *ud, media_frame_t *f) {
  target_t *t = ud;
  if (!t->client || !t->config_sent) return;
  if (f->codec != CODEC_H264 && f->codec != CODEC_HEVC && f->codec != CODEC_AAC) return;
  size_t limit = t->st->sc->opts.queue_bytes;
  size_t queued = rtmp_client_queued(t->client);
  int key = f->kind == MEDIA_VIDEO && f->keyframe;
  if (t->waiting_key && !key) {
    /* After a config change, or behind: the target gets whole GOPs only;
     * audio waits along with the video. Counted when it is a drop. */
    if (t->dropping) t->dropped++, t->dropped_episode++;
    return;
  }
  if (queued + f->len > limit) {
    t->dropped++;
    t->dropped_episode++;
    if (t->has_video) t->waiting_key = 1;
    if (!t->dropping) {
      t->dropping = 1;
      log_warn("simulcast_behind stream=%s target=%s host=%s queued=%zu", t->st->id, t->id,
               t->host, queued);
    }
    return;
  }
  t->waiting_key = 0;
  if (t->dropping) {
    log_info("simulcast_caught_up stream=%s target=%s dropped=%llu", t->st->id, t->id,
             (unsigned long long)t->dropped_episode);
    t->dropping = 0;
    t->dropped_episode = 0;
  }
  int rc = rtmp_client_send_frame(t->client, f);
  if (rc == ERR_UNSUPPORTED) return;
  if (rc) {
    send_failed(t, rc);
    return;
  }
  t->sent++;
}

static void on_hub_unpublish(void *ud) {
  target_t *t = ud;
  t->config_sent = 0;
}

static const hub_consumer_ops_t hub_ops = {on_hub_config, on_hub_frame, on_hub_unpublish};

static void on_client_live(void *ud) {
  target_t *t = ud;
  sstream_t *st = t->st;
  t->live_at = uv_now(st->sc->loop);
  set_state(t, T_LIVE, NULL);
  if (!st->hub) {
    fail(t, "the stream has no media");
    return;
  }
  /* on_config and the cached GOP arrive synchronously: the target starts
   * at a keyframe. */
  t->subscribing = 1;
  t->want_unsub = 0;
  hub_consumer_t *c = hub_subscribe(st->hub, &hub_ops, t);
  t->subscribing = 0;
  if (t->want_unsub) {
    if (c) hub_unsubscribe(st->hub, c);
    t->want_unsub = 0;
    return;
  }
  if (!c) {
    fail(t, "out of memory");
    return;
  }
  t->consumer = c;
}

static void on_client_closed(void *ud, const char *reason) {
  target_t *t = ud;
  t->client = NULL; /* freed by itself */
  fail(t, reason);
}

static void target_connect(target_t *t) {
  simulcast_t *sc = t->st->sc;
  t->retry_at = 0;
  t->config_sent = 0;
  t->waiting_key = 0;
  set_state(t, T_CONNECTING, NULL);
  rtmp_client_opts_t o = {.tls_verify = sc->opts.tls_verify, .timeout_ms = sc->opts.timeout_ms};
  if (strncmp(t->url, "rtmps://", 8) == 0) {
    if (!sc->tls) sc->tls = rtmp_client_tls_ctx_new(sc->opts.tls_verify);
    if (!sc->tls) {
      fail(t, "TLS is not available (no CA certificates?)");
      return;
    }
    o.tls_ctx = sc->tls;
  }
  rtmp_client_cbs_t cbs = {on_client_live, on_client_closed};
  int rc = rtmp_client_start(sc->loop, t->url, t->key, &o, &cbs, t, &t->client);
  if (rc) {
    t->client = NULL;
    fail(t, rc == ERR_INVALID ? "invalid target url" : err_str(rc));
  }
}

/* ---------- targets of a stream ---------- */

static void host_of(const char *url, char *out, size_t outlen) {
  rtmp_url_t u;
  if (rtmp_url_parse(url, &u) == 0)
    snprintf(out, outlen, "%.200s:%d", u.host, u.port);
  else
    snprintf(out, outlen, "?");
}

static void target_free(target_t *t) {
  disconnect(t);
  free(t->url);
  free(t->key);
  free(t);
}

/* Stops a target (the stream ended or the target went away): idle. */
static void target_stop(target_t *t) {
  t->running = 0;
  t->retry_at = 0;
  disconnect(t);
  set_state(t, T_IDLE, NULL);
}

static target_t *target_new(sstream_t *st, const store_simulcast_t *s) {
  target_t *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->st = st;
  snprintf(t->id, sizeof(t->id), "%s", s->id);
  t->url = strdup(s->url);
  t->key = strdup(s->stream_key);
  if (!t->url || !t->key) {
    free(t->url);
    free(t->key);
    free(t);
    return NULL;
  }
  host_of(s->url, t->host, sizeof(t->host));
  t->state = T_IDLE;
  t->since = s->created_at;
  t->backoff_ms = st->sc->opts.backoff_min_ms;
  return t;
}

/* Brings the in-memory targets in line with the store, and starts every
 * target that is not running when the stream is live. */
static void stream_sync(sstream_t *st) {
  simulcast_t *sc = st->sc;
  store_simulcast_t *list = NULL;
  size_t n = 0;
  if (store_simulcast_list(sc->store, st->id, &list, &n) != 0) {
    log_error("simulcast_load_failed stream=%s", st->id);
    return;
  }
  /* removed targets */
  for (target_t **pp = &st->targets; *pp;) {
    target_t *t = *pp;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) found = strcmp(list[i].id, t->id) == 0;
    if (found) {
      pp = &t->next;
      continue;
    }
    *pp = t->next;
    if (t->state != T_IDLE) target_stop(t);
    log_info("simulcast_target_removed stream=%s target=%s", st->id, t->id);
    target_free(t);
  }
  /* new targets, in the store's order (oldest first) */
  target_t **tail = &st->targets;
  while (*tail) tail = &(*tail)->next;
  for (size_t i = 0; i < n; i++) {
    target_t *t = st->targets;
    while (t && strcmp(t->id, list[i].id) != 0) t = t->next;
    if (!t && (t = target_new(st, &list[i])) != NULL) {
      *tail = t;
      tail = &t->next;
    }
  }
  for (size_t i = 0; i < n; i++) store_simulcast_clear(&list[i]);
  free(list);
  if (!st->ls) return;
  for (target_t *t = st->targets; t; t = t->next) {
    if (t->running) continue;
    t->running = 1;
    t->backoff_ms = sc->opts.backoff_min_ms;
    t->dropped = 0;
    target_connect(t);
  }
}

static sstream_t *stream_find(simulcast_t *sc, const char *id) {
  for (sstream_t *st = sc->streams; st; st = st->next)
    if (strcmp(st->id, id) == 0) return st;
  return NULL;
}

static sstream_t *stream_get(simulcast_t *sc, const char *id) {
  sstream_t *st = stream_find(sc, id);
  if (st) return st;
  st = calloc(1, sizeof(*st));
  if (!st) return NULL;
  st->sc = sc;
  snprintf(st->id, sizeof(st->id), "%s", id);
  store_stream_t s;
  if (store_stream_get_any(sc->store, id, &s) == 0) {
    snprintf(st->project_id, sizeof(st->project_id), "%s", s.project_id);
    store_stream_clear(&s);
  }
  st->next = sc->streams;
  sc->streams = st;
  return st;
}

static void stream_stop(sstream_t *st) {
  for (target_t *t = st->targets; t; t = t->next)
    if (t->running || t->state != T_IDLE) target_stop(t);
  st->ls = NULL;
  st->hub = NULL;
}

static void stream_free(sstream_t *st) {
  simulcast_t *sc = st->sc;
  for (sstream_t **pp = &sc->streams; *pp; pp = &(*pp)->next) {
    if (*pp == st) {
      *pp = st->next;
      break;
    }
  }
  while (st->targets) {
    target_t *t = st->targets;
    st->targets = t->next;
    target_free(t);
  }
  free(st);
}

/* ---------- live observer ---------- */

static void start_stream(simulcast_t *sc, live_stream_t *ls) {
  sstream_t *st = stream_get(sc, live_stream_id(ls));
  if (!st) {
    log_error("simulcast_out_of_memory stream=%s", live_stream_id(ls));
    return;
  }
  st->ls = ls;
  st->hub = live_stream_hub(ls);
  stream_sync(st);
}

static void on_publish_begin(void *ud, live_stream_t *ls) {
  simulcast_t *sc = ud;
  if (sc->stopped) return;
  start_stream(sc, ls);
}

static void on_publish_end(void *ud, live_stream_t *ls) {
  simulcast_t *sc = ud;
  if (sc->stopped) return;
  sstream_t *st = stream_find(sc, live_stream_id(ls));
  if (st) stream_stop(st);
}

static void on_forget(void *ud, live_stream_t *ls) {
  simulcast_t *sc = ud;
  if (sc->stopped) return;
  sstream_t *st = stream_find(sc, live_stream_id(ls));
  if (!st) return;
  stream_stop(st);
  stream_free(st);
}

static void on_tick(uv_timer_t *h) {
  simulcast_t *sc = h->data;
  uint64_t now = uv_now(sc->loop);
  for (sstream_t *st = sc->streams; st; st = st->next) {
    if (!st->ls) continue;
    for (target_t *t = st->targets; t; t = t->next)
      if (t->running && !t->client && t->retry_at && now >= t->retry_at) target_connect(t);
  }
}

static json_t *view_hook(void *ud, const char *stream_id, const char *target_id) {
  return simulcast_target_status(ud, stream_id, target_id);
}

/* ---------- public ---------- */

simulcast_t *simulcast_new(uv_loop_t *loop, live_t *live, store_t *store,
                           const simulcast_opts_t *opts) {
  simulcast_t *sc = calloc(1, sizeof(*sc));
  if (!sc) return NULL;
  sc->loop = loop;
  sc->live = live;
  sc->store = store;
  if (opts) sc->opts = *opts;
  if (!sc->opts.queue_bytes) sc->opts.queue_bytes = 8u * 1024 * 1024;
  if (!sc->opts.backoff_min_ms) sc->opts.backoff_min_ms = 1000;
  if (!sc->opts.backoff_max_ms) sc->opts.backoff_max_ms = 30000;
  if (sc->opts.backoff_max_ms < sc->opts.backoff_min_ms)
    sc->opts.backoff_max_ms = sc->opts.backoff_min_ms;
  if (!sc->opts.timeout_ms) sc->opts.timeout_ms = 10000;
  live_observer_t ob = {.on_publish_begin = on_publish_begin,
                       .on_publish_end = on_publish_end,
                       .on_forget = on_forget};
  if (live_observe(live, &ob, sc) != 0) {
    free(sc);
    return NULL;
  }
  uv_timer_init(loop, &sc->tick);
  sc->tick.data = sc;
  sc->tick_open = 1;
  uv_timer_start(&sc->tick, on_tick, TICK_MS, TICK_MS);
  stream_view_set_target_state(view_hook, sc);
  return sc;
}

void simulcast_stop(simulcast_t *sc) {
  if (!sc || sc->stopped) return;
  sc->stopped = 1;
  while (sc->streams) {
    stream_stop(sc->streams);
    stream_free(sc->streams);
  }
  if (sc->tick_open) {
    sc->tick_open = 0;
    uv_timer_stop(&sc->tick);
    uv_close((uv_handle_t *)&sc->tick, NULL);
  }
}

void simulcast_free(simulcast_t *sc) {
  if (!sc) return;
  simulcast_stop(sc);
  stream_view_set_target_state(NULL, NULL);
  if (sc->tls) SSL_CTX_free(sc->tls);
  free(sc);
}

void simulcast_targets_changed(simulcast_t *sc, const char *stream_id) {
  if (!sc || sc->stopped || !stream_id) return;
  live_stream_t *ls = live_find(sc->live, stream_id);
  sstream_t *st = stream_find(sc, stream_id);
  if (ls && live_stream_publishing(ls) && live_stream_hub(ls)) {
    if (!st || !st->ls) {
      start_stream(sc, ls);
      return;
    }
  }
  if (st) stream_sync(st);
}

json_t *simulcast_target_status(simulcast_t *sc, const char *stream_id, const char *target_id) {
  if (!sc || sc->stopped) return NULL;
  sstream_t *st = stream_find(sc, stream_id);
  if (!st) return NULL;
  for (target_t *t = st->targets; t; t = t->next)
    if (strcmp(t->id, target_id) == 0) return status_json(t);
  return NULL;
}
