/* store/recordings.h — the recordings table (DVR files of live streams).
 *
 * A row is one recorded file set: the renditions and formats of one part
 * of a broadcast (see media/record/recorder.h). The JSON columns are kept
 * as text; the recorder builds them and the API renders them. Loop thread
 * only, like the rest of the store.
 */
#ifndef ONAIR_STORE_RECORDINGS_H
#define ONAIR_STORE_RECORDINGS_H

#include <stdint.h>

#include "store/store.h"

typedef struct {
  char id[37];
  char project_id[37];
  char stream_id[37];
  int part;               /* 1, 2, … within a broadcast split at max_file_duration */
  char status[16];        /* recording | uploading | uploaded | ready | failed */
  int64_t started_at;     /* unix s */
  int64_t ended_at;       /* unix s; 0 while recording */
  int64_t duration_ms;
  int64_t size;           /* bytes of the produced files */
  char *formats;          /* malloc'd JSON texts (see migrations.c, 5) */
  char *renditions;
  char *files;
  char *destinations;
  char *uploads;
  char *urls;
  char *error;            /* malloc'd or NULL */
  int64_t created_at, updated_at;
  int64_t start_ms;       /* wall clock (Unix ms) of the first frame; 0: unknown */
  char *spans;            /* malloc'd JSON [[wall_ms, dur_ms], ...] (set when finished) */
} store_recording_t;

void store_recording_clear(store_recording_t *r);

/* Inserts r (JSON members NULL take their empty defaults). */
int store_recording_insert(store_t *st, const store_recording_t *r);
/* Writes every mutable column of r (status … error, updated_at) by id. */
int store_recording_update(store_t *st, const store_recording_t *r);
/* By id; project_id NULL: any project. ERR_NOT_FOUND when absent. */
int store_recording_get(store_t *st, const char *project_id, const char *id,
                        store_recording_t *out);
/* ERR_NOT_FOUND when the project has no such recording. */
int store_recording_delete(store_t *st, const char *project_id, const char *id);

typedef enum { STORE_REC_SORT_CREATED = 0, STORE_REC_SORT_DURATION = 1 } store_rec_sort_t;
/* One page of a stream's recordings (sorted, then by id for ties); *out
 * malloc'd (clear each, then free); *total counts them all. */
int store_recording_list(store_t *st, const char *project_id, const char *stream_id,
                         store_rec_sort_t sort, int descending, long limit, long offset,
                         store_recording_t **out, size_t *n, long *total);
/* The newest recording of a stream (rendered with the stream object on
 * every read: one cached statement). ERR_NOT_FOUND when it has none. */
int store_recording_latest(store_t *st, const char *project_id, const char *stream_id,
                           store_recording_t *out);
/* Every recording in `status` (recovery at start). */
int store_recording_list_status(store_t *st, const char *status, store_recording_t **out,
                                size_t *n);

#endif
