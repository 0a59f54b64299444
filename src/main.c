/* onair — command line: serve, apikey, routes, migrate, version. */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "api/api.h"
#include "api/playback_cache.h"
#include "auth/signing.h"
#include "auth/token_cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/tls.h"
#include "core/util.h"
#include "events/webhooks.h"
#include "http/gzip.h"
#include "http/http.h"
#include "http/router.h"
#include "live/health.h"  /* health */
#include "live/live.h"
#include "live/metrics.h" /* health */
#include "media/avlog.h"
#include "media/rtmp/server.h"
#include "media/srt/srt_server.h"
#include "media/simulcast/simulcast.h"
#include "media/transcode/transcode.h" /* transcode */
#include "media/record/recorder.h" /* recording */
#include "media/clip/clip.h" /* clips */
#include "store/store.h"
#include "upload/upload_cli.h" /* upload */
#include "upload/uploader.h"   /* upload */

#define ONAIR_VERSION "0.1.0"

static const char usage_main[] =
    "onair " ONAIR_VERSION " — self-hosted live video: REST API, RTMP ingest, HLS playback\n"
    "\n"
    "usage: onair <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     run the server (API + ingest + playback)\n"
    "  apikey    create, list or revoke project API keys\n"
    "  migrate   create or upgrade the database in the data dir, then exit\n"
    "  routes    print every HTTP route as METHOD PATTERN\n"
    "  token     sign a playback token for an authenticated playback ID\n"
    "  upload    upload a file to a recording destination (s3, azblob, ftp, sftp, file)\n"
    "  version   print the version\n"
    "\n"
    "Run 'onair <command> --help' for the options of a command.\n";

static const char usage_serve[] =
    "usage: onair serve [--config FILE] [--SETTING VALUE]...\n"
    "\n"
    "Settings, lowest to highest precedence: defaults, the JSON config file\n"
    "(--config FILE or ONAIR_CONFIG), ONAIR_<SETTING> environment variables, flags.\n"
    "Each setting is one name everywhere: \"hls_window\" = --hls-window = ONAIR_HLS_WINDOW.\n"
    "README.md describes every setting and its default. The most used:\n"
    "  --data DIR            database, secrets, media on disk (./data)\n"
    "  --http HOST:PORT      API and HLS playback (127.0.0.1:8080)\n"
    "  --rtmp HOST:PORT      RTMP ingest (0.0.0.0:1935)\n"
    "  --rtmps HOST:PORT     RTMPS ingest (off; self-signed cert in DATA/tls/ unless --tls-cert)\n"
    "  --srt HOST:PORT       SRT ingest (off)\n"
    "  --public-host NAME    host name put in server_urls and playback_url (localhost)\n"
    "  --public-scheme S     http, or https behind a TLS proxy: scheme of playback_url (http)\n"
    "\n"
    "On first start with no API key in the data dir, one is created and printed.\n"
    "\n"
    "all settings:\n";

static const char usage_apikey[] =
    "usage: onair apikey create [--data DIR] [--name NAME]   print a new key (last line)\n"
    "       onair apikey list   [--data DIR]                 id, name, prefix, created, state\n"
    "       onair apikey revoke ID [--data DIR]              revoke a key and its tokens\n"
    "\n"
    "--data defaults to ONAIR_DATA or ./data. Safe while the server runs.\n";

static int wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* Reads "--name VALUE" or "--name=VALUE" at argv[*i]; returns the value or
 * NULL if argv[*i] is not that flag. Advances *i past a separate value. */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "onair: %s needs a value\n", name);
    exit(2);
  }
  return argv[++*i];
}

/* --- serve --- */

typedef struct {
  uv_loop_t *loop;
  http_server_t *http;
  rtmp_server_t *rtmp;
  rtmp_server_t *rtmps; /* NULL unless --rtmps */
  srt_server_t *srt;     /* NULL unless --srt */
  SSL_CTX *tls;
  live_t *live;
  simulcast_t *simulcast; /* simulcast: restreaming to targets */
  health_t *health;       /* health: ingest health sampler */
  transcode_t *transcode; /* transcode: the ABR ladder */
  clip_window_t *clip_window; /* clips: rolling live window on disk */
  clip_service_t *clips;      /* clips: the clip maker */
  uploader_t *uploader;   /* upload: ships recordings to dvr destinations */
  recorder_t *recorder;   /* recording: DVR */
  int open_parts; /* listeners still shutting down */
  int signals_on;
  uv_signal_t sigterm, sigint;
  int stopping;
} server_t;

