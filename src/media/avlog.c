#include "media/avlog.h"

#include <libavutil/log.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static int onair_level(int av_level, log_level_t *out) {
  if (av_level <= AV_LOG_ERROR)
    *out = LOG_WARN;
  else if (av_level <= AV_LOG_WARNING)
    *out = LOG_INFO;
  else if (av_level <= AV_LOG_INFO)
    *out = LOG_DEBUG;
  else
    return 0; /* verbose, debug, trace: per packet or per muxer option, too chatty */
  return log_enabled(*out);
}

static const char *av_level_name(int level) {
  if (level <= AV_LOG_FATAL) return "fatal";
  if (level <= AV_LOG_ERROR) return "error";
  if (level <= AV_LOG_WARNING) return "warning";
  if (level <= AV_LOG_INFO) return "info";
  return "verbose";
}

static void on_av_log(void *avcl, int level, const char *fmt, va_list vl) {
  log_level_t lv;
  if (!onair_level(level, &lv)) return;
  char msg[1024];
  int print_prefix = 0; /* the component comes from the context, not a "[x @ 0x…]" prefix */
  va_list copy;
  va_copy(copy, vl);
  av_log_format_line2(NULL, level, fmt, copy, msg, sizeof(msg), &print_prefix);
  va_end(copy);
  /* One log line: no control characters, and nothing that ends or escapes
   * the quoted value early. */
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ')) msg[--n] = '\0';
  if (!n) return;
  for (char *p = msg; *p; p++)
    if (*p == '"') *p = '\'';
    else if (*p == '\\') *p = '/';
    else if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
  const AVClass *cls = avcl ? *(const AVClass **)avcl : NULL;
  const char *component = cls && cls->item_name ? cls->item_name(avcl) : "libav";
  log_write(lv, "libav_message level=%s component=%s msg=\"%s\"", av_level_name(level),
            component, msg);
}

void media_avlog_install(void) { av_log_set_callback(on_av_log); }
