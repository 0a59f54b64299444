#!/usr/bin/env bash
# bench/fanout.sh — HLS fan-out cost: N simulated viewers (each one keep-alive
# connection that, like a player, reloads the playlist every second and
# downloads every new segment, starting 3 segments from the live edge) pull
# the same 1 Mbps stream from onair and then from nginx-rtmp for DURATION s.
# The server's CPU time (utime+stime from /proc, whole process tree) and the
# bytes the viewers received give CPU-seconds per GB served, for both servers
# at the same load. Target (issue 4): onair >= 2x better than nginx.
#
#   bench/fanout.sh                       # N = 200 and 500, 20 s each
#   VIEWERS="100 1000" DURATION=10 bench/fanout.sh
#   CLIENT=c VIEWERS="500 1000 2000" bench/fanout.sh
#   FLOOR=1 CLIENT=c VIEWERS=1000 bench/fanout.sh   # also bench/floorserve.c
#
# FLOOR=1 adds a third server, bench/floorserve.c: the least work per request
# any HLS server can do (nginx-rtmp's files, no routing, parsing, checks or
# logging), so its CPU per GB is the floor the kernel sets on this machine.
# nginx/floor is then the best ratio any server could show here, and
# onair/floor how far onair is above that floor.
#
# CLIENT=py (default): the viewers are one Python (asyncio) process on one
# core that copies every byte it receives; it keeps up with about 500-600
# viewers of a 1 Mbps stream here; past that the viewers fall behind (see
# seg p99 / late) and the load on the servers is no longer equal.
# CLIENT=c: bench/viewers.c, the same viewer behaviour in C, dropping
# segment bodies with recv(MSG_TRUNC) (no copy, as bench/hget.c does):
# thousands of viewers on one core. Both print the same JSON.
. "$(dirname "$0")/common.sh"
bench_require ffmpeg nginx curl taskset

DURATION=${DURATION:-20}
VIEWERS=${VIEWERS:-"200 500"}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"
bench_media >/dev/null

# The viewer simulator: asyncio protocols (one per viewer), stdlib only.
cat >"$BENCH_TMP/viewers.py" <<'EOF'
import asyncio, json, sys, time, urllib.parse

class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""
    def __init__(self):
        self.buf = bytearray(); self.waiter = None; self.keep = False
        self.need = None; self.status = 0; self.body = bytearray(); self.got = 0
        self.closed = asyncio.get_running_loop().create_future()
    def connection_made(self, t): self.t = t
    def connection_lost(self, exc):
        if not self.closed.done(): self.closed.set_result(True)
        if self.waiter and not self.waiter.done(): self.waiter.set_exception(ConnectionError("closed"))
    def data_received(self, data):
        if self.need is None:
            self.buf += data
            i = self.buf.find(b"\r\n\r\n")
            if i < 0: return
            head = bytes(self.buf[:i]).decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            self.need = 0
            for h in head[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "content-length": self.need = int(v)
            self.got = i + 4
            data = bytes(self.buf[i + 4:]); self.buf = bytearray()
        self.got += len(data)
        if self.keep: self.body += data
        self.need -= len(data)
        if self.need <= 0 and self.waiter and not self.waiter.done():
            self.waiter.set_result((self.status, bytes(self.body), self.got))
    def get(self, host, path, keep):
        self.need = None; self.keep = keep; self.body = bytearray(); self.buf = bytearray()
        self.waiter = asyncio.get_running_loop().create_future()
        self.t.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return self.waiter

async def viewer(i, n, url, end, st):
    u = urllib.parse.urlsplit(url)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(i / n)  # stagger the starts over one second
    try:
        _, c = await loop.create_connection(Conn, u.hostname, u.port)
    except OSError:
        st["conn_err"] += 1; return
    seen, first, nxt = set(), True, time.monotonic()
    try:
        while time.monotonic() < end:
            s, body, got = await asyncio.wait_for(c.get(u.netloc, u.path, True), 10)
            st["bytes"] += got; st["req"] += 1
            if s != 200: st["http_err"] += 1
            segs = [l.strip() for l in body.decode("latin-1").splitlines() if l.strip() and not l.startswith("#")]
            new = [x for x in segs if x not in seen]
            if first:
                seen.update(segs); new = new[-3:]; first = False
            for x in new:
                seen.add(x)
                if time.monotonic() >= end: break
                t0 = time.monotonic()
                s, _, got = await asyncio.wait_for(c.get(u.netloc, urllib.parse.urljoin(u.path, x), False), 10)
                st["seg_ms"].append((time.monotonic() - t0) * 1000)
                st["bytes"] += got; st["req"] += 1; st["segs"] += 1
                if s != 200: st["http_err"] += 1
            nxt += 1.0
            await asyncio.sleep(max(0, nxt - time.monotonic()))
    except asyncio.TimeoutError:
        st["timeouts"] += 1
    except (ConnectionError, OSError):
        st["conn_err"] += 1
    finally:
        c.t.close()

async def main():
    url, n, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    st = {"bytes": 0, "req": 0, "segs": 0, "http_err": 0, "timeouts": 0, "conn_err": 0, "seg_ms": []}
    end = time.monotonic() + 1 + dur
    await asyncio.gather(*(viewer(i, n, url, end, st) for i in range(n)))
    ms = sorted(st.pop("seg_ms")) or [0]
    st["seg_p50_ms"] = round(ms[len(ms) // 2], 1)
    st["seg_p99_ms"] = round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1)
    st["seg_max_ms"] = round(ms[-1], 1)
    st["late"] = sum(1 for x in ms if x > 1000)  # segment downloads slower than real time
    print(json.dumps(st))

asyncio.run(main())
EOF

CLIENT=${CLIENT:-py}
case $CLIENT in
  py) VIEWER_CMD=("$PY" "$BENCH_TMP/viewers.py") ;;
  c) cc -O2 -o "$BENCH_TMP/viewers" "$BENCH_DIR/viewers.c" || die "cannot build bench/viewers.c"
     VIEWER_CMD=("$BENCH_TMP/viewers") ;;
  *) die "CLIENT is py or c" ;;
