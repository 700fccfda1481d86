//! Semantic rules a topology must satisfy beyond its schema. Each rule has its
//! own diagnostic code (README "Validation rules") and its own test in
//! `tests/invalid/`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::catalog;
use super::diagnostic::{did_you_mean, Diagnostic, Report};
use super::naming::{self, NameKind};
use super::resolve::normalize_endpoint;
use super::schema::*;
use super::source::Locations;

/// APIM backend pools hold at most this many members.
pub const MAX_POOL_MEMBERS: usize = 30;
/// APIM's `retry` runs at most 50 retries; policy mode needs one per backend
/// of a model (each is tried once, then one more turn answers 429).
pub const MAX_POLICY_BACKENDS: usize = 50;
/// APIM pool priorities and weights are limited to 0..=100.
pub const MAX_POOL_PRIORITY: u32 = 100;

struct Checker<'a> {
    t: &'a Topology,
    locs: &'a Locations,
    report: &'a mut Report,
    base_dir: Option<&'a Path>,
}

/// `base_dir` resolves `openapi_file` paths; `None` skips that file check.
pub fn check(t: &Topology, locs: &Locations, report: &mut Report, base_dir: Option<&Path>) {
    let mut c = Checker {
        t,
        locs,
        report,
        base_dir,
    };
    c.top_level();
    c.apim();
    c.apis();
    c.monitoring();
    c.load_balancing();
    c.models();
    c.groups_and_backends();
    c.coverage();
    c.mode_constraints();
    c.cache();
    c.serve();
    c.pricing();
    c.consumers();
}

#[path = "validate_consumers.rs"]
mod consumers;

