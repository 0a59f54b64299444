"""SRT ingest -> live HLS, with real SRT callers: ffmpeg (libsrt) and
srt-live-transmit fed MPEG-TS by ffmpeg.

Covers both streamid forms, per-stream passphrases (right, wrong, missing,
unexpected), unknown keys and m=request refused inside the handshake,
kicks closing the SRT connection, and a peer spraying garbage UDP at the
SRT port while RTMP and HTTP keep working.
"""
import os
import random
import shutil
import socket
import subprocess
import time

import pytest

from media import (Pusher, assert_av_streams, ffmpeg_argv, ffprobe_streams, log_offset,
                   pusher, segment_url, start_live_server, status_of, wait_log, wait_playlist,
                   wait_status)  # noqa: F401 (pusher is a fixture)

PASS = "correct-horse-battery"


@pytest.fixture(scope="module")
def srt_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6, srt=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sapi(srt_server):
    c = srt_server.new_project("srt")
    yield c
    c.close()


@pytest.fixture
def callers(tmp_path):
    started = []

    def make(argv, name="ffmpeg", shell=False):
        if shell:
            argv = ["/bin/sh", "-c", argv]
        p = Pusher(argv, tmp_path / f"{name}-{len(started)}.log", name)
        started.append(p)
        return p

    yield make
    for p in started:
        p.kill()


def srt_url(server, streamid, passphrase=None):
    """ffmpeg 5.1 and srt-live-transmit take the query values as they are
    (no percent-decoding), so "#!::r=KEY,m=publish" goes in raw."""
    url = f"srt://127.0.0.1:{server.srt_port}?streamid={streamid}&pkt_size=1316"
    if passphrase is not None:
        url += f"&passphrase={passphrase}"
    return url


def ffmpeg_srt_argv(url, duration=None):
    argv = ffmpeg_argv("-", duration=duration)
    # same encoder settings as the RTMP tests; MPEG-TS over SRT instead of FLV
    i = argv.index("flv")
    return argv[:i] + ["mpegts", url]


def assert_refused(p, server, sid, api, reason, since):
    """The caller gives up (libsrt rejected the handshake) and the stream
    never went live."""
    rc = p.wait(20)
    assert rc is not None and rc != 0, f"the caller was not refused: {p!r}"
    if reason:
        wait_log(server, ("srt_refused", f"reason={reason}"), since=since)
    assert status_of(api.get_stream(sid)) not in ("launching", "live")


def wait_live_hls(server, api, s, p):
    try:
        wait_status(api, s["id"], "live", timeout=20)
        url = s["playback_ids"][0]["playback_url"]
        pl = wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=15)
    except AssertionError as e:
        raise AssertionError(f"{e}\ncaller: {p!r}\n{server.logs(30)}")
    return url, pl


def assert_playable(url, pl):
    seg = segment_url(url, pl.segments[-1].uri)
    assert_av_streams(ffprobe_streams(seg), f"SRT segment {seg}")


# ------------------------------------------------------------------ ffmpeg


def test_server_urls_has_srt(srt_server, sapi):
    s = sapi.create({})
    assert s["server_urls"]["srt"] == (f"srt://127.0.0.1:{srt_server.srt_port}"
                                       f"?streamid={s['stream_key']}")


def test_ffmpeg_push_goes_live(srt_server, sapi, callers):
    s = sapi.create({"name": "srt-ffmpeg"})
    assert s["params"]["input_format"] == "rtmp"
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    url, pl = wait_live_hls(srt_server, sapi, s, p)
    assert_playable(url, pl)
    live = sapi.get_stream(s["id"])
    assert live["params"]["input_format"] == "srt"
    assert "srt" in live["server_urls"]
    # the encoder leaves: idle, like RTMP
    p.stop()
    wait_status(sapi, s["id"], "idle", timeout=10)


def test_access_control_streamid(srt_server, sapi, callers):
    s = sapi.create({})
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, f"#!::r={s['stream_key']},m=publish")))
    wait_live_hls(srt_server, sapi, s, p)


def test_request_mode_and_unknown_key_refused(srt_server, sapi, callers):
    s = sapi.create({})
    since = log_offset(srt_server)
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, f"#!::r={s['stream_key']},m=request")))
    assert_refused(p, srt_server, s["id"], sapi, "not_publish", since)
    since = log_offset(srt_server)
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, "0" * 32)))
    assert_refused(p, srt_server, s["id"], sapi, "unknown_key", since)
    since = log_offset(srt_server)
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, "bad key!")))
    assert_refused(p, srt_server, s["id"], sapi, "bad_streamid", since)
    # the stream key never appears in the log in full
    assert s["stream_key"] not in srt_server.log_text()


def test_passphrase(srt_server, sapi, callers):
    s = sapi.create({"srt_passphrase": PASS, "srt_latency": 200})
    assert s["params"].get("srt_passphrase_set") is True
    key = s["stream_key"]
    # wrong passphrase: libsrt refuses the handshake
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, key, passphrase="wrong-horse-battery")))
    assert_refused(p, srt_server, s["id"], sapi, None, 0)
    # no passphrase while the stream has one
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, key)))
    assert_refused(p, srt_server, s["id"], sapi, None, 0)
    # the right one
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, key, passphrase=PASS)))
    url, pl = wait_live_hls(srt_server, sapi, s, p)
    assert_playable(url, pl)
    assert PASS not in srt_server.log_text()


