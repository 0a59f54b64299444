/* remux.c — stream-copy concatenation with libavformat (see remux.h).
 *
 * Every packet is moved onto one "timeline" in 90 kHz ticks: each input
 * gets an offset chosen at its first packet so that it follows the
 * previous input (reconnects reset or jump the publisher's clock; segments
 * of one session already line up and keep their offset). Cutting and the
 * output's zero are computed on that timeline.
 */
#include "media/record/remux.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define TL_HZ 90000
static const AVRational TL = {1, TL_HZ};
#define MS_TO_TL(ms) ((int64_t)(ms) * (TL_HZ / 1000))
#define TL_TO_MS(t) ((t) / (TL_HZ / 1000))
/* A jump larger than this between inputs is a discontinuity, not a gap. */
#define MAX_GAP MS_TO_TL(1000)
#define MAX_BACK MS_TO_TL(500)
/* Packets of the streams interleave within this much: past end + skew, stop reading. */
#define INTERLEAVE_SKEW MS_TO_TL(3000)

enum { K_VIDEO = 0, K_AUDIO = 1, K_N = 2 };

/* ---- durable file helpers ------------------------------------------------ */

static int fsync_path(const char *path, int dir) {
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ERR_IO;
  int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : ERR_IO;
  close(fd);
  return rc;
}

static int fsync_parent(const char *path) {
  char *copy = strdup(path);
  if (!copy) return ERR_NOMEM;
  int rc = fsync_path(dirname(copy), 1);
  free(copy);
  return rc;
}

int remux_write_file_durable(const char *path, const void *data, size_t len) {
  char tmp[4200];
  if (snprintf(tmp, sizeof(tmp), "%s.part", path) >= (int)sizeof(tmp)) return ERR_INVALID;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ERR_IO;
  const uint8_t *p = data;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, p + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      unlink(tmp);
      return ERR_IO;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) {
    close(fd);
    unlink(tmp);
    return ERR_IO;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return ERR_IO;
  }
  return fsync_parent(path);
}

/* ---- playlists ------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}

static int sb_finish(sbuf_t *b, const char *path) {
  int rc = b->oom ? ERR_NOMEM : remux_write_file_durable(path, b->p, b->len);
  free(b->p);
  return rc;
}

int remux_write_vod_playlist(const char *path, const remux_vod_segment_t *segs, size_t n) {
  if (!path || !segs || n == 0) return ERR_INVALID;
  double longest = 0;
  for (size_t i = 0; i < n; i++)
    if (segs[i].duration_s > longest) longest = segs[i].duration_s;
  /* RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer <= target. */
  long target = (long)(longest + 0.5);
  if (target < 1) target = 1;
  sbuf_t b = {0};
  sb_printf(&b,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%ld\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n",
            target);
  for (size_t i = 0; i < n; i++) {
    if (segs[i].discontinuity && i > 0) sb_printf(&b, "#EXT-X-DISCONTINUITY\n");
    sb_printf(&b, "#EXTINF:%.3f,\n%s\n", segs[i].duration_s, segs[i].uri);
  }
  sb_printf(&b, "#EXT-X-ENDLIST\n");
  return sb_finish(&b, path);
}

int remux_write_master_playlist(const char *path, const remux_vod_variant_t *v, size_t n) {
  if (!path || !v || n == 0) return ERR_INVALID;
  sbuf_t b = {0};
  sb_printf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n");
  for (size_t i = 0; i < n; i++) {
    sb_printf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%u", v[i].bandwidth ? v[i].bandwidth : 1);
    if (v[i].width > 0 && v[i].height > 0)
      sb_printf(&b, ",RESOLUTION=%dx%d", v[i].width, v[i].height);
    sb_printf(&b, "\n%s\n", v[i].uri);
  }
  return sb_finish(&b, path);
}

/* ---- reading the inputs as one timeline -------------------------------------- */

typedef struct {
  const char *const *paths;
  size_t n, next;      /* next input to open */
  AVFormatContext *in;
  int map[64];         /* input stream index -> K_* or -1 */
  int64_t offset;      /* added to the current input's timestamps (TL) */
  int have_offset;     /* offset decided for the current input */
  int64_t end;         /* timeline end so far (max dts + duration), TL */
  int have_end;
  /* Per kind: the last packet's dts and the last step between two (TL), the
   * duration of a packet that states none (a transcoded rung's video, out
   * of TS): without it the input after a discontinuity started at the very
   * dts of the previous input's last frame. */
  int64_t last_dts[K_N], step[K_N];
  int have_last[K_N];
  int64_t origin;      /* timeline of the first packet of input 0, TL */
  int have_origin;
  AVCodecParameters *par[K_N]; /* of the first input; NULL when absent */
  const char *failed_path;
} reader_t;

