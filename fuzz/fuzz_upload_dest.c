/* libFuzzer: recording destination objects (upload/dest.h) — the URL forms,
 * credential rules and the URLs derived from them — as the API and the
 * uploader see them; and the same bytes as a storage server's answer (an
 * ETag header line, XML Code/Message/UploadId), which the uploader parses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/dest.h"
#include "upload/transfer.h"
#include "upload/uploader.h"

static void storage_answer(const uint8_t *data, size_t size) {
  char etag[TRANSFER_ETAG_MAX];
  if (transfer__etag_header((const char *)data, size, etag) && strlen(etag) >= sizeof(etag))
    abort();
  char *body = malloc(size + 1), out[64];
  if (!body) return;
  memcpy(body, data, size);
  body[size] = '\0';
  static const char *const tags[] = {"Code", "Message", "UploadId"};
  for (size_t i = 0; i < 3; i++) {
    transfer__xml_tag(body, tags[i], out, sizeof(out));
    for (const char *c = out; *c; c++)
      if (*c < 0x20 || *c == 0x7f) abort(); /* reaches logs and the API: printable only */
  }
  transfer__xml_tag(body, "Code", out, 1);
  if (out[0]) abort();
  free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  storage_answer(data, size);
  json_error_t jerr;
  json_t *d = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (!d) return 0;
  const char *field = NULL;
  char msg[256];
  if (uploader_check_destination(d, &field, msg, sizeof(msg)) == 0) {
    static upload_dest_t dest;
    char url[2048];
    if (upload_dest_parse(d, &dest, NULL, NULL, 0) != 0) abort(); /* must agree */
    upload_dest_object_url(&dest, "rec/source.mp4", url, sizeof(url));
    upload_dest_request_url(&dest, "a b/c.mp4", url, sizeof(url));
    upload_dest_safe_url(&dest, url, sizeof(url));
    if (strchr(url, '?')) abort(); /* logged: never the query (a SAS token) */
    uploader_object_url(d, "x.mp4", url, sizeof(url));
  }
  /* what the API shows back: never a SAS signature */
  const char *u = json_string_value(json_object_get(d, "url"));
  if (u) {
    char pub[2100];
    uploader_public_url(u, pub, sizeof(pub));
    const char *q = strchr(pub, '?');
    if (q && (strncmp(q, "?sig=", 5) == 0 || strstr(q, "&sig="))) abort();
  }
  json_decref(d);
  return 0;
}
