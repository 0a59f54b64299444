/* clip.h — making clips from the rolling live window (window.h), and from
 * the stream's recordings (sources.h) when the window no longer holds the
 * range.
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
 * A range not inside the window is cut from the window's segments plus the
 * local fragments of the recordings that overlap it (merged on the wall
 * clock), or, when no fragment is local any more, from a recording's
 * finished MP4/TS at a file:// destination — still at the keyframe at or
 * before start_ms, without re-encoding.
 *
 * Loop thread only (the work itself runs on the thread pool).
 */
#ifndef ONAIR_CLIP_H
#define ONAIR_CLIP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
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
  int broadcast_seen;         /* the window holds that start (else its oldest segment stands in) */
} clip_span_t;
/* ERR_NOT_FOUND when the window of the stream is empty. */
int clip_service_span(clip_service_t *cs, const char *stream_id, clip_span_t *out);

/* Lets clips be cut from recordings (cfg: data_dir and file:// lookups;
 * it must outlive the service). Without it, the window only. */
void clip_service_use_recordings(clip_service_t *cs, const config_t *cfg);

typedef struct {
  int64_t first_ms, last_ms;
} clip_range_t;

/* What a stream's clips can be cut from. */
typedef struct {
  int has_window;
  clip_span_t window;         /* when has_window */
  clip_range_t *recordings;   /* malloc'd, oldest first: recordings whose media is readable */
  size_t n_recordings;
  /* Over both, for relative request times: first_ms, last_ms (the live
   * edge: the window's, else the newest recording's end) and the newest
   * broadcast's start (the window's when it saw it begin, else the start of
   * the recording that began it). */
  clip_span_t span;
} clip_avail_t;
/* ERR_NOT_FOUND when neither holds media; clip_avail_free after 0. */
int clip_service_available(clip_service_t *cs, const char *project_id, const char *stream_id,
                           clip_avail_t *out);
void clip_avail_free(clip_avail_t *a);

/* Starts making clip c (stored already, status processing). ERR_CONFLICT
 * when neither the window nor a recording holds media in [c->start_ms,
 * c->end_ms) any more; ERR_NOMEM. */
int clip_service_start(clip_service_t *cs, const store_clip_t *c);
/* After a restart: clips left processing are made again from the reloaded
 * window or the recordings (call after clip_service_use_recordings), or
 * marked failed when their media is gone. */
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
