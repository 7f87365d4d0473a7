//! The emulator's seeded random numbers: one independent stream per link direction.
//!
//! Owns [`SplitMix64`], a tiny, well-mixed generator (Steele, Lea and Flood, 2014; the seeding
//! generator of the xoshiro family) and the rule that derives a direction's stream from the
//! run's seed, so that the losses on one link do not depend on how much traffic crossed any
//! other. It must never read a clock or the operating system's entropy: the same seed always
//! gives the same numbers.

/// splitmix64: 64 bits of state, one addition and three xor-shift-multiply rounds per number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

/// The golden-ratio increment of splitmix64.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The stream of `index` (a link direction) within the run seeded by `seed`: the seed and
    /// the index are mixed, so neighbouring indexes give unrelated streams.
    pub fn stream(seed: u64, index: u64) -> Self {
        let mut outer = SplitMix64::new(seed);
        let base = outer.next_u64();
        let mut inner = SplitMix64::new(index.wrapping_mul(GAMMA) ^ base);
        SplitMix64::new(inner.next_u64())
    }

    /// The next number, uniform over all of `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p` (0.0 never, 1.0 always; values outside 0..=1 are clamped).
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        // 53 random bits give a uniform value in [0, 1) with every step representable.
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // First outputs of splitmix64 seeded with 1234567 (reference implementation).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(r.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn streams_differ_by_seed_and_index_and_repeat() {
        let first = |seed, index| SplitMix64::stream(seed, index).next_u64();
        assert_eq!(first(1, 0), first(1, 0));
        assert_ne!(first(1, 0), first(1, 1));
        assert_ne!(first(1, 0), first(2, 0));
    }

    #[test]
    fn chance_follows_the_probability() {
        let mut r = SplitMix64::new(7);
        assert!(!(0..1000).any(|_| r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
        let hits = (0..100_000).filter(|_| r.chance(0.2)).count();
        // Binomial(100000, 0.2): sd ≈ 126; ±1000 is about 8 sd.
        assert!((19_000..21_000).contains(&hits), "{hits}");
    }
}
