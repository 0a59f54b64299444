#include "api/stream_params.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "upload/uploader.h" /* upload: destination checks */

#define MAX_DESTINATIONS 8
#define MAX_REFERERS 32
#define MAX_QUALITIES 8

static const char *const input_formats[] = {"rtmp", "webrtc", "srt", NULL};
static const char *const output_formats[] = {"hls", "cmaf", "dash", "ll-hls", NULL};
static const char *const modes[] = {"auto", "passthrough", "custom", NULL};
static const char *const stream_sources[] = {"original", "transcoded", "auto", NULL};
static const char *const resolutions[] = {"highest", "lowest", "240p",  "360p", "480p",
                                          "720p",    "1080p",  "1440p", "4k",   "all",
                                          NULL};
static const char *const rung_resolutions[] = {"240p",  "360p", "480p", "720p",
                                               "1080p", "1440p", "4k",  NULL};
static const char *const dvr_formats[] = {"mp4", "ts", "hls", NULL};
static const char *const url_schemes[] = {"s3://",   "b2://",   "azblob://", "ftp://",
                                          "ftps://", "sftp://", "file://",   NULL};

static int fail(api_field_error_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(api_field_error_t *err, const char *field, const char *fmt, ...) {
  snprintf(err->field, sizeof(err->field), "%s", field);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
  return ERR_INVALID;
}

static int one_of(const char *v, const char *const *list) {
  for (; *list; list++)
    if (strcmp(v, *list) == 0) return 1;
  return 0;
}

static void list_text(const char *const *list, char *out, size_t outlen) {
  size_t o = 0;
  out[0] = '\0';
  for (; *list && o < outlen; list++)
    o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? ", " : "", *list);
}

static int check_enum(json_t *v, const char *field, const char *const *list,
                      api_field_error_t *err) {
  char allowed[200];
  list_text(list, allowed, sizeof(allowed));
  if (!json_is_string(v) || !one_of(json_string_value(v), list))
    return fail(err, field, "%s must be one of: %s", field, allowed);
  return 0;
}

/* A DNS-ish host name, optionally "*." prefixed (wildcard) and ":port". */
static int valid_host(const char *s, int allow_wildcard) {
  size_t len = strlen(s);
  if (len == 0 || len > 253) return 0;
  if (allow_wildcard && strncmp(s, "*.", 2) == 0) s += 2;
  if (!*s || *s == '.' || *s == '-' || *s == ':') return 0;
  const char *colon = strchr(s, ':');
  for (const char *p = s; *p && p != colon; p++) {
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') return 0;
    if (*p == '.' && (p[1] == '.' || p[1] == '\0' || p[1] == ':')) return 0;
  }
  if (colon) {
    if (!colon[1] || strlen(colon + 1) > 5) return 0;
    for (const char *p = colon + 1; *p; p++)
      if (!isdigit((unsigned char)*p)) return 0;
    if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) return 0;
  }
  return 1;
}

static int has_no_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

/* Accepts an integer, a float or a numeric string; NaN/inf refused. */
static int number_of(json_t *v, double *out) {
  if (json_is_integer(v)) {
    *out = (double)json_integer_value(v);
    return 1;
  }
  if (json_is_real(v)) {
    *out = json_real_value(v);
    return isfinite(*out);
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    if (!*s || isspace((unsigned char)*s) || strlen(s) > 32) return 0;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
  }
  return 0;
}

static int int_in(json_t *v, const char *field, long long lo, long long hi, json_int_t *out,
                  api_field_error_t *err) {
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fail(err, field, "%s must be an integer from %lld to %lld", field, lo, hi);
  *out = json_integer_value(v);
  return 0;
}

static json_t *number_json(double d) {
  if (d == floor(d) && fabs(d) < 1e15) return json_integer((json_int_t)d);
  return json_real(d);
}

static int check_url(json_t *v, const char *field, int allow_null, api_field_error_t *err) {
  if (allow_null && json_is_null(v)) return 0;
  if (!json_is_string(v)) return fail(err, field, "%s must be an http(s) URL", field);
  const char *s = json_string_value(v);
  const char *host;
  if (strncmp(s, "http://", 7) == 0)
    host = s + 7;
  else if (strncmp(s, "https://", 8) == 0)
    host = s + 8;
  else
    return fail(err, field, "%s must be an http:// or https:// URL", field);
  if (strlen(s) > 2048 || !has_no_ctl(s) || strchr(s, ' '))
    return fail(err, field, "%s is not a valid URL", field);
  char hostbuf[256];
  size_t hl = strcspn(host, "/?#");
  if (hl == 0 || hl >= sizeof(hostbuf)) return fail(err, field, "%s has no host", field);
  memcpy(hostbuf, host, hl);
  hostbuf[hl] = '\0';
  if (hostbuf[0] != '[' && !valid_host(hostbuf, 0))
    return fail(err, field, "%s has an invalid host", field);
  return 0;
}

