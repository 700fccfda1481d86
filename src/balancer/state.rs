//! What the gateway knows about one backend, and how each event changes it:
//! a request sent ([`BackendState::send`]), an answer or its absence
//! ([`BackendState::on_reply`]).
//!
//! The quota model is a token bucket and a request bucket per backend, as
//! Azure enforces quotas: each holds `quota_window_seconds` of the
//! per-minute rate and refills continuously; a request is admitted when
//! the buckets hold its cost, and a rejected request costs nothing. Sending
//! takes the cost out at once, so requests still in flight count. Every
//! answer that carries `x-ratelimit-remaining-tokens`/`-requests` re-anchors
//! the estimate on the backend's own figure (less what was sent after that
//! request), which also accounts for traffic the gateway does not see
//! (other gateway instances, other clients of the deployment).
//!
//! That foreign traffic is also learned as a rate: what the backend's figure
//! says was used beyond the model's prediction, per millisecond since the
//! previous answer, smoothed over a quota window. Until the next answer
//! corrects it, the model expects others to keep using the backend at that
//! rate for at most one window after the last answer, so several gateway
//! instances with their own state do not each count on the whole quota.
//!
//! The state is a handful of integers (milli-tokens, micro-requests,
//! milliseconds), written to the APIM cache or Redis as one short text
//! ([`BackendState::encode`]); the policy's C# does the same integer
//! arithmetic, so both compute identical levels.

use super::quota::Quota;
use super::{Reply, Settings, Signals};

/// Refill is computed over at most this long: enough to fill any bucket
/// from any level an estimate reaches, small enough that no product
/// overflows.
pub const MAX_REFILL_MS: u64 = 600_000;

/// Format marker of [`BackendState::encode`]: state written by another
/// format reads as "nothing known" instead of being misread.
const FORMAT: &str = "q1";

/// One backend's state. `Default` is "nothing known": full buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendState {
    /// Time of `tokens` and `requests`; 0 when never used.
    pub at_ms: u64,
    /// Estimated milli-tokens in the token bucket at `at_ms`.
    pub tokens: i64,
    /// Estimated micro-requests in the request bucket at `at_ms`.
    pub requests: i64,
    /// Tokens and requests sent so far, net of refunds: an answer's
    /// remaining-quota figure is corrected by what was sent after it.
    pub sent_tokens: i64,
    pub sent_requests: i64,
    /// Send time of the newest answer applied; older answers are stale.
    pub seen_ms: u64,
    /// No request before this: a 429's delay, an open breaker, no answer.
    pub out_until_ms: u64,
    /// Circuit breaker: start of the current window, calls and failures in
    /// it and in the window before.
    pub window_ms: u64,
    pub calls: u32,
    pub failures: u32,
    pub prev_calls: u32,
    pub prev_failures: u32,
    /// The breaker opened and no call has succeeded since.
    pub tripped: bool,
    /// Consecutive attempts that got no answer (refused, reset, timed out).
    pub unanswered: u32,
    /// What others use of the backend: milli-tokens and micro-requests per
    /// second, learned from the answers' remaining-quota figures.
    pub foreign_tokens: i64,
    pub foreign_requests: i64,
    /// Failing answers (5xx, no answer) in a row since the last success.
    pub streak: u32,
}

/// What [`BackendState::send`] took, to be given back or corrected when the
/// answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub sent_ms: u64,
    /// Tokens this request took from the bucket.
    pub tokens: i64,
    /// `sent_tokens` / `sent_requests` right after this request was sent.
    pub sent_tokens: i64,
    pub sent_requests: i64,
}

/// What an answer means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the answer to the client.
    Done,
    /// The backend is throttled (429): try another one at once.
    Throttled,
    /// A failing answer (5xx, no answer, a tripping 4xx): try another one.
    Failed,
}

/// Levels of one backend's buckets at one instant (milli-tokens,
/// micro-requests).
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    tokens: i64,
    requests: i64,
}

impl Buckets {
    /// A backend whose quota oailb cannot tell: always full.
    const FULL: Buckets = Buckets {
        tokens: i64::MAX,
        requests: i64::MAX,
    };

    /// Room left, per mille ([`Limits::room`]).
    pub fn permille(&self, lim: &Limits) -> u64 {
        lim.room(self.tokens, self.requests)
    }
}

