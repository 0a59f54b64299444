"""Recording (DVR) end to end: real ffmpeg pushes, the files read back with
ffprobe, the recordings API, and crash recovery.

A stream with dvr.enabled records its broadcast into TS fragments on disk;
when the stream stops the recording is remuxed into the requested formats
(mp4, ts, hls), shipped to dvr.destination (file:// here; the uploader's
own tests cover s3/azblob/ftp/sftp), and playable as HLS VOD from onair.
"""
import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import run_cli
from helpers import assert_error
from media import (SLOW, Playlist, Pusher, ffprobe_json, ffprobe_streams, get_playlist, pushers,
                   start_live_server, wait_playlist, wait_status)

GOP_S = 1.0  # the pushers use -g 30 at 30 fps


@pytest.fixture
def pusher(tmp_path):
    yield from pushers(tmp_path)


@pytest.fixture(scope="module")
def rec_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=4)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def rec_api(rec_server):
    c = rec_server.new_project("recording-a")
    yield c
    c.close()


@pytest.fixture(scope="module")
def other_api(rec_server):
    c = rec_server.new_project("recording-b")
    yield c
    c.close()


# ---------------------------------------------------------------- helpers


def recordings_of(api, sid, **params):
    r = api.get(f"/v1/live-streams/{sid}/recordings", params=params)
    assert r.status_code == 200, f"list -> {r.status_code} {r.text[:300]}"
    return r.json()


def wait_recordings(api, sid, pred, timeout=40, what="recordings"):
    """Polls the stream's recordings (all of them) until pred(list) holds."""
    deadline = time.time() + timeout * SLOW
    last = None
    while True:
        last = recordings_of(api, sid, limit=100, order="asc")["recordings"]
        if pred(last):
            return last
        if time.time() > deadline:
            raise AssertionError(f"{what}: condition not met within {timeout * SLOW}s; "
                                 f"last: {last}")
        time.sleep(0.2)


def all_finished(recs, n=None, status=("ready", "uploaded")):
    return recs and (n is None or len(recs) == n) and all(r["status"] in status for r in recs)


def probe_duration(target):
    return float(ffprobe_json("-show_format", str(target))["format"]["duration"])


def vod_url(rec, file):
    assert rec["playback_url"], f"recording without a playback_url: {rec}"
    return rec["playback_url"].rsplit("/", 1)[0] + "/" + file


def assert_av(target, what):
    streams = ffprobe_streams(target)
    kinds = sorted(s["codec_type"] for s in streams)
    assert kinds == ["audio", "video"], f"{what}: streams {kinds}"
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (640, 360), v


def push_for(pusher, server, key, seconds):
    """Pushes `seconds` of media (ffmpeg -t, real time) and waits for the end."""
    p = pusher(server, key, duration=seconds)
    rc = p.wait(seconds * 3 + 30)
    assert rc == 0, f"the pusher failed: {p!r}"
    return p


# ---------------------------------------------------------------- tests


