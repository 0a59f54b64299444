/* store_int.h — private to src/store/: the store handle, its cached
 * statements and the helpers every table family shares. Nothing outside
 * src/store/ includes this file.
 *
 * Every statement the store runs is listed once below and prepared once at
 * store_open(); a call binds, steps, then store__done() resets it. That keeps
 * a point read (GET /v1/live-streams/{id}) at a few microseconds.
 *
 * Read snapshots. In WAL mode each autocommit SELECT takes and drops a lock
 * on the -shm file (two fcntl() calls) — more than the query itself costs.
 * So reads share a read transaction (a "snapshot") for at most
 * STORE__SNAPSHOT_US, and only while no store_t of this process has
 * committed a write since it began (a process-wide write generation). Every
 * write ends the snapshot first, so writes are committed at once and a
 * handle always reads its own writes and those of other handles in the
 * process. Only a write from another process (the `onair apikey` CLI) can be
 * missed, for at most STORE__SNAPSHOT_US: less than any round trip that
 * could observe that write has finished.
 */
#ifndef ONAIR_STORE_INT_H
#define ONAIR_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

/* Column order read by streams.c (store__stream_row). */
#define STORE__STREAM_COLS                                            \
  "id, project_id, name, stream_key, status, status_ts, created_at, " \
  "params_json, "                                                     \
  "playback_domain"

/* ---- webhooks (webhooks.c) ---- */
#define STORE__DELIVERY_COLS                                                              \
  "d.seq, d.id, d.event_id, e.type, d.webhook_id, e.project_id, e.stream_id, d.url, "    \
  "d.status, d.attempts, d.last_http_status, d.last_error, d.last_response, "           \
  "d.next_attempt_at, d.created_at, d.updated_at"
#define STORE__WEBHOOK_STATEMENTS(X)                                                     \
  X(WEBHOOK_INSERT,                                                                      \
    "INSERT INTO webhooks (id, project_id, url, events, secret, created_at) "            \
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 "                                                     \
    "WHERE (SELECT COUNT(*) FROM webhooks WHERE project_id = ?2) < ?7")                  \
  X(WEBHOOK_GET,                                                                         \
    "SELECT id, project_id, url, events, secret, created_at FROM webhooks "              \
    "WHERE id = ?1 AND project_id = ?2")                                                 \
  X(WEBHOOK_LIST,                                                                        \
    "SELECT id, project_id, url, events, secret, created_at FROM webhooks "              \
    "WHERE project_id = ?1 ORDER BY created_at, rowid")                                  \
  X(WEBHOOK_DELETE, "DELETE FROM webhooks WHERE id = ?1 AND project_id = ?2")            \
  X(WEBHOOK_DELETE_DELIVERIES, "DELETE FROM webhook_deliveries WHERE webhook_id = ?1")   \
  X(WEBHOOK_STREAM_PARAMS, "SELECT params_json FROM streams WHERE id = ?1")              \
  X(WEBHOOK_EVENT_INSERT,                                                                \
    "INSERT INTO webhook_events (id, project_id, stream_id, type, body, created_at) "    \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                   \
  X(DELIVERY_INSERT,                                                                     \
    "INSERT INTO webhook_deliveries (id, event_id, webhook_id, queue, url, status, "     \
    "attempts, next_attempt_at, created_at, updated_at) "                                \
    "VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?7)")                                     \
  X(DELIVERY_HEADS,                                                                      \
    "SELECT " STORE__DELIVERY_COLS ", e.body, "                                          \
    "CASE WHEN d.webhook_id IS NOT NULL "                                                \
    "THEN (SELECT secret FROM webhooks w WHERE w.id = d.webhook_id) "                    \
    "ELSE (SELECT secret FROM webhooks w WHERE w.project_id = e.project_id "             \
    "ORDER BY w.created_at, w.rowid LIMIT 1) END "                                       \
    "FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "              \
    "WHERE d.status = 0 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p "             \
    "WHERE p.queue = d.queue AND p.status = 0 AND p.seq < d.seq) "                       \
    "ORDER BY d.next_attempt_at, d.seq LIMIT ?1")                                        \
  X(DELIVERY_RECORD,                                                                     \
    "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, last_http_status = ?4, "  \
    "last_error = ?5, last_response = ?6, next_attempt_at = ?7, updated_at = ?8 "        \
    "WHERE seq = ?1")                                                                    \
  X(DELIVERY_LIST,                                                                       \
    "SELECT " STORE__DELIVERY_COLS                                                       \
    " FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "             \
    "WHERE d.webhook_id = ?1 ORDER BY d.seq DESC LIMIT ?2 OFFSET ?3")                    \
  X(DELIVERY_COUNT, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?1")     \
  X(DELIVERY_PRUNE, "DELETE FROM webhook_deliveries WHERE status != 0 AND updated_at < ?1") \
  X(WEBHOOK_EVENT_PRUNE,                                                                 \
    "DELETE FROM webhook_events WHERE NOT EXISTS "                                       \
    "(SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)")
