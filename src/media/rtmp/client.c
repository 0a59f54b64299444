#include "media/rtmp/client.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/rtmp/chunk.h"
#include "media/rtmp/handshake.h"

#define OUT_CHUNK_SIZE 4096
#define S0S1S2_SIZE (1 + 2 * RTMP_HANDSHAKE_SIZE)
#define DEFAULT_WINDOW 2500000u
#define GOODBYE_MS 2000
#define MAX_QUEUED_FOR_GOODBYE (256u * 1024)

/* Chunk stream ids, as FFmpeg and OBS use them. */
#define CSID_AUDIO 4
#define CSID_DATA 5
#define CSID_VIDEO 6

/* Transaction ids of our commands. */
enum { TXN_CONNECT = 1, TXN_RELEASE, TXN_FCPUBLISH, TXN_CREATE, TXN_PUBLISH };

typedef enum {
  ST_RESOLVE = 0,
  ST_CONNECT,
  ST_TLS,
  ST_HANDSHAKE,
  ST_NETCONNECT, /* connect sent, waiting for _result */
  ST_CREATE,     /* createStream sent */
  ST_PUBLISH,    /* publish sent, waiting for Publish.Start */
  ST_LIVE,
} stage_t;

static const char *const stage_names[] = {"resolving", "connecting", "tls handshake",
                                          "rtmp handshake", "rtmp connect", "createStream",
                                          "publish", "live"};

struct rtmp_client {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t conn;
  uv_shutdown_t shut;
  int open_handles;   /* tcp + timer until their close callbacks ran */
  int resolving;      /* getaddrinfo pending (its callback always runs) */
  int closing;        /* no more callbacks to the owner */
  int handles_closing;
  int shutting_down;  /* goodbye sent, uv_shutdown pending */
  rtmp_client_cbs_t cbs;
  void *ud;
  rtmp_client_opts_t opts;
  rtmp_url_t url;
  char *key;
  stage_t stage;
  uint64_t stage_started;
  uint64_t last_write_ms; /* last write completion (or first byte queued) */
  SSL *ssl;
  uint8_t hs[S0S1S2_SIZE];
  size_t hs_len;
  rtmp_chunk_reader_t *reader;
  rtmp_chunk_writer_t writer;
  amf0_buf_t out;  /* bytes of chunks waiting to be flushed */
  amf0_buf_t body; /* scratch for one message body */
  double stream_id;
  uint32_t peer_window;
  uint64_t last_ack;
  int ts_started;
  int64_t ts_base;
  uint32_t ts_last;
};

/* ---------- URL ---------- */

int rtmp_url_parse(const char *url, rtmp_url_t *out) {
  memset(out, 0, sizeof(*out));
  const char *p;
  if (strncmp(url, "rtmp://", 7) == 0) {
    p = url + 7;
  } else if (strncmp(url, "rtmps://", 8) == 0) {
    p = url + 8;
    out->tls = 1;
  } else {
    return ERR_INVALID;
  }
  for (const char *c = url; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) return ERR_INVALID;
  const char *slash = strchr(p, '/');
  if (!slash) return ERR_INVALID;
  const char *hend = slash, *port = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(slash - p));
    if (!rb) return ERR_INVALID;
    if (rb + 1 < slash && rb[1] != ':') return ERR_INVALID;
    if (rb + 1 < slash) port = rb + 2;
    p++;
    hend = rb;
  } else {
    const char *colon = memchr(p, ':', (size_t)(slash - p));
    if (colon) port = colon + 1, hend = colon;
  }
  size_t hl = (size_t)(hend - p);
  if (hl == 0 || hl >= sizeof(out->host)) return ERR_INVALID;
  memcpy(out->host, p, hl);
  out->host[hl] = '\0';
  out->port = out->tls ? 443 : 1935;
  if (port) {
    long v = 0;
    if (port == slash) return ERR_INVALID;
    for (const char *c = port; c < slash; c++) {
      if (!isdigit((unsigned char)*c)) return ERR_INVALID;
      v = v * 10 + (*c - '0');
      if (v > 65535) return ERR_INVALID;
    }
    if (v == 0) return ERR_INVALID;
    out->port = (int)v;
  }
  const char *app = slash + 1;
  size_t al = strlen(app);
  while (al > 0 && app[al - 1] == '/') al--;
  if (al == 0 || al >= sizeof(out->app)) return ERR_INVALID;
  memcpy(out->app, app, al);
  out->app[al] = '\0';
  /* tcUrl: the URL up to the end of the application (no trailing slash). */
  size_t tl = (size_t)(app - url) + al;
  if (tl >= sizeof(out->tc_url)) return ERR_INVALID;
  memcpy(out->tc_url, url, tl);
  out->tc_url[tl] = '\0';
  return 0;
}

