#!/bin/sh
# Hang-to-recovered time with `watchdog = "5s"` in fork mode (healthmon's
# own notify socket), at check_interval = 60s; median of RUNS (default 7).
# Usage: bench/watchdog_hang.sh [RUNS]   (from the repository root; needs dbus-daemon)
set -eu
command -v dbus-daemon >/dev/null || { echo "needs dbus-daemon: apt-get install -y dbus" >&2; exit 1; }
cargo build --release --quiet --bin healthmon
exec python3 "$(dirname "$0")/watchdog_hang.py" target/release/healthmon "${1:-7}"
