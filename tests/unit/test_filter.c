/* test_filter.c — seed 003 list filters: parsing, matching, every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/filter.h"
#include "core/err.h"

static const char *const RESERVED[] = {"limit", "offset", NULL};

/* A stream shaped like seed 003's, live with DVR on. */
static const char *LIVE_STREAM =
    "{\"id\":\"12345fcd-7aea-492c-b9eb-b4b0cde0dc7e\","
    " \"name\":\"test stream\","
    " \"status\":{\"name\":\"live\",\"timestamp\":\"2021-08-28 17:59:33\"},"
    " \"playback_domain\":\"play.example.com\","
    " \"playback_ids\":[{\"policy\":\"public\",\"id\":\"Av22X1p8h5\"},"
    "                   {\"policy\":\"authenticated\",\"id\":\"Bq81k0x7s2\"}],"
    " \"params\":{\"output_format\":\"hls\",\"callback_url\":null,\"framerate\":30,"
    "             \"bitrate\":2.5,\"mode\":\"auto\",\"dvr\":{\"enabled\":true},"
    "             \"record\":{\"enabled\":1},\"archive\":0,\"low_latency\":false,"
    "             \"allowed_referer_domains\":[\"example.com\",\"b.example\"],"
    "             \"tags\":[]}}";

/* The same stream idle, DVR off, no playback domain. */
static const char *IDLE_STREAM =
    "{\"id\":\"e09066ca-b200-4b67-bf37-122137f31f8a\","
    " \"status\":{\"name\":\"idle\"},"
    " \"playback_domain\":null,"
    " \"playback_ids\":[{\"policy\":\"public\",\"id\":\"Cc00000000\"}],"
    " \"params\":{\"framerate\":30.0,\"dvr\":{\"enabled\":false}}}";

static json_t *load(const char *s) {
  json_error_t e;
  json_t *j = json_loads(s, 0, &e);
  if (!j) fail_msg("bad test JSON: %s", e.text);
  return j;
}

/* Parses q (must succeed) and matches it against the JSON text. */
static int matches(const char *q, const char *json) {
  filter_t *f = NULL;
  char field[128];
  int rc = filter_parse(q, RESERVED, &f, field, sizeof(field));
  if (rc != 0) fail_msg("parse %s: rc=%d field=%s", q, rc, field);
  json_t *obj = load(json);
  int m = filter_match(f, obj);
  json_decref(obj);
  filter_free(f);
  return m;
}

static void test_seed_examples(void **state) {
  (void)state;
  /* Example 1: ?playback_domain=notnull */
  assert_true(matches("playback_domain=notnull", LIVE_STREAM));
  assert_false(matches("playback_domain=notnull", IDLE_STREAM));
  /* Example 2: ?status.name=live&params.dvr.enabled=true */
  assert_true(matches("status.name=live&params.dvr.enabled=true", LIVE_STREAM));
  assert_false(matches("status.name=live&params.dvr.enabled=true", IDLE_STREAM));
  /* and the seed's own null example */
  assert_false(matches("playback_domain=null", LIVE_STREAM));
  assert_true(matches("playback_domain=null", IDLE_STREAM));
}

static void test_null_notnull(void **state) {
  (void)state;
  /* JSON null and missing are both null */
  assert_true(matches("params.callback_url=null", LIVE_STREAM));
  assert_false(matches("params.callback_url=notnull", LIVE_STREAM));
  assert_true(matches("params.nope=null", LIVE_STREAM));
  assert_true(matches("nope.deeper.still=null", LIVE_STREAM));
  assert_false(matches("params.nope=notnull", LIVE_STREAM));
  /* false, 0, "" and [] are not null */
  assert_true(matches("params.low_latency=notnull", LIVE_STREAM));
  assert_true(matches("params.archive=notnull", LIVE_STREAM));
  assert_true(matches("params.tags=notnull", LIVE_STREAM));
  assert_true(matches("params.dvr=notnull", LIVE_STREAM));
  /* through a scalar is missing */
  assert_true(matches("status.name.x=null", LIVE_STREAM));
  /* NULL object: everything is missing */
  filter_t *f = NULL;
  assert_int_equal(filter_parse("a=null", NULL, &f, NULL, 0), 0);
  assert_true(filter_match(f, NULL));
  filter_free(f);
  assert_int_equal(filter_parse("a=notnull", NULL, &f, NULL, 0), 0);
  assert_false(filter_match(f, NULL));
  filter_free(f);
}

