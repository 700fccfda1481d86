#!/usr/bin/env bash
# Installs what the tests need beyond cargo: Mono's C# compiler and runtime
# plus Newtonsoft.Json, which tests/balancer_scenarios.rs uses to execute the
# rendered APIM policy (tests/harness); rsvg-convert, which tests/simulate.rs
# uses to turn the simulation plot into a PNG (a malformed SVG fails there);
# redis-server, which tests/serve_redis.rs starts on a free port; python3-venv,
# for the OpenAI SDK venv that scripts/openai-sdk-venv.sh makes
# (tests/serve_openai_sdk.rs). Debian packages; idempotent.
set -euo pipefail
pkgs=()
command -v mcs >/dev/null 2>&1 || pkgs+=(mono-mcs)
command -v mono >/dev/null 2>&1 || pkgs+=(mono-runtime)
command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || pkgs+=(python3-venv)
command -v rsvg-convert >/dev/null 2>&1 || pkgs+=(librsvg2-bin)
if ! ls /usr/lib/cli/Newtonsoft.Json*/Newtonsoft.Json.dll >/dev/null 2>&1; then
  pkgs+=(libnewtonsoft-json-cil-dev)
fi
if [ ${#pkgs[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "test-deps: apt-get install ${pkgs[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
