/* clip.c — the clip maker (clip.h): segment selection on the loop, remux
 * and HLS VOD split on the thread pool, the outcome back in the store. */
#include "media/clip/clip.h"

#include <dirent.h>
#include <inttypes.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/clip/sources.h"
#include "media/record/remux.h"

/* Clips made at the same time; the others wait their turn. */
#define MAX_RUNNING 2

typedef struct cjob cjob_t;

struct clip_service {
  uv_loop_t *loop;
  store_t *store;
  clip_window_t *w;
  char dir[1040]; /* DATA/clips */
  unsigned hls_target_s;
  cjob_t *active; /* clips being made, oldest first: running, then waiting their turn */
  int running;    /* of them on the thread pool */
  int stopping;   /* shutdown: start nothing new */
  clip_finished_fn on_finish;
  void *on_finish_ud;
  const config_t *cfg; /* NULL: clips come from the window only */
};

struct cjob {
  uv_work_t req;
  clip_service_t *cs;
  cjob_t *next;
  char id[37];
  char stream_id[37]; /* "" for a removal */
  char dir[1100];
  char **paths;
  size_t n;
  int64_t cut_start, cut_end; /* on the remux timeline (ms), -1: none */
  int64_t seg0_start_ms;      /* wall clock of the timeline's 0 */
  unsigned hls_target_s;
  int cancelled;              /* deleted while being made */
  int running;                /* on the thread pool */
  /* Cut from recordings (sources.h) too: the worker merges the window's
   * pieces with the recordings' fragments, or cuts a finished file. */
  int from_recordings;
  int64_t want_from, want_to; /* the requested range (wall clock) */
  clip_piece_t *pieces;       /* the window's segments in range */
  size_t n_pieces, cap_pieces;
  clip_source_t *srcs;
  size_t n_srcs;
  const clip_source_t *file_src; /* the finished file cut (one of srcs), or NULL */
  /* results */
  int rc;
  char err[256];
  remux_info_t info;
};

static void job_free(cjob_t *j) {
  for (size_t i = 0; i < j->n; i++) free(j->paths[i]);
  free(j->paths);
  for (size_t i = 0; i < j->n_pieces; i++) free(j->pieces[i].path);
  free(j->pieces);
  clip_sources_free(j->srcs, j->n_srcs);
  free(j);
}

void clip_service_dir(const clip_service_t *cs, const char *clip_id, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", cs->dir, clip_id);
}

clip_window_t *clip_service_window(clip_service_t *cs) { return cs->w; }

/* ---- worker side ---------------------------------------------------------- */

/* Deletes the files of a clip directory and the directory. */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
        unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
  }
  rmdir(dir);
}

/* libavformat's default opener logs every segment file at info level on
 * stderr; the server logs its own line per clip instead. */
static int quiet_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                         AVDictionary **options) {
  return avio_open2(pb, url, flags, &s->interrupt_callback, options);
}

/* Splits mp4 into an HLS VOD in dir (index.m3u8, seg-NNNNN.ts) with
 * libavformat's hls muxer; packets are copied, segments cut at video
 * keyframes once target_s has passed. */
