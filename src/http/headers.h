/* headers.h — the request header values the media routes interpret, read
 * from client bytes: a single-range "Range: bytes=", an If-None-Match
 * against our ETag, the host of a Referer matched against a stream's
 * allowed_referer_domains patterns, and whether Accept-Encoding takes
 * gzip. Pure functions on NUL-terminated strings; nothing is read past the
 * terminator. */
#ifndef ONAIR_HTTP_HEADERS_H
#define ONAIR_HTTP_HEADERS_H

#include <stddef.h>

/* A "bytes=" Range header against a body of len bytes (RFC 9110 14.1.2;
 * one range only: a list is ignored). 1 with *from <= *to < len for a
 * satisfiable range ("a-", "a-b", suffix "-n"; b past the end is cut to
 * len - 1); 0 to send everything (absent, unparsable, a list, len 0);
 * -2 when the first byte is past the end (416). *from and *to are only
 * written on 1. */
int http_range_parse(const char *range, size_t len, size_t *from, size_t *to);

/* 1 when an If-None-Match value (NULL: absent) matches etag (a quoted
 * strong tag of ours): it contains the tag, or is "*". */
int http_etag_matches(const char *if_none_match, const char *etag);

/* The host of a Referer ("scheme://host[:port][/?#…]") into host (at most
 * hostlen - 1 bytes, NUL-terminated). 1, or 0 when there is none (no
 * "://", an empty host, one that does not fit; host is then ""). */
int http_referer_host(const char *referer, char *host, size_t hostlen);

/* 1 when host matches an allowed-domain pattern, case-insensitively:
 * "*.example.com" matches sub.example.com (not example.com itself),
 * "example.com" only itself; a ":port" in the pattern is ignored. */
int http_domain_matches(const char *pattern, const char *host);

/* 1 when an Accept-Encoding value (RFC 9110 12.5.3; NULL: absent) takes
 * the gzip content coding: "gzip" or "x-gzip" with a q-value above 0, or,
 * when neither is named, "*" with a q-value above 0. 0 otherwise (absent,
 * "identity", "gzip;q=0", unparsable q-values count as 0). */
int http_accepts_gzip(const char *accept_encoding);

#endif
