/* /v1/live-streams/{id}/simulcast-targets — stored RTMP(S) restream
 * destinations (seed 003). Pushing to them is the simulcast engine's job. */
#include <string.h>

#include "api/api_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/simulcast/simulcast.h"

#define MAX_TARGETS 10

/* rtmp://host[:port]/app[/…] or rtmps://… with no spaces or control bytes. */
static int valid_rtmp_url(const char *u) {
  const char *host;
  if (strncmp(u, "rtmp://", 7) == 0)
    host = u + 7;
  else if (strncmp(u, "rtmps://", 8) == 0)
    host = u + 8;
  else
    return 0;
  if (strlen(u) > 2048) return 0;
  for (const char *c = u; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) return 0;
  size_t hl = strcspn(host, "/");
  return hl > 0 && host[0] != ':' && host[hl] == '/' && host[hl + 1] != '\0';
}

static void simulcast_add(void *ud, http_request_t *req, http_response_t *res,
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
  const char *bad_field = NULL, *msg = NULL;
  const char *key;
  json_t *v;
  if (!json_is_object(body)) {
    msg = "the request body must be a JSON object";
  } else {
    json_object_foreach(body, key, v) {
      if (strcmp(key, "url") != 0 && strcmp(key, "stream_key") != 0) {
        bad_field = key;
        msg = "unknown field; url and stream_key are accepted";
        break;
      }
    }
  }
  const char *url = json_string_value(json_object_get(body, "url"));
  const char *skey = json_string_value(json_object_get(body, "stream_key"));
  if (!msg && (!url || !valid_rtmp_url(url))) {
    bad_field = "url";
    msg = "url must be an rtmp:// or rtmps:// URL with a host and an application path";
  }
  if (!msg && (!skey || !*skey || strlen(skey) > 512 || strpbrk(skey, "\r\n\t "))) {
    bad_field = "stream_key";
    msg = "stream_key must be a non-empty string of at most 512 bytes without spaces";
  }
  store_simulcast_t *list = NULL;
  size_t n = 0;
  int rc = 0;
  if (!msg && (rc = store_simulcast_list(ctx->store, s.id, &list, &n)) == 0) {
    for (size_t i = 0; i < n; i++) store_simulcast_clear(&list[i]);
    free(list);
    if (n >= MAX_TARGETS) rc = ERR_CONFLICT;
  }
  if (msg) {
    char f[128];
    snprintf(f, sizeof(f), "%.120s", bad_field ? bad_field : "");
    api_error(res, ERR_INVALID, msg, bad_field ? f : NULL);
  } else if (rc == ERR_CONFLICT) {
    api_error(res, rc, "a stream has at most 10 simulcast targets", NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    store_simulcast_t t = {0};
    util_uuid4(t.id);
    memcpy(t.stream_id, s.id, sizeof(s.id));
    t.url = (char *)url;
    t.stream_key = (char *)skey;
    t.created_at = util_now();
    if ((rc = store_simulcast_insert(ctx->store, &t)) != 0) {
      api_error(res, rc, NULL, NULL);
    } else {
      log_info("simulcast_target_added stream=%s target=%s", s.id, t.id);
      simulcast_targets_changed(ctx->simulcast, s.id); /* simulcast: starts at once when live */
      api_stream_respond(ctx, res, 200, &s);
    }
  }
  json_decref(body);
  store_stream_clear(&s);
}

static void simulcast_delete(void *ud, http_request_t *req, http_response_t *res,
                             const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  int rc = store_simulcast_delete(ctx->store, s.id, router_param(p, "target_id"));
  if (rc == ERR_NOT_FOUND)
    api_error(res, rc, "no simulcast target with this id on this stream", NULL);
  else if (rc)
    api_error(res, rc, NULL, NULL);
  else {
    simulcast_targets_changed(ctx->simulcast, s.id); /* simulcast: stops at once */
    api_stream_respond(ctx, res, 200, &s);
  }
  store_stream_clear(&s);
}

int api_simulcast_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "POST", "/v1/live-streams/{id}/simulcast-targets", simulcast_add, ctx);
  if (!rc)
    rc = router_add(r, "DELETE", "/v1/live-streams/{id}/simulcast-targets/{target_id}",
                    simulcast_delete, ctx);
  return rc;
}
