/* webhooks.c — the webhook delivery engine (see webhooks.h).
 *
 * Two halves that share only the database and a wake-up:
 *  - the loop thread listens to the event bus, renders the body and stores
 *    the event with its pending deliveries (one short transaction), then
 *    wakes the delivery thread (curl_multi_wakeup);
 *  - the delivery thread owns a second store_t and a curl multi handle: it
 *    asks the store for the head of every queue, starts the due ones (at
 *    most XFER_MAX at once, one per queue), and records each outcome.
 * The store is the queue, so a restart loses nothing: whatever was pending
 * is simply found again.
 */
#include "events/webhooks.h"
#include "live/metrics.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "events/events.h"
#include "live/stream_view.h"

#define XFER_MAX 16               /* transfers in flight */
#define HEADS_BATCH 64            /* queue heads read per look */
#define IDLE_LOOK_MS 1000         /* look at the store at least this often */
#define CONNECT_TIMEOUT_MS 5000
#define TOTAL_TIMEOUT_MS 10000
#define RESPONSE_KEEP 512         /* bytes of a response body recorded */
#define PRUNE_EVERY_S 3600
#define KEEP_FINISHED_S (7 * 24 * 3600) /* delivered/failed rows kept this long */

/* ---- event types ---- */

static const char *const event_types[] = {
    "live_stream.created",     "live_stream.updated",        "live_stream.deleted",
    "live_stream.starting",    "live_stream.waiting",        "live_stream.launching",
    "live_stream.live",        "live_stream.idle",           "live_stream.stopping",
    "live_stream.stopped",     "live_stream.disabled",       "live_stream.enabled",
    "simulcast_target.idle",   "simulcast_target.connecting", "simulcast_target.live",
    "simulcast_target.error",  "recording.ready",            "recording.failed",
    "clip.ready",              NULL};

const char *const *webhooks_event_types(void) { return event_types; }

int webhooks_event_valid(const char *pattern) {
  if (!pattern) return 0;
  if (strcmp(pattern, "*") == 0) return 1;
  size_t n = strlen(pattern);
  int family = n > 2 && strcmp(pattern + n - 2, ".*") == 0;
  for (int i = 0; event_types[i]; i++) {
    if (family ? strncmp(event_types[i], pattern, n - 1) == 0 : strcmp(event_types[i], pattern) == 0)
      return 1;
  }
  return 0;
}

int webhooks_event_matches(const char *pattern, const char *type) {
  if (!pattern || !type) return 0;
  if (strcmp(pattern, "*") == 0) return 1;
  size_t n = strlen(pattern);
  if (n > 2 && strcmp(pattern + n - 2, ".*") == 0) return strncmp(type, pattern, n - 1) == 0;
  return strcmp(pattern, type) == 0;
}

/* ---- signatures, backoff, secrets ---- */

int webhooks_sign(const char *secret, int64_t t, const char *body, size_t len, char *out,
                  size_t outlen) {
  char prefix[32];
  int pn = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
  /* The signed message is "<t>.<body>" (Mux's scheme). */
  size_t total = (size_t)pn + len;
  char *msg = malloc(total ? total : 1);
  if (!msg) return ERR_NOMEM;
  memcpy(msg, prefix, (size_t)pn);
  if (len) memcpy(msg + pn, body, len);
  unsigned char mac[32];
  util_hmac_sha256(secret, strlen(secret), msg, total, mac);
  free(msg);
  char hex[65];
  util_hex(mac, sizeof(mac), hex);
  int n = snprintf(out, outlen, "t=%lld,v1=%s", (long long)t, hex);
  return n > 0 && (size_t)n < outlen ? 0 : ERR_INVALID;
}

uint64_t webhooks_backoff_ms(unsigned base_ms, int failed) {
  if (failed < 1) failed = 1;
  uint64_t d = base_ms ? base_ms : 1;
  for (int i = 1; i < failed && d < WEBHOOKS_MAX_BACKOFF_MS; i++) d *= 2;
  return d < WEBHOOKS_MAX_BACKOFF_MS ? d : WEBHOOKS_MAX_BACKOFF_MS;
}

int webhooks_secret_new(char out[72]) {
  unsigned char raw[32];
  if (util_random_bytes(raw, sizeof(raw))) return ERR_INTERNAL;
  memcpy(out, WEBHOOKS_SECRET_PREFIX, sizeof(WEBHOOKS_SECRET_PREFIX) - 1);
  util_hex(raw, sizeof(raw), out + sizeof(WEBHOOKS_SECRET_PREFIX) - 1);
  memset(raw, 0, sizeof(raw));
  return 0;
}

