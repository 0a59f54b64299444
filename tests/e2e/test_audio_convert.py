"""Audio that is not AAC is converted to AAC at the ingest.

ffmpeg's FLV muxer picks MP3 when no audio codec is given, older encoders
send Speex, Nellymoser, ADPCM or G.711, and SRT encoders send MPEG-1 Layer
II (ffmpeg's MPEG-TS default) or AC-3. The hub carries AAC only, so such
audio used to be dropped: the stream played silent. Now it is decoded and
encoded to AAC, and players see an ordinary H.264 + AAC stream in both
playlist forms.
"""
import pytest
import requests

from media import (Pusher, ffmpeg_argv, ffprobe_packets, ffprobe_streams, get_playlist,
                   log_about, segment_url, start_live_server, tmpfile, wait_playlist,
                   wait_status)
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
        # filling, one in the encoder), and MPEG-TS encoders send audio in
        # PES packets of several frames (ffmpeg: ~150 ms).
        slack = 2 * frame + 0.2
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
