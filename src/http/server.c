/* server.c — HTTP/1.1 connections on libuv with http-parser.
 *
 * One request at a time per connection: the parser is paused at the end of
 * every message, the handler runs, and only when its response is queued does
 * parsing go on with the bytes that followed (pipelining). While a response
 * is deferred the unparsed bytes wait in conn->in, so responses always leave
 * in request order.
 *
 * Output is batched: responses are appended to a "fill" batch (headers and
 * small bodies copied inline, large bodies referenced) and written in one
 * go; a second batch fills while the first is in flight.
 *
 * Writing a batch first tries the socket directly, while libuv has nothing
 * queued on it (so bytes cannot overtake each other): sendmsg() for the
 * bytes in memory and sendfile() for bodies that are also in a file
 * (http_response_body_ref_fd: segments in memfds go from the page cache to
 * the socket without a copy through user space). Whatever the socket does
 * not take at once goes to uv_write from memory, and libuv waits for the
 * socket. A response that leaves at once also costs libuv no write request
 * and no epoll_ctl() on its completion.
 *
 * A connection is freed only when its handle's close callback has run AND no
 * deferred response refers to it any more (refs).
 *
 * Closing after an error or "Connection: close": flush, shut the write side
 * down, then keep reading and discarding until the peer closes or a short
 * linger deadline passes. Closing at once would make the kernel answer
 * unread request bytes with a RST that can destroy our response in flight.
 */
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/err.h"
#include "core/log.h"
#include "http/http_internal.h"

#define READ_BUF_SIZE (64 * 1024)
#define INLINE_BODY_MAX (32 * 1024) /* larger bodies are written from their own buffer */
#define OUT_HIGH_WATER (1024 * 1024) /* stop parsing while this much output is unsent */
#define IN_HIGH_WATER (64 * 1024)    /* stop reading while this much input waits */
#define LINGER_MS 5000
#define SHUTDOWN_LINGER_MS 1000
#define SEND_IOV 64 /* memory pieces per sendmsg() */

typedef enum {
  CONN_IDLE,     /* waiting for the next request (idle timeout) */
  CONN_READING,  /* a request has begun (request timeout) */
  CONN_HANDLING, /* the handler or a deferred response has it */
  CONN_LINGER,   /* response sent, write side shut, draining input */
} conn_state_t;

typedef struct {
  char *owned; /* NULL: bytes [off, off+len) of the batch buffer */
  size_t off, len;
  void (*release)(void *ud); /* lets go of `owned` once written */
  void *release_ud;
  int fd;         /* >= 0: `owned` is also in this file, at fd_off (sendfile) */
  off_t fd_off;
} out_seg_t;

typedef struct conn conn_t;

typedef struct {
  uv_write_t req;
  conn_t *conn;
  http_buf_t buf;
  out_seg_t *segs;
  uv_buf_t *uvbufs;
  size_t nsegs, capsegs;
  size_t bytes; /* total bytes queued in this batch */
} out_batch_t;

typedef struct {
  size_t name_off, val_off;
} hdr_t;

enum { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

struct conn {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_shutdown_t shut;
  http_server_t *srv;
  conn_t *prev, *next;
  int refs;
  http_parser parser;
  conn_state_t state;
  uint64_t deadline; /* loop time in ms; 0 = none */

  /* the request being parsed / handled */
  http_buf_t hbuf; /* url and header strings, NUL-separated */
  hdr_t *hdrs;
  size_t nhdrs, caphdrs;
  size_t url_off;
  size_t hdr_bytes;
  int last_cb;
  int headers_done;
  http_buf_t body;
  http_request_t req;
  http_response_t res;
  int err_status; /* set by parser callbacks: 413 or 431 */
  int keep;       /* the current request allows keep-alive */

  http_buf_t in; /* unparsed input, while a response is pending */
  out_batch_t batches[2];
  int fill;     /* index of the batch being filled */
  int writing;  /* the other batch is in flight */

  unsigned closed : 1;         /* uv_close called */
  unsigned closing : 1;        /* no more requests: close once output is flushed */
  unsigned reading : 1;        /* uv_read_start active */
  unsigned eof : 1;            /* the peer sent FIN */
  unsigned shut_started : 1;   /* uv_shutdown issued */
  unsigned processing : 1;     /* inside conn_feed (reentrancy guard) */
  unsigned deferred_ref : 1;   /* holds a ref for a deferred response */
  unsigned resume_queued : 1;  /* on srv->resume_head, holding a ref */
  conn_t *resume_next;
  char remote_ip[64];
};

struct http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t sweep; /* checks connection deadlines */
  uv_timer_t grace; /* shutdown grace period */
  uv_idle_t resume; /* runs conn_resume for finished deferred responses */
  conn_t *resume_head;
  http_server_opts_t opts;
  http_handler_fn handler;
  void *ud;
  conn_t *conns;
  unsigned nconns;
  int listening;
  int shutting_down;
  int handles_open; /* listener + 2 timers + resume, until shutdown closes them */
  int timers_closing;
  void (*done)(void *arg);
  void *done_arg;
  char rbuf[READ_BUF_SIZE];
};

