/* GET /hls/{playback_id}/{file} — live HLS playback: media playlists in
 * MPEG-TS or fMP4 form, segments and init segments, served from the
 * packager's memory ring without copying.
 *
 * Transcoded streams (media/transcode): index.m3u8 is then a multivariant
 * playlist (media/hls/multivariant.h) and each rendition is served at
 * GET /hls/{playback_id}/{rendition}/{file}; the stream's own segment URLs
 * keep serving the source rendition.
 *
 * Policies (seed 003): a public playback ID plays freely; an authenticated
 * one needs ?auth=<RS256 JWT> signed with one of the project's signing keys.
 * allowed_referer_domains, when set, must match the Referer's host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/playback_cache.h"
#include "auth/signing.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/gzip.h"
#include "http/headers.h"
#include "live/metrics.h" /* health */
#include "media/hls/hls.h"
#include "media/hls/multivariant.h"   /* transcode */
#include "media/hls/names.h"
#include "media/transcode/transcode.h" /* transcode */

#define SEGMENT_CACHE "public, max-age=86400, immutable"
#define PLAYLIST_TYPE "application/vnd.apple.mpegurl"

/* 1 when the request may play given allowed_referer_domains. */
static int referer_allowed(json_t *params, http_request_t *req) {
  json_t *list = json_object_get(params, "allowed_referer_domains");
  if (!json_is_array(list) || json_array_size(list) == 0) return 1;
  char host[256];
  if (!http_referer_host(http_request_header(req, "Referer"), host, sizeof(host))) return 0;
  size_t i;
  json_t *d;
  json_array_foreach(list, i, d) {
    const char *pat = json_string_value(d);
    if (pat && http_domain_matches(pat, host)) return 1;
  }
  return 0;
}

/* The value of query parameter `name` (decoded) into out; 1 if present. */
static int query_get(http_request_t *req, const char *name, char *out, size_t outlen) {
  const char *cur = req->query;
  char key[64];
  int rc;
  /* a parameter too long for `out` (a token before "format") is skipped */
  while ((rc = http_query_next(&cur, key, sizeof(key), out, outlen)) != 0)
    if (rc == 1 && strcmp(key, name) == 0) return 1;
  out[0] = '\0';
  return 0;
}

/* A decimal query value; 1 when present and valid, 0 when absent, -1 when
 * malformed. */
static int query_number(http_request_t *req, const char *name, uint64_t max, uint64_t *out) {
  char v[96]; /* longer values (zeros in front) read as absent */
  if (!query_get(req, name, v, sizeof(v))) return 0;
  return hls_directive_number(v, max, out) ? 1 : -1;
}

/* The delivery directives of a blocking playlist reload (rfc8216bis
 * 6.2.5.2): 1 with the segment (and part, -1 for none) asked for when the
 * playlist does not have it yet; 0 when there is none or the playlist has
 * it; -1 for a bad request (also one too far ahead: hls_reached). */
static int blocking_reload(http_request_t *req, hls_packager_t *hls, uint64_t *msn, int *part) {
  uint64_t m = 0, pt = 0;
  int has_m = query_number(req, "_HLS_msn", UINT64_MAX - 1, &m);
  int has_p = query_number(req, "_HLS_part", HLS_PART_INDEX_MAX, &pt);
  if (has_m < 0 || has_p < 0 || (has_p && !has_m)) return -1;
  if (!has_m) return 0;
  *msn = m;
  *part = has_p ? (int)pt : -1;
  int rc = hls_reached(hls, m, *part);
  return rc < 0 ? -1 : !rc;
}

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

/* Playlists shorter than this go out as they are: gzip's 18 bytes of
 * framing and the client's inflating would eat the little it saves. */
#define GZIP_MIN_BYTES 256

/* Flags of send_playlist. */
#define PL_CONDITIONAL 1 /* 304 for a matching If-None-Match (a blocking reload is answered in full) */
#define PL_SHARED 2      /* the same text goes to every viewer (no token in its URIs): cache the gzip */

