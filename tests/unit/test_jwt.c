/* test_jwt.c — HS256 / RS256 sign and verify, and every way a token fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "core/util.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW ((int64_t)1700000000)

static json_t *claims_exp(int64_t exp) {
  return json_pack("{s:s, s:I, s:I}", "sub", "project-1", "iat", (json_int_t)NOW,
                   "exp", (json_int_t)exp);
}

static char *hs_token(json_t *claims) {
  char *tok = NULL;
  assert_int_equal(jwt_hs256_sign(KEY, KEYLEN, claims, &tok), 0);
  assert_non_null(tok);
  return tok;
}

/* Builds "b64(header).b64(payload).sig" by hand for hostile tokens. */
static char *raw_token(const char *header, const char *payload, const char *sig) {
  size_t hl = strlen(header), pl = strlen(payload);
  char *t = malloc(hl * 2 + pl * 2 + strlen(sig) + 8);
  size_t o = util_base64url_encode(header, hl, t);
  t[o++] = '.';
  o += util_base64url_encode(payload, pl, t + o);
  t[o++] = '.';
  strcpy(t + o, sig);
  return t;
}

/* The same, but with a valid HS256 MAC over whatever header is given. */
static char *raw_token_mac(const char *header, const char *payload) {
  char *t = raw_token(header, payload, "");
  size_t n = strlen(t) - 1; /* without the trailing '.' */
  unsigned char mac[32];
  util_hmac_sha256(KEY, KEYLEN, t, n, mac);
  t = realloc(t, n + 1 + 44);
  t[n] = '.';
  util_base64url_encode(mac, 32, t + n + 1);
  return t;
}

static void test_hs256_round_trip(void **state) {
  (void)state;
  json_t *c = claims_exp(NOW + 3600);
  char *tok = hs_token(c);
  json_t *out = NULL;
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, tok, NOW, &out), 0);
  assert_non_null(out);
  assert_true(json_equal(c, out));
  /* header is exactly the documented one */
  unsigned char hdr[64];
  long n = util_base64url_decode(tok, (size_t)(strchr(tok, '.') - tok), hdr, sizeof(hdr) - 1);
  assert_true(n > 0);
  hdr[n] = '\0';
  assert_string_equal((char *)hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
  json_decref(out);
  json_decref(c);
  free(tok);
}

static void test_hs256_expired(void **state) {
  (void)state;
  json_t *c = claims_exp(NOW);
  char *tok = hs_token(c);
  json_t *out = (json_t *)1;
  /* exp == now is already expired */
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, tok, NOW, &out), ERR_UNAUTHORIZED);
  assert_null(out);
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, tok, NOW - 1, &out), 0);
  json_decref(out);
  free(tok);
  json_decref(c);
}

static void test_hs256_exp_nbf_rules(void **state) {
  (void)state;
  json_t *out = NULL;
  const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  struct {
    const char *payload;
    int rc;
  } cases[] = {
      {"{\"sub\":\"x\"}", ERR_UNAUTHORIZED},                          /* no exp */
      {"{\"exp\":\"1800000000\"}", ERR_UNAUTHORIZED},                 /* exp not a number */
      {"{\"exp\":null}", ERR_UNAUTHORIZED},
      {"{\"exp\":1800000000.5}", 0},                                  /* real exp */
      {"{\"exp\":1600000000.5}", ERR_UNAUTHORIZED},
      {"{\"exp\":1800000000,\"nbf\":1700000001}", ERR_UNAUTHORIZED}, /* not yet */
      {"{\"exp\":1800000000,\"nbf\":1700000000}", 0},                 /* nbf == now ok */
      {"{\"exp\":1800000000,\"nbf\":\"soon\"}", ERR_UNAUTHORIZED},
      {"{\"exp\":1800000000,\"exp\":1}", ERR_UNAUTHORIZED},           /* duplicate key */
      {"[1,2,3]", ERR_UNAUTHORIZED},                                  /* not an object */
      {"{\"exp\":18000", ERR_UNAUTHORIZED},                           /* bad JSON */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *t = raw_token_mac(h, cases[i].payload);
    int rc = jwt_hs256_verify(KEY, KEYLEN, t, NOW, &out);
    if (rc != cases[i].rc) fail_msg("case %zu (%s): rc=%d", i, cases[i].payload, rc);
    json_decref(out);
    out = NULL;
    free(t);
  }
}

