//! Findings about a topology file: errors and warnings with a field path and,
//! where the file is known, a line and column.

use serde::Serialize;
use std::fmt::Write as _;

use super::source::{Loc, Source};

/// A word (a run without white space) of a message, help or field path that
/// is longer than this is cut in the middle: messages quote values from the
/// file, and a value can be megabytes long.
const MAX_WORD: usize = 200;
/// Longest message, help or field path; longer ones are cut in the middle.
const MAX_TEXT: usize = 1000;
/// Source lines longer than this many characters are shown as a window of
/// [`SNIPPET_WIDTH`] characters around the column.
const MAX_SNIPPET: usize = 120;
const SNIPPET_WIDTH: usize = 100;
/// Characters shown before the column in a cut line.
const SNIPPET_BEFORE: usize = 40;

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
            message: bounded(message.into()),
            path: None,
            line: None,
            column: None,
            width: 1,
            help: None,
        }
    }

    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(bounded(path.into()));
        self
    }

    pub fn at(mut self, loc: Loc) -> Self {
        self.line = Some(loc.line);
        self.column = Some(loc.column);
        self.width = loc.width.max(1);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(bounded(help.into()));
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
                    let snippet = Snippet::new(text, col, self.width);
                    let bar = paint("1;34", "|");
                    let _ = writeln!(out, "{pad} {bar}");
                    let _ = writeln!(
                        out,
                        "{} {bar} {}",
                        paint("1;34", &line.to_string()),
                        snippet.text
                    );
                    let _ = writeln!(
                        out,
                        "{pad} {bar} {}{}",
                        snippet.caret_pad,
                        paint(sev_color, &"^".repeat(snippet.caret_width))
                    );
                    if let Some(note) = snippet.note(line) {
                        let _ = writeln!(out, "  = note: {note}");
                    }
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

/// The source line of a diagnostic as shown: the whole line, or for a long
/// line a window around the column with `…` where it was cut.
struct Snippet {
    text: String,
    /// White space up to the caret (tabs kept, so the caret lines up).
    caret_pad: String,
    caret_width: usize,
    /// (first, last) column shown and the line's length, when it was cut.
    cut: Option<(usize, usize, usize)>,
}

impl Snippet {
    fn new(line: &str, col: usize, width: usize) -> Snippet {
        let chars: Vec<char> = line.chars().collect();
        let col0 = col.saturating_sub(1).min(chars.len());
        let pad = |cs: &[char]| -> String {
            cs.iter()
                .map(|&c| if c == '\t' { '\t' } else { ' ' })
                .collect()
        };
        if chars.len() <= MAX_SNIPPET {
            return Snippet {
                text: line.to_string(),
                caret_pad: pad(&chars[..col0]),
                caret_width: width.clamp(1, 80),
                cut: None,
            };
        }
        let start = col0.saturating_sub(SNIPPET_BEFORE);
        let end = (start + SNIPPET_WIDTH).min(chars.len());
        let mut text = String::new();
        let mut caret_pad = String::new();
        if start > 0 {
            text.push('…');
            caret_pad.push(' ');
        }
        text.extend(&chars[start..end]);
        if end < chars.len() {
            text.push('…');
        }
        caret_pad.push_str(&pad(&chars[start..col0]));
        Snippet {
            text,
            caret_pad,
            caret_width: width.min(end.saturating_sub(col0)).max(1),
            cut: Some((start + 1, end, chars.len())),
        }
    }

    fn note(&self, line: usize) -> Option<String> {
        self.cut.map(|(first, last, len)| {
            format!("line {line} has {len} characters; columns {first}-{last} are shown")
        })
    }
}

/// `text` with every word longer than [`MAX_WORD`] characters, then the
/// whole text if longer than [`MAX_TEXT`], cut in the middle with a note of
/// how much was left out.
fn bounded(text: String) -> String {
    if text.len() <= MAX_WORD {
        return text;
    }
    let mut out = String::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        out.push_str(&cut_middle(word, MAX_WORD));
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
    }
    cut_middle(&out, MAX_TEXT)
}

/// `s` itself, or its first and last characters around `…(N characters cut)…`
/// so that the result has at most about `max` characters.
fn cut_middle(s: &str, max: usize) -> String {
    let len = s.chars().count();
    if len <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(30);
    let head = keep * 2 / 3;
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    let _ = write!(out, "…({} characters cut)…", len - head - tail);
    out.extend(s.chars().skip(len - tail));
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_in_a_message_is_cut_in_the_middle() {
        let value = format!("{}{}", "a".repeat(1_000_000), "z");
        let d = Diagnostic::error("invalid-name", format!("name `{value}` is too long"));
        assert!(d.message.chars().count() <= MAX_TEXT, "{}", d.message.len());
        assert!(d.message.starts_with("name `aaa"), "{}", d.message);
        assert!(d.message.ends_with("az` is too long"), "{}", d.message);
        assert!(
            d.message.contains("(999833 characters cut)"),
            "{}",
            d.message
        );
        // Ordinary messages are untouched.
        let d = Diagnostic::error("invalid-name", "name `x` is too long");
        assert_eq!(d.message, "name `x` is too long");
        // Many short words are bounded too.
        let d = Diagnostic::error("invalid-value", "word ".repeat(100_000));
        assert!(d.message.chars().count() <= MAX_TEXT);
    }

    #[test]
    fn a_long_source_line_is_shown_around_the_column() {
        let line = format!("k: {}X{}", "a".repeat(5000), "b".repeat(5000));
        let source = Source::new("t.yaml", format!("{line}\n"));
        let d = Diagnostic::error("invalid-value", "bad")
            .at(Loc {
                line: 1,
                column: 5004,
                width: 6001,
            })
            .at_path("k");
        let out = d.render(&source, false);
        assert!(out.len() < 600, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        let (shown, caret) = (lines[3], lines[4]);
        assert!(
            shown.starts_with("1 | …aaa") && shown.ends_with("bb…"),
            "{out}"
        );
        // The caret is under the X.
        let x = shown.chars().position(|c| c == 'X').unwrap();
        assert_eq!(caret.chars().position(|c| c == '^'), Some(x), "{out}");
        assert!(
            out.contains("= note: line 1 has 10004 characters; columns 4964-5063 are shown"),
            "{out}"
        );
    }

    #[test]
    fn a_short_line_is_shown_whole_with_tabs_kept_for_the_caret() {
        let source = Source::new("t.yaml", "a:\tb: c\n");
        let d = Diagnostic::error("yaml-syntax", "x").at(Loc {
            line: 1,
            column: 5,
            width: 1,
        });
        let out = d.render(&source, false);
        assert!(out.contains("1 | a:\tb: c\n  |   \t ^\n"), "{out:?}");
        assert!(!out.contains("note"), "{out}");
    }
}
