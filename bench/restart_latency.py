#!/usr/bin/env python3
"""Crash-to-restart latency: kill -9 the worker, time until its replacement
has started (the worker writes its pid into a fifo as its first act).
Runs healthmon's supervisor and supervisord the same way, one after the other.
Usage: restart_latency.py HEALTHMON_EXAMPLE_BINARY [KILLS]"""

import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


class Fifo:
    """The read end of the fifo the workers announce their pids on."""

    def __init__(self, path):
        os.mkfifo(path)
        # O_RDWR: never EOF between writers, never blocks the open.
        self.fd = os.open(path, os.O_RDWR)
        self.buf = b""

    def next_pid(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError("no worker start within %.0fs" % timeout)
            self.buf += os.read(self.fd, 4096)
        line, self.buf = self.buf.split(b"\n", 1)
        return int(line)


def measure(name, argv, fifo, kills):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = fifo.next_pid()
        time.sleep(0.5)  # past verify_after / startsecs: a settled worker
        lat = []
        for _ in range(kills):
            t0 = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            new = fifo.next_pid()
            lat.append((time.monotonic_ns() - t0) / 1e6)
            assert new != pid
            pid = new
            time.sleep(0.2)  # each kill hits a worker that ran a while, not a crash loop
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lat.sort()
    p90 = statistics.quantiles(lat, n=10)[8]
    print("%-12s n=%d  median %.2f ms  p90 %.2f ms  min %.2f ms  max %.2f ms"
          % (name, len(lat), statistics.median(lat), p90, lat[0], lat[-1]))
    return statistics.median(lat)


def floor(worker, fifo, kills):
    """The same kill/wait, with the harness respawning the worker itself at
    once: the cost of starting the shell worker on this machine right now."""
    child = subprocess.Popen([worker], start_new_session=True)
    pid = fifo.next_pid()
    lat = []
    for _ in range(kills):
        t0 = time.monotonic_ns()
        os.kill(pid, signal.SIGKILL)
        child.wait()
        child = subprocess.Popen([worker], start_new_session=True)
        pid = fifo.next_pid()
        lat.append((time.monotonic_ns() - t0) / 1e6)
        time.sleep(0.2)
    child.kill()
    child.wait()
    lat.sort()
    print("%-12s n=%d  median %.2f ms  p90 %.2f ms  (harness respawns directly: the machine's floor)"
          % ("floor", len(lat), statistics.median(lat), statistics.quantiles(lat, n=10)[8]))


def main():
    example = os.path.abspath(sys.argv[1])
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    supervisord = shutil.which("supervisord")
    if not supervisord:
        sys.exit("supervisord not found: apt-get install -y supervisor")
    tmp = tempfile.mkdtemp(prefix="hm-bench-")
    try:
        fifo_path = os.path.join(tmp, "starts")
        fifo = Fifo(fifo_path)
        worker = os.path.join(tmp, "worker.sh")
        with open(worker, "w") as f:
            f.write("#!/bin/sh\necho $$ > %s\nexec sleep 100000\n" % fifo_path)
        os.chmod(worker, 0o755)
        conf = os.path.join(tmp, "supervisord.conf")
        with open(conf, "w") as f:
            f.write("[supervisord]\nnodaemon=true\nuser=root\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\n"
                    "[program:bench]\ncommand=%s\nautorestart=true\nstartsecs=0\nstartretries=10000\n"
                    % (tmp, tmp, worker))
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        floor(worker, fifo, kills)
        hm = measure("healthmon", [example, worker], fifo, kills)
        sv = measure("supervisord", [supervisord, "-c", conf], fifo, kills)
        print("supervisord median / healthmon median = %.0fx" % (sv / hm))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
