/* aac_conv.c — any decodable audio → AAC-LC frames (see aac_conv.h). */
#include "media/audio/aac_conv.h"

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

/* An input pts further than this from the output clock restarts the clock,
 * except when the output is ahead by up to MAX_SKIP_MS: then input is
 * skipped until it catches up (a backward jump would go back in time). */
#define RESYNC_MS 200
#define MAX_SKIP_MS 2000

struct aac_conv {
  char label[64];
  AVCodecContext *dec, *enc;
  AVCodecParserContext *parser; /* MP3 only: splits input into whole frames */
  SwrContext *swr;
  /* What swr was set up for: a decoded frame of another shape rebuilds it. */
  int swr_rate, swr_fmt;
  AVChannelLayout swr_layout;
  AVAudioFifo *fifo; /* converted samples waiting for a whole AAC frame */
  AVFrame *decoded, *chunk;
  AVPacket *in, *out;
  uint8_t **conv; /* swr output planes, conv_cap samples each */
  int conv_cap;
  int64_t enc_next; /* pts (samples) of the next frame given to the encoder */
  int started;
  int64_t base_ms, base_samples; /* base_ms is the time of sample position base_samples */
  uint64_t errors, resyncs;
  int warned;
};

aac_conv_output_t aac_conv_output_for(int sample_rate, int channels) {
  static const int rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
  aac_conv_output_t o = {44100, channels == 1 ? 1 : 2};
  if (sample_rate <= 0) return o;
  o.sample_rate = rates[0];
  for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
    if (abs(rates[i] - sample_rate) < abs(o.sample_rate - sample_rate)) o.sample_rate = rates[i];
  return o;
}

static AVCodecContext *open_decoder(const aac_conv_input_t *in, const char *label) {
  const AVCodec *codec = avcodec_find_decoder((enum AVCodecID)in->codec_id);
  if (!codec) {
    log_warn("aac_conv_no_decoder stream=%s codec=%d", label, in->codec_id);
    return NULL;
  }
  AVCodecContext *d = avcodec_alloc_context3(codec);
  if (!d) return NULL;
  d->sample_rate = in->sample_rate > 0 ? in->sample_rate : 44100;
  av_channel_layout_default(&d->ch_layout, in->channels == 1  ? 1
                                           : in->channels > 0 ? in->channels
                                                              : 2);
  if (in->bits_per_sample > 0) d->bits_per_coded_sample = in->bits_per_sample;
  if (in->extradata_len > 0) {
    d->extradata = av_mallocz(in->extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!d->extradata) goto fail;
    memcpy(d->extradata, in->extradata, in->extradata_len);
    d->extradata_size = (int)in->extradata_len;
  }
  if (avcodec_open2(d, codec, NULL) < 0) {
    log_warn("aac_conv_decoder_failed stream=%s codec=%s", label, codec->name);
    goto fail;
  }
  return d;
fail:
  avcodec_free_context(&d);
  return NULL;
}

static AVCodecContext *open_encoder(int rate, int channels, const char *label) {
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (!codec) return NULL;
  AVCodecContext *e = avcodec_alloc_context3(codec);
  if (!e) return NULL;
  e->sample_fmt = AV_SAMPLE_FMT_FLTP;
  e->sample_rate = rate;
  av_channel_layout_default(&e->ch_layout, channels);
  /* 64 kbit/s per channel, within what AAC can carry at low rates */
  int64_t br = 64000LL * channels, cap = 6LL * rate * channels;
  e->bit_rate = br < cap ? br : cap;
  e->time_base = (AVRational){1, rate};
  e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* extradata = AudioSpecificConfig */
  if (avcodec_open2(e, codec, NULL) < 0 || e->extradata_size < 2 || e->frame_size <= 0) {
    log_warn("aac_conv_encoder_failed stream=%s rate=%d channels=%d", label, rate, channels);
    avcodec_free_context(&e);
    return NULL;
  }
  return e;
}

aac_conv_t *aac_conv_new(const aac_conv_input_t *in, const aac_conv_output_t *out,
                         const char *label) {
  aac_conv_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  snprintf(c->label, sizeof(c->label), "%s", label ? label : "-");
  aac_conv_output_t o = aac_conv_output_for(out->sample_rate, out->channels);
  int channels = o.channels, rate = o.sample_rate;
  if (!(c->dec = open_decoder(in, c->label)) ||
      !(c->enc = open_encoder(rate, channels, c->label)) ||
      !(c->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, channels, c->enc->frame_size * 4)) ||
      !(c->decoded = av_frame_alloc()) || !(c->chunk = av_frame_alloc()) ||
      !(c->in = av_packet_alloc()) || !(c->out = av_packet_alloc())) {
    aac_conv_free(c);
    return NULL;
  }
  c->chunk->format = AV_SAMPLE_FMT_FLTP;
  c->chunk->sample_rate = rate;
  c->chunk->nb_samples = c->enc->frame_size;
  if (av_channel_layout_copy(&c->chunk->ch_layout, &c->enc->ch_layout) < 0 ||
      av_frame_get_buffer(c->chunk, 0) < 0) {
    aac_conv_free(c);
    return NULL;
  }
  if (in->codec_id == AV_CODEC_ID_MP3)
    c->parser = av_parser_init(AV_CODEC_ID_MP3); /* may be NULL */
  log_info("aac_conv_start stream=%s from=%s rate=%d channels=%d to_rate=%d to_channels=%d",
           c->label, c->dec->codec->name, in->sample_rate, in->channels, rate, channels);
  return c;
}

