"""The live stream lifecycle driven by real encoders.

publish -> launching -> live; encoder gone -> idle; idle longer than
stream_timeout -> stopped with #EXT-X-ENDLIST; a reconnect within the window
continues the playlist after #EXT-X-DISCONTINUITY; POST .../stop kicks the
encoder; refused publishes (unknown key, busy key, deleted stream) never
disturb anyone else. A "bystander" ffmpeg publishes on its own stream for
the whole module and must keep producing segments throughout.
"""
import signal
import time

import pytest
import requests

from helpers import ORIGIN_STATUSES, assert_error
from media import (SLOW, Pusher, fetch, ffmpeg_argv, get_playlist, log_offset,
                   new_live_stream, pushers, segment_url, server_log, start_live_server,
                   status_of, wait_log, wait_playlist, wait_progress,
                   wait_status)

WINDOW = 3


@pytest.fixture
def pusher(tmp_path):
    """pusher(server, key, tool="ffmpeg"|"gst", **kw) -> a background encoder."""
    yield from pushers(tmp_path)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=WINDOW)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_api(live_server):
    c = live_server.new_project("live-lifecycle")
    yield c
    c.close()


@pytest.fixture(scope="module")
def bystander(live_server, live_api, tmp_path_factory):
    """Another stream, live for the whole module (small picture, cheap)."""
    s = live_api.create({"name": "bystander"})
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url, size="320x180"),
               tmp_path_factory.mktemp("bystander") / "ffmpeg.log", "bystander")
    try:
        wait_status(live_api, s["id"], "live", timeout=20)
        yield {"stream": s, "pusher": p, "url": s["playback_ids"][0]["playback_url"]}
    finally:
        p.kill()


def assert_bystander_ok(bystander, live_api):
    assert bystander["pusher"].alive(), f"the bystander's ffmpeg died: {bystander['pusher']!r}"
    assert status_of(live_api.get_stream(bystander["stream"]["id"])) == "live"
    wait_progress(bystander["url"])


def push_refused(pusher, server, key, what):
    """Pushes with ffmpeg and asserts the publish is refused quickly: ffmpeg
    exits non-zero within a few seconds."""
    p = pusher(server, key)
    rc = p.wait(8 * SLOW)
    assert rc is not None, f"{what}: ffmpeg still running 8s after a refused publish: {p!r}"
    assert rc != 0, f"{what}: ffmpeg exited 0: {p!r}"
    return p


# ------------------------------------------------------------------ idle / stopped


def test_encoder_gone_idle_then_stream_timeout_stopped(live_server, live_api, pusher):
    s, p, url = new_live_stream(live_api, live_server, pusher, body={"stream_timeout": 10})
    assert s["params"]["stream_timeout"] == 10
    before = get_playlist(url)
    assert not before.endlist
    assert status_of(live_api.get_stream(s["id"])) == "live"
    assert p.stop() is not None
    history = ["live"]
    idle = wait_status(live_api, s["id"], "idle", timeout=5, history=history)
    t_idle = time.time()
    assert history == ["live", "idle"], history
    assert idle.get("origin_host") == live_server.public_host, idle
    # idle: the playlist stays (a reconnect may continue it), not ended
    pl = get_playlist(url)
    assert not pl.endlist, f"idle stream's playlist ended:\n{pl.text}"
    assert pl.last_seq >= before.last_seq
    stopped = wait_status(live_api, s["id"], "stopped", timeout=16, history=history, poll=0.2)
    waited = time.time() - t_idle
    assert history == ["live", "idle", "stopped"], history
    assert waited >= 9.5, f"stopped {waited:.1f}s after idle; stream_timeout is 10s"
    assert waited <= 13 * SLOW, f"stopped only {waited:.1f}s after idle; stream_timeout is 10s"
    assert stopped.get("origin_host") in (None, ""), stopped
    ended = get_playlist(url)
    assert ended.endlist, f"stopped stream's playlist has no #EXT-X-ENDLIST:\n{ended.text}"
    assert ended.text.rstrip().endswith("#EXT-X-ENDLIST"), ended.text
    assert get_playlist(url, params={"format": "fmp4"}).endlist
    # the listed segments still play
    fetch(segment_url(url, ended.segments[-1].uri))


