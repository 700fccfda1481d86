#!/usr/bin/env python3
"""The README's "Balancing quality" table from an lbbench run's metrics.json
(`bench/lbbench/run.sh` writes it to $OUT): per scenario the ideal bound, then
oailb's routers, then the peers, in a fixed order.

    python3 bench/lbbench/readme_table.py ~/lbbench-runs/metrics.json
"""
import json
import sys

ORDER = ["oailb-policy", "oailb-serve", "oailb-policy-shared", "oailb-pool",
         "oailb-policy-prev", "ref", "litellm-order", "portkey"]
OURS = {"oailb-policy", "oailb-serve", "oailb-policy-shared"}


def f0(x):
    return "" if x is None else f"{x:.0f}"


def rows(metrics):
    by_scenario = {}
    for m in metrics:
        by_scenario.setdefault(m["scenario"], []).append(m)
    out = ["| scenario | router | success % | client 429 (with Retry-After) | client 5xx "
           "| wasted upstream /1k (avoidable) | p1 util % | calls to p2 | p99 ms |",
           "|---|---|---|---|---|---|---|---|---|"]
    for s in sorted(by_scenario):
        ms = sorted(by_scenario[s], key=lambda m: (ORDER.index(m["router"])
                                                   if m["router"] in ORDER else len(ORDER), m["router"]))
        i = ms[0]["ideal"]
        out.append(f"| {s} | **ideal bound** | {i['success_pct']:.1f} | {i['client_429']} | 0 | 0 "
                   f"| {i['p1_util_pct']:.0f} | {i['p2_calls']} | |")
        for m in ms:
            name = f"**{m['router']}**" if m["router"] in OURS else m["router"]
            out.append(f"| {s} | {name} | {m['success_pct']:.1f} "
                       f"| {m['client_429']} ({m['client_429_with_retry_after']}) | {m['client_5xx']} "
                       f"| {m['wasted_per_1k']:.0f} ({m['wasted_avoidable_per_1k']:.0f}) "
                       f"| {m['p1_util_pct']:.0f} | {m['p2_calls']} | {f0(m['p99'])} |")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: readme_table.py METRICS_JSON")
    # lbbench's report.py writes one list of per-run metrics.
    with open(sys.argv[1]) as f:
        print(rows(json.load(f)))


if __name__ == "__main__":
    main()
