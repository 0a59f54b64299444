/* test_signing.c — signing keys: generation, the store table, and the
 * check of signed playback tokens (auth/signing.h), on a real SQLite store
 * in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "auth/signing.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

#define NOW 1800000000LL
#define PROJECT_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define PROJECT_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define PLAYBACK "av22x1p8h5qz"

/* Two key pairs generated once for the whole run (generation is slow). */
static char *g_priv[2], *g_pub[2];
static EVP_PKEY *g_key[2];

typedef struct {
  char root[64];
  store_t *st;
} fixture_t;

static EVP_PKEY *parse_private(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}

static int group_setup(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    if (signing_key_generate(&g_priv[i], &g_pub[i]) != 0) return -1;
    if (!(g_key[i] = parse_private(g_priv[i]))) return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    free(g_priv[i]);
    free(g_pub[i]);
    EVP_PKEY_free(g_key[i]);
  }
  signing_cache_clear();
  return 0;
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  if (!fx) return -1;
  snprintf(fx->root, sizeof(fx->root), "/tmp/onair-test-signing-XXXXXX");
  if (!mkdtemp(fx->root) || store_open(fx->root, &fx->st) != 0) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  store_close(fx->st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
  if (system(cmd) != 0) return -1;
  free(fx);
  signing_cache_clear(); /* every test starts cold; ASan checks the frees */
  return 0;
}

/* Stores public key `which` under a fresh id in project; id into out. */
static void add_key(store_t *st, const char *project, int which, char out[37]) {
  store_signing_key_t k = {0};
  assert_int_equal(util_uuid4(k.id), 0);
  memcpy(k.project_id, project, 37);
  k.public_key_pem = g_pub[which];
  k.created_at = NOW;
  assert_int_equal(store_signing_key_insert(st, &k, 1000), 0);
  memcpy(out, k.id, 37);
}

/* An RS256 token signed with g_key[which]. exp_delta 0 omits "exp";
 * sub/aud NULL omit them. The caller frees the result. */
static char *make_token(int which, const char *kid, const char *sub, const char *aud,
                        int64_t exp_delta) {
  json_t *c = json_object();
  if (sub) json_object_set_new(c, "sub", json_string(sub));
  if (aud) json_object_set_new(c, "aud", json_string(aud));
  if (exp_delta) json_object_set_new(c, "exp", json_integer(NOW + exp_delta));
  char *tok = NULL;
  assert_int_equal(jwt_rs256_sign(g_key[which], kid, c, &tok), 0);
  json_decref(c);
  return tok;
}

static int verify(fixture_t *fx, const char *project, const char *tok) {
  return signing_verify_playback(fx->st, project, PLAYBACK, tok, NOW);
}

/* ---- generation ---- */

