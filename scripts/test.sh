#!/usr/bin/env bash
# The one test command (README "Development"): build, format, lint, every
# test, and the independent validators on everything oailb renders.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test dependencies (Mono for the policy harness)"
scripts/test-deps.sh
step "cargo build"
cargo build --locked --all-targets
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings
step "cargo test"
cargo test --locked
step "validators on rendered output"
scripts/validators.sh