/* ---- end of webhooks ---- */

/* ---- recordings (recordings.c): only the one on every stream render is
 * cached; the others are prepared per call. ---- */
#define STORE__RECORDING_COLS                                                             \
  "id, project_id, stream_id, part, status, started_at, ended_at, duration_ms, size, "   \
  "formats, renditions, files, destinations, uploads, urls, error, created_at, updated_at, " \
  "start_ms, spans"
#define STORE__RECORDING_STATEMENTS(X)                                                    \
  X(RECORDING_LATEST,                                                                     \
    "SELECT " STORE__RECORDING_COLS " FROM recordings WHERE project_id = ?1 AND "        \
    "stream_id = ?2 ORDER BY created_at DESC, part DESC, id DESC LIMIT 1")
/* ---- end of recordings ---- */

/* X(name, sql): every cached statement. Writes that must target a live
 * stream check "deleted = 0" in the same statement, so there is no
 * read-then-write race with another process. */
#define STORE__STATEMENTS(X)                                                                    \
  X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                             \
  X(BEGIN_READ, "BEGIN DEFERRED")                                                               \
  X(COMMIT, "COMMIT")                                                                           \
  X(ROLLBACK, "ROLLBACK")                                                                       \
  X(USER_VERSION, "PRAGMA user_version")                                                        \
  /* api keys */                                                                                \
  X(KEY_INSERT,                                                                                 \
    "INSERT INTO api_keys (id, name, key_hash, prefix, created_at, revoked) "                   \
    "VALUES (?1, ?2, ?3, ?4, ?5, 0)")                                                           \
  X(KEY_BY_HASH,                                                                                \
    "SELECT id, name, prefix, created_at, revoked, key_hash FROM api_keys "                     \
    "WHERE key_hash = ?1")                                                                      \
  X(KEY_ACTIVE, "SELECT 1 FROM api_keys WHERE id = ?1 AND revoked = 0")                         \
  X(KEY_LIST,                                                                                   \
    "SELECT id, name, prefix, created_at, revoked FROM api_keys "                               \
    "ORDER BY created_at, rowid")                                                               \
  X(KEY_REVOKE, "UPDATE api_keys SET revoked = 1 WHERE id = ?1")                                \
  /* streams */                                                                                 \
  X(STREAM_INSERT, "INSERT INTO streams (" STORE__STREAM_COLS                                   \
                   ", deleted) "                                                                \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)")                            \
  X(STREAM_GET, "SELECT " STORE__STREAM_COLS                                                    \
                " FROM streams "                                                                \
                "WHERE id = ?1 AND project_id = ?2 AND deleted = 0")                            \
  X(STREAM_GET_ANY, "SELECT " STORE__STREAM_COLS " FROM streams WHERE id = ?1 AND deleted = 0") \
  X(STREAM_GET_BY_KEY, "SELECT " STORE__STREAM_COLS                                             \
                       " FROM streams "                                                         \
                       "WHERE stream_key = ?1 AND deleted = 0")                                 \
  X(STREAM_UPDATE,                                                                              \
    "UPDATE streams SET name = ?2, stream_key = ?3, params_json = ?4, "                         \
    "playback_domain = ?5 WHERE id = ?1 AND deleted = 0")                                       \
  X(STREAM_SET_STATUS,                                                                          \
    "UPDATE streams SET status = ?2, status_ts = ?3 "                                           \
    "WHERE id = ?1 AND deleted = 0")                                                            \
  X(STREAM_HLS_FLOOR, "SELECT hls_numbers_end FROM streams WHERE id = ?1")                      \
  X(STREAM_RAISE_HLS_FLOOR,                                                                     \
    "UPDATE streams SET hls_numbers_end = MAX(hls_numbers_end, ?2) WHERE id = ?1")              \
  X(STREAM_INGEST_ERROR, "SELECT ingest_error, ingest_error_at FROM streams WHERE id = ?1")     \
  X(STREAM_SET_INGEST_ERROR,                                                                    \
    "UPDATE streams SET ingest_error = ?2, ingest_error_at = ?3 WHERE id = ?1")                 \
  X(STREAM_DELETE,                                                                              \
    "UPDATE streams SET status = ?3, status_ts = ?4, deleted = 1 "                              \
    "WHERE id = ?1 AND project_id = ?2 AND deleted = 0")                                        \
  X(STREAM_LIST, "SELECT " STORE__STREAM_COLS                                                   \
                 " FROM streams "                                                               \
                 "WHERE project_id = ?1 AND deleted = 0 ORDER BY created_at, id")               \
  X(STREAM_LIST_ALL, "SELECT " STORE__STREAM_COLS                                               \
                     " FROM streams "                                                           \
                     "WHERE deleted = 0 ORDER BY created_at, id")                               \
  X(HISTORY_APPEND,                                                                             \
    "INSERT INTO stream_status_history (stream_id, status, ts) "                                \
    "VALUES (?1, ?2, ?3)")                                                                      \
  X(HISTORY_LIST,                                                                               \
    "SELECT status, ts FROM stream_status_history WHERE stream_id = ?1 "                        \
    "ORDER BY seq")                                                                             \
  /* playback ids */                                                                            \
  X(PLAYBACK_INSERT,                                                                            \
    "INSERT INTO playback_ids (id, stream_id, policy, created_at) "                             \
    "SELECT ?1, ?2, ?3, ?4 "                                                                    \
    "WHERE EXISTS (SELECT 1 FROM streams WHERE id = ?2 AND deleted = 0)")                       \
  X(PLAYBACK_DELETE, "DELETE FROM playback_ids WHERE stream_id = ?1 AND id = ?2")               \
  X(PLAYBACK_DELETE_STREAM, "DELETE FROM playback_ids WHERE stream_id = ?1")                    \
  X(PLAYBACK_LIST,                                                                              \
    "SELECT id, stream_id, policy, created_at FROM playback_ids "                               \
    "WHERE stream_id = ?1 ORDER BY created_at, rowid")                                          \
  X(PLAYBACK_GET,                                                                               \
    "SELECT id, stream_id, policy, created_at FROM "                                            \
    "playback_ids WHERE id = ?1")                                                               \
  /* simulcast targets */                                                                       \
  X(SIMULCAST_INSERT,                                                                           \
    "INSERT INTO simulcast_targets (id, stream_id, url, stream_key, "                           \
    "created_at) SELECT ?1, ?2, ?3, ?4, ?5 "                                                    \
    "WHERE EXISTS (SELECT 1 FROM streams WHERE id = ?2 AND deleted = 0)")                       \
  X(SIMULCAST_DELETE, "DELETE FROM simulcast_targets WHERE stream_id = ?1 AND id = ?2")         \
  X(SIMULCAST_DELETE_STREAM, "DELETE FROM simulcast_targets WHERE stream_id = ?1")              \
  X(SIMULCAST_LIST,                                                                             \
    "SELECT id, stream_id, url, stream_key, created_at FROM "                                   \
    "simulcast_targets "                                                                        \
    "WHERE stream_id = ?1 ORDER BY created_at, rowid")                                          \
  /* signing keys (signing_keys.c) */                                                           \
  X(SIGNING_KEY_INSERT,                                                                         \
    "INSERT INTO signing_keys (id, project_id, public_key_pem, created_at) "                    \
    "SELECT ?1, ?2, ?3, ?4 "                                                                    \
    "WHERE (SELECT COUNT(*) FROM signing_keys WHERE project_id = ?2) < ?5")                     \
  X(SIGNING_KEY_GET,                                                                            \
    "SELECT id, project_id, public_key_pem, created_at FROM signing_keys "                      \
    "WHERE id = ?1 AND (?2 IS NULL OR project_id = ?2)")                                        \
  X(SIGNING_KEY_EXISTS, "SELECT 1 FROM signing_keys WHERE id = ?1 AND project_id = ?2")         \
  X(SIGNING_KEY_LIST,                                                                           \
    "SELECT id, project_id, public_key_pem, created_at FROM signing_keys "                      \
    "WHERE project_id = ?1 ORDER BY created_at, rowid")                                         \
  X(SIGNING_KEY_DELETE, "DELETE FROM signing_keys WHERE id = ?1 AND project_id = ?2")          \
  STORE__WEBHOOK_STATEMENTS(X)                                                                  \
  STORE__RECORDING_STATEMENTS(X)

