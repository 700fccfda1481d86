//! One simulated Azure OpenAI deployment, with the quota behaviour of
//! lbbench's mock (`../shared/lbbench/mock_aoai.py`) and of Azure: a token
//! bucket and a request bucket, each holding `window` of the per-minute
//! rate and refilling continuously; a request is admitted when the buckets
//! hold its cost (prompt + max_tokens) and one request; a rejected request
//! costs nothing and gets 429 with `Retry-After` (whole seconds, rounded up)
//! and `retry-after-ms`; every answer carries `x-ratelimit-remaining-*`.
//! Injected errors hit admitted requests and consume nothing; outages
//! refuse connections (requests in flight get no answer) or answer 503.

use super::random::Rng;
use super::workload::OutageKind;
use super::world::BackendSpec;
use super::{to_f64, to_u64};

/// A continuously refilled bucket; levels in tokens (or requests).
#[derive(Debug, Clone)]
struct Bucket {
    cap: f64,
    /// Per microsecond.
    rate: f64,
    level: f64,
    t_us: u64,
}

impl Bucket {
    fn new(per_minute: f64, window_ms: u64, at_least: f64) -> Bucket {
        let cap = (per_minute * window_ms as f64 / 60_000.0).max(at_least);
        Bucket {
            cap,
            rate: per_minute / 60e6,
            level: cap,
            t_us: 0,
        }
    }

    fn refill(&mut self, now: u64) {
        if now > self.t_us {
            self.level = refilled(self.level, now - self.t_us, self.rate, self.cap);
            self.t_us = now;
        }
    }

    /// Seconds until the bucket holds `amount`; infinite when it never can.
    fn wait_for(&self, amount: f64) -> f64 {
        if amount > self.cap {
            return f64::INFINITY;
        }
        ((amount - self.level) / self.rate / 1e6).max(0.0)
    }
}

/// A float bucket's `level` after `span_us` of refill at `rate` per µs,
/// at most `cap`. The cap is a plain comparison (no NaN arises): the same
/// value as `f64::min`. The ideal pool refills with it too.
pub(super) fn refilled(level: f64, span_us: u64, rate: f64, cap: f64) -> f64 {
    let level = level + to_f64(span_us) * rate;
    if level < cap {
        level
    } else {
        cap
    }
}

/// Milliseconds (non-negative, at most minutes: the workload is checked)
/// in whole microseconds, rounded: truncating v + 0.5 rounds without a libm
/// call.
pub(super) fn ms_to_us(ms: f64) -> u64 {
    to_u64(ms * 1000.0 + 0.5)
}

/// What a backend did with one attempt. A whole word, as
/// [`Answer::error_status`] beside it: a field read wider than it was
/// written (a 2-byte tag read with its payload as 4 bytes) cannot be
/// forwarded from the store, and perf showed that stall after every call
/// when the answer was handed back through memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Outcome {
    /// 200: admitted and served.
    Served,
    /// 429 over quota.
    Throttled,
    /// An injected error (5xx with the remaining-quota headers), its
    /// status in [`Answer::error_status`].
    Failed,
    /// 503 of an outage (no headers).
    Unavailable,
    /// Connection refused, or reset while the request was in flight.
    NoAnswer,
}

/// The answer and when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    /// The status of a [`Outcome::Failed`] answer; 0 otherwise.
    pub error_status: u32,
    /// Microseconds from sending to the answer (or its absence).
    pub latency_us: u64,
    /// 429: `retry-after-ms`; `Retry-After` is this in whole seconds.
    pub retry_after_ms: u64,
    /// `x-ratelimit-remaining-tokens` / `-requests` (not on 503 or no answer;
    /// no request figure where there is no request limit).
    pub remaining_tokens: u64,
    pub remaining_requests: Option<u64>,
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Served => Some(200),
            Outcome::Throttled => Some(429),
            Outcome::Failed => Some(self.error_status as u16),
            Outcome::Unavailable => Some(503),
            Outcome::NoAnswer => None,
        }
    }

    /// `Retry-After` in whole seconds (429 only), as the mock rounds it.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        (self.outcome == Outcome::Throttled).then(|| self.retry_after_ms.div_ceil(1000).max(1))
    }

    pub fn has_quota_headers(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Served | Outcome::Throttled | Outcome::Failed
        )
    }
}