/// What a backend's buckets hold under the settings: their caps, the
/// safety margin and the factors of the per mille. They change only with
/// the topology, so a route works them out once ([`Limits::of_route`])
/// instead of on every pick, which looks at each of its backends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    token_cap: i64,
    request_cap: i64,
    /// Milli-tokens a request must leave in the token bucket.
    margin: i64,
    limits_requests: bool,
    /// The quota is unknown (no token rate): the bucket holds any request.
    holds_any: bool,
    /// 1000 / cap, for [`permille`] without a division.
    token_scale: f64,
    request_scale: f64,
}

impl Limits {
    pub fn new(q: &Quota, s: &Settings) -> Limits {
        let token_cap = q.token_cap(s.window_ms);
        let request_cap = q.request_cap(s.window_ms);
        let scale = |cap: i64| if cap > 0 { 1000.0 / cap as f64 } else { 0.0 };
        Limits {
            token_cap,
            request_cap,
            // Unsigned (the cap never is negative): the cheaper division.
            margin: (token_cap as u64 * s.margin_percent / 100) as i64,
            limits_requests: q.limits_requests(),
            holds_any: q.tokens_per_minute == 0,
            token_scale: scale(token_cap),
            request_scale: scale(request_cap),
        }
    }

    /// The limits of each backend of `route`, in its order.
    pub fn of_route(route: &[super::Backend], s: &Settings) -> Vec<Limits> {
        route.iter().map(|b| Limits::new(&b.quota, s)).collect()
    }

    /// Whether a full token bucket holds a request of `tokens`: one that
    /// costs more than the window's share of the rate is never admitted
    /// (the service answers 429 however long the client waits), so another
    /// backend of the route that holds it gets it ([`super::choose`]).
    pub fn holds(&self, tokens: u64) -> bool {
        self.holds_any || tokens as i64 * 1000 <= self.token_cap
    }

    /// Milli-tokens a request of `tokens` must find in the bucket: its cost
    /// plus the safety margin, never more than a full bucket (a request
    /// larger than the window still goes to a full backend when no backend
    /// of the route holds it).
    fn need(&self, tokens: u64) -> i64 {
        (tokens as i64 * 1000 + self.margin).min(self.token_cap)
    }

    /// Room left at these levels, per mille: the fuller of the two buckets
    /// counts (the request bucket only where the quota limits requests).
    fn room(&self, tokens: i64, requests: i64) -> u64 {
        let t = permille(tokens, self.token_cap, self.token_scale);
        if !self.limits_requests {
            return t;
        }
        // The floor keeps order, so the smaller per mille is the fuller
        // bucket's.
        t.min(permille(requests, self.request_cap, self.request_scale))
    }
}

impl BackendState {
    fn buckets(&self, q: &Quota, s: &Settings, now: u64) -> Buckets {
        let token_cap = q.token_cap(s.window_ms);
        let request_cap = q.request_cap(s.window_ms);
        let (dt, drained) = self.elapsed(s, now);
        Buckets {
            tokens: self.token_level(q, dt, drained, token_cap),
            requests: self.request_level(q, dt, drained, request_cap),
        }
    }

    /// Milliseconds of refill from `at_ms` to `now`, and how many of them
    /// others' use drains: it does for at most one window after the last
    /// answer, the part of [at, now] inside [seen, seen + window].
    fn elapsed(&self, s: &Settings, now: u64) -> (u64, i64) {
        let dt = now.saturating_sub(self.at_ms).min(MAX_REFILL_MS);
        let drained = now
            .min(self.seen_ms + s.window_ms)
            .saturating_sub(self.at_ms.max(self.seen_ms))
            .min(dt) as i64;
        (dt, drained)
    }

    /// Milli-tokens in the bucket after [`Self::elapsed`]; full when the
    /// backend was never used.
    fn token_level(&self, q: &Quota, dt: u64, drained: i64, cap: i64) -> i64 {
        if self.at_ms == 0 {
            return cap;
        }
        let add = (q.token_refill(dt) - drain(self.foreign_tokens, drained)).max(0);
        refill(self.tokens, add, cap)
    }

    /// Micro-requests in the bucket, likewise.
    fn request_level(&self, q: &Quota, dt: u64, drained: i64, cap: i64) -> i64 {
        if self.at_ms == 0 {
            return cap;
        }
        let add = (q.request_refill(dt) - drain(self.foreign_requests, drained)).max(0);
        refill(self.requests, add, cap)
    }

