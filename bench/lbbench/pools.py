#!/usr/bin/env python3
"""The backend pools of a pool-mode topology as the policy harness's `pools` config, for lbbench.

    oailb plan --offline --json -f TOPOLOGY | python3 pools.py > pools.json

Reads oailb's offline plan (docs/schemas/plan-offline.v1.json), so the pools are the ones oailb
would deploy, not a second derivation from the topology: every resource of type Pool becomes
{"<pool name, the policy's backend-id>": [member, ...]}, each member the Single backend the pool
lists with its priority and weight, its first circuit breaker rule (count, interval, status code
ranges, trip duration, acceptRetryAfter; ISO 8601 durations in milliseconds) and its credentials
headers (named values stay {{name}}: the harness fills them from its named_values). This is the
shape tests/harness/PolicyHarness.cs (Pool.FromJson) reads and tests/balancer_scenarios.rs
(`pools`) builds from the desired state. Standard library only; exits 1 with a message on a plan
it cannot read.
"""
import json
import re
import sys

DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")


def fail(msg):
    sys.exit(f"pools.py: {msg}")


def duration_ms(value, where):
    m = DURATION.fullmatch(value or "")
    if not m or value == "PT":
        fail(f"{where}: {value!r} is not an ISO 8601 duration of hours, minutes and seconds")
    h, mi, s = (int(g or 0) for g in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000


def member(backend, service):
    props = backend["body"]["properties"]
    where = f"backend {backend['name']}"
    rules = (props.get("circuitBreaker") or {}).get("rules") or []
    if not rules:
        fail(f"{where}: no circuit breaker rule (a pool member needs one)")
    rule = rules[0]
    cond = rule["failureCondition"]
    return {
        "name": backend["name"],
        "url": props["url"],
        "priority": service["priority"],
        "weight": service["weight"],
        "breaker": {
            "count": cond["count"],
            "interval_ms": duration_ms(cond["interval"], f"{where}, failureCondition.interval"),
            "ranges": [[r["min"], r["max"]] for r in cond["statusCodeRanges"]],
            "trip_ms": duration_ms(rule["tripDuration"], f"{where}, tripDuration"),
            "accept_retry_after": rule.get("acceptRetryAfter", False),
        },
        "headers": (props.get("credentials") or {}).get("header") or {},
    }


def pools(plan):
    backends = {r["id"]: r for r in plan["resources"] if r["type"] == "Microsoft.ApiManagement/service/backends"}
    out = {}
    for r in backends.values():
        props = r["body"]["properties"]
        if props.get("type") != "Pool":
            continue
        members = []
        for s in props["pool"]["services"]:
            if s["id"] not in backends:
                fail(f"pool {r['name']}: member {s['id']} is not a backend of the plan")
            members.append(member(backends[s["id"]], s))
        out[r["name"]] = members
    if not out:
        fail(f"the plan has no backend pool (mode {plan.get('mode')!r}; pool mode needs load_balancing.mode: pool)")
    return out


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: pools.py [PLAN_JSON]   (default: stdin)")
    try:
        plan = json.load(open(sys.argv[1]) if len(sys.argv) == 2 else sys.stdin)
        out = pools(plan)
    except (OSError, json.JSONDecodeError) as e:
        fail(str(e))
    except (KeyError, TypeError) as e:
        fail(f"not an oailb plan (schema_version 1): missing or wrong field {e}")
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
