/* uploader.c — the upload queue (upload/uploader.h).
 *
 * Threads and ownership:
 *  - the loop thread owns the job list (up->jobs), the store, the timer and
 *    every state change except QUEUED → RUNNING;
 *  - workers take QUEUED jobs off the work queue (up->mu), run the blocking
 *    transfer, put the job on the done queue and wake the loop (uv_async);
 *  - a RUNNING job is never freed by the loop: cancel and free only raise
 *    its abort flag; it is released once it comes back on the done queue
 *    (or after the workers were joined).
 * Scheduling: one timer. Every change (enqueue, a result, start) re-arms it
 * at 0; its callback hands due jobs to the workers, tells owners about
 * recovered final jobs, and re-arms the timer for the next retry.
 */
#include "upload/uploader.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/webhooks.h" /* webhooks_backoff_ms: the same doubling, capped at 1 h */
#include "live/metrics.h"
#include "store/uploads.h"
#include "upload/dest.h"
#include "upload/transfer.h"

enum { J_WAITING, J_QUEUED, J_RUNNING, J_NOTIFY };

typedef struct job {
  char id[37];
  char owner_kind[32];
  char owner_id[128];
  char *local_path, *object_name, *dest_json;
  int attempts;       /* failed attempts so far */
  int64_t next_ms;    /* unix ms of the next attempt (J_WAITING) */
  int state;          /* J_*; QUEUED → RUNNING is written by a worker under up->mu */
  int cancelled;      /* loop thread: dropped while running */
  atomic_int abort;   /* the transfer stops when set */
  /* result, written by the worker before the job is put on the done queue */
  upload_result_t result;
  char error[512];
  char url[4096];     /* object URL (no credentials) */
  uint64_t bytes;
  /* J_NOTIFY: a final job recovered from the store */
  int final_ok;
  struct job *next;   /* up->jobs (loop thread) */
  STAILQ_ENTRY(job) qlink; /* work or done queue (up->mu) */
} job_t;

typedef struct listener {
  char kind[32];
  uploader_done_cb cb;
  void *ud;
  struct listener *next;
} listener_t;

struct uploader {
  uv_loop_t *loop;
  store_t *store;
  unsigned retry_base_ms, max_attempts, nworkers;
  int sftp_accept_new;
  int deny_private;
  unsigned part_mib;
  char ca_file[1024];
  char known_hosts[1200];
  char tmp_dir[1200];
  uv_timer_t timer;
  uv_async_t async;
  int open_handles;
  int started;
  uv_thread_t *threads;
  unsigned nthreads;
  uv_mutex_t mu;
  uv_cond_t cv;
  int stopping;             /* under mu */
  STAILQ_HEAD(, job) work, done; /* under mu */
  job_t *jobs;              /* every job the loop knows (loop thread) */
  listener_t *listeners;
  uploader_stats_t stats;   /* done/failed/retries/bytes (loop thread) */
  int64_t pruned_ms;        /* when told rows were last pruned */
};

static void job_free(job_t *j) {
  if (!j) return;
  free(j->local_path);
  free(j->object_name);
  free(j->dest_json);
  free(j);
}

static void jobs_remove(uploader_t *up, job_t *j) {
  for (job_t **p = &up->jobs; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      j->next = NULL;
      return;
    }
}

static listener_t *listener_for(uploader_t *up, const char *kind) {
  for (listener_t *l = up->listeners; l; l = l->next)
    if (strcmp(l->kind, kind) == 0) return l;
  return NULL;
}

static void on_timer(uv_timer_t *h);

static void wake(uploader_t *up) {
  if (up->started && !uv_is_closing((uv_handle_t *)&up->timer))
    uv_timer_start(&up->timer, on_timer, 0, 0);
}

/* Tells every listener of the job's kind, then marks it told. The job is
 * already off the list (uploader_pending() no longer counts it). */