static void test_hs256_tampered_payload(void **state) {
  (void)state;
  json_t *c = claims_exp(NOW + 3600);
  char *tok = hs_token(c);
  /* swap the payload for another one, keep header and signature */
  json_t *evil = json_pack("{s:s, s:I}", "sub", "project-2", "exp", (json_int_t)(NOW + 3600));
  char *other = hs_token(evil);
  char *p1 = strchr(tok, '.'), *s1 = strrchr(tok, '.');
  char *p2 = strchr(other, '.'), *s2 = strrchr(other, '.');
  char forged[1024];
  snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(p1 - tok), tok, (int)(s2 - p2), p2, s1);
  json_t *out = NULL;
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, forged, NOW, &out), ERR_UNAUTHORIZED);
  assert_null(out);
  /* and a single flipped payload character */
  char *ch = &tok[(p1 - tok) + 2];
  *ch = *ch == 'A' ? 'B' : 'A';
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, tok, NOW, &out), ERR_UNAUTHORIZED);
  (void)s2;
  free(tok);
  free(other);
  json_decref(c);
  json_decref(evil);
}

static void test_hs256_tampered_signature(void **state) {
  (void)state;
  json_t *c = claims_exp(NOW + 3600);
  char *tok = hs_token(c);
  json_t *out = NULL;
  size_t len = strlen(tok);
  char *copy = strdup(tok);
  copy[len - 5] = copy[len - 5] == 'A' ? 'B' : 'A';
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, copy, NOW, &out), ERR_UNAUTHORIZED);
  /* a non-canonical last character (same decoded bytes on lax decoders) */
  strcpy(copy, tok);
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int v = (int)(strchr(tbl, copy[len - 1]) - tbl);
  assert_int_equal(v & 3, 0); /* the two spare bits of a canonical encoding */
  copy[len - 1] = tbl[v | 1];
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, copy, NOW, &out), ERR_UNAUTHORIZED);
  /* truncated and extended signatures */
  strcpy(copy, tok);
  copy[len - 1] = '\0';
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, copy, NOW, &out), ERR_UNAUTHORIZED);
  char *longer = malloc(len + 2);
  memcpy(longer, tok, len);
  longer[len] = 'A';
  longer[len + 1] = '\0';
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, longer, NOW, &out), ERR_UNAUTHORIZED);
  /* padding is not base64url */
  char *padded = malloc(len + 2);
  memcpy(padded, tok, len);
  padded[len] = '=';
  padded[len + 1] = '\0';
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, padded, NOW, &out), ERR_UNAUTHORIZED);
  assert_null(out);
  free(padded);
  free(longer);
  free(copy);
  free(tok);
  json_decref(c);
}

static void test_hs256_alg_none_and_others(void **state) {
  (void)state;
  json_t *out = NULL;
  const char *payload = "{\"exp\":1800000000}";
  /* unsigned "none" tokens, with and without a signature part */
  char *t = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "");
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, t, NOW, &out), ERR_UNAUTHORIZED);
  free(t);
  t = raw_token("{\"alg\":\"none\"}", payload, "x");
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, t, NOW, &out), ERR_UNAUTHORIZED);
  free(t);
  /* other algs, even with a valid HS256 MAC */
  const char *headers[] = {
      "{\"alg\":\"none\"}",          "{\"alg\":\"hs256\"}",  "{\"alg\":\"HS256 \"}",
      "{\"alg\":\"HS512\"}",         "{\"alg\":\"RS256\"}",  "{\"typ\":\"JWT\"}",
      "{\"alg\":null}",              "{\"alg\":[\"HS256\"]}", "\"HS256\"",
      "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"alg\":\"HS256\",\"crit\":[\"b64\"]}",
  };
  for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
    t = raw_token_mac(headers[i], payload);
    if (jwt_hs256_verify(KEY, KEYLEN, t, NOW, &out) != ERR_UNAUTHORIZED)
      fail_msg("header %s accepted", headers[i]);
    free(t);
  }
  /* control: the hand-built path accepts a proper header */
  t = raw_token_mac("{\"alg\":\"HS256\"}", payload);
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, t, NOW, &out), 0);
  json_decref(out);
  free(t);
}

