/* Unit tests for src/media/rtmp/amf0.c: decoding real FFmpeg commands,
 * every type, limits, malformed input, and the response builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/rtmp/amf0.h"

/* The connect and publish command bodies FFmpeg 5.1 (Lavf59.27.100) sent
 * to a test server, captured from the wire. */
static const uint8_t ffmpeg_connect[] = {
0x02, 0x00, 0x07, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x00, 0x3f,
0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x61, 0x70,
0x70, 0x02, 0x00, 0x04, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x04, 0x74, 0x79,
0x70, 0x65, 0x02, 0x00, 0x0a, 0x6e, 0x6f, 0x6e, 0x70, 0x72, 0x69, 0x76,
0x61, 0x74, 0x65, 0x00, 0x08, 0x66, 0x6c, 0x61, 0x73, 0x68, 0x56, 0x65,
0x72, 0x02, 0x00, 0x24, 0x46, 0x4d, 0x4c, 0x45, 0x2f, 0x33, 0x2e, 0x30,
0x20, 0x28, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65,
0x3b, 0x20, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e,
0x31, 0x30, 0x30, 0x29, 0x00, 0x05, 0x74, 0x63, 0x55, 0x72, 0x6c, 0x02,
0x00, 0x1b, 0x72, 0x74, 0x6d, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37,
0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x31, 0x39, 0x33, 0x35, 0x32,
0x2f, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x00, 0x09,
};
static const uint8_t ffmpeg_publish[] = {
0x02, 0x00, 0x07, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x73, 0x68, 0x00, 0x40,
0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x0c, 0x73,
0x74, 0x72, 0x65, 0x61, 0x6d, 0x6b, 0x65, 0x79, 0x31, 0x32, 0x33, 0x02,
0x00, 0x04, 0x6c, 0x69, 0x76, 0x65,
};

static json_t *decode_ok(const uint8_t *p, size_t len) {
  json_t *v = NULL;
  assert_int_equal(amf0_decode_all(p, len, &v), 0);
  assert_non_null(v);
  return v;
}

/* Re-encoding the decoded values gives back the exact bytes. */
static void assert_roundtrip(const uint8_t *p, size_t len) {
  json_t *v = decode_ok(p, len);
  amf0_buf_t b;
  amf0_buf_init(&b);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) assert_int_equal(amf0_write_json(&b, e), 0);
  assert_int_equal(b.len, len);
  assert_memory_equal(b.data, p, len);
  amf0_buf_free(&b);
  json_decref(v);
}

static void test_ffmpeg_connect(void **state) {
  json_t *v = decode_ok(ffmpeg_connect, sizeof(ffmpeg_connect));
  assert_int_equal(json_array_size(v), 3);
  assert_string_equal(json_string_value(json_array_get(v, 0)), "connect");
  assert_true(json_is_integer(json_array_get(v, 1)));
  assert_int_equal(json_integer_value(json_array_get(v, 1)), 1);
  json_t *o = json_array_get(v, 2);
  assert_string_equal(json_string_value(json_object_get(o, "app")), "live");
  assert_string_equal(json_string_value(json_object_get(o, "type")), "nonprivate");
  assert_string_equal(json_string_value(json_object_get(o, "flashVer")),
                      "FMLE/3.0 (compatible; Lavf59.27.100)");
  assert_string_equal(json_string_value(json_object_get(o, "tcUrl")),
                      "rtmp://127.0.0.1:19352/live");
  json_decref(v);
  assert_roundtrip(ffmpeg_connect, sizeof(ffmpeg_connect));
}

static void test_ffmpeg_publish(void **state) {
  json_t *v = decode_ok(ffmpeg_publish, sizeof(ffmpeg_publish));
  assert_int_equal(json_array_size(v), 5);
  assert_string_equal(json_string_value(json_array_get(v, 0)), "publish");
  assert_int_equal(json_integer_value(json_array_get(v, 1)), 6);
  assert_true(json_is_null(json_array_get(v, 2)));
  assert_string_equal(json_string_value(json_array_get(v, 3)), "streamkey123");
  assert_string_equal(json_string_value(json_array_get(v, 4)), "live");
  json_decref(v);
  assert_roundtrip(ffmpeg_publish, sizeof(ffmpeg_publish));
}

