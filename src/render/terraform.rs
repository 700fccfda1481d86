//! `oailb render terraform`: azurerm 4.x (azapi only where azurerm cannot
//! express a resource), one file per concern, values of the topology as
//! variable defaults.

use anyhow::bail;
use serde_json::{json, Map, Value};

use super::infra::Model;
use super::syntax::{align_hcl, expr};
use super::{Files, Templates};
use crate::desired::Kind;

/// Template name → output file, in the order they are rendered.
pub const FILES: &[(&str, &str)] = &[
    ("templates/terraform/versions.tf.tera", "versions.tf"),
    ("templates/terraform/providers.tf.tera", "providers.tf"),
    ("templates/terraform/variables.tf.tera", "variables.tf"),
    ("templates/terraform/main.tf.tera", "main.tf"),
    ("templates/terraform/monitoring.tf.tera", "monitoring.tf"),
    ("templates/terraform/openai.tf.tera", "openai.tf"),
    ("templates/terraform/cache.tf.tera", "cache.tf"),
    ("templates/terraform/apim.tf.tera", "apim.tf"),
    ("templates/terraform/api.tf.tera", "api.tf"),
    ("templates/terraform/consumers.tf.tera", "consumers.tf"),
    ("templates/terraform/outputs.tf.tera", "outputs.tf"),
];

fn tf_type(kind: Kind) -> String {
    format!("{}@{}", kind.arm_type(), kind.api_version())
}

