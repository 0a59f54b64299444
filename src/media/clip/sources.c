/* sources.c — recordings as clip sources (sources.h). */
#include "media/clip/sources.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "media/record/recorder.h"
#include "store/recordings.h"

#define SOURCE_RENDITION "source"

void clip_sources_free(clip_source_t *s, size_t n) {
  for (size_t i = 0; s && i < n; i++) {
    free(s[i].span_wall);
    free(s[i].span_dur);
  }
  free(s);
}

int clip_source_copy(clip_source_t *dst, const clip_source_t *src) {
  *dst = *src;
  dst->span_wall = dst->span_dur = NULL;
  if (!src->n_spans) return 0;
  dst->span_wall = malloc(src->n_spans * sizeof(int64_t));
  dst->span_dur = malloc(src->n_spans * sizeof(int64_t));
  if (!dst->span_wall || !dst->span_dur) {
    free(dst->span_wall);
    free(dst->span_dur);
    dst->span_wall = dst->span_dur = NULL;
    dst->n_spans = 0;
    return ERR_NOMEM;
  }
  memcpy(dst->span_wall, src->span_wall, src->n_spans * sizeof(int64_t));
  memcpy(dst->span_dur, src->span_dur, src->n_spans * sizeof(int64_t));
  return 0;
}

/* The row's spans JSON into s (ignores malformed entries). */
static int parse_spans(const char *text, clip_source_t *s) {
  json_error_t jerr;
  json_t *a = json_loads(text ? text : "[]", 0, &jerr);
  size_t n = json_array_size(a), k = 0;
  if (n) {
    s->span_wall = malloc(n * sizeof(int64_t));
    s->span_dur = malloc(n * sizeof(int64_t));
    if (!s->span_wall || !s->span_dur) {
      json_decref(a);
      return ERR_NOMEM;
    }
  }
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(a, i);
    int64_t w = json_integer_value(json_array_get(e, 0)), d = json_integer_value(json_array_get(e, 1));
    if (w <= 0 || d <= 0) continue;
    s->span_wall[k] = w;
    s->span_dur[k++] = d;
  }
  s->n_spans = k;
  json_decref(a);
  return 0;
}

/* The finished file to cut: the source rendition's MP4, its TS, else any
 * rendition's MP4 or TS. 0 and name, or ERR_NOT_FOUND. */
static int pick_file(const char *files_json, char *name, size_t len) {
  static const struct { int source; const char *format; } order[] = {
      {1, "mp4"}, {1, "ts"}, {0, "mp4"}, {0, "ts"}};
  json_error_t jerr;
  json_t *files = json_loads(files_json ? files_json : "[]", 0, &jerr);
  int found = 0;
  for (size_t o = 0; o < sizeof(order) / sizeof(order[0]) && !found; o++) {
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
      const char *fmt = json_string_value(json_object_get(f, "format"));
      const char *rend = json_string_value(json_object_get(f, "rendition"));
      const char *nm = json_string_value(json_object_get(f, "name"));
      if (!fmt || !nm || strcmp(fmt, order[o].format) != 0 || strchr(nm, '/')) continue;
      if (order[o].source && (!rend || strcmp(rend, SOURCE_RENDITION) != 0)) continue;
      snprintf(name, len, "%s", nm);
      found = 1;
      break;
    }
  }
  json_decref(files);
  return found ? 0 : ERR_NOT_FOUND;
}

