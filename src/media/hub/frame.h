/* frame.h — one demuxed access unit, allocated once and shared by every
 * consumer through a reference count (loop thread only; no atomics).
 *
 * Video payloads are length-prefixed NAL units (AVCC/HVCC, 4-byte lengths
 * as FLV carries them); audio payloads are raw AAC frames (no ADTS).
 * Timestamps are milliseconds on the publisher's clock (RTMP/FLV units),
 * made monotonic by the ingest: dts never goes back within a session.
 */
#ifndef ONAIR_FRAME_H
#define ONAIR_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MEDIA_VIDEO = 0, MEDIA_AUDIO = 1 } media_kind_t;
typedef enum { CODEC_NONE = 0, CODEC_H264, CODEC_HEVC, CODEC_AAC } media_codec_t;

typedef struct media_frame {
  int refcount;
  media_kind_t kind;
  media_codec_t codec;
  int keyframe;    /* video: IDR / random access point; audio: always 1 */
  int64_t dts;     /* ms */
  int64_t pts;     /* ms (dts + composition offset) */
  size_t len;
  uint8_t *data;   /* points into the same allocation, right after the struct */
} media_frame_t;

/* The stream's codec configuration (sent before frames and when it changes). */
typedef struct media_config {
  media_codec_t video_codec;   /* CODEC_NONE when the stream has no video */
  uint8_t *video_extradata;    /* AVCDecoderConfigurationRecord / HEVCDecoderConfigurationRecord */
  size_t video_extradata_len;
  int width, height;
  double framerate;            /* from metadata; 0 if unknown */
  media_codec_t audio_codec;   /* CODEC_NONE when the stream has no audio */
  uint8_t *audio_extradata;    /* AudioSpecificConfig */
  size_t audio_extradata_len;
  int sample_rate, channels;
} media_config_t;

/* The type of the H.264 or HEVC NAL unit whose header starts with byte b
 * (H.264 nal_unit_type: 5 bits; H.265: 6 bits after the forbidden bit). */
static inline int media_nal_type(media_codec_t codec, uint8_t b) {
  return codec == CODEC_HEVC ? (b >> 1) & 0x3f : b & 0x1f;
}

/* A frame with room for len payload bytes (refcount 1), or NULL. */
media_frame_t *media_frame_new(size_t len);
media_frame_t *media_frame_ref(media_frame_t *f);
void media_frame_unref(media_frame_t *f);

/* Deep copy of src into dst (dst's old members are freed). */
int media_config_copy(media_config_t *dst, const media_config_t *src);
void media_config_clear(media_config_t *c);

#endif
