//! Traces (`--trace`): recorded requests to replay, as CSV with a header
//! row or as JSON lines, with the fields `timestamp`, `deployment`,
//! `prompt_tokens`, `max_tokens` and optionally `completion_tokens` and
//! `gateway_region` (the gateway that took the request; default the
//! service's own region).
//! `timestamp` is seconds from the start (numbers below 10⁹), Unix seconds
//! or RFC 3339 text (then the first row is time 0); rows are in time order. A first pass checks every row (errors name the line and
//! column) and measures the trace; each strategy then streams the file
//! again, so a trace of any length takes constant memory.

// A diagnostic ends the parse, so returning it by value costs nothing that matters.
#![allow(clippy::result_large_err)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::arrivals::Request;
use super::workload::InvalidFile;
use crate::balancer::region::{self, normalize};
use crate::topology::diagnostic::did_you_mean;
use crate::topology::source::Loc;
use crate::topology::{Diagnostic, Source};

/// Numeric timestamps below this are seconds from the start; at or above
/// it they are Unix time (2001 onwards).
const RELATIVE_BELOW: f64 = 1e9;

const FIELDS: [&str; 6] = [
    "timestamp",
    "deployment",
    "prompt_tokens",
    "max_tokens",
    "completion_tokens",
    "gateway_region",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// A trace that passed the first pass.
#[derive(Debug, Clone)]
pub struct Trace {
    path: PathBuf,
    format: Format,
    /// Route index per deployment name, in `names` order.
    names: Vec<String>,
    /// The topology's gateway regions, normalized, in the simulation's
    /// order (a row's `gateway_region` is an index into it).
    regions: Vec<String>,
    /// Time 0 of the simulation, in the timestamps' seconds: 0 for
    /// relative timestamps, else the first row's.
    t0: f64,
    pub requests: u64,
    /// Seconds from time 0 to the last row.
    pub duration: f64,
}

/// One parsed row, before the deployment name becomes a route index.
struct Row {
    seconds: f64,
    deployment: String,
    prompt: u32,
    max_tokens: u32,
    completion: Option<u32>,
    /// As written, with the column it starts at.
    gateway_region: Option<(String, usize)>,
}

/// A row's error: message and the column (1-based) it starts at.
type RowError = (String, usize);

impl Trace {
    /// Reads the whole trace once, checking every row; `deployments` are the
    /// topology's client-facing names (route order), `gateway_regions` its
    /// gateway regions (`apim.location` first).
    pub fn scan(
        path: &Path,
        deployments: &[&str],
        gateway_regions: &[&str],
    ) -> Result<Trace, Box<InvalidFile>> {
        let name = path.display().to_string();
        let fail = |line: usize, col: usize, text: &str, d: Diagnostic| {
            let d = if line > 0 {
                d.at(Loc {
                    line,
                    column: col,
                    width: 1,
                })
            } else {
                d
            };
            // The source holds the one line the diagnostic shows, at its number.
            let mut shown = "\n".repeat(line.saturating_sub(1));
            shown.push_str(text);
            Box::new(InvalidFile {
                source: Source::new(name.clone(), shown),
                diagnostics: vec![d],
            })
        };
        let file = File::open(path).map_err(|e| {
            fail(
                0,
                0,
                "",
                Diagnostic::error("io", format!("cannot read {name}: {e}")),
            )
        })?;
        let mut reader = Lines::new(BufReader::new(file));
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            Some(e)
                if ["jsonl", "ndjson", "json"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x)) =>
            {
                Format::JsonLines
            }
            _ => match reader.peek_first_char() {
                Some('{') => Format::JsonLines,
                _ => Format::Csv,
            },
        };
        let mut columns: Option<Vec<usize>> = None;
        let mut trace = Trace {
            path: path.to_path_buf(),
            format,
            names: deployments.iter().map(|s| s.to_string()).collect(),
            regions: gateway_regions.iter().map(|r| normalize(r)).collect(),
            t0: 0.0,
            requests: 0,
            duration: 0.0,
        };
        let mut last = f64::NEG_INFINITY;
        while let Some((n, line)) = reader.next_line().map_err(|e| {
            fail(
                0,
                0,
                "",
                Diagnostic::error("io", format!("cannot read {name}: {e}")),
            )
        })? {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |(message, col): RowError| {
                fail(n, col, &line, Diagnostic::error("invalid-value", message))
            };
            if format == Format::Csv && columns.is_none() {
                columns = Some(header(&line).map_err(bad)?);
                continue;
            }
            let row = match format {
                Format::Csv => csv_row(&line, columns.as_deref().unwrap_or_default()),
                Format::JsonLines => json_row(&line),
            }
            .map_err(bad)?;
            if !trace.names.contains(&row.deployment) {
                let col = line.find(&row.deployment).map_or(1, |i| i + 1);
                let help = match did_you_mean(&row.deployment, deployments.iter().copied()) {
                    Some(s) => format!(
                        "did you mean `{s}`? valid names: {}",
                        deployments.join(", ")
                    ),
                    None => format!("valid names: {}", deployments.join(", ")),
                };
                return Err(fail(
                    n,
                    col,
                    &line,
                    Diagnostic::error(
                        "unknown-name",
                        format!("the topology has no deployment `{}`", row.deployment),
                    )
                    .with_help(help),
                ));
            }
            if let Some((region, col)) = &row.gateway_region {
                if trace.region_index(region).is_none() {
                    return Err(fail(
                        n,
                        *col,
                        &line,
                        Diagnostic::error(
                            "unknown-name",
                            format!("the topology has no gateway in region `{region}`"),
                        )
                        .with_help(format!(
                            "gateway regions: {} (apim.location and apim.additional_locations)",
                            gateway_regions.join(", ")
                        )),
                    ));
                }
            }
            if row.seconds < last {
                return Err(fail(
                    n,
                    1,
                    &line,
                    Diagnostic::error(
                        "invalid-value",
                        "rows are not in time order: this timestamp is earlier than the row before",
                    )
                    .with_help("sort the trace by timestamp (KQL: `| order by TimeGenerated asc`)"),
                ));
            }
            if trace.requests == 0 && row.seconds >= RELATIVE_BELOW {
                trace.t0 = row.seconds;
            }
            last = row.seconds;
            trace.requests += 1;
        }
        if trace.requests == 0 {
            return Err(fail(
                0,
                0,
                "",
                Diagnostic::error("empty-file", format!("the trace {name} has no request")),
            ));
        }
        trace.duration = last - trace.t0;
        Ok(trace)
    }

    /// The index of a gateway region, by any spelling of its name.
    fn region_index(&self, name: &str) -> Option<usize> {
        region::position(&self.regions, name)
    }

    /// A fresh stream of the trace's requests.
    pub fn reader(&self) -> std::io::Result<TraceReader> {
        Ok(TraceReader {
            lines: Lines::new(BufReader::new(File::open(&self.path)?)),
            trace: self.clone(),
            columns: None,
            failed: None,
        })
    }
}

