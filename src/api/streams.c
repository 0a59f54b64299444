/* /v1/live-streams — create, get, list (filters + paging), update, delete,
 * start, stop (seed 003). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/filter.h"
#include "api/playback_cache.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"
#include "live/lifecycle.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000

/* Applies body onto a copy of the stream's params; on success the stream
 * holds the new params text and name/playback_domain. */
static int apply_body(http_response_t *res, json_t *body, store_stream_t *s, int require_field) {
  json_error_t jerr;
  json_t *params = s->params_json ? json_loads(s->params_json, 0, &jerr) : NULL;
  if (!params) params = stream_params_defaults();
  stream_request_t req;
  api_field_error_t ferr;
  if (stream_params_apply(body, params, &req, &ferr) != 0) {
    json_decref(params);
    api_field_error(res, &ferr);
    return ERR_INVALID;
  }
  if (require_field && req.fields == 0) {
    json_decref(params);
    api_error(res, ERR_INVALID, "at least one field must be given", NULL);
    return ERR_INVALID;
  }
  char *text = json_dumps(params, JSON_COMPACT);
  json_decref(params);
  if (!text) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return ERR_NOMEM;
  }
  free(s->params_json);
  s->params_json = text;
  if (req.has_name) {
    free(s->name);
    s->name = strdup(req.name);
  }
  if (req.has_playback_domain) {
    free(s->playback_domain);
    s->playback_domain = req.playback_domain[0] ? strdup(req.playback_domain) : NULL;
  }
  return 0;
}

static void streams_create(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  json_t *body;
  if (api_parse_body(req, res, 1, &body)) return;

  store_stream_t s;
  memset(&s, 0, sizeof(s));
  int rc = apply_body(res, body, &s, 0);
  json_decref(body);
  if (rc) goto out;

  unsigned wait = ratelimit_take(ctx->create_limit, project, util_mono_ms());
  if (wait) {
    char secs[16];
    snprintf(secs, sizeof(secs), "%u", wait);
    http_response_header(res, "Retry-After", secs);
    api_error(res, ERR_RATE_LIMITED, "too many live streams created; retry later", NULL);
    goto out;
  }

  unsigned char keybytes[16];
  if (util_uuid4(s.id) || util_random_bytes(keybytes, sizeof(keybytes))) {
    api_error(res, ERR_INTERNAL, NULL, NULL);
    goto out;
  }
  util_hex(keybytes, sizeof(keybytes), s.stream_key);
  memcpy(s.project_id, project, sizeof(s.project_id));
  if (!s.name) {
    char suffix[9];
    util_random_id(suffix, 8);
    for (char *c = suffix; *c; c++) *c = (char)toupper((unsigned char)*c);
    char name[32];
    snprintf(name, sizeof(name), "Stream_%s", suffix);
    s.name = strdup(name);
  }
  s.status = STREAM_CREATED;
  s.created_at = s.status_ts = util_now();

  store_playback_t pb = {0};
  util_random_id(pb.id, 12);
  memcpy(pb.stream_id, s.id, sizeof(s.id));
  snprintf(pb.policy, sizeof(pb.policy), "public");
  pb.created_at = s.created_at;
  if ((rc = store_stream_insert(ctx->store, &s)) != 0 ||
      (rc = store_playback_insert(ctx->store, &pb)) != 0) {
    api_error(res, rc, NULL, NULL);
    goto out;
  }
  log_info("stream_created id=%s project=%s", s.id, project);
  events_emit("live_stream.created", project, s.id, NULL);
  api_stream_respond(ctx, res, 201, &s);
out:
  store_stream_clear(&s);
}

static void streams_get(void *ud, http_request_t *req, http_response_t *res,
                        const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  api_stream_respond(ctx, res, 200, &s);
  store_stream_clear(&s);
}

typedef struct {
  api_ctx_t *ctx;
  filter_t *filter;
  long offset, limit, total;
  json_t *page;
} list_state_t;

