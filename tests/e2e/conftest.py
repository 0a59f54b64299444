"""pytest harness that drives the real onair binary.

ONAIR_BIN   absolute path of the binary (default: <repo>/build/onair)
ONAIR_ASAN  "1" when the binary is a sanitizer build: every server and CLI
            run is then also checked for sanitizer reports.

Fixtures:
  server        one running server per test module (fresh data dir)
  api, api2     authenticated clients of two different projects on `server`
  fresh_server  factory for a test's own server(s) (custom env/args, restart)
"""
import os
import random
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ONAIR_BIN = os.environ.get("ONAIR_BIN") or str(REPO / "build" / "onair")
ASAN = os.environ.get("ONAIR_ASAN") == "1"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
HTTP_TIMEOUT = 10 if not ASAN else 30


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(kind=socket.SOCK_STREAM):
    """A TCP (or, with kind=socket.SOCK_DGRAM, UDP) port that was free a
    moment ago on 127.0.0.1. Taken below the kernel's ephemeral range: a
    port from bind(0) is free again once closed, and another test's bind(0)
    (a Python http.server on port 0) could take it before our daemon does."""
    low = _ephemeral_low()
    for _ in range(50):
        port = random.randrange(10000, low) if low > 11000 else 0
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below the ephemeral range")


def tail(path, n=60):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def check_sanitizer_output(text, what):
    if not ASAN:
        return
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"{what}: sanitizer report ({marker}):\n{text[-4000:]}"