/* A playlist response; takes text. Gzipped for a client whose
 * Accept-Encoding takes it (rfc8216bis 6.2.1), with its own ETag since
 * the bytes differ; Vary tells caches so. A shared playlist is compressed
 * once per version (gzip_cached); one with a viewer's token in its URIs
 * is compressed for that answer only. */
static void send_playlist(http_request_t *req, http_response_t *res, char *text, size_t len,
                          int flags) {
  char etag[64];
  uint64_t hash = fnv1a(text, len);
  int gzipped = len >= GZIP_MIN_BYTES &&
                http_accepts_gzip(http_request_header(req, "Accept-Encoding"));
  http_response_header(res, "Content-Type", PLAYLIST_TYPE);
  http_response_header(res, "Cache-Control", "no-cache");
  http_response_header(res, "Vary", "Accept-Encoding");
  snprintf(etag, sizeof(etag), gzipped ? "\"%016llx-gz\"" : "\"%016llx\"",
           (unsigned long long)hash);
  if ((flags & PL_CONDITIONAL) && api_not_modified(req, res, etag)) { /* nothing to compress */
    free(text);
    return;
  }
  http_response_status(res, 200);
  if (gzipped) {
    const char *shared = NULL;
    char *own = NULL;
    size_t gz_len;
    int rc = flags & PL_SHARED ? gzip_cached(hash, text, len, &shared, &gz_len)
                               : gzip_encode(text, len, &own, &gz_len);
    if (rc == 0) {
      http_response_header(res, "Content-Encoding", "gzip");
      if (own)
        http_response_body_owned(res, own, gz_len);
      else
        http_response_body(res, shared, gz_len);
      free(text);
      return;
    }
    /* zlib failed: the plain text, under its own tag */
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)hash);
    http_response_header_set(res, "ETag", etag);
  }
  http_response_body_owned(res, text, len);
}

/* Responses that wait for the packager (hls_wait_cb):
 * - a player asked for the fMP4 playlist of a stream that has made only TS
 *   so far (fMP4 is made on demand, hls.h): the response waits for the
 *   first fMP4 segment, normally at most one segment. A publisher that
 *   sends no keyframe for a long time would keep it waiting: after
 *   FMP4_WAIT_MS it is answered 503 with Retry-After;
 * - LL-HLS: a blocking playlist reload (_HLS_msn, _HLS_part) waits until
 *   the playlist has that segment or part, and a request for the part the
 *   playlist hints at (EXT-X-PRELOAD-HINT) until it is made. rfc8216bis
 *   6.2.5.2: after three target durations without it, 503;
 * - transcode: the stream's playlist URL while only the source has a
 *   segment (its rungs' first ones are a moment behind) waits for a rung,
 *   at most one target duration, then answers the multivariant playlist
 *   with what there is. Answering the source's media playlist instead
 *   would give that player a multivariant playlist at its next reload of
 *   the same URL, which hls.js takes as a fatal error. */
#define FMP4_WAIT_MS 10000

typedef enum { WAIT_PLAYLIST, WAIT_PART, WAIT_MULTIVARIANT } wait_kind_t;

/* transcode: what a rendition's LL-HLS playlist needs to report on the
 * other renditions (append_rendition_reports). */
typedef struct {
  char stream_id[40];
  char rendition[16]; /* "" when the request is not for a rendition */
  char fmtq[16];      /* the request's format query, "" when none */
  int custom;         /* params.mode custom: the source is no variant */
} reports_t;
static void add_reports(api_ctx_t *ctx, const reports_t *rep, hls_packager_t *hls,
                        hls_format_t fmt, const char *suffix, char **text, size_t *len);

