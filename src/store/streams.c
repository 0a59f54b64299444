/* streams.c — live streams and their status history. Deleted streams stay
 * as rows with deleted = 1 (their history remains) and every read filters
 * them out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"

void store_stream_clear(store_stream_t *s) {
  if (!s) return;
  free(s->name);
  free(s->params_json);
  free(s->playback_domain);
  memset(s, 0, sizeof(*s));
}

/* Fills out from a STORE__STREAM_COLS row. */
static int stream_row(sqlite3_stmt *s, store_stream_t *out) {
  int err = 0;
  memset(out, 0, sizeof(*out));
  store__col_copy(s, 0, out->id, sizeof(out->id));
  store__col_copy(s, 1, out->project_id, sizeof(out->project_id));
  out->name = store__col_dup(s, 2, &err);
  store__col_copy(s, 3, out->stream_key, sizeof(out->stream_key));
  out->status = sqlite3_column_int(s, 4);
  out->status_ts = sqlite3_column_int64(s, 5);
  out->created_at = sqlite3_column_int64(s, 6);
  out->params_json = store__col_dup(s, 7, &err);
  out->playback_domain = store__col_dup(s, 8, &err);
  if (err) store_stream_clear(out);
  return err;
}

/* Steps a bound single-row SELECT of streams; resets it. */
static int stream_fetch(store_t *st, sqlite3_stmt *s, int brc, const char *op,
                        store_stream_t *out) {
  int ret;
  if (brc != SQLITE_OK) {
    ret = store__fail(st, brc, op);
  } else {
    store__read(st);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      ret = stream_row(s, out);
    else if (rc == SQLITE_DONE)
      ret = ERR_NOT_FOUND;
    else
      ret = store__fail(st, rc, op);
  }
  store__done(s);
  return ret;
}

static int history_append(store_t *st, const char *id, int status, int64_t ts) {
  sqlite3_stmt *s = st->stmt[STORE__HISTORY_APPEND];
  return store__run(st, s, store__bind(s, "til", id, status, ts), "history_append", NULL);
}

/* Runs a bound write statement; ERR_NOT_FOUND when it touched no row. */
static int exec_some(store_t *st, sqlite3_stmt *s, int brc, const char *op) {
  int changes = 0;
  int rc = store__run(st, s, brc, op, &changes);
  if (rc == 0 && changes == 0) rc = ERR_NOT_FOUND;
  return rc;
}

int store_stream_insert(store_t *st, const store_stream_t *s) {
  if (!store__fits(s->id, sizeof(s->id)) || !store__fits(s->project_id, sizeof(s->project_id)) ||
      !store__fits(s->stream_key, sizeof(s->stream_key)))
    return ERR_INVALID;
  int rc = store__begin(st);
  if (rc) return rc;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_INSERT];
  int brc = store__bind(q, "ttttilltt", s->id, s->project_id, s->name, s->stream_key, s->status,
                        (int64_t)s->status_ts, (int64_t)s->created_at,
                        s->params_json ? s->params_json : "{}", s->playback_domain);
  rc = store__run(st, q, brc, "stream_insert", NULL);
  if (rc == 0) rc = history_append(st, s->id, s->status, s->status_ts);
  return store__end(st, rc);
}

int store_stream_get(store_t *st, const char *project_id, const char *id, store_stream_t *out) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__STREAM_GET];
  return stream_fetch(st, s, store__bind(s, "tt", id, project_id), "stream_get", out);
}

int store_stream_get_any(store_t *st, const char *id, store_stream_t *out) {
  if (!id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__STREAM_GET_ANY];
  return stream_fetch(st, s, store__bind(s, "t", id), "stream_get_any", out);
}

int store_stream_get_by_key(store_t *st, const char *stream_key, store_stream_t *out) {
  if (!stream_key || !*stream_key) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__STREAM_GET_BY_KEY];
  return stream_fetch(st, s, store__bind(s, "t", stream_key), "stream_get_by_key", out);
}

int store_stream_update(store_t *st, const store_stream_t *s) {
  if (!store__fits(s->id, sizeof(s->id))) return ERR_NOT_FOUND;
  if (!store__fits(s->stream_key, sizeof(s->stream_key))) return ERR_INVALID;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_UPDATE];
  int brc = store__bind(q, "ttttt", s->id, s->name, s->stream_key,
                        s->params_json ? s->params_json : "{}", s->playback_domain);
  return exec_some(st, q, brc, "stream_update");
}

int store_stream_set_status(store_t *st, const char *id, int status, int64_t ts) {
  if (!id) return ERR_NOT_FOUND;
  int rc = store__begin(st);
  if (rc) return rc;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_SET_STATUS];
  rc = exec_some(st, q, store__bind(q, "til", id, status, ts), "stream_set_status");
  if (rc == 0) rc = history_append(st, id, status, ts);
  return store__end(st, rc);
}

