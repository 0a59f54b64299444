/* fuzz_jwt.c — jwt_hs256_verify and jwt_header_kid on arbitrary tokens.
 *
 * A fixed key. Half of the inputs are used as-is; for the other half the
 * input is split at the last '.' and given a valid HS256 MAC over its
 * first part, so the fuzzer reaches the header, claims and time checks
 * behind the signature instead of stopping at it. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "core/util.h"

static const unsigned char KEY[] = "fuzz-key-0123456789abcdef-fuzz-key";
#define NOW ((int64_t)1700000000)

static void check_verify(const char *tok) {
  json_t *claims = NULL;
  int rc = jwt_hs256_verify(KEY, sizeof(KEY) - 1, tok, NOW, &claims);
  if (rc == 0) {
    /* whatever passed must really be a live object with a future exp */
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_object(claims) || !json_is_number(exp) || json_number_value(exp) <= NOW - 1)
      abort();
    json_decref(claims);
  } else if (rc != ERR_UNAUTHORIZED || claims) {
    abort();
  }
  char kid[64];
  rc = jwt_header_kid(tok, kid, sizeof(kid));
  if (rc == 0 && strlen(kid) >= sizeof(kid)) abort();
  if (rc != 0 && rc != ERR_NOT_FOUND && rc != ERR_UNAUTHORIZED) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  int sign = data[0] & 1;
  data++;
  size--;
  char *tok = malloc(size + 64);
  if (!tok) return 0;
  memcpy(tok, data, size);
  tok[size] = '\0';
  if (sign) {
    /* "x.y" (up to the last '.') + "." + base64url(HMAC(x.y)) */
    size_t n = strlen(tok);
    char *dot = strrchr(tok, '.');
    if (dot) n = (size_t)(dot - tok);
    unsigned char mac[32];
    util_hmac_sha256(KEY, sizeof(KEY) - 1, tok, n, mac);
    tok[n] = '.';
    util_base64url_encode(mac, sizeof(mac), tok + n + 1);
  }
  check_verify(tok);
  free(tok);
  return 0;
}
