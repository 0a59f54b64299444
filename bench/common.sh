# bench/common.sh — shared helpers for onair's benchmarks (sourced, not run).
#
# Starts onair and nginx-rtmp side by side on free loopback ports inside one
# temporary directory, and cleans up everything it started when the sourcing
# script exits (trap EXIT). Every benchmark compares the two servers in the
# same run on the same machine, so load from other processes hits both.
#
# Environment knobs (all optional):
#   ONAIR_BIN      the onair binary (default: build/onair of this checkout)
#   SERVER_CPU     CPU the servers are pinned to (default 0)
#   LOAD_CPU       CPU the load generators are pinned to (default 1)
#   BENCH_KEEP=1   keep the temp dir (logs, nginx.conf) after the run
#   ONAIR_SERVE_FLAGS  extra flags for `onair serve` (word-split)
#   WRK_CLIENT     load client for wrk_run: wrk (default) or hget (bench/hget.c,
#                  discards bodies without copying them; see serve.sh)
#   BENCH_AUDIO    audio of the pushed media: aac (default) or mp3 (onair
#                  converts MP3 to AAC; nginx-rtmp packages it as is)
#   BENCH_NICE     niceness for the servers and wrk (default 0; e.g. -10 on a
#                  machine shared with other work, so both servers and the
#                  client get their core instead of time slices of it)

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
ONAIR_BIN=${ONAIR_BIN:-$REPO_DIR/build/onair}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BENCH_NICE=${BENCH_NICE:-0}
PY=/usr/bin/python3
NGINX_RTMP_MODULE=${NGINX_RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}

BENCH_TMP=$(mktemp -d /tmp/onair-bench.XXXXXX)
chmod 755 "$BENCH_TMP"          # nginx workers may run as another user
BENCH_PIDS=()                    # every background process we started

bench_cleanup() {
  local rc=$?
  local p
  for p in "${BENCH_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.3
  for p in "${BENCH_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${BENCH_PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $BENCH_TMP" >&2
  else
    # retry once: a server killed mid-write may still have been adding files
    rm -rf "$BENCH_TMP" 2>/dev/null || { sleep 0.5; rm -rf "$BENCH_TMP"; } || true
  fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench: $*" >&2; exit 1; }

bench_require() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "missing '$c' (run scripts/install-deps.sh)"
  done
}

# Remembers a background process so bench_cleanup ends it.
bench_track() { BENCH_PIDS+=("$1"); }

