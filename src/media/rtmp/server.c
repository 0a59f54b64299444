#include "media/rtmp/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "media/audio/aac_worker.h"
#include "media/audio/flv_audio.h"
#include "media/flv/flv.h"
#include "media/sps_size.h"
#include "media/rtmp/amf0.h"
#include "media/rtmp/chunk.h"
#include "media/rtmp/handshake.h"
#include "media/ts_clock.h"

#define OUT_CHUNK_SIZE 4096
#define ACK_WINDOW 2500000u
#define PUBLISH_STREAM_ID 1

typedef struct session session_t;

struct rtmp_server {
  uv_loop_t *loop;
  live_t *live;
  rtmp_server_opts_t opts;
  uv_tcp_t listener;
  int listening;
  int port;
  int closing;
  session_t *sessions;
  unsigned nsessions;
  unsigned pending_closes; /* handles whose close callback has not run */
  void (*done)(void *);
  void *done_arg;
};

struct session {
  rtmp_server_t *srv;
  uv_tcp_t tcp;
  uv_timer_t timer;
  char ip[64];
  int port; /* the peer's: tells connections from one address apart in the log */
  session_t *next;
  int closing;
  int open_handles; /* tcp + timer until both close callbacks ran */
  SSL *ssl;         /* RTMPS: TLS over memory BIOs; NULL for plain RTMP */
  rtmp_handshake_t *hs;
  rtmp_chunk_reader_t *reader;
  rtmp_chunk_writer_t writer;
  amf0_buf_t out;
  uint64_t last_ack;
  uint32_t peer_window;
  uint64_t last_read_ms;
  uint64_t connected_ms;
  uint64_t publishing_ms; /* the last timer tick that found it publishing, or the connect */
  char app[128];
  live_stream_t *ls;   /* set while publishing */
  int publish_seen;    /* a publish was attempted (for logs) */
  /* media state of the current publish */
  media_config_t cfg;
  int cfg_dirty;       /* a sequence header changed the config */
  int cfg_published;
  ts_clock_t clock;    /* message timestamps → one timeline */
  int warned_codec[2];
  /* onMetaData announced a video codec onair cannot carry and no video tag
   * came yet: audio is held back (dropped) until then, at most until
   * video_doubt_until (uv_now ms), so a publish that is about to be refused
   * (refuse_video_codec) leaves no audio-only segment or recording behind. */
  int video_doubt;
  uint64_t video_doubt_until;
  /* Audio that is not AAC goes through a converter (aac_worker.h); its
   * output stays as first chosen, so a decoder restart keeps the config. */
  aac_worker_t *aconv;
  aac_conv_input_t aconv_in;
  aac_conv_output_t aconv_out;  /* sample_rate 0 until the first converter */
  aac_conv_input_t aconv_failed; /* could not start for this input (codec_id
                                    0: none yet): not retried */
  unsigned aconv_starts;        /* a publisher flipping its tags' set-up cannot
                                   make the loop restart decoders forever */
};

/* Converter starts allowed per connection (a real encoder needs one or two). */
#define MAX_CONVERTER_STARTS 16
/* Replies not yet taken by the peer. A publisher reads the few hundred
 * bytes each command gets; one that keeps sending commands and never reads
 * would make us queue replies without end. */
#define MAX_WRITE_BACKLOG (256u * 1024)

/* ---------- closing ---------- */

static void server_maybe_done(rtmp_server_t *srv) {
  if (srv->closing && srv->pending_closes == 0 && srv->done) {
    void (*done)(void *) = srv->done;
    srv->done = NULL;
    done(srv->done_arg);
  }
}

static void on_session_handle_closed(uv_handle_t *h) {
  session_t *s = h->data;
  rtmp_server_t *srv = s->srv;
  srv->pending_closes--;
  /* libuv does not promise an order between the two close callbacks: the
   * memory goes with whichever comes last. */
  if (--s->open_handles == 0) {
    rtmp_handshake_free(s->hs);
    rtmp_chunk_reader_free(s->reader);
    amf0_buf_free(&s->out);
    media_config_clear(&s->cfg);
    if (s->ssl) SSL_free(s->ssl); /* frees its BIOs too */
    free(s);
  }
  server_maybe_done(srv);
}

static void session_close(session_t *s, const char *reason) {
  if (s->closing) return;
  s->closing = 1;
  rtmp_server_t *srv = s->srv;
  log_info("rtmp_close ip=%s port=%d reason=%s%s%s", s->ip, s->port, reason, s->ls ? " stream=" : "",
           s->ls ? live_stream_id(s->ls) : "");
  aac_worker_stop(s->aconv); /* no converted frame arrives after this */
  s->aconv = NULL;
  if (s->ls) {
    live_stream_t *ls = s->ls;
    s->ls = NULL;
    live_publish_end(srv->live, ls);
  }
  for (session_t **pp = &srv->sessions; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  srv->nsessions--;
  srv->pending_closes += 2;
  s->open_handles = 2;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, on_session_handle_closed);
  uv_close((uv_handle_t *)&s->tcp, on_session_handle_closed);
}

