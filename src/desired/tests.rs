//! The desired state of the examples and fixtures, checked against values
//! written by hand from the topology files (names, ids, addresses, bodies,
//! routes, outputs). GUIDs and name hashes were computed outside oailb
//! (Python's uuid5 with the same namespaces).

use serde_json::{json, Value};

use super::naming::{self, address};
use super::placeholder::{self, Placeholder};
use super::*;
use crate::topology::{self, Source};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const SEED_RG: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/can-aoai-smart-load";

fn load(path: &str, mode: Option<Mode>) -> crate::topology::Loaded {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let loaded = topology::load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match mode {
        Some(m) => topology::with_mode(&loaded, m).unwrap(),
        None => loaded,
    }
}

fn derived(path: &str, mode: Option<Mode>) -> Desired {
    derive(&load(path, mode).topology, Some(SUB))
}

/// name, priority, weight, url, deployment, auth, APIM backend id.
type RouteRow<'a> = (
    &'a str,
    u32,
    u32,
    &'a str,
    &'a str,
    &'a RouteAuth,
    Option<&'a str>,
);

fn addresses(d: &Desired, kind: Kind) -> Vec<&str> {
    d.of_kind(kind).map(|r| r.address.as_str()).collect()
}

#[test]
fn kinds_name_their_arm_type_api_version_and_label() {
    let table = [
        (
            Kind::ResourceGroup,
            "Microsoft.Resources/resourceGroups",
            "2021-04-01",
            "resource group",
        ),
        (
            Kind::LogAnalyticsWorkspace,
            "Microsoft.OperationalInsights/workspaces",
            "2023-09-01",
            "log analytics workspace",
        ),
        (
            Kind::ApplicationInsights,
            "Microsoft.Insights/components",
            "2020-02-02",
            "application insights",
        ),
        (
            Kind::UserAssignedIdentity,
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "2023-01-31",
            "managed identity",
        ),
        (
            Kind::CognitiveAccount,
            "Microsoft.CognitiveServices/accounts",
            "2024-10-01",
            "openai account",
        ),
        (
            Kind::CognitiveDeployment,
            "Microsoft.CognitiveServices/accounts/deployments",
            "2024-10-01",
            "model deployment",
        ),
        (
            Kind::ApimService,
            "Microsoft.ApiManagement/service",
            "2024-05-01",
            "apim service",
        ),
        (
            Kind::RoleAssignment,
            "Microsoft.Authorization/roleAssignments",
            "2022-04-01",
            "role assignment",
        ),
        (
            Kind::ApimNamedValue,
            "Microsoft.ApiManagement/service/namedValues",
            "2024-05-01",
            "named value",
        ),
        (
            Kind::ApimBackend,
            "Microsoft.ApiManagement/service/backends",
            "2024-05-01",
            "backend",
        ),
        (
            Kind::ApimApi,
            "Microsoft.ApiManagement/service/apis",
            "2024-05-01",
            "api",
        ),
        (
            Kind::ApimApiOperation,
            "Microsoft.ApiManagement/service/apis/operations",
            "2024-05-01",
            "api operation",
        ),
        (
            Kind::ApimApiPolicy,
            "Microsoft.ApiManagement/service/apis/policies",
            "2024-05-01",
            "api policy",
        ),
        (
            Kind::ApimLogger,
            "Microsoft.ApiManagement/service/loggers",
            "2024-05-01",
            "logger",
        ),
        (
            Kind::ApimApiDiagnostic,
            "Microsoft.ApiManagement/service/apis/diagnostics",
            "2024-05-01",
            "api diagnostic",
        ),
    ];
    for (kind, arm_type, version, label) in table {
        assert_eq!(
            (kind.arm_type(), kind.api_version(), kind.label()),
            (arm_type, version, label)
        );
    }
}

