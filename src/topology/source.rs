//! Loads a YAML (or JSON) topology into a `serde_json::Value` plus a map from
//! every field path to its line and column, so that both serde errors and the
//! semantic checks can point at the exact spot in the file.
//!
//! Scalars follow the YAML 1.2 core schema, with one deliberate exception: a
//! plain scalar made of digits with a leading zero (`0613`) stays a string.
//! Azure model versions look like that, and silently reading them as 613
//! would deploy the wrong model.
//!
//! Tabs follow YAML 1.2: never in indentation (§6.1), allowed as separation
//! between tokens on a line (§6.2, e.g. `location:<TAB>eastus2`). The parser
//! refuses a tab after a key's `:` when a letter follows, so such tabs are
//! read as the spaces they are equivalent to (see [`load`]). Its errors about
//! tabs and over-indented lines are moved to the line that is wrong.

// A diagnostic ends the parse, so returning it by value costs nothing that matters.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};
use serde_json::{Map, Number, Value};

use super::diagnostic::Diagnostic;

/// Nodes a document may hold, copies made by aliases included: bounds the
/// time and memory one file can take, and stops "billion laughs" alias bombs
/// (the 30-backend, 3-model benchmark topology has 225).
const MAX_NODES: usize = 200_000;
/// Nesting depth; a topology is a few levels deep.
const MAX_DEPTH: usize = 64;

/// The topology text and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    path: Option<PathBuf>,
    text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            path: None,
            text: text.into(),
        }
    }

    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        Self::read_file(path).map_err(|d| {
            let missing = path.try_exists().is_ok_and(|e| !e);
            if d.code == "io" && missing {
                d.with_help("create one with `oailb init`, or point to it with -f/--topology or OAILB_TOPOLOGY")
            } else {
                d
            }
        })
    }

    /// Any text file oailb reads with this loader (topology, workload).
    pub fn read_file(path: &Path) -> Result<Self, Diagnostic> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| Diagnostic::error("io", format!("cannot read {name}: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Diagnostic::error(
                "encoding",
                format!(
                    "{name} is not valid UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Ok(Source {
            name,
            path: Some(path.to_path_buf()),
            text,
        })
    }

    pub fn display_name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Directory that relative paths in the topology (OpenAPI files) resolve
    /// against; `None` for text that did not come from a file.
    pub fn dir(&self) -> Option<PathBuf> {
        self.path
            .as_deref()
            .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
    }

    /// Line `n` (1-based) without its newline.
    pub fn line(&self, n: usize) -> Option<&str> {
        self.text
            .lines()
            .nth(n.checked_sub(1)?)
            .map(|l| l.trim_end_matches('\r'))
    }
}

/// A position in the file: 1-based line and column, and the width to underline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub line: usize,
    pub column: usize,
    pub width: usize,
}

