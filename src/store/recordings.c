/* recordings.c — the recordings table (store/recordings.h).
 *
 * Recordings change a few times in their life, so statements are prepared
 * per call rather than cached (as health.c does). */
#include "store/recordings.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define REC_COLS STORE__RECORDING_COLS

void store_recording_clear(store_recording_t *r) {
  if (!r) return;
  free(r->formats);
  free(r->renditions);
  free(r->files);
  free(r->destinations);
  free(r->uploads);
  free(r->urls);
  free(r->error);
  free(r->spans);
  memset(r, 0, sizeof(*r));
}

static int row_read(sqlite3_stmt *s, store_recording_t *r) {
  int err = 0;
  memset(r, 0, sizeof(*r));
  store__col_copy(s, 0, r->id, sizeof(r->id));
  store__col_copy(s, 1, r->project_id, sizeof(r->project_id));
  store__col_copy(s, 2, r->stream_id, sizeof(r->stream_id));
  r->part = sqlite3_column_int(s, 3);
  store__col_copy(s, 4, r->status, sizeof(r->status));
  r->started_at = sqlite3_column_int64(s, 5);
  r->ended_at = sqlite3_column_int64(s, 6);
  r->duration_ms = sqlite3_column_int64(s, 7);
  r->size = sqlite3_column_int64(s, 8);
  r->formats = store__col_dup(s, 9, &err);
  r->renditions = store__col_dup(s, 10, &err);
  r->files = store__col_dup(s, 11, &err);
  r->destinations = store__col_dup(s, 12, &err);
  r->uploads = store__col_dup(s, 13, &err);
  r->urls = store__col_dup(s, 14, &err);
  r->error = store__col_dup(s, 15, &err);
  r->created_at = sqlite3_column_int64(s, 16);
  r->updated_at = sqlite3_column_int64(s, 17);
  r->start_ms = sqlite3_column_int64(s, 18);
  r->spans = store__col_dup(s, 19, &err);
  if (err) store_recording_clear(r);
  return err;
}

static const char *or_default(const char *v, const char *def) { return v ? v : def; }

