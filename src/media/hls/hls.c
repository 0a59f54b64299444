/* hls.c — the packager: hub consumer, segment cutting, the segment ring.
 *
 * Video frames are written one frame late: a frame's duration (which the
 * fMP4 fragment needs for its last sample) is known only when the next one
 * arrives. Without a prediction, the keyframe that closes a segment is also
 * the frame that completes the one before it, so the segment is published
 * in the keyframe's own on_frame call.
 *
 * Predictive close: once the keyframe cadence has been stable for a few
 * GOPs (cadence.c), the frame that the cadence says is the last of its GOP
 * is written at once, with its duration running up to the predicted
 * keyframe, and the segment is published right then: a frame interval
 * earlier than waiting for the keyframe, and without waiting for the
 * publisher to interleave the audio that precedes that keyframe. Audio
 * stamped before the boundary that arrives after the close opens the next
 * segment (players take that in TS and fMP4 alike).
 *
 * A segment never starts without a keyframe (the playlist says
 * EXT-X-INDEPENDENT-SEGMENTS). If the frame after a predicted end is not a
 * keyframe (the encoder changed its GOP), the published segment is still
 * correct, but the frames up to the real keyframe cannot start the next
 * one: they are dropped (counted and logged), the audio goes on, and the
 * cadence must be stable for much longer before the next prediction.
 *
 * An open segment that runs past SEGMENT_MAX_MS (or 10 target durations)
 * or SEGMENT_MAX_BYTES without a keyframe to cut at (an encoder with no
 * keyframes, or video that stopped while audio goes on) is dropped rather
 * than held without end; the next keyframe starts a segment after a
 * discontinuity.
 *
 * LL-HLS parts (opts.part_ms): the fMP4 form of the open segment is also
 * flushed as a fragment whenever the next video frame (audio frame, for
 * audio-only streams) would take it past the part target, and the bytes of
 * that fragment are published at once as a part. The segment itself is
 * the same bytes, so its parts are copies kept only for the newest few
 * segments (PARTS_KEPT). Parts never span a segment boundary, and the last
 * part of a segment is what is left at its cut (so no part is hinted that
 * the cut would leave empty). Part names are never reused: when an open
 * segment whose parts were published is lost (dropped for want of a
 * keyframe, a muxer failure), the next segment with its number counts its
 * parts on from there (part_base).
 *
 * Waiters (hls_fmp4_wait, hls_wait) are the responses that wait for the
 * playlist to move: kept in one list, checked whenever a part or segment
 * is published and when the session or packager ends.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/hls/hls_int.h"

#define DEFAULT_TARGET_MS 2000
#define DEFAULT_WINDOW 6
#define NO_TS INT64_MIN
#define MAX_FMP4_WAITERS 256
#define MAX_WAITERS 16384 /* all kinds; each is an HTTP response held open */
/* rfc8216bis 6.2.2: parts older than three target durations from the end
 * of the playlist should go; segments are about one target long. */
#define PARTS_LISTED 3    /* complete segments whose parts the playlist lists */
#define PARTS_KEPT 4      /* ... and whose parts stay fetchable (one more, for
                           * a player that read the playlist just before) */
#define WAIT_FMP4 UINT64_MAX /* waiter.msn of one waiting for the first fMP4 segment */
#define SEGMENT_MAX_MS 60000
#define SEGMENT_MAX_BYTES (64u << 20) /* of input frames, per form */

typedef struct {
  hls_wait_cb cb;
  void *ud;
  uint64_t msn; /* WAIT_FMP4, or the segment waited for */
  int part;     /* and its part; -1: the whole segment */
  int is_part;  /* waits for the part itself (hls_wait_part), not the playlist */
  int ok;       /* the answer, while being woken */
} waiter_t;

/* Why the waiters are looked at. */
enum { WAKE_CHECK, WAKE_SESSION_CLOSED, WAKE_GONE };

typedef struct {
  unsigned session;
  hls_buf_t *buf;
} init_t;

struct hls_packager {
  hub_t *hub;
  hub_consumer_t *sub;
  hls_opts_t o;
  hls_segment_cb cb;
  void *ud;

  /* Published segments, oldest at ring[head]. */
  hls__seg_t *ring;
  size_t head, count;
  uint64_t next_seq;
  uint64_t disc_evicted;  /* discontinuities that left the ring */
  int64_t max_dur_ms;     /* longest segment so far: TARGETDURATION never shrinks */
  unsigned last_session;  /* session of the newest published segment */
  int gap;                /* a segment was lost: the next one is a discontinuity */
  int ended;

  /* fMP4 on demand (see hls.h): wanted from the next segment on; the open
   * segment is written to the fMP4 muxer too (fmp4_on); fMP4 segments
   * exist from fmp4_first_seq on (fmp4_have). */
  int fmp4_wanted, fmp4_on, fmp4_have;
  uint64_t fmp4_first_seq;
  waiter_t *waiters;
  size_t n_waiters, cap_waiters, n_fmp4_waiters;

  /* fMP4 init segments of the sessions still referenced. */
  init_t *inits;
  size_t n_inits, cap_inits;

  /* The current publisher session. */
  unsigned session;       /* counts from 1; 0 = none yet */
  int active;             /* muxers exist */
  media_config_t cfg;
  hls__mux_t *mux[2];
  int started;            /* a segment is open */
  int64_t seg_start;      /* dts (ms) where the open segment starts */
  unsigned seg_frames;
  size_t seg_bytes;       /* input bytes written to the open segment */
  int64_t wall_base;      /* wall clock (Unix ms) of dts 0 */
  int64_t seg_pts_off;    /* pts - dts of the open segment's keyframe: its PDT is
                           * the keyframe's presentation time */
  media_frame_t *held;    /* the last video frame, not written yet */
  int64_t held_dts, held_pts, last_vdur;
  int64_t last_dts[2];    /* per media_kind_t */
  int64_t audio_end, last_adur;
  unsigned long drops;    /* frames dropped: logged, but not each one */