static void test_and(void **state) {
  (void)state;
  assert_true(matches("status.name=live&params.mode=auto&params.output_format=hls", LIVE_STREAM));
  assert_false(matches("status.name=live&params.mode=manual", LIVE_STREAM));
  assert_false(matches("params.mode=manual&status.name=live", LIVE_STREAM));
  /* a repeated key is two conditions */
  assert_false(matches("status.name=live&status.name=idle", LIVE_STREAM));
  /* no conditions match everything */
  assert_true(matches("", LIVE_STREAM));
  assert_true(matches("limit=10&offset=0", LIVE_STREAM));
  assert_true(filter_match(NULL, NULL));
}

static void test_strings(void **state) {
  (void)state;
  assert_true(matches("name=test+stream", LIVE_STREAM));
  assert_true(matches("name=test%20stream", LIVE_STREAM));
  assert_false(matches("name=test", LIVE_STREAM));
  assert_false(matches("name=Test+stream", LIVE_STREAM));
  assert_false(matches("status.name=LIVE", LIVE_STREAM));
  /* percent-encoded key and '=' inside a value */
  assert_true(matches("status%2Ename=live", LIVE_STREAM));
  assert_true(matches("k=a%3Db", "{\"k\":\"a=b\"}"));
  assert_true(matches("k=a=b", "{\"k\":\"a=b\"}"));
  /* a parameter without '=' compares with "" */
  assert_true(matches("k", "{\"k\":\"\"}"));
  assert_false(matches("k", "{\"k\":\"x\"}"));
  /* UTF-8 via percent-encoding */
  assert_true(matches("k=%C3%A9t%C3%A9", "{\"k\":\"\xc3\xa9t\xc3\xa9\"}"));
  /* empty parameters are ignored */
  assert_true(matches("&&status.name=live&&", LIVE_STREAM));
  /* strings are not numbers */
  assert_false(matches("id=12345", LIVE_STREAM));
  assert_true(matches("v=30", "{\"v\":\"30\"}"));
  assert_false(matches("v=30.0", "{\"v\":\"30\"}"));
}

