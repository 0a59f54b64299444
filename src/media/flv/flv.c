#include "media/flv/flv.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "media/rtmp/amf0.h"

/* Legacy FLV codec ids. */
enum { VIDEO_AVC = 7, VIDEO_HEVC_LEGACY = 12 /* a de-facto extension (CDNs, FFmpeg forks) */ };
enum { SOUND_MP3 = 2, SOUND_EX_HEADER = 9, SOUND_AAC = 10, SOUND_MP3_8K = 14 };

/* Enhanced RTMP packet types. */
enum {
  EX_SEQUENCE_START = 0,
  EX_CODED_FRAMES = 1,
  EX_SEQUENCE_END = 2,
  EX_CODED_FRAMES_X = 3,
  EX_METADATA = 4,
  EX_MPEG2TS_SEQUENCE_START = 5,
  EX_MULTITRACK = 6,
  EX_MODEX = 7,
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int32_t si24(const uint8_t *p) {
  uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
  return (int32_t)(v ^ 0x800000u) - 0x800000; /* sign-extend 24 bits */
}

/* ----------------------------------------------------------------- video */

static flv_codec_t video_fourcc_codec(uint32_t fourcc) {
  switch (fourcc) {
  case FLV_FOURCC('a', 'v', 'c', '1'): return FLV_CODEC_H264;
  case FLV_FOURCC('h', 'v', 'c', '1'): return FLV_CODEC_HEVC;
  case FLV_FOURCC('a', 'v', '0', '1'): return FLV_CODEC_AV1;
  case FLV_FOURCC('v', 'p', '0', '9'): return FLV_CODEC_VP9;
  case FLV_FOURCC('v', 'p', '0', '8'): return FLV_CODEC_VP8;
  default: return FLV_CODEC_UNKNOWN;
  }
}

static int parse_video_enhanced(const uint8_t *p, size_t len, flv_frame_t *f) {
  unsigned ptype = p[0] & 0x0F;
  f->enhanced = 1;
  f->frame_type = (p[0] >> 4) & 0x07;
  f->keyframe = f->frame_type == FLV_FRAME_KEY;
  if (ptype == EX_MULTITRACK || ptype == EX_MODEX) {
    /* Their headers differ from here on (E-RTMP v2): skip, not an error. */
    f->packet = FLV_PACKET_OTHER;
    f->data = p + 1;
    f->len = len - 1;
    return 0;
  }
  if (len < 5) return ERR_PROTOCOL;
  f->fourcc = be32(p + 1);
  f->codec = video_fourcc_codec(f->fourcc);
  f->supported = f->codec != FLV_CODEC_UNKNOWN;
  size_t hdr = 5;
  if (f->frame_type == FLV_FRAME_COMMAND && ptype != EX_METADATA) {
    f->packet = FLV_PACKET_OTHER;
  } else {
    switch (ptype) {
    case EX_SEQUENCE_START: f->packet = FLV_PACKET_SEQUENCE_HEADER; break;
    case EX_SEQUENCE_END: f->packet = FLV_PACKET_END_OF_SEQUENCE; break;
    case EX_CODED_FRAMES_X: f->packet = FLV_PACKET_FRAME; break;
    case EX_CODED_FRAMES:
      f->packet = FLV_PACKET_FRAME;
      /* Only AVC and HEVC carry a composition time here. */
      if (f->codec == FLV_CODEC_H264 || f->codec == FLV_CODEC_HEVC) {
        if (len < 8) return ERR_PROTOCOL;
        f->cts = si24(p + 5);
        hdr = 8;
      }
      break;
    case EX_METADATA:
    case EX_MPEG2TS_SEQUENCE_START:
      f->packet = FLV_PACKET_OTHER;
      break;
    default: /* reserved packet types */
      return ERR_PROTOCOL;
    }
  }
  f->data = p + hdr;
  f->len = len - hdr;
  return 0;
}

int flv_parse_video(const uint8_t *p, size_t len, flv_frame_t *f) {
  memset(f, 0, sizeof(*f));
  f->is_video = 1;
  if (!p || len < 1) return ERR_PROTOCOL;
  if (p[0] & 0x80) return parse_video_enhanced(p, len, f);
  f->frame_type = p[0] >> 4;
  f->codec_id = p[0] & 0x0F;
  f->keyframe = f->frame_type == FLV_FRAME_KEY;
  if (f->frame_type < 1 || f->frame_type > 5) return ERR_PROTOCOL;
  if (f->codec_id != VIDEO_AVC && f->codec_id != VIDEO_HEVC_LEGACY) {
    f->packet = f->frame_type == FLV_FRAME_COMMAND ? FLV_PACKET_OTHER : FLV_PACKET_FRAME;
    f->data = p + 1;
    f->len = len - 1;
    return 0;
  }
  f->codec = f->codec_id == VIDEO_AVC ? FLV_CODEC_H264 : FLV_CODEC_HEVC;
  f->supported = 1;
  if (f->frame_type == FLV_FRAME_COMMAND) {
    /* A one-byte seek marker instead of video data. */
    f->packet = FLV_PACKET_OTHER;
    f->data = p + 1;
    f->len = len - 1;
    return 0;
  }
  if (len < 5) return ERR_PROTOCOL;
  switch (p[1]) {
  case 0: f->packet = FLV_PACKET_SEQUENCE_HEADER; break;
  case 1: f->packet = FLV_PACKET_FRAME; break;
  case 2: f->packet = FLV_PACKET_END_OF_SEQUENCE; break;
  default: return ERR_PROTOCOL;
  }
  f->cts = si24(p + 2);
  f->data = p + 5;
  f->len = len - 5;
  return 0;
}

/* Legacy video CodecIDs (FLV spec, E.4.3.1) by number; 7 and 12 are the
 * ones parsed above. */
static const struct {
  const char *name, *desc;
} legacy_video_names[] = {
    [1] = {"jpeg", "JPEG"},
    [2] = {"flv1", "Sorenson H.263"}, /* ffmpeg's FLV muxer default */
    [3] = {"screen", "Screen Video"},
    [4] = {"vp6", "On2 VP6"},
    [5] = {"vp6a", "On2 VP6 with alpha"},
    [6] = {"screen2", "Screen Video 2"},
    [7] = {"h264", NULL},
    [12] = {"hevc", NULL},
};

/* A FourCC as text when it is printable ("vp08"), else in hex. */
static void fourcc_text(uint32_t fourcc, char *out, size_t cap) {
  char c[4] = {(char)(fourcc >> 24), (char)(fourcc >> 16), (char)(fourcc >> 8), (char)fourcc};
  for (int i = 0; i < 4; i++) {
    if (c[i] < 0x20 || c[i] > 0x7e) {
      snprintf(out, cap, "0x%08x", fourcc);
      return;
    }
  }
  snprintf(out, cap, "%.4s", c);
}

flv_codec_name_t flv_video_codec_name(const flv_frame_t *f) {
  flv_codec_name_t n = {.name = "", .desc = NULL};
  if (!f->enhanced) {
    size_t id = f->codec_id;
    if (id < sizeof(legacy_video_names) / sizeof(legacy_video_names[0]) &&
        legacy_video_names[id].name) {
      snprintf(n.name, sizeof(n.name), "%s", legacy_video_names[id].name);
      n.desc = legacy_video_names[id].desc;
    } else {
      snprintf(n.name, sizeof(n.name), "codec_id %u", f->codec_id);
    }
    return n;
  }
  switch (f->codec) {
  case FLV_CODEC_H264: snprintf(n.name, sizeof(n.name), "h264"); break;
  case FLV_CODEC_HEVC: snprintf(n.name, sizeof(n.name), "hevc"); break;
  case FLV_CODEC_AV1: snprintf(n.name, sizeof(n.name), "av1"); break;
  case FLV_CODEC_VP9: snprintf(n.name, sizeof(n.name), "vp9"); break;
  case FLV_CODEC_VP8: snprintf(n.name, sizeof(n.name), "vp8"); break;
  default: fourcc_text(f->fourcc, n.name, sizeof(n.name)); break;
  }
  return n;
}

flv_codec_t flv_metadata_video_codec(const char *id, int *known) {
  *known = 0;
  size_t len = strlen(id);
  if (len >= 1 && len <= 2 && strspn(id, "0123456789") == len) {
    size_t n = (size_t)atoi(id);
    if (n >= sizeof(legacy_video_names) / sizeof(legacy_video_names[0]) ||
        !legacy_video_names[n].name)
      return FLV_CODEC_UNKNOWN;
    *known = 1;
    return n == VIDEO_AVC ? FLV_CODEC_H264 : n == VIDEO_HEVC_LEGACY ? FLV_CODEC_HEVC
                                                                      : FLV_CODEC_UNKNOWN;
  }
  if (len != 4) return FLV_CODEC_UNKNOWN;
  flv_codec_t c = video_fourcc_codec(FLV_FOURCC(id[0], id[1], id[2], id[3]));
  *known = c != FLV_CODEC_UNKNOWN;
  return c;
}

/* ----------------------------------------------------------------- audio */

int flv_parse_audio(const uint8_t *p, size_t len, flv_frame_t *f) {
  memset(f, 0, sizeof(*f));
  if (!p || len < 1) return ERR_PROTOCOL;
  f->codec_id = p[0] >> 4;
  f->sound_rate = (p[0] >> 2) & 3;
  f->sound_size = (p[0] >> 1) & 1;
  f->sound_type = p[0] & 1;
  f->packet = FLV_PACKET_FRAME;
  if (f->codec_id == SOUND_EX_HEADER) {
    unsigned ptype = p[0] & 0x0F;
    f->enhanced = 1;
    f->sound_rate = f->sound_size = f->sound_type = 0;
    if (len < 5) return ERR_PROTOCOL;
    f->fourcc = be32(p + 1);
    switch (f->fourcc) {
    case FLV_FOURCC('m', 'p', '4', 'a'): f->codec = FLV_CODEC_AAC; break;
    case FLV_FOURCC('O', 'p', 'u', 's'): f->codec = FLV_CODEC_OPUS; break;
    case FLV_FOURCC('.', 'm', 'p', '3'): f->codec = FLV_CODEC_MP3; break;
    default: f->codec = FLV_CODEC_UNKNOWN; break;
    }
    switch (ptype) {
    case EX_SEQUENCE_START: f->packet = FLV_PACKET_SEQUENCE_HEADER; break;
    case EX_CODED_FRAMES: f->packet = FLV_PACKET_FRAME; break;
    case EX_SEQUENCE_END: f->packet = FLV_PACKET_END_OF_SEQUENCE; break;
    default: f->packet = FLV_PACKET_OTHER; break; /* multichannel config, multitrack, modex */
    }
    f->supported = (f->codec == FLV_CODEC_AAC || f->codec == FLV_CODEC_OPUS) &&
                   f->packet != FLV_PACKET_OTHER;
    f->data = p + 5;
    f->len = len - 5;
    return 0;
  }
  if (f->codec_id != SOUND_AAC) {
    if (f->codec_id == SOUND_MP3 || f->codec_id == SOUND_MP3_8K) f->codec = FLV_CODEC_MP3;
    f->data = p + 1;
    f->len = len - 1;
    return 0;
  }
  f->codec = FLV_CODEC_AAC;
  f->supported = 1;
  if (len < 2) return ERR_PROTOCOL;
  if (p[1] > 1) return ERR_PROTOCOL;
  f->packet = p[1] == 0 ? FLV_PACKET_SEQUENCE_HEADER : FLV_PACKET_FRAME;
  f->data = p + 2;
  f->len = len - 2;
  return 0;
}

/* ---------------------------------------------------- configuration records */

/* Reads count length-prefixed NAL units; keeps up to FLV_MAX_PARAM_SETS. */
static int read_nalus(const uint8_t *p, size_t len, size_t *pos, unsigned count, flv_nalu_t *out,
                      unsigned *kept) {
  for (unsigned i = 0; i < count; i++) {
    if (len - *pos < 2) return ERR_PROTOCOL;
    uint16_t n = be16(p + *pos);
    *pos += 2;
    if (n == 0 || len - *pos < n) return ERR_PROTOCOL;
    if (out && *kept < FLV_MAX_PARAM_SETS) {
      out[*kept].data = p + *pos;
      out[*kept].len = n;
      (*kept)++;
    }
    *pos += n;
  }
  return 0;
}

int flv_parse_avc_config(const uint8_t *p, size_t len, flv_avc_config_t *c) {
  memset(c, 0, sizeof(*c));
  if (!p || len < 6 || p[0] != 1) return ERR_PROTOCOL;
  c->profile = p[1];
  c->compatibility = p[2];
  c->level = p[3];
  c->nalu_length_size = (uint8_t)((p[4] & 3) + 1);
  if (c->nalu_length_size == 3) return ERR_PROTOCOL;
  size_t pos = 6;
  int rc = read_nalus(p, len, &pos, p[5] & 0x1F, c->sps, &c->sps_count);
  if (rc) return rc;
  if (len - pos < 1) return ERR_PROTOCOL;
  unsigned npps = p[pos++];
  rc = read_nalus(p, len, &pos, npps, c->pps, &c->pps_count);
  if (rc) return rc;
  /* High-profile chroma/bit-depth extension may follow: not needed. */
  return c->sps_count ? 0 : ERR_PROTOCOL;
}

int flv_parse_hevc_config(const uint8_t *p, size_t len, flv_hevc_config_t *c) {
  memset(c, 0, sizeof(*c));
  if (!p || len < 23) return ERR_PROTOCOL;
  c->profile_space = p[1] >> 6;
  c->tier = (p[1] >> 5) & 1;
  c->profile = p[1] & 0x1F;
  c->level = p[12];
  c->nalu_length_size = (uint8_t)((p[21] & 3) + 1);
  if (c->nalu_length_size == 3) return ERR_PROTOCOL;
  unsigned narrays = p[22];
  size_t pos = 23;
  for (unsigned a = 0; a < narrays; a++) {
    if (len - pos < 3) return ERR_PROTOCOL;
    unsigned type = p[pos] & 0x3F;
    unsigned count = be16(p + pos + 1);
    pos += 3;
    flv_nalu_t *dst = NULL;
    unsigned *kept = NULL, skipped = 0;
    if (type == 32) dst = c->vps, kept = &c->vps_count;
    else if (type == 33) dst = c->sps, kept = &c->sps_count;
    else if (type == 34) dst = c->pps, kept = &c->pps_count;
    int rc = read_nalus(p, len, &pos, count, dst, kept ? kept : &skipped);
    if (rc) return rc;
  }
  return c->sps_count ? 0 : ERR_PROTOCOL;
}

typedef struct {
  const uint8_t *p;
  size_t len;
  size_t bit;
} bits_t;

static int bits_read(bits_t *b, unsigned n, uint32_t *v) {
  if (b->len * 8 - b->bit < n) return ERR_PROTOCOL;
  uint32_t x = 0;
  for (unsigned i = 0; i < n; i++, b->bit++)
    x = x << 1 | ((b->p[b->bit / 8] >> (7 - b->bit % 8)) & 1u);
  *v = x;
  return 0;
}

int flv_parse_aac_config(const uint8_t *p, size_t len, flv_aac_config_t *c) {
  static const uint32_t rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                     22050, 16000, 12000, 11025, 8000,  7350};
  memset(c, 0, sizeof(*c));
  if (!p) return ERR_PROTOCOL;
  bits_t b = {p, len, 0};
  uint32_t v;
  if (bits_read(&b, 5, &v)) return ERR_PROTOCOL;
  if (v == 31) {
    if (bits_read(&b, 6, &v)) return ERR_PROTOCOL;
    v += 32;
  }
  if (v == 0) return ERR_PROTOCOL;
  c->object_type = (uint8_t)v;
  if (bits_read(&b, 4, &v)) return ERR_PROTOCOL;
  c->sample_rate_index = (uint8_t)v;
  if (v == 15) {
    if (bits_read(&b, 24, &c->sample_rate)) return ERR_PROTOCOL;
  } else if (v < 13) {
    c->sample_rate = rates[v];
  } else {
    return ERR_PROTOCOL;
  }
  if (bits_read(&b, 4, &v)) return ERR_PROTOCOL;
  c->channel_config = (uint8_t)v;
  return c->sample_rate ? 0 : ERR_PROTOCOL;
}

