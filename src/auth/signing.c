/* signing.c — RSA signing keys and the check of signed playback tokens;
 * see signing.h for the token format and the rules. */
#include "auth/signing.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "core/log.h"

#define SIGNING_RSA_BITS 2048
/* Key ids are UUIDs: a longer "kid" cannot name one of ours. */
#define SIGNING_KID_CAP 37

/* Guards both caches below. */
static pthread_mutex_t signing_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- key generation ---- */

/* The contents of a memory BIO as a malloc'd string. */
static char *signing_bio_string(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  if (n <= 0 || !data) return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  memcpy(s, data, (size_t)n);
  s[n] = '\0';
  return s;
}

int signing_key_generate(char **priv_pem, char **pub_pem) {
  *priv_pem = *pub_pem = NULL;
  EVP_PKEY *k = EVP_RSA_gen(SIGNING_RSA_BITS);
  if (!k) return ERR_INTERNAL;
  int rc = ERR_INTERNAL;
  /* Memory BIOs wipe their buffer when freed (OPENSSL_clear_free), so the
   * private key is left only in *priv_pem. */
  BIO *bpriv = BIO_new(BIO_s_mem()), *bpub = BIO_new(BIO_s_mem());
  /* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"). */
  if (bpriv && bpub && PEM_write_bio_PrivateKey(bpriv, k, NULL, NULL, 0, NULL, NULL) == 1 &&
      PEM_write_bio_PUBKEY(bpub, k) == 1) {
    *priv_pem = signing_bio_string(bpriv);
    *pub_pem = signing_bio_string(bpub);
    rc = *priv_pem && *pub_pem ? 0 : ERR_NOMEM;
  }
  if (rc) {
    if (*priv_pem) OPENSSL_clear_free(*priv_pem, strlen(*priv_pem));
    free(*pub_pem);
    *priv_pem = *pub_pem = NULL;
  }
  BIO_free(bpriv);
  BIO_free(bpub);
  EVP_PKEY_free(k);
  return rc;
}

/* ---- the cache of verified tokens ----
 *
 * A player sends the same token with every playlist and segment request;
 * re-checking its signature each time (JSON, base64, an OpenSSL context and
 * the RSA operation: ~80 µs) would dominate authenticated playback. So a
 * token that verified is remembered by its SHA-256, with what it was
 * verified for, until its "exp". Direct-mapped: a colliding token replaces
 * the entry. A hit still confirms the key exists (signing_key_load), so
 * deleting a key revokes its remembered tokens too. */
#define SIGNING_SEEN_SIZE 1024
#define SIGNING_PLAYBACK_CAP 65

typedef struct {
  unsigned char hash[32];
  char kid[SIGNING_KID_CAP];
  char project_id[37];
  char playback_id[SIGNING_PLAYBACK_CAP];
  double exp; /* valid while now < exp */
  int used;
} signing_seen_t;

static signing_seen_t signing_seen[SIGNING_SEEN_SIZE];

static signing_seen_t *signing_seen_slot(const unsigned char hash[32]) {
  return &signing_seen[((unsigned)hash[0] << 8 | hash[1]) % SIGNING_SEEN_SIZE];
}

/* Was this token verified before for this project and playback id, and is
 * it unexpired? Caller holds no lock. */
static int signing_seen_hit(const unsigned char hash[32], const char *kid, const char *project_id,
                            const char *playback_id, int64_t now) {
  pthread_mutex_lock(&signing_mu);
  const signing_seen_t *e = signing_seen_slot(hash);
  int hit = e->used && memcmp(e->hash, hash, 32) == 0 && (double)now < e->exp &&
            strcmp(e->kid, kid) == 0 && strcmp(e->project_id, project_id) == 0 &&
            strcmp(e->playback_id, playback_id) == 0;
  pthread_mutex_unlock(&signing_mu);
  return hit;
}

