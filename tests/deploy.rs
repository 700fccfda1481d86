//! plan / deploy / destroy end to end: the oailb binary against the fake ARM
//! on loopback, with `--auth token`.

mod fake_arm;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_arm::{policy_xml, Config, FakeArm, FaultKind, OperationEnd, TOKEN};
use serde_json::Value;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const PARTNER_KEY: &str = "partner-secret-key-value";
const EXAMPLES: &[&str] = &[
    "seed",
    "multi-model",
    "ptu-spillover",
    "two-apis",
    "multi-region",
    "foundry",
    "teams",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A working copy of an example (so edits do not touch the repository)
/// and a policy file for each of its APIs.
struct Workspace {
    dir: tempfile::TempDir,
    topology: PathBuf,
    /// Pass `--policy-file` with a fixed policy instead of the rendered one.
    policy_file: bool,
}

impl Workspace {
    fn example(name: &str) -> Workspace {
        let text = std::fs::read_to_string(root().join(format!("examples/{name}.yaml"))).unwrap();
        Workspace::from_text(&text)
    }

    fn from_text(text: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let topology = dir.path().join("oailb.yaml");
        std::fs::write(&topology, text).unwrap();
        std::fs::write(dir.path().join("policy.xml"), "<policies>\n  <inbound><base /></inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n  <on-error><base /></on-error>\n</policies>\n").unwrap();
        Workspace {
            dir,
            topology,
            policy_file: false,
        }
    }

    fn with_policy_file(mut self) -> Workspace {
        self.policy_file = true;
        self
    }

    fn api_names(&self) -> Vec<String> {
        let loaded = oailb::topology::load_file(&self.topology).unwrap();
        loaded
            .topology
            .apis()
            .iter()
            .map(|a| a.name.clone())
            .collect()
    }

    fn desired(&self) -> oailb::desired::Desired {
        let loaded = oailb::topology::load_file(&self.topology).unwrap();
        oailb::desired::derive(&loaded.topology, Some(SUB))
    }

    fn cmd(&self, fake: &FakeArm, args: &[&str]) -> Command {
        Command::from_std(self.std_cmd(fake, args))
    }

    fn std_cmd(&self, fake: &FakeArm, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("oailb"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OAILB_ACCESS_TOKEN", TOKEN)
            .env("PARTNER_OPENAI_KEY", PARTNER_KEY)
            .env("OAILB_BACKOFF_BASE_MS", "5")
            .env("NO_COLOR", "1")
            .args(args)
            .arg("-f")
            .arg(&self.topology)
            .args([
                "--subscription",
                SUB,
                "--auth",
                "token",
                "--arm-endpoint",
                &fake.url,
            ]);
        for api in self.api_names().into_iter().filter(|_| self.policy_file) {
            c.arg("--policy-file").arg(format!(
                "{api}={}",
                self.dir.path().join("policy.xml").display()
            ));
        }
        c
    }

    fn run(&self, fake: &FakeArm, args: &[&str]) -> Output {
        self.cmd(fake, args)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.topology).unwrap();
        assert!(text.contains(from), "{from:?} not in topology");
        std::fs::write(&self.topology, text.replacen(from, to, 1)).unwrap();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn assert_ok(o: &Output) {
    assert_eq!(code(o), 0, "{}", text(o));
}

/// Successful PUTs per resource path (lowercase).
fn successful_puts(fake: &FakeArm) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in fake.requests() {
        if r.method == "PUT" && r.status < 300 {
            *m.entry(r.path.to_ascii_lowercase()).or_default() += 1;
        }
    }
    m
}

/// Every desired resource exists in the fake, once.
fn assert_converged(ws: &Workspace, fake: &FakeArm) {
    let d = ws.desired();
    let ids = fake.ids();
    for r in &d.resources {
        assert!(
            ids.contains(&r.id.to_ascii_lowercase()),
            "{} missing",
            r.address
        );
    }
    let managed = ids
        .iter()
        .filter(|i| {
            !i.contains("/providers/microsoft.authorization/")
                || d.resources.iter().any(|r| r.id.eq_ignore_ascii_case(i))
        })
        .count();
    assert_eq!(
        managed,
        d.resources.len(),
        "unexpected extra resources: {ids:#?}"
    );
}

fn fake() -> FakeArm {
    FakeArm::start(Config::default())
}

#[test]
fn fresh_deploy_of_every_example_converges_and_rerun_writes_nothing() {
    for name in EXAMPLES {
        let fake = fake();
        let ws = Workspace::example(name);
        let out = ws.run(&fake, &["deploy", "--yes"]);
        assert_ok(&out);
        assert_converged(&ws, &fake);
        // One write per resource: no duplicate creates, no needless updates.
        let puts = successful_puts(&fake);
        assert_eq!(puts.len(), ws.desired().resources.len(), "{name}");
        assert!(puts.values().all(|&n| n == 1), "{name}: {puts:#?}");
        // The policy is the rendered one, byte for byte.
        let d = ws.desired();
        for p in &d.policies {
            let id = &d.get(&p.address).unwrap().id;
            let stored = fake.resource(id).unwrap();
            let rendered = oailb::render::policy::render_api(&d, &p.api, None).unwrap();
            assert_eq!(
                stored["properties"]["value"],
                Value::String(rendered),
                "{name}"
            );
        }
        for p in &d.product_policies {
            let id = &d.get(&p.address).unwrap().id;
            let stored = fake.resource(id).unwrap();
            let rendered =
                oailb::render::product_policy::render_product(&d, &p.product, None).unwrap();
            assert_eq!(
                stored["properties"]["value"],
                Value::String(rendered),
                "{name}"
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Gateway URL:  https://"), "{stdout}");
        assert!(stdout.contains("Example request:"), "{stdout}");

        fake.clear_requests();
        let again = ws.run(&fake, &["deploy", "--yes"]);
        assert_ok(&again);
        assert!(text(&again).contains("No changes"), "{}", text(&again));
        assert_eq!(fake.writes().len(), 0, "{name}: {:#?}", fake.writes());
        let plan = ws.run(&fake, &["plan", "--detailed-exitcode"]);
        assert_eq!(code(&plan), 0, "{}", text(&plan));
    }
}

#[test]
fn changed_capacity_updates_the_deployment_and_the_policy_quota() {
    let fake = fake();
    let ws = Workspace::example("seed");
    // An explicit weight keeps the weights independent of the capacity; the
    // policy still changes, because it carries each backend's quota
    // (tokens per minute) for the balancer.
    ws.edit(
        "        account_name: can-aoai-smart-21",
        "        account_name: can-aoai-smart-21\n        weight: 1",
    );
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    ws.edit("        weight: 1", "        weight: 1\n        models:\n          - name: gpt-35-turbo\n            capacity: 240");
    let plan = ws.run(&fake, &["plan", "--json", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 2, "{}", text(&plan));
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["update"], 2);
    assert_eq!(v["summary"]["create"], 0);
    let upd: Vec<&Value> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "update")
        .collect();
    assert_eq!(upd[0]["address"], "deployment[canadaeast/gpt-35-turbo]");
    assert_eq!(
        upd[0]["changes"],
        serde_json::json!([{"path": "sku.capacity", "before": 120, "after": 240}])
    );
    assert_eq!(upd[1]["address"], "api_policy[aoai-smart-api]");
    let policy = upd[1]["changes"][0]["after"].as_str().unwrap();
    assert!(
        policy.contains("'name': 'canadaeast', 'priority': 2, 'weight': 1,"),
        "{policy}"
    );
    assert!(policy.contains("'tpm': 240000, 'rpm': 1440"), "{policy}");

    fake.clear_requests();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let writes = fake.writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert!(writes
        .iter()
        .any(|w| w.path.ends_with("/deployments/gpt-35-turbo")
            && w.path.contains("can-aoai-smart-21")));
    assert!(writes.iter().any(|w| w.path.ends_with("/policies/policy")));
}

#[test]
fn plan_table_and_exit_codes() {
    let fake = fake();
    let ws = Workspace::example("seed").with_policy_file();
    let plan = ws.run(&fake, &["plan"]);
    assert_ok(&plan);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("+  apim"), "{out}");
    assert!(
        out.contains(&format!(
            "Plan: {} to create, 0 to update, 0 unchanged.",
            ws.desired().resources.len()
        )),
        "{out}"
    );
    assert_eq!(code(&ws.run(&fake, &["plan", "--detailed-exitcode"])), 2);
    // Drift made in the portal is an update of that property only.
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let api = ws.desired().get("api[aoai-smart-api]").unwrap().id.clone();
    fake.edit(
        &api,
        "/properties/displayName",
        Value::String("renamed".into()),
    );
    let plan = ws.run(&fake, &["plan"]);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(
        out.contains("~ properties.displayName: \"renamed\" → \"aoai-smart-api\""),
        "{out}"
    );
    assert!(out.contains("Plan: 0 to create, 1 to update,"), "{out}");
    // Errors are 1 with --detailed-exitcode (2 means changes).
    let mut c = ws.cmd(&fake, &["plan", "--detailed-exitcode"]);
    c.env("OAILB_ACCESS_TOKEN", "wrong-token");
    let o = c.output().unwrap();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("AuthenticationFailed"), "{}", text(&o));
    assert!(!text(&o).contains("wrong-token"));
}

#[test]
fn transient_faults_are_retried_without_duplicates() {
    let cases: &[(&str, &str, FaultKind)] = &[
        (
            "PUT",
            "/microsoft.apimanagement/service/",
            FaultKind::Throttle,
        ),
        ("PUT", "/accounts/", FaultKind::Status(500)),
        ("PUT", "/deployments/", FaultKind::Status(503)),
        ("PUT", "/apis/", FaultKind::Busy),
        ("PUT", "/roleassignments/", FaultKind::Drop),
        ("GET", "/fake/operations/", FaultKind::Drop),
        ("GET", "/resourcegroups/", FaultKind::Throttle),
    ];
    for (method, path, kind) in cases {
        let fake = fake();
        fake.inject(method, path, *kind, 2);
        let ws = Workspace::example("seed");
        let out = ws.run(&fake, &["deploy", "--yes", "--json"]);
        assert_ok(&out);
        assert_converged(&ws, &fake);
        let faults = fake
            .requests()
            .iter()
            .filter(|r| r.status == 429 || r.status >= 500 || r.status == 409 || r.status == 0)
            .count();
        assert!(faults >= 2, "{method} {path} {kind:?}: fault not hit");
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(summary.contains("\"event\":\"summary\""), "{summary}");
    }
}

/// Long-running operations that end badly, in each of the three ways ARM
/// reports them: the deploy names the resource and ARM's error, skips what
/// depends on it and exits 1; the next plan shows the resource again and a
/// re-run converges, after which nothing is left to do.
#[test]
fn failed_and_canceled_operations_are_reported_and_a_rerun_converges() {
    struct Case {
        /// Path fragment of the resource whose operation fails.
        path: &'static str,
        end: OperationEnd,
        address: &'static str,
        /// What the failed deploy must say about it.
        said: &'static [&'static str],
        /// A resource that depends on it, and so is skipped.
        dependent: &'static str,
        /// The next plan's action for it.
        replanned: &'static str,
    }
    let cases = [
        // Azure-AsyncOperation status Failed with an error.
        Case {
            path: "/accounts/can-aoai-smart-12",
            end: OperationEnd::Failed,
            address: "account[eastus2]",
            said: &[
                "SpecialFeatureOrQuotaIdRequired",
                "does not have QuotaId/Feature",
            ],
            dependent: "deployment[eastus2/gpt-35-turbo]",
            replanned: "update",
        },
        // provisioningState Canceled on the resource itself.
        Case {
            path: "/accounts/can-aoai-smart-11/deployments/",
            end: OperationEnd::Canceled,
            address: "deployment[eastus/gpt-35-turbo]",
            said: &["provisioningState is Canceled"],
            dependent: "api_policy[aoai-smart-api]",
            replanned: "update",
        },
        // A Location URL that answers with the error; nothing was created.
        Case {
            path: "/apis/aoai-smart-api",
            end: OperationEnd::Failed,
            address: "api[aoai-smart-api]",
            said: &[
                "400 ValidationError",
                "One or more fields contain incorrect values",
            ],
            dependent: "api_diagnostic[aoai-smart-api]",
            replanned: "create",
        },
    ];
    for c in cases {
        let fake = fake();
        let ws = Workspace::example("seed");
        let (code_, message) = match c.end {
            OperationEnd::Failed if c.path.contains("/apis/") => (
                "ValidationError",
                "One or more fields contain incorrect values",
            ),
            OperationEnd::Failed => (
                "SpecialFeatureOrQuotaIdRequired",
                "The subscription does not have QuotaId/Feature required by SKU 'S0' from kind 'OpenAI'",
            ),
            OperationEnd::Canceled => ("Canceled", "The operation was canceled"),
        };
        fake.fail_operation(c.path, c.end, code_, message);
        let out = ws.run(&fake, &["deploy", "--yes", "--json"]);
        assert_eq!(code(&out), 1, "{}: {}", c.address, text(&out));
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let failed = events
            .iter()
            .find(|e| e["event"] == "failed")
            .unwrap_or_else(|| panic!("{}: no failed event", c.address));
        assert_eq!(failed["address"], c.address);
        for s in c.said {
            assert!(
                failed["error"].as_str().unwrap().contains(s),
                "{}: {failed}",
                c.address
            );
        }
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "skipped" && e["address"] == c.dependent),
            "{}: {} not skipped",
            c.address,
            c.dependent
        );
        let plan = ws.run(&fake, &["plan", "--json", "--detailed-exitcode"]);
        assert_eq!(code(&plan), 2, "{}", text(&plan));
        let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
        let entry = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == c.address)
            .unwrap();
        assert_eq!(entry["action"], c.replanned, "{entry}");
        // The cause is gone: a re-run finishes, then nothing is left to do.
        assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
        assert_converged(&ws, &fake);
        let plan = ws.run(&fake, &["plan", "--detailed-exitcode"]);
        assert_eq!(code(&plan), 0, "{}: {}", c.address, text(&plan));
    }
}

