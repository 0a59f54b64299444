#!/usr/bin/env bash
# bench/streams.sh — many publishers: K concurrent RTMP publishers (ffmpeg
# -re -stream_loop -1 -c copy of one pre-encoded ~1 Mbps FLV, so a publisher
# costs little CPU; GROUP=10 outputs share one ffmpeg process) push to onair and then to nginx-rtmp (HLS on in both) for
# DURATION s. Reports the server's CPU% and memory (RSS and PSS summed over
# its process tree, from /proc) in total and per stream, and checks from the
# playlists that every stream was packaged in real time.
#
#   bench/streams.sh                      # K = 20 and 100, 20 s each
#   STREAMS="10 50" DURATION=10 bench/streams.sh
#
# Every publisher here comes from 127.0.0.1, so onair runs with
# ONAIR_RTMP_MAX_PER_IP raised above its default of 50 connections per address.
. "$(dirname "$0")/common.sh"
bench_require ffmpeg nginx curl taskset

DURATION=${DURATION:-20}
STREAMS=${STREAMS:-"20 100"}
WARMUP=${WARMUP:-6}
GROUP=${GROUP:-10}   # publishers (RTMP outputs) per ffmpeg process
ulimit -n 65536 2>/dev/null || true

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"
bench_media >/dev/null

export ONAIR_CREATE_RATE_LIMIT=1000000
export ONAIR_RTMP_MAX_PER_IP=100000
onair_start
nginx_start

MAXK=0
for K in $STREAMS; do [ "$K" -gt "$MAXK" ] && MAXK=$K; done
# onair needs a stream (and its key) per publisher; nginx-rtmp takes any name.
O_KEYS=() O_PLS=()
for i in $(seq "$MAXK"); do
  read -r _ k p < <(onair_create_stream)
  O_KEYS+=("$k") O_PLS+=("$p")
done

# seg_snap FILE PLAYLIST... → writes "WALLTIME" then one "URL N" line per
# playlist (N = its newest segment number, 0 when it did not answer), all
# fetched in parallel.
seg_snap() {
  $PY - "$@" <<'EOF'
import re, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
def newest(u):
    try:
        t = urllib.request.urlopen(u, timeout=5).read().decode("latin-1")
    except Exception:
        return 0
    segs = [l for l in t.splitlines() if l.strip() and not l.startswith("#")]
    m = re.search(r"(\d+)\.ts", segs[-1]) if segs else None
    return int(m.group(1)) if m else 0
t0 = time.time()
with ThreadPoolExecutor(32) as ex:
    ns = list(ex.map(newest, sys.argv[2:]))
with open(sys.argv[1], "w") as f:
    f.write("%f\n" % ((t0 + time.time()) / 2))
    for u, n in zip(sys.argv[2:], ns):
        f.write("%s %d\n" % (u, n))
EOF
}

# realtime SNAP0 SNAP1 → "RATE SEEN": segments per stream per second over the
# streams that answered both times, and how many did.
realtime() {
  awk 'NR == FNR { if (FNR == 1) w0 = $1; else a[$1] = $2; next }
       FNR == 1 { w1 = $1; next }
       ($1 in a) && a[$1] > 0 && $2 > 0 { d += $2 - a[$1]; k++ }
       END { if (k) printf "%.2f %d\n", d / (k * (w1 - w0)), k; else print "n/a 0" }' "$1" "$2"
}