#[test]
fn seed_resources_are_found_by_address_kind_and_api() {
    let d = derived("examples/seed.yaml", None);
    assert_eq!(d.subscription, SUB);
    assert!(d.subscription_known);
    assert_eq!(
        (d.resource_group.as_str(), d.location.as_str()),
        ("can-aoai-smart-load", "eastus")
    );
    let apim = d.get("apim").expect("apim");
    assert_eq!(
        apim.id,
        format!("{SEED_RG}/providers/Microsoft.ApiManagement/service/can-aoai-smart-apim")
    );
    assert_eq!(apim.arm_type(), "Microsoft.ApiManagement/service");
    assert_eq!(apim.api_version, "2024-05-01");
    assert_eq!(apim.location(), Some("eastus"));
    assert!(d.get("no-such-address").is_none());
    assert_eq!(
        addresses(&d, Kind::CognitiveAccount),
        ["account[eastus]", "account[eastus2]", "account[canadaeast]"]
    );
    assert_eq!(
        d.get("account[eastus2]").unwrap().location(),
        Some("eastus2")
    );
    assert_eq!(
        d.get("deployment[eastus/gpt-35-turbo]").unwrap().location(),
        None
    );
    assert_eq!(
        addresses(&d, Kind::UserAssignedIdentity),
        Vec::<&str>::new()
    );
    assert_eq!(addresses(&d, Kind::ApimBackend), Vec::<&str>::new());
    // Every resource once, in an order where dependencies come first.
    assert_eq!(
        d.resources
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>(),
        [
            "resource_group",
            "apim",
            "log_analytics_workspace",
            "application_insights",
            "account[eastus]",
            "deployment[eastus/gpt-35-turbo]",
            "account[eastus2]",
            "deployment[eastus2/gpt-35-turbo]",
            "account[canadaeast]",
            "deployment[canadaeast/gpt-35-turbo]",
            "role_assignment[eastus]",
            "role_assignment[eastus2]",
            "role_assignment[canadaeast]",
            "logger",
            "api[aoai-smart-api]",
            "api_policy[aoai-smart-api]",
            "api_diagnostic[aoai-smart-api]",
        ]
    );
    assert_eq!(
        d.get("api_policy[aoai-smart-api]").unwrap().depends_on,
        [
            "api[aoai-smart-api]",
            "deployment[eastus/gpt-35-turbo]",
            "deployment[eastus2/gpt-35-turbo]",
            "deployment[canadaeast/gpt-35-turbo]",
            "role_assignment[eastus]",
            "role_assignment[eastus2]",
            "role_assignment[canadaeast]",
        ]
    );
    assert_eq!(
        d.get("deployment[eastus2/gpt-35-turbo]")
            .unwrap()
            .depends_on,
        ["account[eastus2]"]
    );
    assert_eq!(
        d.get("logger").unwrap().write_only,
        ["properties.credentials"]
    );
    assert_eq!(
        d.get("api[aoai-smart-api]").unwrap().write_only,
        [
            "properties.apiType",
            "properties.format",
            "properties.value"
        ]
    );
    let p = d.policy("aoai-smart-api").expect("policy of the API");
    assert_eq!(p.address, "api_policy[aoai-smart-api]");
    assert_eq!(p.api_id, format!("{SEED_RG}/providers/Microsoft.ApiManagement/service/can-aoai-smart-apim/apis/aoai-smart-api"));
    assert!(d.policy("other").is_none());
}