#[test]
fn persistent_failure_fails_clearly_and_rerun_converges() {
    let fake = fake();
    let ws = Workspace::example("seed");
    // As many failures as one run makes attempts (Timing::max_attempts).
    fake.inject(
        "PUT",
        "/accounts/can-aoai-smart-12",
        FaultKind::Status(500),
        8,
    );
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("account[eastus2]"), "{t}");
    assert!(
        t.contains("InternalServerError") && t.contains("gave up after 8 attempts"),
        "{t}"
    );
    assert!(t.contains("skipped"), "{t}");
    // The cause is gone: a re-run finishes the rest without redoing work.
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert_converged(&ws, &fake);
    assert!(successful_puts(&fake).values().all(|&n| n == 1));
}

#[test]
fn principal_not_found_is_retried_until_the_identity_replicates() {
    let fake = FakeArm::start(Config {
        principal_window: Duration::from_millis(600),
        ..Config::default()
    });
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert_converged(&ws, &fake);
    let reqs = fake.requests();
    let rejected = reqs
        .iter()
        .filter(|r| r.path.contains("roleAssignments") && r.status == 400)
        .count();
    assert!(rejected > 0, "the window was not exercised");
    assert_eq!(
        reqs.iter()
            .filter(|r| r.path.contains("roleAssignments") && r.method == "PUT" && r.status == 201)
            .count(),
        3
    );
}

#[test]
fn an_equivalent_role_assignment_under_another_name_is_kept() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let ra = ws
        .desired()
        .get("role_assignment[eastus]")
        .unwrap()
        .id
        .clone();
    let body = fake.resource(&ra).unwrap();
    let other = format!(
        "{}/11111111-2222-3333-4444-555555555555",
        ra.rsplit_once('/').unwrap().0
    );
    // Someone assigned the same role under another name (e.g. Terraform).
    fake_replace(&fake, &ra, &other, body);
    fake.clear_requests();
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_ok(&out);
    assert_eq!(fake.writes().len(), 0, "{:#?}", fake.writes());
}

