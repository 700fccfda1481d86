//! The desired state reshaped for infrastructure-code templates: one flat,
//! serializable [`Model`] that both the Terraform and the Bicep templates
//! read. Every value is taken from a desired resource's ARM body (never from
//! the topology directly), so Terraform, Bicep and `oailb deploy` describe
//! the same resources with the same properties.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use crate::desired::placeholder::{get_path, Placeholder};
use crate::desired::{naming, Desired, Kind, Resource};

/// Where a named value's content comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NamedValueSource {
    /// The user-assigned identity's client id (not secret).
    IdentityClientId,
    /// A secret the deployment reads from an environment variable; in
    /// Terraform a sensitive variable, in Bicep a `@secure()` parameter.
    Secret {
        env: String,
        /// `snake_case` Terraform variable name.
        tf_variable: String,
        /// `camelCase` Bicep parameter name.
        bicep_param: String,
    },
    /// The connection string of the external cache with this key (the
    /// `useFromLocation` it serves), made from the cache's host, port and key.
    CacheConnection { cache: String },
    /// A Key Vault secret APIM reads with its identity.
    KeyVault {
        secret_id: String,
        /// Whether APIM reads it with the user-assigned identity.
        user_assigned: bool,
    },
}

/// A secret input: a sensitive Terraform variable / `@secure()` Bicep parameter.
#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    /// Environment variable `oailb deploy` reads it from.
    pub env: String,
    pub tf_variable: String,
    pub bicep_param: String,
    /// The APIM named value that stores it.
    pub named_value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedValue {
    pub name: String,
    pub display_name: String,
    pub secret: bool,
    /// Identifier-safe name for templates (`partner_api_key`, `partnerApiKey`).
    pub tf_name: String,
    pub bicep_name: String,
    pub source: NamedValueSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// `<backend>/<model>`: unique key.
    pub key: String,
    pub name: String,
    pub model_format: String,
    pub model_name: String,
    pub model_version: String,
    pub sku_name: String,
    pub capacity: u64,
    pub version_upgrade_option: String,
    pub rai_policy_name: Option<String>,
    /// Native spill-over target (a deployment of the same account).
    pub spillover_deployment_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Backend name from the topology.
    pub key: String,
    pub name: String,
    pub location: String,
    pub kind: String,
    pub sku_name: String,
    pub custom_subdomain: String,
    pub public_network_access: bool,
    pub local_auth_enabled: bool,
    pub outbound_network_access_restricted: bool,
    pub deployments: Vec<Deployment>,
    /// The gateway identity gets the OpenAI User role on this account.
    pub role_assignment: bool,
}

/// One gateway region besides the service's own.
#[derive(Debug, Clone, Serialize)]
pub struct AdditionalLocation {
    pub location: String,
    pub capacity: u64,
    pub zones: Vec<String>,
}

/// An Azure Managed Redis instance oailb creates, with its one database.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedCache {
    pub name: String,
    pub location: String,
    pub sku_name: String,
    pub high_availability: bool,
    pub public_network_access: String,
    pub client_protocol: String,
    pub clustering_policy: String,
    pub eviction_policy: String,
    pub access_keys_authentication: bool,
}

