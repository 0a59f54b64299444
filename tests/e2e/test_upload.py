"""Uploads to recording destinations (upload/uploader.h), against real servers.

Every storage server is started here on 127.0.0.1 with a free port and a
temp dir, and stopped at the end:
  s3rver (npm, tests/storage)   S3 and B2 (b2:// is S3 against its endpoint)
  azurite-blob (npm)            Azure Blob, Shared Key and SAS
  vsftpd                        FTP (anonymous upload) and explicit FTPS
  sshd (openssh-server)         SFTP with public-key auth
  a folder                      file://
The uploader is driven through `onair upload` — the same persisted, retried
queue the server runs — and every object is read back from the server it went
to (HTTP GET, ftplib, paramiko) and compared byte for byte, then ffprobed.
The API half: POST /v1/live-streams refuses destinations the uploader could
not use, with a 400 naming the field.

s3rver checks the access key id but not SigV4 signatures, so one test checks
the signature of the request onair sends with an independent SigV4
implementation (below), against the same secret.
"""
import base64
import datetime as dt
import email.utils
import ftplib
import getpass
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ASAN, ONAIR_BIN, REPO, check_sanitizer_output, free_port
from helpers import assert_error
from npm import NODE, ensure_modules, node_env

STORAGE_DIR = REPO / "tests" / "storage"
VSFTPD = "/usr/sbin/vsftpd"
SSHD = "/usr/sbin/sshd"
SLOW = 3 if ASAN else 1
S3_KEY = S3_SECRET = "S3RVER"  # s3rver's built-in account
AZ_ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account
AZ_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
          "KBHBeksoGMGw==")
AZ_VERSION = "2021-08-06"


# ------------------------------------------------------------------ helpers

@pytest.fixture(scope="session")
def storage_modules():
    """s3rver and azurite from tests/storage/package-lock.json (npm ci when missing)."""
    return ensure_modules(STORAGE_DIR)


def wait_port(port, proc, what, log, timeout=60):
    import socket
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode} at start-up:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} not listening on {port} within {timeout * SLOW}s:\n{_tail(log)}")


def _tail(path, n=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Daemon:
    """A server process of the test: own process group, log file, stopped at the end."""

    def __init__(self, argv, log, what, env=None):
        self.what, self.log = what, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env=env)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        d.stop()


def start_s3rver(daemons, modules, tmp, port=None, wait=True):
    port = port or free_port()
    data = tmp / f"s3rver-{port}"
    data.mkdir(parents=True, exist_ok=True)
    d = Daemon([NODE, str(modules / "s3rver" / "bin" / "s3rver.js"), "-d", str(data),
                "-a", "127.0.0.1", "-p", str(port), "--configure-bucket", "recordings"],
               tmp / f"s3rver-{port}.log", "s3rver", env=node_env())
    daemons.append(d)
    if wait:
        wait_port(port, d.proc, "s3rver", d.log)
    d.port = port
    return d


