#!/usr/bin/env bash
# Wall time of `oailb render-policy` (both modes) on a generated 30-backend,
# 3-model topology, with hyperfine (installed from Debian if missing). Target:
# under 10 ms per run. Results: bench/out/render-policy.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hyperfine >/dev/null; then
  echo "installing hyperfine (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq hyperfine >/dev/null; else sudo apt-get install -y -qq hyperfine >/dev/null; fi
fi
cargo build --release --locked -q
mkdir -p bench/out
topo=bench/out/topology-30.yaml
bench/gen-topology.sh 30 3 > "$topo"
bin=target/release/oailb
"$bin" render-policy -q -f "$topo" > bench/out/policy-30.xml
"$bin" render-policy -q -f "$topo" --mode pool > bench/out/pool-30.xml
hyperfine --warmup 5 --min-runs 100 -N \
  --export-markdown bench/out/render-policy.md --export-json bench/out/render-policy.json \
  "$bin render-policy -q -f $topo" \
  "$bin render-policy -q -f $topo --mode pool"
