#include "core/err.h"

static const struct {
  int err;
  int status;
  const char *code;
  const char *text;
} err_table[] = {
  {ERR_OK, 200, "ok", "success"},
  {ERR_NOMEM, 500, "internal", "out of memory"},
  {ERR_INVALID, 400, "invalid_request", "invalid request"},
  {ERR_NOT_FOUND, 404, "not_found", "not found"},
  {ERR_CONFLICT, 409, "conflict", "conflict with the current state"},
  {ERR_UNAUTHORIZED, 401, "unauthorized", "unauthorized"},
  {ERR_FORBIDDEN, 403, "forbidden", "forbidden"},
  {ERR_TOO_LARGE, 413, "payload_too_large", "payload too large"},
  {ERR_RATE_LIMITED, 429, "rate_limited", "rate limit exceeded"},
  {ERR_IO, 500, "internal", "I/O error"},
  {ERR_DB, 500, "internal", "database error"},
  {ERR_PROTOCOL, 400, "protocol_error", "protocol error"},
  {ERR_UNSUPPORTED, 422, "unprocessable", "unsupported"},
  {ERR_EXISTS, 409, "already_exists", "already exists"},
  {ERR_METHOD, 405, "method_not_allowed", "method not allowed"},
  {ERR_AGAIN, 500, "internal", "need more data"},
  {ERR_INTERNAL, 500, "internal", "internal error"},
  {ERR_UNAVAILABLE, 503, "unavailable", "temporarily unavailable"},
};

static int err_index(int err) {
  for (unsigned i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
    if (err_table[i].err == err) return (int)i;
  return -1;
}

const char *err_str(int err) {
  int i = err_index(err);
  return i < 0 ? "unknown error" : err_table[i].text;
}

int err_http_status(int err) {
  int i = err_index(err);
  return i < 0 ? 500 : err_table[i].status;
}

const char *err_code(int err) {
  int i = err_index(err);
  return i < 0 ? "internal" : err_table[i].code;
}