def test_reconnect_within_window_continues_playlist(live_server, live_api, pusher):
    s, first, url = new_live_stream(live_api, live_server, pusher, segments=2)
    first.kill()  # abrupt: no deleteStream, the TCP connection just drops
    wait_status(live_api, s["id"], "idle", timeout=5)
    before = get_playlist(url)
    assert not before.endlist
    last_before = before.last_seq

    second = pusher(live_server, s["stream_key"])
    history = ["idle"]
    wait_status(live_api, s["id"], "live", timeout=15, history=history)
    assert history[-1] == "live" and set(history) <= {"idle", "launching", "live"}, history
    again = live_api.get_stream(s["id"])
    assert again["playback_ids"] == s["playback_ids"], "the playback URL changed on reconnect"
    assert again["stream_key"] == s["stream_key"]

    pl = wait_playlist(url, lambda pl: pl.last_seq is not None and pl.last_seq > last_before,
                       timeout=10)
    new = [x for x in pl.segments if x.seq > last_before]
    assert new[0].seq == last_before + 1, f"media sequence jumped:\n{before.text}\n---\n{pl.text}"
    assert new[0].discontinuity, f"no #EXT-X-DISCONTINUITY before {new[0].uri}:\n{pl.text}"
    assert not any(x.discontinuity for x in new[1:]), pl.text
    assert not pl.endlist
    # fMP4: the new session brings its own init segment (EXT-X-MAP) and both play
    mp4 = wait_playlist(url, lambda m: m.last_seq is not None and m.last_seq > last_before,
                        params={"format": "fmp4"}, timeout=5)
    disc = [x for x in mp4.segments if x.discontinuity]
    assert disc, mp4.text
    for m in set(mp4.maps):
        init = fetch(segment_url(url, m))
        assert init.content[4:8] == b"ftyp", m
    fetch(segment_url(url, new[0].uri))
    # When the discontinuity leaves the window, the playlist must say how many
    # there were (RFC 8216 4.3.3.3), or players mis-align their timelines.
    disc_seq = new[0].seq
    later = wait_playlist(url, lambda pl: pl.media_seq > disc_seq, timeout=WINDOW + 6)
    assert later.disc_seq == 1, (
        f"segment {disc_seq} with the discontinuity left the window but "
        f"EXT-X-DISCONTINUITY-SEQUENCE is {later.disc_seq}:\n{later.text}")
    assert second.alive(), second


def test_graceful_unpublish_goes_idle(live_server, live_api, pusher):
    s, p, url = new_live_stream(live_api, live_server, pusher)
    off = log_offset(live_server)
    assert p.stop() is not None  # ffmpeg sends FCUnpublish/deleteStream
    idle = wait_status(live_api, s["id"], "idle", timeout=5)
    assert idle.get("origin_host") == live_server.public_host
    wait_log(live_server, ("publish_end", s["id"]), since=off)


# ------------------------------------------------------------------ stop


def test_stop_while_pushing_kicks_encoder_and_ends_playlist(live_server, live_api, pusher,
                                                            bystander):
    s, p, url = new_live_stream(live_api, live_server, pusher)
    r = live_api.post(f"/v1/live-streams/{s['id']}/stop")
    assert r.status_code == 200, r.text
    assert status_of(r.json()["stream"]) == "stopped", r.text
    rc = p.wait(8 * SLOW)
    assert rc is not None, f"ffmpeg still connected 8s after POST /stop: {p!r}"
    got = live_api.get_stream(s["id"])
    assert status_of(got) == "stopped"
    assert got.get("origin_host") in (None, ""), got
    pl = get_playlist(url)
    assert pl.endlist, f"no #EXT-X-ENDLIST after stop:\n{pl.text}"
    assert get_playlist(url, params={"format": "fmp4"}).endlist
    # nothing more is appended
    time.sleep(1.2)
    assert get_playlist(url).text == pl.text
    # a second stop is a state conflict
    assert_error(live_api.post(f"/v1/live-streams/{s['id']}/stop"), 409)
    assert_bystander_ok(bystander, live_api)


