#!/usr/bin/env bash
# Workers as transient units, measured in the booted container of the
# system test (tests/system/run's helpers: the cached Debian tree, a real
# systemd as PID 1, the release .deb installed with dpkg). bench/units.py
# runs inside it and prints healthmon and systemd side by side: crash ->
# restart of one worker, 100 workers killed at once, adopting 100 workers
# after `systemctl restart healthmon`.
#
# Usage (root, from the repository root, after packaging/build):
#   bench/units.sh [KILLS] [ROUNDS]        (default 30 kills, 5 rounds)
# HEALTHMON_BIN=target/release/healthmon puts that binary over the
# packaged one before the first start (to measure a change without
# rebuilding the packages).
#
# Figures of one run, 2026-12-03 18:14 UTC, systemd 252, healthmon 0.2.0
# (commit "A waiting or given-up worker's message ends with its last output
# again"), load average 0.7, `bench/units.sh 20 3`:
#   1. crash -> restart, one worker   healthmon median   28.4 ms   systemd   22.2 ms   ratio 1.28
#   2. 100 killed at once, last back  healthmon median 1327 ms     systemd  714 ms     ratio 1.86
#      CPU over the 100 restarts and 2 s after: healthmon 0.60-0.65 s and
#      PID 1 0.83-0.89 s; when systemd restarts them, PID 1 0.41-0.48 s
#   3. adopt 100 after `systemctl restart healthmon` (same pids, no restart
#      counted), until ListWorkers shows all 100: median 378 ms (342-497)
# Before this commit's series (15:01 UTC, load 6-9): 54.4 vs 21.1 ms (2.58),
# 4292 vs 1224 ms (3.51), adopt 893 ms. The goals are 1.25x for 1 and 2.
set -uo pipefail
# shellcheck source=tests/system/run
source "$(dirname "${BASH_SOURCE[0]}")/../tests/system/run"
# shellcheck source=bench/common.sh
source bench/common.sh

require_root
host_tools || exit 1
[[ -f $DEB ]] || { echo "no $DEB: run packaging/build first" >&2; exit 1; }
build_base || exit 1
trap cleanup EXIT
trap 'exit 130' INT TERM
make_run_root
cp "$DEB" "$ROOT/root/"
cp "$REPO/bench/units.py" "$ROOT/root/units.py"
boot || exit 1
CT_TIMEOUT=120 ct dpkg -i "/root/$(basename "$DEB")" >/dev/null || { echo "dpkg -i failed" >&2; exit 1; }
put_healthmon_bin || exit 1
wait_until 30 "healthmon active" is_active "$UNIT" || { echo "healthmon.service is not active" >&2; exit 1; }
CT_TIMEOUT=1800 ct python3 /root/units.py "${1:-30}" "${2:-5}"
