/* util.h — small helpers shared by every module: time, random ids,
 * encodings, hashing and constant-time comparison. */
#ifndef ONAIR_UTIL_H
#define ONAIR_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Seconds since the Unix epoch (wall clock). */
int64_t util_now(void);
/* Milliseconds since the Unix epoch (wall clock). */
int64_t util_now_ms(void);
/* Milliseconds from a monotonic clock. */
uint64_t util_mono_ms(void);
/* "YYYY-MM-DD HH:MM:SS" in UTC into out (>= 20 bytes), as seed 003 formats. */
const char *util_format_time(int64_t unix_seconds, char *out, size_t outlen);

/* Fills buf with cryptographically secure random bytes. 0 or ERR_INTERNAL. */
int util_random_bytes(void *buf, size_t len);
/* A random UUID v4, 36 chars + NUL into out (>= 37 bytes). */
int util_uuid4(char out[37]);
/* A random id of len chars from [a-z0-9] (like seed 003's playback ids). */
int util_random_id(char *out, size_t len);

/* Lowercase hex of len bytes into out (>= 2*len+1). */
void util_hex(const void *data, size_t len, char *out);
/* URL-safe base64 without padding into out (>= 4*ceil(len/3)+1). Returns length. */
size_t util_base64url_encode(const void *data, size_t len, char *out);
/* Decodes URL-safe base64 (padding optional). Returns decoded length or -1. */
long util_base64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap);
/* SHA-256 of data as 64 hex chars + NUL into out. */
void util_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC-SHA256 into mac (32 bytes). */
void util_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      unsigned char mac[32]);
/* Constant-time equality of two strings (time depends only on their lengths). */
int util_secure_streq(const char *a, const char *b);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int util_read_file(const char *path, char **out, size_t *outlen);
/* Writes a file atomically (temp + fsync + rename) with the given mode. */
int util_write_file_atomic(const char *path, const void *data, size_t len, int mode);
/* mkdir -p with mode 0700 for the last component. */
int util_mkdirs(const char *path);

/* Parses "HOST:PORT" (or ":PORT", "[v6]:PORT") into host (>= 256 bytes) and port. */
int util_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
