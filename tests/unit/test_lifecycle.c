/* The stream state machine: allowed moves, names, running/origin sets, and
 * that transitions are persisted with their history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/util.h"
#include "live/lifecycle.h"
#include "store/store.h"

static void test_names_round_trip(void **state) {
  (void)state;
  for (int s = 0; s < STREAM_STATUS_COUNT; s++)
    assert_int_equal(lifecycle_status_parse(lifecycle_status_name(s)), s);
  assert_string_equal(lifecycle_status_name(STREAM_LIVE), "live");
  assert_string_equal(lifecycle_status_name(99), "unknown");
  assert_int_equal(lifecycle_status_parse("nope"), -1);
}

static void test_allowed_moves(void **state) {
  (void)state;
  /* the API's start and stop paths */
  assert_true(lifecycle_can_transition(STREAM_CREATED, STREAM_STARTING));
  assert_true(lifecycle_can_transition(STREAM_STARTING, STREAM_WAITING));
  assert_true(lifecycle_can_transition(STREAM_STOPPED, STREAM_STARTING));
  assert_true(lifecycle_can_transition(STREAM_LIVE, STREAM_STOPPING));
  assert_true(lifecycle_can_transition(STREAM_STOPPING, STREAM_STOPPED));
  /* ingest: publish without start (seed), first segment, encoder gone, timeout */
  assert_true(lifecycle_can_transition(STREAM_CREATED, STREAM_LAUNCHING));
  assert_true(lifecycle_can_transition(STREAM_LAUNCHING, STREAM_LIVE));
  assert_true(lifecycle_can_transition(STREAM_LIVE, STREAM_IDLE));
  assert_true(lifecycle_can_transition(STREAM_IDLE, STREAM_LAUNCHING));
  assert_true(lifecycle_can_transition(STREAM_IDLE, STREAM_STOPPED));
  assert_true(lifecycle_can_transition(STREAM_WAITING, STREAM_STOPPED));
  /* delete only when not running */
  assert_true(lifecycle_can_transition(STREAM_CREATED, STREAM_DELETED));
  assert_true(lifecycle_can_transition(STREAM_STOPPED, STREAM_DELETED));
  for (int s = 0; s < STREAM_STATUS_COUNT; s++)
    if (lifecycle_is_running(s)) assert_false(lifecycle_can_transition(s, STREAM_DELETED));
  /* refused moves */
  assert_false(lifecycle_can_transition(STREAM_LIVE, STREAM_STARTING));
  assert_false(lifecycle_can_transition(STREAM_CREATED, STREAM_STOPPING));
  assert_false(lifecycle_can_transition(STREAM_STOPPED, STREAM_STOPPING));
  assert_false(lifecycle_can_transition(STREAM_CREATED, STREAM_LIVE));
  for (int s = 0; s < STREAM_STATUS_COUNT; s++)
    assert_false(lifecycle_can_transition(STREAM_DELETED, s));
  assert_false(lifecycle_can_transition(-1, STREAM_LIVE));
  assert_false(lifecycle_can_transition(STREAM_LIVE, STREAM_STATUS_COUNT));
}

static void test_origin_and_running(void **state) {
  (void)state;
  const int origin[] = {STREAM_WAITING, STREAM_LAUNCHING, STREAM_LIVE, STREAM_IDLE};
  int n = 0;
  for (int s = 0; s < STREAM_STATUS_COUNT; s++) n += lifecycle_has_origin(s);
  assert_int_equal(n, 4);
  for (int i = 0; i < 4; i++) assert_true(lifecycle_has_origin(origin[i]));
  assert_false(lifecycle_is_running(STREAM_CREATED));
  assert_false(lifecycle_is_running(STREAM_STOPPED));
  assert_true(lifecycle_is_running(STREAM_STOPPING));
}

static void test_transition_persists(void **state) {
  (void)state;
  char dir[] = "/tmp/onair-lc-XXXXXX";
  assert_non_null(mkdtemp(dir));
  store_t *st;
  assert_int_equal(store_open(dir, &st), 0);
  store_stream_t s;
  memset(&s, 0, sizeof(s));
  util_uuid4(s.id);
  util_uuid4(s.project_id);
  snprintf(s.stream_key, sizeof(s.stream_key), "k-%s", s.id);
  s.status = STREAM_CREATED;
  s.created_at = s.status_ts = 1;
  s.params_json = strdup("{}");
  assert_int_equal(store_stream_insert(st, &s), 0);

  assert_int_equal(lifecycle_transition(st, &s, STREAM_STARTING), 0);
  assert_int_equal(lifecycle_transition(st, &s, STREAM_WAITING), 0);
  assert_int_equal(lifecycle_transition(st, &s, STREAM_LIVE), ERR_CONFLICT);
  assert_int_equal(s.status, STREAM_WAITING);
  store_stream_t g;
  assert_int_equal(store_stream_get_any(st, s.id, &g), 0);
  assert_int_equal(g.status, STREAM_WAITING);
  assert_true(g.status_ts > 1);
  store_stream_clear(&g);
  store_status_event_t *ev;
  size_t n;
  assert_int_equal(store_stream_history(st, s.id, &ev, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(ev[0].status, STREAM_CREATED);
  assert_int_equal(ev[1].status, STREAM_STARTING);
  assert_int_equal(ev[2].status, STREAM_WAITING);
  free(ev);

  assert_int_equal(lifecycle_transition(st, &s, STREAM_STOPPED), 0);
  assert_int_equal(lifecycle_transition(st, &s, STREAM_DELETED), 0);
  assert_int_equal(store_stream_get_any(st, s.id, &g), ERR_NOT_FOUND);
  store_stream_clear(&s);
  store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_round_trip),
      cmocka_unit_test(test_allowed_moves),
      cmocka_unit_test(test_origin_and_running),
      cmocka_unit_test(test_transition_persists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
