/* transfer.c — one blocking upload (upload/transfer.h). */
#include "upload/transfer.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "events/webhooks.h" /* webhooks_addr_blocked: one SSRF address policy */
#include "upload/multipart.h"

#define LOW_SPEED_SECONDS 60L
#define ERROR_BODY_MAX 4096
#define AZURE_VERSION "2021-08-06"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static const char *content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (strcmp(dot, ".mp4") == 0) return "video/mp4";
  if (strcmp(dot, ".ts") == 0) return "video/mp2t";
  if (strcmp(dot, ".m3u8") == 0) return "application/vnd.apple.mpegurl";
  if (strcmp(dot, ".m4s") == 0) return "video/iso.segment";
  if (strcmp(dot, ".json") == 0) return "application/json";
  if (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".jpeg") == 0) return "image/jpeg";
  return "application/octet-stream";
}

/* Replaces every occurrence of secret (when at least 4 bytes) in s by "***". */
static void redact(char *s, size_t cap, const char *secret) {
  size_t sl = strlen(secret);
  if (sl < 4) return;
  for (char *p = strstr(s, secret); p; p = strstr(p + 3, secret)) {
    size_t tail = strlen(p + sl);
    if ((size_t)(p - s) + 3 + tail >= cap) tail = cap - 1 - (size_t)(p - s) - 3;
    memmove(p + 3, p + sl, tail);
    p[3 + tail] = '\0';
    memcpy(p, "***", 3);
  }
}

/* The failure reason leaves this module through logs, the store and the
 * API: libcurl's error text and a server's answer are not ours, so every
 * credential of the destination (in its raw and percent-decoded forms: a
 * server may echo the request URL, SAS token included) is cut out, and
 * control characters (a server's multi-line reply) become '?'. */
