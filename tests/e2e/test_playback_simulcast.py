"""Playback IDs and simulcast targets (seed 003 examples + docs/api.md limits)."""
import pytest

from helpers import (FORM_CT, SEED_SIMULCAST_BODY_TEXT, TS_RE, UUID4_RE, assert_error,
                     assert_stream_shape, stream_of)


def test_seed_add_and_remove_authenticated_playback_id(server, api):
    s = api.create({"name": "test-stream-name"})
    first = s["playback_ids"][0]
    r = api.post(f"/v1/live-streams/{s['id']}/playback-ids", json={"policy": "authenticated"})
    u = stream_of(r)
    assert_stream_shape(u, server)
    assert len(u["playback_ids"]) == 2
    assert u["playback_ids"][0] == first
    new = u["playback_ids"][1]
    assert new["policy"] == "authenticated"
    assert new["id"] != first["id"]
    assert TS_RE.match(new["created"])
    assert new["playback_url"] == f"http://127.0.0.1:{server.http_port}/hls/{new['id']}/index.m3u8"
    assert api.get_stream(s["id"])["playback_ids"] == u["playback_ids"]
    # The filter on an array field sees it.
    listed = api.get("/v1/live-streams", params={"playback_ids.policy": "authenticated",
                                                 "name": "test-stream-name"}).json()["streams"]
    assert s["id"] in [x["id"] for x in listed]

    # Seed's DELETE example.
    d = stream_of(api.delete(f"/v1/live-streams/{s['id']}/playback-ids/{new['id']}"))
    assert d["playback_ids"] == [first]
    assert api.get_stream(s["id"])["playback_ids"] == [first]
    assert_error(api.delete(f"/v1/live-streams/{s['id']}/playback-ids/{new['id']}"), 404,
                 "not_found")


def test_add_playback_id_default_policy_public_and_form_body(api):
    s = api.create()
    u = stream_of(api.post(f"/v1/live-streams/{s['id']}/playback-ids"))
    assert [p["policy"] for p in u["playback_ids"]] == ["public", "public"]
    u = stream_of(api.post(f"/v1/live-streams/{s['id']}/playback-ids",
                           data='{"policy": "authenticated"}', headers=FORM_CT))
    assert u["playback_ids"][-1]["policy"] == "authenticated"
    assert len({p["id"] for p in u["playback_ids"]}) == 3


@pytest.mark.parametrize("body,field", [({"policy": "private"}, "policy"), ({"policy": 1}, "policy"),
                                        ({"foo": "x"}, "foo")])
def test_add_playback_id_validation(api, body, field):
    s = api.create()
    assert_error(api.post(f"/v1/live-streams/{s['id']}/playback-ids", json=body), 400,
                 "invalid_request", field)
    assert api.get_stream(s["id"])["playback_ids"] == s["playback_ids"]


def test_playback_id_limit_is_ten(api):
    s = api.create()
    for _ in range(9):
        stream_of(api.post(f"/v1/live-streams/{s['id']}/playback-ids", json={"policy": "public"}))
    assert len(api.get_stream(s["id"])["playback_ids"]) == 10
    assert_error(api.post(f"/v1/live-streams/{s['id']}/playback-ids", json={}), 409, "conflict")
    assert len(api.get_stream(s["id"])["playback_ids"]) == 10


def test_delete_playback_id_of_other_stream_is_404(api):
    a = api.create()
    b = api.create()
    pid = a["playback_ids"][0]["id"]
    assert_error(api.delete(f"/v1/live-streams/{b['id']}/playback-ids/{pid}"), 404, "not_found")
    assert api.get_stream(a["id"])["playback_ids"] == a["playback_ids"]
    assert_error(api.delete(f"/v1/live-streams/{a['id']}/playback-ids/nosuchid"), 404, "not_found")


def test_delete_last_playback_id(api):
    s = api.create()
    pid = s["playback_ids"][0]["id"]
    u = stream_of(api.delete(f"/v1/live-streams/{s['id']}/playback-ids/{pid}"))
    assert u["playback_ids"] == []