impl Checker<'_> {
    fn emit(&mut self, d: Diagnostic, path: &str) {
        let d = d.at_path(path);
        let d = match self.locs.value(path) {
            Some(loc) => d.at(loc),
            None => d,
        };
        self.report.push(d);
    }

    fn error(&mut self, code: &'static str, path: &str, msg: impl Into<String>) {
        self.emit(Diagnostic::error(code, msg), path);
    }

    fn error_help(
        &mut self,
        code: &'static str,
        path: &str,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.emit(Diagnostic::error(code, msg).with_help(help), path);
    }

    fn warn(
        &mut self,
        code: &'static str,
        path: &str,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.emit(Diagnostic::warning(code, msg).with_help(help), path);
    }

    fn name(&mut self, kind: NameKind, path: &str, name: &str) {
        if let Err(why) = naming::check(kind, name) {
            self.error(
                "invalid-name",
                path,
                format!("{} `{name}` {why}", kind.describe()),
            );
        }
    }

    /// A name oailb derived from others: the error says which field to set.
    fn derived_name(&mut self, kind: NameKind, path: &str, name: &str, field: &str) {
        if let Err(why) = naming::check(kind, name) {
            self.error_help(
                "invalid-name",
                path,
                format!("derived {} `{name}` {why}", kind.describe()),
                format!("set `{field}` explicitly"),
            );
        }
    }

    fn region(&mut self, path: &str, region: &str) {
        if catalog::is_known_region(region) {
            return;
        }
        let help = match did_you_mean(region, catalog::regions()) {
            Some(s) => format!("did you mean `{s}`? Regions are written as ARM spells them (`az account list-locations -o table`)"),
            None => "regions are written as ARM spells them, e.g. `eastus2` (`az account list-locations -o table`)".into(),
        };
        self.warn(
            "unknown-region",
            path,
            format!("`{region}` is not a region oailb knows"),
            help,
        );
    }

    fn short_global_name(&mut self, path: &str, name: &str, host: &str) {
        if name.len() < 6 {
            self.warn(
                "global-name",
                path,
                format!("`{name}` becomes the public host `{host}`, which must be unique across Azure; short names are usually taken"),
                "pick a longer, organisation-specific name",
            );
        }
    }

    fn top_level(&mut self) {
        let t = self.t;
        if let Some(sub) = &t.subscription {
            if !naming::is_guid(sub) {
                self.error(
                    "invalid-subscription",
                    "subscription",
                    format!("`{sub}` is not a subscription id (a GUID)"),
                );
            }
        }
        self.name(NameKind::ResourceGroup, "resource_group", &t.resource_group);
        self.region("location", &t.location);
        for (k, v) in &t.tags {
            let path = format!("tags.{k}");
            if k.is_empty() || k.len() > 512 || k.contains(['<', '>', '%', '&', '\\', '?', '/']) {
                self.key_error(
                    "invalid-tag",
                    &path,
                    format!("tag name `{k}` must be 1 to 512 characters without < > % & \\ ? /"),
                );
            }
            if v.len() > 256 {
                self.error(
                    "invalid-tag",
                    &path,
                    format!("tag `{k}` has a value longer than 256 characters"),
                );
            }
        }
        if t.tags.len() > 50 {
            self.error(
                "invalid-tag",
                "tags",
                "Azure allows at most 50 tags per resource",
            );
        }
    }

    fn apim(&mut self) {
        let a = &self.t.apim;
        self.name(NameKind::ApimService, "apim.name", &a.name);
        let host = format!("{}.{}", a.name, self.t.cloud.apim_domain());
        self.short_global_name("apim.name", &a.name, &host);
        if let Some(loc) = &a.location {
            self.region("apim.location", loc);
        }
        let cap = a.capacity();
        let max = a.sku.max_capacity();
        if a.sku == ApimSku::Consumption {
            if cap != 0 {
                self.error(
                    "apim-capacity",
                    "apim.capacity",
                    "the Consumption tier has no scale units: leave `capacity` out or set it to 0",
                );
            }
        } else if cap == 0 || cap > max {
            self.error(
                "apim-capacity",
                "apim.capacity",
                format!(
                    "the {} tier takes 1 to {max} scale units (got {cap})",
                    a.sku.as_str()
                ),
            );
        }
        self.additional_locations();
        if a.publisher_name.trim().is_empty() || a.publisher_name.len() > 100 {
            self.error(
                "invalid-value",
                "apim.publisher_name",
                "publisher_name must be 1 to 100 characters",
            );
        }
        if !looks_like_email(&a.publisher_email) {
            self.error(
                "invalid-email",
                "apim.publisher_email",
                format!("`{}` is not an email address", a.publisher_email),
            );
        }
        match (a.identity, &a.identity_name) {
            (IdentityKind::SystemAssigned, Some(_)) => self.error_help(
                "identity-name-unused",
                "apim.identity_name",
                "`identity_name` is only used with `identity: user-assigned`",
                "remove it, or set `identity: user-assigned`",
            ),
            (IdentityKind::UserAssigned, _) => {
                let n = self.t.identity_name().unwrap_or_default();
                if a.identity_name.is_some() {
                    self.name(NameKind::UserAssignedIdentity, "apim.identity_name", &n);
                } else {
                    self.derived_name(
                        NameKind::UserAssignedIdentity,
                        "apim.identity",
                        &n,
                        "apim.identity_name",
                    );
                }
            }
            _ => {}
        }
    }

    /// Multi-region gateways: Premium (classic) only, distinct regions,
    /// zones that can hold the units.
    fn additional_locations(&mut self) {
        let a = &self.t.apim;
        if a.additional_locations.is_empty() {
            return;
        }
        if a.sku != ApimSku::Premium {
            let why = if a.sku.is_v2() {
                "v2 tiers scale out in their one region (PremiumV2 adds regions through workspace gateways, which oailb does not manage)"
            } else {
                "only the Premium tier runs gateways in more than one region"
            };
            self.error_help(
                "multi-region-tier",
                "apim.additional_locations",
                format!(
                    "additional_locations needs the Premium tier (this is {}): {why}",
                    a.sku.as_str()
                ),
                "set `apim.sku: Premium`, or remove additional_locations",
            );
        }
        let mut seen: HashMap<String, String> = HashMap::new();
        seen.insert(
            self.t.apim_location().to_ascii_lowercase(),
            "apim.location".into(),
        );
        for (i, l) in a.additional_locations.iter().enumerate() {
            let p = format!("apim.additional_locations[{i}]");
            self.region(&format!("{p}.location"), &l.location);
            if let Some(prev) = seen.insert(l.location.to_ascii_lowercase(), p.clone()) {
                self.error(
                    "duplicate-name",
                    &format!("{p}.location"),
                    format!("region `{}` already hosts a gateway ({prev})", l.location),
                );
            }
            let cap = l.capacity();
            if cap == 0 || cap > ApimSku::Premium.max_capacity() {
                self.error(
                    "apim-capacity",
                    &format!("{p}.capacity"),
                    format!(
                        "a Premium region takes 1 to {} scale units (got {cap})",
                        ApimSku::Premium.max_capacity()
                    ),
                );
            }
            self.zones(&format!("{p}.zones"), &l.zones, cap);
        }
    }

    /// Availability zones `"1"`..`"3"`, each once; APIM spreads a region's
    /// units evenly over its zones.
    fn zones(&mut self, path: &str, zones: &[String], capacity: u32) {
        let mut seen = BTreeSet::new();
        for z in zones {
            if !matches!(z.as_str(), "1" | "2" | "3") || !seen.insert(z.as_str()) {
                self.error(
                    "invalid-zones",
                    path,
                    format!("zones are \"1\", \"2\" and \"3\", each at most once (got {z:?})"),
                );
                return;
            }
        }
        if !zones.is_empty() && capacity % zones.len() as u32 != 0 {
            self.error_help(
                "invalid-zones",
                path,
                format!(
                    "{capacity} scale unit(s) cannot be spread evenly over {} zones",
                    zones.len()
                ),
                "use a capacity that is a multiple of the number of zones",
            );
        }
    }

    /// The external cache: present when the policy needs one, valid names
    /// and ids, no managed settings on an existing cache.
    fn cache(&mut self) {
        let t = self.t;
        let lb = &t.load_balancing;
        let wants = lb.mode == Mode::Policy && lb.caching_type != CachingType::Internal;
        let Some(c) = &t.cache else {
            if wants {
                let path = if self.locs.contains("load_balancing.caching_type") {
                    "load_balancing.caching_type"
                } else {
                    "apim.sku"
                };
                let how = "add `cache: {}` (oailb creates an Azure Managed Redis instance and connects APIM to it) or `cache: {existing: /subscriptions/.../providers/Microsoft.Cache/redisEnterprise/<name>}`";
                if lb.caching_type == CachingType::External || t.apim.sku == ApimSku::Consumption {
                    self.error_help(
                        "missing-cache",
                        path,
                        format!(
                            "caching_type: {} needs an external cache, and the topology has none: the policy could not keep backend state",
                            lb.caching_type.as_str()
                        ),
                        how,
                    );
                } else {
                    self.warn(
                        "cache-fallback",
                        path,
                        "caching_type: prefer-external without a cache: every gateway keeps its own state in its internal cache",
                        how,
                    );
                }
            }
            return;
        };
        if !wants {
            self.warn(
                "unused-setting",
                "cache",
                if lb.mode == Mode::Pool {
                    "the cache has no effect in pool mode (APIM keeps breaker state itself)"
                } else {
                    "the cache has no effect with caching_type: internal"
                },
                "set `load_balancing.caching_type: external`, or remove `cache`",
            );
        }
        if let Some(id) = &c.existing {
            if let Err(why) = check_cache_id(id) {
                self.error_help(
                    "invalid-resource-id",
                    "cache.existing",
                    format!("`{id}` {why}"),
                    "expected /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Cache/redisEnterprise/<name>",
                );
            }
            for (field, set) in [
                ("name", c.name.is_some()),
                ("sku", c.sku.is_some()),
                ("high_availability", c.high_availability.is_some()),
                ("location", c.location.is_some()),
                ("scope", c.scope != CacheScope::Shared),
            ] {
                if set {
                    self.error_help(
                        "managed-only-field",
                        &format!("cache.{field}"),
                        format!(
                            "`{field}` applies to a cache oailb creates; this one is `existing`"
                        ),
                        "remove it",
                    );
                }
            }
            return;
        }
        if let Some(l) = &c.location {
            self.region("cache.location", l);
            if c.scope == CacheScope::PerRegion {
                self.error_help(
                    "managed-only-field",
                    "cache.location",
                    "`location` names the one shared cache's region; with `scope: per-region` each cache lives in its gateway's region",
                    "remove it",
                );
            }
        }
        for inst in t.cache_instances() {
            match &c.name {
                Some(_) => self.name(NameKind::RedisCache, "cache.name", &inst.name),
                None => self.derived_name(NameKind::RedisCache, "cache", &inst.name, "cache.name"),
            }
        }
        if t.cloud != Cloud::AzureCloud {
            self.warn(
                "cache-cloud",
                "cache",
                format!(
                    "Azure Managed Redis may not be offered in {}; creating the cache can fail there",
                    t.cloud.as_str()
                ),
                "use `cache: {existing: <resource id>}` of a cache you created there",
            );
        }
    }

    fn apis(&mut self) {
        let t = self.t;
        let (prefix, apis): (&str, Vec<&Api>) = match (&t.api, t.apis.is_empty()) {
            (Some(_), false) => {
                self.error_help(
                    "api-and-apis",
                    "apis",
                    "set either `api` or `apis`, not both",
                    "move the `api` entry into the `apis` list",
                );
                return;
            }
            (None, true) => {
                self.error_help(
                    "no-api",
                    "",
                    "the topology defines no API",
                    "add `api:` with at least `name` and `path`",
                );
                return;
            }
            (Some(a), true) => ("api", vec![a]),
            (None, false) => ("apis", t.apis.iter().collect()),
        };
        let mut names = HashMap::new();
        let mut paths = HashMap::new();
        for (i, api) in apis.iter().enumerate() {
            let p = if prefix == "api" {
                "api".to_string()
            } else {
                format!("apis[{i}]")
            };
            self.name(NameKind::ApimChild, &format!("{p}.name"), &api.name);
            if let Some(prev) = names.insert(api.name.to_ascii_lowercase(), i) {
                self.error(
                    "duplicate-name",
                    &format!("{p}.name"),
                    format!("API name `{}` is already used by apis[{prev}]", api.name),
                );
            }
            if let Err(why) = naming::check_api_path(&api.path) {
                self.error(
                    "invalid-api-path",
                    &format!("{p}.path"),
                    format!("API path `{}` {why}", api.path),
                );
            } else if let Some(prev) = paths.insert(api.path.to_ascii_lowercase(), i) {
                self.error(
                    "duplicate-api-path",
                    &format!("{p}.path"),
                    format!("API path `{}` is already used by apis[{prev}] (paths are case-insensitive)", api.path),
                );
            }
            if let Some(dn) = &api.display_name {
                if dn.trim().is_empty() || dn.len() > 300 {
                    self.error(
                        "invalid-value",
                        &format!("{p}.display_name"),
                        "display_name must be 1 to 300 characters",
                    );
                }
            }
            for (field, value) in [
                ("subscription_key_header", &api.subscription_key_header),
                ("subscription_key_query", &api.subscription_key_query),
            ] {
                if let Err(why) = naming::check_header(value) {
                    self.error(
                        "invalid-header",
                        &format!("{p}.{field}"),
                        format!("`{value}` {why}"),
                    );
                }
            }
            if api
                .subscription_key_header
                .eq_ignore_ascii_case("authorization")
            {
                self.error(
                    "invalid-header",
                    &format!("{p}.subscription_key_header"),
                    "the subscription key cannot travel in `Authorization`: APIM replaces that header with the backend token",
                );
            }
            if !api.subscription_required {
                self.warn(
                    "no-subscription",
                    &format!("{p}.subscription_required"),
                    format!("API `{}` accepts calls without a subscription key: anyone who finds the URL spends your quota", api.name),
                    "keep subscription_required: true unless another policy authenticates callers",
                );
            }
            match &api.operations {
                Operations::OpenapiUrl(url) => {
                    if let Err(why) = check_https_url(url) {
                        self.error(
                            "invalid-url",
                            &format!("{p}.operations.openapi_url"),
                            format!("`{url}` {why}"),
                        );
                    }
                }
                Operations::OpenapiFile(file) => {
                    if let Some(base) = self.base_dir {
                        let full = base.join(file);
                        if !full.is_file() {
                            self.error(
                                "missing-file",
                                &format!("{p}.operations.openapi_file"),
                                format!("OpenAPI file `{}` does not exist (paths are relative to the topology file)", full.display()),
                            );
                        }
                    }
                }
                Operations::Wildcard => {}
            }
            if let Some(models) = &api.models {
                if models.is_empty() {
                    self.error(
                        "invalid-value",
                        &format!("{p}.models"),
                        format!("API `{}` exposes no model", api.name),
                    );
                }
                let mut seen = BTreeSet::new();
                for (j, m) in models.iter().enumerate() {
                    let mp = format!("{p}.models[{j}]");
                    if t.model(m).is_none() {
                        self.unknown_model(&mp, m);
                    } else if !seen.insert(m) {
                        self.error(
                            "duplicate-name",
                            &mp,
                            format!("model `{m}` is listed twice"),
                        );
                    }
                }
            }
        }
    }

    fn unknown_model(&mut self, path: &str, name: &str) {
        let help = match did_you_mean(name, self.t.models.iter().map(|m| m.name.as_str())) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "models are: {}",
                self.t
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.error_help(
            "unknown-model",
            path,
            format!("`{name}` is not in `models`"),
            help,
        );
    }

    fn monitoring(&mut self) {
        let Some(m) = &self.t.monitoring else { return };
        let apim = &self.t.apim;
        let ws = m.workspace_name(apim);
        match &m.log_analytics_workspace {
            Some(_) => self.name(
                NameKind::LogAnalyticsWorkspace,
                "monitoring.log_analytics_workspace.name",
                &ws,
            ),
            None => self.derived_name(
                NameKind::LogAnalyticsWorkspace,
                "monitoring",
                &ws,
                "monitoring.log_analytics_workspace.name",
            ),
        }
        let ai = m.app_insights_name(apim);
        match &m.application_insights {
            Some(_) => self.name(
                NameKind::AppInsights,
                "monitoring.application_insights.name",
                &ai,
            ),
            None => self.derived_name(
                NameKind::AppInsights,
                "monitoring",
                &ai,
                "monitoring.application_insights.name",
            ),
        }
        if !(0.0..=100.0).contains(&m.sampling_percentage) || m.sampling_percentage.is_nan() {
            self.error(
                "invalid-value",
                "monitoring.sampling_percentage",
                format!(
                    "sampling_percentage must be 0 to 100 (got {})",
                    m.sampling_percentage
                ),
            );
        }
        if !(30..=730).contains(&m.retention_days) {
            self.error(
                "invalid-value",
                "monitoring.retention_days",
                format!(
                    "retention_days must be 30 to 730 (got {})",
                    m.retention_days
                ),
            );
        }
        self.name(
            NameKind::ApimChild,
            "monitoring.logger_name",
            &m.logger_name,
        );
        if m.log_body_bytes > 8192 {
            self.error(
                "invalid-value",
                "monitoring.log_body_bytes",
                "APIM logs at most 8192 body bytes",
            );
        } else if m.log_body_bytes > 0 {
            self.warn(
                "logs-prompts",
                "monitoring.log_body_bytes",
                "request and response bodies will be logged: prompts and completions end up in Application Insights",
                "set log_body_bytes: 0 unless you need them",
            );
        }
    }

    fn load_balancing(&mut self) {
        let lb = &self.t.load_balancing;
        if lb.cache_ttl_seconds == 0 || lb.cache_ttl_seconds > 3600 {
            self.error(
                "invalid-value",
                "load_balancing.cache_ttl_seconds",
                "cache_ttl_seconds must be 1 to 3600",
            );
        }
        if lb.default_retry_after_seconds == 0 {
            self.error(
                "invalid-value",
                "load_balancing.default_retry_after_seconds",
                "default_retry_after_seconds must be at least 1",
            );
        }
        if lb.max_retry_after_seconds < lb.default_retry_after_seconds {
            self.error(
                "invalid-value",
                "load_balancing.max_retry_after_seconds",
                format!(
                    "max_retry_after_seconds ({}) is below default_retry_after_seconds ({})",
                    lb.max_retry_after_seconds, lb.default_retry_after_seconds
                ),
            );
        }
        if lb.max_retry_after_seconds > 86_400 {
            self.error(
                "invalid-value",
                "load_balancing.max_retry_after_seconds",
                "max_retry_after_seconds must be at most 86400 (one day)",
            );
        }
        if lb.trip_status_codes.is_empty() {
            self.error("invalid-value", "load_balancing.trip_status_codes", "trip_status_codes is empty: no response would ever move traffic to another backend");
        }
        for (i, s) in lb.trip_status_codes.iter().enumerate() {
            let p = format!("load_balancing.trip_status_codes[{i}]");
            if s.min > s.max || s.min < 100 || s.max > 599 {
                self.error(
                    "invalid-status",
                    &p,
                    format!("`{s}` is not a range of HTTP statuses (100 to 599)"),
                );
            } else if s.min < 400 {
                self.error("invalid-status", &p, format!("`{s}` includes successful or redirect statuses; only 4xx and 5xx can trip a backend"));
            }
        }
        let trips_429 = lb
            .trip_status_codes
            .iter()
            .any(|s| s.min <= 429 && 429 <= s.max);
        if !lb.trip_status_codes.is_empty() && !trips_429 {
            self.warn(
                "no-429",
                "load_balancing.trip_status_codes",
                "429 is not a tripping status: throttled backends keep receiving traffic",
                "add 429",
            );
        }
        let ranges: [(&str, u32, u32, u32, &str); 9] = [
            (
                "quota_window_seconds",
                lb.quota_window_seconds,
                1,
                60,
                "Azure evaluates quotas over 1 or 10 s windows",
            ),
            (
                "safety_margin_percent",
                lb.safety_margin_percent,
                0,
                50,
                "a larger margin leaves most of the quota unused",
            ),
            (
                "estimate.default_max_tokens",
                lb.estimate.default_max_tokens,
                1,
                1_000_000,
                "completion tokens assumed when a request names none",
            ),
            (
                "estimate.default_request_tokens",
                lb.estimate.default_request_tokens,
                1,
                10_000_000,
                "cost of a request whose body is not JSON",
            ),
            (
                "circuit_breaker.consecutive_failures",
                lb.circuit_breaker.consecutive_failures,
                0,
                1000,
                "failing answers in a row; 0 turns the rule off",
            ),
            (
                "circuit_breaker.failure_rate_percent",
                lb.circuit_breaker.failure_rate_percent,
                1,
                100,
                "failures per 100 calls",
            ),
            (
                "circuit_breaker.min_calls",
                lb.circuit_breaker.min_calls,
                1,
                10_000,
                "calls in the window before the rate counts",
            ),
            (
                "circuit_breaker.window_seconds",
                lb.circuit_breaker.window_seconds,
                1,
                3600,
                "the window of the failure rate",
            ),
            (
                "circuit_breaker.open_seconds",
                lb.circuit_breaker.open_seconds,
                1,
                3600,
                "how long an open breaker keeps a backend out",
            ),
        ];
        for (field, value, min, max, what) in ranges {
            if !(min..=max).contains(&value) {
                self.error(
                    "invalid-value",
                    &format!("load_balancing.{field}"),
                    format!("{field} must be {min} to {max} ({what}); got {value}"),
                );
            }
        }
        if let Some(h) = &lb.backend_header {
            if let Err(why) = naming::check_header(h) {
                self.error(
                    "invalid-header",
                    "load_balancing.backend_header",
                    format!("`{h}` {why}"),
                );
            }
        }
    }

    fn models(&mut self) {
        let t = self.t;
        if t.models.is_empty() {
            self.error(
                "no-models",
                "models",
                "`models` is empty: there is nothing to balance",
            );
        }
        let mut names = HashMap::new();
        for (i, m) in t.models.iter().enumerate() {
            let p = format!("models[{i}]");
            self.name(NameKind::Deployment, &format!("{p}.name"), &m.name);
            if let Some(prev) = names.insert(m.name.to_ascii_lowercase(), i) {
                self.error(
                    "duplicate-name",
                    &format!("{p}.name"),
                    format!("model `{}` is already defined at models[{prev}]", m.name),
                );
            }
            if m.model.trim().is_empty() {
                self.error(
                    "invalid-value",
                    &format!("{p}.model"),
                    "model name is empty",
                );
            }
            if m.version.trim().is_empty() {
                self.error(
                    "invalid-value",
                    &format!("{p}.version"),
                    "model version is empty",
                );
            }
            if m.capacity == 0 {
                self.error(
                    "invalid-capacity",
                    &format!("{p}.capacity"),
                    "capacity must be greater than 0",
                );
            }
            if m.sku.is_batch() {
                self.error("batch-sku", &format!("{p}.sku"), format!("{} deployments only serve the Batch API, not online requests through a load balancer", m.sku.as_str()));
            }
            self.model_version(&p, m);
            if let Some(rai) = &m.rai_policy {
                self.name(NameKind::ApimChild, &format!("{p}.rai_policy"), rai);
            }
            let known = m.quota.and_then(|q| q.tokens_per_minute).is_some()
                || crate::balancer::quota::ptu_input_tpm(&m.model).is_some();
            let provisioned = t
                .backends()
                .flat_map(|(_, b)| b.served(t))
                .any(|s| s.model.name == m.name && s.sku.is_provisioned());
            if provisioned && !known {
                self.warn(
                    "unknown-throughput",
                    &format!("{p}.model"),
                    format!(
                        "oailb has no throughput per PTU for model `{}`: the balancer cannot predict when its provisioned deployments are full and learns it from their 429s",
                        m.model
                    ),
                    "set quota.tokens_per_minute to the model's input tokens per minute per PTU",
                );
            }
            if let Some(q) = &m.quota {
                for (field, v) in [
                    ("tokens_per_minute", q.tokens_per_minute),
                    ("requests_per_minute", q.requests_per_minute),
                ] {
                    if v == Some(0) {
                        self.error(
                            "invalid-value",
                            &format!("{p}.quota.{field}"),
                            format!("{field} must be at least 1 (leave it out for Azure's ratio)"),
                        );
                    }
                }
            }
        }
    }

    /// Retired versions warn (the seed still validates); versions the
    /// catalog does not list are allowed with a note.
    fn model_version(&mut self, p: &str, m: &Model) {
        if !m.format.eq_ignore_ascii_case("OpenAI") {
            return;
        }
        match catalog::lookup(&m.model, &m.version) {
            catalog::Known::Retired(r) => {
                let help = match catalog::current_replacement(r) {
                    Some(to) => format!("move to {to}"),
                    None => "move to a current model version".to_string(),
                };
                self.warn(
                    "retired-model",
                    &format!("{p}.version"),
                    format!(
                        "{} version {} was retired by Azure on {}: new deployments of it fail",
                        m.model,
                        m.version,
                        r.retires.unwrap_or_default()
                    ),
                    help,
                );
            }
            catalog::Known::Current(_) => {}
            catalog::Known::OtherVersions(known) => self.emit(
                Diagnostic::note(
                    "unknown-model-version",
                    format!(
                        "oailb's model catalog (as of {}) lists {} versions {}, not {}: it is deployed as written",
                        catalog::CATALOG_DATE,
                        m.model,
                        known.join(", "),
                        m.version
                    ),
                )
                .with_help("check the version with `az cognitiveservices model list --location <region>`"),
                &format!("{p}.version"),
            ),
            catalog::Known::Unlisted => self.emit(
                Diagnostic::note(
                    "unknown-model-version",
                    format!(
                        "oailb's model catalog (as of {}) does not list model `{}`: it is deployed as written",
                        catalog::CATALOG_DATE,
                        m.model
                    ),
                )
                .with_help("check the name with `az cognitiveservices model list --location <region>`"),
                &format!("{p}.model"),
            ),
        }
    }

    fn groups_and_backends(&mut self) {
        let t = self.t;
        if t.priority_groups.is_empty() {
            self.error(
                "no-backends",
                "priority_groups",
                "`priority_groups` is empty: there is no backend to send requests to",
            );
            return;
        }
        // Priorities: unique and numbered 1..N.
        let mut seen = HashMap::new();
        for (i, g) in t.priority_groups.iter().enumerate() {
            let p = format!("priority_groups[{i}].priority");
            if g.priority == 0 {
                self.error(
                    "invalid-priority",
                    &p,
                    "priorities start at 1 (1 is tried first)",
                );
            } else if let Some(prev) = seen.insert(g.priority, i) {
                self.error_help(
                    "duplicate-priority",
                    &p,
                    format!(
                        "priority {} is already used by priority_groups[{prev}]",
                        g.priority
                    ),
                    "put backends of equal priority into the same group",
                );
            }
            if g.backends.is_empty() {
                self.error(
                    "empty-group",
                    &format!("priority_groups[{i}].backends"),
                    format!("priority group {} has no backends", g.priority),
                );
            }
        }
        let n = t.priority_groups.len() as u32;
        for (i, g) in t.priority_groups.iter().enumerate() {
            if g.priority > n {
                let missing: Vec<String> = (1..=n)
                    .filter(|p| !seen.contains_key(p))
                    .map(|p| p.to_string())
                    .collect();
                self.error_help(
                    "priority-gap",
                    &format!("priority_groups[{i}].priority"),
                    format!(
                        "priority {} leaves a gap: {n} groups must be numbered 1 to {n}",
                        g.priority
                    ),
                    format!("missing: {}", missing.join(", ")),
                );
            }
        }

        let mut names: HashMap<String, String> = HashMap::new();
        let mut accounts: HashMap<String, String> = HashMap::new();
        let mut endpoints: HashMap<String, String> = HashMap::new();
        for (gi, g) in t.priority_groups.iter().enumerate() {
            for (bi, b) in g.backends.iter().enumerate() {
                let p = format!("priority_groups[{gi}].backends[{bi}]");
                self.backend(&p, b);
                if let Some(prev) = names.insert(b.name.clone(), p.clone()) {
                    self.error(
                        "duplicate-name",
                        &format!("{p}.name"),
                        format!("backend name `{}` is already used at {prev}", b.name),
                    );
                }
                if let Some(acct) = b.account_name(&t.apim) {
                    if let Some(prev) = accounts.insert(acct.to_ascii_lowercase(), p.clone()) {
                        self.error(
                            "duplicate-account",
                            &format!("{p}.name"),
                            format!("account `{acct}` is already used at {prev}"),
                        );
                    }
                }
                let root = b.endpoint_root(&t.apim, t.cloud);
                if let Some(prev) = endpoints.insert(root.clone(), p.clone()) {
                    self.error_help(
                        "duplicate-endpoint",
                        &p,
                        format!("endpoint {root} is already used at {prev}"),
                        "one account appears once; give it more weight instead of listing it twice",
                    );
                }
            }
        }
    }

    fn backend(&mut self, p: &str, b: &Backend) {
        let t = self.t;
        self.name(NameKind::BackendId, &format!("{p}.name"), &b.name);
        let kinds = [
            b.region.is_some(),
            b.resource_id.is_some() || b.endpoint.is_some(),
        ];
        match kinds {
            [true, true] => {
                let field = if b.resource_id.is_some() { "resource_id" } else { "endpoint" };
                self.error_help(
                    "managed-and-existing",
                    &format!("{p}.{field}"),
                    format!("backend `{}` has both `region` (oailb creates the account) and `{field}` (an existing account)", b.name),
                    "keep `region` for a new account, or `resource_id`/`endpoint` for one that exists",
                );
            }
            [false, false] => self.error_help(
                "backend-kind",
                p,
                format!("backend `{}` needs `region` (a new account) or `resource_id`/`endpoint` (an existing one)", b.name),
                "e.g. `region: eastus2`",
            ),
            _ => {}
        }
        if b.is_managed() {
            if let Some(r) = &b.region {
                self.region(&format!("{p}.region"), r);
            }
            let acct = b.account_name(&t.apim).unwrap_or_default();
            match &b.account_name {
                Some(_) => self.name(
                    NameKind::CognitiveAccount,
                    &format!("{p}.account_name"),
                    &acct,
                ),
                None => self.derived_name(
                    NameKind::CognitiveAccount,
                    &format!("{p}.name"),
                    &acct,
                    "account_name",
                ),
            }
            let sub = b.subdomain(&t.apim).unwrap_or_default();
            match &b.custom_subdomain {
                Some(_) => self.name(
                    NameKind::CustomSubdomain,
                    &format!("{p}.custom_subdomain"),
                    &sub,
                ),
                None => self.derived_name(
                    NameKind::CustomSubdomain,
                    &format!("{p}.name"),
                    &sub,
                    "custom_subdomain",
                ),
            }
            let host = format!("{sub}.{}", t.cloud.openai_domain());
            self.short_global_name(&format!("{p}.name"), &sub, &host);
        } else {
            for (field, set) in [
                ("account_name", b.account_name.is_some()),
                ("custom_subdomain", b.custom_subdomain.is_some()),
                ("kind", b.kind.is_some()),
            ] {
                if set {
                    self.error_help(
                        "managed-only-field",
                        &format!("{p}.{field}"),
                        format!("`{field}` applies to accounts oailb creates (with `region`); backend `{}` is an existing account", b.name),
                        "remove it",
                    );
                }
            }
        }
        if let Some(id) = &b.resource_id {
            if let Err(why) = check_account_id(id) {
                self.error_help(
                    "invalid-resource-id",
                    &format!("{p}.resource_id"),
                    format!("`{id}` {why}"),
                    "expected /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.CognitiveServices/accounts/<name>",
                );
            }
        }
        if let Some(ep) = &b.endpoint {
            let path = format!("{p}.endpoint");
            match check_https_url(ep) {
                Err(why) => self.error("invalid-url", &path, format!("`{ep}` {why}")),
                Ok(()) => {
                    let (root, stripped) = normalize_endpoint(ep);
                    if stripped {
                        self.warn(
                            "endpoint-openai-suffix",
                            &path,
                            format!("endpoint `{ep}` ends in /openai; oailb uses {root} and adds /openai itself"),
                            format!("write `{root}`"),
                        );
                    }
                    let host = root.trim_start_matches("https://").trim_end_matches('/');
                    if host.contains('/') {
                        self.error(
                            "invalid-url",
                            &path,
                            format!("`{ep}` has a path; give the account's root URL"),
                        );
                    }
                    let domains = [
                        Cloud::AzureCloud,
                        Cloud::AzureUSGovernment,
                        Cloud::AzureChinaCloud,
                    ];
                    let other = domains
                        .iter()
                        .find(|c| **c != t.cloud && host.ends_with(c.openai_domain()));
                    if let Some(c) = other {
                        self.warn(
                            "endpoint-cloud",
                            &path,
                            format!(
                                "`{host}` belongs to {}, but the topology's cloud is {}",
                                c.as_str(),
                                t.cloud.as_str()
                            ),
                            format!(
                                "set `cloud: {}` or use an endpoint of {}",
                                c.as_str(),
                                t.cloud.as_str()
                            ),
                        );
                    }
                }
            }
        }
        if let Some(w) = b.weight {
            if w == 0 || w > 1000 {
                self.error(
                    "invalid-weight",
                    &format!("{p}.weight"),
                    format!("weight must be 1 to 1000 (got {w})"),
                );
            }
        }
        self.backend_models(p, b);
        self.backend_auth(p, b);
    }

    fn backend_models(&mut self, p: &str, b: &Backend) {
        let Some(list) = &b.models else { return };
        if list.is_empty() {
            self.error(
                "invalid-value",
                &format!("{p}.models"),
                format!(
                    "backend `{}` serves no model; remove it or list its models",
                    b.name
                ),
            );
        }
        let mut seen = BTreeSet::new();
        let mut deployments = HashMap::new();
        for (i, bm) in list.iter().enumerate() {
            let mp = format!("{p}.models[{i}]");
            if self.t.model(&bm.name).is_none() {
                self.unknown_model(&mp, &bm.name);
                continue;
            }
            // Two models cannot share one deployment on the same account.
            let deployment = bm.deployment.as_deref().unwrap_or(&bm.name);
            if let Some(other) = deployments.insert(deployment.to_ascii_lowercase(), &bm.name) {
                if other != &bm.name {
                    self.error(
                        "duplicate-name",
                        &mp,
                        format!("backend `{}` maps models `{other}` and `{}` to the same deployment `{deployment}`", b.name, bm.name),
                    );
                }
            }
            if !seen.insert(bm.name.as_str()) {
                self.error(
                    "duplicate-name",
                    &mp,
                    format!("backend `{}` lists model `{}` twice", b.name, bm.name),
                );
            }
            if let Some(d) = &bm.deployment {
                self.name(NameKind::Deployment, &format!("{mp}.deployment"), d);
            }
            if bm.capacity == Some(0) {
                self.error(
                    "invalid-capacity",
                    &format!("{mp}.capacity"),
                    "capacity must be greater than 0",
                );
            }
            if let Some(sku) = bm.sku {
                if sku.is_batch() {
                    self.error(
                        "batch-sku",
                        &format!("{mp}.sku"),
                        format!("{} deployments only serve the Batch API", sku.as_str()),
                    );
                }
            }
            if let Some(sp) = &bm.spillover {
                self.spillover(&format!("{mp}.spillover"), b, bm, sp);
            }
            if !b.is_managed() && (bm.sku.is_some()) {
                self.warn(
                    "existing-sku",
                    &format!("{mp}.sku"),
                    format!("backend `{}` is an existing account: oailb does not create its deployments, so `sku` is ignored", b.name),
                    "remove `sku`; `capacity` still sets the default weight",
                );
            }
        }
    }

    /// Native spill-over (`spilloverDeploymentName`): Azure offers it from a
    /// global or data zone provisioned deployment to a standard deployment
    /// of the same model and data processing level on the same account.
    fn spillover(&mut self, p: &str, b: &Backend, bm: &BackendModel, sp: &Spillover) {
        if !b.is_managed() {
            self.error_help(
                "invalid-spillover",
                p,
                format!(
                    "backend `{}` is an existing account: oailb does not create its deployments",
                    b.name
                ),
                "set spill-over on that account yourself, or remove `spillover`",
            );
            return;
        }
        let Some(m) = self.t.model(&bm.name) else {
            return;
        };
        let sku = bm.sku.unwrap_or(m.sku);
        let Some(target) = sku.spillover_target() else {
            self.error_help(
                "invalid-spillover",
                p,
                format!("Azure offers spill-over from GlobalProvisionedManaged and DataZoneProvisionedManaged deployments; this one is {}", sku.as_str()),
                "use a global or data zone provisioned SKU, or remove `spillover`",
            );
            return;
        };
        if let Some(s) = sp.sku {
            if s != target {
                self.error_help(
                    "invalid-spillover",
                    &format!("{p}.sku"),
                    format!("a {} deployment spills over to {} (the same data processing level), not {}", sku.as_str(), target.as_str(), s.as_str()),
                    format!("write `sku: {}` or leave it out", target.as_str()),
                );
            }
        }
        if sp.capacity == 0 {
            self.error(
                "invalid-capacity",
                &format!("{p}.capacity"),
                "capacity must be greater than 0",
            );
        }
        let own = bm.deployment.as_deref().unwrap_or(&bm.name);
        let name = sp
            .deployment
            .clone()
            .unwrap_or_else(|| format!("{own}-spillover"));
        match &sp.deployment {
            Some(_) => self.name(NameKind::Deployment, &format!("{p}.deployment"), &name),
            None => self.derived_name(NameKind::Deployment, p, &name, "deployment"),
        }
        let clash = b
            .served(self.t)
            .iter()
            .any(|s| s.deployment.eq_ignore_ascii_case(&name));
        if clash {
            self.error(
                "duplicate-name",
                &format!("{p}.deployment"),
                format!(
                    "backend `{}` already has a deployment named `{name}`",
                    b.name
                ),
            );
        }
    }

    fn backend_auth(&mut self, p: &str, b: &Backend) {
        match (b.auth, &b.api_key) {
            (AuthKind::ApiKey, None) => self.error_help(
                "missing-api-key",
                &format!("{p}.auth"),
                format!("backend `{}` uses `auth: api-key` but says not where the key comes from", b.name),
                "add `api_key: {env: VARIABLE}` or `api_key: {key_vault_secret: https://<vault>.vault.azure.net/secrets/<name>}`",
            ),
            (AuthKind::ManagedIdentity, Some(_)) => self.error_help(
                "unused-api-key",
                &format!("{p}.api_key"),
                format!("backend `{}` has `api_key` but authenticates with managed identity", b.name),
                "add `auth: api-key`, or remove `api_key`",
            ),
            (AuthKind::ApiKey, Some(src)) => {
                if b.is_managed() {
                    self.error_help(
                        "api-key-managed",
                        &format!("{p}.auth"),
                        format!("backend `{}` is an account oailb creates: it uses managed identity, keys stay disabled", b.name),
                        "api-key is for existing accounts, e.g. in another tenant",
                    );
                }
                match src {
                    ApiKeySource::Env(var) => {
                            if !is_env_var_name(var) {
                            self.error("invalid-env-var", &format!("{p}.api_key.env"), format!("`{var}` is not an environment variable name"));
                        }
                    }
                    ApiKeySource::KeyVaultSecret(uri) => {
                        if let Err(why) = check_key_vault_secret(uri) {
                            self.error_help(
                                "invalid-key-vault-secret",
                                &format!("{p}.api_key.key_vault_secret"),
                                format!("`{uri}` {why}"),
                                "expected https://<vault>.vault.azure.net/secrets/<name>[/<version>]",
                            );
                        }
                    }
                }
            }
            (AuthKind::ManagedIdentity, None) => {
                if !b.is_managed() && b.resource_id.is_none() {
                    self.warn(
                        "role-not-granted",
                        &format!("{p}.endpoint"),
                        format!("backend `{}` is given by endpoint only: oailb cannot grant the APIM identity access to it", b.name),
                        "grant `Cognitive Services OpenAI User` on that account yourself, or give `resource_id` too",
                    );
                }
            }
        }
    }

    /// Every model is served somewhere, and every API has something to serve.
    fn coverage(&mut self) {
        let t = self.t;
        for (i, m) in t.models.iter().enumerate() {
            let served = t
                .backends()
                .any(|(_, b)| b.served(t).iter().any(|s| s.model.name == m.name));
            if !served && !t.priority_groups.is_empty() {
                self.error_help(
                    "model-not-served",
                    &format!("models[{i}]"),
                    format!("no backend serves model `{}`", m.name),
                    "add it to a backend's `models`, or remove it",
                );
            }
        }
    }

    fn mode_constraints(&mut self) {
        let t = self.t;
        let lb = &t.load_balancing;
        let consumption = t.apim.sku == ApimSku::Consumption;
        match lb.mode {
            Mode::Pool => {
                if consumption {
                    self.error_help(
                        "pool-consumption",
                        "load_balancing.mode",
                        "backend pools are not available on the Consumption tier",
                        "use `mode: policy` with an external cache, or another tier",
                    );
                }
                if t.priority_groups.len() as u32 > MAX_POOL_PRIORITY {
                    self.error(
                        "pool-priority",
                        "priority_groups",
                        format!("backend pools take priorities up to {MAX_POOL_PRIORITY}"),
                    );
                }
                for m in &t.models {
                    let members: Vec<(String, &Backend)> = t
                        .priority_groups
                        .iter()
                        .enumerate()
                        .flat_map(|(gi, g)| {
                            g.backends.iter().enumerate().map(move |(bi, b)| {
                                (format!("priority_groups[{gi}].backends[{bi}]"), b)
                            })
                        })
                        .filter(|(_, b)| b.served(t).iter().any(|s| s.model.name == m.name))
                        .collect();
                    if members.len() > MAX_POOL_MEMBERS {
                        self.error_help(
                            "pool-too-large",
                            "priority_groups",
                            format!("model `{}` has {} backends; an APIM pool holds at most {MAX_POOL_MEMBERS}", m.name, members.len()),
                            "use `mode: policy`, which has no such limit",
                        );
                    }
                    let auths: BTreeSet<_> = members.iter().map(|(_, b)| b.auth as u8).collect();
                    if auths.len() > 1 {
                        self.error_help(
                            "pool-mixed-auth",
                            "load_balancing.mode",
                            format!(
                                "the pool for `{}` mixes managed-identity and api-key backends",
                                m.name
                            ),
                            "use `mode: policy`, which authenticates each backend separately",
                        );
                    }
                    for (bp, b) in &members {
                        for (i, s) in b.served(t).iter().enumerate() {
                            if s.model.name == m.name && s.deployment != m.name {
                                self.error_help(
                                    "pool-deployment-name",
                                    &format!("{bp}.models[{i}].deployment"),
                                    format!(
                                        "backend `{}` names model `{}` `{}`; a pool forwards the same URL to every member",
                                        b.name, m.name, s.deployment
                                    ),
                                    "use `mode: policy` (it rewrites the deployment per backend), or rename the deployment",
                                );
                            }
                        }
                    }
                }
            }
            Mode::Policy => {
                for m in &t.models {
                    let n = t
                        .backends()
                        .filter(|(_, b)| b.served(t).iter().any(|s| s.model.name == m.name))
                        .count();
                    if n > MAX_POLICY_BACKENDS {
                        self.error_help(
                            "policy-too-many-backends",
                            "priority_groups",
                            format!("model `{}` has {n} backends; the policy's retry loop reaches at most {MAX_POLICY_BACKENDS}", m.name),
                            "split the model's backends across two models or APIs",
                        );
                    }
                }
                if consumption && lb.caching_type == CachingType::Internal {
                    // Point at the setting if written, else at the tier.
                    let path = if self.locs.contains("load_balancing.caching_type") {
                        "load_balancing.caching_type"
                    } else {
                        "apim.sku"
                    };
                    self.error_help(
                        "consumption-cache",
                        path,
                        "the Consumption tier has no built-in cache, so the policy could not keep backend state",
                        "set `caching_type: external` and add `cache: {}` (oailb creates the Azure Managed Redis cache APIM uses)",
                    );
                }
            }
        }
        if lb.caching_type != CachingType::Internal && lb.mode == Mode::Pool {
            self.warn(
                "unused-setting",
                "load_balancing.caching_type",
                "caching_type has no effect in pool mode (APIM keeps breaker state itself)",
                "remove it",
            );
        }
    }
}

