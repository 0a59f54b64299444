/* token_cli.c — `onair token sign`; see token_cli.h. */
#include "auth/token_cli.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "core/util.h"

#define TOKEN_TTL_DEFAULT 3600
#define TOKEN_TTL_MAX (30 * 24 * 3600)
#define TOKEN_ID_MAX 128 /* key and playback ids are far shorter */

static const char token_usage[] =
    "usage: onair token sign --key-file PEM --key-id KID --playback-id ID [--ttl SECONDS]\n"
    "\n"
    "Prints a signed playback token (an RS256 JWT, one line) for a playback ID\n"
    "with the \"authenticated\" policy. Players pass it as ?auth=TOKEN.\n"
    "\n"
    "  --key-file PEM     the private_key returned by POST /v1/signing-keys\n"
    "  --key-id KID       that signing key's id\n"
    "  --playback-id ID   the playback ID the token opens\n"
    "  --ttl SECONDS      validity, default 3600, at most 2592000 (30 days)\n";

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value, or NULL when
 * argv[*i] is another flag. *missing is set when the value is absent. */
static const char *token_flag(int argc, char **argv, int *i, const char *name, int *missing) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* Ids as onair makes them: printable, no spaces, not too long. */
static int token_id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > TOKEN_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') return 0;
  return 1;
}

static int token_parse_ttl(const char *s, long *out) {
  if (!*s || *s == '-' || *s == '+') return ERR_INVALID;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < 1 || v > TOKEN_TTL_MAX) return ERR_INVALID;
  *out = v;
  return 0;
}

/* Turns a base64-encoded PEM (what Mux hands out) into PEM text in place.
 * Leaves anything else alone. */
static void token_unwrap_base64(char *buf) {
  const char *p = buf;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
  if (strncmp(p, "-----BEGIN", 10) == 0) return;
  size_t len = strlen(buf), o = 0;
  char *compact = malloc(len + 1);
  unsigned char *dec = malloc(len + 1);
  if (compact && dec) {
    for (size_t i = 0; i < len; i++)
      if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
        compact[o++] = buf[i];
    long n = util_base64url_decode(compact, o, dec, len);
    if (n > 10 && memcmp(dec, "-----BEGIN", 10) == 0) {
      memcpy(buf, dec, (size_t)n); /* decoded is shorter than encoded */
      buf[n] = '\0';
    }
  }
  if (compact) OPENSSL_clear_free(compact, len + 1);
  if (dec) OPENSSL_clear_free(dec, len + 1);
}

/* Loads an RSA private key from a PEM file. Prints the reason on failure. */
static EVP_PKEY *token_load_key(const char *path) {
  char *buf = NULL;
  size_t len = 0;
  int rc = util_read_file(path, &buf, &len);
  if (rc) {
    fprintf(stderr, "onair token sign: cannot read %s: %s\n", path,
            rc == ERR_NOT_FOUND ? "no such file" : err_str(rc));
    return NULL;
  }
  token_unwrap_base64(buf);
  EVP_PKEY *k = NULL;
  BIO *b = BIO_new_mem_buf(buf, -1);
  /* No password callback: an encrypted key fails instead of prompting. */
  if (b) k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
  BIO_free(b);
  OPENSSL_clear_free(buf, len + 1);
  if (!k) {
    fprintf(stderr, "onair token sign: %s holds no unencrypted PEM private key\n", path);
    return NULL;
  }
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || EVP_PKEY_get_bits(k) < 2048) {
    fprintf(stderr, "onair token sign: %s is not an RSA key of at least 2048 bits\n", path);
    EVP_PKEY_free(k);
    return NULL;
  }
  return k;
}

static int token_sign(int argc, char **argv) {
  const char *key_file = NULL, *kid = NULL, *playback = NULL, *ttl_s = NULL;
  for (int i = 1; i < argc; i++) {
    int missing = 0;
    const char *v;
    if ((v = token_flag(argc, argv, &i, "--key-file", &missing)))
      key_file = v;
    else if ((v = token_flag(argc, argv, &i, "--key-id", &missing)))
      kid = v;
    else if ((v = token_flag(argc, argv, &i, "--playback-id", &missing)))
      playback = v;
    else if ((v = token_flag(argc, argv, &i, "--ttl", &missing)))
      ttl_s = v;
    if (missing) {
      fprintf(stderr, "onair token sign: %s needs a value\n%s", argv[i], token_usage);
      return 2;
    }
    if (!v) {
      fprintf(stderr, "onair token sign: unknown option '%s'\n%s", argv[i], token_usage);
      return 2;
    }
  }
  if (!key_file || !kid || !playback) {
    fprintf(stderr, "onair token sign: --key-file, --key-id and --playback-id are required\n%s",
            token_usage);
    return 2;
  }
  if (!token_id_ok(kid) || !token_id_ok(playback)) {
    fprintf(stderr,
            "onair token sign: --key-id and --playback-id must be 1 to %d printable "
            "characters without spaces\n",
            TOKEN_ID_MAX);
    return 2;
  }
  long ttl = TOKEN_TTL_DEFAULT;
  if (ttl_s && token_parse_ttl(ttl_s, &ttl)) {
    fprintf(stderr, "onair token sign: --ttl must be a whole number of seconds, 1 to %d\n",
            TOKEN_TTL_MAX);
    return 2;
  }
  EVP_PKEY *key = token_load_key(key_file);
  if (!key) return 1;
  int64_t now = util_now();
  json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", playback, "aud", "v", "iat",
                             (json_int_t)now, "exp", (json_int_t)(now + ttl));
  char *token = NULL;
  int rc = claims ? jwt_rs256_sign(key, kid, claims, &token) : ERR_NOMEM;
  json_decref(claims);
  EVP_PKEY_free(key);
  if (rc) {
    fprintf(stderr, "onair token sign: signing failed: %s\n", err_str(rc));
    return 1;
  }
  int ok = printf("%s\n", token) > 0 && fflush(stdout) == 0;
  free(token);
  if (!ok) {
    fprintf(stderr, "onair token sign: cannot write the token to stdout\n");
    return 1;
  }
  return 0;
}

int token_cli_main(int argc, char **argv) {
  if (argc < 1) {
    fputs(token_usage, stderr);
    return 2;
  }
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(token_usage, stdout);
      return 0;
    }
  }
  if (strcmp(argv[0], "sign") == 0) return token_sign(argc, argv);
  fprintf(stderr, "onair token: unknown subcommand '%s'\n%s", argv[0], token_usage);
  return 2;
}
