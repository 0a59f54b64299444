/* test_health.c — health arithmetic (time parsing, buckets, percentiles),
 * the health_samples store (listing, downsampling, purge) against a real
 * SQLite database, and the metrics registry's exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "live/health.h"
#include "live/metrics.h"
#include "store/health.h"
#include "store/store.h"

#define T0 1770307200 /* 2026-02-05 16:00:00 UTC, a Thursday */

/* ---------- time parsing ---------- */

static void test_parse_time(void **state) {
  (void)state;
  int64_t t;
  assert_int_equal(health_parse_time("2026-02-05 16:00:00", &t), 0);
  assert_int_equal(t, T0);
  assert_int_equal(health_parse_time("2026-02-05T16:00:00Z", &t), 0);
  assert_int_equal(t, T0);
  assert_int_equal(health_parse_time("2026-02-05", &t), 0);
  assert_int_equal(t, T0 - 16 * 3600);
  assert_int_equal(health_parse_time("1770307200", &t), 0);
  assert_int_equal(t, T0);
  const char *bad[] = {"", "yesterday", "2026-02-30 00:00:00", "2026-13-01 00:00:00",
                       "2026-02-05 24:00:00", "2026-02-05 16:00", "2026-02-05 16:00:00x",
                       "2026/02/05 16:00:00", "1969-12-31 23:59:59", "99999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(health_parse_time(bad[i], &t), ERR_INVALID);
}

/* ---------- buckets ---------- */

static void test_bucket_parse(void **state) {
  (void)state;
  health_bucket_t b;
  const char *names[] = {"none", "auto", "1m", "5m", "1h", "1d", "1w", "1M"};
  for (int i = 0; i < 8; i++) {
    assert_int_equal(health_bucket_parse(names[i], &b), 0);
    assert_string_equal(health_bucket_name(b), names[i]);
  }
  assert_int_equal(health_bucket_parse("2m", &b), ERR_INVALID);
  assert_int_equal(health_bucket_parse("1H", &b), ERR_INVALID);
  assert_int_equal(health_bucket_parse("", &b), ERR_INVALID);
  assert_int_equal(health_bucket_seconds(HEALTH_BUCKET_1M), 60);
  assert_int_equal(health_bucket_seconds(HEALTH_BUCKET_5M), 300);
  assert_int_equal(health_bucket_seconds(HEALTH_BUCKET_1W), 604800);
  assert_int_equal(health_bucket_seconds(HEALTH_BUCKET_NONE), 0);
}

static void test_bucket_auto(void **state) {
  (void)state;
  assert_int_equal(health_bucket_auto(0), HEALTH_BUCKET_1M);
  assert_int_equal(health_bucket_auto(3600), HEALTH_BUCKET_1M);      /* 60 points */
  assert_int_equal(health_bucket_auto(300 * 60), HEALTH_BUCKET_1M);  /* exactly 300 */
  assert_int_equal(health_bucket_auto(300 * 60 + 1), HEALTH_BUCKET_5M);
  assert_int_equal(health_bucket_auto(86400), HEALTH_BUCKET_5M);     /* 288 points */
  assert_int_equal(health_bucket_auto(7 * 86400), HEALTH_BUCKET_1H); /* 168 */
  assert_int_equal(health_bucket_auto(30 * 86400), HEALTH_BUCKET_1D);
  assert_int_equal(health_bucket_auto(365 * 86400), HEALTH_BUCKET_1W);
  assert_int_equal(health_bucket_auto(10 * 365 * 86400LL), HEALTH_BUCKET_MON);
}

static void test_bucket_start(void **state) {
  (void)state;
  int64_t ts = T0 + 3 * 3600 + 7 * 60 + 42; /* 2026-02-05 19:07:42 */
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1M, ts), T0 + 3 * 3600 + 7 * 60);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_5M, ts), T0 + 3 * 3600 + 5 * 60);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1H, ts), T0 + 3 * 3600);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1D, ts), T0 - 16 * 3600);
  /* Thursday the 5th → Monday 2026-02-02 00:00. */
  int64_t monday;
  assert_int_equal(health_parse_time("2026-02-02 00:00:00", &monday), 0);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1W, ts), monday);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1W, monday), monday);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_1W, monday - 1), monday - 7 * 86400);
  int64_t feb1, mar1;
  assert_int_equal(health_parse_time("2026-02-01", &feb1), 0);
  assert_int_equal(health_parse_time("2026-03-01", &mar1), 0);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_MON, ts), feb1);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_MON, mar1 - 1), feb1);
  assert_int_equal(health_bucket_start(HEALTH_BUCKET_MON, mar1), mar1);
  /* A bucket start is its own start, for every size. */
  for (int b = HEALTH_BUCKET_1M; b <= HEALTH_BUCKET_MON; b++) {
    int64_t s = health_bucket_start((health_bucket_t)b, ts);
    assert_true(s <= ts);
    assert_int_equal(health_bucket_start((health_bucket_t)b, s), s);
  }
}

