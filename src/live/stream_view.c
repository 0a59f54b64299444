/* The stream object of seed 003, rendered from the store (shared by the API
 * and by event deliveries). */
#include "live/stream_view.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/stream_params.h"
#include "core/util.h"
#include "live/lifecycle.h"
#include "media/record/recorder.h" /* recording */
#include "store/recordings.h"      /* recording */

/* simulcast: per-target state hook (see stream_view.h). */
static stream_view_target_state_fn target_state_fn;
static void *target_state_ud;

void stream_view_set_target_state(stream_view_target_state_fn fn, void *ud) {
  target_state_fn = fn;
  target_state_ud = ud;
}

void stream_view_http_base(const config_t *cfg, const char *domain, char *out, size_t outlen) {
  const char *scheme = cfg->public_https ? "https" : "http";
  /* Behind a TLS proxy the listener's own port is the proxy's upstream,
   * not what clients reach: they reach the proxy on 443. */
  int default_port = cfg->public_https || cfg->http_port == 80;
  if (domain && *domain)
    snprintf(out, outlen, "%s://%s", scheme, domain);
  else if (default_port)
    snprintf(out, outlen, "%s://%s", scheme, cfg->public_host);
  else
    snprintf(out, outlen, "%s://%s:%d", scheme, cfg->public_host, cfg->http_port);
}

json_t *stream_view_render(store_t *st, const config_t *cfg, const store_stream_t *s) {
  char ts[32], url[600], base[400];
  json_error_t jerr;
  json_t *params = s->params_json ? json_loads(s->params_json, 0, &jerr) : NULL;
  if (!params) params = stream_params_defaults();
  json_t *pub = stream_params_public(params);
  json_decref(params);

  json_t *obj = json_object();
  json_object_set_new(obj, "id", json_string(s->id));
  json_object_set_new(obj, "name", s->name ? json_string(s->name) : json_null());

  json_t *urls = json_object();
  snprintf(url, sizeof(url), "rtmp://%s:%d/live", cfg->public_host, cfg->rtmp_port);
  json_object_set_new(urls, "rtmp", json_string(url));
  if (cfg->rtmps_port > 0) {
    snprintf(url, sizeof(url), "rtmps://%s:%d/live", cfg->public_host, cfg->rtmps_port);
    json_object_set_new(urls, "rtmps", json_string(url));
  }
  if (cfg->srt_port > 0) { /* seed 003: srt://HOST:PORT?streamid=KEY */
    snprintf(url, sizeof(url), "srt://%s:%d?streamid=%s", cfg->public_host, cfg->srt_port,
             s->stream_key);
    json_object_set_new(urls, "srt", json_string(url));
  }
  json_object_set_new(obj, "server_urls", urls);
  json_object_set_new(obj, "stream_key", json_string(s->stream_key));

  stream_view_http_base(cfg, s->playback_domain, base, sizeof(base));
  json_t *pids = json_array();
  store_playback_t *pl = NULL;
  size_t n = 0;
  if (store_playback_list(st, s->id, &pl, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      snprintf(url, sizeof(url), "%s/hls/%s/index.m3u8", base, pl[i].id);
      json_array_append_new(pids, json_pack("{s:s, s:s, s:s, s:s}", "id", pl[i].id, "policy",
                                            pl[i].policy, "created",
                                            util_format_time(pl[i].created_at, ts, sizeof(ts)),
                                            "playback_url", url));
    }
    free(pl);
  }
  json_object_set_new(obj, "playback_ids", pids);

  json_t *targets = json_array();
  store_simulcast_t *tl = NULL;
  if (store_simulcast_list(st, s->id, &tl, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      json_t *tj = json_pack("{s:s, s:s, s:s}", "id", tl[i].id, "url", tl[i].url,
                             "stream_key", tl[i].stream_key);
      /* simulcast: state of the pusher, idle when none runs */
      json_t *state = target_state_fn ? target_state_fn(target_state_ud, s->id, tl[i].id) : NULL;
      if (!state)
        state = json_pack("{s:s, s:n, s:s}", "name", "idle", "reason", "since",
                          util_format_time(tl[i].created_at, ts, sizeof(ts)));
      json_object_set_new(tj, "status", state);
      json_array_append_new(targets, tj);
      store_simulcast_clear(&tl[i]);
    }
    free(tl);
  }
  json_object_set_new(obj, "simulcast_targets", targets);

  json_object_set_new(obj, "status",
                      json_pack("{s:s, s:s}", "name", lifecycle_status_name(s->status),
                                "timestamp", util_format_time(s->status_ts, ts, sizeof(ts))));
  if (lifecycle_has_origin(s->status)) {
    json_object_set_new(obj, "origin_host", json_string(cfg->public_host));
    snprintf(url, sizeof(url), "rtmp://%s:%d/live", cfg->public_host, cfg->rtmp_port);
    json_object_set_new(obj, "origin_url", json_string(url));
  }
  json_object_set_new(obj, "playback_domain",
                      s->playback_domain && *s->playback_domain ? json_string(s->playback_domain)
                                                                : json_null());
  json_object_set_new(obj, "created_at",
                      json_string(util_format_time(s->created_at, ts, sizeof(ts))));
  json_object_set_new(obj, "params", pub);
  /* recording (seed 002): the newest recording of the stream is attached
   * to it — once the stream ends, its VOD. null when it has none. */
  store_recording_t latest;
  json_t *rec = NULL;
  if (store_recording_latest(st, s->project_id, s->id, &latest) == 0) {
    rec = recorder_render(cfg, &latest);
    store_recording_clear(&latest);
  }
  json_object_set_new(obj, "recording", rec ? rec : json_null());
  /* end recording */
  return obj;
}

