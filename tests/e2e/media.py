"""Media helpers for the live-path end-to-end tests (RTMP ingest -> HLS).

Real clients only: ffmpeg and GStreamer push RTMP, requests fetches the HLS
playlist and segments, ffprobe reads them. Everything polls with deadlines
instead of sleeping.

  start_live_server(tmp_path_factory, ...)  an OnairServer with 1 s segments
  pusher                                   fixture: factory of background pushers
  pushers(tmp_path)                        the generator behind it
  wait_status(api, sid, want)              polls GET /v1/live-streams/{id}
  get_playlist(url) / wait_playlist(url, pred)
  Playlist(text)                           a parsed media playlist
  ffprobe_streams(target), ffprobe_packets(path)
"""
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import ASAN, OnairServer, free_port

# Everything on the server side is slower under ASan; client side is not.
SLOW = 3 if ASAN else 1
SEGMENT_MS = 1000
HTTP_TIMEOUT = 10 * SLOW


def start_live_server(tmp_path_factory, window=6, extra_args=(), ladders=False, srt=False):
    """A started OnairServer with --hls-segment-ms 1000 and --hls-window N
    (ladders: see OnairServer); srt: with an SRT listener on a free UDP
    port, kept in srv.srt_port."""
    srv = OnairServer(tmp_path_factory.mktemp("onair-live"), ladders=ladders)
    args = ["--hls-segment-ms", str(SEGMENT_MS), "--hls-window", str(window), *extra_args]
    if srt:
        srv.srt_port = free_port(socket.SOCK_DGRAM)
        args += ["--srt", f"127.0.0.1:{srv.srt_port}"]
    return srv.start(extra_args=args)


# ---------------------------------------------------------------- pushers


def ffmpeg_argv(rtmp_url, size="640x360", duration=None, out_args=()):
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
            "-f", "lavfi", "-i", "sine",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30",
            "-c:a", "aac"]
    if duration:
        argv += ["-t", str(duration)]
    return argv + [*out_args, "-f", "flv", rtmp_url]


def gst_h264_encoder():
    """The H.264 encoder element GStreamer has here: x264enc lives in
    plugins-ugly (not installed); openh264enc is in plugins-bad."""
    for name, props in (("x264enc", ["tune=zerolatency", "key-int-max=30"]),
                        ("openh264enc", ["gop-size=30"])):
        if subprocess.run(["gst-inspect-1.0", "--exists", name]).returncode == 0:
            return [name, *props]
    return None


def gst_argv(rtmp_url):
    enc = gst_h264_encoder()
    assert enc, "no GStreamer H.264 encoder (x264enc or openh264enc)"
    return ["gst-launch-1.0", "-q", "-e",
            "videotestsrc", "is-live=true", "!",
            "video/x-raw,width=640,height=360,framerate=30/1", "!", *enc, "!",
            "h264parse", "!", "flvmux", "name=m", "streamable=true", "!",
            "rtmpsink", f"location={rtmp_url}",
            "audiotestsrc", "is-live=true", "!", "voaacenc", "!", "aacparse", "!", "m."]


