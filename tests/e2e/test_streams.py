"""Live streams: seed 003's request examples replayed, the stream object's
shape, the status machine driven by the API, validation of every request
field, and updates (docs/api.md)."""
import json

import pytest

from conftest import run_cli

from helpers import (FORM_CT, SEED_CREATE_BODY, SEED_DVR_SECRET, SEED_UPDATE_BODY_TEXT, TS_RE,
                     as_list, assert_default_params, assert_error, assert_stream_shape, expect,
                     falsy, stream_of, truthy)


# ---------------------------------------------------------------- seed replay

@pytest.mark.parametrize("content_type", ["form", "json"])
def test_seed_create_example(server, api, content_type):
    # The seed's curl example; without -H it goes out as form data, which the
    # server must still read as JSON.
    headers = FORM_CT if content_type == "form" else {"Content-Type": "application/json"}
    r = api.post("/v1/live-streams", data=json.dumps(SEED_CREATE_BODY), headers=headers)
    s = stream_of(r, 201)
    assert_stream_shape(s, server)
    assert s["name"] == "test-stream-name"
    assert s["status"]["name"] == "created"
    assert_default_params(s["params"])
    assert s["playback_domain"] is None
    assert s["simulcast_targets"] == []
    assert len(s["playback_ids"]) == 1
    pb = s["playback_ids"][0]
    assert pb["policy"] == "public"
    assert pb["playback_url"] == (
        f"http://127.0.0.1:{server.http_port}/hls/{pb['id']}/index.m3u8")
    assert s["server_urls"]["rtmp"] == f"rtmp://127.0.0.1:{server.rtmp_port}/live"
    assert "origin_host" not in s and "origin_url" not in s
    # GET returns the same object.
    assert api.get_stream(s["id"]) == s


def test_create_without_body_gets_defaults(server, api):
    r = api.post("/v1/live-streams")
    s = stream_of(r, 201)
    assert_stream_shape(s, server)
    assert len(s["name"]) == len("Stream_XXXXXXXX") and s["name"].startswith("Stream_"), s["name"]
    assert_default_params(s["params"])
    s2 = stream_of(api.post("/v1/live-streams", json={}), 201)
    assert s2["name"].startswith("Stream_")


def test_ids_and_keys_unique(api):
    streams = [api.create({"name": f"u{i}"}) for i in range(8)]
    assert len({s["id"] for s in streams}) == 8
    assert len({s["stream_key"] for s in streams}) == 8
    pids = [p["id"] for s in streams for p in s["playback_ids"]]
    assert len(set(pids)) == len(pids)
    for s in streams:
        assert len(s["stream_key"]) >= 32


def test_seed_get_and_list_examples(server, project):
    api = project
    other = api.create({"name": "first"})
    s = api.create({"name": "listed"})
    got = stream_of(api.get(f"/v1/live-streams/{s['id']}"))
    assert got == s
    body = expect(api.get("/v1/live-streams"), 200)
    assert body["total"] == 2
    assert [x["id"] for x in body["streams"]] in ([other["id"], s["id"]], [s["id"], other["id"]])
    assert isinstance(body["streams"], list)
    assert body["limit"] == 100 and body["offset"] == 0
    assert body["total"] == len(body["streams"])
    ids = [x["id"] for x in body["streams"]]
    assert s["id"] in ids
    listed = body["streams"][ids.index(s["id"])]
    assert listed == s
    for x in body["streams"]:
        assert_stream_shape(x, server)


def test_seed_start_stop_examples(server, api):
    s = api.create(SEED_CREATE_BODY)
    started = stream_of(api.post(f"/v1/live-streams/{s['id']}/start"))
    assert_stream_shape(started, server)
    assert started["status"]["name"] == "waiting"
    assert started["origin_host"] == "127.0.0.1"
    assert started["origin_url"]
    assert started["stream_key"] == s["stream_key"]
    assert started["created_at"] == s["created_at"]
    assert started["playback_ids"] == s["playback_ids"]
    assert api.get_stream(s["id"])["status"]["name"] == "waiting"

    stopped = stream_of(api.post(f"/v1/live-streams/{s['id']}/stop"))
    assert_stream_shape(stopped, server)
    assert stopped["status"]["name"] == "stopped"
    assert "origin_host" not in stopped and "origin_url" not in stopped
    got = api.get_stream(s["id"])
    assert got["status"]["name"] == "stopped"
    assert "origin_host" not in got


