/* multivariant.c — multivariant playlist text (multivariant.h). */
#include "media/hls/multivariant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text_t *t, const char *fmt, ...) {
  if (t->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    t->failed = 1;
    return;
  }
  if (t->len + (size_t)n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + (size_t)n + 1) cap *= 2;
    char *d = realloc(t->data, cap);
    if (!d) {
      t->failed = 1;
      return;
    }
    t->data = d;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

int hls_multivariant_render(const hls_variant_t *v, size_t n, char **out, size_t *outlen) {
  if (n == 0) return ERR_INVALID;
  text_t t = {0};
  /* every segment of every rendition starts with an IDR */
  put(&t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
  for (size_t i = 0; i < n; i++) {
    put(&t, "#EXT-X-STREAM-INF:BANDWIDTH=%u", v[i].bandwidth ? v[i].bandwidth : 1);
    if (v[i].average_bandwidth) put(&t, ",AVERAGE-BANDWIDTH=%u", v[i].average_bandwidth);
    if (v[i].width > 0 && v[i].height > 0) put(&t, ",RESOLUTION=%dx%d", v[i].width, v[i].height);
    if (v[i].codecs && *v[i].codecs) put(&t, ",CODECS=\"%s\"", v[i].codecs);
    if (v[i].framerate > 0) put(&t, ",FRAME-RATE=%.3f", v[i].framerate);
    put(&t, "\n%s\n", v[i].uri);
  }
  if (t.failed) {
    free(t.data);
    return ERR_NOMEM;
  }
  *out = t.data;
  *outlen = t.len;
  return 0;
}

/* HEVCDecoderConfigurationRecord → "hvc1.<profile>.<compat reversed hex>.<L|H><level>.<constraints>" */
static size_t hevc_codec(const uint8_t *x, size_t len, char *out, size_t outlen) {
  if (len < 13) return 0;
  int space = x[1] >> 6, tier = (x[1] >> 5) & 1, profile = x[1] & 0x1f;
  uint32_t compat = ((uint32_t)x[2] << 24) | ((uint32_t)x[3] << 16) | ((uint32_t)x[4] << 8) | x[5];
  uint32_t rev = 0;
  for (int i = 0; i < 32; i++)
    if (compat & (1u << i)) rev |= 1u << (31 - i);
  int n = snprintf(out, outlen, "hvc1.%s%d.%X.%c%d", space == 1 ? "A" : space == 2 ? "B" : space == 3 ? "C" : "",
                   profile, rev, tier ? 'H' : 'L', x[12]);
  /* constraint bytes, trailing zero bytes left out */
  int last = -1;
  for (int i = 0; i < 6; i++)
    if (x[6 + i]) last = i;
  for (int i = 0; i <= last && n > 0 && (size_t)n < outlen; i++)
    n += snprintf(out + n, outlen - (size_t)n, ".%X", x[6 + i]);
  return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}

size_t hls_codecs_string(const media_config_t *cfg, char *out, size_t outlen) {
  size_t o = 0;
  if (outlen == 0) return 0;
  out[0] = '\0';
  const uint8_t *x = cfg->video_extradata;
  if (cfg->video_codec == CODEC_H264 && x && cfg->video_extradata_len >= 4) {
    int n = snprintf(out, outlen, "avc1.%02x%02x%02x", x[1], x[2], x[3]);
    if (n > 0 && (size_t)n < outlen) o = (size_t)n;
  } else if (cfg->video_codec == CODEC_HEVC && x) {
    o = hevc_codec(x, cfg->video_extradata_len, out, outlen);
  }
  out[o] = '\0'; /* a codec that did not fit leaves no cut-off text behind */
  if (cfg->audio_codec == CODEC_AAC) {
    /* audioObjectType: the first 5 bits of the AudioSpecificConfig (LC = 2) */
    int aot = cfg->audio_extradata_len >= 1 ? cfg->audio_extradata[0] >> 3 : 2;
    if (aot == 31 && cfg->audio_extradata_len >= 2)
      aot = 32 + (((cfg->audio_extradata[0] & 7) << 3) | (cfg->audio_extradata[1] >> 5));
    int n = snprintf(out + o, outlen - o, "%smp4a.40.%d", o ? "," : "", aot ? aot : 2);
    if (n > 0 && o + (size_t)n < outlen) o += (size_t)n;
    else out[o] = '\0';
  }
  return o;
}
