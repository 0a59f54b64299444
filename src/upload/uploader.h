/* upload/uploader.h — a persisted, retried queue that ships finished files
 * to users' storage (seed 003 dvr destinations).
 *
 * Who uses it: the recorder (owner_kind "recording"), clips ("clip") and the
 * `onair upload` command ("cli"). An owner enqueues one job per (file,
 * destination) and is told on the loop thread when the job is done or has
 * finally failed. The uploader never deletes the local file: the owner
 * decides (one file may go to several destinations; uploader_pending()
 * tells whether any job of a file is still open).
 *
 * Destinations are the dvr destination objects of seed 003:
 *   {"url": "...", "key": "...", "secret": "...", "permissions": "...",
 *    "storage_class": "..."}
 * with these URL forms (the object name is appended to the URL's path):
 *   s3://HOST[:PORT]/BUCKET[/PREFIX]    S3 PUT Object, AWS SigV4 (key = access
 *       key id, secret = secret key), path-style. Region: "?region=NAME",
 *       else the one in HOST when it reads s3.REGION.… / s3-REGION.… /
 *       REGION.digitaloceanspaces.com, else "us-east-1". permissions →
 *       x-amz-acl (a canned ACL), storage_class → x-amz-storage-class.
 *   b2://HOST[:PORT]/BUCKET[/PREFIX]    Backblaze B2 through its S3-compatible
 *       endpoint (HOST e.g. s3.us-west-004.backblazeb2.com): same as s3://.
 *   azblob://ACCOUNT.HOST[:PORT]/CONTAINER[/PREFIX][?SAS]
 *   azblob://IP-OR-localhost:PORT/ACCOUNT/CONTAINER[/PREFIX][?SAS]  (path
 *       style, as Azurite serves it) — Put Blob (BlockBlob). Either a SAS
 *       token in the query, or Shared Key: key = account name, secret = the
 *       base64 account key.
 *   ftp://[USER[:PASS]@]HOST[:PORT]/DIR   ftps:// is explicit FTP over TLS
 *       (AUTH TLS required). Credentials from the URL or key/secret;
 *       anonymous when none. DIR is relative to the login directory, as
 *       ftp:// URLs are; missing directories are created.
 *   sftp://[USER[:PASS]@]HOST[:PORT]/DIR  SSH file transfer. Password auth
 *       (URL or key = user, secret = password), or public-key auth when
 *       secret is a PEM/OpenSSH private key ("-----BEGIN …"). DIR is
 *       absolute; "/~/" starts at the user's home. Host keys: see
 *       uploader_opts_t.sftp_host_keys.
 *   file:///ABS/DIR                       local copy (temp file, fsync,
 *       rename), for a mounted volume.
 * s3://, b2:// and azblob:// use https; a query parameter "scheme=http"
 * (e.g. s3://127.0.0.1:4568/bucket?scheme=http) selects plain http for a
 * local gateway (MinIO, s3rver, Azurite). It is not part of the object URL.
 * S3/B2/Azure: one PUT per file up to part_mib (uploader_opts_t), larger
 * files in parts of part_mib: an S3 multipart upload (at most 10,000
 * parts, so 10,000 × part_mib; aborted on failure) or Azure blocks and a
 * block list (at most 50,000 blocks). A file needing more parts fails at
 * once, naming upload_part_mib. A retry uploads the whole file again.
 *
 * Retries: any failure of the transfer (connection, TLS, auth, HTTP error,
 * FTP/SFTP error) is retried after base, 2·base, 4·base … (capped at 1 h)
 * until max_attempts attempts have failed; then the job fails with the last
 * reason. A missing or unreadable local file fails at once. Jobs are
 * persisted (table `uploads`) before uploader_enqueue() returns and
 * survive restarts: a process resumes the open jobs of the owner kinds it
 * listens to (see uploader_on_done()). Delivery of the completion is at
 * least once: a crash right after a job finished may tell its owner again
 * at the next start, so listeners must be idempotent.
 *
 * Secrets: destination credentials are stored (a restart needs them) but
 * never logged and never returned by any API; logs and the URLs handed to
 * owners carry no userinfo and no query.
 *
 * Threads: a pool of worker threads runs blocking libcurl (or file copy)
 * transfers; everything else — every function below except the pure
 * helpers at the end — is loop-thread only, and callbacks run on the loop
 * thread.
 */
#ifndef ONAIR_UPLOADER_H
#define ONAIR_UPLOADER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

typedef struct uploader uploader_t;

/* How sftp:// treats the server's host key. Keys are kept in OpenSSH
 * known_hosts format in DATA_DIR/ssh_known_hosts. */
typedef enum {
  /* Like OpenSSH's StrictHostKeyChecking=accept-new (the default): the first
   * key seen for a host is learned and saved; a different key later is
   * refused (retried, then the job fails with "host key mismatch"). */
  UPLOADER_SFTP_ACCEPT_NEW = 0,
  /* Only hosts already in the known_hosts file (added by the operator). */
  UPLOADER_SFTP_STRICT = 1,
} uploader_sftp_policy_t;

typedef struct {
  unsigned retry_base_ms; /* first retry delay, doubled per failure (0: 5000) */
  unsigned max_attempts;  /* attempts before a job fails (0: 8) */
  unsigned workers;       /* transfer threads (0: 2) */
  uploader_sftp_policy_t sftp_host_keys;
  const char *data_dir;   /* where ssh_known_hosts and temp key files live */
  const char *ca_file;    /* NULL/"": system CAs; else a PEM bundle used instead
                           * for https and ftps (a private CA) */
  /* 0 (the default): destinations may be on loopback or private networks
   * (a local MinIO) and file://. 1 refuses, at connect time after DNS,
   * loopback, private and link-local addresses (the webhooks' list) and
   * every file:// job: such jobs fail at once with "refused: …". Setting
   * upload_allow_private=0; see docs/SECURITY.md. */
  int deny_private;
  /* s3/b2/azblob: files larger than this many MiB go up in parts of this
   * size (S3 multipart upload, Azure blocks); 0: 64. 5..4000. */
  unsigned part_mib;
} uploader_opts_t;