def test_record_mp4_ts_hls_and_vod(rec_server, rec_api, other_api, pusher):
    s = rec_api.create({"name": "rec-basic", "mode": "passthrough",
                        "dvr": {"enabled": 1, "format": ["mp4", "ts", "hls"]}})
    push_for(pusher, rec_server, s["stream_key"], 6)
    r = rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    assert r.status_code == 200, r.text
    recs = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1))
    rec = recs[0]
    # No destination: the files stay here, "ready".
    assert rec["status"] == "ready" and rec["error"] is None, rec
    assert rec["stream_id"] == s["id"] and rec["part"] == 1
    assert sorted(rec["format"]) == ["hls", "mp4", "ts"]
    assert rec["resolution"] == "640x360", rec
    assert rec["size"] > 0 and rec["destinations"] == []
    assert abs(rec["duration"] - 6) <= GOP_S + 0.5, rec
    names = {f["name"]: f for f in rec["files"]}
    assert {"source.mp4", "source.ts", "index.m3u8"} <= set(names), names

    mp4 = vod_url(rec, "source.mp4")
    assert_av(mp4, "mp4")
    assert abs(probe_duration(mp4) - 6) <= GOP_S + 0.5
    # faststart: moov before mdat, so players start before the download ends
    head = requests.get(mp4, headers={"Range": "bytes=0-65535"}, timeout=10)
    assert head.status_code == 206 and head.headers["Content-Type"] == "video/mp4"
    assert head.content.find(b"moov") < head.content.find(b"mdat") or b"mdat" not in head.content
    ts = vod_url(rec, "source.ts")
    assert_av(ts, "ts")
    assert abs(probe_duration(ts) - 6) <= GOP_S + 0.5

    # the HLS VOD plays as a whole
    pl = get_playlist(rec["playback_url"])
    assert pl.endlist and "#EXT-X-PLAYLIST-TYPE:VOD" in pl.text, pl.text
    assert abs(sum(seg.duration for seg in pl.segments) - 6) <= GOP_S + 0.5
    assert_av(rec["playback_url"], "hls vod")
    assert abs(probe_duration(rec["playback_url"]) - 6) <= GOP_S + 0.5
    seg = requests.get(vod_url(rec, pl.segments[0].uri), timeout=10)
    assert seg.status_code == 200 and seg.headers["Content-Type"] == "video/mp2t"
    etag = seg.headers["ETag"]
    again = requests.get(vod_url(rec, pl.segments[0].uri), headers={"If-None-Match": etag},
                         timeout=10)
    assert again.status_code == 304
    for bad in ("..%2Fx", ".hidden", "nope.mp4"):
        assert requests.get(vod_url(rec, bad), timeout=10).status_code == 404
    # a public recording ignores ?auth=, and what it echoes into the playlist
    # cannot add lines to it
    injected = requests.get(rec["playback_url"],
                            params={"auth": "x\n#EXT-X-ENDLIST\nhttp://evil.example/a.ts"},
                            timeout=10)
    assert injected.status_code == 200, injected.text
    assert "evil.example/a.ts\n" not in injected.text and injected.text.count("#EXT-X-ENDLIST") == 1
    assert all(ln.startswith("#") or "?auth=x%0A" in ln
               for ln in injected.text.splitlines() if ln), injected.text

    # the stream carries its recording once it ended (seed 002)
    st = rec_api.get_stream(s["id"])
    assert st["recording"] and st["recording"]["id"] == rec["id"], st.get("recording")

    # GET one; another project sees nothing
    one = rec_api.get(f"/v1/recordings/{rec['id']}")
    assert one.status_code == 200 and one.json()["recording"]["id"] == rec["id"]
    assert_error(other_api.get(f"/v1/recordings/{rec['id']}"), 404, "not_found")
    assert_error(other_api.delete(f"/v1/recordings/{rec['id']}"), 404, "not_found")
    assert_error(other_api.get(f"/v1/live-streams/{s['id']}/recordings"), 404, "not_found")

    # DELETE removes it and its files
    d = rec_api.delete(f"/v1/recordings/{rec['id']}")
    assert d.status_code == 200, d.text
    assert_error(rec_api.get(f"/v1/recordings/{rec['id']}"), 404, "not_found")
    assert_error(rec_api.delete(f"/v1/recordings/{rec['id']}"), 404, "not_found")
    assert requests.get(mp4, timeout=10).status_code == 404
    local = rec_server.data_dir / "recordings" / rec["id"]
    deadline = time.time() + 20
    while local.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not local.exists(), "the local files outlived DELETE"


def test_libav_messages_are_log_lines(rec_server, rec_api, pusher):
    """Making an MP4 runs libavformat, which talks on its own ("Starting
    second pass: moving the moov atom ..."): in onair's log that is a
    logfmt line like every other, never a raw line on stderr."""
    s = rec_api.create({"name": "rec-avlog", "dvr": {"enabled": 1, "format": ["mp4"]}})
    push_for(pusher, rec_server, s["stream_key"], 3)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1), timeout=60)
    lines = [ln for ln in rec_server.log_text().splitlines() if "moov atom" in ln]
    assert lines, "no libav message about the MP4 in the (debug) log"
    assert all(ln.startswith("ts=") and " libav_message " in ln and "component=mp4" in ln
               for ln in lines), lines



