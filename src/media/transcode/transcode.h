/* transcode.h — the ABR ladder of live streams.
 *
 * Follows publishes through a live observer. When a stream whose
 * params.mode is not passthrough starts publishing H.264 (or HEVC) video,
 * the transcoder plans its rungs (ladder.h), adds one rendition per rung
 * (live_rendition_add: each has its own hub and HLS packager) and starts a
 * session (session.h): the source is decoded once on a worker thread and
 * every rung is scaled and encoded with libx264 on its own thread. Encoded
 * frames come back to the loop through a uv_async_t and are published into
 * the rung's hub with their own configuration; the source's AAC frames are
 * shared into every rung (same refcounted frame), held back until the
 * rung's video has caught up so each segment carries the same media time.
 *
 * A rung that falls behind drops frames up to the next keyframe: logged,
 * counted in the rung hub (hub_count_dropped: the stream's health data),
 * and exported to /metrics as onair_transcode_dropped_frames_total with the
 * queue depth as onair_transcode_queue_frames.
 *
 * The end of a publish stops the session (threads joined) and unpublishes
 * the rungs; a reconnect continues every rung's playlist. The mode and
 * qualities are read when a publish begins.
 *
 * It also measures every rendition's segments (on_segment) so that the
 * multivariant playlist can state BANDWIDTH / AVERAGE-BANDWIDTH, and keeps
 * the size and CODECS they were made with (the hub forgets its
 * configuration when a publisher leaves; the playlist stays).
 *
 * Loop thread only (the workers are internal).
 */
#ifndef ONAIR_TRANSCODE_H
#define ONAIR_TRANSCODE_H

#include <uv.h>

#include "live/live.h"
#include "store/store.h"

typedef struct transcode transcode_t;

typedef struct {
  const char *preset;      /* x264 preset; NULL/"" = veryfast */
  int threads;             /* x264 threads per rung; 0 = 1 up to 720p, 2 above */
  unsigned max_auto_rungs; /* auto mode: standard rungs below the source (0: none, auto
                            * then plays like passthrough; custom still transcodes) */
  unsigned queue_frames;   /* decoded frames a rung may have waiting; default 30 */
} transcode_opts_t;

/* Registers the live observer and the metrics collector. NULL on failure.
 * The registry calls the observer until live_free(), which stops every
 * session; free the transcoder after that, once the loop has run out. */
transcode_t *transcode_new(uv_loop_t *loop, live_t *live, store_t *store,
                           const transcode_opts_t *opts);
void transcode_free(transcode_t *tc);

/* What was measured of rendition `index` of a stream. 0, or ERR_NOT_FOUND
 * when nothing was measured yet. */
typedef struct {
  unsigned peak_bps;    /* highest segment bitrate of the recent TS segments */
  unsigned average_bps; /* over the recent TS segments */
  double fps;           /* the frame rate produced (source: as announced or measured) */
  int width, height;    /* of the last measured segment (0 for audio only) */
  char codecs[64];      /* RFC 6381 CODECS of the last measured segment */
  int in_ladder;        /* the source, or a rung of the latest ladder (a reconnect
                           with another source size may leave older rungs behind) */
} transcode_rendition_info_t;
int transcode_rendition_info(transcode_t *tc, live_stream_t *ls, int index,
                             transcode_rendition_info_t *out);

#endif