static int hls_vod_from_mp4(const char *mp4, const char *dir, unsigned target_s, char *err,
                            size_t errlen) {
  AVFormatContext *in = NULL, *out = NULL;
  AVDictionary *opts = NULL;
  AVPacket *pkt = av_packet_alloc();
  int *map = NULL, ret, rc = ERR_IO;
  char playlist[1200], pattern[1200], tval[16];
  snprintf(playlist, sizeof(playlist), "%s/index.m3u8", dir);
  snprintf(pattern, sizeof(pattern), "%s/seg-%%05d.ts", dir);
  if (!pkt) return ERR_NOMEM;
  if ((ret = avformat_open_input(&in, mp4, NULL, NULL)) < 0 ||
      (ret = avformat_find_stream_info(in, NULL)) < 0) {
    snprintf(err, errlen, "cannot read the clip's MP4: %s", av_err2str(ret));
    goto done;
  }
  if ((ret = avformat_alloc_output_context2(&out, NULL, "hls", playlist)) < 0) {
    snprintf(err, errlen, "no HLS muxer: %s", av_err2str(ret));
    goto done;
  }
  out->io_open = quiet_io_open;
  map = calloc(in->nb_streams, sizeof(*map));
  if (!map) {
    rc = ERR_NOMEM;
    goto done;
  }
  for (unsigned i = 0; i < in->nb_streams; i++) {
    AVCodecParameters *par = in->streams[i]->codecpar;
    map[i] = -1;
    if (par->codec_type != AVMEDIA_TYPE_VIDEO && par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
    AVStream *os = avformat_new_stream(out, NULL);
    if (!os || avcodec_parameters_copy(os->codecpar, par) < 0) {
      rc = ERR_NOMEM;
      goto done;
    }
    os->codecpar->codec_tag = 0;
    os->time_base = in->streams[i]->time_base;
    map[i] = os->index;
  }
  snprintf(tval, sizeof(tval), "%u", target_s ? target_s : 2);
  av_dict_set(&opts, "hls_time", tval, 0);
  av_dict_set(&opts, "hls_list_size", "0", 0);
  av_dict_set(&opts, "hls_playlist_type", "vod", 0);
  av_dict_set(&opts, "hls_segment_filename", pattern, 0);
  if ((ret = avformat_write_header(out, &opts)) < 0) {
    snprintf(err, errlen, "cannot start the HLS VOD: %s", av_err2str(ret));
    goto done;
  }
  while ((ret = av_read_frame(in, pkt)) >= 0) {
    int si = pkt->stream_index;
    if (si < 0 || (unsigned)si >= in->nb_streams || map[si] < 0) {
      av_packet_unref(pkt);
      continue;
    }
    av_packet_rescale_ts(pkt, in->streams[si]->time_base, out->streams[map[si]]->time_base);
    pkt->stream_index = map[si];
    pkt->pos = -1;
    if ((ret = av_interleaved_write_frame(out, pkt)) < 0) {
      snprintf(err, errlen, "cannot write the HLS VOD: %s", av_err2str(ret));
      goto done;
    }
  }
  if ((ret = av_write_trailer(out)) < 0) {
    snprintf(err, errlen, "cannot finish the HLS VOD: %s", av_err2str(ret));
    goto done;
  }
  rc = 0;
done:
  av_dict_free(&opts);
  av_packet_free(&pkt);
  free(map);
  if (out) avformat_free_context(out);
  avformat_close_input(&in);
  return rc;
}

/* Orders pieces by wall clock (a tie is the same segment held twice:
 * either copy will do). */
static int piece_cmp(const void *a, const void *b) {
  const clip_piece_t *x = a, *y = b;
  return x->wall_ms < y->wall_ms ? -1 : x->wall_ms > y->wall_ms;
}

/* Worker: decides the inputs and cuts of a clip that needs recordings.
 * The window's segments and the recordings' local fragments are merged on
 * the wall clock (a stretch both hold is taken once); when none of them
 * is in range, a finished file at a file:// destination is cut instead. */
static int plan_from_recordings(cjob_t *j) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < j->n_srcs; i++)
    if (j->srcs[i].fragments)
      rc = clip_source_fragments(&j->srcs[i], j->want_from, j->want_to, &j->pieces, &j->n_pieces,
                                 &j->cap_pieces);
  if (rc == ERR_NOMEM) return rc;
  if (j->n_pieces > 1) qsort(j->pieces, j->n_pieces, sizeof(*j->pieces), piece_cmp);
  size_t keep = 0;
  int64_t end = INT64_MIN;
  for (size_t i = 0; i < j->n_pieces; i++) {
    clip_piece_t *p = &j->pieces[i];
    /* Half a segment of overlap is the same media held twice. */
    if (keep && p->wall_ms + p->dur_ms / 2 < end) {
      free(p->path);
      continue;
    }
    j->pieces[keep++] = *p;
    if (p->wall_ms + p->dur_ms > end) end = p->wall_ms + p->dur_ms;
  }
  j->n_pieces = keep;
  if (keep) {
    if (!(j->paths = calloc(keep, sizeof(*j->paths)))) return ERR_NOMEM;
    j->seg0_start_ms = j->pieces[0].wall_ms;
    j->cut_start = j->want_from > j->pieces[0].wall_ms ? j->want_from - j->pieces[0].wall_ms : -1;
    j->cut_end = -1;
    int64_t at = 0;
    for (size_t i = 0; i < keep; i++) {
      j->paths[j->n++] = j->pieces[i].path;
      j->pieces[i].path = NULL;
      if (j->want_to < j->pieces[i].wall_ms + j->pieces[i].dur_ms && j->cut_end < 0)
        j->cut_end = at + (j->want_to - j->pieces[i].wall_ms);
      at += j->pieces[i].dur_ms;
    }
    return 0;
  }
  /* A finished file: the one holding the start of the range, else any in range. */
  const clip_source_t *f = NULL;
  for (size_t i = 0; i < j->n_srcs; i++) {
    const clip_source_t *s = &j->srcs[i];
    if (s->fragments || s->last_ms <= j->want_from || s->first_ms >= j->want_to) continue;
    if (!f || (s->first_ms <= j->want_from && j->want_from < s->last_ms)) f = s;
  }
  if (!f) return ERR_NOT_FOUND;
  if (!(j->paths = calloc(1, sizeof(*j->paths))) ||
      asprintf(&j->paths[0], "%s/%s", f->dir, f->file) < 0)
    return ERR_NOMEM;
  j->n = 1;
  j->file_src = f;
  int64_t total = clip_source_to_media(f, INT64_MAX);
  int64_t a = clip_source_to_media(f, j->want_from), b = clip_source_to_media(f, j->want_to);
  j->cut_start = a > 0 ? a : -1;
  j->cut_end = b < total ? b : -1;
  return 0;
}

