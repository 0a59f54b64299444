/* /v1/signing-keys — RSA key pairs for signed playback tokens (Mux-style
 * signing keys; see auth/signing.h).
 *
 * POST generates the pair on a libuv worker thread (RSA-2048 generation
 * takes 0.1–1 s of CPU, which must not stall the loop that also serves
 * ingest and playback), answering when it is stored. The private key is in
 * that one answer and nowhere else: only the public key is stored.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api_internal.h"
#include "auth/signing.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Key generations running at once, over all projects. The rest get 429:
 * they would only queue on libuv's small thread pool behind file I/O. */
#define SIGNING_MAX_INFLIGHT 2

typedef struct {
  uv_work_t work;
  api_ctx_t *ctx;
  http_response_t *res;
  char project[37];
  char *priv_pem; /* wiped before free */
  char *pub_pem;
  int rc;
} keygen_job_t;

static unsigned keygen_inflight; /* loop thread only */

/* {"id", "created_at", "public_key"} (+ "private_key" when given). */
static json_t *signing_key_render(const store_signing_key_t *k, const char *priv_pem) {
  char ts[32];
  json_t *o = json_pack("{s:s, s:s}", "id", k->id, "created_at",
                        util_format_time(k->created_at, ts, sizeof(ts)));
  if (!o) return NULL;
  if (priv_pem) json_object_set_new(o, "private_key", json_string(priv_pem));
  json_object_set_new(o, "public_key", json_string(k->public_key_pem ? k->public_key_pem : ""));
  return o;
}

static void signing_key_respond(http_response_t *res, int status, const store_signing_key_t *k,
                                const char *priv_pem) {
  json_t *obj = signing_key_render(k, priv_pem);
  json_t *wrap = obj ? json_pack("{s:o}", "signing_key", obj) : NULL;
  if (!wrap) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, status, wrap);
  json_decref(wrap);
}

static void keygen_work(uv_work_t *w) {
  keygen_job_t *job = w->data;
  job->rc = signing_key_generate(&job->priv_pem, &job->pub_pem);
}

/* Back on the loop thread: store the public key, answer, wipe. */
static void keygen_done(uv_work_t *w, int status) {
  keygen_job_t *job = w->data;
  http_response_t *res = job->res;
  keygen_inflight--;
  store_signing_key_t k = {0};
  int rc = status ? ERR_INTERNAL : job->rc;
  if (!rc) rc = util_uuid4(k.id);
  if (!rc) {
    memcpy(k.project_id, job->project, sizeof(k.project_id));
    k.public_key_pem = job->pub_pem;
    k.created_at = util_now();
    rc = store_signing_key_insert(job->ctx->store, &k, SIGNING_MAX_KEYS_PER_PROJECT);
  }
  if (rc == ERR_CONFLICT) {
    api_error(res, rc, "a project has at most 20 signing keys; delete one first", NULL);
  } else if (rc) {
    log_error("signing_key_create_failed project=%s err=%s", job->project, err_str(rc));
    api_error(res, rc, NULL, NULL);
  } else {
    log_info("signing_key_created project=%s id=%s", job->project, k.id);
    signing_key_respond(res, 201, &k, job->priv_pem);
  }
  http_response_finish(res);
  if (job->priv_pem) OPENSSL_clear_free(job->priv_pem, strlen(job->priv_pem));
  free(job->pub_pem);
  free(job);
}

