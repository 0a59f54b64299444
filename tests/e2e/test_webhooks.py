"""Webhooks (/v1/webhooks) and params.callback_url, as docs/api.md
("Webhooks") describes them, against real HTTP receivers on loopback.

The module's server runs with webhooks_allow_private=1 (the receivers are
on 127.0.0.1) and a short retry base (webhook_retry_base_ms=200).
"""
import hashlib
import hmac
import json
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import ASAN, OnairServer
from helpers import TS_RE, UUID4_RE

SLOW = 3 if ASAN else 1
RETRY_BASE_MS = 200
WEBHOOK_ENV = {"ONAIR_WEBHOOKS_ALLOW_PRIVATE": "1",
               "ONAIR_WEBHOOK_RETRY_BASE_MS": str(RETRY_BASE_MS)}
SECRET_RE = re.compile(r"^whsec_[0-9a-f]{64}$")
SIG_RE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")
WEBHOOK_FIELDS = {"id", "url", "events", "created_at"}
DELIVERY_FIELDS = {"id", "event_id", "event_type", "stream_id", "status", "attempts",
                   "last_http_status", "last_error", "last_response", "next_attempt_at",
                   "created_at", "updated_at"}


# ---------------------------------------------------------------- receiver


class Receiver:
    """An HTTP server on 127.0.0.1 in a thread that records every request.
    `plan[path]` is a list of statuses answered in turn (then 200)."""

    def __init__(self, port=0):
        self.requests = []
        self.plan = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rec.cond:
                    queue = rec.plan.get(self.path)
                    code = queue.pop(0) if queue else 200
                    rec.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "body": body, "at": time.time(), "answered": code})
                    rec.cond.notify_all()
                out = b'{"ok":true}' if code == 200 else b"receiver says no"
                self.send_response(code)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def received(self, path=None, stream_id=None):
        """[(request, parsed body)] so far, in arrival order."""
        with self.lock:
            reqs = list(self.requests)
        out = []
        for r in reqs:
            if path is not None and r["path"] != path:
                continue
            body = json.loads(r["body"])
            if stream_id is not None and stream_of(body) != stream_id:
                continue
            out.append((r, body))
        return out

    def wait(self, pred, timeout=15, what="requests"):
        deadline = time.time() + timeout * SLOW
        while True:
            got = pred(self)
            if got:
                return got
            if time.time() > deadline:
                raise AssertionError(f"receiver: {what} not seen within {timeout * SLOW}s; "
                                     f"got {[(r['path'], r['body'][:120]) for r in self.requests]}")
            with self.cond:
                self.cond.wait(0.1)


def stream_of(body):
    data = body.get("data") or {}
    return data.get("id")


def types(pairs):
    return [b["type"] for _, b in pairs]


