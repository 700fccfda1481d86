//! The desired state: every Azure resource a validated topology needs, with
//! its ARM type, name, id, API version, PUT body and dependencies. Renderers,
//! `plan` and `deploy` all consume this one model; names and ids are made
//! only in [`naming`].

pub mod cache;
mod derive;
pub mod naming;
pub mod placeholder;
pub mod workbook;

use serde::Serialize;
use serde_json::Value;

use crate::topology::{Cloud, Limits, LoadBalancing, MetricDimension, Mode};

pub use derive::derive;
pub use placeholder::Placeholder;

/// The resource types oailb manages, with the API version it speaks to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ResourceGroup,
    LogAnalyticsWorkspace,
    ApplicationInsights,
    UserAssignedIdentity,
    CognitiveAccount,
    CognitiveDeployment,
    ApimService,
    RoleAssignment,
    ApimNamedValue,
    ApimBackend,
    ApimApi,
    ApimApiOperation,
    ApimApiPolicy,
    ApimLogger,
    ApimApiDiagnostic,
    /// Azure Managed Redis instance (the external cache).
    RedisCache,
    RedisDatabase,
    /// The APIM `caches` entity that points the gateways at it.
    ApimCache,
    ApimProduct,
    ApimProductApi,
    ApimProductPolicy,
    ApimSubscription,
    Workbook,
}

impl Kind {
    pub fn arm_type(self) -> &'static str {
        match self {
            Kind::ResourceGroup => "Microsoft.Resources/resourceGroups",
            Kind::LogAnalyticsWorkspace => "Microsoft.OperationalInsights/workspaces",
            Kind::ApplicationInsights => "Microsoft.Insights/components",
            Kind::UserAssignedIdentity => "Microsoft.ManagedIdentity/userAssignedIdentities",
            Kind::CognitiveAccount => "Microsoft.CognitiveServices/accounts",
            Kind::CognitiveDeployment => "Microsoft.CognitiveServices/accounts/deployments",
            Kind::ApimService => "Microsoft.ApiManagement/service",
            Kind::RoleAssignment => "Microsoft.Authorization/roleAssignments",
            Kind::ApimNamedValue => "Microsoft.ApiManagement/service/namedValues",
            Kind::ApimBackend => "Microsoft.ApiManagement/service/backends",
            Kind::ApimApi => "Microsoft.ApiManagement/service/apis",
            Kind::ApimApiOperation => "Microsoft.ApiManagement/service/apis/operations",
            Kind::ApimApiPolicy => "Microsoft.ApiManagement/service/apis/policies",
            Kind::ApimLogger => "Microsoft.ApiManagement/service/loggers",
            Kind::ApimApiDiagnostic => "Microsoft.ApiManagement/service/apis/diagnostics",
            Kind::RedisCache => "Microsoft.Cache/redisEnterprise",
            Kind::RedisDatabase => "Microsoft.Cache/redisEnterprise/databases",
            Kind::ApimCache => "Microsoft.ApiManagement/service/caches",
            Kind::ApimProduct => "Microsoft.ApiManagement/service/products",
            Kind::ApimProductApi => "Microsoft.ApiManagement/service/products/apis",
            Kind::ApimProductPolicy => "Microsoft.ApiManagement/service/products/policies",
            Kind::ApimSubscription => "Microsoft.ApiManagement/service/subscriptions",
            Kind::Workbook => "Microsoft.Insights/workbooks",
        }
    }

    /// The pinned ARM API version (APIM 2024-05-01 for pools and breakers;
    /// Cognitive Services 2025-09-01, the newest stable version the Azure
    /// SDK models used by the validators describe, with `AIServices`
    /// accounts and `spilloverDeploymentName`; Azure Managed Redis
    /// 2025-07-01, the first stable version with its SKUs, which azurerm
    /// 4.5x uses too; roles 2022-04-01).
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::ResourceGroup => "2021-04-01",
            Kind::LogAnalyticsWorkspace => "2023-09-01",
            Kind::ApplicationInsights => "2020-02-02",
            Kind::UserAssignedIdentity => "2023-01-31",
            Kind::CognitiveAccount | Kind::CognitiveDeployment => "2025-09-01",
            Kind::RedisCache | Kind::RedisDatabase => "2025-07-01",
            Kind::RoleAssignment => "2022-04-01",
            Kind::ApimService
            | Kind::ApimNamedValue
            | Kind::ApimBackend
            | Kind::ApimApi
            | Kind::ApimApiOperation
            | Kind::ApimApiPolicy
            | Kind::ApimLogger
            | Kind::ApimApiDiagnostic
            | Kind::ApimCache
            | Kind::ApimProduct
            | Kind::ApimProductApi
            | Kind::ApimProductPolicy
            | Kind::ApimSubscription => "2024-05-01",
            Kind::Workbook => "2023-06-01",
        }
    }

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::ResourceGroup => "resource group",
            Kind::LogAnalyticsWorkspace => "log analytics workspace",
            Kind::ApplicationInsights => "application insights",
            Kind::UserAssignedIdentity => "managed identity",
            Kind::CognitiveAccount => "openai account",
            Kind::RedisCache => "managed redis",
            Kind::RedisDatabase => "redis database",
            Kind::ApimCache => "apim cache",
            Kind::CognitiveDeployment => "model deployment",
            Kind::ApimService => "apim service",
            Kind::RoleAssignment => "role assignment",
            Kind::ApimNamedValue => "named value",
            Kind::ApimBackend => "backend",
            Kind::ApimApi => "api",
            Kind::ApimApiOperation => "api operation",
            Kind::ApimApiPolicy => "api policy",
            Kind::ApimLogger => "logger",
            Kind::ApimApiDiagnostic => "api diagnostic",
            Kind::ApimProduct => "product",
            Kind::ApimProductApi => "product api",
            Kind::ApimProductPolicy => "product policy",
            Kind::ApimSubscription => "subscription",
            Kind::Workbook => "workbook",
        }
    }

    /// A policy document (API or product scope), compared as XML.
    pub fn is_policy(self) -> bool {
        matches!(self, Kind::ApimApiPolicy | Kind::ApimProductPolicy)
    }
}

