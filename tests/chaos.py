#!/usr/bin/python3
"""Chaos test of the stream lifecycle (ABR transcoding, LL-HLS, reconnects).

  /usr/bin/python3 tests/chaos.py [--seed N] [--duration 180] [--streams 3]
                            [--bin build/asan/onair] [--preset veryslow]
                            [--actions a,b,...] [--keep] [-v]

Starts one `onair serve` (ASan build by default, --transcode-max-rungs 3),
2-3 streams, and for --duration seconds does a random action every
0.2-1.5 s (pushes, SIGKILL/SIGINT/SIGSTOP of pushers, stop/start/PUT/
DELETE, playlist/segment/part fetches incl. LL-HLS blocking requests).
Not part of `make test` (minutes of ASan and x264): run it after changes
to the lifecycle, the hub or transcoding (`make asan` first).
At the end: SIGTERM, exit code 0, no sanitizer report in stderr.
Every action is logged (with its time) to WORKDIR/actions.log; exit 1 on
failure. The seed is printed first.
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urljoin

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
SIZES = ["426x240", "640x360", "854x480"]


def free_port():
    for _ in range(100):
        p = random.SystemRandom().randrange(10000, 30000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no port")


class Chaos:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.dir = tempfile.mkdtemp(prefix=f"chaos-{a.seed}-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.http = free_port()
        self.rtmp = free_port()
        while self.rtmp == self.http:
            self.rtmp = free_port()
        self.base = f"http://127.0.0.1:{self.http}"
        self.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
                        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
                        ONAIR_CREATE_RATE_LIMIT="10000", ONAIR_LOG_LEVEL="debug")
        self.streams = []      # dicts: id, key, url
        self.pushers = {}      # stream index -> Popen
        self.stopped = set()   # pusher pids under SIGSTOP
        self.log = open(os.path.join(self.dir, "actions.log"), "w")
        self.t0 = time.time()
        self.fetch_threads = []
        self.failed = None
        self.counts = {}
        self.pending = []
        self.sigterm_result = None      # (due time, fn, label)

    def note(self, msg):
        line = f"{time.time() - self.t0:8.2f} {msg}"
        self.log.write(line + "\n")
        self.log.flush()
        if self.a.verbose:
            print(line, flush=True)

    # ---------------------------------------------------------- server
    def start_server(self):
        args = [self.a.bin, "serve", "--data", self.data, "--http", f"127.0.0.1:{self.http}",
                "--rtmp", f"127.0.0.1:{self.rtmp}", "--public-host", "127.0.0.1",
                "--hls-segment-ms", "1000", "--hls-window", "6",
                "--transcode-max-rungs", str(self.a.rungs)]
        if self.a.preset:
            args += ["--transcode-preset", self.a.preset]
        self.err_path = os.path.join(self.dir, "onair.stderr")
        self.srv = subprocess.Popen(args, stdout=open(os.path.join(self.dir, "onair.stdout"), "wb"),
                                    stderr=open(self.err_path, "wb"), env=self.env,
                                    stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.srv.poll() is not None:
                raise RuntimeError(f"server exited {self.srv.returncode} at startup")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server never healthy")
        p = subprocess.run([self.a.bin, "apikey", "create", "--data", self.data, "--name", "chaos"],
                           capture_output=True, text=True, env=self.env, timeout=60)
        key = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()][-1]
        r = requests.post(f"{self.base}/v1/access_token/{key}", timeout=30)
        self.api = requests.Session()
        self.api.headers["Authorization"] = "Bearer " + r.json()["access_token"]

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.api.request(method, self.base + path, **kw)

    # ---------------------------------------------------------- streams
    def random_params(self):
        p = {}
        m = self.rng.choice(["auto", "auto", "passthrough", "custom", "custom2", "heavy", None])
        if m == "custom":
            p["mode"] = "custom"
            p["qualities"] = [{"resolution": "240p"}]
        elif m == "custom2":
            p["mode"] = "custom"
            p["qualities"] = [{"resolution": "240p"}, {"resolution": "360p"}]
        elif m == "heavy":
            p["mode"] = "custom"
            p["qualities"] = self.random_qualities()
        elif m:
            p["mode"] = m
        if self.rng.random() < 0.5:
            p["output_format"] = "ll-hls"
        if self.rng.random() < 0.6:
            p["stream_timeout"] = self.rng.choice([10, 10, 12, 20])
        return p

    def random_qualities(self):
        names = self.rng.sample(["240p", "360p", "480p", "720p", "1080p"], self.rng.randint(1, 3))
        qs = []
        for n in names:
            q = {"resolution": n}
            if self.rng.random() < 0.3:
                q["framerate"] = self.rng.choice([5, 10, 15])
            qs.append(q)
        return qs

    def create(self, i):
        params = self.random_params()
        r = self.req("POST", "/v1/live-streams", json=params)
        if r.status_code != 201:
            self.note(f"create {params} -> {r.status_code} {r.text[:200]}")
            return
        s = r.json()["stream"]
        st = {"id": s["id"], "key": s["stream_key"], "url": s["playback_ids"][0]["playback_url"]}
        if i < len(self.streams):
            self.streams[i] = st
        else:
            self.streams.append(st)
        self.note(f"create[{i}] {params} -> {s['id']}")

    # ---------------------------------------------------------- pushers
    def push(self, i, size=None):
        size = size or self.rng.choice(SIZES)
        st = self.streams[i]
        argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
                "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=15",
                "-f", "lavfi", "-i", "sine",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
                "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{self.rtmp}/live/{st['key']}"]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, f"ffmpeg-{i}.log"), "ab"),
                             stdin=subprocess.DEVNULL, start_new_session=True)
        old = self.pushers.get(i)
        # more than one pusher per stream is allowed (the old one may be stalled)
        self.pushers.setdefault(i, [])
        self.pushers[i].append(p)
        self.note(f"push[{i}] {size} pid={p.pid}")

    def live_pushers(self, i):
        ps = [p for p in self.pushers.get(i, []) if p.poll() is None]
        self.pushers[i] = ps
        return ps

    def sig(self, i, sig, name):
        ps = self.live_pushers(i)
        if not ps:
            return False
        p = self.rng.choice(ps)
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return False
        if sig == signal.SIGSTOP:
            self.stopped.add(p.pid)
        elif sig == signal.SIGCONT:
            self.stopped.discard(p.pid)
        elif sig in (signal.SIGKILL,):
            self.stopped.discard(p.pid)
        elif sig == signal.SIGINT and p.pid in self.stopped:
            os.killpg(p.pid, signal.SIGCONT)
            self.stopped.discard(p.pid)
        self.note(f"{name}[{i}] pid={p.pid}")
        if sig == signal.SIGKILL:
            p.wait()
        return True

    # ---------------------------------------------------------- fetching
    def get(self, url, **kw):
        kw.setdefault("timeout", 15)
        return requests.get(url, **kw)

    def fetch_all(self, i, block):
        st = self.streams[i]
        try:
            url = st["url"]
            if random.random() < 0.4:
                url += "?format=fmp4"
            r = self.get(url)
            if r.status_code != 200:
                return
            variants = [urljoin(url, ln) for ln in r.text.splitlines()
                        if ln and not ln.startswith("#")]
            if not variants or "#EXTINF" in r.text:
                variants = [url]
            for v in variants:
                self.fetch_media(v, block)
        except requests.RequestException as e:
            self.note(f"fetch[{i}] error {type(e).__name__}")

    def fetch_media(self, url, block):
        r = self.get(url)
        if r.status_code != 200:
            return
        text = r.text
        uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        uris += re.findall(r'URI="([^"]+)"', text)
        self.rng_local = random.Random(hash(url) ^ int(time.time()))
        pick = uris[-3:] + (uris[:1] if uris else [])
        for u in pick:
            rr = self.get(urljoin(url, u))
            rr.content
        if block:
            m = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
            if m:
                msn = int(m.group(1)) + text.count("#EXTINF")
                sep = "&" if "?" in url else "?"
                for part in (0, 1, 2):
                    try:
                        rr = self.get(f"{url}{sep}_HLS_msn={msn}&_HLS_part={part}", timeout=8)
                        if rr.status_code == 200:
                            parts = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', rr.text)
                            for pu in parts[-2:]:
                                self.get(urljoin(url, pu)).content
                            hint = re.findall(r'#EXT-X-PRELOAD-HINT:[^\n]*URI="([^"]+)"', rr.text)
                            if hint:  # a blocking preload-hint part request
                                self.get(urljoin(url, hint[0]), timeout=8).content
                    except requests.RequestException:
                        pass
                # also ask far ahead (rejected or held)
                try:
                    self.get(f"{url}{sep}_HLS_msn={msn + 2}", timeout=8)
                except requests.RequestException:
                    pass

    def fetch_bg(self, i, block):
        self.fetch_threads = [t for t in self.fetch_threads if t.is_alive()]
        if len(self.fetch_threads) > 6:
            return
        t = threading.Thread(target=self.fetch_all, args=(i, block), daemon=True)
        t.start()
        self.fetch_threads.append(t)
        self.note(f"fetch[{i}] block={block}")

    # ---------------------------------------------------------- actions
    def act(self):
        i = self.rng.randrange(len(self.streams))
        st = self.streams[i]
        weights = {"push": 8, "kill": 2, "int": 2, "stop_sig": 2, "cont": 2, "post_stop": 2,
                   "post_start": 1, "patch": 2, "delete": 1, "kill_reconnect": 3, "fetch": 3,
                   "fetch_block": 3, "get": 1, "metrics": 1, "disable": 0.3, "enable": 1,
                   "stall_replace": 2, "int_stop_push": 1.5, "kill_stop_push": 1.5,
                   "patch_reconnect": 1}
        if self.a.actions:
            weights = {k: weights[k] for k in self.a.actions.split(",")}
        actions = [k for k, w in weights.items() for _ in range(int(w * 10))]
        a = self.rng.choice(actions)
        self.counts[a] = self.counts.get(a, 0) + 1
        if a == "push":
            running = [p for p in self.live_pushers(i) if p.pid not in self.stopped]
            if len(self.live_pushers(i)) < 3 and (not running or self.rng.random() < 0.2):
                self.push(i)
        elif a == "kill":
            self.sig(i, signal.SIGKILL, "kill")
        elif a == "int":
            self.sig(i, signal.SIGINT, "int")
        elif a == "stop_sig":
            self.sig(i, signal.SIGSTOP, "sigstop")
        elif a == "cont":
            ps = [p for p in self.live_pushers(i) if p.pid in self.stopped]
            if ps:
                os.killpg(ps[0].pid, signal.SIGCONT)
                self.stopped.discard(ps[0].pid)
                self.note(f"sigcont[{i}] pid={ps[0].pid}")
        elif a == "post_stop":
            r = self.req("POST", f"/v1/live-streams/{st['id']}/stop")
            self.note(f"POST stop[{i}] -> {r.status_code}")
        elif a == "post_start":
            r = self.req("POST", f"/v1/live-streams/{st['id']}/start")
            self.note(f"POST start[{i}] -> {r.status_code}")
        elif a == "patch":
            body = {}
            c = self.rng.random()
            if c < 0.4:
                body["mode"] = self.rng.choice(["auto", "passthrough"])
            elif c < 0.6:
                body["mode"] = "custom"
                body["qualities"] = self.random_qualities()
            else:
                body["output_format"] = self.rng.choice(["hls", "ll-hls"])
            r = self.req("PUT", f"/v1/live-streams/{st['id']}", json=body)
            self.note(f"PUT[{i}] {body} -> {r.status_code} {r.text[:120] if r.status_code >= 400 else ''}")
        elif a == "delete":
            if self.rng.random() < 0.5:
                r = self.req("POST", f"/v1/live-streams/{st['id']}/stop")
                self.note(f"POST stop[{i}] -> {r.status_code}")
            r = self.req("DELETE", f"/v1/live-streams/{st['id']}")
            self.note(f"DELETE[{i}] -> {r.status_code}")
            if r.status_code >= 300:
                return
            for p in self.live_pushers(i):
                if self.rng.random() < 0.5:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            self.create(i)
        elif a == "kill_reconnect":
            if self.sig(i, signal.SIGKILL, "kill"):
                self.push(i)
        elif a in ("fetch", "fetch_block"):
            self.fetch_bg(i, a == "fetch_block")
        elif a == "stall_replace":
            # a pusher freezes; a new one comes after the stale limit (5 s)
            if self.sig(i, signal.SIGSTOP, "sigstop"):
                d = self.rng.uniform(5.2, 7)
                self.later(d, lambda: self.push(i), f"push[{i}] (replace)")
                self.later(d + self.rng.uniform(0, 4), lambda: self.cont_all(i), f"cont[{i}]")
        elif a in ("int_stop_push", "kill_stop_push"):
            # the publisher leaves (the rungs drain), a stop, a new broadcast at once
            if self.sig(i, signal.SIGINT if a.startswith("int") else signal.SIGKILL, a[:4]):
                time.sleep(self.rng.uniform(0, 0.3))
                r = self.req("POST", f"/v1/live-streams/{st['id']}/stop")
                self.note(f"POST stop[{i}] -> {r.status_code}")
                time.sleep(self.rng.uniform(0, 0.5))
                self.push(i)
        elif a == "patch_reconnect":
            body = {"mode": self.rng.choice(["auto", "passthrough", "custom"])}
            if body["mode"] == "custom":
                body["qualities"] = self.random_qualities()
            r = self.req("PUT", f"/v1/live-streams/{st['id']}", json=body)
            self.note(f"PUT[{i}] {body} -> {r.status_code}")
            if self.sig(i, self.rng.choice([signal.SIGKILL, signal.SIGINT]), "end"):
                self.push(i)
        elif a in ("disable", "enable"):
            r = self.req("POST", f"/v1/live-streams/{st['id']}/{a}")
            self.note(f"POST {a}[{i}] -> {r.status_code}")
        elif a == "get":
            r = self.req("GET", f"/v1/live-streams/{st['id']}")
            s = r.json().get("stream", {}) if r.status_code == 200 else {}
            self.note(f"GET[{i}] -> {r.status_code} {s.get('status', {}).get('name')}")
        elif a == "metrics":
            r = requests.get(self.base + "/metrics", timeout=30)
            self.note(f"metrics -> {r.status_code}")

    def stop_server(self):
        """(alive before SIGTERM, exit code)"""
        if self.srv.poll() is not None:
            return False, self.srv.returncode
        self.srv.send_signal(signal.SIGTERM)
        try:
            return True, self.srv.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.srv.kill()
            return True, "hang-after-SIGTERM"

    def later(self, delay, fn, label):
        self.pending.append((time.time() + delay, fn, label))

    def cont_all(self, i):
        for p in self.live_pushers(i):
            if p.pid in self.stopped:
                os.killpg(p.pid, signal.SIGCONT)
                self.stopped.discard(p.pid)
                self.note(f"sigcont[{i}] pid={p.pid}")

    def run_pending(self):
        now = time.time()
        due = [x for x in self.pending if x[0] <= now]
        self.pending = [x for x in self.pending if x[0] > now]
        for _, fn, label in due:
            self.note(f"(scheduled) {label}")
            fn()

    def healthy(self):
        if self.srv.poll() is not None:
            return False
        try:
            return requests.get(self.base + "/healthz", timeout=30).status_code == 200
        except requests.RequestException:
            return self.srv.poll() is None  # busy, not dead

    def signal_pushers(self, sig, wait=False):
        """sig to every pusher still running (its process group); wait: reap it."""
        for ps in self.pushers.values():
            for p in ps:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, sig)
                    except ProcessLookupError:
                        pass
                    if wait:
                        p.wait()

    def run(self):
        print(f"seed={self.a.seed} dir={self.dir} preset={self.a.preset} bin={self.a.bin}",
              flush=True)
        self.start_server()
        for i in range(self.a.streams):
            self.create(i)
        end = time.time() + self.a.duration
        n = 0
        ok = True
        try:
            while time.time() < end:
                try:
                    self.run_pending()
                    self.act()
                except requests.RequestException as e:
                    self.note(f"request error {type(e).__name__}: {e}")
                n += 1
                if n % 10 == 0 and not self.healthy():
                    self.note("SERVER DIED")
                    ok = False
                    break
                time.sleep(self.rng.uniform(0.2, 1.5))
        finally:
            # let drains and reconnect windows play out a little
            self.signal_pushers(signal.SIGCONT)
            abrupt = self.rng.random() < 0.5
            self.note(f"end abrupt={abrupt}")
            if ok:
                time.sleep(self.a.tail)
            if abrupt:  # SIGTERM with publishers, drains and blocking players in flight
                for i in range(len(self.streams)):
                    threading.Thread(target=self.fetch_all, args=(i, True), daemon=True).start()
                    if self.rng.random() < 0.5:
                        self.sig(i, signal.SIGINT, "int")
                time.sleep(0.5)
                self.sigterm_result = self.stop_server()
            self.signal_pushers(signal.SIGKILL, wait=True)
            for t in self.fetch_threads:
                t.join(20)
        if self.sigterm_result is not None:
            alive, rc = self.sigterm_result
        else:
            alive, rc = self.stop_server()
        err = open(self.err_path, errors="replace").read()
        bad = [m for m in MARKERS if m in err]
        print(f"actions={n} counts={self.counts}")
        print(f"server alive_at_end={alive} rc={rc} sanitizer={bad}")
        if not alive or rc != 0 or bad:
            for m in bad:
                k = err.index(m)
                print(err[max(0, k - 200):k + 6000])
            if not bad:
                print("\n".join(err.splitlines()[-40:]))
            print(f"FAIL seed={self.a.seed} dir={self.dir}")
            return 1
        print(f"PASS seed={self.a.seed}")
        if not self.a.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--duration", type=float, default=180)
    ap.add_argument("--tail", type=float, default=8, help="seconds to wait after the chaos")
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--rungs", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "asan", "onair"))
    ap.add_argument("--preset", default=None, help="--transcode-preset (e.g. veryslow)")
    ap.add_argument("--actions", default=None, help="comma list restricting the actions")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 30)
    sys.exit(Chaos(a).run())


if __name__ == "__main__":
    main()
