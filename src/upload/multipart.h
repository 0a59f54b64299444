/* upload/multipart.h — the request bodies and names of multi-request
 * uploads (private to src/upload/): S3 multipart upload and Azure block
 * lists. Pure functions, no I/O (upload/transfer.c sends them).
 */
#ifndef ONAIR_UPLOAD_MULTIPART_H
#define ONAIR_UPLOAD_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MULTIPART_S3_MAX_PARTS 10000u     /* S3 (and B2's S3 API) */
#define MULTIPART_AZURE_MAX_BLOCKS 50000u /* Azure block blobs */
#define MULTIPART_BLOCK_ID_MAX 32         /* room for a block id and its NUL */

/* The number of parts of part_bytes (> 0) that make size bytes (>= 1). */
uint64_t multipart_count(uint64_t size, uint64_t part_bytes);

/* Azure block id of block n (1-based): base64 of "block-%06u", so that every
 * id of a blob has the same length, as Azure requires. 0, or -1 when n is
 * above MULTIPART_AZURE_MAX_BLOCKS. out has MULTIPART_BLOCK_ID_MAX bytes. */
int multipart_block_id(unsigned n, char *out);

/* A growing XML body. After an allocation failure s is NULL, failed is 1
 * and every later call is a no-op; multipart_xml_free() in every case. */
typedef struct {
  char *s;
  size_t len, cap;
  int failed;
} multipart_xml_t;

/* S3 CompleteMultipartUpload: begin, one add per part in order (etag as
 * the UploadPart answer gave it, quotes included; XML-escaped here), end. */
void multipart_s3_complete_begin(multipart_xml_t *x);
void multipart_s3_complete_add(multipart_xml_t *x, unsigned part_number, const char *etag);
void multipart_s3_complete_end(multipart_xml_t *x);

/* Azure Put Block List naming blocks 1..nblocks (multipart_block_id) as
 * <Latest>. */
void multipart_azure_block_list(multipart_xml_t *x, unsigned nblocks);

void multipart_xml_free(multipart_xml_t *x);

#endif
