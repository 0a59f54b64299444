/* Unit tests for src/media/rtmp/chunk.c: the chunk reader against a real
 * FFmpeg publish, split every way; writer round trips; timestamps; limits
 * and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/rtmp/chunk.h"

/* The first 782 bytes FFmpeg 5.1 sent after the handshake when publishing
 * to a test server: connect (2 chunks at size 128), Set Chunk Size 4096,
 * releaseStream, FCPublish, createStream, _checkbw, publish, @setDataFrame,
 * the AVC sequence header and the AAC config. */
static const uint8_t ffmpeg_stream[] = {
0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8c, 0x14, 0x00, 0x00, 0x00, 0x00,
0x02, 0x00, 0x07, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x00, 0x3f,
0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x61, 0x70,
0x70, 0x02, 0x00, 0x04, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x04, 0x74, 0x79,
0x70, 0x65, 0x02, 0x00, 0x0a, 0x6e, 0x6f, 0x6e, 0x70, 0x72, 0x69, 0x76,
0x61, 0x74, 0x65, 0x00, 0x08, 0x66, 0x6c, 0x61, 0x73, 0x68, 0x56, 0x65,
0x72, 0x02, 0x00, 0x24, 0x46, 0x4d, 0x4c, 0x45, 0x2f, 0x33, 0x2e, 0x30,
0x20, 0x28, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65,
0x3b, 0x20, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e,
0x31, 0x30, 0x30, 0x29, 0x00, 0x05, 0x74, 0x63, 0x55, 0x72, 0x6c, 0x02,
0x00, 0x1b, 0x72, 0x74, 0x6d, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37,
0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x31, 0xc3, 0x39, 0x33, 0x35,
0x32, 0x2f, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x00, 0x09, 0x02, 0x00, 0x00,
0x00, 0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
0x00, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x14, 0x02, 0x00, 0x0d,
0x72, 0x65, 0x6c, 0x65, 0x61, 0x73, 0x65, 0x53, 0x74, 0x72, 0x65, 0x61,
0x6d, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02,
0x00, 0x0c, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x6b, 0x65, 0x79, 0x31,
0x32, 0x33, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25, 0x14, 0x02, 0x00,
0x09, 0x46, 0x43, 0x50, 0x75, 0x62, 0x6c, 0x69, 0x73, 0x68, 0x00, 0x40,
0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x0c, 0x73,
0x74, 0x72, 0x65, 0x61, 0x6d, 0x6b, 0x65, 0x79, 0x31, 0x32, 0x33, 0x43,
0x00, 0x00, 0x00, 0x00, 0x00, 0x19, 0x14, 0x02, 0x00, 0x0c, 0x63, 0x72,
0x65, 0x61, 0x74, 0x65, 0x53, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x00, 0x40,
0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x43, 0x00, 0x00, 0x00,
0x00, 0x00, 0x15, 0x14, 0x02, 0x00, 0x08, 0x5f, 0x63, 0x68, 0x65, 0x63,
0x6b, 0x62, 0x77, 0x00, 0x40, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
0x05, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x14, 0x01, 0x00, 0x00,
0x00, 0x02, 0x00, 0x07, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x73, 0x68, 0x00,
0x40, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x0c,
0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x6b, 0x65, 0x79, 0x31, 0x32, 0x33,
0x02, 0x00, 0x04, 0x6c, 0x69, 0x76, 0x65, 0x04, 0x00, 0x00, 0x00, 0x00,
0x01, 0x35, 0x12, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x0d, 0x40, 0x73,
0x65, 0x74, 0x44, 0x61, 0x74, 0x61, 0x46, 0x72, 0x61, 0x6d, 0x65, 0x02,
0x00, 0x0a, 0x6f, 0x6e, 0x4d, 0x65, 0x74, 0x61, 0x44, 0x61, 0x74, 0x61,
0x08, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x08, 0x64, 0x75, 0x72, 0x61, 0x74,
0x69, 0x6f, 0x6e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
0x00, 0x05, 0x77, 0x69, 0x64, 0x74, 0x68, 0x00, 0x40, 0x74, 0x00, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x68, 0x65, 0x69, 0x67, 0x68, 0x74,
0x00, 0x40, 0x6e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x76,
0x69, 0x64, 0x65, 0x6f, 0x64, 0x61, 0x74, 0x61, 0x72, 0x61, 0x74, 0x65,
0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x66,
0x72, 0x61, 0x6d, 0x65, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0x39, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x76, 0x69, 0x64, 0x65, 0x6f,
0x63, 0x6f, 0x64, 0x65, 0x63, 0x69, 0x64, 0x00, 0x40, 0x1c, 0x00, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x64,
0x61, 0x74, 0x61, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0x50, 0xd8, 0x80,
0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x73,
0x61, 0x6d, 0x70, 0x6c, 0x65, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0xe5,
0x88, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x61, 0x75, 0x64, 0x69,
0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x00,
0x40, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x73, 0x74,
0x65, 0x72, 0x65, 0x6f, 0x01, 0x00, 0x00, 0x0c, 0x61, 0x75, 0x64, 0x69,
0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x69, 0x64, 0x00, 0x40, 0x24, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x6e, 0x63, 0x6f, 0x64,
0x65, 0x72, 0x02, 0x00, 0x0d, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e,
0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x00, 0x08, 0x66, 0x69, 0x6c, 0x65,
0x73, 0x69, 0x7a, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
0x00, 0x00, 0x00, 0x09, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x33, 0x09,
0x01, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00,
0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3,
0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
0x00, 0x07, 0x08, 0x01, 0x00, 0x00, 0x00, 0xaf, 0x00, 0x12, 0x08, 0x56,
0xe5, 0x00,
};

