/* api.h — the /v1 control plane: registers every route on a router.
 *
 * Handlers run on the loop thread, authenticate the bearer token, scope
 * every lookup to the caller's project, and answer with the JSON shapes of
 * seed 003 (docs/api.md) or the JSON error object.
 */
#ifndef ONAIR_API_H
#define ONAIR_API_H

#include "api/ratelimit.h"
#include "core/config.h"
#include "http/router.h"
#include "live/live.h"
#include "store/store.h"

typedef struct api_ctx {
  store_t *store;
  const config_t *cfg;
  unsigned char token_secret[32]; /* HS256 key of access tokens */
  ratelimit_t *create_limit;      /* stream creations per project */
  live_t *live;                   /* running streams (NULL in `onair routes`) */
  struct simulcast *simulcast;    /* restreaming: told when targets change (may be NULL) */
  struct transcode *transcode;    /* ABR ladder: rendition measurements (may be NULL) */
  struct clip_service *clips;     /* clips: live window + clip maker (NULL in `onair routes`) */
  struct uploader *uploader;      /* upload queue for dvr destinations (NULL in `onair routes`) */
  struct recorder *recorder;      /* recording: DVR (NULL in `onair routes`) */
} api_ctx_t;

/* Adds every /v1 route and /healthz. ctx must outlive the router. */
int api_register(router_t *r, api_ctx_t *ctx);

#endif
