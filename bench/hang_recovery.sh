#!/usr/bin/env bash
# Benchmark: hang to recovered for a worker that freezes (SIGSTOP), from its
# last beat to the first beat of its replacement. Side by side, in the same
# run and the same booted container (tests/system/run's), frozen at the
# same moment in each trial:
#   - healthmon (the release .deb), worker keys heartbeat_file,
#     heartbeat_max_age = "5s", health_interval = "1s", health_failures = 1,
#     restart_delay = "100ms" (systemd's RestartSec= default, to compare like
#     with like), the default check_interval (60 s); the worker runs as a
#     transient unit of its own;
#   - systemd: Type=notify, WatchdogSec=5s, Restart=always, otherwise
#     defaults (NotifyAccess=main, RestartSec=100ms, WatchdogSignal=SIGABRT).
# The worker (one python script for both) beats every 100 ms: it touches the
# heartbeat file or sends WATCHDOG=1, then appends "PID MONOTONIC" to a log,
# so both figures are measured on one clock, independent of polling.
#
# Needs root, the release .deb (packaging/build) and what tests/system/run
# needs. Usage: bench/hang_recovery.sh [TRIALS]   (default 7)
set -uo pipefail
TRIALS=${1:-7}
# The system test's helpers (boot, ct, cleanup, ...); sourcing runs no test.
# shellcheck source=../tests/system/run
. "$(dirname "$0")/../tests/system/run"
. "$REPO/bench/common.sh"

BENCH=/var/lib/hm-bench
BEAT=/usr/local/bin/hm-bench-beat

beat_script() {
  cat <<'EOF'
#!/usr/bin/python3
# hm-bench-beat MODE LOG: beats every 100 ms, logging "PID MONOTONIC" each time.
import os, socket, sys, time
mode, log = sys.argv[1], sys.argv[2]
sock = None
if mode == "watchdog":
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(os.environ["NOTIFY_SOCKET"])
    sock.send(b"READY=1")
out = open(log, "a", buffering=1)
while True:
    if sock:
        sock.send(b"WATCHDOG=1")
    else:
        with open(sys.argv[3], "a"):
            os.utime(sys.argv[3])
    out.write(f"{os.getpid()} {time.monotonic():.6f}\n")
    time.sleep(0.1)
EOF
}

setup() {
  ct mkdir -p "$BENCH" || return 1
  beat_script | put "$BEAT" && ct chmod 755 "$BEAT" || return 1
  put /etc/systemd/system/hm-bench-wd.service <<EOF
[Service]
Type=notify
ExecStart=$BEAT watchdog $BENCH/systemd.log
WatchdogSec=5s
Restart=always
EOF
  put /etc/healthmon/conf.d/60-bench.toml <<EOF
[workers.hm_bench]
command = ["$BEAT", "file", "$BENCH/healthmon.log", "$BENCH/heartbeat"]
heartbeat_file = "$BENCH/heartbeat"
heartbeat_max_age = "5s"
health_interval = "1s"
health_failures = 1
restart_delay = "100ms"
EOF
  ct systemctl daemon-reload && ct systemctl start hm-bench-wd.service && ct systemctl reload healthmon.service
}

# The pid that beat last in LOG, and when.
last_beat() { ct tail -n 1 "$BENCH/$1.log"; }

# Beating for 3 s with one pid: a finished start (healthmon's startup window ends at the first pass).
settled() {
  local log=$1 line pid
  line=$(last_beat "$log") || return 1
  pid=${line%% *}
  [[ -n $pid ]] && ct awk -v p="$pid" '$1 == p {n++} END {exit !(n >= 30)}' "$BENCH/$log.log"
}

# Seconds from the last beat of PID to the first beat of another pid in LOG.
recovery() {
  local log=$1 pid=$2
  ct awk -v p="$pid" '$1 == p {last = $2} $1 != p && last && !first {first = $2} END {if (!first) exit 1; printf "%.3f\n", first - last}' \
    "$BENCH/$log.log"
}

main_bench() {
  require_root
  [[ -f $DEB ]] || { say "no $DEB: run packaging/build first"; exit 1; }
  host_tools && build_base || exit 1
  trap cleanup EXIT
  make_run_root
  cp "$DEB" "$ROOT/root/"
  boot || exit 1
  CT_TIMEOUT=300 ct dpkg -i "/root/$(basename "$DEB")" >/dev/null || { say "dpkg -i failed"; exit 1; }
  wait_until 60 "healthmon active" is_active healthmon.service || exit 1
  setup || { say "setup failed"; exit 1; }
  local hm=() sd=() trial
  for ((trial = 1; trial <= TRIALS; trial++)); do
    wait_until 60 "healthmon's worker beating" settled healthmon || exit 1
    wait_until 60 "systemd's unit beating" settled systemd || exit 1
    local hm_pid sd_pid
    hm_pid=$(last_beat healthmon) sd_pid=$(last_beat systemd)
    hm_pid=${hm_pid%% *} sd_pid=${sd_pid%% *}
    ct kill -STOP "$hm_pid" "$sd_pid"
    wait_until 60 "healthmon's recovery" recovery healthmon "$hm_pid" || exit 1
    wait_until 60 "systemd's recovery" recovery systemd "$sd_pid" || exit 1
    hm+=("$(recovery healthmon "$hm_pid")") sd+=("$(recovery systemd "$sd_pid")")
    echo "trial $trial: healthmon ${hm[-1]} s, systemd WatchdogSec ${sd[-1]} s"
  done
  echo "median over $TRIALS trials, last beat to first beat of the replacement (threshold 5 s):"
  echo "  healthmon heartbeat (health_interval 1s, check_interval 60s): $(printf '%s\n' "${hm[@]}" | median) s"
  echo "  systemd WatchdogSec=5s:                                    $(printf '%s\n' "${sd[@]}" | median) s"
}

main_bench
