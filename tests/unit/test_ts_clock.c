/* ts_clock: RTMP message timestamps of audio and video onto one timeline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "media/hub/frame.h"
#include "media/ts_clock.h"

#define V MEDIA_VIDEO
#define A MEDIA_AUDIO

static int64_t map(ts_clock_t *c, int kind, uint32_t ts, int want_jump) {
  int jumped = -1;
  int64_t out = ts_clock_map(c, kind, ts, &jumped);
  assert_int_equal(jumped, want_jump);
  return out;
}

/* Interleaved audio and video keep their own timestamps, and the 32-bit
 * wrap is unwrapped for both. */
static void test_interleaved_and_wrap(void **state) {
  ts_clock_t c = {0};
  assert_int_equal(map(&c, V, 1000, 0), 1000);
  assert_int_equal(map(&c, A, 980, 0), 980);
  assert_int_equal(map(&c, V, 1033, 0), 1033);
  assert_int_equal(map(&c, A, 1003, 0), 1003);
  ts_clock_t w = {0};
  assert_int_equal(map(&w, V, 0xFFFFFFF0u, 0), 0xFFFFFFF0ll);
  assert_int_equal(map(&w, A, 0xFFFFFFE0u, 0), 0xFFFFFFE0ll);
  assert_int_equal(map(&w, V, 0x10, 0), 0x100000010ll);
  assert_int_equal(map(&w, A, 0x5, 0), 0x100000005ll);
}

/* The first video timestamp just before the wrap and the first audio just
 * after it: audio goes by the video's clock, 200 ms later, not 49.7 days
 * earlier. */
static void test_kinds_start_on_either_side_of_the_wrap(void **state) {
  ts_clock_t c = {0};
  int64_t v = map(&c, V, 0xFFFFFFFFu - 99, 0);
  int64_t a = map(&c, A, 100, 0);
  assert_int_equal(a - v, 200);
  /* and the other way round */
  ts_clock_t d = {0};
  a = map(&d, A, 50, 0);
  v = map(&d, V, 0xFFFFFFFFu - 49, 0);
  assert_int_equal(a - v, 100);
}

/* The encoder restarts its clock at 0 after 70 s: both kinds continue
 * after the newest time given out, in sync, with no step back. */
static void test_restart_at_zero_continues(void **state) {
  ts_clock_t c = {0};
  int64_t v = 0, a = 0;
  for (uint32_t t = 60000; t < 70000; t += 40) {
    v = map(&c, V, t, 0);
    a = map(&c, A, t + 10, 0);
  }
  int64_t v2 = map(&c, V, 0, 1); /* the jump: 1 ms after the newest */
  assert_int_equal(v2, a + 1);
  int64_t a2 = map(&c, A, 10, 0); /* audio follows video's new clock */
  assert_int_equal(a2 - v2, 10);
  assert_true(v2 > v && a2 > a);
  for (uint32_t t = 40; t < 2000; t += 40) {
    int64_t nv = map(&c, V, t, 0), na = map(&c, A, t + 10, 0);
    assert_int_equal(nv - v2, t);
    assert_int_equal(na - nv, 10);
  }
}

/* A clock that leaps 2 hours ahead: continued, not a 2-hour gap. */
static void test_forward_leap_continues(void **state) {
  ts_clock_t c = {0};
  map(&c, V, 5000, 0);
  int64_t a = map(&c, A, 5010, 0);
  int64_t v = map(&c, V, 5000 + 7200000, 1);
  assert_int_equal(v, a + 1);
  assert_int_equal(map(&c, A, 5010 + 7200000, 0) - v, 10);
}

/* Audio that was silent for a minute while video ran on comes back on the
 * video's clock (a real gap, no jump). */
static void test_gap_of_one_kind_stays_in_sync(void **state) {
  ts_clock_t c = {0};
  map(&c, A, 1000, 0);
  for (uint32_t t = 1000; t <= 61000; t += 40) map(&c, V, t, 0);
  int64_t v = map(&c, V, 61040, 0);
  assert_int_equal(map(&c, A, 61050, 0) - v, 10);
}

/* Small steps back (an encoder's jitter) are not jumps: they pass through
 * (the packager drops what goes back). */
static void test_small_step_back_is_not_a_jump(void **state) {
  ts_clock_t c = {0};
  map(&c, V, 10000, 0);
  assert_int_equal(map(&c, V, 9000, 0), 9000);
  assert_int_equal(ts_clock_map(&c, V, 9040, NULL), 9040);
}

/* Video that stopped long ago (a cover picture at the start of an audio
 * stream) does not pull a restarted audio clock back to its old time. */
static void test_stale_other_kind_is_not_followed(void **state) {
  ts_clock_t c = {0};
  for (uint32_t t = 0; t <= 1000; t += 40) map(&c, V, t, 0);
  int64_t a = 0;
  for (uint32_t t = 0; t < 600000; t += 1000) a = map(&c, A, t, 0);
  assert_int_equal(map(&c, A, 500, 1), a + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interleaved_and_wrap),
      cmocka_unit_test(test_kinds_start_on_either_side_of_the_wrap),
      cmocka_unit_test(test_restart_at_zero_continues),
      cmocka_unit_test(test_forward_leap_continues),
      cmocka_unit_test(test_gap_of_one_kind_stays_in_sync),
      cmocka_unit_test(test_small_step_back_is_not_a_jump),
      cmocka_unit_test(test_stale_other_kind_is_not_followed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
