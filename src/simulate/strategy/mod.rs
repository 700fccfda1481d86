//! The balancing strategies the simulator compares on the same arrivals.
//! Each keeps its own gateway state (per instance, or shared) and turns a
//! request's arrival and each backend answer into the next step; the engine
//! owns time, the backends and the measurements.

mod ideal;
mod oailb;
mod pool;
mod reference;

pub use ideal::Ideal;
pub use oailb::Oailb;
pub use pool::Pool;
pub use reference::Reference;

use super::arrivals::Request;
use super::backend::Answer;
use super::random::Rng;
use super::world::World;
use super::StateScope;

/// The strategies by name, in the order reports list them.
pub const NAMES: [&str; 4] = ["oailb", "reference", "pool", "ideal"];

/// What the gateway does next with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send it to the backend at this index of its route.
    Send(usize),
    /// Answer the client.
    Reply(ClientAnswer),
}

/// What the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAnswer {
    /// A whole word although statuses fit 16 bits: the answer is handed
    /// on through memory, and a 2-byte field read as 4 bytes (it may be,
    /// with the padding after it) cannot be forwarded from its store.
    pub status: u32,
    /// The `Retry-After` the client gets with a 429, in ms (`None`: no header).
    pub retry_after_ms: Option<u64>,
    /// Route index of the backend whose answer it is.
    pub served_by: Option<usize>,
    /// Time the answer takes beyond the attempts the engine timed (the
    /// ideal balancer's service time).
    pub extra_latency_us: u64,
}

impl ClientAnswer {
    pub fn reject(wait_ms: u64) -> ClientAnswer {
        ClientAnswer {
            status: 429,
            retry_after_ms: Some(wait_ms),
            served_by: None,
            extra_latency_us: 0,
        }
    }

    /// The backend's own answer, passed on as it came (its `Retry-After`
    /// in whole seconds on a 429).
    pub fn pass_on(i: usize, a: &Answer) -> ClientAnswer {
        ClientAnswer {
            status: u32::from(a.status().unwrap_or(502)),
            retry_after_ms: a.retry_after_seconds().map(|s| s * 1000),
            served_by: Some(i),
            extra_latency_us: 0,
        }
    }

    pub fn status(status: u32) -> ClientAnswer {
        ClientAnswer {
            status,
            retry_after_ms: None,
            served_by: None,
            extra_latency_us: 0,
        }
    }
}

/// Where the engine is when it asks a strategy.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub world: &'a World,
    pub now_us: u64,
    /// The gateway instance that took the request: its slot among every
    /// region's instances ([`Layout::slot`]).
    pub instance: usize,
}

impl Ctx<'_> {
    pub fn now_ms(&self) -> u64 {
        self.now_us / 1000
    }
}

pub trait Strategy {
    /// What the strategy remembers about one request between its steps.
    type Flight;
    /// Whether the engine should count answers of this strategy as upstream
    /// calls (the ideal bound makes none).
    const CALLS_BACKENDS: bool = true;
    fn arrive(&mut self, ctx: Ctx, req: &Request) -> (Self::Flight, Step);
    /// The client's answer when the backend answer `a` from route index
    /// `i` settles the request without touching the strategy's state or
    /// its random numbers, as [`Self::answer`] would give it; `None` when
    /// the answer must wait its turn. The engine passes such answers on at
    /// once instead of queueing them: the order in which they arrive then
    /// changes nothing, and the answers due stay few.
    fn settled(_i: usize, _a: &Answer) -> Option<ClientAnswer> {
        None
    }
    /// The backend at route index `i` answered (or did not).
    fn answer(
        &mut self,
        ctx: Ctx,
        req: &Request,
        flight: &mut Self::Flight,
        i: usize,
        answer: &Answer,
    ) -> Step;
}

/// The gateway instances: `instances` in each of `regions`, and which of
/// them keep one balancer state together.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub regions: usize,
    /// Per region.
    pub instances: usize,
    pub scope: StateScope,
}

impl Layout {
    /// Instances in all.
    pub fn slots(&self) -> usize {
        self.regions.max(1) * self.instances.max(1)
    }

    /// The slot of a region's `k`-th instance.
    pub fn slot(&self, region: usize, k: usize) -> usize {
        region * self.instances.max(1) + k
    }

