"""GET /v1/live-streams: seed 003's dotted-key filters, paging, ordering.
Each test uses its own fresh project so the expected sets are exact."""
import time

import pytest

from helpers import assert_error, expect


def ids(client, params=None):
    body = expect(client.get("/v1/live-streams", params=params or {}), 200)
    assert body["total"] == len(body["streams"]) or body["total"] > body["limit"], body
    return [s["id"] for s in body["streams"]]


@pytest.fixture
def fleet(project):
    """Four streams: dvr on/off x started/not; one with a playback_domain."""
    c = project
    a = c.create({"name": "a", "dvr": {"enabled": 1}, "framerate": 25})
    b = c.create({"name": "b", "dvr": {"enabled": True}, "playback_domain": "cdn.example.com"})
    cc = c.create({"name": "c", "framerate": 29.97})
    d = c.create({"name": "d"})
    c.post(f"/v1/live-streams/{a['id']}/start").raise_for_status()
    c.post(f"/v1/live-streams/{cc['id']}/start").raise_for_status()
    c.post(f"/v1/live-streams/{b['id']}/playback-ids", json={"policy": "authenticated"}
           ).raise_for_status()
    yield c, {"a": a["id"], "b": b["id"], "c": cc["id"], "d": d["id"]}
    for sid in (a["id"], cc["id"]):
        c.post(f"/v1/live-streams/{sid}/stop")


def pick(names, m):
    return sorted(m[n] for n in names)


def test_seed_example_status_and_dvr(fleet):
    c, m = fleet
    # Seed 003 example 2, with "waiting" since no encoder is connected here.
    assert sorted(ids(c, {"status.name": "waiting", "params.dvr.enabled": "true"})) == pick("a", m)
    assert sorted(ids(c, {"status.name": "waiting", "params.dvr.enabled": "1"})) == pick("a", m)
    assert sorted(ids(c, {"status.name": "waiting", "params.dvr.enabled": "false"})) == pick("c", m)
    assert sorted(ids(c, {"params.dvr.enabled": "0"})) == pick("cd", m)
    assert ids(c, {"status.name": "live", "params.dvr.enabled": "true"}) == []
    assert sorted(ids(c, {"status.name": "created"})) == pick("bd", m)
    # The literal seed query string works.
    r = c.get("/v1/live-streams?status.name=live&params.dvr.enabled=true")
    assert expect(r, 200)["streams"] == []


def test_seed_example_playback_domain(fleet):
    c, m = fleet
    assert ids(c, {"playback_domain": "notnull"}) == [m["b"]]
    assert sorted(ids(c, {"playback_domain": "null"})) == pick("acd", m)
    assert ids(c, {"playback_domain": "cdn.example.com"}) == [m["b"]]
    # A property of the stream object that these streams lack is null.
    assert sorted(ids(c, {"origin_host": "null"})) == pick("bd", m)
    assert sorted(ids(c, {"origin_host": "notnull"})) == pick("ac", m)
    assert sorted(ids(c, {"server_urls.srt": "null"})) == pick("abcd", m)


def test_and_of_several(fleet):
    c, m = fleet
    assert ids(c, {"status.name": "created", "params.dvr.enabled": "true",
                   "playback_domain": "notnull"}) == [m["b"]]
    assert ids(c, {"status.name": "created", "params.dvr.enabled": "true",
                   "playback_domain": "null"}) == []
    assert ids(c, {"name": "a", "status.name": "waiting", "params.framerate": "25"}) == [m["a"]]


def test_numeric_and_array_filters(fleet):
    c, m = fleet
    assert ids(c, {"params.framerate": "25"}) == [m["a"]]
    assert ids(c, {"params.framerate": "25.0"}) == [m["a"]]
    assert ids(c, {"params.framerate": "29.97"}) == [m["c"]]
    assert sorted(ids(c, {"params.framerate": "0"})) == pick("bd", m)
    assert sorted(ids(c, {"params.stream_timeout": "120"})) == pick("abcd", m)
    assert ids(c, {"params.stream_timeout": "121"}) == []
    assert ids(c, {"playback_ids.policy": "authenticated"}) == [m["b"]]
    assert sorted(ids(c, {"playback_ids.policy": "public"})) == pick("abcd", m)
    assert ids(c, {"name": "A"}) == []  # strings compare exactly


def test_filters_apply_before_paging(fleet):
    c, m = fleet
    body = expect(c.get("/v1/live-streams", params={"params.dvr.enabled": "true", "limit": 1}), 200)
    assert body["total"] == 2 and body["limit"] == 1 and len(body["streams"]) == 1
    body2 = expect(c.get("/v1/live-streams", params={"params.dvr.enabled": "true", "limit": 1,
                                                     "offset": 1}), 200)
    assert body2["total"] == 2 and len(body2["streams"]) == 1
    assert sorted([body["streams"][0]["id"], body2["streams"][0]["id"]]) == pick("ab", m)


