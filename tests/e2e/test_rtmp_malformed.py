"""Hostile and broken RTMP peers, over raw sockets.

Each malformed connection must be closed (that connection only), the server
must log why (an `rtmp_close ... reason=...` line), /healthz must stay 200,
and a real ffmpeg publisher on another stream (the "bystander", running for
the whole module) must keep producing segments.

The raw client is checked first against the server with a well-formed
handshake and connect, so a closed connection below is due to the
malformation, not to the client.
"""
import os
import select
import socket
import struct
import subprocess
import time

import pytest
import requests

from media import (SLOW, Pusher, ffmpeg_argv, log_offset, server_log, start_live_server, status_of,
                   wait_log, wait_playlist, wait_progress, wait_status)

HS_SIZE = 1536


# ------------------------------------------------------------------ raw RTMP


def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(x):
    return b"\x00" + struct.pack(">d", x)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb
        out += amf_str(v) if isinstance(v, str) else amf_num(v)
    return out + b"\x00\x00\x09"


AMF_NULL = b"\x05"


def connect_payload(app="live"):
    return (amf_str("connect") + amf_num(1) +
            amf_obj({"app": app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; e2e)",
                     "tcUrl": f"rtmp://127.0.0.1/{app}"}))


def chunks(csid, type_id, payload, stream_id=0, ts=0, chunk_size=128):
    """A message as a fmt 0 chunk followed by fmt 3 continuations."""
    assert 2 <= csid < 64
    out = bytes([csid]) + (ts.to_bytes(3, "big") + len(payload).to_bytes(3, "big")
                           + bytes([type_id]) + struct.pack("<I", stream_id))
    first, rest = payload[:chunk_size], payload[chunk_size:]
    out += first
    while rest:
        out += bytes([0xC0 | csid]) + rest[:chunk_size]
        rest = rest[chunk_size:]
    return out


def set_chunk_size(n):
    return chunks(2, 1, struct.pack(">I", n))


class RawRtmp:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.port = self.sock.getsockname()[1]  # the server logs it as port=
        self.received = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n, timeout=5.0):
        deadline = time.time() + timeout * SLOW
        buf = b""
        while len(buf) < n:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            b = self.sock.recv(n - len(buf))
            if not b:
                raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
            buf += b
        return buf

    def handshake(self):
        """The simple (version 0) handshake: C0 C1, read S0 S1 S2, send C2."""
        c1 = struct.pack(">I", 0) + b"\x00\x00\x00\x00" + os.urandom(HS_SIZE - 8)
        self.send(b"\x03" + c1)
        s0 = self.recv_exact(1)
        assert s0 == b"\x03", s0
        s1 = self.recv_exact(HS_SIZE)
        s2 = self.recv_exact(HS_SIZE)
        assert s2[8:] == c1[8:], "S2 does not echo C1"
        self.send(s1)  # C2 echoes S1

    def read_until(self, needle, timeout=5.0):
        """Reads until `needle` appears in what the server sent; True if it did."""
        deadline = time.time() + timeout * SLOW
        while needle not in self.received:
            left = deadline - time.time()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not b:
                return needle in self.received
            self.received += b
        return True

    def closed_by_server(self, timeout=5.0):
        """True when the server closes the connection within timeout
        (whatever it sent before that is discarded)."""
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not b:
                return True
            self.received += b
        return False

    def send_quiet(self, data):
        """Sends, ignoring a reset (the server may close while we write)."""
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass

    def connect(self):
        self.send(chunks(3, 20, connect_payload()))
        assert self.read_until(b"NetConnection.Connect.Success"), self.received[-300:]

    def start_publish(self, key, expect=b"NetStream.Publish.Start"):
        """Handshake, connect and publish: what every publisher does first."""
        self.handshake()
        self.connect()
        self.publish(key, expect)

    def publish(self, key, expect=b"NetStream.Publish.Start"):
        self.send(chunks(3, 20, amf_str("createStream") + amf_num(2) + AMF_NULL))
        deadline = time.time() + 5 * SLOW
        while self.received.count(b"_result") < 2:
            assert time.time() < deadline, f"no createStream result: {self.received[-300:]}"
            self.read_until(b"\x00" * 70000, timeout=0.1)  # just reads a while
        self.send(chunks(8, 20, amf_str("publish") + amf_num(3) + AMF_NULL + amf_str(key)
                         + amf_str("live"), stream_id=1))
        assert self.read_until(expect), self.received[-300:]


