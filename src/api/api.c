#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/jwt.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "live/lifecycle.h"

void api_error(http_response_t *res, int err, const char *message, const char *field) {
  http_response_error(res, err_http_status(err), err_code(err), message ? message : err_str(err),
                      field);
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

/* http://HOST[:PORT] as clients should reach the HTTP listener. */
static void http_base(api_ctx_t *ctx, const char *domain, char *out, size_t outlen) {
  if (domain && *domain)
    snprintf(out, outlen, "http://%s", domain);
  else if (ctx->cfg->http_port == 80)
    snprintf(out, outlen, "http://%s", ctx->cfg->public_host);
  else
    snprintf(out, outlen, "http://%s:%d", ctx->cfg->public_host, ctx->cfg->http_port);
}

json_t *api_stream_render(api_ctx_t *ctx, const store_stream_t *s) {
  const config_t *cfg = ctx->cfg;
  char ts[32], url[600], base[400];
  json_error_t jerr;
  json_t *params = s->params_json ? json_loads(s->params_json, 0, &jerr) : NULL;
  if (!params) params = stream_params_defaults();
  json_t *pub = stream_params_public(params);
  json_decref(params);

  json_t *obj = json_object();
  json_object_set_new(obj, "id", json_string(s->id));
  json_object_set_new(obj, "name", s->name ? json_string(s->name) : json_null());

  json_t *urls = json_object();
  snprintf(url, sizeof(url), "rtmp://%s:%d/live", cfg->public_host, cfg->rtmp_port);
  json_object_set_new(urls, "rtmp", json_string(url));
  if (cfg->rtmps_port > 0) {
    snprintf(url, sizeof(url), "rtmps://%s:%d/live", cfg->public_host, cfg->rtmps_port);
    json_object_set_new(urls, "rtmps", json_string(url));
  }
  json_object_set_new(obj, "server_urls", urls);
  json_object_set_new(obj, "stream_key", json_string(s->stream_key));

  http_base(ctx, s->playback_domain, base, sizeof(base));
  json_t *pids = json_array();
  store_playback_t *pl = NULL;
  size_t n = 0;
  if (store_playback_list(ctx->store, s->id, &pl, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      snprintf(url, sizeof(url), "%s/hls/%s/index.m3u8", base, pl[i].id);
      json_array_append_new(pids, json_pack("{s:s, s:s, s:s, s:s}", "id", pl[i].id, "policy",
                                            pl[i].policy, "created",
                                            util_format_time(pl[i].created_at, ts, sizeof(ts)),
                                            "playback_url", url));
    }
    free(pl);
  }
  json_object_set_new(obj, "playback_ids", pids);

  json_t *targets = json_array();
  store_simulcast_t *tl = NULL;
  if (store_simulcast_list(ctx->store, s->id, &tl, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      json_array_append_new(targets, json_pack("{s:s, s:s, s:s}", "id", tl[i].id, "url",
                                               tl[i].url, "stream_key", tl[i].stream_key));
      store_simulcast_clear(&tl[i]);
    }
    free(tl);
  }
  json_object_set_new(obj, "simulcast_targets", targets);

  json_object_set_new(obj, "status",
                      json_pack("{s:s, s:s}", "name", lifecycle_status_name(s->status),
                                "timestamp", util_format_time(s->status_ts, ts, sizeof(ts))));
  if (lifecycle_has_origin(s->status)) {
    json_object_set_new(obj, "origin_host", json_string(cfg->public_host));
    snprintf(url, sizeof(url), "rtmp://%s:%d/live", cfg->public_host, cfg->rtmp_port);
    json_object_set_new(obj, "origin_url", json_string(url));
  }
  json_object_set_new(obj, "playback_domain",
                      s->playback_domain && *s->playback_domain ? json_string(s->playback_domain)
                                                                : json_null());
  json_object_set_new(obj, "created_at",
                      json_string(util_format_time(s->created_at, ts, sizeof(ts))));
  json_object_set_new(obj, "params", pub);
  return obj;
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
  return rc;
}
