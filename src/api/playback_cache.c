#include "api/playback_cache.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define SLOTS 512 /* direct-mapped: a collision only costs a reload */
#define TTL_MS 1000

static playback_entry_t slots[SLOTS];
static unsigned long long generation = 1;

static unsigned slot_of(const char *pid) {
  unsigned h = 2166136261u;
  for (; *pid; pid++) h = (h ^ (unsigned char)*pid) * 16777619u;
  return h % SLOTS;
}

static void entry_clear(playback_entry_t *e) {
  json_decref(e->params);
  memset(e, 0, sizeof(*e));
}

const playback_entry_t *playback_cache_get(store_t *st, const char *pid) {
  playback_entry_t *e = &slots[slot_of(pid)];
  unsigned long long now = util_mono_ms();
  if (e->generation == generation && now < e->expires_ms && strcmp(e->playback_id, pid) == 0)
    return e;
  entry_clear(e);
  store_playback_t pb;
  store_stream_t s;
  if (store_playback_get(st, pid, &pb) != 0) return NULL;
  if (store_stream_get_any(st, pb.stream_id, &s) != 0) return NULL;
  json_error_t jerr;
  e->params = s.params_json ? json_loads(s.params_json, 0, &jerr) : NULL;
  if (!e->params) e->params = json_object();
  snprintf(e->playback_id, sizeof(e->playback_id), "%s", pid);
  memcpy(e->stream_id, s.id, sizeof(e->stream_id));
  memcpy(e->project_id, s.project_id, sizeof(e->project_id));
  e->authenticated = strcmp(pb.policy, "authenticated") == 0;
  e->generation = generation;
  e->expires_ms = now + TTL_MS;
  store_stream_clear(&s);
  return e;
}

void playback_cache_invalidate(void) { generation++; }

void playback_cache_clear(void) {
  for (unsigned i = 0; i < SLOTS; i++) entry_clear(&slots[i]);
}
