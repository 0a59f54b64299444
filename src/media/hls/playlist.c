/* playlist.c — renders a live media playlist (RFC 8216) from the window,
 * with the LL-HLS tags of rfc8216bis when the window has parts. */
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

static void put_parts(out_t *o, uint64_t seq, const hls__part_t *parts, size_t n, unsigned base,
                      const char *sfx) {
  for (size_t i = 0; i < n; i++)
    put(o, "#EXT-X-PART:DURATION=%" PRId64 ".%03" PRId64 ",URI=\"%" PRIu64 ".%zu.m4s%s\"%s\n",
        parts[i].dur_ms / 1000, parts[i].dur_ms % 1000, seq, base + i, sfx,
        parts[i].independent ? ",INDEPENDENT=YES" : "");
}

int hls__playlist_render(const hls__window_t *w, hls_format_t fmt, const char *uri_suffix,
                         char **out, size_t *outlen) {
  const char *sfx = uri_suffix ? uri_suffix : "";
  size_t sfxlen = strlen(sfx);
  const int fmp4 = fmt == HLS_FMP4, ll = fmp4 && w->part_target_ms;
  size_t lines = w->n;
  if (ll) {
    lines += w->n_open + 1;
    for (size_t i = w->parts_from; i < w->n; i++)
      lines += w->ring[(w->first + i) % w->ring_cap].n_parts;
  }
  out_t o = {.cap = 512 + lines * (224 + 2 * sfxlen)};
  if (!(o.buf = malloc(o.cap))) return ERR_NOMEM;
  const hls__seg_t *first = &w->ring[w->first];
  /* Version 7 for fMP4: EXT-X-MAP in a media playlist needs 6 or more. */
  put(&o, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n", fmp4 ? 7 : 3, w->target_s);
  if (ll) {
    /* rfc8216bis: PART-HOLD-BACK at least twice the part target; three
     * times is what Apple recommends and hls.js expects. */
    unsigned hold = 3 * w->part_target_ms;
    put(&o,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%u.%03u\n"
        "#EXT-X-PART-INF:PART-TARGET=%u.%03u\n",
        hold / 1000, hold % 1000, w->part_target_ms / 1000, w->part_target_ms % 1000);
  }
  put(&o, "#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n", first->seq);
  if (w->disc_seq) put(&o, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n", w->disc_seq);
  put(&o, "#EXT-X-INDEPENDENT-SEGMENTS\n");
  const hls__seg_t *prev = NULL;
  for (size_t i = 0; i < w->n; i++) {
    const hls__seg_t *s = &w->ring[(w->first + i) % w->ring_cap];
    if (s->discont) put(&o, "#EXT-X-DISCONTINUITY\n");
    if (fmp4 && (!prev || prev->session != s->session))
      put(&o, "#EXT-X-MAP:URI=\"init-%" PRIu64 ".mp4%s\"\n", w->init_base + s->session, sfx);
    put_date(&o, s->wall_ms);
    if (ll && i >= w->parts_from) put_parts(&o, s->seq, s->parts, s->n_parts, s->parts_base, sfx);
    put(&o, "#EXTINF:%" PRId64 ".%03" PRId64 ",\n%" PRIu64 ".%s%s\n", s->dur_ms / 1000,
        s->dur_ms % 1000, s->seq, fmp4 ? "m4s" : "ts", sfx);
    prev = s;
  }
  if (ll && w->open_hint) {
    /* The open segment (it continues the last one: see hls__window_t):
     * the parts made so far, then the next one to come. */
    put_parts(&o, w->open_seq, w->open_parts, w->n_open, w->open_base, sfx);
    put(&o, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%" PRIu64 ".%zu.m4s%s\"\n", w->open_seq,
        w->open_base + w->n_open, sfx);
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