    /// Brings the levels to `now`.
    fn settle(&mut self, q: &Quota, s: &Settings, now: u64) {
        let b = self.buckets(q, s, now);
        self.tokens = b.tokens;
        self.requests = b.requests;
        self.at_ms = self.at_ms.max(now);
    }

    /// Whether the buckets hold a request of `tokens` at `at` (not counting
    /// an out-of-rotation time).
    fn fits(&self, q: &Quota, lim: &Limits, tokens: u64, s: &Settings, at: u64) -> bool {
        self.admitting_levels(q, lim, tokens, s, at).is_some()
    }

    /// Whether the backend is predicted to admit a request of `tokens` now.
    pub fn admits(&self, q: &Quota, tokens: u64, s: &Settings, now: u64) -> bool {
        self.admission(q, tokens, s, now).is_some()
    }

    /// When the backend is predicted to admit a request of `tokens` now,
    /// the room left in its buckets ([`Self::headroom_permille`]); one look
    /// at the buckets for both.
    pub fn admission(&self, q: &Quota, tokens: u64, s: &Settings, now: u64) -> Option<u64> {
        let lim = Limits::new(q, s);
        self.room(q, &lim, tokens, s, now).map(|r| r.permille(&lim))
    }

    /// When the backend (its quota `q` and [`Limits`] `lim`) is predicted to
    /// admit a request of `tokens` now, the levels of its buckets, from
    /// which [`Buckets::permille`] computes the room left.
    pub fn room(
        &self,
        q: &Quota,
        lim: &Limits,
        tokens: u64,
        s: &Settings,
        now: u64,
    ) -> Option<Buckets> {
        if self.out_until_ms > now {
            return None;
        }
        self.admitting_levels(q, lim, tokens, s, now)
    }

    /// The levels of the buckets at `at` when they hold a request of
    /// `tokens` (its cost plus the margin, and one request where requests
    /// are limited), whether or not the backend is out of rotation: the
    /// one admission test, for [`Self::room`] now and [`Self::wait_ms`]
    /// later.
    #[inline(always)]
    fn admitting_levels(
        &self,
        q: &Quota,
        lim: &Limits,
        tokens: u64,
        s: &Settings,
        at: u64,
    ) -> Option<Buckets> {
        if q.tokens_per_minute == 0 {
            return Some(Buckets::FULL);
        }
        // The token bucket first: most backends that do not admit a request
        // lack tokens, and the request bucket is then not needed.
        let (dt, drained) = self.elapsed(s, at);
        let tokens_left = self.token_level(q, dt, drained, lim.token_cap);
        if tokens_left < lim.need(tokens) {
            return None;
        }
        let requests_left = self.request_level(q, dt, drained, lim.request_cap);
        if lim.limits_requests && requests_left < 1_000_000 {
            return None;
        }
        Some(Buckets {
            tokens: tokens_left,
            requests: requests_left,
        })
    }

