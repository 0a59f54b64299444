/* test_webhooks.c — the webhook building blocks (signature, backoff, event
 * filters, SSRF address classes, URL checks) and the delivery queue of the
 * store against a real database in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <arpa/inet.h>
#include <cmocka.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/webhooks.h"
#include "store/store.h"

/* ---- signature ---- */

static void test_sign_matches_reference(void **state) {
  (void)state;
  /* python3: hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256).hexdigest() */
  char out[128];
  const char *body = "{\"a\":1}";
  assert_int_equal(webhooks_sign("whsec_test", 1700000000, body, strlen(body), out, sizeof(out)), 0);
  assert_string_equal(out, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
}

static void test_sign_depends_on_time_body_and_secret(void **state) {
  (void)state;
  char a[128], b[128], c[128], d[128];
  assert_int_equal(webhooks_sign("whsec_x", 1, "{}", 2, a, sizeof(a)), 0);
  assert_int_equal(webhooks_sign("whsec_x", 2, "{}", 2, b, sizeof(b)), 0);
  assert_int_equal(webhooks_sign("whsec_y", 1, "{}", 2, c, sizeof(c)), 0);
  assert_int_equal(webhooks_sign("whsec_x", 1, "{ }", 3, d, sizeof(d)), 0);
  assert_string_not_equal(a + 4, b + 4);
  assert_string_not_equal(a, c);
  assert_string_not_equal(a, d);
  /* t=<digits>,v1=<64 lowercase hex> */
  const char *v1 = strstr(a, ",v1=");
  assert_non_null(v1);
  assert_int_equal(strlen(v1 + 4), 64);
  for (const char *p = v1 + 4; *p; p++) assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
  /* An empty body still signs "<t>.". */
  assert_int_equal(webhooks_sign("whsec_x", 1, "", 0, a, sizeof(a)), 0);
  /* Too small an output buffer is refused, not truncated. */
  assert_int_equal(webhooks_sign("whsec_x", 1, "{}", 2, a, 20), ERR_INVALID);
}

static void test_secret_format(void **state) {
  (void)state;
  char s1[72], s2[72];
  assert_int_equal(webhooks_secret_new(s1), 0);
  assert_int_equal(webhooks_secret_new(s2), 0);
  assert_int_equal(strlen(s1), 6 + 64);
  assert_memory_equal(s1, "whsec_", 6);
  assert_string_not_equal(s1, s2);
}

/* ---- backoff ---- */

static void test_backoff_schedule(void **state) {
  (void)state;
  assert_int_equal(webhooks_backoff_ms(5000, 1), 5000);
  assert_int_equal(webhooks_backoff_ms(5000, 2), 10000);
  assert_int_equal(webhooks_backoff_ms(5000, 3), 20000);
  assert_int_equal(webhooks_backoff_ms(5000, 4), 40000);
  assert_int_equal(webhooks_backoff_ms(5000, 10), 2560000);
  assert_int_equal(webhooks_backoff_ms(5000, 11), 3600000); /* capped at 1 h */
  assert_int_equal(webhooks_backoff_ms(5000, 1000), 3600000);
  assert_int_equal(webhooks_backoff_ms(200, 1), 200);
  assert_int_equal(webhooks_backoff_ms(200, 3), 800);
  assert_int_equal(webhooks_backoff_ms(5000, 0), 5000); /* treated as the first */
  /* Over 24 h the schedule sums to far more than 24 h of retries: the
   * give-up rule, not the schedule, ends them. */
  uint64_t sum = 0;
  int n = 0;
  while (sum < (uint64_t)WEBHOOKS_GIVE_UP_S * 1000) sum += webhooks_backoff_ms(5000, ++n);
  assert_in_range(n, 25, 40);
}

/* ---- event filters ---- */

static void test_event_valid(void **state) {
  (void)state;
  assert_true(webhooks_event_valid("*"));
  assert_true(webhooks_event_valid("live_stream.live"));
  assert_true(webhooks_event_valid("live_stream.deleted"));
  assert_true(webhooks_event_valid("live_stream.*"));
  assert_true(webhooks_event_valid("simulcast_target.error"));
  assert_true(webhooks_event_valid("recording.*"));
  assert_false(webhooks_event_valid(NULL));
  assert_false(webhooks_event_valid(""));
  assert_false(webhooks_event_valid("live_stream"));
  assert_false(webhooks_event_valid("live_stream.bogus"));
  assert_false(webhooks_event_valid("live_stream.**"));
  assert_false(webhooks_event_valid("bogus.*"));
  assert_false(webhooks_event_valid(".*"));
  assert_false(webhooks_event_valid("live.*")); /* not a family prefix of live_stream */
  assert_false(webhooks_event_valid("LIVE_STREAM.LIVE"));
  for (const char *const *t = webhooks_event_types(); *t; t++) assert_true(webhooks_event_valid(*t));
}

static void test_event_matches(void **state) {
  (void)state;
  assert_true(webhooks_event_matches("*", "live_stream.live"));
  assert_true(webhooks_event_matches("live_stream.live", "live_stream.live"));
  assert_false(webhooks_event_matches("live_stream.live", "live_stream.idle"));
  assert_true(webhooks_event_matches("live_stream.*", "live_stream.idle"));
  assert_false(webhooks_event_matches("live_stream.*", "simulcast_target.live"));
  assert_false(webhooks_event_matches("live_stream.*", "live_streamx.idle"));
  assert_false(webhooks_event_matches("live_stream.live", "live_stream.live2"));
  assert_false(webhooks_event_matches(NULL, "x"));
}

/* ---- SSRF classifier ---- */

static int v4(const char *a) {
  struct sockaddr_in in = {.sin_family = AF_INET};
  assert_int_equal(inet_pton(AF_INET, a, &in.sin_addr), 1);
  return webhooks_addr_blocked((struct sockaddr *)&in);
}

static int v6(const char *a) {
  struct sockaddr_in6 in = {.sin6_family = AF_INET6};
  assert_int_equal(inet_pton(AF_INET6, a, &in.sin6_addr), 1);
  return webhooks_addr_blocked((struct sockaddr *)&in);
}

static void test_addr_blocked_v4(void **state) {
  (void)state;
  const char *blocked[] = {"127.0.0.1",   "127.255.255.254", "10.0.0.1",      "10.255.255.255",
                           "172.16.0.1",  "172.31.255.255",  "192.168.1.1",   "169.254.169.254",
                           "0.0.0.0",     "0.1.2.3",         "100.64.0.1",    "100.127.255.255",
                           "192.0.0.1",   "198.18.0.1",      "198.19.255.255", "224.0.0.1",
                           "239.255.255.250", "240.0.0.1",   "255.255.255.255", NULL};
  const char *allowed[] = {"8.8.8.8",     "1.1.1.1",    "172.15.255.255", "172.32.0.1",
                           "192.169.0.1", "100.63.255.255", "100.128.0.1", "169.253.0.1",
                           "11.0.0.1",    "126.255.255.255", "128.0.0.1",  "198.20.0.1",
                           "223.255.255.255", "93.184.216.34", NULL};
  for (int i = 0; blocked[i]; i++) {
    if (!v4(blocked[i])) fail_msg("%s should be blocked", blocked[i]);
  }
  for (int i = 0; allowed[i]; i++) {
    if (v4(allowed[i])) fail_msg("%s should be allowed", allowed[i]);
  }
}

static void test_addr_blocked_v6(void **state) {
  (void)state;
  const char *blocked[] = {"::1",          "::",           "::ffff:127.0.0.1", "::ffff:10.1.2.3",
                           "::ffff:169.254.169.254", "::127.0.0.1", "fc00::1",   "fd12:3456::1",
                           "fe80::1",      "febf::1",      "fec0::1",         "ff02::1",
                           "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1", "2002:7f00:1::1",
                           "2002:c0a8:101::1", "2001:0:4136:e378::1", "2001:db8::1", NULL};
  const char *allowed[] = {"2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
                           "64:ff9b::808:808", "2002:808:808::1", "2a00:1450:4001::1", NULL};
  for (int i = 0; blocked[i]; i++) {
    if (!v6(blocked[i])) fail_msg("%s should be blocked", blocked[i]);
  }
  for (int i = 0; allowed[i]; i++) {
    if (v6(allowed[i])) fail_msg("%s should be allowed", allowed[i]);
  }
  struct sockaddr un = {.sa_family = AF_UNIX};
  assert_true(webhooks_addr_blocked(&un));
  assert_true(webhooks_addr_blocked(NULL));
}

/* ---- URLs ---- */

static void test_url_parse(void **state) {
  (void)state;
  char host[256], msg[256];
  assert_int_equal(webhooks_url_parse("https://example.com/hook?x=1", host, sizeof(host), msg,
                                      sizeof(msg)),
                   0);
  assert_string_equal(host, "example.com");
  assert_int_equal(webhooks_url_parse("http://127.0.0.1:8080/", host, sizeof(host), msg, sizeof(msg)),
                   0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(webhooks_url_parse("http://[::1]:9/x", host, sizeof(host), msg, sizeof(msg)), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(webhooks_url_parse("HTTPS://Example.COM", host, sizeof(host), msg, sizeof(msg)), 0);
  /* The host curl would use, not the text before '@'. */
  assert_int_equal(webhooks_url_parse("http://user:pw@10.0.0.1/", host, sizeof(host), msg,
                                      sizeof(msg)),
                   0);
  assert_string_equal(host, "10.0.0.1");

  const char *bad[] = {"",  "ftp://example.com/", "example.com", "http://", "https:///path",
                       "http://exa mple.com/", "http://example.com/\x01", "javascript:alert(1)",
                       "file:///etc/passwd", NULL};
  for (int i = 0; bad[i]; i++) {
    if (webhooks_url_parse(bad[i], host, sizeof(host), msg, sizeof(msg)) != ERR_INVALID)
      fail_msg("'%s' should be refused", bad[i]);
    assert_true(strlen(msg) > 0);
  }
  char *longurl = malloc(2100);
  strcpy(longurl, "https://example.com/");
  memset(longurl + 20, 'a', 2040);
  longurl[2060] = '\0';
  assert_int_equal(webhooks_url_parse(longurl, host, sizeof(host), msg, sizeof(msg)), ERR_INVALID);
  longurl[2048] = '\0';
  assert_int_equal(webhooks_url_parse(longurl, host, sizeof(host), msg, sizeof(msg)), 0);
  free(longurl);
}

/* ---- the store's queue ---- */

typedef struct {
  char root[64];
  store_t *st;
} fx_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  strcpy(fx->root, "/tmp/onair_test_webhooks_XXXXXX");
  if (!mkdtemp(fx->root) || store_open(fx->root, &fx->st) != 0) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  store_close(fx->st);
  nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static const char *P1 = "11111111-1111-4111-8111-111111111111";
static const char *P2 = "22222222-2222-4222-8222-222222222222";

static void make_hook(store_t *st, const char *project, store_webhook_t *w, int64_t created) {
  memset(w, 0, sizeof(*w));
  assert_int_equal(util_uuid4(w->id), 0);
  strcpy(w->project_id, project);
  assert_int_equal(webhooks_secret_new(w->secret), 0);
  w->url = "https://example.com/h";
  w->events_json = "[\"*\"]";
  w->created_at = created;
  assert_int_equal(store_webhook_insert(st, w, WEBHOOKS_MAX_PER_PROJECT), 0);
}

static void test_store_webhooks_crud_and_limit(void **state) {
  fx_t *fx = *state;
  store_webhook_t w, got;
  make_hook(fx->st, P1, &w, 100);
  assert_int_equal(store_webhook_get(fx->st, P1, w.id, &got), 0);
  assert_string_equal(got.url, "https://example.com/h");
  assert_string_equal(got.secret, w.secret);
  store_webhook_clear(&got);
  /* Another project does not see it. */
  assert_int_equal(store_webhook_get(fx->st, P2, w.id, &got), ERR_NOT_FOUND);
  assert_int_equal(store_webhook_delete(fx->st, P2, w.id), ERR_NOT_FOUND);
  for (int i = 1; i < WEBHOOKS_MAX_PER_PROJECT; i++) {
    store_webhook_t x;
    make_hook(fx->st, P1, &x, 100 + i);
  }
  store_webhook_t extra = w;
  assert_int_equal(util_uuid4(extra.id), 0);
  assert_int_equal(store_webhook_insert(fx->st, &extra, WEBHOOKS_MAX_PER_PROJECT), ERR_CONFLICT);
  store_webhook_t *list;
  size_t n;
  assert_int_equal(store_webhook_list(fx->st, P1, &list, &n), 0);
  assert_int_equal(n, WEBHOOKS_MAX_PER_PROJECT);
  assert_string_equal(list[0].id, w.id); /* oldest first */
  for (size_t i = 0; i < n; i++) store_webhook_clear(&list[i]);
  free(list);
  assert_int_equal(store_webhook_delete(fx->st, P1, w.id), 0);
  assert_int_equal(store_webhook_delete(fx->st, P1, w.id), ERR_NOT_FOUND);
}

static void enqueue(store_t *st, const char *project, const char *type, const char *stream,
                    const store_delivery_target_t *t, size_t n, int64_t now_ms, char *event_id) {
  store_webhook_event_t ev = {.created_at = now_ms / 1000, .body = "{\"x\":1}"};
  assert_int_equal(util_uuid4(ev.id), 0);
  strcpy(ev.project_id, project);
  strcpy(ev.stream_id, stream);
  strcpy(ev.type, type);
  assert_int_equal(store_webhook_enqueue(st, &ev, t, n, now_ms), 0);
  if (event_id) strcpy(event_id, ev.id);
}

static void free_list(store_delivery_t *l, size_t n) {
  for (size_t i = 0; i < n; i++) store_delivery_clear(&l[i]);
  free(l);
}

static void test_store_queue_order_and_signing(void **state) {
  fx_t *fx = *state;
  store_webhook_t w1, w2;
  make_hook(fx->st, P1, &w1, 100);
  make_hook(fx->st, P1, &w2, 200);
  char q1[80], qcb[80];
  snprintf(q1, sizeof(q1), "wh:%s:s1", w1.id);
  snprintf(qcb, sizeof(qcb), "cb:s1");
  store_delivery_target_t t[2] = {{w1.id, "https://example.com/h", q1},
                                  {NULL, "https://example.com/cb", qcb}};
  char e1[37], e2[37];
  enqueue(fx->st, P1, "live_stream.starting", "s1", t, 2, 1000, e1);
  enqueue(fx->st, P1, "live_stream.waiting", "s1", t, 2, 1000, e2);

  /* Only the first of each queue is a head; with body and secret. */
  store_delivery_t *h;
  size_t n;
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(h[i].event_id, e1);
    assert_string_equal(h[i].body, "{\"x\":1}");
    assert_int_equal(h[i].status, STORE_DELIVERY_PENDING);
    /* the webhook's own secret; callback_url: the project's oldest webhook */
    assert_non_null(h[i].secret);
    assert_string_equal(h[i].secret, w1.secret);
  }
  int64_t first_wh = h[0].webhook_id[0] ? h[0].seq : h[1].seq;
  free_list(h, n);

  /* A retrying head holds back the rest of its queue. */
  assert_int_equal(store_delivery_record(fx->st, first_wh, STORE_DELIVERY_PENDING, 1, 500, "HTTP 500",
                                         "oops", 999999, 1),
                   0);
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) assert_string_equal(h[i].event_id, e1);
  free_list(h, n);

  /* Once delivered, the next of the queue is the head. */
  assert_int_equal(store_delivery_record(fx->st, first_wh, STORE_DELIVERY_DELIVERED, 2, 200, NULL,
                                         NULL, 2000, 2),
                   0);
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  int saw_e2 = 0;
  for (size_t i = 0; i < n; i++) saw_e2 |= h[i].webhook_id[0] && strcmp(h[i].event_id, e2) == 0;
  assert_true(saw_e2);
  free_list(h, n);

  /* The webhook's log: newest first, paged, with attempts. */
  long total;
  assert_int_equal(store_delivery_list(fx->st, w1.id, 10, 0, &h, &n, &total), 0);
  assert_int_equal(total, 2);
  assert_int_equal(n, 2);
  assert_string_equal(h[0].event_id, e2);
  assert_string_equal(h[1].event_id, e1);
  assert_int_equal(h[1].status, STORE_DELIVERY_DELIVERED);
  assert_int_equal(h[1].attempts, 2);
  assert_int_equal(h[1].last_http_status, 200);
  assert_null(h[1].body); /* the log does not carry bodies */
  free_list(h, n);
  assert_int_equal(store_delivery_list(fx->st, w1.id, 1, 1, &h, &n, &total), 0);
  assert_int_equal(n, 1);
  assert_string_equal(h[0].event_id, e1);
  free_list(h, n);

  /* Deleting the webhook drops its deliveries; the callback's stay, now
   * signed with the remaining webhook's secret. */
  assert_int_equal(store_webhook_delete(fx->st, P1, w1.id), 0);
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(h[0].webhook_id, "");
  assert_string_equal(h[0].secret, w2.secret);
  free_list(h, n);
  assert_int_equal(store_webhook_delete(fx->st, P1, w2.id), 0);
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_null(h[0].secret); /* no webhook left: unsigned */
  free_list(h, n);
}

static void test_store_prune(void **state) {
  fx_t *fx = *state;
  store_webhook_t w;
  make_hook(fx->st, P1, &w, 100);
  char q[80];
  snprintf(q, sizeof(q), "wh:%s:-", w.id);
  store_delivery_target_t t = {w.id, "https://example.com/h", q};
  enqueue(fx->st, P1, "live_stream.created", "", &t, 1, 1000, NULL);
  enqueue(fx->st, P1, "live_stream.updated", "", &t, 1, 1000, NULL);
  store_delivery_t *h;
  size_t n;
  long total;
  assert_int_equal(store_delivery_heads(fx->st, 10, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(store_delivery_record(fx->st, h[0].seq, STORE_DELIVERY_FAILED, 30, 0, "timeout",
                                         NULL, 0, 50),
                   0);
  free_list(h, n);
  /* The finished one (touched at 50) goes; the pending one stays. */
  assert_int_equal(store_delivery_prune(fx->st, 60), 0);
  assert_int_equal(store_delivery_list(fx->st, w.id, 10, 0, &h, &n, &total), 0);
  assert_int_equal(total, 1);
  assert_int_equal(h[0].status, STORE_DELIVERY_PENDING);
  assert_string_equal(h[0].event_type, "live_stream.updated");
  free_list(h, n);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_matches_reference),
      cmocka_unit_test(test_sign_depends_on_time_body_and_secret),
      cmocka_unit_test(test_secret_format),
      cmocka_unit_test(test_backoff_schedule),
      cmocka_unit_test(test_event_valid),
      cmocka_unit_test(test_event_matches),
      cmocka_unit_test(test_addr_blocked_v4),
      cmocka_unit_test(test_addr_blocked_v6),
      cmocka_unit_test(test_url_parse),
      cmocka_unit_test_setup_teardown(test_store_webhooks_crud_and_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_queue_order_and_signing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_prune, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
