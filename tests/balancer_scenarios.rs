//! One scenario table (`tests/scenarios/balancer.json`), two implementations:
//! the Rust balancer (`oailb::balancer`) and the rendered APIM policy, executed
//! by `tests/harness/*.cs` with its C# expressions compiled by Mono's `mcs`
//! (installed by `scripts/test.sh`). Both must meet every expectation of the
//! table, and must agree with each other request by request and leave the
//! same cached state. A scenario with `overlap` is played by the harness under
//! every interleaving of the two overlapping requests (see Scenarios.cs); its
//! serial interleaving is the one the Rust balancer must match.
//!
//! `OAILB_POLICY_TEMPLATES=DIR` renders the policies with the templates of
//! DIR (`DIR/policies/policy-mode.xml.tera`) instead of the embedded ones:
//! `scripts/policy-mutants.sh` runs mutants of the template through it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use oailb::balancer::{self, Cache, Reply, Settings, Signals};
use oailb::desired::{self, ApiPolicy, Desired};
use oailb::render::policy;
use oailb::topology::{self, Mode, Source};
use serde_json::{json, Value};

mod harness_support;
use harness_support::{backend_hosts, build_harness, compile_expressions, run};

const BASE_MS: u64 = 1_700_000_000_000;
const DEFAULT_PATH: &str = "/chat/completions?api-version=2024-10-21";
/// One chat message "Hi" with max_tokens 100: 1 + 100 = 101 tokens.
const DEFAULT_BODY: &str = r#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":100}"#;
/// The client's subscription key: it must never reach a backend.
const CLIENT_KEY: &str = "client-subscription-secret";
/// Failing interleavings reported per scenario (the first ones).
const MAX_VARIANT_REPORTS: usize = 3;

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

/// One topology of the table, loaded and validated (in `mode`).
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

/// The desired state of one topology of the table, and each API's display
/// name (what APIM gives as `context.Api.Name`).
fn desired_for(
    table: &Value,
    key: &str,
    mode: Option<Mode>,
) -> (Desired, BTreeMap<String, String>) {
    let loaded = loaded_for(table, key, mode);
    let names = loaded
        .topology
        .apis()
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.display_name.clone().unwrap_or_else(|| a.name.clone()),
            )
        })
        .collect();
    (desired::derive(&loaded.topology, None), names)
}

/// `context.Api.Id` of an API in the harness, and the id the Rust side keys
/// state with: an `apis/<name>` path, never the name or the display name,
/// so a cache key built from either does not match.
fn api_id(api: &str) -> String {
    format!("apis/{api}")
}

/// The templates to render with (`OAILB_POLICY_TEMPLATES`), else embedded.
fn templates_dir() -> Option<PathBuf> {
    std::env::var_os("OAILB_POLICY_TEMPLATES").map(PathBuf::from)
}

/// One request of the table, expanded.
struct Req {
    step: usize,
    /// Index into `Plan::policies`.
    policy: usize,
    deployment: String,
    path: String,
    body: String,
    /// The gateway's region (`context.Deployment.Region`), as APIM writes it.
    gateway_region: Option<String>,
    now_ms: u64,
    /// Each backend's answer arrives this long after it was sent
    /// (`answer_after_ms`, default 0: at once).
    answer_after_ms: u64,
    draws: Vec<f64>,
    answers: Value,
    expect: Value,
    repeat_of: usize,
    /// The gateway instance that serves it (`gateway`, default `a`).
    gateway: String,
}

struct PolicyDoc {
    key: String,
    desired: Desired,
    api: String,
    api_name: String,
    api_path: String,
    gateway: String,
    xml: String,
}

impl PolicyDoc {
    fn policy(&self) -> &ApiPolicy {
        self.desired.policy(&self.api).unwrap()
    }
}

