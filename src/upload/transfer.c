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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "events/webhooks.h" /* webhooks_addr_blocked: one SSRF address policy */

/* One PUT per file: S3 and Azure refuse single requests above 5 GiB. */
#define MAX_SINGLE_PUT (5ull << 30)
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

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  response_t *r = ud;
  size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
  size_t take = len < room ? len : room;
  memcpy(r->body + r->len, p, take);
  r->len += take;
  r->body[r->len] = '\0';
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return atomic_load((atomic_int *)ud) ? 1 : 0;
}

/* The text of <tag>…</tag> in an XML error body (S3 and Azure use <Code>). */
static void xml_tag(const char *body, const char *tag, char *out, size_t cap) {
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

/* Azure Shared Key: base64(HMAC-SHA256(base64dec(key), string-to-sign)). */
static int azure_authorization(const upload_dest_t *d, const char *url_path, uint64_t len,
                               const char *ctype, const char *date, char *out, size_t outlen) {
  unsigned char key[1024];
  size_t klen = strlen(d->secret);
  int n = EVP_DecodeBlock(key, (const unsigned char *)d->secret, (int)klen);
  if (n <= 0) return -1;
  /* EVP_DecodeBlock counts the padding as zero bytes: drop them */
  if (klen >= 1 && d->secret[klen - 1] == '=') n--;
  if (klen >= 2 && d->secret[klen - 2] == '=') n--;
  char sts[4096];
  int m = snprintf(sts, sizeof(sts),
                   "PUT\n\n\n%llu\n\n%s\n\n\n\n\n\n\n"
                   "x-ms-blob-type:BlockBlob\nx-ms-date:%s\nx-ms-version:" AZURE_VERSION "\n"
                   "/%s%s",
                   (unsigned long long)len, ctype, date, d->account, url_path);
  if (m < 0 || (size_t)m >= sizeof(sts)) return -1;
  /* Content-Length is "" when zero (versions 2015-02-21 and later). */
  if (len == 0) {
    char *z = strstr(sts, "\n\n\n0\n");
    if (z) memmove(z + 3, z + 4, strlen(z + 4) + 1);
  }
  unsigned char mac[32];
  unsigned int maclen = 0;
  HMAC(EVP_sha256(), key, n, (const unsigned char *)sts, strlen(sts), mac, &maclen);
  char b64[64];
  EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
  if ((size_t)snprintf(out, outlen, "Authorization: SharedKey %s:%s", d->key, b64) >= outlen)
    return -1;
  return 0;
}

static struct curl_slist *add(struct curl_slist *l, const char *h, int *ok) {
  if (!*ok) return l;
  struct curl_slist *n = curl_slist_append(l, h);
  if (!n) {
    *ok = 0;
    return l;
  }
  return n;
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
  uint64_t size = (uint64_t)stbuf.st_size;
  int object_store = d->scheme == UPLOAD_S3 || d->scheme == UPLOAD_B2 ||
                     d->scheme == UPLOAD_AZBLOB;
  if (object_store && size > MAX_SINGLE_PUT) {
    fclose(f);
    set_err(err, errlen, "the file is larger than 5 GiB (one PUT per file)");
    return UPLOAD_PERMANENT;
  }
  char url[4096];
  if (upload_dest_request_url(d, object_name, url, sizeof(url))) {
    fclose(f);
    set_err(err, errlen, "object URL too long");
    return UPLOAD_PERMANENT;
  }
  CURL *e = curl_easy_init();
  if (!e) {
    fclose(f);
    set_err(err, errlen, "out of memory");
    return UPLOAD_RETRY;
  }
  struct curl_slist *headers = NULL;
  int ok = 1;
  char errbuf[CURL_ERROR_SIZE] = "", h[4096], sigv4[128], keyfile[1200] = "";
  response_t resp = {.len = 0};
  host_check_t host_check = {.accept_new = env->sftp_accept_new, .d = d,
                             .known_hosts = env->known_hosts};
  socket_policy_t policy = {.allow_private = env->allow_private};
  upload_result_t res = UPLOAD_RETRY;
  const char *ctype = content_type(object_name);

  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READDATA, f);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, abort);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(env->connect_timeout_ms ? env->connect_timeout_ms : 15000));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
  if (env->ca_file && *env->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, env->ca_file);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &policy);

  switch (d->scheme) {
    case UPLOAD_S3:
    case UPLOAD_B2:
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, d->plain_http ? "http" : "https");
      snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", d->region);
      curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
      curl_easy_setopt(e, CURLOPT_USERNAME, d->key);
      curl_easy_setopt(e, CURLOPT_PASSWORD, d->secret);
      /* No "Expect:" override here: libcurl 7.88 would sign the emptied
       * header without sending it, and S3 would refuse the signature. */
      snprintf(h, sizeof(h), "Content-Type: %s", ctype);
      headers = add(headers, h, &ok);
      /* The body is not hashed into the signature (it would mean reading the
       * file twice); TLS protects it on the way. */
      headers = add(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD", &ok);
      if (d->permissions[0]) {
        snprintf(h, sizeof(h), "x-amz-acl: %s", d->permissions);
        headers = add(headers, h, &ok);
      }
      if (d->storage_class[0]) {
        snprintf(h, sizeof(h), "x-amz-storage-class: %s", d->storage_class);
        headers = add(headers, h, &ok);
      }
      break;
    case UPLOAD_AZBLOB: {
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, d->plain_http ? "http" : "https");
      char date[64];
      time_t now = time(NULL);
      struct tm tm;
      gmtime_r(&now, &tm);
      strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
      headers = add(headers, "Expect:", &ok);
      headers = add(headers, "x-ms-blob-type: BlockBlob", &ok);
      headers = add(headers, "x-ms-version: " AZURE_VERSION, &ok);
      snprintf(h, sizeof(h), "x-ms-date: %s", date);
      headers = add(headers, h, &ok);
      snprintf(h, sizeof(h), "Content-Type: %s", ctype);
      headers = add(headers, h, &ok);
      if (!d->sas[0]) {
        /* the path as sent: after scheme://host[:port], before '?' */
        const char *path = strstr(url, "://");
        path = path ? strchr(path + 3, '/') : NULL;
        char p[4096];
        snprintf(p, sizeof(p), "%.*s", path ? (int)strcspn(path, "?") : 0, path ? path : "");
        if (azure_authorization(d, p, size, ctype, date, h, sizeof(h))) {
          set_err(err, errlen, "cannot sign the request (bad account key)");
          res = UPLOAD_PERMANENT;
          goto out;
        }
        headers = add(headers, h, &ok);
      }
      break;
    }
    case UPLOAD_FTP:
    case UPLOAD_FTPS:
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "ftp");
      curl_easy_setopt(e, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
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
      break;
    case UPLOAD_SFTP:
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "sftp");
      curl_easy_setopt(e, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
      curl_easy_setopt(e, CURLOPT_USERNAME, d->user);
      if (env->known_hosts) curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, env->known_hosts);
      curl_easy_setopt(e, CURLOPT_SSH_KEYFUNCTION, host_key_check);
      curl_easy_setopt(e, CURLOPT_SSH_KEYDATA, &host_check);
      if (d->private_key) {
        /* libcurl reads private keys from files only: a 0600 temp file that
         * lives for this transfer. */
        snprintf(keyfile, sizeof(keyfile), "%s/sftp-key-XXXXXX", env->tmp_dir ? env->tmp_dir : "/tmp");
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
      break;
    case UPLOAD_FILE:
      break;
  }
  if (!ok) {
    set_err(err, errlen, "out of memory");
    goto out;
  }
  if (headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);

  CURLcode cc = curl_easy_perform(e);
  if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(abort)) {
    res = UPLOAD_ABORTED;
    set_err(err, errlen, "aborted");
    goto out;
  }
  if (cc != CURLE_OK && policy.refused) {
    /* the setting, not the network: another attempt cannot work */
    set_err(err, errlen,
            "refused: the host resolves to a loopback, private or link-local address "
            "(upload_allow_private is 0)");
    res = UPLOAD_PERMANENT;
    goto out;
  }
  if (cc != CURLE_OK) {
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_PEER_FAILED_VERIFICATION && d->scheme == UPLOAD_SFTP)
      why = "the server's host key does not match the known one, or is unknown (see "
            "upload_sftp_host_keys)";
    set_err(err, errlen, "%s", why);
    goto out;
  }
  if (d->scheme == UPLOAD_S3 || d->scheme == UPLOAD_B2 || d->scheme == UPLOAD_AZBLOB) {
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      char ecode[96], emsg[160];
      xml_tag(resp.body, "Code", ecode, sizeof(ecode));
      xml_tag(resp.body, "Message", emsg, sizeof(emsg));
      set_err(err, errlen, "HTTP %ld%s%s%s%s", code, ecode[0] ? " " : "", ecode,
              emsg[0] ? ": " : "", emsg);
      goto out;
    }
  }
  *bytes = size;
  res = UPLOAD_OK;
out:
  if (keyfile[0]) unlink(keyfile);
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
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