/* ---------- FLV bodies ---------- */

static void put_be24(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 16);
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)v;
}

int rtmp_client_build_video(amf0_buf_t *out, media_codec_t codec, int config, int keyframe,
                            int32_t cts, const uint8_t *data, size_t len) {
  uint8_t h[8];
  size_t hl;
  uint8_t ft = keyframe || config ? 1 : 2;
  if (codec == CODEC_H264) {
    h[0] = (uint8_t)(ft << 4 | 7);
    h[1] = config ? 0 : 1;
    put_be24(h + 2, config ? 0 : (uint32_t)cts & 0xFFFFFF);
    hl = 5;
  } else if (codec == CODEC_HEVC) {
    /* Enhanced RTMP: IsExHeader | FrameType | PacketType, FourCC, and for
     * CodedFrames a composition time offset. */
    h[0] = (uint8_t)(0x80 | ft << 4 | (config ? 0 : 1));
    memcpy(h + 1, "hvc1", 4);
    hl = 5;
    if (!config) {
      put_be24(h + 5, (uint32_t)cts & 0xFFFFFF);
      hl = 8;
    }
  } else {
    return ERR_UNSUPPORTED;
  }
  amf0_buf_append(out, h, hl);
  return amf0_buf_append(out, data, len);
}

int rtmp_client_build_audio(amf0_buf_t *out, media_codec_t codec, int config,
                            const uint8_t *data, size_t len) {
  if (codec != CODEC_AAC) return ERR_UNSUPPORTED;
  /* SoundFormat 10 (AAC), and the rate/size/type bits FLV fixes for AAC. */
  uint8_t h[2] = {0xAF, config ? 0 : 1};
  amf0_buf_append(out, h, 2);
  return amf0_buf_append(out, data, len);
}

int rtmp_client_build_metadata(amf0_buf_t *out, const media_config_t *cfg) {
  amf0_write_string(out, "@setDataFrame");
  amf0_write_string(out, "onMetaData");
  /* An ECMA array, as encoders send it (some ingest servers expect it). */
  uint8_t ecma[5] = {AMF0_ECMA_ARRAY, 0, 0, 0, 0};
  uint32_t n = 1;
  if (cfg->video_codec != CODEC_NONE) n += 1 + (cfg->width > 0) * 2 + (cfg->framerate > 0);
  if (cfg->audio_codec != CODEC_NONE) n += 1 + (cfg->sample_rate > 0) + (cfg->channels > 0) * 2;
  ecma[4] = (uint8_t)n;
  amf0_buf_append(out, ecma, sizeof(ecma));
  if (cfg->video_codec != CODEC_NONE) {
    if (cfg->width > 0) {
      amf0_write_prop_number(out, "width", cfg->width);
      amf0_write_prop_number(out, "height", cfg->height);
    }
    if (cfg->framerate > 0) amf0_write_prop_number(out, "framerate", cfg->framerate);
    if (cfg->video_codec == CODEC_H264)
      amf0_write_prop_number(out, "videocodecid", 7);
    else
      amf0_write_prop_string(out, "videocodecid", "hvc1");
  }
  if (cfg->audio_codec != CODEC_NONE) {
    amf0_write_prop_number(out, "audiocodecid", 10);
    if (cfg->sample_rate > 0) amf0_write_prop_number(out, "audiosamplerate", cfg->sample_rate);
    if (cfg->channels > 0) {
      amf0_write_prop_number(out, "audiochannels", cfg->channels);
      amf0_write_prop_bool(out, "stereo", cfg->channels >= 2);
    }
  }
  amf0_write_prop_string(out, "encoder", "onair");
  return amf0_write_object_end(out);
}

