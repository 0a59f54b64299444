/* test_ts_demux.c — MPEG-TS (made by ffmpeg: H.264 with B-frames + AAC,
 * and HEVC + AAC) into hub frames, whole-buffer and pushed through the demux thread in
 * SRT-sized chunks; the Annex B / ADTS conversions on crafted input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "media/avc_config.h"
#include "media/srt/ts_demux.h"

static uint8_t *g_ts;
static size_t g_ts_len;

/* ---- a sink that records what it gets ------------------------------------- */

typedef struct {
  pthread_mutex_t mu;
  int configs;
  media_config_t cfg;
  int nframes[2];
  int first_is_video_key;
  int64_t last_dts[2];
  int monotonic;
  int pts_ok;
  int avcc_ok;
  int64_t first_dts;
  int any;
} rec_t;

static void rec_init(rec_t *r) {
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->mu, NULL);
  r->monotonic = r->pts_ok = r->avcc_ok = 1;
}

static void rec_clear(rec_t *r) {
  media_config_clear(&r->cfg);
  pthread_mutex_destroy(&r->mu);
}

static void on_config(void *ud, const media_config_t *cfg) {
  rec_t *r = ud;
  pthread_mutex_lock(&r->mu);
  r->configs++;
  media_config_copy(&r->cfg, cfg);
  pthread_mutex_unlock(&r->mu);
}

static void on_frame(void *ud, media_frame_t *f) {
  rec_t *r = ud;
  pthread_mutex_lock(&r->mu);
  if (!r->any) {
    r->any = 1;
    r->first_is_video_key = f->kind == MEDIA_VIDEO && f->keyframe;
    r->first_dts = f->dts;
  }
  int k = f->kind;
  if (r->nframes[k] && f->dts < r->last_dts[k]) r->monotonic = 0;
  if (f->pts < f->dts) r->pts_ok = 0;
  r->last_dts[k] = f->dts;
  r->nframes[k]++;
  if (k == MEDIA_VIDEO) { /* walk the 4-byte lengths */
    size_t o = 0;
    while (o + 4 <= f->len) {
      size_t n = (size_t)f->data[o] << 24 | (size_t)f->data[o + 1] << 16 |
                 (size_t)f->data[o + 2] << 8 | f->data[o + 3];
      int aud = f->codec == CODEC_HEVC ? ((f->data[o + 4] >> 1) & 0x3f) == 35
                                       : (f->data[o + 4] & 0x1f) == 9;
      if (n == 0 || aud) r->avcc_ok = 0; /* no empty NALs, no AUDs */
      o += 4 + n;
    }
    if (o != f->len) r->avcc_ok = 0;
  }
  pthread_mutex_unlock(&r->mu);
  media_frame_unref(f);
}

static const ts_demux_sink_t sink = {on_config, on_frame};

static void check_recording(rec_t *r) {
  assert_true(r->configs >= 1);
  assert_int_equal(r->cfg.video_codec, CODEC_H264);
  assert_int_equal(r->cfg.width, 320);
  assert_int_equal(r->cfg.height, 240);
  assert_true(r->cfg.video_extradata_len > 8);
  assert_int_equal(r->cfg.video_extradata[0], 1);
  assert_int_equal(r->cfg.audio_codec, CODEC_AAC);
  assert_int_equal(r->cfg.sample_rate, 44100);
  assert_int_equal(r->cfg.channels, 2);
  assert_int_equal(r->cfg.audio_extradata_len, 2);
  assert_int_equal(r->cfg.audio_extradata[0], 0x12); /* AAC LC, 44.1 kHz, stereo */
  assert_int_equal(r->cfg.audio_extradata[1], 0x10);
  assert_true(r->first_is_video_key);
  assert_true(r->first_dts >= 0 && r->first_dts < 100);
  /* 2 s at 25 fps; audio: 2 s of 1024-sample frames at 44.1 kHz (~86) */
  assert_int_equal(r->nframes[MEDIA_VIDEO], 50);
  assert_in_range(r->nframes[MEDIA_AUDIO], 80, 90);
  assert_true(r->monotonic);
  assert_true(r->pts_ok);
  assert_true(r->avcc_ok);
  assert_in_range(r->last_dts[MEDIA_VIDEO], 1800, 2100);
}

