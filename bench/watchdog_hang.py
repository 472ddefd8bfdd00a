#!/usr/bin/env python3
"""Hang-to-recovered time of a worker with `watchdog = "5s"` in fork mode
(healthmon's own notify socket), at the default check_interval of 60 s.

The real daemon runs on a private session bus (dbus-daemon) with one
python3 worker that sends WATCHDOG=1 every PING seconds over NOTIFY_SOCKET
and, on request, hangs (stops pinging, keeps running). Measured per run,
on CLOCK_MONOTONIC: from the hung worker's last WATCHDOG=1 to the first
statement of its replacement. Prints every run and the median.

Usage: bench/watchdog_hang.py HEALTHMON_BINARY [RUNS]
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

WATCHDOG = 5.0
PING = 0.5
WORKER = r"""
import os, socket, sys, time
log, hang = sys.argv[1], sys.argv[2]
def note(line):
    with open(log, 'a') as f:
        f.write(line + '\n')
note('start %d %.6f' % (os.getpid(), time.monotonic()))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
while True:
    s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])
    beat = time.monotonic()
    time.sleep(%PING%)
    try:
        hung = open(hang).read().strip() == str(os.getpid())
    except OSError:
        hung = False
    if hung:
        note('hang %d %.6f' % (os.getpid(), beat))
        while True:
            time.sleep(3600)
""".replace("%PING%", str(PING))


def lines(path):
    try:
        with open(path) as f:
            return [l.split() for l in f if l.strip()]
    except OSError:
        return []


def wait_for(what, cond, limit):
    deadline = time.monotonic() + limit
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.01)


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    tmp = tempfile.mkdtemp(prefix="hm-bench-watchdog-")
    log, hang = os.path.join(tmp, "worker.log"), os.path.join(tmp, "hang")
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True)
    address = bus.stdout.readline().strip()
    config = os.path.join(tmp, "healthmon.toml")
    command = ", ".join('"%s"' % a.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                        for a in ["/usr/bin/python3", "-c", WORKER, log, hang])
    with open(config, "w") as f:
        f.write('[monitor]\ncheck_interval = "60s"\n\n[disk]\npaths = ["/"]\nwarning_percent = 99\ncritical_percent = 99.9\n\n'
                '[workers.dog]\ncommand = [%s]\nwatchdog = "%ds"\nrestart_delay = "0s"\nverify_after = "1s"\n'
                'max_restarts = 100\n' % (command, WATCHDOG))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    stderr = open(os.path.join(tmp, "stderr"), "w")
    daemon = subprocess.Popen([binary, "--bus", "session", "--config", config,
                               "--database", os.path.join(tmp, "health.db")],
                              env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    took = []
    try:
        for run in range(runs):
            starts = wait_for("a worker start", lambda: [l for l in lines(log) if l[0] == "start"][run:], 30)
            pid = starts[0][1]
            time.sleep(2 * PING + 1)  # a few beats first
            with open(hang, "w") as f:
                f.write(pid)
            hung = wait_for("the hang", lambda: [l for l in lines(log) if l[0] == "hang" and l[1] == pid], 10)
            new = wait_for("the replacement", lambda: [l for l in lines(log) if l[0] == "start"][run + 1:], 30)
            t = float(new[0][2]) - float(hung[0][2])
            took.append(t)
            print("run %d: last WATCHDOG=1 -> replacement running: %.3f s" % (run + 1, t), flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        bus.terminate()
        bus.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("watchdog = %gs, check_interval = 60s, %d runs: median %.3f s (min %.3f, max %.3f); threshold + 0.5 s = %.1f s"
          % (WATCHDOG, runs, statistics.median(took), min(took), max(took), WATCHDOG + 0.5))


if __name__ == "__main__":
    main()
