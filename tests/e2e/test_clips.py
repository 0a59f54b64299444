"""Live clips (docs/api.md "Clips"): cut from the rolling live window on disk,
made into an MP4 and an HLS VOD without re-encoding, served by onair.

Real ffmpeg pushes (1 s segments, 1 s GOP), ffprobe reads what comes out.
Everything polls with deadlines; no timing thresholds.
"""
import datetime as dt
import re
import time
from pathlib import Path

import pytest
import requests

from conftest import run_cli
from media import (SLOW, Playlist, Pusher, ffmpeg_argv, ffprobe_json, ffprobe_streams,
                   assert_av_streams, start_live_server, wait_status)

WINDOW_S = 120      # --clip-window-s of the module's server
GOP_S = 1.0         # the pushers' -g 30 at 30 fps


def push(server, stream, tmp_path, name, duration=None):
    url = f"rtmp://127.0.0.1:{server.rtmp_port}/live/{stream['stream_key']}"
    return Pusher(ffmpeg_argv(url, duration=duration), Path(tmp_path) / f"{name}.log", name)


def post_clip(api, sid, body, expect=202):
    r = api.post(f"/v1/live-streams/{sid}/clips", json=body)
    assert r.status_code == expect, f"POST clips {body} -> {r.status_code} {r.text[:500]}"
    return r.json()["clip"] if expect == 202 else r.json()["error"]


def post_clip_when_available(api, sid, body, timeout=30):
    """POSTs until the window holds the range (409 before that)."""
    deadline = time.time() + timeout * SLOW
    while True:
        r = api.post(f"/v1/live-streams/{sid}/clips", json=body)
        if r.status_code == 202:
            return r.json()["clip"]
        assert r.status_code == 409, f"POST clips {body} -> {r.status_code} {r.text[:500]}"
        assert time.time() < deadline, f"the window never held {body}: {r.text[:500]}"
        time.sleep(0.25)


def wait_clip(api, cid, want=("ready",), timeout=60):
    deadline = time.time() + timeout * SLOW
    while True:
        r = api.get(f"/v1/clips/{cid}")
        assert r.status_code == 200, f"GET clip -> {r.status_code} {r.text[:300]}"
        c = r.json()["clip"]
        if c["status"] in want:
            return c
        assert c["status"] == "processing", f"clip became {c['status']}: {c}"
        assert time.time() < deadline, f"clip still {c['status']} after {timeout * SLOW}s"
        time.sleep(0.2)


def local_url(server, url):
    """The clip URLs name public_host; tests reach the server itself."""
    return re.sub(r"^http://[^/]+", server.base_url, url)


def video_packets(target):
    data = ffprobe_json("-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
                        str(target))
    return [p for p in data.get("packets", []) if p.get("pts_time") not in (None, "N/A")]


