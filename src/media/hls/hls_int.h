/* hls_int.h — internals shared by the HLS packager's own files (hls.c,
 * mux.c, playlist.c). Not for other modules: use hls.h.
 */
#ifndef ONAIR_HLS_INT_H
#define ONAIR_HLS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "media/hls/hls.h"

/* ---- mux.c: one libavformat muxer writing into memory ---------------- */

typedef struct hls__mux hls__mux_t;

/* Creates a muxer of format fmt for one publisher session and writes its
 * header. For HLS_FMP4 *init receives the init segment (ftyp + empty moov);
 * for HLS_TS *init is NULL. 0 or ERR_UNSUPPORTED / ERR_INVALID / ERR_NOMEM. */
int hls__mux_new(hls_format_t fmt, const media_config_t *cfg, hls__mux_t **out,
                 hls_buf_t **init);
/* Writes one access unit. Timestamps in ms; dur_ms is the frame's duration
 * (video: distance to the next frame; ignored for audio, whose duration
 * comes from the AudioSpecificConfig). 0 or a negative ERR_*; on error the
 * frame is dropped and the muxer stays usable. */
int hls__mux_write(hls__mux_t *m, const media_frame_t *f, int64_t dts_ms, int64_t pts_ms,
                   int64_t dur_ms);
/* Flushes everything written so far into one segment (*seg, refcount 1).
 * *seg is NULL when nothing was written. With tail, *tail also gets a copy
 * of the bytes since the last hls__mux_part() (NULL when there are none):
 * the segment's last part. */
int hls__mux_cut(hls__mux_t *m, hls_buf_t **seg, hls_buf_t **tail);
/* LL-HLS: flushes what was written since the last part or cut (fMP4: one
 * fragment) and hands a copy of those bytes out as a part (*part, refcount
 * 1; NULL when nothing was written). The bytes stay in the open segment. */
int hls__mux_part(hls__mux_t *m, hls_buf_t **part);
/* Gets the next segment's memory ready; call off the latency path. */
void hls__mux_prepare(hls__mux_t *m);
void hls__mux_free(hls__mux_t *m);

/* ---- cadence.c: where the next keyframe will be ------------------------ */

typedef struct {
  int64_t key_dts;     /* the last keyframe's dts; INT64_MIN before the first */
  unsigned frames;     /* video frames since it, the keyframe included */
  int64_t gop_ms;      /* length of the last complete GOP */
  unsigned gop_frames; /* and its number of frames */
  unsigned stable;     /* consecutive GOPs of that same shape */
  unsigned misses;     /* predictions that turned out wrong */
} hls__cadence_t;

void hls__cadence_reset(hls__cadence_t *c);
/* Records every video frame, in dts order. */
void hls__cadence_frame(hls__cadence_t *c, int64_t dts, int keyframe);
/* After hls__cadence_frame() of the frame at dts: 1 when, by a cadence that
 * has been stable for several GOPs, the next video frame is a keyframe;
 * *next_key gets its predicted dts. 0 when unsure. */
int hls__cadence_last_before_key(const hls__cadence_t *c, int64_t dts, int64_t *next_key);
/* The frame after a predicted end was no keyframe: predict again only after
 * a much longer stable run, and after a second miss never again. */
void hls__cadence_miss(hls__cadence_t *c);

/* ---- hls.c: the segment ring, read by playlist.c ---------------------- */

/* An LL-HLS part: one fMP4 fragment of a segment, a copy of its bytes. */
typedef struct {
  hls_buf_t *buf;
  int64_t dur_ms;
  int independent; /* starts with a keyframe (or is audio only) */
} hls__part_t;

typedef struct {
  uint64_t seq;
  unsigned session;      /* publisher session; names the fMP4 init segment */
  int discont;           /* first segment after a session change */
  int64_t dur_ms;        /* EXTINF */
  int64_t wall_ms;       /* wall clock (Unix ms) of the segment's start */
  hls_buf_t *buf[2];     /* indexed by hls_format_t */
  hls__part_t *parts;    /* LL-HLS: its fMP4 parts, NULL once it is old */
  unsigned n_parts;
  unsigned parts_base;   /* parts[i] is named "{seq}.{parts_base + i}.m4s" */
} hls__seg_t;

/* What playlist.c needs to render one media playlist. The window is the
 * segments seg(0) .. seg(n-1), oldest first. */
typedef struct {
  const hls__seg_t *ring;
  size_t ring_cap, first, n; /* window starts at ring[first], wraps at ring_cap */
  uint64_t disc_seq;         /* EXT-X-DISCONTINUITY-SEQUENCE */
  unsigned target_s;         /* EXT-X-TARGETDURATION */
  uint64_t init_base;        /* session n's init segment is init-(init_base + n).mp4 */
  int ended;
  /* LL-HLS (part_target_ms > 0): the segments from window index parts_from
   * on list their parts; then, with open_hint, the open segment's parts and
   * a preload hint for its next part. Only an open segment that continues
   * the last listed one is shown (no discontinuity, same init segment). */
  unsigned part_target_ms;
  size_t parts_from;
  int open_hint;
  const hls__part_t *open_parts;
  size_t n_open;
  unsigned open_base; /* open_parts[i] is part open_base + i */
  uint64_t open_seq;
} hls__window_t;

int hls__playlist_render(const hls__window_t *w, hls_format_t fmt, const char *uri_suffix,
                         char **out, size_t *outlen);

#endif