/* ---- whole buffer ---------------------------------------------------------- */

static void test_buffer(void **state) {
  (void)state;
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer(g_ts, g_ts_len, &sink, &r), 0);
  check_recording(&r);
  assert_int_equal(r.configs, 1);
  rec_clear(&r);
}

/* ---- push mode: the SRT thread's way -------------------------------------- */

static void test_push_chunks(void **state) {
  (void)state;
  rec_t r;
  rec_init(&r);
  ts_demux_t *d;
  ts_demux_opts_t o = {.max_buffer = 256 * 1024};
  assert_int_equal(ts_demux_start(&sink, &r, &o, &d), 0);
  for (size_t off = 0; off < g_ts_len; off += 1316) {
    size_t n = g_ts_len - off < 1316 ? g_ts_len - off : 1316;
    int rc;
    while ((rc = ts_demux_feed(d, g_ts + off, n)) == ERR_TOO_LARGE) usleep(1000); /* test only */
    assert_int_equal(rc, 0);
  }
  ts_demux_end(d);
  for (int i = 0; i < 5000 && !ts_demux_stopped(d); i++) usleep(1000);
  assert_true(ts_demux_stopped(d));
  assert_int_equal(ts_demux_feed(d, g_ts, 188), ERR_IO);
  ts_demux_free(d);
  check_recording(&r);
  rec_clear(&r);
}

static void test_push_overflow_and_abort(void **state) {
  (void)state;
  rec_t r;
  rec_init(&r);
  ts_demux_t *d;
  ts_demux_opts_t o = {.max_buffer = 4096};
  assert_int_equal(ts_demux_start(&sink, &r, &o, &d), 0);
  assert_int_equal(ts_demux_feed(d, g_ts, 8192), ERR_TOO_LARGE);
  assert_int_equal(ts_demux_dropped_bytes(d), 8192);
  assert_int_equal(ts_demux_feed(d, g_ts, 1316), 0);
  /* never ended: free must wake the blocked demuxer and join it */
  ts_demux_free(d);
  rec_clear(&r);
}

/* Truncated input and a stream cut at a random point still demux. */
static void test_truncated(void **state) {
  (void)state;
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer(g_ts, g_ts_len / 2 + 77, &sink, &r), 0);
  assert_true(r.nframes[MEDIA_VIDEO] > 10);
  assert_true(r.monotonic);
  rec_clear(&r);
}

static void test_garbage(void **state) {
  (void)state;
  uint8_t junk[64 * 1024];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof(junk); i++) x = x * 1103515245u + 12345u, junk[i] = (uint8_t)(x >> 16);
  rec_t r;
  rec_init(&r);
  int rc = ts_demux_buffer(junk, sizeof(junk), &sink, &r);
  assert_true(rc == 0 || rc == ERR_PROTOCOL);
  assert_int_equal(r.nframes[0] + r.nframes[1], 0);
  /* TS sync bytes with garbage in between */
  for (size_t i = 0; i < sizeof(junk); i += 188) junk[i] = 0x47;
  rc = ts_demux_buffer(junk, sizeof(junk), &sink, &r);
  assert_true(rc == 0 || rc == ERR_PROTOCOL);
  assert_int_equal(ts_demux_buffer(junk, 0, &sink, &r), ERR_PROTOCOL);
  rec_clear(&r);
}

/* ---- conversions ------------------------------------------------------------ */