def test_paging_total_and_oldest_first(project):
    c = project
    made = []
    for i in range(3):
        made.append(c.create({"name": f"p{i}"})["id"])
        time.sleep(1.05)  # distinct created_at seconds, so "oldest first" is unambiguous
    for i in range(3, 7):
        made.append(c.create({"name": f"p{i}"})["id"])
    body = expect(c.get("/v1/live-streams"), 200)
    assert body["total"] == 7 and body["limit"] == 100 and body["offset"] == 0
    all_ids = [s["id"] for s in body["streams"]]
    assert all_ids[:3] == made[:3]
    assert sorted(all_ids[3:]) == sorted(made[3:])
    created = [s["created_at"] for s in body["streams"]]
    assert created == sorted(created)

    pages = []
    for off in range(0, 7, 3):
        b = expect(c.get("/v1/live-streams", params={"limit": 3, "offset": off}), 200)
        assert b["total"] == 7 and b["limit"] == 3 and b["offset"] == off
        pages += [s["id"] for s in b["streams"]]
    assert pages == all_ids
    b = expect(c.get("/v1/live-streams", params={"limit": 1000, "offset": 7}), 200)
    assert b["streams"] == [] and b["total"] == 7
    b = expect(c.get("/v1/live-streams", params={"limit": 1, "offset": 100}), 200)
    assert b["streams"] == [] and b["total"] == 7


def test_empty_project_lists_nothing(project):
    body = expect(project.get("/v1/live-streams"), 200)
    assert body == {"streams": [], "total": 0, "limit": 100, "offset": 0}


@pytest.mark.parametrize("value", ["0", "abc", "5000", "1001", "-1", ""])
def test_bad_limit(api, value):
    assert_error(api.get("/v1/live-streams", params={"limit": value}), 400, "invalid_request",
                 "limit")


@pytest.mark.parametrize("query,field", [
    ("bogus.field=1", "bogus.field"), ("no_such_field=null", "no_such_field"),
    ("status.nmae=live", "status.nmae"), ("params.dvr.enabeld=true", "params.dvr.enabeld"),
    ("status.name.x=live", "status.name.x"), ("sort_by=name", "sort_by"),
    ("limit=5&status.name=live&Status.name=live", "Status.name"),
    ("params.dvr%2Eenabld=1", "params.dvr.enabld")])
def test_unknown_filter_field_is_refused(project, query, field):
    # A mistyped key would otherwise match nothing and look like an empty list.
    project.create({"name": "x"})
    err = assert_error(project.get("/v1/live-streams?" + query), 400, "invalid_request", field)
    assert field in err["message"], err


def leaf_paths(node, prefix=""):
    """Every dotted path to a value in node, through arrays as filters go."""
    if isinstance(node, list):
        for e in node:
            yield from leaf_paths(e, prefix)
    elif isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else k)
    elif prefix:
        yield prefix


def test_every_property_of_a_full_stream_is_a_known_filter(project):
    # Guards the server's list of filterable keys against the stream object
    # growing: every property a stream shows can be filtered on.
    c = project
    s = c.create({"name": "full", "playback_domain": "cdn.example.com", "mode": "custom",
                  "qualities": [{"resolution": "360p", "bitrate": 800, "framerate": 30}],
                  "callback_url": "https://hooks.example.com/x",
                  "allowed_referer_domains": ["example.com"],
                  "dvr": {"enabled": 1, "destination": {"url": "s3://s3.example.com/b/p",
                                                        "key": "K", "secret": "S"}}})
    expect(c.post(f"/v1/live-streams/{s['id']}/simulcast-targets",
                  json={"url": "rtmp://a.example.com/live2", "stream_key": "k"}), 200)
    expect(c.post(f"/v1/live-streams/{s['id']}/start"), 200)
    full = c.get_stream(s["id"])
    paths = sorted(set(leaf_paths(full)))
    assert {"origin_host", "params.qualities.bitrate", "simulcast_targets.status.name",
            "params.dvr.destination.url"} <= set(paths), paths
    try:
        for path in paths:
            expect(c.get("/v1/live-streams", params={path: "notnull"}), 200)
    finally:
        c.post(f"/v1/live-streams/{s['id']}/stop")


@pytest.mark.parametrize("query", ["a..b=1", ".a=1", "a.=1", "status..name=live"])
def test_bad_filter_key(api, query):
    assert_error(api.get("/v1/live-streams?" + query), 400, "invalid_request")