#[test]
fn seed_bodies_hold_the_topology_values() {
    let d = derived("examples/seed.yaml", None);
    let ra = d.get("role_assignment[eastus]").unwrap();
    // uuid5(ARM's guid() namespace, "<scope>-<role>-<identity id>"), lower case.
    assert_eq!(ra.name, "2c3f184a-9de8-5f6b-bff8-61f2667b2fb8");
    assert_eq!(
        ra.id,
        format!("{SEED_RG}/providers/Microsoft.CognitiveServices/accounts/can-aoai-smart-11/providers/Microsoft.Authorization/roleAssignments/2c3f184a-9de8-5f6b-bff8-61f2667b2fb8")
    );
    assert_eq!(ra.depends_on, ["account[eastus]", "apim"]);
    assert_eq!(
        ra.placeholders(),
        [Placeholder::Ref {
            address: "apim".into(),
            path: "identity.principalId".into()
        }]
    );
    assert_eq!(
        ra.body["properties"]["roleDefinitionId"],
        "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
    );
    let acct = d.get("account[canadaeast]").unwrap();
    assert_eq!(
        acct.body,
        json!({"location": "canadaeast", "tags": {}, "kind": "OpenAI", "sku": {"name": "S0"},
            "identity": {"type": "SystemAssigned"},
            "properties": {"customSubDomainName": "can-aoai-smart-21", "publicNetworkAccess": "Enabled",
                "disableLocalAuth": true, "restrictOutboundNetworkAccess": true}})
    );
    let apim = d.get("apim").unwrap();
    assert_eq!(apim.body["identity"], json!({"type": "SystemAssigned"}));
    assert_eq!(
        apim.body["sku"],
        json!({"name": "Developer", "capacity": 1})
    );
    // A classic tier: old protocols and ciphers off on both sides.
    assert_eq!(
        apim.body["properties"]["customProperties"]
            ["Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30"],
        "False"
    );
    assert_eq!(
        apim.body["properties"]["customProperties"]
            .as_object()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        d.get("api_policy[aoai-smart-api]").unwrap().placeholders(),
        [Placeholder::Policy {
            api: "aoai-smart-api".into()
        }]
    );
    let ai = d.get("application_insights").unwrap();
    assert_eq!(
        ai.body["properties"]["WorkspaceResourceId"],
        format!(
            "{SEED_RG}/providers/Microsoft.OperationalInsights/workspaces/can-aoai-log-analytics"
        )
    );
    let diag = d.get("api_diagnostic[aoai-smart-api]").unwrap();
    assert_eq!(diag.depends_on, ["api[aoai-smart-api]", "logger"]);
    assert_eq!(
        diag.body["properties"]["sampling"],
        json!({"samplingType": "fixed", "percentage": 5.0})
    );
    assert_eq!(
        diag.body["properties"]["frontend"]["request"]["body"],
        json!({"bytes": 32})
    );
}

#[test]
fn seed_policy_routes_and_outputs() {
    let d = derived("examples/seed.yaml", None);
    let p = d.policy("aoai-smart-api").unwrap();
    assert_eq!(p.mode, Mode::Policy);
    assert_eq!(p.audience, "https://cognitiveservices.azure.com");
    assert_eq!(
        (
            p.subscription_key_header.as_str(),
            p.subscription_key_query.as_str()
        ),
        ("api-key", "subscription-key")
    );
    assert_eq!(p.identity_client_id_named_value, None);
    assert_eq!(p.routes.len(), 1);
    let r = &p.routes[0];
    assert_eq!(
        (r.model.as_str(), r.pool_id.as_deref()),
        ("gpt-35-turbo", None)
    );
    let got: Vec<RouteRow> = r
        .backends
        .iter()
        .map(|b| {
            (
                b.name.as_str(),
                b.priority,
                b.weight,
                b.url.as_str(),
                b.deployment.as_str(),
                &b.auth,
                b.backend_id.as_deref(),
            )
        })
        .collect();
    let mi = RouteAuth::ManagedIdentity;
    assert_eq!(
        got,
        [
            (
                "eastus",
                1,
                120,
                "https://can-aoai-smart-11.openai.azure.com/openai",
                "gpt-35-turbo",
                &mi,
                None
            ),
            (
                "eastus2",
                1,
                120,
                "https://can-aoai-smart-12.openai.azure.com/openai",
                "gpt-35-turbo",
                &mi,
                None
            ),
            (
                "canadaeast",
                2,
                120,
                "https://can-aoai-smart-21.openai.azure.com/openai",
                "gpt-35-turbo",
                &mi,
                None
            ),
        ]
    );
    assert_eq!(
        d.outputs.gateway_url,
        "https://can-aoai-smart-apim.azure-api.net"
    );
    let apis: Vec<(&str, &str)> = d
        .outputs
        .apis
        .iter()
        .map(|a| (a.name.as_str(), a.url.as_str()))
        .collect();
    assert_eq!(
        apis,
        [(
            "aoai-smart-api",
            "https://can-aoai-smart-apim.azure-api.net/smart-api/openai"
        )]
    );
    let endpoints: Vec<(&str, &str)> = d
        .outputs
        .endpoints
        .iter()
        .map(|e| (e.backend.as_str(), e.endpoint.as_str()))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("eastus", "https://can-aoai-smart-11.openai.azure.com/"),
            ("eastus2", "https://can-aoai-smart-12.openai.azure.com/"),
            ("canadaeast", "https://can-aoai-smart-21.openai.azure.com/"),
        ]
    );
}

