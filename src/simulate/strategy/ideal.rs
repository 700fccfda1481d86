//! The ideal bound, as lbbench's `report.py` computes it: a fluid balancer
//! that pools the buckets of every backend of a route, so a request is
//! served iff the pooled token and request buckets hold it (served =
//! min(demand, quota) at every instant), with no wasted call; success and
//! latency (the backend model's) come from it. Tokens per backend, the
//! first priority's use and the calls to lower priorities come from a
//! perfect *priority* balancer on the same arrivals (pooled first group,
//! then the next; inside a group the backend furthest below its share takes
//! it), as report.py's do. A backend in an outage leaves the pool with its
//! share of the pooled level, refills alone and rejoins at the end. Pooling
//! ignores fragmentation, so the bound is slightly optimistic. Backends
//! whose tokens weigh differently (provisioned output tokens) pool apart:
//! a request is served when any such pool holds its cost there.

use super::{ClientAnswer, Ctx, Step, Strategy};
use crate::simulate::arrivals::Request;
use crate::simulate::backend::{refilled, Answer};
use crate::simulate::to_f64;
use crate::simulate::world::{BackendSpec, World};

#[derive(Debug, Clone)]
struct Member {
    route_index: usize,
    /// Outage windows (µs).
    down: Vec<(u64, u64)>,
    tcap: f64,
    trate: f64,
    rcap: f64,
    rrate: f64,
    limits_requests: bool,
}

/// Pooled buckets of some backends, with members leaving during outages.
#[derive(Debug, Clone)]
struct FluidPool {
    members: Vec<Member>,
    tcap: f64,
    trate: f64,
    rcap: f64,
    rrate: f64,
    tl: f64,
    rl: f64,
    t: u64,
    /// Per member: (token level, request level, since) while out.
    out: Vec<Option<(f64, f64, u64)>>,
    /// (time µs, 0 = leave / 1 = rejoin, member), in time order, consumed.
    events: Vec<(u64, u8, usize)>,
    next_event: usize,
    unlimited_requests: bool,
}

impl FluidPool {
    fn new(members: Vec<(usize, &BackendSpec)>, window_ms: u64) -> FluidPool {
        let mut events = Vec::new();
        let members: Vec<Member> = members
            .into_iter()
            .enumerate()
            .map(|(k, (route_index, b))| {
                for (s, e, _) in &b.outages {
                    events.push((*s, 0, k));
                    events.push((*e, 1, k));
                }
                let q = b.quota;
                let w = window_ms as f64 / 60_000.0;
                Member {
                    route_index,
                    down: b.outages.iter().map(|(s, e, _)| (*s, *e)).collect(),
                    tcap: q.tokens_per_minute as f64 * w,
                    trate: q.tokens_per_minute as f64 / 60e6,
                    rcap: (q.requests_per_minute as f64 * w).max(1.0),
                    rrate: q.requests_per_minute as f64 / 60e6,
                    limits_requests: q.limits_requests(),
                }
            })
            .collect();
        events.sort();
        let mut p = FluidPool {
            tcap: members.iter().map(|m| m.tcap).sum(),
            trate: members.iter().map(|m| m.trate).sum(),
            rcap: members.iter().map(|m| m.rcap).sum(),
            rrate: members.iter().map(|m| m.rrate).sum(),
            unlimited_requests: members.iter().any(|m| !m.limits_requests),
            out: vec![None; members.len()],
            members,
            tl: 0.0,
            rl: 0.0,
            t: 0,
            events,
            next_event: 0,
        };
        p.tl = p.tcap;
        p.rl = p.rcap;
        p
    }

    fn advance(&mut self, t: u64) {
        if t > self.t {
            let span = t - self.t;
            self.tl = refilled(self.tl, span, self.trate, self.tcap);
            self.rl = refilled(self.rl, span, self.rrate, self.rcap);
            self.t = t;
        }
    }

    /// Takes a request of `cost` at `t` when the pool holds it. Inlined
    /// into the cascade, which takes up to once per pool per request;
    /// outages, rare, are applied out of line.
    #[inline]
    fn take(&mut self, t: u64, cost: f64) -> bool {
        if self.events.get(self.next_event).is_some_and(|e| e.0 <= t) {
            self.apply_events(t);
        }
        self.advance(t);
        let requests_ok = self.unlimited_requests || self.rl >= 1.0;
        if self.tcap > 0.0 && self.tl >= cost && requests_ok {
            self.tl -= cost;
            self.rl -= 1.0;
            return true;
        }
        false
    }

    /// Members leave and rejoin as their outages start and end, up to `t`.
    #[inline(never)]
    fn apply_events(&mut self, t: u64) {
        while let Some(&(te, kind, k)) = self.events.get(self.next_event) {
            if te > t {
                break;
            }
            self.next_event += 1;
            self.advance(te);
            let m = self.members[k].clone();
            if kind == 0 && self.out[k].is_none() {
                let ft = if self.tcap > 0.0 {
                    m.tcap / self.tcap
                } else {
                    0.0
                };
                let fr = if self.rcap > 0.0 {
                    m.rcap / self.rcap
                } else {
                    0.0
                };
                self.out[k] = Some((self.tl * ft, self.rl * fr, te));
                self.tl -= self.tl * ft;
                self.rl -= self.rl * fr;
                self.tcap -= m.tcap;
                self.trate -= m.trate;
                self.rcap -= m.rcap;
                self.rrate -= m.rrate;
            } else if kind == 1 {
                if let Some((lt, lr, since)) = self.out[k].take() {
                    let dt = (te - since) as f64;
                    self.tcap += m.tcap;
                    self.trate += m.trate;
                    self.rcap += m.rcap;
                    self.rrate += m.rrate;
                    self.tl += m.tcap.min(lt + dt * m.trate);
                    self.rl += m.rcap.min(lr + dt * m.rrate);
                }
            }
        }
    }