def test_unexpected_encryption_refused(srt_server, sapi, callers):
    """A stream without a passphrase refuses a caller that sends key
    material (enforced encryption; docs/SECURITY.md)."""
    s = sapi.create({})
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"], passphrase=PASS)))
    assert_refused(p, srt_server, s["id"], sapi, None, 0)


def test_busy_stream_refuses_second_caller(srt_server, sapi, callers):
    s = sapi.create({})
    p1 = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    wait_live_hls(srt_server, sapi, s, p1)
    since = log_offset(srt_server)
    p2 = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    wait_log(srt_server, ("srt_publish_refused", "reason=busy"), since=since, timeout=15)
    assert p2.wait(20) is not None, "the second caller was not disconnected"
    assert p1.alive()
    assert status_of(sapi.get_stream(s["id"])) == "live"


# ------------------------------------------------------------------ kicks


@pytest.mark.parametrize("action", ["stop", "disable", "reset-stream-key"])
def test_kick_closes_the_srt_connection(srt_server, sapi, callers, action):
    s = sapi.create({})
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    wait_live_hls(srt_server, sapi, s, p)
    since = log_offset(srt_server)
    r = sapi.post(f"/v1/live-streams/{s['id']}/{action}")
    assert r.status_code == 200, r.text
    wait_log(srt_server, ("srt_conn_closed",), since=since, timeout=10)
    # ffmpeg notices the closed SRT connection and gives up
    assert p.wait(30) is not None, f"the caller kept sending after the kick: {p!r}"
    if action == "stop":  # a stopped stream can be deleted at once
        assert sapi.delete(f"/v1/live-streams/{s['id']}").status_code in (200, 204)


# ------------------------------------------------------------------ srt-live-transmit


@pytest.mark.parametrize("with_pass", [False, True])
def test_srt_live_transmit(srt_server, sapi, callers, with_pass):
    body = {"srt_passphrase": PASS} if with_pass else {}
    s = sapi.create(body)
    enc = " ".join(ffmpeg_argv("-", duration=None)[:-3])  # everything up to "-f flv URL"
    target = srt_url(srt_server, s["stream_key"], PASS if with_pass else None)
    p = callers(f"{enc} -f mpegts - | srt-live-transmit -q file://con '{target}'",
                name="slt", shell=True)
    url, pl = wait_live_hls(srt_server, sapi, s, p)
    assert_playable(url, pl)
    assert sapi.get_stream(s["id"])["params"]["input_format"] == "srt"


# ------------------------------------------------------------------ misbehaving peers


def test_garbage_udp_does_not_hurt_rtmp_or_http(srt_server, sapi, callers, pusher):
    """Random datagrams and mangled SRT handshakes at the SRT port while an
    RTMP stream is live: HTTP answers, the RTMP stream keeps producing, and
    SRT still accepts a real caller afterwards."""
    s_rtmp = sapi.create({})
    p_rtmp = pusher(srt_server, s_rtmp["stream_key"])
    url, _ = wait_live_hls(srt_server, sapi, s_rtmp, p_rtmp)
    rnd = random.Random(7)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # an SRT induction header (control bit, type 0) followed by junk
    hs = bytes.fromhex("80000000") + bytes(12)
    deadline = time.time() + 3
    sent = 0
    while time.time() < deadline:
        for _ in range(200):
            n = rnd.choice([0, 1, 16, 64, 200, 1316, 1500])
            data = (hs if rnd.random() < 0.3 else b"") + os.urandom(n)
            sock.sendto(data[:1500], ("127.0.0.1", srt_server.srt_port))
            sent += 1
        assert sapi.get("/healthz").status_code == 200
    sock.close()
    assert sent > 500
    before = wait_playlist(url, lambda pl: pl.segments, timeout=5).last_seq
    wait_playlist(url, lambda pl: pl.last_seq > before, timeout=8)
    assert srt_server.alive()
    # SRT itself still works
    s = sapi.create({})
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    wait_live_hls(srt_server, sapi, s, p)


def test_non_ts_payload_costs_only_its_connection(srt_server, sapi, callers, tmp_path):
    """A caller with a valid key that sends random bytes instead of MPEG-TS:
    no frames reach the stream, and the server stays healthy."""
    s = sapi.create({})
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(2 * 1024 * 1024))
    target = f"srt://127.0.0.1:{srt_server.srt_port}?streamid={s['stream_key']}"
    p = callers(f"cat {junk} | srt-live-transmit -q file://con '{target}'", name="junk",
                shell=True)
    p.wait(20)
    time.sleep(1)
    assert srt_server.alive()
    assert sapi.get("/healthz").status_code == 200
    assert status_of(sapi.get_stream(s["id"])) != "live"


def test_latency_param_accepted(srt_server, sapi, callers):
    s = sapi.create({"srt_latency": 1000})
    p = callers(ffmpeg_srt_argv(srt_url(srt_server, s["stream_key"])))
    wait_live_hls(srt_server, sapi, s, p)
