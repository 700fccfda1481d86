//! The simulator's own random numbers: xoshiro256++ seeded through
//! SplitMix64, and the few distributions workloads use. Written here rather
//! than taken from a crate so that a seed gives the same run on every
//! platform and every future build (snapshots depend on it).

/// A deterministic generator; one per stream (arrivals, faults, picks).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed` and a stream number, so that independent
    /// streams of one run do not share numbers.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        super::to_f64(self.next_u64() >> 11) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// Exponential with mean `1 / rate`.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        // 1 - u is in (0, 1]: the logarithm is finite.
        -(1.0 - self.next_f64()).ln() / rate
    }

    /// Standard normal (Box-Muller; one of the pair is dropped, which
    /// keeps the generator stateless beyond its four words).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index drawn with the given weights (all finite, not all zero).
    pub fn weighted(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let r = self.next_f64() * total;
        // The first bound above `r`: as the bounds never decrease, that is
        // how many are at or below it (counted without a branch per bound,
        // which a random `r` would mispredict).
        cumulative
            .iter()
            .map(|c| usize::from(*c <= r))
            .sum::<usize>()
            .min(cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_other_stream_other_numbers() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, 0);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, 0);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn distributions_have_their_means() {
        let mut r = Rng::new(1, 0);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || r.next_f64()) - 0.5).abs() < 0.01);
        let mut r = Rng::new(2, 0);
        assert!((mean(&mut || r.exponential(4.0)) - 0.25).abs() < 0.005);
        let mut r = Rng::new(3, 0);
        assert!(mean(&mut || r.normal()).abs() < 0.01);
        let mut r = Rng::new(4, 0);
        assert!((mean(&mut || r.range(1, 6) as f64) - 3.5).abs() < 0.02);
        let mut r = Rng::new(5, 0);
        let hits = (0..n).filter(|_| r.weighted(&[1.0, 4.0]) == 0).count();
        assert!((hits as f64 / n as f64 - 0.25).abs() < 0.01);
        // A zero weight is never drawn, nor is anything past the end.
        let mut r = Rng::new(6, 0);
        assert!((0..1000)
            .all(|_| r.weighted(&[0.0, 2.0, 2.0, 3.0]) != 2 && r.weighted(&[0.0, 1.0]) == 1));
        assert_eq!(r.weighted(&[0.0, 0.0]), 1);
    }
}
