#!/bin/sh
# A state database with 1,000,000 health_metrics rows: its size,
# ListMetrics through the real daemon on a private bus, and the daemon's
# retention prune. See bench/metrics.rs for what is measured.
# Usage: bench/metrics.sh [ROWS] [RUNS]   (from anywhere; builds in release)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin healthmon --example metrics_bench
exec target/release/examples/metrics_bench "${1:-1000000}" "${2:-3}"
