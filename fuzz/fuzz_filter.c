/* fuzz_filter.c — filter_parse on arbitrary query strings, then filter_match
 * against a fixed stream-shaped object (nested objects, arrays of objects,
 * scalar arrays, null, numbers, booleans) and filter_find_unknown_key. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/filter.h"
#include "core/err.h"

static const char *STREAM_JSON =
    "{\"id\":\"12345fcd-7aea-492c-b9eb-b4b0cde0dc7e\",\"name\":\"test stream\","
    "\"status\":{\"name\":\"live\",\"timestamp\":\"2021-08-28 17:59:33\"},"
    "\"playback_domain\":null,\"stream_key\":\"12345be3\","
    "\"playback_ids\":[{\"policy\":\"public\",\"id\":\"Av22X1p8h5\"},"
    "{\"policy\":\"authenticated\",\"id\":\"Bq81k0x7s2\",\"nested\":[{\"a\":1}]},7,[{\"x\":1}]],"
    "\"params\":{\"output_format\":\"hls\",\"callback_url\":null,\"framerate\":30,"
    "\"bitrate\":2.5,\"big\":9007199254740993,\"neg\":-1e-300,\"mode\":\"auto\","
    "\"dvr\":{\"enabled\":true},\"record\":{\"enabled\":1},\"low_latency\":false,"
    "\"allowed_referer_domains\":[\"example.com\",\"b.example\",0,true,null,{}],\"tags\":[]}}";

static const char *const RESERVED[] = {"limit", "offset", NULL};
static const char *const KNOWN[] = {"id", "status.name", "params.dvr.enabled", "recording.*",
                                    NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static json_t *obj;
  if (!obj) obj = json_loads(STREAM_JSON, 0, NULL);
  if (!obj) abort();
  /* The HTTP layer hands over a NUL-terminated query; embedded NULs end it. */
  char *q = malloc(size + 1);
  if (!q) return 0;
  memcpy(q, data, size);
  q[size] = '\0';
  filter_t *f = NULL;
  char field[128];
  int rc = filter_parse(q, RESERVED, &f, field, sizeof(field));
  if (rc == 0) {
    if (filter_count(f) > FILTER_MAX_CONDITIONS) abort();
    (void)filter_match(f, obj);
    (void)filter_match(f, NULL);
    char key[16]; /* small: the truncation path too */
    if (filter_find_unknown_key(f, KNOWN, key, sizeof(key)) && strlen(key) >= sizeof(key)) abort();
    filter_free(f);
  } else {
    if (f || rc != ERR_INVALID || strlen(field) >= sizeof(field)) abort();
  }
  free(q);
  return 0;
}
