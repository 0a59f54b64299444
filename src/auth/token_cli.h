/* token_cli.h — `onair token sign`: makes a signed playback token on the
 * command line, for testing authenticated playback and for scripts (in
 * production the customer's own server signs; see auth/signing.h).
 *
 *   onair token sign --key-file PEM --key-id KID --playback-id ID [--ttl SECONDS]
 *
 * prints one RS256 JWT (header kid = KID; claims sub = ID, aud = "v",
 * iat = now, exp = now + ttl) on stdout. The key file holds the private key
 * returned by POST /v1/signing-keys (PEM, PKCS#8 or PKCS#1; a base64-encoded
 * PEM as Mux hands out is accepted too). Default ttl 3600 s, at most 30 days.
 */
#ifndef ONAIR_TOKEN_CLI_H
#define ONAIR_TOKEN_CLI_H

/* argv are the arguments after "token" (argv[0] is "sign"). Returns the
 * process exit code: 0 done (or --help), 2 bad usage, 1 failure (unreadable
 * or unsuitable key, out of memory). Messages go to stderr. */
int token_cli_main(int argc, char **argv);

#endif