static void notify(uploader_t *up, job_t *j, int ok, const char *url, const char *error) {
  for (listener_t *l = up->listeners; l; l = l->next)
    if (strcmp(l->kind, j->owner_kind) == 0)
      l->cb(l->ud, j->owner_kind, j->owner_id, j->id, j->local_path, ok, ok ? url : NULL,
            ok ? NULL : error);
  int rc = store_upload_set_notified(up->store, j->id);
  if (rc) log_warn("upload_notified_not_saved job=%s err=%s", j->id, err_str(rc));
}

/* The URL for logs: destination without credentials or query. */
static void job_log_url(const job_t *j, char *out, size_t outlen) {
  json_t *dj = json_loads(j->dest_json, 0, NULL);
  upload_dest_t *d = malloc(sizeof(*d));
  snprintf(out, outlen, "?");
  if (dj && d && upload_dest_parse(dj, d, NULL, NULL, 0) == 0) upload_dest_safe_url(d, out, outlen);
  if (d) memset(d, 0, sizeof(*d)); /* credentials */
  free(d);
  json_decref(dj);
}

_Static_assert(UPLOADER_MAX_BACKOFF_MS == WEBHOOKS_MAX_BACKOFF_MS, "one backoff cap");

/* ---- workers ---- */

static void run_job(uploader_t *up, job_t *j) {
  upload_dest_t *d = malloc(sizeof(*d));
  json_t *dj = json_loads(j->dest_json, 0, NULL);
  char msg[256];
  j->url[0] = '\0';
  j->bytes = 0;
  if (!d) {
    j->result = UPLOAD_RETRY;
    snprintf(j->error, sizeof(j->error), "out of memory");
  } else if (!dj || upload_dest_parse(dj, d, NULL, msg, sizeof(msg)) != 0) {
    j->result = UPLOAD_PERMANENT;
    snprintf(j->error, sizeof(j->error), "bad destination: %s", dj ? msg : "not JSON");
  } else {
    upload_env_t env = {.known_hosts = up->known_hosts,
                        .sftp_accept_new = up->sftp_accept_new,
                        .tmp_dir = up->tmp_dir,
                        .ca_file = up->ca_file[0] ? up->ca_file : NULL,
                        .allow_private = !up->deny_private,
                        .part_mib = up->part_mib};
    upload_dest_object_url(d, j->object_name, j->url, sizeof(j->url));
    j->result = upload_transfer(d, j->local_path, j->object_name, &env, &j->abort, j->error,
                                sizeof(j->error), &j->bytes);
  }
  json_decref(dj);
  if (d) memset(d, 0, sizeof(*d)); /* credentials */
  free(d);
}

static void worker_main(void *arg) {
  uploader_t *up = arg;
  uv_mutex_lock(&up->mu);
  for (;;) {
    while (!up->stopping && STAILQ_EMPTY(&up->work)) uv_cond_wait(&up->cv, &up->mu);
    if (up->stopping) break;
    job_t *j = STAILQ_FIRST(&up->work);
    STAILQ_REMOVE_HEAD(&up->work, qlink);
    j->state = J_RUNNING;
    uv_mutex_unlock(&up->mu);
    run_job(up, j);
    uv_mutex_lock(&up->mu);
    STAILQ_INSERT_TAIL(&up->done, j, qlink);
    if (!up->stopping) uv_async_send(&up->async);
  }
  uv_mutex_unlock(&up->mu);
}

/* ---- loop side ---- */

static void finish(uploader_t *up, job_t *j, int ok) {
  int64_t now = util_now_ms();
  char where[1200];
  job_log_url(j, where, sizeof(where));
  int attempts = j->attempts + 1;
  int rc = store_upload_finish(up->store, j->id, ok ? STORE_UPLOAD_UPLOADED : STORE_UPLOAD_FAILED,
                               attempts, ok ? j->url : NULL, ok ? NULL : j->error,
                               (int64_t)j->bytes, now / 1000);
  if (rc) log_error("upload_state_not_saved job=%s err=%s", j->id, err_str(rc));
  if (ok) {
    up->stats.done++;
    up->stats.bytes += j->bytes;
    log_info("upload_done job=%s owner=%s/%s to=%s object=%s bytes=%llu attempts=%d", j->id,
             j->owner_kind, j->owner_id, where, j->object_name, (unsigned long long)j->bytes,
             attempts);
  } else {
    up->stats.failed++;
    log_error("upload_failed job=%s owner=%s/%s to=%s object=%s attempts=%d reason=\"%s\"", j->id,
              j->owner_kind, j->owner_id, where, j->object_name, attempts, j->error);
  }
  jobs_remove(up, j);
  notify(up, j, ok, j->url, j->error);
  job_free(j);
}

