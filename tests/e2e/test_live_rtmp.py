"""RTMP ingest -> live HLS, as a viewer sees it.

One ffmpeg publisher (640x360 H.264 + AAC, keyframe every second) pushes to
a server cutting 1 s segments for the whole module; the tests read what it
produces: statuses, both playlist forms, codecs, durations, program date
times and timestamp continuity across segments. A GStreamer (librtmp
rtmpsink) publisher must work the same.
"""
import datetime as dt
import time

import pytest
import requests

from helpers import ORIGIN_STATUSES
from test_http_server import Conn  # a raw keep-alive HTTP/1.1 client
from media import (Pusher, assert_av_streams, fetch, ffmpeg_argv, ffprobe_packets,
                   ffprobe_streams, get_playlist, gst_h264_encoder, new_live_stream,
                   pushers, segment_url, start_live_server, status_of, wait_playlist,
                   wait_status)

FRAME = 1 / 30


@pytest.fixture
def pusher(tmp_path):
    """pusher(server, key, tool="ffmpeg"|"gst", **kw) -> a background encoder."""
    yield from pushers(tmp_path)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_api(live_server):
    c = live_server.new_project("live-rtmp")
    yield c
    c.close()


@pytest.fixture(scope="module")
def broadcast(live_server, live_api, tmp_path_factory):
    """A stream created with input_format "srt" (the publish must correct it
    to rtmp), pushed by ffmpeg for the whole module. Records every status the
    API showed from creation until live, with the stream object at each."""
    s = live_api.create({"input_format": "srt", "name": "rtmp-e2e"})
    snapshots = [s]
    log = tmp_path_factory.mktemp("ffmpeg") / "ffmpeg.log"
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url), log, "ffmpeg")
    try:
        deadline = time.time() + 30
        while status_of(snapshots[-1]) != "live":
            assert time.time() < deadline, (f"never live: {[status_of(x) for x in snapshots]}\n"
                                            f"{p!r}\n{live_server.logs(30)}")
            assert p.alive(), f"ffmpeg exited: {p!r}\n{live_server.logs(30)}"
            cur = live_api.get_stream(s["id"])
            if status_of(cur) != status_of(snapshots[-1]):
                snapshots.append(cur)
            time.sleep(0.03)
        url = s["playback_ids"][0]["playback_url"]
        # Enough segments for the continuity checks (3 consecutive).
        wait_playlist(url, lambda pl: len(pl.segments) >= 3, timeout=15)
        yield {"stream": s, "snapshots": snapshots, "pusher": p, "url": url}
    finally:
        p.kill()


def consecutive(pl, n):
    """The last n segments of one publisher session (no discontinuity inside)."""
    segs = pl.segments[-n:]
    assert len(segs) == n, f"need {n} segments:\n{pl.text}"
    assert not any(s.discontinuity for s in segs[1:]), pl.text
    return segs


# ------------------------------------------------------------------ statuses


def test_publish_moves_created_launching_live(broadcast, live_server):
    names = [status_of(s) for s in broadcast["snapshots"]]
    assert names == ["created", "launching", "live"], (
        f"statuses seen while the encoder connected: {names}")
    created, launching, live = broadcast["snapshots"]
    # seed 003: origin_host only while waiting/launching/live/idle
    assert "origin_host" not in created or created["origin_host"] in (None, ""), created
    for s in (launching, live):
        assert status_of(s) in ORIGIN_STATUSES
        assert s.get("origin_host") == live_server.public_host, (
            f"{status_of(s)}: origin_host={s.get('origin_host')!r}")
    assert live["status"]["timestamp"] >= launching["status"]["timestamp"]


def test_input_format_follows_protocol(broadcast, live_api):
    s = live_api.get_stream(broadcast["stream"]["id"])
    assert status_of(s) == "live"
    assert s["params"]["input_format"] == "rtmp", s["params"]
    # the playback URL and key did not change by publishing
    assert s["playback_ids"] == broadcast["stream"]["playback_ids"]
    assert s["stream_key"] == broadcast["stream"]["stream_key"]


def test_live_filter_lists_the_stream(broadcast, live_api):
    r = live_api.get("/v1/live-streams", params={"status.name": "live"})
    assert r.status_code == 200, r.text
    assert broadcast["stream"]["id"] in [s["id"] for s in r.json()["streams"]]


# ------------------------------------------------------------------ playback


