/* test_upload_dest.c — destination objects (upload/dest.h): the URL forms,
 * what each scheme requires, the URLs derived from them, object names, and
 * the uploads table (store/uploads.h) on a real SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"
#include "store/uploads.h"
#include "upload/dest.h"
#include "upload/uploader.h"

static upload_dest_t d;

static int parse(const char *json, const char **field, char *msg) {
  json_error_t e;
  json_t *j = json_loads(json, 0, &e);
  assert_non_null(j);
  int rc = upload_dest_parse(j, &d, field, msg, 256);
  json_decref(j);
  return rc;
}

static void expect_ok(const char *json) {
  const char *field = "?";
  char msg[256] = "";
  int rc = parse(json, &field, msg);
  if (rc) fail_msg("%s refused: %s (%s)", json, msg, field);
}

static void expect_bad(const char *json, const char *want_field) {
  const char *field = "?";
  char msg[256] = "";
  if (parse(json, &field, msg) != ERR_INVALID) fail_msg("%s was accepted", json);
  if (strcmp(field, want_field) != 0) fail_msg("%s: field %s, want %s (%s)", json, field, want_field, msg);
  assert_true(msg[0] != '\0');
}

static void url_of(const char *name, const char *want) {
  char out[2048];
  assert_int_equal(upload_dest_object_url(&d, name, out, sizeof(out)), 0);
  assert_string_equal(out, want);
}

static void test_s3(void **state) {
  (void)state;
  expect_ok("{\"url\": \"s3://s3.eu-west-1.amazonaws.com/bucket/a/b/\", \"key\": \"AK\", "
            "\"secret\": \"SK\", \"permissions\": \"public-read\", \"storage_class\": \"STANDARD_IA\"}");
  assert_int_equal(d.scheme, UPLOAD_S3);
  assert_string_equal(d.host, "s3.eu-west-1.amazonaws.com");
  assert_string_equal(d.bucket, "bucket");
  assert_string_equal(d.dir, "a/b");
  assert_string_equal(d.region, "eu-west-1");
  assert_false(d.plain_http);
  url_of("x/rec 1.mp4", "https://s3.eu-west-1.amazonaws.com/bucket/a/b/x/rec%201.mp4");

  expect_ok("{\"url\": \"s3://127.0.0.1:4568/b?scheme=http&region=xx-1\", \"key\": \"A\", \"secret\": \"S\"}");
  assert_true(d.plain_http);
  assert_int_equal(d.port, 4568);
  assert_string_equal(d.region, "xx-1");
  url_of("r.mp4", "http://127.0.0.1:4568/b/r.mp4");

  expect_ok("{\"url\": \"s3://nyc3.digitaloceanspaces.com/b\", \"key\": \"A\", \"secret\": \"S\"}");
  assert_string_equal(d.region, "nyc3");
  expect_ok("{\"url\": \"b2://s3.us-west-004.backblazeb2.com/b\", \"key\": \"A\", \"secret\": \"S\"}");
  assert_int_equal(d.scheme, UPLOAD_B2);
  assert_string_equal(d.region, "us-west-004");
  expect_ok("{\"url\": \"s3://minio.local/b\", \"key\": \"A\", \"secret\": \"S\"}");
  assert_string_equal(d.region, "us-east-1");

  expect_bad("{\"url\": \"s3://h/b\"}", "key");
  expect_bad("{\"url\": \"s3://h/b\", \"key\": \"A\"}", "secret");
  expect_bad("{\"url\": \"s3://h\", \"key\": \"A\", \"secret\": \"S\"}", "url");
  expect_bad("{\"url\": \"s3://u:p@h/b\", \"key\": \"A\", \"secret\": \"S\"}", "url");
  expect_bad("{\"url\": \"s3://h/b?x=1\", \"key\": \"A\", \"secret\": \"S\"}", "url");
  expect_bad("{\"url\": \"s3://h/b\", \"key\": \"A\", \"secret\": \"S\", \"permissions\": \"all\"}",
             "permissions");
  expect_bad("{\"url\": \"s3://h/b\", \"key\": \"A\", \"secret\": \"S\", \"storage_class\": \"a b\"}",
             "storage_class");
  expect_bad("{\"url\": \"s3://h/b\", \"key\": 5, \"secret\": \"S\"}", "key");
  expect_bad("{\"url\": \"s3://h/b\", \"key\": \"A\", \"secret\": \"S\", \"acl\": 1}", "");
  /* the region goes into libcurl's "aws:amz:REGION:s3" */
  expect_bad("{\"url\": \"s3://h/b?region=eu:x\", \"key\": \"A\", \"secret\": \"S\"}", "url");
  expect_ok("{\"url\": \"s3://h/b?region=eu-west-3\", \"key\": \"A\", \"secret\": \"S\"}");
  assert_string_equal(d.region, "eu-west-3");
}

