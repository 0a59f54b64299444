#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static const char *const keys[] = {
    "data", "http", "rtmp", "rtmps", "tls_cert", "tls_key", "srt", "public_host", "public_scheme",
    "log_level",
    "create_rate_limit", "max_body_bytes", "max_connections", "rtmp_max_connections",
    "rtmp_max_per_ip", "rtmp_publish_timeout_ms", "hls_segment_ms", "hls_window",
    "hls_fmp4_on_demand", "hls_part_ms", "access_token_ttl",
    "webhooks_allow_private", "webhook_retry_base_ms", "metrics_token", "health_interval_ms",
    "health_retention_days", "simulcast_tls_verify",
    "upload_workers", "upload_retry_base_ms", "upload_max_attempts", /* upload */
    "upload_sftp_host_keys", "upload_ca_file", "upload_allow_private", /* upload */
    "upload_part_mib", /* upload */
    "transcode_preset", "transcode_threads", "transcode_max_rungs", /* transcode */
    "transcode_queue_frames", /* transcode */
    "clip_window_s", /* clips */
    NULL};

const char *const *config_keys(void) { return keys; }

void config_defaults(config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
  snprintf(cfg->http_host, sizeof(cfg->http_host), "127.0.0.1");
  cfg->http_port = 8080;
  snprintf(cfg->rtmp_host, sizeof(cfg->rtmp_host), "0.0.0.0");
  cfg->rtmp_port = 1935;
  snprintf(cfg->rtmps_host, sizeof(cfg->rtmps_host), "0.0.0.0");
  cfg->rtmps_port = 0;
  snprintf(cfg->srt_host, sizeof(cfg->srt_host), "0.0.0.0");
  cfg->srt_port = 0;
  snprintf(cfg->public_host, sizeof(cfg->public_host), "localhost");
  cfg->log_level = LOG_INFO;
  cfg->create_rate_limit = 10;
  cfg->max_body_bytes = 1024 * 1024;
  cfg->max_connections = 10000;
  cfg->access_token_ttl = 24 * 3600;
  cfg->hls_segment_ms = 2000;
  cfg->hls_window = 6;
  cfg->webhook_retry_base_ms = 5000; /* webhooks */
  cfg->health_interval_ms = 5000;  /* health */
  cfg->health_retention_days = 30; /* health */
  cfg->simulcast_tls_verify = 1;     /* simulcast */
  cfg->upload_workers = 2;            /* upload */
  cfg->upload_retry_base_ms = 5000;   /* upload */
  cfg->upload_max_attempts = 8;       /* upload */
  cfg->upload_allow_private = 1;      /* upload: a local MinIO / NAS is the common case */
  cfg->upload_part_mib = 64;          /* upload */
  snprintf(cfg->transcode_preset, sizeof(cfg->transcode_preset), "veryfast"); /* transcode */
  cfg->transcode_max_rungs = 3; /* transcode */
  cfg->transcode_queue_frames = 30; /* transcode */
  cfg->rtmp_max_connections = 1000;
  cfg->rtmp_max_per_ip = 50;
  cfg->rtmp_publish_timeout_ms = 30000;
  cfg->clip_window_s = 1800; /* clips */
}

static int parse_uint(const char *value, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  if (!isdigit((unsigned char)value[0])) return ERR_INVALID;
  unsigned long v = strtoul(value, &end, 10);
  if (errno || *end || v > max) return ERR_INVALID;
  *out = v;
  return 0;
}

/* "0" or "1", nothing else. */
static int parse_flag(const char *value, int *out) {
  if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) return ERR_INVALID;
  *out = value[0] == '1';
  return 0;
}

static int valid_host_name(const char *s) {
  if (!*s || strlen(s) > 253) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("-.:[]", *s)) return 0;
  return 1;
}

