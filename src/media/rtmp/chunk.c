#include "media/rtmp/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MAX_HEADER (3 + 11 + 4) /* basic + fmt 0 message header + extended ts */
#define EXT_TS 0xFFFFFFu
#define MAX_MESSAGE_LEN 0xFFFFFFu /* 24-bit length field */
/* A chunk stream keeps its message buffer up to this size for the next
 * message (audio and video frames reuse theirs); a larger one, grown for a
 * keyframe or for a peer's oversized message, is given back once delivered. */
#define KEEP_BUF_BYTES (256u * 1024)

/* One chunk stream's state: the last header seen on it and the message
 * being assembled. */
typedef struct {
  uint32_t csid;
  int has_header;   /* a fmt 0 header was seen */
  int ext;          /* the last fmt 0/1/2 header used an extended timestamp */
  int in_progress;  /* a message has started and is not complete */
  uint32_t timestamp; /* absolute timestamp of the current / last message */
  uint32_t delta;   /* what a fmt 3 chunk starting a new message adds */
  uint32_t length;
  uint8_t type_id;
  uint32_t stream_id;
  uint8_t *buf;
  size_t cap;
  size_t received;
} cstream_t;

struct rtmp_chunk_reader_s {
  rtmp_chunk_opts_t opts;
  rtmp_message_cb cb;
  void *ud;
  uint32_t chunk_size;
  uint64_t bytes;
  int err;
  uint8_t hdr[MAX_HEADER]; /* header bytes collected so far */
  size_t hdr_len;
  cstream_t *cur;    /* non-NULL while reading a chunk's payload */
  size_t chunk_left; /* payload bytes left in the current chunk */
  cstream_t *streams;
  unsigned nstreams;
  cstream_t *last;   /* lookup cache: consecutive chunks often share a csid */
  size_t held;       /* bytes of message buffers allocated (the sum of caps) */
};

static uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | be24(p + 1); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

void rtmp_chunk_opts_default(rtmp_chunk_opts_t *o) {
  o->max_message_size = 8u * 1024 * 1024;
  o->max_chunk_streams = 64;
  o->max_buffered = 32u * 1024 * 1024;
}

rtmp_chunk_reader_t *rtmp_chunk_reader_new(const rtmp_chunk_opts_t *opts, rtmp_message_cb cb,
                                           void *ud) {
  rtmp_chunk_reader_t *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  if (opts) r->opts = *opts;
  else rtmp_chunk_opts_default(&r->opts);
  if (r->opts.max_message_size > MAX_MESSAGE_LEN) r->opts.max_message_size = MAX_MESSAGE_LEN;
  if (r->opts.max_chunk_streams == 0) r->opts.max_chunk_streams = 1;
  r->streams = calloc(r->opts.max_chunk_streams, sizeof(*r->streams));
  if (!r->streams) {
    free(r);
    return NULL;
  }
  r->cb = cb;
  r->ud = ud;
  r->chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
  return r;
}

size_t rtmp_chunk_reader_held(const rtmp_chunk_reader_t *r) { return r->held; }

void rtmp_chunk_reader_free(rtmp_chunk_reader_t *r) {
  if (!r) return;
  for (unsigned i = 0; i < r->nstreams; i++) free(r->streams[i].buf);
  free(r->streams);
  free(r);
}

uint64_t rtmp_chunk_reader_bytes(const rtmp_chunk_reader_t *r) { return r->bytes; }
uint32_t rtmp_chunk_reader_chunk_size(const rtmp_chunk_reader_t *r) { return r->chunk_size; }

static cstream_t *find_stream(rtmp_chunk_reader_t *r, uint32_t csid) {
  if (r->last && r->last->csid == csid) return r->last;
  for (unsigned i = 0; i < r->nstreams; i++)
    if (r->streams[i].csid == csid) return r->last = &r->streams[i];
  return NULL;
}

/* Decodes the chunk basic header in r->hdr (at least its first byte).
 * Returns its length; *csid is set once all its bytes are there. */
static size_t basic_header(const rtmp_chunk_reader_t *r, uint32_t *csid) {
  uint8_t low = r->hdr[0] & 0x3F;
  size_t n = low == 0 ? 2 : low == 1 ? 3 : 1;
  if (r->hdr_len >= n) {
    if (low == 0) *csid = 64u + r->hdr[1];
    else if (low == 1) *csid = 64u + r->hdr[1] + 256u * r->hdr[2];
    else *csid = low;
  }
  return n;
}

