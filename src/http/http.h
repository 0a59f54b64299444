/* http.h — the HTTP/1.1 server: libuv sockets + http-parser.
 *
 * One server owns a listening socket and its connections. Each complete
 * request is handed to the handler together with a response object the
 * server owns. The handler fills the response; when it returns the response
 * is sent, unless the handler called http_response_defer(), in which case it
 * is sent by a later http_response_finish() (for waits like LL-HLS blocking
 * playlist reloads). http_response_finish() may be called from anywhere on
 * the loop thread, even deep inside other code: the connection's next
 * (pipelined) request is handled from a later loop iteration, never inside
 * it.
 *
 * Keep-alive and pipelining: responses go out in request order. Limits:
 * headers over max_header_bytes → 431 (well, 413 per DESIGN: both use the JSON
 * error object), body over max_body_bytes → 413, malformed → 400, then the
 * connection is closed. Slow clients are cut after request_timeout_ms;
 * idle keep-alive connections after idle_timeout_ms.
 *
 * Everything here runs on the loop thread.
 */
#ifndef ONAIR_HTTP_H
#define ONAIR_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

typedef struct http_server http_server_t;
typedef struct http_response http_response_t;

typedef struct http_request {
  /* read-only for handlers; valid until the response is finished */
  const char *method;  /* "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", ... */
  const char *path;    /* raw path, no query, not percent-decoded, e.g. "/v1/live-streams/x" */
  const char *query;   /* raw query without '?', "" when there is none */
  const char *body;    /* NUL-terminated copy of the body ("" when none) */
  size_t body_len;
  const char *remote_ip; /* textual peer address */
  void *_conn;           /* private */
} http_request_t;

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const http_request_t *req, const char *name);

/* Iterates over query parameters, percent-decoding keys and values ('+' is a
 * space). *cursor starts at req->query. Returns 1 and fills key/val while
 * there are parameters, 0 at the end, ERR_INVALID for an over-long or
 * badly-encoded one. */
int http_query_next(const char **cursor, char *key, size_t keylen, char *val, size_t vallen);
/* Percent-decodes in place; returns 0 or ERR_INVALID. */
int http_url_decode(char *s);

/* --- responses --- */
void http_response_status(http_response_t *res, int status);
/* Adds a header (copied). Content-Length and Connection are managed by the server. */
void http_response_header(http_response_t *res, const char *name, const char *value);
/* Replaces every header of that name with one (added when absent). */
void http_response_header_set(http_response_t *res, const char *name, const char *value);
/* The CORS headers of an answer that is not a preflight:
 * Access-Control-Allow-Origin: * and the Access-Control-Expose-Headers page
 * scripts need (every answer carries them: routed ones and the server's own
 * 400/408/413/431). */
void http_response_cors(http_response_t *res);
/* Sets the body by copying data. */
void http_response_body(http_response_t *res, const void *data, size_t len);
/* Sets the body, taking ownership of a malloc'd buffer (freed with free()). */
void http_response_body_owned(http_response_t *res, char *data, size_t len);
/* Sets the body to shared bytes without copying: release(ud) is called once
 * the bytes have been written or the response is dropped (e.g. a
 * refcounted segment buffer's unref). */
void http_response_body_ref(http_response_t *res, const void *data, size_t len,
                            void (*release)(void *ud), void *ud);
/* Like http_response_body_ref, and the same bytes can also be read from
 * file descriptor fd at offset off (a memfd or file that stays open and
 * unchanged until release(ud) runs): the server then sends them with
 * sendfile(2), without copying them through user space, and falls back to
 * writing from data when the socket is full. fd < 0: plain body_ref. */
void http_response_body_ref_fd(http_response_t *res, const void *data, size_t len, int fd,
                               long long off, void (*release)(void *ud), void *ud);
/* Serialises json (compact) as the body with Content-Type application/json.
 * Does not take the reference. */
void http_response_json(http_response_t *res, int status, json_t *json);
/* The JSON error object of DESIGN.md §5:
 * {"error": {"code": code, "message": message, "field": field-or-null}} */
void http_response_error(http_response_t *res, int status, const char *code,
                         const char *message, const char *field);
/* Keep the response open after the handler returns. */
void http_response_defer(http_response_t *res);
/* Send a deferred response. If the client went away meanwhile this just frees it. */
void http_response_finish(http_response_t *res);

typedef void (*http_handler_fn)(void *ud, http_request_t *req, http_response_t *res);

typedef struct {
  size_t max_header_bytes;     /* default 16 KiB */
  size_t max_body_bytes;       /* default 1 MiB */
  unsigned request_timeout_ms; /* whole request must arrive within; default 30 s */
  unsigned idle_timeout_ms;    /* keep-alive idle; default 60 s */
  unsigned max_connections;    /* default 10000; over it new connections are closed */
} http_server_opts_t;

/* opts may be NULL for defaults; zero fields take defaults. */
int http_server_new(uv_loop_t *loop, const http_server_opts_t *opts, http_handler_fn handler,
                    void *ud, http_server_t **out);
/* Binds and listens. port 0 picks a free port (see http_server_port). */
int http_server_listen(http_server_t *srv, const char *host, int port);
int http_server_port(const http_server_t *srv);
/* Graceful shutdown: stop accepting, close idle connections, let in-flight
 * requests finish (at most grace_ms), then close everything and call done. */
void http_server_shutdown(http_server_t *srv, unsigned grace_ms, void (*done)(void *arg), void *arg);
/* Frees the server; only after the shutdown callback ran. */
void http_server_free(http_server_t *srv);

#endif
