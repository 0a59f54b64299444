/* store.h — persistence. The only interface that runs SQL.
 *
 * The embedded backend is SQLite in WAL mode at DATA_DIR/onair.db. Every
 * write is committed (durable) before the function returns. Schema changes
 * are versioned migrations applied by store_open(). Another process (the
 * `onair apikey` CLI) may use the same database concurrently; writers wait
 * on a busy timeout instead of failing.
 *
 * The interface deals in plain structs and JSON text so that a PostgreSQL
 * backend can implement it without touching src/api/.
 *
 * Ownership: functions that fill a struct with malloc'd members document
 * it; release with the matching *_clear(). Not thread-safe: use from the
 * loop thread (or open a second store_t on another thread).
 */
#ifndef ONAIR_STORE_H
#define ONAIR_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Opens (creating if needed) DATA_DIR/onair.db and migrates it. */
int store_open(const char *data_dir, store_t **out);
void store_close(store_t *st);
/* For a handle that only writes telemetry (health samples): commits no
 * longer wait for fsync (WAL, synchronous=NORMAL: safe against a crash of
 * the process, a power cut may lose the last seconds). Keeps periodic
 * writes from stalling the event loop behind a busy disk. */
int store_relax_durability(store_t *st);
/* Current schema version after migrations (for tests and `onair migrate`). */
int store_schema_version(store_t *st);

/* ---- projects and API keys: one API key is one project ---- */
typedef struct {
  char id[37];         /* UUID; also the project id */
  char name[128];
  char prefix[16];     /* first characters of the key, for listing; not secret */
  int64_t created_at;
  int revoked;
} store_apikey_t;

/* Creates a key "onair_" + 48 random hex chars, stores only its SHA-256.
 * The plaintext goes to key_out (>= 64 bytes) and is never retrievable again. */
int store_apikey_create(store_t *st, const char *name, store_apikey_t *out, char key_out[64]);
/* Finds the live (not revoked) key whose hash matches, comparing in constant
 * time. ERR_UNAUTHORIZED when unknown or revoked. */
int store_apikey_verify(store_t *st, const char *key, store_apikey_t *out);
/* Is this project (key id) existing and not revoked? 1/0. */
int store_project_active(store_t *st, const char *project_id);
/* All keys, oldest first. *out is malloc'd (free()). */
int store_apikey_list(store_t *st, store_apikey_t **out, size_t *n);
/* ERR_NOT_FOUND when no such key. */
int store_apikey_revoke(store_t *st, const char *id);

/* ---- live streams ---- */
typedef struct {
  char id[37];
  char project_id[37];
  char *name;            /* malloc'd, may be NULL */
  char stream_key[65];
  int status;            /* stream_status_t of live/lifecycle.h */
  int64_t status_ts;     /* when status last changed (unix s) */
  int64_t created_at;
  char *params_json;     /* malloc'd JSON object text; includes write-only secrets */
  char *playback_domain; /* malloc'd, may be NULL */
} store_stream_t;

void store_stream_clear(store_stream_t *s);

/* Inserts; also records the initial status in the status history. */
int store_stream_insert(store_t *st, const store_stream_t *s);
/* Project-scoped get. Deleted streams are not found. Fills malloc'd members. */
int store_stream_get(store_t *st, const char *project_id, const char *id, store_stream_t *out);
/* Unscoped get by id (for ingest/lifecycle). Deleted streams are not found. */
int store_stream_get_any(store_t *st, const char *id, store_stream_t *out);
/* By stream key (ingest). Deleted streams are not found. */
int store_stream_get_by_key(store_t *st, const char *stream_key, store_stream_t *out);
/* Writes name, stream_key, params_json, playback_domain of s (by s->id). */
int store_stream_update(store_t *st, const store_stream_t *s);
/* Sets status + timestamp and appends to the status history, atomically. */
int store_stream_set_status(store_t *st, const char *id, int status, int64_t ts);
/* Marks the stream deleted (status + history); its playback ids and
 * simulcast targets are removed. ERR_NOT_FOUND if not in project. */
int store_stream_delete(store_t *st, const char *project_id, const char *id, int deleted_status,
                        int64_t ts);
/* The stream's HLS numbering floor (migration 8): *out = 0 when none was
 * stored. raise sets it to end unless it is already higher. Both work on
 * deleted streams too. ERR_NOT_FOUND for an unknown id. */
