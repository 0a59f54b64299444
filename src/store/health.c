/* health.c — the health_samples table (store/health.h). */
#include "store/health.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define HEALTH_COLS                                                                          \
  "stream_id, ts, video_bitrate, audio_bitrate, video_data_rate, audio_data_rate, "          \
  "framerate, input_frame_rate, time_connected, width, height, encoder, client_type, "      \
  "video_codec, audio_codec, audio_channels, audio_sample_rate, audio_sample_size, "         \
  "dropped_frames, samples"

static void row_read(sqlite3_stmt *s, store_health_sample_t *o) {
  memset(o, 0, sizeof(*o));
  store__col_copy(s, 0, o->stream_id, sizeof(o->stream_id));
  o->ts = sqlite3_column_int64(s, 1);
  o->video_bitrate = sqlite3_column_int64(s, 2);
  o->audio_bitrate = sqlite3_column_int64(s, 3);
  o->video_data_rate = sqlite3_column_int64(s, 4);
  o->audio_data_rate = sqlite3_column_int64(s, 5);
  o->framerate = sqlite3_column_double(s, 6);
  o->input_frame_rate = sqlite3_column_double(s, 7);
  o->time_connected = sqlite3_column_int64(s, 8);
  o->width = sqlite3_column_int(s, 9);
  o->height = sqlite3_column_int(s, 10);
  store__col_copy(s, 11, o->encoder, sizeof(o->encoder));
  store__col_copy(s, 12, o->client_type, sizeof(o->client_type));
  store__col_copy(s, 13, o->video_codec, sizeof(o->video_codec));
  store__col_copy(s, 14, o->audio_codec, sizeof(o->audio_codec));
  o->audio_channels = sqlite3_column_int(s, 15);
  o->audio_sample_rate = sqlite3_column_int(s, 16);
  o->audio_sample_size = sqlite3_column_int(s, 17);
  o->dropped_frames = sqlite3_column_int64(s, 18);
  o->samples = sqlite3_column_int(s, 19);
}

int store_health_insert(store_t *st, const store_health_sample_t *x) {
  if (!store__fits(x->stream_id, sizeof(x->stream_id))) return ERR_INVALID;
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "INSERT INTO health_samples (" HEALTH_COLS ", downsampled) VALUES "
                   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                   "?17, ?18, ?19, ?20, 0)",
                   &s, "health_insert");
  if (rc) return rc;
  /* store__bind covers every parameter or none: 20 mixed columns are bound
   * one by one instead. */
  int brc = sqlite3_bind_text(s, 1, x->stream_id, -1, SQLITE_STATIC);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 2, x->ts);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 3, x->video_bitrate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 4, x->audio_bitrate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 5, x->video_data_rate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 6, x->audio_data_rate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_double(s, 7, x->framerate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_double(s, 8, x->input_frame_rate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 9, x->time_connected);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 10, x->width);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 11, x->height);
  if (brc == SQLITE_OK) brc = sqlite3_bind_text(s, 12, x->encoder, -1, SQLITE_STATIC);
  if (brc == SQLITE_OK) brc = sqlite3_bind_text(s, 13, x->client_type, -1, SQLITE_STATIC);
  if (brc == SQLITE_OK) brc = sqlite3_bind_text(s, 14, x->video_codec, -1, SQLITE_STATIC);
  if (brc == SQLITE_OK) brc = sqlite3_bind_text(s, 15, x->audio_codec, -1, SQLITE_STATIC);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 16, x->audio_channels);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 17, x->audio_sample_rate);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 18, x->audio_sample_size);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int64(s, 19, x->dropped_frames);
  if (brc == SQLITE_OK) brc = sqlite3_bind_int(s, 20, x->samples > 0 ? x->samples : 1);
  rc = store__run(st, s, brc, "health_insert", NULL);
  sqlite3_finalize(s);
  return rc;
}

int store_health_list(store_t *st, const char *stream_id, int64_t from, int64_t to,
                      int newest_first, size_t limit, store_health_cb cb, void *ud) {
  if (!stream_id) return ERR_INVALID;
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   newest_first ? "SELECT " HEALTH_COLS " FROM health_samples WHERE stream_id = ?1 "
                                  "AND ts >= ?2 AND ts <= ?3 ORDER BY ts DESC, rowid DESC LIMIT ?4"
                                : "SELECT " HEALTH_COLS " FROM health_samples WHERE stream_id = ?1 "
                                  "AND ts >= ?2 AND ts <= ?3 ORDER BY ts, rowid LIMIT ?4",
                   &s, "health_list");
  if (rc) return rc;
  int64_t lim = limit ? (int64_t)limit : -1; /* SQLite: a negative LIMIT means none */
  int brc = store__bind(s, "tlll", stream_id, from, to, lim);
  if (brc != SQLITE_OK) {
    rc = store__fail(st, brc, "health_list");
  } else {
    store_health_sample_t row;
    while ((brc = sqlite3_step(s)) == SQLITE_ROW) {
      row_read(s, &row);
      if ((rc = cb(ud, &row)) != 0) break;
    }
    if (rc == 0 && brc != SQLITE_DONE) rc = store__fail(st, brc, "health_list");
  }
  sqlite3_finalize(s);
  return rc;
}