/* Total header length for the bytes collected so far (it may grow as more
 * bytes arrive), or a negative ERR_*. */
static long header_need(rtmp_chunk_reader_t *r) {
  static const size_t mh_len[4] = {11, 7, 3, 0};
  if (r->hdr_len == 0) return 1;
  unsigned fmt = r->hdr[0] >> 6;
  uint32_t csid = 0;
  size_t bh = basic_header(r, &csid);
  if (r->hdr_len < bh) return (long)bh;
  size_t mh = bh + mh_len[fmt];
  if (r->hdr_len < mh) return (long)mh;
  int ext;
  if (fmt < 3) {
    ext = be24(r->hdr + bh) == EXT_TS;
  } else {
    /* Whether a fmt 3 chunk carries an extended timestamp depends on the
     * chunk stream's last header: we must know it already. */
    cstream_t *cs = find_stream(r, csid);
    if (!cs || !cs->has_header) return ERR_PROTOCOL;
    ext = cs->ext;
  }
  return (long)(mh + (ext ? 4 : 0));
}

static void release_large_buf(rtmp_chunk_reader_t *r, cstream_t *cs) {
  if (cs->cap <= KEEP_BUF_BYTES) return;
  free(cs->buf);
  r->held -= cs->cap;
  cs->buf = NULL;
  cs->cap = 0;
}

static int deliver(rtmp_chunk_reader_t *r, cstream_t *cs) {
  static const uint8_t empty[1];
  cs->in_progress = 0;
  rtmp_message_t m = {cs->csid, cs->type_id, cs->stream_id, cs->timestamp,
                      cs->length ? cs->buf : empty, cs->length};
  cs->received = 0;
  if (m.type_id == RTMP_MSG_SET_CHUNK_SIZE) {
    if (m.len < 4) return ERR_PROTOCOL;
    uint32_t size = be32(m.payload);
    if (size == 0 || (size & 0x80000000u)) return ERR_PROTOCOL;
    r->chunk_size = size > RTMP_MAX_CHUNK_SIZE ? RTMP_MAX_CHUNK_SIZE : size;
  } else if (m.type_id == RTMP_MSG_ABORT) {
    if (m.len < 4) return ERR_PROTOCOL;
    cstream_t *a = find_stream(r, be32(m.payload));
    if (a && a->in_progress) {
      a->received = 0;
      a->in_progress = 0;
      if (a != cs) release_large_buf(r, a);
    }
  }
  int rc = r->cb ? r->cb(r->ud, &m) : 0;
  release_large_buf(r, cs);
  return rc;
}

/* Applies a complete chunk header in r->hdr. */
static int process_header(rtmp_chunk_reader_t *r) {
  unsigned fmt = r->hdr[0] >> 6;
  uint32_t csid = 0;
  const uint8_t *p = r->hdr + basic_header(r, &csid);
  cstream_t *cs = find_stream(r, csid);
  if (!cs) {
    /* fmt 1/2/3 reuse fields of an earlier header that does not exist
     * (the FFmpeg CVE-2016-10191 family): refuse. */
    if (fmt != 0) return ERR_PROTOCOL;
    if (r->nstreams >= r->opts.max_chunk_streams) return ERR_PROTOCOL;
    cs = &r->streams[r->nstreams++];
    cs->csid = csid;
    r->last = cs;
  }
  if (fmt != 0 && !cs->has_header) return ERR_PROTOCOL;
  /* A new header while a message is incomplete would change its length
   * under us; the spec has no such thing. */
  if (fmt < 3 && cs->in_progress) return ERR_PROTOCOL;

  if (fmt < 3) {
    uint32_t ts = be24(p);
    cs->ext = ts == EXT_TS;
    if (fmt <= 1) {
      cs->length = be24(p + 3);
      cs->type_id = p[6];
    }
    if (fmt == 0) cs->stream_id = le32(p + 7);
    if (cs->ext) ts = be32(p + (fmt == 0 ? 11 : fmt == 1 ? 7 : 3));
    /* After fmt 0 the "delta" a later fmt 3 adds is the fmt 0 timestamp
     * itself (spec §5.3.1.2.4 example; FFmpeg reads and writes it so). */
    cs->delta = ts;
    cs->timestamp = fmt == 0 ? ts : cs->timestamp + ts;
    cs->has_header = 1;
  } else if (!cs->in_progress) {
    /* fmt 3 starting a new message: same header, timestamp + delta. With an
     * extended timestamp the 4 bytes carry this message's delta. */
    if (cs->ext) cs->delta = be32(p);
    cs->timestamp += cs->delta;
  }
  /* else: a continuation; its extended timestamp (FFmpeg, OBS and the
   * spec's errata send one) repeats the message's and is skipped. */

  if (!cs->in_progress) {
    if (cs->length > r->opts.max_message_size) return ERR_PROTOCOL;
    cs->in_progress = 1;
    cs->received = 0;
    if (cs->length == 0) return deliver(r, cs);
  }
  size_t left = cs->length - cs->received;
  r->chunk_left = left < r->chunk_size ? left : r->chunk_size;
  r->cur = cs;
  return 0;
}

