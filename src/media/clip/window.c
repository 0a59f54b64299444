/* window.c — the rolling live window on disk (window.h).
 *
 * Per stream: an array of segments (oldest first), each "stored" once its
 * file is written, and a queue of disk jobs run one at a time on the libuv
 * thread pool. A job's work is decided when it starts, on the loop thread:
 * the segment to write (if any), its index line, and the files that left
 * the window. Running them one by one keeps the index consistent with the
 * files without any lock.
 *
 * The index is appended to, one line per segment; lines of segments that
 * left the window stay until the file is rewritten whole (when they
 * outnumber the live ones), so each segment costs O(1) index bytes. A
 * reload skips lines whose file is gone.
 */
#include "media/clip/window.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/hls/hls.h"

#define SWEEP_MS 10000
#define INDEX_MAGIC "onair-window 1"

typedef struct {
  clip_window_seg_t seg;
  int stored; /* its file is complete on disk */
} entry_t;

typedef struct wstream wstream_t;

typedef struct wjob {
  uv_work_t req;
  wstream_t *ws;
  struct wjob *next;
  /* decided when queued */
  uint64_t n;        /* segment to write */
  hls_buf_t *buf;    /* its bytes (a reference; NULL: nothing to write) */
  int remove_all;    /* the stream is gone: delete everything */
  /* decided when started */
  char dir[1100];
  char *index;       /* index text (NULL: leave it) */
  size_t index_len;
  int append;        /* index is one line to append (else the whole file) */
  uint64_t *doomed;  /* files to delete */
  size_t n_doomed;
  int rc;            /* of writing the segment */
} wjob_t;

struct wstream {
  clip_window_t *w;
  char id[37];
  entry_t *e;
  size_t n, cap;
  uint64_t next_n;
  size_t index_lines; /* segment lines in the index file, live or not */
  int next_broadcast; /* a publisher session began: its first segment starts a broadcast */
  int next_gap;
  uint64_t *doomed;   /* left the window, file not deleted yet */
  size_t n_doomed, cap_doomed;
  int pins;
  int busy;           /* a job is on the thread pool */
  int gone;           /* the stream was deleted */
  wjob_t *head, *tail;
  wstream_t *next;
};

struct clip_window {
  uv_loop_t *loop;
  live_t *lv;
  store_t *store;
  char dir[1040]; /* DATA/window */
  unsigned window_s;
  uv_timer_t sweep;
  int sweep_on;
  wstream_t *streams;
};

unsigned clip_window_seconds(const clip_window_t *w) { return w->window_s; }

void clip_window_path(const clip_window_t *w, const char *stream_id, uint64_t n, char *buf,
                      size_t len) {
  snprintf(buf, len, "%s/%s/%" PRIu64 ".ts", w->dir, stream_id, n);
}

static wstream_t *ws_find(clip_window_t *w, const char *id) {
  for (wstream_t *ws = w->streams; ws; ws = ws->next)
    if (strcmp(ws->id, id) == 0) return ws;
  return NULL;
}

static wstream_t *ws_get(clip_window_t *w, const char *id) {
  wstream_t *ws = ws_find(w, id);
  if (ws || strlen(id) >= sizeof(ws->id)) return ws;
  if (!(ws = calloc(1, sizeof(*ws)))) return NULL;
  ws->w = w;
  snprintf(ws->id, sizeof(ws->id), "%s", id);
  ws->next_broadcast = 1;
  ws->next = w->streams;
  w->streams = ws;
  return ws;
}

static void ws_free(wstream_t *ws) {
  clip_window_t *w = ws->w;
  for (wstream_t **pp = &w->streams; *pp; pp = &(*pp)->next)
    if (*pp == ws) {
      *pp = ws->next;
      break;
    }
  for (wjob_t *j = ws->head, *nx; j; j = nx) {
    nx = j->next;
    hls_buf_unref(j->buf);
    free(j);
  }
  free(ws->e);
  free(ws->doomed);
  free(ws);
}