/* ------------------------------------------------------------- collector */

typedef struct {
  rtmp_message_t m;
  uint8_t *copy;
} rec_t;

typedef struct {
  rec_t msgs[256];
  int n;
  int fail_at; /* return an error from this message on (-1: never) */
} col_t;

static int collect(void *ud, const rtmp_message_t *m) {
  col_t *c = ud;
  if (c->fail_at >= 0 && c->n >= c->fail_at) return ERR_CONFLICT;
  if (c->n >= 256) return ERR_INTERNAL;
  rec_t *r = &c->msgs[c->n++];
  r->m = *m;
  r->copy = malloc(m->len + 1);
  memcpy(r->copy, m->payload, m->len);
  r->m.payload = r->copy;
  return 0;
}

static void col_init(col_t *c) {
  memset(c, 0, sizeof(*c));
  c->fail_at = -1;
}

static void col_free(col_t *c) {
  for (int i = 0; i < c->n; i++) free(c->msgs[i].copy);
  c->n = 0;
}

static void assert_same(const col_t *a, const col_t *b) {
  assert_int_equal(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    const rtmp_message_t *x = &a->msgs[i].m, *y = &b->msgs[i].m;
    assert_int_equal(x->csid, y->csid);
    assert_int_equal(x->type_id, y->type_id);
    assert_int_equal(x->stream_id, y->stream_id);
    assert_int_equal(x->timestamp, y->timestamp);
    assert_int_equal(x->len, y->len);
    assert_memory_equal(x->payload, y->payload, x->len);
  }
}

/* Feeds data in pieces of the given sizes (cycled), 0 = all at once. */
static int feed_split(const uint8_t *p, size_t len, col_t *c, const size_t *sizes, int nsizes,
                      const rtmp_chunk_opts_t *o) {
  rtmp_chunk_reader_t *r = rtmp_chunk_reader_new(o, collect, c);
  assert_non_null(r);
  int rc = 0, k = 0;
  size_t off = 0;
  while (off < len && rc == 0) {
    size_t n = nsizes ? sizes[k++ % nsizes] : len;
    if (n > len - off) n = len - off;
    rc = rtmp_chunk_reader_feed(r, p + off, n);
    off += n;
  }
  rtmp_chunk_reader_free(r);
  return rc;
}

/* ----------------------------------------------------------------- tests */

