//! oailb's own algorithm: exactly `src/balancer` (`Attempts::next` and
//! `record`, `BackendState::send` and `on_reply`), driven in virtual time
//! as `serve` drives it: the state changes when a request is sent and when
//! its answer arrives, and other requests interleave in between.

use super::{ClientAnswer, Ctx, Instances, Layout, Step, Strategy};
use crate::balancer::{Attempts, BackendState, Cost, Reply, Step as Next, Ticket, Verdict};
use crate::simulate::arrivals::Request;
use crate::simulate::backend::Answer;
use crate::simulate::world::World;

pub struct Oailb {
    /// Per instance: per route, the state of each backend.
    states: Instances<Vec<Vec<BackendState>>>,
    /// Header list reused for every answer: the four headers the backend
    /// model sends, an empty value where an answer has none (the balancer
    /// reads an empty header as an absent one).
    headers: Vec<(String, String)>,
}

pub struct Flight {
    run: Attempts,
    cost: Cost,
    ticket: Option<Ticket>,
    last: Option<(usize, Answer)>,
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
            headers: [
                "retry-after",
                "retry-after-ms",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens",
            ]
            .iter()
            .map(|h| (h.to_string(), String::new()))
            .collect(),
        }
    }

    fn next(&mut self, ctx: Ctx, req: &Request, f: &mut Flight) -> Step {
        let route = &ctx.world.routes[req.route as usize];
        let s = ctx.world.settings_in(req.region);
        let now = ctx.now_ms();
        let (states, rng) = self.states.get(ctx.instance);
        let states = &mut states[req.route as usize];
        match f.run.next(
            &route.backends,
            states,
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
            Next::PassOn(_) => match &f.last {
                Some((i, a)) => Step::Reply(ClientAnswer::pass_on(*i, a)),
                None => Step::Reply(ClientAnswer::status(502)),
            },
            Next::BadGateway => Step::Reply(ClientAnswer::status(502)),
        }
    }

    /// The backend model's answer as the HTTP answer the balancer reads.
    fn reply(&mut self, a: &Answer) -> Reply {
        let Some(status) = a.status() else {
            return Reply::NoAnswer;
        };
        let mut headers = std::mem::take(&mut self.headers);
        for (_, v) in headers.iter_mut() {
            v.clear();
        }
        if let Some(seconds) = a.retry_after_seconds() {
            push_number(&mut headers[0].1, seconds);
            push_number(&mut headers[1].1, a.retry_after_ms);
        }
        if a.has_quota_headers() {
            if let Some(r) = a.remaining_requests {
                push_number(&mut headers[2].1, r);
            }
            push_number(&mut headers[3].1, a.remaining_tokens);
        }
        Reply::Status { status, headers }
    }
}

/// Appends the decimal digits of `n` (the formatter's machinery costs more
/// than the rest of an answer's handling).
fn push_number(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
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
            last: None,
        };
        let step = self.next(ctx, req, &mut f);
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
        let reply = self.reply(answer);
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
        if let Reply::Status { headers, .. } = reply {
            self.headers = headers;
        }
        f.run.record(i, verdict, answer.status().is_some());
        f.last = Some((i, *answer));
        if verdict == Verdict::Done {
            return Step::Reply(ClientAnswer::pass_on(i, answer));
        }
        self.next(ctx, req, f)
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

    #[test]
    fn numbers_print_as_decimal() {
        for n in [0, 7, 10, 1500, u64::MAX] {
            let mut s = String::from("x");
            push_number(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
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
                    let mut o = Oailb::new(&world, one_instance(), 0);
                    match a.outcome {
                        Outcome::NoAnswer => Reply::NoAnswer,
                        _ => o.reply(&a),
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