static void signing_seen_put(const unsigned char hash[32], const char *kid, const char *project_id,
                             const char *playback_id, double exp) {
  if (strlen(playback_id) >= SIGNING_PLAYBACK_CAP || strlen(project_id) >= 37) return;
  pthread_mutex_lock(&signing_mu);
  signing_seen_t *e = signing_seen_slot(hash);
  memcpy(e->hash, hash, 32);
  memcpy(e->kid, kid, strlen(kid) + 1);
  memcpy(e->project_id, project_id, strlen(project_id) + 1);
  memcpy(e->playback_id, playback_id, strlen(playback_id) + 1);
  e->exp = exp;
  e->used = 1;
  pthread_mutex_unlock(&signing_mu);
}

/* ---- the cache of parsed public keys ----
 *
 * A slot with pkey == NULL is free. Lookups hand out their own reference
 * (EVP_PKEY_up_ref), so a key evicted or forgotten by another thread stays
 * valid until its user frees it. Linear scans: 64 short memcmp()s cost less
 * than the SELECT that follows. */
typedef struct {
  char kid[SIGNING_KID_CAP];
  char project_id[37];
  EVP_PKEY *pkey;
  uint64_t used; /* LRU clock */
} signing_slot_t;

static signing_slot_t signing_cache[SIGNING_CACHE_SIZE];
static uint64_t signing_clock;

/* Returns a new reference to the cached key of kid (NULL when absent) and
 * copies its project into project_id. */
static EVP_PKEY *signing_cache_get(const char *kid, char project_id[37]) {
  EVP_PKEY *k = NULL;
  pthread_mutex_lock(&signing_mu);
  for (int i = 0; i < SIGNING_CACHE_SIZE; i++) {
    signing_slot_t *s = &signing_cache[i];
    if (s->pkey && strcmp(s->kid, kid) == 0) {
      if (EVP_PKEY_up_ref(s->pkey) == 1) {
        k = s->pkey;
        s->used = ++signing_clock;
        memcpy(project_id, s->project_id, 37);
      }
      break;
    }
  }
  pthread_mutex_unlock(&signing_mu);
  return k;
}

/* Caches pkey (takes its own reference) for kid, evicting the least
 * recently used key when full. */
static void signing_cache_put(const char *kid, const char *project_id, EVP_PKEY *pkey) {
  if (strlen(kid) >= SIGNING_KID_CAP || strlen(project_id) >= 37) return;
  if (EVP_PKEY_up_ref(pkey) != 1) return;
  EVP_PKEY *old = NULL;
  pthread_mutex_lock(&signing_mu);
  signing_slot_t *slot = NULL;
  for (int i = 0; i < SIGNING_CACHE_SIZE; i++) {
    signing_slot_t *s = &signing_cache[i];
    if (s->pkey && strcmp(s->kid, kid) == 0) { /* another thread was first */
      slot = s;
      break;
    }
    if (!slot || (slot->pkey && (!s->pkey || s->used < slot->used))) slot = s;
  }
  old = slot->pkey;
  memcpy(slot->kid, kid, strlen(kid) + 1);
  memcpy(slot->project_id, project_id, strlen(project_id) + 1);
  slot->pkey = pkey;
  slot->used = ++signing_clock;
  pthread_mutex_unlock(&signing_mu);
  EVP_PKEY_free(old);
}

void signing_cache_forget(const char *kid) {
  if (!kid) return;
  EVP_PKEY *old = NULL;
  pthread_mutex_lock(&signing_mu);
  for (int i = 0; i < SIGNING_CACHE_SIZE; i++) {
    signing_slot_t *s = &signing_cache[i];
    if (s->pkey && strcmp(s->kid, kid) == 0) {
      old = s->pkey;
      memset(s, 0, sizeof(*s));
      break;
    }
  }
  pthread_mutex_unlock(&signing_mu);
  EVP_PKEY_free(old);
}

void signing_cache_clear(void) {
  pthread_mutex_lock(&signing_mu);
  for (int i = 0; i < SIGNING_CACHE_SIZE; i++) {
    EVP_PKEY_free(signing_cache[i].pkey);
    memset(&signing_cache[i], 0, sizeof(signing_cache[i]));
  }
  signing_clock = 0;
  memset(signing_seen, 0, sizeof(signing_seen));
  pthread_mutex_unlock(&signing_mu);
}