    /// The member furthest below its share of what this pool served at `t`
    /// (a member that is up, when any is).
    fn serving(&self, served: &[f64], t: u64) -> usize {
        // Served so far against what the member offered while up.
        let ratio = |m: &Member| {
            let down: u64 = m
                .down
                .iter()
                .map(|(s, e)| (*e).min(t).saturating_sub(*s))
                .sum();
            let offered = m.tcap + m.trate * to_f64(t.saturating_sub(down));
            served[m.route_index] / offered.max(f64::MIN_POSITIVE)
        };
        let mut best: Option<(bool, f64, usize)> = None;
        for (k, m) in self.members.iter().enumerate() {
            let key = (self.out[k].is_some(), ratio(m));
            if best.is_none_or(|(down, r, _)| key < (down, r)) {
                best = Some((key.0, key.1, m.route_index));
            }
        }
        best.map_or(0, |b| b.2)
    }
}

/// Pools of backends whose tokens weigh alike, each with that weight.
type Pools = Vec<(u64, FluidPool)>;

fn pools(members: &[(usize, &BackendSpec)], window_ms: u64) -> Pools {
    let mut weights: Vec<u32> = members.iter().map(|(_, b)| b.quota.output_weight).collect();
    weights.sort_unstable();
    weights.dedup();
    weights
        .into_iter()
        .map(|w| {
            let same = members
                .iter()
                .filter(|(_, b)| b.quota.output_weight == w)
                .cloned()
                .collect();
            (u64::from(w), FluidPool::new(same, window_ms))
        })
        .collect()
}

/// Takes the request from the first pool that holds it; the pool's index.
#[inline]
fn take(pools: &mut Pools, t: u64, req: &Request) -> Option<usize> {
    pools.iter_mut().position(|(w, p)| {
        let cost = to_f64(u64::from(req.prompt) + u64::from(req.max_tokens) * *w);
        p.take(t, cost)
    })
}

struct RoutePools {
    all: Pools,
    /// By priority, lowest number first.
    levels: Vec<Pools>,
    /// Tokens assigned per route backend (for the shares).
    served: Vec<f64>,
}

pub struct Ideal {
    routes: Vec<RoutePools>,
}

impl Ideal {
    pub fn new(world: &World) -> Ideal {
        let routes = world
            .routes
            .iter()
            .map(|r| {
                let specs: Vec<(usize, &BackendSpec)> = r
                    .global
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (i, &world.backends[*g]))
                    .collect();
                let mut prios: Vec<u32> = specs.iter().map(|(_, b)| b.priority).collect();
                prios.sort_unstable();
                prios.dedup();
                let window = world.backend_window_ms;
                RoutePools {
                    all: pools(&specs, window),
                    levels: prios
                        .iter()
                        .map(|p| {
                            let group: Vec<_> = specs
                                .iter()
                                .filter(|(_, b)| b.priority == *p)
                                .cloned()
                                .collect();
                            pools(&group, window)
                        })
                        .collect(),
                    served: vec![0.0; specs.len()],
                }
            })
            .collect();
        Ideal { routes }
    }
}

impl Strategy for Ideal {
    type Flight = ();
    const CALLS_BACKENDS: bool = false;

    fn arrive(&mut self, ctx: Ctx, req: &Request) -> ((), Step) {
        let r = &mut self.routes[req.route as usize];
        let served = take(&mut r.all, ctx.now_us, req).is_some();
        // The priority cascade runs for every request, as report.py's does.
        let mut by = None;
        for level in &mut r.levels {
            if let Some(k) = take(level, ctx.now_us, req) {
                let i = level[k].1.serving(&r.served, ctx.now_us);
                let w = level[k].0;
                r.served[i] += to_f64(u64::from(req.prompt) + u64::from(req.max_tokens) * w);
                by = Some(i);
                break;
            }
        }
        if !served {
            // The cascade's placement still counts toward the per-backend
            // figures, as report.py's does.
            return (
                (),
                Step::Reply(ClientAnswer {
                    served_by: by,
                    ..ClientAnswer::reject(1)
                }),
            );
        }
        // Service time of the backend that would serve it.
        let i = by.unwrap_or(0);
        let b = &ctx.world.backends[ctx.world.routes[req.route as usize].global[i]];
        (
            (),
            Step::Reply(ClientAnswer {
                status: 200,
                retry_after_ms: None,
                served_by: by,
                extra_latency_us: b.latency.served_us(req.completion),
            }),
        )
    }

    fn answer(&mut self, _: Ctx, _: &Request, _: &mut (), _: usize, _: &Answer) -> Step {
        unreachable!("the ideal bound sends nothing")
    }
}
