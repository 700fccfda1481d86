#!/usr/bin/env bash
# Wall time of `oailb render all` (Terraform + Bicep + policy files, both
# modes) on a generated 30-backend, 3-model topology, with hyperfine
# (installed from Debian if missing). Target: under 20 ms per run.
# Measured: a fresh directory each run (-N and --prepare removing it), a
# re-render onto an up-to-date directory, and `--check` of it (the CI step).
# Results: bench/out/render.{md,json}.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
out=bench/out/render-30
rm -rf "$out" "$out-pool"
"$bin" render all -q -f "$topo" --out "$out"
"$bin" render all -q -f "$topo" --mode pool --out "$out-pool"
hyperfine --warmup 5 --min-runs 100 -N \
  --export-markdown bench/out/render.md --export-json bench/out/render.json \
  --command-name "render all (fresh directory)" --prepare "rm -rf $out-fresh" \
  "$bin render all -q -f $topo --out $out-fresh" \
  --command-name "render all (re-render, up to date)" \
  "$bin render all -q -f $topo --out $out" \
  --command-name "render all --mode pool (re-render)" \
  "$bin render all -q -f $topo --mode pool --out $out-pool" \
  --command-name "render all --check" \
  "$bin render all -q -f $topo --check --out $out"
