#!/usr/bin/env bash
# The oailb steps of a CI pipeline, shared by github-actions.yml and
# azure-pipelines.yml so the two cannot drift apart (tests/ci_examples.rs
# runs this very script against a fake ARM).
#
#   oailb-ci.sh check    pull request: validate (+ SARIF), render --check, plan summary
#   oailb-ci.sh deploy   main branch: unattended deploy, JSON event lines
#
# Environment (all optional):
#   OAILB_BIN        the oailb binary                          (default: oailb on PATH)
#   OAILB_TOPOLOGY   topology file                             (default: oailb.yaml)
#   OAILB_AUTH       credential source; `cli` after azure/login or AzureCLI@2
#   OAILB_INFRA_DIR  committed Terraform/Bicep to keep in step (skipped when unset)
#   OAILB_SARIF      SARIF report for code scanning            (default: oailb.sarif)
#   OAILB_PLAN_MD    plan summary for a pull-request comment   (default: oailb-plan.md)
#   OAILB_SUMMARY    file the summary is appended to    (default: $GITHUB_STEP_SUMMARY)
#   OAILB_TIMEOUT    bound on the whole deploy                 (default: 90m)
#   OAILB_EVENTS     copy of deploy's JSON event lines         (default: oailb-deploy.jsonl)
# Exit codes are oailb's: 0 ok, 1 failure or drift, 2 invalid topology, 124 timeout.
set -euo pipefail

oailb=${OAILB_BIN:-oailb}
export OAILB_TOPOLOGY=${OAILB_TOPOLOGY:-oailb.yaml}

check() {
  # 1. The topology is valid: the human report goes to the log, the SARIF
  #    report to code scanning (also when there are errors).
  local status=0
  "$oailb" validate || status=$?
  "$oailb" validate --format sarif > "${OAILB_SARIF:-oailb.sarif}" || true
  [ "$status" -eq 0 ] || exit "$status"

  # 2. Committed infrastructure code matches the topology (exit 1 with a diff).
  if [ -n "${OAILB_INFRA_DIR:-}" ]; then
    "$oailb" render all --out "$OAILB_INFRA_DIR" --check
  fi

  # 3. What deploy would change, read-only. Exit 2 means "changes", which is
  #    what a pull request is for; anything else but 0 is an error.
  local md=${OAILB_PLAN_MD:-oailb-plan.md}
  status=0
  "$oailb" plan --format markdown --detailed-exitcode > "$md" || status=$?
  case "$status" in
    0 | 2) ;;
    *) exit "$status" ;;
  esac
  local summary=${OAILB_SUMMARY:-${GITHUB_STEP_SUMMARY:-}}
  if [ -n "$summary" ]; then
    cat "$md" >> "$summary"
  fi
}

deploy() {
  # No terminal in CI: --yes is required; --json gives one event per line.
  "$oailb" deploy --yes --json --timeout "${OAILB_TIMEOUT:-90m}" \
    | tee "${OAILB_EVENTS:-oailb-deploy.jsonl}"
}

case "${1:-}" in
  check) check ;;
  deploy) deploy ;;
  *)
    echo "usage: $0 check|deploy" >&2
    exit 2
    ;;
esac
