/* recorder.h — DVR: records live streams into files (seed 003 `dvr`).
 *
 * How a recording is made
 *   The recorder observes every published HLS segment (live_observe). For
 *   each one it reads the stream's current params.dvr (so enabling or
 *   disabling DVR while live takes effect at the next segment) and, when
 *   the segment's rendition is selected (dvr.stream_source, dvr.resolution),
 *   hands the segment's MPEG-TS bytes to a worker thread that writes them
 *   to DATA/recordings/<id>/frag-<rendition>-<n>.ts, fsyncs it, and only
 *   then appends it to fragments.idx (fsynced too). A kill -9 therefore
 *   loses at most the fragment being written; the next start finishes
 *   every recording left in status "recording" from its fragments.
 *
 * One recording = one part of a broadcast
 *   A broadcast (a publisher session, continued across reconnects within
 *   stream_timeout) is split at segment boundaries — keyframes, aligned
 *   across renditions — so that no file is longer than
 *   dvr.max_file_duration (+ up to half a second of rounding). Each part is
 *   its own recording (row, files, uploads), numbered 1, 2, … in `part`.
 *   A recording finishes when its part is full, when DVR is disabled, or
 *   when the stream stops (stopped, disabled, deleted).
 *
 * Finishing (worker thread, stream copy, no re-encoding)
 *   mp4: <rendition>.mp4 (faststart); ts: <rendition>.ts; hls: the
 *   fragments with a VOD playlist per rendition (<rendition>.m3u8) and
 *   index.m3u8 (a multivariant playlist when several renditions were
 *   recorded, else the media playlist). index.m3u8 is always written so
 *   onair can serve the recording as VOD while the files are local.
 *   Then every file of the requested formats is queued for upload to each
 *   dvr.destination as "<recording id>/<file>". Status:
 *     recording → uploading → uploaded (all confirmed; the local copy is
 *     deleted) | failed (error says why; the local copy is kept)
 *     recording → ready (no destination: the files stay local)
 *     recording → failed (nothing could be produced)
 *   Events recording.ready (ready or uploaded) and recording.failed go to
 *   webhooks.
 *
 * Loop thread only (the workers hand results back through libuv).
 */
#ifndef ONAIR_RECORDER_H
#define ONAIR_RECORDER_H

#include <jansson.h>
#include <uv.h>

#include "core/config.h"
#include "live/live.h"
#include "store/recordings.h"
#include "store/store.h"

typedef struct recorder recorder_t;
struct uploader;

/* uploader may be NULL (destinations are then ignored: recordings end
 * "ready"). Registers the live observer, the event listener and the
 * uploader's done callback: call before uploader_start(). */
recorder_t *recorder_new(uv_loop_t *loop, store_t *store, live_t *live, struct uploader *up,
                         const config_t *cfg);
/* Finishes the recordings an earlier process left in status "recording"
 * (kill -9, power cut) from their fragments on disk. */
int recorder_recover(recorder_t *rc);
/* Stops taking segments (call before live_free at shutdown); recordings
 * still open stay "recording" and are recovered at the next start. Frees
 * everything once work in flight has come back: keep running the loop. */
void recorder_free(recorder_t *rc);

/* DELETE /v1/recordings/{id}: cancels its uploads, removes its local
 * files (in the background) and the row. ERR_NOT_FOUND (not in project),
 * ERR_CONFLICT while it is still recording or being finished. */
int recorder_delete(recorder_t *rc, const char *project_id, const char *id);

/* The directory the VOD form of a recording is served from: its local
 * directory while index.m3u8 is there, else its file:// destination when
 * the hls form was uploaded there. 0 or ERR_NOT_FOUND. */
int recorder_vod_dir(const config_t *cfg, const store_recording_t *r, char *out, size_t outlen);

/* The directory holding file `name` of a recording: its local directory
 * (DATA/recordings/<id>) when the file is there, else the first file://
 * destination's <dir>/<id> that has it. 0 or ERR_NOT_FOUND. Any status. */
int recorder_file_dir(const config_t *cfg, const store_recording_t *r, const char *name,
                      char *out, size_t outlen);

/* The public recording object (docs/api.md "Recordings"); NULL on
 * allocation failure. */
json_t *recorder_render(const config_t *cfg, const store_recording_t *r);

/* Copies a destination URL without credentials: userinfo and query are
 * dropped ("ftp://u:p@h/d?x" → "ftp://h/d"). */
void recorder_strip_url(const char *url, char *out, size_t outlen);

#endif
