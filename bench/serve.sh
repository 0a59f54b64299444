#!/usr/bin/env bash
# bench/serve.sh — HLS serving throughput: the same 1 Mbps stream is pushed
# to onair and nginx-rtmp (ffmpeg -c copy of one pre-encoded file, so both
# package the same frames), then wrk hammers one segment and the playlist on
# each server with the same settings (server pinned to one core, wrk on the
# other). Pushing goes on during the runs, as it would in production.
# Runs alternate between the servers; medians over the rounds are reported.
# Target (issue 4): onair >= 1.2x nginx's req/s.
#
# Two load clients, each in every round (CLIENTS):
#   wrk   receives every byte: on one core it tops out near 1.5 GB/s, which
#         ~150 KB segments reach before either server is busy, so both
#         servers show the same req/s (client-bound).
#   hget  bench/hget.c: the same keep-alive GETs, but bodies are dropped
#         with recv(MSG_TRUNC) (no copy), so the server's core is the limit
#         and req/s shows which server does more work per request.
#
#   bench/serve.sh                       # -c50, 3 rounds of 5 s runs, both clients
#   CLIENTS=hget bench/serve.sh
#   DURATION=10 ROUNDS=5 CONNS=100 bench/serve.sh
#   ONAIR_BIN_B=/path/to/other/onair bench/serve.sh   # a second onair build
#       (e.g. the previous commit) in the same rounds, rows "onair-B"
. "$(dirname "$0")/common.sh"
bench_require wrk ffmpeg nginx curl taskset

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
CLIENTS=${CLIENTS:-"wrk hget"}
W=(-t1 -c"$CONNS" -d"${DURATION}s")
NCLIENTS=$(echo $CLIENTS | wc -w)
# A round's segment must stay in both servers' windows for all of its runs.
WINDOW=$((2 * NCLIENTS * DURATION + 8))

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"
bench_media >/dev/null

B_PL=""
if [ -n "${ONAIR_BIN_B:-}" ]; then
  ( ONAIR_BIN=$ONAIR_BIN_B; ONAIR_DIR_NAME=onair-b; onair_start --hls-window "$WINDOW"
    read -r _ k p < <(onair_create_stream)
    echo "$ONAIR_PID $ONAIR_RTMP_PORT $k $p" >"$BENCH_TMP/onair-b.env" ) || die "onair-B did not start"
  read -r B_PID B_RTMP B_KEY B_PL <"$BENCH_TMP/onair-b.env"
  bench_track "$B_PID"
  proc_watch "$B_PID"
fi
onair_start --hls-window "$WINDOW"
nginx_start "$WINDOW"
read -r _ SKEY O_PL < <(onair_create_stream)
N_PL=$NGINX_URL/hls/bench.m3u8
push_loop "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$SKEY" "$BENCH_TMP/push-onair.log"
push_loop "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench" "$BENCH_TMP/push-nginx.log"
[ -n "$B_PL" ] && push_loop "rtmp://127.0.0.1:$B_RTMP/live/$B_KEY" "$BENCH_TMP/push-onair-b.log"
wait_segments "$O_PL" 3 30 || die "onair: no 3 segments after 30 s"
wait_segments "$N_PL" 3 30 || die "nginx: no 3 segments after 30 s"
[ -z "$B_PL" ] || wait_segments "$B_PL" 3 30 || die "onair-B: no 3 segments after 30 s"

# newest_seq PLAYLIST_URL → the number N of its last segment (N.ts / bench-N.ts)
newest_seq() {
  curl -sf "$1" | grep -v '^#' | grep . | tail -1 | sed -n 's/^\(.*[^0-9]\)\{0,1\}\([0-9][0-9]*\)\.ts.*/\2/p'
}

# run NAME URL PID → one run of each client in $CLIENTS, appended to $RES as
# "CLIENT-NAME rps p99_ms MB/s errors cpu% req/cpu-s bytes"
RES=$BENCH_TMP/results.txt
run() {
  local cl
  for cl in $CLIENTS; do WRK_CLIENT=$cl run1 "$cl-$1" "$2" "$3"; done
}
run1() {
  local name=$1 url=$2 pid=$3 bytes
  bytes=$(curl -sf "$url" | wc -c)
  WRK_SERVER_PID=$pid
  wrk_run "$BENCH_TMP/wrk-$name.txt" "${W[@]}" "$url"
  echo "$name $WRK_RPS $WRK_P99_MS $WRK_MBPS $WRK_BAD $WRK_CPU_PCT $WRK_RPCS $bytes" >>"$RES"
  echo "-- $name $url: $WRK_RPS req/s p99=${WRK_P99_MS}ms ${WRK_MBPS}MB/s errors=$WRK_BAD cpu=${WRK_CPU_PCT}% req/cpu-s=$WRK_RPCS bytes=$bytes load=$(loadavg)" >&2
}