impl Loc {
    fn from_span(span: Span) -> Self {
        let width = if span.end.line() == span.start.line() {
            span.end.col().saturating_sub(span.start.col())
        } else {
            1
        };
        Loc {
            line: span.start.line(),
            column: span.start.col() + 1,
            width: width.max(1),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct NodeLoc {
    key: Option<Loc>,
    value: Loc,
}

/// Field path (`a.b[0].c`, the format of `serde_path_to_error`) → position.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    map: HashMap<String, NodeLoc>,
}

impl Locations {
    /// Position of the value at `path`, or of its nearest ancestor that has one.
    pub fn value(&self, path: &str) -> Option<Loc> {
        self.lookup(path).map(|n| n.value)
    }

    /// Position of the key of `path` (falls back to the value).
    pub fn key(&self, path: &str) -> Option<Loc> {
        self.lookup(path).map(|n| n.key.unwrap_or(n.value))
    }

    /// Whether the file spelled out this exact field (as opposed to a default).
    pub fn contains(&self, path: &str) -> bool {
        self.map.contains_key(path)
    }

    fn lookup(&self, path: &str) -> Option<&NodeLoc> {
        let mut p = path;
        loop {
            if let Some(n) = self.map.get(p) {
                return Some(n);
            }
            if p.is_empty() || p == "." {
                // The document root is recorded as ".".
                return self.map.get(".");
            }
            p = parent_path(p);
        }
    }
}

/// `a.b[0].c` → `a.b[0]` → `a.b` → `a` → ``.
pub fn parent_path(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    &path[..cut]
}

pub fn child_key(parent: &str, key: &str) -> String {
    if parent.is_empty() || parent == "." {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub fn child_index(parent: &str, index: usize) -> String {
    if parent == "." {
        format!("[{index}]")
    } else {
        format!("{parent}[{index}]")
    }
}

/// Parses the whole text into one JSON value and the location map.
///
/// A run of tabs right after a key's `:` is separation (YAML 1.2 §6.2) that
/// the parser refuses before a letter, so such tabs are given to it as
/// spaces (same columns and offsets). A `:` followed by a tab inside a
/// quoted or block scalar is content, not separation: when a replaced tab
/// turns out to be inside one, it is put back and the text parsed again.
pub fn load(text: &str) -> Result<(Value, Locations), Diagnostic> {
    let mut separators = tab_separators(text);
    loop {
        let parsed = with_spaces_at(text, &separators);
        let mut loader = Loader {
            parser: Parser::new_from_str(&parsed),
            text: &parsed,
            separators: &separators,
            content_tabs: Vec::new(),
            anchors: HashMap::new(),
            locations: Locations::default(),
            written: 0,
            copied: 0,
            last_key: None,
        };
        let result = loader.document();
        if loader.content_tabs.is_empty() {
            return result;
        }
        let content = std::mem::take(&mut loader.content_tabs);
        separators.retain(|i| !content.contains(i));
    }
}

/// Character offsets of the tabs that directly follow a `:` after a key on
/// the same line (`key:<TAB>value`, `"key":<TAB>value`, `{a:<TAB>b}`) and
/// precede more text on that line. A `:` that starts a line (an explicit
/// `? key` / `: value` pair) is left alone: a tab there may not introduce a
/// nested block collection (yaml-test-suite Y79Y), which the parser checks.
fn tab_separators(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    if !text.contains(":\t") {
        return out;
    }
    let mut prev: Option<char> = None;
    for (n, (at, c)) in text.char_indices().enumerate() {
        let after_key = prev.is_some_and(|p| !p.is_whitespace());
        prev = Some(c);
        let rest = &text[at + c.len_utf8()..];
        if c != ':' || !after_key || !rest.starts_with('\t') {
            continue;
        }
        // The run is ASCII: byte offsets in it are character offsets.
        let run = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[run..].starts_with(|c: char| c != '\n' && c != '\r') {
            out.extend(
                rest[..run]
                    .char_indices()
                    .filter(|&(_, c)| c == '\t')
                    .map(|(j, _)| n + 1 + j),
            );
        }
    }
    out
}

/// `text` with the characters at the (sorted) offsets `at` made spaces.
fn with_spaces_at<'t>(text: &'t str, at: &[usize]) -> Cow<'t, str> {
    if at.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut next = at.iter().peekable();
    Cow::Owned(
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                if next.peek() == Some(&&i) {
                    next.next();
                    ' '
                } else {
                    c
                }
            })
            .collect(),
    )
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// The text as parsed (tab separators as spaces).
    text: &'a str,
    /// Offsets of the tabs given to the parser as spaces.
    separators: &'a [usize],
    /// Those of them found inside a quoted or block scalar.
    content_tabs: Vec<usize>,
    anchors: HashMap<usize, Value>,
    locations: Locations,
    /// Nodes written in the file, and nodes copied by aliases.
    written: usize,
    copied: usize,
    /// The last mapping key read and where: indentation errors name it.
    last_key: Option<(String, Loc)>,
}

