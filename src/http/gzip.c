/* gzip.c — gzip content coding with zlib, and a small cache (gzip.h). */
#include "http/gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"

/* Slots are picked by key: playlists of a few hundred streams change at
 * most a few times a second each, so a collision costs one compression. */
#define CACHE_SLOTS 256

typedef struct {
  uint64_t key;
  char *in; /* the uncompressed bytes, to compare on a hit */
  size_t in_len;
  char *gz;
  size_t gz_len;
} slot_t;

static slot_t cache[CACHE_SLOTS];

/* One compressor, reset between bodies: setting one up costs more than
 * compressing a playlist. */
static z_stream zs;
static int zs_ready;

int gzip_encode(const void *in, size_t len, char **out, size_t *outlen) {
  if (!zs_ready) {
    /* windowBits 15 + 16: a gzip header and trailer around the deflate data */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      return ERR_INTERNAL;
    zs_ready = 1;
  } else if (deflateReset(&zs) != Z_OK) {
    return ERR_INTERNAL;
  }
  uLong cap = deflateBound(&zs, (uLong)len);
  char *buf = malloc(cap);
  if (!buf) return ERR_NOMEM;
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)len;
  zs.next_out = (Bytef *)buf;
  zs.avail_out = (uInt)cap;
  int rc = deflate(&zs, Z_FINISH); /* deflateBound: one call finishes */
  if (rc != Z_STREAM_END) {
    free(buf);
    return ERR_INTERNAL;
  }
  *out = buf;
  *outlen = cap - zs.avail_out;
  return 0;
}

int gzip_cached(uint64_t key, const void *in, size_t len, const char **out, size_t *outlen) {
  slot_t *s = &cache[key % CACHE_SLOTS];
  if (!(s->gz && s->key == key && s->in_len == len && memcmp(s->in, in, len) == 0)) {
    char *copy = malloc(len ? len : 1), *gz;
    size_t gz_len;
    if (!copy) return ERR_NOMEM;
    int rc = gzip_encode(in, len, &gz, &gz_len);
    if (rc) {
      free(copy);
      return rc;
    }
    memcpy(copy, in, len);
    free(s->in);
    free(s->gz);
    *s = (slot_t){.key = key, .in = copy, .in_len = len, .gz = gz, .gz_len = gz_len};
  }
  *out = s->gz;
  *outlen = s->gz_len;
  return 0;
}

void gzip_cache_clear(void) {
  if (zs_ready) deflateEnd(&zs);
  zs_ready = 0;
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    free(cache[i].in);
    free(cache[i].gz);
    cache[i] = (slot_t){0};
  }
}