static int list_one(void *ud, const store_stream_t *s) {
  list_state_t *ls = ud;
  json_t *obj = api_stream_render(ls->ctx, s);
  if (!obj) return ERR_NOMEM;
  if (filter_match(ls->filter, obj)) {
    if (ls->total >= ls->offset && ls->total < ls->offset + ls->limit)
      json_array_append(ls->page, obj);
    ls->total++;
  }
  json_decref(obj);
  return 0;
}


/* Every property of the stream object (docs/api.md "The stream object", as
 * live/stream_view.c renders it), so that a mistyped filter key is refused
 * instead of quietly matching nothing. Properties that come and go
 * (origin_host, server_urls.srt) are listed: "=null" on them is a real
 * question. Parts rendered whole by other modules are open below ".*". */
static const char *const stream_filter_keys[] = {
    "id", "name", "stream_key", "created_at", "playback_domain", "origin_host", "origin_url",
    "server_urls.rtmp", "server_urls.rtmps", "server_urls.srt",
    "playback_ids.id", "playback_ids.policy", "playback_ids.created", "playback_ids.playback_url",
    "simulcast_targets.id", "simulcast_targets.url", "simulcast_targets.stream_key",
    "simulcast_targets.status.*",
    "status.name", "status.timestamp",
    "params.input_format", "params.output_format", "params.framerate", "params.mode",
    "params.qualities.resolution", "params.qualities.bitrate", "params.qualities.framerate",
    "params.callback_url", "params.stream_timeout", "params.srt_latency",
    "params.srt_passphrase_set", "params.allowed_referer_domains",
    "params.dvr.enabled", "params.dvr.destination.*", "params.dvr.stream_source",
    "params.dvr.resolution", "params.dvr.format", "params.dvr.max_file_duration",
    "recording.*", NULL};

/* The list's query: paging, then the filters; 0, or an error answered. */
static int streams_list_query(http_request_t *req, http_response_t *res, list_state_t *ls) {
  if (api_parse_paging(req, res, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, &ls->limit, &ls->offset))
    return ERR_INVALID;
  static const char *const reserved[] = {"limit", "offset", NULL};
  char field[128], msg[320];
  if (filter_parse(req->query, reserved, &ls->filter, field, sizeof(field)) != 0) {
    api_error(res, ERR_INVALID, "invalid filter", field);
    return ERR_INVALID;
  }
  if (filter_find_unknown_key(ls->filter, stream_filter_keys, field, sizeof(field))) {
    snprintf(msg, sizeof(msg),
             "unknown filter '%.120s': not a property of the stream object (limit and offset "
             "page; every other parameter is a dotted path such as status.name)",
             field);
    api_error(res, ERR_INVALID, msg, field);
    filter_free(ls->filter);
    ls->filter = NULL;
    return ERR_INVALID;
  }
  return 0;
}

static void streams_list(void *ud, http_request_t *req, http_response_t *res,
                         const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  list_state_t ls = {.ctx = ctx};
  if (streams_list_query(req, res, &ls)) return;
  ls.page = json_array();
  int rc = store_stream_list(ctx->store, project, list_one, &ls);
  if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    json_t *body = json_pack("{s:O, s:I, s:I, s:I}", "streams", ls.page, "total",
                             (json_int_t)ls.total, "limit", (json_int_t)ls.limit, "offset",
                             (json_int_t)ls.offset);
    http_response_json(res, 200, body);
    json_decref(body);
  }
  json_decref(ls.page);
  filter_free(ls.filter);
}

static void streams_update(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  json_t *body;
  if (api_parse_body(req, res, 0, &body)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) {
    json_decref(body);
    return;
  }
  int rc = apply_body(res, body, &s, 1);
  json_decref(body);
  if (rc == 0) {
    if ((rc = store_stream_update(ctx->store, &s)) != 0) {
      api_error(res, rc, NULL, NULL);
    } else {
      playback_cache_invalidate(); /* params (referers, output_format) changed */
      events_emit("live_stream.updated", project, s.id, NULL);
      api_stream_respond(ctx, res, 200, &s);
    }
  }
  store_stream_clear(&s);
}