type Ev<'a> = (Event<'a>, Span);

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<Ev<'a>, Diagnostic> {
        match self.parser.next_event() {
            Some(Ok(ev)) => {
                if let (Event::Scalar(_, style, ..), span) = &ev {
                    self.note_content_tabs(*style, *span);
                }
                Ok(ev)
            }
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Err(Diagnostic::error(
                "yaml-syntax",
                "unexpected end of YAML input",
            )),
        }
    }

    /// Records the replaced tabs that lie inside a quoted or block scalar.
    fn note_content_tabs(&mut self, style: ScalarStyle, span: Span) {
        if style == ScalarStyle::Plain || self.separators.is_empty() {
            return;
        }
        let (start, end) = (span.start.index(), span.end.index());
        let from = self.separators.partition_point(|&i| i < start);
        self.content_tabs.extend(
            self.separators[from..]
                .iter()
                .take_while(|&&i| i < end)
                .copied(),
        );
    }

    /// The parser's error, moved to the line that is wrong where the parser
    /// names another one, with a message that says what to change.
    fn scan_error(&self, e: &ScanError) -> Diagnostic {
        let m = e.marker();
        let at = Loc {
            line: m.line(),
            column: m.col() + 1,
            width: 1,
        };
        let refined = match e.info() {
            // Reported at the start of the scalar before the tab.
            "while scanning a plain scalar, found a tab" => tab_indentation(self.text, at.line + 1),
            "tabs disallowed within this context (block indentation)"
            | "tab cannot be used as indentation" => tab_indentation(self.text, at.line),
            // Reported at the comment on the line above the wrong one.
            "comment intercepting the multiline text" => self.over_indented(at.line + 1),
            "mapping values are not allowed in this context" => self.over_indented(at.line),
            _ => None,
        };
        refined.unwrap_or_else(|| {
            Diagnostic::error("yaml-syntax", format!("YAML syntax error: {}", e.info())).at(at)
        })
    }

    /// The error for `line` when it is indented deeper than the last key
    /// read, on an earlier line: YAML reads it as more of that key's value.
    fn over_indented(&self, line: usize) -> Option<Diagnostic> {
        let (key, key_loc) = self.last_key.as_ref()?;
        let text = self.text.lines().nth(line.checked_sub(1)?)?;
        let indent = text.len() - text.trim_start_matches(' ').len();
        let content = &text[indent..];
        if content.starts_with('\t') {
            return tab_indentation(self.text, line);
        }
        if key_loc.line >= line || indent < key_loc.column || content.is_empty() {
            return None;
        }
        let word: String = content
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ':')
            .collect();
        let what = if content[word.len()..].starts_with(':') {
            format!("`{word}:`")
        } else {
            "this line".to_string()
        };
        Some(
            Diagnostic::error(
                "yaml-syntax",
                format!(
                    "{what} is indented deeper than `{key}` on line {}, so YAML reads it as more of the value of `{key}`",
                    key_loc.line
                ),
            )
            .at(Loc {
                line,
                column: indent + 1,
                width: word.chars().count().max(1),
            })
            .with_help(format!(
                "a key of the same mapping as `{key}` starts at column {}, like `{key}`",
                key_loc.column
            )),
        )
    }

    fn document(&mut self) -> Result<(Value, Locations), Diagnostic> {
        // StreamStart
        self.next()?;
        let (ev, span) = self.next()?;
        let root = match ev {
            Event::StreamEnd => {
                return Err(
                    Diagnostic::error("empty-file", "the topology file is empty")
                        .with_help("run `oailb init` for a commented starter topology"),
                )
            }
            Event::DocumentStart(_) => {
                let (ev, span) = self.next()?;
                if matches!(ev, Event::DocumentEnd) {
                    return Err(
                        Diagnostic::error("empty-file", "the topology document is empty")
                            .at(Loc::from_span(span)),
                    );
                }
                self.node(ev, span, ".", 0)?
            }
            _ => return Err(syntax("expected a YAML document", span)),
        };
        // DocumentEnd, then either StreamEnd or a second document.
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::DocumentEnd => continue,
                Event::StreamEnd => break,
                Event::DocumentStart(_) => return Err(Diagnostic::error(
                    "multiple-documents",
                    "the topology file holds more than one YAML document; oailb reads exactly one",
                )
                .at(Loc::from_span(span))),
                _ => return Err(syntax("unexpected content after the document", span)),
            }
        }
        Ok((root, std::mem::take(&mut self.locations)))
    }

    /// Counts a node written in the file.
    fn count(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.written += 1;
        if self.written + self.copied > MAX_NODES {
            return Err(self.too_large(Loc::from_span(span)));
        }
        Ok(())
    }

    fn too_large(&self, at: Loc) -> Diagnostic {
        let why = "to bound the time and memory one file can take (a topology has a few hundred)";
        let d = if self.copied == 0 {
            Diagnostic::error(
                "too-large",
                format!(
                    "the file holds more than {MAX_NODES} YAML nodes (keys, values and list items); oailb reads at most {MAX_NODES}, {why}"
                ),
            )
        } else {
            Diagnostic::error(
                "too-large",
                format!(
                    "aliases expand the document to more than {MAX_NODES} YAML nodes ({} written in the file, {} copies made by `*` aliases); oailb reads at most {MAX_NODES}, {why}",
                    self.written, self.copied
                ),
            )
            .with_help("an alias copies the whole node its anchor names; nested aliases multiply (a \"billion laughs\" file): write the values out instead")
        };
        d.at(at)
    }

    fn node(
        &mut self,
        ev: Event<'a>,
        span: Span,
        path: &str,
        depth: usize,
    ) -> Result<Value, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                "too-deep",
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .at(Loc::from_span(span)));
        }
        self.count(span)?;
        let loc = Loc::from_span(span);
        self.record(path, loc);
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                (scalar(&text, style, tag.as_deref(), span)?, anchor)
            }
            Event::Alias(id) => {
                let v = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax("alias to an unknown anchor", span))?;
                self.copied += approx_size(&v);
                if self.written + self.copied > MAX_NODES {
                    return Err(self.too_large(loc));
                }
                return Ok(v);
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let child = child_index(path, items.len());
                    items.push(self.node(ev, span, &child, depth + 1)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => (Value::Object(self.mapping(path, depth)?), anchor),
            _ => return Err(syntax("unexpected YAML event", span)),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    fn mapping(&mut self, path: &str, depth: usize) -> Result<Map<String, Value>, Diagnostic> {
        let mut map = Map::new();
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        loop {
            let (ev, kspan) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, _) => {
                    self.count(kspan)?;
                    if style == ScalarStyle::Plain && text == "<<" {
                        let (ev, span) = self.next()?;
                        let v = self.node(ev, span, path, depth + 1)?;
                        match v {
                            Value::Object(m) => merged.push(m),
                            Value::Array(items) if items.iter().all(Value::is_object) => merged
                                .extend(items.into_iter().filter_map(|i| match i {
                                    Value::Object(m) => Some(m),
                                    _ => None,
                                })),
                            _ => {
                                return Err(syntax(
                                    "a merge key `<<` takes a mapping or a list of mappings",
                                    span,
                                ))
                            }
                        }
                        continue;
                    }
                    text.into_owned()
                }
                _ => return Err(syntax("mapping keys must be plain strings", kspan)),
            };
            self.last_key = Some((key.clone(), Loc::from_span(kspan)));
            let child = child_key(path, &key);
            if map.contains_key(&key) {
                return Err(
                    Diagnostic::error("duplicate-key", format!("duplicate key `{key}`"))
                        .at(Loc::from_span(kspan))
                        .at_path(child),
                );
            }
            let (ev, vspan) = self.next()?;
            let value = self.node(ev, vspan, &child, depth + 1)?;
            if let Some(n) = self.locations.map.get_mut(&child) {
                n.key = Some(Loc::from_span(kspan));
            }
            map.insert(key, value);
        }
        // Keys written out win over merged ones, whatever their order.
        for m in merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Ok(map)
    }

    fn record(&mut self, path: &str, loc: Loc) {
        self.locations.map.insert(
            path.to_string(),
            NodeLoc {
                key: None,
                value: loc,
            },
        );
    }
}

