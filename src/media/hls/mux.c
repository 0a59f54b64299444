/* mux.c — one libavformat muxer (mpegts or fragmented mp4) writing into a
 * growing in-memory buffer that is cut into segments.
 *
 * The open segment is itself an hls_buf_t allocation (header + bytes) that
 * grows by realloc while the muxer writes; a cut shrinks it to size and
 * hands it over, so segment bytes are copied once, from libavformat's AVIO
 * buffer into ours, and the segment costs one allocation.
 *
 * Frames arrive as FLV carries them: length-prefixed NAL units and raw AAC.
 * The mp4 muxer takes that as is. MPEG-TS needs Annex B video and ADTS
 * audio; we convert into a reusable buffer (the one copy libavformat's
 * h264_mp4toannexb filter or ADTS sub-muxer would also make, without their
 * per-frame allocations) and start each access unit with an AUD, plus the
 * parameter sets before keyframes, so the mpegts muxer takes the bytes as
 * they are.
 */
#include <errno.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/opt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "media/hls/hls_int.h"
#include "media/hls/ts_conv.h"

#define IOBUF_SIZE (64 * 1024)
#define FIRST_SEGMENT_CAP (256 * 1024)
#define ADTS_HEADER 7
#define ADTS_MAX_FRAME 8191 /* 13-bit frame_length */

/* ---- shared buffers ---------------------------------------------------- */

hls_buf_t *hls_buf_ref(hls_buf_t *b) {
  b->refcount++;
  return b;
}

void hls_buf_unref(hls_buf_t *b) {
  if (b && --b->refcount == 0) {
    if (b->fd >= 0) close(b->fd);
    free(b);
  }
}

#define FD_MIN_BYTES (32 * 1024) /* the HTTP server copies smaller bodies anyway */
#define FD_FAILED (-2)

/* The memfd is made when a segment is first served, not when it is cut:
 * most segments of an unwatched stream are never requested, and a cut
 * stays a memcpy-free handover (the latency path). */
int hls_buf_fd(hls_buf_t *b) {
  if (b->fd >= 0) return b->fd;
  if (b->fd == FD_FAILED || b->len < FD_MIN_BYTES) return -1;
  int fd = memfd_create("onair-hls", MFD_CLOEXEC);
  size_t off = 0;
  while (fd >= 0 && off < b->len) {
    ssize_t n = write(fd, b->data + off, b->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      fd = -1;
      break;
    }
    off += (size_t)n;
  }
  if (fd < 0) {
    static unsigned long failures;
    if (failures++ % 1000 == 0)
      log_warn("hls_memfd_failed err=%s failures=%lu (serving from memory)", strerror(errno),
               failures);
    b->fd = FD_FAILED;
    return -1;
  }
  b->fd = fd;
  return fd;
}

/* The open segment: an hls_buf_t whose data grows behind the header. */
typedef struct {
  hls_buf_t *b;
  size_t cap;  /* data bytes available after the header */
  size_t hint; /* size of the previous segment: the next one starts there */
} wbuf_t;

static int wbuf_write(void *opaque, uint8_t *data, int size) {
  wbuf_t *w = opaque;
  if (size <= 0) return 0;
  size_t len = w->b ? w->b->len : 0, need = len + (size_t)size;
  if (!w->b || need > w->cap) {
    size_t cap = w->cap;
    if (!cap) cap = w->hint ? w->hint + w->hint / 4 : FIRST_SEGMENT_CAP;
    while (cap < need) cap *= 2;
    hls_buf_t *nb = realloc(w->b, sizeof(*nb) + cap);
    if (!nb) return AVERROR(ENOMEM);
    nb->len = len;
    w->b = nb;
    w->cap = cap;
  }
  memcpy((uint8_t *)(w->b + 1) + len, data, (size_t)size);
  w->b->len = need;
  return size;
}

