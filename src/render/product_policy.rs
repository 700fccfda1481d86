//! The policy of one consumers' product, rendered from
//! `policies/product.xml.tera`: who is calling (the subscription, or the
//! Entra ID token's client application), `validate-azure-ad-token`, the
//! deployments and APIs the consumer may call, then its limits
//! (`rate-limit-by-key`, `llm-token-limit` with a counter per consumer and
//! the prompt estimated before any backend is called). APIM runs it at the
//! API policy's `<base />`, before the load balancing.
//!
//! Like the API policy, it is APIM `rawxml`, deterministic, and every
//! topology value is escaped for where it lands.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use super::policy_metrics::{rejected_xml, CONSUMER_VARIABLE, COST_CENTER_VARIABLE};
use super::{cs_string, escape_xml, Templates};
use crate::desired::{Desired, ProductAccess, ProductPolicy};

pub const TEMPLATE: &str = "policies/product.xml.tera";

/// Response headers that tell the client what is left of its limits.
pub const REMAINING_TOKENS_HEADER: &str = "x-oailb-remaining-tokens";
pub const REMAINING_QUOTA_HEADER: &str = "x-oailb-remaining-quota-tokens";
pub const REMAINING_REQUESTS_HEADER: &str = "x-oailb-remaining-requests";

/// `|a|b|`: a list a C# `Contains("|" + x + "|")` tests against.
fn bar_list(items: &[String]) -> String {
    format!("|{}|", items.join("|"))
}

fn context(p: &ProductPolicy) -> Value {
    let api_expr = {
        let mut e = String::from("\"\"");
        for (name, path) in p.apis.iter().rev() {
            e = format!("(p == {} ? {} : {e})", cs_string(path), cs_string(name));
        }
        format!("@{{ string p = context.Api.Path.Trim(\"/\".ToCharArray()); return {e}; }}")
    };
    let rejected = |reason: &str| -> Value {
        match &p.metrics_namespace {
            Some(ns) => json!(rejected_xml(ns, &api_expr, reason, "                ")),
            None => Value::Null,
        }
    };
    let consumers: Vec<Value> = p
        .consumers
        .iter()
        .map(|c| {
            let limits = c.limits.clone().unwrap_or_default();
            json!({
                "name": c.name,
                "entra": c.entra.as_ref().map(|e| json!({
                    "tenant_id": e.tenant_id,
                    "client_application_ids": e.client_application_ids,
                    "app_roles": e.app_roles,
                    "audiences": e.audiences,
                })),
                "models": c.models.as_ref().map(|m| bar_list(m)),
                "model_names": c.models.as_ref().map(|m| m.join(", ")),
                "api_paths": c.api_paths.as_ref().map(|a| bar_list(a)),
                "cost_center": c.cost_center,
                "requests_per_minute": limits.requests_per_minute,
                "tokens_per_minute": limits.tokens_per_minute,
                "token_quota": limits.token_quota,
                "token_quota_period": limits.token_quota_period.map(|x| x.apim()),
                "limits_tokens": limits.limits_tokens(),
            })
        })
        .collect();
    // Open product: the client application of the token names the consumer.
    let mut by_client: Vec<(String, String)> = p
        .consumers
        .iter()
        .flat_map(|c| {
            c.entra
                .iter()
                .flat_map(|e| e.client_application_ids.iter())
                .map(|id| (id.to_ascii_lowercase(), c.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    by_client.sort();
    json!({
        "product": p.product,
        "open": p.access == ProductAccess::Entra,
        "consumers": consumers,
        "clients": by_client.iter().map(|(id, name)| json!({"id": id, "consumer": name})).collect::<Vec<_>>(),
        "consumer_variable": CONSUMER_VARIABLE,
        "cost_center_variable": COST_CENTER_VARIABLE,
        "remaining_tokens_header": REMAINING_TOKENS_HEADER,
        "remaining_quota_header": REMAINING_QUOTA_HEADER,
        "remaining_requests_header": REMAINING_REQUESTS_HEADER,
        "rejected_rate": rejected("rate"),
        "rejected_requests": rejected("requests"),
        "rejected_quota": rejected("quota"),
        "escaped_product": escape_xml(&p.product),
    })
}

/// Renders the policy of product `p` of `desired`.
pub fn render(templates: &Templates, p: &ProductPolicy) -> anyhow::Result<String> {
    let ctx = tera::Context::from_value(context(p))
        .context("building the product policy template context")?;
    templates.render(TEMPLATE, &ctx)
}

/// Renders the policy of product `product` of `desired`, with the embedded
/// templates or those of `override_dir`.
pub fn render_product(
    desired: &Desired,
    product: &str,
    override_dir: Option<&Path>,
) -> anyhow::Result<String> {
    let p = desired.product_policy(product).with_context(|| {
        let names: Vec<&str> = desired
            .product_policies
            .iter()
            .map(|p| p.product.as_str())
            .collect();
        format!(
            "the topology has no product `{product}` (products: {})",
            if names.is_empty() {
                "none: it defines no consumers".to_string()
            } else {
                names.join(", ")
            }
        )
    })?;
    render(&Templates::load_only(override_dir, &[TEMPLATE])?, p)
}