def test_publish_to_stopped_stream_starts_new_broadcast(live_server, live_api, pusher):
    s, p, url = new_live_stream(live_api, live_server, pusher)
    r = live_api.post(f"/v1/live-streams/{s['id']}/stop")
    assert r.status_code == 200, r.text
    p.wait(8 * SLOW)
    old = get_playlist(url)
    assert old.endlist
    old_mp4 = get_playlist(url, params={"format": "fmp4"})
    history = ["stopped"]
    p2 = pusher(live_server, s["stream_key"])
    live = wait_status(live_api, s["id"], "live", timeout=15, history=history)
    assert "launching" in history or history == ["stopped", "live"], history
    assert live.get("origin_host") == live_server.public_host
    assert live["playback_ids"] == s["playback_ids"]
    pl = wait_playlist(url, lambda pl: not pl.endlist and pl.segments, timeout=8)
    assert not pl.endlist, pl.text
    assert p2.alive(), p2
    # Segments are served as immutable: no URL of the first broadcast may
    # name a segment of the second (a cache would serve the old one), and
    # the old URLs are gone rather than answered with new bytes.
    new_mp4 = get_playlist(url, params={"format": "fmp4"})
    assert pl.media_seq > old.last_seq, f"{old.text}\n---\n{pl.text}"
    assert not {x.uri for x in old.segments} & {x.uri for x in pl.segments}
    assert not set(old_mp4.maps) & set(new_mp4.maps), (old_mp4.maps, new_mp4.maps)
    for uri in [old.segments[-1].uri, old_mp4.maps[-1]]:
        r = requests.get(segment_url(url, uri), timeout=10)
        assert r.status_code == 404, f"{uri} of the first broadcast -> {r.status_code}"


def test_publish_to_created_stream_without_start(live_server, live_api, pusher):
    s = live_api.create({})
    assert status_of(s) == "created"
    p = pusher(live_server, s["stream_key"])
    history = ["created"]
    live = wait_status(live_api, s["id"], "live", timeout=15, history=history)
    assert history == ["created", "launching", "live"], history
    assert live.get("origin_host") == live_server.public_host
    wait_playlist(live["playback_ids"][0]["playback_url"], lambda pl: pl.segments, timeout=5)
    assert p.alive()


def test_publish_to_started_stream(live_server, live_api, pusher):
    s = live_api.create({})
    r = live_api.post(f"/v1/live-streams/{s['id']}/start")
    assert r.status_code == 200, r.text
    waiting = live_api.get_stream(s["id"])
    assert status_of(waiting) == "waiting"
    assert waiting.get("origin_host") == live_server.public_host
    # waiting, nothing published yet: the playlist is not there
    r = fetch(waiting["playback_ids"][0]["playback_url"], expect=404)
    assert r.headers["Content-Type"].startswith("application/json")
    pusher(live_server, s["stream_key"])
    history = ["waiting"]
    wait_status(live_api, s["id"], "live", timeout=15, history=history)
    assert history == ["waiting", "launching", "live"], history


def test_started_stream_without_encoder_stops_after_stream_timeout(live_server, live_api):
    """Seed 003: a stream waiting for input is stopped once stream_timeout
    passes without a publish; it then has no origin_host."""
    s = live_api.create({"stream_timeout": 10})
    r = live_api.post(f"/v1/live-streams/{s['id']}/start")
    assert r.status_code == 200, r.text
    t0 = time.time()
    history = ["waiting"]
    stopped = wait_status(live_api, s["id"], "stopped", timeout=20, history=history)
    waited = time.time() - t0
    assert history == ["waiting", "stopped"], history
    assert waited >= 9, f"stopped after {waited:.1f} s, before the 10 s stream_timeout"
    assert stopped.get("origin_host") in (None, ""), stopped


# ------------------------------------------------------------------ refusals


