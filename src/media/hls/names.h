/* names.h — the parts of live HLS URLs that come from untrusted requests:
 * segment, part and init segment file names, and the numbers of LL-HLS
 * delivery directives (_HLS_msn, _HLS_part). Pure functions; fuzzed by
 * fuzz/fuzz_hls_names.c. */
#ifndef ONAIR_HLS_NAMES_H
#define ONAIR_HLS_NAMES_H

#include <stdint.h>

#define HLS_NAME_DIGITS_MAX 19     /* decimal digits of a number in a name */
#define HLS_PART_INDEX_MAX 100000u /* largest part index a name may carry */

/* file is exactly prefix, 1..HLS_NAME_DIGITS_MAX decimal digits, suffix
 * ("12.ts", "init-3.mp4"): 1 and *n, else 0. */
int hls_name_numbered(const char *file, const char *prefix, const char *suffix, uint64_t *n);
/* An LL-HLS part name "<seq>.<idx>.m4s" (idx <= HLS_PART_INDEX_MAX): 1 and
 * the numbers, else 0. */
int hls_name_part(const char *file, uint64_t *seq, unsigned *idx);
/* A directive's value: decimal digits only, at most max: 1 and *out, else
 * 0 (empty, a sign, other characters, overflow, above max). */
int hls_directive_number(const char *v, uint64_t max, uint64_t *out);

#endif
