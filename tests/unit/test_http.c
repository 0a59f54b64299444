/* test_http.c — the HTTP server driven over real sockets.
 *
 * Each test starts a server on 127.0.0.1:0 on its own uv loop (main thread)
 * and runs a client scenario with blocking sockets on a second thread. The
 * client records the first failed check in t->err; the main thread asserts
 * on it after the loop has stopped with every handle closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/http.h"
#include "http/http_internal.h"

/* ---------------- test server ---------------- */

typedef struct test_ctx test_ctx_t;
typedef void (*scenario_fn)(test_ctx_t *t);

struct test_ctx {
  uv_loop_t loop;
  uv_async_t async;
  http_server_t *srv;
  int port;
  scenario_fn scenario;
  int shutdown_sent;
  int shutdown_done;
  unsigned grace_ms;
  int requests;    /* handled on the loop thread */
  int late_finish; /* deferred responses finished after their client left */
  char err[1024];
};

typedef struct {
  uv_timer_t timer;
  http_response_t *res;
  test_ctx_t *t;
} deferred_t;

static void on_deferred_closed(uv_handle_t *h) { free(h->data); }

static void on_deferred_timer(uv_timer_t *timer) {
  deferred_t *d = timer->data;
  http_response_body(d->res, "deferred", 8);
  http_response_finish(d->res);
  timer->data = d;
  uv_close((uv_handle_t *)timer, on_deferred_closed);
}

static int query_int(const http_request_t *req, const char *name, int def) {
  const char *cur = req->query;
  char k[64], v[64];
  int rc;
  while ((rc = http_query_next(&cur, k, sizeof(k), v, sizeof(v))) != 0)
    if (rc == 1 && strcmp(k, name) == 0) return atoi(v);
  return def;
}

static void handler(void *ud, http_request_t *req, http_response_t *res) {
  test_ctx_t *t = ud;
  t->requests++;
  if (strcmp(req->path, "/hello") == 0) {
    http_response_header(res, "Content-Type", "text/plain");
    http_response_body(res, "hello", 5);
  } else if (strcmp(req->path, "/echo") == 0) {
    char *s = NULL;
    int n = asprintf(&s, "%s %s %s ip=%s len=%zu body=%s", req->method, req->path, req->query,
                     req->remote_ip, req->body_len, req->body);
    if (n >= 0) http_response_body_owned(res, s, (size_t)n);
  } else if (strcmp(req->path, "/hdr") == 0) {
    const char *v = http_request_header(req, "x-TEST");
    http_response_body(res, v ? v : "(none)", v ? strlen(v) : 6);
  } else if (strcmp(req->path, "/defer") == 0) {
    deferred_t *d = calloc(1, sizeof(*d));
    d->res = res;
    d->t = t;
    http_response_defer(res);
    uv_timer_init(&t->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_deferred_timer, (uint64_t)query_int(req, "ms", 50), 0);
  } else if (strcmp(req->path, "/defer-now") == 0) {
    /* defer and finish inside the handler: must behave like a plain response */
    http_response_defer(res);
    http_response_body(res, "now", 3);
    http_response_finish(res);
  } else if (strcmp(req->path, "/big") == 0) {
    size_t n = (size_t)query_int(req, "n", 100000);
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (char)('a' + i % 26);
    http_response_body_owned(res, b, n);
  } else if (strcmp(req->path, "/bigcopy") == 0) {
    size_t n = 200000;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (char)('A' + i % 26);
    http_response_body(res, b, n);
    free(b);
  } else if (strcmp(req->path, "/json") == 0) {
    json_t *j = json_pack("{s:s,s:i}", "status", "ok", "n", 42);
    http_response_json(res, 201, j);
    json_decref(j);
  } else if (strcmp(req->path, "/error") == 0) {
    http_response_error(res, 409, "conflict", "it is live", "id");
  } else if (strcmp(req->path, "/nocontent") == 0) {
    http_response_status(res, 204);
    http_response_body(res, "ignored", 7);
  } else if (strcmp(req->path, "/badheader") == 0) {
    http_response_header(res, "X-Evil", "a\r\nSet-Cookie: x=1");
    http_response_header(res, "Content-Length", "999");
    http_response_body(res, "ok", 2);
  } else {
    http_response_error(res, 404, "not_found", "nothing here", NULL);
  }
}

