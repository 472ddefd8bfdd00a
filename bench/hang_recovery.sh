#!/usr/bin/env bash
# Benchmark: hang to recovered for a worker that freezes (SIGSTOP), from its
# last beat to the first beat of its replacement. Side by side, in the same
# run and the same booted container (tests/system/run's), frozen at the
# same moment in each trial:
#   - healthmon (the release .deb), worker keys heartbeat_file,
#     heartbeat_max_age = "5s", health_interval = "1s", health_failures = 1,
#     restart_delay = "100ms" (systemd's RestartSec= default, to compare like
#     with like), max_restarts = 1000 (each trial is a restart), the default
#     check_interval (60 s); the worker runs as a
#     transient unit of its own;
#   - systemd: Type=notify, WatchdogSec=5s, Restart=always, otherwise
#     defaults (NotifyAccess=main, RestartSec=100ms, WatchdogSignal=SIGABRT);
#   - healthmon in fork mode on the host (target/release/healthmon on a
#     private session bus), the same worker keys.
# The worker (one python script for both) beats every 100 ms: it touches the
# heartbeat file or sends WATCHDOG=1, then appends "PID MONOTONIC" to a log,
# so both figures are measured on one clock, independent of polling.
#
# Needs root, the release .deb (packaging/build) and what tests/system/run
# needs. Usage: bench/hang_recovery.sh [TRIALS]   (default 7)
# HEALTHMON_BENCH_DEB=PATH measures another .deb.
set -uo pipefail
TRIALS=${1:-7}
# The system test's helpers (boot, ct, cleanup, ...); sourcing runs no test.
# shellcheck source=../tests/system/run
. "$(dirname "$0")/../tests/system/run"
. "$REPO/bench/common.sh"
# Another .deb to measure (default: this tree's, from packaging/build).
DEB=${HEALTHMON_BENCH_DEB:-$DEB}

BENCH=/var/lib/hm-bench
BEAT=/usr/local/bin/hm-bench-beat
HOST=""
HOST_PID=""
HOST_JOB=""

# The worker keys under test, for the worker BEAT beating into LOG and FILE.
worker_keys() {
  cat <<EOF
[workers.hm_bench]
command = ["$1", "file", "$2", "$3"]
heartbeat_file = "$3"
heartbeat_max_age = "5s"
health_interval = "1s"
health_failures = 1
restart_delay = "100ms"
# Every trial is a restart: no budget may run out during the benchmark.
max_restarts = 1000
EOF
}

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
  worker_keys "$BEAT" "$BENCH/healthmon.log" "$BENCH/heartbeat" | put /etc/healthmon/conf.d/60-bench.toml
  ct systemctl daemon-reload && ct systemctl start hm-bench-wd.service && ct systemctl reload healthmon.service
}

# Fork mode on the host: healthmon on a private session bus, its own database.
start_host() {
  HOST=$(mktemp -d /var/tmp/hm-bench-fork.XXXXXX)
  beat_script >"$HOST/beat" && chmod 755 "$HOST/beat"
  { printf '[monitor]\ndatabase = "%s"\n\n' "$HOST/health.db"
    worker_keys "$HOST/beat" "$HOST/fork.log" "$HOST/heartbeat"; } >"$HOST/healthmon.toml"
  dbus-run-session -- /bin/sh -c 'echo $$ > "$0/pid"; exec "$1" --bus session --config "$0/healthmon.toml"' \
    "$HOST" "${HM_BIN:-$REPO/target/release/healthmon}" 2>"$HOST/stderr" &
  HOST_JOB=$!
  wait_until 10 "the host healthmon's pid" test -s "$HOST/pid" && HOST_PID=$(cat "$HOST/pid")
}

stop_host() {
  # A graceful stop: healthmon stops its worker, then the bus session ends.
  [[ -n $HOST_PID ]] && kill -TERM "$HOST_PID" 2>/dev/null && wait "$HOST_JOB"
  [[ -n $HOST ]] && rm -rf "$HOST"
}

# on WHERE CMD...: runs CMD in the container ("ct") or on the host.
on() { if [[ $1 == ct ]]; then shift; ct "$@"; else shift; timeout 60 "$@"; fi; }

# A subject is WHERE:LOG.
log_of() { echo "${1#*:}"; }

# The pid that beat last in a subject's log, and when.
last_beat() { on "${1%%:*}" tail -n 1 "$(log_of "$1")"; }

# Beating for 3 s with one pid: a finished start (healthmon's startup window ends at the first pass).
settled() {
  local line pid
  line=$(last_beat "$1") || return 1
  pid=${line%% *}
  [[ -n $pid ]] && on "${1%%:*}" awk -v p="$pid" '$1 == p {n++} END {exit !(n >= 30)}' "$(log_of "$1")"
}

# Seconds from the last beat of PID to the first beat of another pid.
recovery() {
  on "${1%%:*}" awk -v p="$2" '$1 == p {last = $2} $1 != p && last && !first {first = $2} END {if (!first) exit 1; printf "%.3f\n", first - last}' \
    "$(log_of "$1")"
}

# Freezes a subject's beating process, printing its pid.
freeze() {
  local line
  line=$(last_beat "$1") && on "${1%%:*}" kill -STOP "${line%% *}" && echo "${line%% *}"
}

main_bench() {
  require_root
  [[ -f $DEB ]] || { say "no $DEB: run packaging/build first"; exit 1; }
  host_tools && build_base || exit 1
  trap 'stop_host; cleanup' EXIT
  make_run_root
  cp "$DEB" "$ROOT/root/"
  boot || exit 1
  CT_TIMEOUT=300 ct dpkg -i "/root/$(basename "$DEB")" >/dev/null || { say "dpkg -i failed"; exit 1; }
  wait_until 60 "healthmon active" is_active healthmon.service || exit 1
  setup || { say "setup failed"; exit 1; }
  start_host || { say "the host healthmon did not start"; exit 1; }
  local subjects=("ct:$BENCH/healthmon.log" "ct:$BENCH/systemd.log" "host:$HOST/fork.log")
  local names=("healthmon, transient unit (container)" "systemd WatchdogSec=5s (container)" "healthmon, fork mode (host)")
  local -a times=("" "" "")
  local trial i pids line
  for ((trial = 1; trial <= TRIALS; trial++)); do
    for i in 0 1 2; do
      wait_until 60 "${names[i]} beating" settled "${subjects[i]}" || exit 1
    done
    pids=()
    for i in 0 1 2; do pids+=("$(freeze "${subjects[i]}")"); done
    line="trial $trial:"
    for i in 0 1 2; do
      wait_until 60 "${names[i]} recovered" recovery "${subjects[i]}" "${pids[i]}" || exit 1
      times[i]+="$(recovery "${subjects[i]}" "${pids[i]}") "
      line+=" $(recovery "${subjects[i]}" "${pids[i]}") s;"
    done
    echo "$line"
  done
  echo "median over $TRIALS trials, last beat to first beat of the replacement (threshold 5 s;"
  echo "healthmon: heartbeat_max_age 5s, health_interval 1s, health_failures 1, check_interval 60s):"
  for i in 0 1 2; do
    printf '  %-40s %s s\n' "${names[i]}" "$(tr ' ' '\n' <<<"${times[i]}" | grep . | median)"
  done
}

main_bench