class Pusher:
    """One background encoder process; its output goes to a log file."""

    def __init__(self, argv, log_path, name):
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.time()

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """The exit code, or None when still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig):
        # The pusher runs in its own session: a shell pipeline's members
        # (ffmpeg | srt-live-transmit) must go with it, even after the
        # leader has exited.
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout=5):
        """Graceful end (SIGINT: ffmpeg finishes the FLV, gst-launch -e sends
        EOS), then SIGKILL if it lingers. Returns the exit code."""
        if self.alive():
            self._signal_group(signal.SIGINT)
            if self.wait(timeout) is None:
                self.kill()
        self._signal_group(signal.SIGKILL)
        return self.proc.wait()

    def kill(self):
        """Abrupt end: the TCP connection drops without any RTMP goodbye."""
        self._signal_group(signal.SIGKILL)
        return self.proc.wait()

    def log(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def __repr__(self):
        rc = self.proc.poll()
        return f"<{self.name} pid={self.proc.pid} rc={rc} log={self.log(800)!r}>"


def pushers(tmp_path):
    """Generator for a test's `pusher` fixture (`yield from pushers(tmp_path)`):
    yields a factory pusher(server, stream_key, tool="ffmpeg"|"gst", **kw) ->
    Pusher; every pusher still running at the end of the test is killed."""
    started = []

    def make(server, key, tool="ffmpeg", **kw):
        url = f"rtmp://127.0.0.1:{server.rtmp_port}/live/{key}"
        if tool == "ffmpeg":
            argv = ffmpeg_argv(url, **kw)
        elif tool == "gst":
            argv = gst_argv(url)
        else:
            raise ValueError(tool)
        p = Pusher(argv, tmp_path / f"{tool}-{len(started)}.log", tool)
        started.append(p)
        return p

    yield make
    for p in started:
        p.kill()


@pytest.fixture
def pusher(tmp_path):
    """The same factory as a fixture, for `from media import pusher`."""
    yield from pushers(tmp_path)


# ---------------------------------------------------------------- API side


def status_of(stream):
    return stream["status"]["name"]


def wait_status(api, sid, want, timeout=15, history=None, poll=0.05):
    """Polls GET /v1/live-streams/{sid} until its status is in `want` (a name
    or a set of names); returns the stream object. `history` (a list), when
    given, collects every distinct status seen, in order."""
    want = {want} if isinstance(want, str) else set(want)
    seen = history if history is not None else []
    deadline = time.time() + timeout * SLOW
    while True:
        s = api.get_stream(sid)
        name = status_of(s)
        if not seen or seen[-1] != name:
            seen.append(name)
        if name in want:
            return s
        if time.time() > deadline:
            raise AssertionError(f"stream {sid}: status never became {sorted(want)} within "
                                 f"{timeout * SLOW}s; statuses seen: {seen}")
        time.sleep(poll)


def playback_id(stream, policy="public"):
    for p in stream["playback_ids"]:
        if p["policy"] == policy:
            return p["id"]
    raise AssertionError(f"no {policy} playback ID in {stream['playback_ids']}")


def hls_url(server, pid, file="index.m3u8"):
    return f"{server.base_url}/hls/{pid}/{file}"


def new_live_stream(api, server, pusher_factory, body=None, tool="ffmpeg", segments=1, **kw):
    """Creates a stream, starts pushing to it and waits until it is live with
    at least `segments` segments in its playlist. Returns (stream, pusher,
    playlist_url)."""
    s = api.create(body or {})
    p = pusher_factory(server, s["stream_key"], tool=tool, **kw)
    url = s["playback_ids"][0]["playback_url"]
    try:
        wait_status(api, s["id"], "live", timeout=12)
        wait_playlist(url, lambda pl: len(pl.segments) >= segments, timeout=10 + 2 * segments)
    except AssertionError as e:
        raise AssertionError(f"{e}\npusher: {p!r}\nserver log about it:\n"
                             f"{log_about(server, s['id'])}")
    return api.get_stream(s["id"]), p, url


# ---------------------------------------------------------------- playlists


class Segment:
    def __init__(self):
        self.uri = None
        self.duration = None
        self.pdt = None  # datetime (UTC) or None
        self.discontinuity = False
        self.map_uri = None  # the EXT-X-MAP in force (fMP4)
        self.seq = None

    def __repr__(self):
        return (f"<seg {self.seq} {self.uri} {self.duration} disc={self.discontinuity} "
                f"map={self.map_uri}>")


class Playlist:
    def __init__(self, text):
        self.text = text
        self.tags = {}
        self.segments = []
        self.endlist = False
        self.media_seq = 0
        self.disc_seq = 0
        self.target = None
        self.version = None
        self.maps = []
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        assert lines and lines[0] == "#EXTM3U", f"not an m3u8 playlist: {text[:300]!r}"
        cur = Segment()
        cur_map = None
        for ln in lines[1:]:
            if ln.startswith("#EXT-X-TARGETDURATION:"):
                self.target = int(ln.split(":", 1)[1])
            elif ln.startswith("#EXT-X-VERSION:"):
                self.version = int(ln.split(":", 1)[1])
            elif ln.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                self.media_seq = int(ln.split(":", 1)[1])
            elif ln.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
                self.disc_seq = int(ln.split(":", 1)[1])
            elif ln == "#EXT-X-DISCONTINUITY":
                cur.discontinuity = True
            elif ln == "#EXT-X-ENDLIST":
                self.endlist = True
            elif ln.startswith("#EXT-X-MAP:"):
                attrs = ln.split(":", 1)[1]
                assert 'URI="' in attrs, ln
                cur_map = attrs.split('URI="', 1)[1].split('"', 1)[0]
                self.maps.append(cur_map)
            elif ln.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                cur.pdt = parse_pdt(ln.split(":", 1)[1])
            elif ln.startswith("#EXTINF:"):
                cur.duration = float(ln.split(":", 1)[1].split(",", 1)[0])
            elif ln.startswith("#"):
                self.tags.setdefault(ln.split(":", 1)[0], []).append(ln)
            else:
                cur.uri = ln
                cur.map_uri = cur_map
                cur.seq = self.media_seq + len(self.segments)
                assert cur.duration is not None, f"segment {ln} without #EXTINF:\n{text}"
                self.segments.append(cur)
                cur = Segment()

    @property
    def last_seq(self):
        return self.segments[-1].seq if self.segments else None

    def __repr__(self):
        return self.text


def parse_pdt(value):
    """#EXT-X-PROGRAM-DATE-TIME value (ISO 8601 with Z or an offset)."""
    v = value.strip().replace("Z", "+00:00")
    return dt.datetime.fromisoformat(v)


