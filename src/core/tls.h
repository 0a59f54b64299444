/* tls.h — server TLS contexts (RTMPS now, HTTPS later).
 *
 * With a certificate and key configured, they are loaded. Without, a
 * self-signed certificate for `common_name` is generated on first start and
 * kept under DATA_DIR/tls/ (cert.pem, key.pem 0600), so restarts reuse it.
 */
#ifndef ONAIR_TLS_H
#define ONAIR_TLS_H

#include <openssl/ssl.h>

/* cert_file/key_file may be NULL or "" to use (or create) the data-dir pair. */
int tls_server_ctx(const char *cert_file, const char *key_file, const char *data_dir,
                   const char *common_name, SSL_CTX **out);

#endif
