//! Virtual time: arrivals in order, each answer delivered at send time +
//! latency, other requests interleaving in between. Only requests in flight
//! are held (a slab and a heap of their answer times), so memory follows
//! the concurrency, not the duration. An answer that settles its request
//! without touching the strategy's state ([`Strategy::settled`]) is passed
//! on when it is known, at sending: its turn would change nothing.

use super::arrivals::Request;
use super::backend::{Answer, BackendSim};
use super::due::Due;
use super::metrics::Metrics;
use super::strategy::{ClientAnswer, Ctx, Layout, Step, Strategy};
use super::world::World;

/// How a run is set up besides the strategy.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Gateway instances per region and which share state; a request goes
    /// to its region's instances in turn.
    pub layout: Layout,
    pub seed: u64,
    /// Expected span of the arrivals (sizes the time series).
    pub duration_us: u64,
}

/// A route's backend as the engine looks it up twice per call: its global
/// index, the weight of its output tokens and its gateway region (if any),
/// flat, so a lookup is two loads instead of a walk through the world.
#[derive(Clone, Copy)]
struct Target {
    global: usize,
    output_weight: u64,
    home: Option<usize>,
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

/// One strategy's run: its backends, requests in flight and measurements.
pub struct Engine<'w, S: Strategy> {
    world: &'w World,
    /// Every route's [`Target`]s, one route after the other, and where
    /// each route's start (one flat table: a look-up is one index).
    targets: Vec<Target>,
    route_start: Vec<usize>,
    strategy: S,
    layout: Layout,
    /// Per region, which of its gateway instances takes the next request
    /// (they take turns).
    turn: Vec<usize>,
    backends: Vec<BackendSim>,
    /// Requests in flight, kept in place from arrival to the client's
    /// answer (a retry reuses its slot); `free` lists the slots not in use.
    slab: Vec<InFlight<S::Flight>>,
    free: Vec<usize>,
    /// Answers due.
    due: Due,
    metrics: Metrics,
    /// Whether this run counts the arrivals; with several runs over the
    /// same arrivals the first counts them for all ([`run_all`]).
    counts_arrivals: bool,
}

impl<S: Strategy> Engine<'_, S> {
    /// The backend at route index `i` of `req`'s route: its global index,
    /// what `req` costs there (prompt + max_tokens, weighted) and whether it
    /// is in the region of the gateway that took `req`.
    #[inline]
    fn backend_for(&self, req: &Request, i: usize) -> (usize, u64, bool) {
        let t = self.targets[self.route_start[req.route as usize] + i];
        let cost = u64::from(req.prompt) + u64::from(req.max_tokens) * t.output_weight;
        (t.global, cost, t.home == Some(usize::from(req.region)))
    }

    /// A request's call to its route's backend `i` at `now`: the backend's
    /// answer, counted.
    fn call(&mut self, req: &Request, i: usize, now: u64) -> Answer {
        let (g, cost, local) = self.backend_for(req, i);
        let answer = self.backends[g].attempt(now, cost, req.completion);
        self.metrics.upstream(g, req, cost, &answer, local);
        answer
    }

    /// Sends `req` to its route's backend `i` at `now`: the answer, to be
    /// delivered in its turn, or `None` when it settles the request
    /// ([`Strategy::settled`]) and was passed on to the client already.
    /// Inlined into both callers: as a call it returned the answer through
    /// memory (about 0.4 % of the benchmark's instructions).
    #[inline(always)]
    fn send(&mut self, req: &Request, i: usize, arrived_us: u64, now: u64) -> Option<Answer> {
        let answer = self.call(req, i, now);
        match S::settled(i, &answer) {
            Some(a) => {
                self.reply(&a, req, arrived_us, now + answer.latency_us);
                None
            }
            None => Some(answer),
        }
    }

    /// The client's answer to `req`, counted.
    fn reply(&mut self, a: &ClientAnswer, req: &Request, arrived_us: u64, now: u64) {
        let served_by = a.served_by.map(|i| self.backend_for(req, i));
        if let (false, Some((g, cost, local))) = (S::CALLS_BACKENDS, served_by) {
            // The ideal bound names the backend its priority cascade placed
            // the request on, served or not.
            self.metrics.served_without_call(g, req, cost, local);
        }
        let local = served_by.is_some_and(|(_, _, local)| local);
        self.metrics.client(a, req, local, arrived_us, now);
    }

    /// Delivers every answer due at or before `until`. Inlined, it asks
    /// the queue first: most arrivals find nothing due (the ideal bound
    /// and the strategies that pass successes on at once queue almost
    /// nothing), and they skip the call to the loop.
    #[inline(always)]
    fn deliver_until(&mut self, until: u64) {
        if self.due.peek().is_some_and(|(t, _)| t <= until) {
            self.deliver_due(until);
        }
    }

    /// [`Self::deliver_until`]'s loop.
    #[inline(never)]
    fn deliver_due(&mut self, until: u64) {
        while let Some((t, k)) = self.due.peek() {
            if t > until {
                break;
            }
            self.due.pop();
            let ctx = Ctx {
                world: self.world,
                now_us: t,
                instance: self.slab[k].instance,
            };
            let f = &mut self.slab[k];
            let step = self
                .strategy
                .answer(ctx, &f.req, &mut f.flight, f.backend, &f.answer);
            let (req, arrived_us) = (f.req, f.arrived_us);
            match step {
                Step::Send(i) => {
                    let Some(answer) = self.send(&req, i, arrived_us, t) else {
                        self.free.push(k);
                        continue;
                    };
                    let f = &mut self.slab[k];
                    f.backend = i;
                    f.answer = answer;
                    self.due.push(t + answer.latency_us, k);
                }
                Step::Reply(a) => {
                    self.free.push(k);
                    self.reply(&a, &req, arrived_us, t);
                }
            }
        }
    }

    /// The next request arrives (requests come in time order).
    fn arrive_one(&mut self, req: Request) {
        self.deliver_until(req.at_us);
        if self.counts_arrivals {
            self.metrics.arrival(&req);
        }
        let region = usize::from(req.region).min(self.turn.len() - 1);
        let k = self.turn[region];
        self.turn[region] = if k + 1 >= self.layout.instances {
            0
        } else {
            k + 1
        };
        let instance = self.layout.slot(region, k);
        let ctx = Ctx {
            world: self.world,
            now_us: req.at_us,
            instance,
        };
        let (flight, step) = self.strategy.arrive(ctx, &req);
        match step {
            Step::Send(i) => {
                let Some(answer) = self.send(&req, i, req.at_us, req.at_us) else {
                    return;
                };
                let slot = InFlight {
                    req,
                    arrived_us: req.at_us,
                    instance,
                    backend: i,
                    answer,
                    flight,
                };
                let k = match self.free.pop() {
                    Some(k) => {
                        self.slab[k] = slot;
                        k
                    }
                    None => {
                        self.slab.push(slot);
                        self.slab.len() - 1
                    }
                };
                self.due.push(req.at_us + answer.latency_us, k);
            }
            Step::Reply(a) => self.reply(&a, &req, req.at_us, req.at_us),
        }
    }
}