  /* Predictive close (see the top of this file). */
  hls__cadence_t cad;
  int seg_has_video;      /* a video frame (written or held) is in the open segment */
  int await_key;          /* the open segment began at a predicted keyframe */
  int64_t predicted_key;  /* its predicted dts */
  int skip_to_key;        /* mispredicted: drop video until a keyframe */
  unsigned long early_cuts, mispredictions;

  /* LL-HLS: the open segment's parts so far (see the top of this file). */
  hls__part_t *open_parts;
  size_t n_open, cap_open;
  int64_t part_start;     /* dts where the next part starts */
  int part_has_video, part_independent;
  int part_lost;           /* a part flush failed: the open fMP4 segment is incomplete */
  int no_parts;            /* a part could not be kept: the open segment lists none */
  int closing;             /* in session_close() */
  unsigned part_base;      /* index of the open segment's first part */
  unsigned part_target;    /* PART-TARGET in ms, fixed at first use; 0 = not yet */

  /* The playlists without a URI suffix, as last rendered; dropped whenever
   * the window changes. Players poll them far more often than segments
   * come, and most ask without a token. */
  char *pl_cache[2];
  size_t pl_cache_len[2];
};

static void playlist_cache_clear(hls_packager_t *p) {
  for (int i = 0; i < 2; i++) {
    free(p->pl_cache[i]);
    p->pl_cache[i] = NULL;
    p->pl_cache_len[i] = 0;
  }
}

/* 1 when a waiter for segment msn (part `part`, -1 = whole) can be
 * answered: see hls_reached(). */
static int reached(const hls_packager_t *p, uint64_t msn, int part);

/* 1 when w is answered now (w->ok set): at `why`, or because what it
 * waits for has come. */
static int waiter_due(const hls_packager_t *p, waiter_t *w, int why) {
  if (why == WAKE_GONE) return !(w->ok = 0);
  if (w->msn == WAIT_FMP4) {
    w->ok = p->fmp4_have;
    return p->fmp4_have || p->ended || why == WAKE_SESSION_CLOSED;
  }
  /* A blocking reload of a stream that went idle waits for its publisher
   * to come back within the reconnect window, or for its own timeout. A
   * part is answered once it is made or cannot be any more. */
  w->ok = 1;
  return w->is_part ? !hls_part_pending(p, w->msn, (unsigned)w->part) : reached(p, w->msn, w->part);
}

/* Answers (and forgets) the waiters that are due; see waiter_due(). */
static void waiters_wake(hls_packager_t *p, int why) {
  if (!p->n_waiters) return;
  waiter_t *due = malloc(p->n_waiters * sizeof(*due));
  if (!due && why != WAKE_GONE) return; /* checked again at the next part */
  size_t keep = 0, n_due = 0;
  for (size_t i = 0; i < p->n_waiters; i++) {
    waiter_t w = p->waiters[i];
    if (waiter_due(p, &w, why)) {
      if (w.msn == WAIT_FMP4) p->n_fmp4_waiters--;
      if (due) due[n_due++] = w;
      else w.cb(w.ud, p, 0); /* (gone, out of memory: in place, nothing else reads the list) */
    } else {
      p->waiters[keep++] = w;
    }
  }
  p->n_waiters = keep;
  if (!keep) {
    free(p->waiters);
    p->waiters = NULL;
    p->cap_waiters = 0;
  }
  for (size_t i = 0; i < n_due; i++) due[i].cb(due[i].ud, p, due[i].ok);
  free(due);
}

static int waiter_add(hls_packager_t *p, uint64_t msn, int part, int is_part, hls_wait_cb cb,
                      void *ud) {
  if (p->n_waiters == MAX_WAITERS) return ERR_RATE_LIMITED;
  if (p->n_waiters == p->cap_waiters) {
    size_t cap = p->cap_waiters ? p->cap_waiters * 2 : 16;
    waiter_t *w = realloc(p->waiters, cap * sizeof(*w));
    if (!w) return ERR_NOMEM;
    p->waiters = w;
    p->cap_waiters = cap;
  }
  p->waiters[p->n_waiters++] = (waiter_t){cb, ud, msn, part, is_part, 0};
  return 0;
}

/* A broken publisher can break every frame: log the first few, then 1 in 1000. */
static int drop_should_log(hls_packager_t *p) {
  p->drops++;
  return p->drops <= 10 || p->drops % 1000 == 0;
}

/* ---- ring ------------------------------------------------------------------- */

static void inits_prune(hls_packager_t *p) {
  unsigned oldest = p->count ? p->ring[p->head].session : p->session;
  size_t j = 0;
  for (size_t i = 0; i < p->n_inits; i++) {
    if (p->inits[i].session >= oldest || p->inits[i].session == p->session)
      p->inits[j++] = p->inits[i];
    else
      hls_buf_unref(p->inits[i].buf);
  }
  p->n_inits = j;
}

static int inits_add(hls_packager_t *p, unsigned session, hls_buf_t *b) {
  if (p->n_inits == p->cap_inits) {
    size_t cap = p->cap_inits ? p->cap_inits * 2 : 4;
    init_t *n = realloc(p->inits, cap * sizeof(*n));
    if (!n) return ERR_NOMEM;
    p->inits = n;
    p->cap_inits = cap;
  }
  p->inits[p->n_inits++] = (init_t){session, b};
  return 0;
}

static void parts_free(hls__part_t *parts, size_t n) {
  for (size_t i = 0; i < n; i++) hls_buf_unref(parts[i].buf);
  free(parts);
}

static void seg_clear(hls__seg_t *s) {
  hls_buf_unref(s->buf[HLS_TS]);
  hls_buf_unref(s->buf[HLS_FMP4]);
  parts_free(s->parts, s->n_parts);
  memset(s, 0, sizeof(*s));
}

static int parts_on(const hls_packager_t *p) { return p->o.part_ms && p->fmp4_on && !p->no_parts; }

/* The open segment's parts go without their segment being published: their
 * names stay used (part_base). */
static void open_parts_drop(hls_packager_t *p) {
  p->part_base += (unsigned)p->n_open;
  parts_free(p->open_parts, p->n_open);
  p->open_parts = NULL;
  p->n_open = p->cap_open = 0;
}

