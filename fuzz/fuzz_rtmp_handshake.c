/* libFuzzer target: the server side of the RTMP handshake
 * (media/rtmp/handshake.h) on arbitrary C0/C1/C2 bytes.
 *
 * Input: byte 0 holds flags (bit 0: give C1 a valid Flash Player digest at
 * the scheme of bit 1, so the digest branch is reached; the digest offset
 * is computed from client bytes), bytes 1..4 the piece sizes; the rest is
 * the client's byte stream. It is fed whole and in pieces.
 *
 * Asserts: both feeds agree (result, state, flavour; bytes consumed unless
 * it failed);
 * consumed never exceeds what was given and stops exactly after C2; a C0
 * other than 3 fails; S0+S1+S2 (3073 bytes) is handed out exactly once,
 * as soon as C0+C1 are in; a signed C1 gives a digest handshake whose S1
 * carries a valid FMS digest and whose S2 is keyed with C1's digest; an
 * unsigned one gives S2 == C1. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "media/rtmp/handshake.h"

#define HS RTMP_HANDSHAKE_SIZE
#define C0C1 (1 + HS)
#define ALL (1 + 2 * HS)

typedef struct {
  int rc;
  rtmp_handshake_state_t state;
  size_t consumed;
  int digest;
  uint8_t out[1 + 2 * HS];
  size_t out_len;
} result_t;

static void run(const uint8_t *data, size_t size, const uint8_t *splits, size_t nsplits,
                result_t *r) {
  memset(r, 0, sizeof(*r));
  rtmp_handshake_t *hs = rtmp_handshake_new();
  if (!hs) abort();
  size_t off = 0, k = 0;
  int rc = 0;
  while (off < size) {
    size_t n = nsplits ? (size_t)splits[k++ % nsplits] * 8 + 1 : size - off;
    if (n > size - off) n = size - off;
    size_t used = (size_t)-1;
    rc = rtmp_handshake_feed(hs, data + off, n, &used);
    if (used > n) abort();
    off += used;
    size_t olen;
    const uint8_t *o = rtmp_handshake_take_output(hs, &olen);
    if (olen) {
      if (!o || r->out_len || olen != sizeof(r->out)) abort(); /* once, whole */
      if (off < C0C1) abort();                                   /* not before C1 */
      memcpy(r->out, o, olen);
      r->out_len = olen;
    }
    if (rtmp_handshake_take_output(hs, &olen) || olen) abort(); /* each byte once */
    if (rc != 0) break;
    if (rtmp_handshake_state(hs) == RTMP_HS_DONE) break;
    if (used < n) abort(); /* only DONE or an error leaves bytes unconsumed */
  }
  r->rc = rc;
  r->state = rtmp_handshake_state(hs);
  r->consumed = off;
  r->digest = rtmp_handshake_is_digest(hs);
  if (r->state == RTMP_HS_DONE) {
    size_t used = 1;
    if (rtmp_handshake_feed(hs, data, size, &used) != 0 || used != 0) abort();
  }
  rtmp_handshake_free(hs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  uint8_t flags = data[0];
  const uint8_t *splits = data + 1;
  data += 5;
  size -= 5;
  uint8_t *in = malloc(size ? size : 1);
  if (!in) return 0;
  memcpy(in, data, size);
  int signed_c1 = (flags & 1) && size >= C0C1;
  int scheme = (flags >> 1) & 1;
  if (signed_c1) {
    uint8_t *c1 = in + 1;
    if (memcmp(c1 + 4, "\0\0\0\0", 4) == 0) c1[4] = 9; /* version 0 means plain */
    size_t off = rtmp_handshake_digest_offset(c1, scheme);
    if (off < 8 || off + 32 > HS) abort();
    rtmp_handshake_digest(c1, off, rtmp_handshake_fp_key, 30, c1 + off);
  }

  result_t a, b;
  run(in, size, NULL, 0, &a);
  run(in, size, splits, 4, &b);
  if (a.rc != b.rc || a.state != b.state || a.digest != b.digest || a.out_len != b.out_len)
    abort();
  if (a.rc == 0 && a.consumed != b.consumed) abort(); /* a failing feed may take its piece */

  if (size >= 1 && in[0] != RTMP_VERSION) {
    if (a.rc != ERR_PROTOCOL || a.state != RTMP_HS_FAILED || a.out_len) abort();
  } else if (size < C0C1) {
    if (a.rc || a.state != RTMP_HS_WAIT_C0C1 || a.consumed != size || a.out_len) abort();
  } else if (a.rc == ERR_INTERNAL) {
    /* no randomness: nothing to check */
  } else {
    if (a.rc || a.out_len != ALL) abort();
    if (size < ALL && (a.state != RTMP_HS_WAIT_C2 || a.consumed != size)) abort();
    if (size >= ALL && (a.state != RTMP_HS_DONE || a.consumed != ALL)) abort();
    const uint8_t *c1 = in + 1, *s1 = a.out + 1, *s2 = s1 + HS;
    if (a.out[0] != RTMP_VERSION) abort();
    if (signed_c1 && !a.digest) abort(); /* a valid digest is always found */
    if (a.digest) {
      /* S1 carries our digest at the client's scheme; S2 is keyed with C1's */
      int s = -1;
      size_t coff = 0;
      for (int i = 0; i < 2 && s < 0; i++) {
        uint8_t d[32];
        coff = rtmp_handshake_digest_offset(c1, i);
        rtmp_handshake_digest(c1, coff, rtmp_handshake_fp_key, 30, d);
        if (memcmp(d, c1 + coff, 32) == 0) s = i;
      }
      if (s < 0) abort();
      uint8_t d[32], key[32];
      size_t soff = rtmp_handshake_digest_offset(s1, s);
      rtmp_handshake_digest(s1, soff, rtmp_handshake_fms_key, 36, d);
      if (memcmp(d, s1 + soff, 32) != 0) abort();
      util_hmac_sha256(rtmp_handshake_fms_key, 68, c1 + coff, 32, key);
      util_hmac_sha256(key, 32, s2, HS - 32, d);
      if (memcmp(d, s2 + HS - 32, 32) != 0) abort();
    } else if (memcmp(s2, c1, HS) != 0) {
      abort();
    }
  }
  free(in);
  return 0;
}
