/* jwt.c — HS256 / RS256 compact JWTs; see jwt.h for the rules. */
#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#define JWT_HS256_SIG_B64_LEN 43 /* base64url of 32 bytes, unpadded */
#define JWT_RSA_MIN_BITS 2048

/* Where the three parts of a token are. Lengths only: the parts are not
 * NUL-terminated inside the token. */
typedef struct {
  const char *token;
  size_t hlen, plen, slen;
} jwt_split_t;

static int jwt_is_b64url_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

/* Checks the outer syntax: length, exactly two dots, three non-empty parts
 * drawn only from the base64url alphabet (util's decoder also accepts
 * '+', '/' and '=', which a JWT must not contain). */
static int jwt_split(const char *token, jwt_split_t *sp) {
  if (!token) return ERR_UNAUTHORIZED;
  size_t len = strnlen(token, JWT_MAX_TOKEN_LEN + 1);
  if (len > JWT_MAX_TOKEN_LEN) return ERR_UNAUTHORIZED;
  size_t dot[2], ndots = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)token[i];
    if (c == '.') {
      if (ndots == 2) return ERR_UNAUTHORIZED;
      dot[ndots++] = i;
    } else if (!jwt_is_b64url_char(c)) {
      return ERR_UNAUTHORIZED;
    }
  }
  if (ndots != 2) return ERR_UNAUTHORIZED;
  sp->token = token;
  sp->hlen = dot[0];
  sp->plen = dot[1] - dot[0] - 1;
  sp->slen = len - dot[1] - 1;
  if (sp->hlen == 0 || sp->plen == 0 || sp->slen == 0) return ERR_UNAUTHORIZED;
  return 0;
}

static const char *jwt_payload(const jwt_split_t *sp) { return sp->token + sp->hlen + 1; }
static const char *jwt_sig(const jwt_split_t *sp) { return sp->token + sp->hlen + sp->plen + 2; }
/* The signed bytes are "header.payload" exactly as sent. */
static size_t jwt_signing_len(const jwt_split_t *sp) { return sp->hlen + 1 + sp->plen; }

/* Decodes one base64url part into a JSON object (NULL if it is not one).
 * Duplicate keys are refused so that no two readers can disagree about
 * which "alg" or "exp" counts. */
static json_t *jwt_decode_object(const char *part, size_t len) {
  size_t cap = len / 4 * 3 + 3;
  unsigned char *buf = malloc(cap);
  if (!buf) return NULL;
  long n = util_base64url_decode(part, len, buf, cap);
  json_t *obj = NULL;
  if (n > 0) obj = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
  free(buf);
  if (obj && !json_is_object(obj)) {
    json_decref(obj);
    obj = NULL;
  }
  return obj;
}

/* The header must name exactly `alg` and carry no "crit" extensions. */
static int jwt_check_header(const json_t *header, const char *alg) {
  const char *a = json_string_value(json_object_get(header, "alg"));
  if (!a || strcmp(a, alg) != 0) return ERR_UNAUTHORIZED;
  if (json_object_get(header, "crit")) return ERR_UNAUTHORIZED;
  return 0;
}

/* NumericDate comparisons; reals are allowed by RFC 7519. */
static int jwt_num_le(const json_t *v, int64_t now) {
  if (json_is_integer(v)) return json_integer_value(v) <= now;
  return json_real_value(v) <= (double)now;
}

static int jwt_num_gt(const json_t *v, int64_t now) {
  if (json_is_integer(v)) return json_integer_value(v) > now;
  return json_real_value(v) > (double)now;
}

static int jwt_check_times(const json_t *claims, int64_t now) {
  const json_t *exp = json_object_get(claims, "exp");
  if (!json_is_number(exp) || jwt_num_le(exp, now)) return ERR_UNAUTHORIZED;
  const json_t *nbf = json_object_get(claims, "nbf");
  if (nbf && (!json_is_number(nbf) || jwt_num_gt(nbf, now))) return ERR_UNAUTHORIZED;
  return 0;
}