static int doom(wstream_t *ws, uint64_t n) {
  if (ws->n_doomed == ws->cap_doomed) {
    size_t cap = ws->cap_doomed ? ws->cap_doomed * 2 : 16;
    uint64_t *d = realloc(ws->doomed, cap * sizeof(*d));
    if (!d) return ERR_NOMEM;
    ws->doomed = d;
    ws->cap_doomed = cap;
  }
  ws->doomed[ws->n_doomed++] = n;
  return 0;
}

/* Moves the segments that ended before `before` (all of them when before
 * is INT64_MAX) to the doomed list. Returns how many left. Pinned streams
 * keep everything. */
static size_t ws_evict(wstream_t *ws, int64_t before) {
  if (ws->pins) return 0;
  size_t k = 0;
  while (k < ws->n && ws->e[k].stored &&
         (before == INT64_MAX || ws->e[k].seg.start_ms + ws->e[k].seg.dur_ms < before)) {
    if (doom(ws, ws->e[k].seg.n)) break;
    k++;
  }
  if (k) {
    memmove(ws->e, ws->e + k, (ws->n - k) * sizeof(*ws->e));
    ws->n -= k;
  }
  return k;
}

/* ---- disk jobs (worker thread: plain POSIX I/O on paths decided on the loop) ---- */

static int write_all(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ERR_IO;
  const uint8_t *p = data;
  while (len) {
    ssize_t k = write(fd, p, len);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      close(fd);
      return ERR_IO;
    }
    p += k;
    len -= (size_t)k;
  }
  return close(fd) == 0 ? 0 : ERR_IO;
}

static void job_work(uv_work_t *req) {
  wjob_t *j = req->data;
  char path[1200], tmp[1210];
  if (j->remove_all) {
    /* Everything in the directory: segments, index, leftovers. */
    DIR *d = opendir(j->dir);
    if (d) {
      struct dirent *de;
      while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        unlinkat(dirfd(d), de->d_name, 0);
      }
      closedir(d);
    }
    rmdir(j->dir);
    return;
  }
  if (j->buf) {
    j->rc = util_mkdirs(j->dir);
    snprintf(path, sizeof(path), "%s/%" PRIu64 ".ts", j->dir, j->n);
    if (!j->rc) j->rc = write_all(path, j->buf->data, j->buf->len);
    if (j->rc) unlink(path);
  }
  if (j->index && j->append) {
    /* Only for a segment that is on disk: a line never names a missing
     * file (a reload copes anyway). */
    snprintf(path, sizeof(path), "%s/index", j->dir);
    int fd = j->rc ? -1 : open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
      /* A short write (disk full) is cut off again: a torn line would glue
       * itself to the next one and read back as a wrong segment. */
      off_t size = lseek(fd, 0, SEEK_END);
      if (write(fd, j->index, j->index_len) != (ssize_t)j->index_len) {
        j->rc = ERR_IO;
        if (size >= 0 && ftruncate(fd, size) != 0) log_warn("clip_window_index_torn dir=%s", j->dir);
        /* not in the window then (job_done forgets it): nor on disk */
        snprintf(path, sizeof(path), "%s/%" PRIu64 ".ts", j->dir, j->n);
        unlink(path);
      }
      close(fd);
    }
  } else if (j->index) {
    snprintf(path, sizeof(path), "%s/index", j->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (write_all(tmp, j->index, j->index_len) == 0) rename(tmp, path);
  }
  for (size_t i = 0; i < j->n_doomed; i++) {
    snprintf(path, sizeof(path), "%s/%" PRIu64 ".ts", j->dir, j->doomed[i]);
    unlink(path);
  }
}

static void job_start(wstream_t *ws);

#define LINE_MAX_LEN 96

static size_t index_line(const clip_window_seg_t *s, char *out, size_t cap) {
  return (size_t)snprintf(out, cap, "%" PRIu64 " %" PRId64 " %" PRId64 " %d %d\n", s->n,
                          s->start_ms, s->dur_ms, s->broadcast, s->gap);
}

/* The whole index: every stored segment, plus `with` (being written).
 * *lines gets the number of segment lines. */
