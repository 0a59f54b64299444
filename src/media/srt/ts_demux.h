/* ts_demux.h — MPEG-TS bytes in, hub-ready frames out.
 *
 * libavformat's mpegts demuxer reads through a custom AVIOContext; what it
 * returns is converted to what the hub carries (media/hub/frame.h):
 *   H.264 / HEVC   → 4-byte length-prefixed NAL units (AUDs dropped), the
 *   Annex B          AVCDecoderConfigurationRecord built from the SPS/PPS
 *                    (avc_config.h)
 *                    (HEVC: the hvcC record from the VPS/SPS/PPS)
 *   AAC in ADTS    → raw AAC frames, the AudioSpecificConfig built from
 *                    the ADTS header
 *   other audio    → AAC through a converter (media/audio/aac_conv.h): MP2
 *   (MP2, MP3,       (ffmpeg's MPEG-TS default), MP3, AC-3, … whatever
 *   AC-3, …)         libavcodec decodes; on the demux thread
 * Timestamps become milliseconds starting near 0 at the first video
 * keyframe, monotonic per kind. Nothing is emitted before the first video
 * keyframe that comes with its parameter sets (audio before it is dropped), so
 * consumers start decodable. Other codecs are ignored (logged once).
 *
 * Two ways to run it:
 *  - push mode: ts_demux_start() runs the demuxer on its own thread, fed by
 *    ts_demux_feed() from another thread (the SRT thread) through a bounded
 *    buffer. libavformat pulls; the worker blocks on that buffer, never
 *    the feeder.
 *  - ts_demux_buffer(): demuxes a complete buffer on the calling thread
 *    (unit tests, fuzzing). Same conversion code.
 *
 * The sink callbacks run on the demux thread (push mode) or the caller's.
 */
#ifndef ONAIR_TS_DEMUX_H
#define ONAIR_TS_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#include "media/hub/frame.h"

typedef struct ts_demux ts_demux_t;

typedef struct {
  /* The configuration is first known, or changed; cfg lives for the call. */
  void (*on_config)(void *ud, const media_config_t *cfg);
  /* A frame (refcount 1): ownership passes to the sink. */
  void (*on_frame)(void *ud, media_frame_t *frame);
} ts_demux_sink_t;

typedef struct {
  size_t max_buffer; /* push mode: bytes buffered ahead of the demuxer; default 4 MiB */
  const char *label; /* names the source in logs (copied); default "ts" */
} ts_demux_opts_t;

/* Push mode: starts the demux thread. The sink must stay valid until
 * ts_demux_free() returns. 0, ERR_NOMEM or ERR_INTERNAL (no thread). */
int ts_demux_start(const ts_demux_sink_t *sink, void *ud, const ts_demux_opts_t *opts,
                   ts_demux_t **out);
/* Copies n bytes for the demuxer; never blocks. ERR_TOO_LARGE when the
 * buffer is full (the bytes are dropped and counted: the demuxer resyncs on
 * the next TS packet), ERR_IO when the demuxer has stopped (bad input). */
int ts_demux_feed(ts_demux_t *d, const uint8_t *p, size_t n);
/* No more input: the demuxer drains what it has, then stops. */
void ts_demux_end(ts_demux_t *d);
/* 1 once the demux thread has finished (end of input or unusable input). */
int ts_demux_stopped(ts_demux_t *d);
/* Bytes ts_demux_feed() had to drop so far. */
uint64_t ts_demux_dropped_bytes(ts_demux_t *d);
/* Stops the demuxer if still running (wakes it), joins its thread, frees. */
void ts_demux_free(ts_demux_t *d);

/* Demuxes buf[0..len) on this thread. 0 when the input was read to its
 * end, ERR_PROTOCOL when it is not MPEG-TS libavformat can open. */
int ts_demux_buffer(const uint8_t *buf, size_t len, const ts_demux_sink_t *sink, void *ud);

/* ---- conversions, exposed for unit tests ---- */

/* What ts_demux_annexb_to_length_prefixed() found in one access unit. */
typedef struct {
  int key; /* an IDR (H.264) or IRAP (HEVC) picture */
  /* Parameter sets, pointing into the input (NULL when absent; the last
   * one wins); vps only for HEVC. */
  const uint8_t *vps, *sps, *pps;
  size_t vps_len, sps_len, pps_len;
} ts_nal_scan_t;

/* Annex B (start-code separated) H.264 or HEVC NAL units → 4-byte
 * length-prefixed, access unit delimiters dropped. *out is malloc'd
 * (free()). ERR_INVALID when no start code is found. */
int ts_demux_annexb_to_length_prefixed(const uint8_t *in, size_t len, media_codec_t codec,
                                       uint8_t **out, size_t *outlen, ts_nal_scan_t *scan);
typedef struct {
  unsigned header_len; /* 7, or 9 with CRC */
  unsigned frame_len;  /* header + payload */
  int aot;             /* audio object type (profile + 1) */
  int sr_index, sample_rate, channels;
  uint8_t asc[2];      /* AudioSpecificConfig */
} ts_adts_t;
/* One ADTS header at p. ERR_AGAIN when len is shorter than the header or
 * the frame, ERR_INVALID when it is not a usable ADTS header. */
int ts_demux_adts_parse(const uint8_t *p, size_t len, ts_adts_t *out);

#endif