impl<'w, S: Strategy> Engine<'w, S> {
    pub fn new(world: &'w World, strategy: S, opts: &RunOptions) -> Self {
        let backends = world
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| BackendSim::new(b, world.backend_window_ms, opts.seed, i as u64))
            .collect();
        let mut route_start = Vec::with_capacity(world.routes.len());
        let mut targets = Vec::new();
        for r in &world.routes {
            route_start.push(targets.len());
            targets.extend(r.global.iter().map(|&g| Target {
                global: g,
                output_weight: u64::from(world.backends[g].quota.output_weight),
                home: world.home[g],
            }));
        }
        Engine {
            world,
            targets,
            route_start,
            strategy,
            layout: opts.layout,
            turn: vec![0; opts.layout.regions.max(1)],
            backends,
            slab: Vec::new(),
            free: Vec::new(),
            due: Due::default(),
            counts_arrivals: true,
            metrics: Metrics::new(
                world.backends.len(),
                world.gateway_regions.len(),
                opts.duration_us,
            ),
        }
    }
}

/// A run of any strategy, as [`run_all`] drives it.
pub trait Run {
    /// The next requests arrive (requests come in time order).
    fn arrive(&mut self, reqs: &[Request]);
    /// Delivers the answers still in flight and hands over the measurements.
    fn finish(self: Box<Self>) -> Metrics;
    /// Leaves the arrival counts to another run over the same arrivals.
    fn skip_arrival_counts(&mut self);
}

impl<S: Strategy> Run for Engine<'_, S> {
    fn arrive(&mut self, reqs: &[Request]) {
        for req in reqs {
            self.arrive_one(*req);
        }
    }

    fn finish(mut self: Box<Self>) -> Metrics {
        self.deliver_until(u64::MAX);
        self.metrics
    }

    fn skip_arrival_counts(&mut self) {
        self.counts_arrivals = false;
    }
}

/// Requests handed to each run at a time: each strategy's code and state
/// stay in the caches for a batch instead of taking turns per request.
const BATCH: usize = 2048;

/// Feeds one stream of arrivals to every run, so that they see the same
/// requests and the arrivals are drawn once (a batch at a time: memory
/// stays constant). The first run counts the arrivals (requests, demand)
/// and the others get its counts.
pub fn run_all<'w>(
    runs: Vec<Box<dyn Run + 'w>>,
    mut arrivals: impl Iterator<Item = Request>,
) -> Vec<Metrics> {
    let mut runs = runs;
    for r in runs.iter_mut().skip(1) {
        r.skip_arrival_counts();
    }
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        batch.extend(arrivals.by_ref().take(BATCH));
        if batch.is_empty() {
            break;
        }
        for r in runs.iter_mut() {
            r.arrive(&batch);
        }
    }
    let mut metrics: Vec<Metrics> = runs.into_iter().map(|r| r.finish()).collect();
    if let Some((first, rest)) = metrics.split_first_mut() {
        for m in rest {
            m.copy_arrivals(first);
        }
    }
    metrics
}

/// Runs `strategy` over `arrivals` and returns what it measured.
pub fn run<S: Strategy>(
    world: &World,
    strategy: S,
    arrivals: impl Iterator<Item = Request>,
    opts: &RunOptions,
) -> Metrics {
    let engine: Box<dyn Run + '_> = Box::new(Engine::new(world, strategy, opts));
    run_all(vec![engine], arrivals).pop().expect("one run")
}
