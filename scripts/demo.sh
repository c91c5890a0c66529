#!/usr/bin/env bash
# Quick start: the embedded node with live demo cameras for all 44 kecamatan.
# Creates .venv on first run; any argument goes to `pantau serve` (e.g. --port 9000, --no-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_venv
ensure_viewer_vendor
exec .venv/bin/pantau serve "$@"
