//! Every diagnostic code oailb can emit, with its severity and a one-line
//! rule. SARIF output lists them as rules; the README table documents them;
//! a debug assertion keeps code and registry in step.

use super::diagnostic::Severity;

pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

const fn e(code: &'static str, summary: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Error,
        summary,
    }
}

const fn w(code: &'static str, summary: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Warning,
        summary,
    }
}

const fn n(code: &'static str, summary: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Note,
        summary,
    }
}

pub const RULES: &[Rule] = &[
    // The file itself.
    e("io", "The topology file can be read."),
    e("encoding", "The topology file is UTF-8."),
    e("empty-file", "The topology file is not empty."),
    e("yaml-syntax", "The file is well-formed YAML or JSON."),
    e("duplicate-key", "A mapping has no duplicate keys."),
    e(
        "multiple-documents",
        "The file holds exactly one YAML document.",
    ),
    e("not-a-mapping", "The top level is a mapping of fields."),
    e("too-large", "Alias expansion stays within bounds."),
    e("too-deep", "Nesting stays within 64 levels."),
    // Schema.
    e(
        "unknown-field",
        "Every field is known (typos are reported with a suggestion).",
    ),
    e("missing-field", "Required fields are present."),
    e(
        "unknown-variant",
        "Enumerated values are among the allowed ones.",
    ),
    e("invalid-value", "Values have the expected type and range."),
    // Names and identifiers.
    e(
        "invalid-name",
        "Names follow the Azure naming rules of their resource type.",
    ),
    e("invalid-subscription", "The subscription is a GUID."),
    e("invalid-tag", "Tags follow Azure's tag rules."),
    e("invalid-email", "The APIM publisher email is an address."),
    e("invalid-header", "Header names are valid HTTP tokens."),
    e("invalid-api-path", "API paths are relative URL paths."),
    e(
        "invalid-resource-id",
        "Existing backends name Cognitive Services accounts; an existing cache names an Azure Managed Redis instance.",
    ),
    e("invalid-url", "URLs are https with a host."),
    e(
        "invalid-key-vault-secret",
        "API keys come from Key Vault secret URIs.",
    ),
    e(
        "invalid-env-var",
        "API keys come from valid environment variable names.",
    ),
    e("missing-file", "Referenced files (OpenAPI, client key hashes) exist."),
    // Uniqueness.
    e(
        "duplicate-name",
        "Names of APIs, models and backends are unique.",
    ),
    e("duplicate-account", "Each account appears once."),
    e("duplicate-endpoint", "Each endpoint appears once."),
    e(
        "duplicate-api-path",
        "API paths are unique (case-insensitive).",
    ),
    // APIM and APIs.
    e(
        "apim-capacity",
        "APIM capacity is within the tier's limits.",
    ),
    e(
        "multi-region-tier",
        "Additional gateway regions need the Premium tier.",
    ),
    e(
        "invalid-zones",
        "Zones are 1-3, once each, and the units spread evenly over them.",
    ),
    e(
        "identity-name-unused",
        "identity_name goes with a user-assigned identity.",
    ),
    e("api-and-apis", "Either `api` or `apis` is set, not both."),
    e("no-api", "The topology defines an API."),
    // Models and priorities.
    e("no-models", "At least one model is defined."),
    e("invalid-capacity", "Capacities are greater than 0."),
    e(
        "batch-sku",
        "Deployments use SKUs that serve online requests.",
    ),
    e("no-backends", "At least one priority group is defined."),
    e("empty-group", "Every priority group has backends."),
    e("invalid-priority", "Priorities start at 1."),
    e("duplicate-priority", "Priorities are unique."),
    e("priority-gap", "Priorities are numbered 1..N without gaps."),
    e("invalid-weight", "Weights are 1 to 1000."),
    e(
        "model-not-served",
        "Every model is served by at least one backend.",
    ),
    e("unknown-model", "Backends and APIs name models that exist."),
    // Backends.
    e(
        "backend-kind",
        "A backend is managed (region) or existing (resource_id/endpoint).",
    ),
    e(
        "managed-and-existing",
        "A backend is not both managed and existing.",
    ),
    e(
        "managed-only-field",
        "account_name, custom_subdomain and kind are for managed backends; a cache's name, sku and scope for a cache oailb creates.",
    ),
    e(
        "invalid-spillover",
        "Spill-over goes from a global or data zone provisioned deployment of a managed backend to a standard deployment of the same level.",
    ),
    e(
        "missing-api-key",
        "api-key backends say where the key comes from.",
    ),
    e("unused-api-key", "api_key goes with auth: api-key."),
    e(
        "api-key-managed",
        "Accounts oailb creates use managed identity.",
    ),
    // Load-balancing mode and tier.
    e("invalid-status", "Tripping statuses are 4xx or 5xx."),
    e(
        "pool-consumption",
        "Backend pools are not used on the Consumption tier.",
    ),
    e("pool-too-large", "A pool has at most 30 members."),
    e(
        "policy-too-many-backends",
        "In policy mode a model has at most 50 backends (APIM's retry limit).",
    ),
    e("pool-mixed-auth", "A pool's members share one auth kind."),
    e(
        "pool-deployment-name",
        "Pool members use the model's deployment name.",
    ),
    e("pool-priority", "Pool priorities are at most 100."),
    e(
        "consumption-cache",
        "Policy mode on Consumption uses an external cache.",
    ),
    e(
        "missing-cache",
        "External caching has a cache to use.",
    ),
    // Warnings.
    w(
        "retired-model",
        "The model version is not retired by Azure.",
    ),
    w("unknown-region", "The region is one Azure has."),
    w(
        "endpoint-cloud",
        "Endpoints belong to the topology's cloud.",
    ),
    w(
        "endpoint-openai-suffix",
        "Endpoints are account roots, without /openai.",
    ),
    w(
        "global-name",
        "Globally unique names are not too short to be free.",
    ),
    w(
        "logs-prompts",
        "Request and response bodies stay out of the logs.",
    ),
    w("no-subscription", "The API requires a subscription key."),
    w("no-429", "429 is a tripping status."),
    w(
        "role-not-granted",
        "oailb can grant the gateway access to every managed-identity backend.",
    ),
    w(
        "unknown-throughput",
        "Provisioned deployments of a model have a known throughput per PTU (else the balancer learns it from 429s).",
    ),
    w(
        "existing-sku",
        "Deployment SKUs are set only where oailb creates deployments.",
    ),
    w(
        "unused-setting",
        "Every setting has an effect in the chosen mode.",
    ),
    w(
        "cache-fallback",
        "prefer-external caching has a cache (else each gateway keeps its own state).",
    ),
    w(
        "cache-cloud",
        "The cache oailb creates is offered in the topology's cloud.",
    ),
    // Notes.
    n(
        "unknown-model-version",
        "The model version is in oailb's catalog (others are deployed as written).",
    ),
    // Workload and trace files (`oailb simulate`); last, so that the
    // SARIF rule indexes of the topology rules stay as they were.
    e(
        "unknown-name",
        "Workloads and traces (`oailb simulate`) name deployments, backends and regions of the topology.",
    ),
    // Consumers and token metrics.
    e(
        "duplicate-consumer",
        "Consumer names are unique (they name subscriptions and metrics).",
    ),
    e("unknown-api", "Consumers name APIs that exist."),
    e("unknown-tier", "Consumers name tiers of `consumer_tiers`."),
    e(
        "tier-and-limits",
        "A consumer in a tier takes the tier's limits, not its own.",
    ),
    e(
        "consumer-no-auth",
        "Every consumer authenticates: subscription key, Entra ID, or both.",
    ),
    e("entra-tenant", "Entra ID settings name a tenant."),
    e(
        "entra-client-ids",
        "Entra ID settings allow at least one client application.",
    ),
    e(
        "ambiguous-entra-client",
        "Entra-only consumers have client applications of their own.",
    ),
    e(
        "quota-below-rate",
        "A token quota is not smaller than the per-minute token rate.",
    ),
    e(
        "limits-tier",
        "Consumer limits need a tier with APIM's LLM token-limit and rate-limit policies (not Consumption).",
    ),
    e(
        "too-many-dimensions",
        "Token metrics have at most 5 dimensions (APIM's llm-emit-token-metric).",
    ),
    w(
        "no-usage-metrics",
        "Topologies with consumers have monitoring, for token metrics and usage reports.",
    ),
];

pub fn lookup(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.code), "duplicate code {}", r.code);
            assert!(
                readme.contains(&format!("`{}`", r.code)),
                "README does not document `{}`",
                r.code
            );
        }
    }
}