/* Adds a part of the open segment (takes b) that ends at end_dts. */
static void open_part_add(hls_packager_t *p, hls_buf_t *b, int64_t end_dts) {
  if (p->n_open == p->cap_open) {
    size_t cap = p->cap_open ? p->cap_open * 2 : 8;
    hls__part_t *n = realloc(p->open_parts, cap * sizeof(*n));
    if (!n) { /* later parts would not abut: players wait for the whole segment */
      hls_buf_unref(b);
      p->no_parts = 1;
      return;
    }
    p->open_parts = n;
    p->cap_open = cap;
  }
  int64_t dur = end_dts - p->part_start;
  if (dur < 1) dur = 1;
  int independent = p->part_has_video ? p->part_independent : p->cfg.video_codec == CODEC_NONE;
  p->open_parts[p->n_open++] = (hls__part_t){b, dur, independent};
}

/* Discontinuities up to ring position k (oldest first), the evicted ones
 * included: the EXT-X-DISCONTINUITY-SEQUENCE of a playlist that starts at
 * position k, or with k = count the number of the newest segment. */
static uint64_t discontinuities_before(const hls_packager_t *p, size_t k) {
  uint64_t n = p->disc_evicted;
  for (size_t i = 0; i < k; i++)
    if (p->ring[(p->head + i) % p->o.ring].discont) n++;
  return n;
}

/* Adds a closed segment (takes the buffers) and tells the callback. */
static void publish(hls_packager_t *p, hls_buf_t *ts, hls_buf_t *mp4, int64_t dur_ms) {
  size_t cap = p->o.ring;
  if (p->count == cap) {
    hls__seg_t *old = &p->ring[p->head];
    if (old->discont) p->disc_evicted++;
    seg_clear(old); /* responses still holding a reference keep the bytes */
    p->head = (p->head + 1) % cap;
    p->count--;
  }
  hls__seg_t *s = &p->ring[(p->head + p->count) % cap];
  s->seq = p->next_seq++;
  s->session = p->session;
  s->discont = (p->last_session && p->last_session != p->session) || p->gap;
  if (p->count == 0 && p->o.clock) {
    /* A rung's first segment takes the discontinuity number of the source's
     * matching one (its newest: rungs lag the source), so that matching
     * content has matching numbers (RFC 8216 6.2.4) also for a rung that
     * joined the broadcast after a reconnect. Nothing precedes it to be
     * discontinuous with. */
    s->discont = 0;
    p->disc_evicted = discontinuities_before(p->o.clock, p->o.clock->count);
  }
  s->dur_ms = dur_ms;
  s->wall_ms = p->wall_base + p->seg_start + p->seg_pts_off;
  s->buf[HLS_TS] = ts;
  s->buf[HLS_FMP4] = mp4;
  s->parts_base = p->part_base;
  if (!p->no_parts) {
    s->parts = p->open_parts;
    s->n_parts = (unsigned)p->n_open;
    p->open_parts = NULL;
    p->n_open = p->cap_open = 0;
  }
  open_parts_drop(p); /* (none left unless no_parts) */
  p->part_base = 0;   /* the next segment number */
  p->count++;
  if (p->count > PARTS_KEPT) { /* players have moved on to newer parts */
    hls__seg_t *old = &p->ring[(p->head + p->count - 1 - PARTS_KEPT) % cap];
    parts_free(old->parts, old->n_parts);
    old->parts = NULL;
    old->n_parts = 0;
  }
  if (mp4 && !p->fmp4_have) {
    p->fmp4_have = 1;
    p->fmp4_first_seq = s->seq;
  }
  p->last_session = p->session;
  p->gap = 0;
  if (dur_ms > p->max_dur_ms) p->max_dur_ms = dur_ms;
  playlist_cache_clear(p);
  inits_prune(p);
  /* end_dts lets bench/lagfloor.py time publication against the pusher. */
  log_debug("hls_segment stream=%s seq=%llu session=%u dur_ms=%lld end_dts=%lld ts_bytes=%zu "
            "fmp4_bytes=%zu",
            hub_stream_id(p->hub), (unsigned long long)s->seq, s->session, (long long)dur_ms,
            (long long)(p->seg_start + dur_ms), ts->len, mp4 ? mp4->len : 0);
  if (p->cb) p->cb(p->ud, s->seq, (double)dur_ms / 1000.0);
  waiters_wake(p, WAKE_CHECK);
}

/* The open segment's contents are gone (published, dropped, or not yet begun). */
static void clear_open_segment(hls_packager_t *p) {
  p->seg_frames = 0;
  p->seg_bytes = 0;
  p->seg_has_video = 0;
  p->seg_pts_off = 0;
  p->part_has_video = 0;
  p->part_lost = p->no_parts = 0;
  open_parts_drop(p);
  if (p->o.part_ms) playlist_cache_clear(p); /* its parts and hint go */
}

/* Closes the open segment at end_dts and starts the next one there. */
static void cut(hls_packager_t *p, int64_t end_dts) {
  hls_buf_t *b[2] = {NULL, NULL}, *tail = NULL;
  int rc = hls__mux_cut(p->mux[HLS_TS], &b[HLS_TS], NULL);
  int rc2 = p->fmp4_on ? hls__mux_cut(p->mux[HLS_FMP4], &b[HLS_FMP4], parts_on(p) ? &tail : NULL)
                       : 0;
  int64_t dur = end_dts - p->seg_start;
  if (dur < 1) dur = 1;
  if (rc || rc2 || !b[0] || (p->fmp4_on && (!b[1] || p->part_lost))) {
    log_warn("hls_segment_lost stream=%s dts=%lld", hub_stream_id(p->hub), (long long)end_dts);
    hls_buf_unref(b[0]);
    hls_buf_unref(b[1]);
    hls_buf_unref(tail);
    p->gap = 1;
  } else {
    if (tail) open_part_add(p, tail, end_dts);
    publish(p, b[HLS_TS], b[HLS_FMP4], dur);
  }
  p->seg_start = p->part_start = end_dts;
  clear_open_segment(p);
  p->fmp4_on = p->fmp4_wanted; /* the next segment: forms change only between segments */
}

/* Readies the next segment's memory; called once a segment is out, off the
 * latency path. */