def test_split_at_max_file_duration_and_list(rec_server, rec_api, pusher):
    s = rec_api.create({"name": "rec-split", "mode": "passthrough",
                        "dvr": {"enabled": True, "format": "mp4", "max_file_duration": 10}})
    push_for(pusher, rec_server, s["stream_key"], 25)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    recs = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 3), timeout=60)
    assert [r["part"] for r in recs] == [1, 2, 3], recs
    total = 0
    for r in recs:
        d = probe_duration(vod_url(r, "source.mp4"))
        assert d <= 10 + 0.5 + 0.1, f"part {r['part']} is {d} s long"
        assert_av(vod_url(r, "source.mp4"), f"part {r['part']}")
        total += d
    assert abs(total - 25) <= GOP_S + 1, [r["duration"] for r in recs]

    # paging and sorting
    page = recordings_of(rec_api, s["id"], limit=2, offset=0, order="asc")
    assert page["total"] == 3 and len(page["recordings"]) == 2
    assert [r["part"] for r in page["recordings"]] == [1, 2]
    rest = recordings_of(rec_api, s["id"], limit=2, offset=2, order="asc")
    assert [r["part"] for r in rest["recordings"]] == [3]
    newest = recordings_of(rec_api, s["id"], limit=1)
    assert newest["recordings"][0]["part"] == 3 and newest["order"] == "desc"
    by_dur = recordings_of(rec_api, s["id"], sort_by="duration", order="asc")["recordings"]
    assert [r["duration"] for r in by_dur] == sorted(r["duration"] for r in recs)
    assert by_dur[0]["part"] == 3
    for q, field in (({"sort_by": "size"}, "sort_by"), ({"order": "up"}, "order"),
                     ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                     ({"offset": "-1"}, "offset")):
        assert_error(rec_api.get(f"/v1/live-streams/{s['id']}/recordings", params=q), 400,
                     field=field)
    assert_error(rec_api.get("/v1/live-streams/00000000-0000-4000-8000-000000000000/recordings"),
                 404)


def test_dvr_toggled_while_live(rec_server, rec_api, pusher):
    s = rec_api.create({"name": "rec-toggle", "mode": "passthrough", "dvr": {"enabled": 0, "format": "mp4"}})
    p = pusher(rec_server, s["stream_key"])
    url = s["playback_ids"][0]["playback_url"]
    wait_status(rec_api, s["id"], "live", timeout=20)
    first = wait_playlist(url, lambda pl: pl.segments, timeout=20).segments[0].seq
    wait_playlist(url, lambda pl: pl.last_seq >= first + 3, timeout=20)
    assert recordings_of(rec_api, s["id"])["total"] == 0

    r = rec_api.put(f"/v1/live-streams/{s['id']}", json={"dvr": {"enabled": 1}})
    assert r.status_code == 200, r.text
    t_on = time.time()
    live_rec = wait_recordings(rec_api, s["id"],
                               lambda rs: len(rs) == 1 and rs[0]["status"] == "recording",
                               timeout=20)[0]
    # a recording being written is neither deletable nor playable yet
    assert_error(rec_api.delete(f"/v1/recordings/{live_rec['id']}"), 409, "conflict")
    assert live_rec["playback_url"] is None, live_rec
    assert_error(requests.get(f"{rec_server.base_url}/vod/recordings/{live_rec['id']}/index.m3u8",
                              timeout=10), 404, "not_found")
    time.sleep(6)
    r = rec_api.put(f"/v1/live-streams/{s['id']}", json={"dvr": {"enabled": 0}})
    assert r.status_code == 200, r.text
    span = time.time() - t_on
    recs = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1), timeout=40)
    # still live after the recording ended
    assert p.alive() and rec_api.get_stream(s["id"])["status"]["name"] == "live"
    time.sleep(3)
    assert recordings_of(rec_api, s["id"])["total"] == 1, "disabled DVR kept recording"
    p.stop()
    d = probe_duration(vod_url(recs[0], "source.mp4"))
    pushed = time.time() - p.started
    assert 2 <= d <= span + 2 * GOP_S + 1, f"recorded {d} s of an enabled span of {span:.1f} s"
    assert d < pushed - 3, f"recorded {d} s of {pushed:.1f} s pushed: not only the enabled span"


