/* stream_view.h — the public JSON shape of a live stream (seed 003's
 * stream object, docs/api.md): ids, server_urls, stream_key, playback_ids,
 * simulcast_targets, status, origin, params without write-only secrets. */
#ifndef ONAIR_STREAM_VIEW_H
#define ONAIR_STREAM_VIEW_H

#include <jansson.h>

#include "core/config.h"
#include "store/store.h"

/* A new object (the value of "stream"), or NULL on allocation failure. */
json_t *stream_view_render(store_t *st, const config_t *cfg, const store_stream_t *s);

/* SCHEME://HOST[:PORT] as clients reach the HTTP listener: SCHEME is the
 * public_scheme setting; HOST the stream's playback_domain when given (may
 * be NULL), else public_host with the port unless it is 80 or the scheme is
 * https. Every playback URL (live, recordings, clips) starts so. */
void stream_view_http_base(const config_t *cfg, const char *domain, char *out, size_t outlen);

/* simulcast: the pushing module registers where per-target state comes
 * from (so this file does not depend on it). fn returns a new
 * {"name", "reason", "since", …} object, or NULL for "idle since the
 * target was created". fn NULL unregisters. */
typedef json_t *(*stream_view_target_state_fn)(void *ud, const char *stream_id,
                                                const char *target_id);
void stream_view_set_target_state(stream_view_target_state_fn fn, void *ud);

#endif
