//! `oailb usage`: tokens and requests per consumer, deployment or backend,
//! from the custom metrics the policies emit (`llm-emit-token-metric`'s
//! Prompt, Completion and Total Tokens, and `Rejected Requests`), with the
//! cost of pay-as-you-go tokens from the topology's `pricing`. This module
//! writes the query (Log Analytics' workspace schema: `AppMetrics`), reads
//! its rows and shapes the report; `commands/usage.rs` runs it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use crate::desired::workbook::{COMPLETION_TOKENS, PROMPT_TOKENS, REJECTED_REQUESTS, TOTAL_TOKENS};
use crate::topology::{MetricDimension, Topology};

/// Version of the JSON document `usage --format json` prints.
pub const SCHEMA_VERSION: u32 = 1;

/// How far back: `7d`, `24h`, `90m`, `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    amount: u32,
    unit: char,
}

impl Since {
    pub fn parse(v: &str) -> Result<Since, String> {
        let v = v.trim();
        let bad = || format!("`{v}` is not a period such as 7d, 24h, 90m or 2w");
        let unit = v.chars().last().ok_or_else(bad)?;
        let amount: u32 = v[..v.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        if !matches!(unit, 'm' | 'h' | 'd' | 'w') || amount == 0 {
            return Err(bad());
        }
        let minutes = u64::from(amount)
            * match unit {
                'm' => 1,
                'h' => 60,
                'd' => 1_440,
                _ => 10_080,
            };
        // Log Analytics keeps at most two years of interactive data.
        if minutes > 2 * 366 * 1_440 {
            return Err(format!("`{v}` is longer than two years"));
        }
        Ok(Since { amount, unit })
    }

    /// KQL `ago()` argument (weeks as days).
    fn kql(&self) -> String {
        match self.unit {
            'w' => format!("{}d", self.amount * 7),
            u => format!("{}{u}", self.amount),
        }
    }

    /// ISO 8601 duration for the query API's `timespan`.
    pub fn iso(&self) -> String {
        match self.unit {
            'm' => format!("PT{}M", self.amount),
            'h' => format!("PT{}H", self.amount),
            'd' => format!("P{}D", self.amount),
            _ => format!("P{}D", self.amount * 7),
        }
    }
}

impl std::fmt::Display for Since {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Consumer,
    Deployment,
    Backend,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Consumer => "consumer",
            By::Deployment => "deployment",
            By::Backend => "backend",
        }
    }

    fn dimension(self) -> MetricDimension {
        match self {
            By::Consumer => MetricDimension::Consumer,
            By::Deployment => MetricDimension::Deployment,
            By::Backend => MetricDimension::Backend,
        }
    }
}

/// The query: one row per consumer, deployment and backend, summed over
/// `since`, for the Application Insights component `insights_id` only (a
/// workspace may serve several). Every dimension is read even when the token
/// metrics do not carry it: `Rejected Requests` always has `consumer` and
/// `deployment`, and a missing property reads as empty.
pub fn query(insights_id: &str, since: Since) -> String {
    let column = |d: MetricDimension| format!("tostring(Properties[\"{}\"])", d.as_str());
    let mut q = String::new();
    let _ = writeln!(q, "AppMetrics");
    let _ = writeln!(q, "| where TimeGenerated > ago({})", since.kql());
    let _ = writeln!(
        q,
        "| where _ResourceId =~ \"{}\"",
        insights_id.to_ascii_lowercase()
    );
    let _ = writeln!(
        q,
        "| where Name in (\"{PROMPT_TOKENS}\", \"{COMPLETION_TOKENS}\", \"{TOTAL_TOKENS}\", \"{REJECTED_REQUESTS}\")"
    );
    let _ = writeln!(
        q,
        "| extend consumer = {}, deployment = {}, backend = {}",
        column(MetricDimension::Consumer),
        column(MetricDimension::Deployment),
        column(MetricDimension::Backend)
    );
    let _ = writeln!(
        q,
        "| summarize prompt_tokens = sumif(Sum, Name == \"{PROMPT_TOKENS}\"), completion_tokens = sumif(Sum, Name == \"{COMPLETION_TOKENS}\"), total_tokens = sumif(Sum, Name == \"{TOTAL_TOKENS}\"), requests = sumif(ItemCount, Name == \"{TOTAL_TOKENS}\"), rejected = sumif(Sum, Name == \"{REJECTED_REQUESTS}\") by consumer, deployment, backend"
    );
    let _ = write!(q, "| order by consumer asc, deployment asc, backend asc");
    q
}