static int apply_destination(json_t *d, const char *field, api_field_error_t *err) {
  char f[128];
  if (!json_is_object(d)) return fail(err, field, "%s must be an object", field);
  json_t *url = json_object_get(d, "url");
  snprintf(f, sizeof(f), "%s.url", field);
  if (!json_is_string(url)) return fail(err, f, "%s is required and must be a string", f);
  const char *u = json_string_value(url);
  const char *const *sch;
  for (sch = url_schemes; *sch; sch++)
    if (strncmp(u, *sch, strlen(*sch)) == 0) break;
  if (!*sch)
    return fail(err, f,
                "%s must start with s3://, b2://, azblob://, ftp://, ftps://, sftp:// or file://",
                f);
  const char *rest = u + strlen(*sch);
  /* file:///abs/path needs an absolute path; the others a host or bucket. */
  int is_file = strcmp(*sch, "file://") == 0;
  if (strlen(u) > 2048 || !has_no_ctl(u) ||
      (is_file ? (rest[0] != '/' || !rest[1]) : (!*rest || *rest == '/')))
    return fail(err, f, "%s has no %s after the scheme", f, is_file ? "absolute path" : "host");
  const char *key;
  json_t *val;
  json_object_foreach(d, key, val) {
    snprintf(f, sizeof(f), "%s.%s", field, key);
    if (strcmp(key, "url") == 0) continue;
    size_t max;
    if (strcmp(key, "key") == 0)
      max = 256;
    else if (strcmp(key, "secret") == 0)
      max = 4095; /* upload: an sftp private key spans lines; uploader checks it */
    else if (strcmp(key, "permissions") == 0 || strcmp(key, "storage_class") == 0)
      max = 64;
    else
      return fail(err, f, "unknown field %s", f);
    if (json_is_null(val)) continue;
    if (!json_is_string(val) || strlen(json_string_value(val)) > max ||
        (strcmp(key, "secret") != 0 && !has_no_ctl(json_string_value(val))))
      return fail(err, f, "%s must be a string of at most %zu bytes", f, max);
  }
  /* upload: what the uploader needs (host, bucket, credentials for the scheme) */
  const char *member = "";
  char msg[200];
  if (uploader_check_destination(d, &member, msg, sizeof(msg)) != 0) {
    if (*member)
      snprintf(f, sizeof(f), "%s.%s", field, member);
    else
      snprintf(f, sizeof(f), "%s", field);
    return fail(err, f, "%s: %s", f, msg);
  }
  return 0;
}

static int apply_dvr(json_t *in, json_t *dvr, api_field_error_t *err) {
  if (!json_is_object(in)) return fail(err, "dvr", "dvr must be an object");
  const char *key;
  json_t *v;
  json_object_foreach(in, key, v) {
    char f[128];
    snprintf(f, sizeof(f), "dvr.%.100s", key);
    if (strcmp(key, "enabled") == 0) {
      int on;
      if (json_is_boolean(v))
        on = json_is_true(v);
      else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        on = (int)json_integer_value(v);
      else
        return fail(err, f, "dvr.enabled must be 0, 1, true or false");
      json_object_set_new(dvr, "enabled", json_boolean(on));
    } else if (strcmp(key, "destination") == 0) {
      if (json_is_array(v)) {
        if (json_array_size(v) == 0 || json_array_size(v) > MAX_DESTINATIONS)
          return fail(err, f, "dvr.destination must list 1 to %d destinations", MAX_DESTINATIONS);
        size_t i;
        json_t *d;
        json_array_foreach(v, i, d) {
          char df[128];
          snprintf(df, sizeof(df), "dvr.destination[%zu]", i);
          if (apply_destination(d, df, err)) return ERR_INVALID;
        }
      } else if (!json_is_null(v) && apply_destination(v, "dvr.destination", err)) {
        return ERR_INVALID;
      }
      json_object_set(dvr, "destination", v);
    } else if (strcmp(key, "stream_source") == 0) {
      if (check_enum(v, f, stream_sources, err)) return ERR_INVALID;
      json_object_set(dvr, key, v);
    } else if (strcmp(key, "resolution") == 0) {
      if (check_enum(v, f, resolutions, err)) return ERR_INVALID;
      json_object_set(dvr, key, v);
    } else if (strcmp(key, "format") == 0) {
      if (json_is_array(v)) {
        if (json_array_size(v) == 0 || json_array_size(v) > 3)
          return fail(err, f, "dvr.format must list 1 to 3 of mp4, ts, hls");
        size_t i, j;
        json_t *e;
        json_array_foreach(v, i, e) {
          if (check_enum(e, f, dvr_formats, err)) return ERR_INVALID;
          for (j = 0; j < i; j++)
            if (json_equal(json_array_get(v, j), e))
              return fail(err, f, "dvr.format lists %s twice", json_string_value(e));
        }
      } else if (check_enum(v, f, dvr_formats, err)) {
        return ERR_INVALID;
      }
      json_object_set(dvr, key, v);
    } else if (strcmp(key, "max_file_duration") == 0) {
      json_int_t n;
      if (int_in(v, f, 10, 21600, &n, err)) return ERR_INVALID;
      json_object_set_new(dvr, key, json_integer(n));
    } else {
      return fail(err, f, "unknown field %s", f);
    }
  }
  return 0;
}

