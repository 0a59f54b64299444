/* Unit tests for src/media/rtmp/client.c: URL parsing, the FLV bodies it
 * builds (read back with the ingest's own FLV parser), and a whole publish
 * on loopback against a small server made of onair's server-side
 * handshake, chunk reader and AMF0 builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "media/flv/flv.h"
#include "media/rtmp/amf0.h"
#include "media/rtmp/chunk.h"
#include "media/rtmp/client.h"
#include "media/rtmp/handshake.h"

/* AVCDecoderConfigurationRecord: High profile, level 1.3, 320x240. */
static const uint8_t avcc[] = {
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9,
    0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03,
    0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
};
static const uint8_t asc[] = {0x12, 0x10}; /* AAC-LC 44100 Hz stereo */

static void test_url_parse(void **state) {
  (void)state;
  rtmp_url_t u;
  assert_int_equal(rtmp_url_parse("rtmp://a.rtmp.youtube.com/live2", &u), 0);
  assert_false(u.tls);
  assert_string_equal(u.host, "a.rtmp.youtube.com");
  assert_int_equal(u.port, 1935);
  assert_string_equal(u.app, "live2");
  assert_string_equal(u.tc_url, "rtmp://a.rtmp.youtube.com/live2");

  assert_int_equal(rtmp_url_parse("rtmps://live-api-s.facebook.com:443/rtmp/", &u), 0);
  assert_true(u.tls);
  assert_int_equal(u.port, 443);
  assert_string_equal(u.app, "rtmp");
  assert_string_equal(u.tc_url, "rtmps://live-api-s.facebook.com:443/rtmp");

  assert_int_equal(rtmp_url_parse("rtmps://h/app", &u), 0);
  assert_int_equal(u.port, 443);
  assert_int_equal(rtmp_url_parse("rtmp://[::1]:19350/live/inst", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 19350);
  assert_string_equal(u.app, "live/inst");

  const char *bad[] = {"http://h/app", "rtmp://h", "rtmp://h/", "rtmp:///app", "rtmp://h:/app",
                       "rtmp://h:0/app", "rtmp://h:65536/app", "rtmp://h:12a/app",
                       "rtmp://[::1/app", "rtmp://h /app", "rtmp://[::1]x/app"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(rtmp_url_parse(bad[i], &u), ERR_INVALID);
}

static void test_build_video(void **state) {
  (void)state;
  amf0_buf_t b;
  amf0_buf_init(&b);
  flv_frame_t f;
  assert_int_equal(rtmp_client_build_video(&b, CODEC_H264, 1, 1, 0, avcc, sizeof(avcc)), 0);
  assert_int_equal(flv_parse_video(b.data, b.len, &f), 0);
  assert_int_equal(f.codec, FLV_CODEC_H264);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  assert_int_equal(f.len, sizeof(avcc));
  flv_avc_config_t cfg;
  assert_int_equal(flv_parse_avc_config(f.data, f.len, &cfg), 0);

  static const uint8_t nalu[] = {0, 0, 0, 3, 0x65, 0x88, 0x84};
  amf0_buf_reset(&b);
  assert_int_equal(rtmp_client_build_video(&b, CODEC_H264, 0, 0, -40, nalu, sizeof(nalu)), 0);
  assert_int_equal(flv_parse_video(b.data, b.len, &f), 0);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_false(f.keyframe);
  assert_int_equal(f.cts, -40);
  assert_memory_equal(f.data, nalu, sizeof(nalu));

  /* HEVC goes as Enhanced RTMP */
  amf0_buf_reset(&b);
  assert_int_equal(rtmp_client_build_video(&b, CODEC_HEVC, 0, 1, 33, nalu, sizeof(nalu)), 0);
  assert_int_equal(flv_parse_video(b.data, b.len, &f), 0);
  assert_true(f.enhanced);
  assert_int_equal(f.codec, FLV_CODEC_HEVC);
  assert_int_equal(f.packet, FLV_PACKET_FRAME);
  assert_true(f.keyframe);
  assert_int_equal(f.cts, 33);
  assert_int_equal(f.len, sizeof(nalu));

  amf0_buf_reset(&b);
  assert_int_equal(rtmp_client_build_video(&b, CODEC_AAC, 0, 1, 0, nalu, 1), ERR_UNSUPPORTED);
  amf0_buf_free(&b);
}

static void test_build_audio_and_metadata(void **state) {
  (void)state;
  amf0_buf_t b;
  amf0_buf_init(&b);
  flv_frame_t f;
  assert_int_equal(rtmp_client_build_audio(&b, CODEC_AAC, 1, asc, sizeof(asc)), 0);
  assert_int_equal(flv_parse_audio(b.data, b.len, &f), 0);
  assert_int_equal(f.codec, FLV_CODEC_AAC);
  assert_int_equal(f.packet, FLV_PACKET_SEQUENCE_HEADER);
  flv_aac_config_t ac;
  assert_int_equal(flv_parse_aac_config(f.data, f.len, &ac), 0);
  assert_int_equal(ac.sample_rate, 44100);
  amf0_buf_reset(&b);
  assert_int_equal(rtmp_client_build_audio(&b, CODEC_H264, 0, asc, 2), ERR_UNSUPPORTED);

  amf0_buf_reset(&b);
  media_config_t cfg = {.video_codec = CODEC_H264, .width = 1280, .height = 720,
                        .framerate = 30, .audio_codec = CODEC_AAC, .sample_rate = 48000,
                        .channels = 2};
  assert_int_equal(rtmp_client_build_metadata(&b, &cfg), 0);
  flv_metadata_t md;
  assert_int_equal(flv_parse_metadata_amf(b.data, b.len, &md), 0);
  assert_int_equal((int)md.width, 1280);
  assert_int_equal((int)md.height, 720);
  assert_int_equal((int)md.framerate, 30);
  assert_int_equal((int)md.audio_samplerate, 48000);
  assert_string_equal(md.encoder, "onair");
  /* the ECMA array count matches the properties written */
  json_t *v;
  assert_int_equal(amf0_decode_all(b.data, b.len, &v), 0);
  json_t *obj = json_array_get(v, 2);
  /* "@setDataFrame" (16 bytes) + "onMetaData" (13), then 0x08 + u32 count */
  assert_int_equal(b.data[29], AMF0_ECMA_ARRAY);
  assert_int_equal(json_object_size(obj), (size_t)b.data[33]);
  json_decref(v);
  amf0_buf_free(&b);
}

/* ---- a loopback publish ---- */

typedef struct {
  uv_loop_t *loop;
  uv_tcp_t listener, conn;
  int conn_open;
  rtmp_handshake_t *hs;
  rtmp_chunk_reader_t *reader;
  rtmp_chunk_writer_t writer;
  amf0_buf_t out;
  /* what the server saw */
  char app[64], tc_url[128], publish_name[64];
  int commands, video_seq, audio_seq, frames, metadata, fcunpublish, delete_stream, eof;
  uint32_t last_ts;
  /* client side */
  rtmp_client_t *client;
  int live, closed;
  char reason[256];
  const char *mode; /* "ok" or "reject" */
} loop_t;

static void srv_write_done(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
  free(req);
}

static void srv_flush(loop_t *t) {
  if (!t->out.len) return;
  uv_write_t *req = malloc(sizeof(*req));
  uv_buf_t buf = uv_buf_init((char *)t->out.data, (unsigned)t->out.len);
  req->data = t->out.data;
  amf0_buf_init(&t->out);
  uv_write(req, (uv_stream_t *)&t->conn, &buf, 1, srv_write_done);
}

static void srv_status(loop_t *t, const char *level, const char *code) {
  amf0_buf_t b;
  amf0_buf_init(&b);
  amf0_build_on_status(&b, level, code, "test");
  rtmp_chunk_write_command(&t->writer, &t->out, 1, &b);
  amf0_buf_free(&b);
}

static int srv_message(void *ud, const rtmp_message_t *m) {
  loop_t *t = ud;
  if (m->type_id == RTMP_MSG_COMMAND_AMF0) {
    json_t *args;
    assert_int_equal(amf0_decode_all(m->payload, m->len, &args), 0);
    const char *name = json_string_value(json_array_get(args, 0));
    double txn = json_number_value(json_array_get(args, 1));
    amf0_buf_t b;
    amf0_buf_init(&b);
    t->commands++;
    if (strcmp(name, "connect") == 0) {
      json_t *o = json_array_get(args, 2);
      snprintf(t->app, sizeof(t->app), "%s", json_string_value(json_object_get(o, "app")));
      snprintf(t->tc_url, sizeof(t->tc_url), "%s",
               json_string_value(json_object_get(o, "tcUrl")));
      amf0_build_connect_result(&b, txn, 0);
      rtmp_chunk_write_set_chunk_size(&t->writer, &t->out, 1000);
      rtmp_chunk_write_window_ack_size(&t->writer, &t->out, 2500000);
      rtmp_chunk_write_command(&t->writer, &t->out, 0, &b);
    } else if (strcmp(name, "createStream") == 0) {
      amf0_build_result_number(&b, txn, 1);
      rtmp_chunk_write_command(&t->writer, &t->out, 0, &b);
    } else if (strcmp(name, "publish") == 0) {
      snprintf(t->publish_name, sizeof(t->publish_name), "%s",
               json_string_value(json_array_get(args, 3)));
      if (strcmp(t->mode, "reject") == 0)
        srv_status(t, "error", "NetStream.Publish.BadName");
      else
        srv_status(t, "status", "NetStream.Publish.Start");
    } else if (strcmp(name, "FCUnpublish") == 0) {
      t->fcunpublish++;
    } else if (strcmp(name, "deleteStream") == 0) {
      assert_int_equal((int)json_number_value(json_array_get(args, 3)), 1);
      t->delete_stream++;
    }
    amf0_buf_free(&b);
    json_decref(args);
    srv_flush(t);
  } else if (m->type_id == RTMP_MSG_VIDEO || m->type_id == RTMP_MSG_AUDIO) {
    assert_int_equal(m->stream_id, 1);
    flv_frame_t f;
    int video = m->type_id == RTMP_MSG_VIDEO;
    assert_int_equal(video ? flv_parse_video(m->payload, m->len, &f)
                           : flv_parse_audio(m->payload, m->len, &f),
                     0);
    if (f.packet == FLV_PACKET_SEQUENCE_HEADER)
      video ? t->video_seq++ : t->audio_seq++;
    else
      t->frames++, t->last_ts = m->timestamp;
  } else if (m->type_id == RTMP_MSG_DATA_AMF0) {
    flv_metadata_t md;
    assert_int_equal(flv_parse_metadata_amf(m->payload, m->len, &md), 0);
    t->metadata++;
  }
  return 0;
}

static void srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  (void)h;
  *buf = uv_buf_init(malloc(n), (unsigned)n);
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  loop_t *t = s->data;
  if (n < 0) {
    t->eof = 1;
    free(buf->base);
    uv_close((uv_handle_t *)&t->conn, NULL);
    return;
  }
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t len = (size_t)n;
  if (rtmp_handshake_state(t->hs) != RTMP_HS_DONE) {
    size_t used = 0;
    assert_int_equal(rtmp_handshake_feed(t->hs, p, len, &used), 0);
    size_t olen;
    const uint8_t *o = rtmp_handshake_take_output(t->hs, &olen);
    if (o) amf0_buf_append(&t->out, o, olen);
    srv_flush(t);
    p += used, len -= used;
  }
  if (len) assert_int_equal(rtmp_chunk_reader_feed(t->reader, p, len), 0);
  free(buf->base);
}

static void srv_accept(uv_stream_t *l, int status) {
  loop_t *t = l->data;
  assert_int_equal(status, 0);
  uv_tcp_init(t->loop, &t->conn);
  t->conn.data = t;
  assert_int_equal(uv_accept(l, (uv_stream_t *)&t->conn), 0);
  uv_read_start((uv_stream_t *)&t->conn, srv_alloc, srv_read);
  uv_close((uv_handle_t *)&t->listener, NULL);
}

static void cl_live(void *ud) {
  loop_t *t = ud;
  t->live = 1;
  media_config_t cfg = {.video_codec = CODEC_H264, .video_extradata = (uint8_t *)avcc,
                        .video_extradata_len = sizeof(avcc), .width = 320, .height = 240,
                        .audio_codec = CODEC_AAC, .audio_extradata = (uint8_t *)asc,
                        .audio_extradata_len = sizeof(asc), .sample_rate = 44100,
                        .channels = 2};
  assert_int_equal(rtmp_client_send_config(t->client, &cfg), 0);
  for (int i = 0; i < 10; i++) {
    media_frame_t *f = media_frame_new(7);
    memcpy(f->data, (uint8_t[]){0, 0, 0, 3, 0x65, 0x88, 0x84}, 7);
    f->kind = MEDIA_VIDEO;
    f->codec = CODEC_H264;
    f->keyframe = i == 0;
    f->dts = 5000 + i * 33; /* rebased to start at 0 */
    f->pts = f->dts + 66;
    assert_int_equal(rtmp_client_send_frame(t->client, f), 0);
    media_frame_unref(f);
  }
}

static void cl_closed(void *ud, const char *reason) {
  loop_t *t = ud;
  t->closed = 1;
  t->client = NULL;
  snprintf(t->reason, sizeof(t->reason), "%s", reason);
}

static void run_publish(loop_t *t, const char *mode) {
  memset(t, 0, sizeof(*t));
  t->mode = mode;
  t->loop = uv_default_loop();
  t->hs = rtmp_handshake_new();
  t->reader = rtmp_chunk_reader_new(NULL, srv_message, t);
  rtmp_chunk_writer_init(&t->writer);
  amf0_buf_init(&t->out);
  uv_tcp_init(t->loop, &t->listener);
  t->listener.data = t;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&t->listener, (struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&t->listener, 4, srv_accept), 0);
  int alen = sizeof(a);
  uv_tcp_getsockname(&t->listener, (struct sockaddr *)&a, &alen);
  char url[128];
  snprintf(url, sizeof(url), "rtmp://127.0.0.1:%d/live/", ntohs(a.sin_port));
  rtmp_client_cbs_t cbs = {cl_live, cl_closed};
  assert_int_equal(rtmp_client_start(t->loop, url, "key?x=1", NULL, &cbs, t, &t->client), 0);
  /* run until the server has every frame (or the client gave up) */
  for (int i = 0; i < 2000 && !t->closed && t->frames < 10; i++) uv_run(t->loop, UV_RUN_ONCE);
}