def verify_signature(req, secret, body_bytes):
    """Checks Onair-Signature as docs/api.md tells receivers to."""
    sig = req["headers"].get("Onair-Signature")
    assert sig, f"no Onair-Signature header: {req['headers']}"
    m = SIG_RE.match(sig)
    assert m, sig
    t, v1 = m.group(1), m.group(2)
    want = hmac.new(secret.encode(), t.encode() + b"." + body_bytes, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, v1), "signature does not verify"
    assert abs(int(t) - time.time()) < 300, f"signature timestamp {t} is not current"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def whserver(tmp_path_factory):
    srv = OnairServer(tmp_path_factory.mktemp("onair-webhooks"))
    srv.start(extra_env=WEBHOOK_ENV, extra_args=["--hls-segment-ms", "1000"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def whapi(whserver):
    c = whserver.new_project("webhooks-a")
    yield c
    c.close()


@pytest.fixture(scope="module")
def whapi2(whserver):
    c = whserver.new_project("webhooks-b")
    yield c
    c.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fresh_project(whserver):
    c = whserver.new_project()
    yield c
    c.close()


def create_webhook(client, url, events=None, expect=201):
    body = {"url": url}
    if events is not None:
        body["events"] = events
    r = client.post("/v1/webhooks", json=body)
    assert r.status_code == expect, f"POST /v1/webhooks {body} -> {r.status_code} {r.text[:300]}"
    return r.json()["webhook"] if expect == 201 else r.json()


def deliveries(client, wid, **params):
    r = client.get(f"/v1/webhooks/{wid}/deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(client, sid, want, timeout=20):
    deadline = time.time() + timeout * SLOW
    while True:
        s = client.get_stream(sid)
        if s["status"]["name"] == want:
            return s
        assert time.time() < deadline, f"stream never became {want}: {s['status']}"
        time.sleep(0.05)


# ---------------------------------------------------------------- the API


def test_create_returns_the_secret_once(whapi, receiver):
    w = create_webhook(whapi, receiver.url(), ["live_stream.live", "live_stream.idle"])
    assert set(w) == WEBHOOK_FIELDS | {"secret"}, w
    assert UUID4_RE.match(w["id"]) and TS_RE.match(w["created_at"]), w
    assert SECRET_RE.match(w["secret"]), w["secret"]
    assert w["url"] == receiver.url()
    assert w["events"] == ["live_stream.live", "live_stream.idle"]

    r = whapi.get(f"/v1/webhooks/{w['id']}")
    assert r.status_code == 200
    got = r.json()["webhook"]
    assert set(got) == WEBHOOK_FIELDS and "secret" not in r.text
    assert got["events"] == w["events"] and got["url"] == w["url"]

    r = whapi.get("/v1/webhooks")
    assert r.status_code == 200
    listed = r.json()["webhooks"]
    assert w["id"] in [x["id"] for x in listed]
    assert all(set(x) == WEBHOOK_FIELDS for x in listed)
    assert w["secret"] not in r.text

    # Two webhooks never share a secret.
    w2 = create_webhook(whapi, receiver.url("/other"))
    assert w2["secret"] != w["secret"]
    assert w2["events"] == ["*"]  # omitted = every event
    for x in (w, w2):
        assert whapi.delete(f"/v1/webhooks/{x['id']}").status_code == 200


@pytest.mark.parametrize("body,field", [
    ({}, "url"),
    ({"url": 5}, "url"),
    ({"url": ""}, "url"),
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "example.com/hook"}, "url"),
    ({"url": "http://"}, "url"),
    ({"url": "https:///path"}, "url"),
    ({"url": "http://exa mple.com/"}, "url"),
    ({"url": "https://example.com/" + "a" * 2048}, "url"),
    ({"url": "https://example.com/", "events": "live_stream.live"}, "events"),
    ({"url": "https://example.com/", "events": []}, "events"),
    ({"url": "https://example.com/", "events": ["live_stream.bogus"]}, "events"),
    ({"url": "https://example.com/", "events": ["live_stream.live", 3]}, "events"),
    ({"url": "https://example.com/", "events": ["bogus.*"]}, "events"),
    ({"url": "https://example.com/", "secret": "mine"}, "secret"),
])
def test_create_validation(whapi, body, field):
    r = whapi.post("/v1/webhooks", json=body)
    assert r.status_code == 400, f"{body} -> {r.status_code} {r.text[:300]}"
    err = r.json()["error"]
    assert err["code"] and err["message"]
    assert err["field"] == field, err


def test_create_refuses_bad_json_and_no_auth(whserver, whapi):
    r = whapi.post("/v1/webhooks", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = whapi.post("/v1/webhooks", data="")
    assert r.status_code == 400
    anon = whserver.client()
    for m, p in [("POST", "/v1/webhooks"), ("GET", "/v1/webhooks"),
                 ("GET", "/v1/webhooks/x"), ("DELETE", "/v1/webhooks/x"),
                 ("GET", "/v1/webhooks/x/deliveries")]:
        assert anon.request(m, p, json={"url": "https://e.com"}).status_code == 401, (m, p)


def test_event_families_and_duplicates(whapi, receiver):
    w = create_webhook(whapi, receiver.url(), ["live_stream.*", "live_stream.*", "recording.ready"])
    assert w["events"] == ["live_stream.*", "recording.ready"]
    assert whapi.delete(f"/v1/webhooks/{w['id']}").status_code == 200


def test_another_projects_webhook_is_not_found(whapi, whapi2, receiver):
    w = create_webhook(whapi, receiver.url())
    for m, p in [("GET", f"/v1/webhooks/{w['id']}"), ("DELETE", f"/v1/webhooks/{w['id']}"),
                 ("GET", f"/v1/webhooks/{w['id']}/deliveries")]:
        r = whapi2.request(m, p)
        assert r.status_code == 404, (m, p, r.status_code)
        assert r.json()["error"]["code"] == "not_found"
    assert w["id"] not in [x["id"] for x in whapi2.get("/v1/webhooks").json()["webhooks"]]
    # And project b's events never reach project a's webhook.
    s = whapi2.create({})
    time.sleep(0.5 * SLOW)
    assert not receiver.received(stream_id=s["id"])
    assert whapi.get(f"/v1/webhooks/{w['id']}").status_code == 200
    assert whapi.delete(f"/v1/webhooks/{w['id']}").status_code == 200
    assert whapi.delete(f"/v1/webhooks/{w['id']}").status_code == 404
    assert whapi.get(f"/v1/webhooks/{w['id']}").status_code == 404
    assert whapi.get(f"/v1/webhooks/{w['id']}/deliveries").status_code == 404


def test_at_most_20_per_project(fresh_project, receiver):
    ids = [create_webhook(fresh_project, receiver.url(f"/n{i}"), ["clip.ready"])["id"]
           for i in range(20)]
    r = fresh_project.post("/v1/webhooks", json={"url": receiver.url()})
    assert r.status_code == 409, r.text
    assert fresh_project.delete(f"/v1/webhooks/{ids[0]}").status_code == 200
    create_webhook(fresh_project, receiver.url(), ["clip.ready"])


# ---------------------------------------------------------------- deliveries


def test_every_transition_in_order_signed(whserver, fresh_project, receiver):
    """Webhook + callback_url through a whole life: create, start, publish
    (launching, live), encoder gone (idle), stop, delete."""
    api = fresh_project
    w = create_webhook(api, receiver.url("/hook"))
    s = api.create({"name": "wh-life", "callback_url": receiver.url("/cb")})
    sid = s["id"]
    r = api.post(f"/v1/live-streams/{sid}/start")
    assert r.status_code == 200, r.text
    wait_status(api, sid, "waiting")
    ff = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "testsrc2=size=320x240:rate=30", "-t", "4", "-c:v", "libx264", "-preset",
         "veryfast", "-g", "30", "-f", "flv",
         f"rtmp://127.0.0.1:{whserver.rtmp_port}/live/{s['stream_key']}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_status(api, sid, "live")
        assert ff.wait(timeout=30 * SLOW) == 0, ff.stderr.read()
    finally:
        if ff.poll() is None:
            ff.kill()
            ff.wait()
    wait_status(api, sid, "idle")
    assert api.post(f"/v1/live-streams/{sid}/stop").status_code == 200
    wait_status(api, sid, "stopped")
    assert api.delete(f"/v1/live-streams/{sid}").status_code == 200

    statuses = ["created", "starting", "waiting", "launching", "live", "idle", "stopping",
                "stopped", "deleted"]
    want = [f"live_stream.{x}" for x in statuses]

    def status_events(path):
        return [(r, b) for r, b in receiver.received(path, sid) if b["type"] != "live_stream.updated"]

    for path in ("/hook", "/cb"):
        got = receiver.wait(lambda rc: (lambda e: e if len(e) >= len(want) else None)(
            status_events(path)), timeout=20, what=f"{path}: {want}")
        assert types(got) == want, f"{path}: {types(got)}"
        ids = set()
        for req, body in got:
            # Signed with the webhook's secret (callback_url: the project's
            # oldest webhook), headers as documented.
            verify_signature(req, w["secret"], req["body"])
            h = req["headers"]
            assert h["Content-Type"] == "application/json"
            assert h["User-Agent"] == "onair-webhooks/1"
            assert h["Onair-Event-Id"] == body["id"]
            assert UUID4_RE.match(body["id"]) and body["id"] not in ids
            ids.add(body["id"])
            assert TS_RE.match(body["created_at"])
            assert body["project_id"]
            # The object as it was at that transition.
            assert body["data"]["id"] == sid
            assert "live_stream." + body["data"]["status"]["name"] == body["type"], body
        # The stream object is the API's (rendered at emit time).
        created = got[0][1]["data"]
        assert created["name"] == "wh-life" and created["stream_key"] == s["stream_key"]
        assert created["params"]["callback_url"] == receiver.url("/cb")

    # The delivery log shows them all delivered in one attempt each (the
    # outcome is recorded just after the receiver answered).
    def all_recorded(_):
        log = deliveries(api, w["id"], limit=100)
        mine = [d for d in log["deliveries"] if d["stream_id"] == sid]
        done = len(mine) >= len(want) and all(d["status"] != "pending" for d in mine)
        return mine if done else None

    mine = receiver.wait(all_recorded, what="every delivery recorded")
    for d in mine:
        assert set(d) == DELIVERY_FIELDS, d
        assert d["status"] == "delivered" and d["attempts"] == 1, d
        assert d["last_http_status"] == 200 and d["last_error"] is None
        assert d["next_attempt_at"] is None
        assert TS_RE.match(d["created_at"]) and TS_RE.match(d["updated_at"])
    # newest first
    assert [d["event_type"] for d in mine if d["event_type"] != "live_stream.updated"] == want[::-1]
    # Neither the secret nor a signature reaches the log.
    text = whserver.log_text()
    assert w["secret"] not in text and "whsec_" not in text
    assert got[0][0]["headers"]["Onair-Signature"].split("v1=")[1] not in text


def test_event_filter(fresh_project, receiver):
    api = fresh_project
    create_webhook(api, receiver.url("/stopped"), ["live_stream.stopped"])
    create_webhook(api, receiver.url("/family"), ["live_stream.*"])
    s = api.create({})
    assert api.post(f"/v1/live-streams/{s['id']}/start").status_code == 200
    assert api.post(f"/v1/live-streams/{s['id']}/stop").status_code == 200
    receiver.wait(lambda rc: [1 for _, b in rc.received("/family", s["id"])
                              if b["type"] == "live_stream.stopped"], what="family stopped")
    time.sleep(0.3 * SLOW)
    assert types(receiver.received("/stopped", s["id"])) == ["live_stream.stopped"]
    fam = types(receiver.received("/family", s["id"]))
    assert fam == ["live_stream.created", "live_stream.starting", "live_stream.waiting",
                   "live_stream.stopping", "live_stream.stopped"], fam


def test_failing_receiver_gets_the_event_after_retries(fresh_project, receiver):
    api = fresh_project
    receiver.plan["/flaky"] = [500, 500, 500]
    w = create_webhook(api, receiver.url("/flaky"), ["live_stream.created"])
    s = api.create({})
    got = receiver.wait(lambda rc: (lambda e: e if len(e) >= 4 else None)(
        rc.received("/flaky", s["id"])), timeout=20, what="4 attempts")
    assert [r["answered"] for r, _ in got] == [500, 500, 500, 200]
    # The same event each time (receivers dedupe by id), re-signed each time.
    assert len({b["id"] for _, b in got}) == 1
    assert len({r["body"] for r, _ in got}) == 1
    for r, _ in got:
        verify_signature(r, w["secret"], r["body"])
    # Exponential backoff from the 200 ms base: ~200, 400, 800 ms.
    gaps = [b["at"] - a["at"] for (a, _), (b, _) in zip(got, got[1:])]
    for gap, base in zip(gaps, (0.2, 0.4, 0.8)):
        assert gap >= base * 0.8, gaps
    assert gaps[2] > gaps[0], gaps

    def delivered(_):
        d = [x for x in deliveries(api, w["id"])["deliveries"] if x["stream_id"] == s["id"]]
        return d if d and d[0]["status"] == "delivered" else None

    d = receiver.wait(delivered, what="delivery recorded")[0]
    assert d["attempts"] == 4 and d["last_http_status"] == 200, d
    assert d["event_type"] == "live_stream.created"
    assert time.sleep(0.5 * SLOW) is None and len(receiver.received("/flaky", s["id"])) == 4


def test_metrics_count_deliveries(whserver, fresh_project, receiver):
    """/metrics (loopback, no token) exports delivery outcomes as counters."""
    def counters():
        text = requests.get(whserver.base_url + "/metrics", timeout=10).text
        out = {}
        for ln in text.splitlines():
            if ln.startswith("onair_webhook_deliveries_total{"):
                outcome = ln.split('outcome="')[1].split('"')[0]
                out[outcome] = int(float(ln.rsplit(" ", 1)[1]))
        return out
    before = counters()
    assert set(before) == {"queued", "delivered", "retry", "failed"}, before
    receiver.plan["/count"] = [500]
    create_webhook(fresh_project, receiver.url("/count"), ["live_stream.created"])
    s = fresh_project.create({})
    receiver.wait(lambda rc: (lambda e: e if len(e) >= 2 else None)(
        rc.received("/count", s["id"])), timeout=20, what="a retry and a delivery")
    deadline = time.time() + 10 * SLOW
    while True:
        after = counters()
        if after["delivered"] >= before["delivered"] + 1 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert after["queued"] >= before["queued"] + 1, (before, after)
    assert after["retry"] >= before["retry"] + 1, (before, after)
    assert after["delivered"] >= before["delivered"] + 1, (before, after)


def test_pending_delivery_shows_the_error(fresh_project, receiver):
    api = fresh_project
    receiver.plan["/down"] = [503] * 1000
    w = create_webhook(api, receiver.url("/down"), ["live_stream.created"])
    s = api.create({})

    def retrying(_):
        d = [x for x in deliveries(api, w["id"])["deliveries"] if x["stream_id"] == s["id"]]
        return d if d and d[0]["attempts"] >= 2 else None

    d = receiver.wait(retrying, what="two failed attempts")[0]
    assert d["status"] == "pending"
    assert d["last_http_status"] == 503
    assert d["last_error"] == "HTTP 503"
    assert d["last_response"] == "receiver says no"
    assert TS_RE.match(d["next_attempt_at"])
    # Deleting the webhook drops what it still had to send.
    assert api.delete(f"/v1/webhooks/{w['id']}").status_code == 200
    time.sleep(0.3 * SLOW)
    n = len(receiver.received("/down"))
    time.sleep(2 * SLOW)
    assert len(receiver.received("/down")) == n


def test_deliveries_paging(fresh_project, receiver):
    api = fresh_project
    w = create_webhook(api, receiver.url("/page"), ["live_stream.created"])
    sids = [api.create({})["id"] for _ in range(5)]
    receiver.wait(lambda rc: len(rc.received("/page")) >= 5 or None, what="5 events")
    full = deliveries(api, w["id"])
    assert full["total"] == 5 and full["limit"] == 20 and full["offset"] == 0
    assert [d["stream_id"] for d in full["deliveries"]] == sids[::-1]
    page = deliveries(api, w["id"], limit=2, offset=1)
    assert page["total"] == 5 and [d["stream_id"] for d in page["deliveries"]] == sids[::-1][1:3]
    assert deliveries(api, w["id"], offset=10)["deliveries"] == []
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}):
        r = api.get(f"/v1/webhooks/{w['id']}/deliveries", params=bad)
        assert r.status_code == 400 and r.json()["error"]["field"] == list(bad)[0], (bad, r.text)