static void test_azblob(void **state) {
  (void)state;
  expect_ok("{\"url\": \"azblob://acct.blob.core.windows.net/c/p\", \"key\": \"acct\", "
            "\"secret\": \"c2VjcmV0\"}");
  assert_string_equal(d.account, "acct");
  assert_string_equal(d.bucket, "c");
  assert_false(d.path_style);
  url_of("r.mp4", "https://acct.blob.core.windows.net/c/p/r.mp4");

  expect_ok("{\"url\": \"azblob://127.0.0.1:10000/devstoreaccount1/c?scheme=http&sv=1&sig=abc\"}");
  assert_true(d.path_style);
  assert_string_equal(d.account, "devstoreaccount1");
  assert_string_equal(d.sas, "sv=1&sig=abc");
  url_of("r.mp4", "http://127.0.0.1:10000/devstoreaccount1/c/r.mp4");
  char req[2048];
  assert_int_equal(upload_dest_request_url(&d, "r.mp4", req, sizeof(req)), 0);
  assert_string_equal(req, "http://127.0.0.1:10000/devstoreaccount1/c/r.mp4?sv=1&sig=abc");
  char safe[2048];
  upload_dest_safe_url(&d, safe, sizeof(safe));
  assert_null(strstr(safe, "sig"));

  expect_bad("{\"url\": \"azblob://acct.blob.core.windows.net/c\"}", "key");
  expect_bad("{\"url\": \"azblob://acct.blob.core.windows.net/c\", \"key\": \"a\"}", "secret");
  expect_bad("{\"url\": \"azblob://acct.blob.core.windows.net/c\", \"key\": \"a\", \"secret\": \"!!\"}",
             "secret");
  expect_bad("{\"url\": \"azblob://nodot/c\", \"key\": \"a\", \"secret\": \"c2VjcmV0\"}", "url");
  expect_bad("{\"url\": \"azblob://127.0.0.1:1/acct\", \"key\": \"a\", \"secret\": \"c2VjcmV0\"}", "url");
}

static void test_ftp_sftp_file(void **state) {
  (void)state;
  expect_ok("{\"url\": \"ftp://h/dir\"}");
  assert_false(d.has_user);
  url_of("a/r.mp4", "ftp://h/dir/a/r.mp4");
  expect_ok("{\"url\": \"ftps://us%40er:p%3Ass@h:2121/dir\"}");
  assert_string_equal(d.user, "us@er");
  assert_string_equal(d.password, "p:ss");
  url_of("r.mp4", "ftps://h:2121/dir/r.mp4"); /* no credentials in what owners see */
  expect_ok("{\"url\": \"sftp://h/~/dir\", \"key\": \"u\", \"secret\": \"pw\"}");
  assert_string_equal(d.user, "u");
  assert_string_equal(d.password, "pw");
  assert_false(d.private_key);
  expect_ok("{\"url\": \"sftp://u@h/dir\", \"secret\": \"-----BEGIN OPENSSH PRIVATE KEY-----\\nabc\\n\"}");
  assert_true(d.private_key);
  expect_bad("{\"url\": \"sftp://h/dir\", \"secret\": \"pw\"}", "key");
  expect_bad("{\"url\": \"sftp://u@h/dir\"}", "secret");
  expect_bad("{\"url\": \"ftp://h/dir\", \"secret\": \"pw\"}", "key");
  expect_bad("{\"url\": \"ftp://h/dir?scheme=http\"}", "url");
  expect_bad("{\"url\": \"ftp://h/dir\", \"key\": \"u\", \"secret\": \"a\\nb\"}", "secret");
  expect_bad("{\"url\": \"ftp://h/%2e%2e/x\"}", "url"); /* curl already folds a plain .. */
  /* userinfo is percent-decoded: no CR/LF into USER/PASS */
  expect_bad("{\"url\": \"ftp://u%0d%0aDELE%20x@h/dir\"}", "url");
  expect_bad("{\"url\": \"ftp://u:p%0aw@h/dir\"}", "url");
  expect_bad("{\"url\": \"sftp://u:p%0dw@h/dir\"}", "url");
  expect_bad("{\"url\": \"file:///tmp/a%0ab\"}", "url");

  expect_ok("{\"url\": \"file:///srv/rec/\"}");
  assert_string_equal(d.dir, "/srv/rec");
  url_of("a b.mp4", "file:///srv/rec/a%20b.mp4");
  expect_bad("{\"url\": \"file://host/x\"}", "url");
  expect_bad("{\"url\": \"file:///\"}", "url");
  expect_bad("{\"url\": \"http://h/x\"}", "url");
  expect_bad("{\"url\": 5}", "url");
  expect_bad("[1]", "");
}