/* ---- SSRF: which addresses a webhook may not reach ---- */

static int v4_blocked(uint32_t a) { /* host byte order */
  unsigned b0 = a >> 24, b1 = (a >> 16) & 0xff, b2 = (a >> 8) & 0xff;
  return b0 == 0                              /* "this network", 0.0.0.0 */
         || b0 == 10                          /* RFC 1918 */
         || b0 == 127                         /* loopback */
         || (b0 == 100 && (b1 & 0xc0) == 64)  /* 100.64/10 carrier-grade NAT */
         || (b0 == 169 && b1 == 254)          /* link-local, cloud metadata */
         || (b0 == 172 && (b1 & 0xf0) == 16)  /* RFC 1918 */
         || (b0 == 192 && b1 == 168)          /* RFC 1918 */
         || (b0 == 192 && b1 == 0 && b2 == 0) /* 192.0.0/24 IETF protocol assignments */
         || (b0 == 198 && (b1 & 0xfe) == 18)  /* 198.18/15 benchmarking */
         || b0 >= 224;                        /* multicast, reserved, broadcast */
}

static uint32_t v4_at(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int zeros(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

int webhooks_addr_blocked(const struct sockaddr *sa) {
  if (!sa) return 1;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return v4_blocked(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family != AF_INET6) return 1;
  const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  if (zeros(b, 10) && b[10] == 0xff && b[11] == 0xff) return v4_blocked(v4_at(b + 12)); /* mapped */
  if (zeros(b, 12)) return zeros(b + 12, 3) || v4_blocked(v4_at(b + 12)); /* ::, ::1, compatible */
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (zeros(b + 4, 8)) return v4_blocked(v4_at(b + 12)); /* NAT64 64:ff9b::/96 */
    return 1;                                              /* 64:ff9b:1::/48 local NAT64 */
  }
  if (b[0] == 0x20 && b[1] == 0x02) return v4_blocked(v4_at(b + 2)); /* 6to4 */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return 1; /* Teredo */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return 1; /* documentation */
  if ((b[0] & 0xfe) == 0xfc) return 1;                /* fc00::/7 unique local */
  if (b[0] == 0xfe && (b[1] & 0x80) == 0x80) return 1; /* fe80::/10 link-local, fec0::/10 site-local */
  if (b[0] == 0xff) return 1;                         /* multicast */
  return 0;
}

/* ---- URLs ---- */

int webhooks_url_parse(const char *url, char *host, size_t hostlen, char *msg, size_t msglen) {
  if (!url || !*url) {
    snprintf(msg, msglen, "url is required");
    return ERR_INVALID;
  }
  size_t n = strlen(url);
  if (n > WEBHOOKS_MAX_URL) {
    snprintf(msg, msglen, "url is longer than %d bytes", WEBHOOKS_MAX_URL);
    return ERR_INVALID;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f) {
      snprintf(msg, msglen, "url must not contain spaces or control characters");
      return ERR_INVALID;
    }
  }
  if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
    snprintf(msg, msglen, "url must be an http:// or https:// URL");
    return ERR_INVALID;
  }
  const char *auth = strstr(url, "://") + 3;
  if (strcspn(auth, "/?#\\") == 0) { /* curl would take "https:///x" as host "x" */
    snprintf(msg, msglen, "url has no host");
    return ERR_INVALID;
  }
  /* curl's own parser: the host checked here is the host curl will use. */
  CURLU *u = curl_url();
  if (!u) {
    snprintf(msg, msglen, "out of memory");
    return ERR_NOMEM;
  }
  char *h = NULL;
  int rc = 0;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
    snprintf(msg, msglen, "url is not a valid URL");
    rc = ERR_INVALID;
  } else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h || !*h) {
    snprintf(msg, msglen, "url has no host");
    rc = ERR_INVALID;
  } else {
    const char *p = h;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') p++, hl -= 2;
    if (hl == 0 || hl >= hostlen) {
      snprintf(msg, msglen, "url has an invalid host");
      rc = ERR_INVALID;
    } else {
      memcpy(host, p, hl);
      host[hl] = '\0';
    }
  }
  curl_free(h);
  curl_url_cleanup(u);
  return rc;
}

