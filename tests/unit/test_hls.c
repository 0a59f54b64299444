/* test_hls.c — the live HLS packager fed with a real H.264 + AAC FLV (made
 * by ffmpeg, read back with libavformat exactly as the RTMP ingest will
 * publish it), its segments checked with ffprobe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <libavformat/avformat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "media/hls/hls.h"
#include "media/hub/hub.h"

/* ---- the input: one FLV, loaded once --------------------------------------- */

static char g_dir[64];
static media_config_t g_cfg;
static media_frame_t **g_frames;
static size_t g_nframes, g_nvideo, g_naudio;
/* Audio frames before the last video frame: after a segment closed on its
 * predicted last frame, trailing audio with no video to start a segment is
 * not published. */
static size_t g_naudio_kept;

static media_frame_t *frame_from_packet(const AVPacket *pkt, const AVStream *st) {
  media_frame_t *f = media_frame_new((size_t)pkt->size);
  if (!f) return NULL;
  memcpy(f->data, pkt->data, (size_t)pkt->size);
  int video = st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO;
  f->kind = video ? MEDIA_VIDEO : MEDIA_AUDIO;
  f->codec = video ? CODEC_H264 : CODEC_AAC;
  f->keyframe = video ? !!(pkt->flags & AV_PKT_FLAG_KEY) : 1;
  const AVRational ms = {1, 1000};
  f->dts = av_rescale_q(pkt->dts, st->time_base, ms);
  f->pts = av_rescale_q(pkt->pts == AV_NOPTS_VALUE ? pkt->dts : pkt->pts, st->time_base, ms);
  return f;
}

