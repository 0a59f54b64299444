"""Shared checks for the onair end-to-end tests.

Everything here asserts what a client of the /v1 API sees, as documented in
docs/api.md (the contract, with seed 003). Nothing here knows how the server
is built.
"""
import base64
import hashlib
import hmac
import json
import re
import select
import socket
import time

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ANY_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
HEX_KEY_RE = re.compile(r"^[0-9a-f]{32,}$")
PLAYBACK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")

# Statuses that carry origin_host / origin_url (seed 003).
ORIGIN_STATUSES = {"waiting", "launching", "live", "idle"}

DVR_DEFAULTS = {
    "enabled": False,
    "destination": None,
    "stream_source": "auto",
    "resolution": "highest",
    "format": "mp4",
    "max_file_duration": 14400,
}

# The seed's own request examples (seed 003), replayed verbatim.
SEED_CREATE_BODY = {"name": "test-stream-name", "input_format": "rtmp", "output_format": "hls"}
SEED_UPDATE_BODY_TEXT = """{"name": "test-stream-update1", "input_format": "webrtc", "output_format": "cmaf",
"dvr": {
  "enabled": 1,
  "destination": {
    "url": "s3://us-west.s3.qencode.com/bucketname/path/to/dvr_output",
    "key": "ABCDE12345",
    "secret": "ABCDEFGH12345678",
    "permissions": "public-read"
  }
}}"""
SEED_DVR_SECRET = "ABCDEFGH12345678"
SEED_SIMULCAST_BODY_TEXT = """{
 "url": "rtmp://a.rtmp.youtube.com/live2",
 "stream_key": "1234-5678-abcd-efgh-3cm6"
}"""

# What curl sends with --data-raw and no -H Content-Type.
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}


def truthy(v):
    """dvr.enabled may be echoed as true or 1 (seed 003 shows both)."""
    return v is True or v == 1 and not isinstance(v, str)


def falsy(v):
    return v is False or v == 0 and not isinstance(v, str)


def as_list(dest):
    """dvr.destination is an object, a list of objects, or null."""
    if dest is None:
        return []
    if isinstance(dest, dict):
        return [dest]
    assert isinstance(dest, list), f"dvr.destination has type {type(dest).__name__}: {dest!r}"
    return dest


def json_body(resp):
    """The parsed JSON body; fails with the raw text when it is not JSON."""
    ctype = resp.headers.get("Content-Type", "")
    assert "application/json" in ctype, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code}: "
        f"Content-Type {ctype!r}, body {resp.text[:300]!r}")
    try:
        return resp.json()
    except ValueError:
        raise AssertionError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: "
                             f"body is not JSON: {resp.text[:300]!r}")


def describe(resp):
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:200].decode("utf-8", "replace")
    elif isinstance(body, str):
        body = body[:200]
    return (f"{req.method} {req.url} body={body!r} -> {resp.status_code} "
            f"{resp.text[:400]!r}")


def expect(resp, status):
    """Asserts the status code and returns the parsed JSON body."""
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    return json_body(resp)


def assert_error(resp, status, code=None, field=None, field_prefix=None):
    """Asserts the documented error object: {"error": {code, message, field}}."""
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    body = json_body(resp)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), describe(resp)
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], describe(resp)
    assert isinstance(err.get("message"), str) and err["message"], describe(resp)
    if code is not None:
        assert err["code"] == code, describe(resp)
    if isinstance(field, tuple):
        assert err.get("field") in field, f"expected field in {field!r}: {describe(resp)}"
    elif field is not None:
        assert err.get("field") == field, f"expected field {field!r}: {describe(resp)}"
    if field_prefix is not None:
        f = err.get("field") or ""
        assert f == field_prefix or f.startswith(field_prefix + "[") or \
            f.startswith(field_prefix + "."), f"expected field {field_prefix!r}...: {describe(resp)}"
    return err


def stream_of(resp, status=200):
    body = expect(resp, status)
    assert isinstance(body, dict) and isinstance(body.get("stream"), dict), describe(resp)
    return body["stream"]


