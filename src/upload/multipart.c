/* multipart.c — bodies and names of multi-request uploads (upload/multipart.h). */
#include "upload/multipart.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t multipart_count(uint64_t size, uint64_t part_bytes) {
  return size / part_bytes + (size % part_bytes ? 1 : 0);
}

int multipart_block_id(unsigned n, char *out) {
  if (n == 0 || n > MULTIPART_AZURE_MAX_BLOCKS) return -1;
  char raw[16];
  int len = snprintf(raw, sizeof(raw), "block-%06u", n);
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, len);
  return 0;
}

static void xml_append(multipart_xml_t *x, const char *text, size_t n) {
  if (x->failed) return;
  if (x->len + n + 1 > x->cap) {
    size_t cap = x->cap ? x->cap : 1024;
    while (x->len + n + 1 > cap) cap *= 2;
    char *s = realloc(x->s, cap);
    if (!s) {
      multipart_xml_free(x);
      x->failed = 1;
      return;
    }
    x->s = s;
    x->cap = cap;
  }
  memcpy(x->s + x->len, text, n);
  x->len += n;
  x->s[x->len] = '\0';
}

static void xml_printf(multipart_xml_t *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void xml_printf(multipart_xml_t *x, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n >= 0) xml_append(x, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* text as XML character data: & < > escaped */
static void xml_append_text(multipart_xml_t *x, const char *text) {
  for (const char *p = text; *p;) {
    size_t run = strcspn(p, "&<>");
    xml_append(x, p, run);
    p += run;
    if (!*p) break;
    xml_append(x, *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : "&gt;", *p == '&' ? 5 : 4);
    p++;
  }
}

void multipart_s3_complete_begin(multipart_xml_t *x) {
  memset(x, 0, sizeof(*x));
  xml_printf(x, "<CompleteMultipartUpload>");
}

void multipart_s3_complete_add(multipart_xml_t *x, unsigned part_number, const char *etag) {
  xml_printf(x, "<Part><PartNumber>%u</PartNumber><ETag>", part_number);
  xml_append_text(x, etag);
  xml_printf(x, "</ETag></Part>");
}

void multipart_s3_complete_end(multipart_xml_t *x) {
  xml_printf(x, "</CompleteMultipartUpload>");
}

void multipart_azure_block_list(multipart_xml_t *x, unsigned nblocks) {
  memset(x, 0, sizeof(*x));
  xml_printf(x, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
  for (unsigned n = 1; n <= nblocks; n++) {
    char id[MULTIPART_BLOCK_ID_MAX];
    if (multipart_block_id(n, id) != 0) {
      multipart_xml_free(x);
      x->failed = 1;
      return;
    }
    xml_printf(x, "<Latest>%s</Latest>", id);
  }
  xml_printf(x, "</BlockList>");
}

void multipart_xml_free(multipart_xml_t *x) {
  free(x->s);
  x->s = NULL;
  x->len = x->cap = 0;
}
