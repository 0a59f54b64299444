/* lifecycle.h — the one stream state machine (seed 003 statuses).
 *
 *   created ─start→ starting → waiting ─publish→ launching ─first segment→ live
 *   live ─encoder gone→ idle ─stream_timeout→ stopped      idle ─publish→ launching
 *   any running ─stop→ stopping → stopped                  created|stopped ─delete→ deleted
 *   created|stopped ─publish→ launching (RTMP needs no start, per the seed)
 *   any but stopping/deleted ─disable→ disabled ─enable→ created
 *
 * Every transition goes through lifecycle_transition(): it checks the move
 * is allowed, persists it with its timestamp and logs it (later: webhooks).
 */
#ifndef ONAIR_LIFECYCLE_H
#define ONAIR_LIFECYCLE_H

#include <stdint.h>

#include "store/store.h"

typedef enum {
  STREAM_CREATED = 0,
  STREAM_STARTING,
  STREAM_WAITING,
  STREAM_LAUNCHING,
  STREAM_LIVE,
  STREAM_IDLE,
  STREAM_STOPPING,
  STREAM_STOPPED,
  STREAM_DELETED,
  STREAM_DISABLED, /* seed 001: refuses publishes until enabled */
  STREAM_STATUS_COUNT
} stream_status_t;

/* "created", "starting", … ; "unknown" for out-of-range values. */
const char *lifecycle_status_name(int status);
/* Inverse of lifecycle_status_name; -1 when unknown. */
int lifecycle_status_parse(const char *name);
/* 1 if from → to is an allowed move. */
int lifecycle_can_transition(int from, int to);
/* 1 for starting, waiting, launching, live, idle, stopping: an encoder may
 * be attached or resources are held, so delete is refused. */
int lifecycle_is_running(int status);
/* 1 for waiting, launching, live, idle: the statuses where seed 003 shows
 * origin_host. */
int lifecycle_has_origin(int status);

/* Moves s (already loaded) to `to`, persisting status + timestamp and
 * updating s. ERR_CONFLICT when the move is not allowed. */
int lifecycle_transition(store_t *st, store_stream_t *s, int to);

#endif