def server_messages(data):
    """The messages in what the server sent after the handshake (RawRtmp's
    `received`; handshake() keeps S0 S1 S2 out of it): a minimal chunk-stream reader (fmt 0-3, Set
    Chunk Size honoured, no extended timestamps). Returns [(type_id, payload)]."""
    out, prev, partial, chunk_size, i = [], {}, {}, 128, 0
    while i < len(data):
        fmt, csid = data[i] >> 6, data[i] & 0x3F
        i += 1
        assert csid >= 2, "two- and three-byte basic headers are not used by onair"
        h = dict(prev.get(csid, {}))
        if fmt <= 2:
            i += 3
        if fmt <= 1:
            h["len"] = int.from_bytes(data[i:i + 3], "big")
            h["type"] = data[i + 3]
            i += 4
        if fmt == 0:
            i += 4
        prev[csid] = h
        buf = partial.get(csid, b"")
        take = min(chunk_size, h["len"] - len(buf))
        buf += data[i:i + take]
        i += take
        if len(buf) < h["len"]:
            partial[csid] = buf
            continue
        partial[csid] = b""
        out.append((h["type"], buf))
        if h["type"] == 1:
            chunk_size = int.from_bytes(buf[:4], "big") & 0x7FFFFFFF
    return out


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=4)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_api(live_server):
    c = live_server.new_project("rtmp-malformed")
    yield c
    c.close()


@pytest.fixture(scope="module")
def bystander(live_server, live_api, tmp_path_factory):
    s = live_api.create({"name": "bystander"})
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url, size="320x180"),
               tmp_path_factory.mktemp("bystander") / "ffmpeg.log", "bystander")
    try:
        wait_status(live_api, s["id"], "live", timeout=20)
        yield {"stream": s, "pusher": p, "url": s["playback_ids"][0]["playback_url"]}
    finally:
        p.kill()


@pytest.fixture
def raw(live_server, bystander):
    """Factory of raw connections (closed at the end of the test)."""
    conns = []

    def make():
        c = RawRtmp(live_server.rtmp_port)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.close()


def assert_unharmed(server, bystander, api):
    r = requests.get(server.base_url + "/healthz", timeout=10)
    assert r.status_code == 200, r.text
    assert server.alive(), server.logs()
    p = bystander["pusher"]
    assert p.alive(), f"the bystander's ffmpeg died: {p!r}\n{server.logs(30)}"
    assert status_of(api.get_stream(bystander["stream"]["id"])) == "live"
    wait_progress(bystander["url"])


def assert_closed_and_logged(conn, server, since, reason_part):
    assert conn.closed_by_server(), "the server kept the malformed connection open"
    # The close line names this connection (ip and port) and says why.
    return wait_log(server, ("rtmp_close", f" port={conn.port} ", "reason=" + reason_part),
                    since=since)


# ------------------------------------------------------------------ the raw client works


def test_raw_client_handshake_and_connect(raw, live_server, bystander, live_api):
    c = raw()
    c.handshake()
    c.connect()
    assert not c.closed_by_server(timeout=0.5)
    assert_unharmed(live_server, bystander, live_api)


# ------------------------------------------------------------------ handshake


def test_garbage_instead_of_handshake(raw, live_server, bystander, live_api):
    off = log_offset(live_server)
    c = raw()
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    c.send_quiet(req + os.urandom(HS_SIZE + 1 - len(req)))
    assert_closed_and_logged(c, live_server, off, "bad_handshake")
    assert_unharmed(live_server, bystander, live_api)


