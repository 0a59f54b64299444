"""HLS segment URLs are never reused, even when the clock goes back.

Segments are served as immutable (a CDN keeps them for a year), so no
broadcast may reuse an earlier broadcast's segment numbers. A broadcast
numbers its segments from its start time in ms; that alone fails when the
wall clock is set back across a restart. The stream's numbering floor is
kept in the database (ahead of what is in use, so a crash loses nothing),
and a broadcast starts above it.

The clock is set back with libfaketime (LD_PRELOAD; the monotonic clock is
left alone): the restarted server believes it is a day earlier.
"""
import glob
import os

import pytest

from conftest import ASAN, OnairServer
from media import (SEGMENT_MS, Pusher, ffmpeg_argv, get_playlist, wait_playlist, wait_status)

FAKETIME_LIB = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") or [None])[0]


def faketime_env(offset):
    assert FAKETIME_LIB, "libfaketime is missing (scripts/install-deps.sh installs faketime)"
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "FAKETIME_NO_CACHE": "1"}
    if ASAN:  # the sanitizer runtime wants to be first; libfaketime only wraps time calls
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


def broadcast(srv, api, stream, tmp_path, name, segments=3):
    """Pushes until the playlist has `segments` segments; returns (playlist, pusher)."""
    url = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{stream['stream_key']}"
    p = Pusher(ffmpeg_argv(url, size="320x180"), tmp_path / f"{name}.log", name)
    try:
        wait_status(api, stream["id"], "live", timeout=20)
        pl = wait_playlist(stream["playback_ids"][0]["playback_url"],
                           lambda x: len(x.segments) >= segments and not x.endlist, timeout=20)
    except AssertionError as e:
        p.stop()
        raise AssertionError(f"{e}\n{p!r}\n{srv.logs(40)}")
    return pl, p


@pytest.mark.parametrize("how", ["sigterm", "kill"])
def test_clock_set_back_across_a_restart_reuses_no_segment_url(tmp_path, how):
    """Broadcast, stop the server (cleanly, or kill -9 in the middle of the
    broadcast), restart it with the clock a day earlier, broadcast again:
    the new playlist's numbers are all above the old ones and no segment or
    init URL repeats."""
    srv = OnairServer(tmp_path / "srv")
    srv.start(extra_args=["--hls-segment-ms", str(SEGMENT_MS), "--hls-window", "6"])
    try:
        key = srv.apikey()
        api = srv.client(srv.token(key))
        s = api.create({"name": "numbers", "mode": "passthrough"})
        url = s["playback_ids"][0]["playback_url"]
        old, p = broadcast(srv, api, s, tmp_path, "first")
        old_fmp4 = get_playlist(url, params={"format": "fmp4"})
        if how == "kill":
            srv.kill()  # no clean end: only what was saved while it ran counts
            p.stop()
        else:
            p.stop()
            wait_status(api, s["id"], "idle", timeout=15)
            old = get_playlist(url)  # every segment of the broadcast
            srv.stop()
        api.close()

        srv.start(extra_env=faketime_env("-1d"))
        api = srv.client(srv.token(key))
        new, p = broadcast(srv, api, s, tmp_path, "second")
        p.stop()
        new_fmp4 = get_playlist(url, params={"format": "fmp4"})
        assert new.media_seq > old.last_seq, f"old:\n{old.text}\n---\nnew:\n{new.text}"
        assert not {x.uri for x in old.segments} & {x.uri for x in new.segments}
        assert not set(old_fmp4.maps) & set(new_fmp4.maps), (old_fmp4.maps, new_fmp4.maps)
        # the restarted server really runs a day behind (else this test proves nothing)
        old_pdt, new_pdt = old.segments[-1].pdt, new.segments[0].pdt
        assert old_pdt and new_pdt and (old_pdt - new_pdt).total_seconds() > 20 * 3600, (
            old_pdt, new_pdt)
        api.close()
    finally:
        srv.stop()
