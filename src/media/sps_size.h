/* sps_size.h — the coded picture size from a video sequence parameter set,
 * whichever codec: the one place ingest paths (RTMP sequence headers, SRT's
 * in-band parameter sets) ask, so that both read it the same way. Peer
 * input. */
#ifndef ONAIR_SPS_SIZE_H
#define ONAIR_SPS_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "media/hub/frame.h"

/* sps: one SPS NAL unit of codec (H.264 or HEVC; header and emulation
 * prevention bytes still in). 0 and the cropped width/height, or
 * ERR_PROTOCOL (it does not parse, or another codec). */
int media_sps_size(media_codec_t codec, const uint8_t *sps, size_t len, int *width, int *height);

/* Checks a video decoder configuration record as an RTMP sequence header
 * carries it (codec H.264: AVCDecoderConfigurationRecord; HEVC:
 * HEVCDecoderConfigurationRecord) and reads the coded picture size from
 * its first SPS. 0 with a positive width and height, or 0 with both 0 when the
 * record has no SPS or it does not parse; ERR_PROTOCOL when the record
 * itself is broken. Another codec: 0, size 0. */
int media_video_config_size(media_codec_t codec, const uint8_t *rec, size_t len, int *width,
                            int *height);

#endif