static int load_flv(const char *path) {
  AVFormatContext *ic = NULL;
  if (avformat_open_input(&ic, path, NULL, NULL) < 0) return -1;
  if (avformat_find_stream_info(ic, NULL) < 0) return -1;
  for (unsigned i = 0; i < ic->nb_streams; i++) {
    AVCodecParameters *par = ic->streams[i]->codecpar;
    if (par->codec_id == AV_CODEC_ID_H264) {
      g_cfg.video_codec = CODEC_H264;
      g_cfg.video_extradata = malloc((size_t)par->extradata_size);
      memcpy(g_cfg.video_extradata, par->extradata, (size_t)par->extradata_size);
      g_cfg.video_extradata_len = (size_t)par->extradata_size;
      g_cfg.width = par->width;
      g_cfg.height = par->height;
      g_cfg.framerate = av_q2d(ic->streams[i]->avg_frame_rate);
    } else if (par->codec_id == AV_CODEC_ID_AAC) {
      g_cfg.audio_codec = CODEC_AAC;
      g_cfg.audio_extradata = malloc((size_t)par->extradata_size);
      memcpy(g_cfg.audio_extradata, par->extradata, (size_t)par->extradata_size);
      g_cfg.audio_extradata_len = (size_t)par->extradata_size;
      g_cfg.sample_rate = par->sample_rate;
      g_cfg.channels = par->ch_layout.nb_channels;
    }
  }
  AVPacket *pkt = av_packet_alloc();
  size_t cap = 0;
  while (av_read_frame(ic, pkt) >= 0) {
    if (pkt->size > 0) {
      if (g_nframes == cap) {
        cap = cap ? cap * 2 : 512;
        g_frames = realloc(g_frames, cap * sizeof(*g_frames));
      }
      media_frame_t *f = frame_from_packet(pkt, ic->streams[pkt->stream_index]);
      g_frames[g_nframes++] = f;
      if (f->kind == MEDIA_VIDEO)
        g_nvideo++;
      else
        g_naudio++;
    }
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  avformat_close_input(&ic);
  size_t last_video = 0;
  for (size_t i = 0; i < g_nframes; i++)
    if (g_frames[i]->kind == MEDIA_VIDEO) last_video = i;
  for (size_t i = 0; i < last_video; i++)
    if (g_frames[i]->kind == MEDIA_AUDIO) g_naudio_kept++;
  return 0;
}

static int group_setup(void **state) {
  snprintf(g_dir, sizeof(g_dir), "/tmp/test_hls_XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  char cmd[512];
  snprintf(cmd, sizeof(cmd),
           "ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
           "sine=sample_rate=44100 -t 6 -c:v libx264 -pix_fmt yuv420p -g 25 -sc_threshold 0 "
           "-c:a aac -f flv %s/in.flv",
           g_dir);
  if (system(cmd) != 0) return -1;
  snprintf(cmd, sizeof(cmd), "%s/in.flv", g_dir);
  if (load_flv(cmd) || g_cfg.video_codec != CODEC_H264 || g_cfg.audio_codec != CODEC_AAC)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  for (size_t i = 0; i < g_nframes; i++) media_frame_unref(g_frames[i]);
  free(g_frames);
  media_config_clear(&g_cfg);
  char cmd[128];
  if (getenv("TEST_HLS_KEEP")) return 0; /* keep the files to look at */
  snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Publishes the input frames with from_ms <= dts < to_ms; kinds: bit 0
 * video, bit 1 audio. */
static void feed(hub_t *hub, int64_t from_ms, int64_t to_ms, int kinds) {
  for (size_t i = 0; i < g_nframes; i++) {
    media_frame_t *f = g_frames[i];
    if (f->dts < from_ms || f->dts >= to_ms) continue;
    if (!(kinds & (f->kind == MEDIA_VIDEO ? 1 : 2))) continue;
    assert_int_equal(hub_publish_frame(hub, f), 0);
  }
}

/* ---- segment callback --------------------------------------------------------- */

typedef struct {
  uint64_t calls, next_seq;
  double total_s;
} cbstate_t;

static void on_segment(void *ud, uint64_t seq, double dur) {
  cbstate_t *c = ud;
  assert_int_equal(seq, c->next_seq);
  assert_true(dur > 0 && dur <= 3.0);
  c->next_seq = seq + 1;
  c->calls++;
  c->total_s += dur;
}

/* ---- playlist parsing ----------------------------------------------------------- */

typedef struct {
  int version, target, media_seq, disc_seq, endlist, independent;
  int nseg, ndisc, nmap, npdt;
  double dur[64], sum;
  char uri[64][48];
  char map[8][48];
} playlist_t;

static void parse_playlist(const char *text, playlist_t *pl) {
  memset(pl, 0, sizeof(*pl));
  pl->disc_seq = -1;
  assert_true(strncmp(text, "#EXTM3U\n", 8) == 0);
  char *copy = strdup(text), *save = NULL;
  int want_uri = 0;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (sscanf(line, "#EXT-X-VERSION:%d", &pl->version) == 1) continue;
    if (sscanf(line, "#EXT-X-TARGETDURATION:%d", &pl->target) == 1) continue;
    if (sscanf(line, "#EXT-X-MEDIA-SEQUENCE:%d", &pl->media_seq) == 1) continue;
    if (sscanf(line, "#EXT-X-DISCONTINUITY-SEQUENCE:%d", &pl->disc_seq) == 1) continue;
    if (strcmp(line, "#EXT-X-ENDLIST") == 0) pl->endlist++;
    if (strcmp(line, "#EXT-X-INDEPENDENT-SEGMENTS") == 0) pl->independent++;
    if (strcmp(line, "#EXT-X-DISCONTINUITY") == 0) pl->ndisc++;
    if (strncmp(line, "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0) {
      /* 2024-05-01T12:00:03.040Z */
      int y, mo, d, h, mi, s, ms;
      char z;
      assert_int_equal(sscanf(line + 25, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi,
                              &s, &ms, &z),
                       8);
      assert_int_equal(z, 'Z');
      assert_int_equal(strlen(line + 25), 24);
      pl->npdt++;
    }
    if (strncmp(line, "#EXT-X-MAP:URI=\"", 16) == 0) {
      assert_true(pl->nmap < 8);
      snprintf(pl->map[pl->nmap], sizeof(pl->map[0]), "%.*s", (int)strcspn(line + 16, "\""),
               line + 16);
      pl->nmap++;
    }
    if (strncmp(line, "#EXTINF:", 8) == 0) {
      assert_true(pl->nseg < 64);
      const char *v = line + 8;
      /* d.ddd, exactly three decimals */
      const char *dot = strchr(v, '.');
      assert_non_null(dot);
      assert_int_equal(strspn(dot + 1, "0123456789"), 3);
      assert_int_equal(dot[4], ',');
      pl->dur[pl->nseg] = atof(v);
      pl->sum += pl->dur[pl->nseg];
      want_uri = 1;
      continue;
    }
    if (want_uri) {
      assert_true(line[0] != '#');
      snprintf(pl->uri[pl->nseg], sizeof(pl->uri[0]), "%s", line);
      pl->nseg++;
      want_uri = 0;
    }
  }
  free(copy);
}

static void get_playlist(hls_packager_t *p, hls_format_t fmt, const char *sfx, playlist_t *pl) {
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(hls_playlist(p, fmt, sfx, &text, &len), 0);
  assert_int_equal(strlen(text), len);
  parse_playlist(text, pl);
  free(text);
}

/* ---- ffprobe ------------------------------------------------------------------------ */

typedef struct {
  int errors;
  char first_error[256];
  int h264, aac, width, height;
  int nvideo, naudio;
  int first_video_key;
  double vfirst, afirst, vlast, alast, vmaxgap, amaxgap;
  int vbackwards, abackwards;
} probe_t;

static const char *field(const char *line, const char *key, char *out, size_t outlen) {
  char k[40];
  snprintf(k, sizeof(k), "%s=", key);
  const char *p = line;
  size_t klen = strlen(k);
  while ((p = strstr(p, k))) {
    if (p == line || p[-1] == '|') {
      p += klen;
      size_t n = strcspn(p, "|\n");
      snprintf(out, outlen, "%.*s", (int)n, p);
      return out;
    }
    p += klen;
  }
  out[0] = 0;
  return NULL;
}

static void probe_file(const char *path, probe_t *r) {
  memset(r, 0, sizeof(*r));
  r->vfirst = r->afirst = -1;
  char cmd[512], line[4096], v[64];
  snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_streams -show_packets -of compact=p=0 %s 2>&1",
           path);
  FILE *fp = popen(cmd, "r");
  assert_non_null(fp);
  while (fgets(line, sizeof(line), fp)) {
    if (strncmp(line, "index=", 6) == 0) { /* a stream */
      field(line, "codec_name", v, sizeof(v));
      if (strcmp(v, "h264") == 0) {
        r->h264 = 1;
        r->width = atoi(field(line, "width", v, sizeof(v)) ? v : "0");
        r->height = atoi(field(line, "height", v, sizeof(v)) ? v : "0");
      } else if (strcmp(v, "aac") == 0) {
        r->aac = 1;
      }
    } else if (strncmp(line, "codec_type=", 11) == 0) { /* a packet */
      int video = strncmp(line + 11, "video", 5) == 0;
      double t = atof(field(line, "dts_time", v, sizeof(v)) ? v : "0");
      if (video) {
        if (r->nvideo == 0) {
          r->vfirst = t;
          r->first_video_key = field(line, "flags", v, sizeof(v)) && v[0] == 'K';
        } else {
          if (t <= r->vlast) r->vbackwards++;
          if (t - r->vlast > r->vmaxgap) r->vmaxgap = t - r->vlast;
        }
        r->vlast = t;
        r->nvideo++;
      } else {
        if (r->naudio == 0) {
          r->afirst = t;
        } else {
          if (t <= r->alast) r->abackwards++;
          if (t - r->alast > r->amaxgap) r->amaxgap = t - r->alast;
        }
        r->alast = t;
        r->naudio++;
      }
    } else if (line[strspn(line, " \r\n")] != 0) { /* compact ends side data with a blank line */
      if (!r->errors) snprintf(r->first_error, sizeof(r->first_error), "%.200s", line);
      r->errors++;
    }
  }
  assert_int_equal(pclose(fp), 0);
  if (r->errors) fprintf(stderr, "ffprobe %s: %d error lines, first: %s", path, r->errors,
                         r->first_error);
}

static void write_bufs(const char *path, hls_buf_t **bufs, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  for (size_t i = 0; i < n; i++) assert_int_equal(fwrite(bufs[i]->data, 1, bufs[i]->len, fp),
                                                  bufs[i]->len);
  assert_int_equal(fclose(fp), 0);
}

/* Writes the playlist and every segment and init it names into dir, the
 * way a server would lay them out, and returns the playlist's path. */
static void dump_hls(hls_packager_t *p, hls_format_t fmt, const char *name, char *path,
                     size_t pathlen) {
  char *text = NULL, file[192];
  assert_int_equal(hls_playlist(p, fmt, NULL, &text, NULL), 0);
  playlist_t pl;
  parse_playlist(text, &pl);
  for (int i = 0; i < pl.nseg; i++) {
    hls_buf_t *b = hls_segment_get(p, fmt, strtoull(pl.uri[i], NULL, 10));
    assert_non_null(b);
    snprintf(file, sizeof(file), "%s/%s", g_dir, pl.uri[i]);
    write_bufs(file, &b, 1);
    hls_buf_unref(b);
  }
  for (int i = 0; i < pl.nmap; i++) {
    unsigned n = 0;
    assert_int_equal(sscanf(pl.map[i], "init-%u.mp4", &n), 1);
    hls_buf_t *b = hls_init_get(p, n);
    assert_non_null(b);
    snprintf(file, sizeof(file), "%s/%s", g_dir, pl.map[i]);
    write_bufs(file, &b, 1);
    hls_buf_unref(b);
  }
  snprintf(path, pathlen, "%s/%s", g_dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  free(text);
}

/* A real HLS client (ffmpeg's) reads the playlist and decodes every frame. */
static void assert_hls_decodes(const char *m3u8) {
  char cmd[512], line[512];
  snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i %s -f null - 2>&1", m3u8);
  FILE *fp = popen(cmd, "r");
  assert_non_null(fp);
  int lines = 0;
  while (fgets(line, sizeof(line), fp)) {
    fprintf(stderr, "ffmpeg %s: %s", m3u8, line);
    lines++;
  }
  assert_int_equal(pclose(fp), 0);
  assert_int_equal(lines, 0);
}

/* Both playlists of p, written out with their segments, decode end to end
 * (files NAME-ts.m3u8 and NAME-fmp4.m3u8). */
static void assert_both_forms_decode(hls_packager_t *p, const char *name) {
  char file[64], path[160];
  snprintf(file, sizeof(file), "%s-ts.m3u8", name);
  dump_hls(p, HLS_TS, file, path, sizeof(path));
  assert_hls_decodes(path);
  snprintf(file, sizeof(file), "%s-fmp4.m3u8", name);
  dump_hls(p, HLS_FMP4, file, path, sizeof(path));
  assert_hls_decodes(path);
}

static void assert_av_probe(const probe_t *r, int want_video, int want_audio) {
  assert_int_equal(r->errors, 0);
  if (want_video) {
    assert_true(r->h264);
    assert_int_equal(r->width, 320);
    assert_int_equal(r->height, 240);
    assert_true(r->nvideo > 0);
    assert_true(r->first_video_key);
  }
  if (want_audio) {
    assert_true(r->aac);
    assert_true(r->naudio > 0);
  }
}

/* ---- tests ----------------------------------------------------------------------------- */

static hls_packager_t *packager(hub_t *hub, unsigned target, unsigned window, unsigned ring,
                                cbstate_t *cb) {
  hls_opts_t o = {.target_ms = target, .window = window, .ring = ring};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment, cb);
  assert_non_null(p);
  return p;
}

static void test_nothing_yet(void **state) {
  hub_t *hub = hub_new("s0");
  hls_packager_t *p = packager(hub, 1000, 6, 0, &(cbstate_t){0});
  char *text = (char *)"x";
  assert_int_equal(hls_playlist(p, HLS_TS, NULL, &text, NULL), ERR_NOT_FOUND);
  assert_null(text);
  assert_null(hls_segment_get(p, HLS_TS, 0));
  assert_null(hls_init_get(p, 1));
  assert_int_equal(hls_segments_published(p), 0);
  /* A config alone: an init segment, still no media segment. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  hls_buf_t *init = hls_init_get(p, 1);
  assert_non_null(init);
  assert_true(init->len > 0 && memcmp(init->data + 4, "ftyp", 4) == 0);
  hls_buf_unref(init);
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &text, NULL), ERR_NOT_FOUND);
  hls_packager_free(p);
  hub_unpublish(hub);
  hub_free(hub);
}

static void test_full_stream(void **state) {
  hub_t *hub = hub_new("s1");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 10, 12, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 3000, 3);
  /* An encoder resending the same sequence headers is no new session. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 3000, INT64_MAX, 3);
  /* 6 s with a keyframe every second: 3 segments closed by keyframes, then
   * (the cadence stable for 3 GOPs) 3 closed on their last frame, the
   * keyframe that would end the last one never comes. */
  assert_int_equal(hls_segments_published(p), 6);
  assert_int_equal(cb.calls, 6);
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 6);
  assert_int_equal(pl.endlist, 0);
  hub_unpublish(hub);
  hls_packager_end(p);
  assert_int_equal(hls_segments_published(p), 6);

  get_playlist(p, HLS_TS, "?auth=T", &pl);
  assert_int_equal(pl.version, 3);
  assert_int_equal(pl.target, 1);
  assert_int_equal(pl.media_seq, 0);
  assert_int_equal(pl.disc_seq, -1);
  assert_int_equal(pl.independent, 1);
  assert_int_equal(pl.endlist, 1);
  assert_int_equal(pl.ndisc, 0);
  assert_int_equal(pl.nseg, 6);
  assert_int_equal(pl.npdt, 6);
  assert_true(pl.sum >= 5.0 && pl.sum <= 6.1);
  assert_true(fabs(pl.sum - cb.total_s) < 0.001);
  for (int i = 0; i < pl.nseg; i++) {
    assert_true(fabs(pl.dur[i] - 1.0) < 0.05);
    char want[48];
    snprintf(want, sizeof(want), "%d.ts?auth=T", i);
    assert_string_equal(pl.uri[i], want);
  }

  playlist_t pm;
  get_playlist(p, HLS_FMP4, NULL, &pm);
  assert_int_equal(pm.version, 7);
  assert_int_equal(pm.nseg, 6);
  assert_int_equal(pm.nmap, 1);
  assert_string_equal(pm.map[0], "init-1.mp4");
  assert_string_equal(pm.uri[0], "0.m4s");
  assert_true(fabs(pm.sum - pl.sum) < 0.0005);

  /* Each TS segment stands alone: PAT first, a keyframe first, both codecs. */
  hls_buf_t *ts[6], *mp4[7];
  char path[128];
  probe_t r;
  for (int i = 0; i < 6; i++) {
    ts[i] = hls_segment_get(p, HLS_TS, (uint64_t)i);
    assert_non_null(ts[i]);
    assert_true(ts[i]->len % 188 == 0);
    assert_int_equal(ts[i]->data[0], 0x47);
    int pat = 0; /* SDT, PAT, PMT lead */
    for (size_t k = 0; k < 3 * 188 && k < ts[i]->len; k += 188)
      if (((ts[i]->data[k + 1] & 0x1f) << 8 | ts[i]->data[k + 2]) == 0) pat = 1;
    assert_true(pat);
    snprintf(path, sizeof(path), "%s/seg%d.ts", g_dir, i);
    write_bufs(path, &ts[i], 1);
    probe_file(path, &r);
    assert_av_probe(&r, 1, 1);
    assert_true(r.nvideo >= 24 && r.nvideo <= 26);
  }
  assert_null(hls_segment_get(p, HLS_TS, 6));
  /* All of them in a row: every frame once, timestamps continuous. */
  snprintf(path, sizeof(path), "%s/all.ts", g_dir);
  write_bufs(path, ts, 6);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  assert_int_equal(r.nvideo, (int)g_nvideo);
  assert_int_equal(r.naudio, (int)g_naudio_kept);
  assert_int_equal(r.vbackwards, 0);
  assert_int_equal(r.abackwards, 0);
  assert_true(r.vmaxgap < 0.045);
  assert_true(r.amaxgap < 0.1); /* audio PES carry several frames */
  for (int i = 0; i < 6; i++) hls_buf_unref(ts[i]);

  /* fMP4: init + each fragment plays; init + all fragments is the stream. */
  mp4[0] = hls_init_get(p, 1);
  assert_non_null(mp4[0]);
  assert_null(hls_init_get(p, 2));
  for (int i = 0; i < 6; i++) {
    mp4[i + 1] = hls_segment_get(p, HLS_FMP4, (uint64_t)i);
    assert_non_null(mp4[i + 1]);
    assert_true(memcmp(mp4[i + 1]->data + 4, "moof", 4) == 0 ||
                memcmp(mp4[i + 1]->data + 4, "styp", 4) == 0);
    hls_buf_t *pair[2] = {mp4[0], mp4[i + 1]};
    snprintf(path, sizeof(path), "%s/seg%d.mp4", g_dir, i);
    write_bufs(path, pair, 2);
    probe_file(path, &r);
    assert_av_probe(&r, 1, 1);
    assert_true(r.nvideo >= 24 && r.nvideo <= 26);
    assert_true(fabs(r.vfirst - i) < 0.001); /* tfdt follows the input clock */
  }
  snprintf(path, sizeof(path), "%s/all.mp4", g_dir);
  write_bufs(path, mp4, 7);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  assert_int_equal(r.nvideo, (int)g_nvideo);
  assert_int_equal(r.naudio, (int)g_naudio_kept);
  assert_int_equal(r.vbackwards, 0);
  assert_int_equal(r.abackwards, 0);
  assert_true(r.vmaxgap < 0.045);
  assert_true(r.amaxgap < 0.03);
  assert_true(fabs(r.vlast - 5.96) < 0.001);
  for (int i = 0; i < 7; i++) hls_buf_unref(mp4[i]);

  /* Through the playlists, as a player gets them. */
  dump_hls(p, HLS_TS, "ts.m3u8", path, sizeof(path));
  assert_hls_decodes(path);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  assert_int_equal(r.nvideo, (int)g_nvideo);
  dump_hls(p, HLS_FMP4, "fmp4.m3u8", path, sizeof(path));
  assert_hls_decodes(path);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  assert_int_equal(r.nvideo, (int)g_nvideo);
  assert_int_equal(r.naudio, (int)g_naudio_kept);

  /* Frames after the end are ignored; the playlist stays ended. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 2500, 3);
  assert_int_equal(hls_segments_published(p), 6);
  hub_unpublish(hub);
  hls_packager_free(p);
  hub_free(hub);
}

static void test_discontinuity(void **state) {
  hub_t *hub = hub_new("s2");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 10, 0, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 2500, 3);
  hub_unpublish(hub); /* closes the half segment 2.0–2.5 */
  assert_int_equal(hls_segments_published(p), 3);
  /* The publisher comes back; its clock restarts at 0. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 3000, 3);
  hub_unpublish(hub);
  hls_packager_end(p);
  assert_int_equal(hls_segments_published(p), 6);

  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 6);
  assert_int_equal(pl.ndisc, 1);
  assert_int_equal(pl.endlist, 1);
  assert_true(fabs(pl.dur[2] - 0.5) < 0.05);
  assert_true(fabs(pl.sum - 5.5) < 0.1);
  get_playlist(p, HLS_FMP4, "?t=1", &pl);
  assert_int_equal(pl.ndisc, 1);
  assert_int_equal(pl.nmap, 2);
  assert_string_equal(pl.map[0], "init-1.mp4?t=1");
  assert_string_equal(pl.map[1], "init-2.mp4?t=1");

  /* The new session's init and first fragment play. */
  hls_buf_t *b[2] = {hls_init_get(p, 2), hls_segment_get(p, HLS_FMP4, 3)};
  assert_non_null(b[0]);
  assert_non_null(b[1]);
  char path[128];
  probe_t r;
  snprintf(path, sizeof(path), "%s/disc.mp4", g_dir);
  write_bufs(path, b, 2);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  hls_buf_unref(b[0]);
  hls_buf_unref(b[1]);
  hls_buf_t *t = hls_segment_get(p, HLS_TS, 3);
  snprintf(path, sizeof(path), "%s/disc.ts", g_dir);
  write_bufs(path, &t, 1);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  hls_buf_unref(t);
  /* Across the discontinuity, both forms decode end to end. */
  assert_both_forms_decode(p, "disc");
  hls_packager_free(p);
  hub_free(hub);
}

/* A packager numbering from first_seq (a new broadcast of a stream that
 * had others): segments, the media sequence and init segments all count
 * from there, and nothing answers to the small numbers. */
static void test_first_seq(void **state) {
  (void)state;
  hub_t *hub = hub_new("s-first");
  cbstate_t cb = {.next_seq = 5000};
  hls_opts_t o = {.target_ms = 1000, .window = 10, .first_seq = 5000};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment, &cb);
  assert_non_null(p);
  assert_int_equal(hls_numbers_end(p), 5001); /* init-5001 may exist before any segment */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 2500, 3);
  hub_unpublish(hub);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 3000, 3);
  hub_unpublish(hub);
  assert_int_equal(hls_segments_published(p), 6);
  assert_int_equal(hls_numbers_end(p), 5006);
  playlist_t pl;
  get_playlist(p, HLS_FMP4, NULL, &pl);
  assert_int_equal(pl.media_seq, 5000);
  assert_int_equal(pl.nmap, 2);
  assert_string_equal(pl.map[0], "init-5001.mp4");
  assert_string_equal(pl.map[1], "init-5002.mp4");
  hls_buf_t *b = hls_init_get(p, 5002);
  assert_non_null(b);
  hls_buf_unref(b);
  assert_null(hls_init_get(p, 2));
  b = hls_segment_get(p, HLS_TS, 5000);
  assert_non_null(b);
  hls_buf_unref(b);
  assert_null(hls_segment_get(p, HLS_TS, 0));
  assert_null(hls_segment_get(p, HLS_TS, 5006));
  hls_packager_free(p);
  hub_free(hub);
}

