//! One model, three outputs: for every example and fixture in both modes,
//! the Terraform and the Bicep that `oailb render all` writes describe
//! exactly the resources of the desired state (what `oailb deploy` sends),
//! with the same key properties.
//!
//! Nothing here trusts the renderers: the written files are parsed and
//! evaluated (`terraform.rs`, `bicep.rs`) and the resulting ARM resources
//! are compared with the desired state field by field.

mod bicep;
mod expected;
mod terraform;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use oailb::desired::{self, placeholder, Desired, Kind, Placeholder};
use oailb::render::iac;
use oailb::render::Templates;
use oailb::topology::{self, Mode};
use serde_json::{json, Value};

/// One ARM resource as an output describes it.
#[derive(Debug, Clone)]
pub struct Record {
    pub arm_type: String,
    pub id: String,
    /// Set when the output names the API version itself (Bicep, azapi).
    pub api_version: Option<String>,
    pub body: Value,
}

const CASES: &[&str] = &[
    "examples/seed.yaml",
    "examples/ptu-spillover.yaml",
    "examples/multi-model.yaml",
    "tests/render/pool-api-keys.yaml",
    "tests/render/existing-accounts.yaml",
    "examples/multi-region.yaml",
    "examples/foundry.yaml",
    "tests/render/per-region-cache.yaml",
    "tests/render/existing-cache.yaml",
    "examples/teams.yaml",
];

/// The properties compared for each kind (dotted ARM paths). The resource
/// set itself is compared through the ARM ids, which carry every name,
/// parent and scope.
fn key_paths(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::ResourceGroup => &["location", "tags"],
        Kind::LogAnalyticsWorkspace => &[
            "location",
            "tags",
            "properties.sku.name",
            "properties.retentionInDays",
        ],
        Kind::ApplicationInsights => &[
            "location",
            "tags",
            "kind",
            "properties.Application_Type",
            "properties.WorkspaceResourceId",
            "properties.CustomMetricsOptedInType",
        ],
        Kind::UserAssignedIdentity => &["location", "tags"],
        Kind::CognitiveAccount => &[
            "location",
            "tags",
            "kind",
            "sku.name",
            "identity.type",
            "properties.customSubDomainName",
            "properties.publicNetworkAccess",
            "properties.disableLocalAuth",
            "properties.restrictOutboundNetworkAccess",
        ],
        Kind::CognitiveDeployment => &[
            "sku.name",
            "sku.capacity",
            "properties.model.format",
            "properties.model.name",
            "properties.model.version",
            "properties.versionUpgradeOption",
            "properties.raiPolicyName",
            "properties.spilloverDeploymentName",
        ],
        Kind::ApimService => &[
            "location",
            "tags",
            "sku.name",
            "sku.capacity",
            "identity.type",
            "identity.userAssignedIdentities",
            "properties.publisherEmail",
            "properties.publisherName",
            "properties.customProperties",
            "properties.additionalLocations",
        ],
        Kind::RoleAssignment => &[
            "properties.roleDefinitionId",
            "properties.principalId",
            "properties.principalType",
        ],
        Kind::ApimNamedValue => &[
            "properties.displayName",
            "properties.secret",
            "properties.value",
            "properties.keyVault",
        ],
        Kind::ApimBackend => &["properties"],
        Kind::ApimApi => &["properties"],
        Kind::ApimApiOperation => &[
            "properties.displayName",
            "properties.method",
            "properties.urlTemplate",
        ],
        Kind::ApimApiPolicy => &["properties.format", "properties.value"],
        Kind::ApimLogger => &[
            "properties.loggerType",
            "properties.description",
            "properties.resourceId",
            "properties.credentials",
        ],
        Kind::ApimApiDiagnostic => &["properties"],
        Kind::RedisCache => &[
            "location",
            "tags",
            "sku.name",
            "properties.highAvailability",
            "properties.publicNetworkAccess",
        ],
        Kind::RedisDatabase => &["properties"],
        Kind::ApimCache => &["properties"],
        Kind::ApimProduct => &["properties"],
        // The link is its id (product and API): it has no body.
        Kind::ApimProductApi => &[],
        Kind::ApimProductPolicy => &["properties.format", "properties.value"],
        Kind::ApimSubscription => &[
            "properties.displayName",
            "properties.scope",
            "properties.state",
            "properties.allowTracing",
        ],
        Kind::Workbook => &[
            "location",
            "tags",
            "kind",
            "properties.displayName",
            "properties.category",
            "properties.sourceId",
            "properties.serializedData",
        ],
    }
}

fn select(kind: Kind, body: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for p in key_paths(kind) {
        let v = placeholder::get_path(body, p)
            .cloned()
            .unwrap_or(Value::Null);
        out.insert(p.to_string(), normalize_numbers(&v));
    }
    let mut v = Value::Object(out);
    // An imported OpenAPI document compares as JSON, not as text.
    if kind == Kind::ApimApi {
        let props = &mut v["properties"];
        if props.get("format").and_then(Value::as_str) == Some("openapi+json") {
            if let Some(Value::String(s)) = props.get("value") {
                props["value"] = serde_json::from_str(s).expect("OpenAPI JSON");
            }
        }
    }
    v
}

