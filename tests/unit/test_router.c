/* test_router.c — route matching, parameters, 404/405 and CORS preflight,
 * on detached responses (no sockets needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/http_internal.h"
#include "http/router.h"

typedef struct {
  int calls;
  const char *which;
  char p1[ROUTER_PARAM_MAX], p2[ROUTER_PARAM_MAX];
  int count;
} hit_t;

static hit_t H;

static void record(const char *which, const router_params_t *p) {
  H.calls++;
  H.which = which;
  H.count = p->count;
  snprintf(H.p1, sizeof(H.p1), "%s", p->count > 0 ? p->values[0] : "");
  snprintf(H.p2, sizeof(H.p2), "%s", p->count > 1 ? p->values[1] : "");
}

#define HANDLER(name)                                                                       \
  static void h_##name(void *ud, http_request_t *req, http_response_t *res,                 \
                       const router_params_t *p) {                                          \
    (void)ud;                                                                               \
    (void)req;                                                                              \
    record(#name, p);                                                                       \
    http_response_body(res, #name, strlen(#name));                                          \
  }
HANDLER(root)
HANDLER(list)
HANDLER(create)
HANDLER(get)
HANDLER(del)
HANDLER(search)
HANDLER(sim)
HANDLER(any)
HANDLER(opt)

static router_t *make_router(void) {
  router_t *r = router_new();
  assert_non_null(r);
  assert_int_equal(router_add(r, "GET", "/", h_root, NULL), 0);
  assert_int_equal(router_add(r, "GET", "/v1/live-streams", h_list, NULL), 0);
  assert_int_equal(router_add(r, "POST", "/v1/live-streams", h_create, NULL), 0);
  assert_int_equal(router_add(r, "GET", "/v1/live-streams/{id}", h_get, NULL), 0);
  assert_int_equal(router_add(r, "DELETE", "/v1/live-streams/{id}", h_del, NULL), 0);
  /* added after the {id} route, still wins for its literal path */
  assert_int_equal(router_add(r, "GET", "/v1/live-streams/search", h_search, NULL), 0);
  assert_int_equal(
      router_add(r, "PUT", "/v1/live-streams/{id}/simulcast/{target_id}", h_sim, NULL), 0);
  assert_int_equal(router_add(r, "*", "/any/{x}", h_any, NULL), 0);
  assert_int_equal(router_add(r, "OPTIONS", "/custom-options", h_opt, NULL), 0);
  assert_int_equal(router_add(r, "GET", "/custom-options", h_list, NULL), 0);
  return r;
}

typedef struct {
  int routed;
  int status;
  char body[1024];
  char allow[256];
  char hdr[256];
  char expose[256];
} out_t;

static out_t dispatch(router_t *r, const char *method, const char *path) {
  out_t o;
  memset(&o, 0, sizeof(o));
  memset(&H, 0, sizeof(H));
  http_request_t req = {.method = method, .path = path, .query = "", .body = "", .remote_ip = "t"};
  http_response_t *res = http__response_detached_new();
  assert_non_null(res);
  o.routed = router_dispatch(r, &req, res);
  o.status = res->status;
  size_t len;
  const char *b = http__response_body(res, &len);
  assert_true(len < sizeof(o.body));
  memcpy(o.body, b, len);
  http__response_header(res, "Allow", o.allow, sizeof(o.allow));
  http__response_header(res, "Access-Control-Allow-Origin", o.hdr, sizeof(o.hdr));
  http__response_header(res, "Access-Control-Expose-Headers", o.expose, sizeof(o.expose));
  http__response_detached_free(res);
  return o;
}

static void test_match_literals_and_params(void **s) {
  (void)s;
  router_t *r = make_router();
  out_t o = dispatch(r, "GET", "/");
  assert_int_equal(o.routed, 1);
  assert_string_equal(H.which, "root");
  o = dispatch(r, "GET", "/v1/live-streams");
  assert_string_equal(H.which, "list");
  assert_int_equal(H.count, 0);
  assert_string_equal(o.hdr, "*"); /* routed answers allow any origin */
  assert_non_null(strstr(o.expose, "Content-Range")); /* and let scripts read headers */
  o = dispatch(r, "POST", "/v1/live-streams");
  assert_string_equal(H.which, "create");
  o = dispatch(r, "GET", "/v1/live-streams/abc-123");
  assert_int_equal(o.routed, 1);
  assert_string_equal(H.which, "get");
  assert_string_equal(H.p1, "abc-123");
  o = dispatch(r, "DELETE", "/v1/live-streams/abc");
  assert_string_equal(H.which, "del");
  o = dispatch(r, "GET", "/v1/live-streams/search");
  assert_string_equal(H.which, "search");
  o = dispatch(r, "DELETE", "/v1/live-streams/search"); /* literal has no DELETE: param route */
  assert_string_equal(H.which, "del");
  assert_string_equal(H.p1, "search");
  o = dispatch(r, "PUT", "/v1/live-streams/s1/simulcast/t%201");
  assert_string_equal(H.which, "sim");
  assert_int_equal(H.count, 2);
  assert_string_equal(H.p1, "s1");
  assert_string_equal(H.p2, "t 1");
  o = dispatch(r, "PATCH", "/any/thing");
  assert_string_equal(H.which, "any");
  assert_string_equal(H.p1, "thing");
  router_free(r);
}