@pytest.fixture(scope="module")
def azurite(storage_modules, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("azurite")
    port = free_port()
    d = Daemon([NODE, str(storage_modules / "azurite" / "dist" / "src" / "blob" / "main.js"),
                "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(tmp),
                "--silent", "--disableTelemetry"], tmp / "azurite.log", "azurite",
               env=node_env())
    try:
        wait_port(port, d.proc, "azurite", d.log)
        d.port = port
        az_request(port, "PUT", f"/{AZ_ACCOUNT}/recordings", "restype=container")
        yield d
    finally:
        d.stop()


def az_request(port, method, path, query="", headers=None, body=None):
    """A Shared Key signed request to Azurite (the test's own client)."""
    headers = dict(headers or {})
    headers["x-ms-date"] = email.utils.formatdate(usegmt=True)
    headers["x-ms-version"] = AZ_VERSION
    canon_h = "".join(f"{k}:{v}\n" for k, v in sorted(
        (k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-ms-")))
    canon_r = f"/{AZ_ACCOUNT}{path}"
    for kv in sorted(q for q in query.split("&") if q):
        k, v = kv.split("=", 1)
        canon_r += f"\n{k}:{v}"
    sts = "\n".join([method, "", "", str(len(body)) if body else "", "",
                     headers.get("Content-Type", ""), "", "", "", "", "", ""]) + "\n"
    sts += canon_h + canon_r
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), sts.encode(),
                                    hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {AZ_ACCOUNT}:{sig}"
    url = f"http://127.0.0.1:{port}{path}" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.headers, resp.read()


def az_container_sas(container, permissions="cw", minutes=30):
    """A service SAS for a container (version 2020-12-06+ string to sign)."""
    expiry = (dt.datetime.utcnow() + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = [permissions, "", expiry, f"/blob/{AZ_ACCOUNT}/{container}", "", "", "http,https",
              AZ_VERSION, "c", "", "", "", "", "", "", ""]
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), "\n".join(fields).encode(),
                                    hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode({"sv": AZ_VERSION, "sp": permissions, "se": expiry,
                                   "spr": "http,https", "sr": "c", "sig": sig})


@pytest.fixture(scope="module")
def media_file(tmp_path_factory):
    """A real 3 s H.264/AAC MP4 with a few random bytes' worth of variety."""
    path = tmp_path_factory.mktemp("media") / "rec.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                    "-c:a", "aac", "-movflags", "+faststart", str(path)],
                   check=True, timeout=120)
    return path


def ffprobe_duration(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return float(json.loads(p.stdout)["format"]["duration"])


def assert_same_media(got_bytes, media_file, tmp):
    assert got_bytes == media_file.read_bytes(), "object differs from the uploaded file"
    copy = tmp / f"readback-{time.time_ns()}.mp4"
    copy.write_bytes(got_bytes)
    assert abs(ffprobe_duration(copy) - 3.0) < 0.2


def write_dest(tmp, dest):
    """Destinations go in a 0600 file (@PATH): secrets stay out of argv."""
    p = tmp / f"dest-{time.time_ns()}.json"
    p.write_text(json.dumps(dest))
    p.chmod(0o600)
    return p


def upload_argv(data_dir, src, dest_file, name=None, settings=()):
    argv = [ONAIR_BIN, "upload", "--data", str(data_dir), *settings, str(src), f"@{dest_file}"]
    if name:
        argv.append(name)
    return argv


def upload(tmp, src, dest, name=None, settings=(), data_dir=None, timeout=120):
    data_dir = data_dir or tmp / "data"
    argv = upload_argv(data_dir, src, write_dest(tmp, dest), name, settings)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * SLOW,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        pytest.fail(f"onair upload still running after {timeout * SLOW}s:\n{(err or '')[-4000:]}")
    check_sanitizer_output(p.stderr, "onair upload")
    return p


def ok_url(p):
    assert p.returncode == 0, f"onair upload exited {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert lines, p.stderr
    return lines[-1]


def http_get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()


def assert_no_secret(text, *secrets):
    for s in secrets:
        assert s not in text, "a destination credential appeared in the output/logs"


# ------------------------------------------------------------------ file://

def test_file_destination_copies_and_renames_into_place(tmp_path, media_file):
    target = tmp_path / "vol" / "recordings"
    p = upload(tmp_path, media_file, {"url": f"file://{target}"}, "stream-1/part 1.mp4")
    url = ok_url(p)
    got = target / "stream-1" / "part 1.mp4"
    assert url == f"file://{target}/stream-1/part%201.mp4"
    assert_same_media(got.read_bytes(), media_file, tmp_path)
    # the temp file it was written to is gone; only the object is there
    assert sorted(x.name for x in got.parent.iterdir()) == ["part 1.mp4"]
    assert media_file.exists(), "the local file is the owner's: never deleted by the uploader"


# ------------------------------------------------------------------ S3 / B2

def test_s3_put_object_with_storage_class(tmp_path, daemons, storage_modules, media_file):
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    dest = {"url": f"s3://127.0.0.1:{s3.port}/recordings/live/dvr?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET, "permissions": "public-read",
            "storage_class": "REDUCED_REDUNDANCY"}
    p = upload(tmp_path, media_file, dest, "abc/rec.mp4")
    url = ok_url(p)
    assert url == f"http://127.0.0.1:{s3.port}/recordings/live/dvr/abc/rec.mp4"
    status, headers, body = http_get(url)
    assert status == 200
    assert headers.get("Content-Type") == "video/mp4"
    assert_same_media(body, media_file, tmp_path)
    meta = next((tmp_path / f"s3rver-{s3.port}").rglob("rec.mp4._S3rver_metadata.json"))
    assert json.loads(meta.read_text())["x-amz-storage-class"] == "REDUCED_REDUNDANCY"
    assert_no_secret(p.stdout + p.stderr, S3_SECRET + "x")  # nothing like it is printed
    assert "S3RVER@" not in p.stderr


def test_b2_uses_the_s3_compatible_endpoint(tmp_path, daemons, storage_modules, media_file):
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    dest = {"url": f"b2://127.0.0.1:{s3.port}/recordings/b2?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET}
    url = ok_url(upload(tmp_path, media_file, dest, "rec.mp4"))
    assert url == f"http://127.0.0.1:{s3.port}/recordings/b2/rec.mp4"
    assert_same_media(http_get(url)[2], media_file, tmp_path)


def _sigv4_check(method, path, query, headers, secret):
    """Recomputes an AWS SigV4 header signature independently of libcurl."""
    auth = headers["authorization"]
    algo, rest = auth.split(" ", 1)
    assert algo == "AWS4-HMAC-SHA256"
    parts = dict(kv.strip().split("=", 1) for kv in rest.split(","))
    key_id, date, region, service, term = parts["Credential"].split("/")
    signed = parts["SignedHeaders"].split(";")
    for h in signed:
        assert h in headers, f"signed header {h} was not sent (the server cannot verify it)"
    canon_headers = "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    # as S3 does: every parameter decoded, then URI-encoded, "name=" when bare, sorted
    canon_query = "&".join(sorted(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)))
    creq = "\n".join([method, path, canon_query, canon_headers, ";".join(signed),
                      headers["x-amz-content-sha256"]])
    scope = f"{date}/{region}/{service}/{term}"
    sts = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
                     hashlib.sha256(creq.encode()).hexdigest()])

    def h(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()
    k = h(h(h(h(("AWS4" + secret).encode(), date), region), service), term)
    assert hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() == parts["Signature"], \
        f"SigV4 signature does not verify; canonical request:\n{creq}"
    return key_id, region, service, signed


def test_s3_request_carries_a_valid_sigv4_signature(tmp_path, media_file):
    """What a real S3 checks and s3rver does not: the signature itself."""
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            n = int(self.headers.get("Content-Length", "0"))
            if self.headers.get("Expect", "").lower() == "100-continue":
                self.send_response_only(100)
                self.end_headers()
            body = self.rfile.read(n)
            seen.update(path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                        body=body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        port = srv.server_address[1]
        secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        dest = {"url": f"s3://127.0.0.1:{port}/bucket/pre?scheme=http&region=eu-west-1",
                "key": "AKIDEXAMPLE", "secret": secret, "permissions": "bucket-owner-read",
                "storage_class": "STANDARD_IA"}
        ok_url(upload(tmp_path, media_file, dest, "x/rec.mp4"))
    finally:
        srv.shutdown()
    assert seen["path"] == "/bucket/pre/x/rec.mp4"
    assert seen["body"] == media_file.read_bytes()
    hdr = seen["headers"]
    assert hdr["x-amz-acl"] == "bucket-owner-read"
    assert hdr["x-amz-storage-class"] == "STANDARD_IA"
    key_id, region, service, signed = _sigv4_check("PUT", seen["path"], "", hdr, secret)
    assert (key_id, region, service) == ("AKIDEXAMPLE", "eu-west-1", "s3")
    for must in ("host", "x-amz-date", "x-amz-content-sha256", "x-amz-acl",
                 "x-amz-storage-class"):
        assert must in signed, signed


def test_a_server_echoing_the_request_cannot_leak_credentials(tmp_path, media_file):
    """The failure reason is kept, logged and shown by the API: a server that
    puts the request line (SAS token and all) in its error must not get the
    token into any of them."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = (f"<Error><Code>Echo</Code><Message>PUT {self.path} "
                    f"{urllib.parse.unquote(self.path)}</Message></Error>").encode()
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sig = "c2VjcmV0LXNpZw%2Bx"
    try:
        port = srv.server_address[1]
        dest = {"url": f"azblob://127.0.0.1:{port}/acct/c/p?sv=2021-08-06&sp=cw&sig={sig}"
                       "&scheme=http"}
        p = upload(tmp_path, media_file, dest, settings=["--upload-max-attempts", "1"])
    finally:
        srv.shutdown()
    assert p.returncode == 1, p.stderr
    assert "HTTP 403 Echo" in p.stderr, p.stderr
    assert_no_secret(p.stdout + p.stderr, sig, urllib.parse.unquote(sig), "c2VjcmV0LXNpZw")
    assert "sig=***" in p.stderr, "the echo is kept, without the signature"


def test_allow_private_0_refuses_loopback_and_file_destinations(tmp_path, media_file):
    """upload_allow_private=0 (shared installs): no connection to loopback or
    private addresses, no file:// — the job fails at once with the reason."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            if self.headers.get("Expect", "").lower() == "100-continue":
                self.send_response_only(100)
                self.end_headers()
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    seen = []
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    deny = ["--upload-allow-private", "0", "--upload-max-attempts", "5",
            "--upload-retry-base-ms", "50"]
    try:
        port = srv.server_address[1]
        for host in ("127.0.0.1", "localhost"):
            dest = {"url": f"s3://{host}:{port}/bucket?scheme=http", "key": "AK", "secret": "SK-1234"}
            p = upload(tmp_path, media_file, dest, settings=deny)
            assert p.returncode == 1, p.stderr
            assert "refused: the host resolves to a loopback, private or link-local" in p.stderr
            assert "upload_retry " not in p.stderr, "a refusal is not retried"
        target = tmp_path / "vol"
        p = upload(tmp_path, media_file, {"url": f"file://{target}"}, settings=deny)
        assert p.returncode == 1 and "refused: file://" in p.stderr, p.stderr
        assert not target.exists()
        # the default lets a local MinIO (here: the same loopback server) work
        dest = {"url": f"s3://127.0.0.1:{port}/bucket?scheme=http", "key": "AK", "secret": "SK-1234"}
        ok_url(upload(tmp_path, media_file, dest))
    finally:
        srv.shutdown()
    assert seen == ["/bucket/" + media_file.name]


def test_s3_unknown_key_fails_after_max_attempts_with_the_reason(tmp_path, daemons,
                                                                 storage_modules, media_file):
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    dest = {"url": f"s3://127.0.0.1:{s3.port}/recordings/x?scheme=http",
            "key": "NOT-A-KEY", "secret": "not-the-secret-42"}
    p = upload(tmp_path, media_file, dest, settings=["--upload-max-attempts", "3",
                                                     "--upload-retry-base-ms", "50"])
    assert p.returncode == 1, p.stderr
    assert "HTTP 403 InvalidAccessKeyId" in p.stderr
    assert p.stderr.count("upload_retry ") == 2, p.stderr
    assert "attempts=3" in p.stderr
    assert_no_secret(p.stdout + p.stderr, "not-the-secret-42")
    assert not list((tmp_path / f"s3rver-{s3.port}").rglob("*._S3rver_object"))


# ------------------------------------------------------------------ Azure Blob

def test_azblob_shared_key(tmp_path, azurite, media_file):
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/live?scheme=http",
            "key": AZ_ACCOUNT, "secret": AZ_KEY}
    p = upload(tmp_path, media_file, dest, "s1/rec.mp4")
    url = ok_url(p)
    assert url == f"http://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/live/s1/rec.mp4"
    status, headers, body = az_request(azurite.port, "GET",
                                       f"/{AZ_ACCOUNT}/recordings/live/s1/rec.mp4")
    assert status == 200 and headers.get("x-ms-blob-type") == "BlockBlob"
    assert headers.get("Content-Type") == "video/mp4"
    assert_same_media(body, media_file, tmp_path)
    assert_no_secret(p.stdout + p.stderr, AZ_KEY)


def test_azblob_sas_token(tmp_path, azurite, media_file):
    sas = az_container_sas("recordings")
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/sas?{sas}"
                   "&scheme=http"}
    p = upload(tmp_path, media_file, dest, "rec.mp4")
    url = ok_url(p)
    assert "sig=" not in url and "?" not in url, "the URL handed out carries no SAS token"
    assert url == f"http://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/sas/rec.mp4"
    body = az_request(azurite.port, "GET", f"/{AZ_ACCOUNT}/recordings/sas/rec.mp4")[2]
    assert_same_media(body, media_file, tmp_path)
    sig = urllib.parse.parse_qs(sas)["sig"][0]
    assert_no_secret(p.stdout + p.stderr, sig, urllib.parse.quote(sig, safe=""))


def test_azblob_wrong_key_fails_with_the_reason(tmp_path, azurite, media_file):
    wrong = base64.b64encode(b"x" * 64).decode()
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/w?scheme=http",
            "key": AZ_ACCOUNT, "secret": wrong}
    p = upload(tmp_path, media_file, dest, "rec.mp4",
               settings=["--upload-max-attempts", "2", "--upload-retry-base-ms", "50"])
    assert p.returncode == 1
    assert "HTTP 403" in p.stderr and "failed:" in p.stderr, p.stderr
    assert_no_secret(p.stdout + p.stderr, wrong)
    with pytest.raises(urllib.error.HTTPError) as e:
        az_request(azurite.port, "GET", f"/{AZ_ACCOUNT}/recordings/w/rec.mp4")
    assert e.value.code == 404