static void make_work(uv_work_t *req) {
  cjob_t *j = req->data;
  if (!j->stream_id[0]) { /* a removal */
    remove_dir(j->dir);
    return;
  }
  char mp4[1200];
  snprintf(mp4, sizeof(mp4), "%s/clip.mp4", j->dir);
  if (j->from_recordings && (j->rc = plan_from_recordings(j)) != 0) {
    snprintf(j->err, sizeof(j->err), "%s",
             j->rc == ERR_NOT_FOUND ? "neither the window nor the recordings hold media in this "
                                      "range any more"
                                    : err_str(j->rc));
    return;
  }
  j->rc = util_mkdirs(j->dir);
  if (j->rc) {
    snprintf(j->err, sizeof(j->err), "cannot create the clip directory");
    return;
  }
  j->rc = remux_files((const char *const *)j->paths, j->n, mp4, "mp4", j->cut_start, j->cut_end,
                      &j->info);
  if (j->rc) {
    snprintf(j->err, sizeof(j->err), "remuxing the %s failed: %s",
             j->from_recordings ? "recorded media" : "window segments",
             j->rc == ERR_NOT_FOUND ? "a segment file is missing" : err_str(j->rc));
  } else if (!j->info.has_video) {
    j->rc = ERR_INVALID;
    snprintf(j->err, sizeof(j->err), "the range holds no video");
  } else {
    j->rc = hls_vod_from_mp4(mp4, j->dir, j->hls_target_s, j->err, sizeof(j->err));
  }
  if (j->rc) remove_dir(j->dir);
}

/* ---- loop side -------------------------------------------------------------- */

static void active_unlink(clip_service_t *cs, cjob_t *j) {
  for (cjob_t **pp = &cs->active; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      return;
    }
}

static void queue_removal(clip_service_t *cs, const char *clip_id);
static void make_done(uv_work_t *req, int status);

/* Starts waiting clips while fewer than MAX_RUNNING run: a burst of long
 * clips must not take every thread of libuv's pool, which the window's
 * writes (and every uv_fs / getaddrinfo of the process) share. */
static void dispatch(clip_service_t *cs) {
  if (cs->stopping) return;
  for (cjob_t *j = cs->active, *nx; j && cs->running < MAX_RUNNING; j = nx) {
    nx = j->next;
    if (j->running) continue;
    if (j->cancelled) { /* deleted before its turn: nothing was written */
      active_unlink(cs, j);
      clip_window_unpin(cs->w, j->stream_id);
      job_free(j);
      continue;
    }
    j->req.data = j;
    if (uv_queue_work(cs->loop, &j->req, make_work, make_done) != 0) {
      log_error("clip_queue_failed id=%s", j->id);
      break; /* retried at the next start or finish */
    }
    j->running = 1;
    cs->running++;
  }
}