/// Streams the requests of a checked trace.
pub struct TraceReader {
    lines: Lines,
    trace: Trace,
    columns: Option<Vec<usize>>,
    /// Set when the file changed since the scan and a row no longer reads.
    pub failed: Option<String>,
}

impl Iterator for TraceReader {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        loop {
            let (n, line) = match self.lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return None;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let row = match self.trace.format {
                Format::Csv if self.columns.is_none() => {
                    self.columns = header(&line).ok();
                    continue;
                }
                Format::Csv => csv_row(&line, self.columns.as_deref().unwrap_or_default()),
                Format::JsonLines => json_row(&line),
            };
            let route = row
                .as_ref()
                .ok()
                .and_then(|r| self.trace.names.iter().position(|d| *d == r.deployment));
            let region = match row.as_ref().ok().and_then(|r| r.gateway_region.as_ref()) {
                Some((name, _)) => self.trace.region_index(name),
                None => Some(0),
            };
            let (Ok(row), Some(route), Some(region)) = (row, route, region) else {
                self.failed = Some(format!(
                    "{}:{n}: the trace changed while it was replayed",
                    self.trace.path.display()
                ));
                return None;
            };
            let at = ((row.seconds - self.trace.t0) * 1e6).round().max(0.0) as u64;
            return Some(Request {
                at_us: at,
                route: route as u32,
                prompt: row.prompt.max(1),
                max_tokens: row.max_tokens,
                completion: row.completion.unwrap_or(row.max_tokens).min(row.max_tokens),
                // A row that names no gateway: the service's own region.
                region: region as u16,
            });
        }
    }
}

