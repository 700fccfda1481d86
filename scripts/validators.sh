#!/usr/bin/env bash
# Runs the independent checkers in ../shared/validators on what oailb renders
# for every example. In CI (CI=true, as .ci/run sets it) they are required:
# a missing validators directory fails the run. Elsewhere (a clone outside
# the workspace) they are skipped with a notice.
set -euo pipefail
cd "$(dirname "$0")/.."
VALIDATORS="${OAILB_VALIDATORS:-../shared/validators}"
if [ ! -d "$VALIDATORS" ]; then
  if [ "${CI:-}" = true ]; then
    echo "validators: $VALIDATORS not found: CI=true requires them" >&2
    exit 1
  fi
  echo "validators: $VALIDATORS not found, skipped (CI=true requires them)" >&2
  exit 0
fi
OAILB=target/debug/oailb
[ -x "$OAILB" ] || cargo build --locked --quiet
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# APIM policy: XSD, every C# expression compiled, and no type-flow warning
# (--strict), for every API of every example in both modes. A topology that
# cannot be a pool (exit 2 from render-policy with --mode pool) is skipped
# with a notice; tests/render_policy.rs checks that refusal.
"$VALIDATORS/apim-policy-check/install.sh" >&2
policies=()
# Runs `oailb ARGS -f TOPO --mode MODE`; fails (with a notice) when the
# topology cannot use pool mode (exit 2 with --mode pool), and stops the
# script on any other failure.
rendered() {
  local topo=$1 mode=$2 status=0
  shift 2
  "$OAILB" "$@" -q --color never -f "$topo" --mode "$mode" 2>"$OUT/err" || status=$?
  if [ "$status" -eq 2 ] && [ "$mode" = pool ]; then
    echo "validators: $topo cannot use pool mode, skipped:" >&2
    sed 's/^/  /' "$OUT/err" | grep '^  error\[' >&2 || true
    return 1
  fi
  if [ "$status" -ne 0 ]; then
    cat "$OUT/err" >&2
    echo "validators: oailb $1 failed for $topo --mode $mode" >&2
    exit 1
  fi
}
api_names() {
  "$OAILB" plan --offline --json -q -f "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["resources"]:
    if r["type"] == "Microsoft.ApiManagement/service/apis":
        print(r["name"])'
}
product_ids() {
  "$OAILB" plan --offline --json -q -f "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["resources"]:
    if r["type"] == "Microsoft.ApiManagement/service/products":
        print(r["name"])'
}
for topo in examples/*.yaml; do
  name=$(basename "$topo" .yaml)
  for api in $(api_names "$topo"); do
    for mode in policy pool; do
      out="$OUT/$name-$api-$mode.xml"
      if rendered "$topo" "$mode" render-policy --api "$api" -o "$out"; then
        policies+=("$out")
      fi
    done
  done
  # The consumers' product policies (the same in both modes).
  for product in $(product_ids "$topo"); do
    out="$OUT/$name-product-$product.xml"
    "$OAILB" render-policy -q --color never -f "$topo" --product "$product" -o "$out"
    policies+=("$out")
  done
done
"$VALIDATORS/apim-policy-check/check" --strict "${policies[@]}"
echo "validators: apim-policy-check --strict passed on ${#policies[@]} policies" >&2

# Terraform and Bicep: `oailb render all` of every example and render fixture
# in both modes, checked by the HashiCorp parser, real `terraform fmt`, the
# config loader and the azurerm 4.55 schema (check-terraform), and by the
# Bicep parser with every property name checked against the Azure SDK
# models (check-bicep). Same skip rule as above for topologies that cannot
# be a pool (tests/render_cli.rs checks that refusal).
"$VALIDATORS/terraform/install.sh" >&2
"$VALIDATORS/bicep/install.sh" >&2
tf_dirs=()
bicep_dirs=()
for topo in examples/*.yaml tests/render/*.yaml; do
  name=$(basename "$topo" .yaml)
  for mode in policy pool; do
    out="$OUT/iac/$name-$mode"
    if rendered "$topo" "$mode" render all --out "$out"; then
      tf_dirs+=("$out/terraform")
      bicep_dirs+=("$out/bicep")
    fi
  done
done
"$VALIDATORS/terraform/check-terraform" "${tf_dirs[@]}"
echo "validators: check-terraform passed on ${#tf_dirs[@]} Terraform modules" >&2
# One known finding is not a defect: Application Insights' custom-metric
# dimensions (`CustomMetricsOptedInType`, needed for the consumers' token
# metrics) is accepted and returned by ARM but missing from the REST spec and
# so from the SDK models check-bicep reads (Bicep itself warns BCP037, which
# the rendered file disables for that line). Every other finding fails.
status=0
"$VALIDATORS/bicep/check-bicep" "${bicep_dirs[@]}" > "$OUT/bicep-findings" || status=$?
if [ "$status" -eq 2 ]; then cat "$OUT/bicep-findings"; exit 2; fi
grep -v 'properties\.CustomMetricsOptedInType: unknown property' "$OUT/bicep-findings" > "$OUT/bicep-left" || true
cat "$OUT/bicep-left"
if grep -q ': error:' "$OUT/bicep-left"; then
  echo "validators: check-bicep found errors" >&2
  exit 1
fi
echo "validators: check-bicep passed on ${#bicep_dirs[@]} Bicep deployments ($(grep -c 'CustomMetricsOptedInType' "$OUT/bicep-findings" || true) known CustomMetricsOptedInType finding(s) set aside)" >&2
VALIDATORS_CACHE="${OAILB_VALIDATORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oailb-validators}"

# Security scanner: checkov from PyPI (pinned, in a venv outside the
# repository) on the same Terraform and Bicep, with the OpenAPI files and
# the secrets scan. Each finding is fixed or skipped in the templates with
# its reason (README "Scanner findings"), so any failed check fails the run.
CHECKOV_VERSION=3.3.30
CHECKOV="$VALIDATORS_CACHE/checkov-$CHECKOV_VERSION"
if [ ! -x "$CHECKOV/bin/checkov" ]; then
  python3 -m venv "$CHECKOV"
  "$CHECKOV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi
scan=()
for d in "${tf_dirs[@]}"; do scan+=(-d "$(dirname "$d")"); done
"$CHECKOV/bin/checkov" "${scan[@]}" --quiet --compact --skip-download \
  --framework terraform bicep secrets openapi >&2
echo "validators: checkov $CHECKOV_VERSION found nothing unexplained in ${#tf_dirs[@]} renders" >&2

# Deploy request bodies: `oailb deploy` of every example in both modes
# against the fake ARM (tests/fake_arm, as a process that records every PUT),
# then each recorded body checked against the Azure SDK models with
# check-bicep's model walker (scripts/check-arm-bodies.py). Same skip rule as
# above for topologies that cannot be a pool.
FAKE=target/debug/examples/fake-arm
[ -x "$FAKE" ] || cargo build --locked --quiet --example fake-arm
records=()
for topo in examples/*.yaml; do
  name=$(basename "$topo" .yaml)
  for mode in policy pool; do
    work="$OUT/deploy/$name-$mode"
    mkdir -p "$work"
    # The topology with `load_balancing.mode: $mode` (block-style examples).
    if grep -q '^load_balancing:' "$topo"; then
      sed -e '/^  mode: /d' -e "s/^load_balancing:\$/load_balancing:\n  mode: $mode/" "$topo"
    else
      cat "$topo"
      printf 'load_balancing:\n  mode: %s\n' "$mode"
    fi > "$work/oailb.yaml"
    if ! "$OAILB" validate -q --color never -f "$work/oailb.yaml" >/dev/null 2>&1; then
      echo "validators: $topo cannot use $mode mode, deploy check skipped" >&2
      continue
    fi
    mkfifo "$work/ctl"
    "$FAKE" --record "$work/puts.jsonl" < "$work/ctl" > "$work/fake.env" &
    fake_pid=$!
    exec 3>"$work/ctl"
    until [ -s "$work/fake.env" ]; do sleep 0.05; done
    status=0
    ( . "$work/fake.env"
      PARTNER_OPENAI_KEY=validator-key AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000001 \
        OAILB_BACKOFF_BASE_MS=5 "$OAILB" deploy -q --yes --color never -f "$work/oailb.yaml" ) 2>"$OUT/err" || status=$?
    exec 3>&-
    wait "$fake_pid"
    if [ "$status" -ne 0 ]; then
      cat "$OUT/err" >&2
      echo "validators: deploy against the fake ARM failed for $topo ($mode mode)" >&2
      exit 1
    fi
    records+=("$work/puts.jsonl")
  done
done
# SDK models of types the validators do not map (Azure Managed Redis), pinned
# to the API version oailb uses (azure-mgmt-redisenterprise 3.1.0: 2025-07-01).
MODELS="$VALIDATORS_CACHE/oailb-models"
if [ ! -d "$MODELS/azure/mgmt/redisenterprise" ]; then
  "$VALIDATORS_CACHE/bicep/venv/bin/pip" install --quiet --disable-pip-version-check \
    --no-deps --target "$MODELS" azure-mgmt-redisenterprise==3.1.0 >&2
fi
"$VALIDATORS_CACHE/bicep/venv/bin/python" scripts/check-arm-bodies.py "$VALIDATORS" "$MODELS" "${records[@]}"
echo "validators: check-arm-bodies passed on ${#records[@]} deploys" >&2