def test_kill9_mid_recording_recovers(fresh_server, pusher, tmp_path):
    srv = fresh_server(extra_args=["--hls-segment-ms", "1000", "--hls-window", "4"])
    api = srv.new_project("recording-kill")
    # a space in the path, percent-encoded in the URL: VOD is served from
    # the directory the uploader wrote to (the decoded path)
    dest = tmp_path / "dest dir"
    dest.mkdir()
    dest_url = f"file://{str(dest).replace(' ', '%20')}"
    s = api.create({"name": "rec-kill", "mode": "passthrough", "dvr": {"enabled": 1, "format": ["mp4", "hls"],
                                                "destination": {"url": dest_url}}})
    p = pusher(srv, s["stream_key"])
    url = s["playback_ids"][0]["playback_url"]
    wait_status(api, s["id"], "live", timeout=20)
    # segments are numbered from the broadcast's start (in ms): count from
    # the first one listed
    first = wait_playlist(url, lambda pl: pl.segments, timeout=20).segments[0].seq
    pl = wait_playlist(url, lambda pl: pl.last_seq >= first + 7, timeout=30)
    published = sum(seg.duration for seg in pl.segments) + (pl.segments[0].seq - first) * 1.0
    rec_id = recordings_of(api, s["id"])["recordings"][0]["id"]
    srv.kill()  # SIGKILL: no chance to finish anything
    p.kill()
    srv.start()
    recs = wait_recordings(api, s["id"], lambda rs: all_finished(rs, 1, ("uploaded",)),
                           timeout=60, what="recovered recording")
    rec = recs[0]
    assert rec["id"] == rec_id and rec["error"] is None, rec
    # At most the fragment being written (and the one the packager had not
    # yet published) is lost.
    mp4 = dest / rec_id / "source.mp4"
    assert mp4.exists(), list((dest / rec_id).iterdir()) if (dest / rec_id).exists() else dest
    assert_av(mp4, "recovered mp4")
    d = probe_duration(mp4)
    assert d >= published - 2 * 1.0 - GOP_S, f"recovered {d} s of {published} s published"
    # uploaded to file://: the local copy is gone, VOD is served from the destination
    local = srv.data_dir / "recordings" / rec_id
    deadline = time.time() + 20
    while local.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not local.exists()
    assert rec["destinations"] == [dest_url]
    assert any(u.endswith(f"/{rec_id}/source.mp4") for u in rec["urls"]), rec["urls"]
    assert rec["playback_url"], rec
    assert abs(probe_duration(rec["playback_url"]) - d) <= GOP_S + 0.5
    assert_av(rec["playback_url"], "vod from the file:// destination")


def test_recording_needs_token_without_public_playback_id(rec_server, rec_api, pusher,
                                                            tmp_path):
    # Streams start with a public playback ID: the URL alone plays. Once the
    # stream has no public ID left, the VOD needs a signed ?auth= token.
    s = rec_api.create({"name": "rec-auth", "dvr": {"enabled": 1, "format": "hls"}})
    push_for(pusher, rec_server, s["stream_key"], 3)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1))[0]
    assert requests.get(rec["playback_url"], timeout=10).status_code == 200
    for pid in s["playback_ids"]:
        rec_api.delete(f"/v1/live-streams/{s['id']}/playback-ids/{pid['id']}")
    assert_error(requests.get(rec["playback_url"], timeout=10), 401, field="auth")
    assert_error(requests.get(rec["playback_url"], params={"auth": "x.y.z"}, timeout=10), 401)
    r = rec_api.post("/v1/signing-keys")
    assert r.status_code == 201, r.text
    key = r.json()["signing_key"]
    kf = tmp_path / "k.pem"
    kf.write_text(key["private_key"])
    tok = run_cli("token", "sign", "--key-file", str(kf), "--key-id", key["id"],
                  "--playback-id", rec["id"]).stdout.strip()
    r = requests.get(rec["playback_url"], params={"auth": tok}, timeout=10)
    assert r.status_code == 200, r.text
    seg = Playlist(r.text).segments[0].uri
    assert seg.endswith(f"?auth={tok}"), seg  # the playlist hands the token on
    assert requests.get(vod_url(rec, seg), timeout=10).status_code == 200
    assert requests.get(vod_url(rec, seg.split("?")[0]), timeout=10).status_code == 401
    assert abs(probe_duration(f"{rec['playback_url']}?auth={tok}") - 3) <= GOP_S + 0.5
    other = run_cli("token", "sign", "--key-file", str(kf), "--key-id", key["id"],
                    "--playback-id", "something-else").stdout.strip()
    assert_error(requests.get(rec["playback_url"], params={"auth": other}, timeout=10), 403)