static void test_ring_bound(void **state) {
  hub_t *hub = hub_new("s3");
  cbstate_t cb = {0};
  /* ring below window + 2 is raised to window + 2 */
  hls_packager_t *p = packager(hub, 1000, 3, 1, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 1500, 3);
  hls_buf_t *first = hls_segment_get(p, HLS_TS, 0);
  hls_buf_t *first4 = hls_segment_get(p, HLS_FMP4, 0);
  assert_non_null(first);
  size_t first_len = first->len;
  feed(hub, 1500, 3000, 3);
  hub_unpublish(hub); /* session 1: segments 0, 1, 2 */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  /* session 2: 3 .. 8 published, 8 on its last frame (predicted keyframe) */
  feed(hub, 0, INT64_MAX, 3);
  assert_int_equal(hls_segments_published(p), 9);
  /* The ring keeps 5: 4 .. 8. */
  assert_null(hls_segment_get(p, HLS_TS, 0));
  assert_null(hls_segment_get(p, HLS_FMP4, 3));
  hls_buf_t *b = hls_segment_get(p, HLS_TS, 4);
  assert_non_null(b);
  hls_buf_unref(b);
  assert_null(hls_segment_get(p, HLS_TS, 9));
  /* A response still holding an evicted segment reads it whole. */
  assert_int_equal(first->len, first_len);
  assert_int_equal(first->data[0], 0x47);
  assert_int_equal(first->data[first->len - 188], 0x47);
  hls_buf_unref(first);
  hls_buf_unref(first4);
  /* Session 1's init went with its segments. */
  assert_null(hls_init_get(p, 1));
  b = hls_init_get(p, 2);
  assert_non_null(b);
  hls_buf_unref(b);

  playlist_t pl;
  get_playlist(p, HLS_FMP4, NULL, &pl);
  assert_int_equal(pl.nseg, 3);
  assert_int_equal(pl.media_seq, 6);
  assert_int_equal(pl.disc_seq, 1); /* segment 3's discontinuity left the window */
  assert_int_equal(pl.ndisc, 0);
  assert_int_equal(pl.nmap, 1);
  assert_string_equal(pl.map[0], "init-2.mp4");
  assert_string_equal(pl.uri[0], "6.m4s");
  hls_packager_end(p); /* nothing open: the last segment is out already */
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.media_seq, 6);
  assert_int_equal(pl.endlist, 1);
  hub_unpublish(hub);
  hls_packager_free(p);
  hub_free(hub);
}

