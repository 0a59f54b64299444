/* fuzz_http_query.c — libFuzzer target for the request-target helpers:
 * http_query_next(), http_url_decode() and the router's path matching
 * (router_dispatch() on a detached response).
 *
 * Input layout: byte 0 picks the key/value buffer sizes, byte 1 the method;
 * the rest is used as a query string, as a string to decode, and as a path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "http/http_internal.h"
#include "http/router.h"

static void handler(void *ud, http_request_t *req, http_response_t *res,
                    const router_params_t *p) {
  (void)ud;
  (void)req;
  /* parameters must be decoded, bounded, non-empty and slash-free */
  for (int i = 0; i < p->count; i++) {
    size_t n = strnlen(p->values[i], ROUTER_PARAM_MAX);
    if (n == 0 || n >= ROUTER_PARAM_MAX || strchr(p->values[i], '/')) abort();
    if (!router_param(p, p->names[i])) abort();
  }
  http_response_body(res, "ok", 2);
}

static router_t *router;

static router_t *get_router(void) {
  if (router) return router;
  log_set_level(LOG_ERROR);
  router = router_new();
  router_add(router, "GET", "/", handler, NULL);
  router_add(router, "GET", "/healthz", handler, NULL);
  router_add(router, "GET", "/v1/live-streams", handler, NULL);
  router_add(router, "POST", "/v1/live-streams", handler, NULL);
  router_add(router, "GET", "/v1/live-streams/{id}", handler, NULL);
  router_add(router, "PUT", "/v1/live-streams/{id}", handler, NULL);
  router_add(router, "DELETE", "/v1/live-streams/{id}", handler, NULL);
  router_add(router, "POST", "/v1/live-streams/{id}/start", handler, NULL);
  router_add(router, "GET", "/v1/live-streams/search", handler, NULL);
  router_add(router, "DELETE", "/v1/live-streams/{id}/simulcast/{target_id}", handler, NULL);
  router_add(router, "POST", "/v1/access_token/{api_key}", handler, NULL);
  router_add(router, "GET", "/hls/{playback_id}/{file}", handler, NULL);
  router_add(router, "*", "/any/{a}/{b}/{c}/{d}", handler, NULL);
  return router;
}

static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "X\x01"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t keylen = 1 + (data[0] & 0x0f) * 4, vallen = 1 + (data[0] >> 4) * 16;
  const char *method = methods[data[1] % (sizeof(methods) / sizeof(methods[0]))];
  size_t n = size - 2;
  char *s = malloc(n + 1);
  if (!s) return 0;
  memcpy(s, data + 2, n);
  s[n] = '\0';

  /* query iteration: must terminate and stay inside the buffers */
  char *key = malloc(keylen), *val = malloc(vallen);
  const char *cur = s;
  int rc, guard = 0;
  while ((rc = http_query_next(&cur, key, keylen, val, vallen)) != 0) {
    if (rc == 1 && (strlen(key) >= keylen || strlen(val) >= vallen)) abort();
    if (rc != 1 && rc != ERR_INVALID) abort();
    if (++guard > (int)n + 1) abort(); /* the cursor must advance */
  }
  free(key);
  free(val);

  /* decoding in place never grows the string */
  char *d = strdup(s);
  size_t before = strlen(d);
  if (http_url_decode(d) == 0 && strlen(d) > before) abort();
  free(d);

  /* routing the same bytes as a path */
  http_request_t req = {.method = method, .path = s, .query = "", .body = "", .remote_ip = "f"};
  http_response_t *res = http__response_detached_new();
  if (res) {
    int routed = router_dispatch(get_router(), &req, res);
    if (!routed && res->status != 404 && res->status != 405 && res->status != 204) abort();
    size_t blen;
    const char *body = http__response_body(res, &blen);
    if (!routed && res->status != 204) {
      /* the error body is valid JSON */
      json_t *j = json_loadb(body, blen, 0, NULL);
      if (!j) abort();
      json_decref(j);
    }
    http__response_detached_free(res);
  }
  free(s);
  return 0;
}
