//! The `consumers` and `consumer_tiers` sections: who may call the gateway,
//! how they authenticate, and how many tokens and requests they may use.
//! README "Topology reference" (`consumers`, `consumer_tiers`) documents the
//! same fields; `validate_consumers.rs` holds their rules.

use serde::{Deserialize, Serialize};

use super::schema::{Api, Model, Topology};

/// One team or application that calls the gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// Short id (lower-case letters, digits, `-`): the metrics' consumer
    /// dimension, the subscription name, part of the product id.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Deployments (`models[].name`) it may call; default every deployment
    /// of its APIs.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// APIs (`apis[].name`) it may call; default all.
    #[serde(default)]
    pub apis: Option<Vec<String>>,
    /// How it proves who it is; validation requires one way at least.
    #[serde(default)]
    pub auth: Option<ConsumerAuth>,
    /// A tier of `consumer_tiers`: its product and limits (per consumer).
    #[serde(default)]
    pub tier: Option<String>,
    /// Own limits (a consumer without a tier gets a product of its own).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Carried into the token metrics as the `cost_center` dimension.
    #[serde(default)]
    pub cost_center: Option<String>,
}

/// Consumers that share a product and the same limits (each consumer has
/// its own counters).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerTier {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerAuth {
    /// An APIM subscription key (the product's subscription).
    #[serde(default)]
    pub subscription: bool,
    /// A Microsoft Entra ID token (`Authorization: Bearer`).
    #[serde(default)]
    pub entra: Option<EntraAuth>,
}

/// What `validate-azure-ad-token` accepts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntraAuth {
    /// Tenant id (GUID) or domain (`contoso.onmicrosoft.com`); required
    /// (validation says so with a position, rather than serde).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Client application ids (`appid` / `azp`) allowed to call.
    #[serde(default)]
    pub client_application_ids: Vec<String>,
    /// App roles the token must hold (any one of them), `roles` claim.
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// Accepted audiences (`aud`); default any the tenant issues for the app.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// Limits of one consumer, enforced by APIM's `llm-token-limit` and
/// `rate-limit-by-key` policies with a counter per consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Prompt + completion tokens per minute (over: 429 with Retry-After).
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Tokens per `token_quota_period` (over: 403).
    #[serde(default)]
    pub token_quota: Option<u64>,
    #[serde(default)]
    pub token_quota_period: Option<QuotaPeriod>,
    /// Requests per minute (over: 429 with Retry-After).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.tokens_per_minute.is_none()
            && self.token_quota.is_none()
            && self.requests_per_minute.is_none()
    }

    /// Whether `llm-token-limit` is needed (a token rate or a quota).
    pub fn limits_tokens(&self) -> bool {
        self.tokens_per_minute.is_some() || self.token_quota.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    Hour,
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    /// The `token-quota-period` value of `llm-token-limit`.
    pub fn apim(self) -> &'static str {
        match self {
            QuotaPeriod::Hour => "Hourly",
            QuotaPeriod::Day => "Daily",
            QuotaPeriod::Week => "Weekly",
            QuotaPeriod::Month => "Monthly",
        }
    }

    /// Minutes in one period (a month counts 28 days, its shortest): a
    /// quota below one minute's rate could never be reached by the rate.
    pub fn minutes(self) -> u64 {
        match self {
            QuotaPeriod::Hour => 60,
            QuotaPeriod::Day => 1_440,
            QuotaPeriod::Week => 10_080,
            QuotaPeriod::Month => 40_320,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Hour => "hour",
            QuotaPeriod::Day => "day",
            QuotaPeriod::Week => "week",
            QuotaPeriod::Month => "month",
        }
    }
}

/// Token metrics (`llm-emit-token-metric`) into Application Insights.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenMetrics {
    /// Metric namespace in Application Insights.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Dimensions of every token metric (at most 5, as APIM allows);
    /// default consumer, deployment, backend, api (and cost_center when a
    /// consumer has one).
    #[serde(default)]
    pub dimensions: Option<Vec<MetricDimension>>,
}

impl Default for TokenMetrics {
    fn default() -> Self {
        TokenMetrics {
            namespace: default_namespace(),
            dimensions: None,
        }
    }
}

fn default_namespace() -> String {
    "oailb".into()
}

/// At most this many dimensions per `llm-emit-token-metric` (APIM's limit).
pub const MAX_METRIC_DIMENSIONS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricDimension {
    Consumer,
    Deployment,
    Backend,
    Api,
    CostCenter,
    Subscription,
    Region,
}

impl MetricDimension {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricDimension::Consumer => "consumer",
            MetricDimension::Deployment => "deployment",
            MetricDimension::Backend => "backend",
            MetricDimension::Api => "api",
            MetricDimension::CostCenter => "cost_center",
            MetricDimension::Subscription => "subscription",
            MetricDimension::Region => "region",
        }
    }
}

impl Topology {
    pub fn consumer_tier(&self, name: &str) -> Option<&ConsumerTier> {
        self.consumer_tiers.iter().find(|t| t.name == name)
    }

    /// The limits that apply to `c`: its tier's, else its own.
    pub fn consumer_limits<'a>(&'a self, c: &'a Consumer) -> Option<&'a Limits> {
        match &c.tier {
            Some(t) => self.consumer_tier(t).and_then(|t| t.limits.as_ref()),
            None => c.limits.as_ref(),
        }
        .filter(|l| !l.is_empty())
    }

    /// The APIs `c` may call, in topology order.
    pub fn consumer_apis(&self, c: &Consumer) -> Vec<&Api> {
        self.apis()
            .into_iter()
            .filter(|a| c.apis.as_ref().is_none_or(|list| list.contains(&a.name)))
            .collect()
    }

    /// The deployments `c` may call: its `models`, else every model of its APIs.
    pub fn consumer_models(&self, c: &Consumer) -> Vec<&Model> {
        let apis = self.consumer_apis(c);
        self.models
            .iter()
            .filter(|m| {
                apis.iter()
                    .any(|a| self.api_models(a).iter().any(|x| x.name == m.name))
            })
            .filter(|m| c.models.as_ref().is_none_or(|list| list.contains(&m.name)))
            .collect()
    }

    /// The token-metric dimensions in effect (consumers only).
    pub fn metric_dimensions(&self) -> Vec<MetricDimension> {
        let configured = self
            .monitoring
            .as_ref()
            .and_then(|m| m.token_metrics.dimensions.clone());
        configured.unwrap_or_else(|| {
            let mut d = vec![
                MetricDimension::Consumer,
                MetricDimension::Deployment,
                MetricDimension::Backend,
                MetricDimension::Api,
            ];
            if self.consumers.iter().any(|c| c.cost_center.is_some()) {
                d.push(MetricDimension::CostCenter);
            }
            d
        })
    }
}
