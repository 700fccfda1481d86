//! `oailb render terraform|bicep|all`: infrastructure code for the whole
//! setup, written atomically into `--out`, or compared with it (`--check`).

use std::io::Write;

use anyhow::Context;

use super::plural;
use crate::cli::{GlobalArgs, RenderArgs, RenderTarget, ReportFormat};
use crate::desired;
use crate::exit::{self, ExitError};
use crate::output::Stream;
use crate::render::files::{check_dir, write_dir, Written};
use crate::render::iac::{self, Target, TemplateSets};

/// Version of the JSON report `render --format json` prints.
pub const SCHEMA_VERSION: u32 = 1;

pub fn run(g: &GlobalArgs, a: &RenderArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology_with_mode(g, a.mode)?;
    super::check_templates_dir(a.templates.as_deref())?;
    if a.out.exists() && !a.out.is_dir() {
        return Err(ExitError::usage(format!(
            "--out {} exists and is not a directory",
            a.out.display()
        ))
        .into());
    }
    let target = match a.target {
        RenderTarget::Terraform => Target::Terraform,
        RenderTarget::Bicep => Target::Bicep,
        RenderTarget::All => Target::All,
    };
    let mode = loaded.topology.load_balancing.mode;
    let templates = TemplateSets::load(target, mode, a.templates.as_deref())?;
    let d = desired::derive(&loaded.topology, None);
    // Only the file name: the output must not depend on how -f was spelled.
    let shown = loaded.source.display_name();
    let name = std::path::Path::new(shown)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.to_string());
    let files = iac::render(
        target,
        &d,
        &templates,
        &name,
        loaded.source.dir().as_deref(),
    )?;
    let style = g.style(Stream::Stderr);
    let out = a.out.display();
    let json = match (a.json, a.format) {
        (true, _) | (_, ReportFormat::Json) => true,
        (_, ReportFormat::Human) => false,
        (_, ReportFormat::Sarif) => {
            return Err(ExitError::usage("render reports as human text or json, not sarif").into())
        }
    };
    let report =
        |check: bool, up_to_date: Option<bool>, diff: Option<&str>, w: Option<&Written>| {
            serde_json::json!({
                "schema_version": SCHEMA_VERSION,
                "out": a.out.display().to_string(),
                "target": a.target.as_str(),
                "mode": mode.as_str(),
                "check": check,
                "up_to_date": up_to_date,
                "diff": diff,
                "written": w.map(|w| &w.written),
                "unchanged": w.map(|w| &w.unchanged),
                "removed": w.map(|w| &w.removed),
            })
        };

    if a.check {
        let drift = check_dir(&a.out, &files)?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report(
                    true,
                    Some(drift.is_none()),
                    drift.as_deref(),
                    None
                ))?
            );
            return Ok(if drift.is_none() {
                exit::OK
            } else {
                exit::FAILURE
            });
        }
        return match drift {
            None => {
                if !g.quiet {
                    eprintln!("{} {out} is up to date", style.green("ok:"));
                }
                Ok(exit::OK)
            }
            Some(diff) => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(diff.as_bytes())
                    .and_then(|_| stdout.flush())
                    .context("cannot write to stdout")?;
                eprintln!(
                    "{} {out} differs from what `oailb render` writes; re-render to update it",
                    style.red(&style.bold("drift:"))
                );
                Ok(exit::FAILURE)
            }
        };
    }

    let w = write_dir(&a.out, &files)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report(false, None, None, Some(&w)))?
        );
    } else if !g.quiet {
        let mut parts = vec![format!("{} written", plural(w.written.len(), "file"))];
        if !w.unchanged.is_empty() {
            parts.push(format!("{} unchanged", w.unchanged.len()));
        }
        if !w.removed.is_empty() {
            parts.push(format!(
                "{} removed ({})",
                w.removed.len(),
                w.removed.join(", ")
            ));
        }
        eprintln!("{} {out}: {}", style.green("rendered:"), parts.join(", "));
    }
    Ok(exit::OK)
}
