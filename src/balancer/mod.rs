//! The load-balancing algorithm of policy mode, once, in Rust: a pure state
//! machine with time, randomness and backend answers passed in. The rendered
//! APIM policy (`policies/policy-mode.xml.tera`) implements the same rules;
//! `tests/balancer_scenarios.rs` drives both through one scenario table, and
//! later simulators and local tools reuse this module.
//!
//! Rules, in the words of the README:
//! - a request goes to the lowest priority number among the backends of its
//!   route that are not marked and not yet tried for this request, at weighted
//!   random inside that priority;
//! - a tripping answer (configured statuses, or no answer at all) marks the
//!   backend until now + a delay read from its headers ([`retry_delay_ms`]),
//!   and the request moves on at once to the next backend;
//! - when no backend can take the request, the client gets 429 with a
//!   `Retry-After` of the seconds until the earliest mark ends (at least 1),
//!   or, with `when_all_busy: forward-to-first`, the first backend gets it.
//!
//! Marks live in the APIM cache under one key per API and route, as the text
//! that [`encode_marks`] writes (`name=untilMs;...`).

mod delay;

use std::collections::{BTreeMap, HashMap};

use crate::desired::RouteBackend;
use crate::topology::{LoadBalancing, WhenAllBusy};

pub use delay::{parse_duration_ms, parse_http_date_ms, retry_delay_ms};

/// The settings of the algorithm, from the topology's `load_balancing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Inclusive status ranges that mark a backend.
    pub trip: Vec<(u16, u16)>,
    pub default_delay_ms: u64,
    pub max_delay_ms: u64,
    pub cache_ttl_seconds: u64,
    pub when_all_busy: WhenAllBusy,
}

/// A mark never lasts less than this: a backend that asks to be retried "now"
/// after failing is not called again within the same second.
pub const MIN_DELAY_MS: u64 = 1000;

impl From<&LoadBalancing> for Settings {
    fn from(lb: &LoadBalancing) -> Self {
        Settings {
            trip: lb.trip_ranges(),
            default_delay_ms: u64::from(lb.default_retry_after_seconds) * 1000,
            max_delay_ms: u64::from(lb.max_retry_after_seconds) * 1000,
            cache_ttl_seconds: u64::from(lb.cache_ttl_seconds),
            when_all_busy: lb.when_all_busy,
        }
    }
}

impl Settings {
    pub fn trips(&self, status: u16) -> bool {
        self.trip.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }
}

/// One backend of a route, as the policy lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub priority: u32,
    pub weight: u32,
    /// Account root + `openai`.
    pub url: String,
    /// Deployment name on this backend.
    pub deployment: String,
}

impl From<&RouteBackend> for Backend {
    fn from(b: &RouteBackend) -> Self {
        Backend {
            name: b.name.clone(),
            priority: b.priority,
            weight: b.weight,
            url: b.url.clone(),
            deployment: b.deployment.clone(),
        }
    }
}

impl Backend {
    /// The URL a request for `rest` (the path after `/deployments/{name}`)
    /// is forwarded to on this backend.
    pub fn target_url(&self, rest: &str) -> String {
        format!("{}/deployments/{}{rest}", self.url, self.deployment)
    }
}

/// Backend name → end of its mark, in milliseconds since the Unix epoch.
pub type Marks = BTreeMap<String, u64>;

