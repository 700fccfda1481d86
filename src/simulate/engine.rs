//! Virtual time: arrivals in order, each answer delivered at send time +
//! latency, other requests interleaving in between. Only requests in flight
//! are held (a slab and a heap of their answer times), so memory follows
//! the concurrency, not the duration.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::arrivals::Request;
use super::backend::{Answer, BackendSim};
use super::metrics::Metrics;
use super::strategy::{Ctx, Step, Strategy};
use super::world::World;

/// How a run is set up besides the strategy.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Gateway instances; requests go to them in turn.
    pub instances: usize,
    pub seed: u64,
    /// Expected span of the arrivals (sizes the time series).
    pub duration_us: u64,
}

struct InFlight<F> {
    req: Request,
    arrived_us: u64,
    instance: usize,
    /// Route index of the backend called and its answer.
    backend: usize,
    answer: Answer,
    flight: F,
}

struct Engine<'w, S: Strategy> {
    world: &'w World,
    backends: Vec<BackendSim>,
    slab: Vec<Option<InFlight<S::Flight>>>,
    free: Vec<usize>,
    /// (answer time, sequence, slab index): ties in send order.
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    seq: u64,
    metrics: Metrics,
}

impl<S: Strategy> Engine<'_, S> {
    /// Carries a request's step out: a call (its answer is scheduled) or the
    /// answer to the client.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        step: Step,
        req: Request,
        arrived_us: u64,
        instance: usize,
        flight: S::Flight,
        now: u64,
    ) {
        match step {
            Step::Send(i) => {
                let g = self.world.routes[req.route as usize].global[i];
                let w = u64::from(self.world.backends[g].quota.output_weight);
                let cost = u64::from(req.prompt) + u64::from(req.max_tokens) * w;
                let answer = self.backends[g].attempt(now, cost, req.completion);
                self.metrics.upstream(g, &req, cost, &answer);
                let slot = InFlight {
                    req,
                    arrived_us,
                    instance,
                    backend: i,
                    answer,
                    flight,
                };
                let k = match self.free.pop() {
                    Some(k) => {
                        self.slab[k] = Some(slot);
                        k
                    }
                    None => {
                        self.slab.push(Some(slot));
                        self.slab.len() - 1
                    }
                };
                self.seq += 1;
                self.heap
                    .push(Reverse((now + answer.latency_us, self.seq, k)));
            }
            Step::Reply(a) => {
                if !S::CALLS_BACKENDS {
                    // The ideal bound names the backend its priority
                    // cascade placed the request on, served or not.
                    if let Some(i) = a.served_by {
                        let g = self.world.routes[req.route as usize].global[i];
                        let w = u64::from(self.world.backends[g].quota.output_weight);
                        let cost = u64::from(req.prompt) + u64::from(req.max_tokens) * w;
                        self.metrics.served_without_call(g, &req, cost);
                    }
                }
                self.metrics.client(&a, arrived_us, now);
            }
        }
    }

    /// Delivers every answer due at or before `until`.
    fn deliver_until(&mut self, strategy: &mut S, until: u64) {
        while let Some(Reverse((t, _, k))) = self.heap.peek().copied() {
            if t > until {
                break;
            }
            self.heap.pop();
            let Some(mut f) = self.slab[k].take() else {
                continue;
            };
            self.free.push(k);
            let ctx = Ctx {
                world: self.world,
                now_us: t,
                instance: f.instance,
            };
            let step = strategy.answer(ctx, &f.req, &mut f.flight, f.backend, &f.answer);
            self.step(step, f.req, f.arrived_us, f.instance, f.flight, t);
        }
    }
}

/// Runs `strategy` over `arrivals` and returns what it measured.
pub fn run<S: Strategy>(
    world: &World,
    strategy: &mut S,
    arrivals: impl Iterator<Item = Request>,
    opts: &RunOptions,
) -> Metrics {
    let backends = world
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| BackendSim::new(b, world.backend_window_ms, opts.seed, i as u64))
        .collect();
    let mut e: Engine<S> = Engine {
        world,
        backends,
        slab: Vec::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
        seq: 0,
        metrics: Metrics::new(world.backends.len(), opts.duration_us),
    };
    let instances = opts.instances.max(1);
    for (n, req) in arrivals.enumerate() {
        e.deliver_until(strategy, req.at_us);
        e.metrics.arrival(&req);
        let instance = n % instances;
        let ctx = Ctx {
            world,
            now_us: req.at_us,
            instance,
        };
        let (flight, step) = strategy.arrive(ctx, &req);
        e.step(step, req, req.at_us, instance, flight, req.at_us);
    }
    e.deliver_until(strategy, u64::MAX);
    e.metrics
}
