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
/* 200 {"deleted":true}: the answer of every DELETE of an object. */
void api_deleted(http_response_t *res);

/* Parses the body as JSON whatever the Content-Type. An empty body gives
 * an empty object when allow_empty, else 400. Answers 400 on bad JSON. */
int api_parse_body(http_request_t *req, http_response_t *res, int allow_empty, json_t **out);

/* limit/offset of a paginated list from the query (other parameters are
 * left alone); answers 400 naming the parameter. */
int api_parse_paging(http_request_t *req, http_response_t *res, long default_limit,
                     long max_limit, long *limit, long *offset);

/* ---- media lists (list_query.c): recordings, clips ----
 * sort_by created_at|duration (*by_duration) and order asc|desc (order_by
 * too; default created_at desc); answers 400 naming the parameter. */
int api_parse_sort(http_request_t *req, http_response_t *res, int *by_duration, int *desc);
/* Answers 200 {key: items, total, limit, offset, sort_by, order}; takes items. */
void api_respond_page(http_response_t *res, const char *key, json_t *items, long total,
                      long limit, long offset, int by_duration, int desc);
/* The decoded value of query parameter `name` into out; 1 if present
 * (else out is ""). */
int api_query_param(http_request_t *req, const char *name, char *out, size_t outlen);

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
int api_clips_register(router_t *r, api_ctx_t *ctx);    /* clips.c */

/* ---- media bytes and VOD files (vod_files.c) ----
 * Sets ETag; 1 (and status 304) when If-None-Match names it. */
int api_not_modified(http_request_t *req, http_response_t *res, const char *etag);
/* Answers data[0..len) with Content-Type, Cache-Control, Accept-Ranges,
 * ETag (304 on If-None-Match) and a single "bytes=" Range (206, or 416
 * past the end); HEAD drops the body in the server. The bytes are sent
 * without copying; release(ud) runs once they are no longer needed
 * (also on 304/416). */
void api_send_bytes(http_request_t *req, http_response_t *res, const void *data, size_t len,
                    const char *type, const char *cache, const char *etag,
                    void (*release)(void *ud), void *ud);
/* api_send_bytes for bytes that are also the contents of file fd from
 * offset 0 (e.g. hls_buf_fd()): the server sendfile()s them. fd < 0: the
 * same as api_send_bytes. */
void api_send_bytes_fd(http_request_t *req, http_response_t *res, const void *data, size_t len,
                       int fd, const char *type, const char *cache, const char *etag,
                       void (*release)(void *ud), void *ud);
/* 1 when file is a plain name safe to join to a directory: [A-Za-z0-9._-],
 * no leading '.', no "..", at most 255 bytes. */
int api_vod_file_name_ok(const char *file);
/* Serves dir/file (a finished, immutable file) with api_send_bytes rules:
 * Content-Type from the extension (.m3u8, .ts, .mp4, .m4s), playlists
 * "no-cache", media "public, max-age=86400". 404 for unsafe names and
 * missing files. The file is memory-mapped (see vod_files.c), so large
 * files do not block the loop. CORS is the router's. */
void api_vod_serve_file(http_request_t *req, http_response_t *res, const char *dir,
                        const char *file);
/* Serves the playlist dir/file (small: read on the loop) with "?auth=token"
 * appended to every URI line, so authenticated VOD players pass the token
 * on to what the playlist lists. Cache-Control no-cache. */
void api_vod_serve_playlist_with_token(http_response_t *res, const char *dir, const char *file,
                                       const char *token);
/* Serves a VOD file of dir: with a playback token (non-empty) a playlist
 * (*.m3u8) goes through api_vod_serve_playlist_with_token, anything else
 * through api_vod_serve_file. The caller has checked the token. */
void api_vod_serve(http_request_t *req, http_response_t *res, const char *dir, const char *file,
                   const char *token);
int api_recordings_register(router_t *r, api_ctx_t *ctx); /* recordings.c */

#endif
