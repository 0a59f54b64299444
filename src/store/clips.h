/* store/clips.h — the clips table (migration 7): clips cut from a live
 * stream's rolling window (media/clip/clip.h makes them, api/clips.c serves
 * them).
 *
 * Same rules as store.h (one thread per store_t, 0 or ERR_*). Statements are
 * prepared per call: clips are created and listed by people, not per media
 * request, so they take no slot in the store's statement cache.
 */
#ifndef ONAIR_STORE_CLIPS_H
#define ONAIR_STORE_CLIPS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef enum {
  STORE_CLIP_PROCESSING = 0, /* the worker is cutting it */
  STORE_CLIP_READY = 1,      /* clip.mp4 and the HLS VOD exist */
  STORE_CLIP_FAILED = 2,     /* see error */
} store_clip_status_t;

typedef struct {
  char id[37];
  char project_id[37];
  char stream_id[37];
  char name[256];            /* "" when none was given */
  int status;                /* store_clip_status_t */
  int64_t start_ms, end_ms;  /* the requested range, wall clock (Unix ms) */
  int64_t media_start_ms;    /* where the media really starts (the keyframe at or before start_ms); 0 until ready */
  int64_t duration_ms;       /* duration of the media made; 0 until ready */
  int64_t size_bytes;        /* size of clip.mp4; 0 until ready */
  int width, height;         /* of the video; 0 until ready */
  char playback_policy[16];  /* "public" | "authenticated" */
  char error[256];           /* why it failed ("" otherwise) */
  int64_t created_at;        /* Unix s */
  int64_t updated_at;        /* Unix s */
} store_clip_t;

/* Inserts a new clip (status, result fields as given). ERR_EXISTS on a
 * duplicate id. */
int store_clip_insert(store_t *st, const store_clip_t *c);
/* By id, scoped to project_id (NULL: any project). ERR_NOT_FOUND. */
int store_clip_get(store_t *st, const char *project_id, const char *id, store_clip_t *out);

typedef enum { STORE_CLIP_SORT_CREATED_AT = 0, STORE_CLIP_SORT_DURATION = 1 } store_clip_sort_t;
/* One page of the clips of a stream in a project: sorted by created_at or
 * by requested duration (ties: creation order), ascending or descending.
 * *out malloc'd (free()); *total counts every clip of the stream. */
int store_clip_list(store_t *st, const char *project_id, const char *stream_id,
                    store_clip_sort_t sort, int descending, long limit, long offset,
                    store_clip_t **out, size_t *n, long *total);
/* Every clip with this status, oldest first (restart recovery). *out
 * malloc'd. */
int store_clip_list_status(store_t *st, int status, store_clip_t **out, size_t *n);

/* Records the outcome of a processing clip: status READY with the media
 * fields of c, or FAILED with c->error. ERR_NOT_FOUND when the clip was
 * deleted meanwhile (or is no longer processing). */
int store_clip_finish(store_t *st, const store_clip_t *c);
/* Deletes a clip of the project. ERR_NOT_FOUND when absent. */
int store_clip_delete(store_t *st, const char *project_id, const char *id);

#endif
