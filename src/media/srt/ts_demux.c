#include "media/srt/ts_demux.h"

#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "media/audio/aac_conv.h"
#include "media/avc_config.h"
#include "media/hevc_config.h"
#include "media/sps_size.h"
#include "media/ts_clock.h"

#define AVIO_BUF_SIZE (64 * 1024)
#define DEFAULT_MAX_BUFFER (4u * 1024 * 1024)
/* Input that gave no packet at all: libavformat's H.264/HEVC parser
 * gathers bytes until the next frame starts, without a limit of its own. */
#define MAX_BYTES_WITHOUT_PACKET (32u << 20)

struct ts_demux {
  ts_demux_sink_t sink;
  void *ud;

  /* input: a memory buffer (ts_demux_buffer) or the bounded ring (push mode) */
  const uint8_t *mem;
  size_t mem_len, mem_off;
  int threaded;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint8_t *ring; /* guarded by mu: ring, cap, head, len, eof */
  size_t cap, head, len;
  int eof;
  atomic_int abort;
  atomic_int stopped;
  atomic_uint_fast64_t dropped;

  /* demux state (the demux thread only) */
  AVFormatContext *fmt;
  AVIOContext *avio;
  int vidx, aidx;      /* chosen streams, -1 until seen */
  int started;         /* first video keyframe emitted (or no video) */
  int warned[16];      /* unsupported stream indexes already logged */
  int warned_config;   /* parameter sets that make no decoder configuration, logged */
  media_config_t cfg;  /* what the sink was last told */
  int cfg_dirty;
  uint8_t *vps, *sps, *pps; /* the latest in-band parameter sets (vps: HEVC) */
  size_t vps_len, sps_len, pps_len;
  ts_clock_t clock;    /* source ms → one timeline (jumps, kinds in step) */
  int have_base;
  int64_t base;        /* the first frame's time on that clock: output starts at 0 */
  int64_t first_video_src; /* source ms of the first video frame emitted */
  int64_t last_dts[2]; /* per kind, for monotonic output */
  size_t since_packet; /* input bytes read since av_read_frame last gave a packet */
  int starved;         /* ... and that passed MAX_BYTES_WITHOUT_PACKET */
  int emitted[2];
  char label[64];      /* the source, in logs */
  aac_conv_t *aconv;   /* audio that is not AAC (MP2, MP3, AC-3, …) becomes AAC */
  int aconv_codec;     /* the AVCodecID it decodes */
  int aconv_failed;    /* AVCodecID no converter could be made for: dropped */
};

/* ---------------- conversions ---------------- */

/* Position of the next 00 00 01 at or after i, or len. */
static size_t next_start_code(const uint8_t *p, size_t len, size_t i) {
  while (i + 3 <= len) {
    if (p[i + 2] > 1)
      i += 3;
    else if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)
      return i;
    else
      i++;
  }
  return len;
}