static void test_ffmpeg_stream(void **state) {
  col_t whole, bytes, odd;
  col_init(&whole);
  col_init(&bytes);
  col_init(&odd);
  rtmp_chunk_reader_t *r = rtmp_chunk_reader_new(NULL, collect, &whole);
  assert_int_equal(rtmp_chunk_reader_feed(r, ffmpeg_stream, sizeof(ffmpeg_stream)), 0);
  assert_int_equal(rtmp_chunk_reader_chunk_size(r), 4096);
  assert_int_equal(rtmp_chunk_reader_bytes(r), sizeof(ffmpeg_stream));
  rtmp_chunk_reader_free(r);

  static const uint8_t types[] = {20, 1, 20, 20, 20, 20, 20, 18, 9, 8};
  static const uint32_t csids[] = {3, 2, 3, 3, 3, 3, 8, 4, 6, 4};
  assert_int_equal(whole.n, 10);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(whole.msgs[i].m.type_id, types[i]);
    assert_int_equal(whole.msgs[i].m.csid, csids[i]);
    assert_int_equal(whole.msgs[i].m.timestamp, 0);
    assert_int_equal(whole.msgs[i].m.stream_id, i < 6 ? 0 : 1);
  }
  assert_int_equal(whole.msgs[0].m.len, 140); /* connect: spans two 128-byte chunks */
  assert_memory_equal(whole.msgs[0].m.payload, "\x02\x00\x07" "connect", 10);
  assert_int_equal(whole.msgs[8].m.len, 51);

  static const size_t one[] = {1};
  static const size_t mix[] = {7, 1, 128, 3, 13, 2, 200, 5};
  assert_int_equal(feed_split(ffmpeg_stream, sizeof(ffmpeg_stream), &bytes, one, 1, NULL), 0);
  assert_int_equal(feed_split(ffmpeg_stream, sizeof(ffmpeg_stream), &odd, mix, 8, NULL), 0);
  assert_same(&whole, &bytes);
  assert_same(&whole, &odd);
  col_free(&whole);
  col_free(&bytes);
  col_free(&odd);
}

/* A prefix is not an error: the reader waits for the rest. */
static void test_prefix_waits(void **state) {
  for (size_t n = 0; n < sizeof(ffmpeg_stream); n += 37) {
    col_t c;
    col_init(&c);
    assert_int_equal(feed_split(ffmpeg_stream, n, &c, NULL, 0, NULL), 0);
    assert_true(c.n <= 10);
    col_free(&c);
  }
}

static void roundtrip(uint32_t chunk_size, uint32_t csid, uint32_t ts, size_t len) {
  rtmp_chunk_writer_t w;
  rtmp_chunk_writer_init(&w);
  amf0_buf_t out = {0};
  if (chunk_size != RTMP_DEFAULT_CHUNK_SIZE)
    assert_int_equal(rtmp_chunk_write_set_chunk_size(&w, &out, chunk_size), 0);
  uint8_t *payload = malloc(len + 1);
  for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)(i * 7 + 3);
  rtmp_message_t m = {csid, RTMP_MSG_VIDEO, 1, ts, payload, len};
  assert_int_equal(rtmp_chunk_write(&w, &out, &m), 0);
  m.timestamp = ts + 40; /* a second message on the same csid */
  assert_int_equal(rtmp_chunk_write(&w, &out, &m), 0);

  col_t c, cb;
  col_init(&c);
  col_init(&cb);
  static const size_t one[] = {1}, mix[] = {1, 3, 1000, 7, 333};
  assert_int_equal(feed_split(out.data, out.len, &c, NULL, 0, NULL), 0);
  if (len <= 1000) assert_int_equal(feed_split(out.data, out.len, &cb, one, 1, NULL), 0);
  else assert_int_equal(feed_split(out.data, out.len, &cb, mix, 5, NULL), 0);
  assert_same(&c, &cb);
  int base = chunk_size != RTMP_DEFAULT_CHUNK_SIZE;
  assert_int_equal(c.n, base + 2);
  for (int i = 0; i < 2; i++) {
    const rtmp_message_t *g = &c.msgs[base + i].m;
    assert_int_equal(g->csid, csid);
    assert_int_equal(g->type_id, RTMP_MSG_VIDEO);
    assert_int_equal(g->stream_id, 1);
    assert_int_equal(g->timestamp, ts + (uint32_t)(40 * i));
    assert_int_equal(g->len, len);
    if (len) assert_memory_equal(g->payload, payload, len);
  }
  col_free(&c);
  col_free(&cb);
  free(payload);
  amf0_buf_free(&out);
}

