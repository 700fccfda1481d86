//! Topology → desired resources. Pure and deterministic: the same topology
//! gives the same resources, bodies and order.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::naming::{self, address, SUBSCRIPTION_TOKEN};
use super::placeholder::{reference, Placeholder};
use super::*;
use crate::balancer::Quota;
use crate::topology::{
    ApiKeySource, AuthKind, Backend, DeploymentSku, IdentityKind, LoadBalancing, Operations,
    Topology,
};

/// Request/response headers the API diagnostic logs. Never a key or token.
const LOG_REQUEST_HEADERS: &[&str] = &["content-type", "accept", "origin"];
const LOG_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "origin",
    "retry-after",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
];

/// Pass-through operations for `operations: wildcard`.
const WILDCARD_METHODS: &[&str] = &["GET", "POST", "DELETE"];

/// Hardened TLS settings for classic tiers: no TLS 1.0/1.1, SSL 3 or 3DES on
/// either side of the gateway.
const CLASSIC_TLS_PROPERTIES: &[&str] = &[
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168",
];

/// Derives the desired state. `subscription` overrides the topology's; when
/// neither is set, ids carry the `{subscriptionId}` token.
pub fn derive(t: &Topology, subscription: Option<&str>) -> Desired {
    let sub_known = subscription.or(t.subscription.as_deref());
    let sub = sub_known.unwrap_or(SUBSCRIPTION_TOKEN).to_string();
    let mut b = Builder {
        t,
        sub: sub.clone(),
        out: Vec::new(),
    };
    b.build();
    let policies = b.policies();
    let product_policies = b.product_policies();
    let outputs = b.outputs();
    Desired {
        subscription: sub,
        subscription_known: sub_known.is_some(),
        resource_group: t.resource_group.clone(),
        location: t.location.clone(),
        cloud: t.cloud,
        mode: t.load_balancing.mode,
        resources: b.out,
        policies,
        product_policies,
        outputs,
    }
}

#[path = "derive_consumers.rs"]
mod consumers;

struct Builder<'a> {
    t: &'a Topology,
    sub: String,
    out: Vec<Resource>,
}