static http_parser_settings parser_settings;

static void conn_close(conn_t *c);
static void conn_flush(conn_t *c);
static void conn_resume(conn_t *c);
static void server_check_done(http_server_t *srv);

/* ---------------- connection lifetime ---------------- */

static void batch_reset(out_batch_t *b) {
  for (size_t i = 0; i < b->nsegs; i++)
    if (b->segs[i].owned && b->segs[i].release) b->segs[i].release(b->segs[i].release_ud);
  b->nsegs = 0;
  b->buf.len = 0;
  b->bytes = 0;
  if (b->buf.cap > 256 * 1024) http__buf_free(&b->buf);
}

static void batch_free(out_batch_t *b) {
  batch_reset(b);
  http__buf_free(&b->buf);
  free(b->segs);
  free(b->uvbufs);
  b->segs = NULL;
  b->uvbufs = NULL;
  b->capsegs = 0;
}

static void conn_unref(conn_t *c) {
  if (--c->refs > 0) return;
  http__buf_free(&c->hbuf);
  http__buf_free(&c->body);
  http__buf_free(&c->in);
  free(c->hdrs);
  http__response_clear(&c->res);
  batch_free(&c->batches[0]);
  batch_free(&c->batches[1]);
  free(c);
}

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = (conn_t *)h;
  http_server_t *srv = c->srv;
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  c->srv = NULL;
  conn_unref(c);
  server_check_done(srv);
}

static void conn_close(conn_t *c) {
  if (c->closed) return;
  c->closed = 1;
  c->closing = 1;
  c->deadline = 0;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void conn_read_stop(conn_t *c) {
  if (c->reading && !c->closed) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void conn_read_start(conn_t *c) {
  if (c->reading || c->closed || c->eof) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  else conn_close(c);
}

/* ---------------- output ---------------- */

static void release_free(void *p) { free(p); }

static int batch_add_seg(out_batch_t *b, char *owned, size_t off, size_t len,
                         void (*release)(void *), void *release_ud, int fd, off_t fd_off) {
  if (b->nsegs == b->capsegs) {
    size_t cap = b->capsegs ? b->capsegs * 2 : 8;
    out_seg_t *s = realloc(b->segs, cap * sizeof(*s));
    if (!s) return ERR_NOMEM;
    b->segs = s;
    uv_buf_t *u = realloc(b->uvbufs, cap * sizeof(*u));
    if (!u) return ERR_NOMEM;
    b->uvbufs = u;
    b->capsegs = cap;
  }
  b->segs[b->nsegs++] = (out_seg_t){owned, off, len, release, release_ud, fd, fd_off};
  b->bytes += len;
  return 0;
}

/* Marks [from, buf.len) of the batch buffer as the next output segment,
 * merging with the previous inline segment. */
static int batch_commit_inline(out_batch_t *b, size_t from) {
  size_t len = b->buf.len - from;
  if (len == 0) return 0;
  if (b->nsegs && !b->segs[b->nsegs - 1].owned &&
      b->segs[b->nsegs - 1].off + b->segs[b->nsegs - 1].len == from) {
    b->segs[b->nsegs - 1].len += len;
    b->bytes += len;
    return 0;
  }
  return batch_add_seg(b, NULL, from, len, NULL, NULL, -1, 0);
}

static int out_append(conn_t *c, const void *data, size_t len) {
  out_batch_t *b = &c->batches[c->fill];
  size_t from = b->buf.len;
  if (http__buf_append(&b->buf, data, len) < 0) return ERR_NOMEM;
  return batch_commit_inline(b, from);
}

static void on_write(uv_write_t *req, int status);

static void conn_begin_linger(conn_t *c);

static char *seg_bytes(out_batch_t *b, out_seg_t *s) {
  return s->owned ? s->owned : b->buf.data + s->off;
}

static int would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS; }

/* Sends as much of batch b as the socket takes right now, bypassing libuv
 * (see the top of this file). Returns the number of bytes sent (the rest is
 * for uv_write), or -1 when the connection is broken. */
static ssize_t conn_send_now(conn_t *c, out_batch_t *b) {
  uv_os_fd_t sock;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0 ||
      uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0)
    return 0;
  size_t sent = 0, i = 0;
  struct iovec iov[SEND_IOV];
  while (i < b->nsegs) {
    out_seg_t *s = &b->segs[i];
    if (s->fd >= 0) {
      off_t off = s->fd_off;
      size_t left = s->len;
      while (left) {
        ssize_t n = sendfile(sock, s->fd, &off, left);
        if (n > 0) {
          left -= (size_t)n;
          sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n == 0 || would_block(errno) || errno == EINVAL || errno == ENOSYS) {
          return (ssize_t)sent; /* full (or no sendfile here): libuv writes the rest */
        } else {
          return -1;
        }
      }
      i++;
      continue;
    }
    /* Consecutive pieces in memory go out in one sendmsg(); MSG_MORE when a
     * file body follows, so headers and body leave in the same packets. */
    int n = 0;
    size_t want = 0, j = i;
    for (; j < b->nsegs && b->segs[j].fd < 0 && n < SEND_IOV; j++, n++) {
      iov[n].iov_base = seg_bytes(b, &b->segs[j]);
      iov[n].iov_len = b->segs[j].len;
      want += b->segs[j].len;
    }
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (j < b->nsegs ? MSG_MORE : 0);
    ssize_t w;
    do w = sendmsg(sock, &mh, flags);
    while (w < 0 && errno == EINTR);
    if (w < 0) return would_block(errno) ? (ssize_t)sent : -1;
    sent += (size_t)w;
    if ((size_t)w < want) return (ssize_t)sent;
    i = j;
  }
  return (ssize_t)sent;
}

