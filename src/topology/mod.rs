//! The topology file: loading, schema and semantic validation.
//!
//! `load` is the one entry point: text → spanned JSON value → typed
//! [`Topology`] → semantic checks. Every failure is a [`Diagnostic`] that names
//! the file, the field path and, where possible, the line and column.

pub mod catalog;
pub mod codes;
pub mod consumers;
pub mod diagnostic;
pub mod naming;
pub mod resolve;
pub mod schema;
pub mod source;
mod validate;

use std::path::Path;

pub use consumers::*;
pub use diagnostic::{Diagnostic, Report, Severity};
pub use resolve::{normalize_endpoint, CacheInstance, Served, ServedSpillover};
pub use schema::*;
pub use source::{Locations, Source};
pub use validate::{check_state_store, parse_listen, redact_url};

/// A topology that parsed and passed validation (possibly with warnings).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub source: Source,
    pub topology: Topology,
    pub locations: Locations,
    /// Warnings only; errors make `load` fail.
    pub report: Report,
}

/// A topology that could not be used, with every finding.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub source: Source,
    pub report: Report,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.report.diagnostics {
            writeln!(f, "{}", d.one_line(&self.source))?;
        }
        Ok(())
    }
}

pub fn load_file(path: &Path) -> Result<Loaded, Box<Invalid>> {
    match Source::read(path) {
        Ok(source) => load(source),
        Err(d) => Err(Box::new(Invalid {
            source: Source::new(path.display().to_string(), ""),
            report: Report {
                diagnostics: vec![d],
            },
        })),
    }
}

pub fn load(source: Source) -> Result<Loaded, Box<Invalid>> {
    let fail = |source: Source, diagnostics: Vec<Diagnostic>| {
        let mut report = Report { diagnostics };
        report.sort();
        Err(Box::new(Invalid { source, report }))
    };
    let (value, locations) = match source::load(source.text()) {
        Ok(v) => v,
        Err(d) => return fail(source, vec![d]),
    };
    if !value.is_object() {
        let d = Diagnostic::error(
            "not-a-mapping",
            "the topology must be a mapping of fields (resource_group, apim, models, ...)",
        );
        let d = match locations.value(".") {
            Some(loc) => d.at(loc),
            None => d,
        };
        return fail(source, vec![d]);
    }
    let topology: Topology = match serde_path_to_error::deserialize(value) {
        Ok(t) => t,
        Err(e) => {
            let path = e.path().to_string();
            let d = serde_diagnostic(&path, &e.into_inner().to_string(), &locations);
            return fail(source, vec![d]);
        }
    };
    let mut report = Report::default();
    validate::check(&topology, &locations, &mut report, source.dir().as_deref());
    report.sort();
    if report.has_errors() {
        return Err(Box::new(Invalid { source, report }));
    }
    Ok(Loaded {
        source,
        topology,
        locations,
        report,
    })
}

/// The same topology with `load_balancing.mode` set to `mode`, validated
/// again: pool mode has rules of its own (tier, pool size, one auth kind and
/// one deployment name per pool), and a mode override must not skip them.
/// Positions still point into the original file.
pub fn with_mode(loaded: &Loaded, mode: Mode) -> Result<Loaded, Box<Invalid>> {
    let mut topology = loaded.topology.clone();
    topology.load_balancing.mode = mode;
    let mut report = Report::default();
    let dir = loaded.source.dir();
    validate::check(&topology, &loaded.locations, &mut report, dir.as_deref());
    report.sort();
    if report.has_errors() {
        return Err(Box::new(Invalid {
            source: loaded.source.clone(),
            report,
        }));
    }
    Ok(Loaded {
        source: loaded.source.clone(),
        topology,
        locations: loaded.locations.clone(),
        report,
    })
}

/// Turns a serde message into a diagnostic with position and a useful hint
/// (also for the other files oailb reads with the same loader: workloads).
pub(crate) fn serde_diagnostic(path: &str, message: &str, locations: &Locations) -> Diagnostic {
    let path = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let expected = backticked(rest.split_once("expected").map(|x| x.1).unwrap_or_default());
        // serde_path_to_error stops at the map that holds the unknown key.
        let field_path = if path.rsplit(['.', '[']).next() == Some(field) {
            path.to_string()
        } else {
            source::child_key(path, field)
        };
        let mut d = Diagnostic::error("unknown-field", format!("unknown field `{field}`"))
            .at_path(&field_path);
        if let Some(loc) = locations.key(&field_path) {
            d = d.at(loc);
        }
        let help = match diagnostic::did_you_mean(field, expected.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None if !expected.is_empty() => format!("expected one of: {}", expected.join(", ")),
            None => "this map takes no other fields".to_string(),
        };
        return d.with_help(help);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let mut d = Diagnostic::error("missing-field", format!("missing required field `{field}`"))
            .at_path(if path.is_empty() { "(top level)" } else { path });
        if let Some(loc) = locations.key(path) {
            d = d.at(loc);
        }
        return d;
    }
    let mut d = Diagnostic::error("invalid-value", message.to_string())
        .at_path(if path.is_empty() { "(top level)" } else { path });
    if let Some(loc) = locations.value(path) {
        d = d.at(loc);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let variant = rest.split('`').next().unwrap_or_default();
        let expected = backticked(rest.split_once("expected").map(|x| x.1).unwrap_or_default());
        d.code = "unknown-variant";
        if let Some((base, _)) = variant
            .rsplit_once('_')
            .filter(|(_, n)| n.parse::<u32>().is_ok())
        {
            if expected.iter().any(|e| e == base) {
                return d.with_help(format!(
                    "write the SKU and its capacity separately: `sku: {base}` and `capacity: {}`",
                    &variant[base.len() + 1..]
                ));
            }
        }
        if let Some(s) = diagnostic::did_you_mean(variant, expected.iter().map(String::as_str)) {
            return d.with_help(format!("did you mean `{s}`?"));
        }
        return d.with_help(format!("expected one of: {}", expected.join(", ")));
    }
    if message.contains("expected a string") && message.starts_with("invalid type: integer") {
        return d.with_help("quote the value so YAML keeps it as text, e.g. version: \"0613\"");
    }
    if message.contains("expected u32") || message.contains("expected u16") {
        return d.with_help("expected a whole number that is not negative");
    }
    d
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_points_at_key_with_suggestion() {
        let src = Source::new(
            "t.yaml",
            "resource_group: rg\nlocation: eastus\napim:\n  name: a\n  publisher_name: p\n  publisher_emial: e@x.com\n",
        );
        let err = load(src).unwrap_err();
        let d = &err.report.diagnostics[0];
        assert_eq!(d.code, "unknown-field");
        assert_eq!((d.line, d.column), (Some(6), Some(3)));
        assert_eq!(d.path.as_deref(), Some("apim.publisher_emial"));
        assert_eq!(d.help.as_deref(), Some("did you mean `publisher_email`?"));
    }
}