def test_c0_version_9(raw, live_server, bystander, live_api):
    off = log_offset(live_server)
    c = raw()
    c.send_quiet(b"\x09" + os.urandom(HS_SIZE))
    assert_closed_and_logged(c, live_server, off, "bad_handshake")
    assert_unharmed(live_server, bystander, live_api)


def test_silent_connection_does_not_block_others(raw, live_server, bystander, live_api):
    """A peer that connects and sends nothing (handshake timeout 10 s): the
    rest of the server goes on meanwhile."""
    silent = raw()
    half = raw()
    half.send(b"\x03" + os.urandom(100))  # C0 and a piece of C1, then nothing
    t0 = time.time()
    other = raw()
    other.handshake()
    other.connect()
    assert_unharmed(live_server, bystander, live_api)
    assert time.time() - t0 < 9, "test too slow to prove anything about the timeout"
    assert not silent.closed_by_server(timeout=0.2)


# ------------------------------------------------------------------ chunk stream


@pytest.mark.parametrize("size", [0, 0x80000000, 0xFFFFFFFF])
def test_invalid_set_chunk_size_closes(raw, live_server, bystander, live_api, size):
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    c.send_quiet(set_chunk_size(size) + chunks(3, 20, connect_payload()))
    assert_closed_and_logged(c, live_server, off, "protocol_error")
    assert b"NetConnection.Connect.Success" not in c.received
    assert_unharmed(live_server, bystander, live_api)


def test_huge_set_chunk_size_0x7fffffff(raw, live_server, bystander, live_api):
    """0x7FFFFFFF is the largest size the spec allows. The server may refuse
    it (close + log) or honour it; if it honours it, a message larger than
    the default chunk size must then arrive as a single chunk and work."""
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    c.send_quiet(set_chunk_size(0x7FFFFFFF) + chunks(3, 20, connect_payload(), chunk_size=1 << 20))
    if not c.read_until(b"NetConnection.Connect.Success", timeout=3):
        assert_closed_and_logged(c, live_server, off, "")
    assert_unharmed(live_server, bystander, live_api)


def test_chunk_size_change_in_the_middle_of_a_message(raw, live_server, bystander, live_api):
    """The CVE-2016-10191 setting: a message split across chunks with a Set
    Chunk Size arriving between its chunks. The server must reassemble it
    with the right sizes (the connect is answered) and not overrun."""
    c = raw()
    c.handshake()
    payload = connect_payload() + amf_obj({"pad": "x" * 300})
    assert len(payload) > 300
    whole = chunks(3, 20, payload)  # 128-byte chunks
    first_chunk = whole[:12 + 128]
    c.send(first_chunk)
    c.send(set_chunk_size(4096))
    c.send(bytes([0xC3]) + payload[128:])  # the rest: one chunk at the new size
    assert c.read_until(b"NetConnection.Connect.Success"), c.received[-200:]
    assert_unharmed(live_server, bystander, live_api)


@pytest.mark.parametrize("fmt", [1, 2, 3])
def test_header_on_never_seen_chunk_stream(raw, live_server, bystander, live_api, fmt):
    """fmt 1/2/3 reuse fields of an earlier fmt 0 header on that chunk
    stream; on a chunk stream never seen there is none."""
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    body = {1: b"\x00\x00\x00" + b"\x00\x00\x10" + b"\x14",
            2: b"\x00\x00\x00", 3: b""}[fmt]
    c.send_quiet(bytes([fmt << 6 | 7]) + body + b"A" * 64)
    assert_closed_and_logged(c, live_server, off, "protocol_error")
    assert_unharmed(live_server, bystander, live_api)


