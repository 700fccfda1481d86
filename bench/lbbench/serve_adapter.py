#!/usr/bin/env python3
"""lbbench router adapter for `oailb serve`.

    {py} serve_adapter.py --backends BACKENDS.json --port PORT --max-seconds S [--rundir DIR]

Describes lbbench's backends as a topology with topology.py (each backend a
Standard deployment of its real per-minute rate, quota_window_seconds =
bucket_window_s / time_factor, x-lbbench-backend naming the backend), adds a
`serve` section listening on 127.0.0.1:PORT, and replaces this process with
`oailb serve --upstream NAME=URL ...` in front of the mocks, so SIGTERM from
bench.py reaches oailb directly; `timeout` ends it after --max-seconds.

The binary: $OAILB_BIN, else $OAILB_ROOT/target/release/oailb.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import topology  # noqa: E402  (bench/lbbench/topology.py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--max-seconds", type=int, default=300)
    ap.add_argument("--rundir")
    a = ap.parse_args()
    with open(a.backends) as f:
        cfg = json.load(f)
    topo = topology.topology(cfg)
    topo["serve"] = {"listen": f"127.0.0.1:{a.port}"}
    out_dir = a.rundir or tempfile.mkdtemp(prefix="oailb-lbbench-")
    path = os.path.join(out_dir, "oailb-serve-topology.json")
    with open(path, "w") as f:
        json.dump(topo, f, indent=1)
    root = os.environ.get("OAILB_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    binary = os.environ.get("OAILB_BIN", os.path.join(root, "target", "release", "oailb"))
    args = ["timeout", str(a.max_seconds), binary, "serve", "-f", path, "--quiet"]
    for b in cfg["backends"]:
        args += ["--upstream", f"{b['name']}={b['url']}"]
    env = dict(os.environ, **{topology.API_KEY_ENV: cfg["api_key"]})
    env.pop("OAILB_STATE", None)
    os.execvpe("timeout", args, env)


if __name__ == "__main__":
    main()