def follow_variant(r, headers=None):
    """A multivariant answer (the stream has transcoded rungs) is followed to
    its first variant, the source rendition, as a player starting there
    would; the variant URI carries the format/auth query itself. Its segment
    URIs also resolve against the stream's own URL (which serves the
    source's segments)."""
    if r.status_code != 200 or "#EXT-X-STREAM-INF" not in r.text:
        return r
    uri = next(ln.strip() for ln in r.text.splitlines() if ln.strip() and not ln.startswith("#"))
    child = r.url.split("?", 1)[0].rsplit("/", 1)[0] + "/" + uri
    return requests.get(child, headers=headers, timeout=HTTP_TIMEOUT)


def get_playlist(url, params=None, headers=None):
    """GET a playlist; asserts 200 and returns Playlist (the source's media
    playlist when url answers a multivariant playlist)."""
    r = follow_variant(requests.get(url, params=params, headers=headers, timeout=HTTP_TIMEOUT),
                       headers)
    assert r.status_code == 200, f"GET {r.url} -> {r.status_code} {r.text[:300]}"
    return Playlist(r.text)


def wait_playlist(url, pred, timeout=10, params=None, headers=None, poll=0.05):
    """Polls a playlist until it answers 200 and pred(Playlist) is true."""
    deadline = time.time() + timeout * SLOW
    last = None
    while True:
        try:
            r = follow_variant(requests.get(url, params=params, headers=headers,
                                            timeout=HTTP_TIMEOUT), headers)
            if r.status_code == 200:
                pl = Playlist(r.text)
                if pred(pl):
                    return pl
                last = r.text
            else:
                last = f"{r.status_code} {r.text[:300]}"
        except requests.RequestException as e:
            last = repr(e)
        if time.time() > deadline:
            raise AssertionError(f"playlist {url} {params or ''}: condition not met within "
                                 f"{timeout * SLOW}s; last answer:\n{last}")
        time.sleep(poll)


def wait_progress(url, timeout=6, params=None):
    """Asserts the live playlist publishes a new segment within timeout:
    the stream keeps producing. Returns the newer Playlist."""
    first = wait_playlist(url, lambda pl: pl.segments, timeout=timeout, params=params)
    start = first.last_seq
    return wait_playlist(url, lambda pl: pl.segments and pl.last_seq > start, timeout=timeout,
                         params=params)