static int check_qualities(json_t *v, api_field_error_t *err) {
  if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_QUALITIES)
    return fail(err, "qualities", "qualities must be an array of 1 to %d rungs", MAX_QUALITIES);
  size_t i;
  json_t *q;
  json_array_foreach(v, i, q) {
    char f[128];
    snprintf(f, sizeof(f), "qualities[%zu]", i);
    if (!json_is_object(q)) return fail(err, f, "%s must be an object", f);
    const char *key;
    json_t *val;
    json_object_foreach(q, key, val) {
      snprintf(f, sizeof(f), "qualities[%zu].%.60s", i, key);
      json_int_t n;
      double d;
      if (strcmp(key, "resolution") == 0) {
        if (check_enum(val, f, rung_resolutions, err)) return ERR_INVALID;
      } else if (strcmp(key, "bitrate") == 0) {
        if (int_in(val, f, 100, 50000, &n, err)) return ERR_INVALID;
      } else if (strcmp(key, "framerate") == 0) {
        if (!number_of(val, &d) || d < 0 || d > 30)
          return fail(err, f, "%s must be 0 or at most 30", f);
      } else {
        return fail(err, f, "unknown field %s", f);
      }
    }
    if (!json_object_get(q, "resolution")) {
      snprintf(f, sizeof(f), "qualities[%zu].resolution", i);
      return fail(err, f, "%s is required", f);
    }
    /* transcode: a rendition is named by its resolution, so each once */
    for (size_t j = 0; j < i; j++) {
      if (json_equal(json_object_get(json_array_get(v, j), "resolution"),
                     json_object_get(q, "resolution"))) {
        snprintf(f, sizeof(f), "qualities[%zu].resolution", i);
        return fail(err, f, "%s: qualities lists %s twice", f,
                    json_string_value(json_object_get(q, "resolution")));
      }
    }
  }
  return 0;
}

json_t *stream_params_defaults(void) {
  return json_pack("{s:s, s:s, s:i, s:s, s:n, s:i, s:i, s:[], s:{s:b, s:n, s:s, s:s, s:s, s:i}}",
                   "input_format", "rtmp", "output_format", "hls", "framerate", 0, "mode", "auto",
                   "callback_url", "stream_timeout", 120, "srt_latency", 120,
                   "allowed_referer_domains", "dvr",
                   "enabled", 0, "destination", "stream_source", "auto", "resolution", "highest",
                   "format", "mp4", "max_file_duration", 14400);
}

