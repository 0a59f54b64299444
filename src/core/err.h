/* err.h — the one error vocabulary of onair.
 *
 * Functions return 0 on success or a negative ERR_* code. err_str() turns a
 * code into text for logs; err_http_status() and err_code() are the single
 * place that maps an error to the HTTP status and the "code" string of the
 * JSON error object (DESIGN.md §5).
 */
#ifndef ONAIR_ERR_H
#define ONAIR_ERR_H

typedef enum {
  ERR_OK = 0,
  ERR_NOMEM = -1,       /* allocation failed */
  ERR_INVALID = -2,     /* bad input: 400 */
  ERR_NOT_FOUND = -3,   /* no such object (or another project's): 404 */
  ERR_CONFLICT = -4,    /* state does not allow the operation: 409 */
  ERR_UNAUTHORIZED = -5,/* missing / bad credentials: 401 */
  ERR_FORBIDDEN = -6,   /* authenticated but not allowed: 403 */
  ERR_TOO_LARGE = -7,   /* body or header over the limit: 413 */
  ERR_RATE_LIMITED = -8,/* 429 */
  ERR_IO = -9,          /* file or socket I/O failed */
  ERR_DB = -10,         /* database error */
  ERR_PROTOCOL = -11,   /* a peer broke a wire protocol */
  ERR_UNSUPPORTED = -12,/* valid but not (yet) supported: 422 */
  ERR_EXISTS = -13,     /* unique object already exists: 409 */
  ERR_METHOD = -14,     /* route exists, method does not: 405 */
  ERR_AGAIN = -15,      /* need more input */
  ERR_INTERNAL = -16,   /* a bug or an unexpected failure: 500 */
  ERR_UNAVAILABLE = -17,/* not available yet, try again later: 503 */
} err_t;

const char *err_str(int err);
/* HTTP status for an error code (500 for unknown ones). */
int err_http_status(int err);
/* Stable machine-readable code for the JSON error object, e.g. "not_found". */
const char *err_code(int err);

#endif
