"""Audio that is not AAC is converted to AAC at the ingest.

ffmpeg's FLV muxer picks MP3 when no audio codec is given, older encoders
send Speex, Nellymoser, ADPCM or G.711, Enhanced RTMP allows Opus, and SRT
encoders send MPEG-1 Layer II (ffmpeg's MPEG-TS default) or AC-3. The hub carries AAC only, so such
audio used to be dropped: the stream played silent. Now it is decoded and
encoded to AAC, and players see an ordinary H.264 + AAC stream in both
playlist forms.
"""
import subprocess
import time

import pytest
import requests

from media import (Pusher, ffmpeg_argv, ffprobe_packets, ffprobe_streams, get_playlist,
                   log_about, log_offset, segment_url, server_log, start_live_server, tmpfile,
                   wait_log, wait_playlist, wait_status)
from test_srt import srt_url


@pytest.fixture(scope="module")
def conv_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=6, srt=True,
                            extra_args=("--health-interval-ms", "500"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def capi(conv_server):
    c = conv_server.new_project("audio-convert")
    yield c
    c.close()


def push(server, api, tmp_path, audio_args, flv_args=(), segments=4):
    """Creates a stream, pushes testsrc2 with the given audio encoding by
    RTMP, and waits for `segments` segments. Returns (stream, playlist URL, pusher)."""
    s = api.create({"mode": "passthrough"})
    url = f"rtmp://127.0.0.1:{server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url, out_args=(*audio_args, *flv_args)), tmp_path / "push.log",
               "ffmpeg")
    pl = s["playback_ids"][0]["playback_url"]
    try:
        wait_status(api, s["id"], "live", timeout=15)
        wait_playlist(pl, lambda x: len(x.segments) >= segments, timeout=10 + 2 * segments)
    except AssertionError as e:
        p.stop()
        raise AssertionError(f"{e}\n{p!r}\n{log_about(server, s['id'])}")
    return s, pl, p


def audio_of(url, what):
    a = [x for x in ffprobe_streams(url) if x.get("codec_type") == "audio"]
    assert a, f"{what}: no audio stream in {url}"
    return a[0]


def assert_continuous_aac(pl_url, tmp_path, what, rate):
    """The segments after the first carry AAC audio at `rate` alongside the
    video, without holes, and audio and video cover the same time. (The
    first may start with a little less audio: what the encoder sent before
    the first keyframe is not played.) No discontinuity anywhere."""
    pl = get_playlist(pl_url)
    assert not any(s.discontinuity for s in pl.segments), f"{what}: discontinuity\n{pl.text}"
    assert len(pl.segments) >= 4, pl.text
    for seg in pl.segments[1:][-3:]:
        path = tmpfile(tmp_path, ".ts")
        path.write_bytes(requests.get(segment_url(pl_url, seg.uri), timeout=10).content)
        a = audio_of(path, what)
        assert a["codec_name"] == "aac", f"{what}: {seg.uri}: audio is {a['codec_name']}"
        assert int(a["sample_rate"]) == rate, f"{what}: {seg.uri}: {a['sample_rate']} Hz"
        pk = ffprobe_packets(path)
        au = sorted(x["pts_time"] for x in pk if x["codec_type"] == "audio")
        vi = sorted(x["pts_time"] for x in pk if x["codec_type"] == "video")
        frame = 1024 / rate
        assert vi and len(au) >= 0.6 * seg.duration / frame, (
            f"{what}: {seg.uri}: {len(au)} audio, {len(vi)} video packets")
        gaps = [b - a for a, b in zip(au, au[1:]) if b - a > frame * 1.5]
        assert not gaps, f"{what}: {seg.uri}: holes in the audio: {gaps}"
        # The converter keeps the input's clock, so audio sits with the video.
        # Audio that arrives after the cut is in the next segment: converted
        # frames come out up to two AAC frames after their input (one
        # filling, one in the encoder), the input comes in packets of up to
        # 1024 samples (ffmpeg's sine source: one more AAC frame's worth),
        # MPEG-TS encoders send audio in PES packets of several frames
        # (ffmpeg: ~150 ms), and the converter's thread may wait for a core
        # while the tests run side by side. At 8 kHz a frame is 128 ms.
        slack = 3 * frame + 0.3
        assert abs(au[0] - vi[0]) < slack, (
            f"{what}: {seg.uri}: audio starts {au[0]}, video {vi[0]}")
        span_a = au[-1] + frame - au[0]
        assert span_a > seg.duration - slack, (
            f"{what}: {seg.uri}: {span_a:.3f} s of audio in a {seg.duration} s segment")