int config_set(config_t *cfg, const char *key, const char *value, char *err, size_t errlen) {
  unsigned long n;
  if (strcmp(key, "data") == 0) {
    if (!*value || strlen(value) >= sizeof(cfg->data_dir)) goto bad;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", value);
  } else if (strcmp(key, "http") == 0) {
    if (util_parse_hostport(value, cfg->http_host, sizeof(cfg->http_host), &cfg->http_port)) goto bad;
  } else if (strcmp(key, "rtmp") == 0) {
    if (util_parse_hostport(value, cfg->rtmp_host, sizeof(cfg->rtmp_host), &cfg->rtmp_port)) goto bad;
  } else if (strcmp(key, "rtmps") == 0) {
    if (util_parse_hostport(value, cfg->rtmps_host, sizeof(cfg->rtmps_host), &cfg->rtmps_port))
      goto bad;
  } else if (strcmp(key, "tls_cert") == 0 || strcmp(key, "tls_key") == 0) {
    char *dst = key[4] == 'c' ? cfg->tls_cert : cfg->tls_key;
    if (strlen(value) >= sizeof(cfg->tls_cert)) goto bad;
    snprintf(dst, sizeof(cfg->tls_cert), "%s", value);
  } else if (strcmp(key, "srt") == 0) {
    if (util_parse_hostport(value, cfg->srt_host, sizeof(cfg->srt_host), &cfg->srt_port)) goto bad;
  } else if (strcmp(key, "public_host") == 0) {
    if (!valid_host_name(value)) goto bad;
    snprintf(cfg->public_host, sizeof(cfg->public_host), "%s", value);
  } else if (strcmp(key, "public_scheme") == 0) {
    /* The listener speaks plain HTTP; "https" describes a TLS proxy in front. */
    if (strcmp(value, "http") != 0 && strcmp(value, "https") != 0) goto bad;
    cfg->public_https = strcmp(value, "https") == 0;
  } else if (strcmp(key, "log_level") == 0) {
    int l = log_level_parse(value);
    if (l < 0) goto bad;
    cfg->log_level = l;
  } else if (strcmp(key, "create_rate_limit") == 0) {
    if (parse_uint(value, 1000000, &n) || n == 0) goto bad;
    cfg->create_rate_limit = (unsigned)n;
  } else if (strcmp(key, "max_body_bytes") == 0) {
    if (parse_uint(value, 1024ul * 1024 * 1024, &n) || n < 1024) goto bad;
    cfg->max_body_bytes = n;
  } else if (strcmp(key, "max_connections") == 0) {
    if (parse_uint(value, 1000000, &n) || n == 0) goto bad;
    cfg->max_connections = (unsigned)n;
  } else if (strcmp(key, "access_token_ttl") == 0) {
    if (parse_uint(value, 30u * 24 * 3600, &n) || n == 0) goto bad;
    cfg->access_token_ttl = (unsigned)n;
  } else if (strcmp(key, "hls_segment_ms") == 0) {
    if (parse_uint(value, 60000, &n) || n < 100) goto bad;
    cfg->hls_segment_ms = (unsigned)n;
  } else if (strcmp(key, "hls_window") == 0) {
    if (parse_uint(value, 100, &n) || n < 2) goto bad;
    cfg->hls_window = (unsigned)n;
  } else if (strcmp(key, "hls_part_ms") == 0) {
    if (parse_uint(value, 60000, &n) || (n && n < 200)) goto bad;
    cfg->hls_part_ms = (unsigned)n;
  } else if (strcmp(key, "hls_fmp4_on_demand") == 0) {
    if (parse_flag(value, &cfg->hls_fmp4_on_demand)) goto bad;
  } else if (strcmp(key, "metrics_token") == 0) { /* health */
    if (strlen(value) >= sizeof(cfg->metrics_token)) goto bad;
    snprintf(cfg->metrics_token, sizeof(cfg->metrics_token), "%s", value);
  } else if (strcmp(key, "health_interval_ms") == 0) { /* health */
    if (parse_uint(value, 3600000, &n) || n < 200) goto bad;
    cfg->health_interval_ms = (unsigned)n;
  } else if (strcmp(key, "health_retention_days") == 0) { /* health */
    if (parse_uint(value, 3650, &n) || n < 1) goto bad;
    cfg->health_retention_days = (unsigned)n;
  } else if (strcmp(key, "webhooks_allow_private") == 0) { /* webhooks */
    if (parse_flag(value, &cfg->webhooks_allow_private)) goto bad;
  } else if (strcmp(key, "webhook_retry_base_ms") == 0) { /* webhooks */
    if (parse_uint(value, 3600000, &n) || n < 10) goto bad;
    cfg->webhook_retry_base_ms = (unsigned)n;
  } else if (strcmp(key, "rtmp_max_connections") == 0) {
    if (parse_uint(value, 1000000, &n) || n == 0) goto bad;
    cfg->rtmp_max_connections = (unsigned)n;
  } else if (strcmp(key, "rtmp_max_per_ip") == 0) {
    if (parse_uint(value, 1000000, &n) || n == 0) goto bad;
    cfg->rtmp_max_per_ip = (unsigned)n;
  } else if (strcmp(key, "rtmp_publish_timeout_ms") == 0) {
    if (parse_uint(value, 3600000, &n) || n < 1000) goto bad;
    cfg->rtmp_publish_timeout_ms = (unsigned)n;
  } else if (strcmp(key, "simulcast_tls_verify") == 0) { /* simulcast */
    if (parse_flag(value, &cfg->simulcast_tls_verify)) goto bad;
  } else if (strcmp(key, "transcode_preset") == 0) { /* transcode */
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                          "medium", "slow", "slower", "veryslow", NULL};
    const char *const *pr = presets;
    while (*pr && strcmp(*pr, value) != 0) pr++;
    if (!*pr) goto bad;
    snprintf(cfg->transcode_preset, sizeof(cfg->transcode_preset), "%s", value);
  } else if (strcmp(key, "transcode_threads") == 0) { /* transcode */
    if (parse_uint(value, 16, &n)) goto bad;
    cfg->transcode_threads = (unsigned)n;
  } else if (strcmp(key, "transcode_max_rungs") == 0) { /* transcode */
    if (parse_uint(value, 5, &n)) goto bad; /* 0: auto makes no rungs */
    cfg->transcode_max_rungs = (unsigned)n;
  } else if (strcmp(key, "transcode_queue_frames") == 0) { /* transcode */
    if (parse_uint(value, 3000, &n) || n < 2) goto bad;
    cfg->transcode_queue_frames = (unsigned)n;
  } else if (strcmp(key, "upload_workers") == 0) { /* upload */
    if (parse_uint(value, 64, &n) || n < 1) goto bad;
    cfg->upload_workers = (unsigned)n;
  } else if (strcmp(key, "upload_retry_base_ms") == 0) { /* upload */
    if (parse_uint(value, 3600000, &n) || n < 10) goto bad;
    cfg->upload_retry_base_ms = (unsigned)n;
  } else if (strcmp(key, "upload_max_attempts") == 0) { /* upload */
    if (parse_uint(value, 1000, &n) || n < 1) goto bad;
    cfg->upload_max_attempts = (unsigned)n;
  } else if (strcmp(key, "upload_sftp_host_keys") == 0) { /* upload */
    if (strcmp(value, "accept-new") != 0 && strcmp(value, "strict") != 0) goto bad;
    cfg->upload_sftp_strict = strcmp(value, "strict") == 0;
  } else if (strcmp(key, "upload_ca_file") == 0) { /* upload */
    if (strlen(value) >= sizeof(cfg->upload_ca_file)) goto bad;
    snprintf(cfg->upload_ca_file, sizeof(cfg->upload_ca_file), "%s", value);
  } else if (strcmp(key, "upload_allow_private") == 0) { /* upload */
    if (parse_flag(value, &cfg->upload_allow_private)) goto bad;
  } else if (strcmp(key, "upload_part_mib") == 0) { /* upload */
    /* S3 parts are 5 MiB at least; Azure blocks 4000 MiB at most */
    if (parse_uint(value, 4000, &n) || n < 5) goto bad;
    cfg->upload_part_mib = (unsigned)n;
  } else if (strcmp(key, "clip_window_s") == 0) { /* clips */
    if (parse_uint(value, 7 * 24 * 3600, &n) || n < 10) goto bad;
    cfg->clip_window_s = (unsigned)n;
  } else {
    snprintf(err, errlen, "unknown setting '%s'", key);
    return ERR_INVALID;
  }
  return 0;
