/* dest.c — parsing and checking dvr destination objects (upload/dest.h). */
#include "upload/dest.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "upload/uploader.h"

#define MAX_URL 2048

static const char *const canned_acls[] = {
    "private",        "public-read",          "public-read-write",         "authenticated-read",
    "aws-exec-read",  "bucket-owner-read",    "bucket-owner-full-control", "log-delivery-write",
    NULL};

static int fail(const char **field, const char *f, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(const char **field, const char *f, char *msg, size_t msglen, const char *fmt,
                ...) {
  if (field) *field = f;
  if (msg && msglen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
  }
  return ERR_INVALID;
}

static int no_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

static int no_ctl_but_lines(const char *s) {
  for (; *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r') || *s == 0x7f) return 0;
  return 1;
}

/* Copies an optional string member; 0, 1 if absent/null, ERR_INVALID. */
static int member(const json_t *d, const char *name, char *out, size_t cap, const char **field,
                  char *msg, size_t msglen) {
  out[0] = '\0';
  json_t *v = json_object_get(d, name);
  if (!v || json_is_null(v)) return 1;
  /* a private key (sftp secret) spans lines; nothing else may */
  int multiline = strcmp(name, "secret") == 0;
  if (!json_is_string(v) || json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v) ||
      !(multiline ? no_ctl_but_lines(json_string_value(v)) : no_ctl(json_string_value(v))))
    return fail(field, name, msg, msglen, "%s must be a string of at most %zu bytes", name,
                cap - 1);
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return out[0] ? 0 : 1;
}

static int copy(char *out, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (n >= cap) return -1;
  memcpy(out, s, n + 1);
  return 0;
}

/* The region of an S3-compatible endpoint host, when it names one:
 * s3.REGION.amazonaws.com, s3-REGION.amazonaws.com, s3.REGION.backblazeb2.com,
 * REGION.digitaloceanspaces.com, s3.REGION.wasabisys.com … else us-east-1. */
static void region_from_host(const char *host, char *out, size_t cap) {
  snprintf(out, cap, "us-east-1");
  char label[64];
  const char *p = host;
  if (strncmp(p, "s3.", 3) == 0 || strncmp(p, "s3-", 3) == 0) {
    p += 3;
    size_t n = strcspn(p, ".");
    if (n == 0 || n >= sizeof(label) || !p[n]) return;
    memcpy(label, p, n);
    label[n] = '\0';
    if (strcmp(label, "amazonaws") == 0 || strcmp(label, "dualstack") == 0) return;
    for (size_t i = 0; i < n; i++)
      if (!isalnum((unsigned char)label[i]) && label[i] != '-') return;
    snprintf(out, cap, "%s", label);
  } else if (strstr(host, ".digitaloceanspaces.com")) {
    size_t n = strcspn(host, ".");
    if (n > 0 && n < sizeof(label)) snprintf(out, cap, "%.*s", (int)n, host);
  }
}

/* Is host an IP literal or localhost (azblob path style, as Azurite)? */
static int host_is_ip_or_localhost(const char *h) {
  if (h[0] == '[' || strcmp(h, "localhost") == 0) return 1;
  for (; *h; h++)
    if (!isdigit((unsigned char)*h) && *h != '.') return 0;
  return 1;
}

/* Removes "name=..." parameters from a query string in place; returns
 * whether one was "scheme=http" (sets *http) and copies region=. */
static int strip_query(char *q, int *http, char *region, size_t regcap) {
  char out[MAX_URL] = "";
  size_t o = 0;
  char *save = NULL;
  for (char *tok = strtok_r(q, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
    if (strncmp(tok, "scheme=", 7) == 0) {
      if (strcmp(tok + 7, "http") == 0)
        *http = 1;
      else if (strcmp(tok + 7, "https") != 0)
        return ERR_INVALID;
      continue;
    }
    if (region && strncmp(tok, "region=", 7) == 0) {
      /* it goes into libcurl's "aws:amz:REGION:s3" and the signature scope */
      if (!tok[7] || strlen(tok + 7) >= regcap || strspn(tok + 7, "abcdefghijklmnopqrstuvwxyz"
                                                               "0123456789-") != strlen(tok + 7))
        return ERR_INVALID;
      snprintf(region, regcap, "%s", tok + 7);
      continue;
    }
    int n = snprintf(out + o, sizeof(out) - o, "%s%s", o ? "&" : "", tok);
    if (n < 0 || (size_t)n >= sizeof(out) - o) return ERR_INVALID;
    o += (size_t)n;
  }
  memcpy(q, out, o + 1);
  return 0;
}

/* Does a path have a ".." segment (or its encoded form)? */
static int has_dotdot(const char *p) {
  while (*p) {
    while (*p == '/') p++;
    size_t l = strcspn(p, "/");
    if ((l == 2 && strncmp(p, "..", 2) == 0) || (l == 4 && strncasecmp(p, "%2e.", 4) == 0) ||
        (l == 4 && strncasecmp(p, ".%2e", 4) == 0) || (l == 6 && strncasecmp(p, "%2e%2e", 6) == 0))
      return 1;
    p += l;
  }
  return 0;
}

static int base64_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n % 4 || n > 1024) return 0;
  unsigned char buf[1024];
  return EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) > 0;
}

