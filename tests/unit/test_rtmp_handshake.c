/* Unit tests for src/media/rtmp/handshake.c: simple and digest handshakes
 * as librtmp / FFmpeg build them, verified the way those clients verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "core/err.h"
#include "media/rtmp/handshake.h"

#define HS RTMP_HANDSHAKE_SIZE

static const char fp_text[] = "Genuine Adobe Flash Player 001";
static const char fms_text[] = "Genuine Adobe Flash Media Server 001";
static const uint8_t key_tail[32] = {0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8,
                                     0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
                                     0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB,
                                     0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};

static void hmac(const void *key, size_t keylen, const void *d1, size_t l1, const void *d2,
                 size_t l2, uint8_t out[32]) {
  uint8_t buf[HS];
  memcpy(buf, d1, l1);
  memcpy(buf + l1, d2, l2);
  unsigned int n = 32;
  HMAC(EVP_sha256(), key, (int)keylen, buf, l1 + l2, out, &n);
}

/* Digest offset as librtmp's GetDigestOffset1 (scheme 0) / 2 (scheme 1). */
static size_t digest_pos(const uint8_t *p, int scheme) {
  size_t base = scheme ? 772 : 8;
  return (p[base] + p[base + 1] + p[base + 2] + p[base + 3]) % 728 + base + 4;
}

/* C0+C1 with a Flash Player digest, as librtmp and FFmpeg write them. */
static void make_digest_c0c1(uint8_t *c0c1, int scheme, uint8_t digest_out[32]) {
  uint8_t *c1 = c0c1 + 1;
  c0c1[0] = 3;
  srand(42 + scheme);
  for (int i = 0; i < HS; i++) c1[i] = (uint8_t)rand();
  memset(c1, 0, 4);
  static const uint8_t ver[4] = {9, 0, 124, 2};
  memcpy(c1 + 4, ver, 4);
  size_t pos = digest_pos(c1, scheme);
  hmac(fp_text, 30, c1, pos, c1 + pos + 32, HS - pos - 32, c1 + pos);
  memcpy(digest_out, c1 + pos, 32);
}

static void test_digest_handshake(void **state) {
  for (int scheme = 0; scheme < 2; scheme++) {
    uint8_t c0c1[1 + HS], cdigest[32];
    make_digest_c0c1(c0c1, scheme, cdigest);
    rtmp_handshake_t *hs = rtmp_handshake_new();
    size_t used = 0, olen;
    /* byte by byte: nothing to send until C1 is complete */
    for (size_t i = 0; i < sizeof(c0c1); i++) {
      assert_int_equal(rtmp_handshake_feed(hs, c0c1 + i, 1, &used), 0);
      assert_int_equal(used, 1);
      if (i + 1 < sizeof(c0c1)) {
        assert_null(rtmp_handshake_take_output(hs, &olen));
        assert_int_equal(olen, 0);
      }
    }
    assert_int_equal(rtmp_handshake_state(hs), RTMP_HS_WAIT_C2);
    assert_true(rtmp_handshake_is_digest(hs));
    const uint8_t *out = rtmp_handshake_take_output(hs, &olen);
    assert_non_null(out);
    assert_int_equal(olen, 1 + 2 * HS);
    assert_null(rtmp_handshake_take_output(hs, &olen)); /* handed out once */

    const uint8_t *s1 = out + 1, *s2 = out + 1 + HS;
    assert_int_equal(out[0], 3);
    assert_memory_equal(s1 + 4, "\x0d\x0e\x0a\x0d", 4);
    /* S1 carries a digest keyed with the FMS partial key, same scheme */
    size_t pos = digest_pos(s1, scheme);
    uint8_t d[32];
    hmac(fms_text, 36, s1, pos, s1 + pos + 32, HS - pos - 32, d);
    assert_memory_equal(d, s1 + pos, 32);
    /* S2 ends with HMAC(HMAC(FMS full key, C1 digest), S2[0..1504)) */
    uint8_t full[68], key[32];
    memcpy(full, fms_text, 36);
    memcpy(full + 36, key_tail, 32);
    assert_memory_equal(full, rtmp_handshake_fms_key, 68);
    hmac(full, 68, cdigest, 32, "", 0, key);
    hmac(key, 32, s2, HS - 32, "", 0, d);
    assert_memory_equal(d, s2 + HS - 32, 32);

    /* C2 followed by the first chunk bytes: those are left over */
    uint8_t c2[HS + 5];
    memset(c2, 0x55, sizeof(c2));
    assert_int_equal(rtmp_handshake_feed(hs, c2, sizeof(c2), &used), 0);
    assert_int_equal(used, HS);
    assert_int_equal(rtmp_handshake_state(hs), RTMP_HS_DONE);
    assert_int_equal(rtmp_handshake_feed(hs, c2, 5, &used), 0);
    assert_int_equal(used, 0);
    rtmp_handshake_free(hs);
  }
}

