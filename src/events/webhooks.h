/* webhooks.h — delivery of events to project webhooks and to streams'
 * params.callback_url.
 *
 * On the loop thread, every event of the bus (events.h) becomes one stored
 * event (the JSON body, rendered at emit time) and one pending delivery
 * per destination: each webhook of the project whose "events" match, plus
 * the stream's callback_url for live_stream.* events other than
 * live_stream.updated. A delivery thread, with its own store handle, sends
 * them with libcurl:
 *
 *   POST <url>   Content-Type: application/json   User-Agent: onair-webhooks/1
 *                Onair-Event-Id: <event id>
 *                Onair-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * A 2xx answer delivers; anything else (or no answer within 5 s to connect,
 * 10 s in all) is retried after base, 2·base, 4·base … (at most 1 h) until
 * 24 h after the event, then the delivery is failed. Deliveries of one queue
 * (a webhook + a stream, or a stream's callback_url) go out strictly in
 * order: a retrying one holds back those after it. At-least-once: pending
 * deliveries survive a restart; receivers dedupe by event id.
 *
 * Callback_url deliveries are signed with the secret of the project's
 * oldest webhook, and sent unsigned when the project has none.
 *
 * SSRF: unless allow_private, a connection to a loopback, private,
 * link-local, unique-local, multicast or unspecified address is refused at
 * connect time (the address curl actually connects to is checked, so DNS
 * rebinding cannot slip past the check made when the webhook was created).
 */
#ifndef ONAIR_WEBHOOKS_H
#define ONAIR_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"
#include "store/store.h"

#define WEBHOOKS_MAX_PER_PROJECT 20
#define WEBHOOKS_MAX_URL 2048
#define WEBHOOKS_MAX_EVENTS 64          /* entries in a webhook's "events" */
#define WEBHOOKS_SECRET_PREFIX "whsec_"
#define WEBHOOKS_GIVE_UP_S (24 * 3600)  /* failed this long after the event */
#define WEBHOOKS_MAX_BACKOFF_MS 3600000u

typedef struct webhooks webhooks_t;

/* Subscribes to the event bus (events are queued in `store` from now on)
 * and starts the delivery thread, which opens its own store on
 * cfg->data_dir. One engine per process; cfg must outlive it. */
int webhooks_start(store_t *store, const config_t *cfg, webhooks_t **out);
/* Stops listening, stops the thread (transfers in flight are abandoned and
 * stay pending: they are sent again after the next start) and frees.
 * NULL is a no-op. */
void webhooks_stop(webhooks_t *wh);

/* ---- building blocks (pure; also used by src/api/webhooks.c and tests) ---- */

/* "t=<t>,v1=<64 hex>" into out (>= 96 bytes). The HMAC key is the whole
 * secret string, prefix included. 0 or ERR_INVALID (out too small). */
int webhooks_sign(const char *secret, int64_t t, const char *body, size_t len, char *out,
                  size_t outlen);
/* Delay before the attempt after `failed` failed attempts (>= 1):
 * base · 2^(failed-1), capped at WEBHOOKS_MAX_BACKOFF_MS. */
uint64_t webhooks_backoff_ms(unsigned base_ms, int failed);
/* Is `pattern` a valid entry of "events": "*", a known type, or a known
 * family followed by ".*" (e.g. "live_stream.*")? */
int webhooks_event_valid(const char *pattern);
/* Does a pattern select an event type? ("*" all, "x.*" every "x.…"). */
int webhooks_event_matches(const char *pattern, const char *type);
/* The known event types, NULL-terminated (docs, validation). */
const char *const *webhooks_event_types(void);
/* 1 when connecting to this address is refused without allow_private:
 * loopback, RFC 1918, CGNAT, link-local, unspecified, multicast, reserved,
 * broadcast; ::1, ::, fc00::/7, fe80::/10, fec0::/10, ff00::/8, and IPv4
 * embedded in IPv6 (mapped, compatible, NAT64 64:ff9b::/96, 6to4) by its
 * IPv4 address. Unknown families are refused too. */
int webhooks_addr_blocked(const struct sockaddr *sa);
/* Checks a webhook URL: http or https, <= WEBHOOKS_MAX_URL bytes, a host,
 * no control characters or spaces. Copies the host (brackets removed from
 * an IPv6 literal) into host (>= 256 bytes). 0, or ERR_INVALID with a
 * message in msg. */
int webhooks_url_parse(const char *url, char *host, size_t hostlen, char *msg, size_t msglen);
/* A new signing secret: "whsec_" + 64 hex chars into out (>= 72 bytes). */
int webhooks_secret_new(char out[72]);

#endif
