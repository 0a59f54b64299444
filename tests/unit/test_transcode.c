/* test_transcode.c — the pure parts of the ladder: rung planning
 * (ladder.h), Annex B → AVCC (avc.h), and the multivariant playlist text
 * and CODECS strings (multivariant.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/hls/multivariant.h"
#include "media/transcode/avc.h"
#include "media/transcode/ladder.h"

static json_t *params(const char *text) {
  json_error_t e;
  json_t *p = json_loads(text, 0, &e);
  assert_non_null(p);
  return p;
}

static void test_auto_below_the_source(void **st) {
  (void)st;
  ladder_rung_t r[LADDER_MAX];
  json_t *p = params("{}");
  int n = ladder_plan(p, 1920, 1080, 3, r);
  assert_int_equal(n, 3);
  assert_string_equal(r[0].name, "720p");
  assert_int_equal(r[0].width, 1280);
  assert_int_equal(r[0].kbps, 2800);
  assert_string_equal(r[1].name, "480p");
  assert_int_equal(r[1].width, 854); /* even, aspect kept */
  assert_string_equal(r[2].name, "360p");
  assert_int_equal(r[2].width, 640);
  assert_true(r[2].fps == 0);
  n = ladder_plan(p, 1280, 720, 3, r);
  assert_int_equal(n, 3);
  assert_string_equal(r[0].name, "480p");
  assert_string_equal(r[2].name, "240p");
  assert_int_equal(r[2].width, 426);
  assert_int_equal(ladder_plan(p, 1920, 1080, 5, r), 4); /* 720 480 360 240 */
  assert_int_equal(ladder_plan(p, 426, 240, 3, r), 0);   /* nothing below 240p */
  /* a 4:3 source keeps 4:3 */
  n = ladder_plan(p, 640, 480, 3, r);
  assert_int_equal(n, 2);
  assert_int_equal(r[0].width, 480);
  assert_int_equal(r[0].height, 360);
  json_decref(p);
}

static void test_framerate_and_modes(void **st) {
  (void)st;
  ladder_rung_t r[LADDER_MAX];
  json_t *p = params("{\"mode\": \"auto\", \"framerate\": 24}");
  assert_int_equal(ladder_plan(p, 1280, 720, 3, r), 3);
  assert_true(r[0].fps == 24 && r[2].fps == 24);
  json_decref(p);
  p = params("{\"mode\": \"passthrough\"}");
  assert_int_equal(ladder_mode(p), LADDER_PASSTHROUGH);
  assert_int_equal(ladder_plan(p, 1920, 1080, 3, r), 0);
  json_decref(p);
  p = params("{\"mode\": \"custom\", \"framerate\": \"15\", \"qualities\": ["
             "{\"resolution\": \"360p\", \"bitrate\": 600, \"framerate\": 5},"
             "{\"resolution\": \"1080p\"}]}");
  assert_int_equal(ladder_mode(p), LADDER_CUSTOM);
  assert_int_equal(ladder_plan(p, 1280, 720, 3, r), 2); /* exactly those, in order */
  assert_string_equal(r[0].name, "360p");
  assert_int_equal(r[0].kbps, 600);
  assert_true(r[0].fps == 5);
  assert_string_equal(r[1].name, "1080p");
  assert_int_equal(r[1].width, 1920);
  assert_int_equal(r[1].kbps, 5000); /* the standard bitrate */
  assert_true(r[1].fps == 15);       /* params.framerate */
  json_decref(p);
  assert_int_equal(ladder_height("4k"), 2160);
  assert_int_equal(ladder_height("999p"), 0);
}

static void test_annexb_to_avcc(void **st) {
  (void)st;
  /* 4-byte and 3-byte start codes, a trailing zero byte */
  static const uint8_t in[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac,
                               0, 0, 1,    0x68, 0xeb, 0xe3,
                               0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00};
  size_t n = avc_avcc_size(in, sizeof(in));
  assert_int_equal(n, 4 + 5 + 4 + 3 + 4 + 3);
  uint8_t out[64];
  assert_int_equal(avc_annexb_to_avcc(in, sizeof(in), out), n);
  static const uint8_t want[] = {0, 0, 0, 5, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 3,
                                 0x68, 0xeb, 0xe3, 0, 0, 0, 3, 0x65, 0x88, 0x84};
  assert_memory_equal(out, want, n);

  uint8_t *rec;
  size_t reclen;
  assert_int_equal(avc_config_from_annexb(in, sizeof(in), &rec, &reclen), 0);
  assert_int_equal(reclen, 6 + 2 + 5 + 1 + 2 + 3);
  assert_int_equal(rec[0], 1);
  assert_int_equal(rec[1], 0x64); /* profile from the SPS */
  assert_int_equal(rec[3], 0x1f); /* level */
  assert_int_equal(rec[4], 0xff); /* 4-byte lengths */
  assert_int_equal(rec[5], 0xe1);

  media_config_t cfg = {.video_codec = CODEC_H264, .video_extradata = rec,
                        .video_extradata_len = reclen, .audio_codec = CODEC_AAC};
  static uint8_t asc[] = {0x12, 0x10}; /* AAC LC, 44.1 kHz, stereo */
  cfg.audio_extradata = asc;
  cfg.audio_extradata_len = sizeof(asc);
  char codecs[64];
  assert_true(hls_codecs_string(&cfg, codecs, sizeof(codecs)) > 0);
  assert_string_equal(codecs, "avc1.64001f,mp4a.40.2");
  cfg.audio_codec = CODEC_NONE;
  hls_codecs_string(&cfg, codecs, sizeof(codecs));
  assert_string_equal(codecs, "avc1.64001f");
  free(rec);
  /* no PPS: not a configuration */
  assert_int_equal(avc_config_from_annexb(in, 9, &rec, &reclen), ERR_INVALID);
}

static void test_multivariant_text(void **st) {
  (void)st;
  hls_variant_t v[2] = {
      {.uri = "source/index.m3u8?auth=t", .bandwidth = 5000000, .average_bandwidth = 4000000,
       .width = 1920, .height = 1080, .codecs = "avc1.640028,mp4a.40.2", .framerate = 30},
      {.uri = "360p/index.m3u8?auth=t", .bandwidth = 900000}};
  char *text;
  size_t len;
  assert_int_equal(hls_multivariant_render(v, 2, &text, &len), 0);
  assert_int_equal(strlen(text), len);
  assert_string_equal(text,
                      "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=5000000,AVERAGE-BANDWIDTH=4000000,"
                      "RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\",FRAME-RATE=30.000\n"
                      "source/index.m3u8?auth=t\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8?auth=t\n");
  free(text);
  assert_int_equal(hls_multivariant_render(v, 0, &text, &len), ERR_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auto_below_the_source),
      cmocka_unit_test(test_framerate_and_modes),
      cmocka_unit_test(test_annexb_to_avcc),
      cmocka_unit_test(test_multivariant_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