static void scrub(char *err, size_t cap, const upload_dest_t *d) {
  redact(err, cap, d->secret);
  redact(err, cap, d->password);
  redact(err, cap, d->sas);
  if (d->scheme == UPLOAD_S3 || d->scheme == UPLOAD_B2) redact(err, cap, d->key);
  /* a SAS token's signature alone, raw and decoded */
  const char *sig = strstr(d->sas, "sig=");
  if (sig) {
    char v[512];
    snprintf(v, sizeof(v), "%.*s", (int)strcspn(sig + 4, "&"), sig + 4);
    redact(err, cap, v);
    int n = 0;
    char *dec = curl_easy_unescape(NULL, v, 0, &n);
    if (dec) {
      redact(err, cap, dec);
      curl_free(dec);
    }
  }
  for (char *p = err; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

/* ---- file:// ---- */

/* Creates the directories above path, 0755 (readable by whatever serves
 * the destination volume; util_mkdirs makes the last one private). */
static int mkdirs_for(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int fsync_dir_of(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return 0;
  if (slash == dir) slash[1] = '\0'; else *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static upload_result_t copy_file(const upload_dest_t *d, const char *local_path,
                                 const char *object_name, atomic_int *abort, char *err,
                                 size_t errlen, uint64_t *bytes) {
  char target[4096], tmp[4200] = "";
  if ((size_t)snprintf(target, sizeof(target), "%s/%s", d->dir, object_name) >= sizeof(target)) {
    set_err(err, errlen, "target path too long");
    return UPLOAD_PERMANENT;
  }
  int in = open(local_path, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    set_err(err, errlen, "cannot read the local file: %s", strerror(errno));
    return UPLOAD_PERMANENT;
  }
  upload_result_t res = UPLOAD_RETRY;
  int out = -1;
  if (mkdirs_for(target)) {
    set_err(err, errlen, "cannot create the target directory: %s", strerror(errno));
    goto done;
  }
  char rnd[9];
  util_random_id(rnd, 8);
  const char *base = strrchr(target, '/') + 1;
  snprintf(tmp, sizeof(tmp), "%.*s.%s.%s.part", (int)(base - target), target, base, rnd);
  /* O_EXCL | O_NOFOLLOW: never write through something planted at the temp name */
  out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0) {
    set_err(err, errlen, "cannot create the target file: %s", strerror(errno));
    goto done;
  }
  static __thread char buf[1 << 16];
  uint64_t total = 0;
  for (;;) {
    if (atomic_load(abort)) {
      res = UPLOAD_ABORTED;
      goto done;
    }
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      set_err(err, errlen, "reading the local file: %s", strerror(errno));
      goto done;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        set_err(err, errlen, "writing the target file: %s", strerror(errno));
        goto done;
      }
      off += w;
    }
    total += (uint64_t)n;
  }
  if (fsync(out) != 0 || close(out) != 0) {
    out = -1;
    set_err(err, errlen, "syncing the target file: %s", strerror(errno));
    goto done;
  }
  out = -1;
  if (rename(tmp, target) != 0) {
    set_err(err, errlen, "renaming into place: %s", strerror(errno));
    goto done;
  }
  tmp[0] = '\0';
  fsync_dir_of(target);
  *bytes = total;
  res = UPLOAD_OK;
done:
  if (out >= 0) close(out);
  if (res != UPLOAD_OK && tmp[0]) unlink(tmp);
  close(in);
  return res;
}

/* ---- libcurl ---- */

typedef struct {
  char body[ERROR_BODY_MAX];
  size_t len;
} response_t;

/* Keeps the answer's start, a run of white space as one byte: S3 pads a
 * long CompleteMultipartUpload answer with spaces before its XML. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  response_t *r = ud;
  size_t len = size * n;
  for (size_t i = 0; i < len && r->len < sizeof(r->body) - 1; i++) {
    int space = p[i] == ' ' || p[i] == '\r' || p[i] == '\n' || p[i] == '\t';
    if (space && r->len && strchr(" \r\n\t", r->body[r->len - 1])) continue;
    r->body[r->len++] = p[i];
  }
  r->body[r->len] = '\0';
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return atomic_load((atomic_int *)ud) ? 1 : 0;
}

void transfer__xml_tag(const char *body, const char *tag, char *out, size_t cap) {
  char open[32];
  snprintf(open, sizeof(open), "<%s>", tag);
  out[0] = '\0';
  const char *s = strstr(body, open);
  if (!s) return;
  s += strlen(open);
  size_t n = strcspn(s, "<\r\n");
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; i++) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  out[n] = '\0';
}

typedef struct {
  int accept_new;
  const upload_dest_t *d;
  const char *known_hosts;
} host_check_t;

/* Refuses, unless allowed, connections to loopback/private/link-local
 * addresses: the address curl connects to after its own DNS resolution
 * (FTP data connections and SSH included), as webhooks do. */
typedef struct {
  int allow_private;
  int refused;
} socket_policy_t;

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
  socket_policy_t *sp = clientp;
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, &a->addr, a->addrlen < sizeof(ss) ? a->addrlen : sizeof(ss));
  if (!sp->allow_private && webhooks_addr_blocked((const struct sockaddr *)&ss)) {
    sp->refused = 1;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* One writer of known_hosts at a time in this process. */
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

/* Appends "[host]:port TYPE BASE64" ("host TYPE BASE64" on port 22) to
 * known_hosts, under a lock. Not libcurl's CURLKHSTAT_FINE_ADD_TO_FILE:
 * that saves the host name alone, so two SSH servers of one host on
 * different ports would share (and fight over) one entry, and it rewrites
 * the whole file from the list read when its transfer began, so two
 * workers learning two hosts at once would drop one of them. libssh2 finds
 * the bracketed form first when it checks. 0 or -1. */
static int save_host_key(const host_check_t *c, const struct curl_khkey *found) {
  if (!c->known_hosts || found->len < 8 || found->len > 4096) return -1;
  const unsigned char *k = (const unsigned char *)found->key;
  /* the key blob starts with its type name: uint32 length + text */
  size_t tl = ((size_t)k[0] << 24) | ((size_t)k[1] << 16) | ((size_t)k[2] << 8) | k[3];
  if (tl == 0 || tl > 64 || 4 + tl > found->len) return -1;
  for (size_t i = 0; i < tl; i++)
    if (k[4 + i] <= 0x20 || k[4 + i] >= 0x7f) return -1;
  char b64[6000];
  EVP_EncodeBlock((unsigned char *)b64, k, (int)found->len);
  char host[256];
  const char *h = c->d->host;
  size_t hl = strlen(h);
  if (h[0] == '[' && hl > 2) snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), h + 1);
  else snprintf(host, sizeof(host), "%s", h);
  pthread_mutex_lock(&known_hosts_lock);
  FILE *f = fopen(c->known_hosts, "a");
  int port = c->d->port ? c->d->port : 22;
  int ok = f && (port == 22 ? fprintf(f, "%s %.*s %s\n", host, (int)tl, (const char *)k + 4, b64)
                            : fprintf(f, "[%s]:%d %.*s %s\n", host, port, (int)tl,
                                      (const char *)k + 4, b64)) > 0;
  if (f && fclose(f) != 0) ok = 0;
  pthread_mutex_unlock(&known_hosts_lock);
  return ok ? 0 : -1;
}

static int host_key_check(CURL *easy, const struct curl_khkey *known,
                          const struct curl_khkey *found, enum curl_khmatch match, void *ud) {
  (void)easy, (void)known;
  const host_check_t *c = ud;
  switch (match) {
    case CURLKHMATCH_OK:
      return CURLKHSTAT_FINE;
    case CURLKHMATCH_MISSING:
      if (!c->accept_new) return CURLKHSTAT_REJECT;
      /* learned (OpenSSH's accept-new also goes on when it cannot save) */
      if (save_host_key(c, found) != 0)
        log_warn("upload_sftp_host_key_not_saved host=%s file=%s", c->d->host, c->known_hosts);
      return CURLKHSTAT_FINE;
    default: /* mismatch: a changed host key is never accepted */
      return CURLKHSTAT_REJECT;
  }
}

