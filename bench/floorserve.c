/* floorserve.c — the least work an HLS server can do per request, for
 * bench/fanout.sh (FLOOR=1): how much CPU per GB *any* server pays on this
 * machine when it serves the same viewers the same bytes.
 *
 * It serves the files nginx-rtmp writes into its HLS directory (the same
 * stream both servers get), with none of a real server's duties: no routing
 * table, no access control, no logging, no header parsing beyond the request
 * line, no limits. Per request it makes the calls onair makes (one read(),
 * one sendmsg() with the headers and, for a playlist, its body; for a
 * segment one sendfile() of the body, MSG_MORE holding the headers back so
 * both leave together), with fds kept open like onair's memfds, and the
 * playlist re-read at most every 50 ms. Whatever it costs per GB is what
 * the kernel charges for delivering the bytes on loopback; a server cannot
 * go below it.
 *
 *   floorserve PORT DIR     serves GET /hls/NAME from DIR/NAME on 127.0.0.1
 *
 * Linux only (epoll, sendfile). Built by bench/fanout.sh with cc. Not a
 * server to use for anything else: it trusts its clients completely.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX 4096
#define NAME_LEN 128
#define FILES 64 /* open segment files; nginx-rtmp keeps ~6–10 in the window */
#define PLAYLIST_MAX 16384

typedef struct {
  char name[NAME_LEN];
  int fd;
  off_t size;
} file_t;

typedef struct {
  int fd;
  char req[REQ_MAX];
  size_t len;
  int file_fd; /* body left to sendfile(), or -1 */
  off_t off, left;
} conn_t;

static const char *g_dir;
static int g_epfd;
static file_t g_files[FILES];
static unsigned g_next_file;
static char g_pl_name[NAME_LEN], g_pl[PLAYLIST_MAX];
static size_t g_pl_len;
static double g_pl_read_at = -1;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The playlist, re-read when older than 50 ms (nginx-rtmp rewrites it once
 * per segment). Returns 0 when it cannot be read. */
static int playlist(const char *name) {
  double t = now_s();
  if (strcmp(name, g_pl_name) == 0 && t - g_pl_read_at < 0.05) return 1;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, g_pl, sizeof g_pl);
  close(fd);
  if (n < 0) return 0;
  g_pl_len = (size_t)n;
  snprintf(g_pl_name, sizeof g_pl_name, "%s", name);
  g_pl_read_at = t;
  return 1;
}

/* A segment's file, opened once and kept (a segment never changes). */
static file_t *segment(const char *name) {
  for (unsigned i = 0; i < FILES; i++)
    if (g_files[i].fd > 0 && strcmp(g_files[i].name, name) == 0) return &g_files[i];
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0) return NULL;
  if (fstat(fd, &st) < 0) {
    close(fd);
    return NULL;
  }
  file_t *f = &g_files[g_next_file++ % FILES];
  if (f->fd > 0) close(f->fd); /* oldest: long out of the window */
  snprintf(f->name, sizeof f->name, "%s", name);
  f->fd = fd;
  f->size = st.st_size;
  return f;
}

static void conn_close(conn_t *c) {
  close(c->fd); /* also leaves the epoll set */
  free(c);
}

/* Sends what is left of a segment body. 0: done; 1: wait for EPOLLOUT;
 * -1: the connection failed. */
static int send_body(conn_t *c) {
  while (c->left > 0) {
    ssize_t n = sendfile(c->fd, c->file_fd, &c->off, (size_t)c->left);
    if (n < 0) return errno == EAGAIN ? 1 : -1;
    if (n == 0) return -1;
    c->left -= n;
  }
  c->file_fd = -1;
  return 0;
}

static void want(conn_t *c, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Answers one complete request in c->req. -1: close the connection. */
static int answer(conn_t *c) {
  char name[NAME_LEN], head[256];
  static const char pre[] = "GET /hls/";
  if (memcmp(c->req, pre, sizeof pre - 1) != 0) return -1;
  const char *p = c->req + sizeof pre - 1;
  size_t nl = strcspn(p, " ?");
  if (nl == 0 || nl >= NAME_LEN || memchr(p, '/', nl)) return -1;
  memcpy(name, p, nl);
  name[nl] = '\0';
  int is_pl = nl > 5 && strcmp(name + nl - 5, ".m3u8") == 0;
  file_t *f = NULL;
  if (is_pl ? !playlist(name) : !(f = segment(name))) {
    static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    return send(c->fd, nf, sizeof nf - 1, MSG_NOSIGNAL) < 0 ? -1 : 0;
  }
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
                    "Cache-Control: %s\r\n\r\n",
                    is_pl ? "application/vnd.apple.mpegurl" : "video/mp2t",
                    is_pl ? (long long)g_pl_len : (long long)f->size,
                    is_pl ? "no-cache" : "max-age=3600");
  struct iovec iov[2] = {{head, (size_t)hl}, {g_pl, is_pl ? g_pl_len : 0}};
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = is_pl ? 2 : 1};
  /* The socket buffer always takes a header block and a playlist at once. */
  if (sendmsg(c->fd, &m, MSG_NOSIGNAL | (is_pl ? 0 : MSG_MORE)) < 0) return -1;
  if (is_pl) return 0;
  c->file_fd = f->fd;
  c->off = 0;
  c->left = f->size;
  int r = send_body(c);
  if (r == 1) want(c, EPOLLOUT);
  return r < 0 ? -1 : 0;
}

static void on_readable(conn_t *c) {
  ssize_t n = read(c->fd, c->req + c->len, sizeof c->req - 1 - c->len);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->req[c->len] = '\0';
  char *end = strstr(c->req, "\r\n\r\n");
  if (!end) {
    if (c->len == sizeof c->req - 1) conn_close(c);
    return;
  }
  /* One request at a time, as players (and bench/viewers.c) send them. */
  c->len = 0;
  if (answer(c) < 0) conn_close(c);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: floorserve PORT DIR\n");
    return 2;
  }
  g_dir = argv[2];
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("floorserve: listen");
    return 1;
  }
  g_epfd = epoll_create1(0);
  struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, ls, &le);
  struct epoll_event evs[256];
  for (;;) {
    int k = epoll_wait(g_epfd, evs, 256, -1);
    for (int i = 0; i < k; i++) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          conn_t *nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          nc->file_fd = -1;
          /* As onair and nginx do: a playlist answer must not wait behind
           * Nagle for the ACK of the last segment (delayed up to 40 ms). */
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      if (c->file_fd >= 0) { /* finishing a segment body */
        int r = send_body(c);
        if (r < 0) conn_close(c);
        else if (r == 0) want(c, EPOLLIN);
      } else {
        on_readable(c);
      }
    }
  }
}
