//! The load-balancing algorithm, once, in Rust: pure functions with time,
//! randomness and backend answers passed in. The rendered APIM policy
//! (`policies/policy-mode.xml.tera`) implements the same rules in C#;
//! `oailb serve` and `oailb simulate` call these functions;
//! `tests/balancer_scenarios.rs` drives the policy, this module and `serve`
//! through one scenario table, and they must agree decision by decision.
//!
//! The rules (README "The load-balancing policy"):
//! - every backend has a quota model ([`state`]): a token and a request
//!   bucket holding `quota_window_seconds` of its per-minute rate, emptied
//!   by what is sent (requests in flight count), refilled continuously, and
//!   re-anchored on the `x-ratelimit-remaining-*` figures of every answer;
//! - a request costs its estimated tokens ([`cost`]); it goes to the lowest
//!   priority that has a backend predicted to admit it and not yet tried
//!   for it, at weighted random inside that priority (weight × room left);
//! - a 429 keeps the backend out for exactly the delay it announced
//!   (`retry-after-ms` first; no floor), a 5xx counts toward its circuit
//!   breaker (out only when the recent failure rate is high), no answer
//!   takes it out with a short backoff; the request moves on at once;
//! - when no backend is predicted to admit the request, the client gets 429
//!   at once, without an upstream call, with `Retry-After` and
//!   `retry-after-ms` = the predicted wait until one will.

mod choose;
pub mod cost;
mod delay;
pub mod quota;
pub mod region;
pub mod state;

use std::collections::HashMap;

use smallvec::SmallVec;

use crate::desired::RouteBackend;
use crate::topology::{LoadBalancing, WhenAllBusy};

pub use choose::{choose, retry_wait_ms, Choice};
pub use cost::{estimate, Cost, EstimateSettings};
pub use delay::{parse_duration_ms, parse_http_date_ms, Delay, Signals, DELAY_HEADERS};
pub use quota::Quota;
pub use state::{BackendState, Limits, Ticket, Verdict};

/// A delay nobody announced (a tripping answer without headers) is never
/// shorter than this.
pub const MIN_DEFAULT_DELAY_MS: u64 = 1000;

/// The circuit breaker's settings, from `load_balancing.circuit_breaker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failures in a row that open the breaker; 0: no such rule.
    pub consecutive: u64,
    pub failure_rate_percent: u64,
    pub min_calls: u64,
    pub window_ms: u64,
    pub open_ms: u64,
}

/// The settings of the algorithm, from the topology's `load_balancing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Inclusive status ranges that count as a failed attempt.
    pub trip: Vec<(u16, u16)>,
    /// Delay of a tripping answer that announces none (at least 1 s).
    pub default_delay_ms: u64,
    pub max_delay_ms: u64,
    pub cache_ttl_seconds: u64,
    pub when_all_busy: WhenAllBusy,
    /// The quota window: a bucket holds this much of the per-minute rate.
    pub window_ms: u64,
    pub margin_percent: u64,
    pub estimate: EstimateSettings,
    pub breaker: BreakerSettings,
    /// The gateway's own region (normalized), when backends near it are
    /// preferred inside each priority (`prefer_nearby`); `None`: no
    /// preference. Set by whoever runs the gateway: the policy reads
    /// `context.Deployment.Region`, `serve` its configured region.
    pub gateway_region: Option<String>,
}

impl From<&LoadBalancing> for Settings {
    fn from(lb: &LoadBalancing) -> Self {
        let max_delay_ms = (u64::from(lb.max_retry_after_seconds) * 1000).max(MIN_DEFAULT_DELAY_MS);
        Settings {
            trip: lb.trip_ranges(),
            default_delay_ms: (u64::from(lb.default_retry_after_seconds) * 1000)
                .clamp(MIN_DEFAULT_DELAY_MS, max_delay_ms),
            max_delay_ms,
            cache_ttl_seconds: u64::from(lb.cache_ttl_seconds),
            when_all_busy: lb.when_all_busy,
            window_ms: u64::from(lb.quota_window_seconds.max(1)) * 1000,
            margin_percent: u64::from(lb.safety_margin_percent),
            estimate: EstimateSettings {
                default_max_tokens: u64::from(lb.estimate.default_max_tokens),
                default_request_tokens: u64::from(lb.estimate.default_request_tokens),
            },
            breaker: BreakerSettings {
                consecutive: u64::from(lb.circuit_breaker.consecutive_failures),
                failure_rate_percent: u64::from(lb.circuit_breaker.failure_rate_percent),
                min_calls: u64::from(lb.circuit_breaker.min_calls.max(1)),
                window_ms: u64::from(lb.circuit_breaker.window_seconds.max(1)) * 1000,
                open_ms: u64::from(lb.circuit_breaker.open_seconds.max(1)) * 1000,
            },
            gateway_region: None,
        }
    }
}

