"""Stream controls of seed 001: disable / enable / reset-stream-key, with a
real encoder attached where the behaviour depends on it."""
import pytest

from helpers import assert_error
from media import (new_live_stream, pusher, start_live_server, status_of,  # noqa: F401
                   wait_playlist, wait_status)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    srv = start_live_server(tmp_path_factory)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lapi(live_server):
    return live_server.client(live_server.token(live_server.apikey("controls")))


def test_disable_kicks_the_encoder_and_refuses_publishes(live_server, lapi, pusher):
    s, p, url = new_live_stream(lapi, live_server, pusher)
    r = lapi.post(f"/v1/live-streams/{s['id']}/disable")
    assert r.status_code == 200, r.text
    assert status_of(r.json()["stream"]) == "disabled"
    assert p.wait(10) is not None, "the encoder was not disconnected"
    assert "#EXT-X-ENDLIST" in wait_playlist(url, lambda pl: pl.endlist, timeout=5).text
    # a new publish is refused while disabled, and the status stays visible
    p2 = pusher(live_server, s["stream_key"], duration=5)
    assert p2.wait(15) != 0
    assert status_of(lapi.get_stream(s["id"])) == "disabled"
    assert "reason=disabled" in live_server.log_text()
    # start/stop make no sense while disabled
    assert_error(lapi.post(f"/v1/live-streams/{s['id']}/start"), 409, "conflict")
    assert_error(lapi.post(f"/v1/live-streams/{s['id']}/disable"), 409, "conflict")

    r = lapi.post(f"/v1/live-streams/{s['id']}/enable")
    assert r.status_code == 200, r.text
    assert status_of(r.json()["stream"]) == "created"
    assert_error(lapi.post(f"/v1/live-streams/{s['id']}/enable"), 409, "conflict")
    pusher(live_server, s["stream_key"])
    wait_status(lapi, s["id"], "live", timeout=20)


def test_disable_without_encoder_and_delete(lapi):
    s = lapi.create({})
    r = lapi.post(f"/v1/live-streams/{s['id']}/disable")
    assert r.status_code == 200 and status_of(r.json()["stream"]) == "disabled"
    # a disabled stream is not running: it can be deleted
    r = lapi.delete(f"/v1/live-streams/{s['id']}")
    assert r.status_code == 200 and r.json()["status"]["name"] == "deleted"


def test_reset_stream_key_kicks_and_old_key_stops_working(live_server, lapi, pusher):
    s, p, url = new_live_stream(lapi, live_server, pusher)
    old_key = s["stream_key"]
    r = lapi.post(f"/v1/live-streams/{s['id']}/reset-stream-key")
    assert r.status_code == 200, r.text
    new_key = r.json()["stream"]["stream_key"]
    assert new_key != old_key and len(new_key) == 32
    assert p.wait(10) is not None, "the encoder on the old key was not disconnected"
    wait_status(lapi, s["id"], "idle", timeout=10)
    assert lapi.get_stream(s["id"])["stream_key"] == new_key
    # the old key is refused, the new one continues the same stream
    old = pusher(live_server, old_key, duration=5)
    assert old.wait(15) != 0
    pusher(live_server, new_key)
    wait_status(lapi, s["id"], "live", timeout=20)
    assert "#EXT-X-DISCONTINUITY" in wait_playlist(
        url, lambda pl: "#EXT-X-DISCONTINUITY" in pl.text, timeout=15).text


def test_controls_are_project_scoped(live_server, lapi):
    s = lapi.create({})
    other = live_server.client(live_server.token(live_server.apikey("other-controls")))
    for action in ("disable", "enable", "reset-stream-key"):
        assert_error(other.post(f"/v1/live-streams/{s['id']}/{action}"), 404, "not_found")
    assert lapi.get_stream(s["id"])["stream_key"] == s["stream_key"]
