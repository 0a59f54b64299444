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

#endif
