#!/usr/bin/env bash
# Benchmark: N (default 1,500) command workers under the shipped unit in the
# booted Debian container of tests/system/run (its functions are sourced),
# side by side with systemd itself running N equivalent units
# (`systemd-run --property=Restart=always --property=RestartSec=0 sleep infinity`).
#
# healthmon (the .deb from packaging/build, shipped unit and config, plus a
# drop-in with N workers `sleep infinity`, restart_delay = "0s"):
#   - start: `systemctl start healthmon` until ListWorkers shows N running;
#   - idle CPU over 60 s: healthmon's and PID 1's (utime + stime);
#   - PSS of healthmon (smaps_rollup);
#   - Status p50/p99 idle, and during a RunOnce cycle;
#   - ListWorkers round trips;
#   - mass recovery: kill -9 of every worker at once until N run again;
#   - graceful stop: `systemctl stop healthmon` (every worker stopped).
# systemd alone (healthmon stopped): N systemd-run units started one after
# another from a shell until all are active, PID 1's idle CPU over 60 s,
# kill -9 of every MainPID until all N are active again with new pids,
# `systemctl stop` of all of them.
#
# The D-Bus figures come from bench/workers_probe.rs run inside the
# container. Prints every figure and the ratios of the goals.
#
# Usage: bench/workers_1500.sh [N] [IDLE_SECONDS] [PHASES]   (root; from anywhere)
# HEALTHMON_BIN=target/release/healthmon: that binary over the packaged one.
# PHASES: "healthmon systemd" (default), or one of them alone.
set -uo pipefail
N=${1:-1500}
IDLE=${2:-60}
PHASES=${3:-healthmon systemd}
# shellcheck source=tests/system/run
. "$(dirname "${BASH_SOURCE[0]}")/../tests/system/run" # cds to the repository root
. bench/common.sh

BENCH_CONF=/etc/healthmon/conf.d/50-bench.toml
PROBE=/usr/local/bin/workers_probe

# CPU seconds (utime + stime) a process in the container has used so far.
cpu_seconds() {
  ct cat "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}'
}

# Prints "HEALTHMON_CPU PID1_CPU" (seconds) used over IDLE seconds.
idle_cpu() {
  local pid=$1 a1 b1 a2 b2
  a1=$(cpu_seconds "$pid"); b1=$(cpu_seconds 1)
  sleep "$IDLE"
  a2=$(cpu_seconds "$pid"); b2=$(cpu_seconds 1)
  awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" -v s="$IDLE" \
    'BEGIN {printf "%.3f %.3f\n", (a2 - a1) * 60 / s, (b2 - b1) * 60 / s}'
}

write_workers() {
  local i
  for ((i = 1; i <= N; i++)); do
    printf '[workers.w%04d]\ncommand = ["/bin/sleep", "infinity"]\nrestart_delay = "0s"\n\n' "$i"
  done | put "$BENCH_CONF"
}

# Active sdw-* units, and their MainPIDs.
sd_active() { ct systemctl list-units --no-legend --plain --state=active 'sdw-*.service' | wc -l; }
sd_pids() { ct systemctl show -p MainPID --value 'sdw-*.service' | grep -v '^0*$' | sort; }

# Waits until every sdw-* unit is active again with a pid not in $1; prints seconds.
sd_wait_recovered() {
  local old=$1 start=$SECONDS t0 fresh
  t0=$(date +%s.%N)
  while ((SECONDS - start < 600)); do
    fresh=$(sd_pids | comm -23 - "$old" | wc -l)
    if ((fresh >= N)) && (($(sd_active) >= N)); then
      awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f\n", e - s}'
      return
    fi
    sleep 0.2
  done
  echo "timeout"
}

