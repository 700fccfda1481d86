//! `oailb simulate`: reads the topology and a workload or trace, runs every
//! strategy asked for (`src/simulate`), prints the comparison and writes
//! the plot.

use std::io::Write;

use anyhow::Context;

use crate::cli::{GlobalArgs, SimulateArgs, SimulateFormat};
use crate::exit::{self, ExitError};
use crate::output::{self, Stream};
use crate::simulate::report::{self, Header, InputInfo};
use crate::simulate::trace::Trace;
use crate::simulate::workload::{self, InvalidFile, Names};
use crate::simulate::world::World;
use crate::simulate::{self, plot, sweep, Input, Options, StateScope, StrategyKind};

/// Seed when neither `--seed` nor the workload gives one.
const DEFAULT_SEED: u64 = 1;

pub fn run(g: &GlobalArgs, a: &SimulateArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    let t = &loaded.topology;
    let base = World::new(t, None);
    let names = Names {
        deployments: base.routes.iter().map(|r| r.name.as_str()).collect(),
        backends: t.backends().map(|(_, b)| b.name.as_str()).collect(),
        regions: t
            .backends()
            .filter_map(|(_, b)| b.region.as_deref())
            .collect(),
        gateway_regions: t.gateway_regions(),
    };
    let invalid = |e: Box<InvalidFile>| -> anyhow::Error {
        let color = g.style(Stream::Stderr).color;
        for d in &e.diagnostics {
            eprintln!("{}", d.render(&e.source, color));
        }
        ExitError::usage(format!(
            "{} is invalid: {}",
            e.source.display_name(),
            super::plural(e.diagnostics.len(), "error")
        ))
        .into()
    };
    // The arrivals, and the workload that sets latency and faults (none
    // for a bare --trace).
    let (input, file, kind, wl) = match (&a.workload, &a.trace) {
        (Some(p), _) => {
            let w = workload::load_file(p, &names).map_err(invalid)?.workload;
            match &w.trace {
                Some(tp) => {
                    let tp = p.parent().unwrap_or(std::path::Path::new("")).join(tp);
                    let mut tr = Trace::scan(&tp, &names.deployments, &names.gateway_regions)
                        .map_err(invalid)?;
                    if let Some(d) = w.duration {
                        tr.duration = tr.duration.max(d.as_f64());
                    }
                    (Input::Trace(tr), tp, "trace", Some(w))
                }
                None => (Input::Workload(w.clone()), p.clone(), "workload", Some(w)),
            }
        }
        (None, Some(p)) => {
            let tr = Trace::scan(p, &names.deployments, &names.gateway_regions).map_err(invalid)?;
            (Input::Trace(tr), p.clone(), "trace", None)
        }
        (None, None) => return Err(ExitError::usage("give --workload FILE or --trace FILE").into()),
    };
    let w = wl.as_ref();
    let seed = a.seed.or(w.and_then(|w| w.seed)).unwrap_or(DEFAULT_SEED);
    let mut kinds = a.strategy.clone();
    kinds.sort();
    kinds.dedup();
    let world = World::new(t, w);
    let opts = Options {
        instances: usize::from(a.instances),
        state: match (a.state, a.shared_state) {
            (Some(s), _) => s,
            (None, true) => StateScope::Shared,
            (None, false) => world.state,
        },
        seed,
    };
    let runs: Vec<_> = kinds
        .iter()
        .copied()
        .zip(simulate::run(&world, &input, &kinds, &opts)?)
        .collect();
    let header = Header {
        topology: loaded.source.display_name().to_string(),
        input: InputInfo {
            kind,
            file: file.display().to_string(),
        },
        seed,
        instances: opts.instances,
        state: opts.state,
        duration_seconds: input.duration(),
    };
    let mut rep = report::build(&world, t.pricing.as_ref(), header, &runs);
    if let Some(spec) = &a.sweep {
        // The sweep asks about the first strategy listed that balances.
        let k = kinds
            .iter()
            .copied()
            .find(|k| *k != StrategyKind::Ideal)
            .unwrap_or(StrategyKind::Ideal);
        spec.apply(t, spec.min).map_err(ExitError::usage)?;
        let mut success = |capacity: u32| -> anyhow::Result<f64> {
            let t2 = spec.apply(t, capacity).map_err(ExitError::usage)?;
            let m = simulate::run(&World::new(&t2, w), &input, &[k], &opts)?
                .pop()
                .expect("one run");
            Ok(if m.requests == 0 {
                100.0
            } else {
                (m.ok as f64 * 100.0 / m.requests as f64 * 100.0).round() / 100.0
            })
        };
        rep.sweep = Some(sweep::search(spec, a.target, k.as_str(), &mut success)?);
    }
    if let Some(path) = &a.plot {
        let svg = plot::svg(&world, &rep, &runs);
        output::write_atomic(path, svg.as_bytes(), true)?;
    }
    let format = if a.json {
        SimulateFormat::Json
    } else {
        a.format
    };
    let text = match format {
        SimulateFormat::Table => report::table(&rep),
        SimulateFormat::Markdown => report::markdown(&rep),
        SimulateFormat::Json => {
            let mut s = serde_json::to_string_pretty(&rep).context("cannot encode the report")?;
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .context("cannot write to stdout")?;
    Ok(exit::OK)
}
