#!/bin/bash
# Benchmark: archive-then-delete of 10,000 aged 64 KiB log files by
# healthmon (gzip into an archive dir, with its fsyncs and without them)
# vs `find DIR -type f -mtime +7 -exec gzip {} +` and
# `tar -czf ARCHIVE --remove-files`, neither of which fsyncs anything.
# The tree is on the root filesystem (/var/tmp), not a tmpfs, so fsync
# costs what it costs on this disk. Each run gets a fresh tree; prints
# every run and the medians.
#
# The no-fsync variant sets HEALTHMON_BENCH_NO_FSYNC=1, an environment
# variable honoured only so this benchmark can compare like with like:
# never set it on a real system (a crash could lose a file already unlinked).
#
# Usage: bench/archive.sh [RUNS]   (default 3; from anywhere)
set -euo pipefail

RUNS=${1:-3}
FILES=10000
cd "$(dirname "$0")/.."
. bench/common.sh

cargo build --release --quiet --example archive_bench
BIN=$PWD/target/release/examples/archive_bench

WORK=$(mktemp -d /var/tmp/healthmon-archive-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# $WORK/tree: FILES log files of 64 KiB (text that compresses like logs),
# all last modified 8 days ago; $WORK/archive empty.
make_tree() {
    rm -rf "$WORK/tree" "$WORK/archive"
    mkdir -p "$WORK/tree" "$WORK/archive"
    python3 - "$WORK/tree" "$FILES" <<'PY'
import os, random, sys, time
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = ["GET", "POST", "/api/v1/tasks", "/healthz", "200", "404", "500", "worker", "assigned", "done", "retry"]
lines, size = [], 0
while size < 64 * 1024:
    line = "2026-11-25T%02d:%02d:%02d.%03dZ INFO pid=%d %s latency_ms=%d id=%08x\n" % (
        rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(1000), rng.randrange(1, 65536),
        " ".join(rng.choice(words) for _ in range(4)), rng.randrange(2000), rng.getrandbits(32))
    lines.append(line)
    size += len(line)
body = "".join(lines).encode()[:64 * 1024]
old = time.time() - 8 * 86400
for i in range(n):
    path = os.path.join(root, "app-%05d.log" % i)
    with open(path, "wb") as f:
        f.write(body)
    os.utime(path, (old, old))
PY
    sync
}

# Times one command (seconds, 3 decimals); checks no plain .log is left in the tree.
time_run() {
    local took left
    took=$(seconds_of "$@")
    left=$(find "$WORK/tree" -type f -name '*.log' 2>/dev/null | wc -l)  # tar removes the tree itself
    [ "$left" = 0 ] || { echo "$1 left $left files" >&2; exit 1; }
    echo "$took"
}


hm=(); nf=(); fg=(); ta=()
for run in $(seq 1 "$RUNS"); do
    make_tree; hm+=("$(time_run "$BIN" "$WORK/tree" "$WORK/archive" 7 2>/dev/null)")
    make_tree; nf+=("$(HEALTHMON_BENCH_NO_FSYNC=1 time_run "$BIN" "$WORK/tree" "$WORK/archive" 7 2>/dev/null)")
    make_tree; fg+=("$(time_run find "$WORK/tree" -type f -mtime +7 -exec gzip {} +)")
    make_tree; ta+=("$(time_run tar -czf "$WORK/archive/logs.tar.gz" --remove-files -C "$WORK/tree" .)")
    echo "run $run: healthmon ${hm[-1]} s, healthmon no-fsync ${nf[-1]} s, find+gzip ${fg[-1]} s, tar --remove-files ${ta[-1]} s"
done

for pair in "healthmon:${hm[*]}" "healthmon-no-fsync:${nf[*]}" "find-exec-gzip:${fg[*]}" "tar-remove-files:${ta[*]}"; do
    printf 'median %-20s %s s\n' "${pair%%:*}" "$(tr ' ' '\n' <<<"${pair#*:}" | median)"
done