static void test_annexb(void **state) {
  (void)state;
  const uint8_t in[] = {0, 0, 0, 1, 0x09, 0xf0,                   /* AUD (dropped) */
                        0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, /* SPS */
                        0, 0, 1, 0x68, 0xee, 0x3c, 0x80,          /* PPS */
                        0, 0, 1, 0x65, 0x88, 0x00, 0x01, 0x02,    /* IDR, 00 inside */
                        0, 0, 0};                                 /* trailing zeros */
  uint8_t *out;
  size_t len;
  ts_nal_scan_t scan;
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(in, sizeof(in), CODEC_H264, &out, &len, &scan), 0);
  const uint8_t want[] = {0, 0, 0, 5, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 4, 0x68, 0xee, 0x3c,
                          0x80, 0, 0, 0, 5, 0x65, 0x88, 0x00, 0x01, 0x02};
  assert_int_equal(len, sizeof(want));
  assert_memory_equal(out, want, sizeof(want));
  assert_true(scan.key);
  assert_null(scan.vps);
  assert_int_equal(scan.sps_len, 5);
  assert_int_equal(scan.sps[0], 0x67);
  assert_int_equal(scan.pps_len, 4);
  free(out);

  uint8_t *rec;
  size_t rlen;
  assert_int_equal(avc_config_build(scan.sps, scan.sps_len, scan.pps, scan.pps_len, &rec, &rlen),
                   0);
  const uint8_t avcc[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x64, 0x00,
                          0x1f, 0xac, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80};
  assert_int_equal(rlen, sizeof(avcc));
  assert_memory_equal(rec, avcc, sizeof(avcc));
  free(rec);
  assert_int_equal(avc_config_build(scan.sps, 3, scan.pps, scan.pps_len, &rec, &rlen),
                   ERR_INVALID);
  assert_int_equal(avc_config_build(scan.sps, scan.sps_len, NULL, 0, &rec, &rlen), ERR_INVALID);

  /* no start code; only an AUD; empty */
  const uint8_t none[] = {1, 2, 3, 4, 5};
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(none, sizeof(none), CODEC_H264, &out, &len, &scan),
      ERR_INVALID);
  const uint8_t aud[] = {0, 0, 1, 0x09, 0xf0};
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(aud, sizeof(aud), CODEC_H264, &out, &len, &scan), 0);
  assert_int_equal(len, 0);
  assert_null(out);
  assert_int_equal(ts_demux_annexb_to_length_prefixed(aud, 0, CODEC_H264, &out, &len, &scan),
                   ERR_INVALID);
}

/* HEVC: two-byte NAL headers; VPS/SPS/PPS found, AUD (35) dropped, an
 * IDR_W_RADL (19) is a keyframe and a TRAIL_R (1) is not. */
static void test_annexb_hevc(void **state) {
  (void)state;
  const uint8_t in[] = {0, 0, 0, 1, 0x46, 0x01, 0x50,       /* AUD (dropped) */
                        0, 0, 0, 1, 0x40, 0x01, 0x0c,       /* VPS */
                        0, 0, 1, 0x42, 0x01, 0x01, 0x01,    /* SPS */
                        0, 0, 1, 0x44, 0x01, 0xc1,          /* PPS */
                        0, 0, 1, 0x26, 0x01, 0xaf, 0x00, 0x3f}; /* IDR_W_RADL */
  uint8_t *out;
  size_t len;
  ts_nal_scan_t scan;
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(in, sizeof(in), CODEC_HEVC, &out, &len, &scan), 0);
  const uint8_t want[] = {0, 0, 0, 3, 0x40, 0x01, 0x0c, 0, 0, 0, 4, 0x42, 0x01, 0x01, 0x01,
                          0, 0, 0, 3, 0x44, 0x01, 0xc1, 0, 0, 0, 5, 0x26, 0x01, 0xaf, 0x00, 0x3f};
  assert_int_equal(len, sizeof(want));
  assert_memory_equal(out, want, sizeof(want));
  assert_true(scan.key);
  assert_int_equal(scan.vps_len, 3);
  assert_int_equal(scan.vps[0], 0x40);
  assert_int_equal(scan.sps_len, 4);
  assert_int_equal(scan.pps_len, 3);
  free(out);
  /* a TRAIL_R picture alone */
  const uint8_t trail[] = {0, 0, 1, 0x02, 0x01, 0xd0, 0x11};
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(trail, sizeof(trail), CODEC_HEVC, &out, &len, &scan), 0);
  assert_false(scan.key);
  assert_null(scan.sps);
  assert_int_equal(len, 8);
  free(out);
  /* a one-byte unit has no HEVC header: skipped */
  const uint8_t tiny[] = {0, 0, 1, 0x26};
  assert_int_equal(
      ts_demux_annexb_to_length_prefixed(tiny, sizeof(tiny), CODEC_HEVC, &out, &len, &scan), 0);
  assert_int_equal(len, 0);
  assert_null(out);
}

