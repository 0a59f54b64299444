/* avc.h — H.264 byte-stream plumbing between libx264's output (Annex B:
 * start codes) and the hub's format (frame.h: 4-byte length prefixes, and
 * an AVCDecoderConfigurationRecord as the configuration). Any thread. */
#ifndef ONAIR_AVC_H
#define ONAIR_AVC_H

#include <stddef.h>
#include <stdint.h>

/* Bytes avc_annexb_to_avcc() writes for this input. */
size_t avc_avcc_size(const uint8_t *annexb, size_t len);
/* Rewrites every NAL unit of an Annex B buffer with a 4-byte big-endian
 * length instead of its start code; out has avc_avcc_size() bytes.
 * Returns the bytes written. */
size_t avc_annexb_to_avcc(const uint8_t *annexb, size_t len, uint8_t *out);

/* An AVCDecoderConfigurationRecord (4-byte NAL lengths) from Annex B
 * SPS/PPS headers (libx264's extradata). *out is malloc'd. 0, ERR_INVALID
 * (no SPS or PPS) or ERR_NOMEM. */
int avc_config_from_annexb(const uint8_t *annexb, size_t len, uint8_t **out, size_t *outlen);

#endif
