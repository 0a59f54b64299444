/* recorder.c — DVR recordings (see recorder.h for the model).
 *
 * Loop side: segment observer, rendition choice, parts and splitting, the
 * store rows, uploads and events. Worker side (uv_queue_work): fragment
 * writes (one at a time per recording, so fragments.idx stays in order),
 * finishing (remux + playlists), and removing directories.
 */
#include "media/record/recorder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"
#include "http/http.h" /* http_url_decode */
#include "live/stream_view.h"
#include "live/lifecycle.h"
#include "media/hls/hls.h"
#include "media/record/remux.h"
#include "upload/uploader.h"

#define OWNER_KIND "recording"
#define INDEX_FILE "fragments.idx"
#define DEFAULT_MAX_FILE_S 14400
#define SPLIT_SLACK_MS 500 /* a part may run this much past max_file_duration */
#define MAX_RENDS LIVE_MAX_RENDITIONS

/* ---- types ------------------------------------------------------------------ */

typedef struct part part_t;

typedef struct frag_job {
  STAILQ_ENTRY(frag_job) link;
  part_t *part;
  hls_buf_t *buf;
  char file[64];
  char rend[16];
  int64_t dur_ms;
  int64_t wall_ms; /* wall clock of its first frame (Unix ms) */
  int discont;
  int rc;
} frag_job_t;

typedef struct {
  char name[16];
  int width, height;
  int64_t dur_ms;
  unsigned nfrag;
  int closed;     /* full: its next segment goes to the next part */
} rend_state_t;

typedef struct bcast bcast_t;

struct part {
  part_t *next;
  recorder_t *rc;
  bcast_t *b;
  char id[37], project_id[37], stream_id[37];
  char dir[1200];
  int part_no;
  int64_t started_at;
  rend_state_t rend[MAX_RENDS];
  int nrend;
  STAILQ_HEAD(, frag_job) queue; /* fragments waiting for the writer */
  int writing;                    /* a fragment write is in flight */
  int finishing;                  /* takes no more fragments */
  int write_errors;
};

struct bcast {
  bcast_t *next;
  char stream_id[37];
  part_t *parts;   /* open parts, oldest first */
  int next_part;
  int stopping;    /* the stream stopped: ends at the next loop turn */
  int ended;       /* takes no segments; freed with its last part */
};

struct recorder {
  uv_loop_t *loop;
  store_t *store;
  live_t *live;
  uploader_t *up;
  const config_t *cfg;
  char root[1100];  /* DATA/recordings */
  bcast_t *bcasts;
  uv_timer_t end_timer; /* ends stopping broadcasts after the stop call returned */
  /* Finishing (remuxing hours of media) runs one at a time: libuv's thread
   * pool also carries the fragment writes of every live recording. */
  STAILQ_HEAD(, finish_job) finish_queue;
  int finishing;
  int inflight;     /* uv work requests and handles out */
  int closing;
};

/* ---- small helpers ------------------------------------------------------------ */

void recorder_strip_url(const char *url, char *out, size_t outlen) {
  if (!outlen) return;
  out[0] = '\0';
  if (!url) return;
  const char *sep = strstr(url, "://");
  const char *rest = sep ? sep + 3 : url;
  size_t scheme_len = (size_t)(rest - url);
  size_t auth_len = strcspn(rest, "/?#");
  const char *at = NULL;
  for (size_t i = 0; i < auth_len; i++)
    if (rest[i] == '@') at = rest + i;
  const char *host = at ? at + 1 : rest;
  size_t tail = strcspn(host, "?#");
  snprintf(out, outlen, "%.*s%.*s", (int)scheme_len, url, (int)tail, host);
}

static int64_t now_s(void) { return util_now(); }

