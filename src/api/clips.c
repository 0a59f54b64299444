/* Clips of a live stream (media/clip/clip.h makes them):
 *
 *   POST   /v1/live-streams/{id}/clips   cut a clip from the rolling window, or from the
 *                                        stream's recordings before it (202, processing)
 *   GET    /v1/live-streams/{id}/clips   paginated: offset/limit, sort_by, order
 *   GET    /v1/clips/{id}
 *   DELETE /v1/clips/{id}                the row at once, the files off the loop
 *   GET    /vod/clips/{id}/{file}        clip.mp4, index.m3u8, seg-NNNNN.ts
 *
 * Times in a request: a number is seconds relative to the window — negative
 * counts back from the live edge (the end of the newest segment), zero or
 * positive counts from the start of the newest broadcast (seen by the window
 * or, when it began before the window, by the recording that began it) —;
 * a string is an absolute RFC 3339 timestamp ("2026-11-26T07:10:43.250Z",
 * "…+01:00") or seed 003's "YYYY-MM-DD HH:MM:SS" (UTC).
 *
 * Playback: a clip is "public" (the URL is enough) when its stream had a
 * public playback ID at creation, else "authenticated": every file then
 * needs ?auth=<RS256 JWT signed with a project signing key, "sub" = the
 * clip id> (auth/signing.h); the playlist passes the token on to its
 * segments. "playback_policy" in the request overrides the default.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/clip_time.h"
#include "auth/signing.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"
#include "live/stream_view.h"
#include "media/clip/clip.h"
#include "store/clips.h"

#define CLIPS_DEFAULT_LIMIT 20
#define CLIPS_MAX_LIMIT 100
#define NAME_MAX_LEN 255

static const char *status_name(int status) {
  switch (status) {
    case STORE_CLIP_READY: return "ready";
    case STORE_CLIP_FAILED: return "failed";
    default: return "processing";
  }
}

static json_t *clip_render(api_ctx_t *ctx, const store_clip_t *c) {
  char a[40], b[40], created[32], updated[32], base[400], url[600];
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->id));
  json_object_set_new(o, "stream_id", json_string(c->stream_id));
  json_object_set_new(o, "name", c->name[0] ? json_string(c->name) : json_null());
  json_object_set_new(o, "status", json_string(status_name(c->status)));
  json_object_set_new(o, "error", c->error[0] ? json_string(c->error) : json_null());
  json_object_set_new(o, "start_time", json_string(clip_time_format(c->start_ms, a, sizeof(a))));
  json_object_set_new(o, "end_time", json_string(clip_time_format(c->end_ms, b, sizeof(b))));
  json_object_set_new(o, "duration", json_real((double)(c->end_ms - c->start_ms) / 1000.0));
  int ready = c->status == STORE_CLIP_READY;
  json_object_set_new(o, "media_start_time",
                      ready ? json_string(clip_time_format(c->media_start_ms, a, sizeof(a))) : json_null());
  json_object_set_new(o, "media_duration",
                      ready ? json_real((double)c->duration_ms / 1000.0) : json_null());
  json_object_set_new(o, "size", ready ? json_integer(c->size_bytes) : json_null());
  json_object_set_new(o, "width", ready && c->width ? json_integer(c->width) : json_null());
  json_object_set_new(o, "height", ready && c->height ? json_integer(c->height) : json_null());
  json_object_set_new(o, "playback_policy", json_string(c->playback_policy));
  stream_view_http_base(ctx->cfg, NULL, base, sizeof(base));
  snprintf(url, sizeof(url), "%s/vod/clips/%s/clip.mp4", base, c->id);
  json_object_set_new(o, "mp4_url", json_string(url));
  snprintf(url, sizeof(url), "%s/vod/clips/%s/index.m3u8", base, c->id);
  json_object_set_new(o, "playback_url", json_string(url));
  json_object_set_new(o, "created_at",
                      json_string(util_format_time(c->created_at, created, sizeof(created))));
  json_object_set_new(o, "updated_at",
                      json_string(util_format_time(c->updated_at, updated, sizeof(updated))));
  return o;
}

static void clip_respond(api_ctx_t *ctx, http_response_t *res, int status, const store_clip_t *c) {
  json_t *wrap = json_pack("{s:o}", "clip", clip_render(ctx, c));
  if (!wrap) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, status, wrap);
  json_decref(wrap);
}

static int clips_available(api_ctx_t *ctx, http_response_t *res) {
  if (ctx->clips) return 1;
  api_error(res, ERR_INTERNAL, "clips are not available in this process", NULL);
  return 0;
}

#define NO_MEDIA_YET                                                                      \
  "the clip window of this stream holds no media yet and no recording of it is readable here " \
  "(push the stream first)"

/* "the clip window of this stream holds media from A to B (UTC); …
 * recordings hold …" */
