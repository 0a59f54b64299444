/* webhooks.c — project webhooks, their events and the delivery queue
 * (events/webhooks.h sends them). */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

void store_webhook_clear(store_webhook_t *w) {
  if (!w) return;
  free(w->url);
  free(w->events_json);
  /* The secret signs every delivery: do not leave it in freed memory. */
  memset(w, 0, sizeof(*w));
}

void store_delivery_clear(store_delivery_t *d) {
  if (!d) return;
  free(d->url);
  free(d->body);
  if (d->secret) {
    memset(d->secret, 0, strlen(d->secret));
    free(d->secret);
  }
  free(d->last_error);
  free(d->last_response);
  memset(d, 0, sizeof(*d));
}

/* Row: id, project_id, url, events, secret, created_at. */
static int webhook_row(sqlite3_stmt *s, store_webhook_t *w) {
  int err = 0;
  memset(w, 0, sizeof(*w));
  store__col_copy(s, 0, w->id, sizeof(w->id));
  store__col_copy(s, 1, w->project_id, sizeof(w->project_id));
  w->url = store__col_dup(s, 2, &err);
  w->events_json = store__col_dup(s, 3, &err);
  store__col_copy(s, 4, w->secret, sizeof(w->secret));
  w->created_at = sqlite3_column_int64(s, 5);
  return err;
}

/* Row: STORE__DELIVERY_COLS, then (heads only) body and secret. */
static int delivery_row(sqlite3_stmt *s, store_delivery_t *d, int with_body) {
  int err = 0;
  memset(d, 0, sizeof(*d));
  d->seq = sqlite3_column_int64(s, 0);
  store__col_copy(s, 1, d->id, sizeof(d->id));
  store__col_copy(s, 2, d->event_id, sizeof(d->event_id));
  store__col_copy(s, 3, d->event_type, sizeof(d->event_type));
  store__col_copy(s, 4, d->webhook_id, sizeof(d->webhook_id));
  store__col_copy(s, 5, d->project_id, sizeof(d->project_id));
  store__col_copy(s, 6, d->stream_id, sizeof(d->stream_id));
  d->url = store__col_dup(s, 7, &err);
  d->status = sqlite3_column_int(s, 8);
  d->attempts = sqlite3_column_int(s, 9);
  d->last_http_status = sqlite3_column_int(s, 10);
  d->last_error = store__col_dup(s, 11, &err);
  d->last_response = store__col_dup(s, 12, &err);
  d->next_attempt_ms = sqlite3_column_int64(s, 13);
  d->created_at = sqlite3_column_int64(s, 14);
  d->updated_at = sqlite3_column_int64(s, 15);
  if (with_body) {
    d->body = store__col_dup(s, 16, &err);
    d->secret = store__col_dup(s, 17, &err);
  }
  return err;
}

int store_webhook_insert(store_t *st, const store_webhook_t *w, int max_per_project) {
  if (!store__fits(w->id, sizeof(w->id)) || !store__fits(w->project_id, sizeof(w->project_id)) ||
      !store__fits(w->secret, sizeof(w->secret)) || !w->url || !*w->url || !w->events_json ||
      max_per_project <= 0)
    return ERR_INVALID;
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_INSERT];
  int brc = store__bind(s, "tttttli", w->id, w->project_id, w->url, w->events_json, w->secret,
                        (int64_t)w->created_at, max_per_project);
  int changes = 0;
  int rc = store__run(st, s, brc, "webhook_insert", &changes);
  return rc == 0 && changes == 0 ? ERR_CONFLICT : rc;
}

int store_webhook_get(store_t *st, const char *project_id, const char *id, store_webhook_t *out) {
  memset(out, 0, sizeof(*out));
  if (!project_id || !id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_GET];
  int rc = store__bind(s, "tt", id, project_id), ret;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "webhook_get");
  } else {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      ret = webhook_row(s, out);
      if (ret) store_webhook_clear(out);
    } else {
      ret = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "webhook_get");
    }
  }
  store__done(s);
  return ret;
}

int store_webhook_list(store_t *st, const char *project_id, store_webhook_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!project_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_LIST];
  store_webhook_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc = store__bind(s, "t", project_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "webhook_list");
  } else {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (len == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        store_webhook_t *na = realloc(arr, ncap * sizeof(*na));
        if (!na) {
          ret = ERR_NOMEM;
          break;
        }
        arr = na;
        cap = ncap;
      }
      if ((ret = webhook_row(s, &arr[len])) != 0) {
        store_webhook_clear(&arr[len]);
        break;
      }
      len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, "webhook_list");
  }
  store__done(s);
  if (ret) {
    for (size_t i = 0; i < len; i++) store_webhook_clear(&arr[i]);
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_webhook_delete(store_t *st, const char *project_id, const char *id) {
  if (!project_id || !id) return ERR_NOT_FOUND;
  int rc = store__begin(st), changes = 0;
  if (rc) return rc;
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_DELETE];
  rc = store__run(st, s, store__bind(s, "tt", id, project_id), "webhook_delete", &changes);
  if (rc == 0 && changes == 0) rc = ERR_NOT_FOUND;
  if (rc == 0) {
    s = st->stmt[STORE__WEBHOOK_DELETE_DELIVERIES];
    rc = store__run(st, s, store__bind(s, "t", id), "webhook_delete_deliveries", NULL);
  }
  return store__end(st, rc);
}

