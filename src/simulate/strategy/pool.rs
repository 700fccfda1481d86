//! APIM's native backend pool as oailb renders it in pool mode: members by
//! priority, weighted at random inside a priority; each member's circuit
//! breaker trips on the first answer with a tripping status
//! (`load_balancing.trip_status_codes`) for its `Retry-After` when there is
//! one (`acceptRetryAfter`), else `tripDuration` (`default_retry_after_seconds`);
//! the policy retries 429, 503 and no answer at once, up to the number of
//! backends; when every breaker is open APIM answers 503, which the policy
//! returns as 429 with `Retry-After`. Breakers are per gateway instance:
//! APIM shares no breaker state, so `--state` does not apply here.

use super::{ClientAnswer, Ctx, Instances, Layout, Rotation, Step, Strategy};
use crate::simulate::arrivals::Request;
use crate::simulate::backend::{Answer, Outcome};
use crate::simulate::world::World;
use crate::simulate::StateScope;

#[derive(Debug)]
pub struct Pool {
    /// Per instance: per route, the time each member's breaker is open until.
    open: Instances<Vec<Rotation>>,
}

pub struct Flight {
    retries_left: u32,
}

impl Pool {
    pub fn new(world: &World, layout: Layout, seed: u64) -> Pool {
        let initial = world
            .routes
            .iter()
            .map(|r| Rotation::new(r.backends.len()))
            .collect();
        Pool {
            open: Instances::new(
                initial,
                Layout {
                    scope: StateScope::Instance,
                    ..layout
                },
                seed,
                3,
            ),
        }
    }

    fn pick(&mut self, ctx: Ctx, route: usize) -> Option<usize> {
        let (open, rng) = self.open.get(ctx.instance);
        let view = open[route].at(&ctx.world.routes[route].backends, ctx.now_us);
        if view.count == 0 {
            return None;
        }
        let mut draw = rng.range(0, view.weight - 1);
        let mut last = None;
        for &(i, w) in &view.members {
            if draw < w {
                return Some(i);
            }
            draw -= w;
            last = Some(i);
        }
        last
    }

    fn exhausted(ctx: Ctx) -> Step {
        Step::Reply(ClientAnswer::reject(ctx.world.pool_trip_ms.max(1000)))
    }
}

impl Strategy for Pool {
    type Flight = Flight;

    fn arrive(&mut self, ctx: Ctx, req: &Request) -> (Flight, Step) {
        let f = Flight {
            retries_left: ctx.world.pool_retries,
        };
        match self.pick(ctx, req.route as usize) {
            Some(i) => (f, Step::Send(i)),
            None => (f, Self::exhausted(ctx)),
        }
    }

    fn settled(i: usize, a: &Answer) -> Option<ClientAnswer> {
        // A success is passed on as it came; nothing is learnt from it.
        (a.outcome == Outcome::Served).then(|| ClientAnswer::pass_on(i, a))
    }

    fn answer(
        &mut self,
        ctx: Ctx,
        req: &Request,
        f: &mut Flight,
        i: usize,
        answer: &Answer,
    ) -> Step {
        let status = answer.status();
        if status.is_some_and(|s| ctx.world.settings.trips(s)) {
            let open_for = answer
                .retry_after_seconds()
                .map_or(ctx.world.pool_trip_ms, |s| s * 1000)
                * 1000;
            let (open, _) = self.open.get(ctx.instance);
            let rotation = &mut open[req.route as usize];
            rotation.mark(i, rotation.until(i).max(ctx.now_us + open_for));
        }
        let retried = matches!(status, None | Some(429) | Some(503));
        if retried && f.retries_left > 0 {
            f.retries_left -= 1;
            return match self.pick(ctx, req.route as usize) {
                Some(next) => Step::Send(next),
                None => Self::exhausted(ctx),
            };
        }
        match status {
            // The policy's on-error (no member reachable) and its 503
            // mapping: 429 with the answer's Retry-After, else the default.
            None | Some(503) => Step::Reply(ClientAnswer {
                served_by: Some(i),
                ..ClientAnswer::reject(ctx.world.pool_trip_ms.max(1000))
            }),
            Some(_) => Step::Reply(ClientAnswer::pass_on(i, answer)),
        }
    }
}