#[test]
fn pool_mode_has_a_breaker_backend_per_backend_and_a_pool_per_model() {
    let d = derived("examples/seed.yaml", Some(Mode::Pool));
    assert_eq!(d.mode, Mode::Pool);
    assert_eq!(
        addresses(&d, Kind::ApimBackend),
        [
            "backend[eastus/gpt-35-turbo]",
            "backend[eastus2/gpt-35-turbo]",
            "backend[canadaeast/gpt-35-turbo]",
            "pool[gpt-35-turbo]"
        ]
    );
    let apim = format!("{SEED_RG}/providers/Microsoft.ApiManagement/service/can-aoai-smart-apim");
    let b = d.get("backend[eastus2/gpt-35-turbo]").unwrap();
    assert_eq!(b.id, format!("{apim}/backends/eastus2-gpt-35-turbo"));
    assert_eq!(b.depends_on, ["apim"]);
    assert_eq!(
        b.body,
        json!({"properties": {
            "description": "eastus2 for gpt-35-turbo (oailb)",
            "type": "Single",
            "url": "https://can-aoai-smart-12.openai.azure.com/openai",
            "protocol": "http",
            "circuitBreaker": {"rules": [{
                "name": "throttling",
                "failureCondition": {"count": 1, "interval": "PT1M",
                    "statusCodeRanges": [{"min": 401, "max": 401}, {"min": 403, "max": 403}, {"min": 429, "max": 429}, {"min": 500, "max": 599}]},
                "tripDuration": "PT10S",
                "acceptRetryAfter": true,
            }]},
            "tls": {"validateCertificateChain": true, "validateCertificateName": true},
        }})
    );
    let pool = d.get("pool[gpt-35-turbo]").unwrap();
    assert_eq!(pool.id, format!("{apim}/backends/pool-gpt-35-turbo"));
    assert_eq!(
        pool.depends_on,
        [
            "backend[eastus/gpt-35-turbo]",
            "backend[eastus2/gpt-35-turbo]",
            "backend[canadaeast/gpt-35-turbo]"
        ]
    );
    assert_eq!(
        pool.body["properties"]["pool"]["services"],
        json!([
            {"id": format!("{apim}/backends/eastus-gpt-35-turbo"), "priority": 1, "weight": 100},
            {"id": format!("{apim}/backends/eastus2-gpt-35-turbo"), "priority": 1, "weight": 100},
            {"id": format!("{apim}/backends/canadaeast-gpt-35-turbo"), "priority": 2, "weight": 100},
        ])
    );
    assert!(pool.body["properties"].get("url").is_none());
    let r = &d.policy("aoai-smart-api").unwrap().routes[0];
    assert_eq!(r.pool_id.as_deref(), Some("pool-gpt-35-turbo"));
    assert_eq!(
        r.backends[2].backend_id.as_deref(),
        Some("canadaeast-gpt-35-turbo")
    );
    // The policy waits for the backends it names.
    assert!(d
        .get("api_policy[aoai-smart-api]")
        .unwrap()
        .depends_on
        .contains(&"pool[gpt-35-turbo]".to_string()));
}