/* Writes the fill batch if nothing is in flight; when everything is out
 * and the connection is closing, moves on to the lingering close. */
static void conn_flush(conn_t *c) {
  if (c->closed || c->writing) return;
  out_batch_t *b = &c->batches[c->fill];
  if (b->nsegs == 0) {
    if (c->closing && !c->processing && !c->res.deferred) conn_begin_linger(c);
    return;
  }
  ssize_t sent = conn_send_now(c, b);
  if (sent < 0) {
    batch_reset(b);
    conn_close(c);
    return;
  }
  if ((size_t)sent == b->bytes) {
    batch_reset(b);
    if (c->closing && !c->processing && !c->res.deferred) conn_begin_linger(c);
    return;
  }
  /* The rest, from memory, through libuv (which waits for the socket). */
  size_t nbufs = 0, skip = (size_t)sent;
  for (size_t i = 0; i < b->nsegs; i++) {
    out_seg_t *s = &b->segs[i];
    if (skip >= s->len) {
      skip -= s->len;
      continue;
    }
    b->uvbufs[nbufs++] = uv_buf_init(seg_bytes(b, s) + skip, (unsigned)(s->len - skip));
    skip = 0;
  }
  b->conn = c;
  b->req.data = b;
  int rc = uv_write(&b->req, (uv_stream_t *)&c->tcp, b->uvbufs, (unsigned)nbufs, on_write);
  if (rc < 0) {
    batch_reset(b);
    conn_close(c);
    return;
  }
  c->writing = 1;
  c->fill ^= 1;
}

static void on_write(uv_write_t *req, int status) {
  out_batch_t *b = req->data;
  conn_t *c = b->conn;
  batch_reset(b);
  c->writing = 0;
  if (c->closed) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  conn_flush(c);
  /* Parsing may have stopped because too much output was waiting. */
  if (!c->writing || c->batches[c->fill].bytes < OUT_HIGH_WATER) conn_resume(c);
}

/* Queues the response of the current request on the fill batch. */
static void conn_queue_response(conn_t *c) {
  http_response_t *res = &c->res;
  http_server_t *srv = c->srv;
  int keep = c->keep && !c->closing && srv && !srv->shutting_down;
  int is_head = c->parser.method == HTTP_HEAD;
  out_batch_t *b = &c->batches[c->fill];
  size_t from = b->buf.len;
  int has_body = 0;
  if (http__response_head(res, keep, &b->buf, &has_body) < 0 ||
      batch_commit_inline(b, from) < 0) {
    b->buf.len = from;
    conn_close(c);
    return;
  }
  size_t blen;
  const char *body = http__response_body(res, &blen);
  if (has_body && !is_head && blen > 0) {
    int rc;
    if (blen <= INLINE_BODY_MAX) {
      rc = out_append(c, body, blen);
    } else if (res->owned) {
      rc = batch_add_seg(b, res->owned, 0, blen, res->release, res->release_ud, res->owned_fd,
                         (off_t)res->owned_off);
      if (rc == 0) res->owned = NULL, res->owned_len = 0, res->release = NULL, res->owned_fd = -1;
    } else {
      /* Hand the copied body buffer over instead of copying it again. */
      rc = batch_add_seg(b, res->body.data, 0, blen, release_free, res->body.data, -1, 0);
      if (rc == 0) res->body.data = NULL, res->body.len = res->body.cap = 0;
    }
    if (rc < 0) {
      conn_close(c);
      return;
    }
  }
  if (!keep) c->closing = 1;
}