static void prepare(hls_packager_t *p) {
  hls__mux_prepare(p->mux[HLS_TS]);
  if (p->fmp4_wanted) hls__mux_prepare(p->mux[HLS_FMP4]);
}

/* ---- session ---------------------------------------------------------------- */

static void write_frame(hls_packager_t *p, const media_frame_t *f, int64_t dts, int64_t pts,
                        int64_t dur) {
  /* A frame one muxer refused is still written to the other: the forms
   * differ in what they can reject (e.g. a broken NAL length for TS). */
  int rc = hls__mux_write(p->mux[HLS_TS], f, dts, pts, dur);
  int rc2 = p->fmp4_on ? hls__mux_write(p->mux[HLS_FMP4], f, dts, pts, dur) : 0;
  if ((rc || rc2) && drop_should_log(p))
    log_warn("hls_frame_dropped stream=%s kind=%s dts=%lld err=%s drops=%lu",
             hub_stream_id(p->hub), f->kind == MEDIA_VIDEO ? "video" : "audio", (long long)dts,
             err_str(rc ? rc : rc2), p->drops);
  p->seg_frames++;
  p->seg_bytes += f->len;
  if (f->kind == MEDIA_VIDEO && !p->part_has_video) {
    p->part_has_video = 1;
    p->part_independent = f->keyframe;
  }
}

/* LL-HLS: the open segment's content ends at end_dts, and the next frame
 * is expected to last about next_dur: publish a part now if that frame
 * would take it past the part target (PART-TARGET, which never changes:
 * players may fail when it does). Millisecond timestamps make a frame's
 * duration differ from the last one's by up to PART_SLACK_MS. A 30 fps
 * stream with a 336 ms target (the default at 1 s segments) gets parts of
 * 10 frames, three per segment. Only a frame longer than the target (a gap
 * in the video) makes a longer part. The caller does not call it when the
 * next frame cuts the segment: what is left then is the segment's last
 * part. */
#define PART_SLACK_MS 1

/* PART-TARGET for frames of frame_ms. rfc8216bis 4.4.4.9: a part lasts at
 * most PART-TARGET and (but for INDEPENDENT and final parts) at least 85 %
 * of it, and PART-TARGET never changes. Parts are whole frames: part_ms
 * works when a whole number of frames lands in that range (30, 25 or 60
 * fps at the default 336 ms). Slower video (slides, screen shares) gets
 * the length of that many frames instead, one frame at 5 fps (202 ms),
 * two at 8 fps (252 ms); 2 ms cover timestamps rounded to the ms. */
static unsigned part_target_for(unsigned part_ms, double frame_ms, unsigned target_ms) {
  if (frame_ms <= 0) return part_ms;
  double n = (double)(int)((part_ms - PART_SLACK_MS) / frame_ms + 0.05);
  if (n < 1) n = 1;
  /* 1000 / 30 * 15 is 500.00000000000006: a microsecond of rounding is not
   * a longer part. */
  double len = n * frame_ms;
  if (len <= part_ms + 1e-3 && len >= 0.85 * part_ms) return part_ms;
  unsigned t = (unsigned)(len - 1e-3 + 0.999) + 2 * PART_SLACK_MS;
  return t < target_ms ? t : target_ms;
}

/* The packager's PART-TARGET, fixed at its first use (its first part, or
 * its first playlist) from the frame rate of the first publisher. */
static unsigned part_target(hls_packager_t *p, int64_t next_dur) {
  if (!p->part_target) {
    double frame_ms = (double)next_dur;
    if (p->cfg.video_codec != CODEC_NONE && p->cfg.framerate > 0) frame_ms = 1000.0 / p->cfg.framerate;
    p->part_target = part_target_for(p->o.part_ms, frame_ms, p->o.target_ms);
  }
  return p->part_target;
}

static void maybe_part(hls_packager_t *p, int64_t end_dts, int64_t next_dur) {
  if (!parts_on(p) || !p->started || !p->seg_frames) return;
  if (end_dts - p->part_start + next_dur + PART_SLACK_MS <= (int64_t)part_target(p, next_dur))
    return;
  hls_buf_t *b = NULL;
  int rc = hls__mux_part(p->mux[HLS_FMP4], &b);
  if (rc == ERR_IO) p->part_lost = 1; /* cut() reports the segment lost */
  if (b) {
    open_part_add(p, b, end_dts);
    p->part_start = end_dts;
    p->part_has_video = 0;
    playlist_cache_clear(p);
    waiters_wake(p, WAKE_CHECK);
  }
}

static void write_held(hls_packager_t *p, int64_t dur) {
  write_frame(p, p->held, p->held_dts, p->held_pts, dur);
  media_frame_unref(p->held);
  p->held = NULL;
  p->last_vdur = dur;
}

static void start_segment(hls_packager_t *p, int64_t dts) {
  p->started = 1;
  p->seg_start = p->part_start = dts;
  clear_open_segment(p); /* (with parts: the playlist's preload hint appears) */
  p->fmp4_on = p->fmp4_wanted;
  const hls_packager_t *c = p->o.clock;
  p->wall_base = c && c->active && c->started ? c->wall_base : util_now_ms() - dts;
}

/* Drops the open segment when it has run too long for want of a keyframe
 * (see the top of this file); the packager then waits for one. 1 if it did. */
static int drop_overlong_segment(hls_packager_t *p, int64_t dts) {
  int64_t max_ms = (int64_t)p->o.target_ms * 10;
  if (max_ms < SEGMENT_MAX_MS) max_ms = SEGMENT_MAX_MS;
  if (!p->started || (dts - p->seg_start < max_ms && p->seg_bytes < SEGMENT_MAX_BYTES)) return 0;
  hls_buf_t *b[2] = {NULL, NULL};
  hls__mux_cut(p->mux[HLS_TS], &b[HLS_TS], NULL);
  if (p->fmp4_on) hls__mux_cut(p->mux[HLS_FMP4], &b[HLS_FMP4], NULL);
  hls_buf_unref(b[HLS_TS]);
  hls_buf_unref(b[HLS_FMP4]);
  log_warn("hls_segment_dropped stream=%s reason=no_keyframe duration_ms=%lld bytes=%zu "
           "action=wait_for_keyframe",
           hub_stream_id(p->hub), (long long)(dts - p->seg_start), p->seg_bytes);
  media_frame_unref(p->held);
  p->held = NULL;
  p->started = 0;
  clear_open_segment(p);
  p->await_key = 0;
  p->gap = 1;
  prepare(p);
  return 1;
}

