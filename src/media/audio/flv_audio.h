/* flv_audio.h — which decoder an FLV audio tag needs, for the audio that
 * the hub does not carry as is (everything but AAC): legacy SoundFormats
 * (MP3, Speex, Nellymoser, ADPCM, G.711, PCM) and Enhanced RTMP's '.mp3'.
 * Mirrors what libavformat's FLV demuxer makes of the same tag.
 */
#ifndef ONAIR_FLV_AUDIO_H
#define ONAIR_FLV_AUDIO_H

#include "media/audio/aac_conv.h"
#include "media/flv/flv.h"

/* The decoder input for a parsed audio frame (flv_parse_audio). 0, or
 * ERR_UNSUPPORTED for AAC (carried as is) and for what no decoder takes. */
int flv_audio_input(const flv_frame_t *f, aac_conv_input_t *in);

/* The same from onMetaData's audiocodecid ("2", ".mp3", …) with its
 * audiosamplerate / channel count (0: absent). */
int flv_audio_input_from_metadata(const char *audiocodecid, double samplerate, double channels,
                                  aac_conv_input_t *in);

/* Whether two inputs need the same decoder set-up. MP3 says its own rate
 * and channels in every frame, so only the codec counts for it; the tag
 * header's rate (which has no 48 kHz) would otherwise differ from metadata. */
int flv_audio_same_input(const aac_conv_input_t *a, const aac_conv_input_t *b);

#endif
