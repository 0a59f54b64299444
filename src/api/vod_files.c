/* vod_files.c — sending bytes over HTTP with the caching and range rules
 * every media route shares (ETag / If-None-Match, a single "bytes=" Range,
 * HEAD through the server), and serving finished VOD files from disk
 * (recordings, clips).
 *
 * Files are memory-mapped rather than read: the loop thread only opens and
 * maps them, and the kernel pages the bytes in as the socket accepts them
 * (a few hundred KB per write), so a 2 GB MP4 never stalls the loop on one
 * big read. Served files are immutable (written to a temporary name and
 * renamed into place), so a mapping never sees a file shrink; deleting a
 * file while it is being sent keeps the mapping valid.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/headers.h"

int api_not_modified(http_request_t *req, http_response_t *res, const char *etag) {
  http_response_header(res, "ETag", etag);
  const char *inm = http_request_header(req, "If-None-Match");
  if (http_etag_matches(inm, etag)) {
    http_response_status(res, 304);
    return 1;
  }
  return 0;
}

void api_send_bytes(http_request_t *req, http_response_t *res, const void *data, size_t len,
                    const char *type, const char *cache, const char *etag,
                    void (*release)(void *ud), void *ud) {
  api_send_bytes_fd(req, res, data, len, -1, type, cache, etag, release, ud);
}

void api_send_bytes_fd(http_request_t *req, http_response_t *res, const void *data, size_t len,
                       int fd, const char *type, const char *cache, const char *etag,
                       void (*release)(void *ud), void *ud) {
  http_response_header(res, "Content-Type", type);
  http_response_header(res, "Cache-Control", cache);
  http_response_header(res, "Accept-Ranges", "bytes");
  if (api_not_modified(req, res, etag)) {
    if (release) release(ud);
    return;
  }
  size_t from = 0, to = len ? len - 1 : 0;
  int partial = http_range_parse(http_request_header(req, "Range"), len, &from, &to);
  char cr[96];
  if (partial == -2) {
    snprintf(cr, sizeof(cr), "bytes */%zu", len);
    http_response_header(res, "Content-Range", cr);
    if (release) release(ud);
    http_response_error(res, 416, "range_not_satisfiable", "the range is past the end", NULL);
    return;
  }
  if (partial == 1) {
    snprintf(cr, sizeof(cr), "bytes %zu-%zu/%zu", from, to, len);
    http_response_header(res, "Content-Range", cr);
    http_response_status(res, 206);
  } else {
    http_response_status(res, 200);
    from = 0;
    to = len ? len - 1 : 0;
  }
  http_response_body_ref_fd(res, (const uint8_t *)data + from, len ? to - from + 1 : 0, fd,
                            (long long)from, release, ud);
}

/* ---- files --------------------------------------------------------------- */

int api_vod_file_name_ok(const char *file) {
  size_t n = file ? strlen(file) : 0;
  if (n == 0 || n > 255 || file[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)file[i];
    if (!isalnum(c) && c != '.' && c != '-' && c != '_') return 0;
  }
  return strstr(file, "..") == NULL;
}

static const char *content_type(const char *file) {
  const char *dot = strrchr(file, '.');
  if (!dot) return "application/octet-stream";
  if (strcmp(dot, ".m3u8") == 0) return "application/vnd.apple.mpegurl";
  if (strcmp(dot, ".ts") == 0) return "video/mp2t";
  if (strcmp(dot, ".mp4") == 0) return "video/mp4";
  if (strcmp(dot, ".m4s") == 0) return "video/iso.segment";
  return "application/octet-stream";
}

typedef struct {
  void *addr;
  size_t len;
  int fd; /* kept open for sendfile(2) until the response is done */
} mapping_t;

static void mapping_release(void *ud) {
  mapping_t *m = ud;
  if (m->addr) munmap(m->addr, m->len);
  if (m->fd >= 0) close(m->fd);
  free(m);
}

