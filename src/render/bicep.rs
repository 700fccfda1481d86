//! `oailb render bicep`: a subscription-scope `main.bicep` that creates the
//! resource group and deploys modules into it, `main.bicepparam` with the
//! topology's values, `loadTextContent()` for the policies.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::{json, Map, Value};

use super::infra::Model;
use super::syntax::{bicep_string, expr};
use super::{Files, Templates};
use crate::desired::Kind;

/// Template name → output file.
pub const FILES: &[(&str, &str)] = &[
    ("templates/bicep/main.bicep.tera", "main.bicep"),
    ("templates/bicep/main.bicepparam.tera", "main.bicepparam"),
    (
        "templates/bicep/modules/monitoring.bicep.tera",
        "modules/monitoring.bicep",
    ),
    (
        "templates/bicep/modules/identity.bicep.tera",
        "modules/identity.bicep",
    ),
    (
        "templates/bicep/modules/apim.bicep.tera",
        "modules/apim.bicep",
    ),
    (
        "templates/bicep/modules/openai-account.bicep.tera",
        "modules/openai-account.bicep",
    ),
    (
        "templates/bicep/modules/role-assignment.bicep.tera",
        "modules/role-assignment.bicep",
    ),
    (
        "templates/bicep/modules/cache.bicep.tera",
        "modules/cache.bicep",
    ),
    (
        "templates/bicep/modules/gateway.bicep.tera",
        "modules/gateway.bicep",
    ),
    (
        "templates/bicep/modules/consumers.bicep.tera",
        "modules/consumers.bicep",
    ),
];

/// `type@apiVersion` of a resource kind, exactly as `deploy` sends it.
fn ty(kind: Kind) -> String {
    format!("'{}@{}'", kind.arm_type(), kind.api_version())
}

fn param(name: &str, ty: &str, description: &str, value: Value) -> Value {
    json!({"name": name, "type": ty, "description": description, "secure": false, "value": value, "decorators": []})
}

/// A parameter with extra decorators (`@allowed`, `@minValue`, ...).
fn param_with(
    name: &str,
    ty: &str,
    description: &str,
    value: Value,
    decorators: &[String],
) -> Value {
    let mut p = param(name, ty, description, value);
    p["decorators"] = json!(decorators);
    p
}

