#include "core/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static int write_pem(const char *path, int mode, int (*emit)(BIO *, void *), void *obj) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return ERR_NOMEM;
  int rc = ERR_INTERNAL;
  if (emit(b, obj) == 1) {
    char *data;
    long len = BIO_get_mem_data(b, &data);
    rc = util_write_file_atomic(path, data, (size_t)len, mode);
  }
  BIO_free(b);
  return rc;
}

static int emit_key(BIO *b, void *k) {
  return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}
static int emit_cert(BIO *b, void *c) { return PEM_write_bio_X509(b, c); }

/* A P-256 key and a 10-year self-signed certificate for cn. */
static int generate_self_signed(const char *cert_path, const char *key_path, const char *cn) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509 *x = X509_new();
  int rc = ERR_INTERNAL;
  unsigned char serial[16];
  if (!key || !x || util_random_bytes(serial, sizeof(serial))) goto out;
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
  if (!bn) goto out;
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"onair", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (X509_sign(x, key, EVP_sha256()) == 0) goto out;
  rc = write_pem(key_path, 0600, emit_key, key);
  if (!rc) rc = write_pem(cert_path, 0644, emit_cert, x);
  if (!rc) log_info("tls_self_signed_created cert=%s cn=%s", cert_path, cn);
out:
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

int tls_server_ctx(const char *cert_file, const char *key_file, const char *data_dir,
                   const char *common_name, SSL_CTX **out) {
  char cert[1200], key[1200];
  if (cert_file && *cert_file) {
    snprintf(cert, sizeof(cert), "%s", cert_file);
    snprintf(key, sizeof(key), "%s", key_file && *key_file ? key_file : cert_file);
  } else {
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/tls", data_dir);
    if (util_mkdirs(dir)) return ERR_IO;
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
      int rc = generate_self_signed(cert, key, common_name);
      if (rc) return rc;
    }
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return ERR_NOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    log_error("tls_load_failed cert=%s key=%s reason=%s", cert, key,
              ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return ERR_INVALID;
  }
  *out = ctx;
  return 0;
}