static void test_adts(void **state) {
  (void)state;
  /* AAC LC, 48 kHz (index 3), 2 channels, frame length 7 + 4 */
  uint8_t h[11] = {0xff, 0xf1, 0x4c, 0x80, 0x01, 0x7f, 0xfc, 1, 2, 3, 4};
  ts_adts_t a;
  assert_int_equal(ts_demux_adts_parse(h, sizeof(h), &a), 0);
  assert_int_equal(a.header_len, 7);
  assert_int_equal(a.frame_len, 11);
  assert_int_equal(a.aot, 2);
  assert_int_equal(a.sample_rate, 48000);
  assert_int_equal(a.channels, 2);
  assert_int_equal(a.asc[0], 0x11);
  assert_int_equal(a.asc[1], 0x90);
  assert_int_equal(ts_demux_adts_parse(h, 10, &a), ERR_AGAIN); /* frame cut */
  assert_int_equal(ts_demux_adts_parse(h, 6, &a), ERR_AGAIN);
  uint8_t bad[11];
  memcpy(bad, h, sizeof(h));
  bad[0] = 0xfe; /* no syncword */
  assert_int_equal(ts_demux_adts_parse(bad, sizeof(bad), &a), ERR_INVALID);
  memcpy(bad, h, sizeof(h));
  bad[2] = 0x7c; /* sampling index 15 */
  assert_int_equal(ts_demux_adts_parse(bad, sizeof(bad), &a), ERR_INVALID);
  memcpy(bad, h, sizeof(h));
  bad[4] = 0x00, bad[5] = 0x1f; /* frame_length 0 */
  assert_int_equal(ts_demux_adts_parse(bad, sizeof(bad), &a), ERR_INVALID);
  memcpy(bad, h, sizeof(h));
  bad[6] = 0xfd; /* two raw data blocks */
  assert_int_equal(ts_demux_adts_parse(bad, sizeof(bad), &a), ERR_INVALID);
}

/* ---- HEVC ---------------------------------------------------------------------- */

/* Runs `ffmpeg -nostdin -v error ARGS -f mpegts FILE` and reads FILE into
 * *data (malloc'd). 0 or -1. */
static int ffmpeg_ts(const char *args, char **data, size_t *len) {
  char dir[] = "/tmp/onair-tsdemux-XXXXXX", cmd[1024], path[128];
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof(path), "%s/in.ts", dir);
  snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error %s -f mpegts %s", args, path);
  int rc = system(cmd) == 0 && util_read_file(path, data, len) == 0 ? 0 : -1;
  unlink(path);
  rmdir(dir);
  return rc;
}

/* libx265 in MPEG-TS (what an SRT encoder sends): the config is HEVC with
 * an hvcC built from the in-band VPS/SPS/PPS, and the size is the cropped
 * one (426 is coded as 432). */
static void test_buffer_hevc(void **state) {
  (void)state;
  char *data;
  size_t len;
  assert_int_equal(ffmpeg_ts("-f lavfi -i testsrc=size=426x240:rate=25 -f lavfi -i "
                             "sine=sample_rate=44100 -t 1 -c:v libx265 -x265-params "
                             "log-level=error:keyint=25 -pix_fmt yuv420p -c:a aac",
                             &data, &len),
                   0);
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer((uint8_t *)data, len, &sink, &r), 0);
  assert_int_equal(r.cfg.video_codec, CODEC_HEVC);
  assert_int_equal(r.cfg.width, 426);
  assert_int_equal(r.cfg.height, 240);
  assert_true(r.cfg.video_extradata_len > 23);
  assert_int_equal(r.cfg.video_extradata[0], 1);  /* configurationVersion */
  assert_int_equal(r.cfg.video_extradata[22], 3); /* VPS, SPS, PPS arrays */
  assert_int_equal(r.cfg.audio_codec, CODEC_AAC);
  assert_true(r.first_is_video_key);
  assert_int_equal(r.nframes[MEDIA_VIDEO], 25);
  assert_true(r.nframes[MEDIA_AUDIO] > 30);
  assert_true(r.monotonic);
  assert_true(r.pts_ok);
  assert_true(r.avcc_ok);
  rec_clear(&r);
  free(data);
}

