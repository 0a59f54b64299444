/* response.c — filling a response (status, headers, body, JSON, errors) and
 * turning it into the bytes of a status line and header block. Sending and
 * deferral live in server.c, next to the connection they need. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "http/http_internal.h"

static const struct {
  int status;
  const char *reason;
} reasons[] = {
    {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
    {202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
    {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
    {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
    {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
    {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"},
    {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
    {412, "Precondition Failed"}, {413, "Payload Too Large"}, {414, "URI Too Long"},
    {415, "Unsupported Media Type"}, {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"}, {422, "Unprocessable Entity"}, {425, "Too Early"},
    {426, "Upgrade Required"}, {428, "Precondition Required"}, {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
    {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
    {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
};

const char *http__status_reason(int status) {
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
    if (reasons[i].status == status) return reasons[i].reason;
  switch (status / 100) {
  case 1: return "Informational";
  case 2: return "Success";
  case 3: return "Redirection";
  case 4: return "Client Error";
  default: return "Server Error";
  }
}

void http__response_reset(http_response_t *res) {
  res->status = 200;
  res->headers.len = 0;
  res->body.len = 0;
  http__response_release_body(res);
  res->deferred = res->finished = res->in_handler = res->failed = 0;
  /* Do not keep a huge body buffer around on an idle connection. */
  if (res->body.cap > 64 * 1024) http__buf_free(&res->body);
}

void http__response_clear(http_response_t *res) {
  http__buf_free(&res->headers);
  http__buf_free(&res->body);
  http__response_release_body(res);
}

const char *http__response_body(const http_response_t *res, size_t *len) {
  if (res->owned) {
    *len = res->owned_len;
    return res->owned;
  }
  *len = res->body.len;
  return res->body.len ? res->body.data : "";
}

void http_response_status(http_response_t *res, int status) {
  if (status < 100 || status > 999) status = 500;
  res->status = status;
}

/* Header names are tokens; values may not contain CR, LF or NUL (that would
 * let a value smuggle extra headers into the response). */
static int header_ok(const char *name, const char *value) {
  if (!name || !*name || !value) return 0;
  for (const char *p = name; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c >= 127 || c == ':') return 0;
  }
  for (const char *p = value; *p; p++)
    if (*p == '\r' || *p == '\n') return 0;
  return 1;
}

/* Removes every line "name: ..." from the header block. */
static void header_remove(http_response_t *res, const char *name) {
  size_t nlen = strlen(name), i = 0;
  http_buf_t *h = &res->headers;
  while (i < h->len) {
    char *line = h->data + i;
    char *eol = memchr(line, '\n', h->len - i);
    size_t ll = eol ? (size_t)(eol - line) + 1 : h->len - i;
    if (ll > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      memmove(line, line + ll, h->len - i - ll);
      h->len -= ll;
    } else {
      i += ll;
    }
  }
}

static void header_add(http_response_t *res, const char *name, const char *value) {
  size_t nl = strlen(name), vl = strlen(value);
  if (http__buf_reserve(&res->headers, nl + vl + 4) < 0) {
    res->failed = 1;
    return;
  }
  http_buf_t *h = &res->headers;
  memcpy(h->data + h->len, name, nl);
  h->len += nl;
  h->data[h->len++] = ':';
  h->data[h->len++] = ' ';
  memcpy(h->data + h->len, value, vl);
  h->len += vl;
  h->data[h->len++] = '\r';
  h->data[h->len++] = '\n';
}

void http_response_header(http_response_t *res, const char *name, const char *value) {
  if (!header_ok(name, value)) {
    log_warn("http_header_rejected name=%.64s", name ? name : "(null)");
    return;
  }
  /* The server writes these itself; a second copy would confuse clients. */
  if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0 ||
      strcasecmp(name, "Transfer-Encoding") == 0)
    return;
  header_add(res, name, value);
}

/* Response headers a page script may read beyond the CORS-safelisted ones:
 * a player needs ranges, sizes and cache age of segments; an API client
 * the ETag and how long to wait after a 429/503. Age comes from caches in front. */
static const char cors_expose_headers[] =
    "Accept-Ranges, Age, Content-Length, Content-Range, Date, ETag, Retry-After";

void http_response_cors(http_response_t *res) {
  http_response_header(res, "Access-Control-Allow-Origin", "*");
  http_response_header(res, "Access-Control-Expose-Headers", cors_expose_headers);
}

void http_response_header_set(http_response_t *res, const char *name, const char *value) {
  header_remove(res, name);
  http_response_header(res, name, value);
}

const char *http__response_header(const http_response_t *res, const char *name, char *out,
                                  size_t outlen) {
  size_t nlen = strlen(name), i = 0;
  const http_buf_t *h = &res->headers;
  while (i < h->len) {
    const char *line = h->data + i;
    const char *eol = memchr(line, '\n', h->len - i);
    size_t ll = eol ? (size_t)(eol - line) + 1 : h->len - i;
    if (ll > nlen + 1 && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 2;
      size_t vl = ll - nlen - 4; /* minus ": " and CRLF */
      if (vl >= outlen) vl = outlen - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return out;
    }
    i += ll;
  }
  return NULL;
}

