/* hub.h — one hub per live stream: the publisher pushes frames in, every
 * consumer (HLS packager, recorder, simulcast, stats) gets them out.
 *
 * Frames are shared by reference (media_frame_t refcount), never copied.
 * The hub keeps the current GOP (from the last video keyframe) so that a
 * consumer that subscribes mid-stream starts at a keyframe: on subscribe it
 * receives on_config (if known) and then the cached GOP, synchronously.
 *
 * Loop thread only. Consumers must not unsubscribe other consumers from
 * inside a callback; unsubscribing themselves is allowed.
 */
#ifndef ONAIR_HUB_H
#define ONAIR_HUB_H

#include "media/hub/frame.h"

typedef struct hub hub_t;
typedef struct hub_consumer hub_consumer_t;

typedef struct {
  /* The codec configuration changed (or is first known). */
  void (*on_config)(void *ud, const media_config_t *cfg);
  /* A frame; take a reference with media_frame_ref() to keep it. */
  void (*on_frame)(void *ud, media_frame_t *frame);
  /* The publisher left (end of a session; the hub may get a new publisher,
   * which starts with on_config again). */
  void (*on_unpublish)(void *ud);
} hub_consumer_ops_t;

hub_t *hub_new(const char *stream_id);
/* Frees the hub; every consumer must have unsubscribed. */
void hub_free(hub_t *hub);
const char *hub_stream_id(const hub_t *hub);

/* Publisher side. */
int hub_publish_config(hub_t *hub, const media_config_t *cfg);
int hub_publish_frame(hub_t *hub, media_frame_t *frame); /* takes no reference from the caller */
void hub_unpublish(hub_t *hub);
int hub_is_publishing(const hub_t *hub);
const media_config_t *hub_config(const hub_t *hub);

/* Consumer side. The returned handle is freed by hub_unsubscribe. */
hub_consumer_t *hub_subscribe(hub_t *hub, const hub_consumer_ops_t *ops, void *ud);
void hub_unsubscribe(hub_t *hub, hub_consumer_t *c);

/* What the publisher says about itself (health data): encoder name from
 * metadata, client type ("rtmp", "rtmps", "srt"). Strings are copied. */
void hub_set_source(hub_t *hub, const char *encoder, const char *client_type);
const char *hub_source_encoder(const hub_t *hub);
const char *hub_source_client(const hub_t *hub);
/* A publisher-side frame was dropped (e.g. undecodable); counted in stats. */
void hub_count_dropped(hub_t *hub);

/* Counters for health/statistics. */
typedef struct {
  uint64_t video_frames, audio_frames, bytes;
  uint64_t video_bytes, audio_bytes, dropped_frames;
  int64_t last_dts;
  /* The current publisher's share (the last one's while none publishes):
   * a rate over timestamps must not mix publishers, whose clocks each
   * start anew. */
  uint64_t pub_video_frames, pub_bytes;
  int64_t pub_first_dts, pub_last_dts;
  unsigned consumers;
} hub_stats_t;
void hub_get_stats(const hub_t *hub, hub_stats_t *out);

#endif