def assert_clip_media(server, clip, want_s, tmp_path):
    """The MP4: video + audio, starts on a keyframe, lasts the request
    within one GOP. The HLS VOD: ends, and ffprobe reads it."""
    assert clip["status"] == "ready", clip
    mp4 = local_url(server, clip["mp4_url"])
    r = requests.get(mp4, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("video/mp4"), r.headers
    path = Path(tmp_path) / f"{clip['id']}.mp4"
    path.write_bytes(r.content)
    assert len(r.content) == clip["size"], (len(r.content), clip["size"])
    assert_av_streams(ffprobe_streams(path), "clip mp4")
    dur = float(ffprobe_json("-show_format", str(path))["format"]["duration"])
    assert want_s - GOP_S - 0.2 <= dur <= want_s + GOP_S + 0.2, (dur, want_s, clip)
    assert abs(clip["media_duration"] - dur) <= 0.2, (clip["media_duration"], dur)
    pk = video_packets(path)
    assert pk and pk[0]["flags"].startswith("K"), pk[:3]
    # HLS VOD
    pl_url = local_url(server, clip["playback_url"])
    r = requests.get(pl_url, timeout=30)
    assert r.status_code == 200, r.text[:300]
    pl = Playlist(r.text)
    assert pl.endlist and "#EXT-X-PLAYLIST-TYPE:VOD" in r.text, r.text
    assert abs(sum(s.duration for s in pl.segments) - dur) <= 0.5, (r.text, dur)
    assert_av_streams(ffprobe_streams(pl_url), "clip hls")
    first = requests.get(pl_url.rsplit("/", 1)[0] + "/" + pl.segments[0].uri, timeout=30)
    assert first.status_code == 200 and first.headers["Content-Type"] == "video/mp2t"


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server with 1 s segments, a project, a stream pushed for the whole
    module (stream_live) and one pushed for a few seconds then stopped
    (stream_ended)."""
    srv = start_live_server(tmp_path_factory, extra_args=["--clip-window-s", str(WINDOW_S)])
    tmp = tmp_path_factory.mktemp("clips")
    api = srv.new_project("clips-a")
    other = srv.new_project("clips-b")
    running = api.create({"name": "clips-live"})
    ended = api.create({"name": "clips-ended"})
    pushers = [push(srv, running, tmp, "live"), push(srv, ended, tmp, "ended", duration=8)]
    try:
        wait_status(api, running["id"], "live", timeout=20)
        yield {"server": srv, "api": api, "other": other, "running": running, "ended": ended,
               "pushers": pushers, "tmp": tmp}
    finally:
        for p in pushers:
            p.kill()
        api.close()
        other.close()
        srv.stop()


def test_clip_the_last_seconds_of_a_live_stream(live, tmp_path):
    api, sid = live["api"], live["running"]["id"]
    clip = post_clip_when_available(api, sid, {"start_time": -4, "name": "last four"})
    assert clip["status"] == "processing" and clip["name"] == "last four", clip
    assert clip["stream_id"] == sid and clip["duration"] == 4.0, clip
    assert clip["media_duration"] is None and clip["playback_policy"] == "public", clip
    assert clip["mp4_url"].endswith(f"/vod/clips/{clip['id']}/clip.mp4"), clip
    assert clip["playback_url"].endswith(f"/vod/clips/{clip['id']}/index.m3u8"), clip
    done = wait_clip(api, clip["id"])
    assert (done["width"], done["height"]) == (640, 360), done
    assert done["media_start_time"] <= done["start_time"], done  # keyframe at or before
    assert_clip_media(live["server"], done, 4.0, tmp_path)
    # Range requests and HEAD work on the MP4.
    mp4 = local_url(live["server"], done["mp4_url"])
    r = requests.get(mp4, headers={"Range": "bytes=0-99"}, timeout=10)
    assert r.status_code == 206 and len(r.content) == 100, r.status_code
    assert requests.head(mp4, timeout=10).status_code == 200


def test_absolute_times(live, tmp_path):
    api, sid = live["api"], live["running"]["id"]
    # The window reaches back at least 6 s by now (the previous clip or this wait).
    post_clip_when_available(api, sid, {"start_time": -7, "duration": 1})
    now = time.time()
    body = {"start_time": iso(now - 6), "end_time": iso(now - 3), "name": "absolute"}
    clip = post_clip_when_available(api, sid, body)
    assert clip["start_time"] == body["start_time"].replace("+00:00", "Z"), clip
    assert clip["duration"] == 3.0, clip
    assert_clip_media(live["server"], wait_clip(api, clip["id"]), 3.0, tmp_path)
    # seed 003's "YYYY-MM-DD HH:MM:SS" is UTC; an offset is honoured.
    t = int(now) - 5
    plain = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    plus1 = dt.datetime.fromtimestamp(t + 2, dt.timezone(dt.timedelta(hours=1))).isoformat()
    c = post_clip(api, sid, {"start_time": plain, "end_time": plus1})
    assert c["duration"] == 2.0 and c["start_time"].startswith(plain.replace(" ", "T")), c


def test_clip_after_the_stream_ended(live, tmp_path):
    api, sid = live["api"], live["ended"]["id"]
    assert live["pushers"][1].wait(60 * SLOW) is not None, "the 8 s push did not end"
    wait_status(api, sid, {"idle", "stopped"}, timeout=30)
    # The window ends where the broadcast ended: -3 is its last 3 seconds,
    # 1 is one second after it started.
    last = post_clip(api, sid, {"start_time": -3})
    early = post_clip(api, sid, {"start_time": 1, "duration": 2})
    assert_clip_media(live["server"], wait_clip(api, last["id"]), 3.0, tmp_path)
    assert_clip_media(live["server"], wait_clip(api, early["id"]), 2.0, tmp_path)
    # Stopped by the API too: the window stays.
    r = api.post(f"/v1/live-streams/{sid}/stop")
    assert r.status_code == 200, r.text
    wait_status(api, sid, "stopped")
    again = post_clip(api, sid, {"start_time": -2})
    assert_clip_media(live["server"], wait_clip(api, again["id"]), 2.0, tmp_path)


@pytest.mark.parametrize("body,field", [
    ({}, "start_time"),
    ({"start_time": None}, "start_time"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"start_time": "2026-01-01T00:00:00"}, "start_time"),   # RFC 3339 needs a zone
    ({"start_time": "2026-02-31T00:00:00Z"}, "start_time"),  # no such day
    ({"start_time": "2026-01-01T-1:00:00Z"}, "start_time"),
    ({"start_time": "2026-01-01"}, "start_time"),
    ({"start_time": True}, "start_time"),
    ({"start_time": -3, "end_time": -5}, "end_time"),
    ({"start_time": -3, "end_time": -3}, "end_time"),
    ({"start_time": -3, "duration": 0}, "duration"),
    ({"start_time": -3, "duration": -2}, "duration"),
    ({"start_time": -3, "duration": "5"}, "duration"),
    ({"start_time": -3, "duration": WINDOW_S + 1}, "duration"),
    ({"start_time": -3, "end_time": -1, "duration": 2}, "duration"),
    ({"start_time": -(WINDOW_S + 10)}, "start_time"),
    ({"start_time": -3, "name": 5}, "name"),
    ({"start_time": -3, "name": "x" * 256}, "name"),
    ({"start_time": -3, "playback_policy": "secret"}, "playback_policy"),
])
def test_validation(live, body, field):
    err = post_clip(live["api"], live["running"]["id"], body, expect=400)
    assert err["code"] == "invalid_request" and err["field"] == field, err


def test_bad_bodies(live):
    api, sid = live["api"], live["running"]["id"]
    for data in ("", "{", "[1]", '"x"'):
        r = api.post(f"/v1/live-streams/{sid}/clips", data=data)
        assert r.status_code == 400 and r.json()["error"]["message"], (data, r.text)


def test_outside_the_window_says_what_is_available(live):
    api, sid = live["api"], live["running"]["id"]
    # The window holds the last 3 s by now (alone on an xdist worker, this
    # test can come first, a second into the push).
    post_clip_when_available(api, sid, {"start_time": -3, "duration": 1})
    hour_ago = iso(time.time() - 3600)
    err = post_clip(api, sid, {"start_time": hour_ago, "duration": 5}, expect=409)
    assert "outside the window" in err["message"] and "holds media from" in err["message"], err
    assert err["field"] == "start_time", err
    future = iso(time.time() + 30)
    err = post_clip(api, sid, {"start_time": -2, "end_time": future}, expect=409)
    assert err["field"] == "end_time" and "holds media from" in err["message"], err
    # A stream that never pushed has an empty window.
    quiet = api.create({"name": "never pushed"})
    err = post_clip(api, quiet["id"], {"start_time": -5}, expect=409)
    assert "no media" in err["message"], err
    post_clip(api, quiet["id"], {"start_time": iso(time.time() - 10), "duration": 2}, expect=409)


def test_list_paging_and_sort(live):
    api, srv = live["api"], live["server"]
    s = api.create({"name": "list"})
    # Its own short broadcast, then clips of 1, 3 and 2 seconds.
    p = push(srv, s, live["tmp"], "list", duration=6)
    try:
        wait_status(api, s["id"], "live", timeout=20)
        assert p.wait(60 * SLOW) is not None
    finally:
        p.kill()
    ids = [post_clip_when_available(api, s["id"], {"start_time": -d, "name": f"d{d}"})["id"]
           for d in (1, 3, 2)]
    r = api.get(f"/v1/live-streams/{s['id']}/clips")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["limit"] == 20 and body["offset"] == 0, body
    assert [c["id"] for c in body["clips"]] == ids[::-1]  # default: created_at desc
    r = api.get(f"/v1/live-streams/{s['id']}/clips",
                params={"sort_by": "duration", "order": "asc", "limit": 2})
    assert [c["duration"] for c in r.json()["clips"]] == [1.0, 2.0], r.text
    r = api.get(f"/v1/live-streams/{s['id']}/clips",
                params={"sort_by": "duration", "order": "asc", "limit": 2, "offset": 2})
    assert [c["duration"] for c in r.json()["clips"]] == [3.0] and r.json()["total"] == 3
    r = api.get(f"/v1/live-streams/{s['id']}/clips", params={"sort_by": "created_at",
                                                            "order_by": "asc"})
    assert [c["id"] for c in r.json()["clips"]] == ids, r.text
    for q, field in (({"sort_by": "name"}, "sort_by"), ({"order": "up"}, "order"),
                     ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                     ({"offset": -1}, "offset")):
        r = api.get(f"/v1/live-streams/{s['id']}/clips", params=q)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (q, r.text)
    for cid in ids:
        wait_clip(api, cid)
    # Deleting the stream removes its window (a sweep notices within
    # seconds); its clips stay.
    window = srv.data_dir / "window" / s["id"]
    assert (window / "index").is_file()
    assert api.post(f"/v1/live-streams/{s['id']}/stop").status_code == 200
    r = api.delete(f"/v1/live-streams/{s['id']}")
    assert r.status_code == 200, r.text
    deadline = time.time() + 60 * SLOW
    while window.exists():
        assert time.time() < deadline, f"{window} still exists"
        time.sleep(0.2)
    r = api.get(f"/v1/clips/{ids[0]}")
    assert r.status_code == 200 and r.json()["clip"]["status"] == "ready", r.text
    assert requests.get(local_url(srv, r.json()["clip"]["mp4_url"]), timeout=10).status_code == 200


def test_delete_removes_the_files(live):
    api, srv, sid = live["api"], live["server"], live["running"]["id"]
    clip = wait_clip(api, post_clip_when_available(api, sid, {"start_time": -2})["id"])
    d = srv.data_dir / "clips" / clip["id"]
    assert (d / "clip.mp4").is_file() and (d / "index.m3u8").is_file()
    r = api.delete(f"/v1/clips/{clip['id']}")
    assert r.status_code == 200 and r.json() == {"deleted": True}, r.text
    assert api.get(f"/v1/clips/{clip['id']}").status_code == 404
    assert api.delete(f"/v1/clips/{clip['id']}").status_code == 404
    assert requests.get(local_url(srv, clip["mp4_url"]), timeout=10).status_code == 404
    deadline = time.time() + 20 * SLOW
    while d.exists():
        assert time.time() < deadline, f"{d} still exists: {list(d.iterdir())}"
        time.sleep(0.1)
    # Deleting while it is being made: the files never stay behind.
    c = post_clip(api, sid, {"start_time": -3})
    assert api.delete(f"/v1/clips/{c['id']}").status_code == 200
    d = srv.data_dir / "clips" / c["id"]
    deadline = time.time() + 30 * SLOW
    while True:
        if not d.exists():
            time.sleep(1)  # a worker may still be writing: check it stays gone
            if not d.exists():
                break
        assert time.time() < deadline, f"{d} still exists"
        time.sleep(0.1)


def test_other_projects_see_nothing(live):
    api, other, sid = live["api"], live["other"], live["running"]["id"]
    clip = post_clip_when_available(api, sid, {"start_time": -2})
    assert other.get(f"/v1/clips/{clip['id']}").status_code == 404
    assert other.delete(f"/v1/clips/{clip['id']}").status_code == 404
    assert other.get(f"/v1/live-streams/{sid}/clips").status_code == 404
    r = other.post(f"/v1/live-streams/{sid}/clips", json={"start_time": -2})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert api.get(f"/v1/clips/{clip['id']}").status_code == 200
    # No token at all: 401.
    anon = live["server"].client()
    assert anon.get(f"/v1/clips/{clip['id']}").status_code == 401
    assert anon.post(f"/v1/live-streams/{sid}/clips", json={"start_time": -2}).status_code == 401
    anon.close()
    wait_clip(api, clip["id"])


def test_authenticated_clip_needs_a_signed_token(live, tmp_path):
    api, srv, sid = live["api"], live["server"], live["running"]["id"]
    clip = post_clip_when_available(api, sid, {"start_time": -2,
                                               "playback_policy": "authenticated"})
    assert clip["playback_policy"] == "authenticated", clip
    clip = wait_clip(api, clip["id"])
    mp4, pl = local_url(srv, clip["mp4_url"]), local_url(srv, clip["playback_url"])
    assert requests.get(mp4, timeout=10).status_code == 401
    assert requests.get(pl, params={"auth": "not.a.token"}, timeout=10).status_code == 401
    r = api.post("/v1/signing-keys")
    assert r.status_code == 201, r.text
    key = r.json()["signing_key"]
    kf = tmp_path / "k.pem"
    kf.write_text(key["private_key"])
    tok = run_cli("token", "sign", "--key-file", str(kf), "--key-id", key["id"],
                  "--playback-id", clip["id"]).stdout.strip()
    assert requests.get(mp4, params={"auth": tok}, timeout=10).status_code == 200
    r = requests.get(pl, params={"auth": tok}, timeout=10)
    assert r.status_code == 200, r.text
    seg = Playlist(r.text).segments[0].uri
    assert seg.endswith(f"?auth={tok}"), seg  # the playlist hands the token on
    assert requests.get(pl.rsplit("/", 1)[0] + "/" + seg, timeout=10).status_code == 200
    assert_av_streams(ffprobe_streams(f"{pl}?auth={tok}"), "authenticated clip hls")
    # A token for another clip does not open this one.
    other = run_cli("token", "sign", "--key-file", str(kf), "--key-id", key["id"],
                    "--playback-id", "another-clip").stdout.strip()
    assert requests.get(mp4, params={"auth": other}, timeout=10).status_code == 403


def test_window_and_clips_survive_a_restart(tmp_path_factory, tmp_path):
    srv = start_live_server(tmp_path_factory, extra_args=["--clip-window-s", "60"])
    api = None
    try:
        api = srv.new_project("restart")
        s = api.create({"name": "restart"})
        p = push(srv, s, tmp_path, "restart", duration=6)
        try:
            wait_status(api, s["id"], "live", timeout=20)
            assert p.wait(60 * SLOW) is not None, "the 6 s push did not end"
        finally:
            p.kill()
        before = wait_clip(api, post_clip_when_available(api, s["id"], {"start_time": -2})["id"])
        # No dvr on this stream: the window is on disk all the same.
        assert (srv.data_dir / "window" / s["id"] / "index").is_file()
        srv.restart()
        # The clip made before the restart is still there, and still served.
        again = api.get(f"/v1/clips/{before['id']}").json()["clip"]
        assert again == before, (again, before)
        assert requests.get(local_url(srv, before["mp4_url"]), timeout=10).status_code == 200
        # The window was reloaded from its index: the broadcast before the
        # restart can still be clipped.
        after = post_clip(api, s["id"], {"start_time": -3})
        assert_clip_media(srv, wait_clip(api, after["id"]), 3.0, tmp_path)
        # kill -9 right after a POST: whether it was made before the kill
        # or not, the next start leaves no clip "processing" for ever.
        cut = post_clip(api, s["id"], {"start_time": -4})
        srv.kill()
        srv.start()
        assert_clip_media(srv, wait_clip(api, cut["id"]), 4.0, tmp_path)
    finally:
        if api is not None:
            api.close()
        srv.stop()


def test_the_window_ages_out(tmp_path_factory, tmp_path):
    """clip_window_s=10: older segments are deleted as new ones come, and
    once the broadcast is over the whole window goes after 10 s."""
    srv = start_live_server(tmp_path_factory, extra_args=["--clip-window-s", "10"])
    api = None
    try:
        api = srv.new_project("ageing")
        s = api.create({"name": "ageing"})
        window = srv.data_dir / "window" / s["id"]
        p = push(srv, s, tmp_path, "ageing", duration=16)
        try:
            wait_status(api, s["id"], "live", timeout=20)
            assert p.wait(60 * SLOW) is not None, "the 16 s push did not end"
        finally:
            p.kill()
        files = sorted(window.glob("*.ts"), key=lambda f: int(f.stem))
        # 1 s segments: about 10 of them, the first ones gone.
        assert 0 < len(files) <= 13 and int(files[0].stem) > 0, [f.name for f in files]
        clip = post_clip(api, s["id"], {"start_time": -4})
        assert_clip_media(srv, wait_clip(api, clip["id"]), 4.0, tmp_path)
        err = post_clip(api, s["id"], {"start_time": -11}, expect=400)
        assert err["field"] == "start_time" and "at most 10 seconds" in err["message"], err
        deadline = time.time() + 60 * SLOW
        while window.exists():
            assert time.time() < deadline, f"{window} still exists: {list(window.iterdir())}"
            time.sleep(0.2)
        err = post_clip(api, s["id"], {"start_time": -4}, expect=409)
        assert "no media" in err["message"], err
        # The clip made from it stays.
        assert api.get(f"/v1/clips/{clip['id']}").json()["clip"]["status"] == "ready"
    finally:
        if api is not None:
            api.close()
        srv.stop()
