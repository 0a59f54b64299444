/* Unit tests for src/media/flv/flv.c with tags FFmpeg 5.1 really sent
 * (libx264 + aac over RTMP) and an x265 hvcC wrapped in Enhanced RTMP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/flv/flv.h"

/* Video message: AVC sequence header, High profile, level 1.3, 320x240. */
static const uint8_t avc_seq[] = {
0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00,
0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10,
0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42,
0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
0xf8, 0xf8, 0x00,
};
/* Audio message: AAC sequence header (AAC-LC, 44100 Hz, mono + SBR sync ext). */
static const uint8_t aac_seq[] = {0xaf, 0x00, 0x12, 0x08, 0x56, 0xe5, 0x00};
/* Video message: an inter frame, composition time offset 80 ms. */
static const uint8_t avc_frame[] = {
0x27, 0x01, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x5d, 0x41, 0x9e, 0x42,
0x78, 0x85, 0xff, 0x01, 0x87, 0x8a, 0xed, 0x81, 0x95, 0x24, 0x51, 0x54,
0x9d, 0x53, 0xab, 0x16, 0x65, 0x5c, 0xcd, 0x54, 0xb7, 0x58, 0xfe, 0xf8,
0x11, 0x8d, 0x80, 0x03, 0x64, 0x59, 0x2b, 0xd5, 0x1b, 0xf8, 0xe3, 0xce,
0xa5, 0xbf, 0x39, 0x29, 0x8d, 0x39, 0xa4, 0x58, 0xaa, 0xfb, 0xe9, 0x73,
0x58, 0x7f, 0xae, 0x23, 0x90, 0xc2, 0xbf, 0xf8, 0x25, 0xc4, 0x3d, 0x38,
0x01, 0x91, 0xa6, 0xbc, 0x2c, 0x70, 0x04, 0xf6, 0x3a, 0xee, 0x7a, 0x64,
0x25, 0x4d, 0x07, 0x6b, 0xbc, 0xeb, 0x91, 0xd0, 0x67, 0x1e, 0x05, 0x9c,
0x92, 0xb7, 0x85, 0x36, 0x1d, 0x71,
};
/* The @setDataFrame data message body. */
static const uint8_t metadata[] = {
0x02, 0x00, 0x0d, 0x40, 0x73, 0x65, 0x74, 0x44, 0x61, 0x74, 0x61, 0x46,
0x72, 0x61, 0x6d, 0x65, 0x02, 0x00, 0x0a, 0x6f, 0x6e, 0x4d, 0x65, 0x74,
0x61, 0x44, 0x61, 0x74, 0x61, 0x08, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x08,
0x64, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x00, 0x40, 0x00, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x77, 0x69, 0x64, 0x74, 0x68,
0x00, 0x40, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x68,
0x65, 0x69, 0x67, 0x68, 0x74, 0x00, 0x40, 0x6e, 0x00, 0x00, 0x00, 0x00,
0x00, 0x00, 0x00, 0x0d, 0x76, 0x69, 0x64, 0x65, 0x6f, 0x64, 0x61, 0x74,
0x61, 0x72, 0x61, 0x74, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
0x00, 0x00, 0x00, 0x09, 0x66, 0x72, 0x61, 0x6d, 0x65, 0x72, 0x61, 0x74,
0x65, 0x00, 0x40, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
0x76, 0x69, 0x64, 0x65, 0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x69, 0x64,
0x00, 0x40, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x61,
0x75, 0x64, 0x69, 0x6f, 0x64, 0x61, 0x74, 0x61, 0x72, 0x61, 0x74, 0x65,
0x00, 0x40, 0x50, 0xd8, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x61,
0x75, 0x64, 0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x72, 0x61,
0x74, 0x65, 0x00, 0x40, 0xe5, 0x88, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
0x0f, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65,
0x73, 0x69, 0x7a, 0x65, 0x00, 0x40, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00,
0x00, 0x00, 0x06, 0x73, 0x74, 0x65, 0x72, 0x65, 0x6f, 0x01, 0x00, 0x00,
0x0c, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x69,
0x64, 0x00, 0x40, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
0x65, 0x6e, 0x63, 0x6f, 0x64, 0x65, 0x72, 0x02, 0x00, 0x0d, 0x4c, 0x61,
0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x00,
0x08, 0x66, 0x69, 0x6c, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x00, 0x00,
0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
};
/* HEVCDecoderConfigurationRecord from libx265 (Main, level 2, VPS/SPS/PPS). */
static const uint8_t hvcc[] = {
0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0,
0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60,
0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
0x3c, 0x95, 0x98, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01,
0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93,
0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03,
0x00, 0x32, 0x10, 0xa2, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72,
0xb4, 0x62, 0x40,
};