bad:
  snprintf(err, errlen, "bad value for '%s': '%.200s'", key, value);
  return ERR_INVALID;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    snprintf(err, errlen, "config %s: %s (line %d)", path, jerr.text, jerr.line);
    return ERR_INVALID;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    snprintf(err, errlen, "config %s: must be a JSON object", path);
    return ERR_INVALID;
  }
  const char *key;
  json_t *val;
  int rc = 0;
  json_object_foreach(root, key, val) {
    char buf[1100];
    if (json_is_string(val))
      snprintf(buf, sizeof(buf), "%s", json_string_value(val));
    else if (json_is_integer(val))
      snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
    else {
      snprintf(err, errlen, "config %s: '%s' must be a string or integer", path, key);
      rc = ERR_INVALID;
      break;
    }
    if ((rc = config_set(cfg, key, buf, err, errlen)) != 0) break;
  }
  json_decref(root);
  return rc;
}

int config_load_env(config_t *cfg, char *err, size_t errlen) {
  for (int i = 0; keys[i]; i++) {
    char name[64] = "ONAIR_";
    size_t o = strlen(name);
    for (const char *k = keys[i]; *k && o < sizeof(name) - 1; k++)
      name[o++] = (char)toupper((unsigned char)*k);
    name[o] = '\0';
    const char *v = getenv(name);
    if (!v) continue;
    int rc = config_set(cfg, keys[i], v, err, errlen);
    if (rc) return rc;
  }
  return 0;
}
