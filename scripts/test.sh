#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12: installs the system packages the tests use (real
# Redis, GStreamer RTSP server, FFmpeg, Chromium for the page tests, npm for a WHIP client that is not ours;
# a C compiler and Python's headers for the relay's compiled send, relay.webrtc._fastsend),
# the virtualenv with test extras, then runs pytest. Every package a fixture names in
# tests/support/system_deps.py or rtsp_camera_server.py is on this list (tests/test_system_deps.py
# checks that): the test cameras' clockoverlay is in gstreamer1.0-x, not in any plugins-* package.
# Arguments go to pytest (e.g. -k registry).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_apt_packages python3 python3-venv redis-server ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x chromium nginx libnginx-mod-rtmp \
  openssl coreutils build-essential python3-dev
ensure_venv test
# Browser-side clients that are not ours (the npm whip-whep WHIP client), for the WHIP tests.
command -v npm >/dev/null 2>&1 || ensure_apt_packages npm
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
ensure_viewer_vendor  # hls.js for the station page
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