/* Binds the mutable columns ?5.. in REC_COLS order after status. */
static int bind_row(sqlite3_stmt *s, const store_recording_t *r) {
  int rc = sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 2, r->project_id, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 3, r->stream_id, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 4, r->part > 0 ? r->part : 1);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 5, r->status, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, r->started_at);
  if (rc == SQLITE_OK)
    rc = r->ended_at ? sqlite3_bind_int64(s, 7, r->ended_at) : sqlite3_bind_null(s, 7);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, r->duration_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, r->size);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 10, or_default(r->formats, "[]"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(s, 11, or_default(r->renditions, "[]"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 12, or_default(r->files, "[]"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(s, 13, or_default(r->destinations, "[]"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 14, or_default(r->uploads, "{}"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 15, or_default(r->urls, "[]"), -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 16, r->error, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 17, r->created_at);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 18, r->updated_at);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 19, r->start_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(s, 20, or_default(r->spans, "[]"), -1, SQLITE_STATIC);
  return rc;
}

static int write_row(store_t *st, const store_recording_t *r, const char *sql, const char *op,
                     int *changes) {
  if (!store__fits(r->id, sizeof(r->id)) || !store__fits(r->project_id, sizeof(r->project_id)) ||
      !store__fits(r->stream_id, sizeof(r->stream_id)) || !store__fits(r->status, sizeof(r->status)))
    return ERR_INVALID;
  sqlite3_stmt *s;
  int rc = store__prepare(st, sql, &s, op);
  if (rc) return rc;
  rc = store__run(st, s, bind_row(s, r), op, changes);
  sqlite3_finalize(s);
  return rc;
}

int store_recording_insert(store_t *st, const store_recording_t *r) {
  return write_row(st, r,
                   "INSERT INTO recordings (" REC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                   "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                   "recording_insert", NULL);
}

int store_recording_update(store_t *st, const store_recording_t *r) {
  int changes = 0;
  int rc = write_row(st, r,
                     "UPDATE recordings SET part = ?4, status = ?5, started_at = ?6, "
                     "ended_at = ?7, duration_ms = ?8, size = ?9, formats = ?10, "
                     "renditions = ?11, files = ?12, destinations = ?13, uploads = ?14, "
                     "urls = ?15, error = ?16, updated_at = ?18, start_ms = ?19, spans = ?20 "
                     "WHERE id = ?1 AND project_id = ?2 AND stream_id = ?3 AND ?17 = ?17",
                     "recording_update", &changes);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}

/* Collects every row of a bound SELECT of REC_COLS; finalizes s. */
static int collect(store_t *st, sqlite3_stmt *s, int brc, const char *op, store_recording_t **out,
                   size_t *n) {
  store_recording_t *arr = NULL;
  size_t len = 0, cap = 0;
  int ret = 0, rc;
  *out = NULL;
  *n = 0;
  if (brc != SQLITE_OK) {
    ret = store__fail(st, brc, op);
  } else {
    store__read(st);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        store_recording_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      if ((ret = row_read(s, &arr[len])) != 0) break;
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, op);
  }
  sqlite3_finalize(s);
  if (ret) {
    for (size_t i = 0; i < len; i++) store_recording_clear(&arr[i]);
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_recording_get(store_t *st, const char *project_id, const char *id,
                        store_recording_t *out) {
  memset(out, 0, sizeof(*out));
  if (!id) return ERR_NOT_FOUND;
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "SELECT " REC_COLS " FROM recordings WHERE id = ?1 AND "
                   "(?2 IS NULL OR project_id = ?2)",
                   &s, "recording_get");
  if (rc) return rc;
  store_recording_t *arr;
  size_t n;
  rc = collect(st, s, store__bind(s, "tt", id, project_id), "recording_get", &arr, &n);
  if (rc) return rc;
  if (n == 0) {
    free(arr);
    return ERR_NOT_FOUND;
  }
  *out = arr[0];
  for (size_t i = 1; i < n; i++) store_recording_clear(&arr[i]);
  free(arr);
  return 0;
}

int store_recording_delete(store_t *st, const char *project_id, const char *id) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s;
  int rc = store__prepare(st, "DELETE FROM recordings WHERE id = ?1 AND project_id = ?2", &s,
                   "recording_delete");
  if (rc) return rc;
  int changes = 0;
  rc = store__run(st, s, store__bind(s, "tt", id, project_id), "recording_delete", &changes);
  sqlite3_finalize(s);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}

int store_recording_list(store_t *st, const char *project_id, const char *stream_id,
                         store_rec_sort_t sort, int descending, long limit, long offset,
                         store_recording_t **out, size_t *n, long *total) {
  *out = NULL;
  *n = 0;
  *total = 0;
  /* The ORDER BY is one of four fixed texts, never built from input. */
  static const char *const sql[2][2] = {
      {"SELECT " REC_COLS " FROM recordings WHERE project_id = ?1 AND stream_id = ?2 "
       "ORDER BY created_at, part, id LIMIT ?3 OFFSET ?4",
       "SELECT " REC_COLS " FROM recordings WHERE project_id = ?1 AND stream_id = ?2 "
       "ORDER BY created_at DESC, part DESC, id DESC LIMIT ?3 OFFSET ?4"},
      {"SELECT " REC_COLS " FROM recordings WHERE project_id = ?1 AND stream_id = ?2 "
       "ORDER BY duration_ms, id LIMIT ?3 OFFSET ?4",
       "SELECT " REC_COLS " FROM recordings WHERE project_id = ?1 AND stream_id = ?2 "
       "ORDER BY duration_ms DESC, id DESC LIMIT ?3 OFFSET ?4"}};
  sqlite3_stmt *s;
  int rc = store__prepare(st, "SELECT COUNT(*) FROM recordings WHERE project_id = ?1 AND stream_id = ?2",
                   &s, "recording_count");
  if (rc) return rc;
  rc = store__bind(s, "tt", project_id, stream_id);
  if (rc == SQLITE_OK) {
    store__read(st);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *total = (long)sqlite3_column_int64(s, 0);
    rc = rc == SQLITE_ROW ? 0 : store__fail(st, rc, "recording_count");
  } else {
    rc = store__fail(st, rc, "recording_count");
  }
  sqlite3_finalize(s);
  if (rc) return rc;
  rc = store__prepare(st, sql[sort == STORE_REC_SORT_DURATION][descending ? 1 : 0], &s,
               "recording_list");
  if (rc) return rc;
  return collect(st, s, store__bind(s, "ttll", project_id, stream_id, (int64_t)limit,
                                    (int64_t)offset),
                 "recording_list", out, n);
}

int store_recording_list_status(store_t *st, const char *status, store_recording_t **out,
                                size_t *n) {
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "SELECT " REC_COLS " FROM recordings WHERE status = ?1 "
                   "ORDER BY created_at, part, id",
                   &s, "recording_list_status");
  if (rc) return rc;
  return collect(st, s, store__bind(s, "t", status), "recording_list_status", out, n);
}

int store_recording_latest(store_t *st, const char *project_id, const char *stream_id,
                           store_recording_t *out) {
  memset(out, 0, sizeof(*out));
  if (!project_id || !stream_id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__RECORDING_LATEST];
  int rc = store__bind(s, "tt", project_id, stream_id), ret;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "recording_latest");
  } else {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      ret = row_read(s, out);
    else
      ret = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "recording_latest");
  }
  store__done(s);
  return ret;
}