/* ---------- percentiles ---------- */

static void test_stats(void **state) {
  (void)state;
  double v[] = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
  health_stats_t st;
  assert_int_equal(health_stats(v, 10, &st), 0);
  assert_float_equal(st.avg, 5.5, 1e-9);
  assert_float_equal(st.median, 5.5, 1e-9);
  assert_float_equal(st.min, 1, 1e-9);
  assert_float_equal(st.max, 10, 1e-9);
  assert_float_equal(st.p10, 1.9, 1e-9); /* linear between ranks, as numpy */
  assert_float_equal(st.p90, 9.1, 1e-9);
  double one[] = {42};
  assert_int_equal(health_stats(one, 1, &st), 0);
  assert_float_equal(st.median, 42, 1e-9);
  assert_float_equal(st.p10, 42, 1e-9);
  assert_float_equal(st.p90, 42, 1e-9);
  double odd[] = {3, 1, 2};
  assert_int_equal(health_stats(odd, 3, &st), 0);
  assert_float_equal(st.median, 2, 1e-9);
  assert_int_equal(health_stats(NULL, 0, &st), ERR_NOT_FOUND);
  assert_float_equal(st.avg, 0, 1e-9);
}

static void test_client_label(void **state) {
  (void)state;
  assert_string_equal(health_client_label("rtmp"), "RTMP Client");
  assert_string_equal(health_client_label("srt"), "SRT Client");
  assert_string_equal(health_client_label(""), "Unknown Client");
  assert_string_equal(health_client_label(NULL), "Unknown Client");
}

/* ---------- store ---------- */

typedef struct {
  char root[64];
  store_t *st;
} fx_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  if (!fx) return -1;
  strcpy(fx->root, "/tmp/onair_test_health_XXXXXX");
  if (!mkdtemp(fx->root) || store_open(fx->root, &fx->st) != 0) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  store_close(fx->st);
  nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static const char SID[] = "11111111-2222-4333-8444-555555555555";

static store_health_sample_t sample(int64_t ts, int64_t vb, double fr) {
  store_health_sample_t s;
  memset(&s, 0, sizeof(s));
  snprintf(s.stream_id, sizeof(s.stream_id), "%s", SID);
  s.ts = ts;
  s.video_bitrate = s.video_data_rate = vb;
  s.audio_bitrate = s.audio_data_rate = 64000;
  s.framerate = fr;
  s.input_frame_rate = 30;
  s.time_connected = ts - T0;
  s.width = 320;
  s.height = 240;
  snprintf(s.encoder, sizeof(s.encoder), "Lavf");
  snprintf(s.client_type, sizeof(s.client_type), "rtmp");
  snprintf(s.video_codec, sizeof(s.video_codec), "h264");
  snprintf(s.audio_codec, sizeof(s.audio_codec), "aac");
  s.audio_channels = 2;
  s.audio_sample_rate = 44100;
  s.audio_sample_size = 16;
  s.dropped_frames = 1;
  s.samples = 1;
  return s;
}

typedef struct {
  store_health_sample_t rows[64];
  size_t n;
} rows_t;

static int keep(void *ud, const store_health_sample_t *s) {
  rows_t *r = ud;
  if (r->n < 64) r->rows[r->n++] = *s;
  return 0;
}

static void test_store_list(void **state) {
  fx_t *fx = *state;
  for (int i = 0; i < 10; i++) {
    store_health_sample_t s = sample(T0 + i * 5, 1000000 + i, 30);
    assert_int_equal(store_health_insert(fx->st, &s), 0);
  }
  rows_t r = {.n = 0};
  assert_int_equal(store_health_list(fx->st, SID, T0 + 10, T0 + 30, 0, 0, keep, &r), 0);
  assert_int_equal(r.n, 5); /* 10, 15, 20, 25, 30 */
  assert_int_equal(r.rows[0].ts, T0 + 10);
  assert_int_equal(r.rows[4].ts, T0 + 30);
  assert_string_equal(r.rows[0].client_type, "rtmp");
  assert_string_equal(r.rows[0].video_codec, "h264");
  assert_int_equal(r.rows[0].width, 320);
  assert_float_equal(r.rows[0].framerate, 30, 1e-9);
  r.n = 0;
  assert_int_equal(store_health_list(fx->st, SID, INT64_MIN, INT64_MAX, 1, 3, keep, &r), 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.rows[0].ts, T0 + 45); /* newest first */
  assert_int_equal(r.rows[2].ts, T0 + 35);
  store_health_sample_t last;
  assert_int_equal(store_health_latest(fx->st, SID, &last), 0);
  assert_int_equal(last.ts, T0 + 45);
  assert_int_equal(last.video_bitrate, 1000009);
  int64_t first, end;
  assert_int_equal(store_health_span(fx->st, SID, &first, &end), 0);
  assert_int_equal(first, T0);
  assert_int_equal(end, T0 + 45);
  assert_int_equal(store_health_latest(fx->st, "00000000-0000-4000-8000-000000000000", &last),
                   ERR_NOT_FOUND);
  assert_int_equal(store_health_span(fx->st, "00000000-0000-4000-8000-000000000000", &first, &end),
                   ERR_NOT_FOUND);
}