static void on_shutdown_done(void *arg) {
  test_ctx_t *t = arg;
  t->shutdown_done = 1;
}

static void on_async(uv_async_t *a) {
  test_ctx_t *t = a->data;
  http_server_shutdown(t->srv, t->grace_ms, on_shutdown_done, t);
  uv_close((uv_handle_t *)a, NULL);
}

/* Called by the client thread (once) to stop the server. */
static void request_shutdown(test_ctx_t *t) {
  if (t->shutdown_sent) return;
  t->shutdown_sent = 1;
  uv_async_send(&t->async);
}

static void client_thread(void *arg) {
  test_ctx_t *t = arg;
  t->scenario(t);
  request_shutdown(t);
}

static void run_scenario(const http_server_opts_t *opts, scenario_fn fn, test_ctx_t *t) {
  memset(t, 0, sizeof(*t));
  t->grace_ms = 2000;
  t->scenario = fn;
  assert_int_equal(uv_loop_init(&t->loop), 0);
  assert_int_equal(http_server_new(&t->loop, opts, handler, t, &t->srv), 0);
  assert_int_equal(http_server_listen(t->srv, "127.0.0.1", 0), 0);
  t->port = http_server_port(t->srv);
  assert_true(t->port > 0);
  uv_async_init(&t->loop, &t->async, on_async);
  t->async.data = t;
  uv_thread_t th;
  assert_int_equal(uv_thread_create(&th, client_thread, t), 0);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_thread_join(&th);
  assert_true(t->shutdown_done);
  http_server_free(t->srv);
  /* every handle (server, connections, timers) is closed */
  assert_int_equal(uv_loop_close(&t->loop), 0);
  if (t->err[0]) fail_msg("%s", t->err);
}

/* ---------------- blocking client ---------------- */

typedef struct {
  int fd;
  char buf[1 << 19];
  size_t len;
} cli_t;

typedef struct {
  int status;
  char head[8192];
  char body[1 << 18];
  size_t body_len;
} resp_t;

static void check_failed(test_ctx_t *t, const char *file, int line, const char *cond,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void check_failed(test_ctx_t *t, const char *file, int line, const char *cond,
                         const char *fmt, ...) {
  if (t->err[0]) return;
  int n = snprintf(t->err, sizeof(t->err), "%s:%d: %s: ", file, line, cond);
  if (n < 0 || (size_t)n >= sizeof(t->err)) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err + n, sizeof(t->err) - (size_t)n, fmt, ap);
  va_end(ap);
}

/* Records the first failure and leaves the scenario (cmocka's asserts
 * longjmp, which must not happen on the client thread). */
#define CHECK(t, cond, ...)                                     \
  do {                                                          \
    if (!(cond)) {                                              \
      check_failed((t), __FILE__, __LINE__, #cond, __VA_ARGS__); \
      goto out;                                                 \
    }                                                           \
  } while (0)

static cli_t *cli_connect(int port) {
  cli_t *c = calloc(1, sizeof(*c));
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(c->fd);
    free(c);
    return NULL;
  }
  return c;
}

static void cli_close(cli_t *c) {
  if (!c) return;
  close(c->fd);
  free(c);
}

static int cli_send(cli_t *c, const char *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
    if (n <= 0) return -1;
    off += (size_t)n;
  }
  return 0;
}

static int cli_sends(cli_t *c, const char *s) { return cli_send(c, s, strlen(s)); }

/* >0 bytes read, 0 EOF, -1 error or timeout */
static ssize_t cli_fill(cli_t *c) {
  if (c->len == sizeof(c->buf)) return -1;
  ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
  if (n > 0) c->len += (size_t)n;
  return n < 0 ? -1 : n;
}

static const char *find_header(const char *head, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  const char *p = strstr(head, "\r\n");
  while (p && p[2]) {
    p += 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      size_t l = e ? (size_t)(e - v) : strlen(v);
      if (l >= outlen) l = outlen - 1;
      memcpy(out, v, l);
      out[l] = '\0';
      return out;
    }
    p = strstr(p, "\r\n");
  }
  return NULL;
}

