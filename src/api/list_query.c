/* list_query.c — the query-string vocabulary shared by the media lists
 * (recordings, clips): sort_by/order next to api_parse_paging's
 * limit/offset, the page object they answer, and single parameters such as
 * the ?auth= playback token of VOD files. */
#include <string.h>

#include "api/api_internal.h"
#include "core/err.h"

/* As big as api_parse_paging's: a long value of some other parameter must
 * not turn into "badly encoded". */
#define KEY_MAX 256
#define VAL_MAX 1100

int api_parse_sort(http_request_t *req, http_response_t *res, int *by_duration, int *desc) {
  const char *cur = req->query;
  char key[KEY_MAX], val[VAL_MAX];
  int rc;
  *by_duration = 0;
  *desc = 1;
  while ((rc = http_query_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
    if (strcmp(key, "sort_by") == 0) {
      if (strcmp(val, "created_at") == 0)
        *by_duration = 0;
      else if (strcmp(val, "duration") == 0)
        *by_duration = 1;
      else {
        api_error(res, ERR_INVALID, "sort_by must be created_at or duration", "sort_by");
        return ERR_INVALID;
      }
    } else if (strcmp(key, "order") == 0 || strcmp(key, "order_by") == 0) {
      if (strcmp(val, "asc") == 0)
        *desc = 0;
      else if (strcmp(val, "desc") == 0)
        *desc = 1;
      else {
        api_error(res, ERR_INVALID, "order must be asc or desc", key);
        return ERR_INVALID;
      }
    }
  }
  if (rc < 0) {
    api_error(res, ERR_INVALID, "badly encoded query string", NULL);
    return ERR_INVALID;
  }
  return 0;
}

void api_respond_page(http_response_t *res, const char *key, json_t *items, long total,
                      long limit, long offset, int by_duration, int desc) {
  json_t *body = json_pack("{s:o, s:I, s:I, s:I, s:s, s:s}", key, items, "total",
                           (json_int_t)total, "limit", (json_int_t)limit, "offset",
                           (json_int_t)offset, "sort_by", by_duration ? "duration" : "created_at",
                           "order", desc ? "desc" : "asc");
  if (!body) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, 200, body);
  json_decref(body);
}

int api_query_param(http_request_t *req, const char *name, char *out, size_t outlen) {
  const char *cur = req->query;
  char key[KEY_MAX];
  while (http_query_next(&cur, key, sizeof(key), out, outlen) == 1)
    if (strcmp(key, name) == 0) return 1;
  out[0] = '\0';
  return 0;
}
