//! oailb's own algorithm: exactly `src/balancer` (`Attempts::next` and
//! `record`, `BackendState::send` and `on_reply`), driven in virtual time
//! as `serve` drives it: the state changes when a request is sent and when
//! its answer arrives, and other requests interleave in between.

use super::{ClientAnswer, Ctx, Instances, Layout, Step, Strategy};
use crate::balancer::{
    Attempts, BackendState, Cost, Delay, Limits, Reply, Signals, Step as Next, Ticket, Verdict,
};
use crate::simulate::arrivals::Request;
use crate::simulate::backend::Answer;
use crate::simulate::world::World;

pub struct Oailb {
    /// Per instance: per route, the state of each backend.
    states: Instances<Vec<Vec<BackendState>>>,
    /// Per route, the limits of each backend (the same in every region:
    /// their settings differ only in the gateway's region).
    limits: Vec<Vec<Limits>>,
}

pub struct Flight {
    run: Attempts,
    cost: Cost,
    ticket: Option<Ticket>,
}

impl Oailb {
    pub fn new(world: &World, layout: Layout, seed: u64) -> Oailb {
        let initial: Vec<Vec<BackendState>> = world
            .routes
            .iter()
            .map(|r| vec![BackendState::default(); r.backends.len()])
            .collect();
        Oailb {
            states: Instances::new(initial, layout, seed, 1),
            limits: world
                .routes
                .iter()
                .map(|r| Limits::of_route(&r.backends, &world.settings))
                .collect(),
        }
    }

    /// The next step of `req`; `last` is the answer just received (none
    /// at arrival), which a failure nobody else can fix passes on.
    fn next(
        &mut self,
        ctx: Ctx,
        req: &Request,
        f: &mut Flight,
        last: Option<(usize, &Answer)>,
    ) -> Step {
        let route = &ctx.world.routes[req.route as usize];
        let s = ctx.world.settings_in(req.region);
        let now = ctx.now_ms();
        let (states, rng) = self.states.get(ctx.instance);
        let states = &mut states[req.route as usize];
        match f.run.next(
            &route.backends,
            states,
            &self.limits[req.route as usize],
            &f.cost,
            now,
            &mut || rng.next_f64(),
            s,
        ) {
            Next::Forward(i) => {
                let q = &route.backends[i].quota;
                f.ticket = Some(states[i].send(q, f.cost.tokens_on(q), s, now));
                Step::Send(i)
            }
            Next::Reject { wait_ms } => Step::Reply(ClientAnswer::reject(wait_ms.max(1))),
            Next::PassOn(_) => match last {
                Some((i, a)) => Step::Reply(ClientAnswer::pass_on(i, a)),
                None => Step::Reply(ClientAnswer::status(502)),
            },
            Next::BadGateway => Step::Reply(ClientAnswer::status(502)),
        }
    }

    /// The backend model's answer as the balancer reads it: the status
    /// and the figures of the headers the model sends (`retry-after-ms`
    /// wins over `Retry-After`, as it does when the balancer reads them).
    fn reply(a: &Answer) -> Reply {
        let Some(status) = a.status() else {
            return Reply::NoAnswer;
        };
        let mut signals = Signals::default();
        if a.retry_after_seconds().is_some() {
            signals.delay = Some(Delay::Ms(a.retry_after_ms));
        }
        if a.has_quota_headers() {
            signals.remaining_requests = a.remaining_requests.map(|r| r as i64);
            signals.remaining_tokens = Some(a.remaining_tokens as i64);
        }
        Reply::Status { status, signals }
    }
}

impl Strategy for Oailb {
    type Flight = Flight;

    fn arrive(&mut self, ctx: Ctx, req: &Request) -> (Flight, Step) {
        let mut f = Flight {
            run: Attempts::new(),
            cost: Cost {
                prompt: u64::from(req.prompt),
                completion: u64::from(req.max_tokens),
            },
            ticket: None,
        };
        let step = self.next(ctx, req, &mut f, None);
        (f, step)
    }

