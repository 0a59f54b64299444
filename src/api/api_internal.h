/* api_internal.h — helpers shared by the files of src/api/ (not for others). */
#ifndef ONAIR_API_INTERNAL_H
#define ONAIR_API_INTERNAL_H

#include <jansson.h>

#include "api/api.h"
#include "api/stream_params.h"
#include "http/http.h"
#include "store/store.h"

/* Checks "Authorization: Bearer <token>" and that its project is active.
 * On failure answers 401 and returns non-zero. */
int api_auth(api_ctx_t *ctx, http_request_t *req, http_response_t *res, char project_id[37]);

/* Answers the JSON error object for an ERR_* code (status from err.h). */
void api_error(http_response_t *res, int err, const char *message, const char *field);
void api_field_error(http_response_t *res, const api_field_error_t *e);

/* Parses the body as JSON whatever the Content-Type. An empty body gives
 * an empty object when allow_empty, else 400. Answers 400 on bad JSON. */
int api_parse_body(http_request_t *req, http_response_t *res, int allow_empty, json_t **out);

/* limit/offset of a paginated list from the query (other parameters are
 * left alone); answers 400 naming the parameter. */
int api_parse_paging(http_request_t *req, http_response_t *res, long default_limit,
                     long max_limit, long *limit, long *offset);

/* Loads a stream of the project; answers 404 and returns non-zero if absent. */
int api_stream_load(api_ctx_t *ctx, const char *project_id, const char *id, http_response_t *res,
                    store_stream_t *out);

/* The stream object of seed 003 (the value of "stream"); NULL on failure. */
json_t *api_stream_render(api_ctx_t *ctx, const store_stream_t *s);
/* Answers {"stream": …} with the given status. */
void api_stream_respond(api_ctx_t *ctx, http_response_t *res, int status, const store_stream_t *s);

/* Route registration of each file. */
int api_streams_register(router_t *r, api_ctx_t *ctx);
int api_playback_register(router_t *r, api_ctx_t *ctx);
int api_simulcast_register(router_t *r, api_ctx_t *ctx);
int api_auth_register(router_t *r, api_ctx_t *ctx);
int api_hls_register(router_t *r, api_ctx_t *ctx);
int api_signing_keys_register(router_t *r, api_ctx_t *ctx);
int api_health_register(router_t *r, api_ctx_t *ctx);  /* health.c */
int api_metrics_register(router_t *r, api_ctx_t *ctx); /* metrics.c */
int api_webhooks_register(router_t *r, api_ctx_t *ctx); /* webhooks.c */

#endif