/* Hands the open segment over (refcount 1), or NULL when nothing was written. */
static hls_buf_t *wbuf_take(wbuf_t *w) {
  hls_buf_t *b = w->b;
  if (!b) return NULL;
  w->b = NULL;
  w->cap = 0;
  hls_buf_t *shrunk = realloc(b, sizeof(*b) + b->len);
  if (shrunk) b = shrunk;
  b->refcount = 1;
  b->data = (uint8_t *)(b + 1);
  b->fd = -1;
  w->hint = b->len;
  return b;
}

/* Allocates the next segment ahead, sized from the last one, and touches
 * its pages: page faults on fresh memory then happen here, after a segment
 * was published, instead of inside the next cut. */
static void wbuf_prepare(wbuf_t *w) {
  if (w->b) return;
  size_t cap = w->hint ? w->hint + w->hint / 4 : FIRST_SEGMENT_CAP;
  hls_buf_t *b = malloc(sizeof(*b) + cap);
  if (!b) return; /* the write callback will try again */
  b->len = 0;
  volatile uint8_t *d = (uint8_t *)(b + 1);
  for (size_t i = 0; i < cap; i += 4096) d[i] = 0;
  w->b = b;
  w->cap = cap;
}

static void wbuf_drop(wbuf_t *w) {
  free(w->b);
  w->b = NULL;
  w->cap = 0;
}

/* ---- the muxer ------------------------------------------------------------- */

enum { S_VIDEO = 0, S_AUDIO = 1 };

struct hls__mux {
  hls_format_t fmt;
  AVFormatContext *ctx;
  AVIOContext *pb;
  AVPacket *pkt;
  wbuf_t w;
  int index[2]; /* stream index per media kind, -1 if absent */
  int64_t last_dts[2];
  media_codec_t vcodec;
  /* TS video: NAL length size and the parameter sets in Annex B. */
  int nal_len;
  uint8_t *ps;
  size_t ps_len;
  /* TS audio: ADTS header fields, when the AAC config fits ADTS. */
  int adts;
  hls_asc_t asc;
  /* Audio frame duration in stream ticks; exact means sample-accurate. */
  int64_t audio_dur, audio_next;
  int audio_exact;
  /* Reusable output of the TS conversions. */
  hls_conv_buf_t conv;
  size_t part_off; /* bytes of the open segment already handed out as parts */
};

/* Raw AAC to ADTS (ISO 13818-7 6.2): a 7-byte header, no CRC. */
static int to_adts(hls__mux_t *m, const media_frame_t *f, const uint8_t **out, size_t *outlen) {
  size_t n = f->len + ADTS_HEADER;
  if (n > ADTS_MAX_FRAME) return ERR_PROTOCOL;
  if (hls_conv_reserve(&m->conv, n)) return ERR_NOMEM;
  uint8_t *h = m->conv.data;
  const hls_asc_t *a = &m->asc;
  h[0] = 0xff;
  h[1] = 0xf1; /* MPEG-4, layer 0, no CRC */
  h[2] = (uint8_t)(((a->aot - 1) << 6) | (a->sr_index << 2) | ((a->channels >> 2) & 1));
  h[3] = (uint8_t)(((a->channels & 3) << 6) | ((n >> 11) & 3));
  h[4] = (uint8_t)(n >> 3);
  h[5] = (uint8_t)(((n & 7) << 5) | 0x1f);
  h[6] = 0xfc;
  memcpy(h + ADTS_HEADER, f->data, f->len);
  *out = m->conv.data;
  *outlen = n;
  return 0;
}

static int set_extradata(AVCodecParameters *par, const uint8_t *data, size_t len) {
  if (!data || !len) return 0;
  par->extradata = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
  if (!par->extradata) return ERR_NOMEM;
  memcpy(par->extradata, data, len);
  par->extradata_size = (int)len;
  return 0;
}