#[test]
fn pool_weights_are_scaled_within_each_priority() {
    let d = derived("examples/ptu-spillover.yaml", Some(Mode::Pool));
    let services = &d.get("pool[gpt-4o]").unwrap().body["properties"]["pool"]["services"];
    let got: Vec<(u64, u64)> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["priority"].as_u64().unwrap(),
                s["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    // Capacities 50 | 150, 300 | 450: each against the largest of its priority.
    assert_eq!(got, [(1, 100), (2, 50), (2, 100), (3, 100)]);
}

#[test]
fn user_assigned_identity_and_unequal_weights() {
    let d = derived("examples/ptu-spillover.yaml", None);
    let rg = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-openai-ptu";
    let identity = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-ptu-gateway-identity");
    assert_eq!(d.get("identity").unwrap().id, identity);
    let apim = d.get("apim").unwrap();
    assert_eq!(apim.depends_on, ["resource_group", "identity"]);
    assert_eq!(
        apim.body["identity"],
        json!({"type": "UserAssigned", "userAssignedIdentities": {identity.clone(): {}}})
    );
    // StandardV2 is not a classic tier: no TLS custom properties.
    assert!(apim.body["properties"].get("customProperties").is_none());
    assert_eq!(
        d.get("role_assignment[uksouth]").unwrap().placeholders(),
        [Placeholder::Ref {
            address: "identity".into(),
            path: "properties.principalId".into()
        }]
    );
    assert_eq!(
        d.get("role_assignment[uksouth]").unwrap().depends_on,
        ["account[uksouth]", "identity"]
    );
    let nv = d.get("named_value[oailb-identity-client-id]").unwrap();
    assert_eq!(nv.depends_on, ["apim", "identity"]);
    assert_eq!(
        nv.body,
        json!({"properties": {"displayName": "oailb-identity-client-id", "secret": false,
            "value": placeholder::reference("identity", "properties.clientId")}})
    );
    assert_eq!(
        d.get("resource_group").unwrap().body["tags"],
        json!({"workload": "openai-gateway", "cost-center": "4711"})
    );
    let p = d.policy("openai").unwrap();
    assert_eq!(
        p.identity_client_id_named_value.as_deref(),
        Some("oailb-identity-client-id")
    );
    let weights: Vec<(&str, u32, u32)> = p.routes[0]
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.priority, b.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("sweden-ptu", 1, 50),
            ("francecentral", 2, 150),
            ("uksouth", 2, 300),
            ("global", 3, 450)
        ]
    );
    assert_eq!(
        d.get("deployment[sweden-ptu/gpt-4o]").unwrap().body["sku"],
        json!({"name": "ProvisionedManaged", "capacity": 50})
    );
}

#[test]
fn api_key_backends_route_with_their_named_value() {
    let d = derived("examples/multi-model.yaml", None);
    let nv = d.get("named_value[partner-api-key]").unwrap();
    assert_eq!(nv.write_only, ["properties.value"]);
    assert_eq!(
        nv.placeholders(),
        [Placeholder::SecretEnv {
            var: "PARTNER_OPENAI_KEY".into()
        }]
    );
    assert_eq!(nv.body["properties"]["secret"], true);
    // No account and no role for an existing API-key backend.
    assert!(d.get("account[partner]").is_none());
    assert!(d.get("role_assignment[partner]").is_none());
    assert_eq!(addresses(&d, Kind::RoleAssignment).len(), 3);
    assert_eq!(
        addresses(&d, Kind::ApimApiOperation),
        [
            "api_operation[openai/get-all]",
            "api_operation[openai/post-all]",
            "api_operation[openai/delete-all]"
        ]
    );
    let p = d.policy("openai").unwrap();
    let models: Vec<&str> = p.routes.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(models, ["gpt-4o", "text-embedding-3-large"]);
    let partner = p.routes[0]
        .backends
        .iter()
        .find(|b| b.name == "partner")
        .unwrap();
    assert_eq!(
        (
            partner.priority,
            partner.weight,
            partner.url.as_str(),
            partner.deployment.as_str()
        ),
        (
            2,
            80,
            "https://partner-openai.openai.azure.com/openai",
            "gpt4o-prod"
        )
    );
    assert_eq!(
        partner.auth,
        RouteAuth::ApiKey {
            named_value: "partner-api-key".into()
        }
    );
    let embed: Vec<&str> = p.routes[1]
        .backends
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(embed, ["eastus2", "swedencentral"]);
}