bench_healthmon() {
  say "healthmon: $N workers"
  ct systemctl stop "$UNIT"
  write_workers
  CT_TIMEOUT=700 ct sh -c "$PROBE wait-running $N > /root/start.t" &
  local waiter=$!
  CT_TIMEOUT=600 ct systemctl start "$UNIT"
  wait "$waiter"
  HM_START=$(ct cat /root/start.t)
  HM_PID=$(main_pid)
  echo "healthmon: all $N running after $HM_START s (systemctl start to ListWorkers)"
  echo "soft fd limit of healthmon: $(ct grep 'Max open files' "/proc/$HM_PID/limits" | awk '{print $4 " (soft), " $5 " (hard)"}'), fds open: $(ct ls "/proc/$HM_PID/fd" | wc -l)"
  sleep 5
  read -r HM_CPU HM_PID1_CPU < <(idle_cpu "$HM_PID")
  echo "idle CPU per minute: healthmon $HM_CPU s, PID 1 $HM_PID1_CPU s (over $IDLE s)"
  HM_PSS=$(ct awk '/^Pss:/ {print $2}' "/proc/$HM_PID/smaps_rollup")
  echo "healthmon PSS: $HM_PSS kB ($(ct awk '/^VmRSS:/ {print $2}' "/proc/$HM_PID/status") kB RSS)"
  CT_TIMEOUT=300 ct "$PROBE" status 2000 | tee "$RUN/status-idle"
  CT_TIMEOUT=300 ct "$PROBE" status-cycle | tee "$RUN/status-cycle"
  CT_TIMEOUT=300 ct "$PROBE" list-workers 21
  ct sh -c "$PROBE pids | sort > /root/old.pids"
  HM_RECOVER=$(CT_TIMEOUT=700 ct sh -c "kill -9 \$(cat /root/old.pids); $PROBE wait-running $N /root/old.pids")
  echo "healthmon: kill -9 of all $N workers until all run again: $HM_RECOVER s"
  HM_STOP=$(CT_TIMEOUT=300 seconds_of ct systemctl stop "$UNIT")
  echo "healthmon: systemctl stop with $N workers: $HM_STOP s; result: $(unit_prop "$UNIT" ActiveState)/$(unit_prop "$UNIT" Result); worker units still active: $(ct systemctl list-units --no-legend --plain --state=active 'healthmon-*.service' | wc -l)"
}

bench_systemd() {
  say "systemd alone: $N units"
  local t0
  t0=$(date +%s.%N)
  CT_TIMEOUT=900 ct sh -c "for i in \$(seq -w 1 $N); do systemd-run --quiet --unit=sdw-\$i --property=Restart=always --property=RestartSec=0 /bin/sleep infinity || exit 1; done"
  local start=$SECONDS
  while (($(sd_active) < N)) && ((SECONDS - start < 600)); do sleep 0.2; done
  SD_START=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f\n", e - s}')
  echo "systemd: all $N units active after $SD_START s (systemd-run one after another)"
  sleep 5
  read -r _ SD_PID1_CPU < <(idle_cpu 1)
  echo "idle CPU per minute: PID 1 $SD_PID1_CPU s with $N units and no healthmon"
  sd_pids >"$RUN/sd-old.pids"
  ct sh -c "kill -9 $(tr '\n' ' ' <"$RUN/sd-old.pids")"
  SD_RECOVER=$(sd_wait_recovered "$RUN/sd-old.pids")
  echo "systemd: kill -9 of all $N MainPIDs until all active again: $SD_RECOVER s"
  SD_STOP=$(CT_TIMEOUT=300 seconds_of ct systemctl stop 'sdw-*.service')
  echo "systemd: systemctl stop of $N units: $SD_STOP s"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
p99_of() { sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$1"; }

main_bench() {
  require_root
  host_tools || exit 1
  [[ -f $DEB ]] || packaging/build || exit 1
  cargo build --release --quiet --example workers_probe || exit 1
  build_base || exit 1
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  make_run_root
  cp "$DEB" "$ROOT/root/"
  cp target/release/examples/workers_probe "$ROOT$PROBE"
  boot || exit 1
  CT_TIMEOUT=120 ct dpkg -i "/root/$(basename "$DEB")" >/dev/null || exit 1
  put_healthmon_bin || exit 1
  echo "package: $(basename "$DEB") ($(date -r "$DEB" '+%F %T')); host load: $(cut -d' ' -f1-3 /proc/loadavg)"

  HM_START=0 HM_CPU=0 HM_PID1_CPU=0 HM_PSS=0 HM_RECOVER=0 HM_STOP=0
  SD_START=0 SD_PID1_CPU=0 SD_RECOVER=0 SD_STOP=0
  : >"$RUN/status-idle"
  : >"$RUN/status-cycle"
  [[ " $PHASES " == *" healthmon "* ]] && bench_healthmon
  [[ " $PHASES " == *" systemd "* ]] && bench_systemd

  echo
  echo "goals (ratios; met when <= 1 unless said):"
  echo "  all $N running, healthmon / systemd:        $(ratio "$HM_START" "$SD_START")"
  echo "  idle CPU/min, healthmon / PID 1 (healthmon's run): $(ratio "$HM_CPU" "$HM_PID1_CPU")"
  echo "  idle CPU/min, healthmon / PID 1 (systemd alone):   $(ratio "$HM_CPU" "$SD_PID1_CPU")"
  echo "  PSS: $HM_PSS kB (goal < 16384 kB)"
  echo "  Status p99 during a cycle / idle (goal <= 2): $(ratio "$(p99_of "$RUN/status-cycle")" "$(p99_of "$RUN/status-idle")")"
  echo "  mass recovery, healthmon / systemd (goal <= 1.25): $(ratio "$HM_RECOVER" "$SD_RECOVER")"
  echo "  graceful stop, healthmon / systemd:          $(ratio "$HM_STOP" "$SD_STOP")"
}

main_bench
