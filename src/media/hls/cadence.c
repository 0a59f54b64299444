/* cadence.c — learns a stream's keyframe cadence and says which video frame
 * is the last one before the next keyframe.
 *
 * Why: a segment ends where the next keyframe starts, but waiting for that
 * keyframe to arrive costs a frame interval plus the publisher's
 * interleaving delay. When the encoder's GOP is fixed (ffmpeg -g with
 * -sc_threshold 0, OBS with a keyframe interval, hardware encoders), the
 * last frame of each GOP is known in advance, and the segment can be
 * published the moment that frame arrives.
 *
 * A prediction is made only when two independent measures agree: the GOP
 * has had the same number of frames AND the same length in milliseconds for
 * the last `need` GOPs, and this frame is both the last by count and one
 * frame interval before the predicted keyframe time. An encoder that counts
 * frames (x264 keyint) and drops a frame, a variable frame rate, or a scene
 * cut break one of the two, and no prediction is made until the cadence is
 * stable again. A miss (the frame after a predicted end was no keyframe)
 * makes the packager far more careful: see hls__cadence_miss().
 */
#include <stdlib.h>

#include "media/hls/hls_int.h"

#define STABLE_GOPS 3    /* GOPs with the same shape before predicting */
#define MISS_FACTOR 4    /* after a miss, STABLE_GOPS x this many */
#define MAX_MISSES 2     /* then never again in this session */
#define TOLERANCE_MS 2   /* ms timestamps of e.g. 29.97 fps jitter by one */

void hls__cadence_reset(hls__cadence_t *c) {
  *c = (hls__cadence_t){.key_dts = INT64_MIN};
}

void hls__cadence_frame(hls__cadence_t *c, int64_t dts, int keyframe) {
  if (!keyframe) {
    if (c->key_dts != INT64_MIN) c->frames++;
    return;
  }
  if (c->key_dts != INT64_MIN) {
    int64_t ms = dts - c->key_dts;
    int same = c->gop_frames == c->frames && llabs(ms - c->gop_ms) <= TOLERANCE_MS;
    c->stable = same ? c->stable + 1 : 1;
    c->gop_ms = ms;
    c->gop_frames = c->frames;
  }
  c->key_dts = dts;
  c->frames = 1; /* the keyframe itself */
}

int hls__cadence_last_before_key(const hls__cadence_t *c, int64_t dts, int64_t *next_key) {
  if (c->misses >= MAX_MISSES || c->key_dts == INT64_MIN || c->gop_frames < 2 ||
      c->gop_ms <= 0)
    return 0;
  unsigned need = STABLE_GOPS;
  for (unsigned i = 0; i < c->misses; i++) need *= MISS_FACTOR;
  if (c->stable < need || c->frames != c->gop_frames) return 0;
  int64_t key = c->key_dts + c->gop_ms;
  /* The average frame interval of the GOP; the next frame is expected one
   * interval after this one, and it must land on the predicted keyframe. */
  int64_t step = c->gop_ms / c->gop_frames;
  int64_t off = dts + step - key;
  if (step <= 0 || key <= dts || llabs(off) > step / 2 + TOLERANCE_MS) return 0;
  *next_key = key;
  return 1;
}

void hls__cadence_miss(hls__cadence_t *c) {
  c->misses++;
  c->stable = 0;
}
