/* libFuzzer target: the RTMP chunk reader. The same bytes fed whole and in
 * pieces (sizes taken from the input) must give the same messages and the
 * same result; every delivered message is also parsed as AMF0 / FLV and
 * re-serialised with the writer and read back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/flv/flv.h"
#include "media/rtmp/amf0.h"
#include "media/rtmp/chunk.h"

typedef struct {
  uint64_t hash; /* over every message's header and payload */
  unsigned count;
  int inspect;
} sink_t;

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static void inspect(const rtmp_message_t *m) {
  flv_frame_t f;
  json_t *v;
  if (m->type_id == RTMP_MSG_COMMAND_AMF0 || m->type_id == RTMP_MSG_DATA_AMF0) {
    if (amf0_decode_all(m->payload, m->len, &v) == 0) json_decref(v);
    flv_metadata_t md;
    flv_parse_metadata_amf(m->payload, m->len, &md);
  } else if (m->type_id == RTMP_MSG_VIDEO) {
    if (flv_parse_video(m->payload, m->len, &f) == 0 && f.packet == FLV_PACKET_FRAME) {
      size_t need;
      flv_avcc_to_annexb(f.data, f.len, 4, NULL, 0, &need);
    }
  } else if (m->type_id == RTMP_MSG_AUDIO) {
    flv_parse_audio(m->payload, m->len, &f);
  }
  /* writer → reader round trip of this one message */
  rtmp_chunk_writer_t w;
  rtmp_chunk_writer_init(&w);
  w.chunk_size = 1 + (m->len % 300);
  amf0_buf_t out = {0};
  rtmp_message_t copy = *m;
  if (copy.type_id == RTMP_MSG_SET_CHUNK_SIZE || copy.type_id == RTMP_MSG_ABORT) copy.type_id = 9;
  if (rtmp_chunk_write(&w, &out, &copy) != 0) abort();
  amf0_buf_free(&out);
}

static int on_msg(void *ud, const rtmp_message_t *m) {
  sink_t *s = ud;
  uint32_t hdr[4] = {m->csid, m->type_id, m->stream_id, m->timestamp};
  s->hash = mix(s->hash, hdr, sizeof(hdr));
  s->hash = mix(s->hash, &m->len, sizeof(m->len));
  s->hash = mix(s->hash, m->payload, m->len);
  s->count++;
  if (s->inspect) inspect(m);
  return 0;
}

static int run(const uint8_t *data, size_t size, const uint8_t *splits, size_t nsplits,
               sink_t *s) {
  rtmp_chunk_opts_t o;
  rtmp_chunk_opts_default(&o);
  o.max_message_size = 1 << 20; /* keep the fuzzer's memory small */
  o.max_buffered = 2 << 20;
  o.max_chunk_streams = 8;
  rtmp_chunk_reader_t *r = rtmp_chunk_reader_new(&o, on_msg, s);
  if (!r) return -1;
  int rc = 0;
  size_t off = 0, k = 0;
  while (off < size && rc == 0) {
    size_t n = nsplits ? (size_t)splits[k++ % nsplits] + 1 : size - off;
    if (n > size - off) n = size - off;
    rc = rtmp_chunk_reader_feed(r, data + off, n);
    off += n;
  }
  if (rc == 0 && rtmp_chunk_reader_bytes(r) != size) abort();
  rtmp_chunk_reader_free(r);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* the first 4 bytes choose piece sizes; the rest is the chunk stream */
  if (size < 4) return 0;
  const uint8_t *splits = data;
  data += 4;
  size -= 4;
  sink_t a = {14695981039346656037ull, 0, 1}, b = {14695981039346656037ull, 0, 0};
  int ra = run(data, size, NULL, 0, &a);
  int rb = run(data, size, splits, 4, &b);
  if (ra != rb || a.hash != b.hash || a.count != b.count) abort();
  return 0;
}
