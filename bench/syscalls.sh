#!/usr/bin/env bash
# bench/syscalls.sh — what each server asks of the kernel per HLS request:
# N viewers (bench/viewers.c, as in `CLIENT=c bench/fanout.sh`) pull the same
# 1 Mbps stream from onair and then from nginx-rtmp for DURATION s while
# `strace -c -f` counts the serving process's system calls. Prints each
# server's calls per request (playlist + segment requests together).
#
#   bench/syscalls.sh                   # N = 1000, 10 s
#   VIEWERS=500 DURATION=5 bench/syscalls.sh
#   FLOOR=1 bench/syscalls.sh           # also bench/floorserve.c (see fanout.sh)
#
# strace slows every call down a lot, so the servers batch more per
# wake-up than they would unobserved (epoll_wait counts are lower than in a
# real run, nginx's more so); the per-request counts of the other calls are
# what to read. Not a speed measurement: use fanout.sh for that.
. "$(dirname "$0")/common.sh"
bench_require ffmpeg nginx curl taskset strace

VIEWERS=${VIEWERS:-1000}
DURATION=${DURATION:-10}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

machine_info
bench_media >/dev/null
cc -O2 -o "$BENCH_TMP/viewers" "$BENCH_DIR/viewers.c" || die "cannot build bench/viewers.c"
onair_start
nginx_start
push_both 4
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
[ -n "$NGINX_WORKER" ] || die "no nginx worker process"

# count NAME PID PLAYLIST → prints "NAME requests calls/request top-calls..."
count() {
  local name=$1 pid=$2 pl=$3 out=$BENCH_TMP/strace-$1.txt js
  timeout -s INT $((DURATION + 2)) strace -c -f -p "$pid" -o "$out" 2>/dev/null &
  local st=$!
  sleep 0.5
  js=$(taskset -c "$LOAD_CPU" "$BENCH_TMP/viewers" "$pl" "$VIEWERS" "$DURATION")
  wait "$st" || true
  $PY - "$name" "$out" "$js" <<'PYEOF'
import json, sys
name, path, js = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
calls = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls[f[-1]] = int(f[3])
req = js["req"]
# futex/poll/restart_syscall: worker threads waiting, not request work
work = {k: v for k, v in calls.items() if k not in ("futex", "poll", "restart_syscall")}
top = sorted(work.items(), key=lambda kv: -kv[1])[:9]
print(f"{name:<11} requests={req} segs={js['segs']} calls/request={sum(work.values()) / req:.2f}  "
      + " ".join(f"{k}={v / req:.2f}" for k, v in top))
PYEOF
}

echo
echo "== syscalls.sh: $VIEWERS viewers, ${DURATION}s each, strace -c -f on the serving process =="
count onair "$ONAIR_PID" "$O_PL"
count nginx-rtmp "$NGINX_WORKER" "$N_PL"
if [ "${FLOOR:-0}" = 1 ]; then
  floor_start
  count floor "$FLOOR_PID" "$F_PL"
fi
