"""Live HLS in a real browser: hls.js in Debian's headless Chromium (driven by
playwright-core through tests/browser/play.mjs) plays a stream that ffmpeg
pushes over RTMP, in both playlist forms (MPEG-TS and fMP4) and as LL-HLS
(output_format ll-hls: parts, blocking playlist reload), for several seconds,
from a page on another origin (so CORS is exercised as well).

Needs /usr/bin/node, /usr/bin/npm and /usr/bin/chromium (scripts/install-deps.sh
installs them): a missing one FAILS the test rather than skipping it. The
node modules (tests/browser/package-lock.json) are installed by a session
fixture with `npm ci` when they are missing or not the locked versions
(about 3 s from the npm registry; nothing is downloaded when they are there).
/usr/bin/node is used explicitly, whatever `node` PATH finds, so the test
behaves as on a fresh machine.

Time: 17-21 s per playlist form, ~40 s for the module, under ASan too
(server start and stream live ~3 s, Chromium start and page ~2-4 s, player
start-up ~2-3 s, 8 s of playback), plus ~5 s once for `npm ci`.
"""
import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from npm import NODE, ensure_modules, node_env
from media import SLOW, SEGMENT_MS, Pusher, ffmpeg_argv, wait_playlist, wait_status

BROWSER_DIR = REPO / "tests" / "browser"
PLAY_MJS = BROWSER_DIR / "play.mjs"
CHROMIUM = "/usr/bin/chromium"

PLAY_SECONDS = 8          # wall time played after the video starts
MIN_ADVANCE_S = 5.0       # currentTime must advance at least this much in it
# One short `waiting` right after the start is tolerated (the first buffer
# append racing the play head); any other one is a stall.
START_GRACE_MS = 2000
START_WAIT_MAX_MS = 1000

# form -> (query added to playback_url, stream fields)
FORMS = {
    "ts": ("", {}),
    "fmp4": ("?format=fmp4", {}),
    "ll-hls": ("", {"output_format": "ll-hls"}),
}


@pytest.fixture(scope="session")
def browser_env():
    """Checks the browser toolchain and installs the locked node modules;
    returns the environment for node."""
    ensure_modules(BROWSER_DIR, tools=((CHROMIUM, "chromium"),), timeout=300)
    return node_env(CHROMIUM=CHROMIUM)


def play(env, url, seconds, log_dir):
    """Runs play.mjs; returns its JSON summary (fails on a harness error)."""
    startup = 20 * SLOW
    argv = [NODE, str(PLAY_MJS), url, str(seconds), "--startup-timeout", str(startup)]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                       timeout=seconds + startup + 60)
    (Path(log_dir) / "play.stdout.json").write_text(p.stdout)
    (Path(log_dir) / "play.stderr.log").write_text(p.stderr)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert lines, (f"play.mjs printed no summary (exit {p.returncode})\n"
                   f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}")
    summary = json.loads(lines[-1])
    assert p.returncode == 0 and not summary.get("harness_error"), (
        f"play.mjs harness failure (exit {p.returncode}): {summary.get('harness_error')}\n"
        f"stderr: {p.stderr[-3000:]}")
    return summary


def brief(summary):
    """The summary without the long series, for assertion messages."""
    skip = {"samples", "media_events"}
    return json.dumps({k: v for k, v in summary.items() if k not in skip}, indent=1)[:6000]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_hlsjs_plays_live_stream(form, browser_env, fresh_server, tmp_path):
    srv = fresh_server(extra_args=["--hls-segment-ms", str(SEGMENT_MS)])
    api = srv.new_project(f"browser-{form}")
    pusher = None
    try:
        query, fields = FORMS[form]
        s = api.create({"name": f"browser-{form}", **fields})
        url = s["playback_ids"][0]["playback_url"] + query
        rtmp = f"rtmp://127.0.0.1:{srv.rtmp_port}/live/{s['stream_key']}"
        pusher = Pusher(ffmpeg_argv(rtmp, size="640x360"), tmp_path / "ffmpeg.log", "ffmpeg")
        try:
            # The page opens as soon as the stream is live and has a segment,
            # as a viewer's would.
            wait_status(api, s["id"], "live", timeout=20)
            wait_playlist(url, lambda pl: len(pl.segments) >= 1, timeout=15)
        except AssertionError as e:
            raise AssertionError(f"{e}\npusher: {pusher!r}\n{srv.logs(30)}")

        r = play(browser_env, url, PLAY_SECONDS, tmp_path)
        assert pusher.alive(), f"ffmpeg stopped while the browser played: {pusher!r}"
    finally:
        if pusher is not None:
            pusher.kill()
        api.close()

    what = f"{form} {url}\n{brief(r)}"
    assert r["hls_supported"], f"hls.js reports no MSE support in this Chromium: {what}"
    assert r["mse_h264_aac"], f"this Chromium cannot play H.264/AAC through MSE: {what}"
    assert not r["fatal_errors"], f"fatal hls.js error: {r['fatal_errors']}\n{what}"
    assert r["manifest_parsed"] >= 1 and r["level_loaded"] >= 1, f"playlist never loaded: {what}"
    assert r["level"]["live"], f"hls.js sees a VOD playlist, not a live one: {what}"
    assert r["level"]["fmp4"] == (form != "ts"), f"playlist form is not {form}: {what}"
    assert r["started"], (f"the video never started playing within the start-up timeout "
                          f"(play() {r['play_rejected'] or 'not rejected'}): {what}")
    assert r["played_wall_s"] >= PLAY_SECONDS - 0.5, f"played only {r['played_wall_s']}s: {what}"
    assert r["current_time_advance_s"] >= MIN_ADVANCE_S, (
        f"currentTime advanced {r['current_time_advance_s']}s in {r['played_wall_s']}s: {what}")
    assert r["played_media_s"] >= MIN_ADVANCE_S, (
        f"video.played covers only {r['played_media_s']}s: {what}")
    assert not r["paused"], f"the video ended paused: {what}"
    waits = r["waiting_after_start"]
    bad = [w for w in waits
           if w["since_start_ms"] > START_GRACE_MS or w["dur_ms"] > START_WAIT_MAX_MS]
    assert len(waits) <= 1 and not bad, f"playback stalled (waiting events {waits}): {what}"
    assert r["stalled_after_start"] == 0, f"the video element fired `stalled`: {what}"
    assert (r["video_width"], r["video_height"]) == (640, 360), (
        f"video element reports {r['video_width']}x{r['video_height']}: {what}")
    assert r["frag_buffered"] >= 5, f"only {r['frag_buffered']} fragments buffered: {what}"
    if form == "ll-hls":
        # hls.js took the stream as LL-HLS: it read the parts and the server
        # control tags, loaded parts, reloaded the playlist with delivery
        # directives (the server held those requests), and aimed at the
        # PART-HOLD-BACK (3 part targets, ~1 s here) rather than 3 segments.
        lv = r["level"]
        assert lv["parts"] > 0 and lv["part_target"] > 0 and lv["can_block_reload"], (
            f"hls.js did not see LL-HLS tags: {what}")
        assert r["parts_buffered"] >= 5, f"only {r['parts_buffered']} parts buffered: {what}"
        assert r["blocking_reloads"] >= 3, (
            f"{r['blocking_reloads']} blocking playlist reloads of {r['level_loading']}: {what}")
        assert r["target_latency_s"] == pytest.approx(3 * lv["part_target"], abs=0.05), (
            f"hls.js target latency {r['target_latency_s']} s is not PART-HOLD-BACK: {what}")
