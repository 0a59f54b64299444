/* gzip.h — the gzip content coding (RFC 9110 8.4.1.3, RFC 1952) for the
 * small text bodies players poll over and over: HLS playlists, which
 * rfc8216bis 6.2.1 says servers SHOULD send gzipped to clients that accept
 * it (http_accepts_gzip in headers.h). zlib does the compressing.
 *
 * gzip_cached keeps recent results, so a playlist that many viewers
 * reload is compressed once per version, not once per request. Loop
 * thread only: the compressor and the cache are not locked. */
#ifndef ONAIR_HTTP_GZIP_H
#define ONAIR_HTTP_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* in[0..len) gzipped into a malloc'd *out of *outlen bytes (the caller
 * frees it). 0, ERR_NOMEM, or ERR_INTERNAL when zlib fails. */
int gzip_encode(const void *in, size_t len, char **out, size_t *outlen);

/* in gzipped, from the cache when the same bytes were compressed lately
 * (key: the caller's hash of them, e.g. the ETag's; the bytes themselves
 * are compared too, so a hash collision cannot serve the wrong body).
 * *out stays valid until the next gzip_cached or gzip_cache_clear call:
 * copy it. 0, ERR_NOMEM or ERR_INTERNAL. */
int gzip_cached(uint64_t key, const void *in, size_t len, const char **out, size_t *outlen);

/* Frees the cache and the compressor (shutdown; they are made again if
 * used after). */
void gzip_cache_clear(void);

#endif