@pytest.mark.parametrize("length", [0xFFFFFF, 8 * 1024 * 1024 + 1])
def test_oversized_message_closes(raw, live_server, bystander, live_api, length):
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    hdr = bytes([3]) + (0).to_bytes(3, "big") + length.to_bytes(3, "big") + b"\x09" + b"\x01\0\0\0"
    c.send_quiet(hdr + b"\x17" * 128)
    assert_closed_and_logged(c, live_server, off, "protocol_error")
    assert_unharmed(live_server, bystander, live_api)


def test_too_many_chunk_streams(raw, live_server, bystander, live_api):
    """Hundreds of half-sent messages on distinct chunk streams."""
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    data = b""
    for i in range(300):
        csid = 64 + i  # two-byte basic header
        data += (bytes([0, i & 0xFF]) if csid < 320 else bytes([1, (csid - 64) & 0xFF,
                                                               (csid - 64) >> 8]))
        data += b"\0\0\0" + (1000).to_bytes(3, "big") + b"\x14" + b"\0\0\0\0" + b"x" * 10
    c.send_quiet(data)
    assert_closed_and_logged(c, live_server, off, "protocol_error")
    assert_unharmed(live_server, bystander, live_api)


# ------------------------------------------------------------------ messages


TRUNCATED_CONNECTS = {
    "string_length_past_end": b"\x02\x00\xffconn",
    "number_cut": amf_str("connect") + b"\x00\x3f\xf0\x00",
    "object_key_cut": amf_str("connect") + amf_num(1) + b"\x03\x00\x03ap",
    "object_without_end": amf_str("connect") + amf_num(1) + b"\x03\x00\x03app" + amf_str("live"),
    "unknown_marker": amf_str("connect") + amf_num(1) + b"\x42",
    "deep_nesting": amf_str("connect") + amf_num(1) + (b"\x03\x00\x01a") * 5000,
}


@pytest.mark.parametrize("name", sorted(TRUNCATED_CONNECTS))
def test_truncated_amf_connect(raw, live_server, bystander, live_api, name):
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    c.send_quiet(chunks(3, 20, TRUNCATED_CONNECTS[name]))
    assert_closed_and_logged(c, live_server, off, "protocol_error")
    assert b"NetConnection.Connect.Success" not in c.received
    assert_unharmed(live_server, bystander, live_api)


@pytest.mark.parametrize("type_id", [0x07, 0x63])
def test_unknown_message_type_closes(raw, live_server, bystander, live_api, type_id):
    """The issue: "unknown message types: close that connection only and log
    why"."""
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    c.connect()
    c.send_quiet(chunks(4, type_id, b"\x01\x02\x03\x04" * 8, stream_id=1))
    assert_closed_and_logged(c, live_server, off, "")
    assert_unharmed(live_server, bystander, live_api)


def test_broken_avc_sequence_header_from_publisher(raw, live_server, bystander, live_api):
    """A publisher whose H.264 configuration is garbage. The server may close
    the connection (protocol error) or skip the configuration with a warning
    (some muxers send an empty one first); either way it says so in its log,
    nothing is packaged from it, and the stream goes idle when the publisher
    leaves."""
    s = live_api.create({"name": "raw-publisher"})
    off = log_offset(live_server)
    c = raw()
    c.start_publish(s["stream_key"])
    wait_status(live_api, s["id"], "launching", timeout=5)
    # FLV video tag: keyframe + AVC (0x17), AVC sequence header (0), cts 0,
    # then an AVCDecoderConfigurationRecord cut after 3 bytes; then a
    # "keyframe" that would need it
    c.send_quiet(chunks(6, 9, b"\x17\x00\x00\x00\x00" + b"\x01\x64\x00", stream_id=1))
    c.send_quiet(chunks(6, 9, b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + b"\x88" * 64,
                        stream_id=1, ts=40))
    line = wait_log(live_server, "rtmp_", since=off,
                    exclude=("reason=eof", "rtmp_accept", "rtmp_handshake", "rtmp_publish",
                             "rtmp_command"))
    assert "rtmp_close" in line and "protocol_error" in line or "sequence_header" in line, line
    if "rtmp_close" not in line:
        assert not c.closed_by_server(timeout=0.5)
        c.close()
    else:
        assert c.closed_by_server()
    st = wait_status(live_api, s["id"], {"idle", "stopped"}, timeout=5)
    assert status_of(st) in ("idle", "stopped")
    assert "hls_segment stream=" + s["id"] not in server_log(live_server)[off:]
    assert_unharmed(live_server, bystander, live_api)