impl Settings {
    pub fn trips(&self, status: u16) -> bool {
        self.trip.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }

    /// Seconds a cache entry of backend state lives: the TTL, but never less
    /// than the longest out-of-rotation time, the breaker's window and the
    /// quota window, so nothing the state says vanishes before it ends.
    pub fn cache_seconds(&self) -> u64 {
        let longest = self
            .max_delay_ms
            .max(self.breaker.open_ms)
            .max(2 * self.breaker.window_ms)
            .max(self.window_ms);
        self.cache_ttl_seconds.max(longest.div_ceil(1000))
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
    /// What the deployment admits; `tokens_per_minute == 0`: unknown, only
    /// its answers tell.
    pub quota: Quota,
    /// The account's region (normalized), when oailb knows it.
    pub region: Option<String>,
}

impl From<&RouteBackend> for Backend {
    fn from(b: &RouteBackend) -> Self {
        Backend {
            name: b.name.clone(),
            priority: b.priority,
            weight: b.weight,
            url: b.url.clone(),
            deployment: b.deployment.clone(),
            quota: b.quota,
            region: b.region.clone(),
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

/// What a backend did with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP answer and what its headers say.
    Status { status: u16, signals: Signals },
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
    /// The wait the gateway itself announced (it answered 429), in ms;
    /// `Retry-After` is this in whole seconds, rounded up.
    pub retry_after_ms: Option<u64>,
    /// The backend whose answer the client got.
    pub served_by: Option<String>,
}

impl Outcome {
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after_ms.map(retry_after_seconds)
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait_ms: u64) -> u64 {
    wait_ms.div_ceil(1000).max(1)
}

/// One route as the gateway sees it at run time.
#[derive(Debug, Clone)]
pub struct Route {
    /// The cache key prefix the policy uses for this route; each backend's
    /// state lives under `<cache_key>:<backend name>`.
    pub cache_key: String,
    pub backends: Vec<Backend>,
}

impl Route {
    pub fn state_key(&self, backend: &Backend) -> String {
        format!("{}:{}", self.cache_key, backend.name)
    }
}

/// Where backend state lives between requests: the APIM cache, a map in
/// `serve`, Redis. Reads of a missing or expired key give the default
/// ("nothing known").
pub trait Store {
    fn load(&mut self, key: &str, now_ms: u64) -> BackendState;
    fn save(&mut self, key: &str, state: &BackendState, now_ms: u64, seconds: u64);
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

    /// The entries still alive at `now_ms`, sorted by key.
    pub fn snapshot(&self, now_ms: u64) -> std::collections::BTreeMap<String, String> {
        self.entries
            .iter()
            .filter(|(_, (_, expires))| *expires > now_ms)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

impl Store for Cache {
    fn load(&mut self, key: &str, now_ms: u64) -> BackendState {
        self.get(key, now_ms)
            .map(BackendState::decode)
            .unwrap_or_default()
    }

    fn save(&mut self, key: &str, state: &BackendState, now_ms: u64, seconds: u64) {
        self.put(key, state.encode(), now_ms, seconds);
    }
}

/// The course of one request: the backends tried so far and what happened,
/// and from that the next step. `handle` below, `serve` and `simulate` all
/// drive requests with it, so the end cases are decided in one place.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// Inline for the usual few attempts: no allocation per request.
    tried: SmallVec<[usize; 4]>,
    throttled: bool,
    /// Whether the last attempt got an HTTP answer.
    last_answered: bool,
}

/// The next step of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the request to the backend at this index.
    Forward(usize),
    /// Answer 429 with `Retry-After`/`retry-after-ms` for this wait.
    Reject { wait_ms: u64 },
    /// Pass the last backend's answer on (a failure nobody else could fix).
    PassOn(usize),
    /// The last attempt got no answer and nothing is left: 502.
    BadGateway,
}

impl Attempts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes of the backends called, in order.
    pub fn tried(&self) -> &[usize] {
        &self.tried
    }

    /// Decides the next step from the backends' current `states` and
    /// their [`Limits`] (in route order).
    #[allow(clippy::too_many_arguments)]
    pub fn next(
        &self,
        route: &[Backend],
        states: &[BackendState],
        limits: &[Limits],
        cost: &Cost,
        now_ms: u64,
        draw: &mut dyn FnMut() -> f64,
        s: &Settings,
    ) -> Step {
        let last = self.tried.last().copied();
        let pass_last = |i: usize| {
            if self.last_answered {
                Step::PassOn(i)
            } else {
                Step::BadGateway
            }
        };
        match choose(route, states, limits, &self.tried, cost, now_ms, draw, s) {
            Choice::Forward(i) => Step::Forward(i),
            // Forward-to-first passes the last answer on instead of a 429.
            Choice::Reject { .. } | Choice::Exhausted
                if s.when_all_busy == WhenAllBusy::ForwardToFirst && last.is_some() =>
            {
                pass_last(last.expect("checked"))
            }
            Choice::Reject { wait_ms } => Step::Reject { wait_ms },
            Choice::Exhausted if self.throttled => Step::Reject {
                wait_ms: retry_wait_ms(route, states, limits, cost, now_ms, s).max(1),
            },
            Choice::Exhausted => match last {
                Some(i) => pass_last(i),
                None => Step::Reject {
                    wait_ms: s.default_delay_ms,
                },
            },
        }
    }

    /// Records the outcome of an attempt on backend `i` (`answered`: an
    /// HTTP answer arrived).
    pub fn record(&mut self, i: usize, verdict: Verdict, answered: bool) {
        self.tried.push(i);
        self.throttled |= verdict == Verdict::Throttled;
        self.last_answered = answered;
    }
}

/// Runs one request through the rules at one instant: reads each backend's
/// state from `store`, calls `reply` for each attempt, writes the state
/// back after each event. `draw` gives one uniform number in `[0, 1)` per
/// weighted pick.
pub fn handle(
    store: &mut dyn Store,
    route: &Route,
    cost: &Cost,
    now_ms: u64,
    settings: &Settings,
    draw: &mut dyn FnMut() -> f64,
    reply: &mut dyn FnMut(&Backend) -> Reply,
) -> Outcome {
    handle_clocked(store, route, cost, &|| now_ms, settings, draw, reply)
}

/// [`handle`] with time read from `clock` at each event, as `serve` and
/// the policy read it: a request is sent at the time before its `reply`
/// and its answer applied at the time after, so an answer that takes time
/// (a clock `reply` moves on) is seen as late as it is.
pub fn handle_clocked(
    store: &mut dyn Store,
    route: &Route,
    cost: &Cost,
    clock: &dyn Fn() -> u64,
    settings: &Settings,
    draw: &mut dyn FnMut() -> f64,
    reply: &mut dyn FnMut(&Backend) -> Reply,
) -> Outcome {
    let keys: Vec<String> = route.backends.iter().map(|b| route.state_key(b)).collect();
    let limits = Limits::of_route(&route.backends, settings);
    let seconds = settings.cache_seconds();
    let mut run = Attempts::new();
    let mut last_status = 0;
    let names = |run: &Attempts| -> Vec<String> {
        run.tried()
            .iter()
            .map(|i| route.backends[*i].name.clone())
            .collect()
    };
    loop {
        let now_ms = clock();
        let states: Vec<BackendState> = keys.iter().map(|k| store.load(k, now_ms)).collect();
        let i = match run.next(
            &route.backends,
            &states,
            &limits,
            cost,
            now_ms,
            draw,
            settings,
        ) {
            Step::Forward(i) => i,
            Step::Reject { wait_ms } => {
                return Outcome {
                    attempts: names(&run),
                    status: 429,
                    retry_after_ms: Some(wait_ms.max(1)),
                    served_by: None,
                }
            }
            Step::PassOn(i) => {
                return Outcome {
                    attempts: names(&run),
                    status: last_status,
                    retry_after_ms: None,
                    served_by: Some(route.backends[i].name.clone()),
                }
            }
            Step::BadGateway => {
                return Outcome {
                    attempts: names(&run),
                    status: 502,
                    retry_after_ms: None,
                    served_by: None,
                }
            }
        };
        let b = &route.backends[i];
        let mut state = store.load(&keys[i], now_ms);
        let ticket = state.send(&b.quota, cost.tokens_on(&b.quota), settings, now_ms);
        store.save(&keys[i], &state, now_ms, seconds);
        let answer = reply(b);
        let answered_ms = clock();
        let mut state = store.load(&keys[i], answered_ms);
        let verdict = state.on_reply(&b.quota, &ticket, &answer, settings, answered_ms);
        store.save(&keys[i], &state, answered_ms, seconds);
        let answered = match &answer {
            Reply::Status { status, .. } => {
                last_status = *status;
                true
            }
            Reply::NoAnswer => false,
        };
        run.record(i, verdict, answered);
        if verdict == Verdict::Done {
            return Outcome {
                attempts: names(&run),
                status: last_status,
                retry_after_ms: None,
                served_by: Some(b.name.clone()),
            };
        }
    }
}

#[cfg(test)]
mod tests;
