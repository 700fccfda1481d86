//! Loads a YAML (or JSON) topology into a `serde_json::Value` plus a map from
//! every field path to its line and column, so that both serde errors and the
//! semantic checks can point at the exact spot in the file.
//!
//! Scalars follow the YAML 1.2 core schema, with one deliberate exception: a
//! plain scalar made of digits with a leading zero (`0613`) stays a string.
//! Azure model versions look like that, and silently reading them as 613
//! would deploy the wrong model.

// A diagnostic ends the parse, so returning it by value costs nothing that matters.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::diagnostic::Diagnostic;

/// Nodes a document may expand to, aliases included: stops "billion laughs".
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
pub fn load(text: &str) -> Result<(Value, Locations), Diagnostic> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        locations: Locations::default(),
        nodes: 0,
    };
    loader.document()
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    locations: Locations,
    nodes: usize,
}

type Ev<'a> = (Event<'a>, Span);

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<Ev<'a>, Diagnostic> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                let m = e.marker();
                Err(
                    Diagnostic::error("yaml-syntax", format!("YAML syntax error: {}", e.info()))
                        .at(Loc {
                            line: m.line(),
                            column: m.col() + 1,
                            width: 1,
                        }),
                )
            }
            None => Err(Diagnostic::error(
                "yaml-syntax",
                "unexpected end of YAML input",
            )),
        }
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

    fn count(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::error(
                "too-large",
                format!("the document expands to more than {MAX_NODES} nodes (alias expansion?)"),
            )
            .at(Loc::from_span(span)));
        }
        Ok(())
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
                self.nodes += approx_size(&v);
                if self.nodes > MAX_NODES {
                    return Err(Diagnostic::error(
                        "too-large",
                        format!("the document expands to more than {MAX_NODES} nodes (alias expansion?)"),
                    )
                    .at(loc));
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
        assert_eq!(load(&text).unwrap_err().code, "too-large");
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
