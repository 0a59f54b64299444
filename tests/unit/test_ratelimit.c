/* Token buckets: burst, refill, Retry-After, per-key independence, bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "api/ratelimit.h"

static void test_burst_then_wait(void **state) {
  (void)state;
  ratelimit_t *rl = ratelimit_new(10, 10, 16);
  for (int i = 0; i < 10; i++) assert_int_equal(ratelimit_take(rl, "a", 1000), 0);
  unsigned wait = ratelimit_take(rl, "a", 1000);
  assert_true(wait >= 1 && wait <= 6); /* one token per 6 s at 10/min */
  assert_int_equal(ratelimit_take(rl, "b", 1000), 0); /* other keys are independent */
  assert_int_equal(ratelimit_take(rl, "a", 1000 + 6001), 0); /* refilled */
  assert_true(ratelimit_take(rl, "a", 1000 + 6001) >= 1);
  ratelimit_free(rl);
}

static void test_bounded_keys(void **state) {
  (void)state;
  ratelimit_t *rl = ratelimit_new(1, 1, 2);
  assert_int_equal(ratelimit_take(rl, "a", 1), 0);
  assert_int_equal(ratelimit_take(rl, "b", 2), 0);
  assert_int_equal(ratelimit_take(rl, "c", 3), 0); /* evicts the oldest, "a" */
  assert_true(ratelimit_take(rl, "c", 4) >= 1);
  ratelimit_free(rl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_wait),
      cmocka_unit_test(test_bounded_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