/* base64url(json) of an object into a malloc'd string. */
static char *jwt_encode_json(json_t *obj) {
  char *js = json_dumps(obj, JSON_COMPACT);
  if (!js) return NULL;
  size_t n = strlen(js);
  char *b64 = malloc((n + 2) / 3 * 4 + 1);
  if (b64) util_base64url_encode(js, n, b64);
  free(js);
  return b64;
}

/* "header.payload" for a header and claims, malloc'd. */
static int jwt_signing_input(json_t *header, json_t *claims, char **out) {
  *out = NULL;
  char *h = jwt_encode_json(header);
  char *p = jwt_encode_json(claims);
  int rc = ERR_NOMEM;
  if (h && p) {
    size_t hl = strlen(h), pl = strlen(p);
    char *s = malloc(hl + 1 + pl + 1);
    if (s) {
      memcpy(s, h, hl);
      s[hl] = '.';
      memcpy(s + hl + 1, p, pl + 1);
      *out = s;
      rc = 0;
    }
  }
  free(h);
  free(p);
  return rc;
}

/* Appends "." + base64url(sig) to a malloc'd signing input; frees it. */
static int jwt_finish(char *input, const unsigned char *sig, size_t siglen, char **out) {
  size_t il = strlen(input);
  char *tok = realloc(input, il + 1 + (siglen + 2) / 3 * 4 + 1);
  if (!tok) {
    free(input);
    return ERR_NOMEM;
  }
  tok[il] = '.';
  util_base64url_encode(sig, siglen, tok + il + 1);
  *out = tok;
  return 0;
}

/* --- HS256 --- */

int jwt_hs256_sign(const unsigned char *key, size_t keylen, json_t *claims, char **out_token) {
  if (!out_token) return ERR_INVALID;
  *out_token = NULL;
  if (!key || keylen == 0 || !json_is_object(claims)) return ERR_INVALID;
  json_t *header = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
  if (!header) return ERR_NOMEM;
  char *input;
  int rc = jwt_signing_input(header, claims, &input);
  json_decref(header);
  if (rc) return rc;
  unsigned char mac[32];
  util_hmac_sha256(key, keylen, input, strlen(input), mac);
  rc = jwt_finish(input, mac, sizeof(mac), out_token);
  OPENSSL_cleanse(mac, sizeof(mac));
  return rc;
}

int jwt_hs256_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                     json_t **out_claims) {
  if (!out_claims) return ERR_INVALID;
  *out_claims = NULL;
  if (!key || keylen == 0) return ERR_INVALID;
  jwt_split_t sp;
  if (jwt_split(token, &sp)) return ERR_UNAUTHORIZED;
  /* A 32-byte MAC has exactly one unpadded encoding of 43 chars; comparing
   * encodings (not decoded bytes) also refuses non-canonical ones. */
  if (sp.slen != JWT_HS256_SIG_B64_LEN) return ERR_UNAUTHORIZED;

  json_t *header = jwt_decode_object(token, sp.hlen);
  int rc = header ? jwt_check_header(header, "HS256") : ERR_UNAUTHORIZED;
  json_decref(header);
  if (rc) return rc;

  unsigned char mac[32];
  char want[JWT_HS256_SIG_B64_LEN + 1], got[JWT_HS256_SIG_B64_LEN + 1];
  util_hmac_sha256(key, keylen, token, jwt_signing_len(&sp), mac);
  util_base64url_encode(mac, sizeof(mac), want);
  memcpy(got, jwt_sig(&sp), JWT_HS256_SIG_B64_LEN);
  got[JWT_HS256_SIG_B64_LEN] = '\0';
  int ok = util_secure_streq(want, got);
  OPENSSL_cleanse(mac, sizeof(mac));
  OPENSSL_cleanse(want, sizeof(want));
  if (!ok) return ERR_UNAUTHORIZED;

  json_t *claims = jwt_decode_object(jwt_payload(&sp), sp.plen);
  if (!claims || jwt_check_times(claims, now)) {
    json_decref(claims);
    return ERR_UNAUTHORIZED;
  }
  *out_claims = claims;
  return 0;
}

