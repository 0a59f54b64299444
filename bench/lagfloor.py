#!/usr/bin/env python3
"""lagfloor: the publish lag no server can beat, measured the way hlslag.py measures.

hlslag.py times a segment from t0 + (its end in pushed-stream time) to the
moment it shows up in the playlist, where t0 comes from ffmpeg's -progress
output. A server cannot publish a segment before the frames it needs have
reached its socket. This tool runs the very same ffmpeg push as hlslag.py,
but into a plain TCP socket (FLV; ffmpeg writes each packet as it is muxed,
as it does for RTMP), timestamps every FLV tag on arrival, computes t0 the
same way, and prints for each GOP boundary (keyframe at pts T):

  key_ms   arrival of the keyframe - (t0 + T): the floor for a server that
           closes a segment when the next keyframe arrives (nginx-rtmp, and
           onair without a learned cadence)
  last_ms  arrival of the last video frame before it - (t0 + T): the floor
           for a server that closes the segment on its last frame (onair's
           predicted close)
  gap_ms   key_ms - last_ms: what the prediction saves

  lagfloor.py --seconds 30 [--gop 30 --fps 30 --skip 2]

With --push URL --server-log FILE it pushes the same stream to a server
instead (onair started with --log-level debug, FILE its stderr) and reads
the moment each segment was published from onair's `hls_segment ...
end_dts=` log lines: the server's own publish lag on hlslag's clock, without
hlslag's playlist polling and HTTP round trip.

  lagfloor.py --push rtmp://127.0.0.1:1935/live/KEY --server-log onair.log --stream ID

Adding --playlist URL also polls that playlist the way hlslag.py does
(--poll-ms, default 5, a new HTTP connection per fetch) and prints how long
after onair's log line each segment was seen there: the share of hlslag's
number that is the polling, in the same push.

Stdlib only; needs ffmpeg. Prints one summary line last.
"""
import datetime
import re
import urllib.error
import urllib.request
import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time


def push_cmd(url, seconds, gop, fps):
    # Identical to hlslag.py's push(), only the output URL differs.
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={fps}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-b:v", "2500k",
        "-c:a", "aac", "-b:a", "128k",
        "-f", "flv", url,
        "-progress", "pipe:1", "-stats_period", "0.1",
    ]


def read_progress(proc, samples):
    for line in proc.stdout:
        if line.startswith("out_time_us="):
            try:
                us = int(line.split("=", 1)[1])
            except ValueError:
                continue
            if us > 0:
                samples.append((time.time(), us / 1e6))


def read_flv(conn, tags):
    """Appends (arrival_wall, kind, pts_ms, keyframe) for every media tag."""
    buf = b""
    need_header = True
    while True:
        data = conn.recv(1 << 20)
        now = time.time()
        if not data:
            return
        buf += data
        if need_header:
            if len(buf) < 13:
                continue
            buf = buf[13:]  # FLV header + PreviousTagSize0
            need_header = False
        while len(buf) >= 15:
            size = int.from_bytes(buf[1:4], "big")
            if len(buf) < 11 + size + 4:
                break
            ttype = buf[0]
            ts = int.from_bytes(buf[4:7], "big") | (buf[7] << 24)
            body = buf[11:11 + size]
            buf = buf[11 + size + 4:]
            if ttype == 9 and len(body) >= 5 and body[1] == 1:  # AVC NALU
                cts = int.from_bytes(body[2:5], "big", signed=True)
                tags.append((now, "v", ts + cts, (body[0] >> 4) == 1))
            elif ttype == 8 and len(body) >= 2 and body[1] == 1:  # AAC raw
                tags.append((now, "a", ts, True))


def server_lags(log_path, t0, skip, stream=None, walls=None):
    """Publish lag of every segment onair logged: log time - (t0 + end_dts).
    walls, if given, gets {seq: log time} of every segment."""
    lags = []
    origin = None
    seq_re = re.compile(r" seq=(\d+) ")
    pat = re.compile(r"^ts=(\S+) level=debug hls_segment .* dur_ms=(\d+) end_dts=(-?\d+)")
    with open(log_path, errors="replace") as f:
        for line in f:
            m = pat.match(line)
            if not m or (stream and f" stream={stream} " not in line):
                continue
            wall = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            end = int(m.group(3))
            sm = seq_re.search(line)
            if walls is not None and sm:
                walls[int(sm.group(1))] = wall
            if origin is None:  # as hlslag: the first segment starts at pushed time 0
                origin = end - int(m.group(2))
            lags.append((wall - (t0 + (end - origin) / 1000.0)) * 1000)
    return lags[skip:]


def poll_playlist(url, poll_ms, seen, stop):
    """hlslag.py's poll loop: {segment seq: wall time it was first seen}."""
    seq_re = re.compile(r"(\d+)\.(?:ts|m4s|mp4)")
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2.0) as r:
                text = r.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError):
            text = ""
        now = time.time()
        for line in text.splitlines():
            m = seq_re.search(line) if line and not line.startswith("#") else None
            if m and int(m.group(1)) not in seen:
                seen[int(m.group(1))] = now
        time.sleep(poll_ms / 1000)


