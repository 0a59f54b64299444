/* test_aac_conv.c — audio → AAC (media/audio/aac_conv.h) and which decoder
 * an FLV audio tag needs (media/audio/flv_audio.h).
 *
 * The input is real MP3 (and PCM) made here with libavcodec: a 440 Hz sine
 * encoded by libmp3lame at 48 kHz stereo, 1152 samples per frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/audio/aac_conv.h"
#include "media/audio/aac_worker.h"
#include "media/audio/flv_audio.h"

#define MAX_PKTS 200

typedef struct {
  uint8_t *data[MAX_PKTS];
  int len[MAX_PKTS];
  int n;
  int frame_size;
} packets_t;

/* n frames of a 48 kHz stereo sine, MP3 encoded. */
static void make_mp3(packets_t *out, int frames) {
  const AVCodec *codec = avcodec_find_encoder_by_name("libmp3lame");
  assert_non_null(codec);
  AVCodecContext *e = avcodec_alloc_context3(codec);
  e->sample_rate = 48000;
  e->sample_fmt = AV_SAMPLE_FMT_S16P;
  e->bit_rate = 128000;
  av_channel_layout_default(&e->ch_layout, 2);
  assert_int_equal(avcodec_open2(e, codec, NULL), 0);
  AVFrame *f = av_frame_alloc();
  f->nb_samples = e->frame_size;
  f->format = e->sample_fmt;
  f->sample_rate = 48000;
  av_channel_layout_copy(&f->ch_layout, &e->ch_layout);
  assert_int_equal(av_frame_get_buffer(f, 0), 0);
  AVPacket *p = av_packet_alloc();
  memset(out, 0, sizeof(*out));
  out->frame_size = e->frame_size;
  int64_t t = 0;
  for (int i = 0; i < frames + 4 && out->n < frames; i++) {
    for (int c = 0; c < 2; c++) {
      int16_t *s = (int16_t *)f->data[c];
      for (int k = 0; k < f->nb_samples; k++)
        s[k] = (int16_t)(8000 * sin(2 * M_PI * 440 * (double)(t + k) / 48000));
    }
    f->pts = t;
    t += f->nb_samples;
    assert_int_equal(avcodec_send_frame(e, f), 0);
    while (avcodec_receive_packet(e, p) == 0 && out->n < frames) {
      out->data[out->n] = malloc((size_t)p->size);
      memcpy(out->data[out->n], p->data, (size_t)p->size);
      out->len[out->n++] = p->size;
      av_packet_unref(p);
    }
  }
  av_packet_free(&p);
  av_frame_free(&f);
  avcodec_free_context(&e);
}

static void free_packets(packets_t *p) {
  for (int i = 0; i < p->n; i++) free(p->data[i]);
}

typedef struct {
  int64_t pts[4 * MAX_PKTS];
  size_t len[4 * MAX_PKTS];
  int n;
} got_t;

static void collect(void *ud, media_frame_t *f) {
  got_t *g = ud;
  assert_int_equal(f->kind, MEDIA_AUDIO);
  assert_int_equal(f->codec, CODEC_AAC);
  assert_int_equal(f->dts, f->pts);
  if (g->n < 4 * MAX_PKTS) {
    g->pts[g->n] = f->pts;
    g->len[g->n++] = f->len;
  }
  media_frame_unref(f);
}

