#!/usr/bin/env bash
# bench/ladder.sh — the transcoding ladder (issue 5).
#
# 1. CPU: onair's `auto` ladder on a 1080p30 source (source passed through +
#    720p/480p/360p with libx264) against the ffmpeg CLI producing the same
#    rungs in the same run: 1080p copied, one decode, filter_complex
#    split + scale, the same x264 preset/tuning/bitrates, HLS out. Both are
#    fed the same pre-encoded file in real time (-re, -c copy), so only the
#    ladder's work is counted. Prints the CPU-seconds of each and the ratio
#    (target: onair <= 0.9x ffmpeg). The ffmpeg CLI runs twice: with its
#    default threading and with one x264 thread per rung (onair's default).
# 2. Channels: how many 720p30 -> 3-rung channels (source + 480p/360p/240p)
#    run in real time on this machine (no dropped frames over the run).
# 3. Latency: hlslag (../shared/tools/hlslag.py) against the source rendition
#    and against the 480p rung of the same kind of stream: what transcoding
#    adds to the publish lag.
#
#   bench/ladder.sh                      # 30 s CPU runs, 20 s per channel step
#   BENCH_SECONDS=20 MAX_CHANNELS=4 bench/ladder.sh
#   PRESET=veryfast (the onair transcode_preset and the ffmpeg -preset)
#
# The servers are not pinned (the ladder needs both cores); note the load
# average the script prints next to the numbers: the machine may be shared.
ENV_SECONDS=$SECONDS
SERVER_CPU=${SERVER_CPU:-0-$(($(nproc) - 1))}
LOAD_CPU=${LOAD_CPU:-0-$(($(nproc) - 1))}
. "$(dirname "$0")/common.sh"
bench_require ffmpeg ffprobe curl taskset

DUR=${BENCH_SECONDS:-30}
[ "$ENV_SECONDS" -gt 0 ] && DUR=$ENV_SECONDS
STEP=${STEP_SECONDS:-20}
MAX_CHANNELS=${MAX_CHANNELS:-6}
PRESET=${PRESET:-veryfast}
HLSLAG=${HLSLAG:-}
for c in "$REPO_DIR/../shared/tools/hlslag.py" /work/shared/tools/hlslag.py; do
  [ -z "$HLSLAG" ] && [ -f "$c" ] && HLSLAG=$c
done

machine_info
echo "load before: $(loadavg)"

# ---------------------------------------------------------------- sources

# Pre-encoded sources (the pusher only copies them in real time).
SRC1080=$BENCH_TMP/src1080.flv
SRC720=$BENCH_TMP/src720.flv
make_source() {  # SIZE SECONDS FILE
  ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=$1:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$2" \
    -c:v libx264 -preset veryfast -g 30 -keyint_min 30 -sc_threshold 0 -b:v 6000k \
    -c:a aac -b:a 128k -f flv "$3"
}
echo "-- encoding the sources (not measured)" >&2
make_source 1920x1080 "$DUR" "$SRC1080"
make_source 1280x720 "$((STEP + 10))" "$SRC720"

push_copy() {  # FILE RTMP_URL → PUSH_PID (a child of this shell, tracked)
  ffmpeg -hide_banner -nostdin -loglevel error -re -i "$1" -c copy -f flv "$2" \
    >/dev/null 2>&1 &
  PUSH_PID=$!
  bench_track "$PUSH_PID"
}

# CPU seconds of a command and its children (user + system).
cpu_of() {
  $PY - "$@" <<'EOF'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.2f}")
EOF
}

api() {  # METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $ONAIR_TOKEN" ${3:+-d "$3"} "$ONAIR_URL$2"
}

metric_sum() {  # NAME STREAM_ID → sum of the series of that stream
  curl -sf "$ONAIR_URL/metrics" | awk -v n="$1" -v s="stream=\"$2\"" \
    'index($0, n "{") == 1 && index($0, s) { v += $NF } END { print v + 0 }'
}

# ---------------------------------------------------------------- 1. CPU

