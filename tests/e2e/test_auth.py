"""API keys, access tokens, and tenancy (docs/api.md "Authentication")."""
import json
import time

import pytest
import requests

from helpers import (assert_error, b64url, expect, jwt_hs256, jwt_parts,
                     stream_of)


def test_seed_access_token_example(server):
    key = server.apikey("seed-example")
    assert key.startswith("onair_") or len(key) >= 32, key
    r = requests.post(f"{server.base_url}/v1/access_token/{key}", timeout=10)
    body = expect(r, 200)
    assert set(body) == {"access_token"}
    header, claims, sig = jwt_parts(body["access_token"])
    assert header["alg"] == "HS256"
    # Valid 24 hours.
    assert "exp" in claims
    now = time.time()
    assert abs(claims["exp"] - (now + 86400)) < 120, claims
    # The token works.
    c = server.client(body["access_token"])
    assert expect(c.get("/v1/live-streams"), 200)["total"] == 0


def test_keys_and_tokens_not_logged(server):
    key = server.apikey("secret-logging")
    tok = server.token(key)
    expect(server.client(tok).get("/v1/live-streams"), 200)
    time.sleep(0.2)
    text = server.log_text()
    assert key not in text
    assert tok not in text
    assert tok.split(".")[2] not in text


@pytest.mark.parametrize("key", ["nope", "onair_" + "0" * 48, "x" * 300],
                         ids=["short", "unknown", "300-chars"])
def test_bad_api_key(server, key):
    r = requests.post(f"{server.base_url}/v1/access_token/{key}", timeout=10)
    assert_error(r, 401, "unauthorized")