#define STORE__ENUM(name, sql) STORE__##name,
typedef enum { STORE__STATEMENTS(STORE__ENUM) STORE__N_STMT } store__stmt_id_t;
#undef STORE__ENUM

/* How long reads may share one snapshot (see the top of this file). */
#define STORE__SNAPSHOT_US 250

struct store {
  sqlite3 *db;
  sqlite3_stmt *stmt[STORE__N_STMT];
  int snapshot;          /* a read transaction opened by store__read() is open */
  uint64_t snapshot_us;  /* when it began (monotonic) */
  uint64_t snapshot_gen; /* the process write generation when it began */
};

/* Migrations (migrations.c): index i brings user_version from i to i + 1. */
extern const char *const store__migrations[];
extern const int store__n_migrations;

/* Every read function calls this first: reuses or (re)starts the snapshot. */
void store__read(store_t *st);
/* Ends the read snapshot, if any. Every write path runs this first (done by
 * store__begin() and store__run()); a write left inside a read transaction
 * would not be committed. */
void store__snapshot_end(store_t *st);
/* Resets a statement and drops its bindings (they may point at caller memory).
 */
void store__done(sqlite3_stmt *s);
/* Binds ?1..?n from fmt: 't' text (NULL binds SQL NULL), 'i' int, 'l' int64.
 * Text is bound SQLITE_STATIC: it must outlive the step. Returns an SQLite
 * code. */
