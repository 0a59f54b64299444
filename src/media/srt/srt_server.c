/* srt_server.c — see srt_server.h for the threads and who owns what.
 *
 * A connection (conn_t) is shared by three threads and refcounted under
 * srv->mu. Its fields are grouped by the thread that may touch them. The
 * SRT thread holds a reference while the socket is open, the loop holds
 * one from the CONNECT event until the CLOSED event, and every queued
 * event or command holds one.
 */
/* libsrt's logging header pulls in <syslog.h>, whose LOG_* macros collide
 * with core/log.h's level names: include it first and drop the macros. */
#include <srt/access_control.h>
#include <srt/srt.h>
enum { SYSLOG_ERR = LOG_ERR }; /* libsrt log levels are syslog levels */
#undef LOG_EMERG
#undef LOG_ALERT
#undef LOG_CRIT
#undef LOG_ERR
#undef LOG_WARNING
#undef LOG_NOTICE
#undef LOG_INFO
#undef LOG_DEBUG

#include "media/srt/srt_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/err.h"
#include "core/log.h"
#include "media/srt/streamid.h"
#include "media/srt/ts_demux.h"
#include "store/store.h"

#define EPOLL_WAIT_MS 50  /* also how soon the SRT thread sees a kick or shutdown */
#define RECV_BUF 1500     /* one SRT live-mode message (1316 bytes of TS by convention) */
#define MIN_PEER_VERSION 0x010300 /* HSv5 callers only: see docs/SECURITY.md */

typedef struct conn conn_t;

typedef enum { EV_CONNECT, EV_CONFIG, EV_FRAME, EV_CLOSED } ev_type_t;

typedef struct ev {
  STAILQ_ENTRY(ev) link;
  ev_type_t type;
  conn_t *c;
  media_frame_t *frame; /* EV_FRAME */
  media_config_t cfg;   /* EV_CONFIG */
  char reason[48];      /* EV_CLOSED */
} ev_t;

typedef struct cmd {
  STAILQ_ENTRY(cmd) link;
  conn_t *c;
  char reason[48];
} cmd_t;

struct conn {
  srt_server_t *srv;
  int refs; /* srv->mu */
  char ip[64];
  char key[SRT_STREAM_KEY_MAX + 1];
  /* SRT thread */
  SRTSOCKET sock;
  int open;
  ts_demux_t *demux;
  conn_t *next;
  uint64_t bytes_in;
  /* demux thread */
  int has_video;
  /* srv->mu */
  unsigned queued;
  size_t queued_bytes;
  int dropping;
  uint64_t drops;
  /* loop thread */
  live_stream_t *ls;
  media_config_t cfg;
  int cfg_dirty;
  uint64_t drops_reported;
  int close_asked;
};

struct srt_server {
  uv_loop_t *loop;
  live_t *live;
  srt_server_opts_t opts;
  char data_dir[1024];
  int port;
  uv_async_t async;
  int async_open;
  int closing; /* loop */
  void (*done)(void *);
  void *done_arg;

  SRTSOCKET listener;
  int eid;
  pthread_t thread;
  int thread_started;
  int srt_started;
  conn_t *conns; /* SRT thread */
  unsigned nconns;

  pthread_mutex_t mu; /* events, commands, stop, conn refs and queue counters */
  STAILQ_HEAD(, ev) events;
  STAILQ_HEAD(, cmd) commands;
  int stop;

  pthread_mutex_t store_mu; /* the listen callback's own store handle */
  store_t *store;
};

/* ---------------- refcounts and queues ---------------- */

static conn_t *conn_ref_locked(conn_t *c) {
  c->refs++;
  return c;
}

static void conn_unref_locked(conn_t *c) {
  if (--c->refs > 0) return;
  media_config_clear(&c->cfg);
  free(c);
}

static void conn_unref(srt_server_t *srv, conn_t *c) {
  pthread_mutex_lock(&srv->mu);
  conn_unref_locked(c);
  pthread_mutex_unlock(&srv->mu);
}

/* Queues an event (taking a conn reference) and wakes the loop. The event
 * is consumed even on failure. Any thread. */
static void post_locked(srt_server_t *srv, ev_t *e) {
  conn_ref_locked(e->c);
  STAILQ_INSERT_TAIL(&srv->events, e, link);
}

static void post(srt_server_t *srv, ev_t *e) {
  pthread_mutex_lock(&srv->mu);
  post_locked(srv, e);
  pthread_mutex_unlock(&srv->mu);
  uv_async_send(&srv->async);
}

