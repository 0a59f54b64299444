/* session.c — decode once, scale + encode per rung, on worker threads
 * (session.h).
 *
 * The decode thread also scales: each rung's picture is made from the
 * smallest picture of the same frame already at hand that is at least its
 * size (1080p → 720p → 480p → 360p rather than three scales of 1080p),
 * which costs about a third of scaling every rung from the source, and
 * keeps every rung's queue independent of the others'. */
#include "media/transcode/session.h"

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "media/transcode/avc.h"

#define DEFAULT_QUEUE_FRAMES 30
#define DEFAULT_INPUT_FRAMES 150
#define KEY_RING 32 /* source keyframe timestamps the decoder remembers */

typedef struct pkt_node {
  struct pkt_node *next;
  AVPacket *pkt;
} pkt_node_t;

typedef struct frame_node {
  struct frame_node *next;
  AVFrame *frame; /* pts set; pict_type I for a source keyframe */
} frame_node_t;

typedef struct rung {
  tc_session_t *s;
  int index;
  ladder_rung_t spec;
  int threads;
  pthread_t thread;
  int thread_started;
  /* decoded frames waiting for this rung's encoder */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  frame_node_t *head, *tail;
  unsigned count;
  /* decode-thread state */
  int skipping;       /* dropping until the next source keyframe */
  int64_t next_due;   /* frame-rate reduction: the next pts to keep */
  int have_due;
  struct SwsContext *sws;
  /* encode-thread state */
  AVCodecContext *enc;
  int64_t last_pts;
  int input_ended;    /* under mu: the decoder has delivered its last frame */
  /* shared counters */
  atomic_uint_fast64_t dropped;
  atomic_int failed;
  atomic_int finished; /* the encode thread has handed out all it will */
} rung_t;

struct tc_session {
  media_config_t src;
  tc_session_opts_t o;
  char label[40], preset[32];
  void (*wake)(void *ud);
  void *ud;
  atomic_int stop;
  atomic_int decoder_finished; /* the decode thread has delivered all it will */
  /* compressed source frames: loop → decode thread */
  pthread_mutex_t in_mu;
  pthread_cond_t in_cv;
  pkt_node_t *in_head, *in_tail;
  unsigned in_count;
  int input_ended; /* under in_mu: tc_session_finish was called */
  int in_skipping; /* loop thread: dropping until the next keyframe */
  /* decode thread */
  pthread_t decoder;
  int decoder_started;
  AVCodecContext *dec;
  int64_t keys[KEY_RING];
  unsigned nkeys;
  /* output: worker threads → loop */
  pthread_mutex_t out_mu;
  tc_output_t *out_head, *out_tail;
  int nrungs;
  rung_t rungs[LADDER_MAX];
};

/* ---------- output ---------- */

static void emit(tc_session_t *s, tc_output_t *o) {
  pthread_mutex_lock(&s->out_mu);
  if (s->out_tail)
    s->out_tail->next = o;
  else
    s->out_head = o;
  s->out_tail = o;
  pthread_mutex_unlock(&s->out_mu);
  s->wake(s->ud);
}

void tc_output_free(tc_output_t *o) {
  if (!o) return;
  if (o->config) {
    media_config_clear(o->config);
    free(o->config);
  }
  /* Frames made by workers were never shared: dropping the only reference
   * here is safe on any thread. */
  media_frame_unref(o->frame);
  free(o);
}

tc_output_t *tc_session_take(tc_session_t *s) {
  pthread_mutex_lock(&s->out_mu);
  tc_output_t *o = s->out_head;
  s->out_head = s->out_tail = NULL;
  pthread_mutex_unlock(&s->out_mu);
  return o;
}

/* ---------- encode thread (one per rung) ---------- */