static void test_mp3_to_aac(void **st) {
  (void)st;
  packets_t mp3;
  make_mp3(&mp3, 100); /* 100 × 24 ms = 2.4 s */
  assert_int_equal(mp3.n, 100);
  aac_conv_input_t in = {.codec_id = AV_CODEC_ID_MP3};
  aac_conv_output_t out = aac_conv_output_for(48000, 2);
  aac_conv_t *c = aac_conv_new(&in, &out, "t");
  assert_non_null(c);
  assert_int_equal(aac_conv_sample_rate(c), 48000);
  assert_int_equal(aac_conv_channels(c), 2);
  size_t asc_len;
  const uint8_t *asc = aac_conv_asc(c, &asc_len);
  /* AudioSpecificConfig: AAC-LC (2), 48 kHz (index 3), 2 channels */
  assert_true(asc_len >= 2);
  assert_int_equal(asc[0], 0x11);
  assert_int_equal(asc[1], 0x90);
  media_config_t cfg = {0};
  assert_int_equal(aac_conv_fill_config(c, &cfg), 0);
  assert_int_equal(cfg.audio_codec, CODEC_AAC);
  assert_int_equal(cfg.sample_rate, 48000);
  assert_memory_equal(cfg.audio_extradata, asc, asc_len);
  media_config_clear(&cfg);

  got_t g = {0};
  const int64_t start = 5000; /* the ingest's clock, ms */
  for (int i = 0; i < mp3.n; i++)
    assert_int_equal(aac_conv_feed(c, mp3.data[i], (size_t)mp3.len[i], start + i * 24, collect, &g), 0);
  /* 2.4 s in: about 112 AAC frames of 1024 samples, minus what is still in flight */
  assert_in_range(g.n, 105, 113);
  /* the first output frame starts at the first input's time; then 1024 samples apart */
  assert_int_equal(g.pts[0], start);
  for (int i = 1; i < g.n; i++) {
    int64_t want = start + (int64_t)i * 1024 * 1000 / 48000;
    assert_in_range(g.pts[i], want - 1, want + 1);
    assert_true(g.len[i] > 0);
  }
  assert_int_equal(aac_conv_errors(c), 0);

  /* A jump in the input clock (the encoder's timestamps skip 10 s): the
   * output follows it instead of carrying on from the old clock. */
  int before = g.n;
  for (int i = 0; i < 20; i++)
    aac_conv_feed(c, mp3.data[i], (size_t)mp3.len[i], start + 20000 + i * 24, collect, &g);
  assert_true(g.n > before + 5);
  assert_in_range(g.pts[g.n - 1], start + 20000, start + 20000 + 20 * 24);

  /* Garbage is skipped and counted; the converter keeps working. */
  uint8_t junk[300];
  memset(junk, 0x5a, sizeof(junk));
  assert_int_equal(aac_conv_feed(c, junk, sizeof(junk), start + 20000 + 20 * 24, collect, &g), 0);
  before = g.n;
  for (int i = 21; i < 60; i++)
    assert_int_equal(
        aac_conv_feed(c, mp3.data[i], (size_t)mp3.len[i], start + 20000 + i * 24, collect, &g), 0);
  assert_true(g.n > before + 20);
  aac_conv_free(c);
  free_packets(&mp3);
}

static void test_pcm_resampled_to_the_output(void **st) {
  (void)st;
  /* 8-bit unsigned mono PCM at 11025 Hz into a converter made for 22050 Hz
   * stereo (as a decoder restart keeps the first output): 1 s of input
   * gives about 1 s of output at 22050 Hz. */
  aac_conv_input_t in = {.codec_id = AV_CODEC_ID_PCM_U8, .sample_rate = 11025, .channels = 1,
                         .bits_per_sample = 8};
  aac_conv_output_t out = aac_conv_output_for(22050, 2);
  aac_conv_t *c = aac_conv_new(&in, &out, "t");
  assert_non_null(c);
  assert_int_equal(aac_conv_sample_rate(c), 22050);
  assert_int_equal(aac_conv_channels(c), 2);
  uint8_t pcm[1102]; /* 100 ms */
  for (size_t i = 0; i < sizeof(pcm); i++) pcm[i] = (uint8_t)(128 + 60 * sin(i * 0.25));
  got_t g = {0};
  for (int i = 0; i < 10; i++) aac_conv_feed(c, pcm, sizeof(pcm), i * 100, collect, &g);
  /* 1 s = 21.5 frames of 1024 at 22050 Hz, less the ones still in flight */
  assert_in_range(g.n, 18, 22);
  assert_int_equal(g.pts[0], 0);
  assert_in_range(g.pts[g.n - 1], (g.n - 1) * 1024 * 1000 / 22050 - 1, (g.n - 1) * 1024 * 1000 / 22050 + 1);
  aac_conv_free(c);
}

/* Output frames kept whole, to decode them again. */
typedef struct {
  media_frame_t *f[256];
  int n;
} frames_t;

static void keep(void *ud, media_frame_t *f) {
  frames_t *k = ud;
  if (k->n < 256)
    k->f[k->n++] = f;
  else
    media_frame_unref(f);
}

/* Where the sound is: 8 kHz mono PCM with silence and a loud burst at 1.0 s
 * (an AAC frame is 128 ms at this rate, so a frame of offset would show).
 * Decoding the AAC at the timestamps it was given puts the burst back at
 * 1.0 s: audio stays in sync with the video it came with. */
