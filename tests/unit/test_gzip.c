/* test_gzip.c — playlists sent gzipped: which Accept-Encoding values take
 * gzip (http_accepts_gzip, headers.h), and that gzip_encode and
 * gzip_cached give bytes zlib's own decoder turns back into the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "http/gzip.h"
#include "http/headers.h"

static void test_accept_encoding(void **state) {
  (void)state;
  /* what browsers, curl --compressed, libsoup and ExoPlayer send */
  assert_true(http_accepts_gzip("gzip, deflate, br"));
  assert_true(http_accepts_gzip("gzip, deflate, br, zstd"));
  assert_true(http_accepts_gzip("deflate, gzip"));
  assert_true(http_accepts_gzip("GZIP"));
  assert_true(http_accepts_gzip("x-gzip"));
  assert_true(http_accepts_gzip("gzip;q=0.5, identity;q=1"));
  assert_true(http_accepts_gzip("gzip ; q=1.000"));
  assert_true(http_accepts_gzip("*"));
  assert_true(http_accepts_gzip("br;q=1, *;q=0.1"));
  /* absent, other codings only, or refused */
  assert_false(http_accepts_gzip(NULL));
  assert_false(http_accepts_gzip(""));
  assert_false(http_accepts_gzip("identity"));
  assert_false(http_accepts_gzip("deflate, br"));
  assert_false(http_accepts_gzip("gzip;q=0"));
  assert_false(http_accepts_gzip("gzip;q=0.000, deflate"));
  assert_false(http_accepts_gzip("*;q=0"));
  assert_false(http_accepts_gzip("gzip;q=0, *")); /* named beats the wildcard */
  assert_false(http_accepts_gzip("gzipx, xgzip, gzi"));
  /* malformed weights never switch gzip on */
  assert_false(http_accepts_gzip("gzip;q=2"));
  assert_false(http_accepts_gzip("gzip;q=1.5"));
  assert_false(http_accepts_gzip("gzip;q=abc"));
  assert_false(http_accepts_gzip("gzip;q=0.0001"));
  assert_false(http_accepts_gzip("gzip;q="));
  assert_false(http_accepts_gzip("gzip;q =0")); /* spaces around "=" are read leniently */
  assert_true(http_accepts_gzip("gzip; q = 0.8"));
  /* other parameters are skipped, the q-value still counts */
  assert_true(http_accepts_gzip("gzip;level=9"));
  assert_false(http_accepts_gzip("gzip;level=9;q=0"));
}

/* Inflates a gzip member with zlib into out (cap bytes); the length. */
static size_t gunzip(const char *in, size_t len, char *out, size_t cap) {
  z_stream z = {0};
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  size_t n = cap - z.avail_out;
  inflateEnd(&z);
  return n;
}

static const char playlist[] =
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1795766521991\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T08:02:02.634Z\n#EXTINF:1.000,\n1795766521991.ts\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T08:02:03.634Z\n#EXTINF:1.000,\n1795766521992.ts\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T08:02:04.634Z\n#EXTINF:1.000,\n1795766521993.ts\n";

static void test_encode_round_trip(void **state) {
  (void)state;
  char *gz, back[1024];
  size_t n;
  assert_int_equal(gzip_encode(playlist, sizeof(playlist) - 1, &gz, &n), 0);
  assert_true(n < sizeof(playlist) - 1); /* it does compress */
  assert_int_equal((unsigned char)gz[0], 0x1f); /* a gzip member (RFC 1952) */
  assert_int_equal((unsigned char)gz[1], 0x8b);
  assert_int_equal(gunzip(gz, n, back, sizeof(back)), sizeof(playlist) - 1);
  assert_memory_equal(back, playlist, sizeof(playlist) - 1);
  free(gz);
  assert_int_equal(gzip_encode("", 0, &gz, &n), 0); /* empty input: an empty member */
  assert_int_equal(gunzip(gz, n, back, sizeof(back)), 0);
  free(gz);
}

static void test_cache(void **state) {
  (void)state;
  const char *a, *b;
  size_t an, bn;
  char back[1024];
  assert_int_equal(gzip_cached(42, playlist, sizeof(playlist) - 1, &a, &an), 0);
  assert_int_equal(gzip_cached(42, playlist, sizeof(playlist) - 1, &b, &bn), 0);
  assert_ptr_equal(a, b); /* the same bytes again: no second compression */
  /* the same key for other bytes (a hash collision) must not serve the
   * first body */
  const char other[] = "#EXTM3U\n#EXT-X-ENDLIST\n";
  assert_int_equal(gzip_cached(42, other, sizeof(other) - 1, &b, &bn), 0);
  assert_int_equal(gunzip(b, bn, back, sizeof(back)), sizeof(other) - 1);
  assert_memory_equal(back, other, sizeof(other) - 1);
  /* and back */
  assert_int_equal(gzip_cached(42, playlist, sizeof(playlist) - 1, &a, &an), 0);
  assert_int_equal(gunzip(a, an, back, sizeof(back)), sizeof(playlist) - 1);
  assert_memory_equal(back, playlist, sizeof(playlist) - 1);
  gzip_cache_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_encoding),
      cmocka_unit_test(test_encode_round_trip),
      cmocka_unit_test(test_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
