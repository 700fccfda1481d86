//! One scenario table (`tests/scenarios/balancer.json`), two implementations:
//! the Rust balancer (`oailb::balancer`) and the rendered APIM policy, executed
//! by `tests/harness/PolicyHarness.cs` with its C# expressions compiled by
//! Mono's `mcs` (installed by `scripts/test.sh`). Both must meet every
//! expectation of the table, and must agree with each other request by request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use oailb::balancer::{self, Cache, Reply, Settings};
use oailb::desired::{self, ApiPolicy, Desired};
use oailb::render::policy;
use oailb::topology::{self, Mode, Source};
use serde_json::{json, Value};

const BASE_MS: u64 = 1_700_000_000_000;
const DEFAULT_PATH: &str = "/chat/completions?api-version=2024-10-21";
/// One chat message "Hi" with max_tokens 100: 1 + 100 = 101 tokens.
const DEFAULT_BODY: &str = r#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":100}"#;
/// The client's subscription key: it must never reach a backend.
const CLIENT_KEY: &str = "client-subscription-secret";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn table() -> Value {
    let text = std::fs::read_to_string(root().join("tests/scenarios/balancer.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// RFC 7396 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn desired_for(table: &Value, key: &str, mode: Option<Mode>) -> Desired {
    desired::derive(&loaded_for(table, key, mode).topology, None)
}

/// One request of the table, expanded.
struct Req {
    scenario: String,
    step: usize,
    /// Index into `Plan::policies`.
    policy: usize,
    deployment: String,
    path: String,
    body: String,
    now_ms: u64,
    draws: Vec<f64>,
    answers: Value,
    expect: Value,
    repeat_of: usize,
}

struct PolicyDoc {
    key: String,
    desired: Desired,
    api: String,
    api_path: String,
    gateway: String,
    xml: String,
}

impl PolicyDoc {
    fn policy(&self) -> &ApiPolicy {
        self.desired.policy(&self.api).unwrap()
    }
}

struct Plan {
    policies: Vec<PolicyDoc>,
    /// Per scenario: its name, whether the Rust balancer applies, its requests.
    runs: Vec<(String, bool, Vec<Req>)>,
    /// Per scenario: whether a forward without an answer leaves the retry
    /// loop for on-error (the alternative APIM semantics) instead of
    /// being retried.
    propagate: Vec<bool>,
}

fn plan() -> Plan {
    let t = table();
    let mut policies: Vec<PolicyDoc> = Vec::new();
    let mut runs = Vec::new();
    let mut propagate = Vec::new();
    for sc in t["scenarios"].as_array().unwrap() {
        let name = sc["name"].as_str().unwrap().to_string();
        let mode = match sc["mode"].as_str() {
            Some("pool") => Some(Mode::Pool),
            Some("policy") | None => None,
            Some(other) => panic!("unknown mode {other}"),
        };
        let mut reqs = Vec::new();
        for (si, step) in sc["steps"].as_array().unwrap().iter().enumerate() {
            let topo = step["topology"]
                .as_str()
                .or(sc["topology"].as_str())
                .unwrap();
            let d = desired_for(&t, topo, mode);
            let api = step["api"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| d.policies[0].api.clone());
            let key = format!("{topo}/{api}/{mode:?}");
            let idx = match policies.iter().position(|p| p.key == key) {
                Some(i) => i,
                None => {
                    let xml = policy::render_api(&d, &api, None).unwrap();
                    let api_path = d.outputs.apis.iter().find(|a| a.name == api).unwrap().url
                        [d.outputs.gateway_url.len() + 1..]
                        .to_string();
                    policies.push(PolicyDoc {
                        key,
                        gateway: d.outputs.gateway_url.clone(),
                        desired: d,
                        api: api.clone(),
                        api_path,
                        xml,
                    });
                    policies.len() - 1
                }
            };
            let doc = &policies[idx];
            let deployment = step["deployment"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| doc.policy().routes[0].model.clone());
            let repeat = step["repeat"].as_u64().unwrap_or(1) as usize;
            for i in 0..repeat {
                let draws = match &step["draws"] {
                    Value::String(s) if s == "grid" => vec![(i as f64 + 0.5) / repeat as f64],
                    Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
                    Value::Null => vec![],
                    other => panic!("bad draws {other}"),
                };
                reqs.push(Req {
                    scenario: name.clone(),
                    step: si,
                    policy: idx,
                    deployment: deployment.clone(),
                    path: step["path"].as_str().unwrap_or(DEFAULT_PATH).to_string(),
                    body: step["body"].as_str().unwrap_or(DEFAULT_BODY).to_string(),
                    now_ms: BASE_MS + step["at"].as_u64().unwrap(),
                    draws,
                    answers: step.get("answers").cloned().unwrap_or(json!({})),
                    expect: step["expect"].clone(),
                    repeat_of: repeat,
                });
            }
        }
        let rust = mode.is_none() && sc["only"].as_str() != Some("policy");
        propagate.push(sc["forward_failures"].as_str() == Some("propagate"));
        runs.push((name, rust, reqs));
    }
    Plan {
        policies,
        runs,
        propagate,
    }
}

/// What one request did, the same shape for both implementations.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    attempts: Vec<String>,
    status: u16,
    retry_after: Option<u64>,
    retry_after_ms: Option<u64>,
    served_by: Option<String>,
    /// Executed policy only: `error.code` of a JSON error body.
    error_code: Option<String>,
    urls: Vec<String>,
    auth: Vec<String>,
    headers: BTreeMap<String, String>,
}

/// What every implementation must decide alike, request by request.
type Decisions = (
    Vec<String>,
    u16,
    Option<u64>,
    Option<u64>,
    Option<String>,
    Vec<String>,
);

impl Seen {
    fn decisions(&self) -> Decisions {
        (
            self.attempts.clone(),
            self.status,
            self.retry_after,
            self.retry_after_ms,
            self.served_by.clone(),
            self.urls.clone(),
        )
    }
}

fn reply_for(answers: &Value, backend: &str) -> Reply {
    let answer = match answers.get(backend) {
        Some(a) => a,
        None => &answers["*"],
    };
    match answer {
        Value::String(s) if s == "no-answer" => Reply::NoAnswer,
        Value::Object(o) => Reply::Status {
            status: o["status"].as_u64().unwrap() as u16,
            headers: o
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => Reply::Status {
            status: 200,
            headers: vec![],
        },
    }
}

/// Plays one scenario on the Rust balancer; returns what each request did
/// and the cache at the end.
fn run_rust(plan: &Plan, reqs: &[Req]) -> (Vec<Seen>, BTreeMap<String, String>) {
    let mut cache = Cache::default();
    let seen = reqs
        .iter()
        .map(|r| {
            let doc = &plan.policies[r.policy];
            let p = doc.policy();
            let Some(route) = p.routes.iter().find(|x| x.model == r.deployment) else {
                return Seen {
                    attempts: vec![],
                    status: 404,
                    retry_after: None,
                    retry_after_ms: None,
                    served_by: None,
                    error_code: None,
                    urls: vec![],
                    auth: vec![],
                    headers: BTreeMap::new(),
                };
            };
            let rt = policy::runtime_route(&p.api, route);
            let settings = Settings::from(&p.settings);
            let mut draws = r.draws.clone().into_iter();
            let rest = r.path.split('?').next().unwrap();
            let cost = balancer::estimate(rest, r.body.as_bytes(), &settings.estimate);
            let mut urls = Vec::new();
            let out = balancer::handle(
                &mut cache,
                &rt,
                &cost,
                r.now_ms,
                &settings,
                &mut || draws.next().unwrap_or(0.0),
                &mut |b| {
                    let q = r.path.split_once('?').map(|x| format!("?{}", x.1));
                    urls.push(format!("{}{}", b.target_url(rest), q.unwrap_or_default()));
                    reply_for(&r.answers, &b.name)
                },
            );
            Seen {
                retry_after: out.retry_after_seconds(),
                retry_after_ms: out.retry_after_ms,
                attempts: out.attempts,
                status: out.status,
                served_by: out.served_by,
                error_code: None,
                urls,
                auth: vec![],
                headers: BTreeMap::new(),
            }
        })
        .collect();
    let end = reqs.iter().map(|r| r.now_ms).max().unwrap_or(BASE_MS);
    (seen, cache.snapshot(end))
}

/// Checks `seen` against the table's expectations for one step (`served`
/// counts are checked per step over its repeats by the caller).
fn check(label: &str, seen: &Seen, expect: &Value, executed: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let mut cmp = |field: &str, got: Value| {
        if let Some(want) = expect.get(field) {
            if *want != got {
                bad.push(format!("{label}: {field}: expected {want}, got {got}"));
            }
        }
    };
    cmp("attempts", json!(seen.attempts));
    cmp("status", json!(seen.status));
    cmp("retry_after", json!(seen.retry_after));
    cmp("retry_after_ms", json!(seen.retry_after_ms));
    cmp("served_by", json!(seen.served_by));
    cmp("urls", json!(seen.urls));
    if executed {
        cmp("auth", json!(seen.auth));
        cmp("error_code", json!(seen.error_code));
        if let Some(h) = expect.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                let got = seen.headers.get(&k.to_ascii_lowercase());
                if got.map(String::as_str) != v.as_str() {
                    bad.push(format!("{label}: header {k}: expected {v}, got {got:?}"));
                }
            }
        }
    }
    bad
}

