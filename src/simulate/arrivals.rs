//! Client requests in arrival order, drawn lazily from a workload (nothing
//! is stored per request, so memory does not grow with the duration) or
//! read from a trace.

use super::random::Rng;
use super::trace::TraceReader;
use super::workload::{Arrivals, Load, Workload};

/// One client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Microseconds after the start.
    pub at_us: u64,
    /// Index of the route (client-facing deployment).
    pub route: u32,
    pub prompt: u32,
    pub max_tokens: u32,
    /// Tokens generated when served (at most `max_tokens`).
    pub completion: u32,
    /// Index of the gateway region that takes it ([`World::gateway_regions`](super::world::World)).
    pub region: u16,
}

impl Request {
    /// Tokens the request costs at admission on a Standard deployment,
    /// the demand figure lbbench uses.
    pub fn cost(&self) -> u64 {
        u64::from(self.prompt) + u64::from(self.max_tokens)
    }
}

/// Arrivals of one deployment: phases of (possibly time-varying) rate.
struct Generator {
    route: u32,
    load: Load,
    /// Seconds.
    t: f64,
    /// Phase boundaries (end times), seconds.
    phase_ends: Vec<f64>,
    /// Requests per second of each phase before curve and bursts.
    phase_rates: Vec<f64>,
    timing: Rng,
    sizes: Rng,
    /// Gateway region indexes and their cumulative shares, with the draws
    /// that pick one per request; `None`: every request at region 0.
    regions: Option<(Vec<u16>, Vec<f64>, Rng)>,
    /// (rate, next change, phase) in force until the next change.
    current: Option<(f64, f64, usize)>,
}

/// Stream numbers of the region draws, apart from the timing and size
/// streams (`2 × deployment` and `2 × deployment + 1`).
const REGION_STREAMS: u64 = 1 << 40;

impl Generator {
    fn new(
        route: u32,
        load: &Load,
        seed: u64,
        stream: u64,
        region_of: &dyn Fn(&str) -> u16,
    ) -> Generator {
        let mean_cost = load.prompt_tokens.mean() + load.max_tokens.mean();
        let mut end = 0.0;
        let mut phase_ends = Vec::new();
        let mut phase_rates = Vec::new();
        for p in &load.phases {
            end += p.duration.as_f64();
            phase_ends.push(end);
            phase_rates.push(match (p.requests_per_second, p.tokens_per_minute) {
                (Some(r), _) => r,
                (None, Some(tpm)) if mean_cost > 0.0 => tpm / 60.0 / mean_cost,
                _ => 0.0,
            });
        }
        Generator {
            route,
            load: load.clone(),
            t: 0.0,
            phase_ends,
            phase_rates,
            timing: Rng::new(seed, 2 * stream),
            sizes: Rng::new(seed, 2 * stream + 1),
            regions: load.gateway_regions.as_ref().map(|shares| {
                let mut sum = 0.0;
                let cumulative = shares
                    .values()
                    .map(|s| {
                        sum += s;
                        sum
                    })
                    .collect();
                let indexes = shares.keys().map(|r| region_of(r)).collect();
                (indexes, cumulative, Rng::new(seed, REGION_STREAMS + stream))
            }),
            current: None,
        }
    }

    fn phase_at(&self, t: f64) -> Option<usize> {
        self.phase_ends.iter().position(|end| t < *end)
    }

    /// The rate at `t`, the next instant it may change and the phase.
    fn rate_at(&self, t: f64) -> Option<(f64, f64, usize)> {
        let i = self.phase_at(t)?;
        let mut rate = self.phase_rates[i];
        let mut next = self.phase_ends[i];
        if let Some(curve) = &self.load.phases[i].daily_curve {
            let hour = (t / 3600.0).floor();
            rate *= curve[(hour as usize) % 24];
            next = next.min((hour + 1.0) * 3600.0);
        }
        for b in &self.load.bursts {
            let (start, end) = (b.start.as_f64(), b.start.as_f64() + b.duration.as_f64());
            if t >= start && t < end {
                rate *= b.multiplier;
                next = next.min(end);
            } else if start > t {
                next = next.min(start);
            }
        }
        Some((rate, next, i))
    }

