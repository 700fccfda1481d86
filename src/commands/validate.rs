//! `oailb validate`: schema and semantic checks, human or JSON.

use serde_json::json;

use super::plural;
use crate::cli::{GlobalArgs, ReportFormat, ValidateArgs};
use crate::desired;
use crate::exit;
use crate::output::Stream;
use crate::topology::{self, codes, Report, Source};

/// Version of the JSON document `validate --format json` prints.
pub const SCHEMA_VERSION: u32 = 1;

pub fn run(g: &GlobalArgs, a: &ValidateArgs) -> anyhow::Result<u8> {
    let format = if a.json { ReportFormat::Json } else { a.format };
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
    match format {
        ReportFormat::Json => {
            let doc = json_report(&source, &report, valid_summary.is_some());
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(code);
        }
        ReportFormat::Sarif => {
            println!(
                "{}",
                serde_json::to_string_pretty(&sarif_report(&source, &report))?
            );
            return Ok(code);
        }
        ReportFormat::Human => {}
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

/// SARIF 2.1.0 with one result per finding, located in the topology file
/// (path as given, so run it from the repository root for code scanning).
pub fn sarif_report(source: &Source, report: &Report) -> serde_json::Value {
    let uri = source.display_name().replace('\\', "/");
    let uri = uri.strip_prefix("./").unwrap_or(&uri).to_string();
    let rules: Vec<_> = codes::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.code,
                "shortDescription": {"text": r.summary},
                "defaultConfiguration": {"level": r.severity.as_str()},
                "helpUri": format!("{README_URL}#validation-rules"),
            })
        })
        .collect();
    let results: Vec<_> = report
        .diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!(" ({h})"));
            }
            let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": uri}}});
            if let (Some(line), Some(column)) = (d.line, d.column) {
                location["physicalLocation"]["region"] =
                    json!({"startLine": line, "startColumn": column, "endColumn": column + d.width});
            }
            if let Some(path) = &d.path {
                location["logicalLocations"] = json!([{"fullyQualifiedName": path, "kind": "member"}]);
            }
            json!({
                "ruleId": d.code,
                "ruleIndex": codes::RULES.iter().position(|r| r.code == d.code),
                "level": d.severity.as_str(),
                "message": {"text": text},
                "locations": [location],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "oailb",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": README_URL,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

const README_URL: &str = "https://github.com/oailb/oailb/blob/main/README.md";

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
