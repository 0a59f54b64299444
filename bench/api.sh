#!/usr/bin/env bash
# bench/api.sh — control-plane throughput: wrk against onair's
#   GET  /v1/live-streams/{id}   (auth check + SQLite read + JSON)
#   POST /v1/live-streams        (auth check + validation + durable SQLite write)
# with the server pinned to one core and wrk on another. nginx has no such
# API; as a reference it serves the very same GET response body as a static
# file with the same wrk settings, and onair's GET req/s is printed as a
# ratio to that. Target (issue 3): >= 20,000 GET/s on one core.
#
#   bench/api.sh                       # 10 s per run, 1 wrk thread, 50 connections
#   DURATION=5 CONNS=100 bench/api.sh
. "$(dirname "$0")/common.sh"
bench_require wrk nginx curl taskset

DURATION=${DURATION:-10}
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

WRK_SERVER_PID=$ONAIR_PID
wrk_run "$BENCH_TMP/get.txt" "${W[@]}" -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID"
GET_RPS=$WRK_RPS GET_P50=$WRK_P50_MS GET_P99=$WRK_P99_MS GET_BAD=$WRK_BAD GET_CPU=$WRK_CPU_PCT GET_RPCS=$WRK_RPCS
LOAD_GET=$(loadavg)

wrk_run "$BENCH_TMP/post.txt" "${W[@]}" -s "$BENCH_TMP/post.lua" "$ONAIR_URL/v1/live-streams"
POST_RPS=$WRK_RPS POST_P50=$WRK_P50_MS POST_P99=$WRK_P99_MS POST_BAD=$WRK_BAD POST_CPU=$WRK_CPU_PCT POST_RPCS=$WRK_RPCS
LOAD_POST=$(loadavg)

# GET again after the POST run: the table now holds many streams.
wrk_run "$BENCH_TMP/get2.txt" "${W[@]}" -s "$BENCH_TMP/get.lua" "$ONAIR_URL/v1/live-streams/$SID"
GET2_RPS=$WRK_RPS GET2_P99=$WRK_P99_MS GET2_BAD=$WRK_BAD GET2_CPU=$WRK_CPU_PCT
NSTREAMS=$((POST_RPS * DURATION))

WRK_SERVER_PID=$NGINX_PID
wrk_run "$BENCH_TMP/nginx.txt" "${W[@]}" "$NGINX_URL/stream.json"
NG_RPS=$WRK_RPS NG_P50=$WRK_P50_MS NG_P99=$WRK_P99_MS NG_BAD=$WRK_BAD NG_CPU=$WRK_CPU_PCT NG_RPCS=$WRK_RPCS
LOAD_NG=$(loadavg)

cat <<EOF

== api.sh summary (server on cpu $SERVER_CPU, wrk on cpu $LOAD_CPU, -t1 -c$CONNS -d${DURATION}s) ==
                                      req/s   p50 ms   p99 ms  errors  server cpu%  req per cpu-s
onair GET  /v1/live-streams/{id}   $(printf '%7s %8s %8s %7s %12s %14s' "$GET_RPS" "$GET_P50" "$GET_P99" "$GET_BAD" "$GET_CPU" "$GET_RPCS")
onair POST /v1/live-streams        $(printf '%7s %8s %8s %7s %12s %14s' "$POST_RPS" "$POST_P50" "$POST_P99" "$POST_BAD" "$POST_CPU" "$POST_RPCS")
onair GET  again (~$NSTREAMS streams) $(printf '%7s %8s %8s %7s %12s' "$GET2_RPS" "-" "$GET2_P99" "$GET2_BAD" "$GET2_CPU")
nginx static $(printf '%-5s' "$BODY_BYTES")B JSON file   $(printf '%7s %8s %8s %7s %12s %14s' "$NG_RPS" "$NG_P50" "$NG_P99" "$NG_BAD" "$NG_CPU" "$NG_RPCS")
ratio onair GET / nginx static: req/s $(ratio "$GET_RPS" "$NG_RPS"), req per cpu-s $(ratio "$GET_RPCS" "$NG_RPCS")
load average: before $LOAD0; after GET $LOAD_GET; after POST $LOAD_POST; after nginx $LOAD_NG
target (issue 3): onair GET >= 20000 req/s on one core: $([ "$GET_RPS" -ge 20000 ] && echo met || echo NOT met)
EOF