/// One row of the query's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub consumer: String,
    pub deployment: String,
    pub backend: String,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub total_tokens: f64,
    pub requests: f64,
    pub rejected: f64,
}

/// The query's rows; a row without the expected columns is an error.
pub fn rows(table: &[BTreeMap<String, Value>]) -> anyhow::Result<Vec<Row>> {
    table
        .iter()
        .map(|r| {
            let text = |k: &str| -> anyhow::Result<String> {
                r.get(k)
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .ok_or_else(|| anyhow::anyhow!("the answer has no column `{k}`"))
            };
            let num = |k: &str| -> anyhow::Result<f64> {
                r.get(k)
                    .map(|v| v.as_f64().unwrap_or(0.0))
                    .ok_or_else(|| anyhow::anyhow!("the answer has no column `{k}`"))
            };
            Ok(Row {
                consumer: text("consumer")?,
                deployment: text("deployment")?,
                backend: text("backend")?,
                prompt_tokens: num("prompt_tokens")?,
                completion_tokens: num("completion_tokens")?,
                total_tokens: num("total_tokens")?,
                requests: num("requests")?,
                rejected: num("rejected")?,
            })
        })
        .collect()
}

/// One line of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Line {
    pub key: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub rejected: u64,
    /// Pay-as-you-go cost; null without prices for some of its tokens.
    pub cost: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub since: String,
    pub by: By,
    pub currency: Option<String>,
    pub price_source: Option<String>,
    pub lines: Vec<Line>,
    pub total: Line,
    pub notes: Vec<String>,
}

/// Per-token prices of a (deployment, backend): (input, output) per
/// million, `None` when not priced; `Some((0, 0))`-free for provisioned
/// deployments, which are paid per PTU and hour.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Price {
    PerToken(f64, f64),
    Provisioned,
    Unknown,
}

/// The price of `deployment` on `backend`. When the metrics do not name a
/// backend of the topology (pool mode names the pool, `pool:<deployment>`,
/// since APIM picks the member; or `backend` is not among the dimensions),
/// the deployment's price where every backend that serves it costs the same.
fn price(t: &Topology, deployment: &str, backend: &str) -> Price {
    let Some(p) = &t.pricing else {
        return Price::Unknown;
    };
    let on = |b: &crate::topology::Backend| -> Option<Price> {
        let s = b
            .served(t)
            .into_iter()
            .find(|s| s.model.name == deployment)?;
        if s.sku.is_provisioned() {
            return Some(Price::Provisioned);
        }
        Some(match p.price(&s.model.name, s.sku) {
            Some(x) => match (x.input_per_million_tokens, x.output_per_million_tokens) {
                (Some(i), Some(o)) => Price::PerToken(i, o),
                _ => Price::Unknown,
            },
            None => Price::Unknown,
        })
    };
    if let Some((_, b)) = t.backends().find(|(_, b)| b.name == backend) {
        return on(b).unwrap_or(Price::Unknown);
    }
    let mut prices = t.backends().filter_map(|(_, b)| on(b));
    match prices.next() {
        Some(first) if prices.all(|x| x == first) => first,
        _ => Price::Unknown,
    }
}

