//! The topology file, field by field. Every struct denies unknown fields so a
//! typo is an error with a position, never a silently ignored setting.
//! README "Topology reference" documents the same fields.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Subscription id; else `--subscription`, `AZURE_SUBSCRIPTION_ID` or the CLI default.
    #[serde(default)]
    pub subscription: Option<String>,
    pub resource_group: String,
    /// Region of the resource group, APIM and monitoring resources.
    pub location: String,
    #[serde(default)]
    pub cloud: Cloud,
    /// Tags put on every resource oailb creates.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub apim: Apim,
    /// One API (shorthand for a one-element `apis`).
    #[serde(default)]
    pub api: Option<Api>,
    #[serde(default)]
    pub apis: Vec<Api>,
    #[serde(default)]
    pub monitoring: Option<Monitoring>,
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// The external Redis cache the gateways keep balancer state in
    /// (`caching_type: external | prefer-external`).
    #[serde(default)]
    pub cache: Option<Cache>,
    pub models: Vec<Model>,
    pub priority_groups: Vec<PriorityGroup>,
    /// Settings only `oailb serve` reads; every other command ignores them.
    #[serde(default)]
    pub serve: Option<Serve>,
    /// Prices for the cost figures of `oailb simulate`; nothing else reads them.
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// Tiers of consumers: one product and one set of limits each.
    #[serde(default)]
    pub consumer_tiers: Vec<super::consumers::ConsumerTier>,
    /// Teams and applications that call the gateway (`consumers.rs`).
    #[serde(default)]
    pub consumers: Vec<super::consumers::Consumer>,
}

impl Topology {
    /// The APIs, whichever of `api` / `apis` the file used (validation ensures one).
    pub fn apis(&self) -> Vec<&Api> {
        self.api.iter().chain(self.apis.iter()).collect()
    }

    /// Every backend with the priority of its group, in file order.
    pub fn backends(&self) -> impl Iterator<Item = (u32, &Backend)> {
        self.priority_groups
            .iter()
            .flat_map(|g| g.backends.iter().map(move |b| (g.priority, b)))
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// What deployments cost, as the user found it on Azure's price list
/// (oailb has no price of its own: prices differ by region, agreement and
/// date).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Currency of every price, e.g. `USD`.
    pub currency: String,
    /// Where the prices come from and their date (shown with the costs).
    #[serde(default)]
    pub source: Option<String>,
    pub prices: Vec<Price>,
}

/// The price of one model (`models[].name`), for one SKU or for all.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub model: String,
    /// The SKU these prices apply to; every SKU of the model when absent.
    #[serde(default)]
    pub sku: Option<DeploymentSku>,
    /// Pay-as-you-go: per million input (prompt) tokens.
    #[serde(default)]
    pub input_per_million_tokens: Option<f64>,
    /// Pay-as-you-go: per million output (completion) tokens.
    #[serde(default)]
    pub output_per_million_tokens: Option<f64>,
    /// Provisioned: per PTU and hour, used or not.
    #[serde(default)]
    pub ptu_per_hour: Option<f64>,
}

impl Pricing {
    /// The price entry for a deployment of `model` with `sku`: the one
    /// naming the SKU, else the one for every SKU.
    pub fn price(&self, model: &str, sku: DeploymentSku) -> Option<&Price> {
        let of_model = || self.prices.iter().filter(|p| p.model == model);
        of_model()
            .find(|p| p.sku == Some(sku))
            .or_else(|| of_model().find(|p| p.sku.is_none()))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Cloud {
    #[default]
    AzureCloud,
    AzureUSGovernment,
    AzureChinaCloud,
}

impl Cloud {
    /// DNS suffix of Azure OpenAI custom-subdomain endpoints.
    pub fn openai_domain(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "openai.azure.com",
            Cloud::AzureUSGovernment => "openai.azure.us",
            Cloud::AzureChinaCloud => "openai.azure.cn",
        }
    }

    /// DNS suffix of APIM gateways.
    pub fn apim_domain(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "azure-api.net",
            Cloud::AzureUSGovernment => "azure-api.us",
            Cloud::AzureChinaCloud => "azure-api.cn",
        }
    }