int upload_dest_parse(const json_t *dj, upload_dest_t *d, const char **field, char *msg,
                      size_t msglen) {
  memset(d, 0, sizeof(*d));
  if (field) *field = "";
  if (!json_is_object(dj)) return fail(field, "", msg, msglen, "destination must be an object");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)dj, k, v) {
    if (strcmp(k, "url") && strcmp(k, "key") && strcmp(k, "secret") && strcmp(k, "permissions") &&
        strcmp(k, "storage_class"))
      return fail(field, "", msg, msglen,
                  "unknown field %.64s (a destination takes url, key, secret, permissions, "
                  "storage_class)",
                  k);
  }
  json_t *uj = json_object_get(dj, "url");
  if (!json_is_string(uj)) return fail(field, "url", msg, msglen, "url is required and must be a string");
  const char *url = json_string_value(uj);
  if (strlen(url) > MAX_URL || !no_ctl(url) || strchr(url, ' '))
    return fail(field, "url", msg, msglen, "url is not a valid URL");
  int rc;
  if ((rc = member(dj, "key", d->key, sizeof(d->key), field, msg, msglen)) < 0) return rc;
  if ((rc = member(dj, "secret", d->secret, sizeof(d->secret), field, msg, msglen)) < 0) return rc;
  if ((rc = member(dj, "permissions", d->permissions, sizeof(d->permissions), field, msg,
                   msglen)) < 0)
    return rc;
  if ((rc = member(dj, "storage_class", d->storage_class, sizeof(d->storage_class), field, msg,
                   msglen)) < 0)
    return rc;

  static const struct {
    const char *prefix;
    upload_scheme_t scheme;
  } schemes[] = {{"s3://", UPLOAD_S3},     {"b2://", UPLOAD_B2},     {"azblob://", UPLOAD_AZBLOB},
                 {"ftp://", UPLOAD_FTP},   {"ftps://", UPLOAD_FTPS}, {"sftp://", UPLOAD_SFTP},
                 {"file://", UPLOAD_FILE}};
  size_t i;
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) break;
  if (i == sizeof(schemes) / sizeof(schemes[0]))
    return fail(field, "url", msg, msglen,
                "url must start with s3://, b2://, azblob://, ftp://, ftps://, sftp:// or file://");
  d->scheme = schemes[i].scheme;
  const char *sname = schemes[i].prefix;

  CURLU *u = curl_url();
  if (!u) return ERR_NOMEM;
  char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL, *pass = NULL;
  rc = 0;
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    rc = fail(field, "url", msg, msglen, "url is not a valid URL");
    goto out;
  }
  curl_url_get(u, CURLUPART_HOST, &host, 0);
  curl_url_get(u, CURLUPART_PORT, &port, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  /* Decoding refuses control characters (%0D%0A): that must be a 400, not a
   * user name that silently goes missing. */
  if (curl_url_get(u, CURLUPART_PATH, &path, d->scheme == UPLOAD_FILE ? CURLU_URLDECODE : 0) ==
          CURLUE_URLDECODE ||
      curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_URLDECODE ||
      curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE) == CURLUE_URLDECODE) {
    rc = fail(field, "url", msg, msglen, "url has an encoded control character");
    goto out;
  }

  if (d->scheme == UPLOAD_FILE) {
    if (host && *host && strcmp(host, "localhost") != 0) {
      rc = fail(field, "url", msg, msglen, "a file:// url has no host: file:///absolute/dir");
      goto out;
    }
    if (!path || path[0] != '/' || !path[1] || query) {
      rc = fail(field, "url", msg, msglen, "a file:// url needs an absolute path: file:///dir");
      goto out;
    }
    if (has_dotdot(path) || !no_ctl(path)) {
      rc = fail(field, "url", msg, msglen, "the file:// path may not contain .. or control characters");
      goto out;
    }
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    if (copy(d->dir, sizeof(d->dir), path)) {
      rc = fail(field, "url", msg, msglen, "the file:// path is too long");
      goto out;
    }
    goto out;
  }

  if (!host || !*host || copy(d->host, sizeof(d->host), host)) {
    rc = fail(field, "url", msg, msglen, "url has no host after %s", sname);
    goto out;
  }
  if (port) d->port = atoi(port);
  /* the path: split off the bucket / container (and the account, path style) */
  const char *p = path ? path : "/";
  while (*p == '/') p++;
  char rest[MAX_URL];
  if (copy(rest, sizeof(rest), p)) {
    rc = fail(field, "url", msg, msglen, "url is too long");
    goto out;
  }
  size_t rn = strlen(rest);
  while (rn && rest[rn - 1] == '/') rest[--rn] = '\0';
  if (strstr(rest, "//")) {
    rc = fail(field, "url", msg, msglen, "url has an empty path segment");
    goto out;
  }
  char *seg = rest;
  int object_store = d->scheme == UPLOAD_S3 || d->scheme == UPLOAD_B2 ||
                     d->scheme == UPLOAD_AZBLOB;
  if (d->scheme == UPLOAD_AZBLOB) {
    if (host_is_ip_or_localhost(d->host)) {
      d->path_style = 1;
      size_t n = strcspn(seg, "/");
      if (n == 0 || n >= sizeof(d->account)) {
        rc = fail(field, "url", msg, msglen,
                  "an azblob:// url on an IP address names the account first: "
                  "azblob://HOST:PORT/ACCOUNT/CONTAINER/prefix");
        goto out;
      }
      memcpy(d->account, seg, n);
      d->account[n] = '\0';
      seg += n;
      while (*seg == '/') seg++;
    } else {
      size_t n = strcspn(d->host, ".");
      if (n == 0 || n >= sizeof(d->account) || !d->host[n]) {
        rc = fail(field, "url", msg, msglen,
                  "an azblob:// url starts with the account's host: "
                  "azblob://ACCOUNT.blob.core.windows.net/CONTAINER/prefix");
        goto out;
      }
      memcpy(d->account, d->host, n);
      d->account[n] = '\0';
    }
  }
  if (object_store) {
    size_t n = strcspn(seg, "/");
    if (n == 0 || n >= sizeof(d->bucket)) {
      rc = fail(field, "url", msg, msglen, "url names no %s: %sHOST/%s/prefix", 
                d->scheme == UPLOAD_AZBLOB ? "container" : "bucket", sname,
                d->scheme == UPLOAD_AZBLOB ? "CONTAINER" : "BUCKET");
      goto out;
    }
    memcpy(d->bucket, seg, n);
    d->bucket[n] = '\0';
    seg += n;
    while (*seg == '/') seg++;
  }
  if (copy(d->dir, sizeof(d->dir), seg)) {
    rc = fail(field, "url", msg, msglen, "url is too long");
    goto out;
  }
  if (has_dotdot(d->dir)) {
    rc = fail(field, "url", msg, msglen, "url path may not contain ..");
    goto out;
  }
  if (query) {
    if (copy(d->sas, sizeof(d->sas), query) ||
        strip_query(d->sas, &d->plain_http, object_store && d->scheme != UPLOAD_AZBLOB ? d->region : NULL,
                    sizeof(d->region))) {
      rc = fail(field, "url", msg, msglen, "url has a bad query (only scheme=http|https%s)",
                d->scheme == UPLOAD_AZBLOB ? " and a SAS token" : ", region=NAME");
      goto out;
    }
    if (d->sas[0] && d->scheme != UPLOAD_AZBLOB) {
      rc = fail(field, "url", msg, msglen, "url has an unknown query parameter");
      goto out;
    }
    if (d->plain_http && !object_store) {
      rc = fail(field, "url", msg, msglen, "scheme=http only applies to s3://, b2:// and azblob://");
      goto out;
    }
  }

  switch (d->scheme) {
    case UPLOAD_S3:
    case UPLOAD_B2:
      if (!d->region[0]) region_from_host(d->host, d->region, sizeof(d->region));
      if (user || pass) {
        rc = fail(field, "url", msg, msglen, "put credentials in key and secret, not in the url");
        goto out;
      }
      if (!d->key[0]) {
        rc = fail(field, "key", msg, msglen, "key (the access key id) is required for %s", sname);
        goto out;
      }
      if (!d->secret[0]) {
        rc = fail(field, "secret", msg, msglen, "secret (the secret access key) is required for %s",
                  sname);
        goto out;
      }
      if (d->permissions[0]) {
        const char *const *a;
        for (a = canned_acls; *a; a++)
          if (strcmp(*a, d->permissions) == 0) break;
        if (!*a) {
          rc = fail(field, "permissions", msg, msglen,
                    "permissions must be an S3 canned ACL: private, public-read, "
                    "public-read-write, authenticated-read, aws-exec-read, bucket-owner-read, "
                    "bucket-owner-full-control");
          goto out;
        }
      }
      for (const char *c = d->storage_class; *c; c++)
        if (!isupper((unsigned char)*c) && *c != '_' && !isdigit((unsigned char)*c)) {
          rc = fail(field, "storage_class", msg, msglen,
                    "storage_class must be an S3 storage class such as STANDARD or "
                    "REDUCED_REDUNDANCY");
          goto out;
        }
      break;
    case UPLOAD_AZBLOB:
      if (user || pass) {
        rc = fail(field, "url", msg, msglen, "put credentials in key and secret, not in the url");
        goto out;
      }
      if (!strstr(d->sas, "sig=")) {
        d->sas[0] = '\0';
        if (!d->key[0]) {
          rc = fail(field, "key", msg, msglen,
                    "key (the storage account name) is required for azblob:// unless the url "
                    "carries a SAS token");
          goto out;
        }
        if (!d->secret[0]) {
          rc = fail(field, "secret", msg, msglen,
                    "secret (the base64 account key) is required for azblob:// unless the url "
                    "carries a SAS token");
          goto out;
        }
        if (!base64_ok(d->secret)) {
          rc = fail(field, "secret", msg, msglen, "secret must be the base64 account key");
          goto out;
        }
      }
      break;
    case UPLOAD_FTP:
    case UPLOAD_FTPS:
    case UPLOAD_SFTP:
      if (user && *user) {
        if (copy(d->user, sizeof(d->user), user)) goto toolong;
        d->has_user = 1;
      } else if (d->key[0]) {
        snprintf(d->user, sizeof(d->user), "%s", d->key);
        d->has_user = 1;
      }
      if (pass) {
        if (copy(d->password, sizeof(d->password), pass)) goto toolong;
        d->has_password = 1;
      } else if (d->secret[0]) {
        if (d->scheme == UPLOAD_SFTP && strncmp(d->secret, "-----BEGIN ", 11) == 0) {
          d->private_key = 1;
        } else {
          if (copy(d->password, sizeof(d->password), d->secret)) goto toolong;
          d->has_password = 1;
        }
      }
      if (d->scheme == UPLOAD_SFTP) {
        if (!d->has_user) {
          rc = fail(field, "key", msg, msglen,
                    "sftp:// needs a user name: sftp://USER@HOST/dir or key");
          goto out;
        }
        if (!d->has_password && !d->private_key) {
          rc = fail(field, "secret", msg, msglen,
                    "sftp:// needs a password (in the url or secret) or a private key (secret)");
          goto out;
        }
      } else if (d->has_password && !d->has_user) {
        rc = fail(field, "key", msg, msglen, "a password needs a user name (key)");
        goto out;
      }
      if (d->permissions[0] || d->storage_class[0]) {
        rc = fail(field, d->permissions[0] ? "permissions" : "storage_class", msg, msglen,
                  "permissions and storage_class only apply to s3:// and b2://");
        goto out;
      }
      break;
    case UPLOAD_FILE:
      break;
  }
  /* Line breaks belong in private keys only: in a password they would end
   * the FTP command (PASS) early. */
  if (strpbrk(d->secret, "\r\n") && !d->private_key)
    rc = fail(field, "secret", msg, msglen,
              "secret may span lines only when it is an sftp private key");
  /* The URL's userinfo is percent-decoded: %0D%0A would do the same in USER/PASS. */
  else if (!no_ctl(d->user) || !no_ctl(d->password))
    rc = fail(field, "url", msg, msglen, "the url's user name and password may not contain control characters");
  goto out;