static void test_writer_roundtrip(void **state) {
  static const uint32_t sizes[] = {1, 2, 128, 4096, 60000};
  static const uint32_t csids[] = {2, 63, 64, 319, 320, 65599};
  static const uint32_t tss[] = {0, 1000, 0xFFFFFE, 0xFFFFFF, 0x12345678, 0xFFFFFFF0};
  static const size_t lens[] = {0, 1, 127, 128, 129, 1000, 70000};
  for (size_t a = 0; a < 5; a++)
    for (size_t b = 0; b < 6; b++)
      for (size_t t = 0; t < 6; t++)
        for (size_t l = 0; l < 7; l++) {
          if (sizes[a] < 4 && lens[l] > 1000) continue; /* keep it quick */
          roundtrip(sizes[a], csids[b], tss[t], lens[l]);
        }
}

static void test_csid_forms(void **state) {
  /* fmt 0 on csid 64 (2-byte form) and 65599 (3-byte form), empty bodies */
  static const uint8_t in[] = {
      0x00, 0x00, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0,
      0x01, 0xff, 0xff, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0,
  };
  col_t c;
  col_init(&c);
  assert_int_equal(feed_split(in, sizeof(in), &c, NULL, 0, NULL), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.msgs[0].m.csid, 64);
  assert_int_equal(c.msgs[0].m.timestamp, 5);
  assert_int_equal(c.msgs[1].m.csid, 65599);
  assert_int_equal(c.msgs[1].m.len, 0);
  col_free(&c);
}

/* Builds chunks by hand into a buffer. */
typedef struct {
  uint8_t b[4096];
  size_t n;
} raw_t;

static void put_u8(raw_t *r, uint8_t v) { r->b[r->n++] = v; }
static void put_be(raw_t *r, uint32_t v, int n) {
  for (int i = n - 1; i >= 0; i--) put_u8(r, (uint8_t)(v >> (8 * i)));
}
static void put_fill(raw_t *r, uint8_t v, size_t n) {
  memset(r->b + r->n, v, n);
  r->n += n;
}
/* fmt 0 header, single-byte csid */
static void hdr0(raw_t *r, uint8_t csid, uint32_t ts, uint32_t len, uint8_t type, uint32_t sid) {
  put_u8(r, csid);
  put_be(r, ts >= 0xFFFFFF ? 0xFFFFFF : ts, 3);
  put_be(r, len, 3);
  put_u8(r, type);
  put_u8(r, (uint8_t)sid);
  put_be(r, 0, 3);
  if (ts >= 0xFFFFFF) put_be(r, ts, 4);
}

static void test_interleaved(void **state) {
  raw_t r = {0};
  hdr0(&r, 6, 100, 300, 9, 1);
  put_fill(&r, 'v', 128);
  hdr0(&r, 4, 90, 50, 8, 1);
  put_fill(&r, 'a', 50);
  put_u8(&r, 0xC6); /* fmt 3 csid 6: continuation */
  put_fill(&r, 'v', 128);
  put_u8(&r, 0x44); /* fmt 1 csid 4: delta 23, new length */
  put_be(&r, 23, 3);
  put_be(&r, 20, 3);
  put_u8(&r, 8);
  put_fill(&r, 'b', 20);
  put_u8(&r, 0xC6);
  put_fill(&r, 'v', 44);
  col_t c;
  col_init(&c);
  assert_int_equal(feed_split(r.b, r.n, &c, NULL, 0, NULL), 0);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.msgs[0].m.csid, 4);
  assert_int_equal(c.msgs[0].m.timestamp, 90);
  assert_int_equal(c.msgs[1].m.csid, 4);
  assert_int_equal(c.msgs[1].m.timestamp, 113);
  assert_int_equal(c.msgs[1].m.len, 20);
  assert_int_equal(c.msgs[2].m.csid, 6);
  assert_int_equal(c.msgs[2].m.len, 300);
  assert_int_equal(c.msgs[2].m.timestamp, 100);
  for (size_t i = 0; i < 300; i++) assert_int_equal(c.msgs[2].m.payload[i], 'v');
  col_free(&c);
}

