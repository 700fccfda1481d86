#!/usr/bin/env bash
# lbbench with the project's routers and scenarios (README "Benchmarks"):
#   bench/lbbench/run.sh                                   # every router, every scenario
#   ROUTERS=ref,oailb-policy SCENARIOS="$HOME/lbbench/scenarios/A_spill.json" bench/lbbench/run.sh
# Copies ../shared/lbbench to $LBBENCH_DIR (default ~/lbbench) and installs it
# once (PyPI, npm), builds oailb, then runs lbbench's run_suite.sh with its
# routers and those of bench/lbbench/routers.json. Results: $OUT (default
# ~/lbbench-runs)/results.md and metrics.json.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lb=${LBBENCH_DIR:-$HOME/lbbench}
if [ ! -f "$lb/run_suite.sh" ]; then
  src=${LBBENCH_SRC:-$root/../shared/lbbench}
  [ -f "$src/run_suite.sh" ] || { echo "run.sh: lbbench not found at $src (set LBBENCH_SRC)" >&2; exit 2; }
  cp -r "$src" "$lb"
  chmod -R u+w "$lb"
fi
[ -x "$lb/.venv/bin/python" ] || bash "$lb/install.sh"
"$root/scripts/test-deps.sh"
(cd "$root" && cargo build --locked -q --bin oailb)
export OAILB_ROOT=$root
export OAILB_BIN=${OAILB_BIN:-$root/target/debug/oailb}
export ROUTERS=${ROUTERS:-ref,oailb-policy,oailb-pool,oailb-policy-prev,oailb-serve,litellm-order,portkey}
# lbbench bounds the whole run at 200 s per router; LiteLLM alone needs about
# 400 s for the ten scenarios (it starts slowly), so allow 400 s per router.
n_routers=$(tr ',' '\n' <<< "$ROUTERS" | grep -c .)
export BENCH_TIMEOUT=${BENCH_TIMEOUT:-$(( 400 * n_routers ))}
export SCENARIOS=${SCENARIOS:-$(ls "$lb"/scenarios/*.json "$root"/bench/lbbench/scenarios/*.json | tr '\n' ' ')}
export OUT=${OUT:-$HOME/lbbench-runs}
# lbbench's own routers (ref, LiteLLM, Portkey) and the project's, in one file.
mkdir -p "$OUT"
python3 -c 'import json, sys; print(json.dumps({**json.load(open(sys.argv[1])), **json.load(open(sys.argv[2]))}, indent=1))' \
  "$lb/routers.json" "$root/bench/lbbench/routers.json" > "$OUT/routers.json"
export ROUTERS_FILE=$OUT/routers.json
bash "$lb/run_suite.sh"