static void reader_close_input(reader_t *r) {
  if (r->in) avformat_close_input(&r->in);
}

static void reader_free(reader_t *r) {
  reader_close_input(r);
  for (int k = 0; k < K_N; k++) avcodec_parameters_free(&r->par[k]);
}

static int reader_open_next(reader_t *r) {
  reader_close_input(r);
  if (r->next >= r->n) return AVERROR_EOF;
  const char *path = r->paths[r->next++];
  int first = r->next == 1;
  int ret = avformat_open_input(&r->in, path, NULL, NULL);
  if (ret < 0) {
    r->failed_path = path;
    return ret;
  }
  /* The first input defines the output streams and needs full codec
   * parameters (H.264 extradata out of the TS stream); later ones are only
   * mapped by type. */
  if (first && (ret = avformat_find_stream_info(r->in, NULL)) < 0) {
    r->failed_path = path;
    return ret;
  }
  int seen[K_N] = {0, 0};
  for (unsigned i = 0; i < r->in->nb_streams && i < 64; i++) {
    enum AVMediaType t = r->in->streams[i]->codecpar->codec_type;
    int k = t == AVMEDIA_TYPE_VIDEO ? K_VIDEO : t == AVMEDIA_TYPE_AUDIO ? K_AUDIO : -1;
    r->map[i] = -1;
    if (k < 0 || seen[k]) continue;
    seen[k] = 1;
    if (first) {
      r->par[k] = avcodec_parameters_alloc();
      if (!r->par[k] || avcodec_parameters_copy(r->par[k], r->in->streams[i]->codecpar) < 0)
        return AVERROR(ENOMEM);
    }
    if (r->par[k]) r->map[i] = k;
  }
  r->have_offset = 0;
  return 0;
}

/* The next packet on the timeline: pkt's timestamps in TL ticks, *kind set.
 * 0, AVERROR_EOF at the end, or another AVERROR. */
static int reader_next(reader_t *r, AVPacket *pkt, int *kind) {
  for (;;) {
    if (!r->in) {
      int ret = reader_open_next(r);
      if (ret < 0) return ret;
    }
    int ret = av_read_frame(r->in, pkt);
    if (ret == AVERROR_EOF) {
      reader_close_input(r);
      continue;
    }
    if (ret < 0) return ret;
    int k = pkt->stream_index >= 0 && pkt->stream_index < 64 &&
                    (unsigned)pkt->stream_index < r->in->nb_streams
                ? r->map[pkt->stream_index]
                : -1;
    if (k < 0 || (pkt->dts == AV_NOPTS_VALUE && pkt->pts == AV_NOPTS_VALUE) ||
        (pkt->flags & AV_PKT_FLAG_CORRUPT)) {
      av_packet_unref(pkt);
      continue;
    }
    if (pkt->dts == AV_NOPTS_VALUE) pkt->dts = pkt->pts;
    if (pkt->pts == AV_NOPTS_VALUE) pkt->pts = pkt->dts;
    av_packet_rescale_ts(pkt, r->in->streams[pkt->stream_index]->time_base, TL);
    if (!r->have_offset) {
      int64_t t = pkt->dts + r->offset;
      if (r->have_end && (t < r->end - MAX_BACK || t > r->end + MAX_GAP)) {
        r->offset = r->end - pkt->dts;
        log_debug("remux_discontinuity input=%zu shift_ms=%lld", r->next - 1,
                  (long long)TL_TO_MS(r->end - t));
      }
      r->have_offset = 1;
    }
    pkt->dts += r->offset;
    pkt->pts += r->offset;
    if (!r->have_origin) {
      r->origin = pkt->dts;
      r->have_origin = 1;
    }
    if (r->have_last[k] && pkt->dts > r->last_dts[k] && pkt->dts - r->last_dts[k] <= MAX_GAP)
      r->step[k] = pkt->dts - r->last_dts[k]; /* (a longer one is a gap, not a frame) */
    r->last_dts[k] = pkt->dts;
    r->have_last[k] = 1;
    int64_t e = pkt->dts + (pkt->duration > 0 ? pkt->duration : r->step[k]);
    if (!r->have_end || e > r->end) r->end = e;
    r->have_end = 1;
    *kind = k;
    return 0;
  }
}