/* Reads one response; head_only for answers to HEAD. 0 or -1. */
static int cli_response(cli_t *c, resp_t *r, int head_only) {
  char *end;
  memset(r, 0, offsetof(resp_t, body));
  for (;;) {
    if (c->len) {
      c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
      end = memmem(c->buf, c->len, "\r\n\r\n", 4);
      if (end) break;
    }
    if (cli_fill(c) <= 0) return -1;
  }
  size_t hl = (size_t)(end - c->buf) + 4;
  if (hl >= sizeof(r->head)) return -1;
  memcpy(r->head, c->buf, hl);
  r->head[hl] = '\0';
  if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
  char cl[32];
  size_t blen = 0;
  if (!head_only && find_header(r->head, "Content-Length", cl, sizeof(cl))) blen = strtoul(cl, NULL, 10);
  if (blen >= sizeof(r->body)) return -1;
  while (c->len < hl + blen)
    if (cli_fill(c) <= 0) return -1;
  memcpy(r->body, c->buf + hl, blen);
  r->body[blen] = '\0';
  r->body_len = blen;
  memmove(c->buf, c->buf + hl + blen, c->len - hl - blen);
  c->len -= hl + blen;
  return 0;
}

/* 1 when the server closes the connection (EOF or reset) within the timeout. */
static int cli_closed(cli_t *c) {
  char tmp[4096];
  for (;;) {
    ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
    if (n == 0) return 1;
    if (n < 0) return errno == ECONNRESET;
  }
}

static int has_header(const resp_t *r, const char *name, const char *value) {
  char v[256];
  return find_header(r->head, name, v, sizeof(v)) && strcasecmp(v, value) == 0;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---------------- scenarios ---------------- */

static resp_t R; /* one client thread at a time */

static void sc_pipelining(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /echo?x=1&y=%20 HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "first response");
  CHECK(t, R.status == 200, "%d", R.status);
  CHECK(t, strcmp(R.body, "hello") == 0, "%s", R.body);
  CHECK(t, has_header(&R, "Connection", "keep-alive"), "%s", R.head);
  CHECK(t, has_header(&R, "Server", "onair"), "%s", R.head);
  CHECK(t, has_header(&R, "Content-Length", "5"), "%s", R.head);
  CHECK(t, strncmp(R.head, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", R.head);
  CHECK(t, cli_response(c, &R, 0) == 0, "second response");
  CHECK(t, strcmp(R.body, "GET /echo x=1&y=%20 ip=127.0.0.1 len=0 body=") == 0, "%s", R.body);
out:
  cli_close(c);
}

static void sc_pipelining_deferred(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /defer?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /defer?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /defer-now HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc") == 0,
        "send");
  const char *want[] = {"deferred", "hello", "deferred", "now",
                        "POST /echo  ip=127.0.0.1 len=3 body=abc"};
  for (int i = 0; i < 5; i++) {
    CHECK(t, cli_response(c, &R, 0) == 0, "response %d", i);
    CHECK(t, R.status == 200 && strcmp(R.body, want[i]) == 0, "response %d: %d %s", i, R.status,
          R.body);
  }
out:
  cli_close(c);
}

static void sc_keepalive(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  for (int i = 0; i < 200; i++) {
    CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "send %d", i);
    CHECK(t, cli_response(c, &R, 0) == 0 && R.status == 200, "response %d", i);
  }
  CHECK(t, t->requests == 200, "%d", t->requests);
out:
  cli_close(c);
}

static void sc_head(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /big?n=50000 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 1) == 0, "head response");
  CHECK(t, R.status == 200 && has_header(&R, "Content-Length", "5"), "%s", R.head);
  CHECK(t, cli_response(c, &R, 1) == 0, "head big response");
  CHECK(t, has_header(&R, "Content-Length", "50000"), "%s", R.head);
  /* had the server sent a body, it would be read here instead of a status line */
  CHECK(t, cli_response(c, &R, 0) == 0, "get response");
  CHECK(t, R.status == 200 && strcmp(R.body, "hello") == 0, "%d %s", R.status, R.body);
out:
  cli_close(c);
}