static void signing_key_create(void *ud, http_request_t *req, http_response_t *res,
                               const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  json_t *body;
  if (api_parse_body(req, res, 1, &body)) return;
  int bad = 0;
  if (!json_is_object(body)) {
    api_error(res, ERR_INVALID, "the request body must be a JSON object", NULL);
    bad = 1;
  } else if (json_object_size(body) > 0) {
    char f[128];
    snprintf(f, sizeof(f), "%.120s", json_object_iter_key(json_object_iter(body)));
    api_error(res, ERR_INVALID, "unknown field; a signing key takes no fields", f);
    bad = 1;
  }
  json_decref(body);
  if (bad) return;
  /* Checked again, atomically, by the INSERT; this early check only saves
   * a second of CPU when the answer is already known. */
  store_signing_key_t *list = NULL;
  size_t n = 0;
  int rc = store_signing_key_list(ctx->store, project, &list, &n);
  for (size_t i = 0; i < n; i++) store_signing_key_clear(&list[i]);
  free(list);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  if (n >= SIGNING_MAX_KEYS_PER_PROJECT) {
    api_error(res, ERR_CONFLICT, "a project has at most 20 signing keys; delete one first", NULL);
    return;
  }
  if (keygen_inflight >= SIGNING_MAX_INFLIGHT) {
    http_response_header(res, "Retry-After", "1");
    api_error(res, ERR_RATE_LIMITED, "signing keys are being generated; retry in a second", NULL);
    return;
  }
  keygen_job_t *job = calloc(1, sizeof(*job));
  if (!job) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  job->ctx = ctx;
  job->res = res;
  job->work.data = job;
  memcpy(job->project, project, sizeof(project));
  /* api_ctx_t carries no loop; the server runs on the default loop. */
  if (uv_queue_work(uv_default_loop(), &job->work, keygen_work, keygen_done) != 0) {
    free(job);
    api_error(res, ERR_INTERNAL, NULL, NULL);
    return;
  }
  keygen_inflight++;
  http_response_defer(res);
}

static void signing_key_list(void *ud, http_request_t *req, http_response_t *res,
                             const router_params_t *p) {
  (void)p;
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_signing_key_t *list = NULL;
  size_t n = 0;
  int rc = store_signing_key_list(ctx->store, project, &list, &n);
  if (rc) {
    api_error(res, rc, NULL, NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(arr, signing_key_render(&list[i], NULL));
    store_signing_key_clear(&list[i]);
  }
  free(list);
  json_t *wrap = json_pack("{s:o}", "signing_keys", arr);
  if (!wrap) {
    api_error(res, ERR_NOMEM, NULL, NULL);
    return;
  }
  http_response_json(res, 200, wrap);
  json_decref(wrap);
}

static void signing_key_get(void *ud, http_request_t *req, http_response_t *res,
                            const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  store_signing_key_t k;
  int rc = store_signing_key_get(ctx->store, project, router_param(p, "id"), &k);
  if (rc == ERR_NOT_FOUND) {
    api_error(res, rc, "no signing key with this id", NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    signing_key_respond(res, 200, &k, NULL);
    store_signing_key_clear(&k);
  }
}

static void signing_key_delete(void *ud, http_request_t *req, http_response_t *res,
                               const router_params_t *p) {
  api_ctx_t *ctx = ud;
  char project[37];
  if (api_auth(ctx, req, res, project)) return;
  const char *id = router_param(p, "id");
  int rc = store_signing_key_delete(ctx->store, project, id);
  if (rc == ERR_NOT_FOUND) {
    api_error(res, rc, "no signing key with this id", NULL);
  } else if (rc) {
    api_error(res, rc, NULL, NULL);
  } else {
    /* The store check already refuses it; this frees the parsed key. */
    signing_cache_forget(id);
    log_info("signing_key_deleted project=%s id=%s", project, id);
    api_deleted(res);
  }
}

int api_signing_keys_register(router_t *r, api_ctx_t *ctx) {
  int rc = router_add(r, "POST", "/v1/signing-keys", signing_key_create, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/signing-keys", signing_key_list, ctx);
  if (!rc) rc = router_add(r, "GET", "/v1/signing-keys/{id}", signing_key_get, ctx);
  if (!rc) rc = router_add(r, "DELETE", "/v1/signing-keys/{id}", signing_key_delete, ctx);
  return rc;
}
