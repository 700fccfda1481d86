//! What each example must become in Azure, written by hand from the example
//! file and Azure's documentation, not computed by oailb: ARM ids (names,
//! parents and paths), types, API versions, SKUs, capacities, model
//! versions, the role definition and the API path. `main.rs` checks every
//! value against all three outputs (the desired state `deploy` sends, the
//! Terraform and the Bicep), so the outputs are not only equal to each
//! other but right.
//!
//! Sources: API versions from the ARM REST references (API Management
//! 2024-05-01, the first stable version with backend pools; Cognitive
//! Services 2025-09-01, a stable version with the deployment property
//! `spilloverDeploymentName`; role assignments 2022-04-01; Insights components
//! 2020-02-02; Log Analytics workspaces 2023-09-01; managed identities
//! 2023-01-31; resource groups 2021-04-01). The role is the built-in
//! "Cognitive Services OpenAI User", id 5e0bd9bd-7b93-4f28-af87-19fc36ad61bd
//! (Azure built-in roles, AI + machine learning). SKU names and capacities
//! are the example files' own, in ARM's spelling (`Developer` with capacity
//! 1, `S0` accounts of kind `OpenAI`, deployment SKUs `Standard`,
//! `ProvisionedManaged`, `GlobalStandard`).

use serde_json::{json, Value};

