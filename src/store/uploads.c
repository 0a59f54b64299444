/* uploads.c — the uploads table (store/uploads.h). */
#include "store/uploads.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define UPLOAD_COLS                                                                        \
  "id, owner_kind, owner_id, local_path, object_name, destination, status, notified, "   \
  "attempts, next_attempt_at, url, last_error, bytes, created_at, updated_at"

void store_upload_clear(store_upload_t *u) {
  if (!u) return;
  free(u->local_path);
  free(u->object_name);
  free(u->destination_json);
  free(u->url);
  free(u->last_error);
  u->local_path = u->object_name = u->destination_json = u->url = u->last_error = NULL;
}

static int row_read(sqlite3_stmt *s, store_upload_t *o) {
  int err = 0;
  memset(o, 0, sizeof(*o));
  store__col_copy(s, 0, o->id, sizeof(o->id));
  store__col_copy(s, 1, o->owner_kind, sizeof(o->owner_kind));
  store__col_copy(s, 2, o->owner_id, sizeof(o->owner_id));
  o->local_path = store__col_dup(s, 3, &err);
  o->object_name = store__col_dup(s, 4, &err);
  o->destination_json = store__col_dup(s, 5, &err);
  o->status = sqlite3_column_int(s, 6);
  o->notified = sqlite3_column_int(s, 7);
  o->attempts = sqlite3_column_int(s, 8);
  o->next_attempt_ms = sqlite3_column_int64(s, 9);
  o->url = store__col_dup(s, 10, &err);
  o->last_error = store__col_dup(s, 11, &err);
  o->bytes = sqlite3_column_int64(s, 12);
  o->created_at = sqlite3_column_int64(s, 13);
  o->updated_at = sqlite3_column_int64(s, 14);
  if (!err && (!o->local_path || !o->object_name || !o->destination_json)) err = ERR_DB;
  return err;
}

int store_upload_insert(store_t *st, const store_upload_t *u) {
  if (!store__fits(u->id, sizeof(u->id)) || !store__fits(u->owner_kind, sizeof(u->owner_kind)) ||
      !store__fits(u->owner_id, sizeof(u->owner_id)) || !u->local_path || !u->object_name ||
      !u->destination_json)
    return ERR_INVALID;
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "INSERT INTO uploads (id, owner_kind, owner_id, local_path, object_name, "
                   "destination, status, notified, attempts, next_attempt_at, created_at, "
                   "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, ?7, ?8, ?8)",
                   &s, "upload_insert");
  if (rc) return rc;
  int brc = store__bind(s, "ttttttll", u->id, u->owner_kind, u->owner_id, u->local_path,
                        u->object_name, u->destination_json, u->next_attempt_ms, u->created_at);
  rc = store__run(st, s, brc, "upload_insert", NULL);
  sqlite3_finalize(s);
  return rc;
}

static int list(store_t *st, const char *sql, const char *fmt, const char *a, const char *b,
                store_upload_cb cb, void *ud, const char *op) {
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st, sql, &s, op);
  if (rc) return rc;
  int brc = *fmt ? store__bind(s, fmt, a, b) : SQLITE_OK;
  if (brc != SQLITE_OK) {
    rc = store__fail(st, brc, op);
  } else {
    store_upload_t row;
    while ((brc = sqlite3_step(s)) == SQLITE_ROW) {
      rc = row_read(s, &row);
      if (!rc) rc = cb(ud, &row);
      store_upload_clear(&row);
      if (rc) break;
    }
    if (rc == 0 && brc != SQLITE_DONE) rc = store__fail(st, brc, op);
  }
  sqlite3_finalize(s);
  return rc;
}

int store_upload_list_open(store_t *st, store_upload_cb cb, void *ud) {
  return list(st, "SELECT " UPLOAD_COLS " FROM uploads WHERE notified = 0 "
                  "ORDER BY created_at, rowid",
              "", NULL, NULL, cb, ud, "upload_list_open");
}

int store_upload_list_owner(store_t *st, const char *owner_kind, const char *owner_id,
                            store_upload_cb cb, void *ud) {
  if (!owner_kind || !owner_id) return ERR_INVALID;
  return list(st, "SELECT " UPLOAD_COLS " FROM uploads WHERE owner_kind = ?1 AND owner_id = ?2 "
                  "ORDER BY created_at, rowid",
              "tt", owner_kind, owner_id, cb, ud, "upload_list_owner");
}

int store_upload_retry(store_t *st, const char *id, int attempts, const char *error,
                       int64_t next_attempt_ms, int64_t now) {
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "UPDATE uploads SET attempts = ?2, last_error = ?3, next_attempt_at = ?4, "
                   "updated_at = ?5 WHERE id = ?1 AND status = 0",
                   &s, "upload_retry");
  if (rc) return rc;
  int brc = store__bind(s, "titll", id, attempts, error, next_attempt_ms, now);
  rc = store__run(st, s, brc, "upload_retry", NULL);
  sqlite3_finalize(s);
  return rc;
}

int store_upload_finish(store_t *st, const char *id, int status, int attempts, const char *url,
                        const char *error, int64_t bytes, int64_t now) {
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "UPDATE uploads SET status = ?2, attempts = ?3, url = ?4, last_error = ?5, "
                   "bytes = ?6, updated_at = ?7 WHERE id = ?1",
                   &s, "upload_finish");
  if (rc) return rc;
  int brc = store__bind(s, "tiittll", id, status, attempts, url, error, bytes, now);
  rc = store__run(st, s, brc, "upload_finish", NULL);
  sqlite3_finalize(s);
  return rc;
}

int store_upload_set_notified(store_t *st, const char *id) {
  sqlite3_stmt *s;
  int rc = store__prepare(st, "UPDATE uploads SET notified = 1 WHERE id = ?1", &s, "upload_notified");
  if (rc) return rc;
  int brc = store__bind(s, "t", id);
  rc = store__run(st, s, brc, "upload_notified", NULL);
  sqlite3_finalize(s);
  return rc;
}

int store_upload_delete_owner(store_t *st, const char *owner_kind, const char *owner_id, int *n) {
  sqlite3_stmt *s;
  int rc = store__prepare(st, "DELETE FROM uploads WHERE owner_kind = ?1 AND owner_id = ?2", &s,
                   "upload_delete_owner");
  if (rc) return rc;
  int changes = 0;
  int brc = store__bind(s, "tt", owner_kind, owner_id);
  rc = store__run(st, s, brc, "upload_delete_owner", &changes);
  sqlite3_finalize(s);
  if (n) *n = changes;
  return rc;
}

int store_upload_prune(store_t *st, int64_t before, int *n) {
  sqlite3_stmt *s;
  int rc = store__prepare(st, "DELETE FROM uploads WHERE notified = 1 AND updated_at < ?1", &s,
                   "upload_prune");
  if (rc) return rc;
  int changes = 0;
  int brc = store__bind(s, "l", before);
  rc = store__run(st, s, brc, "upload_prune", &changes);
  sqlite3_finalize(s);
  if (n) *n = changes;
  return rc;
}
