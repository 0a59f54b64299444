/* /v1/webhooks — project webhooks and their delivery log (the engine that
 * sends them is events/webhooks.h).
 *
 * POST answers the signing secret once; it is never shown again. Unless
 * webhooks_allow_private is set, the URL's host is resolved (uv_getaddrinfo,
 * off the loop) and refused when any address is loopback, private,
 * link-local or otherwise internal; the delivery thread checks again at
 * every connection, so a later DNS change cannot get around it.
 */
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/webhooks.h"

#define DELIVERIES_DEFAULT_LIMIT 20
#define DELIVERIES_MAX_LIMIT 100
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
  uv_getaddrinfo_t req;
  api_ctx_t *ctx;
  http_response_t *res;
  char project[37];
  char host[256];
  char *url;
  char *events_json;
} create_job_t;

/* {"id", "url", "events", "created_at"} (+ "secret" when given). */
static json_t *webhook_render(const store_webhook_t *w, int with_secret) {
  char ts[32];
  json_error_t jerr;
  json_t *events = w->events_json ? json_loads(w->events_json, 0, &jerr) : NULL;
  if (!json_is_array(events)) {
    json_decref(events);
    events = json_pack("[s]", "*");
  }
  json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "id", w->id, "url", w->url ? w->url : "", "events",
                        events, "created_at", util_format_time(w->created_at, ts, sizeof(ts)));
  if (o && with_secret) json_object_set_new(o, "secret", json_string(w->secret));
  return o;
}

static void webhook_respond(http_response_t *res, int status, const store_webhook_t *w,
                            int with_secret) {
  json_t *obj = webhook_render(w, with_secret);
  json_t *wrap = obj ? json_pack("{s:o}", "webhook", obj) : NULL;
  if (!wrap) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, status, wrap);
  json_decref(wrap);
}

static void limit_error(http_response_t *res) {
  api_error(res, ERR_CONFLICT,
            "a project has at most " STR(WEBHOOKS_MAX_PER_PROJECT) " webhooks; delete one first",
            NULL);
}

/* Stores the webhook and answers 201 with its secret. */
static void create_finish(api_ctx_t *ctx, http_response_t *res, const char *project,
                          const char *url, const char *events_json) {
  store_webhook_t w = {0};
  int rc = util_uuid4(w.id);
  if (!rc) rc = webhooks_secret_new(w.secret);
  if (!rc) {
    memcpy(w.project_id, project, sizeof(w.project_id));
    w.url = (char *)url;
    w.events_json = (char *)events_json;
    w.created_at = util_now();
    rc = store_webhook_insert(ctx->store, &w, WEBHOOKS_MAX_PER_PROJECT);
  }
  if (rc == ERR_CONFLICT) {
    limit_error(res);
  } else if (rc) {
    log_error("webhook_create_failed project=%s err=%s", project, err_str(rc));
    api_error(res, rc, NULL, NULL);
  } else {
    log_info("webhook_created project=%s id=%s events=%s", project, w.id, events_json);
    webhook_respond(res, 201, &w, 1);
  }
  memset(w.secret, 0, sizeof(w.secret));
}

static void create_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai) {
  create_job_t *job = req->data;
  http_response_t *res = job->res;
  int blocked = 0, count = 0;
  for (struct addrinfo *p = ai; p; p = p->ai_next, count++)
    if (webhooks_addr_blocked(p->ai_addr)) blocked = 1;
  if (ai) uv_freeaddrinfo(ai);
  if (status != 0 || count == 0) {
    api_error(res, ERR_INVALID, "the host of url does not resolve", "url");
  } else if (blocked) {
    log_info("webhook_refused project=%s host=%s reason=private_address", job->project, job->host);
    api_error(res, ERR_INVALID,
              "url resolves to a loopback, private or link-local address; webhooks may only "
              "reach public addresses (see the webhooks_allow_private setting)",
              "url");
  } else {
    create_finish(job->ctx, res, job->project, job->url, job->events_json);
  }
  http_response_finish(res);
  free(job->url);
  free(job->events_json);
  free(job);
}

/* "events": absent or null → ["*"]; else 1 … WEBHOOKS_MAX_EVENTS known
 * types or patterns, deduplicated. Answers 400 on failure. */