/// One Azure resource as it should exist.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Stable logical address, e.g. `account[eastus]`, `deployment[eastus/gpt-4o]`.
    pub address: String,
    pub kind: Kind,
    pub name: String,
    /// Full ARM id (with `{subscriptionId}` when the subscription is not known yet).
    pub id: String,
    pub api_version: &'static str,
    /// The PUT body; may hold [`Placeholder`]s.
    pub body: Value,
    /// Addresses that must exist first.
    pub depends_on: Vec<String>,
    /// Body paths ARM accepts on PUT but does not return on GET (not drift).
    pub write_only: Vec<&'static str>,
}

impl Resource {
    pub fn arm_type(&self) -> &'static str {
        self.kind.arm_type()
    }

    pub fn location(&self) -> Option<&str> {
        self.body.get("location").and_then(Value::as_str)
    }

    /// The resource's region, and for an APIM service with more gateway
    /// regions those too: `swedencentral, westeurope`.
    pub fn regions(&self) -> String {
        let extra = self
            .body
            .pointer("/properties/additionalLocations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("location").and_then(Value::as_str));
        self.location()
            .into_iter()
            .chain(extra)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn placeholders(&self) -> Vec<Placeholder> {
        placeholder::collect(&self.body)
    }
}

/// How one backend is authenticated by the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RouteAuth {
    ManagedIdentity,
    /// `api-key` header from the secret named value `named_value`.
    ApiKey {
        named_value: String,
    },
}

/// One backend in the routing table of one model.
#[derive(Debug, Clone, Serialize)]
pub struct RouteBackend {
    /// Backend name from the topology.
    pub name: String,
    pub priority: u32,
    /// Relative weight inside the priority (explicit, else capacity).
    pub weight: u32,
    /// Base URL APIM forwards to: account root + `openai`, one slash.
    pub url: String,
    /// Deployment name on this backend (may differ from the route's model).
    pub deployment: String,
    /// What the deployment admits per minute (`tokens_per_minute` 0: not
    /// known, a provisioned model without a figure).
    pub quota: crate::balancer::Quota,
    /// Region of the account (normalized), when the topology says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub auth: RouteAuth,
    /// Pool mode: id of the APIM `Single` backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_id: Option<String>,
}

