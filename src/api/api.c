#include "api/api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/jwt.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "live/lifecycle.h"
#include "live/stream_view.h"

void api_error(http_response_t *res, int err, const char *message, const char *field) {
  http_response_error(res, err_http_status(err), err_code(err), message ? message : err_str(err),
                      field);
}

void api_deleted(http_response_t *res) {
  static const char body[] = "{\"deleted\":true}";
  http_response_status(res, 200);
  http_response_header(res, "Content-Type", "application/json");
  http_response_body(res, body, sizeof(body) - 1);
}

void api_field_error(http_response_t *res, const api_field_error_t *e) {
  api_error(res, ERR_INVALID, e->message, e->field[0] ? e->field : NULL);
}

int api_parse_body(http_request_t *req, http_response_t *res, int allow_empty, json_t **out) {
  const char *p = req->body;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
  if (*p == '\0') {
    if (allow_empty) {
      *out = json_object();
      return 0;
    }
    api_error(res, ERR_INVALID, "a JSON request body is required", NULL);
    return ERR_INVALID;
  }
  json_error_t jerr;
  json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!body) {
    char msg[256];
    snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
             jerr.text);
    api_error(res, ERR_INVALID, msg, NULL);
    return ERR_INVALID;
  }
  *out = body;
  return 0;
}

int api_parse_paging(http_request_t *req, http_response_t *res, long default_limit,
                     long max_limit, long *limit, long *offset) {
  const char *cur = req->query;
  char key[256], val[1100];
  int rc;
  *limit = default_limit;
  *offset = 0;
  while ((rc = http_query_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
    int is_limit = strcmp(key, "limit") == 0;
    if (!is_limit && strcmp(key, "offset") != 0) continue;
    char *end;
    long v = strtol(val, &end, 10);
    if (!isdigit((unsigned char)val[0]) || *end || (is_limit && (v < 1 || v > max_limit)) ||
        v < 0 || v > 1000000000L) {
      char msg[96];
      if (is_limit)
        snprintf(msg, sizeof(msg), "limit must be an integer from 1 to %ld", max_limit);
      else
        snprintf(msg, sizeof(msg), "offset must be a non-negative integer");
      api_error(res, ERR_INVALID, msg, key);
      return ERR_INVALID;
    }
    *(is_limit ? limit : offset) = v;
  }
  if (rc < 0) {
    api_error(res, ERR_INVALID, "badly encoded query string", NULL);
    return ERR_INVALID;
  }
  return 0;
}

int api_auth(api_ctx_t *ctx, http_request_t *req, http_response_t *res, char project_id[37]) {
  const char *h = http_request_header(req, "Authorization");
  if (!h) {
    api_error(res, ERR_UNAUTHORIZED, "missing Authorization: Bearer <access_token> header", NULL);
    return ERR_UNAUTHORIZED;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    api_error(res, ERR_UNAUTHORIZED, "the Authorization header must be: Bearer <access_token>",
              NULL);
    return ERR_UNAUTHORIZED;
  }
  const char *token = h + 7;
  while (*token == ' ') token++;
  json_t *claims = NULL;
  if (jwt_hs256_verify(ctx->token_secret, sizeof(ctx->token_secret), token, util_now(),
                       &claims) != 0) {
    api_error(res, ERR_UNAUTHORIZED, "invalid or expired access token", NULL);
    return ERR_UNAUTHORIZED;
  }
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  int ok = sub && strlen(sub) == 36 && store_project_active(ctx->store, sub) == 1;
  if (ok) memcpy(project_id, sub, 37);
  json_decref(claims);
  if (!ok) {
    api_error(res, ERR_UNAUTHORIZED, "the API key of this access token was revoked", NULL);
    return ERR_UNAUTHORIZED;
  }
  return 0;
}

int api_stream_load(api_ctx_t *ctx, const char *project_id, const char *id, http_response_t *res,
                    store_stream_t *out) {
  int rc = store_stream_get(ctx->store, project_id, id, out);
  if (rc == 0) return 0;
  if (rc == ERR_NOT_FOUND)
    api_error(res, ERR_NOT_FOUND, "no live stream with this id", NULL);
  else
    api_error(res, rc, NULL, NULL);
  return rc;
}

json_t *api_stream_render(api_ctx_t *ctx, const store_stream_t *s) {
  return stream_view_render(ctx->store, ctx->cfg, s);
}

void api_stream_respond(api_ctx_t *ctx, http_response_t *res, int status, const store_stream_t *s) {
  json_t *obj = api_stream_render(ctx, s);
  json_t *wrap = json_pack("{s:o}", "stream", obj);
  http_response_json(res, status, wrap);
  json_decref(wrap);
}

static void healthz(void *ud, http_request_t *req, http_response_t *res,
                    const router_params_t *p) {
  (void)ud, (void)req, (void)p;
  static const char body[] = "{\"status\":\"ok\"}";
  http_response_status(res, 200);
  http_response_header(res, "Content-Type", "application/json");
  http_response_body(res, body, sizeof(body) - 1);
}

int api_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "GET", "/healthz", healthz, ctx);
  if (!rc) rc = api_auth_register(r, ctx);
  if (!rc) rc = api_streams_register(r, ctx);
  if (!rc) rc = api_playback_register(r, ctx);
  if (!rc) rc = api_simulcast_register(r, ctx);
  if (!rc) rc = api_hls_register(r, ctx);
  if (!rc) rc = api_signing_keys_register(r, ctx);
  if (!rc) rc = api_health_register(r, ctx);  /* health */
  if (!rc) rc = api_metrics_register(r, ctx); /* health */
  if (!rc) rc = api_webhooks_register(r, ctx);
  if (!rc) rc = api_recordings_register(r, ctx); /* recording */
  if (!rc) rc = api_clips_register(r, ctx); /* clips */
  return rc;
}