def test_seed_update_example_and_secret_never_returned(server, api):
    s = api.create(SEED_CREATE_BODY)
    # The seed sends it without a Content-Type (form data).
    r = api.put(f"/v1/live-streams/{s['id']}", data=SEED_UPDATE_BODY_TEXT, headers=FORM_CT)
    u = stream_of(r)
    assert SEED_DVR_SECRET not in r.text
    assert_stream_shape(u, server)
    assert u["id"] == s["id"]
    assert u["name"] == "test-stream-update1"
    assert u["params"]["input_format"] == "webrtc"
    assert u["params"]["output_format"] == "cmaf"
    d = u["params"]["dvr"]
    assert truthy(d["enabled"]), d
    dests = as_list(d["destination"])
    assert len(dests) == 1
    assert dests[0]["url"] == "s3://us-west.s3.qencode.com/bucketname/path/to/dvr_output"
    assert dests[0]["key"] == "ABCDE12345"
    assert dests[0]["permissions"] == "public-read"
    assert "secret" not in dests[0]
    # Untouched fields keep their values.
    assert u["stream_key"] == s["stream_key"]
    assert u["playback_ids"] == s["playback_ids"]
    assert u["params"]["framerate"] == 0 and u["params"]["stream_timeout"] == 120
    for k in ("stream_source", "resolution", "format", "max_file_duration"):
        assert d[k] == s["params"]["dvr"][k]

    r = api.get(f"/v1/live-streams/{s['id']}")
    assert SEED_DVR_SECRET not in r.text
    assert stream_of(r) == u
    r = api.get("/v1/live-streams")
    assert r.status_code == 200
    assert SEED_DVR_SECRET not in r.text
    # Secrets are never logged either (DESIGN.md §3).
    assert SEED_DVR_SECRET not in server.log_text()


def test_seed_delete_example(api):
    s = api.create(SEED_CREATE_BODY)
    api.post(f"/v1/live-streams/{s['id']}/start")
    stream_of(api.post(f"/v1/live-streams/{s['id']}/stop"))
    body = expect(api.delete(f"/v1/live-streams/{s['id']}"), 200)
    assert body["status"]["name"] == "deleted"
    assert TS_RE.match(body["status"]["timestamp"])
    assert_error(api.get(f"/v1/live-streams/{s['id']}"), 404, "not_found")
    assert s["id"] not in [x["id"] for x in api.get("/v1/live-streams").json()["streams"]]
    # Deleting again: it no longer exists.
    assert_error(api.delete(f"/v1/live-streams/{s['id']}"), 404, "not_found")
    assert_error(api.post(f"/v1/live-streams/{s['id']}/start"), 404, "not_found")


# ---------------------------------------------------------------- statuses

def test_status_machine(api):
    s = api.create()
    sid = s["id"]
    assert s["status"]["name"] == "created"
    # stop a created stream: 409
    assert_error(api.post(f"/v1/live-streams/{sid}/stop"), 409, "conflict")
    assert stream_of(api.post(f"/v1/live-streams/{sid}/start"))["status"]["name"] == "waiting"
    assert_error(api.post(f"/v1/live-streams/{sid}/start"), 409, "conflict")
    # delete a running stream: 409, and it stays
    assert_error(api.delete(f"/v1/live-streams/{sid}"), 409, "conflict")
    assert api.get_stream(sid)["status"]["name"] == "waiting"
    assert stream_of(api.post(f"/v1/live-streams/{sid}/stop"))["status"]["name"] == "stopped"
    assert_error(api.post(f"/v1/live-streams/{sid}/stop"), 409, "conflict")
    # a stopped stream can be started again
    again = stream_of(api.post(f"/v1/live-streams/{sid}/start"))
    assert again["status"]["name"] == "waiting"
    assert again["status"]["timestamp"] >= s["status"]["timestamp"]
    stream_of(api.post(f"/v1/live-streams/{sid}/stop"))
    assert expect(api.delete(f"/v1/live-streams/{sid}"), 200)["status"]["name"] == "deleted"


def test_delete_created_stream(api):
    s = api.create()
    assert expect(api.delete(f"/v1/live-streams/{s['id']}"), 200)["status"]["name"] == "deleted"
    assert_error(api.get(f"/v1/live-streams/{s['id']}"), 404, "not_found")


def test_update_while_waiting_keeps_status(api):
    s = api.create()
    stream_of(api.post(f"/v1/live-streams/{s['id']}/start"))
    u = stream_of(api.put(f"/v1/live-streams/{s['id']}", json={"name": "renamed"}))
    assert u["name"] == "renamed"
    assert u["status"]["name"] == "waiting"
    assert u["origin_host"] == "127.0.0.1"
    stream_of(api.post(f"/v1/live-streams/{s['id']}/stop"))