def push_to_server(a):
    samples, seen, stop = [], {}, threading.Event()
    proc = subprocess.Popen(push_cmd(a.push, a.seconds, a.gop, a.fps), stdout=subprocess.PIPE,
                            text=True)
    threading.Thread(target=read_progress, args=(proc, samples), daemon=True).start()
    poller = None
    if a.playlist:
        poller = threading.Thread(target=poll_playlist, args=(a.playlist, a.poll_ms, seen, stop),
                                  daemon=True)
        poller.start()
    proc.wait()
    time.sleep(1)  # the last lines reach the log (and the poller sees the last segment)
    stop.set()
    if poller:
        poller.join(timeout=5)
    if not samples:
        print("no progress from ffmpeg")
        return 1
    t0 = min(w - o for w, o in samples)
    walls = {}
    lags = server_lags(a.server_log, t0, a.skip, a.stream, walls)
    if not lags:
        print("segments=0 (no 'hls_segment ... end_dts=' lines: is the log level debug?)")
        return 1
    for i, v in enumerate(lags):
        print(f"segment {i + a.skip}: publish_lag_ms={v:.1f}", file=sys.stderr)
    polled = ""
    if a.playlist:
        delays = [(seen[q] - walls[q]) * 1000 for q in sorted(walls)[a.skip:] if q in seen]
        for q in sorted(walls)[a.skip:]:
            if q in seen:
                print(f"segment seq={q}: poll_delay_ms={(seen[q] - walls[q]) * 1000:.1f}",
                      file=sys.stderr)
        if delays:
            polled = (f" poll_delay_ms median={statistics.median(delays):.1f} "
                      f"max={max(delays):.1f}")
    print(f"segments={len(lags)} server_publish_lag_ms median={statistics.median(lags):.0f} "
          f"min={min(lags):.0f} max={max(lags):.0f}{polled}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--gop", type=int, default=30)
    ap.add_argument("--skip", type=int, default=2, help="ignore the first N GOP boundaries")
    ap.add_argument("--push", help="push to this RTMP URL instead of the built-in socket")
    ap.add_argument("--server-log", help="with --push: onair's stderr at --log-level debug")
    ap.add_argument("--stream", help="with --push: only this stream id's log lines")
    ap.add_argument("--playlist", help="with --push: also poll this playlist as hlslag.py does")
    ap.add_argument("--poll-ms", type=float, default=5, help="with --playlist: as hlslag.py")
    a = ap.parse_args()
    if a.push:
        if not a.server_log:
            ap.error("--push needs --server-log")
        return push_to_server(a)

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    samples, tags = [], []
    proc = subprocess.Popen(push_cmd(f"tcp://127.0.0.1:{port}", a.seconds, a.gop, a.fps),
                            stdout=subprocess.PIPE, text=True)
    threading.Thread(target=read_progress, args=(proc, samples), daemon=True).start()
    srv.settimeout(20)
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = threading.Thread(target=read_flv, args=(conn, tags), daemon=True)
    reader.start()
    proc.wait()
    reader.join(timeout=5)
    conn.close()
    srv.close()

    video = [t for t in tags if t[1] == "v"]
    if not samples or len(video) < 3 * a.gop:
        print(f"tags={len(tags)} too few to measure")
        return 1
    t0 = min(w - o for w, o in samples)
    origin = video[0][2]  # hlslag: the first segment starts at the first pushed frame
    rows = []
    for i in range(1, len(video)):
        wall, _, pts, key = video[i]
        if not key:
            continue
        t_end = t0 + (pts - origin) / 1000.0
        rows.append(((wall - t_end) * 1000, (video[i - 1][0] - t_end) * 1000))
    rows = rows[a.skip:]
    # Per-frame delay: arrival - (t0 + pts), video and audio.
    vdel = [(w - (t0 + (p - origin) / 1000.0)) * 1000 for w, _, p, _ in video[a.gop:]]
    adel = [(w - (t0 + (p - origin) / 1000.0)) * 1000 for w, k, p, _ in tags if k == "a"][50:]
    print(f"first video tag pts={origin} ms, first audio tag ts="
          f"{next((t[2] for t in tags if t[1] == 'a'), None)} ms", file=sys.stderr)
    for i, (k, last) in enumerate(rows):
        print(f"boundary {i + a.skip}: key_ms={k:.1f} last_ms={last:.1f} gap_ms={k - last:.1f}",
              file=sys.stderr)
    med = statistics.median
    print(f"boundaries={len(rows)} key_ms median={med(r[0] for r in rows):.0f} "
          f"last_ms median={med(r[1] for r in rows):.0f} "
          f"gap_ms median={med(r[0] - r[1] for r in rows):.0f} "
          f"video_frame_delay_ms median={med(vdel):.0f} audio_frame_delay_ms median={med(adel):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
