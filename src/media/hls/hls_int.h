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
 * *seg is NULL when nothing was written. */
int hls__mux_cut(hls__mux_t *m, hls_buf_t **seg);
/* Gets the next segment's memory ready; call off the latency path. */
void hls__mux_prepare(hls__mux_t *m);
void hls__mux_free(hls__mux_t *m);

/* ---- hls.c: the segment ring, read by playlist.c ---------------------- */

typedef struct {
  uint64_t seq;
  unsigned session;      /* publisher session; names the fMP4 init segment */
  int discont;           /* first segment after a session change */
  int64_t dur_ms;        /* EXTINF */
  int64_t wall_ms;       /* wall clock (Unix ms) of the segment's start */
  hls_buf_t *buf[2];     /* indexed by hls_format_t */
} hls__seg_t;

/* What playlist.c needs to render one media playlist. The window is the
 * segments seg(0) .. seg(n-1), oldest first. */
typedef struct {
  const hls__seg_t *ring;
  size_t ring_cap, first, n; /* window starts at ring[first], wraps at ring_cap */
  uint64_t disc_seq;         /* EXT-X-DISCONTINUITY-SEQUENCE */
  unsigned target_s;         /* EXT-X-TARGETDURATION */
  int ended;
} hls__window_t;

int hls__playlist_render(const hls__window_t *w, hls_format_t fmt, const char *uri_suffix,
                         char **out, size_t *outlen);

#endif
