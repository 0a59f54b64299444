#!/usr/bin/env bash
# bench/hlslag.sh — publish lag: how long after a segment's last frame is
# pushed does it appear in the HLS playlist? Runs ../shared/tools/hlslag.py
# against onair (1 s segments) and then nginx-rtmp (hls_fragment 1s) in the
# same run, with the same pushed stream (720p30 H.264 + AAC, 1 s GOP), and
# prints both summaries and the ratio of the medians.
# Target (issue 4): onair's median <= 10 ms and below nginx-rtmp's.
#
#   bench/hlslag.sh                  # 30 s per server
#   SECONDS=10 bench/hlslag.sh         # (or BENCH_SECONDS=10)
#   HLSLAG=/path/to/hlslag.py bench/hlslag.sh
# SECONDS is bash's own counter: when given in the environment it starts from
# that value, so it is read on the first line, before any time has passed.
ENV_SECONDS=$SECONDS
. "$(dirname "$0")/common.sh"
bench_require ffmpeg ffprobe nginx curl taskset

DUR=${BENCH_SECONDS:-30}
[ "$ENV_SECONDS" -gt 0 ] && DUR=$ENV_SECONDS
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
read -r _ SKEY PURL < <(onair_create_stream)

# The pusher (x264 encode) and the poller run on LOAD_CPU, the servers on SERVER_CPU.
run_lag() {  # NAME PUSH_URL PLAYLIST_URL
  local name=$1 out=$BENCH_TMP/lag-$1.txt
  echo "-- $name: pushing ${DUR}s to $2" >&2
  taskset -c "$LOAD_CPU" $PY "$HLSLAG" --push "$2" --playlist "$3" --seconds "$DUR" \
    >"$out" 2>"$BENCH_TMP/lag-$1.err" || true
  tail -1 "$out"
}

ONAIR_LINE=$(run_lag onair "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$SKEY" "$PURL")
LOAD_ONAIR=$(loadavg)
NGINX_LINE=$(run_lag nginx "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench" "$NGINX_URL/hls/bench.m3u8")
LOAD_NGINX=$(loadavg)

median() { sed -n 's/.*median=\([-0-9]*\).*/\1/p' <<<"$1"; }
OM=$(median "$ONAIR_LINE")
NM=$(median "$NGINX_LINE")

cat <<EOF

== hlslag.sh summary (${DUR}s per server, 1 s segments, servers on cpu $SERVER_CPU, pusher on cpu $LOAD_CPU) ==
onair:       $ONAIR_LINE   (load after: $LOAD_ONAIR)
nginx-rtmp:  $NGINX_LINE   (load after: $LOAD_NGINX)
median lag onair/nginx: $(ratio "${OM:-0}" "${NM:-0}")  (lower is better for onair)
target (issue 4): onair median <= 10 ms: $([ -n "$OM" ] && [ "$OM" -le 10 ] && echo met || echo NOT met); below nginx: $([ -n "$OM" ] && [ -n "$NM" ] && [ "$OM" -lt "$NM" ] && echo yes || echo no)
load average before: $LOAD0
EOF
[ -n "$OM" ] && [ -n "$NM" ] || { echo "hlslag: a run measured nothing; see the lines above" >&2; exit 1; }
