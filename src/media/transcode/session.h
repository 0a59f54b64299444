/* session.h — one transcoding session of one stream: a decode thread and
 * one encode thread per rung, between the loop thread and libavcodec.
 *
 *   loop ──tc_session_push()──► input queue ──► decode thread (libavcodec once,
 *        libswscale once per rung, each rung from the next larger picture)
 *        ──► per rung: frame queue ──► encode thread (libx264)
 *        ──► output list ──wake()──► loop: tc_session_take()
 *
 * Keyframes are aligned: a rung's frame is encoded as an IDR exactly when
 * the source frame at that timestamp was a keyframe, and never otherwise
 * (x264's own keyframe decisions are off: infinite keyint, no scenecut).
 *
 * Never blocks the caller: every queue is bounded. When the decoder falls
 * behind, source frames are dropped up to the next keyframe; when a rung's
 * encoder falls behind, that rung drops frames up to the next keyframe.
 * Both count as the rung's dropped frames (tc_session_stats) and are
 * logged once per episode.
 *
 * tc_session_start/push/take/finish/finished/stats/stop: loop thread.
 * wake(): any thread.
 */
#ifndef ONAIR_TC_SESSION_H
#define ONAIR_TC_SESSION_H

#include <stdint.h>

#include "media/hub/frame.h"
#include "media/transcode/ladder.h"

typedef struct tc_session tc_session_t;

typedef struct {
  const char *label;       /* for logs: the stream id */
  const char *preset;      /* x264 preset; default "veryfast" */
  int threads;             /* x264 threads per rung; 0 = 1 up to 720p, 2 above */
  unsigned queue_frames;   /* per rung, decoded frames waiting; default 30 */
  unsigned input_frames;   /* compressed source frames waiting; default 150 */
} tc_session_opts_t;

/* What the session hands back: a rung's configuration (first, and again
 * if it changes) or an encoded frame (AVCC, ms timestamps, frame.h). */
typedef struct tc_output {
  struct tc_output *next;
  int rung;               /* index into the rungs given to start */
  media_config_t *config; /* or NULL */
  media_frame_t *frame;   /* or NULL; the output owns one reference */
} tc_output_t;

/* Starts the threads for a video source config (H.264 or HEVC). wake(ud)
 * is called from a worker thread whenever output is ready. NULL on
 * failure (logged). */
tc_session_t *tc_session_start(const media_config_t *src, const ladder_rung_t *rungs, int nrungs,
                               const tc_session_opts_t *opts, void (*wake)(void *ud), void *ud);
/* Offers a source video frame (its payload is copied). 0 when queued,
 * ERR_AGAIN when dropped (full, or waiting for a keyframe). */
int tc_session_push(tc_session_t *s, const media_frame_t *f);
/* Everything produced since the last call, oldest first (NULL if none).
 * Free each with tc_output_free(). */
tc_output_t *tc_session_take(tc_session_t *s);
void tc_output_free(tc_output_t *o);
/* No more input (the publisher left): the workers still decode and encode
 * every frame they were given, flush the codecs, and hand it all out, so a
 * rung ends where the source did. wake() is called as they finish;
 * tc_session_finished() is 1 once all output is ready to take. The work
 * left is bounded by the queues (input_frames, queue_frames). */
void tc_session_finish(tc_session_t *s);
int tc_session_finished(tc_session_t *s);
/* Dropped frames of a rung so far, and frames waiting in its queue. */
void tc_session_stats(tc_session_t *s, int rung, uint64_t *dropped, unsigned *queued);
/* Stops and joins every thread at once (work in flight is dropped), frees
 * everything not taken. */
void tc_session_stop(tc_session_t *s);

#endif