static void avail_text(const clip_avail_t *av, char *out, size_t outlen) {
  char a[40], b[40], c[40];
  size_t o = 0;
  if (av->has_window)
    o += (size_t)snprintf(out, outlen, "the clip window of this stream holds media from %s to %s (UTC)",
                          clip_time_format(av->window.first_ms, a, sizeof(a)),
                          clip_time_format(av->window.last_ms, b, sizeof(b)));
  else
    o += (size_t)snprintf(out, outlen, "the clip window of this stream holds no media");
  if (o < outlen)
    o += (size_t)snprintf(out + o, outlen - o, "; %s",
                          av->n_recordings ? "its recordings hold" : "no recording of it is readable here");
  /* The newest ranges are the likely ones; older ones are elided. */
  size_t first = av->n_recordings > 8 ? av->n_recordings - 8 : 0;
  if (first && o < outlen) o += (size_t)snprintf(out + o, outlen - o, " (%zu older ranges),", first);
  for (size_t i = first; i < av->n_recordings && o < outlen; i++)
    o += (size_t)snprintf(out + o, outlen - o, "%s %s to %s", i > first ? "," : "",
                          clip_time_format(av->recordings[i].first_ms, a, sizeof(a)),
                          clip_time_format(av->recordings[i].last_ms, b, sizeof(b)));
  if (o < outlen)
    snprintf(out + o, outlen - o, "; the newest broadcast started at %s",
             clip_time_format(av->span.broadcast_start_ms, c, sizeof(c)));
}

/* 1 when [start, end) lies inside the window, or begins and ends inside
 * what the window and the recordings hold (time between them, when the
 * stream was not live or not recorded, is skipped). */
static int avail_covers(const clip_avail_t *av, int64_t start, int64_t end) {
  if (av->has_window && start >= av->window.first_ms && end <= av->window.last_ms) return 1;
  int s_in = 0, e_in = 0;
  if (av->has_window) {
    s_in = start >= av->window.first_ms && start < av->window.last_ms;
    e_in = end > av->window.first_ms && end <= av->window.last_ms;
  }
  for (size_t i = 0; i < av->n_recordings; i++) {
    s_in |= start >= av->recordings[i].first_ms && start < av->recordings[i].last_ms;
    e_in |= end > av->recordings[i].first_ms && end <= av->recordings[i].last_ms;
  }
  return s_in && e_in;
}

/* A request time: a number (seconds, relative to the window) or a
 * timestamp string. 1 when present and valid, 0 when absent; answers 400
 * and returns -1 when bad. sp may be NULL (no media): relative times then
 * answer 409. */
static int parse_time(json_t *v, const char *field, const clip_span_t *sp, http_response_t *res,
                      int64_t *ms) {
  char msg[400];
  if (!v || json_is_null(v)) return 0;
  if (json_is_number(v)) {
    double s = json_number_value(v);
    if (s < -1e7 || s > 1e7) {
      snprintf(msg, sizeof(msg), "%s is out of range (relative times are seconds)", field);
      api_error(res, ERR_INVALID, msg, field);
      return -1;
    }
    if (!sp) {
      api_error(res, ERR_CONFLICT, NO_MEDIA_YET, NULL);
      return -1;
    }
    int64_t d = (int64_t)(s * 1000.0 + (s < 0 ? -0.5 : 0.5));
    *ms = s < 0 ? sp->last_ms + d : sp->broadcast_start_ms + d;
    return 1;
  }
  const char *str = json_string_value(v);
  if (str && clip_time_parse(str, ms) == 0) return 1;
  snprintf(msg, sizeof(msg),
           "%s must be seconds (negative: before the live edge; zero or more: since the "
           "broadcast started) or an RFC 3339 timestamp such as 2026-01-31T12:00:00.000Z",
           field);
  api_error(res, ERR_INVALID, msg, field);
  return -1;
}

