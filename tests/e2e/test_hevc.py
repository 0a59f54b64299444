"""HEVC ingest -> live HLS in both forms, recordings and ladders.

Debian 12's ffmpeg (5.1) and GStreamer (1.22) cannot write HEVC into FLV,
so the routes in are:
  - SRT: ffmpeg encodes libx265 + AAC into MPEG-TS (the usual HEVC ingest);
  - Enhanced RTMP ('hvc1' FourCC, as OBS 29.1+ sends it): an HEVC stream
    fed by SRT is simulcast to a second stream's RTMP URL on the same
    server, so the second stream's ingest reads Enhanced RTMP video tags;
  - Enhanced RTMP written here by hand from the spec (libx265's Annex B
    output as SequenceStart + CodedFrames/CodedFramesX, no onMetaData), so
    the ingest is not only checked against onair's own RTMP client.
ffprobe then reads what a player gets: TS segments, and the fMP4 init
segment + media segment (codec tag hvc1, the form Safari plays); also the
DVR files and the H.264 rung of a ladder over an HEVC source.
"""
import shutil
import subprocess
import time

import pytest

from media import (SLOW, Pusher, assert_av_streams, fetch, ffprobe_json, ffprobe_streams,
                   get_playlist, hls_url, log_offset, playback_id, segment_url, server_log,
                   start_live_server, wait_playlist, wait_status)
from test_simulcast import add_target, wait_target
from test_srt import srt_url

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture(scope="module")
def hevc_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6, srt=True,
                            extra_args=["--health-interval-ms", "500"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hapi(hevc_server):
    c = hevc_server.new_project("hevc")
    yield c
    c.close()


def ffmpeg_hevc_srt_argv(url):
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
            "-f", "lavfi", "-i", "sine",
            "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
            "-x265-params", "keyint=30:min-keyint=30:scenecut=0:log-level=error",
            "-c:a", "aac", "-f", "mpegts", url]


@pytest.fixture(scope="module")
def hevc_source(hevc_server, hapi, tmp_path_factory):
    """One stream pushed with HEVC over SRT for the whole module."""
    s = hapi.create({"name": "hevc-source"})
    log = tmp_path_factory.mktemp("hevc-push") / "ffmpeg.log"
    p = Pusher(ffmpeg_hevc_srt_argv(srt_url(hevc_server, s["stream_key"])), log, "ffmpeg-hevc")
    try:
        wait_status(hapi, s["id"], "live", timeout=30)
        url = hls_url(hevc_server, playback_id(s))
        wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=20)
    except AssertionError as e:
        p.kill()
        raise AssertionError(f"{e}\npusher: {p!r}\n{hevc_server.logs(30)}")
    yield {"stream": s, "url": url, "pusher": p}
    p.kill()


def assert_hevc_forms(url, tmp_path, what):
    """The TS playlist's newest segment and the fMP4 playlist's (init +
    segment) both read as HEVC 640x360 + AAC; the fMP4 sample entry is hvc1."""
    pl = wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=20)
    assert all(x.uri.endswith(".ts") for x in pl.segments), pl.text
    seg = segment_url(url, pl.segments[-1].uri)
    assert_av_streams(ffprobe_streams(seg), f"{what}, TS segment", vcodec="hevc")

    mp4 = get_playlist(url, params={"format": "fmp4"})
    assert mp4.maps and mp4.segments, mp4.text
    last = mp4.segments[-1]
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(fetch(segment_url(url, last.map_uri)).content +
                       fetch(segment_url(url, last.uri)).content)
    streams = ffprobe_streams(joined)
    assert_av_streams(streams, f"{what}, fMP4 init + segment", vcodec="hevc")
    v = next(x for x in streams if x["codec_type"] == "video")
    assert v["codec_tag_string"] == "hvc1", f"{what}: fMP4 sample entry {v['codec_tag_string']}"


def test_srt_hevc_plays_as_ts_and_fmp4(hevc_source, hapi, tmp_path):
    assert_hevc_forms(hevc_source["url"], tmp_path, "HEVC over SRT")
    live = hapi.get_stream(hevc_source["stream"]["id"])
    assert live["params"]["input_format"] == "srt"


def newest_health_sample(api, sid):
    """The newest ingest health sample, once there are two (the first may
    predate the stream's configuration)."""
    deadline = time.time() + 10 * SLOW
    while True:
        r = api.get(f"/v1/live-streams/{sid}/health")
        assert r.status_code == 200, r.text
        samples = r.json()["metrics"]
        if len(samples) >= 2:
            return samples[0]  # newest first
        assert time.time() < deadline, f"no health samples: {r.text[:600]}"
        time.sleep(0.2)


