/* aac_conv.h — turns an ingest's audio that is not AAC (MP3, MP2, AC-3,
 * Speex, Nellymoser, G.711, PCM, …) into AAC, the one audio codec the hub
 * carries (frame.h): every consumer (HLS in TS and fMP4, recordings,
 * simulcast, the ladder) then plays it in every player.
 *
 * libavcodec decodes whatever it can, libswresample converts to the
 * output's rate and channels, and libavcodec's native AAC-LC encoder
 * (128 kbit/s stereo, 64 kbit/s mono) makes 1024-sample frames.
 *
 * The output's sample rate and channels are fixed when the converter is
 * made, from what the ingest announces (onMetaData, FLV tag header, the TS
 * stream's parameters), so the AudioSpecificConfig is known before the
 * first frame arrives: the stream's configuration is complete from the
 * start. Decoded audio of another rate or layout is resampled to it, so a
 * converter made again for the same output has the same configuration.
 *
 * Timestamps: an output frame's pts is the input's first pts (ms) plus the
 * samples before it (the encoder's priming packet is dropped, so audio
 * stays where the input had it). When an input frame's pts is more than
 * 200 ms after that clock, or far before it (a gap, a jump), the clock
 * restarts at it; when the output is up to 2 s ahead (input slower than it
 * says), input is skipped until it catches up: the output never goes back.
 * MP3 goes through libavcodec's parser first (frames may straddle tags).
 *
 * Not thread-safe; any one thread at a time. CPU-bound (0.67 % of a core
 * for 48 kHz MP3, BENCHMARKS.md): the loop thread uses it through
 * aac_worker.h.
 */
#ifndef ONAIR_AAC_CONV_H
#define ONAIR_AAC_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "media/hub/frame.h"

typedef struct aac_conv aac_conv_t;

/* What the decoder is told: codecs whose frames do not say their own rate
 * and channels (PCM, ADPCM, Nellymoser, …) need them. */
typedef struct {
  int codec_id;              /* enum AVCodecID of the input */
  int sample_rate, channels; /* 0: unknown (44.1 kHz stereo is assumed) */
  int bits_per_sample;       /* PCM only: 8 or 16 */
  const uint8_t *extradata;  /* the decoder's, if the codec has one */
  size_t extradata_len;
} aac_conv_input_t;

/* The AAC made: rate from aac_conv_output_rate(), 1 or 2 channels (more
 * are mixed down to stereo). */
typedef struct {
  int sample_rate, channels;
} aac_conv_output_t;

/* Opens the decoder and the encoder. NULL (logged) when the codec cannot be
 * decoded here or the parameters are unusable. label names it in logs. */
aac_conv_t *aac_conv_new(const aac_conv_input_t *in, const aac_conv_output_t *out,
                         const char *label);
void aac_conv_free(aac_conv_t *c);

/* The AAC produced: rate, channels and AudioSpecificConfig (owned by c). */
int aac_conv_sample_rate(const aac_conv_t *c);
int aac_conv_channels(const aac_conv_t *c);
const uint8_t *aac_conv_asc(const aac_conv_t *c, size_t *len);
/* Fills the audio half of cfg (codec AAC, extradata copied). 0 or ERR_NOMEM. */
int aac_conv_fill_config(const aac_conv_t *c, media_config_t *cfg);

/* Receives each AAC frame made (refcount 1, ownership passes). */
typedef void (*aac_conv_emit_fn)(void *ud, media_frame_t *f);

/* Decodes one compressed input frame (pts in ms) and emits every AAC frame
 * that completes. A frame the decoder refuses is skipped (0, counted in
 * aac_conv_errors); ERR_NOMEM on allocation failure. */
int aac_conv_feed(aac_conv_t *c, const uint8_t *data, size_t len, int64_t pts_ms,
                  aac_conv_emit_fn emit, void *ud);
/* Input frames the decoder refused so far. */
uint64_t aac_conv_errors(const aac_conv_t *c);

/* The output for an announced rate and channel count (0: unknown): the
 * nearest common AAC rate up to 48 kHz, mono or stereo. */
aac_conv_output_t aac_conv_output_for(int sample_rate, int channels);

#endif