static void streams_delete(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37], ts[32], msg[160];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  int rc = lifecycle_transition(ctx->store, &s, STREAM_DELETED);
  if (rc == ERR_CONFLICT) {
    snprintf(msg, sizeof(msg), "the stream is %s; stop it before deleting",
             lifecycle_status_name(s.status));
    api_error(res, rc, msg, NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    live_forget(ctx->live, s.id, "deleted");
    playback_cache_invalidate();
    json_t *body = json_pack("{s:{s:s, s:s}}", "status", "name", "deleted", "timestamp",
                             util_format_time(s.status_ts, ts, sizeof(ts)));
    http_response_json(res, 200, body);
    json_decref(body);
  }
  store_stream_clear(&s);
}

/* Answers 409 for a lifecycle conflict with the stream's status. */
static void answer_conflict(http_response_t *res, int rc, const char *verb, int status) {
  if (rc != ERR_CONFLICT) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  char msg[160];
  snprintf(msg, sizeof(msg), "cannot %s a stream that is %s", verb, lifecycle_status_name(status));
  api_error(res, ERR_CONFLICT, msg, NULL);
}

/* start and stop: the same shape, a different lifecycle call. */
static void streams_control(api_ctx_t *ctx, http_request_t *req, http_response_t *res,
                            const router_params_t *p, int (*op)(live_t *, store_stream_t *),
                            const char *verb) {
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  int before = s.status;
  int rc = op(ctx->live, &s);
  if (rc)
    answer_conflict(res, rc, verb, before);
  else
    api_stream_respond(ctx, res, 200, &s);
  store_stream_clear(&s);
}

static void streams_start(void *ud, http_request_t *req, http_response_t *res,
                          const router_params_t *p) {
  streams_control(ud, req, res, p, live_start, "start");
}

static void streams_stop(void *ud, http_request_t *req, http_response_t *res,
                         const router_params_t *p) {
  streams_control(ud, req, res, p, live_stop, "stop");
}

static void streams_disable(void *ud, http_request_t *req, http_response_t *res,
                            const router_params_t *p) {
  streams_control(ud, req, res, p, live_disable, "disable");
}

static void streams_enable(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  streams_control(ud, req, res, p, live_enable, "enable");
}

/* A new random key; the old one stops working at once and a live encoder
 * using it is disconnected (seed 001). */
static void streams_reset_key(void *ud, http_request_t *req, http_response_t *res,
                              const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  unsigned char keybytes[16];
  int rc = util_random_bytes(keybytes, sizeof(keybytes));
  if (!rc) {
    util_hex(keybytes, sizeof(keybytes), s.stream_key);
    rc = store_stream_update(ctx->store, &s);
  }
  if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    log_info("stream_key_reset id=%s", s.id);
    live_kick(ctx->live, s.id, "stream_key_reset");
    events_emit("live_stream.updated", project, s.id, NULL);
    api_stream_respond(ctx, res, 200, &s);
  }
  store_stream_clear(&s);
}

int api_streams_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "POST", "/v1/live-streams", streams_create, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/live-streams", streams_list, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/live-streams/{id}", streams_get, ctx);
  if (!rc) rc = router_add(r, "PUT", "/v1/live-streams/{id}", streams_update, ctx);
  if (!rc) rc = router_add(r, "DELETE", "/v1/live-streams/{id}", streams_delete, ctx);
  if (!rc) rc = router_add(r, "POST", "/v1/live-streams/{id}/start", streams_start, ctx);
  if (!rc) rc = router_add(r, "POST", "/v1/live-streams/{id}/stop", streams_stop, ctx);
  if (!rc) rc = router_add(r, "POST", "/v1/live-streams/{id}/disable", streams_disable, ctx);
  if (!rc) rc = router_add(r, "POST", "/v1/live-streams/{id}/enable", streams_enable, ctx);
  if (!rc)
    rc = router_add(r, "POST", "/v1/live-streams/{id}/reset-stream-key", streams_reset_key, ctx);
  return rc;
}