struct Scenario {
    name: String,
    /// Whether the Rust balancer plays it (policy mode, not `only: policy`).
    rust: bool,
    /// A forward without an answer leaves the retry loop for on-error (the
    /// other reading of APIM's retry) instead of being retried.
    propagate: bool,
    /// Indexes (into `reqs`) of the two requests that overlap in time.
    overlap: Option<[usize; 2]>,
    /// Cache keys that hold backend state at the end, if the table says.
    cache_keys: Option<Value>,
    /// Whether each gateway instance keeps its own cache (`gateway_caches:
    /// own`) instead of all sharing one (an external cache).
    own_caches: bool,
    reqs: Vec<Req>,
}

struct Plan {
    policies: Vec<PolicyDoc>,
    scenarios: Vec<Scenario>,
}

fn plan() -> Plan {
    let t = table();
    let templates = templates_dir();
    let mut policies: Vec<PolicyDoc> = Vec::new();
    let mut scenarios = Vec::new();
    for sc in t["scenarios"].as_array().unwrap() {
        let name = sc["name"].as_str().unwrap().to_string();
        let mode = match sc["mode"].as_str() {
            Some("pool") => Some(Mode::Pool),
            Some("policy") | None => None,
            Some(other) => panic!("unknown mode {other}"),
        };
        let mut reqs = Vec::new();
        let mut first_of_step = Vec::new();
        for (si, step) in sc["steps"].as_array().unwrap().iter().enumerate() {
            let topo = step["topology"]
                .as_str()
                .or(sc["topology"].as_str())
                .unwrap();
            let (d, display) = desired_for(&t, topo, mode);
            let api = step["api"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| d.policies[0].api.clone());
            let key = format!("{topo}/{api}/{mode:?}");
            let idx = match policies.iter().position(|p| p.key == key) {
                Some(i) => i,
                None => {
                    let xml = policy::render_api(&d, &api, templates.as_deref())
                        .unwrap_or_else(|e| panic!("rendering {key}: {e:#}"));
                    let api_path = d.outputs.apis.iter().find(|a| a.name == api).unwrap().url
                        [d.outputs.gateway_url.len() + 1..]
                        .to_string();
                    policies.push(PolicyDoc {
                        key,
                        gateway: d.outputs.gateway_url.clone(),
                        desired: d,
                        api_name: display[&api].clone(),
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
            first_of_step.push(reqs.len());
            for i in 0..repeat {
                let draws = match &step["draws"] {
                    Value::String(s) if s == "grid" => vec![(i as f64 + 0.5) / repeat as f64],
                    Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
                    Value::Null => vec![],
                    other => panic!("bad draws {other}"),
                };
                reqs.push(Req {
                    step: si,
                    policy: idx,
                    deployment: deployment.clone(),
                    path: step["path"].as_str().unwrap_or(DEFAULT_PATH).to_string(),
                    body: step["body"].as_str().unwrap_or(DEFAULT_BODY).to_string(),
                    gateway_region: step["gateway_region"]
                        .as_str()
                        .or(sc["gateway_region"].as_str())
                        .map(str::to_string),
                    now_ms: BASE_MS + step["at"].as_u64().unwrap(),
                    answer_after_ms: step["answer_after_ms"].as_u64().unwrap_or(0),
                    draws,
                    answers: step.get("answers").cloned().unwrap_or(json!({})),
                    expect: step["expect"].clone(),
                    repeat_of: repeat,
                    gateway: step["gateway"].as_str().unwrap_or("a").to_string(),
                });
            }
        }
        let overlap = sc.get("overlap").map(|o| {
            let steps: Vec<usize> = o
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap() as usize)
                .collect();
            let [a, b] = steps[..] else {
                panic!("{name}: overlap names two steps")
            };
            assert!(
                a < b
                    && reqs[first_of_step[a]].repeat_of == 1
                    && reqs[first_of_step[b]].repeat_of == 1,
                "{name}: overlap names two steps in order, without repeat"
            );
            [first_of_step[a], first_of_step[b]]
        });
        scenarios.push(Scenario {
            rust: mode.is_none() && sc["only"].as_str() != Some("policy"),
            propagate: sc["forward_failures"].as_str() == Some("propagate"),
            overlap,
            cache_keys: sc.get("cache_keys").cloned(),
            own_caches: match sc["gateway_caches"].as_str() {
                Some("own") => true,
                Some("shared") | None => false,
                Some(other) => panic!("{name}: gateway_caches {other}"),
            },
            name,
            reqs,
        });
    }
    Plan {
        policies,
        scenarios,
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
    /// Executed policy only: the body the client got, and `error.code` of
    /// a JSON error body.
    body: Option<String>,
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

    /// A request that reached no backend and got `status`.
    fn without_attempts(status: u16) -> Seen {
        Seen {
            attempts: vec![],
            status,
            retry_after: None,
            retry_after_ms: None,
            served_by: None,
            body: None,
            error_code: None,
            urls: vec![],
            auth: vec![],
            headers: BTreeMap::new(),
        }
    }
}

/// The table's answer of `backend`: `None` for no answer, else the status
/// and the headers.
fn answer_for(answers: &Value, backend: &str) -> Option<(u16, Vec<(String, String)>)> {
    let answer = match answers.get(backend) {
        Some(a) => a,
        None => &answers["*"],
    };
    match answer {
        Value::String(s) if s == "no-answer" => None,
        Value::Object(o) => Some((
            o["status"].as_u64().unwrap() as u16,
            o.get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        )),
        _ => Some((200, vec![])),
    }
}

/// The table's answer of `backend` as the balancer reads it.
fn reply_for(answers: &Value, backend: &str) -> Reply {
    match answer_for(answers, backend) {
        None => Reply::NoAnswer,
        Some((status, headers)) => Reply::Status {
            status,
            signals: Signals::from_headers(&headers),
        },
    }
}

/// The cache a request's gateway uses: its own (`own_caches`), else the
/// one every instance shares (named ``).
fn cache_owner<'a>(sc: &Scenario, r: &'a Req) -> &'a str {
    if sc.own_caches {
        &r.gateway
    } else {
        ""
    }
}

/// Every cache's entries as one map: with own caches each key is prefixed
/// by its gateway (`a/oailb:...`), a shared cache's keys stand alone.
fn merged<V>(caches: BTreeMap<String, BTreeMap<String, V>>) -> BTreeMap<String, V> {
    caches
        .into_iter()
        .flat_map(|(owner, c)| {
            c.into_iter().map(move |(k, v)| {
                let key = if owner.is_empty() {
                    k
                } else {
                    format!("{owner}/{k}")
                };
                (key, v)
            })
        })
        .collect()
}

/// Plays one scenario on the Rust balancer; returns what each request did
/// and the cache (or, with own caches, every gateway's) at the end.
fn run_rust(plan: &Plan, sc: &Scenario) -> (Vec<Seen>, BTreeMap<String, String>) {
    let reqs = &sc.reqs;
    let mut caches: BTreeMap<String, Cache> = BTreeMap::new();
    let seen = reqs
        .iter()
        .map(|r| {
            let cache = caches.entry(cache_owner(sc, r).to_string()).or_default();
            let doc = &plan.policies[r.policy];
            let p = doc.policy();
            let Some(route) = p.routes.iter().find(|x| x.model == r.deployment) else {
                return Seen::without_attempts(404);
            };
            let rt = policy::runtime_route(&api_id(&p.api), route);
            let mut settings = Settings::from(&p.settings);
            if p.settings.prefer_nearby == Some(true) {
                settings.gateway_region =
                    r.gateway_region.as_deref().map(balancer::region::normalize);
            }
            let mut draws = r.draws.clone().into_iter();
            let rest = r.path.split('?').next().unwrap();
            let cost = balancer::estimate(rest, r.body.as_bytes(), &settings.estimate);
            let mut urls = Vec::new();
            let clock = std::cell::Cell::new(r.now_ms);
            let out = balancer::handle_clocked(
                cache,
                &rt,
                &cost,
                &|| clock.get(),
                &settings,
                &mut || draws.next().unwrap_or(0.0),
                &mut |b| {
                    let q = r.path.split_once('?').map(|x| format!("?{}", x.1));
                    urls.push(format!("{}{}", b.target_url(rest), q.unwrap_or_default()));
                    clock.set(clock.get() + r.answer_after_ms);
                    reply_for(&r.answers, &b.name)
                },
            );
            Seen {
                retry_after: out.retry_after_seconds(),
                retry_after_ms: out.retry_after_ms,
                attempts: out.attempts,
                status: out.status,
                served_by: out.served_by,
                body: None,
                error_code: None,
                urls,
                auth: vec![],
                headers: BTreeMap::new(),
            }
        })
        .collect();
    let end = reqs.iter().map(|r| r.now_ms).max().unwrap_or(BASE_MS);
    let snapshots = caches
        .into_iter()
        .map(|(owner, c)| (owner, c.snapshot(end)))
        .collect();
    (seen, merged(snapshots))
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
        cmp("body", json!(seen.body));
        if let Some(h) = expect.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                let got = seen.headers.get(&k.to_ascii_lowercase());
                let want = v.as_str();
                if got.map(String::as_str) != want {
                    bad.push(format!("{label}: header {k}: expected {v}, got {got:?}"));
                }
            }
        }
    }
    bad
}