static void test_all_types(void **state) {
  static const uint8_t in[] = {
      0x00, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,          /* 1.5 */
      0x00, 0x43, 0xb0, 0, 0, 0, 0, 0, 0,          /* 2^60: real */
      0x00, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0,          /* NaN: null */
      0x00, 0xc0, 0x24, 0, 0, 0, 0, 0, 0,          /* -10 */
      0x01, 0x01,                                  /* true */
      0x01, 0x00,                                  /* false */
      0x05,                                        /* null */
      0x06,                                        /* undefined */
      0x0d,                                        /* unsupported */
      0x0b, 0x42, 0x77, 0x48, 0x76, 0xe8, 0, 0, 0, 0x00, 0x00, /* date */
      0x0c, 0, 0, 0, 2, 'h', 'i',                  /* long string */
      0x0f, 0, 0, 0, 1, 'x',                       /* XML document */
      0x08, 0, 0, 0, 9, 0, 1, 'a', 0x01, 0x01, 0, 0, 0x09, /* ECMA array, wrong count */
      0x0a, 0, 0, 0, 2, 0x05, 0x02, 0, 1, 'z',     /* strict array [null, "z"] */
      0x10, 0, 1, 'C', 0, 1, 'k', 0x05, 0, 0, 0x09, /* typed object */
      0x03, 0, 0, 0x09,                            /* empty object */
  };
  json_t *v = decode_ok(in, sizeof(in));
  char *s = json_dumps(v, JSON_COMPACT);
  assert_string_equal(s, "[1.5,1.152921504606847e18,null,-10,true,false,null,null,null,"
                         "1600000000000,\"hi\",\"x\",{\"a\":true},[null,\"z\"],{\"k\":null},{}]");
  free(s);
  json_decref(v);
}

static void test_empty_body(void **state) {
  json_t *v = decode_ok((const uint8_t *)"", 0);
  assert_int_equal(json_array_size(v), 0);
  json_decref(v);
}

static void test_decode_value_advances(void **state) {
  size_t pos = 0;
  json_t *v;
  assert_int_equal(amf0_decode_value(ffmpeg_publish, sizeof(ffmpeg_publish), &pos, &v), 0);
  assert_int_equal(pos, 10);
  assert_string_equal(json_string_value(v), "publish");
  json_decref(v);
  assert_int_equal(amf0_decode_value(ffmpeg_publish, sizeof(ffmpeg_publish), &pos, &v), 0);
  assert_int_equal(pos, 19);
  json_decref(v);
  pos = sizeof(ffmpeg_publish) + 1;
  assert_int_equal(amf0_decode_value(ffmpeg_publish, sizeof(ffmpeg_publish), &pos, &v),
                   ERR_PROTOCOL);
}

/* Every strict prefix of one value is truncated input. */
static void test_truncated(void **state) {
  size_t first_end = 0;
  json_t *v;
  /* the object is the third value of connect: decode it alone */
  size_t pos = 0;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(amf0_decode_value(ffmpeg_connect, sizeof(ffmpeg_connect), &pos, &v), 0);
    json_decref(v);
  }
  first_end = pos;
  for (size_t n = first_end; n < sizeof(ffmpeg_connect); n++) {
    size_t p = first_end;
    assert_int_equal(amf0_decode_value(ffmpeg_connect, n, &p, &v), ERR_PROTOCOL);
    assert_int_equal(p, first_end);
  }
  for (size_t n = 1; n < 10; n++) {
    assert_int_equal(amf0_decode_all(ffmpeg_publish, n, &v), ERR_PROTOCOL);
  }
}