/* ---------- writing ---------- */

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
} write_req_t;

static void on_written(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  session_t *s = req->data;
  if (status < 0 && !s->closing) session_close(s, "write_failed");
  free(w);
}

static int write_raw(session_t *s, const uint8_t *data, size_t len) {
  write_req_t *w = malloc(sizeof(*w) + len);
  if (!w) return ERR_NOMEM;
  memcpy(w + 1, data, len);
  w->buf = uv_buf_init((char *)(w + 1), (unsigned)len);
  w->req.data = s;
  if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &w->buf, 1, on_written) != 0) {
    free(w);
    return ERR_IO;
  }
  return 0;
}

/* RTMPS: sends the TLS records OpenSSL queued in the write BIO. */
static int tls_drain(session_t *s) {
  BIO *wbio = SSL_get_wbio(s->ssl);
  char *data;
  long len = BIO_get_mem_data(wbio, &data);
  if (len <= 0) return 0;
  int rc = write_raw(s, (const uint8_t *)data, (size_t)len);
  (void)BIO_reset(wbio);
  return rc;
}

/* Sends what the handlers appended to s->out (through TLS for RTMPS). */
static int session_flush(session_t *s) {
  if (s->out.err) return s->out.err;
  if (s->out.len == 0 || s->closing) return 0;
  int rc;
  if (s->ssl) {
    /* memory BIOs never block: SSL_write takes everything at once */
    rc = SSL_write(s->ssl, s->out.data, (int)s->out.len) == (int)s->out.len ? tls_drain(s) : ERR_IO;
  } else {
    rc = write_raw(s, s->out.data, s->out.len);
  }
  amf0_buf_reset(&s->out);
  return rc;
}

static int send_command(session_t *s, uint32_t stream_id, amf0_buf_t *body) {
  int rc = body->err ? body->err : rtmp_chunk_write_command(&s->writer, &s->out, stream_id, body);
  amf0_buf_free(body);
  return rc;
}

static int send_status(session_t *s, const char *level, const char *code, const char *desc) {
  amf0_buf_t b;
  amf0_buf_init(&b);
  amf0_build_on_status(&b, level, code, desc);
  return send_command(s, PUBLISH_STREAM_ID, &b);
}

/* ---------- media ---------- */

static media_codec_t codec_of(flv_codec_t c) {
  switch (c) {
    case FLV_CODEC_H264: return CODEC_H264;
    case FLV_CODEC_HEVC: return CODEC_HEVC;
    case FLV_CODEC_AAC: return CODEC_AAC;
    default: return CODEC_NONE;
  }
}

static int set_extradata(uint8_t **dst, size_t *dstlen, const uint8_t *p, size_t len) {
  if (*dstlen == len && *dst && memcmp(*dst, p, len) == 0) return 0; /* unchanged */
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return ERR_NOMEM;
  memcpy(copy, p, len);
  free(*dst);
  *dst = copy;
  *dstlen = len;
  return 1;
}

/* RTMP timestamps are 32-bit ms and wrap; the hub wants monotonic int64. */
static int64_t unwrap_ts(session_t *s, int kind, uint32_t ts) {
  int jumped;
  int64_t out = ts_clock_map(&s->clock, kind, ts, &jumped);
  if (jumped)
    log_warn("rtmp_timestamp_jump stream=%s kind=%s ts=%u action=continue_timeline",
             s->ls ? live_stream_id(s->ls) : "-", kind == MEDIA_VIDEO ? "video" : "audio", ts);
  return out;
}

/* Into the hub, after the configuration if it changed. */
static int publish_frame(session_t *s, media_frame_t *fr) {
  hub_t *hub = live_stream_hub(s->ls);
  int rc;
  if (s->cfg_dirty || !s->cfg_published) {
    if ((rc = hub_publish_config(hub, &s->cfg)) != 0) return rc;
    s->cfg_dirty = 0;
    s->cfg_published = 1;
  }
  return hub_publish_frame(hub, fr);
}

/* An AAC frame from the converter (loop thread). */
static void on_converted(void *ud, media_frame_t *fr) {
  session_t *s = ud;
  int rc = s->ls && !s->closing ? publish_frame(s, fr) : 0;
  media_frame_unref(fr);
  if (rc) session_close(s, "publish_failed");
}

/* The audio half of the stream's config becomes the converter's AAC
 * (dirty when that changes it: first start, or after real AAC). */