void http_response_body(http_response_t *res, const void *data, size_t len) {
  http__response_release_body(res);
  res->body.len = 0;
  if (http__buf_append(&res->body, data, len) < 0) res->failed = 1;
}

void http__response_release_body(http_response_t *res) {
  if (res->owned && res->release) res->release(res->release_ud);
  res->owned = NULL;
  res->owned_len = 0;
  res->release = NULL;
  res->release_ud = NULL;
  res->owned_fd = -1;
  res->owned_off = 0;
}

static void release_free(void *p) { free(p); }

void http_response_body_owned(http_response_t *res, char *data, size_t len) {
  http_response_body_ref(res, data, len, release_free, data);
}

void http_response_body_ref(http_response_t *res, const void *data, size_t len,
                            void (*release)(void *ud), void *ud) {
  http__response_release_body(res);
  res->owned = (char *)data;
  res->owned_len = data ? len : 0;
  res->release = release;
  res->release_ud = ud;
  res->body.len = 0;
}

void http_response_body_ref_fd(http_response_t *res, const void *data, size_t len, int fd,
                               long long off, void (*release)(void *ud), void *ud) {
  http_response_body_ref(res, data, len, release, ud);
  if (data && fd >= 0 && off >= 0) {
    res->owned_fd = fd;
    res->owned_off = off;
  }
}

void http_response_json(http_response_t *res, int status, json_t *json) {
  char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
  if (!s) {
    log_error("http_json_dump_failed status=%d", status);
    res->failed = 1;
    return;
  }
  http_response_status(res, status);
  http_response_header_set(res, "Content-Type", "application/json");
  http_response_body_owned(res, s, strlen(s));
}

void http_response_error(http_response_t *res, int status, const char *code,
                         const char *message, const char *field) {
  json_t *err = json_object();
  json_t *obj = json_object();
  /* json_string() refuses invalid UTF-8; never let that drop the error. */
  json_t *jc = json_string(code ? code : "internal");
  json_t *jm = json_string(message ? message : "");
  json_t *jf = field ? json_string(field) : json_null();
  if (!jc) jc = json_string("internal");
  if (!jm) jm = json_string("(message not valid UTF-8)");
  if (!jf) jf = json_null();
  if (err && obj && jc && jm && jf) {
    json_object_set_new(err, "code", jc);
    json_object_set_new(err, "message", jm);
    json_object_set_new(err, "field", jf);
    json_object_set(obj, "error", err);
    http_response_json(res, status, obj);
  } else {
    json_decref(jc);
    json_decref(jm);
    json_decref(jf);
    res->failed = 1;
  }
  json_decref(err);
  json_decref(obj);
}

void http_response_defer(http_response_t *res) { res->deferred = 1; }

/* http_response_finish() is in server.c: it needs the connection. */

/* "Date: ..." is the same for a whole second: format it once per second. */
static const char *date_header(void) {
  static char buf[64];
  static time_t last;
  time_t now = time(NULL);
  if (now != last || !buf[0]) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    last = now;
  }
  return buf;
}

int http__response_head(http_response_t *res, int keep_alive, http_buf_t *out, int *has_body) {
  static const char fail_body[] =
      "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\",\"field\":null}}";
  if (res->failed) {
    /* Something could not be allocated: fall back to a fixed 500. */
    res->status = 500;
    res->headers.len = 0;
    header_add(res, "Content-Type", "application/json");
    res->failed = 0;
    http_response_body(res, fail_body, sizeof(fail_body) - 1);
    if (res->failed) return -1;
  }
  int st = res->status;
  /* RFC 9110: 1xx, 204 and 304 carry no body; 204 and 1xx no Content-Length. */
  int bodyless = st < 200 || st == 204 || st == 304;
  size_t blen;
  http__response_body(res, &blen);
  if (bodyless) blen = 0;
  *has_body = !bodyless;

  char line[160];
  int n;
  if (bodyless)
    n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nServer: onair\r\nConnection: %s\r\n", st,
                 http__status_reason(st), keep_alive ? "keep-alive" : "close");
  else
    n = snprintf(line, sizeof(line),
                 "HTTP/1.1 %d %s\r\nServer: onair\r\nContent-Length: %zu\r\nConnection: %s\r\n",
                 st, http__status_reason(st), blen, keep_alive ? "keep-alive" : "close");
  const char *date = date_header();
  size_t dl = strlen(date);
  if (http__buf_reserve(out, (size_t)n + dl + res->headers.len + 2) < 0) return -1;
  memcpy(out->data + out->len, line, (size_t)n);
  out->len += (size_t)n;
  memcpy(out->data + out->len, date, dl);
  out->len += dl;
  if (res->headers.len) {
    memcpy(out->data + out->len, res->headers.data, res->headers.len);
    out->len += res->headers.len;
  }
  out->data[out->len++] = '\r';
  out->data[out->len++] = '\n';
  return 0;
}

http_response_t *http__response_detached_new(void) {
  http_response_t *res = calloc(1, sizeof(*res));
  if (res) http__response_reset(res);
  return res;
}

void http__response_detached_free(http_response_t *res) {
  if (!res) return;
  http__response_clear(res);
  free(res);
}
