#!/usr/bin/env bash
# bench/serve.sh — HLS serving throughput: the same 1 Mbps stream is pushed
# to onair and nginx-rtmp (ffmpeg -c copy of one pre-encoded file, so both
# package the same frames), then wrk hammers one segment and the playlist on
# each server with the same settings (server pinned to one core, wrk on the
# other). Pushing goes on during the runs, as it would in production.
# Target (issue 4): onair >= 1.2x nginx's req/s.
#
#   bench/serve.sh                       # -t1 -c50, 10 s per run
#   DURATION=5 CONNS=100 bench/serve.sh
. "$(dirname "$0")/common.sh"
bench_require wrk ffmpeg nginx curl taskset

DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
W=(-t1 -c"$CONNS" -d"${DURATION}s")
# The segment under test must stay in both servers' windows for the whole run.
WINDOW=$((DURATION + 8))

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"
bench_media >/dev/null

onair_start --hls-window "$WINDOW"
nginx_start "$WINDOW"
read -r _ SKEY O_PL < <(onair_create_stream)
N_PL=$NGINX_URL/hls/bench.m3u8
push_loop "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$SKEY" "$BENCH_TMP/push-onair.log"
push_loop "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench" "$BENCH_TMP/push-nginx.log"
wait_segments "$O_PL" 3 30 || die "onair: no 3 segments after 30 s"
wait_segments "$N_PL" 3 30 || die "nginx: no 3 segments after 30 s"

# newest_seq PLAYLIST_URL → the number N of its last segment (N.ts / bench-N.ts)
newest_seq() {
  curl -sf "$1" | grep -v '^#' | grep . | tail -1 | sed -n 's/^\(.*[^0-9]\)\{0,1\}\([0-9][0-9]*\)\.ts.*/\2/p'
}

# run NAME URL → one wrk run; fills R_<NAME>_{RPS,P99,MBPS,BAD,CPU,RPCS,BYTES}
run() {
  local name=$1 url=$2 pid=$3 bytes
  bytes=$(curl -sf "$url" | wc -c)
  WRK_SERVER_PID=$pid
  wrk_run "$BENCH_TMP/wrk-$name.txt" "${W[@]}" "$url"
  printf -v "R_${name}_RPS" '%s' "$WRK_RPS"
  printf -v "R_${name}_P99" '%s' "$WRK_P99_MS"
  printf -v "R_${name}_MBPS" '%s' "$WRK_MBPS"
  printf -v "R_${name}_BAD" '%s' "$WRK_BAD"
  printf -v "R_${name}_CPU" '%s' "$WRK_CPU_PCT"
  printf -v "R_${name}_RPCS" '%s' "$WRK_RPCS"
  printf -v "R_${name}_BYTES" '%s' "$bytes"
  printf -v "R_${name}_LOAD" '%s' "$(loadavg)"
  echo "-- $name $url: $WRK_RPS req/s p99=${WRK_P99_MS}ms ${WRK_MBPS}MB/s errors=$WRK_BAD cpu=${WRK_CPU_PCT}%" >&2
}

# Segments: the same segment number on both (both pushes started together
# from the same file, so it holds the same frames), the newest both have.
SEQ=$(newest_seq "$O_PL") NSEQ=$(newest_seq "$N_PL")
[ -n "$SEQ" ] && [ -n "$NSEQ" ] || die "cannot read segment numbers"
[ "$NSEQ" -lt "$SEQ" ] && SEQ=$NSEQ
run oseg "${O_PL%/*}/$SEQ.ts" "$ONAIR_PID"
run nseg "$NGINX_URL/hls/bench-$SEQ.ts" "$NGINX_PID"

# Playlists: once both windows are full, so both lists have their steady size.
wait_segments "$O_PL" "$WINDOW" $((WINDOW + 10)) || echo "warning: onair playlist not full" >&2
wait_segments "$N_PL" "$WINDOW" $((WINDOW + 10)) || echo "warning: nginx playlist not full" >&2
run opl "$O_PL" "$ONAIR_PID"
run npl "$N_PL" "$NGINX_PID"

line() {  # LABEL PREFIX
  local p=$2 v
  local rps=R_${p}_RPS p99=R_${p}_P99 mb=R_${p}_MBPS bad=R_${p}_BAD cpu=R_${p}_CPU rpcs=R_${p}_RPCS by=R_${p}_BYTES ld=R_${p}_LOAD
  printf '%-22s %8s %8s %9s %7s %7s %9s %8s  %s\n' "$1" "${!by}" "${!rps}" "${!p99}" "${!mb}" "${!bad}" "${!cpu}" "${!rpcs}" "${!ld}"
}

cat <<EOF

== serve.sh summary (wrk -t1 -c$CONNS -d${DURATION}s on cpu $LOAD_CPU; servers on cpu $SERVER_CPU; window $WINDOW x 1 s) ==
$(printf '%-22s %8s %8s %9s %7s %7s %9s %8s  %s' "" bytes req/s "p99 ms" MB/s errors "cpu%" req/cpu-s "load avg after")
$(line "onair segment" oseg)
$(line "nginx-rtmp segment" nseg)
$(line "onair playlist" opl)
$(line "nginx-rtmp playlist" npl)
ratio onair/nginx segment:  req/s $(ratio "$R_oseg_RPS" "$R_nseg_RPS"), req per cpu-s $(ratio "$R_oseg_RPCS" "$R_nseg_RPCS")
ratio onair/nginx playlist: req/s $(ratio "$R_opl_RPS" "$R_npl_RPS"), req per cpu-s $(ratio "$R_opl_RPCS" "$R_npl_RPCS")
target (issue 4): >= 1.20x nginx req/s
load average before: $LOAD0
EOF