static void test_object_names(void **state) {
  (void)state;
  assert_true(upload_object_name_ok("a.mp4"));
  assert_true(upload_object_name_ok("rec/0001/a.mp4"));
  assert_false(upload_object_name_ok(""));
  assert_false(upload_object_name_ok("/a"));
  assert_false(upload_object_name_ok("a/"));
  assert_false(upload_object_name_ok("a//b"));
  assert_false(upload_object_name_ok("../a"));
  assert_false(upload_object_name_ok("a/./b"));
  assert_false(upload_object_name_ok("a\\b"));
  assert_false(upload_object_name_ok("a\nb"));
}

static void test_check_destination_never_echoes_secrets(void **state) {
  (void)state;
  json_t *j = json_pack("{s:s, s:s, s:s}", "url", "azblob://a.b/c", "key", "a", "secret",
                        "TOP-SECRET-NOT-BASE64");
  const char *field = NULL;
  char msg[256];
  assert_int_equal(uploader_check_destination(j, &field, msg, sizeof(msg)), ERR_INVALID);
  assert_string_equal(field, "secret");
  assert_null(strstr(msg, "TOP-SECRET"));
  json_decref(j);
}

static int count_rows(void *ud, const store_upload_t *u) {
  (void)u;
  ++*(int *)ud;
  return 0;
}

static void pub_is(const char *url, const char *want) {
  char out[512];
  uploader_public_url(url, out, sizeof(out));
  assert_string_equal(out, want);
}

static void test_public_url_drops_credentials(void **state) {
  (void)state;
  pub_is("ftps://u:pw@h:2121/dir", "ftps://u@h:2121/dir");
  pub_is("ftp://:pw@h/dir", "ftp://@h/dir");
  pub_is("sftp://u@h/dir", "sftp://u@h/dir");
  pub_is("azblob://a.blob.core.windows.net/c/p?sv=1&sig=SECRET%2B&scheme=http",
         "azblob://a.blob.core.windows.net/c/p?scheme=http");
  pub_is("s3://h/b?region=eu-west-1#frag", "s3://h/b?region=eu-west-1");
  pub_is("azblob://127.0.0.1:1/a/c?sig=X", "azblob://127.0.0.1:1/a/c");
  pub_is("file:///srv/rec", "file:///srv/rec");
  char small[8];
  uploader_public_url("ftp://u:pw@host/dir", small, sizeof(small));
  assert_string_equal(small, "ftp://u");
}

static void test_store_rows(void **state) {
  (void)state;
  char dir[] = "/tmp/onair-upload-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  store_t *st;
  assert_int_equal(store_open(dir, &st), 0);
  store_upload_t u = {.id = "11111111-1111-4111-8111-111111111111",
                      .owner_kind = "recording",
                      .owner_id = "rec-1",
                      .local_path = "/tmp/x.mp4",
                      .object_name = "rec-1/x.mp4",
                      .destination_json = "{\"url\":\"file:///tmp/o\"}",
                      .next_attempt_ms = 1000,
                      .created_at = 1};
  assert_int_equal(store_upload_insert(st, &u), 0);
  int n = 0;
  assert_int_equal(store_upload_list_open(st, count_rows, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(store_upload_retry(st, u.id, 1, "refused", 5000, 2), 0);
  assert_int_equal(store_upload_finish(st, u.id, STORE_UPLOAD_UPLOADED, 2, "file:///tmp/o/x.mp4",
                                       NULL, 42, 3), 0);
  n = 0;
  assert_int_equal(store_upload_list_open(st, count_rows, &n), 0);
  assert_int_equal(n, 1); /* final but not yet told */
  assert_int_equal(store_upload_set_notified(st, u.id), 0);
  n = 0;
  assert_int_equal(store_upload_list_open(st, count_rows, &n), 0);
  assert_int_equal(n, 0);
  n = 0;
  assert_int_equal(store_upload_list_owner(st, "recording", "rec-1", count_rows, &n), 0);
  assert_int_equal(n, 1);
  int removed = -1;
  assert_int_equal(store_upload_prune(st, 3, &removed), 0); /* touched at 3: kept */
  assert_int_equal(removed, 0);
  assert_int_equal(store_upload_delete_owner(st, "recording", "rec-1", &removed), 0);
  assert_int_equal(removed, 1);
  u.id[0] = '2';
  assert_int_equal(store_upload_insert(st, &u), 0);
  assert_int_equal(store_upload_finish(st, u.id, STORE_UPLOAD_FAILED, 1, NULL, "no", 0, 3), 0);
  assert_int_equal(store_upload_prune(st, 4, &removed), 0); /* not told yet: kept */
  assert_int_equal(removed, 0);
  assert_int_equal(store_upload_set_notified(st, u.id), 0);
  assert_int_equal(store_upload_prune(st, 4, &removed), 0);
  assert_int_equal(removed, 1);
  store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_s3),
      cmocka_unit_test(test_azblob),
      cmocka_unit_test(test_ftp_sftp_file),
      cmocka_unit_test(test_object_names),
      cmocka_unit_test(test_check_destination_never_echoes_secrets),
      cmocka_unit_test(test_public_url_drops_credentials),
      cmocka_unit_test(test_store_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
