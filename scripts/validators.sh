#!/usr/bin/env bash
# Runs the independent checkers in ../shared/validators on what oailb renders
# for every example. With ../shared present they are required; without it
# (a clone outside the workspace) they are skipped with a notice.
set -euo pipefail
cd "$(dirname "$0")/.."
VALIDATORS="${OAILB_VALIDATORS:-../shared/validators}"
if [ ! -d "$VALIDATORS" ]; then
  echo "validators: $VALIDATORS not found, skipped (they run in CI)" >&2
  exit 0
fi
OAILB=target/debug/oailb
[ -x "$OAILB" ] || cargo build --locked --quiet
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# APIM policy: XSD, every C# expression compiled, and no type-flow warning
# (--strict), for every example in both modes. A topology that cannot be a
# pool (exit 2 from render-policy with --mode pool) is skipped with a notice;
# tests/render_policy.rs checks that refusal.
"$VALIDATORS/apim-policy-check/install.sh" >&2
policies=()
for topo in examples/*.yaml; do
  name=$(basename "$topo" .yaml)
  for mode in policy pool; do
    out="$OUT/$name-$mode.xml"
    status=0
    "$OAILB" render-policy -q --color never -f "$topo" --mode "$mode" -o "$out" 2>"$OUT/err" || status=$?
    if [ "$status" -eq 2 ] && [ "$mode" = pool ]; then
      echo "validators: $topo cannot use pool mode, skipped:" >&2
      sed 's/^/  /' "$OUT/err" | grep '^  error\[' >&2 || true
      continue
    fi
    if [ "$status" -ne 0 ]; then
      cat "$OUT/err" >&2
      echo "validators: render-policy failed for $topo --mode $mode" >&2
      exit 1
    fi
    policies+=("$out")
  done
done
"$VALIDATORS/apim-policy-check/check" --strict "${policies[@]}"
echo "validators: apim-policy-check --strict passed on ${#policies[@]} policies" >&2
