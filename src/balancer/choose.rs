//! Which backend takes the next attempt of a request, and how long a
//! client must wait when none can.

use super::region;
use super::state::BackendState;
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

/// Picks the next backend: among those not yet tried that are predicted to
/// admit `cost`, the lowest priority number; inside it, with a gateway
/// region set, the nearest of them (same region, then same area); among
/// those at weighted random,
/// each backend's weight times the room left in its buckets (per mille, at
/// least 1), so fuller backends get less. `draw` gives a uniform number in
/// `[0, 1)` and is called once per pick, as the policy calls
/// `Random.Next(total)` (which is `floor(draw * total)`).
pub fn choose(
    route: &[Backend],
    states: &[BackendState],
    tried: &[usize],
    cost: &Cost,
    now_ms: u64,
    draw: &mut dyn FnMut() -> f64,
    s: &Settings,
) -> Choice {
    let open: Vec<usize> = (0..route.len())
        .filter(|i| {
            let b = &route[*i];
            !tried.contains(i) && states[*i].admits(&b.quota, cost.tokens_on(&b.quota), s, now_ms)
        })
        .collect();
    let Some(best) = open.iter().map(|i| route[*i].priority).min() else {
        if s.when_all_busy == WhenAllBusy::ForwardToFirst && tried.is_empty() {
            if let Some(first) = first_backend(route) {
                return Choice::Forward(first);
            }
        }
        let untried: Vec<usize> = (0..route.len()).filter(|i| !tried.contains(i)).collect();
        if untried.is_empty() {
            return Choice::Exhausted;
        }
        let wait = untried
            .iter()
            .map(|i| {
                let b = &route[*i];
                states[*i].wait_ms(&b.quota, cost.tokens_on(&b.quota), s, now_ms)
            })
            .min()
            .unwrap_or(s.default_delay_ms);
        return Choice::Reject {
            wait_ms: wait.max(1),
        };
    };
    let distance = |i: usize| match &s.gateway_region {
        Some(g) => region::distance(g, route[i].region.as_deref()),
        None => 0,
    };
    let nearest = open
        .iter()
        .filter(|i| route[**i].priority == best)
        .map(|i| distance(*i))
        .min()
        .unwrap_or(0);
    let group: Vec<(usize, u64)> = open
        .into_iter()
        .filter(|i| route[*i].priority == best && distance(*i) == nearest)
        .map(|i| {
            let b = &route[i];
            let room = states[i].headroom_permille(&b.quota, s, now_ms).max(1);
            (i, u64::from(b.weight.max(1)) * room)
        })
        .collect();
    let total: u64 = group.iter().map(|(_, w)| w).sum();
    let draw = draw();
    let draw = if draw.is_finite() {
        draw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut r = ((draw * total as f64) as u64).min(total - 1);
    for (i, w) in &group {
        if r < *w {
            return Choice::Forward(*i);
        }
        r -= w;
    }
    Choice::Forward(group.last().expect("group is not empty").0)
}

/// The backend `forward-to-first` uses: lowest priority, first in list order.
pub fn first_backend(route: &[Backend]) -> Option<usize> {
    (0..route.len()).min_by_key(|i| (route[*i].priority, *i))
}

/// The wait to announce when every backend was tried and at least one was
/// throttled: the soonest predicted admission among backends that are not
/// admitting now; the default delay when none says.
pub fn retry_wait_ms(
    route: &[Backend],
    states: &[BackendState],
    cost: &Cost,
    now_ms: u64,
    s: &Settings,
) -> u64 {
    route
        .iter()
        .zip(states)
        .map(|(b, st)| st.wait_ms(&b.quota, cost.tokens_on(&b.quota), s, now_ms))
        .filter(|w| *w > 0)
        .min()
        .unwrap_or(s.default_delay_ms)
}