static int open_encoder(rung_t *r) {
  tc_session_t *s = r->s;
  const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) {
    log_error("transcode_no_encoder stream=%s encoder=libx264", s->label);
    return ERR_UNSUPPORTED;
  }
  AVCodecContext *c = avcodec_alloc_context3(codec);
  if (!c) return ERR_NOMEM;
  double fps = r->spec.fps > 0 ? r->spec.fps : s->src.framerate > 0 ? s->src.framerate : 30;
  c->width = r->spec.width;
  c->height = r->spec.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = (AVRational){1, 1000}; /* hub timestamps are ms */
  c->framerate = av_d2q(fps, 100000);
  c->bit_rate = (int64_t)r->spec.kbps * 1000;
  c->rc_max_rate = c->bit_rate;
  c->rc_buffer_size = (int)(c->bit_rate * 2);
  c->max_b_frames = 0;
  c->thread_count = r->threads;
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* SPS/PPS once, as the configuration */
  av_opt_set(c->priv_data, "preset", s->preset, 0);
  av_opt_set(c->priv_data, "tune", "zerolatency", 0);
  /* Keyframes come only from the source (pict_type I → IDR): no periodic
   * or scene-cut IDRs of x264's own, so every rung cuts where the source
   * does. Timestamps drive rate control (frame-rate reduction, jitter). */
  av_opt_set(c->priv_data, "forced-idr", "1", 0);
  av_opt_set(c->priv_data, "x264-params", "keyint=infinite:scenecut=0:force-cfr=0", 0);
  int rc = avcodec_open2(c, codec, NULL);
  if (rc < 0) {
    char msg[128];
    av_strerror(rc, msg, sizeof(msg));
    log_error("transcode_encoder_failed stream=%s rendition=%s err=\"%s\"", s->label,
              r->spec.name, msg);
    avcodec_free_context(&c);
    return ERR_INTERNAL;
  }
  media_config_t *cfg = calloc(1, sizeof(*cfg));
  tc_output_t *o = calloc(1, sizeof(*o));
  if (!cfg || !o || media_config_copy(cfg, &s->src)) {
    free(cfg);
    free(o);
    avcodec_free_context(&c);
    return ERR_NOMEM;
  }
  free(cfg->video_extradata);
  cfg->video_extradata = NULL;
  cfg->video_extradata_len = 0;
  if ((rc = avc_config_from_annexb(c->extradata, (size_t)c->extradata_size, &cfg->video_extradata,
                                   &cfg->video_extradata_len)) != 0) {
    log_error("transcode_bad_extradata stream=%s rendition=%s", s->label, r->spec.name);
    media_config_clear(cfg);
    free(cfg);
    free(o);
    avcodec_free_context(&c);
    return rc;
  }
  cfg->video_codec = CODEC_H264;
  cfg->width = r->spec.width;
  cfg->height = r->spec.height;
  cfg->framerate = fps;
  o->rung = r->index;
  o->config = cfg;
  r->enc = c;
  emit(s, o);
  return 0;
}

