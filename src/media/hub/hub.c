#include "media/hub/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

/* A GOP cache bigger than this means keyframes are far apart or missing;
 * we then drop the cache rather than grow without bound. */
#define GOP_MAX_FRAMES 4096
#define GOP_MAX_BYTES (64u * 1024 * 1024)

struct hub_consumer {
  hub_consumer_ops_t ops;
  void *ud;
  hub_consumer_t *next;
  int removed;
};

struct hub {
  char stream_id[64];
  int publishing;
  int pub_fresh; /* the next frame starts a publisher's stats.pub_* */
  int have_config;
  media_config_t config;
  hub_consumer_t *consumers;
  int dispatching; /* >0 while calling consumers: removal is deferred */
  media_frame_t **gop;
  size_t gop_len, gop_cap, gop_bytes;
  hub_stats_t stats;
  char encoder[128];
  char client[16];
};

void hub_set_source(hub_t *h, const char *encoder, const char *client_type) {
  if (encoder) snprintf(h->encoder, sizeof(h->encoder), "%s", encoder);
  if (client_type) snprintf(h->client, sizeof(h->client), "%s", client_type);
}
const char *hub_source_encoder(const hub_t *h) { return h->encoder; }
const char *hub_source_client(const hub_t *h) { return h->client; }
void hub_count_dropped(hub_t *h) { h->stats.dropped_frames++; }

hub_t *hub_new(const char *stream_id) {
  hub_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  snprintf(h->stream_id, sizeof(h->stream_id), "%s", stream_id);
  h->pub_fresh = 1;
  return h;
}

static void gop_clear(hub_t *h) {
  for (size_t i = 0; i < h->gop_len; i++) media_frame_unref(h->gop[i]);
  h->gop_len = 0;
  h->gop_bytes = 0;
}

static void reap_removed(hub_t *h) {
  hub_consumer_t **pp = &h->consumers;
  while (*pp) {
    if ((*pp)->removed) {
      hub_consumer_t *dead = *pp;
      *pp = dead->next;
      free(dead);
    } else {
      pp = &(*pp)->next;
    }
  }
}

void hub_free(hub_t *h) {
  if (!h) return;
  gop_clear(h);
  free(h->gop);
  reap_removed(h);
  while (h->consumers) {
    hub_consumer_t *c = h->consumers;
    h->consumers = c->next;
    free(c);
  }
  media_config_clear(&h->config);
  free(h);
}

const char *hub_stream_id(const hub_t *h) { return h->stream_id; }
int hub_is_publishing(const hub_t *h) { return h->publishing; }
const media_config_t *hub_config(const hub_t *h) { return h->have_config ? &h->config : NULL; }

int hub_publish_config(hub_t *h, const media_config_t *cfg) {
  int rc = media_config_copy(&h->config, cfg);
  if (rc) return rc;
  h->have_config = 1;
  h->publishing = 1;
  /* Frames cached under the old configuration cannot be decoded with the new one. */
  gop_clear(h);
  h->dispatching++;
  for (hub_consumer_t *c = h->consumers; c; c = c->next)
    if (!c->removed && c->ops.on_config) c->ops.on_config(c->ud, &h->config);
  h->dispatching--;
  if (!h->dispatching) reap_removed(h);
  return 0;
}

static int gop_push(hub_t *h, media_frame_t *f) {
  int has_video = h->config.video_codec != CODEC_NONE;
  if (f->kind == MEDIA_VIDEO && f->keyframe) gop_clear(h);
  if (has_video && h->gop_len == 0 && !(f->kind == MEDIA_VIDEO && f->keyframe))
    return 0; /* wait for the first keyframe */
  if (h->gop_len >= GOP_MAX_FRAMES || h->gop_bytes + f->len > GOP_MAX_BYTES) {
    log_warn("hub_gop_overflow stream=%s frames=%zu bytes=%zu", h->stream_id, h->gop_len,
             h->gop_bytes);
    gop_clear(h);
    if (has_video) return 0;
  }
  if (h->gop_len == h->gop_cap) {
    size_t cap = h->gop_cap ? h->gop_cap * 2 : 256;
    media_frame_t **g = realloc(h->gop, cap * sizeof(*g));
    if (!g) return ERR_NOMEM;
    h->gop = g;
    h->gop_cap = cap;
  }
  h->gop[h->gop_len++] = media_frame_ref(f);
  h->gop_bytes += f->len;
  return 0;
}

int hub_publish_frame(hub_t *h, media_frame_t *f) {
  h->publishing = 1;
  if (f->kind == MEDIA_VIDEO)
    h->stats.video_frames++, h->stats.video_bytes += f->len;
  else
    h->stats.audio_frames++, h->stats.audio_bytes += f->len;
  h->stats.bytes += f->len;
  h->stats.last_dts = f->dts;
  if (h->pub_fresh) { /* the first frame of this publisher */
    h->pub_fresh = 0;
    h->stats.pub_video_frames = h->stats.pub_bytes = 0;
    h->stats.pub_first_dts = f->dts;
  }
  if (f->kind == MEDIA_VIDEO) h->stats.pub_video_frames++;
  h->stats.pub_bytes += f->len;
  h->stats.pub_last_dts = f->dts;
  int rc = gop_push(h, f);
  h->dispatching++;
  for (hub_consumer_t *c = h->consumers; c; c = c->next)
    if (!c->removed && c->ops.on_frame) c->ops.on_frame(c->ud, f);
  h->dispatching--;
  if (!h->dispatching) reap_removed(h);
  return rc;
}

void hub_unpublish(hub_t *h) {
  if (!h->publishing) return;
  h->publishing = 0;
  h->pub_fresh = 1;
  h->have_config = 0;
  media_config_clear(&h->config);
  gop_clear(h);
  h->dispatching++;
  for (hub_consumer_t *c = h->consumers; c; c = c->next)
    if (!c->removed && c->ops.on_unpublish) c->ops.on_unpublish(c->ud);
  h->dispatching--;
  if (!h->dispatching) reap_removed(h);
}

hub_consumer_t *hub_subscribe(hub_t *h, const hub_consumer_ops_t *ops, void *ud) {
  hub_consumer_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->ops = *ops;
  c->ud = ud;
  c->next = h->consumers;
  h->consumers = c;
  h->stats.consumers++;
  h->dispatching++;
  if (h->have_config && c->ops.on_config) c->ops.on_config(c->ud, &h->config);
  for (size_t i = 0; i < h->gop_len && !c->removed; i++)
    if (c->ops.on_frame) c->ops.on_frame(c->ud, h->gop[i]);
  h->dispatching--;
  if (c->removed) {
    if (!h->dispatching) reap_removed(h);
    return NULL;
  }
  return c;
}

void hub_unsubscribe(hub_t *h, hub_consumer_t *c) {
  if (!c || c->removed) return;
  c->removed = 1;
  h->stats.consumers--;
  if (!h->dispatching) reap_removed(h);
}

void hub_get_stats(const hub_t *h, hub_stats_t *out) { *out = h->stats; }