# ------------------------------------------------------------------ files in parts

PART = ["--upload-part-mib", "5"]  # the minimum: a 12 MiB file goes up in 3 parts


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """12 MiB and a bit: two 5 MiB parts and a short last one."""
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    path.write_bytes(os.urandom(12 * 2**20 + 12345))
    return path


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def assert_three_parts(s3):
    """s3rver logs each part it stores (its ETags are plain MD5s, multipart or not)."""
    log = Path(s3.log).read_text()
    assert "Stored part 3 of" in log and "Stored part 4 of" not in log, log[-3000:]


def test_s3_multipart_upload_in_parts(tmp_path, daemons, storage_modules, big_file):
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    dest = {"url": f"s3://127.0.0.1:{s3.port}/recordings/mp?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET, "storage_class": "REDUCED_REDUNDANCY"}
    p = upload(tmp_path, big_file, dest, "s1/big.mp4", settings=PART)
    url = ok_url(p)
    assert url == f"http://127.0.0.1:{s3.port}/recordings/mp/s1/big.mp4"
    status, headers, body = http_get(url)
    assert status == 200 and headers.get("Content-Type") == "video/mp4"
    assert sha256(body) == sha256(big_file.read_bytes())
    assert_three_parts(s3)
    meta = next((tmp_path / f"s3rver-{s3.port}").rglob("big.mp4._S3rver_metadata.json"))
    assert json.loads(meta.read_text())["x-amz-storage-class"] == "REDUCED_REDUNDANCY"


def test_b2_multipart_upload_in_parts(tmp_path, daemons, storage_modules, big_file):
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    dest = {"url": f"b2://127.0.0.1:{s3.port}/recordings/b2?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET}
    url = ok_url(upload(tmp_path, big_file, dest, settings=PART))
    status, headers, body = http_get(url)
    assert sha256(body) == sha256(big_file.read_bytes())
    assert headers.get("Content-Type") == "video/mp4"
    assert_three_parts(s3)


class FakeS3Multipart(http.server.BaseHTTPRequestHandler):
    """Records every request; answers as S3 does (Complete: as self.server.complete says)."""
    UPLOAD_ID = "id+/=~x"  # escaped in the query, signed as S3 decodes it

    def _body(self):
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self):
        path, _, query = self.path.partition("?")
        req = {"method": self.command, "path": path, "query": query,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": self._body()}
        self.server.seen.append(req)
        return req

    def do_POST(self):
        req = self._record()
        q = urllib.parse.parse_qs(req["query"], keep_blank_values=True)
        if "uploads" in q:
            self._answer(200, (f"<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k"
                               f"</Key><UploadId>{self.UPLOAD_ID}</UploadId>"
                               f"</InitiateMultipartUploadResult>").encode())
        elif self.server.complete == "error":
            # S3's way: 200, spaces while it works, then the error
            self._answer(200, b"<?xml version=\"1.0\"?>\n" + b" " * 6000 +
                         b"<Error><Code>InternalError</Code><Message>We encountered an "
                         b"internal error.</Message></Error>")
        else:
            self._answer(200, b"<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                              b"</CompleteMultipartUploadResult>")

    def do_PUT(self):
        req = self._record()
        n = urllib.parse.parse_qs(req["query"])["partNumber"][0]
        self._answer(200, headers=[("ETag", f'"etag-{n}"')])

    def do_DELETE(self):
        self._record()
        self._answer(204)

    def log_message(self, *a):
        pass


def _fake_s3_upload(tmp_path, big_file, complete):
    srv = http.server.HTTPServer(("127.0.0.1", 0), FakeS3Multipart)
    srv.seen, srv.complete = [], complete
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    try:
        port = srv.server_address[1]
        dest = {"url": f"s3://127.0.0.1:{port}/bucket/pre?scheme=http&region=eu-west-1",
                "key": "AKIDEXAMPLE", "secret": secret, "permissions": "bucket-owner-read",
                "storage_class": "STANDARD_IA"}
        p = upload(tmp_path, big_file, dest, "x/big.mp4",
                   settings=[*PART, "--upload-max-attempts", "1"])
    finally:
        srv.shutdown()
        srv.server_close()
    return p, srv.seen, secret


def test_s3_multipart_requests_are_signed_and_carry_the_parts(tmp_path, big_file):
    """Create (with the object's headers), 3 UploadParts with their byte
    ranges, Complete listing the ETags — each with a SigV4 signature that an
    independent implementation verifies, query strings included."""
    p, seen, secret = _fake_s3_upload(tmp_path, big_file, "ok")
    ok_url(p)
    data = big_file.read_bytes()
    eid = urllib.parse.quote(FakeS3Multipart.UPLOAD_ID, safe="-_.~")
    assert [(r["method"], r["query"]) for r in seen] == [
        ("POST", "uploads="),
        ("PUT", f"partNumber=1&uploadId={eid}"),
        ("PUT", f"partNumber=2&uploadId={eid}"),
        ("PUT", f"partNumber=3&uploadId={eid}"),
        ("POST", f"uploadId={eid}"),
    ]
    for r in seen:
        assert r["path"] == "/bucket/pre/x/big.mp4"
        _sigv4_check(r["method"], r["path"], r["query"], r["headers"], secret)
    create = seen[0]["headers"]
    assert create["content-type"] == "video/mp4"
    assert create["x-amz-acl"] == "bucket-owner-read"
    assert create["x-amz-storage-class"] == "STANDARD_IA"
    mib5 = 5 * 2**20
    assert [r["body"] for r in seen[1:4]] == [data[:mib5], data[mib5:2 * mib5], data[2 * mib5:]]
    assert seen[4]["body"].decode() == (
        "<CompleteMultipartUpload>"
        + "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"etag-{n}\"</ETag></Part>"
                  for n in (1, 2, 3))
        + "</CompleteMultipartUpload>")


def test_s3_complete_answering_200_with_an_error_fails_and_aborts(tmp_path, big_file):
    p, seen, secret = _fake_s3_upload(tmp_path, big_file, "error")
    assert p.returncode == 1, p.stderr
    assert "CompleteMultipartUpload: InternalError: We encountered an internal error." \
        in p.stderr, p.stderr
    abort = seen[-1]
    eid = urllib.parse.quote(FakeS3Multipart.UPLOAD_ID, safe="-_.~")
    assert (abort["method"], abort["query"]) == ("DELETE", f"uploadId={eid}")
    _sigv4_check("DELETE", abort["path"], abort["query"], abort["headers"], secret)
    assert_no_secret(p.stdout + p.stderr, secret)


def test_s3_multipart_stopped_during_a_part_is_aborted(tmp_path, big_file):
    """SIGINT while part 2 is on its way: the transfer stops in that part,
    part 3 and Complete are never sent, and the upload is aborted (DELETE)."""
    class Stalling(FakeS3Multipart):
        def do_PUT(self):
            if "partNumber=2" in self.path:
                self.server.seen.append({"method": "PUT", "query": self.path.partition("?")[2]})
                self.server.in_part_2.set()
                self.server.release.wait(300)  # the body is never read: the upload stalls
                return
            super().do_PUT()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    srv.daemon_threads = True
    srv.seen, srv.complete = [], "ok"
    srv.in_part_2, srv.release = threading.Event(), threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        dest = {"url": f"s3://127.0.0.1:{srv.server_address[1]}/bucket?scheme=http",
                "key": "AK", "secret": "SK-1234"}
        argv = upload_argv(tmp_path / "data", big_file, write_dest(tmp_path, dest), None, PART)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
        try:
            assert srv.in_part_2.wait(120 * SLOW), "part 2 never came"
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=120 * SLOW)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
    check_sanitizer_output(err, "onair upload")
    assert p.returncode != 0 and "interrupted" in err, err
    eid = urllib.parse.quote(FakeS3Multipart.UPLOAD_ID, safe="-_.~")
    assert [(r["method"], r["query"]) for r in srv.seen] == [
        ("POST", "uploads="),
        ("PUT", f"partNumber=1&uploadId={eid}"),
        ("PUT", f"partNumber=2&uploadId={eid}"),
        ("DELETE", f"uploadId={eid}"),
    ]


@pytest.mark.parametrize("kind,parts,limit", [("s3", 10001, "S3 takes at most 10000"),
                                               ("azblob", 50001, "Azure takes at most 50000")])
def test_too_many_parts_fails_at_once_naming_the_setting(tmp_path, kind, parts, limit):
    """More parts of 5 MiB than the store takes. A sparse file: no disk used,
    and no request is sent (the port is closed: a request would be retried)."""
    sparse = tmp_path / "huge.mp4"
    with open(sparse, "wb") as f:
        f.truncate(parts * 5 * 2**20)
    port = free_port()
    dest = ({"url": f"s3://127.0.0.1:{port}/bucket?scheme=http", "key": "AK", "secret": "SK-1234"}
            if kind == "s3" else
            {"url": f"azblob://127.0.0.1:{port}/{AZ_ACCOUNT}/c?scheme=http", "key": AZ_ACCOUNT,
             "secret": AZ_KEY})
    p = upload(tmp_path, sparse, dest, settings=[*PART, "--upload-max-attempts", "5"])
    assert p.returncode == 1, p.stderr
    assert f"the file needs {parts} parts of 5 MiB; {limit}: raise upload_part_mib" \
        in p.stderr, p.stderr
    assert "upload_retry " not in p.stderr, "a permanent failure is not retried"


@pytest.mark.parametrize("value", ["4", "4001", "x"])
def test_upload_part_mib_out_of_range_is_refused(tmp_path, big_file, value):
    p = upload(tmp_path, big_file, {"url": f"file://{tmp_path}/vol"},
               settings=["--upload-part-mib", value])
    assert p.returncode != 0
    assert "upload_part_mib" in p.stderr, p.stderr


def _az_committed_blocks(port, path):
    xml = az_request(port, "GET", path, "comp=blocklist&blocklisttype=committed")[2].decode()
    return xml.count("<Block>")


def test_azblob_blocks_shared_key(tmp_path, azurite, big_file):
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/mp?scheme=http",
            "key": AZ_ACCOUNT, "secret": AZ_KEY}
    p = upload(tmp_path, big_file, dest, "s1/big.mp4", settings=PART)
    url = ok_url(p)
    path = f"/{AZ_ACCOUNT}/recordings/mp/s1/big.mp4"
    assert url == f"http://127.0.0.1:{azurite.port}{path}"
    status, headers, body = az_request(azurite.port, "GET", path)
    assert status == 200 and headers.get("x-ms-blob-type") == "BlockBlob"
    assert headers.get("Content-Type") == "video/mp4"
    assert sha256(body) == sha256(big_file.read_bytes())
    assert _az_committed_blocks(azurite.port, path) == 3
    assert_no_secret(p.stdout + p.stderr, AZ_KEY)