static void finish(loop_t *t) {
  uv_run(t->loop, UV_RUN_DEFAULT); /* every handle closes: nothing leaks */
  rtmp_handshake_free(t->hs);
  rtmp_chunk_reader_free(t->reader);
  amf0_buf_free(&t->out);
  assert_int_equal(uv_loop_alive(t->loop), 0);
}

static void test_loopback_publish(void **state) {
  (void)state;
  loop_t t;
  run_publish(&t, "ok");
  assert_false(t.closed);
  assert_true(t.live);
  assert_true(rtmp_client_is_live(t.client));
  assert_string_equal(t.app, "live");
  assert_string_equal(t.publish_name, "key?x=1");
  assert_int_equal(t.metadata, 1);
  assert_int_equal(t.video_seq, 1);
  assert_int_equal(t.audio_seq, 1);
  assert_int_equal(t.frames, 10);
  assert_int_equal(t.last_ts, 9 * 33);
  /* a polite goodbye */
  rtmp_client_close(t.client);
  for (int i = 0; i < 2000 && !t.eof; i++) uv_run(t.loop, UV_RUN_ONCE);
  assert_true(t.eof);
  assert_int_equal(t.fcunpublish, 1);
  assert_int_equal(t.delete_stream, 1);
  assert_false(t.closed); /* no callback after rtmp_client_close */
  finish(&t);
}