static void test_param_names(void **s) {
  (void)s;
  router_params_t p = {0};
  p.count = 2;
  p.names[0] = "id";
  p.names[1] = "target_id";
  strcpy(p.values[0], "a");
  strcpy(p.values[1], "b");
  assert_string_equal(router_param(&p, "id"), "a");
  assert_string_equal(router_param(&p, "target_id"), "b");
  assert_null(router_param(&p, "nope"));
  assert_null(router_param(NULL, "id"));
}

static void test_head_uses_get(void **s) {
  (void)s;
  router_t *r = make_router();
  out_t o = dispatch(r, "HEAD", "/v1/live-streams/x");
  assert_int_equal(o.routed, 1);
  assert_string_equal(H.which, "get");
  router_free(r);
}

static void expect_404(router_t *r, const char *method, const char *path) {
  out_t o = dispatch(r, method, path);
  assert_int_equal(o.routed, 0);
  assert_int_equal(H.calls, 0);
  assert_int_equal(o.status, 404);
  assert_non_null(strstr(o.body, "\"code\":\"not_found\""));
}

static void test_not_found(void **s) {
  (void)s;
  router_t *r = make_router();
  out_t o = dispatch(r, "GET", "/nope");
  assert_int_equal(o.status, 404);
  assert_string_equal(o.body,
                      "{\"error\":{\"code\":\"not_found\",\"message\":\"no route for GET /nope\","
                      "\"field\":null}}");
  /* trailing slash, empty and dot segments, encoded slash, empty param */
  expect_404(r, "GET", "/v1/live-streams/");
  expect_404(r, "GET", "//v1/live-streams");
  expect_404(r, "GET", "/v1//live-streams");
  expect_404(r, "GET", "/v1/./live-streams");
  expect_404(r, "GET", "/v1/live-streams/../live-streams");
  expect_404(r, "GET", "/v1/live-streams/..");
  expect_404(r, "GET", "/v1/live-streams/.");
  expect_404(r, "GET", "/v1/live-streams/a%2Fb");
  expect_404(r, "GET", "/v1/live-streams/%2e%2e");
  expect_404(r, "GET", "/v1/live-streams/%zz");
  expect_404(r, "GET", "/v1/live-streams/%00");
  expect_404(r, "GET", "/v1/live-streams/a/b");
  expect_404(r, "GET", "/V1/live-streams");
  expect_404(r, "GET", "");
  expect_404(r, "GET", "*");
  expect_404(r, "GET", "v1/live-streams");
  expect_404(r, "OPTIONS", "/nope");
  /* a parameter of ROUTER_PARAM_MAX-1 bytes matches, one more does not */
  char path[ROUTER_PARAM_MAX + 64];
  int n = snprintf(path, sizeof(path), "/v1/live-streams/");
  memset(path + n, 'a', ROUTER_PARAM_MAX - 1);
  path[n + ROUTER_PARAM_MAX - 1] = '\0';
  o = dispatch(r, "GET", path);
  assert_int_equal(o.routed, 1);
  assert_int_equal(strlen(H.p1), ROUTER_PARAM_MAX - 1);
  strcat(path, "a");
  expect_404(r, "GET", path);
  /* encoded, it may be longer on the wire than decoded */
  n = snprintf(path, sizeof(path), "/v1/live-streams/");
  for (int i = 0; i < 100; i++) n += snprintf(path + n, sizeof(path) - (size_t)n, "%%41");
  o = dispatch(r, "GET", path);
  assert_int_equal(o.routed, 1);
  assert_int_equal(strlen(H.p1), 100);
  /* many segments */
  char deep[400] = "";
  for (int i = 0; i < 40; i++) strcat(deep, "/x");
  expect_404(r, "GET", deep);
  router_free(r);
}