static char *index_text(const wstream_t *ws, uint64_t with, int has_with, size_t *len,
                        size_t *lines) {
  size_t cap = 64 + ws->n * LINE_MAX_LEN, o = 0;
  char *t = malloc(cap);
  if (!t) return NULL;
  o += (size_t)snprintf(t + o, cap - o, "%s\n", INDEX_MAGIC);
  *lines = 0;
  for (size_t i = 0; i < ws->n; i++) {
    const entry_t *e = &ws->e[i];
    if (!e->stored && !(has_with && e->seg.n == with)) continue;
    o += index_line(&e->seg, t + o, cap - o);
    ++*lines;
  }
  *len = o;
  return t;
}

static entry_t *entry_find(wstream_t *ws, uint64_t n) {
  for (size_t i = 0; i < ws->n; i++)
    if (ws->e[i].seg.n == n) return &ws->e[i];
  return NULL;
}

static void job_done(uv_work_t *req, int status) {
  wjob_t *j = req->data;
  wstream_t *ws = j->ws;
  ws->busy = 0;
  if (j->buf) {
    entry_t *e = entry_find(ws, j->n);
    if (e && j->rc == 0 && status == 0) {
      e->stored = 1;
    } else if (e) {
      /* Not on disk: forget it; the next segment follows a gap. */
      log_warn("clip_window_write_failed stream=%s n=%" PRIu64 " err=%s", ws->id, j->n,
               err_str(j->rc ? j->rc : ERR_IO));
      size_t i = (size_t)(e - ws->e);
      memmove(ws->e + i, ws->e + i + 1, (ws->n - i - 1) * sizeof(*ws->e));
      ws->n--;
      if (i < ws->n) ws->e[i].seg.gap = 1;
      else ws->next_gap = 1;
    }
    hls_buf_unref(j->buf);
  }
  free(j->index);
  free(j->doomed);
  free(j);
  job_start(ws);
}

/* Starts the next queued job, or a clean-up job when files left the
 * window; frees the stream's entry when it is gone and idle. */
static void job_start(wstream_t *ws) {
  if (ws->busy) return;
  wjob_t *j = ws->head;
  if (!j && ws->n_doomed && !ws->pins) {
    j = calloc(1, sizeof(*j)); /* a clean-up only: delete files */
    if (!j) return;
    j->ws = ws;
    ws->head = ws->tail = j;
  }
  if (!j) {
    if (ws->gone && !ws->pins) ws_free(ws);
    return;
  }
  if (ws->pins && j->remove_all) return; /* after the last unpin */
  ws->head = j->next;
  if (!ws->head) ws->tail = NULL;
  snprintf(j->dir, sizeof(j->dir), "%s/%s", ws->w->dir, ws->id);
  if (!j->remove_all) {
    entry_t *e = j->buf ? entry_find(ws, j->n) : NULL;
    if (e && ws->index_lines && ws->index_lines < 2 * ws->n + 16) {
      if ((j->index = malloc(LINE_MAX_LEN)) != NULL) {
        j->index_len = index_line(&e->seg, j->index, LINE_MAX_LEN);
        j->append = 1;
        ws->index_lines++;
      }
    } else if (e) { /* the first line, or dead lines outnumber live ones */
      j->index = index_text(ws, j->n, 1, &j->index_len, &ws->index_lines);
    }
    if (!ws->pins) {
      j->doomed = ws->doomed;
      j->n_doomed = ws->n_doomed;
      ws->doomed = NULL;
      ws->n_doomed = ws->cap_doomed = 0;
    }
  }
  j->req.data = j;
  if (uv_queue_work(ws->w->loop, &j->req, job_work, job_done) != 0) {
    log_error("clip_window_queue_failed stream=%s", ws->id);
    hls_buf_unref(j->buf);
    free(j->index);
    free(j->doomed);
    free(j);
    return;
  }
  ws->busy = 1;
}

static void job_queue(wstream_t *ws, wjob_t *j) {
  j->ws = ws;
  if (ws->tail)
    ws->tail->next = j;
  else
    ws->head = j;
  ws->tail = j;
  job_start(ws);
}

/* ---- live observer ---- */

static void on_publish_begin(void *ud, live_stream_t *ls) {
  wstream_t *ws = ws_get(ud, live_stream_id(ls));
  if (ws) ws->next_broadcast = 1;
}

