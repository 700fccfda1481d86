//! Rules of the `consumers` and `consumer_tiers` sections and of the token
//! metrics (README "Validation rules"; each code has a file in
//! `tests/invalid/`).

use std::collections::{BTreeSet, HashMap};

use super::super::consumers::{
    Consumer, ConsumerAuth, EntraAuth, Limits, MetricDimension, MAX_METRIC_DIMENSIONS,
};
use super::super::naming::{self, NameKind};
use super::super::schema::ApimSku;
use super::Checker;

/// APIM's own all-access subscription: no consumer may take its name.
const RESERVED_SUBSCRIPTION: &str = "master";
/// `tokens-per-minute` and `calls` are 32-bit integers in APIM's schema.
const MAX_INT32: u64 = 2_147_483_647;

impl Checker<'_> {
    pub(super) fn consumers(&mut self) {
        let t = self.t;
        self.metric_settings();
        let mut tiers = HashMap::new();
        for (i, tier) in t.consumer_tiers.iter().enumerate() {
            let p = format!("consumer_tiers[{i}]");
            self.short_id(&format!("{p}.name"), "consumer tier name", &tier.name);
            if let Some(prev) = tiers.insert(tier.name.as_str(), i) {
                self.error(
                    "duplicate-name",
                    &format!("{p}.name"),
                    format!(
                        "consumer tier `{}` is already defined at consumer_tiers[{prev}]",
                        tier.name
                    ),
                );
            }
            self.text_field(
                &format!("{p}.description"),
                tier.description.as_deref(),
                1000,
            );
            if let Some(l) = &tier.limits {
                self.limits(&format!("{p}.limits"), l);
            }
        }
        let mut names = HashMap::new();
        for (i, c) in t.consumers.iter().enumerate() {
            let p = format!("consumers[{i}]");
            self.short_id(&format!("{p}.name"), "consumer name", &c.name);
            if c.name == RESERVED_SUBSCRIPTION {
                self.error(
                    "invalid-name",
                    &format!("{p}.name"),
                    "consumer name `master` is APIM's built-in all-access subscription",
                );
            }
            if let Some(prev) = names.insert(c.name.as_str(), i) {
                self.error_help(
                    "duplicate-consumer",
                    &format!("{p}.name"),
                    format!(
                        "consumer `{}` is already defined at consumers[{prev}]",
                        c.name
                    ),
                    "every consumer has its own name: it is the subscription's name and the metrics' consumer",
                );
            }
            self.text_field(&format!("{p}.description"), c.description.as_deref(), 1000);
            self.text_field(&format!("{p}.cost_center"), c.cost_center.as_deref(), 128);
            self.consumer_apis_and_models(&p, c);
            self.consumer_auth(&p, c);
            self.consumer_limits(&p, c);
        }
        self.entra_ambiguity();
        if !t.consumers.is_empty() && t.monitoring.is_none() {
            self.warn(
                "no-usage-metrics",
                "consumers",
                "consumers are defined but `monitoring` is not: no token metrics, no workbook, nothing for `oailb usage` to read",
                "add `monitoring: {}` (Log Analytics and Application Insights)",
            );
        }
    }

    /// A short id (lower-case letters, digits, `-`; 1–40 characters).
    fn short_id(&mut self, path: &str, what: &str, name: &str) {
        if let Err(why) = naming::check(NameKind::BackendId, name) {
            self.error("invalid-name", path, format!("{what} `{name}` {why}"));
        }
    }

    /// Free text that lands in APIM (descriptions) or in metrics.
    fn text_field(&mut self, path: &str, text: Option<&str>, max: usize) {
        let Some(text) = text else { return };
        let len = text.chars().count();
        if text.trim().is_empty() || len > max || text.chars().any(char::is_control) {
            self.error(
                "invalid-value",
                path,
                format!("must be 1 to {max} characters without control characters (it is {len})"),
            );
        }
    }

    fn metric_settings(&mut self) {
        let Some(m) = &self.t.monitoring else { return };
        let tm = &m.token_metrics;
        if let Err(why) = naming::check(NameKind::ApimChild, &tm.namespace) {
            self.error(
                "invalid-value",
                "monitoring.token_metrics.namespace",
                format!("metric namespace `{}` {why}", tm.namespace),
            );
        }
        let Some(dims) = &tm.dimensions else { return };
        let path = "monitoring.token_metrics.dimensions";
        if dims.len() > MAX_METRIC_DIMENSIONS {
            self.error_help(
                "too-many-dimensions",
                path,
                format!(
                    "{} token-metric dimensions; APIM's llm-emit-token-metric takes at most {MAX_METRIC_DIMENSIONS}",
                    dims.len()
                ),
                "keep the ones you filter or split by (consumer, deployment, backend, api, cost_center, subscription, region)",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, d) in dims.iter().enumerate() {
            if !seen.insert(d.as_str()) {
                self.error(
                    "invalid-value",
                    &format!("{path}[{i}]"),
                    format!("dimension `{}` is listed twice", d.as_str()),
                );
            }
        }
        if dims.is_empty() {
            self.error(
                "invalid-value",
                path,
                "no dimension: tokens could not be told apart by consumer",
            );
        } else if !dims.contains(&MetricDimension::Consumer) && !self.t.consumers.is_empty() {
            self.warn(
                "unused-setting",
                path,
                "the token metrics have no `consumer` dimension: usage per consumer cannot be reported",
                "add `consumer`",
            );
        }
    }

    fn consumer_apis_and_models(&mut self, p: &str, c: &Consumer) {
        let t = self.t;
        if let Some(apis) = &c.apis {
            if apis.is_empty() {
                self.error(
                    "invalid-value",
                    &format!("{p}.apis"),
                    format!("consumer `{}` may call no API", c.name),
                );
            }
            let known: Vec<&str> = t.apis().iter().map(|a| a.name.as_str()).collect();
            let mut seen = BTreeSet::new();
            for (j, a) in apis.iter().enumerate() {
                let ap = format!("{p}.apis[{j}]");
                if !known.contains(&a.as_str()) {
                    let help = match super::did_you_mean(a, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("APIs are: {}", known.join(", ")),
                    };
                    self.error_help(
                        "unknown-api",
                        &ap,
                        format!("`{a}` is not an API of this topology"),
                        help,
                    );
                } else if !seen.insert(a) {
                    self.error("duplicate-name", &ap, format!("API `{a}` is listed twice"));
                }
            }
        }
        let Some(models) = &c.models else { return };
        if models.is_empty() {
            self.error(
                "invalid-value",
                &format!("{p}.models"),
                format!("consumer `{}` may call no deployment", c.name),
            );
        }
        let apis = t.consumer_apis(c);
        let mut seen = BTreeSet::new();
        for (j, m) in models.iter().enumerate() {
            let mp = format!("{p}.models[{j}]");
            if t.model(m).is_none() {
                self.unknown_model(&mp, m);
            } else if !apis
                .iter()
                .any(|a| t.api_models(a).iter().any(|x| &x.name == m))
            {
                let names: Vec<&str> = apis.iter().map(|a| a.name.as_str()).collect();
                self.error_help(
                    "unknown-model",
                    &mp,
                    format!(
                        "`{m}` is not exposed by the APIs consumer `{}` may call ({})",
                        c.name,
                        names.join(", ")
                    ),
                    "add the model to one of those APIs' `models`, or the API to the consumer's `apis`",
                );
            } else if !seen.insert(m) {
                self.error(
                    "duplicate-name",
                    &mp,
                    format!("model `{m}` is listed twice"),
                );
            }
        }
    }

    fn consumer_auth(&mut self, p: &str, c: &Consumer) {
        let none = ConsumerAuth::default();
        let auth = c.auth.as_ref().unwrap_or(&none);
        if !auth.subscription && auth.entra.is_none() {
            let path = if c.auth.is_some() {
                format!("{p}.auth")
            } else {
                format!("{p}.name")
            };
            self.error_help(
                "consumer-no-auth",
                &path,
                format!(
                    "consumer `{}` has no way to authenticate: anyone could call as it",
                    c.name
                ),
                "set `auth: {subscription: true}` (an APIM subscription key), `auth: {entra: {tenant_id: ..., client_application_ids: [...]}}`, or both",
            );
        }
        if let Some(e) = &auth.entra {
            self.entra(&format!("{p}.auth.entra"), &c.name, e);
        }
    }

    fn entra(&mut self, p: &str, consumer: &str, e: &EntraAuth) {
        match &e.tenant_id {
            None => self.error_help(
                "entra-tenant",
                p,
                format!("the Entra ID settings of consumer `{consumer}` name no tenant: validate-azure-ad-token needs one"),
                "add `tenant_id: <directory (tenant) id>`",
            ),
            Some(t) if !naming::is_guid(t) && !is_domain(t) => self.error(
                "invalid-value",
                &format!("{p}.tenant_id"),
                format!("`{t}` is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com"),
            ),
            Some(_) => {}
        }
        if e.client_application_ids.is_empty() {
            self.error_help(
                "entra-client-ids",
                p,
                format!("the Entra ID settings of consumer `{consumer}` allow no client application"),
                "list the application (client) ids in `client_application_ids`: validate-azure-ad-token needs at least one",
            );
        }
        for (i, id) in e.client_application_ids.iter().enumerate() {
            if !naming::is_guid(id) {
                self.error(
                    "invalid-value",
                    &format!("{p}.client_application_ids[{i}]"),
                    format!("`{id}` is not an application (client) id (a GUID)"),
                );
            }
        }
        for (field, list) in [("app_roles", &e.app_roles), ("audiences", &e.audiences)] {
            for (i, v) in list.iter().enumerate() {
                let bad = v.trim().is_empty()
                    || v.len() > 256
                    || v.chars().any(|c| {
                        c.is_control() || matches!(c, '<' | '>' | '&' | '"' | '\'' | '{' | '}')
                    });
                if bad {
                    self.error(
                        "invalid-value",
                        &format!("{p}.{field}[{i}]"),
                        format!("`{v}` is not a usable value (1 to 256 characters, none of < > & \" ' {{ }})"),
                    );
                }
            }
        }
    }

    fn consumer_limits(&mut self, p: &str, c: &Consumer) {
        let t = self.t;
        match (&c.tier, &c.limits) {
            (Some(tier), _) if t.consumer_tier(tier).is_none() => {
                let known: Vec<&str> = t.consumer_tiers.iter().map(|x| x.name.as_str()).collect();
                let help = match super::did_you_mean(tier, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if known.is_empty() => "define it in `consumer_tiers`".to_string(),
                    None => format!("tiers are: {}", known.join(", ")),
                };
                self.error_help(
                    "unknown-tier",
                    &format!("{p}.tier"),
                    format!("`{tier}` is not in `consumer_tiers`"),
                    help,
                );
            }
            (Some(tier), Some(_)) => self.error_help(
                "tier-and-limits",
                &format!("{p}.limits"),
                format!(
                    "consumer `{}` is in tier `{tier}`, whose limits apply to it; it cannot have its own",
                    c.name
                ),
                "remove `limits`, or `tier` to give the consumer a product of its own",
            ),
            (None, Some(l)) => self.limits(&format!("{p}.limits"), l),
            _ => {}
        }
        let Some(limits) = t.consumer_limits(c) else {
            return;
        };
        if t.apim.sku == ApimSku::Consumption {
            let path = match &c.tier {
                Some(tier) => {
                    let i = t
                        .consumer_tiers
                        .iter()
                        .position(|x| &x.name == tier)
                        .unwrap_or_default();
                    format!("consumer_tiers[{i}].limits")
                }
                None => format!("{p}.limits"),
            };
            let what = if limits.limits_tokens() {
                "llm-token-limit"
            } else {
                "rate-limit-by-key"
            };
            self.error_help(
                "limits-tier",
                &path,
                format!(
                    "the limits of consumer `{}` need APIM's {what} policy, which the {} tier does not offer",
                    c.name,
                    t.apim.sku.as_str()
                ),
                "use another tier (Developer, Basic, Standard, Premium or a v2 tier), or remove the limits",
            );
        }
    }

    fn limits(&mut self, p: &str, l: &Limits) {
        for (field, v, max) in [
            ("tokens_per_minute", l.tokens_per_minute, MAX_INT32),
            ("token_quota", l.token_quota, i64::MAX as u64),
            (
                "requests_per_minute",
                l.requests_per_minute.map(u64::from),
                MAX_INT32,
            ),
        ] {
            if let Some(v) = v.filter(|v| *v == 0 || *v > max) {
                self.error(
                    "invalid-value",
                    &format!("{p}.{field}"),
                    format!("{field} must be 1 to {max} (got {v})"),
                );
            }
        }
        match (l.token_quota, l.token_quota_period) {
            (Some(_), None) => self.error_help(
                "invalid-value",
                &format!("{p}.token_quota"),
                "token_quota needs token_quota_period",
                "add `token_quota_period: hour`, `day`, `week` or `month`",
            ),
            (None, Some(_)) => self.error(
                "invalid-value",
                &format!("{p}.token_quota_period"),
                "token_quota_period without token_quota",
            ),
            _ => {}
        }
        if let (Some(quota), Some(period), Some(rate)) =
            (l.token_quota, l.token_quota_period, l.tokens_per_minute)
        {
            if quota < rate {
                self.error_help(
                    "quota-below-rate",
                    &format!("{p}.token_quota"),
                    format!(
                        "a quota of {quota} tokens per {} is smaller than the rate of {rate} tokens per minute: the rate could never be used",
                        period.as_str()
                    ),
                    "raise token_quota or lower tokens_per_minute",
                );
            }
        }
        if l.is_empty() {
            self.warn(
                "unused-setting",
                p,
                "`limits` sets no limit",
                "set tokens_per_minute, token_quota or requests_per_minute, or remove `limits`",
            );
        }
    }

    /// Consumers that authenticate with Entra ID only are told apart by
    /// their token's client application (`azp` / `appid`): two of them
    /// cannot share one.
    fn entra_ambiguity(&mut self) {
        let t = self.t;
        let mut owners: HashMap<String, usize> = HashMap::new();
        for (i, c) in t.consumers.iter().enumerate() {
            let Some(auth) = &c.auth else { continue };
            let (false, Some(e)) = (auth.subscription, &auth.entra) else {
                continue;
            };
            for (j, id) in e.client_application_ids.iter().enumerate() {
                match owners.get(&id.to_ascii_lowercase()) {
                    Some(&prev) if prev != i => self.error_help(
                        "ambiguous-entra-client",
                        &format!("consumers[{i}].auth.entra.client_application_ids[{j}]"),
                        format!(
                            "client application {id} is also consumer `{}`'s: a token could not tell the two apart",
                            t.consumers[prev].name
                        ),
                        "give each consumer its own application registration, or a subscription key",
                    ),
                    Some(_) => {}
                    None => {
                        owners.insert(id.to_ascii_lowercase(), i);
                    }
                }
            }
        }
    }
}

/// A DNS domain such as `contoso.onmicrosoft.com`.
fn is_domain(s: &str) -> bool {
    s.contains('.')
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_domain;

    #[test]
    fn tenant_domains() {
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(!is_domain("contoso"));
        assert!(!is_domain("-a.com"));
        assert!(!is_domain("a..com"));
    }
}