typedef struct {
  api_ctx_t *ctx;
  reports_t rep;       /* WAIT_PLAYLIST */
  http_request_t *req; /* valid until the response is finished (http.h) */
  http_response_t *res;
  hls_packager_t *hls; /* valid while waiting: a packager going away tells us first */
  uv_timer_t timer;
  wait_kind_t kind;
  hls_format_t fmt; /* WAIT_PLAYLIST */
  uint64_t seq;     /* WAIT_PART */
  unsigned idx;
  char suffix[];    /* WAIT_PLAYLIST: the URI suffix (?auth=…) */
} hls_waiter_t;

static void send_buf(http_request_t *req, http_response_t *res, hls_buf_t *buf, const char *type,
                     const char *cache, const char *etag);
static int serve_multivariant(api_ctx_t *ctx, http_request_t *req, http_response_t *res,
                              live_stream_t *ls, int custom, const char *fmtq, const char *token,
                              int force, int conditional);
static void multivariant_later(hls_waiter_t *w);
static void send_part(http_request_t *req, http_response_t *res, hls_buf_t *b, uint64_t seq,
                      unsigned idx);

static void waiter_closed(uv_handle_t *h) { free(h->data); }

static void waiter_done(hls_waiter_t *w) {
  http_response_finish(w->res);
  uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void waiter_ready(void *ud, hls_packager_t *hls, int ok) {
  hls_waiter_t *w = ud;
  uv_timer_stop(&w->timer);
  if (w->kind == WAIT_MULTIVARIANT) {
    if (ok)
      multivariant_later(w);
    else /* the rung's packager is being freed: the stream's media go, don't look */
      api_error(w->res, ERR_NOT_FOUND, "the stream is not live", NULL);
  } else if (w->kind == WAIT_PART) {
    hls_buf_t *b = ok ? hls_part_get(hls, w->seq, w->idx) : NULL;
    if (b)
      send_part(w->req, w->res, b, w->seq, w->idx);
    else
      api_error(w->res, ERR_NOT_FOUND, "no such part (the segment ended before it)", NULL);
  } else {
    char *text = NULL;
    size_t len = 0;
    if (ok && hls_playlist(hls, w->fmt, w->suffix, &text, &len) == 0) {
      add_reports(w->ctx, &w->rep, hls, w->fmt, w->suffix, &text, &len);
      send_playlist(w->req, w->res, text, len, *w->suffix ? 0 : PL_SHARED);
    } else
      api_error(w->res, ERR_NOT_FOUND, "the stream has no segment yet", NULL);
  }
  waiter_done(w);
}

static void waiter_timeout(uv_timer_t *t) {
  hls_waiter_t *w = t->data;
  hls_unwait(w->hls, w);
  if (w->kind == WAIT_MULTIVARIANT) { /* the rungs are late: what there is */
    multivariant_later(w);
    waiter_done(w);
    return;
  }
  http_response_header(w->res, "Retry-After", "2");
  api_error(w->res, ERR_UNAVAILABLE,
            w->kind == WAIT_PART ? "the part did not come in time (is the publisher gone?)"
            : w->seq == UINT64_MAX ? "the fMP4 form of this stream has no segment yet"
                : "the requested segment did not come in time (is the publisher gone?)",
            NULL);
  waiter_done(w);
}

/* Makes the response wait: for the first fMP4 segment (msn = UINT64_MAX),
 * a segment or part in the playlist (kind WAIT_PLAYLIST), or a part
 * (WAIT_PART, msn/part = that part). 1 when it waits or was answered
 * (too many wait); 0 when waiting cannot help: answer now. */
static int wait_for(api_ctx_t *ctx, const reports_t *rep, hls_packager_t *hls,
                    http_request_t *req, http_response_t *res, wait_kind_t kind,
                    hls_format_t fmt, uint64_t msn, int part, const char *suffix) {
  size_t n = strlen(suffix) + 1;
  hls_waiter_t *w = malloc(sizeof(*w) + n);
  if (!w) return 0;
  *w = (hls_waiter_t){.ctx = ctx, .rep = *rep, .req = req, .res = res, .hls = hls, .kind = kind,
                      .fmt = fmt, .seq = msn, .idx = part < 0 ? 0 : (unsigned)part};
  memcpy(w->suffix, suffix, n);
  int first_fmp4 = msn == UINT64_MAX;
  int rc = first_fmp4          ? hls_fmp4_wait(hls, waiter_ready, w)
           : kind == WAIT_PART ? hls_wait_part(hls, msn, (unsigned)part, waiter_ready, w)
                               : hls_wait(hls, msn, part, waiter_ready, w);
  if (rc != 0) {
    free(w);
    if (rc != ERR_RATE_LIMITED) return 0;
    http_response_header(res, "Retry-After", "2");
    api_error(res, ERR_UNAVAILABLE, "too many players wait for this stream", NULL);
    return 1;
  }
  uv_timer_init(uv_default_loop(), &w->timer); /* the server's loop (main.c) */
  w->timer.data = w;
  uint64_t ms = first_fmp4                  ? FMP4_WAIT_MS
                : kind == WAIT_MULTIVARIANT ? hls_target_ms(hls)
                                            : 3 * (uint64_t)hls_target_ms(hls);
  uv_timer_start(&w->timer, waiter_timeout, ms, 0);
  http_response_defer(res);
  return 1;
}

static void release_buf(void *ud) { hls_buf_unref(ud); }

static void send_part(http_request_t *req, http_response_t *res, hls_buf_t *b, uint64_t seq,
                      unsigned idx) {
  char etag[64];
  snprintf(etag, sizeof(etag), "\"%llu.%u-%zu\"", (unsigned long long)seq, idx, b->len);
  send_buf(req, res, b, "video/iso.segment", SEGMENT_CACHE, etag);
}

/* Sends a segment buffer (Range, ETag: api_send_bytes). Takes the ref. */
static void send_buf(http_request_t *req, http_response_t *res, hls_buf_t *buf, const char *type,
                     const char *cache, const char *etag) {
  /* Segments also go into a memfd on first request: sendfile() from there. */
  api_send_bytes_fd(req, res, buf->data, buf->len, hls_buf_fd(buf), type, cache, etag,
                    release_buf, buf);
}

/* transcode: 1 when rendition i is a variant of the stream's multivariant
 * playlist: it has a segment and is the source (not in custom mode) or a
 * rung of the current ladder. *info is filled. */
static int variant_listed(api_ctx_t *ctx, live_stream_t *ls, int i, int custom,
                          transcode_rendition_info_t *info) {
  live_rendition_t *r = live_rendition_get(ls, i);
  if (!r || (custom && i == 0) || !hls_segments_published(r->hls)) return 0;
  /* measured at each segment; the hub forgets its config when idle */
  transcode_rendition_info(ctx->transcode, ls, i, info);
  return i == 0 || info->in_ladder; /* a rung left behind by an older source size */
}

/* The query of a variant URI: the request's format and auth ("" for neither). */
static void variant_query(char *out, size_t n, const char *fmtq, const char *token) {
  snprintf(out, n, "%s%s%s%s%s%s", fmtq || token ? "?" : "", fmtq ? "format=" : "",
           fmtq ? fmtq : "", fmtq && token ? "&" : "", token ? "auth=" : "", token ? token : "");
}

static int mode_custom(json_t *params) {
  const char *mode = json_string_value(json_object_get(params, "mode"));
  return mode && strcmp(mode, "custom") == 0;
}

/* LL-HLS: a rendition's media playlist says how far every other variant is
 * (EXT-X-RENDITION-REPORT, rfc8216bis 4.4.5.4), so a player switching to
 * one can make its first request there a blocking one. Appends to *text
 * (left as it is when memory runs out). */
static void append_rendition_reports(api_ctx_t *ctx, live_stream_t *ls, const char *self,
                                     int custom, const char *fmtq, const char *token,
                                     char **text, size_t *len) {
  char q[4400];
  variant_query(q, sizeof(q), fmtq, token);
  for (int i = 0; i < live_rendition_count(ls); i++) {
    live_rendition_t *r = live_rendition_get(ls, i);
    transcode_rendition_info_t info;
    uint64_t msn;
    int part;
    if (!r || strcmp(r->name, self) == 0 || !variant_listed(ctx, ls, i, custom, &info) ||
        hls_last_part(r->hls, &msn, &part) != 0)
      continue;
    char last[48] = "";
    if (part >= 0) snprintf(last, sizeof(last), ",LAST-PART=%d", part);
    size_t add = strlen(r->name) + strlen(q) + 128;
    char *t = realloc(*text, *len + add);
    if (!t) return;
    *text = t;
    *len += (size_t)snprintf(t + *len, add,
                             "#EXT-X-RENDITION-REPORT:URI=\"../%s/index.m3u8%s\",LAST-MSN=%llu%s\n",
                             r->name, q, (unsigned long long)msn, last);
  }
}

/* The URI suffix the packager puts on playlist URIs for an authenticated
 * playback ("" without a token), and the token back out of it. */
#define AUTH_SUFFIX "?auth="
static void auth_suffix(char *out, size_t n, const char *token) {
  snprintf(out, n, "%s%s", token ? AUTH_SUFFIX : "", token ? token : "");
}
static const char *suffix_token(const char *suffix) {
  return suffix[0] ? suffix + strlen(AUTH_SUFFIX) : NULL;
}

static void add_reports(api_ctx_t *ctx, const reports_t *rep, hls_packager_t *hls,
                        hls_format_t fmt, const char *suffix, char **text, size_t *len) {
  if (!rep->rendition[0] || fmt != HLS_FMP4 || !hls_low_latency(hls)) return;
  live_stream_t *ls = ctx->live ? live_find(ctx->live, rep->stream_id) : NULL;
  if (!ls || live_rendition_count(ls) < 2) return;
  append_rendition_reports(ctx, ls, rep->rendition, rep->custom, rep->fmtq[0] ? rep->fmtq : NULL,
                           suffix_token(suffix), text, len);
}

/* transcode: the multivariant playlist of a stream with rungs. Lists every
 * rendition that has a segment (in custom mode the rungs only, not the
 * source), each pointing at "{rendition}/index.m3u8" with the request's
 * format (fmtq, NULL for none) and auth query; 304 only when conditional. Returns
 * 0 without answering while the source is the only rendition ready (the
 * rungs' first segments are a moment behind) unless force: see
 * ladder_playlist(). */
static int serve_multivariant(api_ctx_t *ctx, http_request_t *req, http_response_t *res,
                              live_stream_t *ls, int custom, const char *fmtq, const char *token,
                              int force, int conditional) {
  hls_variant_t v[LIVE_MAX_RENDITIONS];
  char uris[LIVE_MAX_RENDITIONS][4500], codecs[LIVE_MAX_RENDITIONS][64], q[4400];
  variant_query(q, sizeof(q), fmtq, token);
  size_t n = 0;
  for (int i = 0; i < live_rendition_count(ls) && n < LIVE_MAX_RENDITIONS; i++) {
    live_rendition_t *r = live_rendition_get(ls, i);
    transcode_rendition_info_t info;
    if (!variant_listed(ctx, ls, i, custom, &info)) continue;
    const media_config_t *cfg = hub_config(r->hub);
    if (cfg) {
      info.width = cfg->video_codec != CODEC_NONE ? cfg->width : 0;
      info.height = cfg->video_codec != CODEC_NONE ? cfg->height : 0;
      hls_codecs_string(cfg, info.codecs, sizeof(info.codecs));
    }
    if (!info.peak_bps) { /* not measured yet: the target, or the source's average so far */
      hub_stats_t hs;
      hub_get_stats(r->hub, &hs);
      unsigned audio = !cfg || cfg->audio_codec != CODEC_NONE ? 128000 : 0;
      if (r->bitrate_kbps)
        info.average_bps = r->bitrate_kbps * 1000 + audio;
      else if (hs.pub_last_dts > hs.pub_first_dts)
        info.average_bps =
            (unsigned)(hs.pub_bytes * 8000 / (uint64_t)(hs.pub_last_dts - hs.pub_first_dts));
      info.peak_bps = info.average_bps + info.average_bps / 5;
    }
    snprintf(uris[n], sizeof(uris[n]), "%s/index.m3u8%s", r->name, q);
    snprintf(codecs[n], sizeof(codecs[n]), "%s", info.codecs);
    v[n] = (hls_variant_t){.uri = uris[n],
                           .bandwidth = info.peak_bps,
                           .average_bandwidth = info.average_bps,
                           .width = info.width,
                           .height = info.height,
                           .codecs = codecs[n],
                           .framerate = info.fps};
    n++;
  }
  if (n == 1 && !custom && !force) return 0;
  if (n == 0) {
    api_error(res, ERR_NOT_FOUND, "the stream has no segment yet", NULL);
    return 1;
  }
  char *text;
  size_t len;
  int rc = hls_multivariant_render(v, n, &text, &len);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return 1;
  }
  send_playlist(req, res, text, len, (conditional ? PL_CONDITIONAL : 0) | (token ? 0 : PL_SHARED));
  return 1;
}