static ev_t *ev_new(ev_type_t type, conn_t *c) {
  ev_t *e = calloc(1, sizeof(*e));
  if (e) e->type = type, e->c = c;
  return e;
}

/* ---------------- demux thread: frames to the loop ---------------- */

static void on_demux_config(void *ud, const media_config_t *cfg) {
  conn_t *c = ud;
  c->has_video = cfg->video_codec != CODEC_NONE;
  ev_t *e = ev_new(EV_CONFIG, c);
  if (!e || media_config_copy(&e->cfg, cfg) != 0) {
    if (e) media_config_clear(&e->cfg);
    free(e);
    return;
  }
  post(c->srv, e);
}

static void on_demux_frame(void *ud, media_frame_t *f) {
  conn_t *c = ud;
  srt_server_t *srv = c->srv;
  ev_t *e = ev_new(EV_FRAME, c);
  pthread_mutex_lock(&srv->mu);
  if (c->dropping && c->queued <= srv->opts.max_queue_frames / 2 &&
      c->queued_bytes <= srv->opts.max_queue_bytes / 2 &&
      (!c->has_video || (f->kind == MEDIA_VIDEO && f->keyframe)))
    c->dropping = 0;
  if (!c->dropping &&
      (c->queued >= srv->opts.max_queue_frames || c->queued_bytes >= srv->opts.max_queue_bytes)) {
    c->dropping = 1; /* the loop is behind: resume at a keyframe once it caught up */
  }
  if (c->dropping || !e) {
    c->drops++;
    pthread_mutex_unlock(&srv->mu);
    media_frame_unref(f); /* allocated by this thread and never shared */
    free(e);
    return;
  }
  c->queued++;
  c->queued_bytes += f->len;
  e->frame = f;
  post_locked(srv, e);
  pthread_mutex_unlock(&srv->mu);
  uv_async_send(&srv->async);
}

static const ts_demux_sink_t demux_sink = {on_demux_config, on_demux_frame};

/* ---------------- loop thread ---------------- */

static void cmd_close(srt_server_t *srv, conn_t *c, const char *reason) {
  if (c->close_asked) return;
  c->close_asked = 1;
  cmd_t *k = calloc(1, sizeof(*k));
  if (!k) return; /* the SRT side still closes it when the peer goes */
  snprintf(k->reason, sizeof(k->reason), "%s", reason);
  pthread_mutex_lock(&srv->mu);
  k->c = conn_ref_locked(c);
  STAILQ_INSERT_TAIL(&srv->commands, k, link);
  pthread_mutex_unlock(&srv->mu);
}

static void on_kick(void *ud, const char *reason) {
  conn_t *c = ud;
  c->ls = NULL; /* the registry already detached us */
  log_info("srt_kick ip=%s reason=%s", c->ip, reason);
  cmd_close(c->srv, c, reason);
}

static void on_connect(srt_server_t *srv, conn_t *c) {
  if (srv->closing || c->close_asked) return;
  live_publisher_t pub = {.kick = on_kick, .ud = c};
  live_stream_t *ls = NULL;
  int rc = live_publish_begin(srv->live, c->key, "srt", &pub, &ls);
  char redacted[16];
  if (rc) {
    log_warn("srt_publish_refused ip=%s key=%s reason=%s", c->ip,
             log_redact(c->key, redacted, sizeof(redacted)),
             rc == ERR_NOT_FOUND ? "unknown_key" : rc == ERR_CONFLICT ? "busy" : err_str(rc));
    cmd_close(srv, c, rc == ERR_CONFLICT ? "busy" : "refused");
    return;
  }
  c->ls = ls;
  hub_set_source(live_stream_hub(ls), NULL, "srt");
  log_info("srt_publish ip=%s stream=%s", c->ip, live_stream_id(ls));
}

static void on_frame_event(srt_server_t *srv, conn_t *c, media_frame_t *f) {
  if (!c->ls) return;
  hub_t *hub = live_stream_hub(c->ls);
  pthread_mutex_lock(&srv->mu);
  uint64_t drops = c->drops;
  pthread_mutex_unlock(&srv->mu);
  for (; c->drops_reported < drops; c->drops_reported++) hub_count_dropped(hub);
  int rc = 0;
  if (c->cfg_dirty) {
    rc = hub_publish_config(hub, &c->cfg);
    if (rc == 0) c->cfg_dirty = 0;
  }
  if (rc == 0) rc = hub_publish_frame(hub, f);
  if (rc) {
    log_warn("srt_publish_failed stream=%s reason=%s", live_stream_id(c->ls), err_str(rc));
    live_stream_t *ls = c->ls;
    c->ls = NULL;
    live_publish_end(srv->live, ls);
    cmd_close(srv, c, "publish_failed");
  }
}

