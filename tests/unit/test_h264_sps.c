/* Picture size from real x264 SPS NAL units (4:4:4 High, 4:2:0 High with
 * 1080p cropping, Baseline 854x480), and refusal of broken ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_sps),
      cmocka_unit_test(test_broken_sps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