int clip_sources_load(store_t *st, const config_t *cfg, const char *project_id,
                      const char *stream_id, clip_source_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  store_recording_t *rows = NULL;
  size_t nr = 0;
  long total = 0;
  int rc = store_recording_list(st, project_id, stream_id, STORE_REC_SORT_CREATED, 0, 100000, 0,
                                &rows, &nr, &total);
  if (rc) return rc;
  clip_source_t *a = nr ? calloc(nr, sizeof(*a)) : NULL;
  size_t k = 0;
  if (nr && !a) rc = ERR_NOMEM;
  for (size_t i = 0; rc == 0 && i < nr; i++) {
    store_recording_t *r = &rows[i];
    clip_source_t *s = &a[k];
    memset(s, 0, sizeof(*s));
    if (r->start_ms <= 0) continue; /* made before wall-clock times were kept */
    snprintf(s->id, sizeof(s->id), "%s", r->id);
    s->part = r->part;
    s->start_ms = r->start_ms;
    s->recording = strcmp(r->status, "recording") == 0;
    if ((rc = parse_spans(r->spans, s)) != 0) break;
    int64_t end = s->n_spans ? s->span_wall[s->n_spans - 1] + s->span_dur[s->n_spans - 1]
                             : r->start_ms + r->duration_ms;
    if (recorder_file_dir(cfg, r, "fragments.idx", s->dir, sizeof(s->dir)) == 0) {
      s->fragments = 1;
    } else if (s->recording || !s->n_spans || pick_file(r->files, s->file, sizeof(s->file)) ||
               recorder_file_dir(cfg, r, s->file, s->dir, sizeof(s->dir))) {
      free(s->span_wall);
      free(s->span_dur);
      continue; /* nothing readable here */
    }
    s->first_ms = s->n_spans ? s->span_wall[0] : r->start_ms;
    s->last_ms = s->recording ? util_now_ms() : end;
    if (s->last_ms > s->first_ms) k++;
    else {
      free(s->span_wall);
      free(s->span_dur);
    }
  }
  for (size_t i = 0; i < nr; i++) store_recording_clear(&rows[i]);
  free(rows);
  if (rc) {
    clip_sources_free(a, k);
    return rc;
  }
  if (!k) {
    free(a);
    a = NULL;
  }
  *out = a;
  *n = k;
  return 0;
}

/* ---- worker side ---- */

static int piece_add(clip_piece_t **pieces, size_t *n, size_t *cap, const char *dir,
                     const char *file, int64_t wall, int64_t dur) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 32;
    clip_piece_t *p = realloc(*pieces, c * sizeof(*p));
    if (!p) return ERR_NOMEM;
    *pieces = p;
    *cap = c;
  }
  if (asprintf(&(*pieces)[*n].path, "%s/%s", dir, file) < 0) return ERR_NOMEM;
  (*pieces)[*n].wall_ms = wall;
  (*pieces)[*n].dur_ms = dur;
  ++*n;
  return 0;
}

int clip_source_fragments(const clip_source_t *s, int64_t from_ms, int64_t to_ms,
                          clip_piece_t **pieces, size_t *n, size_t *cap) {
  char path[1200], line[256], rend[16], file[64], want[16] = "";
  snprintf(path, sizeof(path), "%s/fragments.idx", s->dir);
  for (int pass = 0; pass < 2; pass++) {
    FILE *f = fopen(path, "re");
    if (!f) return ERR_NOT_FOUND;
    int64_t cum = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
      long long dur, wall = 0;
      int disc;
      if (!strchr(line, '\n')) break; /* a torn last line */
      if (sscanf(line, "%15s %lld %d %63s %lld", rend, &dur, &disc, file, &wall) < 4 ||
          strchr(file, '/') || file[0] == '.' || dur <= 0)
        continue;
      if (pass == 0) { /* choose the rendition: the source when recorded */
        if (!want[0] || strcmp(rend, SOURCE_RENDITION) == 0) snprintf(want, sizeof(want), "%s", rend);
        continue;
      }
      if (strcmp(rend, want) != 0) continue;
      /* Older lines have no wall clock: the recording's start plus what came before. */
      int64_t w = wall > 0 ? (int64_t)wall : s->start_ms + cum;
      cum += dur;
      if (w < to_ms && w + dur > from_ms) rc = piece_add(pieces, n, cap, s->dir, file, w, dur);
    }
    fclose(f);
    if (rc) return rc;
    if (!want[0]) return 0;
  }
  return 0;
}

int64_t clip_source_to_media(const clip_source_t *s, int64_t wall_ms) {
  int64_t cum = 0;
  for (size_t k = 0; k < s->n_spans; k++) {
    if (wall_ms < s->span_wall[k]) return cum;
    if (wall_ms < s->span_wall[k] + s->span_dur[k]) return cum + (wall_ms - s->span_wall[k]);
    cum += s->span_dur[k];
  }
  return cum;
}

int64_t clip_source_to_wall(const clip_source_t *s, int64_t media_ms) {
  int64_t cum = 0;
  for (size_t k = 0; k < s->n_spans; k++) {
    if (media_ms < cum + s->span_dur[k]) return s->span_wall[k] + (media_ms - cum);
    cum += s->span_dur[k];
  }
  return s->n_spans ? s->span_wall[s->n_spans - 1] + s->span_dur[s->n_spans - 1] : 0;
}