/* Ends the publisher session: the open segment is published, muxers go. */
static void session_close(hls_packager_t *p) {
  if (!p->active) return;
  p->closing = 1; /* waiters answered from the last cut see no open segment */
  if (p->started) {
    int64_t end = p->seg_start;
    if (p->held) {
      int64_t dur = p->last_vdur;
      if (dur <= 0) dur = p->cfg.framerate > 0 ? (int64_t)(1000.0 / p->cfg.framerate + 0.5) : 40;
      end = p->held_dts + dur;
      write_held(p, dur);
    } else if (p->audio_end != NO_TS) {
      end = p->audio_end;
    }
    /* After a predicted close, a stream with video may end with a few audio
     * frames and no video in the open segment: such a tail cannot start on
     * a keyframe, and it is dropped. */
    if (p->seg_frames && (p->seg_has_video || p->cfg.video_codec == CODEC_NONE))
      cut(p, end);
    else if (p->seg_frames)
      log_debug("hls_tail_dropped stream=%s audio_frames=%u", hub_stream_id(p->hub),
                p->seg_frames);
  }
  open_parts_drop(p);
  if (p->o.part_ms) playlist_cache_clear(p); /* no open segment, no hint */
  if (p->early_cuts || p->mispredictions)
    log_info("hls_session_end stream=%s session=%u predicted_cuts=%lu mispredictions=%lu",
             hub_stream_id(p->hub), p->session, p->early_cuts, p->mispredictions);
  media_frame_unref(p->held);
  p->held = NULL;
  hls__mux_free(p->mux[HLS_TS]);
  hls__mux_free(p->mux[HLS_FMP4]);
  p->mux[HLS_TS] = p->mux[HLS_FMP4] = NULL;
  p->active = 0;
  p->started = 0;
  p->closing = 0;
  media_config_clear(&p->cfg);
  inits_prune(p);
  /* No fMP4 segment until a publisher comes back: nobody waits that long
   * for the first one. */
  waiters_wake(p, WAKE_SESSION_CLOSED);
}

static int session_open(hls_packager_t *p, const media_config_t *cfg) {
  hls_buf_t *init = NULL;
  int rc = media_config_copy(&p->cfg, cfg);
  if (rc) return rc;
  if ((rc = hls__mux_new(HLS_TS, cfg, &p->mux[HLS_TS], NULL)) ||
      (rc = hls__mux_new(HLS_FMP4, cfg, &p->mux[HLS_FMP4], &init)) ||
      (rc = inits_add(p, p->session + 1, init))) {
    hls_buf_unref(init);
    hls__mux_free(p->mux[HLS_TS]);
    hls__mux_free(p->mux[HLS_FMP4]);
    p->mux[HLS_TS] = p->mux[HLS_FMP4] = NULL;
    media_config_clear(&p->cfg);
    return rc;
  }
  p->session++;
  p->active = 1;
  prepare(p);
  p->started = 0;
  clear_open_segment(p);
  p->last_vdur = 0;
  p->last_dts[MEDIA_VIDEO] = p->last_dts[MEDIA_AUDIO] = NO_TS;
  p->audio_end = NO_TS;
  p->last_adur = 0;
  hls__cadence_reset(&p->cad);
  p->await_key = p->skip_to_key = 0;
  p->early_cuts = p->mispredictions = 0;
  inits_prune(p);
  return 0;
}

static int bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int config_equal(const media_config_t *a, const media_config_t *b) {
  return a->video_codec == b->video_codec && a->audio_codec == b->audio_codec &&
         a->width == b->width && a->height == b->height && a->sample_rate == b->sample_rate &&
         a->channels == b->channels &&
         bytes_equal(a->video_extradata, a->video_extradata_len, b->video_extradata,
                     b->video_extradata_len) &&
         bytes_equal(a->audio_extradata, a->audio_extradata_len, b->audio_extradata,
                     b->audio_extradata_len);
}

/* ---- hub callbacks ------------------------------------------------------------ */

static void on_config(void *ud, const media_config_t *cfg) {
  hls_packager_t *p = ud;
  if (p->ended) return;
  /* Encoders resend the same sequence headers; only a real change (or a new
   * publisher, after on_unpublish) makes a new session. */
  if (p->active && config_equal(&p->cfg, cfg)) return;
  session_close(p);
  int rc = session_open(p, cfg);
  if (rc)
    log_error("hls_session_failed stream=%s video=%d audio=%d err=%s", hub_stream_id(p->hub),
              (int)cfg->video_codec, (int)cfg->audio_codec, err_str(rc));
  else
    log_info("hls_session stream=%s session=%u video=%d %dx%d audio=%d %dHz",
             hub_stream_id(p->hub), p->session, (int)cfg->video_codec, cfg->width, cfg->height,
             (int)cfg->audio_codec, cfg->sample_rate);
}

/* Applies the monotonic-dts rule; 0 if the frame must be dropped. */
static int fix_ts(hls_packager_t *p, const media_frame_t *f, int64_t *dts, int64_t *pts) {
  int64_t last = p->last_dts[f->kind];
  *dts = f->dts;
  *pts = f->pts < f->dts ? f->dts : f->pts;
  if (last != NO_TS && *dts < last) {
    if (drop_should_log(p))
      log_warn("hls_dts_backwards stream=%s kind=%s dts=%lld last=%lld action=drop drops=%lu",
               hub_stream_id(p->hub), f->kind == MEDIA_VIDEO ? "video" : "audio",
               (long long)*dts, (long long)last, p->drops);
    return 0;
  }
  if (last != NO_TS && *dts == last) { /* equal dts: nudge by 1 ms rather than lose it */
    *dts = last + 1;
    if (*pts < *dts) *pts = *dts;
  }
  p->last_dts[f->kind] = *dts;
  return 1;
}

/* The segment was closed early on a prediction, and the frame that should
 * have been its keyframe is not one. 1 when f must be dropped. */