static void test_bad_markers(void **state) {
  static const uint8_t bad[][3] = {{0x07, 0, 1}, {0x11, 0, 0}, {0x04, 0, 0},
                                   {0x09, 0, 0}, {0x0e, 0, 0}, {0x12, 0, 0}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    json_t *v;
    assert_int_equal(amf0_decode_all(bad[i], 3, &v), ERR_PROTOCOL);
  }
  /* object without its end marker */
  static const uint8_t noend[] = {0x03, 0, 1, 'a', 0x05, 0, 0, 0x05};
  json_t *v;
  assert_int_equal(amf0_decode_all(noend, sizeof(noend), &v), ERR_PROTOCOL);
}

static uint8_t *nested(int depth, size_t *len) {
  /* depth objects, each {"a": …}, innermost null */
  size_t n = (size_t)depth * (1 + 3 + 3) + 1;
  uint8_t *p = malloc(n), *q = p;
  for (int i = 0; i < depth; i++) {
    *q++ = 0x03;
    *q++ = 0;
    *q++ = 1;
    *q++ = 'a';
  }
  *q++ = 0x05;
  for (int i = 0; i < depth; i++) {
    *q++ = 0;
    *q++ = 0;
    *q++ = 0x09;
  }
  *len = n;
  return p;
}

static void test_depth_limit(void **state) {
  size_t len;
  json_t *v;
  uint8_t *p = nested(AMF0_MAX_DEPTH, &len);
  assert_int_equal(amf0_decode_all(p, len, &v), 0);
  json_decref(v);
  free(p);
  p = nested(AMF0_MAX_DEPTH + 1, &len);
  assert_int_equal(amf0_decode_all(p, len, &v), ERR_PROTOCOL);
  free(p);
}

static void test_value_limit(void **state) {
  uint8_t p[AMF0_MAX_VALUES + 1];
  memset(p, 0x05, sizeof(p));
  json_t *v;
  assert_int_equal(amf0_decode_all(p, AMF0_MAX_VALUES, &v), 0);
  assert_int_equal(json_array_size(v), AMF0_MAX_VALUES);
  json_decref(v);
  assert_int_equal(amf0_decode_all(p, sizeof(p), &v), ERR_PROTOCOL);
  /* a strict array that claims 4 billion elements fails at once */
  static const uint8_t huge[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x05};
  assert_int_equal(amf0_decode_all(huge, sizeof(huge), &v), ERR_PROTOCOL);
}

static void test_string_limit(void **state) {
  size_t n = AMF0_MAX_STRING + 1;
  uint8_t *p = calloc(1, 5 + n);
  p[0] = 0x0c;
  p[1] = (uint8_t)(n >> 24);
  p[2] = (uint8_t)(n >> 16);
  p[3] = (uint8_t)(n >> 8);
  p[4] = (uint8_t)n;
  memset(p + 5, 'a', n);
  json_t *v;
  assert_int_equal(amf0_decode_all(p, 5 + n, &v), ERR_PROTOCOL);
  n = AMF0_MAX_STRING;
  p[3] = (uint8_t)(n >> 8);
  p[4] = (uint8_t)n;
  assert_int_equal(amf0_decode_all(p, 5 + n, &v), 0);
  assert_int_equal(json_string_length(json_array_get(v, 0)), AMF0_MAX_STRING);
  json_decref(v);
  free(p);
}

static void test_invalid_utf8(void **state) {
  static const uint8_t in[] = {0x03, 0, 2, 0xff, 'k', 0x02, 0, 4, 'a', 0xc3, 0x28, 0xe2,
                               0, 0, 0x09};
  json_t *v = decode_ok(in, sizeof(in));
  json_t *o = json_array_get(v, 0);
  assert_string_equal(json_string_value(json_object_get(o, "?k")), "a?(?");
  json_decref(v);
  /* NUL inside a property name (unreachable as a C string) becomes '?';
   * inside a string value it is kept */
  static const uint8_t nul[] = {0x03, 0, 3, 'a', 0, 'b', 0x02, 0, 2, 'x', 0, 0, 0, 0x09};
  v = decode_ok(nul, sizeof(nul));
  o = json_object_get(json_array_get(v, 0), "a?b");
  assert_non_null(o);
  assert_int_equal(json_string_length(o), 2);
  json_decref(v);
}

