/* sources.h — the recordings of a stream that clips can be cut from, when
 * the rolling live window (window.h) no longer holds a range.
 *
 * A recording (store/recordings.h) qualifies while its media can be read
 * on this machine:
 *   - its fragments are local (DATA/recordings/<id>/fragments.idx: while
 *     recording, when kept locally — status ready —, or not uploaded yet);
 *     each index line has the fragment's wall clock, so cuts are exact even
 *     across reconnects;
 *   - else its finished MP4 (or TS) sits at a file:// destination; the
 *     row's spans ([[wall_ms, dur_ms], …], back to back on the file's
 *     timeline) map wall-clock times onto the file.
 * The source rendition is preferred, else the first one recorded.
 *
 * clip_sources_load runs on the loop (store reads, a stat per recording);
 * clip_source_fragments reads a fragment index: worker thread only.
 */
#ifndef ONAIR_CLIP_SOURCES_H
#define ONAIR_CLIP_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "store/store.h"

typedef struct {
  char id[37];
  int part;
  int recording;      /* still being recorded: covers up to now */
  int fragments;      /* 1: cut from the fragments in dir; 0: cut dir/file */
  char dir[1100];
  char file[80];      /* the finished MP4/TS (fragments == 0) */
  int64_t start_ms;   /* wall clock of its first frame */
  int64_t first_ms, last_ms; /* the wall-clock range it covers */
  int64_t *span_wall, *span_dur; /* malloc'd spans (file sources; fragments when finished) */
  size_t n_spans;
} clip_source_t;

/* Every qualifying recording of the stream, oldest first: *out malloc'd
 * (clip_sources_free). 0 or ERR_NOMEM / a store error. */
int clip_sources_load(store_t *st, const config_t *cfg, const char *project_id,
                      const char *stream_id, clip_source_t **out, size_t *n);
void clip_sources_free(clip_source_t *s, size_t n);
/* Deep copy of one source into dst (spans duplicated). 0 or ERR_NOMEM. */
int clip_source_copy(clip_source_t *dst, const clip_source_t *src);

/* A piece of media on the wall clock: one input file. */
typedef struct {
  char *path;         /* malloc'd */
  int64_t wall_ms, dur_ms;
} clip_piece_t;

/* Worker thread: appends the fragments of a fragment source that overlap
 * [from_ms, to_ms) to *pieces (grown with realloc). 0, ERR_NOT_FOUND (no
 * index any more), ERR_NOMEM. */
int clip_source_fragments(const clip_source_t *s, int64_t from_ms, int64_t to_ms,
                          clip_piece_t **pieces, size_t *n, size_t *cap);

/* Maps a wall-clock time onto a file source's timeline (ms from its first
 * packet); a time between spans maps to the start of the next one. */
int64_t clip_source_to_media(const clip_source_t *s, int64_t wall_ms);
/* And back: the wall clock of a position on the file's timeline. */
int64_t clip_source_to_wall(const clip_source_t *s, int64_t media_ms);

#endif