def test_ts_playback_url_plays_h264_aac(broadcast):
    url = broadcast["url"]
    pl = get_playlist(url)
    assert all(s.uri.endswith(".ts") for s in pl.segments), pl.text
    assert not pl.maps, f"an MPEG-TS playlist has no EXT-X-MAP:\n{pl.text}"
    assert not pl.endlist
    assert_av_streams(ffprobe_streams(url), f"ffprobe {url}")


def test_fmp4_playlist_plays_h264_aac(broadcast, tmp_path):
    url = broadcast["url"]
    pl = get_playlist(url, params={"format": "fmp4"})
    assert pl.version is not None and pl.version >= 6, f"fMP4 needs version >= 6:\n{pl.text}"
    assert pl.maps, f"no EXT-X-MAP:\n{pl.text}"
    assert all(s.uri.endswith(".m4s") and s.map_uri for s in pl.segments), pl.text
    seg = pl.segments[-1]
    init = fetch(segment_url(url, seg.map_uri))
    assert init.headers["Content-Type"].startswith("video/mp4"), init.headers
    body = fetch(segment_url(url, seg.uri))
    assert body.content[4:8] in (b"styp", b"moof"), body.content[:16]
    assert init.content[4:8] == b"ftyp", init.content[:16]
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(init.content + body.content)
    assert_av_streams(ffprobe_streams(joined), "init + fMP4 segment")
    assert_av_streams(ffprobe_streams(url + "?format=fmp4"), "ffprobe ?format=fmp4")


def test_format_ts_explicit_and_bad_format(broadcast):
    url = broadcast["url"]
    pl = get_playlist(url, params={"format": "ts"})
    assert pl.segments and all(s.uri.endswith(".ts") for s in pl.segments), pl.text
    r = fetch(url, params={"format": "webm"}, expect=400)
    assert "error" in r.json(), r.text


def test_both_forms_list_the_same_segments(broadcast):
    url = broadcast["url"]
    # a new segment can appear between the two requests: retry a few times
    for _ in range(5):
        ts = get_playlist(url, params={"format": "ts"})
        mp4 = get_playlist(url, params={"format": "fmp4"})
        if ts.media_seq == mp4.media_seq and len(ts.segments) == len(mp4.segments):
            break
    assert ts.media_seq == mp4.media_seq, (ts.text, mp4.text)
    assert [s.uri.split(".")[0] for s in ts.segments] == [s.uri.split(".")[0] for s in mp4.segments]
    for a, b in zip(ts.segments, mp4.segments):
        assert abs(a.duration - b.duration) < 0.002, (a, b)


def test_segments_last_about_one_second(broadcast, tmp_path):
    url = broadcast["url"]
    pl = get_playlist(url)
    assert pl.target == 1, f"TARGETDURATION with 1 s segments:\n{pl.text}"
    for s in pl.segments:
        # ffmpeg -g 30 at 30 fps: a keyframe every second exactly
        assert abs(s.duration - 1.0) <= 0.05, f"segment {s.uri} lasts {s.duration}:\n{pl.text}"
        assert s.duration <= pl.target + 0.5, pl.text  # RFC 8216 4.3.3.1 (rounded)
    # the media inside matches what the playlist says
    seg = pl.segments[-1]
    path = tmp_path / "seg.ts"
    path.write_bytes(fetch(segment_url(url, seg.uri)).content)
    video = [p for p in ffprobe_packets(path) if p["codec_type"] == "video"]
    assert len(video) in (29, 30, 31), f"{len(video)} video frames in a 1 s segment"
    span = max(p["pts_time"] for p in video) + FRAME - min(p["pts_time"] for p in video)
    assert abs(span - seg.duration) <= FRAME + 0.002, (span, seg.duration)
    assert "K" in video[0]["flags"], f"segment {seg.uri} does not start with a keyframe"


def test_program_date_time_on_every_segment(broadcast):
    pl = get_playlist(broadcast["url"])
    assert all(s.pdt is not None for s in pl.segments), pl.text
    for a, b in zip(pl.segments, pl.segments[1:]):
        gap = (b.pdt - a.pdt).total_seconds()
        assert abs(gap - a.duration) <= 0.05, (
            f"PDT of {b.uri} is {gap:.3f}s after {a.uri}, which lasts {a.duration}:\n{pl.text}")
    now = dt.datetime.now(dt.timezone.utc)
    last = pl.segments[-1]
    age = (now - last.pdt).total_seconds()
    assert -1 <= age <= 15, f"last segment's PDT {last.pdt} is {age:.1f}s from now ({now})"