static void test_timestamp_deltas(void **state) {
  raw_t r = {0};
  hdr0(&r, 5, 1000, 2, 9, 1);
  put_fill(&r, 1, 2);
  put_u8(&r, 0x45); /* fmt 1: delta 40, length 3 */
  put_be(&r, 40, 3);
  put_be(&r, 3, 3);
  put_u8(&r, 9);
  put_fill(&r, 2, 3);
  put_u8(&r, 0x85); /* fmt 2: delta 33 */
  put_be(&r, 33, 3);
  put_fill(&r, 3, 3);
  put_u8(&r, 0xC5); /* fmt 3 new message: delta 33 again */
  put_fill(&r, 4, 3);
  hdr0(&r, 7, 500, 1, 8, 1);
  put_u8(&r, 5);
  put_u8(&r, 0xC7); /* fmt 3 right after fmt 0: adds the fmt 0 timestamp (spec, FFmpeg) */
  put_u8(&r, 6);
  /* 32-bit wrap */
  hdr0(&r, 9, 0xFFFFFFF0u, 1, 8, 1);
  put_u8(&r, 7);
  put_u8(&r, 0x89); /* fmt 2 delta 0x20 */
  put_be(&r, 0x20, 3);
  put_u8(&r, 8);
  col_t c;
  col_init(&c);
  assert_int_equal(feed_split(r.b, r.n, &c, NULL, 0, NULL), 0);
  static const uint32_t want[] = {1000, 1040, 1073, 1106, 500, 1000, 0xFFFFFFF0u, 0x10};
  assert_int_equal(c.n, 8);
  for (int i = 0; i < 8; i++) assert_int_equal(c.msgs[i].m.timestamp, want[i]);
  assert_int_equal(c.msgs[3].m.len, 3);
  col_free(&c);
}

static void test_extended_timestamps(void **state) {
  raw_t r = {0};
  /* fmt 0 with extended timestamp, 200 bytes: the fmt 3 continuation
   * repeats the extended timestamp, as FFmpeg and OBS send it */
  hdr0(&r, 6, 0x01000000, 200, 9, 1);
  put_fill(&r, 'x', 128);
  put_u8(&r, 0xC6);
  put_be(&r, 0x01000000, 4);
  put_fill(&r, 'x', 72);
  /* fmt 3 starting a new message: its 4 extended bytes are the delta */
  put_u8(&r, 0xC6);
  put_be(&r, 0x01000010, 4);
  put_fill(&r, 'y', 128);
  put_u8(&r, 0xC6);
  put_be(&r, 0x01000010, 4);
  put_fill(&r, 'y', 72);
  /* fmt 1 with an extended delta */
  put_u8(&r, 0x46);
  put_be(&r, 0xFFFFFF, 3);
  put_be(&r, 1, 3);
  put_u8(&r, 9);
  put_be(&r, 0x02000000, 4);
  put_u8(&r, 'z');
  col_t c, cb;
  col_init(&c);
  col_init(&cb);
  static const size_t one[] = {1};
  assert_int_equal(feed_split(r.b, r.n, &c, NULL, 0, NULL), 0);
  assert_int_equal(feed_split(r.b, r.n, &cb, one, 1, NULL), 0);
  assert_same(&c, &cb);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.msgs[0].m.timestamp, 0x01000000);
  assert_int_equal(c.msgs[0].m.len, 200);
  for (int i = 0; i < 200; i++) assert_int_equal(c.msgs[0].m.payload[i], 'x');
  assert_int_equal(c.msgs[1].m.timestamp, 0x02000010);
  for (int i = 0; i < 200; i++) assert_int_equal(c.msgs[1].m.payload[i], 'y');
  assert_int_equal(c.msgs[2].m.timestamp, 0x04000010);
  col_free(&c);
  col_free(&cb);
}

static void set_chunk_size(raw_t *r, uint32_t size) {
  hdr0(r, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0);
  put_be(r, size, 4);
}

static void test_set_chunk_size_mid_stream(void **state) {
  raw_t r = {0};
  hdr0(&r, 6, 0, 300, 9, 1);
  put_fill(&r, 'v', 128);         /* first chunk at the default size */
  set_chunk_size(&r, 4096);       /* then the peer raises it */
  put_u8(&r, 0xC6);
  put_fill(&r, 'v', 172);         /* the rest in one chunk */
  set_chunk_size(&r, 0x7FFFFFFF); /* legal, clamped */
  hdr0(&r, 6, 0, 10, 9, 1);
  put_fill(&r, 'w', 10);
  col_t c;
  col_init(&c);
  rtmp_chunk_reader_t *rd = rtmp_chunk_reader_new(NULL, collect, &c);
  assert_int_equal(rtmp_chunk_reader_feed(rd, r.b, r.n), 0);
  assert_int_equal(rtmp_chunk_reader_chunk_size(rd), RTMP_MAX_CHUNK_SIZE);
  rtmp_chunk_reader_free(rd);
  assert_int_equal(c.n, 4);
  assert_int_equal(c.msgs[0].m.type_id, RTMP_MSG_SET_CHUNK_SIZE);
  assert_int_equal(c.msgs[1].m.len, 300);
  assert_int_equal(c.msgs[3].m.len, 10);
  col_free(&c);
}