static int take_converter_config(session_t *s) {
  media_config_t c = {0};
  int rc = aac_worker_fill_config(s->aconv, &c);
  if (rc == 0 && !(s->cfg.audio_codec == CODEC_AAC && s->cfg.sample_rate == c.sample_rate &&
                   s->cfg.channels == c.channels &&
                   s->cfg.audio_extradata_len == c.audio_extradata_len &&
                   memcmp(s->cfg.audio_extradata, c.audio_extradata, c.audio_extradata_len) == 0)) {
    rc = aac_worker_fill_config(s->aconv, &s->cfg);
    if (rc == 0) s->cfg_dirty = 1;
  }
  media_config_clear(&c);
  return rc;
}

/* Makes sure a converter for `in` runs (restarting it when the decoder set-up
 * changed). The first one fixes the output: the stream's audio config.
 * remember: a failure is not retried for the same input (from a tag; the
 * metadata's guess may be wrong where the tags are right). */
static int converter_for(session_t *s, const aac_conv_input_t *in, int remember) {
  if (s->aconv && flv_audio_same_input(&s->aconv_in, in)) return 0;
  if (s->aconv_failed.codec_id && flv_audio_same_input(&s->aconv_failed, in))
    return ERR_UNSUPPORTED;
  if (s->aconv_starts == MAX_CONVERTER_STARTS) {
    log_warn("rtmp_audio_convert_stopped stream=%s reason=too_many_changes",
             live_stream_id(s->ls));
    s->aconv_starts++;
  }
  if (s->aconv_starts > MAX_CONVERTER_STARTS) return ERR_UNSUPPORTED;
  aac_worker_stop(s->aconv);
  s->aconv = NULL;
  if (!s->aconv_out.sample_rate) s->aconv_out = aac_conv_output_for(in->sample_rate, in->channels);
  s->aconv_starts++;
  s->aconv = aac_worker_start(s->srv->loop, in, &s->aconv_out, live_stream_id(s->ls),
                              on_converted, s);
  if (!s->aconv) {
    if (remember) {
      s->aconv_failed = *in;
      s->aconv_failed.extradata = NULL;
    }
    return ERR_UNSUPPORTED;
  }
  s->aconv_in = *in;
  s->aconv_in.extradata = NULL; /* pointed into the tag; its length still tells it had one */
  return take_converter_config(s);
}

/* Audio the hub does not carry as is (MP3, Opus, Speex, …) is converted to AAC.
 * ERR_UNSUPPORTED when no decoder takes it. */
static int convert_audio(session_t *s, const flv_frame_t *f, uint32_t timestamp) {
  aac_conv_input_t in;
  int rc = flv_audio_input(f, &in);
  if (rc == ERR_INVALID) { /* like a broken AAC sequence header: skipped */
    log_warn("rtmp_bad_sequence_header stream=%s kind=audio len=%zu", live_stream_id(s->ls), f->len);
    hub_count_dropped(live_stream_hub(s->ls));
    return 0;
  }
  if (rc == 0) rc = converter_for(s, &in, 1);
  if (rc) return rc;
  if (f->len == 0 || (f->enhanced && f->packet != FLV_PACKET_FRAME)) return 0;
  rc = aac_worker_push(s->aconv, f->data, f->len, unwrap_ts(s, MEDIA_AUDIO, timestamp));
  if (rc == ERR_AGAIN || rc == ERR_TOO_LARGE) hub_count_dropped(live_stream_hub(s->ls));
  return rc == ERR_NOMEM ? rc : 0;
}

/* Video onair cannot carry (ffmpeg's default flv1, VP6, AV1, VP9, …) ends
 * the publish at its first frame or sequence header: dropping it would put
 * the stream live with audio alone and nothing to tell the user why (as
 * MediaMTX does, the publish fails instead). The reason goes to the log,
 * to the stream's health (live_publish_fail), and to the encoder as an
 * error onStatus (best effort: an encoder that is still sending gets a
 * reset, and the kernel may drop the reply with it). */
static int refuse_video_codec(session_t *s, const flv_frame_t *f) {
  flv_codec_name_t n = flv_video_codec_name(f);
  char codec[64], message[160];
  if (n.desc)
    snprintf(codec, sizeof(codec), "%s (%s)", n.name, n.desc);
  else
    snprintf(codec, sizeof(codec), "%s", n.name);
  snprintf(message, sizeof(message),
           "unsupported video codec %s: push H.264 or HEVC (ffmpeg: -c:v libx264)", codec);
  log_warn("rtmp_unsupported_codec ip=%s port=%d stream=%s kind=video codec=%s action=disconnect",
           s->ip, s->port, live_stream_id(s->ls), codec);
  live_publish_fail(s->srv->live, s->ls, message);
  send_status(s, "error", "NetStream.Publish.Rejected", message);
  session_flush(s);
  session_close(s, "unsupported_video_codec");
  return ERR_UNSUPPORTED;
}

