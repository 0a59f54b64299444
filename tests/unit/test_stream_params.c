/* Validation of live-stream request bodies (seed 003 fields). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/stream_params.h"
#include "core/err.h"

/* Applies body text onto the defaults; returns the rc and leaves the
 * offending field in err. */
static int apply(const char *body, json_t **params_out, api_field_error_t *err) {
  json_error_t jerr;
  json_t *body_json = json_loads(body, JSON_DECODE_ANY, &jerr);
  assert_non_null(body_json);
  json_t *params = stream_params_defaults();
  stream_request_t req;
  int rc = stream_params_apply(body_json, params, &req, err);
  json_decref(body_json);
  if (params_out)
    *params_out = params;
  else
    json_decref(params);
  return rc;
}

static void expect_field(const char *body, const char *field) {
  api_field_error_t err;
  assert_int_equal(apply(body, NULL, &err), ERR_INVALID);
  if (strcmp(err.field, field) != 0) fail_msg("%s: field %s, want %s", body, err.field, field);
  assert_true(strlen(err.message) > 0);
}

static void test_defaults(void **state) {
  (void)state;
  json_t *p = stream_params_defaults();
  assert_string_equal(json_string_value(json_object_get(p, "input_format")), "rtmp");
  assert_string_equal(json_string_value(json_object_get(p, "output_format")), "hls");
  assert_int_equal(json_integer_value(json_object_get(p, "stream_timeout")), 120);
  json_t *dvr = json_object_get(p, "dvr");
  assert_true(json_is_false(json_object_get(dvr, "enabled")));
  assert_int_equal(json_integer_value(json_object_get(dvr, "max_file_duration")), 14400);
  assert_string_equal(json_string_value(json_object_get(dvr, "format")), "mp4");
  json_decref(p);
}

static void test_valid_values(void **state) {
  (void)state;
  json_t *p;
  api_field_error_t err;
  assert_int_equal(apply("{\"framerate\": \"30\", \"dvr\": {\"enabled\": 1, \"format\": [\"mp4\","
                         " \"hls\"], \"destination\": [{\"url\": \"s3://h/b/p\", \"key\": \"k\","
                         " \"secret\": \"s\"}, {\"url\": \"file:///tmp/x\"}]}}",
                         &p, &err),
                   0);
  assert_int_equal(json_integer_value(json_object_get(p, "framerate")), 30);
  json_t *dvr = json_object_get(p, "dvr");
  assert_true(json_is_true(json_object_get(dvr, "enabled")));
  /* the secret is stored but the public view drops it */
  json_t *pub = stream_params_public(p);
  json_t *d0 = json_array_get(json_object_get(json_object_get(pub, "dvr"), "destination"), 0);
  assert_null(json_object_get(d0, "secret"));
  assert_string_equal(json_string_value(json_object_get(d0, "key")), "k");
  json_decref(pub);
  d0 = json_array_get(json_object_get(dvr, "destination"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "secret")), "s");
  json_decref(p);
  assert_int_equal(apply("{\"framerate\": 29.97}", &p, &err), 0);
  assert_true(json_real_value(json_object_get(p, "framerate")) > 29.9);
  json_decref(p);
  assert_int_equal(apply("{\"mode\": \"custom\", \"qualities\": [{\"resolution\": \"720p\","
                         " \"bitrate\": 2800, \"framerate\": 30}]}",
                         NULL, &err),
                   0);
  assert_int_equal(apply("{\"allowed_referer_domains\": [\"*.example.com\", \"a.b\"]}", NULL,
                         &err),
                   0);
}

static void test_invalid_values(void **state) {
  (void)state;
  expect_field("[]", "");
  expect_field("5", "");
  expect_field("{\"framerate\": 31}", "framerate");
  expect_field("{\"framerate\": -1}", "framerate");
  expect_field("{\"framerate\": \"abc\"}", "framerate");
  expect_field("{\"input_format\": \"rtsp\"}", "input_format");
  expect_field("{\"output_format\": \"mp3\"}", "output_format");
  expect_field("{\"stream_timeout\": 5}", "stream_timeout");
  expect_field("{\"stream_timeout\": \"x\"}", "stream_timeout");
  expect_field("{\"dvr\": {\"enabled\": 2}}", "dvr.enabled");
  expect_field("{\"dvr\": {\"destination\": {\"url\": \"http://x\"}}}", "dvr.destination.url");
  expect_field("{\"dvr\": {\"destination\": [{\"url\": \"s3://a/b\", \"key\": \"k\", "
               "\"secret\": \"s\"}, {\"url\": \"s3:/b\"}]}}",
               "dvr.destination[1].url");
  /* s3 needs credentials: the first destination already fails on its key. */
  expect_field("{\"dvr\": {\"destination\": [{\"url\": \"s3://a/b\"}, {\"url\": \"s3:/b\"}]}}",
               "dvr.destination[0].key");
  expect_field("{\"dvr\": {\"destination\": {\"url\": \"file://relative\"}}}",
               "dvr.destination.url");
  expect_field("{\"dvr\": {\"max_file_duration\": 21601}}", "dvr.max_file_duration");
  expect_field("{\"dvr\": {\"max_file_duration\": 9}}", "dvr.max_file_duration");
  expect_field("{\"dvr\": {\"format\": [\"mp4\", \"avi\"]}}", "dvr.format");
  expect_field("{\"dvr\": {\"format\": [\"mp4\", \"mp4\"]}}", "dvr.format");
  expect_field("{\"dvr\": {\"resolution\": \"999p\"}}", "dvr.resolution");
  expect_field("{\"dvr\": {\"nope\": 1}}", "dvr.nope");
  expect_field("{\"callback_url\": \"ftp://x\"}", "callback_url");
  expect_field("{\"playback_domain\": \"a b\"}", "playback_domain");
  expect_field("{\"allowed_referer_domains\": [\"ok.com\", \"bad host\"]}",
               "allowed_referer_domains[1]");
  expect_field("{\"mode\": \"custom\"}", "qualities");
  expect_field("{\"qualities\": [{\"resolution\": \"720p\"}]}", "qualities");
  expect_field("{\"mode\": \"custom\", \"qualities\": [{\"bitrate\": 100}]}",
               "qualities[0].resolution");
  expect_field("{\"foo\": 1}", "foo");
  char big[400];
  snprintf(big, sizeof(big), "{\"name\": \"%0300d\"}", 0);
  expect_field(big, "name");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_valid_values),
      cmocka_unit_test(test_invalid_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
