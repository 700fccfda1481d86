//! The reference policy's algorithm (Azure-Samples/openai-apim-lb, as the
//! brief describes it): every attempt goes to the lowest priority number
//! among backends not marked throttling, at random among equals; a 429 or
//! 5xx marks the backend until now + `Retry-After` (else
//! `x-ratelimit-reset-requests`, else `-tokens`, else 10 s) and the request
//! is retried at once while the count of unmarked backends, taken when the
//! attempt was sent, is above 0; when every backend is marked it forwards to
//! the first backend anyway and passes its answer on. A backend that does
//! not answer ends the request with 500 (the retry condition needs an
//! answer) and is not marked.

use super::{ClientAnswer, Ctx, Instances, Layout, Rotation, Step, Strategy};
use crate::simulate::arrivals::Request;
use crate::simulate::backend::{Answer, Outcome};
use crate::simulate::world::World;

/// The delay when the answer names none.
const DEFAULT_DELAY_US: u64 = 10_000_000;
/// The policy's `<retry count="50">`.
const MAX_RETRIES: u32 = 50;

#[derive(Debug)]
pub struct Reference {
    /// Per instance: per route, the time each backend is marked until (µs).
    until: Instances<Vec<Rotation>>,
}

pub struct Flight {
    remaining: usize,
    retries: u32,
}

impl Reference {
    pub fn new(world: &World, layout: Layout, seed: u64) -> Reference {
        let initial = world
            .routes
            .iter()
            .map(|r| Rotation::new(r.backends.len()))
            .collect();
        Reference {
            until: Instances::new(initial, layout, seed, 2),
        }
    }

    /// Picks the backend and counts the unmarked ones.
    fn pick(&mut self, ctx: Ctx, route: usize) -> (usize, usize) {
        let (until, rng) = self.until.get(ctx.instance);
        let view = until[route].at(&ctx.world.routes[route].backends, ctx.now_us);
        if view.count == 0 {
            return (0, 0);
        }
        let k = rng.range(0, view.members.len() as u64 - 1) as usize;
        (view.members[k].0, view.count)
    }
}

impl Strategy for Reference {
    type Flight = Flight;

    fn arrive(&mut self, ctx: Ctx, req: &Request) -> (Flight, Step) {
        let (i, remaining) = self.pick(ctx, req.route as usize);
        (
            Flight {
                remaining,
                retries: 0,
            },
            Step::Send(i),
        )
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
        let Some(status) = answer.status() else {
            return Step::Reply(ClientAnswer::status(500));
        };
        let failed = status == 429 || status >= 500;
        if !failed || f.remaining == 0 || f.retries >= MAX_RETRIES {
            return Step::Reply(ClientAnswer::pass_on(i, answer));
        }
        let delay = answer
            .retry_after_seconds()
            .map_or(DEFAULT_DELAY_US, |s| s * 1_000_000);
        let (until, _) = self.until.get(ctx.instance);
        until[req.route as usize].mark(i, ctx.now_us + delay);
        let (next, remaining) = self.pick(ctx, req.route as usize);
        f.remaining = remaining;
        f.retries += 1;
        Step::Send(next)
    }
}