static void on_closed(srt_server_t *srv, conn_t *c, const char *reason) {
  if (c->ls) {
    live_stream_t *ls = c->ls;
    c->ls = NULL;
    log_info("srt_close ip=%s stream=%s reason=%s", c->ip, live_stream_id(ls), reason);
    live_publish_end(srv->live, ls);
  }
}

/* Runs every queued event in order. */
static void drain_events(srt_server_t *srv) {
  STAILQ_HEAD(, ev) batch = STAILQ_HEAD_INITIALIZER(batch);
  pthread_mutex_lock(&srv->mu);
  STAILQ_CONCAT(&batch, &srv->events);
  pthread_mutex_unlock(&srv->mu);
  ev_t *e;
  while ((e = STAILQ_FIRST(&batch))) {
    STAILQ_REMOVE_HEAD(&batch, link);
    conn_t *c = e->c;
    switch (e->type) {
      case EV_CONNECT:
        on_connect(srv, c);
        break;
      case EV_CONFIG:
        if (media_config_copy(&c->cfg, &e->cfg) == 0) c->cfg_dirty = 1;
        media_config_clear(&e->cfg);
        break;
      case EV_FRAME:
        pthread_mutex_lock(&srv->mu);
        c->queued--;
        c->queued_bytes -= e->frame->len;
        pthread_mutex_unlock(&srv->mu);
        on_frame_event(srv, c, e->frame);
        media_frame_unref(e->frame);
        break;
      case EV_CLOSED:
        on_closed(srv, c, e->reason);
        break;
    }
    conn_unref(srv, c);
    free(e);
  }
}

static void on_async(uv_async_t *h) { drain_events(h->data); }

/* ---------------- libsrt's handshake thread: the listen callback ---------------- */

static void peer_ip(const struct sockaddr *sa, char *out, size_t outlen) {
  snprintf(out, outlen, "?");
  if (!sa) return;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outlen);
}

static int refuse(SRTSOCKET ns, int code, const char *ip, const char *why) {
  log_warn("srt_refused ip=%s reason=%s", ip, why);
  srt_setrejectreason(ns, code);
  return -1;
}

/* Decides before the handshake completes. Returning -1 makes libsrt send a
 * rejection; the accepted socket never exists. */
static int on_listen(void *opaque, SRTSOCKET ns, int hsversion, const struct sockaddr *peer,
                     const char *streamid) {
  srt_server_t *srv = opaque;
  char ip[64];
  peer_ip(peer, ip, sizeof(ip));
  if (hsversion < 5) return refuse(ns, SRT_REJX_VERSION, ip, "handshake_v4");
  srt_streamid_t id;
  int rc = srt_streamid_parse(streamid, streamid ? strlen(streamid) : 0, &id);
  if (rc == ERR_FORBIDDEN) return refuse(ns, SRT_REJX_BAD_MODE, ip, "not_publish");
  if (rc) return refuse(ns, SRT_REJX_BAD_REQUEST, ip, "bad_streamid");

  store_stream_t s = {0};
  char *pass = NULL;
  int latency = 0;
  pthread_mutex_lock(&srv->store_mu);
  rc = srv->store ? store_stream_get_by_key(srv->store, id.key, &s) : ERR_DB;
  pthread_mutex_unlock(&srv->store_mu);
  if (rc) {
    store_stream_clear(&s);
    return refuse(ns, rc == ERR_NOT_FOUND ? SRT_REJX_NOTFOUND : SRT_REJX_ISE, ip,
                  rc == ERR_NOT_FOUND ? "unknown_key" : "store_error");
  }
  json_t *params = s.params_json ? json_loads(s.params_json, 0, NULL) : NULL;
  const char *p = json_string_value(json_object_get(params, "srt_passphrase"));
  if (p) pass = strdup(p);
  json_t *lat = json_object_get(params, "srt_latency");
  if (json_is_integer(lat)) latency = (int)json_integer_value(lat);
  json_decref(params);
  store_stream_clear(&s);

  /* Enforced encryption: a passphrase on one side only refuses the
   * handshake. Without a stream passphrase the socket gets an explicit
   * empty one, so a caller that sends key material is refused rather than
   * processed (and nothing of a previous stream's settings carries over). */
  int yes = 1;
  srt_setsockflag(ns, SRTO_ENFORCEDENCRYPTION, &yes, sizeof(yes));
  rc = srt_setsockflag(ns, SRTO_PASSPHRASE, pass ? pass : "", pass ? (int)strlen(pass) : 0);
  if (pass) {
    memset(pass, 0, strlen(pass));
    free(pass);
  }
  if (rc == SRT_ERROR) return refuse(ns, SRT_REJX_ISE, ip, "passphrase_option");
  if (latency >= 20 && latency <= 8000) {
    if (srt_setsockflag(ns, SRTO_RCVLATENCY, &latency, sizeof(latency)) == SRT_ERROR)
      log_debug("srt_latency_not_set ip=%s err=\"%s\"", ip, srt_getlasterror_str());
  }
  return 0;
}