fn fake_replace(fake: &FakeArm, old: &str, new: &str, body: Value) {
    // Delete ours through the API, add the other one as a foreign resource.
    let client = reqwest_like_delete(fake, old);
    assert!(client);
    let mut b = body;
    b.as_object_mut().unwrap().retain(|k, _| k == "properties");
    b["properties"].as_object_mut().unwrap().remove("scope");
    fake.add_foreign(new, b);
}

/// One raw HTTP/1.1 exchange with the fake: (status, JSON body or Null).
fn raw(
    fake: &FakeArm,
    method: &str,
    path_and_query: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = fake.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn reqwest_like_delete(fake: &FakeArm, id: &str) -> bool {
    raw(
        fake,
        "DELETE",
        &format!("{id}?api-version=2022-04-01"),
        TOKEN,
        None,
    )
    .0 == 200
}

/// The fake holds bodies to the REST specs, so a wrong body fails here as it
/// would in Azure.
#[test]
fn fake_arm_rejects_what_arm_rejects() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let d = ws.desired();
    let rg = d.get("resource_group").unwrap();
    let q = |id: &str, v: &str| format!("{id}?api-version={v}");
    let code_of = |r: &(u16, Value)| {
        r.1["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // Authentication.
    assert_eq!(
        raw(&fake, "GET", &q(&rg.id, "2021-04-01"), "nope", None).0,
        401
    );
    // Missing resources are 404.
    assert_eq!(
        raw(&fake, "GET", &q(&rg.id, "2021-04-01"), TOKEN, None).0,
        404
    );
    // Wrong api-version.
    let r = raw(
        &fake,
        "PUT",
        &q(&rg.id, "2020-01-01"),
        TOKEN,
        Some(&rg.body),
    );
    assert_eq!(
        (r.0, code_of(&r).as_str()),
        (400, "InvalidApiVersionParameter")
    );
    // Required and read-only properties.
    let r = raw(
        &fake,
        "PUT",
        &q(&rg.id, "2021-04-01"),
        TOKEN,
        Some(&serde_json::json!({"tags": {}})),
    );
    assert_eq!(r.0, 400, "{r:?}");
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("location"));
    assert_eq!(
        raw(
            &fake,
            "PUT",
            &q(&rg.id, "2021-04-01"),
            TOKEN,
            Some(&rg.body)
        )
        .0,
        201
    );
    let apim = d.get("apim").unwrap();
    let mut ro = apim.body.clone();
    ro["properties"]["provisioningState"] = Value::from("Succeeded");
    let r = raw(&fake, "PUT", &q(&apim.id, "2024-05-01"), TOKEN, Some(&ro));
    assert_eq!(r.0, 400, "{r:?}");
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
    // Children need their parent.
    let logger = d.get("logger").unwrap();
    let r = raw(
        &fake,
        "PUT",
        &q(&logger.id, "2024-05-01"),
        TOKEN,
        Some(&serde_json::json!({"properties": {"loggerType": "applicationInsights"}})),
    );
    assert_eq!((r.0, code_of(&r).as_str()), (404, "ParentResourceNotFound"));
    // A pool backend must not carry url or protocol.
    assert_eq!(
        raw(
            &fake,
            "PUT",
            &q(&apim.id, "2024-05-01"),
            TOKEN,
            Some(&apim.body)
        )
        .0,
        201
    );
    let pool = format!("{}/backends/pool-x", apim.id);
    let bad = serde_json::json!({"properties": {"type": "Pool", "url": "https://x", "protocol": "http", "pool": {"services": []}}});
    // (Bodies are validated before the parent is looked at, as ARM does.)
    let r = raw(&fake, "PUT", &q(&pool, "2024-05-01"), TOKEN, Some(&bad));
    assert_eq!(r.0, 400, "{r:?}");
    // Unresolved oailb placeholders never reach ARM unnoticed.
    let policy = d.get("api_policy[aoai-smart-api]").unwrap();
    assert!(policy.body.to_string().contains("$oailb"));
    let r = raw(
        &fake,
        "PUT",
        &q(&format!("{}/apis/x/policies/policy", apim.id), "2024-05-01"),
        TOKEN,
        Some(&policy.body),
    );
    assert_eq!(r.0, 400, "{r:?}");
}

/// The fake answers a GET with ARM's view of a resource, not the PUT body,
/// so that "a re-run writes nothing" is earned by the comparison: defaults
/// filled in, ids and enum values in ARM's case, keys in another order,
/// and the policy re-written by APIM's XML writer in the format asked for.
#[test]
fn fake_arm_get_is_arms_view_not_the_put_body() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let d = ws.desired();
    let get = |address: &str, query: &str| {
        let r = d.get(address).unwrap();
        let (status, body) = raw(
            &fake,
            "GET",
            &format!("{}?api-version={}{query}", r.id, r.api_version),
            TOKEN,
            None,
        );
        assert_eq!(status, 200, "{address}: {body}");
        body
    };
    let sent = |address: &str| fake.resource(&d.get(address).unwrap().id).unwrap();

    let policy = sent("api_policy[aoai-smart-api]")["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let raw_xml = get("api_policy[aoai-smart-api]", "&format=rawxml");
    let v = raw_xml["properties"]["value"].as_str().unwrap();
    assert_ne!(v, policy);
    assert!(
        v.contains("<policies>\r\n\t<inbound>\r\n\t\t<base />"),
        "{v}"
    );
    assert!(
        v.contains("<set-variable name=\"oailb-deployment\" value=\"@{"),
        "{v}"
    );
    assert!(!v.contains("&quot;"), "{v}");
    assert_eq!(raw_xml["properties"]["format"], "rawxml");
    let xml = get("api_policy[aoai-smart-api]", "");
    let v = xml["properties"]["value"].as_str().unwrap();
    assert!(
        v.contains("GetValueOrDefault(&quot;oailb-deployment&quot;"),
        "{v}"
    );
    assert!(v.contains("&#xA;"), "{v}");
    assert!(xml["properties"].get("format").is_none());

    let ws_body = get("log_analytics_workspace", "");
    assert_eq!(ws_body["properties"]["sku"]["name"], "pergb2018");
    let ai = get("application_insights", "");
    let ws_id = d.get("log_analytics_workspace").unwrap().id.clone();
    assert_ne!(
        ai["properties"]["WorkspaceResourceId"],
        Value::from(ws_id.clone())
    );
    assert_eq!(
        ai["properties"]["WorkspaceResourceId"],
        Value::from(ws_id.to_ascii_lowercase())
    );
    let dep = get("deployment[eastus/gpt-35-turbo]", "");
    assert_eq!(dep["properties"]["raiPolicyName"], "Microsoft.DefaultV2");
    let apim = get("apim", "");
    assert_eq!(apim["location"], "East US");
    assert_eq!(apim["properties"]["virtualNetworkType"], "None");
    assert!(apim["id"].as_str().unwrap().contains("/resourcegroups/"));
    let keys = |v: &Value| {
        v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let sent_keys = keys(&sent("api[aoai-smart-api]"));
    let got_keys: Vec<String> = keys(&get("api[aoai-smart-api]", ""))
        .into_iter()
        .filter(|k| sent_keys.contains(k))
        .collect();
    assert_ne!(got_keys, sent_keys, "the keys come back in another order");

    // A policy APIM cannot parse is refused.
    let id = &d.get("api_policy[aoai-smart-api]").unwrap().id;
    for bad in [
        "<policies><inbound></policies>",
        "<policies><x v=\"@(a &lt; \" /></policies>",
        "<policy />",
    ] {
        let (status, body) = raw(
            &fake,
            "PUT",
            &format!("{id}?api-version=2024-05-01"),
            TOKEN,
            Some(&serde_json::json!({"properties": {"format": "rawxml", "value": bad}})),
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("ValidationError")),
            "{bad}: {body}"
        );
    }
}

#[test]
fn soft_deleted_names_need_a_decision() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let d = ws.desired();
    let apim = d.get("apim").unwrap();
    let acct = d.get("account[eastus]").unwrap();
    fake.add_soft_deleted(&apim.id, apim.body.clone());
    fake.add_soft_deleted(&acct.id, acct.body.clone());
    let plan = ws.run(&fake, &["plan"]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("soft-deleted"),
        "{}\n{:#?}",
        text(&plan),
        fake.requests()
            .iter()
            .filter(|r| r.path.contains("deleted"))
            .collect::<Vec<_>>()
    );
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_eq!(code(&out), 1);
    let t = text(&out);
    assert!(
        t.contains("--restore-soft-deleted") && t.contains("--purge-soft-deleted"),
        "{t}"
    );
    assert_eq!(
        fake.writes().len(),
        0,
        "nothing is written before the decision"
    );

    assert_ok(&ws.run(&fake, &["deploy", "--yes", "--restore-soft-deleted"]));
    assert_converged(&ws, &fake);
    let restored = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PUT"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["properties"]["restore"] == true)
        })
        .count();
    assert_eq!(restored, 2);
    assert!(!fake.is_soft_deleted("microsoft.apimanagement/service", &apim.name));
}