static int append_payload(rtmp_chunk_reader_t *r, cstream_t *cs, const uint8_t *data, size_t n) {
  size_t need = cs->received + n;
  if (need > cs->cap) {
    /* Grow with the bytes that actually arrived, not with the announced
     * length, so a peer cannot make us reserve memory it never sends. */
    size_t cap = cs->cap ? cs->cap : 4096;
    while (cap < need) cap *= 2;
    if (cap > cs->length) cap = cs->length;
    /* What every chunk stream holds counts, whole or partial: a peer that
     * sends one large message on each of many chunk streams is refused. */
    size_t room = r->opts.max_buffered - r->held + cs->cap; /* the most cs may hold */
    if (need > room) return ERR_PROTOCOL;
    if (cap > room) cap = room;
    uint8_t *b = realloc(cs->buf, cap);
    if (!b) return ERR_NOMEM;
    r->held += cap - cs->cap;
    cs->buf = b;
    cs->cap = cap;
  }
  memcpy(cs->buf + cs->received, data, n);
  cs->received += n;
  return 0;
}

static int feed(rtmp_chunk_reader_t *r, const uint8_t *data, size_t len) {
  while (len > 0) {
    int rc;
    if (r->cur) {
      cstream_t *cs = r->cur;
      size_t n = len < r->chunk_left ? len : r->chunk_left;
      if ((rc = append_payload(r, cs, data, n))) return rc;
      data += n;
      len -= n;
      r->chunk_left -= n;
      if (r->chunk_left == 0) {
        r->cur = NULL;
        if (cs->received == cs->length && (rc = deliver(r, cs))) return rc;
      }
      continue;
    }
    long need = header_need(r);
    if (need < 0) return (int)need;
    size_t n = (size_t)need - r->hdr_len;
    if (n > len) n = len;
    memcpy(r->hdr + r->hdr_len, data, n);
    r->hdr_len += n;
    data += n;
    len -= n;
    /* Complete only if the need did not grow with the new bytes. */
    long again = header_need(r);
    if (again < 0) return (int)again;
    if ((size_t)again == r->hdr_len) {
      rc = process_header(r);
      r->hdr_len = 0;
      if (rc) return rc;
    }
  }
  return 0;
}

int rtmp_chunk_reader_feed(rtmp_chunk_reader_t *r, const uint8_t *data, size_t len) {
  if (r->err) return r->err;
  if (!data && len) return ERR_INVALID;
  r->bytes += len;
  int rc = feed(r, data, len);
  if (rc) r->err = rc;
  return rc;
}

/* ---------------------------------------------------------------- writer */

void rtmp_chunk_writer_init(rtmp_chunk_writer_t *w) { w->chunk_size = RTMP_DEFAULT_CHUNK_SIZE; }

static size_t put_basic(uint8_t *p, unsigned fmt, uint32_t csid) {
  if (csid < 64) {
    p[0] = (uint8_t)(fmt << 6 | csid);
    return 1;
  }
  if (csid < 320) {
    p[0] = (uint8_t)(fmt << 6);
    p[1] = (uint8_t)(csid - 64);
    return 2;
  }
  p[0] = (uint8_t)(fmt << 6 | 1);
  p[1] = (uint8_t)((csid - 64) & 0xFF);
  p[2] = (uint8_t)((csid - 64) >> 8);
  return 3;
}