static void test_abort(void **state) {
  raw_t r = {0};
  hdr0(&r, 6, 0, 300, 9, 1);
  put_fill(&r, 'v', 128);
  hdr0(&r, 2, 0, 4, RTMP_MSG_ABORT, 0);
  put_be(&r, 6, 4);
  hdr0(&r, 6, 0, 3, 9, 1); /* a new message on the aborted csid is fine */
  put_fill(&r, 'n', 3);
  col_t c;
  col_init(&c);
  assert_int_equal(feed_split(r.b, r.n, &c, NULL, 0, NULL), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.msgs[0].m.type_id, RTMP_MSG_ABORT);
  assert_int_equal(c.msgs[1].m.len, 3);
  col_free(&c);
}

static int expect_error(const raw_t *r, const rtmp_chunk_opts_t *o) {
  col_t c;
  col_init(&c);
  static const size_t one[] = {1};
  int rc1 = feed_split(r->b, r->n, &c, NULL, 0, o);
  col_free(&c);
  int rc2 = feed_split(r->b, r->n, &c, one, 1, o);
  col_free(&c);
  assert_int_equal(rc1, rc2);
  return rc1;
}

static void test_malformed(void **state) {
  raw_t r;

  memset(&r, 0, sizeof(r));
  set_chunk_size(&r, 0);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r));
  set_chunk_size(&r, 0x80000000u);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* Set Chunk Size too short */
  hdr0(&r, 2, 0, 2, RTMP_MSG_SET_CHUNK_SIZE, 0);
  put_be(&r, 1, 2);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* fmt 3 on a csid never seen */
  put_u8(&r, 0xC5);
  put_fill(&r, 0, 10);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* fmt 1 on a csid never seen */
  put_u8(&r, 0x45);
  put_fill(&r, 0, 7);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* fmt 2 on a csid only known with an aborted... never seen */
  put_u8(&r, 0x85);
  put_fill(&r, 0, 3);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* message over the default 8 MiB limit */
  hdr0(&r, 6, 0, 8u * 1024 * 1024 + 1, 9, 1);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  rtmp_chunk_opts_t o;
  rtmp_chunk_opts_default(&o);
  o.max_message_size = 100;
  memset(&r, 0, sizeof(r));
  hdr0(&r, 6, 0, 100, 9, 1);
  put_fill(&r, 0, 100);
  assert_int_equal(expect_error(&r, &o), 0);
  put_u8(&r, 0x46); /* fmt 1 grows the next message past the limit */
  put_be(&r, 0, 3);
  put_be(&r, 101, 3);
  put_u8(&r, 9);
  assert_int_equal(expect_error(&r, &o), ERR_PROTOCOL);

  memset(&r, 0, sizeof(r)); /* a new header while a message is incomplete */
  hdr0(&r, 6, 0, 300, 9, 1);
  put_fill(&r, 0, 128);
  hdr0(&r, 6, 0, 5000, 9, 1);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);
  memset(&r, 0, sizeof(r));
  hdr0(&r, 6, 0, 300, 9, 1);
  put_fill(&r, 0, 128);
  put_u8(&r, 0x86); /* fmt 2 mid-message */
  put_be(&r, 0, 3);
  assert_int_equal(expect_error(&r, NULL), ERR_PROTOCOL);

  rtmp_chunk_opts_default(&o); /* too many chunk streams */
  o.max_chunk_streams = 4;
  memset(&r, 0, sizeof(r));
  for (uint8_t cs = 3; cs < 7; cs++) hdr0(&r, cs, 0, 0, 9, 1);
  assert_int_equal(expect_error(&r, &o), 0);
  hdr0(&r, 7, 0, 0, 9, 1);
  assert_int_equal(expect_error(&r, &o), ERR_PROTOCOL);

  rtmp_chunk_opts_default(&o); /* partial messages over the buffered limit */
  o.max_buffered = 200;
  memset(&r, 0, sizeof(r));
  hdr0(&r, 6, 0, 1000, 9, 1);
  put_fill(&r, 0, 128);
  hdr0(&r, 7, 0, 1000, 9, 1);
  put_fill(&r, 0, 128);
  assert_int_equal(expect_error(&r, &o), ERR_PROTOCOL);
}