static void test_simple_handshake(void **state) {
  uint8_t in[1 + HS + HS + 3];
  for (size_t i = 0; i < sizeof(in); i++) in[i] = (uint8_t)(i * 31 + 1);
  in[0] = 3;
  memset(in + 1 + 4, 0, 4); /* version 0: the plain handshake */
  rtmp_handshake_t *hs = rtmp_handshake_new();
  size_t used, olen;
  /* everything at once: C0, C1, C2 and 3 bytes of chunk stream */
  assert_int_equal(rtmp_handshake_feed(hs, in, sizeof(in), &used), 0);
  assert_int_equal(used, 1 + 2 * HS);
  assert_int_equal(rtmp_handshake_state(hs), RTMP_HS_DONE);
  assert_false(rtmp_handshake_is_digest(hs));
  const uint8_t *out = rtmp_handshake_take_output(hs, &olen);
  assert_int_equal(olen, 1 + 2 * HS);
  assert_int_equal(out[0], 3);
  assert_memory_equal(out + 1 + 4, "\0\0\0\0", 4);
  assert_memory_equal(out + 1 + HS, in + 1, HS); /* S2 echoes C1 */
  rtmp_handshake_free(hs);

  /* a non-zero version without a valid digest also falls back */
  uint8_t c0c1[1 + HS], dg[32];
  make_digest_c0c1(c0c1, 0, dg);
  c0c1[100] ^= 1;
  c0c1[900] ^= 1;
  hs = rtmp_handshake_new();
  assert_int_equal(rtmp_handshake_feed(hs, c0c1, sizeof(c0c1), &used), 0);
  assert_false(rtmp_handshake_is_digest(hs));
  out = rtmp_handshake_take_output(hs, &olen);
  assert_memory_equal(out + 1 + HS, c0c1 + 1, HS);
  rtmp_handshake_free(hs);
}

static void test_bad_version(void **state) {
  static const uint8_t bad[] = {6, 7, 0, 0x16, 'G', 0xFF};
  for (size_t i = 0; i < sizeof(bad); i++) {
    rtmp_handshake_t *hs = rtmp_handshake_new();
    size_t used = 99, olen;
    assert_int_equal(rtmp_handshake_feed(hs, &bad[i], 1, &used), ERR_PROTOCOL);
    assert_int_equal(rtmp_handshake_state(hs), RTMP_HS_FAILED);
    assert_int_equal(rtmp_handshake_feed(hs, bad, sizeof(bad), &used), ERR_PROTOCOL);
    assert_int_equal(used, 0);
    assert_null(rtmp_handshake_take_output(hs, &olen));
    rtmp_handshake_free(hs);
  }
}

static void test_empty_feed(void **state) {
  rtmp_handshake_t *hs = rtmp_handshake_new();
  size_t used = 7;
  assert_int_equal(rtmp_handshake_feed(hs, NULL, 0, &used), 0);
  assert_int_equal(used, 0);
  assert_int_equal(rtmp_handshake_state(hs), RTMP_HS_WAIT_C0C1);
  rtmp_handshake_free(hs);
  rtmp_handshake_free(NULL);
}

static void test_digest_helpers(void **state) {
  uint8_t c0c1[1 + HS], dg[32], d[32];
  make_digest_c0c1(c0c1, 1, dg);
  size_t off = rtmp_handshake_digest_offset(c0c1 + 1, 1);
  assert_int_equal(off, digest_pos(c0c1 + 1, 1));
  rtmp_handshake_digest(c0c1 + 1, off, rtmp_handshake_fp_key, 30, d);
  assert_memory_equal(d, dg, 32);
  assert_memory_equal(rtmp_handshake_fp_key, fp_text, 30);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_digest_handshake),
      cmocka_unit_test(test_simple_handshake),
      cmocka_unit_test(test_bad_version),
      cmocka_unit_test(test_empty_feed),
      cmocka_unit_test(test_digest_helpers),
  };
  return cmocka_run_group_tests_name("rtmp_handshake", tests, NULL, NULL);
}