def test_azblob_blocks_sas_token(tmp_path, azurite, big_file):
    sas = az_container_sas("recordings")
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/mpsas?{sas}"
                   "&scheme=http"}
    p = upload(tmp_path, big_file, dest, "big.mp4", settings=PART)
    url = ok_url(p)
    path = f"/{AZ_ACCOUNT}/recordings/mpsas/big.mp4"
    assert url == f"http://127.0.0.1:{azurite.port}{path}"
    status, headers, body = az_request(azurite.port, "GET", path)
    assert headers.get("Content-Type") == "video/mp4"
    assert sha256(body) == sha256(big_file.read_bytes())
    assert _az_committed_blocks(azurite.port, path) == 3
    sig = urllib.parse.parse_qs(sas)["sig"][0]
    assert_no_secret(p.stdout + p.stderr, sig, urllib.parse.quote(sig, safe=""))


def test_azblob_file_at_the_part_size_is_one_put(tmp_path, azurite):
    """At or below upload_part_mib: one Put Blob, no block list of ours."""
    f = tmp_path / "exact.mp4"
    f.write_bytes(os.urandom(5 * 2**20))
    dest = {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/one?scheme=http",
            "key": AZ_ACCOUNT, "secret": AZ_KEY}
    ok_url(upload(tmp_path, f, dest, settings=PART))
    path = f"/{AZ_ACCOUNT}/recordings/one/exact.mp4"
    assert sha256(az_request(azurite.port, "GET", path)[2]) == sha256(f.read_bytes())
    assert _az_committed_blocks(azurite.port, path) <= 1