/// The first line from `from` on (1-based) whose indentation holds a tab,
/// as an error at that tab. Lines that are blank or only a comment may hold
/// tabs anywhere.
fn tab_indentation(text: &str, from: usize) -> Option<Diagnostic> {
    let (n, line) = text
        .lines()
        .enumerate()
        .skip(from.checked_sub(1)?)
        .find(|(_, l)| {
            let rest = l.trim_start_matches([' ', '\t']);
            !rest.is_empty() && !rest.starts_with('#') && l[..l.len() - rest.len()].contains('\t')
        })?;
    let tab = line.find('\t')?;
    Some(
        Diagnostic::error(
            "yaml-syntax",
            "a tab indents this line; YAML indents with spaces only",
        )
        .at(Loc {
            line: n + 1,
            column: tab + 1,
            width: 1,
        })
        .with_help("replace the tab with spaces (a tab may separate a value from `:` or `-` on the same line, but never indent)"),
    )
}

fn approx_size(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(approx_size).sum::<usize>(),
        _ => 1,
    }
}

fn syntax(msg: &str, span: Span) -> Diagnostic {
    Diagnostic::error("yaml-syntax", msg.to_string()).at(Loc::from_span(span))
}

fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    span: Span,
) -> Result<Value, Diagnostic> {
    if let Some(tag) = tag {
        let forced = match tag {
            "tag:yaml.org,2002:str" | "!!str" => Some(Value::String(text.to_string())),
            "tag:yaml.org,2002:null" | "!!null" => Some(Value::Null),
            "tag:yaml.org,2002:int"
            | "!!int"
            | "tag:yaml.org,2002:float"
            | "!!float"
            | "tag:yaml.org,2002:bool"
            | "!!bool" => match plain_scalar(text) {
                v @ (Value::Number(_) | Value::Bool(_)) => Some(v),
                _ => {
                    return Err(syntax(
                        &format!("`{text}` does not match its tag {tag}"),
                        span,
                    ))
                }
            },
            "!" => Some(Value::String(text.to_string())),
            _ => return Err(syntax(&format!("unsupported YAML tag `{tag}`"), span)),
        };
        return Ok(forced.unwrap_or(Value::Null));
    }
    Ok(match style {
        ScalarStyle::Plain => plain_scalar(text),
        _ => Value::String(text.to_string()),
    })
}