static void test_avc_sequence_header(void **state) {
  flv_frame_t f;
  assert_int_equal(flv_parse_video(avc_seq, sizeof(avc_seq), &f), 0);
  assert_true(f.is_video);
  assert_int_equal(f.codec, FLV_CODEC_H264);
  assert_true(f.supported);
  assert_false(f.enhanced);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  assert_true(f.keyframe);
  assert_int_equal(f.cts, 0);
  assert_int_equal(f.len, sizeof(avc_seq) - 5);

  flv_avc_config_t c;
  assert_int_equal(flv_parse_avc_config(f.data, f.len, &c), 0);
  assert_int_equal(c.profile, 100);
  assert_int_equal(c.level, 13);
  assert_int_equal(c.nalu_length_size, 4);
  assert_int_equal(c.sps_count, 1);
  assert_int_equal(c.pps_count, 1);
  assert_int_equal(c.sps[0].len, 25);
  assert_int_equal(c.sps[0].data[0] & 0x1F, 7); /* NAL type SPS */
  assert_int_equal(c.pps[0].len, 6);
  assert_int_equal(c.pps[0].data[0] & 0x1F, 8); /* PPS */

  /* SPS+PPS as Annex B for a keyframe prefix */
  flv_nalu_t sets[2] = {c.sps[0], c.pps[0]};
  size_t need, wrote;
  assert_int_equal(flv_params_to_annexb(sets, 2, NULL, 0, &need), 0);
  assert_int_equal(need, 4 + 25 + 4 + 6);
  uint8_t out[64];
  assert_int_equal(flv_params_to_annexb(sets, 2, out, sizeof(out), &wrote), 0);
  assert_int_equal(wrote, need);
  assert_memory_equal(out, "\0\0\0\1\x67", 5);
  assert_memory_equal(out + 29, "\0\0\0\1\x68", 5);
  assert_int_equal(flv_params_to_annexb(sets, 2, out, need - 1, &wrote), ERR_TOO_LARGE);

  /* every truncation of the record is malformed */
  for (size_t n = 0; n < f.len - 4; n++) /* the last 4 bytes are the High ext, ignored */
    assert_int_equal(flv_parse_avc_config(f.data, n, &c), ERR_PROTOCOL);
}