/* The default policy: public when the stream has a public playback ID. */
static const char *default_policy(api_ctx_t *ctx, const char *stream_id) {
  store_playback_t *pl = NULL;
  size_t n = 0;
  const char *policy = "authenticated";
  if (store_playback_list(ctx->store, stream_id, &pl, &n) == 0)
    for (size_t i = 0; i < n; i++)
      if (strcmp(pl[i].policy, "public") == 0) policy = "public";
  free(pl);
  return policy;
}

static void clip_create(void *ud, http_request_t *req, http_response_t *res,
                        const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37], msg[1200];
  if (api_auth(ctx, req, res, project) || !clips_available(ctx, res)) return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  clip_avail_t av = {0};
  json_t *body = NULL;
  store_clip_t c;
  memset(&c, 0, sizeof(c));
  if (api_parse_body(req, res, 0, &body)) goto out;
  if (!json_is_object(body)) {
    api_error(res, ERR_INVALID, "the body must be a JSON object", NULL);
    goto out;
  }
  json_t *name = json_object_get(body, "name");
  if (name && !json_is_null(name)) {
    const char *nm = json_string_value(name);
    if (!nm || strlen(nm) > NAME_MAX_LEN) {
      api_error(res, ERR_INVALID, "name must be a string of at most 255 bytes", "name");
      goto out;
    }
    snprintf(c.name, sizeof(c.name), "%s", nm);
  }
  json_t *pol = json_object_get(body, "playback_policy");
  const char *policy = default_policy(ctx, s.id);
  if (pol && !json_is_null(pol)) {
    policy = json_string_value(pol);
    if (!policy || (strcmp(policy, "public") != 0 && strcmp(policy, "authenticated") != 0)) {
      api_error(res, ERR_INVALID, "playback_policy must be public or authenticated",
                "playback_policy");
      goto out;
    }
  }
  snprintf(c.playback_policy, sizeof(c.playback_policy), "%s", policy);
  json_t *jstart = json_object_get(body, "start_time"), *jend = json_object_get(body, "end_time"),
         *jdur = json_object_get(body, "duration");
  if (!jstart || json_is_null(jstart)) {
    api_error(res, ERR_INVALID,
              "start_time is required: seconds (e.g. -30 for the last 30 s) or an RFC 3339 "
              "timestamp",
              "start_time");
    goto out;
  }
  if (jend && !json_is_null(jend) && jdur && !json_is_null(jdur)) {
    api_error(res, ERR_INVALID, "give end_time or duration, not both", "duration");
    goto out;
  }
  unsigned window_s = clip_window_seconds(clip_service_window(ctx->clips));
  double dur_s = 0;
  if (jdur && !json_is_null(jdur)) {
    if (!json_is_number(jdur) || (dur_s = json_number_value(jdur)) <= 0 ||
        dur_s > (double)window_s) {
      snprintf(msg, sizeof(msg), "duration must be a number of seconds above 0 and at most %u "
               "(the clip window)", window_s);
      api_error(res, ERR_INVALID, msg, "duration");
      goto out;
    }
  }
  int arc = clip_service_available(ctx->clips, project, s.id, &av);
  if (arc && arc != ERR_NOT_FOUND) {
    api_error(res, arc, NULL, NULL);
    goto out;
  }
  int have_span = arc == 0;
  const clip_span_t *sp = have_span ? &av.span : NULL;
  int64_t start_ms = 0, end_ms = 0;
  if (parse_time(jstart, "start_time", sp, res, &start_ms) < 0) goto out;
  int has_end = parse_time(jend, "end_time", sp, res, &end_ms);
  if (has_end < 0) goto out;
  if (!has_end) {
    if (dur_s > 0) {
      end_ms = start_ms + (int64_t)(dur_s * 1000.0 + 0.5);
    } else if (have_span) {
      end_ms = av.span.last_ms; /* up to the live edge */
    } else {
      api_error(res, ERR_CONFLICT, NO_MEDIA_YET, NULL);
      goto out;
    }
  }
  if (end_ms <= start_ms) {
    api_error(res, ERR_INVALID, "end_time must be after start_time", has_end ? "end_time" : "start_time");
    goto out;
  }
  if (end_ms - start_ms > (int64_t)window_s * 1000) {
    snprintf(msg, sizeof(msg), "a clip is at most %u seconds long (the clip window)", window_s);
    api_error(res, ERR_INVALID, msg, has_end ? "end_time" : dur_s > 0 ? "duration" : "start_time");
    goto out;
  }
  if (!have_span) {
    api_error(res, ERR_CONFLICT,
              "the clip window of this stream holds no media (nothing was pushed in the last "
              "clip_window_s seconds) and no recording of it is readable here",
              NULL);
    goto out;
  }
  if (!avail_covers(&av, start_ms, end_ms)) {
    char w[1000], a[40], b[40];
    avail_text(&av, w, sizeof(w));
    snprintf(msg, sizeof(msg), "the range %s to %s is outside the window and the recordings: %s",
             clip_time_format(start_ms, a, sizeof(a)), clip_time_format(end_ms, b, sizeof(b)), w);
    api_error(res, ERR_CONFLICT, msg, start_ms < av.span.first_ms ? "start_time" : "end_time");
    goto out;
  }
  int rc = util_uuid4(c.id);
  memcpy(c.project_id, project, sizeof(c.project_id));
  memcpy(c.stream_id, s.id, sizeof(c.stream_id));
  c.status = STORE_CLIP_PROCESSING;
  c.start_ms = start_ms;
  c.end_ms = end_ms;
  c.created_at = c.updated_at = util_now();
  if (!rc) rc = store_clip_insert(ctx->store, &c);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    goto out;
  }
  rc = clip_service_start(ctx->clips, &c);
  if (rc) {
    /* The window changed between the check and now (it cannot on one
     * thread, but a gap inside the range can leave nothing to cut). */
    store_clip_delete(ctx->store, project, c.id);
    api_error(res, rc == ERR_CONFLICT ? ERR_CONFLICT : rc,
              rc == ERR_CONFLICT ? "neither the window nor a recording holds media inside this range"
                                 : NULL,
              NULL);
    goto out;
  }
  log_info("clip_created id=%s stream=%s project=%s start_ms=%" PRId64 " end_ms=%" PRId64, c.id,
           s.id, project, c.start_ms, c.end_ms);
  clip_respond(ctx, res, 202, &c);
