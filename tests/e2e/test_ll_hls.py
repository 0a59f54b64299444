"""LL-HLS (output_format "ll-hls") over HTTP, as a low-latency player sees it
(rfc8216bis): the fMP4 playlist lists parts (EXT-X-PART) with
EXT-X-SERVER-CONTROL, EXT-X-PART-INF and an EXT-X-PRELOAD-HINT; parts are
the bytes of their segment; blocking playlist reloads (_HLS_msn, _HLS_part)
and requests for the hinted part wait until it exists; bad directives get
400, a wait that cannot end gets 503. hls.js playing it in Chromium is in
test_browser_playback.py.

One ffmpeg publisher feeds one LL-HLS stream for the module (1 s segments,
parts of a third of that).
"""
import re
import time

import pytest
import requests

from helpers import assert_error
from media import (HTTP_TIMEOUT, Playlist, Pusher, assert_av_streams, ffmpeg_argv, ffprobe_streams,
                   get_playlist, segment_url, start_live_server, tmpfile, wait_playlist,
                   wait_status)

PART_RE = re.compile(r'^#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"(,INDEPENDENT=YES)?$')
HINT_RE = re.compile(r'^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"$')


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=4)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api(live_server):
    c = live_server.client(live_server.token(live_server.apikey("ll-hls")))
    yield c
    c.close()


def push(srv, api, tmp, body):
    s = api.create({"mode": "passthrough", **body})
    url = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url, size="320x180"), tmp / "ffmpeg.log", "ffmpeg")
    try:
        wait_status(api, s["id"], "live", timeout=20)
        purl = s["playback_ids"][0]["playback_url"]
        wait_playlist(purl, lambda pl: len(pl.segments) >= 3, timeout=15)
    except AssertionError as e:
        p.kill()
        raise AssertionError(f"{e}\n{p!r}\n{srv.logs(30)}")
    return s, purl, p


@pytest.fixture(scope="module")
def ll(live_server, api, tmp_path_factory):
    s, url, p = push(live_server, api, tmp_path_factory.mktemp("ll"),
                     {"name": "ll", "output_format": "ll-hls"})
    yield {"stream": s, "url": url, "pusher": p}
    p.kill()


def ll_lines(text):
    """(parts as (duration, uri, independent), part target, hint (seq, idx) or None)."""
    parts, target, hint = [], None, None
    for ln in text.splitlines():
        m = PART_RE.match(ln)
        if m:
            parts.append((float(m.group(1)), m.group(2), bool(m.group(3))))
        elif ln.startswith("#EXT-X-PART-INF:PART-TARGET="):
            target = float(ln.split("=", 1)[1])
        elif HINT_RE.match(ln):
            hint = tuple(int(x) for x in HINT_RE.match(ln).groups())
    return parts, target, hint


