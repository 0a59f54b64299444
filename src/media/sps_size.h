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

#endif
