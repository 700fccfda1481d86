//! The workload file (`--workload`): what clients send, per deployment, and
//! what the backends do besides admitting by quota (latency, faults). Read
//! with the topology's loader, so every error names the file, line and
//! column; README "Workload reference" and docs/schemas/workload.v1.json
//! document the same fields.

// A diagnostic ends the parse, so returning it by value costs nothing that matters.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::topology::diagnostic::did_you_mean;
use crate::topology::source::{self, child_index, child_key, Locations};
use crate::topology::{Diagnostic, Source};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Seed of every random draw; `--seed` overrides it.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Load per client-facing deployment name (the topology's `models[].name`).
    #[serde(default)]
    pub deployments: BTreeMap<String, Load>,
    /// Instead of `deployments`: a trace to replay (path relative to the
    /// workload file), with this file's latency and faults.
    #[serde(default)]
    pub trace: Option<String>,
    /// With `trace`: the span simulated, when the load went on after the
    /// last request (utilisation and cost are per span); default up to the
    /// last request.
    #[serde(default)]
    pub duration: Option<Seconds>,
    /// Backend latency, for every backend that does not set its own.
    #[serde(default)]
    pub latency: Latency,
    /// Window over which the backends enforce their quota, in seconds
    /// (Azure: 1 or 10); default the topology's `quota_window_seconds`.
    #[serde(default)]
    pub quota_window_seconds: Option<u32>,
    /// Faults and latency per backend (topology backend name).
    #[serde(default)]
    pub backends: BTreeMap<String, BackendFaults>,
    /// Outages of every backend in a region.
    #[serde(default)]
    pub regions: BTreeMap<String, RegionFaults>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub phases: Vec<Phase>,
    pub prompt_tokens: Dist,
    pub max_tokens: Dist,
    /// Tokens actually generated (at most `max_tokens`); default `max_tokens`.
    #[serde(default)]
    pub completion_tokens: Option<Dist>,
    #[serde(default)]
    pub bursts: Vec<Burst>,
    /// Share of the arrivals each gateway region takes (APIM regions:
    /// `apim.location` and `additional_locations`); default every request
    /// at `apim.location`.
    #[serde(default)]
    pub gateway_regions: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub duration: Seconds,
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// Demand in tokens (prompt + max_tokens) per minute; turned into
    /// requests per second with the mean request size.
    #[serde(default)]
    pub tokens_per_minute: Option<f64>,
    #[serde(default)]
    pub arrivals: Arrivals,
    /// 24 multipliers of the rate, one per hour of the simulated day.
    #[serde(default)]
    pub daily_curve: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential gaps (independent clients), as lbbench's load generator.
    #[default]
    Poisson,
    /// Evenly spaced.
    Constant,
}

/// The rate multiplied by `multiplier` from `start` (seconds after the
/// workload starts) for `duration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub start: Seconds,
    pub duration: Seconds,
    pub multiplier: f64,
}

/// Latency of an answer, as lbbench's mock: `base_ms + per_token_ms ×
/// completion tokens`, at most `max_ms`; 429s after `rejection_ms`, injected
/// errors after `error_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    #[serde(default = "default_base_ms")]
    pub base_ms: f64,
    #[serde(default = "default_per_token_ms")]
    pub per_token_ms: f64,
    #[serde(default = "default_max_ms")]
    pub max_ms: f64,
    #[serde(default = "default_rejection_ms")]
    pub rejection_ms: f64,
    #[serde(default = "default_error_ms")]
    pub error_ms: f64,
}

impl Latency {
    /// µs a backend takes to serve a request that generates `completion`
    /// tokens: the backend model's answer time, and the ideal bound's.
    pub fn served_us(&self, completion: u32) -> u64 {
        super::backend::ms_to_us(
            (self.base_ms + self.per_token_ms * f64::from(completion)).min(self.max_ms),
        )
    }
}

