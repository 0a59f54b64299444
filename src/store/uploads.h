/* store/uploads.h — the uploads table (migration 6): the persisted queue of
 * upload/uploader.h. One row per (file, destination).
 *
 * Same rules as store.h (loop thread, 0 or ERR_*). Statements are prepared
 * per call: they run once per upload attempt, not per request.
 *
 * The destination JSON holds credentials: nothing here logs it, and no API
 * returns it.
 */
#ifndef ONAIR_STORE_UPLOADS_H
#define ONAIR_STORE_UPLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum { STORE_UPLOAD_PENDING = 0, STORE_UPLOAD_UPLOADED = 1, STORE_UPLOAD_FAILED = 2 };

typedef struct {
  char id[37];
  char owner_kind[32];
  char owner_id[128];
  char *local_path;       /* malloc'd */
  char *object_name;      /* malloc'd */
  char *destination_json; /* malloc'd; with credentials */
  int status;             /* STORE_UPLOAD_* */
  int notified;           /* the owner was told of the final status */
  int attempts;           /* failed attempts so far (or all attempts once final) */
  int64_t next_attempt_ms;/* unix ms; meaningful while pending */
  char *url;              /* malloc'd or NULL: public URL once uploaded */
  char *last_error;       /* malloc'd or NULL */
  int64_t bytes;
  int64_t created_at, updated_at; /* unix s */
} store_upload_t;

void store_upload_clear(store_upload_t *u);
/* Inserts a pending row (status, notified, url, last_error are ignored). */
int store_upload_insert(store_t *st, const store_upload_t *u);
/* Rows not yet told to their owner (pending, or final with notified = 0),
 * oldest first. A non-zero return from cb stops and is returned. The row
 * is only valid during the call. */
typedef int (*store_upload_cb)(void *ud, const store_upload_t *u);
int store_upload_list_open(store_t *st, store_upload_cb cb, void *ud);
/* Every row of an owner, oldest first. */
int store_upload_list_owner(store_t *st, const char *owner_kind, const char *owner_id,
                            store_upload_cb cb, void *ud);
/* A failed attempt that will be retried at next_attempt_ms. */
int store_upload_retry(store_t *st, const char *id, int attempts, const char *error,
                       int64_t next_attempt_ms, int64_t now);
/* The final outcome: STORE_UPLOAD_UPLOADED with url and bytes, or
 * STORE_UPLOAD_FAILED with error. notified stays 0. */
int store_upload_finish(store_t *st, const char *id, int status, int attempts, const char *url,
                        const char *error, int64_t bytes, int64_t now);
int store_upload_set_notified(store_t *st, const char *id);
/* Deletes the rows whose owner was told of their final status and that
 * were last touched before `before` (unix s); *n (may be NULL) gets how
 * many. */
int store_upload_prune(store_t *st, int64_t before, int *n);
/* Deletes every row of an owner; *n (may be NULL) gets how many. */
int store_upload_delete_owner(store_t *st, const char *owner_kind, const char *owner_id, int *n);

#endif