static void test_timestamps_keep_sync(void **st) {
  (void)st;
  aac_conv_input_t in = {.codec_id = AV_CODEC_ID_PCM_S16LE, .sample_rate = 8000, .channels = 1,
                         .bits_per_sample = 16};
  aac_conv_output_t out = aac_conv_output_for(8000, 1);
  aac_conv_t *c = aac_conv_new(&in, &out, "t");
  assert_non_null(c);
  static int16_t pcm[8000 * 2];
  for (int i = 8000; i < 8000 + 80; i++) pcm[i] = (i / 4) % 2 ? 30000 : -30000; /* 10 ms burst */
  frames_t k = {0};
  const int64_t start = 40000;
  for (int i = 0; i < 20; i++) /* 100 ms per input packet */
    assert_int_equal(aac_conv_feed(c, (uint8_t *)(pcm + i * 800), 1600, start + i * 100, keep, &k),
                     0);
  assert_true(k.n > 10);

  const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_AAC);
  AVCodecContext *d = avcodec_alloc_context3(codec);
  size_t asc_len;
  const uint8_t *asc = aac_conv_asc(c, &asc_len);
  d->extradata = av_mallocz(asc_len + AV_INPUT_BUFFER_PADDING_SIZE);
  memcpy(d->extradata, asc, asc_len);
  d->extradata_size = (int)asc_len;
  assert_int_equal(avcodec_open2(d, codec, NULL), 0);
  AVPacket *p = av_packet_alloc();
  AVFrame *fr = av_frame_alloc();
  double burst_ms = -1;
  for (int i = 0; i < k.n && burst_ms < 0; i++) {
    av_new_packet(p, (int)k.f[i]->len);
    memcpy(p->data, k.f[i]->data, k.f[i]->len);
    assert_int_equal(avcodec_send_packet(d, p), 0);
    av_packet_unref(p);
    while (avcodec_receive_frame(d, fr) >= 0) {
      const float *x = (const float *)fr->extended_data[0];
      for (int j = 0; j < fr->nb_samples && burst_ms < 0; j++)
        if (fabsf(x[j]) > 0.3f) burst_ms = (double)(k.f[i]->pts - start) + j * 1000.0 / 8000;
      av_frame_unref(fr);
    }
  }
  /* 1000 ms; AAC may smear a few ms ahead of a transient */
  assert_true(burst_ms > 985 && burst_ms < 1015);
  for (int i = 0; i < k.n; i++) media_frame_unref(k.f[i]);
  av_frame_free(&fr);
  av_packet_free(&p);
  avcodec_free_context(&d);
  aac_conv_free(c);
}

/* ---- aac_worker: the converter on a thread, results on the loop ---- */

typedef struct {
  aac_worker_t *w;
  int frames, after_stop;
  int64_t last_pts;
  int ordered;
  int stop_at; /* stop the worker from inside the callback at this frame */
  uv_timer_t timer;
} wctx_t;

static void on_wframe(void *ud, media_frame_t *f) {
  wctx_t *x = ud;
  if (!x->w) x->after_stop++;
  if (x->frames && f->pts <= x->last_pts) x->ordered = 0;
  x->last_pts = f->pts;
  x->frames++;
  media_frame_unref(f);
  if (x->w && x->frames == x->stop_at) {
    aac_worker_stop(x->w); /* from inside its own callback */
    x->w = NULL;
    uv_close((uv_handle_t *)&x->timer, NULL);
  }
}

static void on_wtimeout(uv_timer_t *t) {
  wctx_t *x = t->data;
  if (x->w) aac_worker_stop(x->w);
  x->w = NULL;
  uv_close((uv_handle_t *)t, NULL);
}

static void test_worker(void **st) {
  (void)st;
  packets_t mp3;
  make_mp3(&mp3, 100);
  uv_loop_t loop;
  uv_loop_init(&loop);
  wctx_t x = {.ordered = 1, .stop_at = 60};
  aac_conv_input_t in = {.codec_id = AV_CODEC_ID_MP3};
  aac_conv_output_t out = aac_conv_output_for(48000, 2);
  x.w = aac_worker_start(&loop, &in, &out, "t", on_wframe, &x);
  assert_non_null(x.w);
  media_config_t cfg = {0};
  assert_int_equal(aac_worker_fill_config(x.w, &cfg), 0); /* known before any frame */
  assert_int_equal(cfg.sample_rate, 48000);
  media_config_clear(&cfg);
  static uint8_t huge[70000];
  assert_int_equal(aac_worker_push(x.w, huge, sizeof(huge), 0), ERR_TOO_LARGE);
  for (int i = 0; i < mp3.n; i++) {
    int rc = aac_worker_push(x.w, mp3.data[i], (size_t)mp3.len[i], i * 24);
    assert_true(rc == 0 || rc == ERR_AGAIN); /* the queue holds 100 */
  }
  uv_timer_init(&loop, &x.timer);
  x.timer.data = &x;
  uv_timer_start(&x.timer, on_wtimeout, 10000, 0); /* a hung worker fails the test */
  uv_run(&loop, UV_RUN_DEFAULT); /* ends once the worker's handle is closed */
  assert_int_equal(x.frames, 60); /* stopped at 60 from its callback: none after */
  assert_int_equal(x.after_stop, 0);
  assert_true(x.ordered);
  assert_int_equal(uv_loop_close(&loop), 0);
  free_packets(&mp3);
}

