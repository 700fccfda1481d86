#!/usr/bin/env bash
# Gateway overhead of `oailb serve`, side by side with the LiteLLM proxy and
# the Portkey gateway, in front of one mock Azure OpenAI (two backends, the
# `mock-aoai` example) that answers at once. A benchmark, not a test: it
# prints a table and keeps the raw figures in bench/out/serve-overhead/.
#
#   bench/serve-overhead.sh
#
# Measures, per gateway: p50/p99 latency at RATE requests/s (open loop, DUR
# seconds) minus the same figures straight to the mock; the most requests/s
# with CONC connections (closed loop, MAXDUR seconds); and the peak RSS of
# the gateway while STREAMS clients hold a 10 s streaming answer each.
#
# The LiteLLM proxy starts slowly (about a minute on a busy 2-core machine).
#
# Needs: oha (`cargo install --locked oha --root ~/.local`, outside this
# repository; OHA=path), and for the peers: LITELLM_VENV (a venv where
# `litellm` runs its proxy) and LBBENCH (a copy of ../shared/lbbench after
# its install.sh: the Portkey gateway). A peer that is missing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || true
RATE=${RATE:-1000} DUR=${DUR:-15} MAXDUR=${MAXDUR:-10} CONC=${CONC:-64} STREAMS=${STREAMS:-1000}
OHA=${OHA:-oha}
LITELLM_VENV=${LITELLM_VENV:-}
LBBENCH=${LBBENCH:-}
out=bench/out/serve-overhead
rm -rf "$out" && mkdir -p "$out"
command -v "$OHA" >/dev/null || { echo "oha not found: cargo install --locked oha (or OHA=path)" >&2; exit 2; }
# SKIP_BUILD=1: use the release binaries already built.
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -q --bin oailb --example mock-aoai
bin=target/release/oailb

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 1800); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
start_mock() { # $1: file, $2...: extra flags
  local f=$1; shift
  target/release/examples/mock-aoai --backends 2 --max-seconds 1800 "$@" > "$f" & pids+=($!)
  for _ in $(seq 1 100); do [ -s "$f" ] && return 0; sleep 0.1; done; return 1
}
url_of() { python3 -c "import json,sys; print(json.load(open('$1'))['backends'][$2]['url'])"; }

BODY='{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}'
KEY=bench-not-a-secret
LITELLM_KEY=sk-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
API_VERSION=2024-10-21