/* ---------------- SRT thread ---------------- */

static void conn_close(srt_server_t *srv, conn_t *c, const char *reason) {
  if (!c->open) return;
  c->open = 0;
  srt_epoll_remove_usock(srv->eid, c->sock);
  srt_close(c->sock);
  if (c->demux) {
    ts_demux_end(c->demux);
    ts_demux_free(c->demux); /* joins: no sink callback after this */
    c->demux = NULL;
  }
  for (conn_t **pp = &srv->conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  srv->nconns--;
  log_debug("srt_conn_closed ip=%s reason=%s bytes=%llu", c->ip, reason,
            (unsigned long long)c->bytes_in);
  ev_t *e = ev_new(EV_CLOSED, c);
  if (e) {
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    post(srv, e);
  }
  conn_unref(srv, c); /* the SRT thread's reference */
}

/* One connection per readiness report: the listener stays readable while
 * more are pending (and libsrt logs an error for an empty accept). */
static void accept_one(srt_server_t *srv) {
  struct sockaddr_storage addr;
  int alen = sizeof(addr);
  SRTSOCKET s = srt_accept(srv->listener, (struct sockaddr *)&addr, &alen);
  if (s == SRT_INVALID_SOCK) return;
  char ip[64], sid[SRT_STREAMID_MAX + 1];
  peer_ip((struct sockaddr *)&addr, ip, sizeof(ip));
  int sidlen = sizeof(sid) - 1;
  srt_streamid_t id;
  int km = -1, kmlen = sizeof(km), no = 0;
  if (srt_getsockflag(s, SRTO_STREAMID, sid, &sidlen) == SRT_ERROR || sidlen < 0 ||
      srt_streamid_parse(sid, (size_t)sidlen, &id) != 0) {
    log_warn("srt_refused ip=%s reason=bad_streamid", ip);
    srt_close(s);
    return;
  }
  /* The handshake already checked the key material; check its outcome
   * too (a secured stream must be decrypting, an open one unsecured). */
  srt_getsockflag(s, SRTO_KMSTATE, &km, &kmlen);
  if (km != SRT_KM_S_SECURED && km != SRT_KM_S_UNSECURED) {
    log_warn("srt_refused ip=%s reason=key_material km_state=%d", ip, km);
    srt_close(s);
    return;
  }
  if (srv->nconns >= srv->opts.max_connections) {
    log_warn("srt_refused ip=%s reason=too_many_connections", ip);
    srt_close(s);
    return;
  }
  conn_t *c = calloc(1, sizeof(*c));
  if (!c) {
    srt_close(s);
    return;
  }
  c->srv = srv;
  c->refs = 1; /* the SRT thread's */
  c->sock = s;
  c->open = 1;
  snprintf(c->ip, sizeof(c->ip), "%s", ip);
  memcpy(c->key, id.key, sizeof(c->key));
  srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof(no));
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  char label[80];
  snprintf(label, sizeof(label), "srt:%s", c->ip);
  ts_demux_opts_t dopts = {.max_buffer = srv->opts.max_demux_buffer, .label = label};
  c->next = srv->conns;
  srv->conns = c;
  srv->nconns++;
  if (ts_demux_start(&demux_sink, c, &dopts, &c->demux) != 0 ||
      srt_epoll_add_usock(srv->eid, s, &events) == SRT_ERROR) {
    conn_close(srv, c, "out_of_resources");
    return;
  }
  log_info("srt_accept ip=%s encrypted=%d", ip, km == SRT_KM_S_SECURED);
  ev_t *e = ev_new(EV_CONNECT, c);
  if (!e) {
    conn_close(srv, c, "out_of_memory");
    return;
  }
  post(srv, e);
}

