//! Findings about a topology file: errors and warnings with a field path and,
//! where the file is known, a line and column.

use serde::Serialize;
use std::fmt::Write as _;

use super::source::{Loc, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding. `code` is a stable, kebab-case identifier that CI rules can key on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// Field path in the topology, e.g. `priority_groups[0].backends[1].weight`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Width of the marked text, for the caret line.
    #[serde(skip)]
    pub width: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            super::codes::lookup(code).is_some_and(|r| r.severity == severity),
            "diagnostic code `{code}` is not registered as {severity:?} in topology::codes"
        );
        Diagnostic {
            severity,
            code,
            message: message.into(),
            path: None,
            line: None,
            column: None,
            width: 1,
            help: None,
        }
    }

    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn at(mut self, loc: Loc) -> Self {
        self.line = Some(loc.line);
        self.column = Some(loc.column);
        self.width = loc.width.max(1);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Human rendering in the style of rustc: header, location arrow, source
    /// line with a caret, help.
    pub fn render(&self, source: &Source, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let sev_color = match self.severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}{} {}",
            paint(
                sev_color,
                &format!("{}[{}]", self.severity.as_str(), self.code)
            ),
            paint("1", ":"),
            paint("1", &self.message)
        );
        let file = source.display_name();
        match (self.line, self.column) {
            (Some(line), Some(col)) => {
                let gutter = line.to_string().len();
                let pad = " ".repeat(gutter);
                let _ = writeln!(out, "{pad}{} {file}:{line}:{col}", paint("1;34", "-->"));
                if let Some(text) = source.line(line) {
                    let bar = paint("1;34", "|");
                    let _ = writeln!(out, "{pad} {bar}");
                    let _ = writeln!(out, "{} {bar} {text}", paint("1;34", &line.to_string()));
                    let caret_pad: String = text
                        .chars()
                        .take(col.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let _ = writeln!(
                        out,
                        "{pad} {bar} {caret_pad}{}",
                        paint(sev_color, &"^".repeat(self.width.min(80)))
                    );
                }
            }
            _ => {
                let _ = writeln!(out, "  {} {file}", paint("1;34", "-->"));
            }
        }
        if let Some(path) = &self.path {
            let _ = writeln!(out, "  = field: {path}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }

    /// One line, `FILE:LINE:COL: severity[code]: message`, for logs and `--quiet`.
    pub fn one_line(&self, source: &Source) -> String {
        let mut out = source.display_name().to_string();
        if let (Some(l), Some(c)) = (self.line, self.column) {
            let _ = write!(out, ":{l}:{c}");
        }
        let _ = write!(
            out,
            ": {}[{}]: {}",
            self.severity.as_str(),
            self.code,
            self.message
        );
        if let Some(path) = &self.path {
            let _ = write!(out, " (at {path})");
        }
        out
    }
}

/// All findings for one file, errors first, then in file order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// Stable order: severity, then position in the file, then message.
    pub fn sort(&mut self) {
        self.diagnostics.sort_by(|a, b| {
            (a.severity, a.line, a.column, &a.message)
                .cmp(&(b.severity, b.line, b.column, &b.message))
        });
        self.diagnostics.dedup();
    }
}

/// "did you mean" for a misspelled name among the candidates.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