# Background load on a shared machine drifts, so onair and nginx alternate
# (order flipped every round) and the medians over ROUNDS rounds are compared.
for r in $(seq "$ROUNDS"); do
  # Segments: each server's newest (both pushes started together from the
  # same file, so these hold about the same frames). The numbers differ:
  # onair numbers a broadcast's segments from its start time in ms, nginx
  # from 0.
  SEQ=$(newest_seq "$O_PL") NSEQ=$(newest_seq "$N_PL")
  [ -n "$SEQ" ] && [ -n "$NSEQ" ] || die "cannot read segment numbers"
  BSEQ=$SEQ
  if [ -n "$B_PL" ]; then
    BSEQ=$(newest_seq "$B_PL")
    [ -n "$BSEQ" ] || die "cannot read onair-B's segment numbers"
  fi
  if [ $((r % 2)) = 1 ]; then
    run oseg "${O_PL%/*}/$SEQ.ts" "$ONAIR_PID"; run nseg "$NGINX_URL/hls/bench-$NSEQ.ts" "$NGINX_PID"
    [ -z "$B_PL" ] || run bseg "${B_PL%/*}/$BSEQ.ts" "$B_PID"
  else
    [ -z "$B_PL" ] || run bseg "${B_PL%/*}/$BSEQ.ts" "$B_PID"
    run nseg "$NGINX_URL/hls/bench-$NSEQ.ts" "$NGINX_PID"; run oseg "${O_PL%/*}/$SEQ.ts" "$ONAIR_PID"
  fi
done

# Playlists: once both windows are full, so both lists have their steady size.
wait_segments "$O_PL" "$WINDOW" $((WINDOW + 10)) || echo "warning: onair playlist not full" >&2
wait_segments "$N_PL" "$WINDOW" $((WINDOW + 10)) || echo "warning: nginx playlist not full" >&2
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run opl "$O_PL" "$ONAIR_PID"; run npl "$N_PL" "$NGINX_PID"
    [ -z "$B_PL" ] || run bpl "$B_PL" "$B_PID"
  else [ -z "$B_PL" ] || run bpl "$B_PL" "$B_PID"
    run npl "$N_PL" "$NGINX_PID"; run opl "$O_PL" "$ONAIR_PID"; fi
done

med() { res_median "$RES" "$@"; }
all() { res_all "$RES" "$@"; }
line() {  # LABEL NAME
  printf '%-26s %7s %8s %8s %7s %6s %5s %9s  %s\n' "$1" "$(med "$2" 8)" "$(med "$2" 2)" "$(med "$2" 3)" \
    "$(med "$2" 4)" "$(awk -v n="$2" '$1 == n { e += $5 } END { print e + 0 }' "$RES")" "$(med "$2" 6)" "$(med "$2" 7)" "$(all "$2" 2)"
}
# client_block CLIENT → the rows and ratios measured with that client
client_block() {
  local c=$1
  line "onair segment ($c)" "$c-oseg"; line "nginx-rtmp segment ($c)" "$c-nseg"
  line "onair playlist ($c)" "$c-opl"; line "nginx-rtmp playlist ($c)" "$c-npl"
  if [ -n "$B_PL" ]; then line "onair-B segment ($c)" "$c-bseg"; line "onair-B playlist ($c)" "$c-bpl"; fi
  echo "ratio onair/nginx segment  ($c): req/s $(ratio "$(med "$c-oseg" 2)" "$(med "$c-nseg" 2)"), req per cpu-s $(ratio "$(med "$c-oseg" 7)" "$(med "$c-nseg" 7)")"
  echo "ratio onair/nginx playlist ($c): req/s $(ratio "$(med "$c-opl" 2)" "$(med "$c-npl" 2)"), req per cpu-s $(ratio "$(med "$c-opl" 7)" "$(med "$c-npl" 7)")"
  if [ -n "$B_PL" ]; then
    echo "ratio onair/onair-B segment  ($c): req/s $(ratio "$(med "$c-oseg" 2)" "$(med "$c-bseg" 2)"), req per cpu-s $(ratio "$(med "$c-oseg" 7)" "$(med "$c-bseg" 7)")"
    echo "ratio onair/onair-B playlist ($c): req/s $(ratio "$(med "$c-opl" 2)" "$(med "$c-bpl" 2)"), req per cpu-s $(ratio "$(med "$c-opl" 7)" "$(med "$c-bpl" 7)")"
  fi
}

echo
echo "== serve.sh summary (-c$CONNS -d${DURATION}s on cpu $LOAD_CPU; servers on cpu $SERVER_CPU; window $WINDOW x 1 s; medians of $ROUNDS alternating rounds) =="
printf '%-26s %7s %8s %8s %7s %6s %5s %9s  %s\n' "" bytes req/s "p99 ms" MB/s errors "cpu%" req/cpu-s "req/s of each round"
for c in $CLIENTS; do client_block "$c"; done
[ -z "$B_PL" ] || echo "onair-B = $ONAIR_BIN_B"
echo "target (issue 4): >= 1.20x nginx req/s"
echo "load average: before $LOAD0, after $(loadavg)"
