"""Simulcast: a live stream pushed by RTMP(S) to its simulcast targets.

Real receivers on loopback: a second onair stream (RTMP and RTMPS) and
nginx with libnginx-mod-rtmp recording what it gets; ffprobe checks what
they received. Per-target state is read from the stream object
(simulcast_targets[].status) and events from the server log.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import OnairServer, free_port
from media import (SLOW, SEGMENT_MS, Pusher, assert_av_streams, ffmpeg_argv, ffprobe_streams, hls_url, log_offset,
                   playback_id, pusher, wait_log, wait_playlist, wait_progress,
                   wait_status)  # noqa: F401 (pusher is a fixture)

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory):
    srv = OnairServer(tmp_path_factory.mktemp("onair-simulcast"))
    srv.start(extra_args=["--hls-segment-ms", str(SEGMENT_MS), "--hls-window", "6"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sim_api(sim_server):
    c = sim_server.new_project("simulcast")
    yield c
    c.close()


def add_target(api, sid, url, key):
    r = api.post(f"/v1/live-streams/{sid}/simulcast-targets", json={"url": url, "stream_key": key})
    assert r.status_code == 200, f"add target -> {r.status_code} {r.text[:300]}"
    ts = r.json()["stream"]["simulcast_targets"]
    found = [t for t in ts if t["url"] == url and t["stream_key"] == key]
    assert found, ts
    return found[-1]["id"]


def delete_target(api, sid, tid):
    r = api.delete(f"/v1/live-streams/{sid}/simulcast-targets/{tid}")
    assert r.status_code == 200, f"delete target -> {r.status_code} {r.text[:300]}"
    return r.json()["stream"]


def target_status(api, sid, tid):
    for t in api.get_stream(sid)["simulcast_targets"]:
        if t["id"] == tid:
            st = t["status"]
            assert set(st) >= {"name", "reason", "since"}, st
            assert st["name"] in ("idle", "connecting", "live", "error"), st
            return st
    raise AssertionError(f"target {tid} not on stream {sid}")


def wait_target(api, sid, tid, want, timeout=20, history=None):
    """Polls the target's status until its name is in `want`; returns it."""
    want = {want} if isinstance(want, str) else set(want)
    seen = history if history is not None else []
    deadline = time.time() + timeout * SLOW
    while True:
        st = target_status(api, sid, tid)
        if not seen or seen[-1] != st["name"]:
            seen.append(st["name"])
        if st["name"] in want:
            return st
        if time.time() > deadline:
            raise AssertionError(f"target {tid}: status never became {sorted(want)} within "
                                 f"{timeout * SLOW}s; seen {seen}; last {st}")
        time.sleep(0.1)


def start_source(api, server, pusher_factory):
    """A stream pushed by ffmpeg until it is live with a segment."""
    s = api.create({"name": "simulcast-source"})
    p = pusher_factory(server, s["stream_key"])
    wait_status(api, s["id"], "live", timeout=20)
    url = hls_url(server, playback_id(s))
    wait_playlist(url, lambda pl: pl.segments, timeout=15)
    return s, p, url


def assert_hls_av(url, what):
    pl = wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=20)
    seg = url.rsplit("/", 1)[0] + "/" + pl.segments[-1].uri
    assert_av_streams(ffprobe_streams(seg), what)


# ---------------------------------------------------------------- nginx-rtmp


class NginxRtmp:
    """nginx + libnginx-mod-rtmp on a loopback port, recording every
    publish to record_dir/<stream key>.flv."""

    def __init__(self, tmp):
        self.dir = Path(tmp)
        self.record_dir = self.dir / "rec"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.log = self.dir / "error.log"
        self.conf.write_text(f"""
load_module {NGINX_RTMP_MODULE};
daemon off;
master_process off;
error_log {self.log} info;
pid {self.dir}/nginx.pid;
events {{}}
rtmp {{
  server {{
    listen 127.0.0.1:{self.port};
    application live {{
      live on;
      record all;
      record_path {self.record_dir};
      record_unique off;
    }}
  }}
}}
""")
        self.proc = None

    @property
    def url(self):
        return f"rtmp://127.0.0.1:{self.port}/live"

    def record(self, key):
        return self.record_dir / f"{key}.flv"

    def start(self):
        assert self.proc is None
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-e", str(self.log),
                                      "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            assert self.proc.poll() is None, f"nginx exited: {self.logs()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.port}: {self.logs()}")

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def logs(self):
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no nginx log)"


