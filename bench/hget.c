/* hget.c — a minimal HTTP/1.1 keep-alive load client that does not copy
 * response bodies.
 *
 * Why: on this 2-core machine, wrk (one core) receiving ~150 KB HLS segments
 * spends nearly all its time copying bytes out of the socket, so it saturates
 * at ~1.5 GB/s before either server does, and every server looks the same.
 * hget reads the response headers normally and then discards the body with
 * recv(MSG_TRUNC), which Linux TCP implements without copying, so the
 * server, not the client, becomes the limit. Both servers are measured with
 * the same client, so the comparison stays fair; what it leaves out is the
 * receiving side's copy, which a real viewer pays on its own machine.
 *
 * One request in flight per connection (like wrk without a pipelining
 * script), a fixed URL, GET only. The output imitates the lines of wrk's
 * --latency report that bench/common.sh parses:
 *
 *   hget -c 50 -d 5 http://127.0.0.1:8080/hls/ID/12.ts
 *
 * Linux only (epoll, MSG_TRUNC on TCP). Built by bench/common.sh with cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 4096

typedef struct {
  int fd;
  char head[HEAD_MAX];
  size_t head_len;  /* bytes of the header block read so far */
  long long body_left;  /* -1 while reading headers */
  size_t sent;
  int status;
  double started;
  double retry_at; /* fd -1: when to try to connect again */
} conn_t;

static struct sockaddr_in g_addr;
static char g_req[1024];
static size_t g_req_len;
static int g_epfd;

static unsigned long long g_done, g_bad, g_bytes, g_err_connect, g_err_read, g_err_write;
static uint32_t *g_lat_us;  /* one sample per completed request */
static size_t g_lat_len, g_lat_cap;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void lat_add(double s) {
  if (g_lat_len == g_lat_cap) {
    g_lat_cap = g_lat_cap ? 2 * g_lat_cap : 1 << 16;
    g_lat_us = realloc(g_lat_us, g_lat_cap * sizeof *g_lat_us);
    if (!g_lat_us) { perror("realloc"); exit(1); }
  }
  double us = s * 1e6;
  g_lat_us[g_lat_len++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int conn_open(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    return -1;
  }
  c->sent = 0;
  c->head_len = 0;
  c->body_left = -1;
  c->started = now_s();
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0) return 0;
  close(c->fd);
  return -1;
}

/* A connection that cannot be reopened now (fd -1) is retried by the main
 * loop every 100 ms, so a server restart does not shrink the concurrency. */
static void conn_reopen(conn_t *c) {
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (conn_open(c) < 0) {
    g_err_connect++;
    c->fd = -1;
    c->retry_at = now_s() + 0.1;
  }
}

static void conn_want(conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Parses the status line and Content-Length once the header block is in. */
static int parse_head(conn_t *c, size_t *head_end) {
  char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
  if (!end) return c->head_len < HEAD_MAX ? 0 : -1;
  *head_end = (size_t)(end - c->head) + 4;
  if (c->head_len < 12 || memcmp(c->head, "HTTP/1.", 7) != 0) return -1;
  c->status = atoi(c->head + 9);
  long long cl = -1;
  for (char *p = c->head; p < end; p++) {
    if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) {
      cl = atoll(p + 16);
      break;
    }
  }
  if (cl < 0) return -1;  /* segments and playlists always carry a length */
  c->body_left = cl - (long long)(c->head_len - *head_end);
  return c->body_left < 0 ? -1 : 1;
}

static void finish(conn_t *c, double stop_at) {
  lat_add(now_s() - c->started);
  if (c->status < 200 || c->status > 399) g_bad++;
  g_done++;
  c->head_len = 0;
  c->body_left = -1;
  c->sent = 0;
  c->started = now_s();
  if (c->started < stop_at) conn_want(c, EPOLLOUT);
}