/* ---- audio that is not AAC ------------------------------------------------------ */

/* MP2 (ffmpeg's MPEG-TS default) at 48 kHz stereo: the stream's config is
 * AAC from the first config on, and the converted frames are 1024 samples
 * apart, monotonic, on the video's clock. */
static void test_buffer_mp2_becomes_aac(void **state) {
  (void)state;
  char *data;
  size_t len;
  assert_int_equal(ffmpeg_ts("-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
                             "sine=sample_rate=48000 -ac 2 -t 2 -c:v libx264 -preset veryfast "
                             "-g 25 -pix_fmt yuv420p -c:a mp2",
                             &data, &len),
                   0);
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer((uint8_t *)data, len, &sink, &r), 0);
  assert_int_equal(r.configs, 1); /* announced with the first config, never changed */
  assert_int_equal(r.cfg.audio_codec, CODEC_AAC);
  assert_int_equal(r.cfg.sample_rate, 48000);
  assert_int_equal(r.cfg.channels, 2);
  assert_true(r.cfg.audio_extradata_len >= 2); /* libavcodec adds an explicit "no SBR" extension */
  assert_int_equal(r.cfg.audio_extradata[0], 0x11); /* AAC LC, 48 kHz, stereo */
  assert_int_equal(r.cfg.audio_extradata[1], 0x90);
  assert_true(r.first_is_video_key);
  assert_int_equal(r.nframes[MEDIA_VIDEO], 50);
  /* 2 s = 93.75 frames of 1024 at 48 kHz; the last one or two stay in the encoder */
  assert_in_range(r.nframes[MEDIA_AUDIO], 85, 94);
  assert_in_range(r.last_dts[MEDIA_AUDIO], 1850, 2100);
  assert_true(r.monotonic);
  rec_clear(&r);
  free(data);
}

/* Moves the PTS and DTS of every PES that starts on `pid` by delta (90 kHz). */
static void shift_pes(uint8_t *ts, size_t len, unsigned pid, int64_t delta) {
  for (size_t o = 0; o + 188 <= len; o += 188) {
    uint8_t *p = ts + o;
    if (p[0] != 0x47 || !(p[1] & 0x40) || (((unsigned)p[1] & 0x1F) << 8 | p[2]) != pid) continue;
    size_t h = 4;
    if (p[3] & 0x20) h += 1 + p[4]; /* adaptation field */
    uint8_t *e = p + h;
    if (h + 14 > 188 || e[0] || e[1] || e[2] != 1) continue;
    int flags = e[7] >> 6;
    for (int k = 0; k < (flags == 3 ? 2 : flags == 2 ? 1 : 0); k++) {
      uint8_t *t = e + 9 + 5 * k;
      int64_t v = (int64_t)(t[0] >> 1 & 7) << 30 | (int64_t)t[1] << 22 | (int64_t)(t[2] >> 1) << 15 |
                  (int64_t)t[3] << 7 | t[4] >> 1;
      v = (v + delta) & ((1LL << 33) - 1);
      t[0] = (uint8_t)((t[0] & 0xF1) | (v >> 29 & 0x0E));
      t[1] = (uint8_t)(v >> 22);
      t[2] = (uint8_t)(v >> 14 | 1);
      t[3] = (uint8_t)(v >> 7);
      t[4] = (uint8_t)(v << 1 | 1);
    }
  }
}

/* Audio stamped 12 s behind the video, steadily (an encoder with a skewed
 * audio clock): the two kinds keep their own timestamps on one timeline.
 * (Each switch between them used to count as a jump of the whole timeline,
 * laying audio and video end to end: 20 s came out as 26 s.) */
