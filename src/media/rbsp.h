/* rbsp.h — a bit reader over an H.264/HEVC NAL unit's payload (RBSP), the
 * emulation prevention bytes (00 00 03) skipped. Reads past the end return
 * zeros and set .error, so a parser checks once at the end. Peer input. */
#ifndef ONAIR_RBSP_H
#define ONAIR_RBSP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *p;
  size_t len, byte;
  int bit;   /* next bit within p[byte], 7 = most significant */
  int zeros; /* consecutive zero bytes seen, for 00 00 03 */
  int error;
} rbsp_bits_t;

static inline int rbsp_bit(rbsp_bits_t *b) {
  if (b->byte >= b->len) {
    b->error = 1;
    return 0;
  }
  if (b->bit == 7 && b->zeros >= 2 && b->p[b->byte] == 3) { /* emulation prevention */
    b->byte++;
    b->zeros = 0;
    if (b->byte >= b->len) {
      b->error = 1;
      return 0;
    }
  }
  int v = (b->p[b->byte] >> b->bit) & 1;
  if (--b->bit < 0) {
    b->zeros = b->p[b->byte] == 0 ? b->zeros + 1 : 0;
    b->bit = 7;
    b->byte++;
  }
  return v;
}

static inline uint32_t rbsp_bits(rbsp_bits_t *b, int n) {
  uint32_t v = 0;
  while (n-- > 0) v = (v << 1) | (uint32_t)rbsp_bit(b);
  return v;
}

/* Exp-Golomb ue(v); values over 2^31 are treated as errors. */
static inline uint32_t rbsp_ue(rbsp_bits_t *b) {
  int zeros = 0;
  while (!rbsp_bit(b) && !b->error)
    if (++zeros > 31) {
      b->error = 1;
      return 0;
    }
  return ((1u << zeros) - 1) + rbsp_bits(b, zeros);
}

static inline int32_t rbsp_se(rbsp_bits_t *b) {
  uint32_t k = rbsp_ue(b);
  return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

#endif
