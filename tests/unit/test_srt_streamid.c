/* test_srt_streamid.c — the SRT streamid forms onair accepts and refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "media/srt/streamid.h"

static int parse(const char *s, srt_streamid_t *out) { return srt_streamid_parse(s, strlen(s), out); }

static void test_plain_key(void **state) {
  (void)state;
  srt_streamid_t id;
  assert_int_equal(parse("0123456789abcdef0123456789abcdef", &id), 0);
  assert_string_equal(id.key, "0123456789abcdef0123456789abcdef");
  assert_int_equal(id.access_form, 0);
  assert_int_equal(parse("a", &id), 0);
  assert_string_equal(id.key, "a");
  assert_int_equal(parse("my-key_1.x", &id), 0);
}

static void test_access_form(void **state) {
  (void)state;
  srt_streamid_t id;
  assert_int_equal(parse("#!::r=abc123,m=publish", &id), 0);
  assert_string_equal(id.key, "abc123");
  assert_int_equal(id.access_form, 1);
  /* order does not matter; u/h/s and unknown keys are ignored */
  assert_int_equal(parse("#!::m=publish,u=alice,h=example.com,s=42,r=k1,t=stream,x=y", &id), 0);
  assert_string_equal(id.key, "k1");
  /* m absent: onair only ingests, so publish is implied */
  assert_int_equal(parse("#!::r=k2", &id), 0);
  assert_string_equal(id.key, "k2");
}

static void test_refused_modes(void **state) {
  (void)state;
  srt_streamid_t id;
  assert_int_equal(parse("#!::r=abc,m=request", &id), ERR_FORBIDDEN);
  assert_string_equal(id.key, "");
  assert_int_equal(parse("#!::m=bidirectional,r=abc", &id), ERR_FORBIDDEN);
  assert_int_equal(parse("#!::r=abc,m=publish,t=file", &id), ERR_FORBIDDEN);
  /* malformed beats forbidden */
  assert_int_equal(parse("#!::m=request", &id), ERR_INVALID);
}

static void test_malformed(void **state) {
  (void)state;
  srt_streamid_t id;
  const char *bad[] = {
      "",
      "#!::",
      "#!::r=",
      "#!::=abc",
      "#!::r",
      "#!::r=abc,",
      "#!::,r=abc",
      "#!::r=abc,r=def",
      "#!::r=abc,m=publish,m=publish",
      "#!::r=a b",
      "#!::r=abc/def",
      "#!:{r=abc}",
      "#abc",
      "key with space",
      "key?x=1",
      "key\n",
      "ключ",
      "0123456789012345678901234567890123456789012345678901234567890123456789", /* > 64 */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = parse(bad[i], &id);
    if (rc != ERR_INVALID) fail_msg("'%s' -> %d, want ERR_INVALID", bad[i], rc);
    assert_string_equal(id.key, "");
  }
  /* embedded NUL and lengths beyond libsrt's limit */
  assert_int_equal(srt_streamid_parse("ab\0cd", 5, &id), ERR_INVALID);
  char big[600];
  memset(big, 'a', sizeof(big));
  assert_int_equal(srt_streamid_parse(big, sizeof(big), &id), ERR_INVALID);
  assert_int_equal(srt_streamid_parse(NULL, 0, &id), ERR_INVALID);
  /* exactly 64 is fine */
  assert_int_equal(srt_streamid_parse(big, 64, &id), 0);
  assert_int_equal(strlen(id.key), 64);
}

static void test_not_nul_terminated(void **state) {
  (void)state;
  srt_streamid_t id;
  const char buf[] = {'#', '!', ':', ':', 'r', '=', 'x', 'y'}; /* no NUL after */
  assert_int_equal(srt_streamid_parse(buf, sizeof(buf), &id), 0);
  assert_string_equal(id.key, "xy");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_key),     cmocka_unit_test(test_access_form),
      cmocka_unit_test(test_refused_modes), cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_not_nul_terminated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