#[derive(Debug, Clone)]
pub struct BackendSim {
    tokens: Bucket,
    requests: Option<Bucket>,
    faults: Rng,
    error_rate: f64,
    error_status: u16,
    latency: super::workload::Latency,
    /// µs of a quick answer (refused, 429, 503) and of an injected error.
    quick_us: u64,
    error_us: u64,
    outages: Vec<(u64, u64, OutageKind)>,
}

impl BackendSim {
    pub fn new(spec: &BackendSpec, window_ms: u64, seed: u64, index: u64) -> BackendSim {
        let q = spec.quota;
        BackendSim {
            tokens: Bucket::new(q.tokens_per_minute as f64, window_ms, 0.0),
            requests: q
                .limits_requests()
                .then(|| Bucket::new(q.requests_per_minute as f64, window_ms, 1.0)),
            faults: Rng::new(seed, 1_000 + index),
            error_rate: spec.error_rate,
            error_status: spec.error_status,
            latency: spec.latency,
            quick_us: ms_to_us(spec.latency.rejection_ms),
            error_us: ms_to_us(spec.latency.error_ms),
            outages: spec.outages.clone(),
        }
    }

    fn outage_at(&self, now: u64) -> Option<OutageKind> {
        self.outages
            .iter()
            .find(|(s, e, _)| *s <= now && now < *e)
            .map(|o| o.2)
    }

    /// The next refusing outage that starts in `(now, until)`.
    fn reset_between(&self, now: u64, until: u64) -> Option<u64> {
        self.outages
            .iter()
            .find(|(s, _, k)| *k == OutageKind::Refuse && *s > now && *s < until)
            .map(|o| o.0)
    }

    fn remaining(&self) -> (u64, Option<u64>) {
        (
            to_u64(self.tokens.level.max(0.0)),
            self.requests.as_ref().map(|r| to_u64(r.level.max(0.0))),
        )
    }

    /// A request costing `cost` tokens (prompt + max_tokens, weighted) that
    /// would generate `completion` tokens arrives at `now`. Inlined into
    /// the engine's call, so that the answer is read where it was made
    /// instead of being handed back through memory.
    #[inline(always)]
    pub fn attempt(&mut self, now: u64, cost: u64, completion: u32) -> Answer {
        let mut answer = Answer {
            outcome: Outcome::NoAnswer,
            error_status: 0,
            latency_us: self.quick_us,
            retry_after_ms: 0,
            remaining_tokens: 0,
            remaining_requests: None,
        };
        match self.outage_at(now) {
            Some(OutageKind::Refuse) => return answer,
            Some(OutageKind::Unavailable) => {
                answer.outcome = Outcome::Unavailable;
                return answer;
            }
            None => {}
        }
        self.tokens.refill(now);
        if let Some(r) = &mut self.requests {
            r.refill(now);
        }
        let cost = to_f64(cost);
        let short_requests = self.requests.as_ref().is_some_and(|r| r.level < 1.0);
        if short_requests || self.tokens.level < cost {
            let wait = self
                .requests
                .as_ref()
                .map_or(0.0, |r| r.wait_for(1.0))
                .max(self.tokens.wait_for(cost));
            let wait = if wait.is_finite() { wait } else { 60.0 };
            (answer.remaining_tokens, answer.remaining_requests) = self.remaining();
            answer.outcome = Outcome::Throttled;
            answer.retry_after_ms = ((wait * 1000.0).ceil() as u64).max(1);
            return answer;
        }
        if self.error_rate > 0.0 && self.faults.next_f64() < self.error_rate {
            (answer.remaining_tokens, answer.remaining_requests) = self.remaining();
            answer.outcome = Outcome::Failed;
            answer.error_status = u32::from(self.error_status);
            answer.latency_us = self.error_us;
            return answer;
        }
        self.tokens.level -= cost;
        if let Some(r) = &mut self.requests {
            r.level -= 1.0;
        }
        (answer.remaining_tokens, answer.remaining_requests) = self.remaining();
        let latency = self.latency.served_us(completion);
        match self.reset_between(now, now + latency) {
            // Admitted, then the connection was reset: no answer.
            Some(start) => answer.latency_us = start - now,
            None => {
                answer.outcome = Outcome::Served;
                answer.latency_us = latency;
            }
        }
        answer
    }

