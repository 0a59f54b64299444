/* live.h — the registry of running streams: one entry per stream that has
 * (or recently had) a publisher, holding its hub and HLS packager, and the
 * timers that drive the lifecycle (idle → stopped after stream_timeout,
 * waiting → stopped likewise).
 *
 * Ingest protocols call live_publish_begin/end; the API calls live_start,
 * live_stop and live_forget; playback asks live_packager(). Every status
 * change goes through lifecycle_transition() and is persisted.
 *
 * Loop thread only.
 */
#ifndef ONAIR_LIVE_H
#define ONAIR_LIVE_H

#include <uv.h>

#include "core/config.h"
#include "media/hls/hls.h"
#include "media/hub/hub.h"
#include "store/store.h"

typedef struct live live_t;
typedef struct live_stream live_stream_t;

/* How the registry asks an ingest connection to go away (stop, delete,
 * key reset). Called at most once. From then on the registry has already
 * detached the publisher: the connection must close itself and never use
 * its live_stream_t again (no frames, no live_publish_end). */
typedef struct {
  void (*kick)(void *ud, const char *reason);
  /* ms since the publisher last sent anything. NULL: never stale (SRT
   * drops a silent peer itself, after its 5 s peer idle timeout). */
  uint64_t (*silent_ms)(void *ud);
  void *ud;
} live_publisher_t;

/* A publish for a stream whose publisher has been silent this long takes
 * the stream over: the old one is kicked with reason LIVE_REASON_REPLACED
 * (see live_publish_begin). 5 s: a working encoder sends audio every few
 * tens of ms and every video frame, so 5 s of complete silence is a
 * stalled connection, not a busy one, and TCP recovers from a short loss
 * well within it; yet it is short enough that an encoder reconnecting after
 * a network blip (OBS retries every few seconds) gets its stream back on
 * its first or second attempt instead of being refused until the RTMP idle
 * timeout (30 s) frees the slot. */
#define LIVE_PUBLISHER_STALE_MS 5000u
#define LIVE_REASON_REPLACED "replaced_by_new_publisher"

typedef struct {
  unsigned hls_target_ms; /* segment target duration */
  unsigned hls_window;    /* segments in the playlist */
  int hls_fmp4_on_demand; /* hls_opts_t.fmp4_on_demand for every packager */
  unsigned hls_part_ms;   /* LL-HLS part target of streams with output_format ll-hls */
} live_opts_t;

live_t *live_new(uv_loop_t *loop, store_t *store, const live_opts_t *opts);
/* Kicks every publisher, ends every playlist, and frees. */
void live_free(live_t *lv);
/* After a restart: streams left in running statuses get their timers back
 * (waiting stays waiting; launching/live become idle). */
int live_recover(live_t *lv);

/* A publisher presents a stream key. On success the stream is launching and
 * *out is its entry (hub ready for frames). Errors: ERR_NOT_FOUND (unknown
 * or deleted key), ERR_CONFLICT (the stream already has a publisher that
 * sent something in the last LIVE_PUBLISHER_STALE_MS, or is stopping),
 * ERR_FORBIDDEN (the stream is disabled). A staler publisher is kicked
 * first (as if it had disconnected: the new one continues the playlist).
 * `protocol` ("rtmp", "srt") updates params.input_format. */
int live_publish_begin(live_t *lv, const char *stream_key, const char *protocol,
                       const live_publisher_t *pub, live_stream_t **out);
/* The publisher is gone: status idle and the stream_timeout timer starts. */
void live_publish_end(live_t *lv, live_stream_t *ls);
/* The ingest ends this publish for a reason the stream's owner must fix
 * (an unsupported codec): message is kept for the health response
 * (last_error) until a publish goes live again. The caller then closes the
 * connection, which ends the publish as usual. */
void live_publish_fail(live_t *lv, live_stream_t *ls, const char *message);
hub_t *live_stream_hub(live_stream_t *ls);
const char *live_stream_id(const live_stream_t *ls);

/* API: start (created/stopped → waiting, with the timeout timer),
 * stop (kick, → stopped, playlist ended). s is updated. */
