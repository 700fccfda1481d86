//! The simulator's own random numbers: xoshiro256++ seeded through
//! SplitMix64, and the few distributions workloads use. Written here rather
//! than taken from a crate so that a seed gives the same run on every
//! platform and every future build (snapshots depend on it).
//!
//! The normal (lognormal sizes) and exponential (Poisson gaps) draws use
//! Marsaglia and Tsang's ziggurat ("The Ziggurat Method for Generating
//! Random Variables", Journal of Statistical Software 5(8), 2000): about 99 %
//! of draws take one 64-bit number, a multiplication and a comparison,
//! where Box-Muller and the inverse transform took a logarithm (and a
//! square root and a cosine) each. That is most of the arrivals' cost in a
//! large simulation.

use std::sync::OnceLock;

/// A ziggurat of 256 layers of equal area under a decreasing density `f`
/// on `[0, inf)`: layer `i` spans `[0, x[i]]` across, and from `f(x[i])` to
/// `f(x[i + 1])` in height (layer 0 is the base strip up to `f(r)` with the
/// tail past `r = x[1]`, `x[0]` its width as a rectangle of the same area).
/// A point across a layer left of `x[i + 1]` is under the curve and taken
/// at once; past it, in the wedge, it is taken when a uniform height is
/// under `f`; in the base strip, past `r`, the tail is drawn by its own
/// method.
#[derive(Debug)]
struct Ziggurat {
    x: [f64; 257],
    /// `f(x[i])`, with `f[256] = f(0) = 1`.
    f: [f64; 257],
}

impl Ziggurat {
    /// The layers for `f` (and its inverse), tail start `r` and layer area
    /// `v` (the paper's constants for 256 layers).
    fn new(r: f64, v: f64, f: impl Fn(f64) -> f64, f_inverse: impl Fn(f64) -> f64) -> Ziggurat {
        let mut x = [0.0; 257];
        x[0] = v / f(r);
        x[1] = r;
        for k in 1..255 {
            x[k + 1] = f_inverse(v / x[k] + f(x[k]));
        }
        let mut fx = [1.0; 257];
        for k in 0..256 {
            fx[k] = f(x[k]);
        }
        Ziggurat { x, f: fx }
    }
}

/// The ziggurats of the two distributions drawn this way.
struct Tables {
    normal: Ziggurat,
    exponential: Ziggurat,
}

/// The two ziggurats, computed once per process.
fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        normal: Ziggurat::new(
            3.654_152_885_361_009,
            0.004_928_673_233_99,
            |x| (-0.5 * x * x).exp(),
            |y| (-2.0 * y.ln()).sqrt(),
        ),
        exponential: Ziggurat::new(
            7.697_117_470_131_05,
            0.003_949_659_822_581_557,
            |x| (-x).exp(),
            |y| -y.ln(),
        ),
    })
}

