/* test_record.c — the recording helpers that need no live stream:
 * credential stripping of destination URLs, the VOD playlist writers, and
 * remux_files over real TS segments made by ffmpeg (concatenation with a
 * timestamp reset in the middle, keyframe cut, bad input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "media/record/recorder.h"
#include "media/record/remux.h"

static char g_dir[64];

static void strip(const char *in, const char *want) {
  char out[256];
  recorder_strip_url(in, out, sizeof(out));
  assert_string_equal(out, want);
}

static void test_strip_url(void **state) {
  (void)state;
  strip("ftp://user:pa%40ss@ftp.example.com:2121/dir/x", "ftp://ftp.example.com:2121/dir/x");
  strip("sftp://bob@host/~/rec", "sftp://host/~/rec");
  strip("azblob://acct.blob.core.windows.net/c/p?sv=2021&sig=SECRET",
        "azblob://acct.blob.core.windows.net/c/p");
  strip("s3://127.0.0.1:4568/bucket?scheme=http", "s3://127.0.0.1:4568/bucket");
  strip("file:///var/rec", "file:///var/rec");
  strip("s3://h/b/user@domain/path", "s3://h/b/user@domain/path"); /* '@' after the host stays */
  strip(NULL, "");
}

static char *slurp(const char *path) {
  char *text = NULL;
  assert_int_equal(util_read_file(path, &text, NULL), 0);
  return text;
}

static void test_vod_playlists(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/v.m3u8", g_dir);
  remux_vod_segment_t segs[] = {{"a.ts", 2.002, 0}, {"b.ts", 2.6, 1}, {"c.ts", 1.0, 0}};
  assert_int_equal(remux_write_vod_playlist(path, segs, 0), ERR_INVALID);
  assert_int_equal(remux_write_vod_playlist(path, segs, 3), 0);
  char *t = slurp(path);
  assert_non_null(strstr(t, "#EXTM3U\n"));
  assert_non_null(strstr(t, "#EXT-X-PLAYLIST-TYPE:VOD\n"));
  assert_non_null(strstr(t, "#EXT-X-TARGETDURATION:3\n")); /* 2.6 rounds to 3 */
  assert_non_null(strstr(t, "#EXTINF:2.002,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.600,\nb.ts\n"));
  assert_non_null(strstr(t, "c.ts\n#EXT-X-ENDLIST\n"));
  free(t);
  remux_vod_variant_t v[] = {{"source.m3u8", 1200000, 1280, 720}, {"240p.m3u8", 300000, 0, 0}};
  snprintf(path, sizeof(path), "%s/m.m3u8", g_dir);
  assert_int_equal(remux_write_master_playlist(path, v, 2), 0);
  t = slurp(path);
  assert_non_null(
      strstr(t, "#EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=1280x720\nsource.m3u8\n"));
  assert_non_null(strstr(t, "#EXT-X-STREAM-INF:BANDWIDTH=300000\n240p.m3u8\n"));
  free(t);
  snprintf(path, sizeof(path), "%s/m.m3u8.part", g_dir);
  assert_int_not_equal(access(path, F_OK), 0); /* renamed into place */
}

/* Two "sessions" of 1 s TS segments, each starting at timestamp 0 (an
 * encoder that reconnected). */
static int make_segments(void) {
  char cmd[1024];
  for (int s = 0; s < 2; s++) {
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "
             "testsrc2=size=320x240:rate=30 -f lavfi -i sine -t 3 -c:v libx264 -preset "
             "ultrafast -g 30 -c:a aac -f hls -hls_time 1 -hls_segment_filename '%s/s%d_%%d.ts' "
             "'%s/s%d.m3u8'",
             g_dir, s, g_dir, s);
    if (system(cmd) != 0) return -1;
  }
  return 0;
}

static double probe_duration(const char *path) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd),
           "ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 '%s'", path);
  FILE *p = popen(cmd, "r");
  double d = -1;
  if (p) {
    if (fscanf(p, "%lf", &d) != 1) d = -1;
    pclose(p);
  }
  return d;
}

static void test_remux_concat_and_cut(void **state) {
  (void)state;
  char in[6][128], out[128];
  const char *paths[6];
  for (int i = 0; i < 6; i++) {
    snprintf(in[i], sizeof(in[i]), "%s/s%d_%d.ts", g_dir, i / 3, i % 3);
    paths[i] = in[i];
  }
  remux_info_t info;
  snprintf(out, sizeof(out), "%s/all.mp4", g_dir);
  assert_int_equal(remux_files(paths, 6, out, "mp4", -1, -1, &info), 0);
  assert_true(info.has_video && info.has_audio);
  assert_int_equal(info.width, 320);
  assert_int_equal(info.height, 240);
  assert_true(info.size > 0);
  /* The second session's clock restarted at 0: it follows the first. */
  assert_true(info.duration_ms > 5500 && info.duration_ms < 6600);
  double d = probe_duration(out);
  assert_true(d > 5.5 && d < 6.6);

  snprintf(out, sizeof(out), "%s/all.ts", g_dir);
  assert_int_equal(remux_files(paths, 6, out, "mpegts", -1, -1, &info), 0);
  d = probe_duration(out);
  assert_true(d > 5.5 && d < 6.6);

  /* A cut starts at the keyframe at or before start (1 s GOPs). */
  snprintf(out, sizeof(out), "%s/cut.mp4", g_dir);
  assert_int_equal(remux_files(paths, 6, out, "mp4", 1500, 3500, &info), 0);
  assert_true(info.start_ms >= 900 && info.start_ms <= 1100);
  assert_true(info.duration_ms > 2200 && info.duration_ms < 2700);

  /* Bad arguments and inputs. */
  assert_int_equal(remux_files(paths, 6, out, "avi", -1, -1, NULL), ERR_INVALID);
  assert_int_equal(remux_files(paths, 0, out, "mp4", -1, -1, NULL), ERR_INVALID);
  assert_int_equal(remux_files(paths, 6, out, "mp4", 3000, 2000, NULL), ERR_INVALID);
  const char *missing[] = {"/nonexistent/x.ts"};
  assert_int_equal(remux_files(missing, 1, out, "mp4", -1, -1, NULL), ERR_NOT_FOUND);
  char junk[128];
  snprintf(junk, sizeof(junk), "%s/junk.ts", g_dir);
  FILE *f = fopen(junk, "w");
  fputs("not a transport stream at all", f);
  fclose(f);
  const char *bad[] = {junk};
  assert_int_not_equal(remux_files(bad, 1, out, "mp4", -1, -1, NULL), 0);
}

int main(void) {
  snprintf(g_dir, sizeof(g_dir), "/tmp/onair-test-record-XXXXXX");
  if (!mkdtemp(g_dir) || make_segments() != 0) {
    fprintf(stderr, "cannot prepare test media in %s (ffmpeg?)\n", g_dir);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strip_url),
      cmocka_unit_test(test_vod_playlists),
      cmocka_unit_test(test_remux_concat_and_cut),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return rc;
}