static int mispredicted(hls_packager_t *p, const media_frame_t *f, int64_t dts) {
  if (!p->await_key) return 0;
  p->await_key = 0;
  if (f->keyframe) return 0;
  p->mispredictions++;
  hls__cadence_miss(&p->cad);
  p->skip_to_key = 1;
  log_warn("hls_keyframe_mispredicted stream=%s dts=%lld predicted=%lld "
           "action=drop_video_until_keyframe mispredictions=%lu",
           hub_stream_id(p->hub), (long long)dts, (long long)p->predicted_key,
           p->mispredictions);
  return 1;
}

static void on_video(hls_packager_t *p, media_frame_t *f) {
  if (!p->started && !f->keyframe) return; /* segments start at a keyframe */
  int64_t dts, pts, next_key;
  int cut_done = 0;
  if (!fix_ts(p, f, &dts, &pts)) return;
  /* A keyframe ends the open segment the usual way, however long it ran. */
  if (!(f->keyframe && p->seg_has_video) && drop_overlong_segment(p, dts) && !f->keyframe) return;
  hls__cadence_frame(&p->cad, dts, f->keyframe);
  if (mispredicted(p, f, dts) || (p->skip_to_key && !f->keyframe)) {
    if (drop_should_log(p))
      log_debug("hls_frame_dropped stream=%s kind=video dts=%lld reason=no_keyframe drops=%lu",
                hub_stream_id(p->hub), (long long)dts, p->drops);
    return;
  }
  p->skip_to_key = 0;
  int cut_now = p->started && f->keyframe && p->seg_has_video &&
                dts - p->seg_start >= (int64_t)p->o.target_ms;
  if (p->held) {
    write_held(p, dts - p->held_dts);
    if (!cut_now) maybe_part(p, dts, p->last_vdur);
  }
  if (!p->started) {
    start_segment(p, dts);
  } else if (cut_now) {
    cut(p, dts);
    cut_done = 1;
  }
  if (!p->seg_has_video) p->seg_pts_off = pts - dts; /* the segment's keyframe */
  p->seg_has_video = 1;
  if (hls__cadence_last_before_key(&p->cad, dts, &next_key) &&
      next_key - p->seg_start >= (int64_t)p->o.target_ms) {
    /* The last frame of the segment: write it now and publish. */
    write_frame(p, f, dts, pts, next_key - dts);
    p->last_vdur = next_key - dts;
    cut(p, next_key);
    p->await_key = 1;
    p->predicted_key = next_key;
    p->early_cuts++;
    prepare(p);
    return;
  }
  p->held = media_frame_ref(f);
  p->held_dts = dts;
  p->held_pts = pts;
  if (cut_done) prepare(p);
}

static void on_audio(hls_packager_t *p, media_frame_t *f) {
  int has_video = p->cfg.video_codec != CODEC_NONE;
  if (has_video && !p->started) return; /* wait for the first keyframe */
  int64_t prev = p->last_dts[MEDIA_AUDIO], dts, pts;
  int cut_done = 0;
  if (!fix_ts(p, f, &dts, &pts)) return;
  if (has_video && drop_overlong_segment(p, dts)) return;
  if (prev != NO_TS)
    p->last_adur = dts - prev;
  else if (p->last_adur <= 0)
    p->last_adur = p->cfg.sample_rate > 0 ? 1024 * 1000 / p->cfg.sample_rate : 23;
  if (!has_video) {
    if (!p->started)
      start_segment(p, dts);
    else if (dts - p->seg_start >= (int64_t)p->o.target_ms) {
      cut(p, dts);
      cut_done = 1;
    }
  }
  write_frame(p, f, dts, pts, 0);
  if (cut_done) prepare(p);
  p->audio_end = dts + p->last_adur; /* where an audio-only session's last segment ends */
  if (!has_video && p->audio_end - p->seg_start < (int64_t)p->o.target_ms) /* else the next cuts */
    maybe_part(p, p->audio_end, p->last_adur);
}

static void on_frame(void *ud, media_frame_t *f) {
  hls_packager_t *p = ud;
  if (p->ended || !p->active) return;
  if (f->kind == MEDIA_VIDEO) {
    if (f->codec == p->cfg.video_codec && p->cfg.video_codec != CODEC_NONE) on_video(p, f);
  } else if (f->codec == p->cfg.audio_codec && p->cfg.audio_codec != CODEC_NONE) {
    on_audio(p, f);
  }
}

static void on_unpublish(void *ud) {
  hls_packager_t *p = ud;
  session_close(p);
}

/* ---- public API ------------------------------------------------------------- */

hls_packager_t *hls_packager_new(hub_t *hub, const hls_opts_t *opts, hls_segment_cb cb,
                                 void *ud) {
  hls_packager_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  if (opts) p->o = *opts;
  if (!p->o.target_ms) p->o.target_ms = DEFAULT_TARGET_MS;
  if (!p->o.window) p->o.window = DEFAULT_WINDOW;
  if (!p->o.ring) p->o.ring = p->o.window + 4;
  if (p->o.ring < p->o.window + 2) p->o.ring = p->o.window + 2;
  if (p->o.part_ms) p->o.fmp4_on_demand = 0; /* parts are fMP4 */
  p->fmp4_wanted = !p->o.fmp4_on_demand;
  p->next_seq = p->o.first_seq;
  p->hub = hub;
  p->cb = cb;
  p->ud = ud;
  p->ring = calloc(p->o.ring, sizeof(*p->ring));
  if (!p->ring) {
    free(p);
    return NULL;
  }
  static const hub_consumer_ops_t ops = {on_config, on_frame, on_unpublish};
  /* The hub replays its config and GOP synchronously from here. */
  p->sub = hub_subscribe(hub, &ops, p);
  if (!p->sub) {
    hls_packager_free(p);
    return NULL;
  }
  return p;
}