def test_srt_hevc_health_names_the_codec(hevc_source, hapi):
    last = newest_health_sample(hapi, hevc_source["stream"]["id"])
    assert (last["video_codec"], last["audio_codec"]) == ("hevc", "aac"), last
    assert last["resolution"] == "640x360", last


def test_enhanced_rtmp_hevc_ingest(hevc_server, hapi, hevc_source, tmp_path):
    """The HEVC source is restreamed to B's RTMP URL: B's ingest reads
    Enhanced RTMP ('hvc1' sequence start + coded frames) and B plays HEVC
    in both forms."""
    b = hapi.create({"name": "enhanced-rtmp-receiver"})
    since = log_offset(hevc_server)
    a = hevc_source["stream"]
    tid = add_target(hapi, a["id"], f"rtmp://127.0.0.1:{hevc_server.rtmp_port}/live",
                     b["stream_key"])
    try:
        wait_target(hapi, a["id"], tid, "live")
        wait_status(hapi, b["id"], "live", timeout=20)
        assert_hevc_forms(hls_url(hevc_server, playback_id(b)), tmp_path, "Enhanced RTMP HEVC")
        assert hapi.get_stream(b["id"])["params"]["input_format"] == "rtmp"
        # the picture size comes from the hvcC's SPS
        last = newest_health_sample(hapi, b["id"])
        assert (last["video_codec"], last["resolution"]) == ("hevc", "640x360"), last
        assert "rtmp_unsupported_codec" not in server_log(hevc_server)[since:]
    finally:
        hapi.delete(f"/v1/live-streams/{a['id']}/simulcast-targets/{tid}")


def test_hevc_recording_remuxes_to_mp4_and_ts(hevc_server, hapi, tmp_path):
    """DVR of an HEVC broadcast: the MP4 (hvc1, Safari's form) and the TS
    hold HEVC + AAC for about as long as was pushed."""
    s = hapi.create({"name": "hevc-dvr", "dvr": {"enabled": 1, "format": ["mp4", "ts"]}})
    argv = ffmpeg_hevc_srt_argv(srt_url(hevc_server, s["stream_key"]))
    argv[argv.index("-c:v"):argv.index("-c:v")] = ["-t", "5"]
    p = Pusher(argv, tmp_path / "ffmpeg.log", "ffmpeg-hevc")
    assert p.wait(60) == 0, f"the pusher failed: {p!r}"
    r = hapi.post(f"/v1/live-streams/{s['id']}/stop")
    assert r.status_code == 200, r.text
    deadline = time.time() + 40 * SLOW
    while True:
        recs = hapi.get(f"/v1/live-streams/{s['id']}/recordings").json()["recordings"]
        if recs and recs[0]["status"] in ("ready", "failed") or time.time() > deadline:
            break
        time.sleep(0.2)
    assert recs and recs[0]["status"] == "ready", recs
    base = recs[0]["playback_url"].rsplit("/", 1)[0]
    for name in ("source.mp4", "source.ts"):
        streams = ffprobe_streams(f"{base}/{name}")
        assert_av_streams(streams, f"HEVC recording {name}", vcodec="hevc")
        dur = float(ffprobe_json("-show_format", f"{base}/{name}")["format"]["duration"])
        assert 3.5 <= dur <= 6.5, f"{name}: {dur} s of a 5 s push"
    v = next(x for x in ffprobe_streams(f"{base}/source.mp4") if x["codec_type"] == "video")
    assert v["codec_tag_string"] == "hvc1", v["codec_tag_string"]


# ---------------------------------------------------- Enhanced RTMP, by hand


def annexb_nals(data):
    """The NAL units of an Annex B byte stream (start codes stripped)."""
    out, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        j = data.find(b"\x00\x00\x01", i + 3)
        nal = data[i + 3:j if j >= 0 else len(data)]
        out.append(nal.rstrip(b"\x00") if j >= 0 else nal)
        i = j
    return [n for n in out if len(n) >= 2]


def rbsp(nal):
    """A NAL unit's payload with the emulation prevention bytes removed."""
    out, zeros = bytearray(), 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def hvcc(vps, sps, pps):
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) for an
    8-bit 4:2:0 single-layer stream, written from the spec, independently
    of onair's builder."""
    r = rbsp(sps)
    ptl = r[3:15]  # general profile/tier/level: after the NAL header and 1 byte
    sub_layers = ((r[2] >> 1) & 7) + 1
    nesting = r[2] & 1
    head = bytes([1]) + ptl[:12] + bytes([0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0,
                                         (sub_layers << 3) | (nesting << 2) | 3, 3])
    arrays = b"".join(bytes([0x80 | t, 0, 1]) + len(n).to_bytes(2, "big") + n
                      for t, n in ((32, vps), (33, sps), (34, pps)))
    return head + arrays