static void test_generate(void **state) {
  (void)state;
  assert_non_null(strstr(g_priv[0], "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
  assert_null(strstr(g_priv[0], "ENCRYPTED"));
  assert_non_null(strstr(g_pub[0], "-----BEGIN PUBLIC KEY-----"));
  assert_null(strstr(g_pub[0], "PRIVATE"));
  assert_int_equal(EVP_PKEY_get_base_id(g_key[0]), EVP_PKEY_RSA);
  assert_int_equal(EVP_PKEY_get_bits(g_key[0]), 2048);
  assert_string_not_equal(g_pub[0], g_pub[1]);
  /* The public PEM verifies what the private key signs. */
  BIO *b = BIO_new_mem_buf(g_pub[0], -1);
  EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(pub);
  char *tok = make_token(0, "k", PLAYBACK, NULL, 60);
  assert_int_equal(jwt_rs256_verify(pub, tok, NOW, NULL, NULL), 0);
  free(tok);
  EVP_PKEY_free(pub);
}

/* ---- the store table ---- */

static void test_store_crud(void **state) {
  fixture_t *fx = *state;
  assert_true(store_schema_version(fx->st) >= 2);
  store_signing_key_t k = {0};
  memcpy(k.id, "11111111-1111-4111-8111-111111111111", 37);
  memcpy(k.project_id, PROJECT_A, 37);
  k.public_key_pem = g_pub[0];
  k.created_at = NOW;
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), 0);
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), ERR_EXISTS); /* same id */
  memcpy(k.id, "22222222-2222-4222-8222-222222222222", 37);
  k.created_at = NOW + 1;
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), 0);
  memcpy(k.id, "33333333-3333-4333-8333-333333333333", 37);
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), ERR_CONFLICT); /* limit */
  memcpy(k.project_id, PROJECT_B, 37);
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), 0); /* limit is per project */
  k.public_key_pem = NULL;
  assert_int_equal(store_signing_key_insert(fx->st, &k, 2), ERR_INVALID);

  store_signing_key_t got;
  assert_int_equal(
      store_signing_key_get(fx->st, PROJECT_A, "11111111-1111-4111-8111-111111111111", &got), 0);
  assert_string_equal(got.project_id, PROJECT_A);
  assert_string_equal(got.public_key_pem, g_pub[0]);
  assert_int_equal(got.created_at, NOW);
  store_signing_key_clear(&got);
  /* Scoped: another project's key is not found; unscoped finds it. */
  assert_int_equal(
      store_signing_key_get(fx->st, PROJECT_B, "11111111-1111-4111-8111-111111111111", &got),
      ERR_NOT_FOUND);
  assert_int_equal(
      store_signing_key_get(fx->st, NULL, "33333333-3333-4333-8333-333333333333", &got), 0);
  assert_string_equal(got.project_id, PROJECT_B);
  store_signing_key_clear(&got);
  assert_int_equal(store_signing_key_get(fx->st, NULL, "nope", &got), ERR_NOT_FOUND);

  assert_int_equal(
      store_signing_key_exists(fx->st, PROJECT_A, "22222222-2222-4222-8222-222222222222"), 1);
  assert_int_equal(
      store_signing_key_exists(fx->st, PROJECT_B, "22222222-2222-4222-8222-222222222222"), 0);

  store_signing_key_t *list;
  size_t n;
  assert_int_equal(store_signing_key_list(fx->st, PROJECT_A, &list, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(list[0].id, "11111111-1111-4111-8111-111111111111"); /* oldest first */
  assert_string_equal(list[1].id, "22222222-2222-4222-8222-222222222222");
  for (size_t i = 0; i < n; i++) store_signing_key_clear(&list[i]);
  free(list);

  /* Delete is project-scoped. */
  assert_int_equal(
      store_signing_key_delete(fx->st, PROJECT_B, "11111111-1111-4111-8111-111111111111"),
      ERR_NOT_FOUND);
  assert_int_equal(
      store_signing_key_delete(fx->st, PROJECT_A, "11111111-1111-4111-8111-111111111111"), 0);
  assert_int_equal(
      store_signing_key_delete(fx->st, PROJECT_A, "11111111-1111-4111-8111-111111111111"),
      ERR_NOT_FOUND);
  assert_int_equal(store_signing_key_list(fx->st, PROJECT_A, &list, &n), 0);
  assert_int_equal(n, 1);
  store_signing_key_clear(&list[0]);
  free(list);
  assert_int_equal(store_signing_key_list(fx->st, "no-such-project", &list, &n), 0);
  assert_int_equal(n, 0);
  assert_null(list);
}

/* ---- playback tokens ---- */

static void test_verify_ok(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  char *tok = make_token(0, kid, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), 0);
  assert_int_equal(verify(fx, PROJECT_A, tok), 0); /* from the cache */
  free(tok);
  tok = make_token(0, kid, PLAYBACK, "v", 60); /* Mux's video audience */
  assert_int_equal(verify(fx, PROJECT_A, tok), 0);
  free(tok);
}

static void test_wrong_sub_is_forbidden(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  char *tok = make_token(0, kid, "otherplayback", NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_FORBIDDEN);
  free(tok);
  /* A token that verified (and is remembered) opens its playback id only. */
  tok = make_token(0, kid, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), 0);
  assert_int_equal(signing_verify_playback(fx->st, PROJECT_A, "otherplayback", tok, NOW),
                   ERR_FORBIDDEN);
  assert_int_equal(verify(fx, PROJECT_A, tok), 0);
  free(tok);
  tok = make_token(0, kid, PLAYBACK, "t", 60); /* a thumbnail token */
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_FORBIDDEN);
  free(tok);
  tok = make_token(0, kid, NULL, NULL, 60); /* no sub at all */
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
}

static void test_expired(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  char *tok = make_token(0, kid, PLAYBACK, NULL, -1);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  tok = make_token(0, kid, PLAYBACK, NULL, 0); /* no exp: never valid */
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  /* Valid now, expired a minute later. */
  tok = make_token(0, kid, PLAYBACK, NULL, 30);
  assert_int_equal(signing_verify_playback(fx->st, PROJECT_A, PLAYBACK, tok, NOW), 0);
  assert_int_equal(signing_verify_playback(fx->st, PROJECT_A, PLAYBACK, tok, NOW + 30),
                   ERR_UNAUTHORIZED);
  free(tok);
}

static void test_other_projects_kid(void **state) {
  fixture_t *fx = *state;
  char kid_b[37];
  add_key(fx->st, PROJECT_B, 1, kid_b);
  char *tok = make_token(1, kid_b, PLAYBACK, NULL, 60);
  /* Cold cache, then with B's key cached: A may not use it either way. */
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  assert_int_equal(verify(fx, PROJECT_B, tok), 0);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  assert_int_equal(verify(fx, PROJECT_B, tok), 0); /* and A's try did not evict it */
  free(tok);
}

