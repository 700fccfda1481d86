#!/usr/bin/env bash
# The rendered APIM policy as a live gateway, for lbbench (router entries
# `oailb-policy*` and `oailb-pool` in routers.json): lbbench's backends
# JSON -> oailb topology (topology.py) -> `oailb render-policy` -> the policy
# harness (tests/harness, Mono) serving it on 127.0.0.1:PORT with real
# forwards to the mock backends, concurrent requests and a shared cache
# without atomic updates, as APIM runs it.
#
#   policy-gateway.sh --backends FILE --port N --max-seconds S --rundir DIR
#                     [--mode policy|pool] [--template-rev REV | --templates DIR]
#                     [--instances N] [--shared-cache]
#
# --mode pool renders load_balancing.mode: pool (APIM backend pools with
# per-member circuit breakers) and gives the harness the pools oailb would
# deploy: `oailb plan --offline --json` through pools.py (breakers are kept
# per gateway instance, as APIM keeps them).
# --template-rev REV renders with policies/policy-mode.xml.tera as it was at
# git revision REV (e.g. 91da739, the algorithm before the quota-aware one);
# --templates DIR with DIR/policies/*.xml.tera. --instances N (default: the
# scenario's `gateway_instances`, else 1) runs N gateway instances in one
# process, requests split round-robin, each with its own cache;
# --shared-cache gives them one cache (one APIM region, or an external
# cache). OAILB_HARNESS_TRACE=FILE makes the harness append every cache write
# (time in ms, key, value) to FILE, to follow the backends' state over a run.
# OAILB_BIN names the oailb binary (default: target/release/oailb,
# else target/debug/oailb). Needs mono, mcs and Newtonsoft.Json
# (scripts/test-deps.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() { echo "policy-gateway.sh: $*" >&2; exit 2; }

backends= port= max_s=600 rundir= rev= templates= instances= shared=false mode=policy
while [ $# -gt 0 ]; do
  case $1 in
    --backends) backends=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --max-seconds) max_s=$2; shift 2 ;;
    --rundir) rundir=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --template-rev) rev=$2; shift 2 ;;
    --templates) templates=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --shared-cache) shared=true; shift ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -n "$backends" ] && [ -n "$port" ] && [ -n "$rundir" ] || die "--backends, --port and --rundir are required"
[ -f "$backends" ] || die "$backends: no such file"
case $mode in
  policy) ;;
  pool) [ -z "$rev" ] || die "--template-rev renders policy mode only: not with --mode pool" ;;
  *) die "--mode is policy or pool, not $mode" ;;
esac
mkdir -p "$rundir"
rundir=$(cd "$rundir" && pwd)

oailb=${OAILB_BIN:-}
if [ -z "$oailb" ]; then
  for b in "$root/target/release/oailb" "$root/target/debug/oailb"; do
    if [ -x "$b" ]; then oailb=$b; break; fi
  done
fi
[ -n "$oailb" ] && [ -x "$oailb" ] || die "no oailb binary: run \`cargo build\` (or set OAILB_BIN)"

# The template to render with.
if [ -n "$rev" ]; then
  templates="$rundir/templates"
  mkdir -p "$templates/policies"
  git -C "$root" show "$rev:policies/policy-mode.xml.tera" > "$templates/policies/policy-mode.xml.tera" \
    || die "no policies/policy-mode.xml.tera at revision $rev"
fi

# The mode goes over OAILB_LB_SETTINGS' own load_balancing settings.
OAILB_LB_SETTINGS=$(python3 -c 'import json, os, sys; print(json.dumps({**json.loads(os.environ.get("OAILB_LB_SETTINGS") or "{}"), "mode": sys.argv[1]}))' "$mode") \
  python3 "$root/bench/lbbench/topology.py" "$backends" > "$rundir/topology.json"
"$oailb" render-policy -q -f "$rundir/topology.json" ${templates:+--templates "$templates"} -o "$rundir/policy.xml"
if [ "$mode" = pool ]; then
  "$oailb" plan -q --offline --json -f "$rundir/topology.json" > "$rundir/plan.json"
  python3 "$root/bench/lbbench/pools.py" "$rundir/plan.json" > "$rundir/pools.json"
else
  echo '{}' > "$rundir/pools.json"
fi

# The harness: built once per source change, then the policy's expressions.
nj=${APIM_NEWTONSOFT_DLL:-$(ls /usr/lib/cli/Newtonsoft.Json*/Newtonsoft.Json.dll 2>/dev/null | sort | tail -n 1)}
[ -n "$nj" ] || die "Newtonsoft.Json.dll not found: run scripts/test-deps.sh"
refs=(-r:"$nj" -r:System.Core.dll -r:System.Xml.dll -r:System.Xml.Linq.dll -nowarn:162,168,219)
build="$root/target/policy-gateway"
mkdir -p "$build"
if [ ! -f "$build/harness.exe" ] || [ -n "$(find "$root/tests/harness" -name '*.cs' -newer "$build/harness.exe")" ]; then
  mcs "${refs[@]}" -target:exe -out:"$build/harness.exe.tmp" "$root"/tests/harness/*.cs
  mv "$build/harness.exe.tmp" "$build/harness.exe"
fi
cp "$build/harness.exe" "$rundir/harness.exe"
(cd "$rundir" && mono harness.exe gen exprs.cs policy.xml && mcs "${refs[@]}" -target:library -out:exprs.dll -r:harness.exe exprs.cs)

if [ -z "$instances" ]; then
  instances=1
  if [ -f "$rundir/scenario.json" ]; then
    instances=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("gateway_instances", 1))' "$rundir/scenario.json")
  fi
fi
python3 - "$rundir" "$port" "$max_s" "$instances" "$shared" \
  <(python3 "$root/bench/lbbench/topology.py" "$backends" --upstreams) \
  <(python3 "$root/bench/lbbench/topology.py" "$backends" --named-values) <<'EOF'
import json, sys
rundir, port, max_s, instances, shared, upstreams, named = sys.argv[1:]
pools = json.load(open(f"{rundir}/pools.json"))
config = {
    "port": int(port), "policy": f"{rundir}/policy.xml",
    "api": {"id": "apis/openai", "name": "openai", "path": "openai"},
    "named_values": json.load(open(named)), "upstreams": json.load(open(upstreams)),
    "instances": int(instances), "shared_cache": shared == "true", "max_seconds": float(max_s),
    **({"pools": pools} if pools else {}),
}
with open(f"{rundir}/gateway.json", "w") as f:
    json.dump(config, f, indent=1)
EOF
cd "$rundir"
exec mono --server harness.exe serve exprs.dll gateway.json