/* 1 for a lowercase-hex 8-4-4-4-12 UUID: safe as a directory name. */
static int is_uuid(const char *s) {
  for (int i = 0; i < 36; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return s[36] == '\0';
}

/* params.dvr of a stream as parsed JSON (new reference) or NULL. */
static json_t *load_params(const store_stream_t *s) {
  json_error_t jerr;
  return s->params_json ? json_loads(s->params_json, 0, &jerr) : NULL;
}

/* The formats of a dvr object as a new JSON array (default ["mp4"]). */
static json_t *dvr_formats(json_t *dvr) {
  json_t *f = json_object_get(dvr, "format");
  if (json_is_string(f)) return json_pack("[O]", f);
  if (json_is_array(f) && json_array_size(f) > 0) return json_deep_copy(f);
  return json_pack("[s]", "mp4");
}

static int has_format(json_t *formats, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(formats, i, v) if (json_is_string(v) &&
                                        strcmp(json_string_value(v), name) == 0) return 1;
  return 0;
}

/* dvr.destination as a new array of objects (empty when none). */
static json_t *dvr_destinations(json_t *dvr) {
  json_t *d = json_object_get(dvr, "destination");
  if (json_is_object(d)) return json_pack("[O]", d);
  if (json_is_array(d)) return json_deep_copy(d);
  return json_array();
}

static json_t *strip_destinations(json_t *dests) {
  json_t *out = json_array();
  size_t i;
  json_t *d;
  json_array_foreach(dests, i, d) {
    char u[2100];
    recorder_strip_url(json_string_value(json_object_get(d, "url")), u, sizeof(u));
    json_array_append_new(out, json_string(u));
  }
  return out;
}

static char *dumps(json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  return s;
}

/* ---- rendition choice (seed 003 stream_source / resolution) ----------------------- */

static int rend_height(live_rendition_t *r, int index) {
  if (index == 0 || r->height <= 0) {
    const media_config_t *c = hub_config(r->hub);
    return c ? c->height : 0;
  }
  return r->height;
}

static int rend_width(live_rendition_t *r, int index) {
  if (index == 0 || r->width <= 0) {
    const media_config_t *c = hub_config(r->hub);
    return c ? c->width : 0;
  }
  return r->width;
}

static int resolution_height(const char *res) {
  if (strcmp(res, "4k") == 0) return 2160;
  int h = atoi(res);
  return h > 0 ? h : 0;
}

/* 1 when rendition `index` of ls is recorded under these params. */
static int rendition_selected(live_stream_t *ls, int index, json_t *params, json_t *dvr) {
  const char *source = json_string_value(json_object_get(dvr, "stream_source"));
  const char *res = json_string_value(json_object_get(dvr, "resolution"));
  const char *mode = json_string_value(json_object_get(params, "mode"));
  int n = live_rendition_count(ls);
  if (!source || strcmp(source, "transcoded") != 0 || n <= 1)
    return index == 0; /* original, auto (TS records any input), or nothing transcoded */
  if (!res) res = "highest";
  /* Candidates: the rungs, and the source too when it is the ladder's top
   * rung (mode auto passes it through). */
  int src_is_rung = !mode || strcmp(mode, "auto") == 0;
  if (index == 0 && !src_is_rung) return 0;
  if (strcmp(res, "all") == 0) return 1;
  int best = -1, best_h = 0, target = resolution_height(res);
  for (int i = src_is_rung ? 0 : 1; i < n; i++) {
    live_rendition_t *r = live_rendition_get(ls, i);
    int h = rend_height(r, i);
    if (best < 0) {
      best = i, best_h = h;
      continue;
    }
    int better;
    if (strcmp(res, "lowest") == 0)
      better = h < best_h;
    else if (strcmp(res, "highest") == 0 || target <= 0)
      better = h > best_h;
    else { /* closest to the target; on a tie the lower one */
      int d = abs(h - target), bd = abs(best_h - target);
      better = d < bd || (d == bd && h < best_h);
    }
    if (better) best = i, best_h = h;
  }
  return index == best;
}

/* ---- worker plumbing ------------------------------------------------------------- */

typedef struct work {
  uv_work_t req;
  recorder_t *rc;
  void (*run)(struct work *w);
  void (*done)(struct work *w);
  void *arg;
} work_t;

static void work_run(uv_work_t *req) {
  work_t *w = req->data;
  w->run(w);
}

static void recorder_destroy(recorder_t *rc);

static void work_after(uv_work_t *req, int status) {
  (void)status;
  work_t *w = req->data;
  recorder_t *rc = w->rc;
  rc->inflight--;
  w->done(w);
  free(w);
  if (rc->closing && rc->inflight == 0) recorder_destroy(rc);
}

static int work_queue(recorder_t *rc, void (*run)(work_t *), void (*done)(work_t *), void *arg) {
  work_t *w = calloc(1, sizeof(*w));
  if (!w) return ERR_NOMEM;
  w->rc = rc;
  w->run = run;
  w->done = done;
  w->arg = arg;
  w->req.data = w;
  int r = uv_queue_work(rc->loop, &w->req, work_run, work_after);
  if (r) {
    free(w);
    return ERR_INTERNAL;
  }
  rc->inflight++;
  return 0;
}

/* ---- durable fragment writes (worker) ------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, p + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ERR_IO;
    }
    off += (size_t)w;
  }
  return 0;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ERR_IO;
  int rc = fsync(fd) == 0 ? 0 : ERR_IO;
  close(fd);
  return rc;
}

static void frag_write_run(work_t *w) {
  frag_job_t *j = w->arg;
  part_t *p = j->part;
  char path[1300], line[160];
  j->rc = ERR_IO;
  snprintf(path, sizeof(path), "%s/%s", p->dir, j->file);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  int rc = write_all(fd, j->buf->data, j->buf->len);
  if (rc == 0 && fsync(fd) != 0) rc = ERR_IO;
  close(fd);
  if (rc) return;
  /* The fragment is on disk before the index names it. */
  snprintf(path, sizeof(path), "%s/" INDEX_FILE, p->dir);
  /* The wall clock comes last: older readers take the first four fields. */
  int n = snprintf(line, sizeof(line), "%s %lld %d %s %lld\n", j->rend, (long long)j->dur_ms,
                   j->discont, j->file, (long long)j->wall_ms);
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  off_t size = lseek(fd, 0, SEEK_END);
  rc = write_all(fd, (const uint8_t *)line, (size_t)n);
  /* A short write (disk full) is cut off again, or the next line would
   * glue onto it and both fragments read back as one bad line. */
  if (rc && size >= 0 && ftruncate(fd, size) != 0) log_warn("recording_index_torn dir=%s", p->dir);
  if (rc == 0 && fsync(fd) != 0) rc = ERR_IO;
  close(fd);
  if (rc == 0) rc = fsync_dir(p->dir);
  j->rc = rc;
}

static void part_pump(part_t *p);
static void part_try_finish(part_t *p);

static void frag_write_done(work_t *w) {
  frag_job_t *j = w->arg;
  part_t *p = j->part;
  recorder_t *rc = p->rc;
  if (j->rc) {
    p->write_errors++;
    log_warn("recording_fragment_failed id=%s file=%s err=%s", p->id, j->file, err_str(j->rc));
  }
  hls_buf_unref(j->buf);
  free(j);
  p->writing = 0;
  if (rc->closing) return; /* the part is freed by recorder_destroy */
  part_pump(p);
  part_try_finish(p);
}

/* Starts the next queued fragment write of p, if none is in flight. */
static void part_pump(part_t *p) {
  if (p->writing || STAILQ_EMPTY(&p->queue)) return;
  frag_job_t *j = STAILQ_FIRST(&p->queue);
  STAILQ_REMOVE_HEAD(&p->queue, link);
  if (work_queue(p->rc, frag_write_run, frag_write_done, j) != 0) {
    p->write_errors++;
    hls_buf_unref(j->buf);
    free(j);
    return;
  }
  p->writing = 1;
}

/* ---- finishing (worker) ----------------------------------------------------------- */

typedef struct {
  char name[16];
  char **files;   /* fragment file names, in order */
  int64_t *dur;
  int64_t *wall;  /* wall clock of each fragment's first frame; 0: unknown (older index) */
  int *disc;
  size_t n, cap;
} frag_list_t;

typedef struct finish_job {
  STAILQ_ENTRY(finish_job) link; /* waiting for its turn */
  /* in */
  char id[37], project_id[37], stream_id[37];
  char dir[1200];
  json_t *formats;     /* owned */
  /* out */
  int rc;
  char error[256];
  json_t *files;       /* [{name, format, rendition, size}] */
  json_t *renditions;  /* [{name, width, height}] */
  json_t *spans;       /* [[wall_ms, dur_ms], ...] of one rendition (store/recordings.h) */
  int64_t duration_ms, size;
} finish_job_t;

static void frag_list_free(frag_list_t *l, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < l[i].n; k++) free(l[i].files[k]);
    free(l[i].files);
    free(l[i].dur);
    free(l[i].wall);
    free(l[i].disc);
  }
}