def run_cli(*args, check=True, timeout=30, env=None):
    """Runs `ONAIR_BIN args...`; returns the CompletedProcess."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run([ONAIR_BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=full_env)
    check_sanitizer_output(p.stderr, f"onair {' '.join(args)}")
    if check:
        assert p.returncode == 0, (f"onair {' '.join(args)} exited {p.returncode}\n"
                                   f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


class OnairClient(requests.Session):
    """A requests.Session bound to one server: paths starting with "/" are
    resolved against base_url, and every call has a timeout."""

    def __init__(self, base_url, token=None):
        super().__init__()
        self.base_url = base_url
        self.token = token
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, url, *args, **kw):
        if url.startswith("/"):
            url = self.base_url + url
        kw.setdefault("timeout", HTTP_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kw)

    # -- small conveniences used by many tests --
    def create(self, body=None, **kw):
        """POST /v1/live-streams; asserts 201 and returns the stream object."""
        r = self.post("/v1/live-streams", json=body if body is not None else {}, **kw)
        assert r.status_code == 201, f"create {body!r} -> {r.status_code} {r.text[:400]}"
        return r.json()["stream"]

    def get_stream(self, sid):
        r = self.get(f"/v1/live-streams/{sid}")
        assert r.status_code == 200, f"GET {sid} -> {r.status_code} {r.text[:400]}"
        return r.json()["stream"]


class OnairServer:
    """One `onair serve` on free loopback ports with its own data dir.

    ladders=False starts it with transcode_max_rungs 0: streams in the
    default `auto` mode then get no transcoded rungs. Test pushes are
    640x360, which would otherwise encode a 240p rung for every stream of
    every test; only the transcoding and rendition tests need that
    (ladders=True), and `custom` ladders transcode either way."""

    def __init__(self, tmp_dir, public_host="127.0.0.1", ladders=False):
        self.ladders = ladders
        self.tmp_dir = Path(tmp_dir)
        self.data_dir = self.tmp_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.public_host = public_host
        self.http_port = None
        self.rtmp_port = None
        self.log_path = self.tmp_dir / "onair.stderr.log"
        self.stdout_path = self.tmp_dir / "onair.stdout.log"
        self.proc = None
        self.env = {}
        self.args = []
        self._starts = 0

    @property
    def base_url(self):
        return f"http://{self.host}:{self.http_port}"

    def _cmd(self):
        return [ONAIR_BIN, "serve", "--data", str(self.data_dir),
                "--http", f"{self.host}:{self.http_port}",
                "--rtmp", f"{self.host}:{self.rtmp_port}",
                "--public-host", self.public_host, *self.args]

    def start(self, extra_env=None, extra_args=None, timeout=15 if not ASAN else 40):
        """Starts the server (same ports on a restart) and waits for /healthz."""
        assert self.proc is None, "server already running"
        assert os.path.exists(ONAIR_BIN), f"ONAIR_BIN {ONAIR_BIN} does not exist (run make)"
        if self.http_port is None:
            self.http_port = free_port()
            self.rtmp_port = free_port()
            while self.rtmp_port == self.http_port:
                self.rtmp_port = free_port()
        if extra_env is not None:
            self.env = dict(extra_env)
        if extra_args is not None:
            self.args = list(extra_args)
        env = dict(os.environ)
        env["ONAIR_CREATE_RATE_LIMIT"] = "10000"
        env["ONAIR_LOG_LEVEL"] = "debug"
        if not self.ladders:
            env["ONAIR_TRANSCODE_MAX_RUNGS"] = "0"
        env.update(self.env)
        self._starts += 1
        # Append: a restart keeps the first run's log for post-mortems.
        out = open(self.stdout_path, "ab")
        err = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self._cmd(), stdout=out, stderr=err, env=env,
                                         stdin=subprocess.DEVNULL)
        finally:
            out.close()
            err.close()
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                pytest.fail(f"onair serve exited {rc} during startup: {self._cmd()}\n"
                            f"{self.logs()}")
            try:
                r = requests.get(self.base_url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return self
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"/healthz not 200 within {timeout}s (last: {last})\n{self.logs()}")

    def logs(self, n=60):
        return (f"--- stderr tail ({self.log_path}):\n{tail(self.log_path, n)}\n"
                f"--- stdout tail ({self.stdout_path}):\n{tail(self.stdout_path, n)}")

    def log_text(self):
        text = ""
        for p in (self.log_path, self.stdout_path):
            try:
                text += Path(p).read_text(errors="replace")
            except OSError:
                pass
        return text

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10 if not ASAN else 30):
        """SIGTERM, wait, and assert a clean exit (and no sanitizer report)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"onair did not exit within {timeout}s of SIGTERM\n{self.logs()}")
        check_sanitizer_output(self.log_text(), "onair serve")
        assert rc == 0, f"onair serve exited {rc} after SIGTERM\n{self.logs()}"

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        env, args = self.env, self.args
        self.stop()
        return self.start(extra_env=env, extra_args=args)

    # -- CLI on this server's data dir --
    def cli(self, *args, check=True):
        return run_cli(*args, check=check)

    def apikey(self, name="test"):
        """Creates an API key with the CLI; returns the key (its last stdout line)."""
        p = run_cli("apikey", "create", "--data", str(self.data_dir), "--name", name)
        lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
        assert lines, f"apikey create printed nothing; stderr: {p.stderr}"
        return lines[-1]

    def apikey_id(self, name):
        """The id of the key named `name`, from `apikey list` (the UUID on its line)."""
        p = run_cli("apikey", "list", "--data", str(self.data_dir))
        for ln in p.stdout.splitlines():
            if re.search(r"(^|\s|[\"'=:,])" + re.escape(name) + r"($|\s|[\"',])", ln):
                m = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", ln)
                if m:
                    return m.group(0)
        raise AssertionError(f"key {name!r} not found in `apikey list`:\n{p.stdout}")

    def token(self, api_key):
        r = requests.post(f"{self.base_url}/v1/access_token/{api_key}", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"access_token -> {r.status_code} {r.text[:300]}"
        tok = r.json()["access_token"]
        assert isinstance(tok, str) and tok.count(".") == 2, tok
        return tok

    def client(self, token=None):
        return OnairClient(self.base_url, token)

    def new_project(self, name=None):
        """A fresh project (API key) and its authenticated client."""
        self._projects = getattr(self, "_projects", 0) + 1
        name = name or f"proj{self._projects}-{os.getpid()}"
        return self.client(self.token(self.apikey(name)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = OnairServer(tmp_path_factory.mktemp("onair"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api(server):
    c = server.new_project("project-a")
    yield c
    c.close()


@pytest.fixture(scope="module")
def api2(server):
    c = server.new_project("project-b")
    yield c
    c.close()


@pytest.fixture
def project(server):
    """A fresh, empty project on the module's server (for list/filter tests)."""
    c = server.new_project()
    yield c
    c.close()


@pytest.fixture
def fresh_server(tmp_path_factory):
    """Factory: fresh_server(extra_env=None, extra_args=None) -> started OnairServer
    with its own data dir. Call .restart() to stop and start on the same data dir.
    Every server still running at the end is stopped (and must exit 0)."""
    started = []

    def make(extra_env=None, extra_args=None, public_host="127.0.0.1"):
        srv = OnairServer(tmp_path_factory.mktemp("onair-fresh"), public_host=public_host)
        started.append(srv)
        return srv.start(extra_env=extra_env, extra_args=extra_args)

    yield make
    errors = []
    for srv in started:
        try:
            srv.stop()
        except BaseException as e:  # keep stopping the others
            srv.kill()
            errors.append(str(e))
    assert not errors, "\n".join(errors)
