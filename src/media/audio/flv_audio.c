/* flv_audio.c — FLV audio tag → decoder input (see flv_audio.h). */
#include "media/audio/flv_audio.h"

#include <libavcodec/avcodec.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* FLV SoundFormat values (FLV spec, audio tag header). */
enum {
  SF_PCM = 0,
  SF_ADPCM = 1,
  SF_MP3 = 2,
  SF_PCM_LE = 3,
  SF_NELLY_16K = 4,
  SF_NELLY_8K = 5,
  SF_NELLY = 6,
  SF_ALAW = 7,
  SF_MULAW = 8,
  SF_SPEEX = 11,
  SF_MP3_8K = 14
};

/* The decoder and fixed parameters of a SoundFormat; rate 0: from the tag. */
static int sound_format_input(unsigned sf, int bits, aac_conv_input_t *in) {
  memset(in, 0, sizeof(*in));
  in->bits_per_sample = bits;
  switch (sf) {
    case SF_PCM: /* "platform endian": little endian on every encoder that ships */
    case SF_PCM_LE:
      in->codec_id = bits == 8 ? AV_CODEC_ID_PCM_U8 : AV_CODEC_ID_PCM_S16LE;
      break;
    case SF_ADPCM:
      in->codec_id = AV_CODEC_ID_ADPCM_SWF;
      break;
    case SF_MP3:
      in->codec_id = AV_CODEC_ID_MP3;
      break;
    case SF_MP3_8K:
      in->codec_id = AV_CODEC_ID_MP3, in->sample_rate = 8000;
      break;
    case SF_NELLY:
      in->codec_id = AV_CODEC_ID_NELLYMOSER;
      break;
    case SF_NELLY_16K:
      in->codec_id = AV_CODEC_ID_NELLYMOSER, in->sample_rate = 16000, in->channels = 1;
      break;
    case SF_NELLY_8K:
      in->codec_id = AV_CODEC_ID_NELLYMOSER, in->sample_rate = 8000, in->channels = 1;
      break;
    case SF_ALAW:
      in->codec_id = AV_CODEC_ID_PCM_ALAW, in->sample_rate = 8000;
      break;
    case SF_MULAW:
      in->codec_id = AV_CODEC_ID_PCM_MULAW, in->sample_rate = 8000;
      break;
    case SF_SPEEX:
      in->codec_id = AV_CODEC_ID_SPEEX, in->sample_rate = 16000, in->channels = 1;
      break;
    default:
      return ERR_UNSUPPORTED;
  }
  return 0;
}

int flv_audio_input(const flv_frame_t *f, aac_conv_input_t *in) {
  if (f->is_video || f->codec == FLV_CODEC_AAC) return ERR_UNSUPPORTED;
  if (f->enhanced) {
    memset(in, 0, sizeof(*in));
    if (f->codec == FLV_CODEC_MP3) {
      in->codec_id = AV_CODEC_ID_MP3;
    } else if (f->codec == FLV_CODEC_OPUS) {
      /* Opus always decodes at 48 kHz; the SequenceStart's OpusHead (RFC
       * 7845 §5.1) says the channels and is the decoder's extradata. */
      in->codec_id = AV_CODEC_ID_OPUS;
      in->sample_rate = 48000;
      in->channels = 2;
      if (f->packet == FLV_PACKET_SEQUENCE_HEADER) {
        if (f->len < 19 || memcmp(f->data, "OpusHead", 8) != 0 || f->data[9] == 0)
          return ERR_INVALID;
        in->channels = f->data[9];
        in->extradata = f->data;
        in->extradata_len = f->len;
      }
    } else {
      return ERR_UNSUPPORTED;
    }
    return 0;
  }
  if (sound_format_input(f->codec_id, f->sound_size ? 16 : 8, in) != 0) return ERR_UNSUPPORTED;
  /* SoundRate 0..3 = 5.5, 11, 22, 44 kHz; SoundType 0/1 = mono/stereo */
  if (!in->sample_rate) in->sample_rate = (44100 << f->sound_rate) >> 3;
  if (!in->channels) in->channels = f->sound_type ? 2 : 1;
  return 0;
}

int flv_audio_input_from_metadata(const char *audiocodecid, double samplerate, double channels,
                                  aac_conv_input_t *in) {
  if (strcmp(audiocodecid, ".mp3") == 0) audiocodecid = "2";
  if (strcmp(audiocodecid, "Opus") == 0) {
    memset(in, 0, sizeof(*in));
    in->codec_id = AV_CODEC_ID_OPUS;
    in->sample_rate = 48000;
    in->channels = channels > 0 && channels <= 8 ? (int)channels : 2;
    return 0;
  }
  char *end;
  long sf = strtol(audiocodecid, &end, 10);
  if (!*audiocodecid || *end || sf < 0 || sf > 15 || sound_format_input((unsigned)sf, 16, in) != 0)
    return ERR_UNSUPPORTED;
  if (!in->sample_rate && samplerate > 0 && samplerate <= 192000) in->sample_rate = (int)samplerate;
  if (!in->channels && channels > 0 && channels <= 8) in->channels = (int)channels;
  return 0;
}

int flv_audio_same_input(const aac_conv_input_t *a, const aac_conv_input_t *b) {
  if (a->codec_id != b->codec_id) return 0;
  if (a->codec_id == AV_CODEC_ID_MP3) return 1;
  /* Opus frames carry no OpusHead: only a SequenceStart (with one) changes the set-up */
  if (a->codec_id == AV_CODEC_ID_OPUS && (!a->extradata_len || !b->extradata_len))
    return !b->extradata_len;
  return a->sample_rate == b->sample_rate && a->channels == b->channels &&
         a->bits_per_sample == b->bits_per_sample;
}
