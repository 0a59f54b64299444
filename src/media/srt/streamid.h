/* streamid.h — what an SRT caller asks for in SRTO_STREAMID.
 *
 * Two forms are accepted (docs/api.md, "SRT ingest"):
 *   KEY                      the stream key alone (what ffmpeg and OBS send
 *                            with srt://HOST:PORT?streamid=KEY)
 *   #!::r=KEY,m=publish      the SRT access-control form: comma-separated
 *                            key=value pairs after "#!::". r is the stream
 *                            key; m must be publish (absent means publish:
 *                            onair only ingests); t, if given, must be stream.
 *                            u, h and s are accepted and ignored.
 *
 * Pure and allocation-free: safe on any thread (it runs inside libsrt's
 * handshake callback) and fuzzed (fuzz/fuzz_srt_streamid.c).
 */
#ifndef ONAIR_SRT_STREAMID_H
#define ONAIR_SRT_STREAMID_H

#include <stddef.h>

#define SRT_STREAMID_MAX 512 /* libsrt's own limit on SRTO_STREAMID */
#define SRT_STREAM_KEY_MAX 64

typedef struct {
  char key[SRT_STREAM_KEY_MAX + 1]; /* the stream key, NUL-terminated */
  int access_form;                  /* 1 when it came in the "#!::" form */
} srt_streamid_t;

/* Parses the len bytes at s (not necessarily NUL-terminated).
 * 0 on success; ERR_INVALID for malformed input (empty, too long, control
 * characters, a key with characters outside [A-Za-z0-9_.-], duplicate or
 * empty fields, no r=); ERR_FORBIDDEN when the caller asks for anything
 * but publishing (m=request, m=bidirectional, t other than stream). */
int srt_streamid_parse(const char *s, size_t len, srt_streamid_t *out);

#endif
