/* Recordings of live streams (media/record/recorder.h makes them):
 *
 *   GET    /v1/live-streams/{id}/recordings   paginated: offset/limit, sort_by
 *                                             created_at|duration, order asc|desc
 *   GET    /v1/recordings/{id}
 *   DELETE /v1/recordings/{id}                row + uploads + local files (409 while recording)
 *   GET    /vod/recordings/{id}/{file}        the HLS VOD (index.m3u8, rendition
 *                                             playlists, fragments) and the mp4/ts files
 *
 * VOD playback policy: a recording plays freely when its stream has a
 * public playback ID; otherwise (only authenticated IDs, or the stream was
 * deleted) every file needs ?auth=<RS256 JWT signed with a project signing
 * key> whose "sub" is the recording id or one of the stream's playback
 * IDs (auth/signing.h); playlists pass the token on to what they list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/signing.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/record/recorder.h"
#include "store/recordings.h"

#define RECORDINGS_DEFAULT_LIMIT 20
#define RECORDINGS_MAX_LIMIT 100

static void recording_list(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  long limit, offset, total = 0;
  int by_duration, desc;
  if (api_parse_paging(req, res, RECORDINGS_DEFAULT_LIMIT, RECORDINGS_MAX_LIMIT, &limit,
                       &offset) ||
      api_parse_sort(req, res, &by_duration, &desc))
    return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  store_recording_t *list = NULL;
  size_t n = 0;
  int rc = store_recording_list(ctx->store, project, s.id,
                                by_duration ? STORE_REC_SORT_DURATION : STORE_REC_SORT_CREATED,
                                desc, limit, offset, &list, &n, &total);
  store_stream_clear(&s);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(arr, recorder_render(ctx->cfg, &list[i]));
    store_recording_clear(&list[i]);
  }
  free(list);
  api_respond_page(res, "recordings", arr, total, limit, offset, by_duration, desc);
}

static int recording_load(api_ctx_t *ctx, const char *project, const router_params_t *p,
                          http_response_t *res, store_recording_t *r) {
  int rc = store_recording_get(ctx->store, project, router_param(p, "id"), r);
  if (rc == ERR_NOT_FOUND)
    api_error(res, ERR_NOT_FOUND, "no recording with this id", NULL);
  else if (rc)
    api_error(res, rc, NULL, NULL);
  return rc;
}

static void recording_get(void *ud, http_request_t *req, http_response_t *res,
                          const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_recording_t r;
  if (recording_load(ctx, project, p, res, &r)) return;
  json_t *body = json_pack("{s:o}", "recording", recorder_render(ctx->cfg, &r));
  store_recording_clear(&r);
  if (!body) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, 200, body);
  json_decref(body);
}

static void recording_delete(void *ud, http_request_t *req, http_response_t *res,
                             const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  const char *id = router_param(p, "id");
  int rc = ctx->recorder ? recorder_delete(ctx->recorder, project, id) : ERR_NOT_FOUND;
  if (rc == ERR_NOT_FOUND) {
    api_error(res, rc, "no recording with this id", NULL);
  } else if (rc == ERR_CONFLICT) {
    api_error(res, rc,
              "the recording is still being written; disable dvr or stop the stream, then "
              "wait for it to finish",
              NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    api_deleted(res);
  }
}

/* ---- VOD ---------------------------------------------------------------------- */

/* 0 when the request may play recording r (see the top of this file);
 * otherwise answers 401/403 and returns non-zero. */
static int vod_allowed(api_ctx_t *ctx, http_request_t *req, http_response_t *res,
                       const store_recording_t *r, const char *token, int has_token) {
  store_playback_t *pl = NULL;
  size_t n = 0;
  int rc = store_playback_list(ctx->store, r->stream_id, &pl, &n);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return -1;
  }
  int ok = 0;
  for (size_t i = 0; i < n && !ok; i++) ok = strcmp(pl[i].policy, "public") == 0;
  if (!ok && has_token) {
    int64_t now = util_now();
    rc = signing_verify_playback(ctx->store, r->project_id, r->id, token, now);
    for (size_t i = 0; i < n && rc == ERR_FORBIDDEN; i++)
      rc = signing_verify_playback(ctx->store, r->project_id, pl[i].id, token, now);
    ok = rc == 0;
  }
  free(pl);
  if (ok) return 0;
  (void)req;
  api_error(res, has_token && rc == ERR_FORBIDDEN ? ERR_FORBIDDEN : ERR_UNAUTHORIZED,
            has_token ? "the playback token is invalid, expired or for something else"
                      : "this recording needs a signed token in the auth query parameter",
            "auth");
  return -1;
}

static void recording_vod(void *ud, http_request_t *req, http_response_t *res,
                          const router_params_t *p) {
  api_ctx_t *ctx = ud;
  const char *file = router_param(p, "file");
  store_recording_t r;
  char dir[2400], token[4200];
  int rc = store_recording_get(ctx->store, NULL, router_param(p, "id"), &r);
  if (rc) {
    api_error(res, rc == ERR_NOT_FOUND ? ERR_NOT_FOUND : rc,
              rc == ERR_NOT_FOUND ? "no recording with this id" : NULL, NULL);
    return;
  }
  int has_token = api_query_param(req, "auth", token, sizeof(token));
  if (vod_allowed(ctx, req, res, &r, token, has_token) == 0) {
    if (recorder_vod_dir(ctx->cfg, &r, dir, sizeof(dir)) != 0)
      api_error(res, ERR_NOT_FOUND,
                strcmp(r.status, "recording") == 0 ? "the recording is still being written"
                : strcmp(r.status, "uploaded") == 0
                    ? "the recording's files are not available here (uploaded elsewhere)"
                    : "the recording has no playable files",
                NULL);
    else
      api_vod_serve(req, res, dir, file, token);
  }
  store_recording_clear(&r);
}

int api_recordings_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "GET", "/v1/live-streams/{id}/recordings", recording_list, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/recordings/{id}", recording_get, ctx);
  if (!rc) rc = router_add(r, "DELETE", "/v1/recordings/{id}", recording_delete, ctx);
  if (!rc) rc = router_add(r, "GET", "/vod/recordings/{id}/{file}", recording_vod, ctx);
  return rc;
}