def test_unknown_key_refused(live_server, live_api, pusher, bystander):
    off = log_offset(live_server)
    key = "0123456789abcdef0123456789abcdef"
    t0 = time.time()
    push_refused(pusher, live_server, key, "unknown key")
    assert time.time() - t0 < 8 * SLOW
    line = wait_log(live_server, "rtmp_publish_refused", since=off)
    assert "unknown" in line, line
    assert key not in live_server.log_text(), "the stream key is logged in full"
    assert_bystander_ok(bystander, live_api)


def test_second_publisher_refused_first_keeps_streaming(live_server, live_api, pusher,
                                                        bystander):
    off = log_offset(live_server)
    url = bystander["url"]
    before = get_playlist(url)
    push_refused(pusher, live_server, bystander["stream"]["stream_key"], "second publisher")
    line = wait_log(live_server, "rtmp_publish_refused", since=off)
    assert "busy" in line or "publisher" in line, line
    # the first publisher is untouched: still connected, the playlist grows
    # without a discontinuity
    assert_bystander_ok(bystander, live_api)
    after = wait_playlist(url, lambda pl: pl.last_seq > before.last_seq + 1, timeout=5)
    new = [x for x in after.segments if x.seq > before.last_seq]
    assert not any(x.discontinuity for x in new), (
        f"the first publisher was disturbed:\n{after.text}")
    assert "rtmp_close" not in "".join(
        ln for ln in server_log(live_server)[off:].splitlines(True)
        if bystander["stream"]["id"] in ln), live_server.logs(20)


def test_stalled_publisher_gives_way_after_5s(live_server, live_api, pusher, bystander):
    """An encoder whose connection stalls (here: SIGSTOP) keeps its stream
    while it has been silent < 5 s — a second publisher is refused — and
    gives it up to a publish that comes later: the old connection is closed
    (reason=replaced_by_new_publisher), the new one continues the playlist
    after a discontinuity, and the old encoder waking up disturbs nothing."""
    s, a, url = new_live_stream(live_api, live_server, pusher, segments=2)
    key = s["stream_key"]
    off = log_offset(live_server)
    a._signal_group(signal.SIGSTOP)
    t_stop = time.time()
    try:
        # fresh: refused, and A keeps the stream
        push_refused(pusher, live_server, key, "publish while the first is silent < 5 s")
        line = wait_log(live_server, ("rtmp_publish_refused", "reason=busy"), since=off)
        assert time.time() - t_stop < 5, "too slow to test the fresh case"
        assert "replaced_by_new_publisher" not in server_log(live_server)[off:], line
        before = get_playlist(url)

        # silent >= 5 s: the new publisher takes over
        time.sleep(max(0.0, t_stop + 5.5 - time.time()))
        off2 = log_offset(live_server)
        b = pusher(live_server, key)
        line = wait_log(live_server, ("rtmp_close", "reason=replaced_by_new_publisher"),
                        since=off2, timeout=8)
        stale = int(line.split("stale_ms=")[1].split()[0])
        assert stale >= 5000, line
        assert f"stream={s['id']}" in line, line
        wait_log(live_server, ("rtmp_publish ", f"stream={s['id']}"), since=off2)
        wait_status(live_api, s["id"], "live", timeout=15)
        again = live_api.get_stream(s["id"])
        assert again["playback_ids"] == s["playback_ids"], "the playback URL changed"
        pl = wait_playlist(url, lambda pl: pl.last_seq > before.last_seq + 1, timeout=10)
        new = [x for x in pl.segments if x.seq > before.last_seq]
        assert sum(x.discontinuity for x in new) == 1, f"{before.text}\n---\n{pl.text}"
    finally:
        a._signal_group(signal.SIGCONT)

    # A wakes up to a closed connection and goes; B is undisturbed
    a_rc = a.wait(10)
    assert a_rc is not None and a_rc != 0, f"the replaced encoder kept running: {a!r}"
    mark = get_playlist(url)
    after = wait_playlist(url, lambda pl: pl.last_seq > mark.last_seq + 1, timeout=10)
    assert not any(x.discontinuity for x in after.segments if x.seq > mark.last_seq), after.text
    assert b.alive(), f"the new publisher was disturbed: {b!r}"
    assert status_of(live_api.get_stream(s["id"])) == "live"
    assert_bystander_ok(bystander, live_api)


