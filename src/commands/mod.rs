//! One module per subcommand. Shared here: loading the topology and printing
//! its diagnostics.

pub mod deploy;
pub mod destroy;
pub mod init;
pub mod live;
pub mod plan;
pub mod progress;
pub mod render;
pub mod render_policy;
pub mod serve;
pub mod simulate;
pub mod usage;
pub mod validate;

use crate::cli::GlobalArgs;
use crate::exit::ExitError;
use crate::output::Stream;
use crate::topology::{self, Loaded, Report, Source};

/// Loads and validates the topology named by `-f`. Warnings are printed to
/// stderr (unless `--quiet`); an invalid topology prints every finding and
/// fails with exit code 2.
pub fn load_topology(g: &GlobalArgs) -> anyhow::Result<Loaded> {
    match topology::load_file(&g.topology) {
        Ok(loaded) => {
            if !g.quiet {
                print_report(g, &loaded.source, &loaded.report);
            }
            Ok(loaded)
        }
        Err(invalid) => {
            print_report(g, &invalid.source, &invalid.report);
            Err(ExitError::usage(summary(&invalid.source, &invalid.report)).into())
        }
    }
}

pub fn print_report(g: &GlobalArgs, source: &Source, report: &Report) {
    let color = g.style(Stream::Stderr).color;
    for d in &report.diagnostics {
        if g.quiet && !d.is_error() {
            continue;
        }
        eprintln!("{}", d.render(source, color));
    }
}

pub fn summary(source: &Source, report: &Report) -> String {
    let (e, w) = (report.errors(), report.warnings());
    format!(
        "{} is invalid: {}, {}",
        source.display_name(),
        plural(e, "error"),
        plural(w, "warning")
    )
}

/// Loads the topology like [`load_topology`], then applies a `--mode`
/// override, validating again for that mode (pool mode has rules of its own).
pub fn load_topology_with_mode(
    g: &GlobalArgs,
    mode: Option<crate::cli::PolicyMode>,
) -> anyhow::Result<Loaded> {
    let loaded = load_topology(g)?;
    let Some(mode) = mode.map(crate::topology::Mode::from) else {
        return Ok(loaded);
    };
    if mode == loaded.topology.load_balancing.mode {
        return Ok(loaded);
    }
    topology::with_mode(&loaded, mode).map_err(|invalid| {
        print_report(g, &invalid.source, &invalid.report);
        ExitError::usage(format!(
            "{} (with --mode {})",
            summary(&invalid.source, &invalid.report),
            mode.as_str()
        ))
        .into()
    })
}

/// `--templates DIR` must exist: a usage error (exit 2), not a render failure.
pub fn check_templates_dir(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    match dir {
        Some(d) if !d.is_dir() => Err(ExitError::usage(format!(
            "template directory {} does not exist",
            d.display()
        ))
        .into()),
        _ => Ok(()),
    }
}

/// `1 model`, `2 models`.
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