/* The handler's response is complete: queue it and become idle. */
static void conn_send_response(conn_t *c) {
  if (c->closed) {
    http__response_reset(&c->res);
    return;
  }
  conn_queue_response(c);
  http__response_reset(&c->res);
  if (c->closed) return;
  if (!c->closing && c->srv) {
    c->state = CONN_IDLE;
    c->deadline = uv_now(c->srv->loop) + c->srv->opts.idle_timeout_ms;
  }
}

/* Answers a request that cannot be handled, then closes. */
static void conn_fail(conn_t *c, int status, const char *code, const char *message) {
  if (c->closed) return;
  http__response_reset(&c->res);
  http_response_error(&c->res, status, code, message, NULL);
  http_response_cors(&c->res); /* a page's script can read why (docs/api.md: every answer) */
  c->keep = 0;
  /* A HEAD request line may have been parsed; the error needs its body. */
  c->parser.method = HTTP_GET;
  conn_send_response(c);
  c->closing = 1;
}

/* ---------------- lingering close ---------------- */

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = req->data;
  if (c->closed) return;
  if (status < 0 || c->eof) conn_close(c);
}

static void conn_begin_linger(conn_t *c) {
  if (c->closed || c->state == CONN_LINGER) return;
  if (c->eof) {
    conn_close(c);
    return;
  }
  c->state = CONN_LINGER;
  unsigned ms = c->srv && c->srv->shutting_down ? SHUTDOWN_LINGER_MS : LINGER_MS;
  if (c->srv && c->srv->opts.request_timeout_ms < ms) ms = c->srv->opts.request_timeout_ms;
  c->deadline = uv_now(c->srv->loop) + ms;
  c->in.len = 0;
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    conn_close(c);
    return;
  }
  c->shut_started = 1;
  conn_read_start(c);
}

/* ---------------- parser callbacks ---------------- */

static int hbuf_nul(conn_t *c) {
  if (http__buf_append(&c->hbuf, "", 1) < 0) {
    c->err_status = 500;
    return -1;
  }
  return 0;
}

static int count_header_bytes(conn_t *c, size_t n) {
  c->hdr_bytes += n;
  if (c->hdr_bytes > c->srv->opts.max_header_bytes) {
    c->err_status = 431;
    return -1;
  }
  return 0;
}

static int on_message_begin(http_parser *p) {
  conn_t *c = p->data;
  c->hbuf.len = 0;
  c->nhdrs = 0;
  c->url_off = 0;
  c->hdr_bytes = 0;
  c->last_cb = CB_NONE;
  c->headers_done = 0;
  c->body.len = 0;
  if (c->body.cap > 64 * 1024) http__buf_free(&c->body);
  if (c->hbuf.cap > 64 * 1024) http__buf_free(&c->hbuf);
  c->err_status = 0;
  c->state = CONN_READING;
  c->deadline = uv_now(c->srv->loop) + c->srv->opts.request_timeout_ms;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (count_header_bytes(c, len) < 0) return -1;
  if (c->last_cb != CB_URL) {
    c->url_off = c->hbuf.len;
    c->last_cb = CB_URL;
  }
  if (http__buf_append(&c->hbuf, at, len) < 0) return c->err_status = 500, -1;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (count_header_bytes(c, len + (c->last_cb != CB_FIELD ? 4 : 0)) < 0) return -1;
  if (c->headers_done) return 0; /* chunked trailers: counted, not kept */
  if (c->last_cb != CB_FIELD) {
    if (c->last_cb == CB_NONE) {
      c->url_off = c->hbuf.len; /* no URL callback: empty URL */
    }
    if (hbuf_nul(c) < 0) return -1;
    if (c->nhdrs == c->caphdrs) {
      size_t cap = c->caphdrs ? c->caphdrs * 2 : 16;
      hdr_t *h = realloc(c->hdrs, cap * sizeof(*h));
      if (!h) return c->err_status = 500, -1;
      c->hdrs = h;
      c->caphdrs = cap;
    }
    c->hdrs[c->nhdrs].name_off = c->hbuf.len;
    c->hdrs[c->nhdrs].val_off = (size_t)-1;
    c->nhdrs++;
    c->last_cb = CB_FIELD;
  }
  if (http__buf_append(&c->hbuf, at, len) < 0) return c->err_status = 500, -1;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (count_header_bytes(c, len) < 0) return -1;
  if (c->headers_done) return 0;
  if (c->last_cb != CB_VALUE) {
    if (c->last_cb != CB_FIELD) return c->err_status = 400, -1;
    if (hbuf_nul(c) < 0) return -1;
    c->hdrs[c->nhdrs - 1].val_off = c->hbuf.len;
    c->last_cb = CB_VALUE;
  }
  if (http__buf_append(&c->hbuf, at, len) < 0) return c->err_status = 500, -1;
  return 0;
}

