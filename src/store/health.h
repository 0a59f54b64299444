/* store/health.h — the health_samples table family (migration 4): ingest
 * health samples of live streams (live/health.h takes them, api/health.c
 * serves them as seed 003's …/health), their retention, and the stream
 * counts that /metrics reports.
 *
 * Kept apart from store.h so the health module can grow without touching the
 * store's main contract; the same rules apply (loop thread, 0 or ERR_*).
 * Statements are prepared per call: they run every few seconds, not per
 * request, so they do not need a slot in the store's statement cache.
 */
#ifndef ONAIR_STORE_HEALTH_H
#define ONAIR_STORE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  char stream_id[37];
  int64_t ts;                       /* unix seconds */
  int64_t video_bitrate;            /* bits/s measured over the interval */
  int64_t audio_bitrate;            /* bits/s measured over the interval */
  int64_t video_data_rate;          /* bits/s: the target when one is set, else measured */
  int64_t audio_data_rate;
  double framerate;                 /* frames/s measured over the interval */
  double input_frame_rate;          /* announced by the encoder; measured when it says nothing */
  int64_t time_connected;           /* seconds since the publisher connected */
  int width, height;                /* 0x0: no video yet */
  char encoder[128];                /* encoder software from metadata ("" unknown) */
  char client_type[16];             /* "rtmp", "rtmps", "srt", … */
  char video_codec[16];             /* "h264", "hevc", "" */
  char audio_codec[16];             /* "aac", "" */
  int audio_channels, audio_sample_rate, audio_sample_size;
  int64_t dropped_frames;           /* dropped during the interval */
  int samples;                      /* raw samples this row stands for: 1, or more once downsampled */
} store_health_sample_t;

/* Appends one sample (samples < 1 is stored as 1). */
int store_health_insert(store_t *st, const store_health_sample_t *s);

/* Calls cb for each sample of the stream with from <= ts <= to, oldest
 * first (or newest first), at most limit rows (0 = all). A non-zero return
 * from cb stops the walk and is returned. */
typedef int (*store_health_cb)(void *ud, const store_health_sample_t *s);
int store_health_list(store_t *st, const char *stream_id, int64_t from, int64_t to,
                      int newest_first, size_t limit, store_health_cb cb, void *ud);
/* The newest sample of the stream; ERR_NOT_FOUND when there is none. */
int store_health_latest(store_t *st, const char *stream_id, store_health_sample_t *out);
/* Timestamps of the oldest and newest samples; ERR_NOT_FOUND when none. */
int store_health_span(store_t *st, const char *stream_id, int64_t *first, int64_t *last);

/* Retention. purge deletes every sample older than `before`. downsample
 * replaces the raw samples older than `before` (rounded down to a minute) by
 * one row per stream and minute: bitrates, data rates and frame rates
 * averaged, dropped frames and sample counts summed, the other fields taken
 * from the minute's newest sample. Already downsampled rows are left alone,
 * so running it again is harmless. *n (may be NULL) gets the rows removed /
 * the minute rows written. */
int store_health_purge(store_t *st, int64_t before, int *n);
int store_health_downsample(store_t *st, int64_t before, int *n);

/* Streams (not deleted) by status: counts[i] = streams with status i, for
 * i < n (statuses >= n are not counted). */
int store_stream_count_by_status(store_t *st, int64_t *counts, int n);

#endif
