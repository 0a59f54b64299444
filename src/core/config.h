/* config.h — server settings.
 *
 * Precedence, lowest to highest: built-in defaults, the JSON config file
 * (--config FILE or ONAIR_CONFIG), ONAIR_* environment variables, command
 * line flags. Every setting has one key used in all three places:
 *   key "http" ↔ env ONAIR_HTTP ↔ flag --http
 */
#ifndef ONAIR_CONFIG_H
#define ONAIR_CONFIG_H

#include <stddef.h>

typedef struct {
  char data_dir[1024];     /* "data": SQLite, secret, segments on disk */
  char http_host[256];     /* "http": HOST:PORT of the API + playback listener */
  int http_port;
  char rtmp_host[256];     /* "rtmp": HOST:PORT of the RTMP ingest listener */
  int rtmp_port;
  char rtmps_host[256];    /* "rtmps": HOST:PORT of the RTMPS listener; port 0 = off */
  int rtmps_port;
  char tls_cert[1024];     /* "tls_cert": PEM certificate chain for RTMPS ("" = self-signed) */
  char tls_key[1024];      /* "tls_key": PEM private key for RTMPS */
  char srt_host[256];      /* "srt": HOST:PORT of the SRT listener; port 0 = off */
  int srt_port;
  char public_host[256];   /* "public_host": host name put in server_urls / playback_url */
  int public_https;        /* "public_scheme": 1 = "https" playback URLs (a TLS proxy in front), 0 = "http" */
  int log_level;           /* "log_level": debug|info|warn|error */
  unsigned create_rate_limit; /* "create_rate_limit": stream creations per minute per project */
  size_t max_body_bytes;   /* "max_body_bytes": request body limit */
  unsigned max_connections;/* "max_connections": HTTP connections */
  unsigned rtmp_max_connections; /* "rtmp_max_connections": RTMP(S) connections in all */
  unsigned rtmp_max_per_ip;      /* "rtmp_max_per_ip": RTMP(S) connections from one address */
  unsigned rtmp_publish_timeout_ms; /* "rtmp_publish_timeout_ms": connected without publishing → closed */
  unsigned access_token_ttl; /* "access_token_ttl": seconds an access token lives (24 h) */
  unsigned hls_segment_ms; /* "hls_segment_ms": HLS target segment duration */
  unsigned hls_window;     /* "hls_window": segments listed in a live playlist */
  int hls_fmp4_on_demand;  /* "hls_fmp4_on_demand": 1 = fMP4 made only once requested (0) */
  unsigned hls_part_ms;    /* "hls_part_ms": LL-HLS part target; 0 = a third of a segment + 3 ms, >= 200 */
  /* webhooks */
  int webhooks_allow_private;     /* "webhooks_allow_private": 1 lets webhooks reach private/loopback addresses */
  unsigned webhook_retry_base_ms; /* "webhook_retry_base_ms": first retry delay, doubled per attempt */
  /* end webhooks */
  /* health */
  char metrics_token[256];        /* "metrics_token": bearer token /metrics requires ("" = loopback clients only) */
  unsigned health_interval_ms;    /* "health_interval_ms": ingest health sample period (5000) */
  unsigned health_retention_days; /* "health_retention_days": health samples are deleted after this (30) */
  /* end health */
  int simulcast_tls_verify; /* "simulcast_tls_verify": 1 checks RTMPS targets' certificates (simulcast) */
  /* upload */
  unsigned upload_workers;        /* "upload_workers": parallel uploads to dvr destinations (2) */
  unsigned upload_retry_base_ms;  /* "upload_retry_base_ms": first retry delay, doubled per attempt (5000) */
  unsigned upload_max_attempts;   /* "upload_max_attempts": attempts before an upload fails (8) */
  int upload_sftp_strict;         /* "upload_sftp_host_keys": accept-new (0) | strict (1) */
  char upload_ca_file[1024];      /* "upload_ca_file": PEM CAs for https/ftps uploads instead of the system's ("") */
  int upload_allow_private;       /* "upload_allow_private": 1 lets uploads reach loopback/private hosts and file:// (1) */
  unsigned upload_part_mib;       /* "upload_part_mib": s3/b2/azblob files above this go up in parts of this size, 5..4000 (64) */
  /* end upload */
  /* transcode */
  char transcode_preset[32];   /* "transcode_preset": x264 preset of transcoded rungs (veryfast) */
  unsigned transcode_threads;  /* "transcode_threads": x264 threads per rung (0 = 1 up to 720p, 2 above) */
  unsigned transcode_max_rungs;/* "transcode_max_rungs": auto mode, standard rungs below the source (3; 0 = none) */
  unsigned transcode_queue_frames; /* "transcode_queue_frames": decoded frames a rung may have waiting (30) */
  /* end transcode */
  unsigned clip_window_s; /* "clip_window_s": seconds of live media kept on disk for clips (1800) */
} config_t;

/* Fills cfg with the defaults. */
void config_defaults(config_t *cfg);
/* Sets one key from its textual value. ERR_INVALID (with a message in
 * err, >= 256 bytes) for an unknown key or a bad value. */
int config_set(config_t *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Applies a JSON object file of {"key": value}. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);
/* Applies every ONAIR_<KEY> environment variable that is set. */
int config_load_env(config_t *cfg, char *err, size_t errlen);
/* The list of keys (NULL-terminated), for --help. */
const char *const *config_keys(void);

#endif
