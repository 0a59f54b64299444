/* ts_conv.h — what the MPEG-TS muxer needs from a stream as FLV carries it
 * (length-prefixed NAL units, raw AAC): the AudioSpecificConfig's fields
 * for ADTS headers, the parameter sets of the avcC / hvcC record as Annex B,
 * and one access unit rewritten as Annex B. All of it is publisher input:
 * bounds-checked, nothing read outside the given bytes. No libav here. */
#ifndef ONAIR_HLS_TS_CONV_H
#define ONAIR_HLS_TS_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "media/hub/frame.h"

/* AudioSpecificConfig (ISO 14496-3 1.6.2.1), the leading fields. */
typedef struct {
  int aot;      /* audio object type of the core (SBR/PS unwrapped) */
  int sr_index; /* core sampling frequency index; 15 = explicit */
  int rate;     /* core sample rate, > 0 */
  int out_rate; /* output rate (doubled by explicit SBR), > 0 */
  int channels; /* channelConfiguration 0..15; 0 = program config element */
  int samples;  /* core samples per frame: 1024 or 960 */
} hls_asc_t;

/* 0 with *a filled, or ERR_INVALID (p NULL, too short, a reserved rate
 * index, an explicit rate of 0). */
int hls_asc_parse(const uint8_t *p, size_t len, hls_asc_t *a);

/* The parameter sets of a decoder configuration record (codec H.264:
 * AVCDecoderConfigurationRecord; HEVC: HEVCDecoderConfigurationRecord,
 * every array) appended to *ps (malloc'd, grown; the caller frees it, also
 * after an error) as Annex B with 4-byte start codes, empty units left
 * out; *nal_len gets the record's NAL length size (1..4). 0, ERR_INVALID
 * (a broken record, another codec) or ERR_NOMEM. */
int hls_config_ps(media_codec_t codec, const uint8_t *rec, size_t len, int *nal_len, uint8_t **ps,
                  size_t *pslen);

/* A growing output buffer, reused across calls; free(data) when done. */
typedef struct {
  uint8_t *data;
  size_t cap;
} hls_conv_buf_t;

/* Room for n bytes in b->data. 0 or ERR_NOMEM. */
int hls_conv_reserve(hls_conv_buf_t *b, size_t n);

/* One frame of NAL units with nal_len-byte (1..4) big-endian lengths as an
 * Annex B access unit in out->data[0..*outlen): an AUD first, then ps
 * (Annex B parameter sets) when f is a keyframe that carries no SPS (HEVC:
 * VPS) itself, then the frame's NAL units with 4-byte start codes (empty
 * ones and the frame's own AUDs left out). 0, ERR_PROTOCOL (a length runs
 * past the frame), ERR_INVALID (nal_len out of range) or ERR_NOMEM. */
int hls_annexb_au(media_codec_t codec, int nal_len, const uint8_t *ps, size_t ps_len,
                  const media_frame_t *f, hls_conv_buf_t *out, size_t *outlen);

#endif
