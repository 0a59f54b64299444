"""Signing keys (/v1/signing-keys) and `onair token sign`, as docs/api.md
("Signing keys and authenticated playback") describes them.

Playback with ?auth= is tested with the HLS routes, not here.
"""
import base64
import json
import subprocess
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run_cli
from helpers import TS_RE, UUID4_RE

MAX_KEYS = 20
KEY_FIELDS = {"id", "created_at", "public_key"}


def create_key(client, expect=201):
    """POST /v1/signing-keys, retrying while the server says 429 (it
    generates a few keys at a time)."""
    deadline = time.time() + 120
    while True:
        r = client.post("/v1/signing-keys")
        if r.status_code != 429 or time.time() > deadline:
            break
        assert r.headers.get("Retry-After"), r.headers
        time.sleep(0.2)
    assert r.status_code == expect, f"POST /v1/signing-keys -> {r.status_code} {r.text[:300]}"
    return r.json().get("signing_key") if expect == 201 else r.json()


def openssl(*args, input=None):
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=30)
    assert p.returncode == 0, f"openssl {args}: {p.stderr.decode(errors='replace')}"
    return p.stdout


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture(scope="module")
def key(api):
    return create_key(api)


# ---- the API ----

def test_create_returns_the_private_key_once(api, key):
    assert set(key) == KEY_FIELDS | {"private_key"}, key
    assert UUID4_RE.match(key["id"]), key["id"]
    assert TS_RE.match(key["created_at"]), key["created_at"]
    priv, pub = key["private_key"], key["public_key"]
    assert priv.startswith("-----BEGIN PRIVATE KEY-----\n"), priv[:40]  # PKCS#8
    assert priv.rstrip().endswith("-----END PRIVATE KEY-----")
    assert pub.startswith("-----BEGIN PUBLIC KEY-----\n"), pub[:40]
    # RSA 2048, and the public key is the private key's.
    text = openssl("pkey", "-noout", "-text", input=priv.encode()).decode()
    assert "2048 bit" in text, text[:200]
    assert openssl("pkey", "-pubout", input=priv.encode()).decode() == pub

    # GET and list never show the private key again.
    r = api.get(f"/v1/signing-keys/{key['id']}")
    assert r.status_code == 200, r.text
    got = r.json()["signing_key"]
    assert got == {"id": key["id"], "created_at": key["created_at"], "public_key": pub}
    assert "PRIVATE" not in r.text
    r = api.get("/v1/signing-keys")
    assert r.status_code == 200, r.text
    assert "PRIVATE" not in r.text
    listed = {k["id"]: k for k in r.json()["signing_keys"]}
    assert listed[key["id"]] == got


def test_each_key_is_new(api, key):
    other = create_key(api)
    assert other["id"] != key["id"]
    assert other["public_key"] != key["public_key"]
    assert other["private_key"] != key["private_key"]
    r = api.get("/v1/signing-keys")
    ids = [k["id"] for k in r.json()["signing_keys"]]
    assert ids.index(key["id"]) < ids.index(other["id"]), "oldest first"
    assert api.delete(f"/v1/signing-keys/{other['id']}").status_code == 200