/* transcode: a rung of the current ladder that has no segment yet, or NULL. */
static live_rendition_t *rung_pending(api_ctx_t *ctx, live_stream_t *ls) {
  for (int i = 1; i < live_rendition_count(ls); i++) {
    live_rendition_t *r = live_rendition_get(ls, i);
    transcode_rendition_info_t info;
    if (hls_segments_published(r->hls)) continue;
    transcode_rendition_info(ctx->transcode, ls, i, &info);
    if (info.in_ladder) return r;
  }
  return NULL;
}

/* transcode: the playlist URL of a stream with rungs answers the
 * multivariant playlist, also when the source is its only variant (no rung
 * has a segment, or the ladder was re-planned without rungs), so that the
 * URL never changes kind under a player. At the start of a broadcast (the
 * source's first two segments) the answer waits for a rung that is coming
 * (see the waits above); a rung that fails later does not hold anyone up. */
static void ladder_playlist(api_ctx_t *ctx, http_request_t *req, http_response_t *res,
                           const playback_entry_t *pe, live_stream_t *ls, const char *token) {
  reports_t mv = {.custom = mode_custom(pe->params)};
  snprintf(mv.stream_id, sizeof(mv.stream_id), "%s", pe->stream_id);
  if (query_get(req, "format", mv.fmtq, sizeof(mv.fmtq)) && strcmp(mv.fmtq, "ts") != 0 &&
      strcmp(mv.fmtq, "fmp4") != 0 && strcmp(mv.fmtq, "cmaf") != 0) {
    api_error(res, ERR_INVALID, "format must be ts or fmp4", "format");
    return;
  }
  const char *fmtq = mv.fmtq[0] ? mv.fmtq : NULL;
  if (serve_multivariant(ctx, req, res, ls, mv.custom, fmtq, token, 0, 1)) return;
  live_rendition_t *rung = rung_pending(ctx, ls);
  char suffix[4300];
  auth_suffix(suffix, sizeof(suffix), token);
  if (rung && hls_segments_published(live_rendition_get(ls, 0)->hls) <= 2 &&
      wait_for(ctx, &mv, rung->hls, req, res, WAIT_MULTIVARIANT, HLS_TS,
               hls_next_seq(rung->hls), -1, suffix))
    return;
  serve_multivariant(ctx, req, res, ls, mv.custom, fmtq, token, 1, 1);
}