static int add_video(hls__mux_t *m, const media_config_t *cfg) {
  if (cfg->video_codec != CODEC_H264 && cfg->video_codec != CODEC_HEVC) return ERR_UNSUPPORTED;
  AVStream *st = avformat_new_stream(m->ctx, NULL);
  if (!st) return ERR_NOMEM;
  AVCodecParameters *par = st->codecpar;
  par->codec_type = AVMEDIA_TYPE_VIDEO;
  par->codec_id = cfg->video_codec == CODEC_HEVC ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
  par->width = cfg->width;
  par->height = cfg->height;
  st->time_base = (AVRational){1, 1000};
  if (cfg->framerate > 0) st->avg_frame_rate = av_d2q(cfg->framerate, 100000);
  m->vcodec = cfg->video_codec;
  m->index[S_VIDEO] = st->index;
  int rc = hls_config_ps(cfg->video_codec, cfg->video_extradata, cfg->video_extradata_len,
                         &m->nal_len, &m->ps, &m->ps_len);
  if (rc) return rc;
  if (m->fmt == HLS_FMP4) {
    /* Safari plays HEVC only as hvc1 (parameter sets in the sample entry). */
    if (cfg->video_codec == CODEC_HEVC) par->codec_tag = MKTAG('h', 'v', 'c', '1');
    return set_extradata(par, cfg->video_extradata, cfg->video_extradata_len);
  }
  return 0; /* TS carries the parameter sets in-band */
}

static int add_audio(hls__mux_t *m, const media_config_t *cfg) {
  if (cfg->audio_codec != CODEC_AAC) return ERR_UNSUPPORTED;
  if (hls_asc_parse(cfg->audio_extradata, cfg->audio_extradata_len, &m->asc)) return ERR_INVALID;
  AVStream *st = avformat_new_stream(m->ctx, NULL);
  if (!st) return ERR_NOMEM;
  AVCodecParameters *par = st->codecpar;
  par->codec_type = AVMEDIA_TYPE_AUDIO;
  par->codec_id = AV_CODEC_ID_AAC;
  par->sample_rate = cfg->sample_rate > 0 ? cfg->sample_rate : m->asc.out_rate;
  int ch = cfg->channels > 0 ? cfg->channels : (m->asc.channels ? m->asc.channels : 2);
  av_channel_layout_default(&par->ch_layout, ch);
  par->frame_size = m->asc.samples;
  st->time_base = (AVRational){1, 1000};
  m->index[S_AUDIO] = st->index;
  m->adts = m->fmt == HLS_TS && m->asc.aot >= 1 && m->asc.aot <= 4 && m->asc.sr_index < 13 &&
            m->asc.channels > 0 && m->asc.channels < 8;
  /* Without ADTS from us, mpegts wraps the raw frames itself from the ASC. */
  if (m->fmt == HLS_FMP4 || !m->adts)
    return set_extradata(par, cfg->audio_extradata, cfg->audio_extradata_len);
  return 0;
}

void hls__mux_free(hls__mux_t *m) {
  if (!m) return;
  /* No trailer: everything was flushed at the last cut; freeing the context
   * runs the muxer's deinit. */
  avformat_free_context(m->ctx);
  if (m->pb) {
    av_freep(&m->pb->buffer);
    avio_context_free(&m->pb);
  }
  av_packet_free(&m->pkt);
  wbuf_drop(&m->w);
  free(m->ps);
  free(m->conv.data);
  free(m);
}