/* ---- Azure Shared Key ---- */

/* Orders "name<sep>value" strings by name, then by the whole string: a
 * name that is a prefix of another sorts first ("x-ms-a" before
 * "x-ms-a-b"), which comparing the whole strings gets wrong (':' and '='
 * sort after '-'). */
static int cmp_by_name(const char *a, const char *b, const char *sep) {
  size_t la = strcspn(a, sep), lb = strcspn(b, sep);
  int c = memcmp(a, b, la < lb ? la : lb);
  if (c) return c;
  if (la != lb) return la < lb ? -1 : 1;
  return strcmp(a, b);
}

static int cmp_header(const void *a, const void *b) {
  return cmp_by_name(*(const char *const *)a, *(const char *const *)b, ":");
}

static int cmp_param(const void *a, const void *b) {
  return cmp_by_name(*(const char *const *)a, *(const char *const *)b, "=");
}

int transfer__azure_canonical_headers(const struct curl_slist *headers, char *out, size_t cap) {
  const char *ms[16];
  size_t n = 0, len = 0;
  for (const struct curl_slist *h = headers; h; h = h->next)
    if (strncmp(h->data, "x-ms-", 5) == 0 && n < sizeof(ms) / sizeof(ms[0])) ms[n++] = h->data;
  qsort(ms, n, sizeof(ms[0]), cmp_header);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    const char *colon = strchr(ms[i], ':');
    if (!colon) return -1;
    const char *v = colon + 1 + strspn(colon + 1, " ");
    int m = snprintf(out + len, cap - len, "%.*s:%s\n", (int)(colon - ms[i]), ms[i], v);
    if (m < 0 || (size_t)m >= cap - len) return -1;
    len += (size_t)m;
  }
  return 0;
}

int transfer__azure_canonical_resource(const upload_dest_t *d, const char *path,
                                       const char *query, char *out, size_t cap) {
  char q[1024];
  if ((size_t)snprintf(q, sizeof(q), "%s", query) >= sizeof(q)) return -1;
  const char *param[8];
  size_t n = 0;
  for (char *save = NULL, *p = strtok_r(q, "&", &save); p; p = strtok_r(NULL, "&", &save))
    if (n < sizeof(param) / sizeof(param[0])) param[n++] = p;
  qsort(param, n, sizeof(param[0]), cmp_param);
  size_t len = (size_t)snprintf(out, cap, "/%s%s", d->account, path);
  if (len >= cap) return -1;
  for (size_t i = 0; i < n; i++) {
    size_t nl = strcspn(param[i], "=");
    int dl = 0;
    char *v = curl_easy_unescape(NULL, param[i][nl] ? param[i] + nl + 1 : "", 0, &dl);
    if (!v) return -1;
    int m = snprintf(out + len, cap - len, "\n%.*s:%s", (int)nl, param[i], v);
    curl_free(v);
    if (m < 0 || (size_t)m >= cap - len) return -1;
    len += (size_t)m;
  }
  return 0;
}

/* The Authorization header of a request to url with these headers and a
 * body of len bytes: "SharedKey account:base64(HMAC-SHA256(base64dec(key),
 * string-to-sign))". 0 or -1 (bad key, too long). */
static int azure_authorization(const upload_dest_t *d, const char *method, const char *url,
                               const struct curl_slist *headers, uint64_t len, char *out,
                               size_t outlen) {
  unsigned char key[1024];
  size_t klen = strlen(d->secret);
  int n = EVP_DecodeBlock(key, (const unsigned char *)d->secret, (int)klen);
  if (n <= 0) return -1;
  /* EVP_DecodeBlock counts the padding as zero bytes: drop them */
  if (klen >= 1 && d->secret[klen - 1] == '=') n--;
  if (klen >= 2 && d->secret[klen - 2] == '=') n--;
  /* the path as sent: after scheme://host[:port], before '?' */
  const char *path = strstr(url, "://");
  path = path ? strchr(path + 3, '/') : NULL;
  if (!path) return -1;
  size_t pl = strcspn(path, "?");
  char p[4096], canon_headers[1024], resource[5200], length[24] = "";
  const char *ctype = "";
  snprintf(p, sizeof(p), "%.*s", (int)pl, path);
  for (const struct curl_slist *h = headers; h; h = h->next)
    if (strncasecmp(h->data, "Content-Type:", 13) == 0)
      ctype = h->data + 13 + strspn(h->data + 13, " ");
  /* Content-Length is "" when zero (versions 2015-02-21 and later). */
  if (len) snprintf(length, sizeof(length), "%llu", (unsigned long long)len);
  if (transfer__azure_canonical_headers(headers, canon_headers, sizeof(canon_headers)) ||
      transfer__azure_canonical_resource(d, p, path[pl] ? path + pl + 1 : "", resource,
                                         sizeof(resource)))
    return -1;
  char sts[8192];
  int m = snprintf(sts, sizeof(sts), "%s\n\n\n%s\n\n%s\n\n\n\n\n\n\n%s%s", method, length, ctype,
                   canon_headers, resource);
  if (m < 0 || (size_t)m >= sizeof(sts)) return -1;
  unsigned char mac[32];
  unsigned int maclen = 0;
  HMAC(EVP_sha256(), key, n, (const unsigned char *)sts, strlen(sts), mac, &maclen);
  char b64[64];
  EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
  if ((size_t)snprintf(out, outlen, "Authorization: SharedKey %s:%s", d->key, b64) >= outlen)
    return -1;
  return 0;
}

