/* jwt.h — compact JSON Web Tokens (RFC 7519), two algorithms only.
 *
 *   HS256 — access tokens of the control plane (POST /v1/access_token/{key}):
 *           HMAC-SHA256 with a server secret.
 *   RS256 — signed playback tokens: RSA PKCS#1 v1.5 with SHA-256; the
 *           customer holds the private key, onair the public one, chosen
 *           by the header's "kid".
 *
 * Verification is strict and the same for both: the token is at most
 * JWT_MAX_TOKEN_LEN bytes of exactly three non-empty base64url parts
 * (alphabet [A-Za-z0-9_-], no padding); header and claims are JSON objects
 * without duplicate keys; the header's "alg" is exactly the algorithm the
 * caller asked for (never "none", never chosen by the token); a "crit"
 * header is refused (we implement no extensions); the signature is checked
 * in constant time; "exp" must be present and a number > now; "nbf", when
 * present, must be a number <= now. No clock leeway: callers that want some
 * pass a shifted `now`. Every failure is ERR_UNAUTHORIZED and none of them
 * is logged here (tokens are secrets, and peers control the input).
 *
 * RSA keys must be at least 2048 bits (smaller ones are ERR_INVALID).
 * Returned json_t objects belong to the caller (json_decref).
 */
#ifndef ONAIR_JWT_H
#define ONAIR_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted by any verify function. */
#define JWT_MAX_TOKEN_LEN 4096

/* Signs claims (a JSON object, not consumed) with header
 * {"alg":"HS256","typ":"JWT"}. *out_token is malloc'd (free()).
 * 0, ERR_INVALID (no key, claims not an object) or ERR_NOMEM. */
int jwt_hs256_sign(const unsigned char *key, size_t keylen, json_t *claims, char **out_token);

/* Verifies an HS256 token against key at time now (Unix seconds).
 * 0 and *out_claims (new reference), ERR_UNAUTHORIZED for any bad token,
 * ERR_INVALID for a missing key or out_claims. */
int jwt_hs256_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                     json_t **out_claims);

/* Signs claims with an RSA private key; header {"alg":"RS256","typ":"JWT",
 * "kid":kid} ("kid" omitted when kid is NULL). *out is malloc'd.
 * 0, ERR_INVALID (not an RSA key, claims not an object), ERR_NOMEM or
 * ERR_INTERNAL (OpenSSL failed). */
int jwt_rs256_sign(EVP_PKEY *priv, const char *kid, json_t *claims, char **out);

/* Verifies an RS256 token with an RSA public key. On 0 returns the header
 * (so the caller can confirm "kid") and the claims; either out pointer may
 * be NULL. ERR_UNAUTHORIZED for any bad token, ERR_INVALID when pub is not
 * an RSA key. */
int jwt_rs256_verify(EVP_PKEY *pub, const char *token, int64_t now, json_t **out_header,
                     json_t **out_claims);

/* Reads the header's "kid" WITHOUT verifying anything, to pick the key to
 * verify with. Copies it NUL-terminated into kid. 0, ERR_NOT_FOUND when the
 * header has no string "kid", ERR_UNAUTHORIZED for a malformed token or a
 * kid that does not fit in kidlen (it cannot name any key of ours). */
int jwt_header_kid(const char *token, char *kid, size_t kidlen);

#endif
