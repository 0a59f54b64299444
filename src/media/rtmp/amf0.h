/* amf0.h — AMF0 (Action Message Format 0) decoding to jansson values and
 * encoding of RTMP command messages.
 *
 * Decoding maps AMF0 onto JSON:
 *   number → integer when integral (|x| < 2^53), else real; NaN/Inf → null
 *   boolean → true/false          string, long string, XML doc → string
 *   object, typed object, ECMA array → object   strict array → array
 *   null, undefined, unsupported → null          date → number (ms since epoch)
 * Invalid UTF-8 in strings (and NUL in property names) is replaced byte-wise
 * with '?', so every decoded value can be dumped as JSON and looked up.
 *
 * Peer input is bounded: nesting depth <= AMF0_MAX_DEPTH, values per decode
 * call <= AMF0_MAX_VALUES, strings <= AMF0_MAX_STRING bytes. Anything
 * truncated, malformed or over a limit is ERR_PROTOCOL; nothing is read past
 * the end of the buffer.
 *
 * Encoding writes into an amf0_buf_t, a growable byte buffer that the rtmp
 * modules also use for outgoing chunks. Writers are "sticky": after an
 * allocation failure every later write is a no-op and returns the same
 * error, so a caller may chain writes and check the last return (or
 * buf->err) once.
 */
#ifndef ONAIR_AMF0_H
#define ONAIR_AMF0_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AMF0_MAX_DEPTH 16
#define AMF0_MAX_VALUES 1024
#define AMF0_MAX_STRING 65536

/* Type markers (AMF0 spec §2.1). */
enum {
  AMF0_NUMBER = 0x00,
  AMF0_BOOLEAN = 0x01,
  AMF0_STRING = 0x02,
  AMF0_OBJECT = 0x03,
  AMF0_MOVIECLIP = 0x04, /* reserved */
  AMF0_NULL = 0x05,
  AMF0_UNDEFINED = 0x06,
  AMF0_REFERENCE = 0x07,
  AMF0_ECMA_ARRAY = 0x08,
  AMF0_OBJECT_END = 0x09,
  AMF0_STRICT_ARRAY = 0x0A,
  AMF0_DATE = 0x0B,
  AMF0_LONG_STRING = 0x0C,
  AMF0_UNSUPPORTED = 0x0D,
  AMF0_RECORDSET = 0x0E, /* reserved */
  AMF0_XML_DOCUMENT = 0x0F,
  AMF0_TYPED_OBJECT = 0x10,
  AMF0_AVMPLUS = 0x11, /* switch to AMF3: not supported */
};

/* A growable byte buffer. Zero-initialise or amf0_buf_init(); free with
 * amf0_buf_free(). data is owned by the buffer. */
typedef struct {
  uint8_t *data;
  size_t len;
  size_t cap;
  int err; /* first error (ERR_NOMEM / ERR_INVALID) or 0 */
} amf0_buf_t;

void amf0_buf_init(amf0_buf_t *b);
void amf0_buf_free(amf0_buf_t *b);
/* Empties the buffer (keeps its memory, clears err). */
void amf0_buf_reset(amf0_buf_t *b);
/* Makes room for extra more bytes after len (for writing in place). */
int amf0_buf_reserve(amf0_buf_t *b, size_t extra);
/* Appends raw bytes. 0 or ERR_NOMEM. */
int amf0_buf_append(amf0_buf_t *b, const void *data, size_t len);

/* ---- decoding ---- */

/* Decodes one value starting at data[*pos]; on success advances *pos and
 * stores a new reference in *out (caller json_decref()s). */
int amf0_decode_value(const uint8_t *data, size_t len, size_t *pos, json_t **out);
/* Decodes a whole message body (e.g. a command: name, transaction id,
 * command object, args…) into a new JSON array of values. An empty body
 * gives an empty array. */
int amf0_decode_all(const uint8_t *data, size_t len, json_t **out);

/* ---- encoding ---- */

/* Strings longer than 65535 bytes are written as long strings. */
int amf0_write_string(amf0_buf_t *b, const char *s);
int amf0_write_stringn(amf0_buf_t *b, const char *s, size_t len);
int amf0_write_number(amf0_buf_t *b, double v);
int amf0_write_bool(amf0_buf_t *b, int v);
int amf0_write_null(amf0_buf_t *b);
int amf0_write_object_start(amf0_buf_t *b);
/* A property name inside an object / ECMA array (no type marker); the value
 * follows with any amf0_write_* call. Names over 65535 bytes: ERR_INVALID. */
int amf0_write_property(amf0_buf_t *b, const char *name);
int amf0_write_object_end(amf0_buf_t *b);
/* Shorthands: name + value. */
int amf0_write_prop_string(amf0_buf_t *b, const char *name, const char *v);
int amf0_write_prop_number(amf0_buf_t *b, const char *name, double v);
int amf0_write_prop_bool(amf0_buf_t *b, const char *name, int v);
/* Encodes a JSON value: object → object, array → strict array, integer and
 * real → number, string, true/false, null. Depth-limited like decoding. */
int amf0_write_json(amf0_buf_t *b, const json_t *v);

/* ---- command responses (message type 20 bodies) ---- */

/* "_result", txn, {fmsVer, capabilities, mode},
 * {level:"status", code:"NetConnection.Connect.Success", description,
 *  objectEncoding}. */
int amf0_build_connect_result(amf0_buf_t *b, double txn, double object_encoding);
/* "_result", txn, null, value — e.g. createStream's new stream id. */
int amf0_build_result_number(amf0_buf_t *b, double txn, double value);
/* "_result" or "_error", txn, null, null — a bare acknowledgement. */
int amf0_build_result_empty(amf0_buf_t *b, const char *name, double txn);
/* "_error", txn, null, {level:"error", code, description} — e.g. a rejected
 * connect ("NetConnection.Connect.Rejected"). */
int amf0_build_error(amf0_buf_t *b, double txn, const char *code, const char *description);
/* "onStatus", 0, null, {level, code, description}. */
int amf0_build_on_status(amf0_buf_t *b, const char *level, const char *code,
                         const char *description);
/* "onBWDone", 0, null. */
int amf0_build_on_bw_done(amf0_buf_t *b);

#endif
