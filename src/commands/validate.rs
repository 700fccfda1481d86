//! `oailb validate`: schema and semantic checks, human or JSON.

use serde_json::json;

use super::plural;
use crate::cli::{GlobalArgs, ReportFormat, ValidateArgs};
use crate::desired;
use crate::exit;
use crate::output::Stream;
use crate::topology::{self, Report, Source};

/// Version of the JSON document `validate --format json` prints.
pub const SCHEMA_VERSION: u32 = 1;

pub fn run(g: &GlobalArgs, a: &ValidateArgs) -> anyhow::Result<u8> {
    let json = a.json || a.format == ReportFormat::Json;
    let mut details = String::new();
    let (source, report, valid_summary) = match topology::load_file(&g.topology) {
        Ok(l) => {
            let d = desired::derive(&l.topology, None);
            let t = &l.topology;
            let summary = format!(
                "{}, {} in {}, {}, {} ({} mode)",
                plural(t.models.len(), "model"),
                plural(t.backends().count(), "backend"),
                plural(t.priority_groups.len(), "priority group"),
                plural(t.apis().len(), "API"),
                plural(d.resources.len(), "Azure resource"),
                t.load_balancing.mode.as_str()
            );
            if g.verbose > 0 {
                details = resolved_table(&l.topology, &d);
            }
            (l.source, l.report, Some(summary))
        }
        Err(invalid) => (invalid.source, invalid.report, None),
    };
    let code = if valid_summary.is_none() {
        exit::INVALID
    } else if a.strict && report.warnings() > 0 {
        exit::FAILURE
    } else {
        exit::OK
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&source, &report, valid_summary.is_some()))?
        );
        return Ok(code);
    }
    super::print_report(g, &source, &report);
    let s = g.style(Stream::Stderr);
    match valid_summary {
        Some(summary) if !g.quiet => {
            let warn = if report.warnings() > 0 {
                format!(" with {}", plural(report.warnings(), "warning"))
            } else {
                String::new()
            };
            eprintln!(
                "{} {} is valid{warn}: {summary}",
                s.green("✓"),
                source.display_name()
            );
            eprint!("{details}");
        }
        Some(_) => {}
        None => eprintln!("{} {}", s.red("✗"), super::summary(&source, &report)),
    }
    Ok(code)
}

fn json_report(source: &Source, report: &Report, valid: bool) -> serde_json::Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "file": source.display_name(),
        "valid": valid,
        "errors": report.errors(),
        "warnings": report.warnings(),
        "diagnostics": report.diagnostics,
    })
}

/// `validate -v`: what the defaults resolved to, backend by backend.
fn resolved_table(t: &topology::Topology, d: &desired::Desired) -> String {
    let mut rows = vec![vec![
        "PRIORITY".to_string(),
        "BACKEND".to_string(),
        "ACCOUNT".to_string(),
        "ENDPOINT".to_string(),
        "AUTH".to_string(),
        "MODEL -> DEPLOYMENT (SKU, CAPACITY, WEIGHT)".to_string(),
    ]];
    for (priority, b) in t.backends() {
        let models: Vec<String> = b
            .served(t)
            .iter()
            .map(|s| {
                format!(
                    "{} -> {} ({}, {}, {})",
                    s.model.name,
                    s.deployment,
                    s.sku.as_str(),
                    s.capacity,
                    b.weight_for(s)
                )
            })
            .collect();
        rows.push(vec![
            priority.to_string(),
            b.name.clone(),
            b.account_name(&t.apim).unwrap_or_else(|| "-".into()),
            b.endpoint_root(&t.apim, t.cloud),
            match b.auth {
                topology::AuthKind::ManagedIdentity => "managed-identity".into(),
                topology::AuthKind::ApiKey => "api-key".into(),
            },
            models.join("; "),
        ]);
    }
    let apis: Vec<String> = d
        .outputs
        .apis
        .iter()
        .map(|a| format!("  API {} at {}\n", a.name, a.url))
        .collect();
    format!(
        "\n  Gateway {}\n{}\n{}",
        d.outputs.gateway_url,
        apis.concat(),
        crate::output::table(&rows, &|_, _, c| c.to_string())
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    )
}
