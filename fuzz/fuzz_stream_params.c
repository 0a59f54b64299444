/* libFuzzer: live-stream request bodies (JSON parse + seed 003 validation +
 * public view), as POST/PUT /v1/live-streams see them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/stream_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (!body) return 0;
  json_t *params = stream_params_defaults();
  stream_request_t req;
  api_field_error_t err;
  if (stream_params_apply(body, params, &req, &err) == 0) {
    json_t *pub = stream_params_public(params);
    char *text = json_dumps(pub, JSON_COMPACT);
    free(text);
    json_decref(pub);
  }
  json_decref(params);
  json_decref(body);
  return 0;
}