fn check_all(sc: &Scenario, seen: &[Seen], executed: bool, tag: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let mut i = 0;
    while i < sc.reqs.len() {
        let r = &sc.reqs[i];
        let label = format!(
            "[{}] {} step {}{tag}",
            if executed { "policy" } else { "balancer" },
            sc.name,
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
        i += r.repeat_of;
    }
    bad
}

/// Keys and values of backend state (the `q1|` entries) in a cache snapshot.
fn states(c: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    c.iter()
        .filter(|(_, v)| v.as_str().is_none_or(|s| s.starts_with("q1|")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_cache_keys(sc: &Scenario, cache: &BTreeMap<String, Value>, label: &str) -> Vec<String> {
    let Some(want) = &sc.cache_keys else {
        return vec![];
    };
    let got: Vec<String> = states(cache).into_keys().collect();
    if json!(got) == *want {
        vec![]
    } else {
        vec![format!("{label}: cache keys: expected {want}, got {got:?}")]
    }
}

#[test]
fn rust_balancer_meets_the_scenario_table() {
    let plan = plan();
    let mut bad = Vec::new();
    for sc in plan.scenarios.iter().filter(|s| s.rust) {
        let (seen, cache) = run_rust(&plan, sc);
        bad.extend(check_all(sc, &seen, false, ""));
        let cache = cache.into_iter().map(|(k, v)| (k, json!(v))).collect();
        bad.extend(check_cache_keys(
            sc,
            &cache,
            &format!("[balancer] {}", sc.name),
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// `PT1M`, `PT10S`, `PT1H30M` in milliseconds.
fn iso_duration_ms(v: &str) -> u64 {
    let mut rest = v.strip_prefix("PT").expect("an ISO 8601 time duration");
    let mut ms = 0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
        let value: u64 = rest[..n].parse().unwrap();
        ms += value
            * match &rest[n..n + 1] {
                "H" => 3_600_000,
                "M" => 60_000,
                "S" => 1000,
                u => panic!("unit {u} in {v}"),
            };
        rest = &rest[n + 1..];
    }
    ms
}

/// Pool mode: each pool of the API with its members (named after the
/// topology's backends), their priority, weight and circuit breaker, as the
/// desired state gives them to ARM.
fn pools(doc: &PolicyDoc, hosts: &serde_json::Map<String, Value>) -> Value {
    let mut out = serde_json::Map::new();
    for route in &doc.policy().routes {
        let Some(pool_id) = &route.pool_id else {
            continue;
        };
        let pool = doc
            .desired
            .resources
            .iter()
            .find(|r| &r.name == pool_id)
            .expect("the pool resource");
        let members: Vec<Value> = pool.body["properties"]["pool"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let m = doc
                    .desired
                    .resources
                    .iter()
                    .find(|r| Some(r.id.as_str()) == s["id"].as_str())
                    .expect("the member resource");
                let url = m.body["properties"]["url"].as_str().unwrap();
                let host = url
                    .trim_start_matches("https://")
                    .split('/')
                    .next()
                    .unwrap();
                let rule = &m.body["properties"]["circuitBreaker"]["rules"][0];
                let fc = &rule["failureCondition"];
                json!({
                    "name": hosts[host],
                    "url": url,
                    "priority": s["priority"],
                    "weight": s["weight"],
                    "breaker": {
                        "count": fc["count"],
                        "interval_ms": iso_duration_ms(fc["interval"].as_str().unwrap()),
                        "ranges": fc["statusCodeRanges"].as_array().unwrap().iter()
                            .map(|r| json!([r["min"], r["max"]])).collect::<Vec<_>>(),
                        "trip_ms": iso_duration_ms(rule["tripDuration"].as_str().unwrap()),
                        "accept_retry_after": rule["acceptRetryAfter"],
                    },
                })
            })
            .collect();
        out.insert(pool_id.clone(), json!(members));
    }
    Value::Object(out)
}

/// One play of a scenario by the harness: results per request, the cache at
/// the end, and (interleaved scenarios) which schedule it was.
struct Variant {
    schedule: String,
    results: Vec<Value>,
    cache: BTreeMap<String, Value>,
}

/// Runs every scenario through the executed policies; per scenario its variants.
fn run_harness(plan: &Plan, dir: &Path) -> Vec<Vec<Variant>> {
    build_harness(dir);
    let mut files = Vec::new();
    let mut policies = Vec::new();
    for (i, doc) in plan.policies.iter().enumerate() {
        let file = dir.join(format!("policy{i}.xml"));
        std::fs::write(&file, &doc.xml).unwrap();
        let hosts = backend_hosts(doc.policy());
        policies.push(json!({
            "file": file, "api_id": api_id(&doc.api), "api_name": doc.api_name,
            "api_path": doc.api_path, "pools": pools(doc, &hosts), "hosts": hosts,
        }));
        files.push(file.to_str().unwrap().to_string());
    }
    compile_expressions(dir, &files);
    let runs: Vec<Value> = plan
        .scenarios
        .iter()
        .map(|sc| {
            let requests: Vec<Value> = sc
                .reqs
                .iter()
                .map(|r| {
                    let doc = &plan.policies[r.policy];
                    let sep = if r.path.contains('?') { '&' } else { '?' };
                    json!({
                        "policy": r.policy,
                        "gateway": r.gateway,
                        "now_ms": r.now_ms,
                        "answer_after_ms": r.answer_after_ms,
                        "body": r.body,
                        "gateway_region": r.gateway_region,
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
            json!({
                "requests": requests,
                "propagate_forward_failures": sc.propagate,
                "overlap": sc.overlap,
                "own_caches": sc.own_caches,
            })
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
            r["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| Variant {
                    schedule: v["schedule"].as_str().unwrap_or("serial").to_string(),
                    results: v["results"].as_array().unwrap().clone(),
                    cache: v["cache"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, x)| (k.clone(), x.clone()))
                        .collect(),
                })
                .collect()
        })
        .collect()
}

/// The harness's view of one request, with the checks every request must pass.
fn seen_from_harness(label: &str, v: &Value, bad: &mut Vec<String>) -> Seen {
    if let Some(e) = v.get("harness_error") {
        bad.push(format!("{label}: the harness failed: {e}"));
        return Seen::without_attempts(0);
    }
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
    let body = v["body"].as_str().map(str::to_string);
    let error_code = body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|b| b["error"]["code"].as_str().map(str::to_string));
    Seen {
        retry_after_ms: if from_policy {
            headers.get("retry-after-ms").and_then(|s| s.parse().ok())
        } else {
            None
        },
        error_code,
        body,
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
    for (sc, variants) in plan.scenarios.iter().zip(&results) {
        let mut failing = 0;
        for (vi, v) in variants.iter().enumerate() {
            let tag = if sc.overlap.is_some() {
                format!(" [interleaving {}]", v.schedule)
            } else {
                String::new()
            };
            let mut found = Vec::new();
            let seen: Vec<Seen> = sc
                .reqs
                .iter()
                .zip(&v.results)
                .map(|(r, x)| {
                    seen_from_harness(
                        &format!("[policy] {} step {}{tag}", sc.name, r.step),
                        x,
                        &mut found,
                    )
                })
                .collect();
            found.extend(check_all(sc, &seen, true, &tag));
            found.extend(check_cache_keys(
                sc,
                &v.cache,
                &format!("[policy] {}{tag}", sc.name),
            ));
            // Only the serial play is compared with the Rust balancer.
            if sc.rust && vi == 0 {
                let (rust_seen, rust_cache) = run_rust(&plan, sc);
                let rust_cache = rust_cache.into_iter().map(|(k, v)| (k, json!(v))).collect();
                // The same integer arithmetic leaves the same state behind.
                if states(&v.cache) != states(&rust_cache) {
                    found.push(format!(
                        "{}: cached state differs:\n  policy:   {:?}\n  balancer: {:?}",
                        sc.name,
                        states(&v.cache),
                        states(&rust_cache)
                    ));
                }
                for ((r, a), b) in sc.reqs.iter().zip(&seen).zip(rust_seen) {
                    if a.decisions() != b.decisions() {
                        found.push(format!(
                            "{} step {}: policy and balancer differ:\n  policy:   {:?}\n  balancer: {:?}",
                            sc.name,
                            r.step,
                            a.decisions(),
                            b.decisions()
                        ));
                    }
                }
            }
            if !found.is_empty() {
                failing += 1;
                if failing <= MAX_VARIANT_REPORTS {
                    bad.extend(found);
                }
            }
        }
        if failing > MAX_VARIANT_REPORTS {
            bad.push(format!(
                "{}: {failing} of {} interleavings fail (the first {MAX_VARIANT_REPORTS} shown)",
                sc.name,
                variants.len()
            ));
        }
        // Two requests of a few cache operations each have dozens of
        // distinct interleavings: fewer means the schedules did not apply.
        if sc.overlap.is_some() && variants.len() < 10 {
            bad.push(format!(
                "{}: only {} interleavings were played",
                sc.name,
                variants.len()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Values no valid topology can hold, rendered anyway: every expression of
/// the result must still compile (nothing broke out of a C# string), and the
/// harness must still parse the document.
#[test]
fn hostile_values_still_compile() {
    let (d, _) = desired_for(&table(), "multi-model", None);
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
    build_harness(dir.path());
    let templates = oailb::render::Templates::load(None).unwrap();
    let mut files = Vec::new();
    for mode in [Mode::Policy, Mode::Pool] {
        let mut p = p.clone();
        p.mode = mode;
        let file = dir.path().join(format!("{mode:?}.xml"));
        std::fs::write(&file, policy::render(&templates, &p).unwrap()).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    compile_expressions(dir.path(), &files);
}

// ---------------------------------------------------------------------------
// The serve column: every scenario the Rust balancer plays, through
// `oailb serve` (src/serve) over real sockets, with the step's time on a
// manual clock, its draws scripted, and one mock backend per topology backend
// on loopback answering as the step says.

mod support;

use std::sync::{Arc, Mutex};

use oailb::serve::clock::{Clock, ManualClock, ScriptedDraws};
use oailb::serve::config::{Credentials, Options, Runtime};
use oailb::serve::metrics::Metrics;
use oailb::serve::store::MemoryStore;
use oailb::serve::{server, Gateway};
use support::mock_aoai::{Answer, Backend as MockBackend, Journal};

const SERVE_TOKEN: &str = "scenario-entra-token";

/// The table's answer of `backend`, with the body the harness gives it.
fn mock_answer(answers: &Value, backend: &str) -> Answer {
    match answer_for(answers, backend) {
        None => Answer::Drop,
        Some((status, headers)) => Answer::Exact {
            status,
            headers,
            body: json!({ "served_by": backend }).to_string(),
        },
    }
}

/// One gateway per policy document, region and gateway instance a scenario
/// uses, on one clock and draw source and its cache owner's store: its
/// address and each backend's account root.
struct ServeDoc {
    addr: std::net::SocketAddr,
    roots: BTreeMap<String, String>,
    named_values: BTreeMap<String, String>,
}

/// Plays one scenario through serve; returns what each request did and the
/// state stores at the end (merged as the balancer runner's caches are).
fn run_serve(plan: &Plan, sc: &Scenario) -> (Vec<Seen>, BTreeMap<String, String>) {
    let reqs = &sc.reqs;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = table();
        let clock = Arc::new(ManualClock::new(BASE_MS));
        let draws = Arc::new(ScriptedDraws::default());
        // One state store per cache owner: a shared cache, or one per gateway.
        let mut stores: BTreeMap<String, Arc<MemoryStore>> = BTreeMap::new();
        let journal: Journal = Arc::new(Mutex::new(Vec::new()));
        let mut mocks: BTreeMap<String, MockBackend> = BTreeMap::new();
        // Keyed by policy document, gateway region and gateway instance.
        let mut docs: BTreeMap<(usize, Option<String>, String), ServeDoc> = BTreeMap::new();
        let mut seen = Vec::new();
        for r in reqs {
            let doc = &plan.policies[r.policy];
            let owner = cache_owner(sc, r).to_string();
            let store = stores.entry(owner.clone()).or_default().clone();
            let doc_key = (r.policy, r.gateway_region.clone(), r.gateway.clone());
            if let std::collections::btree_map::Entry::Vacant(slot) = docs.entry(doc_key.clone()) {
                let topo = doc.key.split('/').next().unwrap();
                let loaded = loaded_for(&t, topo, None);
                let mut upstreams = BTreeMap::new();
                for (_, b) in loaded.topology.backends() {
                    if !mocks.contains_key(&b.name) {
                        let m = MockBackend::start_journaled(&b.name, Some(journal.clone())).await;
                        mocks.insert(b.name.clone(), m);
                    }
                    upstreams.insert(
                        b.name.clone(),
                        url::Url::parse(&mocks[&b.name].url()).unwrap(),
                    );
                    if let Some(topology::ApiKeySource::Env(var)) = &b.api_key {
                        // The tests of this binary read no other variable.
                        std::env::set_var(var, format!("key-of-{}", b.name));
                    }
                }
                let backends = || doc.policy().routes.iter().flat_map(|r| &r.backends);
                let roots = backends()
                    .map(|b| {
                        (
                            b.name.clone(),
                            b.url.trim_end_matches("/openai").to_string(),
                        )
                    })
                    .collect();
                let named_values = backends()
                    .filter_map(|b| match &b.auth {
                        desired::RouteAuth::ApiKey { named_value } => {
                            Some((b.name.clone(), named_value.clone()))
                        }
                        desired::RouteAuth::ManagedIdentity => None,
                    })
                    .collect();
                let options = Options {
                    credentials: Credentials::Fixed(SERVE_TOKEN.into()),
                    upstreams,
                    api: Some(doc.api.clone()),
                    key_vault_endpoint: None,
                    gateway_region: r.gateway_region.clone(),
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
                slot.insert(ServeDoc {
                    addr,
                    roots,
                    named_values,
                });
            }
            let sd = &docs[&doc_key];
            clock.set(r.now_ms);
            draws.set(&r.draws);
            for (name, m) in &mocks {
                m.clear();
                m.always(mock_answer(&r.answers, name));
                let (clock, after) = (clock.clone(), r.answer_after_ms);
                m.answering(Some(Arc::new(move || clock.set(clock.now_ms() + after))));
            }
            journal.lock().unwrap().clear();
            let key_header = doc.policy().subscription_key_header.clone();
            let res = reqwest::Client::new()
                .post(format!(
                    "http://{}/{}/deployments/{}{}",
                    sd.addr, doc.api_path, r.deployment, r.path
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
            let body = res.text().await.unwrap_or_default();
            let calls = journal.lock().unwrap().clone();
            for (_, s) in &calls {
                assert!(
                    !format!("{s:?}").contains(CLIENT_KEY),
                    "the client's key reached a backend"
                );
            }
            let served_by = headers.get("x-mock-backend").cloned();
            let from_gateway = served_by.is_none();
            let gateway_header = |name: &str| {
                headers
                    .get(name)
                    .filter(|_| from_gateway)
                    .and_then(|v| v.parse().ok())
            };
            seen.push(Seen {
                attempts: calls.iter().map(|(n, _)| n.clone()).collect(),
                status,
                retry_after: gateway_header("retry-after"),
                retry_after_ms: gateway_header("retry-after-ms"),
                served_by,
                error_code: serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["code"].as_str().map(str::to_string)),
                body: Some(body),
                urls: calls
                    .iter()
                    .map(|(n, s)| format!("{}{}", sd.roots[n], s.path_and_query))
                    .collect(),
                auth: calls
                    .iter()
                    .map(
                        |(n, s)| match (s.header("authorization"), s.header("api-key")) {
                            (Some(a), None) if a == format!("Bearer {SERVE_TOKEN}") => {
                                "managed-identity".to_string()
                            }
                            (None, Some(k)) if k == format!("key-of-{n}") => {
                                format!("api-key:{}", sd.named_values[n])
                            }
                            other => format!("{other:?}"),
                        },
                    )
                    .collect(),
                headers,
            });
        }
        let end = reqs.iter().map(|r| r.now_ms).max().unwrap_or(BASE_MS);
        let snapshots = stores
            .into_iter()
            .map(|(owner, s)| (owner, s.snapshot(end)))
            .collect();
        (seen, merged(snapshots))
    })
}

#[test]
fn serve_meets_the_scenario_table_and_matches_the_balancer() {
    let plan = plan();
    let mut bad = Vec::new();
    for sc in plan.scenarios.iter().filter(|sc| sc.rust) {
        let (seen, state) = run_serve(&plan, sc);
        bad.extend(
            check_all(sc, &seen, true, "")
                .into_iter()
                .map(|b| b.replacen("[policy]", "[serve]", 1)),
        );
        let state: BTreeMap<String, Value> =
            state.into_iter().map(|(k, v)| (k, json!(v))).collect();
        bad.extend(check_cache_keys(
            sc,
            &state,
            &format!("[serve] {}", sc.name),
        ));
        let (rust_seen, rust_cache) = run_rust(&plan, sc);
        let rust_cache: BTreeMap<String, Value> =
            rust_cache.into_iter().map(|(k, v)| (k, json!(v))).collect();
        if states(&state) != states(&rust_cache) {
            bad.push(format!(
                "{}: state differs:\n  serve:    {:?}\n  balancer: {:?}",
                sc.name,
                states(&state),
                states(&rust_cache)
            ));
        }
        for ((r, a), b) in sc.reqs.iter().zip(&seen).zip(rust_seen) {
            if a.decisions() != b.decisions() {
                bad.push(format!(
                    "{} step {}: serve and balancer differ:\n  serve:    {:?}\n  balancer: {:?}",
                    sc.name,
                    r.step,
                    a.decisions(),
                    b.decisions()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