fn context(m: &Model) -> anyhow::Result<Value> {
    let mut params = vec![
        param(
            "resourceGroupName",
            "string",
            "Resource group for everything this deployment creates.",
            json!(m.resource_group),
        ),
        param(
            "location",
            "string",
            "Region of the resource group and the monitoring resources.",
            json!(m.location),
        ),
        param("tags", "object", "Tags on every resource.", json!(m.tags)),
        param(
            "apimName",
            "string",
            "API Management service name (globally unique).",
            json!(m.apim.name),
        ),
        param(
            "apimLocation",
            "string",
            "Region of the API Management service.",
            json!(m.apim.location),
        ),
        param_with(
            "apimSku",
            "string",
            "API Management tier.",
            json!(m.apim.sku),
            &[format!(
                "@allowed({})",
                super::syntax::bicep(&json!(crate::topology::ApimSku::ALL), 0)
            )],
        ),
        param(
            "apimCapacity",
            "int",
            "API Management scale units.",
            json!(m.apim.capacity),
        ),
        param(
            "apimPublisherName",
            "string",
            "Publisher name shown in the developer portal.",
            json!(m.apim.publisher_name),
        ),
        param(
            "apimPublisherEmail",
            "string",
            "Publisher email, used for service notifications.",
            json!(m.apim.publisher_email),
        ),
    ];
    if !m.apim.additional_locations.is_empty() {
        let locations: Vec<Value> = m
            .apim
            .additional_locations
            .iter()
            .map(|l| {
                let mut o = json!({"location": l.location, "sku": {"name": m.apim.sku, "capacity": l.capacity}});
                if !l.zones.is_empty() {
                    o["zones"] = json!(l.zones);
                }
                o
            })
            .collect();
        params.push(param(
            "apimAdditionalLocations",
            "array",
            "More gateway regions (Premium): scale units and availability zones in each.",
            Value::Array(locations),
        ));
    }
    let managed_caches: Vec<Value> = m
        .caches
        .iter()
        .filter_map(|c| {
            c.managed.as_ref().map(|x| {
                json!({
                    "key": c.key,
                    "name": x.name,
                    "location": x.location,
                    "sku": x.sku_name,
                    "highAvailability": if x.high_availability { "Enabled" } else { "Disabled" },
                    "publicNetworkAccess": x.public_network_access,
                    "clientProtocol": x.client_protocol,
                    "clusteringPolicy": x.clustering_policy,
                    "evictionPolicy": x.eviction_policy,
                    "accessKeysAuthentication": if x.access_keys_authentication { "Enabled" } else { "Disabled" },
                })
            })
        })
        .collect();
    if !managed_caches.is_empty() {
        params.push(param(
            "managedCaches",
            "array",
            "Azure Managed Redis instances the gateways keep balancer state in, by the gateway region that uses each (key `default`: all).",
            Value::Array(managed_caches.clone()),
        ));
    }
    if let Some(i) = &m.identity {
        params.push(param(
            "identityName",
            "string",
            "User-assigned identity the gateway authenticates to Azure OpenAI with.",
            json!(i.name),
        ));
    }
    if let Some(mo) = &m.monitoring {
        params.push(param(
            "logAnalyticsWorkspaceName",
            "string",
            "Log Analytics workspace behind Application Insights.",
            json!(mo.workspace_name),
        ));
        params.push(param_with(
            "logRetentionInDays",
            "int",
            "Log Analytics retention in days (30-730).",
            json!(mo.retention_in_days),
            &["@minValue(30)".to_string(), "@maxValue(730)".to_string()],
        ));
        params.push(param(
            "applicationInsightsName",
            "string",
            "Workspace-based Application Insights that receives the gateway logs.",
            json!(mo.insights_name),
        ));
    }
    m.check_uniform_accounts("Bicep module")?;
    let first = m.accounts.first();
    if !m.accounts.is_empty() {
        let accounts: Vec<Value> = m
            .accounts
            .iter()
            .map(|a| {
                json!({
                    "key": a.key,
                    "name": a.name,
                    "location": a.location,
                    "kind": a.kind,
                    "customSubDomainName": a.custom_subdomain,
                    "deployments": a.deployments.iter().map(|d| {
                        let mut o = json!({
                            "name": d.name,
                            "format": d.model_format,
                            "model": d.model_name,
                            "version": d.model_version,
                            "versionUpgradeOption": d.version_upgrade_option,
                            "sku": d.sku_name,
                            "capacity": d.capacity,
                        });
                        if let Some(r) = &d.rai_policy_name {
                            o["raiPolicyName"] = json!(r);
                        }
                        if let Some(sp) = &d.spillover_deployment_name {
                            o["spilloverDeploymentName"] = json!(sp);
                        }
                        o
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        params.push(param(
            "openAiAccounts",
            "array",
            "Azure OpenAI accounts this deployment creates, each with its model deployments (capacity: thousands of tokens per minute, or PTUs).",
            Value::Array(accounts),
        ));
    }
    if !m.existing_role_assignments.is_empty() {
        let existing: Vec<Value> = m
            .existing_role_assignments
            .iter()
            .map(|e| json!({"key": e.key, "subscriptionId": e.subscription, "resourceGroupName": e.resource_group, "name": e.account_name}))
            .collect();
        params.push(param(
            "existingOpenAiAccounts",
            "array",
            "Existing Azure OpenAI accounts (not created here) the gateway identity calls with its token.",
            Value::Array(existing),
        ));
    }
    let backend = |b: &super::infra::PoolBackend| {
        let mut o =
            json!({"key": b.key, "name": b.name, "description": b.description, "url": b.url});
        if let Some(nv) = &b.api_key_named_value {
            o["apiKeyNamedValue"] = json!(nv);
        }
        o
    };
    let managed: Vec<Value> = m
        .pool_backends
        .iter()
        .filter(|b| b.api_key_named_value.is_none())
        .map(backend)
        .collect();
    let with_key: Vec<Value> = m
        .pool_backends
        .iter()
        .filter(|b| b.api_key_named_value.is_some())
        .map(backend)
        .collect();
    if !managed.is_empty() {
        params.push(param(
            "poolBackends",
            "array",
            "APIM backends, one per model on each Azure OpenAI endpoint, each with a circuit breaker.",
            Value::Array(managed.clone()),
        ));
    }
    if !with_key.is_empty() {
        params.push(param(
            "apiKeyPoolBackends",
            "array",
            "APIM backends that send an api-key header from a secret named value.",
            Value::Array(with_key.clone()),
        ));
    }
    if !m.pools.is_empty() {
        let names: BTreeMap<&str, &str> = m
            .pool_backends
            .iter()
            .map(|b| (b.key.as_str(), b.name.as_str()))
            .collect();
        let pools: Vec<Value> = m
            .pools
            .iter()
            .map(|p| {
                json!({
                    "key": p.key,
                    "name": p.name,
                    "description": p.description,
                    "members": p.members.iter().map(|x| json!({
                        "backend": names.get(x.backend.as_str()).copied().unwrap_or_default(),
                        "priority": x.priority,
                        "weight": x.weight,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        params.push(param(
            "backendPools",
            "array",
            "One APIM load-balanced pool per model: members by backend name, with priority (lower first) and weight.",
            Value::Array(pools),
        ));
    }
    for s in &m.secrets {
        params.push(json!({
            "name": s.bicep_param,
            "type": "string",
            "description": format!("Secret for the APIM named value {} (`oailb deploy` reads it from {}).", s.named_value, s.env),
            "secure": true,
            "decorators": [],
            "value": expr(format!("readEnvironmentVariable({})", bicep_string(&s.env))),
        }));
    }

    // Shared circuit breaker rule (same check as for Terraform).
    let mut circuit_breaker = Value::Null;
    if let Some(f) = m.pool_backends.first() {
        for b in &m.pool_backends {
            let same = (
                &b.rule_name,
                b.failure_count,
                &b.failure_interval,
                &b.trip_duration,
                b.accept_retry_after,
                &b.protocol,
                b.validate_certificate_chain,
                b.validate_certificate_name,
            ) == (
                &f.rule_name,
                f.failure_count,
                &f.failure_interval,
                &f.trip_duration,
                f.accept_retry_after,
                &f.protocol,
                f.validate_certificate_chain,
                f.validate_certificate_name,
            ) && b
                .status_ranges
                .iter()
                .map(|r| (r.min, r.max))
                .eq(f.status_ranges.iter().map(|r| (r.min, r.max)));
            if !same {
                bail!(
                    "pool backends {} and {} have different circuit breakers or TLS settings",
                    f.key,
                    b.key
                );
            }
        }
        circuit_breaker = json!({
            "name": f.rule_name,
            "failureCondition": {
                "count": f.failure_count,
                "interval": f.failure_interval,
                "statusCodeRanges": f.status_ranges.iter().map(|r| json!({"min": r.min, "max": r.max})).collect::<Vec<_>>(),
            },
            "tripDuration": f.trip_duration,
            "acceptRetryAfter": f.accept_retry_after,
        });
    }

    // Per API: body, operations, diagnostic.
    let mut apis = Vec::new();
    for api in &m.apis {
        let mut props = Map::new();
        props.insert("displayName".into(), json!(api.display_name));
        props.insert("path".into(), json!(api.path));
        props.insert("protocols".into(), json!(api.protocols));
        props.insert(
            "subscriptionRequired".into(),
            json!(api.subscription_required),
        );
        props.insert(
            "subscriptionKeyParameterNames".into(),
            json!({"header": api.subscription_key_header, "query": api.subscription_key_query}),
        );
        props.insert("apiType".into(), json!(api.api_type));
        if let Some(i) = &api.import {
            props.insert("format".into(), json!(i.format));
            let value = if i.is_file {
                // loadJsonContent allows 1 MB (loadTextContent 128 KB): OpenAPI documents are large.
                expr(format!(
                    "string(loadJsonContent({}))",
                    bicep_string(&format!("../openapi/{}", i.value))
                ))
            } else {
                json!(i.value)
            };
            props.insert("value".into(), value);
        }
        let operations: Vec<Value> = api
            .operations
            .iter()
            .map(|o| json!({"name": o.name, "displayName": o.display_name, "method": o.method, "urlTemplate": o.url_template}))
            .collect();
        let diagnostic = api.diagnostic.as_ref().map(|dg| {
            let side = |s: &super::infra::DiagnosticSide| {
                json!({"headers": s.headers, "body": {"bytes": s.body_bytes}})
            };
            json!({
                "loggerId": expr("logger.id"),
                "alwaysLog": dg.always_log,
                "sampling": {"samplingType": dg.sampling_type, "percentage": dg.sampling_percentage},
                "httpCorrelationProtocol": dg.http_correlation_protocol,
                "verbosity": dg.verbosity,
                "logClientIp": dg.log_client_ip,
                "metrics": dg.metrics,
                "frontend": {"request": side(&dg.frontend_request), "response": side(&dg.frontend_response)},
                "backend": {"request": side(&dg.backend_request), "response": side(&dg.backend_response)},
            })
        });
        let mut depends_on: Vec<String> = m
            .named_values
            .iter()
            .map(|nv| format!("namedValue{}", upper_first(&nv.bicep_name)))
            .collect();
        if !m.pools.is_empty() {
            depends_on.push("backendPool".into());
        }
        for c in &m.caches {
            depends_on.push(format!("apimCache{}", upper_first(&c.bicep_name)));
        }
        apis.push(json!({
            "name": api.name,
            "symbol": format!("api{}", upper_first(&api.bicep_name)),
            "properties": Value::Object(props),
            "operations": operations,
            "policy_format": api.policy_format,
            "policy_file": format!("../{}", api.policy_file),
            "diagnostic_name": api.diagnostic.as_ref().map(|d| d.name.clone()),
            "diagnostic": diagnostic,
            "depends_on": depends_on,
            "path": api.path,
        }));
    }

    let named_values: Vec<Value> = m
        .named_values
        .iter()
        .map(|nv| {
            let mut props = json!({"displayName": nv.display_name, "secret": nv.secret});
            match &nv.source {
                super::infra::NamedValueSource::IdentityClientId => {
                    props["value"] = expr("gatewayIdentity.properties.clientId");
                }
                super::infra::NamedValueSource::Secret { bicep_param, .. } => {
                    props["value"] = expr(bicep_param.clone());
                }
                super::infra::NamedValueSource::CacheConnection { cache } => {
                    let c = m.caches.iter().find(|c| &c.key == cache);
                    let sym = c.map(|c| upper_first(&c.bicep_name)).unwrap_or_default();
                    props["value"] = expr(format!(
                        "'${{cluster{sym}.properties.hostName}}:${{database{sym}.properties.port}},password=${{database{sym}.listKeys().primaryKey}},ssl=True,abortConnect=False'"
                    ));
                }
                super::infra::NamedValueSource::KeyVault {
                    secret_id,
                    user_assigned,
                } => {
                    let mut kv = json!({"secretIdentifier": secret_id});
                    if *user_assigned {
                        kv["identityClientId"] = expr("gatewayIdentity.properties.clientId");
                    }
                    props["keyVault"] = kv;
                }
            }
            json!({"symbol": format!("namedValue{}", upper_first(&nv.bicep_name)), "name": nv.name, "properties": props})
        })
        .collect();

    let existing_endpoints: Vec<Value> = m
        .endpoints
        .iter()
        .filter(|e| !e.managed)
        .map(|e| json!({"backend": e.backend, "endpoint": e.endpoint}))
        .collect();

    let caches: Vec<Value> = m
        .caches
        .iter()
        .map(|c| {
            let sym = upper_first(&c.bicep_name);
            let (sub, rg, name) = match (&c.managed, &c.existing) {
                (Some(x), _) => (None, None, x.name.clone()),
                (None, Some(e)) => (
                    Some(e.subscription.clone()),
                    Some(e.resource_group.clone()),
                    e.name.clone(),
                ),
                (None, None) => (None, None, String::new()),
            };
            let nv = m.named_values.iter().find(|n| n.name == c.named_value);
            json!({
                "key": c.key,
                "sym": sym,
                "name": name,
                "subscription": sub,
                "resource_group": rg,
                "description": c.description,
                "named_value": c.named_value,
                "named_value_symbol": nv.map(|n| format!("namedValue{}", upper_first(&n.bicep_name))),
            })
        })
        .collect();

    let types: BTreeMap<&str, String> = [
        ("resource_group", Kind::ResourceGroup),
        ("workspace", Kind::LogAnalyticsWorkspace),
        ("insights", Kind::ApplicationInsights),
        ("identity", Kind::UserAssignedIdentity),
        ("account", Kind::CognitiveAccount),
        ("deployment", Kind::CognitiveDeployment),
        ("apim", Kind::ApimService),
        ("role", Kind::RoleAssignment),
        ("named_value", Kind::ApimNamedValue),
        ("backend", Kind::ApimBackend),
        ("api", Kind::ApimApi),
        ("operation", Kind::ApimApiOperation),
        ("policy", Kind::ApimApiPolicy),
        ("logger", Kind::ApimLogger),
        ("diagnostic", Kind::ApimApiDiagnostic),
        ("redis", Kind::RedisCache),
        ("redis_database", Kind::RedisDatabase),
        ("apim_cache", Kind::ApimCache),
    ]
    .into_iter()
    .map(|(k, kind)| (k, ty(kind)))
    .collect();

    let custom_properties: Map<String, Value> = m
        .apim
        .custom_properties
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();

    Ok(json!({
        "params": params,
        "types": types,
        "caches": caches,
        "has_managed_caches": !managed_caches.is_empty(),
        "account": first.map(|a| json!({
            "sku": a.sku_name,
            "public_network_access": if a.public_network_access { "Enabled" } else { "Disabled" },
            "disable_local_auth": !a.local_auth_enabled,
            "restrict_outbound": a.outbound_network_access_restricted,
        })),
        "custom_properties": if custom_properties.is_empty() { Value::Null } else { Value::Object(custom_properties) },
        "circuit_breaker": circuit_breaker,
        "pool_backend_tls": m.pool_backends.first().map(|b| json!({"validateCertificateChain": b.validate_certificate_chain, "validateCertificateName": b.validate_certificate_name})),
        "pool_backend_protocol": m.pool_backends.first().map(|b| b.protocol.clone()),
        "has_managed_backends": !managed.is_empty(),
        "has_api_key_backends": !with_key.is_empty(),
        "named_values": named_values,
        "apis": apis,
        "existing_endpoints": existing_endpoints,
        "consumers": m.consumers.as_ref().map(|c| c.bicep_context()),
    }))
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Renders every Bicep file of `m` (the policy and OpenAPI files are added
/// by the caller).
pub fn render(m: &Model, templates: &Templates) -> anyhow::Result<Files> {
    let mut ctx = tera::Context::new();
    ctx.insert("m", m);
    ctx.insert("b", &context(m)?);
    let header = format!(
        "// Generated by `oailb render bicep` from {} ({} mode): change the\n// topology and render again rather than editing this file.\n\n",
        m.topology, m.mode
    );
    super::iac::render_files(FILES, templates, &ctx, &header, tidy)
}

/// Trailing spaces off, at most one blank line in a row, no blank lines at
/// either end.
fn tidy(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}
