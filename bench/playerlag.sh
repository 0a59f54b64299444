#!/usr/bin/env bash
# bench/playerlag.sh — how far behind the live edge a real player plays:
# hls.js in headless Chromium (tests/browser/play.mjs) plays each of
#   nginx-rtmp     HLS, MPEG-TS, hls_fragment 1s
#   onair-ts       HLS, MPEG-TS, 1 s segments (output_format hls)
#   onair-fmp4     the same stream's fMP4 form (?format=fmp4)
#   onair-ll-hls   LL-HLS: fMP4 with parts and blocking reload (output_format ll-hls)
# for PLAY_SECONDS, ROUNDS times (order rotated every round), and prints the
# median of hls.js's own latency estimate (hls.latency: seconds between the
# play head and the playlist's live edge, sampled every 250 ms) and the
# target latency hls.js derived from each playlist. All three servers'
# streams are fed by one ffmpeg copying the bench media (720p30, 1 s GOP)
# to each, so they carry the same frames at the same time.
#
#   bench/playerlag.sh                        # 2 rounds of 20 s per target
#   ROUNDS=3 PLAY_SECONDS=30 bench/playerlag.sh
#
# Needs the browser test's node modules (tests/browser/node_modules: `make
# test` installs them, or `cd tests/browser && npm ci`), /usr/bin/node and
# /usr/bin/chromium.
. "$(dirname "$0")/common.sh"
bench_require ffmpeg nginx curl taskset /usr/bin/node /usr/bin/chromium

PLAY_SECONDS=${PLAY_SECONDS:-20}
ROUNDS=${ROUNDS:-2}
PLAY_MJS=$REPO_DIR/tests/browser/play.mjs
[ -d "$REPO_DIR/tests/browser/node_modules/hls.js" ] ||
  die "no tests/browser/node_modules (cd tests/browser && npm ci)"

machine_info
LOAD0=$(loadavg)
echo "load before: $LOAD0"

onair_start
nginx_start 6

read -r _ TS_KEY TS_PL < <(ONAIR_STREAM_BODY='{"mode": "passthrough", "output_format": "hls"}' onair_create_stream)
read -r _ LL_KEY LL_PL < <(ONAIR_STREAM_BODY='{"mode": "passthrough", "output_format": "ll-hls"}' onair_create_stream)
N_PL=$NGINX_URL/hls/bench.m3u8
push_multi "$BENCH_TMP/push.log" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$TS_KEY" \
  "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$LL_KEY" "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench"
for u in "$TS_PL" "$LL_PL" "$N_PL"; do
  wait_segments "$u" 3 30 || die "no 3 segments at $u after 30 s (see $BENCH_TMP/push.log)"
done

declare -A URL=([nginx-rtmp]=$N_PL [onair-ts]=$TS_PL [onair-fmp4]="$TS_PL?format=fmp4"
                [onair-ll-hls]=$LL_PL)
TARGETS=(nginx-rtmp onair-ts onair-fmp4 onair-ll-hls)
RES=$BENCH_TMP/results.txt

# play NAME ROUND → one play.mjs run (Chromium on LOAD_CPU, beside the
# copying ffmpeg) appended to RES as "NAME latency target waits"
play() {
  local name=$1 r=$2 out=$BENCH_TMP/play-$1-$2.json
  echo "-- round $r $name (load $(loadavg))" >&2
  CHROMIUM=/usr/bin/chromium taskset -c "$LOAD_CPU" /usr/bin/node "$PLAY_MJS" "${URL[$name]}" \
    "$PLAY_SECONDS" --startup-timeout 20 >"$out" 2>"$out.err" || true
  $PY - "$out" "$name" >>"$RES" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r = json.loads(lines[-1]) if lines else {}
print(sys.argv[2], r.get("latency_median_s"), r.get("target_latency_s"),
      len(r.get("waiting_after_start") or []), len(r.get("fatal_errors") or []))
EOF
  tail -1 "$RES" | awk '{ printf "   latency %s s, target %s s, waiting events %s, fatal errors %s\n", $2, $3, $4, $5 }' >&2
}

for r in $(seq "$ROUNDS"); do
  for i in 0 1 2 3; do play "${TARGETS[$(((i + r - 1) % 4))]}" "$r"; done
done

med() { res_median "$RES" "$@"; }
all() { res_all "$RES" "$@"; }
echo
echo "== playerlag.sh summary ($ROUNDS rounds x ${PLAY_SECONDS}s per target, 1 s segments, hls.js $(
  $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$REPO_DIR/tests/browser/node_modules/hls.js/package.json") in Chromium) =="
printf '%-14s %10s %10s %8s   %s\n' target latency_s target_s waits "rounds (latency)"
for t in "${TARGETS[@]}"; do
  printf '%-14s %10s %10s %8s   %s\n' "$t" "$(med "$t" 2)" "$(med "$t" 3)" "$(med "$t" 4)" "$(all "$t" 2)"
done
N=$(med nginx-rtmp 2)
for t in onair-ts onair-fmp4 onair-ll-hls; do
  echo "$t/nginx-rtmp latency: $(ratio "$(med "$t" 2)" "$N")  (lower is better for onair)"
done
echo "load average: before $LOAD0, after $(loadavg)"
