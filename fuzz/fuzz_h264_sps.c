/* libFuzzer: the H.264 SPS size parser on arbitrary NAL units. */
#include <stddef.h>
#include <stdint.h>

#include "media/h264_sps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int w, h;
  if (h264_sps_dimensions(data, size, &w, &h) == 0 && (w <= 0 || h <= 0)) __builtin_trap();
  return 0;
}