void aac_conv_free(aac_conv_t *c) {
  if (!c) return;
  if (c->parser) av_parser_close(c->parser);
  avcodec_free_context(&c->dec);
  avcodec_free_context(&c->enc);
  swr_free(&c->swr);
  av_channel_layout_uninit(&c->swr_layout);
  if (c->fifo) av_audio_fifo_free(c->fifo);
  av_frame_free(&c->decoded);
  av_frame_free(&c->chunk);
  av_packet_free(&c->in);
  av_packet_free(&c->out);
  if (c->conv) av_freep(&c->conv[0]);
  av_freep(&c->conv);
  free(c);
}

int aac_conv_sample_rate(const aac_conv_t *c) {
  return c->enc->sample_rate;
}
int aac_conv_channels(const aac_conv_t *c) {
  return c->enc->ch_layout.nb_channels;
}

const uint8_t *aac_conv_asc(const aac_conv_t *c, size_t *len) {
  *len = (size_t)c->enc->extradata_size;
  return c->enc->extradata;
}

int aac_conv_fill_config(const aac_conv_t *c, media_config_t *cfg) {
  uint8_t *asc = malloc((size_t)c->enc->extradata_size);
  if (!asc) return ERR_NOMEM;
  memcpy(asc, c->enc->extradata, (size_t)c->enc->extradata_size);
  free(cfg->audio_extradata);
  cfg->audio_extradata = asc;
  cfg->audio_extradata_len = (size_t)c->enc->extradata_size;
  cfg->audio_codec = CODEC_AAC;
  cfg->sample_rate = aac_conv_sample_rate(c);
  cfg->channels = aac_conv_channels(c);
  return 0;
}

uint64_t aac_conv_errors(const aac_conv_t *c) {
  return c->errors;
}

static int64_t samples_to_ms(const aac_conv_t *c, int64_t pos) {
  return c->base_ms + av_rescale(pos - c->base_samples, 1000, c->enc->sample_rate);
}

/* (Re)builds the resampler when a decoded frame's shape differs from the last. */
static int ensure_swr(aac_conv_t *c, const AVFrame *f) {
  if (c->swr && c->swr_rate == f->sample_rate && c->swr_fmt == f->format &&
      av_channel_layout_compare(&c->swr_layout, &f->ch_layout) == 0)
    return 0;
  swr_free(&c->swr);
  av_channel_layout_uninit(&c->swr_layout);
  if (swr_alloc_set_opts2(&c->swr, &c->enc->ch_layout, AV_SAMPLE_FMT_FLTP, c->enc->sample_rate,
                          (AVChannelLayout *)&f->ch_layout, f->format, f->sample_rate, 0,
                          NULL) < 0 ||
      swr_init(c->swr) < 0 || av_channel_layout_copy(&c->swr_layout, &f->ch_layout) < 0) {
    swr_free(&c->swr);
    return ERR_INVALID;
  }
  c->swr_rate = f->sample_rate;
  c->swr_fmt = f->format;
  return 0;
}

/* Sends the encoder's finished packets to emit. */
static int drain_encoder(aac_conv_t *c, aac_conv_emit_fn emit, void *ud) {
  for (;;) {
    int r = avcodec_receive_packet(c->enc, c->out);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
    if (r < 0) return ERR_INVALID;
    /* The encoder's pts include its priming: the first packet (pts < 0)
     * holds only the encoder delay, before the first input sample. It is
     * dropped so that the stream's audio starts at the first input's time,
     * and every later packet is at its input's time. */
    if (c->out->pts < 0) {
      av_packet_unref(c->out);
      continue;
    }
    media_frame_t *f = media_frame_new((size_t)c->out->size);
    if (!f) {
      av_packet_unref(c->out);
      return ERR_NOMEM;
    }
    memcpy(f->data, c->out->data, (size_t)c->out->size);
    f->kind = MEDIA_AUDIO;
    f->codec = CODEC_AAC;
    f->keyframe = 1;
    f->dts = f->pts = samples_to_ms(c, c->out->pts);
    av_packet_unref(c->out);
    emit(ud, f);
  }
}