static void multivariant_later(hls_waiter_t *w) {
  live_stream_t *ls = w->ctx->live ? live_find(w->ctx->live, w->rep.stream_id) : NULL;
  if (!ls || !serve_multivariant(w->ctx, w->req, w->res, ls, w->rep.custom,
                                 w->rep.fmtq[0] ? w->rep.fmtq : NULL, suffix_token(w->suffix), 1,
                                 0))
    api_error(w->res, ERR_NOT_FOUND, "the stream is not live", NULL);
}

static void hls_get(void *ud, http_request_t *req, http_response_t *res,
                    const router_params_t *p) {
  api_ctx_t *ctx = ud;
  const char *pid = router_param(p, "playback_id");
  const char *file = router_param(p, "file");
  const char *rendition = router_param(p, "rendition"); /* transcode: NULL = the stream's own URL */
  char token[4200];
  int has_token = query_get(req, "auth", token, sizeof(token));
  const playback_entry_t *pe = playback_cache_get(ctx->store, pid);
  if (!pe) {
    api_error(res, ERR_NOT_FOUND, "no such playback ID", NULL);
    return;
  }
  if (pe->authenticated) {
    int rc = has_token
                 ? signing_verify_playback(ctx->store, pe->project_id, pid, token, util_now())
                 : ERR_UNAUTHORIZED;
    if (rc) {
      api_error(res, rc == ERR_FORBIDDEN ? ERR_FORBIDDEN : ERR_UNAUTHORIZED,
                has_token ? "the playback token is invalid, expired or for another playback ID"
                          : "this playback ID needs a signed token in the auth query parameter",
                "auth");
      return;
    }
  }
  /* The token goes on into the playlist's URIs only when it was needed,
   * and so verified: a public playback ID's ?auth= is ignored, not echoed
   * (a decoded value may hold quotes or line breaks). */
  int carry = pe->authenticated && has_token;
  json_t *params = pe->params;
  if (!referer_allowed(params, req)) {
    api_error(res, ERR_FORBIDDEN, "playback is not allowed from this referer", NULL);
    return;
  }
  hls_packager_t *hls = ctx->live ? live_packager(ctx->live, pe->stream_id) : NULL;
  if (!hls) {
    api_error(res, ERR_NOT_FOUND, "the stream is not live", NULL);
    return;
  }
  /* transcode: a rendition's own playlist and segments, or the ladder */
  live_stream_t *ls = live_find(ctx->live, pe->stream_id);
  if (rendition) {
    live_rendition_t *r = ls ? live_rendition_find(ls, rendition) : NULL;
    if (!r) {
      api_error(res, ERR_NOT_FOUND, "no such rendition", NULL);
      return;
    }
    hls = r->hls;
  }
  metrics_viewer_hit(pe->stream_id, req->remote_ip, http_request_header(req, "User-Agent")); /* health */
  if (!rendition && ls && live_rendition_count(ls) > 1 && strcmp(file, "index.m3u8") == 0) {
    ladder_playlist(ctx, req, res, pe, ls, carry ? token : NULL);
    return;
  }
  /* end transcode */
  uint64_t n;
  unsigned idx;
  char etag[64];
  if (strcmp(file, "index.m3u8") == 0) {
    char fmtq[16];
    hls_format_t fmt;
    const char *of = json_string_value(json_object_get(params, "output_format"));
    if (query_get(req, "format", fmtq, sizeof(fmtq))) {
      if (strcmp(fmtq, "ts") == 0)
        fmt = HLS_TS;
      else if (strcmp(fmtq, "fmp4") == 0 || strcmp(fmtq, "cmaf") == 0)
        fmt = HLS_FMP4;
      else {
        api_error(res, ERR_INVALID, "format must be ts or fmp4", "format");
        return;
      }
    } else {
      /* ll-hls: LL-HLS is made in the fMP4 form */
      fmt = of && (strcmp(of, "cmaf") == 0 || strcmp(of, "ll-hls") == 0) ? HLS_FMP4 : HLS_TS;
    }
    char suffix[4300];
    auth_suffix(suffix, sizeof(suffix), carry ? token : NULL);
    reports_t rep = {.custom = mode_custom(params)};
    if (rendition) {
      snprintf(rep.stream_id, sizeof(rep.stream_id), "%s", pe->stream_id);
      snprintf(rep.rendition, sizeof(rep.rendition), "%s", rendition);
      if (query_get(req, "format", fmtq, sizeof(fmtq)))
        snprintf(rep.fmtq, sizeof(rep.fmtq), "%s", fmtq);
    }
    if (fmt == HLS_FMP4 && hls_low_latency(hls)) {
      uint64_t msn;
      int part;
      int rc = blocking_reload(req, hls, &msn, &part);
      if (rc < 0) {
        api_error(res, ERR_INVALID,
                  "_HLS_msn must be a segment number at most two past the playlist's last, "
                  "_HLS_part a part index at most 3 s of parts past its last part, and "
                  "_HLS_part needs _HLS_msn",
                  "_HLS_msn");
        return;
      }
      if (rc == 1 && wait_for(ctx, &rep, hls, req, res, WAIT_PLAYLIST, fmt, msn, part, suffix))
        return;
    }
    char *text;
    size_t len;
    if (fmt == HLS_FMP4) hls_packager_want_fmp4(hls);
    int rc = hls_playlist(hls, fmt, suffix, &text, &len);
    if (rc == ERR_NOT_FOUND && fmt == HLS_FMP4 && hls_segments_published(hls) &&
        wait_for(ctx, &rep, hls, req, res, WAIT_PLAYLIST, fmt, UINT64_MAX, -1, suffix))
      return;
    if (rc) {
      api_error(res, rc == ERR_NOT_FOUND ? ERR_NOT_FOUND : rc,
                rc == ERR_NOT_FOUND ? "the stream has no segment yet" : NULL, NULL);
      return;
    }
    add_reports(ctx, &rep, hls, fmt, suffix, &text, &len);
    send_playlist(req, res, text, len, PL_CONDITIONAL | (*suffix ? 0 : PL_SHARED));
  } else if (hls_name_numbered(file, "", ".ts", &n) || hls_name_numbered(file, "", ".m4s", &n)) {
    int ts = strstr(file, ".ts") != NULL;
    hls_buf_t *b = hls_segment_get(hls, ts ? HLS_TS : HLS_FMP4, n);
    if (!b) {
      api_error(res, ERR_NOT_FOUND, "no such segment (it may have left the live window)", NULL);
      return;
    }
    snprintf(etag, sizeof(etag), "\"%llu-%zu\"", (unsigned long long)n, b->len);
    send_buf(req, res, b, ts ? "video/mp2t" : "video/iso.segment", SEGMENT_CACHE, etag);
  } else if (hls_name_part(file, &n, &idx)) {
    hls_buf_t *b = hls_part_get(hls, n, idx);
    if (b)
      send_part(req, res, b, n, idx);
    else if (!hls_part_pending(hls, n, idx) ||
             !wait_for(ctx, &(reports_t){0}, hls, req, res, WAIT_PART, HLS_FMP4, n, (int)idx,
                       ""))
      api_error(res, ERR_NOT_FOUND, "no such part (it may have left the live window)", NULL);
  } else if (hls_name_numbered(file, "init-", ".mp4", &n)) {
    hls_buf_t *b = hls_init_get(hls, n);
    if (!b) {
      api_error(res, ERR_NOT_FOUND, "no such init segment", NULL);
      return;
    }
    snprintf(etag, sizeof(etag), "\"init-%llu-%zu\"", (unsigned long long)n, b->len);
    send_buf(req, res, b, "video/mp4", SEGMENT_CACHE, etag);
  } else {
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
  }
}

int api_hls_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "GET", "/hls/{playback_id}/{file}", hls_get, ctx);
  /* transcode: one rendition of a stream with rungs */
  if (!rc) rc = router_add(r, "GET", "/hls/{playback_id}/{rendition}/{file}", hls_get, ctx);
  return rc;
}
