#!/usr/bin/env python3
"""Checks the PUT bodies `oailb deploy` sent (recorded by the fake ARM with
`--record`) against the Azure SDK models, with the model walker of
../shared/validators/bicep: unknown properties, read-only properties,
missing required properties and value shapes.

Usage: check-arm-bodies.py VALIDATORS_DIR MODELS_DIR RECORD.jsonl [...]
Run with the bicep validator's Python (it has the azure-mgmt-* packages).
MODELS_DIR holds SDK packages the validators do not map, installed by
scripts/validators.sh (azure-mgmt-redisenterprise for Azure Managed Redis).
Exit: 0 clean, 1 findings, 2 usage or setup error.
"""
import json
import sys
from pathlib import Path


def arm_type(path):
    """`/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/a/n/b/m` → `Microsoft.X/a/b`."""
    segs = path.strip("/").split("/")
    if len(segs) == 4 and segs[2].lower() == "resourcegroups":
        return "Microsoft.Resources/resourceGroups"
    lower = [s.lower() for s in segs]
    if "providers" not in lower:
        return None
    i = len(lower) - 1 - lower[::-1].index("providers")
    rest = segs[i + 1:]
    if len(rest) < 3 or len(rest) % 2 == 0:
        return None
    return "/".join([rest[0]] + rest[1::2])


# Properties ARM accepts and returns that the REST specs, and so the SDK
# models, lack; each with why oailb sends it.
UNDOCUMENTED = {
    # Custom metrics keep their dimensions (the consumer of every token
    # metric) only with this; ARM returns it on GET of every component.
    "microsoft.insights/components": ["properties.CustomMetricsOptedInType"],
}


def without_undocumented(rtype, body):
    body = json.loads(json.dumps(body))
    for path in UNDOCUMENTED.get(rtype.lower(), []):
        *parents, leaf = path.split(".")
        obj = body
        for p in parents:
            obj = obj.get(p) if isinstance(obj, dict) else None
        if isinstance(obj, dict):
            obj.pop(leaf, None)
    return body


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(sys.argv[1]) / "bicep" / "lib"))
    sys.path.append(sys.argv[2])
    try:
        import check_bicep as cb
    except Exception as e:  # the venv or the validators are missing
        print(f"check-arm-bodies: setup error: {e}", file=sys.stderr)
        return 2
    # Types oailb writes that check-bicep does not map: the same SDK models
    # the portal's REST specs generate (API versions in the comments).
    extra = {
        # azure-mgmt-redisenterprise 3.1.0: 2025-07-01
        "Microsoft.Cache/redisEnterprise": ("azure-mgmt-redisenterprise", "azure.mgmt.redisenterprise.models", "Cluster"),
        "Microsoft.Cache/redisEnterprise/databases": ("azure-mgmt-redisenterprise", "azure.mgmt.redisenterprise.models", "Database"),
        # azure-mgmt-apimanagement 5.0.0: 2024-05-01
        "Microsoft.ApiManagement/service/caches": ("azure-mgmt-apimanagement", "azure.mgmt.apimanagement.models", "CacheContract"),
    }
    for k, v in extra.items():
        cb.MAP[k] = v
        cb.MAP_LC[k.lower()] = (k, v)
    # `required` of the REST specs that flattening loses.
    cb.EXTRA_REQUIRED.setdefault("microsoft.apimanagement/service/caches", ["properties.connectionString", "properties.useFromLocation"])
    cb.EXTRA_REQUIRED.setdefault("microsoft.cache/redisenterprise", ["properties.publicNetworkAccess"])
    # Bicep renders references as strings; in a JSON request body a string is
    # a value, so every string is type-checked.
    cb.is_expr = lambda v: False
    rep = cb.Reporter()
    checked = 0
    for record in sys.argv[3:]:
        for n, line in enumerate(Path(record).read_text().splitlines(), 1):
            r = json.loads(line)
            rtype = arm_type(r["path"])
            where = f"{record}:{n}: PUT {r['path']}"
            if rtype is None or rtype.lower() not in cb.MAP_LC or not isinstance(r.get("body"), dict):
                rep.emit("note", "model", where, f"{rtype}: not checked (no azure-mgmt model mapped)")
                continue
            cls, models, _ = cb.load_model(rtype, r.get("api_version", ""))
            w = cb.Walker(rep, lambda _p, w=where: w, rtype)
            body = without_undocumented(rtype, r["body"])
            w.obj(body, cb.describe(cls, models), models, [])
            for req in cb.EXTRA_REQUIRED.get(rtype.lower(), []):
                *parents, leaf = req.split(".")
                obj = body
                for p in parents:
                    obj = obj.get(p) if isinstance(obj, dict) else None
                if isinstance(obj, dict) and leaf not in obj:
                    w.err(parents, f"required property '{leaf}' missing")
            checked += 1
    c = rep.counts
    print(f"check-arm-bodies: {checked} request bodies checked against SDK models: {c['error']} error(s), {c['note']} note(s)", file=sys.stderr)
    return 1 if c["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