int hls__mux_new(hls_format_t fmt, const media_config_t *cfg, hls__mux_t **out,
                 hls_buf_t **init) {
  *out = NULL;
  if (init) *init = NULL;
  if (cfg->video_codec == CODEC_NONE && cfg->audio_codec == CODEC_NONE) return ERR_INVALID;
  hls__mux_t *m = calloc(1, sizeof(*m));
  if (!m) return ERR_NOMEM;
  m->fmt = fmt;
  m->index[0] = m->index[1] = -1;
  m->last_dts[0] = m->last_dts[1] = AV_NOPTS_VALUE;
  m->audio_next = AV_NOPTS_VALUE;
  AVDictionary *opts = NULL;
  int rc = ERR_NOMEM, ret;
  if (avformat_alloc_output_context2(&m->ctx, NULL, fmt == HLS_TS ? "mpegts" : "mp4", NULL) < 0)
    goto err;
  uint8_t *iobuf = av_malloc(IOBUF_SIZE);
  if (!iobuf) goto err;
  m->pb = avio_alloc_context(iobuf, IOBUF_SIZE, 1, &m->w, NULL, wbuf_write, NULL);
  if (!m->pb) {
    av_free(iobuf);
    goto err;
  }
  m->ctx->pb = m->pb;
  /* Not pb->direct: movenc patches box sizes by seeking back inside the
   * AVIO buffer, which direct writes would already have flushed. */
  if (!(m->pkt = av_packet_alloc())) goto err;
  if ((cfg->video_codec != CODEC_NONE && (rc = add_video(m, cfg))) ||
      (cfg->audio_codec != CODEC_NONE && (rc = add_audio(m, cfg))))
    goto err;
  if (fmt == HLS_TS) {
    /* PCR 0.7 s ahead of the first DTS, as the ffmpeg CLI does by default. */
    m->ctx->max_delay = 700000;
  } else {
    /* frag_custom: fragments are cut only by our flush, at keyframes.
     * empty_moov: the header is a self-contained init segment.
     * frag_discont: tfdt follows the input timestamps, so audio and video
     * keep their relative offset. */
    av_dict_set(&opts, "movflags",
                "+frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer", 0);
    av_dict_set(&opts, "use_editlist", "0", 0);
    m->ctx->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
  }
  ret = avformat_write_header(m->ctx, &opts);
  if (ret < 0) {
    log_error("hls_mux_header_failed format=%s err=%s", fmt == HLS_TS ? "ts" : "fmp4",
              av_err2str(ret));
    rc = ERR_INVALID;
    goto err;
  }
  avio_flush(m->pb);
  if (m->pb->error < 0) {
    rc = ERR_NOMEM;
    goto err;
  }
  if (m->index[S_AUDIO] >= 0) {
    AVStream *st = m->ctx->streams[m->index[S_AUDIO]];
    int64_t num = (int64_t)m->asc.samples * st->time_base.den;
    int64_t den = (int64_t)m->asc.rate * st->time_base.num;
    m->audio_dur = (num + den / 2) / den;
    m->audio_exact = num % den == 0;
  }
  if (fmt == HLS_FMP4 && init) {
    if (!(*init = wbuf_take(&m->w))) {
      rc = ERR_INTERNAL;
      goto err;
    }
  }
  av_dict_free(&opts);
  *out = m;
  return 0;
err:
  av_dict_free(&opts);
  hls__mux_free(m);
  return rc;
}

int hls__mux_write(hls__mux_t *m, const media_frame_t *f, int64_t dts_ms, int64_t pts_ms,
                   int64_t dur_ms) {
  int kind = f->kind == MEDIA_VIDEO ? S_VIDEO : S_AUDIO;
  int idx = m->index[kind];
  if (idx < 0) return ERR_INVALID;
  AVStream *st = m->ctx->streams[idx];
  const AVRational ms = {1, 1000};
  int64_t dts = av_rescale_q(dts_ms, ms, st->time_base);
  int64_t pts = av_rescale_q(pts_ms, ms, st->time_base);
  int64_t dur;
  if (kind == S_AUDIO) {
    /* Millisecond timestamps jitter around the true sample clock; where a
     * frame is exactly a whole number of ticks, keep the audio contiguous. */
    dur = m->audio_dur;
    if (m->audio_exact && m->audio_next != AV_NOPTS_VALUE && llabs(dts - m->audio_next) <= dur / 2)
      dts = m->audio_next;
    pts = dts;
  } else {
    dur = av_rescale_q(dur_ms, ms, st->time_base);
  }
  /* Muxers refuse a dts that does not increase; rounding must not cause one. */
  if (m->last_dts[kind] != AV_NOPTS_VALUE && dts <= m->last_dts[kind]) {
    pts += m->last_dts[kind] + 1 - dts;
    dts = m->last_dts[kind] + 1;
  }
  if (pts < dts) pts = dts;
  const uint8_t *data = f->data;
  size_t len = f->len;
  int rc = 0;
  if (m->fmt == HLS_TS) {
    if (kind == S_VIDEO) {
      rc = hls_annexb_au(m->vcodec, m->nal_len, m->ps, m->ps_len, f, &m->conv, &len);
      data = m->conv.data;
    }
    else if (m->adts)
      rc = to_adts(m, f, &data, &len);
  }
  if (rc) return rc;
  if (len == 0 || len > INT32_MAX) return ERR_PROTOCOL;
  AVPacket *pkt = m->pkt;
  pkt->data = (uint8_t *)data; /* not refcounted: the muxer copies what it keeps */
  pkt->size = (int)len;
  pkt->stream_index = idx;
  pkt->dts = dts;
  pkt->pts = pts;
  pkt->duration = dur;
  pkt->flags = (kind == S_AUDIO || f->keyframe) ? AV_PKT_FLAG_KEY : 0;
  pkt->pos = -1;
  int ret = av_write_frame(m->ctx, pkt);
  av_packet_unref(pkt);
  if (ret < 0) {
    log_debug("hls_mux_write_failed format=%s kind=%s dts=%lld err=%s",
              m->fmt == HLS_TS ? "ts" : "fmp4", kind == S_VIDEO ? "video" : "audio",
              (long long)dts_ms, av_err2str(ret));
    return ERR_IO; /* the caller logs the drop, rate-limited */
  }
  m->last_dts[kind] = dts;
  if (kind == S_AUDIO) m->audio_next = dts + dur;
  return 0;
}