static int frag_list_add(frag_list_t *l, const char *file, int64_t dur, int64_t wall, int disc) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **f = realloc(l->files, cap * sizeof(*f));
    if (!f) return ERR_NOMEM;
    l->files = f;
    int64_t *d = realloc(l->dur, cap * sizeof(*d));
    if (!d) return ERR_NOMEM;
    l->dur = d;
    int64_t *wl = realloc(l->wall, cap * sizeof(*wl));
    if (!wl) return ERR_NOMEM;
    l->wall = wl;
    int *c = realloc(l->disc, cap * sizeof(*c));
    if (!c) return ERR_NOMEM;
    l->disc = c;
    l->cap = cap;
  }
  if (!(l->files[l->n] = strdup(file))) return ERR_NOMEM;
  l->dur[l->n] = dur;
  l->wall[l->n] = wall;
  l->disc[l->n] = disc;
  l->n++;
  return 0;
}

/* Reads fragments.idx: fragments grouped by rendition, in index order.
 * Lines naming a missing or empty file (never written) are skipped. */
static int read_index(const char *dir, frag_list_t *lists, size_t *nlists) {
  char path[1300], line[256];
  *nlists = 0;
  snprintf(path, sizeof(path), "%s/" INDEX_FILE, dir);
  FILE *f = fopen(path, "re");
  if (!f) return ERR_NOT_FOUND;
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof(line), f)) {
    char rend[16], file[64];
    long long dur, wall = 0;
    int disc;
    if (!strchr(line, '\n')) break; /* a torn last line */
    if (sscanf(line, "%15s %lld %d %63s %lld", rend, &dur, &disc, file, &wall) < 4) continue;
    if (strchr(file, '/') || file[0] == '.') continue;
    char fp[1400];
    struct stat sb;
    snprintf(fp, sizeof(fp), "%s/%s", dir, file);
    if (stat(fp, &sb) != 0 || sb.st_size == 0) continue;
    size_t i;
    for (i = 0; i < *nlists; i++)
      if (strcmp(lists[i].name, rend) == 0) break;
    if (i == *nlists) {
      if (*nlists == MAX_RENDS) continue;
      memset(&lists[i], 0, sizeof(lists[i]));
      snprintf(lists[i].name, sizeof(lists[i].name), "%s", rend);
      (*nlists)++;
    }
    rc = frag_list_add(&lists[i], file, dur, wall, disc);
  }
  fclose(f);
  return rc;
}

/* The stretches of wall-clock time a rendition's fragments hold, back to
 * back on the remuxed files' timeline: [[wall_ms, dur_ms], ...]. A
 * discontinuity, or a jump of the wall clock by more than a second, starts
 * a new one. Renditions share segment boundaries, so one tells for all.
 * Empty when the index predates wall-clock times. */
static json_t *fragment_spans(const frag_list_t *l) {
  json_t *spans = json_array();
  int64_t w0 = 0, d = 0;
  for (size_t k = 0; spans && k < l->n; k++) {
    if (l->wall[k] <= 0) {
      json_array_clear(spans);
      return spans;
    }
    if (d > 0 && !l->disc[k] && llabs(l->wall[k] - (w0 + d)) <= 1000) {
      d += l->dur[k];
      continue;
    }
    if (d > 0) json_array_append_new(spans, json_pack("[I, I]", (json_int_t)w0, (json_int_t)d));
    w0 = l->wall[k];
    d = l->dur[k];
  }
  if (spans && d > 0) json_array_append_new(spans, json_pack("[I, I]", (json_int_t)w0, (json_int_t)d));
  return spans;
}

static void add_file(finish_job_t *j, const char *name, const char *format, const char *rend,
                     int64_t size) {
  json_array_append_new(j->files, json_pack("{s:s, s:s, s:s, s:I}", "name", name, "format",
                                            format, "rendition", rend, "size", (json_int_t)size));
  j->size += size;
}

