/* ts_clock.c — see ts_clock.h. */
#include "media/ts_clock.h"

/* The signed distance from a to b on the 32-bit circle. */
static int64_t step(uint32_t a, uint32_t b) { return (int32_t)(b - a); }

int64_t ts_clock_map(ts_clock_t *c, int kind, uint32_t ts, int *jumped) {
  int other = !kind;
  int64_t own = step(c->last_in[kind], ts), cross = step(c->last_in[other], ts);
  int64_t out;
  if (jumped) *jumped = 0;
  if (c->started[kind] && own > -TS_CLOCK_BACK_MS && own < TS_CLOCK_AHEAD_MS) {
    out = c->last_out[kind] + own;
  } else if (c->started[other] &&
             (!c->started[kind] ||
              (cross > -TS_CLOCK_BACK_MS && cross < TS_CLOCK_BACK_MS &&
               c->last_out[other] + cross > c->last_out[kind] - TS_CLOCK_BACK_MS))) {
    /* A kind that starts, or that jumps to where the other kind's clock
     * already is (the encoder restarted both), goes by the other kind;
     * not by one that stopped long ago, which would take it back. */
    out = c->last_out[other] + cross;
  } else if (!c->started[kind]) {
    out = ts; /* the very first timestamp */
  } else {
    /* A jump the other kind has not made (yet): go on from the newest. */
    out = c->last_out[kind];
    if (c->started[other] && c->last_out[other] > out) out = c->last_out[other];
    out += 1;
    if (jumped) *jumped = 1;
  }
  c->started[kind] = 1;
  c->last_in[kind] = ts;
  c->last_out[kind] = out;
  return out;
}