/* --------------------------------------------------------------- Annex B */

static const uint8_t start_code[4] = {0, 0, 0, 1};

int flv_avcc_to_annexb(const uint8_t *in, size_t len, unsigned nls, uint8_t *out, size_t cap,
                       size_t *written) {
  *written = 0;
  if (nls < 1 || nls > 4 || (!in && len)) return ERR_INVALID;
  size_t pos = 0, w = 0;
  while (pos < len) {
    if (len - pos < nls) return ERR_PROTOCOL;
    size_t n = 0;
    for (unsigned i = 0; i < nls; i++) n = n << 8 | in[pos + i];
    pos += nls;
    if (n > len - pos) return ERR_PROTOCOL;
    if (n == 0) continue; /* empty NAL units carry nothing */
    if (out) {
      if (cap - w < 4 + n) return ERR_TOO_LARGE;
      memcpy(out + w, start_code, 4);
      memcpy(out + w + 4, in + pos, n);
    }
    w += 4 + n;
    pos += n;
  }
  *written = w;
  return 0;
}

int flv_params_to_annexb(const flv_nalu_t *sets, unsigned count, uint8_t *out, size_t cap,
                         size_t *written) {
  size_t w = 0;
  *written = 0;
  for (unsigned i = 0; i < count; i++) {
    size_t n = sets[i].len;
    if (out) {
      if (cap - w < 4 + n) return ERR_TOO_LARGE;
      memcpy(out + w, start_code, 4);
      memcpy(out + w + 4, sets[i].data, n);
    }
    w += 4 + n;
  }
  *written = w;
  return 0;
}

