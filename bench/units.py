#!/usr/bin/env python3
"""Workers as transient units vs systemd's own Restart=always, side by side
in one run, inside the booted container bench/units.sh prepares (healthmon
installed from the .deb and running). Every worker is the same script: it
writes "NAME PID" into a fifo as its first act, then execs sleep.

  1. crash -> restart: kill -9 one worker, time until its replacement
     announces itself; healthmon's (restart_delay = "0s") and a systemd
     unit's (Restart=always, RestartSec=0), alternately.
  2. 100 workers killed at once: time until the last of the 100 is back.
  3. adoption: `systemctl restart healthmon` with 100 workers running, time
     until ListWorkers shows all 100 running with unchanged pids (and no
     restart counted).

Usage (as root, in the container): units.py [KILLS] [ROUNDS]"""

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

N = 100
FIFO = "/run/bench/starts"
ANNOUNCE = "/usr/local/lib/bench/announce"
CONF = "/etc/healthmon/conf.d/90-bench.toml"
SD_UNIT = "/etc/systemd/system/bench-sd@.service"


class Fifo:
    """The read end of the fifo the workers announce "NAME PID" on."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        os.mkfifo(path)
        # O_RDWR: never EOF between writers, never blocks the open.
        self.fd = os.open(path, os.O_RDWR)
        self.buf = b""
        self.pids = {}

    def read(self, timeout):
        """Reads one announcement: (name, pid, monotonic ns when read)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError("no worker start within %.0fs" % timeout)
            self.buf += os.read(self.fd, 65536)
        line, self.buf = self.buf.split(b"\n", 1)
        name, pid = line.decode().split()
        self.pids[name] = int(pid)
        return name, int(pid), time.monotonic_ns()

    def until(self, names, timeout=60.0):
        """Reads until every name in `names` announced itself; the time of the last."""
        left, last = set(names), 0
        while left:
            name, _, at = self.read(timeout)
            if name in left:
                left.discard(name)
                last = at
        return last


def sh(*argv):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout


def setup(fifo):
    os.makedirs(os.path.dirname(ANNOUNCE), exist_ok=True)
    with open(ANNOUNCE, "w") as f:
        f.write('#!/bin/sh\necho "$1 $$" > %s\nexec sleep infinity\n' % FIFO)
    os.chmod(ANNOUNCE, 0o755)
    with open(SD_UNIT, "w") as f:
        f.write("[Unit]\nDescription=bench: systemd restarts it\nStartLimitIntervalSec=0\n"
                "[Service]\nExecStart=%s sd%%i\nRestart=always\nRestartSec=0\n" % ANNOUNCE)
    with open(CONF, "w") as f:
        for i in range(N):
            f.write('[workers.hm%d]\ncommand = ["%s", "hm%d"]\nrestart_delay = "0s"\nverify_after = "0s"\n'
                    'max_restarts = 1000000\n\n' % (i, ANNOUNCE, i))
    sh("systemctl", "daemon-reload")
    sh("systemctl", "restart", "healthmon.service")
    sh("systemctl", "start", *["bench-sd@%d.service" % i for i in range(N)])
    fifo.until(["hm%d" % i for i in range(N)] + ["sd%d" % i for i in range(N)])


def kill_and_wait(fifo, names):
    """kill -9 every named worker at once; ms until the last is back."""
    pids = [fifo.pids[n] for n in names]
    t0 = time.monotonic_ns()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    last = fifo.until(names)
    new = [fifo.pids[n] for n in names]
    assert not set(new) & set(pids), "a worker announced its old pid"
    return (last - t0) / 1e6


def crash_restart(fifo, kills):
    lat = {"healthmon": [], "systemd": []}
    for _ in range(kills):
        for who, name in (("healthmon", "hm0"), ("systemd", "sd0")):
            lat[who].append(kill_and_wait(fifo, [name]))
            time.sleep(0.3)  # each kill hits a worker that ran a while
    return lat