/* Large messages delivered on many chunk streams do not pile up: each
 * stream gives its large buffer back once the message is out, so a peer
 * cannot hold 8 MiB on each of 64 chunk streams (the limit counts what is
 * held, whole or partial). */
static void test_large_buffers_are_given_back(void **state) {
  rtmp_chunk_writer_t w;
  rtmp_chunk_writer_init(&w);
  amf0_buf_t out = {0};
  assert_int_equal(rtmp_chunk_write_set_chunk_size(&w, &out, 65536), 0);
  size_t len = 300 * 1024;
  uint8_t *payload = calloc(1, len);
  for (uint32_t csid = 3; csid < 23; csid++) {
    rtmp_message_t m = {csid, 3 /* ack, ignored */, 0, 0, payload, len};
    assert_int_equal(rtmp_chunk_write(&w, &out, &m), 0);
  }
  rtmp_message_t small = {30, RTMP_MSG_AUDIO, 1, 0, payload, 1000};
  assert_int_equal(rtmp_chunk_write(&w, &out, &small), 0);
  rtmp_chunk_opts_t o;
  rtmp_chunk_opts_default(&o);
  o.max_buffered = 1024 * 1024; /* 20 x 300 KiB would be 6 MiB if kept */
  col_t c;
  col_init(&c);
  rtmp_chunk_reader_t *rd = rtmp_chunk_reader_new(&o, collect, &c);
  assert_int_equal(rtmp_chunk_reader_feed(rd, out.data, out.len), 0);
  assert_int_equal(c.n, 1 + 20 + 1);
  /* the small ones are kept for reuse: the audio message and Set Chunk Size */
  assert_int_equal(rtmp_chunk_reader_held(rd), 1000 + 4);
  rtmp_chunk_reader_free(rd);
  col_free(&c);

  /* two partial messages of 600 KiB do not fit in 1 MiB together */
  amf0_buf_free(&out);
  rtmp_chunk_writer_init(&w);
  assert_int_equal(rtmp_chunk_write_set_chunk_size(&w, &out, 65536), 0);
  uint8_t *big = calloc(1, 600 * 1024);
  rtmp_message_t m1 = {3, RTMP_MSG_VIDEO, 1, 0, big, 600 * 1024};
  rtmp_message_t m2 = {4, RTMP_MSG_VIDEO, 1, 0, big, 600 * 1024};
  assert_int_equal(rtmp_chunk_write(&w, &out, &m1), 0);
  /* m1's Set Chunk Size (12 + 4 bytes), then its first 5 chunks only (a
   * 12-byte header, then 1-byte fmt 3 headers) */
  size_t first = 16 + 12 + 65536 + 4 * (1 + 65536);
  amf0_buf_t tail = {0};
  assert_int_equal(rtmp_chunk_write(&w, &tail, &m2), 0);
  col_init(&c);
  rd = rtmp_chunk_reader_new(&o, collect, &c);
  assert_int_equal(rtmp_chunk_reader_feed(rd, out.data, first), 0);
  assert_int_equal(rtmp_chunk_reader_feed(rd, tail.data, tail.len), ERR_PROTOCOL);
  rtmp_chunk_reader_free(rd);
  col_free(&c);
  amf0_buf_free(&tail);
  amf0_buf_free(&out);
  free(big);
  free(payload);
}

static void test_error_is_sticky(void **state) {
  col_t c;
  col_init(&c);
  rtmp_chunk_reader_t *rd = rtmp_chunk_reader_new(NULL, collect, &c);
  static const uint8_t bad[] = {0xC5, 0};
  assert_int_equal(rtmp_chunk_reader_feed(rd, bad, 2), ERR_PROTOCOL);
  assert_int_equal(rtmp_chunk_reader_feed(rd, ffmpeg_stream, sizeof(ffmpeg_stream)),
                   ERR_PROTOCOL);
  assert_int_equal(c.n, 0);
  rtmp_chunk_reader_free(rd);

  /* the callback's error stops the reader too */
  c.fail_at = 2;
  rd = rtmp_chunk_reader_new(NULL, collect, &c);
  assert_int_equal(rtmp_chunk_reader_feed(rd, ffmpeg_stream, sizeof(ffmpeg_stream)),
                   ERR_CONFLICT);
  assert_int_equal(rtmp_chunk_reader_feed(rd, ffmpeg_stream, 1), ERR_CONFLICT);
  assert_int_equal(c.n, 2);
  rtmp_chunk_reader_free(rd);
  col_free(&c);
}

