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

#endif
