/* flv.h — FLV tag bodies as RTMP carries them (audio = message type 8,
 * video = type 9), legacy and Enhanced RTMP, turned into media-frame
 * descriptions; codec configuration records; AVCC → Annex B; onMetaData.
 *
 * Nothing is allocated: parsed descriptions point into the caller's buffer
 * and are valid as long as it is. Everything is bounds-checked; malformed
 * input is ERR_PROTOCOL. A well-formed tag of a codec we do not handle is
 * not an error: it parses with supported = 0 and the caller skips it.
 */
#ifndef ONAIR_FLV_H
#define ONAIR_FLV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  FLV_CODEC_UNKNOWN = 0,
  FLV_CODEC_H264,
  FLV_CODEC_HEVC,
  FLV_CODEC_AV1,
  FLV_CODEC_VP9,
  FLV_CODEC_VP8,
  FLV_CODEC_AAC,
  FLV_CODEC_MP3,
  FLV_CODEC_OPUS,
} flv_codec_t;

typedef enum {
  FLV_PACKET_SEQUENCE_HEADER = 0, /* decoder configuration record */
  FLV_PACKET_FRAME,               /* coded frame(s) */
  FLV_PACKET_END_OF_SEQUENCE,
  FLV_PACKET_OTHER,               /* metadata, command frames, … */
} flv_packet_t;

/* Legacy FLV video frame types (also used by Enhanced RTMP). */
enum { FLV_FRAME_KEY = 1, FLV_FRAME_INTER = 2, FLV_FRAME_DISPOSABLE = 3, FLV_FRAME_COMMAND = 5 };

typedef struct {
  int is_video;
  flv_codec_t codec;
  int supported;        /* codec and packet layout understood */
  int enhanced;         /* Enhanced RTMP ex-header */
  uint32_t fourcc;      /* enhanced: 'hvc1', 'av01', 'avc1', 'mp4a', 'Opus', … */
  uint8_t codec_id;     /* legacy: video CodecID / audio SoundFormat */
  flv_packet_t packet;
  int keyframe;         /* video: frame type 1 */
  uint8_t frame_type;   /* video: 1..5 */
  int32_t cts;          /* video: composition time offset (ms, signed 24-bit) */
  uint8_t sound_rate, sound_size, sound_type; /* audio: legacy 2/1/1-bit fields */
  const uint8_t *data;  /* body after the FLV headers: config record or frame data */
  size_t len;
} flv_frame_t;

#define FLV_FOURCC(a, b, c, d) \
  ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 | (uint32_t)(uint8_t)(c) << 8 | (uint8_t)(d))

/* Parses a video (type 9) / audio (type 8) message payload. 0 or ERR_PROTOCOL. */
int flv_parse_video(const uint8_t *p, size_t len, flv_frame_t *out);
int flv_parse_audio(const uint8_t *p, size_t len, flv_frame_t *out);

/* How a video tag's codec is called, for messages about codecs onair does
 * not take: name is short ("flv1", "vp6", "av1", "vp9"; the FourCC as text,
 * or "codec_id N", when unknown) and desc the long form for the legacy ids
 * ("Sorenson H.263"), NULL when the name says it all. */
typedef struct {
  char name[16];
  const char *desc;
} flv_codec_name_t;
flv_codec_name_t flv_video_codec_name(const flv_frame_t *f);
/* The codec that onMetaData's videocodecid (flv_metadata_t.video_codec: a
 * legacy CodecID as text, "7", or an Enhanced RTMP FourCC, "hvc1") names:
 * what a video tag of that id parses to, FLV_CODEC_UNKNOWN for the legacy
 * codecs flv_parse_video does not take (flv1, VP6, ...). *known is 1 when
 * the value names a codec at all, 0 for an empty or unheard-of one. */
flv_codec_t flv_metadata_video_codec(const char *id, int *known);

#define FLV_MAX_PARAM_SETS 16

typedef struct {
  const uint8_t *data;
  uint16_t len;
} flv_nalu_t;

/* AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1). */
typedef struct {
  uint8_t profile, compatibility, level;
  uint8_t nalu_length_size; /* 1, 2 or 4 */
  unsigned sps_count, pps_count;
  flv_nalu_t sps[FLV_MAX_PARAM_SETS], pps[FLV_MAX_PARAM_SETS];
} flv_avc_config_t;

/* HEVCDecoderConfigurationRecord (§8.3.3.1): VPS/SPS/PPS arrays. */
typedef struct {
  uint8_t profile_space, tier, profile, level;
  uint8_t nalu_length_size;
  unsigned vps_count, sps_count, pps_count;
  flv_nalu_t vps[FLV_MAX_PARAM_SETS], sps[FLV_MAX_PARAM_SETS], pps[FLV_MAX_PARAM_SETS];
} flv_hevc_config_t;

/* AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), the leading fields. */
typedef struct {
  uint8_t object_type;       /* 2 = AAC-LC, 5 = SBR, 29 = PS, … */
  uint8_t sample_rate_index; /* 15 = explicit rate */
  uint32_t sample_rate;
  uint8_t channel_config;    /* 0 = in the program config element */
} flv_aac_config_t;

int flv_parse_avc_config(const uint8_t *p, size_t len, flv_avc_config_t *out);
int flv_parse_hevc_config(const uint8_t *p, size_t len, flv_hevc_config_t *out);
int flv_parse_aac_config(const uint8_t *p, size_t len, flv_aac_config_t *out);

/* Rewrites length-prefixed NALUs (nalu_length_size 1, 2 or 4) as Annex B
 * with 4-byte start codes. With out == NULL only computes *written. 0,
 * ERR_PROTOCOL (a NALU length runs past the input), ERR_TOO_LARGE (cap). */
int flv_avcc_to_annexb(const uint8_t *in, size_t len, unsigned nalu_length_size, uint8_t *out,
                       size_t cap, size_t *written);
/* Writes param sets (e.g. SPS then PPS) as Annex B, for a keyframe's
 * prefix. Same conventions. */
int flv_params_to_annexb(const flv_nalu_t *sets, unsigned count, uint8_t *out, size_t cap,
                         size_t *written);

/* What encoders announce in onMetaData; 0 / "" when absent. */
typedef struct {
  double width, height, framerate;
  double video_datarate, audio_datarate; /* kbit/s */
  double audio_samplerate, audio_channels;
  char video_codec[16], audio_codec[16]; /* numeric ids as text ("7") or FourCC */
  char encoder[128];
} flv_metadata_t;

/* From a decoded data message (amf0_decode_all of a type 18 payload):
 * ["@setDataFrame", "onMetaData", {…}] or ["onMetaData", {…}].
 * 0, or ERR_NOT_FOUND if it is some other data message. */
int flv_parse_metadata(const json_t *values, flv_metadata_t *out);
/* Same from the raw payload; ERR_PROTOCOL on malformed AMF0. */
int flv_parse_metadata_amf(const uint8_t *p, size_t len, flv_metadata_t *out);

#endif