void hls__mux_prepare(hls__mux_t *m) { wbuf_prepare(&m->w); }

/* Writes out what the muxer still holds (mpegts: the audio PES it was
 * filling; mp4: a fragment, moof + mdat, of everything since the last
 * flush). On failure the open segment is lost. */
static int mux_flush(hls__mux_t *m) {
  int ret = av_write_frame(m->ctx, NULL);
  avio_flush(m->pb);
  if (ret < 0 || m->pb->error < 0) {
    log_warn("hls_mux_cut_failed format=%s err=%s", m->fmt == HLS_TS ? "ts" : "fmp4",
             av_err2str(ret < 0 ? ret : m->pb->error));
    m->pb->error = 0; /* the next segment starts clean */
    wbuf_drop(&m->w);
    m->part_off = 0;
    return ERR_IO;
  }
  return 0;
}

/* A copy of the open segment's bytes since the last part (NULL when there
 * are none or on allocation failure; *err tells which). */
static hls_buf_t *take_part(hls__mux_t *m, int *err) {
  size_t len = m->w.b ? m->w.b->len : 0;
  *err = 0;
  if (len <= m->part_off) return NULL;
  hls_buf_t *b = malloc(sizeof(*b) + (len - m->part_off));
  if (!b) {
    *err = ERR_NOMEM;
    return NULL;
  }
  b->refcount = 1;
  b->len = len - m->part_off;
  b->data = (uint8_t *)(b + 1);
  b->fd = -1;
  memcpy(b->data, (uint8_t *)(m->w.b + 1) + m->part_off, b->len);
  m->part_off = len;
  return b;
}

int hls__mux_part(hls__mux_t *m, hls_buf_t **part) {
  *part = NULL;
  int rc = mux_flush(m);
  if (rc) return rc;
  *part = take_part(m, &rc);
  return rc;
}

int hls__mux_cut(hls__mux_t *m, hls_buf_t **seg, hls_buf_t **tail) {
  *seg = NULL;
  if (tail) *tail = NULL;
  int rc = mux_flush(m);
  if (rc) return rc;
  if (tail && !(*tail = take_part(m, &rc)) && rc) {
    wbuf_drop(&m->w);
    m->part_off = 0;
    return rc;
  }
  *seg = wbuf_take(&m->w);
  m->part_off = 0;
  /* Every TS segment starts with PAT/PMT so it decodes on its own. */
  if (m->fmt == HLS_TS) av_opt_set(m->ctx->priv_data, "mpegts_flags", "+resend_headers", 0);
  return 0;
}