/* ---- the engine ---- */

typedef struct transfer {
  struct webhooks *wh;
  CURL *easy; /* NULL when the slot is free */
  struct curl_slist *headers;
  store_delivery_t d;
  char errbuf[CURL_ERROR_SIZE];
  char response[RESPONSE_KEEP + 1];
  size_t response_len;
  int refused; /* an address was refused (SSRF) */
} transfer_t;

struct webhooks {
  store_t *store; /* loop thread */
  const config_t *cfg;
  int allow_private;
  unsigned retry_base_ms;
  store_t *wstore; /* delivery thread */
  CURLM *multi;
  uv_thread_t thread;
  atomic_int stopping;
  atomic_int dirty; /* something was queued since the last look */
  /* /metrics counters: written by the delivery thread, read by the loop */
  atomic_ullong n_queued, n_delivered, n_attempt_failed, n_gave_up;
  transfer_t xfer[XFER_MAX];
};

/* The bus has no "unlisten": the listener is registered once per process
 * and forwards to whichever engine is running (loop thread only). */
static webhooks_t *active;
static int listening;

/* callback_url gets the status events of its stream. */
static int callback_wants(const char *type) {
  return strncmp(type, "live_stream.", 12) == 0 && strcmp(type, "live_stream.updated") != 0;
}

static int hook_matches(const store_webhook_t *w, const char *type) {
  json_error_t jerr;
  json_t *ev = w->events_json ? json_loads(w->events_json, 0, &jerr) : NULL;
  int ok = 0;
  size_t i;
  json_t *v;
  json_array_foreach(ev, i, v) {
    if (webhooks_event_matches(json_string_value(v), type)) {
      ok = 1;
      break;
    }
  }
  json_decref(ev);
  return ok;
}

/* The stream's params.callback_url, malloc'd, or NULL. */
static char *stream_callback_url(store_t *st, const char *stream_id) {
  char *params = NULL;
  if (store_webhook_stream_params(st, stream_id, &params)) return NULL;
  json_error_t jerr;
  json_t *p = json_loads(params, 0, &jerr);
  free(params);
  const char *u = json_string_value(json_object_get(p, "callback_url"));
  char *out = u && *u ? strdup(u) : NULL;
  json_decref(p);
  return out;
}

/* The object an event is about: the given data, or the stream as it is now. */
static json_t *event_data(webhooks_t *wh, const char *stream_id, json_t *data) {
  if (data) return json_incref(data);
  if (!stream_id) return json_null();
  store_stream_t s;
  if (store_stream_get_any(wh->store, stream_id, &s) != 0) return json_null();
  json_t *obj = stream_view_render(wh->store, wh->cfg, &s);
  store_stream_clear(&s);
  return obj ? obj : json_null();
}

static void on_event(void *ud, const char *type, const char *project_id, const char *stream_id,
                     json_t *data) {
  (void)ud;
  webhooks_t *wh = active;
  if (!wh || !type || !project_id || !*project_id) return;
  store_webhook_t *hooks = NULL;
  size_t nh = 0;
  int rc = store_webhook_list(wh->store, project_id, &hooks, &nh);
  if (rc) {
    log_error("webhook_event_lost type=%s project=%s err=%s", type, project_id, err_str(rc));
    return;
  }
  store_delivery_target_t t[WEBHOOKS_MAX_PER_PROJECT + 1];
  char queues[WEBHOOKS_MAX_PER_PROJECT + 1][80];
  size_t nt = 0;
  const char *sid = stream_id && *stream_id ? stream_id : "-";
  for (size_t i = 0; i < nh && nt < WEBHOOKS_MAX_PER_PROJECT; i++) {
    if (!hook_matches(&hooks[i], type)) continue;
    snprintf(queues[nt], sizeof(queues[nt]), "wh:%s:%s", hooks[i].id, sid);
    t[nt] = (store_delivery_target_t){.webhook_id = hooks[i].id, .url = hooks[i].url,
                                      .queue = queues[nt]};
    nt++;
  }
  char *cb = stream_id && *stream_id && callback_wants(type) ? stream_callback_url(wh->store, stream_id)
                                                             : NULL;
  if (cb) {
    snprintf(queues[nt], sizeof(queues[nt]), "cb:%s", stream_id);
    t[nt] = (store_delivery_target_t){.webhook_id = NULL, .url = cb, .queue = queues[nt]};
    nt++;
  }
  if (nt > 0) {
    store_webhook_event_t ev = {.created_at = util_now()};
    char ts[32];
    rc = util_uuid4(ev.id);
    snprintf(ev.project_id, sizeof(ev.project_id), "%s", project_id);
    if (stream_id) snprintf(ev.stream_id, sizeof(ev.stream_id), "%s", stream_id);
    snprintf(ev.type, sizeof(ev.type), "%s", type);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", ev.id, "type", type, "created_at",
                             util_format_time(ev.created_at, ts, sizeof(ts)), "project_id",
                             project_id, "data", event_data(wh, stream_id, data));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!rc && !text) rc = ERR_NOMEM;
    if (!rc) {
      ev.body = text;
      rc = store_webhook_enqueue(wh->store, &ev, t, nt, util_now_ms());
      if (!rc) atomic_fetch_add(&wh->n_queued, nt);
    }
    free(text);
    if (rc) {
      log_error("webhook_event_lost type=%s project=%s err=%s", type, project_id, err_str(rc));
    } else {
      log_debug("webhook_event id=%s type=%s stream=%s deliveries=%zu", ev.id, type, sid, nt);
      atomic_store(&wh->dirty, 1);
      curl_multi_wakeup(wh->multi);
    }
  }
  free(cb);
  for (size_t i = 0; i < nh; i++) store_webhook_clear(&hooks[i]);
  free(hooks);
}