static int av_to_err(int ret) {
  if (ret == AVERROR(ENOMEM)) return ERR_NOMEM;
  if (ret == AVERROR(ENOENT)) return ERR_NOT_FOUND;
  return ERR_IO;
}

/* Pass 1 for a cut: the timeline position (relative to the origin) of the
 * last video keyframe at or before start_ms; start_ms itself when there is
 * no video. */
static int find_cut(const char *const *paths, size_t n, int64_t start_ms, int64_t *cut) {
  reader_t r = {.paths = paths, .n = n};
  AVPacket *pkt = av_packet_alloc();
  if (!pkt) return ERR_NOMEM;
  int64_t target = MS_TO_TL(start_ms), best = -1;
  int kind, ret, has_video = -1;
  while ((ret = reader_next(&r, pkt, &kind)) == 0) {
    if (has_video < 0) has_video = r.par[K_VIDEO] != NULL;
    int64_t t = pkt->dts - r.origin;
    if (kind == K_VIDEO && (pkt->flags & AV_PKT_FLAG_KEY)) {
      int64_t pt = pkt->pts - r.origin;
      if (pt <= target) best = pt < 0 ? 0 : pt;
    }
    av_packet_unref(pkt);
    if (t > target + INTERLEAVE_SKEW) break;
  }
  av_packet_free(&pkt);
  reader_free(&r);
  if (ret < 0 && ret != AVERROR_EOF) return av_to_err(ret);
  if (has_video <= 0)
    *cut = target;
  else
    *cut = best < 0 ? 0 : best;
  return 0;
}

