/* libFuzzer target: AMF0 decoding. Whatever decodes must re-encode and
 * decode again to the same JSON (the decoder's output is a fixed point). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "media/rtmp/amf0.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *v = NULL;
  if (amf0_decode_all(data, size, &v) != 0) return 0;
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  free(s);

  amf0_buf_t b;
  amf0_buf_init(&b);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) amf0_write_json(&b, e);
  if (b.err) abort();
  json_t *again = NULL;
  if (amf0_decode_all(b.data, b.len, &again) != 0) abort();
  if (!json_equal(v, again)) abort();
  json_decref(again);
  amf0_buf_free(&b);

  /* one value at a time walks the same bytes */
  size_t pos = 0;
  while (pos < size) {
    json_t *one;
    if (amf0_decode_value(data, size, &pos, &one) != 0) abort();
    json_decref(one);
  }
  json_decref(v);
  return 0;
}