/// Numbered lines of a file, without their line ends.
struct Lines {
    reader: BufReader<File>,
    n: usize,
    buf: String,
}

impl Lines {
    fn new(reader: BufReader<File>) -> Lines {
        Lines {
            reader,
            n: 0,
            buf: String::new(),
        }
    }

    fn peek_first_char(&mut self) -> Option<char> {
        let bytes = self.reader.fill_buf().ok()?;
        bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .map(|b| *b as char)
    }

    fn next_line(&mut self) -> std::io::Result<Option<(usize, String)>> {
        self.buf.clear();
        if self.reader.read_line(&mut self.buf)? == 0 {
            return Ok(None);
        }
        self.n += 1;
        let line = self.buf.trim_end_matches(['\n', '\r']);
        let line = if self.n == 1 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        Ok(Some((self.n, line.to_string())))
    }
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields)
/// into fields with the column each starts at.
fn csv_fields(line: &str) -> Result<Vec<(String, usize)>, RowError> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut field = String::new();
    let mut start = 1;
    let mut quoted = false;
    let mut in_quotes = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek().map(|(_, c)| *c) == Some('"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
            '"' if field.is_empty() && !quoted => {
                quoted = true;
                in_quotes = true;
            }
            ',' if !in_quotes => {
                out.push((std::mem::take(&mut field), start));
                start = i + 2;
                quoted = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(("a quoted field is not closed".into(), start));
    }
    out.push((field, start));
    Ok(out)
}

/// The header row: for each of [`FIELDS`], the index of its column
/// (`usize::MAX` for a missing optional one).
fn header(line: &str) -> Result<Vec<usize>, RowError> {
    let fields = csv_fields(line)?;
    let mut idx = vec![usize::MAX; FIELDS.len()];
    for (i, (name, col)) in fields.iter().enumerate() {
        let key = name.trim().to_ascii_lowercase();
        match FIELDS.iter().position(|f| *f == key) {
            Some(k) => idx[k] = i,
            None => {
                let hint = did_you_mean(&key, FIELDS)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err((
                    format!(
                        "unknown column `{}`{hint}; the columns are {}",
                        name.trim(),
                        FIELDS.join(", ")
                    ),
                    *col,
                ));
            }
        }
    }
    if let Some(k) = idx[..4].iter().position(|i| *i == usize::MAX) {
        return Err((
            format!(
                "the header row lacks the column `{}` (columns: {})",
                FIELDS[k],
                FIELDS.join(", ")
            ),
            1,
        ));
    }
    Ok(idx)
}

fn csv_row(line: &str, columns: &[usize]) -> Result<Row, RowError> {
    let fields = csv_fields(line)?;
    let get = |k: usize| -> Result<Option<(&str, usize)>, RowError> {
        let Some(i) = columns.get(k).copied().filter(|i| *i != usize::MAX) else {
            return Ok(None);
        };
        match fields.get(i) {
            Some((v, col)) => Ok(Some((v.trim(), *col))),
            None => Err((
                format!(
                    "the row has {} fields; `{}` is missing",
                    fields.len(),
                    FIELDS[k]
                ),
                line.len().max(1),
            )),
        }
    };
    let (ts, ts_col) = get(0)?.expect("required column");
    let (dep, _) = get(1)?.expect("required column");
    let tokens = |k: usize| -> Result<Option<u32>, RowError> {
        match get(k)? {
            None => Ok(None),
            Some(("", _)) if k == 4 => Ok(None),
            Some((v, col)) => parse_tokens(v, FIELDS[k]).map(Some).map_err(|m| (m, col)),
        }
    };
    Ok(Row {
        seconds: parse_timestamp(ts).map_err(|m| (m, ts_col))?,
        deployment: dep.to_string(),
        prompt: tokens(2)?.expect("required column"),
        max_tokens: tokens(3)?.expect("required column"),
        completion: tokens(4)?,
        gateway_region: get(5)?
            .filter(|(v, _)| !v.is_empty())
            .map(|(v, col)| (v.to_string(), col)),
    })
}

