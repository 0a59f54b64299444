/* client.h — an RTMP / RTMPS publishing client on libuv (for simulcast).
 *
 *   resolve (uv_getaddrinfo) → TCP connect → [TLS] → handshake (simple
 *   C0/C1/C2) → connect → releaseStream, FCPublish, createStream →
 *   publish(stream_key, "live") → NetStream.Publish.Start → on_live()
 *
 * After on_live the owner sends the codec configuration (onMetaData and the
 * AVC/HEVC/AAC sequence headers) and frames taken from a hub. Timestamps are
 * rebased so that each connection starts near 0.
 *
 * Nothing blocks: media goes into libuv's write queue. The owner bounds it
 * by looking at rtmp_client_queued() before sending (and drops frames when
 * the target is too slow); a write that makes no progress for stall_ms
 * ends the connection.
 *
 * Ownership: the client frees itself. It calls on_closed at most once
 * (never from inside an rtmp_client_* call, only from the loop) and the
 * owner must not touch it afterwards; or the owner calls
 * rtmp_client_close(), after which no callback runs. Loop thread only.
 */
#ifndef ONAIR_RTMP_CLIENT_H
#define ONAIR_RTMP_CLIENT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "media/hub/frame.h"
#include "media/rtmp/amf0.h"

typedef struct rtmp_client rtmp_client_t;

/* rtmp[s]://host[:port]/app[/more…]: everything after the host is the
 * application name (slashes kept, a trailing one dropped); the stream key
 * is the publish name. Default ports 1935 (rtmp) and 443 (rtmps). */
typedef struct {
  int tls;
  char host[256]; /* without [] for IPv6 literals */
  int port;
  char app[512];
  char tc_url[1024]; /* scheme://host[:port]/app, as sent in connect */
} rtmp_url_t;

/* 0 or ERR_INVALID (scheme, host, port or application missing or bad). */
int rtmp_url_parse(const char *url, rtmp_url_t *out);

typedef struct {
  /* Publishing started: media may be sent from now on (also from inside
   * this callback). */
  void (*on_live)(void *ud);
  /* The connection failed or ended; reason is a short human-readable text
   * ("connect failed: connection refused", "publish rejected: …"). */
  void (*on_closed)(void *ud, const char *reason);
} rtmp_client_cbs_t;

typedef struct {
  SSL_CTX *tls_ctx;      /* for rtmps:// (not owned); see rtmp_client_tls_ctx_new */
  int tls_verify;        /* also check the certificate names the host */
  unsigned timeout_ms;   /* resolve … Publish.Start; default 10 s */
  unsigned stall_ms;     /* queued bytes and no write progress; default 20 s */
} rtmp_client_opts_t;

/* A client TLS context: TLS 1.2+, and with verify the system CAs and
 * SSL_VERIFY_PEER. NULL on failure. Free with SSL_CTX_free. */
SSL_CTX *rtmp_client_tls_ctx_new(int verify);

/* Starts connecting. ERR_INVALID (bad URL, rtmps without tls_ctx, empty
 * key), ERR_NOMEM, ERR_IO. On error nothing was started and no callback
 * will run. */
int rtmp_client_start(uv_loop_t *loop, const char *url, const char *stream_key,
                      const rtmp_client_opts_t *opts, const rtmp_client_cbs_t *cbs, void *ud,
                      rtmp_client_t **out);

/* 1 once on_live has run (until closed). */
int rtmp_client_is_live(const rtmp_client_t *c);
/* Bytes handed to the socket and not yet written. */
size_t rtmp_client_queued(const rtmp_client_t *c);

/* Live only (else ERR_CONFLICT). onMetaData and the sequence headers of
 * cfg's codecs (H.264, HEVC as Enhanced RTMP, AAC). */
int rtmp_client_send_config(rtmp_client_t *c, const media_config_t *cfg);
/* One frame as an FLV audio/video message. ERR_CONFLICT when not live,
 * ERR_UNSUPPORTED for a codec RTMP cannot carry here, ERR_IO/ERR_NOMEM on a
 * write failure (the owner then closes). */
int rtmp_client_send_frame(rtmp_client_t *c, const media_frame_t *f);

/* Ends the connection: when live, FCUnpublish + deleteStream and a TLS
 * close_notify are sent and given up to 2 s to leave; then the socket
 * closes. No callback runs after this call; memory is freed later. */
void rtmp_client_close(rtmp_client_t *c);

/* ---- FLV message bodies (exposed for tests) ----
 * Appended to out. Video: H.264 as legacy FLV (codec id 7), HEVC as
 * Enhanced RTMP ('hvc1'); config = sequence header. Audio: AAC (0xAF).
 * 0, ERR_UNSUPPORTED or ERR_NOMEM. */
int rtmp_client_build_video(amf0_buf_t *out, media_codec_t codec, int config, int keyframe,
                            int32_t cts, const uint8_t *data, size_t len);
int rtmp_client_build_audio(amf0_buf_t *out, media_codec_t codec, int config,
                            const uint8_t *data, size_t len);
/* "@setDataFrame", "onMetaData", {width, height, framerate, videocodecid,
 * audiocodecid, audiosamplerate, audiochannels, stereo, encoder}. */
int rtmp_client_build_metadata(amf0_buf_t *out, const media_config_t *cfg);

#endif
