/* libFuzzer target: SRT streamid parsing (plain key and "#!::" form).
 * Checks the contract, not just the absence of crashes: on success the key
 * is non-empty, NUL-terminated, within limits and made of allowed bytes;
 * on failure it is empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/srt/streamid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  srt_streamid_t id;
  int rc = srt_streamid_parse((const char *)data, size, &id);
  size_t n = strnlen(id.key, sizeof(id.key));
  if (n == sizeof(id.key)) abort(); /* not terminated */
  if (rc == 0) {
    if (n == 0 || n > SRT_STREAM_KEY_MAX) abort();
    for (size_t i = 0; i < n; i++)
      if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.", id.key[i]))
        abort();
  } else {
    if (rc != ERR_INVALID && rc != ERR_FORBIDDEN) abort();
    if (n != 0) abort();
  }
  return 0;
}