def test_callback_url_without_webhook_is_unsigned(fresh_project, receiver):
    api = fresh_project
    s = api.create({"callback_url": receiver.url("/plain")})
    assert api.post(f"/v1/live-streams/{s['id']}/start").status_code == 200
    got = receiver.wait(lambda rc: (lambda e: e if len(e) >= 3 else None)(
        rc.received("/plain", s["id"])), what="created, starting, waiting")
    assert types(got) == ["live_stream.created", "live_stream.starting", "live_stream.waiting"]
    assert all("Onair-Signature" not in r["headers"] for r, _ in got)
    # A PUT is not a status change: callback_url is not told; webhooks are.
    w = create_webhook(api, receiver.url("/upd"), ["live_stream.updated"])
    r = api.put(f"/v1/live-streams/{s['id']}", json={"name": "renamed"})
    assert r.status_code == 200, r.text
    got = receiver.wait(lambda rc: rc.received("/upd", s["id"]), what="updated")
    assert got[0][1]["data"]["name"] == "renamed"
    verify_signature(got[0][0], w["secret"], got[0][0]["body"])
    time.sleep(0.3 * SLOW)
    assert "live_stream.updated" not in types(receiver.received("/plain", s["id"]))
    api.post(f"/v1/live-streams/{s['id']}/stop")