/* ---- libcurl: what every request shares ---- */

typedef struct {
  CURL *e;
  struct curl_slist *headers;
  int headers_ok; /* 0 after an allocation failure */
  char errbuf[CURL_ERROR_SIZE];
  response_t resp;
  socket_policy_t policy;
} request_t;

static void request_header(request_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void request_header(request_t *r, const char *fmt, ...) {
  char h[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(h, sizeof(h), fmt, ap);
  va_end(ap);
  struct curl_slist *l = n >= 0 && (size_t)n < sizeof(h) ? curl_slist_append(r->headers, h) : NULL;
  if (!l) r->headers_ok = 0;
  else r->headers = l;
}

/* An easy handle with what every transfer has: no proxy and no redirects,
 * the timeouts, the CA file, the socket policy, the abort flag (checked by
 * the progress callback), the answer's start kept in r->resp. r must not
 * move until request_free(). -1: out of memory. */
static int request_init(request_t *r, const upload_env_t *env, atomic_int *abort) {
  memset(r, 0, sizeof(*r));
  r->headers_ok = 1;
  r->policy.allow_private = env->allow_private;
  CURL *e = r->e = curl_easy_init();
  if (!e) return -1;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->resp);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, abort);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(env->connect_timeout_ms ? env->connect_timeout_ms : 15000));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
  if (env->ca_file && *env->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, env->ca_file);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &r->policy);
  return 0;
}

static void request_free(request_t *r) {
  curl_slist_free_all(r->headers);
  if (r->e) curl_easy_cleanup(r->e);
}

static int is_object_store(const upload_dest_t *d) {
  return d->scheme == UPLOAD_S3 || d->scheme == UPLOAD_B2 || d->scheme == UPLOAD_AZBLOB;
}

/* Runs the request: UPLOAD_OK, or the failure with its reason in err (an
 * object store's HTTP status outside 2xx with its XML Code and Message). */
static upload_result_t request_perform(request_t *r, const upload_dest_t *d, atomic_int *abort,
                                       char *err, size_t errlen) {
  if (!r->headers_ok) {
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  if (r->headers) curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, r->headers);
  CURLcode cc = curl_easy_perform(r->e);
  if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(abort)) {
    set_err(err, errlen, "aborted");
    return UPLOAD_ABORTED;
  }
  if (cc != CURLE_OK && r->policy.refused) {
    /* the setting, not the network: another attempt cannot work */
    set_err(err, errlen,
            "refused: the host resolves to a loopback, private or link-local address "
            "(upload_allow_private is 0)");
    return UPLOAD_PERMANENT;
  }
  if (cc != CURLE_OK) {
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_PEER_FAILED_VERIFICATION && d->scheme == UPLOAD_SFTP)
      why = "the server's host key does not match the known one, or is unknown (see "
            "upload_sftp_host_keys)";
    set_err(err, errlen, "%s", why);
    return UPLOAD_RETRY;
  }
  if (is_object_store(d)) {
    long code = 0;
    curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      char ecode[96], emsg[160];
      transfer__xml_tag(r->resp.body, "Code", ecode, sizeof(ecode));
      transfer__xml_tag(r->resp.body, "Message", emsg, sizeof(emsg));
      set_err(err, errlen, "HTTP %ld%s%s%s%s", code, ecode[0] ? " " : "", ecode,
              emsg[0] ? ": " : "", emsg);
      return UPLOAD_RETRY;
    }
  }
  return UPLOAD_OK;
}

/* ---- FTP, FTPS, SFTP: one streamed transfer ---- */