def test_transcoded_all_rungs_recorded(rec_server, rec_api, pusher):
    """A two-rung ladder on a 640x360 push (custom 360p + 240p: the test
    server makes no automatic rungs); resolution=all records every rung,
    and the recording's resolution is the top one."""
    s = rec_api.create({"name": "rec-ladder", "mode": "custom",
                        "qualities": [{"resolution": "360p"}, {"resolution": "240p"}],
                        "dvr": {"enabled": 1, "format": ["mp4", "hls"],
                                "stream_source": "transcoded", "resolution": "all"}})
    push_for(pusher, rec_server, s["stream_key"], 6)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1), timeout=60)[0]
    names = sorted(r["name"] for r in rec["renditions"])
    assert names == ["240p", "360p"], rec["renditions"]
    assert rec["resolution"] == "640x360"
    for r in rec["renditions"]:
        mp4 = vod_url(rec, f"{r['name']}.mp4")
        streams = ffprobe_streams(mp4)
        v = [x for x in streams if x["codec_type"] == "video"][0]
        assert (v["width"], v["height"]) == (r["width"], r["height"]), (r, v)
        assert any(x["codec_type"] == "audio" for x in streams)
        assert abs(probe_duration(mp4) - 6) <= GOP_S + 0.5, r
    master = requests.get(rec["playback_url"], timeout=10).text
    assert master.count("#EXT-X-STREAM-INF") == len(names), master
    for r in rec["renditions"]:
        assert f"{r['name']}.m3u8" in master
    assert abs(probe_duration(rec["playback_url"]) - 6) <= GOP_S + 0.5


def test_destination_down_then_up_and_finally_failed(fresh_server, pusher, tmp_path):
    """A file:// destination that cannot be written at first (a path
    component is a regular file) is retried until it can; one that never
    can ends "failed" with the reason, and the local copy stays playable."""
    srv = fresh_server(extra_args=["--hls-segment-ms", "1000", "--upload-retry-base-ms", "200",
                                   "--upload-max-attempts", "40"])
    api = srv.new_project("recording-dest")
    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    s = api.create({"name": "rec-late", "mode": "passthrough",
                    "dvr": {"enabled": 1, "format": "mp4",
                            "destination": [{"url": f"file://{blocker}/vod"}]}})
    push_for(pusher, srv, s["stream_key"], 3)
    api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = wait_recordings(api, s["id"], lambda rs: rs and rs[0]["status"] == "uploading")[0]
    assert rec["playback_url"], "VOD is served from the local copy while uploading"
    time.sleep(1)  # a few attempts fail meanwhile
    blocker.unlink()
    blocker.mkdir()
    rec = wait_recordings(api, s["id"], lambda rs: all_finished(rs, 1, ("uploaded",)),
                          timeout=60)[0]
    out = blocker / "vod" / rec["id"] / "source.mp4"
    assert_av(out, "uploaded after retries")
    assert rec["urls"] == [f"file://{blocker}/vod/{rec['id']}/source.mp4"], rec["urls"]
    # mp4 only to file:// (no hls there): nothing to serve VOD from any more
    assert rec["playback_url"] is None

    srv2 = fresh_server(extra_args=["--hls-segment-ms", "1000", "--upload-retry-base-ms", "100",
                                    "--upload-max-attempts", "2"])
    api2 = srv2.new_project("recording-fail")
    never = tmp_path / "never"
    never.write_text("x")
    s2 = api2.create({"name": "rec-fail", "mode": "passthrough",
                      "dvr": {"enabled": 1, "format": "mp4",
                              "destination": {"url": f"file://{never}/vod"}}})
    push_for(pusher, srv2, s2["stream_key"], 3)
    api2.post(f"/v1/live-streams/{s2['id']}/stop")
    rec2 = wait_recordings(api2, s2["id"], lambda rs: all_finished(rs, 1, ("failed",)),
                           timeout=60)[0]
    assert rec2["error"] and "source.mp4" in rec2["error"], rec2
    assert rec2["destinations"] == [f"file://{never}/vod"]
    assert_av(vod_url(rec2, "source.mp4"), "the local copy of a failed upload")


