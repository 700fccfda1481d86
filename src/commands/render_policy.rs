//! `oailb render-policy`: the APIM policy XML of one API.

use std::io::Write;

use anyhow::Context;

use crate::cli::{GlobalArgs, RenderPolicyArgs};
use crate::desired;
use crate::exit::{self, ExitError};
use crate::output;
use crate::render::{policy, product_policy, Templates};

pub fn run(g: &GlobalArgs, a: &RenderPolicyArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology_with_mode(g, a.mode)?;
    let d = desired::derive(&loaded.topology, None);
    if let Some(product) = &a.product {
        super::check_templates_dir(a.templates.as_deref())?;
        if d.product_policy(product).is_none() {
            let names: Vec<&str> = d
                .product_policies
                .iter()
                .map(|p| p.product.as_str())
                .collect();
            return Err(ExitError::usage(if names.is_empty() {
                format!(
                    "{} defines no consumers, so it has no product `{product}`",
                    loaded.source.display_name()
                )
            } else {
                format!(
                    "{} has no product `{product}`; its products are: {}",
                    loaded.source.display_name(),
                    names.join(", ")
                )
            })
            .into());
        }
        let xml = product_policy::render_product(&d, product, a.templates.as_deref())?;
        return write(a, &xml);
    }
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
    super::check_templates_dir(a.templates.as_deref())?;
    let templates =
        Templates::load_only(a.templates.as_deref(), &[policy::template_name(api.mode)])?;
    let xml = policy::render(&templates, api)?;
    write(a, &xml)
}

/// To `-o FILE` (atomically) or stdout.
fn write(a: &RenderPolicyArgs, xml: &str) -> anyhow::Result<u8> {
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