/* ---------- closing ---------- */

static void client_free(rtmp_client_t *c) {
  rtmp_chunk_reader_free(c->reader);
  amf0_buf_free(&c->out);
  amf0_buf_free(&c->body);
  if (c->ssl) SSL_free(c->ssl);
  free(c->key);
  free(c);
}

static void maybe_free(rtmp_client_t *c) {
  if (c->handles_closing && c->open_handles == 0 && !c->resolving) client_free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  rtmp_client_t *c = h->data;
  c->open_handles--;
  maybe_free(c);
}

static void close_handles(rtmp_client_t *c) {
  if (c->handles_closing) return;
  c->handles_closing = 1;
  c->closing = 1;
  if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* Ends the connection on an error seen from the loop and tells the owner. */
static void client_fail(rtmp_client_t *c, const char *fmt, ...) {
  if (c->closing) return;
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  /* Reasons carry text from the peer: keep them printable. */
  for (char *r = reason; *r; r++)
    if ((unsigned char)*r < 0x20 || (unsigned char)*r >= 0x7f) *r = '?';
  log_debug("rtmp_client_closed host=%s stage=%s reason=\"%s\"", c->url.host,
            stage_names[c->stage], reason);
  close_handles(c);
  if (c->cbs.on_closed) c->cbs.on_closed(c->ud, reason);
}

/* ---------- writing ---------- */

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
  uint8_t *data;
} write_req_t;

static void on_written(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  rtmp_client_t *c = req->data;
  free(w->data);
  free(w);
  if (status == UV_ECANCELED || c->closing) return;
  if (status < 0) {
    client_fail(c, "write failed: %s", uv_strerror(status));
    return;
  }
  c->last_write_ms = uv_now(c->loop);
}

/* Queues data (taking ownership of the malloc'd block). */
static int write_owned(rtmp_client_t *c, uint8_t *data, size_t len) {
  write_req_t *w = malloc(sizeof(*w));
  if (!w) {
    free(data);
    return ERR_NOMEM;
  }
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
    c->last_write_ms = uv_now(c->loop); /* the stall clock starts now */
  w->data = data;
  w->buf = uv_buf_init((char *)data, (unsigned)len);
  w->req.data = c;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written) != 0) {
    free(data);
    free(w);
    return ERR_IO;
  }
  return 0;
}

static int write_copy(rtmp_client_t *c, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return ERR_NOMEM;
  memcpy(copy, data, len);
  return write_owned(c, copy, len);
}

/* TLS records OpenSSL queued in the write BIO go to the socket. */
static int tls_drain(rtmp_client_t *c) {
  BIO *wbio = SSL_get_wbio(c->ssl);
  char *data;
  long len = BIO_get_mem_data(wbio, &data);
  if (len <= 0) return 0;
  int rc = write_copy(c, (const uint8_t *)data, (size_t)len);
  (void)BIO_reset(wbio);
  return rc;
}

/* Sends c->out (through TLS for rtmps). */
static int flush(rtmp_client_t *c) {
  if (c->out.err) {
    int rc = c->out.err;
    amf0_buf_reset(&c->out);
    return rc;
  }
  if (c->out.len == 0) return 0;
  if (c->handles_closing) {
    amf0_buf_reset(&c->out);
    return ERR_IO;
  }
  int rc;
  if (c->ssl) {
    /* memory BIOs never block: SSL_write takes everything at once */
    rc = SSL_write(c->ssl, c->out.data, (int)c->out.len) == (int)c->out.len ? tls_drain(c)
                                                                            : ERR_IO;
    amf0_buf_reset(&c->out);
  } else {
    /* hand the buffer itself to the write request: no copy */
    uint8_t *data = c->out.data;
    size_t len = c->out.len;
    amf0_buf_init(&c->out);
    rc = write_owned(c, data, len);
  }
  return rc;
}

static int send_command(rtmp_client_t *c, uint32_t stream_id, amf0_buf_t *body) {
  int rc = body->err ? body->err : rtmp_chunk_write_command(&c->writer, &c->out, stream_id, body);
  amf0_buf_free(body);
  return rc;
}