fn default_base_ms() -> f64 {
    50.0
}
fn default_per_token_ms() -> f64 {
    1.25
}
fn default_max_ms() -> f64 {
    300.0
}
fn default_rejection_ms() -> f64 {
    1.0
}
fn default_error_ms() -> f64 {
    20.0
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            base_ms: default_base_ms(),
            per_token_ms: default_per_token_ms(),
            max_ms: default_max_ms(),
            rejection_ms: default_rejection_ms(),
            error_ms: default_error_ms(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendFaults {
    /// Share of admitted requests answered with `error_status` (consumes nothing).
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub outages: Vec<Outage>,
}

fn default_error_status() -> u16 {
    500
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFaults {
    #[serde(default)]
    pub outages: Vec<Outage>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub start: Seconds,
    pub end: Seconds,
    #[serde(default)]
    pub kind: OutageKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OutageKind {
    /// Connections refused; requests in flight get no answer.
    #[default]
    #[serde(rename = "refuse")]
    Refuse,
    /// Every request answers 503 at once.
    #[serde(rename = "503")]
    Unavailable,
}

/// A span of time: a number of seconds or a duration such as `90s`, `10m`,
/// `1h30m`, `250ms`; held in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn micros(self) -> u64 {
        self.0
    }
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("seconds (a number) or a duration such as \"90s\", \"10m\", \"1h30m\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                if !(v.is_finite() && (0.0..=1e9).contains(&v)) {
                    return Err(E::custom(format!(
                        "{v} is not a number of seconds between 0 and 1e9"
                    )));
                }
                Ok(Seconds((v * 1e6).round() as u64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                let ms = crate::balancer::parse_duration_ms(v.trim()).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not a duration (e.g. 90s, 10m, 1h30m, 250ms)"
                    ))
                })?;
                self.visit_f64(ms / 1000.0)
            }
        }
        d.deserialize_any(V)
    }
}

