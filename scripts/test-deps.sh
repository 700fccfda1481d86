#!/usr/bin/env bash
# Installs what the tests need beyond cargo: Mono's C# compiler and runtime
# plus Newtonsoft.Json, which tests/balancer_scenarios.rs uses to execute the
# rendered APIM policy (tests/harness), and rsvg-convert, which
# tests/simulate.rs uses to turn the simulation plot into a PNG (a malformed
# SVG fails there). Debian packages; idempotent.
set -euo pipefail
pkgs=()
command -v mcs >/dev/null 2>&1 || pkgs+=(mono-mcs)
command -v mono >/dev/null 2>&1 || pkgs+=(mono-runtime)
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