/// Sums `rows` by `by`, with costs where the topology prices every token.
pub fn report(t: &Topology, rows: &[Row], by: By, since: Since) -> Report {
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    let mut unpriced = false;
    let mut provisioned = false;
    let priced = t.pricing.is_some();
    for r in rows {
        let key = match by {
            By::Consumer => &r.consumer,
            By::Deployment => &r.deployment,
            By::Backend => &r.backend,
        };
        let line = lines.entry(key.clone()).or_insert_with(|| Line {
            key: key.clone(),
            cost: priced.then_some(0.0),
            ..Line::default()
        });
        line.requests += r.requests.round() as u64;
        line.prompt_tokens += r.prompt_tokens.round() as u64;
        line.completion_tokens += r.completion_tokens.round() as u64;
        line.total_tokens += r.total_tokens.round() as u64;
        line.rejected += r.rejected.round() as u64;
        if !priced || r.total_tokens == 0.0 {
            continue;
        }
        match price(t, &r.deployment, &r.backend) {
            Price::PerToken(i, o) => {
                if let Some(c) = &mut line.cost {
                    *c += (r.prompt_tokens * i + r.completion_tokens * o) / 1_000_000.0;
                }
            }
            Price::Provisioned => provisioned = true,
            Price::Unknown => {
                unpriced = true;
                line.cost = None;
            }
        }
    }
    let lines: Vec<Line> = lines.into_values().collect();
    let mut total = Line {
        key: "total".into(),
        cost: priced.then_some(0.0),
        ..Line::default()
    };
    for l in &lines {
        total.requests += l.requests;
        total.prompt_tokens += l.prompt_tokens;
        total.completion_tokens += l.completion_tokens;
        total.total_tokens += l.total_tokens;
        total.rejected += l.rejected;
        total.cost = match (total.cost, l.cost) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    let mut notes = Vec::new();
    if !t.metric_dimensions().contains(&by.dimension()) {
        notes.push(format!(
            "the token metrics have no `{}` dimension (monitoring.token_metrics.dimensions): every line is empty",
            by.as_str()
        ));
    }
    if !priced {
        notes.push("no cost: the topology has no `pricing` section".into());
    }
    if unpriced {
        notes.push("cost missing where `pricing` has no per-token price for a deployment's model and SKU (or the metrics lack the deployment or backend)".into());
    }
    if provisioned {
        notes.push(
            "provisioned deployments are paid per PTU and hour, not per token: their tokens add no cost here"
                .into(),
        );
    }
    if lines.is_empty() {
        notes.push(format!("no token metrics in the last {since}"));
    }
    Report {
        schema_version: SCHEMA_VERSION,
        since: since.to_string(),
        by,
        currency: t.pricing.as_ref().map(|p| p.currency.clone()),
        price_source: t.pricing.as_ref().and_then(|p| p.source.clone()),
        lines,
        total,
        notes,
    }
}

fn key_label(k: &str) -> &str {
    if k.is_empty() {
        "(none)"
    } else {
        k
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cost_text(c: Option<f64>) -> String {
    c.map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into())
}

impl Report {
    fn header(&self) -> Vec<String> {
        let mut h = vec![
            self.by.as_str().to_string(),
            "requests".into(),
            "prompt tokens".into(),
            "completion tokens".into(),
            "total tokens".into(),
            "rejected".into(),
        ];
        if let Some(c) = &self.currency {
            h.push(format!("cost ({c})"));
        }
        h
    }

    fn cells(&self, l: &Line) -> Vec<String> {
        let mut v = vec![
            key_label(&l.key).to_string(),
            grouped(l.requests),
            grouped(l.prompt_tokens),
            grouped(l.completion_tokens),
            grouped(l.total_tokens),
            grouped(l.rejected),
        ];
        if self.currency.is_some() {
            v.push(cost_text(l.cost));
        }
        v
    }

    /// An aligned table: names left, figures right.
    pub fn table(&self) -> String {
        let mut rows = vec![self.header()];
        rows.extend(self.lines.iter().map(|l| self.cells(l)));
        rows.push(self.cells(&self.total));
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "Usage in the last {}, by {}\n\n",
            self.since,
            self.by.as_str()
        );
        for (n, r) in rows.iter().enumerate() {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect();
            if n == rows.len() - 1 {
                out.push_str(&format!(
                    "{}\n",
                    "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
                ));
            }
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        let notes = self.footnotes();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&n);
                out.push('\n');
            }
        }
        out
    }

    /// The price source and the notes, one line each.
    fn footnotes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .price_source
            .iter()
            .map(|s| format!("Prices: {s}"))
            .collect();
        v.extend(self.notes.iter().map(|n| format!("Note: {n}")));
        v
    }

    pub fn markdown(&self) -> String {
        let h = self.header();
        let mut out = format!(
            "### Usage in the last {}, by {}\n\n",
            self.since,
            self.by.as_str()
        );
        out.push_str(&format!("| {} |\n", h.join(" | ")));
        let align: Vec<&str> = (0..h.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        out.push_str(&format!("| {} |\n", align.join(" | ")));
        for l in &self.lines {
            let cells: Vec<String> = self
                .cells(l)
                .iter()
                .map(|c| c.replace('|', "\\|"))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        let mut total = self.cells(&self.total);
        total[0] = "**total**".into();
        out.push_str(&format!("| {} |\n", total.join(" | ")));
        let notes = self.footnotes();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut out = format!(
            "{},requests,prompt_tokens,completion_tokens,total_tokens,rejected,cost\n",
            self.by.as_str()
        );
        for l in self.lines.iter().chain(std::iter::once(&self.total)) {
            let key = if l.key.contains([',', '"', '\n']) {
                format!("\"{}\"", l.key.replace('"', "\"\""))
            } else {
                l.key.clone()
            };
            out.push_str(&format!(
                "{key},{},{},{},{},{},{}\n",
                l.requests,
                l.prompt_tokens,
                l.completion_tokens,
                l.total_tokens,
                l.rejected,
                l.cost.map(|c| format!("{c:.6}")).unwrap_or_default()
            ));
        }
        out
    }

    pub fn json(&self) -> Value {
        json!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let s = Since::parse("7d").unwrap();
        assert_eq!((s.kql(), s.iso()), ("7d".to_string(), "P7D".to_string()));
        let w = Since::parse("2w").unwrap();
        assert_eq!((w.kql(), w.iso()), ("14d".to_string(), "P14D".to_string()));
        assert_eq!(Since::parse("90m").unwrap().iso(), "PT90M");
        assert_eq!(Since::parse("24h").unwrap().iso(), "PT24H");
        for bad in ["", "7", "d", "0d", "7y", "-1d", "1000w"] {
            assert!(Since::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    fn teams(edit: impl Fn(&str) -> String) -> Topology {
        let text = edit(include_str!("../../examples/teams.yaml"));
        crate::topology::load(crate::topology::Source::new("teams.yaml", &text))
            .unwrap()
            .topology
    }

    /// Pool mode names the pool, not the member: the deployment's price
    /// when all its backends cost the same, unknown when they differ.
    #[test]
    fn an_unnamed_backend_takes_the_deployments_price_when_it_is_one() {
        let t = teams(str::to_string);
        let named = price(&t, "gpt-5-mini", "sweden");
        assert!(matches!(named, Price::PerToken(_, _)), "{named:?}");
        assert_eq!(price(&t, "gpt-5-mini", "pool:gpt-5-mini"), named);
        assert_eq!(price(&t, "gpt-5-mini", ""), named);
        assert_eq!(price(&t, "nothing", "pool:nothing"), Price::Unknown);
        // One backend serves it provisioned: the pool's tokens have no one price.
        let mixed = teams(|s| {
            s.replacen(
                "      - name: useast\n        region: eastus2\n",
                "      - name: useast\n        region: eastus2\n        models: [{name: gpt-5-mini, sku: GlobalProvisionedManaged, capacity: 15}]\n",
                1,
            )
        });
        assert!(matches!(
            price(&mixed, "gpt-5-mini", "sweden"),
            Price::PerToken(_, _)
        ));
        assert_eq!(price(&mixed, "gpt-5-mini", "useast"), Price::Provisioned);
        assert_eq!(
            price(&mixed, "gpt-5-mini", "pool:gpt-5-mini"),
            Price::Unknown
        );
    }
}
