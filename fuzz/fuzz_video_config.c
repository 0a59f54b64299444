/* libFuzzer target: video decoder configuration as a publisher sends it.
 * Byte 0 picks the codec (bit 0: H.264 / HEVC), the mode (bits 1-2) and
 * an output size for the CODECS string (bits 3-7); the rest is
 *  - mode 0: an RTMP sequence header body (avcC / hvcC) through
 *    media_video_config_size (what the RTMP server checks), then as the
 *    stream's extradata through hls_codecs_string (video and AAC);
 *  - mode 1: one SPS NAL unit through media_sps_size; for HEVC also
 *    hevc_sps_parse and hevc_config_build with a fixed VPS/PPS, for H.264
 *    avc_config_build with a fixed PPS;
 *  - modes 2-3: both of the above on the same bytes.
 * Asserts: a size is both positive or both 0, never one alone; a parsed
 * HEVC SPS has its fields in range; a built record parses back to the
 * same picture size (round trip through the RTMP path); the CODECS string
 * is NUL-terminated inside its buffer, its length is the one returned and
 * it holds only [A-Za-z0-9.,] (it goes inside a quoted playlist
 * attribute). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/avc_config.h"
#include "media/hevc_config.h"
#include "media/hls/multivariant.h"
#include "media/sps_size.h"

/* libx265's VPS and PPS for a 426x240 Main stream (tests/unit/test_hevc_config.c) */
static const uint8_t VPS[] = {0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
                              0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09};
static const uint8_t HEVC_PPS[] = {0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40};
static const uint8_t AVC_PPS[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};

static void check_size(int rc, int w, int h) {
  if (rc == 0 && (w <= 0 || h <= 0 || w > 16888 || h > 32768)) abort();
}

static void codecs(media_codec_t codec, const uint8_t *p, size_t n, size_t outlen) {
  media_config_t cfg = {0};
  cfg.video_codec = codec;
  cfg.video_extradata = (uint8_t *)p;
  cfg.video_extradata_len = n;
  cfg.audio_codec = n & 1 ? CODEC_AAC : CODEC_NONE;
  cfg.audio_extradata = n > 1 ? (uint8_t *)p + n / 2 : NULL;
  cfg.audio_extradata_len = n > 1 ? n - n / 2 : 0;
  char *out = malloc(outlen);
  if (!out) return;
  memset(out, 'x', outlen);
  size_t len = hls_codecs_string(&cfg, out, outlen);
  if (outlen) {
    if (!memchr(out, '\0', outlen) || strlen(out) != len || len >= outlen) abort();
    for (size_t i = 0; i < len; i++)
      if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,", out[i]))
        abort();
  } else if (len) {
    abort();
  }
  free(out);
}

static void record(media_codec_t codec, const uint8_t *p, size_t n, size_t outlen) {
  int w = -1, h = -1;
  int rc = media_video_config_size(codec, p, n, &w, &h);
  if (w < 0 || h < 0 || (w == 0) != (h == 0)) abort();
  (void)rc;
  codecs(codec, p, n, outlen);
  codecs(codec, p, n, 64); /* the callers' size: never truncated */
}

/* A built record must read back, through the RTMP server's check, to the
 * size the SPS alone gives. */
static void round_trip(media_codec_t codec, const uint8_t *rec, size_t len, int w, int h) {
  int rw, rh;
  if (media_video_config_size(codec, rec, len, &rw, &rh) != 0 || rw != w || rh != h) abort();
}

static void sps(media_codec_t codec, const uint8_t *p, size_t n) {
  int w = -1, h = -1;
  int rc = media_sps_size(codec, p, n, &w, &h);
  check_size(rc, w, h);
  uint8_t *rec;
  size_t len;
  if (codec == CODEC_HEVC) {
    hevc_sps_t s;
    int prc = hevc_sps_parse(p, n, &s);
    if (prc != rc) abort();
    if (prc == 0) {
      if (s.width != w || s.height != h || s.width > 16888 || s.height > 16888) abort();
      if (s.max_sub_layers < 1 || s.max_sub_layers > 7 || s.chroma_format_idc < 0 ||
          s.chroma_format_idc > 3 || s.bit_depth_luma < 8 || s.bit_depth_luma > 16 ||
          s.bit_depth_chroma < 8 || s.bit_depth_chroma > 16 || s.profile_idc > 31 ||
          s.profile_space > 3 || s.tier > 1)
        abort();
    }
    if (hevc_config_build(VPS, sizeof(VPS), p, n, HEVC_PPS, sizeof(HEVC_PPS), &rec, &len) == 0) {
      if (prc != 0) abort();
      round_trip(codec, rec, len, w, h);
      codecs(codec, rec, len, 64);
      free(rec);
    }
  } else if (avc_config_build(p, n, AVC_PPS, sizeof(AVC_PPS), &rec, &len) == 0) {
    /* the record is built from any 4+ bytes: only an SPS that parses has a size */
    round_trip(codec, rec, len, rc == 0 ? w : 0, rc == 0 ? h : 0);
    codecs(codec, rec, len, 64);
    free(rec);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  media_codec_t codec = sel & 1 ? CODEC_HEVC : CODEC_H264;
  int mode = (sel >> 1) & 3;
  size_t outlen = sel >> 3; /* 0..31: small buffers truncate */
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  if (mode != 1) record(codec, p, n, outlen);
  if (mode != 0) sps(codec, p, n);
  return 0;
}