@pytest.mark.parametrize("tag,codec", [
    (b"\x90av01" + b"\x81\x00\x0c\x00", "av1"),          # E-RTMP SequenceStart (OBS 30)
    (b"\x91vp09" + b"\x00" * 16, "vp9"),                   # E-RTMP CodedFrames
    (b"\x14\x00" + b"\x00" * 16, "vp6 (On2 VP6)"),         # legacy codec_id 4
])
def test_unsupported_video_codec_closes_the_publisher(raw, live_server, bystander, live_api,
                                                      tag, codec):
    """Video onair cannot carry ends that publish (not a stream live with
    audio alone): the connection is closed, the log names the codec, and
    the stream's health says why."""
    s = live_api.create({"name": "raw-unsupported"})
    off = log_offset(live_server)
    c = raw()
    c.start_publish(s["stream_key"])
    wait_status(live_api, s["id"], "launching", timeout=5)
    c.send_quiet(chunks(6, 9, tag, stream_id=1))
    line = assert_closed_and_logged(c, live_server, off, "unsupported_video_codec")
    assert s["id"] in wait_log(live_server, ("rtmp_unsupported_codec", f"codec={codec} "),
                               since=off)
    wait_status(live_api, s["id"], "idle", timeout=5)
    r = live_api.get(f"/v1/live-streams/{s['id']}/health")
    assert r.status_code == 200, r.text
    err = r.json()["last_error"]
    assert err and err["message"].startswith(f"unsupported video codec {codec}:"), (err, line)
    assert_unharmed(live_server, bystander, live_api)


def test_encoder_clock_restart_keeps_the_playlist_going(raw, live_server, bystander, live_api,
                                                       tmp_path):
    """An encoder that restarts its timestamps on the same connection (here:
    4 s stamped 60-64 s, then the same 4 s stamped from 0 again). The
    playlist keeps growing through the second pass, with no discontinuity
    (the timeline just continues), and the log names the jump."""
    from test_audio_convert import flv_tags
    flv = tmp_path / "src.flv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", "4",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", "0",
                    "-c:a", "aac", "-f", "flv", str(flv)], check=True, timeout=60)
    tags = [(t, ts, body) for t, ts, body in flv_tags(flv.read_bytes()) if t in (8, 9)]
    headers = [x for x in tags if x[2][1:2] == b"\x00"][:2]  # AVC and AAC sequence headers
    media = [x for x in tags if x not in headers]
    s = live_api.create({"name": "clock-restart"})
    pl = s["playback_ids"][0]["playback_url"]
    off = log_offset(live_server)
    c = raw()
    c.start_publish(s["stream_key"])
    for t, _, body in headers:
        c.send(chunks(6 if t == 9 else 4, t, body, stream_id=1))

    def send_pass(base):
        t0 = time.time()
        for t, ts, body in media:
            time.sleep(max(0, t0 + ts / 1000 - time.time()))
            c.send(chunks(6 if t == 9 else 4, t, body, stream_id=1, ts=base + ts))

    send_pass(60000)
    first = wait_playlist(pl, lambda x: len(x.segments) >= 3, timeout=10)
    send_pass(0)
    seen = {x.uri for x in first.segments}
    after = wait_playlist(pl, lambda x: len({y.uri for y in x.segments} - seen) >= 3, timeout=10)
    assert not any(x.discontinuity for x in after.segments), after.text
    assert all(x.duration < 1.5 for x in after.segments), after.text
    wait_log(live_server, ("rtmp_timestamp_jump", f"stream={s['id']}"), since=off)
    assert_unharmed(live_server, bystander, live_api)


