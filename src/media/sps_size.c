/* sps_size.c — picture size from an H.264 or HEVC SPS (sps_size.h). */
#include "media/sps_size.h"

#include "core/err.h"
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
