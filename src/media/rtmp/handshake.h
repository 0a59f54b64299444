/* handshake.h — the server side of the RTMP handshake, push-style.
 *
 *   client → C0 (version 3) + C1 (1536 bytes)
 *   server → S0 + S1 + S2          (as soon as C0+C1 are in)
 *   client → C2 (1536 bytes)       → DONE; bytes after C2 are chunk data.
 *
 * Two flavours, chosen by looking at C1:
 *  - simple (spec §5.2): S1 is random, S2 echoes C1;
 *  - digest ("complex", Flash Player / librtmp / OBS / FFmpeg): C1 carries an
 *    HMAC-SHA256 digest keyed with the Genuine Flash Player key at one of two
 *    offset schemes. S1 then carries our digest (Genuine FMS key, same scheme)
 *    and S2 ends with HMAC(HMAC(FMS full key, C1 digest), S2[0..1504)).
 * C2 is read but not verified: real clients fill it loosely.
 *
 * Usage:
 *   rtmp_handshake_t *hs = rtmp_handshake_new();
 *   rc = rtmp_handshake_feed(hs, data, len, &used);     // 0 or ERR_PROTOCOL
 *   out = rtmp_handshake_take_output(hs, &olen);         // send these bytes
 *   if (rtmp_handshake_state(hs) == RTMP_HS_DONE) pass data+used.. to the chunk reader
 */
#ifndef ONAIR_RTMP_HANDSHAKE_H
#define ONAIR_RTMP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define RTMP_HANDSHAKE_SIZE 1536
#define RTMP_VERSION 3

typedef enum {
  RTMP_HS_WAIT_C0C1 = 0,
  RTMP_HS_WAIT_C2,
  RTMP_HS_DONE,
  RTMP_HS_FAILED,
} rtmp_handshake_state_t;

typedef struct rtmp_handshake_s rtmp_handshake_t;

/* NULL on allocation failure. */
rtmp_handshake_t *rtmp_handshake_new(void);
void rtmp_handshake_free(rtmp_handshake_t *hs);

/* Consumes bytes up to the end of C2 and sets *consumed (<= len). Bytes
 * past C2 are not consumed: they belong to the chunk stream. Feeding after
 * DONE consumes nothing. 0, ERR_PROTOCOL (C0 not 3; the handshake is then
 * FAILED) or ERR_INTERNAL (no randomness). */
int rtmp_handshake_feed(rtmp_handshake_t *hs, const uint8_t *data, size_t len, size_t *consumed);

/* Bytes to send now (S0+S1+S2, 3073 bytes, once), or NULL with *len = 0.
 * Each byte is handed out once; the memory stays valid until _free. */
const uint8_t *rtmp_handshake_take_output(rtmp_handshake_t *hs, size_t *len);

rtmp_handshake_state_t rtmp_handshake_state(const rtmp_handshake_t *hs);
/* 1 when the client used the digest handshake (known once C1 is in). */
int rtmp_handshake_is_digest(const rtmp_handshake_t *hs);

/* Exposed for tests and for an RTMP client later: the digest offset of a
 * 1536-byte C1/S1 for scheme 0 (digest after time+version) or 1 (digest
 * after the key block), and the HMAC-SHA256 of the packet without those 32
 * bytes. */
size_t rtmp_handshake_digest_offset(const uint8_t *pkt, int scheme);
void rtmp_handshake_digest(const uint8_t *pkt, size_t offset, const uint8_t *key, size_t keylen,
                           uint8_t out[32]);

/* The well-known keys: 36-byte FMS / 30-byte Flash Player partial keys
 * followed by the shared 32-byte tail (full keys are 68 / 62 bytes). */
extern const uint8_t rtmp_handshake_fms_key[68];
extern const uint8_t rtmp_handshake_fp_key[62];

#endif