impl Builder<'_> {
    fn rg_child(&self, provider_path: &str) -> String {
        naming::provider_id(&self.sub, &self.t.resource_group, provider_path)
    }

    fn apim_id(&self) -> String {
        self.rg_child(&format!(
            "Microsoft.ApiManagement/service/{}",
            self.t.apim.name
        ))
    }

    fn apim_child(&self, path: &str) -> String {
        format!("{}/{path}", self.apim_id())
    }

    fn tags(&self) -> Value {
        json!(self.t.tags)
    }

    fn push(
        &mut self,
        address: String,
        kind: Kind,
        name: String,
        id: String,
        body: Value,
        depends_on: Vec<String>,
    ) -> &mut Resource {
        self.out.push(Resource {
            address,
            kind,
            name,
            id,
            api_version: kind.api_version(),
            body,
            depends_on,
            write_only: Vec::new(),
        });
        self.out.last_mut().expect("just pushed")
    }

    /// Address whose identity the gateway uses, and that identity's resource id.
    fn identity(&self) -> (&'static str, String, &'static str) {
        match self.t.apim.identity {
            IdentityKind::SystemAssigned => (address::APIM, self.apim_id(), "identity.principalId"),
            IdentityKind::UserAssigned => (
                address::IDENTITY,
                self.identity_id(),
                "properties.principalId",
            ),
        }
    }

    fn identity_id(&self) -> String {
        let name = self.t.identity_name().unwrap_or_default();
        self.rg_child(&format!(
            "Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
        ))
    }

    fn build(&mut self) {
        let t = self.t;
        let rg = address::RESOURCE_GROUP.to_string();
        self.push(
            rg.clone(),
            Kind::ResourceGroup,
            t.resource_group.clone(),
            naming::resource_group_id(&self.sub, &t.resource_group),
            json!({"location": t.location, "tags": self.tags()}),
            vec![],
        );

        // APIM first: on classic tiers it takes 30–45 minutes.
        self.apim(&rg);
        if t.apim.identity == IdentityKind::UserAssigned {
            let name = t.identity_name().unwrap_or_default();
            let id = self.identity_id();
            let body = json!({"location": t.apim_location(), "tags": self.tags()});
            self.push(
                address::IDENTITY.into(),
                Kind::UserAssignedIdentity,
                name,
                id,
                body,
                vec![rg.clone()],
            );
        }
        self.monitoring_base(&rg);
        for (_, backend) in t.backends() {
            self.account(&rg, backend);
        }
        for (_, backend) in t.backends() {
            self.role_assignment(backend);
        }
        self.named_values();
        self.caches(&rg);
        self.pool_backends();
        if t.monitoring.is_some() {
            self.logger();
        }
        for api in t.apis() {
            self.api(api);
        }
        self.consumer_resources();
        self.sort_by_dependencies();
    }

    fn apim(&mut self, rg: &str) {
        let t = self.t;
        let a = &t.apim;
        let identity = match a.identity {
            IdentityKind::SystemAssigned => json!({"type": "SystemAssigned"}),
            IdentityKind::UserAssigned => {
                let mut m = Map::new();
                m.insert(self.identity_id(), json!({}));
                json!({"type": "UserAssigned", "userAssignedIdentities": m})
            }
        };
        let mut props = json!({
            "publisherEmail": a.publisher_email,
            "publisherName": a.publisher_name,
        });
        if a.sku.is_classic() {
            let custom: Map<String, Value> = CLASSIC_TLS_PROPERTIES
                .iter()
                .map(|k| (k.to_string(), json!("False")))
                .collect();
            props["customProperties"] = Value::Object(custom);
        }
        if !a.additional_locations.is_empty() {
            let locations: Vec<Value> = a
                .additional_locations
                .iter()
                .map(|l| {
                    let mut o = json!({
                        "location": l.location,
                        "sku": {"name": a.sku.as_str(), "capacity": l.capacity()},
                    });
                    if !l.zones.is_empty() {
                        o["zones"] = json!(l.zones);
                    }
                    o
                })
                .collect();
            props["additionalLocations"] = Value::Array(locations);
        }
        let body = json!({
            "location": t.apim_location(),
            "tags": self.tags(),
            "sku": {"name": a.sku.as_str(), "capacity": a.capacity()},
            "identity": identity,
            "properties": props,
        });
        let mut deps = vec![rg.to_string()];
        if a.identity == IdentityKind::UserAssigned {
            deps.push(address::IDENTITY.into());
        }
        let id = self.apim_id();
        self.push(
            address::APIM.into(),
            Kind::ApimService,
            a.name.clone(),
            id,
            body,
            deps,
        );
    }

    fn monitoring_base(&mut self, rg: &str) {
        let t = self.t;
        let Some(m) = &t.monitoring else { return };
        let ws_name = m.workspace_name(&t.apim);
        let ws_id = self.rg_child(&format!(
            "Microsoft.OperationalInsights/workspaces/{ws_name}"
        ));
        let body = json!({
            "location": t.location,
            "tags": self.tags(),
            "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": m.retention_days},
        });
        self.push(
            address::WORKSPACE.into(),
            Kind::LogAnalyticsWorkspace,
            ws_name,
            ws_id.clone(),
            body,
            vec![rg.to_string()],
        );
        let ai_name = m.app_insights_name(&t.apim);
        let ai_id = self.rg_child(&format!("Microsoft.Insights/components/{ai_name}"));
        let mut body = json!({
            "location": t.location,
            "tags": self.tags(),
            "kind": "web",
            "properties": {
                "Application_Type": "web",
                "WorkspaceResourceId": ws_id,
                "IngestionMode": "LogAnalytics",
            },
        });
        if !t.consumers.is_empty() {
            // Custom metrics keep their dimensions (the consumer) only when
            // the component opts in; the REST spec omits this property, ARM
            // accepts and returns it.
            body["properties"]["CustomMetricsOptedInType"] = json!("WithDimensions");
        }
        self.push(
            address::APP_INSIGHTS.into(),
            Kind::ApplicationInsights,
            ai_name,
            ai_id,
            body,
            vec![address::WORKSPACE.into()],
        );
    }

    fn account_id(&self, b: &Backend) -> Option<String> {
        if b.is_managed() {
            let name = b.account_name(&self.t.apim)?;
            Some(self.rg_child(&format!("Microsoft.CognitiveServices/accounts/{name}")))
        } else {
            b.resource_id.clone()
        }
    }

    fn account(&mut self, rg: &str, b: &Backend) {
        let t = self.t;
        if !b.is_managed() {
            return;
        }
        let name = b.account_name(&t.apim).unwrap_or_default();
        let id = self.account_id(b).unwrap_or_default();
        let body = json!({
            "location": b.region,
            "tags": self.tags(),
            "kind": b.kind().as_str(),
            "sku": {"name": "S0"},
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "customSubDomainName": b.subdomain(&t.apim),
                "publicNetworkAccess": "Enabled",
                // Only managed identities call these accounts (keys are for
                // existing accounts elsewhere), so local auth stays off.
                "disableLocalAuth": true,
                // Inference needs no outbound calls from the account: none
                // allowed (data exfiltration protection).
                "restrictOutboundNetworkAccess": true,
            },
        });
        let acct = address::account(&b.name);
        self.push(
            acct.clone(),
            Kind::CognitiveAccount,
            name,
            id.clone(),
            body,
            vec![rg.to_string()],
        );

        // Azure rejects concurrent deployment changes on one account, so the
        // deployments of an account form a chain.
        let mut prev = acct;
        for s in b.served(t) {
            let props = |sku: DeploymentSku, capacity: u32| {
                let mut props = json!({
                    "model": {"format": s.model.format, "name": s.model.model, "version": s.model.version},
                    "versionUpgradeOption": s.model.version_upgrade.as_str(),
                });
                if let Some(rai) = &s.model.rai_policy {
                    props["raiPolicyName"] = json!(rai);
                }
                json!({"sku": {"name": sku.as_str(), "capacity": capacity}, "properties": props})
            };
            let mut body = props(s.sku, s.capacity);
            // The spill-over target exists before the deployment naming it.
            if let Some(sp) = &s.spillover {
                let addr = address::spillover_deployment(&b.name, &s.model.name);
                self.push(
                    addr.clone(),
                    Kind::CognitiveDeployment,
                    sp.deployment.clone(),
                    format!("{id}/deployments/{}", sp.deployment),
                    props(sp.sku, sp.capacity),
                    vec![prev],
                );
                prev = addr;
                body["properties"]["spilloverDeploymentName"] = json!(sp.deployment);
            }
            let addr = address::deployment(&b.name, &s.model.name);
            let dep_id = format!("{id}/deployments/{}", s.deployment);
            self.push(
                addr.clone(),
                Kind::CognitiveDeployment,
                s.deployment.clone(),
                dep_id,
                body,
                vec![prev],
            );
            prev = addr;
        }
    }

    fn role_assignment(&mut self, b: &Backend) {
        if b.auth != AuthKind::ManagedIdentity {
            return;
        }
        let Some(scope) = self.account_id(b) else {
            return;
        };
        let (principal_addr, identity_id, principal_path) = self.identity();
        let name = naming::role_assignment_name(&scope, &identity_id);
        let role_sub = naming::subscription_of(&scope)
            .unwrap_or(&self.sub)
            .to_string();
        let body = json!({
            "properties": {
                "roleDefinitionId": naming::role_definition_id(&role_sub),
                "principalId": reference(principal_addr, principal_path),
                // Tells ARM the principal is a service principal, which avoids
                // most PrincipalNotFound errors right after identity creation.
                "principalType": "ServicePrincipal",
            },
        });
        let mut deps = vec![principal_addr.to_string()];
        if b.is_managed() {
            deps.insert(0, address::account(&b.name));
        }
        let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        self.push(
            address::role_assignment(&b.name),
            Kind::RoleAssignment,
            name,
            id,
            body,
            deps,
        );
    }

    fn named_values(&mut self) {
        let t = self.t;
        if t.apim.identity == IdentityKind::UserAssigned {
            let nv = naming::IDENTITY_CLIENT_ID_NAMED_VALUE;
            let body = json!({"properties": {
                "displayName": nv,
                "secret": false,
                "value": reference(address::IDENTITY, "properties.clientId"),
            }});
            let id = self.apim_child(&format!("namedValues/{nv}"));
            self.push(
                address::named_value(nv),
                Kind::ApimNamedValue,
                nv.into(),
                id,
                body,
                vec![address::APIM.into(), address::IDENTITY.into()],
            );
        }
        for (_, b) in t.backends() {
            let (AuthKind::ApiKey, Some(src)) = (b.auth, &b.api_key) else {
                continue;
            };
            let nv = naming::api_key_named_value(&b.name);
            let mut props = json!({"displayName": nv, "secret": true});
            let mut write_only = vec![];
            match src {
                ApiKeySource::Env(var) => {
                    props["value"] = Placeholder::SecretEnv { var: var.clone() }.to_value();
                    // ARM never returns secret values.
                    write_only.push("properties.value");
                }
                ApiKeySource::KeyVaultSecret(uri) => {
                    let mut kv = json!({"secretIdentifier": uri});
                    if t.apim.identity == IdentityKind::UserAssigned {
                        kv["identityClientId"] =
                            reference(address::IDENTITY, "properties.clientId");
                    }
                    props["keyVault"] = kv;
                }
            }
            let id = self.apim_child(&format!("namedValues/{nv}"));
            let r = self.push(
                address::named_value(&nv),
                Kind::ApimNamedValue,
                nv,
                id,
                json!({"properties": props}),
                vec![address::APIM.into()],
            );
            r.write_only = write_only;
        }
    }

    /// The external cache: an Azure Managed Redis instance and its database
    /// per [`CacheInstance`] (none for an existing cache), the secret named
    /// value with its connection string, and the APIM `caches` entity.
    fn caches(&mut self, rg: &str) {
        let t = self.t;
        let Some(c) = &t.cache else { return };
        for inst in t.cache_instances() {
            let cluster_id = match &c.existing {
                Some(id) => id.clone(),
                None => {
                    let id =
                        self.rg_child(&format!("Microsoft.Cache/redisEnterprise/{}", inst.name));
                    let ha = if c.high_availability.unwrap_or(true) {
                        "Enabled"
                    } else {
                        "Disabled"
                    };
                    let body = json!({
                        "location": inst.location,
                        "tags": self.tags(),
                        "sku": {"name": c.sku().as_str()},
                        "properties": {
                            "highAvailability": ha,
                            // APIM reaches it over its public endpoint, with
                            // TLS and an access key (APIM cannot use Entra ID
                            // with Azure Managed Redis).
                            "publicNetworkAccess": "Enabled",
                        },
                    });
                    let addr = address::cache(&inst.use_from);
                    self.push(
                        addr.clone(),
                        Kind::RedisCache,
                        inst.name.clone(),
                        id.clone(),
                        body,
                        vec![rg.to_string()],
                    );
                    let body = json!({"properties": {
                        "clientProtocol": "Encrypted",
                        // One endpoint for every key: APIM's client is not
                        // cluster-aware (OSSCluster would need it to be).
                        "clusteringPolicy": "EnterpriseCluster",
                        // Balancer entries carry a TTL: under memory pressure
                        // the least recently used of them go first.
                        "evictionPolicy": "VolatileLRU",
                        // APIM connects with a connection string only.
                        "accessKeysAuthentication": "Enabled",
                    }});
                    self.push(
                        address::cache_database(&inst.use_from),
                        Kind::RedisDatabase,
                        super::cache::DATABASE_NAME.into(),
                        format!("{id}/databases/{}", super::cache::DATABASE_NAME),
                        body,
                        vec![addr],
                    );
                    id
                }
            };
            let nv = super::cache::named_value(&inst.use_from);
            let mut deps = vec![address::APIM.to_string()];
            if c.existing.is_none() {
                deps.push(address::cache_database(&inst.use_from));
            }
            let body = json!({"properties": {
                "displayName": nv,
                "secret": true,
                "value": Placeholder::CacheConnection { cluster: cluster_id.clone() }.to_value(),
            }});
            let nv_addr = address::named_value(&nv);
            let id = self.apim_child(&format!("namedValues/{nv}"));
            let r = self.push(
                nv_addr.clone(),
                Kind::ApimNamedValue,
                nv.clone(),
                id,
                body,
                deps,
            );
            // ARM never returns secret values.
            r.write_only = vec!["properties.value"];
            let body = json!({"properties": {
                "description": format!("{} (oailb)", inst.name),
                "connectionString": format!("{{{{{nv}}}}}"),
                "useFromLocation": inst.use_from,
            }});
            let id = self.apim_child(&format!("caches/{}", inst.use_from));
            self.push(
                address::apim_cache(&inst.use_from),
                Kind::ApimCache,
                inst.use_from.clone(),
                id,
                body,
                vec![address::APIM.into(), nv_addr],
            );
        }
    }

    /// Pool mode: one `Single` backend per (backend, model) with a circuit
    /// breaker, and one `Pool` per model.
    fn pool_backends(&mut self) {
        let t = self.t;
        if t.load_balancing.mode != Mode::Pool {
            return;
        }
        let lb = &t.load_balancing;
        let ranges: Vec<Value> = lb
            .trip_ranges()
            .iter()
            .map(|(a, b)| json!({"min": a, "max": b}))
            .collect();
        for m in &t.models {
            let mut members = Vec::new();
            for (priority, b) in t.backends() {
                let Some(s) = b.served(t).into_iter().find(|s| s.model.name == m.name) else {
                    continue;
                };
                let backend_id = naming::apim_backend_id(&b.name, &m.name);
                let mut props = json!({
                    "description": format!("{} for {} (oailb)", b.name, m.name),
                    "type": "Single",
                    "url": b.openai_base_url(&t.apim, t.cloud),
                    "protocol": "http",
                    "circuitBreaker": {"rules": [{
                        "name": "throttling",
                        "failureCondition": {
                            "count": 1,
                            "interval": "PT1M",
                            "statusCodeRanges": ranges,
                        },
                        "tripDuration": format!("PT{}S", lb.default_retry_after_seconds),
                        // Trip for as long as the backend's Retry-After says.
                        "acceptRetryAfter": true,
                    }]},
                    "tls": {"validateCertificateChain": true, "validateCertificateName": true},
                });
                let mut deps = vec![address::APIM.to_string()];
                if b.auth == AuthKind::ApiKey {
                    let nv = naming::api_key_named_value(&b.name);
                    props["credentials"] =
                        json!({"header": {"api-key": [format!("{{{{{nv}}}}}")]}});
                    deps.push(address::named_value(&nv));
                }
                let addr = address::backend(&b.name, &m.name);
                let id = self.apim_child(&format!("backends/{backend_id}"));
                self.push(
                    addr.clone(),
                    Kind::ApimBackend,
                    backend_id,
                    id.clone(),
                    json!({"properties": props}),
                    deps,
                );
                members.push((priority, b.weight_for(&s), id, addr));
            }
            let pool_id = naming::apim_pool_id(&m.name);
            let services: Vec<Value> = members
                .iter()
                .map(|(p, w, id, _)| {
                    let max = members
                        .iter()
                        .filter(|x| x.0 == *p)
                        .map(|x| x.1)
                        .max()
                        .unwrap_or(1)
                        .max(1);
                    json!({"id": id, "priority": p, "weight": pool_weight(*w, max)})
                })
                .collect();
            // A pool must carry neither url nor protocol: ARM rejects them.
            let body = json!({"properties": {
                "description": format!("Priority pool for {} (oailb)", m.name),
                "type": "Pool",
                "pool": {"services": services},
            }});
            let deps = members.into_iter().map(|x| x.3).collect();
            let id = self.apim_child(&format!("backends/{pool_id}"));
            self.push(
                address::pool(&m.name),
                Kind::ApimBackend,
                pool_id,
                id,
                body,
                deps,
            );
        }
    }

    fn logger(&mut self) {
        let t = self.t;
        let Some(m) = &t.monitoring else { return };
        let ai_id = self.rg_child(&format!(
            "Microsoft.Insights/components/{}",
            m.app_insights_name(&t.apim)
        ));
        let body = json!({"properties": {
            "loggerType": "applicationInsights",
            "description": "Application Insights logger (oailb)",
            "resourceId": ai_id,
            "credentials": {"connectionString": reference(address::APP_INSIGHTS, "properties.ConnectionString")},
        }});
        let id = self.apim_child(&format!("loggers/{}", m.logger_name));
        let r = self.push(
            address::LOGGER.into(),
            Kind::ApimLogger,
            m.logger_name.clone(),
            id,
            body,
            vec![address::APIM.into(), address::APP_INSIGHTS.into()],
        );
        // APIM stores credentials as a hidden named value and returns a reference.
        r.write_only = vec!["properties.credentials"];
    }

    fn api(&mut self, api: &crate::topology::Api) {
        let t = self.t;
        let api_addr = address::api(&api.name);
        let api_id = self.apim_child(&format!("apis/{}", api.name));
        let mut props = json!({
            "displayName": api.display_name.clone().unwrap_or_else(|| api.name.clone()),
            "path": api.path,
            "protocols": ["https"],
            "subscriptionRequired": api.subscription_required,
            "subscriptionKeyParameterNames": {"header": api.subscription_key_header, "query": api.subscription_key_query},
            "apiType": "http",
        });
        // apiType, format and value exist only in the create/update model;
        // GET returns `type` and no import source.
        let mut write_only = vec!["properties.apiType"];
        match &api.operations {
            Operations::OpenapiUrl(url) => {
                props["format"] = json!("openapi+json-link");
                props["value"] = json!(url);
                write_only.extend(["properties.format", "properties.value"]);
            }
            Operations::OpenapiFile(path) => {
                props["format"] = json!("openapi+json");
                props["value"] = Placeholder::File { path: path.clone() }.to_value();
                write_only.extend(["properties.format", "properties.value"]);
            }
            Operations::Wildcard => {}
        }
        let r = self.push(
            api_addr.clone(),
            Kind::ApimApi,
            api.name.clone(),
            api_id.clone(),
            json!({"properties": props}),
            vec![address::APIM.into()],
        );
        r.write_only = write_only;

        let mut policy_deps = vec![api_addr.clone()];
        if api.operations == Operations::Wildcard {
            for method in WILDCARD_METHODS {
                let op = format!("{}-all", method.to_ascii_lowercase());
                let body = json!({"properties": {
                    "displayName": format!("{method} /*"),
                    "method": method,
                    "urlTemplate": "/*",
                    "templateParameters": [],
                    "responses": [],
                }});
                let addr = address::operation(&api.name, &op);
                self.push(
                    addr.clone(),
                    Kind::ApimApiOperation,
                    op.clone(),
                    format!("{api_id}/operations/{op}"),
                    body,
                    vec![api_addr.clone()],
                );
                policy_deps.push(addr);
            }
        }
        // The policy names named values and backends (APIM checks both on
        // save) and should go live only when its deployments exist.
        for r in &self.out {
            let needed = matches!(
                r.kind,
                Kind::ApimNamedValue
                    | Kind::ApimBackend
                    | Kind::ApimCache
                    | Kind::CognitiveDeployment
                    | Kind::RoleAssignment
            );
            if needed && !policy_deps.contains(&r.address) {
                policy_deps.push(r.address.clone());
            }
        }
        let body = json!({"properties": {
            "format": "rawxml",
            "value": Placeholder::Policy { api: api.name.clone() }.to_value(),
        }});
        let r = self.push(
            address::api_policy(&api.name),
            Kind::ApimApiPolicy,
            "policy".into(),
            format!("{api_id}/policies/policy"),
            body,
            policy_deps,
        );
        // GET answers in the format it is asked for (plan asks for rawxml).
        r.write_only = vec!["properties.format"];

        if let Some(m) = &t.monitoring {
            let logger_id = self.apim_child(&format!("loggers/{}", m.logger_name));
            let bytes = m.log_body_bytes;
            let side = |headers_req: &[&str], headers_resp: &[&str]| {
                json!({
                    "request": {"headers": headers_req, "body": {"bytes": bytes}},
                    "response": {"headers": headers_resp, "body": {"bytes": bytes}},
                })
            };
            let body = json!({"properties": {
                "loggerId": logger_id,
                "alwaysLog": "allErrors",
                "sampling": {"samplingType": "fixed", "percentage": m.sampling_percentage},
                "httpCorrelationProtocol": "W3C",
                "verbosity": m.verbosity.as_str(),
                "logClientIp": m.log_client_ip,
                "metrics": true,
                "frontend": side(LOG_REQUEST_HEADERS, LOG_RESPONSE_HEADERS),
                "backend": side(LOG_REQUEST_HEADERS, LOG_RESPONSE_HEADERS),
            }});
            self.push(
                address::diagnostic(&api.name),
                Kind::ApimApiDiagnostic,
                "applicationinsights".into(),
                format!("{api_id}/diagnostics/applicationinsights"),
                body,
                vec![api_addr, address::LOGGER.into()],
            );
        }
    }

    /// Stable topological order: each resource after its dependencies, ties
    /// kept in derivation order (APIM stays near the front).
    fn sort_by_dependencies(&mut self) {
        let mut placed: Vec<Resource> = Vec::with_capacity(self.out.len());
        let mut done: HashSet<String> = HashSet::new();
        let mut pending: Vec<Resource> = std::mem::take(&mut self.out);
        while !pending.is_empty() {
            let idx = pending
                .iter()
                .position(|r| r.depends_on.iter().all(|d| done.contains(d)))
                .expect("desired resources form a DAG with known addresses");
            let r = pending.remove(idx);
            done.insert(r.address.clone());
            placed.push(r);
        }
        self.out = placed;
    }

    fn policies(&self) -> Vec<ApiPolicy> {
        let t = self.t;
        let identity_nv = (t.apim.identity == IdentityKind::UserAssigned)
            .then(|| naming::IDENTITY_CLIENT_ID_NAMED_VALUE.to_string());
        t.apis()
            .into_iter()
            .map(|api| {
                let routes = t
                    .api_models(api)
                    .into_iter()
                    .map(|m| Route {
                        model: m.name.clone(),
                        pool_id: (t.load_balancing.mode == Mode::Pool)
                            .then(|| naming::apim_pool_id(&m.name)),
                        backends: t
                            .backends()
                            .filter_map(|(priority, b)| {
                                let s = b.served(t).into_iter().find(|s| s.model.name == m.name)?;
                                Some(RouteBackend {
                                    name: b.name.clone(),
                                    priority,
                                    weight: b.weight_for(&s),
                                    url: b.openai_base_url(&t.apim, t.cloud),
                                    deployment: s.deployment.clone(),
                                    quota: route_quota(&s),
                                    region: b
                                        .region
                                        .as_deref()
                                        .map(crate::balancer::region::normalize),
                                    auth: match b.auth {
                                        AuthKind::ManagedIdentity => RouteAuth::ManagedIdentity,
                                        AuthKind::ApiKey => RouteAuth::ApiKey {
                                            named_value: naming::api_key_named_value(&b.name),
                                        },
                                    },
                                    backend_id: (t.load_balancing.mode == Mode::Pool)
                                        .then(|| naming::apim_backend_id(&b.name, &m.name)),
                                })
                            })
                            .collect(),
                    })
                    .collect();
                ApiPolicy {
                    api: api.name.clone(),
                    address: address::api_policy(&api.name),
                    api_id: self.apim_child(&format!("apis/{}", api.name)),
                    mode: t.load_balancing.mode,
                    settings: LoadBalancing {
                        prefer_nearby: Some(t.prefers_nearby()),
                        ..t.load_balancing.clone()
                    },
                    audience: t.cloud.cognitive_services_audience().to_string(),
                    identity_client_id_named_value: identity_nv.clone(),
                    subscription_key_header: api.subscription_key_header.clone(),
                    subscription_key_query: api.subscription_key_query.clone(),
                    routes,
                    token_metrics: self.token_metrics(),
                }
            })
            .collect()
    }

    fn outputs(&self) -> Outputs {
        let t = self.t;
        let gateway = t.gateway_url();
        Outputs {
            apis: t
                .apis()
                .into_iter()
                .map(|a| ApiOutput {
                    name: a.name.clone(),
                    url: format!("{gateway}/{}", a.path),
                })
                .collect(),
            endpoints: t
                .backends()
                .map(|(_, b)| EndpointOutput {
                    backend: b.name.clone(),
                    endpoint: b.endpoint_root(&t.apim, t.cloud),
                })
                .collect(),
            subscriptions: self.subscription_outputs(),
            gateway_url: gateway,
            gateway_regions: t.gateway_regions().iter().map(|r| r.to_string()).collect(),
        }
    }
}

