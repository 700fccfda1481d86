//! Deploy benchmark against the fake ARM with realistic relative latencies
//! (APIM 30 units, account 3, model deployment 2, everything else 1).
//!
//! Reports, per example: wall time of a fresh deploy divided by the
//! critical-path bound (the longest weighted dependency chain; target
//! ≤ 1.10), write requests per resource (target exactly 1) and the GET polls
//! made while operations ran, with the mean interval between two polls of
//! one operation (no busy polling: never shorter than the Retry-After the
//! fake sends, unit/10).
//!
//! Run: `cargo bench --bench deploy` (optionally OAILB_BENCH_UNIT_MS, default 100).

#[path = "../tests/fake_arm/mod.rs"]
mod fake_arm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_arm::{Config, FakeArm, TOKEN};
use oailb::azure::auth::StaticToken;
use oailb::azure::{ArmClient, Credential, Endpoint, Timing};
use oailb::deploy::{self, Event, Options, Progress};
use oailb::plan::{self, Inputs};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const REPEATS: usize = 3;

struct FixedPolicy;

impl Inputs for FixedPolicy {
    fn policy(&self, api: &str) -> anyhow::Result<String> {
        Ok(format!("<policies><inbound><base /><!-- {api} --></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"))
    }
    fn product_policy(&self, product: &str) -> anyhow::Result<String> {
        anyhow::bail!("no product {product} in the benchmark's topology")
    }
    fn file(&self, path: &str) -> anyhow::Result<String> {
        anyhow::bail!("no file {path} in the benchmark")
    }
}

struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}

struct Run {
    wall: Duration,
    bound: Duration,
    resources: usize,
    writes: usize,
    polls: usize,
    lro_time: Duration,
}

fn one(example: &str, unit: Duration, rt: &tokio::runtime::Runtime) -> Run {
    let fake = FakeArm::start(Config {
        unit,
        poll_hint: unit / 10,
        principal_window: Duration::ZERO,
    });
    let loaded =
        oailb::topology::load_file(std::path::Path::new(&format!("examples/{example}.yaml")))
            .expect("example loads");
    let desired = oailb::desired::derive(&loaded.topology, Some(SUB));
    let endpoint =
        Endpoint::resolve(loaded.topology.cloud, Some(&fake.url), None).expect("endpoint");
    let credential = Credential {
        inner: Arc::new(StaticToken::new(TOKEN.into()).expect("token")),
        scope: endpoint.scope.clone(),
    };
    let timing = Timing {
        default_poll: unit / 10,
        ..Timing::default()
    };
    let client = ArmClient::new(endpoint, credential, timing);
    std::env::set_var("PARTNER_OPENAI_KEY", "bench-key");
    let started = Instant::now();
    let plan = rt
        .block_on(plan::read_live(&client, &desired, &FixedPolicy, 10))
        .expect("plan");
    let outcome = rt.block_on(deploy::apply(
        &client,
        &desired,
        &plan,
        &FixedPolicy,
        &Options::default(),
        &Silent,
        std::future::pending(),
    ));
    let wall = started.elapsed();
    assert!(outcome.ok(), "{example}: {:?}", outcome.failed);
    let requests = fake.requests();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    // Operation-status, Location and provisioningState GETs, as the client counted them.
    let polls = client.counters().get().2 as usize;
    let lro_time = desired
        .resources
        .iter()
        .filter(|r| {
            use oailb::desired::Kind::*;
            matches!(
                r.kind,
                ApimService | CognitiveAccount | CognitiveDeployment | ApimApi | ApimNamedValue
            )
        })
        .map(|r| unit * deploy::weight(r.kind) as u32)
        .sum();
    Run {
        wall,
        bound: unit * deploy::critical_path(&desired.resources) as u32,
        resources: desired.resources.len(),
        writes,
        polls,
        lro_time,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let unit_ms: u64 = std::env::var("OAILB_BENCH_UNIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let unit = Duration::from_millis(unit_ms);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("unit = {unit_ms} ms; APIM 30, account 3, deployment 2, rest 1; median of {REPEATS} fresh deploys\n");
    println!("| example | resources | wall (s) | critical path (s) | wall / bound | writes / resource | operation polls | mean poll interval (ms) | Retry-After (ms) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for example in ["seed", "multi-model", "ptu-spillover"] {
        let mut runs: Vec<Run> = (0..REPEATS).map(|_| one(example, unit, &rt)).collect();
        runs.sort_by_key(|r| r.wall);
        let r = &runs[REPEATS / 2];
        println!(
            "| {example} | {} | {:.2} | {:.2} | {:.3} | {:.2} | {} | {:.1} | {} |",
            r.resources,
            r.wall.as_secs_f64(),
            r.bound.as_secs_f64(),
            r.wall.as_secs_f64() / r.bound.as_secs_f64(),
            r.writes as f64 / r.resources as f64,
            r.polls,
            r.lro_time.as_secs_f64() * 1000.0 / r.polls.max(1) as f64,
            unit_ms / 10,
        );
    }
}
