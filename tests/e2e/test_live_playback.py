"""HLS playback over HTTP, as players and CDNs see it: content types, caching,
ETag/304, HEAD, Range, CORS, errors, the segment ring; and the playback
policies: authenticated playback IDs (signed RS256 tokens from signing keys
and `onair token sign`), deleted playback IDs, allowed referer domains.

One ffmpeg publisher feeds one stream for the whole module.
"""
import gzip
import re
import time

import pytest
import requests

from conftest import run_cli
from helpers import assert_error
from media import (HTTP_TIMEOUT, SLOW, Pusher, assert_av_streams, fetch, ffmpeg_argv,
                   ffprobe_streams, get_playlist, segment_url, start_live_server,
                   wait_playlist, wait_status)

WINDOW = 3


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory, window=WINDOW)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def projects(live_server):
    """Two projects; both API keys are made before either is exchanged for a
    token."""
    keys = [live_server.apikey(name) for name in ("live-playback", "other-signer")]
    clients = [live_server.client(live_server.token(k)) for k in keys]
    yield clients
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def live_api(projects):
    return projects[0]


@pytest.fixture(scope="module")
def bc(live_server, live_api, tmp_path_factory):
    """A live stream (TS and fMP4) with at least 2 segments."""
    s = live_api.create({"name": "playback"})
    url = f"rtmp://127.0.0.1:{live_server.rtmp_port}/live/{s['stream_key']}"
    p = Pusher(ffmpeg_argv(url, size="320x180"),
               tmp_path_factory.mktemp("pb") / "ffmpeg.log", "ffmpeg")
    try:
        wait_status(live_api, s["id"], "live", timeout=20)
        purl = s["playback_ids"][0]["playback_url"]
        wait_playlist(purl, lambda pl: len(pl.segments) >= 2, timeout=10)
        yield {"stream": s, "url": purl, "pid": s["playback_ids"][0]["id"], "pusher": p}
    finally:
        p.kill()


def get(url, **kw):
    kw.setdefault("timeout", HTTP_TIMEOUT)
    return requests.get(url, **kw)


def head(url, **kw):
    kw.setdefault("timeout", HTTP_TIMEOUT)
    return requests.head(url, **kw)


def latest(url, fmt="ts", params=None):
    q = dict(params or {})
    q["format"] = fmt
    pl = get_playlist(url, params=q)
    assert pl.segments, pl.text
    return pl, pl.segments[-1]


def max_age(cc):
    m = re.search(r"max-age=(\d+)", cc or "")
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------ HTTP