/* Runs once per listener (HTTP, RTMP, RTMPS) when it has closed everything. */
static void on_part_closed(void *arg) {
  server_t *srv = arg;
  if (--srv->open_parts > 0) return;
  simulcast_stop(srv->simulcast); /* simulcast: pushers end before the hubs go */
  recorder_free(srv->recorder); /* recording: takes no more segments; open ones recover at start */
  srv->recorder = NULL;
  live_free(srv->live); /* ends playlists, closes timers */
  srv->live = NULL;
  health_free(srv->health); /* health: after live_free, which still calls its observer */
  srv->health = NULL;
  clip_window_stop(srv->clip_window); /* clips: its sweep timer; queued writes still finish */
  clip_service_stop(srv->clips);      /* clips: those waiting their turn are made after a restart */
  uploader_free(srv->uploader); /* upload: after live_free (its recorders enqueue) */
  srv->uploader = NULL;
  if (srv->signals_on) {
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
  }
}

/* Closes whatever listeners exist; the loop then runs out of handles. */
static void server_begin_shutdown(server_t *srv) {
  if (srv->stopping) return;
  srv->stopping = 1;
  srv->open_parts = 1; /* held until every close has been started */
  if (srv->rtmp) srv->open_parts++, rtmp_server_close(srv->rtmp, on_part_closed, srv);
  if (srv->rtmps) srv->open_parts++, rtmp_server_close(srv->rtmps, on_part_closed, srv);
  if (srv->srt) srv->open_parts++, srt_server_close(srv->srt, on_part_closed, srv);
  if (srv->http) srv->open_parts++, http_server_shutdown(srv->http, 5000, on_part_closed, srv);
  on_part_closed(srv);
}

static void on_signal(uv_signal_t *h, int signum) {
  log_info("shutdown signal=%d", signum);
  server_begin_shutdown(h->data);
}

static void on_http_request(void *ud, http_request_t *req, http_response_t *res) {
  router_dispatch(ud, req, res);
}

/* health: every dispatched request feeds the /metrics HTTP families. */
static void on_route_observed(void *ud, const router_event_t *ev) {
  (void)ud;
  metrics_http_observe(ev->method, ev->pattern, ev->status, ev->bytes, ev->seconds);
}

/* The HS256 key of access tokens: 32 random bytes in DATA/secret.key, made
 * on first start so that tokens survive restarts. */
static int load_token_secret(const char *data_dir, unsigned char out[32]) {
  char path[1200], *text = NULL;
  snprintf(path, sizeof(path), "%s/secret.key", data_dir);
  int rc = util_read_file(path, &text, NULL);
  if (rc == ERR_NOT_FOUND) {
    char hex[65];
    if (util_random_bytes(out, 32)) return ERR_INTERNAL;
    util_hex(out, 32, hex);
    hex[64] = '\n';
    return util_write_file_atomic(path, hex, 65, 0600);
  }
  if (rc) return rc;
  rc = ERR_INVALID;
  if (strlen(text) >= 64) {
    rc = 0;
    for (int i = 0; i < 32 && rc == 0; i++) {
      unsigned v;
      if (sscanf(text + 2 * i, "%2x", &v) != 1) rc = ERR_INVALID;
      out[i] = (unsigned char)v;
    }
  }
  free(text);
  if (rc) log_error("bad_secret_file path=%s", path);
  return rc;
}

static int parse_serve_flags(int argc, char **argv, config_t *cfg) {
  char err[300];
  const char *config_file = getenv("ONAIR_CONFIG");
  for (int i = 0; i < argc; i++) {
    const char *v = flag_value(argc, argv, &i, "--config");
    if (v) config_file = v;
  }
  config_defaults(cfg);
  if (config_file && config_load_file(cfg, config_file, err, sizeof(err))) goto bad;
  if (config_load_env(cfg, err, sizeof(err))) goto bad;
  for (int i = 0; i < argc; i++) {
    const char *v;
    if (flag_value(argc, argv, &i, "--config")) continue;
    int matched = 0;
    for (const char *const *k = config_keys(); *k; k++) {
      char flag[64] = "--";
      size_t o = 2;
      for (const char *c = *k; *c && o < sizeof(flag) - 1; c++) flag[o++] = *c == '_' ? '-' : *c;
      flag[o] = '\0';
      if ((v = flag_value(argc, argv, &i, flag)) != NULL) {
        if (config_set(cfg, *k, v, err, sizeof(err))) goto bad;
        matched = 1;
        break;
      }
    }
    if (!matched) {
      snprintf(err, sizeof(err), "unknown option '%s' (see onair serve --help)", argv[i]);
      goto bad;
    }
  }
  return 0;
bad:
  fprintf(stderr, "onair: %s\n", err);
  return 2;
}

