#!/usr/bin/env bash
# Wall time of `oailb render-policy` (both modes) on a generated 30-backend,
# 3-model topology, with hyperfine (installed from Debian if missing). Target:
# under 10 ms per run. Results: bench/out/render-policy.{md,json}.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$bin" render-policy -q -f "$topo" > bench/out/policy-30.xml
"$bin" render-policy -q -f "$topo" --mode pool > bench/out/pool-30.xml
hyperfine --warmup 5 --min-runs 100 -N \
  --export-markdown bench/out/render-policy.md --export-json bench/out/render-policy.json \
  "$bin render-policy -q -f $topo" \
  "$bin render-policy -q -f $topo --mode pool"