static int on_media(session_t *s, const rtmp_message_t *m) {
  if (!s->ls) return 0; /* media before publish (or after a kick): ignore */
  int is_video = m->type_id == RTMP_MSG_VIDEO;
  flv_frame_t f;
  int rc = is_video ? flv_parse_video(m->payload, m->len, &f) : flv_parse_audio(m->payload, m->len, &f);
  if (rc) return rc;
  int kind = is_video ? MEDIA_VIDEO : MEDIA_AUDIO;
  media_codec_t codec = codec_of(f.codec);
  if (s->video_doubt) {
    if (is_video || uv_now(s->srv->loop) >= s->video_doubt_until)
      s->video_doubt = 0; /* the video decides (below), or none came: audio flows */
    else
      return 0;
  }
  if (!is_video && f.codec != FLV_CODEC_AAC) {
    rc = convert_audio(s, &f, m->timestamp);
    if (rc != ERR_UNSUPPORTED) return rc;
  }
  if (!f.supported || codec == CODEC_NONE) {
    if (is_video && (f.packet == FLV_PACKET_SEQUENCE_HEADER || f.packet == FLV_PACKET_FRAME))
      return refuse_video_codec(s, &f);
    if (!s->warned_codec[kind]) {
      s->warned_codec[kind] = 1;
      log_warn("rtmp_unsupported_codec stream=%s kind=%s codec_id=%u fourcc=%08x",
               live_stream_id(s->ls), is_video ? "video" : "audio", f.codec_id, f.fourcc);
    }
    return 0;
  }
  if (f.packet == FLV_PACKET_SEQUENCE_HEADER) {
    /* An empty or broken decoder configuration (some muxers send one before
     * the real one) is skipped, not fatal: frames stay unusable until a
     * valid one arrives, and the connection carries on. */
    if (is_video) {
      int w, h;
      if (media_video_config_size(codec, f.data, f.len, &w, &h) != 0) {
        log_warn("rtmp_bad_sequence_header stream=%s kind=video len=%zu", live_stream_id(s->ls),
                 f.len);
        hub_count_dropped(live_stream_hub(s->ls));
        return 0;
      }
      rc = set_extradata(&s->cfg.video_extradata, &s->cfg.video_extradata_len, f.data, f.len);
      s->cfg.video_codec = codec;
      /* The coded size wins over onMetaData (absent, zero or stale there). */
      if (w > 0 && h > 0 && (w != s->cfg.width || h != s->cfg.height)) {
        s->cfg.width = w;
        s->cfg.height = h;
        if (rc == 0) rc = 1; /* the config changed */
      }
    } else {
      flv_aac_config_t aac;
      if (flv_parse_aac_config(f.data, f.len, &aac) != 0) {
        log_warn("rtmp_bad_sequence_header stream=%s kind=audio len=%zu", live_stream_id(s->ls),
                 f.len);
        hub_count_dropped(live_stream_hub(s->ls));
        return 0;
      }
      if (s->aconv) { /* real AAC again: converted frames must not follow its config */
        aac_worker_stop(s->aconv);
        s->aconv = NULL;
      }
      rc = set_extradata(&s->cfg.audio_extradata, &s->cfg.audio_extradata_len, f.data, f.len);
      s->cfg.audio_codec = codec;
      s->cfg.sample_rate = (int)aac.sample_rate;
      s->cfg.channels = aac.channel_config;
    }
    if (rc < 0) return rc;
    if (rc > 0) s->cfg_dirty = 1;
    return 0;
  }
  if (f.packet != FLV_PACKET_FRAME || f.len == 0) return 0;
  /* A frame of a codec whose configuration never came cannot be decoded. */
  if ((is_video && s->cfg.video_codec != codec) || (!is_video && s->cfg.audio_codec != codec))
    return 0;
  media_frame_t *fr = media_frame_new(f.len);
  if (!fr) return ERR_NOMEM;
  memcpy(fr->data, f.data, f.len);
  fr->kind = kind;
  fr->codec = codec;
  fr->keyframe = is_video ? f.keyframe : 1;
  fr->dts = unwrap_ts(s, kind, m->timestamp);
  fr->pts = fr->dts + (is_video ? f.cts : 0);
  rc = publish_frame(s, fr);
  media_frame_unref(fr);
  return rc;
}

/* How long audio waits for the first video tag when onMetaData announced a
 * video codec onair cannot carry (encoders send the first video frame within
 * a few tens of ms of the first audio one). */
#define VIDEO_DOUBT_MS 2000

/* onMetaData's videocodecid names a codec onair does not take (ffmpeg's
 * default flv1, VP6, AV1, VP9, ...). Anything else (H.264, HEVC, absent,
 * unknown) holds nothing back. */
static int video_codec_doubtful(const char *id) {
  int known;
  flv_codec_t c = flv_metadata_video_codec(id, &known);
  return known && codec_of(c) == CODEC_NONE;
}