int store_stream_hls_floor(store_t *st, const char *id, uint64_t *out) {
  *out = 0;
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *q = st->stmt[STORE__STREAM_HLS_FLOOR];
  int rc = store__bind(q, "t", id);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t v = sqlite3_column_int64(q, 0);
    *out = v > 0 ? (uint64_t)v : 0;
    rc = 0;
  } else {
    rc = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "stream_hls_floor");
  }
  store__done(q);
  return rc;
}

int store_stream_raise_hls_floor(store_t *st, const char *id, uint64_t end) {
  if (!id) return ERR_NOT_FOUND;
  if (end > INT64_MAX) end = INT64_MAX;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_RAISE_HLS_FLOOR];
  return exec_some(st, q, store__bind(q, "tl", id, (int64_t)end), "stream_raise_hls_floor");
}

int store_stream_set_ingest_error(store_t *st, const char *id, const char *message, int64_t ts) {
  if (!id) return ERR_NOT_FOUND;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_SET_INGEST_ERROR];
  return exec_some(st, q, store__bind(q, "ttl", id, message, message ? ts : (int64_t)0),
                   "stream_set_ingest_error");
}

int store_stream_ingest_error(store_t *st, const char *id, char *buf, size_t cap, int64_t *ts) {
  if (cap) buf[0] = '\0';
  *ts = 0;
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *q = st->stmt[STORE__STREAM_INGEST_ERROR];
  int rc = store__bind(q, "t", id);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    const unsigned char *text = sqlite3_column_text(q, 0);
    if (text && cap) snprintf(buf, cap, "%s", (const char *)text);
    *ts = sqlite3_column_int64(q, 1);
    rc = text ? 0 : ERR_NOT_FOUND;
  } else {
    rc = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "stream_ingest_error");
  }
  store__done(q);
  return rc;
}

int store_stream_delete(store_t *st, const char *project_id, const char *id, int deleted_status,
                        int64_t ts) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  int rc = store__begin(st);
  if (rc) return rc;
  sqlite3_stmt *q = st->stmt[STORE__STREAM_DELETE];
  rc =
      exec_some(st, q, store__bind(q, "ttil", id, project_id, deleted_status, ts), "stream_delete");
  if (rc == 0) rc = history_append(st, id, deleted_status, ts);
  if (rc == 0) {
    q = st->stmt[STORE__PLAYBACK_DELETE_STREAM];
    rc = store__run(st, q, store__bind(q, "t", id), "stream_delete_playback", NULL);
  }
  if (rc == 0) {
    q = st->stmt[STORE__SIMULCAST_DELETE_STREAM];
    rc = store__run(st, q, store__bind(q, "t", id), "stream_delete_simulcast", NULL);
  }
  rc = store__end(st, rc);
  if (rc == 0) log_info("stream_deleted id=%s project=%s", id, project_id);
  return rc;
}

/* Lists read every row first and reset the statement before calling cb, so
 * cb may use the store — even write, committed at once — without re-entering
 * a running statement. */
static int stream_list(store_t *st, sqlite3_stmt *s, int brc, const char *op, store_stream_cb cb,
                       void *ud) {
  store_stream_t *arr = NULL;
  size_t len = 0, cap = 0;
  int ret = 0;
  if (brc != SQLITE_OK) {
    ret = store__fail(st, brc, op);
  } else {
    store__read(st);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        store_stream_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      if ((ret = stream_row(s, &arr[len])) != 0) break;
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, op);
  }
  store__done(s);
  for (size_t i = 0; i < len; i++) {
    if (ret == 0) ret = cb(ud, &arr[i]);
    store_stream_clear(&arr[i]);
  }
  free(arr);
  return ret;
}

int store_stream_list(store_t *st, const char *project_id, store_stream_cb cb, void *ud) {
  if (!project_id) return 0;
  sqlite3_stmt *s = st->stmt[STORE__STREAM_LIST];
  return stream_list(st, s, store__bind(s, "t", project_id), "stream_list", cb, ud);
}

int store_stream_list_all(store_t *st, store_stream_cb cb, void *ud) {
  return stream_list(st, st->stmt[STORE__STREAM_LIST_ALL], SQLITE_OK, "stream_list_all", cb, ud);
}

int store_stream_history(store_t *st, const char *id, store_status_event_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__HISTORY_LIST];
  store_status_event_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc = store__bind(s, "t", id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "stream_history");
  } else {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        store_status_event_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      arr[len].status = sqlite3_column_int(s, 0);
      arr[len].ts = sqlite3_column_int64(s, 1);
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "stream_history");
  }
  store__done(s);
  /* Every stream has at least its initial status; none means no such stream. */
  if (ret == 0 && len == 0) ret = ERR_NOT_FOUND;
  if (ret) {
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}