static void test_avc_frame_to_annexb(void **state) {
  flv_frame_t f;
  assert_int_equal(flv_parse_video(avc_frame, sizeof(avc_frame), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_false(f.keyframe);
  assert_int_equal(f.frame_type, FLV_FRAME_INTER);
  assert_int_equal(f.cts, 80);
  size_t need, wrote;
  assert_int_equal(flv_avcc_to_annexb(f.data, f.len, 4, NULL, 0, &need), 0);
  assert_int_equal(need, f.len); /* one NALU: 4-byte length becomes 4-byte start code */
  uint8_t *out = malloc(need);
  assert_int_equal(flv_avcc_to_annexb(f.data, f.len, 4, out, need, &wrote), 0);
  assert_int_equal(wrote, need);
  assert_memory_equal(out, "\0\0\0\1", 4);
  assert_memory_equal(out + 4, f.data + 4, f.len - 4);
  assert_int_equal(flv_avcc_to_annexb(f.data, f.len, 4, out, need - 1, &wrote), ERR_TOO_LARGE);
  /* a length running past the end */
  assert_int_equal(flv_avcc_to_annexb(f.data, f.len - 1, 4, out, need, &wrote), ERR_PROTOCOL);
  assert_int_equal(flv_avcc_to_annexb(f.data, 3, 4, out, need, &wrote), ERR_PROTOCOL);
  assert_int_equal(flv_avcc_to_annexb(f.data, f.len, 0, out, need, &wrote), ERR_INVALID);
  free(out);

  /* 2-byte lengths, two NALUs and an empty one */
  static const uint8_t two[] = {0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x41};
  uint8_t o2[32];
  assert_int_equal(flv_avcc_to_annexb(two, sizeof(two), 2, o2, sizeof(o2), &wrote), 0);
  assert_int_equal(wrote, 11);
  assert_memory_equal(o2, "\0\0\0\1\x65\xAA\0\0\0\1\x41", 11);
}

static void test_negative_cts(void **state) {
  static const uint8_t tag[] = {0x27, 0x01, 0xFF, 0xFF, 0xD8, 0, 0, 0, 1, 0x41};
  flv_frame_t f;
  assert_int_equal(flv_parse_video(tag, sizeof(tag), &f), 0);
  assert_int_equal(f.cts, -40);
}

static void test_aac(void **state) {
  flv_frame_t f;
  assert_int_equal(flv_parse_audio(aac_seq, sizeof(aac_seq), &f), 0);
  assert_false(f.is_video);
  assert_int_equal(f.codec, FLV_CODEC_AAC);
  assert_true(f.supported);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  assert_int_equal(f.sound_rate, 3);
  flv_aac_config_t c;
  assert_int_equal(flv_parse_aac_config(f.data, f.len, &c), 0);
  assert_int_equal(c.object_type, 2);
  assert_int_equal(c.sample_rate_index, 4);
  assert_int_equal(c.sample_rate, 44100);
  assert_int_equal(c.channel_config, 1);

  static const uint8_t raw[] = {0xAF, 0x01, 0x21, 0x10};
  assert_int_equal(flv_parse_audio(raw, sizeof(raw), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_int_equal(f.len, 2);

  /* explicit rate, escaped object type */
  /* 11111 000000 (object type 32), 1111 (explicit), 24-bit 64000, channels 2 */
  static const uint8_t esc[] = {0xF8, 0x1E, 0x01, 0xF4, 0x00, 0x40};
  assert_int_equal(flv_parse_aac_config(esc, sizeof(esc), &c), 0);
  assert_int_equal(c.object_type, 32);
  assert_int_equal(c.sample_rate_index, 15);
  assert_int_equal(c.sample_rate, 64000);
  assert_int_equal(c.channel_config, 2);

  assert_int_equal(flv_parse_aac_config(aac_seq + 2, 1, &c), ERR_PROTOCOL);
  static const uint8_t badrate[] = {0x16, 0x88}; /* rate index 13: reserved */
  assert_int_equal(flv_parse_aac_config(badrate, 2, &c), ERR_PROTOCOL);
}

static void test_other_audio(void **state) {
  flv_frame_t f;
  static const uint8_t mp3[] = {0x2F, 0xFF, 0xFB};
  assert_int_equal(flv_parse_audio(mp3, sizeof(mp3), &f), 0);
  assert_int_equal(f.codec, FLV_CODEC_MP3);
  assert_false(f.supported);
  static const uint8_t speex[] = {0xB6, 1};
  assert_int_equal(flv_parse_audio(speex, sizeof(speex), &f), 0);
  assert_false(f.supported);
  /* Enhanced audio: Opus sequence start */
  static const uint8_t opus[] = {0x90, 'O', 'p', 'u', 's', 'O', 'p', 'u', 's', 'H'};
  assert_int_equal(flv_parse_audio(opus, sizeof(opus), &f), 0);
  assert_true(f.enhanced);
  assert_int_equal(f.codec, FLV_CODEC_OPUS);
  assert_true(f.supported);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  assert_int_equal(f.len, 5);
  /* malformed */
  assert_int_equal(flv_parse_audio(aac_seq, 0, &f), ERR_PROTOCOL);
  assert_int_equal(flv_parse_audio(aac_seq, 1, &f), ERR_PROTOCOL);
  static const uint8_t badpt[] = {0xAF, 0x02};
  assert_int_equal(flv_parse_audio(badpt, 2, &f), ERR_PROTOCOL);
  assert_int_equal(flv_parse_audio(opus, 4, &f), ERR_PROTOCOL);
}

static void test_enhanced_hevc(void **state) {
  uint8_t tag[5 + sizeof(hvcc)];
  tag[0] = 0x80 | (FLV_FRAME_KEY << 4) | 0; /* ex-header, keyframe, SequenceStart */
  memcpy(tag + 1, "hvc1", 4);
  memcpy(tag + 5, hvcc, sizeof(hvcc));
  flv_frame_t f;
  assert_int_equal(flv_parse_video(tag, sizeof(tag), &f), 0);
  assert_true(f.enhanced);
  assert_int_equal(f.fourcc, FLV_FOURCC('h', 'v', 'c', '1'));
  assert_int_equal(f.codec, FLV_CODEC_HEVC);
  assert_true(f.supported);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  assert_true(f.keyframe);
  flv_hevc_config_t c;
  assert_int_equal(flv_parse_hevc_config(f.data, f.len, &c), 0);
  assert_int_equal(c.profile, 1);
  assert_int_equal(c.level, 60);
  assert_int_equal(c.nalu_length_size, 4);
  assert_int_equal(c.vps_count, 1);
  assert_int_equal(c.sps_count, 1);
  assert_int_equal(c.pps_count, 1);
  assert_int_equal((c.vps[0].data[0] >> 1) & 0x3F, 32);
  assert_int_equal((c.sps[0].data[0] >> 1) & 0x3F, 33);
  assert_int_equal((c.pps[0].data[0] >> 1) & 0x3F, 34);
  for (size_t n = 0; n < sizeof(hvcc); n++)
    assert_int_equal(flv_parse_hevc_config(hvcc, n, &c), ERR_PROTOCOL);

  /* CodedFrames carries a composition time; CodedFramesX does not */
  static const uint8_t cf[] = {0xA1, 'h', 'v', 'c', '1', 0, 0, 40, 0, 0, 0, 1, 0x02};
  assert_int_equal(flv_parse_video(cf, sizeof(cf), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_false(f.keyframe);
  assert_int_equal(f.cts, 40);
  assert_int_equal(f.len, 5);
  assert_int_equal(flv_parse_video(cf, 7, &f), ERR_PROTOCOL);
  static const uint8_t cfx[] = {0x93, 'h', 'v', 'c', '1', 0, 0, 0, 1, 0x26};
  assert_int_equal(flv_parse_video(cfx, sizeof(cfx), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_true(f.keyframe);
  assert_int_equal(f.cts, 0);
  assert_int_equal(f.len, 5);
  static const uint8_t end[] = {0x92, 'a', 'v', '0', '1'};
  assert_int_equal(flv_parse_video(end, sizeof(end), &f), 0);
  assert_int_equal(f.codec, FLV_CODEC_AV1);
  assert_int_equal(f.packet, FLV_PACKET_END_OF_SEQUENCE);
  static const uint8_t unknown[] = {0x91, 'x', 'y', 'z', 'w', 1, 2, 3};
  assert_int_equal(flv_parse_video(unknown, sizeof(unknown), &f), 0);
  assert_false(f.supported);
  static const uint8_t reserved[] = {0x9E, 'h', 'v', 'c', '1'};
  assert_int_equal(flv_parse_video(reserved, sizeof(reserved), &f), ERR_PROTOCOL);
  assert_int_equal(flv_parse_video(tag, 4, &f), ERR_PROTOCOL);
}

static void test_video_malformed_and_other(void **state) {
  flv_frame_t f;
  assert_int_equal(flv_parse_video(avc_seq, 0, &f), ERR_PROTOCOL);
  for (size_t n = 1; n < 5; n++) assert_int_equal(flv_parse_video(avc_seq, n, &f), ERR_PROTOCOL);
  static const uint8_t badpt[] = {0x17, 0x03, 0, 0, 0};
  assert_int_equal(flv_parse_video(badpt, sizeof(badpt), &f), ERR_PROTOCOL);
  static const uint8_t badft[] = {0x07, 0x01, 0, 0, 0};
  assert_int_equal(flv_parse_video(badft, sizeof(badft), &f), ERR_PROTOCOL);
  static const uint8_t eos[] = {0x17, 0x02, 0, 0, 0};
  assert_int_equal(flv_parse_video(eos, sizeof(eos), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_END_OF_SEQUENCE);
  static const uint8_t vp6[] = {0x14, 0x00, 0x11};
  assert_int_equal(flv_parse_video(vp6, sizeof(vp6), &f), 0);
  assert_false(f.supported);
  assert_int_equal(f.codec_id, 4);
  static const uint8_t cmd[] = {0x57, 0x00};
  assert_int_equal(flv_parse_video(cmd, sizeof(cmd), &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_OTHER);

  flv_avc_config_t c;
  uint8_t bad[64];
  memcpy(bad, avc_seq + 5, sizeof(avc_seq) - 5);
  bad[0] = 2; /* configurationVersion */
  assert_int_equal(flv_parse_avc_config(bad, sizeof(avc_seq) - 5, &c), ERR_PROTOCOL);
  memcpy(bad, avc_seq + 5, sizeof(avc_seq) - 5);
  bad[4] = 0xFE; /* 3-byte NALU lengths */
  assert_int_equal(flv_parse_avc_config(bad, sizeof(avc_seq) - 5, &c), ERR_PROTOCOL);
  memcpy(bad, avc_seq + 5, sizeof(avc_seq) - 5);
  bad[7] = 0xFF; /* SPS length past the end */
  assert_int_equal(flv_parse_avc_config(bad, sizeof(avc_seq) - 5, &c), ERR_PROTOCOL);
}

static void test_metadata(void **state) {
  flv_metadata_t m;
  assert_int_equal(flv_parse_metadata_amf(metadata, sizeof(metadata), &m), 0);
  assert_true(m.width == 320);
  assert_true(m.height == 240);
  assert_true(m.framerate == 25);
  assert_true(m.audio_samplerate == 44100);
  assert_true(m.audio_channels == 1); /* stereo: false */
  assert_string_equal(m.video_codec, "7");
  assert_string_equal(m.audio_codec, "10");
  assert_string_equal(m.encoder, "Lavf59.27.100");

  json_t *v = json_pack("[s, {s: i, s: i, s: f, s: s, s: i, s: i}]", "onMetaData", "width",
                        1920, "height", 1080, "fps", 29.97, "encoder", "obs-output module",
                        "videocodecid", (int)FLV_FOURCC('h', 'v', 'c', '1'), "videodatarate",
                        6000);
  assert_int_equal(flv_parse_metadata(v, &m), 0);
  assert_true(m.width == 1920);
  assert_true(m.framerate == 29.97);
  assert_true(m.video_datarate == 6000);
  assert_string_equal(m.video_codec, "hvc1");
  assert_string_equal(m.encoder, "obs-output module");
  json_decref(v);

  v = json_pack("[s, s]", "onTextData", "x");
  assert_int_equal(flv_parse_metadata(v, &m), ERR_NOT_FOUND);
  json_decref(v);
  assert_int_equal(flv_parse_metadata_amf(metadata, 20, &m), ERR_PROTOCOL);
}

/* The names in "unsupported video codec …" messages. */
/* onMetaData's videocodecid maps to what the tags of that codec parse to. */
static void test_metadata_video_codec(void **state) {
  (void)state;
  static const struct {
    const char *id;
    flv_codec_t codec;
    int known;
  } cases[] = {
      {"7", FLV_CODEC_H264, 1},    {"12", FLV_CODEC_HEVC, 1},   {"2", FLV_CODEC_UNKNOWN, 1},
      {"4", FLV_CODEC_UNKNOWN, 1}, {"1", FLV_CODEC_UNKNOWN, 1}, {"avc1", FLV_CODEC_H264, 1},
      {"hvc1", FLV_CODEC_HEVC, 1}, {"av01", FLV_CODEC_AV1, 1},  {"vp09", FLV_CODEC_VP9, 1},
      {"vp08", FLV_CODEC_VP8, 1},  {"", FLV_CODEC_UNKNOWN, 0},  {"9", FLV_CODEC_UNKNOWN, 0},
      {"0", FLV_CODEC_UNKNOWN, 0}, {"99", FLV_CODEC_UNKNOWN, 0}, {"007", FLV_CODEC_UNKNOWN, 0},
      {"xyzw", FLV_CODEC_UNKNOWN, 0}, {"7a", FLV_CODEC_UNKNOWN, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int known = -1;
    assert_int_equal(flv_metadata_video_codec(cases[i].id, &known), cases[i].codec);
    assert_int_equal(known, cases[i].known);
  }
}

static void test_video_codec_names(void **state) {
  flv_frame_t f;
  static const uint8_t flv1[] = {0x22, 0, 0, 0};
  assert_int_equal(flv_parse_video(flv1, sizeof(flv1), &f), 0);
  assert_false(f.supported);
  flv_codec_name_t n = flv_video_codec_name(&f);
  assert_string_equal(n.name, "flv1");
  assert_string_equal(n.desc, "Sorenson H.263");
  static const uint8_t vp6[] = {0x14, 0};
  assert_int_equal(flv_parse_video(vp6, sizeof(vp6), &f), 0);
  assert_string_equal(flv_video_codec_name(&f).name, "vp6");
  static const uint8_t id9[] = {0x19, 0};
  assert_int_equal(flv_parse_video(id9, sizeof(id9), &f), 0);
  assert_string_equal(flv_video_codec_name(&f).name, "codec_id 9");
  assert_null(flv_video_codec_name(&f).desc);
  /* Enhanced: SequenceStart of av01, vp09, and an unknown FourCC */
  static const uint8_t av1[] = {0x90, 'a', 'v', '0', '1', 0x81};
  assert_int_equal(flv_parse_video(av1, sizeof(av1), &f), 0);
  n = flv_video_codec_name(&f);
  assert_string_equal(n.name, "av1");
  assert_null(n.desc);
  static const uint8_t vp9[] = {0x90, 'v', 'p', '0', '9', 1};
  assert_int_equal(flv_parse_video(vp9, sizeof(vp9), &f), 0);
  assert_string_equal(flv_video_codec_name(&f).name, "vp9");
  static const uint8_t vp8[] = {0x90, 'v', 'p', '0', '8', 1};
  assert_int_equal(flv_parse_video(vp8, sizeof(vp8), &f), 0);
  assert_int_equal(f.codec, FLV_CODEC_VP8);
  assert_string_equal(flv_video_codec_name(&f).name, "vp8");
  static const uint8_t vp07[] = {0x90, 'v', 'p', '0', '7', 1};
  assert_int_equal(flv_parse_video(vp07, sizeof(vp07), &f), 0);
  assert_false(f.supported);
  assert_string_equal(flv_video_codec_name(&f).name, "vp07");
  static const uint8_t bin[] = {0x90, 1, 2, 3, 4, 1};
  assert_int_equal(flv_parse_video(bin, sizeof(bin), &f), 0);
  assert_string_equal(flv_video_codec_name(&f).name, "0x01020304");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_avc_sequence_header),
      cmocka_unit_test(test_avc_frame_to_annexb),
      cmocka_unit_test(test_negative_cts),
      cmocka_unit_test(test_aac),
      cmocka_unit_test(test_other_audio),
      cmocka_unit_test(test_enhanced_hevc),
      cmocka_unit_test(test_video_malformed_and_other),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_video_codec_names),
      cmocka_unit_test(test_metadata_video_codec),
  };
  return cmocka_run_group_tests_name("flv", tests, NULL, NULL);
}