/* Ends the string being collected (URL, name or value) and trims a value. */
static int finish_piece(conn_t *c) {
  if (c->last_cb == CB_NONE) c->url_off = c->hbuf.len;
  if (c->last_cb == CB_FIELD) {
    /* a name with no value callback: give it an empty value */
    if (hbuf_nul(c) < 0) return -1;
    c->hdrs[c->nhdrs - 1].val_off = c->hbuf.len;
  }
  if (c->last_cb == CB_VALUE) {
    size_t start = c->hdrs[c->nhdrs - 1].val_off;
    while (c->hbuf.len > start &&
           (c->hbuf.data[c->hbuf.len - 1] == ' ' || c->hbuf.data[c->hbuf.len - 1] == '\t'))
      c->hbuf.len--;
  }
  return hbuf_nul(c);
}

static const char *conn_header(const conn_t *c, const char *name) {
  for (size_t i = 0; i < c->nhdrs; i++)
    if (strcasecmp(c->hbuf.data + c->hdrs[i].name_off, name) == 0)
      return c->hbuf.data + c->hdrs[i].val_off;
  return NULL;
}

static int on_headers_complete(http_parser *p) {
  conn_t *c = p->data;
  if (finish_piece(c) < 0) return -1;
  c->headers_done = 1;
  c->last_cb = CB_NONE;
  size_t max = c->srv->opts.max_body_bytes;
  int chunked = (p->flags & F_CHUNKED) != 0;
  if (!chunked && p->content_length != ULLONG_MAX && p->content_length > max) {
    c->err_status = 413;
    return -1;
  }
  /* Clients like curl wait for "100 Continue" before sending a large body. */
  const char *expect = conn_header(c, "Expect");
  if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 &&
      p->http_minor >= 1 && (chunked || (p->content_length != ULLONG_MAX && p->content_length > 0))) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (out_append(c, cont, sizeof(cont) - 1) < 0) return c->err_status = 500, -1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (len > c->srv->opts.max_body_bytes - c->body.len) {
    c->err_status = 413;
    return -1;
  }
  if (http__buf_append(&c->body, at, len) < 0) return c->err_status = 500, -1;
  return 0;
}

static int on_message_complete(http_parser *p) {
  conn_t *c = p->data;
  c->keep = http_should_keep_alive(p) && !p->upgrade;
  c->state = CONN_HANDLING;
  c->deadline = 0;
  /* Stop here: the handler runs before the next pipelined request is parsed. */
  http_parser_pause(p, 1);
  return 0;
}

/* ---------------- dispatch ---------------- */

/* Splits the request target into path and query (in hbuf). */
static int conn_build_request(conn_t *c) {
  http_request_t *r = &c->req;
  char *url = c->hbuf.data + c->url_off;
  if (url[0] == '/' || strcmp(url, "*") == 0) {
    char *q = strchr(url, '?');
    char *frag = strchr(url, '#');
    if (frag) *frag = '\0';
    if (q && (!frag || q < frag)) {
      *q = '\0';
      r->query = q + 1;
    } else {
      r->query = "";
    }
    r->path = url;
  } else {
    /* absolute-form "http://host/path?q" (as sent to proxies) */
    struct http_parser_url u;
    size_t ulen = strlen(url);
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, ulen, 0, &u) != 0) return ERR_INVALID;
    /* Reserve first: the appends below copy from hbuf itself. */
    if (http__buf_reserve(&c->hbuf, ulen + 4) < 0) return ERR_NOMEM;
    url = c->hbuf.data + c->url_off;
    size_t poff = c->hbuf.len;
    if (u.field_set & (1 << UF_PATH))
      http__buf_append(&c->hbuf, url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    else
      http__buf_append(&c->hbuf, "/", 1);
    http__buf_append(&c->hbuf, "", 1);
    size_t qoff = c->hbuf.len;
    if (u.field_set & (1 << UF_QUERY))
      http__buf_append(&c->hbuf, url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    http__buf_append(&c->hbuf, "", 1);
    r->path = c->hbuf.data + poff;
    r->query = c->hbuf.data + qoff;
  }
  r->method = http_method_str((enum http_method)c->parser.method);
  if (http__buf_append(&c->body, "", 1) < 0) return ERR_NOMEM;
  c->body.len--;
  r->body = c->body.data;
  r->body_len = c->body.len;
  r->remote_ip = c->remote_ip;
  r->_conn = c;
  return 0;
}

