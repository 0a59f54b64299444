"""How onair cuts a live stream into HLS segments, checked with ffprobe.

Once a publisher's keyframe cadence has been stable for a few GOPs, onair
publishes a segment as soon as its last frame arrives (before the keyframe
that starts the next one). Whatever the publisher does, every segment must
start on a keyframe (the playlists say EXT-X-INDEPENDENT-SEGMENTS), and the
EXTINF durations must add up to the stream: each segment starts where the
durations before it say, and the last one ends with the last frame.

Publishers: ffmpeg with a fixed GOP (the predicted case), and ffmpeg with
keyframes forced at irregular times (-force_key_frames), which first teaches
onair a steady 1 s cadence and then breaks it, both with a keyframe later
than predicted (a misprediction) and with shorter GOPs.
"""
import subprocess
import time

import pytest

from media import (SLOW, Pusher, fetch, ffprobe_packets, get_playlist, segment_url,
                   server_log, start_live_server, tmpfile, wait_log, wait_status)

FPS = 30
FRAME = 1 / FPS


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    # A window long enough to keep every segment of a push in the playlist.
    srv = start_live_server(tmp_path_factory, window=40)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_api(live_server):
    c = live_server.new_project("hls-segmenting")
    yield c
    c.close()


def pusher_argv(url, seconds, keyframes=None):
    """ffmpeg pushing `seconds` of 640x360@30 H.264 + AAC. keyframes=None:
    a keyframe every 30 frames; else a list of times (s) where keyframes are
    forced, and none elsewhere."""
    gop = ["-g", "30", "-keyint_min", "30"] if keyframes is None else [
        "-g", "600", "-force_key_frames", ",".join(str(t) for t in keyframes)]
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}",
            "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", *gop,
            "-sc_threshold", "0", "-c:a", "aac", "-f", "flv", url]


def broadcast(server, api, tmp_path, seconds, keyframes=None):
    """Creates a passthrough stream, pushes `seconds` to it, waits for the
    push to end, stops the stream (#EXT-X-ENDLIST) and returns
    (stream, playlist_url, server log lines about it)."""
    s = api.create({"name": "segmenting", "mode": "passthrough"})
    url = f"rtmp://127.0.0.1:{server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(pusher_argv(url, seconds, keyframes), tmp_path / "ffmpeg.log", "ffmpeg")
    try:
        wait_status(api, s["id"], "live", timeout=20)
        rc = p.wait(seconds * 3 * SLOW + 30)
        assert rc == 0, f"the push did not finish cleanly: {p!r}"
        wait_status(api, s["id"], "idle", timeout=10)
    finally:
        p.kill()
    r = api.post(f"/v1/live-streams/{s['id']}/stop")
    assert r.status_code == 200, r.text
    wait_log(server, ("hls_session_end", s["id"]))
    lines = [ln for ln in server_log(server).splitlines() if s["id"] in ln]
    return s, s["playback_ids"][0]["playback_url"], lines


def segment_file(tmp_path, pl_url, pl, seg, init_cache):
    """The segment as a player would decode it alone: a TS file, or the
    fMP4 init segment followed by the fragment."""
    data = fetch(segment_url(pl_url, seg.uri)).content
    suffix = ".ts"
    if seg.map_uri:
        if seg.map_uri not in init_cache:
            init_cache[seg.map_uri] = fetch(segment_url(pl_url, seg.map_uri)).content
        data = init_cache[seg.map_uri] + data
        suffix = ".mp4"
    f = tmpfile(tmp_path, suffix)
    f.write_bytes(data)
    return f