def test_access_token_get_not_allowed(server):
    key = server.apikey("get-method")
    r = requests.get(f"{server.base_url}/v1/access_token/{key}", timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")


PROTECTED = [
    ("GET", "/v1/live-streams"),
    ("POST", "/v1/live-streams"),
    ("GET", "/v1/live-streams/00000000-0000-4000-8000-000000000000"),
    ("PUT", "/v1/live-streams/00000000-0000-4000-8000-000000000000"),
    ("DELETE", "/v1/live-streams/00000000-0000-4000-8000-000000000000"),
    ("POST", "/v1/live-streams/00000000-0000-4000-8000-000000000000/start"),
    ("POST", "/v1/live-streams/00000000-0000-4000-8000-000000000000/stop"),
    ("POST", "/v1/live-streams/00000000-0000-4000-8000-000000000000/playback-ids"),
    ("DELETE", "/v1/live-streams/00000000-0000-4000-8000-000000000000/playback-ids/abc"),
    ("POST", "/v1/live-streams/00000000-0000-4000-8000-000000000000/simulcast-targets"),
    ("DELETE", "/v1/live-streams/00000000-0000-4000-8000-000000000000/simulcast-targets/x"),
]


@pytest.mark.parametrize("method,path", PROTECTED)
def test_no_token_401(server, method, path):
    r = requests.request(method, server.base_url + path, json={"name": "x"}, timeout=10)
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("auth", [
    "Bearer garbage",
    "Bearer ",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "bearer",
    "Bearer a.b.c",
    "Bearer " + "A" * 5000,
])
def test_malformed_authorization_401(server, auth):
    r = requests.get(server.base_url + "/v1/live-streams", headers={"Authorization": auth},
                     timeout=10)
    assert_error(r, 401, "unauthorized")


def test_forged_tokens_401(server, api):
    tok = api.token
    header, claims, sig = jwt_parts(tok)
    h64, c64, _ = tok.split(".")
    forged = {
        "other secret": jwt_hs256(header, claims, b"not-the-server-secret"),
        "alg none": b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + c64 + ".",
        "alg none sig kept": b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." +
                             c64 + "." + sig,
        "claims changed": h64 + "." + b64url(json.dumps(
            dict(claims, exp=claims["exp"] + 3600)).encode()) + "." + sig,
        "signature truncated": h64 + "." + c64 + "." + sig[:-4],
        "signature flipped": h64 + "." + c64 + "." + (("A" if sig[0] != "A" else "B") + sig[1:]),
        "padding added": tok + "=",
        "two parts": h64 + "." + c64,
        "four parts": tok + ".x",
    }
    for what, bad in forged.items():
        r = requests.get(server.base_url + "/v1/live-streams",
                         headers={"Authorization": "Bearer " + bad}, timeout=10)
        assert r.status_code == 401, f"{what}: {r.status_code} {r.text[:200]}"
        assert_error(r, 401, "unauthorized")
    # Still fine with the real one.
    expect(api.get("/v1/live-streams"), 200)


def test_token_of_other_project_by_changing_sub_401(server, api, api2):
    """Swapping the subject of a valid token (same signature) must not work."""
    h64, c64, sig = api.token.split(".")
    _, claims2, _ = jwt_parts(api2.token)
    _, claims1, _ = jwt_parts(api.token)
    mixed = h64 + "." + b64url(json.dumps(claims2).encode()) + "." + sig
    r = requests.get(server.base_url + "/v1/live-streams",
                     headers={"Authorization": "Bearer " + mixed}, timeout=10)
    assert_error(r, 401, "unauthorized")
    assert claims1 != claims2


def test_revoked_key_tokens_stop_working(server):
    name = f"to-revoke-{int(time.time() * 1000)}"
    key = server.apikey(name)
    tok = server.token(key)
    c = server.client(tok)
    s = c.create({"name": "of-revoked"})
    key_id = server.apikey_id(name)
    server.cli("apikey", "revoke", key_id, "--data", str(server.data_dir))
    assert_error(c.get("/v1/live-streams"), 401, "unauthorized")
    assert_error(c.get(f"/v1/live-streams/{s['id']}"), 401, "unauthorized")
    assert_error(requests.post(f"{server.base_url}/v1/access_token/{key}", timeout=10), 401,
                 "unauthorized")
    # Other projects are unaffected.
    other = server.new_project()
    expect(other.get("/v1/live-streams"), 200)


def test_revoke_unknown_key_fails(server):
    p = server.cli("apikey", "revoke", "00000000-0000-4000-8000-000000000000", "--data",
                   str(server.data_dir), check=False)
    assert p.returncode != 0


def test_each_token_request_gives_working_token(server):
    key = server.apikey("many-tokens")
    t1 = server.token(key)
    t2 = server.token(key)
    expect(server.client(t1).get("/v1/live-streams"), 200)
    expect(server.client(t2).get("/v1/live-streams"), 200)


# ---------------------------------------------------------------- tenancy

def test_tenancy_other_project_sees_404(server, api, api2):
    s = api.create({"name": "tenant-a-stream"})
    sid = s["id"]
    pid = s["playback_ids"][0]["id"]
    t = stream_of(api.post(f"/v1/live-streams/{sid}/simulcast-targets",
                           json={"url": "rtmp://a.example.com/live", "stream_key": "k"}))
    tid = t["simulcast_targets"][0]["id"]
    s = api.get_stream(sid)

    calls = [
        ("GET", f"/v1/live-streams/{sid}", None),
        ("PUT", f"/v1/live-streams/{sid}", {"name": "hijacked"}),
        ("DELETE", f"/v1/live-streams/{sid}", None),
        ("POST", f"/v1/live-streams/{sid}/start", None),
        ("POST", f"/v1/live-streams/{sid}/stop", None),
        ("POST", f"/v1/live-streams/{sid}/playback-ids", {"policy": "public"}),
        ("DELETE", f"/v1/live-streams/{sid}/playback-ids/{pid}", None),
        ("POST", f"/v1/live-streams/{sid}/simulcast-targets",
         {"url": "rtmp://evil.example.com/live", "stream_key": "x"}),
        ("DELETE", f"/v1/live-streams/{sid}/simulcast-targets/{tid}", None),
    ]
    for method, path, body in calls:
        r = api2.request(method, path, json=body)
        assert_error(r, 404, "not_found")
        assert "tenant-a-stream" not in r.text and s["stream_key"] not in r.text

    # B's list and filters never show it.
    listed = [x["id"] for x in api2.get("/v1/live-streams").json()["streams"]]
    assert sid not in listed
    assert api2.get("/v1/live-streams", params={"name": "tenant-a-stream"}).json()["streams"] == []
    # A's stream is exactly as it was.
    assert api.get_stream(sid) == s

    # And while it runs, B still cannot stop it.
    stream_of(api.post(f"/v1/live-streams/{sid}/start"))
    assert_error(api2.post(f"/v1/live-streams/{sid}/stop"), 404, "not_found")
    assert api.get_stream(sid)["status"]["name"] == "waiting"
    stream_of(api.post(f"/v1/live-streams/{sid}/stop"))


def test_tenancy_lists_are_disjoint(api, api2):
    a = api.create({"name": "only-a"})
    b = api2.create({"name": "only-b"})
    la = [x["id"] for x in api.get("/v1/live-streams", params={"limit": 1000}).json()["streams"]]
    lb = [x["id"] for x in api2.get("/v1/live-streams", params={"limit": 1000}).json()["streams"]]
    assert a["id"] in la and a["id"] not in lb
    assert b["id"] in lb and b["id"] not in la
    assert not set(la) & set(lb)