static void on_metadata(session_t *s, const rtmp_message_t *m) {
  flv_metadata_t md;
  if (flv_parse_metadata_amf(m->payload, m->len, &md) != 0) return; /* metadata is advisory */
  /* Metadata sizes only fill in until the decoder configuration tells. */
  if (!s->cfg.video_extradata && md.width > 0 && md.width < 100000) s->cfg.width = (int)md.width;
  if (!s->cfg.video_extradata && md.height > 0 && md.height < 100000)
    s->cfg.height = (int)md.height;
  if (md.framerate > 0 && md.framerate < 1000) s->cfg.framerate = md.framerate;
  if (s->ls && md.encoder[0]) hub_set_source(live_stream_hub(s->ls), md.encoder, NULL);
  if (s->ls && !s->cfg.video_extradata && video_codec_doubtful(md.video_codec)) {
    s->video_doubt = 1;
    s->video_doubt_until = uv_now(s->srv->loop) + VIDEO_DOUBT_MS;
  }
  /* Audio announced in a codec that is converted: the converter starts now,
   * so the AAC config is in the stream's configuration from its first frame
   * (MP3 has no sequence header; video usually comes first). */
  aac_conv_input_t in;
  if (s->ls && !s->aconv && md.audio_codec[0] &&
      flv_audio_input_from_metadata(md.audio_codec, md.audio_samplerate, md.audio_channels,
                                    &in) == 0)
    (void)converter_for(s, &in, 0); /* on failure the first audio frame says why */
  log_debug("rtmp_metadata ip=%s width=%d height=%d fps=%.2f encoder=%s", s->ip, s->cfg.width,
            s->cfg.height, s->cfg.framerate, md.encoder);
}

/* ---------- commands ---------- */

/* live_publisher_t.silent_ms: how long the peer has sent nothing. */
static uint64_t session_silent_ms(void *ud) {
  session_t *s = ud;
  return uv_now(s->srv->loop) - s->last_read_ms;
}

static void on_kick(void *ud, const char *reason) {
  session_t *s = ud;
  char why[128];
  if (strcmp(reason, LIVE_REASON_REPLACED) == 0 && s->ls) /* say how stale, and which stream */
    snprintf(why, sizeof(why), "%s stale_ms=%llu stream=%s", reason,
             (unsigned long long)session_silent_ms(s), live_stream_id(s->ls));
  else
    snprintf(why, sizeof(why), "%s", reason);
  s->ls = NULL; /* the registry already detached us */
  if (s->closing) return;
  send_status(s, "status", "NetStream.Unpublish.Success", reason);
  session_flush(s);
  session_close(s, why);
}

/* A refused publish answers NetStream.Publish.BadName, then closes the
 * connection (reason=publish_refused): encoders retry on a new one. The
 * caller has logged why. Returns rc. */
static int refuse_publish(session_t *s, const char *description, int rc) {
  send_status(s, "error", "NetStream.Publish.BadName", description);
  session_flush(s);
  session_close(s, "publish_refused");
  return rc;
}

static int cmd_publish(session_t *s, json_t *args, double txn) {
  (void)txn;
  const char *name = json_string_value(json_array_get(args, 3));
  char key[256];
  if (!name || !*name || strlen(name) >= sizeof(key)) {
    log_warn("rtmp_publish_refused ip=%s reason=no_key", s->ip);
    return refuse_publish(s, "a stream key is required", ERR_INVALID);
  }
  /* OBS/ffmpeg may append "?query" to the key; the key is before it. */
  size_t kl = strcspn(name, "?");
  memcpy(key, name, kl);
  key[kl] = '\0';
  if (s->ls || s->publish_seen) {
    log_warn("rtmp_publish_refused ip=%s reason=already_publishing", s->ip);
    return refuse_publish(s, "already publishing", ERR_CONFLICT);
  }
  s->publish_seen = 1;
  live_publisher_t pub = {.kick = on_kick, .silent_ms = session_silent_ms, .ud = s};
  live_stream_t *ls = NULL;
  int rc = live_publish_begin(s->srv->live, key, "rtmp", &pub, &ls);
  char redacted[16];
  if (rc) {
    log_warn("rtmp_publish_refused ip=%s key=%s reason=%s", s->ip,
             log_redact(key, redacted, sizeof(redacted)),
             rc == ERR_NOT_FOUND   ? "unknown_key"
             : rc == ERR_CONFLICT  ? "busy"
             : rc == ERR_FORBIDDEN ? "disabled"
                                   : err_str(rc));
    return refuse_publish(s,
                          rc == ERR_CONFLICT    ? "the stream already has a publisher"
                          : rc == ERR_FORBIDDEN ? "the stream is disabled"
                                                : "unknown stream key",
                          rc);
  }
  s->ls = ls;
  hub_set_source(live_stream_hub(ls), NULL, s->ssl ? "rtmps" : "rtmp");
  log_info("rtmp_publish ip=%s port=%d stream=%s app=%s", s->ip, s->port, live_stream_id(ls),
           s->app);
  rtmp_chunk_write_user_control(&s->writer, &s->out, RTMP_UC_STREAM_BEGIN, PUBLISH_STREAM_ID);
  send_status(s, "status", "NetStream.Publish.Start", "publishing");
  return session_flush(s);
}