static void test_numbers_and_bools(void **state) {
  (void)state;
  /* 30 and 30.0 */
  assert_true(matches("params.framerate=30", LIVE_STREAM));
  assert_true(matches("params.framerate=30", IDLE_STREAM));
  assert_true(matches("params.framerate=30.0", LIVE_STREAM));
  assert_true(matches("params.framerate=3e1", IDLE_STREAM));
  assert_false(matches("params.framerate=31", LIVE_STREAM));
  assert_false(matches("params.framerate=30x", LIVE_STREAM));
  assert_false(matches("params.framerate=+30", LIVE_STREAM));
  assert_false(matches("params.framerate=%2030", LIVE_STREAM));
  assert_false(matches("params.framerate=0x1e", LIVE_STREAM));
  assert_false(matches("params.framerate=", LIVE_STREAM));
  assert_true(matches("params.bitrate=2.5", LIVE_STREAM));
  assert_true(matches("params.bitrate=2.50", LIVE_STREAM));
  assert_false(matches("params.bitrate=2", LIVE_STREAM));
  assert_true(matches("n=-7", "{\"n\":-7}"));
  assert_false(matches("n=inf", "{\"n\":1e308}"));
  assert_false(matches("n=nan", "{\"n\":1.5}"));
  assert_false(matches("n=1e999", "{\"n\":1e308}"));
  /* 64-bit integers compare exactly, not through doubles */
  assert_true(matches("n=9007199254740993", "{\"n\":9007199254740993}"));
  assert_false(matches("n=9007199254740992", "{\"n\":9007199254740993}"));
  /* booleans: true/false any case, 1/0 */
  assert_true(matches("params.dvr.enabled=true", LIVE_STREAM));
  assert_true(matches("params.dvr.enabled=TRUE", LIVE_STREAM));
  assert_true(matches("params.dvr.enabled=1", LIVE_STREAM));
  assert_false(matches("params.dvr.enabled=false", LIVE_STREAM));
  assert_false(matches("params.dvr.enabled=0", LIVE_STREAM));
  assert_false(matches("params.dvr.enabled=yes", LIVE_STREAM));
  assert_false(matches("params.dvr.enabled=1.0", LIVE_STREAM));
  assert_true(matches("params.low_latency=False", LIVE_STREAM));
  assert_true(matches("params.low_latency=0", LIVE_STREAM));
  /* numbers 1/0 as flags */
  assert_true(matches("params.record.enabled=1", LIVE_STREAM));
  assert_true(matches("params.record.enabled=true", LIVE_STREAM));
  assert_false(matches("params.record.enabled=false", LIVE_STREAM));
  assert_true(matches("params.archive=false", LIVE_STREAM));
  assert_true(matches("params.archive=0", LIVE_STREAM));
  assert_true(matches("r=true", "{\"r\":1.0}"));
  /* null is never equal to a value; objects neither */
  assert_false(matches("params.callback_url=", LIVE_STREAM));
  assert_false(matches("params.callback_url=0", LIVE_STREAM));
  assert_false(matches("params.dvr=true", LIVE_STREAM));
  assert_false(matches("params.dvr=%7B%7D", LIVE_STREAM));
}

static void test_arrays(void **state) {
  (void)state;
  /* any element of a scalar array */
  assert_true(matches("params.allowed_referer_domains=example.com", LIVE_STREAM));
  assert_true(matches("params.allowed_referer_domains=b.example", LIVE_STREAM));
  assert_false(matches("params.allowed_referer_domains=c.example", LIVE_STREAM));
  assert_false(matches("params.tags=x", LIVE_STREAM));
  assert_true(matches("a=2", "{\"a\":[1,2.0,\"x\",null,{\"b\":2}]}"));
  assert_true(matches("a=x", "{\"a\":[1,2.0,\"x\",null,{\"b\":2}]}"));
  assert_false(matches("a=3", "{\"a\":[1,2.0,\"x\",null,{\"b\":2}]}"));
  /* paths through arrays of objects: any element */
  assert_true(matches("playback_ids.policy=authenticated", LIVE_STREAM));
  assert_true(matches("playback_ids.policy=public", LIVE_STREAM));
  assert_false(matches("playback_ids.policy=authenticated", IDLE_STREAM));
  assert_true(matches("playback_ids.id=Bq81k0x7s2&playback_ids.policy=public", LIVE_STREAM));
  assert_true(matches("playback_ids.policy=notnull", LIVE_STREAM));
  assert_true(matches("playback_ids.nope=null", LIVE_STREAM));
  assert_false(matches("playback_ids.id=notnull", "{\"playback_ids\":[]}"));
  assert_true(matches("playback_ids.id=null", "{\"playback_ids\":[]}"));
  /* null: no element has a non-null value */
  assert_true(matches("p.x=null", "{\"p\":[{\"x\":null},{\"y\":1},3]}"));
  assert_false(matches("p.x=null", "{\"p\":[{\"x\":null},{\"x\":1}]}"));
  /* deeper: arrays at two levels of the path */
  assert_true(matches("a.b.c=5", "{\"a\":[{\"b\":[{\"c\":4},{\"c\":5}]}]}"));
  /* arrays inside arrays are not entered */
  assert_false(matches("a.b=1", "{\"a\":[[{\"b\":1}]]}"));
}