    /// Audience of managed-identity tokens for Azure OpenAI.
    pub fn cognitive_services_audience(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://cognitiveservices.azure.com",
            Cloud::AzureUSGovernment => "https://cognitiveservices.azure.us",
            Cloud::AzureChinaCloud => "https://cognitiveservices.azure.cn",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "AzureCloud",
            Cloud::AzureUSGovernment => "AzureUSGovernment",
            Cloud::AzureChinaCloud => "AzureChinaCloud",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Apim {
    /// Service name; also the gateway host `<name>.azure-api.net`, so globally unique.
    pub name: String,
    #[serde(default = "default_apim_sku")]
    pub sku: ApimSku,
    /// Scale units; default 1 (0 on Consumption).
    #[serde(default)]
    pub capacity: Option<u32>,
    pub publisher_name: String,
    pub publisher_email: String,
    #[serde(default)]
    pub identity: IdentityKind,
    /// Name of the user-assigned identity oailb creates (identity: user-assigned).
    #[serde(default)]
    pub identity_name: Option<String>,
    /// Region; default the topology `location`.
    #[serde(default)]
    pub location: Option<String>,
    /// More gateway regions (Premium classic tier only).
    #[serde(default)]
    pub additional_locations: Vec<AdditionalLocation>,
}

/// A gateway region besides the service's own (APIM multi-region deployment).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdditionalLocation {
    pub location: String,
    /// Scale units in this region; default 1.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// Availability zones (`"1"`, `"2"`, `"3"`); units spread evenly across them.
    #[serde(default)]
    pub zones: Vec<String>,
}

impl AdditionalLocation {
    pub fn capacity(&self) -> u32 {
        self.capacity.unwrap_or(1)
    }
}

/// The external cache: one oailb creates (Azure Managed Redis), or an
/// existing one given by resource id.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// ARM id of an existing Azure Managed Redis instance
    /// (`Microsoft.Cache/redisEnterprise`); oailb creates nothing then.
    #[serde(default)]
    pub existing: Option<String>,
    /// Managed: instance name; default `<apim.name>-cache` (per region:
    /// `-<region>` appended).
    #[serde(default)]
    pub name: Option<String>,
    /// Managed: Azure Managed Redis SKU.
    #[serde(default)]
    pub sku: Option<CacheSku>,
    /// Managed: a replica in the same region (Azure's default); `false`
    /// halves the cost and loses the state on a node failure.
    #[serde(default)]
    pub high_availability: Option<bool>,
    /// Managed: where the one shared cache lives; default the APIM location.
    #[serde(default)]
    pub location: Option<String>,
    /// Managed: `shared` (one cache every gateway region uses) or
    /// `per-region` (one cache in each gateway region, used from there).
    #[serde(default)]
    pub scope: CacheScope,
}

impl Cache {
    pub fn is_existing(&self) -> bool {
        self.existing.is_some()
    }

