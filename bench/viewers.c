/* viewers.c — N simulated HLS viewers in one process, for bench/fanout.sh.
 *
 * Each viewer behaves like bench/fanout.sh's Python viewers (and like a
 * player): one keep-alive HTTP/1.1 connection; every second it reloads the
 * media playlist and downloads each segment it has not seen yet, starting 3
 * segments from the live edge. Segment bodies are dropped with
 * recv(MSG_TRUNC), which Linux TCP implements without copying (as in
 * bench/hget.c), so one core keeps up with thousands of viewers; the Python
 * simulator saturates near 500. Playlists are read normally (they are
 * parsed).
 *
 *   viewers URL N SECONDS    prints one JSON line, the keys of viewers.py:
 *   {"bytes":…,"req":…,"segs":…,"http_err":…,"timeouts":…,"conn_err":…,
 *    "seg_p50_ms":…,"seg_p99_ms":…,"seg_max_ms":…,"late":…}
 *
 * Linux only (epoll, MSG_TRUNC on TCP). Built by bench/common.sh with cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

#define BUF_MAX (64 * 1024) /* header block + playlist body */
#define SEEN_MAX 32         /* segment names remembered per viewer */
#define QUEUE_MAX 16        /* new segments waiting to be fetched */
#define NAME_MAX_LEN 64
#define TIMEOUT_S 10.0

typedef enum { IDLE, CONNECTING, SENDING, READING } state_t;

typedef struct {
  int fd;
  state_t st;
  int want_body;           /* a playlist: keep the body */
  char buf[BUF_MAX];
  size_t len;              /* bytes in buf */
  long long body_left;     /* -1 while reading headers */
  size_t head_end;
  int status;
  char req[512];
  size_t req_len, sent;
  double started, next_at; /* request start; when the next playlist is due */
  int first;               /* no playlist read yet */
  char seen[SEEN_MAX][NAME_MAX_LEN];
  unsigned nseen;
  char queue[QUEUE_MAX][NAME_MAX_LEN];
  unsigned qhead, qlen;
  int is_segment;
  int dead;
} viewer_t;

static struct sockaddr_in g_addr;
static char g_host[160], g_dir[512], g_playlist_path[1024];
static int g_epfd;
static double g_end;
static unsigned long long g_bytes, g_req, g_segs, g_http_err, g_timeouts, g_conn_err, g_late;
static double *g_lat;
static size_t g_nlat, g_caplat;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void lat_add(double ms) {
  if (g_nlat == g_caplat) {
    g_caplat = g_caplat ? g_caplat * 2 : 4096;
    g_lat = realloc(g_lat, g_caplat * sizeof *g_lat);
    if (!g_lat) exit(1);
  }
  g_lat[g_nlat++] = ms;
}

static void v_close(viewer_t *v) {
  if (v->fd >= 0) {
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, v->fd, NULL);
    close(v->fd);
  }
  v->fd = -1;
  v->dead = 1;
}

static void v_want(viewer_t *v, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.ptr = v};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, v->fd, &e);
}

static void v_request(viewer_t *v, const char *path, int is_segment) {
  v->req_len = (size_t)snprintf(v->req, sizeof v->req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                path, g_host);
  v->sent = 0;
  v->len = 0;
  v->body_left = -1;
  v->is_segment = is_segment;
  v->want_body = !is_segment;
  v->started = now_s();
  v->st = SENDING;
  v_want(v, EPOLLOUT);
}

