"""Error answers (docs/api.md "Errors"), hostile paths and sizes, and the
stream-creation rate limit."""
import pytest
import requests

from helpers import assert_error, expect, raw_get, raw_request


def test_healthz(server):
    r = requests.get(server.base_url + "/healthz", timeout=10)
    assert expect(r, 200) == {"status": "ok"}


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/live-streams/x/y/z/w",
                                  "/v1/live-streams/x/unknown-action", "/v2/live-streams"])
def test_unknown_route_404_json(api, path):
    assert_error(api.get(path), 404, "not_found")


def test_wrong_method_405_with_allow(api):
    r = api.request("PATCH", "/v1/live-streams/x", json={})
    err = assert_error(r, 405, "method_not_allowed")
    assert err
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "PUT", "DELETE"} <= allow, r.headers.get("Allow")
    assert "PATCH" not in allow
    r = api.request("DELETE", "/v1/live-streams")
    assert_error(r, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in r.headers.get("Allow", "").split(",")}
    r = api.get("/v1/live-streams/x/start")
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")


@pytest.mark.parametrize("sid", ["00000000-0000-4000-8000-000000000000", "abc",
                                 "12345fcd-7aea-492c-b9eb-b4b0cde0dc7e"])
def test_unknown_stream_404(api, sid):
    assert_error(api.get(f"/v1/live-streams/{sid}"), 404, "not_found")
    assert_error(api.put(f"/v1/live-streams/{sid}", json={"name": "x"}), 404, "not_found")
    assert_error(api.delete(f"/v1/live-streams/{sid}"), 404, "not_found")
    assert_error(api.post(f"/v1/live-streams/{sid}/start"), 404, "not_found")
    assert_error(api.post(f"/v1/live-streams/{sid}/stop"), 404, "not_found")


def test_put_validation_does_not_hide_404(api):
    # Unknown id with a bad body: either answer is an error, never a 2xx.
    r = api.put("/v1/live-streams/00000000-0000-4000-8000-000000000000", json={"framerate": 99})
    assert r.status_code in (400, 404), r.text


JUNK_PATHS = [
    "/v1/live-streams/%00",
    "/v1/live-streams/%00/start",
    "/v1/live-streams/../x",
    "/v1/live-streams/..%2f..%2fetc%2fpasswd",
    "/v1/live-streams/%2e%2e",
    "/v1/live-streams/%",
    "/v1/live-streams/%zz",
    "/v1/live-streams/" + "a" * 300,
    "/v1/live-streams/" + "a" * 5000,
    "/v1/live-streams/" + "%41" * 1000,
    "/v1/live-streams//start",
    "/v1/live-streams/x%2fstart",
    "/v1/live-streams/'%20OR%201=1--",
    "/v1/live-streams/%C0%AE%C0%AE",
    "/v1/live-streams/\xff",
]


@pytest.mark.parametrize("path", JUNK_PATHS, ids=range(len(JUNK_PATHS)))
def test_junk_paths(server, api, path):
    status, headers, body = raw_get(server.host, server.http_port, path,
                                    headers=f"Authorization: Bearer {api.token}\r\n".encode())
    assert status in (400, 404), (path[:80], status, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert b'"error"' in body
    assert server.alive()
    expect(requests.get(server.base_url + "/healthz", timeout=10), 200)


def test_body_over_1mib_is_413(server, api):
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    req = (f"POST /v1/live-streams HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           f"Authorization: Bearer {api.token}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status, headers, resp = raw_request(server.host, server.http_port, req, body=body)
    assert status == 413, (status, resp[:200])
    assert b"payload_too_large" in resp
    expect(requests.get(server.base_url + "/healthz", timeout=10), 200)
    # With requests too (it sends the whole body; the answer must still be 413
    # or the connection is cut — it must never be a 2xx).
    try:
        r = api.post("/v1/live-streams", data=body, headers={"Content-Type": "application/json"})
        assert_error(r, 413, "payload_too_large")
    except requests.ConnectionError:
        pass
    assert "x" * 1000 not in "".join(
        s["name"] for s in api.get("/v1/live-streams", params={"limit": 1000}).json()["streams"])


def test_body_just_under_limit_is_parsed(api):
    # ~1000 KiB of JSON whitespace around a valid object: not too large, so
    # validation (not the size limit) answers.
    body = b'{"name": "big"' + b" " * (1000 * 1024) + b"}"
    s = api.post("/v1/live-streams", data=body, headers={"Content-Type": "application/json"})
    assert s.status_code == 201, s.text[:200]
    assert s.json()["stream"]["name"] == "big"


def test_headers_over_16k_is_431(server):
    req = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (20 * 1024) +
           b"\r\nConnection: close\r\n\r\n")
    status, headers, body = raw_request(server.host, server.http_port, req)
    assert status == 431, (status, body[:200])
    expect(requests.get(server.base_url + "/healthz", timeout=10), 200)


@pytest.mark.parametrize("junk", [b"GARBAGE\r\n\r\n",
                                  b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                                  b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64])
def test_unparseable_request_400(server, junk):
    status, headers, body = raw_request(server.host, server.http_port, junk, timeout=5)
    assert status in (400, None), (status, body[:200])
    if status == 400:
        assert b"bad_request" in body
    assert server.alive()
    expect(requests.get(server.base_url + "/healthz", timeout=10), 200)


def test_create_rate_limit(fresh_server):
    srv = fresh_server(extra_env={"ONAIR_CREATE_RATE_LIMIT": "3"})
    c = srv.new_project("limited")
    other = srv.new_project("unlimited")
    for i in range(3):
        c.create({"name": f"r{i}"})
    r = c.post("/v1/live-streams", json={"name": "r3"})
    assert_error(r, 429, "rate_limited")
    retry = r.headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 60, retry
    # Nothing was created by the refused call.
    assert c.get("/v1/live-streams").json()["total"] == 3
    # The limit is per project.
    other.create({"name": "o1"})
    # Other calls of the limited project still work.
    expect(c.get("/v1/live-streams"), 200)