static void test_not_found_message_is_safe(void **s) {
  (void)s;
  router_t *r = make_router();
  char path[1000] = "/\x01\x1b[31m\x7f\xc3\xa9";
  size_t n = strlen(path);
  memset(path + n, 'z', 500);
  path[n + 500] = '\0';
  out_t o = dispatch(r, "G\nET", path);
  assert_int_equal(o.status, 404);
  json_error_t e;
  json_t *j = json_loads(o.body, 0, &e);
  assert_non_null(j);
  const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  assert_non_null(msg);
  for (const char *p = msg; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
  assert_true(strlen(msg) < 260);
  assert_non_null(strstr(msg, "no route for G?ET /??[31m???zzz"));
  assert_non_null(strstr(msg, "zz..."));
  json_decref(j);
  router_free(r);
}

static void test_method_not_allowed(void **s) {
  (void)s;
  router_t *r = make_router();
  out_t o = dispatch(r, "PATCH", "/v1/live-streams");
  assert_int_equal(o.routed, 0);
  assert_int_equal(H.calls, 0);
  assert_int_equal(o.status, 405);
  assert_string_equal(o.allow, "GET, HEAD, POST, OPTIONS");
  assert_non_null(strstr(o.body, "\"code\":\"method_not_allowed\""));
  o = dispatch(r, "POST", "/v1/live-streams/abc");
  assert_int_equal(o.status, 405);
  assert_string_equal(o.allow, "GET, HEAD, DELETE, OPTIONS");
  o = dispatch(r, "POST", "/v1/live-streams/search"); /* literal and param routes both match */
  assert_int_equal(o.status, 405);
  assert_string_equal(o.allow, "GET, HEAD, DELETE, OPTIONS");
  router_free(r);
}

static void test_options_preflight(void **s) {
  (void)s;
  router_t *r = make_router();
  memset(&H, 0, sizeof(H));
  http_request_t req = {.method = "OPTIONS", .path = "/v1/live-streams/x", .query = "", .body = ""};
  http_response_t *res = http__response_detached_new();
  assert_int_equal(router_dispatch(r, &req, res), 0);
  assert_int_equal(H.calls, 0);
  assert_int_equal(res->status, 204);
  char v[256];
  assert_string_equal(http__response_header(res, "Allow", v, sizeof(v)), "GET, HEAD, DELETE, OPTIONS");
  assert_string_equal(http__response_header(res, "Access-Control-Allow-Origin", v, sizeof(v)), "*");
  assert_string_equal(http__response_header(res, "Access-Control-Allow-Methods", v, sizeof(v)),
                      "GET, HEAD, DELETE, OPTIONS");
  assert_string_equal(http__response_header(res, "Access-Control-Allow-Headers", v, sizeof(v)),
                      "Authorization, Content-Type, Range, If-None-Match");
  assert_null(http__response_header(res, "Access-Control-Expose-Headers", v, sizeof(v)));
  http__response_detached_free(res);
  /* an explicit OPTIONS route is used instead */
  out_t o = dispatch(r, "OPTIONS", "/custom-options");
  assert_int_equal(o.routed, 1);
  assert_string_equal(H.which, "opt");
  router_free(r);
}

static void test_bad_patterns(void **s) {
  (void)s;
  router_t *r = router_new();
  const char *bad[] = {"",        "v1",          "/v1/",        "//",         "/v1//x",
                       "/{}",      "/{a",         "/a}",         "/{a-b}",     "/x{a}",
                       "/a b",     "/a?b",        "/%41",        "/.",         "/a/..",
                       "/{a}/{b}/{c}/{d}/{e}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(router_add(r, "GET", bad[i], h_root, NULL), ERR_INVALID);
  assert_int_equal(router_add(r, "get", "/x", h_root, NULL), ERR_INVALID);
  assert_int_equal(router_add(r, "", "/x", h_root, NULL), ERR_INVALID);
  assert_int_equal(router_add(r, "GET", "/x", NULL, NULL), ERR_INVALID);
  assert_int_equal(router_add(r, "GET", NULL, h_root, NULL), ERR_INVALID);
  assert_int_equal(router_add(r, "GET", "/{a}/{b}/{c}/{d}", h_root, NULL), 0);
  router_free(r);
  router_free(NULL);
}

static void collect(void *arg, const char *method, const char *pattern) {
  char *buf = arg;
  size_t n = strlen(buf);
  snprintf(buf + n, 1024 - n, "%s %s;", method, pattern);
}

static void test_foreach(void **s) {
  (void)s;
  router_t *r = make_router();
  char buf[1024] = "";
  router_foreach(r, collect, buf);
  assert_string_equal(buf,
                      "GET /;GET /v1/live-streams;POST /v1/live-streams;GET /v1/live-streams/{id};"
                      "DELETE /v1/live-streams/{id};GET /v1/live-streams/search;"
                      "PUT /v1/live-streams/{id}/simulcast/{target_id};* /any/{x};"
                      "OPTIONS /custom-options;GET /custom-options;");
  router_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_match_literals_and_params),
      cmocka_unit_test(test_param_names),
      cmocka_unit_test(test_head_uses_get),
      cmocka_unit_test(test_not_found),
      cmocka_unit_test(test_not_found_message_is_safe),
      cmocka_unit_test(test_method_not_allowed),
      cmocka_unit_test(test_options_preflight),
      cmocka_unit_test(test_bad_patterns),
      cmocka_unit_test(test_foreach),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
