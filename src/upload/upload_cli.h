/* upload_cli.h — `onair upload`: one file to one dvr destination through
 * the same persisted, retried queue the server uses (upload/uploader.h),
 * for scripts, for checking a destination before a broadcast, and to
 * finish uploads a stopped command left.
 *
 *   onair upload [--SETTING VALUE]... FILE DESTINATION [OBJECT_NAME]
 *   onair upload --resume [--SETTING VALUE]...
 *
 * DESTINATION is the destination JSON object of the API, or @PATH to read
 * it from a file (keeps secrets out of the process list), or - for stdin.
 * OBJECT_NAME defaults to FILE's base name. Waits until the upload is done
 * (prints the object URL, exit 0) or has finally failed (prints the reason
 * on stderr, exit 1). The job lives in DATA_DIR's database: a stopped
 * command's jobs are finished by `onair upload --resume` (or by the next
 * `onair upload`). Jobs of the server (recordings, clips) are never touched.
 */
#ifndef ONAIR_UPLOAD_CLI_H
#define ONAIR_UPLOAD_CLI_H

#include "core/config.h"

/* The usage text printed by --help. */
extern const char upload_cli_usage[];

/* Runs with settings already parsed into cfg (data dir, upload_*). args
 * are the positional arguments (FILE DESTINATION [OBJECT_NAME]), nargs 0
 * with resume = 1. Returns the exit code: 0 done, 1 failed or
 * interrupted, 2 bad usage. */
int upload_cli_run(const config_t *cfg, int resume, int nargs, char **args);

#endif