/* -------------------------------------------------------------- metadata */

static double num_field(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  if (json_is_number(v)) {
    double d = json_number_value(v);
    return isfinite(d) ? d : 0;
  }
  return 0;
}

static void str_copy(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src);
}

/* videocodecid / audiocodecid: a legacy number (7, 10), a FourCC packed in
 * a number (Enhanced RTMP), or a string. */
static void codec_field(const json_t *obj, const char *key, char *dst, size_t cap) {
  const json_t *v = json_object_get(obj, key);
  if (json_is_string(v)) {
    str_copy(dst, cap, json_string_value(v));
  } else if (json_is_number(v)) {
    double d = json_number_value(v);
    if (!(d >= 0 && d <= 4294967295.0)) return;
    uint32_t x = (uint32_t)d;
    int printable = x > 255;
    for (int i = 0; i < 4 && printable; i++) {
      unsigned ch = (x >> (24 - 8 * i)) & 0xFF;
      printable = ch >= 0x20 && ch < 0x7F;
    }
    if (printable)
      snprintf(dst, cap, "%c%c%c%c", (char)(x >> 24), (char)(x >> 16), (char)(x >> 8), (char)x);
    else
      snprintf(dst, cap, "%u", (unsigned)x);
  }
}

int flv_parse_metadata(const json_t *values, flv_metadata_t *m) {
  memset(m, 0, sizeof(*m));
  if (!json_is_array(values)) return ERR_NOT_FOUND;
  size_t i = 0;
  const char *s = json_string_value(json_array_get(values, i));
  if (s && strcmp(s, "@setDataFrame") == 0) s = json_string_value(json_array_get(values, ++i));
  if (!s || strcmp(s, "onMetaData") != 0) return ERR_NOT_FOUND;
  const json_t *o = json_array_get(values, i + 1);
  if (!json_is_object(o)) return 0;
  m->width = num_field(o, "width");
  m->height = num_field(o, "height");
  m->framerate = num_field(o, "framerate");
  if (m->framerate == 0) m->framerate = num_field(o, "fps");
  m->video_datarate = num_field(o, "videodatarate");
  m->audio_datarate = num_field(o, "audiodatarate");
  m->audio_samplerate = num_field(o, "audiosamplerate");
  m->audio_channels = num_field(o, "audiochannels");
  if (m->audio_channels == 0) {
    const json_t *st = json_object_get(o, "stereo");
    if (json_is_boolean(st)) m->audio_channels = json_is_true(st) ? 2 : 1;
  }
  codec_field(o, "videocodecid", m->video_codec, sizeof(m->video_codec));
  codec_field(o, "audiocodecid", m->audio_codec, sizeof(m->audio_codec));
  const char *enc = json_string_value(json_object_get(o, "encoder"));
  if (enc) str_copy(m->encoder, sizeof(m->encoder), enc);
  return 0;
}

int flv_parse_metadata_amf(const uint8_t *p, size_t len, flv_metadata_t *m) {
  json_t *values;
  memset(m, 0, sizeof(*m));
  int rc = amf0_decode_all(p, len, &values);
  if (rc) return rc;
  rc = flv_parse_metadata(values, m);
  json_decref(values);
  return rc;
}