void api_vod_serve_file(http_request_t *req, http_response_t *res, const char *dir,
                        const char *file) {
  if (!api_vod_file_name_ok(file)) {
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  char path[4200];
  if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    if (fd >= 0) close(fd);
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  int playlist = strcmp(content_type(file), "application/vnd.apple.mpegurl") == 0;
  /* Playlists are revalidated (a recording's files may move to their
   * destination); media bytes under a name never change. */
  const char *cache = playlist ? "no-cache" : "public, max-age=86400";
  char etag[96];
  snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)sb.st_ino,
           (unsigned long long)sb.st_size, (unsigned long long)sb.st_mtime);
  mapping_t *m = calloc(1, sizeof(*m));
  if (!m) {
    close(fd);
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  m->len = (size_t)sb.st_size;
  m->fd = -1;
  if (m->len > 0) {
    m->addr = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m->addr == MAP_FAILED) {
      log_warn("vod_mmap_failed path=%s err=%s", path, strerror(errno));
      m->addr = NULL;
      close(fd);
      mapping_release(m);
      api_error(res, ERR_IO, "cannot read the file", NULL);
      return;
    }
    /* Read ahead asynchronously while the first bytes go out. */
    madvise(m->addr, m->len, MADV_SEQUENTIAL);
  }
  /* The server sends from the file with sendfile(2) while the socket takes
   * it, and from the mapping when it has to queue. */
  m->fd = m->len > 0 ? fd : -1;
  if (m->fd < 0) close(fd);
  static const char empty[1] = {0};
  api_send_bytes_fd(req, res, m->addr ? m->addr : empty, m->len, m->fd, content_type(file), cache,
                    etag, mapping_release, m);
}

void api_vod_serve_playlist_with_token(http_response_t *res, const char *dir, const char *file,
                                       const char *token) {
  char path[2600], *text = NULL;
  size_t len = 0;
  if (!api_vod_file_name_ok(file) ||
      snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  /* A playlist is small (one line per fragment): read on the loop. */
  if (util_read_file(path, &text, &len) != 0) {
    api_error(res, ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  /* The token goes in percent-encoded: it comes from the request and is
   * not always verified (public recordings and clips play without one), so
   * raw it could add lines (%0A) to the playlist. A JWT is unchanged. */
  size_t tlen = strlen(token), lines = 1;
  char *enc = malloc(tlen * 3 + 1);
  if (!enc) {
    free(text);
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  size_t elen = 0;
  for (size_t i = 0; i < tlen; i++) {
    unsigned char c = (unsigned char)token[i];
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      enc[elen++] = (char)c;
    else
      elen += (size_t)snprintf(enc + elen, 4, "%%%02X", c);
  }
  enc[elen] = '\0';
  for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
  size_t cap = len + lines * (elen + 8) + 1, o = 0;
  char *out = malloc(cap);
  if (!out) {
    free(text);
    free(enc);
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    size_t ll = nl ? (size_t)(nl - line) : strlen(line);
    memcpy(out + o, line, ll);
    o += ll;
    if (ll && line[0] != '#') o += (size_t)snprintf(out + o, cap - o, "?auth=%s", enc);
    if (nl) out[o++] = '\n';
    line += ll + (nl ? 1 : 0);
  }
  free(text);
  free(enc);
  http_response_header(res, "Cache-Control", "no-cache");
  http_response_header(res, "Content-Type", "application/vnd.apple.mpegurl");
  http_response_status(res, 200);
  http_response_body_owned(res, out, o);
}

void api_vod_serve(http_request_t *req, http_response_t *res, const char *dir, const char *file,
                   const char *token) {
  size_t n = file ? strlen(file) : 0;
  if (token && token[0] && n > 5 && strcmp(file + n - 5, ".m3u8") == 0)
    api_vod_serve_playlist_with_token(res, dir, file, token);
  else
    api_vod_serve_file(req, res, dir, file);
}
