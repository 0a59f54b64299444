/* srt_server.h — the SRT ingest listener (libsrt, MPEG-TS payload).
 *
 * A caller names its stream in SRTO_STREAMID (media/srt/streamid.h). The
 * key is checked inside libsrt's handshake (the listen callback), before
 * the connection exists: unknown keys, m=request and old handshake versions
 * are refused there, and the stream's srt_passphrase and srt_latency are
 * set on the new socket so that libsrt itself refuses a wrong or missing
 * passphrase (and, with enforced encryption, a caller that encrypts when
 * the stream has no passphrase). See docs/SECURITY.md.
 *
 * Threads:
 *  - libsrt's own threads run the handshake and call the listen callback;
 *    it reads the store through a store_t of its own (store_t is not
 *    thread-safe; the loop's handle is never touched).
 *  - the SRT thread owns the listener and every connection (srt_epoll):
 *    it accepts, receives, and feeds each connection's TS demuxer.
 *  - one demux thread per connection (media/srt/ts_demux.h) turns TS into
 *    frames and queues them for the loop, bounded: when the loop falls
 *    behind, frames are dropped up to the next video keyframe and counted
 *    (hub_count_dropped).
 *  - the loop thread (uv_async_t) publishes through the live registry and
 *    the hub exactly as RTMP does, and handles kicks: a kick (stop, delete,
 *    key reset, disable) is handed to the SRT thread, which closes the
 *    socket.
 * A misbehaving peer costs its own connection only; nothing on the SRT
 * side ever blocks the loop.
 *
 * The public functions are for the loop thread.
 */
#ifndef ONAIR_SRT_SERVER_H
#define ONAIR_SRT_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "live/live.h"

typedef struct srt_server srt_server_t;

typedef struct {
  unsigned max_connections;  /* open SRT connections; default 200 */
  unsigned max_queue_frames; /* frames waiting for the loop, per connection; default 600 */
  size_t max_queue_bytes;    /* bytes of those frames; default 32 MiB */
  size_t max_demux_buffer;   /* received bytes waiting for the demuxer; default 4 MiB */
} srt_server_opts_t;

/* data_dir: where the listen callback opens its own store handle. */
int srt_server_new(uv_loop_t *loop, live_t *live, const char *data_dir,
                   const srt_server_opts_t *opts, srt_server_t **out);
/* Binds UDP host:port and starts the SRT thread. ERR_INVALID (address),
 * ERR_IO (bind), ERR_DB (store), ERR_INTERNAL (libsrt, thread). */
int srt_server_listen(srt_server_t *srv, const char *host, int port);
int srt_server_port(const srt_server_t *srv);
/* Stops the SRT thread (closing every connection: their publishers end),
 * then runs done once the loop handles are closed. Then srt_server_free(). */
void srt_server_close(srt_server_t *srv, void (*done)(void *arg), void *arg);
void srt_server_free(srt_server_t *srv);

#endif