# A 20 s rung queue: on a starved machine frames wait instead of being
# dropped (the ffmpeg CLI with -re likewise just falls behind), so both do
# all the work and their CPU-seconds compare. The dropped-frames count shows
# whether that held.
onair_start --transcode-preset "$PRESET" --transcode-queue-frames 600
ONAIR_STREAM_BODY='{"mode": "auto"}'
read -r SID SKEY PURL < <(onair_create_stream)
LOAD1=$(loadavg)
echo "-- onair: auto ladder, ${DUR}s of 1080p30" >&2
C0=$(proc_ticks "$ONAIR_PID")
push_copy "$SRC1080" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$SKEY"
wait "$PUSH_PID" || true
# the queued frames through the encoders (until onair's CPU use stops rising)
prev=-1; cur=$(proc_ticks "$ONAIR_PID")
while [ "$cur" -gt $((prev + CLK_TCK / 10)) ]; do sleep 2; prev=$cur; cur=$(proc_ticks "$ONAIR_PID"); done
C1=$(proc_ticks "$ONAIR_PID")
ONAIR_CPU=$(awk -v a="$C0" -v b="$C1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
LADDER=$(curl -sf "$PURL" | grep -A1 STREAM-INF | grep -v '^#' | grep -v -- -- | cut -d/ -f1 | tr '\n' ' ')
ONAIR_DROPS=$(metric_sum onair_transcode_dropped_frames_total "$SID")
bench_stop "$ONAIR_PID"

# The same ladder with the ffmpeg CLI: one decode, split + scale, same x264.
X264="-preset $PRESET -tune zerolatency -force_key_frames source -x264-params keyint=infinite:scenecut=0"
FF_OUT=$BENCH_TMP/ffladder
mkdir -p "$FF_OUT"
ff_ladder() {  # extra x264 args for every rung
  rm -f "$FF_OUT"/*
  # shellcheck disable=SC2086
  cpu_of ffmpeg -hide_banner -nostdin -loglevel error -re -i "$SRC1080" \
    -filter_complex "[0:v]split=3[a][b][c];[a]scale=-2:720:flags=bilinear[v720];[b]scale=-2:480:flags=bilinear[v480];[c]scale=-2:360:flags=bilinear[v360]" \
    -map 0:v -map 0:a -c copy -f hls -hls_time 1 -hls_list_size 10 "$FF_OUT/src.m3u8" \
    -map "[v720]" -map 0:a -c:a copy -c:v libx264 $X264 "$@" -b:v 2800k -maxrate 2800k -bufsize 5600k -f hls -hls_time 1 -hls_list_size 10 "$FF_OUT/720.m3u8" \
    -map "[v480]" -map 0:a -c:a copy -c:v libx264 $X264 "$@" -b:v 1400k -maxrate 1400k -bufsize 2800k -f hls -hls_time 1 -hls_list_size 10 "$FF_OUT/480.m3u8" \
    -map "[v360]" -map 0:a -c:a copy -c:v libx264 $X264 "$@" -b:v 800k -maxrate 800k -bufsize 1600k -f hls -hls_time 1 -hls_list_size 10 "$FF_OUT/360.m3u8"
}
echo "-- ffmpeg CLI: same ladder, default threads" >&2
LOAD2=$(loadavg)
FF_CPU=$(ff_ladder)
echo "-- ffmpeg CLI: same ladder, -threads 1 per rung" >&2
FF1_CPU=$(ff_ladder -threads 1)
LOAD3=$(loadavg)

# ---------------------------------------------------------------- 2. channels

onair_start --transcode-preset "$PRESET"
CHANNELS_OK=0
CH_LINES=""
for n in $(seq 1 "$MAX_CHANNELS"); do
  ids=() pids=()
  for i in $(seq 1 "$n"); do
    read -r id key _ < <(onair_create_stream)
    ids+=("$id")
    push_copy "$SRC720" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$key"
    pids+=("$PUSH_PID")
  done
  sleep 5 # start-up (ladders appear), then count over the rest
  d0=0
  for id in "${ids[@]}"; do d0=$((d0 + $(metric_sum onair_transcode_dropped_frames_total "$id"))); done
  c0=$(proc_ticks "$ONAIR_PID"); t0=$(date +%s.%N)
  sleep "$((STEP - 5))"
  c1=$(proc_ticks "$ONAIR_PID"); t1=$(date +%s.%N)
  d1=0
  for id in "${ids[@]}"; do d1=$((d1 + $(metric_sum onair_transcode_dropped_frames_total "$id"))); done
  cores=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
  line="channels=$n onair_cores=$cores dropped_frames=$((d1 - d0)) load=$(loadavg)"
  echo "-- $line" >&2
  CH_LINES+="$line"$'\n'
  for p in "${pids[@]}"; do bench_stop "$p"; done
  for id in "${ids[@]}"; do api POST "/v1/live-streams/$id/stop" >/dev/null 2>&1 || true; done
  if [ $((d1 - d0)) -eq 0 ]; then CHANNELS_OK=$n; else break; fi
  sleep 3
done

# ---------------------------------------------------------------- 3. latency

LAG_SRC="(hlslag.py not found)" LAG_RUNG=""
if [ -f "${HLSLAG:-}" ]; then
  # hlslag reads every segment after the push: keep them all in the window
  bench_stop "$ONAIR_PID"
  onair_start --transcode-preset "$PRESET" --hls-window "$((STEP + 30))"
  lag() {  # PLAYLIST_SUFFIX
    read -r _ key purl < <(onair_create_stream)
    local base=${purl%/index.m3u8}
    taskset -c "$LOAD_CPU" $PY "$HLSLAG" --push "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$key" \
      --playlist "$base/$1/index.m3u8" --seconds "$STEP" 2>"$BENCH_TMP/lag-$1.err" | tail -1 || true
  }
  echo "-- hlslag: source rendition of an auto stream" >&2
  LAG_SRC=$(lag source)
  echo "-- hlslag: its 480p rung" >&2
  LAG_RUNG=$(lag 480p)
fi

# 3b. The same push seen in every rendition: when does segment N appear in
# the 480p / 240p playlists, relative to the source's? (Polled every 10 ms,
# all three playlists in one loop; one 720p30 x264 push as hlslag's.)
read -r _ key purl < <(onair_create_stream)
RUNG_DELTA=$($PY - "${purl%/index.m3u8}" "rtmp://127.0.0.1:$ONAIR_RTMP_PORT/live/$key" "$STEP" <<'PYEOF'
import statistics, subprocess, sys, time, urllib.request
base, url, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
ff = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
    "-t", str(secs), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
    "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "2500k", "-c:a", "aac",
    "-f", "flv", url])
seen, names = {}, ("source", "480p", "240p")
end = time.time() + secs + 5
while time.time() < end:
    for r in names:
        try:
            text = urllib.request.urlopen(f"{base}/{r}/index.m3u8", timeout=2).read().decode()
        except Exception:
            continue
        now = time.time()
        for ln in text.splitlines():
            if ln and not ln.startswith("#"):
                seen.setdefault((r, ln.split(".")[0]), now)
    time.sleep(0.01)
ff.wait()
out = []
for r in names[1:]:
    d = sorted((seen[(r, s)] - t) * 1000 for (n, s), t in seen.items()
               if n == "source" and (r, s) in seen)
    if d:
        out.append(f"{r}: n={len(d)} median={statistics.median(d):.0f}ms "
                   f"p90={d[int(0.9 * (len(d) - 1))]:.0f}ms max={d[-1]:.0f}ms")
print("   ".join(out) or "no segments")
PYEOF
) || RUNG_DELTA="(failed)"

cat <<EOF

== ladder.sh summary (preset $PRESET, 1 s segments) ==
1. CPU, ${DUR}s of 1080p30 pushed in real time:
   onair auto ladder [$LADDER]: ${ONAIR_CPU} CPU-s (dropped frames: $ONAIR_DROPS)   load before: $LOAD1
   ffmpeg CLI, default threads:  ${FF_CPU} CPU-s   load before: $LOAD2
   ffmpeg CLI, -threads 1/rung:  ${FF1_CPU} CPU-s   load after: $LOAD3
   onair / ffmpeg(default): $(ratio "$ONAIR_CPU" "$FF_CPU")   onair / ffmpeg(-threads 1): $(ratio "$ONAIR_CPU" "$FF1_CPU")   (target <= 0.9)
2. 720p30 -> source + 480p/360p/240p channels in real time (no dropped frames over $((STEP - 5)) s):
${CH_LINES}   => $CHANNELS_OK channel(s)
3. publish lag (hlslag median/p90/max ms), same kind of auto stream:
   source: $LAG_SRC
   480p:   $LAG_RUNG
   rung segment published after the source's, same push: $RUNG_DELTA
load average after: $(loadavg)
EOF