/* ---- verification ---- */

static EVP_PKEY *signing_parse_public(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}

/* The public key of kid if it is a key of project_id that still exists:
 * one SELECT by primary key, plus a PEM parse on a cache miss. *out is a
 * new reference. ERR_UNAUTHORIZED when it is not such a key. */
static int signing_key_load(store_t *st, const char *project_id, const char *kid, EVP_PKEY **out) {
  *out = NULL;
  char owner[37];
  EVP_PKEY *k = signing_cache_get(kid, owner);
  if (k) {
    /* Key ids are random UUIDs, never reused: a cached key of another
     * project stays another project's key. */
    int rc = strcmp(owner, project_id) == 0 ? store_signing_key_exists(st, project_id, kid) : 0;
    if (rc == 1) {
      *out = k;
      return 0;
    }
    EVP_PKEY_free(k);
    if (rc < 0) return rc;
    if (strcmp(owner, project_id) == 0) signing_cache_forget(kid); /* deleted */
    return ERR_UNAUTHORIZED;
  }
  store_signing_key_t row;
  int rc = store_signing_key_get(st, project_id, kid, &row);
  if (rc == ERR_NOT_FOUND) return ERR_UNAUTHORIZED;
  if (rc) return rc;
  k = row.public_key_pem ? signing_parse_public(row.public_key_pem) : NULL;
  store_signing_key_clear(&row);
  if (!k) {
    log_error("signing_key_unreadable kid=%s project=%s", kid, project_id);
    return ERR_INTERNAL;
  }
  signing_cache_put(kid, project_id, k);
  *out = k;
  return 0;
}

/* RFC 7519 "aud" is a string or an array of strings. */
static int signing_aud_is_video(const json_t *aud) {
  if (json_is_string(aud)) return strcmp(json_string_value(aud), "v") == 0;
  if (!json_is_array(aud)) return 0;
  size_t i;
  const json_t *v;
  json_array_foreach(aud, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), "v") == 0) return 1;
  }
  return 0;
}

int signing_verify_playback(store_t *st, const char *project_id, const char *playback_id,
                            const char *token, int64_t now) {
  if (!st || !project_id || !playback_id) return ERR_INVALID;
  if (!token || !*token) return ERR_UNAUTHORIZED;
  char kid[SIGNING_KID_CAP];
  /* No kid, a kid too long for a UUID, or no JWT at all. */
  if (jwt_header_kid(token, kid, sizeof(kid)) != 0 || !*kid) return ERR_UNAUTHORIZED;
  EVP_PKEY *pub;
  int rc = signing_key_load(st, project_id, kid, &pub);
  if (rc) {
    if (rc == ERR_UNAUTHORIZED)
      log_debug("playback_token_refused playback_id=%s kid=%s reason=unknown_key", playback_id,
                kid);
    return rc;
  }
  /* jwt_header_kid() accepted it, so it is at most JWT_MAX_TOKEN_LEN. */
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)token, strlen(token), hash);
  if (signing_seen_hit(hash, kid, project_id, playback_id, now)) {
    EVP_PKEY_free(pub);
    return 0;
  }
  json_t *claims = NULL;
  rc = jwt_rs256_verify(pub, token, now, NULL, &claims);
  EVP_PKEY_free(pub);
  if (rc) {
    log_debug("playback_token_refused playback_id=%s kid=%s reason=bad_or_expired", playback_id,
              kid);
    return ERR_UNAUTHORIZED;
  }
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  const json_t *aud = json_object_get(claims, "aud");
  if (!sub) {
    rc = ERR_UNAUTHORIZED;
  } else if (strcmp(sub, playback_id) != 0 || (aud && !signing_aud_is_video(aud))) {
    rc = ERR_FORBIDDEN;
  }
  if (rc)
    log_debug("playback_token_refused playback_id=%s kid=%s reason=%s", playback_id, kid,
              sub ? "other_playback_id_or_audience" : "no_sub");
  else
    signing_seen_put(hash, kid, project_id, playback_id,
                     json_number_value(json_object_get(claims, "exp")));
  json_decref(claims);
  return rc;
}
