/* clip.h — making clips from the rolling live window (window.h).
 *
 * A clip is a wall-clock range [start_ms, end_ms) of a stream's source
 * rendition. Making one selects the window segments that overlap the
 * range, pins them, and on a libuv worker thread
 *   1. remuxes them (media/record/remux.h, no re-encoding) into
 *      DATA/clips/<id>/clip.mp4, cut at the video keyframe at or before
 *      start_ms and before end_ms, and
 *   2. splits that MP4 into an HLS VOD (libavformat's hls muxer, stream
 *      copy): DATA/clips/<id>/index.m3u8 + seg-NNNNN.ts, ending in
 *      #EXT-X-ENDLIST.
 * Then the clip row (store/clips.h) turns ready, or failed with the reason.
 * At most two clips are made at a time (the thread pool is shared with the
 * window's writes); the others wait their turn, first come first served.
 * Time when the stream was not live inside the range is skipped: the media
 * is shorter than the range then.
 *
 * Loop thread only (the work itself runs on the thread pool).
 */
#ifndef ONAIR_CLIP_H
#define ONAIR_CLIP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "media/clip/window.h"
#include "store/clips.h"
#include "store/store.h"

typedef struct clip_service clip_service_t;

/* hls_target_s: target duration of the clips' HLS VOD segments. */
clip_service_t *clip_service_new(uv_loop_t *loop, store_t *store, clip_window_t *w,
                                 const char *data_dir, unsigned hls_target_s);
/* Shutdown: clips being made finish, those waiting their turn are left
 * "processing" for the next start to make. */
void clip_service_stop(clip_service_t *cs);
/* Frees. Only once the loop has drained (no job in flight). */
void clip_service_free(clip_service_t *cs);

clip_window_t *clip_service_window(clip_service_t *cs);

/* What the window holds for a stream. */
typedef struct {
  int64_t first_ms;           /* start of the oldest segment */
  int64_t last_ms;            /* end of the newest segment: the live edge */
  int64_t broadcast_start_ms; /* start of the newest broadcast (publisher session) in the window */
} clip_span_t;
/* ERR_NOT_FOUND when the window of the stream is empty. */
int clip_service_span(clip_service_t *cs, const char *stream_id, clip_span_t *out);

/* Starts making clip c (stored already, status processing). ERR_CONFLICT
 * when the window holds no media in [c->start_ms, c->end_ms) any more;
 * ERR_NOMEM. */
int clip_service_start(clip_service_t *cs, const store_clip_t *c);
/* After a restart: clips left processing are made again from the reloaded
 * window, or marked failed when their media is gone. */
void clip_service_recover(clip_service_t *cs);
/* Deletes a clip's files, off the loop (once it is made, when a worker is
 * on it). Call after deleting the row. */
void clip_service_remove(clip_service_t *cs, const char *clip_id);
/* Called on the loop each time a clip turned ready or failed (c is the
 * stored row), e.g. to announce clip.ready. One hook; fn NULL removes it. */
typedef void (*clip_finished_fn)(void *ud, const store_clip_t *c);
void clip_service_on_finish(clip_service_t *cs, clip_finished_fn fn, void *ud);
/* The directory of a clip's files: DATA/clips/<id>. */
void clip_service_dir(const clip_service_t *cs, const char *clip_id, char *buf, size_t len);

#endif