int live_start(live_t *lv, store_stream_t *s);
int live_stop(live_t *lv, store_stream_t *s);
/* Disable (seed 001): kick the encoder, end the playlist, refuse
 * publishes; enable: back to created. ERR_CONFLICT when not allowed. */
int live_disable(live_t *lv, store_stream_t *s);
int live_enable(live_t *lv, store_stream_t *s);
/* The stream key changed: kick the encoder; the stream goes idle and may
 * reconnect with the new key within stream_timeout. */
void live_kick(live_t *lv, const char *stream_id, const char *reason);
/* The stream was deleted: kick the publisher and drop the entry. */
void live_forget(live_t *lv, const char *stream_id, const char *reason);

/* Renditions: index 0 is the source as pushed ("source"); the transcoder
 * adds rungs ("720p", ...). Each rendition has its own hub and HLS
 * packager, owned by the entry and kept for its whole life (so a reconnect
 * continues every rung's playlist). Whoever feeds a rung's hub publishes
 * config + frames into it and calls hub_unpublish() when its session ends. */
typedef struct {
  char name[16];          /* "source" or "<height>p"; used in playback URLs */
  hub_t *hub;
  hls_packager_t *hls;
  int width, height;      /* rungs: target size; source: 0 (read hub_config(hub)) */
  unsigned bitrate_kbps;  /* target video bitrate; 0 for the source (measured) */
  double framerate;       /* 0 = as the input */
} live_rendition_t;

#define LIVE_MAX_RENDITIONS 8
/* The rendition called `name`, created (hub + packager) on first use with
 * the given properties; an existing one keeps its hub and playlist and gets
 * the new properties. NULL on ERR_NOMEM or when LIVE_MAX_RENDITIONS exist. */
live_rendition_t *live_rendition_add(live_stream_t *ls, const char *name, int width, int height,
                                     unsigned bitrate_kbps, double framerate);
/* Number of renditions (1 once the source exists, 0 before) and access. */
int live_rendition_count(const live_stream_t *ls);
live_rendition_t *live_rendition_get(live_stream_t *ls, int index);
live_rendition_t *live_rendition_find(live_stream_t *ls, const char *name);

/* Other modules (simulcast, health sampling, recording) follow publishes
 * through observers instead of being called from here by name. */
typedef struct {
  void (*on_publish_begin)(void *ud, live_stream_t *ls); /* hub ready for subscribers */
  void (*on_publish_end)(void *ud, live_stream_t *ls);   /* publisher gone or kicked */
  void (*on_forget)(void *ud, live_stream_t *ls);        /* entry about to be freed */
  /* The broadcast ends: its packagers are about to end (a stop, a disable,
   * stream_timeout) or its renditions (hubs, packagers) to be freed (a new
   * broadcast starts, or the entry goes: after on_forget). Whatever feeds
   * the rungs lets go now. May come more than once per broadcast. */
  void (*on_media_end)(void *ud, live_stream_t *ls);
  /* A segment was published in rendition `index` (hls_segment_get(r->hls,
   * fmt, seq) returns its bytes while it stays in the ring). */
  void (*on_segment)(void *ud, live_stream_t *ls, int index, uint64_t seq, double duration_s);
} live_observer_t;
/* Up to 8 observers. 0 or ERR_NOMEM. */
int live_observe(live_t *lv, const live_observer_t *ob, void *ud);
/* The running entry of a stream, or NULL. */
live_stream_t *live_find(live_t *lv, const char *stream_id);
/* 1 while a publisher is attached. */
int live_stream_publishing(const live_stream_t *ls);
/* Wall-clock ms when the current publisher attached (0 when none). */
uint64_t live_stream_connected_at(const live_stream_t *ls);
/* Changes when a new broadcast's renditions replace the last one's (not at
 * a reconnect within stream_timeout, which continues the broadcast). */
unsigned live_stream_broadcast(const live_stream_t *ls);

/* The packager serving this stream, or NULL when nothing was published. */
hls_packager_t *live_packager(live_t *lv, const char *stream_id);

#endif
