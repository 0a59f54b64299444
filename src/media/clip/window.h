/* window.h — the rolling live window of every stream, on disk, for clips.
 *
 * A live observer copies each MPEG-TS segment of the source rendition
 * (index 0) to DATA/window/<stream_id>/<n>.ts and keeps an index next to it
 * (DATA/window/<stream_id>/index: one line per segment with its file
 * number, wall-clock start in Unix ms — the segment's
 * EXT-X-PROGRAM-DATE-TIME —, duration in ms and whether it starts a new
 * broadcast or follows a gap). It runs whether or not DVR is enabled.
 *
 * Files are written and deleted by libuv worker threads, one job at a time
 * per stream (so the index always lists finished files only); the loop
 * never waits on the disk. Segments that ended more than window_s seconds
 * ago are deleted. The window survives a reconnect, stays after the stream
 * ended (clips can be cut after the broadcast) until it ages out or the
 * stream is deleted (a periodic sweep notices), and a restart reloads it
 * from the index.
 *
 * Loop thread only.
 */
#ifndef ONAIR_CLIP_WINDOW_H
#define ONAIR_CLIP_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "live/live.h"
#include "store/store.h"

typedef struct clip_window clip_window_t;

typedef struct {
  uint64_t n;        /* file number: DATA/window/<stream_id>/<n>.ts */
  int64_t start_ms;  /* wall clock (Unix ms) of its first frame */
  int64_t dur_ms;
  int broadcast;     /* first segment of a publisher session (a new broadcast) */
  int gap;           /* media is missing right before it (a reconnect, a lost segment) */
} clip_window_seg_t;

/* window_s: how much media to keep (seconds, > 0). Registers the live
 * observer. NULL on ERR_NOMEM. */
clip_window_t *clip_window_new(uv_loop_t *loop, live_t *lv, store_t *store, const char *data_dir,
                               unsigned window_s);
/* Reloads every stream's window from its index (blocking: call at
 * start-up, before the loop runs), drops what aged out, and starts the
 * sweep timer. 0 or ERR_NOMEM. */
int clip_window_start(clip_window_t *w);
/* Stops the sweep timer (at shutdown, so the loop can end); writes already
 * queued still finish while the loop drains. */
void clip_window_stop(clip_window_t *w);
/* Frees. Only once the loop has drained (no job in flight). */
void clip_window_free(clip_window_t *w);

unsigned clip_window_seconds(const clip_window_t *w);

/* The stream's segments that are on disk, oldest first: *out malloc'd
 * (free()), *n = 0 (and *out NULL) when the window is empty. 0 or
 * ERR_NOMEM. */
int clip_window_segments(clip_window_t *w, const char *stream_id, clip_window_seg_t **out,
                         size_t *n);
/* The file of segment n of a stream. */
void clip_window_path(const clip_window_t *w, const char *stream_id, uint64_t n, char *buf,
                      size_t len);
/* While pinned (counted), none of the stream's files is deleted: a clip
 * worker reads them. Aging resumes at the last unpin. */
void clip_window_pin(clip_window_t *w, const char *stream_id);
void clip_window_unpin(clip_window_t *w, const char *stream_id);

#endif