def assert_stream_shape(s, server):
    """Field-by-field shape of the stream object (docs/api.md)."""
    assert UUID4_RE.match(s["id"]), s["id"]
    assert isinstance(s["name"], str) and 0 < len(s["name"]) <= 255
    assert s["server_urls"]["rtmp"] == f"rtmp://{server.public_host}:{server.rtmp_port}/live"
    assert HEX_KEY_RE.match(s["stream_key"]), s["stream_key"]
    assert isinstance(s["playback_ids"], list)
    for p in s["playback_ids"]:
        assert set(p) >= {"id", "policy", "created", "playback_url"}, p
        assert PLAYBACK_ID_RE.match(p["id"]), p
        assert p["policy"] in ("public", "authenticated"), p
        assert TS_RE.match(p["created"]), p
        host = s.get("playback_domain") or f"{server.public_host}:{server.http_port}"
        assert p["playback_url"] == f"http://{host}/hls/{p['id']}/index.m3u8", p
    assert isinstance(s.get("simulcast_targets"), list), s
    for t in s["simulcast_targets"]:
        assert UUID4_RE.match(t["id"]), t
        assert isinstance(t["url"], str) and isinstance(t["stream_key"], str), t
    st = s["status"]
    assert st["name"] in ("created", "starting", "waiting", "launching", "live", "idle",
                          "stopping", "stopped"), st
    assert TS_RE.match(st["timestamp"]), st
    assert TS_RE.match(s["created_at"]), s["created_at"]
    assert st["timestamp"] >= s["created_at"], s
    if st["name"] in ORIGIN_STATUSES:
        assert s.get("origin_host") == server.public_host, s
        assert isinstance(s.get("origin_url"), str) and s["origin_url"], s
    else:
        assert "origin_host" not in s, s
        assert "origin_url" not in s, s
    assert "playback_domain" in s and (s["playback_domain"] is None
                                       or isinstance(s["playback_domain"], str))
    p = s["params"]
    assert p["input_format"] in ("rtmp", "webrtc", "srt"), p
    assert p["output_format"] in ("hls", "cmaf", "dash", "ll-hls"), p
    assert isinstance(p["framerate"], (int, float)) and not isinstance(p["framerate"], bool), p
    assert p["mode"] in ("auto", "passthrough", "custom"), p
    assert p["callback_url"] is None or isinstance(p["callback_url"], str), p
    assert isinstance(p["stream_timeout"], int) and 10 <= p["stream_timeout"] <= 86400, p
    assert isinstance(p["allowed_referer_domains"], list), p
    d = p["dvr"]
    assert set(d) >= set(DVR_DEFAULTS), d
    for dest in as_list(d["destination"]):
        assert "secret" not in dest, f"dvr secret returned: {dest}"


def assert_default_params(p):
    assert p["input_format"] == "rtmp"
    assert p["output_format"] == "hls"
    assert p["framerate"] == 0
    assert p["mode"] == "auto"
    assert p["callback_url"] is None
    assert p["stream_timeout"] == 120
    assert p["allowed_referer_domains"] == []
    d = p["dvr"]
    assert falsy(d["enabled"]), d
    for k in ("destination", "stream_source", "resolution", "format", "max_file_duration"):
        assert d[k] == DVR_DEFAULTS[k], (k, d)


# ---- JWT building (to forge tokens a real attacker could build) ----

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, c, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c)), s


def jwt_hs256(header, claims, secret):
    signing = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
               b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


# ---- raw HTTP (requests/urllib3 normalise paths; these do not) ----

def raw_request(host, port, data, timeout=10.0, body=None, chunk=65536):
    """Sends the bytes `data` (request line + headers), then optionally `body`
    in chunks, stopping early when the server answers (like curl does).
    Returns (status, headers dict lowercased, body bytes); status None when
    the server closed without answering."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        answered = False
        if body:
            off = 0
            while off < len(body):
                r, _, _ = select.select([s], [], [], 0)
                if r:
                    answered = True
                    break
                try:
                    off += s.send(body[off:off + chunk])
                except (BrokenPipeError, ConnectionResetError):
                    break
        del answered
        buf = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not got:
                break
            buf += got
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
        if not buf:
            return None, {}, b""
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, rest
    finally:
        s.close()


def raw_get(host, port, path, headers=b"", timeout=10.0):
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n".encode("latin-1")
           + headers + b"\r\n")
    return raw_request(host, port, req, timeout=timeout)
