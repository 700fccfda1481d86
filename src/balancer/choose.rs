//! Which backend takes the next attempt of a request, and how long a
//! client must wait when none can.

use smallvec::SmallVec;

use super::region;
use super::state::{BackendState, Limits};
use super::{Backend, Cost, Settings, WhenAllBusy};

/// What to do with the next attempt of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Forward to the backend at this index of the route.
    Forward(usize),
    /// No untried backend is predicted to admit the request: answer 429,
    /// the soonest one is predicted to in this many milliseconds.
    Reject { wait_ms: u64 },
    /// Every backend was tried for this request.
    Exhausted,
}

/// Picks the next backend of `route` (its backends' `states` and
/// [`Limits`]): among those not yet tried that are predicted to admit
/// `cost`, the lowest priority number; inside it, with a gateway
/// region set, the nearest of them (same region, then same area); among
/// those at weighted random,
/// each backend's weight times the room left in its buckets (per mille, at
/// least 1), so fuller backends get less. `draw` gives a uniform number in
/// `[0, 1)` and is called once per pick, as the policy calls
/// `Random.Next(total)` (which is `floor(draw * total)`).
///
/// A backend whose bucket cannot hold the request even when full
/// ([`Limits::holds`]) counts only when no backend of the route can: the
/// service would answer it 429, with a wait long enough to keep the
/// backend out of rotation for everything else.
#[allow(clippy::too_many_arguments)]
pub fn choose(
    route: &[Backend],
    states: &[BackendState],
    limits: &[Limits],
    tried: &[usize],
    cost: &Cost,
    now_ms: u64,
    draw: &mut dyn FnMut() -> f64,
    s: &Settings,
) -> Choice {
    debug_assert_eq!(limits.len(), route.len(), "one Limits per backend");
    let mut members: Members = SmallVec::new();
    let passed_over = admitting(
        route,
        states,
        limits,
        tried,
        cost,
        now_ms,
        s,
        false,
        &mut members,
    );
    if members.is_empty() {
        // Only when nothing admits does it matter whether anything holds
        // the request: the usual pick never looks twice.
        let eligible = Eligible::new(route, limits, cost);
        if eligible.any_size && passed_over {
            admitting(
                route,
                states,
                limits,
                tried,
                cost,
                now_ms,
                s,
                true,
                &mut members,
            );
        }
        if members.is_empty() {
            return none_admits(&eligible, states, tried, now_ms, s);
        }
    }
    let total: u64 = members.iter().map(|m| m.1).sum();
    let draw = draw();
    let draw = if draw.is_finite() {
        draw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Weights are at most u32::MAX × 1000 per backend, far below 2^63:
    // through i64 both conversions are one instruction, same values.
    let mut r = ((draw * total as i64 as f64) as i64 as u64).min(total - 1);
    let mut last = 0;
    for &(i, w) in &members {
        if r < w {
            return Choice::Forward(i);
        }
        r -= w;
        last = i;
    }
    Choice::Forward(last)
}

/// Backends a pick draws among, with their weights; on the stack for
/// usual routes.
type Members = SmallVec<[(usize, u64); 8]>;

/// Fills `members` (empty) with the untried backends predicted to admit
/// the request at the best (priority number, distance), each with its
/// weight times its room; tells whether a backend that would admit it
/// was passed over for being too small for it (all of them may take it
/// with `any_size`).
///
/// One pass keeps the admitting backends of the best key seen so far (a
/// better one replaces them), and skips, without looking at its
/// buckets, every backend worse than that: routes list their priorities
/// in order, so once a priority admits, the rest of the route costs a
/// comparison each. The distance to the gateway region counts only with
/// one set (`prefer_nearby`); without it every distance is 0. This runs
/// once per attempt (`simulate` runs millions). The key (priority
/// number, distance) is packed in one integer, which orders the same
/// and compares in one instruction.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn admitting(
    route: &[Backend],
    states: &[BackendState],
    limits: &[Limits],
    tried: &[usize],
    cost: &Cost,
    now_ms: u64,
    s: &Settings,
    any_size: bool,
    members: &mut Members,
) -> bool {
    let mut best = u64::MAX;
    let mut passed_over = false;
    let backends = route.iter().zip(states).zip(limits);
    for (i, ((b, st), lim)) in backends.enumerate() {
        let priority = u64::from(b.priority) << 8;
        if priority > best || tried.contains(&i) {
            continue;
        }
        let key = match &s.gateway_region {
            Some(g) => priority | u64::from(region::distance(g, b.region.as_deref())),
            None => priority,
        };
        if key > best {
            continue;
        }
        let tokens = cost.tokens_on(&b.quota);
        if let Some(room) = st.room(&b.quota, lim, tokens, s, now_ms) {
            // Only a full bucket admits a request it cannot hold (its
            // need is capped at the cap), so only an admitting backend
            // needs the look: the usual pick stays as short as it was.
            if !any_size && !lim.holds(tokens) {
                passed_over = true;
                continue;
            }
            if key < best {
                members.clear();
                best = key;
            }
            members.push((i, u64::from(b.weight.max(1)) * room.permille(lim).max(1)));
        }
    }
    passed_over
}