fn json_row(line: &str) -> Result<Row, RowError> {
    let v: Value =
        serde_json::from_str(line).map_err(|e| (format!("not JSON: {e}"), e.column().max(1)))?;
    let Value::Object(o) = v else {
        return Err(("a row is a JSON object".into(), 1));
    };
    let col = |key: &str| line.find(&format!("\"{key}\"")).map_or(1, |i| i + 1);
    if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let hint = did_you_mean(k, FIELDS)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err((format!("unknown field `{k}`{hint}"), col(k)));
    }
    let field = |k: &str| -> Result<&Value, RowError> {
        o.get(k).ok_or_else(|| (format!("missing field `{k}`"), 1))
    };
    let text = |k: &str, v: &Value| -> Result<String, RowError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err((format!("`{k}` must be a number or text"), col(k))),
        }
    };
    let ts = text("timestamp", field("timestamp")?)?;
    let deployment = match field("deployment")? {
        Value::String(s) => s.clone(),
        _ => return Err(("`deployment` must be text".into(), col("deployment"))),
    };
    let tokens = |k: &str| -> Result<Option<u32>, RowError> {
        match o.get(k) {
            None | Some(Value::Null) if k == "completion_tokens" => Ok(None),
            None => Err((format!("missing field `{k}`"), 1)),
            Some(v) => parse_tokens(&text(k, v)?, k)
                .map(Some)
                .map_err(|m| (m, col(k))),
        }
    };
    let gateway_region = match o.get("gateway_region") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.trim().is_empty() => None,
        Some(Value::String(r)) => Some((r.trim().to_string(), col("gateway_region"))),
        Some(_) => {
            return Err((
                "`gateway_region` must be text".into(),
                col("gateway_region"),
            ))
        }
    };
    Ok(Row {
        seconds: parse_timestamp(&ts).map_err(|m| (m, col("timestamp")))?,
        deployment,
        prompt: tokens("prompt_tokens")?.expect("required"),
        max_tokens: tokens("max_tokens")?.expect("required"),
        completion: tokens("completion_tokens")?,
        gateway_region,
    })
}

fn parse_tokens(v: &str, field: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("`{field}` is `{v}`, not a whole number of tokens"))
}