def test_seed_simulcast_target_add_and_remove(server, api):
    s = api.create({"name": "test-stream-update1"})
    # Seed example: --data-raw without a Content-Type.
    r = api.post(f"/v1/live-streams/{s['id']}/simulcast-targets", data=SEED_SIMULCAST_BODY_TEXT,
                 headers=FORM_CT)
    u = stream_of(r)
    assert_stream_shape(u, server)
    assert len(u["simulcast_targets"]) == 1
    t = u["simulcast_targets"][0]
    assert UUID4_RE.match(t["id"])
    assert t["url"] == "rtmp://a.rtmp.youtube.com/live2"
    assert t["stream_key"] == "1234-5678-abcd-efgh-3cm6"
    assert api.get_stream(s["id"])["simulcast_targets"] == [t]

    t2 = stream_of(api.post(f"/v1/live-streams/{s['id']}/simulcast-targets",
                            json={"url": "rtmps://live-api-s.facebook.com:443/rtmp/",
                                  "stream_key": "FB-1"}))["simulcast_targets"]
    assert [x["url"] for x in t2] == ["rtmp://a.rtmp.youtube.com/live2",
                                      "rtmps://live-api-s.facebook.com:443/rtmp/"]

    d = stream_of(api.delete(f"/v1/live-streams/{s['id']}/simulcast-targets/{t['id']}"))
    assert [x["url"] for x in d["simulcast_targets"]] == ["rtmps://live-api-s.facebook.com:443/rtmp/"]
    d = stream_of(api.delete(f"/v1/live-streams/{s['id']}/simulcast-targets/{t2[1]['id']}"))
    assert d["simulcast_targets"] == []
    assert api.get_stream(s["id"])["simulcast_targets"] == []
    assert_error(api.delete(f"/v1/live-streams/{s['id']}/simulcast-targets/{t['id']}"), 404,
                 "not_found")


@pytest.mark.parametrize("body,field", [
    ({"url": "http://x/live", "stream_key": "k"}, "url"),
    ({"url": "youtube", "stream_key": "k"}, "url"),
    ({"url": 5, "stream_key": "k"}, "url"),
    ({"stream_key": "k"}, "url"),
    ({"url": "rtmp://a/live", "stream_key": "k", "foo": 1}, "foo"),
])
def test_simulcast_validation(api, body, field):
    s = api.create()
    assert_error(api.post(f"/v1/live-streams/{s['id']}/simulcast-targets", json=body), 400,
                 "invalid_request", field)
    assert api.get_stream(s["id"])["simulcast_targets"] == []


def test_simulcast_limit_is_ten(api):
    s = api.create()
    for i in range(10):
        stream_of(api.post(f"/v1/live-streams/{s['id']}/simulcast-targets",
                           json={"url": f"rtmp://r{i}.example.com/live", "stream_key": f"k{i}"}))
    assert_error(api.post(f"/v1/live-streams/{s['id']}/simulcast-targets",
                          json={"url": "rtmp://r.example.com/live", "stream_key": "k"}),
                 409, "conflict")
    assert len(api.get_stream(s["id"])["simulcast_targets"]) == 10


def test_unknown_stream_sub_resources_404(api):
    bogus = "00000000-0000-4000-8000-000000000000"
    assert_error(api.post(f"/v1/live-streams/{bogus}/playback-ids", json={}), 404, "not_found")
    assert_error(api.post(f"/v1/live-streams/{bogus}/simulcast-targets",
                          json={"url": "rtmp://a/b", "stream_key": "k"}), 404, "not_found")
    assert_error(api.delete(f"/v1/live-streams/{bogus}/playback-ids/abc"), 404, "not_found")
    assert_error(api.delete(f"/v1/live-streams/{bogus}/simulcast-targets/{bogus}"), 404,
                 "not_found")
