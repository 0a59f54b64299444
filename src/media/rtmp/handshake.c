#include "media/rtmp/handshake.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#define DIGEST_LEN 32
#define FMS_PARTIAL 36
#define FP_PARTIAL 30

const uint8_t rtmp_handshake_fms_key[68] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ', 'F', 'l', 'a',
    's', 'h', ' ', 'M', 'e', 'd', 'i', 'a', ' ', 'S', 'e', 'r', 'v', 'e', 'r', ' ', '0',
    '0', '1', 0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02,
    0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36,
    0xCF, 0xEB, 0x31, 0xAE};

const uint8_t rtmp_handshake_fp_key[62] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ', 'F', 'l',
    'a', 's', 'h', ' ', 'P', 'l', 'a', 'y', 'e', 'r', ' ', '0', '0', '1', 0xF0, 0xEE,
    0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB,
    0x31, 0xAE};

/* The version we announce in S1 of a digest handshake (as FMS 3.5 did). */
static const uint8_t server_version[4] = {0x0D, 0x0E, 0x0A, 0x0D};

struct rtmp_handshake_s {
  rtmp_handshake_state_t state;
  int digest;
  uint8_t in[1 + RTMP_HANDSHAKE_SIZE]; /* C0+C1, then C2 (bytes after C0) */
  size_t in_len;
  uint8_t out[1 + 2 * RTMP_HANDSHAKE_SIZE]; /* S0+S1+S2 */
  size_t out_len;
  size_t out_taken;
};

rtmp_handshake_t *rtmp_handshake_new(void) { return calloc(1, sizeof(rtmp_handshake_t)); }

void rtmp_handshake_free(rtmp_handshake_t *hs) { free(hs); }

rtmp_handshake_state_t rtmp_handshake_state(const rtmp_handshake_t *hs) { return hs->state; }

int rtmp_handshake_is_digest(const rtmp_handshake_t *hs) { return hs->digest; }

size_t rtmp_handshake_digest_offset(const uint8_t *pkt, int scheme) {
  size_t base = scheme ? 772 : 8;
  size_t sum = (size_t)pkt[base] + pkt[base + 1] + pkt[base + 2] + pkt[base + 3];
  return sum % 728 + base + 4;
}

void rtmp_handshake_digest(const uint8_t *pkt, size_t offset, const uint8_t *key, size_t keylen,
                           uint8_t out[32]) {
  uint8_t msg[RTMP_HANDSHAKE_SIZE - DIGEST_LEN];
  memcpy(msg, pkt, offset);
  memcpy(msg + offset, pkt + offset + DIGEST_LEN, RTMP_HANDSHAKE_SIZE - offset - DIGEST_LEN);
  util_hmac_sha256(key, keylen, msg, sizeof(msg), out);
}

/* Constant-time only out of habit: the digest is not a secret. */
static int digest_eq(const uint8_t *a, const uint8_t *b) {
  uint8_t d = 0;
  for (int i = 0; i < DIGEST_LEN; i++) d |= (uint8_t)(a[i] ^ b[i]);
  return d == 0;
}

/* Offset of a valid client digest in c1, or 0 if there is none. */
static size_t find_client_digest(const uint8_t *c1, int *scheme) {
  for (int s = 0; s < 2; s++) {
    uint8_t d[DIGEST_LEN];
    size_t off = rtmp_handshake_digest_offset(c1, s);
    rtmp_handshake_digest(c1, off, rtmp_handshake_fp_key, FP_PARTIAL, d);
    if (digest_eq(d, c1 + off)) {
      *scheme = s;
      return off;
    }
  }
  return 0;
}

static int make_response(rtmp_handshake_t *hs) {
  const uint8_t *c1 = hs->in + 1;
  uint8_t *s1 = hs->out + 1;
  uint8_t *s2 = s1 + RTMP_HANDSHAKE_SIZE;
  hs->out[0] = RTMP_VERSION;
  if (util_random_bytes(s1, RTMP_HANDSHAKE_SIZE)) return ERR_INTERNAL;
  memset(s1, 0, 4); /* our epoch: 0 */

  int scheme = 0;
  size_t c1_off = 0;
  /* Version 0 in C1 means a plain spec handshake (nginx-rtmp decides the
   * same way); otherwise look for the Flash Player digest. */
  if (memcmp(c1 + 4, "\0\0\0\0", 4) != 0) c1_off = find_client_digest(c1, &scheme);

  if (!c1_off) {
    hs->digest = 0;
    memset(s1 + 4, 0, 4);
    memcpy(s2, c1, RTMP_HANDSHAKE_SIZE);
    return 0;
  }
  hs->digest = 1;
  memcpy(s1 + 4, server_version, 4);
  size_t s1_off = rtmp_handshake_digest_offset(s1, scheme);
  rtmp_handshake_digest(s1, s1_off, rtmp_handshake_fms_key, FMS_PARTIAL, s1 + s1_off);

  uint8_t key[DIGEST_LEN];
  util_hmac_sha256(rtmp_handshake_fms_key, sizeof(rtmp_handshake_fms_key), c1 + c1_off,
                   DIGEST_LEN, key);
  if (util_random_bytes(s2, RTMP_HANDSHAKE_SIZE)) return ERR_INTERNAL;
  util_hmac_sha256(key, sizeof(key), s2, RTMP_HANDSHAKE_SIZE - DIGEST_LEN,
                   s2 + RTMP_HANDSHAKE_SIZE - DIGEST_LEN);
  return 0;
}

int rtmp_handshake_feed(rtmp_handshake_t *hs, const uint8_t *data, size_t len, size_t *consumed) {
  size_t used = 0;
  int rc = 0;
  while (used < len && rc == 0) {
    if (hs->state == RTMP_HS_DONE) break;
    if (hs->state == RTMP_HS_FAILED) {
      rc = ERR_PROTOCOL;
      break;
    }
    size_t want = hs->state == RTMP_HS_WAIT_C0C1 ? 1 + RTMP_HANDSHAKE_SIZE : RTMP_HANDSHAKE_SIZE;
    size_t n = want - hs->in_len;
    if (n > len - used) n = len - used;
    memcpy(hs->in + hs->in_len, data + used, n);
    hs->in_len += n;
    used += n;
    if (hs->state == RTMP_HS_WAIT_C0C1 && hs->in_len >= 1 && hs->in[0] != RTMP_VERSION) {
      hs->state = RTMP_HS_FAILED;
      rc = ERR_PROTOCOL;
      break;
    }
    if (hs->in_len < want) continue;
    if (hs->state == RTMP_HS_WAIT_C0C1) {
      if ((rc = make_response(hs))) {
        hs->state = RTMP_HS_FAILED;
        break;
      }
      hs->out_len = sizeof(hs->out);
      hs->in_len = 0;
      hs->state = RTMP_HS_WAIT_C2;
    } else {
      hs->state = RTMP_HS_DONE;
    }
  }
  if (hs->state == RTMP_HS_FAILED && !rc) rc = ERR_PROTOCOL;
  if (consumed) *consumed = used;
  return rc;
}

const uint8_t *rtmp_handshake_take_output(rtmp_handshake_t *hs, size_t *len) {
  *len = hs->out_len - hs->out_taken;
  if (*len == 0) return NULL;
  const uint8_t *p = hs->out + hs->out_taken;
  hs->out_taken = hs->out_len;
  return p;
}