int stream_params_apply(json_t *body, json_t *params, stream_request_t *req,
                        api_field_error_t *err) {
  memset(req, 0, sizeof(*req));
  memset(err, 0, sizeof(*err));
  if (!json_is_object(body)) return fail(err, "", "the request body must be a JSON object");
  const char *key;
  json_t *v;
  json_object_foreach(body, key, v) {
    req->fields++;
    if (strcmp(key, "name") == 0) {
      if (!json_is_string(v) || strlen(json_string_value(v)) > 255 ||
          !has_no_ctl(json_string_value(v)))
        return fail(err, "name", "name must be a string of at most 255 bytes");
      req->has_name = 1;
      snprintf(req->name, sizeof(req->name), "%s", json_string_value(v));
    } else if (strcmp(key, "input_format") == 0) {
      if (check_enum(v, key, input_formats, err)) return ERR_INVALID;
      json_object_set(params, key, v);
    } else if (strcmp(key, "output_format") == 0) {
      if (check_enum(v, key, output_formats, err)) return ERR_INVALID;
      json_object_set(params, key, v);
    } else if (strcmp(key, "framerate") == 0) {
      double d;
      if (!number_of(v, &d) || d < 0 || d > 30)
        return fail(err, key, "framerate must be 0 (keep the input rate) or a number up to 30");
      json_object_set_new(params, key, number_json(d));
    } else if (strcmp(key, "stream_timeout") == 0) {
      json_int_t n;
      if (int_in(v, key, 10, 86400, &n, err)) return ERR_INVALID;
      json_object_set_new(params, key, json_integer(n));
    } else if (strcmp(key, "mode") == 0) {
      if (check_enum(v, key, modes, err)) return ERR_INVALID;
      json_object_set(params, key, v);
    } else if (strcmp(key, "qualities") == 0) {
      if (check_qualities(v, err)) return ERR_INVALID;
      json_object_set(params, key, v);
    } else if (strcmp(key, "callback_url") == 0) {
      if (check_url(v, key, 1, err)) return ERR_INVALID;
      json_object_set(params, key, v);
    } else if (strcmp(key, "playback_domain") == 0) {
      if (json_is_null(v)) {
        req->playback_domain[0] = '\0';
      } else if (!json_is_string(v) || !valid_host(json_string_value(v), 0)) {
        /* A scheme here is the common mistake: it is the server's public_scheme. */
        return fail(err, key,
                    "playback_domain must be a host name or null (the URL scheme is the "
                    "server's public_scheme setting)");
      } else {
        snprintf(req->playback_domain, sizeof(req->playback_domain), "%s", json_string_value(v));
      }
      req->has_playback_domain = 1;
    } else if (strcmp(key, "allowed_referer_domains") == 0) {
      if (!json_is_array(v) || json_array_size(v) > MAX_REFERERS)
        return fail(err, key, "allowed_referer_domains must be an array of at most %d host names",
                    MAX_REFERERS);
      size_t i;
      json_t *d;
      json_array_foreach(v, i, d) {
        if (!json_is_string(d) || !valid_host(json_string_value(d), 1)) {
          char f[128];
          snprintf(f, sizeof(f), "allowed_referer_domains[%zu]", i);
          return fail(err, f, "%s must be a host name like example.com or *.example.com", f);
        }
      }
      json_object_set(params, key, v);
    } else if (strcmp(key, "srt_passphrase") == 0) {
      /* libsrt accepts 10..79 bytes; write-only like destination secrets */
      if (!json_is_null(v) && (!json_is_string(v) || strlen(json_string_value(v)) < 10 ||
                               strlen(json_string_value(v)) > 79 ||
                               !has_no_ctl(json_string_value(v))))
        return fail(err, key, "srt_passphrase must be 10 to 79 bytes, or null to remove it");
      if (json_is_null(v))
        json_object_del(params, key);
      else
        json_object_set(params, key, v);
    } else if (strcmp(key, "srt_latency") == 0) {
      json_int_t n;
      if (int_in(v, key, 20, 8000, &n, err)) return ERR_INVALID;
      json_object_set_new(params, key, json_integer(n));
    } else if (strcmp(key, "dvr") == 0) {
      json_t *dvr = json_object_get(params, "dvr");
      if (apply_dvr(v, dvr, err)) return ERR_INVALID;
    } else {
      char f[128];
      snprintf(f, sizeof(f), "%.120s", key);
      return fail(err, f, "unknown field %s", f);
    }
  }
  /* Cross-field rules. */
  const char *mode = json_string_value(json_object_get(params, "mode"));
  if (mode && strcmp(mode, "custom") == 0) {
    if (!json_object_get(params, "qualities"))
      return fail(err, "qualities", "mode custom needs qualities");
  } else if (json_object_get(body, "qualities")) {
    return fail(err, "qualities", "qualities are only used with mode custom");
  } else {
    json_object_del(params, "qualities");
  }
  return 0;
}

static void strip_secret(json_t *dest) {
  if (!json_is_object(dest)) return;
  json_object_del(dest, "secret");
  /* a url may carry credentials too: ftp://user:PASSWORD@…, an azblob SAS token */
  const char *url = json_string_value(json_object_get(dest, "url"));
  if (url) {
    char pub[2100];
    uploader_public_url(url, pub, sizeof(pub));
    json_object_set_new(dest, "url", json_string(pub));
  }
}

json_t *stream_params_public(json_t *params) {
  json_t *copy = json_deep_copy(params);
  /* write-only: say whether one is set, never what it is */
  if (json_object_get(copy, "srt_passphrase")) {
    json_object_del(copy, "srt_passphrase");
    json_object_set_new(copy, "srt_passphrase_set", json_true());
  }
  json_t *dest = json_object_get(json_object_get(copy, "dvr"), "destination");
  if (json_is_array(dest)) {
    size_t i;
    json_t *d;
    json_array_foreach(dest, i, d) strip_secret(d);
  } else {
    strip_secret(dest);
  }
  return copy;
}
