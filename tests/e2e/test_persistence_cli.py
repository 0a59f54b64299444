"""Everything survives a restart; the CLI (version, help, apikey) works."""
import re

import requests

from conftest import free_port, run_cli
from helpers import as_list, expect, stream_of, truthy


def test_state_survives_restart(fresh_server):
    srv = fresh_server()
    key = srv.apikey("persist")
    tok = srv.token(key)
    c = srv.client(tok)

    a = c.create({"name": "persist-a", "framerate": 29.97, "callback_url": "https://e.com/h",
                  "playback_domain": "cdn.example.com",
                  "dvr": {"enabled": 1, "format": ["mp4", "ts"],
                          "destination": {"url": "s3://b/p", "key": "KEY1", "secret": "SEKRET-1"}}})
    a = stream_of(c.post(f"/v1/live-streams/{a['id']}/playback-ids", json={"policy": "authenticated"}))
    a = stream_of(c.post(f"/v1/live-streams/{a['id']}/simulcast-targets",
                         json={"url": "rtmp://a.rtmp.youtube.com/live2", "stream_key": "yt-1"}))
    b = c.create({"name": "persist-b"})
    b = stream_of(c.post(f"/v1/live-streams/{b['id']}/start"))
    b = stream_of(c.post(f"/v1/live-streams/{b['id']}/stop"))
    d = c.create({"name": "persist-deleted"})
    expect(c.delete(f"/v1/live-streams/{d['id']}"), 200)
    before = expect(c.get("/v1/live-streams"), 200)
    assert before["total"] == 2

    srv.restart()
    c2 = srv.client(tok)  # the old access token is still valid
    after = expect(c2.get("/v1/live-streams"), 200)
    assert after == before
    a2 = c2.get_stream(a["id"])
    assert a2 == a
    assert a2["stream_key"] == a["stream_key"]
    assert [p["policy"] for p in a2["playback_ids"]] == ["public", "authenticated"]
    assert a2["simulcast_targets"][0]["stream_key"] == "yt-1"
    assert truthy(a2["params"]["dvr"]["enabled"])
    assert as_list(a2["params"]["dvr"]["destination"])[0]["key"] == "KEY1"
    assert c2.get_stream(b["id"])["status"] == b["status"]
    assert c2.get(f"/v1/live-streams/{d['id']}").status_code == 404
    # The key still gives tokens; the data dir never holds the plaintext key or secret token.
    srv.token(key)
    # State transitions keep working after the restart.
    assert stream_of(c2.post(f"/v1/live-streams/{b['id']}/start"))["status"]["name"] == "waiting"
    stream_of(c2.post(f"/v1/live-streams/{b['id']}/stop"))


def test_waiting_stream_after_restart_is_consistent(fresh_server):
    """A stream left waiting by a shutdown comes back in a state the API accepts
    calls for: it can be stopped or started (whichever applies), then deleted."""
    srv = fresh_server()
    c = srv.client(srv.token(srv.apikey("w")))
    s = c.create()
    stream_of(c.post(f"/v1/live-streams/{s['id']}/start"))
    srv.restart()
    got = c.get_stream(s["id"])
    name = got["status"]["name"]
    assert name in ("waiting", "stopped", "idle"), got["status"]
    if name != "stopped":
        stream_of(c.post(f"/v1/live-streams/{s['id']}/stop"))
    expect(c.delete(f"/v1/live-streams/{s['id']}"), 200)


def test_api_key_plaintext_not_stored(fresh_server):
    srv = fresh_server()
    key = srv.apikey("stored")
    srv.token(key)
    srv.stop()
    for p in srv.data_dir.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes(), f"plaintext API key found in {p}"


def test_version():
    p = run_cli("version")
    out = p.stdout.strip()
    assert out, "version printed nothing"
    assert re.search(r"\d+\.\d+", out), out


def test_help():
    p = run_cli("--help")
    text = (p.stdout + p.stderr).lower()
    assert "usage" in text
    for word in ("serve", "apikey", "version"):
        assert word in text, word
    p = run_cli("serve", "--help")
    text = (p.stdout + p.stderr).lower()
    assert "usage" in text
    for opt in ("--data", "--http", "--rtmp", "--public-host"):
        assert opt in text, opt


def test_bad_command_fails():
    p = run_cli("no-such-command", check=False)
    assert p.returncode != 0
    p = run_cli("serve", "--no-such-option", check=False)
    assert p.returncode != 0


def test_apikey_create_while_server_runs(server):
    key = server.apikey("while-running")
    tok = server.token(key)
    expect(server.client(tok).get("/v1/live-streams"), 200)
    p = run_cli("apikey", "list", "--data", str(server.data_dir))
    assert "while-running" in p.stdout
    assert key not in p.stdout  # shown once, never again


def test_apikey_names_distinct_projects(server):
    k1 = server.apikey("same-name")
    k2 = server.apikey("same-name")
    assert k1 != k2
    c1 = server.client(server.token(k1))
    c2 = server.client(server.token(k2))
    s = c1.create()
    assert c2.get(f"/v1/live-streams/{s['id']}").status_code == 404


def test_serve_refuses_busy_port(server, tmp_path):
    p = run_cli("serve", "--data", str(tmp_path / "d"), "--http", f"127.0.0.1:{server.http_port}",
                "--rtmp", f"127.0.0.1:{free_port()}", "--public-host", "127.0.0.1", check=False, timeout=20)
    assert p.returncode != 0
    assert requests.get(server.base_url + "/healthz", timeout=5).status_code == 200
