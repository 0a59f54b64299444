/* migrations.c — the schema, as an append-only list of migrations.
 *
 * store_open() applies store__migrations[user_version ..] in one
 * transaction and sets PRAGMA user_version to their count. Never edit a
 * migration that has shipped: append a new one. PRAGMA foreign_keys is a
 * no-op inside a transaction, so a migration that rebuilds a table must not
 * rely on toggling it.
 */
#include "store/store_int.h"

const char *const store__migrations[] = {
    /* 1: initial schema. Streams are soft-deleted (deleted = 1) so their
     * status history keeps pointing at a row; their playback ids and
     * simulcast targets are removed on delete. stream_key is UNIQUE over all
     * rows, deleted included: keys are 128-bit random, so keeping a deleted
     * stream's key never blocks a new one. */
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  key_hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE streams ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  name TEXT,"
    "  stream_key TEXT NOT NULL UNIQUE,"
    "  status INTEGER NOT NULL,"
    "  status_ts INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  params_json TEXT NOT NULL DEFAULT '{}',"
    "  playback_domain TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX streams_project_created ON streams(project_id, created_at, "
    "id);"
    "CREATE TABLE stream_status_history ("
    "  seq INTEGER PRIMARY KEY,"
    "  stream_id TEXT NOT NULL REFERENCES streams(id),"
    "  status INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL"
    ");"
    "CREATE INDEX stream_status_history_stream ON "
    "stream_status_history(stream_id, seq);"
    "CREATE TABLE playback_ids ("
    "  id TEXT PRIMARY KEY,"
    "  stream_id TEXT NOT NULL REFERENCES streams(id),"
    "  policy TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX playback_ids_stream ON playback_ids(stream_id);"
    "CREATE TABLE simulcast_targets ("
    "  id TEXT PRIMARY KEY,"
    "  stream_id TEXT NOT NULL REFERENCES streams(id),"
    "  url TEXT NOT NULL,"
    "  stream_key TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX simulcast_targets_stream ON simulcast_targets(stream_id);",
    /* 2: signing keys of signed playback tokens (auth/signing.h). Only the
     * public key is kept; the private key exists once, in the answer to
     * POST /v1/signing-keys. */
    "CREATE TABLE signing_keys ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  public_key_pem TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX signing_keys_project ON signing_keys(project_id, created_at);",
};

const int store__n_migrations = (int)(sizeof(store__migrations) / sizeof(store__migrations[0]));