int store_stream_hls_floor(store_t *st, const char *id, uint64_t *out);
int store_stream_raise_hls_floor(store_t *st, const char *id, uint64_t end);
/* Why the server ended the stream's last publish (migration 9). set with
 * message NULL clears it. get copies it into buf (truncated to cap) with
 * its time; ERR_NOT_FOUND when there is none (or no such stream). */
int store_stream_set_ingest_error(store_t *st, const char *id, const char *message, int64_t ts);
int store_stream_ingest_error(store_t *st, const char *id, char *buf, size_t cap, int64_t *ts);
typedef int (*store_stream_cb)(void *ud, const store_stream_t *s);
/* Calls cb for each not-deleted stream of the project, oldest first
 * (created_at, then id). A non-zero return from cb stops and is returned. */
int store_stream_list(store_t *st, const char *project_id, store_stream_cb cb, void *ud);
/* All not-deleted streams of all projects (startup recovery of lifecycle). */
int store_stream_list_all(store_t *st, store_stream_cb cb, void *ud);

typedef struct {
  int status;
  int64_t ts;
} store_status_event_t;
/* Status history of a stream, oldest first; *out malloc'd. */
int store_stream_history(store_t *st, const char *id, store_status_event_t **out, size_t *n);

/* ---- playback ids ---- */
typedef struct {
  char id[33];
  char stream_id[37];
  char policy[16];    /* "public" | "authenticated" */
  int64_t created_at;
} store_playback_t;

int store_playback_insert(store_t *st, const store_playback_t *p);
/* ERR_NOT_FOUND if that id is not on that stream. */
int store_playback_delete(store_t *st, const char *stream_id, const char *id);
/* Playback ids of a stream, oldest first; *out malloc'd. */
int store_playback_list(store_t *st, const char *stream_id, store_playback_t **out, size_t *n);
int store_playback_get(store_t *st, const char *id, store_playback_t *out);

/* ---- simulcast targets ---- */
typedef struct {
  char id[37];
  char stream_id[37];
  char *url;          /* malloc'd */
  char *stream_key;   /* malloc'd */
  int64_t created_at;
} store_simulcast_t;

void store_simulcast_clear(store_simulcast_t *t);
int store_simulcast_insert(store_t *st, const store_simulcast_t *t);
int store_simulcast_delete(store_t *st, const char *stream_id, const char *id);
/* Targets of a stream, oldest first; *out malloc'd, clear each then free(). */
int store_simulcast_list(store_t *st, const char *stream_id, store_simulcast_t **out, size_t *n);

/* ---- signing keys (playback tokens; see auth/signing.h) ----
 * Only the public key is stored. Key ids are random UUIDs, never reused. */
typedef struct {
  char id[37];
  char project_id[37];
  char *public_key_pem; /* malloc'd, SubjectPublicKeyInfo PEM */
  int64_t created_at;
} store_signing_key_t;

void store_signing_key_clear(store_signing_key_t *k);
/* Inserts k unless its project already holds max_per_project keys
 * (ERR_CONFLICT; checked by the INSERT itself, so concurrent creations
 * cannot exceed it). */
int store_signing_key_insert(store_t *st, const store_signing_key_t *k, int max_per_project);
/* By id, scoped to project_id (NULL: any project). ERR_NOT_FOUND when
 * absent. Fills the malloc'd public_key_pem. */
int store_signing_key_get(store_t *st, const char *project_id, const char *id,
                          store_signing_key_t *out);
/* Does key id exist in project_id? 1 / 0, or a negative ERR_*. One
 * primary-key lookup: runs for every authenticated playback request. */
int store_signing_key_exists(store_t *st, const char *project_id, const char *id);
/* Keys of a project, oldest first; *out malloc'd, clear each then free(). */
int store_signing_key_list(store_t *st, const char *project_id, store_signing_key_t **out,
                           size_t *n);
/* ERR_NOT_FOUND if the project has no such key. */
int store_signing_key_delete(store_t *st, const char *project_id, const char *id);
/* ---- end of signing keys ---- */

/* ---- webhooks (events/webhooks.h) ----
 * Project webhooks, the events they are sent, and one delivery per
 * (event, destination). A destination is a webhook or a stream's
 * params.callback_url (webhook_id ""). Deliveries of one queue (a webhook
 * and a stream, or a stream's callback_url) are sent strictly in order:
 * only the oldest pending delivery of a queue is ever due. */