/// The top 53 bits of `bits` as a number uniform in `[0, 1)`.
#[inline]
fn unit(bits: u64) -> f64 {
    super::to_f64(bits >> 11) * (1.0 / (1u64 << 53) as f64)
}

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
        unit(self.next_u64())
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
        self.standard_exponential() / rate
    }

    /// Exponential with mean 1, by the ziggurat ([`Ziggurat`]).
    fn standard_exponential(&mut self) -> f64 {
        let z = &tables().exponential;
        loop {
            let (i, _, x) = self.layer_draw(z);
            if x < z.x[i + 1] {
                return x;
            }
            if i == 0 {
                // The tail past r is r plus an exponential (memoryless).
                return z.x[1] + self.log_uniform();
            }
            if self.in_wedge(z, i, (-x).exp()) {
                return x;
            }
        }
    }

    /// Standard normal, by the ziggurat ([`Ziggurat`]).
    pub fn normal(&mut self) -> f64 {
        let z = &tables().normal;
        loop {
            let (i, negative, x) = self.layer_draw(z);
            let accepted = if x < z.x[i + 1] {
                Some(x)
            } else if i == 0 {
                Some(self.normal_tail(z.x[1]))
            } else if self.in_wedge(z, i, (-0.5 * x * x).exp()) {
                Some(x)
            } else {
                None
            };
            if let Some(x) = accepted {
                return if negative { -x } else { x };
            }
        }
    }

    /// One 64-bit draw split three ways: a layer of `z` (the low 8 bits), a
    /// sign (bit 8) and a point across the layer's width (the top 53 bits,
    /// independent of the other two).
    #[inline]
    fn layer_draw(&mut self, z: &Ziggurat) -> (usize, bool, f64) {
        let bits = self.next_u64();
        let i = (bits & 0xff) as usize;
        (i, bits & 0x100 != 0, unit(bits) * z.x[i])
    }

    /// Whether a point drawn at height uniform in layer `i`'s wedge lies
    /// under the density, whose value at the point's abscissa is `fx`.
    fn in_wedge(&mut self, z: &Ziggurat, i: usize, fx: f64) -> bool {
        z.f[i] + self.next_f64() * (z.f[i + 1] - z.f[i]) < fx
    }

    /// `-ln(u)` for `u` uniform in `(0, 1]` (finite): an exponential of mean 1.
    fn log_uniform(&mut self) -> f64 {
        -(1.0 - self.next_f64()).ln()
    }

    /// The normal's tail past `r` (Marsaglia's method).
    fn normal_tail(&mut self, r: f64) -> f64 {
        loop {
            let a = self.log_uniform() / r;
            let b = self.log_uniform();
            if b + b > a * a {
                return r + a;
            }
        }
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

    /// Every layer is narrower than the one below it and has the same
    /// area (the top one's is what the recursion left: it must match too).
    #[test]
    fn ziggurat_layers_have_equal_areas() {
        let t = tables();
        for (z, v) in [
            (&t.normal, 0.004_928_673_233_99),
            (&t.exponential, 0.003_949_659_822_581_557),
        ] {
            assert!(z.x[1..].windows(2).all(|w| w[0] > w[1]), "{:?}", &z.x[..]);
            assert_eq!(z.x[256], 0.0);
            assert!((z.x[0] * z.f[1] - v).abs() < 1e-12, "base strip");
            for i in 1..256 {
                let area = z.x[i] * (z.f[i + 1] - z.f[i]);
                assert!((area - v).abs() / v < 1e-6, "layer {i}: {area}");
            }
        }
    }

    /// The draws follow the distributions: shares below fixed points
    /// (against the exact CDF), the variance and the far tails (which the
    /// ziggurat draws by their own method).
    #[test]
    fn ziggurat_draws_follow_the_distributions() {
        let n = 400_000;
        let mut r = Rng::new(11, 0);
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let share = |p: &dyn Fn(f64) -> bool, v: &[f64]| {
            v.iter().filter(|x| p(**x)).count() as f64 / v.len() as f64
        };
        // Standard normal CDF at -2, -1, 0, 1, 2.
        for (at, cdf) in [
            (-2.0, 0.02275),
            (-1.0, 0.15866),
            (0.0, 0.5),
            (1.0, 0.84134),
            (2.0, 0.97725),
        ] {
            assert!((share(&|x| x < at, &z) - cdf).abs() < 0.003, "P(z < {at})");
        }
        let var = z.iter().map(|x| x * x).sum::<f64>() / n as f64;
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        // P(|z| > 3.6541…) = 2.58e-4: about 103 of 400,000.
        let tail = share(&|x| x.abs() > 3.654_152_885_361_009, &z) * n as f64;
        assert!((70.0..140.0).contains(&tail), "tail {tail}");
        let mut r = Rng::new(12, 0);
        let e: Vec<f64> = (0..n).map(|_| r.exponential(2.0)).collect();
        assert!(e.iter().all(|x| *x >= 0.0 && x.is_finite()));
        for at in [0.1, 0.5, 1.0, 2.0] {
            let cdf = 1.0 - (-2.0f64 * at).exp();
            assert!((share(&|x| x < at, &e) - cdf).abs() < 0.003, "P(e < {at})");
        }
        // Past the exponential's tail start 7.697… (at rate 1): e^-7.697 ≈ 4.5e-4.
        let mut r = Rng::new(13, 0);
        let far = (0..n)
            .filter(|_| r.exponential(1.0) > 7.697_117_470_131_05)
            .count();
        assert!((130..230).contains(&far), "tail {far}");
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