def test_deleted_stream_key_refused(live_server, live_api, pusher, bystander):
    s = live_api.create({})
    r = live_api.delete(f"/v1/live-streams/{s['id']}")
    assert r.status_code == 200, r.text
    off = log_offset(live_server)
    push_refused(pusher, live_server, s["stream_key"], "deleted stream")
    wait_log(live_server, "rtmp_publish_refused", since=off)
    r = live_api.get(f"/v1/live-streams/{s['id']}")
    assert r.status_code == 404, r.text
    assert_bystander_ok(bystander, live_api)


def test_key_with_query_string_publishes(live_server, live_api, pusher):
    """Some encoders append "?param" to the stream key (the publish name)."""
    s = live_api.create({})
    p = pusher(live_server, s["stream_key"] + "?source=obs&x=1")
    wait_status(live_api, s["id"], "live", timeout=15)
    assert p.alive(), p


def test_live_stream_cannot_be_deleted(live_server, live_api, bystander):
    sid = bystander["stream"]["id"]
    s = live_api.get_stream(sid)
    assert status_of(s) in ORIGIN_STATUSES and s.get("origin_host") == live_server.public_host
    assert_error(live_api.delete(f"/v1/live-streams/{sid}"), 409)
    assert_bystander_ok(bystander, live_api)


# ------------------------------------------------------------------ unsupported video


def default_flv_codecs_argv(url):
    """ffmpeg with no -c:v / -c:a: its FLV muxer picks Sorenson H.263
    (flv1, FLV codec_id 2) and MP3 — what a newcomer's first push sends."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
            "-f", "flv", url]


def health_of(api, sid):
    r = api.get(f"/v1/live-streams/{sid}/health")
    assert r.status_code == 200, r.text
    return r.json()


def test_unsupported_video_codec_fails_the_publish_with_a_reason(live_server, live_api, pusher,
                                                                 bystander, tmp_path):
    s = live_api.create({"name": "flv1"})
    assert health_of(live_api, s["id"])["last_error"] is None
    off = log_offset(live_server)
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(default_flv_codecs_argv(url), tmp_path / "flv1.log", "ffmpeg-flv1")
    try:
        rc = p.wait(8 * SLOW)
        assert rc is not None and rc != 0, f"ffmpeg kept pushing flv1: {p!r}"
    finally:
        p.kill()
    line = wait_log(live_server, ("rtmp_unsupported_codec", "kind=video"), since=off)
    assert "codec=flv1 (Sorenson H.263)" in line and "action=disconnect" in line, line
    wait_log(live_server, ("rtmp_close", "reason=unsupported_video_codec"), since=off)
    # never live: launching, then idle once the connection is gone
    wait_status(live_api, s["id"], "idle", timeout=5)
    went = [ln for ln in server_log(live_server)[off:].splitlines()
            if f"stream_status id={s['id']}" in ln]
    assert any("to=launching" in ln for ln in went), went
    assert not any("to=live" in ln for ln in went), went
    err = health_of(live_api, s["id"])["last_error"]
    assert err and err["message"] == ("unsupported video codec flv1 (Sorenson H.263): "
                                      "push H.264 or HEVC (ffmpeg: -c:v libx264)"), err
    assert err["timestamp"], err
    assert_bystander_ok(bystander, live_api)

    # the same key with H.264 goes live, and the reason is gone
    p2 = pusher(live_server, s["stream_key"])
    wait_status(live_api, s["id"], "live", timeout=15)
    assert p2.alive(), p2
    assert health_of(live_api, s["id"])["last_error"] is None


def test_audio_only_push_still_goes_live(live_server, live_api, pusher, tmp_path):
    """No video at all is not an unsupported video codec."""
    s = live_api.create({})
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", "sine", "-c:a", "aac", "-f", "flv", url]
    p = Pusher(argv, tmp_path / "audio.log", "ffmpeg-audio")
    try:
        wait_status(live_api, s["id"], "live", timeout=15)
        assert p.alive(), p
        assert health_of(live_api, s["id"])["last_error"] is None
    finally:
        p.kill()