def check_segments(tmp_path, pl_url, fmt, pushed_seconds):
    """Every segment starts on a keyframe, starts where the EXTINFs before it
    say, and the EXTINFs add up to the pushed stream. Returns the playlist."""
    pl = get_playlist(pl_url, params={"format": fmt})
    assert pl.endlist, f"{fmt}: no #EXT-X-ENDLIST after stop:\n{pl.text}"
    assert pl.segments, pl.text
    inits = {}
    starts, first_video, last_video_end = [], [], None
    for seg in pl.segments:
        pkts = ffprobe_packets(segment_file(tmp_path, pl_url, pl, seg, inits))
        video = [pk for pk in pkts if pk["codec_type"] == "video"]
        assert video, f"{fmt}: segment {seg.uri} has no video:\n{pl.text}"
        assert video[0]["flags"].startswith("K"), (
            f"{fmt}: segment {seg.uri} starts with a non-key video frame "
            f"({video[0]}):\n{pl.text}")
        starts.append(min(pk["pts_time"] for pk in pkts))
        first_video.append(video[0]["pts_time"])
        last_video_end = max(pk["pts_time"] + (pk["duration_time"] or FRAME) for pk in video)
    origin = first_video[0]
    elapsed = 0.0
    for seg, start in zip(pl.segments, starts):
        # Audio stamped just before a boundary may open the next segment:
        # one AAC frame (21 ms at 48 kHz) plus a frame of rounding.
        assert abs((start - origin) - elapsed) < 0.021 + FRAME + 0.002, (
            f"{fmt}: segment {seg.uri} starts at {start - origin:.3f}s of the stream, "
            f"but the EXTINFs before it add up to {elapsed:.3f}s:\n{pl.text}")
        elapsed += seg.duration
    total = sum(seg.duration for seg in pl.segments)
    assert abs(total - (last_video_end - origin)) < FRAME + 0.002, (
        f"{fmt}: EXTINFs add up to {total:.3f}s, the video runs "
        f"{last_video_end - origin:.3f}s:\n{pl.text}")
    assert abs(total - pushed_seconds) < FRAME + 0.002, (
        f"{fmt}: EXTINFs add up to {total:.3f}s for a {pushed_seconds}s push:\n{pl.text}")
    return pl


def assert_plays(pl_url, fmt):
    """ffmpeg's HLS client decodes the whole ended playlist without an error."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", f"{pl_url}?format={fmt}",
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and not p.stderr.strip(), f"{fmt}: {p.stderr[-2000:]}"


def session_counts(lines):
    """predicted_cuts and mispredictions from the hls_session_end line of the
    source rendition (the packager logs them when a publisher leaves)."""
    for ln in lines:
        if "hls_session_end" in ln:
            kv = dict(f.split("=", 1) for f in ln.split() if "=" in f)
            return int(kv["predicted_cuts"]), int(kv["mispredictions"])
    return 0, 0


def test_fixed_gop_segments_start_on_keyframes_and_add_up(live_server, live_api, tmp_path):
    seconds = 12
    s, url, lines = broadcast(live_server, live_api, tmp_path, seconds)
    predicted, missed = session_counts(lines)
    # A steady 1 s GOP: after 3 GOPs every segment closes on its last frame.
    assert predicted >= 5 and missed == 0, "\n".join(lines[-20:])
    for fmt in ("ts", "fmp4"):
        pl = check_segments(tmp_path, url, fmt, seconds)
        assert len(pl.segments) == seconds, pl.text
        for seg in pl.segments:
            assert abs(seg.duration - 1.0) < 0.002, pl.text
        assert_plays(url, fmt)
    # Both forms list the same cuts.
    assert ([x.duration for x in get_playlist(url, params={"format": "ts"}).segments] ==
            [x.duration for x in get_playlist(url, params={"format": "fmp4"}).segments])


def test_irregular_keyframes_never_start_a_segment_without_one(live_server, live_api,
                                                               tmp_path):
    # Steady 1 s GOPs (the cadence is learned and used), then a keyframe half
    # a second later than predicted (6.5 s), short and odd GOPs after it.
    keyframes = [0, 1, 2, 3, 4, 5, 6.5, 7, 8, 9, 10, 10.4, 11, 12.3, 13, 14]
    seconds = 15
    s, url, lines = broadcast(live_server, live_api, tmp_path, seconds, keyframes)
    for fmt in ("ts", "fmp4"):
        pl = check_segments(tmp_path, url, fmt, seconds)
        # After the miss, segments end at the keyframes that really came, at
        # the first one at least 1 s (the target) into a segment: 10.4 and 13
        # fall inside segments.
        ends, t = [], 0.0
        for seg in pl.segments:
            t += seg.duration
            ends.append(round(t, 2))
        for k in (7, 8, 9, 10, 11, 12.3, 14):
            assert any(abs(e - k) < 0.04 for e in ends), (
                f"{fmt}: no segment boundary at the keyframe at {k}s: ends {ends}\n{pl.text}")
        assert_plays(url, fmt)
    # The cadence was used, and the late keyframe was noticed (and logged).
    predicted, missed = session_counts(lines)
    assert predicted >= 1 and missed >= 1, "\n".join(lines[-20:])
    assert any("hls_keyframe_mispredicted" in ln for ln in lines), "\n".join(lines[-20:])