    /// The state a slot reads and writes.
    fn copy_of(&self, slot: usize) -> usize {
        match self.scope {
            StateScope::Shared => 0,
            StateScope::Region => slot / self.instances.max(1),
            StateScope::Instance => slot,
        }
    }

    fn copies(&self) -> usize {
        match self.scope {
            StateScope::Shared => 1,
            StateScope::Region => self.regions.max(1),
            StateScope::Instance => self.slots(),
        }
    }
}

/// State of a strategy per gateway instance, per region or shared (an
/// external cache), as the [`Layout`] says; random numbers per instance.
#[derive(Debug, Clone)]
pub struct Instances<T> {
    copies: Vec<T>,
    rngs: Vec<Rng>,
    /// Per slot, the index of the state it uses ([`Layout::copy_of`]),
    /// looked up instead of divided out on every request.
    copy_of: Vec<usize>,
}

impl<T: Clone> Instances<T> {
    pub fn new(initial: T, layout: Layout, seed: u64, stream: u64) -> Self {
        Instances {
            copies: vec![initial; layout.copies()],
            rngs: (0..layout.slots())
                .map(|i| Rng::new(seed, stream * 1_000 + i as u64))
                .collect(),
            copy_of: (0..layout.slots()).map(|i| layout.copy_of(i)).collect(),
        }
    }

    /// The state instance `i` sees and its random numbers.
    pub fn get(&mut self, i: usize) -> (&mut T, &mut Rng) {
        (&mut self.copies[self.copy_of[i]], &mut self.rngs[i])
    }
}

/// The marks of one route's backends (the time, µs, until which each is
/// out of rotation: a 429's delay, an open breaker) and what the reference
/// and pool strategies ask of them on every attempt: the backends in
/// rotation, and among them those of the lowest priority number with their
/// weights. That answer changes only when a mark is set or one runs out,
/// and marks are rare next to attempts, so it is kept with the span of
/// time it holds for instead of being worked out again each time.
#[derive(Debug, Clone)]
pub(super) struct Rotation {
    until: Vec<u64>,
    /// `None`: a mark changed since it was worked out.
    view: Option<View>,
}

/// The backends in rotation, for times in `[from, to)`.
#[derive(Debug, Clone)]
pub(super) struct View {
    from: u64,
    to: u64,
    /// How many backends are in rotation.
    pub count: usize,
    /// The route indexes and weights of those with the lowest priority
    /// number, in route order, and their total weight (empty, 0: none is
    /// in rotation).
    pub members: Vec<(usize, u64)>,
    pub weight: u64,
}

impl Rotation {
    pub fn new(backends: usize) -> Rotation {
        Rotation {
            until: vec![0; backends],
            view: None,
        }
    }

    pub fn until(&self, i: usize) -> u64 {
        self.until[i]
    }

    /// Backend `i` is out of rotation until `until` (µs).
    pub fn mark(&mut self, i: usize, until: u64) {
        self.until[i] = until;
        self.view = None;
    }

    /// The backends in rotation at `now` (`until[i] <= now`) among the
    /// route's `backends`.
    pub fn at(&mut self, backends: &[crate::balancer::Backend], now: u64) -> &View {
        let fresh = matches!(&self.view, Some(v) if v.from <= now && now < v.to);
        if !fresh {
            self.view = Some(self.work_out(backends, now));
        }
        self.view.as_ref().expect("just worked out")
    }