def test_play_refused(raw, live_server, bystander, live_api):
    """`play` (onair serves HLS, not RTMP playback) is refused cleanly."""
    off = log_offset(live_server)
    c = raw()
    c.handshake()
    c.connect()
    c.send_quiet(chunks(3, 20, amf_str("createStream") + amf_num(2) + AMF_NULL))
    c.send_quiet(chunks(8, 20, amf_str("play") + amf_num(0) + AMF_NULL + amf_str("x"),
                        stream_id=1))
    assert c.closed_by_server()
    assert b"NetStream.Play.Failed" in c.received
    wait_log(live_server, "rtmp_close", since=off)
    assert_unharmed(live_server, bystander, live_api)


# ------------------------------------------------------------------ refusals and acks


@pytest.mark.parametrize("case", ["unknown", "busy", "disabled", "deleted"])
def test_refused_publish_answers_badname_and_closes(raw, live_server, bystander, live_api, case):
    """A refused publish gets NetStream.Publish.BadName, then the server
    closes that connection and logs why; the stream's publisher (busy)
    goes on."""
    reason = {"unknown": "unknown_key", "busy": "busy", "disabled": "disabled",
              "deleted": "unknown_key"}[case]
    if case == "unknown":
        key = "nosuchkey" + os.urandom(8).hex()
    elif case == "busy":
        key = bystander["stream"]["stream_key"]
    else:
        s = live_api.create({"name": f"refused-{case}"})
        r = (live_api.post(f"/v1/live-streams/{s['id']}/disable") if case == "disabled"
             else live_api.delete(f"/v1/live-streams/{s['id']}"))
        assert r.status_code == 200, r.text
        key = s["stream_key"]
    off = log_offset(live_server)
    c = raw()
    c.start_publish(key, expect=b"NetStream.Publish.BadName")
    assert_closed_and_logged(c, live_server, off, "publish_refused")
    wait_log(live_server, ("rtmp_publish_refused", f"reason={reason}"), since=off)
    assert key not in server_log(live_server)[off:], "the stream key was logged in full"
    assert_unharmed(live_server, bystander, live_api)


def test_server_acknowledges_each_window(raw, live_server, bystander, live_api):
    """After the peer sets a 4096-byte acknowledgement window, the server
    acknowledges (type 3, the bytes received so far) once a window's worth
    of input has arrived. One window at a time, so that each one is sure to
    be read on its own."""
    c = raw()
    c.handshake()
    c.connect()
    c.send(chunks(2, 5, struct.pack(">I", 4096)))  # Window Acknowledgement Size

    def acks():
        return [int.from_bytes(p[:4], "big") for t, p in server_messages(c.received) if t == 3]

    for i in range(4):
        # 5 audio messages before publish (read and ignored, but counted)
        for _ in range(5):
            c.send(chunks(4, 8, b"\xaf\x01" + os.urandom(998)))
        deadline = time.time() + 5 * SLOW
        while len(acks()) < i + 1:
            assert time.time() < deadline, f"no acknowledgement for window {i + 1}: {acks()}"
            c.read_until(b"\xff" * 70000, timeout=0.1)  # just reads a while
    got = acks()
    assert got == sorted(got) and all(b - a >= 4096 for a, b in zip(got, got[1:])), got
    assert got[-1] >= 4 * 5 * 1000, got  # counts what was sent
    assert not c.closed_by_server(timeout=0.3)
    assert_unharmed(live_server, bystander, live_api)


