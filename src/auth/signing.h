/* signing.h — signing keys and signed playback tokens (the "authenticated"
 * playback policy of seed 003, shaped after Mux signing keys).
 *
 * A project creates an RSA key pair through POST /v1/signing-keys. onair
 * keeps only the public half (store_signing_key_*); the customer keeps the
 * private half and signs, on its own server, one short-lived RS256 JWT per
 * viewer:
 *
 *   header  {"alg": "RS256", "typ": "JWT", "kid": "<signing key id>"}
 *   claims  {"sub": "<playback id>", "exp": <unix seconds>,
 *            "aud": "v"  (optional; when present it must be "v" = video)}
 *
 * and the player sends it as ?auth=<token> with every playlist and segment
 * request.
 *
 * signing_verify_playback() runs for each of those requests, so parsed
 * public keys are cached in memory by kid (bounded, least recently used
 * evicted), and tokens that verified are remembered by their SHA-256 until
 * they expire (bounded, direct-mapped), so a viewer's repeated token costs
 * a hash instead of an RSA check. Each call still makes one primary-key
 * SELECT to confirm the key exists and belongs to the project: deleting a
 * key revokes its tokens at once. The caches are process-wide and guarded
 * by a mutex, so any thread may verify (each with its own store_t).
 */
#ifndef ONAIR_SIGNING_H
#define ONAIR_SIGNING_H

#include <stdint.h>

#include "store/store.h"

/* Most keys a project may hold (POST /v1/signing-keys answers 409 beyond). */
#define SIGNING_MAX_KEYS_PER_PROJECT 20
/* Parsed public keys kept in memory; a miss costs one PEM parse. */
#define SIGNING_CACHE_SIZE 64

/* Generates an RSA-2048 key pair. *priv_pem is PKCS#8 PEM ("BEGIN PRIVATE
 * KEY", unencrypted), *pub_pem is SubjectPublicKeyInfo PEM ("BEGIN PUBLIC
 * KEY"); both malloc'd, the caller frees them (wipe priv_pem first).
 * Takes 0.1–1 s of CPU: call it from a worker thread, not the loop.
 * 0, ERR_NOMEM or ERR_INTERNAL. */
int signing_key_generate(char **priv_pem, char **pub_pem);

/* Checks a playback token for playback_id of project_id at time now (Unix
 * seconds). 0 when the token is an RS256 JWT whose header "kid" names a
 * signing key of that project, the signature verifies with that key, "exp"
 * is in the future (and "nbf", if any, not), "sub" equals playback_id and
 * "aud", if present, is "v".
 *   ERR_UNAUTHORIZED  no token, malformed, expired, bad signature, unknown
 *                     kid or another project's kid, no string "sub"
 *   ERR_FORBIDDEN     a valid token of this project for another playback
 *                     id (or another audience)
 *   ERR_DB / ERR_NOMEM when the check itself failed.
 * Never logs the token. */
int signing_verify_playback(store_t *st, const char *project_id, const char *playback_id,
                            const char *token, int64_t now);

/* Drops one cached key (after DELETE /v1/signing-keys/{id}; optional, the
 * store check alone already refuses a deleted key). */
void signing_cache_forget(const char *kid);
/* Frees every cached key and forgets verified tokens (at shutdown, and in
 * tests). */
void signing_cache_clear(void);

#endif