#[test]
fn pool_credentials_key_vault_and_a_second_gateway_location() {
    let d = derived("tests/render/pool-api-keys.yaml", None);
    let apim = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-openai-partners/providers/Microsoft.ApiManagement/service/contoso-partner-gateway";
    let a = d.get("backend[partner-a/gpt-4o]").unwrap();
    assert_eq!(a.depends_on, ["apim", "named_value[partner-a-api-key]"]);
    assert_eq!(
        a.body["properties"]["credentials"],
        json!({"header": {"api-key": ["{{partner-a-api-key}}"]}})
    );
    assert_eq!(
        a.body["properties"]["url"],
        "https://partner-a.openai.azure.com/openai"
    );
    let b = d.get("named_value[partner-b-api-key]").unwrap();
    assert_eq!(b.write_only, Vec::<&str>::new());
    assert_eq!(
        b.body["properties"]["keyVault"],
        json!({"secretIdentifier": "https://contoso-kv.vault.azure.net/secrets/partner-b-key",
            "identityClientId": placeholder::reference("identity", "properties.clientId")})
    );
    assert_eq!(b.id, format!("{apim}/namedValues/partner-b-api-key"));
    // The gateway and its identity in the APIM location, the rest in the group's.
    assert_eq!(d.get("apim").unwrap().location(), Some("northeurope"));
    assert_eq!(d.get("identity").unwrap().location(), Some("northeurope"));
    assert_eq!(
        d.get("resource_group").unwrap().location(),
        Some("westeurope")
    );
    assert_eq!(d.policies.len(), 2);
    assert_eq!(
        d.get("api[openai-spec]").unwrap().placeholders(),
        [Placeholder::File {
            path: "openapi.json".into()
        }]
    );
    assert_eq!(
        addresses(&d, Kind::LogAnalyticsWorkspace),
        Vec::<&str>::new()
    );
    assert_eq!(addresses(&d, Kind::ApimLogger), Vec::<&str>::new());
}

#[test]
fn existing_accounts_are_scoped_by_their_own_subscription() {
    let d = derive(
        &load("tests/render/existing-accounts.yaml", None).topology,
        None,
    );
    // The topology names its subscription.
    assert_eq!(d.subscription, "22222222-2222-2222-2222-222222222222");
    assert!(d.subscription_known);
    let shared = "/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-shared-ai/providers/Microsoft.CognitiveServices/accounts/shared-openai";
    let ra = d.get("role_assignment[shared]").unwrap();
    assert!(ra.id.starts_with(&format!(
        "{shared}/providers/Microsoft.Authorization/roleAssignments/"
    )));
    assert_eq!(ra.depends_on, ["apim"]);
    assert_eq!(
        ra.body["properties"]["roleDefinitionId"],
        "/subscriptions/33333333-3333-3333-3333-333333333333/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
    );
    assert!(d.get("account[shared]").is_none());
    let dep = d.get("deployment[virginia/gpt-4o]").unwrap();
    assert_eq!(
        dep.body["properties"],
        json!({"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-11-20"},
            "versionUpgradeOption": "OnceCurrentVersionExpired", "raiPolicyName": "strict-filter"})
    );
    let p = d.policy("openai").unwrap();
    assert_eq!(p.audience, "https://cognitiveservices.azure.us");
    assert_eq!(
        p.routes[0].backends[1].url,
        "https://shared-openai.openai.azure.us/openai"
    );
    assert_eq!(
        d.outputs.gateway_url,
        "https://contoso-gov-gateway.azure-api.us"
    );
    // Without a subscription anywhere, ids carry the token.
    let mut t = load("tests/render/existing-accounts.yaml", None).topology;
    t.subscription = None;
    let d = derive(&t, None);
    assert!(!d.subscription_known);
    assert_eq!(
        d.get("resource_group").unwrap().id,
        "/subscriptions/{subscriptionId}/resourceGroups/rg-openai-gov"
    );
}

