/* libFuzzer target: FLV tag bodies, codec configuration records, AVCC →
 * Annex B and onMetaData, and which decoder a non-AAC audio tag or the
 * metadata's audiocodecid asks for. The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "media/audio/flv_audio.h"
#include "media/flv/flv.h"

static void annexb(const uint8_t *p, size_t n, unsigned nls) {
  size_t need = 0, wrote = 0;
  if (flv_avcc_to_annexb(p, n, nls, NULL, 0, &need) != 0) return;
  uint8_t *out = malloc(need ? need : 1);
  if (!out) return;
  if (flv_avcc_to_annexb(p, n, nls, out, need, &wrote) != 0 || wrote != need) abort();
  if (need && flv_avcc_to_annexb(p, n, nls, out, need - 1, &wrote) == 0) abort();
  free(out);
}

static void params(const flv_nalu_t *sets, unsigned count) {
  size_t need = 0, wrote = 0;
  flv_params_to_annexb(sets, count, NULL, 0, &need);
  uint8_t *out = malloc(need ? need : 1);
  if (!out) return;
  if (flv_params_to_annexb(sets, count, out, need, &wrote) != 0 || wrote != need) abort();
  free(out);
}

static void config(const flv_frame_t *f) {
  if (f->codec == FLV_CODEC_H264) {
    flv_avc_config_t c;
    if (flv_parse_avc_config(f->data, f->len, &c) == 0) {
      params(c.sps, c.sps_count);
      params(c.pps, c.pps_count);
    }
  } else if (f->codec == FLV_CODEC_HEVC) {
    flv_hevc_config_t c;
    if (flv_parse_hevc_config(f->data, f->len, &c) == 0) params(c.vps, c.vps_count);
  } else if (f->codec == FLV_CODEC_AAC) {
    flv_aac_config_t c;
    flv_parse_aac_config(f->data, f->len, &c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  flv_frame_t f;
  flv_metadata_t md;
  aac_conv_input_t in;
  switch (sel % 8) {
  case 0:
    if (flv_parse_video(p, n, &f) == 0) {
      if (f.data + f.len > p + n || f.data < p) abort();
      if (f.packet == FLV_PACKET_SEQUENCE_HEADER) config(&f);
      else if (f.packet == FLV_PACKET_FRAME) annexb(f.data, f.len, 4);
    }
    break;
  case 1:
    if (flv_parse_audio(p, n, &f) == 0) {
      if (f.data + f.len > p + n || f.data < p) abort();
      if (f.packet == FLV_PACKET_SEQUENCE_HEADER) config(&f);
      if (flv_audio_input(&f, &in) == 0 && (in.sample_rate < 0 || in.channels < 0)) abort();
    }
    break;
  case 2:
    if (flv_parse_metadata_amf(p, n, &md) == 0) {
      int known;
      flv_audio_input_from_metadata(md.audio_codec, md.audio_samplerate, md.audio_channels, &in);
      if (flv_metadata_video_codec(md.video_codec, &known) != FLV_CODEC_UNKNOWN && !known) abort();
    }
    break;
  case 3:
    f.codec = FLV_CODEC_H264, f.data = p, f.len = n;
    config(&f);
    break;
  case 4:
    f.codec = FLV_CODEC_HEVC, f.data = p, f.len = n;
    config(&f);
    break;
  case 5:
    f.codec = FLV_CODEC_AAC, f.data = p, f.len = n;
    config(&f);
    break;
  default:
    annexb(p, n, (sel >> 3) % 4 + 1);
    break;
  }
  return 0;
}