/* A packager created mid-stream starts from the hub's GOP cache. */
static void test_join_midstream(void **state) {
  hub_t *hub = hub_new("s4");
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 2500, 3);
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 6, 0, &cb);
  feed(hub, 2500, INT64_MAX, 3);
  hub_unpublish(hub);
  assert_int_equal(hls_segments_published(p), 4); /* 2–3, 3–4, 4–5, 5–6 */
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_true(fabs(pl.sum - 4.0) < 0.05);
  hls_buf_t *b[2] = {hls_init_get(p, 1), hls_segment_get(p, HLS_FMP4, 0)};
  char path[128];
  probe_t r;
  snprintf(path, sizeof(path), "%s/join.mp4", g_dir);
  write_bufs(path, b, 2);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  /* Audio and video keep their offset: both start near 2.0 s. */
  assert_true(fabs(r.vfirst - 2.0) < 0.001);
  assert_true(fabs(r.afirst - 2.0) < 0.03);
  hls_buf_unref(b[0]);
  hls_buf_unref(b[1]);
  hls_packager_free(p);
  hub_free(hub);
}

static void test_audio_only(void **state) {
  hub_t *hub = hub_new("s5");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 10, 0, &cb);
  media_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  assert_int_equal(media_config_copy(&cfg, &g_cfg), 0);
  free(cfg.video_extradata);
  cfg.video_extradata = NULL;
  cfg.video_extradata_len = 0;
  cfg.video_codec = CODEC_NONE;
  assert_int_equal(hub_publish_config(hub, &cfg), 0);
  feed(hub, 0, INT64_MAX, 3); /* video frames are ignored */
  hub_unpublish(hub);
  media_config_clear(&cfg);
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_true(pl.nseg >= 5);
  for (int i = 0; i < pl.nseg - 1; i++) assert_true(pl.dur[i] >= 1.0 && pl.dur[i] < 1.03);
  assert_true(fabs(pl.sum - 6.0) < 0.1);
  hls_buf_t *b = hls_segment_get(p, HLS_TS, 1);
  char path[128];
  probe_t r;
  snprintf(path, sizeof(path), "%s/audio.ts", g_dir);
  write_bufs(path, &b, 1);
  probe_file(path, &r);
  assert_av_probe(&r, 0, 1);
  assert_int_equal(r.h264, 0);
  assert_int_equal(r.nvideo, 0);
  hls_buf_unref(b);
  hls_buf_t *m[2] = {hls_init_get(p, 1), hls_segment_get(p, HLS_FMP4, 1)};
  snprintf(path, sizeof(path), "%s/audio.mp4", g_dir);
  write_bufs(path, m, 2);
  probe_file(path, &r);
  assert_av_probe(&r, 0, 1);
  hls_buf_unref(m[0]);
  hls_buf_unref(m[1]);
  hls_packager_free(p);
  hub_free(hub);
}

/* Bad input from a publisher is dropped, never fatal. */
static void test_bad_input(void **state) {
  hub_t *hub = hub_new("s6");
  hls_packager_t *p = packager(hub, 1000, 6, 0, &(cbstate_t){0});
  /* A config that is not an avcC: no session, frames ignored. */
  media_config_t bad = g_cfg;
  uint8_t junk[3] = {0xde, 0xad, 0xbe};
  bad.video_extradata = junk;
  bad.video_extradata_len = sizeof(junk);
  assert_int_equal(hub_publish_config(hub, &bad), 0);
  feed(hub, 0, 2500, 3);
  assert_int_equal(hls_segments_published(p), 0);
  assert_null(hls_init_get(p, 1));
  hub_unpublish(hub);
  /* A good session with a frame whose NAL length overruns, and one going back in time. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 1000, 3);
  media_frame_t *f = media_frame_new(8);
  memcpy(f->data, "\x00\x00\x10\x00\x65\x88\x84\x00", 8);
  f->kind = MEDIA_VIDEO;
  f->codec = CODEC_H264;
  f->dts = f->pts = 990;
  hub_publish_frame(hub, f);
  f->dts = f->pts = 10; /* backwards */
  hub_publish_frame(hub, f);
  media_frame_unref(f);
  feed(hub, 1000, 2500, 3);
  hub_unpublish(hub);
  assert_int_equal(hls_segments_published(p), 3);
  hls_packager_free(p);
  hub_free(hub);
}