int remux_files(const char *const *in_paths, size_t n, const char *out_path,
                const char *out_format, int64_t start_ms, int64_t end_ms, remux_info_t *info) {
  remux_info_t dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof(*info));
  if (!in_paths || n == 0 || !out_path || !out_format ||
      (strcmp(out_format, "mp4") != 0 && strcmp(out_format, "mpegts") != 0) ||
      (end_ms >= 0 && start_ms >= 0 && end_ms <= start_ms))
    return ERR_INVALID;
  for (size_t i = 0; i < n; i++)
    if (access(in_paths[i], R_OK) != 0) return ERR_NOT_FOUND;
  int64_t cut = INT64_MIN; /* no cut */
  int rc;
  if (start_ms > 0 && (rc = find_cut(in_paths, n, start_ms, &cut)) != 0) return rc;
  int64_t stop = end_ms >= 0 ? MS_TO_TL(end_ms) : INT64_MAX;

  char tmp[4200];
  if (snprintf(tmp, sizeof(tmp), "%s.part", out_path) >= (int)sizeof(tmp)) return ERR_INVALID;
  reader_t r = {.paths = in_paths, .n = n};
  AVFormatContext *out = NULL;
  AVPacket *pkt = av_packet_alloc();
  AVDictionary *opts = NULL;
  int out_index[K_N] = {-1, -1}, header = 0, ret = 0, kind;
  int64_t last_dts[K_N] = {INT64_MIN, INT64_MIN}, base = 0, first = INT64_MAX, last_end = 0;
  int video_started = 0, wrote = 0;
  rc = ERR_IO;
  if (!pkt) {
    rc = ERR_NOMEM;
    goto done;
  }
  if ((ret = avformat_alloc_output_context2(&out, NULL, out_format, tmp)) < 0) goto done;
  while ((ret = reader_next(&r, pkt, &kind)) == 0) {
    if (!header) { /* the first packet: the first input's streams are known */
      for (int k = 0; k < K_N; k++) {
        if (!r.par[k]) continue;
        AVStream *st = avformat_new_stream(out, NULL);
        if (!st || avcodec_parameters_copy(st->codecpar, r.par[k]) < 0) {
          ret = AVERROR(ENOMEM);
          goto done;
        }
        st->codecpar->codec_tag = 0;
        /* Safari plays HEVC in MP4 only as hvc1 (parameter sets in the
         * sample entry); libavformat's default tag is hev1. */
        if (strcmp(out_format, "mp4") == 0 && st->codecpar->codec_id == AV_CODEC_ID_HEVC)
          st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
        st->time_base = TL;
        out_index[k] = st->index;
      }
      if (!(out->oformat->flags & AVFMT_NOFILE) &&
          (ret = avio_open(&out->pb, tmp, AVIO_FLAG_WRITE)) < 0)
        goto done;
      if (strcmp(out_format, "mp4") == 0) av_dict_set(&opts, "movflags", "+faststart", 0);
      out->avoid_negative_ts = AVFMT_AVOID_NEG_TS_MAKE_ZERO;
      if ((ret = avformat_write_header(out, &opts)) < 0) goto done;
      header = 1;
      info->has_video = out_index[K_VIDEO] >= 0;
      info->has_audio = out_index[K_AUDIO] >= 0;
      if (r.par[K_VIDEO]) {
        info->width = r.par[K_VIDEO]->width;
        info->height = r.par[K_VIDEO]->height;
      }
    }
    int64_t t = pkt->dts - r.origin, pt = pkt->pts - r.origin;
    if (stop != INT64_MAX && t > stop + INTERLEAVE_SKEW) {
      av_packet_unref(pkt);
      break;
    }
    int keep = out_index[kind] >= 0 && pt < stop;
    if (keep && kind == K_VIDEO) {
      /* Start at the cut keyframe: nothing before it, and nothing until a
       * keyframe (a stream must start decodable). */
      if (!video_started) {
        if (!(pkt->flags & AV_PKT_FLAG_KEY) || pt < cut) keep = 0;
        else video_started = 1;
      }
    } else if (keep && pt < cut) {
      keep = 0;
    }
    if (keep && kind == K_AUDIO && out_index[K_VIDEO] >= 0 && !video_started) keep = 0;
    if (!keep) {
      av_packet_unref(pkt);
      continue;
    }
    if (!wrote) base = pkt->dts < pkt->pts ? pkt->dts : pkt->pts;
    /* Muxers refuse a dts that does not increase per stream. */
    if (last_dts[kind] != INT64_MIN && pkt->dts <= last_dts[kind]) {
      int64_t fix = last_dts[kind] + 1 - pkt->dts;
      pkt->dts += fix;
      if (pkt->pts < pkt->dts) pkt->pts = pkt->dts;
    }
    last_dts[kind] = pkt->dts;
    if (pkt->pts < first) first = pkt->pts;
    int64_t e = pkt->pts + (pkt->duration > 0 ? pkt->duration : 0);
    if (e > last_end) last_end = e;
    AVStream *ost = out->streams[out_index[kind]];
    pkt->stream_index = ost->index;
    pkt->dts -= base;
    pkt->pts -= base;
    pkt->pos = -1;
    av_packet_rescale_ts(pkt, TL, ost->time_base);
    ret = av_interleaved_write_frame(out, pkt);
    av_packet_unref(pkt);
    if (ret < 0) goto done;
    wrote++;
  }
  if (ret < 0 && ret != AVERROR_EOF) goto done;
  ret = 0;
  if (!header || !wrote) {
    rc = ERR_INVALID; /* nothing in range */
    goto done;
  }
  if ((ret = av_write_trailer(out)) < 0) goto done;
  if (out->pb && (ret = avio_closep(&out->pb)) < 0) goto done;
  if (fsync_path(tmp, 0) || rename(tmp, out_path) != 0) {
    rc = ERR_IO;
    goto done_nolog;
  }
  fsync_parent(out_path);
  struct stat sb;
  info->size = stat(out_path, &sb) == 0 ? (int64_t)sb.st_size : 0;
  info->duration_ms = TL_TO_MS(last_end - first);
  info->start_ms = TL_TO_MS(first - r.origin);
  if (info->start_ms < 0) info->start_ms = 0;
  rc = 0;
  goto done_nolog;
done:
  if (ret < 0) {
    rc = av_to_err(ret);
    log_warn("remux_failed out=%s input=%s err=%s", out_path,
             r.failed_path ? r.failed_path : "-", av_err2str(ret));
  }
done_nolog:
  if (out) {
    if (out->pb) avio_closep(&out->pb);
    avformat_free_context(out);
  }
  if (rc) unlink(tmp);
  av_dict_free(&opts);
  av_packet_free(&pkt);
  reader_free(&r);
  return rc;
}