static void put_be(uint8_t *p, uint32_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int rtmp_chunk_write(rtmp_chunk_writer_t *w, amf0_buf_t *out, const rtmp_message_t *m) {
  if (out->err) return out->err;
  if (m->csid < 2 || m->csid > RTMP_MAX_CSID || m->len > MAX_MESSAGE_LEN ||
      (m->len && !m->payload))
    return ERR_INVALID;
  size_t cs = w->chunk_size ? w->chunk_size : RTMP_DEFAULT_CHUNK_SIZE;
  int ext = m->timestamp >= EXT_TS;
  size_t nchunks = m->len ? (m->len + cs - 1) / cs : 1;
  size_t cont_hdr = (m->csid < 64 ? 1 : m->csid < 320 ? 2 : 3) + (ext ? 4 : 0);
  /* Reserve everything once so the loop below cannot fail half-way. */
  size_t total = MAX_HEADER + (nchunks - 1) * cont_hdr + m->len;
  int rc = amf0_buf_reserve(out, total);
  if (rc) return rc;
  uint8_t *p = out->data + out->len;
  p += put_basic(p, 0, m->csid);
  put_be(p, ext ? EXT_TS : m->timestamp, 3);
  put_be(p + 3, (uint32_t)m->len, 3);
  p[6] = m->type_id;
  p[7] = (uint8_t)m->stream_id; /* little-endian, a historical quirk */
  p[8] = (uint8_t)(m->stream_id >> 8);
  p[9] = (uint8_t)(m->stream_id >> 16);
  p[10] = (uint8_t)(m->stream_id >> 24);
  p += 11;
  if (ext) {
    put_be(p, m->timestamp, 4);
    p += 4;
  }
  size_t off = 0;
  for (;;) {
    size_t n = m->len - off < cs ? m->len - off : cs;
    if (n) memcpy(p, m->payload + off, n);
    p += n;
    off += n;
    if (off >= m->len) break;
    p += put_basic(p, 3, m->csid);
    if (ext) {
      put_be(p, m->timestamp, 4);
      p += 4;
    }
  }
  out->len = (size_t)(p - out->data);
  return 0;
}

int rtmp_chunk_write_command(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t stream_id,
                             const amf0_buf_t *body) {
  if (body->err) return body->err;
  rtmp_message_t m = {3, RTMP_MSG_COMMAND_AMF0, stream_id, 0, body->data, body->len};
  return rtmp_chunk_write(w, out, &m);
}

static int write_control(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint8_t type,
                         const uint8_t *payload, size_t len) {
  rtmp_message_t m = {2, type, 0, 0, payload, len};
  return rtmp_chunk_write(w, out, &m);
}

int rtmp_chunk_write_set_chunk_size(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size) {
  if (size == 0 || size > RTMP_MAX_CHUNK_SIZE) return ERR_INVALID;
  uint8_t p[4];
  put_be(p, size, 4);
  int rc = write_control(w, out, RTMP_MSG_SET_CHUNK_SIZE, p, 4);
  if (!rc) w->chunk_size = size; /* takes effect after this message */
  return rc;
}

int rtmp_chunk_write_window_ack_size(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size) {
  uint8_t p[4];
  put_be(p, size, 4);
  return write_control(w, out, RTMP_MSG_WINDOW_ACK_SIZE, p, 4);
}

int rtmp_chunk_write_set_peer_bandwidth(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size,
                                        uint8_t limit_type) {
  uint8_t p[5];
  put_be(p, size, 4);
  p[4] = limit_type;
  return write_control(w, out, RTMP_MSG_SET_PEER_BANDWIDTH, p, 5);
}

int rtmp_chunk_write_ack(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t sequence) {
  uint8_t p[4];
  put_be(p, sequence, 4);
  return write_control(w, out, RTMP_MSG_ACK, p, 4);
}

int rtmp_chunk_write_user_control(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint16_t event,
                                  uint32_t value) {
  uint8_t p[6];
  put_be(p, event, 2);
  put_be(p + 2, value, 4);
  return write_control(w, out, RTMP_MSG_USER_CONTROL, p, 6);
}