    /// Milliseconds until the backend is predicted to admit a request of
    /// `tokens`; 0 when it would now. The buckets only fill with time, so
    /// this is the first millisecond at which they hold the request. At the
    /// full refill rate that is a division; while others' use slows the
    /// refill, a bisection finds it (either way it agrees with
    /// [`Self::admits`] by construction).
    pub fn wait_ms(&self, q: &Quota, tokens: u64, s: &Settings, now: u64) -> u64 {
        let out = self.out_until_ms.saturating_sub(now);
        let lim = Limits::new(q, s);
        if self.fits(q, &lim, tokens, s, now) {
            return out;
        }
        let b = self.buckets(q, s, now);
        let need = lim.need(tokens);
        let token_wait = ((need - b.tokens).max(0) as u64 * 60).div_ceil(q.tokens_per_minute);
        let request_wait = if q.limits_requests() {
            ((1_000_000 - b.requests).max(0) as u64 * 60).div_ceil(q.requests_per_minute * 1000)
        } else {
            0
        };
        let guess = token_wait.max(request_wait).clamp(1, MAX_REFILL_MS);
        if self.fits(q, &lim, tokens, s, now + guess)
            && !self.fits(q, &lim, tokens, s, now + guess - 1)
        {
            return out.max(guess);
        }
        let (mut lo, mut hi) = (0, MAX_REFILL_MS);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.fits(q, &lim, tokens, s, now + mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        out.max(hi)
    }

    /// How full the buckets are, 0..=1000 (the fuller of the two limits
    /// counts less): backends with more room get more of the traffic.
    pub fn headroom_permille(&self, q: &Quota, s: &Settings, now: u64) -> u64 {
        if q.tokens_per_minute == 0 {
            return 1000;
        }
        self.buckets(q, s, now).permille(&Limits::new(q, s))
    }

    /// Takes a request of `tokens` out of the buckets.
    pub fn send(&mut self, q: &Quota, tokens: u64, s: &Settings, now: u64) -> Ticket {
        self.settle(q, s, now);
        let tokens = tokens as i64;
        self.tokens -= tokens * 1000;
        if q.limits_requests() {
            self.requests -= 1_000_000;
        }
        self.sent_tokens += tokens;
        self.sent_requests += 1;
        Ticket {
            sent_ms: now,
            tokens,
            sent_tokens: self.sent_tokens,
            sent_requests: self.sent_requests,
        }
    }

    /// Gives back what a request that was not admitted took, never filling
    /// a bucket past its cap.
    fn refund(&mut self, q: &Quota, t: &Ticket, s: &Settings, now: u64) {
        self.settle(q, s, now);
        let token_cap = q.token_cap(s.window_ms);
        self.tokens = (self.tokens + t.tokens * 1000).min(token_cap.max(self.tokens));
        if q.limits_requests() {
            let request_cap = q.request_cap(s.window_ms);
            self.requests = (self.requests + 1_000_000).min(request_cap.max(self.requests));
        }
        self.sent_tokens -= t.tokens;
        self.sent_requests -= 1;
    }

    /// Applies the backend's own remaining-quota figures from an answer to
    /// the request of `t`, less what was sent after it. Stale answers (sent
    /// before the newest one applied) change nothing.
    ///
    /// The figure is the level when the request was admitted; the bucket
    /// has refilled since, up to its cap, and what was sent after it came
    /// out, at times the answer does not tell. So the level now lies
    /// between two bounds: all the refill before those sends, the cap cutting
    /// it (the lower), and none of it cut (the upper). They are one figure
    /// while the refill since could not fill the bucket (short answers);
    /// when it could (answers slower than the quota window), the model's
    /// own level, which took each send and refill in its order, is kept
    /// where it lies between them, and moved to the nearer bound otherwise.
    /// The level's bounds take others' predicted use since the request out
    /// of the refill. The model's level took that use only inside the
    /// window after the previous answer: for an answer within one window of
    /// its request that covers the time since, and the move against those
    /// bounds is what others used beyond the prediction; for a slower one
    /// it does not, measuring against the drained bounds counted the
    /// prediction itself as more use (the learned rate fed itself up to the
    /// whole refill rate and the backend looked nearly empty for good), so
    /// the move is measured against the bounds without it.
    fn reanchor(
        &mut self,
        q: &Quota,
        t: &Ticket,
        signals: &Signals,
        admitted: bool,
        s: &Settings,
        now: u64,
    ) {
        let (tokens, requests) = (signals.remaining_tokens, signals.remaining_requests);
        if (tokens.is_none() && requests.is_none()) || t.sent_ms < self.seen_ms {
            return;
        }
        self.settle(q, s, now);
        let since = now.saturating_sub(t.sent_ms).min(MAX_REFILL_MS);
        let horizon = since.min(s.window_ms) as i64;
        // The interval the answer's figure covers since the previous one;
        // no previous answer, nothing to learn from.
        let interval = (t.sent_ms.saturating_sub(self.seen_ms).max(s.window_ms)) as i64;
        let learn = self.seen_ms > 0;
        // An answer slower than the window: the model took none of others'
        // predicted use since its request (see above), so the move is
        // measured against bounds without it.
        let slow = since > s.window_ms;
        if let Some(r) = tokens {
            let own = if admitted { t.tokens } else { 0 };
            let later = (self.sent_tokens - (t.sent_tokens - t.tokens) - own).max(0) * 1000;
            let r = r * 1000;
            let cap = q.token_cap(s.window_ms).max(r);
            let refill = q.token_refill(since);
            let add = (refill - drain(self.foreign_tokens, horizon)).max(0);
            let truth = between_bounds(self.tokens, r + add, cap, later);
            if learn {
                let learn_add = if slow { refill } else { add };
                let unexplained =
                    self.tokens - between_bounds(self.tokens, r + learn_add, cap, later);
                self.foreign_tokens = learned_rate(
                    self.foreign_tokens,
                    unexplained,
                    interval,
                    q.token_refill(1000),
                );
            }
            self.tokens = truth;
        }
        if let (Some(r), true) = (requests, q.limits_requests()) {
            let own = i64::from(admitted);
            let later = (self.sent_requests - (t.sent_requests - 1) - own).max(0) * 1_000_000;
            let r = r * 1_000_000;
            let cap = q.request_cap(s.window_ms).max(r);
            let refill = q.request_refill(since);
            let add = (refill - drain(self.foreign_requests, horizon)).max(0);
            let truth = between_bounds(self.requests, r + add, cap, later);
            if learn {
                let learn_add = if slow { refill } else { add };
                let unexplained =
                    self.requests - between_bounds(self.requests, r + learn_add, cap, later);
                self.foreign_requests = learned_rate(
                    self.foreign_requests,
                    unexplained,
                    interval,
                    q.request_refill(1000),
                );
            }
            self.requests = truth;
        }
        self.seen_ms = t.sent_ms;
    }

    /// Applies the answer (or its absence) to the request of `t`.
    pub fn on_reply(
        &mut self,
        q: &Quota,
        t: &Ticket,
        reply: &Reply,
        s: &Settings,
        now: u64,
    ) -> Verdict {
        let (status, signals) = match reply {
            Reply::NoAnswer => {
                self.refund(q, t, s, now);
                self.unanswered = self.unanswered.saturating_add(1);
                // Out for 1 s, doubling per miss in a row up to the breaker's
                // open time; a refused connection costs nothing, so a backend
                // that comes back is found again within that time.
                let backoff = 1000u64 << (self.unanswered - 1).min(20);
                self.out_until_ms = self.out_until_ms.max(now + backoff.min(s.breaker.open_ms));
                return Verdict::Failed;
            }
            Reply::Status { status, signals } => (*status, signals),
        };
        self.unanswered = 0;
        let trips = s.trips(status);
        if trips && status == 429 {
            self.refund(q, t, s, now);
            self.reanchor(q, t, signals, false, s, now);
            let delay = signals.delay_ms(now, s).unwrap_or(s.default_delay_ms);
            self.out_until_ms = self.out_until_ms.max(now + delay);
            return Verdict::Throttled;
        }
        if trips && status >= 500 {
            self.refund(q, t, s, now);
            self.reanchor(q, t, signals, false, s, now);
            self.failure(s, now);
            return Verdict::Failed;
        }
        if trips {
            // Refused credentials or access (401, 403): the backend is
            // misconfigured, not busy; keep it out for its delay.
            self.refund(q, t, s, now);
            let delay = signals.delay_ms(now, s).unwrap_or(s.default_delay_ms);
            self.out_until_ms = self.out_until_ms.max(now + delay);
            return Verdict::Failed;
        }
        let admitted = (200..300).contains(&status);
        if !admitted {
            self.refund(q, t, s, now);
        }
        self.reanchor(q, t, signals, admitted, s, now);
        self.success(s, now);
        Verdict::Done
    }

    /// Starts a new breaker window when the current one is over.
    fn roll(&mut self, s: &Settings, now: u64) {
        let w = s.breaker.window_ms;
        if now >= self.window_ms.saturating_add(w) {
            if now >= self.window_ms.saturating_add(2 * w) {
                self.prev_calls = 0;
                self.prev_failures = 0;
            } else {
                self.prev_calls = self.calls;
                self.prev_failures = self.failures;
            }
            self.calls = 0;
            self.failures = 0;
            self.window_ms = now;
        }
    }

    fn failure(&mut self, s: &Settings, now: u64) {
        self.roll(s, now);
        self.calls = self.calls.saturating_add(1);
        self.failures = self.failures.saturating_add(1);
        self.streak = self.streak.saturating_add(1);
        let calls = u64::from(self.calls) + u64::from(self.prev_calls);
        let failures = u64::from(self.failures) + u64::from(self.prev_failures);
        let open = self.tripped
            || (calls >= s.breaker.min_calls
                && failures * 100 >= s.breaker.failure_rate_percent * calls)
            || (s.breaker.consecutive > 0 && u64::from(self.streak) >= s.breaker.consecutive);
        if open {
            self.tripped = true;
            self.out_until_ms = self.out_until_ms.max(now + s.breaker.open_ms);
        }
    }

    fn success(&mut self, s: &Settings, now: u64) {
        self.roll(s, now);
        self.streak = 0;
        if self.tripped {
            // The probe after an open period succeeded: close, forget.
            self.tripped = false;
            self.calls = 0;
            self.failures = 0;
            self.prev_calls = 0;
            self.prev_failures = 0;
        }
        self.calls = self.calls.saturating_add(1);
    }

    /// The cache text of this state: `q1|` and 17 integers.
    pub fn encode(&self) -> String {
        format!(
            "{FORMAT}|{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.at_ms,
            self.tokens,
            self.requests,
            self.sent_tokens,
            self.sent_requests,
            self.seen_ms,
            self.out_until_ms,
            self.window_ms,
            self.calls,
            self.failures,
            self.prev_calls,
            self.prev_failures,
            u8::from(self.tripped),
            self.unanswered,
            self.foreign_tokens,
            self.foreign_requests,
            self.streak
        )
    }

    /// Reads cache text; anything malformed reads as "nothing known".
    pub fn decode(text: &str) -> BackendState {
        Self::try_decode(text).unwrap_or_default()
    }

    fn try_decode(text: &str) -> Option<BackendState> {
        let body = text.strip_prefix(FORMAT)?.strip_prefix('|')?;
        let v: Vec<i64> = body
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let [at, tok, req, st, sr, seen, out, win, c, f, pc, pf, trip, un, ft, fr, k] =
            v.as_slice()
        else {
            return None;
        };
        let u = |x: i64| u64::try_from(x).ok();
        let n = |x: i64| u32::try_from(x).ok();
        Some(BackendState {
            at_ms: u(*at)?,
            tokens: *tok,
            requests: *req,
            sent_tokens: *st,
            sent_requests: *sr,
            seen_ms: u(*seen)?,
            out_until_ms: u(*out)?,
            window_ms: u(*win)?,
            calls: n(*c)?,
            failures: n(*f)?,
            prev_calls: n(*pc)?,
            prev_failures: n(*pf)?,
            tripped: *trip == 1,
            unanswered: n(*un)?,
            foreign_tokens: (*ft >= 0).then_some(*ft)?,
            foreign_requests: (*fr >= 0).then_some(*fr)?,
            streak: n(*k)?,
        })
    }
}

/// What others' use at `rate` per second takes in `ms`. Neither is ever
/// negative (the rate is learned clamped at 0), so the division by 1000 is
/// the unsigned one, a few instructions shorter than the signed one: a pick
/// takes two per backend it looks at.
fn drain(rate: i64, ms: i64) -> i64 {
    debug_assert!(rate >= 0 && ms >= 0);
    (rate as u64 * ms as u64 / 1000) as i64
}

/// A bucket's level after an answer, in the bucket's units: the figure it
/// gave plus the refill since (`figure_plus_refill`), less what was sent
/// after its request (`later`). The refill cut by `cap` before the later
/// sends gives the lower bound, not cut at all the upper; they are one
/// figure while the refill since cannot fill the bucket. The model's own
/// `level`, which took each send and refill in order, is kept where it lies
/// between them and moved to the nearer bound otherwise.
fn between_bounds(level: i64, figure_plus_refill: i64, cap: i64, later: i64) -> i64 {
    let lower = figure_plus_refill.min(cap) - later;
    let upper = (figure_plus_refill - later).min(cap);
    level.max(lower).min(upper)
}

/// Others' use learned from an answer: the previous `rate` per second plus
/// what the answer moved the level down by (`moved`, per `interval_ms`),
/// between none and the whole refill rate (`max_rate`).
fn learned_rate(rate: i64, moved: i64, interval_ms: i64, max_rate: i64) -> i64 {
    (rate + moved * 1000 / interval_ms).clamp(0, max_rate)
}

/// A level refilled by `add`, up to `cap`; a level already above the cap
/// (an answer said so) stays until it is spent.
fn refill(level: i64, add: i64, cap: i64) -> i64 {
    if level >= cap {
        level
    } else {
        (level + add).min(cap)
    }
}

/// The whole per mille of a bucket at `level` of `cap`, floor(1000 ×
/// level / cap) (1000 when full, 0 when empty or overdrawn), with `scale` =
/// 1000 / cap: a pick takes one or two per backend it draws among, and a
/// multiplication with two integer checks costs a fraction of a division.
/// The float product is within 10^-12 of the quotient, which is below
/// 1000, so its truncation is the floor or one off it, and the checks make
/// it exact.
fn permille(level: i64, cap: i64, scale: f64) -> u64 {
    if level >= cap {
        return 1000;
    }
    let level = level.max(0);
    let n = level * 1000;
    let mut q = (level as f64 * scale) as i64;
    q += i64::from((q + 1) * cap <= n);
    q -= i64::from(q * cap > n);
    q as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact integer per mille, floor(1000 × level / cap).
    fn integer(level: i64, cap: i64) -> u64 {
        if level >= cap {
            1000
        } else {
            (level.max(0) * 1000 / cap) as u64
        }
    }

    fn scale(cap: i64) -> f64 {
        1000.0 / cap as f64
    }

    /// The scaled product, checked, equals the integer quotient wherever it
    /// is used, notably at and just below each whole per mille, where
    /// rounding would show.
    #[test]
    fn permille_is_the_integer_quotient() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let caps = [
            1,
            2,
            3,
            7,
            16,
            999,
            1000,
            1001,
            1_500_000,
            833_333_333,
            (1 << 43) - 1,
            1 << 50,
            (1 << 52) + 1,
        ];
        let random_caps: Vec<i64> = (0..2000)
            .map(|k| 1 + (next() % (1 << (10 + k % 43))) as i64)
            .collect();
        for cap in caps.into_iter().chain(random_caps) {
            let mut levels = vec![i64::MIN / 2000, -5, 0, 1, cap / 2, cap - 1, cap, cap + 1];
            for n in 1..1000i64 {
                // The largest level whose quotient is below n, the level
                // where it is n (when there is one) and the next.
                let below = (n * cap - 1) / 1000;
                levels.extend([below, below + 1, below + 2]);
            }
            levels.extend((0..200).map(|_| (next() % cap as u64) as i64));
            for level in levels {
                assert_eq!(
                    permille(level, cap, scale(cap)),
                    integer(level, cap),
                    "{level} / {cap}"
                );
            }
        }
    }