/* --- RS256 --- */

static int jwt_rsa_key_ok(EVP_PKEY *k) {
  return k && EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= JWT_RSA_MIN_BITS;
}

int jwt_rs256_sign(EVP_PKEY *priv, const char *kid, json_t *claims, char **out) {
  if (!out) return ERR_INVALID;
  *out = NULL;
  if (!jwt_rsa_key_ok(priv) || !json_is_object(claims)) return ERR_INVALID;
  json_t *header = kid ? json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", kid)
                       : json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
  if (!header) return kid ? ERR_INVALID : ERR_NOMEM; /* json_pack refuses non-UTF-8 kids */
  char *input;
  int rc = jwt_signing_input(header, claims, &input);
  json_decref(header);
  if (rc) return rc;

  rc = ERR_INTERNAL;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, priv) == 1 &&
      EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) == 1 &&
      (sig = malloc(siglen)) != NULL &&
      EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1) {
    rc = jwt_finish(input, sig, siglen, out);
    input = NULL; /* jwt_finish took it */
  }
  EVP_MD_CTX_free(ctx);
  free(sig);
  free(input);
  return rc;
}

int jwt_rs256_verify(EVP_PKEY *pub, const char *token, int64_t now, json_t **out_header,
                     json_t **out_claims) {
  if (out_header) *out_header = NULL;
  if (out_claims) *out_claims = NULL;
  if (!jwt_rsa_key_ok(pub)) return ERR_INVALID;
  jwt_split_t sp;
  if (jwt_split(token, &sp)) return ERR_UNAUTHORIZED;

  json_t *header = jwt_decode_object(token, sp.hlen);
  if (!header || jwt_check_header(header, "RS256")) {
    json_decref(header);
    return ERR_UNAUTHORIZED;
  }

  int rc = ERR_UNAUTHORIZED;
  json_t *claims = NULL;
  size_t keybytes = (size_t)EVP_PKEY_get_size(pub);
  unsigned char *sig = malloc(sp.slen / 4 * 3 + 3);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!sig || !ctx) {
    rc = ERR_NOMEM;
    goto out;
  }
  long n = util_base64url_decode(jwt_sig(&sp), sp.slen, sig, sp.slen / 4 * 3 + 3);
  /* A PKCS#1 v1.5 signature is always exactly the modulus size. */
  if (n < 0 || (size_t)n != keybytes) goto out;
  if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1 ||
      EVP_DigestVerify(ctx, sig, (size_t)n, (const unsigned char *)token, jwt_signing_len(&sp)) !=
          1)
    goto out;
  claims = jwt_decode_object(jwt_payload(&sp), sp.plen);
  if (!claims || jwt_check_times(claims, now)) goto out;
  rc = 0;

out:
  EVP_MD_CTX_free(ctx);
  free(sig);
  if (rc == 0 && out_header) {
    *out_header = header;
    header = NULL;
  }
  if (rc == 0 && out_claims) {
    *out_claims = claims;
    claims = NULL;
  }
  json_decref(header);
  json_decref(claims);
  return rc;
}

int jwt_header_kid(const char *token, char *kid, size_t kidlen) {
  if (!kid || kidlen == 0) return ERR_INVALID;
  kid[0] = '\0';
  jwt_split_t sp;
  if (jwt_split(token, &sp)) return ERR_UNAUTHORIZED;
  json_t *header = jwt_decode_object(token, sp.hlen);
  if (!header) return ERR_UNAUTHORIZED;
  const json_t *k = json_object_get(header, "kid");
  int rc;
  if (!json_is_string(k)) {
    rc = ERR_NOT_FOUND;
  } else if (json_string_length(k) >= kidlen) {
    rc = ERR_UNAUTHORIZED;
  } else {
    /* jansson refuses \u0000 by default, so the length is the strlen. */
    memcpy(kid, json_string_value(k), json_string_length(k) + 1);
    rc = 0;
  }
  json_decref(header);
  return rc;
}