static int on_command(session_t *s, const rtmp_message_t *m) {
  const uint8_t *p = m->payload;
  size_t len = m->len;
  if (m->type_id == RTMP_MSG_COMMAND_AMF3) { /* AMF3 command: a 0 byte, then AMF0 */
    if (len < 1) return ERR_PROTOCOL;
    p++, len--;
  }
  json_t *args;
  int rc = amf0_decode_all(p, len, &args);
  if (rc) return rc;
  const char *name = json_string_value(json_array_get(args, 0));
  double txn = json_number_value(json_array_get(args, 1));
  amf0_buf_t b;
  amf0_buf_init(&b);
  if (!name) {
    rc = ERR_PROTOCOL;
  } else if (strcmp(name, "connect") == 0) {
    const char *app = json_string_value(json_object_get(json_array_get(args, 2), "app"));
    snprintf(s->app, sizeof(s->app), "%s", app ? app : "");
    double enc = json_number_value(json_object_get(json_array_get(args, 2), "objectEncoding"));
    rtmp_chunk_write_window_ack_size(&s->writer, &s->out, ACK_WINDOW);
    rtmp_chunk_write_set_peer_bandwidth(&s->writer, &s->out, ACK_WINDOW, RTMP_BW_DYNAMIC);
    rtmp_chunk_write_set_chunk_size(&s->writer, &s->out, OUT_CHUNK_SIZE);
    amf0_build_connect_result(&b, txn, enc);
    rc = send_command(s, 0, &b);
    if (!rc) {
      amf0_buf_init(&b);
      amf0_build_on_bw_done(&b);
      rc = send_command(s, 0, &b);
    }
  } else if (strcmp(name, "createStream") == 0) {
    amf0_build_result_number(&b, txn, PUBLISH_STREAM_ID);
    rc = send_command(s, 0, &b);
  } else if (strcmp(name, "releaseStream") == 0 || strcmp(name, "FCPublish") == 0 ||
             strcmp(name, "FCUnpublish") == 0) {
    if (txn > 0) {
      amf0_build_result_empty(&b, "_result", txn);
      rc = send_command(s, 0, &b);
    }
  } else if (strcmp(name, "publish") == 0) {
    rc = cmd_publish(s, args, txn);
  } else if (strcmp(name, "deleteStream") == 0 || strcmp(name, "closeStream") == 0) {
    if (s->ls) {
      live_stream_t *ls = s->ls;
      s->ls = NULL;
      live_publish_end(s->srv->live, ls);
    }
  } else if (strcmp(name, "play") == 0) {
    amf0_buf_free(&b);
    send_status(s, "error", "NetStream.Play.Failed", "onair plays HLS: use the playback_url");
    session_flush(s);
    rc = ERR_UNSUPPORTED;
  } else {
    log_debug("rtmp_command_ignored ip=%s name=%.40s", s->ip, name);
  }
  amf0_buf_free(&b);
  json_decref(args);
  if (!rc) rc = session_flush(s);
  return rc;
}

static int on_message(void *ud, const rtmp_message_t *m) {
  session_t *s = ud;
  if (s->closing) return ERR_IO;
  switch (m->type_id) {
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
      return on_media(s, m);
    case RTMP_MSG_COMMAND_AMF0:
    case RTMP_MSG_COMMAND_AMF3:
      return on_command(s, m);
    case RTMP_MSG_DATA_AMF0:
      on_metadata(s, m);
      return 0;
    case RTMP_MSG_WINDOW_ACK_SIZE:
      if (m->len >= 4) {
        uint32_t w = (uint32_t)m->payload[0] << 24 | (uint32_t)m->payload[1] << 16 |
                     (uint32_t)m->payload[2] << 8 | m->payload[3];
        s->peer_window = w ? w : ACK_WINDOW;
      }
      return 0;
    case RTMP_MSG_SET_CHUNK_SIZE:
    case RTMP_MSG_ABORT:
    case RTMP_MSG_ACK:
    case RTMP_MSG_USER_CONTROL:
    case RTMP_MSG_SET_PEER_BANDWIDTH:
    case RTMP_MSG_DATA_AMF3:
    case RTMP_MSG_SHARED_OBJECT_AMF3:
    case RTMP_MSG_SHARED_OBJECT_AMF0:
    case RTMP_MSG_AGGREGATE:
      return 0; /* applied by the reader, or not used by publishers */
    default:
      log_warn("rtmp_unknown_message ip=%s type=%u len=%zu", s->ip, m->type_id, m->len);
      return ERR_PROTOCOL;
  }
}

