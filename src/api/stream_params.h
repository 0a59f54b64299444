/* stream_params.h — validation of live-stream request bodies (seed 003
 * fields, see docs/api.md) and the public view of stored params.
 *
 * The stored `params` object holds every setting including write-only
 * secrets (dvr.destination[].secret); stream_params_public() strips them.
 */
#ifndef ONAIR_STREAM_PARAMS_H
#define ONAIR_STREAM_PARAMS_H

#include <jansson.h>

typedef struct {
  char field[128];   /* dotted path of the offending field, "" for the body */
  char message[256];
} api_field_error_t;

typedef struct {
  int fields;              /* how many recognised fields the body had */
  int has_name;
  char name[256];
  int has_playback_domain;
  char playback_domain[256]; /* "" means null */
} stream_request_t;

/* A new params object with every default. */
json_t *stream_params_defaults(void);

/* Validates body (any JSON value) and applies it onto params in place.
 * On ERR_INVALID nothing useful is left in params (work on a copy) and
 * err names the field. Unknown fields are refused. */
int stream_params_apply(json_t *body, json_t *params, stream_request_t *req, api_field_error_t *err);

/* A deep copy of params without write-only secrets. */
json_t *stream_params_public(json_t *params);

#endif
