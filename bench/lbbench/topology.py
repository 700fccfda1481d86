#!/usr/bin/env python3
"""lbbench's backends JSON as an oailb topology, for every oailb router of the bench.

    python3 topology.py BACKENDS_JSON                 # the topology (JSON, which oailb reads as YAML)
    python3 topology.py BACKENDS_JSON --upstreams     # {"<backend host>": "http://127.0.0.1:<port>"}
    python3 topology.py BACKENDS_JSON --named-values  # {"<backend>-api-key": "<the mocks' key>"}

Each mock backend becomes an existing API-key backend at https://lbbench-<name>.openai.azure.com/
(the gateway maps that host onto the mock's loopback port), serving the scenario's deployment.
The mocks count quota per scaled minute of 60/time_factor real seconds: a backend's real rate is
tpm * time_factor tokens per minute, i.e. Standard capacity tpm * time_factor / 1000 (and rpm *
time_factor requests per minute, Azure's ratio of 6 per 1,000 tokens unless the scenario says
otherwise), and its bucket holds bucket_window_s scaled seconds = bucket_window_s / time_factor
real seconds (load_balancing.quota_window_seconds). Priorities are renumbered 1..N in order.
Responses name the serving backend in x-lbbench-backend (load_balancing.backend_header).
Standard library only; exits 1 with a message on a scenario oailb cannot describe.
"""
import json
import os
import sys
from fractions import Fraction

API_KEY_ENV = "LBBENCH_API_KEY"


def fail(msg):
    sys.exit(f"topology.py: {msg}")


def whole(value, what):
    if value.denominator != 1 or value < 1:
        fail(f"{what} is {float(value):g}: oailb needs a whole number of at least 1")
    return int(value)


def host(backend):
    return f"lbbench-{backend['name']}.openai.azure.com"


def topology(cfg):
    tf = Fraction(cfg["time_factor"])
    window = whole(Fraction(cfg["bucket_window_s"]) / tf, "bucket_window_s / time_factor")
    backends = cfg["backends"]
    deployments = {b["deployment"] for b in backends}
    if len(deployments) != 1:
        fail(f"the backends serve several deployments {sorted(deployments)}: one model per scenario")
    deployment = deployments.pop()
    # Requests per 1,000 tokens: Azure's 6 unless the scenario's backends agree on another ratio.
    ratios = {Fraction(b["rpm"]) * 1000 / Fraction(b["tpm"]) for b in backends}
    if len(ratios) != 1:
        fail("the backends have different request/token ratios, which one model quota cannot describe")
    ratio = ratios.pop()
    model = {"name": deployment, "model": "gpt-4o-mini", "version": "2024-07-18", "sku": "Standard", "capacity": 1}
    if ratio != 6:
        model["quota"] = {"tokens_per_minute": 1000, "requests_per_minute": whole(ratio, "requests per 1,000 tokens")}
    groups = []
    for rank, priority in enumerate(sorted({b["priority"] for b in backends}), start=1):
        members = []
        for b in backends:
            if b["priority"] != priority:
                continue
            capacity = whole(Fraction(b["tpm"]) * tf / 1000, f"backend {b['name']}: tpm * time_factor / 1000")
            members.append({
                "name": b["name"],
                "endpoint": f"https://{host(b)}/",
                "auth": "api-key",
                "api_key": {"env": API_KEY_ENV},
                "models": [{"name": deployment, "capacity": capacity}],
            })
        groups.append({"priority": rank, "backends": members})
    return {
        "resource_group": "rg-lbbench",
        "location": "eastus",
        "apim": {"name": "lbbench-gateway", "sku": "Developer",
                 "publisher_name": "lbbench", "publisher_email": "lbbench@example.com"},
        "api": {"name": "openai", "path": "openai", "subscription_key_header": "api-key", "operations": "wildcard"},
        # OAILB_LB_SETTINGS (JSON) adds load_balancing settings, for tuning runs.
        "load_balancing": {"mode": "policy", "quota_window_seconds": window, "backend_header": "x-lbbench-backend",
                           **json.loads(os.environ.get("OAILB_LB_SETTINGS") or "{}")},
        "models": [model],
        "priority_groups": groups,
    }


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-") or len(args) > 2:
        sys.exit("usage: topology.py BACKENDS_JSON [--upstreams | --named-values]")
    try:
        with open(args[0]) as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{args[0]}: {e}")
    what = args[1] if len(args) > 1 else "--topology"
    if what == "--upstreams":
        out = {host(b): b["url"] for b in cfg["backends"]}
    elif what == "--named-values":
        out = {f"{b['name']}-api-key": cfg["api_key"] for b in cfg["backends"]}
    elif what == "--topology":
        out = topology(cfg)
    else:
        fail(f"unknown option {what}")
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
