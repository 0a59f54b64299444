/* sps_size.c — picture size from an H.264 or HEVC SPS, or from the decoder
 * configuration record that carries it (sps_size.h). */
#include "media/sps_size.h"

#include "core/err.h"
#include "media/flv/flv.h"
#include "media/h264_sps.h"
#include "media/hevc_config.h"

int media_sps_size(media_codec_t codec, const uint8_t *sps, size_t len, int *width, int *height) {
  if (!sps) return ERR_PROTOCOL;
  if (codec == CODEC_H264) return h264_sps_dimensions(sps, len, width, height);
  if (codec == CODEC_HEVC) {
    hevc_sps_t s;
    if (hevc_sps_parse(sps, len, &s) != 0) return ERR_PROTOCOL;
    *width = s.width;
    *height = s.height;
    return 0;
  }
  return ERR_PROTOCOL;
}

int media_video_config_size(media_codec_t codec, const uint8_t *p, size_t len, int *w, int *h) {
  *w = *h = 0;
  flv_avc_config_t avc;
  flv_hevc_config_t hvc;
  const flv_nalu_t *sps = NULL;
  if (codec == CODEC_H264) {
    if (flv_parse_avc_config(p, len, &avc) != 0) return ERR_PROTOCOL;
    if (avc.sps_count > 0) sps = &avc.sps[0];
  } else if (codec == CODEC_HEVC) {
    if (flv_parse_hevc_config(p, len, &hvc) != 0) return ERR_PROTOCOL;
    if (hvc.sps_count > 0) sps = &hvc.sps[0];
  }
  if (sps && media_sps_size(codec, sps->data, sps->len, w, h) != 0) *w = *h = 0;
  return 0;
}
