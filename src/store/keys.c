/* keys.c — API keys (one key is one project). Only the SHA-256 of a key is
 * stored; the plaintext exists once, in store_apikey_create()'s output. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_int.h"

#define KEY_TAG "onair_"
#define KEY_RANDOM_BYTES 24 /* 48 hex chars, 192 bits */
#define KEY_PREFIX_LEN 10
/* Longer presented keys cannot be ours; do not spend a hash on them. */
#define KEY_MAX_LEN 256

/* Row: id, name, prefix, created_at, revoked (KEY_BY_HASH and KEY_LIST). */
static void key_row(sqlite3_stmt *s, store_apikey_t *k) {
  memset(k, 0, sizeof(*k));
  store__col_copy(s, 0, k->id, sizeof(k->id));
  store__col_copy(s, 1, k->name, sizeof(k->name));
  store__col_copy(s, 2, k->prefix, sizeof(k->prefix));
  k->created_at = sqlite3_column_int64(s, 3);
  k->revoked = sqlite3_column_int(s, 4) != 0;
}

int store_apikey_create(store_t *st, const char *name, store_apikey_t *out, char key_out[64]) {
  if (!name) name = "";
  if (strlen(name) >= sizeof(out->name)) return ERR_INVALID;
  unsigned char raw[KEY_RANDOM_BYTES];
  char key[64], hash[65];
  store_apikey_t k;
  memset(&k, 0, sizeof(k));
  int rc = util_random_bytes(raw, sizeof(raw));
  if (rc == 0) rc = util_uuid4(k.id);
  if (rc) {
    explicit_bzero(raw, sizeof(raw));
    return rc;
  }
  memcpy(key, KEY_TAG, sizeof(KEY_TAG) - 1);
  util_hex(raw, sizeof(raw), key + sizeof(KEY_TAG) - 1);
  explicit_bzero(raw, sizeof(raw));
  util_sha256_hex(key, strlen(key), hash);
  memcpy(k.name, name, strlen(name) + 1);
  memcpy(k.prefix, key, KEY_PREFIX_LEN);
  k.created_at = util_now();

  sqlite3_stmt *s = st->stmt[STORE__KEY_INSERT];
  int brc = store__bind(s, "ttttl", k.id, k.name, hash, k.prefix, (int64_t)k.created_at);
  rc = store__run(st, s, brc, "apikey_create", NULL);
  if (rc) {
    explicit_bzero(key, sizeof(key));
    return rc;
  }
  if (out) *out = k;
  memcpy(key_out, key, strlen(key) + 1);
  explicit_bzero(key, sizeof(key));
  log_info("apikey_created id=%s prefix=%s", k.id, k.prefix);
  return 0;
}

int store_apikey_verify(store_t *st, const char *key, store_apikey_t *out) {
  if (!key || !*key || strnlen(key, KEY_MAX_LEN + 1) > KEY_MAX_LEN) return ERR_UNAUTHORIZED;
  char hash[65];
  util_sha256_hex(key, strlen(key), hash);
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__KEY_BY_HASH];
  int rc = store__bind(s, "t", hash);
  if (rc != SQLITE_OK) {
    store__done(s);
    return store__fail(st, rc, "apikey_verify");
  }
  rc = sqlite3_step(s);
  int ret = ERR_UNAUTHORIZED;
  if (rc == SQLITE_ROW) {
    /* The index lookup already matched; the constant-time compare is the
     * authoritative check and keeps timing independent of the stored hash. */
    const char *stored = (const char *)sqlite3_column_text(s, 5);
    store_apikey_t k;
    key_row(s, &k);
    if (stored && util_secure_streq(stored, hash) && !k.revoked) {
      if (out) *out = k;
      ret = 0;
    }
  } else if (rc != SQLITE_DONE) {
    ret = store__fail(st, rc, "apikey_verify");
  }
  store__done(s);
  return ret;
}

int store_project_active(store_t *st, const char *project_id) {
  if (!project_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__KEY_ACTIVE];
  int active = 0;
  int rc = store__bind(s, "t", project_id);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    active = 1;
  else if (rc != SQLITE_DONE)
    store__fail(st, rc, "project_active");
  store__done(s);
  return active;
}

int store_apikey_list(store_t *st, store_apikey_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__KEY_LIST];
  store_apikey_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc, ret = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      store_apikey_t *na = realloc(arr, ncap * sizeof(*na));
      if (!na) {
        ret = ERR_NOMEM;
        break;
      }
      arr = na;
      cap = ncap;
    }
    key_row(s, &arr[len++]);
  }
  if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "apikey_list");
  store__done(s);
  if (ret) {
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_apikey_revoke(store_t *st, const char *id) {
  if (!id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__KEY_REVOKE];
  int changes = 0;
  int ret = store__run(st, s, store__bind(s, "t", id), "apikey_revoke", &changes);
  if (ret) return ret;
  if (changes == 0) return ERR_NOT_FOUND;
  log_info("apikey_revoked id=%s", id);
  return 0;
}
