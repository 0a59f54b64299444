#include "api/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char key[64];
  double tokens;
  uint64_t updated_ms; /* last refill; also the LRU clock */
} bucket_t;

struct ratelimit {
  double per_ms;
  double burst;
  unsigned max_keys;
  unsigned used;
  bucket_t *buckets;
};

ratelimit_t *ratelimit_new(unsigned per_minute, unsigned burst, unsigned max_keys) {
  ratelimit_t *rl = calloc(1, sizeof(*rl));
  if (!rl) return NULL;
  rl->buckets = calloc(max_keys ? max_keys : 1, sizeof(bucket_t));
  if (!rl->buckets) {
    free(rl);
    return NULL;
  }
  rl->per_ms = per_minute / 60000.0;
  rl->burst = burst ? burst : 1;
  rl->max_keys = max_keys ? max_keys : 1;
  return rl;
}

void ratelimit_free(ratelimit_t *rl) {
  if (!rl) return;
  free(rl->buckets);
  free(rl);
}

/* Linear scan: the number of projects creating streams at the same moment is
 * small, and this runs once per create call, never on the media path. */
static bucket_t *bucket_for(ratelimit_t *rl, const char *key, uint64_t now_ms) {
  bucket_t *oldest = NULL;
  for (unsigned i = 0; i < rl->used; i++) {
    if (strcmp(rl->buckets[i].key, key) == 0) return &rl->buckets[i];
    if (!oldest || rl->buckets[i].updated_ms < oldest->updated_ms) oldest = &rl->buckets[i];
  }
  bucket_t *b = rl->used < rl->max_keys ? &rl->buckets[rl->used++] : oldest;
  snprintf(b->key, sizeof(b->key), "%s", key);
  b->tokens = rl->burst;
  b->updated_ms = now_ms;
  return b;
}

unsigned ratelimit_take(ratelimit_t *rl, const char *key, uint64_t now_ms) {
  bucket_t *b = bucket_for(rl, key, now_ms);
  if (now_ms > b->updated_ms) {
    b->tokens += (double)(now_ms - b->updated_ms) * rl->per_ms;
    if (b->tokens > rl->burst) b->tokens = rl->burst;
  }
  b->updated_ms = now_ms;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return 0;
  }
  double wait_ms = (1.0 - b->tokens) / rl->per_ms;
  unsigned secs = (unsigned)((wait_ms + 999.0) / 1000.0); /* round up */
  return secs ? secs : 1;
}
