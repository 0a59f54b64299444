/* ts_conv.c — FLV-style configuration and frames as MPEG-TS wants them
 * (ts_conv.h). Moved out of mux.c unchanged, so that they can be fuzzed
 * without a muxer. */
#include "media/hls/ts_conv.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define RB16(p) ((size_t)(p)[0] << 8 | (p)[1])

/* ---- AudioSpecificConfig (ISO 14496-3 1.6.2.1) --------------------------- */

typedef struct {
  const uint8_t *p;
  size_t bits, pos;
} bits_t;

static int bits_get(bits_t *b, int n, unsigned *out) {
  if (b->pos + (size_t)n > b->bits) return -1;
  unsigned v = 0;
  for (int i = 0; i < n; i++, b->pos++)
    v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1);
  *out = v;
  return 0;
}

static const int aac_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000,  7350};

static int asc_rate(bits_t *b, int *index, int *rate) {
  unsigned v;
  if (bits_get(b, 4, &v)) return -1;
  *index = (int)v;
  if (v == 15) {
    if (bits_get(b, 24, &v)) return -1;
    *rate = (int)v;
  } else if (v < 13) {
    *rate = aac_rates[v];
  } else {
    return -1;
  }
  return *rate > 0 ? 0 : -1;
}

static int asc_aot(bits_t *b, int *aot) {
  unsigned v, ext;
  if (bits_get(b, 5, &v)) return -1;
  if (v == 31) {
    if (bits_get(b, 6, &ext)) return -1;
    v = 32 + ext;
  }
  *aot = (int)v;
  return 0;
}

int hls_asc_parse(const uint8_t *p, size_t len, hls_asc_t *a) {
  bits_t b = {p, len * 8, 0};
  unsigned v;
  int ext_index;
  memset(a, 0, sizeof(*a));
  if (!p || asc_aot(&b, &a->aot) || asc_rate(&b, &a->sr_index, &a->rate) ||
      bits_get(&b, 4, &v))
    return ERR_INVALID;
  a->channels = (int)v;
  a->out_rate = a->rate;
  if (a->aot == 5 || a->aot == 29) { /* explicit SBR (HE-AAC) / PS (HE-AACv2) */
    if (asc_rate(&b, &ext_index, &a->out_rate) || asc_aot(&b, &a->aot)) return ERR_INVALID;
  }
  a->samples = 1024;
  /* GASpecificConfig starts with frameLengthFlag for the GA object types. */
  if ((a->aot >= 1 && a->aot <= 4) || a->aot == 6 || a->aot == 7 || a->aot == 17 ||
      (a->aot >= 19 && a->aot <= 23)) {
    if (bits_get(&b, 1, &v) == 0 && v) a->samples = 960;
  }
  return 0;
}

/* ---- parameter sets (avcC / hvcC) to Annex B ------------------------------ */

static int ps_append(uint8_t **ps, size_t *pslen, const uint8_t *nal, size_t len) {
  uint8_t *n = realloc(*ps, *pslen + 4 + len);
  if (!n) return ERR_NOMEM;
  memcpy(n + *pslen, "\0\0\0\1", 4);
  memcpy(n + *pslen + 4, nal, len);
  *ps = n;
  *pslen += 4 + len;
  return 0;
}

/* Reads `count` 16-bit-length-prefixed NAL units at p[*off]. */
static int ps_read_nals(const uint8_t *p, size_t len, size_t *off, unsigned count, uint8_t **ps,
                        size_t *pslen) {
  for (unsigned i = 0; i < count; i++) {
    if (*off + 2 > len) return ERR_INVALID;
    size_t n = RB16(p + *off);
    *off += 2;
    if (*off + n > len) return ERR_INVALID;
    if (n && ps_append(ps, pslen, p + *off, n)) return ERR_NOMEM;
    *off += n;
  }
  return 0;
}

/* AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1). */
static int avcc_parse(const uint8_t *p, size_t len, int *nal_len, uint8_t **ps, size_t *pslen) {
  if (!p || len < 7 || p[0] != 1) return ERR_INVALID;
  *nal_len = (p[4] & 3) + 1;
  size_t off = 6;
  int rc = ps_read_nals(p, len, &off, p[5] & 0x1f, ps, pslen);
  if (rc) return rc;
  if (off + 1 > len) return ERR_INVALID;
  unsigned npps = p[off++];
  return ps_read_nals(p, len, &off, npps, ps, pslen);
}

/* HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1). */
static int hvcc_parse(const uint8_t *p, size_t len, int *nal_len, uint8_t **ps, size_t *pslen) {
  if (!p || len < 23) return ERR_INVALID;
  *nal_len = (p[21] & 3) + 1;
  unsigned arrays = p[22];
  size_t off = 23;
  for (unsigned i = 0; i < arrays; i++) {
    if (off + 3 > len) return ERR_INVALID;
    unsigned count = (unsigned)RB16(p + off + 1);
    off += 3;
    int rc = ps_read_nals(p, len, &off, count, ps, pslen);
    if (rc) return rc;
  }
  return 0;
}

int hls_config_ps(media_codec_t codec, const uint8_t *rec, size_t len, int *nal_len, uint8_t **ps,
                  size_t *pslen) {
  if (codec == CODEC_HEVC) return hvcc_parse(rec, len, nal_len, ps, pslen);
  if (codec == CODEC_H264) return avcc_parse(rec, len, nal_len, ps, pslen);
  return ERR_INVALID;
}

/* ---- length-prefixed access units to Annex B ------------------------------ */

int hls_conv_reserve(hls_conv_buf_t *b, size_t n) {
  if (n <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64 * 1024;
  while (cap < n) cap *= 2;
  uint8_t *c = realloc(b->data, cap);
  if (!c) return ERR_NOMEM;
  b->data = c;
  b->cap = cap;
  return 0;
}

/* AUD, parameter sets before a keyframe that lacks them, then the frame's
 * NAL units (its own AUDs are dropped so ours stays first). */
int hls_annexb_au(media_codec_t codec, int nal_len, const uint8_t *ps, size_t ps_len,
                  const media_frame_t *f, hls_conv_buf_t *out, size_t *outlen) {
  *outlen = 0;
  if (nal_len < 1 || nal_len > 4) return ERR_INVALID;
  const int hevc = codec == CODEC_HEVC;
  const int t_aud = hevc ? 35 : 9, t_sps = hevc ? 32 : 7; /* HEVC: VPS comes first */
  const size_t L = (size_t)nal_len;
  size_t size = hevc ? 7 : 6, off = 0;
  int has_ps = 0;
  while (off < f->len) { /* pass 1: validate and size */
    if (off + L > f->len) return ERR_PROTOCOL;
    size_t n = 0;
    for (size_t i = 0; i < L; i++) n = (n << 8) | f->data[off + i];
    off += L;
    if (n > f->len - off) return ERR_PROTOCOL;
    if (n) {
      int t = media_nal_type(codec, f->data[off]);
      if (t == t_sps) has_ps = 1;
      if (t != t_aud) size += 4 + n;
    }
    off += n;
  }
  int add_ps = f->keyframe && !has_ps;
  if (add_ps) size += ps_len;
  if (hls_conv_reserve(out, size)) return ERR_NOMEM;
  uint8_t *o = out->data;
  if (hevc) {
    memcpy(o, "\0\0\0\1\x46\x01\x50", 7); /* AUD, pic_type 2 (any) */
    o += 7;
  } else {
    memcpy(o, "\0\0\0\1\x09\xf0", 6); /* AUD, primary_pic_type 7 (any) */
    o += 6;
  }
  if (add_ps && ps_len) {
    memcpy(o, ps, ps_len);
    o += ps_len;
  }
  for (off = 0; off < f->len;) { /* pass 2: copy */
    size_t n = 0;
    for (size_t i = 0; i < L; i++) n = (n << 8) | f->data[off + i];
    off += L;
    if (n && media_nal_type(codec, f->data[off]) != t_aud) {
      memcpy(o, "\0\0\0\1", 4);
      memcpy(o + 4, f->data + off, n);
      o += 4 + n;
    }
    off += n;
  }
  *outlen = (size_t)(o - out->data);
  return 0;
}