/* name, txn, null, string arg — releaseStream / FCPublish / FCUnpublish. */
static int send_simple(rtmp_client_t *c, const char *name, double txn, uint32_t stream_id,
                       const char *arg) {
  amf0_buf_t b;
  amf0_buf_init(&b);
  amf0_write_string(&b, name);
  amf0_write_number(&b, txn);
  amf0_write_null(&b);
  if (arg) amf0_write_string(&b, arg);
  return send_command(c, stream_id, &b);
}

static int send_connect(rtmp_client_t *c) {
  amf0_buf_t b;
  amf0_buf_init(&b);
  amf0_write_string(&b, "connect");
  amf0_write_number(&b, TXN_CONNECT);
  amf0_write_object_start(&b);
  amf0_write_prop_string(&b, "app", c->url.app);
  amf0_write_prop_string(&b, "type", "nonprivate");
  amf0_write_prop_string(&b, "flashVer", "FMLE/3.0 (compatible; onair)");
  amf0_write_prop_string(&b, "tcUrl", c->url.tc_url);
  amf0_write_object_end(&b);
  rtmp_chunk_write_set_chunk_size(&c->writer, &c->out, OUT_CHUNK_SIZE);
  return send_command(c, 0, &b);
}

static void set_stage(rtmp_client_t *c, stage_t st) {
  c->stage = st;
  c->stage_started = uv_now(c->loop);
}

/* ---------- media ---------- */

int rtmp_client_is_live(const rtmp_client_t *c) { return !c->closing && c->stage == ST_LIVE; }

size_t rtmp_client_queued(const rtmp_client_t *c) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static uint32_t rebase(rtmp_client_t *c, int64_t dts) {
  if (!c->ts_started) {
    c->ts_started = 1;
    c->ts_base = dts;
  }
  int64_t rel = dts - c->ts_base;
  /* Audio cached just before the first keyframe may be a little older. */
  if (rel < 0) rel = 0;
  c->ts_last = (uint32_t)rel;
  return c->ts_last;
}

static int send_media(rtmp_client_t *c, uint32_t csid, uint8_t type, uint32_t ts) {
  rtmp_message_t m = {csid, type, (uint32_t)c->stream_id, ts, c->body.data, c->body.len};
  int rc = c->body.err ? c->body.err : rtmp_chunk_write(&c->writer, &c->out, &m);
  amf0_buf_reset(&c->body);
  if (rc) {
    amf0_buf_reset(&c->out);
    return rc;
  }
  return flush(c);
}

int rtmp_client_send_config(rtmp_client_t *c, const media_config_t *cfg) {
  if (!rtmp_client_is_live(c)) return ERR_CONFLICT;
  uint32_t ts = c->ts_last;
  int rc;
  amf0_buf_reset(&c->body);
  rtmp_client_build_metadata(&c->body, cfg);
  if ((rc = send_media(c, CSID_DATA, RTMP_MSG_DATA_AMF0, ts)) != 0) return rc;
  if (cfg->video_codec != CODEC_NONE && cfg->video_extradata) {
    rc = rtmp_client_build_video(&c->body, cfg->video_codec, 1, 1, 0, cfg->video_extradata,
                                 cfg->video_extradata_len);
    if (rc == 0) rc = send_media(c, CSID_VIDEO, RTMP_MSG_VIDEO, ts);
    amf0_buf_reset(&c->body);
    if (rc) return rc;
  }
  if (cfg->audio_codec != CODEC_NONE && cfg->audio_extradata) {
    rc = rtmp_client_build_audio(&c->body, cfg->audio_codec, 1, cfg->audio_extradata,
                                 cfg->audio_extradata_len);
    if (rc == 0) rc = send_media(c, CSID_AUDIO, RTMP_MSG_AUDIO, ts);
    amf0_buf_reset(&c->body);
    if (rc) return rc;
  }
  return 0;
}