# ---------------------------------------------------------------- validation

BAD_VALUES = [
    ({"framerate": 31}, "framerate"),
    ({"framerate": -1}, "framerate"),
    ({"framerate": "abc"}, "framerate"),
    ({"framerate": None}, "framerate"),
    ({"framerate": True}, "framerate"),
    ({"input_format": "rtsp"}, "input_format"),
    ({"input_format": 1}, "input_format"),
    ({"output_format": "mp3"}, "output_format"),
    ({"mode": "fast"}, "mode"),
    ({"stream_timeout": "x"}, "stream_timeout"),
    ({"stream_timeout": 5}, "stream_timeout"),
    ({"stream_timeout": 9}, "stream_timeout"),
    ({"stream_timeout": 86401}, "stream_timeout"),
    ({"stream_timeout": 999999}, "stream_timeout"),
    ({"dvr": {"enabled": 2}}, "dvr.enabled"),
    ({"dvr": {"enabled": "yes"}}, "dvr.enabled"),
    ({"dvr": 5}, "dvr"),
    ({"dvr": {"destination": {"url": "http://x"}}}, ("dvr.destination.url", "dvr.destination[0].url")),
    ({"dvr": {"destination": {"url": "s3:/bad"}}}, ("dvr.destination.url", "dvr.destination[0].url")),
    ({"dvr": {"destination": [{"url": "s3://bucket/a", "key": "K", "secret": "S"},
                              {"url": "http://x"}]}},
     "dvr.destination[1].url"),
    ({"dvr": {"destination": [{"url": "s3://b/a", "key": "K", "secret": "S"},
                              {"url": "s3:/bad"}]}},
     "dvr.destination[1].url"),
    ({"dvr": {"max_file_duration": 21601}}, "dvr.max_file_duration"),
    ({"dvr": {"max_file_duration": 9}}, "dvr.max_file_duration"),
    ({"dvr": {"max_file_duration": "long"}}, "dvr.max_file_duration"),
    ({"dvr": {"resolution": "999p"}}, "dvr.resolution"),
    ({"dvr": {"stream_source": "x"}}, "dvr.stream_source"),
    ({"dvr": {"bogus": 1}}, "dvr.bogus"),
    ({"callback_url": "ftp://x"}, "callback_url"),
    ({"callback_url": "not a url"}, "callback_url"),
    ({"callback_url": "https://" + "a" * 2050}, "callback_url"),
    ({"name": "n" * 300}, "name"),
    ({"name": 5}, "name"),
    ({"foo": 1}, "foo"),
    ({"playback_domain": "bad domain/x"}, "playback_domain"),
    # The scheme is the server's public_scheme setting, not part of the domain.
    ({"playback_domain": "https://play.example.com"}, "playback_domain"),
    ({"allowed_referer_domains": "example.com"}, "allowed_referer_domains"),
]


@pytest.mark.parametrize("body,field", BAD_VALUES, ids=[str(f) for _, f in BAD_VALUES])
def test_create_rejects_bad_field(api, body, field):
    before = api.get("/v1/live-streams").json()["total"]
    err = assert_error(api.post("/v1/live-streams", json=body), 400, "invalid_request", field)
    assert err["message"]
    # Nothing was created.
    assert api.get("/v1/live-streams").json()["total"] == before


@pytest.mark.parametrize("body,field", BAD_VALUES, ids=[str(f) for _, f in BAD_VALUES])
def test_update_rejects_bad_field_and_changes_nothing(api, body, field):
    s = api.create({"name": "victim"})
    assert_error(api.put(f"/v1/live-streams/{s['id']}", json=body), 400, "invalid_request", field)
    assert api.get_stream(s["id"]) == s


@pytest.mark.parametrize("body,field_prefix", [
    ({"dvr": {"format": "avi"}}, "dvr.format"),
    ({"dvr": {"format": ["mp4", "avi"]}}, "dvr.format"),
    ({"dvr": {"destination": [{"url": "s3://b/%d" % i} for i in range(9)]}}, "dvr.destination"),
    ({"allowed_referer_domains": [5]}, "allowed_referer_domains"),
    ({"mode": "custom", "qualities": [{"resolution": "720p", "bitrate": 2800, "framerate": 30}] * 9},
     "qualities"),
])
def test_create_rejects_bad_list_field(api, body, field_prefix):
    assert_error(api.post("/v1/live-streams", json=body), 400, "invalid_request",
                 field_prefix=field_prefix)


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"5", b"null", b"true", b"{", b'{"name": }',
                                 b"{'name': 'x'}", b'{"name": "a",}', b"\xff\xfe"])
