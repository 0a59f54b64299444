/* chunk.h — the RTMP chunk stream (RTMP spec §5.3): a push-style receiving
 * demuxer and a sending serialiser. No sockets, no blocking.
 *
 * Reader: feed it whatever bytes arrived after the handshake; every complete
 * message is handed to the callback. The reader applies Set Chunk Size
 * (type 1) and Abort (type 2) itself and still delivers them, like every
 * other protocol control message (types 1–6), so the session sees them all.
 *
 *   rtmp_chunk_reader_t *r = rtmp_chunk_reader_new(NULL, on_message, session);
 *   rc = rtmp_chunk_reader_feed(r, data, len);   // 0 or ERR_*
 *
 * Timestamps are absolute message timestamps rebuilt from fmt 1/2/3 deltas,
 * kept as uint32 and wrapping modulo 2^32 as the protocol does.
 * Peer input is bounded (rtmp_chunk_opts_t): message size, number of chunk
 * streams and bytes held in message buffers. Anything the spec does not
 * allow — a fmt 1/2/3 chunk on a chunk stream that never had a fmt 0 header,
 * a new header in the middle of a message, chunk size 0 or with the top bit
 * set, a message over the limit — is ERR_PROTOCOL. After any error the
 * reader refuses further input (returns the same error).
 *
 * Writer: serialises a message as a fmt 0 chunk followed by fmt 3
 * continuations at the outgoing chunk size, with extended timestamps, into
 * an amf0_buf_t (appended).
 */
#ifndef ONAIR_RTMP_CHUNK_H
#define ONAIR_RTMP_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "media/rtmp/amf0.h"

/* Message type ids (RTMP spec §5.4, §7.1). */
enum {
  RTMP_MSG_SET_CHUNK_SIZE = 1,
  RTMP_MSG_ABORT = 2,
  RTMP_MSG_ACK = 3,
  RTMP_MSG_USER_CONTROL = 4,
  RTMP_MSG_WINDOW_ACK_SIZE = 5,
  RTMP_MSG_SET_PEER_BANDWIDTH = 6,
  RTMP_MSG_AUDIO = 8,
  RTMP_MSG_VIDEO = 9,
  RTMP_MSG_DATA_AMF3 = 15,
  RTMP_MSG_SHARED_OBJECT_AMF3 = 16,
  RTMP_MSG_COMMAND_AMF3 = 17,
  RTMP_MSG_DATA_AMF0 = 18,
  RTMP_MSG_SHARED_OBJECT_AMF0 = 19,
  RTMP_MSG_COMMAND_AMF0 = 20,
  RTMP_MSG_AGGREGATE = 22,
};

/* User control event types (§7.1.7). */
enum {
  RTMP_UC_STREAM_BEGIN = 0,
  RTMP_UC_STREAM_EOF = 1,
  RTMP_UC_STREAM_DRY = 2,
  RTMP_UC_SET_BUFFER_LENGTH = 3,
  RTMP_UC_STREAM_IS_RECORDED = 4,
  RTMP_UC_PING_REQUEST = 6,
  RTMP_UC_PING_RESPONSE = 7,
};

/* Set Peer Bandwidth limit types. */
enum { RTMP_BW_HARD = 0, RTMP_BW_SOFT = 1, RTMP_BW_DYNAMIC = 2 };

#define RTMP_DEFAULT_CHUNK_SIZE 128
/* Chunk sizes the peer asks for above this are clamped: a message is at
 * most 2^24-1 bytes (24-bit length), so this loses nothing. */
#define RTMP_MAX_CHUNK_SIZE (16u * 1024 * 1024)
#define RTMP_MAX_CSID 65599

typedef struct {
  uint32_t csid;
  uint8_t type_id;
  uint32_t stream_id;
  uint32_t timestamp; /* absolute, milliseconds, wraps modulo 2^32 */
  const uint8_t *payload; /* valid only during the callback */
  size_t len;
} rtmp_message_t;

/* Called for each complete message. Return 0 to go on, or a negative ERR_*
 * to stop: feed() then returns that code and the reader is failed. The
 * callback must not free the reader. */
typedef int (*rtmp_message_cb)(void *ud, const rtmp_message_t *msg);

typedef struct {
  size_t max_message_size;   /* default 8 MiB (never above 2^24-1) */
  unsigned max_chunk_streams; /* default 64 */
  size_t max_buffered;       /* bytes of message buffers held, default 32 MiB */
} rtmp_chunk_opts_t;

void rtmp_chunk_opts_default(rtmp_chunk_opts_t *o);

typedef struct rtmp_chunk_reader_s rtmp_chunk_reader_t;

/* opts may be NULL for the defaults. NULL on allocation failure. */
rtmp_chunk_reader_t *rtmp_chunk_reader_new(const rtmp_chunk_opts_t *opts, rtmp_message_cb cb,
                                           void *ud);
void rtmp_chunk_reader_free(rtmp_chunk_reader_t *r);
/* Bytes of message buffers the reader holds now (counted against
 * max_buffered). A chunk stream keeps up to 256 KiB for its next message;
 * larger buffers are freed once their message has been delivered. */
size_t rtmp_chunk_reader_held(const rtmp_chunk_reader_t *r);
/* Consumes all len bytes (partial chunks are kept for the next call).
 * 0, ERR_PROTOCOL, ERR_NOMEM or the callback's error. */
int rtmp_chunk_reader_feed(rtmp_chunk_reader_t *r, const uint8_t *data, size_t len);
/* Total bytes fed so far (for Acknowledgement: the session sends the low
 * 32 bits whenever this crosses another window). */
uint64_t rtmp_chunk_reader_bytes(const rtmp_chunk_reader_t *r);
/* The incoming chunk size now in force. */
uint32_t rtmp_chunk_reader_chunk_size(const rtmp_chunk_reader_t *r);

/* ---- writer ---- */

typedef struct {
  uint32_t chunk_size; /* outgoing; starts at RTMP_DEFAULT_CHUNK_SIZE */
} rtmp_chunk_writer_t;

void rtmp_chunk_writer_init(rtmp_chunk_writer_t *w);
/* Appends msg (csid 2..65599, len <= 2^24-1) as chunks to out.
 * 0, ERR_INVALID or ERR_NOMEM. */
int rtmp_chunk_write(rtmp_chunk_writer_t *w, amf0_buf_t *out, const rtmp_message_t *msg);
/* Shorthand for an AMF0 command (type 20) on csid 3. */
int rtmp_chunk_write_command(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t stream_id,
                             const amf0_buf_t *body);

/* Protocol control messages (csid 2, stream 0, timestamp 0). */
/* Also switches w to the new size for every later message. 1..2^24. */
int rtmp_chunk_write_set_chunk_size(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size);
int rtmp_chunk_write_window_ack_size(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size);
int rtmp_chunk_write_set_peer_bandwidth(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t size,
                                        uint8_t limit_type);
int rtmp_chunk_write_ack(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint32_t sequence);
/* User control event with a 4-byte argument: stream id for Stream Begin /
 * EOF / Dry / Is Recorded, timestamp for Ping. */
int rtmp_chunk_write_user_control(rtmp_chunk_writer_t *w, amf0_buf_t *out, uint16_t event,
                                  uint32_t value);

#endif