static void test_bad_signature(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  /* Names key 0 but is signed by key 1. */
  char *tok = make_token(1, kid, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  /* A good token with one signature byte flipped. */
  tok = make_token(0, kid, PLAYBACK, NULL, 60);
  size_t len = strlen(tok);
  tok[len - 5] = tok[len - 5] == 'A' ? 'B' : 'A';
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  /* An HS256 token: the algorithm is ours to choose, never the token's. */
  json_t *c = json_pack("{s:s, s:I}", "sub", PLAYBACK, "exp", (json_int_t)(NOW + 60));
  char *hs = NULL;
  assert_int_equal(jwt_hs256_sign((const unsigned char *)"k", 1, c, &hs), 0);
  json_decref(c);
  assert_int_equal(verify(fx, PROJECT_A, hs), ERR_UNAUTHORIZED);
  free(hs);
}

static void test_deleted_key(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  char *tok = make_token(0, kid, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), 0); /* now cached */
  /* Deleted through the store only (as another process would): the cached
   * key must not outlive it. */
  assert_int_equal(store_signing_key_delete(fx->st, PROJECT_A, kid), 0);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
}

static void test_garbage(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  const char *bad[] = {"",       "x",
                       "a.b.c",  "a.b",
                       "....",   "eyJ0eXAiOiJKV1QifQ.e30.c2ln",
                       "%00%01", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhdjIyeDFwOGg1cXoifQ."};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(verify(fx, PROJECT_A, bad[i]), ERR_UNAUTHORIZED);
  assert_int_equal(verify(fx, PROJECT_A, NULL), ERR_UNAUTHORIZED);
  /* No kid, an unknown kid, a kid longer than any id of ours. */
  char *tok = make_token(0, NULL, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  tok = make_token(0, "99999999-9999-4999-8999-999999999999", PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  char longkid[200];
  memset(longkid, 'k', sizeof(longkid) - 1);
  longkid[sizeof(longkid) - 1] = '\0';
  tok = make_token(0, longkid, PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, tok), ERR_UNAUTHORIZED);
  free(tok);
  /* An over-long token. */
  char *huge = malloc(JWT_MAX_TOKEN_LEN + 100);
  memset(huge, 'a', JWT_MAX_TOKEN_LEN + 99);
  huge[20] = huge[40] = '.';
  huge[JWT_MAX_TOKEN_LEN + 99] = '\0';
  assert_int_equal(verify(fx, PROJECT_A, huge), ERR_UNAUTHORIZED);
  free(huge);
  /* Caller bugs are not tokens. */
  assert_int_equal(signing_verify_playback(fx->st, NULL, PLAYBACK, "a.b.c", NOW), ERR_INVALID);
}

/* More keys than cache slots: evictions keep every answer right and
 * teardown's signing_cache_clear() frees what is left (ASan). */
static void test_cache_eviction(void **state) {
  fixture_t *fx = *state;
  enum { N = SIGNING_CACHE_SIZE + 8 };
  char kids[N][37];
  char *toks[N];
  for (int i = 0; i < N; i++) {
    add_key(fx->st, PROJECT_A, i % 2, kids[i]);
    toks[i] = make_token(i % 2, kids[i], PLAYBACK, NULL, 60);
  }
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < N; i++) assert_int_equal(verify(fx, PROJECT_A, toks[i]), 0);
  /* Forgetting a cached key only costs a re-parse. */
  signing_cache_forget(kids[N - 1]);
  assert_int_equal(verify(fx, PROJECT_A, toks[N - 1]), 0);
  /* A token naming kid 0 signed by key 1 still fails after the churn. */
  char *bad = make_token(1, kids[0], PLAYBACK, NULL, 60);
  assert_int_equal(verify(fx, PROJECT_A, bad), ERR_UNAUTHORIZED);
  free(bad);
  for (int i = 0; i < N; i++) free(toks[i]);
}

/* Threads verifying at once, each with its own store handle (the cache is
 * shared). */
typedef struct {
  const char *root;
  char *tok;
  int failures;
} thread_arg_t;

static void *verify_thread(void *p) {
  thread_arg_t *a = p;
  store_t *st;
  if (store_open(a->root, &st) != 0) {
    a->failures = -1;
    return NULL;
  }
  for (int i = 0; i < 200; i++) {
    if (signing_verify_playback(st, PROJECT_A, PLAYBACK, a->tok, NOW) != 0) a->failures++;
    if (i % 50 == 0) signing_cache_clear();
  }
  store_close(st);
  return NULL;
}

static void test_threads(void **state) {
  fixture_t *fx = *state;
  char kid[37];
  add_key(fx->st, PROJECT_A, 0, kid);
  thread_arg_t args[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    args[i] = (thread_arg_t){.root = fx->root, .tok = make_token(0, kid, PLAYBACK, NULL, 60)};
    assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &args[i]), 0);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].failures, 0);
    free(args[i].tok);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate),
      cmocka_unit_test_setup_teardown(test_store_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_ok, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_sub_is_forbidden, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_projects_kid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deleted_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_eviction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