def test_reconnect_within_timeout_continues_the_recording(rec_server, rec_api, pusher):
    """One broadcast, one recording: an encoder that reconnects within
    stream_timeout continues the same recording (the gap is not recorded;
    the HLS form marks the discontinuity)."""
    s = rec_api.create({"name": "rec-reconnect", "mode": "passthrough", "stream_timeout": 60,
                        "dvr": {"enabled": 1, "format": ["mp4", "hls"]}})
    push_for(pusher, rec_server, s["stream_key"], 4)
    wait_status(rec_api, s["id"], "idle", timeout=20)
    push_for(pusher, rec_server, s["stream_key"], 4)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    recs = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1))
    rec = recs[0]
    assert abs(probe_duration(vod_url(rec, "source.mp4")) - 8) <= 2 * GOP_S + 0.5, rec
    assert_av(vod_url(rec, "source.mp4"), "mp4 across a reconnect")
    pl = get_playlist(rec["playback_url"])
    assert sum(1 for seg in pl.segments if seg.discontinuity) == 1, pl.text
    assert abs(sum(seg.duration for seg in pl.segments) - 8) <= 2 * GOP_S + 0.5


def test_recording_ready_webhook(fresh_server, pusher):
    """recording.ready reaches a project webhook with the recording object."""
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        srv = fresh_server(extra_args=["--hls-segment-ms", "1000", "--webhooks-allow-private", "1"])
        api = srv.new_project("recording-hook")
        r = api.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{httpd.server_address[1]}/h",
                                           "events": ["recording.*"]})
        assert r.status_code == 201, r.text
        s = api.create({"name": "rec-hook", "mode": "passthrough",
                        "dvr": {"enabled": 1, "format": "mp4"}})
        push_for(pusher, srv, s["stream_key"], 3)
        api.post(f"/v1/live-streams/{s['id']}/stop")
        rec = wait_recordings(api, s["id"], lambda rs: all_finished(rs, 1))[0]
        deadline = time.time() + 30 * SLOW
        while not got and time.time() < deadline:
            time.sleep(0.1)
        assert [b["type"] for b in got] == ["recording.ready"], got
        data = got[0]["data"]
        assert data["id"] == rec["id"] and data["status"] == "ready", data
        assert data["stream_id"] == s["id"] and data["playback_url"] == rec["playback_url"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_idle_past_stream_timeout_finishes_the_recording(rec_server, rec_api, pusher):
    s = rec_api.create({"name": "rec-timeout", "mode": "passthrough", "stream_timeout": 10,
                        "dvr": {"enabled": 1, "format": "mp4"}})
    push_for(pusher, rec_server, s["stream_key"], 3)
    wait_status(rec_api, s["id"], "idle", timeout=20)
    assert recordings_of(rec_api, s["id"])["recordings"][0]["status"] == "recording"
    wait_status(rec_api, s["id"], "stopped", timeout=40)
    rec = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1))[0]
    assert abs(probe_duration(vod_url(rec, "source.mp4")) - 3) <= GOP_S + 0.5