int rtmp_client_send_frame(rtmp_client_t *c, const media_frame_t *f) {
  if (!rtmp_client_is_live(c)) return ERR_CONFLICT;
  int rc;
  int64_t cts = f->pts - f->dts;
  if (cts < -0x800000 || cts > 0x7FFFFF) cts = 0;
  if (f->kind == MEDIA_VIDEO)
    rc = rtmp_client_build_video(&c->body, f->codec, 0, f->keyframe, (int32_t)cts, f->data, f->len);
  else
    rc = rtmp_client_build_audio(&c->body, f->codec, 0, f->data, f->len);
  if (rc) {
    amf0_buf_reset(&c->body);
    return rc;
  }
  int video = f->kind == MEDIA_VIDEO;
  return send_media(c, video ? CSID_VIDEO : CSID_AUDIO, video ? RTMP_MSG_VIDEO : RTMP_MSG_AUDIO,
                    rebase(c, f->dts));
}

/* ---------- commands from the server ---------- */

/* "code: description" of an info object, for reasons. */
static void info_text(json_t *info, char *out, size_t outlen) {
  const char *code = json_string_value(json_object_get(info, "code"));
  const char *desc = json_string_value(json_object_get(info, "description"));
  snprintf(out, outlen, "%.80s%s%.120s", code ? code : "no code", desc && *desc ? ": " : "",
           desc ? desc : "");
}

static void went_live(rtmp_client_t *c) {
  set_stage(c, ST_LIVE);
  log_debug("rtmp_client_live host=%s app=%s", c->url.host, c->url.app);
  if (c->cbs.on_live) c->cbs.on_live(c->ud);
}

