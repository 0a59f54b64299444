/* test_store.c — the SQLite store against a real database in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* Statuses as live/lifecycle.h numbers them; the store treats them as ints. */
enum { ST_CREATED = 0, ST_STARTING = 1, ST_LIVE = 4, ST_STOPPED = 7, ST_DELETED = 8 };

typedef struct {
  char root[64];  /* mkdtemp dir, removed in teardown */
  char data[128]; /* root/nested/data: store_open must create it */
  store_t *st;
} fx_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  if (!fx) return -1;
  strcpy(fx->root, "/tmp/onair_test_store_XXXXXX");
  if (!mkdtemp(fx->root)) return -1;
  snprintf(fx->data, sizeof(fx->data), "%s/nested/data", fx->root);
  if (store_open(fx->data, &fx->st) != 0) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  store_close(fx->st);
  nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static void make_stream(store_stream_t *s, const char *project, const char *name, int64_t created) {
  memset(s, 0, sizeof(*s));
  assert_int_equal(util_uuid4(s->id), 0);
  snprintf(s->project_id, sizeof(s->project_id), "%s", project);
  unsigned char raw[16];
  assert_int_equal(util_random_bytes(raw, sizeof(raw)), 0);
  util_hex(raw, sizeof(raw), s->stream_key);
  s->name = name ? strdup(name) : NULL;
  s->status = ST_CREATED;
  s->status_ts = created;
  s->created_at = created;
  s->params_json = strdup("{\"latency\":\"low\"}");
  s->playback_domain = NULL;
}

static sqlite3 *raw_open(fx_t *fx) {
  char path[256];
  snprintf(path, sizeof(path), "%s/onair.db", fx->data);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

/* One integer from a query over a raw connection. */
static int64_t raw_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

/* ---- open and migrations ---- */

static void test_open_reopen(void **state) {
  fx_t *fx = *state;
  int v = store_schema_version(fx->st);
  assert_true(v >= 1);

  char path[256];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/onair.db", fx->data);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(stat(fx->data, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);

  store_apikey_t k;
  char key[64];
  assert_int_equal(store_apikey_create(fx->st, "survivor", &k, key), 0);
  store_stream_t s;
  make_stream(&s, k.id, "persist", 100);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);

  /* Close and reopen twice: migrations must be idempotent, data must stay. */
  for (int i = 0; i < 2; i++) {
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(store_open(fx->data, &fx->st), 0);
    assert_int_equal(store_schema_version(fx->st), v);
  }
  store_apikey_t got;
  assert_int_equal(store_apikey_verify(fx->st, key, &got), 0);
  assert_string_equal(got.id, k.id);
  store_stream_t g;
  assert_int_equal(store_stream_get(fx->st, k.id, s.id, &g), 0);
  assert_string_equal(g.name, "persist");
  store_stream_clear(&g);
  store_stream_clear(&s);

  sqlite3 *db = raw_open(fx);
  assert_int_equal(raw_int(db, "PRAGMA user_version"), v);
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
  sqlite3_finalize(q);
  assert_int_equal(raw_int(db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                           "('streams_project_created', 'playback_ids_stream', "
                           "'simulcast_targets_stream')"),
                   3);
  sqlite3_close(db);
}

static void test_schema_too_new(void **state) {
  fx_t *fx = *state;
  sqlite3 *db = raw_open(fx);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  store_t *other = NULL;
  assert_int_equal(store_open(fx->data, &other), ERR_DB); /* logs store_schema_too_new */
  assert_null(other);
}

/* ---- API keys ---- */

