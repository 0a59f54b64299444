#!/usr/bin/env bash
# bench/hlslag.sh — publish lag: how long after a segment's last frame is
# pushed does it appear in the HLS playlist? Runs ../shared/tools/hlslag.py
# against onair (1 s segments) and nginx-rtmp (hls_fragment 1s) in the same
# run, with the same pushed stream (720p30 H.264 + AAC, 1 s GOP), ROUNDS
# times with the order flipped every round, and prints the medians.
# Target (issue 4): onair's median <= 10 ms and below nginx-rtmp's.
#
# With FLOOR=1 (default) every round also runs bench/lagfloor.py twice:
#   socket  the same push into a plain TCP socket: when the keyframe and the
#           last frame before it arrive, on hlslag's clock (the floor for
#           any server, without HTTP polling)
#   server  the same push to a second onair at --log-level debug: when onair
#           published each segment (its hls_segment log line), on hlslag's
#           clock (onair's own lag, without hlslag's 5 ms polling and HTTP)
#
#   bench/hlslag.sh                      # 3 rounds of 20 s per server
#   SECONDS=30 ROUNDS=2 bench/hlslag.sh    # (or BENCH_SECONDS=30)
#   HLSLAG=/path/to/hlslag.py FLOOR=0 bench/hlslag.sh
# SECONDS is bash's own counter: when given in the environment it starts from
# that value, so it is read on the first line, before any time has passed.
ENV_SECONDS=$SECONDS
. "$(dirname "$0")/common.sh"
bench_require ffmpeg ffprobe nginx curl taskset

DUR=${BENCH_SECONDS:-20}
[ "$ENV_SECONDS" -gt 0 ] && DUR=$ENV_SECONDS
ROUNDS=${ROUNDS:-3}
FLOOR=${FLOOR:-1}
HLSLAG=${HLSLAG:-}
if [ -z "$HLSLAG" ]; then
  for c in "$REPO_DIR/../shared/tools/hlslag.py" /work/shared/tools/hlslag.py; do
    [ -f "$c" ] && { HLSLAG=$c; break; }
  done
fi
[ -f "${HLSLAG:-}" ] || die "hlslag.py not found (set HLSLAG=)"

# hlslag.py fetches every segment after the push to read its first pts, so
# both servers keep the whole run in their playlists (same window for both).
WINDOW=$((DUR + 30))

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"

onair_start --hls-window "$WINDOW"
nginx_start "$WINDOW"

# The pushing ffmpeg (an x264 720p encode that keeps its core busy) runs on
# LOAD_CPU. The measuring Python (hlslag's playlist poller, lagfloor's
# socket reader) runs on SERVER_CPU next to the server, which is nearly idle
# with one stream: on the encoder's core the poller's 5 ms wake-ups queue
# behind x264's threads, worst at keyframes, i.e. exactly when a segment is
# due (SPLIT=0: everything on LOAD_CPU, as before).
SPLIT=${SPLIT:-1}
# measure_py OUT ERR ARGS... → runs $PY ARGS with the placement above
measure_py() {
  local out=$1 err=$2 pid c i; shift 2
  if [ "$SPLIT" != 1 ]; then taskset -c "$LOAD_CPU" $PY "$@" >"$out" 2>"$err"; return; fi
  taskset -c "$SERVER_CPU" $PY "$@" >"$out" 2>"$err" &
  pid=$!
  for i in $(seq 100); do  # move its ffmpeg child (all threads) to LOAD_CPU
    c=$(pgrep -P "$pid" -x ffmpeg) && { taskset -a -pc "$LOAD_CPU" "$c" >/dev/null; break; }
    sleep 0.05
  done
  wait "$pid"
}

# Each run gets a fresh stream (onair) / name (nginx).
RES=$BENCH_TMP/results.txt
run_lag() {  # NAME ROUND PUSH_URL PLAYLIST_URL
  local name=$1 r=$2 out=$BENCH_TMP/lag-$1-$2.txt line
  echo "-- round $r $name: pushing ${DUR}s to $3 (load $(loadavg))" >&2
  measure_py "$out" "$BENCH_TMP/lag-$1-$2.err" "$HLSLAG" --push "$3" --playlist "$4" \
    --seconds "$DUR" || true
  line=$(tail -1 "$out")
  echo "   $line" >&2
  echo "$name $(sed -n 's/.*median=\([-0-9]*\) p90=\([-0-9]*\).*/\1 \2/p' <<<"$line")" >>"$RES"
}
run_onair() {
  local skey purl
  read -r _ skey purl < <(onair_create_stream)
  run_lag onair "$1" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$skey" "$purl"
}
run_nginx() {
  run_lag nginx "$1" "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/lag$1" "$NGINX_URL/hls/lag$1.m3u8"
}