@pytest.fixture
def nginx(tmp_path):
    if not (shutil.which("nginx") and os.path.exists(NGINX_RTMP_MODULE)):
        pytest.skip("nginx with libnginx-mod-rtmp is not installed")
    n = NginxRtmp(tmp_path / "nginx")
    n.start()
    yield n
    n.kill()


def wait_growing(path, timeout=15, min_size=50_000):
    """Waits until the file exists, is at least min_size bytes, and still grows."""
    deadline = time.time() + timeout * SLOW
    last = -1
    while time.time() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size >= min_size and last >= min_size and size > last:
            return size
        last = size
        time.sleep(0.5)
    raise AssertionError(f"{path} did not grow past {min_size} bytes within {timeout * SLOW}s "
                         f"(size {last})")


def assert_flv_av(path, what):
    # A copy: ffprobe reads a stable file while nginx goes on appending.
    snap = path.with_suffix(".snap.flv")
    shutil.copyfile(path, snap)
    assert_av_streams(ffprobe_streams(snap), what)


# ---------------------------------------------------------------- a receiver that stops reading

def amf_str(s):
    b = s.encode(); return b"\x02" + struct.pack(">H", len(b)) + b
def amf_num(n): return b"\x00" + struct.pack(">d", n)
AMF_NULL = b"\x05"
def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode(); out += struct.pack(">H", len(kb)) + kb + v
    return out + b"\x00\x00\x09"

def chunk(csid, mtype, msid, payload):
    return (bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", len(payload))[1:] + bytes([mtype])
            + struct.pack("<I", msid) + payload)