    pub fn sku(&self) -> CacheSku {
        self.sku.unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheScope {
    /// One cache for every gateway region: one state everywhere.
    #[default]
    Shared,
    /// One cache per gateway region, each used by that region's gateways.
    PerRegion,
}

/// Azure Managed Redis SKUs (REST spec `Microsoft.Cache/redisEnterprise`
/// 2025-07-01). The legacy `Enterprise_*` SKUs of Azure Cache for Redis
/// Enterprise are left out: that service retires on 2027-03-31.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum CacheSku {
    #[default]
    #[serde(rename = "Balanced_B0")]
    BalancedB0,
    #[serde(rename = "Balanced_B1")]
    BalancedB1,
    #[serde(rename = "Balanced_B3")]
    BalancedB3,
    #[serde(rename = "Balanced_B5")]
    BalancedB5,
    #[serde(rename = "Balanced_B10")]
    BalancedB10,
    #[serde(rename = "Balanced_B20")]
    BalancedB20,
    #[serde(rename = "Balanced_B50")]
    BalancedB50,
    #[serde(rename = "Balanced_B100")]
    BalancedB100,
    #[serde(rename = "MemoryOptimized_M10")]
    MemoryOptimizedM10,
    #[serde(rename = "MemoryOptimized_M20")]
    MemoryOptimizedM20,
    #[serde(rename = "MemoryOptimized_M50")]
    MemoryOptimizedM50,
    #[serde(rename = "ComputeOptimized_X3")]
    ComputeOptimizedX3,
    #[serde(rename = "ComputeOptimized_X5")]
    ComputeOptimizedX5,
    #[serde(rename = "ComputeOptimized_X10")]
    ComputeOptimizedX10,
    #[serde(rename = "ComputeOptimized_X20")]
    ComputeOptimizedX20,
    #[serde(rename = "ComputeOptimized_X50")]
    ComputeOptimizedX50,
}

impl CacheSku {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheSku::BalancedB0 => "Balanced_B0",
            CacheSku::BalancedB1 => "Balanced_B1",
            CacheSku::BalancedB3 => "Balanced_B3",
            CacheSku::BalancedB5 => "Balanced_B5",
            CacheSku::BalancedB10 => "Balanced_B10",
            CacheSku::BalancedB20 => "Balanced_B20",
            CacheSku::BalancedB50 => "Balanced_B50",
            CacheSku::BalancedB100 => "Balanced_B100",
            CacheSku::MemoryOptimizedM10 => "MemoryOptimized_M10",
            CacheSku::MemoryOptimizedM20 => "MemoryOptimized_M20",
            CacheSku::MemoryOptimizedM50 => "MemoryOptimized_M50",
            CacheSku::ComputeOptimizedX3 => "ComputeOptimized_X3",
            CacheSku::ComputeOptimizedX5 => "ComputeOptimized_X5",
            CacheSku::ComputeOptimizedX10 => "ComputeOptimized_X10",
            CacheSku::ComputeOptimizedX20 => "ComputeOptimized_X20",
            CacheSku::ComputeOptimizedX50 => "ComputeOptimized_X50",
        }
    }
}

fn default_apim_sku() -> ApimSku {
    ApimSku::Developer
}