/// What the balancer expects one backend's deployment to admit. With native
/// spill-over the account takes the provisioned deployment's throughput and,
/// beyond it, the standard one's: the policy counts both, so it keeps sending
/// while Azure spills over instead of diverting to the next priority.
/// Request limits: the provisioned deployment has none.
fn route_quota(s: &crate::topology::Served) -> Quota {
    let m = s.model;
    let own = Quota::of(&m.model, s.sku, s.capacity, m.quota);
    match (&s.spillover, own) {
        (Some(sp), Some(q)) => {
            let spill = Quota::of(&m.model, sp.sku, sp.capacity, m.quota).unwrap_or(Quota::UNKNOWN);
            Quota {
                tokens_per_minute: q.tokens_per_minute + spill.tokens_per_minute,
                ..q
            }
        }
        (_, q) => q.unwrap_or(Quota::UNKNOWN),
    }
}

/// Scales a weight into APIM's 1..=100 relative to the largest in its priority.
fn pool_weight(w: u32, max_in_priority: u32) -> u32 {
    let scaled = (u64::from(w) * 100 + u64::from(max_in_priority) / 2) / u64::from(max_in_priority);
    scaled.clamp(1, 100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_weights_scale_to_100() {
        assert_eq!(pool_weight(120, 120), 100);
        assert_eq!(pool_weight(60, 120), 50);
        assert_eq!(pool_weight(1, 1000), 1);
        // Rounded to the nearest: 100/3 = 33.3, 200/3 = 66.7, 50/300 = 16.7.
        assert_eq!(pool_weight(1, 3), 33);
        assert_eq!(pool_weight(2, 3), 67);
        assert_eq!(pool_weight(50, 300), 17);
        assert_eq!(pool_weight(150, 300), 50);
        assert_eq!(pool_weight(1, 6), 17);
        // Never 0 (APIM's minimum is 1), never above 100.
        assert_eq!(pool_weight(0, 7), 1);
        assert_eq!(pool_weight(9, 7), 100);
    }
}