#define UPLOADER_DEFAULT_RETRY_BASE_MS 5000u
#define UPLOADER_DEFAULT_MAX_ATTEMPTS 8u
#define UPLOADER_DEFAULT_WORKERS 2u
#define UPLOADER_MAX_BACKOFF_MS 3600000u
#define UPLOADER_MAX_OBJECT_NAME 1024
/* Finished jobs whose owner was told stay in the store this long (then they
 * are pruned; owners keep their own record of uploaded URLs). */
#define UPLOADER_KEEP_DAYS 7

/* store must stay open until uploader_free(); opts is copied. NULL on
 * allocation failure. Workers start at uploader_start(). */
uploader_t *uploader_new(uv_loop_t *loop, store_t *store, const uploader_opts_t *opts);

/* Completion of a job: ok = 1 with the object's URL (no credentials, no
 * query), or ok = 0 after the last attempt (or a local error) with a reason
 * (url NULL). local_path is the file that was enqueued. */
typedef void (*uploader_done_cb)(void *ud, const char *owner_kind, const char *owner_id,
                                 const char *job_id, const char *local_path, int ok,
                                 const char *url, const char *error);

/* Listens to the jobs of one owner kind (e.g. "recording"). Several
 * listeners may share a kind; all are called. Only kinds with a listener
 * are run: a process resumes, at uploader_start(), the open jobs of the
 * kinds it listens to and leaves the others alone (so `onair upload` and a
 * server sharing a data dir never run each other's jobs). Register before
 * uploader_start(). 0 or ERR_NOMEM / ERR_INVALID. */
int uploader_on_done(uploader_t *up, const char *owner_kind, uploader_done_cb cb, void *ud);

/* Starts the workers and resumes the open jobs of the listened kinds; jobs
 * whose completion was not yet told are told now (from the loop). */
int uploader_start(uploader_t *up);

/* Queues local_path for upload to one destination object (see the top)
 * as object_name (a relative path, may contain '/', no "..", no leading
 * '/'), appended to the URL's path. The job is stored before this returns;
 * job_id (may be NULL) receives its id. ERR_INVALID when the destination
 * fails uploader_check_destination(), the name is bad, or no listener
 * exists for owner_kind; ERR_DB when it cannot be stored. */
int uploader_enqueue(uploader_t *up, const char *owner_kind, const char *owner_id,
                     const char *local_path, const char *object_name,
                     const json_t *destination, char job_id[37]);

/* Open jobs (queued, waiting for a retry, or running) of an owner; with
 * local_path non-NULL only those of that file. */
unsigned uploader_pending(uploader_t *up, const char *owner_kind, const char *owner_id,
                          const char *local_path);

/* Drops every job of an owner (open ones are abandoned — a running
 * transfer is aborted — and nobody is told) and forgets them in the store.
 * For an owner that is deleted. Returns how many were open. */
unsigned uploader_cancel(uploader_t *up, const char *owner_kind, const char *owner_id);

typedef struct {
  unsigned queued;    /* open jobs waiting (due or in backoff) */
  unsigned running;   /* transfers in progress */
  uint64_t done;      /* since start: jobs uploaded */
  uint64_t failed;    /* jobs that finally failed */
  uint64_t retries;   /* failed attempts that were retried */
  uint64_t bytes;     /* bytes uploaded by finished jobs */
} uploader_stats_t;

void uploader_stats(uploader_t *up, uploader_stats_t *out);

/* Stops the workers (a transfer in flight is aborted and stays pending in
 * the store, resumed at the next start), closes the loop handles and frees
 * everything once their close callbacks ran: run the loop after this call
 * (as a shutdown does). NULL is a no-op. Nobody is told about jobs still
 * open. */
void uploader_free(uploader_t *up);

/* ---- pure helpers (any thread) ---- */

/* Validates a destination object for the API: url scheme, host, bucket /
 * container / directory, credentials where the scheme needs them (s3, b2
 * and azblob need key + secret unless an azblob URL carries a SAS token;
 * ftp/ftps/sftp may take them from the URL or key/secret; file:// needs an
 * absolute path), and the types of key, secret, permissions,
 * storage_class. 0, or ERR_INVALID with a one-line message naming the
 * problem (never echoing a secret) in msg, and in *field (may be NULL) the
 * member at fault: "url", "key", "secret", "permissions", "storage_class"
 * or "" (the object itself). */
int uploader_check_destination(const json_t *destination, const char **field, char *msg,
                               size_t msglen);

/* A destination url as the API shows it back: as written, but without a
 * password in the userinfo (ftp://user:pw@… → ftp://user@…), without query
 * parameters other than scheme= and region= (an azblob SAS token is a
 * credential) and without a fragment. Always NUL-terminates out. */
void uploader_public_url(const char *url, char *out, size_t outlen);

/* The URL object_name will have at destination (what the done callback
 * reports): https://HOST/BUCKET/PREFIX/NAME for s3/b2 (http with
 * scheme=http), the blob URL for azblob, ftp[s]://HOST[:PORT]/DIR/NAME,
 * sftp://HOST[:PORT]/DIR/NAME, file:///DIR/NAME — no credentials, no query.
 * 0 or ERR_INVALID (bad destination, or out too small). */
int uploader_object_url(const json_t *destination, const char *object_name, char *out,
                        size_t outlen);

#endif