impl Checker<'_> {
    /// The `serve` section (read by `oailb serve` only).
    fn serve(&mut self) {
        let Some(sv) = &self.t.serve else { return };
        if let Err(why) = parse_listen(&sv.listen) {
            self.error(
                "invalid-value",
                "serve.listen",
                format!("`{}` {why}", sv.listen),
            );
        }
        for (i, k) in sv.client_keys.iter().enumerate() {
            match k {
                ClientKeySource::Env(name) => {
                    if !is_env_var_name(name) {
                        self.error(
                            "invalid-env-var",
                            &format!("serve.client_keys[{i}].env"),
                            format!("`{name}` is not an environment variable name"),
                        );
                    }
                }
                ClientKeySource::Sha256File(file) => {
                    if let Some(base) = self.base_dir {
                        if !base.join(file).is_file() {
                            self.error_help(
                                "missing-file",
                                &format!("serve.client_keys[{i}].sha256_file"),
                                format!("`{file}` does not exist"),
                                "the path is relative to the topology file; write one hex SHA-256 per line (`printf %s KEY | sha256sum`)",
                            );
                        }
                    }
                }
            }
        }
        if !(1024..=1024 * 1024 * 1024).contains(&sv.max_body_bytes) {
            self.error(
                "invalid-value",
                "serve.max_body_bytes",
                format!(
                    "max_body_bytes must be 1024 to 1073741824; got {}",
                    sv.max_body_bytes
                ),
            );
        }
        let t = &sv.timeouts;
        let limits: [(&str, u32, u32, u32); 3] = [
            ("connect_ms", t.connect_ms, 10, 600_000),
            ("first_byte_ms", t.first_byte_ms, 10, 3_600_000),
            ("request_ms", t.request_ms, 10, 86_400_000),
        ];
        for (field, value, min, max) in limits {
            if !(min..=max).contains(&value) {
                self.error(
                    "invalid-value",
                    &format!("serve.timeouts.{field}"),
                    format!("{field} must be {min} to {max} milliseconds; got {value}"),
                );
            }
        }
        if t.first_byte_ms > t.request_ms {
            self.error(
                "invalid-value",
                "serve.timeouts.first_byte_ms",
                format!(
                    "first_byte_ms ({}) is above request_ms ({})",
                    t.first_byte_ms, t.request_ms
                ),
            );
        }
        if let Err(why) = check_state_store(&sv.state) {
            self.error_help(
                "invalid-value",
                "serve.state",
                format!("`{}` {why}", redact_url(&sv.state)),
                "write `memory` or `redis://HOST:PORT/DB`; give a password with --state or OAILB_STATE",
            );
        }
        if sv.shutdown_grace_seconds > 3600 {
            self.error(
                "invalid-value",
                "serve.shutdown_grace_seconds",
                "shutdown_grace_seconds must be at most 3600",
            );
        }
        let v = &sv.openai_api_version;
        let ok = v.len() >= 10
            && v.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            self.error(
                "invalid-value",
                "serve.openai_api_version",
                format!("`{v}` is not an Azure OpenAI api-version such as 2024-10-21"),
            );
        }
    }

    /// `pricing` (read by `oailb simulate` only): known models, prices that
    /// are numbers, PTU prices for provisioned SKUs, token prices for the rest.
    fn pricing(&mut self) {
        let t = self.t;
        let Some(p) = &t.pricing else { return };
        if p.currency.trim().is_empty() {
            self.error("invalid-value", "pricing.currency", "the currency is empty");
        }
        for (i, price) in p.prices.iter().enumerate() {
            let path = format!("pricing.prices[{i}]");
            if t.model(&price.model).is_none() {
                let names: Vec<&str> = t.models.iter().map(|m| m.name.as_str()).collect();
                self.error_help(
                    "unknown-model",
                    &format!("{path}.model"),
                    format!(
                        "pricing names the model `{}`, which `models` lacks",
                        price.model
                    ),
                    format!("models: {}", names.join(", ")),
                );
            }
            let fields = [
                ("input_per_million_tokens", price.input_per_million_tokens),
                ("output_per_million_tokens", price.output_per_million_tokens),
                ("ptu_per_hour", price.ptu_per_hour),
            ];
            for (field, v) in fields {
                if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                    self.error(
                        "invalid-value",
                        &format!("{path}.{field}"),
                        format!("{v} is not a price (a number that is not negative)"),
                    );
                }
            }
            match price.sku {
                Some(sku)
                    if sku.is_provisioned()
                        && price
                            .input_per_million_tokens
                            .or(price.output_per_million_tokens)
                            .is_some() =>
                {
                    self.error(
                        "invalid-value",
                        &path,
                        format!(
                            "{} deployments are paid per PTU and hour, not per token",
                            sku.as_str()
                        ),
                    )
                }
                Some(sku) if !sku.is_provisioned() && price.ptu_per_hour.is_some() => self.error(
                    "invalid-value",
                    &format!("{path}.ptu_per_hour"),
                    format!(
                        "{} deployments are paid per token, not per PTU",
                        sku.as_str()
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// `HOST:PORT` with an IP address (`127.0.0.1:8080`, `[::1]:8080`,
/// `0.0.0.0:8080`) or `localhost:PORT`.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    let t = text.trim();
    if let Some(port) = t.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| "has no valid port".to_string())?;
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse()
        .map_err(|_| "is not an address and port such as 127.0.0.1:8080 or [::]:8080".to_string())
}

/// `memory` or a Redis URL without a password (the topology holds no secret).
pub fn check_state_store(text: &str) -> Result<(), String> {
    if text == "memory" {
        return Ok(());
    }
    let Some(rest) = text
        .strip_prefix("redis://")
        .or_else(|| text.strip_prefix("rediss://"))
    else {
        return Err("is neither `memory` nor a redis:// URL".into());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("carries credentials; the topology must hold no secret".into());
    }
    if authority.is_empty() {
        return Err("has no host".into());
    }
    Ok(())
}

/// A Redis URL with any password replaced by `***`.
pub fn redact_url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

fn is_env_var_name(var: &str) -> bool {
    var.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ','))
                && s.len() <= 100
        }
        None => false,
    }
}

