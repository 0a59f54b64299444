/* targets.c — the children of a live stream: playback ids and simulcast
 * targets. Inserts succeed only while the parent stream exists and is not
 * deleted (checked in the INSERT itself); store_stream_delete() removes them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

/* Runs a bound INSERT … WHERE EXISTS(parent) or DELETE; no row → not found. */
static int run_some(store_t *st, sqlite3_stmt *s, int brc, const char *op) {
  int changes = 0;
  int rc = store__run(st, s, brc, op, &changes);
  return rc == 0 && changes == 0 ? ERR_NOT_FOUND : rc;
}

/* ---- playback ids ---- */

static void playback_row(sqlite3_stmt *s, store_playback_t *p) {
  memset(p, 0, sizeof(*p));
  store__col_copy(s, 0, p->id, sizeof(p->id));
  store__col_copy(s, 1, p->stream_id, sizeof(p->stream_id));
  store__col_copy(s, 2, p->policy, sizeof(p->policy));
  p->created_at = sqlite3_column_int64(s, 3);
}

int store_playback_insert(store_t *st, const store_playback_t *p) {
  if (!store__fits(p->id, sizeof(p->id)) || !store__fits(p->stream_id, sizeof(p->stream_id)) ||
      !store__fits(p->policy, sizeof(p->policy)))
    return ERR_INVALID;
  sqlite3_stmt *s = st->stmt[STORE__PLAYBACK_INSERT];
  int brc = store__bind(s, "tttl", p->id, p->stream_id, p->policy, (int64_t)p->created_at);
  return run_some(st, s, brc, "playback_insert");
}

int store_playback_delete(store_t *st, const char *stream_id, const char *id) {
  if (!stream_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__PLAYBACK_DELETE];
  return run_some(st, s, store__bind(s, "tt", stream_id, id), "playback_delete");
}

int store_playback_list(store_t *st, const char *stream_id, store_playback_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!stream_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__PLAYBACK_LIST];
  store_playback_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc = store__bind(s, "t", stream_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "playback_list");
  } else {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        store_playback_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      playback_row(s, &arr[len++]);
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "playback_list");
  }
  store__done(s);
  if (ret) {
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_playback_get(store_t *st, const char *id, store_playback_t *out) {
  if (!id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__PLAYBACK_GET];
  int rc = store__bind(s, "t", id), ret;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "playback_get");
  } else {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      playback_row(s, out);
      ret = 0;
    } else {
      ret = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "playback_get");
    }
  }
  store__done(s);
  return ret;
}

/* ---- simulcast targets ---- */

void store_simulcast_clear(store_simulcast_t *t) {
  if (!t) return;
  free(t->url);
  free(t->stream_key);
  memset(t, 0, sizeof(*t));
}

int store_simulcast_insert(store_t *st, const store_simulcast_t *t) {
  if (!store__fits(t->id, sizeof(t->id)) || !store__fits(t->stream_id, sizeof(t->stream_id)) ||
      !t->url || !t->stream_key)
    return ERR_INVALID;
  sqlite3_stmt *s = st->stmt[STORE__SIMULCAST_INSERT];
  int brc =
      store__bind(s, "ttttl", t->id, t->stream_id, t->url, t->stream_key, (int64_t)t->created_at);
  return run_some(st, s, brc, "simulcast_insert");
}

int store_simulcast_delete(store_t *st, const char *stream_id, const char *id) {
  if (!stream_id || !id) return ERR_NOT_FOUND;
  sqlite3_stmt *s = st->stmt[STORE__SIMULCAST_DELETE];
  return run_some(st, s, store__bind(s, "tt", stream_id, id), "simulcast_delete");
}

int store_simulcast_list(store_t *st, const char *stream_id, store_simulcast_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!stream_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__SIMULCAST_LIST];
  store_simulcast_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc = store__bind(s, "t", stream_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "simulcast_list");
  } else {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        store_simulcast_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      store_simulcast_t *t = &arr[len];
      memset(t, 0, sizeof(*t));
      store__col_copy(s, 0, t->id, sizeof(t->id));
      store__col_copy(s, 1, t->stream_id, sizeof(t->stream_id));
      t->url = store__col_dup(s, 2, &ret);
      t->stream_key = store__col_dup(s, 3, &ret);
      t->created_at = sqlite3_column_int64(s, 4);
      if (ret) {
        store_simulcast_clear(t);
        break;
      }
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "simulcast_list");
  }
  store__done(s);
  if (ret) {
    for (size_t i = 0; i < len; i++) store_simulcast_clear(&arr[i]);
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}