/// Azure keeps a soft-deleted service under the location it was deleted
/// in, and its name stays taken everywhere. One deleted from another region
/// is found there: restoring it here is refused with the reason, purging
/// purges it where it is.
#[test]
fn soft_deleted_in_another_location_is_found_there() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let apim = ws.desired().get("apim").unwrap().clone();
    assert_eq!(apim.body["location"], "eastus");
    let mut elsewhere = apim.body.clone();
    elsewhere["location"] = Value::from("westus");
    fake.add_soft_deleted(&apim.id, elsewhere);
    let plan = ws.run(&fake, &["plan"]);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(
        out.contains("a soft-deleted resource holds this name")
            && out.contains("the soft-deleted apim service is in westus, not in eastus"),
        "{}",
        text(&plan)
    );
    let restore = ws.run(&fake, &["deploy", "--yes", "--restore-soft-deleted"]);
    assert_eq!(code(&restore), 1, "{}", text(&restore));
    assert!(
        text(&restore).contains("is soft-deleted in westus, not in eastus"),
        "{}",
        text(&restore)
    );
    assert_ok(&ws.run(&fake, &["deploy", "--yes", "--purge-soft-deleted"]));
    assert_converged(&ws, &fake);
    assert!(fake.requests().iter().any(|r| r.method == "DELETE"
        && r.path
            .contains("/locations/westus/deletedservices/can-aoai-smart-apim")));
    assert!(!fake.is_soft_deleted("microsoft.apimanagement/service", &apim.name));
}

#[test]
fn purge_soft_deleted_frees_the_name() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let acct = ws.desired().get("account[eastus2]").unwrap().clone();
    fake.add_soft_deleted(&acct.id, acct.body.clone());
    assert_ok(&ws.run(&fake, &["deploy", "--yes", "--purge-soft-deleted"]));
    assert_converged(&ws, &fake);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path.contains("deletedAccounts")));
}

/// Starts a deploy, stops it with `signal` while APIM is being created,
/// checks what it said, then re-runs it to the end.
fn interrupt_and_rerun(signal: &str) {
    let fake = FakeArm::start(Config {
        unit: Duration::from_millis(80),
        poll_hint: Duration::from_millis(20),
        ..Config::default()
    });
    let ws = Workspace::example("seed");
    let mut cmd = ws.std_cmd(&fake, &["deploy", "--yes"]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // APIM takes 30 × 80 ms: wait until its PUT was sent, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !fake
        .writes()
        .iter()
        .any(|w| w.path.ends_with("/service/can-aoai-smart-apim"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "APIM was never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    if signal == "-INT" {
        assert_eq!(code(&out), 130, "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("Interrupted") && t.contains("apim"), "{t}");
    }
    let writes_before = fake.writes().len();
    assert!(
        writes_before > 0 && writes_before < ws.desired().resources.len(),
        "{writes_before}"
    );

    // The re-run waits for APIM's operation instead of sending it again.
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert_converged(&ws, &fake);
    let puts = successful_puts(&fake);
    assert!(
        puts.values().all(|&n| n == 1),
        "re-run re-sent finished work: {puts:#?}"
    );
}

#[test]
fn ctrl_c_reports_in_flight_exits_130_and_rerun_converges() {
    interrupt_and_rerun("-INT");
}

#[test]
fn killed_deploy_rerun_converges() {
    interrupt_and_rerun("-KILL");
}

#[test]
fn destroy_deletes_everything_and_purges_on_request() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let out = ws.run(&fake, &["destroy", "--yes", "--purge-soft-deleted"]);
    assert_ok(&out);
    assert!(fake.ids().is_empty(), "{:#?}", fake.ids());
    let d = ws.desired();
    assert!(!fake.is_soft_deleted(
        "microsoft.apimanagement/service",
        &d.get("apim").unwrap().name
    ));
    assert!(!fake.is_soft_deleted(
        "microsoft.cognitiveservices/accounts",
        &d.get("account[eastus]").unwrap().name
    ));
    // Children went with their parents: no DELETE for APIM entities.
    assert!(!fake
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path.contains("/apis/")));
    // Nothing left: a second destroy has nothing to do.
    let again = ws.run(&fake, &["destroy", "--yes"]);
    assert_ok(&again);
    assert!(text(&again).contains("Nothing to delete"));
}

#[test]
fn destroy_keeps_a_resource_group_with_foreign_resources_and_soft_deletes() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let d = ws.desired();
    let rg = d.get("resource_group").unwrap().id.clone();
    fake.add_foreign(
        &format!("{rg}/providers/Microsoft.Storage/storageAccounts/other"),
        serde_json::json!({"location": "eastus"}),
    );
    let out = ws.run(&fake, &["destroy", "--yes", "--json"]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kept"),
        "{}",
        text(&out)
    );
    assert!(fake.ids().contains(&rg.to_ascii_lowercase()));
    assert!(fake.is_soft_deleted(
        "microsoft.cognitiveservices/accounts",
        &d.get("account[eastus]").unwrap().name
    ));
}

#[test]
fn safety_and_secrets() {
    let fake = fake();
    let ws = Workspace::example("multi-model");
    // No terminal and no --yes: refuse before contacting Azure.
    let mut c = Command::cargo_bin("oailb").unwrap();
    let o = c
        .args(["deploy", "-f"])
        .arg(&ws.topology)
        .args([
            "--subscription",
            SUB,
            "--auth",
            "token",
            "--arm-endpoint",
            &fake.url,
        ])
        .env("OAILB_ACCESS_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--yes"));
    assert!(fake.requests().is_empty());
    // Plain http off loopback is refused.
    let o = ws
        .cmd(&fake, &["plan"])
        .args(["--arm-endpoint", "http://example.com"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
    // A missing API key variable stops the deploy before any write.
    let o = ws
        .cmd(&fake, &["deploy", "--yes"])
        .env_remove("PARTNER_OPENAI_KEY")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("PARTNER_OPENAI_KEY"));
    assert!(fake.writes().is_empty());
    // Keys only with --show-secrets; the token and API key never.
    let o = ws.run(&fake, &["deploy", "--yes", "--json"]);
    assert_ok(&o);
    let t = text(&o);
    assert!(
        !t.contains(PARTNER_KEY) && !t.contains(TOKEN) && !t.contains("fake-primary-key"),
        "{t}"
    );
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let _: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
    }
    // The named value got the key, stored as a secret.
    let nv = ws
        .desired()
        .get("named_value[partner-api-key]")
        .unwrap()
        .id
        .clone();
    assert_eq!(
        fake.resource(&nv).unwrap()["properties"]["value"],
        PARTNER_KEY
    );
    let o = ws.run(&fake, &["deploy", "--yes", "--show-secrets"]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Gateway key:  fake-primary-key-0123"));
    assert!(!text(&o).contains(PARTNER_KEY));
}

