//! The figures of a simulation, per strategy, and their renderings: a table
//! for people, JSON (`docs/schemas/simulate.v1.json`) and Markdown for a
//! pull-request comment. Figures are rounded so that a seed gives the same
//! text on every machine.

use serde::Serialize;

use super::metrics::Metrics;
use super::world::World;
use super::StrategyKind;
use crate::topology::Pricing;

pub const SCHEMA_VERSION: u32 = 1;
/// Hours in an average month (8,760 / 12), for the monthly projection.
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub topology: String,
    pub input: InputInfo,
    pub seed: u64,
    /// Gateway instances per gateway region.
    pub instances: usize,
    /// `state` is `shared`.
    pub shared_state: bool,
    /// Which gateways share balancer state: `shared`, `region`, `instance`.
    pub state: &'static str,
    /// Gateway regions that took requests, in topology order.
    pub gateway_regions: Vec<String>,
    pub duration_seconds: f64,
    pub requests: u64,
    /// Prompt + max_tokens of every request per second (lbbench's demand).
    pub demand_tokens_per_second: f64,
    /// What every backend admits per second, together.
    pub quota_tokens_per_second: f64,
    pub backends: Vec<BackendInfo>,
    pub strategies: Vec<StrategyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<super::sweep::SweepReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputInfo {
    /// `workload` or `trace`.
    pub kind: &'static str,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// Backend name (`backend/deployment` when the topology has several deployments).
    pub name: String,
    pub deployment: String,
    pub priority: u32,
    pub sku: &'static str,
    pub capacity: u32,
    pub tokens_per_minute: u64,
    /// 0: no request limit (provisioned).
    pub requests_per_minute: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PricingInfo {
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategyReport {
    pub name: &'static str,
    pub requests: u64,
    pub ok: u64,
    pub success_percent: f64,
    pub client_429: u64,
    pub client_429_with_retry_after: u64,
    pub client_5xx: u64,
    pub client_other: u64,
    pub upstream_calls: u64,
    pub upstream_429: u64,
    pub upstream_5xx: u64,
    pub upstream_no_answer: u64,
    /// Upstream answers 429 or 5xx per 1,000 client requests.
    pub wasted_per_1k: f64,
    /// The same, less errors injected on admitted requests.
    pub wasted_avoidable_per_1k: f64,
    pub upstream_per_request: f64,
    /// Successful requests, arrival to answer, retries included; absent
    /// without a successful request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// Prompt + completion tokens served.
    pub tokens_served: u64,
    /// Share of `tokens_served` that lower priorities than the first served.
    pub spill_percent: f64,
    /// Quota the first priority group used / what it offered (lbbench's p1 util).
    pub first_priority_utilisation_percent: f64,
    /// Upstream calls to backends below the first priority.
    pub calls_to_lower_priorities: u64,
    pub priorities: Vec<PriorityTokens>,
    pub backends: Vec<BackendFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Per gateway region, when more than one took requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionFigures>,
}

/// What the gateways of one region did.
#[derive(Debug, Clone, Serialize)]
pub struct RegionFigures {
    pub region: String,
    pub requests: u64,
    pub ok: u64,
    pub success_percent: f64,
    pub client_429: u64,
    /// Share of `ok` that backends in the gateway's own region served.
    pub served_in_region_percent: f64,
    pub upstream_calls: u64,
    /// Upstream answers 429 or 5xx per 1,000 of the region's requests.
    pub wasted_per_1k: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriorityTokens {
    pub priority: u32,
    pub tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendFigures {
    pub name: String,
    pub calls: u64,
    pub served: u64,
    pub throttled: u64,
    pub failed: u64,
    pub no_answer: u64,
    pub tokens: u64,
    /// Quota used / quota offered while up.
    pub utilisation_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub currency: String,
    /// Provisioned deployments: PTUs × hours × price, used or not.
    pub provisioned: f64,
    /// Standard deployments: tokens served × price.
    pub pay_as_you_go: f64,
    pub total: f64,
    /// `total` scaled from the simulated span to 730 hours.
    pub per_month: f64,
    /// Backends no price applies to (left out of the sums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    let r = (v * f).round() / f;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn per(n: u64, d: u64, scale: f64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 * scale / d as f64
    }
}

/// What the run was.
pub struct Header {
    pub topology: String,
    pub input: InputInfo,
    pub seed: u64,
    pub instances: usize,
    pub state: super::StateScope,
    pub duration_seconds: f64,
}

pub fn build(
    world: &World,
    pricing: Option<&Pricing>,
    h: Header,
    runs: &[(StrategyKind, Metrics)],
) -> Report {
    let dur = h.duration_seconds.max(f64::MIN_POSITIVE);
    let requests = runs.first().map_or(0, |(_, m)| m.requests);
    let demand: f64 = runs.first().map_or(0.0, |(_, m)| m.demand_cost as f64) / dur;
    let quota: f64 = world
        .backends
        .iter()
        .map(|b| b.quota.tokens_per_minute as f64 / 60.0)
        .sum();
    let used: Vec<usize> = runs.first().map_or(Vec::new(), |(_, m)| {
        (0..m.regions.len())
            .filter(|r| m.regions[*r].requests > 0)
            .collect()
    });
    Report {
        schema_version: SCHEMA_VERSION,
        topology: h.topology,
        input: h.input,
        seed: h.seed,
        instances: h.instances,
        shared_state: h.state == super::StateScope::Shared,
        state: h.state.as_str(),
        gateway_regions: used
            .iter()
            .map(|r| world.gateway_regions[*r].clone())
            .collect(),
        duration_seconds: round(h.duration_seconds, 3),
        requests,
        demand_tokens_per_second: round(demand, 1),
        quota_tokens_per_second: round(quota, 1),
        backends: world
            .backends
            .iter()
            .map(|b| BackendInfo {
                name: b.label.clone(),
                deployment: world.routes[b.route].name.clone(),
                priority: b.priority,
                sku: b.sku.as_str(),
                capacity: b.capacity,
                tokens_per_minute: b.quota.tokens_per_minute,
                requests_per_minute: b.quota.requests_per_minute,
                region: b.region.clone(),
            })
            .collect(),
        strategies: runs
            .iter()
            .map(|(k, m)| strategy(world, pricing, *k, m, h.duration_seconds))
            .collect(),
        pricing: pricing.map(|p| PricingInfo {
            currency: p.currency.clone(),
            source: p.source.clone(),
        }),
        sweep: None,
    }
}

fn strategy(
    world: &World,
    pricing: Option<&Pricing>,
    kind: StrategyKind,
    m: &Metrics,
    duration_s: f64,
) -> StrategyReport {
    let dur_us = (duration_s * 1e6) as u64;
    let lower = |g: usize| {
        let b = &world.backends[g];
        b.priority > world.first_priority(b.route)
    };
    let sum = |f: &dyn Fn(usize) -> u64| (0..world.backends.len()).map(f).sum::<u64>();
    let calls = sum(&|g| m.backends[g].calls);
    let u429 = sum(&|g| m.backends[g].throttled);
    let u5xx = sum(&|g| m.backends[g].failed);
    let injected = sum(&|g| m.backends[g].failed_injected);
    let tokens = |g: usize| m.backends[g].input_tokens + m.backends[g].output_tokens;
    let served = sum(&tokens);
    let spilled = sum(&|g| if lower(g) { tokens(g) } else { 0 });
    // Quota a backend offered while up: a full bucket plus the refill.
    let offered = |g: usize| {
        let b = &world.backends[g];
        let sim = super::backend::BackendSim::new(b, world.backend_window_ms, 0, 0);
        let up_s = sim.up_time(0, dur_us) as f64 / 1e6;
        let tpm = b.quota.tokens_per_minute as f64;
        tpm * world.backend_window_ms as f64 / 60_000.0 + tpm / 60.0 * up_s
    };
    let first: Vec<usize> = (0..world.backends.len()).filter(|g| !lower(*g)).collect();
    let first_offered: f64 = first.iter().map(|g| offered(*g)).sum();
    let first_used: u64 = first.iter().map(|g| m.backends[*g].quota_used).sum();
    let mut prios: Vec<u32> = world.backends.iter().map(|b| b.priority).collect();
    prios.sort_unstable();
    prios.dedup();
    let n = m.requests;
    StrategyReport {
        name: kind.as_str(),
        requests: n,
        ok: m.ok,
        success_percent: round(per(m.ok, n, 100.0), 2),
        client_429: m.client_429,
        client_429_with_retry_after: m.client_429_with_retry_after,
        client_5xx: m.client_5xx,
        client_other: m.client_other,
        upstream_calls: calls,
        upstream_429: u429,
        upstream_5xx: u5xx,
        upstream_no_answer: sum(&|g| m.backends[g].no_answer),
        wasted_per_1k: round(per(u429 + u5xx, n, 1000.0), 1),
        wasted_avoidable_per_1k: round(per(u429 + u5xx - injected, n, 1000.0), 1),
        upstream_per_request: round(per(calls, n, 1.0), 3),
        latency_ms: m.latency.quantile(0.5).map(|p50| Latency {
            p50: round(p50, 1),
            p95: round(m.latency.quantile(0.95).unwrap_or(p50), 1),
            p99: round(m.latency.quantile(0.99).unwrap_or(p50), 1),
        }),
        tokens_served: served,
        spill_percent: round(per(spilled, served, 100.0), 2),
        first_priority_utilisation_percent: if first_offered > 0.0 {
            round(first_used as f64 * 100.0 / first_offered, 2)
        } else {
            0.0
        },
        calls_to_lower_priorities: sum(&|g| if lower(g) { m.backends[g].calls } else { 0 }),
        priorities: prios
            .iter()
            .map(|p| PriorityTokens {
                priority: *p,
                tokens: sum(&|g| {
                    if world.backends[g].priority == *p {
                        tokens(g)
                    } else {
                        0
                    }
                }),
            })
            .collect(),
        backends: world
            .backends
            .iter()
            .enumerate()
            .map(|(g, b)| {
                let c = &m.backends[g];
                let o = offered(g);
                BackendFigures {
                    name: b.label.clone(),
                    calls: c.calls,
                    served: c.served,
                    throttled: c.throttled,
                    failed: c.failed,
                    no_answer: c.no_answer,
                    tokens: tokens(g),
                    utilisation_percent: if o > 0.0 {
                        round(c.quota_used as f64 * 100.0 / o, 2)
                    } else {
                        0.0
                    },
                }
            })
            .collect(),
        cost: pricing.map(|p| cost(world, p, m, duration_s)),
        regions: regions(world, m),
    }
}

/// Per gateway region, when more than one took requests.
fn regions(world: &World, m: &Metrics) -> Vec<RegionFigures> {
    if m.regions.iter().filter(|r| r.requests > 0).count() < 2 {
        return Vec::new();
    }
    m.regions
        .iter()
        .enumerate()
        .filter(|(_, c)| c.requests > 0)
        .map(|(i, c)| RegionFigures {
            region: world.gateway_regions[i].clone(),
            requests: c.requests,
            ok: c.ok,
            success_percent: round(per(c.ok, c.requests, 100.0), 2),
            client_429: c.client_429,
            served_in_region_percent: round(per(c.ok_local, c.ok, 100.0), 2),
            upstream_calls: c.upstream_calls,
            wasted_per_1k: round(per(c.upstream_429 + c.upstream_5xx, c.requests, 1000.0), 1),
        })
        .collect()
}

fn cost(world: &World, p: &Pricing, m: &Metrics, duration_s: f64) -> Cost {
    let hours = duration_s / 3600.0;
    let (mut provisioned, mut payg) = (0.0, 0.0);
    let mut unpriced = Vec::new();
    for (g, b) in world.backends.iter().enumerate() {
        let price = p.price(&world.routes[b.route].name, b.sku);
        let c = &m.backends[g];
        match price {
            Some(pr) if b.provisioned() && pr.ptu_per_hour.is_some() => {
                provisioned += f64::from(b.capacity) * hours * pr.ptu_per_hour.unwrap_or(0.0);
            }
            Some(pr)
                if !b.provisioned()
                    && (pr.input_per_million_tokens.is_some()
                        || pr.output_per_million_tokens.is_some()) =>
            {
                payg += c.input_tokens as f64 / 1e6 * pr.input_per_million_tokens.unwrap_or(0.0)
                    + c.output_tokens as f64 / 1e6 * pr.output_per_million_tokens.unwrap_or(0.0);
            }
            _ => unpriced.push(b.label.clone()),
        }
    }
    let total = provisioned + payg;
    Cost {
        currency: p.currency.clone(),
        provisioned: round(provisioned, 4),
        pay_as_you_go: round(payg, 4),
        total: round(total, 4),
        per_month: if hours > 0.0 {
            round(total * HOURS_PER_MONTH / hours, 2)
        } else {
            0.0
        },
        unpriced,
    }
}

/// Rows of the side-by-side comparison: label, then one cell per strategy.
fn rows(r: &Report) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&StrategyReport) -> String| {
        let mut v = vec![label.to_string()];
        v.extend(r.strategies.iter().map(f));
        rows.push(v);
    };
    row("", &|s| s.name.to_string());
    row("success %", &|s| format!("{:.2}", s.success_percent));
    row("client 429 (with Retry-After)", &|s| {
        format!("{} ({})", s.client_429, s.client_429_with_retry_after)
    });
    row("client 5xx", &|s| s.client_5xx.to_string());
    row("wasted upstream calls /1k", &|s| {
        format!("{:.1}", s.wasted_per_1k)
    });
    row("upstream calls /request", &|s| {
        format!("{:.2}", s.upstream_per_request)
    });
    row("latency p50 / p95 / p99 ms", &|s| match &s.latency_ms {
        Some(l) => format!("{:.0} / {:.0} / {:.0}", l.p50, l.p95, l.p99),
        None => "-".into(),
    });
    row("first-priority quota used %", &|s| {
        format!("{:.1}", s.first_priority_utilisation_percent)
    });
    row("calls to lower priorities", &|s| {
        s.calls_to_lower_priorities.to_string()
    });
    row("spill (tokens) %", &|s| format!("{:.1}", s.spill_percent));
    for (i, b) in r.backends.iter().enumerate() {
        let label = format!("tokens {} (p{})", b.name, b.priority);
        row(&label, &|s| {
            let f = &s.backends[i];
            format!("{} ({:.0} %)", f.tokens, f.utilisation_percent)
        });
    }
    let regions = r.strategies.first().map_or(0, |s| s.regions.len());
    for i in 0..regions {
        let name = &r.strategies[0].regions[i].region;
        row(&format!("{name}: success % (client 429)"), &|s| {
            let f = &s.regions[i];
            format!("{:.2} ({})", f.success_percent, f.client_429)
        });
        row(&format!("{name}: served in region %"), &|s| {
            format!("{:.1}", s.regions[i].served_in_region_percent)
        });
        row(&format!("{name}: wasted calls /1k"), &|s| {
            format!("{:.1}", s.regions[i].wasted_per_1k)
        });
    }
    if let Some(p) = &r.pricing {
        let cur = &p.currency;
        row(&format!("cost {cur}"), &|s| {
            s.cost
                .as_ref()
                .map_or("-".into(), |c| format!("{:.2}", c.total))
        });
        row(&format!("cost {cur} / month"), &|s| {
            s.cost
                .as_ref()
                .map_or("-".into(), |c| format!("{:.0}", c.per_month))
        });
    }
    rows
}

fn summary(r: &Report) -> String {
    let rate = if r.duration_seconds > 0.0 {
        r.requests as f64 / r.duration_seconds
    } else {
        0.0
    };
    let instances = match (r.gateway_regions.len(), r.instances, r.state) {
        (0 | 1, 1, _) => "1 gateway instance".to_string(),
        (0 | 1, n, "shared") => format!("{n} gateway instances, shared state"),
        (0 | 1, n, "region") => format!("{n} gateway instances, one state for the region"),
        (0 | 1, n, _) => format!("{n} gateway instances, each with its own state"),
        (k, n, state) => {
            let regions: Vec<String> = r
                .gateway_regions
                .iter()
                .zip(r.strategies.first().map(|s| &s.regions[..]).unwrap_or(&[]))
                .map(|(name, f)| format!("{name} {}", f.requests))
                .collect();
            let state = match state {
                "shared" => "one shared state",
                "region" => "a state per region",
                _ => "a state per instance",
            };
            format!(
                "{k} gateway regions ({} requests) × {n} instance{}, {state}",
                regions.join(", "),
                if n == 1 { "" } else { "s" }
            )
        }
    };
    format!(
        "{} {} over {:.0} s: {} requests ({:.1}/s), demand {:.0} tokens/s, quota {:.0} tokens/s; {instances}; seed {}",
        r.input.kind,
        r.input.file,
        r.duration_seconds,
        r.requests,
        rate,
        r.demand_tokens_per_second,
        r.quota_tokens_per_second,
        r.seed
    )
}

/// Notes that qualify the figures.
fn notes(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let several = r.instances * r.gateway_regions.len().max(1) > 1;
    if several && r.state != "instance" && r.strategies.iter().any(|s| s.name == "pool") {
        out.push(format!(
            "pool: APIM keeps breaker state per instance; the {} state does not apply to it",
            r.state
        ));
    }
    if r.gateway_regions.len() > 1 && r.strategies.iter().any(|s| s.name == "ideal") {
        out.push(
            "ideal: pools every backend whatever the region; its figures per region show where its priority cascade placed requests"
                .into(),
        );
    }
    if let Some(p) = &r.pricing {
        if let Some(src) = &p.source {
            out.push(format!("prices: {src}"));
        }
        let unpriced: Vec<&str> = r
            .strategies
            .first()
            .and_then(|s| s.cost.as_ref())
            .map(|c| c.unpriced.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if !unpriced.is_empty() {
            out.push(format!("no price for: {}", unpriced.join(", ")));
        }
    }
    out
}

pub fn table(r: &Report) -> String {
    let mut out = summary(r);
    out.push_str("\n\n");
    out.push_str(&crate::output::table(&rows(r), &|_, _, s| s.to_string()));
    for n in notes(r) {
        out.push_str(&format!("note: {n}\n"));
    }
    if let Some(s) = &r.sweep {
        out.push('\n');
        out.push_str(&super::sweep::table(s));
    }
    out
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!("### oailb simulate\n\n{}\n\n", summary(r));
    for (i, row) in rows(r).iter().enumerate() {
        out.push_str("| ");
        out.push_str(&row.join(" | "));
        out.push_str(" |\n");
        if i == 0 {
            out.push('|');
            out.push_str(&"---|".repeat(row.len()));
            out.push('\n');
        }
    }
    for n in notes(r) {
        out.push_str(&format!("\n_{n}_\n"));
    }
    if let Some(s) = &r.sweep {
        out.push('\n');
        out.push_str(&super::sweep::markdown(s));
    }
    out
}