/// Where requests for one client-facing deployment name go.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Deployment name clients call.
    pub model: String,
    /// Pool mode: id of the APIM `Pool` backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    pub backends: Vec<RouteBackend>,
}

/// Everything the policy renderer needs for one API.
#[derive(Debug, Clone, Serialize)]
pub struct ApiPolicy {
    pub api: String,
    /// Address of the `api_policy[...]` resource.
    pub address: String,
    /// ARM id of the API (scopes the policy's cache keys).
    pub api_id: String,
    pub mode: Mode,
    pub settings: LoadBalancing,
    /// Token audience for managed-identity backends.
    pub audience: String,
    /// Named value holding the user-assigned identity's client id, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_client_id_named_value: Option<String>,
    /// Header clients send their subscription key in (never forwarded).
    pub subscription_key_header: String,
    /// Query parameter clients may send their subscription key in (never forwarded).
    pub subscription_key_query: String,
    pub routes: Vec<Route>,
    /// Token metrics per consumer (topologies with consumers and monitoring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_metrics: Option<TokenMetrics>,
}

/// What the API policy emits to Application Insights for consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenMetrics {
    pub namespace: String,
    pub dimensions: Vec<MetricDimension>,
}

/// How a product's callers are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductAccess {
    /// A subscription key of the product: the subscription's name is the consumer.
    Subscription,
    /// No key (APIM's open product): the Entra ID token's client application.
    Entra,
}

/// What `validate-azure-ad-token` checks for one consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntraCheck {
    pub tenant_id: String,
    pub client_application_ids: Vec<String>,
    pub app_roles: Vec<String>,
    pub audiences: Vec<String>,
}

/// One consumer in a product policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyConsumer {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entra: Option<EntraCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Deployments it may call, when fewer than the product's APIs serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Paths of the APIs it may call, when fewer than the product holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
}

/// Everything the product policy renderer needs for one product.
#[derive(Debug, Clone, Serialize)]
pub struct ProductPolicy {
    /// Product id in APIM.
    pub product: String,
    /// Address of the `product_policy[...]` resource.
    pub address: String,
    pub access: ProductAccess,
    /// The product's APIs: (name, path).
    pub apis: Vec<(String, String)>,
    pub consumers: Vec<PolicyConsumer>,
    /// Namespace of the rejected-request metric (with monitoring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiOutput {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointOutput {
    pub backend: String,
    pub endpoint: String,
}

/// Non-secret values users want after a deploy.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub gateway_url: String,
    /// Every gateway region (the service's own first).
    pub gateway_regions: Vec<String>,
    pub apis: Vec<ApiOutput>,
    pub endpoints: Vec<EndpointOutput>,
    /// The consumers' APIM subscriptions (their keys are secrets: read
    /// after deploy, printed only on request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionOutput>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionOutput {
    pub consumer: String,
    /// Address of the `subscription[...]` resource.
    pub address: String,
    pub product: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    pub subscription: String,
    /// Whether `subscription` is a real id or the `{subscriptionId}` token.
    pub subscription_known: bool,
    pub resource_group: String,
    pub location: String,
    pub cloud: Cloud,
    pub mode: Mode,
    /// In dependency order: every resource comes after what it depends on.
    pub resources: Vec<Resource>,
    pub policies: Vec<ApiPolicy>,
    /// Policies of the consumers' products.
    pub product_policies: Vec<ProductPolicy>,
    pub outputs: Outputs,
}

impl Desired {
    pub fn get(&self, address: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.address == address)
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    pub fn policy(&self, api: &str) -> Option<&ApiPolicy> {
        self.policies.iter().find(|p| p.api == api)
    }

    pub fn product_policy(&self, product: &str) -> Option<&ProductPolicy> {
        self.product_policies.iter().find(|p| p.product == product)
    }
}

#[cfg(test)]
mod tests;
