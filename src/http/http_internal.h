/* http_internal.h — what the files of src/http share with each other (and
 * with their unit tests and fuzz targets). Not for other modules.
 */
#ifndef ONAIR_HTTP_INTERNAL_H
#define ONAIR_HTTP_INTERNAL_H

#include <stddef.h>

#include "http/http.h"

/* A growable byte buffer; reused across requests to avoid allocations. */
typedef struct {
  char *data;
  size_t len, cap;
} http_buf_t;

/* 0 or ERR_NOMEM; guarantees cap >= len + extra. */
int http__buf_reserve(http_buf_t *b, size_t extra);
int http__buf_append(http_buf_t *b, const void *p, size_t n);
void http__buf_free(http_buf_t *b);

/* The response a handler fills. One lives inside each connection and is
 * reused for every request on it. */
struct http_response {
  int status;
  http_buf_t headers;  /* "Name: value\r\n" lines added by the handler */
  http_buf_t body;     /* copied body (http_response_body) */
  char *owned;         /* body given with http_response_body_owned/_ref, or NULL */
  size_t owned_len;
  void (*release)(void *ud); /* how to let go of `owned` (free for _owned) */
  void *release_ud;
  int owned_fd;        /* `owned` is also readable from this fd (-1: no) ... */
  long long owned_off; /* ... at this offset (http_response_body_ref_fd) */
  int deferred;        /* http_response_defer() was called */
  int finished;        /* http_response_finish() was called */
  int in_handler;      /* the handler is still running */
  int failed;          /* an allocation failed while building: send a bare 500 */
  void *conn;          /* the owning connection; NULL for a detached response */
};

/* Lets go of an owned/ref body (calls its release function). */
void http__response_release_body(http_response_t *res);
/* Forgets the previous response but keeps the buffers. */
void http__response_reset(http_response_t *res);
/* Frees everything the response holds. */
void http__response_clear(http_response_t *res);
/* The body as it stands (owned or copied). */
const char *http__response_body(const http_response_t *res, size_t *len);
/* Value of the first header `name` the handler set, copied into out; NULL when absent. */
const char *http__response_header(const http_response_t *res, const char *name, char *out,
                                  size_t outlen);
/* Appends the status line and headers (ending with the blank line) to out.
 * has_body tells whether the status allows a body at all. */
int http__response_head(http_response_t *res, int keep_alive, http_buf_t *out, int *has_body);
/* "OK", "Not Found", ... */
const char *http__status_reason(int status);

/* A response with no connection, for unit tests and fuzz targets: the
 * handler API works on it, finish only marks it. Free with
 * http__response_detached_free(). */
http_response_t *http__response_detached_new(void);
void http__response_detached_free(http_response_t *res);

/* Percent-decodes n bytes of in into out (cap bytes, NUL-terminated).
 * plus_space turns '+' into ' '. Returns the decoded length, or -1 for a bad
 * escape, an escaped NUL, or when out is too small. */
long http__pct_decode(const char *in, size_t n, char *out, size_t cap, int plus_space);

#endif