/* Names are checked to be shorter than NAME_MAX_LEN where they are read. */
static void copy_name(char *dst, const char *src) {
  size_t n = strnlen(src, NAME_MAX_LEN - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int seen_has(viewer_t *v, const char *name) {
  unsigned n = v->nseen < SEEN_MAX ? v->nseen : SEEN_MAX;
  for (unsigned i = 0; i < n; i++)
    if (strcmp(v->seen[i], name) == 0) return 1;
  return 0;
}

static void seen_add(viewer_t *v, const char *name) {
  copy_name(v->seen[v->nseen % SEEN_MAX], name);
  v->nseen++;
}

static void queue_add(viewer_t *v, const char *name) {
  if (v->qlen == QUEUE_MAX) return;
  copy_name(v->queue[(v->qhead + v->qlen) % QUEUE_MAX], name);
  v->qlen++;
}

/* The segment URIs of the playlist body: new ones are queued (on the first
 * playlist only the last 3, as a player joining at the live edge). */
static void parse_playlist(viewer_t *v, char *body, size_t len) {
  char names[64][NAME_MAX_LEN];
  unsigned n = 0;
  body[len] = '\0';
  for (char *save = NULL, *l = strtok_r(body, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
    if (*l && *l != '#' && n < 64 && strlen(l) < NAME_MAX_LEN) copy_name(names[n++], l);
  unsigned from = 0;
  if (v->first) {
    for (unsigned i = 0; i < n; i++) seen_add(v, names[i]);
    from = n > 3 ? n - 3 : 0;
    v->first = 0;
    for (unsigned i = from; i < n; i++) queue_add(v, names[i]);
    return;
  }
  for (unsigned i = 0; i < n; i++)
    if (!seen_has(v, names[i])) {
      seen_add(v, names[i]);
      queue_add(v, names[i]);
    }
}

/* After a response: the next segment, or wait for the next playlist tick. */
static void v_next(viewer_t *v) {
  double t = now_s();
  if (v->qlen && t < g_end) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", g_dir, v->queue[v->qhead]);
    v->qhead = (v->qhead + 1) % QUEUE_MAX;
    v->qlen--;
    v_request(v, path, 1);
    return;
  }
  v->qlen = 0;
  v->next_at += 1.0;
  v->st = IDLE;
  v_want(v, 0);
}

static void v_done(viewer_t *v) {
  double ms = (now_s() - v->started) * 1000;
  g_req++;
  if (v->status != 200) g_http_err++;
  if (v->is_segment) {
    g_segs++;
    lat_add(ms);
    if (ms > 1000) g_late++;
  } else if (v->status == 200) {
    parse_playlist(v, v->buf + v->head_end, v->len - v->head_end);
  }
  v_next(v);
}

static int parse_head(viewer_t *v) {
  char *end = memmem(v->buf, v->len, "\r\n\r\n", 4);
  if (!end) return v->len < BUF_MAX - 1 ? 0 : -1;
  v->head_end = (size_t)(end - v->buf) + 4;
  if (v->len < 12 || memcmp(v->buf, "HTTP/1.", 7) != 0) return -1;
  v->status = atoi(v->buf + 9);
  long long cl = -1;
  for (char *p = v->buf; p < end; p++)
    if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0) {
      cl = atoll(p + 16);
      break;
    }
  if (cl < 0) return -1;
  if (v->want_body && v->head_end + (size_t)cl >= BUF_MAX) return -1;
  v->body_left = cl - (long long)(v->len - v->head_end);
  return v->body_left < 0 ? -1 : 1;
}

static void on_readable(viewer_t *v) {
  for (;;) {
    ssize_t n;
    if (v->body_left < 0 || v->want_body) {
      n = recv(v->fd, v->buf + v->len, BUF_MAX - 1 - v->len, 0);
      if (n > 0) {
        g_bytes += (unsigned long long)n;
        v->len += (size_t)n;
        if (v->body_left < 0) {
          int h = parse_head(v);
          if (h < 0) goto broken;
          if (h == 0) continue;
        } else {
          v->body_left -= n;
        }
        if (v->body_left == 0) return v_done(v);
        if (!v->want_body) v->len = v->head_end; /* segment: body bytes are not kept */
        continue;
      }
    } else {
      size_t want = v->body_left > (1 << 30) ? (1 << 30) : (size_t)v->body_left;
      n = recv(v->fd, NULL, want, MSG_TRUNC);
      if (n > 0) {
        g_bytes += (unsigned long long)n;
        v->body_left -= n;
        if (v->body_left == 0) return v_done(v);
        continue;
      }
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    goto broken;
  }
broken:
  g_conn_err++;
  v_close(v);
}

static void on_writable(viewer_t *v) {
  while (v->sent < v->req_len) {
    ssize_t n = send(v->fd, v->req + v->sent, v->req_len - v->sent, MSG_NOSIGNAL);
    if (n > 0) {
      v->sent += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    g_conn_err++;
    v_close(v);
    return;
  }
  v->st = READING;
  v_want(v, EPOLLIN);
}

static int v_connect(viewer_t *v) {
  v->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (v->fd < 0) return -1;
  int one = 1;
  setsockopt(v->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(v->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS)
    return -1;
  struct epoll_event e = {.events = 0, .data.ptr = v};
  return epoll_ctl(g_epfd, EPOLL_CTL_ADD, v->fd, &e);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: viewers http://HOST:PORT/path/index.m3u8 N SECONDS\n");
    return 2;
  }
  const char *url = argv[1];
  int n = atoi(argv[2]);
  double secs = atof(argv[3]);
  unsigned port = 80;
  char host[128];
  if (sscanf(url, "http://%127[^:/]:%u", host, &port) < 1 || n <= 0 || secs <= 0) {
    fprintf(stderr, "viewers: bad arguments\n");
    return 2;
  }
  const char *path = strchr(url + 7, '/');
  if (!path || strlen(path) >= sizeof g_playlist_path) return 2;
  snprintf(g_playlist_path, sizeof g_playlist_path, "%s", path);
  snprintf(g_dir, sizeof g_dir, "%.*s", (int)(strrchr(path, '/') - path), path);
  snprintf(g_host, sizeof g_host, "%s:%u", host, port);
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1) {
    fprintf(stderr, "viewers: the host must be an IPv4 address\n");
    return 2;
  }
  g_epfd = epoll_create1(0);
  viewer_t *vs = calloc((size_t)n, sizeof *vs);
  if (!vs || g_epfd < 0) return 1;
  double t0 = now_s();
  g_end = t0 + 1 + secs;
  for (int i = 0; i < n; i++) {
    viewer_t *v = &vs[i];
    v->first = 1;
    v->st = IDLE;
    v->next_at = t0 + (double)i / n; /* staggered over the first second */
    if (v_connect(v) < 0) {
      g_conn_err++;
      v_close(v);
    }
  }
  struct epoll_event evs[256];
  for (;;) {
    double t = now_s();
    if (t >= g_end) {
      int busy = 0; /* let requests in flight finish (bounded by the timeout) */
      for (int i = 0; i < n; i++)
        if (!vs[i].dead && vs[i].st != IDLE) busy = 1;
      if (!busy) break;
    }
    double wait = 0.05;
    for (int i = 0; i < n; i++) {
      viewer_t *v = &vs[i];
      if (v->dead) continue;
      if (v->st == IDLE && t < g_end && v->next_at <= t) {
        v_request(v, g_playlist_path, 0);
      } else if (v->st != IDLE && t - v->started > TIMEOUT_S) {
        g_timeouts++;
        v_close(v);
      } else if (v->st == IDLE && v->next_at - t < wait) {
        wait = v->next_at - t;
      }
    }
    int k = epoll_wait(g_epfd, evs, 256, wait > 0 ? (int)(wait * 1000) + 1 : 0);
    for (int i = 0; i < k; i++) {
      viewer_t *v = evs[i].data.ptr;
      if (v->dead) continue;
      if (v->st == SENDING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) on_writable(v);
      else if (v->st == READING && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(v);
    }
  }
  qsort(g_lat, g_nlat, sizeof *g_lat, cmp_d);
  double p50 = g_nlat ? g_lat[g_nlat / 2] : 0, p99 = g_nlat ? g_lat[(size_t)(g_nlat * 0.99)] : 0,
         mx = g_nlat ? g_lat[g_nlat - 1] : 0;
  printf("{\"bytes\": %llu, \"req\": %llu, \"segs\": %llu, \"http_err\": %llu, \"timeouts\": %llu, "
         "\"conn_err\": %llu, \"seg_p50_ms\": %.1f, \"seg_p99_ms\": %.1f, \"seg_max_ms\": %.1f, "
         "\"late\": %llu}\n",
         g_bytes, g_req, g_segs, g_http_err, g_timeouts, g_conn_err, p50, p99, mx, g_late);
  return 0;
}
