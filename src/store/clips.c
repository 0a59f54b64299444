/* clips.c — the clips table (store/clips.h). */
#include "store/clips.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define CLIP_COLS                                                                            \
  "id, project_id, stream_id, name, status, start_ms, end_ms, media_start_ms, duration_ms, " \
  "size_bytes, width, height, playback_policy, error, created_at, updated_at"

static void row_read(sqlite3_stmt *s, store_clip_t *c) {
  memset(c, 0, sizeof(*c));
  store__col_copy(s, 0, c->id, sizeof(c->id));
  store__col_copy(s, 1, c->project_id, sizeof(c->project_id));
  store__col_copy(s, 2, c->stream_id, sizeof(c->stream_id));
  store__col_copy(s, 3, c->name, sizeof(c->name));
  c->status = sqlite3_column_int(s, 4);
  c->start_ms = sqlite3_column_int64(s, 5);
  c->end_ms = sqlite3_column_int64(s, 6);
  c->media_start_ms = sqlite3_column_int64(s, 7);
  c->duration_ms = sqlite3_column_int64(s, 8);
  c->size_bytes = sqlite3_column_int64(s, 9);
  c->width = sqlite3_column_int(s, 10);
  c->height = sqlite3_column_int(s, 11);
  store__col_copy(s, 12, c->playback_policy, sizeof(c->playback_policy));
  store__col_copy(s, 13, c->error, sizeof(c->error));
  c->created_at = sqlite3_column_int64(s, 14);
  c->updated_at = sqlite3_column_int64(s, 15);
}

/* Steps s and appends every row to a growing array. */
static int rows_read(store_t *st, sqlite3_stmt *s, const char *op, store_clip_t **out, size_t *n) {
  store_clip_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc, ret = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      store_clip_t *na = realloc(arr, ncap * sizeof(*na));
      if (!na) {
        ret = ERR_NOMEM;
        break;
      }
      arr = na;
      cap = ncap;
    }
    row_read(s, &arr[len++]);
  }
  if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, op);
  if (ret) {
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_clip_insert(store_t *st, const store_clip_t *c) {
  if (!store__fits(c->id, sizeof(c->id)) || !store__fits(c->project_id, sizeof(c->project_id)) ||
      !store__fits(c->stream_id, sizeof(c->stream_id)) ||
      !store__fits(c->playback_policy, sizeof(c->playback_policy)))
    return ERR_INVALID;
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "INSERT INTO clips (" CLIP_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                   "?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                   &s, "clip_insert");
  if (rc) return rc;
  int brc = store__bind(s, "ttttilllllii" "ttll", c->id, c->project_id, c->stream_id,
                        c->name[0] ? c->name : NULL, c->status, c->start_ms, c->end_ms,
                        c->media_start_ms, c->duration_ms, c->size_bytes, c->width, c->height,
                        c->playback_policy, c->error[0] ? c->error : NULL, c->created_at,
                        c->updated_at);
  rc = store__run(st, s, brc, "clip_insert", NULL);
  sqlite3_finalize(s);
  return rc;
}

int store_clip_get(store_t *st, const char *project_id, const char *id, store_clip_t *out) {
  memset(out, 0, sizeof(*out));
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "SELECT " CLIP_COLS " FROM clips WHERE id = ?1 AND (?2 IS NULL OR project_id = ?2)",
                   &s, "clip_get");
  if (rc) return rc;
  int brc = store__bind(s, "tt", id, project_id);
  if (brc != SQLITE_OK) {
    rc = store__fail(st, brc, "clip_get");
  } else if ((brc = sqlite3_step(s)) == SQLITE_ROW) {
    row_read(s, out);
  } else {
    rc = brc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, brc, "clip_get");
  }
  sqlite3_finalize(s);
  return rc;
}

int store_clip_list(store_t *st, const char *project_id, const char *stream_id,
                    store_clip_sort_t sort, int descending, long limit, long offset,
                    store_clip_t **out, size_t *n, long *total) {
  *out = NULL;
  *n = 0;
  *total = 0;
  if (!project_id || !stream_id) return 0;
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st, "SELECT COUNT(*) FROM clips WHERE project_id = ?1 AND stream_id = ?2", &s,
                   "clip_count");
  if (rc) return rc;
  int brc = store__bind(s, "tt", project_id, stream_id);
  if (brc != SQLITE_OK || (brc = sqlite3_step(s)) != SQLITE_ROW)
    rc = store__fail(st, brc, "clip_count");
  else
    *total = (long)sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  if (rc) return rc;
  /* The ORDER BY is one of four fixed strings, never caller text. */
  static const char *const orders[2][2] = {
      {"created_at ASC, rowid ASC", "created_at DESC, rowid DESC"},
      {"end_ms - start_ms ASC, created_at ASC, rowid ASC",
       "end_ms - start_ms DESC, created_at DESC, rowid DESC"}};
  char sql[512];
  snprintf(sql, sizeof(sql),
           "SELECT " CLIP_COLS " FROM clips WHERE project_id = ?1 AND stream_id = ?2 "
           "ORDER BY %s LIMIT ?3 OFFSET ?4",
           orders[sort == STORE_CLIP_SORT_DURATION][descending != 0]);
  if ((rc = store__prepare(st, sql, &s, "clip_list")) != 0) return rc;
  brc = store__bind(s, "ttll", project_id, stream_id, (int64_t)limit, (int64_t)offset);
  rc = brc != SQLITE_OK ? store__fail(st, brc, "clip_list") : rows_read(st, s, "clip_list", out, n);
  sqlite3_finalize(s);
  return rc;
}

int store_clip_list_status(store_t *st, int status, store_clip_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st, "SELECT " CLIP_COLS " FROM clips WHERE status = ?1 ORDER BY created_at, rowid",
                   &s, "clip_list_status");
  if (rc) return rc;
  int brc = store__bind(s, "i", status);
  rc = brc != SQLITE_OK ? store__fail(st, brc, "clip_list_status")
                        : rows_read(st, s, "clip_list_status", out, n);
  sqlite3_finalize(s);
  return rc;
}

int store_clip_finish(store_t *st, const store_clip_t *c) {
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "UPDATE clips SET status = ?2, media_start_ms = ?3, duration_ms = ?4, "
                   "size_bytes = ?5, width = ?6, height = ?7, error = ?8, updated_at = ?9 "
                   "WHERE id = ?1 AND status = 0",
                   &s, "clip_finish");
  if (rc) return rc;
  int brc = store__bind(s, "tilllii" "tl", c->id, c->status, c->media_start_ms, c->duration_ms,
                        c->size_bytes, c->width, c->height, c->error[0] ? c->error : NULL,
                        c->updated_at);
  int changes = 0;
  rc = store__run(st, s, brc, "clip_finish", &changes);
  sqlite3_finalize(s);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}

int store_clip_delete(store_t *st, const char *project_id, const char *id) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s;
  int rc = store__prepare(st, "DELETE FROM clips WHERE id = ?1 AND project_id = ?2", &s, "clip_delete");
  if (rc) return rc;
  int brc = store__bind(s, "tt", id, project_id);
  int changes = 0;
  rc = store__run(st, s, brc, "clip_delete", &changes);
  sqlite3_finalize(s);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}
