/* avc_config.c — AVCDecoderConfigurationRecord from an SPS and a PPS. */
#include "media/avc_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int avc_config_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                     uint8_t **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  if (!sps || sps_len < 4 || sps_len > 0xffff || !pps || pps_len == 0 || pps_len > 0xffff)
    return ERR_INVALID;
  size_t n = 6 + 2 + sps_len + 1 + 2 + pps_len;
  uint8_t *b = malloc(n);
  if (!b) return ERR_NOMEM;
  size_t o = 0;
  b[o++] = 1;      /* configurationVersion */
  b[o++] = sps[1]; /* AVCProfileIndication */
  b[o++] = sps[2]; /* profile_compatibility */
  b[o++] = sps[3]; /* AVCLevelIndication */
  b[o++] = 0xff;   /* 6 reserved bits + lengthSizeMinusOne = 3 */
  b[o++] = 0xe1;   /* 3 reserved bits + one SPS */
  b[o++] = (uint8_t)(sps_len >> 8);
  b[o++] = (uint8_t)sps_len;
  memcpy(b + o, sps, sps_len);
  o += sps_len;
  b[o++] = 1; /* one PPS */
  b[o++] = (uint8_t)(pps_len >> 8);
  b[o++] = (uint8_t)pps_len;
  memcpy(b + o, pps, pps_len);
  *out = b;
  *outlen = n;
  return 0;
}