int ts_demux_annexb_to_length_prefixed(const uint8_t *in, size_t len, media_codec_t codec,
                                       uint8_t **out, size_t *outlen, ts_nal_scan_t *scan) {
  *out = NULL;
  *outlen = 0;
  memset(scan, 0, sizeof(*scan));
  const int hevc = codec == CODEC_HEVC;
  size_t sc = next_start_code(in, len, 0);
  if (sc == len) return ERR_INVALID;
  /* Two passes: size, then copy (one allocation per frame). */
  uint8_t *buf = NULL;
  size_t total = 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t o = 0;
    for (size_t i = sc; i < len;) {
      size_t start = i + 3, end = next_start_code(in, len, start);
      size_t e = end;
      while (e > start && in[e - 1] == 0) e--; /* trailing_zero_8bits / 4-byte start codes */
      i = end;
      if (e - start < (hevc ? 2u : 1u)) continue; /* not even a NAL unit header */
      size_t n = e - start;
      const uint8_t *nal = in + start;
      int type = media_nal_type(codec, nal[0]);
      if (type == (hevc ? HEVC_NAL_AUD : 9)) continue; /* the packager writes its own */
      if (pass == 0) {
        if (n > UINT32_MAX) return ERR_INVALID;
        if (hevc && hevc_nal_layer(nal) == 0) { /* the base layer's, which hvcC describes */
          if (type >= HEVC_NAL_IRAP_FIRST && type <= HEVC_NAL_IRAP_LAST) scan->key = 1;
          if (type == HEVC_NAL_VPS) scan->vps = nal, scan->vps_len = n;
          if (type == HEVC_NAL_SPS) scan->sps = nal, scan->sps_len = n;
          if (type == HEVC_NAL_PPS) scan->pps = nal, scan->pps_len = n;
        } else if (!hevc) {
          if (type == 5) scan->key = 1;
          if (type == 7 && n >= 4) scan->sps = nal, scan->sps_len = n; /* profile, level */
          if (type == 8) scan->pps = nal, scan->pps_len = n;
        }
        total += 4 + n;
      } else {
        buf[o] = (uint8_t)(n >> 24);
        buf[o + 1] = (uint8_t)(n >> 16);
        buf[o + 2] = (uint8_t)(n >> 8);
        buf[o + 3] = (uint8_t)n;
        memcpy(buf + o + 4, nal, n);
        o += 4 + n;
      }
    }
    if (pass == 0) {
      if (total == 0) return 0;
      if (!(buf = malloc(total))) return ERR_NOMEM;
    }
  }
  *out = buf;
  *outlen = total;
  return 0;
}

static const int adts_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                   22050, 16000, 12000, 11025, 8000,  7350};

int ts_demux_adts_parse(const uint8_t *p, size_t len, ts_adts_t *a) {
  memset(a, 0, sizeof(*a));
  if (len < 7) return ERR_AGAIN;
  if (p[0] != 0xff || (p[1] & 0xf6) != 0xf0) return ERR_INVALID; /* syncword, layer 0 */
  a->header_len = (p[1] & 1) ? 7 : 9;
  a->aot = ((p[2] >> 6) & 3) + 1;
  a->sr_index = (p[2] >> 2) & 0xf;
  a->channels = ((p[2] & 1) << 2) | (p[3] >> 6);
  a->frame_len = ((unsigned)(p[3] & 3) << 11) | ((unsigned)p[4] << 3) | (p[5] >> 5);
  if (a->sr_index >= 13 || a->aot == 4 /* reserved profile */) return ERR_INVALID;
  if ((p[6] & 3) != 0) return ERR_INVALID; /* several raw blocks per ADTS frame: not carried */
  if (a->frame_len <= a->header_len) return ERR_INVALID;
  if (a->frame_len > len) return ERR_AGAIN;
  a->sample_rate = adts_rates[a->sr_index];
  unsigned asc = (unsigned)a->aot << 11 | (unsigned)a->sr_index << 7 | (unsigned)a->channels << 3;
  a->asc[0] = (uint8_t)(asc >> 8);
  a->asc[1] = (uint8_t)asc;
  return 0;
}

/* ---------------- input ---------------- */

/* Counts input the demuxer reads; AVERROR_INVALIDDATA ends the demux when
 * too much of it has given no packet (see MAX_BYTES_WITHOUT_PACKET). */
static int count_input(ts_demux_t *d, size_t n) {
  d->since_packet += n;
  if (d->since_packet <= MAX_BYTES_WITHOUT_PACKET) return 0;
  d->starved = 1;
  return AVERROR_INVALIDDATA;
}

static int mem_read(void *opaque, uint8_t *buf, int size) {
  ts_demux_t *d = opaque;
  size_t n = d->mem_len - d->mem_off;
  if (n == 0) return AVERROR_EOF;
  if (n > (size_t)size) n = (size_t)size;
  if (count_input(d, n)) return AVERROR_INVALIDDATA;
  memcpy(buf, d->mem + d->mem_off, n);
  d->mem_off += n;
  return (int)n;
}