def test_mp3_plays_as_aac_in_both_forms(conv_server, capi, tmp_path):
    """ffmpeg with -c:a libmp3lame (48 kHz stereo): both playlist forms carry
    AAC at 48 kHz stereo from the first segment on (onMetaData announced it),
    with no discontinuity; the log says what was converted, and the health
    data shows the AAC track."""
    s, pl, p = push(conv_server, capi, tmp_path, ("-c:a", "libmp3lame", "-ar", "48000", "-ac", "2"))
    try:
        assert_continuous_aac(pl, tmp_path, "mp3 ts", 48000)
        first = get_playlist(pl).segments[0]
        a = audio_of(segment_url(pl, first.uri), "mp3 first segment")
        assert a["codec_name"] == "aac" and int(a["channels"]) == 2, a
        fm = audio_of(pl + "?format=fmp4", "mp3 fmp4")
        assert fm["codec_name"] == "aac" and int(fm["sample_rate"]) == 48000, fm
        assert f"aac_conv_start stream={s['id']} from=mp3" in conv_server.logs(400)
        r = capi.get(f"/v1/live-streams/{s['id']}/health")
        assert r.status_code == 200, r.text
        m = r.json()["metrics"]
        assert m, r.text
        assert (m[0]["audio_codec"], m[0]["audio_sample_rate"], m[0]["audio_channels"]) == (
            "aac", 48000, 2), m[0]
    finally:
        p.stop()


@pytest.mark.parametrize("codec,args,rate", [
    ("speex", ("-c:a", "libspeex", "-ar", "16000", "-ac", "1"), 16000),
    ("nellymoser", ("-c:a", "nellymoser", "-ar", "22050", "-ac", "1"), 22050),
    ("adpcm_swf", ("-c:a", "adpcm_swf", "-ar", "22050", "-ac", "2"), 22050),
    ("pcm_mulaw", ("-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"), 8000),
    ("pcm_s16le", ("-c:a", "pcm_s16le", "-ar", "44100", "-ac", "2"), 44100),
])
def test_legacy_flv_audio_plays_as_aac(conv_server, capi, tmp_path, codec, args, rate):
    """The other FLV SoundFormats libavcodec decodes come out as AAC at their rate."""
    _, pl, p = push(conv_server, capi, tmp_path, args)
    try:
        assert_continuous_aac(pl, tmp_path, codec, rate)
    finally:
        p.stop()


def test_mp3_without_metadata(conv_server, capi, tmp_path):
    """-flvflags no_metadata: nothing announces the audio before it comes; the
    first MP3 tag starts the converter (rate from the tag header: 44.1 kHz,
    the 48 kHz input is resampled) and the later segments carry AAC."""
    _, pl, p = push(conv_server, capi, tmp_path, ("-c:a", "libmp3lame", "-ar", "48000"),
                    ("-flvflags", "no_metadata"), segments=4)
    try:
        pl_now = get_playlist(pl)
        a = audio_of(segment_url(pl, pl_now.segments[-1].uri), "mp3 without metadata")
        assert a["codec_name"] == "aac" and int(a["sample_rate"]) == 44100, a
    finally:
        p.stop()


@pytest.mark.parametrize("codec,args,rate", [
    ("mp2", ("-c:a", "mp2", "-ar", "48000", "-ac", "2"), 48000),  # ffmpeg's MPEG-TS default
    ("ac3", ("-c:a", "ac3", "-ar", "48000", "-ac", "2"), 48000),
    ("mp3", ("-c:a", "libmp3lame", "-ar", "44100", "-ac", "2"), 44100),
])
def test_srt_audio_plays_as_aac(conv_server, capi, tmp_path, codec, args, rate):
    """An SRT push (MPEG-TS) with MP2, AC-3 or MP3 audio: converted on the
    demux thread, AAC in both forms from the first segment on."""
    s = capi.create({"mode": "passthrough"})
    argv = ffmpeg_argv("-", out_args=args)
    i = argv.index("flv")
    argv = argv[:i] + ["mpegts", srt_url(conv_server, s["stream_key"])]
    p = Pusher(argv, tmp_path / "push.log", "ffmpeg")
    pl = s["playback_ids"][0]["playback_url"]
    try:
        wait_status(capi, s["id"], "live", timeout=20)
        wait_playlist(pl, lambda x: len(x.segments) >= 4, timeout=20)
        assert_continuous_aac(pl, tmp_path, f"srt {codec}", rate)
        first = get_playlist(pl).segments[0]
        assert audio_of(segment_url(pl, first.uri), f"srt {codec} first")["codec_name"] == "aac"
        fm = audio_of(pl + "?format=fmp4", f"srt {codec} fmp4")
        assert fm["codec_name"] == "aac" and int(fm["sample_rate"]) == rate, fm
    except AssertionError as e:
        raise AssertionError(f"{e}\n{p!r}\n{log_about(conv_server, s['id'])}")
    finally:
        p.stop()