static void test_steady_av_offset(void **state) {
  (void)state;
  char *data;
  size_t len;
  assert_int_equal(ffmpeg_ts("-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
                             "sine=sample_rate=44100 -t 20 -c:v libx264 -preset ultrafast "
                             "-g 25 -pix_fmt yuv420p -c:a aac",
                             &data, &len),
                   0);
  shift_pes((uint8_t *)data, len, 0x100, 12 * 90000); /* ffmpeg's video PID: audio 12 s behind */
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer((uint8_t *)data, len, &sink, &r), 0);
  assert_true(r.first_is_video_key);
  assert_true(r.monotonic);
  /* video: its 20 s from 0, not stretched; audio: only what is stamped
   * after the video's first frame (its last 8 s), on the same clock */
  assert_in_range(r.last_dts[MEDIA_VIDEO] - r.first_dts, 19000, 20500);
  assert_in_range(r.last_dts[MEDIA_VIDEO] - r.last_dts[MEDIA_AUDIO], 11000, 13000);
  rec_clear(&r);
  free(data);
}

/* A video PES that starts and never ends (TS packets without a start
 * code): libavformat's parser would gather it without limit. After 32 MiB
 * that give no packet the demux stops (the SRT connection then closes). */
static void test_endless_frame_stops(void **state) {
  (void)state;
  size_t n = (33u << 20) / 188 + 8, len = n * 188;
  uint8_t *ts = calloc(1, len);
  assert_non_null(ts);
  /* PAT (program 1 → PMT PID 0x1000), PMT (H.264 on PID 0x100) */
  static const uint8_t pat[] = {0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01,
                                0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2};
  static const uint8_t pmt[] = {0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x12, 0x00, 0x01,
                                0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1, 0x00,
                                0xF0, 0x00, 0x15, 0xBD, 0x4D, 0x56};
  static const uint8_t pes[] = {0x47, 0x41, 0x00, 0x10, 0x00, 0x00, 0x01, 0xE0, 0x00, 0x00,
                                0x80, 0x80, 0x05, 0x21, 0x00, 0x01, 0x00, 0x01,
                                0x00, 0x00, 0x00, 0x01, 0x65};
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = ts + i * 188;
    memset(p, 0xAB, 188);
    if (i == 0) {
      memset(p, 0xFF, 188), memcpy(p, pat, sizeof(pat));
    } else if (i == 1) {
      memset(p, 0xFF, 188), memcpy(p, pmt, sizeof(pmt));
    } else if (i == 2) {
      memcpy(p, pes, sizeof(pes));
    } else {
      p[0] = 0x47, p[1] = 0x01, p[2] = 0x00, p[3] = (uint8_t)(0x10 | ((i - 2) & 0x0F));
    }
  }
  rec_t r;
  rec_init(&r);
  assert_int_equal(ts_demux_buffer(ts, len, &sink, &r), ERR_PROTOCOL);
  rec_clear(&r);
  free(ts);
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state) {
  (void)state;
  char *data;
  size_t len;
  /* 2 s, keyframe every second, B-frames on (dts != pts), AAC LC stereo */
  if (ffmpeg_ts("-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
                "sine=frequency=440:sample_rate=44100 -ac 2 -t 2 -c:v libx264 -preset veryfast "
                "-g 25 -bf 2 -pix_fmt yuv420p -c:a aac -b:a 64k",
                &data, &len))
    return -1;
  g_ts = (uint8_t *)data;
  g_ts_len = len;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(g_ts);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_annexb),
      cmocka_unit_test(test_annexb_hevc),
      cmocka_unit_test(test_adts),
      cmocka_unit_test(test_buffer),
      cmocka_unit_test(test_buffer_hevc),
      cmocka_unit_test(test_buffer_mp2_becomes_aac),
      cmocka_unit_test(test_steady_av_offset),
      cmocka_unit_test(test_endless_frame_stops),
      cmocka_unit_test(test_push_chunks),
      cmocka_unit_test(test_push_overflow_and_abort),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_garbage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