static int64_t file_size(const char *dir, const char *name) {
  char p[1400];
  struct stat sb;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void finish_run(work_t *w) {
  finish_job_t *j = w->arg;
  frag_list_t lists[MAX_RENDS];
  size_t nl = 0;
  j->files = json_array();
  j->renditions = json_array();
  j->rc = read_index(j->dir, lists, &nl);
  if (j->rc || nl == 0) {
    snprintf(j->error, sizeof(j->error), "no media was recorded");
    j->rc = j->rc ? j->rc : ERR_NOT_FOUND;
    frag_list_free(lists, nl);
    return;
  }
  int want_mp4 = has_format(j->formats, "mp4"), want_ts = has_format(j->formats, "ts"),
      want_hls = has_format(j->formats, "hls");
  remux_vod_variant_t variants[MAX_RENDS];
  char variant_uri[MAX_RENDS][40];
  for (size_t i = 0; i < nl; i++) {
    frag_list_t *l = &lists[i];
    char out[1400], name[64];
    remux_info_t info = {0};
    int64_t frag_ms = 0, frag_bytes = 0;
    for (size_t k = 0; k < l->n; k++) {
      frag_ms += l->dur[k];
      frag_bytes += file_size(j->dir, l->files[k]);
    }
    const char **paths = calloc(l->n, sizeof(*paths));
    char **full = calloc(l->n, sizeof(*full));
    int rc = paths && full ? 0 : ERR_NOMEM;
    for (size_t k = 0; rc == 0 && k < l->n; k++) {
      if (asprintf(&full[k], "%s/%s", j->dir, l->files[k]) < 0) {
        full[k] = NULL;
        rc = ERR_NOMEM;
      }
      paths[k] = full[k];
    }
    if (rc == 0 && want_mp4) {
      snprintf(name, sizeof(name), "%.15s.mp4", l->name);
      snprintf(out, sizeof(out), "%s/%s", j->dir, name);
      rc = remux_files(paths, l->n, out, "mp4", -1, -1, &info);
      if (rc == 0) add_file(j, name, "mp4", l->name, info.size);
    }
    if (rc == 0 && want_ts) {
      remux_info_t ti = {0};
      snprintf(name, sizeof(name), "%.15s.ts", l->name);
      snprintf(out, sizeof(out), "%s/%s", j->dir, name);
      rc = remux_files(paths, l->n, out, "mpegts", -1, -1, &ti);
      if (rc == 0) add_file(j, name, "ts", l->name, ti.size);
      if (rc == 0 && !want_mp4) info = ti;
    }
    remux_vod_segment_t *segs = calloc(l->n, sizeof(*segs));
    if (rc == 0 && !segs) rc = ERR_NOMEM;
    for (size_t k = 0; rc == 0 && k < l->n; k++)
      segs[k] = (remux_vod_segment_t){l->files[k], (double)l->dur[k] / 1000.0, l->disc[k]};
    if (rc == 0) {
      snprintf(name, sizeof(name), "%.15s.m3u8", l->name);
      snprintf(out, sizeof(out), "%s/%s", j->dir, name);
      rc = remux_write_vod_playlist(out, segs, l->n);
      if (rc == 0 && nl == 1) {
        snprintf(out, sizeof(out), "%s/index.m3u8", j->dir);
        rc = remux_write_vod_playlist(out, segs, l->n);
      }
    }
    free(segs);
    for (size_t k = 0; full && k < l->n; k++) free(full[k]);
    free(full);
    free(paths);
    if (rc) {
      snprintf(j->error, sizeof(j->error), "could not produce the %s files of rendition %.15s: %s",
               want_mp4 ? "mp4" : want_ts ? "ts" : "hls", l->name, err_str(rc));
      j->rc = rc;
      frag_list_free(lists, nl);
      return;
    }
    if (want_hls) {
      add_file(j, name, "hls", l->name, file_size(j->dir, name));
      j->size += frag_bytes;
    }
    if (!want_mp4 && !want_ts) { /* width/height come from a probe of the first fragment */
      char fp[1400];
      const char *one[1] = {fp};
      snprintf(fp, sizeof(fp), "%s/%s", j->dir, l->files[0]);
      char probe[1400];
      snprintf(probe, sizeof(probe), "%s/.probe.ts", j->dir);
      if (remux_files(one, 1, probe, "mpegts", -1, -1, &info) == 0) unlink(probe);
    }
    int64_t dur = info.duration_ms > 0 ? info.duration_ms : frag_ms;
    if (i == 0 || dur > j->duration_ms) j->duration_ms = dur;
    json_array_append_new(j->renditions, json_pack("{s:s, s:i, s:i}", "name", l->name, "width",
                                                   info.width, "height", info.height));
    snprintf(variant_uri[i], sizeof(variant_uri[i]), "%.15s.m3u8", l->name);
    int64_t bps = frag_ms > 0 ? frag_bytes * 8 * 1000 / frag_ms : 0;
    unsigned bw = bps > 2000000000 ? 2000000000u : (unsigned)bps; /* + 20 % below stays in range */
    variants[i] = (remux_vod_variant_t){variant_uri[i], bw + bw / 5, info.width, info.height};
  }
  if (nl > 1) {
    char out[1400];
    snprintf(out, sizeof(out), "%s/index.m3u8", j->dir);
    j->rc = remux_write_master_playlist(out, variants, nl);
  }
  if (want_hls)
    add_file(j, "index.m3u8", "hls", nl > 1 ? "all" : lists[0].name,
             file_size(j->dir, "index.m3u8"));
  j->spans = fragment_spans(&lists[0]);
  frag_list_free(lists, nl);
}

/* ---- uploads -------------------------------------------------------------------- */

static int is_fragment(const char *name) { return strncmp(name, "frag-", 5) == 0; }

/* Every local file of the requested formats (names relative to dir). */
static json_t *upload_names(const char *dir, json_t *files, json_t *formats) {
  json_t *names = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(files, i, f) json_array_append(names, json_object_get(f, "name"));
  if (has_format(formats, "hls")) { /* the fragments the playlists name */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
      if (is_fragment(e->d_name) && strstr(e->d_name, ".ts") && !strstr(e->d_name, ".part"))
        json_array_append_new(names, json_string(e->d_name));
    if (d) closedir(d);
  }
  return names;
}

static void emit(recorder_t *rc, const store_recording_t *r) {
  const char *type = strcmp(r->status, "failed") == 0                                  ? "recording.failed"
                     : strcmp(r->status, "ready") == 0 || strcmp(r->status, "uploaded") == 0 ? "recording.ready"
                                                                                             : NULL;
  if (!type) return;
  events_emit(type, r->project_id, r->stream_id, recorder_render(rc->cfg, r));
}

static void set_text(char **slot, char *value) {
  free(*slot);
  *slot = value;
}

static void remove_dir_run(work_t *w) {
  const char *dir = w->arg;
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[1400];
  while (d && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

static void remove_dir_done(work_t *w) { free(w->arg); }

static void remove_dir(recorder_t *rc, const char *id) {
  char *dir;
  if (asprintf(&dir, "%s/%s", rc->root, id) < 0) return;
  if (work_queue(rc, remove_dir_run, remove_dir_done, dir) != 0) free(dir);
}

/* Queues every file for every destination; status uploading (or ready
 * with no destination / no uploader). r is updated and stored. */
static void start_uploads(recorder_t *rc, store_recording_t *r, json_t *formats) {
  store_stream_t s;
  json_t *params = NULL, *dests = json_array();
  if (store_stream_get_any(rc->store, r->stream_id, &s) == 0) {
    params = load_params(&s);
    store_stream_clear(&s);
  } else {
    /* a deleted stream: its params are still readable for its recordings */
    char *text = NULL;
    if (store_webhook_stream_params(rc->store, r->stream_id, &text) == 0) {
      json_error_t jerr;
      params = json_loads(text, 0, &jerr);
    }
    free(text);
  }
  if (params) {
    json_decref(dests);
    dests = dvr_destinations(json_object_get(params, "dvr"));
  }
  json_t *stripped = strip_destinations(dests);
  set_text(&r->destinations, dumps(stripped));
  json_decref(stripped);
  json_t *uploads = json_object();
  if (rc->up && json_array_size(dests) > 0) {
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/%s", rc->root, r->id);
    json_error_t jerr;
    json_t *files = json_loads(r->files ? r->files : "[]", 0, &jerr);
    json_t *names = upload_names(dir, files, formats);
    json_decref(files);
    size_t di, ni;
    json_t *d, *nm;
    char fail[300] = "";
    json_array_foreach(dests, di, d) {
      json_array_foreach(names, ni, nm) {
        char local[1400], object[128], job[37];
        snprintf(local, sizeof(local), "%s/%s", dir, json_string_value(nm));
        snprintf(object, sizeof(object), "%s/%s", r->id, json_string_value(nm));
        int e = uploader_enqueue(rc->up, OWNER_KIND, r->id, local, object, d, job);
        if (e == 0)
          json_object_set_new(uploads, job, json_string("pending"));
        else if (!fail[0])
          snprintf(fail, sizeof(fail), "cannot queue the upload of %s: %s",
                   json_string_value(nm), err_str(e));
      }
    }
    json_decref(names);
    if (fail[0]) {
      snprintf(r->status, sizeof(r->status), "failed");
      set_text(&r->error, strdup(fail));
    } else {
      snprintf(r->status, sizeof(r->status), "uploading");
    }
  } else {
    snprintf(r->status, sizeof(r->status), "ready");
  }
  if (json_object_size(uploads) == 0 && strcmp(r->status, "uploading") == 0)
    snprintf(r->status, sizeof(r->status), "ready");
  set_text(&r->uploads, dumps(uploads));
  json_decref(uploads);
  json_decref(dests);
  json_decref(params);
}

static void on_upload_done(void *ud, const char *owner_kind, const char *owner_id,
                           const char *job_id, const char *local_path, int ok, const char *url,
                           const char *error) {
  recorder_t *rc = ud;
  (void)owner_kind;
  store_recording_t r;
  if (store_recording_get(rc->store, NULL, owner_id, &r) != 0) return;
  json_error_t jerr;
  json_t *uploads = json_loads(r.uploads ? r.uploads : "{}", 0, &jerr);
  json_t *urls = json_loads(r.urls ? r.urls : "[]", 0, &jerr);
  if (!uploads) uploads = json_object();
  if (!urls) urls = json_array();
  const char *prev = json_string_value(json_object_get(uploads, job_id));
  if (prev && strcmp(prev, "pending") != 0) goto out; /* told twice (at-least-once) */
  json_object_set_new(uploads, job_id, json_string(ok ? "done" : "failed"));
  const char *base = local_path ? strrchr(local_path, '/') : NULL;
  base = base ? base + 1 : local_path;
  if (ok && url && base && !is_fragment(base)) json_array_append_new(urls, json_string(url));
  if (!ok && strcmp(r.status, "failed") != 0) {
    char msg[600];
    snprintf(msg, sizeof(msg), "upload of %s failed: %s", base ? base : "a file",
             error ? error : "unknown error");
    snprintf(r.status, sizeof(r.status), "failed");
    set_text(&r.error, strdup(msg));
    log_warn("recording_upload_failed id=%s file=%s", r.id, base ? base : "-");
    emit(rc, &r);
  }
  int pending = 0, failed = 0;
  const char *k;
  json_t *v;
  json_object_foreach(uploads, k, v) {
    const char *st = json_string_value(v);
    if (!st || strcmp(st, "pending") == 0) pending++;
    else if (strcmp(st, "failed") == 0) failed++;
  }
  if (!pending && !failed && strcmp(r.status, "uploading") == 0) {
    snprintf(r.status, sizeof(r.status), "uploaded");
    log_info("recording_uploaded id=%s stream=%s", r.id, r.stream_id);
    remove_dir(rc, r.id); /* every destination confirmed every file */
  }
  set_text(&r.uploads, dumps(uploads));
  set_text(&r.urls, dumps(urls));
  r.updated_at = now_s();
  store_recording_update(rc->store, &r);
  if (strcmp(r.status, "uploaded") == 0) emit(rc, &r);
out:
  json_decref(uploads);
  json_decref(urls);
  store_recording_clear(&r);
}

/* ---- finishing (loop side) --------------------------------------------------------- */

static void finish_next(recorder_t *rc);
static void finish_job_free(finish_job_t *j);

static void finish_done(work_t *w) {
  finish_job_t *j = w->arg;
  recorder_t *rc = w->rc;
  store_recording_t r;
  if (!rc->closing && store_recording_get(rc->store, NULL, j->id, &r) == 0) {
    r.ended_at = r.ended_at ? r.ended_at : now_s();
    r.updated_at = now_s();
    if (j->rc) {
      snprintf(r.status, sizeof(r.status), "failed");
      set_text(&r.error, strdup(j->error[0] ? j->error : err_str(j->rc)));
      log_warn("recording_failed id=%s stream=%s reason=\"%s\"", r.id, r.stream_id, r.error);
    } else {
      r.duration_ms = j->duration_ms;
      r.size = j->size;
      set_text(&r.files, dumps(j->files));
      set_text(&r.renditions, dumps(j->renditions));
      if (json_array_size(j->spans) > 0) {
        set_text(&r.spans, dumps(j->spans));
        if (!r.start_ms)
          r.start_ms = (int64_t)json_integer_value(json_array_get(json_array_get(j->spans, 0), 0));
      }
      start_uploads(rc, &r, j->formats);
      log_info("recording_finished id=%s stream=%s part=%d duration_ms=%lld size=%lld status=%s",
               r.id, r.stream_id, r.part, (long long)r.duration_ms, (long long)r.size, r.status);
    }
    store_recording_update(rc->store, &r);
    emit(rc, &r);
    store_recording_clear(&r);
  }
  finish_job_free(j);
  rc->finishing = 0;
  finish_next(rc);
}

static int finish_queue(recorder_t *rc, const char *id, const char *project_id,
                        const char *stream_id, const char *formats_json) {
  finish_job_t *j = calloc(1, sizeof(*j));
  if (!j) return ERR_NOMEM;
  snprintf(j->id, sizeof(j->id), "%s", id);
  snprintf(j->project_id, sizeof(j->project_id), "%s", project_id);
  snprintf(j->stream_id, sizeof(j->stream_id), "%s", stream_id);
  snprintf(j->dir, sizeof(j->dir), "%s/%s", rc->root, id);
  json_error_t jerr;
  j->formats = json_loads(formats_json ? formats_json : "[\"mp4\"]", 0, &jerr);
  if (!j->formats) j->formats = json_pack("[s]", "mp4");
  STAILQ_INSERT_TAIL(&rc->finish_queue, j, link);
  finish_next(rc);
  return 0;
}

static void finish_job_free(finish_job_t *j) {
  json_decref(j->formats);
  json_decref(j->files);
  json_decref(j->renditions);
  json_decref(j->spans);
  free(j);
}

/* Starts the next waiting finish when none runs (a failure to queue
 * leaves the row "recording": the next start finishes it). */
static void finish_next(recorder_t *rc) {
  while (!rc->finishing && !STAILQ_EMPTY(&rc->finish_queue) && !rc->closing) {
    finish_job_t *j = STAILQ_FIRST(&rc->finish_queue);
    STAILQ_REMOVE_HEAD(&rc->finish_queue, link);
    if (work_queue(rc, finish_run, finish_done, j) == 0) {
      rc->finishing = 1;
    } else {
      log_error("recording_finish_not_queued id=%s", j->id);
      finish_job_free(j);
    }
  }
}

/* Drops the fragment writes not yet started. */
static void part_drop_queued(part_t *p) {
  frag_job_t *j;
  while ((j = STAILQ_FIRST(&p->queue))) {
    STAILQ_REMOVE_HEAD(&p->queue, link);
    hls_buf_unref(j->buf);
    free(j);
  }
}

static void part_free(part_t *p) {
  part_drop_queued(p);
  free(p);
}

static bcast_t *bcast_find(recorder_t *rc, const char *stream_id) {
  for (bcast_t *b = rc->bcasts; b; b = b->next)
    if (!b->ended && strcmp(b->stream_id, stream_id) == 0) return b;
  return NULL;
}

static void bcast_remove(recorder_t *rc, bcast_t *b) {
  for (bcast_t **bp = &rc->bcasts; *bp; bp = &(*bp)->next)
    if (*bp == b) {
      *bp = b->next;
      break;
    }
  free(b);
}

/* Unlinks p from its broadcast (and frees an ended broadcast left empty). */
static void part_unlink(part_t *p) {
  bcast_t *b = p->b;
  for (part_t **pp = &b->parts; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  if (b->ended && !b->parts) bcast_remove(p->rc, b);
}

/* A finishing part whose writes have all landed is remuxed and let go. */
static void part_try_finish(part_t *p) {
  if (!p->finishing || p->writing || !STAILQ_EMPTY(&p->queue)) return;
  recorder_t *rc = p->rc;
  store_recording_t r;
  if (store_recording_get(rc->store, NULL, p->id, &r) == 0) {
    r.ended_at = now_s();
    r.updated_at = r.ended_at;
    store_recording_update(rc->store, &r);
    finish_queue(rc, p->id, p->project_id, p->stream_id, r.formats);
    store_recording_clear(&r);
  }
  part_unlink(p);
  part_free(p);
}

static void part_finish(part_t *p) {
  if (p->finishing) return;
  p->finishing = 1;
  log_info("recording_closing id=%s stream=%s part=%d", p->id, p->stream_id, p->part_no);
  part_try_finish(p);
}

/* Ends a broadcast: every open part finishes; the next segment of the
 * stream starts a new broadcast (part 1). */
static void bcast_end(recorder_t *rc, bcast_t *b) {
  for (part_t *p = b->parts, *n; p; p = n) {
    n = p->next;
    part_finish(p); /* may unlink and free p, never b (not ended yet) */
  }
  b->ended = 1;
  if (!b->parts) bcast_remove(rc, b);
}

static void on_end_timer(uv_timer_t *t) {
  recorder_t *rc = t->data;
  for (bcast_t *b = rc->bcasts, *n; b; b = n) {
    n = b->next;
    if (b->stopping && !b->ended) bcast_end(rc, b);
  }
}

static part_t *part_new(recorder_t *rc, bcast_t *b, const store_stream_t *s, json_t *dvr,
                        int64_t start_ms) {
  part_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  STAILQ_INIT(&p->queue);
  p->rc = rc;
  p->b = b;
  if (util_uuid4(p->id) != 0) { /* an empty id would make the recordings root its directory */
    free(p);
    return NULL;
  }
  snprintf(p->project_id, sizeof(p->project_id), "%s", s->project_id);
  snprintf(p->stream_id, sizeof(p->stream_id), "%s", s->id);
  snprintf(p->dir, sizeof(p->dir), "%s/%s", rc->root, p->id);
  p->part_no = ++b->next_part;
  p->started_at = now_s();
  if (util_mkdirs(p->dir) != 0) {
    log_error("recording_mkdir_failed dir=%s", p->dir);
    free(p);
    return NULL;
  }
  json_t *formats = dvr_formats(dvr), *dests = dvr_destinations(dvr);
  json_t *stripped = strip_destinations(dests);
  store_recording_t r = {0};
  snprintf(r.id, sizeof(r.id), "%s", p->id);
  snprintf(r.project_id, sizeof(r.project_id), "%s", s->project_id);
  snprintf(r.stream_id, sizeof(r.stream_id), "%s", s->id);
  snprintf(r.status, sizeof(r.status), "recording");
  r.part = p->part_no;
  r.started_at = r.created_at = r.updated_at = p->started_at;
  r.start_ms = start_ms;
  r.formats = dumps(formats);
  r.destinations = dumps(stripped);
  int e = store_recording_insert(rc->store, &r);
  store_recording_clear(&r);
  json_decref(formats);
  json_decref(dests);
  json_decref(stripped);
  if (e) {
    rmdir(p->dir);
    free(p);
    return NULL;
  }
  /* append: parts stay oldest first */
  part_t **pp = &b->parts;
  while (*pp) pp = &(*pp)->next;
  *pp = p;
  log_info("recording_started id=%s stream=%s part=%d", p->id, s->id, p->part_no);
  return p;
}

/* ---- the segment observer -------------------------------------------------------- */

static void on_segment(void *ud, live_stream_t *ls, int index, uint64_t seq, double duration_s) {
  recorder_t *rc = ud;
  if (rc->closing) return;
  const char *sid = live_stream_id(ls);
  store_stream_t s;
  if (store_stream_get_any(rc->store, sid, &s) != 0) return;
  json_t *params = load_params(&s);
  json_t *dvr = json_object_get(params, "dvr");
  bcast_t *b = bcast_find(rc, sid);
  if (!json_is_true(json_object_get(dvr, "enabled"))) {
    if (b) {
      log_info("recording_dvr_disabled stream=%s", sid);
      bcast_end(rc, b);
    }
    goto out;
  }
  /* A stopped stream's last segment still joins its broadcast (it comes
   * after the status change), but never starts a new one. */
  if (!b && !lifecycle_is_running(s.status)) goto out;
  if (!rendition_selected(ls, index, params, dvr)) goto out;
  live_rendition_t *lr = live_rendition_get(ls, index);
  hls_buf_t *buf = lr ? hls_segment_get(lr->hls, HLS_TS, seq) : NULL;
  if (!buf) goto out;
  int64_t dur_ms = (int64_t)(duration_s * 1000.0 + 0.5), wall_ms = 0;
  int discont = 0;
  if (hls_segment_timing(lr->hls, seq, &wall_ms, &dur_ms, &discont) != 0 || wall_ms <= 0)
    wall_ms = util_now_ms() - dur_ms;
  if (!b) {
    if (!(b = calloc(1, sizeof(*b)))) {
      hls_buf_unref(buf);
      goto out;
    }
    snprintf(b->stream_id, sizeof(b->stream_id), "%s", sid);
    b->next = rc->bcasts;
    rc->bcasts = b;
  }
  json_int_t max_s = json_integer_value(json_object_get(dvr, "max_file_duration"));
  int64_t max_ms = (max_s > 0 ? max_s : DEFAULT_MAX_FILE_S) * 1000;
  /* The oldest open part this rendition has not filled yet. */
  part_t *p = NULL;
  rend_state_t *rs = NULL;
  for (part_t *c = b->parts, *next; c && !p; c = next) {
    next = c->next; /* part_finish() below may free c */
    if (c->finishing) continue;
    rend_state_t *cr = NULL;
    for (int i = 0; i < c->nrend; i++)
      if (strcmp(c->rend[i].name, lr->name) == 0) cr = &c->rend[i];
    if (cr && cr->closed) continue;
    if (cr && cr->nfrag > 0 && cr->dur_ms + dur_ms > max_ms + SPLIT_SLACK_MS) {
      cr->closed = 1; /* full: split here, at this segment's keyframe */
      int all = 1;
      for (int i = 0; i < c->nrend; i++) all &= c->rend[i].closed;
      if (all) part_finish(c);
      continue;
    }
    if (!cr && c->nrend == MAX_RENDS) continue;
    p = c;
    rs = cr;
  }
  if (!p && !(p = part_new(rc, b, &s, dvr, wall_ms))) {
    hls_buf_unref(buf);
    goto out;
  }
  if (!rs) {
    rs = &p->rend[p->nrend++];
    snprintf(rs->name, sizeof(rs->name), "%s", lr->name);
    rs->width = rend_width(lr, index);
    rs->height = rend_height(lr, index);
  }
  frag_job_t *j = calloc(1, sizeof(*j));
  if (!j) {
    hls_buf_unref(buf);
    goto out;
  }
  j->part = p;
  j->buf = buf;
  j->dur_ms = dur_ms;
  j->wall_ms = wall_ms;
  j->discont = rs->nfrag > 0 && discont;
  snprintf(j->rend, sizeof(j->rend), "%s", lr->name);
  snprintf(j->file, sizeof(j->file), "frag-%s-%06u.ts", lr->name, rs->nfrag + 1);
  rs->nfrag++;
  rs->dur_ms += dur_ms;
  STAILQ_INSERT_TAIL(&p->queue, j, link);
  part_pump(p);
out:
  json_decref(params);
  store_stream_clear(&s);
}

/* The broadcast ends with the stream (a reconnect within stream_timeout
 * keeps it: idle is not an end). */
/* The event bus has no unlisten: the listener reaches the recorder through
 * this pointer, cleared when the recorder goes. */
static recorder_t *event_target;
static int event_listening;

static void on_event(void *ud, const char *type, const char *project_id, const char *stream_id,
                     json_t *data) {
  recorder_t *rc = event_target;
  (void)ud;
  (void)project_id;
  (void)data;
  if (!rc || rc->closing || !stream_id) return;
  if (strcmp(type, "live_stream.stopped") != 0 && strcmp(type, "live_stream.disabled") != 0 &&
      strcmp(type, "live_stream.deleted") != 0)
    return;
  /* The stop call publishes the last segment after this event: end the
   * broadcast once it has returned. */
  bcast_t *b = bcast_find(rc, stream_id);
  if (!b) return;
  b->stopping = 1;
  uv_timer_start(&rc->end_timer, on_end_timer, 0, 0);
}

/* ---- public ---------------------------------------------------------------------- */

recorder_t *recorder_new(uv_loop_t *loop, store_t *store, live_t *live, uploader_t *up,
                         const config_t *cfg) {
  recorder_t *rc = calloc(1, sizeof(*rc));
  if (!rc) return NULL;
  STAILQ_INIT(&rc->finish_queue);
  rc->loop = loop;
  rc->store = store;
  rc->live = live;
  rc->up = up;
  rc->cfg = cfg;
  snprintf(rc->root, sizeof(rc->root), "%s/recordings", cfg->data_dir);
  static const live_observer_t ob = {.on_segment = on_segment};
  uv_timer_init(loop, &rc->end_timer);
  rc->end_timer.data = rc;
  rc->inflight++; /* the timer handle, until closed */
  /* The live observer comes last: it cannot be removed, so a failure must
   * not leave it pointing at a recorder that recorder_free() lets go. */
  if (util_mkdirs(rc->root) != 0 || (!event_listening && events_listen(on_event, NULL) != 0) ||
      (up && uploader_on_done(up, OWNER_KIND, on_upload_done, rc) != 0) ||
      live_observe(live, &ob, rc) != 0) {
    log_error("recorder_init_failed root=%s", rc->root);
    event_target = NULL;
    recorder_free(rc);
    return NULL;
  }
  event_listening = 1;
  event_target = rc;
  return rc;
}

int recorder_recover(recorder_t *rc) {
  store_recording_t *rows = NULL;
  size_t n = 0;
  int e = store_recording_list_status(rc->store, "recording", &rows, &n);
  if (e) return e;
  for (size_t i = 0; i < n; i++) {
    log_info("recording_recovered id=%s stream=%s part=%d", rows[i].id, rows[i].stream_id,
             rows[i].part);
    finish_queue(rc, rows[i].id, rows[i].project_id, rows[i].stream_id, rows[i].formats);
    store_recording_clear(&rows[i]);
  }
  free(rows);
  return 0;
}

static void recorder_destroy(recorder_t *rc) {
  if (event_target == rc) event_target = NULL;
  finish_job_t *j;
  while ((j = STAILQ_FIRST(&rc->finish_queue))) { /* never started: recovered at the next start */
    STAILQ_REMOVE_HEAD(&rc->finish_queue, link);
    finish_job_free(j);
  }
  while (rc->bcasts) {
    bcast_t *b = rc->bcasts;
    rc->bcasts = b->next;
    for (part_t *p = b->parts, *n; p; p = n) {
      n = p->next;
      part_free(p);
    }
    free(b);
  }
  free(rc);
}

static void on_timer_closed(uv_handle_t *h) {
  recorder_t *rc = h->data;
  if (--rc->inflight == 0) recorder_destroy(rc);
}

void recorder_free(recorder_t *rc) {
  if (!rc || rc->closing) return;
  rc->closing = 1;
  /* Queued (not started) fragment writes are dropped; the parts stay
   * "recording" in the store and are finished at the next start. */
  for (bcast_t *b = rc->bcasts; b; b = b->next)
    for (part_t *p = b->parts; p; p = p->next) part_drop_queued(p);
  uv_close((uv_handle_t *)&rc->end_timer, on_timer_closed);
}

int recorder_delete(recorder_t *rc, const char *project_id, const char *url_id) {
  store_recording_t r;
  int e = store_recording_get(rc->store, project_id, url_id, &r);
  if (e) return e;
  /* Paths are built from the stored id (a UUID we made), never from the
   * URL's text. */
  char id[37];
  snprintf(id, sizeof(id), "%s", r.id);
  int busy = strcmp(r.status, "recording") == 0;
  store_recording_clear(&r);
  if (busy) return ERR_CONFLICT;
  if (!is_uuid(id)) return ERR_NOT_FOUND;
  if (rc->up) uploader_cancel(rc->up, OWNER_KIND, id);
  e = store_recording_delete(rc->store, project_id, id);
  if (e) return e;
  remove_dir(rc, id);
  log_info("recording_deleted id=%s", id);
  return 0;
}

/* ---- rendering --------------------------------------------------------------------- */

static int file_exists(const char *dir, const char *name) {
  char p[2400];
  struct stat sb;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

int recorder_file_dir(const config_t *cfg, const store_recording_t *r, const char *name,
                      char *out, size_t outlen) {
  snprintf(out, outlen, "%s/recordings/%s", cfg->data_dir, r->id);
  if (file_exists(out, name)) return 0;
  json_error_t jerr;
  json_t *dests = json_loads(r->destinations ? r->destinations : "[]", 0, &jerr);
  size_t i;
  json_t *d;
  int found = 0;
  json_array_foreach(dests, i, d) {
    const char *u = json_string_value(d);
    if (!u || strncmp(u, "file://", 7) != 0) continue;
    /* The directory the uploader wrote to: file:///dir or
     * file://localhost/dir, percent-decoded (upload/dest.c). */
    const char *dirpart = u + 7;
    if (strncmp(dirpart, "localhost/", 10) == 0) dirpart += 9;
    char path[2100];
    snprintf(path, sizeof(path), "%s", dirpart);
    if (path[0] != '/' || http_url_decode(path) != 0) continue;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    snprintf(out, outlen, "%s/%s", path, r->id);
    if (file_exists(out, name)) {
      found = 1;
      break;
    }
  }
  json_decref(dests);
  return found ? 0 : ERR_NOT_FOUND;
}

int recorder_vod_dir(const config_t *cfg, const store_recording_t *r, char *out, size_t outlen) {
  if (strcmp(r->status, "recording") == 0) return ERR_NOT_FOUND;
  return recorder_file_dir(cfg, r, "index.m3u8", out, outlen);
}

json_t *recorder_render(const config_t *cfg, const store_recording_t *r) {
  char ts[32], url[600], dir[2400];
  json_error_t jerr;
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "id", json_string(r->id));
  json_object_set_new(o, "stream_id", json_string(r->stream_id));
  json_object_set_new(o, "part", json_integer(r->part));
  json_object_set_new(o, "status", json_string(r->status));
  json_object_set_new(o, "started_at", json_string(util_format_time(r->started_at, ts, sizeof(ts))));
  json_object_set_new(o, "ended_at", r->ended_at ? json_string(util_format_time(r->ended_at, ts, sizeof(ts)))
                                                  : json_null());
  json_object_set_new(o, "duration", json_real((double)r->duration_ms / 1000.0));
  json_t *formats = json_loads(r->formats ? r->formats : "[]", 0, &jerr);
  json_object_set_new(o, "format", formats ? formats : json_array());
  json_object_set_new(o, "size", json_integer(r->size));
  json_t *rends = json_loads(r->renditions ? r->renditions : "[]", 0, &jerr);
  if (!rends) rends = json_array();
  size_t i;
  json_t *v;
  json_t *best = NULL;
  json_array_foreach(rends, i, v) {
    char res[32];
    snprintf(res, sizeof(res), "%lldx%lld", (long long)json_integer_value(json_object_get(v, "width")),
             (long long)json_integer_value(json_object_get(v, "height")));
    json_object_set_new(v, "resolution", json_string(res));
    if (!best || json_integer_value(json_object_get(v, "height")) >
                     json_integer_value(json_object_get(best, "height")))
      best = v;
  }
  json_object_set(o, "resolution", best ? json_object_get(best, "resolution") : json_null());
  json_object_set_new(o, "renditions", rends);
  json_t *files = json_loads(r->files ? r->files : "[]", 0, &jerr);
  json_object_set_new(o, "files", files ? files : json_array());
  json_t *dests = json_loads(r->destinations ? r->destinations : "[]", 0, &jerr);
  json_object_set_new(o, "destinations", dests ? dests : json_array());
  json_t *urls = json_loads(r->urls ? r->urls : "[]", 0, &jerr);
  json_object_set_new(o, "urls", urls ? urls : json_array());
  json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
  if (recorder_vod_dir(cfg, r, dir, sizeof(dir)) == 0) {
    char base[400];
    stream_view_http_base(cfg, NULL, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/vod/recordings/%s/index.m3u8", base, r->id);
    json_object_set_new(o, "playback_url", json_string(url));
  } else {
    json_object_set_new(o, "playback_url", json_null());
  }
  json_object_set_new(o, "created_at", json_string(util_format_time(r->created_at, ts, sizeof(ts))));
  json_object_set_new(o, "updated_at", json_string(util_format_time(r->updated_at, ts, sizeof(ts))));
  return o;
}
