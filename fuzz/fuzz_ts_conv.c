/* libFuzzer target: the HLS MPEG-TS conversions of publisher bytes
 * (media/hls/ts_conv.h), which the RTMP path reaches with whatever a
 * sequence header or a frame carries.
 *
 * Byte 0: bit 0 picks H.264 / HEVC, bit 1 the keyframe flag, bits 2-3 the
 * NAL length size (1..4) used when the record gives none; byte 1 splits
 * the rest into a decoder configuration record (avcC / hvcC, also read as
 * an AudioSpecificConfig) and one frame of length-prefixed NAL units.
 *
 * Asserts: a parsed ASC has a positive rate, a known frame size and a
 * 4-bit channel configuration; the record's parameter sets come out as
 * start-code-prefixed units no larger than the record allows; the access unit starts
 * with our AUD, holds every non-empty non-AUD unit of the frame exactly
 * (re-read independently here), the parameter sets only before a keyframe
 * that lacks its own, and its length is what was written. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/hls/ts_conv.h"

static void check_asc(const uint8_t *p, size_t n) {
  hls_asc_t a;
  int rc = hls_asc_parse(p, n, &a);
  if (rc == 0) {
    if (a.rate <= 0 || a.out_rate <= 0 || a.channels < 0 || a.channels > 15 || a.aot < 0 ||
        a.aot > 95 || a.sr_index < 0 || a.sr_index > 15 || (a.samples != 1024 && a.samples != 960))
      abort();
  } else if (rc != ERR_INVALID) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  media_codec_t codec = data[0] & 1 ? CODEC_HEVC : CODEC_H264;
  int keyframe = (data[0] >> 1) & 1;
  int nal_len = ((data[0] >> 2) & 3) + 1;
  size_t split = data[1];
  data += 2;
  size -= 2;
  if (split > size) split = size;
  const uint8_t *rec = data, *frame = data + split;
  size_t rec_len = split, frame_len = size - split;

  check_asc(rec, rec_len);
  check_asc(frame, frame_len);

  uint8_t *ps = NULL;
  size_t ps_len = 0;
  int rl = 0;
  int rc = hls_config_ps(codec, rec, rec_len, &rl, &ps, &ps_len);
  if (rc == 0) {
    if (rl < 1 || rl > 4) abort();
    nal_len = rl;
  } else if (rc != ERR_INVALID && rc != ERR_NOMEM) {
    abort();
  }
  /* ps is Annex B, and each unit (>= 1 byte) costs the record 2 bytes and ps 4 */
  if (ps_len && (ps_len < 5 || memcmp(ps, "\0\0\0\1", 4) != 0)) abort();
  if (ps_len > 2 * rec_len) abort();

  media_frame_t f = {0};
  f.kind = MEDIA_VIDEO;
  f.codec = codec;
  f.keyframe = keyframe;
  f.data = (uint8_t *)frame;
  f.len = frame_len;
  hls_conv_buf_t out = {0};
  size_t len = 7;
  rc = hls_annexb_au(codec, nal_len, ps, ps_len, &f, &out, &len);
  /* read the frame independently */
  const int hevc = codec == CODEC_HEVC;
  const int t_aud = hevc ? 35 : 9, t_sps = hevc ? 32 : 7;
  size_t off = 0, want = hevc ? 7 : 6;
  int ok = 1, has_ps = 0;
  while (off < frame_len) {
    if (frame_len - off < (size_t)nal_len) {
      ok = 0;
      break;
    }
    size_t n = 0;
    for (int i = 0; i < nal_len; i++) n = n << 8 | frame[off + i];
    off += (size_t)nal_len;
    if (n > frame_len - off) {
      ok = 0;
      break;
    }
    if (n) {
      int t = hevc ? (frame[off] >> 1) & 0x3f : frame[off] & 0x1f;
      if (t == t_sps) has_ps = 1;
      if (t != t_aud) want += 4 + n;
    }
    off += n;
  }
  if (!ok) {
    if (rc != ERR_PROTOCOL || len != 0) abort();
  } else if (rc == 0) {
    int add_ps = keyframe && !has_ps;
    if (add_ps) want += ps_len;
    if (len != want || len > out.cap) abort();
    if (memcmp(out.data, hevc ? "\0\0\0\1\x46\x01\x50" : "\0\0\0\1\x09\xf0", hevc ? 7 : 6) != 0)
      abort();
    size_t o = hevc ? 7 : 6;
    if (add_ps) {
      if (ps_len && memcmp(out.data + o, ps, ps_len) != 0) abort();
      o += ps_len;
    }
    /* the frame's units in order, each behind a start code */
    for (off = 0; off < frame_len;) {
      size_t n = 0;
      for (int i = 0; i < nal_len; i++) n = n << 8 | frame[off + i];
      off += (size_t)nal_len;
      if (n) {
        int t = hevc ? (frame[off] >> 1) & 0x3f : frame[off] & 0x1f;
        if (t != t_aud) {
          if (memcmp(out.data + o, "\0\0\0\1", 4) != 0 || memcmp(out.data + o + 4, frame + off, n))
            abort();
          o += 4 + n;
        }
      }
      off += n;
    }
    if (o != len) abort();
  } else if (rc != ERR_NOMEM) {
    abort();
  }
  /* the buffer is reused: a second frame into it gives the same bytes */
  if (rc == 0) {
    uint8_t *copy = malloc(len ? len : 1);
    if (copy) {
      memcpy(copy, out.data, len);
      size_t len2;
      if (hls_annexb_au(codec, nal_len, ps, ps_len, &f, &out, &len2) != 0 || len2 != len ||
          memcmp(copy, out.data, len) != 0)
        abort();
      free(copy);
    }
  }
  /* nal_len out of range is refused, not looped on */
  if (hls_annexb_au(codec, 0, ps, ps_len, &f, &out, &len) != ERR_INVALID) abort();
  if (hls_annexb_au(codec, 5, ps, ps_len, &f, &out, &len) != ERR_INVALID) abort();
  free(out.data);
  free(ps);
  return 0;
}