static void on_segment(void *ud, live_stream_t *ls, int index, uint64_t seq, double duration_s) {
  clip_window_t *w = ud;
  if (index != 0) return;
  live_rendition_t *r = live_rendition_get(ls, 0);
  if (!r || !r->hls) return;
  int64_t wall = 0, dur = (int64_t)(duration_s * 1000.0 + 0.5);
  int discont = 0;
  if (hls_segment_timing(r->hls, seq, &wall, &dur, &discont)) wall = util_now_ms() - dur;
  wstream_t *ws = ws_get(w, live_stream_id(ls));
  hls_buf_t *buf = hls_segment_get(r->hls, HLS_TS, seq);
  wjob_t *j = calloc(1, sizeof(*j));
  if (!ws || !buf || !j || ws->gone) goto fail;
  if (ws->n == ws->cap) {
    size_t cap = ws->cap ? ws->cap * 2 : 64;
    entry_t *e = realloc(ws->e, cap * sizeof(*e));
    if (!e) goto fail;
    ws->e = e;
    ws->cap = cap;
  }
  entry_t *e = &ws->e[ws->n++];
  memset(e, 0, sizeof(*e));
  e->seg.n = ws->next_n++;
  e->seg.start_ms = wall;
  e->seg.dur_ms = dur;
  e->seg.broadcast = ws->next_broadcast;
  e->seg.gap = ws->next_broadcast || ws->next_gap || discont;
  ws->next_broadcast = ws->next_gap = 0;
  ws_evict(ws, util_now_ms() - (int64_t)w->window_s * 1000);
  j->n = e->seg.n;
  j->buf = buf;
  job_queue(ws, j);
  return;
fail:
  if (ws) ws->next_gap = 1;
  hls_buf_unref(buf);
  free(j);
}

/* ---- sweep: ageing of ended streams, deleted streams ---- */

static void ws_remove_all(wstream_t *ws) {
  ws->gone = 1;
  ws_evict(ws, INT64_MAX);
  ws->n_doomed = 0; /* the whole directory goes */
  wjob_t *j = calloc(1, sizeof(*j));
  if (!j) return;
  j->remove_all = 1;
  job_queue(ws, j);
}

static void on_sweep(uv_timer_t *t) {
  clip_window_t *w = t->data;
  int64_t before = util_now_ms() - (int64_t)w->window_s * 1000;
  for (wstream_t *ws = w->streams, *nx; ws; ws = nx) {
    nx = ws->next;
    if (ws->gone) continue;
    store_stream_t s;
    int rc = store_stream_get_any(w->store, ws->id, &s);
    if (rc == 0) store_stream_clear(&s);
    if (rc == ERR_NOT_FOUND) {
      log_info("clip_window_removed stream=%s reason=deleted", ws->id);
      ws_remove_all(ws);
      continue;
    }
    if (ws_evict(ws, before)) job_start(ws);
    live_stream_t *ls = live_find(w->lv, ws->id);
    if (ws->n == 0 && !ws->busy && !ws->head && !ws->pins &&
        !(ls && live_stream_publishing(ls))) {
      log_info("clip_window_removed stream=%s reason=aged_out", ws->id);
      ws_remove_all(ws);
    }
  }
}

/* ---- start-up: reload the indexes ---- */

