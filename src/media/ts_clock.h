/* ts_clock.h — one publisher's timestamps (milliseconds taken modulo 2^32:
 * RTMP's own message timestamps, or MPEG-TS times in ms) turned into one
 * 64-bit timeline for audio and video.
 *
 *   ts_clock_t c = {0};
 *   int64_t dts = ts_clock_map(&c, MEDIA_VIDEO, msg_timestamp, &jumped);
 *
 * - The 2^32 wrap (~49.7 days) is unwrapped, also when the first audio
 *   and the first video timestamp lie on either side of it: a kind that
 *   starts goes by the clock of the kind already running.
 * - A clock jump within one kind (the encoder restarted its timestamps:
 *   back by TS_CLOCK_BACK_MS or more, or on by TS_CLOCK_AHEAD_MS or more)
 *   does not make the timeline go back or leap: that kind continues 1 ms
 *   after the newest time given out (*jumped = 1, for a log line), and the
 *   other kind, when it jumps the same way (its timestamp within
 *   TS_CLOCK_BACK_MS of the first kind's), goes by the first kind's clock,
 *   so the two stay in sync.
 * - A gap of one kind that the other did not have (audio muted for a
 *   minute while video ran on) comes back on the other kind's clock.
 */
#ifndef ONAIR_MEDIA_TS_CLOCK_H
#define ONAIR_MEDIA_TS_CLOCK_H

#include <stdint.h>

#define TS_CLOCK_BACK_MS 3000
#define TS_CLOCK_AHEAD_MS 30000

typedef struct {
  int started[2];
  uint32_t last_in[2]; /* per media_kind_t: the last message timestamp */
  int64_t last_out[2]; /* and what it became */
} ts_clock_t;

/* kind: MEDIA_VIDEO (0) or MEDIA_AUDIO (1) of hub/frame.h. jumped may be NULL. */
int64_t ts_clock_map(ts_clock_t *c, int kind, uint32_t ts, int *jumped);

#endif