def flv_tags(data):
    """(type, timestamp ms, body) of every tag of an FLV file."""
    assert data[:3] == b"FLV", data[:3]
    i, out = int.from_bytes(data[5:9], "big") + 4, []
    while i + 11 <= len(data):
        size = int.from_bytes(data[i + 1:i + 4], "big")
        ts = int.from_bytes(data[i + 4:i + 7], "big") | data[i + 7] << 24
        out.append((data[i], ts, data[i + 11:i + 11 + size]))
        i += 11 + size + 4
    return out


def ogg_packets(data):
    """The packets of an Ogg stream (RFC 3533 lacing)."""
    i, out, cur = 0, [], b""
    while i + 27 <= len(data):
        assert data[i:i + 4] == b"OggS", data[i:i + 4]
        nseg = data[i + 26]
        lacing = data[i + 27:i + 27 + nseg]
        j = i + 27 + nseg
        for n in lacing:
            cur += data[j:j + n]
            j += n
            if n < 255:
                out.append(cur)
                cur = b""
        i = j
    return out


def test_enhanced_rtmp_opus_plays_as_aac(conv_server, capi, tmp_path):
    """A hand-written Enhanced RTMP publisher (ffmpeg 5.1 cannot put Opus in
    FLV): H.264 video tags, an 'Opus' SequenceStart carrying the OpusHead,
    then 20 ms Opus CodedFrames. Players get AAC at 48 kHz stereo."""
    from test_rtmp_malformed import RawRtmp, chunks
    secs = 6
    v, a = tmp_path / "v.flv", tmp_path / "a.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-t", str(secs), "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "25", "-bf", "0", "-an", "-f", "flv", str(v)],
                   check=True, timeout=60)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "sine=sample_rate=48000", "-ac", "2", "-t", str(secs), "-c:a", "libopus",
                    "-b:a", "64k", "-frame_duration", "20", "-f", "ogg", str(a)],
                   check=True, timeout=60)
    video = [(ts, body) for t, ts, body in flv_tags(v.read_bytes()) if t == 9]
    packets = ogg_packets(a.read_bytes())
    assert packets[0][:8] == b"OpusHead" and packets[1][:8] == b"OpusTags", packets[:2]
    audio = [(i * 20, bytes([0x90 | 1]) + b"Opus" + p) for i, p in enumerate(packets[2:])]
    media = sorted([(ts, 9, body) for ts, body in video[1:]] + [(ts, 8, b) for ts, b in audio],
                   key=lambda x: (x[0], x[1]))

    s = capi.create({"mode": "passthrough"})
    since = log_offset(conv_server)
    c = RawRtmp(conv_server.rtmp_port)
    try:
        c.start_publish(s["stream_key"])
        c.send(chunks(6, 9, video[0][1], stream_id=1))  # the AVC sequence header
        c.send(chunks(4, 8, bytes([0x90 | 0]) + b"Opus" + packets[0], stream_id=1))
        t0 = time.time()
        for ts, kind, body in media:
            time.sleep(max(0, t0 + ts / 1000 - time.time()))  # real time
            c.send(chunks(6 if kind == 9 else 4, kind, body, stream_id=1, ts=ts, chunk_size=128))
        pl = s["playback_ids"][0]["playback_url"]
        wait_playlist(pl, lambda x: len(x.segments) >= 4, timeout=10)
        assert_continuous_aac(pl, tmp_path, "opus", 48000)
        fm = audio_of(pl + "?format=fmp4", "opus fmp4")
        assert (fm["codec_name"], int(fm["channels"])) == ("aac", 2), fm
        log = server_log(conv_server)[since:]
        assert f"aac_conv_start stream={s['id']} from=opus" in log, log[-2000:]
        assert "rtmp_unsupported_codec" not in log and "rtmp_bad_sequence_header" not in log
    finally:
        c.close()


def test_enhanced_rtmp_opus_bad_opushead_is_skipped(conv_server, capi):
    """An 'Opus' SequenceStart that is no OpusHead is logged and skipped like
    a broken AAC sequence header; the connection stays up."""
    from test_rtmp_malformed import RawRtmp, chunks
    s = capi.create({"mode": "passthrough"})
    since = log_offset(conv_server)
    c = RawRtmp(conv_server.rtmp_port)
    try:
        c.start_publish(s["stream_key"])
        c.send(chunks(4, 8, bytes([0x90 | 0]) + b"Opus" + b"NotAHead" + bytes(11), stream_id=1))
        wait_log(conv_server, ("rtmp_bad_sequence_header", "kind=audio"), since=since)
        assert not c.closed_by_server(timeout=0.5)
    finally:
        c.close()