#[test]
fn naming_is_fixed() {
    assert_eq!(
        naming::resource_group_id("s", "rg"),
        "/subscriptions/s/resourceGroups/rg"
    );
    assert_eq!(
        naming::provider_id("s", "rg", "A.B/c/d"),
        "/subscriptions/s/resourceGroups/rg/providers/A.B/c/d"
    );
    assert_eq!(
        naming::role_definition_id("s"),
        "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
    );
    assert_eq!(naming::subscription_of("/SUBSCRIPTIONS/abc/x"), Some("abc"));
    assert_eq!(naming::subscription_of("/providers/x"), None);
    assert_eq!(naming::apim_pool_id("gpt-4o"), "pool-gpt-4o");
    assert_eq!(naming::api_key_named_value("partner"), "partner-api-key");
    // 105 characters: cut to 71, trimmed of the separator, and a hash.
    let long = format!("{}-{}1", "b".repeat(40), "m".repeat(63));
    assert_eq!(
        naming::apim_backend_id(&"b".repeat(40), &format!("{}1", "m".repeat(63))),
        format!("{}-{}-b8055dfe", "b".repeat(40), "m".repeat(30))
    );
    assert_eq!(long.len(), 105);
    // 80 fits as it is.
    let eighty = "x".repeat(72);
    assert_eq!(
        naming::apim_backend_id(&eighty, "model-1"),
        format!("{eighty}-model-1")
    );
    let table = [
        (address::account("b"), "account[b]"),
        (address::deployment("b", "m"), "deployment[b/m]"),
        (address::role_assignment("b"), "role_assignment[b]"),
        (address::named_value("n"), "named_value[n]"),
        (address::backend("b", "m"), "backend[b/m]"),
        (address::pool("m"), "pool[m]"),
        (address::api("a"), "api[a]"),
        (address::operation("a", "o"), "api_operation[a/o]"),
        (address::api_policy("a"), "api_policy[a]"),
        (address::diagnostic("a"), "api_diagnostic[a]"),
    ];
    for (got, want) in table {
        assert_eq!(got, want);
    }
}

#[test]
fn placeholders_round_trip_and_are_found_everywhere() {
    let all = [
        (
            Placeholder::Ref {
                address: "a".into(),
                path: "p.q".into(),
            },
            json!({"$oailb": "ref", "address": "a", "path": "p.q"}),
            false,
        ),
        (
            Placeholder::SecretEnv { var: "V".into() },
            json!({"$oailb": "secret-env", "var": "V"}),
            true,
        ),
        (
            Placeholder::Policy { api: "x".into() },
            json!({"$oailb": "policy", "api": "x"}),
            false,
        ),
        (
            Placeholder::File {
                path: "f.json".into(),
            },
            json!({"$oailb": "file", "path": "f.json"}),
            false,
        ),
    ];
    for (p, v, secret) in &all {
        assert_eq!(&p.to_value(), v);
        assert_eq!(Placeholder::from_value(v).as_ref(), Some(p));
        assert_eq!(p.is_secret(), *secret);
    }
    assert_eq!(Placeholder::from_value(&json!({"$oailb": "other"})), None);
    assert_eq!(
        Placeholder::from_value(&json!({"$oailb": "ref", "address": "a"})),
        None
    );
    let body = json!({"a": [1, all[1].1.clone(), {"b": all[0].1.clone()}], "c": all[3].1.clone()});
    assert_eq!(
        placeholder::collect(&body),
        [all[1].0.clone(), all[0].0.clone(), all[3].0.clone()]
    );
    let out =
        placeholder::substitute::<()>(&body, &mut |p| Ok(json!(format!("{p:?}").len()))).unwrap();
    assert_eq!(out["a"][0], 1);
    assert!(out["a"][1].is_number() && out["a"][2]["b"].is_number() && out["c"].is_number());
    assert_eq!(placeholder::get_path(&json!({"a": {"b": 2}}), "a.c"), None);
    assert_eq!(
        placeholder::get_path(&json!({"a": {"b": 2}}), "a"),
        Some(&json!({"b": 2}))
    );
    let failed: Result<Value, &str> = placeholder::substitute(&body, &mut |_| Err("no"));
    assert_eq!(failed, Err("no"));
}

#[test]
fn derivation_is_pure() {
    // No subscription from the caller: the topology's, else the token.
    let t = load("examples/seed.yaml", None).topology;
    let d = derive(&t, None);
    assert_eq!(d.subscription, naming::SUBSCRIPTION_TOKEN);
    assert!(d
        .get("apim")
        .unwrap()
        .id
        .starts_with("/subscriptions/{subscriptionId}/"));
    let text = include_str!("../../examples/seed.yaml");
    let again = derive(
        &topology::load(Source::new("seed.yaml", text))
            .unwrap()
            .topology,
        None,
    );
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}