static void conn_read(srt_server_t *srv, conn_t *c) {
  char buf[RECV_BUF];
  while (c->open) {
    int n = srt_recvmsg(c->sock, buf, sizeof(buf));
    if (n == SRT_ERROR) {
      if (srt_getlasterror(NULL) == SRT_EASYNCRCV) return;
      conn_close(srv, c, "peer_closed");
      return;
    }
    if (n == 0) continue;
    c->bytes_in += (uint64_t)n;
    int rc = ts_demux_feed(c->demux, (const uint8_t *)buf, (size_t)n);
    if (rc == ERR_IO) {
      conn_close(srv, c, "not_mpegts");
      return;
    }
    /* ERR_TOO_LARGE: the demuxer is behind; the bytes were dropped and
     * counted, the demuxer resyncs on the next TS packet. */
  }
}

static conn_t *find_conn(srt_server_t *srv, SRTSOCKET s) {
  for (conn_t *c = srv->conns; c; c = c->next)
    if (c->sock == s) return c;
  return NULL;
}

/* Runs the queued close commands (SRT thread), or with run 0 only drops
 * them (after the thread has stopped). Returns srv->stop as it was when the
 * queue was taken. */
static int run_commands(srt_server_t *srv, int run) {
  STAILQ_HEAD(, cmd) batch = STAILQ_HEAD_INITIALIZER(batch);
  pthread_mutex_lock(&srv->mu);
  STAILQ_CONCAT(&batch, &srv->commands);
  int stop = srv->stop;
  pthread_mutex_unlock(&srv->mu);
  cmd_t *k;
  while ((k = STAILQ_FIRST(&batch))) {
    STAILQ_REMOVE_HEAD(&batch, link);
    if (run && k->c->open) conn_close(srv, k->c, k->reason);
    conn_unref(srv, k->c);
    free(k);
  }
  return stop;
}

static void *srt_thread(void *arg) {
  srt_server_t *srv = arg;
  SRT_EPOLL_EVENT evs[64];
  for (;;) {
    if (run_commands(srv, 1)) break;
    int n = srt_epoll_uwait(srv->eid, evs, 64, EPOLL_WAIT_MS);
    for (int i = 0; i < n; i++) {
      if (evs[i].fd == srv->listener) {
        accept_one(srv);
        continue;
      }
      conn_t *c = find_conn(srv, evs[i].fd);
      if (!c) continue;
      if (evs[i].events & SRT_EPOLL_IN) conn_read(srv, c);
      if (c->open && (evs[i].events & SRT_EPOLL_ERR)) conn_close(srv, c, "peer_closed");
    }
    /* A demuxer that gave up (not MPEG-TS) ends its connection. */
    for (conn_t *c = srv->conns, *next; c; c = next) {
      next = c->next;
      if (ts_demux_stopped(c->demux)) conn_close(srv, c, "not_mpegts");
    }
  }
  while (srv->conns) conn_close(srv, srv->conns, "shutdown");
  srt_epoll_release(srv->eid);
  srt_close(srv->listener);
  return NULL;
}

/* libsrt's own log lines: at debug level only (they may name peers). */
static void on_srt_log(void *opaque, int level, const char *file, int line, const char *area,
                       const char *message) {
  (void)opaque;
  (void)file;
  (void)line;
  char msg[256];
  size_t n = 0;
  for (const char *p = message; p && *p && n < sizeof(msg) - 1; p++)
    msg[n++] = (*p == '\n' || *p == '"') ? ' ' : *p;
  msg[n] = '\0';
  log_debug("srt_lib level=%d area=%s msg=\"%s\"", level, area ? area : "", msg);
}

/* ---------------- public ---------------- */

int srt_server_new(uv_loop_t *loop, live_t *live, const char *data_dir,
                   const srt_server_opts_t *opts, srt_server_t **out) {
  srt_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return ERR_NOMEM;
  srv->loop = loop;
  srv->live = live;
  if (opts) srv->opts = *opts;
  if (!srv->opts.max_connections) srv->opts.max_connections = 200;
  if (!srv->opts.max_queue_frames) srv->opts.max_queue_frames = 600;
  if (!srv->opts.max_queue_bytes) srv->opts.max_queue_bytes = 32u * 1024 * 1024;
  snprintf(srv->data_dir, sizeof(srv->data_dir), "%s", data_dir);
  srv->listener = SRT_INVALID_SOCK;
  srv->eid = -1;
  STAILQ_INIT(&srv->events);
  STAILQ_INIT(&srv->commands);
  pthread_mutex_init(&srv->mu, NULL);
  pthread_mutex_init(&srv->store_mu, NULL);
  uv_async_init(loop, &srv->async, on_async);
  srv->async.data = srv;
  srv->async_open = 1;
  *out = srv;
  return 0;
}