def test_playlist_lists_parts(ll):
    r = requests.get(ll["url"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    pl = get_playlist(ll["url"])
    assert pl.maps, f"LL-HLS is the fMP4 form: {pl}"
    parts, target, hint = ll_lines(pl.text)
    control = pl.tags.get("#EXT-X-SERVER-CONTROL")
    assert control and "CAN-BLOCK-RELOAD=YES" in control[0], pl
    hold = float(control[0].split("PART-HOLD-BACK=", 1)[1])
    assert target and hold == pytest.approx(3 * target, abs=0.002), pl
    assert target == pytest.approx(0.336), f"a third of the 1 s segment + 3 ms: {pl}"
    assert len(parts) >= 3, pl
    assert all(d <= target + 1e-9 for d, _, _ in parts), f"a part longer than PART-TARGET: {pl}"
    assert hint is not None, f"no EXT-X-PRELOAD-HINT: {pl}"
    # Each segment's first part starts with its keyframe.
    firsts = [p for p in parts if p[1].split(".")[1] == "0"]
    assert firsts and all(ind for _, _, ind in firsts), pl
    # The MPEG-TS form of the same stream is plain HLS.
    ts = get_playlist(ll["url"], params={"format": "ts"})
    assert not ts.maps and "EXT-X-PART" not in ts.text and "SERVER-CONTROL" not in ts.text


def test_parts_are_the_segment(ll, tmp_path):
    pl = get_playlist(ll["url"])
    parts, _, _ = ll_lines(pl.text)
    listed = {int(u.split(".")[0]) for _, u, _ in parts}
    seg = next(s for s in reversed(pl.segments) if int(s.uri.split(".")[0]) in listed)
    seq = seg.uri.split(".")[0]
    mine = [(d, u) for d, u, _ in parts if u.split(".")[0] == seq]
    body = b""
    for _, uri in mine:
        r = requests.get(segment_url(ll["url"], uri), timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"{uri}: {r.status_code} {r.text[:200]}"
        assert r.headers["Content-Type"] == "video/iso.segment"
        assert "immutable" in r.headers["Cache-Control"]
        body += r.content
    whole = requests.get(segment_url(ll["url"], seg.uri), timeout=HTTP_TIMEOUT)
    assert whole.status_code == 200
    assert body == whole.content, f"parts of {seg.uri} ({len(mine)}) are not its bytes"
    assert sum(d for d, _ in mine) == pytest.approx(seg.duration, abs=0.002)
    # 30 fps and 1 s GOPs: three parts of 10 frames.
    assert [round(d * 30) for d, _ in mine] == [10, 10, 10], f"{mine}\n{pl}"
    init = requests.get(segment_url(ll["url"], seg.map_uri), timeout=HTTP_TIMEOUT).content
    path = tmpfile(tmp_path, ".mp4")
    with open(path, "wb") as f:
        f.write(init + body)
    assert_av_streams(ffprobe_streams(path), "init + parts", 320, 180)


def test_blocking_reload_waits_for_the_part(ll):
    _, _, (seq, idx) = ll_lines(get_playlist(ll["url"]).text)
    # The hinted part does not exist yet: the answer comes once it does.
    r = requests.get(ll["url"], params={"_HLS_msn": seq, "_HLS_part": idx}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
    # requests accepts gzip, and the answer that waited is gzipped too
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    parts, _, _ = ll_lines(r.text)
    assert f"{seq}.{idx}.m4s" in [u for _, u, _ in parts], r.text
    # Without _HLS_part: until segment seq is complete.
    r = requests.get(ll["url"], params={"_HLS_msn": seq}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert f"{seq}.m4s" in [s.uri for s in Playlist(r.text).segments], r.text


def test_hinted_part_waits_then_stays(ll):
    _, _, (seq, idx) = ll_lines(get_playlist(ll["url"]).text)
    url = segment_url(ll["url"], f"{seq}.{idx}.m4s")
    first = requests.get(url, timeout=HTTP_TIMEOUT)
    assert first.status_code == 200 and first.content, f"{first.status_code} {first.text[:200]}"
    again = requests.get(url, timeout=HTTP_TIMEOUT)
    assert again.status_code == 200 and again.content == first.content


def test_bad_directives(ll):
    pl = get_playlist(ll["url"])
    last = pl.last_seq
    # Past the Advance Part Limit too: more than 3 s of parts ahead.
    for params in ({"_HLS_msn": last + 10}, {"_HLS_part": 1}, {"_HLS_msn": "abc"},
                   {"_HLS_msn": last, "_HLS_part": "-1"}, {"_HLS_msn": last + 1, "_HLS_part": 100},
                   {"_HLS_msn": last + 2, "_HLS_part": 9}):
        assert_error(requests.get(ll["url"], params=params, timeout=HTTP_TIMEOUT), 400,
                     "invalid_request", "_HLS_msn")
    # A part that will never be made, and one not named like a part.
    assert_error(requests.get(segment_url(ll["url"], f"{last}.999.m4s"), timeout=HTTP_TIMEOUT),
                 404)
    assert_error(requests.get(segment_url(ll["url"], f"{last}.x.m4s"), timeout=HTTP_TIMEOUT), 404)


def test_plain_hls_stream_has_no_parts(live_server, api, tmp_path):
    s, url, p = push(live_server, api, tmp_path, {"name": "plain", "output_format": "cmaf"})
    try:
        pl = get_playlist(url)
        assert pl.maps and "EXT-X-PART" not in pl.text and "SERVER-CONTROL" not in pl.text
        # Delivery directives are not advertised, so they are not acted on.
        r = requests.get(url, params={"_HLS_msn": pl.last_seq + 50}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200 and "#EXTM3U" in r.text
        assert_error(requests.get(segment_url(url, f"{pl.last_seq}.0.m4s"),
                                  timeout=HTTP_TIMEOUT), 404)
    finally:
        p.kill()


def test_wait_ends_503_when_the_publisher_is_gone(live_server, api, tmp_path):
    s, url, p = push(live_server, api, tmp_path, {"name": "gone", "output_format": "ll-hls"})
    p.kill()
    wait_status(api, s["id"], "idle", timeout=15)
    pl = get_playlist(url)
    _, _, hint = ll_lines(pl.text)
    assert hint is None, f"no part is coming, none is hinted: {pl}"
    # The next segment cannot come while the encoder is away: after three
    # target durations the server gives up with 503 and Retry-After.
    r = requests.get(url, params={"_HLS_msn": pl.last_seq + 1}, timeout=HTTP_TIMEOUT)
    assert_error(r, 503, "unavailable")
    assert r.headers.get("Retry-After")
    assert_error(requests.get(segment_url(url, f"{pl.last_seq + 1}.0.m4s"),
                              timeout=HTTP_TIMEOUT), 404)


def follow_hints(url, n):
    """Plays the way an LL-HLS client fetches: the hinted part (the request
    waits for it), then the playlist with _HLS_msn/_HLS_part of the part
    after it; n times. Returns [(part uri, status)]."""
    _, _, hint = ll_lines(get_playlist(url).text)
    got = []
    for _ in range(n):
        assert hint, "no EXT-X-PRELOAD-HINT to follow"
        seq, idx = hint
        r = requests.get(segment_url(url, f"{seq}.{idx}.m4s"), timeout=HTTP_TIMEOUT)
        got.append((f"{seq}.{idx}.m4s", r.status_code))
        pl = requests.get(url, params={"_HLS_msn": seq, "_HLS_part": idx + 1},
                          timeout=HTTP_TIMEOUT)
        assert pl.status_code == 200, f"{pl.status_code} {pl.text[:300]}"
        _, _, hint = ll_lines(pl.text)
    return got


def test_every_hinted_part_comes(live_server, api, tmp_path):
    """GOPs of 40 frames: every fourth part ends where a keyframe cuts the
    segment. The hint given before such a keyframe must name a part that
    is then made (the segment's last part is what the cut leaves), also in
    the first GOPs, before the cadence is learned."""
    s = api.create({"mode": "passthrough", "output_format": "ll-hls", "name": "gop40"})
    rtmp = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(rtmp, size="320x180", out_args=["-g", "40"]), tmp_path / "ff.log",
               "ffmpeg")
    try:
        url = s["playback_ids"][0]["playback_url"]
        wait_playlist(url, lambda pl: len(pl.segments) >= 1, timeout=15)
        got = follow_hints(url, 16)
    finally:
        p.kill()
    assert all(code == 200 for _, code in got), got


def test_part_target_stays_over_a_gap(live_server, api, tmp_path):
    """A publisher that drops 0.6 s of video: the part holding the gap is
    longer, but PART-TARGET (and so PART-HOLD-BACK) does not change; players
    may fail when it does."""
    s = api.create({"mode": "passthrough", "output_format": "ll-hls", "name": "gap"})
    rtmp = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    gap = ["-vf", "select='not(between(t,3,3.6))'", "-fps_mode", "passthrough"]
    p = Pusher(ffmpeg_argv(rtmp, size="320x180", out_args=gap), tmp_path / "ff.log", "ffmpeg")
    try:
        url = s["playback_ids"][0]["playback_url"]
        before = wait_playlist(url, lambda pl: len(pl.segments) >= 1, timeout=15)
        first = before.segments[0].seq  # past the gap (3.0-3.6 s) by 6 segments:
        after = wait_playlist(url, lambda pl: pl.last_seq >= first + 6, timeout=20)
    finally:
        p.kill()
    for pl in (before, after):
        assert "#EXT-X-PART-INF:PART-TARGET=0.336\n" in pl.text, pl
        assert "PART-HOLD-BACK=1.008\n" in pl.text, pl


def test_slow_video_gets_a_part_target_of_whole_frames(live_server, api, tmp_path):
    """5 fps video (slides, a screen share): a part cannot be shorter than a
    frame, so PART-TARGET becomes one frame (0.202 s) instead of 0.336 s:
    every part lasts at most PART-TARGET and at least 85 % of it
    (rfc8216bis 4.4.4.9)."""
    s = api.create({"mode": "passthrough", "output_format": "ll-hls", "name": "slides"})
    rtmp = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(rtmp, size="320x180", out_args=["-r", "5", "-g", "5"]),
               tmp_path / "ff.log", "ffmpeg")
    try:
        url = s["playback_ids"][0]["playback_url"]
        pl = wait_playlist(url, lambda pl: len(pl.segments) >= 3, timeout=20)
    finally:
        p.kill()
    parts, target, _ = ll_lines(pl.text)
    assert target == 0.202, pl.text
    assert "PART-HOLD-BACK=0.606\n" in pl.text, pl.text
    assert len(parts) >= 10 and all(0.85 * target <= d <= target for d, _, _ in parts), parts


REPORT_RE = re.compile(r'^#EXT-X-RENDITION-REPORT:URI="([^"]+)",LAST-MSN=(\d+)(?:,LAST-PART=(\d+))?$',
                       re.M)


def last_part(text):
    """(msn, part) of the last part a playlist lists."""
    parts, _, _ = ll_lines(text)
    seq, idx, _ = parts[-1][1].split(".")
    return int(seq), int(idx)


@pytest.fixture(scope="module")
def ladder_server(tmp_path_factory):
    """A server that transcodes (mode auto: a 360p push gets a 240p rung)."""
    srv = start_live_server(tmp_path_factory, window=4, ladders=True)
    yield srv
    srv.stop()


def test_playlist_url_never_flips(ladder_server, tmp_path):
    """The rungs' first segments come a moment after the source's. A player
    polling the stream's URL from the start gets the multivariant playlist
    from its first answer on, never the source's media playlist first: at
    its next reload of the same URL it would get the multivariant one,
    which hls.js takes as a fatal error."""
    srv = ladder_server
    api = srv.client(srv.token(srv.apikey("flip")))
    s = api.create({"name": "flip", "output_format": "ll-hls"})
    url = s["playback_ids"][0]["playback_url"]
    rtmp = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"
    kinds = []
    p = Pusher(ffmpeg_argv(rtmp, size="640x360"), tmp_path / "ff.log", "ffmpeg")
    try:
        deadline = time.time() + 20
        while kinds.count("multivariant") < 5:
            assert time.time() < deadline, f"answers so far: {kinds}\n{srv.logs(20)}"
            r = requests.get(url, timeout=HTTP_TIMEOUT)
            if r.status_code == 200:
                kinds.append("multivariant" if "#EXT-X-STREAM-INF" in r.text else "media")
            time.sleep(0.005)
    finally:
        p.kill()
        api.close()
    assert set(kinds) == {"multivariant"}, kinds


def test_rendition_reports(ladder_server, tmp_path):
    """With an ABR ladder each rendition's LL-HLS playlist reports how far
    the other variants are (EXT-X-RENDITION-REPORT, with the variant URI as
    the multivariant playlist has it), never ahead of what their own
    playlists list."""
    srv = ladder_server
    api = srv.client(srv.token(srv.apikey("reports")))
    s = api.create({"name": "ladder", "output_format": "ll-hls"})
    rtmp = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(rtmp, size="640x360"), tmp_path / "ff.log", "ffmpeg")
    try:
        url = s["playback_ids"][0]["playback_url"]
        base = url.rsplit("/", 1)[0]

        def two_variants():
            r = requests.get(url, timeout=HTTP_TIMEOUT)
            return r.status_code == 200 and r.text.count("#EXT-X-STREAM-INF") == 2

        wait_status(api, s["id"], "live", timeout=20)
        deadline = time.time() + 20
        while not two_variants():
            assert time.time() < deadline, f"no ladder: {srv.logs(20)}"
            time.sleep(0.1)
        wait_playlist(f"{base}/240p/index.m3u8", lambda pl: len(pl.segments) >= 2, timeout=10)
        for me, other, query in (("source", "240p", ""), ("240p", "source", "?format=fmp4")):
            mine = requests.get(f"{base}/{me}/index.m3u8{query}", timeout=HTTP_TIMEOUT).text
            theirs = requests.get(f"{base}/{other}/index.m3u8{query}", timeout=HTTP_TIMEOUT).text
            reports = REPORT_RE.findall(mine)
            assert [r[0] for r in reports] == [f"../{other}/index.m3u8{query}"], mine
            reported = (int(reports[0][1]), int(reports[0][2]))
            assert reported <= last_part(theirs), f"report {reported} ahead of\n{theirs}"
        # rfc8216bis 6.2.4: the renditions map media time to the same date:
        # their segments start at the same keyframes, so at the same PDTs.
        src = get_playlist(f"{base}/source/index.m3u8")
        rung = get_playlist(f"{base}/240p/index.m3u8")
        src_pdts = {x.pdt for x in src.segments}
        common = [x.pdt for x in rung.segments if min(src_pdts) <= x.pdt <= max(src_pdts)]
        assert common and all(t in src_pdts for t in common), f"{src}\n{rung}"
    finally:
        p.kill()
        api.close()
