"""Clips cut from recordings (docs/api.md "Clips"): when the rolling live
window (here only WINDOW_S seconds) no longer holds a range, the clip comes
from the stream's DVR recordings — their local fragments, or the finished
MP4 at a file:// destination — still frame-accurate to the keyframe and
without re-encoding.

Real ffmpeg pushes (1 s segments, 1 s GOP), ffprobe reads what comes out.
Everything polls with deadlines; no timing thresholds.
"""
import datetime as dt
import time
from pathlib import Path

import pytest

from media import SLOW, start_live_server, wait_status
from test_clips import (GOP_S, assert_clip_media, iso, post_clip, push, wait_clip)

WINDOW_S = 10       # --clip-window-s (its minimum): 24 s pushes leave their start behind
PUSH_S = 24


def parse_iso(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def recordings(api, sid):
    r = api.get(f"/v1/live-streams/{sid}/recordings", params={"limit": 100, "order": "asc"})
    assert r.status_code == 200, r.text
    return r.json()["recordings"]


def wait_recordings(api, sid, pred, timeout=60, what="recordings"):
    deadline = time.time() + timeout * SLOW
    while True:
        recs = recordings(api, sid)
        if pred(recs):
            return recs
        assert time.time() < deadline, f"{what}: not reached; last {recs}"
        time.sleep(0.25)


def wait_window_left_start(api, sid, timeout=60):
    """Polls until the clip window no longer holds the broadcast's first
    seconds: a clip of them then has to come from the recordings. Returns
    the 409 text of a range before everything (it lists what is there)."""
    deadline = time.time() + timeout * SLOW
    while True:
        err = post_clip(api, sid, {"start_time": iso(time.time() - 3600), "duration": 1},
                        expect=409)
        msg = err["message"]
        assert "outside the window and the recordings" in msg, err
        if "its recordings hold" in msg:
            # "its recordings hold A to B": they must reach past the first 5 s
            rec = msg.split("its recordings hold ", 1)[1].split(" ")
            rec_first, rec_last = parse_iso(rec[0]), parse_iso(rec[2].rstrip(";,"))
            if "the clip window of this stream holds media from" in msg:
                first = parse_iso(msg.split("holds media from ", 1)[1].split(" ", 1)[0])
            else:
                first = None  # the window holds nothing (yet, or any more)
            if rec_last >= rec_first + 5 and (first is None or first > rec_first + 4):
                return msg
        assert time.time() < deadline, msg
        time.sleep(0.5)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_live_server(tmp_path_factory, extra_args=["--clip-window-s", str(WINDOW_S)])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(srv):
    c = srv.new_project("clips-recordings")
    yield c
    c.close()


def push_and_wait(srv, api, stream, tmp_path, name, seconds=PUSH_S):
    p = push(srv, stream, tmp_path, name, duration=seconds)
    try:
        wait_status(api, stream["id"], "live", timeout=20)
        assert p.wait(seconds * 3 + 60) is not None, "the push did not end"
    finally:
        p.kill()


def assert_starts_at_broadcast(clip, rec):
    """The clip's media starts at the broadcast's first keyframe: the
    recording's first second (started_at has one-second precision)."""
    start = parse_iso(clip["media_start_time"])
    rec_start = parse_iso(rec["started_at"].replace(" ", "T") + "Z")
    assert rec_start - 3 <= start <= rec_start + 1, (clip, rec["started_at"])
    assert start <= parse_iso(clip["start_time"]) < start + GOP_S + 0.1, clip


def test_clip_from_local_recording_fragments(srv, api, tmp_path):
    """DVR without a destination: the recording stays local (ready). The
    broadcast's start has left the 10 s window; start_time 0 still means the
    moment it went live, and a range across the split between part 1 and
    part 2 (max_file_duration 10) is cut from both parts' fragments."""
    s = api.create({"name": "rec-local", "mode": "passthrough",
                    "dvr": {"enabled": 1, "format": "mp4", "max_file_duration": 10}})
    push_and_wait(srv, api, s, tmp_path, "local")
    msg = wait_window_left_start(api, s["id"])
    assert "its recordings hold" in msg, msg
    first = post_clip(api, s["id"], {"start_time": 0, "duration": 4, "name": "opening"})
    across = post_clip(api, s["id"], {"start_time": 8, "end_time": 12})
    done = wait_clip(api, first["id"])
    recs = recordings(api, s["id"])
    assert len(recs) >= 2 and recs[0]["part"] == 1, recs
    assert_starts_at_broadcast(done, recs[0])
    assert (done["width"], done["height"]) == (640, 360), done
    assert_clip_media(srv, done, 4.0, tmp_path)
    assert_clip_media(srv, wait_clip(api, across["id"]), 4.0, tmp_path)
    # Stopping the stream finishes the recordings (ready, kept locally):
    # clips still come from their fragments.
    assert api.post(f"/v1/live-streams/{s['id']}/stop").status_code == 200
    wait_recordings(api, s["id"], lambda rs: rs and all(r["status"] == "ready" for r in rs))
    again = post_clip(api, s["id"], {"start_time": 1, "duration": 3})
    assert_clip_media(srv, wait_clip(api, again["id"]), 3.0, tmp_path)


def test_clip_from_mp4_at_file_destination(srv, api, tmp_path):
    """Uploaded to a file:// destination: the local fragments are gone and
    the clip is cut from the finished MP4 there."""
    dest = tmp_path / "dest"
    dest.mkdir()
    s = api.create({"name": "rec-file", "mode": "passthrough",
                    "dvr": {"enabled": 1, "format": "mp4",
                            "destination": {"url": f"file://{dest}"}}})
    push_and_wait(srv, api, s, tmp_path, "file")
    assert api.post(f"/v1/live-streams/{s['id']}/stop").status_code == 200
    recs = wait_recordings(api, s["id"],
                           lambda rs: len(rs) == 1 and rs[0]["status"] == "uploaded")
    rec = recs[0]
    local = srv.data_dir / "recordings" / rec["id"]
    deadline = time.time() + 20 * SLOW
    while local.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not local.exists(), list(local.iterdir())
    assert (dest / rec["id"] / "source.mp4").exists()
    wait_window_left_start(api, s["id"])
    clip = post_clip(api, s["id"], {"start_time": 0, "duration": 4})
    done = wait_clip(api, clip["id"])
    assert_starts_at_broadcast(done, rec)
    assert_clip_media(srv, done, 4.0, tmp_path)
    # Absolute times, from the middle of the recording.
    mid = parse_iso(done["media_start_time"]) + 6
    body = {"start_time": iso(mid), "end_time": iso(mid + 3)}
    c2 = post_clip(api, s["id"], body)
    d2 = wait_clip(api, c2["id"])
    assert parse_iso(d2["media_start_time"]) <= mid < parse_iso(d2["media_start_time"]) + GOP_S + 0.1
    assert_clip_media(srv, d2, 3.0, tmp_path)


def test_clip_while_still_recording(srv, api, tmp_path):
    """A live broadcast with DVR: its first seconds come from the recording
    being written while the window only holds the last 10 s."""
    s = api.create({"name": "rec-live", "mode": "passthrough", "dvr": {"enabled": 1}})
    p = push(srv, s, tmp_path, "rec-live")
    try:
        wait_status(api, s["id"], "live", timeout=20)
        wait_window_left_start(api, s["id"], timeout=90)
        assert recordings(api, s["id"])[0]["status"] == "recording"
        clip = post_clip(api, s["id"], {"start_time": 1, "duration": 3})
        done = wait_clip(api, clip["id"])
        assert_clip_media(srv, done, 3.0, tmp_path)
    finally:
        p.kill()


def test_neither_window_nor_recordings(srv, api, tmp_path):
    """Without DVR the broadcast's start is gone with the window: 409, and
    the message says what the window holds and that no recording does."""
    s = api.create({"name": "no-dvr", "mode": "passthrough"})
    t0 = time.time()
    push_and_wait(srv, api, s, tmp_path, "no-dvr", seconds=16)
    err = post_clip(api, s["id"], {"start_time": iso(t0 + 1), "duration": 3}, expect=409)
    msg = err["message"]
    assert "outside the window and the recordings" in msg, err
    assert "no recording of it is readable here" in msg, err
    assert err["field"] == "start_time", err