# ------------------------------------------------------------------ FTP / FTPS

def _vsftpd(daemons, tmp, tls=None):
    root = tmp / "ftproot"
    (root / "pub").mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # vsftpd refuses a writable anonymous root
    (root / "pub").chmod(0o777)
    empty = tmp / "ftpempty"
    empty.mkdir(exist_ok=True)
    port, pasv = free_port(), free_port()
    conf = [
        "listen=YES", "listen_address=127.0.0.1", f"listen_port={port}", "background=NO",
        "run_as_launching_user=YES", "seccomp_sandbox=NO", "anonymous_enable=YES",
        f"anon_root={root}", "no_anon_password=YES", "write_enable=YES",
        "anon_upload_enable=YES", "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
        "anon_umask=022", "local_enable=NO", "pasv_enable=YES", "pasv_address=127.0.0.1",
        f"pasv_min_port={pasv}", f"pasv_max_port={pasv + 20}", f"secure_chroot_dir={empty}",
        "connect_from_port_20=NO", "xferlog_enable=NO", "dual_log_enable=NO",
        f"vsftpd_log_file={tmp / 'vsftpd.xfer.log'}",
    ]
    if tls:
        cert, key = tls
        conf += ["ssl_enable=YES", f"rsa_cert_file={cert}", f"rsa_private_key_file={key}",
                 "allow_anon_ssl=YES", "force_anon_logins_ssl=YES", "force_anon_data_ssl=YES",
                 "require_ssl_reuse=NO", "ssl_tlsv1=NO", "ssl_sslv2=NO", "ssl_sslv3=NO"]
    cf = tmp / "vsftpd.conf"
    cf.write_text("\n".join(conf) + "\n")
    assert os.access(VSFTPD, os.X_OK), "vsftpd is missing (scripts/install-deps.sh)"
    d = Daemon([VSFTPD, str(cf)], tmp / "vsftpd.log", "vsftpd")
    daemons.append(d)
    wait_port(port, d.proc, "vsftpd", d.log)
    d.port, d.root = port, root
    return d


def _ftp_read(client, path):
    """RETR of a path relative to the login directory, as ftp:// URL paths are."""
    chunks = []
    client.retrbinary(f"RETR {path}", chunks.append)
    return b"".join(chunks)


