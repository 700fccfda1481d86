#!/usr/bin/env bash
# Prints a synthetic topology: BACKENDS managed backends in three priority
# groups, MODELS models (each backend serves every model), for benchmarks.
# Usage: bench/gen-topology.sh [BACKENDS=30] [MODELS=3] [MODE=policy]
set -euo pipefail
backends=${1:-30}
models=${2:-3}
mode=${3:-policy}
regions=(eastus eastus2 westus3 swedencentral francecentral uksouth japaneast canadaeast australiaeast northcentralus)
cat <<YAML
resource_group: rg-bench
location: eastus2
apim:
  name: contoso-bench-gateway
  sku: StandardV2
  publisher_name: Bench
  publisher_email: bench@contoso.com
api:
  name: openai
  path: openai
monitoring:
  sampling_percentage: 5
load_balancing:
  mode: $mode
models:
YAML
for m in $(seq 1 "$models"); do
  printf '  - name: model-%s\n    model: gpt-4o\n    version: "2024-11-20"\n    capacity: %s\n' "$m" "$((m * 10))"
done
echo "priority_groups:"
per_group=$(( (backends + 2) / 3 ))
n=0
for g in 1 2 3; do
  printf '  - priority: %s\n    backends:\n' "$g"
  for _ in $(seq 1 "$per_group"); do
    [ "$n" -ge "$backends" ] && break
    n=$((n + 1))
    printf '      - name: b%s\n        region: %s\n' "$n" "${regions[$((n % ${#regions[@]}))]}"
  done
done