void hls_packager_free(hls_packager_t *p) {
  if (!p) return;
  waiters_wake(p, WAKE_GONE);
  free(p->waiters); /* (empty) */
  if (p->sub) hub_unsubscribe(p->hub, p->sub);
  media_frame_unref(p->held);
  hls__mux_free(p->mux[HLS_TS]);
  hls__mux_free(p->mux[HLS_FMP4]);
  media_config_clear(&p->cfg);
  open_parts_drop(p);
  for (size_t i = 0; i < p->count; i++) seg_clear(&p->ring[(p->head + i) % p->o.ring]);
  free(p->ring);
  for (size_t i = 0; i < p->n_inits; i++) hls_buf_unref(p->inits[i].buf);
  free(p->inits);
  playlist_cache_clear(p);
  free(p);
}

void hls_packager_end(hls_packager_t *p) {
  if (p->ended) return;
  session_close(p);
  p->ended = 1; /* a new broadcast gets a new packager */
  playlist_cache_clear(p);
  waiters_wake(p, WAKE_CHECK); /* every waiter is due now */
}

void hls_packager_want_fmp4(hls_packager_t *p) {
  if (p->fmp4_wanted) return;
  p->fmp4_wanted = 1;
  /* Its muxer exists since the session opened; its buffer is readied now,
   * and the first fMP4 segment is the one that starts next. */
  if (p->active) hls__mux_prepare(p->mux[HLS_FMP4]);
  log_info("hls_fmp4_on stream=%s from_seq=%llu", hub_stream_id(p->hub),
           (unsigned long long)p->next_seq + (p->started ? 1 : 0));
}

void hls_unwait(hls_packager_t *p, void *ud) {
  for (size_t i = 0; i < p->n_waiters; i++) {
    if (p->waiters[i].ud != ud) continue;
    if (p->waiters[i].msn == WAIT_FMP4) p->n_fmp4_waiters--;
    p->waiters[i] = p->waiters[--p->n_waiters];
    if (!p->n_waiters) {
      free(p->waiters);
      p->waiters = NULL;
      p->cap_waiters = 0;
    }
    return;
  }
}

int hls_fmp4_wait(hls_packager_t *p, hls_wait_cb cb, void *ud) {
  if (p->fmp4_have || p->ended || !p->active || !p->fmp4_wanted) return ERR_NOT_FOUND;
  if (p->n_fmp4_waiters == MAX_FMP4_WAITERS) return ERR_RATE_LIMITED;
  int rc = waiter_add(p, WAIT_FMP4, -1, 0, cb, ud);
  if (!rc) p->n_fmp4_waiters++;
  return rc;
}

/* The segment numbered seq, or NULL when it is not in the ring. */
static hls__seg_t *seg_find(const hls_packager_t *p, uint64_t seq) {
  if (!p->count || seq < p->ring[p->head].seq || seq - p->ring[p->head].seq >= p->count)
    return NULL;
  return &p->ring[(p->head + (size_t)(seq - p->ring[p->head].seq)) % p->o.ring];
}

/* The open segment is in the playlist (its parts, the preload hint) only
 * while it continues the last published one: the first segment after a
 * discontinuity (a reconnect, a lost segment) is listed once complete, as
 * in plain HLS. hls.js takes parts under a new EXT-X-DISCONTINUITY as a
 * sequence mismatch and drops to a lower rendition. */
static int open_segment_listed(const hls_packager_t *p) {
  return p->active && p->started && !p->ended && !p->closing && parts_on(p) && !p->gap &&
         p->last_session == p->session;
}

/* Part indices here (_HLS_part, LAST-PART) count a segment's listed parts
 * from 0, as players count them; only part names carry parts_base. */
static int reached(const hls_packager_t *p, uint64_t msn, int part) {
  if (p->ended) return 1;
  if (part < 0) return msn < p->next_seq;
  if (msn < p->next_seq) {
    const hls__seg_t *s = seg_find(p, msn);
    /* A part index past the segment's last part means the next part
     * after it: the first of the next segment. */
    if (!s || !s->parts || (unsigned)part < s->n_parts || msn + 1 < p->next_seq) return 1;
    return open_segment_listed(p) && p->n_open > 0;
  }
  return msn == p->next_seq && open_segment_listed(p) && (unsigned)part < p->n_open;
}

/* rfc8216bis 6.2.5.2: how many parts (msn, part) lies past the playlist's
 * last part (lmsn, lpart), with parts of t ms, counting the segments in
 * between as the parts a full segment has. A complete lmsn (before
 * next_seq: a publisher that left mid-segment cut it short) has no parts
 * still to come. */
static uint64_t parts_ahead(const hls_packager_t *p, unsigned t, uint64_t lmsn, int lpart,
                            uint64_t msn, int part) {
  if (msn < lmsn || (msn == lmsn && part <= lpart)) return 0;
  if (msn == lmsn) return (uint64_t)(part - lpart);
  uint64_t per_seg = (p->o.target_ms + t - 1) / t;
  uint64_t rest = lmsn < p->next_seq || lpart + 1 >= (int)per_seg ? 0 : per_seg - (uint64_t)(lpart + 1);
  return rest + (msn - lmsn - 1) * per_seg + (uint64_t)part + 1;
}

int hls_reached(hls_packager_t *p, uint64_t msn, int part) {
  if (reached(p, msn, part)) return 1;
  /* The playlist's last segment is the open one when it lists parts of it. */
  uint64_t last = open_segment_listed(p) && p->n_open ? p->next_seq : p->next_seq - 1;
  if (p->next_seq == p->o.first_seq) last = p->next_seq; /* nothing yet */
  if (msn > last + 2) return ERR_INVALID;
  /* The Advance Part Limit: 3 / PART-TARGET (in s) parts past the last one. */
  uint64_t lmsn;
  int lpart;
  if (part >= 0 && hls_last_part(p, &lmsn, &lpart) == 0) {
    unsigned t = p->part_target ? p->part_target : p->o.part_ms;
    uint64_t limit = t < 1000 ? 3000 / t : 3;
    if (parts_ahead(p, t, lmsn, lpart, msn, part) > limit) return ERR_INVALID;
  }
  return 0;
}

int hls_wait(hls_packager_t *p, uint64_t msn, int part, hls_wait_cb cb, void *ud) {
  return waiter_add(p, msn, part, 0, cb, ud);
}