/// One resource as it must be: matched by exact id, or by id prefix where
/// the last segment is a GUID (role assignments).
pub struct Expected {
    pub id: String,
    pub prefix: bool,
    pub arm_type: &'static str,
    pub api_version: &'static str,
    /// (dotted ARM path, value).
    pub values: Vec<(&'static str, Value)>,
}

const SUB: &str = "/subscriptions/{subscriptionId}";
const OPENAI_USER: &str =
    "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

fn e(
    id: String,
    arm_type: &'static str,
    api_version: &'static str,
    values: Vec<(&'static str, Value)>,
) -> Expected {
    Expected {
        id,
        prefix: false,
        arm_type,
        api_version,
        values,
    }
}

fn resource_group(id: &str, values: Vec<(&'static str, Value)>) -> Expected {
    e(
        id.to_string(),
        "Microsoft.Resources/resourceGroups",
        "2021-04-01",
        values,
    )
}

fn apim_service(id: &str, values: Vec<(&'static str, Value)>) -> Expected {
    e(
        id.to_string(),
        "Microsoft.ApiManagement/service",
        "2024-05-01",
        values,
    )
}

fn rg(name: &str) -> String {
    format!("{SUB}/resourceGroups/{name}")
}

fn account(rg_id: &str, name: &str, location: &str) -> Expected {
    account_of_kind(rg_id, name, location, "OpenAI")
}

/// `kind`: `OpenAI`, or `AIServices` for a Foundry resource.
fn account_of_kind(rg_id: &str, name: &str, location: &str, kind: &str) -> Expected {
    e(
        format!("{rg_id}/providers/Microsoft.CognitiveServices/accounts/{name}"),
        "Microsoft.CognitiveServices/accounts",
        "2025-09-01",
        vec![
            ("location", json!(location)),
            ("kind", json!(kind)),
            ("sku.name", json!("S0")),
            ("identity.type", json!("SystemAssigned")),
            // Entra ID (token) authentication needs a custom subdomain.
            ("properties.customSubDomainName", json!(name)),
            ("properties.disableLocalAuth", json!(true)),
        ],
    )
}

fn deployment(
    rg_id: &str,
    account: &str,
    name: &str,
    model: &str,
    version: &str,
    sku: &str,
    capacity: u32,
) -> Expected {
    e(
        format!(
            "{rg_id}/providers/Microsoft.CognitiveServices/accounts/{account}/deployments/{name}"
        ),
        "Microsoft.CognitiveServices/accounts/deployments",
        "2025-09-01",
        vec![
            ("sku.name", json!(sku)),
            ("sku.capacity", json!(capacity)),
            ("properties.model.format", json!("OpenAI")),
            ("properties.model.name", json!(model)),
            ("properties.model.version", json!(version)),
        ],
    )
}

/// The gateway's role on one account; `principal` is the identity's
/// principal id as the outputs reference it.
fn role(rg_id: &str, account: &str, principal: &str) -> Expected {
    Expected {
        id: format!(
            "{rg_id}/providers/Microsoft.CognitiveServices/accounts/{account}/providers/Microsoft.Authorization/roleAssignments/"
        ),
        prefix: true,
        arm_type: "Microsoft.Authorization/roleAssignments",
        api_version: "2022-04-01",
        values: vec![
            ("properties.roleDefinitionId", json!(OPENAI_USER)),
            ("properties.principalId", json!(principal)),
            ("properties.principalType", json!("ServicePrincipal")),
        ],
    }
}

fn apim_child(
    apim: &str,
    path: &str,
    arm_type: &'static str,
    values: Vec<(&'static str, Value)>,
) -> Expected {
    e(format!("{apim}/{path}"), arm_type, "2024-05-01", values)
}

fn monitoring(rg_id: &str, workspace: &str, insights: &str) -> Vec<Expected> {
    let ws = format!("{rg_id}/providers/Microsoft.OperationalInsights/workspaces/{workspace}");
    vec![
        e(
            ws.clone(),
            "Microsoft.OperationalInsights/workspaces",
            "2023-09-01",
            vec![("properties.sku.name", json!("PerGB2018"))],
        ),
        // Workspace-based: classic Application Insights cannot be created.
        e(
            format!("{rg_id}/providers/Microsoft.Insights/components/{insights}"),
            "Microsoft.Insights/components",
            "2020-02-02",
            vec![
                ("kind", json!("web")),
                ("properties.Application_Type", json!("web")),
                ("properties.WorkspaceResourceId", json!(ws)),
            ],
        ),
    ]
}

/// examples/seed.yaml: the seed document's sample.
pub fn seed() -> Vec<Expected> {
    let rg_id = rg("can-aoai-smart-load");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/can-aoai-smart-apim");
    let principal = format!("ref:{apim}:identity.principalId");
    let mut v = vec![
        resource_group(&rg_id, vec![("location", json!("eastus"))]),
        apim_service(
            &apim,
            vec![
                ("location", json!("eastus")),
                ("sku.name", json!("Developer")),
                ("sku.capacity", json!(1)),
                ("identity.type", json!("SystemAssigned")),
                ("properties.publisherName", json!("Contoso Ltd.")),
                ("properties.publisherEmail", json!("test@contoso.com")),
            ],
        ),
    ];
    v.extend(monitoring(
        &rg_id,
        "can-aoai-log-analytics",
        "can-aoai-app-insights",
    ));
    for (name, location) in [
        ("can-aoai-smart-11", "eastus"),
        ("can-aoai-smart-12", "eastus2"),
        ("can-aoai-smart-21", "canadaeast"),
    ] {
        v.push(account(&rg_id, name, location));
        v.push(deployment(
            &rg_id,
            name,
            "gpt-35-turbo",
            "gpt-35-turbo",
            "0613",
            "Standard",
            120,
        ));
        v.push(role(&rg_id, name, &principal));
    }
    let insights = format!("{rg_id}/providers/Microsoft.Insights/components/can-aoai-app-insights");
    v.push(apim_child(
        &apim,
        "loggers/apimlogger",
        "Microsoft.ApiManagement/service/loggers",
        vec![
            ("properties.loggerType", json!("applicationInsights")),
            ("properties.resourceId", json!(insights)),
        ],
    ));
    v.push(apim_child(
        &apim,
        "apis/aoai-smart-api",
        "Microsoft.ApiManagement/service/apis",
        vec![
            ("properties.path", json!("smart-api/openai")),
            ("properties.protocols", json!(["https"])),
            ("properties.subscriptionKeyParameterNames", json!({"header": "api-key", "query": "subscription-key"})),
            ("properties.format", json!("openapi+json-link")),
            (
                "properties.value",
                json!("https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/specification/cognitiveservices/data-plane/AzureOpenAI/inference/preview/2023-12-01-preview/inference.json"),
            ),
        ],
    ));
    v.push(apim_child(
        &apim,
        "apis/aoai-smart-api/policies/policy",
        "Microsoft.ApiManagement/service/apis/policies",
        vec![("properties.format", json!("rawxml"))],
    ));
    v.push(apim_child(
        &apim,
        "apis/aoai-smart-api/diagnostics/applicationinsights",
        "Microsoft.ApiManagement/service/apis/diagnostics",
        vec![
            (
                "properties.loggerId",
                json!(format!("{apim}/loggers/apimlogger")),
            ),
            (
                "properties.sampling",
                json!({"samplingType": "fixed", "percentage": 5}),
            ),
            ("properties.alwaysLog", json!("allErrors")),
            ("properties.httpCorrelationProtocol", json!("W3C")),
            ("properties.verbosity", json!("verbose")),
            ("properties.logClientIp", json!(true)),
        ],
    ));
    v
}

/// examples/ptu-spillover.yaml: a user-assigned identity, PTU first.
pub fn ptu_spillover() -> Vec<Expected> {
    let rg_id = rg("rg-openai-ptu");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/contoso-ptu-gateway");
    let identity = format!("{rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-ptu-gateway-identity");
    let principal = format!("ref:{identity}:properties.principalId");
    let mut v = vec![
        resource_group(
            &rg_id,
            vec![
                ("location", json!("swedencentral")),
                (
                    "tags",
                    json!({"workload": "openai-gateway", "cost-center": "4711"}),
                ),
            ],
        ),
        e(
            identity.clone(),
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "2023-01-31",
            vec![("location", json!("swedencentral"))],
        ),
        apim_service(
            &apim,
            vec![
                ("sku.name", json!("StandardV2")),
                ("sku.capacity", json!(1)),
                ("identity.type", json!("UserAssigned")),
                (
                    "identity.userAssignedIdentities",
                    json!({identity.clone(): {}}),
                ),
            ],
        ),
    ];
    v.extend(monitoring(
        &rg_id,
        "contoso-ptu-gateway-logs",
        "contoso-ptu-gateway-insights",
    ));
    for (backend, location, sku, capacity) in [
        ("sweden-ptu", "swedencentral", "ProvisionedManaged", 50),
        ("francecentral", "francecentral", "Standard", 150),
        ("uksouth", "uksouth", "Standard", 300),
        ("global", "eastus2", "GlobalStandard", 450),
    ] {
        let name = format!("contoso-ptu-gateway-{backend}");
        v.push(account(&rg_id, &name, location));
        v.push(deployment(
            &rg_id,
            &name,
            "gpt-4o",
            "gpt-4o",
            "2024-11-20",
            sku,
            capacity,
        ));
        v.push(role(&rg_id, &name, &principal));
    }
    v.push(apim_child(
        &apim,
        "namedValues/oailb-identity-client-id",
        "Microsoft.ApiManagement/service/namedValues",
        vec![
            ("properties.secret", json!(false)),
            (
                "properties.value",
                json!(format!("ref:{identity}:properties.clientId")),
            ),
        ],
    ));
    v.push(apim_child(
        &apim,
        "apis/openai",
        "Microsoft.ApiManagement/service/apis",
        vec![
            ("properties.path", json!("openai")),
            (
                "properties.subscriptionKeyParameterNames",
                json!({"header": "api-key", "query": "subscription-key"}),
            ),
        ],
    ));
    v.push(apim_child(
        &apim,
        "apis/openai/diagnostics/applicationinsights",
        "Microsoft.ApiManagement/service/apis/diagnostics",
        vec![
            (
                "properties.loggerId",
                json!(format!("{apim}/loggers/appinsights-logger")),
            ),
            (
                "properties.sampling",
                json!({"samplingType": "fixed", "percentage": 10}),
            ),
        ],
    ));
    v
}

/// examples/multi-model.yaml: two models, a wildcard API, an API-key partner.
pub fn multi_model() -> Vec<Expected> {
    let rg_id = rg("rg-openai-multi");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/contoso-multi-gateway");
    let principal = format!("ref:{apim}:identity.principalId");
    let mut v = vec![
        resource_group(&rg_id, vec![("location", json!("eastus2"))]),
        apim_service(
            &apim,
            vec![
                ("sku.name", json!("Developer")),
                ("sku.capacity", json!(1)),
                ("identity.type", json!("SystemAssigned")),
            ],
        ),
    ];
    v.extend(monitoring(
        &rg_id,
        "contoso-multi-logs",
        "contoso-multi-insights",
    ));
    for (backend, location) in [
        ("eastus2", "eastus2"),
        ("westus3", "westus3"),
        ("swedencentral", "swedencentral"),
    ] {
        let name = format!("contoso-multi-gateway-{backend}");
        v.push(account(&rg_id, &name, location));
        v.push(role(&rg_id, &name, &principal));
    }
    for (backend, model, version, capacity) in [
        ("eastus2", "gpt-4o", "2024-11-20", 100),
        ("eastus2", "text-embedding-3-large", "1", 120),
        ("westus3", "gpt-4o", "2024-11-20", 100),
        ("swedencentral", "text-embedding-3-large", "1", 120),
    ] {
        let name = format!("contoso-multi-gateway-{backend}");
        v.push(deployment(
            &rg_id, &name, model, model, version, "Standard", capacity,
        ));
    }
    // The partner's key: a secret named value, its value never in the output.
    v.push(apim_child(
        &apim,
        "namedValues/partner-api-key",
        "Microsoft.ApiManagement/service/namedValues",
        vec![
            ("properties.displayName", json!("partner-api-key")),
            ("properties.secret", json!(true)),
        ],
    ));
    v.push(apim_child(
        &apim,
        "apis/openai",
        "Microsoft.ApiManagement/service/apis",
        vec![
            ("properties.path", json!("openai")),
            (
                "properties.displayName",
                json!("Azure OpenAI (load balanced)"),
            ),
        ],
    ));
    for (op, method) in [
        ("get-all", "GET"),
        ("post-all", "POST"),
        ("delete-all", "DELETE"),
    ] {
        v.push(apim_child(
            &apim,
            &format!("apis/openai/operations/{op}"),
            "Microsoft.ApiManagement/service/apis/operations",
            vec![
                ("properties.method", json!(method)),
                ("properties.urlTemplate", json!("/*")),
            ],
        ));
    }
    v
}

/// examples/multi-region.yaml: APIM Premium in Sweden Central with a
/// second gateway region (West Europe, 2 units over zones 1 and 2), and one
/// Azure Managed Redis cache every gateway region uses (APIM `caches` id and
/// `useFromLocation` both `default`), connected through a secret named
/// value. Azure Managed Redis 2025-07-01: the first stable API version with
/// the Balanced SKUs; its one database is always named `default`.
pub fn multi_region() -> Vec<Expected> {
    let rg_id = rg("rg-openai-multiregion");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/contoso-mr-gateway");
    let principal = format!("ref:{apim}:identity.principalId");
    let cache =
        format!("{rg_id}/providers/Microsoft.Cache/redisEnterprise/contoso-mr-gateway-cache");
    let mut v = vec![
        resource_group(
            &rg_id,
            vec![
                ("location", json!("swedencentral")),
                ("tags", json!({"workload": "openai-gateway"})),
            ],
        ),
        apim_service(
            &apim,
            vec![
                ("location", json!("swedencentral")),
                ("sku.name", json!("Premium")),
                ("sku.capacity", json!(1)),
                ("identity.type", json!("SystemAssigned")),
                (
                    "properties.additionalLocations",
                    json!([{"location": "westeurope", "sku": {"name": "Premium", "capacity": 2}, "zones": ["1", "2"]}]),
                ),
            ],
        ),
        e(
            cache.clone(),
            "Microsoft.Cache/redisEnterprise",
            "2025-07-01",
            vec![
                ("location", json!("swedencentral")),
                ("sku.name", json!("Balanced_B1")),
                ("properties.highAvailability", json!("Enabled")),
            ],
        ),
        e(
            format!("{cache}/databases/default"),
            "Microsoft.Cache/redisEnterprise/databases",
            "2025-07-01",
            vec![
                // APIM's client speaks TLS and is not cluster-aware, and it
                // authenticates with an access key only.
                ("properties.clientProtocol", json!("Encrypted")),
                ("properties.clusteringPolicy", json!("EnterpriseCluster")),
                ("properties.accessKeysAuthentication", json!("Enabled")),
            ],
        ),
        apim_child(
            &apim,
            "namedValues/oailb-cache-default",
            "Microsoft.ApiManagement/service/namedValues",
            vec![("properties.secret", json!(true))],
        ),
        apim_child(
            &apim,
            "caches/default",
            "Microsoft.ApiManagement/service/caches",
            vec![
                ("properties.useFromLocation", json!("default")),
                (
                    "properties.connectionString",
                    json!("{{oailb-cache-default}}"),
                ),
            ],
        ),
    ];
    for (backend, location, sku, capacity) in [
        ("sweden", "swedencentral", "DataZoneStandard", 200),
        ("westeurope", "westeurope", "DataZoneStandard", 200),
        ("global", "germanywestcentral", "GlobalStandard", 500),
    ] {
        let name = format!("contoso-mr-gateway-{backend}");
        v.push(account(&rg_id, &name, location));
        v.push(deployment(
            &rg_id,
            &name,
            "gpt-5-mini",
            "gpt-5-mini",
            "2025-08-07",
            sku,
            capacity,
        ));
        v.push(role(&rg_id, &name, &principal));
    }
    v
}

/// examples/foundry.yaml: a Foundry resource (`kind: AIServices`) whose
/// global provisioned gpt-5.1 deployment spills over to a GlobalStandard
/// one (`spilloverDeploymentName`, Cognitive Services 2025-09-01), named
/// `<deployment>-spillover` by default; an existing Foundry endpoint with
/// its key in Key Vault.
pub fn foundry() -> Vec<Expected> {
    let rg_id = rg("rg-openai-foundry");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/contoso-foundry-gateway");
    let principal = format!("ref:{apim}:identity.principalId");
    let name = "contoso-foundry-gateway-eastus2";
    let mut provisioned = deployment(
        &rg_id,
        name,
        "gpt-5.1",
        "gpt-5.1",
        "2025-11-13",
        "GlobalProvisionedManaged",
        15,
    );
    provisioned.values.push((
        "properties.spilloverDeploymentName",
        json!("gpt-5.1-spillover"),
    ));
    vec![
        resource_group(&rg_id, vec![("location", json!("eastus2"))]),
        apim_service(
            &apim,
            vec![
                ("location", json!("eastus2")),
                ("sku.name", json!("BasicV2")),
                ("sku.capacity", json!(1)),
            ],
        ),
        account_of_kind(&rg_id, name, "eastus2", "AIServices"),
        deployment(
            &rg_id,
            name,
            "gpt-5.1-spillover",
            "gpt-5.1",
            "2025-11-13",
            "GlobalStandard",
            200,
        ),
        provisioned,
        role(&rg_id, name, &principal),
        apim_child(
            &apim,
            "namedValues/research-api-key",
            "Microsoft.ApiManagement/service/namedValues",
            vec![
                ("properties.secret", json!(true)),
                (
                    "properties.keyVault.secretIdentifier",
                    json!(
                        "https://contoso-platform-kv.vault.azure.net/secrets/research-foundry-key"
                    ),
                ),
            ],
        ),
    ]
}

/// The API version the azurerm provider (the rendered `~> 4.55`) uses for
/// each resource type oailb writes with it, as its documentation states it
/// ("API Providers" in the resource's page), or "" where no source at hand
/// states it for the 4.x line; and why a difference from what `deploy` and
/// Bicep use does not matter. The attributes themselves are checked against
/// the azurerm 4.55 schema by check-terraform (scripts/validators.sh). A
/// type missing here fails the test: whoever adds an azurerm resource looks
/// its API version up.
/// examples/teams.yaml: three consumers (a tier product with `search`, the
/// open product of the Entra-only `support-bot`, a product of its own for
/// `analytics`), their subscriptions, the policies of each product, custom
/// metric dimensions on Application Insights and the usage workbook, whose
/// name is Python's `uuid5(ARM guid() namespace,
/// "rg-openai-teams-contoso-teams-gateway-insights-oailb-workbook")`.
pub fn teams() -> Vec<Expected> {
    let rg_id = rg("rg-openai-teams");
    let apim = format!("{rg_id}/providers/Microsoft.ApiManagement/service/contoso-teams-gateway");
    let principal = format!("ref:{apim}:identity.principalId");
    let insights =
        format!("{rg_id}/providers/Microsoft.Insights/components/contoso-teams-gateway-insights");
    let mut v = vec![
        resource_group(
            &rg_id,
            vec![
                ("location", json!("swedencentral")),
                ("tags", json!({"workload": "openai-gateway"})),
            ],
        ),
        apim_service(
            &apim,
            vec![
                ("sku.name", json!("StandardV2")),
                ("sku.capacity", json!(1)),
                ("identity.type", json!("SystemAssigned")),
            ],
        ),
    ];
    v.extend(monitoring(
        &rg_id,
        "contoso-teams-gateway-logs",
        "contoso-teams-gateway-insights",
    ));
    // Token metrics keep their dimensions only with this opt-in.
    v.push(e(
        insights.clone(),
        "Microsoft.Insights/components",
        "2020-02-02",
        vec![(
            "properties.CustomMetricsOptedInType",
            json!("WithDimensions"),
        )],
    ));
    for (backend, location) in [
        ("sweden", "swedencentral"),
        ("france", "francecentral"),
        ("useast", "eastus2"),
    ] {
        let name = format!("contoso-teams-gateway-{backend}");
        v.push(account(&rg_id, &name, location));
        v.push(deployment(
            &rg_id,
            &name,
            "gpt-5-mini",
            "gpt-5-mini",
            "2025-08-07",
            "GlobalStandard",
            200,
        ));
        v.push(deployment(
            &rg_id,
            &name,
            "gpt-5",
            "gpt-5",
            "2025-08-07",
            "GlobalStandard",
            100,
        ));
        v.push(role(&rg_id, &name, &principal));
    }
    let product = |id: &str, values: Vec<(&'static str, Value)>| {
        apim_child(
            &apim,
            &format!("products/{id}"),
            "Microsoft.ApiManagement/service/products",
            values,
        )
    };
    v.push(product(
        "tier-standard",
        vec![
            ("properties.displayName", json!("standard tier")),
            (
                "properties.description",
                json!("Internal applications with a shared budget per team"),
            ),
            ("properties.subscriptionRequired", json!(true)),
            ("properties.approvalRequired", json!(true)),
            ("properties.state", json!("published")),
        ],
    ));
    v.push(product(
        "consumer-analytics",
        vec![
            ("properties.displayName", json!("analytics")),
            ("properties.description", json!("Nightly report generation")),
            ("properties.subscriptionRequired", json!(true)),
            ("properties.approvalRequired", json!(true)),
            ("properties.state", json!("published")),
        ],
    ));
    // APIM's open product: calls without a key land here.
    v.push(product(
        "oailb-entra",
        vec![
            ("properties.subscriptionRequired", json!(false)),
            ("properties.state", json!("published")),
        ],
    ));
    for id in ["tier-standard", "consumer-analytics", "oailb-entra"] {
        v.push(apim_child(
            &apim,
            &format!("products/{id}/policies/policy"),
            "Microsoft.ApiManagement/service/products/policies",
            vec![("properties.format", json!("rawxml"))],
        ));
        v.push(apim_child(
            &apim,
            &format!("products/{id}/apis/openai"),
            "Microsoft.ApiManagement/service/products/apis",
            vec![],
        ));
    }
    for (consumer, product) in [
        ("search", "tier-standard"),
        ("analytics", "consumer-analytics"),
    ] {
        v.push(apim_child(
            &apim,
            &format!("subscriptions/{consumer}"),
            "Microsoft.ApiManagement/service/subscriptions",
            vec![
                ("properties.displayName", json!(consumer)),
                (
                    "properties.scope",
                    json!(format!("{apim}/products/{product}")),
                ),
                ("properties.state", json!("active")),
                ("properties.allowTracing", json!(false)),
            ],
        ));
    }
    v.push(e(
        format!(
            "{rg_id}/providers/Microsoft.Insights/workbooks/a3969f06-5ec9-55ee-9ab1-7c29c92d0c2a"
        ),
        "Microsoft.Insights/workbooks",
        "2023-06-01",
        vec![
            ("location", json!("swedencentral")),
            ("kind", json!("shared")),
            ("properties.category", json!("workbook")),
            ("properties.sourceId", json!(insights.to_ascii_lowercase())),
        ],
    ));
    v
}

pub const AZURERM: &[(&str, &str, &str)] = &[
    (
        "Microsoft.Resources/resourceGroups",
        "",
        "location and tags only",
    ),
    (
        "Microsoft.OperationalInsights/workspaces",
        "",
        "provider's choice; sku and retention only",
    ),
    (
        "Microsoft.Insights/components",
        "",
        "provider's choice; workspace-based component",
    ),
    (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "",
        "location and tags only",
    ),
    (
        "Microsoft.CognitiveServices/accounts",
        "",
        "provider's choice",
    ),
    (
        "Microsoft.CognitiveServices/accounts/deployments",
        "",
        "provider's choice",
    ),
    ("Microsoft.ApiManagement/service", "2024-05-01", ""),
    (
        "Microsoft.ApiManagement/service/products",
        "",
        "provider's choice",
    ),
    (
        "Microsoft.ApiManagement/service/products/apis",
        "",
        "provider's choice; a link without a body",
    ),
    (
        "Microsoft.ApiManagement/service/products/policies",
        "",
        "provider's choice",
    ),
    (
        "Microsoft.ApiManagement/service/subscriptions",
        "",
        "provider's choice",
    ),
    ("Microsoft.Insights/workbooks", "", "provider's choice"),
    (
        "Microsoft.Authorization/roleAssignments",
        "",
        "provider's choice; three properties",
    ),
    (
        "Microsoft.ApiManagement/service/namedValues",
        "",
        "provider's choice",
    ),
    (
        "Microsoft.ApiManagement/service/apis",
        "2022-08-01",
        "no property oailb sets on an API is newer than 2022-08-01",
    ),
    (
        "Microsoft.ApiManagement/service/apis/operations",
        "",
        "method and urlTemplate only",
    ),
    (
        "Microsoft.ApiManagement/service/apis/policies",
        "2022-08-01",
        "format and value only",
    ),
    (
        "Microsoft.ApiManagement/service/loggers",
        "",
        "provider's choice",
    ),
    // azurerm_managed_redis: the cluster and, inside it, its database.
    ("Microsoft.Cache/redisEnterprise", "2025-07-01", ""),
    (
        "Microsoft.Cache/redisEnterprise/databases",
        "2025-07-01",
        "",
    ),
    (
        "Microsoft.ApiManagement/service/caches",
        "",
        "provider's choice; connection string, location and description only",
    ),
];