static void test_reserved_and_count(void **state) {
  (void)state;
  filter_t *f = NULL;
  char field[128];
  assert_int_equal(filter_parse("limit=10&status.name=live&offset=20", RESERVED, &f, field,
                                sizeof(field)),
                   0);
  assert_int_equal(filter_count(f), 1);
  filter_free(f);
  /* reserved values are the caller's business, even badly encoded ones */
  assert_int_equal(filter_parse("limit=%zz", RESERVED, &f, field, sizeof(field)), 0);
  assert_int_equal(filter_count(f), 0);
  filter_free(f);
  /* without a reserved list they are conditions */
  assert_int_equal(filter_parse("limit=10", NULL, &f, field, sizeof(field)), 0);
  assert_int_equal(filter_count(f), 1);
  filter_free(f);
  assert_int_equal(filter_parse(NULL, RESERVED, &f, field, sizeof(field)), 0);
  assert_int_equal(filter_count(f), 0);
  assert_string_equal(field, "");
  filter_free(f);
  assert_int_equal(filter_count(NULL), 0);
  filter_free(NULL);
}

/* Asserts that q is refused with ERR_INVALID naming `want`. */
static void expect_error(const char *q, const char *want) {
  filter_t *f = (filter_t *)1;
  char field[128];
  memset(field, 'Z', sizeof(field));
  int rc = filter_parse(q, RESERVED, &f, field, sizeof(field));
  if (rc != ERR_INVALID) fail_msg("%.60s: rc=%d, want ERR_INVALID", q, rc);
  assert_null(f);
  if (strcmp(field, want) != 0) fail_msg("%.60s: field=%s want=%s", q, field, want);
}

static void test_errors(void **state) {
  (void)state;
  char q[8192], key[300], want[128];

  expect_error("=live", "");
  expect_error("a=1&=x", "");
  expect_error("a..b=1", "a..b");
  expect_error(".a=1", ".a");
  expect_error("a.=1", "a.");
  expect_error(".=1", ".");
  expect_error("status%2E%2Ename=live", "status..name");
  /* bad percent-encoding names the key, raw when the key itself is bad */
  expect_error("a%zz=1", "a%zz");
  expect_error("a%2=1", "a%2");
  expect_error("a%=1", "a%");
  expect_error("a%00b=1", "a%00b");
  expect_error("status.name=li%g0ve", "status.name");
  expect_error("status.name=%", "status.name");
  expect_error("status.name=a%0", "status.name");
  expect_error("status.name=a%00", "status.name");

  /* key length: 200 ok, 201 refused */
  memset(key, 'k', 200);
  key[200] = '\0';
  snprintf(q, sizeof(q), "%s=1", key);
  filter_t *f = NULL;
  assert_int_equal(filter_parse(q, RESERVED, &f, NULL, 0), 0);
  filter_free(f);
  key[200] = 'k';
  key[201] = '\0';
  snprintf(q, sizeof(q), "%s=1", key);
  snprintf(want, sizeof(want), "%.127s", key); /* truncated to the buffer */
  expect_error(q, want);

  /* depth: 8 ok, 9 refused */
  assert_int_equal(filter_parse("a.b.c.d.e.f.g.h=1", RESERVED, &f, NULL, 0), 0);
  filter_free(f);
  expect_error("ok=1&a.b.c.d.e.f.g.h.i=1", "a.b.c.d.e.f.g.h.i");

  /* 32 conditions ok (reserved keys not counted), the 33rd refused */
  size_t o = 0;
  for (int i = 0; i < 32; i++) o += (size_t)snprintf(q + o, sizeof(q) - o, "c%d=1&limit=1&", i);
  assert_int_equal(filter_parse(q, RESERVED, &f, NULL, 0), 0);
  assert_int_equal(filter_count(f), 32);
  filter_free(f);
  snprintf(q + o, sizeof(q) - o, "c32=1");
  expect_error(q, "c32");

  /* value length: 1024 decoded bytes ok, 1025 refused */
  o = (size_t)snprintf(q, sizeof(q), "params.name=");
  for (int i = 0; i < 1024; i++) q[o++] = 'v';
  q[o] = '\0';
  assert_int_equal(filter_parse(q, RESERVED, &f, NULL, 0), 0);
  filter_free(f);
  q[o++] = 'v';
  q[o] = '\0';
  expect_error(q, "params.name");
  /* measured after decoding: 1024 × "%41" is fine */
  o = (size_t)snprintf(q, sizeof(q), "params.name=");
  for (int i = 0; i < 1024; i++) o += (size_t)snprintf(q + o, sizeof(q) - o, "%%41");
  assert_int_equal(filter_parse(q, RESERVED, &f, NULL, 0), 0);
  filter_free(f);

  /* a small err_field buffer is truncated, never overrun; NULL is allowed */
  char small[4] = "xxx";
  assert_int_equal(filter_parse("abcdef..x=1", RESERVED, &f, small, sizeof(small)), ERR_INVALID);
  assert_string_equal(small, "abc");
  assert_int_equal(filter_parse("a..b=1", RESERVED, &f, NULL, 0), ERR_INVALID);
  assert_int_equal(filter_parse("a=1", RESERVED, NULL, NULL, 0), ERR_INVALID);
}

