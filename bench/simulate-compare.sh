#!/usr/bin/env bash
# Side-by-side speed of several oailb binaries on the simulate benchmark
# (bench/simulate/: one simulated hour at 1,000 requests/s, 10 backends, all
# four strategies), alternating the binaries in each round so that the
# machine's changing speed hits them alike; prints the fastest, median and
# slowest user time of each. Usage: bench/simulate-compare.sh OLD_BIN NEW_BIN...
# ROUNDS (default 20) and CORE (default 1, the core to pin to) adjust it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/tools.sh
need /usr/bin/time time
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
rounds=${ROUNDS:-20}
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${CORE:-1}")
args=(simulate -q -f bench/simulate/topology.yaml --workload bench/simulate/workload-1h.yaml --format json)
declare -A times
for _ in $(seq "$rounds"); do
  for b in "$@"; do
    t=$( { /usr/bin/time -f '%U' "${pin[@]}" "$b" "${args[@]}" > /dev/null; } 2>&1 | tail -1)
    times[$b]="${times[$b]:-} $t"
  done
done
for b in "$@"; do
  printf '%s: ' "$b"
  tr ' ' '\n' <<< "${times[$b]}" | grep . | sort -n |
    awk '{a[NR] = $1} END {printf "fastest %.2f s, median %.2f s, slowest %.2f s (%d runs)\n", a[1], a[int((NR + 1) / 2)], a[NR], NR}'
done