/* ---------- reading ---------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[64 * 1024]; /* loop thread only; consumed before the next read */
  *buf = uv_buf_init(slab, sizeof(slab));
}

/* Plain RTMP bytes (after TLS for RTMPS): handshake, then chunks. */
static void session_input(session_t *s, const uint8_t *p, size_t len) {
  if (rtmp_handshake_state(s->hs) != RTMP_HS_DONE) {
    size_t used = 0;
    int rc = rtmp_handshake_feed(s->hs, p, len, &used);
    size_t olen;
    const uint8_t *o = rtmp_handshake_take_output(s->hs, &olen);
    if (o && olen) amf0_buf_append(&s->out, o, olen);
    if (rc == 0) rc = session_flush(s);
    if (rc) {
      session_close(s, "bad_handshake");
      return;
    }
    p += used;
    len -= used;
    if (rtmp_handshake_state(s->hs) != RTMP_HS_DONE) return;
    log_debug("rtmp_handshake_done ip=%s digest=%d tls=%d", s->ip, rtmp_handshake_is_digest(s->hs),
              s->ssl != NULL);
  }
  if (len == 0) return;
  int rc = rtmp_chunk_reader_feed(s->reader, p, len);
  if (s->closing) return;
  if (rc) {
    char why[64];
    snprintf(why, sizeof(why), "protocol_error:%s", err_str(rc));
    session_close(s, why);
    return;
  }
  uint64_t total = rtmp_chunk_reader_bytes(s->reader);
  if (total - s->last_ack >= s->peer_window) {
    s->last_ack = total;
    rtmp_chunk_write_ack(&s->writer, &s->out, (uint32_t)total);
    session_flush(s);
  }
}

static void tls_input(session_t *s, const uint8_t *p, size_t len) {
  if (BIO_write(SSL_get_rbio(s->ssl), p, (int)len) != (int)len) {
    session_close(s, "tls_buffer");
    return;
  }
  static uint8_t plain[64 * 1024]; /* loop thread only */
  for (;;) {
    int n = SSL_read(s->ssl, plain, sizeof(plain));
    if (n > 0) {
      session_input(s, plain, (size_t)n);
      if (s->closing) return;
      continue;
    }
    int err = SSL_get_error(s->ssl, n);
    tls_drain(s); /* handshake records, alerts */
    if (err == SSL_ERROR_WANT_READ) return;
    char why[96];
    snprintf(why, sizeof(why), "tls_error:%s",
             err == SSL_ERROR_ZERO_RETURN ? "closed" : ERR_reason_error_string(ERR_get_error()));
    session_close(s, why);
    return;
  }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  session_t *s = stream->data;
  if (nread == 0 || s->closing) return;
  if (nread < 0) {
    session_close(s, nread == UV_EOF ? "eof" : uv_err_name((int)nread));
    return;
  }
  s->last_read_ms = uv_now(s->srv->loop);
  /* Encoders often leave Nagle on (ffmpeg's RTMP does): each small write then
   * waits for our ACK, and Linux delays ACKs by up to 40 ms. Acknowledging
   * at once removes that wait from the glass-to-playlist latency. Linux
   * clears the flag after each ACK, so it is set again per read. */
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&s->tcp, &fd) == 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
  }
  if (s->ssl)
    tls_input(s, (const uint8_t *)buf->base, (size_t)nread);
  else
    session_input(s, (const uint8_t *)buf->base, (size_t)nread);
  if (!s->closing && uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) > MAX_WRITE_BACKLOG)
    session_close(s, "write_backlog");
}

static void on_session_timer(uv_timer_t *t) {
  session_t *s = t->data;
  rtmp_server_t *srv = s->srv;
  uint64_t now = uv_now(srv->loop);
  if (s->ls) s->publishing_ms = now;
  if (rtmp_handshake_state(s->hs) != RTMP_HS_DONE) {
    if (now - s->connected_ms >= srv->opts.handshake_timeout_ms)
      session_close(s, "handshake_timeout");
  } else if (now - s->last_read_ms >= srv->opts.idle_timeout_ms) {
    session_close(s, "idle_timeout");
  } else if (now - s->publishing_ms >= srv->opts.publish_timeout_ms) {
    /* A slot held by a peer that trickles bytes but never publishes would
     * otherwise count against the connection limits for ever. */
    session_close(s, "no_publish");
  }
}

static unsigned count_ip(rtmp_server_t *srv, const char *ip) {
  unsigned n = 0;
  for (session_t *s = srv->sessions; s; s = s->next)
    if (strcmp(s->ip, ip) == 0) n++;
  return n;
}

static void on_refused_closed(uv_handle_t *h) { free(h->data); }