static void test_store_downsample_purge(void **state) {
  fx_t *fx = *state;
  /* Minute T0: 3 samples; minute T0+60: 2 samples; T0+120: 1 sample that
   * is newer than the cut (T0+120) and must stay raw. */
  int64_t ts[] = {T0 + 0, T0 + 20, T0 + 40, T0 + 60, T0 + 119, T0 + 120};
  int64_t vb[] = {900000, 1000000, 1100000, 2000000, 3000000, 5000000};
  double fr[] = {29, 30, 31, 30, 20, 30};
  for (int i = 0; i < 6; i++) {
    store_health_sample_t s = sample(ts[i], vb[i], fr[i]);
    assert_int_equal(store_health_insert(fx->st, &s), 0);
  }
  int n = -1;
  /* The cut is rounded down to a minute: T0+150 folds minutes T0 and T0+60. */
  assert_int_equal(store_health_downsample(fx->st, T0 + 150, &n), 0);
  assert_int_equal(n, 2);
  rows_t r = {.n = 0};
  assert_int_equal(store_health_list(fx->st, SID, INT64_MIN, INT64_MAX, 0, 0, keep, &r), 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.rows[0].ts, T0);
  assert_int_equal(r.rows[0].samples, 3);
  assert_int_equal(r.rows[0].video_bitrate, 1000000);
  assert_float_equal(r.rows[0].framerate, 30, 1e-9);
  assert_int_equal(r.rows[0].dropped_frames, 3);
  assert_int_equal(r.rows[0].time_connected, 40); /* from the minute's newest sample */
  assert_string_equal(r.rows[0].video_codec, "h264");
  assert_int_equal(r.rows[1].ts, T0 + 60);
  assert_int_equal(r.rows[1].samples, 2);
  assert_int_equal(r.rows[1].video_bitrate, 2500000);
  assert_float_equal(r.rows[1].framerate, 25, 1e-9);
  assert_int_equal(r.rows[2].ts, T0 + 120);
  assert_int_equal(r.rows[2].samples, 1);
  /* Running it again changes nothing: folded rows are not folded twice. */
  assert_int_equal(store_health_downsample(fx->st, T0 + 150, &n), 0);
  assert_int_equal(n, 0);
  /* health_retention_run with "now" a day after T0+180: the last raw
   * minute is folded too (one sample), nothing is older than 2 days. */
  assert_int_equal(health_retention_run(fx->st, T0 + 180 + 86400, 2), 0);
  r.n = 0;
  assert_int_equal(store_health_list(fx->st, SID, INT64_MIN, INT64_MAX, 0, 0, keep, &r), 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.rows[2].ts, T0 + 120);
  assert_int_equal(r.rows[2].video_bitrate, 5000000);
  assert_int_equal(store_health_downsample(fx->st, T0 + 180 + 86400, &n), 0);
  assert_int_equal(n, 0);
  /* A day later with 1-day retention, everything goes. */
  assert_int_equal(health_retention_run(fx->st, T0 + 181 + 86400, 1), 0);
  r.n = 0;
  assert_int_equal(store_health_list(fx->st, SID, INT64_MIN, INT64_MAX, 0, 0, keep, &r), 0);
  assert_int_equal(r.n, 0);
  store_health_sample_t s = sample(T0, 1, 1);
  assert_int_equal(store_health_insert(fx->st, &s), 0);
  assert_int_equal(store_health_purge(fx->st, T0 + 1, &n), 0);
  assert_int_equal(n, 1);
  store_health_sample_t last;
  assert_int_equal(store_health_latest(fx->st, SID, &last), ERR_NOT_FOUND);
}

static void test_count_by_status(void **state) {
  fx_t *fx = *state;
  store_apikey_t k;
  char key[64];
  assert_int_equal(store_apikey_create(fx->st, "t", &k, key), 0);
  for (int i = 0; i < 3; i++) {
    store_stream_t s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(util_uuid4(s.id), 0);
    snprintf(s.project_id, sizeof(s.project_id), "%s", k.id);
    snprintf(s.stream_key, sizeof(s.stream_key), "key%d", i);
    s.status = i == 2 ? 4 : 0;
    s.params_json = (char *)"{}";
    assert_int_equal(store_stream_insert(fx->st, &s), 0);
  }
  int64_t counts[10];
  assert_int_equal(store_stream_count_by_status(fx->st, counts, 10), 0);
  assert_int_equal(counts[0], 2);
  assert_int_equal(counts[4], 1);
  assert_int_equal(counts[7], 0);
}

