/* filter.h — the list filters of seed 003 ("Listing Live Streams").
 *
 *   GET /v1/live-streams?status.name=live&params.dvr.enabled=true
 *
 * Every query parameter that is not reserved (limit, offset, …) is one
 * condition: its key is a dot-separated path into the listed JSON object,
 * its value one of
 *   null     the property is missing or JSON null
 *   notnull  the property is present and not JSON null
 *   other    equality, by the rules below.
 * An object must satisfy all conditions (AND); a repeated key is two
 * conditions. "null" and "notnull" are exact and lowercase, so a string
 * property cannot be compared with the literal text "null".
 *
 * Equality of a property with a value (the value is always text):
 *   string        exact, byte for byte ("Live" != "live").
 *   true / false  "true" / "false" in any case, or "1" / "0".
 *   number        the value parses fully as a JSON-style number
 *                 (-?digits[.digits][e±digits]) and is numerically equal,
 *                 so "30" matches 30 and 30.0; also 1 matches "true" and
 *                 0 matches "false", mirroring the booleans (the seed
 *                 writes flags as 0/1 in some places and true/false in
 *                 others).
 *   null          never; use the value null.
 *   object        never.
 *   array         if ANY element (string, bool or number) is equal, e.g.
 *                 params.allowed_referer_domains=example.com.
 *
 * Paths through arrays: when a path step meets an array, the rest of the
 * path is applied to each object element, and the condition holds if it
 * holds for ANY of them: playback_ids.policy=authenticated matches a stream
 * with at least one authenticated playback id. For null/notnull that means:
 * notnull if some element has a non-null value there, null otherwise.
 * Arrays are entered one level only (arrays inside arrays are skipped) and
 * there are no numeric indexes. A path through a scalar is missing, hence
 * null.
 */
#ifndef ONAIR_FILTER_H
#define ONAIR_FILTER_H

#include <jansson.h>
#include <stddef.h>

/* Limits; a query over any of them is refused, not truncated. */
#define FILTER_MAX_KEY_LEN 200   /* decoded key bytes */
#define FILTER_MAX_DEPTH 8       /* path segments */
#define FILTER_MAX_CONDITIONS 32
#define FILTER_MAX_VALUE_LEN 1024 /* decoded value bytes */

typedef struct filter filter_t; /* an immutable list of conditions */

/* Parses a raw query string (no '?'; NULL or "" means no conditions).
 * Parameters are split on '&' (empty ones ignored) and percent-decoded
 * ('+' is a space); a parameter without '=' has the empty value. Keys in
 * `reserved` (NULL-terminated array, may be NULL) are skipped.
 * Returns 0 and *out (free with filter_free), or ERR_INVALID with the
 * offending key (decoded if possible, else raw; truncated to fit; "" for an
 * empty key) in err_field (may be NULL; >= 128 bytes advised) for: empty
 * key, empty path segment ("a..b", ".a", "a."), key over
 * FILTER_MAX_KEY_LEN, more than FILTER_MAX_DEPTH segments, more than
 * FILTER_MAX_CONDITIONS conditions, value over FILTER_MAX_VALUE_LEN, bad
 * percent-encoding ('%' not followed by two hex digits, or %00).
 * ERR_NOMEM if allocation fails. */
int filter_parse(const char *query, const char *const *reserved, filter_t **out, char *err_field,
                 size_t err_field_len);

/* 1 if obj satisfies every condition, else 0. A NULL filter matches
 * everything; a NULL obj is an empty one. Does not modify obj. */
int filter_match(const filter_t *f, json_t *obj);

/* Whether every condition names a property the listed objects can have.
 * known: NULL-terminated dotted paths of the objects' shape. A key is known
 * when it equals an entry, leads to one ("params" leads to
 * "params.dvr.enabled"), or lies under an entry ending in ".*" (for parts
 * rendered whole by other modules: "recording.*" admits "recording" and
 * everything below it). Returns 1 and the first unknown key, dotted and
 * decoded, in out (truncated to outlen), or 0 when all are known. */
int filter_find_unknown_key(const filter_t *f, const char *const *known, char *out,
                            size_t outlen);

/* Number of conditions (0 for NULL). */
size_t filter_count(const filter_t *f);

void filter_free(filter_t *f);

#endif