/// 5 and 5.0 are the same number in ARM.
fn normalize_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => json!(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalize_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), normalize_numbers(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The desired body with placeholders in the form the evaluators produce.
fn desired_body(
    d: &Desired,
    body: &Value,
    policies: &BTreeMap<String, String>,
    base: &Path,
) -> Value {
    placeholder::substitute::<()>(body, &mut |p| {
        Ok(match p {
            Placeholder::Ref { address, path } => {
                let id = &d.get(address).expect("reference to a desired resource").id;
                json!(format!("ref:{id}:{path}"))
            }
            Placeholder::SecretEnv { .. } => json!("secret"),
            // What the outputs build from the cache's host, port and key.
            Placeholder::CacheConnection { cluster } => json!(format!(
                "ref:{cluster}:properties.hostName:ref:{cluster}/databases/default:properties.port,password=ref:{cluster}/databases/default:listKeys.primaryKey,ssl=True,abortConnect=False"
            )),
            Placeholder::Policy { api } => json!(policies[api]),
            Placeholder::ProductPolicy { product } => json!(policies[&format!("product:{product}")]),
            Placeholder::File { path } => {
                json!(std::fs::read_to_string(base.join(path)).expect("OpenAPI file"))
            }
        })
    })
    .unwrap()
}

fn render_all(topology: &str, mode: Mode, out: &Path) {
    Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .args([
            "render",
            "all",
            "-q",
            "-f",
            topology,
            "--mode",
            mode.as_str(),
            "--out",
        ])
        .arg(out)
        .assert()
        .success();
}

fn compare(
    what: &str,
    d: &Desired,
    expected: &BTreeMap<String, (Kind, Value)>,
    actual: &BTreeMap<String, Record>,
) {
    let want: Vec<&String> = expected.keys().collect();
    let got: Vec<&String> = actual.keys().collect();
    assert_eq!(
        got, want,
        "{what}: the set of resources differs from the desired state"
    );
    for (id, (kind, body)) in expected {
        let rec = &actual[id];
        assert_eq!(rec.arm_type, kind.arm_type(), "{what}: type of {id}");
        if let Some(v) = &rec.api_version {
            assert_eq!(v, kind.api_version(), "{what}: API version of {id}");
        }
        let got = select(*kind, &rec.body);
        assert_eq!(
            got,
            *body,
            "{what}: {id} differs from the desired state\n  rendered: {}\n  desired:  {}",
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(body).unwrap()
        );
    }
    let _ = d;
}

/// The hand-written values of `expected.rs` for an example, if it has them.
fn expectations(case: &str) -> Option<Vec<expected::Expected>> {
    match case {
        "examples/seed.yaml" => Some(expected::seed()),
        "examples/ptu-spillover.yaml" => Some(expected::ptu_spillover()),
        "examples/multi-model.yaml" => Some(expected::multi_model()),
        "examples/multi-region.yaml" => Some(expected::multi_region()),
        "examples/foundry.yaml" => Some(expected::foundry()),
        "examples/teams.yaml" => Some(expected::teams()),
        _ => None,
    }
}

/// Every hand-written expectation holds in `records` (one output).
fn check_expected(
    what: &str,
    expectations: &[expected::Expected],
    records: &BTreeMap<String, Record>,
) {
    for ex in expectations {
        let found: Vec<&Record> = records
            .values()
            .filter(|r| {
                if ex.prefix {
                    r.id.starts_with(&ex.id)
                } else {
                    r.id == ex.id
                }
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{what}: expected exactly one resource with id {} ({})",
            ex.id,
            if ex.prefix { "prefix" } else { "exact" }
        );
        let rec = found[0];
        assert_eq!(rec.arm_type, ex.arm_type, "{what}: type of {}", rec.id);
        match &rec.api_version {
            Some(v) => assert_eq!(v, ex.api_version, "{what}: API version of {}", rec.id),
            // azurerm chooses the API version itself.
            None => {
                let (_, documented, why) = expected::AZURERM
                    .iter()
                    .find(|(t, _, _)| *t == ex.arm_type)
                    .unwrap_or_else(|| {
                        panic!("{what}: no azurerm API version noted for {}", ex.arm_type)
                    });
                assert!(
                    *documented == ex.api_version || !why.is_empty(),
                    "{what}: azurerm uses {documented} for {}, not {}, and no reason is noted",
                    ex.arm_type,
                    ex.api_version
                );
            }
        }
        for (path, want) in &ex.values {
            let got = placeholder::get_path(&rec.body, path).map(normalize_numbers);
            assert_eq!(got.as_ref(), Some(want), "{what}: {path} of {}", rec.id);
        }
    }
}

#[test]
fn terraform_bicep_and_desired_state_describe_the_same_resources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let templates = Templates::load(None).unwrap();
    let mut checked = 0;
    let mut hand_checked = 0;
    for case in CASES {
        for mode in [Mode::Policy, Mode::Pool] {
            let loaded = topology::load_file(&root.join(case)).unwrap();
            let Ok(loaded) = topology::with_mode(&loaded, mode) else {
                // e.g. multi-model in pool mode: rejected before rendering
                // (tests/render_cli.rs checks the exit code).
                continue;
            };
            let what = format!("{case} ({} mode)", mode.as_str());
            let d = desired::derive(&loaded.topology, None);
            let base = root.join(case).parent().unwrap().to_path_buf();
            let mut policies: BTreeMap<String, String> = d
                .policies
                .iter()
                .map(|p| (p.api.clone(), iac::policy_xml(&templates, p).unwrap()))
                .collect();
            for p in &d.product_policies {
                let xml = oailb::render::product_policy::render(&templates, p).unwrap();
                policies.insert(format!("product:{}", p.product), xml);
            }
            let expected: BTreeMap<String, (Kind, Value)> = d
                .resources
                .iter()
                .map(|r| {
                    let body = desired_body(&d, &r.body, &policies, &base);
                    (r.id.clone(), (r.kind, select(r.kind, &body)))
                })
                .collect();

            let tmp = tempfile::tempdir().unwrap();
            render_all(case, mode, tmp.path());

            let tf_module = terraform::Module::load(&tmp.path().join("terraform"));
            // The subscription: the topology's (a variable default), else
            // whatever the pipeline deploys into (the desired state's token).
            let want_sub = if d.subscription_known {
                json!(d.subscription)
            } else {
                Value::Null
            };
            assert_eq!(tf_module.variables["subscription_id"], want_sub, "{what}");
            let (tf, tf_outputs) = terraform::evaluate(&tf_module, &d.subscription);
            compare(&format!("Terraform of {what}"), &d, &expected, &tf);

            let bicep = bicep::evaluate(&tmp.path().join("bicep"), &d.subscription);
            compare(&format!("Bicep of {what}"), &d, &expected, &bicep.records);

            // Right, not only equal: the hand-written values hold in all three.
            if let Some(expectations) = expectations(case) {
                let deployed: BTreeMap<String, Record> = d
                    .resources
                    .iter()
                    .map(|r| {
                        let rec = Record {
                            arm_type: r.kind.arm_type().to_string(),
                            id: r.id.clone(),
                            api_version: Some(r.api_version.to_string()),
                            body: desired_body(&d, &r.body, &policies, &base),
                        };
                        (r.id.clone(), rec)
                    })
                    .collect();
                check_expected(
                    &format!("desired state of {what}"),
                    &expectations,
                    &deployed,
                );
                check_expected(&format!("Terraform of {what}"), &expectations, &tf);
                check_expected(&format!("Bicep of {what}"), &expectations, &bicep.records);
                hand_checked += 1;
            }

            // Secrets are inputs, never values.
            for nv in d.of_kind(Kind::ApimNamedValue) {
                if let Some(Placeholder::SecretEnv { var }) = nv
                    .body
                    .pointer("/properties/value")
                    .and_then(Placeholder::from_value)
                {
                    assert!(
                        !tf_module.sensitive.is_empty(),
                        "{what}: the Terraform secret variable for {var} is not sensitive"
                    );
                    assert!(
                        !bicep.secure_params.is_empty(),
                        "{what}: the Bicep parameter for {var} is not @secure()"
                    );
                    assert!(bicep.param_values.values().any(|v| v == "secret"));
                }
            }

            // Outputs: the gateway, every API URL, every backend endpoint.
            let apim_id = &d.of_kind(Kind::ApimService).next().unwrap().id;
            let gw = format!("ref:{apim_id}:properties.gatewayUrl");
            assert_eq!(tf_outputs["gateway_url"], json!(gw), "{what}");
            assert_eq!(bicep.outputs["gatewayUrl"], json!(gw), "{what}");
            for api in &d.outputs.apis {
                let suffix = api.url.strip_prefix(&d.outputs.gateway_url).unwrap();
                let want = json!(format!("{gw}{suffix}"));
                assert_eq!(tf_outputs["api_urls"][&api.name], want, "{what}");
                assert_eq!(bicep.outputs["apiUrls"][&api.name], want, "{what}");
            }
            let bicep_endpoints: BTreeMap<String, Value> = bicep.outputs["openAiEndpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["backend"].as_str().unwrap().to_string(),
                        e["endpoint"].clone(),
                    )
                })
                .collect();
            assert_eq!(bicep_endpoints.len(), d.outputs.endpoints.len(), "{what}");
            for e in &d.outputs.endpoints {
                let want = match d.get(&desired::naming::address::account(&e.backend)) {
                    Some(acct) => json!(format!("ref:{}:properties.endpoint", acct.id)),
                    None => json!(e.endpoint),
                };
                assert_eq!(tf_outputs["openai_endpoints"][&e.backend], want, "{what}");
                assert_eq!(bicep_endpoints[&e.backend], want, "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 18,
        "every example and fixture in both modes, but multi-model and foundry in pool mode"
    );
    assert_eq!(
        hand_checked, 10,
        "six examples, multi-model and foundry in policy mode only"
    );
}
