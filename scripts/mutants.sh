#!/usr/bin/env bash
# Mutation testing: do the tests notice when the code is wrong? Each part
# changes the code in small ways (a mutant) and runs the tests; a mutant the
# tests do not catch is a gap in the tests, or a change that cannot be told
# apart (listed with its reason in the README, "Mutation testing").
#
# Not run in CI: the Rust part builds and tests each of ~350 mutants one
# after another, about 90 minutes on two cores; the policy part about 13.
#
#   scripts/mutants.sh [rust|policy] [-- <extra cargo-mutants arguments | mutant ids>]
#
# Results: target/mutants.out/ (caught.txt, missed.txt, timeout.txt,
# unviable.txt, outcomes.json). `-- --iterate` re-tests only what the last
# run missed (plus new code).
set -euo pipefail
cd "$(dirname "$0")/.."

part="${1:-all}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

# Where cargo-mutants is installed if it is not on PATH: outside the repo.
TOOLS="${OAILB_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/oailb-tools}"
CARGO_MUTANTS_VERSION=27.1.0

summary() {
  local out=$1
  local caught missed timeout unviable
  caught=$(wc -l < "$out/caught.txt")
  missed=$(wc -l < "$out/missed.txt")
  timeout=$(wc -l < "$out/timeout.txt")
  unviable=$(wc -l < "$out/unviable.txt")
  local viable=$((caught + missed + timeout))
  echo "mutants: $viable viable ($unviable unviable): $caught caught, $missed missed, $timeout timeouts" \
    "= $((viable ? 100 * caught / viable : 0)) % caught" >&2
  if [ "$missed" -gt 0 ]; then
    echo "missed:" >&2
    sed 's/^/  /' "$out/missed.txt" >&2
  fi
}

# --- Rust: cargo-mutants on the validation rules and the desired state ----
# Which tests each mutant runs and the build profile are in
# .cargo/mutants.toml (unit tests, the invalid/warning topology corpus, the
# desired-state snapshots). One job at a time, each test run bounded.
rust() {
  if ! command -v cargo-mutants >/dev/null; then
    if [ ! -x "$TOOLS/bin/cargo-mutants" ]; then
      echo "mutants: installing cargo-mutants $CARGO_MUTANTS_VERSION into $TOOLS" >&2
      cargo install --locked --quiet cargo-mutants --version "$CARGO_MUTANTS_VERSION" --root "$TOOLS"
    fi
    PATH="$TOOLS/bin:$PATH"
  fi
  local status=0
  cargo mutants --jobs 1 --timeout 120 --build-timeout 600 --output target \
    --file src/topology/validate.rs --file 'src/desired/*.rs' "$@" || status=$?
  summary target/mutants.out
  # 2 = mutants missed, 3 = timeouts: reported above, not a failure of the run.
  case $status in 0 | 2 | 3) return 0 ;; *) return "$status" ;; esac
}

# --- APIM policy template (policies/policy-mode.xml.tera) ------------------
# The mutants of scripts/policy-mutants.txt, each run against the
# executed-policy scenario test (tests/balancer_scenarios.rs, no snapshots).
policy() {
  scripts/policy-mutants.sh "$@"
}

case "$part" in
  rust) rust "$@" ;;
  policy) policy "$@" ;;
  all)
    rust
    policy
    ;;
  *)
    echo "usage: scripts/mutants.sh [rust|policy] [-- <cargo-mutants arguments | mutant ids>]" >&2
    exit 2
    ;;
esac