/* ---- the delivery thread ---- */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
  transfer_t *x = clientp;
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  /* The address curl is about to connect to, after its own resolution:
   * checking here is what makes DNS rebinding useless. */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, &a->addr, a->addrlen < sizeof(ss) ? a->addrlen : sizeof(ss));
  if (!x->wh->allow_private && webhooks_addr_blocked((const struct sockaddr *)&ss)) {
    x->refused = 1;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  transfer_t *x = ud;
  size_t n = size * nmemb;
  for (size_t i = 0; i < n && x->response_len < RESPONSE_KEEP; i++) {
    unsigned char c = (unsigned char)ptr[i];
    /* Kept as printable ASCII: it is shown in JSON and never trusted. */
    x->response[x->response_len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  x->response[x->response_len] = '\0';
  return n; /* the rest is read and dropped */
}

static void xfer_release(webhooks_t *wh, transfer_t *x) {
  if (x->easy) {
    curl_multi_remove_handle(wh->multi, x->easy);
    curl_easy_cleanup(x->easy);
  }
  curl_slist_free_all(x->headers);
  store_delivery_clear(&x->d);
  memset(x, 0, sizeof(*x));
}

static struct curl_slist *header_add(struct curl_slist *l, const char *h, int *ok) {
  struct curl_slist *n = curl_slist_append(l, h);
  if (!n) {
    *ok = 0;
    return l;
  }
  return n;
}

/* Starts sending d (taken over: *d is zeroed). */
static int xfer_start(webhooks_t *wh, transfer_t *x, store_delivery_t *d) {
  memset(x, 0, sizeof(*x));
  x->wh = wh;
  x->d = *d;
  memset(d, 0, sizeof(*d));
  const char *body = x->d.body ? x->d.body : "";
  char line[160];
  int ok = 1;
  x->headers = header_add(x->headers, "Content-Type: application/json", &ok);
  x->headers = header_add(x->headers, "User-Agent: onair-webhooks/1", &ok);
  x->headers = header_add(x->headers, "Expect:", &ok); /* no 100-continue round trip */
  snprintf(line, sizeof(line), "Onair-Event-Id: %s", x->d.event_id);
  x->headers = header_add(x->headers, line, &ok);
  snprintf(line, sizeof(line), "Onair-Event-Type: %s", x->d.event_type);
  x->headers = header_add(x->headers, line, &ok);
  if (x->d.secret && *x->d.secret) {
    char sig[128];
    memcpy(line, "Onair-Signature: ", 17);
    if (webhooks_sign(x->d.secret, util_now(), body, strlen(body), sig, sizeof(sig)) == 0) {
      snprintf(line + 17, sizeof(line) - 17, "%s", sig);
      x->headers = header_add(x->headers, line, &ok);
    } else {
      ok = 0;
    }
  }
  x->easy = curl_easy_init();
  if (!ok || !x->easy) {
    xfer_release(wh, x);
    return ERR_NOMEM;
  }
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_URL, x->d.url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never via a proxy from the environment */
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TOTAL_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  if (curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
    xfer_release(wh, x);
    return ERR_INTERNAL;
  }
  log_debug("webhook_sending delivery=%s event=%s type=%s attempt=%d", x->d.id, x->d.event_id,
            x->d.event_type, x->d.attempts + 1);
  return 0;
}

/* A transfer ended: record the attempt and free the slot. */
static void xfer_finish(webhooks_t *wh, transfer_t *x, CURLcode res) {
  long code = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  int64_t now_ms = util_now_ms();
  int attempts = x->d.attempts + 1;
  char err[CURL_ERROR_SIZE + 64] = "";
  int delivered = res == CURLE_OK && code >= 200 && code < 300;
  if (!delivered) {
    if (x->refused)
      snprintf(err, sizeof(err),
               "refused: the host resolves to a private, loopback or link-local address");
    else if (res != CURLE_OK)
      snprintf(err, sizeof(err), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
    else
      snprintf(err, sizeof(err), "HTTP %ld", code);
  }
  int status = STORE_DELIVERY_DELIVERED;
  int64_t next = now_ms;
  if (!delivered) {
    next = now_ms + (int64_t)webhooks_backoff_ms(wh->retry_base_ms, attempts);
    /* Give up once the next try would come more than 24 h after the event. */
    status = next > (x->d.created_at + WEBHOOKS_GIVE_UP_S) * 1000 ? STORE_DELIVERY_FAILED
                                                                   : STORE_DELIVERY_PENDING;
  }
  int rc = store_delivery_record(wh->wstore, x->d.seq, status, attempts, (int)code,
                                 delivered ? NULL : err,
                                 x->response_len ? x->response : NULL, next, now_ms / 1000);
  const char *wid = x->d.webhook_id[0] ? x->d.webhook_id : "callback_url";
  atomic_fetch_add(delivered                            ? &wh->n_delivered
                   : status == STORE_DELIVERY_FAILED     ? &wh->n_gave_up
                                                         : &wh->n_attempt_failed,
                   1);
  if (rc)
    log_error("webhook_record_failed delivery=%s err=%s", x->d.id, err_str(rc));
  if (delivered)
    log_info("webhook_delivered delivery=%s webhook=%s event=%s type=%s http=%ld attempts=%d",
             x->d.id, wid, x->d.event_id, x->d.event_type, code, attempts);
  else
    log_warn("webhook_attempt_failed delivery=%s webhook=%s event=%s type=%s http=%ld attempts=%d "
             "error=\"%s\" %s",
             x->d.id, wid, x->d.event_id, x->d.event_type, code, attempts, err,
             status == STORE_DELIVERY_FAILED ? "gave_up=1" : "retry=1");
  xfer_release(wh, x);
}

static transfer_t *xfer_find(webhooks_t *wh, int64_t seq) {
  for (int i = 0; i < XFER_MAX; i++)
    if (wh->xfer[i].easy && wh->xfer[i].d.seq == seq) return &wh->xfer[i];
  return NULL;
}

static transfer_t *xfer_free_slot(webhooks_t *wh) {
  for (int i = 0; i < XFER_MAX; i++)
    if (!wh->xfer[i].easy) return &wh->xfer[i];
  return NULL;
}

/* Starts what is due; returns ms until the next head falls due. */
static long look(webhooks_t *wh) {
  int64_t now = util_now_ms();
  long wait = IDLE_LOOK_MS;
  store_delivery_t *heads = NULL;
  size_t n = 0;
  int rc = store_delivery_heads(wh->wstore, HEADS_BATCH, &heads, &n);
  if (rc) log_error("webhook_queue_read_failed err=%s", err_str(rc));
  for (size_t i = 0; i < n; i++) {
    store_delivery_t *d = &heads[i];
    if (xfer_find(wh, d->seq)) {
      /* in flight */
    } else if (d->next_attempt_ms <= now) {
      transfer_t *x = xfer_free_slot(wh);
      if (x && xfer_start(wh, x, d) != 0) log_error("webhook_start_failed delivery=%s", d->id);
    } else if (d->next_attempt_ms - now < wait) {
      wait = (long)(d->next_attempt_ms - now);
    }
    store_delivery_clear(d);
  }
  free(heads);
  return wait;
}

static void worker(void *arg) {
  webhooks_t *wh = arg;
  int64_t last_prune = 0;
  int64_t next_look = 0;
  int finished = 1;
  while (!atomic_load(&wh->stopping)) {
    int64_t now = util_now_ms();
    if (now / 1000 - last_prune >= PRUNE_EVERY_S) {
      last_prune = now / 1000;
      int rc = store_delivery_prune(wh->wstore, last_prune - KEEP_FINISHED_S);
      if (rc) log_warn("webhook_prune_failed err=%s", err_str(rc));
    }
    if (finished || atomic_exchange(&wh->dirty, 0) || now >= next_look) {
      atomic_store(&wh->dirty, 0);
      next_look = now + look(wh);
    }
    int running = 0;
    curl_multi_perform(wh->multi, &running);
    long wait = (long)(next_look - util_now_ms());
    if (wait < 0) wait = 0;
    if (!atomic_load(&wh->dirty)) curl_multi_poll(wh->multi, NULL, 0, (int)wait, NULL);
    curl_multi_perform(wh->multi, &running);
    finished = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
      if (m->msg != CURLMSG_DONE) continue;
      transfer_t *x = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      CURLcode res = m->data.result;
      if (x) xfer_finish(wh, x, res);
      finished = 1;
    }
  }
  /* Abandoned transfers stay pending in the store. */
  for (int i = 0; i < XFER_MAX; i++)
    if (wh->xfer[i].easy) xfer_release(wh, &wh->xfer[i]);
}

/* Prometheus counters of deliveries since start (loop thread). */
static void collect(void *ud, metrics_text_t *t) {
  webhooks_t *wh = ud;
  metrics_text_printf(t,
                      "# HELP onair_webhook_deliveries_total Webhook and callback_url deliveries "
                      "since start, by outcome (queued, delivered, retry = a failed attempt that "
                      "will be retried, failed = given up).\n"
                      "# TYPE onair_webhook_deliveries_total counter\n"
                      "onair_webhook_deliveries_total{outcome=\"queued\"} %llu\n"
                      "onair_webhook_deliveries_total{outcome=\"delivered\"} %llu\n"
                      "onair_webhook_deliveries_total{outcome=\"retry\"} %llu\n"
                      "onair_webhook_deliveries_total{outcome=\"failed\"} %llu\n",
                      (unsigned long long)atomic_load(&wh->n_queued),
                      (unsigned long long)atomic_load(&wh->n_delivered),
                      (unsigned long long)atomic_load(&wh->n_attempt_failed),
                      (unsigned long long)atomic_load(&wh->n_gave_up));
}

int webhooks_start(store_t *store, const config_t *cfg, webhooks_t **out) {
  *out = NULL;
  if (active) return ERR_CONFLICT;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return ERR_INTERNAL;
  webhooks_t *wh = calloc(1, sizeof(*wh));
  if (!wh) {
    curl_global_cleanup();
    return ERR_NOMEM;
  }
  wh->store = store;
  wh->cfg = cfg;
  wh->allow_private = cfg->webhooks_allow_private;
  wh->retry_base_ms = cfg->webhook_retry_base_ms ? cfg->webhook_retry_base_ms : 5000;
  int rc = store_open(cfg->data_dir, &wh->wstore);
  if (!rc && !(wh->multi = curl_multi_init())) rc = ERR_NOMEM;
  if (!rc && !listening) {
    rc = events_listen(on_event, NULL);
    if (!rc) listening = 1;
  }
  if (!rc && uv_thread_create(&wh->thread, worker, wh) != 0) rc = ERR_INTERNAL;
  if (rc) {
    if (wh->multi) curl_multi_cleanup(wh->multi);
    store_close(wh->wstore);
    free(wh);
    curl_global_cleanup();
    return rc;
  }
  active = wh;
  metrics_add_collector(collect, wh); /* best effort: /metrics only */
  if (wh->allow_private)
    log_warn("webhooks_allow_private=1 reason=\"webhooks may reach private and loopback addresses\"");
  log_info("webhooks_started retry_base_ms=%u", wh->retry_base_ms);
  *out = wh;
  return 0;
}

void webhooks_stop(webhooks_t *wh) {
  if (!wh) return;
  metrics_remove_collector(collect, wh);
  if (active == wh) active = NULL;
  atomic_store(&wh->stopping, 1);
  curl_multi_wakeup(wh->multi);
  uv_thread_join(&wh->thread);
  curl_multi_cleanup(wh->multi);
  store_close(wh->wstore);
  free(wh);
  curl_global_cleanup();
}
