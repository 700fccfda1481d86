//! What one strategy's run measured, in constant memory: counters, a
//! latency histogram of 1 ms buckets, and a time series of at most
//! [`MAX_BINS`] bins, whatever the simulated duration.

use super::arrivals::Request;
use super::backend::{Answer, Outcome};
use super::strategy::ClientAnswer;

/// Bins of the time series (the plot's resolution).
pub const MAX_BINS: u64 = 600;
/// Latencies above this many ms share the last histogram bucket.
const HISTOGRAM_MS: usize = 120_000;

/// Client latencies in 1 ms buckets.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    n: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; HISTOGRAM_MS + 1],
            n: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        let ms = ((us + 500) / 1000).min(HISTOGRAM_MS as u64) as usize;
        self.counts[ms] = self.counts[ms].saturating_add(1);
        self.n += 1;
    }

    /// The `q` quantile in ms, interpolated between neighbouring samples as
    /// lbbench's report does; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let k = (self.n - 1) as f64 * q;
        let (lo, hi) = (k.floor() as u64, k.ceil() as u64);
        let (a, b) = (self.nth(lo), self.nth(hi));
        Some(a + (b - a) * (k - lo as f64))
    }

    /// The value of the `k`-th smallest sample (0-based).
    fn nth(&self, k: u64) -> f64 {
        let mut seen = 0u64;
        for (ms, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen > k {
                return ms as f64;
            }
        }
        HISTOGRAM_MS as f64
    }
}

/// Upstream calls to one backend and what they did.
#[derive(Debug, Clone, Default)]
pub struct BackendCounters {
    pub calls: u64,
    pub served: u64,
    pub throttled: u64,
    /// 5xx answers (injected errors and outage 503s).
    pub failed: u64,
    /// Of `failed`: errors injected on admitted requests (`error_rate`).
    pub failed_injected: u64,
    pub no_answer: u64,
    /// Admission cost of the served requests (prompt + max_tokens, weighted):
    /// what they took from the quota.
    pub quota_used: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What the gateways of one region saw.
#[derive(Debug, Clone, Default)]
pub struct RegionCounters {
    pub requests: u64,
    pub ok: u64,
    /// Of `ok`: answered by a backend in the gateway's own region.
    pub ok_local: u64,
    pub client_429: u64,
    pub upstream_calls: u64,
    pub upstream_429: u64,
    pub upstream_5xx: u64,
}

/// Tokens over time, per backend, with demand and client 429s.
#[derive(Debug, Clone)]
pub struct Series {
    pub bin_us: u64,
    pub bins: usize,
    /// Tokens asked per bin (prompt + completion of every arrival).
    pub demand: Vec<f64>,
    /// Tokens served per bin, per backend, one row of `bins` per backend
    /// ([`Self::served`]): one flat table, so that counting a served
    /// request is one look-up per row kind.
    served: Vec<f64>,
    pub client_429: Vec<u64>,
    /// Per gateway region: tokens served to its requests, and of those the
    /// ones a backend in the region itself served (rows of `bins`, as
    /// `served`; [`Self::region_served`], [`Self::region_local`]).
    region_served: Vec<f64>,
    region_local: Vec<f64>,
    /// The last bin looked up and its start: times come nearly in order,
    /// so most look-ups skip the division.
    last: (usize, u64),
}

impl Series {
    pub fn new(duration_us: u64, backends: usize, regions: usize) -> Series {
        let duration_s = duration_us.div_ceil(1_000_000).max(1);
        let bin_s = duration_s.div_ceil(MAX_BINS).max(1);
        let bins = duration_s.div_ceil(bin_s) as usize;
        Series {
            bin_us: bin_s * 1_000_000,
            bins,
            demand: vec![0.0; bins],
            served: vec![0.0; bins * backends],
            client_429: vec![0; bins],
            region_served: vec![0.0; bins * regions],
            region_local: vec![0.0; bins * regions],
            last: (0, 0),
        }
    }