def test_create_rejects_non_object_or_malformed_body(api, raw):
    r = api.post("/v1/live-streams", data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_trailing_garbage_rejected(api):
    r = api.post("/v1/live-streams", data=b'{"name": "a"} xyz',
                 headers={"Content-Type": "application/json"})
    assert_error(r, 400)


@pytest.mark.parametrize("raw", [b"{}", b'{"foo": 1}', b"[]", b"{"])
def test_update_rejects_empty_or_unknown(api, raw):
    s = api.create()
    r = api.put(f"/v1/live-streams/{s['id']}", data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    assert api.get_stream(s["id"]) == s


def test_update_unknown_field_named(api):
    s = api.create()
    assert_error(api.put(f"/v1/live-streams/{s['id']}", json={"foo": 1}), 400, "invalid_request",
                 "foo")


@pytest.mark.parametrize("value,expected", [("30", 30), (29.97, 29.97), (0, 0), (30, 30),
                                            (25, 25), ("12.5", 12.5)])
def test_framerate_accepted(api, value, expected):
    s = api.create({"framerate": value})
    fr = s["params"]["framerate"]
    assert isinstance(fr, (int, float)) and not isinstance(fr, bool), fr
    assert abs(fr - expected) < 1e-9, fr
    assert api.get_stream(s["id"])["params"]["framerate"] == fr


@pytest.mark.parametrize("body", [
    {"input_format": "webrtc"}, {"input_format": "srt"},
    {"output_format": "cmaf"}, {"output_format": "dash"}, {"output_format": "ll-hls"},
    {"mode": "passthrough"},
    {"mode": "custom", "qualities": [{"resolution": "720p", "bitrate": 2800, "framerate": 30}]},
    {"stream_timeout": 10}, {"stream_timeout": 86400},
    {"callback_url": "https://example.com/hook?x=1"}, {"callback_url": "http://example.com"},
    {"callback_url": None},
    {"name": "n" * 255},
    {"dvr": {"enabled": True}}, {"dvr": {"enabled": 0}}, {"dvr": {"enabled": False}},
    {"dvr": {"max_file_duration": 10}}, {"dvr": {"max_file_duration": 21600}},
    {"dvr": {"resolution": "720p"}}, {"dvr": {"resolution": "all"}},
    {"dvr": {"resolution": "4k"}}, {"dvr": {"resolution": "lowest"}},
    {"dvr": {"stream_source": "original"}}, {"dvr": {"stream_source": "transcoded"}},
    {"dvr": {"format": "ts"}}, {"dvr": {"format": ["mp4", "hls"]}},
    {"dvr": {"destination": None}},
    # credentials where the scheme needs them (upload/uploader.h)
    {"dvr": {"destination": [{"url": "b2://s3.us-west-004.backblazeb2.com/bucket/x",
                              "key": "K", "secret": "S"},
                             {"url": "azblob://acct.blob.core.windows.net/c/x", "key": "acct",
                              "secret": "c2VjcmV0"},
                             {"url": "ftp://h/x"}, {"url": "ftps://h/x"},
                             {"url": "sftp://u@h/x", "secret": "pw"}, {"url": "file:///tmp/x"}]}},
    {"playback_domain": "cdn.example.com"}, {"playback_domain": "cdn.example.com:8443"},
    {"allowed_referer_domains": ["example.com", "*.example.org"]},
])
def test_valid_values_accepted_and_echoed(server, api, body):
    s = api.create(body)
    assert_stream_shape(s, server)
    for k, v in body.items():
        if k == "name":
            assert s["name"] == v
        elif k == "playback_domain":
            assert s["playback_domain"] == v
            for p in s["playback_ids"]:
                assert p["playback_url"] == f"http://{v}/hls/{p['id']}/index.m3u8"
        elif k == "dvr":
            d = s["params"]["dvr"]
            for dk, dv in v.items():
                if dk == "enabled":
                    assert (truthy(d[dk]) if dv else falsy(d[dk])), d
                elif dk == "destination":
                    assert [x["url"] for x in as_list(d[dk])] == [x["url"] for x in as_list(dv)]
                else:
                    assert d[dk] == dv, (dk, d)
        elif k == "qualities":
            assert s["params"]["mode"] == "custom"
            if "qualities" in s["params"]:
                assert s["params"]["qualities"] == v
        else:
            assert s["params"][k] == v, (k, s["params"])
    assert api.get_stream(s["id"]) == s


def test_update_applies_and_merges_dvr(server, api):
    s = api.create({"dvr": {"format": "ts", "resolution": "720p", "max_file_duration": 3600,
                            "destination": {"url": "s3://b/p", "key": "K", "secret": "S3CR3T-xyz"}}})
    sid = s["id"]
    u = stream_of(api.put(f"/v1/live-streams/{sid}", json={"dvr": {"enabled": 1}}))
    d = u["params"]["dvr"]
    assert truthy(d["enabled"])
    assert d["format"] == "ts" and d["resolution"] == "720p" and d["max_file_duration"] == 3600
    assert d["stream_source"] == "auto"
    assert [x["url"] for x in as_list(d["destination"])] == ["s3://b/p"]
    assert as_list(d["destination"])[0]["key"] == "K"
    assert "S3CR3T-xyz" not in api.get(f"/v1/live-streams/{sid}").text

    # Other top-level fields are untouched by a dvr-only update, and vice versa.
    u2 = stream_of(api.put(f"/v1/live-streams/{sid}", json={"framerate": 24, "stream_timeout": 300,
                                                             "callback_url": "https://e.com/cb"}))
    assert u2["params"]["framerate"] == 24 and u2["params"]["stream_timeout"] == 300
    assert u2["params"]["callback_url"] == "https://e.com/cb"
    assert u2["params"]["dvr"] == d
    assert u2["name"] == s["name"]

    # destination null clears destinations, keeps the rest.
    u3 = stream_of(api.put(f"/v1/live-streams/{sid}", json={"dvr": {"destination": None}}))
    assert u3["params"]["dvr"]["destination"] is None
    assert truthy(u3["params"]["dvr"]["enabled"]) and u3["params"]["dvr"]["format"] == "ts"

    # callback_url null resets; allowed_referer_domains [] resets.
    u4 = stream_of(api.put(f"/v1/live-streams/{sid}", json={"callback_url": None,
                                                             "allowed_referer_domains": ["a.com"]}))
    assert u4["params"]["callback_url"] is None
    assert u4["params"]["allowed_referer_domains"] == ["a.com"]
    u5 = stream_of(api.put(f"/v1/live-streams/{sid}", json={"allowed_referer_domains": []}))
    assert u5["params"]["allowed_referer_domains"] == []
    assert api.get_stream(sid) == u5
    assert_stream_shape(u5, server)


def test_public_scheme_https_makes_https_playback_urls(fresh_server):
    # Behind a TLS proxy: playback URLs are https on the proxy's port (443),
    # with or without a playback_domain; ingest URLs keep their own schemes.
    srv = fresh_server(extra_args=["--public-scheme", "https"])
    api = srv.new_project()
    s = api.create()
    pid = s["playback_ids"][0]["id"]
    assert s["playback_ids"][0]["playback_url"] == f"https://127.0.0.1/hls/{pid}/index.m3u8"
    assert s["server_urls"]["rtmp"] == f"rtmp://127.0.0.1:{srv.rtmp_port}/live"
    u = stream_of(api.put(f"/v1/live-streams/{s['id']}", json={"playback_domain": "play.example.com"}))
    assert u["playback_ids"][0]["playback_url"] == f"https://play.example.com/hls/{pid}/index.m3u8"
    added = stream_of(api.post(f"/v1/live-streams/{s['id']}/playback-ids", json={"policy": "public"}))
    assert len(added["playback_ids"]) == 2
    assert all(p["playback_url"].startswith("https://play.example.com/hls/")
               for p in added["playback_ids"]), added
    api.close()


def test_public_scheme_refuses_other_values(tmp_path):
    p = run_cli("serve", "--data", str(tmp_path / "d"), "--public-scheme", "ftp", check=False)
    assert p.returncode != 0
    assert "public_scheme" in p.stderr


def test_update_playback_domain_changes_urls_and_back(server, api):
    s = api.create()
    u = stream_of(api.put(f"/v1/live-streams/{s['id']}", json={"playback_domain": "play.example.com"}))
    pid = u["playback_ids"][0]["id"]
    assert u["playback_ids"][0]["playback_url"] == f"http://play.example.com/hls/{pid}/index.m3u8"
    u = stream_of(api.put(f"/v1/live-streams/{s['id']}", json={"playback_domain": None}))
    assert u["playback_domain"] is None
    assert u["playback_ids"][0]["playback_url"] == (
        f"http://127.0.0.1:{server.http_port}/hls/{pid}/index.m3u8")