static void test_control_writers(void **state) {
  rtmp_chunk_writer_t w;
  rtmp_chunk_writer_init(&w);
  amf0_buf_t b = {0};
  assert_int_equal(rtmp_chunk_write_set_chunk_size(&w, &b, 4096), 0);
  assert_int_equal(w.chunk_size, 4096);
  static const uint8_t scs[] = {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0};
  assert_int_equal(b.len, sizeof(scs));
  assert_memory_equal(b.data, scs, sizeof(scs));

  amf0_buf_reset(&b);
  rtmp_chunk_write_window_ack_size(&w, &b, 2500000);
  rtmp_chunk_write_set_peer_bandwidth(&w, &b, 2500000, RTMP_BW_DYNAMIC);
  rtmp_chunk_write_ack(&w, &b, 0xDEADBEEF);
  assert_int_equal(rtmp_chunk_write_user_control(&w, &b, RTMP_UC_STREAM_BEGIN, 1), 0);
  col_t c;
  col_init(&c);
  assert_int_equal(feed_split(b.data, b.len, &c, NULL, 0, NULL), 0);
  assert_int_equal(c.n, 4);
  assert_int_equal(c.msgs[0].m.type_id, RTMP_MSG_WINDOW_ACK_SIZE);
  assert_memory_equal(c.msgs[0].m.payload, "\x00\x26\x25\xa0", 4);
  assert_int_equal(c.msgs[1].m.type_id, RTMP_MSG_SET_PEER_BANDWIDTH);
  assert_memory_equal(c.msgs[1].m.payload, "\x00\x26\x25\xa0\x02", 5);
  assert_int_equal(c.msgs[2].m.type_id, RTMP_MSG_ACK);
  assert_memory_equal(c.msgs[2].m.payload, "\xde\xad\xbe\xef", 4);
  assert_int_equal(c.msgs[3].m.type_id, RTMP_MSG_USER_CONTROL);
  assert_memory_equal(c.msgs[3].m.payload, "\x00\x00\x00\x00\x00\x01", 6);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(c.msgs[i].m.csid, 2);
    assert_int_equal(c.msgs[i].m.stream_id, 0);
  }
  col_free(&c);

  amf0_buf_t body = {0};
  amf0_build_on_bw_done(&body);
  amf0_buf_reset(&b);
  assert_int_equal(rtmp_chunk_write_command(&w, &b, 0, &body), 0);
  assert_int_equal(b.data[0], 3);
  assert_int_equal(b.data[7], RTMP_MSG_COMMAND_AMF0);

  /* invalid arguments */
  assert_int_equal(rtmp_chunk_write_set_chunk_size(&w, &b, 0), ERR_INVALID);
  rtmp_message_t m = {1, 9, 0, 0, NULL, 0};
  assert_int_equal(rtmp_chunk_write(&w, &b, &m), ERR_INVALID);
  m.csid = 65600;
  assert_int_equal(rtmp_chunk_write(&w, &b, &m), ERR_INVALID);
  m.csid = 3;
  m.len = 0x1000000;
  m.payload = (const uint8_t *)"";
  assert_int_equal(rtmp_chunk_write(&w, &b, &m), ERR_INVALID);
  amf0_buf_free(&body);
  amf0_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ffmpeg_stream),
      cmocka_unit_test(test_prefix_waits),
      cmocka_unit_test(test_writer_roundtrip),
      cmocka_unit_test(test_csid_forms),
      cmocka_unit_test(test_interleaved),
      cmocka_unit_test(test_timestamp_deltas),
      cmocka_unit_test(test_extended_timestamps),
      cmocka_unit_test(test_set_chunk_size_mid_stream),
      cmocka_unit_test(test_abort),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_large_buffers_are_given_back),
      cmocka_unit_test(test_error_is_sticky),
      cmocka_unit_test(test_control_writers),
  };
  return cmocka_run_group_tests_name("rtmp_chunk", tests, NULL, NULL);
}
