#!/bin/sh
# Crash-to-restart latency of healthmon's worker supervisor vs supervisord
# (Debian's `supervisor` package), restart_delay = 0, 50 kills each.
# Usage: bench/restart_latency.sh [KILLS]   (from the repository root)
set -eu
command -v supervisord >/dev/null || { echo "needs supervisord: apt-get install -y supervisor" >&2; exit 1; }
cargo build --release --quiet --example restart_latency
exec python3 "$(dirname "$0")/restart_latency.py" target/release/examples/restart_latency "${1:-50}"