static upload_result_t stream_upload(const upload_dest_t *d, FILE *f, uint64_t size,
                                     const char *url, const upload_env_t *env, atomic_int *abort,
                                     char *err, size_t errlen) {
  request_t r;
  if (request_init(&r, env, abort)) {
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  CURL *e = r.e;
  char keyfile[1200] = "";
  host_check_t host_check = {.accept_new = env->sftp_accept_new, .d = d,
                             .known_hosts = env->known_hosts};
  upload_result_t res = UPLOAD_RETRY;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READDATA, f);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
  curl_easy_setopt(e, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
  if (d->scheme == UPLOAD_SFTP) {
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "sftp");
    curl_easy_setopt(e, CURLOPT_USERNAME, d->user);
    if (env->known_hosts) curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, env->known_hosts);
    curl_easy_setopt(e, CURLOPT_SSH_KEYFUNCTION, host_key_check);
    curl_easy_setopt(e, CURLOPT_SSH_KEYDATA, &host_check);
    if (d->private_key) {
      /* libcurl reads private keys from files only: a 0600 temp file that
       * lives for this transfer. */
      snprintf(keyfile, sizeof(keyfile), "%s/sftp-key-XXXXXX",
               env->tmp_dir ? env->tmp_dir : "/tmp");
      int fd = mkstemp(keyfile);
      size_t klen = strlen(d->secret);
      int wrote = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, d->secret, klen) == (ssize_t)klen &&
                  (d->secret[klen - 1] == '\n' || write(fd, "\n", 1) == 1);
      if (fd >= 0) close(fd);
      if (!wrote) {
        if (fd >= 0) unlink(keyfile);
        keyfile[0] = '\0';
        set_err(err, errlen, "cannot write the private key to a temp file");
        goto out;
      }
      curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
      curl_easy_setopt(e, CURLOPT_SSH_PRIVATE_KEYFILE, keyfile);
      /* An empty public key file name lets libssh2 derive it from the private key. */
      curl_easy_setopt(e, CURLOPT_SSH_PUBLIC_KEYFILE, "");
      if (d->has_password) curl_easy_setopt(e, CURLOPT_KEYPASSWD, d->password);
    } else {
      curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES,
                       (long)(CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD));
      curl_easy_setopt(e, CURLOPT_PASSWORD, d->password);
    }
  } else { /* ftp, ftps */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "ftp");
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, 60L);
    if (d->scheme == UPLOAD_FTPS) {
      curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
      /* TLS 1.2 exactly: vsftpd (OpenSSL 3) answers most TLS 1.3 uploads
       * with "426 Failure reading network stream" (the data connection's
       * end is taken for a truncation), so 1.3 would fail intermittently. */
      curl_easy_setopt(e, CURLOPT_SSLVERSION,
                       (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    }
    if (d->has_user) curl_easy_setopt(e, CURLOPT_USERNAME, d->user);
    if (d->has_password) curl_easy_setopt(e, CURLOPT_PASSWORD, d->password);
  }
  res = request_perform(&r, d, abort, err, errlen);
out:
  if (keyfile[0]) unlink(keyfile);
  request_free(&r);
  return res;
}

/* ---- object stores (S3, B2, Azure): one object, one or several requests ---- */

#define ETAG_MAX TRANSFER_ETAG_MAX

typedef struct {
  const upload_dest_t *d;
  const upload_env_t *env;
  atomic_int *abort;
  long timeout_ms; /* the whole request; 0: none (the low-speed limit applies) */
  int fd;
  uint64_t size;
  const char *ctype;
  const char *name; /* the object's name below the destination (for logs) */
  char url[4096]; /* the object's request URL (a SAS token in its query) */
} object_t;

/* A request body: len bytes of the file from off, or of mem. */
typedef struct {
  int fd;
  const char *mem;
  uint64_t off, left;
} body_t;

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
  body_t *b = ud;
  size_t want = size * n;
  if (want > b->left) want = (size_t)b->left;
  if (want == 0) return 0;
  if (b->mem) {
    memcpy(p, b->mem + b->off, want);
  } else {
    ssize_t got;
    do got = pread(b->fd, p, want, (off_t)b->off);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return CURL_READFUNC_ABORT; /* the file shrank or cannot be read */
    want = (size_t)got;
  }
  b->off += want;
  b->left -= want;
  return want;
}

int transfer__etag_header(const char *p, size_t len, char *etag) {
  if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
    size_t i = 5;
    while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
    size_t vl = 0;
    while (i + vl < len && p[i + vl] != '\r' && p[i + vl] != '\n') vl++;
    if (vl >= ETAG_MAX) vl = ETAG_MAX - 1;
    memcpy(etag, p + i, vl);
    etag[vl] = '\0';
    return 1;
  }
  return 0;
}

/* libcurl's header callback: keeps the value of an ETag header. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  transfer__etag_header(p, size * n, ud);
  return size * n;
}

/* Which of the object's own headers a request carries. */
typedef enum {
  META_OBJECT,     /* S3 PutObject/CreateMultipartUpload, Azure Put Blob: type, ACL, class */
  META_NONE,       /* S3 UploadPart/Complete/Abort, Azure Put Block */
  META_BLOCK_LIST, /* Azure Put Block List: x-ms-blob-content-type */
} meta_t;

