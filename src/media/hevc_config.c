/* hevc_config.c — HEVC SPS fields and the hvcC record (hevc_config.h). */
#include "media/hevc_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/rbsp.h"

int hevc_sps_parse(const uint8_t *sps, size_t len, hevc_sps_t *o) {
  memset(o, 0, sizeof(*o));
  if (!sps || len < 3 || hevc_nal_type(sps) != HEVC_NAL_SPS) return ERR_PROTOCOL;
  rbsp_bits_t b = {.p = sps + 2, .len = len - 2, .bit = 7};
  rbsp_bits(&b, 4); /* sps_video_parameter_set_id */
  int sub_layers_minus1 = (int)rbsp_bits(&b, 3);
  if (sub_layers_minus1 > 6) return ERR_PROTOCOL;
  o->max_sub_layers = sub_layers_minus1 + 1;
  o->temporal_id_nesting = rbsp_bit(&b);
  /* profile_tier_level(1, sps_max_sub_layers_minus1), §7.3.3 */
  o->profile_space = (int)rbsp_bits(&b, 2);
  o->tier = rbsp_bit(&b);
  o->profile_idc = (int)rbsp_bits(&b, 5);
  o->compat_flags = rbsp_bits(&b, 32);
  for (int i = 0; i < 6; i++) o->constraint[i] = (uint8_t)rbsp_bits(&b, 8);
  o->level_idc = (int)rbsp_bits(&b, 8);
  int profile_present[7] = {0}, level_present[7] = {0};
  for (int i = 0; i < sub_layers_minus1; i++) {
    profile_present[i] = rbsp_bit(&b);
    level_present[i] = rbsp_bit(&b);
  }
  if (sub_layers_minus1 > 0)
    for (int i = sub_layers_minus1; i < 8; i++) rbsp_bits(&b, 2); /* reserved_zero_2bits */
  for (int i = 0; i < sub_layers_minus1; i++) {
    if (profile_present[i]) { /* 88 bits of sub-layer profile */
      rbsp_bits(&b, 32);
      rbsp_bits(&b, 32);
      rbsp_bits(&b, 24);
    }
    if (level_present[i]) rbsp_bits(&b, 8);
  }
  if (rbsp_ue(&b) > 15) return ERR_PROTOCOL; /* sps_seq_parameter_set_id */
  uint32_t chroma = rbsp_ue(&b);
  if (chroma > 3) return ERR_PROTOCOL;
  int separate_colour = chroma == 3 ? rbsp_bit(&b) : 0;
  uint32_t w = rbsp_ue(&b), h = rbsp_ue(&b);
  uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
  if (rbsp_bit(&b)) { /* conformance_window_flag */
    crop_l = rbsp_ue(&b);
    crop_r = rbsp_ue(&b);
    crop_t = rbsp_ue(&b);
    crop_b = rbsp_ue(&b);
  }
  uint32_t luma8 = rbsp_ue(&b), chroma8 = rbsp_ue(&b);
  if (b.error || luma8 > 8 || chroma8 > 8 || w == 0 || h == 0 || w > 16888 || h > 16888)
    return ERR_PROTOCOL;
  /* the conformance window is in chroma units (Table 6-1) */
  uint32_t sub_w = (chroma == 1 || chroma == 2) && !separate_colour ? 2 : 1;
  uint32_t sub_h = chroma == 1 && !separate_colour ? 2 : 1;
  if ((uint64_t)(crop_l + (uint64_t)crop_r) * sub_w >= w ||
      (uint64_t)(crop_t + (uint64_t)crop_b) * sub_h >= h)
    return ERR_PROTOCOL;
  o->chroma_format_idc = (int)chroma;
  o->bit_depth_luma = (int)luma8 + 8;
  o->bit_depth_chroma = (int)chroma8 + 8;
  o->width = (int)(w - (crop_l + crop_r) * sub_w);
  o->height = (int)(h - (crop_t + crop_b) * sub_h);
  return 0;
}

int hevc_config_build(const uint8_t *vps, size_t vps_len, const uint8_t *sps, size_t sps_len,
                      const uint8_t *pps, size_t pps_len, uint8_t **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  const uint8_t *units[3] = {vps, sps, pps};
  const size_t lens[3] = {vps_len, sps_len, pps_len};
  const int types[3] = {HEVC_NAL_VPS, HEVC_NAL_SPS, HEVC_NAL_PPS};
  size_t n = 23;
  for (int i = 0; i < 3; i++) {
    if (!units[i] || lens[i] < 2 || lens[i] > 0xffff || hevc_nal_type(units[i]) != types[i])
      return ERR_PROTOCOL;
    n += 3 + 2 + lens[i];
  }
  hevc_sps_t s;
  if (hevc_sps_parse(sps, sps_len, &s) != 0) return ERR_PROTOCOL;
  /* hvcC holds bit depths 8..15 in 3 bits; H.265 allows 16 (Main 16 RExt) */
  if (s.bit_depth_luma > 15 || s.bit_depth_chroma > 15) return ERR_PROTOCOL;
  uint8_t *r = malloc(n);
  if (!r) return ERR_NOMEM;
  r[0] = 1; /* configurationVersion */
  r[1] = (uint8_t)(s.profile_space << 6 | s.tier << 5 | s.profile_idc);
  r[2] = (uint8_t)(s.compat_flags >> 24);
  r[3] = (uint8_t)(s.compat_flags >> 16);
  r[4] = (uint8_t)(s.compat_flags >> 8);
  r[5] = (uint8_t)s.compat_flags;
  memcpy(r + 6, s.constraint, 6);
  r[12] = (uint8_t)s.level_idc;
  r[13] = 0xf0; /* reserved + min_spatial_segmentation_idc 0 (unknown) */
  r[14] = 0x00;
  r[15] = 0xfc; /* reserved + parallelismType 0 (unknown) */
  r[16] = (uint8_t)(0xfc | s.chroma_format_idc);
  r[17] = (uint8_t)(0xf8 | (s.bit_depth_luma - 8));
  r[18] = (uint8_t)(0xf8 | (s.bit_depth_chroma - 8));
  r[19] = r[20] = 0; /* avgFrameRate unknown */
  /* constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3 */
  r[21] = (uint8_t)(s.max_sub_layers << 3 | s.temporal_id_nesting << 2 | 3);
  r[22] = 3; /* numOfArrays */
  size_t o = 23;
  for (int i = 0; i < 3; i++) {
    r[o++] = (uint8_t)(0x80 | types[i]); /* array_completeness 1: all of them are here */
    r[o++] = 0;
    r[o++] = 1; /* numNalus */
    r[o++] = (uint8_t)(lens[i] >> 8);
    r[o++] = (uint8_t)lens[i];
    memcpy(r + o, units[i], lens[i]);
    o += lens[i];
  }
  *out = r;
  *outlen = n;
  return 0;
}