static void make_done(uv_work_t *req, int status) {
  cjob_t *j = req->data;
  clip_service_t *cs = j->cs;
  if (!j->stream_id[0]) {
    job_free(j);
    return;
  }
  active_unlink(cs, j);
  cs->running--;
  dispatch(cs);
  clip_window_unpin(cs->w, j->stream_id);
  if (status != 0 && !j->rc) {
    j->rc = ERR_INTERNAL;
    snprintf(j->err, sizeof(j->err), "the job was cancelled");
  }
  store_clip_t c;
  memset(&c, 0, sizeof(c));
  memcpy(c.id, j->id, sizeof(c.id));
  c.updated_at = util_now();
  if (j->rc == 0) {
    c.status = STORE_CLIP_READY;
    c.media_start_ms = j->file_src ? clip_source_to_wall(j->file_src, j->info.start_ms)
                                   : j->seg0_start_ms + j->info.start_ms;
    c.duration_ms = j->info.duration_ms;
    c.size_bytes = j->info.size;
    c.width = j->info.width;
    c.height = j->info.height;
  } else {
    c.status = STORE_CLIP_FAILED;
    snprintf(c.error, sizeof(c.error), "%s", j->err[0] ? j->err : err_str(j->rc));
  }
  int rc = j->cancelled ? ERR_NOT_FOUND : store_clip_finish(cs->store, &c);
  if (rc == ERR_NOT_FOUND) {
    log_info("clip_discarded id=%s reason=deleted", j->id);
    queue_removal(cs, j->id);
  } else if (rc) {
    log_error("clip_store_failed id=%s err=%s", j->id, err_str(rc));
  } else {
    if (j->rc == 0)
      log_info("clip_ready id=%s stream=%s duration_ms=%" PRId64 " bytes=%" PRId64, j->id,
               j->stream_id, c.duration_ms, c.size_bytes);
    else
      log_warn("clip_failed id=%s stream=%s reason=\"%s\"", j->id, j->stream_id, c.error);
    store_clip_t row;
    if (cs->on_finish && store_clip_get(cs->store, NULL, j->id, &row) == 0)
      cs->on_finish(cs->on_finish_ud, &row);
  }
  job_free(j);
}

static void queue_removal(clip_service_t *cs, const char *clip_id) {
  cjob_t *j = calloc(1, sizeof(*j));
  if (!j) return;
  j->cs = cs;
  snprintf(j->id, sizeof(j->id), "%s", clip_id);
  clip_service_dir(cs, clip_id, j->dir, sizeof(j->dir));
  j->req.data = j;
  if (uv_queue_work(cs->loop, &j->req, make_work, make_done) != 0) free(j);
}

void clip_service_remove(clip_service_t *cs, const char *clip_id) {
  for (cjob_t *j = cs->active; j; j = j->next)
    if (strcmp(j->id, clip_id) == 0) {
      j->cancelled = 1; /* make_done removes the files */
      return;
    }
  queue_removal(cs, clip_id);
}

void clip_service_use_recordings(clip_service_t *cs, const config_t *cfg) { cs->cfg = cfg; }

void clip_avail_free(clip_avail_t *a) {
  free(a->recordings);
  memset(a, 0, sizeof(*a));
}

int clip_service_available(clip_service_t *cs, const char *project_id, const char *stream_id,
                           clip_avail_t *out) {
  memset(out, 0, sizeof(*out));
  int rc = clip_service_span(cs, stream_id, &out->window);
  if (rc && rc != ERR_NOT_FOUND) return rc;
  out->has_window = rc == 0;
  clip_source_t *src = NULL;
  size_t ns = 0;
  if (cs->cfg && (rc = clip_sources_load(cs->store, cs->cfg, project_id, stream_id, &src, &ns)))
    return rc;
  if (ns && !(out->recordings = calloc(ns, sizeof(*out->recordings)))) {
    clip_sources_free(src, ns);
    return ERR_NOMEM;
  }
  out->n_recordings = ns;
  int64_t bstart = 0;
  for (size_t i = 0; i < ns; i++) {
    out->recordings[i] = (clip_range_t){src[i].first_ms, src[i].last_ms};
    /* Part 1 of a recording starts with its broadcast. */
    if (src[i].part == 1 && src[i].first_ms > bstart) bstart = src[i].first_ms;
  }
  clip_sources_free(src, ns);
  if (!out->has_window && !ns) return ERR_NOT_FOUND;
  out->span = out->window;
  if (!out->has_window) {
    out->span.first_ms = out->recordings[0].first_ms;
    out->span.last_ms = out->recordings[0].last_ms;
    out->span.broadcast_start_ms = out->span.first_ms;
  }
  for (size_t i = 0; i < ns; i++) {
    if (out->recordings[i].first_ms < out->span.first_ms)
      out->span.first_ms = out->recordings[i].first_ms;
    if (!out->has_window && out->recordings[i].last_ms > out->span.last_ms)
      out->span.last_ms = out->recordings[i].last_ms;
  }
  /* The newest broadcast: the window's own when it saw it begin, else the
   * recording that began it, when that is not older than the window. */
  if (!out->window.broadcast_seen && bstart &&
      (!out->has_window || bstart <= out->window.first_ms))
    out->span.broadcast_start_ms = bstart;
  return 0;
}