out:
  clip_avail_free(&av);
  json_decref(body);
  store_stream_clear(&s);
}

static void clip_list(void *ud, http_request_t *req, http_response_t *res,
                      const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  long limit, offset, total = 0;
  int by_duration, desc;
  if (api_parse_paging(req, res, CLIPS_DEFAULT_LIMIT, CLIPS_MAX_LIMIT, &limit, &offset) ||
      api_parse_sort(req, res, &by_duration, &desc))
    return;
  store_stream_t s;
  if (api_stream_load(ctx, project, router_param(p, "id"), res, &s)) return;
  store_clip_t *list = NULL;
  size_t n = 0;
  int rc = store_clip_list(ctx->store, project, s.id,
                           by_duration ? STORE_CLIP_SORT_DURATION : STORE_CLIP_SORT_CREATED_AT,
                           desc, limit, offset, &list, &n, &total);
  store_stream_clear(&s);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, clip_render(ctx, &list[i]));
  free(list);
  api_respond_page(res, "clips", arr, total, limit, offset, by_duration, desc);
}

static int clip_load(api_ctx_t *ctx, const char *project, const router_params_t *p,
                     http_response_t *res, store_clip_t *c) {
  int rc = store_clip_get(ctx->store, project, router_param(p, "id"), c);
  if (rc == ERR_NOT_FOUND)
    api_error(res, ERR_NOT_FOUND, "no clip with this id", NULL);
  else if (rc)
    api_error(res, rc, NULL, NULL);
  return rc;
}