static int on_command(rtmp_client_t *c, const rtmp_message_t *m) {
  const uint8_t *p = m->payload;
  size_t len = m->len;
  if (m->type_id == RTMP_MSG_COMMAND_AMF3) {
    if (len < 1) return ERR_PROTOCOL;
    p++, len--;
  }
  json_t *args;
  int rc = amf0_decode_all(p, len, &args);
  if (rc) return rc;
  const char *name = json_string_value(json_array_get(args, 0));
  double txn = json_number_value(json_array_get(args, 1));
  json_t *info = json_array_get(args, 3);
  char text[220];
  rc = 0;
  if (!name) {
    rc = ERR_PROTOCOL;
  } else if (strcmp(name, "_result") == 0 && txn == TXN_CONNECT && c->stage == ST_NETCONNECT) {
    send_simple(c, "releaseStream", TXN_RELEASE, 0, c->key);
    send_simple(c, "FCPublish", TXN_FCPUBLISH, 0, c->key);
    send_simple(c, "createStream", TXN_CREATE, 0, NULL);
    set_stage(c, ST_CREATE);
    rc = flush(c);
  } else if (strcmp(name, "_result") == 0 && txn == TXN_CREATE && c->stage == ST_CREATE) {
    double sid = json_number_value(info);
    if (!json_is_number(info) || sid < 0 || sid > 0xFFFFFFFFu) {
      json_decref(args);
      client_fail(c, "bad createStream result");
      return ERR_PROTOCOL;
    }
    c->stream_id = sid;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_write_string(&b, "publish");
    amf0_write_number(&b, TXN_PUBLISH);
    amf0_write_null(&b);
    amf0_write_string(&b, c->key);
    amf0_write_string(&b, "live");
    send_command(c, (uint32_t)sid, &b);
    set_stage(c, ST_PUBLISH);
    rc = flush(c);
  } else if (strcmp(name, "_error") == 0 &&
             (txn == TXN_CONNECT || txn == TXN_CREATE || txn == TXN_PUBLISH)) {
    info_text(info, text, sizeof(text));
    json_decref(args);
    client_fail(c, "%s rejected: %s", txn == TXN_CONNECT ? "connect" : txn == TXN_CREATE
                                                                           ? "createStream"
                                                                           : "publish",
                text);
    return ERR_IO;
  } else if (strcmp(name, "onStatus") == 0) {
    const char *code = json_string_value(json_object_get(info, "code"));
    const char *level = json_string_value(json_object_get(info, "level"));
    if (level && strcmp(level, "error") == 0) {
      info_text(info, text, sizeof(text));
      json_decref(args);
      client_fail(c, "%s: %s", c->stage == ST_LIVE ? "target error" : "publish rejected", text);
      return ERR_IO;
    }
    if (code && strcmp(code, "NetStream.Publish.Start") == 0 && c->stage == ST_PUBLISH) {
      json_decref(args);
      if ((rc = flush(c)) != 0) return rc;
      went_live(c);
      return c->closing ? ERR_IO : 0;
    }
    if (code && c->stage == ST_LIVE &&
        (strcmp(code, "NetStream.Unpublish.Success") == 0 ||
         strcmp(code, "NetStream.Publish.Idle") == 0)) {
      info_text(info, text, sizeof(text));
      json_decref(args);
      client_fail(c, "target ended the publish: %s", text);
      return ERR_IO;
    }
  }
  /* onBWDone, onFCPublish, _result of releaseStream/FCPublish, …: ignored */
  json_decref(args);
  return rc;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int on_message(void *ud, const rtmp_message_t *m) {
  rtmp_client_t *c = ud;
  if (c->closing) return ERR_IO;
  switch (m->type_id) {
    case RTMP_MSG_COMMAND_AMF0:
    case RTMP_MSG_COMMAND_AMF3:
      return on_command(c, m);
    case RTMP_MSG_USER_CONTROL:
      if (m->len >= 6 && (m->payload[0] << 8 | m->payload[1]) == RTMP_UC_PING_REQUEST) {
        rtmp_chunk_write_user_control(&c->writer, &c->out, RTMP_UC_PING_RESPONSE,
                                      be32(m->payload + 2));
        return flush(c);
      }
      return 0;
    case RTMP_MSG_WINDOW_ACK_SIZE:
      if (m->len >= 4) c->peer_window = be32(m->payload) ? be32(m->payload) : DEFAULT_WINDOW;
      return 0;
    default:
      return 0;
  }
}

/* ---------- reading ---------- */

static void start_handshake(rtmp_client_t *c) {
  /* Simple handshake (spec §5.2): C1 = time, zero, random. A zero version
   * field tells servers not to expect the digest scheme. */
  uint8_t c0c1[1 + RTMP_HANDSHAKE_SIZE];
  c0c1[0] = RTMP_VERSION;
  memset(c0c1 + 1, 0, 8);
  uint32_t t = (uint32_t)uv_now(c->loop);
  c0c1[1] = (uint8_t)(t >> 24), c0c1[2] = (uint8_t)(t >> 16), c0c1[3] = (uint8_t)(t >> 8);
  c0c1[4] = (uint8_t)t;
  if (util_random_bytes(c0c1 + 9, RTMP_HANDSHAKE_SIZE - 8)) {
    client_fail(c, "no randomness");
    return;
  }
  set_stage(c, ST_HANDSHAKE);
  amf0_buf_append(&c->out, c0c1, sizeof(c0c1));
  if (flush(c)) client_fail(c, "write failed");
}

/* Plain RTMP bytes (decrypted for rtmps). */
static void client_input(rtmp_client_t *c, const uint8_t *p, size_t len) {
  if (c->stage == ST_HANDSHAKE) {
    size_t take = S0S1S2_SIZE - c->hs_len;
    if (take > len) take = len;
    memcpy(c->hs + c->hs_len, p, take);
    c->hs_len += take;
    p += take;
    len -= take;
    if (c->hs_len < S0S1S2_SIZE) return;
    if (c->hs[0] != RTMP_VERSION) {
      client_fail(c, "rtmp handshake failed: server version %u", c->hs[0]);
      return;
    }
    /* C2 echoes S1; then connect right away. */
    amf0_buf_append(&c->out, c->hs + 1, RTMP_HANDSHAKE_SIZE);
    send_connect(c);
    set_stage(c, ST_NETCONNECT);
    if (flush(c)) {
      client_fail(c, "write failed");
      return;
    }
  }
  if (len == 0 || c->stage < ST_NETCONNECT) return;
  int rc = rtmp_chunk_reader_feed(c->reader, p, len);
  if (c->closing) return;
  if (rc) {
    client_fail(c, "protocol error from the target: %s", err_str(rc));
    return;
  }
  uint64_t total = rtmp_chunk_reader_bytes(c->reader);
  if (total - c->last_ack >= c->peer_window) {
    c->last_ack = total;
    rtmp_chunk_write_ack(&c->writer, &c->out, (uint32_t)total);
    if (flush(c)) client_fail(c, "write failed");
  }
}

static void tls_fail(rtmp_client_t *c, int ret) {
  long vr = SSL_get_verify_result(c->ssl);
  if (c->stage == ST_TLS && vr != X509_V_OK) {
    client_fail(c, "tls handshake failed: certificate: %s", X509_verify_cert_error_string(vr));
    return;
  }
  int err = SSL_get_error(c->ssl, ret);
  unsigned long e = ERR_get_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  if (err == SSL_ERROR_ZERO_RETURN)
    client_fail(c, "connection closed by the target (tls close_notify)");
  else
    client_fail(c, "tls %s failed: %s", c->stage == ST_TLS ? "handshake" : "read",
                why ? why : "protocol error");
}

static void tls_input(rtmp_client_t *c, const uint8_t *p, size_t len) {
  if (BIO_write(SSL_get_rbio(c->ssl), p, (int)len) != (int)len) {
    client_fail(c, "tls buffer");
    return;
  }
  if (c->stage == ST_TLS) {
    int r = SSL_do_handshake(c->ssl);
    tls_drain(c);
    if (r != 1) {
      if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return;
      tls_fail(c, r);
      return;
    }
    log_debug("rtmp_client_tls host=%s version=%s", c->url.host, SSL_get_version(c->ssl));
    start_handshake(c);
    if (c->closing) return;
  }
  static uint8_t plain[64 * 1024]; /* loop thread only */
  for (;;) {
    int n = SSL_read(c->ssl, plain, sizeof(plain));
    if (n > 0) {
      client_input(c, plain, (size_t)n);
      if (c->closing) return;
      continue;
    }
    int err = SSL_get_error(c->ssl, n);
    tls_drain(c);
    if (err == SSL_ERROR_WANT_READ) return;
    tls_fail(c, n);
    return;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[64 * 1024]; /* loop thread only; consumed before the next read */
  *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  rtmp_client_t *c = stream->data;
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    if (nread == UV_EOF)
      client_fail(c, "connection closed by the target during %s", stage_names[c->stage]);
    else
      client_fail(c, "read failed: %s", uv_strerror((int)nread));
    return;
  }
  if (c->ssl)
    tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
  else
    client_input(c, (const uint8_t *)buf->base, (size_t)nread);
}

/* ---------- connecting ---------- */

static int is_ip_literal(const char *host) {
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  return uv_ip4_addr(host, 0, &a4) == 0 || uv_ip6_addr(host, 0, &a6) == 0;
}

static int tls_begin(rtmp_client_t *c) {
  c->ssl = SSL_new(c->opts.tls_ctx);
  BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
  if (!c->ssl || !rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return ERR_NOMEM;
  }
  SSL_set_bio(c->ssl, rbio, wbio);
  SSL_set_connect_state(c->ssl);
  int ip = is_ip_literal(c->url.host);
  if (!ip) SSL_set_tlsext_host_name(c->ssl, c->url.host);
  if (c->opts.tls_verify) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->url.host)
                : X509_VERIFY_PARAM_set1_host(vp, c->url.host, 0);
    if (!ok) return ERR_INVALID;
    SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
  }
  set_stage(c, ST_TLS);
  int r = SSL_do_handshake(c->ssl);
  if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) return ERR_IO;
  return tls_drain(c);
}