    fn next(&mut self) -> Option<Request> {
        loop {
            let (rate, brk, i) = match self.current {
                Some(c) if self.t < c.1 => c,
                _ => {
                    let c = self.rate_at(self.t)?;
                    self.current = Some(c);
                    c
                }
            };
            if rate <= 0.0 {
                self.t = brk;
                continue;
            }
            let gap = match self.load.phases[i].arrivals {
                Arrivals::Poisson => self.timing.exponential(rate),
                Arrivals::Constant => 1.0 / rate,
            };
            // Poisson arrivals are memoryless: restarting the draw at a
            // change of rate is exact (lbbench's generator does the same at
            // phase ends).
            if self.t + gap >= brk {
                self.t = brk;
                continue;
            }
            self.t += gap;
            let prompt = self.load.prompt_tokens.draw(&mut self.sizes).max(1);
            let max_tokens = self.load.max_tokens.draw(&mut self.sizes);
            let completion = match &self.load.completion_tokens {
                Some(d) => d.draw(&mut self.sizes).min(max_tokens),
                None => max_tokens,
            };
            let region = match &mut self.regions {
                Some((indexes, cumulative, rng)) => indexes[rng.weighted(cumulative)],
                None => 0,
            };
            return Some(Request {
                at_us: super::to_u64(self.t * 1e6 + 0.5),
                route: self.route,
                prompt,
                max_tokens,
                completion,
                region,
            });
        }
    }

    fn duration(&self) -> f64 {
        self.phase_ends.last().copied().unwrap_or(0.0)
    }
}

/// Requests of every deployment of a workload, merged by arrival time.
pub struct Generated {
    gens: Vec<Generator>,
    heads: Vec<Option<Request>>,
}

impl Generated {
    /// `route_of` maps a deployment name to its route index, `region_of` a
    /// gateway region to its index (the workload was checked against the
    /// topology, so every name has one).
    pub fn new(
        w: &Workload,
        seed: u64,
        route_of: &dyn Fn(&str) -> u32,
        region_of: &dyn Fn(&str) -> u16,
    ) -> Generated {
        let mut gens: Vec<Generator> = w
            .deployments
            .iter()
            .enumerate()
            .map(|(i, (name, load))| {
                Generator::new(route_of(name), load, seed, i as u64, region_of)
            })
            .collect();
        let heads = gens.iter_mut().map(Generator::next).collect();
        Generated { gens, heads }
    }

    /// Seconds until the last phase of any deployment ends.
    pub fn duration(w: &Workload) -> f64 {
        w.deployments
            .values()
            .map(|l| Generator::new(0, l, 0, 0, &|_| 0).duration())
            .fold(0.0, f64::max)
    }
}

impl Iterator for Generated {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        let (i, _) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|r| (i, (r.at_us, i))))
            .min_by_key(|(_, k)| *k)?;
        let r = self.heads[i].take();
        self.heads[i] = self.gens[i].next();
        r
    }
}

/// Where requests come from: a workload's generators or a trace file.
pub enum Stream {
    Generated(Box<Generated>),
    Trace(Box<TraceReader>),
}

impl Iterator for Stream {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        match self {
            Stream::Generated(g) => g.next(),
            Stream::Trace(t) => t.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::workload::{self, Names};
    use crate::topology::Source;

    fn workload(text: &str) -> Workload {
        let names = Names {
            deployments: vec!["a", "b"],
            backends: vec![],
            regions: vec![],
            gateway_regions: vec!["north", "south"],
        };
        workload::load(Source::new("w.yaml", text), &names)
            .unwrap()
            .workload
    }

    #[test]
    fn poisson_rate_phases_and_bursts() {
        let w = workload(
            "deployments:\n  a:\n    phases: [{duration: 100, requests_per_second: 20}, {duration: 100, requests_per_second: 5}]\n    bursts: [{start: 150, duration: 10, multiplier: 4}]\n    prompt_tokens: {min: 10, max: 20}\n    max_tokens: 7\n",
        );
        let reqs: Vec<Request> = Generated::new(&w, 1, &|_| 0, &|_| 0).collect();
        let count = |a: f64, b: f64| {
            reqs.iter()
                .filter(|r| r.at_us as f64 >= a * 1e6 && (r.at_us as f64) < b * 1e6)
                .count() as f64
        };
        assert!((count(0.0, 100.0) - 2000.0).abs() < 150.0);
        assert!((count(100.0, 150.0) - 250.0).abs() < 50.0);
        assert!((count(150.0, 160.0) - 200.0).abs() < 45.0);
        assert!(reqs.windows(2).all(|p| p[0].at_us <= p[1].at_us));
        assert!(reqs
            .iter()
            .all(|r| (10..=20).contains(&r.prompt) && r.completion == 7));
        assert_eq!(Generated::duration(&w), 200.0);
    }