static void conn_dispatch(conn_t *c) {
  http__response_reset(&c->res);
  c->res.conn = c;
  int rc = conn_build_request(c);
  if (rc < 0) {
    if (rc == ERR_NOMEM) conn_fail(c, 500, "internal", "out of memory");
    else conn_fail(c, 400, "bad_request", "malformed request target");
    return;
  }
  c->res.in_handler = 1;
  c->srv->handler(c->srv->ud, &c->req, &c->res);
  c->res.in_handler = 0;
  if (c->res.deferred && !c->res.finished) {
    c->refs++;
    c->deferred_ref = 1;
    return;
  }
  conn_send_response(c);
}

/* Parses as many complete requests from data as possible, handling each.
 * Leftover bytes (while a response is pending) are kept in c->in. */
static void conn_feed(conn_t *c, const char *data, size_t len, int from_in) {
  size_t off = 0;
  c->processing = 1;
  while (off < len && !c->closing && !c->res.deferred) {
    if (c->batches[c->fill].bytes >= OUT_HIGH_WATER && c->writing) break;
    size_t n = http_parser_execute(&c->parser, &parser_settings, data + off, len - off);
    off += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      conn_dispatch(c);
      continue;
    }
    if (e != HPE_OK) {
      if (c->err_status == 413)
        conn_fail(c, 413, "payload_too_large", "request body is too large");
      else if (c->err_status == 431 || e == HPE_HEADER_OVERFLOW)
        conn_fail(c, 431, "request_header_fields_too_large", "request headers are too large");
      else if (c->err_status == 500)
        conn_fail(c, 500, "internal", "out of memory");
      else
        conn_fail(c, 400, "bad_request", http_errno_description(e));
      break;
    }
    if (n == 0) break; /* defensive: no progress */
  }
  c->processing = 0;
  if (c->closed) return;
  size_t left = c->closing ? 0 : len - off;
  if (from_in) {
    if (left && off) memmove(c->in.data, c->in.data + off, left);
    c->in.len = left;
  } else if (left) {
    if (http__buf_append(&c->in, data + off, left) < 0) {
      conn_close(c);
      return;
    }
  }
  /* A half-closed peer gets its pending answers, then the connection ends
   * (an unfinished request can never complete and is dropped). */
  if (c->eof && !c->res.deferred && c->in.len == 0) c->closing = 1;
  if (c->closing) {
    c->in.len = 0;
  } else if (c->in.len >= IN_HIGH_WATER) {
    conn_read_stop(c);
  }
  conn_flush(c);
}

/* Continues after a deferred response or a drained output backlog. */
static void conn_resume(conn_t *c) {
  if (c->closed || c->processing || c->res.deferred) return;
  if (c->in.len) {
    conn_feed(c, c->in.data, c->in.len, 1);
  } else {
    if (c->eof) c->closing = 1;
    conn_flush(c);
  }
  if (!c->closed && !c->closing && c->in.len < IN_HIGH_WATER) conn_read_start(c);
}

/* Empties the resume queue, releasing each connection's ref; resume 0
 * only drops them (shutdown: every connection is closed). */
static void resume_queue_flush(http_server_t *srv, int resume) {
  conn_t *c = srv->resume_head;
  srv->resume_head = NULL;
  while (c) {
    conn_t *next = c->resume_next;
    c->resume_queued = 0;
    if (resume && !c->closed) conn_resume(c);
    conn_unref(c);
    c = next;
  }
}

static void on_resume(uv_idle_t *h) {
  uv_idle_stop(h);
  resume_queue_flush(h->data, 1);
}