static void test_loopback_rejected(void **state) {
  (void)state;
  loop_t t;
  run_publish(&t, "reject");
  assert_true(t.closed);
  assert_false(t.live);
  assert_non_null(strstr(t.reason, "NetStream.Publish.BadName"));
  finish(&t);
}

static void test_refused_and_close_early(void **state) {
  (void)state;
  uv_loop_t *loop = uv_default_loop();
  /* a port nobody listens on: bind, note the port, close */
  uv_tcp_t l;
  struct sockaddr_in a;
  uv_tcp_init(loop, &l);
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&l, (struct sockaddr *)&a, 0);
  int alen = sizeof(a);
  uv_tcp_getsockname(&l, (struct sockaddr *)&a, &alen);
  uv_close((uv_handle_t *)&l, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  char url[128];
  snprintf(url, sizeof(url), "rtmp://127.0.0.1:%d/live", ntohs(a.sin_port));
  loop_t t;
  memset(&t, 0, sizeof(t));
  rtmp_client_cbs_t cbs = {cl_live, cl_closed};
  assert_int_equal(rtmp_client_start(loop, url, "k", NULL, &cbs, &t, &t.client), 0);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_true(t.closed);
  assert_non_null(strstr(t.reason, "refused"));

  /* closed while resolving: no callback, nothing leaks */
  memset(&t, 0, sizeof(t));
  assert_int_equal(rtmp_client_start(loop, "rtmp://localhost:1/live", "k", NULL, &cbs, &t,
                                     &t.client),
                   0);
  rtmp_client_close(t.client);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_false(t.closed);

  /* bad input is refused before anything starts */
  rtmp_client_t *c;
  assert_int_equal(rtmp_client_start(loop, "rtmps://h/app", "k", NULL, &cbs, &t, &c),
                   ERR_INVALID);
  assert_int_equal(rtmp_client_start(loop, "rtmp://h/app", "", NULL, &cbs, &t, &c), ERR_INVALID);
  assert_int_equal(uv_loop_alive(loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_parse),
      cmocka_unit_test(test_build_video),
      cmocka_unit_test(test_build_audio_and_metadata),
      cmocka_unit_test(test_loopback_publish),
      cmocka_unit_test(test_loopback_rejected),
      cmocka_unit_test(test_refused_and_close_early),
  };
  int rc = cmocka_run_group_tests_name("rtmp_client", tests, NULL, NULL);
  uv_loop_close(uv_default_loop());
  return rc;
}
