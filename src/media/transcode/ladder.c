/* ladder.c — rung planning (ladder.h). */
#include "media/transcode/ladder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int height;
  unsigned kbps;
} standard[] = {{"4k", 2160, 14000}, {"1440p", 1440, 8000}, {"1080p", 1080, 5000},
                {"720p", 720, 2800}, {"480p", 480, 1400},   {"360p", 360, 800},
                {"240p", 240, 400}};
#define NSTANDARD (sizeof(standard) / sizeof(standard[0]))
/* auto uses the common ones only: 1080p and below */
#define AUTO_FIRST 2

ladder_mode_t ladder_mode(const json_t *params) {
  const char *m = json_string_value(json_object_get(params, "mode"));
  if (m && strcmp(m, "passthrough") == 0) return LADDER_PASSTHROUGH;
  if (m && strcmp(m, "custom") == 0) return LADDER_CUSTOM;
  return LADDER_AUTO;
}

int ladder_height(const char *resolution) {
  for (size_t i = 0; resolution && i < NSTANDARD; i++)
    if (strcmp(standard[i].name, resolution) == 0) return standard[i].height;
  return 0;
}

unsigned ladder_standard_kbps(int height) {
  for (size_t i = 0; i < NSTANDARD; i++)
    if (height >= standard[i].height) return standard[i].kbps;
  return standard[NSTANDARD - 1].kbps;
}

/* Width for `height` with the source's aspect ratio, rounded to even. */
static int width_for(int src_w, int src_h, int height) {
  if (src_w <= 0 || src_h <= 0) return (height * 16 / 9 + 1) & ~1;
  int w = (int)lround((double)src_w * height / src_h / 2.0) * 2;
  return w < 2 ? 2 : w;
}

static double number(const json_t *v) {
  if (json_is_number(v)) return json_number_value(v);
  if (json_is_string(v)) {
    double d;
    if (sscanf(json_string_value(v), "%lf", &d) == 1) return d;
  }
  return 0;
}

int ladder_plan(const json_t *params, int src_w, int src_h, unsigned max_auto,
                ladder_rung_t *out) {
  ladder_mode_t mode = ladder_mode(params);
  double fps = number(json_object_get(params, "framerate"));
  if (fps < 0 || fps > 30) fps = 0; /* the API refuses these; be safe */
  int n = 0;
  if (mode == LADDER_PASSTHROUGH) return 0;
  if (mode == LADDER_AUTO) {
    for (size_t i = AUTO_FIRST; i < NSTANDARD && n < LADDER_MAX && (unsigned)n < max_auto; i++) {
      if (standard[i].height >= src_h) continue;
      ladder_rung_t *r = &out[n++];
      snprintf(r->name, sizeof(r->name), "%s", standard[i].name);
      r->height = standard[i].height;
      r->width = width_for(src_w, src_h, r->height);
      r->kbps = standard[i].kbps;
      r->fps = fps;
    }
    return n;
  }
  const json_t *qs = json_object_get(params, "qualities");
  size_t i;
  const json_t *q;
  json_array_foreach(qs, i, q) {
    if (n == LADDER_MAX) break;
    const char *res = json_string_value(json_object_get(q, "resolution"));
    int h = ladder_height(res);
    if (!h) continue;
    ladder_rung_t *r = &out[n++];
    snprintf(r->name, sizeof(r->name), "%s", res);
    r->height = h;
    r->width = width_for(src_w, src_h, h);
    json_int_t kbps = json_integer_value(json_object_get(q, "bitrate"));
    r->kbps = kbps > 0 ? (unsigned)kbps : ladder_standard_kbps(h);
    double qf = number(json_object_get(q, "framerate"));
    r->fps = qf > 0 && qf <= 30 ? qf : fps;
  }
  return n;
}