/// The fake as a process (`cargo run --example fake-arm`), driven the way a
/// CI pipeline would: settings from the environment, not flags.
#[test]
fn pipeline_against_the_fake_arm_process() {
    use std::io::{BufRead, BufReader};
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("fake-arm");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    let mut server = std::process::Command::new(&bin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut env = Vec::new();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.trim_start_matches("export ").split_once('=').unwrap();
        env.push((k.to_string(), v.to_string()));
    }
    let ws = Workspace::example("ptu-spillover");
    let policy = format!("openai={}", ws.dir.path().join("policy.xml").display());
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("oailb"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c.env("AZURE_SUBSCRIPTION_ID", SUB)
            .env("OAILB_BACKOFF_BASE_MS", "5");
        for (k, v) in &env {
            c.env(k, v);
        }
        c.args(args)
            .arg("-f")
            .arg(&ws.topology)
            .args(["--policy-file", &policy]);
        c.output().unwrap()
    };
    assert_eq!(code(&run(&["plan", "--detailed-exitcode", "-q"])), 2);
    assert_ok(&run(&["deploy", "--yes", "--json"]));
    let again = run(&["plan", "--detailed-exitcode", "--json"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["subscription"], SUB);
    assert_eq!(v["changes"], false);
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}

/// Without the right to list role assignments, plan cannot see an equivalent
/// one: the create then meets RoleAssignmentExists, which is success.
#[test]
fn role_assignment_exists_is_success() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let ra = ws
        .desired()
        .get("role_assignment[canadaeast]")
        .unwrap()
        .id
        .clone();
    let body = fake.resource(&ra).unwrap();
    let other = format!(
        "{}/99999999-2222-3333-4444-555555555555",
        ra.rsplit_once('/').unwrap().0
    );
    fake_replace(&fake, &ra, &other, body);
    fake.inject("GET", "/roleassignments?", FaultKind::Status(403), 100);
    fake.clear_requests();
    let out = ws.run(&fake, &["deploy", "--yes", "--json"]);
    assert_ok(&out);
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].status, 409);
    assert!(
        fake.resource(&ra).is_none(),
        "no duplicate assignment was made"
    );
    // The summary counts no failure.
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""failed":0"#));
}

/// Weights follow capacity by default, so the policy changes with it: the
/// deployment and the policy are updated, nothing else.
#[test]
fn capacity_without_explicit_weight_also_updates_the_policy() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    ws.edit(
        "        account_name: can-aoai-smart-21",
        "        account_name: can-aoai-smart-21\n        models:\n          - name: gpt-35-turbo\n            capacity: 240",
    );
    fake.clear_requests();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let mut written: Vec<String> = fake
        .writes()
        .iter()
        .map(|w| w.path.rsplit_once("/providers/").unwrap().1.to_string())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "Microsoft.ApiManagement/service/can-aoai-smart-apim/apis/aoai-smart-api/policies/policy",
            "Microsoft.CognitiveServices/accounts/can-aoai-smart-21/deployments/gpt-35-turbo",
        ]
    );
}

/// Pool mode: `Single` backends with circuit breakers and a `Pool` per
/// model, which must carry neither url nor protocol (the fake rejects them
/// as ARM does) and may name only backends that exist.
#[test]
fn pool_mode_deploys_backends_before_their_pool() {
    let fake = fake();
    let ws = Workspace::example("seed");
    ws.edit("  mode: policy", "  mode: pool");
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_ok(&out);
    assert_converged(&ws, &fake);
    let d = ws.desired();
    let pool = d.get("pool[gpt-35-turbo]").unwrap();
    let stored = fake.resource(&pool.id).unwrap();
    assert_eq!(stored["properties"]["type"], "Pool");
    assert!(stored["properties"].get("url").is_none());
    assert_eq!(
        stored["properties"]["pool"]["services"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    fake.clear_requests();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert!(fake.writes().is_empty(), "{:#?}", fake.writes());
}

#[test]
fn usage_errors_before_any_request() {
    let fake = fake();
    let ws = Workspace::example("seed");
    // The topology is AzureCloud: --cloud may not say otherwise.
    let o = ws
        .cmd(&fake, &["plan", "--cloud", "AzureChinaCloud"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("contradicts"));
    // No subscription anywhere (and no Azure CLI on PATH).
    let mut c = Command::cargo_bin("oailb").unwrap();
    let o = c
        .env_clear()
        .env("OAILB_ACCESS_TOKEN", TOKEN)
        .args(["plan", "--auth", "token", "--arm-endpoint", &fake.url, "-f"])
        .arg(&ws.topology)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("no subscription"), "{}", text(&o));
    // --auth token without a token.
    let o = ws
        .cmd(&fake, &["plan"])
        .env_remove("OAILB_ACCESS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("OAILB_ACCESS_TOKEN"), "{}", text(&o));
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = root().join("docs/schemas").join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {doc}\n{}", errors.join("\n"));
}

/// `plan --json` and the event lines of `deploy --json` / `destroy --json`
/// match docs/schemas/plan-live.v1.json and deploy-events.v1.json.
#[test]
fn machine_readable_output_matches_its_schema() {
    let plan_schema = schema("plan-live.v1.json");
    let events = schema("deploy-events.v1.json");
    let fake = fake();
    let ws = Workspace::example("multi-model");
    let check_events = |o: &Output, what: &str| {
        let mut kinds = Vec::new();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_valid(&events, &v, what);
            kinds.push(v["event"].as_str().unwrap().to_string());
        }
        kinds
    };
    let plan = ws.run(&fake, &["plan", "--json"]);
    assert_valid(
        &plan_schema,
        &serde_json::from_slice(&plan.stdout).unwrap(),
        "fresh plan",
    );
    // A failure, then success with secrets shown, then a converged run.
    fake.inject(
        "PUT",
        "/accounts/contoso-multi-gateway-eastus2?",
        FaultKind::Status(500),
        8,
    );
    let failed = ws.run(&fake, &["deploy", "--yes", "--json"]);
    assert_eq!(code(&failed), 1);
    let kinds = check_events(&failed, "failed deploy");
    assert!(
        kinds.contains(&"failed".to_string()) && kinds.contains(&"skipped".to_string()),
        "{kinds:?}"
    );
    // The injected 500s were retried before the account gave up.
    assert!(kinds.contains(&"retried".to_string()), "{kinds:?}");
    let ok = ws.run(&fake, &["deploy", "--yes", "--json", "--show-secrets"]);
    assert_ok(&ok);
    let kinds = check_events(&ok, "deploy");
    assert!(kinds.contains(&"succeeded".to_string()), "{kinds:?}");
    assert_eq!(kinds.first().map(String::as_str), Some("plan"));
    assert_eq!(kinds.last().map(String::as_str), Some("outputs"));
    ws.edit("    capacity: 100", "    capacity: 90");
    let plan = ws.run(&fake, &["plan", "--json"]);
    let doc: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_valid(&plan_schema, &doc, "plan with updates");
    assert!(doc["summary"]["update"].as_u64().unwrap() >= 1);
    let destroyed = ws.run(&fake, &["destroy", "--yes", "--json"]);
    assert_ok(&destroyed);
    check_events(&destroyed, "destroy");
    // The schemas are strict enough to catch a broken document.
    let mut broken = doc.clone();
    broken["resources"][0]["action"] = Value::from("replace");
    assert!(!plan_schema.is_valid(&broken));
    assert!(!events.is_valid(&serde_json::json!({"event": "succeeded", "elapsed_s": 1.0, "address": "x", "action": "create"})));
}

/// Reading deleted resources and listing a resource group need rights a
/// deployer may lack: neither blocks the work, and nothing is deleted blind.
#[test]
fn missing_read_rights_degrade_safely() {
    let fake = fake();
    let ws = Workspace::example("seed");
    fake.inject("GET", "/deletedservices/", FaultKind::Status(403), 100);
    let plan = ws.run(&fake, &["plan"]);
    assert_ok(&plan);
    assert!(
        String::from_utf8_lossy(&plan.stdout)
            .contains("could not check for a soft-deleted apim service"),
        "{}",
        text(&plan)
    );
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    fake.inject("GET", "/resources?", FaultKind::Status(403), 100);
    let out = ws.run(&fake, &["destroy", "--yes"]);
    assert_ok(&out);
    assert!(
        text(&out).contains("kept: its contents could not be listed"),
        "{}",
        text(&out)
    );
    let rg = ws
        .desired()
        .get("resource_group")
        .unwrap()
        .id
        .to_ascii_lowercase();
    assert_eq!(fake.ids(), vec![rg]);
}

/// When the plan could not look for soft-deleted resources, the create meets
/// the held name and the user's --restore-soft-deleted still applies.
#[test]
fn soft_delete_choice_applies_when_only_the_create_reveals_it() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let apim = ws.desired().get("apim").unwrap().clone();
    fake.add_soft_deleted(&apim.id, apim.body.clone());
    fake.inject("GET", "/deletedservices/", FaultKind::Status(403), 100);
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("ServiceAlreadyExistsInSoftDeletedState")
            && text(&out).contains("--restore-soft-deleted"),
        "{}",
        text(&out)
    );
    assert_ok(&ws.run(&fake, &["deploy", "--yes", "--restore-soft-deleted"]));
    assert_converged(&ws, &fake);
    assert!(!fake.is_soft_deleted("microsoft.apimanagement/service", &apim.name));
}