/* 1 and the key text when q names a key outside KNOWN, else 0. */
static int unknown_key(const char *q, char *key, size_t keylen) {
  static const char *const KNOWN[] = {"id", "status.name", "params.dvr.enabled", "recording.*",
                                      NULL};
  filter_t *f = NULL;
  assert_int_equal(filter_parse(q, RESERVED, &f, NULL, 0), 0);
  int found = filter_find_unknown_key(f, KNOWN, key, keylen);
  filter_free(f);
  return found;
}

static void test_unknown_keys(void **state) {
  (void)state;
  char key[64];
  /* listed paths, the steps to them, anything under ".*"; reserved skipped */
  assert_int_equal(unknown_key("id=1&status.name=live&limit=5", key, sizeof(key)), 0);
  assert_int_equal(unknown_key("params=notnull&params.dvr=null", key, sizeof(key)), 0);
  assert_int_equal(unknown_key("recording=null&recording.a.b=1", key, sizeof(key)), 0);
  assert_int_equal(unknown_key("", key, sizeof(key)), 0);
  /* the first unknown key, dotted and decoded */
  assert_int_equal(unknown_key("id=1&bogus.field=1&x=2", key, sizeof(key)), 1);
  assert_string_equal(key, "bogus.field");
  assert_int_equal(unknown_key("status.name.more=1", key, sizeof(key)), 1);
  assert_string_equal(key, "status.name.more");
  assert_int_equal(unknown_key("status.nam=live", key, sizeof(key)), 1);
  assert_string_equal(key, "status.nam");
  assert_int_equal(unknown_key("params.dvr%2Eenabld=1", key, sizeof(key)), 1);
  assert_string_equal(key, "params.dvr.enabld");
  assert_int_equal(unknown_key("ID=1", key, sizeof(key)), 1); /* keys are exact */
  /* truncated, still terminated */
  char small[6];
  assert_int_equal(unknown_key("abcdefgh.ijk=1", small, sizeof(small)), 1);
  assert_string_equal(small, "abcde");
  assert_int_equal(filter_find_unknown_key(NULL, NULL, key, sizeof(key)), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seed_examples),
      cmocka_unit_test(test_null_notnull),
      cmocka_unit_test(test_and),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_numbers_and_bools),
      cmocka_unit_test(test_arrays),
      cmocka_unit_test(test_reserved_and_count),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_unknown_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
