#include "live/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"

static const char *const status_names[STREAM_STATUS_COUNT] = {
    "created", "starting", "waiting", "launching", "live",
    "idle",    "stopping", "stopped", "deleted", "disabled",
};

const char *lifecycle_status_name(int status) {
  if (status < 0 || status >= STREAM_STATUS_COUNT) return "unknown";
  return status_names[status];
}

int lifecycle_status_parse(const char *name) {
  for (int i = 0; i < STREAM_STATUS_COUNT; i++)
    if (strcmp(status_names[i], name) == 0) return i;
  return -1;
}

/* allowed[from] is a bit set of the statuses reachable from `from`. */
#define B(s) (1u << (s))
static const unsigned allowed[STREAM_STATUS_COUNT] = {
    [STREAM_CREATED] = B(STREAM_STARTING) | B(STREAM_LAUNCHING) | B(STREAM_DELETED) |
                       B(STREAM_DISABLED),
    [STREAM_STARTING] = B(STREAM_WAITING) | B(STREAM_LAUNCHING) | B(STREAM_STOPPING) |
                        B(STREAM_DISABLED),
    [STREAM_WAITING] = B(STREAM_LAUNCHING) | B(STREAM_STOPPING) | B(STREAM_STOPPED) |
                       B(STREAM_DISABLED),
    [STREAM_LAUNCHING] = B(STREAM_LIVE) | B(STREAM_IDLE) | B(STREAM_STOPPING) | B(STREAM_DISABLED),
    [STREAM_LIVE] = B(STREAM_IDLE) | B(STREAM_STOPPING) | B(STREAM_DISABLED),
    [STREAM_IDLE] = B(STREAM_LAUNCHING) | B(STREAM_STOPPING) | B(STREAM_STOPPED) |
                    B(STREAM_DISABLED),
    [STREAM_STOPPING] = B(STREAM_STOPPED),
    [STREAM_STOPPED] = B(STREAM_STARTING) | B(STREAM_LAUNCHING) | B(STREAM_DELETED) |
                       B(STREAM_DISABLED),
    [STREAM_DELETED] = 0,
    [STREAM_DISABLED] = B(STREAM_CREATED) | B(STREAM_DELETED),
};
#undef B

int lifecycle_can_transition(int from, int to) {
  if (from < 0 || from >= STREAM_STATUS_COUNT || to < 0 || to >= STREAM_STATUS_COUNT) return 0;
  return (allowed[from] >> to) & 1u;
}

int lifecycle_is_running(int status) {
  return status == STREAM_STARTING || status == STREAM_WAITING || status == STREAM_LAUNCHING ||
         status == STREAM_LIVE || status == STREAM_IDLE || status == STREAM_STOPPING;
}

int lifecycle_has_origin(int status) {
  return status == STREAM_WAITING || status == STREAM_LAUNCHING || status == STREAM_LIVE ||
         status == STREAM_IDLE;
}

int lifecycle_transition(store_t *st, store_stream_t *s, int to) {
  if (!lifecycle_can_transition(s->status, to)) return ERR_CONFLICT;
  int64_t now = util_now();
  int rc = to == STREAM_DELETED ? store_stream_delete(st, s->project_id, s->id, to, now)
                                : store_stream_set_status(st, s->id, to, now);
  if (rc) return rc;
  log_info("stream_status id=%s from=%s to=%s", s->id, lifecycle_status_name(s->status),
           lifecycle_status_name(to));
  s->status = to;
  s->status_ts = now;
  char type[48];
  snprintf(type, sizeof(type), "live_stream.%s", lifecycle_status_name(to));
  /* data NULL: listeners render the stream as it now is (deleted ones are
   * gone from the store, so they get the id and status). */
  json_t *data = NULL;
  if (to == STREAM_DELETED) {
    char ts[32];
    data = json_pack("{s:s, s:{s:s, s:s}}", "id", s->id, "status", "name", "deleted", "timestamp",
                     util_format_time(now, ts, sizeof(ts)));
  }
  events_emit(type, s->project_id, s->id, data);
  return 0;
}