/// A distribution of token counts: a bare number (fixed), `{min, max}`
/// (uniform), `{choices, weights}` (weighted choices) or `{median, sigma}`
/// (lognormal, optionally bounded by `min`/`max`).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    Fixed(u32),
    Uniform {
        min: u32,
        max: u32,
    },
    Choices {
        values: Vec<u32>,
        /// Cumulative weights, same length as `values`.
        cumulative: Vec<f64>,
    },
    Lognormal {
        median: f64,
        /// `median.ln()`, taken once instead of per draw.
        ln_median: f64,
        sigma: f64,
        min: u32,
        max: u32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistMap {
    #[serde(default)]
    min: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
    #[serde(default)]
    choices: Option<Vec<u32>>,
    #[serde(default)]
    weights: Option<Vec<f64>>,
    #[serde(default)]
    median: Option<f64>,
    #[serde(default)]
    sigma: Option<f64>,
}

impl DistMap {
    fn resolve(self) -> Result<Dist, String> {
        if let Some(values) = self.choices {
            if self.median.is_some() || self.sigma.is_some() || self.min.is_some() {
                return Err("`choices` takes only `weights` beside it".into());
            }
            if values.is_empty() {
                return Err("`choices` needs at least one value".into());
            }
            let weights = self.weights.unwrap_or_else(|| vec![1.0; values.len()]);
            if weights.len() != values.len() {
                return Err(format!(
                    "`weights` has {} entries, `choices` {}",
                    weights.len(),
                    values.len()
                ));
            }
            if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err("`weights` must be numbers that are not negative".into());
            }
            let mut sum = 0.0;
            let cumulative: Vec<f64> = weights
                .iter()
                .map(|w| {
                    sum += w;
                    sum
                })
                .collect();
            if sum <= 0.0 {
                return Err("`weights` must not all be 0".into());
            }
            return Ok(Dist::Choices { values, cumulative });
        }
        if self.weights.is_some() {
            return Err("`weights` needs `choices`".into());
        }
        if let (Some(median), Some(sigma)) = (self.median, self.sigma) {
            if !(median.is_finite() && median >= 1.0 && sigma.is_finite() && sigma >= 0.0) {
                return Err("`median` must be at least 1 and `sigma` not negative".into());
            }
            let (min, max) = (self.min.unwrap_or(1), self.max.unwrap_or(1_000_000));
            if min > max {
                return Err(format!("`min` ({min}) is larger than `max` ({max})"));
            }
            return Ok(Dist::Lognormal {
                median,
                ln_median: median.ln(),
                sigma,
                min,
                max,
            });
        }
        if self.median.is_some() || self.sigma.is_some() {
            return Err("a lognormal distribution needs both `median` and `sigma`".into());
        }
        match (self.min, self.max) {
            (Some(min), Some(max)) if min <= max => Ok(Dist::Uniform { min, max }),
            (Some(min), Some(max)) => Err(format!("`min` ({min}) is larger than `max` ({max})")),
            _ => Err("expected a number, {min, max}, {choices, weights} or {median, sigma}".into()),
        }
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dist;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count, {min, max}, {choices, weights} or {median, sigma}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist, E> {
                u32::try_from(v)
                    .map(Dist::Fixed)
                    .map_err(|_| E::custom(format!("{v} tokens is too many")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dist, A::Error> {
                DistMap::deserialize(de::value::MapAccessDeserializer::new(map))?
                    .resolve()
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Dist {
    /// The mean (lognormal: of the unbounded distribution).
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Fixed(v) => f64::from(*v),
            Dist::Uniform { min, max } => (f64::from(*min) + f64::from(*max)) / 2.0,
            Dist::Choices { values, cumulative } => {
                let total = cumulative.last().copied().unwrap_or(1.0);
                let mut prev = 0.0;
                values
                    .iter()
                    .zip(cumulative)
                    .map(|(v, c)| {
                        let w = c - prev;
                        prev = *c;
                        f64::from(*v) * w
                    })
                    .sum::<f64>()
                    / total
            }
            Dist::Lognormal { median, sigma, .. } => median * (sigma * sigma / 2.0).exp(),
        }
    }

    /// Inlined at each call site: a request draws its sizes from three
    /// distributions of different kinds, and one shared dispatch jumped to
    /// a different kind each time (an indirect branch mispredicted on
    /// nearly every draw), where each site's own always goes the same way.
    #[inline(always)]
    pub fn draw(&self, rng: &mut super::random::Rng) -> u32 {
        match self {
            Dist::Fixed(v) => *v,
            Dist::Uniform { min, max } => rng.range(u64::from(*min), u64::from(*max)) as u32,
            Dist::Choices { values, cumulative } => values[rng.weighted(cumulative)],
            Dist::Lognormal {
                ln_median,
                sigma,
                min,
                max,
                ..
            } => {
                // v is positive (or +inf), so truncating through i64 is its
                // floor (saturating, which the clamp then caps) without
                // floor's library call on CPUs before SSE4.1.
                let v = (ln_median + sigma * rng.normal()).exp() + 0.5;
                ((v as i64 as f64).clamp(f64::from(*min), f64::from(*max))) as u32
            }
        }
    }
}

/// Names a workload may refer to, from the topology.
pub struct Names<'a> {
    pub deployments: Vec<&'a str>,
    pub backends: Vec<&'a str>,
    /// Regions of backends (`regions:` outages).
    pub regions: Vec<&'a str>,
    /// Regions with a gateway (`gateway_regions:` demand).
    pub gateway_regions: Vec<&'a str>,
}

/// A workload file that parsed and passed its checks.
#[derive(Debug, Clone)]
pub struct LoadedWorkload {
    pub source: Source,
    pub workload: Workload,
}

/// A workload file that could not be used, with every finding.
#[derive(Debug, Clone)]
pub struct InvalidFile {
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn load_file(path: &Path, names: &Names) -> Result<LoadedWorkload, Box<InvalidFile>> {
    let source = Source::read_file(path).map_err(|d| {
        Box::new(InvalidFile {
            source: Source::new(path.display().to_string(), ""),
            diagnostics: vec![d],
        })
    })?;
    load(source, names)
}

pub fn load(source: Source, names: &Names) -> Result<LoadedWorkload, Box<InvalidFile>> {
    let fail = |source: Source, mut diagnostics: Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(Box::new(InvalidFile {
            source,
            diagnostics,
        }))
    };
    let (value, locations) = match source::load(source.text()) {
        Ok(v) => v,
        Err(mut d) => {
            if d.code == "empty-file" {
                d.message = "the workload file is empty".into();
                d.help = Some("README \"Workload reference\" has an example".into());
            }
            return fail(source, vec![d]);
        }
    };
    if !value.is_object() {
        let mut d = Diagnostic::error(
            "not-a-mapping",
            "the workload must be a mapping of fields (deployments, latency, backends, ...)",
        );
        if let Some(loc) = locations.value(".") {
            d = d.at(loc);
        }
        return fail(source, vec![d]);
    }
    let workload: Workload = match serde_path_to_error::deserialize(value) {
        Ok(w) => w,
        Err(e) => {
            let path = e.path().to_string();
            let d =
                crate::topology::serde_diagnostic(&path, &e.into_inner().to_string(), &locations);
            return fail(source, vec![d]);
        }
    };
    let diagnostics = check(&workload, &locations, names);
    if !diagnostics.is_empty() {
        return fail(source, diagnostics);
    }
    Ok(LoadedWorkload { source, workload })
}

/// The checks serde cannot make: ranges, names the topology knows.
fn check(w: &Workload, loc: &Locations, names: &Names) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut bad = |path: String, message: String| {
        let mut d = Diagnostic::error("invalid-value", message).at_path(&path);
        if let Some(l) = loc.value(&path) {
            d = d.at(l);
        }
        out.push(d);
    };
    match (&w.trace, w.deployments.is_empty()) {
        (Some(_), false) => bad(
            "trace".into(),
            "give either `deployments` or `trace`, not both".into(),
        ),
        (None, true) => bad(
            "deployments".into(),
            "no deployment has any load (give `deployments` or `trace`)".into(),
        ),
        _ => {}
    }
    if w.duration.is_some() && w.trace.is_none() {
        bad(
            "duration".into(),
            "`duration` goes with `trace` (phases give a workload's span)".into(),
        );
    }
    if let Some(0) = w.quota_window_seconds {
        bad(
            "quota_window_seconds".into(),
            "the quota window is at least 1 second".into(),
        );
    }
    check_latency(&w.latency, "latency", &mut bad);
    for (name, load) in &w.deployments {
        let base = child_key("deployments", name);
        if load.phases.is_empty() {
            bad(
                child_key(&base, "phases"),
                "a deployment needs at least one phase".into(),
            );
        }
        for (i, p) in load.phases.iter().enumerate() {
            let path = child_index(&child_key(&base, "phases"), i);
            if p.duration.0 == 0 {
                bad(
                    child_key(&path, "duration"),
                    "a phase lasts longer than 0 s".into(),
                );
            }
            match (p.requests_per_second, p.tokens_per_minute) {
                (Some(_), Some(_)) => bad(
                    path.clone(),
                    "give either `requests_per_second` or `tokens_per_minute`, not both".into(),
                ),
                (None, None) => bad(
                    path.clone(),
                    "a phase needs `requests_per_second` or `tokens_per_minute`".into(),
                ),
                (Some(r), None) if !(r.is_finite() && (0.0..=1e6).contains(&r)) => bad(
                    child_key(&path, "requests_per_second"),
                    format!("{r} is not a rate between 0 and 1,000,000 per second"),
                ),
                (None, Some(t)) if !(t.is_finite() && (0.0..=1e12).contains(&t)) => bad(
                    child_key(&path, "tokens_per_minute"),
                    format!("{t} is not a rate between 0 and 1e12 tokens per minute"),
                ),
                _ => {}
            }
            if let Some(curve) = &p.daily_curve {
                let cpath = child_key(&path, "daily_curve");
                if curve.len() != 24 {
                    bad(
                        cpath,
                        format!(
                            "a daily curve has 24 hourly multipliers, not {}",
                            curve.len()
                        ),
                    );
                } else if curve
                    .iter()
                    .any(|m| !(m.is_finite() && (0.0..=1000.0).contains(m)))
                {
                    bad(cpath, "multipliers are between 0 and 1000".into());
                }
            }
        }
        if let Some(shares) = &load.gateway_regions {
            let path = child_key(&base, "gateway_regions");
            if shares.is_empty() {
                bad(
                    path.clone(),
                    "name at least one gateway region, or leave `gateway_regions` out".into(),
                );
            }
            for (region, share) in shares {
                if !(share.is_finite() && *share > 0.0 && *share <= 1e6) {
                    bad(
                        child_key(&path, region),
                        format!("{share} is not a positive share"),
                    );
                }
            }
        }
        for (i, b) in load.bursts.iter().enumerate() {
            let path = child_index(&child_key(&base, "bursts"), i);
            if !(b.multiplier.is_finite() && (0.0..=1000.0).contains(&b.multiplier)) {
                bad(
                    child_key(&path, "multiplier"),
                    format!("{} is not a multiplier between 0 and 1000", b.multiplier),
                );
            }
        }
    }
    for (name, f) in &w.backends {
        let base = child_key("backends", name);
        if !(f.error_rate.is_finite() && (0.0..=1.0).contains(&f.error_rate)) {
            bad(
                child_key(&base, "error_rate"),
                format!("{} is not a share between 0 and 1", f.error_rate),
            );
        }
        if !(500..=599).contains(&f.error_status) {
            bad(
                child_key(&base, "error_status"),
                format!("{} is not a 5xx status", f.error_status),
            );
        }
        if let Some(l) = &f.latency {
            check_latency(l, &child_key(&base, "latency"), &mut bad);
        }
        check_outages(&f.outages, &child_key(&base, "outages"), &mut bad);
    }
    for (name, f) in &w.regions {
        check_outages(
            &f.outages,
            &child_key(&child_key("regions", name), "outages"),
            &mut bad,
        );
    }
    let mut unknown = |section: &str, name: &str, valid: &[&str], what: &str| {
        let path = child_key(section, name);
        let mut d = Diagnostic::error(
            "unknown-name",
            format!("the topology has no {what} `{name}`"),
        )
        .at_path(&path);
        if let Some(l) = loc.key(&path) {
            d = d.at(l);
        }
        let help = match did_you_mean(name, valid.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? valid names: {}", valid.join(", ")),
            None if valid.is_empty() => format!("the topology names no {what}"),
            None => format!("valid names: {}", valid.join(", ")),
        };
        out.push(d.with_help(help));
    };
    for name in w.deployments.keys() {
        if !names.deployments.contains(&name.as_str()) {
            unknown("deployments", name, &names.deployments, "deployment");
        }
    }
    for name in w.backends.keys() {
        if !names.backends.contains(&name.as_str()) {
            unknown("backends", name, &names.backends, "backend");
        }
    }
    for name in w.regions.keys() {
        if !names.regions.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            unknown("regions", name, &names.regions, "backend in region");
        }
    }
    for (deployment, load) in &w.deployments {
        let section = child_key(&child_key("deployments", deployment), "gateway_regions");
        for name in load.gateway_regions.iter().flat_map(|g| g.keys()) {
            if !names
                .gateway_regions
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                unknown(&section, name, &names.gateway_regions, "gateway in region");
            }
        }
    }
    out
}