    fn answer(
        &mut self,
        ctx: Ctx,
        req: &Request,
        f: &mut Flight,
        i: usize,
        answer: &Answer,
    ) -> Step {
        let reply = Self::reply(answer);
        let q = &ctx.world.routes[req.route as usize].backends[i].quota;
        let ticket = f.ticket.take().expect("an answer follows a send");
        let (states, _) = self.states.get(ctx.instance);
        let verdict = states[req.route as usize][i].on_reply(
            q,
            &ticket,
            &reply,
            ctx.world.settings_in(req.region),
            ctx.now_ms(),
        );
        f.run.record(i, verdict, answer.status().is_some());
        if verdict == Verdict::Done {
            return Step::Reply(ClientAnswer::pass_on(i, answer));
        }
        self.next(ctx, req, f, Some((i, answer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::{handle, Cache, Route};
    use crate::simulate::arrivals::Generated;
    use crate::simulate::backend::{BackendSim, Outcome};
    use crate::simulate::engine::{self, RunOptions};
    use crate::simulate::random::Rng;
    use crate::simulate::workload::{self, Latency, Names};
    use crate::topology::{self, Source};

    fn one_instance() -> Layout {
        Layout {
            regions: 1,
            instances: 1,
            scope: crate::simulate::StateScope::Instance,
        }
    }

    /// The answer as the mock backend's HTTP headers say it, read as
    /// `serve` reads a real answer.
    fn reply_as_headers(a: &Answer) -> Reply {
        let mut headers = Vec::new();
        if let Some(s) = a.retry_after_seconds() {
            headers.push(("Retry-After".to_string(), s.to_string()));
            headers.push(("retry-after-ms".to_string(), a.retry_after_ms.to_string()));
        }
        if a.has_quota_headers() {
            if let Some(r) = a.remaining_requests {
                headers.push(("x-ratelimit-remaining-requests".to_string(), r.to_string()));
            }
            headers.push((
                "x-ratelimit-remaining-tokens".to_string(),
                a.remaining_tokens.to_string(),
            ));
        }
        Reply::Status {
            status: a.status().expect("an HTTP answer"),
            signals: Signals::from_headers(&headers),
        }
    }

    /// The figures the simulator hands the balancer are those the
    /// balancer reads from the same answer's headers.
    #[test]
    fn direct_signals_equal_the_headers_read() {
        let answer = |outcome, retry_after_ms, remaining_requests| Answer {
            outcome,
            error_status: if outcome == Outcome::Failed { 500 } else { 0 },
            latency_us: 1,
            retry_after_ms,
            remaining_tokens: 1234,
            remaining_requests,
        };
        for a in [
            answer(Outcome::Served, 0, Some(8)),
            answer(Outcome::Served, 0, None),
            answer(Outcome::Throttled, 67, Some(0)),
            answer(Outcome::Throttled, 60_000, None),
            answer(Outcome::Failed, 0, Some(3)),
            answer(Outcome::Unavailable, 0, None),
        ] {
            assert_eq!(Oailb::reply(&a), reply_as_headers(&a), "{a:?}");
        }
        assert_eq!(
            Oailb::reply(&answer(Outcome::NoAnswer, 0, None)),
            Reply::NoAnswer
        );
    }

    /// With answers that take no time, virtual time has nothing to
    /// interleave: the simulator's oailb must then decide exactly as
    /// `balancer::handle`, the synchronous reference driver, does.
    #[test]
    fn without_latency_the_strategy_decides_as_handle() {
        let t = topology::load(Source::new(
            "spill.yaml",
            include_str!("../../../tests/simulate/spill.yaml"),
        ))
        .unwrap()
        .topology;
        let names = Names {
            deployments: vec!["gpt-4o"],
            backends: vec!["p1a", "p1b", "p2a"],
            regions: vec![],
            gateway_regions: vec![],
        };
        let w = workload::load(
            Source::new(
                "w.yaml",
                "deployments:\n  gpt-4o:\n    phases: [{duration: 20, requests_per_second: 40}]\n    prompt_tokens: {min: 50, max: 350}\n    max_tokens: {choices: [50, 100, 200]}\nbackends:\n  p1b: {error_rate: 0.3}\n",
            ),
            &names,
        )
        .unwrap()
        .workload;
        let mut world = World::new(&t, Some(&w));
        for b in &mut world.backends {
            b.latency = Latency {
                base_ms: 0.0,
                per_token_ms: 0.0,
                max_ms: 0.0,
                rejection_ms: 0.0,
                error_ms: 0.0,
            };
        }
        let seed = 3;
        let arrivals = || Generated::new(&w, seed, &|_| 0, &|_| 0);
        let opts = RunOptions {
            layout: one_instance(),
            seed,
            duration_us: 20_000_000,
        };
        let m = engine::run(
            &world,
            Oailb::new(&world, one_instance(), seed),
            arrivals(),
            &opts,
        );

        let mut sims: Vec<BackendSim> = world
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| BackendSim::new(b, world.backend_window_ms, seed, i as u64))
            .collect();
        let route = Route {
            cache_key: "k".into(),
            backends: world.routes[0].backends.clone(),
        };
        let mut store = Cache::default();
        let mut rng = Rng::new(seed, 1_000);
        let (mut ok, mut c429, mut calls) = (0u64, 0u64, vec![0u64; 3]);
        for req in arrivals() {
            let now = req.at_us;
            let out = handle(
                &mut store,
                &route,
                &Cost {
                    prompt: u64::from(req.prompt),
                    completion: u64::from(req.max_tokens),
                },
                now / 1000,
                &world.settings,
                &mut || rng.next_f64(),
                &mut |b| {
                    let g = route
                        .backends
                        .iter()
                        .position(|x| x.name == b.name)
                        .unwrap();
                    calls[g] += 1;
                    let cost = u64::from(req.prompt) + u64::from(req.max_tokens);
                    let a = sims[g].attempt(now, cost, req.completion);
                    match a.outcome {
                        Outcome::NoAnswer => Reply::NoAnswer,
                        _ => reply_as_headers(&a),
                    }
                },
            );
            match out.status {
                200 => ok += 1,
                429 => c429 += 1,
                _ => {}
            }
        }
        assert!(m.requests > 700);
        assert_eq!((m.ok, m.client_429), (ok, c429));
        let sim_calls: Vec<u64> = m.backends.iter().map(|b| b.calls).collect();
        assert_eq!(sim_calls, calls);
        assert!(m.backends[1].failed > 0, "the faults were exercised");
    }
}