static void sc_bodies(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "POST /echo?a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello") == 0, "s");
  sleep_ms(20); /* the body arrives in two reads */
  CHECK(t, cli_sends(c, " world") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "response");
  CHECK(t, strcmp(R.body, "POST /echo a ip=127.0.0.1 len=11 body=hello world") == 0, "%s", R.body);
  CHECK(t, cli_sends(c, "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "chunked response");
  CHECK(t, strcmp(R.body, "PUT /echo  ip=127.0.0.1 len=7 body=abcdefg") == 0, "%s", R.body);
  CHECK(t, cli_sends(c, "GET /hdr HTTP/1.1\r\nHost: x\r\nX-Test:   spaced value  \r\n\r\n") == 0, "s");
  CHECK(t, cli_response(c, &R, 0) == 0, "hdr response");
  CHECK(t, strcmp(R.body, "spaced value") == 0, "[%s]", R.body);
  CHECK(t, cli_sends(c, "GET /hdr HTTP/1.1\r\nHost: x\r\nX-Test:\r\n\r\n") == 0, "s");
  CHECK(t, cli_response(c, &R, 0) == 0, "empty hdr response");
  CHECK(t, strcmp(R.body, "") == 0, "[%s]", R.body);
  CHECK(t, cli_sends(c, "GET http://example.com/echo?q=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "s");
  CHECK(t, cli_response(c, &R, 0) == 0, "absolute-form response");
  CHECK(t, strcmp(R.body, "GET /echo q=1 ip=127.0.0.1 len=0 body=") == 0, "[%s]", R.body);
out:
  cli_close(c);
}

static void sc_responses(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  char v[64];
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /json HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "json");
  CHECK(t, R.status == 201 && strcmp(R.body, "{\"status\":\"ok\",\"n\":42}") == 0, "%s", R.body);
  CHECK(t, has_header(&R, "Content-Type", "application/json"), "%s", R.head);
  CHECK(t, strncmp(R.head, "HTTP/1.1 201 Created\r\n", 22) == 0, "%s", R.head);
  CHECK(t, cli_sends(c, "GET /error HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "error");
  CHECK(t, R.status == 409, "%d", R.status);
  CHECK(t, strcmp(R.body, "{\"error\":{\"code\":\"conflict\",\"message\":\"it is live\",\"field\":\"id\"}}") == 0,
        "%s", R.body);
  CHECK(t, cli_sends(c, "GET /nocontent HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 1) == 0 && R.status == 204, "204");
  CHECK(t, !find_header(R.head, "Content-Length", v, sizeof(v)), "%s", R.head);
  CHECK(t, cli_response(c, &R, 0) == 0 && strcmp(R.body, "hello") == 0, "after 204: %s", R.body);
  CHECK(t, cli_sends(c, "GET /badheader HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "badheader");
  CHECK(t, !strstr(R.head, "Set-Cookie") && !strstr(R.head, "X-Evil"), "%s", R.head);
  CHECK(t, has_header(&R, "Content-Length", "2") && strcmp(R.body, "ok") == 0, "%s", R.head);
  CHECK(t, cli_sends(c, "GET /big HTTP/1.1\r\n\r\nGET /bigcopy HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && R.body_len == 100000, "big");
  for (size_t i = 0; i < R.body_len; i++) CHECK(t, R.body[i] == (char)('a' + i % 26), "byte %zu", i);
  CHECK(t, cli_response(c, &R, 0) == 0 && R.body_len == 200000, "bigcopy");
  for (size_t i = 0; i < R.body_len; i++) CHECK(t, R.body[i] == (char)('A' + i % 26), "byte %zu", i);
out:
  cli_close(c);
}

static void expect_error_close(test_ctx_t *t, const char *req, size_t reqlen, int status,
                               const char *code) {
  cli_t *c = cli_connect(t->port);
  char want[128];
  CHECK(t, c, "connect");
  cli_send(c, req, reqlen); /* the server may stop reading early */
  CHECK(t, cli_response(c, &R, 0) == 0, "no response for %d", status);
  CHECK(t, R.status == status, "want %d got %d %s", status, R.status, R.body);
  CHECK(t, has_header(&R, "Connection", "close"), "%s", R.head);
  CHECK(t, has_header(&R, "Content-Type", "application/json"), "%s", R.head);
  snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\",", code);
  CHECK(t, strncmp(R.body, want, strlen(want)) == 0, "%s", R.body);
  CHECK(t, strstr(R.body, "\"field\":null}}"), "%s", R.body);
  CHECK(t, cli_closed(c), "connection stays open after %d", status);
out:
  cli_close(c);
}

static void expect_error_close_s(test_ctx_t *t, const char *req, int status, const char *code) {
  expect_error_close(t, req, strlen(req), status, code);
}

static void sc_limits(test_ctx_t *t) {
  static char req[8192];
  /* Content-Length over the limit: answered before the body is read */
  snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  size_t n = strlen(req);
  memset(req + n, 'x', 5000);
  expect_error_close(t, req, n + 5000, 413, "payload_too_large");
  /* chunked body whose total goes over the limit */
  n = (size_t)snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 3; i++) {
    n += (size_t)snprintf(req + n, sizeof(req) - n, "200\r\n");
    memset(req + n, 'y', 512);
    n += 512;
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
  }
  n += (size_t)snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
  expect_error_close(t, req, n, 413, "payload_too_large");
  /* headers over the limit */
  n = (size_t)snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(req + n, 'h', 3000);
  n += 3000;
  n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n\r\n");
  expect_error_close(t, req, n, 431, "request_header_fields_too_large");
  /* many small headers over the limit */
  n = (size_t)snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\n");
  for (int i = 0; i < 200; i++) n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: v\r\n", i);
  n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
  expect_error_close(t, req, n, 431, "request_header_fields_too_large");
  /* garbage */
  expect_error_close_s(t, "HELLO WORLD\r\n\r\n", 400, "bad_request");
  expect_error_close_s(t, "GET /hello HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
                       400, "bad_request");
  expect_error_close_s(t, "GET /hello HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                       "bad_request");
  /* a request after an error is never answered */
  expect_error_close_s(t, "GET /a b c\r\n\r\nGET /hello HTTP/1.1\r\n\r\n", 400, "bad_request");
  /* the server still works */
  {
    cli_t *c = cli_connect(t->port);
    CHECK(t, c, "connect");
    cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
    int ok = cli_response(c, &R, 0) == 0 && R.status == 200;
    cli_close(c);
    CHECK(t, ok, "after errors");
  }
out:;
}

static void sc_close_semantics(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && R.status == 200, "1.0 response");
  CHECK(t, has_header(&R, "Connection", "close"), "%s", R.head);
  CHECK(t, cli_closed(c), "1.0 without keep-alive stays open");
  cli_close(c);

  c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && has_header(&R, "Connection", "keep-alive"), "%s", R.head);
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && has_header(&R, "Connection", "close"), "%s", R.head);
  CHECK(t, cli_closed(c), "Connection: close stays open");
  cli_close(c);

  /* half-close after pipelined requests: all answered, then closed */
  c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /defer?ms=30 HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n") == 0, "send");
  shutdown(c->fd, SHUT_WR);
  CHECK(t, cli_response(c, &R, 0) == 0 && strcmp(R.body, "deferred") == 0, "half-close 1");
  CHECK(t, cli_response(c, &R, 0) == 0 && strcmp(R.body, "hello") == 0, "half-close 2");
  CHECK(t, cli_closed(c), "half-closed connection stays open");
  cli_close(c);

  /* 100-continue */
  c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n") == 0,
        "send");
  CHECK(t, cli_response(c, &R, 1) == 0 && R.status == 100, "100 continue: %d", R.status);
  CHECK(t, cli_sends(c, "hi") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && R.status == 200, "after continue");
  CHECK(t, strstr(R.body, "body=hi") != NULL, "%s", R.body);
out:
  cli_close(c);
}

static void sc_client_gone(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /defer?ms=150 HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n") == 0, "send");
  sleep_ms(30);
  /* RST instead of FIN: the server sees an error and closes at once */
  struct linger lg = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  cli_close(c);
  c = cli_connect(t->port);
  CHECK(t, c, "connect 2");
  CHECK(t, cli_sends(c, "GET /defer?ms=150 HTTP/1.1\r\n\r\n") == 0, "send");
  sleep_ms(30);
  cli_close(c); /* plain FIN while deferred */
  c = NULL;
  sleep_ms(300); /* the deferred responses finish after their clients left */
  c = cli_connect(t->port);
  CHECK(t, c, "connect 3");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0 && R.status == 200, "server alive");
out:
  cli_close(c);
}

static void sc_timeouts(test_ctx_t *t) {
  /* idle keep-alive connection is closed after idle_timeout_ms (300) */
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n") == 0, "send");
  CHECK(t, cli_response(c, &R, 0) == 0, "response");
  uint64_t t0 = uv_hrtime();
  CHECK(t, cli_closed(c), "idle connection not closed");
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  CHECK(t, ms >= 200 && ms < 2000, "idle closed after %llu ms", (unsigned long long)ms);
  cli_close(c);

  /* slowloris: headers never finish → 408 and close after request_timeout_ms (200) */
  c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ") == 0, "send");
  t0 = uv_hrtime();
  for (int i = 0; i < 3; i++) {
    sleep_ms(50);
    cli_sends(c, "a");
  }
  CHECK(t, cli_response(c, &R, 0) == 0 && R.status == 408, "slow headers: %d", R.status);
  CHECK(t, strstr(R.body, "request_timeout") != NULL, "%s", R.body);
  CHECK(t, cli_closed(c), "slow connection not closed");
  ms = (uv_hrtime() - t0) / 1000000;
  CHECK(t, ms < 2000, "slow closed after %llu ms", (unsigned long long)ms);
out:
  cli_close(c);
}

static void sc_max_connections(test_ctx_t *t) {
  cli_t *a = cli_connect(t->port), *b = cli_connect(t->port), *c = NULL;
  CHECK(t, a && b, "connect");
  CHECK(t, cli_sends(a, "GET /hello HTTP/1.1\r\n\r\n") == 0 && cli_response(a, &R, 0) == 0, "a");
  CHECK(t, cli_sends(b, "GET /hello HTTP/1.1\r\n\r\n") == 0 && cli_response(b, &R, 0) == 0, "b");
  c = cli_connect(t->port);
  CHECK(t, c, "connect c");
  cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
  CHECK(t, cli_closed(c), "third connection over max_connections=2 not closed");
  cli_close(c);
  cli_close(b);
  b = NULL;
  sleep_ms(50);
  c = cli_connect(t->port);
  CHECK(t, c, "connect after a slot freed");
  CHECK(t, cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n") == 0 && cli_response(c, &R, 0) == 0, "c");
out:
  cli_close(a);
  cli_close(b);
  cli_close(c);
}

static void sc_shutdown(test_ctx_t *t) {
  cli_t *idle = cli_connect(t->port), *busy = cli_connect(t->port);
  CHECK(t, idle && busy, "connect");
  CHECK(t, cli_sends(idle, "GET /hello HTTP/1.1\r\n\r\n") == 0 && cli_response(idle, &R, 0) == 0, "i");
  CHECK(t, cli_sends(busy, "GET /defer?ms=200 HTTP/1.1\r\n\r\n") == 0, "send");
  sleep_ms(50);
  request_shutdown(t);
  CHECK(t, cli_closed(idle), "idle connection not closed by shutdown");
  CHECK(t, cli_response(busy, &R, 0) == 0, "in-flight response lost");
  CHECK(t, strcmp(R.body, "deferred") == 0 && has_header(&R, "Connection", "close"), "%s", R.head);
  CHECK(t, cli_closed(busy), "busy connection not closed after its response");
  cli_t *late = cli_connect(t->port);
  CHECK(t, late == NULL || cli_closed(late), "accepted after shutdown");
  cli_close(late);
out:
  cli_close(idle);
  cli_close(busy);
}

static void sc_shutdown_grace(test_ctx_t *t) {
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_sends(c, "GET /defer?ms=1500 HTTP/1.1\r\n\r\n") == 0, "send");
  sleep_ms(50);
  uint64_t t0 = uv_hrtime();
  request_shutdown(t); /* grace 200 ms: the deferred response is cut off */
  CHECK(t, cli_closed(c), "not closed at the end of grace");
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  CHECK(t, ms < 1200, "closed after %llu ms", (unsigned long long)ms);
out:
  cli_close(c);
}

static void sc_many_pipelined(test_ctx_t *t) {
  /* enough pipelined requests to fill several reads and write batches */
  enum { N = 2000 };
  static char big[N * 40];
  size_t n = 0;
  for (int i = 0; i < N; i++)
    n += (size_t)snprintf(big + n, sizeof(big) - n, "GET /echo?i=%d HTTP/1.1\r\n\r\n", i);
  cli_t *c = cli_connect(t->port);
  CHECK(t, c, "connect");
  CHECK(t, cli_send(c, big, n) == 0, "send");
  for (int i = 0; i < N; i++) {
    char want[64];
    snprintf(want, sizeof(want), "GET /echo i=%d ip=127.0.0.1 len=0 body=", i);
    CHECK(t, cli_response(c, &R, 0) == 0, "response %d", i);
    CHECK(t, strcmp(R.body, want) == 0, "response %d: %s", i, R.body);
  }
out:
  cli_close(c);
}

/* ---------------- tests ---------------- */

static test_ctx_t T;

static void test_pipelining(void **s) { (void)s; run_scenario(NULL, sc_pipelining, &T); }
static void test_pipelining_deferred(void **s) { (void)s; run_scenario(NULL, sc_pipelining_deferred, &T); }
static void test_keepalive(void **s) { (void)s; run_scenario(NULL, sc_keepalive, &T); }
static void test_head(void **s) { (void)s; run_scenario(NULL, sc_head, &T); }
static void test_bodies(void **s) { (void)s; run_scenario(NULL, sc_bodies, &T); }
static void test_responses(void **s) { (void)s; run_scenario(NULL, sc_responses, &T); }
static void test_many_pipelined(void **s) { (void)s; run_scenario(NULL, sc_many_pipelined, &T); }

static void test_limits(void **s) {
  (void)s;
  http_server_opts_t o = {.max_header_bytes = 1024, .max_body_bytes = 1024};
  run_scenario(&o, sc_limits, &T);
}

static void test_close_semantics(void **s) { (void)s; run_scenario(NULL, sc_close_semantics, &T); }
static void test_client_gone(void **s) { (void)s; run_scenario(NULL, sc_client_gone, &T); }

static void test_timeouts(void **s) {
  (void)s;
  http_server_opts_t o = {.idle_timeout_ms = 300, .request_timeout_ms = 200};
  run_scenario(&o, sc_timeouts, &T);
}

static void test_max_connections(void **s) {
  (void)s;
  http_server_opts_t o = {.max_connections = 2};
  run_scenario(&o, sc_max_connections, &T);
}

static void test_shutdown(void **s) { (void)s; run_scenario(NULL, sc_shutdown, &T); }

static void test_shutdown_grace(void **s) {
  (void)s;
  /* run_scenario sets grace_ms to 2000; this scenario wants 200 */
  memset(&T, 0, sizeof(T));
  test_ctx_t *t = &T;
  t->scenario = sc_shutdown_grace;
  assert_int_equal(uv_loop_init(&t->loop), 0);
  assert_int_equal(http_server_new(&t->loop, NULL, handler, t, &t->srv), 0);
  assert_int_equal(http_server_listen(t->srv, "127.0.0.1", 0), 0);
  t->port = http_server_port(t->srv);
  t->grace_ms = 200;
  uv_async_init(&t->loop, &t->async, on_async);
  t->async.data = t;
  uv_thread_t th;
  assert_int_equal(uv_thread_create(&th, client_thread, t), 0);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_thread_join(&th);
  assert_true(t->shutdown_done);
  http_server_free(t->srv);
  assert_int_equal(uv_loop_close(&t->loop), 0);
  if (t->err[0]) fail_msg("%s", t->err);
}

static void test_listen_errors(void **s) {
  (void)s;
  uv_loop_t loop;
  http_server_t *srv, *srv2;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(http_server_new(&loop, NULL, handler, NULL, &srv), 0);
  assert_int_equal(http_server_listen(srv, "not-an-ip", 0), ERR_INVALID);
  assert_int_equal(http_server_listen(srv, "127.0.0.1", 0), 0);
  assert_int_equal(http_server_new(&loop, NULL, handler, NULL, &srv2), 0);
  assert_int_equal(http_server_listen(srv2, "127.0.0.1", http_server_port(srv)), ERR_IO);
  http_server_shutdown(srv, 100, NULL, NULL);
  http_server_shutdown(srv2, 100, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  http_server_free(srv);
  http_server_free(srv2);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---------------- pure functions ---------------- */

static void test_query_next(void **s) {
  (void)s;
  char k[16], v[16];
  const char *cur = "a=1&b=hello+world&&c&d=%41%2f&=e&";
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "a");
  assert_string_equal(v, "1");
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "b");
  assert_string_equal(v, "hello world");
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "c");
  assert_string_equal(v, "");
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "d");
  assert_string_equal(v, "A/");
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "");
  assert_string_equal(v, "e");
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 0);
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 0);

  cur = "";
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 0);
  /* bad escapes, escaped NUL, over-long key or value */
  const char *bad[] = {"a=%zz", "a=%4", "a=%", "%g1=1", "a=%00", "0123456789abcdef=1",
                       "a=0123456789abcdef"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cur = bad[i];
    assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), ERR_INVALID);
  }
  /* after an error the cursor moves on */
  cur = "a=%zz&b=2";
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), ERR_INVALID);
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(k, "b");
  /* exactly fitting: 15 chars + NUL */
  cur = "0123456789abcde=0123456789abcde";
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(v, "0123456789abcde");
  /* '=' inside a value is kept */
  cur = "f=a=b";
  assert_int_equal(http_query_next(&cur, k, sizeof(k), v, sizeof(v)), 1);
  assert_string_equal(v, "a=b");
}