def test_enhanced_rtmp_hevc_without_metadata(hevc_server, hapi, tmp_path):
    """A hand-written Enhanced RTMP publisher (no onMetaData at all): an
    'hvc1' SequenceStart with the hvcC, then CodedFrames (keyframes, with a
    composition time) and CodedFramesX (the others). onair packages it, and
    takes the picture size (426x240, coded as 432x240) from the SPS."""
    from test_rtmp_malformed import RawRtmp, chunks
    src = tmp_path / "in.hevc"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=426x240:rate=25", "-t", "4", "-c:v", "libx265", "-x265-params",
                    "keyint=25:min-keyint=25:scenecut=0:bframes=0:aud=1:log-level=error",
                    "-f", "hevc", str(src)], check=True, timeout=120)
    nals = annexb_nals(src.read_bytes())
    ps = {}
    for n in nals:
        ps.setdefault((n[0] >> 1) & 0x3F, n)
    aus, cur = [], []
    for n in nals:
        t = (n[0] >> 1) & 0x3F
        if t == 35:  # access unit delimiter: a new picture (dropped)
            if cur:
                aus.append(cur)
            cur = []
        else:
            cur.append(n)
    aus.append(cur)
    assert len(aus) == 100, len(aus)

    s = hapi.create({"name": "enhanced-rtmp-by-hand"})
    since = log_offset(hevc_server)
    c = RawRtmp(hevc_server.rtmp_port)
    try:
        c.start_publish(s["stream_key"])
        start = bytes([0x80 | 0x10 | 0]) + b"hvc1" + hvcc(ps[32], ps[33], ps[34])
        c.send(chunks(6, 9, start, stream_id=1))
        t0 = time.time()
        for i, au in enumerate(aus):
            key = any(16 <= ((n[0] >> 1) & 0x3F) <= 23 for n in au)
            body = b"".join(len(n).to_bytes(4, "big") + n for n in au)
            if key:  # CodedFrames: SI24 composition time 0
                tag = bytes([0x80 | 0x10 | 1]) + b"hvc1" + b"\x00\x00\x00" + body
            else:  # CodedFramesX
                tag = bytes([0x80 | 0x20 | 3]) + b"hvc1" + body
            c.send(chunks(6, 9, tag, stream_id=1, ts=i * 40, chunk_size=128))
            time.sleep(max(0, t0 + (i + 1) * 0.04 - time.time()))  # real time, 25 fps
        wait_status(hapi, s["id"], "live", timeout=10)
        url = hls_url(hevc_server, playback_id(s))
        pl = wait_playlist(url, lambda pl: len(pl.segments) >= 2, timeout=15)
        for target, what in ((segment_url(url, pl.segments[-1].uri), "TS"),
                             (url + "?format=fmp4", "fMP4 playlist")):
            v = [x for x in ffprobe_streams(target) if x["codec_type"] == "video"]
            assert v and v[0]["codec_name"] == "hevc", f"{what}: {v}"
            assert (v[0]["width"], v[0]["height"]) == (426, 240), f"{what}: {v[0]}"
        last = newest_health_sample(hapi, s["id"])
        assert (last["video_codec"], last["resolution"]) == ("hevc", "426x240"), last
        assert "rtmp_unsupported_codec" not in server_log(hevc_server)[since:]
        assert "rtmp_bad_sequence_header" not in server_log(hevc_server)[since:]
    finally:
        c.close()


def test_hevc_source_transcodes_to_h264_rungs(hevc_server, hapi, tmp_path):
    """A custom ladder over an HEVC push: libavcodec decodes the HEVC, the
    rung is H.264 (for browsers that cannot decode HEVC)."""
    from test_transcode import child_url, wait_ladder
    s = hapi.create({"name": "hevc-ladder", "mode": "custom",
                     "qualities": [{"resolution": "240p", "bitrate": 300}]})
    p = Pusher(ffmpeg_hevc_srt_argv(srt_url(hevc_server, s["stream_key"])),
               tmp_path / "ffmpeg.log", "ffmpeg-hevc")
    try:
        url = s["playback_ids"][0]["playback_url"]
        wait_status(hapi, s["id"], "live", timeout=30)
        variants, text = wait_ladder(url, {"240p"})
        assert variants[0].attrs["CODECS"].startswith("avc1."), text
        assert variants[0].attrs["RESOLUTION"] == "426x240", text
        rung = child_url(url, variants[0].uri)
        pl = wait_playlist(rung, lambda pl: len(pl.segments) >= 2, timeout=30)
        assert_av_streams(ffprobe_streams(segment_url(rung, pl.segments[-1].uri)),
                          "240p rung of an HEVC source", width=426, height=240)
    finally:
        p.kill()