    /// Tokens served per bin by backend `g`.
    pub fn served(&self, g: usize) -> &[f64] {
        &self.served[g * self.bins..][..self.bins]
    }

    /// Tokens served per bin to the requests of gateway region `r`.
    pub fn region_served(&self, r: usize) -> &[f64] {
        &self.region_served[r * self.bins..][..self.bins]
    }

    /// Of [`Self::region_served`], those a backend in the region served.
    pub fn region_local(&self, r: usize) -> &[f64] {
        &self.region_local[r * self.bins..][..self.bins]
    }

    fn bin(&mut self, t_us: u64) -> usize {
        let (bin, start) = self.last;
        if t_us.wrapping_sub(start) < self.bin_us {
            return bin;
        }
        let bin = (t_us / self.bin_us) as usize;
        if bin < self.bins {
            self.last = (bin, bin as u64 * self.bin_us);
            bin
        } else {
            self.bins - 1
        }
    }
}

#[derive(Debug, Clone)]
pub struct Metrics {
    pub requests: u64,
    /// Admission cost (prompt + max_tokens) of every arrival.
    pub demand_cost: u64,
    pub ok: u64,
    pub client_429: u64,
    pub client_429_with_retry_after: u64,
    pub client_5xx: u64,
    pub client_other: u64,
    /// Successful requests, arrival to answer, retries included.
    pub latency: Histogram,
    pub backends: Vec<BackendCounters>,
    /// Per gateway region ([`World::gateway_regions`](super::world::World)).
    pub regions: Vec<RegionCounters>,
    pub series: Series,
    /// Time of the last event, µs.
    pub end_us: u64,
}

impl Metrics {
    pub fn new(backends: usize, regions: usize, duration_us: u64) -> Metrics {
        Metrics {
            requests: 0,
            demand_cost: 0,
            ok: 0,
            client_429: 0,
            client_429_with_retry_after: 0,
            client_5xx: 0,
            client_other: 0,
            latency: Histogram::default(),
            backends: vec![BackendCounters::default(); backends],
            regions: vec![RegionCounters::default(); regions.max(1)],
            series: Series::new(duration_us, backends, regions.max(1)),
            end_us: 0,
        }
    }

    pub fn arrival(&mut self, r: &Request) {
        self.requests += 1;
        self.region(r).requests += 1;
        self.demand_cost += r.cost();
        let b = self.series.bin(r.at_us);
        self.series.demand[b] += f64::from(r.prompt) + f64::from(r.completion);
    }

    /// The arrival counts of another run over the same arrivals (the
    /// counts [`Self::arrival`] keeps).
    pub fn copy_arrivals(&mut self, from: &Metrics) {
        self.requests = from.requests;
        self.demand_cost = from.demand_cost;
        for (r, f) in self.regions.iter_mut().zip(&from.regions) {
            r.requests = f.requests;
        }
        self.series.demand.clone_from(&from.series.demand);
    }

    /// An upstream call to backend `g` (global index) with `quota_cost`
    /// tokens, and its answer; `local`: the backend is in the region of the
    /// gateway that took `r`. Served tokens count in the bin of the
    /// request's arrival, so the plot compares them with the demand.
    pub fn upstream(&mut self, g: usize, r: &Request, quota_cost: u64, a: &Answer, local: bool) {
        let ri = self.region_index(r);
        let region = &mut self.regions[ri];
        region.upstream_calls += 1;
        match a.outcome {
            Outcome::Throttled => region.upstream_429 += 1,
            Outcome::Failed | Outcome::Unavailable => region.upstream_5xx += 1,
            _ => {}
        }
        let c = &mut self.backends[g];
        c.calls += 1;
        match a.outcome {
            Outcome::Served => self.served(g, ri, r, quota_cost, local),
            Outcome::Throttled => c.throttled += 1,
            Outcome::Failed => {
                c.failed += 1;
                c.failed_injected += 1;
            }
            Outcome::Unavailable => c.failed += 1,
            Outcome::NoAnswer => c.no_answer += 1,
        }
    }

