"""Live HLS in ffplay, the player that ships with FFmpeg and one of the
players the issue names. It runs headless here: SDL's offscreen video
driver and dummy audio driver, so the picture is really decoded and
presented and the audio really clocked, only nothing is shown.

ffplay's -stats line ("  12.34 A-V: -0.012 fd= 0 ...") gives the master
clock, says whether audio and video both play ("A-V"; "M-V"/"M-A" when
one is missing) and counts frames dropped for being late ("fd="); its
log names every segment it opens. Checked: the pushed picture size and
codecs, both streams playing, new segments fetched for the whole play
time (the clock alone runs on when data stops), few late frames, and
ffplay still playing at the end. Both playlist forms.
"""
import os
import re
import subprocess
import time

import pytest

from media import SLOW, new_live_stream, pusher, start_live_server  # noqa: F401 (fixture)

PLAY_S = 8  # seconds of ffplay clock: well past the 3 segments it starts behind the edge
SEGMENT_RE = re.compile(r"Opening '[^']*/(\d+\.(?:ts|m4s))[^']*' for reading")
STATUS_RE = re.compile(r"^\s*(-?\d+\.\d+) (A-V|M-V|M-A):\s*-?\d+\.\d+ fd=\s*(\d+)")

@pytest.fixture(scope="module")
def ffplay_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fapi(ffplay_server):
    c = ffplay_server.new_project("ffplay")
    yield c
    c.close()


def ffplay(url):
    """Plays url until its clock has run PLAY_S seconds (a live stream has
    no end, and ffplay's -t only stops reading at one), then stops it;
    returns (whether it was still playing then, its output)."""
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", SDL_AUDIODRIVER="dummy")
    proc = subprocess.Popen(["ffplay", "-hide_banner", "-loglevel", "info", "-stats", url],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1)
    out, first, deadline = [], None, time.time() + PLAY_S + 20 * SLOW
    try:
        for chunk in iter(lambda: proc.stderr.read(256), ""):
            out.append(chunk)
            lines = "".join(out[-4:]).replace("\r", "\n").splitlines()
            clocks = [float(m.group(1)) for m in map(STATUS_RE.match, lines[:-1]) if m]
            if clocks and first is None:
                first = clocks[0]
            if clocks and clocks[-1] - first >= PLAY_S or time.time() > deadline:
                break
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            rest = proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[1]
    return alive, "".join(out).replace("\r", "\n") + (rest or "").replace("\r", "\n")


@pytest.mark.parametrize("form", ["ts", "fmp4"])
def test_ffplay_plays_live_h264(ffplay_server, fapi, pusher, form):
    _, p, url = new_live_stream(fapi, ffplay_server, pusher, {"name": f"ffplay-{form}"},
                                segments=2)
    alive, out = ffplay(f"{url}?format={form}")
    tail = out[-1500:]
    assert alive, f"ffplay exited while playing: {tail}"
    assert re.search(r"Stream #\S+.*Video: h264.*640x360", out), tail
    assert re.search(r"Stream #\S+.*Audio: aac", out), tail
    status = [m.groups() for m in map(STATUS_RE.match, out.splitlines()) if m]
    assert status, tail
    assert {kind for _, kind, _ in status[len(status) // 2:]} == {"A-V"}, tail
    # ffplay starts 3 segments behind the live edge; its clock runs on
    # when data stops coming, so what shows that the live edge kept
    # coming is the segments it fetched while playing
    fetched = set(SEGMENT_RE.findall(out))
    assert len(fetched) >= 3 + PLAY_S - 4, (sorted(fetched), tail)
    # 30 fps pushed: a player starved by late segments drops many frames
    # (a share, not a count: ffplay itself drops some on a busy machine)
    assert int(status[-1][2]) <= 0.1 * 30 * PLAY_S, tail
    assert p.alive(), p