pub(crate) fn check_https_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(if url.starts_with("http://") {
            "uses http; Azure endpoints and oailb require https".into()
        } else {
            "is not an https URL".into()
        });
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(['@', ' ']) || !host.contains('.') {
        return Err("has no valid host".into());
    }
    // The host lands in the rendered policy and IaC: a DNS name, maybe a port.
    let (name, port) = host.split_once(':').unwrap_or((host, "0"));
    let dns = name
        .split('.')
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !dns || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "has host `{host}`, which is not a DNS name (letters, digits, `-`, dots)"
        ));
    }
    if url.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '{' | '}' | '\\')
    }) {
        return Err("contains characters a URL cannot hold".into());
    }
    Ok(())
}

/// The (type, name) of a top-level resource id in a resource group of the
/// provider `namespace`: `/subscriptions/<guid>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>`.
fn resource_in_group<'a>(id: &'a str, namespace: &str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let ok = parts.len() == 9
        && parts[0].is_empty()
        && parts[1].eq_ignore_ascii_case("subscriptions")
        && naming::is_guid(parts[2])
        && parts[3].eq_ignore_ascii_case("resourceGroups")
        && !parts[4].is_empty()
        && parts[5].eq_ignore_ascii_case("providers")
        && parts[6].eq_ignore_ascii_case(namespace);
    ok.then(|| (parts[7], parts[8]))
}

