#!/usr/bin/env bash
# Mutation testing of the policy template: applies each mutant of
# scripts/policy-mutants.txt to policies/policy-mode.xml.tera and runs the
# executed-policy scenario test (tests/balancer_scenarios.rs, which compares
# the policy with the Rust balancer and the table; no snapshots) with the
# mutated template (OAILB_POLICY_TEMPLATES). A mutant is caught when that
# test fails. Called by scripts/mutants.sh (`policy` part); runs on its own:
#
#   scripts/policy-mutants.sh              # every mutant
#   scripts/policy-mutants.sh ID...        # some of them
#   scripts/policy-mutants.sh --list       # where each mutant applies, no test run
#
# Exit status: 0 when every mutant not marked `equivalent` is caught, 1
# otherwise. Results: target/policy-mutants/results.tsv (id, outcome,
# seconds) and the test output of each survivor.
set -euo pipefail
cd "$(dirname "$0")/.."

mutants=scripts/policy-mutants.txt
template=policies/policy-mode.xml.tera
out=target/policy-mutants
mkdir -p "$out"

# Applies mutant ID to the template, writing DIR/policies/policy-mode.xml.tera;
# `--list` prints every mutant's line instead. Fails on a mutant whose `old`
# text is missing or not unique (without `at:`).
apply() {
  python3 - "$mutants" "$template" "$@" <<'EOF'
import os, sys
mutants_file, template_file, cmd = sys.argv[1:4]
text = open(template_file).read()
blocks, cur = [], None
for raw in open(mutants_file).read().splitlines():
    line = raw.strip()
    if line.startswith("#"):
        continue
    if not line:
        cur = None
        continue
    if line.startswith("["):
        ident, _, about = line[1:].partition("]")
        cur = {"id": ident, "about": about.strip(), "at": None, "equivalent": ""}
        blocks.append(cur)
        continue
    key, _, value = line.partition(":")
    cur[key.strip()] = value.strip()

def place(m):
    old = m["old"]
    hits = []
    start = 0
    while True:
        i = text.find(old, start)
        if i < 0:
            break
        hits.append(i)
        start = i + 1
    if not hits:
        sys.exit(f"policy-mutants: [{m['id']}] `old` is not in {template_file}")
    if m["at"] is None:
        if len(hits) > 1:
            sys.exit(f"policy-mutants: [{m['id']}] `old` occurs {len(hits)} times: give `at:`")
        return hits[0]
    n = int(m["at"])
    if not 1 <= n <= len(hits):
        sys.exit(f"policy-mutants: [{m['id']}] at: {n}, but `old` occurs {len(hits)} times")
    return hits[n - 1]

ids = [m["id"] for m in blocks]
if len(set(ids)) != len(ids):
    sys.exit("policy-mutants: duplicate mutant ids")
if cmd == "--list":
    for m in blocks:
        i = place(m)
        eq = " (equivalent)" if m["equivalent"] else ""
        print(f"{m['id']}\tline {text.count(chr(10), 0, i) + 1}\t{m['about']}{eq}")
elif cmd == "--ids":
    print(" ".join(ids))
elif cmd == "--equivalent":
    print(next(m["equivalent"] for m in blocks if m["id"] == sys.argv[4]))
else:
    ident, target = cmd, sys.argv[4]
    m = next((m for m in blocks if m["id"] == ident), None)
    if m is None:
        sys.exit(f"policy-mutants: no mutant {ident}")
    i = place(m)
    os.makedirs(os.path.join(target, "policies"), exist_ok=True)
    with open(os.path.join(target, "policies", os.path.basename(template_file)), "w") as f:
        f.write(text[:i] + m["new"] + text[i + len(m["old"]):])
EOF
}

if [ "${1:-}" = "--list" ]; then
  apply --list
  exit 0
fi
apply --list > /dev/null
ids=("$@")
[ ${#ids[@]} -gt 0 ] || read -r -a ids <<< "$(apply --ids)"

scripts/test-deps.sh
test_bin=$(cargo test --locked --test balancer_scenarios --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "balancer_scenarios":
        print(m["executable"])')
[ -x "$test_bin" ] || { echo "policy-mutants: cannot build tests/balancer_scenarios.rs" >&2; exit 2; }
test_name=executed_policy_meets_the_scenario_table_and_matches_the_balancer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_test() { # DIR LOG
  OAILB_POLICY_TEMPLATES=$1 timeout 300 "$test_bin" --exact "$test_name" > "$2" 2>&1
}

# The unmutated template must pass, or nothing below means anything.
mkdir -p "$work/original/policies"
cp "$template" "$work/original/policies/"
if ! run_test "$work/original" "$out/original.log"; then
  echo "policy-mutants: the test fails without any mutant (see $out/original.log)" >&2
  exit 2
fi

caught=0 survived=0 equivalent=0 equivalent_caught=0
survivors=()
: > "$out/results.tsv"
t0=$SECONDS
for id in "${ids[@]}"; do
  dir="$work/$id"
  apply "$id" "$dir"
  start=$SECONDS
  if run_test "$dir" "$out/$id.log"; then
    reason=$(apply --equivalent "$id")
    if [ -n "$reason" ]; then
      outcome=equivalent
      equivalent=$((equivalent + 1))
      rm -f "$out/$id.log"
    else
      outcome=SURVIVED
      survived=$((survived + 1))
      survivors+=("$id")
    fi
  else
    outcome=caught
    caught=$((caught + 1))
    if [ -n "$(apply --equivalent "$id")" ]; then equivalent_caught=$((equivalent_caught + 1)); fi
    rm -f "$out/$id.log"
  fi
  printf '%s\t%s\t%s\n' "$id" "$outcome" "$((SECONDS - start))" | tee -a "$out/results.tsv" >&2
done
total=${#ids[@]}
echo "policy mutants: $total applied, $caught caught, $equivalent equivalent (survived, listed with their reason), $survived survived; $((SECONDS - t0)) s" >&2
if [ "$equivalent_caught" -gt 0 ]; then
  echo "policy mutants: $equivalent_caught marked equivalent were caught: remove their \`equivalent\` line" >&2
fi
if [ "$survived" -gt 0 ]; then
  echo "survived (test output in $out/<id>.log): ${survivors[*]}" >&2
  exit 1
fi