/* Publishes copy `n` of the input (timestamps shifted by n * 6 s, so copies
 * follow each other), frames with from_ms <= dts < to_ms of that copy;
 * unkey_ms >= 0 publishes the keyframe at that dts of the copy flagged as
 * an ordinary frame (an encoder whose GOP got longer). */
static void feed_copy(hub_t *hub, int n, int64_t from_ms, int64_t to_ms, int64_t unkey_ms) {
  for (size_t i = 0; i < g_nframes; i++) {
    media_frame_t *g = g_frames[i];
    if (g->dts < from_ms || g->dts >= to_ms || g->dts >= 6000) continue; /* copies abut */
    media_frame_t *f = media_frame_new(g->len);
    assert_non_null(f);
    memcpy(f->data, g->data, g->len);
    f->kind = g->kind;
    f->codec = g->codec;
    f->keyframe = g->keyframe && !(g->kind == MEDIA_VIDEO && g->dts == unkey_ms);
    f->dts = g->dts + n * 6000;
    f->pts = g->pts + n * 6000;
    assert_int_equal(hub_publish_frame(hub, f), 0);
    media_frame_unref(f);
  }
}

/* Every segment of the playlist, probed alone (TS, and init + fragment),
 * starts with a keyframe; the whole playlist decodes without an error. */
static void assert_segments_start_on_keyframes(hls_packager_t *p, const char *name) {
  char path[160];
  probe_t r;
  for (int fmt = HLS_TS; fmt <= HLS_FMP4; fmt++) {
    playlist_t pl;
    get_playlist(p, (hls_format_t)fmt, NULL, &pl);
    for (int i = 0; i < pl.nseg; i++) {
      hls_buf_t *b[2] = {NULL, hls_segment_get(p, (hls_format_t)fmt, strtoull(pl.uri[i], NULL, 10))};
      assert_non_null(b[1]);
      if (fmt == HLS_FMP4) {
        b[0] = hls_init_get(p, 1);
        assert_non_null(b[0]);
      }
      snprintf(path, sizeof(path), "%s/%s-%d.%s", g_dir, name, i, fmt == HLS_TS ? "ts" : "mp4");
      write_bufs(path, fmt == HLS_TS ? &b[1] : b, fmt == HLS_TS ? 1 : 2);
      probe_file(path, &r);
      assert_av_probe(&r, 1, 1);
      hls_buf_unref(b[0]);
      hls_buf_unref(b[1]);
    }
    snprintf(path, sizeof(path), "%s-%s.m3u8", name, fmt == HLS_TS ? "ts" : "fmp4");
    char m3u8[192];
    dump_hls(p, (hls_format_t)fmt, path, m3u8, sizeof(m3u8));
    assert_hls_decodes(m3u8);
  }
}

/* Once the GOP has had the same shape for 3 GOPs, a segment is published
 * when its last frame arrives, before the keyframe that follows it. */
static void test_predicted_close(void **state) {
  hub_t *hub = hub_new("s9");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 20, 0, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  /* Up to the last video frame of the 4th GOP (3.96 s at 25 fps). */
  feed(hub, 0, 3961, 3);
  assert_int_equal(hls_segments_published(p), 4); /* 3–4 without the keyframe at 4 s */
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 4);
  for (int i = 0; i < 4; i++) assert_true(fabs(pl.dur[i] - 1.0) < 0.001);
  /* That segment holds its 25 frames, keyframe first. */
  hls_buf_t *b = hls_segment_get(p, HLS_TS, 3);
  char path[128];
  probe_t r;
  snprintf(path, sizeof(path), "%s/pred3.ts", g_dir);
  write_bufs(path, &b, 1);
  probe_file(path, &r);
  assert_av_probe(&r, 1, 1);
  assert_int_equal(r.nvideo, 25);
  hls_buf_unref(b);
  /* The rest, and a second copy right after: every segment 1 s, each on a
   * keyframe, the sum the stream's length. */
  feed_copy(hub, 0, 3961, INT64_MAX, -1);
  feed_copy(hub, 1, 0, INT64_MAX, -1);
  hub_unpublish(hub);
  hls_packager_end(p);
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 12);
  for (int i = 0; i < pl.nseg; i++) assert_true(fabs(pl.dur[i] - 1.0) < 0.001);
  assert_true(fabs(pl.sum - 12.0) < 0.001);
  assert_int_equal(pl.ndisc, 0);
  assert_segments_start_on_keyframes(p, "pred");
  hls_packager_free(p);
  hub_free(hub);
}

/* The encoder stretches one GOP after the cadence was learned: the segment
 * closed on the prediction stays as published, the frames up to the real
 * keyframe are dropped, and no segment starts without a keyframe. Prediction
 * then waits for a much longer stable run. */
static void test_misprediction(void **state) {
  hub_t *hub = hub_new("s10");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 20, 0, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed_copy(hub, 0, 0, INT64_MAX, 5000); /* GOP 4–6 s is 2 s long */
  uint64_t before = hls_segments_published(p);
  assert_int_equal(before, 5); /* 4–5 was closed on the (wrong) prediction */
  feed_copy(hub, 1, 0, INT64_MAX, -1);
  feed_copy(hub, 2, 0, INT64_MAX, -1);
  hub_unpublish(hub);
  hls_packager_end(p);
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  /* 0..4 as before; then 5–7 (audio from 5 s, video from the keyframe at
   * 6 s), 7, 8, ... 17: 1 s each, closed at keyframes again (the cadence
   * must be stable for 12 GOPs before the next prediction). */
  assert_true(fabs(pl.dur[5] - 2.0) < 0.001);
  assert_true(fabs(pl.sum - 18.0) < 0.001);
  assert_int_equal(pl.nseg, 17);
  assert_segments_start_on_keyframes(p, "mispred");
  hls_packager_free(p);
  hub_free(hub);
}

/* Publishes a copy of an input video frame that is not a keyframe, at dts. */
static void publish_inter(hub_t *hub, int64_t dts) {
  const media_frame_t *inter = NULL;
  for (size_t i = 0; i < g_nframes && !inter; i++)
    if (g_frames[i]->kind == MEDIA_VIDEO && !g_frames[i]->keyframe) inter = g_frames[i];
  assert_non_null(inter);
  media_frame_t *f = media_frame_new(inter->len);
  assert_non_null(f);
  memcpy(f->data, inter->data, inter->len);
  f->kind = MEDIA_VIDEO;
  f->codec = inter->codec;
  f->dts = f->pts = dts;
  assert_int_equal(hub_publish_frame(hub, f), 0);
  media_frame_unref(f);
}

/* An encoder that stops sending keyframes: the open segment is not held
 * without end. After 60 s it is dropped (never published: the segment
 * callback refuses anything over 3 s), the frames that follow wait for a
 * keyframe, and that keyframe starts a segment after a discontinuity. */
static void test_overlong_segment_dropped(void **state) {
  hub_t *hub = hub_new("s12");
  cbstate_t cb = {0};
  hls_packager_t *p = packager(hub, 1000, 20, 0, &cb);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed_copy(hub, 0, 0, 2001, -1); /* 0-1, 1-2 published; 2.0 opens the next */
  assert_int_equal(hls_segments_published(p), 2);
  for (int64_t dts = 2040; dts < 66000; dts += 40) publish_inter(hub, dts);
  assert_int_equal(hls_segments_published(p), 2);
  feed_copy(hub, 11, 0, INT64_MAX, -1); /* keyframes again from 66 s */
  hub_unpublish(hub);
  hls_packager_end(p);
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 2 + 6);
  assert_int_equal(pl.ndisc, 1);
  for (int i = 0; i < pl.nseg; i++) assert_true(pl.dur[i] <= 1.001);
  assert_segments_start_on_keyframes(p, "overlong");
  hls_packager_free(p);
  hub_free(hub);
}

/* TARGETDURATION is the longest EXTINF rounded (RFC 8216 4.3.3.1), at
 * least the target, and never shrinks. */
