/* aac_worker.c — aac_conv on a worker thread (see aac_worker.h). */
#include "media/audio/aac_worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/err.h"
#include "core/log.h"

/* Compressed input frames waiting: ~2.5 s of MP3; and their bytes. */
#define QUEUE_MAX 100
#define QUEUE_MAX_BYTES (1u << 20)
/* One input frame: far above any real one (an MP3 frame is < 2 KB, a tag of
 * 16-bit stereo PCM a few KB), so that a publisher cannot hand the thread
 * minutes of audio in one message (the loop joins it on stop). */
#define MAX_FRAME_BYTES (64u * 1024)

typedef struct item {
  STAILQ_ENTRY(item) link;
  int64_t pts_ms;
  size_t len;
  uint8_t data[];
} item_t;

typedef struct out {
  STAILQ_ENTRY(out) link;
  media_frame_t *frame;
} out_t;

struct aac_worker {
  uv_async_t async;
  aac_conv_t *conv;
  aac_worker_frame_fn on_frame;
  void *ud;
  char label[64];
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  STAILQ_HEAD(, item) in; /* guarded by mu */
  unsigned queued;
  size_t queued_bytes;
  STAILQ_HEAD(, out) out; /* guarded by mu */
  int stopping;
  int dropping; /* logging: inside a run of dropped input frames */
};

static void emit(void *ud, media_frame_t *f) {
  aac_worker_t *w = ud;
  out_t *o = malloc(sizeof(*o));
  if (!o) {
    media_frame_unref(f);
    return;
  }
  o->frame = f;
  pthread_mutex_lock(&w->mu);
  STAILQ_INSERT_TAIL(&w->out, o, link);
  pthread_mutex_unlock(&w->mu);
}

static void *run(void *arg) {
  aac_worker_t *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (STAILQ_EMPTY(&w->in) && !w->stopping) pthread_cond_wait(&w->cond, &w->mu);
    if (w->stopping) break;
    item_t *it = STAILQ_FIRST(&w->in);
    STAILQ_REMOVE_HEAD(&w->in, link);
    w->queued--;
    w->queued_bytes -= it->len;
    pthread_mutex_unlock(&w->mu);
    /* frame.h frames are refcounted without atomics: this thread only makes
     * them, and hands each over whole through the output list. */
    aac_conv_feed(w->conv, it->data, it->len, it->pts_ms, emit, w);
    free(it);
    uv_async_send(&w->async);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void on_async(uv_async_t *h) {
  aac_worker_t *w = h->data;
  STAILQ_HEAD(, out) batch = STAILQ_HEAD_INITIALIZER(batch);
  pthread_mutex_lock(&w->mu);
  STAILQ_CONCAT(&batch, &w->out);
  pthread_mutex_unlock(&w->mu);
  out_t *o;
  while ((o = STAILQ_FIRST(&batch))) {
    STAILQ_REMOVE_HEAD(&batch, link);
    if (w->stopping) /* the callback stopped us: the rest is dropped */
      media_frame_unref(o->frame);
    else
      w->on_frame(w->ud, o->frame);
    free(o);
  }
}

aac_worker_t *aac_worker_start(uv_loop_t *loop, const aac_conv_input_t *in,
                               const aac_conv_output_t *out, const char *label,
                               aac_worker_frame_fn on_frame, void *ud) {
  aac_worker_t *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->on_frame = on_frame;
  w->ud = ud;
  snprintf(w->label, sizeof(w->label), "%s", label ? label : "-");
  if (!(w->conv = aac_conv_new(in, out, label))) {
    free(w);
    return NULL;
  }
  STAILQ_INIT(&w->in);
  STAILQ_INIT(&w->out);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cond, NULL);
  if (uv_async_init(loop, &w->async, on_async) != 0) {
    aac_conv_free(w->conv);
    free(w);
    return NULL;
  }
  w->async.data = w;
  if (pthread_create(&w->thread, NULL, run, w) != 0) {
    log_error("aac_worker_thread_failed stream=%s", label);
    w->stopping = 1; /* nothing to join */
    w->thread = 0;
    aac_worker_stop(w);
    return NULL;
  }
  return w;
}

int aac_worker_fill_config(const aac_worker_t *w, media_config_t *cfg) {
  return aac_conv_fill_config(w->conv, cfg);
}

int aac_worker_push(aac_worker_t *w, const uint8_t *data, size_t len, int64_t pts_ms) {
  if (len > MAX_FRAME_BYTES) return ERR_TOO_LARGE;
  pthread_mutex_lock(&w->mu);
  int full = w->queued >= QUEUE_MAX || w->queued_bytes + len > QUEUE_MAX_BYTES;
  pthread_mutex_unlock(&w->mu);
  if (full) {
    if (!w->dropping)
      log_warn("aac_worker_overload stream=%s queued=%u action=drop_audio", w->label, QUEUE_MAX);
    w->dropping = 1;
    return ERR_AGAIN;
  }
  w->dropping = 0;
  item_t *it = malloc(sizeof(*it) + len);
  if (!it) return ERR_NOMEM;
  it->pts_ms = pts_ms;
  it->len = len;
  memcpy(it->data, data, len);
  pthread_mutex_lock(&w->mu);
  STAILQ_INSERT_TAIL(&w->in, it, link);
  w->queued++;
  w->queued_bytes += len;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

static void on_closed(uv_handle_t *h) {
  aac_worker_t *w = h->data;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cond);
  free(w);
}

void aac_worker_stop(aac_worker_t *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  int joinable = !w->stopping;
  w->stopping = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
  if (joinable) pthread_join(w->thread, NULL);
  item_t *it;
  while ((it = STAILQ_FIRST(&w->in))) {
    STAILQ_REMOVE_HEAD(&w->in, link);
    free(it);
  }
  out_t *o;
  while ((o = STAILQ_FIRST(&w->out))) {
    STAILQ_REMOVE_HEAD(&w->out, link);
    media_frame_unref(o->frame);
    free(o);
  }
  aac_conv_free(w->conv);
  w->conv = NULL;
  uv_close((uv_handle_t *)&w->async, on_closed);
}
