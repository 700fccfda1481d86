//! The APIM policy of one API, rendered from `policies/*.xml.tera`.
//!
//! Public API (Terraform, Bicep and `deploy` fill `Placeholder::Policy` with it):
//! - [`render`]: the policy XML of one [`ApiPolicy`] with a loaded template set;
//! - [`render_api`]: the same from a [`Desired`] state and an API name;
//! - [`template_name`]: which template a mode uses;
//! - [`route_fingerprint`] / [`cache_key`] / [`runtime_route`]: the cache key
//!   and backend order the policy uses for one route (tests and simulators
//!   reproduce the gateway's state with them).
//!
//! Output is deterministic: the same input gives byte-identical XML. Every
//! topology value is escaped for where it lands (XML text or attribute, a C#
//! string literal, a JSON string), and the expressions are written without
//! `&`, `<` or `'`, so the document reads the same as XML and as APIM's
//! `rawxml` format.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Templates;
use crate::desired::{ApiPolicy, Desired, Route, RouteAuth, RouteBackend};
use crate::topology::{Mode, WhenAllBusy};

use crate::balancer::state::MAX_REFILL_MS;
use crate::balancer::Settings;

/// A delay nobody announced is never shorter than this.
const MIN_DELAY_MS: u64 = crate::balancer::MIN_DEFAULT_DELAY_MS;

/// The template that renders `mode`.
pub fn template_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Policy => "policies/policy-mode.xml.tera",
        Mode::Pool => "policies/pool-mode.xml.tera",
    }
}

/// Renders the policy of one API in its own mode.
pub fn render(templates: &Templates, policy: &ApiPolicy) -> anyhow::Result<String> {
    if policy.mode == Mode::Pool {
        if let Some(r) = policy.routes.iter().find(|r| r.pool_id.is_none()) {
            anyhow::bail!(
                "API {}: deployment {} has no backend pool; pool mode needs the desired state derived in pool mode",
                policy.api,
                r.model
            );
        }
    }
    let ctx = tera::Context::from_value(context(policy))
        .context("building the policy template context")?;
    templates.render(template_name(policy.mode), &ctx)
}

/// Renders the policy of API `api` of `desired`, with the embedded templates
/// or those of `override_dir`.
pub fn render_api(
    desired: &Desired,
    api: &str,
    override_dir: Option<&Path>,
) -> anyhow::Result<String> {
    let policy = desired.policy(api).with_context(|| {
        let names: Vec<&str> = desired.policies.iter().map(|p| p.api.as_str()).collect();
        format!(
            "the topology has no API `{api}` (APIs: {})",
            names.join(", ")
        )
    })?;
    render(
        &Templates::load_only(override_dir, &[template_name(policy.mode)])?,
        policy,
    )
}

/// Route backends in the order the policy lists them: by priority, then as
/// in the topology. `forward-to-first` sends to the first of this list.
fn ordered(route: &Route) -> Vec<&RouteBackend> {
    let mut v: Vec<&RouteBackend> = route.backends.iter().collect();
    v.sort_by_key(|b| b.priority);
    v
}