def test_create_takes_no_fields(api):
    # No body and an empty object are both fine.
    for kw in ({}, {"json": {}}):
        r = api.post("/v1/signing-keys", **kw)
        while r.status_code == 429:
            time.sleep(0.2)
            r = api.post("/v1/signing-keys", **kw)
        assert r.status_code == 201, r.text
        assert api.delete(f"/v1/signing-keys/{r.json()['signing_key']['id']}").status_code == 200
    r = api.post("/v1/signing-keys", json={"name": "x"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "name"
    r = api.post("/v1/signing-keys", data="{bad json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    r = api.post("/v1/signing-keys", json=[1])
    assert r.status_code == 400, r.text


def test_every_call_needs_a_token(server, key):
    anon = server.client()
    forged = server.client("eyJhbGciOiJIUzI1NiJ9.e30.AAAA")
    for c in (anon, forged):
        for method, path in (("POST", "/v1/signing-keys"), ("GET", "/v1/signing-keys"),
                             ("GET", f"/v1/signing-keys/{key['id']}"),
                             ("DELETE", f"/v1/signing-keys/{key['id']}")):
            r = c.request(method, path)
            assert r.status_code == 401, f"{method} {path} -> {r.status_code} {r.text}"
            assert r.json()["error"]["code"] == "unauthorized"
        c.close()


def test_unknown_ids(api):
    for kid in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "x" * 200):
        r = api.get(f"/v1/signing-keys/{kid}")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
        assert api.delete(f"/v1/signing-keys/{kid}").status_code == 404


def test_delete(api):
    k = create_key(api)
    r = api.delete(f"/v1/signing-keys/{k['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": True}
    assert api.get(f"/v1/signing-keys/{k['id']}").status_code == 404
    assert api.delete(f"/v1/signing-keys/{k['id']}").status_code == 404
    ids = [x["id"] for x in api.get("/v1/signing-keys").json()["signing_keys"]]
    assert k["id"] not in ids


def test_tenancy(api, api2, key):
    # api2 neither sees nor deletes api's key.
    assert api2.get(f"/v1/signing-keys/{key['id']}").status_code == 404
    assert api2.delete(f"/v1/signing-keys/{key['id']}").status_code == 404
    ids2 = [x["id"] for x in api2.get("/v1/signing-keys").json()["signing_keys"]]
    assert key["id"] not in ids2
    assert api.get(f"/v1/signing-keys/{key['id']}").status_code == 200
    # and the other way round.
    k2 = create_key(api2)
    assert api.get(f"/v1/signing-keys/{k2['id']}").status_code == 404
    assert api.delete(f"/v1/signing-keys/{k2['id']}").status_code == 404
    ids = [x["id"] for x in api.get("/v1/signing-keys").json()["signing_keys"]]
    assert k2["id"] not in ids
    assert api2.delete(f"/v1/signing-keys/{k2['id']}").status_code == 200


def test_at_most_twenty_keys_per_project(project, api):
    r = project.get("/v1/signing-keys")
    assert r.status_code == 200 and r.json() == {"signing_keys": []}, r.text
    # Several requests at once: the limit holds under concurrency too.
    with ThreadPoolExecutor(4) as ex:
        keys = list(ex.map(lambda _: create_key(project), range(MAX_KEYS)))
    assert len({k["id"] for k in keys}) == MAX_KEYS
    r = project.post("/v1/signing-keys")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict"
    listed = project.get("/v1/signing-keys").json()["signing_keys"]
    assert len(listed) == MAX_KEYS
    # The limit is per project.
    other = create_key(api)
    assert api.delete(f"/v1/signing-keys/{other['id']}").status_code == 200
    # Deleting one makes room for one.
    assert project.delete(f"/v1/signing-keys/{keys[0]['id']}").status_code == 200
    create_key(project)
    assert project.post("/v1/signing-keys").status_code == 409


def test_keys_survive_a_restart(fresh_server):
    srv = fresh_server()
    c = srv.new_project()
    k = create_key(c)
    srv.restart()
    c2 = srv.client(c.token)  # access tokens survive restarts too
    r = c2.get(f"/v1/signing-keys/{k['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["signing_key"]["public_key"] == k["public_key"]
    c.close()
    c2.close()


def test_private_key_is_not_kept(fresh_server):
    """Only the public key is stored: the private key's bytes appear in no
    file of the data dir (SQLite database, WAL, anything else) and not in
    the server log, neither as PEM text nor as DER."""
    srv = fresh_server()
    c = srv.new_project()
    k = create_key(c)
    body = "".join(k["private_key"].strip().splitlines()[1:-1])
    der = base64.b64decode(body)
    # from the end of the PKCS#8 structure: the CRT values (p, q, dP, dQ,
    # qInv) are private; the start holds the modulus, which is public
    needles = [body[-200:-140].encode(), der[-300:-240]]
    pub = base64.b64decode("".join(k["public_key"].strip().splitlines()[1:-1]))
    assert not any(n in pub or n in k["public_key"].encode() for n in needles)
    srv.stop()  # SQLite checkpoints and closes: every byte is on disk
    files = [f for f in srv.data_dir.rglob("*") if f.is_file()]
    assert any(f.suffix == ".db" for f in files), f"no database in {files}"
    for f in files + [Path(srv.log_path)]:
        data = f.read_bytes()
        for n in needles:
            assert n not in data, f"the private key is in {f}"
    c.close()


# ---- onair token sign ----

def sign(*args, check=True):
    return run_cli("token", "sign", *args, check=check)


@pytest.fixture(scope="module")
def key_file(key, tmp_path_factory):
    d = tmp_path_factory.mktemp("signing")
    p = d / "private.pem"
    p.write_text(key["private_key"])
    p.chmod(0o600)
    pub = d / "public.pem"
    pub.write_text(key["public_key"])
    return p


def decode_token(tok):
    parts = tok.split(".")
    assert len(parts) == 3 and all(parts), tok
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    return header, claims, parts


def assert_signature_valid(tok, pub_pem_path, tmp_path):
    _, _, parts = decode_token(tok)
    data = tmp_path / "signed"
    data.write_bytes(f"{parts[0]}.{parts[1]}".encode())
    sig = tmp_path / "sig"
    sig.write_bytes(b64url_decode(parts[2]))
    out = openssl("dgst", "-sha256", "-verify", str(pub_pem_path), "-signature", str(sig),
                  str(data))
    assert b"Verified OK" in out, out


def test_cli_signs_a_playback_token(key, key_file, tmp_path):
    before = int(time.time())
    p = sign("--key-file", str(key_file), "--key-id", key["id"], "--playback-id", "av22x1p8h5qz",
             "--ttl", "600")
    after = int(time.time())
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    tok = lines[0].strip()
    header, claims, _ = decode_token(tok)
    assert header["alg"] == "RS256" and header["kid"] == key["id"], header
    assert claims["sub"] == "av22x1p8h5qz", claims
    assert before + 600 <= claims["exp"] <= after + 600, claims
    assert claims.get("aud", "v") == "v"
    assert_signature_valid(tok, key_file.parent / "public.pem", tmp_path)
    # Default ttl: one hour. --opt=value works too.
    p = sign(f"--key-file={key_file}", f"--key-id={key['id']}", "--playback-id=pb1")
    _, claims, _ = decode_token(p.stdout.strip())
    assert claims["sub"] == "pb1"
    assert before + 3600 <= claims["exp"] <= int(time.time()) + 3600, claims


def test_cli_accepts_a_base64_encoded_key(key, key_file, tmp_path):
    # What Mux hands out: the PEM, base64-encoded, on one line.
    f = tmp_path / "b64.key"
    f.write_text(base64.b64encode(key["private_key"].encode()).decode() + "\n")
    p = sign("--key-file", str(f), "--key-id", key["id"], "--playback-id", "pb2")
    assert_signature_valid(p.stdout.strip(), key_file.parent / "public.pem", tmp_path)


def test_cli_usage_and_errors(key, key_file, tmp_path):
    p = run_cli("token", "sign", "--help")
    assert "usage" in p.stdout and "--key-file" in p.stdout
    p = run_cli("token", "--help")
    assert "usage" in p.stdout
    base = ["--key-file", str(key_file), "--key-id", key["id"], "--playback-id", "pb"]
    usage_errors = [
        [],                                            # nothing
        ["--key-file", str(key_file)],                 # missing ids
        base + ["--ttl", "0"],
        base + ["--ttl", "-5"],
        base + ["--ttl", "2592001"],                   # over 30 days
        base + ["--ttl", "abc"],
        base + ["--bogus"],
        base[:-1],                                     # --playback-id without value
        ["--key-file", str(key_file), "--key-id", key["id"], "--playback-id", "has space"],
    ]
    for args in usage_errors:
        p = sign(*args, check=False)
        assert p.returncode == 2, f"{args}: rc {p.returncode} {p.stderr}"
        assert p.stderr.strip() and not p.stdout.strip(), args
    p = run_cli("token", check=False)
    assert p.returncode == 2
    p = run_cli("token", "frobnicate", check=False)
    assert p.returncode == 2
    # 30 days exactly is allowed.
    sign(*base, "--ttl", "2592000")

    not_a_key = tmp_path / "garbage.pem"
    not_a_key.write_text("hello\n")
    small = tmp_path / "small.pem"
    small.write_bytes(openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"))
    for f in (tmp_path / "missing.pem", not_a_key, key_file.parent / "public.pem", small):
        p = sign("--key-file", str(f), "--key-id", key["id"], "--playback-id", "pb",
                 check=False)
        assert p.returncode == 1, f"{f}: rc {p.returncode} {p.stderr}"
        assert p.stderr.strip() and not p.stdout.strip(), f
        assert "PRIVATE KEY" not in p.stderr