    /// A request the ideal bound served on backend `g` without a call.
    pub fn served_without_call(&mut self, g: usize, r: &Request, quota_cost: u64, local: bool) {
        self.backends[g].calls += 1;
        self.served(g, self.region_index(r), r, quota_cost, local);
    }

    /// A served request of gateway region `ri` ([`Self::region_index`]).
    fn served(&mut self, g: usize, ri: usize, r: &Request, quota_cost: u64, local: bool) {
        let c = &mut self.backends[g];
        c.served += 1;
        c.quota_used += quota_cost;
        c.input_tokens += u64::from(r.prompt);
        c.output_tokens += u64::from(r.completion);
        let bin = self.series.bin(r.at_us);
        let tokens = f64::from(r.prompt) + f64::from(r.completion);
        let bins = self.series.bins;
        self.series.served[g * bins + bin] += tokens;
        let region = ri * bins + bin;
        self.series.region_served[region] += tokens;
        if local {
            self.series.region_local[region] += tokens;
        }
    }

    /// The gateway's own region's counters for `r`.
    fn region(&mut self, r: &Request) -> &mut RegionCounters {
        let i = self.region_index(r);
        &mut self.regions[i]
    }

    /// The index of `r`'s gateway region in [`Self::regions`] and the
    /// series' per-region rows (a region past the list counts as the last).
    fn region_index(&self, r: &Request) -> usize {
        usize::from(r.region).min(self.regions.len() - 1)
    }

    /// The client's answer to `r`; `local`: a backend in the region of the
    /// gateway that took it served it.
    pub fn client(
        &mut self,
        a: &ClientAnswer,
        r: &Request,
        local: bool,
        arrived_us: u64,
        now_us: u64,
    ) {
        let done = now_us + a.extra_latency_us;
        self.end_us = self.end_us.max(done);
        let region = self.region(r);
        match a.status {
            200..=299 => region.ok += 1,
            429 => region.client_429 += 1,
            _ => {}
        }
        if local && (200..=299).contains(&a.status) {
            region.ok_local += 1;
        }
        match a.status {
            200..=299 => {
                self.ok += 1;
                self.latency.record(done - arrived_us);
            }
            429 => {
                self.client_429 += 1;
                if a.retry_after_ms.is_some() {
                    self.client_429_with_retry_after += 1;
                }
                let b = self.series.bin(arrived_us);
                self.series.client_429[b] += 1;
            }
            500..=599 => self.client_5xx += 1,
            _ => self.client_other += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_lbbench() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in [10, 20, 30, 40] {
            h.record(ms * 1000);
        }
        assert_eq!(h.quantile(0.5), Some(25.0));
        assert_eq!(h.quantile(0.0), Some(10.0));
        assert_eq!(h.quantile(1.0), Some(40.0));
        h.record(10_000_000_000);
        assert_eq!(h.quantile(1.0), Some(120_000.0));
    }

    #[test]
    fn series_has_at_most_max_bins() {
        let s = Series::new(3_600_000_000, 2, 1);
        assert_eq!((s.bins, s.bin_us), (600, 6_000_000));
        let mut s = Series::new(25_000_000, 2, 1);
        assert_eq!((s.bins, s.bin_us), (25, 1_000_000));
        assert_eq!(s.bin(99_000_000), 24);
        // The remembered bin answers only for its own span.
        for (t, bin) in [
            (3_500_000, 3),
            (3_999_999, 3),
            (4_000_000, 4),
            (2_000_000, 2),
        ] {
            assert_eq!(s.bin(t), bin, "{t}");
        }
        assert_eq!(s.bin(25_000_000), 24);
        assert_eq!(s.bin(0), 0);
    }
}