def _continuity(packets_by_segment, names):
    """For each stream type, segment N+1's first pts equals segment N's last
    pts + frame duration (within one frame)."""
    for kind in ("video", "audio"):
        for (na, a), (nb, b) in zip(zip(names, packets_by_segment),
                                    zip(names[1:], packets_by_segment[1:])):
            pa = [p for p in a if p["codec_type"] == kind]
            pb = [p for p in b if p["codec_type"] == kind]
            assert pa and pb, f"{kind}: no packets in {na} or {nb}"
            last = max(pa, key=lambda p: p["pts_time"])
            frame = last["duration_time"] or (FRAME if kind == "video" else 1024 / 44100)
            end = last["pts_time"] + frame
            start = min(p["pts_time"] for p in pb)
            assert abs(start - end) <= frame + 0.002, (
                f"{kind}: {nb} starts at {start:.4f}s but {na} ends at {end:.4f}s "
                f"(frame {frame:.4f}s)")


def test_timestamps_continuous_across_ts_segments(broadcast, tmp_path):
    url = broadcast["url"]
    segs = consecutive(get_playlist(url), 3)
    packets = []
    for s in segs:
        path = tmp_path / s.uri
        path.write_bytes(fetch(segment_url(url, s.uri)).content)
        packets.append(ffprobe_packets(path))
    _continuity(packets, [s.uri for s in segs])


def test_timestamps_continuous_across_fmp4_segments(broadcast, tmp_path):
    url = broadcast["url"]
    segs = consecutive(get_playlist(url, params={"format": "fmp4"}), 3)
    init = fetch(segment_url(url, segs[0].map_uri)).content
    packets = []
    for s in segs:
        path = tmp_path / (s.uri + ".mp4")
        path.write_bytes(init + fetch(segment_url(url, s.uri)).content)
        packets.append(ffprobe_packets(path))
    _continuity(packets, [s.uri for s in segs])


def test_playlist_grows_while_publishing(broadcast):
    url = broadcast["url"]
    first = get_playlist(url)
    nxt = wait_playlist(url, lambda pl: pl.last_seq > first.last_seq, timeout=4)
    assert nxt.media_seq >= first.media_seq
    assert len(nxt.segments) <= 6, f"--hls-window 6 lists at most 6 segments:\n{nxt.text}"


def test_publish_without_onmetadata(live_server, live_api, pusher):
    """onMetaData is advisory (some encoders send none, GStreamer's flvmux
    first sends one with width/height 0): the picture size must come from
    the H.264 configuration itself."""
    s, p, url = new_live_stream(live_api, live_server, pusher,
                                out_args=["-flvflags", "no_metadata"])
    assert_av_streams(ffprobe_streams(url), "publish without onMetaData, TS")
    assert_av_streams(ffprobe_streams(url + "?format=fmp4"), "publish without onMetaData, fMP4")
    p.kill()


# ------------------------------------------------------------------ GStreamer


@pytest.mark.skipif(gst_h264_encoder() is None, reason="no GStreamer H.264 encoder")
def test_gstreamer_rtmpsink_publishes(live_server, live_api, pusher, tmp_path):
    s, p, url = new_live_stream(live_api, live_server, pusher, tool="gst", segments=2)
    assert s["params"]["input_format"] == "rtmp"
    assert s.get("origin_host") == live_server.public_host
    assert_av_streams(ffprobe_streams(url), "GStreamer publish, TS")
    pl = get_playlist(url, params={"format": "fmp4"})
    seg = pl.segments[-1]
    joined = tmp_path / "gst.mp4"
    joined.write_bytes(fetch(segment_url(url, seg.map_uri)).content
                       + fetch(segment_url(url, seg.uri)).content)
    assert_av_streams(ffprobe_streams(joined), "GStreamer publish, fMP4")
    p.stop()
    wait_status(live_api, s["id"], "idle", timeout=10)


# ------------------------------------------------------------ fMP4 on demand