/* Forgets rows told to their owner more than UPLOADER_KEEP_DAYS ago, at
 * most once an hour (owners keep their own record of what was uploaded). */
static void prune(uploader_t *up) {
  int64_t now = util_now_ms();
  if (up->pruned_ms && now - up->pruned_ms < 3600 * 1000) return;
  up->pruned_ms = now;
  int n = 0;
  int rc = store_upload_prune(up->store, now / 1000 - UPLOADER_KEEP_DAYS * 86400, &n);
  if (rc) log_warn("upload_prune_failed err=%s", err_str(rc));
  else if (n) log_info("upload_pruned rows=%d", n);
}

static void on_async(uv_async_t *h) {
  uploader_t *up = h->data;
  STAILQ_HEAD(, job) batch = STAILQ_HEAD_INITIALIZER(batch);
  uv_mutex_lock(&up->mu);
  STAILQ_CONCAT(&batch, &up->done);
  uv_mutex_unlock(&up->mu);
  job_t *j;
  while ((j = STAILQ_FIRST(&batch))) {
    STAILQ_REMOVE_HEAD(&batch, qlink);
    if (j->cancelled) {
      jobs_remove(up, j);
      job_free(j);
      continue;
    }
    if (j->result == UPLOAD_OK) {
      finish(up, j, 1);
    } else if (j->result == UPLOAD_PERMANENT ||
               (unsigned)j->attempts + 1 >= up->max_attempts) {
      finish(up, j, 0);
    } else {
      /* UPLOAD_RETRY (UPLOAD_ABORTED only happens while stopping) */
      j->attempts++;
      uint64_t wait = webhooks_backoff_ms(up->retry_base_ms, j->attempts);
      int64_t now = util_now_ms();
      j->next_ms = now + (int64_t)wait;
      j->state = J_WAITING;
      atomic_store(&j->abort, 0);
      up->stats.retries++;
      char where[1200];
      job_log_url(j, where, sizeof(where));
      log_warn("upload_retry job=%s owner=%s/%s to=%s object=%s attempt=%d of=%u next_in_ms=%llu "
               "reason=\"%s\"",
               j->id, j->owner_kind, j->owner_id, where, j->object_name, j->attempts,
               up->max_attempts, (unsigned long long)wait, j->error);
      int rc = store_upload_retry(up->store, j->id, j->attempts, j->error, j->next_ms, now / 1000);
      if (rc) log_error("upload_state_not_saved job=%s err=%s", j->id, err_str(rc));
    }
  }
  prune(up);
  wake(up);
}

