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
# Figures of one run, 2026-12-03 15:01 UTC, on 2 cores shared with other
# builds and system tests (load average 6-9), systemd 252, healthmon 0.2.0,
# `bench/units.sh 30 5`:
#   1. crash -> restart, one worker   healthmon median   54.4 ms   systemd   21.1 ms   ratio 2.58
#   2. 100 killed at once, last back  healthmon median 4292 ms     systemd 1224 ms     ratio 3.51
#   3. adopt 100 after `systemctl restart healthmon` (same pids, no restart
#      counted), from the restart command until ListWorkers shows all 100:
#                                     healthmon median  892.6 ms (min 734, max 908; 3 rounds)
# The issue's goals (1.25x systemd for 1 and 2, <= 1 s for 3) are met for 3
# only. The machine was far from idle: systemd's own figures are 1.5-6x
# those of an idle host (about 15 ms and 206 ms).
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