/* Every connection, and every served live segment (a memfd while it is in
 * the ring), is a file descriptor: the usual soft limit of 1024 would run
 * out with a few dozen watched streams. Raised to the hard limit, as nginx's
 * worker_rlimit_nofile or Go's runtime do. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
    log_debug("fd_limit raised from=%llu to=%llu", (unsigned long long)was,
              (unsigned long long)rl.rlim_cur);
}

static int cmd_serve(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(usage_serve, stdout);
    for (const char *const *k = config_keys(); *k; k++) {
      char flag[64] = "--", env[64] = "ONAIR_";
      for (size_t i = 0; (*k)[i] && i < 60; i++) {
        flag[2 + i] = (*k)[i] == '_' ? '-' : (*k)[i];
        flag[3 + i] = '\0';
        env[6 + i] = (char)toupper((unsigned char)(*k)[i]);
        env[7 + i] = '\0';
      }
      printf("  %-26s %s\n", flag, env);
    }
    return 0;
  }
  config_t cfg;
  if (parse_serve_flags(argc, argv, &cfg)) return 2;
  log_set_level((log_level_t)cfg.log_level);
  media_avlog_install(); /* libav's messages as log lines (media/avlog.h) */
  signal(SIGPIPE, SIG_IGN);
  /* Segments are large and short-lived: keep glibc from mapping and
   * unmapping them on every cut (measured: the main source of cut-time
   * latency spikes in the HLS packager). */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  raise_fd_limit();

  store_t *store = NULL, *telemetry = NULL;
  int rc = util_mkdirs(cfg.data_dir);
  if (!rc) rc = store_open(cfg.data_dir, &store);
  if (rc) {
    fprintf(stderr, "onair: cannot open the data dir %s: %s\n", cfg.data_dir, err_str(rc));
    return 1;
  }
  api_ctx_t api = {.store = store, .cfg = &cfg};
  if (load_token_secret(cfg.data_dir, api.token_secret)) {
    fprintf(stderr, "onair: cannot read or create %s/secret.key\n", cfg.data_dir);
    store_close(store);
    return 1;
  }
  store_apikey_t *keys = NULL;
  size_t nkeys = 0;
  if (store_apikey_list(store, &keys, &nkeys) == 0 && nkeys == 0) {
    store_apikey_t k;
    char key[64];
    if (store_apikey_create(store, "default", &k, key) == 0) {
      printf("onair: created the first API key (shown once, keep it):\n%s\n", key);
      fflush(stdout);
    }
  }
  free(keys);
  api.create_limit = ratelimit_new(cfg.create_rate_limit, cfg.create_rate_limit, 4096);

  router_t *router = router_new();
  server_t srv = {.loop = uv_default_loop()};
  int exit_code = 1;
  webhooks_t *webhooks = NULL; /* webhooks */
  /* upload: made before the modules that listen to it (recorder, clips);
   * started once they have registered, before live_recover(). */
  uploader_opts_t upopts = {.retry_base_ms = cfg.upload_retry_base_ms,
                            .max_attempts = cfg.upload_max_attempts,
                            .workers = cfg.upload_workers,
                            .sftp_host_keys = cfg.upload_sftp_strict ? UPLOADER_SFTP_STRICT
                                                                     : UPLOADER_SFTP_ACCEPT_NEW,
                            .data_dir = cfg.data_dir,
                            .ca_file = cfg.upload_ca_file,
                            .deny_private = !cfg.upload_allow_private,
                            .part_mib = cfg.upload_part_mib};
  srv.uploader = api.uploader = uploader_new(srv.loop, store, &upopts);
  if (!srv.uploader) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  /* end upload */
  live_opts_t lopts = {.hls_target_ms = cfg.hls_segment_ms,
                       .hls_window = cfg.hls_window,
                       .hls_fmp4_on_demand = cfg.hls_fmp4_on_demand,
                       .hls_part_ms = cfg.hls_part_ms};
  srv.live = api.live = live_new(srv.loop, store, &lopts);
  /* simulcast */
  simulcast_opts_t scopts = {.tls_verify = cfg.simulcast_tls_verify};
  srv.simulcast = api.simulcast = srv.live ? simulcast_new(srv.loop, srv.live, store, &scopts) : NULL;
  if (!srv.simulcast) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  /* end simulcast */
  /* transcode: registered before health so rung drops are counted when it samples */
  transcode_opts_t tcopts = {.preset = cfg.transcode_preset,
                             .threads = (int)cfg.transcode_threads,
                             .max_auto_rungs = cfg.transcode_max_rungs,
                             .queue_frames = cfg.transcode_queue_frames};
  srv.transcode = api.transcode = transcode_new(srv.loop, srv.live, store, &tcopts);
  if (!srv.transcode) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  /* end transcode */
  /* recording: registers with the uploader before it starts */
  srv.recorder = api.recorder = recorder_new(srv.loop, store, srv.live, srv.uploader, &cfg);
  if (!srv.recorder) {
    fprintf(stderr, "onair: cannot start the recorder (data dir not writable?)\n");
    goto shutdown;
  }
  /* end recording */
  /* clips: the rolling window observes every stream; clips are cut from it */
  srv.clip_window = clip_window_new(srv.loop, srv.live, store, cfg.data_dir, cfg.clip_window_s);
  srv.clips = api.clips = srv.clip_window
                              ? clip_service_new(srv.loop, store, srv.clip_window, cfg.data_dir,
                                                 (cfg.hls_segment_ms + 999) / 1000)
                              : NULL;
  if (!srv.clips) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  /* end clips */
  /* health */
  health_opts_t heopts = {.interval_ms = cfg.health_interval_ms,
                          .retention_days = cfg.health_retention_days};
  /* Samples are written through their own handle without fsync per commit,
   * so a busy disk never stalls the loop every health interval. */
  if (store_open(cfg.data_dir, &telemetry) == 0) store_relax_durability(telemetry);
  srv.health = telemetry ? health_new(srv.loop, telemetry, srv.live, &heopts) : NULL;
  if (!srv.health || !router) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  router_set_observer(router, on_route_observed, NULL);
  /* end health */
  http_server_opts_t hopts = {.max_body_bytes = cfg.max_body_bytes,
                              .max_connections = cfg.max_connections};
  if (!srv.live || !api.create_limit || !router || api_register(router, &api) ||
      http_server_new(srv.loop, &hopts, on_http_request, router, &srv.http)) {
    fprintf(stderr, "onair: out of memory at start-up\n");
    goto shutdown;
  }
  /* webhooks: events are queued from here on (recovery's too) */
  if ((rc = webhooks_start(store, &cfg, &webhooks)) != 0) {
    fprintf(stderr, "onair: cannot start webhook delivery: %s\n", err_str(rc));
    goto shutdown;
  }
  if ((rc = uploader_start(srv.uploader)) != 0) { /* upload */
    fprintf(stderr, "onair: cannot start the uploader: %s\n", err_str(rc));
    goto shutdown;
  }
  if (clip_window_start(srv.clip_window) != 0) { /* clips: reload the windows, then */
    fprintf(stderr, "onair: out of memory loading the clip windows\n");
    goto shutdown;
  }
  clip_service_recover(srv.clips); /* clips: finish what a restart interrupted */
  recorder_recover(srv.recorder);  /* recording: finish what a kill -9 interrupted */
  if (live_recover(srv.live)) {
    fprintf(stderr, "onair: cannot recover the running streams from the store\n");
    goto shutdown;
  }
  if ((rc = http_server_listen(srv.http, cfg.http_host, cfg.http_port)) != 0) {
    fprintf(stderr, "onair: cannot listen on http %s:%d: %s\n", cfg.http_host, cfg.http_port,
            err_str(rc));
    goto shutdown;
  }
  rtmp_server_opts_t ropts = {.max_connections = cfg.rtmp_max_connections,
                             .max_per_ip = cfg.rtmp_max_per_ip,
                             .publish_timeout_ms = cfg.rtmp_publish_timeout_ms};
  if (rtmp_server_new(srv.loop, srv.live, &ropts, &srv.rtmp) ||
      rtmp_server_listen(srv.rtmp, cfg.rtmp_host, cfg.rtmp_port) != 0) {
    fprintf(stderr, "onair: cannot listen on rtmp %s:%d\n", cfg.rtmp_host, cfg.rtmp_port);
    goto shutdown;
  }
  if (cfg.rtmps_port > 0) {
    rtmp_server_opts_t tlsopts = ropts;
    if ((rc = tls_server_ctx(cfg.tls_cert, cfg.tls_key, cfg.data_dir, cfg.public_host,
                             &srv.tls)) != 0) {
      fprintf(stderr, "onair: cannot set up TLS for rtmps: %s\n", err_str(rc));
      goto shutdown;
    }
    tlsopts.tls = srv.tls;
    if (rtmp_server_new(srv.loop, srv.live, &tlsopts, &srv.rtmps) ||
        rtmp_server_listen(srv.rtmps, cfg.rtmps_host, cfg.rtmps_port) != 0) {
      fprintf(stderr, "onair: cannot listen on rtmps %s:%d\n", cfg.rtmps_host, cfg.rtmps_port);
      goto shutdown;
    }
  }
  if (cfg.srt_port > 0 &&
      ((rc = srt_server_new(srv.loop, srv.live, cfg.data_dir, NULL, &srv.srt)) != 0 ||
       (rc = srt_server_listen(srv.srt, cfg.srt_host, cfg.srt_port)) != 0)) {
    fprintf(stderr, "onair: cannot listen on srt %s:%d: %s\n", cfg.srt_host, cfg.srt_port,
            err_str(rc));
    goto shutdown;
  }
  uv_signal_init(srv.loop, &srv.sigterm);
  uv_signal_init(srv.loop, &srv.sigint);
  srv.signals_on = 1;
  srv.sigterm.data = srv.sigint.data = &srv;
  uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
  uv_signal_start(&srv.sigint, on_signal, SIGINT);
  log_info("listening http=%s:%d rtmp=%s:%d public_host=%s data=%s version=%s", cfg.http_host,
           http_server_port(srv.http), cfg.rtmp_host, rtmp_server_port(srv.rtmp), cfg.public_host,
           cfg.data_dir, ONAIR_VERSION);
  exit_code = 0;
  uv_run(srv.loop, UV_RUN_DEFAULT);