static void s3_headers(request_t *r, const object_t *o, meta_t meta, char *sigv4, size_t cap) {
  const upload_dest_t *d = o->d;
  snprintf(sigv4, cap, "aws:amz:%s:s3", d->region);
  curl_easy_setopt(r->e, CURLOPT_AWS_SIGV4, sigv4);
  curl_easy_setopt(r->e, CURLOPT_USERNAME, d->key);
  curl_easy_setopt(r->e, CURLOPT_PASSWORD, d->secret);
  /* No "Expect:" override here: libcurl 7.88 would sign the emptied
   * header without sending it, and S3 would refuse the signature.
   * The body is not hashed into the signature (it would mean reading the
   * file twice); TLS protects it on the way. */
  request_header(r, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (meta != META_OBJECT) return;
  request_header(r, "Content-Type: %s", o->ctype);
  if (d->permissions[0]) request_header(r, "x-amz-acl: %s", d->permissions);
  if (d->storage_class[0]) request_header(r, "x-amz-storage-class: %s", d->storage_class);
}

/* Azure: the headers, then Shared Key over them (unless a SAS token is in
 * the URL). -1: the request cannot be signed (bad account key). */
static int azure_headers(request_t *r, const object_t *o, meta_t meta, const char *method,
                         const char *url, uint64_t len) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  request_header(r, "Expect:");
  request_header(r, "x-ms-version: " AZURE_VERSION);
  request_header(r, "x-ms-date: %s", date);
  if (meta == META_OBJECT) {
    request_header(r, "x-ms-blob-type: BlockBlob");
    request_header(r, "Content-Type: %s", o->ctype);
  } else if (meta == META_BLOCK_LIST) {
    request_header(r, "x-ms-blob-content-type: %s", o->ctype);
  }
  if (o->d->sas[0] || !r->headers_ok) return 0;
  char auth[512];
  if (azure_authorization(o->d, method, url, r->headers, len, auth, sizeof(auth))) return -1;
  request_header(r, "%s", auth);
  return 0;
}

/* One request on the object: METHOD object-URL[?query] (after a SAS
 * token: &query; query escaped), the body, the destination's auth and the
 * headers meta says. etag (ETAG_MAX bytes, or NULL) gets the ETag
 * answered, resp (or NULL) the answer's start. */