/* Encodes every whole AAC frame the fifo holds. */
static int encode_ready(aac_conv_t *c, aac_conv_emit_fn emit, void *ud) {
  int n = c->enc->frame_size;
  while (av_audio_fifo_size(c->fifo) >= n) {
    if (av_frame_make_writable(c->chunk) < 0) return ERR_NOMEM;
    if (av_audio_fifo_read(c->fifo, (void **)c->chunk->data, n) != n) return ERR_INVALID;
    c->chunk->pts = c->enc_next;
    c->enc_next += n;
    if (avcodec_send_frame(c->enc, c->chunk) < 0) return ERR_INVALID;
    int rc = drain_encoder(c, emit, ud);
    if (rc) return rc;
  }
  return 0;
}

/* Resamples one decoded frame into the fifo. */
static int queue_decoded(aac_conv_t *c, const AVFrame *f) {
  if (ensure_swr(c, f) != 0) return ERR_INVALID;
  int want = swr_get_out_samples(c->swr, f->nb_samples);
  if (want > c->conv_cap) {
    if (c->conv) av_freep(&c->conv[0]);
    av_freep(&c->conv);
    c->conv_cap = 0;
    if (av_samples_alloc_array_and_samples(&c->conv, NULL, c->enc->ch_layout.nb_channels, want,
                                           AV_SAMPLE_FMT_FLTP, 0) < 0)
      return ERR_NOMEM;
    c->conv_cap = want;
  }
  int got =
      swr_convert(c->swr, c->conv, c->conv_cap, (const uint8_t **)f->extended_data, f->nb_samples);
  if (got < 0) return ERR_INVALID;
  if (got > 0 && av_audio_fifo_write(c->fifo, (void **)c->conv, got) < got) return ERR_NOMEM;
  return 0;
}

/* Keeps the output clock on the input's. A gap or a jump restarts it at the
 * input's time. When the output runs a little ahead (input slower than its
 * announced rate), input is skipped until it catches up, so the output never
 * goes back in time. 0 when this input frame is to be skipped. */
static int follow_clock(aac_conv_t *c, int64_t pts_ms) {
  int64_t pos = c->enc_next + av_audio_fifo_size(c->fifo);
  if (c->started) {
    int64_t d = pts_ms - samples_to_ms(c, pos);
    if (d <= RESYNC_MS && d >= -RESYNC_MS) return 1;
    if (d < -RESYNC_MS && d >= -MAX_SKIP_MS) return 0;
    /* Input whose rate is not what its header says drifts all the time: the
     * first few and then every 100th. */
    if (++c->resyncs <= 3 || c->resyncs % 100 == 0)
      log_info("aac_conv_resync stream=%s drift_ms=%lld resyncs=%llu", c->label, (long long)d,
               (unsigned long long)c->resyncs);
  }
  av_audio_fifo_reset(c->fifo); /* part of a frame at the old clock: dropped */
  c->started = 1;
  c->base_samples = c->enc_next;
  c->base_ms = pts_ms;
  return 1;
}

/* Decodes one whole compressed frame into the fifo. 0 or ERR_NOMEM; frames
 * the decoder or the resampler refuse are counted and skipped. */
static int decode(aac_conv_t *c, const uint8_t *data, size_t len) {
  av_packet_unref(c->in);
  if (av_new_packet(c->in, (int)len) < 0) return ERR_NOMEM;
  memcpy(c->in->data, data, len);
  int r = avcodec_send_packet(c->dec, c->in);
  av_packet_unref(c->in);
  int rc = 0, bad = r < 0;
  /* Every decoded frame is taken out, even after an error, so the next
   * packet is not refused with EAGAIN. */
  while (avcodec_receive_frame(c->dec, c->decoded) >= 0) {
    if (rc == 0) {
      rc = queue_decoded(c, c->decoded);
      if (rc == ERR_INVALID) bad = 1, rc = 0; /* a shape the resampler cannot take */
    }
    av_frame_unref(c->decoded);
  }
  if (bad) {
    c->errors++;
    if (!c->warned) {
      c->warned = 1;
      log_warn("aac_conv_bad_frame stream=%s codec=%s len=%zu action=skip", c->label,
               c->dec->codec->name, len);
    }
  }
  return rc;
}

int aac_conv_feed(aac_conv_t *c, const uint8_t *data, size_t len, int64_t pts_ms,
                  aac_conv_emit_fn emit, void *ud) {
  if (len == 0 || len > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE) return 0;
  if (!follow_clock(c, pts_ms)) return 0;
  int rc = 0;
  if (!c->parser) {
    rc = decode(c, data, len);
  } else {
    /* MP3 frames may straddle FLV tags (libavformat parses them too). */
    while (rc == 0 && len > 0) {
      uint8_t *frame;
      int flen;
      int used = av_parser_parse2(c->parser, c->dec, &frame, &flen, data, (int)len, AV_NOPTS_VALUE,
                                  AV_NOPTS_VALUE, 0);
      if (used < 0) break;
      data += used;
      len -= (size_t)used;
      if (flen > 0) rc = decode(c, frame, (size_t)flen);
      if (used == 0 && flen == 0) break;
    }
  }
  return rc ? rc : encode_ready(c, emit, ud);
}