# The floor measurements need a second onair that logs at debug level (the
# hls_segment lines); it only runs during its own pushes.
if [ "$FLOOR" = 1 ]; then
  DEBUG_DIR=$BENCH_TMP/onair-debug
  mkdir -p "$DEBUG_DIR"
  DBG_HTTP=$(free_port) DBG_RTMP=$(free_port)
  taskset -c "$SERVER_CPU" "$ONAIR_BIN" serve --data "$DEBUG_DIR/data" --http "127.0.0.1:$DBG_HTTP" \
    --rtmp "127.0.0.1:$DBG_RTMP" --public-host 127.0.0.1 --hls-segment-ms 1000 \
    --hls-window "$WINDOW" --log-level debug >"$DEBUG_DIR/stdout.log" 2>"$DEBUG_DIR/stderr.log" &
  DBG_PID=$!
  bench_track "$DBG_PID"
  wait_http "http://127.0.0.1:$DBG_HTTP/healthz" 15 || die "debug onair did not start"
  DBG_KEY=$(tail -1 "$DEBUG_DIR/stdout.log")
  case "$DBG_KEY" in onair_*) ;; *) DBG_KEY=$("$ONAIR_BIN" apikey create --data "$DEBUG_DIR/data" | tail -1) ;; esac
  DBG_TOKEN=$(curl -sf -X POST "http://127.0.0.1:$DBG_HTTP/v1/access_token/$DBG_KEY" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || die "debug onair: no token"
fi
run_floor() {  # ROUND
  local r=$1 out line sid skey
  out=$BENCH_TMP/floor-socket-$r.txt
  echo "-- round $r floor: socket (load $(loadavg))" >&2
  measure_py "$out" "$out.err" "$BENCH_DIR/lagfloor.py" --seconds "$DUR" || true
  line=$(tail -1 "$out"); echo "   $line" >&2
  echo "socket $(sed -n 's/.*key_ms median=\([-0-9]*\) last_ms median=\([-0-9]*\) gap_ms median=\([-0-9]*\).*/\1 \2 \3/p' <<<"$line")" >>"$RES"
  sid="" skey=""
  local purl=""
  read -r sid skey purl < <(curl -s -X POST -H "Authorization: Bearer $DBG_TOKEN" -d '{"mode": "passthrough"}' \
    "http://127.0.0.1:$DBG_HTTP/v1/live-streams" |
    $PY -c 'import json,sys; s=json.load(sys.stdin)["stream"]; print(s["id"], s["stream_key"], s["playback_ids"][0]["playback_url"])') || true
  if [ -z "$skey" ]; then
    echo "   debug onair: no stream created; its log ends with:" >&2
    tail -5 "$DEBUG_DIR/stderr.log" >&2
    return 0
  fi
  out=$BENCH_TMP/floor-server-$r.txt
  echo "-- round $r floor: onair's own publish times (load $(loadavg))" >&2
  measure_py "$out" "$out.err" "$BENCH_DIR/lagfloor.py" --seconds "$DUR" \
    --push "rtmp://127.0.0.1:$DBG_RTMP/live/$skey" --server-log "$DEBUG_DIR/stderr.log" \
    --stream "$sid" --playlist "$purl" || true
  line=$(tail -1 "$out"); echo "   $line" >&2
  echo "server $(sed -n 's/.*server_publish_lag_ms median=\([-0-9]*\).*/\1/p' <<<"$line")" >>"$RES"
  echo "poll $(sed -n 's/.*poll_delay_ms median=\([-0-9.]*\).*/\1/p' <<<"$line")" >>"$RES"
}

for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run_onair "$r"; run_nginx "$r"; else run_nginx "$r"; run_onair "$r"; fi
  [ "$FLOOR" = 1 ] && run_floor "$r"
done

med() { res_median "$RES" "$@"; }
all() { res_all "$RES" "$@"; }
OM=$(med onair 2) NM=$(med nginx 2)

cat <<EOF

== hlslag.sh summary ($ROUNDS rounds x ${DUR}s per server, 1 s segments, servers on cpu $SERVER_CPU, pushers on cpu $LOAD_CPU, pollers on cpu $([ "$SPLIT" = 1 ] && echo "$SERVER_CPU" || echo "$LOAD_CPU"); medians over rounds of each run's median) ==
onair:       median lag ${OM} ms (rounds: $(all onair 2)), p90 $(med onair 3) ms (rounds: $(all onair 3))
nginx-rtmp:  median lag ${NM} ms (rounds: $(all nginx 2)), p90 $(med nginx 3) ms (rounds: $(all nginx 3))
median lag onair/nginx: $(ratio "${OM:-0}" "${NM:-0}")  (lower is better for onair)
target (issue 4): onair median <= 10 ms: $(awk -v m="$OM" 'BEGIN { print (m != "n/a" && m <= 10) ? "met" : "NOT met" }'); below nginx: $(awk -v o="$OM" -v n="$NM" 'BEGIN { print (o != "n/a" && n != "n/a" && o < n) ? "yes" : "no" }')
EOF
if [ "$FLOOR" = 1 ]; then cat <<EOF
floor (same push into a plain socket, on hlslag's clock):
  keyframe arrives       median $(med socket 2) ms (rounds: $(all socket 2))  <- closing on the keyframe can't beat this
  last frame arrives     median $(med socket 3) ms (rounds: $(all socket 3))  <- closing on the last frame can't beat this
  keyframe - last frame  median $(med socket 4) ms (rounds: $(all socket 4))
onair's own publish time (debug log, no polling): median $(med server 2) ms (rounds: $(all server 2))
hlslag-style polling, log line -> seen in the playlist: median $(med poll 2) ms (rounds: $(all poll 2))
EOF
fi
echo "load average: before $LOAD0, after $(loadavg)"
[ "$OM" != n/a ] && [ "$NM" != n/a ] || { echo "hlslag: a run measured nothing; see the lines above" >&2; exit 1; }