static int keep_first(void *ud, const store_health_sample_t *s) {
  *(store_health_sample_t *)ud = *s;
  return 1;
}

int store_health_latest(store_t *st, const char *stream_id, store_health_sample_t *out) {
  memset(out, 0, sizeof(*out));
  int rc = store_health_list(st, stream_id, INT64_MIN, INT64_MAX, 1, 1, keep_first, out);
  if (rc == 1) return 0;
  return rc ? rc : ERR_NOT_FOUND;
}

int store_health_span(store_t *st, const char *stream_id, int64_t *first, int64_t *last) {
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st,
                   "SELECT MIN(ts), MAX(ts), COUNT(*) FROM health_samples WHERE stream_id = ?1",
                   &s, "health_span");
  if (rc) return rc;
  int brc = store__bind(s, "t", stream_id);
  if (brc == SQLITE_OK && (brc = sqlite3_step(s)) == SQLITE_ROW) {
    if (sqlite3_column_int64(s, 2) == 0) {
      rc = ERR_NOT_FOUND;
    } else {
      *first = sqlite3_column_int64(s, 0);
      *last = sqlite3_column_int64(s, 1);
    }
  } else {
    rc = store__fail(st, brc, "health_span");
  }
  sqlite3_finalize(s);
  return rc;
}

int store_health_purge(store_t *st, int64_t before, int *n) {
  sqlite3_stmt *s;
  int rc = store__prepare(st, "DELETE FROM health_samples WHERE ts < ?1", &s, "health_purge");
  if (rc) return rc;
  int changes = 0;
  rc = store__run(st, s, store__bind(s, "l", before), "health_purge", &changes);
  sqlite3_finalize(s);
  if (n) *n = rc ? 0 : changes;
  return rc;
}

/* One row per (stream, minute) of raw samples before ?1. The bare columns
 * (time_connected, width, …) come from the row holding MAX(ts): SQLite's
 * documented rule for a query with exactly one min()/max() aggregate. */
static const char downsample_sql[] =
    "INSERT INTO health_samples (" HEALTH_COLS ", downsampled) "
    "SELECT stream_id, minute, vb, ab, vd, ad, fr, ifr, time_connected, width, height, encoder, "
    "client_type, video_codec, audio_codec, audio_channels, audio_sample_rate, "
    "audio_sample_size, dropped, n, 1 FROM ("
    "  SELECT stream_id, (ts / 60) * 60 AS minute, MAX(ts) AS last_ts,"
    "    CAST(ROUND(AVG(video_bitrate)) AS INTEGER) AS vb,"
    "    CAST(ROUND(AVG(audio_bitrate)) AS INTEGER) AS ab,"
    "    CAST(ROUND(AVG(video_data_rate)) AS INTEGER) AS vd,"
    "    CAST(ROUND(AVG(audio_data_rate)) AS INTEGER) AS ad,"
    "    AVG(framerate) AS fr, AVG(input_frame_rate) AS ifr,"
    "    time_connected, width, height, encoder, client_type, video_codec, audio_codec,"
    "    audio_channels, audio_sample_rate, audio_sample_size,"
    "    SUM(dropped_frames) AS dropped, SUM(samples) AS n"
    "  FROM health_samples WHERE downsampled = 0 AND ts < ?1"
    "  GROUP BY stream_id, minute)";

int store_health_downsample(store_t *st, int64_t before, int *n) {
  if (n) *n = 0;
  before -= ((before % 60) + 60) % 60; /* whole minutes only: a minute is folded once */
  sqlite3_stmt *ins = NULL, *del = NULL;
  int rc = store__prepare(st, downsample_sql, &ins, "health_downsample");
  if (!rc)
    rc = store__prepare(st, "DELETE FROM health_samples WHERE downsampled = 0 AND ts < ?1", &del,
                 "health_downsample");
  int rows = 0;
  if (!rc && (rc = store__begin(st)) == 0) {
    int brc = store__bind(ins, "l", before);
    rc = brc == SQLITE_OK ? store__exec(st, ins, "health_downsample", &rows)
                          : store__fail(st, brc, "health_downsample");
    if (!rc) {
      brc = store__bind(del, "l", before);
      rc = brc == SQLITE_OK ? store__exec(st, del, "health_downsample", NULL)
                            : store__fail(st, brc, "health_downsample");
    }
    rc = store__end(st, rc);
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(del);
  if (n && !rc) *n = rows;
  return rc;
}

int store_stream_count_by_status(store_t *st, int64_t *counts, int n) {
  for (int i = 0; i < n; i++) counts[i] = 0;
  store__read(st);
  sqlite3_stmt *s;
  int rc = store__prepare(st, "SELECT status, COUNT(*) FROM streams WHERE deleted = 0 GROUP BY status",
                   &s, "stream_count_by_status");
  if (rc) return rc;
  int src;
  while ((src = sqlite3_step(s)) == SQLITE_ROW) {
    int status = sqlite3_column_int(s, 0);
    if (status >= 0 && status < n) counts[status] = sqlite3_column_int64(s, 1);
  }
  if (src != SQLITE_DONE) rc = store__fail(st, src, "stream_count_by_status");
  sqlite3_finalize(s);
  return rc;
}
