//! `/metrics`: Prometheus (OpenMetrics) text. Labels are topology names
//! (APIs, deployments, backends) and statuses, never keys, tokens or
//! prompts.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        120.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    /// Client requests by API, deployment, status and who answered
    /// (`backend`, or `gateway` for the gateway's own answers).
    pub requests: Family<Labels, Counter>,
    /// Upstream attempts by backend and status (`none`: no answer).
    pub attempts: Family<Labels, Counter>,
    /// Tokens from `usage` by deployment, backend and kind.
    pub tokens: Family<Labels, Counter>,
    /// Attempts that took a backend out of rotation, by backend and reason
    /// (`throttled`, `failed`).
    pub marks: Family<Labels, Counter>,
    pub in_flight: Gauge,
    /// Whole request, client side, by deployment.
    pub request_seconds: Histograms,
    /// Upstream response headers, by backend.
    pub upstream_seconds: Histograms,
    pub state_store_up: Gauge,
    pub state_store_errors: Counter,
    pub state_store_conflicts: Counter,
    /// Topology reloads by result (`ok`, `invalid`).
    pub reloads: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("oailb");
        let m = Metrics {
            requests: Family::default(),
            attempts: Family::default(),
            tokens: Family::default(),
            marks: Family::default(),
            in_flight: Gauge::default(),
            request_seconds: Histograms::new_with_constructor(latency_buckets),
            upstream_seconds: Histograms::new_with_constructor(latency_buckets),
            state_store_up: Gauge::default(),
            state_store_errors: Counter::default(),
            state_store_conflicts: Counter::default(),
            reloads: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Client requests by deployment, status and origin",
            m.requests.clone(),
        );
        registry.register(
            "upstream_attempts",
            "Upstream attempts by backend and status",
            m.attempts.clone(),
        );
        registry.register(
            "tokens",
            "Tokens reported in usage, by deployment, backend and kind",
            m.tokens.clone(),
        );
        registry.register(
            "backend_marks",
            "Attempts that took a backend out of rotation",
            m.marks.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Client requests being served",
            m.in_flight.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Client request duration, streaming included",
            m.request_seconds.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time to the upstream response headers",
            m.upstream_seconds.clone(),
        );
        registry.register(
            "state_store_up",
            "1 when the shared state store answers, 0 while on local state",
            m.state_store_up.clone(),
        );
        registry.register(
            "state_store_errors",
            "State store calls that failed (served from local state)",
            m.state_store_errors.clone(),
        );
        registry.register(
            "state_store_conflicts",
            "State writes retried because another instance wrote first",
            m.state_store_conflicts.clone(),
        );
        registry.register("reloads", "Topology reloads by result", m.reloads.clone());
        Metrics { registry, ..m }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