static void on_timer(uv_timer_t *h) {
  uploader_t *up = h->data;
  int64_t now = util_now_ms(), next = INT64_MAX;
  job_t *to_tell = NULL;
  int queued = 0;
  uv_mutex_lock(&up->mu);
  for (job_t **p = &up->jobs; *p;) {
    job_t *j = *p;
    if (j->state == J_NOTIFY) {
      *p = j->next;
      j->next = to_tell;
      to_tell = j;
      continue;
    }
    if (j->state == J_WAITING) {
      if (j->next_ms <= now) {
        j->state = J_QUEUED;
        STAILQ_INSERT_TAIL(&up->work, j, qlink);
        queued++;
      } else if (j->next_ms < next) {
        next = j->next_ms;
      }
    }
    p = &j->next;
  }
  if (queued) uv_cond_broadcast(&up->cv);
  uv_mutex_unlock(&up->mu);
  /* oldest first: the list is newest first */
  job_t *rev = NULL;
  while (to_tell) {
    job_t *j = to_tell;
    to_tell = j->next;
    j->next = rev;
    rev = j;
  }
  while (rev) {
    job_t *j = rev;
    rev = j->next;
    j->next = NULL;
    notify(up, j, j->final_ok, j->url, j->error);
    job_free(j);
  }
  if (next != INT64_MAX && !uv_is_closing((uv_handle_t *)h)) {
    int64_t wait = next - util_now_ms();
    uv_timer_start(h, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
  }
}

static void collect(void *ud, metrics_text_t *out) {
  uploader_t *up = ud;
  uploader_stats_t s;
  uploader_stats(up, &s);
  metrics_text_printf(out,
                      "# HELP onair_upload_queue_depth Upload jobs open: waiting, in backoff or "
                      "running.\n"
                      "# TYPE onair_upload_queue_depth gauge\n"
                      "onair_upload_queue_depth %u\n"
                      "# HELP onair_uploads_running Uploads transferring now.\n"
                      "# TYPE onair_uploads_running gauge\n"
                      "onair_uploads_running %u\n"
                      "# HELP onair_uploads_total Upload jobs finished, and failed attempts "
                      "retried, since start.\n"
                      "# TYPE onair_uploads_total counter\n"
                      "onair_uploads_total{outcome=\"uploaded\"} %llu\n"
                      "onair_uploads_total{outcome=\"failed\"} %llu\n"
                      "onair_uploads_total{outcome=\"retry\"} %llu\n"
                      "# HELP onair_upload_bytes_total Bytes of the files uploaded.\n"
                      "# TYPE onair_upload_bytes_total counter\n"
                      "onair_upload_bytes_total %llu\n",
                      s.queued + s.running, s.running, (unsigned long long)s.done,
                      (unsigned long long)s.failed, (unsigned long long)s.retries,
                      (unsigned long long)s.bytes);
}

/* ---- public ---- */

uploader_t *uploader_new(uv_loop_t *loop, store_t *store, const uploader_opts_t *opts) {
  uploader_t *up = calloc(1, sizeof(*up));
  if (!up) return NULL;
  STAILQ_INIT(&up->work);
  STAILQ_INIT(&up->done);
  up->loop = loop;
  up->store = store;
  up->retry_base_ms = opts && opts->retry_base_ms ? opts->retry_base_ms
                                                  : UPLOADER_DEFAULT_RETRY_BASE_MS;
  up->max_attempts = opts && opts->max_attempts ? opts->max_attempts
                                                : UPLOADER_DEFAULT_MAX_ATTEMPTS;
  up->nworkers = opts && opts->workers ? opts->workers : UPLOADER_DEFAULT_WORKERS;
  up->sftp_accept_new = !opts || opts->sftp_host_keys == UPLOADER_SFTP_ACCEPT_NEW;
  up->deny_private = opts && opts->deny_private;
  up->part_mib = opts && opts->part_mib ? opts->part_mib : UPLOAD_DEFAULT_PART_MIB;
  const char *data = opts && opts->data_dir ? opts->data_dir : ".";
  snprintf(up->known_hosts, sizeof(up->known_hosts), "%s/ssh_known_hosts", data);
  snprintf(up->tmp_dir, sizeof(up->tmp_dir), "%s/tmp", data);
  if (opts && opts->ca_file) snprintf(up->ca_file, sizeof(up->ca_file), "%s", opts->ca_file);
  if (uv_mutex_init(&up->mu)) {
    free(up);
    return NULL;
  }
  if (uv_cond_init(&up->cv)) {
    uv_mutex_destroy(&up->mu);
    free(up);
    return NULL;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_timer_init(loop, &up->timer);
  uv_async_init(loop, &up->async, on_async);
  up->timer.data = up->async.data = up;
  up->open_handles = 2;
  metrics_add_collector(collect, up); /* best effort: /metrics only */
  return up;
}

int uploader_on_done(uploader_t *up, const char *owner_kind, uploader_done_cb cb, void *ud) {
  if (!up || !owner_kind || !*owner_kind || strlen(owner_kind) >= sizeof(((listener_t *)0)->kind) ||
      !cb)
    return ERR_INVALID;
  listener_t *l = calloc(1, sizeof(*l));
  if (!l) return ERR_NOMEM;
  snprintf(l->kind, sizeof(l->kind), "%s", owner_kind);
  l->cb = cb;
  l->ud = ud;
  listener_t **p = &up->listeners; /* keep registration order */
  while (*p) p = &(*p)->next;
  *p = l;
  return 0;
}

static int resume_row(void *ud, const store_upload_t *u) {
  uploader_t *up = ud;
  if (!listener_for(up, u->owner_kind)) return 0; /* another process's kind */
  for (job_t *k = up->jobs; k; k = k->next)
    if (strcmp(k->id, u->id) == 0) return 0; /* enqueued before uploader_start() */
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return ERR_NOMEM;
  snprintf(j->id, sizeof(j->id), "%s", u->id);
  snprintf(j->owner_kind, sizeof(j->owner_kind), "%s", u->owner_kind);
  snprintf(j->owner_id, sizeof(j->owner_id), "%s", u->owner_id);
  j->local_path = strdup(u->local_path);
  j->object_name = strdup(u->object_name);
  j->dest_json = strdup(u->destination_json);
  if (!j->local_path || !j->object_name || !j->dest_json) {
    job_free(j);
    return ERR_NOMEM;
  }
  j->attempts = u->attempts;
  if (u->status == STORE_UPLOAD_PENDING) {
    j->state = J_WAITING;
    j->next_ms = u->next_attempt_ms;
  } else {
    j->state = J_NOTIFY;
    j->final_ok = u->status == STORE_UPLOAD_UPLOADED;
    snprintf(j->url, sizeof(j->url), "%s", u->url ? u->url : "");
    snprintf(j->error, sizeof(j->error), "%s", u->last_error ? u->last_error : "failed");
  }
  j->next = up->jobs;
  up->jobs = j;
  return 0;
}

int uploader_start(uploader_t *up) {
  if (!up || up->started) return ERR_INVALID;
  util_mkdirs(up->tmp_dir);
  up->threads = calloc(up->nworkers, sizeof(*up->threads));
  if (!up->threads) return ERR_NOMEM;
  for (unsigned i = 0; i < up->nworkers; i++) {
    if (uv_thread_create(&up->threads[i], worker_main, up)) break;
    up->nthreads++;
  }
  if (up->nthreads == 0) return ERR_INTERNAL;
  up->started = 1;
  prune(up);
  int rc = store_upload_list_open(up->store, resume_row, up);
  if (rc) log_error("upload_resume_failed err=%s", err_str(rc));
  unsigned n = 0;
  for (job_t *j = up->jobs; j; j = j->next) n++;
  if (n) log_info("upload_resumed jobs=%u", n);
  uv_timer_start(&up->timer, on_timer, 0, 0);
  return rc;
}

int uploader_enqueue(uploader_t *up, const char *owner_kind, const char *owner_id,
                     const char *local_path, const char *object_name,
                     const json_t *destination, char job_id[37]) {
  if (!up || !owner_kind || !owner_id || !*owner_id || strlen(owner_id) >= 128 || !local_path ||
      !*local_path || !upload_object_name_ok(object_name))
    return ERR_INVALID;
  if (!listener_for(up, owner_kind)) return ERR_INVALID;
  upload_dest_t *d = malloc(sizeof(*d));
  if (!d) return ERR_NOMEM;
  char msg[256], where[1200];
  int rc = upload_dest_parse(destination, d, NULL, msg, sizeof(msg));
  if (!rc) upload_dest_safe_url(d, where, sizeof(where));
  memset(d, 0, sizeof(*d));
  free(d);
  if (rc) {
    log_warn("upload_refused owner=%s/%s reason=\"%s\"", owner_kind, owner_id, msg);
    return ERR_INVALID;
  }
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return ERR_NOMEM;
  j->local_path = strdup(local_path);
  j->object_name = strdup(object_name);
  j->dest_json = json_dumps(destination, JSON_COMPACT);
  if (!j->local_path || !j->object_name || !j->dest_json || util_uuid4(j->id)) {
    job_free(j);
    return ERR_NOMEM;
  }
  snprintf(j->owner_kind, sizeof(j->owner_kind), "%s", owner_kind);
  snprintf(j->owner_id, sizeof(j->owner_id), "%s", owner_id);
  j->next_ms = util_now_ms();
  j->state = J_WAITING;
  store_upload_t row = {.local_path = j->local_path,
                        .object_name = j->object_name,
                        .destination_json = j->dest_json,
                        .next_attempt_ms = j->next_ms,
                        .created_at = j->next_ms / 1000};
  memcpy(row.id, j->id, sizeof(row.id));
  snprintf(row.owner_kind, sizeof(row.owner_kind), "%s", owner_kind);
  snprintf(row.owner_id, sizeof(row.owner_id), "%s", owner_id);
  if ((rc = store_upload_insert(up->store, &row)) != 0) {
    job_free(j);
    return rc;
  }
  j->next = up->jobs;
  up->jobs = j;
  if (job_id) memcpy(job_id, j->id, 37);
  log_info("upload_queued job=%s owner=%s/%s file=%s to=%s object=%s", j->id, owner_kind, owner_id,
           local_path, where, object_name);
  wake(up);
  return 0;
}

unsigned uploader_pending(uploader_t *up, const char *owner_kind, const char *owner_id,
                          const char *local_path) {
  unsigned n = 0;
  if (!up) return 0;
  uv_mutex_lock(&up->mu); /* a worker may be writing a job's state */
  for (job_t *j = up->jobs; j; j = j->next)
    if (j->state != J_NOTIFY && !j->cancelled && strcmp(j->owner_kind, owner_kind) == 0 &&
        strcmp(j->owner_id, owner_id) == 0 && (!local_path || strcmp(j->local_path, local_path) == 0))
      n++;
  uv_mutex_unlock(&up->mu);
  return n;
}

unsigned uploader_cancel(uploader_t *up, const char *owner_kind, const char *owner_id) {
  if (!up) return 0;
  unsigned n = 0;
  uv_mutex_lock(&up->mu);
  for (job_t **p = &up->jobs; *p;) {
    job_t *j = *p;
    if (j->cancelled || strcmp(j->owner_kind, owner_kind) || strcmp(j->owner_id, owner_id)) {
      p = &j->next;
      continue;
    }
    if (j->state != J_NOTIFY) n++;
    if (j->state == J_RUNNING) { /* released when it comes back from its worker */
      j->cancelled = 1;
      atomic_store(&j->abort, 1);
      p = &j->next;
      continue;
    }
    if (j->state == J_QUEUED) STAILQ_REMOVE(&up->work, j, job, qlink);
    *p = j->next;
    job_free(j);
  }
  uv_mutex_unlock(&up->mu);
  int removed = 0;
  int rc = store_upload_delete_owner(up->store, owner_kind, owner_id, &removed);
  if (rc) log_error("upload_cancel_not_saved owner=%s/%s err=%s", owner_kind, owner_id, err_str(rc));
  if (n || removed) log_info("upload_cancelled owner=%s/%s open=%u rows=%d", owner_kind, owner_id, n, removed);
  return n;
}

void uploader_stats(uploader_t *up, uploader_stats_t *out) {
  *out = up->stats;
  out->queued = out->running = 0;
  uv_mutex_lock(&up->mu);
  for (job_t *j = up->jobs; j; j = j->next) {
    if (j->cancelled || j->state == J_NOTIFY) continue;
    if (j->state == J_RUNNING)
      out->running++;
    else
      out->queued++;
  }
  uv_mutex_unlock(&up->mu);
}

static void on_closed(uv_handle_t *h) {
  uploader_t *up = h->data;
  if (--up->open_handles > 0) return;
  uv_cond_destroy(&up->cv);
  uv_mutex_destroy(&up->mu);
  free(up);
}

void uploader_free(uploader_t *up) {
  if (!up) return;
  metrics_remove_collector(collect, up);
  uv_mutex_lock(&up->mu);
  up->stopping = 1;
  for (job_t *j = up->jobs; j; j = j->next) atomic_store(&j->abort, 1);
  uv_cond_broadcast(&up->cv);
  uv_mutex_unlock(&up->mu);
  for (unsigned i = 0; i < up->nthreads; i++) uv_thread_join(&up->threads[i]);
  free(up->threads);
  up->threads = NULL;
  /* Every job is on the list, whatever queue it was on: the store keeps the
   * open ones for the next start. */
  while (up->jobs) {
    job_t *j = up->jobs;
    up->jobs = j->next;
    job_free(j);
  }
  STAILQ_INIT(&up->work);
  STAILQ_INIT(&up->done);
  while (up->listeners) {
    listener_t *l = up->listeners;
    up->listeners = l->next;
    free(l);
  }
  up->started = 0;
  uv_close((uv_handle_t *)&up->timer, on_closed);
  uv_close((uv_handle_t *)&up->async, on_closed);
}

int uploader_check_destination(const json_t *destination, const char **field, char *msg,
                               size_t msglen) {
  upload_dest_t *d = malloc(sizeof(*d));
  if (!d) {
    if (field) *field = "";
    snprintf(msg, msglen, "out of memory");
    return ERR_NOMEM;
  }
  int rc = upload_dest_parse(destination, d, field, msg, msglen);
  memset(d, 0, sizeof(*d));
  free(d);
  return rc;
}

void uploader_public_url(const char *url, char *out, size_t outlen) {
  if (!outlen) return;
  out[0] = '\0';
  if (!url) return;
  size_t o = 0;
#define PUT(p, n)                                              \
  do {                                                         \
    size_t n_ = (n);                                           \
    if (o + n_ >= outlen) n_ = outlen - 1 - o;                 \
    memcpy(out + o, (p), n_);                                  \
    o += n_;                                                   \
    out[o] = '\0';                                             \
  } while (0)
  const char *sep = strstr(url, "://");
  /* A "://" after the first '/', '?' or '#' is not the scheme's (it may sit
   * in the query): copying up to it would copy the query verbatim. */
  if (sep && (size_t)(sep - url) >= strcspn(url, "/?#")) sep = NULL;
  const char *auth = sep ? sep + 3 : url;
  PUT(url, (size_t)(auth - url));
  size_t alen = strcspn(auth, "/?#");
  const char *at = NULL;
  for (size_t i = 0; i < alen; i++)
    if (auth[i] == '@') at = auth + i;
  if (at) {
    PUT(auth, strcspn(auth, ":@") < (size_t)(at - auth) ? strcspn(auth, ":@") : (size_t)(at - auth));
    PUT("@", 1);
    alen -= (size_t)(at + 1 - auth);
    auth = at + 1;
  }
  size_t plen = strcspn(auth, "?#");
  PUT(auth, plen);
  const char *q = auth + plen;
  if (*q == '?') {
    q++;
    size_t qlen = strcspn(q, "#");
    int first = 1;
    while (qlen) {
      size_t t = strcspn(q, "&#");
      if (t > qlen) t = qlen;
      if ((t > 7 && strncmp(q, "scheme=", 7) == 0) || (t > 7 && strncmp(q, "region=", 7) == 0)) {
        PUT(first ? "?" : "&", 1);
        PUT(q, t);
        first = 0;
      }
      q += t;
      qlen -= t;
      if (qlen && *q == '&') q++, qlen--;
    }
  }
#undef PUT
}

int uploader_object_url(const json_t *destination, const char *object_name, char *out,
                        size_t outlen) {
  if (!upload_object_name_ok(object_name)) return ERR_INVALID;
  upload_dest_t *d = malloc(sizeof(*d));
  if (!d) return ERR_NOMEM;
  int rc = upload_dest_parse(destination, d, NULL, NULL, 0);
  if (!rc) rc = upload_dest_object_url(d, object_name, out, outlen);
  memset(d, 0, sizeof(*d));
  free(d);
  return rc;
}