static void on_event(conn_t *c, uint32_t ev, double stop_at) {
  if (ev & EPOLLERR) {
    /* refused or reset: retried from the main loop, not in a busy loop */
    g_err_connect++;
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->retry_at = now_s() + 0.1;
    return;
  }
  if (c->sent < g_req_len && (ev & EPOLLOUT)) {
    ssize_t n = send(c->fd, g_req + c->sent, g_req_len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) return;
      g_err_write++; conn_reopen(c); return;
    }
    c->sent += (size_t)n;
    if (c->sent == g_req_len) conn_want(c, EPOLLIN);
    return;
  }
  if (!(ev & EPOLLIN)) return;
  for (;;) {
    ssize_t n;
    if (c->body_left < 0) {
      n = recv(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len, 0);
      if (n > 0) {
        c->head_len += (size_t)n;
        g_bytes += (unsigned long long)n;
        size_t head_end;
        int r = parse_head(c, &head_end);
        if (r < 0) { g_err_read++; conn_reopen(c); return; }
        if (r == 0) continue;
        if (c->body_left == 0) { finish(c, stop_at); return; }
        continue;
      }
    } else {
      char dummy[1];
      size_t want = c->body_left > (1 << 30) ? (1 << 30) : (size_t)c->body_left;
      n = recv(c->fd, dummy, want, MSG_TRUNC);  /* discarded without a copy */
      if (n > 0) {
        g_bytes += (unsigned long long)n;
        c->body_left -= n;
        if (c->body_left == 0) { finish(c, stop_at); return; }
        continue;
      }
    }
    if (n < 0 && errno == EAGAIN) return;
    g_err_read++;  /* closed or failed mid-response */
    conn_reopen(c);
    return;
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void print_ms(const char *label, double us) {
  printf("    %s  %.2fms\n", label, us / 1000.0);
}

int main(int argc, char **argv) {
  int conns = 50;
  double secs = 5;
  int opt;
  while ((opt = getopt(argc, argv, "c:d:t:")) != -1) {
    if (opt == 'c') conns = atoi(optarg);
    else if (opt == 'd') secs = atof(optarg);  /* "5" or "5s" */
    else if (opt == 't') { /* accepted for wrk compatibility: one thread */ }
    else { fprintf(stderr, "usage: hget [-c CONNS] [-d SECONDS] http://HOST:PORT/PATH\n"); return 2; }
  }
  if (optind != argc - 1 || strncmp(argv[optind], "http://", 7) != 0 || conns < 1) {
    fprintf(stderr, "usage: hget [-c CONNS] [-d SECONDS] http://HOST:PORT/PATH\n");
    return 2;
  }
  char host[256];
  const char *hp = argv[optind] + 7, *slash = strchr(hp, '/');
  const char *path = slash ? slash : "/";
  size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
  if (hl == 0 || hl >= sizeof host) return 2;
  memcpy(host, hp, hl);
  host[hl] = 0;
  char *colon = strrchr(host, ':');
  int port = 80;
  if (colon) { *colon = 0; port = atoi(colon + 1); }
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, NULL, &hints, &ai) != 0) { fprintf(stderr, "hget: cannot resolve %s\n", host); return 1; }
  g_addr = *(struct sockaddr_in *)ai->ai_addr;
  g_addr.sin_port = htons((uint16_t)port);
  freeaddrinfo(ai);
  if (colon) *colon = ':';
  g_req_len = (size_t)snprintf(g_req, sizeof g_req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hget\r\n\r\n", path, host);
  if (g_req_len >= sizeof g_req) return 2;

  g_epfd = epoll_create1(0);
  conn_t *cs = calloc((size_t)conns, sizeof *cs);
  if (g_epfd < 0 || !cs) { perror("hget"); return 1; }
  for (int i = 0; i < conns; i++)
    if (conn_open(&cs[i]) < 0) {
      g_err_connect++;
      cs[i].fd = -1;
    }

  double t0 = now_s(), stop_at = t0 + secs;
  struct epoll_event evs[256];
  for (;;) {
    double t = now_s();
    if (t >= stop_at) break;
    int wait_ms = (int)((stop_at - t) * 1000) + 1;
    int n = epoll_wait(g_epfd, evs, 256, wait_ms < 100 ? wait_ms : 100);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events, stop_at);
    double now = now_s();
    for (int i = 0; i < conns; i++)
      if (cs[i].fd < 0 && now >= cs[i].retry_at && conn_open(&cs[i]) < 0) {
        g_err_connect++;
        cs[i].fd = -1;
        cs[i].retry_at = now + 0.1;
      }
  }
  double el = now_s() - t0;

  qsort(g_lat_us, g_lat_len, sizeof *g_lat_us, cmp_u32);
  printf("Running %.0fs test @ %s\n  1 threads and %d connections (hget: bodies discarded with MSG_TRUNC)\n",
         secs, argv[optind], conns);
  printf("  Latency Distribution\n");
  static const double pcts[] = {50, 75, 90, 99};
  for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
    char lbl[16];
    snprintf(lbl, sizeof lbl, "%2.0f%%", pcts[i]);
    double v = g_lat_len ? g_lat_us[(size_t)((g_lat_len - 1) * pcts[i] / 100)] : 0;
    print_ms(lbl, v);
  }
  printf("  %llu requests in %.2fs, %.2fMB read\n", g_done, el, g_bytes / 1048576.0);
  if (g_err_connect || g_err_read || g_err_write)
    printf("  Socket errors: connect %llu, read %llu, write %llu, timeout 0\n", g_err_connect, g_err_read, g_err_write);
  if (g_bad) printf("  Non-2xx or 3xx responses: %llu\n", g_bad);
  printf("Requests/sec: %.2f\nTransfer/sec: %.2fMB\n", g_done / el, g_bytes / 1048576.0 / el);
  return 0;
}
