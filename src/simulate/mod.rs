//! `oailb simulate`: what clients would see and what it would cost, before
//! anything is deployed. Arrivals from a workload or a trace go through
//! simulated backends with Azure's quota behaviour ([`backend`]) under
//! several balancing strategies side by side ([`strategy`]: oailb's own
//! `src/balancer`, the reference policy, APIM's native pool, the ideal
//! bound), in virtual time ([`engine`]), with constant memory
//! ([`metrics`]); [`report`] turns the measurements into the table, JSON or
//! Markdown, [`plot`] into an SVG, [`sweep`] searches the capacity that
//! meets a target.

pub mod arrivals;
pub mod backend;
pub mod due;
pub mod engine;
pub mod metrics;
pub mod plot;
pub mod random;
pub mod report;
pub mod strategy;
pub mod sweep;
pub mod trace;
pub mod workload;
pub mod world;

/// A count or a time of the simulation (µs, tokens) as `f64`. Every one is
/// non-negative and far below 2^63, so converting through `i64` gives the
/// same figure as converting directly, in one instruction where `u64` takes
/// several (x86-64 converts signed integers only); the simulator converts
/// several per request.
#[inline]
fn to_f64(n: u64) -> f64 {
    debug_assert!(n < 1 << 63);
    n as i64 as f64
}

/// The other way: a non-negative figure below 2^63 truncated to `u64`, as
/// [`to_f64`] explains.
#[inline]
fn to_u64(x: f64) -> u64 {
    debug_assert!((0.0..9.2e18).contains(&x));
    x as i64 as u64
}

use arrivals::{Generated, Stream};
use engine::{Engine, RunOptions};
use metrics::Metrics;
use strategy::{Ideal, Layout, Oailb, Pool, Reference};
use trace::Trace;
use workload::Workload;
use world::World;

/// A strategy to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum StrategyKind {
    /// oailb's algorithm (src/balancer), as the rendered policy and `serve` run it.
    Oailb,
    /// The reference policy (Azure-Samples/openai-apim-lb).
    Reference,
    /// APIM's native backend pool with circuit breakers (pool mode).
    Pool,
    /// The ideal bound: every backend pooled, served = min(demand, quota).
    Ideal,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Oailb,
        StrategyKind::Reference,
        StrategyKind::Pool,
        StrategyKind::Ideal,
    ];

    pub fn as_str(self) -> &'static str {
        strategy::NAMES[self as usize]
    }
}

/// Which gateway instances keep one balancer state together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateScope {
    /// One state for every gateway (an external cache every region uses).
    Shared,
    /// One per gateway region, its instances together (APIM's built-in
    /// cache, or an external cache per region).
    Region,
    /// One per gateway instance (self-hosted gateways, `serve` with memory state).
    Instance,
}

impl StateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            StateScope::Shared => "shared",
            StateScope::Region => "region",
            StateScope::Instance => "instance",
        }
    }
}

/// Where the requests come from.
pub enum Input {
    Workload(Workload),
    Trace(Trace),
}

impl Input {
    /// Seconds the arrivals span.
    pub fn duration(&self) -> f64 {
        match self {
            Input::Workload(w) => Generated::duration(w),
            Input::Trace(t) => t.duration,
        }
    }

    fn stream(&self, world: &World, seed: u64) -> anyhow::Result<Stream> {
        Ok(match self {
            Input::Workload(w) => Stream::Generated(Box::new(Generated::new(
                w,
                seed,
                &|name| world.route_index(name).unwrap_or(0) as u32,
                &|region| world.gateway_region_index(region).unwrap_or(0) as u16,
            ))),
            Input::Trace(t) => Stream::Trace(Box::new(t.reader()?)),
        })
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Gateway instances in each gateway region.
    pub instances: usize,
    /// Which instances share state (default: as APIM, [`World::state`]).
    pub state: StateScope,
    pub seed: u64,
}

/// Runs the strategies over the same arrivals, drawn once; the
/// measurements come back in the order of `kinds`.
pub fn run(
    world: &World,
    input: &Input,
    kinds: &[StrategyKind],
    o: &Options,
) -> anyhow::Result<Vec<Metrics>> {
    let mut arrivals = input.stream(world, o.seed)?;
    let layout = Layout {
        regions: world.gateway_regions.len(),
        instances: o.instances,
        scope: o.state,
    };
    let opts = RunOptions {
        layout,
        seed: o.seed,
        duration_us: (input.duration() * 1e6) as u64,
    };
    let seed = o.seed;
    let runs: Vec<Box<dyn engine::Run + '_>> = kinds
        .iter()
        .map(|k| -> Box<dyn engine::Run + '_> {
            match k {
                StrategyKind::Oailb => {
                    Box::new(Engine::new(world, Oailb::new(world, layout, seed), &opts))
                }
                StrategyKind::Reference => Box::new(Engine::new(
                    world,
                    Reference::new(world, layout, seed),
                    &opts,
                )),
                StrategyKind::Pool => {
                    Box::new(Engine::new(world, Pool::new(world, layout, seed), &opts))
                }
                StrategyKind::Ideal => Box::new(Engine::new(world, Ideal::new(world), &opts)),
            }
        })
        .collect();
    let metrics = engine::run_all(runs, &mut arrivals);
    if let Stream::Trace(t) = &arrivals {
        if let Some(e) = &t.failed {
            anyhow::bail!("{e}");
        }
    }
    Ok(metrics)
}
