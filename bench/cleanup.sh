#!/bin/bash
# Benchmark: healthmon's cleanup walker vs `find DIR -type f -mtime +7 -delete`.
# Each run gets a fresh tree of 100,000 files in 1,000 directories on a
# private tmpfs, half of them aged 8 days; runs alternate between the two
# tools; prints both medians and the ratio (healthmon / find).
# Needs root (mount). Usage: bench/cleanup.sh [RUNS]   (default 5)
set -euo pipefail

RUNS=${1:-5}
DIRS=1000
FILES_PER_DIR=100
cd "$(dirname "$0")/.."
. bench/common.sh

[ "$(id -u)" = 0 ] || { echo "bench/cleanup.sh must run as root (it mounts a tmpfs)" >&2; exit 1; }

cargo build --release --quiet --example cleanup_bench
BIN=target/release/examples/cleanup_bench

MNT=$(mktemp -d /tmp/healthmon-bench.XXXXXX)
mount -t tmpfs -o size=512m tmpfs "$MNT"
trap 'umount -l "$MNT"; rmdir "$MNT"' EXIT

# Builds the tree under $MNT/tree: in every directory, files 0-49 aged
# 8 days, 50-99 fresh. Creation is batched through xargs to stay quick.
make_tree() {
    rm -rf "$MNT/tree"
    mkdir -p "$MNT/tree"
    (
        cd "$MNT/tree"
        seq -f 'd%04g' 1 "$DIRS" | xargs mkdir
        for d in d*; do
            for i in $(seq 0 $((FILES_PER_DIR - 1))); do echo "$d/f$i.log"; done
        done | xargs touch
        for d in d*; do
            for i in $(seq 0 $((FILES_PER_DIR / 2 - 1))); do echo "$d/f$i.log"; done
        done | xargs touch -d '8 days ago'
    )
    sync
}

# Times one command (seconds, 3 decimals) and checks what it left behind.
time_run() {
    local took left
    took=$(seconds_of "$@")
    left=$(find "$MNT/tree" -type f | wc -l)
    [ "$left" = $((DIRS * FILES_PER_DIR / 2)) ] || { echo "$1 left $left files, expected $((DIRS * FILES_PER_DIR / 2))" >&2; exit 1; }
    echo "$took"
}


hm=(); fd=()
for run in $(seq 1 "$RUNS"); do
    make_tree; hm+=("$(time_run "$BIN" "$MNT/tree" '*' 7 2>/dev/null)")
    make_tree; fd+=("$(time_run find "$MNT/tree" -type f -mtime +7 -delete)")
    echo "run $run: healthmon ${hm[-1]} s, find ${fd[-1]} s"
done

hm_med=$(printf '%s\n' "${hm[@]}" | median)
fd_med=$(printf '%s\n' "${fd[@]}" | median)
echo "median healthmon: $hm_med s"
echo "median find:      $fd_med s"
awk -v h="$hm_med" -v f="$fd_med" 'BEGIN {printf "ratio healthmon/find: %.2f\n", h / f}'
