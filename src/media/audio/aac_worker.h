/* aac_worker.h — an aac_conv (aac_conv.h) on its own thread, for an ingest
 * connection that lives on the loop thread (RTMP).
 *
 *   loop ──aac_worker_push()──► bounded queue ──► worker thread: aac_conv
 *        ◄──on_frame() (loop, through a uv_async_t)── AAC frames, in order
 *
 * The AAC configuration is known when the worker starts (aac_conv_new), so
 * the ingest publishes a complete stream configuration before any frame.
 * Never blocks the loop: when the queue is full (the worker cannot keep
 * up), the input frame is dropped and push says so.
 *
 * All functions: loop thread only.
 */
#ifndef ONAIR_AAC_WORKER_H
#define ONAIR_AAC_WORKER_H

#include <uv.h>

#include "media/audio/aac_conv.h"

typedef struct aac_worker aac_worker_t;

/* An AAC frame (refcount 1, ownership passes), on the loop thread. */
typedef void (*aac_worker_frame_fn)(void *ud, media_frame_t *f);

/* Opens the converter (NULL, logged, when it cannot be made) and starts the
 * thread. on_frame is never called after aac_worker_stop(). */
aac_worker_t *aac_worker_start(uv_loop_t *loop, const aac_conv_input_t *in,
                               const aac_conv_output_t *out, const char *label,
                               aac_worker_frame_fn on_frame, void *ud);
/* Fills the audio half of cfg with the AAC produced (aac_conv_fill_config). */
int aac_worker_fill_config(const aac_worker_t *w, media_config_t *cfg);
/* Queues a copy of one compressed input frame (pts ms). 0, or ERR_AGAIN
 * when dropped because the queue is full (100 frames or 1 MiB),
 * ERR_TOO_LARGE for a frame over 64 KiB (dropped), ERR_NOMEM. */
int aac_worker_push(aac_worker_t *w, const uint8_t *data, size_t len, int64_t pts_ms);
/* Stops and joins the thread; frames not delivered yet are dropped. The
 * memory goes once libuv has closed the async handle. NULL is fine. */
void aac_worker_stop(aac_worker_t *w);

#endif