shutdown:
  /* A failed start-up closes what it opened through the same path as SIGTERM. */
  server_begin_shutdown(&srv);
  uv_run(srv.loop, UV_RUN_DEFAULT);
  if (srv.http) http_server_free(srv.http);
  if (srv.rtmp) rtmp_server_free(srv.rtmp);
  if (srv.rtmps) rtmp_server_free(srv.rtmps);
  if (srv.srt) srt_server_free(srv.srt);
  if (srv.tls) SSL_CTX_free(srv.tls);
  router_free(router);
  ratelimit_free(api.create_limit);
  signing_cache_clear();
  metrics_reset(); /* health */
  webhooks_stop(webhooks); /* webhooks: after the loop, before the store */
  simulcast_free(srv.simulcast); /* simulcast */
  transcode_free(srv.transcode); /* transcode: live_free stopped every session */
  clip_service_free(srv.clips);      /* clips: the loop has drained their jobs */
  clip_window_free(srv.clip_window); /* clips */
  playback_cache_clear();
  gzip_cache_clear(); /* playlists sent gzipped */
  if (telemetry) store_close(telemetry);
  store_close(store);
  uv_loop_close(srv.loop);
  if (exit_code == 0) log_info("stopped");
  return exit_code;
}

/* --- upload --- */

