//! Time and randomness for the balancer's decisions, injected so tests can
//! drive `serve` with virtual time and scripted draws exactly as the
//! scenario table drives `src/balancer`. Timeouts and the access log's
//! durations use the real (tokio) clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Milliseconds since the Unix epoch, as the balancer counts them.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// One uniform number in `[0, 1)` per weighted pick.
pub trait Draws: Send + Sync {
    fn draw(&self) -> f64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        ManualClock(AtomicU64::new(now_ms))
    }

    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Pseudo-random draws (xorshift64*): uniform enough to spread traffic,
/// not for secrets.
pub struct RandomDraws(Mutex<u64>);

impl RandomDraws {
    pub fn new(seed: u64) -> Self {
        RandomDraws(Mutex::new(seed | 1))
    }

    /// Seeded from the process's hash keys, so instances draw differently.
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(SystemClock.now_ms());
        RandomDraws::new(h.finish())
    }
}

impl Draws for RandomDraws {
    fn draw(&self) -> f64 {
        let mut x = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // 53 random bits in [0, 1).
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Draws given in advance; 0 when none are left (as the scenario table
/// reads).
#[derive(Debug, Default)]
pub struct ScriptedDraws(Mutex<VecDeque<f64>>);

impl ScriptedDraws {
    pub fn set(&self, draws: &[f64]) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = draws.iter().copied().collect();
    }
}

impl Draws for ScriptedDraws {
    fn draw(&self) -> f64 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_draws_stay_in_range_and_spread() {
        let d = RandomDraws::new(42);
        let mut low = 0;
        for _ in 0..10_000 {
            let x = d.draw();
            assert!((0.0..1.0).contains(&x));
            if x < 0.5 {
                low += 1;
            }
        }
        assert!((4_500..5_500).contains(&low), "{low}");
    }

    #[test]
    fn scripted_draws_run_out_to_zero() {
        let d = ScriptedDraws::default();
        d.set(&[0.25, 0.75]);
        assert_eq!((d.draw(), d.draw(), d.draw()), (0.25, 0.75, 0.0));
    }
}