static void test_target_duration(void **state) {
  hub_t *hub = hub_new("s7");
  hls_packager_t *p = packager(hub, 1000, 3, 0, &(cbstate_t){0});
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  /* The same frames on a clock 1.3 times slower: 1.3 s segments. */
  for (size_t i = 0; i < g_nframes; i++) {
    media_frame_t *f = media_frame_new(g_frames[i]->len), *g = g_frames[i];
    memcpy(f->data, g->data, g->len);
    f->kind = g->kind;
    f->codec = g->codec;
    f->keyframe = g->keyframe;
    f->dts = g->dts * 13 / 10;
    f->pts = f->dts + (g->pts - g->dts);
    hub_publish_frame(hub, f);
    media_frame_unref(f);
  }
  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_true(fabs(pl.dur[0] - 1.3) < 0.001);
  assert_int_equal(pl.target, 1);
  hub_unpublish(hub);
  hls_packager_free(p);
  hub_free(hub);

  hub = hub_new("s8");
  p = packager(hub, 2500, 3, 0, &(cbstate_t){0});
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, INT64_MAX, 3);
  hub_unpublish(hub);
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_true(fabs(pl.dur[0] - 3.0) < 0.001); /* next keyframe after 2.5 s */
  assert_int_equal(pl.target, 3);
  hls_packager_free(p);
  hub_free(hub);
}

typedef struct {
  int calls, ok;
  size_t nseg; /* fMP4 segments the playlist lists when the waiter is told */
} fmp4_waiter_state_t;

static void on_fmp4_ready(void *ud, hls_packager_t *p, int ok) {
  fmp4_waiter_state_t *w = ud;
  w->calls++;
  w->ok = ok;
  if (ok) {
    playlist_t pl;
    get_playlist(p, HLS_FMP4, NULL, &pl);
    w->nseg = (size_t)pl.nseg;
  }
}

/* fmp4_on_demand: TS from the start, fMP4 from the segment after the first
 * want; a waiter hears of the first fMP4 segment, or that none will come. */
static void test_fmp4_on_demand(void **state) {
  hub_t *hub = hub_new("s7");
  cbstate_t cb = {0};
  hls_opts_t o = {.target_ms = 1000, .window = 10, .fmp4_on_demand = 1};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment, &cb);
  assert_non_null(p);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 2500, 3);
  assert_int_equal(hls_segments_published(p), 2);
  char *text = NULL;
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &text, NULL), ERR_NOT_FOUND);
  assert_null(hls_segment_get(p, HLS_FMP4, 1));
  fmp4_waiter_state_t w = {0};
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), ERR_NOT_FOUND); /* not wanted yet */

  hls_packager_want_fmp4(p);
  hls_packager_want_fmp4(p); /* idempotent */
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), 0);
  /* The segment open at the want (2.0-3.0 s) stays TS only. */
  feed(hub, 2500, 3500, 3);
  assert_int_equal(hls_segments_published(p), 3);
  assert_int_equal(w.calls, 0);
  assert_null(hls_segment_get(p, HLS_FMP4, 2));
  /* The next one (3.0-4.0 s) is the first in both forms. */
  feed(hub, 3500, 4500, 3);
  assert_int_equal(hls_segments_published(p), 4);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.ok, 1);
  assert_int_equal(w.nseg, 1);
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), ERR_NOT_FOUND); /* it exists now */
  hub_unpublish(hub); /* closes 4.0-4.5 s, in both forms */
  hls_packager_end(p);

  playlist_t pl;
  get_playlist(p, HLS_TS, NULL, &pl);
  assert_int_equal(pl.nseg, 5);
  assert_int_equal(pl.media_seq, 0);
  get_playlist(p, HLS_FMP4, NULL, &pl);
  assert_int_equal(pl.nseg, 2);
  assert_int_equal(pl.media_seq, 3);
  assert_int_equal(pl.nmap, 1);
  assert_int_equal(pl.endlist, 1);
  assert_string_equal(pl.uri[0], "3.m4s");
  assert_both_forms_decode(p, "ondemand");
  hls_packager_free(p);
  hub_free(hub);

  /* Wanted while a segment is open, and the publisher leaves before the
   * next one: the waiter is told no fMP4 segment will come. */
  hub = hub_new("s8");
  cb = (cbstate_t){0};
  p = hls_packager_new(hub, &o, on_segment, &cb);
  assert_non_null(p);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 1500, 3);
  hls_packager_want_fmp4(p);
  w = (fmp4_waiter_state_t){0};
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), 0);
  hub_unpublish(hub);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.ok, 0);
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &text, NULL), ERR_NOT_FOUND);
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), ERR_NOT_FOUND); /* no session */
  /* A waiter that gave up (unwait) is not called any more. */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 500, 3);
  fmp4_waiter_state_t gone = {0};
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &gone), 0);
  hls_unwait(p, &gone);
  hls_unwait(p, &gone); /* no-op */
  /* A waiter still registered when the packager goes is told too. */
  w = (fmp4_waiter_state_t){0};
  assert_int_equal(hls_fmp4_wait(p, on_fmp4_ready, &w), 0);
  hls_packager_free(p);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.ok, 0);
  assert_int_equal(gone.calls, 0);
  hub_unpublish(hub);
  hub_free(hub);
}

/* ---- LL-HLS parts ------------------------------------------------------------------ */

/* The bytes of parts 0.. of segment seq, concatenated (until the first
 * missing one); *n gets how many there were. */
static uint8_t *parts_concat(hls_packager_t *p, uint64_t seq, size_t *len, unsigned *n) {
  uint8_t *all = NULL;
  *len = 0;
  for (*n = 0;; (*n)++) {
    hls_buf_t *b = hls_part_get(p, seq, *n);
    if (!b) break;
    all = realloc(all, *len + b->len);
    memcpy(all + *len, b->data, b->len);
    *len += b->len;
    hls_buf_unref(b);
  }
  return all;
}

/* The EXT-X-PART lines of a playlist: how many, the longest DURATION, the
 * PART-TARGET, and the PRELOAD-HINT's URI ("" when none). */
typedef struct {
  int nparts, nindependent;
  double longest, shortest, target;
  char hint[64];
} ll_info_t;

static void ll_info(const char *text, ll_info_t *li) {
  memset(li, 0, sizeof(*li));
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    double d;
    if (sscanf(l, "#EXT-X-PART:DURATION=%lf", &d) == 1) {
      li->nparts++;
      if (d > li->longest) li->longest = d;
      if (!li->shortest || d < li->shortest) li->shortest = d;
      const char *eol = strchr(l, '\n');
      const char *ind = strstr(l, "INDEPENDENT=YES");
      if (ind && (!eol || ind < eol)) li->nindependent++;
    }
    sscanf(l, "#EXT-X-PART-INF:PART-TARGET=%lf", &li->target);
    sscanf(l, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%63[^\"]", li->hint);
  }
}

typedef struct {
  int calls, ok;
} wait_state_t;

static void on_waited(void *ud, hls_packager_t *p, int ok) {
  (void)p;
  wait_state_t *w = ud;
  w->calls++;
  w->ok = ok;
}

/* A packager of 1 s segments with LL-HLS parts of part_ms, its config
 * published. */
static hls_packager_t *ll_packager(hub_t *hub, unsigned window, unsigned part_ms,
                                   cbstate_t *cb) {
  hls_opts_t o = {.target_ms = 1000, .window = window, .part_ms = part_ms};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment, cb);
  assert_non_null(p);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  return p;
}

/* The fMP4 playlist's LL-HLS lines (ll_info); the text too when text is
 * not NULL (the caller frees it). */
static void ll_playlist(hls_packager_t *p, ll_info_t *li, char **text) {
  char *t = NULL;
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &t, NULL), 0);
  ll_info(t, li);
  if (text)
    *text = t;
  else
    free(t);
}

/* part_ms: the fMP4 form is published in parts as it is made; the parts
 * of a segment are its bytes; the playlist lists them (with a hint for the
 * next); waiters hear of the segment or part they wait for. */