# Stops one tracked process now (TERM, then KILL after 3 s).
bench_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1 (bound then released; good enough on loopback).
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers 200 (max $2 seconds, default 10).
wait_http() {
  local url=$1 max=${2:-10} i
  for i in $(seq $((max * 10))); do
    curl -sf -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

machine_info() {
  echo "machine: nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')\" mem=$(awk '/MemTotal/{printf "%.0fGiB", $2/1048576}' /proc/meminfo)"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  onair: $("$ONAIR_BIN" version 2>/dev/null | head -1)  nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- process stats

# All PIDs of a process tree (the process and its descendants).
# (Scans /proc for parent ids: /proc/PID/task/*/children is not always built
# in. Read in bash, one file at a time, so a process that exits during the
# scan is skipped instead of cutting the scan short.)
proc_tree() {
  local root=$1 f line pid
  local -a pairs=()
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid=${f#/proc/}
    line=${line##*) }                  # "state ppid ..." after the comm field
    line=${line#* }
    pairs+=("${pid%/stat} ${line%% *}")
  done
  printf '%s\n' "${pairs[@]}" | awk -v r="$root" '{ par[$1] = $2 }
    END { in_[r] = 1; print r
          do { more = 0; for (p in par) if (!(p in in_) && (par[p] in in_)) { in_[p] = 1; print p; more = 1 } } while (more) }'
}

# CPU ticks summed over a process tree: utime+stime of each process plus
# cutime+cstime (its reaped children: nginx's cache loader exits after a
# minute, and its CPU time must not vanish from the sum when it does).
# The tree is looked up once per root and then reused, so a reading is quick
# (a few /proc reads) and lands close to the moment it is taken.
# proc_watch ROOT fills the cache in the calling shell (proc_ticks itself
# usually runs in a $(...) subshell, whose cache would be lost).
declare -A PROC_TREE_CACHE=()
proc_watch() { PROC_TREE_CACHE[$1]=$(proc_tree "$1" | tr '\n' ' '); }
proc_ticks() {
  local t=0 p v
  [ -n "${PROC_TREE_CACHE[$1]:-}" ] || PROC_TREE_CACHE[$1]=$(proc_tree "$1" | tr '\n' ' ')
  for p in ${PROC_TREE_CACHE[$1]}; do
    # fields after the ")" of comm: state is $1, utime $12, stime $13, cutime $14, cstime $15
    v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)

# Resident memory in KiB summed over a process tree (RSS, and PSS which splits
# shared pages fairly between nginx's master and workers).
proc_rss_kb() {
  local t=0 p v
  for p in $(proc_tree "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
proc_pss_kb() {
  local t=0 p v
  for p in $(proc_tree "$1"); do
    v=$(awk '/^Pss:/{print $2}' /proc/"$p"/smaps_rollup 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# ---------------------------------------------------------------- onair

# onair_start [extra serve flags...]
# Sets ONAIR_PID ONAIR_HTTP_PORT ONAIR_RTMP_PORT ONAIR_URL ONAIR_KEY ONAIR_TOKEN.
# ONAIR_DIR_NAME (default "onair") names its directory under $BENCH_TMP, so a
# second instance (e.g. another build to compare) can run beside the first.
onair_start() {
  [ -x "$ONAIR_BIN" ] || die "no onair binary at $ONAIR_BIN (run make)"
  local dir=$BENCH_TMP/${ONAIR_DIR_NAME:-onair}
  mkdir -p "$dir"
  ONAIR_HTTP_PORT=$(free_port)
  ONAIR_RTMP_PORT=$(free_port)
  ONAIR_URL=http://127.0.0.1:$ONAIR_HTTP_PORT
  nice -n "$BENCH_NICE" taskset -c "$SERVER_CPU" "$ONAIR_BIN" serve --data "$dir/data" \
    --http "127.0.0.1:$ONAIR_HTTP_PORT" --rtmp "127.0.0.1:$ONAIR_RTMP_PORT" \
    --public-host 127.0.0.1 --hls-segment-ms 1000 ${ONAIR_SERVE_FLAGS:-} "$@" \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
  ONAIR_PID=$!
  bench_track "$ONAIR_PID"
  wait_http "$ONAIR_URL/healthz" 15 || { tail -5 "$dir/stderr.log" >&2; die "onair did not start"; }
  proc_watch "$ONAIR_PID"
  ONAIR_KEY=$(tail -1 "$dir/stdout.log")
  case "$ONAIR_KEY" in
    onair_*) ;;
    *) ONAIR_KEY=$("$ONAIR_BIN" apikey create --data "$dir/data" | tail -1) ;;
  esac
  ONAIR_TOKEN=$(curl -sf -X POST "$ONAIR_URL/v1/access_token/$ONAIR_KEY" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
    die "onair: no access token"
}

# onair_create_stream → prints "ID STREAM_KEY PLAYBACK_URL"
# Streams are created with "mode": "passthrough" (no ABR transcoding): the
# benchmarks compare packaging and serving with nginx-rtmp, which does not
# transcode, and playback_url is then a media playlist. ONAIR_STREAM_BODY
# overrides the request body.
onair_create_stream() {
  local body=${ONAIR_STREAM_BODY:-'{"mode": "passthrough"}'}
  curl -sf -X POST -H "Authorization: Bearer $ONAIR_TOKEN" -d "$body" "$ONAIR_URL/v1/live-streams" |
    $PY -c 'import json,sys; s=json.load(sys.stdin)["stream"]; print(s["id"], s["stream_key"], s["playback_ids"][0]["playback_url"])' ||
    die "onair: stream creation failed"
}

# ---------------------------------------------------------------- nginx-rtmp

# nginx_start [hls_playlist_length_seconds]
# Sets NGINX_PID NGINX_HTTP_PORT NGINX_RTMP_PORT NGINX_URL NGINX_ROOT.
# Static files live under $NGINX_ROOT (served at /), HLS under $NGINX_ROOT/hls
# (playlist /hls/KEY.m3u8, segments /hls/KEY-N.ts).
nginx_start() {
  local playlen=${1:-6}
  [ -f "$NGINX_RTMP_MODULE" ] || die "no $NGINX_RTMP_MODULE (apt-get install libnginx-mod-rtmp)"
  local dir=$BENCH_TMP/nginx
  NGINX_ROOT=$dir/www
  mkdir -p "$dir/logs" "$dir/tmp" "$NGINX_ROOT/hls"
  chmod 777 "$NGINX_ROOT/hls" "$dir/tmp"
  chmod 755 "$dir" "$NGINX_ROOT"
  NGINX_HTTP_PORT=$(free_port)
  NGINX_RTMP_PORT=$(free_port)
  NGINX_URL=http://127.0.0.1:$NGINX_HTTP_PORT
  # Tuned the way a production nginx is (sendfile, no access log, long
  # keep-alive) so the baseline is not handicapped.
  cat >"$dir/nginx.conf" <<EOF
load_module $NGINX_RTMP_MODULE;
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
rtmp {
  server {
    listen 127.0.0.1:$NGINX_RTMP_PORT;
    application live {
      live on;
      hls on;
      hls_path $NGINX_ROOT/hls;
      hls_fragment 1s;
      hls_playlist_length ${playlen}s;
    }
  }
}
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  types { application/json json; }
  server {
    listen 127.0.0.1:$NGINX_HTTP_PORT;
    root $NGINX_ROOT;
    location /hls {
      types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
      root $NGINX_ROOT;
      add_header Cache-Control no-cache;
      # as onair sends it: players on another origin (bench/playerlag.sh)
      add_header Access-Control-Allow-Origin *;
    }
  }
}
EOF
  echo ok >"$NGINX_ROOT/ping"
  chmod 644 "$NGINX_ROOT/ping"
  nice -n "$BENCH_NICE" taskset -c "$SERVER_CPU" nginx -p "$dir" -c "$dir/nginx.conf" \
    >"$dir/logs/stdout.log" 2>"$dir/logs/stderr.log" &
  NGINX_PID=$!
  bench_track "$NGINX_PID"
  wait_http "$NGINX_URL/ping" 15 || { cat "$dir/logs/"*.log >&2; die "nginx did not start"; }
  sleep 0.5   # the cache manager and loader processes start just after the worker
  proc_watch "$NGINX_PID"
}

# floor_start → bench/floorserve.c (the least work per HLS request any server
# can do) serving nginx-rtmp's HLS files, pinned like the servers; sets
# FLOOR_PID and F_PL (the playlist URL of push_both's nginx stream).
# nginx_start and push_both first.
floor_start() {
  cc -O2 -o "$BENCH_TMP/floorserve" "$BENCH_DIR/floorserve.c" || die "cannot build bench/floorserve.c"
  local port; port=$(free_port)
  nice -n "$BENCH_NICE" taskset -c "$SERVER_CPU" "$BENCH_TMP/floorserve" "$port" "$NGINX_ROOT/hls" \
    >"$BENCH_TMP/floorserve.log" 2>&1 &
  FLOOR_PID=$!
  bench_track "$FLOOR_PID"
  F_PL=http://127.0.0.1:$port/hls/bench.m3u8
  wait_http "$F_PL" 15 || die "floorserve did not start"
  proc_watch "$FLOOR_PID"
}

# ---------------------------------------------------------------- media

# A pre-encoded ~1 Mbps 720p30 H.264 + AAC FLV with a keyframe every second,
# made once (cached in $BENCH_MEDIA_DIR) so publishers can push it with
# -c copy and cost almost no CPU themselves.
BENCH_MEDIA_DIR=${BENCH_MEDIA_DIR:-/tmp/onair-bench-media}
bench_media() {
  local audio=${BENCH_AUDIO:-aac} f acodec
  case $audio in
    aac) f=$BENCH_MEDIA_DIR/test-1mbps-30s.flv acodec=aac ;;
    mp3) f=$BENCH_MEDIA_DIR/test-1mbps-30s-mp3.flv acodec=libmp3lame ;;
    *) die "BENCH_AUDIO is aac or mp3" ;;
  esac
  if [ ! -s "$f" ]; then
    mkdir -p "$BENCH_MEDIA_DIR"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i "testsrc2=size=1280x720:rate=30" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
      -c:v libx264 -preset veryfast -b:v 1000k -maxrate 1000k -bufsize 1000k \
      -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p \
      -c:a "$acodec" -b:a 96k -f flv "$f.tmp" && mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# push_loop URL LOGFILE → starts an ffmpeg pushing the media file in a loop
# (real time, copy), pinned to LOAD_CPU; sets PUSH_PID. (push_multi, below,
# with one output.)
push_loop() { push_multi "$2" "$1"; }

# push_multi LOGFILE URL... → one ffmpeg reading the media file once (real
# time, loop) and copying it to every URL, pinned to LOAD_CPU; sets PUSH_PID.
# One demuxer for many outputs costs far less than one ffmpeg per stream, so
# 100 publishers fit on the load core. If one output fails, all of this
# process's outputs stop (counted as dead publishers by the caller).
push_multi() {
  local log=$1 media u outs=(); shift
  media=$(bench_media)
  for u in "$@"; do outs+=(-map 0 -c copy -f flv "$u"); done
  taskset -c "$LOAD_CPU" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
    -i "$media" "${outs[@]}" >"$log" 2>&1 &
  PUSH_PID=$!
  bench_track "$PUSH_PID"
}

# push_both N → one onair stream and nginx-rtmp's "bench" stream, each fed
# the bench media by push_loop, both with ≥ N segments; sets O_PL and N_PL
# (their playlist URLs). onair_start and nginx_start first.
push_both() {
  local skey
  read -r _ skey O_PL < <(onair_create_stream)
  N_PL=$NGINX_URL/hls/bench.m3u8
  push_loop "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$skey" "$BENCH_TMP/push-onair.log"
  push_loop "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench" "$BENCH_TMP/push-nginx.log"
  wait_segments "$O_PL" "$1" 30 || die "onair: no $1 segments after 30 s"
  wait_segments "$N_PL" "$1" 30 || die "nginx: no $1 segments after 30 s"
}

# wait_segments PLAYLIST_URL N MAX_SECONDS → 0 once the playlist lists ≥ N segments
wait_segments() {
  local url=$1 n=$2 max=$3 i c
  for i in $(seq $((max * 5))); do
    c=$(curl -sf "$url" 2>/dev/null | grep -c '^#EXTINF' || true)
    [ "${c:-0}" -ge "$n" ] && return 0
    sleep 0.2
  done
  return 1
}

# ratio A B → A/B with 2 decimals ("n/a" when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

# ---------------------------------------------------------------- wrk

# wrk_run OUTFILE [wrk args...] → runs wrk pinned to LOAD_CPU with --latency,
# keeps its output in OUTFILE and sets WRK_RPS WRK_P50_MS WRK_P99_MS
# WRK_BAD (non-2xx/3xx responses + socket errors) WRK_MBPS (transfer MB/s).
# With WRK_SERVER_PID set, also WRK_CPU_PCT (that server's CPU use during the
# run, % of one core) and WRK_RPCS (requests per server CPU-second), which
# stay meaningful when other load on the machine steals the server's core.
# hget_build → path of bench/hget.c compiled into $BENCH_TMP (once per run)
hget_build() {
  local bin=$BENCH_TMP/hget
  [ -x "$bin" ] || cc -O2 -o "$bin" "$BENCH_DIR/hget.c" || die "cannot build bench/hget.c"
  echo "$bin"
}

wrk_run() {
  local out=$1 t0 t1 c0=0 c1=0 client=(wrk --latency); shift
  [ "${WRK_CLIENT:-wrk}" = hget ] && client=("$(hget_build)")
  t0=$(date +%s.%N)
  [ -n "${WRK_SERVER_PID:-}" ] && c0=$(proc_ticks "$WRK_SERVER_PID")
  nice -n "$BENCH_NICE" taskset -c "$LOAD_CPU" "${client[@]}" "$@" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed"; }
  [ -n "${WRK_SERVER_PID:-}" ] && c1=$(proc_ticks "$WRK_SERVER_PID")
  t1=$(date +%s.%N)
  WRK_RPS=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")
  WRK_P50_MS=$(wrk_pct_ms "$out" 50%)
  WRK_P99_MS=$(wrk_pct_ms "$out" 99%)
  WRK_BAD=$(awk '/Non-2xx or 3xx responses:/{n+=$NF} /Socket errors:/{gsub(",", ""); n+=$4+$6+$8+$10} END{print n+0}' "$out")
  WRK_MBPS=$(awk '/^Transfer\/sec:/{v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[A-Za-z]+$/, "", v);
      m = (u=="GB") ? 1024 : (u=="MB") ? 1 : (u=="KB") ? 1/1024 : 1/1048576; printf "%.1f", v*m}' "$out")
  WRK_CPU_PCT=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
      'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
  WRK_RPCS=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v r="$WRK_RPS" -v out="$out" \
      'BEGIN { while ((getline l < out) > 0) if (l ~ /requests in/) { split(l, f, " "); n = f[1] }
               if (b - a <= 0) print "n/a"; else printf "%.0f", n / ((b - a) / hz) }')
}

# wrk_pct_ms FILE "99%" → that latency percentile in ms
wrk_pct_ms() {
  awk -v p="$2" '$1 == p { v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
      m = (u=="us") ? 0.001 : (u=="ms") ? 1 : (u=="s") ? 1000 : (u=="m") ? 60000 : 1; printf "%.2f", v*m }' "$1"
}

# res_median FILE NAME COLUMN → median of COLUMN over the lines of FILE whose
# first field is NAME ("n/a" if none). Used to compare alternating rounds.
res_median() {
  awk -v n="$2" -v c="$3" '$1 == n { v[++k] = $c } END {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    if (k == 0) print "n/a"; else if (k % 2) print v[(k + 1) / 2]; else print (v[k / 2] + v[k / 2 + 1]) / 2 }' "$1"
}
# res_all FILE NAME COLUMN → the values of every round, comma-separated
res_all() { awk -v n="$2" -v c="$3" '$1 == n { printf "%s%s", s, $c; s = "," }' "$1"; }
