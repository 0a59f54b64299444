/* signing_keys.c — public halves of the projects' playback signing keys
 * (auth/signing.h). The private half is never stored. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

void store_signing_key_clear(store_signing_key_t *k) {
  if (!k) return;
  free(k->public_key_pem);
  memset(k, 0, sizeof(*k));
}

/* Row: id, project_id, public_key_pem, created_at. */
static int signing_key_row(sqlite3_stmt *s, store_signing_key_t *k) {
  int err = 0;
  memset(k, 0, sizeof(*k));
  store__col_copy(s, 0, k->id, sizeof(k->id));
  store__col_copy(s, 1, k->project_id, sizeof(k->project_id));
  k->public_key_pem = store__col_dup(s, 2, &err);
  k->created_at = sqlite3_column_int64(s, 3);
  return err;
}

int store_signing_key_insert(store_t *st, const store_signing_key_t *k, int max_per_project) {
  if (!store__fits(k->id, sizeof(k->id)) || !store__fits(k->project_id, sizeof(k->project_id)) ||
      !k->public_key_pem || !*k->public_key_pem || max_per_project <= 0)
    return ERR_INVALID;
  /* The limit is checked by the INSERT itself: two concurrent creations
   * (or another process) cannot both slip under it. */
  sqlite3_stmt *s = st->stmt[STORE__SIGNING_KEY_INSERT];
  int brc = store__bind(s, "tttli", k->id, k->project_id, k->public_key_pem, (int64_t)k->created_at,
                        max_per_project);
  int changes = 0;
  int rc = store__run(st, s, brc, "signing_key_insert", &changes);
  return rc == 0 && changes == 0 ? ERR_CONFLICT : rc;
}

int store_signing_key_get(store_t *st, const char *project_id, const char *id,
                          store_signing_key_t *out) {
  memset(out, 0, sizeof(*out));
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__SIGNING_KEY_GET];
  int rc = store__bind(s, "tt", id, project_id), ret;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "signing_key_get");
  } else {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      ret = signing_key_row(s, out);
      if (ret) store_signing_key_clear(out);
    } else {
      ret = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "signing_key_get");
    }
  }
  store__done(s);
  return ret;
}

int store_signing_key_exists(store_t *st, const char *project_id, const char *id) {
  if (!project_id || !id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__SIGNING_KEY_EXISTS];
  int rc = store__bind(s, "tt", id, project_id), ret;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "signing_key_exists");
  } else {
    rc = sqlite3_step(s);
    ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store__fail(st, rc, "signing_key_exists");
  }
  store__done(s);
  return ret;
}

int store_signing_key_list(store_t *st, const char *project_id, store_signing_key_t **out,
                           size_t *n) {
  *out = NULL;
  *n = 0;
  if (!project_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__SIGNING_KEY_LIST];
  store_signing_key_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc = store__bind(s, "t", project_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "signing_key_list");
  } else {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        store_signing_key_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      if ((ret = signing_key_row(s, &arr[len])) != 0) {
        store_signing_key_clear(&arr[len]);
        break;
      }
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "signing_key_list");
  }
  store__done(s);
  if (ret) {
    for (size_t i = 0; i < len; i++) store_signing_key_clear(&arr[i]);
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_signing_key_delete(store_t *st, const char *project_id, const char *id) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__SIGNING_KEY_DELETE];
  int changes = 0;
  int rc = store__run(st, s, store__bind(s, "tt", id, project_id), "signing_key_delete", &changes);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}
