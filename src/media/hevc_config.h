/* hevc_config.h — the HEVC decoder configuration an MPEG-TS source does not
 * carry: an HEVCDecoderConfigurationRecord ('hvcC', ISO/IEC 14496-15
 * §8.3.3.1) built from in-band VPS/SPS/PPS NAL units, the form the hub,
 * the fMP4 packager, recordings and Enhanced RTMP simulcast all expect.
 * The fields come from the SPS (ITU-T H.265 §7.3.2.2). Bounds-checked;
 * peer input. */
#ifndef ONAIR_HEVC_CONFIG_H
#define ONAIR_HEVC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* NAL unit types (H.265 Table 7-1) the ingest paths look for. */
enum {
  HEVC_NAL_IRAP_FIRST = 16, /* BLA_W_LP … */
  HEVC_NAL_IRAP_LAST = 23,  /* … RSV_IRAP_VCL23: a random access point */
  HEVC_NAL_VPS = 32,
  HEVC_NAL_SPS = 33,
  HEVC_NAL_PPS = 34,
  HEVC_NAL_AUD = 35,
};

/* The type and the layer (nuh_layer_id; 0 = base) of the NAL unit whose
 * 2-byte header starts at nal[0]. */
static inline int hevc_nal_type(const uint8_t *nal) { return (nal[0] >> 1) & 0x3f; }
static inline int hevc_nal_layer(const uint8_t *nal) { return (nal[0] & 1) << 5 | nal[1] >> 3; }

typedef struct {
  int profile_space, tier, profile_idc;
  uint32_t compat_flags;    /* general_profile_compatibility_flag[32] */
  uint8_t constraint[6];    /* the 48 general constraint indicator bits */
  int level_idc;
  int max_sub_layers;       /* sps_max_sub_layers_minus1 + 1 */
  int temporal_id_nesting;
  int chroma_format_idc;
  int bit_depth_luma, bit_depth_chroma;
  int width, height;        /* after the conformance window */
} hevc_sps_t;

/* Parses one SPS NAL unit (2-byte header, emulation prevention bytes still
 * in). 0 or ERR_PROTOCOL. */
int hevc_sps_parse(const uint8_t *sps, size_t len, hevc_sps_t *out);

/* An HEVCDecoderConfigurationRecord (4-byte NAL lengths, one VPS, SPS and
 * PPS, each array marked complete) from the three NAL units; *out is
 * malloc'd. 0, ERR_PROTOCOL (a unit of the wrong type, too long, an SPS
 * that does not parse, or 16-bit samples, which hvcC cannot describe) or
 * ERR_NOMEM. */
int hevc_config_build(const uint8_t *vps, size_t vps_len, const uint8_t *sps, size_t sps_len,
                      const uint8_t *pps, size_t pps_len, uint8_t **out, size_t *outlen);

#endif