class SlowRtmp:
    """Accepts one publisher, answers connect/createStream/publish, then never reads again."""
    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.ls.bind(("127.0.0.1", 0)); self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.published = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()
    def run(self):
        while True:
            try: c, _ = self.ls.accept()
            except OSError: return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()
    def recv_n(self, c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x: raise EOFError
            b += x
        return b
    def serve(self, c):
        try:
            c0c1 = self.recv_n(c, 1537)
            c.sendall(b"\x03" + b"\x00" * 1536 + c0c1[1:])
            self.recv_n(c, 1536)
            buf = b""; state = 0
            while state < 3:
                x = c.recv(65536)
                if not x: return
                buf += x
                if state == 0 and b"connect" in buf:
                    c.sendall(chunk(2, 1, 0, struct.pack(">I", 4096)) +
                              chunk(3, 20, 0, amf_str("_result") + amf_num(1) + amf_obj({}) +
                                    amf_obj({"level": amf_str("status"), "code": amf_str("NetConnection.Connect.Success")})))
                    state = 1; buf = b""
                elif state == 1 and b"createStream" in buf:
                    c.sendall(chunk(3, 20, 0, amf_str("_result") + amf_num(4) + AMF_NULL + amf_num(1)))
                    state = 2; buf = b""
                elif state == 2 and b"publish" in buf:
                    c.sendall(chunk(3, 20, 1, amf_str("onStatus") + amf_num(0) + AMF_NULL +
                                    amf_obj({"level": amf_str("status"), "code": amf_str("NetStream.Publish.Start")})))
                    state = 3
            self.published.set()
            # never read again
        except (EOFError, OSError):
            pass
    def close(self):
        self.ls.close()
        for c in self.conns:
            try: c.close()
            except OSError: pass


# ---------------------------------------------------------------- tests


def test_target_is_another_stream_on_the_same_server(sim_server, sim_api, pusher):
    """(1) A → B on the same onair: B goes live, B's HLS is h264 + aac."""
    b = sim_api.create({"name": "simulcast-receiver"})
    since = log_offset(sim_server)
    a, _, a_url = start_source(sim_api, sim_server, pusher)
    tid = add_target(sim_api, a["id"], f"rtmp://127.0.0.1:{sim_server.rtmp_port}/live",
                     b["stream_key"])
    st = wait_target(sim_api, a["id"], tid, "live")
    assert st["reason"] is None, st
    wait_log(sim_server, ("event", "type=simulcast_target.connecting", a["id"]), since=since)
    wait_log(sim_server, ("event", "type=simulcast_target.live", a["id"]), since=since)
    wait_status(sim_api, b["id"], "live", timeout=20)
    assert_hls_av(hls_url(sim_server, playback_id(b)), "B (restreamed from A)")
    # the source is unaffected
    wait_progress(a_url, timeout=6)
    # B was fed by RTMP: its input_format says so
    assert sim_api.get_stream(b["id"])["params"]["input_format"] == "rtmp"


def test_nginx_rtmp_receives_and_records(sim_server, sim_api, pusher, nginx):
    """(2) nginx-rtmp records what the pusher sends: a valid FLV with h264 + aac."""
    a, _, _ = start_source(sim_api, sim_server, pusher)
    tid = add_target(sim_api, a["id"], nginx.url, "nginxkey1")
    wait_target(sim_api, a["id"], tid, "live")
    wait_growing(nginx.record("nginxkey1"))
    time.sleep(2)
    assert_flv_av(nginx.record("nginxkey1"), "nginx recording")


def test_receiver_restart_reconnects(sim_server, sim_api, pusher, nginx):
    """(3) nginx dies and comes back: error/connecting, then live again, and
    data flows again."""
    a, _, a_url = start_source(sim_api, sim_server, pusher)
    tid = add_target(sim_api, a["id"], nginx.url, "restartkey")
    wait_target(sim_api, a["id"], tid, "live")
    rec = nginx.record("restartkey")
    wait_growing(rec)
    nginx.kill()
    seen = []
    st = wait_target(sim_api, a["id"], tid, {"error", "connecting"}, history=seen)
    if st["name"] == "error":
        assert st["reason"], st
    rec.unlink()
    # the source keeps going while its target is away
    wait_progress(a_url, timeout=6)
    nginx.start()
    wait_target(sim_api, a["id"], tid, "live", timeout=40, history=seen)
    assert "error" in seen or "connecting" in seen, seen
    wait_growing(rec)
    assert_flv_av(rec, "nginx recording after the restart")


def test_add_and_remove_target_while_live(sim_server, sim_api, pusher, nginx):
    """(4) Adding a target to a live stream starts it at once; removing it
    stops it at once."""
    a, _, _ = start_source(sim_api, sim_server, pusher)
    time.sleep(1)
    t0 = time.time()
    tid = add_target(sim_api, a["id"], nginx.url, "addkey")
    st = wait_target(sim_api, a["id"], tid, "live", timeout=10)
    assert time.time() - t0 < 10 * SLOW, st
    rec = nginx.record("addkey")
    wait_growing(rec)
    since = log_offset(sim_server)
    s = delete_target(sim_api, a["id"], tid)
    assert all(t["id"] != tid for t in s["simulcast_targets"]), s
    wait_log(sim_server, ("simulcast_state", f"target={tid}", "state=idle"), since=since)
    wait_log(sim_server, ("event", "type=simulcast_target.idle", a["id"]), since=since)
    # nginx sees the publisher go: the recording stops growing
    time.sleep(1.5)
    size = rec.stat().st_size
    time.sleep(2)
    assert rec.stat().st_size == size, "the recording still grows after the target was removed"


def test_dead_target_shows_error_and_spares_the_source(sim_server, sim_api, pusher, nginx):
    """(5) A target on a closed port: error with a reason, retried; the
    source's ingest and HLS and a healthy second target are unaffected."""
    a, _, a_url = start_source(sim_api, sim_server, pusher)
    dead_port = free_port()
    dead = add_target(sim_api, a["id"], f"rtmp://127.0.0.1:{dead_port}/live", "deadkey")
    good = add_target(sim_api, a["id"], nginx.url, "goodkey")
    st = wait_target(sim_api, a["id"], dead, "error", timeout=15)
    assert st["reason"] and "refused" in st["reason"].lower(), st
    wait_target(sim_api, a["id"], good, "live")
    wait_growing(nginx.record("goodkey"))
    # retried with backoff: it goes through connecting again (briefly, the
    # port refuses at once) and back to error
    since = log_offset(sim_server)
    wait_log(sim_server, ("simulcast_state", f"target={dead}", "state=connecting"), since=since,
             timeout=10)
    wait_log(sim_server, ("simulcast_state", f"target={dead}", "state=error", "refused"),
             since=since, timeout=10)
    assert target_status(sim_api, a["id"], dead)["name"] in ("error", "connecting")
    assert sim_api.get_stream(a["id"])["status"]["name"] == "live"
    wait_progress(a_url, timeout=6)
    assert_hls_av(a_url, "source with a dead target")


def test_stream_end_stops_targets(sim_server, sim_api, pusher, nginx):
    """The source's publisher leaves: every target goes idle."""
    a, p, _ = start_source(sim_api, sim_server, pusher)
    tid = add_target(sim_api, a["id"], nginx.url, "endkey")
    wait_target(sim_api, a["id"], tid, "live")
    p.stop()
    st = wait_target(sim_api, a["id"], tid, "idle", timeout=10)
    assert st["reason"] is None, st


def test_target_url_without_port_or_bad_host_errors(sim_server, sim_api, pusher):
    """A host that does not resolve: error with a reason naming it."""
    a, _, _ = start_source(sim_api, sim_server, pusher)
    tid = add_target(sim_api, a["id"], "rtmp://no-such-host.invalid/live", "k")
    st = wait_target(sim_api, a["id"], tid, "error", timeout=20)
    assert "no-such-host.invalid" in st["reason"], st


def rtmps_server(tmp_path_factory, env):
    srv = OnairServer(tmp_path_factory.mktemp("onair-rtmps-sim"))
    srv.rtmps_port = free_port()
    srv.start(extra_env=env,
              extra_args=["--hls-segment-ms", str(SEGMENT_MS),
                          "--rtmps", f"127.0.0.1:{srv.rtmps_port}"])
    return srv


def test_rtmps_target_on_self_signed_onair(tmp_path_factory, pusher):
    """(6) RTMPS: onair pushes to its own rtmps port (self-signed, so
    simulcast_tls_verify=0)."""
    srv = rtmps_server(tmp_path_factory, {"ONAIR_SIMULCAST_TLS_VERIFY": "0"})
    try:
        api = srv.new_project("rtmps")
        b = api.create({"name": "rtmps-receiver"})
        a, _, _ = start_source(api, srv, pusher)
        tid = add_target(api, a["id"], f"rtmps://127.0.0.1:{srv.rtmps_port}/live",
                         b["stream_key"])
        wait_target(api, a["id"], tid, "live")
        wait_status(api, b["id"], "live", timeout=20)
        assert_hls_av(hls_url(srv, playback_id(b)), "B (restreamed over RTMPS)")
        assert "rtmps" in srv.log_text()
    finally:
        srv.stop()


def test_rtmps_verify_refuses_self_signed(tmp_path_factory, pusher):
    """With verification on (the default) a self-signed target is an error
    that says why."""
    srv = rtmps_server(tmp_path_factory, {})
    try:
        api = srv.new_project("rtmps-verify")
        b = api.create({"name": "rtmps-receiver"})
        a, _, _ = start_source(api, srv, pusher)
        tid = add_target(api, a["id"], f"rtmps://127.0.0.1:{srv.rtmps_port}/live",
                         b["stream_key"])
        st = wait_target(api, a["id"], tid, "error")
        assert "certificate" in st["reason"], st
        assert api.get_stream(b["id"])["status"]["name"] != "live"
    finally:
        srv.stop()


def test_slow_target_drops_and_spares_the_others(sim_server, sim_api, nginx, tmp_path):
    """A target that stops reading: its queue fills, frames are dropped
    (counted in status.dropped_frames); the source and a healthy target go on."""
    slow = SlowRtmp()
    a = sim_api.create({"name": "simulcast-heavy-source"})
    # ~30 Mbit/s of filler-padded CBR so the slow target falls behind in seconds
    argv = ffmpeg_argv(f"rtmp://127.0.0.1:{sim_server.rtmp_port}/live/{a['stream_key']}")
    i = argv.index("-f", argv.index("-c:a"))
    argv[i:i] = ["-b:v", "30M", "-minrate", "30M", "-maxrate", "30M", "-bufsize", "2M",
                 "-x264-params", "nal-hrd=cbr:filler=1"]
    heavy = Pusher(argv, tmp_path / "heavy.log", "ffmpeg-heavy")
    try:
        wait_status(sim_api, a["id"], "live", timeout=20)
        a_url = hls_url(sim_server, playback_id(a))
        wait_playlist(a_url, lambda pl: pl.segments, timeout=15)
        good = add_target(sim_api, a["id"], nginx.url, "besideslow")
        tid = add_target(sim_api, a["id"], f"rtmp://127.0.0.1:{slow.port}/live", "slowkey")
        assert slow.published.wait(10 * SLOW), "the slow receiver never saw a publish"
        deadline = time.time() + 60 * SLOW
        while True:
            st = target_status(sim_api, a["id"], tid)
            if st.get("dropped_frames", 0) > 0:
                break
            assert time.time() < deadline, f"no frame dropped for the slow target: {st}"
            time.sleep(0.5)
        assert sim_api.get_stream(a["id"])["status"]["name"] == "live"
        wait_progress(a_url, timeout=6)
        assert target_status(sim_api, a["id"], good)["name"] == "live"
        wait_growing(nginx.record("besideslow"))
        # no write progress at all for a while: the connection is given up
        st = wait_target(sim_api, a["id"], tid, "error", timeout=45)
        assert "stalled" in st["reason"], st
        assert sim_api.get_stream(a["id"])["status"]["name"] == "live"
    finally:
        heavy.kill()
        slow.close()
