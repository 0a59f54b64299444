/* ratelimit.h — per-key token buckets (e.g. stream creations per project).
 *
 * Each key gets `burst` tokens refilled at `per_minute` tokens per minute.
 * Memory is bounded: at most `max_keys` keys; the least recently used one is
 * forgotten first (it then starts full again, a harmless approximation).
 */
#ifndef ONAIR_RATELIMIT_H
#define ONAIR_RATELIMIT_H

#include <stdint.h>

typedef struct ratelimit ratelimit_t;

ratelimit_t *ratelimit_new(unsigned per_minute, unsigned burst, unsigned max_keys);
void ratelimit_free(ratelimit_t *rl);
/* Takes one token for key at time now_ms. Returns 0 when allowed, or the
 * number of whole seconds (>= 1) until a token will be available. */
unsigned ratelimit_take(ratelimit_t *rl, const char *key, uint64_t now_ms);

#endif