# measure NAME PID DIR K URL_PREFIX PLAYLISTS... (DIR: where the server
# writes files for these streams, measured with du)
measure() {
  local name=$1 pid=$2 dir=$3 k=$4 prefix=$5; shift 5
  local pls=("$@") pids=() pn=() i c0 c1 t0 t1 s0 s1 rss0 pss0 rss1 pss1 dead=0
  rss0=$(proc_rss_kb "$pid") pss0=$(proc_pss_kb "$pid")
  local du0 du1; du0=$(du -sk "$dir" | cut -f1)
  # GROUP publishers per ffmpeg process (see push_multi)
  local g urls
  for ((g = 0; g < k; g += GROUP)); do
    urls=()
    for ((i = g; i < k && i < g + GROUP; i++)); do urls+=("$prefix${KEYS[$i]}"); done
    push_multi "$BENCH_TMP/push-$name-$g.log" "${urls[@]}"
    pids+=("$PUSH_PID") pn+=("${#urls[@]}")
    sleep 0.05
  done
  sleep "$WARMUP"
  seg_snap "$BENCH_TMP/snap0" "${pls[@]:0:$k}"
  c0=$(proc_ticks "$pid"); t0=$(date +%s.%N)
  sleep "$DURATION"
  c1=$(proc_ticks "$pid"); t1=$(date +%s.%N)
  seg_snap "$BENCH_TMP/snap1" "${pls[@]:0:$k}"
  local rt seen; read -r rt seen < <(realtime "$BENCH_TMP/snap0" "$BENCH_TMP/snap1")
  rss1=$(proc_rss_kb "$pid") pss1=$(proc_pss_kb "$pid")
  du1=$(du -sk "$dir" | cut -f1)
  local ld; ld=$(loadavg)
  for i in "${!pids[@]}"; do kill -0 "${pids[$i]}" 2>/dev/null || dead=$((dead + pn[i])); done
  for i in "${pids[@]}"; do bench_stop "$i"; done
  sleep 2   # let the server notice the disconnects before the next run
  MEASURE_LINE=$(awk -v n="$name" -v k="$k" -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
      -v rt="$rt" -v seen="$seen" -v r0="$rss0" -v r1="$rss1" -v p0="$pss0" -v p1="$pss1" \
      -v dead="$dead" -v ld="$ld" -v d0="$du0" -v d1="$du1" 'BEGIN {
    cpu = 100 * (b - a) / hz / (t1 - t0)
    printf "%-11s %4d %7.1f %8.2f %9.0f %9.0f %10.0f %10.0f %12.0f %9s/%-3d %5d  %s\n", n, k, cpu, cpu / k,
      r1 / 1024, p1 / 1024, (r1 - r0) / k, (p1 - p0) / k, (d1 - d0) / k, rt, seen, dead, ld }')
}

SUMMARY=""
for K in $STREAMS; do
  KEYS=("${O_KEYS[@]}")
  # (not in a $(...) subshell: the publishers must stay known to bench_cleanup)
  measure onair "$ONAIR_PID" "$BENCH_TMP/onair/data" "$K" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/" "${O_PLS[@]}"
  o=$MEASURE_LINE
  echo "-- $o" >&2
  KEYS=() N_PLS=()
  for i in $(seq "$K"); do KEYS+=("s$i"); N_PLS+=("$NGINX_URL/hls/s$i.m3u8"); done
  measure nginx-rtmp "$NGINX_PID" "$NGINX_ROOT/hls" "$K" "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/" "${N_PLS[@]}"
  n=$MEASURE_LINE
  echo "-- $n" >&2
  SUMMARY+="$o"$'\n'"$n"$'\n'
  oc=$(awk '{print $4}' <<<"$o") nc=$(awk '{print $4}' <<<"$n")
  om=$(awk '{print $8}' <<<"$o") nm=$(awk '{print $8}' <<<"$n")
  # live segments held, like for like: onair's RSS growth (its segments are
  # in its heap) against nginx's RSS growth plus its segment files
  orss=$(awk '{print $7}' <<<"$o") nlive=$(awk '{print $7 + $9}' <<<"$n")
  SUMMARY+="   K=$K: onair/nginx CPU per stream $(ratio "$oc" "$nc"), PSS growth per stream $(ratio "$om" "$nm"), RSS growth vs nginx RSS growth + segment files $(ratio "$orss" "$nlive") (below 1 is better for onair)"$'\n'
done

cat <<EOF

== streams.sh summary (${DURATION}s measured after ${WARMUP}s warm-up; servers on cpu $SERVER_CPU, publishers on cpu $LOAD_CPU) ==
$(printf '%-11s %4s %7s %8s %9s %9s %10s %10s %12s %9s %5s  %s' server K "cpu%" cpu%/str "RSS MiB" "PSS MiB" "dRSS KiB/st" "dPSS KiB/st" "files KiB/st" "realtime/seen" dead "load avg after")
$SUMMARY
(cpu% of one core; RSS/PSS = whole process tree at the end of the run; dRSS/dPSS = growth over the
 idle server divided by K; realtime = segments produced per stream per second (1.00 = every stream
 packaged in real time), over the "seen" streams whose playlist answered both times; dead =
 publishers whose ffmpeg exited early; files = growth of the server's directory (du) during the run
 divided by K. nginx-rtmp keeps its live segments in files, i.e. in the page cache, which RSS/PSS do
 not count: that is its files column. onair keeps live segments in its own memory (RSS), and its
 files column is the clip window (the last clip_window_s = 1800 s of every stream, on disk).)
load average before: $LOAD0
EOF
