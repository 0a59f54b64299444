/* GET /metrics — Prometheus text exposition (format 0.0.4): streams by
 * status from the store, then the process registry (live/metrics.h: HTTP
 * by route, bytes served, HLS viewers, ingest bitrate and frame rate).
 *
 * Access: with the metrics_token setting, "Authorization: Bearer <token>"
 * is required (compared in constant time); without it only loopback
 * clients are answered, so a default install does not publish its stream
 * ids and traffic to the world. */
#include <string.h>

#include "api/api_internal.h"
#include "core/err.h"
#include "core/util.h"
#include "live/lifecycle.h"
#include "live/metrics.h"
#include "store/health.h"

static int is_loopback(const char *ip) {
  if (!ip) return 0;
  if (strncmp(ip, "::ffff:", 7) == 0) ip += 7;
  return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}

/* 0 when the scraper may read; otherwise answers 401/403. */
static int metrics_access(api_ctx_t *ctx, http_request_t *req, http_response_t *res) {
  const char *token = ctx->cfg ? ctx->cfg->metrics_token : "";
  if (!*token) {
    if (is_loopback(req->remote_ip)) return 0;
    api_error(res, ERR_FORBIDDEN,
              "/metrics answers loopback clients only; set metrics_token to scrape it remotely",
              NULL);
    return ERR_FORBIDDEN;
  }
  const char *h = http_request_header(req, "Authorization");
  if (h && strncasecmp(h, "Bearer ", 7) == 0) {
    h += 7;
    while (*h == ' ') h++;
    if (util_secure_streq(h, token)) return 0;
  }
  http_response_header(res, "WWW-Authenticate", "Bearer realm=\"metrics\"");
  api_error(res, ERR_UNAUTHORIZED, "missing or wrong Authorization: Bearer <metrics_token>", NULL);
  return ERR_UNAUTHORIZED;
}

static void metrics_get(void *ud, http_request_t *req, http_response_t *res,
                        const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  if (metrics_access(ctx, req, res)) return;
  metrics_text_t t = {0};
  int64_t counts[STREAM_STATUS_COUNT];
  int rc = store_stream_count_by_status(ctx->store, counts, STREAM_STATUS_COUNT);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  metrics_text_printf(&t,
                      "# HELP onair_streams Live streams by status (deleted ones excluded).\n"
                      "# TYPE onair_streams gauge\n");
  for (int i = 0; i < STREAM_STATUS_COUNT; i++) {
    if (i == STREAM_DELETED) continue;
    metrics_text_printf(&t, "onair_streams{status=\"%s\"} %lld\n", lifecycle_status_name(i),
                        (long long)counts[i]);
  }
  metrics_render(&t);
  if (t.failed) {
    metrics_text_free(&t);
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_status(res, 200);
  http_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  http_response_header(res, "Cache-Control", "no-store");
  http_response_body_owned(res, t.data, t.len);
}

int api_metrics_register(router_t *r, api_ctx_t *ctx) {
  return router_add(r, "GET", "/metrics", metrics_get, ctx);
}