int store__bind(sqlite3_stmt *s, const char *fmt, ...);
/* Maps an SQLite result to an ERR_* code; logs what deserves a log.
 * Unique violations → ERR_EXISTS, foreign keys → ERR_NOT_FOUND. */
int store__fail(store_t *st, int rc, const char *op);
/* Prepares a statement that is not worth a slot in the cache (rare or
 * per-call SQL); the caller finalizes it. 0 or ERR_* (and *out = NULL). */
int store__prepare(store_t *st, const char *sql, sqlite3_stmt **out, const char *op);
/* Steps a statement that returns no rows, then resets it. 0 or ERR_*.
 * *changes (if not NULL) receives sqlite3_changes(). */
int store__exec(store_t *st, sqlite3_stmt *s, const char *op, int *changes);
/* Runs a write: ends the read snapshot, then store__exec() after a
 * store__bind() whose result is brc (a failed bind is reported and the
 * statement reset instead of stepping). */
int store__run(store_t *st, sqlite3_stmt *s, int brc, const char *op, int *changes);

/* BEGIN IMMEDIATE: takes the write lock up front (waiting up to the busy
 * timeout) so a transaction never fails half-way on a lock upgrade. */
int store__begin(store_t *st);
/* Commits; on failure rolls back and returns the error. */
int store__commit(store_t *st);
void store__rollback(store_t *st);
/* Commits when rc == 0, rolls back otherwise; returns the final result. */
int store__end(store_t *st, int rc);

/* Column readers. col_copy truncates to cap - 1 (sizes match the schema);
 * col_dup returns NULL for SQL NULL and sets *err = ERR_NOMEM on failure. */
void store__col_copy(sqlite3_stmt *s, int col, char *buf, size_t cap);
char *store__col_dup(sqlite3_stmt *s, int col, int *err);
/* Is buf a non-empty string NUL-terminated within cap bytes? */
int store__fits(const char *buf, size_t cap);

#endif