/* Push mode: blocks until bytes, end of input or abort. */
static int ring_read(void *opaque, uint8_t *buf, int size) {
  ts_demux_t *d = opaque;
  pthread_mutex_lock(&d->mu);
  while (d->len == 0 && !d->eof && !atomic_load(&d->abort)) pthread_cond_wait(&d->cv, &d->mu);
  int rc;
  size_t n = d->len < (size_t)size ? d->len : (size_t)size;
  if (atomic_load(&d->abort)) {
    rc = AVERROR_EXIT;
  } else if (n == 0) {
    rc = AVERROR_EOF;
  } else if (count_input(d, n)) {
    rc = AVERROR_INVALIDDATA;
  } else {
    size_t first = d->cap - d->head < n ? d->cap - d->head : n;
    memcpy(buf, d->ring + d->head, first);
    memcpy(buf + first, d->ring, n - first);
    d->head = (d->head + n) % d->cap;
    d->len -= n;
    rc = (int)n;
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

static int on_interrupt(void *opaque) {
  ts_demux_t *d = opaque;
  return atomic_load(&d->abort);
}

/* ---------------- output ---------------- */

static int set_bytes(uint8_t **dst, size_t *dlen, const uint8_t *p, size_t n) {
  if (*dst && *dlen == n && memcmp(*dst, p, n) == 0) return 0;
  uint8_t *c = malloc(n ? n : 1);
  if (!c) return ERR_NOMEM;
  memcpy(c, p, n);
  free(*dst);
  *dst = c;
  *dlen = n;
  return 1;
}

/* Source ms → output ms, continuous across clock jumps, monotonic per kind. */
static int64_t out_ts(ts_demux_t *d, int kind, int64_t src, int64_t *pts_delta) {
  int jumped;
  int64_t t = ts_clock_map(&d->clock, kind, (uint32_t)src, &jumped);
  if (jumped) log_info("ts_timestamp_jump source=%s kind=%s action=continue_timeline", d->label,
                       kind == MEDIA_VIDEO ? "video" : "audio");
  if (!d->have_base) {
    d->have_base = 1;
    d->base = t;
  }
  t -= d->base;
  if (kind == MEDIA_VIDEO && !d->emitted[kind]) d->first_video_src = src;
  if (d->emitted[kind] && t < d->last_dts[kind]) t = d->last_dts[kind];
  if (*pts_delta < 0) *pts_delta = 0;
  d->last_dts[kind] = t;
  d->emitted[kind] = 1;
  return t;
}

static void emit_config_if_dirty(ts_demux_t *d) {
  if (!d->cfg_dirty) return;
  d->cfg_dirty = 0;
  if (d->sink.on_config) d->sink.on_config(d->ud, &d->cfg);
}

static void emit(ts_demux_t *d, media_kind_t kind, const uint8_t *data, size_t len, int key,
                 int64_t src_dts, int64_t pts_delta) {
  media_frame_t *f = media_frame_new(len);
  if (!f) return;
  memcpy(f->data, data, len);
  f->kind = kind;
  f->codec = kind == MEDIA_VIDEO ? d->cfg.video_codec : d->cfg.audio_codec;
  f->keyframe = key;
  f->dts = out_ts(d, kind, src_dts, &pts_delta);
  f->pts = f->dts + pts_delta;
  emit_config_if_dirty(d);
  d->sink.on_frame(d->ud, f);
}

/* Audio config from the stream parameters, before any ADTS header is seen
 * (so the first config already announces the audio track). */
static void audio_from_codecpar(ts_demux_t *d, AVCodecParameters *par) {
  if (d->cfg.audio_codec == CODEC_AAC || par->sample_rate <= 0) return;
  int sr_index = -1;
  for (int i = 0; i < 13; i++)
    if (adts_rates[i] == par->sample_rate) sr_index = i;
  int ch = par->ch_layout.nb_channels;
  int aot = par->profile >= 0 && par->profile <= 3 ? par->profile + 1 : 2;
  if (sr_index < 0 || ch <= 0 || ch > 7) return;
  unsigned asc = (unsigned)aot << 11 | (unsigned)sr_index << 7 | (unsigned)ch << 3;
  uint8_t b[2] = {(uint8_t)(asc >> 8), (uint8_t)asc};
  if (set_bytes(&d->cfg.audio_extradata, &d->cfg.audio_extradata_len, b, 2) < 0) return;
  d->cfg.audio_codec = CODEC_AAC;
  d->cfg.sample_rate = par->sample_rate;
  d->cfg.channels = ch;
  d->cfg_dirty = 1;
}

/* Audio that is not AAC: a converter from the stream parameters, whose AAC
 * config goes into the stream's (aac_conv.h). 0 when it runs. */
static int converter_from_codecpar(ts_demux_t *d, const AVCodecParameters *par) {
  if (d->aconv && d->aconv_codec == (int)par->codec_id) return 0;
  if (d->aconv_failed == (int)par->codec_id) return ERR_UNSUPPORTED;
  aac_conv_free(d->aconv); /* the track changed codec (a new PMT) */
  d->aconv = NULL;
  aac_conv_input_t in = {.codec_id = par->codec_id,
                         .sample_rate = par->sample_rate,
                         .channels = par->ch_layout.nb_channels,
                         .bits_per_sample = par->bits_per_coded_sample,
                         .extradata = par->extradata,
                         .extradata_len = par->extradata_size > 0 ? (size_t)par->extradata_size : 0};
  aac_conv_output_t out = aac_conv_output_for(in.sample_rate, in.channels);
  d->aconv = aac_conv_new(&in, &out, d->label[0] ? d->label : "ts");
  if (!d->aconv || aac_conv_fill_config(d->aconv, &d->cfg) != 0) {
    aac_conv_free(d->aconv);
    d->aconv = NULL;
    d->aconv_failed = (int)par->codec_id;
    return ERR_UNSUPPORTED;
  }
  d->aconv_codec = (int)par->codec_id;
  d->cfg_dirty = 1;
  return 0;
}

/* Whether an audio stream is carried: AAC as is, others through a converter
 * when libavcodec has a decoder for them. */
static int audio_usable(const AVCodecParameters *par) {
  return par->codec_type == AVMEDIA_TYPE_AUDIO &&
         (par->codec_id == AV_CODEC_ID_AAC || avcodec_find_decoder(par->codec_id) != NULL);
}

/* The hub's codec for a TS video stream; CODEC_NONE when it is not carried. */
static media_codec_t video_codec_of(const AVCodecParameters *par) {
  if (par->codec_type != AVMEDIA_TYPE_VIDEO) return CODEC_NONE;
  if (par->codec_id == AV_CODEC_ID_H264) return CODEC_H264;
  if (par->codec_id == AV_CODEC_ID_HEVC) return CODEC_HEVC;
  return CODEC_NONE;
}

static int has_video_stream(ts_demux_t *d) {
  for (unsigned i = 0; i < d->fmt->nb_streams; i++)
    if (video_codec_of(d->fmt->streams[i]->codecpar) != CODEC_NONE) return 1;
  return 0;
}

static int64_t pkt_ms(const AVPacket *pkt, const AVStream *st, int64_t v) {
  (void)pkt;
  return av_rescale_q(v, st->time_base, (AVRational){1, 1000});
}

/* Keeps the newest copy of a parameter set; 1 when it changed. */
static int keep_param_set(uint8_t **dst, size_t *dlen, const uint8_t *p, size_t n) {
  return p && set_bytes(dst, dlen, p, n) > 0;
}

/* The decoder configuration (avcC / hvcC) from the parameter sets seen so
 * far, once all of them are there. */
static void update_video_config(ts_demux_t *d, media_codec_t codec, AVStream *st) {
  uint8_t *rec;
  size_t rlen;
  int rc = codec == CODEC_HEVC
               ? hevc_config_build(d->vps, d->vps_len, d->sps, d->sps_len, d->pps, d->pps_len,
                                   &rec, &rlen)
               : avc_config_build(d->sps, d->sps_len, d->pps, d->pps_len, &rec, &rlen);
  int complete = d->sps && d->pps && (codec != CODEC_HEVC || d->vps);
  if (rc != 0) {
    if (complete && !d->warned_config) {
      d->warned_config = 1;
      log_warn("ts_bad_parameter_sets codec=%s err=%s action=wait_for_valid_ones",
               codec == CODEC_HEVC ? "hevc" : "h264", err_str(rc));
    }
    return;
  }
  if (set_bytes(&d->cfg.video_extradata, &d->cfg.video_extradata_len, rec, rlen) > 0 ||
      d->cfg.video_codec != codec)
    d->cfg_dirty = 1;
  free(rec);
  d->cfg.video_codec = codec;
  /* The SPS's picture size, as the RTMP ingest does; the prober's when the
   * SPS does not parse. */
  int w = 0, h = 0;
  if (media_sps_size(codec, d->sps, d->sps_len, &w, &h) != 0) w = h = 0;
  d->cfg.width = w > 0 ? w : st->codecpar->width;
  d->cfg.height = h > 0 ? h : st->codecpar->height;
  AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  d->cfg.framerate = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
  if (d->cfg.framerate > 1000) d->cfg.framerate = 0;
}

static void on_video(ts_demux_t *d, AVPacket *pkt, AVStream *st) {
  media_codec_t codec = video_codec_of(st->codecpar);
  uint8_t *lp;
  size_t lplen;
  ts_nal_scan_t scan;
  if (ts_demux_annexb_to_length_prefixed(pkt->data, (size_t)pkt->size, codec, &lp, &lplen,
                                         &scan) != 0 ||
      lplen == 0)
    return;
  int changed = keep_param_set(&d->vps, &d->vps_len, scan.vps, scan.vps_len);
  changed |= keep_param_set(&d->sps, &d->sps_len, scan.sps, scan.sps_len);
  changed |= keep_param_set(&d->pps, &d->pps_len, scan.pps, scan.pps_len);
  if (changed) update_video_config(d, codec, st);
  int key = scan.key || (pkt->flags & AV_PKT_FLAG_KEY);
  if (d->cfg.video_codec != codec || (!d->started && !key)) {
    free(lp); /* not decodable yet: wait for a keyframe with its parameter sets */
    return;
  }
  if (!d->started) {
    d->started = 1;
    /* Announce the audio track with the first config when there is one. */
    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
      AVCodecParameters *par = d->fmt->streams[i]->codecpar;
      if (!audio_usable(par) || (d->aidx >= 0 && d->aidx != (int)i)) continue;
      d->aidx = (int)i; /* the announced track is the one carried */
      if (par->codec_id == AV_CODEC_ID_AAC)
        audio_from_codecpar(d, par);
      else
        (void)converter_from_codecpar(d, par); /* on failure the audio is dropped */
      break;
    }
  }
  int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  if (dts == AV_NOPTS_VALUE) {
    free(lp);
    return;
  }
  int64_t delta = pkt->pts != AV_NOPTS_VALUE ? pkt_ms(pkt, st, pkt->pts) - pkt_ms(pkt, st, dts) : 0;
  emit(d, MEDIA_VIDEO, lp, lplen, key, pkt_ms(pkt, st, dts), delta);
  free(lp);
}

/* A converted AAC frame (on its source clock) into the output. */
static void emit_converted(void *ud, media_frame_t *f) {
  ts_demux_t *d = ud;
  int64_t none = 0;
  f->dts = f->pts = out_ts(d, MEDIA_AUDIO, f->dts, &none);
  emit_config_if_dirty(d);
  d->sink.on_frame(d->ud, f);
}

static void on_audio(ts_demux_t *d, AVPacket *pkt, AVStream *st) {
  if (!d->started) return; /* the timeline starts at the first video keyframe */
  int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  if (dts == AV_NOPTS_VALUE) return;
  int64_t base = pkt_ms(pkt, st, dts);
  /* Audio from before the video's start point is not played. */
  if (has_video_stream(d) && !d->emitted[MEDIA_AUDIO] &&
      (!d->emitted[MEDIA_VIDEO] || base < d->first_video_src))
    return;
  if (st->codecpar->codec_id != AV_CODEC_ID_AAC) {
    if (converter_from_codecpar(d, st->codecpar) == 0)
      aac_conv_feed(d->aconv, pkt->data, (size_t)pkt->size, base, emit_converted, d);
    return;
  }
  const uint8_t *p = pkt->data;
  size_t left = (size_t)pkt->size;
  for (int i = 0; left > 0; i++) {
    ts_adts_t a;
    if (ts_demux_adts_parse(p, left, &a) != 0) return; /* not ADTS, or truncated: drop the rest */
    if (set_bytes(&d->cfg.audio_extradata, &d->cfg.audio_extradata_len, a.asc, 2) > 0 ||
        d->cfg.audio_codec != CODEC_AAC) {
      d->cfg.audio_codec = CODEC_AAC;
      d->cfg.sample_rate = a.sample_rate;
      d->cfg.channels = a.channels;
      d->cfg_dirty = 1;
    }
    int64_t t = base + (int64_t)i * 1024 * 1000 / a.sample_rate;
    emit(d, MEDIA_AUDIO, p + a.header_len, a.frame_len - a.header_len, 1, t, 0);
    p += a.frame_len;
    left -= a.frame_len;
  }
}

static void on_packet(ts_demux_t *d, AVPacket *pkt) {
  if (pkt->stream_index < 0 || (unsigned)pkt->stream_index >= d->fmt->nb_streams || pkt->size <= 0)
    return;
  AVStream *st = d->fmt->streams[pkt->stream_index];
  AVCodecParameters *par = st->codecpar;
  if (video_codec_of(par) != CODEC_NONE && (d->vidx < 0 || d->vidx == pkt->stream_index)) {
    d->vidx = pkt->stream_index;
    on_video(d, pkt, st);
  } else if (audio_usable(par) && (d->aidx < 0 || d->aidx == pkt->stream_index)) {
    d->aidx = pkt->stream_index;
    if (!d->started && !has_video_stream(d)) d->started = 1; /* audio-only */
    on_audio(d, pkt, st);
  } else if (pkt->stream_index < 16 && !d->warned[pkt->stream_index]) {
    d->warned[pkt->stream_index] = 1;
    log_warn("ts_unsupported_stream index=%d type=%s codec=%s", pkt->stream_index,
             av_get_media_type_string(par->codec_type) ? av_get_media_type_string(par->codec_type)
                                                        : "?",
             avcodec_get_name(par->codec_id));
  }
}

/* Open, probe and read to the end (or abort). */
static int demux_run(ts_demux_t *d) {
  d->vidx = d->aidx = -1;
  int rc = ERR_NOMEM;
  uint8_t *iobuf = av_malloc(AVIO_BUF_SIZE);
  d->fmt = avformat_alloc_context();
  if (!iobuf || !d->fmt) goto out;
  d->avio = avio_alloc_context(iobuf, AVIO_BUF_SIZE, 0, d, d->threaded ? ring_read : mem_read,
                               NULL, NULL);
  if (!d->avio) goto out;
  iobuf = NULL; /* owned by the AVIOContext now */
  d->fmt->pb = d->avio;
  d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  d->fmt->interrupt_callback = (AVIOInterruptCB){on_interrupt, d};
  /* A live source: decide quickly which streams there are; packets read
   * while probing are kept and returned by av_read_frame. */
  d->fmt->probesize = 2 * 1024 * 1024;
  d->fmt->max_analyze_duration = 1500 * 1000; /* µs */
  const AVInputFormat *ts = av_find_input_format("mpegts");
  if (avformat_open_input(&d->fmt, NULL, ts, NULL) < 0) {
    /* avformat_open_input frees the context on failure */
    rc = ERR_PROTOCOL;
    goto out;
  }
  if (avformat_find_stream_info(d->fmt, NULL) < 0) {
    rc = ERR_PROTOCOL;
    goto out;
  }
  AVPacket *pkt = av_packet_alloc();
  if (!pkt) goto out;
  rc = 0;
  while (!atomic_load(&d->abort)) {
    int r = av_read_frame(d->fmt, pkt);
    if (r < 0) break; /* end of input, abort, or an I/O error from the buffer */
    d->since_packet = 0;
    on_packet(d, pkt);
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  if (d->starved) {
    log_warn("ts_demux_no_frame source=%s bytes=%u action=close", d->label,
             MAX_BYTES_WITHOUT_PACKET);
    rc = ERR_PROTOCOL;
  }
out:
  av_free(iobuf);
  if (d->fmt) avformat_close_input(&d->fmt); /* custom IO: pb is ours */
  if (d->avio) {
    av_freep(&d->avio->buffer);
    avio_context_free(&d->avio);
  }
  return rc;
}

static void state_clear(ts_demux_t *d) {
  media_config_clear(&d->cfg);
  aac_conv_free(d->aconv);
  d->aconv = NULL;
  free(d->vps);
  free(d->sps);
  free(d->pps);
}

/* ---------------- push mode ---------------- */

static void *demux_thread(void *arg) {
  ts_demux_t *d = arg;
  int rc = demux_run(d);
  if (rc && !atomic_load(&d->abort)) log_info("ts_demux_stopped reason=%s", err_str(rc));
  atomic_store(&d->stopped, 1);
  return NULL;
}

int ts_demux_start(const ts_demux_sink_t *sink, void *ud, const ts_demux_opts_t *opts,
                   ts_demux_t **out) {
  ts_demux_t *d = calloc(1, sizeof(*d));
  if (!d) return ERR_NOMEM;
  d->sink = *sink;
  d->ud = ud;
  d->threaded = 1;
  d->cap = opts && opts->max_buffer ? opts->max_buffer : DEFAULT_MAX_BUFFER;
  if (opts && opts->label) snprintf(d->label, sizeof(d->label), "%s", opts->label);
  d->ring = malloc(d->cap);
  if (!d->ring) {
    free(d);
    return ERR_NOMEM;
  }
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  if (pthread_create(&d->thread, NULL, demux_thread, d) != 0) {
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d->ring);
    free(d);
    return ERR_INTERNAL;
  }
  *out = d;
  return 0;
}

int ts_demux_feed(ts_demux_t *d, const uint8_t *p, size_t n) {
  if (atomic_load(&d->stopped)) return ERR_IO;
  pthread_mutex_lock(&d->mu);
  int rc = 0;
  if (d->eof) {
    rc = ERR_IO;
  } else if (d->cap - d->len < n) {
    atomic_fetch_add(&d->dropped, n);
    rc = ERR_TOO_LARGE;
  } else {
    size_t tail = (d->head + d->len) % d->cap;
    size_t first = d->cap - tail < n ? d->cap - tail : n;
    memcpy(d->ring + tail, p, first);
    memcpy(d->ring, p + first, n - first);
    d->len += n;
    pthread_cond_signal(&d->cv);
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

void ts_demux_end(ts_demux_t *d) {
  pthread_mutex_lock(&d->mu);
  d->eof = 1;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

int ts_demux_stopped(ts_demux_t *d) { return atomic_load(&d->stopped); }

uint64_t ts_demux_dropped_bytes(ts_demux_t *d) { return atomic_load(&d->dropped); }

void ts_demux_free(ts_demux_t *d) {
  if (!d) return;
  pthread_mutex_lock(&d->mu);
  atomic_store(&d->abort, 1);
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
  state_clear(d);
  free(d->ring);
  free(d);
}

/* ---------------- whole buffer ---------------- */

int ts_demux_buffer(const uint8_t *buf, size_t len, const ts_demux_sink_t *sink, void *ud) {
  ts_demux_t *d = calloc(1, sizeof(*d));
  if (!d) return ERR_NOMEM;
  d->sink = *sink;
  d->ud = ud;
  d->mem = buf;
  d->mem_len = len;
  int rc = demux_run(d);
  state_clear(d);
  free(d);
  return rc;
}
