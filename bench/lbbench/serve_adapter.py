#!/usr/bin/env python3
"""lbbench router adapter for `oailb serve`.

    {py} serve_adapter.py --backends BACKENDS.json --port PORT --max-seconds S [--rundir DIR]

Turns lbbench's backends JSON into an oailb topology and runs
`oailb serve` on 127.0.0.1:PORT in front of the mocks (`--upstream NAME=URL`),
replacing this process (SIGTERM from bench.py reaches oailb directly).

lbbench's tpm/rpm are per *scaled* minute of 60/time_factor real seconds; the
topology describes each backend by its real per-minute rate: a Standard
deployment of capacity tpm*time_factor/1000 (1,000 tokens and 6 requests per
minute per unit, the ratio every lbbench scenario uses). Its buckets hold
bucket_window_s scaled seconds = bucket_window_s/time_factor real seconds:
load_balancing.quota_window_seconds.

The binary: $OAILB_BIN, else $OAILB_ROOT/target/release/oailb.
"""
import argparse
import json
import os
import sys
import tempfile


def topology(cfg, port):
    tf = cfg["time_factor"]
    window = cfg["bucket_window_s"] / tf
    if window != int(window) or window < 1:
        sys.exit(f"serve_adapter: bucket_window_s/time_factor = {window} s is not a whole number of seconds")
    deployment = cfg["backends"][0]["deployment"]
    groups = {}
    for b in cfg["backends"]:
        tokens = b["tpm"] * tf
        if tokens % 1000 or b["rpm"] * 1000 != b["tpm"] * 6:
            sys.exit(f"serve_adapter: backend {b['name']}: tpm {b['tpm']} / rpm {b['rpm']} is not a Standard "
                     "capacity (1,000 tokens and 6 requests per minute per unit)")
        groups.setdefault(b["priority"], []).append({
            "name": b["name"],
            "endpoint": f"https://{b['name']}.openai.azure.com/",
            "auth": "api-key",
            "api_key": {"env": "LBBENCH_API_KEY"},
            "models": [{"name": deployment, "deployment": b["deployment"], "capacity": tokens // 1000}],
        })
    return {
        "resource_group": "lbbench",
        "location": "eastus",
        "apim": {"name": "lbbench-oailb-gateway", "publisher_name": "lbbench",
                 "publisher_email": "lbbench@example.com"},
        "api": {"name": "openai", "path": "openai"},
        "load_balancing": {"quota_window_seconds": int(window), "backend_header": "x-lbbench-backend"},
        "models": [{"name": deployment, "model": "gpt-35-turbo", "version": "0125",
                    "capacity": max(g["models"][0]["capacity"] for gs in groups.values() for g in gs)}],
        "priority_groups": [{"priority": p, "backends": groups[p]} for p in sorted(groups)],
        "serve": {"listen": f"127.0.0.1:{port}"},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--max-seconds", type=int, default=300)
    ap.add_argument("--rundir")
    a = ap.parse_args()
    with open(a.backends) as f:
        cfg = json.load(f)
    out_dir = a.rundir or tempfile.mkdtemp(prefix="oailb-lbbench-")
    topo = os.path.join(out_dir, "oailb-topology.json")
    with open(topo, "w") as f:
        json.dump(topology(cfg, a.port), f, indent=1)
    root = os.environ.get("OAILB_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    binary = os.environ.get("OAILB_BIN", os.path.join(root, "target", "release", "oailb"))
    args = ["timeout", str(a.max_seconds), binary, "serve", "-f", topo, "--quiet"]
    for b in cfg["backends"]:
        args += ["--upstream", f"{b['name']}={b['url']}"]
    env = dict(os.environ, LBBENCH_API_KEY=cfg["api_key"])
    env.pop("OAILB_STATE", None)
    os.execvpe("timeout", args, env)


if __name__ == "__main__":
    main()
