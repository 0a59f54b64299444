/* avlog.h — libav* (libavformat, libavcodec, libx264 through it) messages
 * in onair's log.
 *
 * By default libav writes its own lines to stderr ("[mp4 @ 0x…] Starting
 * second pass: moving the moov atom…" for every MP4 a recording or clip
 * makes, x264's banner for every rung), which breaks the one-line logfmt
 * format and buries onair's own lines. After media_avlog_install() they
 * become log lines "libav_message level=… component=… msg=\"…\"":
 *   libav error and worse  -> warn  (they concern one file or stream; the
 *                                    caller logs what it does about it)
 *   libav warning          -> info
 *   libav info             -> debug
 *   libav verbose and up   -> dropped
 * Any thread (remux jobs and transcoders call libav off the loop).
 */
#ifndef ONAIR_MEDIA_AVLOG_H
#define ONAIR_MEDIA_AVLOG_H

void media_avlog_install(void);

#endif