esac

onair_start
nginx_start
push_both 4
SERVERS="o n"
if [ "${FLOOR:-0}" = 1 ]; then
  floor_start
  SERVERS="o n f"
fi

# measure NAME PLAYLIST PID N → sets M_<NAME>_{CPU_S,GB,CPU_PER_GB,JSON,CPU_PCT}
measure() {
  local name=$1 pl=$2 pid=$3 n=$4 c0 c1 t0 t1 js
  # ingest-only baseline: 3 s with no viewers
  c0=$(proc_ticks "$pid"); sleep 3; c1=$(proc_ticks "$pid")
  printf -v "M_${name}_IDLE" '%s' "$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN{printf "%.1f", 100*(b-a)/hz/3}')"
  c0=$(proc_ticks "$pid"); t0=$(date +%s.%N)
  js=$(taskset -c "$LOAD_CPU" "${VIEWER_CMD[@]}" "$pl" "$n" "$DURATION")
  c1=$(proc_ticks "$pid"); t1=$(date +%s.%N)
  printf -v "M_${name}_JSON" '%s' "$js"
  local bytes; bytes=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$js")
  printf -v "M_${name}_CPU_S" '%s' "$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/hz}')"
  printf -v "M_${name}_CPU_PCT" '%s' "$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(t1-t0)}')"
  printf -v "M_${name}_GB" '%s' "$(awk -v b="$bytes" 'BEGIN{printf "%.3f", b/1e9}')"
  printf -v "M_${name}_CPU_PER_GB" '%s' "$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v by="$bytes" 'BEGIN{ if (by > 0) printf "%.2f", (b-a)/hz/(by/1e9); else print "n/a" }')"
  printf -v "M_${name}_LOAD" '%s' "$(loadavg)"
  local idle=M_${name}_IDLE
  printf -v "M_${name}_NET_PER_GB" '%s' "$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v by="$bytes" -v i="${!idle}" -v t0="$t0" -v t1="$t1" \
    'BEGIN{ if (by > 0) printf "%.2f", ((b-a)/hz - i/100*(t1-t0))/(by/1e9); else print "n/a" }')"
  echo "-- $name: viewers=$n $js cpu_s=$(eval echo \$M_${name}_CPU_S)" >&2
}

SUMMARY=""
for N in $VIEWERS; do
  measure "o$N" "$O_PL" "$ONAIR_PID" "$N"
  measure "n$N" "$N_PL" "$NGINX_PID" "$N"
  if [ "${FLOOR:-0}" = 1 ]; then measure "f$N" "$F_PL" "$FLOOR_PID" "$N"; fi
  for s in $SERVERS; do
    js=M_${s}${N}_JSON
    read -r segs errs p99 late < <($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["segs"], "%d/%d/%d" % (d["http_err"], d["timeouts"], d["conn_err"]), d["seg_p99_ms"], d["late"])' "${!js}")
    case $s in o) lbl=onair ;; n) lbl=nginx-rtmp ;; f) lbl=floor ;; esac
    cpu=M_${s}${N}_CPU_S gb=M_${s}${N}_GB cpg=M_${s}${N}_CPU_PER_GB net=M_${s}${N}_NET_PER_GB pct=M_${s}${N}_CPU_PCT idle=M_${s}${N}_IDLE ld=M_${s}${N}_LOAD
    SUMMARY+=$(printf '%-11s %5s %7s %7s %5s %6s %8s %8s %7s %9s %6s %9s  %s' "$lbl" "$N" "${!gb}" "${!cpu}" "${!pct}" "${!idle}" "${!cpg}" "${!net}" "$segs" "$p99" "$late" "$errs" "${!ld}")$'\n'
  done
  a=M_o${N}_CPU_PER_GB b=M_n${N}_CPU_PER_GB c=M_o${N}_NET_PER_GB d=M_n${N}_NET_PER_GB
  SUMMARY+="   N=$N: nginx/onair CPU-s per GB = $(ratio "${!b}" "${!a}")x, net of ingest $(ratio "${!d}" "${!c}")x (higher is better for onair)"$'\n'
  if [ "${FLOOR:-0}" = 1 ]; then
    e=M_f${N}_NET_PER_GB   # floorserve has no ingest: its net is its total
    SUMMARY+="   N=$N, net of ingest: nginx/floor = $(ratio "${!d}" "${!e}")x (the most any server could show here), onair/floor = $(ratio "${!c}" "${!e}")x (1.00 = onair at the floor)"$'\n'
  fi
done

cat <<EOF

== fanout.sh summary (${DURATION}s per run; servers on cpu $SERVER_CPU, viewers ($CLIENT) + pushers on cpu $LOAD_CPU; 1 Mbps stream, 1 s segments) ==
$(printf '%-11s %5s %7s %7s %5s %6s %8s %8s %7s %9s %6s %9s  %s' server viewers GB cpu_s "cpu%" "idle%" "cpu-s/GB" "net/GB" segs "seg p99ms" late "err h/t/c" "load avg after")
$SUMMARY
(idle% = server CPU with the pusher alone, no viewers, measured just before each run; net/GB =
 CPU-s per GB after subtracting that ingest cost; late = segment downloads slower than 1 s;
 err h/t/c = HTTP errors (e.g. 404 for a segment that left the window) / 10 s timeouts / connection errors)
target (issue 4): onair >= 2x better CPU per GB than nginx-rtmp
load average before: $LOAD0
EOF