toolong:
  rc = fail(field, "url", msg, msglen, "a credential is too long");
out:
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(query);
  curl_free(user);
  curl_free(pass);
  curl_url_cleanup(u);
  return rc;
}

int upload_object_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > UPLOADER_MAX_OBJECT_NAME || name[0] == '/' || name[n - 1] == '/') return 0;
  if (!no_ctl(name) || strchr(name, '\\')) return 0;
  const char *s = name;
  while (*s) {
    size_t l = strcspn(s, "/");
    if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) return 0;
    s += l;
    if (*s == '/') s++;
  }
  return 1;
}

/* Appends s percent-encoded (RFC 3986 unreserved and '/' kept). */
static int append_encoded(char *out, size_t cap, size_t *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    int keep = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
    size_t need = keep ? 1 : 3;
    if (*o + need >= cap) return -1;
    if (keep) {
      out[(*o)++] = (char)c;
    } else {
      out[(*o)++] = '%';
      out[(*o)++] = hex[c >> 4];
      out[(*o)++] = hex[c & 15];
    }
  }
  out[*o] = '\0';
  return 0;
}

static int append(char *out, size_t cap, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char *out, size_t cap, size_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + *o, cap - *o, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap - *o) return -1;
  *o += (size_t)n;
  return 0;
}

