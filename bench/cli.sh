#!/usr/bin/env bash
# Wall time of the CLI on a generated 30-backend, 3-model topology, measured
# with hyperfine (installed from Debian if missing). Results are printed and
# written to bench/out/ as Markdown and JSON.
#   bench/cli.sh                 validate and plan --offline
#   bench/cli.sh 'render-policy' any extra subcommands to time
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$bin" validate -q -f "$topo"
commands=("$bin validate -q -f $topo" "$bin plan --offline -q -f $topo" "$bin plan --offline --json -q -f $topo")
for extra in "$@"; do commands+=("$bin $extra -q -f $topo"); done
hyperfine --warmup 5 --min-runs 50 -N \
  --export-markdown bench/out/cli.md --export-json bench/out/cli.json \
  "${commands[@]}"