    /// Microseconds of `[from, to)` the backend was up (no outage).
    pub fn up_time(&self, from: u64, to: u64) -> u64 {
        let down: u64 = self
            .outages
            .iter()
            .map(|(s, e, _)| (*e).min(to).saturating_sub((*s).max(from)))
            .sum();
        (to - from).saturating_sub(down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::Quota;
    use crate::simulate::workload::Latency;
    use crate::topology::DeploymentSku;

    fn spec(tpm: u64, rpm: u64) -> BackendSpec {
        BackendSpec {
            name: "b".into(),
            label: "b".into(),
            route: 0,
            model: "m".into(),
            priority: 1,
            weight: 1,
            sku: DeploymentSku::Standard,
            capacity: 90,
            quota: Quota {
                tokens_per_minute: tpm,
                requests_per_minute: rpm,
                output_weight: 1,
            },
            region: None,
            latency: Latency::default(),
            error_rate: 0.0,
            error_status: 500,
            outages: vec![],
        }
    }

    #[test]
    fn admits_by_cost_and_rejects_with_the_wait() {
        // lbbench A_spill's p1a in real units: 90,000 TPM, 540 RPM, 1 s window.
        let mut b = BackendSim::new(&spec(90_000, 540), 1000, 1, 0);
        let a = b.attempt(0, 1000, 100);
        assert_eq!(a.outcome, Outcome::Served);
        assert_eq!(a.latency_us, 175_000);
        assert_eq!((a.remaining_tokens, a.remaining_requests), (500, Some(8)));
        // 600 tokens do not fit in 500: 100 missing at 1,500/s = 66.7 ms.
        let r = b.attempt(0, 600, 100);
        assert_eq!(r.outcome, Outcome::Throttled);
        assert_eq!(r.retry_after_ms, 67);
        assert_eq!(r.retry_after_seconds(), Some(1));
        // Rejected requests consume nothing.
        assert_eq!(b.attempt(0, 500, 0).outcome, Outcome::Served);
        // Larger than the bucket: Retry-After 60 s, as the mock says.
        assert_eq!(b.attempt(0, 2000, 1).retry_after_ms, 60_000);
    }

    #[test]
    fn request_bucket_limits_small_requests() {
        let mut b = BackendSim::new(&spec(90_000, 540), 1000, 1, 0);
        let served = (0..20)
            .filter(|_| b.attempt(0, 1, 1).outcome == Outcome::Served)
            .count();
        assert_eq!(served, 9);
        // One request refills in 1/9 s.
        assert_eq!(b.attempt(0, 1, 1).retry_after_ms, 112);
        assert_eq!(b.attempt(112_000, 1, 1).outcome, Outcome::Served);
    }

    #[test]
    fn faults_and_outages() {
        let mut s = spec(90_000, 540);
        s.error_rate = 1.0;
        let mut b = BackendSim::new(&s, 1000, 1, 0);
        let a = b.attempt(0, 100, 1);
        assert_eq!((a.outcome, a.status()), (Outcome::Failed, Some(500)));
        assert_eq!(a.latency_us, 20_000);
        assert_eq!(a.remaining_tokens, 1500);

        let mut s = spec(90_000, 540);
        s.outages = vec![
            (1_000_000, 2_000_000, OutageKind::Refuse),
            (3_000_000, 4_000_000, OutageKind::Unavailable),
        ];
        let mut b = BackendSim::new(&s, 1000, 1, 0);
        // In flight when the outage starts: no answer at its start.
        let a = b.attempt(900_000, 100, 200);
        assert_eq!((a.outcome, a.latency_us), (Outcome::NoAnswer, 100_000));
        assert_eq!(b.attempt(1_500_000, 100, 1).outcome, Outcome::NoAnswer);
        assert_eq!(b.attempt(3_500_000, 100, 1).outcome, Outcome::Unavailable);
        assert_eq!(b.attempt(4_000_000, 100, 1).outcome, Outcome::Served);
        assert_eq!(b.up_time(0, 5_000_000), 3_000_000);
    }
}