def cpu_ms(pid):
    """User+system CPU time of a process, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def many(fifo, rounds):
    lat = {"healthmon": [], "systemd": []}
    cpu = {"healthmon": [], "systemd": []}
    hm = int(sh("systemctl", "show", "-p", "MainPID", "--value", "healthmon.service"))
    for _ in range(rounds):
        for who, prefix in (("healthmon", "hm"), ("systemd", "sd")):
            before = (cpu_ms(hm), cpu_ms(1))
            lat[who].append(kill_and_wait(fifo, ["%s%d" % (prefix, i) for i in range(N)]))
            time.sleep(2)
            cpu[who].append("healthmon %.0f ms, PID 1 %.0f ms" % (cpu_ms(hm) - before[0], cpu_ms(1) - before[1]))
    for who in cpu:
        print("  CPU while %s restarts them (until 2 s after): %s" % (who, "; ".join(cpu[who])))
    return lat


def list_workers():
    """{name: (state, pid, restarts)} of the bench workers, from ListWorkers."""
    out = subprocess.run(["busctl", "--json=short", "call", "org.healthmon.Monitor1", "/org/healthmon/Monitor1",
                          "org.healthmon.Monitor1", "ListWorkers"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    if out.returncode != 0:
        return {}
    rows = json.loads(out.stdout)["data"][0]
    return {name: (state, pid, restarts) for name, state, pid, restarts, _ in rows if name.startswith("hm")}


def wait_all_running(within=60.0):
    """ListWorkers once all N bench workers run (healthmon may lag the fifo)."""
    deadline = time.monotonic() + within
    while True:
        rows = list_workers()
        if len(rows) == N and all(s == "running" and p != 0 for s, p, _ in rows.values()):
            return rows
        assert time.monotonic() < deadline, "not all running within %.0fs: %s" % (within, rows)
        time.sleep(0.05)


def adoption(rounds):
    times = []
    for _ in range(rounds):
        before = wait_all_running()
        t0 = time.monotonic_ns()
        sh("systemctl", "restart", "healthmon.service")
        while True:
            now = list_workers()
            changed = [n for n in now if now[n][1] not in (0, before[n][1])]
            assert not changed, "pids changed across the restart: %s" % changed
            if len(now) == N and all(now[n][:2] == before[n][:2] for n in now):
                restarted = [n for n in now if now[n][2] > before[n][2]]
                assert not restarted, "restarts counted: %s" % restarted
                break
            assert time.monotonic_ns() - t0 < 60e9, "not all adopted within 60 s: %s" % now
            time.sleep(0.005)
        times.append((time.monotonic_ns() - t0) / 1e6)
        time.sleep(2)
    return times


def line(label, lat):
    return "%-10s n=%-3d median %8.1f ms  min %8.1f ms  max %8.1f ms" % (
        label, len(lat), statistics.median(lat), min(lat), max(lat))


def side_by_side(title, lat):
    print(title)
    print("  " + line("healthmon", lat["healthmon"]))
    print("  " + line("systemd", lat["systemd"]))
    print("  ratio healthmon/systemd (medians) = %.2f" % (statistics.median(lat["healthmon"])
                                                         / statistics.median(lat["systemd"])))


def main():
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    fifo = Fifo(FIFO)
    setup(fifo)
    print("systemd %s; healthmon %s; load average %.2f %.2f %.2f; %d cpus" % (
        sh("systemctl", "--version").split()[1], sh("healthmon", "--version").split()[-1],
        *os.getloadavg(), os.cpu_count()))
    side_by_side("1. crash -> restart, one worker (kill -9 until it announces its new pid):",
                 crash_restart(fifo, kills))
    side_by_side("2. %d workers killed at once, until the last is back:" % N, many(fifo, rounds))
    adopted = adoption(max(3, rounds // 2))
    print("3. systemctl restart healthmon with %d workers running, until all adopted (same pids, 0 restarts):" % N)
    print("  " + line("healthmon", adopted))
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