int clip_service_span(clip_service_t *cs, const char *stream_id, clip_span_t *out) {
  clip_window_seg_t *segs = NULL;
  size_t n = 0;
  int rc = clip_window_segments(cs->w, stream_id, &segs, &n);
  if (rc) return rc;
  if (!n) return ERR_NOT_FOUND;
  out->first_ms = segs[0].start_ms;
  out->last_ms = segs[n - 1].start_ms + segs[n - 1].dur_ms;
  out->broadcast_start_ms = segs[0].start_ms;
  out->broadcast_seen = 0;
  for (size_t i = n; i-- > 0;)
    if (segs[i].broadcast) {
      out->broadcast_start_ms = segs[i].start_ms;
      out->broadcast_seen = 1;
      break;
    }
  free(segs);
  return 0;
}

/* Queues a job made by clip_service_start. */
static void job_enqueue(clip_service_t *cs, cjob_t *j) {
  clip_window_pin(cs->w, j->stream_id);
  cjob_t **pp = &cs->active;
  while (*pp) pp = &(*pp)->next;
  *pp = j;
  dispatch(cs);
}

static cjob_t *job_new(clip_service_t *cs, const store_clip_t *c) {
  cjob_t *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->cs = cs;
  memcpy(j->id, c->id, sizeof(j->id));
  memcpy(j->stream_id, c->stream_id, sizeof(j->stream_id));
  clip_service_dir(cs, c->id, j->dir, sizeof(j->dir));
  j->hls_target_s = cs->hls_target_s;
  return j;
}

/* The range reaches outside the window: the window's segments in range and
 * the recordings that overlap it go to the worker (plan_from_recordings).
 * ERR_CONFLICT when no recording overlaps and the window holds nothing. */
static int start_from_recordings(clip_service_t *cs, const store_clip_t *c,
                                 const clip_window_seg_t *segs, size_t a, size_t b) {
  clip_source_t *src = NULL;
  size_t ns = 0;
  int rc = cs->cfg ? clip_sources_load(cs->store, cs->cfg, c->project_id, c->stream_id, &src, &ns)
                   : 0;
  if (rc) return rc;
  cjob_t *j = job_new(cs, c);
  if (!j) {
    clip_sources_free(src, ns);
    return ERR_NOMEM;
  }
  j->from_recordings = 1;
  j->want_from = c->start_ms;
  j->want_to = c->end_ms;
  if (ns && !(j->srcs = calloc(ns, sizeof(*j->srcs)))) rc = ERR_NOMEM;
  for (size_t i = 0; rc == 0 && i < ns; i++)
    if (src[i].last_ms > c->start_ms && src[i].first_ms < c->end_ms &&
        (rc = clip_source_copy(&j->srcs[j->n_srcs], &src[i])) == 0)
      j->n_srcs++;
  clip_sources_free(src, ns);
  if (rc == 0 && b > a && !(j->pieces = calloc(b - a, sizeof(*j->pieces)))) rc = ERR_NOMEM;
  j->cap_pieces = b - a;
  for (size_t i = a; rc == 0 && i < b; i++) {
    char path[1200];
    clip_window_path(cs->w, c->stream_id, segs[i].n, path, sizeof(path));
    char *dup = strdup(path);
    if (!dup)
      rc = ERR_NOMEM;
    else
      j->pieces[j->n_pieces++] = (clip_piece_t){dup, segs[i].start_ms, segs[i].dur_ms};
  }
  if (rc == 0 && !j->n_srcs && !j->n_pieces) rc = ERR_CONFLICT;
  if (rc) {
    job_free(j);
    return rc;
  }
  job_enqueue(cs, j);
  log_info("clip_started id=%s stream=%s source=recordings recordings=%zu window_segments=%zu",
           c->id, c->stream_id, j->n_srcs, j->n_pieces);
  return 0;
}

