#!/usr/bin/env bash
# Speed of `oailb simulate`: one simulated hour at 1,000 requests/s (3.6 M
# requests) on 10 backends (bench/simulate/), all four strategies, with
# hyperfine (installed from Debian if missing), pinned to one core. Target:
# at most 2 s per run. Also the peak memory of a 1-hour and a 4-hour run
# (GNU time), which must not grow with the simulated duration.
# Results: bench/out/simulate.{md,json}.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
sim="$bin simulate -q -f bench/simulate/topology.yaml --workload bench/simulate/workload-1h.yaml --format json"
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
hyperfine --warmup 1 --min-runs 5 -N \
  --export-markdown bench/out/simulate.md --export-json bench/out/simulate.json \
  "$pin $sim"
sed 's/duration: 1h$/duration: 4h/' bench/simulate/workload-1h.yaml > bench/out/workload-4h.yaml
for w in bench/simulate/workload-1h.yaml bench/out/workload-4h.yaml; do
  rss=$( { /usr/bin/time -f '%M' $pin "$bin" simulate -q -f bench/simulate/topology.yaml --workload "$w" --format json > /dev/null; } 2>&1 | tail -1)
  echo "peak memory, $w: ${rss} KiB"
done
