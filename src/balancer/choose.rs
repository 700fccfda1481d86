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
    // Does an untried backend admit the request? One pass keeps the
    // admitting backends of the best (priority number, distance) seen so far
    // (a better one replaces them), and skips, without looking at its
    // buckets, every backend worse than that: routes list their priorities
    // in order, so once a priority admits, the rest of the route costs a
    // comparison each. The distance to the gateway region counts only with
    // one set (`prefer_nearby`); without it every distance is 0. This runs
    // once per attempt (`simulate` runs millions). Each admitting backend
    // weighs its weight times its room. On the stack for usual routes.
    // The key (priority number, distance) packed in one integer, which
    // orders the same and compares in one instruction.
    debug_assert_eq!(limits.len(), route.len(), "one Limits per backend");
    let mut members: SmallVec<[(usize, u64); 8]> = SmallVec::new();
    let mut best = u64::MAX;
    for (i, ((b, st), lim)) in route.iter().zip(states).zip(limits).enumerate() {
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
        if let Some(room) = st.room(&b.quota, lim, cost.tokens_on(&b.quota), s, now_ms) {
            if key < best {
                members.clear();
                best = key;
            }
            members.push((i, u64::from(b.weight.max(1)) * room.permille(lim).max(1)));
        }
    }
    if members.is_empty() {
        if s.when_all_busy == WhenAllBusy::ForwardToFirst && tried.is_empty() {
            if let Some(first) = first_backend(route) {
                return Choice::Forward(first);
            }
        }
        let wait = (0..route.len())
            .filter(|i| !tried.contains(i))
            .map(|i| {
                let b = &route[i];
                states[i].wait_ms(&b.quota, cost.tokens_on(&b.quota), s, now_ms)
            })
            .min();
        return match wait {
            None => Choice::Exhausted,
            Some(wait) => Choice::Reject {
                wait_ms: wait.max(1),
            },
        };
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