# A topology whose quota never binds: the gateway's own cost is measured.
topology() { # $1: mock json, $2: listen port
  python3 - "$1" "$2" <<'PY'
import json, sys
mock = json.load(open(sys.argv[1]))
print(json.dumps({
  "resource_group": "bench", "location": "eastus",
  "apim": {"name": "bench-oailb-gateway", "publisher_name": "bench", "publisher_email": "bench@example.com"},
  "api": {"name": "openai", "path": "openai"},
  "models": [{"name": "gpt-35-turbo", "model": "gpt-35-turbo", "version": "0125", "capacity": 1000,
              "quota": {"tokens_per_minute": 1000000, "requests_per_minute": 1000000}}],
  "priority_groups": [{"priority": 1, "backends": [
      {"name": b["name"], "endpoint": "https://%s.openai.azure.com/" % b["name"], "auth": "api-key",
       "api_key": {"env": "BENCH_BACKEND_KEY"}} for b in mock["backends"]]}],
  "serve": {"listen": "127.0.0.1:%s" % sys.argv[2]},
}, indent=1))
PY
}
start_serve() { # $1: mock json, $2: port, $3: name
  topology "$1" "$2" > "$out/$3-topology.json"
  local ups=()
  for i in 0 1; do ups+=(--upstream "b$i=$(url_of "$1" $i)"); done
  BENCH_BACKEND_KEY=$KEY "$bin" serve -f "$out/$3-topology.json" --quiet "${ups[@]}" > /dev/null 2> "$out/$3.err" & pids+=($!)
  wait_port "$2"
}
start_litellm() { # $1: mock json, $2: port, $3: name
  [ -n "$LITELLM_VENV" ] && [ -x "$LITELLM_VENV/bin/litellm" ] || return 1
  python3 - "$1" > "$out/$3-config.yaml" <<PY
import json, sys
mock = json.load(open(sys.argv[1]))
print("model_list:")
for b in mock["backends"]:
    print("  - model_name: gpt-35-turbo")
    print("    litellm_params: {model: azure/gpt-35-turbo, api_base: '%s', api_key: '$KEY', api_version: '$API_VERSION'}" % b["url"])
print("litellm_settings: {num_retries: 0, request_timeout: 60, telemetry: false}")
PY
  (cd "$out" && LITELLM_MASTER_KEY=$LITELLM_KEY LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_OFFLINE_MODE=true \
    exec "$LITELLM_VENV/bin/litellm" --config "$3-config.yaml" --host 127.0.0.1 --port "$2" --num_workers 1 > "$3.log" 2>&1) & pids+=($!)
  wait_port "$2"
}
start_portkey() { # $1: mock json, $2: port, $3: name; writes $out/$3-endpoint.json
  [ -n "$LBBENCH" ] && [ -f "$LBBENCH/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ] || return 1
  python3 - "$1" > "$out/$3-backends.json" <<PY
import json, sys
mock = json.load(open(sys.argv[1]))
print(json.dumps({"model_group": "gpt-35-turbo", "api_version": "$API_VERSION", "api_key": "$KEY",
  "backends": [{"name": b["name"], "url": b["url"], "deployment": "gpt-35-turbo", "priority": 1} for b in mock["backends"]]}))
PY
  bash "$LBBENCH/run_portkey.sh" "$PWD/$out/$3-backends.json" "$2" "$PWD/$out/$3-endpoint.json" 1800 > "$out/$3.log" 2>&1 & pids+=($!)
  wait_port "$2"
}

# oha with the request of a target: $1 name, $2 url, $3 extra header ('' for none), rest: oha flags
oha_run() {
  local name=$1 url=$2 header=$3; shift 3
  local h=(-H "content-type: application/json" -H "api-key: $KEY")
  [ -n "$header" ] && h+=(-H "$header")
  "$OHA" --no-tui --output-format json -m POST -d "$BODY" "${h[@]}" "$@" "$url" > "$out/$name.json"
}
summary() { python3 - "$out/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
total = sum(codes.values()) + sum(r.get("errorDistribution", {}).values())
print("%.3f %.3f %.0f %d %d" % (p["p50"] * 1000, p["p99"] * 1000, s["requestsPerSec"], ok, total))
PY
}

start_mock "$out/mock.json"
mock0=$(url_of "$out/mock.json" 0)
declare -A URL HDR
URL[direct]="$mock0/openai/deployments/gpt-35-turbo/chat/completions?api-version=$API_VERSION"; HDR[direct]=""
p=$(free_port); start_serve "$out/mock.json" "$p" serve
URL[oailb-serve]="http://127.0.0.1:$p/openai/deployments/gpt-35-turbo/chat/completions?api-version=$API_VERSION"; HDR[oailb-serve]=""
targets=(direct oailb-serve)
p=$(free_port)
if start_litellm "$out/mock.json" "$p" litellm; then
  URL[litellm-proxy]="http://127.0.0.1:$p/chat/completions"; HDR[litellm-proxy]="authorization: Bearer $LITELLM_KEY"
  BODY_LITELLM=1; targets+=(litellm-proxy)
else echo "LiteLLM proxy skipped (LITELLM_VENV)" >&2; fi
p=$(free_port)
if start_portkey "$out/mock.json" "$p" portkey; then
  URL[portkey]=$(python3 -c "import json; print(json.load(open('$out/portkey-endpoint.json'))['url'])")
  HDR[portkey]="x-portkey-config: $(python3 -c "import json; print(json.load(open('$out/portkey-endpoint.json'))['headers']['x-portkey-config'])")"
  targets+=(portkey)
else echo "Portkey skipped (LBBENCH)" >&2; fi

# The OpenAI-style peers need the model in the body.
BODY='{"model":"gpt-35-turbo","messages":[{"role":"user","content":"hi"}],"max_tokens":1}'
for t in "${targets[@]}"; do
  oha_run "warm-$t" "${URL[$t]}" "${HDR[$t]}" -n 200 -c 8 >/dev/null || true
  oha_run "rate-$t" "${URL[$t]}" "${HDR[$t]}" -q "$RATE" -z "${DUR}s" -c 64
  oha_run "max-$t" "${URL[$t]}" "${HDR[$t]}" -z "${MAXDUR}s" -c "$CONC"
done

# RSS with STREAMS concurrent 10-second streams (20 chunks, 500 ms apart).
start_mock "$out/mock-stream.json" --stream 20:500
rss_peak() { # $1 pid, $2 seconds: highest VmRSS (KiB) of the process tree rooted at $1
  local peak=0 end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    local sum=0
    for q in $1 $(pgrep -P "$1" 2>/dev/null || true); do
      r=$(awk '/^VmRSS/ {print $2}' "/proc/$q/status" 2>/dev/null || echo 0); sum=$((sum + ${r:-0}))
    done
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 0.2
  done
  echo "$peak"
}
declare -A RSS
stream_run() { # $1 name, $2 url, $3 header, $4 pid
  oha_run "streams-$1" "$2" "$3" -n "$STREAMS" -c "$STREAMS" -t 60s &
  local load=$!
  RSS[$1]=$(rss_peak "$4" 14)
  wait "$load" || true
}
p=$(free_port); start_serve "$out/mock-stream.json" "$p" serve-stream; spid=${pids[-1]}
idle=$(awk '/^VmRSS/ {print $2}' "/proc/$spid/status")
stream_run oailb-serve "http://127.0.0.1:$p/openai/deployments/gpt-35-turbo/chat/completions?api-version=$API_VERSION" "" "$spid"
if [[ " ${targets[*]} " == *" litellm-proxy "* ]]; then
  p=$(free_port); start_litellm "$out/mock-stream.json" "$p" litellm-stream && lpid=${pids[-1]} &&
  BODY='{"model":"gpt-35-turbo","stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":1}' \
    stream_run litellm-proxy "http://127.0.0.1:$p/chat/completions" "authorization: Bearer $LITELLM_KEY" "$lpid"
fi
if [[ " ${targets[*]} " == *" portkey "* ]]; then
  p=$(free_port); start_portkey "$out/mock-stream.json" "$p" portkey-stream && kpid=${pids[-1]} &&
  BODY='{"model":"gpt-35-turbo","stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":1}' \
    stream_run portkey "$(python3 -c "import json; print(json.load(open('$out/portkey-stream-endpoint.json'))['url'])")" \
    "x-portkey-config: $(python3 -c "import json; print(json.load(open('$out/portkey-stream-endpoint.json'))['headers']['x-portkey-config'])")" "$kpid"
fi

read -r d50 d99 _ _ _ < <(summary rate-direct)
{
  echo "| gateway | p50 ms at $RATE/s (added) | p99 ms at $RATE/s (added) | ok / sent at $RATE/s | max req/s ($CONC conns) | peak RSS, $STREAMS streams |"
  echo "|---|---|---|---|---|---|"
  for t in "${targets[@]}"; do
    read -r p50 p99 _ ok total < <(summary "rate-$t")
    read -r _ _ max _ _ < <(summary "max-$t")
    if [ "$t" = direct ]; then add50="-"; add99="-"; else
      add50=$(python3 -c "print('%+.2f' % ($p50 - $d50))"); add99=$(python3 -c "print('%+.2f' % ($p99 - $d99))"); fi
    rss=${RSS[$t]:-}; [ -n "$rss" ] && rss="$((rss / 1024)) MiB"
    [ "$t" = direct ] && rss="(mock)"
    echo "| $t | $p50 ($add50) | $p99 ($add99) | $ok / $total | $max | ${rss:-n/a} |"
  done
  echo
  echo "oailb serve idle RSS: $((idle / 1024)) MiB; streams completed: $(python3 -c "import json; r=json.load(open('$out/streams-oailb-serve.json')); print(r.get('statusCodeDistribution',{}).get('200',0))") of $STREAMS"
} | tee "$out/results.md"