def test_playlist_headers(bc):
    r = get(bc["url"], headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/vnd.apple.mpegurl"
    cc = r.headers.get("Cache-Control", "")
    # a live playlist changes every segment: it must not be cached for long
    short = max_age(cc) is not None and max_age(cc) <= 1
    assert "no-cache" in cc or "no-store" in cc or short, cc
    assert r.headers.get("Access-Control-Allow-Origin") == "*", r.headers
    assert r.headers.get("ETag"), r.headers
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "Content-Encoding" not in r.headers, r.headers
    assert r.headers.get("Vary") == "Accept-Encoding", r.headers


def gzipped_playlist(url, accept="gzip"):
    """(response, raw body as sent) of a playlist request with that
    Accept-Encoding (requests would undo the gzip; the raw bytes are what
    the Content-Length counts)."""
    r = get(url, headers={"Accept-Encoding": accept}, stream=True)
    raw = r.raw.read(decode_content=False)
    return r, raw


def test_playlist_gzip(bc):
    """rfc8216bis 6.2.1: playlists go gzipped to clients that accept it.
    Same playlist, two representations: the gzipped one has its own ETag
    (the base hash plus "-gz"), inflates to the same text, and takes part
    in 304s on its own."""
    for _ in range(20):  # both answers of one playlist version (a segment may come between)
        r, raw = gzipped_playlist(bc["url"])
        plain = get(bc["url"], headers={"Accept-Encoding": "identity"})
        if r.headers["ETag"] == plain.headers["ETag"][:-1] + '-gz"':
            break
    else:
        raise AssertionError(f"no matching pair: {r.headers['ETag']} {plain.headers['ETag']}")
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip", r.headers
    assert r.headers["Vary"] == "Accept-Encoding", r.headers
    assert int(r.headers["Content-Length"]) == len(raw)
    text = gzip.decompress(raw)
    assert text == plain.content, (text, plain.content)
    assert len(raw) < len(plain.content)
    assert "Content-Encoding" not in plain.headers
    # 304 for the representation the tag names
    etag = r.headers["ETag"]
    r2, _ = gzipped_playlist(bc["url"])
    if r2.headers["ETag"] == etag:
        r3 = get(bc["url"], headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert r3.status_code in (304, 200), r3.status_code
        if r3.status_code == 200:  # a new segment came: then a new tag
            assert r3.headers["ETag"] != etag
    # a browser's list, a wildcard: gzip; refusals: identity
    for accept, want in (("gzip, deflate, br, zstd", "gzip"), ("*", "gzip"),
                         ("gzip;q=0", None), ("identity", None), ("br", None)):
        r, raw = gzipped_playlist(bc["url"], accept)
        assert r.headers.get("Content-Encoding") == want, (accept, r.headers)
        assert (r.headers["ETag"].endswith('-gz"')) == (want == "gzip"), (accept, r.headers)
        body = gzip.decompress(raw) if want else raw
        assert body.startswith(b"#EXTM3U"), (accept, body[:40])



def test_public_playlist_ignores_auth_query(bc):
    """A public playback ID needs no token: an ?auth= value is not echoed
    into the playlist (decoded, it could carry quotes or line breaks)."""
    for fmt in ("ts", "fmp4"):
        r = get(bc["url"], params={"auth": 'x"\n#EXT-X-ENDLIST\n', "format": fmt})
        assert r.status_code == 200, r.text
        assert "auth=" not in r.text and "#EXT-X-ENDLIST" not in r.text, r.text


def test_segment_and_init_headers(bc):
    url = bc["url"]
    _, seg = latest(url, "ts")
    r = fetch(segment_url(url, seg.uri))
    assert r.headers["Content-Type"] == "video/mp2t", r.headers
    assert r.content[0] == 0x47 and len(r.content) % 188 == 0, "not an MPEG-TS segment"
    pl, mseg = latest(url, "fmp4")
    m = fetch(segment_url(url, mseg.uri))
    assert m.headers["Content-Type"] in ("video/iso.segment", "video/mp4"), m.headers
    i = fetch(segment_url(url, mseg.map_uri))
    assert i.headers["Content-Type"] == "video/mp4", i.headers
    for resp in (r, m, i):
        cc = resp.headers.get("Cache-Control", "")
        # segments never change: cacheable for long
        assert "immutable" in cc or (max_age(cc) or 0) >= 3600, cc
        assert "no-cache" not in cc and "no-store" not in cc, cc
        assert resp.headers.get("Access-Control-Allow-Origin") == "*", resp.headers
        assert resp.headers.get("ETag"), resp.headers
        assert int(resp.headers["Content-Length"]) == len(resp.content)


def test_segment_etag_304(bc):
    url = bc["url"]
    _, seg = latest(url)
    surl = segment_url(url, seg.uri)
    r = fetch(surl)
    etag = r.headers["ETag"]
    r2 = get(surl, headers={"If-None-Match": etag})
    assert r2.status_code == 304, f"{r2.status_code} {r2.headers}"
    assert r2.content == b""
    assert r2.headers.get("ETag") == etag
    r3 = get(surl, headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200 and r3.content == r.content


def test_playlist_etag_304_then_changes(bc):
    url = bc["url"]
    r = fetch(url)
    etag = r.headers["ETag"]
    r2 = get(url, headers={"If-None-Match": etag})
    # (a segment may have been published in between: then 200 with a new tag)
    if r2.status_code == 200:
        assert r2.headers["ETag"] != etag
        r, etag = r2, r2.headers["ETag"]
        r2 = get(url, headers={"If-None-Match": etag})
    assert r2.status_code == 304, f"{r2.status_code} {r2.headers}"
    assert r2.content == b""
    # after the next segment the playlist is different: a full answer
    seq = get_playlist(url).last_seq
    wait_playlist(url, lambda pl: pl.last_seq > seq, timeout=4)
    r3 = get(url, headers={"If-None-Match": etag})
    assert r3.status_code == 200, r3.status_code
    assert r3.headers["ETag"] != etag


def test_head(bc):
    url = bc["url"]
    _, seg = latest(url)
    surl = segment_url(url, seg.uri)
    g = fetch(surl)
    h = head(surl)
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["Content-Length"] == g.headers["Content-Length"]
    assert h.headers["Content-Type"] == "video/mp2t"
    assert h.headers["ETag"] == g.headers["ETag"]
    hp = head(url)
    assert hp.status_code == 200 and hp.content == b""
    assert hp.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert head(segment_url(url, "99999999.ts")).status_code == 404


def test_range(bc):
    url = bc["url"]
    _, seg = latest(url)
    surl = segment_url(url, seg.uri)
    full = fetch(surl).content
    n = len(full)
    r = get(surl, headers={"Range": "bytes=0-187"})
    assert r.status_code == 206, r.status_code
    assert r.headers["Content-Range"] == f"bytes 0-187/{n}"
    assert r.content == full[:188]
    assert int(r.headers["Content-Length"]) == 188
    r = get(surl, headers={"Range": "bytes=188-"})
    assert r.status_code == 206 and r.content == full[188:]
    assert r.headers["Content-Range"] == f"bytes 188-{n - 1}/{n}"
    r = get(surl, headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.content == full[-100:]
    assert r.headers["Content-Range"] == f"bytes {n - 100}-{n - 1}/{n}"
    r = get(surl, headers={"Range": f"bytes={n}-"})
    assert r.status_code == 416, r.status_code
    assert r.headers.get("Content-Range") == f"bytes */{n}"
    # ffmpeg/hls.js style: a range on the init segment
    _, mseg = latest(url, "fmp4")
    iurl = segment_url(url, mseg.map_uri)
    init = fetch(iurl).content
    r = get(iurl, headers={"Range": "bytes=0-7"})
    assert r.status_code == 206 and r.content == init[:8]


def exposed_headers(resp):
    return {h.strip().lower() for h in resp.headers.get("Access-Control-Expose-Headers", "").split(",")}


def test_cors_lets_page_players_send_ranges_and_read_headers(live_server, bc):
    # A player on another origin: the preflight must allow Range and
    # If-None-Match, and the answer expose what a script reads (byte ranges,
    # sizes, validators, cache age).
    _, seg = latest(bc["url"])
    surl = segment_url(bc["url"], seg.uri)
    pre = requests.options(surl, timeout=HTTP_TIMEOUT, headers={
        "Origin": "https://player.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range, if-none-match"})
    assert pre.status_code == 204, pre.status_code
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"range", "if-none-match"} <= allowed, pre.headers
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    r = get(surl, headers={"Origin": "https://player.example", "Range": "bytes=0-187"})
    assert r.status_code == 206
    want = {"content-length", "content-range", "etag", "age", "date", "retry-after",
            "accept-ranges"}
    assert want <= exposed_headers(r), r.headers
    for resp in (get(bc["url"]), get(f"{live_server.base_url}/hls/nosuchplaybackid/index.m3u8")):
        assert {"etag", "content-length"} <= exposed_headers(resp), resp.headers


def test_unknown_playback_id_404(live_server, bc):
    r = get(f"{live_server.base_url}/hls/nosuchplaybackid/index.m3u8")
    assert_error(r, 404)
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert_error(get(f"{live_server.base_url}/hls/nosuchplaybackid/1.ts"), 404)
    assert_error(get(segment_url(bc["url"], "notafile.txt")), 404)
    assert_error(get(segment_url(bc["url"], "99999999.ts")), 404)
    assert_error(get(segment_url(bc["url"], "init-999.mp4")), 404)


def test_not_live_stream_playlist_404(live_api):
    s = live_api.create({})
    assert_error(get(s["playback_ids"][0]["playback_url"]), 404)


# ------------------------------------------------------------------ signing keys and tokens


@pytest.fixture(scope="module")
def signing_key(live_api, tmp_path_factory):
    return new_signing_key(live_api, tmp_path_factory.mktemp("keys"))


def new_signing_key(api, dirpath):
    r = api.post("/v1/signing-keys", json={})
    assert r.status_code == 201, r.text
    k = r.json()["signing_key"]
    assert "BEGIN PRIVATE KEY" in k["private_key"]
    pem = dirpath / f"{k['id']}.pem"
    pem.write_text(k["private_key"])
    return {"id": k["id"], "pem": str(pem)}


def sign(key, pid, ttl=None):
    args = ["token", "sign", "--key-file", key["pem"], "--key-id", key["id"], "--playback-id", pid]
    if ttl is not None:
        args += ["--ttl", str(ttl)]
    tok = run_cli(*args).stdout.strip()
    assert tok.count(".") == 2, tok
    return tok


@pytest.fixture(scope="module")
def auth_pid(live_api, bc):
    """An authenticated playback ID on the live stream."""
    before = {p["id"] for p in live_api.get_stream(bc["stream"]["id"])["playback_ids"]}
    r = live_api.post(f"/v1/live-streams/{bc['stream']['id']}/playback-ids",
                      json={"policy": "authenticated"})
    assert r.status_code == 200, r.text
    new = [p for p in r.json()["stream"]["playback_ids"] if p["id"] not in before]
    assert len(new) == 1 and new[0]["policy"] == "authenticated", r.text
    return new[0]


def test_authenticated_needs_token(auth_pid, bc):
    url = auth_pid["playback_url"]
    assert_error(get(url), 401)
    assert_error(get(url, params={"auth": "garbage"}), 401)
    assert_error(get(url, params={"auth": "a.b.c"}), 401)
    # the public playback ID of the same stream still plays freely
    assert get(bc["url"]).status_code == 200


def test_token_for_another_playback_id_403(auth_pid, bc, signing_key):
    tok = sign(signing_key, bc["pid"])  # valid, but names the public ID
    assert_error(get(auth_pid["playback_url"], params={"auth": tok}), 403)


def test_valid_token_plays_and_segments_need_it(auth_pid, signing_key, tmp_path):
    url = auth_pid["playback_url"]
    tok = sign(signing_key, auth_pid["id"])
    for fmt in ("ts", "fmp4"):
        r = get(url, params={"auth": tok, "format": fmt})
        assert r.status_code == 200, r.text
        # the viewer's own playlist (its token in every URI) goes gzipped too
        assert r.headers.get("Content-Encoding") == "gzip", r.headers
        pl = get_playlist(url, params={"auth": tok, "format": fmt})
        uris = [s.uri for s in pl.segments] + list(pl.maps)
        assert uris
        for u in uris:
            assert u.endswith(f"?auth={tok}"), f"segment URI without the token: {u}"
        # following the playlist's URIs as a player does works
        fetch(segment_url(url, uris[-1]))
        # a segment without the token does not
        bare = segment_url(url, uris[-1].split("?")[0])
        assert_error(get(bare), 401)
        assert_error(get(bare, params={"auth": "x.y.z"}), 401)
    # and ffprobe (a real player) plays the signed URL
    assert_av_streams(ffprobe_streams(f"{url}?auth={tok}"), "signed playback", 320, 180)


def test_token_of_another_projects_key_401(projects, auth_pid, tmp_path):
    key = new_signing_key(projects[1], tmp_path)
    tok = sign(key, auth_pid["id"])
    assert_error(get(auth_pid["playback_url"], params={"auth": tok}), 401)


def test_expired_token_401(auth_pid, signing_key):
    url = auth_pid["playback_url"]
    t0 = time.time()  # before signing: iat/exp are set while the CLI runs
    tok = sign(signing_key, auth_pid["id"], ttl=2)
    r = get(url, params={"auth": tok})
    if time.time() - t0 < 0.9:  # certainly inside its lifetime
        assert r.status_code == 200, r.text
    deadline = t0 + 5 * SLOW
    while True:
        r = get(url, params={"auth": tok})
        if r.status_code != 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert_error(r, 401)
    assert time.time() - t0 >= 1.0, "the token expired before its ttl"


def test_deleting_signing_key_revokes_tokens_at_once(live_api, auth_pid, tmp_path):
    key = new_signing_key(live_api, tmp_path)
    tok = sign(key, auth_pid["id"])
    url = auth_pid["playback_url"]
    assert get(url, params={"auth": tok}).status_code == 200
    pl = get_playlist(url, params={"auth": tok})
    seg = segment_url(url, pl.segments[-1].uri)
    assert get(seg).status_code == 200
    r = live_api.delete(f"/v1/signing-keys/{key['id']}")
    assert r.status_code == 200, r.text
    assert_error(get(url, params={"auth": tok}), 401)
    assert_error(get(seg), 401)


def test_deleting_playback_id_stops_playback_at_once(live_api, bc):
    sid = bc["stream"]["id"]
    before = {p["id"] for p in live_api.get_stream(sid)["playback_ids"]}
    r = live_api.post(f"/v1/live-streams/{sid}/playback-ids", json={"policy": "public"})
    assert r.status_code == 200, r.text
    pb = [p for p in r.json()["stream"]["playback_ids"] if p["id"] not in before][0]
    url = pb["playback_url"]
    pl = get_playlist(url)
    seg = segment_url(url, pl.segments[-1].uri)
    assert get(seg).status_code == 200
    r = live_api.delete(f"/v1/live-streams/{sid}/playback-ids/{pb['id']}")
    assert r.status_code == 200, r.text
    assert_error(get(url), 404)
    assert_error(get(seg), 404)
    # the other playback IDs are unaffected
    assert get(bc["url"]).status_code == 200


def test_deleting_authenticated_playback_id_404(live_api, bc, signing_key):
    sid = bc["stream"]["id"]
    before = {p["id"] for p in live_api.get_stream(sid)["playback_ids"]}
    r = live_api.post(f"/v1/live-streams/{sid}/playback-ids", json={"policy": "authenticated"})
    pb = [p for p in r.json()["stream"]["playback_ids"] if p["id"] not in before][0]
    tok = sign(signing_key, pb["id"])
    assert get(pb["playback_url"], params={"auth": tok}).status_code == 200
    assert live_api.delete(f"/v1/live-streams/{sid}/playback-ids/{pb['id']}").status_code == 200
    assert_error(get(pb["playback_url"], params={"auth": tok}), 404)


# ------------------------------------------------------------------ referer


@pytest.fixture
def referer_domains(live_api, bc):
    sid = bc["stream"]["id"]

    def put(domains):
        r = live_api.put(f"/v1/live-streams/{sid}", json={"allowed_referer_domains": domains})
        assert r.status_code == 200, r.text
        assert r.json()["stream"]["params"]["allowed_referer_domains"] == domains

    yield put
    put([])


def code(url, referer=None):
    return get(url, headers={"Referer": referer} if referer else {}).status_code


def test_allowed_referer_exact(referer_domains, bc):
    url = bc["url"]
    _, seg = latest(url)
    surl = segment_url(url, seg.uri)
    referer_domains(["example.com"])
    assert code(url) == 403
    assert_error(get(url), 403)
    assert code(url, "https://example.com/x") == 200
    assert code(url, "https://EXAMPLE.com:8443/player?x=1") == 200
    assert code(url, "https://evil.com/") == 403
    assert code(url, "https://evil.com/https://example.com/") == 403
    assert code(url, "https://notexample.com/") == 403
    assert code(url, "https://example.com.evil.com/") == 403
    assert code(url, "garbage") == 403
    # segments are protected the same way
    assert code(surl) == 403
    assert code(surl, "https://example.com/x") == 200
    referer_domains([])
    assert code(url) == 200


def test_allowed_referer_wildcard(referer_domains, bc):
    url = bc["url"]
    referer_domains(["*.example.com"])
    assert code(url, "https://a.example.com/page") == 200
    assert code(url, "http://b.a.example.com/") == 200
    assert code(url, "https://evilexample.com/") == 403
    assert code(url, "https://example.com.evil.com/") == 403
    assert code(url) == 403


# ------------------------------------------------------------------ the ring (last: needs time)


def test_old_segment_outside_ring_404(bc):
    url = bc["url"]
    first = get_playlist(url)
    oldest = first.segments[0]
    old_ts = segment_url(url, oldest.uri)
    old_m4s = segment_url(url, oldest.uri.replace(".ts", ".m4s"))
    assert get(old_ts).status_code == 200
    # the ring holds a few more segments than the window; keep publishing
    # until the oldest is given back
    deadline = time.time() + (WINDOW + 12) * SLOW
    while get(old_ts).status_code == 200:
        assert time.time() < deadline, f"{oldest.uri} still served: the ring is unbounded?"
        time.sleep(0.2)
    assert_error(get(old_ts), 404)
    assert_error(get(old_m4s), 404)
    assert head(old_ts).status_code == 404
    # what the playlist lists still plays
    pl = get_playlist(url)
    assert pl.media_seq > oldest.seq
    assert len(pl.segments) <= WINDOW, pl.text
    for s in pl.segments:
        assert get(segment_url(url, s.uri)).status_code == 200, s.uri
