/* router.h — maps (method, path pattern) to handlers.
 *
 * Patterns are literal segments and {name} parameters:
 *   router_add(r, "GET", "/v1/live-streams/{id}", streams_get, ctx);
 * A parameter matches one non-empty path segment; its value is
 * percent-decoded and at most ROUTER_PARAM_MAX-1 bytes (longer → no match).
 * router_dispatch answers 404 (no pattern matches the path) or 405 (a pattern
 * matches but not with this method, with an Allow header) with the JSON
 * error object, so handlers only see their own routes.
 */
#ifndef ONAIR_ROUTER_H
#define ONAIR_ROUTER_H

#include "http/http.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX 1024

typedef struct router router_t;

typedef struct {
  int count;
  const char *names[ROUTER_MAX_PARAMS];
  char values[ROUTER_MAX_PARAMS][ROUTER_PARAM_MAX];
} router_params_t;

typedef void (*router_fn)(void *ud, http_request_t *req, http_response_t *res,
                          const router_params_t *params);

router_t *router_new(void);
void router_free(router_t *r);
/* Returns 0, or ERR_INVALID for a bad pattern. Method "*" matches any method. */
int router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud);
/* Returns 1 if a route handled the request, 0 if it answered 404/405 itself. */
int router_dispatch(router_t *r, http_request_t *req, http_response_t *res);
/* Value of a parameter, or NULL. */
const char *router_param(const router_params_t *p, const char *name);
/* Calls fn for each route in insertion order (for `onair routes` and docs checks). */
void router_foreach(const router_t *r, void (*fn)(void *arg, const char *method, const char *pattern),
                    void *arg);

/* ---- observer (metrics) ----
 * Optional: called after every router_dispatch with the matched pattern
 * ("" when no route matched: 404, 405, CORS preflight), the status (0 when
 * the handler deferred the response), the body size (0 for HEAD and
 * deferred responses) and the time spent dispatching. */
typedef struct {
  const char *method;
  const char *pattern;
  int status;
  size_t bytes;
  double seconds;
} router_event_t;
typedef void (*router_observer_fn)(void *ud, const router_event_t *ev);
void router_set_observer(router_t *r, router_observer_fn fn, void *ud);
/* ---- end observer ---- */

#endif