static void test_apikeys(void **state) {
  fx_t *fx = *state;
  store_apikey_t a, b, got;
  char ka[64], kb[64];
  assert_int_equal(store_apikey_create(fx->st, "alpha", &a, ka), 0);
  assert_int_equal(store_apikey_create(fx->st, "beta", &b, kb), 0);

  assert_int_equal(strlen(ka), 6 + 48);
  assert_memory_equal(ka, "onair_", 6);
  for (size_t i = 6; i < strlen(ka); i++) assert_non_null(strchr("0123456789abcdef", ka[i]));
  assert_string_not_equal(ka, kb);
  assert_int_equal(strlen(a.prefix), 10);
  assert_memory_equal(a.prefix, ka, 10);
  assert_string_equal(a.name, "alpha");
  assert_int_equal(a.revoked, 0);
  assert_true(a.created_at > 0);

  assert_int_equal(store_apikey_verify(fx->st, ka, &got), 0);
  assert_string_equal(got.id, a.id);
  assert_string_equal(got.name, "alpha");
  assert_string_equal(got.prefix, a.prefix);
  assert_int_equal(store_apikey_verify(fx->st, kb, &got), 0);
  assert_string_equal(got.id, b.id);

  /* wrong keys */
  char wrong[64];
  strcpy(wrong, ka);
  wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
  assert_int_equal(store_apikey_verify(fx->st, wrong, &got), ERR_UNAUTHORIZED);
  assert_int_equal(store_apikey_verify(fx->st, "", &got), ERR_UNAUTHORIZED);
  assert_int_equal(store_apikey_verify(fx->st, NULL, &got), ERR_UNAUTHORIZED);
  assert_int_equal(store_apikey_verify(fx->st, a.prefix, &got), ERR_UNAUTHORIZED);
  char huge[1024];
  memset(huge, 'a', sizeof(huge) - 1);
  huge[sizeof(huge) - 1] = '\0';
  assert_int_equal(store_apikey_verify(fx->st, huge, &got), ERR_UNAUTHORIZED);

  /* only the hash is stored */
  sqlite3 *db = raw_open(fx);
  char hash[65], sql[256];
  util_sha256_hex(ka, strlen(ka), hash);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM api_keys WHERE key_hash = '%s' AND id = '%s'",
           hash, a.id);
  assert_int_equal(raw_int(db, sql), 1);
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM api_keys WHERE instr(key_hash || name || prefix, '%s') > 0",
           ka + 10);
  assert_int_equal(raw_int(db, sql), 0);
  sqlite3_close(db);

  store_apikey_t *list;
  size_t n;
  assert_int_equal(store_apikey_list(fx->st, &list, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(list[0].id, a.id);
  assert_string_equal(list[1].id, b.id);
  free(list);

  assert_int_equal(store_project_active(fx->st, a.id), 1);
  assert_int_equal(store_project_active(fx->st, "no-such-project"), 0);
  assert_int_equal(store_apikey_revoke(fx->st, a.id), 0);
  assert_int_equal(store_apikey_verify(fx->st, ka, &got), ERR_UNAUTHORIZED);
  assert_int_equal(store_project_active(fx->st, a.id), 0);
  assert_int_equal(store_project_active(fx->st, b.id), 1);
  assert_int_equal(store_apikey_verify(fx->st, kb, &got), 0);
  assert_int_equal(store_apikey_revoke(fx->st, "no-such-key"), ERR_NOT_FOUND);

  assert_int_equal(store_apikey_list(fx->st, &list, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(list[0].revoked, 1);
  assert_int_equal(list[1].revoked, 0);
  free(list);

  char longname[200];
  memset(longname, 'n', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(store_apikey_create(fx->st, longname, &got, ka), ERR_INVALID);
}

/* ---- streams ---- */

static void test_stream_crud(void **state) {
  fx_t *fx = *state;
  store_stream_t s, g;
  make_stream(&s, "proj-a", "first", 1000);
  s.playback_domain = strdup("play.example.com");
  assert_int_equal(store_stream_insert(fx->st, &s), 0);

  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  assert_string_equal(g.id, s.id);
  assert_string_equal(g.project_id, "proj-a");
  assert_string_equal(g.name, "first");
  assert_string_equal(g.stream_key, s.stream_key);
  assert_int_equal(g.status, ST_CREATED);
  assert_int_equal(g.status_ts, 1000);
  assert_int_equal(g.created_at, 1000);
  assert_string_equal(g.params_json, s.params_json);
  assert_string_equal(g.playback_domain, "play.example.com");
  store_stream_clear(&g);
  store_stream_clear(&g); /* safe twice */
  assert_null(g.name);

  /* scoped: another project does not see it */
  assert_int_equal(store_stream_get(fx->st, "proj-b", s.id, &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get(fx->st, "proj-a", "nope", &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get_any(fx->st, s.id, &g), 0);
  assert_string_equal(g.project_id, "proj-a");
  store_stream_clear(&g);
  assert_int_equal(store_stream_get_by_key(fx->st, s.stream_key, &g), 0);
  assert_string_equal(g.id, s.id);
  store_stream_clear(&g);
  assert_int_equal(store_stream_get_by_key(fx->st, "not-a-key", &g), ERR_NOT_FOUND);

  /* unique id and unique stream key */
  store_stream_t dup;
  make_stream(&dup, "proj-a", "dup", 1001);
  strcpy(dup.stream_key, s.stream_key);
  assert_int_equal(store_stream_insert(fx->st, &dup), ERR_EXISTS);
  store_stream_clear(&dup);
  make_stream(&dup, "proj-a", "dup", 1001);
  strcpy(dup.id, s.id);
  assert_int_equal(store_stream_insert(fx->st, &dup), ERR_EXISTS);
  store_stream_clear(&dup);
  /* the failed inserts left no history behind */
  store_status_event_t *h;
  size_t n;
  assert_int_equal(store_stream_history(fx->st, s.id, &h, &n), 0);
  assert_int_equal(n, 1);
  free(h);

  /* update: name to NULL, new key, new params, domain dropped */
  char old_key[65];
  strcpy(old_key, s.stream_key);
  free(s.name);
  s.name = NULL;
  strcpy(s.stream_key, "fresh-key-0123456789");
  free(s.params_json);
  s.params_json = strdup("{\"a\":1}");
  free(s.playback_domain);
  s.playback_domain = NULL;
  assert_int_equal(store_stream_update(fx->st, &s), 0);
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  assert_null(g.name);
  assert_null(g.playback_domain);
  assert_string_equal(g.stream_key, "fresh-key-0123456789");
  assert_string_equal(g.params_json, "{\"a\":1}");
  assert_int_equal(g.created_at, 1000);
  store_stream_clear(&g);
  assert_int_equal(store_stream_get_by_key(fx->st, old_key, &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get_by_key(fx->st, "fresh-key-0123456789", &g), 0);
  store_stream_clear(&g);
  /* update to the same values still counts as found */
  assert_int_equal(store_stream_update(fx->st, &s), 0);

  /* update onto another stream's key → exists; unknown id → not found */
  store_stream_t other;
  make_stream(&other, "proj-a", "other", 1002);
  assert_int_equal(store_stream_insert(fx->st, &other), 0);
  strcpy(other.stream_key, "fresh-key-0123456789");
  assert_int_equal(store_stream_update(fx->st, &other), ERR_EXISTS);
  strcpy(other.id, "00000000-0000-4000-8000-000000000000");
  assert_int_equal(store_stream_update(fx->st, &other), ERR_NOT_FOUND);
  store_stream_clear(&other);

  /* invalid input never reaches SQL */
  store_stream_t bad;
  make_stream(&bad, "proj-a", "bad", 1);
  bad.stream_key[0] = '\0';
  assert_int_equal(store_stream_insert(fx->st, &bad), ERR_INVALID);
  store_stream_clear(&bad);
  store_stream_clear(&s);
}

static void test_stream_status_history(void **state) {
  fx_t *fx = *state;
  store_stream_t s, g;
  make_stream(&s, "proj-a", "hist", 500);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);
  /* same timestamps on purpose: order is the order of changes */
  assert_int_equal(store_stream_set_status(fx->st, s.id, ST_STARTING, 600), 0);
  assert_int_equal(store_stream_set_status(fx->st, s.id, ST_LIVE, 600), 0);
  assert_int_equal(store_stream_set_status(fx->st, s.id, ST_STOPPED, 590), 0);
  assert_int_equal(store_stream_set_status(fx->st, "no-such-stream", ST_LIVE, 1), ERR_NOT_FOUND);

  assert_int_equal(store_stream_get_any(fx->st, s.id, &g), 0);
  assert_int_equal(g.status, ST_STOPPED);
  assert_int_equal(g.status_ts, 590);
  store_stream_clear(&g);

  store_status_event_t *h;
  size_t n;
  assert_int_equal(store_stream_history(fx->st, s.id, &h, &n), 0);
  assert_int_equal(n, 4);
  const int want[] = {ST_CREATED, ST_STARTING, ST_LIVE, ST_STOPPED};
  const int64_t want_ts[] = {500, 600, 600, 590};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(h[i].status, want[i]);
    assert_int_equal(h[i].ts, want_ts[i]);
  }
  free(h);
  assert_int_equal(store_stream_history(fx->st, "no-such-stream", &h, &n), ERR_NOT_FOUND);
  assert_null(h);
  assert_int_equal(n, 0);
  store_stream_clear(&s);
}

/* The HLS numbering floor (migration 8) only ever goes up. */
static void test_stream_hls_floor(void **state) {
  fx_t *fx = *state;
  store_stream_t s;
  make_stream(&s, "proj-a", "floor", 500);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);
  uint64_t v = 99;
  assert_int_equal(store_stream_hls_floor(fx->st, s.id, &v), 0);
  assert_int_equal(v, 0); /* never broadcast */
  assert_int_equal(store_stream_raise_hls_floor(fx->st, s.id, 1795713215394ULL), 0);
  assert_int_equal(store_stream_raise_hls_floor(fx->st, s.id, 1795626818755ULL), 0); /* lower: kept */
  assert_int_equal(store_stream_hls_floor(fx->st, s.id, &v), 0);
  assert_int_equal(v, 1795713215394ULL);
  assert_int_equal(store_stream_hls_floor(fx->st, "no-such-stream", &v), ERR_NOT_FOUND);
  assert_int_equal(v, 0);
  assert_int_equal(store_stream_raise_hls_floor(fx->st, "no-such-stream", 5), ERR_NOT_FOUND);
  store_stream_clear(&s);
}

static void add_children(fx_t *fx, const char *stream_id, const char *tag) {
  store_playback_t p = {0};
  snprintf(p.id, sizeof(p.id), "pb%s", tag);
  strcpy(p.stream_id, stream_id);
  strcpy(p.policy, "public");
  p.created_at = 10;
  assert_int_equal(store_playback_insert(fx->st, &p), 0);
  store_simulcast_t t = {0};
  snprintf(t.id, sizeof(t.id), "sc%s", tag);
  strcpy(t.stream_id, stream_id);
  t.url = "rtmp://a.example/live";
  t.stream_key = "secret";
  t.created_at = 10;
  assert_int_equal(store_simulcast_insert(fx->st, &t), 0);
}

static void test_stream_delete(void **state) {
  fx_t *fx = *state;
  store_stream_t s, keep, g;
  make_stream(&s, "proj-a", "doomed", 100);
  make_stream(&keep, "proj-a", "keeper", 101);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);
  assert_int_equal(store_stream_insert(fx->st, &keep), 0);
  add_children(fx, s.id, "1");
  add_children(fx, keep.id, "2");

  assert_int_equal(store_stream_delete(fx->st, "proj-b", s.id, ST_DELETED, 200), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  store_stream_clear(&g);

  assert_int_equal(store_stream_delete(fx->st, "proj-a", s.id, ST_DELETED, 200), 0);
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get_any(fx->st, s.id, &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_get_by_key(fx->st, s.stream_key, &g), ERR_NOT_FOUND);
  assert_int_equal(store_stream_delete(fx->st, "proj-a", s.id, ST_DELETED, 201), ERR_NOT_FOUND);
  assert_int_equal(store_stream_set_status(fx->st, s.id, ST_LIVE, 202), ERR_NOT_FOUND);
  assert_int_equal(store_stream_update(fx->st, &s), ERR_NOT_FOUND);

  /* children gone, and none can be added any more */
  store_playback_t *pl;
  store_simulcast_t *sl;
  size_t n;
  assert_int_equal(store_playback_list(fx->st, s.id, &pl, &n), 0);
  assert_int_equal(n, 0);
  free(pl);
  assert_int_equal(store_simulcast_list(fx->st, s.id, &sl, &n), 0);
  assert_int_equal(n, 0);
  free(sl);
  store_playback_t p;
  assert_int_equal(store_playback_get(fx->st, "pb1", &p), ERR_NOT_FOUND);
  add_children(fx, keep.id, "3"); /* the sibling is untouched and still writable */
  store_playback_t np = {0};
  strcpy(np.id, "pbnew");
  strcpy(np.stream_id, s.id);
  strcpy(np.policy, "public");
  assert_int_equal(store_playback_insert(fx->st, &np), ERR_NOT_FOUND);
  store_simulcast_t nt = {0};
  strcpy(nt.id, "scnew");
  strcpy(nt.stream_id, s.id);
  nt.url = "rtmp://x";
  nt.stream_key = "k";
  assert_int_equal(store_simulcast_insert(fx->st, &nt), ERR_NOT_FOUND);

  assert_int_equal(store_playback_list(fx->st, keep.id, &pl, &n), 0);
  assert_int_equal(n, 2);
  free(pl);
  assert_int_equal(store_simulcast_list(fx->st, keep.id, &sl, &n), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) store_simulcast_clear(&sl[i]);
  free(sl);

  /* the history keeps the deletion */
  store_status_event_t *h;
  assert_int_equal(store_stream_history(fx->st, s.id, &h, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(h[1].status, ST_DELETED);
  assert_int_equal(h[1].ts, 200);
  free(h);
  store_stream_clear(&s);
  store_stream_clear(&keep);
}

typedef struct {
  store_t *st;
  char names[16][16];
  int count;
  int stop_after; /* return 42 when count reaches it (0: never) */
  int reenter;    /* use the store from inside the callback */
} collect_t;

static int collect_cb(void *ud, const store_stream_t *s) {
  collect_t *c = ud;
  snprintf(c->names[c->count], sizeof(c->names[0]), "%s", s->name ? s->name : "");
  c->count++;
  if (c->reenter) {
    store_stream_t g;
    if (store_stream_get_any(c->st, s->id, &g) != 0) return -100;
    store_stream_clear(&g);
    if (store_stream_set_status(c->st, s->id, ST_LIVE, 900) != 0) return -101;
  }
  return c->stop_after && c->count == c->stop_after ? 42 : 0;
}

static void test_stream_list(void **state) {
  fx_t *fx = *state;
  /* inserted out of order; two share created_at and sort by id */
  struct {
    const char *name, *id, *project;
    int64_t created;
  } rows[] = {
      {"c", "cccccccc-0000-4000-8000-000000000000", "proj-a", 300},
      {"a", "aaaaaaaa-0000-4000-8000-000000000000", "proj-a", 100},
      {"b2", "bbbbbbbb-2222-4000-8000-000000000000", "proj-a", 200},
      {"b1", "bbbbbbbb-1111-4000-8000-000000000000", "proj-a", 200},
      {"x", "dddddddd-0000-4000-8000-000000000000", "proj-b", 150},
      {"gone", "eeeeeeee-0000-4000-8000-000000000000", "proj-a", 250},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    store_stream_t s;
    make_stream(&s, rows[i].project, rows[i].name, rows[i].created);
    strcpy(s.id, rows[i].id);
    assert_int_equal(store_stream_insert(fx->st, &s), 0);
    store_stream_clear(&s);
  }
  assert_int_equal(store_stream_delete(fx->st, "proj-a", rows[5].id, ST_DELETED, 400), 0);

  collect_t c = {.st = fx->st};
  assert_int_equal(store_stream_list(fx->st, "proj-a", collect_cb, &c), 0);
  assert_int_equal(c.count, 4);
  const char *want[] = {"a", "b1", "b2", "c"};
  for (int i = 0; i < 4; i++) assert_string_equal(c.names[i], want[i]);

  memset(&c, 0, sizeof(c));
  c.stop_after = 2;
  assert_int_equal(store_stream_list(fx->st, "proj-a", collect_cb, &c), 42);
  assert_int_equal(c.count, 2);

  memset(&c, 0, sizeof(c));
  assert_int_equal(store_stream_list(fx->st, "proj-none", collect_cb, &c), 0);
  assert_int_equal(c.count, 0);

  /* list_all spans projects; the callback may read and write the store */
  memset(&c, 0, sizeof(c));
  c.st = fx->st;
  c.reenter = 1;
  assert_int_equal(store_stream_list_all(fx->st, collect_cb, &c), 0);
  assert_int_equal(c.count, 5);
  const char *want_all[] = {"a", "x", "b1", "b2", "c"};
  for (int i = 0; i < 5; i++) assert_string_equal(c.names[i], want_all[i]);
  store_stream_t g;
  assert_int_equal(store_stream_get(fx->st, "proj-b", rows[4].id, &g), 0);
  assert_int_equal(g.status, ST_LIVE);
  store_stream_clear(&g);
}

/* ---- playback ids and simulcast targets ---- */

static void test_playback_simulcast(void **state) {
  fx_t *fx = *state;
  store_stream_t s;
  make_stream(&s, "proj-a", "kids", 100);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);

  store_playback_t p = {0};
  strcpy(p.stream_id, s.id);
  strcpy(p.id, "zzzzlater");
  strcpy(p.policy, "authenticated");
  p.created_at = 20;
  assert_int_equal(store_playback_insert(fx->st, &p), 0);
  strcpy(p.id, "aaaaearly");
  strcpy(p.policy, "public");
  p.created_at = 10;
  assert_int_equal(store_playback_insert(fx->st, &p), 0);
  assert_int_equal(store_playback_insert(fx->st, &p), ERR_EXISTS);
  store_playback_t orphan = p;
  strcpy(orphan.id, "orphan");
  strcpy(orphan.stream_id, "no-such-stream");
  assert_int_equal(store_playback_insert(fx->st, &orphan), ERR_NOT_FOUND);

  store_playback_t *pl;
  size_t n;
  assert_int_equal(store_playback_list(fx->st, s.id, &pl, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(pl[0].id, "aaaaearly");
  assert_string_equal(pl[0].policy, "public");
  assert_string_equal(pl[1].id, "zzzzlater");
  assert_string_equal(pl[1].policy, "authenticated");
  assert_string_equal(pl[1].stream_id, s.id);
  assert_int_equal(pl[1].created_at, 20);
  free(pl);

  store_playback_t g;
  assert_int_equal(store_playback_get(fx->st, "zzzzlater", &g), 0);
  assert_string_equal(g.stream_id, s.id);
  assert_string_equal(g.policy, "authenticated");
  assert_int_equal(store_playback_get(fx->st, "nope", &g), ERR_NOT_FOUND);

  assert_int_equal(store_playback_delete(fx->st, "other-stream", "zzzzlater"), ERR_NOT_FOUND);
  assert_int_equal(store_playback_delete(fx->st, s.id, "zzzzlater"), 0);
  assert_int_equal(store_playback_delete(fx->st, s.id, "zzzzlater"), ERR_NOT_FOUND);
  assert_int_equal(store_playback_list(fx->st, s.id, &pl, &n), 0);
  assert_int_equal(n, 1);
  free(pl);

  /* simulcast */
  store_simulcast_t t = {0};
  strcpy(t.stream_id, s.id);
  strcpy(t.id, "11111111-0000-4000-8000-000000000000");
  t.url = "rtmp://a.rtmp.youtube.com/live2";
  t.stream_key = "yt-secret";
  t.created_at = 50;
  assert_int_equal(store_simulcast_insert(fx->st, &t), 0);
  assert_int_equal(store_simulcast_insert(fx->st, &t), ERR_EXISTS);
  strcpy(t.id, "22222222-0000-4000-8000-000000000000");
  t.url = "rtmp://live.twitch.tv/app";
  t.stream_key = "tw-secret";
  t.created_at = 40;
  assert_int_equal(store_simulcast_insert(fx->st, &t), 0);
  t.url = NULL;
  assert_int_equal(store_simulcast_insert(fx->st, &t), ERR_INVALID);

  store_simulcast_t *sl;
  assert_int_equal(store_simulcast_list(fx->st, s.id, &sl, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(sl[0].url, "rtmp://live.twitch.tv/app");
  assert_string_equal(sl[0].stream_key, "tw-secret");
  assert_string_equal(sl[1].url, "rtmp://a.rtmp.youtube.com/live2");
  assert_int_equal(sl[1].created_at, 50);
  for (size_t i = 0; i < n; i++) {
    store_simulcast_clear(&sl[i]);
    store_simulcast_clear(&sl[i]); /* safe twice */
    assert_null(sl[i].url);
  }
  free(sl);

  assert_int_equal(store_simulcast_delete(fx->st, "other", "22222222-0000-4000-8000-000000000000"),
                   ERR_NOT_FOUND);
  assert_int_equal(store_simulcast_delete(fx->st, s.id, "22222222-0000-4000-8000-000000000000"), 0);
  assert_int_equal(store_simulcast_list(fx->st, s.id, &sl, &n), 0);
  assert_int_equal(n, 1);
  store_simulcast_clear(&sl[0]);
  free(sl);
  store_stream_clear(&s);
}

/* ---- two handles on one database (CLI + server) ---- */

static void test_two_handles(void **state) {
  fx_t *fx = *state;
  store_t *cli = NULL;
  assert_int_equal(store_open(fx->data, &cli), 0);
  assert_int_equal(store_schema_version(cli), store_schema_version(fx->st));

  store_apikey_t k, got;
  char key[64];
  assert_int_equal(store_apikey_create(cli, "from-cli", &k, key), 0);
  assert_int_equal(store_apikey_verify(fx->st, key, &got), 0);
  assert_int_equal(store_project_active(fx->st, k.id), 1);

  store_stream_t s, g;
  make_stream(&s, k.id, "from-server", 10);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);
  assert_int_equal(store_stream_get(cli, k.id, s.id, &g), 0);
  assert_string_equal(g.name, "from-server");
  store_stream_clear(&g);

  assert_int_equal(store_apikey_revoke(cli, k.id), 0);
  assert_int_equal(store_apikey_verify(fx->st, key, &got), ERR_UNAUTHORIZED);
  assert_int_equal(store_project_active(fx->st, k.id), 0);

  assert_int_equal(store_stream_delete(cli, k.id, s.id, ST_DELETED, 20), 0);
  assert_int_equal(store_stream_get(fx->st, k.id, s.id, &g), ERR_NOT_FOUND);
  store_close(cli);
  store_stream_clear(&s);
}

/* Reads share a short-lived snapshot; writes must still be committed at
 * once and be seen by every handle of the process without delay. */
static void test_snapshot_visibility(void **state) {
  fx_t *fx = *state;
  store_t *other = NULL;
  assert_int_equal(store_open(fx->data, &other), 0);
  sqlite3 *db = raw_open(fx);
  store_stream_t s, g;
  make_stream(&s, "proj-a", "v1", 1);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);

  /* read (opens a snapshot), write on the same handle: committed for all */
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  store_stream_clear(&g);
  assert_int_equal(store_stream_set_status(fx->st, s.id, ST_LIVE, 2), 0);
  char sql[160];
  snprintf(sql, sizeof(sql), "SELECT status FROM streams WHERE id = '%s'", s.id);
  assert_int_equal(raw_int(db, sql), ST_LIVE);
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  assert_int_equal(g.status, ST_LIVE);
  store_stream_clear(&g);

  /* read on one handle, write on another, read again at once */
  for (int i = 0; i < 50; i++) {
    assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
    store_stream_clear(&g);
    assert_int_equal(store_stream_set_status(other, s.id, i, 3 + i), 0);
    assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
    assert_int_equal(g.status, i);
    store_stream_clear(&g);
  }

  /* a write from outside the process (raw connection, like the CLI) shows
   * up once the snapshot window has passed */
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  store_stream_clear(&g);
  snprintf(sql, sizeof(sql), "UPDATE streams SET name = 'outside' WHERE id = '%s'", s.id);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  struct timespec pause = {0, 2 * 1000 * 1000};
  nanosleep(&pause, NULL);
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  assert_string_equal(g.name, "outside");
  store_stream_clear(&g);

  /* an idle snapshot never blocks another writer */
  assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
  store_stream_clear(&g);
  assert_int_equal(
      sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE streams SET name = 'w'; COMMIT;", NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  store_close(other);
  store_stream_clear(&s);
}

/* Another connection holds the write lock for a while; a store write must
 * wait for it (busy timeout) instead of failing. */
typedef struct {
  sqlite3 *db;
  int ms;
} holder_t;

static void *release_later(void *arg) {
  holder_t *h = arg;
  struct timespec ts = {h->ms / 1000, (long)(h->ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
  return NULL;
}

static void test_writer_waits(void **state) {
  fx_t *fx = *state;
  holder_t h = {raw_open(fx), 300};
  assert_int_equal(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  pthread_t th;
  /* t0 before the thread starts: the lock is released no sooner than
   * t0 + 300 ms, so the bound below holds on any machine. */
  uint64_t t0 = util_mono_ms();
  assert_int_equal(pthread_create(&th, NULL, release_later, &h), 0);

  store_apikey_t k;
  char key[64];
  assert_int_equal(store_apikey_create(fx->st, "waited", &k, key), 0);
  assert_true(util_mono_ms() - t0 >= 200);
  /* reads never wait in WAL mode */
  assert_int_equal(store_project_active(fx->st, k.id), 1);
  pthread_join(th, NULL);
  sqlite3_close(h.db);
}

/* GET /v1/live-streams/{id} reads a stream, its playback ids and its
 * simulcast targets through cached statements: repeated reads must keep
 * giving the same answer (statements reset correctly, nothing leaks).
 * How fast this is belongs to bench/, not to a test. */
static void test_repeated_reads(void **state) {
  fx_t *fx = *state;
  store_stream_t s;
  make_stream(&s, "proj-a", "hot", 1);
  assert_int_equal(store_stream_insert(fx->st, &s), 0);
  add_children(fx, s.id, "hot");
  for (int i = 0; i < 200; i++) { /* neighbours, so the lookup is a real index search */
    store_stream_t o;
    make_stream(&o, "proj-a", "cold", 2 + i);
    assert_int_equal(store_stream_insert(fx->st, &o), 0);
    store_stream_clear(&o);
  }
  for (int i = 0; i < 2000; i++) {
    store_stream_t g;
    store_playback_t *pl;
    store_simulcast_t *sl;
    size_t np, ns;
    assert_int_equal(store_stream_get(fx->st, "proj-a", s.id, &g), 0);
    assert_string_equal(g.id, s.id);
    assert_int_equal(store_playback_list(fx->st, s.id, &pl, &np), 0);
    assert_int_equal(store_simulcast_list(fx->st, s.id, &sl, &ns), 0);
    assert_int_equal(np + ns, 2);
    store_stream_clear(&g);
    free(pl);
    store_simulcast_clear(&sl[0]);
    free(sl);
  }
  store_stream_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_too_new, setup, teardown),
      cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_hls_floor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_status_history, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_playback_simulcast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_visibility, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_waits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeated_reads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