def test_fmp4_on_demand_starts_at_the_first_request(fresh_server, pusher):
    """hls_fmp4_on_demand 1: TS from the start; the first ?format=fmp4
    request waits for the next segment, which is the first fMP4 one, and
    that form then plays on. A cmaf stream's playback_url gets the same."""
    srv = fresh_server(extra_env={"ONAIR_HLS_FMP4_ON_DEMAND": "1"},
                       extra_args=["--hls-segment-ms", "1000", "--hls-window", "6"])
    api = srv.new_project("fmp4-on-demand")
    s, _, url = new_live_stream(api, srv, pusher, segments=2)
    ts = get_playlist(url)
    newest_ts = ts.segments[-1].seq
    assert "hls_fmp4_on stream=" + s["id"] not in srv.log_text()

    t0 = time.time()
    pl = get_playlist(url, params={"format": "fmp4"})  # waits; no 404 on the way
    waited = time.time() - t0
    assert waited < 6, f"the first fMP4 playlist took {waited:.1f} s"
    assert pl.segments and all(x.uri.endswith(".m4s") and x.map_uri for x in pl.segments), pl.text
    # The segment that was open at the request is TS only; fMP4 starts after it.
    assert pl.segments[0].seq >= newest_ts + 1, (newest_ts, pl.text)
    assert "hls_fmp4_on stream=" + s["id"] in srv.log_text()
    first = pl.segments[0].seq
    # Later requests are served at once and the form goes on with the stream.
    pl = wait_playlist(url, lambda p: len(p.segments) >= 3, params={"format": "fmp4"}, timeout=10)
    assert pl.segments[0].seq == first and [x.seq for x in pl.segments] == list(
        range(first, first + len(pl.segments))), pl.text
    assert_av_streams(ffprobe_streams(f"{url}?format=fmp4"), "fMP4 on demand")
    ts = get_playlist(url)
    assert ts.segments[0].seq < first and len(ts.segments) == 6, ts.text  # TS untouched

    # A cmaf stream: its playback_url is the fMP4 form and plays the same way.
    _, _, curl = new_live_stream(api, srv, pusher, body={"output_format": "cmaf"}, segments=1)
    pl = get_playlist(curl)
    assert pl.segments[0].uri.endswith(".m4s") and pl.segments[0].map_uri, pl.text


def test_request_pipelined_behind_a_waiting_fmp4_playlist_runs_after_it(fresh_server, pusher):
    """A client pipelines a stop of the stream behind its first fMP4 playlist
    request, which waits for the stream's next segment: the stop runs after
    that answer went out (not nested inside the packager publishing the
    segment), both are answered in order, and the server lives on."""
    srv = fresh_server(extra_env={"ONAIR_HLS_FMP4_ON_DEMAND": "1"},
                       extra_args=["--hls-segment-ms", "1000"])
    api = srv.new_project("fmp4-pipelined")
    s, p, url = new_live_stream(api, srv, pusher, segments=1)
    path = url.split(str(srv.http_port), 1)[1]
    with Conn(srv, timeout=15) as c:
        c.send(c.request_bytes("GET", f"{path}?format=fmp4") +
               c.request_bytes("POST", f"/v1/live-streams/{s['id']}/stop",
                               headers=[("Authorization", api.headers["Authorization"])]))
        (st1, _, body1), (st2, _, body2) = c.response(), c.response()
    assert st1 == 200 and b".m4s" in body1, (st1, body1[:300])
    assert st2 == 200, (st2, body2[:300])
    wait_status(api, s["id"], ("idle", "stopped"), timeout=15)
    assert srv.alive()
    assert requests.get(f"{srv.base_url}/healthz", timeout=5).status_code == 200


def test_first_fmp4_playlist_without_a_segment_for_long_is_503(fresh_server, pusher, tmp_path):
    """The first fMP4 request waits for a segment; an encoder that sends no
    keyframe for a long time (keyframes at 0, 1, 2 s, then none for ~30 s)
    gets it a 503 with Retry-After after 10 s, not a hanging request."""
    srv = fresh_server(extra_env={"ONAIR_HLS_FMP4_ON_DEMAND": "1"},
                       extra_args=["--hls-segment-ms", "1000"])
    api = srv.new_project("fmp4-timeout")
    s = api.create({})
    rtmp = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"
    argv = ffmpeg_argv(rtmp, out_args=["-g", "1000", "-keyint_min", "1000", "-sc_threshold", "0",
                                       "-force_key_frames", "0,1,2"])
    push = Pusher(argv, tmp_path / "push.log", "ffmpeg")
    try:
        url = s["playback_ids"][0]["playback_url"]
        wait_playlist(url, lambda pl: len(pl.segments) >= 1, timeout=15)
        time.sleep(1.5)  # past the last keyframe: no segment will end for ~30 s
        t0 = time.time()
        r = requests.get(url, params={"format": "fmp4"}, timeout=30)
        waited = time.time() - t0
        assert r.status_code == 503, (r.status_code, r.text[:300])
        assert r.json()["error"]["code"] == "unavailable"
        assert r.headers.get("Retry-After") == "2"
        assert waited >= 9, f"answered after {waited:.1f} s, before the 10 s wait"
        assert push.alive()
    finally:
        push.kill()