/// YAML 1.2 core schema resolution of a plain scalar (see module docs for the
/// leading-zero exception).
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > 1 && digits.starts_with('0') {
            return Value::String(text.to_string());
        }
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(u) = u64::from_str_radix(hex, 16) {
            return Value::Number(u.into());
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(u) = u64::from_str_radix(oct, 8) {
            return Value::Number(u.into());
        }
    }
    if looks_like_float(text) {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn looks_like_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exp_ok = match exp {
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
        None => true,
    };
    mantissa_ok && exp_ok && (frac.is_some() || exp.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_follow_core_schema_but_keep_leading_zero_versions() {
        let (v, _) =
            load("a: 0613\nb: 613\nc: 1.5\nd: yes\ne: ~\nf: '12'\ng: 2024-08-06\nh: true\ni: -3\n")
                .unwrap();
        assert_eq!(v["a"], "0613");
        assert_eq!(v["b"], 613);
        assert_eq!(v["c"], 1.5);
        assert_eq!(v["d"], "yes");
        assert!(v["e"].is_null());
        assert_eq!(v["f"], "12");
        assert_eq!(v["g"], "2024-08-06");
        assert_eq!(v["h"], true);
        assert_eq!(v["i"], -3);
    }

    #[test]
    fn locations_point_at_keys_and_values() {
        let text = "top:\n  list:\n    - name: x\n      weight: 3\n";
        let (_, locs) = load(text).unwrap();
        let v = locs.value("top.list[0].weight").unwrap();
        assert_eq!((v.line, v.column), (4, 15));
        let k = locs.key("top.list[0].weight").unwrap();
        assert_eq!((k.line, k.column), (4, 7));
        // Unknown deeper path falls back to the nearest ancestor.
        assert_eq!(locs.value("top.list[0].weight.nope").unwrap().line, 4);
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let err = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.code, "duplicate-key");
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        let err = load(&text).unwrap_err();
        assert_eq!(err.code, "too-large");
        assert!(err.message.starts_with("aliases expand the document to more than 200000 YAML nodes (64 written in the file, "), "{}", err.message);
        assert!(err.help.unwrap().contains("billion laughs"));
    }

    #[test]
    fn a_tab_after_a_colon_separates_like_a_space() {
        let (v, locs) = load("location:\teastus2\nb:\t\t\"q\"\nc: {d:\te}\n").unwrap();
        assert_eq!(v["location"], "eastus2");
        assert_eq!(v["b"], "q");
        assert_eq!(v["c"]["d"], "e");
        // Columns are those of the file.
        let l = locs.value("location").unwrap();
        assert_eq!((l.line, l.column), (1, 11));
    }

    #[test]
    fn a_colon_and_tab_inside_quoted_and_block_scalars_stay_content() {
        let text = "é: \"k:\tv\"\nb:\tc\nd: |\n  e:\tf\n'x:\ty': 1\ng: 'h:\ti'\n";
        let (v, _) = load(text).unwrap();
        assert_eq!(v["é"], "k:\tv");
        assert_eq!(v["b"], "c");
        assert_eq!(v["d"], "e:\tf\n");
        assert_eq!(v["x:\ty"], 1);
        assert_eq!(v["g"], "h:\ti");
    }

    #[test]
    fn a_tab_may_not_introduce_a_nested_block_collection() {
        // yaml-test-suite Y79Y: invalid after a tab, and after a space too
        // where the key is implicit.
        for text in [
            "? key:\n:\tkey:\n",
            "? -\n:\t-\n",
            "a:\t- b\n",
            "a:\tb: c\n",
        ] {
            let err = load(text).unwrap_err();
            assert_eq!(err.code, "yaml-syntax", "{text:?}");
        }
    }

    #[test]
    fn a_tab_in_indentation_is_reported_on_its_own_line() {
        // After a scalar (the parser names the scalar's line), after a key.
        for (text, line) in [
            ("a:\n  b: x\n\tc: y\n", 3),
            ("a:\n  - x\n  # a comment\n\n\t- y\n", 5),
            ("a:\n\tb: x\n", 2),
        ] {
            let err = load(text).unwrap_err();
            assert_eq!((err.line, err.column), (Some(line), Some(1)), "{text:?}");
            assert!(err.message.contains("a tab indents this line"), "{err:?}");
        }
    }

    #[test]
    fn an_over_indented_key_is_reported_on_its_own_line() {
        // With a comment on the line above (the parser names the comment).
        for text in [
            "m:\n  - name: x      # a comment\n      model: y\n",
            "m:\n  - name: x\n      model: y\n",
        ] {
            let err = load(text).unwrap_err();
            assert_eq!((err.line, err.column), (Some(3), Some(7)), "{text:?}");
            assert_eq!(
                err.message,
                "`model:` is indented deeper than `name` on line 2, so YAML reads it as more of the value of `name`"
            );
            assert!(err.help.unwrap().contains("column 5"));
        }
    }

    #[test]
    fn the_size_limit_says_which_limit_and_why() {
        let mut text = String::from("tags:\n");
        for i in 0..MAX_NODES {
            text.push_str(&format!("  t{i}: v\n"));
        }
        let err = load(&text).unwrap_err();
        assert_eq!(err.code, "too-large");
        assert!(
            err.message
                .starts_with("the file holds more than 200000 YAML nodes"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("alias"), "{}", err.message);
        assert_eq!(err.line, Some(100_000));
    }

    #[test]
    fn merge_keys_and_json_input() {
        let (v, _) = load("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(v["d"]["x"], 1);
        assert_eq!(v["d"]["y"], 3);
        let (v, _) = load("{\"a\": [1, \"b\"], \"c\": {\"d\": null}}").unwrap();
        assert_eq!(v["a"][1], "b");
    }

    #[test]
    fn empty_and_multi_document() {
        assert_eq!(load("").unwrap_err().code, "empty-file");
        assert_eq!(
            load("a: 1\n---\nb: 2\n").unwrap_err().code,
            "multiple-documents"
        );
    }
}
