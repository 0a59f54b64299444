/* Picture size from real x264 SPS NAL units (4:4:4 High, 4:2:0 High with
 * 1080p cropping, Baseline 854x480), and refusal of broken ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "media/h264_sps.h"

static const uint8_t sps_444_640x360[] = {0x67, 0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28, 0x14, 0x05,
                                          0xff, 0x13, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00, 0x08,
                                          0x00, 0x00, 0x03, 0x01, 0xe0, 0x78, 0xb1, 0x6c, 0xb0};
static const uint8_t sps_444_1920x1080[] = {0x67, 0xf4, 0x00, 0x28, 0x91, 0x9b, 0x28, 0x0f, 0x00,
                                            0x44, 0xfc, 0x4e, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00,
                                            0x20, 0x00, 0x00, 0x07, 0x81, 0xe3, 0x06, 0x32, 0xc0};
static const uint8_t sps_444_320x240[] = {0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f,
                                          0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00,
                                          0x03, 0x00, 0x78, 0x1e, 0x28, 0x53, 0x2c};
static const uint8_t sps_420_1920x1080[] = {0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02,
                                            0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04,
                                            0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58};
static const uint8_t sps_base_854x480[] = {0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xd8, 0x3d, 0xe6,
                                           0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
                                           0x03, 0x00, 0x3c, 0x0f, 0x18, 0x32, 0x48};

static void expect(const uint8_t *sps, size_t len, int w, int h) {
  int gw = 0, gh = 0;
  assert_int_equal(h264_sps_dimensions(sps, len, &gw, &gh), 0);
  assert_int_equal(gw, w);
  assert_int_equal(gh, h);
}

static void test_real_sps(void **state) {
  (void)state;
  expect(sps_444_640x360, sizeof(sps_444_640x360), 640, 360);
  expect(sps_444_1920x1080, sizeof(sps_444_1920x1080), 1920, 1080);
  expect(sps_444_320x240, sizeof(sps_444_320x240), 320, 240);
  expect(sps_420_1920x1080, sizeof(sps_420_1920x1080), 1920, 1080);
  expect(sps_base_854x480, sizeof(sps_base_854x480), 854, 480);
}

static void test_broken_sps(void **state) {
  (void)state;
  int w, h;
  /* not an SPS, too short, truncated at every length */
  const uint8_t pps[] = {0x68, 0xeb, 0xe3, 0xcb};
  assert_int_equal(h264_sps_dimensions(pps, sizeof(pps), &w, &h), ERR_PROTOCOL);
  assert_int_equal(h264_sps_dimensions(sps_base_854x480, 3, &w, &h), ERR_PROTOCOL);
  for (size_t n = 4; n < 9; n++)
    assert_int_equal(h264_sps_dimensions(sps_420_1920x1080, n, &w, &h), ERR_PROTOCOL);
  /* a long run of zero bits: an Exp-Golomb code that never ends */
  uint8_t zeros[40] = {0x67, 0x42, 0xc0, 0x1f};
  assert_int_equal(h264_sps_dimensions(zeros, sizeof(zeros), &w, &h), ERR_PROTOCOL);
  /* High profile with a scaling list whose delta_scale is 2^31 - 1 (the
   * spec allows -128..127): refused, with no int overflow on the way */
  const uint8_t huge_delta[] = {0x67, 0x64, 0x00, 0x1f, 0xad, 0x80, 0x00, 0x00,
                                0x03, 0x00, 0xff, 0xff, 0xff, 0xfe, 0xff};
  assert_int_equal(h264_sps_dimensions(huge_delta, sizeof(huge_delta), &w, &h), ERR_PROTOCOL);
}

/* ---- a tiny SPS writer, for values no encoder would write ---- */

typedef struct {
  uint8_t rbsp[64];
  size_t bits;
} bitw_t;

static void put_bits(bitw_t *w, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, w->bits++)
    if (v >> i & 1) w->rbsp[w->bits / 8] |= (uint8_t)(0x80 >> (w->bits % 8));
}

static void put_ue(bitw_t *w, uint64_t v) { /* Exp-Golomb: lz zeros, then v + 1 in lz + 1 bits */
  int lz = 0;
  while ((v + 1) >> (lz + 1)) lz++;
  put_bits(w, 0, lz);
  put_bits(w, v + 1, lz + 1);
}

/* The RBSP as a NAL unit: emulation prevention bytes inserted (7.4.1). */
static size_t to_nal(const bitw_t *w, uint8_t *out) {
  size_t n = 0, zeros = 0, len = (w->bits + 8) / 8; /* + the stop bit's byte */
  for (size_t i = 0; i < len; i++) {
    uint8_t b = i == w->bits / 8 ? w->rbsp[i] | (uint8_t)(0x80 >> (w->bits % 8)) : w->rbsp[i];
    if (zeros >= 2 && b <= 3) {
      out[n++] = 3;
      zeros = 0;
    }
    out[n++] = b;
    zeros = b ? 0 : zeros + 1;
  }
  return n;
}

/* A Baseline 640x368 SPS (40 x 23 macroblocks) with these cropping
 * offsets, as a NAL unit in nal; its length. */
static size_t sps_with_crop(uint64_t left, uint64_t right, uint64_t top, uint64_t bottom,
                            uint8_t *nal) {
  bitw_t w = {{0}, 0};
  put_bits(&w, 0x67, 8); /* NAL header: SPS */
  put_bits(&w, 66, 8);   /* Baseline */
  put_bits(&w, 0xc0, 8); /* constraint flags */
  put_bits(&w, 30, 8);   /* level 3.0 */
  put_ue(&w, 0);         /* seq_parameter_set_id */
  put_ue(&w, 0);         /* log2_max_frame_num_minus4 */
  put_ue(&w, 2);         /* pic_order_cnt_type */
  put_ue(&w, 1);         /* max_num_ref_frames */
  put_bits(&w, 0, 1);    /* gaps_in_frame_num_value_allowed_flag */
  put_ue(&w, 39);        /* pic_width_in_mbs_minus1 */
  put_ue(&w, 22);        /* pic_height_in_map_units_minus1 */
  put_bits(&w, 1, 1);    /* frame_mbs_only_flag */
  put_bits(&w, 1, 1);    /* direct_8x8_inference_flag */
  put_bits(&w, 1, 1);    /* frame_cropping_flag; offsets in units of 2 (4:2:0) */
  put_ue(&w, left);
  put_ue(&w, right);
  put_ue(&w, top);
  put_ue(&w, bottom);
  put_bits(&w, 0, 1); /* vui_parameters_present_flag */
  return to_nal(&w, nal);
}

/* Cropping offsets whose sum is 2^32: in 32 bits it wrapped to 0, and the
 * picture passed as 640 wide with 2^33 columns cropped. */
static void test_crop_overflow(void **state) {
  (void)state;
  uint8_t nal[96];
  int w, h;
  expect(nal, sps_with_crop(0, 0, 0, 4, nal), 640, 360); /* the writer is right */
  size_t len = sps_with_crop(0x80000000u, 0x80000000u, 0, 4, nal);
  assert_int_equal(h264_sps_dimensions(nal, len, &w, &h), ERR_PROTOCOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_sps),
      cmocka_unit_test(test_broken_sps),
      cmocka_unit_test(test_crop_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