/// `operations: {openapi_file}` imports the file's content, read relative to
/// the topology; ARM does not return it, so it is never drift.
#[test]
fn openapi_file_is_sent_and_not_drift() {
    let fake = fake();
    let ws = Workspace::example("ptu-spillover");
    let spec = r#"{"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {}}"#;
    std::fs::write(ws.dir.path().join("inference.json"), spec).unwrap();
    let text = std::fs::read_to_string(&ws.topology).unwrap();
    let start = text.find("    openapi_url:").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    std::fs::write(
        &ws.topology,
        format!(
            "{}    openapi_file: inference.json{}",
            &text[..start],
            &text[end..]
        ),
    )
    .unwrap();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let api = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.ends_with("/apis/openai"))
        .unwrap();
    let body = api.body.unwrap();
    assert_eq!(body["properties"]["format"], "openapi+json");
    assert_eq!(body["properties"]["value"], spec);
    fake.clear_requests();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert!(fake.writes().is_empty());
}

/// A gateway identity re-created with a new principal id leaves a role
/// assignment that names the old one; ARM refuses to update it in place, so
/// deploy replaces it.
#[test]
fn stale_role_assignment_is_replaced() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let ra = ws
        .desired()
        .get("role_assignment[eastus]")
        .unwrap()
        .id
        .clone();
    fake.edit(
        &ra,
        "/properties/principalId",
        Value::from("00000000-dead-4000-8000-000000000000"),
    );
    let plan = ws.run(&fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 2);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("~ properties.principalId"),
        "{}",
        text(&plan)
    );
    fake.clear_requests();
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let writes: Vec<(String, u16)> = fake
        .writes()
        .iter()
        .map(|w| (w.method.clone(), w.status))
        .collect();
    assert_eq!(
        writes,
        [("DELETE".to_string(), 200), ("PUT".to_string(), 201)]
    );
    let plan = ws.run(&fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 0, "{}", text(&plan));
}

