/* remux.h — stream-copy remuxing of finished media files (libavformat),
 * and the HLS VOD playlist writer shared by recordings and clips.
 *
 * Blocking (reads and writes whole files): call from a worker thread
 * (uv_queue_work), never from the loop thread. Thread-safe: no shared
 * state.
 */
#ifndef ONAIR_REMUX_H
#define ONAIR_REMUX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int64_t duration_ms; /* of what was written (first to last packet end) */
  int64_t size;        /* bytes of the output file */
  int width, height;   /* of the video stream; 0 when there is none */
  int has_video, has_audio;
  int64_t start_ms;    /* where the output starts on the input timeline (see below) */
} remux_info_t;

/* Concatenates in_paths[0..n) (MPEG-TS or MP4 files with the same streams,
 * e.g. the TS segments of one recording) into out_path without
 * re-encoding. out_format: "mp4" (a regular MP4, moov first: "faststart")
 * or "mpegts".
 *
 * Timestamps are made continuous across inputs: an input whose first
 * timestamp goes back, or jumps more than a second past the end of the
 * previous one (a reconnect), is shifted to follow it. The output starts
 * at 0.
 *
 * The "input timeline" is that continuous timeline in ms, 0 at the first
 * packet of in_paths[0]. start_ms (-1: from the start) cuts at the last
 * video keyframe at or before start_ms (so the output starts decodable);
 * end_ms (-1: to the end) drops packets whose timestamp is at or after
 * end_ms. info->start_ms says where the output really starts.
 *
 * The file appears atomically: written to out_path + ".part", fsynced and
 * renamed. info may be NULL. 0, ERR_INVALID (bad arguments, nothing in
 * range), ERR_NOT_FOUND (an input is missing), ERR_IO (libavformat
 * failed), ERR_NOMEM. */
int remux_files(const char *const *in_paths, size_t n, const char *out_path,
                const char *out_format, int64_t start_ms, int64_t end_ms, remux_info_t *info);

/* One entry of a VOD media playlist. */
typedef struct {
  const char *uri;    /* relative URI of the segment, e.g. "source-000001.ts" */
  double duration_s;  /* EXTINF */
  int discontinuity;  /* #EXT-X-DISCONTINUITY before this segment */
} remux_vod_segment_t;

/* Writes an HLS VOD media playlist (#EXT-X-PLAYLIST-TYPE:VOD, version 3,
 * TARGETDURATION from the longest segment, #EXT-X-ENDLIST) atomically
 * (temp + fsync + rename). 0 or ERR_IO / ERR_NOMEM / ERR_INVALID (n == 0). */
int remux_write_vod_playlist(const char *path, const remux_vod_segment_t *segs, size_t n);

/* One variant of a multivariant (master) playlist. */
typedef struct {
  const char *uri;         /* e.g. "720p.m3u8" */
  unsigned bandwidth;      /* bits per second (peak) */
  int width, height;       /* 0: RESOLUTION omitted */
} remux_vod_variant_t;

/* Writes a multivariant playlist listing the variants, atomically. */
int remux_write_master_playlist(const char *path, const remux_vod_variant_t *v, size_t n);

/* Writes len bytes to path atomically and durably: path + ".part", fsync,
 * rename, fsync of the directory. 0 or ERR_IO. */
int remux_write_file_durable(const char *path, const void *data, size_t len);

#endif
