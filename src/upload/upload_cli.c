/* upload_cli.c — `onair upload` (upload/upload_cli.h). */
#include "upload/upload_cli.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store.h"
#include "upload/uploader.h"

#define CLI_KIND "cli"

const char upload_cli_usage[] =
    "usage: onair upload [--SETTING VALUE]... FILE DESTINATION [OBJECT_NAME]\n"
    "       onair upload --resume [--SETTING VALUE]...\n"
    "\n"
    "Uploads FILE to one recording destination through the server's persisted,\n"
    "retried upload queue, and waits. DESTINATION is a destination object as in\n"
    "the API's dvr.destination, or @PATH to read it from a file (keeps secrets out\n"
    "of the process list), or - for standard input:\n"
    "  '{\"url\": \"s3://host/bucket/prefix\", \"key\": \"...\", \"secret\": \"...\"}'\n"
    "OBJECT_NAME (default: FILE's base name) is appended to the url's path.\n"
    "Prints the object URL and exits 0, or prints why it failed and exits 1;\n"
    "a destination or arguments that are not valid exit 2.\n"
    "A stopped command's jobs stay in the data dir; --resume finishes them.\n"
    "\n"
    "Settings as for 'onair serve' (flag, ONAIR_* variable or --config file):\n"
    "  --data DIR  --upload-retry-base-ms MS  --upload-max-attempts N\n"
    "  --upload-sftp-host-keys accept-new|strict  --upload-ca-file PEM\n"
    "  --upload-allow-private 0|1  --upload-part-mib MIB\n";

typedef struct {
  uv_loop_t *loop;
  uploader_t *up;
  char job_id[37]; /* "" in --resume */
  int finished, failed, interrupted;
} cli_t;

static void check_done(cli_t *c) {
  uploader_stats_t s;
  uploader_stats(c->up, &s);
  if (c->job_id[0] ? c->finished > 0 : s.queued + s.running == 0) uv_stop(c->loop);
}

static void on_done(void *ud, const char *kind, const char *owner, const char *job_id,
                    const char *local_path, int ok, const char *url, const char *error) {
  (void)kind, (void)owner;
  cli_t *c = ud;
  if (ok) {
    printf("%s\n", url);
    fflush(stdout);
  } else {
    fprintf(stderr, "onair upload: %s: failed: %s\n", local_path, error);
  }
  if (!c->job_id[0] || strcmp(job_id, c->job_id) == 0) {
    c->finished++;
    if (!ok) c->failed++;
  }
  check_done(c);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  cli_t *c = h->data;
  c->interrupted = 1;
  uv_stop(c->loop);
}

static void on_start_check(uv_timer_t *h) { check_done(h->data); }

static json_t *load_destination(const char *arg, char *msg, size_t msglen) {
  json_error_t jerr;
  json_t *j;
  if (strcmp(arg, "-") == 0)
    j = json_loadf(stdin, 0, &jerr);
  else if (arg[0] == '@')
    j = json_load_file(arg + 1, 0, &jerr);
  else
    j = json_loads(arg, 0, &jerr);
  if (!j) snprintf(msg, msglen, "DESTINATION is not JSON: %s", jerr.text);
  return j;
}

int upload_cli_run(const config_t *cfg, int resume, int nargs, char **args) {
  if (resume ? nargs != 0 : (nargs < 2 || nargs > 3)) {
    fputs(upload_cli_usage, stderr);
    return 2;
  }
  char msg[512];
  json_t *dest = NULL;
  const char *file = NULL, *name = NULL;
  char abs[4096];
  if (!resume) {
    file = args[0];
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
      fprintf(stderr, "onair upload: %s is not a readable file\n", file);
      return 2;
    }
    if (!realpath(file, abs)) {
      fprintf(stderr, "onair upload: %s: cannot resolve its path\n", file);
      return 2;
    }
    file = abs;
    name = nargs == 3 ? args[2] : strrchr(file, '/') + 1;
    if (!(dest = load_destination(args[1], msg, sizeof(msg)))) {
      fprintf(stderr, "onair upload: %s\n", msg);
      return 2;
    }
    const char *field = "";
    if (uploader_check_destination(dest, &field, msg, sizeof(msg))) {
      fprintf(stderr, "onair upload: bad destination: %s\n", msg);
      json_decref(dest);
      return 2;
    }
  }
  store_t *store = NULL;
  int rc = util_mkdirs(cfg->data_dir);
  if (!rc) rc = store_open(cfg->data_dir, &store);
  if (rc) {
    fprintf(stderr, "onair upload: cannot open the data dir %s: %s\n", cfg->data_dir, err_str(rc));
    json_decref(dest);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  cli_t c = {.loop = &loop};
  uploader_opts_t opts = {.retry_base_ms = cfg->upload_retry_base_ms,
                          .max_attempts = cfg->upload_max_attempts,
                          .workers = cfg->upload_workers,
                          .sftp_host_keys = cfg->upload_sftp_strict ? UPLOADER_SFTP_STRICT
                                                                    : UPLOADER_SFTP_ACCEPT_NEW,
                          .data_dir = cfg->data_dir,
                          .ca_file = cfg->upload_ca_file,
                          .deny_private = !cfg->upload_allow_private,
                          .part_mib = cfg->upload_part_mib};
  int code = 1;
  c.up = uploader_new(&loop, store, &opts);
  uv_signal_t sigint, sigterm;
  uv_timer_t check;
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  uv_timer_init(&loop, &check);
  sigint.data = sigterm.data = check.data = &c;
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  if (!c.up || uploader_on_done(c.up, CLI_KIND, on_done, &c) || uploader_start(c.up)) {
    fprintf(stderr, "onair upload: cannot start the uploader\n");
    goto out;
  }
  if (!resume) {
    char owner[37];
    util_uuid4(owner);
    rc = uploader_enqueue(c.up, CLI_KIND, owner, file, name, dest, c.job_id);
    if (rc) {
      fprintf(stderr, "onair upload: cannot queue the upload: %s\n",
              rc == ERR_INVALID ? "bad object name" : err_str(rc));
      code = 2;
      goto out;
    }
  } else {
    uv_timer_start(&check, on_start_check, 0, 0); /* after the recovered jobs were told */
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (c.interrupted) {
    fprintf(stderr, "onair upload: interrupted; 'onair upload --resume' finishes the upload\n");
    code = 1;
  } else {
    code = c.failed ? 1 : 0;
  }
out:
  uploader_free(c.up);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&check, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  store_close(store);
  json_decref(dest);
  return code;
}
