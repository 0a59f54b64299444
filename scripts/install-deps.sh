#!/usr/bin/env bash
# Installs the Debian packages onair needs to build, test and benchmark.
# Idempotent: only missing packages are installed; `apt-get update` runs at
# most once, and only when something is missing.
set -euo pipefail

PKGS=(
  # build
  build-essential pkg-config clang-14 libclang-rt-14-dev
  libuv1-dev libhttp-parser-dev libssl-dev libjansson-dev libsqlite3-dev
  libcurl4-openssl-dev libcmocka-dev zlib1g-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  libsrt-gnutls-dev # the flavour libavformat links: one libsrt per process
  # tests and tools
  python3 python3-pytest python3-pytest-xdist python3-requests python3-yaml curl sqlite3 openssl
  ffmpeg srt-tools rtmpdump gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
  # benchmarks: the nginx-rtmp baseline and the load generator
  wrk nginx libnginx-mod-rtmp
  # browser playback test (tests/browser): hls.js in headless Chromium
  chromium nodejs
  # VLC playback test (tests/e2e/test_vlc_playback.py): libvlc's own HLS
  # client, through its Python binding (the vlc binary refuses to run as root)
  python3-vlc vlc-plugin-base
  # segment-numbering test (tests/e2e/test_segment_numbers.py): a server
  # restarted with its clock set back, through libfaketime
  faketime
  # upload tests (tests/e2e/test_upload.py): real FTP and SFTP servers, run by
  # the tests on loopback ports (s3rver and azurite come from tests/storage, npm)
  vsftpd openssh-server openssh-client python3-paramiko
)
# Debian's nodejs comes without npm (a separate package); some images ship a
# nodejs that bundles npm and conflicts with Debian's: only ask for it when
# there is no npm at all.
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Daemons (vsftpd, ssh) must not start as system services on :21/:22 —
# the tests run their own. policy-rc.d tells invoke-rc.d not to start them.
policy_rc=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
  $SUDO chmod 755 "$policy_rc"
  own_policy=1
fi
trap 'if [ "$own_policy" = 1 ]; then $SUDO rm -f "$policy_rc"; fi' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The nginx package starts a system nginx on :80; benchmarks run their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
for svc in vsftpd ssh; do # upload tests: no system FTP/SSH daemon holding the ports
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