def fetch(url, params=None, headers=None, expect=200):
    r = requests.get(url, params=params, headers=headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == expect, f"GET {r.url} -> {r.status_code} {r.text[:300]}"
    return r


def segment_url(playlist_url, uri):
    return playlist_url.rsplit("/", 1)[0] + "/" + uri


# ---------------------------------------------------------------- ffprobe


def ffprobe_json(*args, timeout=30):
    p = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args], capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, f"ffprobe {' '.join(args)} exited {p.returncode}: {p.stderr[-1500:]}"
    return json.loads(p.stdout)


def ffprobe_streams(target):
    """The streams ffprobe finds in a URL or file (list of dicts)."""
    return ffprobe_json("-show_streams", str(target)).get("streams", [])


def ffprobe_packets(path):
    """Packets of a media file: list of dicts with codec_type, pts_time
    (float), duration_time (float), flags."""
    data = ffprobe_json("-show_packets", "-show_entries",
                        "packet=codec_type,stream_index,pts_time,dts_time,duration_time,flags",
                        str(path))
    out = []
    for pk in data.get("packets", []):
        if pk.get("pts_time") in (None, "N/A"):
            continue
        pk["pts_time"] = float(pk["pts_time"])
        d = pk.get("duration_time")
        pk["duration_time"] = float(d) if d not in (None, "N/A") else 0.0
        out.append(pk)
    return out


def assert_av_streams(streams, what, width=640, height=360, vcodec="h264"):
    """vcodec (h264) video of the given size plus aac audio, as a player sees them."""
    v = [s for s in streams if s.get("codec_type") == "video"]
    a = [s for s in streams if s.get("codec_type") == "audio"]
    assert v, f"{what}: no video stream: {streams}"
    assert a, f"{what}: no audio stream: {streams}"
    assert v[0]["codec_name"] == vcodec, f"{what}: video codec {v[0]['codec_name']}"
    assert (v[0]["width"], v[0]["height"]) == (width, height), (
        f"{what}: video is {v[0]['width']}x{v[0]['height']}")
    assert a[0]["codec_name"] == "aac", f"{what}: audio codec {a[0]['codec_name']}"
    assert int(a[0].get("sample_rate", 0)) > 0, f"{what}: audio without a sample rate: {a[0]}"


def tmpfile(dirpath, suffix):
    return Path(dirpath) / f"{uuid.uuid4().hex[:8]}{suffix}"


def have(tool):
    return shutil.which(tool) is not None


def server_log(server):
    """The server's own log (its stderr; key=value lines)."""
    try:
        return Path(server.log_path).read_text(errors="replace")
    except OSError:
        return ""


def log_offset(server):
    """The current size of the server's log (to look only at newer lines)."""
    return len(server_log(server))


def log_about(server, stream_id, n=30):
    """The server's log lines naming stream_id, plus warnings and errors."""
    lines = [ln for ln in server_log(server).splitlines()
             if "http_request" not in ln and (stream_id in ln or "level=error" in ln
                                              or "level=warn" in ln)]
    return "\n".join(lines[-n:])


def wait_log(server, needle, since=0, timeout=5, exclude=()):
    """Polls the server log (after offset `since`) for a line containing
    every string of `needle` (a string or a tuple) and none of `exclude`;
    returns that line."""
    needles = (needle,) if isinstance(needle, str) else tuple(needle)
    deadline = time.time() + timeout * SLOW
    while True:
        for ln in server_log(server)[since:].splitlines():
            if all(n in ln for n in needles) and not any(x in ln for x in exclude):
                return ln
        if time.time() > deadline:
            raise AssertionError(f"no server log line with {needles} within {timeout * SLOW}s\n"
                                 f"{server.logs(25)}")
        time.sleep(0.05)


def env_flag(name):
    return os.environ.get(name) == "1"