/// The choice when no untried backend is predicted to admit the
/// request: forward-to-first's first backend, or a 429 with the soonest
/// predicted admission among the untried backends; every backend tried,
/// exhausted. Only the `eligible` backends count.
fn none_admits(
    eligible: &Eligible,
    states: &[BackendState],
    tried: &[usize],
    now_ms: u64,
    s: &Settings,
) -> Choice {
    let route = eligible.route;
    if s.when_all_busy == WhenAllBusy::ForwardToFirst && tried.is_empty() {
        // The backend forward-to-first uses: lowest priority, first in
        // list order.
        if let Some(first) = (0..route.len())
            .filter(|&i| eligible.contains(i))
            .min_by_key(|i| (route[*i].priority, *i))
        {
            return Choice::Forward(first);
        }
    }
    let wait = (0..route.len())
        .filter(|&i| !tried.contains(&i) && eligible.contains(i))
        .map(|i| eligible.wait_ms(i, &states[i], s, now_ms))
        .min();
    match wait {
        None => Choice::Exhausted,
        Some(wait) => Choice::Reject {
            wait_ms: wait.max(1),
        },
    }
}

/// The backends of a route that count for a request on the paths where
/// nothing admits it: those whose full bucket holds it, or every one when
/// none does (`any_size`; the capped need then gives it a home).
struct Eligible<'a> {
    route: &'a [Backend],
    limits: &'a [Limits],
    cost: &'a Cost,
    any_size: bool,
}

impl<'a> Eligible<'a> {
    fn new(route: &'a [Backend], limits: &'a [Limits], cost: &'a Cost) -> Self {
        let any_size = !route
            .iter()
            .zip(limits)
            .any(|(b, lim)| lim.holds(cost.tokens_on(&b.quota)));
        Eligible {
            route,
            limits,
            cost,
            any_size,
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.any_size || self.limits[i].holds(self.cost.tokens_on(&self.route[i].quota))
    }

    /// Backend `i`'s predicted wait for the request ([`BackendState::wait_ms`]).
    fn wait_ms(&self, i: usize, state: &BackendState, s: &Settings, now_ms: u64) -> u64 {
        let q = &self.route[i].quota;
        state.wait_ms(q, self.cost.tokens_on(q), s, now_ms)
    }
}

/// The wait to announce when every backend was tried and at least one was
/// throttled: the soonest predicted admission among backends that are not
/// admitting now (those that can hold the request, when any can); the
/// default delay when none says.
pub fn retry_wait_ms(
    route: &[Backend],
    states: &[BackendState],
    limits: &[Limits],
    cost: &Cost,
    now_ms: u64,
    s: &Settings,
) -> u64 {
    let eligible = Eligible::new(route, limits, cost);
    (0..route.len())
        .filter(|&i| eligible.contains(i))
        .map(|i| eligible.wait_ms(i, &states[i], s, now_ms))
        .filter(|w| *w > 0)
        .min()
        .unwrap_or(s.default_delay_ms)
}
