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
    /* 3: webhooks (events/webhooks.h). The secret is kept in clear: it is
     * the HMAC key every delivery is signed with. An event's body is stored
     * once in webhook_events; webhook_deliveries has one row per
     * destination (webhook_id NULL: the stream's callback_url), and
     * `queue` groups the deliveries that must go out in order. Times:
     * next_attempt_at in unix ms, the others in unix s. */
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX webhooks_project ON webhooks(project_id, created_at);"
    "CREATE TABLE webhook_events ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  stream_id TEXT,"
    "  type TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE webhook_deliveries ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  event_id TEXT NOT NULL REFERENCES webhook_events(id),"
    "  webhook_id TEXT,"
    "  queue TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_http_status INTEGER,"
    "  last_error TEXT,"
    "  last_response TEXT,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(status, next_attempt_at);"
    "CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(queue, status, seq);"
    "CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, seq);"
    "CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);",
    /* 4: ingest health samples (store/health.h, live/health.h). One row per
     * stream every health_interval_ms while it publishes; rows older than
     * 24 h are folded into one row per minute (downsampled = 1, samples =
     * how many raw rows it stands for) and every row goes after
     * health_retention_days. No foreign key: samples outlive a deleted
     * stream until retention removes them. */
    "CREATE TABLE health_samples ("
    "  stream_id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  video_bitrate INTEGER NOT NULL,"
    "  audio_bitrate INTEGER NOT NULL,"
    "  video_data_rate INTEGER NOT NULL,"
    "  audio_data_rate INTEGER NOT NULL,"
    "  framerate REAL NOT NULL,"
    "  input_frame_rate REAL NOT NULL,"
    "  time_connected INTEGER NOT NULL,"
    "  width INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  encoder TEXT NOT NULL,"
    "  client_type TEXT NOT NULL,"
    "  video_codec TEXT NOT NULL,"
    "  audio_codec TEXT NOT NULL,"
    "  audio_channels INTEGER NOT NULL,"
    "  audio_sample_rate INTEGER NOT NULL,"
    "  audio_sample_size INTEGER NOT NULL,"
    "  dropped_frames INTEGER NOT NULL,"
    "  samples INTEGER NOT NULL DEFAULT 1,"
    "  downsampled INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX health_samples_stream_ts ON health_samples(stream_id, ts);"
    "CREATE INDEX health_samples_ts ON health_samples(downsampled, ts);",
    /* 5: recordings (store/recordings.h, media/record/recorder.h). One row
     * per recorded file set (a broadcast split at dvr.max_file_duration
     * gives several, numbered by part). status: recording, uploading,
     * uploaded, ready (kept locally, no destination), failed. JSON columns:
     * formats ["mp4", ...], renditions [{name, width, height}], files
     * [{name, format, rendition, size}], destinations [url, ...] (no
     * credentials), uploads {job_id: "pending"|"done"|"failed"}, urls
     * [object URL, ...]. Times in unix s, duration_ms in ms. start_ms: wall
     * clock (Unix ms) of the first recorded frame (0: unknown); spans
     * [[wall_ms, dur_ms], ...]: the stretches of media the files hold, back
     * to back on their timeline (a reconnect starts a new one), for clips
     * cut from recordings. No foreign key: a recording outlives its stream. */
    "CREATE TABLE recordings ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  stream_id TEXT NOT NULL,"
    "  part INTEGER NOT NULL DEFAULT 1,"
    "  status TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  formats TEXT NOT NULL DEFAULT '[]',"
    "  renditions TEXT NOT NULL DEFAULT '[]',"
    "  files TEXT NOT NULL DEFAULT '[]',"
    "  destinations TEXT NOT NULL DEFAULT '[]',"
    "  uploads TEXT NOT NULL DEFAULT '{}',"
    "  urls TEXT NOT NULL DEFAULT '[]',"
    "  error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL DEFAULT 0,"
    "  spans TEXT NOT NULL DEFAULT '[]'"
    ");"
    "CREATE INDEX recordings_stream ON recordings(project_id, stream_id, created_at);"
    "CREATE INDEX recordings_status ON recordings(status);",
    /* 6: upload queue (store/uploads.h, upload/uploader.h). One row per
     * (file, destination). destination is the dvr destination JSON object,
     * credentials included (a restart needs them; never returned by the
     * API). status: 0 pending, 1 uploaded, 2 failed; notified = 1 once the
     * owner was told. next_attempt_at in unix ms, the other times unix s. */
    "CREATE TABLE uploads ("
    "  id TEXT PRIMARY KEY,"
    "  owner_kind TEXT NOT NULL,"
    "  owner_id TEXT NOT NULL,"
    "  local_path TEXT NOT NULL,"
    "  object_name TEXT NOT NULL,"
    "  destination TEXT NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  notified INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  url TEXT,"
    "  last_error TEXT,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX uploads_owner ON uploads(owner_kind, owner_id);"
    "CREATE INDEX uploads_open ON uploads(notified, status);",
    /* 7: clips (store/clips.h, media/clip/clip.h). Times: start_ms, end_ms,
     * media_start_ms in Unix ms (the requested range and where the media
     * really starts), created_at/updated_at in Unix s. status: 0
     * processing, 1 ready, 2 failed (error says why). No foreign key: a
     * clip outlives its stream. */
    "CREATE TABLE clips ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  stream_id TEXT NOT NULL,"
    "  name TEXT,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL,"
    "  media_start_ms INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  size_bytes INTEGER NOT NULL DEFAULT 0,"
    "  width INTEGER NOT NULL DEFAULT 0,"
    "  height INTEGER NOT NULL DEFAULT 0,"
    "  playback_policy TEXT NOT NULL,"
    "  error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX clips_stream ON clips(project_id, stream_id, created_at);"
    "CREATE INDEX clips_status ON clips(status);",
    /* 8: hls_numbers_end: no HLS segment or init number at or above it was
     * ever used by one of the stream's broadcasts (live.c keeps it ahead of
     * what its packagers use), so a broadcast after a restart with the clock
     * set back still never reuses an immutable segment URL. */
    "ALTER TABLE streams ADD COLUMN hls_numbers_end INTEGER NOT NULL DEFAULT 0;",
    /* 9: ingest_error: why the server ended the stream's last publish (an
     * unsupported codec), for the owner to read in the health response;
     * cleared when a publish goes live again. */
    "ALTER TABLE streams ADD COLUMN ingest_error TEXT;"
    "ALTER TABLE streams ADD COLUMN ingest_error_at INTEGER;",
};

const int store__n_migrations = (int)(sizeof(store__migrations) / sizeof(store__migrations[0]));