fn check_all(plan: &Plan, reqs: &[Req], seen: &[Seen], executed: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let mut i = 0;
    while i < reqs.len() {
        let r = &reqs[i];
        let label = format!(
            "[{}] {} step {}",
            if executed { "policy" } else { "balancer" },
            r.scenario,
            r.step
        );
        let group = &seen[i..i + r.repeat_of];
        if let Some(want) = r.expect.get("served") {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for s in group {
                *counts
                    .entry(s.served_by.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            if json!(counts) != *want {
                bad.push(format!("{label}: served: expected {want}, got {counts:?}"));
            }
            if let Some(status) = r.expect.get("status") {
                if group.iter().any(|s| json!(s.status) != *status) {
                    bad.push(format!("{label}: not every request answered {status}"));
                }
            }
        } else {
            for (k, s) in group.iter().enumerate() {
                let label = if group.len() > 1 {
                    format!("{label} (request {k})")
                } else {
                    label.clone()
                };
                bad.extend(check(&label, s, &r.expect, executed));
            }
        }
        let _ = plan;
        i += r.repeat_of;
    }
    bad
}

#[test]
fn rust_balancer_meets_the_scenario_table() {
    let plan = plan();
    let mut bad = Vec::new();
    for (_, rust, reqs) in &plan.runs {
        if *rust {
            let (seen, _) = run_rust(&plan, reqs);
            bad.extend(check_all(&plan, reqs, &seen, false));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn newtonsoft() -> PathBuf {
    if let Ok(p) = std::env::var("APIM_NEWTONSOFT_DLL") {
        return PathBuf::from(p);
    }
    for dir in ["/usr/lib/cli", "/usr/lib/mono/gac/Newtonsoft.Json"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("Newtonsoft.Json.dll"))
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if let Some(p) = found.pop() {
                return p;
            }
        }
    }
    panic!("Newtonsoft.Json.dll not found: run scripts/test.sh, which installs mono-mcs and libnewtonsoft-json-cil-dev");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): run scripts/test.sh, which installs Mono")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mcs(dir: &Path, args: &[&str]) {
    let nj = newtonsoft();
    let mut c = Command::new("mcs");
    c.current_dir(dir)
        .arg(format!("-r:{}", nj.display()))
        .args([
            "-r:System.Core.dll",
            "-r:System.Xml.dll",
            "-r:System.Xml.Linq.dll",
            "-nowarn:162,168,219",
        ])
        .args(args);
    run(&mut c);
}

/// Runs every scenario through the executed policies; returns per run the
/// harness's JSON results and its cache at the end.
fn run_harness(plan: &Plan, dir: &Path) -> Vec<(Vec<Value>, BTreeMap<String, String>)> {
    let src = root().join("tests/harness/PolicyHarness.cs");
    mcs(
        dir,
        &["-target:exe", "-out:harness.exe", src.to_str().unwrap()],
    );
    let mut files = Vec::new();
    let mut policies = Vec::new();
    for (i, doc) in plan.policies.iter().enumerate() {
        let file = dir.join(format!("policy{i}.xml"));
        std::fs::write(&file, &doc.xml).unwrap();
        let mut hosts = serde_json::Map::new();
        for b in doc.policy().routes.iter().flat_map(|r| &r.backends) {
            let host = b
                .url
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap();
            hosts.insert(host.to_string(), json!(b.name));
        }
        policies.push(json!({
            "file": file, "api": doc.api, "api_id": doc.api, "api_path": doc.api_path, "hosts": hosts,
        }));
        files.push(file.to_str().unwrap().to_string());
    }
    let mut gen = Command::new("mono");
    gen.current_dir(dir)
        .args(["harness.exe", "gen", "exprs.cs"])
        .args(&files);
    run(&mut gen);
    mcs(
        dir,
        &[
            "-target:library",
            "-out:exprs.dll",
            "-r:harness.exe",
            "exprs.cs",
        ],
    );
    let runs: Vec<Value> = plan
        .runs
        .iter()
        .zip(&plan.propagate)
        .map(|((_, _, reqs), propagate)| {
            let requests: Vec<Value> = reqs
                .iter()
                .map(|r| {
                    let doc = &plan.policies[r.policy];
                    let sep = if r.path.contains('?') { '&' } else { '?' };
                    json!({
                        "policy": r.policy,
                        "now_ms": r.now_ms,
                        "body": r.body,
                        "draws": r.draws,
                        "answers": r.answers,
                        "url": format!("{}/{}/deployments/{}{}{sep}subscription-key={CLIENT_KEY}",
                            doc.gateway, doc.api_path, r.deployment, r.path),
                        "headers": {
                            doc.policy().subscription_key_header.clone(): CLIENT_KEY,
                            "Content-Type": "application/json",
                        },
                    })
                })
                .collect();
            json!({ "requests": requests, "propagate_forward_failures": propagate })
        })
        .collect();
    let plan_file = dir.join("plan.json");
    std::fs::write(
        &plan_file,
        serde_json::to_vec_pretty(&json!({"policies": policies, "runs": runs})).unwrap(),
    )
    .unwrap();
    let mut play = Command::new("mono");
    play.current_dir(dir)
        .args(["harness.exe", "run", "exprs.dll"])
        .arg(&plan_file);
    let out: Value = serde_json::from_str(&run(&mut play)).unwrap();
    out.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let cache = r["cache"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (r["results"].as_array().unwrap().clone(), cache)
        })
        .collect()
}

/// The harness's view of one request, with the checks every request must pass.
fn seen_from_harness(label: &str, v: &Value, bad: &mut Vec<String>) -> Seen {
    if let Some(e) = v.get("runtime_exception") {
        bad.push(format!("{label}: runtime exception in the policy: {e}"));
    }
    let attempts = v["attempts"].as_array().unwrap();
    let mut auth = Vec::new();
    for a in attempts {
        let text = a.to_string();
        if text.contains(CLIENT_KEY) {
            bad.push(format!(
                "{label}: the client's subscription key reached a backend: {a}"
            ));
        }
        let url = a["url"].as_str().unwrap_or_default();
        if url.contains("//openai") || url.matches("/openai/").count() > 1 {
            bad.push(format!("{label}: bad backend URL {url}"));
        }
        auth.push(match (a["authorization"].as_str(), a["api_key"].as_str()) {
            (Some(bearer), None) if bearer.starts_with("Bearer mi-token(") => {
                "managed-identity".to_string()
            }
            (None, Some(key)) => format!(
                "api-key:{}",
                key.strip_prefix("nv(")
                    .and_then(|k| k.strip_suffix(')'))
                    .unwrap_or(key)
            ),
            (None, None) => "none".to_string(),
            other => format!("{other:?}"),
        });
    }
    let headers: BTreeMap<String, String> = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_string()))
        .collect();
    let from_policy = v["origin"] == "policy";
    let error_code = v["body"]
        .as_str()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|b| b["error"]["code"].as_str().map(str::to_string));
    Seen {
        retry_after_ms: if from_policy {
            headers.get("retry-after-ms").and_then(|s| s.parse().ok())
        } else {
            None
        },
        error_code,
        attempts: attempts
            .iter()
            .map(|a| a["backend"].as_str().unwrap().to_string())
            .collect(),
        status: v["status"].as_u64().unwrap() as u16,
        retry_after: if from_policy {
            headers.get("retry-after").and_then(|s| s.parse().ok())
        } else {
            None
        },
        served_by: if from_policy {
            None
        } else {
            attempts
                .last()
                .map(|a| a["backend"].as_str().unwrap().to_string())
        },
        urls: attempts
            .iter()
            .map(|a| a["url"].as_str().unwrap_or_default().to_string())
            .collect(),
        auth,
        headers,
    }
}