int srt_server_listen(srt_server_t *srv, const char *host, int port) {
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof(addr));
  int alen;
  if (strchr(host, ':')) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) return ERR_INVALID;
    alen = sizeof(*a6);
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) return ERR_INVALID;
    alen = sizeof(*a4);
  }
  int rc = store_open(srv->data_dir, &srv->store);
  if (rc) return ERR_DB;
  if (srt_startup() < 0) return ERR_INTERNAL;
  srv->srt_started = 1;
  srt_setloglevel(SYSLOG_ERR);
  srt_setloghandler(NULL, on_srt_log);
  srv->listener = srt_create_socket();
  if (srv->listener == SRT_INVALID_SOCK) return ERR_INTERNAL;
  int no = 0, yes = 1, minver = MIN_PEER_VERSION;
  srt_setsockflag(srv->listener, SRTO_RCVSYN, &no, sizeof(no));
  srt_setsockflag(srv->listener, SRTO_ENFORCEDENCRYPTION, &yes, sizeof(yes));
  srt_setsockflag(srv->listener, SRTO_MINVERSION, &minver, sizeof(minver));
  /* The callback must be in place before listening (libsrt >= 1.5). */
  if (srt_listen_callback(srv->listener, on_listen, srv) == SRT_ERROR) return ERR_INTERNAL;
  if (srt_bind(srv->listener, (struct sockaddr *)&addr, alen) == SRT_ERROR) {
    log_error("srt_bind_failed host=%s port=%d err=\"%s\"", host, port, srt_getlasterror_str());
    return ERR_IO;
  }
  if (srt_listen(srv->listener, 64) == SRT_ERROR) return ERR_IO;
  srv->eid = srt_epoll_create();
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (srv->eid < 0 || srt_epoll_add_usock(srv->eid, srv->listener, &events) == SRT_ERROR)
    return ERR_INTERNAL;
  srt_epoll_set(srv->eid, SRT_EPOLL_ENABLE_EMPTY);
  srv->port = port;
  if (pthread_create(&srv->thread, NULL, srt_thread, srv) != 0) return ERR_INTERNAL;
  srv->thread_started = 1;
  uint32_t v = srt_getversion();
  log_info("srt_listening host=%s port=%d libsrt=%u.%u.%u", host, port, v >> 16, (v >> 8) & 0xff,
           v & 0xff);
  return 0;
}

int srt_server_port(const srt_server_t *srv) { return srv->port; }

static void on_async_closed(uv_handle_t *h) {
  srt_server_t *srv = h->data;
  if (srv->done) srv->done(srv->done_arg);
}

void srt_server_close(srt_server_t *srv, void (*done)(void *), void *arg) {
  srv->closing = 1;
  srv->done = done;
  srv->done_arg = arg;
  if (srv->thread_started) {
    pthread_mutex_lock(&srv->mu);
    srv->stop = 1;
    pthread_mutex_unlock(&srv->mu);
    /* The SRT thread sees stop within EPOLL_WAIT_MS, closes every
     * connection (joining their demuxers) and exits. */
    pthread_join(srv->thread, NULL);
    srv->thread_started = 0;
  } else if (srv->listener != SRT_INVALID_SOCK) {
    if (srv->eid >= 0) srt_epoll_release(srv->eid);
    srt_close(srv->listener);
  }
  srv->listener = SRT_INVALID_SOCK;
  /* Publishers end now, before the registry is freed. */
  drain_events(srv);
  /* Commands queued after the thread stopped have nobody to run them. */
  run_commands(srv, 0);
  if (srv->async_open) {
    srv->async_open = 0;
    uv_close((uv_handle_t *)&srv->async, on_async_closed);
  }
}

void srt_server_free(srt_server_t *srv) {
  if (!srv) return;
  /* No listen callback can run once libsrt's threads are gone. */
  if (srv->srt_started) srt_cleanup();
  if (srv->store) store_close(srv->store);
  pthread_mutex_destroy(&srv->mu);
  pthread_mutex_destroy(&srv->store_mu);
  free(srv);
}
