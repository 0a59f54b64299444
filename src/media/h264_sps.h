/* h264_sps.h — the picture size from an H.264 sequence parameter set
 * (ITU-T H.264 §7.3.2.1.1), so that the coded size is known even when an
 * encoder sends no (or a wrong) onMetaData. Bounds-checked; peer input. */
#ifndef ONAIR_H264_SPS_H
#define ONAIR_H264_SPS_H

#include <stddef.h>
#include <stdint.h>

/* sps: one SPS NAL unit (with its 1-byte header, emulation prevention bytes
 * still in). 0 and the cropped width/height, or ERR_PROTOCOL. */
int h264_sps_dimensions(const uint8_t *sps, size_t len, int *width, int *height);

#endif
