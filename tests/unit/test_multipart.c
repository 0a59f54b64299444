/* test_multipart.c — the names and bodies of multi-request uploads
 * (upload/multipart.h): part counts, Azure block ids, the S3
 * CompleteMultipartUpload and Azure block list XML; and the Azure Shared
 * Key canonical headers and resource those requests are signed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "upload/multipart.h"
#include "upload/transfer.h"

#define MIB (1ull << 20)

static void test_count(void **state) {
  (void)state;
  assert_int_equal(multipart_count(1, 5 * MIB), 1);
  assert_int_equal(multipart_count(5 * MIB, 5 * MIB), 1);
  assert_int_equal(multipart_count(5 * MIB + 1, 5 * MIB), 2);
  assert_int_equal(multipart_count(12 * MIB + 12345, 5 * MIB), 3);
  /* 5 TiB in 4000 MiB parts: within S3's 10,000 */
  assert_int_equal(multipart_count(5ull << 40, 4000 * MIB), 1311);
}

static void test_block_id(void **state) {
  (void)state;
  char id[MULTIPART_BLOCK_ID_MAX];
  assert_int_equal(multipart_block_id(1, id), 0);
  assert_string_equal(id, "YmxvY2stMDAwMDAx"); /* base64("block-000001") */
  assert_int_equal(multipart_block_id(MULTIPART_AZURE_MAX_BLOCKS, id), 0);
  assert_string_equal(id, "YmxvY2stMDUwMDAw"); /* base64("block-050000") */
  /* every id of a blob has the same length */
  char other[MULTIPART_BLOCK_ID_MAX];
  assert_int_equal(multipart_block_id(123, other), 0);
  assert_int_equal(strlen(other), strlen(id));
  assert_int_equal(multipart_block_id(0, id), -1);
  assert_int_equal(multipart_block_id(MULTIPART_AZURE_MAX_BLOCKS + 1, id), -1);
}

static void test_s3_complete(void **state) {
  (void)state;
  multipart_xml_t x;
  multipart_s3_complete_begin(&x);
  multipart_s3_complete_add(&x, 1, "\"a1\"");
  multipart_s3_complete_add(&x, 2, "\"b<&>\"");
  multipart_s3_complete_end(&x);
  assert_false(x.failed);
  assert_string_equal(x.s,
                      "<CompleteMultipartUpload>"
                      "<Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part>"
                      "<Part><PartNumber>2</PartNumber><ETag>\"b&lt;&amp;&gt;\"</ETag></Part>"
                      "</CompleteMultipartUpload>");
  assert_int_equal(x.len, strlen(x.s));
  multipart_xml_free(&x);
}

static void test_s3_complete_grows(void **state) {
  (void)state;
  multipart_xml_t x;
  multipart_s3_complete_begin(&x);
  for (unsigned n = 1; n <= MULTIPART_S3_MAX_PARTS; n++)
    multipart_s3_complete_add(&x, n, "\"0123456789abcdef0123456789abcdef\"");
  multipart_s3_complete_end(&x);
  assert_false(x.failed);
  assert_non_null(strstr(x.s, "<Part><PartNumber>10000</PartNumber><ETag>"));
  assert_int_equal(x.len, strlen(x.s));
  multipart_xml_free(&x);
}

static void test_azure_block_list(void **state) {
  (void)state;
  multipart_xml_t x;
  multipart_azure_block_list(&x, 3);
  assert_false(x.failed);
  assert_string_equal(x.s,
                      "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
                      "<Latest>YmxvY2stMDAwMDAx</Latest>"
                      "<Latest>YmxvY2stMDAwMDAy</Latest>"
                      "<Latest>YmxvY2stMDAwMDAz</Latest>"
                      "</BlockList>");
  multipart_xml_free(&x);
  multipart_azure_block_list(&x, MULTIPART_AZURE_MAX_BLOCKS + 1);
  assert_true(x.failed);
  assert_null(x.s);
  multipart_xml_free(&x);
}

/* Sorted by name, not by "name:value" (':' and '=' sort after '-', so a
 * name that is a prefix of another must still come first), values kept. */
static void test_azure_canonical_order(void **state) {
  (void)state;
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "x-ms-meta-a-b: 2");
  h = curl_slist_append(h, "Content-Type: video/mp4");
  h = curl_slist_append(h, "x-ms-version: 2021-08-06");
  h = curl_slist_append(h, "x-ms-meta-a: 1");
  char out[512];
  assert_int_equal(transfer__azure_canonical_headers(h, out, sizeof(out)), 0);
  assert_string_equal(out, "x-ms-meta-a:1\nx-ms-meta-a-b:2\nx-ms-version:2021-08-06\n");
  assert_int_equal(transfer__azure_canonical_headers(h, out, 20), -1); /* does not fit */
  curl_slist_free_all(h);

  upload_dest_t d;
  memset(&d, 0, sizeof(d));
  snprintf(d.account, sizeof(d.account), "acct");
  assert_int_equal(transfer__azure_canonical_resource(&d, "/c/blob", "comp=block&blockid=YQ%3D%3D&comp-x=1",
                                                      out, sizeof(out)),
                   0);
  assert_string_equal(out, "/acct/c/blob\nblockid:YQ==\ncomp:block\ncomp-x:1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_azure_canonical_order),
      cmocka_unit_test(test_count),
      cmocka_unit_test(test_block_id),
      cmocka_unit_test(test_s3_complete),
      cmocka_unit_test(test_s3_complete_grows),
      cmocka_unit_test(test_azure_block_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
