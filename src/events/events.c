#include "events/events.h"

#include "core/err.h"
#include "core/log.h"

#define MAX_LISTENERS 8

static struct {
  events_listener_fn fn;
  void *ud;
} listeners[MAX_LISTENERS];
static int nlisteners;

int events_listen(events_listener_fn fn, void *ud) {
  if (nlisteners == MAX_LISTENERS) return ERR_NOMEM;
  listeners[nlisteners].fn = fn;
  listeners[nlisteners].ud = ud;
  nlisteners++;
  return 0;
}

void events_reset(void) { nlisteners = 0; }

void events_emit(const char *type, const char *project_id, const char *stream_id, json_t *data) {
  log_debug("event type=%s project=%s stream=%s", type, project_id ? project_id : "-",
            stream_id ? stream_id : "-");
  for (int i = 0; i < nlisteners; i++) listeners[i].fn(listeners[i].ud, type, project_id, stream_id, data);
  json_decref(data);
}
