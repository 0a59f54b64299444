/* hls.h — the live HLS packager of one stream.
 *
 * Subscribes to the stream's hub and cuts the frames into segments at video
 * keyframes once target_ms has elapsed, in two forms at once: MPEG-TS and
 * fragmented MP4 (CMAF; one init segment per publisher session). Segments
 * live in memory in a bounded ring as shared refcounted buffers; a segment
 * is published (appears in the playlist) the moment the keyframe that ends
 * it arrives, or at unpublish/end for the last one. Once the publisher's
 * keyframe cadence has been stable for a few GOPs, it is published as soon
 * as its predicted last frame arrives instead (see hls.c); a segment always
 * starts on a keyframe either way.
 *
 * Publisher sessions: when the publisher leaves (hub on_unpublish) the open
 * segment is closed; if a publisher comes back the playlist continues with
 * #EXT-X-DISCONTINUITY (and a new EXT-X-MAP for fMP4). hls_packager_end()
 * adds #EXT-X-ENDLIST.
 *
 * fMP4 on demand (opts.fmp4_on_demand): MPEG-TS is always made (recording,
 * clips and transcoding read it); the fMP4 form only from the segment after
 * the first hls_packager_want_fmp4(), since most streams are only ever
 * played in one form. Its playlist then starts at that segment, and a
 * player that asked before it existed can wait for it (hls_fmp4_wait).
 *
 * LL-HLS (opts.part_ms > 0, rfc8216bis): the fMP4 form is also cut into
 * parts of at most about part_ms (fragments of the open segment), published
 * as they are made. Its playlist then carries EXT-X-SERVER-CONTROL
 * (CAN-BLOCK-RELOAD), EXT-X-PART-INF, the parts of the newest segments and
 * of the open one, and an EXT-X-PRELOAD-HINT for the next part; responses
 * can wait for a segment or part to appear (hls_wait). The MPEG-TS form is
 * unchanged.
 *
 * Loop thread only.
 */
#ifndef ONAIR_HLS_H
#define ONAIR_HLS_H

#include <stddef.h>
#include <stdint.h>

#include "media/hub/hub.h"

typedef enum { HLS_TS = 0, HLS_FMP4 = 1 } hls_format_t;

/* A shared immutable byte buffer (segments, init segments). */
typedef struct hls_buf {
  int refcount;
  size_t len;
  uint8_t *data; /* right after the struct */
  int fd;        /* a memfd with the same bytes, -1 none yet (see hls_buf_fd) */
} hls_buf_t;
hls_buf_t *hls_buf_ref(hls_buf_t *b);
void hls_buf_unref(hls_buf_t *b);
/* A file descriptor holding the buffer's bytes, for sendfile(2): a memfd
 * written on the first call and kept (closed with the buffer). -1 for small
 * buffers (copying them is cheaper) or when it cannot be made (e.g. out of
 * descriptors); the bytes in memory stay valid either way. Loop thread. */
int hls_buf_fd(hls_buf_t *b);

typedef struct {
  unsigned target_ms;       /* segment target duration; default 2000 */
  unsigned window;          /* segments listed in the playlist; default 6 */
  unsigned ring;            /* segments kept in memory (>= window + 2); default window + 4 */
  int fmp4_on_demand;       /* 0: both forms from the start; 1: see the top of this file */
  /* Media sequence number of the first segment (default 0). fMP4 init
   * segments are numbered from first_seq + 1. Segments are served as
   * immutable, so a caller that makes several packagers for the same URL
   * (one per broadcast) gives each a base no earlier one reached. */
  uint64_t first_seq;
  /* LL-HLS part target in ms; 0 = no parts (see the top of this file).
   * Video below about 10 fps gets a PART-TARGET of a whole number of its
   * frames instead (rfc8216bis: parts of 85-100 % of it), fixed with the
   * first publisher's frame rate. Implies fmp4_on_demand = 0. */
  unsigned part_ms;
  /* Another packager of the same media timeline (a transcoded rung's
   * source), which must outlive this one: its wall clock is taken, so the
   * same media time gets the same EXT-X-PROGRAM-DATE-TIME in every
   * rendition (rfc8216bis 6.2.4), and its first segment takes the
   * source's discontinuity number. NULL: this packager's own. */
  const struct hls_packager *clock;
} hls_opts_t;

typedef struct hls_packager hls_packager_t;

/* Called each time a segment is published (for lifecycle: first segment →
 * live; and for stats). seq is the media sequence number. */
typedef void (*hls_segment_cb)(void *ud, uint64_t seq, double duration_s);

hls_packager_t *hls_packager_new(hub_t *hub, const hls_opts_t *opts, hls_segment_cb cb, void *ud);
/* Unsubscribes and frees; buffers still referenced by responses stay valid. */
void hls_packager_free(hls_packager_t *p);
/* Closes the open segment and marks the playlist ended (#EXT-X-ENDLIST). */
void hls_packager_end(hls_packager_t *p);

/* Renders the media playlist. Segment URIs are relative ("12.ts",
 * "12.m4s", "init-1.mp4") followed by uri_suffix when given (e.g.
 * "?auth=TOKEN" so authenticated playback keeps its token). *out is
 * malloc'd. Returns ERR_NOT_FOUND while no segment exists yet. */
