"""Live HLS in VLC: libvlc (VLC 3's own HLS client, "adaptive", and its
decoders) plays what ffmpeg pushes, through python3-vlc, with dummy video
and audio outputs. VLC is one of the players the issue names; its HLS
implementation shares no code with ffmpeg's or hls.js.

Checked after a few seconds of playback: VLC is playing, sees the pushed
picture size, decodes video and audio, and keeps displaying new pictures
(a live stream that stalled would not), with nothing corrupt in the demux.
Covered: MPEG-TS and fMP4 playlists of an H.264 push, and HEVC over SRT
(which Chromium cannot decode).
"""
import time

import pytest

from media import (SLOW, Pusher, ffmpeg_argv, hls_url, playback_id, start_live_server,
                   wait_playlist, wait_status)
from test_hevc import ffmpeg_hevc_srt_argv
from test_srt import srt_url

vlc = pytest.importorskip("vlc", reason="python3-vlc (scripts/install-deps.sh installs it)")

WARMUP_S = 3      # player start-up
WATCH_S = 3       # then pictures must keep coming for this long


@pytest.fixture(scope="module")
def vlc_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6, srt=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def vapi(vlc_server):
    c = vlc_server.new_project("vlc")
    yield c
    c.close()


def stats_of(media):
    st = vlc.MediaStats()
    media.get_stats(st)
    return {k: getattr(st, k) for k in ("demux_read_bytes", "demux_corrupted", "decoded_video",
                                        "decoded_audio", "displayed_pictures", "lost_pictures")}


def vlc_play(url):
    """Plays url in libvlc for WARMUP_S + WATCH_S seconds; returns what the
    player reported: state, video size, and stats at both ends of WATCH_S."""
    inst = vlc.Instance(["--intf=dummy", "--vout=dummy", "--aout=dummy", "--no-video-title-show",
                         "--quiet", "--network-caching=1000"])
    player = inst.media_player_new()
    media = inst.media_new(url)
    player.set_media(media)
    try:
        assert player.play() == 0, "libvlc refused to start"
        deadline = time.time() + 15 * SLOW
        while player.get_state() != vlc.State.Playing:
            assert player.get_state() not in (vlc.State.Error, vlc.State.Ended), player.get_state()
            assert time.time() < deadline, f"VLC not playing: {player.get_state()}"
            time.sleep(0.1)
        time.sleep(WARMUP_S)
        before = stats_of(media)
        time.sleep(WATCH_S)
        after = stats_of(media)
        return {"state": player.get_state(), "size": player.video_get_size(0),
                "before": before, "after": after}
    finally:
        player.stop()
        player.release()
        media.release()
        inst.release()


def assert_vlc_played(r, what):
    a, b = r["after"], r["before"]
    assert r["state"] == vlc.State.Playing, f"{what}: {r}"
    assert tuple(r["size"]) == (640, 360), f"{what}: VLC sees {r['size']}"
    assert a["decoded_video"] > 0 and a["decoded_audio"] > 0, f"{what}: {r}"
    assert a["demux_corrupted"] == 0, f"{what}: corrupt data in the demux: {r}"
    # 30 fps pushed: about 90 pictures in WATCH_S; a stalled player shows none
    shown = a["displayed_pictures"] - b["displayed_pictures"]
    assert shown >= 15 * WATCH_S, f"{what}: {shown} pictures in {WATCH_S} s: {r}"
    assert a["lost_pictures"] <= max(3, a["displayed_pictures"] // 20), f"{what}: {r}"


def live_h264(srv, api, tmp_path, name):
    s = api.create({"name": name})
    p = Pusher(ffmpeg_argv(f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"),
               tmp_path / "ffmpeg.log", "ffmpeg")
    wait_status(api, s["id"], "live", timeout=20)
    url = hls_url(srv, playback_id(s))
    wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=20)
    return url, p


@pytest.mark.parametrize("form", ["ts", "fmp4"])
def test_vlc_plays_live_h264(vlc_server, vapi, tmp_path, form):
    url, p = live_h264(vlc_server, vapi, tmp_path, f"vlc-{form}")
    try:
        r = vlc_play(f"{url}?format={form}")
        assert_vlc_played(r, f"VLC, {form}")
        assert p.alive(), p
    finally:
        p.kill()


@pytest.mark.parametrize("form", ["ts", "fmp4"])
def test_vlc_plays_live_hevc(vlc_server, vapi, tmp_path, form):
    s = vapi.create({"name": f"vlc-hevc-{form}"})
    p = Pusher(ffmpeg_hevc_srt_argv(srt_url(vlc_server, s["stream_key"])), tmp_path / "ffmpeg.log",
               "ffmpeg-hevc")
    try:
        wait_status(vapi, s["id"], "live", timeout=30)
        url = hls_url(vlc_server, playback_id(s))
        wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=20)
        r = vlc_play(f"{url}?format={form}")
        assert_vlc_played(r, f"VLC, HEVC {form}")
    finally:
        p.kill()