static int load_stream(clip_window_t *w, const char *id, int64_t before) {
  char path[1200];
  snprintf(path, sizeof(path), "%s/%s/index", w->dir, id);
  char *text = NULL;
  if (util_read_file(path, &text, NULL) != 0 || strncmp(text, INDEX_MAGIC "\n", 15) != 0) {
    free(text);
    return 0; /* no usable index: swept as empty */
  }
  wstream_t *ws = ws_get(w, id);
  if (!ws) {
    free(text);
    return ERR_NOMEM;
  }
  int pending_gap = 0;
  for (char *line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    ws->index_lines++;
    clip_window_seg_t s;
    int b, g;
    if (sscanf(line + 1, "%" SCNu64 " %" SCNd64 " %" SCNd64 " %d %d", &s.n, &s.start_ms,
               &s.dur_ms, &b, &g) != 5)
      continue;
    s.broadcast = b != 0;
    s.gap = g != 0 || pending_gap;
    if (s.n >= ws->next_n) ws->next_n = s.n + 1;
    struct stat sb;
    clip_window_path(w, id, s.n, path, sizeof(path));
    if (s.start_ms + s.dur_ms < before || stat(path, &sb) != 0 || sb.st_size == 0) {
      if (ws->n) pending_gap = 1;
      unlink(path);
      continue;
    }
    pending_gap = 0;
    if (ws->n == ws->cap) {
      size_t cap = ws->cap ? ws->cap * 2 : 64;
      entry_t *e = realloc(ws->e, cap * sizeof(*e));
      if (!e) {
        free(text);
        return ERR_NOMEM;
      }
      ws->e = e;
      ws->cap = cap;
    }
    ws->e[ws->n].seg = s;
    ws->e[ws->n++].stored = 1;
  }
  free(text);
  /* Files the index does not list (a crash between a write and the next
   * index) are not part of the window. */
  snprintf(path, sizeof(path), "%s/%s", w->dir, id);
  DIR *d = opendir(path);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    uint64_t n;
    char tail[8];
    if (sscanf(de->d_name, "%" SCNu64 "%7s", &n, tail) == 2 && strcmp(tail, ".ts") == 0 &&
        !entry_find(ws, n)) {
      unlinkat(dirfd(d), de->d_name, 0);
    }
  }
  if (d) closedir(d);
  ws->next_broadcast = 1; /* whatever comes next is a new publisher session */
  log_info("clip_window_loaded stream=%s segments=%zu", id, ws->n);
  return 0;
}

int clip_window_start(clip_window_t *w) {
  int64_t before = util_now_ms() - (int64_t)w->window_s * 1000;
  DIR *d = opendir(w->dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.' || strlen(de->d_name) != 36) continue;
      if (load_stream(w, de->d_name, before) == ERR_NOMEM) {
        closedir(d);
        return ERR_NOMEM;
      }
    }
    closedir(d);
  }
  uv_timer_init(w->loop, &w->sweep);
  w->sweep.data = w;
  w->sweep_on = 1;
  uv_timer_start(&w->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  return 0;
}

clip_window_t *clip_window_new(uv_loop_t *loop, live_t *lv, store_t *store, const char *data_dir,
                               unsigned window_s) {
  clip_window_t *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->loop = loop;
  w->lv = lv;
  w->store = store;
  w->window_s = window_s ? window_s : 1800;
  snprintf(w->dir, sizeof(w->dir), "%s/window", data_dir);
  live_observer_t ob = {.on_publish_begin = on_publish_begin, .on_segment = on_segment};
  if (live_observe(lv, &ob, w)) {
    free(w);
    return NULL;
  }
  return w;
}

void clip_window_stop(clip_window_t *w) {
  if (!w || !w->sweep_on) return;
  w->sweep_on = 0;
  uv_close((uv_handle_t *)&w->sweep, NULL);
}

void clip_window_free(clip_window_t *w) {
  if (!w) return;
  while (w->streams) ws_free(w->streams);
  free(w);
}

int clip_window_segments(clip_window_t *w, const char *stream_id, clip_window_seg_t **out,
                         size_t *n) {
  *out = NULL;
  *n = 0;
  wstream_t *ws = ws_find(w, stream_id);
  if (!ws || ws->gone || !ws->n) return 0;
  clip_window_seg_t *a = malloc(ws->n * sizeof(*a));
  if (!a) return ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; i < ws->n; i++)
    if (ws->e[i].stored) a[k++] = ws->e[i].seg;
  if (!k) {
    free(a);
    return 0;
  }
  *out = a;
  *n = k;
  return 0;
}

void clip_window_pin(clip_window_t *w, const char *stream_id) {
  wstream_t *ws = ws_get(w, stream_id);
  if (ws) ws->pins++;
}

void clip_window_unpin(clip_window_t *w, const char *stream_id) {
  wstream_t *ws = ws_find(w, stream_id);
  if (!ws || ws->pins == 0) return;
  if (--ws->pins == 0) {
    ws_evict(ws, util_now_ms() - (int64_t)w->window_s * 1000);
    job_start(ws);
  }
}
