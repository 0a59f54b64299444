/* POST /v1/access_token/{api_key} — exchanges a project API key for an
 * HS256 access token valid 24 h by default (seed 003; access_token_ttl). */
#include <string.h>

#include "api/api_internal.h"
#include "auth/jwt.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static void access_token_create(void *ud, http_request_t *req, http_response_t *res,
                                const router_params_t *p) {
  api_ctx_t *ctx = ud;
  const char *key = router_param(p, "api_key");
  store_apikey_t k;
  char redacted[16];
  if (!key || strlen(key) > 128 || store_apikey_verify(ctx->store, key, &k) != 0) {
    log_info("access_token_refused remote=%s key=%s", req->remote_ip,
             log_redact(key, redacted, sizeof(redacted)));
    api_error(res, ERR_UNAUTHORIZED, "unknown or revoked API key", NULL);
    return;
  }
  int64_t now = util_now();
  json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "iss", "onair", "sub", k.id, "iat",
                             (json_int_t)now, "exp", (json_int_t)(now + ctx->cfg->access_token_ttl));
  char *token = NULL;
  int rc = jwt_hs256_sign(ctx->token_secret, sizeof(ctx->token_secret), claims, &token);
  json_decref(claims);
  if (rc) {
    api_error(res, ERR_INTERNAL, "could not sign the access token", NULL);
    return;
  }
  json_t *body = json_pack("{s:s}", "access_token", token);
  http_response_json(res, 200, body);
  json_decref(body);
  free(token);
}

int api_auth_register(router_t *r, api_ctx_t *ctx) {
  return router_add(r, "POST", "/v1/access_token/{api_key}", access_token_create, ctx);
}
