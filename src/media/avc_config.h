/* avc_config.h — the H.264 decoder configuration the hub carries for video
 * that arrives as Annex B (an MPEG-TS source, libx264's output): an
 * AVCDecoderConfigurationRecord ('avcC', ISO/IEC 14496-15 §5.3.3.1) with
 * 4-byte NAL lengths, one SPS and one PPS. Its HEVC counterpart is
 * hevc_config.h. Any thread. */
#ifndef ONAIR_AVC_CONFIG_H
#define ONAIR_AVC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* The record for one SPS and one PPS (NAL units without start codes);
 * *out is malloc'd. 0, ERR_INVALID (an SPS shorter than 4 bytes, no PPS,
 * either over 65535 bytes) or ERR_NOMEM. */
int avc_config_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                     uint8_t **out, size_t *outlen);

#endif