    fn work_out(&self, backends: &[crate::balancer::Backend], now: u64) -> View {
        let mut view = View {
            from: now,
            to: u64::MAX,
            count: 0,
            members: Vec::new(),
            weight: 0,
        };
        let mut best = u32::MAX;
        for (i, (b, &u)) in backends.iter().zip(&self.until).enumerate() {
            if u > now {
                // Out until then: the answer changes when it rejoins.
                view.to = view.to.min(u);
                continue;
            }
            view.count += 1;
            if b.priority < best {
                best = b.priority;
                view.members.clear();
                view.weight = 0;
            }
            if b.priority == best {
                let weight = u64::from(b.weight.max(1));
                view.members.push((i, weight));
                view.weight += weight;
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::backend::Outcome;
    use crate::simulate::StateScope;
    use crate::topology::{self, Source};

    /// An answer [`Strategy::settled`] settles is the one [`Strategy::answer`]
    /// gives, and giving it changes neither the strategy's state nor its
    /// random numbers: the engine may then pass it on out of turn.
    fn settles_as_answer_would<S: Strategy + std::fmt::Debug>(make: impl Fn(&World) -> S) {
        let t = topology::load(Source::new(
            "spill.yaml",
            include_str!("../../../tests/simulate/spill.yaml"),
        ))
        .unwrap()
        .topology;
        let world = World::new(&t, None);
        let req = Request {
            at_us: 1_000_000,
            route: 0,
            prompt: 300,
            max_tokens: 200,
            completion: 150,
            region: 0,
        };
        let mut settled = 0;
        for outcome in [
            Outcome::Served,
            Outcome::Throttled,
            Outcome::Failed,
            Outcome::Unavailable,
            Outcome::NoAnswer,
        ] {
            let a = Answer {
                outcome,
                error_status: if outcome == Outcome::Failed { 500 } else { 0 },
                latency_us: 175_000,
                retry_after_ms: if outcome == Outcome::Throttled {
                    2_500
                } else {
                    0
                },
                remaining_tokens: 1_000,
                remaining_requests: Some(3),
            };
            let mut s = make(&world);
            let ctx = |now_us| Ctx {
                world: &world,
                now_us,
                instance: 0,
            };
            let (mut flight, step) = s.arrive(ctx(req.at_us), &req);
            let Step::Send(i) = step else {
                panic!("a fresh strategy sends")
            };
            let Some(client) = S::settled(i, &a) else {
                continue;
            };
            settled += 1;
            let before = format!("{s:?}");
            let step = s.answer(ctx(req.at_us + a.latency_us), &req, &mut flight, i, &a);
            assert_eq!(step, Step::Reply(client), "{outcome:?}");
            assert_eq!(format!("{s:?}"), before, "{outcome:?} changed the state");
        }
        assert_eq!(settled, 1, "only a success settles at once");
    }

    #[test]
    fn settled_answers_change_nothing() {
        let layout = Layout {
            regions: 1,
            instances: 1,
            scope: StateScope::Instance,
        };
        settles_as_answer_would(|w| Pool::new(w, layout, 7));
        settles_as_answer_would(|w| Reference::new(w, layout, 7));
    }

    /// The kept view is what looking at every mark at that instant gives,
    /// across marks set, marks running out and priorities mixed in any
    /// order.
    #[test]
    fn kept_rotation_equals_looking_at_every_mark() {
        let backend = |priority, weight| crate::balancer::Backend {
            name: String::new(),
            priority,
            weight,
            url: String::new(),
            deployment: String::new(),
            quota: crate::balancer::Quota::UNKNOWN,
            region: None,
        };
        let backends = vec![
            backend(2, 1),
            backend(1, 3),
            backend(3, 1),
            backend(1, 0),
            backend(2, 2),
            backend(1, 1),
        ];
        let mut rotation = Rotation::new(backends.len());
        let mut until = vec![0u64; backends.len()];
        let mut rng = Rng::new(5, 0);
        let (mut now, mut worked_out) = (0u64, 0);
        for _ in 0..20_000 {
            now += rng.range(0, 3);
            if rng.range(0, 9) == 0 {
                let i = rng.range(0, backends.len() as u64 - 1) as usize;
                until[i] = now + rng.range(0, 40);
                rotation.mark(i, until[i]);
            }
            if rotation.view.as_ref().is_none_or(|v| now >= v.to) {
                worked_out += 1;
            }
            let view = rotation.at(&backends, now).clone();
            let up: Vec<usize> = (0..backends.len()).filter(|&i| until[i] <= now).collect();
            let best = up.iter().map(|&i| backends[i].priority).min();
            let members: Vec<(usize, u64)> = up
                .iter()
                .filter(|&&i| Some(backends[i].priority) == best)
                .map(|&i| (i, u64::from(backends[i].weight.max(1))))
                .collect();
            assert_eq!(view.count, up.len(), "at {now}");
            assert_eq!(view.members, members, "at {now}");
            assert_eq!(view.weight, members.iter().map(|m| m.1).sum::<u64>());
        }
        assert!(worked_out < 10_000, "the view is kept: {worked_out}");
        assert!(worked_out > 1_000, "marks changed it: {worked_out}");
    }
}
