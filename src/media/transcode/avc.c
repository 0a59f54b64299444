/* avc.c — Annex B ↔ AVCC (avc.h). */
#include "media/transcode/avc.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/avc_config.h"

/* The next NAL unit at or after *pos: its start and length (start codes
 * and trailing zero bytes excluded). 0 when there is none. */
static int next_nal(const uint8_t *p, size_t len, size_t *pos, const uint8_t **nal, size_t *nlen) {
  size_t i = *pos;
  while (i + 3 <= len && !(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)) i++;
  if (i + 3 > len) return 0;
  size_t start = i + 3, j = start;
  while (j + 3 <= len && !(p[j] == 0 && p[j + 1] == 0 && (p[j + 2] == 1 || p[j + 2] == 0))) j++;
  if (j + 3 > len) j = len;
  size_t end = j;
  while (end > start && p[end - 1] == 0) end--; /* trailing_zero_8bits / a 4-byte start code */
  *nal = p + start;
  *nlen = end - start;
  *pos = j;
  return 1;
}

size_t avc_avcc_size(const uint8_t *annexb, size_t len) {
  size_t pos = 0, n = 0, nlen;
  const uint8_t *nal;
  while (next_nal(annexb, len, &pos, &nal, &nlen))
    if (nlen) n += 4 + nlen;
  return n;
}

size_t avc_annexb_to_avcc(const uint8_t *annexb, size_t len, uint8_t *out) {
  size_t pos = 0, o = 0, nlen;
  const uint8_t *nal;
  while (next_nal(annexb, len, &pos, &nal, &nlen)) {
    if (!nlen) continue;
    out[o++] = (uint8_t)(nlen >> 24);
    out[o++] = (uint8_t)(nlen >> 16);
    out[o++] = (uint8_t)(nlen >> 8);
    out[o++] = (uint8_t)nlen;
    memcpy(out + o, nal, nlen);
    o += nlen;
  }
  return o;
}

int avc_config_from_annexb(const uint8_t *annexb, size_t len, uint8_t **out, size_t *outlen) {
  const uint8_t *sps = NULL, *pps = NULL, *nal;
  size_t sps_len = 0, pps_len = 0, nlen, pos = 0;
  while (next_nal(annexb, len, &pos, &nal, &nlen)) {
    if (nlen < 1 || nlen > 0xffff) continue;
    int type = nal[0] & 0x1f;
    if (type == 7 && !sps && nlen >= 4) sps = nal, sps_len = nlen;
    if (type == 8 && !pps) pps = nal, pps_len = nlen;
  }
  if (!sps || !pps) return ERR_INVALID;
  return avc_config_build(sps, sps_len, pps, pps_len, out, outlen);
}