static void on_connection(uv_stream_t *server, int status) {
  rtmp_server_t *srv = server->data;
  if (status < 0 || srv->closing) return;
  session_t *s = calloc(1, sizeof(*s));
  if (!s) return;
  uv_tcp_init(srv->loop, &s->tcp);
  s->tcp.data = s;
  if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
    uv_close((uv_handle_t *)&s->tcp, on_refused_closed);
    return;
  }
  struct sockaddr_storage addr;
  int alen = sizeof(addr);
  snprintf(s->ip, sizeof(s->ip), "?");
  if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&addr, &alen) == 0) {
    if (addr.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&addr, s->ip, sizeof(s->ip));
      s->port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&addr, s->ip, sizeof(s->ip));
      s->port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
  }
  if (srv->nsessions >= srv->opts.max_connections || count_ip(srv, s->ip) >= srv->opts.max_per_ip) {
    log_warn("rtmp_refused ip=%s reason=too_many_connections", s->ip);
    uv_close((uv_handle_t *)&s->tcp, on_refused_closed);
    return;
  }
  rtmp_chunk_opts_t copts;
  rtmp_chunk_opts_default(&copts);
  copts.max_message_size = srv->opts.max_message_size;
  s->srv = srv;
  s->hs = rtmp_handshake_new();
  s->reader = rtmp_chunk_reader_new(&copts, on_message, s);
  rtmp_chunk_writer_init(&s->writer);
  amf0_buf_init(&s->out);
  s->peer_window = ACK_WINDOW;
  s->connected_ms = s->last_read_ms = s->publishing_ms = uv_now(srv->loop);
  uv_timer_init(srv->loop, &s->timer);
  s->timer.data = s;
  s->next = srv->sessions;
  srv->sessions = s;
  srv->nsessions++;
  if (srv->opts.tls) {
    s->ssl = SSL_new(srv->opts.tls);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (s->ssl && rbio && wbio) {
      SSL_set_bio(s->ssl, rbio, wbio);
      SSL_set_accept_state(s->ssl);
    } else {
      BIO_free(rbio);
      BIO_free(wbio);
      if (s->ssl) SSL_free(s->ssl);
      s->ssl = NULL;
      rtmp_handshake_free(s->hs);
      s->hs = NULL; /* fall into the failure below */
    }
  }
  if (!s->hs || !s->reader) {
    session_close(s, "out_of_memory");
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  uv_timer_start(&s->timer, on_session_timer, 1000, 1000); /* on_session_timer: the deadlines */
  uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  log_debug("rtmp_accept ip=%s port=%d", s->ip, s->port);
}

int rtmp_server_new(uv_loop_t *loop, live_t *live, const rtmp_server_opts_t *opts,
                    rtmp_server_t **out) {
  rtmp_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return ERR_NOMEM;
  srv->loop = loop;
  srv->live = live;
  if (opts) srv->opts = *opts;
  if (!srv->opts.max_connections) srv->opts.max_connections = 1000;
  if (!srv->opts.max_per_ip) srv->opts.max_per_ip = 50;
  if (!srv->opts.max_message_size) srv->opts.max_message_size = 8u * 1024 * 1024;
  if (!srv->opts.handshake_timeout_ms) srv->opts.handshake_timeout_ms = 10000;
  if (!srv->opts.idle_timeout_ms) srv->opts.idle_timeout_ms = 30000;
  if (!srv->opts.publish_timeout_ms) srv->opts.publish_timeout_ms = 30000;
  *out = srv;
  return 0;
}

int rtmp_server_listen(rtmp_server_t *srv, const char *host, int port) {
  struct sockaddr_storage addr;
  int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
  if (rc) return ERR_INVALID;
  uv_tcp_init(srv->loop, &srv->listener);
  srv->listener.data = srv;
  srv->listening = 1;
  if (uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&srv->listener, 128, on_connection) != 0)
    return ERR_IO;
  struct sockaddr_storage bound;
  int blen = sizeof(bound);
  uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
  srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  log_info("%s_listening host=%s port=%d", srv->opts.tls ? "rtmps" : "rtmp", host, srv->port);
  return 0;
}

int rtmp_server_port(const rtmp_server_t *srv) { return srv->port; }

static void on_listener_closed(uv_handle_t *h) {
  rtmp_server_t *srv = h->data;
  srv->pending_closes--;
  server_maybe_done(srv);
}

void rtmp_server_close(rtmp_server_t *srv, void (*done)(void *), void *arg) {
  srv->closing = 1;
  srv->done = done;
  srv->done_arg = arg;
  if (srv->listening) {
    srv->listening = 0;
    srv->pending_closes++;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
  }
  while (srv->sessions) session_close(srv->sessions, "shutdown");
  server_maybe_done(srv);
}

void rtmp_server_free(rtmp_server_t *srv) { free(srv); }