int hls_playlist(hls_packager_t *p, hls_format_t fmt, const char *uri_suffix, char **out,
                 size_t *outlen);
/* Someone wants the fMP4 form: it is made from the next segment on (and
 * stays on for the packager's life). No-op when it already is. */
void hls_packager_want_fmp4(hls_packager_t *p);
/* Called once when what a waiter waits for has come (ok = 1), or when it
 * will not (ok = 0; see each kind). p is valid during the call; the
 * callback must not register another waiter or free p. */
typedef void (*hls_wait_cb)(void *ud, hls_packager_t *p, int ok);
/* Registers a waiter for the first fMP4 segment (call after
 * hls_packager_want_fmp4). ok = 0 when the publisher session closes first,
 * the packager ends or is freed. 0 when registered; ERR_NOT_FOUND when
 * waiting cannot help (no publisher session, ended, or fMP4 segments exist
 * already: render the playlist instead); ERR_RATE_LIMITED past 256 waiters. */
int hls_fmp4_wait(hls_packager_t *p, hls_wait_cb cb, void *ud);
/* LL-HLS blocking reload (rfc8216bis 6.2.5.2, _HLS_msn / _HLS_part): 1
 * when the fMP4 playlist already has segment msn (part >= 0: its part
 * `part`, counted from 0 among the segment's parts, or, past its last part,
 * the first part of the next segment) or never will (ended); 0 when it may
 * come; ERR_INVALID when msn is more than two segments past the playlist's
 * last, or the part more than the Advance Part Limit (3 s of parts) past
 * its last part (the request is answered 400). */
int hls_reached(hls_packager_t *p, uint64_t msn, int part);
/* Registers a waiter for hls_reached(msn, part) to become 1 (ok = 1 then,
 * and when the packager ends; ok = 0 when it is freed). A publisher that
 * goes away does not end the wait: the caller has its own timeout.
 * 0, or ERR_RATE_LIMITED / ERR_NOMEM. */
int hls_wait(hls_packager_t *p, uint64_t msn, int part, hls_wait_cb cb, void *ud);
/* Registers a waiter for part idx of segment seq, which hls_part_pending()
 * says is next: called (ok = 1) once it is made or cannot be any more (the
 * segment ended first, the publisher left; hls_part_get() then tells), ok =
 * 0 when the packager is freed. 0, or ERR_RATE_LIMITED / ERR_NOMEM. */
int hls_wait_part(hls_packager_t *p, uint64_t seq, unsigned idx, hls_wait_cb cb, void *ud);
/* Forgets the waiter registered with ud without calling it (a waiter that
 * gave up, e.g. on its own timeout). No-op when there is none. */
void hls_unwait(hls_packager_t *p, void *ud);
/* 1 when the packager makes LL-HLS parts. */
int hls_low_latency(const hls_packager_t *p);
/* EXT-X-TARGETDURATION in ms (the target, or the longest segment so far
 * rounded; see RFC 8216 4.3.3.1): how long waiting may take. */
unsigned hls_target_ms(const hls_packager_t *p);
/* For EXT-X-RENDITION-REPORT: the number of the last segment in the fMP4
 * playlist (the open one when it lists parts of it) and its last part
 * index (counted from 0 among its parts; -1 when it lists none). 0, or ERR_NOT_FOUND (no parts made, or
 * nothing yet). */
int hls_last_part(hls_packager_t *p, uint64_t *msn, int *part);
/* Part idx of segment seq ("{seq}.{idx}.m4s"; reference taken), or NULL:
 * not made yet, or dropped (parts are kept for the newest few segments). */
hls_buf_t *hls_part_get(hls_packager_t *p, uint64_t seq, unsigned idx);
/* 1 when part idx of segment seq is the next one to be made (the
 * playlist's EXT-X-PRELOAD-HINT): a request for it waits (hls_wait). */
int hls_part_pending(const hls_packager_t *p, uint64_t seq, unsigned idx);
/* A segment by media sequence number (reference taken), or NULL. */
hls_buf_t *hls_segment_get(hls_packager_t *p, hls_format_t fmt, uint64_t seq);
/* The fMP4 init segment of session n (reference taken), or NULL. */
hls_buf_t *hls_init_get(hls_packager_t *p, uint64_t n);
/* One past the largest segment or init segment number this packager has
 * used (first_seq when none): a later packager for the same URLs starts
 * here or above. */
uint64_t hls_numbers_end(const hls_packager_t *p);
/* The media sequence number the next segment will have. */
uint64_t hls_next_seq(const hls_packager_t *p);
/* Number of segments published so far (0 before the first). */
uint64_t hls_segments_published(const hls_packager_t *p);
/* Timing of a segment still in the ring (what EXT-X-PROGRAM-DATE-TIME,
 * EXTINF and EXT-X-DISCONTINUITY say): 0, or ERR_NOT_FOUND. Any out
 * pointer may be NULL. (clips: the rolling window indexes by wall clock.) */
int hls_segment_timing(hls_packager_t *p, uint64_t seq, int64_t *wall_ms, int64_t *dur_ms,
                       int *discont);

#endif