/* ---------- metrics ---------- */

static void test_metrics_viewers(void **state) {
  (void)state;
  unsigned cur;
  uint64_t total;
  metrics_viewers("s1", &cur, &total);
  assert_int_equal(cur, 0);
  assert_int_equal(total, 0);
  metrics_viewer_hit("s1", "10.0.0.1", "hls.js");
  metrics_viewer_hit("s1", "10.0.0.1", "hls.js"); /* same viewer */
  metrics_viewer_hit("s1", "10.0.0.1", "VLC");    /* another player on that host */
  metrics_viewer_hit("s1", "10.0.0.2", NULL);
  metrics_viewer_hit("s2", "10.0.0.1", "hls.js");
  metrics_viewers("s1", &cur, &total);
  assert_int_equal(cur, 3);
  assert_int_equal(total, 3);
  /* Many viewers: the table grows and keeps counting. */
  char ip[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(ip, sizeof(ip), "192.168.%d.%d", i / 256, i % 256);
    metrics_viewer_hit("s2", ip, "x");
  }
  metrics_viewers("s2", &cur, &total);
  assert_int_equal(cur, 1001);
  assert_int_equal(total, 1001);
  metrics_viewers_forget("s2");
  metrics_viewers("s2", &cur, &total);
  assert_int_equal(total, 0);
  metrics_reset();
  metrics_viewers("s1", &cur, &total);
  assert_int_equal(total, 0);
}

static void collector(void *ud, metrics_text_t *t) {
  metrics_text_printf(t, "# TYPE test_gauge gauge\ntest_gauge %d\n", *(int *)ud);
}

static void test_metrics_render(void **state) {
  (void)state;
  int value = 7;
  assert_int_equal(metrics_add_collector(collector, &value), 0);
  metrics_http_observe("GET", "/v1/live-streams/{id}", 200, 100, 0.0007);
  metrics_http_observe("GET", "/v1/live-streams/{id}", 200, 50, 0.3);
  metrics_http_observe("GET", "/v1/live-streams/{id}", 404, 20, 0.002);
  metrics_http_observe("BREW", "", 404, 10, 0.0001); /* unknown method, no route */
  metrics_viewer_hit("s\"1", "127.0.0.1", "ua");    /* label escaping */
  metrics_text_t t = {0};
  metrics_render(&t);
  assert_false(t.failed);
  assert_non_null(strstr(t.data, "onair_http_requests_total{method=\"GET\",route=\"/v1/live-streams/"
                                 "{id}\",status=\"200\"} 2\n"));
  assert_non_null(strstr(t.data, "status=\"404\"} 1\n"));
  assert_non_null(strstr(t.data, "{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1\n"));
  /* Buckets are cumulative: 0.0007 is in le=0.001, 0.002 in le=0.0025. */
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"0.0005\"} 0\n"));
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"0.001\"} 1\n"));
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"0.0025\"} 2\n"));
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"0.25\"} 2\n"));
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"0.5\"} 3\n"));
  assert_non_null(strstr(t.data, "route=\"/v1/live-streams/{id}\",le=\"+Inf\"} 3\n"));
  assert_non_null(strstr(t.data, "onair_http_request_duration_seconds_count{method=\"GET\",route=\"/"
                                 "v1/live-streams/{id}\"} 3\n"));
  assert_non_null(strstr(t.data, "onair_http_bytes_sent_total 180\n"));
  assert_non_null(strstr(t.data, "onair_hls_viewers{stream=\"s\\\"1\"} 1\n"));
  assert_non_null(strstr(t.data, "test_gauge 7\n"));
  metrics_text_free(&t);
  metrics_remove_collector(collector, &value);
  metrics_render(&t);
  assert_null(strstr(t.data, "test_gauge"));
  metrics_text_free(&t);
  metrics_reset();
  metrics_render(&t);
  assert_null(strstr(t.data, "onair_http_requests_total{"));
  metrics_text_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_bucket_parse),
      cmocka_unit_test(test_bucket_auto),
      cmocka_unit_test(test_bucket_start),
      cmocka_unit_test(test_stats),
      cmocka_unit_test(test_client_label),
      cmocka_unit_test_setup_teardown(test_store_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_downsample_purge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_count_by_status, setup, teardown),
      cmocka_unit_test(test_metrics_viewers),
      cmocka_unit_test(test_metrics_render),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