int hls_wait_part(hls_packager_t *p, uint64_t seq, unsigned idx, hls_wait_cb cb, void *ud) {
  return waiter_add(p, seq, (int)idx, 1, cb, ud);
}

int hls_low_latency(const hls_packager_t *p) { return p->o.part_ms != 0; }

/* EXT-X-TARGETDURATION. RFC 8216 4.3.3.1: every EXTINF rounded to the
 * nearest integer must be <= it, and it must not change: round (not ceil,
 * which turns a 2.001 s segment of 30 fps ms timestamps into 3 and makes
 * players hold back further) the longest segment so far, and never go
 * below the target. */
static unsigned target_s(const hls_packager_t *p) {
  unsigned longest = (unsigned)((p->max_dur_ms + 500) / 1000);
  unsigned t = (p->o.target_ms + 999) / 1000;
  return longest > t ? longest : t;
}

unsigned hls_target_ms(const hls_packager_t *p) { return 1000 * target_s(p); }

hls_buf_t *hls_part_get(hls_packager_t *p, uint64_t seq, unsigned idx) {
  if (seq == p->next_seq) {
    if (!open_segment_listed(p) || idx < p->part_base || idx - p->part_base >= p->n_open)
      return NULL;
    return hls_buf_ref(p->open_parts[idx - p->part_base].buf);
  }
  const hls__seg_t *s = seg_find(p, seq);
  if (!s || idx < s->parts_base || idx - s->parts_base >= s->n_parts) return NULL;
  return hls_buf_ref(s->parts[idx - s->parts_base].buf);
}

int hls_last_part(hls_packager_t *p, uint64_t *msn, int *part) {
  if (!p->o.part_ms || !p->count) return ERR_NOT_FOUND;
  if (open_segment_listed(p) && p->n_open) {
    *msn = p->next_seq;
    *part = (int)p->n_open - 1;
    return 0;
  }
  const hls__seg_t *s = seg_find(p, p->next_seq - 1);
  *msn = p->next_seq - 1;
  *part = s && s->n_parts ? (int)s->n_parts - 1 : -1;
  return 0;
}

int hls_part_pending(const hls_packager_t *p, uint64_t seq, unsigned idx) {
  return open_segment_listed(p) && seq == p->next_seq && idx == p->part_base + p->n_open;
}


int hls_playlist(hls_packager_t *p, hls_format_t fmt, const char *uri_suffix, char **out,
                 size_t *outlen) {
  *out = NULL;
  if (outlen) *outlen = 0;
  if (fmt != HLS_TS && fmt != HLS_FMP4) return ERR_INVALID;
  if (!p->count || (fmt == HLS_FMP4 && !p->fmp4_have)) return ERR_NOT_FOUND;
  int plain = !uri_suffix || !*uri_suffix;
  if (plain && p->pl_cache[fmt]) {
    if (!(*out = malloc(p->pl_cache_len[fmt] + 1))) return ERR_NOMEM;
    memcpy(*out, p->pl_cache[fmt], p->pl_cache_len[fmt] + 1);
    if (outlen) *outlen = p->pl_cache_len[fmt];
    return 0;
  }
  hls__window_t w = {.ring = p->ring, .ring_cap = p->o.ring, .ended = p->ended,
                   .init_base = p->o.first_seq};
  w.n = p->count < p->o.window ? p->count : p->o.window;
  if (fmt == HLS_FMP4) { /* fMP4 segments are the ones from fmp4_first_seq on */
    uint64_t newest = p->ring[p->head].seq + p->count - 1;
    if (p->fmp4_first_seq > newest) return ERR_NOT_FOUND;
    size_t have = (size_t)(newest - p->fmp4_first_seq + 1);
    if (have < w.n) w.n = have;
  }
  w.first = (p->head + p->count - w.n) % p->o.ring;
  w.disc_seq = discontinuities_before(p, p->count - w.n);
  w.target_s = target_s(p);
  if (fmt == HLS_FMP4 && p->o.part_ms) {
    w.part_target_ms = part_target(p, 0);
    w.open_base = p->part_base;
    w.parts_from = w.n > PARTS_LISTED ? w.n - PARTS_LISTED : 0;
    if (open_segment_listed(p)) {
      w.open_parts = p->open_parts;
      w.n_open = p->n_open;
      w.open_hint = 1;
    }
    w.open_seq = p->next_seq;
  }
  size_t len = 0;
  int rc = hls__playlist_render(&w, fmt, uri_suffix, out, &len);
  if (rc == 0 && plain && (p->pl_cache[fmt] = malloc(len + 1))) {
    memcpy(p->pl_cache[fmt], *out, len + 1);
    p->pl_cache_len[fmt] = len;
  }
  if (outlen) *outlen = len;
  return rc;
}

hls_buf_t *hls_segment_get(hls_packager_t *p, hls_format_t fmt, uint64_t seq) {
  if (fmt != HLS_TS && fmt != HLS_FMP4) return NULL;
  hls__seg_t *s = seg_find(p, seq);
  return s && s->buf[fmt] ? hls_buf_ref(s->buf[fmt]) : NULL;
}

hls_buf_t *hls_init_get(hls_packager_t *p, uint64_t n) {
  for (size_t i = 0; i < p->n_inits; i++)
    if (p->o.first_seq + p->inits[i].session == n) return hls_buf_ref(p->inits[i].buf);
  return NULL;
}

uint64_t hls_next_seq(const hls_packager_t *p) { return p->next_seq; }

uint64_t hls_segments_published(const hls_packager_t *p) { return p->next_seq - p->o.first_seq; }

uint64_t hls_numbers_end(const hls_packager_t *p) {
  uint64_t inits = p->o.first_seq + p->session + 1; /* session n is init-(first_seq + n) */
  return p->next_seq > inits ? p->next_seq : inits;
}

int hls_segment_timing(hls_packager_t *p, uint64_t seq, int64_t *wall_ms, int64_t *dur_ms,
                       int *discont) {
  const hls__seg_t *s = seg_find(p, seq);
  if (!s) return ERR_NOT_FOUND;
  if (wall_ms) *wall_ms = s->wall_ms;
  if (dur_ms) *dur_ms = s->dur_ms;
  if (discont) *discont = s->discont;
  return 0;
}
