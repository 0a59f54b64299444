/* ladder.h — which rungs a stream gets, from its params and the source.
 *
 * params.mode:
 *   passthrough  no rung (only the source is served)
 *   auto         (default) the source is the top rung, passed through;
 *                below it the standard rungs lower than the source height,
 *                at most max_auto of them, highest first:
 *                1080p 5000k, 720p 2800k, 480p 1400k, 360p 800k, 240p 400k
 *   custom       exactly params.qualities [{resolution, bitrate, framerate}]
 *                (bitrate defaults to the standard one of that resolution)
 * Widths keep the source's aspect ratio (even numbers). params.framerate
 * (0 = as the input) caps every transcoded rung; a quality's own framerate
 * wins over it. Pure function: no I/O, any thread.
 */
#ifndef ONAIR_LADDER_H
#define ONAIR_LADDER_H

#include <jansson.h>

typedef struct {
  char name[16];  /* "720p": the rendition name in playback URLs */
  int width, height;
  unsigned kbps;  /* target video bitrate */
  double fps;     /* 0 = as the input */
} ladder_rung_t;

#define LADDER_MAX 7 /* LIVE_MAX_RENDITIONS minus the source */

typedef enum { LADDER_AUTO = 0, LADDER_PASSTHROUGH, LADDER_CUSTOM } ladder_mode_t;

/* The mode of params (auto when absent or unknown). */
ladder_mode_t ladder_mode(const json_t *params);

/* Fills out[] (room for LADDER_MAX) and returns the number of rungs (0: no
 * transcoding). src_w/src_h: the coded size of the source. */
int ladder_plan(const json_t *params, int src_w, int src_h, unsigned max_auto,
                ladder_rung_t *out);

/* Height of "720p" / "4k"; 0 for an unknown name. */
int ladder_height(const char *resolution);
/* Standard bitrate (kbps) of a height. */
unsigned ladder_standard_kbps(int height);

#endif
