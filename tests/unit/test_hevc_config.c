/* The hvcC record built from libx265's own VPS/SPS/PPS equals the one
 * libavformat's mp4 muxer wrote for the same stream (426x240, Main, level
 * 2: the conformance window crops 432 to 426); broken input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "media/hevc_config.h"
#include "media/hls/multivariant.h"

/* From `ffmpeg -f lavfi -i testsrc2=size=426x240 -frames:v 1 -c:v libx265
 * -tag:v hvc1 x.mp4`: the hvcC box, without its SEI array. */
static const uint8_t vps[] = {0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
                              0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09};
static const uint8_t sps[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                              0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0d, 0x88, 0x0f,
                              0x1c, 0x9e, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00,
                              0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x10};
static const uint8_t pps[] = {0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40};
static const uint8_t libav_header[22] = {0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00,
                                         0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc,
                                         0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f};

static void test_sps_fields(void **state) {
  (void)state;
  hevc_sps_t s;
  assert_int_equal(hevc_sps_parse(sps, sizeof(sps), &s), 0);
  assert_int_equal(s.width, 426);
  assert_int_equal(s.height, 240);
  assert_int_equal(s.profile_idc, 1); /* Main */
  assert_int_equal(s.level_idc, 60);  /* 2.0 */
  assert_int_equal(s.tier, 0);
  assert_int_equal(s.chroma_format_idc, 1);
  assert_int_equal(s.bit_depth_luma, 8);
  assert_int_equal(s.bit_depth_chroma, 8);
  assert_int_equal(s.max_sub_layers, 1);
  assert_int_equal(s.temporal_id_nesting, 1);
  assert_int_equal(s.compat_flags, 0x60000000u); /* Main and Main 10 compatible */
}

static void test_record_matches_libavformat(void **state) {
  (void)state;
  uint8_t *rec;
  size_t len;
  assert_int_equal(
      hevc_config_build(vps, sizeof(vps), sps, sizeof(sps), pps, sizeof(pps), &rec, &len), 0);
  assert_int_equal(len, 23 + 3 * 5 + sizeof(vps) + sizeof(sps) + sizeof(pps));
  assert_memory_equal(rec, libav_header, sizeof(libav_header));
  assert_int_equal(rec[22], 3);
  size_t o = 23;
  const uint8_t *units[] = {vps, sps, pps};
  const size_t lens[] = {sizeof(vps), sizeof(sps), sizeof(pps)};
  const uint8_t array_bytes[] = {0xa0, 0xa1, 0xa2}; /* complete, type 32/33/34 */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rec[o], array_bytes[i]);
    assert_int_equal(rec[o + 1] << 8 | rec[o + 2], 1);
    assert_int_equal(rec[o + 3] << 8 | rec[o + 4], lens[i]);
    assert_memory_equal(rec + o + 5, units[i], lens[i]);
    o += 5 + lens[i];
  }
  free(rec);
}

/* The multivariant playlist's CODECS for that record (RFC 6381 / ISO/IEC
 * 14496-15 Annex E): Main (1), compatibility flags reversed (6), level 60,
 * the constraint byte 0x90 (progressive, frame only). */
static void test_codecs_string(void **state) {
  (void)state;
  uint8_t *rec;
  size_t len;
  assert_int_equal(
      hevc_config_build(vps, sizeof(vps), sps, sizeof(sps), pps, sizeof(pps), &rec, &len), 0);
  static uint8_t asc[] = {0x12, 0x10}; /* AAC LC */
  media_config_t cfg = {.video_codec = CODEC_HEVC, .video_extradata = rec,
                        .video_extradata_len = len, .audio_codec = CODEC_AAC,
                        .audio_extradata = asc, .audio_extradata_len = sizeof(asc)};
  char codecs[64];
  assert_true(hls_codecs_string(&cfg, codecs, sizeof(codecs)) > 0);
  assert_string_equal(codecs, "hvc1.1.6.L60.90,mp4a.40.2");
  /* a buffer too small for the video codec: it is left out, not cut off
   * (found by fuzz_video_config; before, "hvc1.1.6.L6" stayed behind a
   * return of 0) */
  memset(codecs, 'x', sizeof(codecs));
  cfg.audio_codec = CODEC_NONE;
  assert_int_equal(hls_codecs_string(&cfg, codecs, 12), 0);
  assert_string_equal(codecs, "");
  cfg.audio_codec = CODEC_AAC;
  assert_int_equal(hls_codecs_string(&cfg, codecs, 12), 9);
  assert_string_equal(codecs, "mp4a.40.2");
  free(rec);
}

static void test_refuses_broken_input(void **state) {
  (void)state;
  uint8_t *rec = (uint8_t *)1;
  size_t len = 1;
  hevc_sps_t s;
  /* units in the wrong places, or missing */
  assert_int_equal(
      hevc_config_build(sps, sizeof(sps), vps, sizeof(vps), pps, sizeof(pps), &rec, &len),
      ERR_PROTOCOL);
  assert_null(rec);
  assert_int_equal(len, 0);
  assert_int_equal(hevc_config_build(vps, sizeof(vps), sps, sizeof(sps), NULL, 0, &rec, &len),
                   ERR_PROTOCOL);
  /* every truncation of the SPS fails cleanly */
  for (size_t n = 0; n < 22; n++) {
    assert_int_equal(hevc_sps_parse(sps, n, &s), ERR_PROTOCOL);
    assert_int_equal(
        hevc_config_build(vps, sizeof(vps), sps, n, pps, sizeof(pps), &rec, &len),
        ERR_PROTOCOL);
  }
  /* sps_max_sub_layers_minus1 = 7 is out of range */
  uint8_t bad[sizeof(sps)];
  for (size_t i = 0; i < sizeof(sps); i++) bad[i] = sps[i];
  bad[2] = 0x0f;
  assert_int_equal(hevc_sps_parse(bad, sizeof(bad), &s), ERR_PROTOCOL);
  /* all zeros after the header: a zero-sized picture */
  uint8_t zeros[40] = {0x42, 0x01};
  assert_int_equal(hevc_sps_parse(zeros, sizeof(zeros), &s), ERR_PROTOCOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sps_fields),
      cmocka_unit_test(test_record_matches_libavformat),
      cmocka_unit_test(test_codecs_string),
      cmocka_unit_test(test_refuses_broken_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
