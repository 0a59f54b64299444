/* health.h — ingest health of live streams (seed 003 …/health).
 *
 * The sampler follows publishes through a live observer. While a stream
 * publishes, a timer fires every interval_ms and turns the hub's counters
 * into one sample (store/health.h): video/audio bitrate from the byte
 * deltas, frame rate from the video frame delta, both over the measured
 * wall-clock interval; resolution, codecs, audio format from the hub's
 * configuration; encoder and client type from the publisher; dropped
 * frames. The latest rates also feed /metrics (onair_ingest_bitrate_kbps,
 * onair_ingest_fps) through a metrics collector.
 *
 * Retention: a job every RETENTION_PERIOD deletes samples older than
 * retention_days and folds raw samples older than 24 h into one row per
 * minute (store_health_downsample).
 *
 * The rest of this header is the arithmetic the API shares with the sampler
 * and the tests: time parsing, bucket sizes and boundaries, summary
 * statistics. Loop thread only.
 */
#ifndef ONAIR_HEALTH_H
#define ONAIR_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "live/live.h"
#include "store/health.h"
#include "store/store.h"

typedef struct health health_t;

typedef struct {
  unsigned interval_ms;    /* sample period; default 5000 */
  unsigned retention_days; /* default 30 */
} health_opts_t;

/* Registers the live observer and the metrics collector, starts the
 * retention job. NULL on allocation failure. The live registry must outlive
 * the sampler until live_free() has run (its observers cannot be removed):
 * free the registry first, then the sampler. */
health_t *health_new(uv_loop_t *loop, store_t *store, live_t *live, const health_opts_t *opts);
/* Stops every timer and unregisters the collector; memory goes once libuv
 * has closed the timers (keep running the loop). */
void health_free(health_t *h);
/* Runs the retention job now (tests, `now` injectable); 0 or ERR_*. */
int health_retention_run(store_t *store, int64_t now, unsigned retention_days);

/* ---- arithmetic ---- */

/* "YYYY-MM-DD HH:MM:SS" (seed 003; 'T' for the space, a trailing 'Z',
 * "YYYY-MM-DD" alone and plain unix seconds are accepted too), UTC.
 * 0 or ERR_INVALID. */
int health_parse_time(const char *s, int64_t *out);

typedef enum {
  HEALTH_BUCKET_NONE = 0, /* raw samples */
  HEALTH_BUCKET_AUTO,
  HEALTH_BUCKET_1M,  /* "1m": one minute */
  HEALTH_BUCKET_5M,
  HEALTH_BUCKET_1H,
  HEALTH_BUCKET_1D,
  HEALTH_BUCKET_1W,  /* weeks start on Monday 00:00 UTC */
  HEALTH_BUCKET_MON, /* "1M": calendar months, UTC */
} health_bucket_t;

/* "auto", "1m", …, "none" → bucket; ERR_INVALID otherwise. */
int health_bucket_parse(const char *s, health_bucket_t *out);
const char *health_bucket_name(health_bucket_t b);
/* Nominal seconds of a bucket (a month counts 30 days); 0 for none/auto. */
int64_t health_bucket_seconds(health_bucket_t b);
/* The bucket auto resolves to for a span of seconds: the finest one that
 * gives at most HEALTH_AUTO_POINTS buckets. */
#define HEALTH_AUTO_POINTS 300
health_bucket_t health_bucket_auto(int64_t span_seconds);
/* Start of the bucket holding ts. */
int64_t health_bucket_start(health_bucket_t b, int64_t ts);

/* avg, median, min, max, p10, p90 of n values (percentiles interpolate
 * linearly between the closest ranks). Sorts v in place. n == 0 gives
 * zeros and returns ERR_NOT_FOUND. */
typedef struct {
  double avg, median, min, max, p10, p90;
} health_stats_t;
int health_stats(double *v, size_t n, health_stats_t *out);

/* Seed 003's "encoder" value for a client type: "rtmp" → "RTMP Client". */
const char *health_client_label(const char *client_type);

#endif