void http_response_finish(http_response_t *res) {
  conn_t *c = res->conn;
  if (!res->deferred || res->finished) return;
  res->finished = 1;
  if (!c || res->in_handler) return; /* detached, or conn_dispatch will send it */
  conn_send_response(c); /* just resets it when the connection is gone */
  if (!c->deferred_ref) return;
  c->deferred_ref = 0;
  if (c->closed || c->resume_queued) {
    conn_unref(c);
    return;
  }
  /* The next pipelined request is parsed from the loop, not from here: the
   * caller may be deep inside other code (the HLS packager finishing a
   * segment calls this) that a nested request, e.g. one stopping that same
   * stream, must not run under. The deferred ref goes to the queue. */
  http_server_t *srv = c->srv;
  c->resume_queued = 1;
  c->resume_next = srv->resume_head;
  srv->resume_head = c;
  uv_idle_start(&srv->resume, on_resume);
}

/* ---------------- reading ---------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = (conn_t *)h;
  (void)suggested;
  if (c->in.len && c->state != CONN_LINGER) {
    /* Bytes are already waiting: read behind them to avoid a copy. */
    if (http__buf_reserve(&c->in, 16 * 1024) < 0) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    *buf = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
    return;
  }
  /* Parsing copies what it keeps, so one loop-wide buffer serves everyone. */
  *buf = uv_buf_init(c->srv->rbuf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (c->closed) return;
  if (nread == UV_ENOBUFS) {
    conn_close(c);
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF || c->state == CONN_LINGER) {
      conn_close(c);
      return;
    }
    c->eof = 1;
    conn_read_stop(c);
    /* A deferred response or unparsed requests still get answered first
     * (see conn_feed / conn_resume); otherwise send what is queued, then
     * close. A partly received request is dropped. */
    if (c->res.deferred || c->in.len) return;
    c->closing = 1;
    conn_flush(c);
    return;
  }
  if (nread == 0) return;
  if (c->state == CONN_LINGER) return; /* discard */
  if (buf->base == c->srv->rbuf) {
    conn_feed(c, buf->base, (size_t)nread, 0);
  } else {
    c->in.len += (size_t)nread;
    if (c->res.deferred || c->processing) {
      if (c->in.len >= IN_HIGH_WATER) conn_read_stop(c);
      return;
    }
    conn_feed(c, c->in.data, c->in.len, 1);
  }
}

/* ---------------- accepting ---------------- */