static void test_builders(void **state) {
  amf0_buf_t b;
  amf0_buf_init(&b);
  json_t *v;
  char *s;

  assert_int_equal(amf0_build_connect_result(&b, 1, 0), 0);
  v = decode_ok(b.data, b.len);
  s = json_dumps(v, JSON_COMPACT);
  assert_string_equal(s, "[\"_result\",1,{\"fmsVer\":\"FMS/3,0,1,123\",\"capabilities\":31,"
                         "\"mode\":1},{\"level\":\"status\",\"code\":"
                         "\"NetConnection.Connect.Success\",\"description\":\"Connection "
                         "succeeded.\",\"objectEncoding\":0}]");
  free(s);
  json_decref(v);

  amf0_buf_reset(&b);
  assert_int_equal(amf0_build_on_status(&b, "status", "NetStream.Publish.Start", "live"), 0);
  v = decode_ok(b.data, b.len);
  s = json_dumps(v, JSON_COMPACT);
  assert_string_equal(s, "[\"onStatus\",0,null,{\"level\":\"status\",\"code\":"
                         "\"NetStream.Publish.Start\",\"description\":\"live\"}]");
  free(s);
  json_decref(v);

  amf0_buf_reset(&b);
  amf0_build_on_bw_done(&b);
  amf0_build_result_number(&b, 4, 1);
  amf0_build_result_empty(&b, "_result", 2);
  assert_int_equal(amf0_build_error(&b, 1, "NetConnection.Connect.Rejected", "no"), 0);
  v = decode_ok(b.data, b.len);
  s = json_dumps(v, JSON_COMPACT);
  assert_string_equal(s, "[\"onBWDone\",0,null,\"_result\",4,null,1,\"_result\",2,null,"
                         "null,\"_error\",1,null,{\"level\":\"error\",\"code\":"
                         "\"NetConnection.Connect.Rejected\",\"description\":\"no\"}]");
  free(s);
  json_decref(v);
  amf0_buf_free(&b);
}

static void test_write_json_and_long_string(void **state) {
  json_t *in = json_pack("[s, i, f, b, n, {s: [i, s]}]", "a", 7, 2.25, 1, "k", 3, "x");
  amf0_buf_t b = {0};
  assert_int_equal(amf0_write_json(&b, in), 0);
  json_t *out = decode_ok(b.data, b.len);
  /* a strict array is decoded as one value: the whole input array */
  assert_true(json_equal(json_array_get(out, 0), in));
  json_decref(out);
  json_decref(in);

  amf0_buf_reset(&b);
  char *big = malloc(70000);
  memset(big, 'q', 69999);
  big[69999] = 0;
  assert_int_equal(amf0_write_string(&b, big), 0);
  assert_int_equal(b.data[0], AMF0_LONG_STRING);
  assert_int_equal(b.len, 5 + 69999);
  /* over the decode limit on purpose: we write what we must, read less */
  json_t *v;
  assert_int_equal(amf0_decode_all(b.data, b.len, &v), ERR_PROTOCOL);
  amf0_buf_reset(&b);
  assert_int_equal(amf0_write_property(&b, big), ERR_INVALID);
  assert_int_equal(amf0_write_null(&b), ERR_INVALID); /* sticky */
  free(big);
  amf0_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ffmpeg_connect),
      cmocka_unit_test(test_ffmpeg_publish),
      cmocka_unit_test(test_all_types),
      cmocka_unit_test(test_empty_body),
      cmocka_unit_test(test_decode_value_advances),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_bad_markers),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_value_limit),
      cmocka_unit_test(test_string_limit),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_builders),
      cmocka_unit_test(test_write_json_and_long_string),
  };
  return cmocka_run_group_tests_name("amf0", tests, NULL, NULL);
}
