//! `oailb render-policy`: the APIM policy XML of one API.

use std::io::Write;

use anyhow::Context;

use super::{load_topology, print_report, summary};
use crate::cli::{GlobalArgs, RenderPolicyArgs};
use crate::desired;
use crate::exit::{self, ExitError};
use crate::output;
use crate::render::{policy, Templates};
use crate::topology;

pub fn run(g: &GlobalArgs, a: &RenderPolicyArgs) -> anyhow::Result<u8> {
    let mut loaded = load_topology(g)?;
    if let Some(mode) = a.mode {
        let mode = mode.into();
        if mode != loaded.topology.load_balancing.mode {
            loaded = match topology::with_mode(&loaded, mode) {
                Ok(l) => l,
                Err(invalid) => {
                    print_report(g, &invalid.source, &invalid.report);
                    return Err(ExitError::usage(format!(
                        "{} (with --mode {})",
                        summary(&invalid.source, &invalid.report),
                        mode.as_str()
                    ))
                    .into());
                }
            };
        }
    }
    let d = desired::derive(&loaded.topology, None);
    let names: Vec<&str> = d.policies.iter().map(|p| p.api.as_str()).collect();
    let api = match (&a.api, names.as_slice()) {
        (Some(name), _) => d.policy(name).ok_or_else(|| {
            ExitError::usage(format!(
                "{} has no API `{name}`; its APIs are: {}",
                loaded.source.display_name(),
                names.join(", ")
            ))
        })?,
        (None, [_]) => &d.policies[0],
        (None, _) => {
            return Err(ExitError::usage(format!(
                "{} has {} APIs; choose one with --api: {}",
                loaded.source.display_name(),
                names.len(),
                names.join(", ")
            ))
            .into())
        }
    };
    // A missing template directory is a usage error; a template that does
    // not parse or render is a failure of the command.
    if let Some(dir) = &a.templates {
        if !dir.is_dir() {
            return Err(ExitError::usage(format!(
                "template directory {} does not exist",
                dir.display()
            ))
            .into());
        }
    }
    let templates =
        Templates::load_only(a.templates.as_deref(), &[policy::template_name(api.mode)])?;
    let xml = policy::render(&templates, api)?;
    match &a.output {
        Some(path) => output::write_atomic(path, xml.as_bytes(), true)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(xml.as_bytes())
                .and_then(|_| out.flush())
                .context("cannot write to stdout")?;
        }
    }
    Ok(exit::OK)
}
