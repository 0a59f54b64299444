/* upload/transfer.h — one blocking upload of a local file to a destination
 * (private to src/upload/; run on a worker thread, never on the loop).
 *
 * libcurl does the protocols: S3/B2 PUT signed with CURLOPT_AWS_SIGV4,
 * Azure Put Blob (Shared Key signature computed here with OpenSSL HMAC, or
 * a SAS token), FTP/FTPS (explicit AUTH TLS), SFTP (libssh2). S3/B2 files
 * larger than the part size go up as a multipart upload (Create, one
 * UploadPart per part, Complete; Abort on failure), Azure ones as blocks
 * (Put Block each, Put Block List); a retry starts the object over. file:// is a
 * plain copy: temp file in the target directory, fsync, rename, fsync of
 * the directory.
 */
#ifndef ONAIR_UPLOAD_TRANSFER_H
#define ONAIR_UPLOAD_TRANSFER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "upload/dest.h"

typedef enum {
  UPLOAD_OK = 0,
  UPLOAD_RETRY = 1,     /* failed; another attempt may work */
  UPLOAD_PERMANENT = 2, /* failed for good (local file missing, too large) */
  UPLOAD_ABORTED = 3,   /* *abort was set */
} upload_result_t;

typedef struct {
  const char *known_hosts;  /* sftp: OpenSSH known_hosts file */
  int sftp_accept_new;      /* learn unknown host keys (else refuse them) */
  const char *tmp_dir;      /* where an sftp private key is written for libssh2 (0600) */
  const char *ca_file;      /* NULL: system CAs */
  unsigned connect_timeout_ms;
  int allow_private;        /* 0: refuse loopback/private/link-local addresses (checked
                             * at connect, after DNS) and file:// destinations */
  unsigned part_mib;        /* s3/b2/azblob: files above this go up in parts of this
                             * size (0: UPLOAD_DEFAULT_PART_MIB) */
} upload_env_t;

#define UPLOAD_DEFAULT_PART_MIB 64u

/* Uploads local_path as object_name. On failure err (>= 256 bytes advised)
 * gets a one-line reason without secrets: whatever libcurl or the server
 * said is scrubbed of the destination's credentials and control
 * characters before it is kept (it reaches logs and the API). *bytes gets the file size. The
 * transfer checks *abort regularly and stops when it is set. */
upload_result_t upload_transfer(const upload_dest_t *d, const char *local_path,
                                const char *object_name, const upload_env_t *env,
                                atomic_int *abort, char *err, size_t errlen, uint64_t *bytes);

/* ---- parsers of storage servers' answers, exposed for fuzzing ---- */
#define TRANSFER_ETAG_MAX 256
/* One response header line p[0..len) (not NUL-terminated): when it is
 * "ETag: value", the value (cut to TRANSFER_ETAG_MAX - 1 bytes) goes to
 * etag and 1 is returned; else 0. */
int transfer__etag_header(const char *p, size_t len, char *etag);
/* The text of the first <tag>…</tag> in a NUL-terminated XML body (S3 and
 * Azure error Code and Message, S3 UploadId), up to the next '<' or line
 * end, non-printable bytes as '?'; "" when absent. cap >= 1. */
void transfer__xml_tag(const char *body, const char *tag, char *out, size_t cap);

/* ---- Azure Shared Key canonicalization, exposed for unit tests ---- */
struct curl_slist;
/* Every x-ms-* header of the list as "name:value\n", sorted by name. 0 or
 * -1 (does not fit in cap). */
int transfer__azure_canonical_headers(const struct curl_slist *headers, char *out, size_t cap);
/* "/account/path", then each query parameter as "\nname:value" (value
 * decoded), sorted by name. query has no SAS (Shared Key requests carry
 * none). 0 or -1. */
int transfer__azure_canonical_resource(const upload_dest_t *d, const char *path,
                                       const char *query, char *out, size_t cap);

#endif