fn check_latency(l: &Latency, path: &str, bad: &mut impl FnMut(String, String)) {
    for (field, v) in [
        ("base_ms", l.base_ms),
        ("per_token_ms", l.per_token_ms),
        ("max_ms", l.max_ms),
        ("rejection_ms", l.rejection_ms),
        ("error_ms", l.error_ms),
    ] {
        if !(v.is_finite() && (0.0..=600_000.0).contains(&v)) {
            bad(
                child_key(path, field),
                format!("{v} is not a latency between 0 and 600,000 ms"),
            );
        }
    }
}

fn check_outages(outages: &[Outage], path: &str, bad: &mut impl FnMut(String, String)) {
    for (i, o) in outages.iter().enumerate() {
        if o.end <= o.start {
            bad(
                child_key(&child_index(path, i), "end"),
                "an outage ends after it starts".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            deployments: vec!["gpt-4o", "gpt-4o-mini"],
            backends: vec!["eastus", "westus"],
            regions: vec!["eastus"],
            gateway_regions: vec!["eastus", "westus"],
        }
    }

    fn parse(text: &str) -> Result<LoadedWorkload, Box<InvalidFile>> {
        load(Source::new("w.yaml", text), &names())
    }

    #[test]
    fn a_full_workload_parses() {
        let w = parse(
            "seed: 3\ndeployments:\n  gpt-4o:\n    phases:\n      - {duration: 10m, requests_per_second: 5}\n      - {duration: 90, tokens_per_minute: 60000, arrivals: constant, daily_curve: [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,2]}\n    prompt_tokens: {median: 400, sigma: 1.2, max: 8000}\n    max_tokens: {choices: [50, 100], weights: [1, 3]}\n    completion_tokens: {min: 10, max: 100}\n    bursts: [{start: 1m, duration: 30s, multiplier: 3}]\nbackends:\n  eastus: {error_rate: 0.2, outages: [{start: 5, end: 9, kind: \"503\"}]}\nregions:\n  eastus: {outages: [{start: 1h, end: 2h}]}\n",
        )
        .unwrap()
        .workload;
        let l = &w.deployments["gpt-4o"];
        assert_eq!(l.phases[0].duration, Seconds(600_000_000));
        assert_eq!(l.phases[1].arrivals, Arrivals::Constant);
        assert_eq!(l.max_tokens.mean(), 87.5);
        assert_eq!(
            w.backends["eastus"].outages[0].kind,
            OutageKind::Unavailable
        );
        assert_eq!(w.regions["eastus"].outages[0].kind, OutageKind::Refuse);
        assert_eq!(w.latency, Latency::default());
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse("deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: {min: 9, max: 3}\n    max_tokens: 5\n").unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!((d.line, d.column), (Some(4), Some(20)));
        assert!(d.message.contains("larger than"), "{}", d.message);

        let e = parse("deployments:\n  gpt-4:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n").unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!(d.code, "unknown-name");
        assert_eq!((d.line, d.column), (Some(2), Some(3)));
        assert!(d.help.as_deref().unwrap().contains("gpt-4o, gpt-4o-mini"));

        let e = parse("deployments:\n  gpt-4o:\n    phases: [{duration: 10, rps: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n").unwrap_err();
        assert_eq!(e.diagnostics[0].code, "unknown-field");
        assert_eq!(e.diagnostics[0].line, Some(3));

        let e = parse("deployments:\n  gpt-4o:\n    phases: [{duration: soon, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n").unwrap_err();
        assert_eq!(e.diagnostics[0].line, Some(3));
        assert!(e.diagnostics[0].message.contains("not a duration"));

        let e = parse("").unwrap_err();
        assert_eq!(e.diagnostics[0].message, "the workload file is empty");
    }

    #[test]
    fn semantic_checks_name_the_field() {
        let e = parse("deployments:\n  gpt-4o:\n    phases:\n      - {duration: 10}\n    prompt_tokens: 1\n    max_tokens: 5\nbackends:\n  eastus: {error_rate: 2}\n").unwrap_err();
        let paths: Vec<_> = e
            .diagnostics
            .iter()
            .map(|d| d.path.clone().unwrap())
            .collect();
        assert_eq!(
            paths,
            ["deployments.gpt-4o.phases[0]", "backends.eastus.error_rate"]
        );
        assert_eq!(e.diagnostics[1].line, Some(8));
    }

    #[test]
    fn gateway_regions_are_the_topologys_with_positive_shares() {
        let base = "deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n";
        let w = parse(&format!(
            "{base}    gateway_regions: {{eastus: 0.7, WestUS: 0.3}}\n"
        ))
        .unwrap()
        .workload;
        assert_eq!(
            w.deployments["gpt-4o"]
                .gateway_regions
                .as_ref()
                .unwrap()
                .len(),
            2
        );

        let e = parse(&format!(
            "{base}    gateway_regions:\n      eastus: 1\n      uksouth: 2\n"
        ))
        .unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!(d.code, "unknown-name");
        assert_eq!((d.line, d.column), (Some(8), Some(7)));
        assert_eq!(d.message, "the topology has no gateway in region `uksouth`");
        assert!(d.help.as_deref().unwrap().contains("eastus, westus"));

        let e = parse(&format!(
            "{base}    gateway_regions: {{eastus: 0, westus: -1}}\n"
        ))
        .unwrap_err();
        let found: Vec<_> = e
            .diagnostics
            .iter()
            .map(|d| (d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Some(6), Some(31), "0 is not a positive share"),
                (Some(6), Some(42), "-1 is not a positive share")
            ]
        );

        let e = parse(&format!("{base}    gateway_regions: {{}}\n")).unwrap_err();
        assert_eq!(
            e.diagnostics[0].path.as_deref(),
            Some("deployments.gpt-4o.gateway_regions")
        );
    }
}
