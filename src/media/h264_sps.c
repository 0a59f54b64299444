#include "media/h264_sps.h"

#include "core/err.h"
#include "media/rbsp.h"

static void skip_scaling_list(rbsp_bits_t *b, int size) {
  int last = 8, next = 8;
  for (int j = 0; j < size && !b->error; j++) {
    if (next != 0) {
      int32_t delta = rbsp_se(b); /* delta_scale: -128..127 (7.4.2.1.1.1) */
      if (delta < -128 || delta > 127) {
        b->error = 1;
        return;
      }
      next = (last + delta + 256) % 256;
    }
    last = next == 0 ? last : next;
  }
}

int h264_sps_dimensions(const uint8_t *sps, size_t len, int *width, int *height) {
  if (len < 4 || (sps[0] & 0x1f) != 7) return ERR_PROTOCOL;
  rbsp_bits_t b = {.p = sps + 1, .len = len - 1, .bit = 7};
  uint32_t profile = rbsp_bits(&b, 8);
  rbsp_bits(&b, 16); /* constraint flags, level */
  rbsp_ue(&b);       /* seq_parameter_set_id */
  uint32_t chroma_format = 1;
  int separate_colour = 0;
  if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
      profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 ||
      profile == 139 || profile == 134 || profile == 135) {
    chroma_format = rbsp_ue(&b);
    if (chroma_format > 3) return ERR_PROTOCOL;
    if (chroma_format == 3) separate_colour = rbsp_bit(&b);
    rbsp_ue(&b);   /* bit_depth_luma_minus8 */
    rbsp_ue(&b);   /* bit_depth_chroma_minus8 */
    rbsp_bit(&b);  /* qpprime_y_zero_transform_bypass_flag */
    if (rbsp_bit(&b)) { /* seq_scaling_matrix_present_flag */
      for (int i = 0; i < (chroma_format != 3 ? 8 : 12) && !b.error; i++)
        if (rbsp_bit(&b)) skip_scaling_list(&b, i < 6 ? 16 : 64);
    }
  }
  rbsp_ue(&b); /* log2_max_frame_num_minus4 */
  uint32_t poc_type = rbsp_ue(&b);
  if (poc_type == 0) {
    rbsp_ue(&b);
  } else if (poc_type == 1) {
    rbsp_bit(&b);
    rbsp_se(&b);
    rbsp_se(&b);
    uint32_t n = rbsp_ue(&b);
    if (n > 255) return ERR_PROTOCOL;
    for (uint32_t i = 0; i < n && !b.error; i++) rbsp_se(&b);
  } else if (poc_type != 2) {
    return ERR_PROTOCOL;
  }
  rbsp_ue(&b);  /* max_num_ref_frames */
  rbsp_bit(&b); /* gaps_in_frame_num_value_allowed_flag */
  uint32_t w_mbs = rbsp_ue(&b) + 1;
  uint32_t h_units = rbsp_ue(&b) + 1;
  int frame_mbs_only = rbsp_bit(&b);
  if (!frame_mbs_only) rbsp_bit(&b); /* mb_adaptive_frame_field_flag */
  rbsp_bit(&b);                      /* direct_8x8_inference_flag */
  uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
  if (rbsp_bit(&b)) {
    crop_l = rbsp_ue(&b);
    crop_r = rbsp_ue(&b);
    crop_t = rbsp_ue(&b);
    crop_b = rbsp_ue(&b);
  }
  if (b.error || w_mbs > 1024 || h_units > 1024) return ERR_PROTOCOL;
  /* crop units depend on chroma subsampling (Table 6-1) */
  uint32_t sub_w = (chroma_format == 1 || chroma_format == 2) && !separate_colour ? 2 : 1;
  uint32_t sub_h = chroma_format == 1 && !separate_colour ? 2 : 1;
  uint32_t crop_x = chroma_format == 0 || separate_colour ? 1 : sub_w;
  uint32_t crop_y = (chroma_format == 0 || separate_colour ? 1 : sub_h) * (2 - (uint32_t)frame_mbs_only);
  uint32_t w = w_mbs * 16, h = h_units * 16 * (2 - (uint32_t)frame_mbs_only);
  /* 64-bit: crop values are up to 2^32 - 2 each, and a sum that wrapped
   * in 32 bits would pass the check and give a wrong (positive) size. */
  uint64_t cut_w = ((uint64_t)crop_l + crop_r) * crop_x, cut_h = ((uint64_t)crop_t + crop_b) * crop_y;
  if (cut_w >= w || cut_h >= h) return ERR_PROTOCOL;
  *width = (int)(w - cut_w);
  *height = (int)(h - cut_h);
  return 0;
}