static void test_ll_parts(void **state) {
  hub_t *hub = hub_new("s9");
  cbstate_t cb = {0};
  hls_opts_t o = {.target_ms = 1000, .window = 10, .part_ms = 333, .fmp4_on_demand = 1};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment, &cb);
  assert_non_null(p);
  assert_true(hls_low_latency(p));
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 1500, 3);
  assert_int_equal(hls_segments_published(p), 1);

  /* Segment 0 (fMP4 from the start: parts imply it) is its parts. 25 fps:
   * parts of 8 frames (320 ms, the frame boundary nearest 333 ms), and the
   * 40 ms left before the keyframe. */
  size_t len;
  unsigned n;
  uint8_t *bytes = parts_concat(p, 0, &len, &n);
  hls_buf_t *seg = hls_segment_get(p, HLS_FMP4, 0);
  assert_non_null(seg);
  assert_int_equal(n, 4);
  assert_int_equal(len, seg->len);
  assert_memory_equal(bytes, seg->data, len);
  free(bytes);
  hls_buf_unref(seg);
  /* The open segment 1 (1.0-1.48 s written so far): one part. */
  bytes = parts_concat(p, 1, &len, &n);
  free(bytes);
  assert_int_equal(n, 1);

  char *text = NULL;
  assert_int_equal(hls_playlist(p, HLS_FMP4, "?auth=T", &text, NULL), 0);
  assert_non_null(strstr(text, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999\n"));
  assert_non_null(strstr(text, "#EXT-X-PART:DURATION=0.320,URI=\"0.0.m4s?auth=T\",INDEPENDENT=YES\n"));
  assert_non_null(strstr(text, "#EXT-X-PART:DURATION=0.040,URI=\"0.3.m4s?auth=T\"\n"));
  ll_info_t li;
  ll_info(text, &li);
  free(text);
  assert_int_equal(li.nparts, 5);     /* 4 of segment 0, 1 of the open one */
  assert_int_equal(li.nindependent, 2); /* each segment's first */
  assert_true(li.target == 0.333 && li.longest <= li.target);
  assert_string_equal(li.hint, "1.1.m4s?auth=T");
  /* The MPEG-TS form has no parts. */
  assert_int_equal(hls_playlist(p, HLS_TS, NULL, &text, NULL), 0);
  assert_null(strstr(text, "EXT-X-PART"));
  assert_null(strstr(text, "SERVER-CONTROL"));
  free(text);

  /* Blocking reload (rfc8216bis 6.2.5.2). */
  assert_int_equal(hls_reached(p, 0, -1), 1);
  assert_int_equal(hls_reached(p, 1, -1), 0);
  assert_int_equal(hls_reached(p, 1, 0), 1);
  assert_int_equal(hls_reached(p, 1, 1), 0);
  assert_int_equal(hls_reached(p, 0, 9), 1); /* past segment 0's parts: 1.0, which exists */
  assert_int_equal(hls_reached(p, 3, -1), 0);
  assert_int_equal(hls_reached(p, 4, -1), ERR_INVALID); /* more than two past segment 1 */
  /* The Advance Part Limit: 3 / 0.333 = 9 parts past the last (1.0);
   * segments to come count 4 parts (1 s of 333 ms parts). */
  assert_int_equal(hls_reached(p, 1, 9), 0);
  assert_int_equal(hls_reached(p, 1, 10), ERR_INVALID);
  assert_int_equal(hls_reached(p, 3, 1), 0);
  assert_int_equal(hls_reached(p, 3, 2), ERR_INVALID);
  assert_true(hls_part_pending(p, 1, 1));
  assert_false(hls_part_pending(p, 1, 2));
  assert_false(hls_part_pending(p, 2, 0));
  assert_null(hls_part_get(p, 1, 1));

  wait_state_t part = {0}, next_seg = {0}, far = {0}, gone = {0};
  assert_int_equal(hls_wait(p, 1, 1, on_waited, &part), 0);
  assert_int_equal(hls_wait(p, 2, -1, on_waited, &next_seg), 0);
  assert_int_equal(hls_wait(p, 2, 0, on_waited, &gone), 0);
  hls_unwait(p, &gone);
  feed(hub, 1500, 1700, 3); /* the part 1.28-1.6 s */
  assert_int_equal(part.calls, 1);
  assert_int_equal(part.ok, 1);
  assert_int_equal(next_seg.calls, 0);
  feed(hub, 1700, 3500, 3); /* segments 1 and 2 */
  assert_int_equal(next_seg.calls, 1);
  assert_int_equal(next_seg.ok, 1);
  /* A publisher that leaves (segment 3, open, is published) does not end
   * a blocking reload for segment 4 (its own timeout does); the end of the
   * stream does. */
  assert_int_equal(hls_wait(p, 4, -1, on_waited, &far), 0);
  hub_unpublish(hub);
  assert_int_equal(hls_segments_published(p), 4);
  assert_int_equal(far.calls, 0);
  hls_packager_end(p);
  assert_int_equal(far.calls, 1);
  assert_int_equal(far.ok, 1);
  assert_int_equal(gone.calls, 0);
  assert_int_equal(hls_reached(p, 99, 0), 1); /* ended: nothing to wait for */
  assert_both_forms_decode(p, "llhls");
  hls_packager_free(p);
  hub_free(hub);
}

/* Parts are kept for the newest segments only, and a packager that goes
 * tells its waiters no. */
static void test_ll_parts_kept(void **state) {
  hub_t *hub = hub_new("s10");
  cbstate_t cb = {0};
  hls_packager_t *p = ll_packager(hub, 10, 500, &cb);
  feed(hub, 0, 5500, 3);
  assert_int_equal(hls_segments_published(p), 5);
  assert_null(hls_part_get(p, 0, 0));
  hls_buf_t *b = hls_part_get(p, 1, 0);
  assert_non_null(b);
  hls_buf_unref(b);
  ll_info_t li;
  ll_playlist(p, &li, NULL);
  /* 25 fps, 500 ms target: parts of 12 frames (480 ms; a 13th would pass
   * the target), 480 + 480 + 40 per segment, listed for the newest 3
   * segments; the open one (5.0-5.48 s written) has its first. */
  assert_int_equal(li.nparts, 3 * 3 + 1);
  assert_true(li.target == 0.5 && li.longest <= li.target);
  assert_string_equal(li.hint, "5.1.m4s");
  wait_state_t w = {0};
  assert_int_equal(hls_wait(p, 7, -1, on_waited, &w), 0);
  hls_packager_free(p);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.ok, 0);
  hub_unpublish(hub);
  hub_free(hub);
}

/* A publisher that comes back (a new session: discontinuity, new init
 * segment): the first segment after it is listed once complete, without
 * parts or hint while it is open (hls.js takes parts under a new
 * discontinuity as a sequence mismatch); the one after has them again. */
static void test_ll_reconnect(void **state) {
  hub_t *hub = hub_new("s14");
  cbstate_t cb = {0};
  hls_packager_t *p = ll_packager(hub, 10, 333, &cb);
  feed(hub, 0, 2500, 3);
  hub_unpublish(hub); /* 0, 1 and 2.0-2.48 published */
  assert_int_equal(hls_segments_published(p), 3);
  char *text = NULL;
  ll_info_t li;
  ll_playlist(p, &li, NULL);
  assert_string_equal(li.hint, ""); /* nothing is coming */
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 900, 3); /* segment 3 open, parts made */
  assert_false(hls_part_pending(p, 3, 0));
  assert_int_equal(hls_reached(p, 3, 0), 0); /* waits for the whole segment */
  ll_playlist(p, &li, &text);
  assert_string_equal(li.hint, "");
  assert_null(strstr(text, "URI=\"3."));
  free(text);
  feed(hub, 900, 1500, 3); /* segment 3 complete, 4 open */
  assert_int_equal(hls_reached(p, 3, 0), 1);
  ll_playlist(p, &li, &text);
  const char *disc = strstr(text, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n");
  assert_non_null(disc);
  assert_non_null(strstr(disc, "URI=\"3.0.m4s\",INDEPENDENT=YES"));
  assert_string_equal(li.hint, "4.1.m4s");
  free(text);
  hub_unpublish(hub);
  hls_packager_free(p);
  hub_free(hub);
}

/* An open segment whose parts were published, then dropped (60 s without
 * a keyframe): the segment that takes its number names its parts on from
 * where the dropped ones ended, so no part URL names other bytes, and the
 * playlist lists none of the dropped parts. */