/// The backend list of a route as the policy carries it: a JSON array with
/// single-quoted strings (Json.NET reads them), one object per backend.
/// Every character outside a small safe set is a `\uXXXX` escape, so the
/// literal can hold neither a quote, an XML special character, an expression
/// start (`@`) nor a named-value brace.
fn backends_literal(route: &Route, nearby: bool) -> String {
    let items: Vec<String> = ordered(route)
        .iter()
        .map(|b| {
            let place = if nearby {
                let region = b.region.as_deref().unwrap_or("");
                format!(
                    ", 'region': {}, 'area': {}",
                    json_str(region),
                    json_str(crate::balancer::region::area(region).unwrap_or(""))
                )
            } else {
                String::new()
            };
            format!(
                "{{'name': {}, 'priority': {}, 'weight': {}, 'url': {}, 'deployment': {}, 'tpm': {}, 'rpm': {}, 'ow': {}{place}}}",
                json_str(&b.name),
                b.priority,
                b.weight.max(1),
                json_str(&b.url),
                json_str(&b.deployment),
                b.quota.tokens_per_minute,
                b.quota.requests_per_minute,
                b.quota.output_weight
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | ' ') {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push('\'');
    out
}

/// A content hash of the route's rendered backend list (16 hex digits): a
/// changed list gets a new cache key, so stale state never applies to it.
pub fn route_fingerprint(route: &Route) -> String {
    let digest = Sha256::new()
        .chain_update(route.model.as_bytes())
        .chain_update([0])
        .chain_update(backends_literal(route, false).as_bytes())
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of a route, as the policy builds it at run time from
/// `context.Api.Id`: the API's own id keeps two APIs apart even when one
/// policy text is pasted into both.
pub fn cache_key(api_id: &str, route: &Route) -> String {
    format!(
        "oailb:{api_id}:{}:{}",
        route.model,
        route_fingerprint(route)
    )
}

/// The run-time view of a route for [`crate::balancer`]: its cache key under
/// `api_id` and its backends in the order the policy lists them (the order
/// the weighted pick walks).
pub fn runtime_route(api_id: &str, route: &Route) -> crate::balancer::Route {
    crate::balancer::Route {
        cache_key: cache_key(api_id, route),
        backends: ordered(route).into_iter().map(Into::into).collect(),
    }
}

/// The same document in APIM's `xml` format: inside every policy expression
/// that starts an attribute value or an element's text, `&`, `<` and `>`
/// become entities. The rendered policy is `rawxml` (its one generic call,
/// `Body.As<string>`, needs a `<`); XML tools read it through this.
pub fn to_escaped_xml(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + 64);
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < b.len() {
        if b[i] == b'@' && (b[i + 1] == b'(' || b[i + 1] == b'{') && starts_value(b, i) {
            if let Some(end) = closing_bracket(b, i + 1) {
                out.push_str(&raw[copied..i + 2]);
                for c in raw[i + 2..end].chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        c => out.push(c),
                    }
                }
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&raw[copied..]);
    out
}

/// Whether the `@` at `at` starts an attribute value (`='@`, `="@`) or an
/// element's text (`>` and white space before it).
fn starts_value(b: &[u8], at: usize) -> bool {
    if at >= 2 && matches!(b[at - 1], b'\'' | b'"') {
        return b[at - 2] == b'=';
    }
    b[..at]
        .iter()
        .rev()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|c| *c == b'>')
}

/// The index of the bracket closing the one at `open`, skipping C# string
/// literals (regular and verbatim).
fn closing_bracket(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut k = open;
    while k < b.len() {
        match b[k] {
            b'"' => {
                let verbatim = k > 0 && b[k - 1] == b'@';
                k += 1;
                while k < b.len() {
                    if verbatim && b[k] == b'"' {
                        if b.get(k + 1) == Some(&b'"') {
                            k += 1;
                        } else {
                            break;
                        }
                    } else if !verbatim && b[k] == b'\\' {
                        k += 1;
                    } else if !verbatim && b[k] == b'"' {
                        break;
                    }
                    k += 1;
                }
            }
            b'(' | b'{' => depth += 1,
            b')' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
        k += 1;
    }
    None
}

/// C# condition over the int `s`: is status `s` a tripping status? Written
/// without `&&` and `<` (see the module comment).
fn trip_condition(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                format!("s == {a}")
            } else {
                format!("(s >= {a} ? {b} >= s : false)")
            }
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

fn context(p: &ApiPolicy) -> Value {
    let lb = &p.settings;
    let nearby = lb.prefer_nearby == Some(true);
    let routes: Vec<Value> = p
        .routes
        .iter()
        .map(|r| {
            let mut summary: Vec<String> = Vec::new();
            let mut last_priority = None;
            for b in ordered(r) {
                let mut s = format!("{} (weight {}", b.name, b.weight);
                if b.deployment != r.model {
                    s.push_str(&format!(", deployment {}", b.deployment));
                }
                if let RouteAuth::ApiKey { .. } = b.auth {
                    s.push_str(", api-key");
                }
                s.push(')');
                if last_priority == Some(b.priority) {
                    let group = summary.last_mut().expect("a group was started");
                    group.push_str(", ");
                    group.push_str(&s);
                } else {
                    summary.push(format!("priority {}: {s}", b.priority));
                    last_priority = Some(b.priority);
                }
            }
            let auths: std::collections::BTreeSet<bool> = r
                .backends
                .iter()
                .map(|b| b.auth == RouteAuth::ManagedIdentity)
                .collect();
            json!({
                "model": r.model,
                "fingerprint": route_fingerprint(r),
                "backends_literal": backends_literal(r, nearby),
                "backends": ordered(r).iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
                "summary": summary,
                "pool_id": r.pool_id,
                "managed_identity": auths.contains(&true),
                "size": r.backends.len(),
            })
        })
        .collect();
    let mut mi_names: Vec<&str> = Vec::new();
    let mut key_backends: Vec<Value> = Vec::new();
    for b in p.routes.iter().flat_map(|r| r.backends.iter()) {
        match &b.auth {
            RouteAuth::ManagedIdentity => {
                if !mi_names.contains(&b.name.as_str()) {
                    mi_names.push(&b.name);
                }
            }
            RouteAuth::ApiKey { named_value } => {
                let v = json!({"name": b.name, "named_value": named_value});
                if !key_backends.contains(&v) {
                    key_backends.push(v);
                }
            }
        }
    }
    let retry_count = p
        .routes
        .iter()
        .map(|r| r.backends.len())
        .max()
        .unwrap_or(1)
        .clamp(1, 50);
    let max_ms = u64::from(lb.max_retry_after_seconds) * 1000;
    let algo = Settings::from(lb);
    json!({
        "api": p.api,
        "mode": p.mode.as_str(),
        "routes": routes,
        "model_names": p.routes.iter().map(|r| r.model.as_str()).collect::<Vec<_>>().join(", "),
        "retry_count": retry_count,
        "audience": p.audience,
        "identity_client_id_named_value": p.identity_client_id_named_value,
        "subscription_key_header": p.subscription_key_header,
        "subscription_key_query": p.subscription_key_query,
        "managed_identity": !mi_names.is_empty(),
        "mi_names": format!("|{}|", mi_names.join("|")),
        "key_backends": key_backends,
        "caching_type": lb.caching_type.as_str(),
        // Marks never outlive the cache entry: it lasts at least the longest delay.
        "cache_seconds": lb.cache_ttl_seconds.max(lb.max_retry_after_seconds),
        "default_delay_ms": (u64::from(lb.default_retry_after_seconds) * 1000).clamp(MIN_DELAY_MS, max_ms.max(MIN_DELAY_MS)),
        "max_delay_ms": max_ms.max(MIN_DELAY_MS),
        "min_delay_ms": MIN_DELAY_MS,
        "default_retry_after": lb.default_retry_after_seconds.max(1),
        "forward_to_first": lb.when_all_busy == WhenAllBusy::ForwardToFirst,
        "trip_condition": trip_condition(&lb.trip_ranges()),
        "trip_statuses": lb.trip_status_codes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        "backend_header": lb.backend_header,
        // The quota-aware algorithm (src/balancer), in its own units.
        "window_ms": algo.window_ms,
        "max_refill_ms": MAX_REFILL_MS,
        "margin_percent": algo.margin_percent,
        "breaker_rate": algo.breaker.failure_rate_percent,
        "breaker_consecutive": algo.breaker.consecutive,
        "breaker_min_calls": algo.breaker.min_calls,
        "breaker_window_ms": algo.breaker.window_ms,
        "breaker_open_ms": algo.breaker.open_ms,
        "default_max_tokens": algo.estimate.default_max_tokens,
        "default_request_tokens": algo.estimate.default_request_tokens,
        "state_seconds": algo.cache_seconds(),
        "prefer_nearby": nearby,
        "region_areas": crate::balancer::region::area_table(),
        // Consumers: token metrics and the rejected-request metric (null without).
        "token_metrics": super::policy_metrics::api_context(p),
    })
}

#[cfg(test)]
mod tests;
