/* playlist.c — renders a live media playlist (RFC 8216) from the window. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "media/hls/hls_int.h"

typedef struct {
  char *buf;
  size_t len, cap;
  int overflow;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
  if (o->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= o->cap - o->len)
    o->overflow = 1;
  else
    o->len += (size_t)n;
}

/* ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:03.040Z. */
static void put_date(out_t *o, int64_t ms) {
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int frac = (int)(ms - (int64_t)secs * 1000);
  struct tm tm;
  char date[32];
  gmtime_r(&secs, &tm);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  put(o, "#EXT-X-PROGRAM-DATE-TIME:%s.%03dZ\n", date, frac);
}

int hls__playlist_render(const hls__window_t *w, hls_format_t fmt, const char *uri_suffix,
                         char **out, size_t *outlen) {
  const char *sfx = uri_suffix ? uri_suffix : "";
  size_t sfxlen = strlen(sfx);
  out_t o = {.cap = 256 + w->n * (224 + 2 * sfxlen)};
  if (!(o.buf = malloc(o.cap))) return ERR_NOMEM;
  const int fmp4 = fmt == HLS_FMP4;
  const hls__seg_t *first = &w->ring[w->first];
  /* Version 7 for fMP4: EXT-X-MAP in a media playlist needs 6 or more. */
  put(&o, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n#EXT-X-MEDIA-SEQUENCE:%" PRIu64
          "\n",
      fmp4 ? 7 : 3, w->target_s, first->seq);
  if (w->disc_seq) put(&o, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n", w->disc_seq);
  put(&o, "#EXT-X-INDEPENDENT-SEGMENTS\n");
  const hls__seg_t *prev = NULL;
  for (size_t i = 0; i < w->n; i++) {
    const hls__seg_t *s = &w->ring[(w->first + i) % w->ring_cap];
    if (s->discont) put(&o, "#EXT-X-DISCONTINUITY\n");
    if (fmp4 && (!prev || prev->session != s->session))
      put(&o, "#EXT-X-MAP:URI=\"init-%" PRIu64 ".mp4%s\"\n", w->init_base + s->session, sfx);
    put_date(&o, s->wall_ms);
    put(&o, "#EXTINF:%" PRId64 ".%03" PRId64 ",\n%" PRIu64 ".%s%s\n", s->dur_ms / 1000,
        s->dur_ms % 1000, s->seq, fmp4 ? "m4s" : "ts", sfx);
    prev = s;
  }
  if (w->ended) put(&o, "#EXT-X-ENDLIST\n");
  if (o.overflow) {
    free(o.buf);
    return ERR_INTERNAL;
  }
  *out = o.buf;
  if (outlen) *outlen = o.len;
  return 0;
}