def test_ftp_anonymous_upload_creates_directories(tmp_path, daemons, media_file):
    ftp = _vsftpd(daemons, tmp_path)
    url = ok_url(upload(tmp_path, media_file, {"url": f"ftp://127.0.0.1:{ftp.port}/pub/dvr"},
                        "2024/05/rec.mp4"))
    assert url == f"ftp://127.0.0.1:{ftp.port}/pub/dvr/2024/05/rec.mp4"
    c = ftplib.FTP()
    c.connect("127.0.0.1", ftp.port, timeout=30)
    c.login()
    try:
        assert_same_media(_ftp_read(c, "pub/dvr/2024/05/rec.mp4"), media_file, tmp_path)
    finally:
        c.quit()


def _self_signed(tmp):
    cert, key = tmp / "ftp-cert.pem", tmp / "ftp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_ftps_explicit_tls_verified_against_the_given_ca(tmp_path, daemons, media_file):
    cert, key = _self_signed(tmp_path)
    ftp = _vsftpd(daemons, tmp_path, tls=(cert, key))
    dest = {"url": f"ftps://127.0.0.1:{ftp.port}/pub/secure"}
    # Without the CA the server's certificate is refused (and retried, then failed).
    p = upload(tmp_path, media_file, dest, "rec.mp4",
               settings=["--upload-max-attempts", "1"])
    assert p.returncode == 1 and "failed:" in p.stderr, p.stderr
    url = ok_url(upload(tmp_path, media_file, dest, "rec.mp4",
                        settings=["--upload-ca-file", str(cert), "--upload-retry-base-ms", "500"]))
    assert url == f"ftps://127.0.0.1:{ftp.port}/pub/secure/rec.mp4"
    ctx = ssl.create_default_context(cafile=str(cert))
    c = ftplib.FTP_TLS(context=ctx)
    c.connect("127.0.0.1", ftp.port, timeout=30)
    c.login()
    c.prot_p()
    try:
        assert_same_media(_ftp_read(c, "pub/secure/rec.mp4"), media_file, tmp_path)
    finally:
        c.quit()


# ------------------------------------------------------------------ SFTP

def _sshd(daemons, tmp, host_key_name="host"):
    assert os.access(SSHD, os.X_OK), "sshd is missing (openssh-server, scripts/install-deps.sh)"
    d = tmp / "sshd"
    d.mkdir(exist_ok=True)
    host_key = d / f"{host_key_name}_ed25519"
    if not host_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                       check=True, timeout=30)
    user_key = d / "user_ed25519"
    if not user_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(user_key)],
                       check=True, timeout=30)
        shutil.copy(f"{user_key}.pub", d / "authorized_keys")
        (d / "authorized_keys").chmod(0o600)
    port = getattr(_sshd, "port", None) or free_port()
    conf = d / "sshd_config"
    conf.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"PidFile {d / 'sshd.pid'}", f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no",
        "Subsystem sftp internal-sftp", "ForceCommand internal-sftp",
        "AllowTcpForwarding no", "X11Forwarding no"]) + "\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    dm = Daemon([SSHD, "-D", "-e", "-f", str(conf)], d / "sshd.log", "sshd")
    daemons.append(dm)
    wait_port(port, dm.proc, "sshd", dm.log)
    dm.port, dm.user_key, dm.host_key = port, user_key, host_key
    return dm


def _sftp_read(sshd, path):
    import paramiko
    t = paramiko.Transport(("127.0.0.1", sshd.port))
    try:
        t.connect(username=getpass.getuser(),
                  pkey=paramiko.Ed25519Key.from_private_key_file(str(sshd.user_key)))
        with paramiko.SFTPClient.from_transport(t) as s, s.open(path, "rb") as f:
            return f.read()
    finally:
        t.close()


def test_sftp_private_key_and_host_key_learned_then_pinned(tmp_path, daemons, media_file):
    sshd = _sshd(daemons, tmp_path)
    files = tmp_path / "sftp-files"
    files.mkdir()
    user = getpass.getuser()
    dest = {"url": f"sftp://{user}@127.0.0.1:{sshd.port}{files}/dvr",
            "secret": sshd.user_key.read_text()}
    data = tmp_path / "data"
    p = upload(tmp_path, media_file, dest, "a/rec.mp4", data_dir=data)
    url = ok_url(p)
    assert url == f"sftp://127.0.0.1:{sshd.port}{files}/dvr/a/rec.mp4"
    assert_same_media(_sftp_read(sshd, f"{files}/dvr/a/rec.mp4"), media_file, tmp_path)
    assert_no_secret(p.stdout + p.stderr, "PRIVATE KEY")
    assert not list((data / "tmp").iterdir()), "the temp key file was left behind"
    # accept-new: the host key was learned ...
    known = (data / "ssh_known_hosts").read_text()
    host_pub = Path(f"{sshd.host_key}.pub").read_text().split()[1]
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519 {host_pub}" in known, known
    # ... and used: the next upload to that server checks against it
    ok_url(upload(tmp_path, media_file, dest, "a2/rec.mp4", data_dir=data))
    assert (data / "ssh_known_hosts").read_text() == known
    # ... and a server that now shows another key is refused.
    sshd.stop()
    _sshd.port = sshd.port
    try:
        other = _sshd(daemons, tmp_path, host_key_name="other")
    finally:
        _sshd.port = None
    p = upload(tmp_path, media_file, dest, "b/rec.mp4", data_dir=data,
               settings=["--upload-max-attempts", "1"])
    assert p.returncode == 1 and "host key" in p.stderr, p.stderr
    assert not (files / "dvr" / "b").exists()
    # strict: an unknown host is refused outright (fresh data dir: nothing known)
    p = upload(tmp_path, media_file, dest, "c/rec.mp4", data_dir=tmp_path / "strict",
               settings=["--upload-max-attempts", "1", "--upload-sftp-host-keys", "strict"])
    assert p.returncode == 1 and "host key" in p.stderr, p.stderr
    assert other.proc.poll() is None


# ------------------------------------------------------------------ retries, restarts

def _wait_for(pred, what, timeout=60):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_target_down_at_first_then_up_retry_succeeds(tmp_path, daemons, storage_modules,
                                                     media_file):
    port = free_port()
    dest = {"url": f"s3://127.0.0.1:{port}/recordings/late?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET}
    log = tmp_path / "upload.log"
    argv = upload_argv(tmp_path / "data", media_file, write_dest(tmp_path, dest), "rec.mp4",
                       ["--upload-retry-base-ms", "200", "--upload-max-attempts", "30"])
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: "upload_retry " in log.read_text(), "a failed first attempt")
        assert "Could not connect" in log.read_text() or "onnect" in log.read_text()
        start_s3rver(daemons, storage_modules, tmp_path, port=port)
        out, _ = proc.communicate(timeout=120 * SLOW)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    check_sanitizer_output(log.read_text(), "onair upload")
    assert proc.returncode == 0, log.read_text()[-3000:]
    url = out.decode().strip().splitlines()[-1]
    assert url == f"http://127.0.0.1:{port}/recordings/late/rec.mp4"
    assert_same_media(http_get(url)[2], media_file, tmp_path)