/* onair upload: positional arguments and --resume are the command's; the
 * other flags are settings, parsed as for serve. */
static int cmd_upload(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(upload_cli_usage, stdout);
    return 0;
  }
  char **flags = calloc((size_t)argc + 1, sizeof(char *));
  char **args = calloc((size_t)argc + 1, sizeof(char *));
  int nflags = 0, nargs = 0, resume = 0, rc = 2;
  if (!flags || !args) goto out;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--resume") == 0) {
      resume = 1;
    } else if (strncmp(argv[i], "--", 2) == 0) {
      flags[nflags++] = argv[i];
      if (!strchr(argv[i], '=') && i + 1 < argc) flags[nflags++] = argv[++i];
    } else {
      args[nargs++] = argv[i];
    }
  }
  config_t cfg;
  if ((rc = parse_serve_flags(nflags, flags, &cfg)) == 0) {
    log_set_level((log_level_t)cfg.log_level);
    rc = upload_cli_run(&cfg, resume, nargs, args);
  }
out:
  free(flags);
  free(args);
  return rc;
}

/* --- apikey --- */

static int cmd_apikey(int argc, char **argv) {
  if (argc < 1 || wants_help(argc, argv)) {
    fputs(usage_apikey, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  const char *sub = argv[0];
  const char *data = getenv("ONAIR_DATA") ? getenv("ONAIR_DATA") : "./data";
  const char *name = "default", *id = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = flag_value(argc, argv, &i, "--data")) != NULL)
      data = v;
    else if ((v = flag_value(argc, argv, &i, "--name")) != NULL)
      name = v;
    else if (argv[i][0] != '-' && !id)
      id = argv[i];
    else {
      fprintf(stderr, "onair apikey: unknown option '%s'\n%s", argv[i], usage_apikey);
      return 2;
    }
  }
  if (strlen(name) == 0 || strlen(name) > 100) {
    fprintf(stderr, "onair apikey: --name must be 1 to 100 bytes\n");
    return 2;
  }
  store_t *st;
  int rc = util_mkdirs(data);
  if (!rc) rc = store_open(data, &st);
  if (rc) {
    fprintf(stderr, "onair apikey: cannot open the data dir %s: %s\n", data, err_str(rc));
    return 1;
  }
  if (strcmp(sub, "create") == 0) {
    store_apikey_t k;
    char key[64];
    rc = store_apikey_create(st, name, &k, key);
    if (rc == 0) printf("created API key id=%s name=%s (shown once)\n%s\n", k.id, k.name, key);
  } else if (strcmp(sub, "list") == 0) {
    store_apikey_t *keys;
    size_t n;
    rc = store_apikey_list(st, &keys, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      char ts[32];
      printf("%s  %-20s  %s…  %s  %s\n", keys[i].id, keys[i].name, keys[i].prefix,
             util_format_time(keys[i].created_at, ts, sizeof(ts)),
             keys[i].revoked ? "revoked" : "active");
    }
    if (rc == 0) free(keys);
  } else if (strcmp(sub, "revoke") == 0) {
    if (!id) {
      fprintf(stderr, "onair apikey revoke: which ID?\n");
      rc = ERR_INVALID;
    } else {
      rc = store_apikey_revoke(st, id);
      if (rc == 0) printf("revoked %s\n", id);
    }
  } else {
    fprintf(stderr, "onair apikey: unknown subcommand '%s'\n%s", sub, usage_apikey);
    store_close(st);
    return 2;
  }
  store_close(st);
  if (rc) {
    fprintf(stderr, "onair apikey %s: %s\n", sub, err_str(rc));
    return 1;
  }
  return 0;
}