static void test_output_rates(void **st) {
  (void)st;
  aac_conv_output_t o = aac_conv_output_for(0, 0);
  assert_int_equal(o.sample_rate, 44100);
  assert_int_equal(o.channels, 2);
  assert_int_equal(aac_conv_output_for(5512, 1).sample_rate, 8000);
  assert_int_equal(aac_conv_output_for(5512, 1).channels, 1);
  assert_int_equal(aac_conv_output_for(44100, 6).channels, 2); /* mixed down */
  assert_int_equal(aac_conv_output_for(96000, 2).sample_rate, 48000);
  assert_int_equal(aac_conv_output_for(22050, 2).sample_rate, 22050);
  assert_int_equal(aac_conv_output_for(47000, 2).sample_rate, 48000);
}

static void test_unknown_codec_refused(void **st) {
  (void)st;
  aac_conv_input_t in = {.codec_id = AV_CODEC_ID_NONE};
  aac_conv_output_t out = {44100, 2};
  assert_null(aac_conv_new(&in, &out, "t"));
}

/* An FLV legacy audio tag: SoundFormat, rate bits, size bit, type bit. */
static int tag_input(unsigned sf, unsigned rate, unsigned size, unsigned type,
                     aac_conv_input_t *in) {
  uint8_t tag[8] = {(uint8_t)(sf << 4 | rate << 2 | size << 1 | type), 1, 2, 3, 4, 5, 6, 7};
  flv_frame_t f;
  assert_int_equal(flv_parse_audio(tag, sizeof(tag), &f), 0);
  return flv_audio_input(&f, in);
}

static void test_flv_sound_formats(void **st) {
  (void)st;
  aac_conv_input_t in;
  assert_int_equal(tag_input(2, 3, 1, 1, &in), 0); /* MP3, "44 kHz" stereo */
  assert_int_equal(in.codec_id, AV_CODEC_ID_MP3);
  assert_int_equal(in.sample_rate, 44100);
  assert_int_equal(in.channels, 2);
  assert_int_equal(tag_input(14, 0, 1, 0, &in), 0); /* MP3 8 kHz */
  assert_int_equal(in.codec_id, AV_CODEC_ID_MP3);
  assert_int_equal(in.sample_rate, 8000);
  /* Nellymoser: 4 = 16 kHz mono, 5 = 8 kHz mono, 6 = rate from the header
   * (the numbering libavformat writes and reads) */
  assert_int_equal(tag_input(4, 3, 1, 0, &in), 0);
  assert_int_equal(in.codec_id, AV_CODEC_ID_NELLYMOSER);
  assert_int_equal(in.sample_rate, 16000);
  assert_int_equal(tag_input(5, 3, 1, 0, &in), 0);
  assert_int_equal(in.sample_rate, 8000);
  assert_int_equal(tag_input(6, 2, 1, 0, &in), 0);
  assert_int_equal(in.sample_rate, 22050);
  assert_int_equal(in.channels, 1);
  assert_int_equal(tag_input(11, 3, 1, 0, &in), 0); /* Speex: always 16 kHz mono */
  assert_int_equal(in.codec_id, AV_CODEC_ID_SPEEX);
  assert_int_equal(in.sample_rate, 16000);
  assert_int_equal(in.channels, 1);
  assert_int_equal(tag_input(8, 3, 1, 0, &in), 0); /* G.711 µ-law: 8 kHz */
  assert_int_equal(in.codec_id, AV_CODEC_ID_PCM_MULAW);
  assert_int_equal(in.sample_rate, 8000);
  assert_int_equal(tag_input(3, 0, 0, 0, &in), 0); /* PCM LE, 8-bit, 5.5 kHz */
  assert_int_equal(in.codec_id, AV_CODEC_ID_PCM_U8);
  assert_int_equal(in.sample_rate, 5512);
  assert_int_equal(tag_input(1, 1, 1, 1, &in), 0);
  assert_int_equal(in.codec_id, AV_CODEC_ID_ADPCM_SWF);
  assert_int_equal(in.sample_rate, 11025);
  /* AAC is carried as is; reserved formats have no decoder */
  assert_int_equal(tag_input(10, 3, 1, 1, &in), ERR_UNSUPPORTED);
  assert_int_equal(tag_input(9, 3, 1, 1, &in), ERR_UNSUPPORTED);
  assert_int_equal(tag_input(13, 3, 1, 1, &in), ERR_UNSUPPORTED);
}

