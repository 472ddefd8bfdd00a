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
# Figures of one run, 2026-12-03 20:50 UTC, systemd 252, healthmon 0.2.0
# (commit "A cycle yields after every 100 workers' findings"), load
# average 0.25, `bench/units.sh 20 3`:
#   1. crash -> restart, one worker   healthmon median   19.7 ms   systemd   17.8 ms   ratio 1.11
#   2. 100 killed at once, last back  healthmon median  518 ms     systemd  340 ms     ratio 1.52
#      CPU over the 100 restarts and 2 s after: healthmon 0.26-0.29 s and
#      PID 1 0.27-0.37 s; when systemd restarts them, PID 1 0.22-0.23 s
#   3. adopt 100 after `systemctl restart healthmon` (same pids, no restart
#      counted), until ListWorkers shows all 100: median 258 ms (255-292)
# The same command at 21:05 with the crash alerts' journal reads 1.5 s after
# the crash instead of 100 ms (load 1.3): 20.3 vs 19.2 ms (1.06), 464 vs
# 360 ms (1.29), adopt 275 ms.
# At 18:14 (before a crashed unit was left failed and started again with
# StartUnit; its reset made systemd collect it, so the restart had to make
# it anew): 28.4 vs 22.2 ms (1.28), 1327 vs 714 ms (1.86), adopt 378 ms.
# Before the series of 2026-12-03 (15:01 UTC, load 6-9): 54.4 vs 21.1 ms
# (2.58), 4292 vs 1224 ms (3.51), adopt 893 ms. The goals are 1.25x for 1 and 2.
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