static void on_connect(uv_connect_t *req, int status) {
  rtmp_client_t *c = req->data;
  if (status == UV_ECANCELED || c->closing) return;
  if (status < 0) {
    client_fail(c, "connect failed: %s", uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    client_fail(c, "read failed");
    return;
  }
  if (c->url.tls) {
    if (tls_begin(c)) client_fail(c, "tls setup failed");
  } else {
    start_handshake(c);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rtmp_client_t *c = req->data;
  c->resolving = 0;
  if (c->closing) {
    if (res) uv_freeaddrinfo(res);
    maybe_free(c);
    return;
  }
  if (status < 0 || !res) {
    if (res) uv_freeaddrinfo(res);
    client_fail(c, "cannot resolve %s: %s", c->url.host, uv_strerror(status));
    return;
  }
  set_stage(c, ST_CONNECT);
  c->conn.data = c;
  int rc = uv_tcp_connect(&c->conn, &c->tcp, res->ai_addr, on_connect);
  uv_freeaddrinfo(res);
  if (rc) client_fail(c, "connect failed: %s", uv_strerror(rc));
}

static void on_timer(uv_timer_t *t) {
  rtmp_client_t *c = t->data;
  if (c->closing) return;
  uint64_t now = uv_now(c->loop);
  if (c->stage != ST_LIVE && now - c->stage_started >= c->opts.timeout_ms) {
    client_fail(c, "timed out during %s", stage_names[c->stage]);
  } else if (c->stage == ST_LIVE && rtmp_client_queued(c) > 0 &&
             now - c->last_write_ms >= c->opts.stall_ms) {
    client_fail(c, "write stalled: %zu bytes queued for %u ms", rtmp_client_queued(c),
                (unsigned)(now - c->last_write_ms));
  }
}

SSL_CTX *rtmp_client_tls_ctx_new(int verify) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (verify) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      SSL_CTX_free(ctx);
      return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  return ctx;
}

int rtmp_client_start(uv_loop_t *loop, const char *url, const char *stream_key,
                      const rtmp_client_opts_t *opts, const rtmp_client_cbs_t *cbs, void *ud,
                      rtmp_client_t **out) {
  rtmp_url_t u;
  if (!stream_key || !*stream_key || rtmp_url_parse(url, &u)) return ERR_INVALID;
  if (u.tls && (!opts || !opts->tls_ctx)) return ERR_INVALID;
  rtmp_client_t *c = calloc(1, sizeof(*c));
  if (!c) return ERR_NOMEM;
  c->loop = loop;
  c->url = u;
  c->cbs = *cbs;
  c->ud = ud;
  if (opts) c->opts = *opts;
  if (!c->opts.timeout_ms) c->opts.timeout_ms = 10000;
  if (!c->opts.stall_ms) c->opts.stall_ms = 20000;
  c->key = strdup(stream_key);
  c->reader = rtmp_chunk_reader_new(NULL, on_message, c);
  if (!c->key || !c->reader) {
    rtmp_chunk_reader_free(c->reader);
    free(c->key);
    free(c);
    return ERR_NOMEM;
  }
  rtmp_chunk_writer_init(&c->writer);
  amf0_buf_init(&c->out);
  amf0_buf_init(&c->body);
  c->peer_window = DEFAULT_WINDOW;
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  set_stage(c, ST_RESOLVE);
  uv_timer_start(&c->timer, on_timer, 1000, 1000);
  char port[8];
  snprintf(port, sizeof(port), "%d", u.port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  c->gai.data = c;
  c->resolving = 1;
  if (uv_getaddrinfo(loop, &c->gai, on_resolved, u.host, port, &hints) != 0) {
    c->resolving = 0;
    close_handles(c); /* frees c once the handles are closed */
    return ERR_IO;
  }
  *out = c;
  return 0;
}

/* ---------- closing by the owner ---------- */

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  rtmp_client_t *c = req->data;
  c->shutting_down = 0;
  close_handles(c);
}

static void on_goodbye_timer(uv_timer_t *t) {
  rtmp_client_t *c = t->data;
  close_handles(c); /* cancels the pending shutdown */
}

void rtmp_client_close(rtmp_client_t *c) {
  if (!c || c->handles_closing || c->shutting_down) return;
  int polite = c->stage == ST_LIVE && !c->closing &&
               rtmp_client_queued(c) <= MAX_QUEUED_FOR_GOODBYE;
  c->closing = 1;
  if (polite) {
    send_simple(c, "FCUnpublish", 6, 0, c->key);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_write_string(&b, "deleteStream");
    amf0_write_number(&b, 7);
    amf0_write_null(&b);
    amf0_write_number(&b, c->stream_id);
    send_command(c, 0, &b);
    int rc = flush(c);
    if (!rc && c->ssl) {
      SSL_shutdown(c->ssl);
      rc = tls_drain(c);
    }
    c->shut.data = c;
    if (!rc && uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
      c->shutting_down = 1;
      uv_timer_stop(&c->timer);
      uv_timer_start(&c->timer, on_goodbye_timer, GOODBYE_MS, 0);
      return;
    }
  }
  close_handles(c);
}
