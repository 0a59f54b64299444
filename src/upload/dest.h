/* upload/dest.h — a dvr destination object, parsed and checked (private to
 * src/upload/). The URL forms are described in upload/uploader.h.
 *
 * Pure: any thread. The parsed struct holds credentials; never log it — log
 * upload_dest_safe_url() instead.
 */
#ifndef ONAIR_UPLOAD_DEST_H
#define ONAIR_UPLOAD_DEST_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
  UPLOAD_S3,
  UPLOAD_B2,
  UPLOAD_AZBLOB,
  UPLOAD_FTP,
  UPLOAD_FTPS,
  UPLOAD_SFTP,
  UPLOAD_FILE,
} upload_scheme_t;

typedef struct {
  upload_scheme_t scheme;
  int plain_http;          /* s3/b2/azblob: "scheme=http" in the query */
  char host[256];          /* as in the URL ([v6] keeps its brackets) */
  int port;                /* 0: the scheme's default */
  char region[64];         /* s3/b2 */
  char account[128];       /* azblob */
  int path_style;          /* azblob: account is the first path segment */
  char bucket[256];        /* s3/b2 bucket, azblob container */
  char dir[1024];          /* the rest of the path, no leading or trailing '/';
                            * percent-encoding as written in the URL (file://:
                            * decoded, absolute, with its leading '/') */
  char user[257];          /* ftp/sftp: from the URL or key (decoded) */
  char password[1024];     /* ftp/sftp: from the URL or secret (decoded) */
  int has_user, has_password;
  char key[257];           /* s3/b2 access key id, azblob account name */
  char secret[4096];       /* s3/b2 secret key, azblob account key, sftp private key */
  int private_key;         /* sftp: secret is a PEM/OpenSSH private key */
  char sas[2048];          /* azblob SAS token (query without scheme=http) */
  char permissions[65];    /* s3/b2 x-amz-acl */
  char storage_class[65];  /* s3/b2 x-amz-storage-class */
} upload_dest_t;

/* Parses and checks a destination object into *d (see
 * uploader_check_destination() for what is checked). 0 or ERR_INVALID with
 * *field and msg set. */
int upload_dest_parse(const json_t *destination, upload_dest_t *d, const char **field, char *msg,
                      size_t msglen);

/* Is object_name usable: 1..UPLOADER_MAX_OBJECT_NAME bytes, relative, no
 * "." or ".." segment, no empty segment, no control characters or '\\'. */
int upload_object_name_ok(const char *object_name);

/* The URL of the object (no credentials, no query): what owners are told.
 * 0 or ERR_INVALID when out is too small. */
int upload_dest_object_url(const upload_dest_t *d, const char *object_name, char *out,
                           size_t outlen);
/* The URL requests go to: the object URL with plain http where asked, and
 * the SAS token for azblob. Carries no userinfo (credentials go through
 * curl options). */
int upload_dest_request_url(const upload_dest_t *d, const char *object_name, char *out,
                            size_t outlen);
/* scheme://host[:port]/bucket/dir for logs: never credentials or query. */
void upload_dest_safe_url(const upload_dest_t *d, char *out, size_t outlen);

#endif
