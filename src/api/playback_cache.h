/* playback_cache.h — what HLS playback needs to know about a playback ID
 * (its stream, project, policy and the stream's params), kept in memory so
 * that serving a playlist or segment costs no SQL and no JSON parsing.
 *
 * Entries live at most one second, and every API write that can change the
 * answer (stream update/delete, playback ID delete) calls
 * playback_cache_invalidate(), so changes made through this process take
 * effect at once and changes made by another process within a second.
 * Loop thread only.
 */
#ifndef ONAIR_PLAYBACK_CACHE_H
#define ONAIR_PLAYBACK_CACHE_H

#include <jansson.h>

#include "store/store.h"

typedef struct {
  char playback_id[33];
  char stream_id[37];
  char project_id[37];
  int authenticated;   /* policy "authenticated" */
  json_t *params;      /* the stream's params (owned by the cache) */
  unsigned long long generation;
  unsigned long long expires_ms;
} playback_entry_t;

/* The entry for pid (loaded from the store when missing or stale), borrowed
 * until the next call; NULL when the playback ID or its stream is gone. */
const playback_entry_t *playback_cache_get(store_t *st, const char *pid);
/* Forget everything (after a write that may change an answer). */
void playback_cache_invalidate(void);
/* Free all entries (shutdown). */
void playback_cache_clear(void);

#endif
