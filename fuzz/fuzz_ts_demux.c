/* libFuzzer target: MPEG-TS bytes through the SRT demux path (libavformat's
 * mpegts demuxer, then our Annex B → length-prefixed (H.264 and HEVC) and
 * ADTS → raw AAC conversion), plus the conversions, the HEVC SPS parser and
 * the hvcC builder on the raw input. Frames must satisfy the hub's
 * contract: non-empty, valid 4-byte NAL lengths, monotonic dts per kind. */
#include <libavutil/log.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "media/hevc_config.h"
#include "media/avc_config.h"
#include "media/srt/ts_demux.h"

typedef struct {
  int64_t last[2];
  int seen[2];
} state_t;

static void on_config(void *ud, const media_config_t *cfg) {
  (void)ud;
  if (cfg->video_codec == CODEC_H264 && cfg->video_extradata_len < 7) abort();
  if (cfg->video_codec == CODEC_HEVC && cfg->video_extradata_len < 23) abort();
}

static void on_frame(void *ud, media_frame_t *f) {
  state_t *s = ud;
  int k = f->kind;
  if (f->len == 0 || f->pts < f->dts) abort();
  if (s->seen[k] && f->dts < s->last[k]) abort();
  s->seen[k] = 1;
  s->last[k] = f->dts;
  if (k == MEDIA_VIDEO) {
    size_t o = 0;
    while (o < f->len) {
      if (o + 4 > f->len) abort();
      size_t n = (size_t)f->data[o] << 24 | (size_t)f->data[o + 1] << 16 |
                 (size_t)f->data[o + 2] << 8 | f->data[o + 3];
      if (n == 0 || n > f->len - o - 4) abort();
      o += 4 + n;
    }
  }
  media_frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) av_log_set_level(AV_LOG_QUIET), quiet = 1;
  if (size > 1 << 20) return 0;
  /* the conversions alone, read as H.264 and as HEVC */
  for (int hevc = 0; hevc < 2; hevc++) {
    uint8_t *out, *rec;
    size_t len, rlen;
    ts_nal_scan_t scan;
    if (ts_demux_annexb_to_length_prefixed(data, size, hevc ? CODEC_HEVC : CODEC_H264, &out, &len,
                                           &scan) != 0)
      continue;
    if (!hevc && scan.sps && scan.pps &&
        avc_config_build(scan.sps, scan.sps_len, scan.pps, scan.pps_len, &rec, &rlen) == 0)
      free(rec);
    if (hevc && scan.sps) {
      hevc_sps_t sps;
      hevc_sps_parse(scan.sps, scan.sps_len, &sps);
      if (scan.vps && scan.pps &&
          hevc_config_build(scan.vps, scan.vps_len, scan.sps, scan.sps_len, scan.pps,
                            scan.pps_len, &rec, &rlen) == 0)
        free(rec);
    }
    free(out);
  }
  ts_adts_t a;
  ts_demux_adts_parse(data, size, &a);
  /* the whole demux path */
  state_t st = {{0, 0}, {0, 0}};
  ts_demux_sink_t sink = {on_config, on_frame};
  ts_demux_buffer(data, size, &sink, &st);
  return 0;
}
