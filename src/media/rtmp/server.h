/* server.h — the RTMP ingest listener: accepts encoders (OBS, ffmpeg,
 * GStreamer), runs handshake → chunk stream → AMF0 commands, and publishes
 * the audio/video they send into the stream's hub through the live
 * registry (the publish name is the stream key).
 *
 * One bad connection never hurts another: malformed chunks, AMF or FLV
 * tags, oversized messages, slow handshakes or idle peers close that one
 * connection with a log line saying why.
 *
 * Loop thread only.
 */
#ifndef ONAIR_RTMP_SERVER_H
#define ONAIR_RTMP_SERVER_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

#include "live/live.h"

typedef struct rtmp_server rtmp_server_t;

typedef struct {
  unsigned max_connections;     /* default 1000 */
  unsigned max_per_ip;          /* default 50 */
  size_t max_message_size;      /* default 8 MiB */
  unsigned handshake_timeout_ms;/* default 10 s */
  unsigned idle_timeout_ms;     /* no bytes for this long → close; default 30 s */
  unsigned publish_timeout_ms;  /* connected this long without publishing → close; default 30 s */
  SSL_CTX *tls;                 /* RTMPS listener when set (not owned) */
} rtmp_server_opts_t;

int rtmp_server_new(uv_loop_t *loop, live_t *live, const rtmp_server_opts_t *opts,
                    rtmp_server_t **out);
int rtmp_server_listen(rtmp_server_t *srv, const char *host, int port);
int rtmp_server_port(const rtmp_server_t *srv);
/* Stops listening and closes every connection; done runs when all handles
 * are closed. Then rtmp_server_free(). */
void rtmp_server_close(rtmp_server_t *srv, void (*done)(void *arg), void *arg);
void rtmp_server_free(rtmp_server_t *srv);

#endif
