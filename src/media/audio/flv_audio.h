/* flv_audio.h — which decoder an FLV audio tag needs, for the audio that
 * the hub does not carry as is (everything but AAC): legacy SoundFormats
 * (MP3, Speex, Nellymoser, ADPCM, G.711, PCM) and Enhanced RTMP's '.mp3'
 * and 'Opus'. Mirrors what libavformat's FLV demuxer makes of the same tag.
 */
#ifndef ONAIR_FLV_AUDIO_H
#define ONAIR_FLV_AUDIO_H

#include "media/audio/aac_conv.h"
#include "media/flv/flv.h"

/* The decoder input for a parsed audio frame (flv_parse_audio). 0, or
 * ERR_UNSUPPORTED for AAC (carried as is) and for what no decoder takes,
 * ERR_INVALID for an Opus SequenceStart without a valid OpusHead. An Opus
 * SequenceStart's input points into the frame (extradata = its OpusHead). */
int flv_audio_input(const flv_frame_t *f, aac_conv_input_t *in);

/* The same from onMetaData's audiocodecid ("2", ".mp3", "Opus", …) with its
 * audiosamplerate / channel count (0: absent). */
int flv_audio_input_from_metadata(const char *audiocodecid, double samplerate, double channels,
                                  aac_conv_input_t *in);

/* Whether b needs no other decoder set-up than a (the one running). MP3
 * says its own rate and channels in every frame, so only the codec counts
 * for it; the tag header's rate (which has no 48 kHz) would otherwise
 * differ from metadata. An Opus frame (no OpusHead) fits any Opus set-up;
 * a SequenceStart's OpusHead needs a decoder made with one. */
int flv_audio_same_input(const aac_conv_input_t *a, const aac_conv_input_t *b);

#endif
