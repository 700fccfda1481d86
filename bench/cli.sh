#!/usr/bin/env bash
# Wall time of the CLI on a generated 30-backend, 3-model topology, measured
# with hyperfine (installed from Debian if missing). Results are printed and
# written to bench/out/ as Markdown and JSON.
#   bench/cli.sh                 validate and plan --offline
#   bench/cli.sh 'render-policy' any extra subcommands to time
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
"$bin" validate -q -f "$topo"
commands=("$bin validate -q -f $topo" "$bin plan --offline -q -f $topo" "$bin plan --offline --json -q -f $topo")
for extra in "$@"; do commands+=("$bin $extra -q -f $topo"); done
hyperfine --warmup 5 --min-runs 50 -N \
  --export-markdown bench/out/cli.md --export-json bench/out/cli.json \
  "${commands[@]}"