/// An Azure Managed Redis instance the topology names by id.
#[derive(Debug, Clone, Serialize)]
pub struct ExistingCache {
    pub id: String,
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// One external cache as APIM uses it.
#[derive(Debug, Clone, Serialize)]
pub struct Cache {
    /// `useFromLocation`: `default` or a gateway region; also the APIM id.
    pub key: String,
    /// Identifier-safe names for templates.
    pub tf_name: String,
    pub bicep_name: String,
    pub description: String,
    /// The secret named value holding the connection string.
    pub named_value: String,
    pub managed: Option<ManagedCache>,
    pub existing: Option<ExistingCache>,
}

/// A role assignment on an account oailb does not manage.
#[derive(Debug, Clone, Serialize)]
pub struct ExistingRoleAssignment {
    pub key: String,
    pub scope: String,
    pub subscription: String,
    pub resource_group: String,
    pub account_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusRange {
    pub min: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolBackend {
    /// `<backend>/<model>`.
    pub key: String,
    pub name: String,
    pub description: String,
    pub url: String,
    pub protocol: String,
    pub rule_name: String,
    pub failure_count: u64,
    pub failure_interval: String,
    pub status_ranges: Vec<StatusRange>,
    pub trip_duration: String,
    pub accept_retry_after: bool,
    pub validate_certificate_chain: bool,
    pub validate_certificate_name: bool,
    /// Named value holding the `api-key` header, for api-key backends.
    pub api_key_named_value: Option<String>,
    /// `tf_name` of that named value.
    pub api_key_named_value_tf: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolMember {
    /// Key of the [`PoolBackend`].
    pub backend: String,
    pub priority: u64,
    pub weight: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    /// Model name.
    pub key: String,
    pub name: String,
    pub description: String,
    pub members: Vec<PoolMember>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub name: String,
    pub display_name: String,
    pub method: String,
    pub url_template: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiImport {
    pub format: String,
    /// A URL (`openapi+json-link`), or the file name under `openapi/`.
    pub value: String,
    pub is_file: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticSide {
    pub headers: Vec<String>,
    pub body_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub name: String,
    pub always_log: String,
    pub sampling_type: String,
    pub sampling_percentage: f64,
    pub http_correlation_protocol: String,
    pub verbosity: String,
    pub log_client_ip: bool,
    pub metrics: bool,
    pub frontend_request: DiagnosticSide,
    pub frontend_response: DiagnosticSide,
    pub backend_request: DiagnosticSide,
    pub backend_response: DiagnosticSide,
}

#[derive(Debug, Clone, Serialize)]
pub struct Api {
    pub name: String,
    /// Identifier-safe names for templates.
    pub tf_name: String,
    pub bicep_name: String,
    pub display_name: String,
    pub path: String,
    pub protocols: Vec<String>,
    pub subscription_required: bool,
    pub subscription_key_header: String,
    pub subscription_key_query: String,
    pub api_type: String,
    pub import: Option<ApiImport>,
    pub operations: Vec<Operation>,
    /// Path of the policy XML relative to the output directory.
    pub policy_file: String,
    pub policy_format: String,
    pub diagnostic: Option<Diagnostic>,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    pub workspace_name: String,
    pub workspace_location: String,
    pub workspace_sku: String,
    pub retention_in_days: u64,
    pub insights_name: String,
    pub insights_location: String,
    pub insights_kind: String,
    pub application_type: String,
    pub ingestion_mode: String,
    pub logger_name: String,
    pub logger_type: String,
    pub logger_description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub name: String,
    pub location: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Apim {
    pub name: String,
    pub location: String,
    pub sku: String,
    pub capacity: u64,
    pub publisher_name: String,
    pub publisher_email: String,
    /// `SystemAssigned` or `UserAssigned`.
    pub identity_type: String,
    /// Hardened protocol/cipher settings (`customProperties`), classic tiers only.
    pub custom_properties: Vec<(String, String)>,
    /// Terraform `security {}` block arguments derived from them.
    pub security: Vec<(String, bool)>,
    /// Gateway regions besides `location` (Premium).
    pub additional_locations: Vec<AdditionalLocation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub backend: String,
    /// Set for accounts oailb manages (their endpoint is an output of the account).
    pub managed: bool,
    pub endpoint: String,
}

/// Everything the infrastructure templates need, in desired order.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// File name of the topology, for the generated-file header.
    pub topology: String,
    pub mode: String,
    pub cloud: String,
    /// Subscription id when the topology or `--subscription` set one.
    pub subscription: Option<String>,
    pub resource_group: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub apim: Apim,
    pub identity: Option<Identity>,
    pub monitoring: Option<Monitoring>,
    pub accounts: Vec<Account>,
    pub existing_role_assignments: Vec<ExistingRoleAssignment>,
    pub named_values: Vec<NamedValue>,
    pub pool_backends: Vec<PoolBackend>,
    pub pools: Vec<Pool>,
    pub apis: Vec<Api>,
    pub gateway_url: String,
    pub endpoints: Vec<Endpoint>,
    /// Built-in role "Cognitive Services OpenAI User".
    pub role_definition_guid: String,
    pub arm_guid_namespace: String,
    pub api_versions: BTreeMap<String, String>,
    /// Secrets the deployment needs, never their values.
    pub secrets: Vec<Secret>,
    /// OpenAPI files to copy: (path relative to the topology, file name under `openapi/`).
    pub openapi_files: Vec<(String, String)>,
    /// The external caches, in desired order.
    pub caches: Vec<Cache>,
    /// Consumers' products, subscriptions and the usage workbook.
    pub consumers: Option<super::consumers::Consumers>,
}

fn str_at(r: &Resource, path: &str) -> anyhow::Result<String> {
    get_path(&r.body, path)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{}: body has no string at {path}", r.address))
}

fn opt_str(r: &Resource, path: &str) -> Option<String> {
    get_path(&r.body, path)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn u64_at(r: &Resource, path: &str) -> anyhow::Result<u64> {
    get_path(&r.body, path)
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("{}: body has no number at {path}", r.address))
}

fn bool_at(r: &Resource, path: &str) -> anyhow::Result<bool> {
    get_path(&r.body, path)
        .and_then(Value::as_bool)
        .ok_or_else(|| anyhow!("{}: body has no boolean at {path}", r.address))
}

fn strings_at(r: &Resource, path: &str) -> anyhow::Result<Vec<String>> {
    get_path(&r.body, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .ok_or_else(|| anyhow!("{}: body has no list at {path}", r.address))
}

/// The part of an address between `[` and `]`: `account[eastus]` → `eastus`.
fn address_key(address: &str) -> &str {
    address
        .split_once('[')
        .and_then(|(_, rest)| rest.strip_suffix(']'))
        .unwrap_or(address)
}

/// `partner-api-key` → `partner_api_key`; prefixed when it starts with a digit.
pub fn snake_ident(name: &str, prefix: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s = format!("{prefix}_{s}");
    }
    s
}

/// `partner-api-key` → `partnerApiKey`; prefixed when it starts with a digit.
pub fn camel_ident(name: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper && !out.is_empty() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c.to_ascii_lowercase());
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let mut p = prefix.to_string();
        let mut cs = out.chars();
        if let Some(f) = cs.next() {
            p.push(f.to_ascii_uppercase());
            p.extend(cs);
        }
        out = p;
    }
    out
}

/// Maps APIM's hardening `customProperties` to the Terraform `security` block.
fn security_argument(property: &str) -> Option<&'static str> {
    const P: &str = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.";
    Some(match property.strip_prefix(P)? {
        "Protocols.Tls10" => "frontend_tls10_enabled",
        "Protocols.Tls11" => "frontend_tls11_enabled",
        "Protocols.Ssl30" => "frontend_ssl30_enabled",
        "Backend.Protocols.Tls10" => "backend_tls10_enabled",
        "Backend.Protocols.Tls11" => "backend_tls11_enabled",
        "Backend.Protocols.Ssl30" => "backend_ssl30_enabled",
        "Ciphers.TripleDes168" => "triple_des_ciphers_enabled",
        _ => return None,
    })
}

impl Model {
    /// Every managed account shares kind, SKU and network settings (the
    /// templates write them once, for all accounts); a difference would be
    /// lost, so it is refused. Each also carries its role assignment.
    pub fn check_uniform_accounts(&self, templates: &str) -> anyhow::Result<()> {
        let shared = |a: &Account| {
            (
                a.sku_name.clone(),
                a.local_auth_enabled,
                a.public_network_access,
                a.outbound_network_access_restricted,
            )
        };
        if let Some(f) = self.accounts.first() {
            for a in &self.accounts {
                if shared(a) != shared(f) {
                    anyhow::bail!("account {} differs from {} in SKU or network settings, which the {templates} share", a.key, f.key);
                }
                if !a.role_assignment {
                    anyhow::bail!("managed account {} has no role assignment", a.key);
                }
            }
        }
        Ok(())
    }
}

impl Model {
    /// Projects `d` for the templates. `topology` is the topology's file
    /// name (for headers only).
    pub fn from_desired(d: &Desired, topology: &str) -> anyhow::Result<Model> {
        let rg = d
            .of_kind(Kind::ResourceGroup)
            .next()
            .context("desired state has no resource group")?;
        let tags: BTreeMap<String, String> = rg
            .body
            .get("tags")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();

        let apim_r = d
            .of_kind(Kind::ApimService)
            .next()
            .context("desired state has no APIM service")?;
        let custom_properties: Vec<(String, String)> = apim_r
            .body
            .pointer("/properties/customProperties")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut security = Vec::new();
        for (k, v) in &custom_properties {
            let arg = security_argument(k)
                .ok_or_else(|| anyhow!("APIM custom property {k} has no Terraform equivalent"))?;
            security.push((arg.to_string(), v.eq_ignore_ascii_case("true")));
        }
        let apim = Apim {
            name: apim_r.name.clone(),
            location: str_at(apim_r, "location")?,
            sku: str_at(apim_r, "sku.name")?,
            capacity: u64_at(apim_r, "sku.capacity")?,
            publisher_name: str_at(apim_r, "properties.publisherName")?,
            publisher_email: str_at(apim_r, "properties.publisherEmail")?,
            identity_type: str_at(apim_r, "identity.type")?,
            custom_properties,
            security,
            additional_locations: get_path(&apim_r.body, "properties.additionalLocations")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|l| AdditionalLocation {
                            location: l["location"].as_str().unwrap_or_default().to_string(),
                            capacity: l["sku"]["capacity"].as_u64().unwrap_or(1),
                            zones: l
                                .get("zones")
                                .and_then(Value::as_array)
                                .map(|z| {
                                    z.iter()
                                        .filter_map(Value::as_str)
                                        .map(str::to_string)
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };

        let identity = match d.of_kind(Kind::UserAssignedIdentity).next() {
            Some(r) => Some(Identity {
                name: r.name.clone(),
                location: str_at(r, "location")?,
            }),
            None => None,
        };

        let monitoring = match (
            d.of_kind(Kind::LogAnalyticsWorkspace).next(),
            d.of_kind(Kind::ApplicationInsights).next(),
            d.of_kind(Kind::ApimLogger).next(),
        ) {
            (Some(ws), Some(ai), Some(lg)) => Some(Monitoring {
                workspace_name: ws.name.clone(),
                workspace_location: str_at(ws, "location")?,
                workspace_sku: str_at(ws, "properties.sku.name")?,
                retention_in_days: u64_at(ws, "properties.retentionInDays")?,
                insights_name: ai.name.clone(),
                insights_location: str_at(ai, "location")?,
                insights_kind: str_at(ai, "kind")?,
                application_type: str_at(ai, "properties.Application_Type")?,
                ingestion_mode: str_at(ai, "properties.IngestionMode")?,
                logger_name: lg.name.clone(),
                logger_type: str_at(lg, "properties.loggerType")?,
                logger_description: str_at(lg, "properties.description")?,
            }),
            (None, None, None) => None,
            _ => bail!("desired state has only part of the monitoring resources"),
        };

        let mut accounts = Vec::new();
        for r in d.of_kind(Kind::CognitiveAccount) {
            let key = address_key(&r.address).to_string();
            let deployments = d
                .of_kind(Kind::CognitiveDeployment)
                .filter(|dep| dep.id.starts_with(&format!("{}/deployments/", r.id)))
                .map(|dep| {
                    Ok(Deployment {
                        key: address_key(&dep.address).to_string(),
                        name: dep.name.clone(),
                        model_format: str_at(dep, "properties.model.format")?,
                        model_name: str_at(dep, "properties.model.name")?,
                        model_version: str_at(dep, "properties.model.version")?,
                        sku_name: str_at(dep, "sku.name")?,
                        capacity: u64_at(dep, "sku.capacity")?,
                        version_upgrade_option: str_at(dep, "properties.versionUpgradeOption")?,
                        rai_policy_name: opt_str(dep, "properties.raiPolicyName"),
                        spillover_deployment_name: opt_str(
                            dep,
                            "properties.spilloverDeploymentName",
                        ),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let role_assignment = d
                .of_kind(Kind::RoleAssignment)
                .any(|ra| ra.id.starts_with(&format!("{}/providers/", r.id)));
            accounts.push(Account {
                name: r.name.clone(),
                location: str_at(r, "location")?,
                kind: str_at(r, "kind")?,
                sku_name: str_at(r, "sku.name")?,
                custom_subdomain: str_at(r, "properties.customSubDomainName")?,
                public_network_access: str_at(r, "properties.publicNetworkAccess")? == "Enabled",
                local_auth_enabled: !bool_at(r, "properties.disableLocalAuth")?,
                outbound_network_access_restricted: get_path(
                    &r.body,
                    "properties.restrictOutboundNetworkAccess",
                )
                .and_then(Value::as_bool)
                .unwrap_or(false),
                deployments,
                role_assignment,
                key,
            });
        }

        let mut existing_role_assignments = Vec::new();
        let mut role_definition_guid = naming::OPENAI_USER_ROLE.to_string();
        for r in d.of_kind(Kind::RoleAssignment) {
            let role = str_at(r, "properties.roleDefinitionId")?;
            role_definition_guid = role.rsplit('/').next().unwrap_or_default().to_string();
            let scope =
                r.id.split_once("/providers/Microsoft.Authorization/")
                    .map(|(s, _)| s.to_string())
                    .with_context(|| format!("{}: unexpected id {}", r.address, r.id))?;
            if accounts.iter().any(|a| {
                d.get(&naming::address::account(&a.key))
                    .is_some_and(|acct| acct.id == scope)
            }) {
                continue;
            }
            let segs: Vec<&str> = scope.split('/').collect();
            let find = |name: &str| {
                segs.iter()
                    .position(|s| s.eq_ignore_ascii_case(name))
                    .and_then(|i| segs.get(i + 1))
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            };
            existing_role_assignments.push(ExistingRoleAssignment {
                key: address_key(&r.address).to_string(),
                subscription: find("subscriptions"),
                resource_group: find("resourceGroups"),
                account_name: scope.rsplit('/').next().unwrap_or_default().to_string(),
                scope,
            });
        }

        let mut named_values = Vec::new();
        let mut secrets = Vec::new();
        for r in d.of_kind(Kind::ApimNamedValue) {
            let secret = bool_at(r, "properties.secret")?;
            let value = get_path(&r.body, "properties.value").map(Placeholder::from_value);
            let source = if let Some(kv) = get_path(&r.body, "properties.keyVault") {
                NamedValueSource::KeyVault {
                    secret_id: kv
                        .get("secretIdentifier")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    user_assigned: kv.get("identityClientId").is_some(),
                }
            } else {
                match value {
                    Some(Some(Placeholder::SecretEnv { var })) => {
                        let tf_variable = snake_ident(&r.name, "backend");
                        let bicep_param = camel_ident(&r.name, "backend");
                        secrets.push(Secret {
                            env: var.clone(),
                            tf_variable: tf_variable.clone(),
                            bicep_param: bicep_param.clone(),
                            named_value: r.name.clone(),
                        });
                        NamedValueSource::Secret {
                            env: var,
                            tf_variable,
                            bicep_param,
                        }
                    }
                    Some(Some(Placeholder::Ref { path, .. })) if path == "properties.clientId" => {
                        NamedValueSource::IdentityClientId
                    }
                    Some(Some(Placeholder::CacheConnection { .. })) => {
                        NamedValueSource::CacheConnection {
                            cache: d
                                .of_kind(Kind::ApimCache)
                                .find(|c| {
                                    get_path(&c.body, "properties.connectionString")
                                        .and_then(Value::as_str)
                                        == Some(&format!("{{{{{}}}}}", r.name))
                                })
                                .map(|c| c.name.clone())
                                .with_context(|| format!("{}: no APIM cache uses it", r.address))?,
                        }
                    }
                    // A literal value would end up in a rendered file: refuse.
                    _ => bail!(
                        "{}: named value without a secret source or known reference",
                        r.address
                    ),
                }
            };
            named_values.push(NamedValue {
                name: r.name.clone(),
                display_name: str_at(r, "properties.displayName")?,
                secret,
                tf_name: snake_ident(&r.name, "nv"),
                bicep_name: camel_ident(&r.name, "nv"),
                source,
            });
        }

        let mut pool_backends = Vec::new();
        let mut pools = Vec::new();
        for r in d.of_kind(Kind::ApimBackend) {
            let kind = str_at(r, "properties.type")?;
            let key = address_key(&r.address).to_string();
            if kind == "Pool" {
                let services = get_path(&r.body, "properties.pool.services")
                    .and_then(Value::as_array)
                    .with_context(|| format!("{}: pool without services", r.address))?;
                let mut members = Vec::new();
                for s in services {
                    let id = s.get("id").and_then(Value::as_str).unwrap_or_default();
                    let member = d
                        .of_kind(Kind::ApimBackend)
                        .find(|b| b.id == id)
                        .with_context(|| format!("{}: unknown pool member {id}", r.address))?;
                    members.push(PoolMember {
                        backend: address_key(&member.address).to_string(),
                        priority: s.get("priority").and_then(Value::as_u64).unwrap_or(0),
                        weight: s.get("weight").and_then(Value::as_u64).unwrap_or(0),
                    });
                }
                pools.push(Pool {
                    key,
                    name: r.name.clone(),
                    description: str_at(r, "properties.description")?,
                    members,
                });
                continue;
            }
            let rules = get_path(&r.body, "properties.circuitBreaker.rules")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 1)
                .with_context(|| format!("{}: expected one circuit breaker rule", r.address))?;
            let rule = &rules[0];
            let fc = rule.get("failureCondition").cloned().unwrap_or_default();
            let status_ranges = fc
                .get("statusCodeRanges")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| StatusRange {
                            min: x.get("min").and_then(Value::as_u64).unwrap_or(0),
                            max: x.get("max").and_then(Value::as_u64).unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let api_key_named_value = get_path(&r.body, "properties.credentials.header.api-key")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(|s| {
                    s.trim_start_matches("{{")
                        .trim_end_matches("}}")
                        .to_string()
                });
            pool_backends.push(PoolBackend {
                key,
                name: r.name.clone(),
                description: str_at(r, "properties.description")?,
                url: str_at(r, "properties.url")?,
                protocol: str_at(r, "properties.protocol")?,
                rule_name: rule
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                failure_count: fc.get("count").and_then(Value::as_u64).unwrap_or(1),
                failure_interval: fc
                    .get("interval")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                status_ranges,
                trip_duration: rule
                    .get("tripDuration")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                accept_retry_after: rule
                    .get("acceptRetryAfter")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                validate_certificate_chain: bool_at(r, "properties.tls.validateCertificateChain")?,
                validate_certificate_name: bool_at(r, "properties.tls.validateCertificateName")?,
                api_key_named_value_tf: api_key_named_value
                    .as_deref()
                    .map(|n| snake_ident(n, "nv")),
                api_key_named_value,
            });
        }

        let mut apis = Vec::new();
        let mut openapi_files = Vec::new();
        for r in d.of_kind(Kind::ApimApi) {
            let api_name = r.name.clone();
            let import = match opt_str(r, "properties.format") {
                Some(format) => {
                    let v = get_path(&r.body, "properties.value")
                        .with_context(|| format!("{}: import without value", r.address))?;
                    match Placeholder::from_value(v) {
                        Some(Placeholder::File { path }) => {
                            let file = format!("{api_name}.json");
                            openapi_files.push((path, file.clone()));
                            Some(ApiImport {
                                format,
                                value: file,
                                is_file: true,
                            })
                        }
                        _ => Some(ApiImport {
                            format,
                            value: v.as_str().unwrap_or_default().to_string(),
                            is_file: false,
                        }),
                    }
                }
                None => None,
            };
            let operations = d
                .of_kind(Kind::ApimApiOperation)
                .filter(|op| op.id.starts_with(&format!("{}/operations/", r.id)))
                .map(|op| {
                    Ok(Operation {
                        name: op.name.clone(),
                        display_name: str_at(op, "properties.displayName")?,
                        method: str_at(op, "properties.method")?,
                        url_template: str_at(op, "properties.urlTemplate")?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let policy = d
                .of_kind(Kind::ApimApiPolicy)
                .find(|p| p.id.starts_with(&format!("{}/policies/", r.id)))
                .with_context(|| format!("{}: no policy", r.address))?;
            match get_path(&policy.body, "properties.value").and_then(Placeholder::from_value) {
                Some(Placeholder::Policy { api }) if api == api_name => {}
                _ => bail!(
                    "{}: policy value is not the rendered policy",
                    policy.address
                ),
            }
            let diagnostic = match d
                .of_kind(Kind::ApimApiDiagnostic)
                .find(|x| x.id.starts_with(&format!("{}/diagnostics/", r.id)))
            {
                Some(x) => {
                    let side = |p: &str| -> anyhow::Result<DiagnosticSide> {
                        Ok(DiagnosticSide {
                            headers: strings_at(x, &format!("properties.{p}.headers"))?,
                            body_bytes: u64_at(x, &format!("properties.{p}.body.bytes"))?,
                        })
                    };
                    Some(Diagnostic {
                        name: x.name.clone(),
                        always_log: str_at(x, "properties.alwaysLog")?,
                        sampling_type: str_at(x, "properties.sampling.samplingType")?,
                        sampling_percentage: get_path(&x.body, "properties.sampling.percentage")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                        http_correlation_protocol: str_at(x, "properties.httpCorrelationProtocol")?,
                        verbosity: str_at(x, "properties.verbosity")?,
                        log_client_ip: bool_at(x, "properties.logClientIp")?,
                        metrics: bool_at(x, "properties.metrics")?,
                        frontend_request: side("frontend.request")?,
                        frontend_response: side("frontend.response")?,
                        backend_request: side("backend.request")?,
                        backend_response: side("backend.response")?,
                    })
                }
                None => None,
            };
            let url = d
                .outputs
                .apis
                .iter()
                .find(|a| a.name == api_name)
                .map(|a| a.url.clone())
                .unwrap_or_default();
            apis.push(Api {
                tf_name: snake_ident(&api_name, "api"),
                bicep_name: camel_ident(&api_name, "api"),
                display_name: str_at(r, "properties.displayName")?,
                path: str_at(r, "properties.path")?,
                protocols: strings_at(r, "properties.protocols")?,
                subscription_required: bool_at(r, "properties.subscriptionRequired")?,
                subscription_key_header: str_at(
                    r,
                    "properties.subscriptionKeyParameterNames.header",
                )?,
                subscription_key_query: str_at(
                    r,
                    "properties.subscriptionKeyParameterNames.query",
                )?,
                api_type: str_at(r, "properties.apiType")?,
                import,
                operations,
                policy_file: format!("policies/{api_name}.xml"),
                policy_format: str_at(policy, "properties.format")?,
                diagnostic,
                url,
                name: api_name,
            });
        }

        let endpoints = d
            .outputs
            .endpoints
            .iter()
            .map(|e| Endpoint {
                managed: accounts.iter().any(|a| a.key == e.backend),
                backend: e.backend.clone(),
                endpoint: e.endpoint.clone(),
            })
            .collect();

        let api_versions = [
            Kind::ResourceGroup,
            Kind::LogAnalyticsWorkspace,
            Kind::ApplicationInsights,
            Kind::UserAssignedIdentity,
            Kind::CognitiveAccount,
            Kind::CognitiveDeployment,
            Kind::ApimService,
            Kind::RoleAssignment,
            Kind::ApimNamedValue,
            Kind::ApimBackend,
            Kind::ApimApi,
            Kind::ApimApiOperation,
            Kind::ApimApiPolicy,
            Kind::ApimLogger,
            Kind::ApimApiDiagnostic,
            Kind::RedisCache,
            Kind::RedisDatabase,
            Kind::ApimCache,
        ]
        .iter()
        .map(|k| {
            let key = serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (key, k.api_version().to_string())
        })
        .collect();

        Ok(Model {
            topology: topology.to_string(),
            mode: d.mode.as_str().to_string(),
            cloud: d.cloud.as_str().to_string(),
            subscription: d.subscription_known.then(|| d.subscription.clone()),
            resource_group: rg.name.clone(),
            location: str_at(rg, "location")?,
            tags,
            apim,
            identity,
            monitoring,
            accounts,
            existing_role_assignments,
            named_values,
            pool_backends,
            pools,
            apis,
            gateway_url: d.outputs.gateway_url.clone(),
            endpoints,
            role_definition_guid,
            arm_guid_namespace: naming::ARM_GUID_NAMESPACE.to_string(),
            api_versions,
            secrets,
            openapi_files,
            caches: caches(d)?,
            consumers: super::consumers::Consumers::from_desired(d)?,
        })
    }
}

/// The APIM caches of `d` with the Azure Managed Redis instance behind each.
fn caches(d: &Desired) -> anyhow::Result<Vec<Cache>> {
    let mut out = Vec::new();
    for c in d.of_kind(Kind::ApimCache) {
        let conn = str_at(c, "properties.connectionString")?;
        let named_value = conn
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .to_string();
        let nv = d
            .of_kind(Kind::ApimNamedValue)
            .find(|n| n.name == named_value)
            .with_context(|| format!("{}: no named value {named_value}", c.address))?;
        let Some(Placeholder::CacheConnection { cluster }) =
            get_path(&nv.body, "properties.value").and_then(Placeholder::from_value)
        else {
            bail!("{}: {named_value} is not a cache connection", c.address);
        };
        let cluster_r = d.of_kind(Kind::RedisCache).find(|r| r.id == cluster);
        let (managed, existing) = match cluster_r {
            Some(r) => {
                let db = d
                    .of_kind(Kind::RedisDatabase)
                    .find(|x| x.id.starts_with(&format!("{}/", r.id)))
                    .with_context(|| format!("{}: no database", r.address))?;
                let managed = ManagedCache {
                    name: r.name.clone(),
                    location: str_at(r, "location")?,
                    sku_name: str_at(r, "sku.name")?,
                    high_availability: str_at(r, "properties.highAvailability")? == "Enabled",
                    public_network_access: str_at(r, "properties.publicNetworkAccess")?,
                    client_protocol: str_at(db, "properties.clientProtocol")?,
                    clustering_policy: str_at(db, "properties.clusteringPolicy")?,
                    eviction_policy: str_at(db, "properties.evictionPolicy")?,
                    access_keys_authentication: str_at(db, "properties.accessKeysAuthentication")?
                        == "Enabled",
                };
                (Some(managed), None)
            }
            None => {
                let segs: Vec<&str> = cluster.split('/').collect();
                let at = |name: &str| {
                    segs.iter()
                        .position(|s| s.eq_ignore_ascii_case(name))
                        .and_then(|i| segs.get(i + 1))
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                };
                let existing = ExistingCache {
                    subscription: at("subscriptions"),
                    resource_group: at("resourceGroups"),
                    name: at("redisEnterprise"),
                    id: cluster.clone(),
                };
                (None, Some(existing))
            }
        };
        out.push(Cache {
            key: c.name.clone(),
            tf_name: snake_ident(&c.name, "cache"),
            bicep_name: camel_ident(&format!("cache-{}", c.name), "cache"),
            description: str_at(c, "properties.description")?,
            named_value,
            managed,
            existing,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(snake_ident("partner-api-key", "nv"), "partner_api_key");
        assert_eq!(snake_ident("1st-api-key", "nv"), "nv_1st_api_key");
        assert_eq!(camel_ident("partner-api-key", "nv"), "partnerApiKey");
        assert_eq!(camel_ident("1st-api-key", "backend"), "backend1stApiKey");
        assert_eq!(camel_ident("openai", "api"), "openai");
    }

    #[test]
    fn address_keys() {
        assert_eq!(address_key("account[eastus]"), "eastus");
        assert_eq!(address_key("deployment[eastus/gpt-4o]"), "eastus/gpt-4o");
        assert_eq!(address_key("apim"), "apim");
    }
}
