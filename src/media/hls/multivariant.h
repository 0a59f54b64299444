/* multivariant.h — the HLS multivariant (master) playlist of a stream with
 * several renditions (RFC 8216 §4.3.4.2): one EXT-X-STREAM-INF per
 * rendition with BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, CODECS and
 * FRAME-RATE, followed by the URI of the rendition's media playlist.
 * Pure text; any thread. */
#ifndef ONAIR_MULTIVARIANT_H
#define ONAIR_MULTIVARIANT_H

#include <stddef.h>

#include "media/hub/frame.h"

typedef struct {
  const char *uri;           /* media playlist URI as written (relative, with its query) */
  unsigned bandwidth;        /* peak bits/s (required; 0 is written as 1) */
  unsigned average_bandwidth;/* bits/s; 0 = attribute left out */
  int width, height;         /* 0 = no RESOLUTION */
  const char *codecs;        /* "avc1.64001f,mp4a.40.2"; NULL/"" = no CODECS */
  double framerate;          /* 0 = no FRAME-RATE */
} hls_variant_t;

/* Renders the playlist, variants in the given order (the first is where
 * players start). *out is malloc'd. 0, ERR_INVALID (n == 0) or ERR_NOMEM. */
int hls_multivariant_render(const hls_variant_t *v, size_t n, char **out, size_t *outlen);

/* The RFC 6381 CODECS value of a configuration: "avc1.PPCCLL" from the
 * AVCDecoderConfigurationRecord, "hvc1.…" for HEVC (general profile/level
 * from the HEVC record), "mp4a.40.<object type>" for AAC; comma-separated.
 * Returns strlen(out); a codec whose text does not fit in outlen is left
 * out whole, never cut (0 when nothing is known or fits). */
size_t hls_codecs_string(const media_config_t *cfg, char *out, size_t outlen);

#endif