static void emit_packets(rung_t *r) {
  AVPacket *pkt = av_packet_alloc();
  if (!pkt) return;
  while (avcodec_receive_packet(r->enc, pkt) == 0) {
    size_t n = avc_avcc_size(pkt->data, (size_t)pkt->size);
    media_frame_t *f = n ? media_frame_new(n) : NULL;
    tc_output_t *o = f ? calloc(1, sizeof(*o)) : NULL;
    if (!o) {
      media_frame_unref(f);
      av_packet_unref(pkt);
      atomic_fetch_add(&r->dropped, 1);
      continue;
    }
    f->len = avc_annexb_to_avcc(pkt->data, (size_t)pkt->size, f->data);
    f->kind = MEDIA_VIDEO;
    f->codec = CODEC_H264;
    f->keyframe = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    f->pts = pkt->pts;
    f->dts = pkt->dts == AV_NOPTS_VALUE || pkt->dts > pkt->pts ? pkt->pts : pkt->dts;
    o->rung = r->index;
    o->frame = f;
    emit(r->s, o);
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
}

static void encode(rung_t *r, AVFrame *pic) {
  pic->pts = pic->pts > r->last_pts ? pic->pts : r->last_pts + 1; /* x264 wants rising pts */
  r->last_pts = pic->pts;
  if (avcodec_send_frame(r->enc, pic) < 0) {
    atomic_fetch_add(&r->dropped, 1);
    return;
  }
  emit_packets(r);
}

/* The encode thread is done: everything it made is in the output list. */
static void rung_finished(rung_t *r) {
  atomic_store(&r->finished, 1);
  r->s->wake(r->s->ud);
}

static void *rung_main(void *arg) {
  rung_t *r = arg;
  tc_session_t *s = r->s;
  if (open_encoder(r)) {
    atomic_store(&r->failed, 1);
    rung_finished(r);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&r->mu);
    while (!r->head && !r->input_ended && !atomic_load(&s->stop))
      pthread_cond_wait(&r->cv, &r->mu);
    frame_node_t *n = r->head;
    if (n) {
      r->head = n->next;
      if (!r->head) r->tail = NULL;
      r->count--;
    }
    pthread_mutex_unlock(&r->mu);
    if (!n) break; /* stopping, or the input ended and the queue is empty */
    if (!atomic_load(&s->stop)) encode(r, n->frame);
    av_frame_free(&n->frame);
    free(n);
  }
  if (!atomic_load(&s->stop) && avcodec_send_frame(r->enc, NULL) == 0)
    emit_packets(r); /* the frames the encoder still holds */
  rung_finished(r);
  return NULL;
}

/* ---------- decode thread ---------- */

static int was_keyframe(tc_session_t *s, int64_t pts) {
  unsigned n = s->nkeys < KEY_RING ? s->nkeys : KEY_RING;
  for (unsigned i = 0; i < n; i++)
    if (s->keys[i] == pts) return 1;
  return 0;
}

/* Frame-rate reduction: 1 when this rung keeps a frame at pts. */
static int rate_keeps(rung_t *r, int64_t pts, int key) {
  if (r->spec.fps <= 0) return 1;
  double interval = 1000.0 / r->spec.fps;
  if (key || !r->have_due || pts >= r->next_due + (int64_t)(2 * interval)) {
    r->next_due = pts + (int64_t)interval; /* (re)start the schedule */
    r->have_due = 1;
    return 1;
  }
  if (pts + 1 < r->next_due) return 0; /* 1 ms: timestamps are rounded */
  r->next_due += (int64_t)(interval + 0.5);
  return 1;
}

/* 1 when rung r takes the frame at pts (room in its queue, not skipping
 * to a keyframe, wanted by its frame rate); counts and logs drops. */
static int admit(rung_t *r, int64_t pts, int key) {
  tc_session_t *s = r->s;
  if (atomic_load(&r->failed)) return 0;
  if (r->skipping && !key) {
    atomic_fetch_add(&r->dropped, 1);
    return 0;
  }
  if (!rate_keeps(r, pts, key)) return 0;
  pthread_mutex_lock(&r->mu);
  unsigned queued = r->count; /* only the encoder takes from it meanwhile */
  pthread_mutex_unlock(&r->mu);
  if (queued >= s->o.queue_frames) {
    if (!r->skipping)
      log_warn("transcode_overload stream=%s rendition=%s queued=%u action=drop_to_keyframe",
               s->label, r->spec.name, s->o.queue_frames);
    r->skipping = 1;
    atomic_fetch_add(&r->dropped, 1);
    return 0;
  }
  r->skipping = 0;
  return 1;
}

/* The rung's picture from src: a new reference when src already has the
 * rung's size and format, else a scaled copy. NULL on failure. */
static AVFrame *picture_for(rung_t *r, const AVFrame *src) {
  if (src->width == r->spec.width && src->height == r->spec.height &&
      src->format == AV_PIX_FMT_YUV420P)
    return av_frame_clone(src);
  r->sws = sws_getCachedContext(r->sws, src->width, src->height, src->format, r->spec.width,
                                r->spec.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL,
                                NULL);
  AVFrame *pic = r->sws ? av_frame_alloc() : NULL;
  if (!pic) return NULL;
  pic->format = AV_PIX_FMT_YUV420P;
  pic->width = r->spec.width;
  pic->height = r->spec.height;
  if (av_frame_get_buffer(pic, 0) < 0) {
    av_frame_free(&pic);
    return NULL;
  }
  sws_scale(r->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, pic->data,
            pic->linesize);
  return pic;
}