int store_webhook_stream_params(store_t *st, const char *stream_id, char **out) {
  *out = NULL;
  if (!stream_id) return ERR_NOT_FOUND;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_STREAM_PARAMS];
  int rc = store__bind(s, "t", stream_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "webhook_stream_params");
  } else {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      *out = store__col_dup(s, 0, &ret);
    else
      ret = rc == SQLITE_DONE ? ERR_NOT_FOUND : store__fail(st, rc, "webhook_stream_params");
    if (ret == 0 && !*out) ret = ERR_NOT_FOUND;
  }
  store__done(s);
  return ret;
}

int store_webhook_enqueue(store_t *st, const store_webhook_event_t *ev,
                          const store_delivery_target_t *t, size_t n, int64_t now_ms) {
  if (!store__fits(ev->id, sizeof(ev->id)) || !store__fits(ev->project_id, sizeof(ev->project_id)) ||
      !store__fits(ev->type, sizeof(ev->type)) || !ev->body)
    return ERR_INVALID;
  if (n == 0) return 0;
  int rc = store__begin(st);
  if (rc) return rc;
  sqlite3_stmt *s = st->stmt[STORE__WEBHOOK_EVENT_INSERT];
  rc = store__bind(s, "tttttl", ev->id, ev->project_id, ev->stream_id[0] ? ev->stream_id : NULL,
                   ev->type, ev->body, (int64_t)ev->created_at);
  rc = store__run(st, s, rc, "webhook_event_insert", NULL);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char id[37];
    if ((rc = util_uuid4(id)) != 0) break;
    const char *wid = t[i].webhook_id && *t[i].webhook_id ? t[i].webhook_id : NULL;
    s = st->stmt[STORE__DELIVERY_INSERT];
    int brc = store__bind(s, "tttttll", id, ev->id, wid, t[i].queue, t[i].url, (int64_t)now_ms,
                          (int64_t)ev->created_at);
    rc = store__run(st, s, brc, "delivery_insert", NULL);
  }
  return store__end(st, rc);
}

/* Fills an array of deliveries from a prepared, bound statement. */
static int delivery_rows(store_t *st, sqlite3_stmt *s, int with_body, const char *op,
                         store_delivery_t **out, size_t *n) {
  store_delivery_t *arr = NULL;
  size_t len = 0, cap = 0;
  int rc, ret = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      store_delivery_t *na = realloc(arr, ncap * sizeof(*na));
      if (!na) {
        ret = ERR_NOMEM;
        break;
      }
      arr = na;
      cap = ncap;
    }
    if ((ret = delivery_row(s, &arr[len], with_body)) != 0) {
      store_delivery_clear(&arr[len]);
      break;
    }
    len++;
  }
  if (ret == 0 && rc != SQLITE_DONE) ret = store__fail(st, rc, op);
  if (ret) {
    for (size_t i = 0; i < len; i++) store_delivery_clear(&arr[i]);
    free(arr);
    return ret;
  }
  *out = arr;
  *n = len;
  return 0;
}

int store_delivery_heads(store_t *st, int max, store_delivery_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (max <= 0) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__DELIVERY_HEADS];
  int rc = store__bind(s, "i", max), ret;
  ret = rc != SQLITE_OK ? store__fail(st, rc, "delivery_heads")
                        : delivery_rows(st, s, 1, "delivery_heads", out, n);
  store__done(s);
  /* The delivery thread then sleeps for up to a second: do not keep a read
   * transaction open that long (it would hold back WAL checkpoints). */
  store__snapshot_end(st);
  return ret;
}

int store_delivery_record(store_t *st, int64_t seq, int status, int attempts, int http_status,
                          const char *error, const char *response, int64_t next_attempt_ms,
                          int64_t now) {
  sqlite3_stmt *s = st->stmt[STORE__DELIVERY_RECORD];
  int brc = store__bind(s, "liiittll", (int64_t)seq, status, attempts, http_status, error, response,
                        (int64_t)next_attempt_ms, (int64_t)now);
  /* 0 changes: the webhook was deleted meanwhile, nothing to record. */
  return store__run(st, s, brc, "delivery_record", NULL);
}

int store_delivery_list(store_t *st, const char *webhook_id, long limit, long offset,
                        store_delivery_t **out, size_t *n, long *total) {
  *out = NULL;
  *n = 0;
  *total = 0;
  if (!webhook_id) return 0;
  store__read(st);
  sqlite3_stmt *s = st->stmt[STORE__DELIVERY_COUNT];
  int rc = store__bind(s, "t", webhook_id), ret = 0;
  if (rc != SQLITE_OK) {
    ret = store__fail(st, rc, "delivery_count");
  } else if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    *total = (long)sqlite3_column_int64(s, 0);
  } else {
    ret = store__fail(st, rc, "delivery_count");
  }
  store__done(s);
  if (ret) return ret;
  s = st->stmt[STORE__DELIVERY_LIST];
  rc = store__bind(s, "tll", webhook_id, (int64_t)limit, (int64_t)offset);
  ret = rc != SQLITE_OK ? store__fail(st, rc, "delivery_list")
                        : delivery_rows(st, s, 0, "delivery_list", out, n);
  store__done(s);
  return ret;
}

int store_delivery_prune(store_t *st, int64_t before) {
  int rc = store__begin(st);
  if (rc) return rc;
  sqlite3_stmt *s = st->stmt[STORE__DELIVERY_PRUNE];
  rc = store__run(st, s, store__bind(s, "l", (int64_t)before), "delivery_prune", NULL);
  if (rc == 0) {
    s = st->stmt[STORE__WEBHOOK_EVENT_PRUNE];
    rc = store__run(st, s, store__bind(s, ""), "webhook_event_prune", NULL);
  }
  return store__end(st, rc);
}