# ---------------------------------------------------------------- restart, SSRF


def test_pending_delivery_is_sent_after_a_restart(fresh_server):
    srv = fresh_server(extra_env=WEBHOOK_ENV)
    api = srv.new_project("restart")
    # A receiver's port with nobody listening: connection refused.
    probe = Receiver()
    port = probe.port
    probe.close()
    url = f"http://127.0.0.1:{port}/late"
    w = create_webhook(api, url, ["live_stream.created"])
    s = api.create({})

    def failed_once(_):
        d = deliveries(api, w["id"])["deliveries"]
        return d if d and d[0]["attempts"] >= 1 else None

    d = None
    deadline = time.time() + 15 * SLOW
    while not d:
        d = failed_once(None)
        assert time.time() < deadline, "no failed attempt recorded"
        time.sleep(0.05)
    assert d[0]["status"] == "pending" and d[0]["last_http_status"] is None
    assert d[0]["last_error"], d[0]
    srv.stop()
    late = Receiver(port)
    try:
        srv.start()
        api = srv.client(api.token)  # tokens survive restarts
        got = late.wait(lambda rc: rc.received("/late", s["id"]), timeout=30,
                        what="the event after restart")
        assert got[0][1]["type"] == "live_stream.created"
        verify_signature(got[0][0], w["secret"], got[0][0]["body"])
        deadline = time.time() + 10 * SLOW
        while deliveries(api, w["id"])["deliveries"][0]["status"] != "delivered":
            assert time.time() < deadline
            time.sleep(0.05)
    finally:
        late.close()


def test_private_urls_are_refused_by_default(fresh_server, receiver):
    srv = fresh_server()  # webhooks_allow_private off
    api = srv.new_project("ssrf")
    for url in (receiver.url(), "http://localhost:9/x", "http://127.1/", "http://[::1]:8080/",
                "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
                "http://192.168.0.1/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
                "https://[fe80::1]/", "http://100.64.0.1/"):
        r = api.post("/v1/webhooks", json={"url": url})
        assert r.status_code == 400, f"{url} -> {r.status_code} {r.text[:200]}"
        assert r.json()["error"]["field"] == "url", r.text
    assert api.get("/v1/webhooks").json()["webhooks"] == []
    # callback_url is checked when sending: the connection is refused and
    # the receiver hears nothing.
    s = api.create({"callback_url": receiver.url("/cb")})
    deadline = time.time() + 10 * SLOW
    while "refused: the host resolves to a private" not in srv.log_text():
        assert time.time() < deadline, "no refused attempt logged"
        time.sleep(0.1)
    assert not receiver.received("/cb", s["id"])
    # The signing secret and bodies never reach the log.
    assert "whsec_" not in srv.log_text()