static void test_flv_metadata_and_sameness(void **st) {
  (void)st;
  aac_conv_input_t a, b;
  assert_int_equal(flv_audio_input_from_metadata("2", 48000, 2, &a), 0);
  assert_int_equal(a.codec_id, AV_CODEC_ID_MP3);
  assert_int_equal(a.sample_rate, 48000);
  assert_int_equal(a.channels, 2);
  assert_int_equal(flv_audio_input_from_metadata(".mp3", 0, 0, &b), 0);
  assert_int_equal(b.codec_id, AV_CODEC_ID_MP3);
  /* MP3 says its own rate: the tag header's "44 kHz" for 48 kHz MP3 is the same input */
  assert_int_equal(tag_input(2, 3, 1, 1, &b), 0);
  assert_true(flv_audio_same_input(&a, &b));
  /* Nellymoser does not: another rate is another decoder set-up */
  assert_int_equal(flv_audio_input_from_metadata("6", 44100, 1, &a), 0);
  assert_int_equal(tag_input(6, 2, 1, 0, &b), 0);
  assert_false(flv_audio_same_input(&a, &b));
  assert_int_equal(flv_audio_input_from_metadata("10", 48000, 2, &a), ERR_UNSUPPORTED); /* AAC */
  assert_int_equal(flv_audio_input_from_metadata("mp4a", 48000, 2, &a), ERR_UNSUPPORTED);
  assert_int_equal(flv_audio_input_from_metadata("", 48000, 2, &a), ERR_UNSUPPORTED);
  assert_int_equal(flv_audio_input_from_metadata("99", 48000, 2, &a), ERR_UNSUPPORTED);
}

/* Enhanced RTMP 'Opus': the SequenceStart's OpusHead gives the channels and
 * is the decoder's extradata; frames fit whatever Opus decoder runs. */
static void test_flv_opus(void **st) {
  (void)st;
  uint8_t head[5 + 19] = {0x90 | 0, 'O', 'p', 'u', 's', 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd',
                          1, 1 /* channels */, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0};
  flv_frame_t f;
  aac_conv_input_t start, frame, meta;
  assert_int_equal(flv_parse_audio(head, sizeof(head), &f), 0);
  assert_int_equal(flv_audio_input(&f, &start), 0);
  assert_int_equal(start.codec_id, AV_CODEC_ID_OPUS);
  assert_int_equal(start.sample_rate, 48000);
  assert_int_equal(start.channels, 1);
  assert_int_equal(start.extradata_len, 19);
  assert_memory_equal(start.extradata, "OpusHead", 8);
  uint8_t coded[8] = {0x90 | 1, 'O', 'p', 'u', 's', 0xfc, 0xff, 0xfe};
  assert_int_equal(flv_parse_audio(coded, sizeof(coded), &f), 0);
  assert_int_equal(flv_audio_input(&f, &frame), 0);
  assert_int_equal(frame.codec_id, AV_CODEC_ID_OPUS);
  assert_int_equal(frame.extradata_len, 0);
  assert_true(flv_audio_same_input(&start, &frame)); /* a frame keeps the decoder */
  assert_int_equal(flv_audio_input_from_metadata("Opus", 48000, 1, &meta), 0);
  assert_int_equal(meta.codec_id, AV_CODEC_ID_OPUS);
  assert_false(flv_audio_same_input(&meta, &start)); /* the OpusHead needs a new decoder */
  assert_true(flv_audio_same_input(&start, &start));
  /* not an OpusHead */
  head[5] = 'X';
  assert_int_equal(flv_parse_audio(head, sizeof(head), &f), 0);
  assert_int_equal(flv_audio_input(&f, &start), ERR_INVALID);
  assert_int_equal(flv_parse_audio(head, 10, &f), 0);
  assert_int_equal(flv_audio_input(&f, &start), ERR_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mp3_to_aac),
      cmocka_unit_test(test_pcm_resampled_to_the_output),
      cmocka_unit_test(test_timestamps_keep_sync),
      cmocka_unit_test(test_worker),
      cmocka_unit_test(test_output_rates),
      cmocka_unit_test(test_unknown_codec_refused),
      cmocka_unit_test(test_flv_sound_formats),
      cmocka_unit_test(test_flv_metadata_and_sameness),
      cmocka_unit_test(test_flv_opus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
