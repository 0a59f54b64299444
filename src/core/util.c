#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

int64_t util_now(void) { return (int64_t)time(NULL); }

int64_t util_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t util_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *util_format_time(int64_t t, char *out, size_t outlen) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
  return out;
}

int util_random_bytes(void *buf, size_t len) {
  return RAND_bytes(buf, (int)len) == 1 ? 0 : ERR_INTERNAL;
}

int util_uuid4(char out[37]) {
  unsigned char b[16];
  if (util_random_bytes(b, sizeof(b))) return ERR_INTERNAL;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
           b[13], b[14], b[15]);
  return 0;
}

int util_random_id(char *out, size_t len) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t i = 0;
  while (i < len) {
    unsigned char b[32];
    if (util_random_bytes(b, sizeof(b))) return ERR_INTERNAL;
    for (size_t j = 0; j < sizeof(b) && i < len; j++) {
      if (b[j] >= 252) continue; /* 252 = 7*36: reject to stay unbiased */
      out[i++] = alphabet[b[j] % 36];
    }
  }
  out[len] = '\0';
  return 0;
}

void util_hex(const void *data, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * len] = '\0';
}

size_t util_base64url_encode(const void *data, size_t len, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *p = data;
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = tbl[(v >> 6) & 63];
    out[o++] = tbl[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = tbl[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

long util_base64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap) {
  while (inlen > 0 && in[inlen - 1] == '=') inlen--;
  if (inlen % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < inlen; i++) {
    int v = b64_value(in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= outcap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return (long)o;
}

void util_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  util_hex(md, sizeof(md), out);
}

void util_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      unsigned char mac[32]) {
  unsigned int maclen = 32;
  HMAC(EVP_sha256(), key, (int)keylen, data, len, mac, &maclen);
}

int util_secure_streq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb) return 0;
  return CRYPTO_memcmp(a, b, la) == 0;
}

int util_read_file(const char *path, char **out, size_t *outlen) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? ERR_NOT_FOUND : ERR_IO;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return ERR_NOMEM;
  }
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        return ERR_NOMEM;
      }
      buf = nb;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return ERR_IO;
  }
  buf[len] = '\0';
  *out = buf;
  if (outlen) *outlen = len;
  return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
    return ERR_INVALID;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return ERR_IO;
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      unlink(tmp);
      return ERR_IO;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return ERR_IO;
  }
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return ERR_IO;
  }
  return 0;
}

int util_mkdirs(const char *path) {
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof(buf)) return ERR_INVALID;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return ERR_IO;
    *p = '/';
  }
  if (mkdir(buf, 0700) != 0 && errno != EEXIST) return ERR_IO;
  return 0;
}

int util_parse_hostport(const char *s, char *host, size_t hostlen, int *port) {
  const char *colon;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':') return ERR_INVALID;
    if ((size_t)(end - s - 1) >= hostlen) return ERR_INVALID;
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = '\0';
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return ERR_INVALID;
    size_t hl = (size_t)(colon - s);
    if (hl >= hostlen) return ERR_INVALID;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (hl == 0) snprintf(host, hostlen, "0.0.0.0");
  }
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || p < 0 || p > 65535) return ERR_INVALID;
  *port = (int)p;
  return 0;
}