static void test_hs256_wrong_key(void **state) {
  (void)state;
  json_t *c = claims_exp(NOW + 60);
  char *tok = hs_token(c);
  json_t *out = NULL;
  static const unsigned char other[] = "0123456789abcdef0123456789abcdeF";
  assert_int_equal(jwt_hs256_verify(other, sizeof(other) - 1, tok, NOW, &out), ERR_UNAUTHORIZED);
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN - 1, tok, NOW, &out), ERR_UNAUTHORIZED);
  assert_null(out);
  free(tok);
  json_decref(c);
}

static void test_hs256_garbage(void **state) {
  (void)state;
  json_t *out = NULL;
  const char *bad[] = {
      "", ".", "..", "...", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "not a token",
      "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE4MDAwMDAwMDB9", "e30.e30.e30", "@@@.###.$$$",
      "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE4MDAwMDAwMDB9.a+b/c", "a\nb.c.d",
      "A.A.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (jwt_hs256_verify(KEY, KEYLEN, bad[i], NOW, &out) != ERR_UNAUTHORIZED)
      fail_msg("garbage %zu accepted", i);
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, NULL, NOW, &out), ERR_UNAUTHORIZED);
  assert_null(out);
  /* argument errors are not token errors */
  assert_int_equal(jwt_hs256_verify(NULL, 0, "a.b.c", NOW, &out), ERR_INVALID);
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, "a.b.c", NOW, NULL), ERR_INVALID);
  char *tok = NULL;
  json_t *arr = json_array();
  assert_int_equal(jwt_hs256_sign(KEY, KEYLEN, arr, &tok), ERR_INVALID);
  assert_int_equal(jwt_hs256_sign(KEY, 0, arr, &tok), ERR_INVALID);
  assert_null(tok);
  json_decref(arr);
}

static void test_hs256_too_long(void **state) {
  (void)state;
  /* a validly signed token just over the limit is refused, one under passes */
  json_t *out = NULL;
  int under = 0, over = 0;
  for (int pad = 2900; pad < 3100; pad++) {
    json_t *c = claims_exp(NOW + 60);
    char *filler = malloc((size_t)pad + 1);
    memset(filler, 'x', (size_t)pad);
    filler[pad] = '\0';
    json_object_set_new(c, "pad", json_string(filler));
    char *tok = hs_token(c);
    size_t len = strlen(tok);
    int rc = jwt_hs256_verify(KEY, KEYLEN, tok, NOW, &out);
    assert_int_equal(rc, len > JWT_MAX_TOKEN_LEN ? ERR_UNAUTHORIZED : 0);
    if (len == JWT_MAX_TOKEN_LEN || len == JWT_MAX_TOKEN_LEN - 1) under++;
    if (len == JWT_MAX_TOKEN_LEN + 1 || len == JWT_MAX_TOKEN_LEN + 2) over++;
    json_decref(out);
    out = NULL;
    free(tok);
    free(filler);
    json_decref(c);
  }
  /* the boundary itself was exercised (base64 grows by 4 per 3 bytes) */
  assert_true(under > 0 && over > 0);
}

/* --- RS256 --- */

static EVP_PKEY *rsa_key(void) {
  EVP_PKEY *k = EVP_RSA_gen(2048);
  assert_non_null(k);
  return k;
}

