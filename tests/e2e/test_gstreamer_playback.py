"""Live HLS in GStreamer's player stack (uridecodebin: souphttpsrc,
hlsdemux, tsdemux/qtdemux, the libav decoders), the HLS client of Totem,
of GStreamer-based set-top boxes and of embedded players. It is a
different implementation from hls.js, VLC and ffplay, and it is not
LL-HLS aware (GStreamer 1.22's hlsdemux), so it also checks that an
`ll-hls` playlist plays as ordinary fMP4 HLS in such a player.

The picture is decoded and presented in real time to a fakesink through
fpsdisplaysink (sync=true), which reports frames rendered and dropped
every half second. Checked: H.264 at the pushed size and audio decoded,
more frames rendered than the playlist held when playback began (so the
player kept reloading the live playlist; a player that took the playlist
for a finished one stops after the window), few frames dropped, no error.
"""
import concurrent.futures
import os
import re
import select
import signal
import subprocess
import time

import pytest

from media import SLOW, new_live_stream, pusher, start_live_server  # noqa: F401 (fixture)

WINDOW = 4             # segments in the playlist (1 s each)
WANT_FRAMES = 30 * 7   # 7 s of the 30 fps push: well past the window
RENDERED_RE = re.compile(r"last-message = rendered: (\d+), dropped: (\d+)")


@pytest.fixture(scope="module")
def gst_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=WINDOW)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def gapi(gst_server):
    c = gst_server.new_project("gstreamer")
    yield c
    c.close()


def gst_play(url):
    """Plays url until WANT_FRAMES frames were rendered (or a deadline),
    then stops the player; returns (rendered, dropped, output)."""
    argv = ["gst-launch-1.0", "-v", "uridecodebin", f"uri={url}", "name=d",
            "d.", "!", "queue", "!", "videoconvert", "!", "fpsdisplaysink", "video-sink=fakesink",
            "text-overlay=false", "sync=true",
            "d.", "!", "queue", "!", "audioconvert", "!", "fakesink", "sync=true"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)
    out, rendered, dropped = [], 0, 0
    deadline = time.time() + WANT_FRAMES / 30 + 20 * SLOW
    try:
        # select and raw reads: a stalled player prints nothing, and the
        # deadline must still end the wait
        while rendered < WANT_FRAMES and time.time() < deadline:
            if not select.select([proc.stdout], [], [], 0.5)[0]:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break  # the player exited
            out.append(chunk.decode("utf-8", "replace"))
            counts = RENDERED_RE.findall("".join(out[-2:]))
            if counts:
                rendered, dropped = map(int, counts[-1])
    finally:
        # no -e: a live source never sends the EOS that -e would wait for
        proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[0]
    return rendered, dropped, "".join(out) + (rest or b"").decode("utf-8", "replace")


FORMS = {  # name: (create body, query)
    "ts": ({"output_format": "hls"}, ""),
    "fmp4": ({"output_format": "hls"}, "?format=fmp4"),
    "ll-hls": ({"output_format": "ll-hls"}, ""),
}


def test_gstreamer_plays_live(gst_server, gapi, pusher):
    """The three forms play side by side (one player each), so the test
    takes one play time, not three."""
    streams = {name: new_live_stream(gapi, gst_server, pusher, {"name": f"gst-{name}", **body},
                                     segments=2)
               for name, (body, _) in FORMS.items()}
    with concurrent.futures.ThreadPoolExecutor(len(FORMS)) as pool:
        plays = {name: pool.submit(gst_play, streams[name][2] + query)
                 for name, (_, query) in FORMS.items()}
    for name, play in plays.items():
        rendered, dropped, out = play.result()
        tail = f"[{name}] rendered {rendered}, dropped {dropped}\n{out[-2000:]}"
        assert "ERROR" not in out, tail
        assert re.search(r"video/x-h264.*width=\(int\)640, height=\(int\)360", out), tail
        assert re.search(r"video/x-raw.*width=\(int\)640, height=\(int\)360", out), tail
        assert "audio/mpeg" in out and "audio/x-raw" in out, tail  # AAC, decoded
        # the window held at most WINDOW s of frames when playback began:
        # the rest came from reloading the live playlist
        assert rendered >= WANT_FRAMES, tail
        assert dropped <= 0.1 * rendered, tail
        assert streams[name][1].alive(), streams[name][1]