static void enqueue(rung_t *r, AVFrame *pic) {
  frame_node_t *n = calloc(1, sizeof(*n));
  if (!n) {
    av_frame_free(&pic);
    atomic_fetch_add(&r->dropped, 1);
    return;
  }
  n->frame = pic;
  pthread_mutex_lock(&r->mu);
  if (r->tail)
    r->tail->next = n;
  else
    r->head = n;
  r->tail = n;
  r->count++;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void deliver(tc_session_t *s, AVFrame *frame) {
  int64_t pts = frame->best_effort_timestamp;
  if (pts == AV_NOPTS_VALUE) pts = frame->pts;
  if (pts == AV_NOPTS_VALUE) return;
  int key = was_keyframe(s, pts);
  AVFrame *made[LADDER_MAX] = {0};
  for (int i = 0; i < s->nrungs; i++) {
    rung_t *r = &s->rungs[i];
    if (!admit(r, pts, key)) continue;
    /* the smallest picture at hand that is still at least this rung's size */
    const AVFrame *src = frame;
    for (int j = 0; j < i; j++)
      if (made[j] && made[j]->width >= r->spec.width && made[j]->height >= r->spec.height &&
          made[j]->width * made[j]->height < src->width * src->height)
        src = made[j];
    AVFrame *pic = picture_for(r, src);
    AVFrame *mine = pic ? av_frame_clone(pic) : NULL;
    if (!mine) {
      av_frame_free(&pic);
      atomic_fetch_add(&r->dropped, 1);
      continue;
    }
    mine->pts = pts;
    mine->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    enqueue(r, mine);
    made[i] = pic; /* kept for the smaller rungs of this frame */
  }
  for (int i = 0; i < s->nrungs; i++) av_frame_free(&made[i]);
}

/* Tells every rung that no frame comes after those queued. */
static void end_rung_input(tc_session_t *s) {
  for (int i = 0; i < s->nrungs; i++) {
    rung_t *r = &s->rungs[i];
    pthread_mutex_lock(&r->mu);
    r->input_ended = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
}

static void *decoder_main(void *arg) {
  tc_session_t *s = arg;
  AVFrame *frame = av_frame_alloc();
  for (int ended = 0; frame && !ended;) {
    pthread_mutex_lock(&s->in_mu);
    while (!s->in_head && !s->input_ended && !atomic_load(&s->stop))
      pthread_cond_wait(&s->in_cv, &s->in_mu);
    pkt_node_t *n = atomic_load(&s->stop) ? NULL : s->in_head;
    if (n) {
      s->in_head = n->next;
      if (!s->in_head) s->in_tail = NULL;
      s->in_count--;
    }
    ended = !n && s->input_ended && !atomic_load(&s->stop);
    pthread_mutex_unlock(&s->in_mu);
    if (!n && !ended) break; /* stopping */
    int rc;
    if (n) {
      if (n->pkt->flags & AV_PKT_FLAG_KEY) s->keys[s->nkeys++ % KEY_RING] = n->pkt->pts;
      rc = avcodec_send_packet(s->dec, n->pkt);
      av_packet_free(&n->pkt);
      free(n);
    } else {
      rc = avcodec_send_packet(s->dec, NULL); /* the input ended: the frames it still holds */
    }
    if (rc < 0 && rc != AVERROR(EAGAIN)) continue; /* a broken frame: the decoder conceals */
    while (avcodec_receive_frame(s->dec, frame) == 0) {
      deliver(s, frame);
      av_frame_unref(frame);
    }
  }
  av_frame_free(&frame);
  /* Before the rungs hear of it: the last rung to finish must find the
   * decoder finished too (tc_session_finished). */
  atomic_store(&s->decoder_finished, 1);
  end_rung_input(s);
  s->wake(s->ud); /* in case no rung is left to say so */
  return NULL;
}

/* ---------- loop side ---------- */

int tc_session_push(tc_session_t *s, const media_frame_t *f) {
  if (f->kind != MEDIA_VIDEO) return ERR_INVALID;
  int dropped = 0;
  if (s->in_skipping && !f->keyframe) {
    dropped = 1;
  } else {
    pthread_mutex_lock(&s->in_mu);
    if (s->in_count >= s->o.input_frames) {
      pthread_mutex_unlock(&s->in_mu);
      if (!s->in_skipping)
        log_warn("transcode_overload stream=%s stage=decode queued=%u action=drop_to_keyframe",
                 s->label, s->o.input_frames);
      s->in_skipping = 1;
      dropped = 1;
    } else {
      pthread_mutex_unlock(&s->in_mu);
      AVPacket *pkt = av_packet_alloc();
      pkt_node_t *n = calloc(1, sizeof(*n));
      if (!pkt || !n || av_new_packet(pkt, (int)f->len) < 0) {
        av_packet_free(&pkt);
        free(n);
        dropped = 1;
        s->in_skipping = 1;
      } else {
        memcpy(pkt->data, f->data, f->len);
        pkt->pts = f->pts;
        pkt->dts = f->dts;
        if (f->keyframe) pkt->flags |= AV_PKT_FLAG_KEY;
        n->pkt = pkt;
        s->in_skipping = 0;
        pthread_mutex_lock(&s->in_mu);
        if (s->in_tail)
          s->in_tail->next = n;
        else
          s->in_head = n;
        s->in_tail = n;
        s->in_count++;
        pthread_cond_signal(&s->in_cv);
        pthread_mutex_unlock(&s->in_mu);
      }
    }
  }
  if (!dropped) return 0;
  /* the decoder never sees it: every rung loses the frame */
  for (int i = 0; i < s->nrungs; i++) atomic_fetch_add(&s->rungs[i].dropped, 1);
  return ERR_AGAIN;
}

void tc_session_finish(tc_session_t *s) {
  pthread_mutex_lock(&s->in_mu);
  s->input_ended = 1;
  pthread_cond_signal(&s->in_cv);
  pthread_mutex_unlock(&s->in_mu);
}

int tc_session_finished(tc_session_t *s) {
  if (!atomic_load(&s->decoder_finished)) return 0;
  for (int i = 0; i < s->nrungs; i++)
    if (s->rungs[i].thread_started && !atomic_load(&s->rungs[i].finished)) return 0;
  return 1;
}

void tc_session_stats(tc_session_t *s, int rung, uint64_t *dropped, unsigned *queued) {
  *dropped = 0;
  *queued = 0;
  if (rung < 0 || rung >= s->nrungs) return;
  rung_t *r = &s->rungs[rung];
  *dropped = atomic_load(&r->dropped);
  pthread_mutex_lock(&r->mu);
  *queued = r->count;
  pthread_mutex_unlock(&r->mu);
}

static int open_decoder(tc_session_t *s) {
  enum AVCodecID id = s->src.video_codec == CODEC_HEVC ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
  const AVCodec *codec = avcodec_find_decoder(id);
  if (!codec || !(s->dec = avcodec_alloc_context3(codec))) return ERR_UNSUPPORTED;
  if (s->src.video_extradata_len) {
    s->dec->extradata = av_mallocz(s->src.video_extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!s->dec->extradata) return ERR_NOMEM;
    memcpy(s->dec->extradata, s->src.video_extradata, s->src.video_extradata_len);
    s->dec->extradata_size = (int)s->src.video_extradata_len;
  }
  s->dec->pkt_timebase = (AVRational){1, 1000};
  /* One thread: frame threading would add a frame of latency per thread,
   * and one core decodes 1080p30 with room to spare. */
  s->dec->thread_count = 1;
  return avcodec_open2(s->dec, codec, NULL) < 0 ? ERR_UNSUPPORTED : 0;
}

void tc_session_stop(tc_session_t *s) {
  if (!s) return;
  atomic_store(&s->stop, 1);
  pthread_mutex_lock(&s->in_mu);
  pthread_cond_broadcast(&s->in_cv);
  pthread_mutex_unlock(&s->in_mu);
  for (int i = 0; i < s->nrungs; i++) {
    pthread_mutex_lock(&s->rungs[i].mu);
    pthread_cond_broadcast(&s->rungs[i].cv);
    pthread_mutex_unlock(&s->rungs[i].mu);
  }
  if (s->decoder_started) pthread_join(s->decoder, NULL);
  for (int i = 0; i < s->nrungs; i++) {
    rung_t *r = &s->rungs[i];
    if (r->thread_started) pthread_join(r->thread, NULL);
    while (r->head) {
      frame_node_t *n = r->head;
      r->head = n->next;
      av_frame_free(&n->frame);
      free(n);
    }
    avcodec_free_context(&r->enc);
    sws_freeContext(r->sws);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
  }
  while (s->in_head) {
    pkt_node_t *n = s->in_head;
    s->in_head = n->next;
    av_packet_free(&n->pkt);
    free(n);
  }
  for (tc_output_t *o = tc_session_take(s), *next; o; o = next) {
    next = o->next;
    tc_output_free(o);
  }
  avcodec_free_context(&s->dec);
  media_config_clear(&s->src);
  pthread_mutex_destroy(&s->in_mu);
  pthread_cond_destroy(&s->in_cv);
  pthread_mutex_destroy(&s->out_mu);
  free(s);
}

tc_session_t *tc_session_start(const media_config_t *src, const ladder_rung_t *rungs, int nrungs,
                               const tc_session_opts_t *opts, void (*wake)(void *ud), void *ud) {
  if (nrungs <= 0 || nrungs > LADDER_MAX) return NULL;
  tc_session_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->o = *opts;
  snprintf(s->label, sizeof(s->label), "%s", opts->label ? opts->label : "-");
  snprintf(s->preset, sizeof(s->preset), "%s",
           opts->preset && *opts->preset ? opts->preset : "veryfast");
  if (!s->o.queue_frames) s->o.queue_frames = DEFAULT_QUEUE_FRAMES;
  if (!s->o.input_frames) s->o.input_frames = DEFAULT_INPUT_FRAMES;
  s->wake = wake;
  s->ud = ud;
  s->in_skipping = 1; /* the decoder starts at a keyframe */
  pthread_mutex_init(&s->in_mu, NULL);
  pthread_cond_init(&s->in_cv, NULL);
  pthread_mutex_init(&s->out_mu, NULL);
  s->nrungs = nrungs;
  for (int i = 0; i < nrungs; i++) {
    rung_t *r = &s->rungs[i];
    r->s = s;
    r->index = i;
    r->spec = rungs[i];
    r->threads = opts->threads > 0 ? opts->threads : rungs[i].height > 720 ? 2 : 1;
    r->last_pts = INT64_MIN;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
  }
  int rc = media_config_copy(&s->src, src);
  if (!rc) rc = open_decoder(s);
  if (rc) {
    log_error("transcode_decoder_failed stream=%s codec=%d err=%s", s->label,
              (int)src->video_codec, err_str(rc));
    tc_session_stop(s);
    return NULL;
  }
  for (int i = 0; i < nrungs; i++) {
    rung_t *r = &s->rungs[i];
    if (pthread_create(&r->thread, NULL, rung_main, r) == 0) r->thread_started = 1;
  }
  if (pthread_create(&s->decoder, NULL, decoder_main, s) != 0) {
    log_error("transcode_thread_failed stream=%s", s->label);
    tc_session_stop(s);
    return NULL;
  }
  s->decoder_started = 1;
  return s;
}