def test_unsupported_codec_push_leaves_no_recording(rec_server, rec_api, pusher, tmp_path):
    """ffmpeg's default FLV video codec (flv1, here with -c:a aac): the
    publish is refused at the first video tag. The audio that came before
    it must not reach the stream: no audio-only recording of the failed
    publish, and the next (H.264) push within stream_timeout records its
    video too (the recording's streams came from its first fragment)."""
    s = rec_api.create({"name": "rec-flv1", "mode": "passthrough", "stream_timeout": 60,
                        "dvr": {"enabled": 1, "format": ["mp4", "hls"]}})
    url = f"rtmp://127.0.0.1:{rec_server.rtmp_port}/live/{s['stream_key']}"
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
            "-c:a", "aac", "-f", "flv", url]
    p = Pusher(argv, tmp_path / "flv1.log", "ffmpeg-flv1")
    try:
        rc = p.wait(8 * SLOW)
        assert rc is not None and rc != 0, f"ffmpeg kept pushing flv1: {p!r}"
    finally:
        p.kill()
    wait_status(rec_api, s["id"], "idle", timeout=10)
    time.sleep(1)
    assert recordings_of(rec_api, s["id"])["recordings"] == [], "the refused push was recorded"
    push_for(pusher, rec_server, s["stream_key"], 4)
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1))[0]
    assert_av(vod_url(rec, "source.mp4"), "mp4 after a refused flv1 push")
    assert abs(probe_duration(vod_url(rec, "source.mp4")) - 4) <= GOP_S + 0.5, rec


def test_stalled_publisher_takeover_keeps_recording_and_ladder(rec_server, rec_api, pusher):
    """A publisher silent for 5 s (SIGSTOP) is replaced by a new publish on
    a stream with a ladder and DVR: the rungs continue after one
    discontinuity, the old encoder waking up gets a closed connection, and
    the broadcast stays one recording holding A's and B's media in every
    rung."""
    s = rec_api.create({"name": "rec-takeover", "mode": "custom", "stream_timeout": 60,
                        "qualities": [{"resolution": "360p"}, {"resolution": "240p"}],
                        "dvr": {"enabled": 1, "format": ["mp4", "hls"],
                                "stream_source": "transcoded", "resolution": "all"}})
    rung = s["playback_ids"][0]["playback_url"].rsplit("/", 1)[0] + "/240p/index.m3u8"
    a = pusher(rec_server, s["stream_key"])
    wait_status(rec_api, s["id"], "live", timeout=20)
    wait_playlist(rung, lambda pl: len(pl.segments) >= 3, timeout=20)
    a._signal_group(signal.SIGSTOP)
    try:
        time.sleep(5.5)
        before = get_playlist(rung)
        b = pusher(rec_server, s["stream_key"], duration=5)
        after = wait_playlist(rung, lambda pl: pl.last_seq >= before.last_seq + 3, timeout=20)
        new = [x for x in after.segments if x.seq > before.last_seq]
        assert sum(x.discontinuity for x in new) == 1, f"{before.text}\n---\n{after.text}"
    finally:
        a._signal_group(signal.SIGCONT)
    a_rc = a.wait(10)
    assert a_rc is not None and a_rc != 0, f"the replaced encoder kept running: {a!r}"
    assert b.wait(30) == 0, f"the new publisher failed: {b!r}"
    rec_api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = wait_recordings(rec_api, s["id"], lambda rs: all_finished(rs, 1), timeout=60)[0]
    assert sorted(r["name"] for r in rec["renditions"]) == ["240p", "360p"], rec
    durations = {}
    for r in rec["renditions"]:
        mp4 = vod_url(rec, f"{r['name']}.mp4")
        kinds = sorted(x["codec_type"] for x in ffprobe_streams(mp4))
        assert kinds == ["audio", "video"], (r, kinds)
        durations[r["name"]] = probe_duration(mp4)
        # B's first frame follows A's last one: no timestamp stands still
        dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "warning", "-i", mp4, "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)
        assert "non monotonically increasing dts" not in dec.stderr, (r["name"], dec.stderr[-800:])
    # B's 5 s plus A's >= 3 segments, in every rendition
    assert all(d >= 5 + 3 - GOP_S for d in durations.values()), (durations, rec)
    assert abs(durations["360p"] - durations["240p"]) <= 0.5, durations
    assert abs(rec["duration"] - durations["360p"]) <= 0.5, (durations, rec)
    pl = get_playlist(rec["playback_url"].rsplit("/", 1)[0] + "/240p.m3u8")
    assert sum(1 for seg in pl.segments if seg.discontinuity) == 1, pl.text
