/* events.h — the in-process event bus: state changes are announced here
 * and delivered to whoever listens (webhooks, callback_url, logs).
 *
 * Event types (the "type" of a webhook body):
 *   live_stream.created | live_stream.updated | live_stream.deleted
 *   live_stream.<status>   one per status transition: live_stream.starting,
 *                          .waiting, .launching, .live, .idle, .stopping,
 *                          .stopped, .disabled, .enabled
 *   simulcast_target.<state>  idle | connecting | live | error
 *   (later: recording.ready, recording.failed, clip.ready)
 *
 * Loop thread only. Listeners must not block: they queue work.
 */
#ifndef ONAIR_EVENTS_H
#define ONAIR_EVENTS_H

#include <jansson.h>

/* project_id and stream_id identify the owner (stream_id may be NULL);
 * data is the object the event is about (e.g. the stream object); the
 * listener takes its own reference if it keeps it. */
typedef void (*events_listener_fn)(void *ud, const char *type, const char *project_id,
                                   const char *stream_id, json_t *data);

/* Up to 8 listeners; returns 0 or ERR_NOMEM when full. */
int events_listen(events_listener_fn fn, void *ud);
/* Removes every listener (shutdown, tests). */
void events_reset(void);
/* Announces an event. Steals the reference to data (may be NULL). */
void events_emit(const char *type, const char *project_id, const char *stream_id, json_t *data);

#endif