def test_peer_that_never_reads_our_replies_is_closed(raw, live_server, bystander, live_api):
    """A peer that sends connect after connect and never reads the replies
    (each ~270 bytes for 47 sent): once the socket buffers are full the
    replies would queue in the server without end. Past 256 KiB queued the
    connection is closed (reason=write_backlog)."""
    off = log_offset(live_server)
    c = raw()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.handshake()
    batch = chunks(3, 20, connect_payload()) * 1000
    sent = 0
    try:
        while sent < 40 * 1024 * 1024:  # ~200 MB of replies asked for: far past any buffer
            c.sock.settimeout(10 * SLOW)
            c.sock.sendall(batch)
            sent += len(batch)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert_closed_and_logged(c, live_server, off, "write_backlog")
    assert_unharmed(live_server, bystander, live_api)


# ------------------------------------------------------------------ connection limits


def test_many_connections_from_one_ip(live_server, bystander, live_api):
    """More than the per-IP limit (50) of connections from 127.0.0.1: the
    excess is refused and logged, the server stays healthy, and once they
    are gone new connections work again."""
    off = log_offset(live_server)
    conns = []
    try:
        for _ in range(70):
            conns.append(RawRtmp(live_server.rtmp_port))
        deadline = time.time() + 3 * SLOW
        closed = set()
        while time.time() < deadline:
            r, _, _ = select.select([c.sock for c in conns if id(c) not in closed], [], [], 0.2)
            for sock in r:
                c = next(x for x in conns if x.sock is sock)
                try:
                    b = sock.recv(4096)
                except OSError:
                    b = b""
                if not b:
                    closed.add(id(c))
            if len(closed) >= 20:  # 70 + the bystander - 50
                break
        assert len(closed) >= 20, f"only {len(closed)} of 70 connections refused"
        assert len(conns) - len(closed) <= 50
        wait_log(live_server, ("rtmp_refused", "too_many_connections"), since=off)
        assert_unharmed(live_server, bystander, live_api)
    finally:
        for c in conns:
            c.close()
    # the slots come back: a new connection completes a handshake
    deadline = time.time() + 5 * SLOW
    while True:
        c = RawRtmp(live_server.rtmp_port)
        try:
            c.handshake()
            c.connect()
            break
        except (ConnectionError, OSError, AssertionError):
            assert time.time() < deadline, "connections stay refused after the others left"
            time.sleep(0.2)
        finally:
            c.close()
    assert_unharmed(live_server, bystander, live_api)


def test_connection_that_never_publishes_is_closed(tmp_path_factory):
    """rtmp_publish_timeout_ms (here 2 s): a peer that keeps its connection
    busy (an acknowledgement every 0.3 s, so the 30 s idle timeout never
    fires) without publishing is closed with reason=no_publish and frees
    its slot; a publisher on the same server stays."""
    srv = start_live_server(tmp_path_factory, extra_args=("--rtmp-publish-timeout-ms", "2000"))
    try:
        api = srv.new_project("publish-timeout")
        key = api.create({"name": "publishing"})["stream_key"]
        pub = RawRtmp(srv.rtmp_port)
        pub.start_publish(key)
        off = log_offset(srv)
        idle = RawRtmp(srv.rtmp_port)
        idle.handshake()
        idle.connect()
        t0 = time.time()
        closed = False
        while time.time() - t0 < 10 * SLOW:
            idle.send_quiet(chunks(2, 3, struct.pack(">I", 1000)))  # Acknowledgement
            pub.send_quiet(chunks(2, 3, struct.pack(">I", 1000)))
            if idle.closed_by_server(timeout=0.3):
                closed = True
                break
        assert closed, "a connection that never published stayed open"
        assert time.time() - t0 >= 1.5, "closed before the 2 s publish timeout"
        wait_log(srv, ("rtmp_close", f" port={idle.port} ", "reason=no_publish"), since=off)
        assert not pub.closed_by_server(timeout=0.5), srv.logs(20)
        closes = [ln for ln in server_log(srv)[off:].splitlines() if "rtmp_close" in ln]
        assert not any(f" port={pub.port} " in ln for ln in closes), closes
        pub.close()
        idle.close()
        api.close()
    finally:
        srv.stop()