/// The cache text of `marks`, keeping only those still running at `now_ms`.
pub fn encode_marks(marks: &Marks, now_ms: u64) -> String {
    marks
        .iter()
        .filter(|(_, until)| **until > now_ms)
        .map(|(name, until)| format!("{name}={until}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Reads cache text; anything malformed is skipped, never an error.
pub fn decode_marks(text: &str) -> Marks {
    text.split(';')
        .filter_map(|part| {
            let (name, until) = part.split_once('=')?;
            let until: u64 = until.parse().ok()?;
            (!name.is_empty()).then(|| (name.to_string(), until))
        })
        .collect()
}

fn is_marked(marks: &Marks, name: &str, now_ms: u64) -> bool {
    marks.get(name).is_some_and(|until| *until > now_ms)
}

/// What to do with the next attempt of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Forward to the backend at this index of the route.
    Forward(usize),
    /// No backend can take the request: answer 429 with this `Retry-After`.
    AllBusy { retry_after_seconds: u64 },
}

/// Backends that may take the next attempt: not marked, not yet tried.
pub fn candidates(route: &[Backend], marks: &Marks, tried: &[usize], now_ms: u64) -> Vec<usize> {
    (0..route.len())
        .filter(|i| !tried.contains(i) && !is_marked(marks, &route[*i].name, now_ms))
        .collect()
}

/// Picks the next backend. `draw` gives a uniform number in `[0, 1)` and is
/// called once per pick among free backends, as the policy calls
/// `Random.Next(totalWeight)` (which is `floor(draw * totalWeight)`).
pub fn choose(
    route: &[Backend],
    marks: &Marks,
    tried: &[usize],
    now_ms: u64,
    draw: &mut dyn FnMut() -> f64,
    settings: &Settings,
) -> Choice {
    let open = candidates(route, marks, tried, now_ms);
    let Some(best) = open.iter().map(|i| route[*i].priority).min() else {
        if settings.when_all_busy == WhenAllBusy::ForwardToFirst && tried.is_empty() {
            if let Some(first) = first_backend(route) {
                return Choice::Forward(first);
            }
        }
        return Choice::AllBusy {
            retry_after_seconds: retry_after_seconds(route, marks, now_ms, settings),
        };
    };
    let group: Vec<usize> = open
        .into_iter()
        .filter(|i| route[*i].priority == best)
        .collect();
    let total: u64 = group
        .iter()
        .map(|i| u64::from(route[*i].weight.max(1)))
        .sum();
    let draw = draw();
    let draw = if draw.is_finite() {
        draw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut r = ((draw * total as f64) as u64).min(total - 1);
    for i in &group {
        let w = u64::from(route[*i].weight.max(1));
        if r < w {
            return Choice::Forward(*i);
        }
        r -= w;
    }
    Choice::Forward(*group.last().expect("group is not empty"))
}

/// The backend `forward-to-first` uses: lowest priority, first in file order.
pub fn first_backend(route: &[Backend]) -> Option<usize> {
    (0..route.len()).min_by_key(|i| (route[*i].priority, *i))
}

/// Seconds until the earliest running mark of the route ends, at least 1;
/// the default delay when nothing is marked.
pub fn retry_after_seconds(route: &[Backend], marks: &Marks, now_ms: u64, s: &Settings) -> u64 {
    let earliest = route
        .iter()
        .filter_map(|b| marks.get(&b.name).copied())
        .filter(|until| *until > now_ms)
        .min();
    match earliest {
        Some(until) => (until - now_ms).div_ceil(1000).max(1),
        None => s.default_delay_ms.div_ceil(1000).max(1),
    }
}

/// Seconds the cache keeps the marks: the TTL, but never less than the
/// longest possible mark, so a mark cannot vanish before it ends.
pub fn cache_duration_seconds(s: &Settings) -> u64 {
    s.cache_ttl_seconds.max(s.max_delay_ms.div_ceil(1000))
}

/// What a backend did with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP answer.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// No answer: connection refused or reset, timeout.
    NoAnswer,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Names of the backends called, in order.
    pub attempts: Vec<String>,
    /// Status the client got.
    pub status: u16,
    /// `Retry-After` the gateway itself set (all backends busy).
    pub retry_after_seconds: Option<u64>,
    /// The backend whose answer the client got.
    pub served_by: Option<String>,
}

/// One route as the gateway sees it at run time.
#[derive(Debug, Clone)]
pub struct Route {
    /// The cache key the policy uses for this route.
    pub cache_key: String,
    pub backends: Vec<Backend>,
}

/// The APIM cache, as far as the policy uses it: text values with an expiry.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    entries: HashMap<String, (String, u64)>,
}

impl Cache {
    pub fn get(&self, key: &str, now_ms: u64) -> Option<&str> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(v, _)| v.as_str())
    }

    pub fn put(&mut self, key: &str, value: String, now_ms: u64, seconds: u64) {
        self.entries
            .insert(key.to_string(), (value, now_ms + seconds * 1000));
    }
}

/// Runs one request through the policy's rules: reads the marks from
/// `cache`, calls `reply` for each attempt, writes marks back. `draw` gives
/// one uniform number per pick.
pub fn handle(
    cache: &mut Cache,
    route: &Route,
    now_ms: u64,
    settings: &Settings,
    draw: &mut dyn FnMut() -> f64,
    reply: &mut dyn FnMut(&Backend) -> Reply,
) -> Outcome {
    let mut marks = cache
        .get(&route.cache_key, now_ms)
        .map(decode_marks)
        .unwrap_or_default();
    let mut tried: Vec<usize> = Vec::new();
    let mut attempts = Vec::new();
    let backends = &route.backends;
    loop {
        let i = match choose(backends, &marks, &tried, now_ms, draw, settings) {
            Choice::Forward(i) => i,
            Choice::AllBusy {
                retry_after_seconds,
            } => {
                return Outcome {
                    attempts,
                    status: 429,
                    retry_after_seconds: Some(retry_after_seconds),
                    served_by: None,
                }
            }
        };
        tried.push(i);
        let b = &backends[i];
        attempts.push(b.name.clone());
        let (status, delay) = match reply(b) {
            Reply::Status { status, headers } if settings.trips(status) => {
                (Some(status), retry_delay_ms(&headers, now_ms, settings))
            }
            Reply::Status { status, .. } => {
                return Outcome {
                    attempts,
                    status,
                    retry_after_seconds: None,
                    served_by: Some(b.name.clone()),
                }
            }
            Reply::NoAnswer => (None, settings.default_delay_ms),
        };
        marks.insert(b.name.clone(), now_ms + delay);
        let text = encode_marks(&marks, now_ms);
        let seconds = cache_duration_seconds(settings);
        cache.put(&route.cache_key, text, now_ms, seconds);
        // Reject mode always takes another turn: the next pick either finds
        // a backend or answers 429. Forward-to-first stops when nothing is
        // left and passes the last answer on.
        let more = !candidates(backends, &marks, &tried, now_ms).is_empty();
        if settings.when_all_busy == WhenAllBusy::ForwardToFirst && !more {
            return Outcome {
                attempts,
                status: status.unwrap_or(502),
                retry_after_seconds: None,
                served_by: status.map(|_| b.name.clone()),
            };
        }
    }
}

#[cfg(test)]
mod tests;