impl Apim {
    pub fn capacity(&self) -> u32 {
        self.capacity.unwrap_or(match self.sku {
            ApimSku::Consumption => 0,
            _ => 1,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ApimSku {
    Consumption,
    Developer,
    Basic,
    Standard,
    Premium,
    BasicV2,
    StandardV2,
    PremiumV2,
}

impl ApimSku {
    pub const ALL: [&'static str; 8] = [
        "Consumption",
        "Developer",
        "Basic",
        "Standard",
        "Premium",
        "BasicV2",
        "StandardV2",
        "PremiumV2",
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }

    pub fn is_v2(self) -> bool {
        matches!(
            self,
            ApimSku::BasicV2 | ApimSku::StandardV2 | ApimSku::PremiumV2
        )
    }

    /// Classic tiers take 30–45 minutes to create; v2 and Consumption minutes.
    pub fn is_classic(self) -> bool {
        matches!(
            self,
            ApimSku::Developer | ApimSku::Basic | ApimSku::Standard | ApimSku::Premium
        )
    }

    /// Largest scale-unit count per region (Azure limits page).
    pub fn max_capacity(self) -> u32 {
        match self {
            ApimSku::Consumption => 0,
            ApimSku::Developer => 1,
            ApimSku::Basic => 2,
            ApimSku::Standard => 4,
            ApimSku::Premium => 31,
            ApimSku::BasicV2 | ApimSku::StandardV2 | ApimSku::PremiumV2 => 30,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// The APIM service's own identity (the seed's choice).
    #[default]
    SystemAssigned,
    /// A user-assigned identity that oailb creates first, so role assignments
    /// need not wait for the APIM service.
    UserAssigned,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// API id in APIM.
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// URL suffix after the gateway host, e.g. `smart-api/openai`.
    pub path: String,
    #[serde(default = "default_key_header")]
    pub subscription_key_header: String,
    #[serde(default = "default_key_query")]
    pub subscription_key_query: String,
    #[serde(default = "default_true")]
    pub subscription_required: bool,
    #[serde(default)]
    pub operations: Operations,
    /// Models this API exposes; default all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

fn default_key_header() -> String {
    "api-key".into()
}
fn default_key_query() -> String {
    "subscription-key".into()
}
fn default_true() -> bool {
    true
}

/// How the API's operations are defined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Operations {
    /// Import an OpenAPI document from a URL (APIM fetches it).
    OpenapiUrl(String),
    /// Import a local OpenAPI JSON file (path relative to the topology file).
    OpenapiFile(String),
    /// Pass-through operations `GET|POST|DELETE /*`.
    #[default]
    Wildcard,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    #[serde(default)]
    pub log_analytics_workspace: Option<Named>,
    #[serde(default)]
    pub application_insights: Option<Named>,
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Percentage of requests APIM logs (errors are always logged).
    #[serde(default = "default_sampling")]
    pub sampling_percentage: f64,
    #[serde(default = "default_logger_name")]
    pub logger_name: String,
    /// Request/response body bytes to log; 0 keeps prompts out of the logs.
    #[serde(default)]
    pub log_body_bytes: u32,
    #[serde(default = "default_true")]
    pub log_client_ip: bool,
    #[serde(default)]
    pub verbosity: Verbosity,
    /// Token metrics of consumers (`llm-emit-token-metric`).
    #[serde(default)]
    pub token_metrics: super::consumers::TokenMetrics,
}

fn default_retention() -> u32 {
    30
}
fn default_sampling() -> f64 {
    5.0
}
fn default_logger_name() -> String {
    "appinsights-logger".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    Verbose,
    #[default]
    Information,
    Error,
}

impl Verbosity {
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Verbose => "verbose",
            Verbosity::Information => "information",
            Verbosity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancing {
    #[serde(default)]
    pub mode: Mode,
    /// Lifetime of the backend state in the APIM cache (policy mode).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u32,
    #[serde(default)]
    pub caching_type: CachingType,
    #[serde(default)]
    pub when_all_busy: WhenAllBusy,
    /// Statuses that mark a backend unavailable: numbers, `5xx`-style classes or `500-599` ranges.
    #[serde(default = "default_trip_statuses")]
    pub trip_status_codes: Vec<StatusCodes>,
    /// Delay when a tripping response carries no usable retry header.
    #[serde(default = "default_retry_after")]
    pub default_retry_after_seconds: u32,
    /// Upper bound on any retry delay a backend announces.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_seconds: u32,
    /// Response header that names the backend that served; off when absent.
    #[serde(default)]
    pub backend_header: Option<String>,
    /// Azure evaluates quotas over short windows: a backend admits at most
    /// this many seconds' worth of its per-minute rate at once.
    #[serde(default = "default_quota_window")]
    pub quota_window_seconds: u32,
    /// Share of each backend's window kept free for estimate errors, percent.
    #[serde(default = "default_safety_margin")]
    pub safety_margin_percent: u32,
    /// How a request's cost is estimated when its body does not say.
    #[serde(default)]
    pub estimate: Estimate,
    /// When failing answers (5xx, no answer) take a backend out.
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// Serve each priority from the backends nearest the gateway (its own
    /// region, then its area) first; default: on when the gateway runs in
    /// several regions.
    #[serde(default)]
    pub prefer_nearby: Option<bool>,
}

/// Fallbacks of the request-cost estimate (prompt tokens + completion tokens).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    /// Completion tokens assumed when a request names no `max_tokens`
    /// (`max_completion_tokens`, `max_output_tokens`).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u32,
    /// Cost of a request whose body is not JSON (audio, multipart, empty).
    #[serde(default = "default_request_tokens")]
    pub default_request_tokens: u32,
}

impl Default for Estimate {
    fn default() -> Self {
        Estimate {
            default_max_tokens: default_max_tokens(),
            default_request_tokens: default_request_tokens(),
        }
    }
}

/// A backend is taken out only when its recent failure rate says it is
/// unhealthy, not for one error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Failing answers in a row (5xx, no answer) that open the breaker; 0: off.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// Failures (5xx, no answer) per 100 calls that open the breaker.
    #[serde(default = "default_failure_rate")]
    pub failure_rate_percent: u32,
    /// Calls in the window before the rate counts.
    #[serde(default = "default_min_calls")]
    pub min_calls: u32,
    /// Length of the window the rate is measured over.
    #[serde(default = "default_breaker_window")]
    pub window_seconds: u32,
    /// How long an open breaker keeps the backend out before one probe.
    #[serde(default = "default_open_seconds")]
    pub open_seconds: u32,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            consecutive_failures: default_consecutive_failures(),
            failure_rate_percent: default_failure_rate(),
            min_calls: default_min_calls(),
            window_seconds: default_breaker_window(),
            open_seconds: default_open_seconds(),
        }
    }
}

fn default_quota_window() -> u32 {
    10
}
fn default_safety_margin() -> u32 {
    10
}
fn default_max_tokens() -> u32 {
    4096
}
fn default_request_tokens() -> u32 {
    1000
}
fn default_consecutive_failures() -> u32 {
    5
}
fn default_failure_rate() -> u32 {
    75
}
fn default_min_calls() -> u32 {
    10
}
fn default_breaker_window() -> u32 {
    10
}
fn default_open_seconds() -> u32 {
    2
}

impl Default for LoadBalancing {
    fn default() -> Self {
        LoadBalancing {
            mode: Mode::default(),
            cache_ttl_seconds: default_cache_ttl(),
            caching_type: CachingType::default(),
            when_all_busy: WhenAllBusy::default(),
            trip_status_codes: default_trip_statuses(),
            default_retry_after_seconds: default_retry_after(),
            max_retry_after_seconds: default_max_retry_after(),
            backend_header: None,
            quota_window_seconds: default_quota_window(),
            safety_margin_percent: default_safety_margin(),
            estimate: Estimate::default(),
            circuit_breaker: CircuitBreaker::default(),
            prefer_nearby: None,
        }
    }
}

impl LoadBalancing {
    /// The tripping statuses as sorted, merged inclusive ranges.
    pub fn trip_ranges(&self) -> Vec<(u16, u16)> {
        let mut r: Vec<(u16, u16)> = self
            .trip_status_codes
            .iter()
            .map(|s| (s.min, s.max))
            .collect();
        r.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (a, b) in r {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }
}

fn default_cache_ttl() -> u32 {
    60
}
fn default_retry_after() -> u32 {
    10
}
fn default_max_retry_after() -> u32 {
    60
}
fn default_trip_statuses() -> Vec<StatusCodes> {
    vec![
        StatusCodes::single(401),
        StatusCodes::single(403),
        StatusCodes::single(429),
        StatusCodes { min: 500, max: 599 },
    ]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Expression-based balancing in the policy (every tier with a cache).
    #[default]
    Policy,
    /// APIM native backend pools with circuit breakers (API 2024-05-01).
    Pool,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Policy => "policy",
            Mode::Pool => "pool",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CachingType {
    #[default]
    Internal,
    External,
    PreferExternal,
}

impl CachingType {
    pub fn as_str(self) -> &'static str {
        match self {
            CachingType::Internal => "internal",
            CachingType::External => "external",
            CachingType::PreferExternal => "prefer-external",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhenAllBusy {
    /// Answer 429 at once with Retry-After until the earliest backend recovers.
    #[default]
    Reject,
    /// The reference policy's behaviour: forward to the first backend anyway.
    ForwardToFirst,
}

/// An inclusive range of HTTP statuses; written `429`, `5xx` or `500-599`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusCodes {
    pub min: u16,
    pub max: u16,
}

impl StatusCodes {
    pub fn single(code: u16) -> Self {
        StatusCodes {
            min: code,
            max: code,
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || format!("`{t}` is not a status code, class (`5xx`) or range (`500-599`)");
        if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
            let d: u16 = class.parse().map_err(|_| bad())?;
            if !(1..=5).contains(&d) || class.len() != 1 {
                return Err(bad());
            }
            return Ok(StatusCodes {
                min: d * 100,
                max: d * 100 + 99,
            });
        }
        if let Some((a, b)) = t.split_once('-') {
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            return Ok(StatusCodes { min: a, max: b });
        }
        t.parse().map(StatusCodes::single).map_err(|_| bad())
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else if self.min % 100 == 0 && self.max == self.min + 99 {
            write!(f, "{}xx", self.min / 100)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

impl<'de> Deserialize<'de> for StatusCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusCodes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an HTTP status code, class such as \"5xx\" or range such as \"500-599\"",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusCodes, E> {
                u16::try_from(v)
                    .map(StatusCodes::single)
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusCodes, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusCodes, E> {
                StatusCodes::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Deployment name clients call (`/openai/deployments/<name>/...`).
    pub name: String,
    /// Model name, e.g. `gpt-35-turbo`.
    pub model: String,
    /// Model version, e.g. `"0613"` (quote it in YAML).
    pub version: String,
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default)]
    pub sku: DeploymentSku,
    /// Thousands of tokens per minute (Standard) or PTUs (provisioned).
    pub capacity: u32,
    #[serde(default)]
    pub version_upgrade: VersionUpgrade,
    /// Content filter (RAI policy) name; Azure's default when absent.
    #[serde(default)]
    pub rai_policy: Option<String>,
    /// What one unit of `capacity` allows, when Azure's usual ratio does not
    /// apply (a newer model, a provisioned model missing from oailb's table).
    #[serde(default)]
    pub quota: Option<UnitQuota>,
}

/// Throughput of one unit of capacity (1 for Standard-family SKUs: 1,000
/// tokens and 6 requests per minute; provisioned: one PTU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnitQuota {
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
}

fn default_format() -> String {
    "OpenAI".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum DeploymentSku {
    #[default]
    Standard,
    GlobalStandard,
    DataZoneStandard,
    ProvisionedManaged,
    GlobalProvisionedManaged,
    DataZoneProvisionedManaged,
    GlobalBatch,
    DataZoneBatch,
}

impl DeploymentSku {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentSku::Standard => "Standard",
            DeploymentSku::GlobalStandard => "GlobalStandard",
            DeploymentSku::DataZoneStandard => "DataZoneStandard",
            DeploymentSku::ProvisionedManaged => "ProvisionedManaged",
            DeploymentSku::GlobalProvisionedManaged => "GlobalProvisionedManaged",
            DeploymentSku::DataZoneProvisionedManaged => "DataZoneProvisionedManaged",
            DeploymentSku::GlobalBatch => "GlobalBatch",
            DeploymentSku::DataZoneBatch => "DataZoneBatch",
        }
    }

    pub fn is_provisioned(self) -> bool {
        matches!(
            self,
            DeploymentSku::ProvisionedManaged
                | DeploymentSku::GlobalProvisionedManaged
                | DeploymentSku::DataZoneProvisionedManaged
        )
    }

    /// The standard SKU a provisioned deployment of this SKU may spill over
    /// to (the same data processing level), if Azure offers spill-over for it.
    pub fn spillover_target(self) -> Option<DeploymentSku> {
        match self {
            DeploymentSku::GlobalProvisionedManaged => Some(DeploymentSku::GlobalStandard),
            DeploymentSku::DataZoneProvisionedManaged => Some(DeploymentSku::DataZoneStandard),
            _ => None,
        }
    }

    pub fn is_batch(self) -> bool {
        matches!(
            self,
            DeploymentSku::GlobalBatch | DeploymentSku::DataZoneBatch
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum VersionUpgrade {
    /// Pin the version: the load balancer's backends stay identical.
    #[default]
    NoAutoUpgrade,
    OnceNewDefaultVersionAvailable,
    OnceCurrentVersionExpired,
}

impl VersionUpgrade {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionUpgrade::NoAutoUpgrade => "NoAutoUpgrade",
            VersionUpgrade::OnceNewDefaultVersionAvailable => "OnceNewDefaultVersionAvailable",
            VersionUpgrade::OnceCurrentVersionExpired => "OnceCurrentVersionExpired",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityGroup {
    /// 1 is tried first; groups are numbered 1..N.
    pub priority: u32,
    pub backends: Vec<Backend>,
}

/// An Azure OpenAI endpoint. Managed when `region` is set (oailb creates the
/// account), existing when `resource_id` or `endpoint` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Short id, unique in the topology; used in derived names.
    pub name: String,
    /// Managed: region of the account oailb creates.
    #[serde(default)]
    pub region: Option<String>,
    /// Managed: account name; default `<apim.name>-<backend name>`.
    #[serde(default)]
    pub account_name: Option<String>,
    /// Managed: custom subdomain; default the account name.
    #[serde(default)]
    pub custom_subdomain: Option<String>,
    /// Managed: `OpenAI` (default) or `AIServices` (a Foundry resource).
    #[serde(default)]
    pub kind: Option<AccountKind>,
    /// Existing: ARM id of an Azure OpenAI account.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Existing: endpoint URL, e.g. `https://contoso.openai.azure.com/`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Relative share inside its priority group; default its capacity.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Models served here; default every model with its defaults.
    #[serde(default)]
    pub models: Option<Vec<BackendModel>>,
    #[serde(default)]
    pub auth: AuthKind,
    /// Where the key comes from at deploy time (auth: api-key).
    #[serde(default)]
    pub api_key: Option<ApiKeySource>,
}

impl Backend {
    pub fn is_managed(&self) -> bool {
        self.region.is_some()
    }

    pub fn kind(&self) -> AccountKind {
        self.kind.unwrap_or_default()
    }
}

/// The kind of Cognitive Services account a managed backend is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum AccountKind {
    /// An Azure OpenAI resource (what existing topologies create).
    #[default]
    OpenAI,
    /// A Foundry resource: Azure OpenAI models and other Foundry Models
    /// behind one account.
    AIServices,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::OpenAI => "OpenAI",
            AccountKind::AIServices => "AIServices",
        }
    }
}

/// One model on one backend: a bare model name, or a map with overrides.
#[derive(Debug, Clone, Serialize)]
pub struct BackendModel {
    /// Name of an entry in `models`.
    pub name: String,
    /// Deployment name on this backend when it differs from the model's `name`.
    pub deployment: Option<String>,
    pub sku: Option<DeploymentSku>,
    pub capacity: Option<u32>,
    /// Native spill-over: a standard deployment of the same model on the
    /// same account that takes what the provisioned one cannot.
    pub spillover: Option<Spillover>,
}

/// The standard deployment a provisioned deployment spills over to
/// (`spilloverDeploymentName`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spillover {
    /// Its deployment name; default `<deployment>-spillover`.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Default the standard SKU of the provisioned one's data processing
    /// level (GlobalStandard, DataZoneStandard).
    #[serde(default)]
    pub sku: Option<DeploymentSku>,
    /// Thousands of tokens per minute.
    pub capacity: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendModelMap {
    name: String,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    sku: Option<DeploymentSku>,
    #[serde(default)]
    capacity: Option<u32>,
    #[serde(default)]
    spillover: Option<Spillover>,
}

impl<'de> Deserialize<'de> for BackendModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BackendModel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a model name or a map with `name` and optional `deployment`, `sku`, `capacity`, `spillover`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BackendModel, E> {
                Ok(BackendModel {
                    name: v.to_string(),
                    deployment: None,
                    sku: None,
                    capacity: None,
                    spillover: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BackendModel, A::Error> {
                let m = BackendModelMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(BackendModel {
                    name: m.name,
                    deployment: m.deployment,
                    sku: m.sku,
                    capacity: m.capacity,
                    spillover: m.spillover,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// APIM's identity gets a token for Cognitive Services (no keys anywhere).
    #[default]
    ManagedIdentity,
    /// An `api-key` header from a secret named value (other tenants).
    ApiKey,
}

/// Where an API key is read at deploy time. The key itself never appears in
/// the topology, the rendered files or the output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiKeySource {
    /// Name of an environment variable read by `oailb deploy`.
    Env(String),
    /// Key Vault secret URI; APIM reads it with its own identity.
    KeyVaultSecret(String),
}

/// `oailb serve`: the gateway's own settings (README "Topology reference").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// Address and port to listen on; `--listen` wins.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where client keys come from. Empty: no client authentication (only
    /// on a loopback address, or with `--insecure-no-auth`).
    #[serde(default)]
    pub client_keys: Vec<ClientKeySource>,
    /// Largest request body buffered (413 above it).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    #[serde(default)]
    pub timeouts: ServeTimeouts,
    /// Where balancer state lives: `memory`, or `redis://host:port/db`
    /// (without a password: give one with `--state` or `OAILB_STATE`).
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub log_format: LogFormat,
    /// How long in-flight requests may finish after SIGTERM or Ctrl-C.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u32,
    /// `api-version` added to OpenAI-style `/v1/...` requests.
    #[serde(default = "default_openai_api_version")]
    pub openai_api_version: String,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: default_listen(),
            client_keys: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            timeouts: ServeTimeouts::default(),
            state: default_state(),
            log_format: LogFormat::default(),
            shutdown_grace_seconds: default_grace(),
            openai_api_version: default_openai_api_version(),
        }
    }
}

/// One source of client keys. Keys never appear in the topology itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientKeySource {
    /// An environment variable holding one key.
    Env(String),
    /// A file of hex SHA-256 hashes of keys, one per line (`#` comments);
    /// a path relative to the topology file.
    Sha256File(String),
}

/// Per-attempt and per-request time limits, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeTimeouts {
    /// Opening a connection to a backend.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u32,
    /// From sending a request to a backend to its response headers; past it
    /// the attempt counts as no answer and the request moves on.
    #[serde(default = "default_first_byte_ms")]
    pub first_byte_ms: u32,
    /// The whole request, streaming included.
    #[serde(default = "default_request_ms")]
    pub request_ms: u32,
}

impl Default for ServeTimeouts {
    fn default() -> Self {
        ServeTimeouts {
            connect_ms: default_connect_ms(),
            first_byte_ms: default_first_byte_ms(),
            request_ms: default_request_ms(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// `key=value` pairs, for people.
    Text,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_state() -> String {
    "memory".into()
}
fn default_grace() -> u32 {
    30
}
fn default_openai_api_version() -> String {
    "2024-10-21".into()
}
fn default_connect_ms() -> u32 {
    5_000
}
fn default_first_byte_ms() -> u32 {
    120_000
}
fn default_request_ms() -> u32 {
    600_000
}
