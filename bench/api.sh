#!/usr/bin/env bash
# bench/api.sh — control-plane throughput: wrk against onair's
#   GET  /v1/live-streams/{id}   (auth check + SQLite read + JSON)
#   POST /v1/live-streams        (auth check + validation + durable SQLite write)
# with the server pinned to one core and wrk on another. nginx has no such
# API; as a reference it serves the very same GET response body as a static
# file with the same wrk settings, and onair's GET req/s is printed as a
# ratio to that. Target (issue 3): >= 20,000 GET/s on one core.
#
#   bench/api.sh                       # 10 s per run, 3 rounds, 1 wrk thread, 50 connections
#   DURATION=5 ROUNDS=5 CONNS=100 bench/api.sh
. "$(dirname "$0")/common.sh"
bench_require wrk nginx curl taskset

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
W=(-t1 -c"$CONNS" -d"${DURATION}s")

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"

export ONAIR_CREATE_RATE_LIMIT=1000000   # the POST run must not hit 429
onair_start
nginx_start
read -r SID _ _ < <(onair_create_stream)

cat >"$BENCH_TMP/get.lua" <<'EOF'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
EOF
cat >"$BENCH_TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench", "stream_timeout": 60, "dvr": {"enabled": false}}'
EOF
export BENCH_TOKEN=$ONAIR_TOKEN

# The reference file: onair's own GET answer, byte for byte.
curl -sf -H "Authorization: Bearer $ONAIR_TOKEN" "$ONAIR_URL/v1/live-streams/$SID" >"$NGINX_ROOT/stream.json"
chmod 644 "$NGINX_ROOT/stream.json"
BODY_BYTES=$(stat -c %s "$NGINX_ROOT/stream.json")

# Short warm-up so both servers have their pages and caches hot.
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID" >/dev/null
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s "$NGINX_URL/stream.json" >/dev/null

# run NAME PID [wrk args...] → one wrk run appended to $RES as
# "NAME rps p50_ms p99_ms errors cpu% req/cpu-s"
RES=$BENCH_TMP/results.txt
run() {
  local name=$1; WRK_SERVER_PID=$2; shift 2
  wrk_run "$BENCH_TMP/wrk-$name.txt" "${W[@]}" "$@"
  echo "$name $WRK_RPS $WRK_P50_MS $WRK_P99_MS $WRK_BAD $WRK_CPU_PCT $WRK_RPCS" >>"$RES"
  echo "-- $name: $WRK_RPS req/s p50=${WRK_P50_MS}ms p99=${WRK_P99_MS}ms errors=$WRK_BAD cpu=${WRK_CPU_PCT}% req/cpu-s=$WRK_RPCS load=$(loadavg)" >&2
}

# Background load on a shared machine drifts: onair GET and the nginx
# reference alternate (order flipped every round); medians are compared.
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    run get "$ONAIR_PID" -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID"
    run static "$NGINX_PID" "$NGINX_URL/stream.json"
  else
    run static "$NGINX_PID" "$NGINX_URL/stream.json"
    run get "$ONAIR_PID" -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID"
  fi
done
run post "$ONAIR_PID" -s "$BENCH_TMP/post.lua" "$ONAIR_URL/v1/live-streams"
NSTREAMS=$(( $(res_median "$RES" post 2) * DURATION ))
# GET again after the POST run: the table now holds many streams.
run get2 "$ONAIR_PID" -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID"

line() {  # LABEL NAME
  printf '%-36s %7s %8s %8s %6s %5s %9s  %s\n' "$1" "$(res_median "$RES" "$2" 2)" "$(res_median "$RES" "$2" 3)" \
    "$(res_median "$RES" "$2" 4)" "$(awk -v n="$2" '$1 == n { e += $5 } END { print e + 0 }' "$RES")" \
    "$(res_median "$RES" "$2" 6)" "$(res_median "$RES" "$2" 7)" "$(res_all "$RES" "$2" 2)"
}
GET_RPS=$(res_median "$RES" get 2)

cat <<EOF

== api.sh summary (server on cpu $SERVER_CPU, wrk on cpu $LOAD_CPU, -t1 -c$CONNS -d${DURATION}s; GET/static: medians of $ROUNDS alternating rounds) ==
$(printf '%-36s %7s %8s %8s %6s %5s %9s  %s' "" req/s "p50 ms" "p99 ms" errors "cpu%" req/cpu-s "req/s of each round")
$(line "onair GET /v1/live-streams/{id}" get)
$(line "nginx static ${BODY_BYTES} B JSON (same body)" static)
$(line "onair POST /v1/live-streams" post)
$(line "onair GET again (~$NSTREAMS streams)" get2)
ratio onair GET / nginx static: req/s $(ratio "$GET_RPS" "$(res_median "$RES" static 2)"), req per cpu-s $(ratio "$(res_median "$RES" get 7)" "$(res_median "$RES" static 7)")
load average: before $LOAD0, after $(loadavg)
target (issue 3): onair GET >= 20000 req/s on one core: $([ "${GET_RPS%.*}" -ge 20000 ] && echo met || echo NOT met) (req/s; cpu% < 100 means the server was not the bottleneck, see req/cpu-s)
EOF
