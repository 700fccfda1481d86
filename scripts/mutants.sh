#!/usr/bin/env bash
# Mutation testing: do the tests notice when the code is wrong? Each part
# changes the code in small ways (a mutant) and runs the tests; a mutant the
# tests do not catch is a gap in the tests, or a change no test can tell
# apart (listed with its reason). Not run in CI: see the README
# ("Mutation testing") for the figures and the time it takes.
#
#   scripts/mutants.sh [policy] [-- <mutant ids>]
set -euo pipefail
cd "$(dirname "$0")/.."

part="${1:-all}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

# --- APIM policy template (policies/policy-mode.xml.tera) ------------------
# The mutants of scripts/policy-mutants.txt, each run against the
# executed-policy scenario test (tests/balancer_scenarios.rs, no snapshots).
policy() {
  scripts/policy-mutants.sh "$@"
}

case "$part" in
  policy | all) policy "$@" ;;
  *)
    echo "usage: scripts/mutants.sh [policy] [-- <mutant ids>]" >&2
    exit 2
    ;;
esac