static upload_result_t object_request(const object_t *o, const char *method, const char *query,
                                      body_t body, meta_t meta, char *etag, response_t *resp,
                                      char *err, size_t errlen) {
  char url[5200];
  if ((size_t)snprintf(url, sizeof(url), "%s%s%s", o->url,
                       !query ? "" : strchr(o->url, '?') ? "&" : "?",
                       query ? query : "") >= sizeof(url)) {
    set_err(err, errlen, "object URL too long");
    return UPLOAD_PERMANENT;
  }
  request_t r;
  if (request_init(&r, o->env, o->abort)) {
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  char sigv4[128];
  upload_result_t res = UPLOAD_RETRY;
  uint64_t len = body.left;
  curl_easy_setopt(r.e, CURLOPT_URL, url);
  curl_easy_setopt(r.e, CURLOPT_PROTOCOLS_STR, o->d->plain_http ? "http" : "https");
  curl_easy_setopt(r.e, CURLOPT_UPLOAD, 1L);
  if (strcmp(method, "PUT") != 0) curl_easy_setopt(r.e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(r.e, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(r.e, CURLOPT_READDATA, &body);
  curl_easy_setopt(r.e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
  if (o->timeout_ms) curl_easy_setopt(r.e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  if (etag) {
    etag[0] = '\0';
    curl_easy_setopt(r.e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r.e, CURLOPT_HEADERDATA, etag);
  }
  if (o->d->scheme == UPLOAD_AZBLOB) {
    if (azure_headers(&r, o, meta, method, url, len)) {
      set_err(err, errlen, "cannot sign the request (bad account key)");
      res = UPLOAD_PERMANENT;
      goto out;
    }
  } else {
    s3_headers(&r, o, meta, sigv4, sizeof(sigv4));
  }
  res = request_perform(&r, o->d, o->abort, err, errlen);
  if (resp) *resp = r.resp;
out:
  request_free(&r);
  return res;
}

static body_t file_range(const object_t *o, uint64_t off, uint64_t len) {
  return (body_t){.fd = o->fd, .off = off, .left = len};
}

static body_t memory(const char *s, size_t len) {
  return (body_t){.fd = -1, .mem = s, .left = len};
}

static int aborted(const object_t *o, char *err, size_t errlen) {
  if (!atomic_load(o->abort)) return 0;
  set_err(err, errlen, "aborted");
  return 1;
}

/* A permanent failure when the file needs more than max parts. */
static int too_many_parts(const object_t *o, uint64_t part_bytes, uint64_t max, const char *what,
                          char *err, size_t errlen) {
  uint64_t n = multipart_count(o->size, part_bytes);
  if (n <= max) return 0;
  set_err(err, errlen,
          "the file needs %llu parts of %llu MiB; %s takes at most %llu: raise upload_part_mib",
          (unsigned long long)n, (unsigned long long)(part_bytes >> 20), what,
          (unsigned long long)max);
  return 1;
}

/* CompleteMultipartUpload; S3 may answer 200 with an <Error> body. */
static upload_result_t s3_complete(const object_t *o, const char *query,
                                   const multipart_xml_t *xml, char *err, size_t errlen) {
  response_t resp;
  upload_result_t res = object_request(o, "POST", query, memory(xml->s, xml->len), META_NONE,
                                       NULL, &resp, err, errlen);
  if (res != UPLOAD_OK || !strstr(resp.body, "<Error>")) return res;
  char ecode[96], emsg[160];
  transfer__xml_tag(resp.body, "Code", ecode, sizeof(ecode));
  transfer__xml_tag(resp.body, "Message", emsg, sizeof(emsg));
  set_err(err, errlen, "CompleteMultipartUpload: %s%s%s", ecode[0] ? ecode : "Error",
          emsg[0] ? ": " : "", emsg);
  return UPLOAD_RETRY;
}

/* AbortMultipartUpload, best effort (a lifecycle rule removes what stays):
 * also after *abort was set, within a bounded time. */
static void s3_abort(const object_t *o, const char *query) {
  object_t quiet = *o;
  atomic_int never = 0;
  quiet.abort = &never;
  quiet.timeout_ms = 10000;
  char err[256];
  if (object_request(&quiet, "DELETE", query, memory("", 0), META_NONE, NULL, NULL, err,
                     sizeof(err)) != UPLOAD_OK) {
    scrub(err, sizeof(err), o->d);
    for (char *p = err; *p; p++)
      if (*p == '"') *p = '\''; /* keeps the quoted value one value */
    log_warn("upload_multipart_abort_failed object=%s reason=\"%s\"", o->name, err);
  }
}

/* UploadPart for every part, the Complete body growing with each ETag. */
static upload_result_t s3_upload_parts(const object_t *o, uint64_t part_bytes, const char *eid,
                                       multipart_xml_t *xml, char *err, size_t errlen) {
  unsigned nparts = (unsigned)multipart_count(o->size, part_bytes);
  for (unsigned n = 1; n <= nparts; n++) {
    if (aborted(o, err, errlen)) return UPLOAD_ABORTED;
    uint64_t off = (uint64_t)(n - 1) * part_bytes;
    uint64_t len = o->size - off < part_bytes ? o->size - off : part_bytes;
    char query[1200], etag[ETAG_MAX];
    snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", n, eid);
    upload_result_t res = object_request(o, "PUT", query, file_range(o, off, len), META_NONE,
                                         etag, NULL, err, errlen);
    if (res != UPLOAD_OK) return res;
    if (!etag[0]) {
      set_err(err, errlen, "UploadPart %u: no ETag in the answer", n);
      return UPLOAD_RETRY;
    }
    multipart_s3_complete_add(xml, n, etag);
  }
  multipart_s3_complete_end(xml);
  if (xml->failed) {
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  return UPLOAD_OK;
}

/* S3 multipart upload: Create, the parts, Complete; Abort on failure. */
static upload_result_t s3_multipart(const object_t *o, uint64_t part_bytes, char *err,
                                    size_t errlen) {
  if (too_many_parts(o, part_bytes, MULTIPART_S3_MAX_PARTS, "S3", err, errlen))
    return UPLOAD_PERMANENT;
  response_t resp;
  /* "uploads=": the canonical form of the bare "uploads" that SigV4 signs */
  upload_result_t res = object_request(o, "POST", "uploads=", memory("", 0), META_OBJECT, NULL,
                                       &resp, err, errlen);
  if (res != UPLOAD_OK) return res;
  char id[1024];
  transfer__xml_tag(resp.body, "UploadId", id, sizeof(id));
  if (!id[0]) {
    set_err(err, errlen, "CreateMultipartUpload: no UploadId in the answer");
    return UPLOAD_RETRY;
  }
  char *eid = curl_easy_escape(NULL, id, 0);
  if (!eid) {
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  /* Real ids are a few hundred characters; this bound keeps every query
   * below (partNumber=N&uploadId=ID) whole in its buffer. */
  if (strlen(eid) > 1000) {
    curl_free(eid);
    set_err(err, errlen, "CreateMultipartUpload: the UploadId is too long");
    return UPLOAD_RETRY;
  }
  char query[1200];
  snprintf(query, sizeof(query), "uploadId=%s", eid);
  multipart_xml_t xml;
  multipart_s3_complete_begin(&xml);
  res = s3_upload_parts(o, part_bytes, eid, &xml, err, errlen);
  if (res == UPLOAD_OK) res = s3_complete(o, query, &xml, err, errlen);
  if (res != UPLOAD_OK) s3_abort(o, query);
  multipart_xml_free(&xml);
  curl_free(eid);
  return res;
}

/* Azure: Put Block for every block, then Put Block List. Blocks never
 * committed are dropped by Azure after a week. */
static upload_result_t azure_blocks(const object_t *o, uint64_t part_bytes, char *err,
                                    size_t errlen) {
  if (too_many_parts(o, part_bytes, MULTIPART_AZURE_MAX_BLOCKS, "Azure", err, errlen))
    return UPLOAD_PERMANENT;
  unsigned nblocks = (unsigned)multipart_count(o->size, part_bytes);
  for (unsigned n = 1; n <= nblocks; n++) {
    if (aborted(o, err, errlen)) return UPLOAD_ABORTED;
    uint64_t off = (uint64_t)(n - 1) * part_bytes;
    uint64_t len = o->size - off < part_bytes ? o->size - off : part_bytes;
    char id[MULTIPART_BLOCK_ID_MAX], query[128];
    multipart_block_id(n, id);
    char *eid = curl_easy_escape(NULL, id, 0);
    if (!eid) {
      set_err(err, errlen, "out of memory");
      return UPLOAD_RETRY;
    }
    snprintf(query, sizeof(query), "comp=block&blockid=%s", eid);
    curl_free(eid);
    upload_result_t res = object_request(o, "PUT", query, file_range(o, off, len), META_NONE,
                                         NULL, NULL, err, errlen);
    if (res != UPLOAD_OK) return res;
  }
  if (aborted(o, err, errlen)) return UPLOAD_ABORTED;
  multipart_xml_t xml;
  multipart_azure_block_list(&xml, nblocks);
  upload_result_t res = UPLOAD_RETRY;
  if (xml.failed) set_err(err, errlen, "out of memory");
  else res = object_request(o, "PUT", "comp=blocklist", memory(xml.s, xml.len), META_BLOCK_LIST,
                            NULL, NULL, err, errlen);
  multipart_xml_free(&xml);
  return res;
}

/* One PUT up to the part size, else parts (S3) or blocks (Azure). */
static upload_result_t object_upload(const object_t *o, char *err, size_t errlen) {
  uint64_t part_bytes = (uint64_t)(o->env->part_mib ? o->env->part_mib : UPLOAD_DEFAULT_PART_MIB)
                        << 20;
  if (o->size <= part_bytes)
    return object_request(o, "PUT", NULL, file_range(o, 0, o->size), META_OBJECT, NULL, NULL,
                          err, errlen);
  if (o->d->scheme == UPLOAD_AZBLOB) return azure_blocks(o, part_bytes, err, errlen);
  return s3_multipart(o, part_bytes, err, errlen);
}

static upload_result_t curl_upload(const upload_dest_t *d, const char *local_path,
                                   const char *object_name, const upload_env_t *env,
                                   atomic_int *abort, char *err, size_t errlen, uint64_t *bytes) {
  FILE *f = fopen(local_path, "rb");
  if (!f) {
    set_err(err, errlen, "cannot read the local file: %s", strerror(errno));
    return UPLOAD_PERMANENT;
  }
  struct stat stbuf;
  if (fstat(fileno(f), &stbuf) != 0 || !S_ISREG(stbuf.st_mode)) {
    fclose(f);
    set_err(err, errlen, "the local file is not a regular file");
    return UPLOAD_PERMANENT;
  }
  object_t o = {.d = d, .env = env, .abort = abort, .fd = fileno(f),
                .size = (uint64_t)stbuf.st_size, .ctype = content_type(object_name),
                .name = object_name};
  upload_result_t res;
  if (upload_dest_request_url(d, object_name, o.url, sizeof(o.url))) {
    set_err(err, errlen, "object URL too long");
    res = UPLOAD_PERMANENT;
  } else if (is_object_store(d)) {
    res = object_upload(&o, err, errlen);
  } else {
    res = stream_upload(d, f, o.size, o.url, env, abort, err, errlen);
  }
  if (res == UPLOAD_OK) *bytes = o.size;
  fclose(f);
  return res;
}

upload_result_t upload_transfer(const upload_dest_t *d, const char *local_path,
                                const char *object_name, const upload_env_t *env,
                                atomic_int *abort, char *err, size_t errlen, uint64_t *bytes) {
  *bytes = 0;
  err[0] = '\0';
  upload_result_t res;
  if (d->scheme == UPLOAD_FILE && !env->allow_private) {
    set_err(err, errlen, "refused: file:// destinations write on this host (upload_allow_private is 0)");
    res = UPLOAD_PERMANENT;
  } else if (d->scheme == UPLOAD_FILE) {
    res = copy_file(d, local_path, object_name, abort, err, errlen, bytes);
  } else {
    res = curl_upload(d, local_path, object_name, env, abort, err, errlen, bytes);
  }
  scrub(err, errlen, d);
  return res;
}
