#include "media/hub/frame.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

media_frame_t *media_frame_new(size_t len) {
  media_frame_t *f = malloc(sizeof(*f) + len);
  if (!f) return NULL;
  memset(f, 0, sizeof(*f));
  f->refcount = 1;
  f->len = len;
  f->data = (uint8_t *)(f + 1);
  return f;
}

media_frame_t *media_frame_ref(media_frame_t *f) {
  f->refcount++;
  return f;
}

void media_frame_unref(media_frame_t *f) {
  if (f && --f->refcount == 0) free(f);
}

static int dup_bytes(uint8_t **dst, size_t *dstlen, const uint8_t *src, size_t len) {
  *dst = NULL;
  *dstlen = 0;
  if (!src || !len) return 0;
  if (!(*dst = malloc(len))) return ERR_NOMEM;
  memcpy(*dst, src, len);
  *dstlen = len;
  return 0;
}

int media_config_copy(media_config_t *dst, const media_config_t *src) {
  media_config_t c = *src;
  if (dup_bytes(&c.video_extradata, &c.video_extradata_len, src->video_extradata,
                src->video_extradata_len) ||
      dup_bytes(&c.audio_extradata, &c.audio_extradata_len, src->audio_extradata,
                src->audio_extradata_len)) {
    free(c.video_extradata);
    return ERR_NOMEM;
  }
  media_config_clear(dst);
  *dst = c;
  return 0;
}

void media_config_clear(media_config_t *c) {
  free(c->video_extradata);
  free(c->audio_extradata);
  memset(c, 0, sizeof(*c));
}