static void clip_get(void *ud, http_request_t *req, http_response_t *res,
                     const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  store_clip_t c;
  if (api_auth(ctx, req, res, project) || clip_load(ctx, project, p, res, &c)) return;
  clip_respond(ctx, res, 200, &c);
}

static void clip_delete(void *ud, http_request_t *req, http_response_t *res,
                        const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  store_clip_t c;
  if (api_auth(ctx, req, res, project) || !clips_available(ctx, res) ||
      clip_load(ctx, project, p, res, &c))
    return;
  int rc = store_clip_delete(ctx->store, project, c.id);
  if (rc) {
    api_error(res, rc, rc == ERR_NOT_FOUND ? "no clip with this id" : NULL, NULL);
    return;
  }
  clip_service_remove(ctx->clips, c.id);
  log_info("clip_deleted id=%s stream=%s project=%s", c.id, c.stream_id, project);
  api_deleted(res);
}

static void clip_file(void *ud, http_request_t *req, http_response_t *res,
                      const router_params_t *p) {
  api_ctx_t *ctx = ud;
  if (!clips_available(ctx, res)) return;
  store_clip_t c;
  int rc = store_clip_get(ctx->store, NULL, router_param(p, "id"), &c);
  if (rc) {
    api_error(res, rc, rc == ERR_NOT_FOUND ? "no such clip" : NULL, NULL);
    return;
  }
  if (c.status != STORE_CLIP_READY) {
    api_error(res, c.status == STORE_CLIP_FAILED ? ERR_NOT_FOUND : ERR_CONFLICT,
              c.status == STORE_CLIP_FAILED ? "the clip failed; it has no media"
                                            : "the clip is still processing; poll GET /v1/clips/{id}",
              NULL);
    return;
  }
  char token[4200];
  int has_token = api_query_param(req, "auth", token, sizeof(token));
  if (strcmp(c.playback_policy, "public") != 0) {
    rc = has_token ? signing_verify_playback(ctx->store, c.project_id, c.id, token, util_now())
                   : ERR_UNAUTHORIZED;
    if (rc) {
      api_error(res, rc == ERR_FORBIDDEN ? ERR_FORBIDDEN : ERR_UNAUTHORIZED,
                has_token ? "the playback token is invalid, expired or for another clip"
                          : "this clip needs a signed token (sub = the clip id) in the auth query "
                            "parameter",
                "auth");
      return;
    }
  }
  char dir[1100];
  clip_service_dir(ctx->clips, c.id, dir, sizeof(dir));
  api_vod_serve(req, res, dir, router_param(p, "file"), token);
}

/* A clip is ready: webhooks and callbacks hear "clip.ready" with the clip
 * object (there is no event for a failure yet). */
static void on_clip_finished(void *ud, const store_clip_t *c) {
  api_ctx_t *ctx = ud;
  if (c->status == STORE_CLIP_READY)
    events_emit("clip.ready", c->project_id, c->stream_id, clip_render(ctx, c));
}

int api_clips_register(router_t *r, api_ctx_t *ctx) {
  if (ctx->clips) {
    clip_service_on_finish(ctx->clips, on_clip_finished, ctx);
    clip_service_use_recordings(ctx->clips, ctx->cfg);
  }
  int rc = router_add(r, "POST", "/v1/live-streams/{id}/clips", clip_create, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/live-streams/{id}/clips", clip_list, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/clips/{id}", clip_get, ctx);
  if (!rc) rc = router_add(r, "DELETE", "/v1/clips/{id}", clip_delete, ctx);
  if (!rc) rc = router_add(r, "GET", "/vod/clips/{id}/{file}", clip_file, ctx);
  return rc;
}