#[test]
fn executed_policy_meets_the_scenario_table_and_matches_the_balancer() {
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    let results = run_harness(&plan, dir.path());
    let mut bad = Vec::new();
    for ((name, rust, reqs), (res, cache)) in plan.runs.iter().zip(&results) {
        let seen: Vec<Seen> = reqs
            .iter()
            .zip(res)
            .map(|(r, v)| {
                seen_from_harness(&format!("[policy] {name} step {}", r.step), v, &mut bad)
            })
            .collect();
        bad.extend(check_all(&plan, reqs, &seen, true));
        if *rust {
            let (rust_seen, rust_cache) = run_rust(&plan, reqs);
            // The same integer arithmetic leaves the same state behind.
            let states = |c: &BTreeMap<String, String>| -> BTreeMap<String, String> {
                c.iter()
                    .filter(|(_, v)| v.starts_with("q1|"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if states(cache) != states(&rust_cache) {
                bad.push(format!(
                    "{name}: cached state differs:\n  policy:   {:?}\n  balancer: {:?}",
                    states(cache),
                    states(&rust_cache)
                ));
            }
            for ((r, a), b) in reqs.iter().zip(&seen).zip(rust_seen) {
                if a.decisions() != b.decisions() {
                    bad.push(format!(
                        "{name} step {}: policy and balancer differ:\n  policy:   {:?}\n  balancer: {:?}",
                        r.step,
                        a.decisions(),
                        b.decisions()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Values no valid topology can hold, rendered anyway: every expression of
/// the result must still compile (nothing broke out of a C# string), and the
/// harness must still parse the document.
#[test]
fn hostile_values_still_compile() {
    let d = desired_for(&table(), "multi-model", None);
    let evil = "x\"'<&>@{{nv}}@(1)--\\u0022";
    let mut p = d.policies[0].clone();
    p.api = format!("api{evil}");
    p.subscription_key_header = format!("key{evil}");
    p.settings.backend_header = Some(format!("h{evil}"));
    for r in &mut p.routes {
        r.model = format!("{}{evil}", r.model);
        r.pool_id = Some(format!("pool{evil}"));
        for b in &mut r.backends {
            b.name = format!("{}{evil}", b.name);
            b.url = format!("{}{evil}", b.url);
            b.deployment = format!("d{evil}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("tests/harness/PolicyHarness.cs");
    mcs(
        dir.path(),
        &["-target:exe", "-out:harness.exe", src.to_str().unwrap()],
    );
    let templates = oailb::render::Templates::load(None).unwrap();
    let mut files = Vec::new();
    for mode in [Mode::Policy, Mode::Pool] {
        let mut p = p.clone();
        p.mode = mode;
        let file = dir.path().join(format!("{mode:?}.xml"));
        std::fs::write(&file, policy::render(&templates, &p).unwrap()).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    let mut gen = Command::new("mono");
    gen.current_dir(dir.path())
        .args(["harness.exe", "gen", "exprs.cs"])
        .args(&files);
    run(&mut gen);
    mcs(
        dir.path(),
        &[
            "-target:library",
            "-out:exprs.dll",
            "-r:harness.exe",
            "exprs.cs",
        ],
    );
}

// ---------------------------------------------------------------------------
// The serve column: every policy-mode scenario through `oailb serve`
// (src/serve) over real sockets, with the step's time on a manual clock,
// its draws scripted, and one mock backend per topology backend on loopback
// answering as the step says.

mod support;

use std::sync::{Arc, Mutex};

use oailb::serve::clock::{ManualClock, ScriptedDraws};
use oailb::serve::config::{Credentials, Options, Runtime};
use oailb::serve::metrics::Metrics;
use oailb::serve::store::MemoryStore;
use oailb::serve::{server, Gateway};
use support::mock_aoai::{Answer, Backend as MockBackend, Journal};

const SERVE_TOKEN: &str = "scenario-entra-token";

fn loaded_for(table: &Value, key: &str, mode: Option<Mode>) -> topology::Loaded {
    let spec = &table["topologies"][key];
    let file = spec["file"].as_str().expect("topology file");
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let (mut value, _) = topology::source::load(&text).unwrap();
    if let Some(patch) = spec.get("patch") {
        merge(&mut value, patch);
    }
    let src = Source::new(
        format!("{key}.json"),
        serde_json::to_string(&value).unwrap(),
    );
    let loaded = topology::load(src).unwrap_or_else(|e| panic!("topology {key}: {e}"));
    match mode {
        Some(m) => {
            topology::with_mode(&loaded, m).unwrap_or_else(|e| panic!("{key} in {m:?}: {e}"))
        }
        None => loaded,
    }
}

fn mock_answer(answers: &Value, backend: &str) -> Answer {
    match reply_for(answers, backend) {
        Reply::NoAnswer => Answer::Drop,
        Reply::Status { status, headers } => Answer::Status(status, headers),
    }
}

/// Plays one scenario through serve; returns what each request did and the
/// state store at the end.
fn run_serve(plan: &Plan, reqs: &[Req]) -> (Vec<Seen>, BTreeMap<String, String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = table();
        let clock = Arc::new(ManualClock::new(BASE_MS));
        let draws = Arc::new(ScriptedDraws::default());
        let store = Arc::new(MemoryStore::default());
        let journal: Journal = Arc::new(Mutex::new(Vec::new()));
        let mut mocks: BTreeMap<String, MockBackend> = BTreeMap::new();
        // One gateway per policy document the scenario uses, all on one
        // store, clock and draw source.
        let mut gateways: BTreeMap<usize, (std::net::SocketAddr, BTreeMap<String, String>)> =
            BTreeMap::new();
        let mut seen = Vec::new();
        for r in reqs {
            let doc = &plan.policies[r.policy];
            if let std::collections::btree_map::Entry::Vacant(slot) = gateways.entry(r.policy) {
                let topo = doc.key.split('/').next().unwrap();
                let mode = if doc.key.ends_with("Some(Pool)") {
                    Some(Mode::Pool)
                } else {
                    None
                };
                let loaded = loaded_for(&t, topo, mode);
                let mut upstreams = BTreeMap::new();
                let mut roots = BTreeMap::new();
                for (_, b) in loaded.topology.backends() {
                    if !mocks.contains_key(&b.name) {
                        let m = MockBackend::start_journaled(&b.name, Some(journal.clone())).await;
                        mocks.insert(b.name.clone(), m);
                    }
                    upstreams.insert(
                        b.name.clone(),
                        url::Url::parse(&mocks[&b.name].url()).unwrap(),
                    );
                    if let Some(oailb::topology::ApiKeySource::Env(var)) = &b.api_key {
                        // The tests of this binary read no other variable.
                        std::env::set_var(var, format!("key-of-{}", b.name));
                    }
                }
                for rb in doc.policy().routes.iter().flat_map(|r| &r.backends) {
                    roots.insert(
                        rb.name.clone(),
                        rb.url.trim_end_matches("/openai").to_string(),
                    );
                }
                let options = Options {
                    credentials: Credentials::Fixed(SERVE_TOKEN.into()),
                    upstreams,
                    api: Some(doc.api.clone()),
                    key_vault_endpoint: None,
                };
                let runtime = Runtime::build(&loaded, &options).await.unwrap();
                let gw = Arc::new(Gateway::new(
                    runtime,
                    store.clone(),
                    clock.clone(),
                    draws.clone(),
                    Arc::new(Metrics::new()),
                ));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(server::serve(gw, listener, std::future::pending()));
                slot.insert((addr, roots));
            }
            let (addr, roots) = &gateways[&r.policy];
            clock.set(r.now_ms);
            draws.set(&r.draws);
            for (name, m) in &mocks {
                m.clear();
                m.always(mock_answer(&r.answers, name));
            }
            journal.lock().unwrap().clear();
            let key_header = doc.policy().subscription_key_header.clone();
            let res = reqwest::Client::new()
                .post(format!(
                    "http://{addr}/{}/deployments/{}{}",
                    doc.api_path, r.deployment, r.path
                ))
                .header(key_header.as_str(), CLIENT_KEY)
                .header("content-type", "application/json")
                .body(r.body.clone())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let headers: BTreeMap<String, String> = res
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let calls = journal.lock().unwrap().clone();
            let served_by = headers.get("x-mock-backend").cloned();
            let from_gateway = served_by.is_none();
            let named_values: BTreeMap<String, String> = doc
                .policy()
                .routes
                .iter()
                .flat_map(|r| &r.backends)
                .filter_map(|b| match &b.auth {
                    desired::RouteAuth::ApiKey { named_value } => {
                        Some((b.name.clone(), named_value.clone()))
                    }
                    desired::RouteAuth::ManagedIdentity => None,
                })
                .collect();
            seen.push(Seen {
                attempts: calls.iter().map(|(n, _)| n.clone()).collect(),
                status,
                retry_after: headers
                    .get("retry-after")
                    .filter(|_| from_gateway)
                    .and_then(|v| v.parse().ok()),
                retry_after_ms: headers
                    .get("retry-after-ms")
                    .filter(|_| from_gateway)
                    .and_then(|v| v.parse().ok()),
                served_by,
                error_code: body["error"]["code"].as_str().map(str::to_string),
                urls: calls
                    .iter()
                    .map(|(n, s)| format!("{}{}", roots[n], s.path_and_query))
                    .collect(),
                auth: calls
                    .iter()
                    .map(
                        |(n, s)| match (s.header("authorization"), s.header("api-key")) {
                            (Some(a), None) if a == format!("Bearer {SERVE_TOKEN}") => {
                                "managed-identity".to_string()
                            }
                            (None, Some(k)) if k == format!("key-of-{n}") => {
                                format!("api-key:{}", named_values[n])
                            }
                            other => format!("{other:?}"),
                        },
                    )
                    .collect(),
                headers,
            });
            for (_, s) in &calls {
                assert!(
                    !format!("{s:?}").contains(CLIENT_KEY),
                    "the client's key reached a backend"
                );
            }
        }
        let end = reqs.iter().map(|r| r.now_ms).max().unwrap_or(BASE_MS);
        (seen, store.snapshot(end))
    })
}

#[test]
fn serve_meets_the_scenario_table_and_matches_the_balancer() {
    let plan = plan();
    let mut bad = Vec::new();
    for (name, rust, reqs) in &plan.runs {
        if !*rust {
            continue;
        }
        let (seen, state) = run_serve(&plan, reqs);
        bad.extend(
            check_all(&plan, reqs, &seen, true)
                .into_iter()
                .map(|b| b.replacen("[policy]", "[serve]", 1)),
        );
        let (rust_seen, rust_cache) = run_rust(&plan, reqs);
        if state != rust_cache {
            bad.push(format!(
                "{name}: state differs:\n  serve:    {state:?}\n  balancer: {rust_cache:?}"
            ));
        }
        for ((r, a), b) in reqs.iter().zip(&seen).zip(rust_seen) {
            if a.decisions() != b.decisions() {
                bad.push(format!(
                    "{name} step {}: serve and balancer differ:\n  serve:    {:?}\n  balancer: {:?}",
                    r.step,
                    a.decisions(),
                    b.decisions()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