/* scheme://host[:port]/[account/][bucket/][dir] (no trailing slash). */
static int base_url(const upload_dest_t *d, int for_request, char *out, size_t cap, size_t *o) {
  *o = 0;
  out[0] = '\0';
  if (d->scheme == UPLOAD_FILE) return append(out, cap, o, "file://") || append_encoded(out, cap, o, d->dir);
  const char *scheme;
  switch (d->scheme) {
    case UPLOAD_S3:
    case UPLOAD_B2:
    case UPLOAD_AZBLOB:
      scheme = d->plain_http ? "http" : "https";
      break;
    case UPLOAD_FTP:
      scheme = "ftp";
      break;
    case UPLOAD_FTPS:
      /* explicit TLS (AUTH TLS) on the ftp port: curl's ftps:// would be implicit TLS */
      scheme = for_request ? "ftp" : "ftps";
      break;
    default:
      scheme = "sftp";
  }
  if (append(out, cap, o, "%s://%s", scheme, d->host)) return -1;
  if (d->port && append(out, cap, o, ":%d", d->port)) return -1;
  if (d->path_style && append(out, cap, o, "/%s", d->account)) return -1;
  if (d->bucket[0] && append(out, cap, o, "/%s", d->bucket)) return -1;
  if (d->dir[0] && append(out, cap, o, "/%s", d->dir)) return -1;
  return 0;
}

static int object_url(const upload_dest_t *d, const char *object_name, int for_request,
                      char *out, size_t outlen) {
  size_t o;
  if (base_url(d, for_request, out, outlen, &o) || append(out, outlen, &o, "/") ||
      append_encoded(out, outlen, &o, object_name))
    return ERR_INVALID;
  if (for_request && d->scheme == UPLOAD_AZBLOB && d->sas[0] &&
      append(out, outlen, &o, "?%s", d->sas))
    return ERR_INVALID;
  return 0;
}

int upload_dest_object_url(const upload_dest_t *d, const char *object_name, char *out,
                           size_t outlen) {
  return object_url(d, object_name, 0, out, outlen);
}

int upload_dest_request_url(const upload_dest_t *d, const char *object_name, char *out,
                            size_t outlen) {
  return object_url(d, object_name, 1, out, outlen);
}

void upload_dest_safe_url(const upload_dest_t *d, char *out, size_t outlen) {
  size_t o;
  if (base_url(d, 0, out, outlen, &o)) snprintf(out, outlen, "(url too long)");
}