static void test_rs256_round_trip_and_kid(void **state) {
  (void)state;
  EVP_PKEY *k = rsa_key();
  json_t *c = claims_exp(NOW + 600);
  json_object_set_new(c, "aud", json_string("v"));
  char *tok = NULL;
  assert_int_equal(jwt_rs256_sign(k, "key-1", c, &tok), 0);

  char kid[64];
  assert_int_equal(jwt_header_kid(tok, kid, sizeof(kid)), 0);
  assert_string_equal(kid, "key-1");
  char tiny[5];
  assert_int_equal(jwt_header_kid(tok, tiny, sizeof(tiny)), ERR_UNAUTHORIZED);

  json_t *hdr = NULL, *out = NULL;
  assert_int_equal(jwt_rs256_verify(k, tok, NOW, &hdr, &out), 0);
  assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "key-1");
  assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "RS256");
  assert_true(json_equal(c, out));
  json_decref(hdr);
  json_decref(out);
  /* out pointers are optional */
  assert_int_equal(jwt_rs256_verify(k, tok, NOW, NULL, NULL), 0);
  /* expired */
  assert_int_equal(jwt_rs256_verify(k, tok, NOW + 600, &hdr, &out), ERR_UNAUTHORIZED);
  assert_null(hdr);
  assert_null(out);
  /* tampered signature */
  size_t len = strlen(tok);
  tok[len - 10] = tok[len - 10] == 'A' ? 'B' : 'A';
  assert_int_equal(jwt_rs256_verify(k, tok, NOW, NULL, NULL), ERR_UNAUTHORIZED);
  free(tok);

  /* no kid */
  assert_int_equal(jwt_rs256_sign(k, NULL, c, &tok), 0);
  assert_int_equal(jwt_header_kid(tok, kid, sizeof(kid)), ERR_NOT_FOUND);
  assert_int_equal(jwt_rs256_verify(k, tok, NOW, NULL, NULL), 0);
  /* an RS256 token is not an HS256 token, and vice versa */
  json_t *o2 = NULL;
  assert_int_equal(jwt_hs256_verify(KEY, KEYLEN, tok, NOW, &o2), ERR_UNAUTHORIZED);
  free(tok);
  tok = hs_token(c);
  assert_int_equal(jwt_rs256_verify(k, tok, NOW, NULL, NULL), ERR_UNAUTHORIZED);
  assert_int_equal(jwt_header_kid("garbage", kid, sizeof(kid)), ERR_UNAUTHORIZED);
  free(tok);

  json_decref(c);
  EVP_PKEY_free(k);
}

static void test_rs256_wrong_public_key(void **state) {
  (void)state;
  EVP_PKEY *k1 = rsa_key(), *k2 = rsa_key();
  json_t *c = claims_exp(NOW + 600);
  char *tok = NULL;
  assert_int_equal(jwt_rs256_sign(k1, "k1", c, &tok), 0);
  json_t *hdr = NULL, *out = NULL;
  assert_int_equal(jwt_rs256_verify(k2, tok, NOW, &hdr, &out), ERR_UNAUTHORIZED);
  assert_null(hdr);
  assert_null(out);
  assert_int_equal(jwt_rs256_verify(k1, tok, NOW, &hdr, &out), 0);
  json_decref(hdr);
  json_decref(out);
  free(tok);

  /* a public-only copy of k1 (as onair stores it) verifies too */
  unsigned char *der = NULL;
  int derlen = i2d_PUBKEY(k1, &der);
  assert_true(derlen > 0);
  const unsigned char *p = der;
  EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, derlen);
  assert_non_null(pub);
  assert_int_equal(jwt_rs256_sign(k1, "k1", c, &tok), 0);
  assert_int_equal(jwt_rs256_verify(pub, tok, NOW, NULL, NULL), 0);
  free(tok);
  OPENSSL_free(der);
  EVP_PKEY_free(pub);

  /* non-RSA keys are refused up front */
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  assert_non_null(ec);
  assert_int_equal(jwt_rs256_sign(ec, "x", c, &tok), ERR_INVALID);
  assert_int_equal(jwt_rs256_verify(ec, "a.b.c", NOW, NULL, NULL), ERR_INVALID);
  EVP_PKEY_free(ec);

  json_decref(c);
  EVP_PKEY_free(k1);
  EVP_PKEY_free(k2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hs256_round_trip),
      cmocka_unit_test(test_hs256_expired),
      cmocka_unit_test(test_hs256_exp_nbf_rules),
      cmocka_unit_test(test_hs256_tampered_payload),
      cmocka_unit_test(test_hs256_tampered_signature),
      cmocka_unit_test(test_hs256_alg_none_and_others),
      cmocka_unit_test(test_hs256_wrong_key),
      cmocka_unit_test(test_hs256_garbage),
      cmocka_unit_test(test_hs256_too_long),
      cmocka_unit_test(test_rs256_round_trip_and_kid),
      cmocka_unit_test(test_rs256_wrong_public_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