static int parse_events(json_t *v, http_response_t *res, char **out) {
  json_t *arr = json_array();
  int bad = 0;
  if (!v || json_is_null(v)) {
    json_array_append_new(arr, json_string("*"));
  } else if (!json_is_array(v) || json_array_size(v) == 0 ||
             json_array_size(v) > WEBHOOKS_MAX_EVENTS) {
    api_error(res, ERR_INVALID,
              "events must be an array of 1 to " STR(WEBHOOKS_MAX_EVENTS)
              " event types (or [\"*\"] for all)",
              "events");
    bad = 1;
  } else {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
      const char *name = json_string_value(e);
      if (!webhooks_event_valid(name)) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "unknown event type '%.60s'; use \"*\", a type such as live_stream.live, or a "
                 "family such as live_stream.*",
                 name ? name : "(not a string)");
        api_error(res, ERR_INVALID, msg, "events");
        bad = 1;
        break;
      }
      int dup = 0;
      size_t j;
      json_t *have;
      json_array_foreach(arr, j, have) dup |= strcmp(json_string_value(have), name) == 0;
      if (!dup) json_array_append_new(arr, json_string(name));
    }
  }
  *out = bad ? NULL : json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  if (!bad && !*out) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    bad = 1;
  }
  return bad ? ERR_INVALID : 0;
}

static void webhook_create(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  json_t *body;
  if (api_parse_body(req, res, 0, &body)) return;
  char host[256], msg[256];
  char *events_json = NULL;
  const char *url = NULL;
  const char *key;
  json_t *val;
  int bad = 0;
  if (!json_is_object(body)) {
    api_error(res, ERR_INVALID, "the request body must be a JSON object", NULL);
    bad = 1;
  }
  if (!bad) {
    json_object_foreach(body, key, val) {
      if (strcmp(key, "url") != 0 && strcmp(key, "events") != 0) {
        char f[128];
        snprintf(f, sizeof(f), "%.120s", key);
        api_error(res, ERR_INVALID, "unknown field; a webhook takes url and events", f);
        bad = 1;
        break;
      }
    }
  }
  if (!bad) {
    json_t *u = json_object_get(body, "url");
    url = json_string_value(u);
    if (!url) {
      api_error(res, ERR_INVALID, "url is required and must be a string", "url");
      bad = 1;
    } else if (webhooks_url_parse(url, host, sizeof(host), msg, sizeof(msg)) != 0) {
      api_error(res, ERR_INVALID, msg, "url");
      bad = 1;
    }
  }
  if (!bad && parse_events(json_object_get(body, "events"), res, &events_json)) bad = 1;
  /* Checked again, atomically, by the INSERT. */
  store_webhook_t *list = NULL;
  size_t n = 0;
  int rc = bad ? 0 : store_webhook_list(ctx->store, project, &list, &n);
  for (size_t i = 0; i < n; i++) store_webhook_clear(&list[i]);
  free(list);
  if (!bad && rc) {
    api_error(res, rc, NULL, NULL);
    bad = 1;
  } else if (!bad && n >= WEBHOOKS_MAX_PER_PROJECT) {
    limit_error(res);
    bad = 1;
  }
  if (bad) {
    free(events_json);
    json_decref(body);
    return;
  }
  if (ctx->cfg->webhooks_allow_private) {
    create_finish(ctx, res, project, url, events_json);
    free(events_json);
    json_decref(body);
    return;
  }
  create_job_t *job = calloc(1, sizeof(*job));
  if (job) {
    job->url = strdup(url);
    job->events_json = events_json;
    events_json = NULL;
  }
  json_decref(body);
  if (!job || !job->url) {
    if (job) free(job->events_json);
    free(job ? job->url : NULL);
    free(job);
    free(events_json);
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  job->ctx = ctx;
  job->res = res;
  job->req.data = job;
  memcpy(job->project, project, sizeof(project));
  memcpy(job->host, host, sizeof(host));
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  /* api_ctx_t carries no loop; the server runs on the default loop. */
  if (uv_getaddrinfo(uv_default_loop(), &job->req, create_resolved, job->host, NULL, &hints) != 0) {
    api_error(res, ERR_INVALID, "the host of url does not resolve", "url");
    free(job->url);
    free(job->events_json);
    free(job);
    return;
  }
  http_response_defer(res);
}

static void webhook_list(void *ud, http_request_t *req, http_response_t *res,
                         const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_webhook_t *list = NULL;
  size_t n = 0;
  int rc = store_webhook_list(ctx->store, project, &list, &n);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(arr, webhook_render(&list[i], 0));
    store_webhook_clear(&list[i]);
  }
  free(list);
  json_t *wrap = json_pack("{s:o}", "webhooks", arr);
  if (!wrap) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, 200, wrap);
  json_decref(wrap);
}

