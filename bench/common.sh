# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run).

# Runs a command and prints how long it took, in seconds (3 decimals).
seconds_of() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f\n", e - s}'
}

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# HEALTHMON_BIN=target/release/healthmon puts that binary over the packaged
# one in the booted container ($ROOT, `ct` from tests/system/run) and
# restarts healthmon: a change measured without rebuilding the packages.
put_healthmon_bin() {
    [[ -n ${HEALTHMON_BIN:-} ]] || return 0
    if ! cp "$HEALTHMON_BIN" "$ROOT/usr/bin/healthmon.new" || ! mv "$ROOT/usr/bin/healthmon.new" "$ROOT/usr/bin/healthmon" ||
        ! ct systemctl restart healthmon.service; then
        echo "cannot put $HEALTHMON_BIN in place" >&2
        return 1
    fi
    echo "healthmon binary: $HEALTHMON_BIN ($(date -r "$HEALTHMON_BIN" '+%F %T'))"
}