static void on_connection(uv_stream_t *listener, int status) {
  http_server_t *srv = listener->data;
  if (status < 0) {
    log_warn("http_accept_failed err=%s", uv_strerror(status));
    return;
  }
  conn_t *c = calloc(1, sizeof(*c));
  if (!c) {
    /* Could not allocate: the pending connection stays in the backlog. */
    log_error("http_accept_nomem");
    return;
  }
  uv_tcp_init(srv->loop, &c->tcp);
  c->srv = srv;
  c->refs = 1;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  http__response_reset(&c->res);
  c->res.conn = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  if (srv->shutting_down || srv->nconns > srv->opts.max_connections) {
    log_warn("http_conn_rejected reason=%s conns=%u",
             srv->shutting_down ? "shutting_down" : "max_connections", srv->nconns - 1);
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  c->remote_ip[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote_ip, sizeof(c->remote_ip));
    else if (ss.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&ss, c->remote_ip, sizeof(c->remote_ip));
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = CONN_IDLE;
  c->deadline = uv_now(srv->loop) + srv->opts.idle_timeout_ms;
  conn_read_start(c);
}

/* ---------------- timeouts ---------------- */

static void on_sweep(uv_timer_t *t) {
  http_server_t *srv = t->data;
  uint64_t now = uv_now(srv->loop);
  conn_t *next;
  for (conn_t *c = srv->conns; c; c = next) {
    next = c->next;
    if (c->closed || !c->deadline || now < c->deadline) continue;
    if (c->state == CONN_READING && !c->res.deferred && !c->processing) {
      /* slow headers or body (slowloris): tell the client, then close */
      conn_fail(c, 408, "request_timeout", "request not received in time");
      if (c->closed) continue;
      /* give the answer a moment to leave; the next sweep closes otherwise */
      c->state = CONN_HANDLING;
      c->deadline = now + 1000;
      conn_flush(c);
    } else {
      conn_close(c);
    }
  }
}

/* ---------------- server ---------------- */

int http_server_new(uv_loop_t *loop, const http_server_opts_t *opts, http_handler_fn handler,
                    void *ud, http_server_t **out) {
  *out = NULL;
  if (!loop || !handler) return ERR_INVALID;
  http_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return ERR_NOMEM;
  if (opts) srv->opts = *opts;
  if (!srv->opts.max_header_bytes) srv->opts.max_header_bytes = 16 * 1024;
  if (!srv->opts.max_body_bytes) srv->opts.max_body_bytes = 1024 * 1024;
  if (!srv->opts.request_timeout_ms) srv->opts.request_timeout_ms = 30000;
  if (!srv->opts.idle_timeout_ms) srv->opts.idle_timeout_ms = 60000;
  if (!srv->opts.max_connections) srv->opts.max_connections = 10000;
  srv->loop = loop;
  srv->handler = handler;
  srv->ud = ud;

  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_url = on_url;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;

  uv_tcp_init(loop, &srv->listener);
  srv->listener.data = srv;
  uv_timer_init(loop, &srv->sweep);
  srv->sweep.data = srv;
  uv_timer_init(loop, &srv->grace);
  srv->grace.data = srv;
  uv_idle_init(loop, &srv->resume);
  srv->resume.data = srv;
  srv->handles_open = 4;
  *out = srv;
  return 0;
}

int http_server_listen(http_server_t *srv, const char *host, int port) {
  struct sockaddr_storage ss;
  char v6[64];
  if (!host || !*host) host = "0.0.0.0";
  size_t hl = strlen(host);
  if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']' && hl - 2 < sizeof(v6)) {
    memcpy(v6, host + 1, hl - 2); /* "[::1]" → "::1" */
    v6[hl - 2] = '\0';
    host = v6;
  }
  int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc < 0) {
    log_error("http_listen_failed host=%s port=%d err=%s", host, port, uv_strerror(rc));
    return ERR_INVALID;
  }
  rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
  if (rc < 0) {
    log_error("http_listen_failed host=%s port=%d err=%s", host, port, uv_strerror(rc));
    return ERR_IO;
  }
  srv->listening = 1;
  /* Deadlines are checked a few times per shortest timeout. */
  uint64_t iv = srv->opts.request_timeout_ms;
  if (srv->opts.idle_timeout_ms < iv) iv = srv->opts.idle_timeout_ms;
  iv /= 4;
  if (iv < 10) iv = 10;
  if (iv > 1000) iv = 1000;
  uv_timer_start(&srv->sweep, on_sweep, iv, iv);
  log_info("http_listening host=%s port=%d", host, http_server_port(srv));
  return 0;
}

int http_server_port(const http_server_t *srv) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) < 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

const char *http_request_header(const http_request_t *req, const char *name) {
  if (!req || !req->_conn || !name) return NULL;
  return conn_header(req->_conn, name);
}

static void on_server_handle_closed(uv_handle_t *h) {
  http_server_t *srv = h->data;
  if (--srv->handles_open == 0 && srv->done) {
    void (*done)(void *) = srv->done;
    srv->done = NULL;
    done(srv->done_arg);
  }
}

static void server_check_done(http_server_t *srv) {
  if (!srv->shutting_down || srv->nconns > 0 || srv->timers_closing) return;
  srv->timers_closing = 1;
  resume_queue_flush(srv, 0);
  uv_close((uv_handle_t *)&srv->sweep, on_server_handle_closed);
  uv_close((uv_handle_t *)&srv->grace, on_server_handle_closed);
  uv_close((uv_handle_t *)&srv->resume, on_server_handle_closed);
}

static void on_grace(uv_timer_t *t) {
  http_server_t *srv = t->data;
  conn_t *next;
  for (conn_t *c = srv->conns; c; c = next) {
    next = c->next;
    conn_close(c);
  }
}

void http_server_shutdown(http_server_t *srv, unsigned grace_ms,
                          void (*done)(void *arg), void *arg) {
  if (srv->shutting_down) return;
  srv->shutting_down = 1;
  srv->done = done;
  srv->done_arg = arg;
  uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
  conn_t *next;
  for (conn_t *c = srv->conns; c; c = next) {
    next = c->next;
    int idle = c->state == CONN_IDLE && !c->res.deferred && !c->writing &&
               c->batches[c->fill].nsegs == 0 && c->in.len == 0;
    if (idle) conn_close(c);
  }
  /* the rest close after their current response (keep-alive is refused) */
  uv_timer_start(&srv->grace, on_grace, grace_ms ? grace_ms : 1, 0);
  log_info("http_shutdown conns=%u grace_ms=%u", srv->nconns, grace_ms);
  server_check_done(srv);
}

void http_server_free(http_server_t *srv) { free(srv); }