int clip_service_start(clip_service_t *cs, const store_clip_t *c) {
  clip_window_seg_t *segs = NULL;
  size_t n = 0;
  int rc = clip_window_segments(cs->w, c->stream_id, &segs, &n);
  if (rc) return rc;
  /* The segments that overlap [start, end). */
  size_t a = 0;
  while (a < n && segs[a].start_ms + segs[a].dur_ms <= c->start_ms) a++;
  size_t b = a;
  while (b < n && segs[b].start_ms < c->end_ms) b++;
  int in_window = n && c->start_ms >= segs[0].start_ms &&
                  c->end_ms <= segs[n - 1].start_ms + segs[n - 1].dur_ms;
  if (!in_window && cs->cfg) {
    rc = start_from_recordings(cs, c, segs, a, b);
    if (rc != ERR_CONFLICT || a == b) {
      free(segs);
      return rc;
    }
  }
  if (a == b) {
    free(segs);
    return ERR_CONFLICT;
  }
  cjob_t *j = job_new(cs, c);
  if (!j || !(j->paths = calloc(b - a, sizeof(*j->paths)))) {
    free(j);
    free(segs);
    return ERR_NOMEM;
  }
  j->seg0_start_ms = segs[a].start_ms;
  /* The remux timeline runs the segments back to back (gaps collapse):
   * a segment starts at the sum of the durations before it. */
  j->cut_start = c->start_ms > segs[a].start_ms ? c->start_ms - segs[a].start_ms : -1;
  j->cut_end = -1;
  int64_t at = 0;
  for (size_t i = a; i < b; i++) {
    char path[1200];
    clip_window_path(cs->w, c->stream_id, segs[i].n, path, sizeof(path));
    if (!(j->paths[j->n] = strdup(path))) {
      free(segs);
      job_free(j);
      return ERR_NOMEM;
    }
    j->n++;
    if (c->end_ms < segs[i].start_ms + segs[i].dur_ms)
      j->cut_end = at + (c->end_ms - segs[i].start_ms);
    at += segs[i].dur_ms;
  }
  free(segs);
  job_enqueue(cs, j);
  log_info("clip_started id=%s stream=%s segments=%zu cut_start_ms=%" PRId64 " cut_end_ms=%" PRId64,
           c->id, c->stream_id, j->n, j->cut_start, j->cut_end);
  return 0;
}

void clip_service_recover(clip_service_t *cs) {
  store_clip_t *list = NULL;
  size_t n = 0;
  if (store_clip_list_status(cs->store, STORE_CLIP_PROCESSING, &list, &n)) return;
  for (size_t i = 0; i < n; i++) {
    int rc = clip_service_start(cs, &list[i]);
    if (rc == 0) continue;
    store_clip_t c = list[i];
    c.status = STORE_CLIP_FAILED;
    c.updated_at = util_now();
    snprintf(c.error, sizeof(c.error),
             "the server restarted while the clip was being made and its media has left the "
             "window (and no recording holds it)");
    store_clip_finish(cs->store, &c);
    log_warn("clip_failed id=%s reason=restart_window_gone", c.id);
  }
  free(list);
}

clip_service_t *clip_service_new(uv_loop_t *loop, store_t *store, clip_window_t *w,
                                 const char *data_dir, unsigned hls_target_s) {
  clip_service_t *cs = calloc(1, sizeof(*cs));
  if (!cs) return NULL;
  cs->loop = loop;
  cs->store = store;
  cs->w = w;
  cs->hls_target_s = hls_target_s ? hls_target_s : 2;
  snprintf(cs->dir, sizeof(cs->dir), "%s/clips", data_dir);
  return cs;
}

void clip_service_on_finish(clip_service_t *cs, clip_finished_fn fn, void *ud) {
  cs->on_finish = fn;
  cs->on_finish_ud = ud;
}

void clip_service_stop(clip_service_t *cs) {
  if (cs) cs->stopping = 1;
}

void clip_service_free(clip_service_t *cs) {
  if (!cs) return;
  /* Clips still waiting their turn stay "processing" in the store: the
   * next start makes them (clip_service_recover). */
  for (cjob_t *j = cs->active, *nx; j; j = nx) {
    nx = j->next;
    job_free(j);
  }
  free(cs);
}