fn check_account_id(id: &str) -> Result<(), String> {
    match resource_in_group(id, "Microsoft.CognitiveServices") {
        Some((t, name)) if t.eq_ignore_ascii_case("accounts") => {
            naming::check(NameKind::CognitiveAccount, name)
        }
        _ => Err("is not the resource id of a Cognitive Services account".into()),
    }
}

/// An Azure Managed Redis (or Redis Enterprise) instance:
/// `/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Cache/redisEnterprise/<name>`.
fn check_cache_id(id: &str) -> Result<(), String> {
    match resource_in_group(id, "Microsoft.Cache") {
        Some((t, _)) if t.eq_ignore_ascii_case("redis") => Err("is an Azure Cache for Redis instance, which Azure retires (Basic, Standard and Premium on 2028-09-30); oailb connects Azure Managed Redis (`redisEnterprise`) instances".into()),
        Some((t, name)) if t.eq_ignore_ascii_case("redisEnterprise") => {
            naming::check(NameKind::RedisCache, name)
        }
        _ => Err("is not the resource id of an Azure Managed Redis instance".into()),
    }
}

fn check_key_vault_secret(uri: &str) -> Result<(), String> {
    check_https_url(uri)?;
    let rest = &uri["https://".len()..];
    let mut it = rest.split('/');
    let host = it.next().unwrap_or_default();
    let vault_domains = [
        "vault.azure.net",
        "vault.usgovcloudapi.net",
        "vault.azure.cn",
    ];
    if !vault_domains.iter().any(|d| host.ends_with(d)) {
        return Err("is not on a Key Vault host (*.vault.azure.net)".into());
    }
    match (it.next(), it.next()) {
        (Some("secrets"), Some(name)) if !name.is_empty() => Ok(()),
        _ => Err("is not a secret URI".into()),
    }
}

impl Checker<'_> {
    /// An error about the key at `path` (a name), located at the key.
    fn key_error(&mut self, code: &'static str, path: &str, msg: impl Into<String>) {
        let d = Diagnostic::error(code, msg).at_path(path);
        let d = match self.locs.key(path) {
            Some(loc) => d.at(loc),
            None => d,
        };
        self.report.push(d);
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