    /// The room is the smaller of the two buckets' per milles, or the token
    /// bucket's alone where requests are not limited.
    #[test]
    fn room_is_the_fuller_buckets_per_mille() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let caps = [1, 2, 999, 1000, 1_000_000, 9_000_000, 1 << 43];
        for _ in 0..200_000 {
            let token_cap = caps[next(caps.len() as u64) as usize].max(next(1 << 44) as i64);
            let request_cap = caps[next(caps.len() as u64) as usize].max(next(1 << 30) as i64);
            let level = |cap: i64, r: u64| match r % 5 {
                0 => -((r % 1000) as i64),
                1 => cap,
                2 => cap + (r % 7) as i64,
                _ => (r % (cap as u64 + 1)) as i64,
            };
            let (tokens, requests) = (
                level(token_cap, next(u64::MAX)),
                level(request_cap, next(u64::MAX)),
            );
            let mut lim = Limits {
                token_cap,
                request_cap,
                margin: 0,
                limits_requests: true,
                holds_any: false,
                token_scale: scale(token_cap),
                request_scale: scale(request_cap),
            };
            let both = integer(tokens, token_cap).min(integer(requests, request_cap));
            assert_eq!(
                lim.room(tokens, requests),
                both,
                "{lim:?} {tokens} {requests}"
            );
            lim.limits_requests = false;
            assert_eq!(lim.room(tokens, requests), integer(tokens, token_cap));
        }
    }

    /// The limits are the quota's caps under the settings' window, and the
    /// margin is that share of the token cap.
    #[test]
    fn limits_follow_the_quota_and_settings() {
        let q = Quota {
            tokens_per_minute: 90_000,
            requests_per_minute: 540,
            output_weight: 1,
        };
        let mut s = Settings::from(&crate::topology::LoadBalancing::default());
        s.window_ms = 10_000;
        s.margin_percent = 5;
        let lim = Limits::new(&q, &s);
        assert_eq!((lim.token_cap, lim.request_cap), (15_000_000, 90_000_000));
        assert_eq!(lim.need(100), 100_000 + 750_000);
        assert_eq!(lim.need(20_000), 15_000_000);
        assert!(lim.limits_requests);
        // A full bucket holds a request of exactly its cap, without the
        // margin (the service admits it); one token more never.
        assert!(lim.holds(15_000) && !lim.holds(15_001));
        let unknown = Limits::new(&Quota::UNKNOWN, &s);
        assert!(unknown.holds(1_000_000_000));
        let full = Buckets::FULL;
        assert_eq!(full.permille(&unknown), 1000);
    }
}