static void test_url_decode(void **s) {
  (void)s;
  char a[] = "a%2Fb%20c+d%e2%82%AC";
  assert_int_equal(http_url_decode(a), 0);
  assert_string_equal(a, "a/b c+d\xe2\x82\xac");
  char b[] = "%";
  assert_int_equal(http_url_decode(b), ERR_INVALID);
  char c[] = "x%1";
  assert_int_equal(http_url_decode(c), ERR_INVALID);
  char d[] = "%00";
  assert_int_equal(http_url_decode(d), ERR_INVALID);
  char e[] = "";
  assert_int_equal(http_url_decode(e), 0);
  char out[4];
  assert_int_equal(http__pct_decode("abc", 3, out, sizeof(out), 0), 3);
  assert_int_equal(http__pct_decode("abcd", 4, out, sizeof(out), 0), -1);
  assert_int_equal(http__pct_decode("%41%42%43", 9, out, sizeof(out), 0), 3);
}

static void test_detached_response(void **s) {
  (void)s;
  http_response_t *res = http__response_detached_new();
  char v[64];
  size_t len;
  assert_non_null(res);
  http_response_error(res, 400, "invalid_request", "bad \xff utf8", NULL);
  assert_int_equal(res->status, 400);
  const char *b = http__response_body(res, &len);
  assert_string_equal(b, "{\"error\":{\"code\":\"invalid_request\",\"message\":\"(message not valid UTF-8)\",\"field\":null}}");
  assert_string_equal(http__response_header(res, "content-type", v, sizeof(v)), "application/json");
  /* a second JSON body replaces Content-Type instead of repeating it */
  json_t *j = json_pack("[i]", 1);
  http_response_json(res, 200, j);
  json_decref(j);
  assert_string_equal(http__response_body(res, &len), "[1]");
  char hdrs[256];
  assert_true(res->headers.len < sizeof(hdrs));
  memcpy(hdrs, res->headers.data, res->headers.len);
  hdrs[res->headers.len] = '\0';
  assert_string_equal(hdrs, "Content-Type: application/json\r\n");
  /* defer + finish on a detached response only marks it */
  http_response_defer(res);
  http_response_finish(res);
  assert_true(res->finished);

  http_buf_t out = {0};
  int has_body;
  http__response_reset(res);
  http_response_status(res, 404);
  assert_int_equal(http__response_head(res, 1, &out, &has_body), 0);
  assert_int_equal(http__buf_append(&out, "", 1), 0);
  assert_true(has_body);
  assert_non_null(strstr(out.data, "HTTP/1.1 404 Not Found\r\n"));
  assert_non_null(strstr(out.data, "Content-Length: 0\r\n"));
  assert_non_null(strstr(out.data, "Connection: keep-alive\r\n"));
  http__buf_free(&out);
  assert_string_equal(http__status_reason(431), "Request Header Fields Too Large");
  assert_string_equal(http__status_reason(299), "Success");
  http__response_detached_free(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_next),
      cmocka_unit_test(test_url_decode),
      cmocka_unit_test(test_detached_response),
      cmocka_unit_test(test_pipelining),
      cmocka_unit_test(test_pipelining_deferred),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_head),
      cmocka_unit_test(test_bodies),
      cmocka_unit_test(test_responses),
      cmocka_unit_test(test_many_pipelined),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_close_semantics),
      cmocka_unit_test(test_client_gone),
      cmocka_unit_test(test_timeouts),
      cmocka_unit_test(test_max_connections),
      cmocka_unit_test(test_shutdown),
      cmocka_unit_test(test_shutdown_grace),
      cmocka_unit_test(test_listen_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
