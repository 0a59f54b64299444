/* simulcast.h — restreaming: while a stream is live, its hub is pushed
 * (passthrough, no re-encode) by RTMP or RTMPS to each of its simulcast
 * targets (url + "/" + stream_key, stored by the API).
 *
 * One pusher per target, each an rtmp_client with its own bounded queue:
 * when a target cannot keep up, frames are dropped up to the next video
 * keyframe (and counted); a slow or dead target never blocks ingest or the
 * other targets. A target that fails or drops is retried with exponential
 * backoff (1 s, 2 s, … 30 s) while the stream is live.
 *
 * Per-target state, in memory: idle | connecting | live | error, with a
 * reason (errors) and the time it was entered. Every change is announced as
 * the event "simulcast_target.<state>" and shows in the stream object
 * (simulcast_targets[].status) through the stream view hook.
 *
 * Follows publishes through live_observe(). Loop thread only.
 */
#ifndef ONAIR_SIMULCAST_H
#define ONAIR_SIMULCAST_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "live/live.h"
#include "store/store.h"

typedef struct simulcast simulcast_t;

typedef struct {
  int tls_verify;          /* verify RTMPS certificates against the system CAs */
  size_t queue_bytes;      /* per target, bytes waiting for the socket; default 8 MiB */
  unsigned backoff_min_ms; /* default 1 s */
  unsigned backoff_max_ms; /* default 30 s */
  unsigned timeout_ms;     /* connect … Publish.Start; default 10 s */
} simulcast_opts_t;

/* Registers the live observer and the stream view hook. NULL on failure. */
simulcast_t *simulcast_new(uv_loop_t *loop, live_t *live, store_t *store,
                           const simulcast_opts_t *opts);
/* Shutdown, before live_free(): stops every pusher and the timer; later
 * observer calls do nothing. The loop must then run to close the handles. */
void simulcast_stop(simulcast_t *sc);
/* After simulcast_stop() and the loop has run out (or never ran). */
void simulcast_free(simulcast_t *sc);

/* The API added or removed targets of a stream: when it is live, new
 * targets start and removed ones stop at once. */
void simulcast_targets_changed(simulcast_t *sc, const char *stream_id);

/* {"name", "reason", "since", "dropped_frames"} of a target, or NULL when
 * this target has no in-memory state (never pushed: idle). New reference. */
json_t *simulcast_target_status(simulcast_t *sc, const char *stream_id, const char *target_id);

#endif