/// `--timeout` bounds the whole deploy: no new work after it, exit 124, a
/// `timed_out` event naming what was in flight; a re-run converges without
/// sending finished work again.
#[test]
fn timeout_stops_new_work_exits_124_and_rerun_converges() {
    // APIM takes 30 × 100 ms = 3 s, longer than the 1 s budget.
    let fake = FakeArm::start(Config {
        unit: Duration::from_millis(100),
        poll_hint: Duration::from_millis(25),
        ..Config::default()
    });
    let ws = Workspace::example("seed");
    let started = std::time::Instant::now();
    let out = ws.run(&fake, &["deploy", "--yes", "--json", "--timeout", "1s"]);
    assert_eq!(code(&out), 124, "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let timed_out = events
        .iter()
        .find(|e| e["event"] == "timed_out")
        .expect("a timed_out event");
    assert_eq!(timed_out["timeout_s"], 1.0);
    assert!(
        timed_out["in_flight"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "apim"),
        "{timed_out}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Timed out after 1.0s (--timeout)"));

    // A budget that is too small even to read the live state.
    let out = ws.run(&fake, &["plan", "--detailed-exitcode", "--timeout", "1"]);
    assert!(matches!(code(&out), 0 | 2 | 124), "{}", text(&out));

    assert_ok(&ws.run(&fake, &["deploy", "--yes", "--timeout", "2m"]));
    assert_converged(&ws, &fake);
    let puts = successful_puts(&fake);
    assert!(
        puts.values().all(|&n| n == 1),
        "work was sent twice: {puts:#?}"
    );

    // A malformed duration is a usage error.
    let out = ws.run(&fake, &["deploy", "--yes", "--timeout", "soon"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("is not a duration"));
}

/// Two pipelines deploying the same topology at once: ARM is the source of
/// truth, every write is an idempotent PUT of the same body, busy answers are
/// retried, and a role assignment that the other run created counts as done.
/// Both succeed and the result is exactly the desired resources, once.
#[test]
fn two_concurrent_deploys_both_succeed_without_duplicates() {
    let fake = FakeArm::start(Config {
        unit: Duration::from_millis(20),
        poll_hint: Duration::from_millis(5),
        ..Config::default()
    });
    let ws = Workspace::example("multi-model");
    let spawn = || {
        ws.std_cmd(&fake, &["deploy", "--yes"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_ok(&a);
    assert_ok(&b);
    assert_converged(&ws, &fake);
    // The next plan has nothing to do.
    let plan = ws.run(&fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 0, "{}", text(&plan));
}

/// `plan --format markdown`: what a pipeline posts to a pull request.
#[test]
fn plan_markdown_summarises_changes_and_diffs_the_policy() {
    let fake = fake();
    let ws = Workspace::example("seed");
    let md = |ws: &Workspace| {
        let out = ws.run(&fake, &["plan", "--format", "markdown"]);
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    insta::assert_snapshot!("plan_markdown_fresh", md(&ws));
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    insta::assert_snapshot!("plan_markdown_no_changes", md(&ws));
    // Less capacity: three deployments change, and so do the policy's weights.
    ws.edit("    capacity: 120", "    capacity: 100");
    ws.edit("  cache_ttl_seconds: 60", "  cache_ttl_seconds: 90");
    let changed = md(&ws);
    assert!(
        changed.contains("**0 to create, 4 to update, 13 unchanged.**"),
        "{changed}"
    );
    assert!(
        changed.contains("| `deployment[eastus/gpt-35-turbo]` | `sku.capacity` | `120` | `100` |"),
        "{changed}"
    );
    assert!(
        changed.contains("```diff\n--- live\n+++ topology\n"),
        "{changed}"
    );
    insta::assert_snapshot!("plan_markdown_changes", changed);
}

/// The plan table shows a changed policy as a unified diff (the same as the
/// Markdown summary), not as two cut strings that look alike, and bounds it.
#[test]
fn plan_table_shows_a_changed_policy_as_a_bounded_diff() {
    let fake = fake();
    let ws = Workspace::example("seed");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    ws.edit("  cache_ttl_seconds: 60", "  cache_ttl_seconds: 90");
    let plan = ws.run(&fake, &["plan"]);
    assert_ok(&plan);
    let out = String::from_utf8_lossy(&plan.stdout);
    let diff = out
        .split("  ~ properties.value (policy XML):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no policy diff in:\n{out}"));
    assert!(
        diff.starts_with("      --- live\n      +++ topology\n      @@ "),
        "{out}"
    );
    let removed: Vec<&str> = diff.lines().filter(|l| l.starts_with("      -")).collect();
    let added: Vec<&str> = diff.lines().filter(|l| l.starts_with("      +")).collect();
    assert!(removed.iter().any(|l| l.contains("60")), "{out}");
    assert!(added.iter().any(|l| l.contains("90")), "{out}");

    // A live policy replaced in the portal by a long one: the diff is cut.
    let d = ws.desired();
    let id = d.get("api_policy[aoai-smart-api]").unwrap().id.clone();
    let long: String = (0..1000).map(|i| format!("<!-- {i} -->\n")).collect();
    fake.edit(&id, "/properties/value", Value::String(long));
    let plan = ws.run(&fake, &["plan"]);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.lines().count() < 200, "{} lines", out.lines().count());
    assert!(
        out.contains("more lines (oailb render-policy shows the whole policy)"),
        "{out}"
    );
}

const RAW_POLICY: &str = "<!-- note -->\n<policies>\n    <inbound>\n        <set-variable name=\"x\" value=\"@(context.Request.Headers.GetValueOrDefault(\"a\", \"\") == \"b\" && 1 < 2)\" />\n        <set-body>@{\n            return \"<x>\";\n        }</set-body>\n    </inbound>\n</policies>\n";

#[test]
fn fake_apim_parses_raw_expressions_and_exports_both_formats() {
    policy_xml::store(RAW_POLICY, "rawxml").unwrap();
    let xml = policy_xml::export(RAW_POLICY, "rawxml", policy_xml::Export::Xml);
    assert!(
        xml.starts_with("<!-- note -->\r\n<policies>\r\n\t<inbound>\r\n\t\t<set-variable"),
        "{xml}"
    );
    assert!(
        xml.contains("&quot;a&quot;, &quot;&quot;) == &quot;b&quot; &amp;&amp; 1 &lt; 2)\" />"),
        "{xml}"
    );
    assert!(xml.contains("return \"&lt;x&gt;\";\r\n"), "{xml}");
    let raw = policy_xml::export(RAW_POLICY, "rawxml", policy_xml::Export::RawXml);
    assert!(raw.contains("value=\"@(context.Request.Headers.GetValueOrDefault(\"a\", \"\") == \"b\" && 1 < 2)\" />"), "{raw}");
    // What a GET returned can be sent again.
    policy_xml::store(&raw, "rawxml").unwrap();
    policy_xml::store(&xml, "xml").unwrap();
}

#[test]
fn fake_apim_rejects_malformed_policies() {
    assert!(policy_xml::store("<policies><inbound></policies>", "rawxml").is_err());
    assert!(policy_xml::store("<policy />", "rawxml").is_err());
    assert!(policy_xml::store("<policies><x a=\"@(1 < 2)\" /></policies>", "xml").is_err());
    assert!(policy_xml::store("<policies><x a=\"@(1 < 2\" /></policies>", "rawxml").is_err());
    assert!(policy_xml::store("<policies />", "xml").is_ok());
}

/// Index of the first successful PUT of `id` among the recorded requests.
fn put_index(fake: &FakeArm, id: &str) -> usize {
    fake.requests()
        .iter()
        .position(|r| r.method == "PUT" && r.status < 300 && r.path.eq_ignore_ascii_case(id))
        .unwrap_or_else(|| panic!("no PUT of {id}"))
}

fn lists_keys(fake: &FakeArm) -> bool {
    fake.requests()
        .iter()
        .any(|r| r.method == "POST" && r.path.to_ascii_lowercase().ends_with("/listkeys"))
}

/// The external cache (examples/multi-region.yaml): Azure Managed Redis,
/// then its database, then the secret named value with the connection
/// string built from what ARM returns (host, port, listKeys), then APIM's
/// `caches` entity that names it. The key is never printed. A later change
/// elsewhere neither lists the key again nor rewrites the named value; a
/// failed cache creation is reported and a re-run converges; destroy
/// removes it all.
#[test]
fn external_cache_is_created_in_order_with_the_key_read_from_arm() {
    let fake = fake();
    let ws = Workspace::example("multi-region");
    let d = ws.desired();
    let id = |address: &str| d.get(address).unwrap().id.clone();
    // The cluster's creation fails once (Azure-AsyncOperation: Failed).
    fake.fail_operation(
        "/redisenterprise/contoso-mr-gateway-cache",
        OperationEnd::Failed,
        "ResourceQuotaExceeded",
        "The subscription has reached its quota of Azure Managed Redis instances",
    );
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("ResourceQuotaExceeded"),
        "{}",
        text(&out)
    );
    assert!(
        !lists_keys(&fake),
        "no key is read while the cache is missing"
    );
    fake.clear_requests();
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_ok(&out);
    assert_converged(&ws, &fake);
    assert!(
        !text(&out).contains("fake-redis-primary-key"),
        "{}",
        text(&out)
    );
    let cluster = id("cache[default]");
    let database = id("cache_database[default]");
    let named_value = id("named_value[oailb-cache-default]");
    let apim_cache = id("apim_cache[default]");
    assert!(put_index(&fake, &cluster) < put_index(&fake, &database));
    assert!(put_index(&fake, &database) < put_index(&fake, &named_value));
    assert!(put_index(&fake, &named_value) < put_index(&fake, &apim_cache));
    let stored = fake.resource(&named_value).unwrap();
    assert_eq!(stored["properties"]["secret"], true);
    assert_eq!(
        stored["properties"]["value"],
        "contoso-mr-gateway-cache.swedencentral.redis.azure.net:10000,password=fake-redis-primary-key,ssl=True,abortConnect=False"
    );
    let entity = fake.resource(&apim_cache).unwrap();
    assert_eq!(
        entity["properties"]["connectionString"],
        "{{oailb-cache-default}}"
    );
    assert_eq!(entity["properties"]["useFromLocation"], "default");
    let db = fake.resource(&database).unwrap();
    assert_eq!(db["properties"]["accessKeysAuthentication"], "Enabled");
    assert_eq!(db["properties"]["clientProtocol"], "Encrypted");
    let apim = fake.resource(&id("apim")).unwrap();
    assert_eq!(
        apim["properties"]["additionalLocations"],
        serde_json::json!([{"location": "westeurope", "sku": {"name": "Premium", "capacity": 2}, "zones": ["1", "2"]}])
    );

    // A capacity change: the deployment is updated, the cache left alone.
    fake.clear_requests();
    ws.edit("capacity: 200", "capacity: 250");
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    let written: Vec<String> = fake
        .writes()
        .iter()
        .map(|w| w.path.to_ascii_lowercase())
        .collect();
    assert!(
        written.contains(&id("deployment[sweden/gpt-5-mini]").to_ascii_lowercase()),
        "{written:#?}"
    );
    assert!(
        !written
            .iter()
            .any(|p| p.contains("/redisenterprise/") || p.contains("oailb-cache-")),
        "{written:#?}"
    );
    assert!(!lists_keys(&fake));

    let out = ws.run(&fake, &["destroy", "--yes", "--purge-soft-deleted"]);
    assert_ok(&out);
    assert!(fake.ids().is_empty(), "{:#?}", fake.ids());
}

/// `scope: per-region`: one cache per gateway region, each named after its
/// region and used from it only; a re-run writes nothing.
#[test]
fn per_region_caches_are_one_per_gateway_region() {
    let fake = fake();
    let text_ = std::fs::read_to_string(root().join("tests/render/per-region-cache.yaml")).unwrap();
    let ws = Workspace::from_text(&text_);
    assert_ok(&ws.run(&fake, &["deploy", "--yes"]));
    assert_converged(&ws, &fake);
    let d = ws.desired();
    for region in ["eastus2", "centralus"] {
        let cluster = fake
            .resource(&d.get(&format!("cache[{region}]")).unwrap().id)
            .unwrap();
        assert_eq!(cluster["location"], region);
        assert_eq!(cluster["properties"]["highAvailability"], "Disabled");
        let nv = fake
            .resource(
                &d.get(&format!("named_value[oailb-cache-{region}]"))
                    .unwrap()
                    .id,
            )
            .unwrap();
        assert!(
            nv["properties"]["value"]
                .as_str()
                .unwrap()
                .starts_with(&format!(
                    "contoso-lb-state-{region}.{region}.redis.azure.net:10000,"
                )),
            "{nv}"
        );
        let entity = fake
            .resource(&d.get(&format!("apim_cache[{region}]")).unwrap().id)
            .unwrap();
        assert_eq!(entity["properties"]["useFromLocation"], region);
    }
    assert!(d.get("cache[default]").is_none());
    fake.clear_requests();
    let again = ws.run(&fake, &["deploy", "--yes"]);
    assert_ok(&again);
    assert_eq!(fake.writes().len(), 0, "{:#?}", fake.writes());
}

/// `cache: {existing: id}` in another subscription: nothing is created
/// under Microsoft.Cache, the connection string comes from that cache; a
/// database with access keys off is refused with the reason.
#[test]
fn an_existing_cache_is_used_and_needs_access_keys() {
    let cluster = "/subscriptions/00000000-0000-0000-0000-0000000ca5e0/resourceGroups/rg-shared-cache/providers/Microsoft.Cache/redisEnterprise/contoso-shared-redis";
    let database = format!("{cluster}/databases/default");
    let text_ = std::fs::read_to_string(root().join("tests/render/existing-cache.yaml")).unwrap();
    for keys in ["Enabled", "Disabled"] {
        let fake = fake();
        fake.add_foreign(
            cluster,
            serde_json::json!({"location": "westeurope", "sku": {"name": "Balanced_B1"}, "properties": {"highAvailability": "Enabled", "publicNetworkAccess": "Enabled"}}),
        );
        fake.add_foreign(
            &database,
            serde_json::json!({"properties": {"clientProtocol": "Encrypted", "accessKeysAuthentication": keys}}),
        );
        let ws = Workspace::from_text(&text_);
        let out = ws.run(&fake, &["deploy", "--yes"]);
        assert!(!fake
            .writes()
            .iter()
            .any(|w| w.method == "PUT" && w.path.to_ascii_lowercase().contains("microsoft.cache")));
        let d = ws.desired();
        let nv = &d.get("named_value[oailb-cache-default]").unwrap().id;
        if keys == "Enabled" {
            assert_ok(&out);
            let stored = fake.resource(nv).unwrap();
            assert!(
                stored["properties"]["value"]
                    .as_str()
                    .unwrap()
                    .starts_with("contoso-shared-redis.westeurope.redis.azure.net:10000,password=fake-redis-primary-key,"),
                "{stored}"
            );
        } else {
            assert_eq!(code(&out), 1, "{}", text(&out));
            assert!(
                text(&out).contains("AccessKeysAuthenticationDisabled"),
                "{}",
                text(&out)
            );
            assert!(fake.resource(nv).is_none());
        }
    }
}

/// Consumers: keys only with --show-secrets (read through listSecrets,
/// never from a GET), the fake refuses what ARM refuses for the new types,
/// and its GET is ARM's view (no keys, no workbook content unless asked).
#[test]
fn consumers_keys_are_secret_and_the_fake_holds_their_types_to_the_specs() {
    let fake = fake();
    let ws = Workspace::example("teams");
    let out = ws.run(&fake, &["deploy", "--yes"]);
    assert_ok(&out);
    let t = text(&out);
    assert!(!t.contains("fake-search-primary-key"), "{t}");
    assert!(
        t.contains("Consumer keys: not shown (run with --show-secrets): search, analytics"),
        "{t}"
    );
    let shown = ws.run(&fake, &["deploy", "--yes", "--show-secrets"]);
    assert_ok(&shown);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains("  search: fake-search-primary-key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  analytics: fake-analytics-primary-key"),
        "{stdout}"
    );
    let json = ws.run(&fake, &["deploy", "--yes", "--json", "--show-secrets"]);
    assert_ok(&json);
    let outputs: Value = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event"] == "outputs")
        .unwrap();
    assert_valid(
        &schema("deploy-events.v1.json"),
        &outputs,
        "outputs with consumers",
    );
    assert_eq!(
        outputs["consumer_keys"]["search"],
        "fake-search-primary-key"
    );
    assert_eq!(outputs["consumers"][0]["product"], "tier-standard");

    let d = ws.desired();
    let q = |id: &str, v: &str| format!("{id}?api-version={v}");
    let sub = d.get("subscription[search]").unwrap();
    let (status, got) = raw(&fake, "GET", &q(&sub.id, "2024-05-01"), TOKEN, None);
    assert_eq!(status, 200);
    assert!(got["properties"].get("primaryKey").is_none(), "{got:#}");
    assert_eq!(
        got["properties"]["scope"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase(),
        d.get("product[tier-standard]")
            .unwrap()
            .id
            .to_ascii_lowercase()
    );
    // A product's API link has no GET of its own; the list holds it.
    let link = d.get("product_api[tier-standard/openai]").unwrap();
    assert_eq!(
        raw(&fake, "GET", &q(&link.id, "2024-05-01"), TOKEN, None).0,
        405
    );
    let list = link.id.rsplit_once('/').unwrap().0;
    let (status, got) = raw(&fake, "GET", &q(list, "2024-05-01"), TOKEN, None);
    assert_eq!(
        (status, got["value"][0]["name"].as_str()),
        (200, Some("openai"))
    );
    // The workbook's content comes back only when asked for.
    let wb = d.get("workbook").unwrap();
    let (_, plain) = raw(&fake, "GET", &q(&wb.id, "2023-06-01"), TOKEN, None);
    assert!(plain["properties"].get("serializedData").is_none());
    let (_, full) = raw(
        &fake,
        "GET",
        &format!("{}&canFetchContent=true", q(&wb.id, "2023-06-01")),
        TOKEN,
        None,
    );
    assert_eq!(
        full["properties"]["serializedData"],
        wb.body["properties"]["serializedData"]
    );

    let code_of = |r: &(u16, Value)| {
        (
            r.0,
            r.1["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let apim = d.get("apim").unwrap();
    // An open product cannot require approval.
    let r = raw(
        &fake,
        "PUT",
        &q(&format!("{}/products/open", apim.id), "2024-05-01"),
        TOKEN,
        Some(
            &serde_json::json!({"properties": {"displayName": "x", "subscriptionRequired": false, "approvalRequired": true}}),
        ),
    );
    assert_eq!(r.0, 400, "{r:?}");
    // A subscription needs an existing scope, and `master` is taken.
    let r = raw(
        &fake,
        "PUT",
        &q(&format!("{}/subscriptions/x", apim.id), "2024-05-01"),
        TOKEN,
        Some(
            &serde_json::json!({"properties": {"displayName": "x", "scope": format!("{}/products/none", apim.id)}}),
        ),
    );
    assert!(code_of(&r).1.contains("names no product"), "{r:?}");
    let r = raw(
        &fake,
        "PUT",
        &q(&format!("{}/subscriptions/master", apim.id), "2024-05-01"),
        TOKEN,
        Some(&sub.body),
    );
    assert_eq!(r.0, 400, "{r:?}");
    // A product can only hold an API that exists.
    let r = raw(
        &fake,
        "PUT",
        &q(
            &format!("{}/products/tier-standard/apis/none", apim.id),
            "2024-05-01",
        ),
        TOKEN,
        Some(&serde_json::json!({})),
    );
    assert_eq!(r.0, 404, "{r:?}");
    // A workbook is named by a GUID and holds JSON.
    let bad_name = wb.id.rsplit_once('/').unwrap().0.to_string() + "/usage";
    let mut body = wb.body.clone();
    body["properties"]["sourceId"] = Value::from("x");
    assert_eq!(
        raw(
            &fake,
            "PUT",
            &q(&bad_name, "2023-06-01"),
            TOKEN,
            Some(&body)
        )
        .0,
        400
    );
    body["properties"]["serializedData"] = Value::from("{not json");
    assert_eq!(
        raw(&fake, "PUT", &q(&wb.id, "2023-06-01"), TOKEN, Some(&body)).0,
        400
    );

    // Destroy takes the products and subscriptions with APIM, and deletes
    // the workbook itself.
    let out = ws.run(&fake, &["destroy", "--yes"]);
    assert_ok(&out);
    assert!(fake.resource(&wb.id).is_none());
    assert!(fake.ids().is_empty(), "{:#?}", fake.ids());
}