/* --- routes, migrate --- */

static void print_route(void *arg, const char *method, const char *pattern) {
  (void)arg;
  printf("%s %s\n", method, pattern);
}

static int cmd_routes(void) {
  config_t cfg;
  config_defaults(&cfg);
  api_ctx_t api = {.cfg = &cfg};
  router_t *r = router_new();
  if (!r || api_register(r, &api)) return 1;
  router_foreach(r, print_route, NULL);
  router_free(r);
  return 0;
}

static int cmd_migrate(int argc, char **argv) {
  const char *data = getenv("ONAIR_DATA") ? getenv("ONAIR_DATA") : "./data";
  for (int i = 0; i < argc; i++) {
    const char *v = flag_value(argc, argv, &i, "--data");
    if (v) data = v;
  }
  store_t *st;
  int rc = util_mkdirs(data);
  if (!rc) rc = store_open(data, &st);
  if (rc) {
    fprintf(stderr, "onair migrate: %s\n", err_str(rc));
    return 1;
  }
  printf("schema version %d\n", store_schema_version(st));
  store_close(st);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage_main, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 2, argv + 2);
  if (strcmp(cmd, "apikey") == 0) return cmd_apikey(argc - 2, argv + 2);
  if (strcmp(cmd, "routes") == 0) return cmd_routes();
  if (strcmp(cmd, "token") == 0) return token_cli_main(argc - 2, argv + 2);
  if (strcmp(cmd, "upload") == 0) return cmd_upload(argc - 2, argv + 2); /* upload */
  if (strcmp(cmd, "migrate") == 0) return cmd_migrate(argc - 2, argv + 2);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("onair %s\n", ONAIR_VERSION);
    return 0;
  }
  fprintf(stderr, "onair: unknown command '%s'\n\n%s", cmd, usage_main);
  return 2;
}
