#!/usr/bin/env bash
# Makes the Python venv with the OpenAI SDK that tests/serve_openai_sdk.rs
# uses: pinned versions from tests/python/requirements.txt, from PyPI.
# Idempotent: a venv whose requirements match is kept.
# Usage: scripts/openai-sdk-venv.sh [DIR]   (default target/openai-sdk-venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/target/openai-sdk-venv}"
req="$root/tests/python/requirements.txt"
stamp="$dir/.requirements"
if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
rm -rf "$dir"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req"
"$dir/bin/python" -c 'import openai' >/dev/null
cp "$req" "$stamp"
echo "openai-sdk-venv: $dir" >&2