/// Terraform-specific values the templates need besides the model.
fn context(m: &Model) -> anyhow::Result<Value> {
    let mut reasons = Vec::new();
    if !m.pool_backends.is_empty() {
        reasons.push("backend pools and count-based circuit breakers");
    }
    if m.apis.iter().any(|a| a.diagnostic.is_some()) {
        reasons.push("custom metrics on API diagnostics");
    }
    let spillover: Map<String, Value> = m
        .accounts
        .iter()
        .flat_map(|a| &a.deployments)
        .filter_map(|d| {
            d.spillover_deployment_name
                .as_ref()
                .map(|n| (d.key.clone(), json!(n)))
        })
        .collect();
    if !spillover.is_empty() {
        reasons.push("spill-over of provisioned deployments");
    }
    if m.caches.iter().any(|c| c.existing.is_some()) {
        reasons.push("reading an existing cache in any subscription");
    }
    if m.consumers.as_ref().is_some_and(|c| c.custom_metrics) {
        reasons.push("custom metric dimensions on Application Insights");
    }

    let environment = match m.cloud.as_str() {
        "AzureUSGovernment" => Some("usgovernment"),
        "AzureChinaCloud" => Some("china"),
        _ => None,
    };
    let apim_domain = match m.cloud.as_str() {
        "AzureUSGovernment" => "azure-api.us",
        "AzureChinaCloud" => "azure-api.cn",
        _ => "azure-api.net",
    };

    m.check_uniform_accounts("Terraform templates")?;
    let first = m.accounts.first();

    let mut accounts = Map::new();
    let mut deployments = Map::new();
    for a in &m.accounts {
        accounts.insert(
            a.key.clone(),
            json!({"name": a.name, "location": a.location, "kind": a.kind, "custom_subdomain": a.custom_subdomain}),
        );
        for d in &a.deployments {
            let mut o = json!({
                "account": a.key,
                "name": d.name,
                "model_format": d.model_format,
                "model_name": d.model_name,
                "model_version": d.model_version,
                "version_upgrade_option": d.version_upgrade_option,
                "sku_name": d.sku_name,
                "capacity": d.capacity,
            });
            if let Some(rai) = &d.rai_policy_name {
                o["rai_policy_name"] = json!(rai);
            }
            deployments.insert(d.key.clone(), o);
        }
    }
    let existing: Map<String, Value> = m
        .existing_role_assignments
        .iter()
        .map(|e| (e.key.clone(), json!(e.scope)))
        .collect();
    let managed_scopes = "{ for k, a in azurerm_cognitive_account.openai : k => a.id }";
    let role_scopes = match (m.accounts.is_empty(), existing.is_empty()) {
        (false, true) => managed_scopes.to_string(),
        (true, false) => "var.existing_openai_account_ids".to_string(),
        (false, false) => format!("merge({managed_scopes}, var.existing_openai_account_ids)"),
        (true, true) => String::new(),
    };

    let nv_address = |name: &str| -> Option<String> {
        m.named_values
            .iter()
            .find(|n| n.name == name)
            .map(|n| format!("azurerm_api_management_named_value.{}", n.tf_name))
    };

    // Pool mode: shared breaker rule, backends split by authentication.
    let mut circuit_breaker = Value::Null;
    let mut pool_backends = Map::new();
    let mut backend_variants = Vec::new();
    let mut pool_backend_ids = String::new();
    let (mut chain, mut name_check) = (true, true);
    if let Some(f) = m.pool_backends.first() {
        for b in &m.pool_backends {
            let same = (
                &b.rule_name,
                b.failure_count,
                &b.failure_interval,
                &b.trip_duration,
                b.accept_retry_after,
                &b.protocol,
            ) == (
                &f.rule_name,
                f.failure_count,
                &f.failure_interval,
                &f.trip_duration,
                f.accept_retry_after,
                &f.protocol,
            ) && b.status_ranges.len() == f.status_ranges.len()
                && b.status_ranges
                    .iter()
                    .zip(&f.status_ranges)
                    .all(|(x, y)| (x.min, x.max) == (y.min, y.max));
            chain &= b.validate_certificate_chain == f.validate_certificate_chain;
            name_check &= b.validate_certificate_name == f.validate_certificate_name;
            if !same {
                bail!(
                    "pool backends {} and {} have different circuit breakers",
                    f.key,
                    b.key
                );
            }
            let mut o = json!({"name": b.name, "description": b.description, "url": b.url});
            if let Some(nv) = &b.api_key_named_value {
                o["key_named_value"] = json!(nv);
            }
            pool_backends.insert(b.key.clone(), o);
        }
        if !chain || !name_check {
            bail!("pool backends differ in TLS validation, which the Terraform templates share");
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
        let with_key: Vec<_> = m
            .pool_backends
            .iter()
            .filter(|b| b.api_key_named_value.is_some())
            .collect();
        let managed = m.pool_backends.len() - with_key.len();
        let mut ids = Vec::new();
        if managed > 0 {
            let for_each = if with_key.is_empty() {
                "var.pool_backends".to_string()
            } else {
                "{ for k, b in var.pool_backends : k => b if b.key_named_value == null }"
                    .to_string()
            };
            backend_variants.push(json!({"resource": "pool_backend", "for_each": for_each, "api_key": false, "depends_on": []}));
            ids.push("{ for k, b in azapi_resource.pool_backend : k => b.id }");
        }
        if !with_key.is_empty() {
            let for_each = if managed == 0 {
                "var.pool_backends".to_string()
            } else {
                "{ for k, b in var.pool_backends : k => b if b.key_named_value != null }"
                    .to_string()
            };
            let mut deps: Vec<String> = with_key
                .iter()
                .filter_map(|b| b.api_key_named_value.as_deref().and_then(nv_address))
                .collect();
            deps.dedup();
            backend_variants.push(json!({"resource": "pool_backend_api_key", "for_each": for_each, "api_key": true, "depends_on": deps}));
            ids.push("{ for k, b in azapi_resource.pool_backend_api_key : k => b.id }");
        }
        pool_backend_ids = if ids.len() == 1 {
            ids[0].to_string()
        } else {
            format!("merge(\n    {},\n  )", ids.join(",\n    "))
        };
    }
    let backend_pools: Map<String, Value> = m
        .pools
        .iter()
        .map(|p| {
            (
                p.key.clone(),
                json!({
                    "name": p.name,
                    "description": p.description,
                    "members": p.members.iter().map(|x| json!({"backend": x.backend, "priority": x.priority, "weight": x.weight})).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();

    // Per API: operations, policy dependencies, diagnostic body.
    let mut operations = Map::new();
    let mut policy_depends_on = Map::new();
    let mut diagnostic_bodies = Map::new();
    let mut api_urls = Map::new();
    for api in &m.apis {
        let ops: Map<String, Value> = api
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    json!({"display_name": o.display_name, "method": o.method, "url_template": o.url_template}),
                )
            })
            .collect();
        operations.insert(api.name.clone(), Value::Object(ops));
        let mut deps = Vec::new();
        if !api.operations.is_empty() {
            deps.push(expr(format!(
                "azurerm_api_management_api_operation.{}",
                api.tf_name
            )));
        }
        for nv in &m.named_values {
            deps.push(expr(format!(
                "azurerm_api_management_named_value.{}",
                nv.tf_name
            )));
        }
        if !m.pools.is_empty() {
            deps.push(expr("azapi_resource.backend_pool"));
        }
        for c in &m.caches {
            deps.push(expr(format!(
                "azurerm_api_management_redis_cache.{}",
                c.tf_name
            )));
        }
        if !m.accounts.is_empty() {
            deps.push(expr("azurerm_cognitive_deployment.model"));
        }
        if !role_scopes.is_empty() {
            deps.push(expr("azurerm_role_assignment.openai_user"));
        }
        policy_depends_on.insert(api.name.clone(), Value::Array(deps));
        if let Some(dg) = &api.diagnostic {
            let side = |s: &super::infra::DiagnosticSide| json!({"headers": s.headers, "body": {"bytes": s.body_bytes}});
            diagnostic_bodies.insert(
                api.name.clone(),
                json!({"properties": {
                    "loggerId": expr("azurerm_api_management_logger.this.id"),
                    "alwaysLog": dg.always_log,
                    "sampling": {"samplingType": dg.sampling_type, "percentage": dg.sampling_percentage},
                    "httpCorrelationProtocol": dg.http_correlation_protocol,
                    "verbosity": dg.verbosity,
                    "logClientIp": dg.log_client_ip,
                    "metrics": dg.metrics,
                    "frontend": {"request": side(&dg.frontend_request), "response": side(&dg.frontend_response)},
                    "backend": {"request": side(&dg.backend_request), "response": side(&dg.backend_response)},
                }}),
            );
        }
        api_urls.insert(
            api.name.clone(),
            expr(format!(
                "\"${{azurerm_api_management.this.gateway_url}}/{}\"",
                api.path
            )),
        );
    }

    let existing_endpoints: Map<String, Value> = m
        .endpoints
        .iter()
        .filter(|e| !e.managed)
        .map(|e| (e.backend.clone(), json!(e.endpoint)))
        .collect();
    let managed_endpoints = "{ for k, a in azurerm_cognitive_account.openai : k => a.endpoint }";
    let endpoints = match (m.accounts.is_empty(), existing_endpoints.is_empty()) {
        (false, true) => managed_endpoints.to_string(),
        (true, _) => super::syntax::hcl(&Value::Object(existing_endpoints), 2),
        (false, false) => format!(
            "merge({managed_endpoints}, {})",
            super::syntax::hcl(&Value::Object(existing_endpoints), 2)
        ),
    };

    // External caches: managed ones share their database settings.
    let managed: Vec<&super::infra::ManagedCache> =
        m.caches.iter().filter_map(|c| c.managed.as_ref()).collect();
    if let Some(f) = managed.first() {
        let shared = |c: &super::infra::ManagedCache| {
            (
                c.public_network_access.clone(),
                c.client_protocol.clone(),
                c.clustering_policy.clone(),
                c.eviction_policy.clone(),
                c.access_keys_authentication,
            )
        };
        if managed.iter().any(|c| shared(c) != shared(f)) {
            bail!("managed caches differ in network or database settings, which the Terraform templates share");
        }
    }
    let managed_caches: Map<String, Value> = m
        .caches
        .iter()
        .filter_map(|c| {
            c.managed.as_ref().map(|x| {
                (
                    c.key.clone(),
                    json!({"name": x.name, "location": x.location, "sku_name": x.sku_name, "high_availability_enabled": x.high_availability}),
                )
            })
        })
        .collect();
    let connection: Map<String, Value> = m
        .caches
        .iter()
        .map(|c| {
            let (host, port, key) = match &c.managed {
                Some(_) => {
                    let r = format!(
                        "azurerm_managed_redis.cache[{}]",
                        super::syntax::hcl_string(&c.key)
                    );
                    (
                        format!("{r}.hostname"),
                        format!("{r}.default_database[0].port"),
                        format!("{r}.default_database[0].primary_access_key"),
                    )
                }
                None => {
                    let d = format!("data.azapi_resource.{}", c.tf_name);
                    (
                        format!("{d}.output.properties.hostName"),
                        format!("{d}_database.output.properties.port"),
                        format!(
                            "data.azapi_resource_action.{}_keys.output.primaryKey",
                            c.tf_name
                        ),
                    )
                }
            };
            (
                c.key.clone(),
                expr(format!(
                    "\"${{{host}}}:${{{port}}},password=${{{key}}},ssl=True,abortConnect=False\""
                )),
            )
        })
        .collect();
    let nv_tf_names: Map<String, Value> = m
        .named_values
        .iter()
        .map(|n| (n.name.clone(), json!(n.tf_name)))
        .collect();

    let extra = json!({
        "model_spillover": spillover,
        "deployment_type": tf_type(Kind::CognitiveDeployment),
        "apim_additional_locations": m.apim.additional_locations.iter().map(|l| json!({"location": l.location, "capacity": l.capacity, "zones": l.zones})).collect::<Vec<_>>(),
        "managed_caches": managed_caches,
        "cache_public_network_access": managed.first().map(|c| c.public_network_access.clone()),
        "cache_access_keys": managed.first().map(|c| c.access_keys_authentication),
        "cache_client_protocol": managed.first().map(|c| c.client_protocol.clone()),
        "cache_clustering_policy": managed.first().map(|c| c.clustering_policy.clone()),
        "cache_eviction_policy": managed.first().map(|c| c.eviction_policy.clone()),
        "cache_connection_strings": super::syntax::hcl(&Value::Object(connection), 2),
        "nv_tf_names": nv_tf_names,
        "redis_type": tf_type(Kind::RedisCache),
        "redis_database_type": tf_type(Kind::RedisDatabase),
    });
    let mut out = json!({
        "azapi": !reasons.is_empty(),
        "azapi_reasons": reasons,
        "environment": environment,
        "apim_domain": apim_domain,
        "workspace_location": location_expr(m.monitoring.as_ref().map(|x| x.workspace_location.as_str()), m),
        "insights_location": location_expr(m.monitoring.as_ref().map(|x| x.insights_location.as_str()), m),
        // The identity lives next to the gateway (`apim_location` first).
        "identity_location": match m.identity.as_ref().map(|x| x.location.as_str()) {
            Some(l) if l == m.apim.location => "var.apim_location".to_string(),
            other => location_expr(other, m),
        },
        "account_sku": first.map(|a| a.sku_name.clone()),
        "account_local_auth": first.map(|a| a.local_auth_enabled),
        "account_public_access": first.map(|a| a.public_network_access),
        "account_outbound_restricted": first.map(|a| a.outbound_network_access_restricted),
        "openai_accounts": accounts,
        "model_deployments": deployments,
        "existing_openai_account_ids": existing,
        "has_roles": !role_scopes.is_empty(),
        "role_scopes": role_scopes,
        "circuit_breaker": circuit_breaker,
        "pool_backends": pool_backends,
        "backend_pools": backend_pools,
        "backend_variants": backend_variants,
        "pool_backend_ids": pool_backend_ids,
        "backend_type": tf_type(Kind::ApimBackend),
        "backend_protocol": m.pool_backends.first().map(|b| b.protocol.clone()),
        "validate_certificate_chain": m.pool_backends.first().map(|b| b.validate_certificate_chain),
        "validate_certificate_name": m.pool_backends.first().map(|b| b.validate_certificate_name),
        "diagnostic_type": tf_type(Kind::ApimApiDiagnostic),
        "operations": operations,
        "policy_depends_on": policy_depends_on,
        "diagnostic_bodies": diagnostic_bodies,
        "api_urls": api_urls,
        "endpoints": endpoints,
        "insights_type": tf_type(Kind::ApplicationInsights),
        "consumer_products": consumer_products(m),
        "consumer_product_apis": m.consumers.as_ref().map(|c| c.product_apis.iter()
            .map(|x| (x.key.clone(), json!({"product": x.product, "api": x.api})))
            .collect::<Map<String, Value>>()),
        "consumer_subscriptions": m.consumers.as_ref().map(|c| c.subscriptions.iter()
            .map(|x| (x.name.clone(), json!({"display_name": x.display_name, "product": x.product,
                "state": x.state, "allow_tracing": x.allow_tracing})))
            .collect::<Map<String, Value>>()),
    });
    if let (Value::Object(o), Value::Object(x)) = (&mut out, extra) {
        o.extend(x);
    }
    Ok(out)
}

/// `var.consumer_products`: products by id (approval only where a key is needed).
fn consumer_products(m: &Model) -> Option<Map<String, Value>> {
    let c = m.consumers.as_ref()?;
    Some(
        c.products
            .iter()
            .map(|p| {
                let mut o = json!({
                    "display_name": p.display_name,
                    "description": p.description,
                    "subscription_required": p.subscription_required,
                });
                if let Some(a) = p.approval_required {
                    o["approval_required"] = json!(a);
                }
                (p.id.clone(), o)
            })
            .collect(),
    )
}

/// The variable that holds `location` when it matches, else the literal.
fn location_expr(location: Option<&str>, m: &Model) -> String {
    match location {
        Some(l) if l == m.location => "var.location".into(),
        Some(l) if l == m.apim.location => "var.apim_location".into(),
        Some(l) => super::syntax::hcl_string(l),
        None => String::new(),
    }
}

/// Renders every Terraform file of `m` (the policy and OpenAPI files are
/// added by the caller).
pub fn render(m: &Model, templates: &Templates) -> anyhow::Result<Files> {
    let mut ctx = tera::Context::new();
    ctx.insert("m", m);
    ctx.insert("tf", &context(m)?);
    let header = format!(
        "# Generated by `oailb render terraform` from {} ({} mode): change the\n# topology and render again rather than editing this file.\n\n",
        m.topology, m.mode
    );
    super::iac::render_files(FILES, templates, &ctx, &header, |t: &str| {
        align_hcl(t.trim())
    })
}