def test_pending_upload_survives_kill_9_and_resumes(tmp_path, daemons, storage_modules,
                                                    media_file):
    port = free_port()
    dest = {"url": f"s3://127.0.0.1:{port}/recordings/resumed?scheme=http",
            "key": S3_KEY, "secret": S3_SECRET}
    data = tmp_path / "data"
    log = tmp_path / "first.log"
    argv = upload_argv(data, media_file, write_dest(tmp_path, dest), "rec.mp4",
                       ["--upload-retry-base-ms", "2000"])
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: "upload_retry " in log.read_text(), "a failed first attempt")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to save anything more
        proc.wait()
    start_s3rver(daemons, storage_modules, tmp_path, port=port)
    # A new process finds the job in the data dir and runs it when its
    # stored retry time comes.
    p = subprocess.run([ONAIR_BIN, "upload", "--resume", "--data", str(data)],
                       capture_output=True, text=True, timeout=180 * SLOW,
                       stdin=subprocess.DEVNULL)
    check_sanitizer_output(p.stderr, "onair upload --resume")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "upload_resumed jobs=1" in p.stderr
    url = p.stdout.strip().splitlines()[-1]
    assert url == f"http://127.0.0.1:{port}/recordings/resumed/rec.mp4"
    assert_same_media(http_get(url)[2], media_file, tmp_path)
    # nothing left to resume
    p = subprocess.run([ONAIR_BIN, "upload", "--resume", "--data", str(data)],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout


# ------------------------------------------------------------------ the API

BAD_DESTINATIONS = [
    ({"url": "s3://s3.example.com/bucket/p"}, "dvr.destination.key"),
    ({"url": "s3://s3.example.com/bucket/p", "key": "AK"}, "dvr.destination.secret"),
    ({"url": "s3://s3.example.com", "key": "AK", "secret": "S"}, "dvr.destination.url"),
    ({"url": "b2://s3.us-west-004.backblazeb2.com/b", "secret": "S"}, "dvr.destination.key"),
    ({"url": "s3://h/b", "key": "AK", "secret": "S", "permissions": "everyone"},
     "dvr.destination.permissions"),
    ({"url": "s3://h/b", "key": "AK", "secret": "S", "storage_class": "cheap please"},
     "dvr.destination.storage_class"),
    ({"url": "s3://h/b?scheme=gopher", "key": "AK", "secret": "S"}, "dvr.destination.url"),
    ({"url": "azblob://acct.blob.core.windows.net/c"}, "dvr.destination.key"),
    ({"url": "azblob://acct.blob.core.windows.net/c", "key": "acct", "secret": "not base64!"},
     "dvr.destination.secret"),
    ({"url": "azblob://acct.blob.core.windows.net", "key": "acct", "secret": "c2VjcmV0"},
     "dvr.destination.url"),
    ({"url": "sftp://h/dir"}, "dvr.destination.key"),
    ({"url": "sftp://u@h/dir"}, "dvr.destination.secret"),
    ({"url": "ftp://h/dir", "secret": "pw"}, "dvr.destination.key"),
    ({"url": "ftp://h/dir", "permissions": "public-read"}, "dvr.destination.permissions"),
    ({"url": "file://relative/dir"}, "dvr.destination.url"),
    ({"url": "gopher://h/x"}, "dvr.destination.url"),
]


@pytest.mark.parametrize("dest,field", BAD_DESTINATIONS,
                         ids=[d["url"][:40] + "|" + f for d, f in BAD_DESTINATIONS])
def test_api_refuses_destinations_the_uploader_cannot_use(server, api, dest, field):
    before = api.get("/v1/live-streams").json()["total"]
    err = assert_error(api.post("/v1/live-streams", json={"dvr": {"enabled": 1,
                                                                  "destination": dest}}),
                       400, "invalid_request", field)
    assert err["message"].startswith(field)
    assert api.get("/v1/live-streams").json()["total"] == before
    # in a list, the offending entry is named by its index
    good = {"url": "s3://s3.example.com/bucket/p", "key": "AK", "secret": "S"}
    listed = field.replace("dvr.destination", "dvr.destination[1]")
    assert_error(api.post("/v1/live-streams", json={"dvr": {"destination": [good, dest]}}),
                 400, "invalid_request", listed)


def test_api_accepts_usable_destinations_and_hides_secrets(server, api):
    sas = "sv=2021-08-06&sr=c&sp=cw&se=2030-01-01T00%3A00%3A00Z&sig=c2lnbmF0dXJl"
    dests = [
        {"url": "s3://s3.eu-west-1.amazonaws.com/bucket/dvr", "key": "AKIA1",
         "secret": "s3-secret-value-1", "permissions": "public-read",
         "storage_class": "REDUCED_REDUNDANCY"},
        {"url": f"azblob://acct.blob.core.windows.net/c/dvr?{sas}"},
        {"url": "sftp://u@h/dir", "secret": "sftp-password-2"},
        {"url": "ftps://u:ftp-password-3@h:2121/dir"},
        {"url": "file:///srv/recordings"},
    ]
    r = api.post("/v1/live-streams", json={"dvr": {"enabled": 1, "destination": dests}})
    assert r.status_code == 201, r.text
    sid = r.json()["stream"]["id"]
    got = api.get(f"/v1/live-streams/{sid}").text
    for secret in ("s3-secret-value-1", "sftp-password-2", "ftp-password-3", "c2lnbmF0dXJl"):
        assert secret not in r.text and secret not in got
        assert secret not in server.log_text()
    shown = [d["url"] for d in
             api.get(f"/v1/live-streams/{sid}").json()["stream"]["params"]["dvr"]["destination"]]
    assert shown[3] == "ftps://u@h:2121/dir"
    assert shown[1] == "azblob://acct.blob.core.windows.net/c/dvr"


def test_metrics_expose_the_upload_queue(server):
    import requests
    r = requests.get(server.base_url + "/metrics", timeout=10 * SLOW)
    assert r.status_code == 200
    for line in ("onair_upload_queue_depth 0", 'onair_uploads_total{outcome="uploaded"} 0',
                 'onair_uploads_total{outcome="failed"} 0', "onair_upload_bytes_total 0"):
        assert line in r.text, line


# ------------------------------------------------------------------ recordings (the recorder)

GOP_S = 1.0  # the pushers use -g 30 at 30 fps


def _recordings(api, sid):
    r = api.get(f"/v1/live-streams/{sid}/recordings", params={"limit": 100, "order": "asc"})
    assert r.status_code == 200, r.text
    return r.json()["recordings"]


def _wait_recording(api, sid, statuses, timeout=90):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = _recordings(api, sid)
        if last and last[0]["status"] in statuses:
            return last[0]
        time.sleep(0.25)
    pytest.fail(f"recording not {statuses} within {timeout * SLOW}s; last: {last}")


def _push(pusher, server, key, seconds):
    p = pusher(server, key, duration=seconds)
    assert p.wait(seconds * 3 + 30) == 0, f"the pusher failed: {p!r}"


def _assert_recorded(data, tmp, what, seconds):
    from media import ffprobe_streams
    path = tmp / f"{what}.mp4"
    path.write_bytes(data)
    kinds = sorted(s["codec_type"] for s in ffprobe_streams(path))
    assert kinds == ["audio", "video"], f"{what}: {kinds}"
    d = ffprobe_duration(path)
    assert abs(d - seconds) <= GOP_S + 0.5, f"{what}: {d} s recorded of {seconds} s pushed"


@pytest.fixture
def pusher(tmp_path):
    from media import pushers
    yield from pushers(tmp_path)


def test_recording_shipped_to_every_kind_of_destination(fresh_server, pusher, tmp_path, daemons,
                                                        storage_modules, azurite):
    """One broadcast, five destinations: each gets the MP4, read back from its server."""
    s3 = start_s3rver(daemons, storage_modules, tmp_path)
    ftp = _vsftpd(daemons, tmp_path)
    sshd = _sshd(daemons, tmp_path)
    sftp_dir = tmp_path / "sftp-files"
    sftp_dir.mkdir()
    local = tmp_path / "volume"
    user = getpass.getuser()
    dests = [
        {"url": f"s3://127.0.0.1:{s3.port}/recordings/dvr?scheme=http", "key": S3_KEY,
         "secret": S3_SECRET, "permissions": "public-read"},
        {"url": f"azblob://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/dvr?scheme=http",
         "key": AZ_ACCOUNT, "secret": AZ_KEY},
        {"url": f"ftp://127.0.0.1:{ftp.port}/pub/dvr"},
        {"url": f"sftp://{user}@127.0.0.1:{sshd.port}{sftp_dir}",
         "secret": sshd.user_key.read_text()},
        {"url": f"file://{local}"},
    ]
    srv = fresh_server(extra_args=["--hls-segment-ms", "1000", "--upload-retry-base-ms", "200"])
    api = srv.new_project("upload-everywhere")
    s = api.create({"name": "everywhere", "mode": "passthrough",
                    "dvr": {"enabled": 1, "format": "mp4", "destination": dests}})
    _push(pusher, srv, s["stream_key"], 6)
    api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = _wait_recording(api, s["id"], ("uploaded", "failed"))
    assert rec["status"] == "uploaded", rec
    rid = rec["id"]
    want_urls = [
        f"http://127.0.0.1:{s3.port}/recordings/dvr/{rid}/source.mp4",
        f"http://127.0.0.1:{azurite.port}/{AZ_ACCOUNT}/recordings/dvr/{rid}/source.mp4",
        f"ftp://127.0.0.1:{ftp.port}/pub/dvr/{rid}/source.mp4",
        f"sftp://127.0.0.1:{sshd.port}{sftp_dir}/{rid}/source.mp4",
        f"file://{local}/{rid}/source.mp4",
    ]
    assert sorted(rec["urls"]) == sorted(want_urls), rec["urls"]
    _assert_recorded(http_get(want_urls[0])[2], tmp_path, "s3", 6)
    _assert_recorded(az_request(azurite.port, "GET",
                                f"/{AZ_ACCOUNT}/recordings/dvr/{rid}/source.mp4")[2],
                     tmp_path, "azblob", 6)
    c = ftplib.FTP()
    c.connect("127.0.0.1", ftp.port, timeout=30)
    c.login()
    try:
        _assert_recorded(_ftp_read(c, f"pub/dvr/{rid}/source.mp4"), tmp_path, "ftp", 6)
    finally:
        c.quit()
    _assert_recorded(_sftp_read(sshd, f"{sftp_dir}/{rid}/source.mp4"), tmp_path, "sftp", 6)
    _assert_recorded((local / rid / "source.mp4").read_bytes(), tmp_path, "file", 6)
    # every destination confirmed: the local copy is gone; no secret anywhere
    _wait_for(lambda: not (srv.data_dir / "recordings" / rid).exists(), "the local copy removed")
    text = api.get(f"/v1/recordings/{rid}").text + srv.log_text()
    assert_no_secret(text, AZ_KEY, "PRIVATE KEY")
    assert f"{S3_KEY}:{S3_SECRET}" not in text
    import requests
    m = requests.get(srv.base_url + "/metrics", timeout=10 * SLOW).text
    assert 'onair_uploads_total{outcome="uploaded"} 5' in m, m
    assert "onair_upload_queue_depth 0" in m


def test_server_restart_resumes_a_pending_recording_upload(fresh_server, pusher, tmp_path,
                                                           daemons, storage_modules):
    """S3 is down while the recording finishes; onair is killed (-9) while it
    retries; after the restart, with S3 up, the upload completes."""
    port = free_port()
    srv = fresh_server(extra_args=["--hls-segment-ms", "1000", "--upload-retry-base-ms", "300",
                                   "--upload-max-attempts", "100"])
    api = srv.new_project("upload-restart")
    s = api.create({"name": "later", "mode": "passthrough",
                    "dvr": {"enabled": 1, "format": "mp4",
                            "destination": {"url": f"s3://127.0.0.1:{port}/recordings/r"
                                                   "?scheme=http",
                                            "key": S3_KEY, "secret": S3_SECRET}}})
    _push(pusher, srv, s["stream_key"], 4)
    api.post(f"/v1/live-streams/{s['id']}/stop")
    rec = _wait_recording(api, s["id"], ("uploading",))
    _wait_for(lambda: "upload_retry " in srv.log_text(), "a failed attempt")
    srv.kill()
    start_s3rver(daemons, storage_modules, tmp_path, port=port)
    srv.start()
    assert "upload_resumed" in srv.log_text()
    rec = _wait_recording(api, s["id"], ("uploaded", "failed"))
    assert rec["status"] == "uploaded", rec
    url = f"http://127.0.0.1:{port}/recordings/r/{rec['id']}/source.mp4"
    assert rec["urls"] == [url]
    _assert_recorded(http_get(url)[2], tmp_path, "resumed", 4)