    #[test]
    fn constant_arrivals_tokens_per_minute_and_merge() {
        let w = workload(
            "deployments:\n  a:\n    phases: [{duration: 10, tokens_per_minute: 6000, arrivals: constant}]\n    prompt_tokens: 50\n    max_tokens: 50\n  b:\n    phases: [{duration: 10, requests_per_second: 3, arrivals: constant}]\n    prompt_tokens: 1\n    max_tokens: 1\n",
        );
        let reqs: Vec<Request> = Generated::new(&w, 1, &|n| u32::from(n == "b"), &|_| 0).collect();
        // 6000 tokens/min of 100-token requests: 1 per second.
        assert_eq!(reqs.iter().filter(|r| r.route == 0).count(), 9);
        assert_eq!(reqs.iter().filter(|r| r.route == 1).count(), 29);
        assert!(reqs.windows(2).all(|p| p[0].at_us <= p[1].at_us));
    }

    #[test]
    fn same_seed_same_arrivals() {
        let w = workload(
            "deployments:\n  a:\n    phases: [{duration: 5, requests_per_second: 50}]\n    prompt_tokens: {median: 300, sigma: 1}\n    max_tokens: {choices: [1, 2]}\n",
        );
        let a: Vec<Request> = Generated::new(&w, 9, &|_| 0, &|_| 0).collect();
        let b: Vec<Request> = Generated::new(&w, 9, &|_| 0, &|_| 0).collect();
        let c: Vec<Request> = Generated::new(&w, 10, &|_| 0, &|_| 0).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn gateway_regions_split_the_arrivals_by_their_shares() {
        let w = workload(
            "deployments:\n  a:\n    phases: [{duration: 100, requests_per_second: 40}]\n    prompt_tokens: 1\n    max_tokens: 1\n    gateway_regions: {north: 3, south: 1}\n  b:\n    phases: [{duration: 100, requests_per_second: 10}]\n    prompt_tokens: 1\n    max_tokens: 1\n",
        );
        let region_of = |r: &str| u16::from(r == "south") + 1;
        let reqs: Vec<Request> =
            Generated::new(&w, 4, &|n| u32::from(n == "b"), &region_of).collect();
        let count = |route: u32, region: u16| {
            reqs.iter()
                .filter(|r| r.route == route && r.region == region)
                .count() as f64
        };
        // 4000 requests of `a`, a quarter of them in the south.
        assert!((count(0, 2) - 1000.0).abs() < 100.0, "{}", count(0, 2));
        assert!((count(0, 1) - 3000.0).abs() < 150.0, "{}", count(0, 1));
        assert_eq!(count(0, 0), 0.0);
        // `b` names no region: all of it at the service's own.
        assert_eq!(
            count(1, 0) as usize,
            reqs.iter().filter(|r| r.route == 1).count()
        );
        // The draw of regions leaves timing and sizes as they were.
        let plain = workload(
            "deployments:\n  a:\n    phases: [{duration: 100, requests_per_second: 40}]\n    prompt_tokens: 1\n    max_tokens: 1\n",
        );
        let at: Vec<u64> = Generated::new(&plain, 4, &|_| 0, &|_| 0)
            .map(|r| r.at_us)
            .collect();
        let at_a: Vec<u64> = reqs
            .iter()
            .filter(|r| r.route == 0)
            .map(|r| r.at_us)
            .collect();
        assert_eq!(at, at_a);
        let again: Vec<Request> =
            Generated::new(&w, 4, &|n| u32::from(n == "b"), &region_of).collect();
        assert_eq!(reqs, again);
    }
}
