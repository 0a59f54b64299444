"""The HTTP/1.1 layer of the real server, at the socket level.

requests/urllib3 normalise paths, add headers and never pipeline, so these
tests speak raw HTTP over sockets: pipelining, keep-alive, HEAD, size limits,
malformed requests, 404/405 bodies and the CORS preflight.
"""
import json
import socket
import time

import pytest

TIMEOUT = 10


class Conn:
    """A raw HTTP/1.1 client connection that can read several responses."""

    def __init__(self, server, timeout=TIMEOUT):
        self.sock = socket.create_connection((server.host, server.http_port), timeout=timeout)
        self.buf = b""
        self.host = f"{server.host}:{server.http_port}"

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request_bytes(self, method, path, headers=(), body=b"", version="HTTP/1.1"):
        lines = [f"{method} {path} {version}", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _fill(self):
        got = self.sock.recv(65536)
        if not got:
            raise EOFError("server closed the connection")
        self.buf += got

    def response(self, head_only=False):
        """Reads one response: (status, headers with lowercased names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[:2]
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            k = k.strip().lower()
            assert k not in headers or k == "set-cookie", f"duplicate header {k}: {lines}"
            headers[k] = v.strip()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status), headers, body

    def closed_by_server(self, timeout=5):
        """True when the server closes the connection (EOF or reset) in time."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def error_of(status, headers, body, want_status, want_code=None):
    """Asserts the JSON error object and returns its "error" member."""
    assert status == want_status, f"want {want_status}, got {status} {body[:300]!r}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert int(headers["content-length"]) == len(body)
    doc = json.loads(body)
    err = doc["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    assert "field" in err
    if want_code is not None:
        assert err["code"] == want_code, doc
    return err


def send_expect_error(server, data, body=b"", chunk=65536):
    """Sends a request that the server rejects; keeps sending the body
    (like curl) until the server answers or stops reading, then reads the
    single answer. Returns (status, headers, body, closed_afterwards)."""
    with Conn(server) as c:
        c.send(data)
        off = 0
        c.sock.settimeout(0.5)
        while off < len(body):
            try:
                off += c.sock.send(body[off:off + chunk])
            except (BrokenPipeError, ConnectionResetError):
                break
            except socket.timeout:
                break  # the server stopped reading: it has answered
        c.sock.settimeout(TIMEOUT)
        status, headers, rbody = c.response()
        return status, headers, rbody, c.closed_by_server()


def test_healthz_basic_headers(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz"))
        status, h, body = c.response()
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert h["content-length"] == str(len(body))
    assert h["connection"].lower() == "keep-alive"
    assert h["server"] == "onair"


def test_pipelining_two_requests_in_one_send(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz") + c.request_bytes("GET", "/healthz"))
        first = c.response()
        second = c.response()
    for status, _, body in (first, second):
        assert status == 200
        assert json.loads(body) == {"status": "ok"}


def test_pipelining_keeps_request_order(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz")
               + c.request_bytes("GET", "/no/such/route")
               + c.request_bytes("PATCH", "/v1/live-streams")
               + c.request_bytes("HEAD", "/healthz")
               + c.request_bytes("GET", "/healthz"))
        statuses = [c.response()[0] for _ in range(3)]
        head_status, head_h, _ = c.response(head_only=True)
        last = c.response()
    assert statuses == [200, 404, 405]
    assert head_status == 200 and int(head_h["content-length"]) > 0
    assert last[0] == 200 and json.loads(last[2]) == {"status": "ok"}


def test_keepalive_reuses_the_connection(server):
    with Conn(server) as c:
        for _ in range(20):
            c.send(c.request_bytes("GET", "/healthz"))
            status, h, body = c.response()
            assert status == 200 and json.loads(body) == {"status": "ok"}
            assert h["connection"].lower() == "keep-alive"


def test_head_sends_length_but_no_body(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz"))
        _, _, get_body = c.response()
        c.send(c.request_bytes("HEAD", "/healthz"))
        status, h, _ = c.response(head_only=True)
        assert status == 200
        assert int(h["content-length"]) == len(get_body)
        # A body after the HEAD answer would be read here instead of a status line.
        c.send(c.request_bytes("GET", "/healthz"))
        status, _, body = c.response()
        assert status == 200 and body == get_body


def test_http10_closes_after_response(server):
    with Conn(server) as c:
        c.send(f"GET /healthz HTTP/1.0\r\nHost: {c.host}\r\n\r\n".encode())
        status, h, body = c.response()
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert h["connection"].lower() == "close"
        assert c.closed_by_server()


def test_connection_close_is_honoured(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz", headers=[("Connection", "close")]))
        status, h, _ = c.response()
        assert status == 200 and h["connection"].lower() == "close"
        assert c.closed_by_server()


def test_body_over_limit_is_413(server):
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    with Conn(server) as c:
        head = c.request_bytes("POST", "/v1/live-streams",
                               headers=[("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
    status, h, rbody, closed = send_expect_error(server, head, body)
    error_of(status, h, rbody, 413, "payload_too_large")
    assert h["connection"].lower() == "close"
    assert closed
    # docs/api.md: every answer carries the CORS headers, also the server's
    # own, so a page's script can read why its request failed.
    assert h.get("access-control-allow-origin") == "*"
    assert "Retry-After" in h.get("access-control-expose-headers", "")


def test_chunked_body_over_limit_is_413(server):
    chunk = b"x" * 65536
    piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    body = piece * 32 + b"0\r\n\r\n"  # 2 MiB in chunks
    with Conn(server) as c:
        head = c.request_bytes("POST", "/v1/live-streams",
                               headers=[("Content-Type", "application/json"),
                                        ("Transfer-Encoding", "chunked")])
    status, h, rbody, closed = send_expect_error(server, head, body)
    error_of(status, h, rbody, 413, "payload_too_large")
    assert closed


def test_huge_headers_are_431_or_413(server):
    with Conn(server) as c:
        data = c.request_bytes("GET", "/healthz", headers=[("X-Big", "a" * 20 * 1024)])
    status, h, body, closed = send_expect_error(server, data)
    assert status in (431, 413), status
    err = error_of(status, h, body, status)
    assert err["code"] in ("request_header_fields_too_large", "payload_too_large")
    assert closed


@pytest.mark.parametrize("garbage", [
    b"HELLO\r\n\r\n",
    b"GET /healthz HTTP/9.9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"POST /v1/live-streams HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST /v1/live-streams HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
])
def test_malformed_request_is_400(server, garbage):
    status, h, body, closed = send_expect_error(server, garbage)
    error_of(status, h, body, 400, "bad_request")
    assert h["connection"].lower() == "close"
    assert closed


def test_unknown_route_is_404_json(server):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/definitely/not/here"))
        err = error_of(*c.response(), 404, "not_found")
    assert "/definitely/not/here" in err["message"]


@pytest.mark.parametrize("path", [
    "/healthz/", "//healthz", "/./healthz", "/v1/../healthz", "/v1/live-streams/a%2Fb",
])
def test_odd_paths_do_not_match(server, path):
    with Conn(server) as c:
        c.send(c.request_bytes("GET", path))
        error_of(*c.response(), 404, "not_found")


def test_404_message_is_bounded_and_clean(server):
    path = "/x%01" + "y" * 3000
    with Conn(server) as c:
        c.send(c.request_bytes("GET", path))
        err = error_of(*c.response(), 404, "not_found")
    assert len(err["message"]) < 300
    assert all(0x20 <= ord(ch) < 0x7f for ch in err["message"])


def test_wrong_method_is_405_with_allow(server):
    with Conn(server) as c:
        c.send(c.request_bytes("PATCH", "/v1/live-streams"))
        status, h, body = c.response()
    error_of(status, h, body, 405, "method_not_allowed")
    allow = {m.strip() for m in h["allow"].split(",")}
    assert "POST" in allow


def test_options_preflight(server):
    with Conn(server) as c:
        c.send(c.request_bytes("OPTIONS", "/v1/live-streams", headers=[
            ("Origin", "http://example.test"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization, content-type")]))
        status, h, body = c.response(head_only=True)
        # the connection stays usable: no stray body bytes
        c.send(c.request_bytes("GET", "/healthz"))
        after = c.response()
    assert status in (200, 204)
    assert h["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in h["access-control-allow-methods"].split(",")}
    assert "POST" in methods
    allowed_headers = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "POST" in {m.strip() for m in h["allow"].split(",")}
    assert after[0] == 200
    # API answers let page scripts read Retry-After (429) and ETag too.
    exposed = {x.strip().lower() for x in after[1]["access-control-expose-headers"].split(",")}
    assert {"retry-after", "etag", "content-length"} <= exposed


def test_options_unknown_path_is_404(server):
    with Conn(server) as c:
        c.send(c.request_bytes("OPTIONS", "/no/such/thing"))
        error_of(*c.response(), 404, "not_found")


def test_server_survives_abrupt_clients(server):
    # clients that vanish mid-request must not hurt the server
    for data in (b"GET /healthz HTTP/1.1\r\nHost: x", b"POST /v1/live-streams HTTP/1.1\r\n"
                 b"Content-Length: 100\r\n\r\n{", b"GET /healthz HTTP/1.1\r\n\r\n" * 50):
        s = socket.create_connection((server.host, server.http_port), timeout=TIMEOUT)
        s.sendall(data)
        s.close()
    time.sleep(0.1)
    with Conn(server) as c:
        c.send(c.request_bytes("GET", "/healthz"))
        assert c.response()[0] == 200