static void test_ll_part_names_not_reused(void **state) {
  hub_t *hub = hub_new("s13");
  cbstate_t cb = {0};
  hls_packager_t *p = ll_packager(hub, 20, 333, &cb);
  feed_copy(hub, 0, 0, 2001, -1); /* 0-1, 1-2 published; 2.0 opens the next */
  unsigned dropped = 0;
  for (int64_t dts = 2040; dts < 66000; dts += 40) {
    publish_inter(hub, dts);
    hls_buf_t *b = hls_part_get(p, 2, dropped);
    if (b) dropped++;
    hls_buf_unref(b);
  }
  assert_true(dropped > 100); /* parts of 2.0-62.0 s were published, then dropped */
  assert_int_equal(hls_segments_published(p), 2);
  assert_null(hls_part_get(p, 2, 0));
  char *text = NULL;
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &text, NULL), 0);
  assert_null(strstr(text, "URI=\"2."));
  free(text);
  feed_copy(hub, 11, 0, 1500, -1); /* keyframes again from 66 s: segment 2 anew */
  assert_int_equal(hls_segments_published(p), 3);
  assert_null(hls_part_get(p, 2, 0));
  hls_buf_t *b = hls_part_get(p, 2, dropped);
  assert_non_null(b);
  hls_buf_unref(b);
  assert_int_equal(hls_playlist(p, HLS_FMP4, NULL, &text, NULL), 0);
  char want[48];
  snprintf(want, sizeof(want), "URI=\"2.%u.m4s\",INDEPENDENT=YES", dropped);
  assert_non_null(strstr(text, want));
  assert_null(strstr(text, "URI=\"2.0.m4s\""));
  free(text);
  /* _HLS_part and LAST-PART count the listed parts from 0, as players do
   * (not from the first part's name). */
  assert_true(hls_reached(p, 2, 0) == 1);
  uint64_t msn;
  int last;
  assert_int_equal(hls_last_part(p, &msn, &last), 0);
  assert_true(msn == 3 && last >= 0 && last < 3);
  assert_int_equal(hls_reached(p, 3, last), 1);
  assert_int_equal(hls_reached(p, 3, last + 1), 0);
  hub_unpublish(hub);
  hls_packager_free(p);
  hub_free(hub);
}

/* Video below about 10 fps (slides, screen shares): PART-TARGET becomes a
 * whole number of frames, so that every part lasts at most PART-TARGET and
 * at least 85 % of it (rfc8216bis 4.4.4.9), whether the frame rate comes
 * from the metadata or from the timestamps (framerate 0). */
static void test_ll_low_frame_rate(void **state) {
  static const struct {
    double fps;
    int64_t step;
    double target, shortest;
    int parts_per_segment;
  } cases[] = {{5, 200, 0.202, 0.2, 5},
               {0, 125, 0.252, 0.25, 4},
               {2, 500, 0.502, 0.5, 2},
               {25, 40, 0.336, 0.04, 4}}; /* 320 + 320 + 320 + the final 40 ms */
  const media_frame_t *key = NULL, *inter = NULL;
  for (size_t i = 0; i < g_nframes; i++) {
    const media_frame_t *g = g_frames[i];
    if (g->kind != MEDIA_VIDEO) continue;
    if (g->keyframe && !key) key = g;
    if (!g->keyframe && !inter) inter = g;
  }
  assert_true(key && inter);
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    hub_t *hub = hub_new("s15");
    cbstate_t cb = {0};
    hls_opts_t o = {.target_ms = 1000, .window = 10, .part_ms = 336};
    hls_packager_t *p = hls_packager_new(hub, &o, on_segment, &cb);
    assert_non_null(p);
    media_config_t cfg = g_cfg; /* video only, at this frame rate */
    cfg.audio_codec = CODEC_NONE;
    cfg.framerate = cases[c].fps;
    assert_int_equal(hub_publish_config(hub, &cfg), 0);
    for (int64_t dts = 0; dts < 3500; dts += cases[c].step) {
      const media_frame_t *g = dts % 1000 == 0 ? key : inter;
      media_frame_t *f = media_frame_new(g->len);
      assert_non_null(f);
      memcpy(f->data, g->data, g->len);
      f->kind = MEDIA_VIDEO;
      f->codec = g->codec;
      f->keyframe = g->keyframe;
      f->dts = f->pts = dts;
      assert_int_equal(hub_publish_frame(hub, f), 0);
      media_frame_unref(f);
    }
    assert_int_equal(hls_segments_published(p), 3);
    ll_info_t li;
    ll_playlist(p, &li, NULL);
    assert_true(fabs(li.target - cases[c].target) < 1e-9);
    assert_true(li.longest <= li.target);
    assert_true(fabs(li.shortest - cases[c].shortest) < 1e-9);
    unsigned n;
    size_t len;
    free(parts_concat(p, 1, &len, &n));
    assert_int_equal(n, cases[c].parts_per_segment);
    hub_unpublish(hub);
    hls_packager_free(p);
    hub_free(hub);
  }
}

static void on_segment_any(void *ud, uint64_t seq, double dur) {
  (void)seq;
  (void)dur;
  (*(int *)ud)++;
}

/* The Advance Part Limit after a complete last segment that is short (the
 * publisher left mid-segment): none of its parts are still to come, so the
 * next segment's first part is 1 part past the last, however few parts it
 * had. 4 s segments, 1 s parts: limit 3, a full segment 4 parts. */
static void test_ll_advance_limit_after_short_segment(void **state) {
  (void)state;
  hub_t *hub = hub_new("s16");
  int calls = 0;
  hls_opts_t o = {.target_ms = 4000, .window = 10, .part_ms = 1000};
  hls_packager_t *p = hls_packager_new(hub, &o, on_segment_any, &calls);
  assert_non_null(p);
  assert_int_equal(hub_publish_config(hub, &g_cfg), 0);
  feed(hub, 0, 4500, 3);
  hub_unpublish(hub); /* 0 (4 parts) and 1 (0.48 s: 1 part), both complete */
  assert_int_equal(hls_segments_published(p), 2);
  uint64_t lmsn;
  int lpart;
  assert_int_equal(hls_last_part(p, &lmsn, &lpart), 0);
  assert_true(lmsn == 1 && lpart == 0);
  assert_int_equal(hls_reached(p, 2, 0), 0); /* the very next part: wait */
  assert_int_equal(hls_reached(p, 2, 2), 0); /* 3 parts past */
  assert_int_equal(hls_reached(p, 2, 3), ERR_INVALID);
  hls_packager_free(p);
  hub_free(hub);
}

/* A part_ms that is a whole number of frames stays the PART-TARGET: 1000 /
 * 30 * 15 is 500.00000000000006 in doubles, not more than 500 ms. */
static void test_ll_part_target_whole_frames(void **state) {
  (void)state;
  static const struct {
    unsigned part_ms;
    double fps, target;
  } cases[] = {{500, 30, 0.5}, {500, 60, 0.5}, {1000, 30, 1.0}, {200, 30, 0.2}, {336, 30, 0.336}};
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    hub_t *hub = hub_new("s17");
    int calls = 0;
    hls_opts_t o = {.target_ms = 2000, .window = 10, .part_ms = cases[c].part_ms};
    hls_packager_t *p = hls_packager_new(hub, &o, on_segment_any, &calls);
    assert_non_null(p);
    media_config_t cfg = g_cfg;
    cfg.framerate = cases[c].fps;
    assert_int_equal(hub_publish_config(hub, &cfg), 0);
    feed(hub, 0, 2500, 3);
    ll_info_t li;
    ll_playlist(p, &li, NULL);
    assert_true(fabs(li.target - cases[c].target) < 1e-9);
    hub_unpublish(hub);
    hls_packager_free(p);
    hub_free(hub);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nothing_yet),   cmocka_unit_test(test_full_stream),
      cmocka_unit_test(test_discontinuity), cmocka_unit_test(test_ring_bound),
      cmocka_unit_test(test_join_midstream), cmocka_unit_test(test_audio_only),
      cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_target_duration),
      cmocka_unit_test(test_predicted_close), cmocka_unit_test(test_misprediction),
      cmocka_unit_test(test_fmp4_on_demand), cmocka_unit_test(test_first_seq),
      cmocka_unit_test(test_overlong_segment_dropped),
      cmocka_unit_test(test_ll_parts),      cmocka_unit_test(test_ll_parts_kept),
      cmocka_unit_test(test_ll_part_names_not_reused), cmocka_unit_test(test_ll_reconnect),
      cmocka_unit_test(test_ll_low_frame_rate),
      cmocka_unit_test(test_ll_advance_limit_after_short_segment),
      cmocka_unit_test(test_ll_part_target_whole_frames),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
