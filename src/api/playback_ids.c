/* /v1/live-streams/{id}/playback-ids — add and remove playback IDs (seed 003). */
#include <string.h>

#include "api/api_internal.h"
#include "api/playback_cache.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define MAX_PLAYBACK_IDS 10

static void playback_add(void *ud, http_request_t *req, http_response_t *res,
                         const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  json_t *body;
  if (api_parse_body(req, res, 1, &body)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) {
    json_decref(body);
    return;
  }
  store_playback_t pb = {0};
  snprintf(pb.policy, sizeof(pb.policy), "public");
  const char *key;
  json_t *v;
  int bad = 0;
  if (!json_is_object(body)) {
    api_error(res, ERR_INVALID, "the request body must be a JSON object", NULL);
    bad = 1;
  } else {
    json_object_foreach(body, key, v) {
      if (strcmp(key, "policy") != 0) {
        char f[128];
        snprintf(f, sizeof(f), "%.120s", key);
        api_error(res, ERR_INVALID, "unknown field; only policy is accepted", f);
        bad = 1;
        break;
      }
      const char *pol = json_string_value(v);
      if (!pol || (strcmp(pol, "public") != 0 && strcmp(pol, "authenticated") != 0)) {
        api_error(res, ERR_INVALID, "policy must be 'public' or 'authenticated'", "policy");
        bad = 1;
        break;
      }
      snprintf(pb.policy, sizeof(pb.policy), "%s", pol);
    }
  }
  json_decref(body);
  store_playback_t *list = NULL;
  size_t n = 0;
  int rc;
  if (!bad && (rc = store_playback_list(ctx->store, s.id, &list, &n)) != 0) {
    api_error(res, rc, NULL, NULL);
    bad = 1;
  }
  free(list);
  if (!bad && n >= MAX_PLAYBACK_IDS) {
    api_error(res, ERR_CONFLICT, "a stream has at most 10 playback IDs", NULL);
    bad = 1;
  }
  if (!bad) {
    util_random_id(pb.id, 12);
    memcpy(pb.stream_id, s.id, sizeof(s.id));
    pb.created_at = util_now();
    if ((rc = store_playback_insert(ctx->store, &pb)) != 0) {
      api_error(res, rc, NULL, NULL);
    } else {
      log_info("playback_id_added stream=%s playback_id=%s policy=%s", s.id, pb.id, pb.policy);
      api_stream_respond(ctx, res, 200, &s);
    }
  }
  store_stream_clear(&s);
}

static void playback_delete(void *ud, http_request_t *req, http_response_t *res,
                            const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  int rc = store_playback_delete(ctx->store, s.id, router_param(p, "playback_id"));
  if (rc == ERR_NOT_FOUND) {
    api_error(res, rc, "no playback ID with this id on this stream", NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    playback_cache_invalidate(); /* playback through it stops at once */
    log_info("playback_id_removed stream=%s playback_id=%s", s.id, router_param(p, "playback_id"));
    api_stream_respond(ctx, res, 200, &s);
  }
  store_stream_clear(&s);
}

int api_playback_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "POST", "/v1/live-streams/{id}/playback-ids", playback_add, ctx);
  if (!rc)
    rc = router_add(r, "DELETE", "/v1/live-streams/{id}/playback-ids/{playback_id}",
                    playback_delete, ctx);
  return rc;
}