/// Seconds (a number) or RFC 3339 text, as seconds since the Unix epoch.
fn parse_timestamp(v: &str) -> Result<f64, String> {
    if let Ok(s) = v.parse::<f64>() {
        if s.is_finite() && s >= 0.0 {
            return Ok(s);
        }
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            format!("`timestamp` is `{v}`: expected seconds or RFC 3339 (2026-11-30T10:00:00.123Z)")
        })?;
    Ok(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn csv_and_json_lines_give_the_same_requests() {
        let (_d1, csv) = write(
            "t.csv",
            "timestamp,deployment,prompt_tokens,max_tokens,completion_tokens\n2026-11-30T10:00:00Z,gpt-4o,100,50,\n2026-11-30T10:00:00.5Z,\"gpt-4o\",200,60,30\n",
        );
        let (_d2, jsonl) = write(
            "t.jsonl",
            "{\"timestamp\": 1700000000.0, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 100, \"max_tokens\": 50}\n\n{\"timestamp\": \"1700000000.5\", \"deployment\": \"gpt-4o\", \"prompt_tokens\": 200, \"max_tokens\": 60, \"completion_tokens\": 30}\n",
        );
        let mut all = Vec::new();
        for p in [&csv, &jsonl] {
            let t = Trace::scan(p, &["other", "gpt-4o"], &["eastus"]).unwrap();
            assert_eq!(t.requests, 2);
            assert_eq!(t.duration, 0.5);
            all.push(t.reader().unwrap().collect::<Vec<_>>());
        }
        assert_eq!(all[0], all[1]);
        assert_eq!(
            all[0][1],
            Request {
                at_us: 500_000,
                route: 1,
                prompt: 200,
                max_tokens: 60,
                completion: 30,
                region: 0,
            }
        );
    }

    #[test]
    fn rows_may_name_the_gateway_region() {
        let regions = ["swedencentral", "westeurope"];
        let (_d1, csv) = write(
            "t.csv",
            "timestamp,deployment,prompt_tokens,max_tokens,gateway_region\n0,gpt-4o,1,1,\n1,gpt-4o,1,1,West Europe\n",
        );
        let (_d2, jsonl) = write(
            "t.jsonl",
            "{\"timestamp\": 0, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 1, \"max_tokens\": 1, \"gateway_region\": null}\n{\"timestamp\": 1, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 1, \"max_tokens\": 1, \"gateway_region\": \"westeurope\"}\n",
        );
        for p in [&csv, &jsonl] {
            let t = Trace::scan(p, &["gpt-4o"], &regions).unwrap();
            let got: Vec<u16> = t.reader().unwrap().map(|r| r.region).collect();
            assert_eq!(got, [0, 1], "{}", p.display());
        }
        let (_d, p) = write(
            "t.csv",
            "timestamp,deployment,prompt_tokens,max_tokens,gateway_region\n0,gpt-4o,1,1,eastus\n",
        );
        let e = Trace::scan(&p, &["gpt-4o"], &regions).unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!(
            (d.code, d.line, d.column),
            ("unknown-name", Some(2), Some(14))
        );
        assert!(d
            .help
            .as_deref()
            .unwrap()
            .contains("swedencentral, westeurope"));
    }

    #[test]
    fn errors_name_line_and_column() {
        let (_d, p) = write(
            "t.csv",
            "timestamp,deployment,prompt_tokens,max_tokens\n1,gpt-4o,10,5\n2,gpt-4o,ten,5\n",
        );
        let e = Trace::scan(&p, &["gpt-4o"], &["eastus"]).unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!((d.line, d.column), (Some(3), Some(10)));
        assert!(d.render(&e.source, false).contains("2,gpt-4o,ten,5"));

        let (_d, p) = write("t.csv", "time,deployment,prompt_tokens,max_tokens\n");
        let e = Trace::scan(&p, &["gpt-4o"], &["eastus"]).unwrap_err();
        assert!(e.diagnostics[0]
            .message
            .contains("did you mean `timestamp`"));

        let (_d, p) = write(
            "t.csv",
            "timestamp,deployment,prompt_tokens,max_tokens\n1,gpt4o,1,1\n",
        );
        let e = Trace::scan(&p, &["gpt-4o"], &["eastus"]).unwrap_err();
        assert_eq!(e.diagnostics[0].code, "unknown-name");
        assert_eq!(e.diagnostics[0].column, Some(3));

        let (_d, p) = write("t.jsonl", "{\"timestamp\": 2, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 1, \"max_tokens\": 1}\n{\"timestamp\": 1, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 1, \"max_tokens\": 1}\n");
        let e = Trace::scan(&p, &["gpt-4o"], &["eastus"]).unwrap_err();
        assert_eq!(e.diagnostics[0].line, Some(2));
        assert!(e.diagnostics[0].message.contains("time order"));

        let (_d, p) = write(
            "t.jsonl",
            "{\"timestamp\": 2, \"deployment\": \"gpt-4o\", \"prompt_tokens\": 1}\n",
        );
        let e = Trace::scan(&p, &["gpt-4o"], &["eastus"]).unwrap_err();
        assert!(e.diagnostics[0]
            .message
            .contains("missing field `max_tokens`"));
    }
}