typedef struct {
  char id[37];
  char project_id[37];
  char *url;         /* malloc'd */
  char *events_json; /* malloc'd JSON array of event types / patterns */
  char secret[72];   /* "whsec_" + 64 hex; the HMAC key of signatures */
  int64_t created_at;
} store_webhook_t;

void store_webhook_clear(store_webhook_t *w);
/* Inserts w unless its project already holds max_per_project webhooks
 * (ERR_CONFLICT, checked by the INSERT itself). */
int store_webhook_insert(store_t *st, const store_webhook_t *w, int max_per_project);
/* By id in project_id. ERR_NOT_FOUND when absent. Fills malloc'd members. */
int store_webhook_get(store_t *st, const char *project_id, const char *id, store_webhook_t *out);
/* Webhooks of a project, oldest first; *out malloc'd, clear each then free(). */
int store_webhook_list(store_t *st, const char *project_id, store_webhook_t **out, size_t *n);
/* Deletes the webhook and all its deliveries (pending ones are dropped).
 * ERR_NOT_FOUND if the project has no such webhook. */
int store_webhook_delete(store_t *st, const char *project_id, const char *id);
/* The params_json of a stream, deleted ones included (their callback_url
 * is told about the deletion). *out malloc'd; ERR_NOT_FOUND if unknown. */
int store_webhook_stream_params(store_t *st, const char *stream_id, char **out);

enum { STORE_DELIVERY_PENDING = 0, STORE_DELIVERY_DELIVERED = 1, STORE_DELIVERY_FAILED = 2 };

/* One event to deliver: its body is stored once, whatever the number of
 * destinations. */
typedef struct {
  char id[37];         /* event id (the body's "id", for receivers' dedupe) */
  char project_id[37];
  char stream_id[37];  /* "" when the event has no stream */
  char type[64];
  const char *body;    /* the JSON body, sent as is */
  int64_t created_at;  /* unix s */
} store_webhook_event_t;

typedef struct {
  const char *webhook_id; /* NULL or "": the stream's callback_url */
  const char *url;
  const char *queue;      /* ordering key */
} store_delivery_target_t;

typedef struct {
  int64_t seq;            /* order of creation */
  char id[37];
  char event_id[37];
  char event_type[64];
  char webhook_id[37];    /* "" for a callback_url delivery */
  char project_id[37];
  char stream_id[37];
  char *url;              /* malloc'd */
  char *body;             /* malloc'd; only filled by store_delivery_heads() */
  char *secret;           /* malloc'd signing secret or NULL (unsigned); heads only */
  int status;             /* STORE_DELIVERY_* */
  int attempts;
  int last_http_status;   /* 0: no HTTP answer yet */
  char *last_error;       /* malloc'd or NULL */
  char *last_response;    /* malloc'd start of the last response body, or NULL */
  int64_t next_attempt_ms;/* unix ms; meaningful while pending */
  int64_t created_at;     /* unix s */
  int64_t updated_at;     /* unix s of the last attempt (created_at before) */
} store_delivery_t;

void store_delivery_clear(store_delivery_t *d);
/* Stores the event and one pending delivery per target, due at now_ms,
 * in one transaction. */
int store_webhook_enqueue(store_t *st, const store_webhook_event_t *ev,
                          const store_delivery_target_t *t, size_t n, int64_t now_ms);
/* The oldest pending delivery of each queue (due or not), soonest
 * next_attempt first, at most max; with body and signing secret (a
 * callback_url delivery is signed with the secret of the project's oldest
 * webhook, or not at all when it has none). *out malloc'd. */
int store_delivery_heads(store_t *st, int max, store_delivery_t **out, size_t *n);
/* Records an attempt's outcome. error and response may be NULL. */
int store_delivery_record(store_t *st, int64_t seq, int status, int attempts, int http_status,
                          const char *error, const char *response, int64_t next_attempt_ms,
                          int64_t now);
/* Deliveries of a webhook, newest first, one page; *total counts them all. */
int store_delivery_list(store_t *st, const char *webhook_id, long limit, long offset,
                        store_delivery_t **out, size_t *n, long *total);
/* Deletes finished deliveries last touched before `before` (unix s) and
 * the events no delivery refers to any more. */
int store_delivery_prune(store_t *st, int64_t before);
/* ---- end of webhooks ---- */

#endif