/* Loads the project's webhook {id}; answers 404 and returns non-zero if absent. */
static int webhook_load(api_ctx_t *ctx, const char *project, const router_params_t *p,
                        http_response_t *res, store_webhook_t *w) {
  int rc = store_webhook_get(ctx->store, project, router_param(p, "id"), w);
  if (rc == ERR_NOT_FOUND)
    api_error(res, rc, "no webhook with this id", NULL);
  else if (rc)
    api_error(res, rc, NULL, NULL);
  return rc;
}

static void webhook_get(void *ud, http_request_t *req, http_response_t *res,
                        const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_webhook_t w;
  if (webhook_load(ctx, project, p, res, &w)) return;
  webhook_respond(res, 200, &w, 0);
  store_webhook_clear(&w);
}

static void webhook_delete(void *ud, http_request_t *req, http_response_t *res,
                           const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  const char *id = router_param(p, "id");
  int rc = store_webhook_delete(ctx->store, project, id);
  if (rc == ERR_NOT_FOUND) {
    api_error(res, rc, "no webhook with this id", NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    log_info("webhook_deleted project=%s id=%s", project, id);
    api_deleted(res);
  }
}

static const char *delivery_status_name(int s) {
  return s == STORE_DELIVERY_DELIVERED ? "delivered" : s == STORE_DELIVERY_FAILED ? "failed"
                                                                                  : "pending";
}

static json_t *delivery_render(const store_delivery_t *d) {
  char c[32], u[32], nx[32];
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(d->id));
  json_object_set_new(o, "event_id", json_string(d->event_id));
  json_object_set_new(o, "event_type", json_string(d->event_type));
  json_object_set_new(o, "stream_id", d->stream_id[0] ? json_string(d->stream_id) : json_null());
  json_object_set_new(o, "status", json_string(delivery_status_name(d->status)));
  json_object_set_new(o, "attempts", json_integer(d->attempts));
  json_object_set_new(o, "last_http_status",
                      d->last_http_status ? json_integer(d->last_http_status) : json_null());
  json_object_set_new(o, "last_error", d->last_error ? json_string(d->last_error) : json_null());
  json_object_set_new(o, "last_response",
                      d->last_response ? json_string(d->last_response) : json_null());
  json_object_set_new(o, "next_attempt_at",
                      d->status == STORE_DELIVERY_PENDING
                          ? json_string(util_format_time(d->next_attempt_ms / 1000, nx, sizeof(nx)))
                          : json_null());
  json_object_set_new(o, "created_at", json_string(util_format_time(d->created_at, c, sizeof(c))));
  json_object_set_new(o, "updated_at", json_string(util_format_time(d->updated_at, u, sizeof(u))));
  return o;
}


static void webhook_deliveries(void *ud, http_request_t *req, http_response_t *res,
                               const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  long limit, offset, total = 0;
  if (api_parse_paging(req, res, DELIVERIES_DEFAULT_LIMIT, DELIVERIES_MAX_LIMIT, &limit, &offset)) return;
  store_webhook_t w;
  if (webhook_load(ctx, project, p, res, &w)) return;
  store_delivery_t *list = NULL;
  size_t n = 0;
  int rc = store_delivery_list(ctx->store, w.id, limit, offset, &list, &n, &total);
  store_webhook_clear(&w);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(arr, delivery_render(&list[i]));
    store_delivery_clear(&list[i]);
  }
  free(list);
  json_t *body = json_pack("{s:o, s:I, s:I, s:I}", "deliveries", arr, "total", (json_int_t)total,
                           "limit", (json_int_t)limit, "offset", (json_int_t)offset);
  if (!body) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, 200, body);
  json_decref(body);
}

int api_webhooks_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "POST", "/v1/webhooks", webhook_create, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/webhooks", webhook_list, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/webhooks/{id}", webhook_get, ctx);
  if (!rc) rc = router_add(r, "DELETE", "/v1/webhooks/{id}", webhook_delete, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/webhooks/{id}/deliveries", webhook_deliveries, ctx);
  return rc;
}
